-- ?1 now: leased runs whose lease ran out, oldest first (idx_durably_runs_status_lease_expires).
SELECT id FROM durably_runs
WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= ?1
ORDER BY created_at, id
LIMIT ?2
