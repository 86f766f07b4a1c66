-- $1 scope: pauses it at the database's now; one already paused keeps its time (0 rows).
INSERT INTO durably_cli_pauses (scope, paused_at)
VALUES ($1, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
ON CONFLICT (scope) DO NOTHING
