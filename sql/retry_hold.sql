-- ?1 the successor's id, ?2 its due time (now + the backoff), ?3 now, ?4 the failed run: a
-- retry's successor held until its backoff has passed, with the failed run's job, input,
-- labels and concurrency key (no idempotency key: the failed run keeps it). In the
-- transaction that fails the run.
INSERT INTO durably_cli_held_runs (id, job_name, input, labels, idempotency_key, concurrency_key, due_at, after_any, created_at)
SELECT ?1, job_name, input, labels, NULL, concurrency_key, ?2, 0, ?3
FROM durably_runs WHERE id = ?4
