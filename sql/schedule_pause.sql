-- Pauses (?2 = 1) or resumes (?2 = 0) a schedule; a resume sets next_at (?3) to the first
-- slot after now: slots that fell while it was paused are not caught up.
UPDATE durably_cli_schedules
SET paused = ?2, next_at = coalesce(?3, next_at), updated_at = ?4
WHERE name = ?1
