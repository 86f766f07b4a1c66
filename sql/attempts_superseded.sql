-- ?1 a JSON array of run ids: those that have a successor (a later attempt of their retry
-- chain), one probe of idx_durably_cli_attempts_previous each (`ls --latest`).
SELECT previous_run_id FROM durably_cli_attempts
WHERE previous_run_id IN (SELECT value FROM json_each(?1))
