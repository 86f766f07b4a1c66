-- A held run that will never run (cancelled: `durably cancel`, a run waited on that failed, its
-- idempotency key taken meanwhile) moved into durably_runs as cancelled at ?2 with the error
-- ?3, so that the library sees it; ?4 = 0 leaves its idempotency key out (another run has it).
INSERT INTO durably_runs (
  id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error,
  lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
  created_at, updated_at
) SELECT id, job_name, input, 'cancelled', CASE WHEN ?4 THEN idempotency_key END,
    concurrency_key, labels, 0, 0, NULL, NULL, ?3, NULL, NULL, 0, NULL, ?2, ?2, ?2
  FROM durably_cli_held_runs WHERE id = ?1
ON CONFLICT DO NOTHING
