-- $1 concurrency keys to skip, $2 run ids to skip, $3 the jobs. Like
-- lease_claim_candidate.sql for these jobs only: the oldest pending run of each job is one
-- seek in idx_durably_runs_job_status_created_id, so the cost does not grow with the queue.
SELECT id FROM (
  (SELECT oldest.id, oldest.created_at
   FROM unnest($3::text[]) AS job(name)
   CROSS JOIN LATERAL (
     SELECT id, created_at FROM durably_runs
     WHERE job_name = job.name AND status = 'pending'
      AND (concurrency_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM durably_runs AS active
      WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
        AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
        AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
      AND NOT (id = ANY($2::text[]))
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
     ORDER BY created_at, id LIMIT 1
   ) AS oldest)
  UNION ALL
  (SELECT id, created_at FROM durably_runs
   WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    AND job_name = ANY($3::text[])
    AND (concurrency_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM durably_runs AS active
      WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
        AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
        AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    AND NOT (id = ANY($2::text[]))
    AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
   ORDER BY created_at, id LIMIT 1)
) AS candidate
ORDER BY created_at, id
LIMIT 1
