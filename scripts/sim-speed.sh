#!/usr/bin/env bash
# Measures the simulator's speed on the 1M-recipient campaign of docs/simulate.md ("Speed"),
# benches/sim/million.toml: 1,000,000 utility templates to 1,000,000 distinct recipients, then
# 30 simulated days, every rule on. Builds the release binary, runs the scenario RUNS times (default 5) and prints, per
# run and then as best and median: CPU time (user + system), peak memory, and message
# lifecycles (send, statuses, reaction draw, charge) per CPU-second.
#
# Usage: scripts/sim-speed.sh [RUNS]
# Needs GNU time (/usr/bin/time, Debian package `time`) for the peak memory; without it the
# memory column is left out. On a shared machine CPU time moves by tens of percent between
# identical runs: compare medians of runs interleaved with the binary you compare against.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
LIFECYCLES=1000000
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() {
    local cmd=(target/release/wabasim simulate benches/sim/million.toml --days 30 --quiet --out "$dir/out")
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
echo "run  cpu_s  peak_MB  lifecycles_per_cpu_s"
for i in $(seq "$RUNS"); do
    read -r u s m < <(run)
    awk -v i="$i" -v u="$u" -v s="$s" -v m="$m" -v n="$LIFECYCLES" 'BEGIN {
        cpu = u + s
        printf "%3d  %5.2f  %7s  %9.0f\n", i, cpu, (m == "" ? "-" : sprintf("%.1f", m / 1024)), n / cpu
    }'
done | tee "$dir/runs"
sort -k2,2n "$dir/runs" | awk -v n="$LIFECYCLES" '
    { cpu[NR] = $2 }
    END {
        med = (NR % 2) ? cpu[(NR + 1) / 2] : (cpu[NR / 2] + cpu[NR / 2 + 1]) / 2
        printf "best   %.2f s CPU: %.0f lifecycles per CPU-second\n", cpu[1], n / cpu[1]
        printf "median %.2f s CPU: %.0f lifecycles per CPU-second\n", med, n / med
    }'
