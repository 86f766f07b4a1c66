#!/bin/sh
# Worker throughput on PostgreSQL (and a SQLite file beside it), issue 19: N runs enqueued,
# then P worker processes of `work --until-idle --concurrency C -- true` drain them.
# Prints one line: backend P C runs wall_s runs_per_s commits_per_run (PostgreSQL only),
# the workers' CPU (user + sys, their handlers included, by /usr/bin/time) in ms a run, and
# the machine's idle share during the drain (from /proc/stat: near 0 means CPU-bound, and then
# more slots cannot help).
#
#   bench/pg-scale.sh BIN pg|sqlite P C N [SERVER_URL]
#
# HANDLER (default `true`) is the handler's command line, split on spaces: HANDLER='sleep 0.05'
# measures 50 ms runs, where throughput should grow with slots and processes whatever the CPU.
#
# SERVER_URL (default postgres://durably@127.0.0.1:55432) must allow CREATE DATABASE; each
# measurement gets a fresh database (dropped after) or a fresh file.
set -eu
bin=$1 backend=$2 procs=$3 conc=$4 runs=$5
server=${6:-postgres://durably@127.0.0.1:55432}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$backend" = pg ]; then
  name="pgscale_$$_$(date +%s%N)"
  psql -qAt "$server/postgres" -c "CREATE DATABASE $name" >/dev/null
  db="$server/$name"
else
  db="$tmp/bench.db"
fi
"$bin" --db "$db" init >/dev/null 2>&1
i=0
while [ $i -lt "$runs" ]; do echo '{"job":"noop","input":{}}'; i=$((i + 1)); done > "$tmp/specs"
"$bin" --db "$db" enqueue-many -q "$tmp/specs" >/dev/null 2>&1
commits() {
  psql -qAt "$server/postgres" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$name'"
}
[ "$backend" = pg ] && { psql -qAt "$server/postgres" -c "SELECT pg_stat_clear_snapshot()" >/dev/null; c0=$(commits); }
idle() { awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# The P workers, waited for by one shell, so that /usr/bin/time counts them and their handlers.
drain='p=0
while [ $p -lt "$procs" ]; do
  "$bin" --db "$db" work --until-idle --concurrency "$conc" -- $handler >/dev/null 2>"$tmp/err$p" &
  p=$((p + 1))
done
wait'
handler=${HANDLER:-true}
export bin db procs conc tmp handler
i0=$(idle)
t0=$(date +%s%N)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%U %S' -o "$tmp/cpu" sh -c "$drain"
else
  sh -c "$drain"
fi
t1=$(date +%s%N)
i1=$(idle)
cpu=-
[ -s "$tmp/cpu" ] && cpu=$(awk -v n="$runs" '{printf "%.2f", ($1 + $2) * 1000 / n}' "$tmp/cpu")
idle_share=$(echo "$i0 $i1" | awk '{ if ($4 > $2) printf "%.0f%%", ($3 - $1) * 100 / ($4 - $2); else print "-" }')
done_runs=$("$bin" --db "$db" stats --json 2>/dev/null | tr -d ' \n' | grep -o '"completed":[0-9]*' | head -1 | cut -d: -f2 || true)
cpr=-
if [ "$backend" = pg ]; then
  sleep 0.6 # the statistics collector flushes every 500 ms
  c1=$(commits)
  cpr=$(echo "scale=2; ($c1 - $c0) / $runs" | bc)
  psql -qAt "$server/postgres" -c "DROP DATABASE $name WITH (FORCE)" >/dev/null
fi
wall=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
rate=$(echo "scale=0; $runs / $wall" | bc)
echo "$backend procs=$procs conc=$conc runs=$runs completed=${done_runs:-?} wall=${wall}s runs/s=$rate commits/run=$cpr worker_cpu_ms/run=$cpu idle=$idle_share"
