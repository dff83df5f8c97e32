#!/usr/bin/env bash
# The test command of wabasim: the module layering check, every Rust target (unit tests, HTTP integration tests over
# loopback, the OpenAPI contract test, benches in test mode), then the real-client tests: pywa
# in a virtualenv under target/pyenv, whatsapp-api-js with npm under tests/js/node_modules.
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

# The client tests run the binary `cargo test` just built for the integration tests (a separate
# `cargo build` would rebuild it: without the dev-dependencies, features resolve differently).
test -x target/debug/wabasim || { echo "test.sh: target/debug/wabasim missing after cargo test" >&2; exit 1; }

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

echo "==> JS client test"
command -v node >/dev/null && command -v npm >/dev/null || {
    echo "test.sh: the JS client test needs Node.js >= 18 with npm on PATH (Debian: apt-get install nodejs npm)" >&2
    exit 1
}
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' || {
    echo "test.sh: the JS client test needs Node.js >= 18, found $(node --version)" >&2
    exit 1
}
JS=tests/js
# (Re)install when node_modules is missing or the lock file changed since the last install.
if [ ! -d "$JS/node_modules" ] || ! cmp -s "$JS/package-lock.json" "$JS/node_modules/.wabasim-lock"; then
    (cd "$JS" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$JS/package-lock.json" "$JS/node_modules/.wabasim-lock"
fi
(cd "$JS" && WABASIM_BIN="$PWD/../../target/debug/wabasim" \
    node --test --test-reporter=spec client.test.mjs)

echo "==> all tests passed in $(( $(date +%s) - start )) s"
