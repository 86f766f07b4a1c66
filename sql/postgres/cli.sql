-- Tables of our own beside the library's PostgreSQL schema (src/store/ours.rs says when they are
-- created; SEMANTICS.md, "Compatibility", why the library is not disturbed). Every name starts
-- with durably_cli_, every statement is IF NOT EXISTS (this file runs again on every database
-- that lacks one of them), and sql/cli.sql (SQLite) declares the same tables in the same order.
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
CREATE INDEX IF NOT EXISTS idx_durably_cli_held_runs_due ON durably_cli_held_runs (due_at, id COLLATE "C");
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
  backoff_ms BIGINT NOT NULL,
  backoff_max_ms BIGINT NOT NULL,
  -- JSON array of the exit codes that are retried; NULL: every failure.
  retry_on TEXT
);
CREATE INDEX IF NOT EXISTS idx_durably_cli_attempts_previous ON durably_cli_attempts (previous_run_id);
CREATE INDEX IF NOT EXISTS idx_durably_cli_attempts_first ON durably_cli_attempts (first_run_id, attempt);

-- Handles of held runs (`durably show|cancel|rm TAIL`): a held run is named by its full id or
-- a tail of 8+ characters, as a run is (src/store/held.rs); written and read by the held-run
-- commands and the release (src/store/pg/held.rs).
CREATE INDEX IF NOT EXISTS idx_durably_cli_held_runs_id_tail ON durably_cli_held_runs (lower(right(id, 8)));
-- Schedules (issue 17, `durably schedule`): written by `schedule add|rm|pause|resume`; read by
-- `schedule ls|show` and by every `work` poll, which materialises due slots into runs: one
-- transaction moves next_at forward (compare-and-set on the value read) and enqueues the
-- slot's runs, each with the idempotency key schedule:NAME:SLOT. The retry columns are the
-- policy of the runs it enqueues.
CREATE TABLE IF NOT EXISTS durably_cli_schedules (
  name TEXT PRIMARY KEY,
  -- Exactly one of cron (with tz, an IANA zone) and every_ms.
  cron TEXT,
  every_ms BIGINT,
  tz TEXT NOT NULL DEFAULT 'UTC',
  job_name TEXT NOT NULL,
  input TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  concurrency_key TEXT,
  -- none, last or all.
  catch_up TEXT NOT NULL DEFAULT 'last',
  retries BIGINT,
  backoff_ms BIGINT,
  backoff_max_ms BIGINT,
  retry_on TEXT,
  paused INTEGER NOT NULL DEFAULT 0,
  -- The first slot not yet materialised (the library's timestamp text).
  next_at TEXT NOT NULL,
  -- The latest slot materialised.
  last_slot TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- The poll's one indexed read: unpaused schedules by their next slot.
CREATE INDEX IF NOT EXISTS idx_durably_cli_schedules_next ON durably_cli_schedules (next_at) WHERE paused = 0;
-- Pauses (issue 17): `durably pause` writes, `resume` deletes, `paused` lists; every CLI
-- worker's claim reads them (once per claim statement: a one-time filter and a hashed set), and its
-- poll reads the whole table at most once a second for `work -v`. scope: 'queue' (every job)
-- or 'job:' followed by the job's name, so no job name can collide with the whole queue.
CREATE TABLE IF NOT EXISTS durably_cli_pauses (
  scope TEXT PRIMARY KEY,
  paused_at TEXT NOT NULL
);
-- Give-backs (issue 17's crash loops): how often a CLI worker handed a run back because of its
-- own trouble (no handler process could start, a full disk, a forced stop), written in the
-- transaction of the give-back. A crash loop counts the claims (lease_generation) less these,
-- so the worker's own trouble never fails a run; read only for a run claimed more than
-- `--max-lease-expiries` times.
CREATE TABLE IF NOT EXISTS durably_cli_given_back (
  run_id TEXT PRIMARY KEY,
  times BIGINT NOT NULL
);
