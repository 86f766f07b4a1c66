-- The runs a held run waits on: each one's status in durably_runs (NULL: not there) and whether
-- it is itself held.
SELECT w.waits_on, r.status,
  EXISTS (SELECT 1 FROM durably_cli_held_runs h WHERE h.id = w.waits_on)
FROM durably_cli_held_waits w LEFT JOIN durably_runs r ON r.id = w.waits_on
WHERE w.run_id = ?1
ORDER BY w.waits_on
