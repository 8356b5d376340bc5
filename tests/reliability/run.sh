#!/usr/bin/env bash
# Runs the reliability suite (rows 2, 4, 8, 11 of the reliability goal table) against the Clove
# binary in $CLOVE_BIN (default build/release/clove). Files run one at a time: rows 8 and 11 load
# the 2-core machine and must not overlap. Each file prints "<row>: N passed, M failed".
# Knobs: CLOVE_DRAIN_STREAM_MS (row 11 stream length, default 5000; the goal table's 20 s run:
# CLOVE_DRAIN_STREAM_MS=20000), CLOVE_DRAIN_STREAMS (default 500), CLOVE_DISCONNECT_STREAMS
# (default 200), CLOVE_TEST_ECHO_LOGS=1 (echo Clove's stderr).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --test --test-concurrency=1 "$@" tests/reliability
