//! A private PgBouncer in front of the server of `DURABLY_TEST_PG`: its own ini and user list
//! in a temp dir, `pool_mode = transaction`, a pool of [`POOL`] server connections per
//! database and user (so that many clients really share them), opened as concurrent
//! transactions need them and then taken in turn (`server_round_robin`: one client's
//! consecutive transactions land on different server connections), trust authentication, a free port on 127.0.0.1. Stopped when dropped. A test that needs it and finds no `pgbouncer`
//! binary fails with what to install, as the PostgreSQL tests do without `DURABLY_TEST_PG`.

use super::backend::{pg_server, with_dbname, Backend};
use super::{wait_until, Env};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Server connections per (database, user): fewer than the clients of any test here.
pub const POOL: u32 = 3;

/// A running pgbouncer; killed when dropped.
pub struct Bouncer {
    child: Child,
    /// Its ini, user list and log.
    dir: tempfile::TempDir,
    port: u16,
    user: String,
}

/// The pgbouncer binary: on PATH, else where Debian puts it (`/usr/sbin`, off a user's PATH).
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test needs pgbouncer (PgBouncer in transaction mode in front of \
                 DURABLY_TEST_PG): install it (apt-get install pgbouncer), or run .ci/run, \
                 which installs it"
            )
        })
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// The user and group pgbouncer runs as when the tests run as root (it refuses root).
fn unprivileged() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let c = CString::new(name).expect("no NUL");
        // SAFETY: a valid C string; the returned record is read at once, before any other
        // getpw* call on this thread could overwrite it.
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if !pw.is_null() {
            // SAFETY: non-null, points to the static record getpwnam returned.
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            return Some((uid, gid));
        }
    }
    panic!("running as root, and neither user postgres nor nobody exists to run pgbouncer as");
}

impl Bouncer {
    /// Starts a pgbouncer in transaction mode in front of the server of `DURABLY_TEST_PG`.
    #[track_caller]
    pub fn start() -> Bouncer {
        let server: postgres::Config = pg_server().parse().expect("DURABLY_TEST_PG is a URL");
        let host = match server.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "127.0.0.1".into(),
        };
        let server_port = server.get_ports().first().copied().unwrap_or(5432);
        let user = server.get_user().unwrap_or("postgres").to_string();
        let password = server
            .get_password()
            .map(|p| format!(" password={}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        let bin = binary();
        let dir = tempfile::tempdir().expect("temp dir");
        // pgbouncer may run as another user (see `unprivileged`): it writes its log here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod the bouncer's dir");
        std::fs::write(
            dir.path().join("userlist.txt"),
            format!("\"{user}\" \"\"\n"),
        )
        .expect("write the user list");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let ini = dir.path().join("pgbouncer.ini");
            std::fs::write(
                &ini,
                ini_text(dir.path(), &host, server_port, &password, port),
            )
            .expect("write pgbouncer.ini");
            for f in ["pgbouncer.ini", "userlist.txt"] {
                std::fs::set_permissions(
                    dir.path().join(f),
                    std::fs::Permissions::from_mode(0o644),
                )
                .expect("chmod");
            }
            let mut cmd = Command::new(&bin);
            cmd.arg(&ini)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some((uid, gid)) = unprivileged() {
                cmd.uid(uid).gid(gid);
            }
            let mut child = cmd.spawn().expect("spawn pgbouncer");
            let up = wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    || child.try_wait().ok().flatten().is_some()
            });
            if up && child.try_wait().ok().flatten().is_none() {
                return Bouncer {
                    child,
                    dir,
                    port,
                    user,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default();
        }
        panic!("pgbouncer did not start; its log:\n{last}");
    }

    /// The URL of database `name` through the bouncer.
    pub fn url(&self, name: &str) -> String {
        with_dbname(
            &format!("postgres://{}@127.0.0.1:{}/postgres", self.user, self.port),
            name,
        )
    }

    /// Opens every server connection of the pool of database `name`: [`POOL`] clients each
    /// hold a transaction at once (the bouncer opens server connections only when clients
    /// wait for one), then end them; the connections stay open for the next clients.
    pub fn open_pool(&self, name: &str) {
        let url = self.url(name);
        let mut clients: Vec<postgres::Client> = (0..POOL)
            .map(|_| super::backend::pg_connect(&url))
            .collect();
        for c in &mut clients {
            c.batch_execute("BEGIN; SELECT 1")
                .expect("a transaction through the bouncer");
        }
        for c in &mut clients {
            c.batch_execute("COMMIT")
                .expect("commit through the bouncer");
        }
    }

    /// The bouncer's log (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

/// The ini: every database of the server, transaction pooling, [`POOL`] server connections.
fn ini_text(dir: &Path, host: &str, server_port: u16, password: &str, port: u16) -> String {
    format!(
        "[databases]\n\
         * = host={host} port={server_port}{password}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {dir}/userlist.txt\n\
         logfile = {dir}/pgbouncer.log\n\
         pool_mode = transaction\n\
         default_pool_size = {POOL}\n\
         server_round_robin = 1\n\
         min_pool_size = 0\n\
         reserve_pool_size = 0\n\
         max_client_conn = 1000\n\
         server_reset_query =\n\
         log_connections = 0\n\
         log_disconnections = 0\n",
        dir = dir.display()
    )
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    /// An env on a fresh PostgreSQL database (created and dropped on the server directly)
    /// whose `--db`, and the env's own SQL helpers, go through `bouncer`.
    pub fn through(bouncer: &Bouncer) -> Env {
        let mut env = Env::on(Backend::Postgres);
        let pg = env.pg.as_mut().expect("a PostgreSQL env");
        pg.url = bouncer.url(&pg.name);
        env
    }
}
