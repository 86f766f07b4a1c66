#!/usr/bin/env bash
# The benchmark suite of durably (issue 5): one command, everything in the same run.
#
#   bench/run.sh [--size small|default|large] [--skip-node] [--only bulk,single,ls,claim,work,purge,node,pg,fleet]
#                [--pg postgres://USER:PASSWORD@HOST:PORT/DB]
#
# With --pg (or DURABLY_BENCH_PG) the PostgreSQL workloads run too (section 8: bulk vs a COPY floor,
# list, claim, worker, each beside @coji/durably on the same server), each in a fresh database
# created and dropped on that server (the URL's user must be allowed to CREATE DATABASE), and
# the fleet workload (section 9, issue 19: 1–16 worker processes, concurrency 1/4/16, the floor
# and @coji/durably under a steady stream, on that server and on a SQLite file; `--only fleet`
# without --pg runs its SQLite table alone).
#
# Builds the release binary and the bench programs, installs the @coji/durably comparison with
# `npm ci` (unless --skip-node), generates its own data in a temporary directory, runs every
# workload and prints a Markdown report, also written to bench/out/ (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

args=("$@")
skip_node=0
for a in "$@"; do
  [[ "$a" == "--skip-node" ]] && skip_node=1
done

echo "bench: building (cargo build --release --bin durably --examples)" >&2
cargo build --release --quiet --bin durably --example bench --example bench_floor

if [[ $skip_node == 0 ]]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "bench: node/npm not found; install them or pass --skip-node" >&2
    exit 1
  fi
  if [[ ! -d bench/node/node_modules/@coji/durably ]] \
     || [[ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]]; then
    echo "bench: npm ci in bench/node" >&2
    (cd bench/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  fi
fi

mkdir -p bench/out
exec target/release/examples/bench --out bench/out "${args[@]}"
