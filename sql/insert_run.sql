INSERT INTO durably_runs (
  id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error,
  lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
  created_at, updated_at
) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, ?7, ?7)
