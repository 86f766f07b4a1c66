-- $1 log id, $2 run id, $3 generation, $4 step name, $5 level, $6 message, $7 data, $8 now.
-- Fenced like steps_insert.sql.
INSERT INTO durably_logs (id, run_id, step_name, level, message, data, created_at)
SELECT $1, id, $4, $5, $6, $7, $8
FROM durably_runs
WHERE id = $2 AND status = 'leased' AND lease_generation = $3::int8
