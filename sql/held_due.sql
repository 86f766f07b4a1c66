-- The earliest held runs due at ?1, at most ?2 (idx_durably_cli_held_runs_due).
SELECT id FROM durably_cli_held_runs WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2
