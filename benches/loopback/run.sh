#!/usr/bin/env bash
# Loopback throughput of `POST /{phone-number-id}/messages` on `wabasim serve`, against a
# minimal hyper server answering a fixed JSON, measured with wrk in the same run on the same
# machine (keep-alive, fixed connections). Needs wrk (Debian: apt-get install wrk).
#   usage: benches/loopback/run.sh [seconds] [connections] [wrk threads] [base binary] [rounds]
# With a base binary (a wabasim built earlier, e.g. before a change), it is served beside the
# current build and the servers are measured in alternation, ROUNDS times (default 3), so all
# see the same machine load.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}; CONNS=${2:-32}; THREADS=${3:-1}; BASE_BIN=${4:-}; ROUNDS=${5:-1}
[ -n "$BASE_BIN" ] && [ -z "${5:-}" ] && ROUNDS=3
cargo build --release --quiet --bin wabasim --example fixed_json_server
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
./target/release/examples/fixed_json_server 127.0.0.1:18181 2>/dev/null & pids+=($!)
./target/release/wabasim serve --scenario benches/loopback/world.toml --listen 127.0.0.1:18182 >/dev/null & pids+=($!)
if [ -n "$BASE_BIN" ]; then
    "$BASE_BIN" serve --scenario benches/loopback/world.toml --listen 127.0.0.1:18183 >/dev/null & pids+=($!)
fi
sleep 1
run() { wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s benches/loopback/send.lua "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
for r in $(seq "$ROUNDS"); do
    echo "== round $r: baseline, fixed JSON hyper server" >&2
    B=$(run http://127.0.0.1:18181)
    if [ -n "$BASE_BIN" ]; then
        echo "== round $r: base wabasim serve ($BASE_BIN)" >&2
        P=$(run http://127.0.0.1:18183)
    fi
    echo "== round $r: wabasim serve (full send path)" >&2
    S=$(run http://127.0.0.1:18182)
    line="baseline_rps=$B wabasim_rps=$S ratio=$(awk -v s="$S" -v b="$B" 'BEGIN{printf "%.2f", s/b}')"
    if [ -n "$BASE_BIN" ]; then
        line="$line base_rps=$P base_ratio=$(awk -v s="$P" -v b="$B" 'BEGIN{printf "%.2f", s/b}')"
    fi
    echo "$line"
done
curl -s http://127.0.0.1:18182/metrics | grep -E 'wabasim_sends_total' >&2 || true
