UPDATE durably_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL,
    completed_at = $2, updated_at = $2
WHERE id = $1 AND status IN ('pending', 'leased')
