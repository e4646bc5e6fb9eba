#!/usr/bin/env bash
# The whole test suite: the one command the README and CI run.
# Installs or finds everything the tests need, or stops with one sentence saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "scripts/test.sh: $1 is missing; $2" >&2; exit 1; }; }
need cargo "install Rust (https://rustup.rs) and rerun."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
