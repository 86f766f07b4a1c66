-- The short handles of a page (store/handles.rs, `IdLookup::ranges_taken`): for each range
-- [$1[i], $2[i]) of ids, byte-wise, whether a run other than $3[i] has its id in it. One seek
-- of idx_durably_runs_id_c per range (the LATERAL's LIMIT 1 keeps it a seek per range), all
-- in one statement: the numbers (from 1) of the ranges that hold an id.
SELECT r.n
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(lo, hi, except_id, n)
CROSS JOIN LATERAL (
    SELECT 1 FROM durably_runs
    WHERE id COLLATE "C" >= r.lo AND id COLLATE "C" < r.hi AND id <> r.except_id
    LIMIT 1
) AS hit
