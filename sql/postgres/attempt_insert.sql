-- $1 run id, $2 first run id of its chain, $3 previous run id (NULL for the first attempt),
-- $4 attempt (1-based), $5 max attempts, $6 backoff ms, $7 backoff max ms, $8 retry_on (JSON
-- array or NULL): one attempt of a retry chain (enqueue --retries; a retry's successor).
INSERT INTO durably_cli_attempts (run_id, first_run_id, previous_run_id, attempt, max_attempts, backoff_ms, backoff_max_ms, retry_on)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
