-- The earliest held runs due at $1, at most $2 (idx_durably_cli_held_runs_due), locked: a
-- concurrent release skips them and takes the next ones.
SELECT id FROM durably_cli_held_runs WHERE due_at <= $1
ORDER BY due_at, id COLLATE "C" LIMIT $2
FOR UPDATE SKIP LOCKED
