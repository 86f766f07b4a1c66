//! The dashboard of `durably serve` (`GET /`, src/serve/dashboard.html) in a real headless
//! browser: Debian's `chromium` driven by playwright-core (tests/browser/, its own pinned
//! lockfile; `.ci/run` installs both). The server runs on a loopback port over the test's
//! database; the CLI makes the runs and the worker; `tests/browser/dashboard.mjs` opens the page
//! and checks what a person would see:
//!
//! - `live`: runs enqueued by the CLI are listed; a CLI worker finishes two of them and their
//!   status turns to completed on the list and on an open run page without a reload (the
//!   run page shows the handler's stderr as live logs); one run is cancelled from its page and
//!   one through the list's selection (then checked here with `durably show --json`), one is
//!   retriggered and one deleted from their pages (checked here too); hostile
//!   job names, labels and log lines are shown as text, never as elements; a status and a label
//!   filter live in the fragment (a reload shows the same view); at 375 px nothing overflows.
//!   On a SQLite file (under `--base-path`, so the page's relative URLs are exercised) and on
//!   PostgreSQL.
//! - `read_only`: a `--read-only` server with a token (the page opened once with `?token=`)
//!   lists the runs and shows no write control.
//!
//! Every test needs node and chromium, so it is `#[ignore]`d for a plain `cargo test`
//! (reported as ignored, never as passed); asked to run (`--include-ignored`, as CI does)
//! without them it fails with what to install.

use crate::harness::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// A job name, a label value and a log line that are markup if a page renders them as HTML.
const HOSTILE: &str = "<img src=x onerror=window.__xss=1>";

/// The token of the server in `read_only`.
const TOKEN: &str = "s3cret-token";

/// The page the server must serve at `GET /`.
const PAGE: &str = include_str!("../../src/serve/dashboard.html");

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Checks node and chromium and installs tests/browser's pinned packages, once per process;
/// panics with what to install when one is missing.
fn setup() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let node_ok = Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !node_ok {
            return Err(
                "node is not installed: the dashboard tests drive chromium from \
                        Node.js (>= 20); install nodejs and npm"
                    .into(),
            );
        }
        let chromium = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .into_iter()
            .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
            .any(|p| p.is_file());
        if !chromium {
            return Err(
                "chromium is not installed: the dashboard tests need a real browser \
                        (apt-get install chromium, or set CHROMIUM); .ci/run installs it"
                    .into(),
            );
        }
        let dir = browser_dir();
        if !dir
            .join("node_modules/playwright-core/package.json")
            .is_file()
        {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .map_err(|e| format!("cannot run npm (needed to install tests/browser): {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "npm ci in tests/browser failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

/// A free loopback port (the listener is closed before the server binds it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `GET path` over a fresh connection (with the bearer `token`): the status line with the
/// headers, and the body.
fn http_get(port: u16, path: &str, token: Option<&str>) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

/// Starts `durably serve` on a free loopback port with `extra` flags and `--token` when a
/// token is given (killed with the env) and waits until it serves the page at `{base}/`;
/// returns the page's URL.
fn serve(env: &Env, base: &str, token: Option<&str>, extra: &[&str]) -> String {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--bind", &bind];
    if !base.is_empty() {
        args.extend(["--base-path", base]);
    }
    if let Some(token) = token {
        args.extend(["--token", token]);
    }
    args.extend_from_slice(extra);
    let mut child = env.spawn(&args);
    let root = format!("{base}/");
    let (head, body) = wait_for("durably serve to answer GET /", || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("durably serve exited ({status}) before it served the page");
        }
        http_get(port, &root, token)
    });
    assert_eq!(head.split(' ').nth(1), Some("200"), "GET {root}: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html; charset=utf-8"),
        "GET {root}: {head}"
    );
    assert_eq!(body, PAGE, "GET {root} is not src/serve/dashboard.html");
    format!("http://127.0.0.1:{port}{root}")
}

/// Runs `tests/browser/dashboard.mjs MODE SPEC` and returns its JSON line; a failure panics
/// with the script's one line (screenshots of its pages are left in the env's `shots`).
fn browse(env: &Env, mode: &str, spec: Value) -> Value {
    let out: Out = Command::new("node")
        .arg("dashboard.mjs")
        .arg(mode)
        .arg(spec.to_string())
        .current_dir(browser_dir())
        .env_remove("DURABLY_DB")
        .env("HOME", env.dir.path())
        .env("XDG_DATA_HOME", env.dir.path().join("xdg"))
        .output()
        .expect("run node")
        .into();
    assert_eq!(out.code, 0, "the dashboard in chromium ({mode}): {out:?}");
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("dashboard.mjs printed no JSON ({e}): {out:?}"))
}

