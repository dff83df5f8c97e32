#!/usr/bin/env bash
# Measures what `serve --state-dir` costs, on loopback only, bounded in time (about DURATION
# plus 10 s), stopping everything it started.
#
#   bash scripts/durable.sh [DURATION]
#
# A release build of `serve --scenario scenarios/quickstart.toml --state-dir DIR` takes
# DURATION (default 30s) of the quickstart traffic from `run --target`, is stopped with
# SIGTERM, and the script prints the sizes of the journal and the settle log per accepted
# message and per request. Then the server is started again on the same directory and the
# script times how long it takes until /_sim/health answers (the replay), and checks that the
# accepted-sends counter and the ledger came back. Needs python3 and curl. docs/server.md
# quotes the figures.
set -euo pipefail
cd "${WABASIM_ROOT:-$(dirname "$0")/..}"
DURATION=${1:-30s}
PORT=${PORT:-18591}

cargo build --release --quiet
BIN=target/release/wabasim
OUT=$(mktemp -d)
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

serve() {
  "$BIN" serve --scenario scenarios/quickstart.toml --listen "127.0.0.1:$PORT" \
    --state-dir "$OUT/state" >>"$OUT/serve.log" 2>&1 &
  SERVER=$!
  local t0; t0=$(date +%s.%N)
  until curl -sf "127.0.0.1:$PORT/_sim/health" >/dev/null 2>&1; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }
    sleep 0.02
  done
  python3 -c "print(round($(date +%s.%N) - $t0, 2))" >"$OUT/start_s"
}
field() { curl -s "127.0.0.1:$PORT/_sim/$1" | python3 -c "import json,sys; v=json.load(sys.stdin); print($2)"; }

serve
"$BIN" run scenarios/quickstart.toml --target "http://127.0.0.1:$PORT" --duration "$DURATION" \
  --quiet --out "$OUT/report.json" >/dev/null 2>&1 || true
requests=$(python3 -c "import json; print(json.load(open('$OUT/report.json'))['total']['requests']['total'])")
accepted=$(field state 'v["sends_accepted"]')
ledger=$(field ledger 'v["summary"]["lines_total"]')
kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
journal=$(stat -c %s "$OUT/state/journal.jsonl")
settled=$(stat -c %s "$OUT/state/settled.log")
records=$(wc -l <"$OUT/state/journal.jsonl")
echo "requests: $requests, sends accepted: $accepted, ledger lines: $ledger"
echo "journal.jsonl: $journal bytes, $records lines; settled.log: $settled bytes"
python3 -c "a=$accepted or 1; r=$requests or 1; print(f'per accepted message: journal {$journal/a:.0f} B, settle log {$settled/a:.0f} B; per request: journal {$journal/r:.0f} B')"

serve
secs=$(cat "$OUT/start_s")
accepted2=$(field state 'v["sends_accepted"]')
ledger2=$(field ledger 'v["summary"]["lines_total"]')
echo "restart: health answered after ${secs}s (replay of $records lines); sends accepted $accepted2 (was $accepted), ledger lines $ledger2 (was $ledger)"
grep "continued" "$OUT/serve.log" || true
kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
