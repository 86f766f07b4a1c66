//! The worker's environment is never a run's fault: a dead supervisor, too few file
//! descriptors, cron's bare environment, and a handler flooding stderr. Each test runs the
//! real binary on a real database.

use crate::harness::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The pids whose parent is `parent` (from /proc/*/stat).
fn children_of(parent: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn statuses(env: &Env) -> Vec<String> {
    let conn = env.conn();
    let mut stmt = conn
        .prepare("SELECT status FROM durably_runs ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_dead_supervisor_stops_the_worker_and_leaves_runs_pending() {
    let env = Env::init();
    env.handler("job", "echo done");
    let h = env.handlers.to_str().unwrap().to_string();
    // A long poll: the runs below are enqueued before the worker looks for work again.
    let worker = env.spawn(&["work", "--poll", "2s", "--handlers", &h]);
    // Idle, the worker's only child is its supervisor.
    let supervisor = wait_for("the supervisor", || {
        let c = children_of(worker.id());
        (c.len() == 1).then(|| c[0])
    });
    // SAFETY: killing a process of this test's worker.
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    let ids: Vec<String> = (0..3).map(|_| env.enqueue_job("job", &[])).collect();
    let out = finish(worker);
    assert_eq!(out.code, 1, "{out:?}");
    // One line, and it says why.
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(errors[0].contains("supervisor process died"), "{out:?}");
    assert!(!out.stderr.contains("SIGPIPE"), "{out:?}");
    for id in &ids {
        assert_eq!(env.status(id), "pending", "{out:?}");
        assert_eq!(env.field(id, "lease_generation").as_deref(), Some("0"));
    }
}

#[test]
fn too_few_file_descriptors_give_runs_back_instead_of_failing_them() {
    let env = Env::init();
    env.handler("job", "echo done");
    let ids: Vec<String> = (0..3).map(|_| env.enqueue_job("job", &[])).collect();
    let h = env.handlers.to_str().unwrap().to_string();
    // Enough descriptors to open the database, too few for a handler's three pipes.
    let mut c = env.command(&["work", "--until-idle", "--handlers", &h]);
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -n 10 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(&args)
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => limited.env(k, v),
            None => limited.env_remove(k),
        };
    }
    c = limited;
    let out: crate::harness::Out = c.output().unwrap().into();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("Too many open files"), "{out:?}");
    assert!(out.stderr.contains("given back"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    let failed = statuses(&env).iter().filter(|s| *s == "failed").count();
    assert_eq!(failed, 0, "failed runs under ulimit -n 10: {out:?}");
    // Given back, the runs are claimable at once by a worker with enough descriptors.
    let out = env.run(&["work", "--until-idle", "--handlers", &h]);
    assert_eq!(out.code, 0, "{out:?}");
    for id in &ids {
        assert_eq!(env.status(id), "completed", "{out:?}");
    }
}

/// The command part of each line of README.md's ```cron block.
fn readme_cron_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = readme
        .split_once("```cron\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("README.md has a ```cron block");
    let mut commands = Vec::new();
    for line in block.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Five schedule fields, then the command (the rest of the line, as written).
        let mut rest = line;
        for _ in 0..5 {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest = &rest[end..];
        }
        commands.push(rest.trim().to_string());
    }
    commands
}

/// A run's status and output, read from the file.
fn status_and_output(conn: &rusqlite::Connection, id: &str) -> (String, Option<String>) {
    conn.query_row(
        "SELECT status, output FROM durably_runs WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn the_readme_cron_line_works_in_crons_environment() {
    let commands = readme_cron_commands();
    assert!(!commands.is_empty(), "no cron line in README.md");
    for command in commands {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        let bin_dir = home.join(".cargo/bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(BIN, bin_dir.join("durably")).unwrap();
        let jobs = home.join("jobs");
        std::fs::create_dir(&jobs).unwrap();
        script(
            &jobs.join("hello"),
            "set -e\ndurably step greet -- echo hi > /dev/null\necho '{\"greeted\": true}'",
        );
        let db = home.join("durably.db");
        let durably = |args: &[&str]| {
            let out = Command::new(BIN)
                .arg("--db")
                .arg(&db)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        durably(&["init"]);
        let id = durably(&["enqueue", "--job", "hello"]);
        let out: crate::harness::Out = Command::new("env")
            .arg("-i")
            .arg(format!("HOME={}", home.display()))
            .arg("PATH=/usr/bin:/bin")
            .args(["sh", "-c", &command])
            .current_dir(home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into();
        assert_eq!(out.code, 0, "{command}: {out:?}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let (status, output) = status_and_output(&conn, &id);
        assert_eq!(status, "completed", "{command}: {out:?}");
        assert_eq!(output.as_deref(), Some("{\"greeted\": true}"));
        let step: String = conn
            .query_row(
                "SELECT status FROM durably_steps WHERE run_id = ?1 AND name = 'greet'",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(step, "completed");
    }
}

/// Without any PATH (`env -i`, a bare service unit) a handler command is found as execvp(3)
/// finds it, in the system's default path, and the handler's own commands (`sh`, `cat`,
/// `durably log`) work: the run completes instead of staying pending behind "not found".
#[test]
fn a_worker_without_path_finds_programs_in_the_default_path() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("durably.db");
    let run = |args: &[&str]| -> crate::harness::Out {
        Command::new(BIN)
            .env_clear()
            .arg("--db")
            .arg(&db)
            .args(args)
            .current_dir(home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    };
    let id = run(&["enqueue", "--job", "hello", "--input", "{\"a\":1}"]);
    assert_eq!(id.code, 0, "{id:?}");
    let id = id.stdout.trim().to_string();
    let out = run(&[
        "work",
        "--once",
        "--",
        "sh",
        "-c",
        "durably log hello && cat",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (status, output) = status_and_output(&conn, &id);
    assert_eq!(status, "completed", "{out:?}");
    assert_eq!(output.as_deref(), Some("{\"a\":1}"));
}

/// Kills the worker when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The peak resident memory of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn a_stderr_flood_without_newlines_keeps_the_worker_small() {
    let env = Env::init();
    // 64 MiB of stderr without a newline from each of two handlers at once (prefixed lines).
    env.handler(
        "flood",
        "head -c 67108864 /dev/zero | tr '\\000' x >&2\necho done",
    );
    let ids: Vec<String> = (0..2).map(|_| env.enqueue_job("flood", &[])).collect();
    let h = env.handlers.to_str().unwrap().to_string();
    let mut c = env.command(&[
        "work",
        "--concurrency",
        "2",
        "--poll",
        "50ms",
        "--handlers",
        &h,
    ]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let worker = Killed(c.spawn().unwrap());
    wait_for("both runs to complete", || {
        ids.iter()
            .all(|id| env.status(id) == "completed")
            .then_some(())
    });
    let peak_mib = vm_hwm_kib(worker.0.id()) / 1024;
    // Far below the 128 MiB the two floods add up to: the line buffer is bounded.
    assert!(peak_mib < 48, "worker peak RSS {peak_mib} MiB");
    eprintln!("worker peak RSS under a 2 x 64 MiB stderr flood: {peak_mib} MiB");
}
