-- $1 id, $2 now: an expired run goes back to pending.
UPDATE durably_runs
SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = $1 AND status = 'leased' AND lease_expires_at <= $2
