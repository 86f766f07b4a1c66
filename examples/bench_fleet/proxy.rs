//! A TCP proxy in front of the PostgreSQL server that counts round trips (the fleet's "round
//! trips per run" rows): each time a client sends after the server last spoke to it (or first)
//! is one round trip; messages a client pipelines without waiting count once. Bytes pass
//! through unchanged (the `SSLRequest` of `sslmode=prefer` and its `N` included).

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Proxy {
    /// `host:port` the clients connect to.
    pub addr: String,
    trips: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `server`
    /// (`host:port`).
    pub fn start(server: &str) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let trips = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s, server) = (trips.clone(), stop.clone(), server.to_string());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = forward(client, &server, t.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Ok(Proxy { addr, trips, stop })
    }

    /// Round trips counted so far.
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Two copying threads for one connection; `clients_turn` is set when the server has spoken.
fn forward(client: TcpStream, server: &str, trips: Arc<AtomicU64>) -> Result<()> {
    client.set_nonblocking(false)?;
    let upstream = TcpStream::connect(server).with_context(|| format!("proxy to {server}"))?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let clients_turn = Arc::new(AtomicBool::new(true));
    let (c_read, u_write) = (client.try_clone()?, upstream.try_clone()?);
    let turn = clients_turn.clone();
    std::thread::spawn(move || {
        copy(c_read, u_write, |_| {
            if turn.swap(false, Ordering::AcqRel) {
                trips.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    std::thread::spawn(move || {
        copy(upstream, client, |_| {
            clients_turn.store(true, Ordering::Release)
        })
    });
    Ok(())
}

/// Copies `from` to `to` until either end closes, calling `seen` before each chunk is passed.
fn copy(mut from: TcpStream, mut to: TcpStream, seen: impl Fn(usize)) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen(n);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
