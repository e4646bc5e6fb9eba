#!/usr/bin/env bash
# Runs cargo-fuzz targets (all, or those named) for SECONDS each (default 180) and stops at the
# first crash. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); see docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-180}
shift || true
command -v cargo-fuzz >/dev/null || { echo "scripts/fuzz.sh: cargo-fuzz is missing; run 'cargo install cargo-fuzz'." >&2; exit 1; }
targets=("$@"); [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for target in "${targets[@]}"; do
  echo "== $target (${seconds}s)"
  seeds=(); [ -d "seeds/$target" ] && seeds=("corpus/$target" "seeds/$target") && mkdir -p "corpus/$target"
  cargo +nightly fuzz run -O "$target" "${seeds[@]}" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' || true
  [ -z "$(ls -A "artifacts/$target" 2>/dev/null)" ] || { echo "crash in $target: see fuzz/artifacts/$target" >&2; exit 1; }
done
