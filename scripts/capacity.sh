#!/usr/bin/env bash
# Measures the figures of the capacity model in docs/scale-out.md: CPU time per request of
# `serve` and of `run`, CPU per webhook event, memory per portfolio, number, template,
# recipient and accepted message, and what one and two worker threads give. Loopback only,
# bounded: 5 to 10 minutes with the default SECONDS (more on a loaded machine), and it stops everything it started.
#
#   bash scripts/capacity.sh [SECONDS]       # seconds per load step, default 15
#
# Why CPU time and not requests per wall second: on a shared machine (the development VM has
# 2 cores and other builds running) wall throughput moves with the neighbours' load, while the
# CPU time a process spends per request (utime + stime from /proc/PID/stat, or the child's
# rusage) moves much less. Requests per core-second are 1 / (CPU seconds per request). The
# wall figures of the saturation steps are printed too, with the load average around them:
# they are indicative only.
#
# Steps, each on a fresh `serve` (release build, wall clock, TOKIO_WORKER_THREADS set only in
# sat-1/2), 20 portfolios of one number each (1,000 msg/s per number, unlimited tier: nothing
# throttled), a utility template:
#   idle    serve's CPU over 10 s with no request (timers, the dispatcher).
#   send    `run --target` sends at RATE/s, then at 4 x RATE/s, for SECONDS each, to a
#           1,000,000-user audience; no webhook URL. serve's CPU per request (the send and the
#           delivered status the audience draws), run's CPU per request, serve's RSS.
#   pairs   4 x RATE/s for 2 x SECONDS to 1,000 users (each of the 20,000 number-user pairs
#           gets about 7 messages): RSS growth per message when pairs repeat.
#   hooks   RATE/s with `--webhook-url` to the generator's own receiver (read ratio 1: three
#           status webhooks per message); serve's extra CPU per webhook event delivered.
#   sat-1/2 a closed model (64 users, no think time) for SECONDS against serve with 1 then 2
#           worker threads (TOKIO_WORKER_THREADS): serve's CPU per request, the wall rate
#           (indicative), RSS growth per message.
#   growth  the closed model for 4 x SECONDS, RSS sampled: the bounded logs fill, then the
#           slope of the second half.
#   memory  RSS of serve right after start for worlds of growing size (businesses, numbers per
#           business, templates per WABA, audience size): the differences per item.
# The generator runs with its default runtime (one worker thread per core).
# Needs python3 and curl. Prints a table; docs/scale-out.md quotes the figures.
set -euo pipefail
cd "${WABASIM_ROOT:-$(dirname "$0")/..}"
SECONDS_PER_STEP=${1:-15}
RATE=${RATE:-600}
cargo build --release --quiet
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BIN=target/release/wabasim OUT=$OUT SECS=$SECONDS_PER_STEP RATE=$RATE python3 - <<'PY'
import json, os, resource, signal, socket, subprocess, sys, time, urllib.request

BIN, OUT = os.environ["BIN"], os.environ["OUT"]
SECS, RATE = int(os.environ["SECS"]), int(os.environ["RATE"])
TICK = os.sysconf("SC_CLK_TCK")
SECRET = "capacity-secret"
children = []
def _kill_children():
    for c in children:
        c.kill(); c.wait()
import atexit; atexit.register(_kill_children)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def world(businesses=20, numbers=1, templates=1, audience=1_000_000, read_ratio=0.0):
    tpl = ", ".join(
        f'{{ name = "t{i}", language = "en_US", category = "UTILITY", body = "Order {{{{1}}}} is on its way." }}'
        for i in range(templates))
    return f'''seed = 7
[[generate]]
count = {businesses}
id_start = "300000000000001"
name = "Client {{n}}"
markets = ["ID"]
messaging_limit = "TIER_UNLIMITED"
numbers_per_business = {numbers}
throughput_mps = 1000
token = "client-{{n}}-token"
templates = [{tpl}]

[audience]
first_number = "6281300000000"
size = {audience}
not_on_whatsapp_ratio = 0.0
delivered_delay_ms = [50, 200]
read_ratio = {read_ratio}
read_delay_s = [1, 2]
'''

