#!/usr/bin/env bash
# Sets up, builds and runs every test: unit (GoogleTest), integration and e2e (the real binary,
# a fake upstream, the official @anthropic-ai/sdk and Claude Code), admin API and storage
# against SQLite and a real PostgreSQL (a throwaway cluster started here), reliability
# (framing, limits, disconnects, drain, usage durability, security), first on the release
# build, then everything again under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh

# One throwaway PostgreSQL for the whole run (storage unit tests, admin and usage tests).
export CLOVE_TEST_PG_STATE="${CLOVE_TEST_PG_STATE:-$(mktemp -d /tmp/clove-test-pg.XXXXXX)}"
trap 'bash tests/pg/cluster.sh stop >/dev/null 2>&1 || true' EXIT
CLOVE_TEST_PG_URL="$(bash tests/pg/cluster.sh start)"
export CLOVE_TEST_PG_URL
echo "=== PostgreSQL for tests: $CLOVE_TEST_PG_URL"

run_suite() {  # $1 = build kind
  local kind=$1
  export CLOVE_BUILD_KIND=$kind  # tests relax performance pass lines under sanitizers
  echo "=== [$kind] build"
  bash scripts/build.sh "$kind"
  echo "=== [$kind] unit tests"
  (cd "build/$kind" && ctest --output-on-failure -j2)
  echo "=== [$kind] integration + e2e"
  CLOVE_BIN="build/$kind/clove" bash tests/run_node_tests.sh
  echo "=== [$kind] reliability"
  CLOVE_BIN="build/$kind/clove" bash tests/reliability/run.sh
}

# A small quarantine keeps ASan's RSS close to the release build's, which the memory bounds of
# the reliability tests (row 4: peak RSS < 3x body size) measure.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite release
run_suite asan
echo "=== all tests passed in $(( $(date +%s) - start )) s"
