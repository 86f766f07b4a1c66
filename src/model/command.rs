//! Command runs (`durably enqueue -- CMD ARGS…`): a run whose input is the command line to
//! execute, `{"command": ["CMD", "ARG", …], "cwd": "/dir", "env": {"NAME": "VALUE"}}` (`env`
//! only when the user asked for variables with `--env`). A worker executes such a run only for
//! the jobs it was told to with `work --commands` (default job `cmd`): whoever can write the
//! database can write this input, so executing it is the worker operator's opt-in.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The job name of a command run unless `--job` says otherwise.
pub const DEFAULT_JOB: &str = "cmd";

/// A command line to execute: never through a shell (the user writes `sh -c` when they want
/// one), in `cwd`, with `env` added to the worker's environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub command: Vec<String>,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// Variables a command run may not carry: the database's password and the worker's own.
pub fn refused_variable(name: &str) -> bool {
    name == "PGPASSWORD" || name == "PGPASSFILE" || name.starts_with("DURABLY_")
}

/// Whether `name` is a portable environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Command {
    /// The run input that holds this command.
    pub fn to_input(&self) -> String {
        serde_json::to_string(self).expect("a command serializes")
    }

    /// The command held by a run's input, or why the input is not one.
    pub fn from_input(input: &str) -> Result<Command, String> {
        let c: Command = serde_json::from_str(input).map_err(|e| {
            format!("the input of a command run must be {{\"command\": [CMD, ARGS…], \"cwd\": DIR}}: {e}")
        })?;
        match c.command.first() {
            None => Err("the command of a command run is empty".into()),
            Some(cmd) if cmd.is_empty() => Err("the command of a command run is empty".into()),
            Some(_) if c.command.iter().any(|a| a.contains('\0')) => {
                Err("the command of a command run holds a NUL byte".into())
            }
            Some(_) if !c.cwd.starts_with('/') => {
                Err("the cwd of a command run must be an absolute path".into())
            }
            Some(_) => match c
                .env
                .keys()
                .find(|k| !valid_variable_name(k) || refused_variable(k))
            {
                Some(k) => Err(format!("a command run may not set the variable {k:?}")),
                None => Ok(c),
            },
        }
    }

    /// The command read from a run's input when it has this shape, for display.
    pub fn shown(input: &str) -> Option<Command> {
        if !input.trim_start().starts_with("{\"command\"") {
            return None;
        }
        Command::from_input(input).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let c = Command {
            command: vec!["sleep".into(), "5".into()],
            cwd: "/tmp".into(),
            env: BTreeMap::new(),
        };
        assert_eq!(c.to_input(), r#"{"command":["sleep","5"],"cwd":"/tmp"}"#);
        assert_eq!(Command::from_input(&c.to_input()).unwrap(), c);
        assert_eq!(Command::shown(&c.to_input()).unwrap(), c);
        assert!(Command::shown("{}").is_none());
        for bad in [
            r#"{"command":[],"cwd":"/"}"#,
            r#"{"command":[""],"cwd":"/"}"#,
            r#"{"command":["x"],"cwd":"rel"}"#,
            r#"{"command":["x"],"cwd":"/","env":{"PGPASSWORD":"p"}}"#,
            r#"{"command":["x"],"cwd":"/","env":{"A B":"p"}}"#,
            r#"{"command":["x"],"cwd":"/","other":1}"#,
            r#"{"command":"x","cwd":"/"}"#,
        ] {
            assert!(Command::from_input(bad).is_err(), "{bad}");
        }
        assert!(
            valid_variable_name("_A1") && !valid_variable_name("1A") && !valid_variable_name("")
        );
    }
}
