-- $1 id, $2 generation, $3 now: hand a run back at once (forced shutdown of a worker).
UPDATE durably_runs
SET lease_expires_at = $3, updated_at = $3
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
