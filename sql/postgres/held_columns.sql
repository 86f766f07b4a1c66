-- A held run as read (src/store/pg/held.rs maps the row): its columns and the runs it waits
-- on, comma-separated. Followed by the caller's WHERE/ORDER/LIMIT.
SELECT h.id, h.job_name, h.input, h.labels, h.idempotency_key, h.concurrency_key, h.due_at,
  h.after_any::bigint, h.created_at,
  (SELECT string_agg(w.waits_on, ',' ORDER BY w.waits_on COLLATE "C")
     FROM durably_cli_held_waits w WHERE w.run_id = h.id)
FROM durably_cli_held_runs h
