COPY durably_cli_output (v) FROM STDIN (FORMAT binary)
