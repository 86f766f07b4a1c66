-- $1 milliseconds: the cutoff of a purge of runs completed more than that long ago, by the
-- database's clock (the transaction's start), in the library's timestamp text (as
-- clock_now.sql).
SELECT to_char((now() - $1::int8 * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
