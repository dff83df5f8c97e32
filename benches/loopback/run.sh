#!/usr/bin/env bash
# Loopback throughput of `POST /{phone-number-id}/messages` on `wabasim serve`, against a
# minimal hyper server answering a fixed JSON, measured with wrk in the same run on the same
# machine (keep-alive, fixed connections). Needs wrk (Debian: apt-get install wrk).
#   usage: benches/loopback/run.sh [seconds] [connections] [wrk threads]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}; CONNS=${2:-32}; THREADS=${3:-1}
cargo build --release --quiet --bin wabasim --example fixed_json_server
./target/release/examples/fixed_json_server 127.0.0.1:18181 2>/dev/null & BASE=$!
./target/release/wabasim serve --scenario benches/loopback/world.toml --listen 127.0.0.1:18182 >/dev/null & SIM=$!
trap 'kill $BASE $SIM 2>/dev/null || true' EXIT
sleep 1
run() { wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s benches/loopback/send.lua "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
echo "== baseline: fixed JSON hyper server" >&2
B=$(run http://127.0.0.1:18181)
echo "== wabasim serve (full send path)" >&2
S=$(run http://127.0.0.1:18182)
curl -s http://127.0.0.1:18182/metrics | grep -E 'wabasim_sends_total' >&2 || true
echo "baseline_rps=$B wabasim_rps=$S ratio=$(awk -v s="$S" -v b="$B" 'BEGIN{printf "%.2f", s/b}')"
