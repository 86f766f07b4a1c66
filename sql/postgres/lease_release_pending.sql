-- $1 id: an expired run goes back to pending (expired by the database's clock).
UPDATE durably_runs
SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
