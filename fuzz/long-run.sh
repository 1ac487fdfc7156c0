#!/usr/bin/env bash
# The long fuzzing campaign recorded in docs/reliability.md ("Fuzzing"): every target for
# RUNS inputs (default 10 million), one after the other, at low priority.
#
#   fuzz/long-run.sh                       # all targets
#   RUNS=1000000 fuzz/long-run.sh haproxy_cfg
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Only a stable toolchain here:
# RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz passes. The scanners and the
# differential run under AddressSanitizer; haproxy_cfg runs without (`-s none`): the crate
# is #![forbid(unsafe_code)] and ASan made that allocation-heavy target 8x slower.
# `-a` keeps debug assertions (integer overflow checks) on in the optimized build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10000000}
LOGS=${LOGS:-fuzz/artifacts/logs}
mkdir -p "$LOGS"
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_scanner reply_scanner reply_differential haproxy_cfg)
for t in "${targets[@]}"; do
  case $t in
    haproxy_cfg) san=(-s none --target-dir fuzz/target/nosan); dict=fuzz/dict/haproxy.dict ;;
    *) san=(); dict=fuzz/dict/resp.dict ;;
  esac
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  echo "== $t: $RUNS runs (log: $LOGS/$t.log)"
  start=$(date +%s)
  nice -n 10 cargo fuzz run -O -a "${san[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -runs="$RUNS" -max_len=4096 -rss_limit_mb=1024 -timeout=5 -dict="$dict" \
    -print_final_stats=1 >"$LOGS/$t.log" 2>&1 || { echo "   FAILED, see $LOGS/$t.log"; continue; }
  echo "   $(( $(date +%s) - start )) s; $(grep -E '^#[0-9]+ +DONE' "$LOGS/$t.log" | tail -1)"
  grep -E '^stat::' "$LOGS/$t.log" | sed 's/^/   /'
done
