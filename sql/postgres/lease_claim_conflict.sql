-- $1 concurrency key, $2 the candidate's id, $3 now; run after the key's advisory lock, so
-- it sees every claim of the key that committed before.
SELECT 1 FROM durably_runs
WHERE concurrency_key = $1 AND id <> $2 AND status = 'leased'
  AND lease_expires_at IS NOT NULL AND lease_expires_at > $3
LIMIT 1
