//! Credentials stay secret: no password in any process's argv (worker, supervisor, handler,
//! other commands), none in handlers' environment while their `durably step`/`progress`/`log`
//! still authenticate, none in messages, logs or JSON, and TLS modes that demand TLS never
//! send the password to a server that declines it.
//!
//! [`PasswordGate`] stands in front of PostgreSQL: it declines TLS, asks every client for a
//! cleartext password and records it, refuses a wrong one, and relays the rest of a session
//! with the right one to the test server (whose trust authentication checks nothing). So a
//! handler-side command that lost the password fails here, and what a client sent in clear is
//! known. Tests that relay need `DURABLY_TEST_PG` and are ignored without
//! `--include-ignored`; the others run everywhere.

use crate::harness::{bare_command, finish, wait_for, Backend, Env, Out};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const SECRET: &str = "s3cr3t-XYZ";

/// A self-signed certificate, only ever read as a trusted root (no TLS server has it).
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBjDCCATGgAwIBAgIUNDAUwaYHfSRTRjYu3CGKZnxkXR8wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPZHVyYWJseSB0ZXN0IENBMCAXDTI2MTIwMzExMzEwNloYDzIx
MjYxMTA5MTEzMTA2WjAaMRgwFgYDVQQDDA9kdXJhYmx5IHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATazbyPABdvsOlLnXLGX80E5bSNhrbE3fJZht8R
IngF+hErSzsEbYPVLTfuoduWlYRicoXSmTPhgKrXfarnUAy2o1MwUTAdBgNVHQ4E
FgQUA/Ybzx9eB90oacloODDFuDMLkHQwHwYDVR0jBBgwFoAUA/Ybzx9eB90oaclo
ODDFuDMLkHQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAyC9N
qqNuvLb3zKcqng44fDipmfqQNcqQjsR6hx+V6fECIQCYoxsF40xTYlZw9JLE0CKu
Yc6FMJCOpR0KAxiJr4hFeQ==
-----END CERTIFICATE-----
";

/// What the gate saw from its clients.
#[derive(Debug, Default, Clone)]
struct Seen {
    tls_requests: usize,
    startups: usize,
    passwords: Vec<String>,
}

/// A PostgreSQL front that checks a cleartext password (see the module header).
struct PasswordGate {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl PasswordGate {
    /// A gate expecting `password`, relaying accepted sessions to `upstream` (`host:port`),
    /// or ending them when there is none.
    fn start(password: &'static str, upstream: Option<String>) -> PasswordGate {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gate");
        let port = listener.local_addr().expect("gate address").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let seen = Arc::clone(&shared);
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, password, upstream.as_deref(), &seen);
                });
            }
        });
        PasswordGate { port, seen }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A URL of this gate for database `db`, user `user`, then `tail` (e.g. `?sslmode=…`).
    fn url(&self, user_info: &str, db: &str, tail: &str) -> String {
        format!("postgres://{user_info}@127.0.0.1:{}/{db}{tail}", self.port)
    }
}

/// One length-prefixed message without a tag (the length counts itself).
fn read_untagged(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    let mut msg = len.to_vec();
    msg.resize(n.max(4), 0);
    s.read_exact(&mut msg[4..])?;
    Ok(msg)
}

fn serve(
    mut client: TcpStream,
    password: &str,
    upstream: Option<&str>,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let note = |f: &dyn Fn(&mut Seen)| f(&mut seen.lock().unwrap_or_else(|e| e.into_inner()));
    let startup = loop {
        let msg = read_untagged(&mut client)?;
        let code = msg
            .get(4..8)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        match code {
            // SSLRequest, GSSENCRequest: declined
            Some(80877103) => {
                note(&|s| s.tls_requests += 1);
                client.write_all(b"N")?;
            }
            Some(80877104) => client.write_all(b"N")?,
            _ => break msg,
        }
    };
    note(&|s| s.startups += 1);
    // AuthenticationCleartextPassword
    client.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
    let mut tag = [0u8; 1];
    client.read_exact(&mut tag)?;
    let body = read_untagged(&mut client)?;
    let given = String::from_utf8_lossy(body[4..].strip_suffix(&[0]).unwrap_or(&body[4..]));
    let given = given.into_owned();
    let right = tag[0] == b'p' && given == password;
    note(&|s| s.passwords.push(given.clone()));
    if !right {
        let mut fields = Vec::new();
        for (k, v) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed for user \"durably\""),
        ] {
            fields.push(k);
            fields.extend_from_slice(v.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
        msg.extend_from_slice(&fields);
        return client.write_all(&msg);
    }
    let Some(upstream) = upstream else {
        return Ok(());
    };
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&startup)?;
    let (mut to_client, mut from_server) = (client.try_clone()?, server.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Both);
    Ok(())
}

