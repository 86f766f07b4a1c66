//! The integration tests of durably, one test binary: every module runs the real binary
//! (`CARGO_BIN_EXE_durably`) against real databases and real processes, through the one
//! harness in `harness/`.
//!
//! Run one module: `cargo test --test integration ls::`.
//!
//! Backends: `contract` (the store in-process), `enqueue`, `ls` (but its `--explain` test),
//! `admin`, `fleet` (but one PostgreSQL case), `worker_handlers`, `worker_race`,
//! `worker_outcomes` and `stress_load`'s enqueuers declare their tests with `both!`, which
//! runs each on a SQLite file (`name::sqlite`) and on a
//! fresh PostgreSQL database (`name::pg`, ignored unless `--include-ignored`, with
//! `DURABLY_TEST_PG` naming the server); `interop` does the same with its scenarios against
//! the real library (both cases ignored: they need Node.js), beside a few about one backend;
//! `stress_load` also has PostgreSQL-only cases (8 workers over TCP, a server restart). The
//! other modules are about SQLite files (schema, journal modes, locks, paths, query plans) and
//! run on SQLite only.

#[macro_use]
mod harness;

mod admin;
mod bad_input;
mod calm;
mod command_runs;
mod completions;
mod contract;
mod dashboard;
mod enqueue;
mod fleet;
mod handler_channel;
mod held;
mod help;
mod interop;
mod ls;
mod net;
mod one_host;
mod output_memory;
mod pauses;
mod pg_batches;
mod pgbouncer;
mod poison;
mod postgres;
mod postgres_clock;
mod postgres_worker;
mod query_plans;
mod readme;
mod retries;
mod schedules;
mod schema;
mod secrets;
mod serve;
mod serve_interop;
mod stress_crash;
mod stress_fence;
mod stress_fuzz;
mod stress_hostile;
mod stress_load;
mod stress_lock;
mod stress_read;
mod stress_watchdog;
mod stress_worker_env;
mod terminal_escapes;
mod worker_crash;
mod worker_handlers;
mod worker_outcomes;
mod worker_race;
