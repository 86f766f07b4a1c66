//! `durably serve`: the real binary on a loopback port, real HTTP (HTTP/1.0 over a TcpStream:
//! the server then ends every response, streams included, by closing the connection), over
//! databases written by the CLI, on both backends. Routes, shapes and status codes of the
//! library's handler; SSE while a CLI worker executes; security (token, bind, Host, Origin,
//! sizes, read-only, CORS); hostile strings; SIGTERM; PostgreSQL passwords.
//! (The library's own suite and the comparison with its handler: `serve_interop.rs`.)

use crate::harness::worker::{finish, signal};
use crate::harness::{wait_for, Backend, Env};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// A running `durably serve` and its port.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stderr: std::path::PathBuf,
}

/// Starts `durably serve --bind 127.0.0.1:0 EXTRA…` and waits until it listens.
pub fn start(env: &Env, extra: &[&str]) -> Server {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stderr = env.path(&format!("serve-{n}.err"));
    let mut args = vec!["serve", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let child = env.spawn_stderr_to(&args, &stderr);
    let port = wait_for("the server to listen", || {
        let text = std::fs::read_to_string(&stderr).unwrap_or_default();
        text.split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    });
    Server {
        child,
        port,
        stderr,
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Server {
    /// Sends one request; `headers` may replace Host.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut s = self.connect(method, path, headers, body);
        let mut raw = Vec::new();
        if let Err(e) = s.read_to_end(&mut raw) {
            assert!(!raw.is_empty(), "read response: {e}");
        }
        parse(&String::from_utf8_lossy(&raw))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], "")
    }

    pub fn post(&self, path: &str, body: &str) -> Resp {
        self.send("POST", path, &[("Content-Type", "application/json")], body)
    }

    fn connect(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> TcpStream {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.0\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: 127.0.0.1:{}\r\n", self.port));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        // A server that refuses a request early (413) may close before the body is sent: the
        // answer is still there to read.
        let _ = s.write_all(req.as_bytes());
        s
    }

    /// Opens an event stream; its headers are read.
    pub fn stream(&self, path: &str) -> Stream {
        let s = self.connect("GET", path, &[], "");
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/event-stream"),
            "{head}"
        );
        Stream { reader }
    }
}

fn parse(raw: &str) -> Resp {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

/// An open event stream.
pub struct Stream {
    reader: BufReader<TcpStream>,
}

impl Stream {
    /// The next `data:` event (comment frames skipped); None when the stream ended.
    pub fn next(&mut self) -> Option<Value> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(data) = line.strip_prefix("data: ") {
                return Some(serde_json::from_str(data.trim_end()).expect("event JSON"));
            }
        }
    }

    /// Events until one of type `kind`, which is returned last.
    pub fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(e) = self.next() {
            let done = e["type"] == kind;
            seen.push(e);
            if done {
                return seen;
            }
        }
        panic!("the stream ended before {kind}: {seen:?}");
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

