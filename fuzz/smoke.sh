#!/usr/bin/env bash
# Fuzz smoke run: each target for SMOKE_SECONDS (default 8) from the seeds, without a
# sanitizer (fast to build and run). Exit 0 with a SKIP message when cargo-fuzz is missing,
# non-zero on any finding (the input is left in fuzz/artifacts/<target>/).
#
#   fuzz/smoke.sh               # ~40 s once built; the first build of the crate takes minutes
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SMOKE_SECONDS:-8}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: SKIP (cargo-fuzz not installed; cargo install cargo-fuzz --locked)"
  exit 0
fi
export RUSTC_BOOTSTRAP=1
flags=(-O -a -s none --target-dir fuzz/target/nosan)
start=$(date +%s)
cargo fuzz build "${flags[@]}" >/dev/null 2>fuzz/target/smoke-build.log || {
  echo "fuzz smoke: build failed (fuzz/target/smoke-build.log)"; exit 1; }
echo "fuzz smoke: built in $(( $(date +%s) - start )) s"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for t in request_scanner reply_scanner reply_differential haproxy_cfg; do
  # haproxy_cfg also starts from the chart renders the reader's tests use (kept in one place).
  case $t in
    haproxy_cfg) dict=fuzz/dict/haproxy.dict; seeds=("fuzz/seeds/$t" crates/haproxy/tests/fixtures) ;;
    *) dict=fuzz/dict/resp.dict; seeds=("fuzz/seeds/$t") ;;
  esac
  mkdir -p "$tmp/$t" "fuzz/artifacts/$t"
  if cargo fuzz run "${flags[@]}" "$t" "$tmp/$t" "${seeds[@]}" -- \
      -max_total_time="$SECS" -max_len=4096 -rss_limit_mb=1024 -timeout=5 -dict="$dict" \
      -print_final_stats=1 >"$tmp/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$t.log")
    echo "fuzz smoke: $t ok ($runs inputs, $rate/s)"
  else
    echo "fuzz smoke: $t FAILED"; grep -E "panicked|ERROR|Test unit written" -A2 "$tmp/$t.log" | head -20
    status=1
  fi
done
echo "fuzz smoke: $(( $(date +%s) - start )) s in all"
exit $status
