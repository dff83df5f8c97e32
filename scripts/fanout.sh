#!/usr/bin/env bash
# Sends one control call to every `wabasim serve --partition I/N` instance: the calls that
# concern all partitions (clock, faults, state, events, ledger, recipients' actions, …), which
# deploy/haproxy.cfg refuses because no single partition owns them.
#
#   WABASIM_PARTITIONS="http://wabasim-0:8080 http://wabasim-1:8080" \
#     bash scripts/fanout.sh POST /_sim/clock/advance '{"seconds": 3600}'
#
# Optional: WABASIM_CONTROL_TOKEN (sent as a bearer token, for --control-from-any instances).
# Prints each instance's answer on one line, prefixed by its URL; exits 1 when any instance did
# not answer 2xx (every instance is still called), 2 on bad usage.
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ] || [ -z "${WABASIM_PARTITIONS:-}" ]; then
  echo "usage: WABASIM_PARTITIONS=\"URL URL …\" $0 METHOD /_sim/PATH [JSON-BODY]" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "fanout: curl not found (Debian: apt-get install curl)" >&2; exit 2; }
method=$1 path=$2 body=${3:-}
args=(-sS -X "$method" -w '\n%{http_code}' --max-time 30)
[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
[ -n "${WABASIM_CONTROL_TOKEN:-}" ] && args+=(-H "Authorization: Bearer $WABASIM_CONTROL_TOKEN")

failed=0
for base in $WABASIM_PARTITIONS; do
  out=$(curl "${args[@]}" "${base%/}$path" 2>&1)
  code=${out##*$'\n'}
  answer=${out%$'\n'*}
  echo "$base $code $(printf '%s' "$answer" | tr '\n' ' ')"
  case $code in 2??) ;; *) failed=1 ;; esac
done
exit $failed
