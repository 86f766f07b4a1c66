-- $1 limit: leases expired by the database's clock, oldest first, locked; those another
-- worker is releasing or claiming right now are skipped.
SELECT id FROM durably_runs
WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
ORDER BY created_at, id
LIMIT $1
FOR UPDATE SKIP LOCKED
