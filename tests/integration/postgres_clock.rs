//! Many hosts on one PostgreSQL database: the database's clock decides every lease (workers
//! whose clocks are shifted ±120 s with libfaketime never take each other's valid leases, and
//! say that their clock is off), a session stuck holding a concurrency key's advisory lock
//! holds back only that key's runs, a COMMIT whose answer was lost with the connection is
//! reported as of unknown outcome (never "nothing was enqueued"), and a connection refused for
//! lack of room is tried again within `--busy-timeout`.
//!
//! PostgreSQL only (`DURABLY_TEST_PG`, ignored otherwise); the clock tests need `faketime`
//! (Debian package faketime, installed by .ci/run). Run: `cargo test --test integration
//! postgres_clock:: -- --include-ignored`.

use crate::harness::{asleep_in_a_wait, lit, poll, run_command, wait_for, Bg, Env, Out, BOUND};
use std::collections::BTreeMap;
use std::process::Command;

/// `durably --db DB ARGS...` under libfaketime with the wall clock shifted by `shift` (e.g.
/// `+120s`): the same program, arguments and environment as [`Env::command`].
fn skewed(env: &Env, shift: &str, args: &[&str]) -> Command {
    let inner = env.command(args);
    let mut c = Command::new("faketime");
    c.arg("-f").arg(shift).arg(inner.get_program());
    c.args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// A session of the test's own on the env's database.
fn client(env: &Env) -> postgres::Client {
    postgres::Client::connect(&env.db_arg(), postgres::NoTls).expect("connect to test database")
}

/// One execution of a handler: when it started and (if it was not killed) ended, in
/// nanoseconds of the real clock.
#[derive(Debug, Clone, Copy)]
struct Execution {
    start: u128,
    end: Option<u128>,
}

/// The executions recorded in `log` (`RUN GENERATION start|end NANOS` lines), by run and
/// generation.
fn executions(log: &std::path::Path) -> BTreeMap<(String, String), Execution> {
    let mut m: BTreeMap<(String, String), Execution> = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [run, generation, what, nanos] = f[..] else {
            panic!("bad line {line:?}");
        };
        let nanos: u128 = nanos.parse().expect("nanoseconds");
        let key = (run.to_string(), generation.to_string());
        match what {
            "start" => {
                let old = m.insert(
                    key,
                    Execution {
                        start: nanos,
                        end: None,
                    },
                );
                assert!(old.is_none(), "two starts of {run} generation {generation}");
            }
            _ => m.get_mut(&key).expect("end after start").end = Some(nanos),
        }
    }
    m
}

