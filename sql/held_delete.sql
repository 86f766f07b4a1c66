-- `rm` of a held run: the row and its waits.
DELETE FROM durably_cli_held_runs WHERE id = ?1;
DELETE FROM durably_cli_held_waits WHERE run_id = ?1
