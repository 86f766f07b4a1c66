-- $1 id, $2 generation, $3 output JSON text (or NULL). Fenced by the lease, which has not run
-- out by the database's clock: no other worker can have claimed the run.
UPDATE durably_runs
SET status = 'completed', output = $3, error = NULL, lease_owner = NULL,
    lease_expires_at = NULL, completed_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
  AND lease_expires_at IS NOT NULL AND lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