/// The user and `host:port` of the test server (`DURABLY_TEST_PG`).
fn server_user_and_address() -> (String, String) {
    let url = crate::harness::pg_server();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let (user_info, address) = authority.rsplit_once('@').unwrap_or(("", authority));
    let user = user_info.split(':').next().unwrap_or("").to_string();
    let address = if address.contains(':') {
        address.to_string()
    } else {
        format!("{address}:5432")
    };
    (user, address)
}

/// Everything a process said, for searching.
fn said(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

#[track_caller]
fn assert_secret_absent(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "the password appears in {what}:\n{text}"
    );
}

/// The command line of process `pid` with its NUL separators as spaces.
fn cmdline(pid: u32) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).replace('\0', " ")
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// `url` (postgres://user@…) with `SECRET` as the user's password.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').expect("a URL with a user");
    format!("{scheme}://{user}:{SECRET}@{host}")
}

/// `durably` in the env's temp dir with `args` only (no `--db` of the harness).
fn durably(env: &Env, args: &[&str]) -> Command {
    let mut c = bare_command(env.dir.path());
    c.current_dir(env.dir.path()).args(args);
    c
}

#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn no_password_in_the_argv_of_worker_supervisor_handler_or_other_commands() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let pg = env.pg.as_ref().expect("a PostgreSQL env");
    let url = with_password(&pg.url);
    env.handler(
        "slow",
        r#"echo $$ > "$T/handler.pid"
while [ ! -e "$T/go" ]; do sleep 0.05; done"#,
    );
    let id = env.enqueue_job("slow", &[]);
    let handlers = env.handlers.display().to_string();
    let mut worker = durably(
        &env,
        &["--db", &url, "work", "--once", "--handlers", &handlers],
    );
    let worker = worker
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker");
    let handler = env.pid_file("handler.pid") as u32;
    let worker_line = cmdline(worker.id());
    assert!(
        worker_line.contains(":***@"),
        "the worker's argv does not show the masked URL: {worker_line}"
    );
    assert_secret_absent("the worker's /proc/PID/cmdline", &worker_line);
    let kids = children(worker.id());
    assert!(
        kids.contains(&handler),
        "handler {handler} not among {kids:?}"
    );
    let supervisors: Vec<u32> = kids.into_iter().filter(|&k| k != handler).collect();
    assert!(!supervisors.is_empty(), "no supervisor process found");
    for pid in supervisors {
        assert_secret_absent("the supervisor's /proc/PID/cmdline", &cmdline(pid));
    }
    assert_secret_absent("the handler's /proc/PID/cmdline", &cmdline(handler));

    // Another command, with the password in the URL's query and `--db=`: `wait` blocks.
    let query_url = format!("{}?password={SECRET}", pg.url);
    let mut waiter = durably(
        &env,
        &[
            &format!("--db={query_url}"),
            "wait",
            &id,
            "--timeout",
            "60s",
        ],
    );
    let waiter = waiter
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wait");
    let line = wait_for("the waiter's argv to be masked", || {
        let line = cmdline(waiter.id());
        line.contains("password=***").then_some(line)
    });
    assert_secret_absent("`durably wait`'s /proc/PID/cmdline", &line);

    std::fs::write(env.path("go"), "").expect("go");
    let out = finish(worker);
    assert_eq!(out.code, 0, "{out:?}");
    let out = finish(waiter);
    assert_eq!(out.code, 0, "{out:?}");
    assert_secret_absent("the worker's output", &said(&out));
    assert_eq!(env.status(&id), "completed");
}

