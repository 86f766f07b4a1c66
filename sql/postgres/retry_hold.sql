-- $1 the successor's id, $2 the backoff in milliseconds, $3 the failed run: a retry's successor
-- held until now + the backoff (the database's clock), with the failed run's job, input,
-- labels and concurrency key (no idempotency key: the failed run keeps it). In the
-- transaction that fails the run. Answers its due time.
INSERT INTO durably_cli_held_runs (id, job_name, input, labels, idempotency_key, concurrency_key, due_at, after_any, created_at)
SELECT $1, job_name, input, labels, NULL, concurrency_key,
  to_char((now() + $2::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 0,
  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM durably_runs WHERE id = $3
RETURNING due_at
