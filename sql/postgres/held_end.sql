-- A held run that will never run (cancelled: `durably cancel`, a run waited on that failed, its
-- idempotency key taken meanwhile) moved into durably_runs as cancelled at $2 with the error
-- $3, with its label rows, and its held row and waits deleted, so that the library sees it;
-- $4 false leaves its idempotency key out (another run has it). Answers the ids moved.
WITH moved AS (
  INSERT INTO durably_runs (
    id, job_name, input, status, idempotency_key, concurrency_key, labels,
    current_step_index, completed_step_count, progress, output, error,
    lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
    created_at, updated_at
  ) SELECT id, job_name, input, 'cancelled', CASE WHEN $4 THEN idempotency_key END,
      concurrency_key, labels, 0, 0, NULL, NULL, $3, NULL, NULL, 0, NULL, $2, $2, $2
    FROM durably_cli_held_runs WHERE id = $1
  ON CONFLICT DO NOTHING
  RETURNING id
), labels AS (
  INSERT INTO durably_run_labels (run_id, key, value)
  SELECT h.id, l.key, l.v #>> '{}'
  FROM durably_cli_held_runs h JOIN moved m ON m.id = h.id, jsonb_each(h.labels::jsonb) AS l(key, v)
  WHERE jsonb_typeof(l.v) = 'string'
), gone AS (
  DELETE FROM durably_cli_held_runs h USING moved m WHERE h.id = m.id
), waits AS (
  DELETE FROM durably_cli_held_waits w USING moved m WHERE w.run_id = m.id
)
SELECT id FROM moved
