-- Many new pending runs without keys in one statement ($1..$5: ids, job names, inputs, labels
-- JSON, created_at -- the database's now read when the batch began; arrays of one length).
INSERT INTO durably_runs (
  id, job_name, input, status, idempotency_key, concurrency_key, labels,
  current_step_index, completed_step_count, progress, output, error,
  lease_owner, lease_expires_at, lease_generation, started_at, completed_at,
  created_at, updated_at
)
SELECT r.id, r.job_name, r.input, 'pending', NULL, NULL, r.labels, 0, 0, NULL, NULL, NULL,
       NULL, NULL, 0, NULL, NULL, r.created_at, r.created_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
  AS r(id, job_name, input, labels, created_at)
