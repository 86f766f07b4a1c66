//! The integration tests of durably, one test binary: every module runs the real binary
//! (`CARGO_BIN_EXE_durably`) against real SQLite files and real processes, through the one
//! harness in `harness/`.
//!
//! Run one module: `cargo test --test integration ls::`.

#[macro_use]
mod harness;

mod admin;
mod bad_input;
mod completions;
mod enqueue;
mod help;
mod interop;
mod ls;
mod postgres_worker;
mod query_plans;
mod readme;
mod schema;
mod stress_crash;
mod stress_fence;
mod stress_fuzz;
mod stress_hostile;
mod stress_load;
mod stress_lock;
mod stress_read;
mod stress_watchdog;
mod stress_worker_env;
mod worker_crash;
mod worker_handlers;
mod worker_outcomes;
mod worker_race;
