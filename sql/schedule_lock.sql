-- The schedule to materialise, if it is still due at ?2 (inside BEGIN IMMEDIATE: no other
-- process can move it until the commit).
SELECT name, cron, every_ms, tz, job_name, input, labels, concurrency_key, catch_up, retries, backoff_ms, backoff_max_ms, retry_on, paused, next_at, last_slot, created_at, updated_at
FROM durably_cli_schedules WHERE name = ?1 AND paused = 0 AND next_at <= ?2
