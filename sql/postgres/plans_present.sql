-- $1 the names of this build's functions (src/store/pg/plans.rs): how many of them the first
-- schema of the search_path has.
SELECT count(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace AND proname = ANY($1)
