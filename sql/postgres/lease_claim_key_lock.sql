-- $1 concurrency key: the key's transaction-level advisory lock (the library's claim takes the
-- same lock, waiting), tried without waiting: false when another session holds it.
SELECT pg_try_advisory_xact_lock(hashtext($1))
