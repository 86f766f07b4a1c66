-- $1 concurrency keys to skip, $2 run ids to skip. The oldest claimable run of any job, not
-- locked: the oldest pending run (idx_durably_runs_status_created_id, no sort) and the oldest
-- expired lease (idx_durably_runs_status_lease_expires), whichever is older. Now is the
-- database's clock (the transaction's start, in the library's timestamp text).
-- The guard is the library's activeLeaseGuard: no other unexpired lease holds the key.
SELECT id FROM (
  (SELECT id, created_at FROM durably_runs
   WHERE status = 'pending'
    AND (concurrency_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM durably_runs AS active
      WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
        AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
        AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    AND NOT (id = ANY($2::text[]))
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
   ORDER BY created_at, id LIMIT 1)
  UNION ALL
  (SELECT id, created_at FROM durably_runs
   WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    AND (concurrency_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM durably_runs AS active
      WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
        AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
        AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    AND NOT (id = ANY($2::text[]))
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
   ORDER BY created_at, id LIMIT 1)
) AS candidate
ORDER BY created_at, id
LIMIT 1
