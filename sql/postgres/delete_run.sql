DELETE FROM durably_steps WHERE run_id = $1;
DELETE FROM durably_logs WHERE run_id = $1;
DELETE FROM durably_run_labels WHERE run_id = $1;
DELETE FROM durably_runs WHERE id = $1;
