-- $1 id: locks the candidate unless another claimer holds it (then no row), and re-checks
-- that it is still claimable by the database's clock (READ COMMITTED re-reads a row changed
-- since).
SELECT concurrency_key FROM durably_runs
WHERE id = $1
  AND (status = 'pending'
       OR (status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
FOR UPDATE SKIP LOCKED
