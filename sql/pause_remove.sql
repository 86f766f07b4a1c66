-- ?1 scope: lifts its pause (0 rows: it was not paused).
DELETE FROM durably_cli_pauses WHERE scope = ?1
