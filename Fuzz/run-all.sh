#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS, one after another (docs/FUZZING.md).
#
#   Fuzz/run-all.sh SECONDS [TARGET...]
#
# Prints executions and crashes per target; exits 1 when any target crashed (or timed out, ran out
# of memory, or failed an invariant), with the inputs under Fuzz/crashes/<target>/. The corpus
# grows in Fuzz/corpus/<target>/ from run to run; seeds are made fresh each run from the shared
# vectors (FUZZ_VECTORS, default ../shared/vectors beside the repository) and by the targets.
#
# Environment: FUZZ_JOBS (build jobs, default 2), FUZZ_SKIP_BUILD=1 (use the last build),
# FUZZ_VECTORS, FUZZ_RUNS=N (stop each target after N executions; SECONDS is then only a cap).
set -uo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$fuzz")"
seconds="${1:?usage: run-all.sh SECONDS [TARGET...]}"
shift
all=(dagcbor car json jwt syntax lexicon age mst dns http-response xrpc-query)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
vectors="${FUZZ_VECTORS:-$(cd "$repo/.." && pwd)/shared/vectors}"

# -parse-as-library: each target's entry is @main (which calls libFuzzer's driver); SwiftPM renames
# executables' entry points on Linux, so libFuzzer's own main() cannot be used.
# -Xcc: C dependencies (llhttp in NIOHTTP1) get coverage and ASan as well.
flags=(-c release -j "${FUZZ_JOBS:-2}" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
       -Xcc -fsanitize=fuzzer-no-link,address)
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  start=$(date +%s)
  if ! swift build --package-path "$fuzz" "${flags[@]}" >"$fuzz/.build-log.txt" 2>&1; then
    tail -n 40 "$fuzz/.build-log.txt"
    echo "fuzz build failed" >&2
    exit 2
  fi
  echo "fuzz build: $(( $(date +%s) - start )) s"
fi
bin="$(swift build --package-path "$fuzz" "${flags[@]}" --show-bin-path)"

seeds="$fuzz/corpus/seeds"
rm -rf "$seeds"
mkdir -p "$seeds" "$fuzz/logs"
if [ -d "$vectors" ]; then
  echo "seeds from $vectors: $(python3 "$fuzz/seeds.py" "$vectors" "$seeds")"
else
  echo "no vectors at $vectors: generated seeds only"
fi

max_len() {
  case "$1" in
    car) echo 65536 ;;
    mst|age) echo 16384 ;;
    lexicon|json) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

failed=0
printf '%-14s %12s %9s %8s %8s  %s\n' target executions exec/s corpus crashes note
for target in "${targets[@]}"; do
  exe="$bin/fuzz-$target"
  [ -x "$exe" ] || { echo "no such target: $target" >&2; failed=1; continue; }
  corpus="$fuzz/corpus/$target"
  crashes="$fuzz/crashes/$target"
  log="$fuzz/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$seeds/$target"
  before=$(find "$crashes" -type f | wc -l)
  # Leak detection is off: LeakSanitizer reports Swift's global values (the built-in Lexicon
  # catalog, caches) as leaked, because multi-payload enums keep their case in a pointer's
  # spare bits. Memory growth still fails the run through -rss_limit_mb.
  FUZZ_SEED_DIR="$seeds/$target" FUZZ_VECTORS="$vectors" FUZZ_AGE_IDENTITIES="$seeds/age-identities.txt" \
    ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" \
    "$exe" "$corpus" "$seeds/$target" -max_total_time="$seconds" -print_final_stats=1 -detect_leaks=0 \
      -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} \
      -artifact_prefix="$crashes/" >"$log" 2>&1
  rc=$?
  after=$(find "$crashes" -type f | wc -l)
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  rate=$(grep -E '^stat::average_exec_per_sec' "$log" | tail -n 1 | awk '{print $2}')
  size=$(find "$corpus" -type f | wc -l)
  found=$(( after - before ))
  note=""
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed=1
    [ "$found" -gt 0 ] || found=1
    note="exit $rc: $(grep -m1 -E 'ERROR: |fuzz invariant failed|Fatal error|deadly signal|ALARM' "$log" | cut -c1-120); see $log"
  fi
  printf '%-14s %12s %9s %8s %8s  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$size" "$found" "$note"
done
exit "$failed"
