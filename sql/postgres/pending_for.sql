-- $1 the jobs (NULL: all). Pending runs, and how many wait for their concurrency key: another
-- run holds it with a lease unexpired by the database's clock ({key_held_by_live_lease}: the
-- guard of store::rules::key_held_by_live_lease on `p` at `clock.now`, put in by pg::runs), or
-- another session holds the key's advisory lock (pg_advisory_xact_lock(hashtext(key)) of a
-- claim: the int8 key's high and low 32 bits are the lock's classid and objid, objsubid 1),
-- which the claim skips.
SELECT count(*), count(*) FILTER (WHERE {key_held_by_live_lease}
  OR (p.concurrency_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM pg_locks AS l
    WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.objsubid = 1
      AND l.classid = ((hashtext(p.concurrency_key)::int8 >> 32) & 4294967295)::oid
      AND l.objid = (hashtext(p.concurrency_key)::int8 & 4294967295)::oid)))
FROM durably_runs AS p,
  (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now) AS clock
WHERE p.status = 'pending'
  AND ($1::text[] IS NULL OR p.job_name = ANY($1::text[]))
