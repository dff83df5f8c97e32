#!/usr/bin/env bash
# Checks the deployment files: deploy/haproxy.cfg with HAProxy's own checker (on a map that
# `wabasim partition-map` writes), and deploy/k8s/*.yaml against the Kubernetes schemas with
# kubernetes-validate (pinned in deploy/validate-requirements.txt, in a venv under target/).
# The container image is not built here (docs/scale-out.md says why).
#
#   bash scripts/validate-deploy.sh [WABASIM_BIN]     # default: target/debug/wabasim
#
# Exit 0 when every file is valid, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/wabasim}
PY=${PYTHON:-python3}

command -v haproxy >/dev/null \
  || { echo "validate-deploy: haproxy not found (Debian: apt-get install -y haproxy)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" partition-map --partitions 2 --out "$tmp/partitions.map"
WABASIM_LISTEN=127.0.0.1:8080 WABASIM_MAP="$tmp/partitions.map" \
WABASIM_PARTITION_0=127.0.0.1:1 WABASIM_PARTITION_1=127.0.0.1:2 \
  haproxy -c -q -f deploy/haproxy.cfg  # -c checks only: nothing binds
echo "deploy/haproxy.cfg: valid"

VENV=target/kvenv
REQ=deploy/validate-requirements.txt
if [ ! -x "$VENV/bin/kubernetes-validate" ] || ! cmp -s "$REQ" "$VENV/.requirements"; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    cp "$REQ" "$VENV/.requirements"
fi
# --strict: unknown fields are errors. kubernetes-validate exits 0 even on a failed resource,
# so its ERROR lines decide.
out=$("$VENV/bin/kubernetes-validate" --strict deploy/k8s/*.yaml 2>&1)
echo "$out"
if grep -q "^ERROR" <<<"$out"; then
    exit 1
fi