/// The handlers of the environment test: `ok` dumps its environment (to a file, stdout and
/// stderr) and calls `durably step`, `progress` and `log`, each of which must authenticate
/// through the gate; `bad` dumps it and fails.
fn environment_handlers(env: &Env) {
    env.handler(
        "ok",
        r#"{ env; tr '\0' '\n' < /proc/self/environ; } >> "$T/environment.txt"
durably step s -- echo ok || exit 9
durably progress 1 --total 2 || exit 10
durably log "db is $DURABLY_DB" || exit 11
env >&2
env"#,
    );
    env.handler("bad", "env; env >&2; exit 1");
}

/// Runs both handlers with a worker started by `configure` (which gives it the password one
/// way or another) through a gate; asserts the password reached nothing a handler can see.
fn handlers_see_no_password(configure: impl FnOnce(&mut Command, &PasswordGate, &str)) {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let name = env.pg.as_ref().expect("a PostgreSQL env").name.clone();
    let (user, address) = server_user_and_address();
    let gate = PasswordGate::start(SECRET, Some(address));
    environment_handlers(&env);
    let ok = env.enqueue_job("ok", &[]);
    let bad = env.enqueue_job("bad", &[]);
    let runtime = env.path("runtime");
    std::fs::create_dir(&runtime).expect("runtime dir");
    let handlers = env.handlers.display().to_string();
    let mut worker = bare_command(env.dir.path());
    worker
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("PGPASSWORD", SECRET);
    configure(&mut worker, &gate, &format!("{user}@{name}"));
    worker.args(["work", "--until-idle", "--handlers", &handlers]);
    let out = crate::harness::run_command(worker, None);

    assert_eq!(env.status(&ok), "completed", "{out:?}");
    assert_eq!(env.status(&bad), "failed", "{out:?}");
    assert_secret_absent("the worker's stdout and stderr", &said(&out));
    let dump = std::fs::read_to_string(env.path("environment.txt")).expect("environment dump");
    assert!(dump.contains("DURABLY_DB=postgres://"), "{dump}");
    assert_secret_absent("the handler's environment", &dump);
    let passfile = dump
        .lines()
        .find_map(|l| l.strip_prefix("DURABLY_PASSFILE="))
        .expect("DURABLY_PASSFILE in the handler's environment");
    assert!(
        Path::new(passfile).starts_with(&runtime),
        "{passfile} not in XDG_RUNTIME_DIR"
    );
    assert!(
        !Path::new(passfile).exists(),
        "the worker left its password file behind"
    );
    // The step, the progress and the log were written, each through the gate.
    let step = env.sql_value(&format!(
        "SELECT status FROM durably_steps WHERE run_id = '{ok}' AND name = 's'"
    ));
    assert_eq!(step.as_deref(), Some("completed"));
    assert!(env.field(&ok, "progress").is_some_and(|p| p.contains('1')));
    let seen = gate.seen();
    assert!(
        seen.passwords.len() >= 4,
        "expected the worker and three handler commands to authenticate: {seen:?}"
    );
    assert!(
        seen.passwords.iter().all(|p| p == SECRET),
        "a client sent a wrong or no password: {seen:?}"
    );
    for (what, sql) in [
        (
            "runs",
            "SELECT concat_ws(' ', output, error, labels) FROM durably_runs",
        ),
        (
            "logs",
            "SELECT concat_ws(' ', message, data) FROM durably_logs",
        ),
        (
            "steps",
            "SELECT concat_ws(' ', output, error) FROM durably_steps",
        ),
    ] {
        let text = env.sql_column(sql).join("\n");
        assert_secret_absent(what, &text);
        if what != "steps" {
            assert!(text.contains("DURABLY_DB="), "{what} lack the dump: {text}");
        }
    }
}

#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn handlers_get_no_password_from_an_argv_url_or_pgpassword() {
    handlers_see_no_password(|c, gate, user_at_db| {
        let (user, db) = user_at_db.split_once('@').expect("user@db");
        c.arg("--db")
            .arg(gate.url(&format!("{user}:{SECRET}"), db, ""));
    });
}

