-- ?1 scope, ?2 now: pauses a scope; one already paused keeps its time (0 rows).
INSERT INTO durably_cli_pauses (scope, paused_at) VALUES (?1, ?2) ON CONFLICT (scope) DO NOTHING
