-- After held_move.sql (or held_end.sql), for the runs it inserted (?1: a JSON array of ids):
-- their label rows from the held row's labels, then the held rows and their waits deleted.
INSERT INTO durably_run_labels (run_id, key, value)
  SELECT h.id, j.key, j.value FROM durably_cli_held_runs h, json_each(h.labels) j
  WHERE h.id IN (SELECT value FROM json_each(?1)) AND j.type = 'text';
DELETE FROM durably_cli_held_runs WHERE id IN (SELECT value FROM json_each(?1));
DELETE FROM durably_cli_held_waits WHERE run_id IN (SELECT value FROM json_each(?1))
