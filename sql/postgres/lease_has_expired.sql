-- $1 now: whether any lease has run out (one probe of idx_durably_runs_status_lease_expires).
SELECT 1 FROM durably_runs
WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= $1
LIMIT 1
