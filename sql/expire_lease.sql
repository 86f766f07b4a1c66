-- ?1 id, ?2 generation, ?3 now: hand a run back at once (forced shutdown of a worker): pending
-- again, as the release of an expired lease leaves it, so `ls` no longer shows it running.
UPDATE durably_runs
SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?3
WHERE id = ?1 AND status = 'leased' AND lease_generation = ?2
