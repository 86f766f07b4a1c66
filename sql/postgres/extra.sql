-- Indexes of our own beside the library's schema (SEMANTICS.md, "Compatibility", allows them; README lists why),
-- only what the PostgreSQL statements need. Created with the schema and by `durably init` on a
-- database the library migrated; every statement still works without them, only slower.

-- Ids sort byte-wise (COLLATE "C") in these indexes and in the statements, as on SQLite, whatever
-- the database's collation.

-- `ls` with no status/job filter, newest first, and `--before` paging: the page is read off the
-- end of this index, `id` breaking ties inside one millisecond.
CREATE INDEX IF NOT EXISTS idx_durably_runs_created_id ON durably_runs (created_at, id COLLATE "C");
-- `ls --status S` newest first and the claim's oldest pending run, without a sort.
CREATE INDEX IF NOT EXISTS idx_durably_runs_status_created_id ON durably_runs (status, created_at, id COLLATE "C");
-- `ls --job J` and a claim limited to some jobs: the oldest pending run of one job is one seek.
CREATE INDEX IF NOT EXISTS idx_durably_runs_job_status_created_id ON durably_runs (job_name, status, created_at, id COLLATE "C");
-- Run ids by byte order: a prefix (`durably show 0193ab`) is one range seek, and a run's
-- shortest unique prefix compares it with its two neighbours. The primary key's index follows
-- the database's collation, which may order ids otherwise and cannot serve LIKE 'prefix%'.
CREATE INDEX IF NOT EXISTS idx_durably_runs_id_c ON durably_runs (id COLLATE "C");
-- Run ids by their last 8 characters in lower case: a tail (`durably show 7f3k9q2m`) is one
-- equality seek, the full tail then compared on the few rows that share those 8 characters,
-- and `ls` finds every run sharing a key with one of the page's ids in one query. `right()`
-- counts characters as SQLite's `substr(id, -8)` does; lower() under COLLATE "C" folds ASCII
-- letters only, as SQLite's lower() does, whatever the database's locale (a Turkish one would
-- fold 'I' to a dotless i).
CREATE INDEX IF NOT EXISTS idx_durably_runs_id_tail ON durably_runs (lower(right(id, 8) COLLATE "C"));
-- `durably serve`'s event poller reads, each tick, the runs changed since its cursor: a range
-- at the end of this index, so an idle server's tick reads nothing (src/serve/feed.rs).
CREATE INDEX IF NOT EXISTS idx_durably_runs_updated_id ON durably_runs (updated_at, id COLLATE "C");
-- The claim's read of the oldest pending runs (lease_claim_batch.sql): only pending runs are in
-- it, so the claim reads its first entries whatever the statistics say. Without it a planner
-- whose statistics were taken while the queue was full (every run pending) reads
-- idx_durably_runs_created_id from its start, past every run completed since, at each claim;
-- one whose statistics say the queue is empty sorts every pending run. Runs leave it when
-- claimed: it holds the queue, not the history.
CREATE INDEX IF NOT EXISTS idx_durably_runs_pending_created_id ON durably_runs (created_at, id COLLATE "C") WHERE status = 'pending';
