-- The worker's one read per poll (idx_durably_cli_schedules_next): the unpaused schedules
-- whose next slot has come by the database's clock.
SELECT name FROM durably_cli_schedules
WHERE paused = 0 AND next_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
ORDER BY next_at LIMIT $1