/// Pairs of executions of one run that overlap in real time (an unfinished one counts as
/// running to the end of the test), with the overlap in milliseconds.
fn overlaps(execs: &BTreeMap<(String, String), Execution>) -> Vec<(String, f64)> {
    let mut by_run: BTreeMap<&str, Vec<Execution>> = BTreeMap::new();
    for ((run, _), e) in execs {
        by_run.entry(run).or_default().push(*e);
    }
    let mut found = Vec::new();
    for (run, mut list) in by_run {
        list.sort_by_key(|e| e.start);
        for pair in list.windows(2) {
            let end = pair[0].end.unwrap_or(u128::MAX);
            if pair[1].start < end {
                let ms = (end.min(pair[1].end.unwrap_or(end)) - pair[1].start) as f64 / 1e6;
                found.push((run.to_string(), ms));
            }
        }
    }
    found
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_workers_with_skewed_clocks_never_overlap_and_say_their_clock_is_off() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    // Times come from the real clock: the handler's own `date` would be shifted with its
    // worker's (libfaketime is inherited), so it runs without the preload.
    let h = env.handler(
        "slow",
        r#"trap '' TERM
real() { env -u LD_PRELOAD -u FAKETIME date +%s%N; }
echo "$DURABLY_RUN_ID $DURABLY_LEASE_GENERATION start $(real)" >> "$T/exec.log"
sleep 1.2
echo "$DURABLY_RUN_ID $DURABLY_LEASE_GENERATION end $(real)" >> "$T/exec.log""#,
    );
    let n = 18;
    let specs: String = (0..n)
        .map(|i| format!("{{\"job\":\"slow\",\"input\":{i}}}\n"))
        .collect();
    env.run_stdin(&["enqueue-many", "-"], specs).ok();
    let h = h.to_str().unwrap();
    let args = [
        "work",
        "--until-idle",
        "--concurrency",
        "2",
        "--lease",
        "2s",
        "--poll",
        "50ms",
        "--",
        h,
    ];
    let mut workers: Vec<Bg> = [
        ("real", None),
        ("ahead", Some("+120s")),
        ("behind", Some("-120s")),
    ]
    .into_iter()
    .map(|(name, shift)| {
        let cmd = match shift {
            Some(s) => skewed(&env, s, &args),
            None => env.command(&args),
        };
        Bg::spawn(cmd, env.dir.path(), name)
    })
    .collect();
    for w in &mut workers {
        let st = w.wait_max(2 * BOUND);
        assert!(st.success(), "{} exited with {st}:\n{}", w.name, w.err());
    }
    let execs = executions(&env.path("exec.log"));
    let overlapping = overlaps(&execs);
    // The figures of RELIABILITY.md: `-- --nocapture` shows them.
    let longest = overlapping.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
    eprintln!(
        "{n} runs: {} executions, {} overlapping pairs (longest {longest:.0} ms)",
        execs.len(),
        overlapping.len()
    );
    assert!(
        overlapping.is_empty(),
        "overlapping executions: {overlapping:?}"
    );
    let mut runs: BTreeMap<&str, usize> = BTreeMap::new();
    for (run, _) in execs.keys() {
        *runs.entry(run).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, k)| **k > 1).collect();
    assert!(twice.is_empty(), "runs executed more than once: {twice:?}");
    assert_eq!(runs.len(), n, "{runs:?}");
    assert_eq!(
        env.count(
            "SELECT count(*) FROM durably_runs WHERE status = 'completed' AND lease_generation = 1"
        ),
        n as i64
    );
    // Each skewed worker says so once, naming the direction; the one on time says nothing.
    let said = |name: &str| workers.iter().find(|w| w.name == name).unwrap().err();
    let ahead = said("ahead");
    assert_eq!(ahead.matches("clock is").count(), 1, "{ahead}");
    assert!(
        ahead.contains("s ahead of the database server's"),
        "{ahead}"
    );
    assert!(
        said("behind").contains("s behind the database server's"),
        "{}",
        said("behind")
    );
    assert!(!said("real").contains("clock is"), "{}", said("real"));
}