#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn handlers_get_no_password_from_durably_db_in_the_environment() {
    handlers_see_no_password(|c, gate, user_at_db| {
        let (user, db) = user_at_db.split_once('@').expect("user@db");
        let url = gate.url(user, db, &format!("?password={SECRET}&sslmode=disable"));
        c.env("DURABLY_DB", url).env_remove("PGPASSWORD");
    });
}

/// Broken `--db` values with a password, and a server that refuses it: every command's
/// output names the server and never the password, from `--db` or from `DURABLY_DB`.
#[test]
fn messages_never_show_the_password() {
    let env = Env::on(Backend::Sqlite);
    let refusing = PasswordGate::start("another-password", None);
    let ca = env.file("ca.pem", CA_PEM);
    let ca = ca.display();
    let values = [
        format!("postgres://u:{SECRET}@127.0.0.1:1/db"),
        format!("postgres://u:{SECRET}@127.0.0.1:99999/db"),
        format!("postgres://u:{SECRET}@[::1/db"),
        format!("postgres://u:{SECRET}@127.0.0.1:1/db?sslmode=bogus"),
        format!("postgres://u:{SECRET}@127.0.0.1:1/db?bogus"),
        format!("postgres://u@127.0.0.1:1/db?password={SECRET}&connect_timeout=x"),
        format!("postgres://u:{SECRET}@127.0.0.1:1/db?sslrootcert=/nonexistent/ca.pem"),
        format!("postgress://u:{SECRET}@127.0.0.1:1/db"),
        format!("host=127.0.0.1 password={SECRET} dbname=db"),
        refusing.url(&format!("u:{SECRET}"), "db", "?sslmode=disable"),
        refusing.url(&format!("u:{SECRET}"), "db", "?sslmode=require"),
        refusing.url(&format!("u:{SECRET}"), "db", &format!("?sslrootcert={ca}")),
    ];
    let commands: [&[&str]; 5] = [
        &["ls"],
        &["init"],
        &["enqueue", "--job", "j"],
        &["work", "-v", "--once", "--", "true"],
        &["show", "nope"],
    ];
    for value in &values {
        for args in commands {
            let mut with_flag = durably(&env, &["--db", value]);
            with_flag.args(args);
            let out = crate::harness::run_command(with_flag, None);
            assert_ne!(out.code, 0, "{value} {args:?}: {out:?}");
            assert_secret_absent(&format!("`durably --db {value} {args:?}`"), &said(&out));
            let mut from_env = durably(&env, args);
            from_env.env("DURABLY_DB", value);
            let out = crate::harness::run_command(from_env, None);
            assert_ne!(out.code, 0, "DURABLY_DB={value} {args:?}: {out:?}");
            assert_secret_absent(
                &format!("`DURABLY_DB={value} durably {args:?}`"),
                &said(&out),
            );
        }
    }
    // The refusing server did get the password (sslmode=disable), and said no.
    let seen = refusing.seen();
    assert!(seen.passwords.iter().any(|p| p == SECRET), "{seen:?}");
    let mut refused = durably(&env, &["--db", &values[9], "ls"]);
    refused.env_remove("PGPASSWORD");
    let out = crate::harness::run_command(refused, None);
    assert!(
        out.stderr.contains("password authentication failed"),
        "{out:?}"
    );
    // Help and usage errors with the password in DURABLY_DB.
    for args in [
        &["--help"][..],
        &["ls", "--help"],
        &["work", "--help"],
        &["ls", "--bogus"],
        &["ls", "--db"],
    ] {
        let mut c = durably(&env, args);
        c.env("DURABLY_DB", &values[0]);
        let out = crate::harness::run_command(c, None);
        assert_secret_absent(&format!("`durably {args:?}`"), &said(&out));
    }
}

