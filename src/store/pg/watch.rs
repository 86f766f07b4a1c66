//! Client-side bounds on the network waits of PostgreSQL connections.
//!
//! The server's `statement_timeout` and `lock_timeout` end the waits the server knows about;
//! TCP keepalives and `TCP_USER_TIMEOUT` ([`super::connect`]) end a connection whose peer no
//! longer acknowledges anything. A peer that acknowledges and never answers (a stalled
//! server, a middlebox or proxy beyond a partition) keeps a blocking call waiting for ever.
//! Here one thread per process shuts a connection's socket down (`shutdown(2)`) when a call on
//! it outlives its bound ([`arm`]): the driver then sees the connection closed, the call
//! returns a connection error, and the caller opens a new connection.
//!
//! The driver does not expose its socket, so a connection's socket is found when it is
//! opened ([`connect`]): connects are serialised in the process, and the one stream socket
//! that appeared during a connect and leads to the server ([`Peers`]: a TCP socket whose peer
//! has the server's port, or a Unix socket when the server is reached by one) is the
//! connection's; a socket the process accepted meanwhile (`durably serve`'s HTTP connections)
//! is neither taken for it nor shut down at its bound. It is known by descriptor and inode,
//! and checked again before the shutdown, so a descriptor number reused by another file is
//! never touched. A connect is bounded the same way: the driver's `connect_timeout` covers
//! the TCP handshake only, not the startup and authentication exchange that follows it.
//! Where `/proc/self/fd` cannot be read, nothing is found and nothing is bounded here.

use std::os::fd::RawFd;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a connection's socket leads to: the server's TCP ports, and whether it may be reached
/// by a Unix socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers {
    pub tcp_ports: Vec<u16>,
    pub unix: bool,
}

impl Peers {
    /// Whether the stream socket at `fd` leads to one of these peers.
    fn lead_to(&self, fd: RawFd) -> bool {
        // SAFETY: getpeername writes at most `len` bytes into the local buffer given.
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: as above; the buffer outlives the call.
        let got = unsafe {
            libc::getpeername(
                fd,
                (&mut addr as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if got != 0 {
            // Not connected (yet, or any longer): a connect in progress may still be ours.
            return true;
        }
        let port = match i32::from(addr.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let a = unsafe {
                    &*(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                u16::from_be(a.sin_port)
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let a = unsafe {
                    &*(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                u16::from_be(a.sin6_port)
            }
            libc::AF_UNIX => return self.unix,
            _ => return false,
        };
        self.tcp_ports.contains(&port)
    }
}

/// The socket of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    fd: RawFd,
    inode: u64,
}

/// What to shut down when a bound passes.
enum Target {
    /// One connection's socket.
    Socket(Socket),
    /// The stream sockets to these peers opened since these (a connect in progress).
    NewSince(Vec<Socket>, Peers),
}

struct Entry {
    id: u64,
    at: Instant,
    target: Target,
}

struct Watcher {
    /// The next id, and the armed bounds.
    entries: Mutex<(u64, Vec<Entry>)>,
    wake: Condvar,
}

static WATCHER: Watcher = Watcher {
    entries: Mutex::new((0, Vec::new())),
    wake: Condvar::new(),
};
/// Whether the watching thread runs (it is started at the first bound).
static STARTED: OnceLock<bool> = OnceLock::new();
/// One connect at a time, so that the socket a connect opened can be told apart.
static CONNECTING: Mutex<()> = Mutex::new(());

/// A bound in force until dropped.
#[must_use]
pub struct Armed(Option<u64>);

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            let mut entries = WATCHER.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.1.retain(|e| e.id != id);
        }
    }
}

/// Shuts `socket` down if the call that is made until the returned guard drops is still
/// waiting at `at`. Nothing when either is None.
pub fn arm(socket: Option<Socket>, at: Option<Instant>) -> Armed {
    match (socket, at) {
        (Some(s), Some(at)) => add(at, Target::Socket(s)),
        _ => Armed(None),
    }
}

/// Runs `f`, a connect to `peers`, bounded by `bound`: at the bound the stream sockets to
/// them opened since it began are shut down. Returns what `f` returned and the one stream
/// socket to them it opened (None when it is not exactly one).
pub fn connect<T>(bound: Duration, peers: &Peers, f: impl FnOnce() -> T) -> (T, Option<Socket>) {
    let _one = CONNECTING.lock().unwrap_or_else(|e| e.into_inner());
    let before = stream_sockets();
    // A bound too far to represent is no bound.
    let armed = match Instant::now().checked_add(bound) {
        Some(at) => add(at, Target::NewSince(before.clone(), peers.clone())),
        None => Armed(None),
    };
    let value = f();
    drop(armed);
    let new: Vec<Socket> = new_since(&before, peers);
    let socket = match new[..] {
        [one] => Some(one),
        _ => None,
    };
    (value, socket)
}

fn add(at: Instant, target: Target) -> Armed {
    let started = *STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("pg-watch".into())
            .spawn(watch)
            .is_ok()
    });
    if !started {
        return Armed(None);
    }
    let mut entries = WATCHER.entries.lock().unwrap_or_else(|e| e.into_inner());
    let id = entries.0;
    entries.0 += 1;
    entries.1.push(Entry { id, at, target });
    WATCHER.wake.notify_one();
    Armed(Some(id))
}

