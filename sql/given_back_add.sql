-- ?1 id: one more give-back of a run (in the give-back's transaction; durably_cli_given_back).
INSERT INTO durably_cli_given_back (run_id, times) VALUES (?1, 1)
ON CONFLICT (run_id) DO UPDATE SET times = times + 1
