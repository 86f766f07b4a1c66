-- The earliest held runs due at ?1 after the key (?3, ?4) in (due_at, id) order, at most ?2
-- (idx_durably_cli_held_runs_due): their due_at and id.
SELECT due_at, id FROM durably_cli_held_runs
WHERE due_at <= ?1 AND (due_at, id) > (?3, ?4)
ORDER BY due_at, id LIMIT ?2
