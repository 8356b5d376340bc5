#!/usr/bin/env bash
# Runs the reliability suite (rows 2, 4, 6, 7, 8, 11, 12, 13, 14, 15, 16 of the reliability goal table) against
# the Clove binary in $CLOVE_BIN (default build/release/clove). Files run one at a time: the load
# rows must not overlap on the 2-core machine. Each file prints "<row>: N passed, M failed".
# Rows 12-14 (usage_*.test.mjs) need the database build (--data-dir), the sqlite3 CLI and, for
# their PostgreSQL halves, the postgresql package (tests/lib/pg.mjs; CLOVE_SKIP_PG=1 skips them).
# Knobs: CLOVE_DRAIN_STREAM_MS (row 11 stream length, default 5000; the goal table's 20 s run:
# CLOVE_DRAIN_STREAM_MS=20000), CLOVE_DRAIN_STREAMS (default 500), CLOVE_DISCONNECT_STREAMS
# (default 200), CLOVE_USAGE_REQUESTS (row 12, default 2000), CLOVE_KILL9_ROUNDS (row 13, default 5),
# CLOVE_KILL9_SEED (repeat row 13's kill points), CLOVE_PG_OUTAGE_MS (row 14, default 8000),
# CLOVE_TEST_ECHO_LOGS=1 (echo Clove's stderr).
# Rows 6, 7 and 15 (error_storm, hang_drop, churn_budget.test.mjs: upstream error storms and failover,
# upstream hangs and mid-stream drops, admin churn under load and the budget race) need the database
# build (admin API); knobs CLOVE_STORM_REQUESTS (row 6, default 200), CLOVE_DROP_STREAMS (row 7,
# default 200), CLOVE_CHURN_MS (row 15, default 10000).
# Row 16 (security.test.mjs: secrets, admin authz, injection, failed-login limit) needs the database
# build and the sqlite3 CLI; its PostgreSQL cases follow the same rules as rows 12-14.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --test --test-concurrency=1 "$@" tests/reliability
