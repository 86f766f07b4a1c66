-- $1 id, $2 owner, $3 lease expiry, $4 now: the library's claim update.
UPDATE durably_runs
SET status = 'leased', lease_owner = $2, lease_expires_at = $3,
    lease_generation = lease_generation + 1, started_at = COALESCE(started_at, $4),
    updated_at = $4
WHERE id = $1
RETURNING id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error, lease_owner,
  lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at
