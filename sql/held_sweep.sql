-- One page of the sweep through every wait, after (?1, ?2) in (run_id, waits_on) order, ?3
-- rows: each row's held run, the wait's key (the next page starts after the last), and whether
-- the run waited on has ended (terminal, or neither held nor in durably_runs: deleted).
SELECT w.run_id, w.waits_on,
  NOT EXISTS (SELECT 1 FROM durably_cli_held_runs h WHERE h.id = w.waits_on)
  AND NOT EXISTS (SELECT 1 FROM durably_runs r WHERE r.id = w.waits_on
                  AND r.status NOT IN ('completed', 'failed', 'cancelled'))
FROM durably_cli_held_waits w
WHERE (w.run_id, w.waits_on) > (?1, ?2)
ORDER BY w.run_id, w.waits_on
LIMIT ?3
