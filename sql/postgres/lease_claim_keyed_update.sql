-- $1 id (locked by lease_claim_keyed*.sql, its key's advisory lock held), $2 owner, $3 the
-- lease in milliseconds: the library's claim update, made only when no other unexpired lease
-- holds the run's key. The statement's snapshot is taken after the lock, so it sees every claim
-- of the key that committed before (READ COMMITTED). Now is the database's clock.
UPDATE durably_runs
SET status = 'leased', lease_owner = $2, lease_expires_at = to_char((now() + $3::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    lease_generation = lease_generation + 1, started_at = COALESCE(started_at, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1
  AND (concurrency_key IS NULL OR NOT EXISTS (
    SELECT 1 FROM durably_runs AS active
    WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
      AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
      AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
RETURNING id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error, lease_owner,
  lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at
