-- $1 ids, $2 their generations (as text, in the same order), $3 the lease in milliseconds.
-- Every lease of the list renewed in one statement, each fenced like lease_renew.sql (this
-- generation, still leased, unexpired at the database's now); a row another transaction holds
-- locked is skipped, not waited for (the worker renews it alone, by its own deadline), so
-- one locked run never holds up the others. The ids renewed.
WITH mine AS (
  SELECT r.id
  FROM durably_runs r
  JOIN unnest($1, $2::int8[]) AS w(id, generation)
    ON r.id = w.id AND r.lease_generation = w.generation
  WHERE r.status = 'leased'
    AND r.lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  FOR UPDATE OF r SKIP LOCKED
)
UPDATE durably_runs r
SET lease_expires_at = to_char((now() + $3::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM mine
WHERE r.id = mine.id
RETURNING r.id
