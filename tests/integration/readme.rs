//! The README's first commands run as written: the set-up command (after its `cargo build`)
//! and the whole tour, with `sh -e`, the built binary first on PATH, in a temporary HOME and
//! working directory.

use crate::harness::*;

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).expect("read README.md")
}

/// The first ```sh block after the heading `heading`.
fn sh_block(readme: &str, heading: &str) -> String {
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in README.md"))..];
    let start = section.find("```sh\n").expect("a ```sh block") + "```sh\n".len();
    let len = section[start..].find("```\n").expect("the block's end");
    section[start..start + len].to_string()
}

/// The set-up command without its `cargo build --release &&`, running the binary under test.
fn setup_command() -> String {
    const BUILD: &str = "cargo build --release && ";
    let block = sh_block(&readme(), "## Set up on a fresh machine");
    let line = block
        .lines()
        .find(|l| l.starts_with(BUILD))
        .expect("a line starting with `cargo build --release && `");
    let rest = &line[BUILD.len()..];
    assert!(rest.contains("./target/release/durably"), "{rest}");
    rest.replace("./target/release/durably", &format!("'{BIN}'"))
}

/// `sh -e -c SCRIPT` in `home` (also its working directory and TMPDIR), with the environment
/// of [`bare_command`] and a directory holding only `durably` (the binary under test) first on
/// PATH.
fn shell(home: &Path, script: &str) -> Out {
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let link = bin.join("durably");
    if !link.exists() {
        std::os::unix::fs::symlink(BIN, &link).expect("symlink durably");
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let mut c = Command::new("sh");
    c.arg("-e")
        .arg("-c")
        .arg(script)
        .current_dir(home)
        .env_remove("DURABLY_DB")
        .env_remove("DURABLY_HANDLERS")
        .env_remove("RUST_BACKTRACE")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("xdg"))
        .env("TMPDIR", home)
        .env("NO_COLOR", "1")
        .env("PATH", format!("{}:{path}", bin.display()));
    run_command(c, None)
}

/// `durably ls --format json` on the default database of `home`, in creation order.
fn default_runs(home: &Path) -> Vec<serde_json::Value> {
    let mut c = bare_command(home);
    c.args(["ls", "--format", "json"]);
    let out = run_command(c, None);
    out.ok();
    let mut runs = out.json().as_array().expect("an array").clone();
    runs.reverse();
    runs
}

#[test]
fn setup_command_runs_and_leaves_other_jobs_alone() {
    let home = tempfile::tempdir().expect("temp dir");
    // Someone's run already waiting in the default database.
    let mut c = bare_command(home.path());
    c.args([
        "enqueue",
        "--job",
        "send-invoices",
        "--input",
        r#"{"month":"2026-11"}"#,
    ]);
    let out = run_command(c, None);
    out.ok();
    let theirs = out.line().to_string();
    let before = default_runs(home.path());

    let out = shell(home.path(), &setup_command());
    out.ok();
    assert!(
        home.path().join("xdg/durably/durably.db").exists(),
        "the set-up command did not use the default database"
    );

    let runs = default_runs(home.path());
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[0], before[0], "the set-up command touched {theirs}");
    assert_eq!(runs[0]["status"], "pending");
    let ours = &runs[1];
    assert_eq!(ours["status"], "completed", "{ours:#}");
    assert_eq!(ours["output"], serde_json::json!({"name": "world"}));
    let id = ours["id"].as_str().expect("an id");
    let tail = &id[id.len() - 8..];
    assert!(
        out.stdout.contains(tail),
        "its ls does not show the run: {out:#?}"
    );
}

#[test]
fn tour_runs_verbatim_in_order() {
    let home = tempfile::tempdir().expect("temp dir");
    let tour = sh_block(&readme(), "## A two-minute tour");
    let out = shell(home.path(), &tour);
    out.ok();
    for bad in ["panicked", "command not found", "No such file"] {
        assert!(!out.stderr.contains(bad), "{bad}: {out:#?}");
    }
    // What the tour's comments say the commands print.
    for promised in [
        "\"disposition\": \"created\"",
        "\"disposition\": \"idempotent\"",
        "\"disposition\": \"coalesced\"",
        "exit 4",
        "{\"sent\":true}",
        "{\"rows\":1234}",
        "\nHELLO\n",
        "would delete 0 runs",
    ] {
        assert!(out.stdout.contains(promised), "{promised}: {out:#?}");
    }
    assert!(
        !home.path().join("xdg/durably/durably.db").exists(),
        "the tour touched the default database"
    );
}

#[test]
fn commands_table_lists_every_command() {
    use clap::CommandFactory;
    let readme = readme();
    let table = &readme[readme.find("| command |").expect("the commands table")..];
    let table = &table[..table.find("\n\n").expect("the table's end")];
    for sub in durably::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        assert!(
            table.contains(&format!("`{name}`")) || table.contains(&format!("`{name} ")),
            "README's commands table does not list {name}"
        );
    }
}
