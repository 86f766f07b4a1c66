-- ?1 since (inclusive), ?2 limit. The server's event poller (src/serve/feed.rs): runs changed
-- at or after its cursor, oldest change first; a range of idx_durably_runs_updated_id
-- (sql/v1_extra.sql), so an idle tick reads nothing.
SELECT id, job_name, input, status, idempotency_key, concurrency_key, labels, current_step_index,
       completed_step_count, progress, output, error, lease_owner, lease_expires_at,
       lease_generation, started_at, completed_at, created_at, updated_at
FROM durably_runs
WHERE updated_at >= ?1
ORDER BY updated_at, id
LIMIT ?2
