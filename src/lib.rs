//! durably: durable runs (queued jobs) in one SQLite file, shared with @coji/durably.
//!
//! The binary is a thin `main` over [`cmd::run`]; the library exists so benchmarks and tests
//! can time the store in-process.

pub mod cli;
pub mod cmd;
pub mod error;
pub mod handler_channel;
pub mod handler_output;
pub mod model;
pub mod output;
pub mod secret;
pub mod serve;
pub mod signals;
pub mod store;
pub mod time;
pub mod worker;
