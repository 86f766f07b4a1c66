-- One run and its label rows in one statement. ON CONFLICT DO NOTHING: a unique index (the
-- idempotency key, or the one pending run per concurrency key) already holding the row -- even
-- one a concurrent transaction just committed -- leaves nothing inserted, and the caller reads
-- which run is there. $7: the last created_at this process handed out ('' at first): the run
-- is created at the database's now, never before that. $8/$9: the label keys and values, in
-- order. Answers how many runs were inserted (0 or 1) and their created_at.
WITH clock AS (
  SELECT greatest(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') COLLATE "C", $7::text COLLATE "C") AS now
), run AS (
  INSERT INTO durably_runs (
    id, job_name, input, status, idempotency_key, concurrency_key, labels,
    current_step_index, completed_step_count, progress, output, error,
    lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
    created_at, updated_at
  ) SELECT $1, $2, $3, 'pending', $4, $5, $6, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL,
      clock.now, clock.now
    FROM clock
  ON CONFLICT DO NOTHING
  RETURNING id, created_at
), labels AS (
  INSERT INTO durably_run_labels (run_id, key, value)
  SELECT run.id, l.key, l.value FROM run, unnest($8::text[], $9::text[]) AS l(key, value)
)
SELECT count(*), max(created_at) FROM run
