-- Releases held runs (?1: a JSON array of their ids) into durably_runs with the same ids,
-- pending, created at ?2 (the release). ON CONFLICT DO NOTHING: a run the library's unique
-- indexes refuse (its idempotency key taken, or its concurrency key held by a pending run)
-- stays held, and the caller learns which from the ids returned. The label rows, and the
-- deletion of the held rows and their waits, follow in held_move_rest.sql.
INSERT INTO durably_runs (
  id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error,
  lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
  created_at, updated_at
) SELECT id, job_name, input, 'pending', idempotency_key, concurrency_key, labels,
    0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, ?2, ?2
  FROM durably_cli_held_runs WHERE id IN (SELECT value FROM json_each(?1))
  ORDER BY due_at, id
ON CONFLICT DO NOTHING
RETURNING id
