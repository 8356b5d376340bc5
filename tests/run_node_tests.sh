#!/usr/bin/env bash
# Runs the Node.js test suites against the Clove binary: the fake upstreams' self-tests
# (tests/fake_upstream, tests/fake_openai), then tests/integration (raw HTTP), tests/e2e
# (official @anthropic-ai/sdk and openai SDKs, Claude Code) and tests/admin (admin API on SQLite
# and PostgreSQL).
#
#   CLOVE_BIN=build/release/clove bash tests/run_node_tests.sh [extra node --test args / files]
#
# The PostgreSQL runs of tests/admin use $CLOVE_TEST_PG_URL when set (scripts/test.sh starts one
# cluster for the whole run with tests/pg/cluster.sh); otherwise this script starts one for its
# own run when the PostgreSQL server binaries are installed (else each test file starts its own,
# and without PostgreSQL those runs are skipped). CLOVE_TEST_BACKENDS=sqlite (or CLOVE_SKIP_PG=1)
# limits tests/admin to SQLite.
#
# Installs tests/node_modules with `npm ci` when it is missing or older than package-lock.json.
# Prints a one-line summary; exits non-zero on any failure.
set -euo pipefail
TESTS_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$TESTS_DIR/.." && pwd)"
cd "$ROOT"

export CLOVE_BIN="${CLOVE_BIN:-build/release/clove}"
case "$CLOVE_BIN" in
  /*) bin_path="$CLOVE_BIN" ;;
  *) bin_path="$ROOT/$CLOVE_BIN" ;;
esac
if [[ ! -x "$bin_path" ]]; then
  echo "run_node_tests: Clove binary not found or not executable: $bin_path (set CLOVE_BIN)" >&2
  exit 1
fi

command -v node >/dev/null || { echo "run_node_tests: node is missing" >&2; exit 1; }
command -v npm >/dev/null || { echo "run_node_tests: npm is missing" >&2; exit 1; }

# npm ci when node_modules is missing or stale (npm writes node_modules/.package-lock.json).
stamp="$TESTS_DIR/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$TESTS_DIR/package-lock.json" -nt "$stamp" || "$TESTS_DIR/package.json" -nt "$stamp" \
      || ! -d "$TESTS_DIR/node_modules/@anthropic-ai/sdk" ]]; then
  echo "run_node_tests: npm ci in tests/"
  (cd "$TESTS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
# Claude Code's native binary comes from a platform package (optional dependency).
if ! ls "$TESTS_DIR"/node_modules/@anthropic-ai/claude-code-linux-*/claude >/dev/null 2>&1 \
   && [[ ! -x "$TESTS_DIR/node_modules/.bin/claude" ]]; then
  echo "run_node_tests: Claude Code binary missing after npm ci" >&2
  exit 1
fi

tap="$(mktemp)"
trap 'rm -f "$tap"' EXIT
if (($#)); then targets=("$@"); else targets=(tests/fake_upstream tests/fake_openai tests/integration tests/e2e tests/admin); fi

# one PostgreSQL cluster for this run (stopped on exit) unless the caller provides one or no
# target needs it
pg_state=""
wants_pg=0
for t in "${targets[@]}"; do [[ "$t" == *admin* ]] && wants_pg=1; done
if ((wants_pg)) && [[ -z "${CLOVE_TEST_PG_URL:-}" && "${CLOVE_SKIP_PG:-}" != 1 && "${CLOVE_TEST_BACKENDS:-sqlite,postgres}" == *postgres* ]] \
   && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pg_state="$(mktemp -d "${TMPDIR:-/tmp}/clove-test-pg-run.XXXXXX")"
  rmdir "$pg_state"
  if CLOVE_TEST_PG_URL="$(CLOVE_TEST_PG_STATE="$pg_state" bash "$TESTS_DIR/pg/cluster.sh" start)"; then
    export CLOVE_TEST_PG_URL
    echo "run_node_tests: PostgreSQL for this run at $CLOVE_TEST_PG_URL"
  else
    echo "run_node_tests: could not start PostgreSQL; test files start their own" >&2
    unset CLOVE_TEST_PG_URL
  fi
fi
cleanup() {
  rm -f "$tap"
  if [[ -n "$pg_state" ]]; then CLOVE_TEST_PG_STATE="$pg_state" bash "$TESTS_DIR/pg/cluster.sh" stop || true; fi
}
trap cleanup EXIT

echo "run_node_tests: CLOVE_BIN=$CLOVE_BIN node $(node --version)"
start=$(date +%s)
set +e
node --test --test-concurrency=1 --test-timeout=120000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${targets[@]}"
rc=$?
set -e

count() { sed -n "s/^# $1 \([0-9][0-9]*\)$/\1/p" "$tap" | tail -1; }
pass=$(count pass); fail=$(count fail); skipped=$(count skipped); cancelled=$(count cancelled)
pass=${pass:-0}; fail=${fail:-0}; skipped=${skipped:-0}; cancelled=${cancelled:-0}
fail=$((fail + cancelled))
if ((rc != 0 && fail == 0)); then fail=1; fi   # the runner failed outside any test
echo "node tests ($(( $(date +%s) - start )) s):"
echo "${pass} passed, ${fail} failed, ${skipped} skipped"
exit $(( rc != 0 || fail != 0 ))
