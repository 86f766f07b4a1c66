-- $1 concurrency keys to skip, $2 the jobs. Like lease_claim_keyed.sql for these jobs only
-- (each job's oldest pending run one seek in idx_durably_runs_job_status_created_id).
WITH pending AS (
  SELECT oldest.* FROM unnest($2::text[]) AS job(name)
  CROSS JOIN LATERAL (
    SELECT id, created_at, concurrency_key FROM durably_runs
    WHERE job_name = job.name AND status = 'pending'
      AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
      AND (concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM durably_runs AS active
        WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
          AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
          AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
      AND NOT EXISTS (SELECT 1 FROM durably_cli_pauses WHERE scope = 'queue') AND ('job:' || durably_runs.job_name) NOT IN (SELECT scope FROM durably_cli_pauses)
    ORDER BY created_at, id COLLATE "C"
    LIMIT 1
    FOR UPDATE SKIP LOCKED
  ) AS oldest
),
expired AS (
  SELECT id, created_at, concurrency_key FROM durably_runs
  WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    AND job_name = ANY($2::text[])
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
    AND (concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM durably_runs AS active
        WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
          AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
          AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    AND NOT EXISTS (SELECT 1 FROM durably_cli_pauses WHERE scope = 'queue') AND ('job:' || durably_runs.job_name) NOT IN (SELECT scope FROM durably_cli_pauses)
  ORDER BY created_at, id COLLATE "C"
  LIMIT 1
  FOR UPDATE SKIP LOCKED
),
picked AS MATERIALIZED (
  SELECT id, concurrency_key FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) AS c
  ORDER BY created_at, id COLLATE "C"
  LIMIT 1
)
SELECT id, concurrency_key,
  concurrency_key IS NULL OR pg_try_advisory_xact_lock(hashtext(concurrency_key)) AS granted
FROM picked
