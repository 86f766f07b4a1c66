//! Workers on PostgreSQL: handler runs, failures, step replay after a crash, concurrency keys,
//! many workers and enqueuers on one database over TCP, and workers that survive their
//! connections being terminated by the server.
//!
//! The server comes from `DURABLY_TEST_PG` (a URL of a role that may create databases); each
//! test makes its own database and drops it at the end.

use crate::harness::{finish, poll, wait_until, Bg, Env, BOUND};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

const NEEDS: &str = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does";

/// A database of its own on the test server, dropped (with its connections) at the end.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    fn new(tag: &str) -> PgDb {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var("DURABLY_TEST_PG").unwrap_or_else(|_| panic!("{NEEDS}"));
        let name = format!(
            "pgb_{tag}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        // The URL with its database replaced: scheme://authority/NAME?query.
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin.as_str(), String::new()),
        };
        let authority_end = base
            .find("://")
            .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(base.len());
        let url = format!("{}/{name}{query}", &base[..authority_end]);
        let db = PgDb { admin, name, url };
        db.admin_client()
            .batch_execute(&format!("CREATE DATABASE {}", db.name))
            .expect("create test database");
        db
    }

    fn admin_client(&self) -> postgres::Client {
        postgres::Client::connect(&self.admin, postgres::NoTls).expect("connect to DURABLY_TEST_PG")
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to test database")
    }

    /// An env whose `--db` is this database, initialized.
    fn env(&self) -> Env {
        let mut env = Env::new();
        env.db = self.url.clone().into();
        env.ok(&["init"]);
        env
    }

    /// Runs counted by status.
    fn statuses(&self, c: &mut postgres::Client) -> BTreeMap<String, i64> {
        c.query(
            "SELECT status, count(*) FROM durably_runs GROUP BY status",
            &[],
        )
        .expect("count runs")
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect()
    }

    /// Terminates every other connection to this database; how many.
    fn terminate_others(&self, c: &mut postgres::Client) -> i64 {
        c.query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&self.name],
        )
        .expect("terminate connections")
        .get(0)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn field(c: &mut postgres::Client, id: &str, column: &str) -> Option<String> {
    c.query_one(
        &format!("SELECT {column}::text FROM durably_runs WHERE id = $1"),
        &[&id],
    )
    .unwrap_or_else(|e| panic!("{column} of run {id}: {e}"))
    .get(0)
}

/// The lines of a file, counted.
fn tally(path: &std::path::Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *m.entry(line.to_string()).or_insert(0) += 1;
    }
    m
}

