-- $1 the names of this build's functions (src/store/pg/plans.rs): how many of them the first
-- schema of the search_path has that this role owns (a function of that name someone else
-- created is never called: it would run with the worker's rights), that schema, which the
-- calls name, and whether it has the claim's partial index (sql/postgres/extra.sql; `durably
-- init` adds it to a database the library or an earlier durably created).
SELECT count(*) FILTER (WHERE p.proowner = current_user::regrole), current_schema()::text,
  to_regclass(quote_ident(current_schema()) || '.idx_durably_runs_pending_created_id') IS NOT NULL
FROM (SELECT 1) AS one
LEFT JOIN pg_proc AS p ON p.pronamespace = current_schema()::regnamespace AND p.proname = ANY($1)
