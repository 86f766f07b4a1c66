-- $1 concurrency key, $2 the candidate's id; run after the key's advisory lock, so it sees
-- every claim of the key that committed before. Now is the database's clock.
SELECT 1 FROM durably_runs
WHERE concurrency_key = $1 AND id <> $2 AND status = 'leased'
  AND lease_expires_at IS NOT NULL AND lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
LIMIT 1