/// The watching thread: sleeps until the earliest bound, then shuts its target down.
fn watch() {
    let mut entries = WATCHER.entries.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        let (due, waiting): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut entries.1)
            .into_iter()
            .partition(|e| e.at <= now);
        entries.1 = waiting;
        for e in due {
            match e.target {
                Target::Socket(s) => shut_down(s),
                Target::NewSince(before, peers) => {
                    new_since(&before, &peers).into_iter().for_each(shut_down)
                }
            }
        }
        let next = entries.1.iter().map(|e| e.at).min();
        entries = match next {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                WATCHER
                    .wake
                    .wait_timeout(entries, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => WATCHER
                .wake
                .wait(entries)
                .unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// Shuts `socket` down now (a connection known to be gone).
pub fn cut(socket: Option<Socket>) {
    if let Some(s) = socket {
        shut_down(s);
    }
}

/// Shuts `s` down both ways if its descriptor still holds the same socket.
fn shut_down(s: Socket) {
    if socket_at(s.fd) == Some(s) {
        // SAFETY: shutdown(2) on a descriptor that is the socket we found; no memory is touched.
        unsafe { libc::shutdown(s.fd, libc::SHUT_RDWR) };
    }
}

/// The stream sockets to `peers` opened since `before`.
fn new_since(before: &[Socket], peers: &Peers) -> Vec<Socket> {
    stream_sockets()
        .into_iter()
        .filter(|s| !before.contains(s) && peers.lead_to(s.fd))
        .collect()
}

/// The open stream sockets of this process.
fn stream_sockets() -> Vec<Socket> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
        .filter_map(socket_at)
        .collect()
}

/// The stream socket at descriptor `fd`, if it is one.
fn socket_at(fd: RawFd) -> Option<Socket> {
    // SAFETY: fstat and getsockopt write only into the local buffers given, of the sizes given.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return None;
        }
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let got = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        );
        (got == 0 && kind == libc::SOCK_STREAM).then_some(Socket {
            fd,
            inode: st.st_ino,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_connect_finds_its_socket_and_a_passed_bound_shuts_it_down() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Peers {
            tcp_ports: vec![addr.port()],
            unix: false,
        };
        let (stream, socket) = connect(Duration::from_secs(30), &peers, || {
            std::net::TcpStream::connect(addr).unwrap()
        });
        let socket = socket.expect("the new socket");
        let _server = listener.accept().unwrap();
        // A read that nothing answers ends when its bound passes.
        let _armed = arm(
            Some(socket),
            Some(Instant::now() + Duration::from_millis(50)),
        );
        let mut buf = [0u8; 1];
        assert_eq!((&stream).read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn a_connect_that_hangs_after_the_handshake_ends_at_its_bound() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Peers {
            tcp_ports: vec![addr.port()],
            unix: false,
        };
        let (read, _) = connect(Duration::from_millis(50), &peers, || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.read(&mut [0u8; 1]).unwrap()
        });
        assert_eq!(read, 0);
    }

    #[test]
    fn a_socket_accepted_during_a_connect_is_neither_taken_nor_cut() {
        // The server nobody answers on, and an HTTP server of this process that accepts a
        // connection while the connect waits (durably serve's pool opening a connection).
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (server_addr, http_addr) = (server.local_addr().unwrap(), http.local_addr().unwrap());
        let client = std::thread::spawn(move || std::net::TcpStream::connect(http_addr).unwrap());
        let peers = Peers {
            tcp_ports: vec![server_addr.port()],
            unix: false,
        };
        let ((stream, accepted), socket) = connect(Duration::from_millis(300), &peers, || {
            let accepted = http.accept().unwrap().0;
            let mut s = std::net::TcpStream::connect(server_addr).unwrap();
            // Black-holed: the bound cuts it.
            assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0);
            (s, accepted)
        });
        let socket = socket.expect("the connection's socket, not the accepted one");
        assert_eq!(socket_at(stream_fd(&stream)), Some(socket));
        // The accepted HTTP connection still works both ways.
        let mut browser = client.join().unwrap();
        use std::io::Write;
        (&accepted).write_all(b"x").unwrap();
        let mut got = [0u8; 1];
        browser.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"x");
    }

    fn stream_fd(s: &std::net::TcpStream) -> RawFd {
        use std::os::fd::AsRawFd;
        s.as_raw_fd()
    }
}
