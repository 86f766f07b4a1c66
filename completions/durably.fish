# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_durably_global_optspecs
    string join \n db= busy-timeout= max-db-size= color= local h/help V/version
end

function __fish_durably_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_durably_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_durably_using_subcommand
    set -l cmd (__fish_durably_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c durably -n "__fish_durably_needs_command" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_needs_command" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_needs_command" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_needs_command" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_needs_command" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_needs_command" -s V -l version -d 'Print version'
complete -c durably -n "__fish_durably_needs_command" -f -a "init" -d 'Create the schema (idempotent); with --wal also switch the file to WAL mode'
complete -c durably -n "__fish_durably_needs_command" -f -a "enqueue" -d 'Enqueue one run from a JSON spec (FILE or -) and/or flags; prints its id'
complete -c durably -n "__fish_durably_needs_command" -f -a "enqueue-many" -d 'Enqueue many runs from NDJSON or a JSON array, all or nothing'
complete -c durably -n "__fish_durably_needs_command" -f -a "ls" -d 'List runs, newest first (the table\'s IDs are handles: unique id tails)'
complete -c durably -n "__fish_durably_needs_command" -f -a "list" -d 'List runs, newest first (the table\'s IDs are handles: unique id tails)'
complete -c durably -n "__fish_durably_needs_command" -f -a "show" -d 'Show one run with its steps and logs'
complete -c durably -n "__fish_durably_needs_command" -f -a "rm" -d 'Delete runs by id, or purge old terminal runs'
complete -c durably -n "__fish_durably_needs_command" -f -a "cancel" -d 'Cancel pending, leased or held (scheduled, waiting) runs'
complete -c durably -n "__fish_durably_needs_command" -f -a "retrigger" -d 'Enqueue a terminal run again as a new pending run; prints the new id'
complete -c durably -n "__fish_durably_needs_command" -f -a "stats" -d 'Count runs by status and job'
complete -c durably -n "__fish_durably_needs_command" -f -a "pause" -d 'Stop CLI workers from claiming runs of a job (--job), or of every job'
complete -c durably -n "__fish_durably_needs_command" -f -a "resume" -d 'Lift pauses: of the jobs named by --job, of the whole queue (no --job), or all (--all)'
complete -c durably -n "__fish_durably_needs_command" -f -a "paused" -d 'List what is paused (the whole queue, jobs) and since when'
complete -c durably -n "__fish_durably_needs_command" -f -a "schedule" -d 'Runs enqueued by the clock (a cron expression in a time zone, or every DUR): `durably work` materialises each due slot into one run'
complete -c durably -n "__fish_durably_needs_command" -f -a "wait" -d 'Wait until a run is terminal and print its output'
complete -c durably -n "__fish_durably_needs_command" -f -a "work" -d 'Execute runs with handler programs'
complete -c durably -n "__fish_durably_needs_command" -f -a "logs" -d 'Show a run\'s logs'
complete -c durably -n "__fish_durably_needs_command" -f -a "follow" -d 'Print a run\'s logs as they are written until it ends (`logs --follow`): a command run\'s stdout and stderr, a handler\'s stderr and `durably log` lines'
complete -c durably -n "__fish_durably_needs_command" -f -a "step" -d '(inside a handler) Run CMD once per run as a named step; a run executed again replays it'
complete -c durably -n "__fish_durably_needs_command" -f -a "progress" -d '(inside a handler) Report progress of the current run'
complete -c durably -n "__fish_durably_needs_command" -f -a "log" -d '(inside a handler) Write a log line for the current run'
complete -c durably -n "__fish_durably_needs_command" -f -a "serve" -d 'Serve @coji/durably\'s HTTP API and a dashboard over the database'
complete -c durably -n "__fish_durably_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c durably -n "__fish_durably_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c durably -n "__fish_durably_using_subcommand init" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand init" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand init" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand init" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand init" -l wal -d 'Switch the database to WAL journal mode (readers never block the writer)'
complete -c durably -n "__fish_durably_using_subcommand init" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l job -d 'Job name (overrides the spec\'s "job")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -s l -l label -d 'Label KEY=VALUE, repeatable (merged with the spec\'s labels; flags win)' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l at -d 'Hold the run until TIME: RFC 3339 with an offset or Z (2026-12-24T18:00:00+01:00), or YYYY-MM-DD HH:MM[:SS] in the local time zone (TZ, else /etc/localtime); a time past is due at once (spec field "at")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l in -d 'Hold the run for DUR from now by the database\'s clock, e.g. 90s, 5m, 2h, 1d (spec field "in")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l after -d 'Hold the run until every run ID names has completed (repeatable, or several IDs); one that fails, is cancelled or is deleted cancels this run (spec field "after")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l input -d 'Input as JSON text (overrides the spec\'s "input"; default {})' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l idempotency-key -d 'Return the existing run of this job with this key instead of creating another' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l concurrency-key -d 'At most one pending run per job and key; a second one is a conflict (exit 4)' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l retries -d 'When a CLI worker\'s handler fails the run, try again up to N more times, each a new run held until its backoff has passed (the library\'s workers never retry)' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l backoff -d 'With --retries: the first delay; each next one doubles, ±10 % [default: 10s]' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l backoff-max -d 'With --retries: the longest delay [default: 1h]' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l retry-on -d 'With --retries: retry only these exit codes (e.g. 75,111); default: every failure' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l timeout -d 'With --wait: give up after DUR (exit 124)' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -s e -l env -d 'With -- CMD: store variable NAME (its value here) or NAME=VALUE for the command (repeatable; nothing of the environment is stored otherwise)' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l after-any -d 'With --after: release when every run waited on has ended, however (spec field "afterAny")'
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l coalesce -d 'With --concurrency-key: return the pending run instead of a conflict'
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l wait -d 'Then wait until the run is terminal (id on stderr, output on stdout)'
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l json -d 'Print the run as JSON with its disposition'
complete -c durably -n "__fish_durably_using_subcommand enqueue" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand enqueue" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l job -d 'Job name (overrides the spec\'s "job")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -s l -l label -d 'Label KEY=VALUE, repeatable (merged with the spec\'s labels; flags win)' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l at -d 'Hold the run until TIME: RFC 3339 with an offset or Z (2026-12-24T18:00:00+01:00), or YYYY-MM-DD HH:MM[:SS] in the local time zone (TZ, else /etc/localtime); a time past is due at once (spec field "at")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l in -d 'Hold the run for DUR from now by the database\'s clock, e.g. 90s, 5m, 2h, 1d (spec field "in")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l after -d 'Hold the run until every run ID names has completed (repeatable, or several IDs); one that fails, is cancelled or is deleted cancels this run (spec field "after")' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l chunk -d 'Commit every N runs (each chunk all or nothing) instead of once for the whole input' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l after-any -d 'With --after: release when every run waited on has ended, however (spec field "afterAny")'
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -s q -l quiet -d 'Print nothing but errors and the summary'
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l json -d 'Print one JSON object per run (id, jobName, disposition, line)'
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand enqueue-many" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand ls" -s l -l label -d 'Only runs with this label (exact match; repeat to AND)' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -s s -l status -d 'Only runs in this status (repeat for any of several); scheduled and waiting are held runs (enqueue --at/--in, --after), listed above the page' -r -f -a "pending\t''
leased\t''
completed\t''
failed\t''
cancelled\t''
scheduled\t''
waiting\t''"
complete -c durably -n "__fish_durably_using_subcommand ls" -s j -l job -d 'Only runs of this job (repeat for any of several)' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -s n -l limit -d 'Page size (a cut page says so: the footer, or a line on stderr)' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -l offset -d 'Skip N runs (linear in N: prefer --before for deep paging)' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -l before -d 'Only runs older than this run, by id or handle (next page: pass the last id of this one)' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -l format -d 'Output format' -r -f -a "table\t''
json\t''
ndjson\t''
ids\t''"
complete -c durably -n "__fish_durably_using_subcommand ls" -l watch -d 'Redraw the table every DUR (default 2s) until Ctrl-C; needs a terminal' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand ls" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand ls" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand ls" -l all -d 'Every matching run, read page by page (memory stays flat)'
complete -c durably -n "__fish_durably_using_subcommand ls" -l json -d 'Same as --format json'
complete -c durably -n "__fish_durably_using_subcommand ls" -l explain -d 'Print the query plan instead of runs'
complete -c durably -n "__fish_durably_using_subcommand ls" -l latest -d 'Only the latest attempt of each retry chain (`enqueue --retries`): runs a retry followed are left out'
complete -c durably -n "__fish_durably_using_subcommand ls" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand list" -s l -l label -d 'Only runs with this label (exact match; repeat to AND)' -r
complete -c durably -n "__fish_durably_using_subcommand list" -s s -l status -d 'Only runs in this status (repeat for any of several); scheduled and waiting are held runs (enqueue --at/--in, --after), listed above the page' -r -f -a "pending\t''
leased\t''
completed\t''
failed\t''
cancelled\t''
scheduled\t''
waiting\t''"
complete -c durably -n "__fish_durably_using_subcommand list" -s j -l job -d 'Only runs of this job (repeat for any of several)' -r
complete -c durably -n "__fish_durably_using_subcommand list" -s n -l limit -d 'Page size (a cut page says so: the footer, or a line on stderr)' -r
complete -c durably -n "__fish_durably_using_subcommand list" -l offset -d 'Skip N runs (linear in N: prefer --before for deep paging)' -r
complete -c durably -n "__fish_durably_using_subcommand list" -l before -d 'Only runs older than this run, by id or handle (next page: pass the last id of this one)' -r
complete -c durably -n "__fish_durably_using_subcommand list" -l format -d 'Output format' -r -f -a "table\t''
json\t''
ndjson\t''
ids\t''"
complete -c durably -n "__fish_durably_using_subcommand list" -l watch -d 'Redraw the table every DUR (default 2s) until Ctrl-C; needs a terminal' -r
complete -c durably -n "__fish_durably_using_subcommand list" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand list" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand list" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand list" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand list" -l all -d 'Every matching run, read page by page (memory stays flat)'
complete -c durably -n "__fish_durably_using_subcommand list" -l json -d 'Same as --format json'
complete -c durably -n "__fish_durably_using_subcommand list" -l explain -d 'Print the query plan instead of runs'
complete -c durably -n "__fish_durably_using_subcommand list" -l latest -d 'Only the latest attempt of each retry chain (`enqueue --retries`): runs a retry followed are left out'
complete -c durably -n "__fish_durably_using_subcommand list" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand show" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand show" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand show" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand show" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand show" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand show" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand rm" -l older-than -d 'Purge terminal runs that completed more than DUR ago (e.g. 7d, 12h, 0s)' -r
complete -c durably -n "__fish_durably_using_subcommand rm" -s s -l status -d 'With --older-than: only these terminal statuses' -r -f -a "completed\t''
failed\t''
cancelled\t''"
complete -c durably -n "__fish_durably_using_subcommand rm" -s l -l label -d 'With --older-than: only runs with this label (repeat to AND)' -r
complete -c durably -n "__fish_durably_using_subcommand rm" -s j -l job -d 'With --older-than: only runs of this job (repeatable)' -r
complete -c durably -n "__fish_durably_using_subcommand rm" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand rm" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand rm" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand rm" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand rm" -l force -d 'Also delete pending, leased and held (scheduled, waiting) runs (explicit ids only)'
complete -c durably -n "__fish_durably_using_subcommand rm" -l dry-run -d 'With --older-than: count what would be deleted, delete nothing'
complete -c durably -n "__fish_durably_using_subcommand rm" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand rm" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand cancel" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand cancel" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand cancel" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand cancel" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand cancel" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand cancel" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand cancel" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand retrigger" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand retrigger" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand retrigger" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand retrigger" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand retrigger" -l json -d 'Print the new run as JSON'
complete -c durably -n "__fish_durably_using_subcommand retrigger" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand retrigger" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand stats" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand stats" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand stats" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand stats" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand stats" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand stats" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand pause" -s j -l job -d 'Pause this job (repeatable); without it, the whole queue' -r
complete -c durably -n "__fish_durably_using_subcommand pause" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand pause" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand pause" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand pause" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand pause" -l json -d 'Print one JSON object per scope (scope, job, paused: newly paused or already)'
complete -c durably -n "__fish_durably_using_subcommand pause" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand pause" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand resume" -s j -l job -d 'Resume this job (repeatable); without it (and without --all), the whole queue' -r
complete -c durably -n "__fish_durably_using_subcommand resume" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand resume" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand resume" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand resume" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand resume" -l all -d 'Lift every pause: the whole queue\'s and every job\'s'
complete -c durably -n "__fish_durably_using_subcommand resume" -l json -d 'Print one JSON object per scope (scope, job, resumed: whether it was paused)'
complete -c durably -n "__fish_durably_using_subcommand resume" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand resume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand paused" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand paused" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand paused" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand paused" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand paused" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand paused" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand paused" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "add" -d 'Add a schedule: from its next slot on, `durably work` enqueues one run per slot'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "ls" -d 'List schedules with their next firing times'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "list" -d 'List schedules with their next firing times'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "show" -d 'Show one schedule and its next firing times'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "rm" -d 'Delete a schedule (the runs it enqueued stay)'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "pause" -d 'Stop materialising a schedule\'s slots'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "resume" -d 'Materialise a paused schedule\'s slots again, from the first slot after now (slots that fell while it was paused are not caught up)'
complete -c durably -n "__fish_durably_using_subcommand schedule; and not __fish_seen_subcommand_from add ls list show rm pause resume help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l cron -d 'A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; @daily and the like too' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l every -d 'A slot every DUR (at least 1s), at multiples of DUR since 1970-01-01T00:00:00Z' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l tz -d 'The IANA time zone the cron expression is read in (DST handled by the tz database)' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l job -d 'The job of the runs' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l input -d 'The runs\' input as JSON text (default {})' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -s l -l label -d 'Label KEY=VALUE of the runs, repeatable' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l concurrency-key -d 'The runs\' concurrency key: a slot whose job still has a pending run with it adds none' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l catch-up -d 'Which slots missed while no worker ran become runs' -r -f -a "none\t'Skip them: only a slot at most 60s late is run'
last\t'One run, for the latest missed slot'
all\t'One run per missed slot (at most the latest 100)'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l retries -d 'Retry a failed run up to N more times (the runs\' retry policy)' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l backoff -d 'With --retries: the first backoff' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l backoff-max -d 'With --retries: the longest backoff' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l retry-on -d 'With --retries: retry only these exit codes (comma-separated)' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l json -d 'Print the schedule as JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -l json -d 'Print JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -l json -d 'Print the schedule as JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -l json -d 'Print the schedule as JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -l json -d 'Print the schedule as JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -l json -d 'Print the schedule as JSON'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a schedule: from its next slot on, `durably work` enqueues one run per slot'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List schedules with their next firing times'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one schedule and its next firing times'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete a schedule (the runs it enqueued stay)'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Stop materialising a schedule\'s slots'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Materialise a paused schedule\'s slots again, from the first slot after now (slots that fell while it was paused are not caught up)'
complete -c durably -n "__fish_durably_using_subcommand schedule; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c durably -n "__fish_durably_using_subcommand wait" -l timeout -d 'Give up after DUR (exit 124)' -r
complete -c durably -n "__fish_durably_using_subcommand wait" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand wait" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand wait" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand wait" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand wait" -l json -d 'Print the whole run as JSON instead of its output'
complete -c durably -n "__fish_durably_using_subcommand wait" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand work" -s c -l concurrency -d 'Handlers to run at once' -r
complete -c durably -n "__fish_durably_using_subcommand work" -s j -l job -d 'Only claim runs of this job (repeatable)' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l lease -d 'Lease length; renewed every 5s or a third of it, whichever is shorter (nothing is claimed while renewals fail)' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l poll -d 'How often an idle worker looks for runs' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l timeout -d 'Kill a handler that runs longer than DUR and fail its run' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l max-runs -d 'Exit after this many runs' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l retain -d 'While idle, purge terminal runs that completed more than DUR ago' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l max-lease-expiries -d 'Fail a run claimed N times without a result (its worker crashed or was killed each time: a crash loop) instead of executing it again; 0: never. The library\'s workers reclaim such a run forever' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l handlers -d 'Directory of handlers: a run of job J is executed by DIR/J' -r -F
complete -c durably -n "__fish_durably_using_subcommand work" -l commands -d 'Also execute command runs (`durably enqueue -- CMD`) of job `cmd`, or of the jobs named (--commands=JOB,JOB). Opt-in: whoever can write the database chooses their commands' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l retries -d 'The default retry policy of this worker (one unit or cron line per handler directory carries its own): a run it fails that was enqueued without `--retries` is tried again up to N more times, each a new run held until its backoff has passed. A run\'s own policy always wins; 0: none' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l backoff -d 'With --retries: the first delay; each next one doubles, ±10 % [default: 10s]' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l backoff-max -d 'With --retries: the longest delay [default: 1h]' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l retry-on -d 'With --retries: retry only these exit codes (e.g. 75,111); default: every failure' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand work" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand work" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand work" -l once -d 'Claim at most one run, then exit (0 idle or completed, 5 failed, 6 cancelled)'
complete -c durably -n "__fish_durably_using_subcommand work" -l until-idle -d 'Exit when nothing is left to claim and nothing is running'
complete -c durably -n "__fish_durably_using_subcommand work" -l no-stderr-logs -d 'Do not keep handlers\' stderr lines as their runs\' logs (they still reach our stderr)'
complete -c durably -n "__fish_durably_using_subcommand work" -s v -l verbose -d 'One line on stderr per claimed and per ended run, and one when idle (for a journal)'
complete -c durably -n "__fish_durably_using_subcommand work" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand work" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand logs" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand logs" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand logs" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand logs" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand logs" -s f -l follow -d 'Keep printing new logs until the run is terminal'
complete -c durably -n "__fish_durably_using_subcommand logs" -l json -d 'Print one JSON object per log'
complete -c durably -n "__fish_durably_using_subcommand logs" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand follow" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand follow" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand follow" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand follow" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand follow" -l json -d 'Print one JSON object per log'
complete -c durably -n "__fish_durably_using_subcommand follow" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand follow" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand step" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand step" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand step" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand step" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand step" -l raw -d 'Print the output as text: a step whose output was text prints that text (not a JSON string); JSON output prints as stored. For `rows=$(durably step s --raw -- cmd)`'
complete -c durably -n "__fish_durably_using_subcommand step" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand step" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand progress" -l total -d 'Total amount of work' -r
complete -c durably -n "__fish_durably_using_subcommand progress" -l message -d 'What is happening now (bytes that are not UTF-8 are stored as U+FFFD)' -r
complete -c durably -n "__fish_durably_using_subcommand progress" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand progress" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand progress" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand progress" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand progress" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand progress" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand log" -l level -d 'Level' -r -f -a "info\t''
warn\t''
error\t''"
complete -c durably -n "__fish_durably_using_subcommand log" -l data -d 'Structured data as JSON text' -r
complete -c durably -n "__fish_durably_using_subcommand log" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand log" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand log" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand log" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand log" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand serve" -l bind -d 'Address and port to listen on (port 0: any free port, printed at start)' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l base-path -d 'Path prefix of every route, e.g. /api/durably' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l token -d 'Bearer token every request must carry (prefer DURABLY_TOKEN: arguments show in ps)' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l cors -d 'Answer CORS requests from this origin (e.g. https://app.example.com), repeatable' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l allow-host -d 'Accept this Host header name too (a reverse proxy\'s), repeatable' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l handlers -d 'Accept /trigger and /retrigger only for jobs with a handler in DIR (default: any job)' -r -F
complete -c durably -n "__fish_durably_using_subcommand serve" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand serve" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand serve" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand serve" -l read-only -d 'Refuse every writing route (trigger, retrigger, cancel, delete) with 403'
complete -c durably -n "__fish_durably_using_subcommand serve" -l insecure -d 'Allow a non-loopback --bind without a token'
complete -c durably -n "__fish_durably_using_subcommand serve" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand completions" -l db -d 'The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]' -r -F
complete -c durably -n "__fish_durably_using_subcommand completions" -l busy-timeout -d 'How long a writer waits for the database lock (on PostgreSQL also for a connection slot when the server is full) before giving up' -r
complete -c durably -n "__fish_durably_using_subcommand completions" -l max-db-size -d 'Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a runaway producer cannot fill a shared disk). A worker passes it on to its handlers. SQLite only' -r
complete -c durably -n "__fish_durably_using_subcommand completions" -l color -d 'Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)'
always\t'Also on a pipe, whatever NO_COLOR says'
never\t'Never'"
complete -c durably -n "__fish_durably_using_subcommand completions" -l local -d 'Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps the stored UTC text'
complete -c durably -n "__fish_durably_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "init" -d 'Create the schema (idempotent); with --wal also switch the file to WAL mode'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "enqueue" -d 'Enqueue one run from a JSON spec (FILE or -) and/or flags; prints its id'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "enqueue-many" -d 'Enqueue many runs from NDJSON or a JSON array, all or nothing'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "ls" -d 'List runs, newest first (the table\'s IDs are handles: unique id tails)'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "show" -d 'Show one run with its steps and logs'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "rm" -d 'Delete runs by id, or purge old terminal runs'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "cancel" -d 'Cancel pending, leased or held (scheduled, waiting) runs'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "retrigger" -d 'Enqueue a terminal run again as a new pending run; prints the new id'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "stats" -d 'Count runs by status and job'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "pause" -d 'Stop CLI workers from claiming runs of a job (--job), or of every job'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "resume" -d 'Lift pauses: of the jobs named by --job, of the whole queue (no --job), or all (--all)'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "paused" -d 'List what is paused (the whole queue, jobs) and since when'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "schedule" -d 'Runs enqueued by the clock (a cron expression in a time zone, or every DUR): `durably work` materialises each due slot into one run'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "wait" -d 'Wait until a run is terminal and print its output'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "work" -d 'Execute runs with handler programs'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "logs" -d 'Show a run\'s logs'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "follow" -d 'Print a run\'s logs as they are written until it ends (`logs --follow`): a command run\'s stdout and stderr, a handler\'s stderr and `durably log` lines'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "step" -d '(inside a handler) Run CMD once per run as a named step; a run executed again replays it'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "progress" -d '(inside a handler) Report progress of the current run'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "log" -d '(inside a handler) Write a log line for the current run'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "serve" -d 'Serve @coji/durably\'s HTTP API and a dashboard over the database'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c durably -n "__fish_durably_using_subcommand help; and not __fish_seen_subcommand_from init enqueue enqueue-many ls show rm cancel retrigger stats pause resume paused schedule wait work logs follow step progress log serve completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c durably -n "__fish_durably_using_subcommand help; and __fish_seen_subcommand_from schedule" -f -a "add" -d 'Add a schedule: from its next slot on, `durably work` enqueues one run per slot'
complete -c durably -n "__fish_durably_using_subcommand help; and __fish_seen_subcommand_from schedule" -f -a "ls" -d 'List schedules with their next firing times'
complete -c durably -n "__fish_durably_using_subcommand help; and __fish_seen_subcommand_from schedule" -f -a "show" -d 'Show one schedule and its next firing times'
complete -c durably -n "__fish_durably_using_subcommand help; and __fish_seen_subcommand_from schedule" -f -a "rm" -d 'Delete a schedule (the runs it enqueued stay)'
complete -c durably -n "__fish_durably_using_subcommand help; and __fish_seen_subcommand_from schedule" -f -a "pause" -d 'Stop materialising a schedule\'s slots'
complete -c durably -n "__fish_durably_using_subcommand help; and __fish_seen_subcommand_from schedule" -f -a "resume" -d 'Materialise a paused schedule\'s slots again, from the first slot after now (slots that fell while it was paused are not caught up)'
