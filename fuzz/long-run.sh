#!/usr/bin/env bash
# The long fuzzing campaign recorded in docs/reliability.md ("Fuzzing"): every target for
# RUNS inputs (default 10 million), one after the other, at low priority.
#
#   fuzz/long-run.sh                       # all targets
#   RUNS=1000000 fuzz/long-run.sh haproxy_cfg
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Only a stable toolchain here:
# RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz passes. `-a` keeps debug
# assertions (integer overflow checks) on in the optimized build.
# SANITIZER=none (default) or address. The crate is #![forbid(unsafe_code)], and on this
# shared 2-core machine AddressSanitizer cost 3-8x in speed, so the 10-million campaign ran
# without it and a shorter pass ran with it:
#   SANITIZER=address RUNS=1000000 fuzz/long-run.sh request_scanner reply_scanner reply_differential
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10000000}
LOGS=${LOGS:-fuzz/artifacts/logs}
mkdir -p "$LOGS"
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_scanner reply_scanner reply_differential haproxy_cfg)
SANITIZER=${SANITIZER:-none}
case $SANITIZER in
  none) san=(-s none --target-dir fuzz/target/nosan) ;;
  *) san=(-s "$SANITIZER") ;;
esac
for t in "${targets[@]}"; do
  # haproxy_cfg also starts from the chart renders the reader's tests use (kept in one place).
  case $t in
    haproxy_cfg) dict=fuzz/dict/haproxy.dict; seeds=("fuzz/seeds/$t" crates/haproxy/tests/fixtures) ;;
    *) dict=fuzz/dict/resp.dict; seeds=("fuzz/seeds/$t") ;;
  esac
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  echo "== $t: $RUNS runs, sanitizer $SANITIZER (log: $LOGS/$t-$SANITIZER.log)"
  # What was fuzzed: the commit, and a digest of the fuzzed sources (others may have them edited).
  echo "   code: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), src/resp + crates/haproxy/src/cfg sha256 $(cat crates/core/src/resp/*.rs crates/haproxy/src/cfg/*.rs | sha256sum | cut -c1-12)"
  start=$(date +%s)
  nice -n 10 cargo fuzz run -O -a "${san[@]}" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -runs="$RUNS" -max_len=4096 -rss_limit_mb=1024 -timeout=5 -dict="$dict" \
    -print_final_stats=1 >"$LOGS/$t-$SANITIZER.log" 2>&1 || { echo "   FAILED, see $LOGS/$t-$SANITIZER.log"; continue; }
  echo "   $(( $(date +%s) - start )) s; $(grep -E '^#[0-9]+[[:space:]]+DONE' "$LOGS/$t-$SANITIZER.log" | tail -1)"
  grep -E '^stat::' "$LOGS/$t-$SANITIZER.log" | sed 's/^/   /'
done