/// `rm --older-than` and `work --retain` judge a run's age by the database's clock: a host two
/// hours ahead purges nothing that completed a minute ago, and a host two hours behind still
/// purges runs that completed long ago by the database's clock.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_purges_on_a_skewed_host_use_the_databases_clock() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let recent = env.enqueue(&["--job", "a"]);
    let old = env.enqueue(&["--job", "a"]);
    for id in [&recent, &old] {
        env.ok(&["cancel", id]);
    }
    env.exec(&format!(
        "UPDATE durably_runs SET completed_at = to_char((now() - interval '3 hours') AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') WHERE id = {}",
        lit(&old)
    ));
    let ahead = |args: &[&str]| run_command(skewed(&env, "+2h", args), None);
    let dry = ahead(&["rm", "--older-than", "1h", "--dry-run"]);
    assert!(dry.ok().stdout.contains("would delete 1 run"), "{dry:?}");
    ahead(&["rm", "--older-than", "1h"]).ok();
    assert_eq!(
        env.status(&recent),
        "cancelled",
        "a run of a minute ago is not an hour old"
    );
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 1);
    // A host behind: the run completed 3 h ago by the database is older than 2 h.
    env.exec(&format!(
        "UPDATE durably_runs SET completed_at = to_char((now() - interval '3 hours') AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') WHERE id = {}",
        lit(&recent)
    ));
    let behind = run_command(skewed(&env, "-2h", &["rm", "--older-than", "2h"]), None);
    behind.ok();
    assert_eq!(
        env.count("SELECT count(*) FROM durably_runs"),
        0,
        "{behind:?}"
    );
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_enqueue_on_a_skewed_host_writes_the_databases_time() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let out = run_command(skewed(&env, "+120s", &["enqueue", "--job", "a"]), None);
    out.ok();
    let id = out.stdout.trim();
    let out = run_command(
        skewed(&env, "+120s", &["enqueue-many", "-"]),
        Some(b"{\"job\":\"b\"}\n{\"job\":\"b\"}\n"),
    );
    out.ok();
    // The database's now bounds every created_at from above, and a minute before it from
    // below: a host 120 s ahead wrote none of its own times.
    let now = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
    let ago = "to_char((now() - interval '60 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
    let off = env.count(&format!(
        "SELECT count(*) FROM durably_runs WHERE NOT (created_at <= {now} AND created_at >= {ago} \
         AND updated_at = created_at AND created_at ~ '^\\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{{3}}Z$')"
    ));
    assert_eq!(
        off,
        0,
        "{:?}",
        env.sql_rows("SELECT id, created_at FROM durably_runs")
    );
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 3);
    // Runs of one process never go backwards in time.
    let first = env.field(id, "created_at").unwrap();
    let later = env.count(&format!(
        "SELECT count(*) FROM durably_runs WHERE job_name = 'b' AND created_at >= {}",
        lit(&first)
    ));
    assert_eq!(later, 2);
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_lease_is_the_library_text_of_the_servers_now_whatever_its_time_zone() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let db = env.pg.as_ref().unwrap().name.clone();
    // A zone with a half-hour offset: a time written in local time would show it.
    client(&env)
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET timezone = 'America/St_Johns'"
        ))
        .expect("set the time zone");
    let id = env.enqueue_job("hold", &[]);
    let h = env.handler(
        "hold",
        r#"touch "$T/started"; while [ ! -e "$T/go" ]; do sleep 0.05; done"#,
    );
    let mut worker = Bg::spawn(
        env.command(&[
            "work",
            "--once",
            "--lease",
            "30s",
            "--",
            h.to_str().unwrap(),
        ]),
        env.dir.path(),
        "worker",
    );
    let started = poll(BOUND, || env.path("started").exists().then_some(()));
    assert!(
        started.is_some(),
        "the handler never started: {}",
        worker.err()
    );
    let text = |col: &str| env.field(&id, col).unwrap_or_default();
    let (expires, began, created) = (
        text("lease_expires_at"),
        text("started_at"),
        text("created_at"),
    );
    let ms = |t: &str| durably::time::parse_ms(t).unwrap_or_else(|| panic!("not a time: {t:?}"));
    // The same now() for the claim's start and expiry: exactly the lease apart, in the text
    // `toISOString()` writes (UTC, three digits of milliseconds).
    assert_eq!(ms(&expires) - ms(&began), 30_000, "{began} .. {expires}");
    for t in [&expires, &began, &created] {
        assert_eq!(
            durably::time::format_ms(ms(t)),
            **t,
            "not the library's text"
        );
    }
    let utc_now = env.count("SELECT floor(extract(epoch FROM now()) * 1000)::bigint");
    assert!(
        (utc_now - ms(&began)).abs() < 60_000,
        "{began} vs {utc_now}"
    );
    std::fs::write(env.path("go"), "").expect("let the handler end");
    assert!(worker.wait_max(BOUND).success(), "{}", worker.err());
    assert_eq!(env.status(&id), "completed");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_session_holding_a_key_lock_holds_back_only_that_keys_runs() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let h = env.handler("job", r#"echo "$DURABLY_RUN_ID" >> "$T/ran""#);
    let h = h.to_str().unwrap();
    // The keyed run is the oldest: every claim meets it first.
    let keyed = env.enqueue_job("job", &["--concurrency-key", "k"]);
    let others: Vec<String> = (0..5).map(|_| env.enqueue_job("job", &[])).collect();
    // A claimer stuck mid-claim: its transaction holds the key's advisory lock.
    let mut stuck = client(&env);
    let mut tx = stuck.transaction().expect("begin");
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('k'))", &[])
        .expect("lock the key");
    let out = env.run(&["work", "--until-idle", "--busy-timeout", "1s", "--", h]);
    out.ok();
    for id in &others {
        assert_eq!(env.status(id), "completed", "{out:?}");
    }
    assert_eq!(env.status(&keyed), "pending", "{out:?}");
    assert!(
        out.stderr
            .contains("1 run still pending (blocked by a concurrency key in use)"),
        "{out:?}"
    );
    tx.commit().expect("end the stuck transaction");
    env.ok(&["work", "--until-idle", "--busy-timeout", "1s", "--", h]);
    assert_eq!(env.status(&keyed), "completed");
    let ran = std::fs::read_to_string(env.path("ran")).unwrap_or_default();
    assert_eq!(ran.lines().count(), 6, "{ran}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_stuck_key_lock_does_not_hold_back_a_finished_runs_result() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let h = env.handler(
        "any",
        r#"echo "$DURABLY_RUN_ID" >> "$T/ran"
if [ "$DURABLY_JOB" = slow ]; then sleep 3; fi"#,
    );
    let keyed = env.enqueue_job("keyed", &["--concurrency-key", "k"]);
    let slow = env.enqueue_job("slow", &[]);
    let mut stuck = client(&env);
    let mut tx = stuck.transaction().expect("begin");
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('k'))", &[])
        .expect("lock the key");
    // Every poll tries the keyed run again while the slow run's renewals and result go
    // through the same worker.
    let out = env.run(&[
        "work",
        "--until-idle",
        "--busy-timeout",
        "1s",
        "--lease",
        "2s",
        "--poll",
        "50ms",
        "--",
        h.to_str().unwrap(),
    ]);
    out.ok();
    assert_eq!(env.status(&slow), "completed", "{out:?}");
    assert_eq!(
        env.field(&slow, "lease_generation").as_deref(),
        Some("1"),
        "{out:?}"
    );
    let ran = std::fs::read_to_string(env.path("ran")).unwrap_or_default();
    assert_eq!(
        ran.lines().filter(|l| *l == slow).count(),
        1,
        "{ran}\n{out:?}"
    );
    assert_eq!(env.status(&keyed), "pending");
    tx.commit().expect("end the stuck transaction");
}

