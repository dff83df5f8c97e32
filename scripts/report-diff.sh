#!/usr/bin/env bash
# Checks that a change keeps `simulate` reports byte for byte: simulates every scenario under
# scenarios/ (or the ones named) with a base binary and with the current tree's release build,
# and compares each report.json. Exit 0 when all are identical, 1 when any differs (the first
# differing lines are printed), 2 on bad usage.
#
#   bash scripts/report-diff.sh BASE [SCENARIO...]
#
# BASE is a git revision (built once into target/report-diff/REV, in a temporary worktree) or the
# path of a wabasim binary built earlier. Example, before and after a refactor:
#
#   bash scripts/report-diff.sh HEAD~3
#   bash scripts/report-diff.sh /tmp/wabasim-before scenarios/recycled-numbers.toml
#
# Each scenario runs with its own seed and with every seed in SEEDS (default: "7").
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
base=$1
shift

if [ -x "$base" ] && [ -f "$base" ]; then
    base_bin=$(realpath "$base")
else
    rev=$(git rev-parse --verify --quiet "$base^{commit}") \
        || { echo "report-diff: '$base' is neither a binary nor a git revision" >&2; exit 2; }
    base_bin=$PWD/target/report-diff/$rev/wabasim
    if [ ! -x "$base_bin" ]; then
        wt=$(mktemp -d)
        trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT
        git worktree add --detach --quiet "$wt" "$rev"
        echo "==> building $rev (release) in $wt"
        (cd "$wt" && CARGO_TARGET_DIR=$PWD/../report-diff-target-$rev cargo build --release --quiet)
        mkdir -p "$(dirname "$base_bin")"
        cp "$wt/../report-diff-target-$rev/release/wabasim" "$base_bin"
        rm -rf "$wt/../report-diff-target-$rev"
    fi
fi

echo "==> building the current tree (release)"
cargo build --release --quiet
new_bin=$PWD/target/release/wabasim

if [ $# -eq 0 ]; then
    set -- scenarios/*.toml
fi

out=$(mktemp -d)
status=0
for sc in "$@"; do
  for seed in scenario ${SEEDS-7}; do
    name=$(basename "$sc" .toml)-$seed
    flags=(--quiet)
    [ "$seed" = scenario ] || flags+=(--seed "$seed")
    "$base_bin" simulate "$sc" "${flags[@]}" --out "$out/base/$name" >/dev/null 2>"$out/$name.base.err" || true
    "$new_bin" simulate "$sc" "${flags[@]}" --out "$out/new/$name" >/dev/null 2>"$out/$name.new.err" || true
    sc_seed="$sc (seed $seed)"
    a=$out/base/$name/report.json
    b=$out/new/$name/report.json
    if [ ! -f "$a" ] && [ ! -f "$b" ]; then
        echo "same      $sc_seed (no report from either: $(head -c 120 "$out/$name.new.err" | tr '\n' ' '))"
    elif [ -f "$a" ] && [ -f "$b" ] && cmp -s "$a" "$b"; then
        echo "same      $sc_seed ($(wc -c <"$b") bytes)"
    else
        echo "DIFFERENT $sc_seed"
        if [ -f "$a" ] && [ -f "$b" ]; then
            diff <(python3 -m json.tool "$a") <(python3 -m json.tool "$b") | head -20 || true
        else
            echo "  only one binary wrote a report; stderr:"
            cat "$out/$name.base.err" "$out/$name.new.err" | head -5
        fi
        status=1
    fi
  done
done
rm -rf "$out"
exit $status