def traffic(model, webhooks_port=None, tail=False, secs=None):
    hooks = (f'[traffic.webhooks]\napp_secret = "{SECRET}"\nverify_token = "capacity"\n'
             f'listen = "127.0.0.1:{webhooks_port}"\n') if webhooks_port else ""
    return f'''
[traffic]
connections = 32
grace = "5s"
{hooks}
[traffic.sender]
max_in_flight = 512
max_retries = 0

[[traffic.phases]]
name = "load"
duration = "{secs or SECS}s"
{model}
[[traffic.phases.mix]]
template = {{ name = "t0", language = "en_US", params = ["A-{{seq}}"] }}
''' + ('''
# Keeps the generator's receiver up while the last statuses arrive (a few requests).
[[traffic.phases]]
name = "tail"
duration = "10s"
open = { rate = 1 }
[[traffic.phases.mix]]
template = { name = "t0", language = "en_US", params = ["T-{seq}"] }
''' if tail else "")

def write(name, text):
    p = os.path.join(OUT, name)
    with open(p, "w") as f: f.write(text)
    return p

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.load(r)

def serve(scenario, threads=None, webhook_port=None, port=None):
    port = port or free_port()
    env = dict(os.environ)
    env.pop("TOKIO_WORKER_THREADS", None)
    if threads: env["TOKIO_WORKER_THREADS"] = str(threads)
    args = [BIN, "serve", "--scenario", scenario, "--listen", f"127.0.0.1:{port}",
            "--max-in-flight", "4096"]
    if webhook_port:
        args += ["--webhook-url", f"http://127.0.0.1:{webhook_port}/webhook",
                 "--app-secret", SECRET, "--verify-token", "capacity"]
    log = open(os.path.join(OUT, "serve.log"), "a")
    p = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    children.append(p)
    deadline = time.time() + 60
    while True:
        try:
            get(port, "/_sim/health"); break
        except Exception:
            if p.poll() is not None or time.time() > deadline:
                sys.exit(f"serve did not start: {open(os.path.join(OUT, 'serve.log')).read()[-2000:]}")
            time.sleep(0.05)
    time.sleep(0.5)   # let the start settle before the baseline
    return p, port

def stop(p):
    p.send_signal(signal.SIGTERM)
    try: p.wait(timeout=20)
    except subprocess.TimeoutExpired: p.kill(); p.wait()
    children.remove(p)

def start_run(scenario, port, start_at=None):
    out = os.path.join(OUT, "report.json")
    args = [BIN, "run", scenario, "--target", f"http://127.0.0.1:{port}", "--quiet", "--out", out]
    if start_at: args += ["--start-at", str(start_at)]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.t0 = time.time()
    children.append(p)
    return p

def finish_run(p):
    """Waits for the generator; returns (report, its CPU seconds, wall seconds)."""
    _, status, ru = os.wait4(p.pid, 0)
    children.remove(p)
    wall = time.time() - p.t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):
        sys.exit(f"run exited {p.returncode}: {p.stderr.read().decode()[-2000:]}")
    with open(os.path.join(OUT, "report.json")) as f: report = json.load(f)
    return report, ru.ru_utime + ru.ru_stime, wall

def run(scenario, port):
    return finish_run(start_run(scenario, port))

def load1():
    return os.getloadavg()[0]

rows, loads = [], []
def row(step, what, value, unit, note=""):
    rows.append((step, what, value, unit, note))

# --- idle: what serve spends with no request (timers, the dispatcher) ---------------------
sc = write("send.toml", world() + traffic(f"open = {{ rate = {RATE} }}"))
srv, port = serve(sc)
c0, t0 = cpu_s(srv.pid), time.time()
time.sleep(10)
idle = (cpu_s(srv.pid) - c0) / (time.time() - t0)
stop(srv)
row("idle", "serve CPU with no request", f"{idle * 1000:.1f}", "ms/s", "10 s after start")

