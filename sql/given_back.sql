-- ?1 id: how often CLI workers gave the run back (crash-loop check).
SELECT times FROM durably_cli_given_back WHERE run_id = ?1
