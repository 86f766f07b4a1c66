-- $1 id, $2 owner, $3 the lease in milliseconds: the library's claim update. The lease runs
-- from the database's now (the transaction's start) and is written in the library's text.
UPDATE durably_runs
SET status = 'leased', lease_owner = $2, lease_expires_at = to_char((now() + $3::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    lease_generation = lease_generation + 1, started_at = COALESCE(started_at, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1
RETURNING id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error, lease_owner,
  lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at
