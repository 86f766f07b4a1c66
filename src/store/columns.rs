//! The column lists of the shared schema (@coji/durably's tables), in the order both backends'
//! row mappers read them (`sqlite::rows`, `pg::rows`).

/// The columns of `durably_runs`, in the order the row mappers read them.
pub const RUN_COLUMNS: &str = "id, job_name, input, status, idempotency_key, concurrency_key, \
labels, current_step_index, completed_step_count, progress, output, error, lease_owner, \
lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at";

/// The columns of `durably_steps`, in the order the row mappers read them.
pub const STEP_COLUMNS: &str =
    "id, run_id, name, \"index\", status, output, error, started_at, completed_at";

/// The columns of `durably_logs`, in the order the row mappers read them.
pub const LOG_COLUMNS: &str = "id, run_id, step_name, level, message, data, created_at";
