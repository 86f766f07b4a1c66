-- One schedule by name.
SELECT name, cron, every_ms, tz, job_name, input, labels, concurrency_key, catch_up, retries, backoff_ms, backoff_max_ms, retry_on, paused, next_at, last_slot, created_at, updated_at
FROM durably_cli_schedules WHERE name = ?1
