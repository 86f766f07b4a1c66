-- The database's now (the transaction's start) in the library's timestamp text, exactly
-- crate::time::format_ms: UTC, milliseconds truncated, `YYYY-MM-DDTHH:MM:SS.sssZ`. Every
-- statement of sql/postgres/ that writes or compares a time spells this same expression.
SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