both! {
    fn runs_and_run_answer_the_library_shapes() {
        let env = Env::init();
        let a = env.enqueue(&["--job", "alpha", "-l", "tenant=acme", "--input", r#"{"n":1}"#]);
        let b = env.enqueue(&["--job", "beta", "-l", "tenant=other", "--idempotency-key", "k1"]);
        let c = env.enqueue(&["--job", "gamma", "-l", "tenant=acme"]);
        env.set_status(&c, "completed", Some("2026-01-01T00:00:00.000Z"));
        let srv = start(&env, &[]);

        let all = srv.get("/runs");
        assert_eq!(all.status, 200);
        assert_eq!(all.header("content-type"), Some("application/json"));
        let runs = all.json();
        let ids: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [c.as_str(), b.as_str(), a.as_str()], "newest first");
        let first = &runs[2];
        for hidden in ["idempotencyKey", "concurrencyKey", "leaseOwner", "leaseExpiresAt", "leaseGeneration", "updatedAt"] {
            assert!(first.get(hidden).is_none(), "{hidden} in {first}");
        }
        assert_eq!(first["input"], json!({"n": 1}));
        assert_eq!(first["labels"], json!({"tenant": "acme"}));
        assert_eq!((first["isTerminal"].clone(), first["isActive"].clone()), (json!(false), json!(true)));
        assert_eq!(runs[0]["isTerminal"], json!(true));

        let by = |q: &str| -> Vec<String> {
            let r = srv.get(&format!("/runs?{q}"));
            assert_eq!(r.status, 200, "{q}: {r:?}");
            r.json().as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(by("jobName=alpha&jobName=gamma"), [c.clone(), a.clone()]);
        assert_eq!(by("status=pending"), [b.clone(), a.clone()]);
        assert_eq!(by("status=pending&status=completed&label.tenant=acme"), [c.clone(), a.clone()]);
        assert_eq!(by("label.tenant=acme&limit=1"), vec![c.clone()]);
        assert_eq!(by("limit=2&offset=1"), [b.clone(), a.clone()]);
        assert_eq!(by("limit=0"), Vec::<String>::new());
        assert_eq!(by("limit=1abc"), vec![c.clone()], "parseInt reads the leading digits");

        for (q, error) in [
            ("status=running", "Invalid status: running. Must be one of: pending, leased, completed, failed, cancelled"),
            ("status=", "Invalid status: empty value. Must be one of: pending, leased, completed, failed, cancelled"),
            ("status=pending&status=", "Invalid status: empty value. Must be one of: pending, leased, completed, failed, cancelled"),
            ("limit=-1", "Invalid limit: must be a non-negative integer"),
            ("limit=x", "Invalid limit: must be a non-negative integer"),
            ("offset=-2", "Invalid offset: must be a non-negative integer"),
        ] {
            let r = srv.get(&format!("/runs?{q}"));
            assert_eq!((r.status, r.json()), (400, json!({"error": error})), "{q}");
        }

        let one = srv.get(&format!("/run?runId={a}"));
        assert_eq!(one.status, 200);
        assert_eq!(one.json(), runs[2]);
        assert_eq!(srv.get("/run").json(), json!({"error": "runId query parameter is required"}));
        assert_eq!(srv.get("/run").status, 400);
        let prefix = &a[..10];
        let missing = srv.get(&format!("/run?runId={prefix}"));
        assert_eq!((missing.status, missing.json()), (404, json!({"error": "Run not found"})), "exact ids only");
        assert_eq!(srv.get(&format!("/steps?runId={a}")).json(), json!([]));
        assert_eq!(srv.get("/steps?runId=nope").status, 404);

        let unknown = srv.get("/unknown");
        assert_eq!((unknown.status, unknown.body.as_str()), (404, "Not Found"));
        assert_eq!(srv.send("PUT", "/runs", &[], "").status, 404);
    }

    fn writes_answer_as_the_library_and_change_the_database() {
        let env = Env::init();
        let srv = start(&env, &[]);
        let t = srv.post("/trigger", r#"{"jobName":"mail","input":{"to":"a@b"},"labels":{"tenant":"acme"},"idempotencyKey":"i1","concurrencyKey":"c1"}"#);
        assert_eq!(t.status, 200, "{t:?}");
        let id = t.json()["runId"].as_str().unwrap().to_string();
        assert_eq!(t.json()["disposition"], "created");
        assert_eq!(env.status(&id), "pending");
        assert_eq!(env.field(&id, "idempotency_key").as_deref(), Some("i1"));
        assert_eq!(env.field(&id, "concurrency_key").as_deref(), Some("c1"));
        let again = srv.post("/trigger", r#"{"jobName":"mail","input":{},"idempotencyKey":"i1"}"#);
        assert_eq!(again.json(), json!({"runId": id, "disposition": "idempotent"}));
        let coalesced = srv.post("/trigger", r#"{"jobName":"mail","input":{},"concurrencyKey":"c1","coalesce":"skip"}"#);
        assert_eq!(coalesced.json(), json!({"runId": id, "disposition": "coalesced"}));
        let conflict = srv.post("/trigger", r#"{"jobName":"mail","input":{},"concurrencyKey":"c1"}"#);
        assert_eq!(conflict.status, 409);
        assert_eq!(conflict.json()["error"], "A pending run already exists for concurrency key \"c1\" in job \"mail\". Use coalesce: 'skip' to return the existing run instead.");
        for (body, status, error) in [
            (r#"{"input":{}}"#, 400, "jobName is required"),
            (r#"{"jobName":"","input":{}}"#, 400, "jobName is required"),
            (r#"{"jobName":"mail","coalesce":"always","concurrencyKey":"x"}"#, 400, "Invalid coalesce value: 'always'. Valid values: 'skip'"),
            (r#"{"jobName":"mail","coalesce":"skip"}"#, 400, "coalesce requires concurrencyKey"),
        ] {
            let r = srv.post("/trigger", body);
            assert_eq!((r.status, r.json()), (status, json!({"error": error})), "{body}");
        }
        assert_eq!(srv.post("/trigger", "{not json").status, 400);
        assert_eq!(srv.post("/trigger", r#"{"jobName":"mail","labels":{"bad key":"v"}}"#).status, 400);
        assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 1, "refused triggers wrote nothing");

        let retrigger_pending = srv.post(&format!("/retrigger?runId={id}"), "");
        assert_eq!((retrigger_pending.status, retrigger_pending.json()), (409, json!({"error": format!("Cannot retrigger pending run: {id}")})));
        let delete_pending = srv.send("DELETE", &format!("/run?runId={id}"), &[], "");
        assert_eq!((delete_pending.status, delete_pending.json()), (409, json!({"error": format!("Cannot delete pending run: {id}")})));
        let cancelled = srv.post(&format!("/cancel?runId={id}"), "");
        assert_eq!((cancelled.status, cancelled.json()), (200, json!({"success": true})));
        assert_eq!(env.status(&id), "cancelled");
        let twice = srv.post(&format!("/cancel?runId={id}"), "");
        assert_eq!((twice.status, twice.json()), (409, json!({"error": format!("Cannot cancel already cancelled run: {id}")})));
        let re = srv.post(&format!("/retrigger?runId={id}"), "");
        assert_eq!(re.status, 200, "{re:?}");
        let next = re.json()["runId"].as_str().unwrap().to_string();
        assert_ne!(next, id);
        assert_eq!(re.json()["success"], true);
        assert_eq!(env.status(&next), "pending");
        assert_eq!(env.field(&next, "concurrency_key").as_deref(), Some("c1"));
        let deleted = srv.send("DELETE", &format!("/run?runId={id}"), &[], "");
        assert_eq!((deleted.status, deleted.json()), (200, json!({"success": true})));
        assert_eq!(env.count(&format!("SELECT count(*) FROM durably_runs WHERE id = '{id}'")), 0);
        for path in ["/cancel", "/retrigger"] {
            assert_eq!(srv.post(path, "").json(), json!({"error": "runId query parameter is required"}));
            assert_eq!(srv.post(&format!("{path}?runId=gone"), "").status, 404);
        }
    }

    fn subscribe_streams_a_cli_workers_run_and_ends_after_it() {
        let env = Env::init();
        env.handler("job", "durably progress 1 --total 2 --message half\ndurably log 'a line'\ndurably step one -- echo '\"s\"' >/dev/null\necho '{\"ok\":true}'");
        let id = env.enqueue(&["--job", "job", "-l", "team=x"]);
        let srv = start(&env, &[]);
        let mut all = srv.stream("/runs/subscribe?label.team=x");
        let mut other = srv.stream("/runs/subscribe?jobName=other");
        let mut stream = srv.stream(&format!("/subscribe?runId={id}"));
        let worker = env.spawn(&["work", "--once", "--handlers", env.handlers.to_str().unwrap()]);
        let events = stream.until("run:complete");
        assert!(stream.next().is_none(), "the stream ends after the terminal event");
        let kinds = types(&events);
        for k in ["run:leased", "log:write", "step:start", "step:complete", "run:complete"] {
            assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
        }
        let complete = events.last().unwrap();
        assert_eq!(complete["runId"], json!(id));
        assert_eq!(complete["output"], json!({"ok": true}));
        assert_eq!(complete["labels"], json!({"team": "x"}));
        assert!(complete["timestamp"].is_string() && complete["sequence"].is_u64(), "{complete}");
        let log = events.iter().find(|e| e["type"] == "log:write").unwrap();
        assert_eq!((log["message"].clone(), log["level"].clone()), (json!("a line"), json!("info")));
        let step = events.iter().find(|e| e["type"] == "step:complete").unwrap();
        assert_eq!((step["stepName"].clone(), step["stepIndex"].clone()), (json!("one"), json!(0)));
        finish(worker).ok();

        let seen = all.until("run:complete");
        let kinds = types(&seen);
        assert!(kinds.contains(&"run:leased") && kinds.contains(&"log:write"), "{kinds:?}");
        let projected = seen.last().unwrap();
        assert_eq!(projected, &json!({"type": "run:complete", "runId": id, "jobName": "job", "labels": {"team": "x"}}));
        // A finished run's stream sends its stored end at once and closes.
        let mut done = srv.stream(&format!("/subscribe?runId={id}"));
        let replay = done.next().expect("the stored state");
        assert_eq!((replay["type"].clone(), replay["sequence"].clone(), replay["duration"].clone()), (json!("run:complete"), json!(0), json!(0)));
        assert!(done.next().is_none());
        // The other stream's filter let nothing through: its first event is a later run's.
        env.enqueue(&["--job", "other"]);
        assert_eq!(other.next().unwrap()["jobName"], "other");
    }

    fn runs_subscribe_sees_a_cli_enqueue_soon() {
        let env = Env::init();
        let srv = start(&env, &[]);
        let mut stream = srv.stream("/runs/subscribe");
        // The feed has started reading: a run enqueued now is announced.
        let mut worst = Duration::ZERO;
        for _ in 0..3 {
            let id = env.enqueue(&["--job", "fast"]);
            let enqueued = Instant::now();
            let event = stream.next().expect("an event");
            worst = worst.max(enqueued.elapsed());
            assert_eq!(event, json!({"type": "run:trigger", "runId": id, "jobName": "fast", "labels": {}}));
        }
        eprintln!("runs/subscribe: run:trigger at most {worst:?} after the enqueue returned");
        // The design's bound is a 150 ms tick plus a read; slack for a loaded machine.
        assert!(worst < Duration::from_millis(2000), "{worst:?}");
    }

    fn deletes_and_cancels_reach_streams() {
        let env = Env::init();
        let id = env.enqueue(&["--job", "d"]);
        let srv = start(&env, &[]);
        let mut stream = srv.stream(&format!("/subscribe?runId={id}"));
        let mut runs = srv.stream("/runs/subscribe");
        env.ok(&["cancel", &id]);
        assert_eq!(types(&stream.until("run:cancel")), ["run:cancel"]);
        assert!(stream.next().is_none());
        assert_eq!(srv.send("DELETE", &format!("/run?runId={id}"), &[], "").status, 200);
        assert_eq!(types(&runs.until("run:delete")), ["run:cancel", "run:delete"]);
        // A force-delete by the CLI of a watched run ends its stream.
        let other = env.enqueue(&["--job", "d"]);
        let mut watched = srv.stream(&format!("/subscribe?runId={other}"));
        std::thread::sleep(Duration::from_millis(400));
        env.ok(&["rm", "--force", &other]);
        assert_eq!(types(&watched.until("run:delete")), ["run:delete"]);
    }

    fn stats_counts_and_per_minute_completions() {
        let env = Env::init();
        env.handler("ok", "true");
        env.handler("bad", "exit 3");
        for job in ["ok", "ok", "bad"] {
            env.enqueue(&["--job", job]);
        }
        env.enqueue(&["--job", "later", "--idempotency-key", "x"]);
        env.run(&["work", "--until-idle", "--job", "ok", "--job", "bad", "--handlers", env.handlers.to_str().unwrap()]).code(5);
        let srv = start(&env, &[]);
        let stats = srv.get("/stats").json();
        assert_eq!(stats["counts"], json!({"pending": 1, "leased": 0, "completed": 2, "failed": 1, "cancelled": 0}));
        assert_eq!(stats["jobs"], json!(["bad", "later", "ok"]));
        let minutes = stats["perMinute"].as_array().unwrap();
        assert_eq!(minutes.len(), 60);
        let total = |k: &str| minutes.iter().map(|m| m[k].as_i64().unwrap()).sum::<i64>();
        assert_eq!((total("completed"), total("failed")), (2, 1));
        let last = minutes.last().unwrap()["minute"].as_str().unwrap();
        assert!(last.ends_with(":00.000Z") && last < stats["now"].as_str().unwrap(), "{last}");
        assert!(minutes[0]["minute"].as_str().unwrap() < last);
    }

    fn sigterm_ends_streams_and_the_server() {
        let env = Env::init();
        let srv = start(&env, &[]);
        let mut stream = srv.stream("/runs/subscribe");
        let started = Instant::now();
        signal(&srv.child, libc::SIGTERM);
        assert!(stream.next().is_none(), "the open stream ends");
        let out = finish(srv.child);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    fn hostile_strings_come_back_as_exact_json() {
        let env = Env::init();
        let job = "<script>alert(1)</script>";
        let label = "\"><img src=x onerror=alert(2)>";
        let srv = start(&env, &[]);
        let body = json!({"jobName": job, "input": {"html": "</script><b>"}, "labels": {"x": label}});
        let t = srv.post("/trigger", &body.to_string());
        assert_eq!(t.status, 200, "{t:?}");
        let id = t.json()["runId"].as_str().unwrap().to_string();
        let run = srv.get(&format!("/run?runId={id}"));
        assert_eq!(run.header("content-type"), Some("application/json"));
        assert_eq!(run.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(run.json()["jobName"], job);
        assert_eq!(run.json()["labels"]["x"], label);
        assert_eq!(run.json()["input"]["html"], "</script><b>");
        let unknown = srv.get("/%3Cscript%3Ealert(1)%3C/script%3E");
        assert_eq!(unknown.body, "Not Found");
        let page = srv.get("/");
        // The page is the compiled-in file byte for byte: nothing from the database is in it.
        assert_eq!(page.body, include_str!("../../src/serve/dashboard.html"));
        assert!(!page.body.contains(job) && !page.body.contains(label));
        assert_eq!(srv.get(&format!("/runs?jobName={}", "%3Cscript%3Ealert(1)%3C%2Fscript%3E")).json()[0]["id"], json!(id));
    }
}

#[test]
fn dashboard_page_is_served_under_the_base_path_with_a_strict_policy() {
    let env = Env::init();
    let srv = start(&env, &["--base-path", "/api/durably/"]);
    let page = srv.get("/api/durably/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-eval") && !csp.contains("script-src 'unsafe-inline'"),
        "{csp}"
    );
    let bare = srv.get("/api/durably");
    assert_eq!(
        (bare.status, bare.header("location")),
        (308, Some("/api/durably/"))
    );
    assert_eq!(srv.get("/api/durably/runs").status, 200);
    assert_eq!(
        srv.get("/runs").status,
        404,
        "routes live under the base path only"
    );
    assert_eq!(srv.get("/api/durably/stats").status, 200);
}

#[test]
fn a_token_guards_every_route() {
    let env = Env::init();
    let id = env.enqueue(&["--job", "t"]);
    let mut c = env.command(&["serve", "--bind", "127.0.0.1:0"]);
    c.env("DURABLY_TOKEN", "s3cret-token");
    let stderr = env.path("token.err");
    c.stderr(std::fs::File::create(&stderr).unwrap());
    let child = c.spawn().unwrap();
    let port = wait_for("listening", || {
        std::fs::read_to_string(&stderr)
            .ok()?
            .split("127.0.0.1:")
            .nth(1)?
            .trim()
            .parse()
            .ok()
    });
    let srv = Server {
        child,
        port,
        stderr,
    };
    for path in [
        "/runs",
        &format!("/run?runId={id}"),
        "/stats",
        "/",
        "/runs/subscribe",
        "/nope",
    ] {
        let r = srv.get(path);
        assert_eq!(r.status, 401, "{path}: {r:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let wrong = srv.send(
        "GET",
        "/runs",
        &[("Authorization", "Bearer s3cret-tokeX")],
        "",
    );
    assert_eq!(wrong.status, 401);
    let right = srv.send(
        "GET",
        "/runs",
        &[("Authorization", "Bearer s3cret-token")],
        "",
    );
    assert_eq!(right.status, 200);
    let cancel = srv.post(&format!("/cancel?runId={id}"), "");
    assert_eq!(cancel.status, 401);
    assert_eq!(env.status(&id), "pending");
    // The dashboard: ?token= once, then a cookie.
    let login = srv.get("/?token=s3cret-token");
    assert_eq!(login.status, 303);
    let cookie = login.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        srv.send("GET", "/stats", &[("Cookie", pair)], "").status,
        200
    );
    let mut srv = srv;
    let _ = srv.child.kill();
    let _ = srv.child.wait();
}

#[test]
fn a_non_loopback_bind_needs_a_token_or_insecure() {
    let env = Env::init();
    let out = env.run(&["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(out.code, 2, "{out:?}");
    crate::harness::assert_one_error_line(&out.stderr, "needs --token");
    let out = env.run(&["serve", "--base-path", "a b"]);
    assert_eq!(out.code, 2, "{out:?}");
    let stderr = env.path("insecure.err");
    let mut child = env.spawn_stderr_to(&["serve", "--bind", "0.0.0.0:0", "--insecure"], &stderr);
    wait_for("listening", || {
        std::fs::read_to_string(&stderr)
            .ok()?
            .contains("serving on")
            .then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn hosts_origins_sizes_and_read_only_are_checked() {
    let env = Env::init();
    let id = env.enqueue(&["--job", "s"]);
    let srv = start(&env, &["--cors", "https://app.example"]);
    let rebound = srv.send("GET", "/runs", &[("Host", "evil.example:80")], "");
    assert_eq!(rebound.status, 403, "DNS rebinding: {rebound:?}");
    assert_eq!(
        srv.send("GET", "/runs", &[("Host", "localhost")], "")
            .status,
        200
    );
    let foreign = srv.send(
        "POST",
        &format!("/cancel?runId={id}"),
        &[("Origin", "https://evil.example")],
        "",
    );
    assert_eq!(foreign.status, 403);
    let cross = srv.send(
        "POST",
        &format!("/cancel?runId={id}"),
        &[("Sec-Fetch-Site", "cross-site")],
        "",
    );
    assert_eq!(cross.status, 403);
    assert_eq!(env.status(&id), "pending", "refused writes change nothing");
    let own = format!("http://127.0.0.1:{}", srv.port);
    let same = srv.send(
        "POST",
        "/trigger",
        &[("Origin", own.as_str())],
        r#"{"jobName":"s"}"#,
    );
    assert_eq!(same.status, 200, "{same:?}");
    assert!(
        same.header("access-control-allow-origin").is_none(),
        "no CORS unless asked"
    );
    let allowed = srv.send(
        "POST",
        "/trigger",
        &[("Origin", "https://app.example")],
        r#"{"jobName":"s"}"#,
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let preflight = srv.send(
        "OPTIONS",
        "/trigger",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    assert_eq!(preflight.status, 204);
    let big = format!(
        r#"{{"jobName":"s","input":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    assert_eq!(srv.post("/trigger", &big).status, 413);
    let long = format!("/runs?jobName={}", "j".repeat(10_000));
    assert_eq!(srv.get(&long).status, 414);
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 3);

    let ro = start(&env, &["--read-only"]);
    for (method, path, body) in [
        ("POST", "/trigger".to_string(), r#"{"jobName":"s"}"#),
        ("POST", format!("/cancel?runId={id}"), ""),
        ("POST", format!("/retrigger?runId={id}"), ""),
        ("DELETE", format!("/run?runId={id}"), ""),
    ] {
        let r = ro.send(method, &path, &[], body);
        assert_eq!(r.status, 403, "{method} {path}");
    }
    assert_eq!(ro.get("/runs").status, 200);
    assert_eq!(ro.get("/").header("x-durably-read-only"), Some("1"));
    assert_eq!(srv.get("/").header("x-durably-read-only"), None);
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 3);
    assert_eq!(env.status(&id), "pending");
}

#[test]
fn handlers_limit_the_jobs_trigger_accepts() {
    let env = Env::init();
    env.handler("known", "true");
    let srv = start(&env, &["--handlers", env.handlers.to_str().unwrap()]);
    let r = srv.post("/trigger", r#"{"jobName":"unknown","input":{}}"#);
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "Job not found: unknown"}))
    );
    assert_eq!(
        srv.post("/trigger", r#"{"jobName":"known","input":{}}"#)
            .status,
        200
    );
    let orphan = env.enqueue(&["--job", "unknown"]);
    env.set_status(&orphan, "failed", Some("2026-01-01T00:00:00.000Z"));
    let re = srv.post(&format!("/retrigger?runId={orphan}"), "");
    assert_eq!(
        (re.status, re.json()),
        (404, json!({"error": "Unknown job: unknown"}))
    );
}

#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn a_postgres_password_never_reaches_a_response_or_a_log_line() {
    let env = Env::on(Backend::Postgres);
    env.run(&["init"]).ok();
    let url = env
        .db_arg()
        .replacen("://", "://durably:Pw-never-shown-42@", 1);
    let url = if url.matches('@').count() > 1 {
        // The server URL already named a user: put the password after it.
        let (scheme, rest) = env
            .db_arg()
            .split_once("://")
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        let user = user.split(':').next().unwrap();
        format!("{scheme}://{user}:Pw-never-shown-42@{host}")
    } else {
        url
    };
    let stderr = env.path("pg.err");
    let mut c = crate::harness::bare_command(env.dir.path());
    c.args(["--db", &url, "serve", "--bind", "127.0.0.1:0"]);
    c.stderr(std::fs::File::create(&stderr).unwrap());
    let child = c.spawn().unwrap();
    let port = wait_for("listening", || {
        std::fs::read_to_string(&stderr)
            .ok()?
            .split("127.0.0.1:")
            .nth(1)?
            .trim()
            .parse()
            .ok()
    });
    let mut srv = Server {
        child,
        port,
        stderr: stderr.clone(),
    };
    let mut bodies = vec![srv.get("/runs").body, srv.get("/stats").body];
    // Break the database under the server: its errors name the database, never the password.
    env.exec_batch("DROP TABLE durably_runs CASCADE");
    std::thread::sleep(Duration::from_millis(1100));
    let broken = srv.get("/runs");
    assert_eq!(broken.status, 500, "{broken:?}");
    bodies.push(broken.body);
    bodies.push(srv.get("/stats").body);
    bodies.push(srv.post("/trigger", r#"{"jobName":"x"}"#).body);
    std::thread::sleep(Duration::from_millis(500));
    signal(&srv.child, libc::SIGTERM);
    let _ = srv.child.wait();
    let log = std::fs::read_to_string(&srv.stderr).unwrap();
    for text in bodies.iter().chain([&log]) {
        assert!(!text.contains("Pw-never-shown-42"), "{text}");
    }
    assert!(
        log.contains("reading changes"),
        "the feed said what failed: {log}"
    );
}

#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn connections_the_postgres_server_ends_are_opened_again() {
    let env = Env::on(Backend::Postgres);
    env.run(&["init"]).ok();
    let srv = start(&env, &[]);
    assert_eq!(srv.get("/runs").status, 200);
    let mut stream = srv.stream("/runs/subscribe");
    // End every session of the server's database but the test's own (the pool's and the
    // feed's connections), as a server restart or an idle-session killer would.
    let ended = env.sql_value(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    assert!(ended.is_some_and(|n| n != "0"), "no session ended");
    // A request may meet a dead connection once (500); the pool then opens another.
    let recovered = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        srv.get("/runs").status == 200
    });
    assert!(recovered, "the server never answered again");
    let id = env.enqueue(&["--job", "after"]);
    let event = stream.next().expect("the feed reconnected and saw the run");
    assert_eq!(
        (event["type"].clone(), event["runId"].clone()),
        (json!("run:trigger"), json!(id))
    );
}

#[test]
fn logs_route_answers_a_runs_stored_logs() {
    let env = Env::init();
    env.handler("talk", "echo 'hello <b>' >&2; echo '{}'");
    let id = env.enqueue(&["--job", "talk"]);
    env.ok(&[
        "work",
        "--until-idle",
        "--handlers",
        env.handlers.to_str().unwrap(),
    ]);
    let srv = start(&env, &[]);
    let r = srv.get(&format!("/logs?runId={id}"));
    assert_eq!(r.status, 200, "{r:?}");
    let logs = r.json();
    assert_eq!(logs.as_array().map(Vec::len), Some(1), "{logs}");
    assert_eq!(logs[0]["runId"], json!(id));
    assert_eq!(logs[0]["message"], "hello <b>");
    assert_eq!(srv.get("/logs").status, 400);
    assert_eq!(srv.get("/logs?runId=nope").status, 404);
}
