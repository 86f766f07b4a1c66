-- Held runs that wait on a run which ended at or after ?1: a range of the library's
-- idx_durably_runs_status_completed per terminal status, joined to the waits on each.
SELECT DISTINCT w.run_id
FROM durably_runs r JOIN durably_cli_held_waits w ON w.waits_on = r.id
WHERE r.status IN ('completed', 'failed', 'cancelled') AND r.completed_at >= ?1
LIMIT ?2
