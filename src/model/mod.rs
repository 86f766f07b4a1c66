//! The data of durably, by concern:
//!
//! - [`run`]: the rows (runs, steps, logs), their statuses and their camelCase JSON shapes,
//!   which follow @coji/durably's `Run`, `StepRecord` and `Log` types;
//! - [`labels`]: label checks and their stored JSON text;
//! - [`spec`]: the run spec read by `enqueue`, and the flags that override it;
//! - [`held`]: held runs (`--at`, `--in`, `--after`): their hold and how they are shown;
//! - [`json`]: JSON checks, error text, and the lenient reading of stored JSON text;
//! - [`command`]: the input of a command run (`enqueue -- CMD`);
//! - [`pause`]: what a pause covers (the whole queue or a job) and its stored key;
//! - [`retry`]: retry policies and the backoff formula;
//! - [`text`]: storable text (NUL and invalid UTF-8 replaced) and the NUL check of user fields.
//!
//! Rows the CLI did not write are read leniently: any JSON in `labels`, NULL or invalid JSON in
//! `output`, unknown run and step statuses. Text that is not JSON is shown as a JSON string.

pub mod command;
pub mod held;
pub mod json;
pub mod labels;
pub mod pause;
pub mod retry;
pub mod run;
pub mod schedule;
pub mod spec;
pub mod text;

pub use json::{check_depth, json_or_null, json_or_string, validate_json, MAX_JSON_DEPTH};
pub use labels::{
    labels_json, merge_label, parse_label, parse_label_filter, validate_label_key,
    validate_label_value, validate_labels, Labels, MAX_LABEL_KEY_BYTES, MAX_LABEL_VALUE_BYTES,
};
pub use pause::{Pause, PauseScope};
pub use retry::{Attempt, FailureCause, RetryPolicy};
pub use run::{Disposition, Log, Run, RunDetails, RunStatus, Status, Step};
pub use spec::{RunSpec, SpecOverrides};
pub use text::{refuse_nul, storable, storable_bytes};

/// A new id: UUIDv7 text, ordered within this process.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