/// Waits (bounded) until `n` runs are completed or failed; panics with the counts otherwise.
fn wait_terminal(db: &PgDb, c: &mut postgres::Client, n: i64, workers: &mut [Bg]) {
    let done = wait_until(BOUND, || {
        let s = db.statuses(c);
        s.get("completed").unwrap_or(&0) + s.get("failed").unwrap_or(&0) >= n
    });
    if !done {
        let errs: Vec<String> = workers.iter().map(|w| w.err()).collect();
        panic!(
            "runs did not finish: {:?}; workers said: {errs:#?}",
            db.statuses(c)
        );
    }
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_handler_run_completes_with_output() {
    let db = PgDb::new("complete");
    let env = db.env();
    let h = env.handler(
        "greet",
        r#"printf '%s' "$DURABLY_DB" > "$T/db.seen"
echo '{"hello":"world"}'"#,
    );
    let id = env.enqueue_job("greet", &[]);
    let out = env.run(&["work", "--once", "--", h.to_str().unwrap()]);
    out.ok();
    let mut c = db.client();
    assert_eq!(field(&mut c, &id, "status").as_deref(), Some("completed"));
    let output = field(&mut c, &id, "output").unwrap_or_default();
    let output: serde_json::Value = serde_json::from_str(&output).expect("output is JSON");
    assert_eq!(output, serde_json::json!({"hello": "world"}));
    // Handlers reach the same database by the URL, unchanged.
    let seen = std::fs::read_to_string(env.path("db.seen")).expect("handler ran");
    assert_eq!(seen, db.url);
    assert!(field(&mut c, &id, "lease_owner").is_none());
    assert_eq!(field(&mut c, &id, "lease_generation").as_deref(), Some("1"));
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_failing_handler_fails_run_and_exits_5() {
    let db = PgDb::new("fail");
    let env = db.env();
    let h = env.handler("boom", "echo 'it broke' >&2\nexit 3");
    let id = env.enqueue_job("boom", &[]);
    let out = env.run(&["work", "--once", "--", h.to_str().unwrap()]);
    out.code(5);
    let mut c = db.client();
    assert_eq!(field(&mut c, &id, "status").as_deref(), Some("failed"));
    let error = field(&mut c, &id, "error").unwrap_or_default();
    assert!(error.contains("it broke"), "{error}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_steps_replay_after_worker_kill_9() {
    let db = PgDb::new("replay");
    let env = db.env();
    let h = env.handler(
        "steps",
        r#"durably step a -- sh -c 'echo x >> "$T/a.count"; echo 1' >/dev/null || exit 1
durably step b -- sh -c 'echo x >> "$T/b.count"; if [ ! -e "$T/b.once" ]; then touch "$T/b.once"; sleep 30; fi; echo 2' >/dev/null || exit 1
echo '{"done":true}'"#,
    );
    let id = env.enqueue_job("steps", &[]);
    let first = env.spawn(&["work", "--lease", "2s", "--", h.to_str().unwrap()]);
    let started = poll(BOUND, || env.path("b.once").exists().then_some(()));
    assert!(started.is_some(), "step b never started");
    crate::harness::signal(&first, libc::SIGKILL);
    let _ = finish(first);
    let mut c = db.client();
    // The lease runs out (the supervisor killed the handler); then another worker claims it.
    let expired = wait_until(BOUND, || {
        c.query_one(
            "SELECT count(*) FROM durably_runs WHERE id = $1 AND lease_expires_at < \
             to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            &[&id],
        )
        .map(|r| r.get::<_, i64>(0) == 1)
        .unwrap_or(false)
    });
    assert!(expired, "the lease never ran out");
    env.ok(&["work", "--once", "--lease", "5s", "--", h.to_str().unwrap()]);
    assert_eq!(field(&mut c, &id, "status").as_deref(), Some("completed"));
    // At least the claim before the crash and the one after it (a loaded machine may add a
    // lost lease in between; replay makes that harmless too).
    let generation: i64 = field(&mut c, &id, "lease_generation")
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    assert!(generation >= 2, "generation {generation}");
    assert_eq!(
        field(&mut c, &id, "completed_step_count").as_deref(),
        Some("2")
    );
    // Step a completed before the crash and is replayed from its stored output, not re-run.
    assert_eq!(tally(&env.path("a.count")).get("x"), Some(&1));
    assert!(tally(&env.path("b.count")).get("x") >= Some(&2));
    let steps: Vec<(String, i32)> = c
        .query(
            "SELECT name, \"index\" FROM durably_steps WHERE run_id = $1 AND status = 'completed' \
             ORDER BY \"index\"",
            &[&id],
        )
        .expect("steps")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(steps, vec![("a".to_string(), 0), ("b".to_string(), 1)]);
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_concurrency_key_is_never_leased_twice() {
    let db = PgDb::new("key");
    let env = db.env();
    // mkdir is atomic: a second holder of the key at the same time leaves a mark.
    let h = env.path("hold.sh");
    crate::harness::script(
        &h,
        r#"mkdir "$T/held" 2>/dev/null || echo "$DURABLY_RUN_ID" >> "$T/overlap"
echo "$DURABLY_RUN_ID" >> "$T/ran"
sleep 0.2
rmdir "$T/held"
echo null
"#,
    );
    let n = 8;
    for i in 0..n {
        // One key across jobs: the key, not the job, is what one lease at a time is about.
        env.enqueue_job(&format!("j{i}"), &["--concurrency-key", "k"]);
    }
    let mut workers: Vec<Bg> = (0..3)
        .map(|i| {
            let cmd = env.command(&[
                "work",
                "--concurrency",
                "2",
                "--poll",
                "50ms",
                "--",
                h.to_str().unwrap(),
            ]);
            Bg::spawn(cmd, env.dir.path(), &format!("w{i}"))
        })
        .collect();
    let mut c = db.client();
    let mut most = 0;
    let done = wait_until(BOUND, || {
        let leased: i64 = c
            .query_one(
                "SELECT count(*) FROM durably_runs WHERE status = 'leased' AND concurrency_key = 'k' \
                 AND lease_expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                &[],
            )
            .expect("count leases")
            .get(0);
        most = most.max(leased);
        db.statuses(&mut c).get("completed") == Some(&n)
    });
    for w in &workers {
        w.signal(libc::SIGTERM);
    }
    for w in &mut workers {
        w.wait_max(BOUND);
    }
    assert!(done, "runs did not finish: {:?}", db.statuses(&mut c));
    assert!(most <= 1, "{most} live leases on one key at once");
    assert!(
        !env.path("overlap").exists(),
        "two handlers held the key at once"
    );
    assert_eq!(tally(&env.path("ran")).len(), n as usize);
}

/// Starts `count` workers with `--concurrency 2` and a handler that appends its run id to
/// `$T/ran` after a short pause.
fn start_workers(env: &Env, count: usize, lease: &str) -> Vec<Bg> {
    let h = env.handler(
        "job",
        "sleep 0.05\necho \"$DURABLY_RUN_ID\" >> \"$T/ran\"\necho '{\"ok\":true}'",
    );
    (0..count)
        .map(|i| {
            let cmd = env.command(&[
                "work",
                "--concurrency",
                "2",
                "--poll",
                "50ms",
                "--lease",
                lease,
                "--",
                h.to_str().unwrap(),
            ]);
            Bg::spawn(cmd, env.dir.path(), &format!("worker{i}"))
        })
        .collect()
}

/// Stops the workers with SIGTERM; each must still be running (a lost connection did not end
/// it) and exit 0.
fn stop_workers(workers: &mut [Bg]) {
    for w in workers.iter_mut() {
        assert!(!w.ended(), "{} ended early:\n{}", w.name, w.err());
        w.signal(libc::SIGTERM);
    }
    for w in workers.iter_mut() {
        let st = w.wait_max(BOUND);
        assert!(st.success(), "{} exited with {st}:\n{}", w.name, w.err());
        for bad in ["panicked", "RUST_BACKTRACE"] {
            assert!(!w.err().contains(bad), "{}:\n{}", w.name, w.err());
        }
    }
}

/// Every run completed, none failed, and each executed exactly once.
fn assert_each_once(db: &PgDb, c: &mut postgres::Client, env: &Env, n: i64) {
    let statuses = db.statuses(c);
    assert_eq!(statuses.get("completed"), Some(&n), "{statuses:?}");
    assert_eq!(statuses.get("failed"), None, "{statuses:?}");
    let ran = tally(&env.path("ran"));
    let twice: Vec<_> = ran.iter().filter(|(_, k)| **k > 1).collect();
    assert!(twice.is_empty(), "runs executed more than once: {twice:?}");
    let ids: Vec<String> = c
        .query("SELECT id FROM durably_runs", &[])
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), n as usize);
    for id in &ids {
        assert_eq!(
            ran.get(id),
            Some(&1),
            "run {id} executed {:?} times",
            ran.get(id)
        );
    }
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_four_workers_two_enqueuers_execute_each_run_once() {
    let db = PgDb::new("many");
    let env = db.env();
    let mut workers = start_workers(&env, 4, "10s");
    let per = 30;
    let enqueuers: Vec<Bg> = (0..2)
        .map(|i| {
            let script = format!(
                "i=0; while [ $i -lt {per} ]; do \"$0\" --db \"$1\" enqueue --job job \
                 --input $i >/dev/null || exit 1; i=$((i+1)); done"
            );
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c")
                .arg(script)
                .arg(crate::harness::BIN)
                .arg(&db.url)
                .env_remove("DURABLY_DB");
            Bg::spawn(cmd, env.dir.path(), &format!("enqueuer{i}"))
        })
        .collect();
    // A bound on waiting, not a timing: 30 processes in a row each, beside 4 workers, on a
    // machine that may be running other suites.
    for mut e in enqueuers {
        let st = e.wait_max(3 * BOUND);
        assert!(st.success(), "{} failed:\n{}", e.name, e.err());
    }
    let mut c = db.client();
    let n = 2 * per;
    wait_terminal(&db, &mut c, n, &mut workers);
    stop_workers(&mut workers);
    assert_each_once(&db, &mut c, &env, n);
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_workers_reconnect_when_connections_are_terminated() {
    let db = PgDb::new("cut");
    let env = db.env();
    let n = 60;
    for i in 0..n {
        env.enqueue_job("job", &["--input", &i.to_string()]);
    }
    let mut workers = start_workers(&env, 3, "5s");
    let mut c = db.client();
    let mut cuts = 0;
    let mut last = 0;
    // Terminate every connection of the workers a few times while they drain the queue, each
    // time after some progress since the last.
    while cuts < 3 {
        let progressed = wait_until(BOUND, || {
            let done = *db.statuses(&mut c).get("completed").unwrap_or(&0);
            done >= last + 8 || done >= n
        });
        assert!(
            progressed,
            "no progress after {cuts} cuts: {:?}",
            db.statuses(&mut c)
        );
        last = *db.statuses(&mut c).get("completed").unwrap_or(&0);
        if last >= n {
            break;
        }
        assert!(db.terminate_others(&mut c) > 0, "nothing to terminate");
        cuts += 1;
    }
    assert!(
        cuts >= 2,
        "the queue drained before the connections were cut"
    );
    wait_terminal(&db, &mut c, n, &mut workers);
    stop_workers(&mut workers);
    assert_each_once(&db, &mut c, &env, n);
    let said: String = workers.iter().map(|w| w.err()).collect();
    assert!(said.contains("reconnected to"), "{said}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_stderr_lines_are_kept_as_logs_and_a_step_reused_in_a_loop_warns() {
    let db = PgDb::new("stderr");
    let env = db.env();
    let h = env.handler(
        "noisy",
        r#"echo one >&2
for f in a b; do durably step process -- echo "$f" > /dev/null; done
awk 'BEGIN { for (i = 0; i < 1500; i++) print "line " i }' >&2"#,
    );
    let id = env.enqueue_job("noisy", &[]);
    let out = env.run(&["work", "--once", "--", h.to_str().unwrap()]);
    out.ok();
    assert_eq!(
        out.stderr
            .matches("step process was already completed in this execution")
            .count(),
        1,
        "{}",
        out.stderr
    );
    let mut c = db.client();
    let rows: Vec<(String, String)> = c
        .query(
            "SELECT level, message FROM durably_logs WHERE run_id = $1 ORDER BY created_at, id",
            &[&id],
        )
        .expect("logs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // 1,000 lines kept (the warning among them), then one line counting the rest.
    assert_eq!(rows.len(), 1001, "{:?}", &rows[..3.min(rows.len())]);
    assert_eq!(rows[0], ("info".to_string(), "one".to_string()));
    assert!(rows[1].1.contains("already completed"), "{:?}", rows[1]);
    assert_eq!(rows[2].1, "line 0");
    assert_eq!(rows[1000].0, "warn");
    assert!(
        rows[1000].1.contains("502 more stderr lines"),
        "{:?}",
        rows[1000]
    );
}

/// A TCP proxy to the test server that cuts the first connection whose client sent a run's
/// completion (`SET status = 'completed'`) as soon as the server answers its `COMMIT`, or, for
/// a completion sent as its own implicit transaction (one simple query), the completion
/// itself (`UPDATE 1`: the server commits before it answers the last statement of the
/// message): that answer never reaches the worker, though the server committed. Every other
/// byte passes.
struct CutAfterCommit {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CutAfterCommit {
    fn start(upstream: &str) -> CutAfterCommit {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("proxy address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let (upstream, stop2, cut2) = (upstream.to_string(), Arc::clone(&stop), Arc::clone(&cut));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                };
                client
                    .set_nonblocking(false)
                    .expect("blocking client socket");
                let server = std::net::TcpStream::connect(&upstream).expect("connect upstream");
                let armed = Arc::new(AtomicBool::new(false));
                Self::pipe(&client, &server, &armed, None);
                Self::pipe(&server, &client, &armed, Some(Arc::clone(&cut2)));
            }
        });
        CutAfterCommit { port, stop, cut }
    }

    /// Copies `from` to `to`. From the client, arms the connection at a completion; from the
    /// server (`cut` given), ends both sockets at the first `COMMIT` answer once armed.
    fn pipe(
        from: &std::net::TcpStream,
        to: &std::net::TcpStream,
        armed: &std::sync::Arc<std::sync::atomic::AtomicBool>,
        cut: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) {
        use std::io::{Read, Write};
        let (mut from, mut to) = (
            from.try_clone().expect("clone socket"),
            to.try_clone().expect("clone socket"),
        );
        let armed = std::sync::Arc::clone(armed);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                let has = |needle: &[u8]| chunk.windows(needle.len()).any(|w| w == needle);
                match &cut {
                    // The result's write: the statement, or the call of the function that
                    // keeps its plan (not the function's definition, sent when the worker
                    // starts).
                    // (The call names the function's schema: `"public".durably_cli_…`; its
                    // name alone is also in the worker's check for the functions at start.)
                    None if (has(b"SET status = 'completed'") && !has(b"CREATE OR REPLACE"))
                        || has(b"\".durably_cli_complete_") =>
                    {
                        armed.store(true, Ordering::SeqCst)
                    }
                    Some(cut)
                        if armed.load(Ordering::SeqCst)
                            && (has(b"COMMIT\0") || has(b"UPDATE 1\0") || has(b"SELECT 1\0"))
                            && !cut.swap(true, Ordering::SeqCst) =>
                    {
                        break;
                    }
                    _ => {}
                }
                if to.write_all(chunk).is_err() {
                    break;
                }
            }
            let _ = from.shutdown(std::net::Shutdown::Both);
            let _ = to.shutdown(std::net::Shutdown::Both);
        });
    }
}

impl Drop for CutAfterCommit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_result_committed_before_the_connection_dropped_is_reported_as_recorded() {
    let db = PgDb::new("dropped");
    let mut env = db.env();
    let h = env.handler("job", "echo '{\"ok\":true}'");
    let id = env.enqueue_job("job", &[]);
    // The worker reaches the server through the proxy: host:port of the test URL replaced.
    let authority = db.url.split("://").nth(1).unwrap_or_default();
    let authority = authority.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let proxy = CutAfterCommit::start(host_port);
    let via = db
        .url
        .replacen(host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let sep = if via.contains('?') { '&' } else { '?' };
    env.db = format!("{via}{sep}sslmode=disable").into();
    let out = env.run(&["work", "--once", "--lease", "1m", "--", h.to_str().unwrap()]);
    assert!(
        proxy.cut.load(Ordering::SeqCst),
        "the connection was never cut: {out:?}"
    );
    // The write committed, its retry on a new connection was refused by the fence, and the
    // worker reads the run to tell which: its own result, recorded.
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("lease"), "{out:?}");
    assert!(!out.stderr.contains("nothing was written"), "{out:?}");
    let mut c = db.client();
    assert_eq!(field(&mut c, &id, "status").as_deref(), Some("completed"));
    assert_eq!(field(&mut c, &id, "lease_generation").as_deref(), Some("1"));
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_result_commit_without_answer_is_reported_as_unknown() {
    let db = PgDb::new("unanswered");
    let env = db.env();
    let h = env.handler("job", "echo '{\"ok\":true}'");
    let id = env.enqueue_job("job", &[]);
    // Every session that completes a run dies at its COMMIT (a deferred constraint trigger
    // terminates its own backend): the worker's write, and its retry on a new connection,
    // both send COMMIT and never hear back.
    db.client()
        .batch_execute(
            "CREATE FUNCTION durably_test_die() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER durably_test_die AFTER UPDATE ON durably_runs \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
             WHEN (NEW.status = 'completed') EXECUTE FUNCTION durably_test_die();",
        )
        .expect("create the trigger");
    let out = env.run(&["work", "--once", "--lease", "1m", "--", h.to_str().unwrap()]);
    let unknown = format!("the outcome of recording the result of run {id} is unknown");
    assert!(out.stderr.contains(&unknown), "{out:?}");
    assert!(out.stderr.contains("lost after COMMIT was sent"), "{out:?}");
    assert!(
        out.stderr.contains(&format!("`durably show {id}`")),
        "{out:?}"
    );
    assert!(!out.stderr.contains("nothing was written"), "{out:?}");
    // The sessions died before their commits: the run is still leased to this execution
    // (what `durably show` tells), and runs again when its lease runs out.
    let mut c = db.client();
    assert_eq!(field(&mut c, &id, "status").as_deref(), Some("leased"));
    assert_eq!(field(&mut c, &id, "lease_generation").as_deref(), Some("1"));
}

/// `durably progress`, `log` and `step` inside a `set -e` handler wait out a server restart
/// (they retry a lost connection within the lease) instead of failing: the run completes in
/// its first execution, not given back and executed again.
#[test]
#[ignore = "needs a PostgreSQL server of its own: DURABLY_TEST_PG_RESTART_URL and DURABLY_TEST_PG_RESTART (.ci/run sets both)"]
fn handler_side_commands_wait_out_a_server_restart() {
    let (server, restart) = crate::harness::pg_restartable();
    let env = Env::on_pg_server(server);
    env.run(&["init"]).ok();
    env.handler(
        "chatty",
        "set -e\n\
         touch \"$T/started\"\n\
         i=0\n\
         while [ ! -e \"$T/go\" ] || [ $i -lt 3 ]; do\n\
           i=$((i+1)); durably progress $i; durably log \"tick $i\"; sleep 0.05\n\
         done\n\
         durably step last -- echo done > /dev/null\n\
         echo '{\"ticks\":'$i'}'",
    );
    let id = env.enqueue_job("chatty", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let worker = env.spawn(&["work", "--once", "--lease", "60s", "--handlers", &h]);
    assert!(wait_until(BOUND, || env.path("started").exists()));
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&restart)
        .status()
        .expect("run the restart command");
    assert!(status.success(), "restart: {status:?}");
    std::fs::write(env.path("go"), "").unwrap();
    let out = finish(worker);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&id), "completed", "{out:?}");
    assert_eq!(
        env.field(&id, "lease_generation").as_deref(),
        Some("1"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("connection was lost") && out.stderr.contains("trying again"),
        "the handler's commands said they retried: {out:?}"
    );
}
