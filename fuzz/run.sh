#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 25) each, from the seed corpora; fails on the
# first crash, leak or timeout (the input is kept under fuzz/artifacts/).
# Usage: fuzz/run.sh [SECONDS]   (.ci/run runs it briefly as a smoke test)
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-25}"
export RUSTC_BOOTSTRAP=1   # cargo-fuzz needs -Z flags; the toolchain here is stable
python3 seeds.py >/dev/null
cargo fuzz build --release 2>&1 | tail -1
log="$(mktemp)"
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    echo "== $target (${secs}s)"
    if ! cargo fuzz run --release "$target" "corpus/$target" -- \
        -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz target $target FAILED; the input is in fuzz/artifacts/$target/"
        exit 1
    fi
    grep -E "DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" | tail -3
done
rm -f "$log"