# --- send: the Graph send path, no webhooks, at two rates -----------------------------------
send_cpu = None
for rate in (RATE, 4 * RATE):
    sc = write("send.toml", world() + traffic(f"open = {{ rate = {rate} }}"))
    srv, port = serve(sc)
    c0, m0 = cpu_s(srv.pid), rss_mb(srv.pid)
    loads.append(load1())
    report, run_cpu, wall = run(sc, port)
    time.sleep(3)   # the audience's statuses of the last messages (read ratio 0: delivered only)
    c1, m1 = cpu_s(srv.pid), rss_mb(srv.pid)
    loads.append(load1())
    state = get(port, "/_sim/state")
    stop(srv)
    req = report["total"]["requests"]["total"]
    acc = state["sends_accepted"]
    step = f"send-{rate}"
    cpu = (c1 - c0) / req
    send_cpu = send_cpu or cpu
    row(step, "requests (accepted)", f"{req} ({acc})", "", f"open {rate}/s for {SECS}s, achieved {req / wall:.0f}/s wall")
    row(step, "serve CPU per request", f"{cpu * 1e6:.0f}", "µs", f"{c1 - c0:.2f} CPU-s; {(c1 - c0) / wall:.2f} cores busy")
    row(step, "serve requests per core-second", f"{1 / cpu:.0f}", "req/s", "derived: 1 / CPU per request")
    row(step, "run CPU per request", f"{run_cpu / req * 1e6:.0f}", "µs", f"{run_cpu:.2f} CPU-s, whole process")
    row(step, "run requests per core-second", f"{req / run_cpu:.0f}", "req/s", "derived")
    row(step, "serve RSS before / after", f"{m0:.1f} / {m1:.1f}", "MB")

# --- pairs: the same users again and again (1,000 recipients, 20,000 number-user pairs) -----
# Tells the state kept per message from the state kept per number-user pair.
rate = 4 * RATE
sc = write("pairs.toml", world(audience=1000) + traffic(f"open = {{ rate = {rate} }}", secs=2 * SECS))
srv, port = serve(sc)
c0, m0 = cpu_s(srv.pid), rss_mb(srv.pid)
report, _, _ = run(sc, port)
time.sleep(3)
c1, m1 = cpu_s(srv.pid), rss_mb(srv.pid)
acc = get(port, "/_sim/state")["sends_accepted"]
stop(srv)
req = report["total"]["requests"]["total"]
row("pairs", "requests (accepted)", f"{req} ({acc})", "", f"open {rate}/s for {2 * SECS}s to 1,000 recipients")
row("pairs", "serve CPU per request", f"{(c1 - c0) / req * 1e6:.0f}", "µs")
row("pairs", "serve RSS before / after", f"{m0:.1f} / {m1:.1f}", "MB")
row("pairs", "RSS growth per accepted message", f"{(m1 - m0) * 1024 * 1024 / max(acc, 1):.0f}", "bytes")

# --- hooks: the same with webhooks to the generator's receiver ------------------------------
wport = free_port()
sc = write("hooks.toml", world(read_ratio=1.0) + traffic(f"open = {{ rate = {RATE} }}", wport, tail=True))
port = free_port()
# The generator's receiver listens at once; serve checks it at start; the sends begin at
# --start-at (the wall time of the generator includes that wait: not used).
start_at = int(time.time()) + 6
gen = start_run(sc, port, start_at=start_at)
time.sleep(1)
srv, port = serve(sc, webhook_port=wport, port=port)
c0, t0 = cpu_s(srv.pid), time.time()
loads.append(load1())
report, _, _ = finish_run(gen)
hooks = get(port, "/_sim/webhooks")
c1 = cpu_s(srv.pid)
loads.append(load1())
stop(srv)
req = report["total"]["requests"]["total"]
events = hooks["delivered"]
# Less the sends (at the send step's cost) and the idle seconds (before --start-at, the tail).
extra = (c1 - c0) - send_cpu * req - idle * (max(0, start_at - t0) + 10)
row("hooks", "webhook events delivered (POSTs)", f"{events} ({hooks['posts']})", "", f"{events / max(req, 1):.2f} per request; pending {hooks['queued'] + hooks['in_flight'] + hooks['awaiting_retry']}, failed POSTs {hooks['failed_attempts']}")
row("hooks", "serve CPU per request, webhooks on", f"{(c1 - c0) / req * 1e6:.0f}", "µs", f"{c1 - c0:.2f} CPU-s")
row("hooks", "serve CPU per webhook event", f"{extra / max(events, 1) * 1e6:.0f}", "µs", "derived: (CPU - sends - idle) / events")
row("hooks", "webhook events per core-second", f"{events / extra:.0f}" if extra > 0 else "n/a", "events/s", "derived")

