-- $1 id, $2 generation, $3 the lease in milliseconds. Fenced like the library's renewLease;
-- the new expiry runs from the database's now (the transaction's start).
UPDATE durably_runs
SET lease_expires_at = to_char((now() + $3::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE id = $1 AND status = 'leased' AND lease_generation = $2::int8 AND lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
