-- The earliest held runs due at $1 after the key ($3, $4) in (due_at, id) order, at most $2
-- (idx_durably_cli_held_runs_due), locked: a concurrent release skips them and takes the next
-- ones. Their due_at and id.
SELECT due_at, id FROM durably_cli_held_runs
WHERE due_at <= $1 AND (due_at, id COLLATE "C") > ($3, $4 COLLATE "C")
ORDER BY due_at, id COLLATE "C" LIMIT $2
FOR UPDATE SKIP LOCKED
