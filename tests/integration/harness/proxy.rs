//! A TCP proxy in the test process between `durably` and the PostgreSQL server, for network
//! faults on 127.0.0.1: a listener on an ephemeral port, and for each accepted connection a
//! connection to the server and two forwarding threads.
//!
//! Each connection (numbered in accept order from 0) can be black-holed — nothing is
//! forwarded either way and both sockets stay open, which is what a partition looks like to
//! both ends (the proxy's kernel still acknowledges what the client sends, so the client's
//! TCP timers do not fire: only a client-side bound ends its wait) —, healed (what was held
//! back is forwarded then), or reset (both sockets shut down). [`Proxy::black_hole_all`] also
//! black-holes every connection accepted from then on, [`Proxy::heal_all`] heals them all.
//!
//! Every thread polls with a short timeout and ends when the proxy is dropped, so a test that
//! fails leaves nothing running.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a forwarding or accepting thread waits before it looks at its controls again.
const TICK: Duration = Duration::from_millis(20);
/// Client bytes kept per connection for [`Proxy::connection_that_sent`].
const KEEP_SENT: usize = 256 * 1024;

/// What a connection does with the bytes it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    BlackHole,
    Reset,
}

struct Conn {
    mode: Mutex<Mode>,
    /// The first [`KEEP_SENT`] bytes the client sent.
    sent: Mutex<Vec<u8>>,
    /// Either side ended the connection.
    closed: AtomicBool,
    /// The server ended it.
    server_closed: AtomicBool,
}

impl Conn {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, mode: Mode) {
        let mut m = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        // A reset connection stays reset.
        if *m != Mode::Reset {
            *m = mode;
        }
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    conns: Mutex<Vec<Arc<Conn>>>,
    /// Connections accepted from now on start black-holed.
    new_black_holed: AtomicBool,
    /// Connections accepted from now on are closed at once.
    new_refused: AtomicBool,
    /// When the server ends a connection, its client socket stays open (see
    /// [`Proxy::keep_client_open`]).
    keep_client_open: AtomicBool,
}

