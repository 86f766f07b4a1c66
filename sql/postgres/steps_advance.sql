-- $1 run id, $2 generation, $3 the completed step's index, $4 now.
UPDATE durably_runs
SET current_step_index = $3::int8 + 1, completed_step_count = completed_step_count + 1,
    updated_at = $4
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
