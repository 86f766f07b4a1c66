-- Releases held runs ($1: their ids, locked by the caller) into durably_runs with the same
-- ids, pending, created at $2 (the release), with their label rows; the held rows and their
-- waits deleted. ON CONFLICT DO NOTHING: a run the library's unique indexes refuse (its
-- idempotency key taken, or its concurrency key held by a pending run) stays held; the ids
-- answered are those released.
WITH moved AS (
  INSERT INTO durably_runs (
    id, job_name, input, status, idempotency_key, concurrency_key, labels,
    current_step_index, completed_step_count, progress, output, error,
    lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
    created_at, updated_at
  ) SELECT id, job_name, input, 'pending', idempotency_key, concurrency_key, labels,
      0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, $2, $2
    FROM durably_cli_held_runs WHERE id = ANY($1::text[])
    ORDER BY due_at, id COLLATE "C"
  ON CONFLICT DO NOTHING
  RETURNING id
), labels AS (
  INSERT INTO durably_run_labels (run_id, key, value)
  SELECT h.id, l.key, l.v #>> '{}'
  FROM durably_cli_held_runs h JOIN moved m ON m.id = h.id,
    jsonb_each(h.labels::jsonb) AS l(key, v)
  WHERE jsonb_typeof(l.v) = 'string'
), gone AS (
  DELETE FROM durably_cli_held_runs h USING moved m WHERE h.id = m.id
), waits AS (
  DELETE FROM durably_cli_held_waits w USING moved m WHERE w.run_id = m.id
)
SELECT id FROM moved
