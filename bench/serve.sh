#!/usr/bin/env bash
# `durably serve` beside @coji/durably's own HTTP handler (issue 18, BENCHMARKS.md "durably serve").
#
#   bench/serve.sh [--runs N] [--pg postgres://USER@HOST:PORT/DB] [--seconds S]
#
# Builds the release binary, fills a SQLite file (and with --pg, or DURABLY_BENCH_PG, a fresh
# PostgreSQL database created and dropped on that server) with N runs (default 1M; labels
# tenant=t0…t99, jobs j0…j4) by `enqueue-many`, then runs bench/node/serve.mjs on each:
# sequential latency and requests/s of the same requests against both servers, and the CPU of
# idle servers with 100 open streams. Prints Markdown, also written to bench/out/serve.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000
pg="${DURABLY_BENCH_PG:-}"
seconds=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --pg) pg="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: bench/serve.sh [--runs N] [--pg URL] [--seconds S]" >&2; exit 2 ;;
  esac
done
cargo build --release --quiet --bin durably
bin="$PWD/target/release/durably"
if [[ ! -d bench/node/node_modules/@coji/durably ]]; then
  (cd bench/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seq 1 "$runs" | awk '{printf "{\"job\":\"j%d\",\"input\":{\"i\":%d},\"labels\":{\"tenant\":\"t%d\"}}\n", $1%5, $1, $1%100}' > "$tmp/runs.ndjson"
mkdir -p bench/out
out=bench/out/serve.md
{
  echo "# durably serve beside @coji/durably's handler ($runs runs; $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "## SQLite file (WAL)"
  "$bin" --db "$tmp/bench.db" init --wal >/dev/null
  "$bin" --db "$tmp/bench.db" enqueue-many "$tmp/runs.ndjson" >/dev/null
  (cd bench/node && node serve.mjs "$bin" "$tmp/bench.db" "$seconds")
  if [[ -n "$pg" ]]; then
    name="durably_bench_serve_$$"
    base="${pg%/*}"
    psql "$pg" -qc "CREATE DATABASE $name" >/dev/null
    url="$base/$name"
    echo
    echo "## PostgreSQL"
    "$bin" --db "$url" enqueue-many "$tmp/runs.ndjson" >/dev/null
    psql "$url" -qc "ANALYZE" >/dev/null
    (cd bench/node && node serve.mjs "$bin" "$url" "$seconds") || true
    psql "$pg" -qc "DROP DATABASE $name WITH (FORCE)" >/dev/null
  fi
} | tee "$out"
