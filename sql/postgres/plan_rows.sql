-- A claim of sql/postgres/ kept as a PL/pgSQL function so that each session plans it once
-- (src/store/pg/plans.rs): @NAME@ carries a hash of this text, so another version of the
-- statement is another function. @ARGS@ the parameter types ($1… in the body; $3 is how many
-- runs at most), @COLUMNS@ the columns of its rows. @BRANCHES@ is the statement once for each
-- small $3 (`WHEN 1 THEN RETURN QUERY … LIMIT 1 …;`): with the LIMIT written in, the plan
-- PostgreSQL keeps reads one index range up to it (with LIMIT $3 the kept plan would assume a
-- tenth of the table and could sort every pending run:
-- postgres::the_kept_claim_plan_reads_one_index_range_up_to_its_limit). A larger $3 runs the
-- statement planned for its values (@BODY@, EXECUTE … USING @USING@). Sorts are ruled out where an
-- index gives the order: whatever the statistics say (none yet on a queue just filled, or a
-- count of pending runs taken while the queue was empty), the pending runs are read in the
-- order of idx_durably_runs_pending_created_id up to the LIMIT, never all of them sorted. A sort
-- that cannot be avoided (the few runs picked) then costs as much as a disabled plan, which would
-- have the plan compiled by JIT at every call (a second each): jit is off for it.
CREATE OR REPLACE FUNCTION @NAME@(@ARGS@) RETURNS TABLE (@COLUMNS@)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET enable_sort = off SET enable_incremental_sort = off SET jit = off
AS $durably$
BEGIN
CASE $3
@BRANCHES@
ELSE RETURN QUERY EXECUTE $statement$
@BODY@
$statement$ USING @USING@;
END CASE;
END
$durably$
