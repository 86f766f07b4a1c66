#!/bin/sh
# CPU a run, on a loaded machine where runs/s says little (issue 19): N no-op runs drained by
# one `work --concurrency C -- true` (a daemon, so that its server connections are still
# there to be read when the runs are done), then the CPU of the worker (its handlers
# included) and of its PostgreSQL backends, from /proc, in microseconds a run; the server's
# commits a run; and the wall time for the record. The server must run on this machine.
#
#   bench/pg-cpu.sh BIN C N [SERVER_URL]
set -eu
bin=$1 conc=$2 runs=$3
server=${4:-postgres://durably@127.0.0.1:55432}
tmp=$(mktemp -d)
name="pgcpu_$$_$(date +%s%N)"
trap 'kill $worker 2>/dev/null || true; rm -rf "$tmp"; psql -qAt "$server/postgres" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null' EXIT
psql -qAt "$server/postgres" -c "CREATE DATABASE $name" >/dev/null
db="$server/$name"
"$bin" --db "$db" init >/dev/null 2>&1
i=0
while [ $i -lt "$runs" ]; do echo '{"job":"noop","input":{}}'; i=$((i + 1)); done > "$tmp/specs"
"$bin" --db "$db" enqueue-many -q "$tmp/specs" >/dev/null 2>&1
q() { psql -qAt "$server/$name" -c "$1"; }
commits() { psql -qAt "$server/postgres" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$name'"; }
sleep 0.6
c0=$(commits)
t0=$(date +%s%N)
"$bin" --db "$db" work --concurrency "$conc" --poll 50ms -- true >/dev/null 2>"$tmp/err" &
worker=$!
while [ "$(q "SELECT count(*) FROM durably_runs WHERE status = 'completed'")" -lt "$runs" ]; do sleep 0.05; done
t1=$(date +%s%N)
# clock ticks (utime + stime; the worker's reaped children too) of the worker and of its backends
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
w=$(ticks $worker)
s=0
for pid in $(q "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); do
  s=$((s + $(ticks "$pid")))
done
kill $worker; wait $worker 2>/dev/null || true
sleep 0.6
c1=$(commits)
hz=$(getconf CLK_TCK)
echo "conc=$conc runs=$runs wall=$(echo "scale=2; ($t1 - $t0) / 1000000000" | bc)s worker_us/run=$((w * 1000000 / hz / runs)) server_us/run=$((s * 1000000 / hz / runs)) commits/run=$(echo "scale=2; ($c1 - $c0) / $runs" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
