-- A new schedule (`schedule add`); nothing when the name is taken (the caller says so).
INSERT INTO durably_cli_schedules (name, cron, every_ms, tz, job_name, input, labels, concurrency_key, catch_up, retries, backoff_ms, backoff_max_ms, retry_on, paused, next_at, last_slot, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
ON CONFLICT (name) DO NOTHING
