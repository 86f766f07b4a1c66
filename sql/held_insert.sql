-- A held run (`enqueue --at/--in/--after`); its waits are inserted beside it.
INSERT INTO durably_cli_held_runs (
  id, job_name, input, labels, idempotency_key, concurrency_key, due_at, after_any, created_at
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
