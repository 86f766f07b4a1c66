-- The schedule to materialise, if it is still due by the database's clock, locked for this
-- transaction; one another transaction is materialising is skipped (SKIP LOCKED): that one
-- does it.
SELECT name, cron, every_ms, tz, job_name, input, labels, concurrency_key, catch_up, retries, backoff_ms, backoff_max_ms, retry_on, paused, next_at, last_slot, created_at, updated_at
FROM durably_cli_schedules WHERE name = $1 AND paused = 0 AND next_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FOR UPDATE SKIP LOCKED
