#!/usr/bin/env bash
# Measures how `wabasim serve` holds up against slow and idle connections, on loopback only,
# bounded in time (about 40 s), stopping everything it started.
#
#   bash scripts/hardening.sh [CONNECTIONS] [HEADER_TIMEOUT_S]
#
# CONNECTIONS (default 5000) sockets are opened to a release build of `serve` started with
# --header-timeout HEADER_TIMEOUT_S (default 10): half trickle a request head one byte every
# 2 s (slowloris), half connect and say nothing. While they are open, GET /_sim/health is timed
# 50 times. After the timeout the script counts how many of the sockets the server closed, and
# reads the server's resident memory before, during and after. Then `run` is stopped with
# SIGTERM mid-way and the script checks that it wrote its partial report (exit 130).
# Needs python3. Prints one line per figure; docs/server.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
TIMEOUT=${2:-10}
PORT=${PORT:-18471}

cargo build --release --quiet
BIN=target/release/wabasim
OUT=$(mktemp -d)
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

# The client side needs descriptors too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$BIN" serve --listen "127.0.0.1:$PORT" --header-timeout "${TIMEOUT}s" >"$OUT/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$PORT/_sim/health" >/dev/null 2>&1 && break
    sleep 0.1
done
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$SERVER/status"; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1048576) " GiB"}' /proc/meminfo); descriptors: $(ulimit -n)"
echo "server rss at start: $(rss)"

python3 - "$PORT" "$N" "$TIMEOUT" "$SERVER" <<'EOF'
import socket, sys, time, statistics, threading

port, n, timeout, pid = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return line.split()[1] + " kB"

socks, slow = [], []
t0 = time.time()
for i in range(n):
    s = socket.socket()
    s.setblocking(True)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
    except OSError as e:
        print(f"connect {i} failed: {e}")
        break
    socks.append(s)
    if i % 2 == 0:
        slow.append(s)
        s.send(b"G")
t_open = time.time()
print(f"opened {len(socks)} connections ({len(slow)} slowloris, {len(socks) - len(slow)} idle) in {t_open - t0:.1f} s")

stop = False
def trickle():
    # One more header byte every 2 s on each slow socket.
    while not stop:
        for s in slow:
            try:
                s.send(b"E")
            except OSError:
                pass
        time.sleep(2)
threading.Thread(target=trickle, daemon=True).start()

lat = []
for _ in range(50):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    t = time.time()
    c.sendall(b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    lat.append((time.time() - t) * 1000)
    c.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:80]
    time.sleep(0.05)
lat.sort()
print(f"/_sim/health with the connections open: p50 {statistics.median(lat):.2f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms, max {lat[-1]:.2f} ms")
print(f"server rss with {len(socks)} connections open: {rss()}")

# Past the timeout of the last one opened: count what the server closed.
time.sleep(max(0.0, timeout + 2 - (time.time() - t_open)))
closed = 0
for s in socks:
    try:
        s.settimeout(0.01)
        if s.recv(1) == b"":
            closed += 1
    except socket.timeout:
        pass
    except OSError:
        closed += 1
stop = True
print(f"closed by the server {time.time() - t_open:.0f} s after the last was opened (timeout {timeout:.0f} s): {closed} of {len(socks)}")
for s in socks:
    s.close()
time.sleep(1)
print(f"server rss after they closed: {rss()}")
EOF

kill -TERM "$SERVER"
wait "$SERVER" || true
SERVER=
echo "serve after SIGTERM: $(tail -n 1 "$OUT/serve.log")"

# SIGTERM to run: a partial report and exit 130.
"$BIN" run scenarios/quickstart.toml --quiet --out "$OUT/partial.json" >/dev/null 2>&1 &
RUN=$!
sleep 5
kill -TERM "$RUN"
set +e
wait "$RUN"
code=$?
set -e
partial=$(python3 -c "import json,sys; r=json.load(open('$OUT/partial.json')); print(r['partial'], r['stop_reason'], r['total']['requests']['total'])" 2>/dev/null || echo "no report")
echo "run after SIGTERM: exit $code, report: $partial (partial, stop_reason, requests)"
