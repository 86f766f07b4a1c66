-- One run and its label rows in one statement. ON CONFLICT DO NOTHING: a unique index (the
-- idempotency key, or the one pending run per concurrency key) already holding the row -- even
-- one a concurrent transaction just committed -- leaves nothing inserted, and the caller reads
-- which run is there. $8/$9: the label keys and values, in order.
WITH run AS (
  INSERT INTO durably_runs (
    id, job_name, input, status, idempotency_key, concurrency_key, labels,
    current_step_index, completed_step_count, progress, output, error,
    lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
    created_at, updated_at
  ) VALUES ($1, $2, $3, 'pending', $4, $5, $6, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, $7, $7)
  ON CONFLICT DO NOTHING
  RETURNING id
), labels AS (
  INSERT INTO durably_run_labels (run_id, key, value)
  SELECT run.id, l.key, l.value FROM run, unnest($8::text[], $9::text[]) AS l(key, value)
)
SELECT count(*) FROM run
