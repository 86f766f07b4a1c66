-- Whether any lease has run out by the database's clock (one probe of
-- idx_durably_runs_status_lease_expires).
SELECT 1 FROM durably_runs
WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
LIMIT 1
