-- Every pause, the whole queue first, then jobs by name (byte order, as on SQLite).
SELECT scope, paused_at FROM durably_cli_pauses ORDER BY scope <> 'queue', scope COLLATE "C"
