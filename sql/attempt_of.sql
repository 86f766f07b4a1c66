-- ?1 run id: its attempt row, if it belongs to a retry chain (primary key).
SELECT run_id, first_run_id, previous_run_id, attempt, max_attempts, backoff_ms, backoff_max_ms, retry_on
FROM durably_cli_attempts WHERE run_id = ?1
