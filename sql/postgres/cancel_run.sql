-- $1 id: cancels a pending or leased run at the database's now.
UPDATE durably_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL,
    completed_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status IN ('pending', 'leased')
