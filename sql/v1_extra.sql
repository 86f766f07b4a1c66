-- Indexes of our own, beside the library's v1 schema (SEMANTICS.md, "Compatibility", allows them; README lists why).
-- Created with the schema and by `durably init` on an existing v1 file; every query still works
-- without them, only slower. IF NOT EXISTS: init is idempotent.

-- `ls` with no status/job filter, newest first, and `--before` paging: the page is read off the
-- end of this index, with `id` as the tie-break inside one millisecond.
CREATE INDEX IF NOT EXISTS idx_durably_runs_created_id ON durably_runs (created_at, id);
-- `ls --status S` newest first and the claim's oldest pending run, without a sort.
CREATE INDEX IF NOT EXISTS idx_durably_runs_status_created_id ON durably_runs (status, created_at, id);
-- `ls --job J` (one range per status, merged) and the claim of `work --handlers DIR`, which
-- only takes jobs that have a handler: the oldest pending run of one job is one index seek.
CREATE INDEX IF NOT EXISTS idx_durably_runs_job_status_created_id ON durably_runs (job_name, status, created_at, id);
-- Run handles: a case-insensitive tail of 8+ characters names a run (`durably show 9dc75f3a`).
-- SQLite cannot seek `id LIKE '%tail'`; queries use this exact expression and compare the
-- rest of a longer tail on the few rows that share the last 8 characters.
CREATE INDEX IF NOT EXISTS idx_durably_runs_id_tail ON durably_runs (lower(substr(id, -8)));
-- `durably serve`'s event poller reads, each tick, the runs changed since its cursor: a range
-- at the end of this index, so an idle server's tick reads nothing (src/serve/feed.rs).
CREATE INDEX IF NOT EXISTS idx_durably_runs_updated_id ON durably_runs (updated_at, id);
