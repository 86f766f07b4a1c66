-- A held run (`enqueue --at/--in/--after`); its waits are inserted beside it ($10: the ids
-- waited on, duplicates once).
WITH run AS (
  INSERT INTO durably_cli_held_runs (
    id, job_name, input, labels, idempotency_key, concurrency_key, due_at, after_any, created_at
  ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  RETURNING id
)
INSERT INTO durably_cli_held_waits (run_id, waits_on)
  SELECT DISTINCT run.id, w FROM run, unnest($10::text[]) AS w
ON CONFLICT DO NOTHING
