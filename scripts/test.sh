#!/usr/bin/env bash
# The test command of wabasim: the module layering check, every Rust target (unit tests, HTTP integration tests over
# loopback, the OpenAPI contract test, benches in test mode), then the pywa real-client test
# in a virtualenv under target/pyenv.
#
# Environment:
#   PYTHON                    interpreter for the venv (default: python3; needs >= 3.10)
#   WABASIM_OPENAPI           spec for the contract test (default: tests/data/openapi copy)
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
echo "==> module layering (scripts/deps.sh)"
bash scripts/deps.sh

echo "==> cargo test --all-targets"
cargo test --all-targets

echo "==> cargo build (the binary the pywa test runs)"
cargo build

echo "==> pywa test"
PY=${PYTHON:-python3}
VENV=target/pyenv
REQ=tests/pywa/requirements.txt
# (Re)create the venv when it is missing or the pinned requirements changed.
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQ" "$VENV/.requirements"; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    cp "$REQ" "$VENV/.requirements"
fi
(cd tests/pywa && WABASIM_BIN="$PWD/../../target/debug/wabasim" \
    "../../$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider .)

echo "==> all tests passed in $(( $(date +%s) - start )) s"
