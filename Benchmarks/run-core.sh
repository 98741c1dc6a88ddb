#!/bin/sh
# Builds pds-bench in release mode once and runs the core suite. Extra arguments go to the suite
# (e.g. --duration 1500, --no-reference). SCRATCH overrides the build directory.
set -eu
cd "$(dirname "$0")/.."
scratch="${SCRATCH:-.build-release}"
swift build -c release --scratch-path "$scratch" --product pds-bench
exec "$scratch/release/pds-bench" core "$@"