/// The runs the browser looks at, made with the CLI: three pending runs of `done` (a handler
/// exists: it writes the hostile line to stderr), the first with a hostile label; two of `hold`
/// (no handler: nobody claims them); one whose job name is the hostile string.
fn spec(env: &Env, url: &str) -> Value {
    env.handler(
        "done",
        &format!("cat >/dev/null\necho '{HOSTILE}' >&2\necho '{{\"ok\":true}}'"),
    );
    let note = format!("note={HOSTILE}");
    let done = [
        env.enqueue_job("done", &["--label", "tenant=acme", "--label", &note]),
        env.enqueue_job("done", &["--input", r#"{"n":2}"#]),
        env.enqueue_job("done", &["--input", r#"{"n":3}"#]),
    ];
    let hold = [env.enqueue_job("hold", &[]), env.enqueue_job("hold", &[])];
    let hostile_job = env.enqueue_job(HOSTILE, &[]);
    let shots = env.path("shots");
    std::fs::create_dir_all(&shots).expect("shots dir");
    json!({
        "url": url, "bin": BIN, "db": env.db_arg(), "handlers": env.handlers,
        "done": done, "hold": hold, "hostile": HOSTILE, "hostileJob": hostile_job,
        "shots": shots,
    })
}

fn live_body(base: &str) {
    setup();
    let env = Env::init();
    let url = serve(&env, base, None, &[]);
    let spec = spec(&env, &url);
    let result = browse(&env, "live", spec.clone());
    // What the page cancelled is cancelled in the database; the worker's runs are completed.
    let cancelled: Vec<String> = result["cancelled"]
        .as_array()
        .expect("cancelled ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    assert_eq!(cancelled.len(), 2, "{result}");
    for id in &cancelled {
        let shown = env.ok(&["show", id, "--json"]).json();
        assert_eq!(shown["status"], "cancelled", "run {id}: {shown}");
    }
    // The page's retrigger made a new pending run of the same job; its delete removed a run.
    let from = result["retriggered"]["from"]
        .as_str()
        .expect("retriggered from");
    let to = result["retriggered"]["to"]
        .as_str()
        .expect("retriggered to");
    assert_eq!(from, cancelled[0], "{result}");
    let new_run = env.ok(&["show", to, "--json"]).json();
    assert_eq!(new_run["status"], "pending", "run {to}: {new_run}");
    assert_eq!(new_run["jobName"], "hold", "run {to}: {new_run}");
    let deleted = result["deleted"].as_str().expect("deleted id");
    assert_eq!(deleted, spec["done"][2], "{result}");
    assert_ne!(
        env.run(&["show", deleted, "--json"]).code,
        0,
        "run {deleted} is still there"
    );
    for id in spec["done"].as_array().expect("done ids").iter().take(2) {
        let id = id.as_str().expect("id");
        assert_eq!(env.status(id), "completed", "run {id}");
    }
    assert_eq!(
        env.status(spec["hostileJob"].as_str().expect("id")),
        "pending"
    );
}

mod live {
    use super::*;

    #[test]
    #[ignore = "needs node and chromium (a real browser): .ci/run installs them"]
    fn sqlite() {
        Backend::Sqlite.run(|| live_body("/durably"))
    }

    #[test]
    #[ignore = "needs PostgreSQL, node and chromium: set DURABLY_TEST_PG; .ci/run does"]
    fn pg() {
        Backend::Postgres.run(|| live_body(""))
    }
}

#[test]
#[ignore = "needs node and chromium (a real browser): .ci/run installs them"]
fn read_only() {
    setup();
    let env = Env::init();
    let url = serve(&env, "", Some(TOKEN), &["--read-only"]);
    // The page opened with the token once (the server keeps it in a cookie for the page's
    // requests and streams).
    let spec = spec(&env, &format!("{url}?token={TOKEN}"));
    browse(&env, "readonly", spec.clone());
    let hold = spec["hold"].as_array().expect("hold ids");
    for id in hold {
        assert_eq!(env.status(id.as_str().expect("id")), "pending");
    }
}

/// What the browser tests would only find with hostile data in the right place, checked in
/// the page's text: no way to turn a string into markup or code, nothing loaded from
/// elsewhere, no inline event handler attribute (the server's CSP would block it anyway).
#[test]
fn page_builds_its_dom_from_text_only() {
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "<link",
        "@import",
        "<iframe",
    ] {
        assert!(!PAGE.contains(banned), "dashboard.html uses {banned:?}");
    }
    let style =
        &PAGE[PAGE.find("<style>").expect("<style>")..PAGE.find("</style>").expect("</style>")];
    assert!(!style.contains("url("), "the style loads something");
    let scripts: Vec<&str> = PAGE
        .match_indices("<script")
        .map(|(i, _)| &PAGE[i..])
        .collect();
    assert_eq!(scripts.len(), 1, "one inline script");
    assert!(scripts[0].starts_with("<script>"), "the script is inline");
    // The only absolute URL is the SVG namespace (a name, never fetched).
    let absolute: Vec<&str> = PAGE
        .match_indices("http")
        .map(|(i, _)| &PAGE[i..PAGE.len().min(i + 30)])
        .collect();
    assert_eq!(absolute, ["http://www.w3.org/2000/svg', t"], "{absolute:?}");
    // The markup without its comments and its script.
    let mut markup = PAGE.to_string();
    for (open, close) in [("<!--", "-->"), ("<script>", "</script>")] {
        while let Some(start) = markup.find(open) {
            let end = markup[start..].find(close).expect("closed") + start + close.len();
            markup.replace_range(start..end, "");
        }
    }
    let handler_attribute = markup
        .split('<')
        .filter_map(|tag| tag.split('>').next())
        .find(|tag| {
            tag.split_whitespace()
                .any(|w| w.starts_with("on") && w.contains('='))
        });
    assert_eq!(handler_attribute, None, "an inline event handler attribute");
}
