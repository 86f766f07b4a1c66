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