/// The proxy; dropping it stops every thread and closes every socket.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared::default());
        let (me, upstream) = (Arc::clone(&shared), upstream.to_string());
        std::thread::spawn(move || {
            while !me.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => accept(&me, client, &upstream),
                    Err(_) => std::thread::sleep(TICK),
                }
            }
        });
        Proxy { port, shared }
    }

    /// A proxy in front of the server of the PostgreSQL URL `url`, and `url` rewritten to go
    /// through it (TLS off: the proxy only forwards bytes, but the test looks into them).
    pub fn for_url(url: &str) -> (Proxy, String) {
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let upstream = if host_port.contains(':') {
            host_port.to_string()
        } else {
            format!("{host_port}:5432")
        };
        let proxy = Proxy::start(&upstream);
        let via = format!(
            "{scheme}://{}",
            rest.replacen(host_port, &format!("127.0.0.1:{}", proxy.port), 1)
        );
        let sep = if via.contains('?') { '&' } else { '?' };
        (proxy, format!("{via}{sep}sslmode=disable"))
    }

    fn conn(&self, n: usize) -> Arc<Conn> {
        let conns = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            conns
                .get(n)
                .unwrap_or_else(|| panic!("no connection {n} (only {})", conns.len())),
        )
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether connection `n` has ended (either side closed it, or it was reset).
    pub fn is_closed(&self, n: usize) -> bool {
        self.conn(n).closed.load(Ordering::SeqCst)
    }

    /// The first open connection whose client sent `needle` and none of `unless`.
    pub fn connection_that_sent(&self, needle: &[u8], unless: &[&[u8]]) -> Option<usize> {
        let conns = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.iter().position(|c| {
            let sent = c.sent.lock().unwrap_or_else(|e| e.into_inner());
            let has = |n: &[u8]| sent.windows(n.len()).any(|w| w == n);
            !c.closed.load(Ordering::SeqCst) && has(needle) && !unless.iter().any(|u| has(u))
        })
    }

    /// Stops forwarding on connection `n`, both ways, keeping its sockets open.
    pub fn black_hole(&self, n: usize) {
        self.conn(n).set(Mode::BlackHole);
    }

    /// Forwards on connection `n` again, starting with what was held back.
    #[allow(dead_code)] // a control no test uses yet
    pub fn heal(&self, n: usize) {
        self.conn(n).set(Mode::Forward);
    }

    /// Closes connection `n` (both sockets shut down).
    pub fn reset(&self, n: usize) {
        self.conn(n).set(Mode::Reset);
    }

    /// Black-holes the connections accepted from now on (the open ones keep forwarding).
    pub fn black_hole_new(&self) {
        self.shared.new_black_holed.store(true, Ordering::SeqCst);
    }

    /// Closes the connections accepted from now on at once, before anything is forwarded
    /// (what a server that refuses new sessions looks like to a client); [`Proxy::heal_all`]
    /// ends it.
    pub fn refuse_new(&self) {
        self.shared.new_refused.store(true, Ordering::SeqCst);
    }

    /// When the server ends a connection, what it sent last (an error such as "terminating
    /// connection due to administrator command") reaches the client, but the client's socket
    /// stays open until the proxy stops: the client sees the server's error and no close.
    pub fn keep_client_open(&self) {
        self.shared.keep_client_open.store(true, Ordering::SeqCst);
    }

    /// Whether the server has ended connection `n`.
    #[allow(dead_code)] // a control no test uses yet
    pub fn server_closed(&self, n: usize) -> bool {
        self.conn(n).server_closed.load(Ordering::SeqCst)
    }

    /// Black-holes every connection, open or accepted from now on.
    pub fn black_hole_all(&self) {
        self.shared.new_black_holed.store(true, Ordering::SeqCst);
        let conns = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.iter() {
            c.set(Mode::BlackHole);
        }
    }

    /// Forwards again on every connection, and on those accepted from now on.
    pub fn heal_all(&self) {
        self.shared.new_black_holed.store(false, Ordering::SeqCst);
        self.shared.new_refused.store(false, Ordering::SeqCst);
        let conns = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.iter() {
            c.set(Mode::Forward);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Connects an accepted client to the server and starts its two forwarding threads.
fn accept(shared: &Arc<Shared>, client: TcpStream, upstream: &str) {
    let mode = if shared.new_refused.load(Ordering::SeqCst) {
        Mode::Reset
    } else if shared.new_black_holed.load(Ordering::SeqCst) {
        Mode::BlackHole
    } else {
        Mode::Forward
    };
    let conn = Arc::new(Conn {
        mode: Mutex::new(mode),
        sent: Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
        server_closed: AtomicBool::new(false),
    });
    shared
        .conns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::clone(&conn));
    let Ok(server) = TcpStream::connect(upstream) else {
        conn.closed.store(true, Ordering::SeqCst);
        return;
    };
    let _ = client.set_nonblocking(false);
    for (from, to, record) in [(&client, &server, true), (&server, &client, false)] {
        let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
            conn.closed.store(true, Ordering::SeqCst);
            return;
        };
        let (shared, conn) = (Arc::clone(shared), Arc::clone(&conn));
        std::thread::spawn(move || forward(&shared, &conn, from, to, record));
    }
}

/// Copies `from` to `to` while the connection forwards; reads nothing while it is
/// black-holed; ends both sockets when either side ends, at a reset, or when the proxy stops.
fn forward(shared: &Shared, conn: &Conn, mut from: TcpStream, mut to: TcpStream, record: bool) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) || conn.closed.load(Ordering::SeqCst) {
            break;
        }
        match conn.mode() {
            Mode::Reset => break,
            Mode::BlackHole => {
                std::thread::sleep(TICK);
                continue;
            }
            Mode::Forward => {}
        }
        let n = match from.read(&mut buf) {
            Ok(0) => {
                if !record {
                    conn.server_closed.store(true, Ordering::SeqCst);
                }
                break;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        if record {
            let mut sent = conn.sent.lock().unwrap_or_else(|e| e.into_inner());
            let room = KEEP_SENT.saturating_sub(sent.len()).min(n);
            sent.extend_from_slice(&buf[..room]);
        }
        // Read before a black hole began: held until it heals, as TCP would retransmit it.
        while conn.mode() == Mode::BlackHole && !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
        }
        if conn.mode() == Mode::Reset || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    conn.closed.store(true, Ordering::SeqCst);
    let (client, server) = if record { (from, to) } else { (to, from) };
    let _ = server.shutdown(Shutdown::Both);
    while shared.keep_client_open.load(Ordering::SeqCst)
        && conn.server_closed.load(Ordering::SeqCst)
        && !shared.stop.load(Ordering::SeqCst)
        && conn.mode() != Mode::Reset
    {
        std::thread::sleep(TICK);
    }
    let _ = client.shutdown(Shutdown::Both);
}
