-- The consolidated v1 schema of @coji/durably 0.15.0 (the library's own: tests/fixtures/).
-- Shipped: never edit this file; a later schema is a new file.
CREATE TABLE "durably_runs" ("id" text primary key, "job_name" text not null, "input" text not null, "status" text not null, "idempotency_key" text, "concurrency_key" text, "labels" text default '{}' not null, "current_step_index" integer default 0 not null, "completed_step_count" integer default 0 not null, "progress" text, "output" text, "error" text, "lease_owner" text, "lease_expires_at" text, "lease_generation" integer default 0 not null, "started_at" text, "completed_at" text, "created_at" text not null, "updated_at" text not null);
CREATE TABLE "durably_run_labels" ("run_id" text not null, "key" text not null, "value" text not null);
CREATE TABLE "durably_steps" ("id" text primary key, "run_id" text not null, "name" text not null, "index" integer not null, "status" text not null, "output" text, "error" text, "started_at" text not null, "completed_at" text);
CREATE TABLE "durably_logs" ("id" text primary key, "run_id" text not null, "step_name" text, "level" text not null, "message" text not null, "data" text, "created_at" text not null);
CREATE TABLE "durably_schema_versions" ("version" integer primary key, "applied_at" text not null);
CREATE INDEX "idx_durably_runs_job_created" on "durably_runs" ("job_name", "created_at");
CREATE UNIQUE INDEX "idx_durably_runs_job_idempotency" on "durably_runs" ("job_name", "idempotency_key");
CREATE UNIQUE INDEX idx_durably_runs_pending_concurrency ON durably_runs (job_name, concurrency_key) WHERE status = 'pending' AND concurrency_key IS NOT NULL;
CREATE INDEX "idx_durably_runs_status_completed" on "durably_runs" ("status", "completed_at");
CREATE INDEX "idx_durably_runs_status_concurrency" on "durably_runs" ("status", "concurrency_key");
CREATE INDEX "idx_durably_runs_status_created" on "durably_runs" ("status", "created_at");
CREATE INDEX "idx_durably_runs_status_lease_expires" on "durably_runs" ("status", "lease_expires_at");
CREATE INDEX "idx_durably_run_labels_key_value" on "durably_run_labels" ("key", "value");
CREATE UNIQUE INDEX "idx_durably_run_labels_pk" on "durably_run_labels" ("run_id", "key");
CREATE INDEX "idx_durably_steps_run_index" on "durably_steps" ("run_id", "index");
CREATE UNIQUE INDEX idx_durably_steps_completed_unique ON durably_steps(run_id, name) WHERE status = 'completed';
CREATE INDEX "idx_durably_logs_run_created" on "durably_logs" ("run_id", "created_at");
