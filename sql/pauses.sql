-- Every pause, the whole queue first, then jobs by name.
SELECT scope, paused_at FROM durably_cli_pauses ORDER BY scope <> 'queue', scope
