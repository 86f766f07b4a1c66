-- $1 the names of this build's functions (src/store/pg/plans.rs): the functions of earlier
-- durably versions (the same stems, another hash of their definition) in the first schema of
-- the search_path that this role owns, as `DROP FUNCTION` names them (`durably init` drops
-- them; a worker of such a version still running sends its statements as text then).
SELECT p.oid::regprocedure::text
FROM pg_proc AS p
WHERE p.pronamespace = current_schema()::regnamespace
  AND p.proowner = current_user::regrole
  AND p.proname ~ '^durably_cli_(claim|claim_jobs|complete|fail)_[0-9a-f]{8}$'
  AND NOT (p.proname = ANY($1))
ORDER BY 1
