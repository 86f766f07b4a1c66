-- ?1 first run id: every attempt of the chain, in order (idx_durably_cli_attempts_first).
SELECT run_id, first_run_id, previous_run_id, attempt, max_attempts, backoff_ms, backoff_max_ms, retry_on
FROM durably_cli_attempts WHERE first_run_id = ?1 ORDER BY attempt
