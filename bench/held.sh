#!/bin/sh
# Issue 17's release benchmarks (BENCHMARKS.md, "Time and order (issue 17)"), release builds:
#  1. 100k due runs released vs the bulk enqueue of 100k runs, paired and interleaved per round,
#     on a SQLite file and (with DURABLY_TEST_PG set) on PostgreSQL: `enqueue-many` of plain
#     specs, against `enqueue-many` of the same specs with "at" in the past followed by the
#     release alone (`work --until-idle` with no handler for the job: it only releases), less
#     an idle worker's start and end on the same database just after (the same 100k pending
#     runs, which `--until-idle` counts at its end, and nothing held).
#  2. 1M held runs none due: the poll's read and a release with nothing due, in process
#     (examples/bench_held.rs), the held rows filled with SQL.
# Usage: bench/held.sh  (N=100000 HELD=1000000 ROUNDS=3; ROUNDS=0: only the poll, part 2)
set -eu
cd "$(dirname "$0")/.."
B=$PWD/target/release/durably
H=$PWD/target/release/examples/bench_held
OUT=$PWD/bench/out/held
N=${N:-100000}
HELD=${HELD:-1000000}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT/handlers"
printf '#!/bin/sh\necho ok\n' > "$OUT/handlers/other"
chmod +x "$OUT/handlers/other"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"job\":\"job\",\"input\":{\"n\":%d},\"labels\":{\"tenant\":\"t%d\",\"kind\":\"k\"}}\n", i, i % 10 }' > "$OUT/plain.ndjson"
sed 's/}$/,"at":"2000-01-01T00:00:00Z"}/' "$OUT/plain.ndjson" > "$OUT/held.ndjson"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

fresh() { # backend -> prints the --db value of a fresh, initialised database
  case $1 in
    sqlite) rm -f "$OUT/b.db" "$OUT/b.db-wal" "$OUT/b.db-shm"; echo "$OUT/b.db" ;;
    pg) psql -q "$DURABLY_TEST_PG" -c "DROP DATABASE IF EXISTS bench_held" -c "CREATE DATABASE bench_held" >/dev/null 2>&1
        echo "$DURABLY_TEST_PG" | sed 's#/[^/?]*\(?.*\)\{0,1\}$#/bench_held\1#' ;;
  esac
}

backends=sqlite
[ -n "${DURABLY_TEST_PG:-}" ] && backends="sqlite pg"
echo "load: $(uptime)"
for be in $backends; do
  for r in $(seq "$ROUNDS"); do
    db=$(fresh "$be"); "$B" --db "$db" init >/dev/null
    t0=$(now); "$B" --db "$db" enqueue-many -q "$OUT/plain.ndjson" >/dev/null 2>&1; t1=$(now)
    enq=$(secs "$t0" "$t1")
    db=$(fresh "$be"); "$B" --db "$db" init >/dev/null
    t0=$(now); "$B" --db "$db" enqueue-many -q "$OUT/held.ndjson" >/dev/null 2>&1; t1=$(now)
    held_enq=$(secs "$t0" "$t1")
    t0=$(now); "$B" --db "$db" work --until-idle --handlers "$OUT/handlers" >/dev/null 2>&1; t1=$(now)
    rel=$(secs "$t0" "$t1")
    t0=$(now); "$B" --db "$db" work --until-idle --handlers "$OUT/handlers" >/dev/null 2>&1; t1=$(now)
    idle=$(secs "$t0" "$t1")
    released=$("$B" --db "$db" ls --status pending --format ids --all | wc -l)
    echo "$be round $r: enqueue-many ${enq}s ($(echo "$N / $enq" | bc) runs/s); held enqueue-many ${held_enq}s; release ${rel}s - idle worker ${idle}s = $(echo "$N / ($rel - $idle)" | bc) runs/s; released $released; ratio $(echo "($enq) / ($rel - $idle)" | bc -l | cut -c1-5); load $(cut -d" " -f1 /proc/loadavg)"
  done
done
echo "load: $(uptime)"
# 2. HELD held runs, none due.
for be in $backends; do
  db=$(fresh "$be"); "$B" --db "$db" init >/dev/null
  fill="INSERT INTO durably_cli_held_runs (id, job_name, input, due_at, created_at)"
  case $be in
    sqlite) sqlite3 "$db" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $HELD - 1) $fill SELECT printf('%08x-0000-7000-8000-%012x', i, i), 'job', '{}', '2999-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n; ANALYZE;" ;;
    pg) psql -q "$db" -c "$fill SELECT lpad(to_hex(i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'), 'job', '{}', '2999-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM generate_series(0, $HELD - 1) i" -c "ANALYZE" >/dev/null ;;
  esac
  echo "$be, $HELD held runs none due: $("$H" "$db" 2000 | tr '\n' ' ')"
done
echo "load: $(uptime)"
