#!/usr/bin/env bash
# Screenshots of the dashboard of `durably serve`, for a person to look at: a SQLite database
# filled by the CLI (runs of several jobs with labels, steps, progress and logs; failures; a
# cancelled run; a run still running; a hostile job name; completions spread over the last
# hour for the throughput chart), `durably serve` on a free loopback port, and headless
# chromium (tests/browser/screenshots.mjs) writing
#   list-desktop.png  run-desktop.png  list-phone.png  run-phone.png   (phone: 375 px wide)
#
# Usage: scripts/screenshots.sh [OUTDIR]      (default bench/out/screenshots)
# Needs: node, chromium (Debian's package, or CHROMIUM=path), sqlite3 (to spread the
# completion times over the hour). DURABLY_BIN picks the binary (default target/debug/durably,
# built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-bench/out/screenshots}")"
bin="$(realpath -m "${DURABLY_BIN:-target/debug/durably}")"
[ -x "$bin" ] || cargo build --locked
[ -f tests/browser/node_modules/playwright-core/package.json ] || npm ci --prefix tests/browser --no-audit --no-fund

tmp="$(mktemp -d "${TMPDIR:-/tmp}/durably-shots.XXXXXX")"
pids=()
cleanup() {
  # A worker stops its running handlers at a second signal.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
db="$tmp/durably.db"
handlers="$tmp/handlers"
mkdir -p "$handlers"
d() { "$bin" --db "$db" "$@"; }

cat >"$handlers/email" <<'SH'
#!/bin/sh
input=$(cat)
durably progress 1 --total 3 --message "rendering"
durably step render -- sh -c 'durably log "rendered the template"; echo "{\"bytes\": 2048}"' >/dev/null
durably progress 2 --total 3 --message "sending"
durably step send -- sh -c 'echo "{\"accepted\": true}"' >/dev/null
durably log --level warn "slow SMTP answer (1.2 s)"
echo "sent to $input" >&2
durably progress 3 --total 3 --message "done"
echo '{"delivered": true}'
SH
cat >"$handlers/report" <<'SH'
#!/bin/sh
input=$(cat)
durably step query -- sh -c 'echo "{\"rows\": 1200}"' >/dev/null
case "$input" in
  *'"fail": true'*) durably log --level error "the warehouse refused the connection"
          echo "connection refused: warehouse.internal:5432" >&2; exit 1 ;;
esac
echo '{"pages": 12}'
SH
cat >"$handlers/slow" <<'SH'
#!/bin/sh
cat >/dev/null
durably progress 40 --total 100 --message "copying files"
durably log "copying 1200 files"
exec sleep 600
SH
chmod +x "$handlers"/*

d init >/dev/null
for i in $(seq 1 36); do
  tenant=$([ $((i % 3)) = 0 ] && echo globex || echo acme)
  d enqueue --job email --label "tenant=$tenant" --label region=eu --input "{\"to\": \"user$i@example.com\"}" >/dev/null
done
for i in $(seq 1 10); do
  fail=$([ $((i % 4)) = 0 ] && echo true || echo false)
  d enqueue --job report --label tenant=acme --input "{\"month\": $i, \"fail\": $fail}" >/dev/null
done
d work --handlers "$handlers" --job email --job report --concurrency 4 --until-idle 2>/dev/null || true
# Spread the completions over the last hour, so that the chart has something to show.
if command -v sqlite3 >/dev/null 2>&1; then
  sqlite3 "$db" "UPDATE durably_runs SET completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', 60 + abs(random()) % 3500)) WHERE completed_at IS NOT NULL;
    UPDATE durably_runs SET started_at = strftime('%Y-%m-%dT%H:%M:%fZ', completed_at, '-3 seconds'),
      created_at = strftime('%Y-%m-%dT%H:%M:%fZ', completed_at, '-5 seconds') WHERE completed_at IS NOT NULL;"
fi
for i in 1 2 3 4 5; do d enqueue --job import --label tenant=globex --input "{\"file\": \"batch-$i.csv\"}" >/dev/null; done
cancel="$(d enqueue --job import --label tenant=acme --input '{"file": "old.csv"}')"
d cancel "$cancel" >/dev/null
d enqueue --job '<img src=x onerror=alert(1)>' --label 'note=<b>not bold</b>' --input '{}' >/dev/null
slow="$(d enqueue --job slow --label tenant=acme --input '{"files": 1200}')"
"$bin" --db "$db" work --handlers "$handlers" --job slow 2>/dev/null &
pids+=($!)
for _ in $(seq 1 100); do
  [ "$(d show "$slow" --json | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$')" = 'leased"' ] && break
  sleep 0.1
done
# The page of a completed run with steps, progress and logs (the first email run).
run="$(d ls --job email --status completed --format ids | head -n 1)"

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$bin" --db "$db" serve --bind "127.0.0.1:$port" >"$tmp/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
node tests/browser/screenshots.mjs "http://127.0.0.1:$port/" "$out" "$run"
ls "$out"
