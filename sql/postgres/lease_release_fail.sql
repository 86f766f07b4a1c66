-- $1 id: an expired run whose (job, concurrency key) already has a pending run cannot go
-- back to pending (idx_durably_runs_pending_concurrency); like the library, it fails.
UPDATE durably_runs
SET status = 'failed', error = 'Lease expired; pending run already exists',
    lease_owner = NULL, lease_expires_at = NULL, completed_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  AND concurrency_key IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM durably_runs AS p
    WHERE p.status = 'pending' AND p.job_name = durably_runs.job_name
      AND p.concurrency_key = durably_runs.concurrency_key
  )
