-- ?1 since (inclusive). The server's /stats: completed and failed runs per minute of
-- completed_at (its first 16 characters, YYYY-MM-DDTHH:MM), two ranges of the library's
-- idx_durably_runs_status_completed.
SELECT substr(completed_at, 1, 16) AS minute, status, count(*)
FROM durably_runs
WHERE status IN ('completed', 'failed') AND completed_at >= ?1
GROUP BY minute, status
ORDER BY minute, status
