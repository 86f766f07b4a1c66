-- $1 id, $2 generation: hand a run back at once (forced shutdown of a worker); its lease
-- ends at the database's now.
UPDATE durably_runs
SET lease_expires_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
