INSERT INTO durably_run_labels (run_id, key, value) VALUES (?1, ?2, ?3)
