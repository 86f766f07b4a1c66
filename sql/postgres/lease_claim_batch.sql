-- $1 owner, $2 the lease in milliseconds, $3 how many runs at most. One statement, one round
-- trip, outside an explicit transaction: the $3 oldest claimable runs (pending, or leased with an
-- expired lease; the library's guard: no other unexpired lease holds the key), locked as they
-- are read (FOR UPDATE SKIP LOCKED inside each scan: a run another claimer holds is passed over
-- in the same scan, never retried); those without a concurrency key are claimed here. A keyed
-- run needs its key's advisory lock and a re-check under it in a later statement
-- (lease_claim_keyed*.sql): it is only reported. Now is the database's clock (the statement's
-- start), in the library's text.
WITH pending AS (
  SELECT id, created_at, concurrency_key FROM durably_runs
  WHERE status = 'pending'
    AND (concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM durably_runs AS active
        WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id
          AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
          AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    AND NOT EXISTS (SELECT 1 FROM durably_cli_pauses WHERE scope = 'queue') AND ('job:' || durably_runs.job_name) NOT IN (SELECT scope FROM durably_cli_pauses)
  ORDER BY created_at, id COLLATE "C"
  LIMIT $3
  FOR UPDATE SKIP LOCKED
),
expired AS (
  SELECT id, created_at, concurrency_key FROM durably_runs
  WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
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
