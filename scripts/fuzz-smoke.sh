#!/usr/bin/env bash
# Short fuzz run of every cargo-fuzz target under fuzz/ (CI smoke test: no panics within the
# time budget). cargo-fuzz needs nightly features; on a stable toolchain RUSTC_BOOTSTRAP=1
# unlocks them. Seeds come from the committed corpora fuzz/seeds/TARGET and fuzz/corpus/TARGET;
# the working corpus is a temporary copy so the run leaves the tree clean.
#   FUZZ_SECONDS=30 bash scripts/fuzz-smoke.sh        (per target; default 30)
#   FUZZ_TARGETS="canaries_toml evidence_rules"       (default: every target)
#   FUZZ_SANITIZER=address|none                       (default: none — stable toolchains ship
#                                                      no sanitizer runtimes; panics are caught
#                                                      either way)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
[ -n "$targets" ] || { echo "fuzz-smoke: no fuzz targets found" >&2; exit 1; }
for target in $targets; do
  mkdir -p "$work/$target"
  for seeds in "fuzz/seeds/$target" "fuzz/corpus/$target"; do
    if [ -d "$seeds" ]; then cp -r "$seeds/." "$work/$target/"; fi
  done
  echo "fuzz-smoke: $target for ${secs}s"
  cargo fuzz run --sanitizer "$sanitizer" "$target" "$work/$target" -- \
    -max_total_time="$secs" -max_len=8192 -print_final_stats=1
done
echo "fuzz-smoke: all targets ran ${secs}s without a crash ($SECONDS s in total, build included)"
