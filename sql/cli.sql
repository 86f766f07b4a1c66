-- Tables of our own beside the library's v1 schema (src/store/ours.rs says when they are
-- created; SEMANTICS.md, "Compatibility", why the library is not disturbed). Every name starts
-- with durably_cli_, every statement is IF NOT EXISTS (this file runs again on every database
-- that lacks one of them), and sql/postgres/cli.sql declares the same tables in the same order.
--
-- Each feature appends its tables below, with a comment saying what reads and writes them.

-- Held runs (issue 17): runs that must not start yet — `enqueue --at/--in` (due_at),
-- `--after ID…` (rows of durably_cli_held_waits), a retry's backoff. They are not in
-- durably_runs, so no worker (the library's included) can claim one early; a CLI process moves
-- each into durably_runs, with the id it was given at enqueue time, when it is due.
CREATE TABLE IF NOT EXISTS durably_cli_held_runs (
  id TEXT PRIMARY KEY,
  job_name TEXT NOT NULL,
  input TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  idempotency_key TEXT,
  concurrency_key TEXT,
  -- When it may be released (the library's timestamp text); NULL: it only waits on runs.
  due_at TEXT,
  -- 1: released when every run waited on has ended in any way; 0: cancelled when one fails
  -- or is cancelled.
  after_any INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
-- The release's one indexed read: the earliest due runs.
CREATE INDEX IF NOT EXISTS idx_durably_cli_held_runs_due ON durably_cli_held_runs (due_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_durably_cli_held_runs_idempotency ON durably_cli_held_runs (job_name, idempotency_key);

-- What a held run waits on (`--after`): one row per run waited on.
CREATE TABLE IF NOT EXISTS durably_cli_held_waits (
  run_id TEXT NOT NULL,
  waits_on TEXT NOT NULL,
  PRIMARY KEY (run_id, waits_on)
);
CREATE INDEX IF NOT EXISTS idx_durably_cli_held_waits_on ON durably_cli_held_waits (waits_on);

-- Retries (issue 17): the policy and the attempt chain of a run enqueued with --retries, held
-- or released. A successor is a new run (new id) linked to the one before it.
CREATE TABLE IF NOT EXISTS durably_cli_attempts (
  run_id TEXT PRIMARY KEY,
  first_run_id TEXT NOT NULL,
  previous_run_id TEXT,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  backoff_ms INTEGER NOT NULL,
  backoff_max_ms INTEGER NOT NULL,
  -- JSON array of the exit codes that are retried; NULL: every failure.
  retry_on TEXT
);
CREATE INDEX IF NOT EXISTS idx_durably_cli_attempts_previous ON durably_cli_attempts (previous_run_id);
CREATE INDEX IF NOT EXISTS idx_durably_cli_attempts_first ON durably_cli_attempts (first_run_id, attempt);

-- Pauses (issue 17): `durably pause` writes, `resume` deletes, `paused` lists; every CLI
-- worker's claim reads them (a NOT EXISTS probe of the primary key per candidate run), and its
-- poll reads the whole table at most once a second for `work -v`. scope: 'queue' (every job)
-- or 'job:' followed by the job's name, so no job name can collide with the whole queue.
CREATE TABLE IF NOT EXISTS durably_cli_pauses (
  scope TEXT PRIMARY KEY,
  paused_at TEXT NOT NULL
);
