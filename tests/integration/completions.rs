//! The checked-in completion scripts in completions/ must be what the binary prints today.

use crate::harness::*;
use std::path::Path;

const SCRIPTS: [(&str, &str); 3] = [
    ("bash", "completions/durably.bash"),
    ("zsh", "completions/_durably"),
    ("fish", "completions/durably.fish"),
];

const REGENERATE: &str = "regenerate with: cargo build && for s in bash zsh fish; do \
    f=$(case $s in bash) echo durably.bash;; zsh) echo _durably;; fish) echo durably.fish;; esac); \
    ./target/debug/durably completions $s > completions/$f; done \
    (or run: DURABLY_UPDATE_COMPLETIONS=1 cargo test --test integration completions::)";

#[test]
fn checked_in_completions_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = Env::new();
    let update = std::env::var_os("DURABLY_UPDATE_COMPLETIONS").is_some();
    let mut stale = Vec::new();
    for (shell, file) in SCRIPTS {
        let out = env.run(&["completions", shell]);
        out.ok();
        assert!(
            out.stdout.contains("durably"),
            "{shell} script looks empty: {out:#?}"
        );
        let path = root.join(file);
        if update {
            std::fs::write(&path, &out.stdout).expect("write completion script");
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != out.stdout {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale completion scripts {stale:?}: {REGENERATE}"
    );
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let env = Env::new();
    env.run(&["completions", "tcsh"]).fails(2, "tcsh");
}

both! {
    fn dynamic_completion_offers_run_ids_and_job_names_from_the_database() {
        let env = Env::init();
        let a = env.enqueue(&["--job", "email"]);
        let b = env.enqueue(&["--job", "resize"]);
        let complete = |line: &[&str]| {
            let mut c = bare_command(env.dir.path());
            c.env("DURABLY_COMPLETE", "fish").arg("--").arg("durably");
            let db = env.db_arg();
            c.args(["--db", db.as_str()]).args(line);
            let out = run_command(c, None);
            out.ok();
            out.stdout.clone()
        };
        // The registration script calls durably back.
        let mut c = bare_command(env.dir.path());
        c.env("DURABLY_COMPLETE", "bash");
        let script = run_command(c, None);
        assert!(script.ok().stdout.contains("DURABLY_COMPLETE"), "{script:?}");
        // Ids of the line's database, filtered by what is typed.
        let ids = complete(&["show", ""]);
        assert!(ids.contains(&a) && ids.contains(&b), "{ids}");
        let typed = &b[..b.len() - 2];
        assert!(complete(&["cancel", typed]).contains(&b));
        assert!(!complete(&["show", "zzz"]).contains(&a));
        // Job names for --job.
        let jobs = complete(&["ls", "--job", "re"]);
        assert!(jobs.contains("resize") && !jobs.contains("email"), "{jobs}");
        // A database that cannot be opened completes nothing, quietly.
        let mut c = bare_command(env.dir.path());
        c.env("DURABLY_COMPLETE", "fish")
            .args(["--", "durably", "--db", "/nonexistent/x.db", "show", ""]);
        let out = run_command(c, None);
        out.ok();
        assert!(out.stdout.lines().all(|l| l.starts_with("--")), "only flags: {out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
    }
}
