-- The poll's one read when nothing is due: the database's now, whether a held run is due at it
-- (a seek on idx_durably_cli_held_runs_due), and whether any held run waits on others.
WITH clock AS (
  SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now
)
SELECT clock.now,
  EXISTS (SELECT 1 FROM durably_cli_held_runs WHERE due_at <= clock.now),
  EXISTS (SELECT 1 FROM durably_cli_held_waits)
FROM clock
