-- $1 id, $2 now: locks the candidate unless another claimer holds it (then no row), and
-- re-checks that it is still claimable (READ COMMITTED re-reads a row changed since).
SELECT concurrency_key FROM durably_runs
WHERE id = $1
  AND (status = 'pending'
       OR (status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= $2))
FOR UPDATE SKIP LOCKED