# --- sat-1 / sat-2: saturation with one and two worker threads ------------------------------
sc = write("sat.toml", world() + traffic("closed = { concurrency = 64 }"))
for threads in (1, 2):
    srv, port = serve(sc, threads=threads)
    c0, m0 = cpu_s(srv.pid), rss_mb(srv.pid)
    l0 = load1()
    report, run_cpu, wall = run(sc, port)
    time.sleep(3)
    c1, m1 = cpu_s(srv.pid), rss_mb(srv.pid)
    l1 = load1()
    loads += [l0, l1]
    acc = get(port, "/_sim/state")["sends_accepted"]
    stop(srv)
    req = report["total"]["requests"]["total"]
    ok = report["total"]["requests"]["ok"]
    row(f"sat-{threads}", "requests (ok) in the closed phase", f"{req} ({ok})", "", f"64 users, no think, {SECS}s; load avg {l0:.1f} -> {l1:.1f}")
    row(f"sat-{threads}", "wall rate (indicative)", f"{req / SECS:.0f}", "req/s", "serve and run share the 2 cores")
    row(f"sat-{threads}", "serve CPU per request", f"{(c1 - c0) / req * 1e6:.0f}", "µs", f"{c1 - c0:.2f} CPU-s over {SECS}s = {(c1 - c0) / SECS:.2f} cores busy")
    row(f"sat-{threads}", "run CPU per request", f"{run_cpu / req * 1e6:.0f}", "µs", f"{run_cpu:.2f} CPU-s")
    row(f"sat-{threads}", "serve RSS before / after", f"{m0:.1f} / {m1:.1f}", "MB", f"{acc} sends accepted")
    row(f"sat-{threads}", "RSS growth per accepted message", f"{(m1 - m0) * 1024 * 1024 / max(acc, 1):.0f}", "bytes")

# --- growth: RSS over a longer saturated run (the bounded logs fill, then what still grows) --
sc = write("growth.toml", world() + traffic("closed = { concurrency = 64 }", secs=4 * SECS))
srv, port = serve(sc)
gen = start_run(sc, port)
samples = []
while time.time() < gen.t0 + 4 * SECS:   # not gen.poll(): finish_run reaps the generator
    samples.append((rss_mb(srv.pid), get(port, "/_sim/state")["sends_accepted"]))
    time.sleep(SECS / 3)
finish_run(gen)
samples.append((rss_mb(srv.pid), get(port, "/_sim/state")["sends_accepted"]))
stop(srv)
row("growth", "RSS (MB) by sends accepted", "", "", " ".join(f"{a // 1000}k:{m:.0f}" for m, a in samples) + f"; closed, 64 users, {4 * SECS}s, 1,000,000-user audience")
(m_mid, a_mid), (m_end, a_end) = samples[len(samples) // 2], samples[-1]
row("growth", "RSS growth per message, second half", f"{(m_end - m_mid) * 1024 * 1024 / max(a_end - a_mid, 1):.0f}", "bytes", f"{a_mid} -> {a_end} sends")

# --- memory: RSS right after start, by world size ------------------------------------------
def rss_of(**kw):
    srv, _ = serve(write("mem.toml", world(**kw)))
    m = rss_mb(srv.pid)
    stop(srv)
    return m
base = rss_of(businesses=100, numbers=1, templates=1, audience=1000)
row("memory", "RSS, 100 portfolios x 1 number x 1 template, 1,000 recipients", f"{base:.1f}", "MB")
for what, kw, items in [
    ("per portfolio (2,000 vs 100 portfolios)", dict(businesses=2000), 1900),
    ("per number (100 x 20 vs 100 x 1 numbers)", dict(numbers=20), 1900),
    ("per template (100 WABAs x 101 vs x 1)", dict(templates=101), 10000),
    ("per recipient (1,000,000 vs 1,000 recipients)", dict(audience=1_000_000), 999_000),
]:
    args = dict(businesses=100, numbers=1, templates=1, audience=1000); args.update(kw)
    m = rss_of(**args)
    per = round((m - base) * 1024 * 1024 / items) + 0   # + 0: no "-0"
    row("memory", what, f"{per:.0f}", "bytes", f"RSS {m:.1f} MB")

print(f"load average (1 min) sampled around the steps: {', '.join(f'{l:.1f}' for l in loads)}; "
      f"now {', '.join(f'{l:.2f}' for l in os.getloadavg())}; {os.cpu_count()} CPUs")
w = [max(len(str(r[i])) for r in rows) for i in range(4)]
for r in rows:
    print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}} {r[3]:<{w[3]}}  {r[4]}")
PY
