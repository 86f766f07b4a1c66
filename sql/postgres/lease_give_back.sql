-- $1 id, $2 generation: hand a run back at once (the worker's own trouble: no process could
-- start, a forced stop), as lease_expire.sql, and count the give-back in the same statement
-- (durably_cli_given_back: a crash loop leaves give-backs out). One row changed: given back.
WITH given AS (
  UPDATE durably_runs
  SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8
  RETURNING id
)
INSERT INTO durably_cli_given_back (run_id, times) SELECT id, 1 FROM given
ON CONFLICT (run_id) DO UPDATE SET times = durably_cli_given_back.times + 1
