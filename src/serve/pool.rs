//! Store calls from async handlers: each runs on one of tokio's blocking threads with one of a
//! few connections ([`super::POOL_SIZE`]), taken from the pool for the call and given back
//! after it. A connection found lost (a PostgreSQL server restarted) is dropped and a new one
//! opened by the next call, as a worker reconnects.

use crate::store::{Access, Options, Store};
use anyhow::{anyhow, Result};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub struct Pool {
    opts: Options,
    idle: Arc<Mutex<Vec<Store>>>,
    permits: Semaphore,
}

impl Pool {
    /// Opens one connection now (so that a bad `--db` fails at start, with the schema created
    /// for a new file); the others are opened when first needed.
    pub async fn open(opts: Options, size: usize) -> Result<Pool> {
        let first_opts = opts.clone();
        let first = tokio::task::spawn_blocking(move || Store::open(&first_opts, Access::Write))
            .await
            .map_err(|e| anyhow!("cannot open the database: {e}"))??;
        Ok(Pool {
            opts,
            idle: Arc::new(Mutex::new(vec![first])),
            permits: Semaphore::new(size),
        })
    }

    /// Runs `f` with a connection on a blocking thread.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| anyhow!("the server is stopping"))?;
        let taken = self
            .idle
            .lock()
            .map_err(|_| anyhow!("pool poisoned"))?
            .pop();
        let opts = self.opts.clone();
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = match taken {
                Some(s) => s,
                None => Store::open_again(&opts)?,
            };
            let value = f(&mut store);
            let lost = match &value {
                Err(e) => store.is_lost_after(e),
                Ok(_) => store.is_lost(),
            };
            if !lost {
                if let Ok(mut idle) = idle.lock() {
                    idle.push(store);
                }
            }
            value
        })
        .await
        .map_err(|e| anyhow!("a database call ended abnormally: {e}"))?
    }
}

impl Drop for Pool {
    /// A PostgreSQL connection runs a small runtime of its own to close itself, which cannot
    /// start on a thread that drives this server's tasks: the connections are closed on a
    /// plain thread of their own.
    fn drop(&mut self) {
        let stores = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => return,
        };
        let _ = std::thread::spawn(move || drop(stores)).join();
    }
}