/// Makes every session that inserts (or updates) a run die at COMMIT: a deferred constraint
/// trigger terminates its own backend, so the client sent COMMIT and never hears back.
fn die_at_commit(c: &mut postgres::Client, events: &str) {
    c.batch_execute(&format!(
        "CREATE FUNCTION durably_test_die() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER durably_test_die AFTER {events} ON durably_runs \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION durably_test_die();"
    ))
    .expect("create the trigger");
}

/// One error line saying the outcome is unknown, never that nothing was written.
#[track_caller]
fn says_unknown(out: &Out) {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("is unknown"), "{out:?}");
    assert!(out.stderr.contains("lost after COMMIT was sent"), "{out:?}");
    assert!(!out.stderr.contains("nothing was"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_commit_without_answer_is_reported_as_unknown() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let pending = env.enqueue_job("a", &[]);
    die_at_commit(&mut client(&env), "INSERT OR UPDATE");
    let batch = "{\"job\":\"a\"}\n{\"job\":\"a\",\"idempotencyKey\":\"x\"}\n{\"job\":\"a\"}\n";
    let out = env.run_stdin(&["enqueue-many", "-"], batch);
    says_unknown(&out);
    assert!(out.stderr.contains("lines 1-3 of stdin"), "{out:?}");
    assert!(out.stderr.contains("`durably show "), "{out:?}");
    assert!(
        out.stderr
            .contains("idempotency keys can be enqueued again safely"),
        "{out:?}"
    );
    let out = env.run(&["enqueue", "--job", "a"]);
    says_unknown(&out);
    assert!(
        out.stderr.contains("was enqueued if `durably show "),
        "{out:?}"
    );
    let out = env.run(&["cancel", &pending]);
    says_unknown(&out);
    assert!(
        out.stderr.contains(&format!("`durably show {pending}`")),
        "{out:?}"
    );
    // The sessions died before their commits: nothing is there (what `durably show` tells).
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 1);
    assert_eq!(env.status(&pending), "pending");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_an_error_before_commit_still_says_nothing_was_enqueued() {
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    // The session dies at the insert, before COMMIT was sent: surely rolled back.
    client(&env)
        .batch_execute(
            "CREATE FUNCTION durably_test_die() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; \
             CREATE TRIGGER durably_test_die AFTER INSERT ON durably_runs \
             FOR EACH ROW EXECUTE FUNCTION durably_test_die();",
        )
        .expect("create the trigger");
    let out = env.run_stdin(&["enqueue-many", "-"], "{\"job\":\"a\"}\n");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("nothing was enqueued from stdin"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("unknown"), "{out:?}");
}

/// A role of its own (cluster-wide, so dropped at the end) that the database's connection
/// limit applies to: superusers are exempt from it.
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&crate::harness::pg_server(), postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.0));
        }
    }
}

