#!/bin/sh
# Builds pds-bench in release mode once and runs every suite in turn: core, then repo. Extra
# arguments go to each suite (e.g. --duration 1500, --rounds 5, --no-reference). SCRATCH
# overrides the build directory. To run one suite: run-core.sh, or the binary with a suite name.
set -eu
cd "$(dirname "$0")/.."
scratch="${SCRATCH:-.build-release}"
swift build -c release --scratch-path "$scratch" --product pds-bench
for suite in core repo; do
    "$scratch/release/pds-bench" "$suite" "$@"
done
