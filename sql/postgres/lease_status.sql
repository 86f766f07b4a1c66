-- $1 id: the status and generation of a run.
SELECT status, lease_generation::int8 FROM durably_runs WHERE id = $1
