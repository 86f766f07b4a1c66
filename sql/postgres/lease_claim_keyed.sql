-- $1 concurrency keys to skip. The claim of a run whose key must be locked, in a READ
-- COMMITTED transaction: the oldest claimable run (the oldest pending run and the oldest
-- expired lease, each read off an index and locked as it is read, FOR UPDATE SKIP LOCKED: a
-- run another claimer holds is passed over in the same scan), with its key's advisory lock
-- tried (the library's lock, never waited for: false when another session holds it). The
-- claim itself (lease_claim_keyed_update.sql) re-checks the key in a later statement, whose
-- snapshot is taken after the lock. Now is the database's clock.
WITH pending AS (
  SELECT id, created_at, concurrency_key FROM durably_runs
  WHERE status = 'pending' AND (concurrency_key IS NULL OR NOT (concurrency_key = ANY($1::text[])))
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
expired AS (
  SELECT id, created_at, concurrency_key FROM durably_runs
  WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
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
