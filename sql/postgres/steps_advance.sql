-- $1 run id, $2 generation, $3 the completed step's index.
UPDATE durably_runs
SET current_step_index = $3::int8 + 1, completed_step_count = completed_step_count + 1,
    updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
