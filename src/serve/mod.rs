//! `durably serve`: @coji/durably's HTTP API (`createDurablyHandler` of 0.15.0: the same
//! routes, shapes, status codes and SSE framing) and a dashboard page, over the CLI's
//! database. The only asynchronous code of the program lives here: an axum server on a tokio
//! runtime of its own; the rest of the CLI stays synchronous.
//!
//! Layout: [`pool`] runs store calls on tokio's blocking threads over a few connections;
//! [`feed`] is the one poller per server that turns database changes into the library's
//! events, fanned out through a broadcast channel; [`events`] builds the event objects;
//! [`sse`] the streams of `/subscribe` and `/runs/subscribe`; [`routes`] the library's routes
//! and ours (`/stats`, the dashboard at `/`); [`guard`] what every request must pass first
//! (token, Host, Origin, sizes, read-only, CORS); [`http`] responses and query parsing.
//!
//! Invariants: a store call never runs on an async worker thread (only in [`pool::Pool::call`]
//! or the feed's own thread); no password reaches a response or a log line (errors go through
//! [`crate::secret::scrub`]); on SIGINT or SIGTERM open streams end, requests in flight finish,
//! and the process exits 0.

mod events;
mod feed;
mod guard;
mod http;
mod library;
mod pool;
mod routes;
mod sse;
mod stats;

use crate::store::Options;
use anyhow::{Context as _, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How many store connections serve requests at once (besides the feed's own).
pub const POOL_SIZE: usize = 4;

/// Which job names `POST /trigger` and `POST /retrigger` accept.
pub enum JobGate {
    /// Any valid job name (the CLI has no job registry).
    Any,
    /// Only names for which this predicate holds (`--handlers DIR`: a handler exists there).
    Only(Box<dyn Fn(&str) -> bool + Send + Sync>),
}

/// What `durably serve` was asked for.
pub struct Config {
    pub opts: Options,
    pub bind: SocketAddr,
    /// The routes' prefix: "" or "/a/b" (no trailing slash).
    pub base_path: String,
    pub read_only: bool,
    pub token: Option<String>,
    /// Origins allowed to call cross-origin (CORS answered for them only).
    pub cors: Vec<String>,
    /// Host header names accepted beside the loopback ones.
    pub allow_hosts: Vec<String>,
    pub jobs: JobGate,
    /// How often the feed reads the database for changes.
    pub tick: Duration,
}

/// Everything a request handler reads.
pub struct State {
    pub config: Config,
    pub pool: pool::Pool,
    pub feed: feed::FeedHandle,
    pub stats: stats::Cache,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Serves until SIGINT or SIGTERM. `ready` is called with the bound address once the socket
/// listens (the command prints it).
pub fn run(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(POOL_SIZE + 4)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(serve(config, ready))
}

async fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let pool = pool::Pool::open(config.opts.clone(), POOL_SIZE).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feed = feed::start(config.opts.clone(), config.tick)?;
    let state = Arc::new(State {
        config,
        pool,
        feed,
        stats: stats::Cache::default(),
        shutdown: stop_rx,
    });
    let app = axum::Router::new()
        .fallback(routes::handle)
        .with_state(state.clone());
    ready(addr);
    let mut stopped = state.shutdown.clone();
    let stopping = async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(stopping);
    // Requests in flight get SHUTDOWN_GRACE to finish; a call stuck on the database does not
    // keep the process alive past it.
    let deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served.context("the server stopped")?,
        () = deadline => eprintln!("durably: serve: requests still running after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    state.feed.stop();
    Ok(())
}

/// How long requests in flight may run on after SIGINT or SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves at the first SIGINT or SIGTERM. Counted by [`crate::signals`] (signal-hook), read
/// every 50 ms: tokio's own signal driver is left out of the build, because its self-pipe would
/// be created inside the first PostgreSQL connect of a process, where the connect bound
/// (`store::pg::watch`) takes every new stream socket for the connection's.
async fn wait_for_signal() {
    let before = crate::signals::received();
    if crate::signals::count(&crate::signals::INTERRUPT).is_err() {
        return std::future::pending().await;
    }
    while crate::signals::received() == before {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
