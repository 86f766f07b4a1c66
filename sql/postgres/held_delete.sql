-- `rm` of a held run: the row, and only when there was one its waits and its attempt row (a
-- retry's successor: the attempt before it counts as its chain's latest again); answers the
-- id deleted.
WITH held AS (
  DELETE FROM durably_cli_held_runs WHERE id = $1 RETURNING id
), waits AS (
  DELETE FROM durably_cli_held_waits WHERE run_id IN (SELECT id FROM held)
), attempt AS (
  DELETE FROM durably_cli_attempts WHERE run_id IN (SELECT id FROM held)
)
SELECT id FROM held
