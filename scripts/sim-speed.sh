#!/usr/bin/env bash
# Measures the simulator's speed on the 1M-recipient campaign of docs/simulate.md ("Speed"),
# benches/sim/million.toml: 1,000,000 utility templates to 1,000,000 distinct recipients, then
# 30 simulated days, every rule on. Builds the release binary, runs the scenario RUNS times (default 5) and prints, per
# run and then as best and median: CPU time (user + system), peak memory, and message
# lifecycles (send, statuses, reaction draw, charge) per CPU-second.
#
# Usage: scripts/sim-speed.sh [RUNS] [BASE_BINARY]
# With BASE_BINARY (a wabasim built earlier, e.g. before a change), its runs are interleaved
# with the current build's and both are summarised, so both see the same machine load.
# Needs GNU time (/usr/bin/time, Debian package `time`) for the peak memory; without it the
# memory column is left out. On a shared machine CPU time moves by tens of percent between
# identical runs: compare medians of runs interleaved with the binary you compare against.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BASE=${2:-}
LIFECYCLES=1000000
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() {
    local cmd=("$1" simulate benches/sim/million.toml --days 30 --quiet --out "$dir/out")
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%U %S %M" -o "$dir/t" "${cmd[@]}" >/dev/null
        read -r u s m <"$dir/t"
    else
        local TIMEFORMAT="%U %S"
        { time "${cmd[@]}" >/dev/null; } 2>"$dir/t"
        read -r u s <"$dir/t"
        m=""
    fi
    echo "$u $s $m"
}
bins=(current)
[ -n "$BASE" ] && bins=(base current)
path_of() { if [ "$1" = base ]; then echo "$BASE"; else echo target/release/wabasim; fi; }
echo "build    run  cpu_s  peak_MB  lifecycles_per_cpu_s"
for i in $(seq "$RUNS"); do
    for b in "${bins[@]}"; do
        read -r u s m < <(run "$(path_of "$b")")
        awk -v b="$b" -v i="$i" -v u="$u" -v s="$s" -v m="$m" -v n="$LIFECYCLES" 'BEGIN {
            cpu = u + s
            printf "%-7s %4d  %5.2f  %7s  %9.0f\n", b, i, cpu, (m == "" ? "-" : sprintf("%.1f", m / 1024)), n / cpu
        }' | tee -a "$dir/runs"
    done
done
for b in "${bins[@]}"; do
    grep "^$b " "$dir/runs" | sort -k3,3n | awk -v b="$b" -v n="$LIFECYCLES" '
        { cpu[NR] = $3; mem[NR] = $4 }
        END {
            med = (NR % 2) ? cpu[(NR + 1) / 2] : (cpu[NR / 2] + cpu[NR / 2 + 1]) / 2
            printf "%-7s best   %.2f s CPU: %.0f lifecycles per CPU-second (peak %s MB)\n", b, cpu[1], n / cpu[1], mem[1]
            printf "%-7s median %.2f s CPU: %.0f lifecycles per CPU-second\n", b, med, n / med
        }'
done
