-- $1 id, $2 generation, $3 output: as big_output_set.sql, for a role that may not create
-- temporary tables (the output is then bound, at the driver's cost in memory).
UPDATE durably_runs
SET output = $3
WHERE id = $1 AND status = 'completed' AND lease_generation = $2::int8
