-- $1 owner, $2 the lease in milliseconds, $3 how many runs at most, $4 the jobs. Like
-- lease_claim_batch.sql for these jobs only: each job's oldest pending runs are one seek in
-- idx_durably_runs_job_status_created_id, so the cost does not grow with other jobs' queues.
WITH pending AS (
  SELECT oldest.* FROM unnest($4::text[]) AS job(name)
  CROSS JOIN LATERAL (
    SELECT id, created_at, concurrency_key FROM durably_runs
    WHERE job_name = job.name AND status = 'pending'
      AND (concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM durably_runs AS active
        WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
          AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
          AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
      AND NOT EXISTS (SELECT 1 FROM durably_cli_pauses WHERE scope = 'queue') AND ('job:' || durably_runs.job_name) NOT IN (SELECT scope FROM durably_cli_pauses)
    ORDER BY created_at, id COLLATE "C"
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  ) AS oldest
),
expired AS (
  SELECT id, created_at, concurrency_key FROM durably_runs
  WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    AND job_name = ANY($4::text[])
    AND (concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM durably_runs AS active
        WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
          AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
          AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    AND NOT EXISTS (SELECT 1 FROM durably_cli_pauses WHERE scope = 'queue') AND ('job:' || durably_runs.job_name) NOT IN (SELECT scope FROM durably_cli_pauses)
  -- The same order as the index (status, created_at, id) would give, under a collation no
  -- index has: the plan reads the few expired leases off idx_durably_runs_status_lease_expires
  -- and sorts them, never every running run in created order (ISO timestamps of one format
  -- sort alike in every collation).
  ORDER BY created_at COLLATE "C", id COLLATE "C"
  LIMIT $3
  FOR UPDATE SKIP LOCKED
),
picked AS MATERIALIZED (
  SELECT id, concurrency_key FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) AS c
  ORDER BY created_at, id COLLATE "C"
  LIMIT $3
),
claimed AS (
  UPDATE durably_runs
  SET status = 'leased', lease_owner = $1, lease_expires_at = to_char((now() + $2::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      lease_generation = lease_generation + 1, started_at = COALESCE(started_at, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
      updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  FROM picked
  WHERE durably_runs.id = picked.id AND picked.concurrency_key IS NULL
  RETURNING durably_runs.id, job_name, input, status, idempotency_key, durably_runs.concurrency_key, labels,
    current_step_index, completed_step_count, progress, output, error, lease_owner,
    lease_expires_at, lease_generation, started_at, completed_at, durably_runs.created_at, updated_at
)
-- One row at least: the claimed runs (none: a row of NULLs), each with whether the window
-- held keyed runs left for the keyed claim.
SELECT claimed.*, keyed.keyed_left FROM (SELECT EXISTS (SELECT 1 FROM picked WHERE concurrency_key IS NOT NULL) AS keyed_left) AS keyed
LEFT JOIN claimed ON true
