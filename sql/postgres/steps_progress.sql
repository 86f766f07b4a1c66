-- $1 run id, $2 generation, $3 progress JSON.
UPDATE durably_runs
SET progress = $3, updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