/// The env's URL with `user` as the user.
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_enqueue_waits_for_a_connection_slot_within_busy_timeout() {
    let role = Role(format!("durably_limited_{}", std::process::id()));
    let env = Env::on(crate::harness::Backend::Postgres);
    env.ok(&["init"]);
    let db = env.pg.as_ref().unwrap().name.clone();
    {
        let mut admin = client(&env);
        admin
            .batch_execute(&format!(
                "CREATE ROLE {r} LOGIN; GRANT ALL ON SCHEMA public TO {r}; \
                 GRANT ALL ON ALL TABLES IN SCHEMA public TO {r}; \
                 ALTER DATABASE \"{db}\" CONNECTION LIMIT 1",
                r = role.0
            ))
            .expect("set up the role");
    }
    let url = as_user(&env.db_arg(), &role.0);
    // The one slot, taken (every session counts, the test's own too: the set-up session may
    // take a moment to end on the server).
    let held = poll(BOUND, || {
        postgres::Client::connect(&url, postgres::NoTls).ok()
    })
    .expect("take the slot");
    let as_role = |args: &[&str]| {
        let mut c = crate::harness::bare_command(env.dir.path());
        c.arg("--db").arg(&url).args(args);
        c
    };
    let refused = run_command(
        as_role(&["--busy-timeout", "100ms", "enqueue", "--job", "a"]),
        None,
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.contains("too many connections"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("--busy-timeout"), "{refused:?}");
    // Refused while the slot is held, then admitted once it is given back.
    let c = as_role(&["--busy-timeout", "10s", "enqueue", "--job", "a"]);
    let waiting = Bg::spawn(c, env.dir.path(), "enqueue");
    wait_for("the enqueue to wait for a connection slot", || {
        asleep_in_a_wait(waiting.child.id()).then_some(())
    });
    drop(held);
    let mut waiting = waiting;
    let st = waiting.wait_max(BOUND);
    assert!(st.success(), "{}", waiting.err());
    let id = waiting.out().trim().to_string();
    let found = poll(BOUND, || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).ok()?;
        c.query_opt("SELECT 1 FROM durably_runs WHERE id = $1", &[&id])
            .ok()?
    });
    assert!(found.is_some(), "run {id} not found");
}
