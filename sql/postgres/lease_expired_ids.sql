-- $1 now, $2 limit: expired leases, oldest first, locked; those another worker is releasing
-- or claiming right now are skipped.
SELECT id FROM durably_runs
WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= $1
ORDER BY created_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED
