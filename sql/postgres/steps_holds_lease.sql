-- $1 run id, $2 generation: whether the run is still leased under this generation.
SELECT 1 FROM durably_runs WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
