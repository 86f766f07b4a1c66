-- $1 run ids: those that have a successor (a later attempt of their retry chain), one probe
-- of idx_durably_cli_attempts_previous each (`ls --latest`).
SELECT previous_run_id FROM durably_cli_attempts WHERE previous_run_id = ANY($1::text[])
