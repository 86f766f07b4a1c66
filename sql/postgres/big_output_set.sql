-- $1 id, $2 generation: the run this transaction has just completed (lease_complete.sql with
-- a NULL output) gets the output that COPY put into durably_cli_output.
UPDATE durably_runs
SET output = (SELECT v FROM durably_cli_output)
WHERE id = $1 AND status = 'completed' AND lease_generation = $2::int8
