-- The worker's one read per poll (idx_durably_cli_schedules_next): the unpaused schedules
-- whose next slot has come, ?1 being now by this process's clock.
SELECT name FROM durably_cli_schedules
WHERE paused = 0 AND next_at <= ?1
ORDER BY next_at LIMIT ?2