/// A server that declines TLS: the modes that demand TLS (require, verify-ca, verify-full,
/// and a root certificate given without a mode) refuse with one line before any password is
/// sent; `disable` and `prefer` send it in clear, as the README says.
#[test]
fn modes_that_demand_tls_never_send_the_password_to_a_server_without_it() {
    let env = Env::on(Backend::Sqlite);
    let ca = env.file("ca.pem", CA_PEM);
    let ca = ca.display().to_string();
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("?sslmode=require".into(), vec![]),
        ("?sslmode=verify-full".into(), vec![]),
        (format!("?sslmode=verify-ca&sslrootcert={ca}"), vec![]),
        (format!("?sslrootcert={ca}"), vec![]),
        (String::new(), vec![("PGSSLROOTCERT", ca.as_str())]),
    ];
    for (tail, vars) in cases {
        let gate = PasswordGate::start(SECRET, None);
        let url = gate.url(&format!("u:{SECRET}"), "db", &tail);
        let mut c = durably(&env, &["--db", &url, "ls"]);
        c.envs(vars.iter().copied());
        let out = crate::harness::run_command(c, None);
        out.fails(1, "server does not support TLS");
        assert!(out.stderr.contains("no password"), "{out:?}");
        let seen = gate.seen();
        assert!(seen.tls_requests >= 1, "{tail} {vars:?}: {seen:?}");
        assert_eq!(
            (seen.startups, seen.passwords.len()),
            (0, 0),
            "{tail} {vars:?} sent a startup or a password: {seen:?}"
        );
    }
    for (tail, tls) in [("?sslmode=disable", 0), ("?sslmode=prefer", 1), ("", 1)] {
        let gate = PasswordGate::start(SECRET, None);
        let url = gate.url(&format!("u:{SECRET}"), "db", tail);
        let mut c = durably(&env, &["--db", &url, "ls"]);
        c.env_remove("PGSSLROOTCERT").env_remove("PGSSLMODE");
        let out = crate::harness::run_command(c, None);
        assert_eq!(out.code, 1, "{out:?}");
        let seen = gate.seen();
        assert_eq!(seen.tls_requests, tls, "{tail}: {seen:?}");
        assert_eq!(seen.passwords, vec![SECRET.to_string()], "{tail}: {seen:?}");
    }
}

/// The password file matches only the worker's server, port, database and user: a handler's
/// `durably` command aimed at another server (here a second gate) gets no password from it.
#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn the_password_file_serves_only_the_workers_database() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let name = env.pg.as_ref().expect("a PostgreSQL env").name.clone();
    let (user, address) = server_user_and_address();
    let gate = PasswordGate::start(SECRET, Some(address));
    let elsewhere = PasswordGate::start(SECRET, None);
    env.handler(
        "probe",
        &format!(
            "durably --db {} ls > \"$T/elsewhere.txt\" 2>&1\ndurably progress 1",
            elsewhere.url(&user, &name, "")
        ),
    );
    let id = env.enqueue_job("probe", &[]);
    let handlers = env.handlers.display().to_string();
    let url = gate.url(&format!("{user}:{SECRET}"), &name, "");
    let mut worker = durably(
        &env,
        &["--db", &url, "work", "--once", "--handlers", &handlers],
    );
    worker.env("XDG_RUNTIME_DIR", env.dir.path());
    let out = crate::harness::run_command(worker, None);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&id), "completed");
    let said_elsewhere = std::fs::read_to_string(env.path("elsewhere.txt")).expect("probe");
    assert!(
        said_elsewhere.contains("password missing"),
        "{said_elsewhere}"
    );
    let seen = elsewhere.seen();
    assert!(
        seen.startups >= 1 && !seen.passwords.iter().any(|p| p == SECRET),
        "the other server got the worker's password: {seen:?}"
    );
}

