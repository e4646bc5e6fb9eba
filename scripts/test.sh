#!/usr/bin/env bash
# The whole test suite: the one command the README and CI run.
# Installs or finds everything the tests need, or stops with one sentence saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "scripts/test.sh: $1 is missing; $2" >&2; exit 1; }; }
need cargo "install Rust (https://rustup.rs) and rerun."

# The gateway's integration tests run real Ethereum JSON-RPC nodes: ganache, pinned, from npm.
GANACHE_VERSION=7.9.2
if [ -z "${CLOISTER_GANACHE:-}" ]; then
    ganache_dir=.cache/ganache
    if ! grep -qs "\"version\": \"$GANACHE_VERSION\"" "$ganache_dir/node_modules/ganache/package.json"; then
        need npm "install Node.js 18 or later with npm (the gateway tests run ganache@$GANACHE_VERSION) and rerun."
        echo "== npm install ganache@$GANACHE_VERSION into $ganache_dir"
        npm install --silent --save-exact --no-audit --no-fund --prefix "$ganache_dir" "ganache@$GANACHE_VERSION" >/dev/null
    fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
