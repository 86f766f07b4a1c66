-- $1 id, $2 generation, $3 output JSON text (or NULL), $4 now. Fenced by the lease, which
-- has not run out: no other worker can have claimed the run.
UPDATE durably_runs
SET status = 'completed', output = $3, error = NULL, lease_owner = NULL,
    lease_expires_at = NULL, completed_at = $4, updated_at = $4
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
  AND lease_expires_at IS NOT NULL AND lease_expires_at > $4
