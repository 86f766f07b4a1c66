-- A write of sql/postgres/ kept as a PL/pgSQL function so that each session plans it once
-- (src/store/pg/plans.rs), returning how many rows it changed: @NAME@ carries a hash of this
-- text, @ARGS@ the parameter types ($1… in the body), @BODY@ the statement.
CREATE OR REPLACE FUNCTION @NAME@(@ARGS@) RETURNS int8
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $durably$
DECLARE changed int8;
BEGIN
@BODY@;
GET DIAGNOSTICS changed = ROW_COUNT;
RETURN changed;
END
$durably$
