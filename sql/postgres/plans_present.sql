-- $1 the names of this build's functions (src/store/pg/plans.rs): how many of them the first
-- schema of the search_path has that this role owns (a function of that name someone else
-- created is never called: it would run with the worker's rights), and that schema, which
-- the calls name.
SELECT count(*) FILTER (WHERE p.proowner = current_user::regrole), current_schema()::text
FROM (SELECT 1) AS one
LEFT JOIN pg_proc AS p ON p.pronamespace = current_schema()::regnamespace AND p.proname = ANY($1)