/// A worker killed with `kill -9` cannot remove its password directory; the next worker of
/// the same user removes it (and a live worker's is left alone).
#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn a_killed_workers_password_file_is_removed_by_the_next_worker() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let url = with_password(&env.pg.as_ref().expect("a PostgreSQL env").url);
    env.handler(
        "wait",
        r#"echo "$DURABLY_PASSFILE" > "$T/passfile.txt"
echo $$ > "$T/wait.pid"
while [ ! -e "$T/go" ]; do sleep 0.05; done"#,
    );
    env.enqueue_job("wait", &[]);
    let handlers = env.handlers.display().to_string();
    let start = |args: &[&str]| {
        let mut c = durably(&env, &["--db", &url]);
        c.args(args)
            .env("XDG_RUNTIME_DIR", env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("spawn worker")
    };
    let mut killed = start(&["work", "--once", "--handlers", &handlers]);
    let handler = env.pid_file("wait.pid");
    let passfile = std::fs::read_to_string(env.path("passfile.txt")).expect("passfile path");
    let dir = Path::new(passfile.trim())
        .parent()
        .expect("a directory")
        .to_path_buf();
    assert!(dir.starts_with(env.dir.path()), "{}", dir.display());
    let _ = killed.kill();
    let _ = killed.wait();
    crate::harness::wait_dead(handler);
    assert!(dir.exists(), "a kill -9 cannot remove the directory");

    // A live worker's directory stays while the next one cleans up after the dead one.
    let _ = std::fs::remove_file(env.path("wait.pid"));
    env.enqueue_job("wait", &[]);
    let live = start(&["work", "--once", "--handlers", &handlers]);
    env.pid_file("wait.pid");
    let live_dir = std::fs::read_to_string(env.path("passfile.txt")).expect("passfile path");
    let live_dir = Path::new(live_dir.trim())
        .parent()
        .expect("dir")
        .to_path_buf();
    assert_ne!(live_dir, dir);
    assert!(
        !dir.exists(),
        "the next worker left the dead one's directory"
    );
    assert!(live_dir.exists());
    std::fs::write(env.path("go"), "").expect("go");
    let out = finish(live);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!live_dir.exists(), "a worker left its own directory");
}

/// A worker whose sessions are terminated reconnects (with the password, through the gate)
/// and says so, `-v`, without the password.
#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn reconnect_notes_show_no_password() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let pg = env.pg.as_ref().expect("a PostgreSQL env");
    let (user, address) = server_user_and_address();
    let gate = PasswordGate::start(SECRET, Some(address));
    env.handler(
        "wait",
        r#"echo $$ > "$T/wait.pid"
while [ ! -e "$T/go" ]; do sleep 0.05; done
echo done"#,
    );
    env.enqueue_job("wait", &[]);
    let handlers = env.handlers.display().to_string();
    let url = gate.url(&format!("{user}:{SECRET}"), &pg.name, "");
    let mut c = durably(
        &env,
        &[
            "--db",
            &url,
            "work",
            "-v",
            "--once",
            "--handlers",
            &handlers,
        ],
    );
    let worker = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker");
    env.pid_file("wait.pid");
    let logins_before = gate.seen().passwords.len();
    let mut admin = crate::harness::pg_connect(&crate::harness::pg_server());
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&pg.name],
        )
        .expect("terminate the worker's sessions");
    std::fs::write(env.path("go"), "").expect("go");
    let out = finish(worker);
    assert_secret_absent("the worker's notes", &said(&out));
    let seen = gate.seen();
    assert!(
        seen.passwords.len() > logins_before,
        "the worker did not log in again: {seen:?}\n{out:?}"
    );
    assert!(seen.passwords.iter().all(|p| p == SECRET), "{seen:?}");
    assert!(out.stderr.contains("reconnect"), "{out:?}");
}

/// On SQLite too, `PGPASSWORD` in the worker's environment does not reach handlers (it may be
/// a handler's own database's password, which belongs in `~/.pgpass`); no password file.
#[test]
fn handlers_on_sqlite_get_no_pgpassword() {
    let env = Env::on(Backend::Sqlite);
    env.ok(&["init"]);
    env.handler(
        "dump",
        r#"tr '\0' '\n' < /proc/self/environ > "$T/environment.txt""#,
    );
    let id = env.enqueue_job("dump", &[]);
    let handlers = env.handlers.display().to_string();
    let mut worker = env.command(&["work", "--once", "--handlers", &handlers]);
    worker.env("PGPASSWORD", SECRET);
    let out = crate::harness::run_command(worker, None);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&id), "completed");
    let dump = std::fs::read_to_string(env.path("environment.txt")).expect("environment dump");
    assert!(dump.contains("DURABLY_DB=/"), "{dump}");
    assert_secret_absent("the handler's environment", &dump);
    assert!(!dump.contains("DURABLY_PASSFILE="), "{dump}");
}
