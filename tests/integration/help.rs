//! `--help` of every command and the one-line usage errors of the argument parser.

use crate::harness::*;

use clap::CommandFactory;

/// Every subcommand's name, from the same clap definition the binary uses, so a new command is
/// checked without touching this file. clap's own `help` subcommand is left out: its text is
/// clap's.
fn subcommands() -> Vec<String> {
    durably::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

fn help(args: &[&str]) -> String {
    let env = Env::new();
    let mut c = bare_command(env.dir.path());
    c.args(args);
    let out = run_command(c, None);
    out.ok();
    assert_eq!(out.stderr, "", "{args:?}: {out:#?}");
    out.stdout
}

/// The non-blank lines of the section under the line `heading`, up to the next heading (a line
/// that is not indented).
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn every_command_has_examples_and_global_options_once() {
    let subs = subcommands();
    assert!(subs.len() >= 16, "{subs:?}");
    let mut pages = vec![(vec![], "--help")];
    for sub in &subs {
        pages.push((vec![sub.as_str()], "--help"));
        pages.push((vec![sub.as_str()], "-h"));
    }
    for (sub, flag) in pages {
        let mut args = sub.clone();
        args.push(flag);
        let text = help(&args);
        let examples = section(&text, "Examples:");
        assert!(
            !examples.is_empty() && examples.iter().all(|l| l.contains("durably ")),
            "{args:?}: no examples: {text}"
        );
        if let Some(sub) = sub.first() {
            assert!(
                examples
                    .iter()
                    .any(|l| l.contains(&format!("durably {sub}"))),
                "{args:?}: no example of {sub}: {text}"
            );
        }
        assert_eq!(
            text.matches("Global options:").count(),
            1,
            "{args:?}: {text}"
        );
        let global = section(&text, "Global options:").join("\n");
        for option in ["--db <FILE>", "--busy-timeout <DUR>"] {
            assert_eq!(text.matches(option).count(), 1, "{args:?}: {text}");
            assert!(
                global.contains(option),
                "{args:?}: {option} not global: {text}"
            );
        }
        assert!(!text.contains("DURABLY_DB="), "{args:?}: {text}");
        assert!(!text.contains("DURABLY_HANDLERS="), "{args:?}: {text}");
        let has_version = text.contains("--version");
        assert_eq!(has_version, sub.is_empty(), "{args:?}: -V: {text}");
    }
}

#[test]
fn placeholders_are_the_common_ones() {
    for sub in subcommands() {
        let text = help(&[&sub, "--help"]);
        for odd in [
            "<CONCURRENCY>",
            "<LIMIT>",
            "<OFFSET>",
            "<K=V>",
            "<NAME>",
            "<PATH>",
            "<S>",
        ] {
            assert!(!text.contains(odd), "{sub}: {odd}: {text}");
        }
    }
    let ls = help(&["ls", "--help"]);
    for p in [
        "--label <KEY=VALUE>",
        "--job <JOB>",
        "--limit <N>",
        "--before <ID>",
    ] {
        assert!(ls.contains(p), "{p}: {ls}");
    }
    assert!(help(&["work", "--help"]).contains("--concurrency <N>"));
    assert!(help(&["show", "--help"]).contains("<ID>"));
}

#[test]
fn work_help_says_what_a_handler_gets_and_returns() {
    let text = help(&["work", "--help"]);
    for needle in [
        "stdin",
        "input JSON",
        "DURABLY_DB",
        "DURABLY_RUN_ID",
        "DURABLY_JOB",
        "DURABLY_LEASE_GENERATION",
        "DURABLY_LABELS",
        "exit 0",
        "stdout",
        "failed",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

/// Runs a command line that clap refuses: exit 2, nothing on stdout, one `durably:` line that
/// points to the right --help; returns that line.
#[track_caller]
fn usage_error(args: &[&str], help_of: &str) -> String {
    let env = Env::new();
    let out = env.run(args);
    out.fails(2, &format!("; see {help_of} --help"));
    assert!(!env.db.exists(), "a usage error created the database");
    out.stderr.trim_end().to_string()
}

#[test]
fn missing_argument_names_it() {
    let line = usage_error(&["show"], "durably show");
    assert!(line.contains("<ID>"), "{line}");
    assert!(line.starts_with("durably: show: "), "{line}");
    let line = usage_error(
        &["enqueue", "--job", "a", "--timeout", "3s"],
        "durably enqueue",
    );
    assert!(line.contains("--wait"), "{line}");
}

#[test]
fn invalid_value_lists_the_allowed_ones() {
    let line = usage_error(&["ls", "--format", "yaml"], "durably ls");
    assert_eq!(
        line,
        "durably: ls: invalid value \"yaml\" for --format (expected table, json, ndjson, ids); \
         see durably ls --help"
    );
    // An alias and global options before it still name the command.
    let line = usage_error(
        &["--busy-timeout", "1s", "list", "--format", "yaml"],
        "durably ls",
    );
    assert!(line.contains("table, json, ndjson, ids"), "{line}");
    let line = usage_error(&["completions", "tcsh"], "durably completions");
    assert!(
        line.contains("bash, elvish, fish, powershell, zsh"),
        "{line}"
    );
    let line = usage_error(&["enqueue-many", "--chunk", "0"], "durably enqueue-many");
    assert!(line.contains("--chunk") && line.contains("\"0\""), "{line}");
}

#[test]
fn typo_suggests_the_real_flag_or_command() {
    let line = usage_error(&["ls", "--lable", "x=y"], "durably ls");
    assert!(line.contains("--lable"), "{line}");
    assert!(line.contains("did you mean --label?"), "{line}");
    let line = usage_error(&["lss"], "durably");
    assert!(line.contains("\"lss\"") && line.contains("ls"), "{line}");
}

#[test]
fn conflicts_name_both_flags() {
    let line = usage_error(&["ls", "--json", "--format", "ids"], "durably ls");
    assert!(
        line.contains("--json") && line.contains("--format"),
        "{line}"
    );
    let line = usage_error(&["rm", "abc", "--older-than", "1d"], "durably rm");
    assert!(
        line.contains("<ID> cannot be used with --older-than"),
        "{line}"
    );
    let line = usage_error(&["work", "--once", "--until-idle"], "durably work");
    assert!(
        line.contains("--once") && line.contains("--until-idle"),
        "{line}"
    );
}

#[test]
fn db_help_names_both_backends_and_the_variable() {
    for args in [&["--help"][..], &["ls", "--help"], &["work", "--help"]] {
        let text = help(args).split_whitespace().collect::<Vec<_>>().join(" ");
        let at = text.find("--db <FILE>").expect("--db in the help");
        let db = &text[at..(at + 200).min(text.len())];
        assert!(db.contains("SQLite file path"), "{args:?}: {db}");
        assert!(db.contains("postgres:// URL"), "{args:?}: {db}");
        assert!(db.contains("DURABLY_DB"), "{args:?}: {db}");
    }
}

#[test]
fn help_pipelines_into_xargs_take_every_run_not_a_page() {
    for sub in ["ls", "cancel"] {
        let text = help(&[sub, "--help"]);
        let pipes: Vec<&str> = text.lines().filter(|l| l.contains("| xargs")).collect();
        assert!(!pipes.is_empty(), "{sub}: {text}");
        for line in pipes {
            assert!(line.contains("ls --all "), "{sub}: {line}");
        }
    }
}
