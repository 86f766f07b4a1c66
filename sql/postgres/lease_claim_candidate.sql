-- $1 now, $2 concurrency keys to skip, $3 run ids to skip. The oldest claimable run of any
-- job, not locked: the oldest pending run (idx_durably_runs_status_created_id, no sort) and
-- the oldest expired lease (idx_durably_runs_status_lease_expires), whichever is older.
-- The guard is the library's activeLeaseGuard: no other unexpired lease holds the key.
SELECT id FROM (
  (SELECT id, created_at FROM durably_runs
   WHERE status = 'pending'
    AND (concurrency_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM durably_runs AS active
      WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
        AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
        AND active.lease_expires_at > $1))
    AND NOT (id = ANY($3::text[]))
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($2::text[])))
   ORDER BY created_at, id LIMIT 1)
  UNION ALL
  (SELECT id, created_at FROM durably_runs
   WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= $1
    AND (concurrency_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM durably_runs AS active
      WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
        AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
        AND active.lease_expires_at > $1))
    AND NOT (id = ANY($3::text[]))
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($2::text[])))
   ORDER BY created_at, id LIMIT 1)
) AS candidate
ORDER BY created_at, id
LIMIT 1
