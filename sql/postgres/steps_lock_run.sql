-- $1 run id, $2 generation: locks the run while the caller holds its lease (no row
-- otherwise), so that step writes of one run are serialized and read a stable step index.
SELECT current_step_index FROM durably_runs
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
FOR UPDATE
