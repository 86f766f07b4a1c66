-- The poll's one read when nothing is due: is a held run due at ?1 (a seek on
-- idx_durably_cli_held_runs_due), and does any held run wait on others.
SELECT EXISTS (SELECT 1 FROM durably_cli_held_runs WHERE due_at <= ?1),
  EXISTS (SELECT 1 FROM durably_cli_held_waits)
