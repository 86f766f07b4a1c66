-- $1 the jobs (NULL: all). Pending runs, and how many wait for their concurrency key: another
-- run holds it with a lease unexpired by the database's clock, or another session holds the
-- key's advisory lock (pg_advisory_xact_lock(hashtext(key)) of a claim: the int8 key's high
-- and low 32 bits are the lock's classid and objid, objsubid 1), which the claim skips.
SELECT count(*), count(*) FILTER (WHERE concurrency_key IS NOT NULL AND (EXISTS (
    SELECT 1 FROM durably_runs AS active
    WHERE active.concurrency_key = p.concurrency_key AND active.id <> p.id
      AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL
      AND active.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
  OR EXISTS (
    SELECT 1 FROM pg_locks AS l
    WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.objsubid = 1
      AND l.classid = ((hashtext(p.concurrency_key)::int8 >> 32) & 4294967295)::oid
      AND l.objid = (hashtext(p.concurrency_key)::int8 & 4294967295)::oid)))
FROM durably_runs AS p WHERE status = 'pending'
  AND ($1::text[] IS NULL OR job_name = ANY($1::text[]))
