-- A held run as read (src/store/sqlite/held.rs maps the row): its columns and the runs it waits
-- on, comma-separated. Followed by the caller's WHERE/ORDER/LIMIT.
SELECT h.id, h.job_name, h.input, h.labels, h.idempotency_key, h.concurrency_key, h.due_at,
  h.after_any, h.created_at,
  (SELECT group_concat(w.waits_on, ',') FROM durably_cli_held_waits w WHERE w.run_id = h.id)
FROM durably_cli_held_runs h
