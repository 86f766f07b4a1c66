-- $1 step id, $2 run id, $3 generation, $4 name, $5 status, $6 output, $7 error,
-- $8 started_at, $9 completed_at. Fenced: nothing is inserted unless the caller still holds
-- the lease; the index is the run's current_step_index, read in the same transaction.
INSERT INTO durably_steps (id, run_id, name, "index", status, output, error, started_at, completed_at)
SELECT $1, id, $4, current_step_index, $5, $6, $7, $8, $9
FROM durably_runs
WHERE id = $2 AND status = 'leased' AND lease_generation = $3::int8
RETURNING "index"::int8
