DELETE FROM durably_steps WHERE run_id = ANY($1);
DELETE FROM durably_logs WHERE run_id = ANY($1);
DELETE FROM durably_run_labels WHERE run_id = ANY($1);
DELETE FROM durably_runs WHERE id = ANY($1);
