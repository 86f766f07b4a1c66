-- $1 run id, $2 step name: the completed step (idx_durably_steps_completed_unique).
SELECT id, run_id, name, "index"::int8, status, output, error, started_at, completed_at
FROM durably_steps
WHERE run_id = $1 AND name = $2 AND status = 'completed'
