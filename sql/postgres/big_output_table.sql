-- A private place for one large output on its way into durably_runs: COPY streams it here in
-- pieces, so the client never holds more than the output itself. Dropped at commit.
CREATE TEMP TABLE durably_cli_output (v text) ON COMMIT DROP
