-- $1 id, $2 generation, $3 new expiry, $4 now. Fenced like the library's renewLease.
UPDATE durably_runs
SET lease_expires_at = $3, updated_at = $4
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8 AND lease_expires_at > $4
