-- Deletes a schedule (its runs stay).
DELETE FROM durably_cli_schedules WHERE name = ?1
