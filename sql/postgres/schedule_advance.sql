-- Moves a schedule past the slots being materialised: compare-and-set on the next_at read
-- ($2), so a second materialisation of the same slots changes nothing. $4: the latest slot
-- materialised (NULL: none, catch-up none skipped them).
UPDATE durably_cli_schedules
SET next_at = $3, last_slot = coalesce($4, last_slot), updated_at = $5
WHERE name = $1 AND next_at = $2 AND paused = 0
