//! Pauses (issue 17, point 4): what `durably pause` keeps CLI workers from claiming — the
//! whole queue, or one job. Stored as one row per scope in `durably_cli_pauses`, the scope's
//! key `queue` or `job:NAME`, so that no job name (not even one called `queue`) can stand for
//! the whole queue. No I/O here.

use serde_json::{json, Value};

/// What a pause covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseScope {
    /// Every job.
    Queue,
    /// One job, by name.
    Job(String),
}

impl PauseScope {
    /// The stored key: `queue` or `job:NAME`.
    pub fn key(&self) -> String {
        match self {
            PauseScope::Queue => "queue".into(),
            PauseScope::Job(name) => format!("job:{name}"),
        }
    }

    /// The scope a stored key names; None for a key of another kind (a later version's).
    pub fn from_key(key: &str) -> Option<PauseScope> {
        match key {
            "queue" => Some(PauseScope::Queue),
            _ => key
                .strip_prefix("job:")
                .map(|name| PauseScope::Job(name.to_string())),
        }
    }

    /// "the whole queue" or "job NAME", for messages (the name not yet escaped).
    pub fn describe(&self) -> String {
        match self {
            PauseScope::Queue => "the whole queue".into(),
            PauseScope::Job(name) => format!("job {name}"),
        }
    }
}

/// A pause in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub scope: PauseScope,
    /// When it was paused (the library's timestamp text; the database's clock on PostgreSQL).
    pub paused_at: String,
}

impl Pause {
    /// `{"scope": "queue"|"job", "job": NAME|null, "pausedAt": …}`.
    pub fn to_json(&self) -> Value {
        let (scope, job) = match &self.scope {
            PauseScope::Queue => ("queue", None),
            PauseScope::Job(name) => ("job", Some(name.as_str())),
        };
        json!({"scope": scope, "job": job, "pausedAt": self.paused_at})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_collide() {
        for scope in [
            PauseScope::Queue,
            PauseScope::Job("queue".into()),
            PauseScope::Job("job:x".into()),
            PauseScope::Job("".into()),
        ] {
            assert_eq!(PauseScope::from_key(&scope.key()), Some(scope.clone()));
        }
        assert_ne!(
            PauseScope::Job("queue".into()).key(),
            PauseScope::Queue.key()
        );
        assert_eq!(PauseScope::from_key("other"), None);
    }
}
