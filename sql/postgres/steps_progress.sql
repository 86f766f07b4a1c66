-- $1 run id, $2 generation, $3 progress JSON, $4 now.
UPDATE durably_runs
SET progress = $3, updated_at = $4
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
