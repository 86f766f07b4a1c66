-- `rm` of a held run: the row first (nothing more when there is none), then its waits and its
-- attempt row (a retry's successor: the attempt before it counts as its chain's latest again).
DELETE FROM durably_cli_held_runs WHERE id = ?1;
DELETE FROM durably_cli_held_waits WHERE run_id = ?1;
DELETE FROM durably_cli_attempts WHERE run_id = ?1
