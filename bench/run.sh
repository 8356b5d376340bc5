#!/usr/bin/env bash
# Clove benchmark: direct-to-mock vs nginx vs Clove, same run, median of rounds.
# See bench/README.md.   Usage: bash bench/run.sh
# Env: CLOVE_BIN (build/release/clove)  ROUNDS (3)  DURATION (10s)  QUICK=1 (short smoke run)
#      TARGETS ("direct nginx clove")  STREAMS (1000)  STREAM_SECONDS (30)  WARMUP (2s)
#      CONNS (64)  SLICES (5, QUICK 2: each measurement is taken in SLICES interleaved parts)  ACCESS_LOG (1: nginx logs to a file, Clove at log level info; 0: both off/warn)
#      SUBJECT_CPU (0)  AUX_CPU (1)  RESULTS_DIR (bench/results)  KEEP_TMP (0)  STRICT (0: 1 = exit 1
#      when a Clove target is missed)  WAIT_QUIET (0: 1 = before each measurement wait, up to
#      WAIT_QUIET_MAX seconds (1800), until no compiler/linker is running)
#      CREDENTIALS (4: upstream credentials Clove balances over; routing, health state and
#      least-recently-used selection run on every request)
set -Eeuo pipefail

# The whole script is one compound command, so bash parses it completely before running it and an
# edit of this file during a run cannot change the running copy.
{

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
cd "$ROOT"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2s}; WARMUP=${WARMUP:-1s}; STREAM_SECONDS=${STREAM_SECONDS:-5}
  SLICES=${SLICES:-2}
else
  ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10s}; WARMUP=${WARMUP:-2s}; STREAM_SECONDS=${STREAM_SECONDS:-30}
  SLICES=${SLICES:-5}
fi
CLOVE_BIN=${CLOVE_BIN:-build/release/clove}
STREAMS=${STREAMS:-1000}
CONNS=${CONNS:-64}
TARGETS=${TARGETS:-direct nginx clove}
ACCESS_LOG=${ACCESS_LOG:-1}
SUBJECT_CPU=${SUBJECT_CPU:-0}
AUX_CPU=${AUX_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-$BENCH/results}
KEEP_TMP=${KEEP_TMP:-0}
STRICT=${STRICT:-0}
WAIT_QUIET=${WAIT_QUIET:-0}
WAIT_QUIET_MAX=${WAIT_QUIET_MAX:-1800}
BUSY_PATTERN='cc1plus|cc1|ld|ld.gold|ld.lld|collect2|lto1|lto-wrapper'
CLIENT_KEY=ck-bench-0001
UPSTREAM_KEY=sk-bench-upstream-0001
CREDENTIALS=${CREDENTIALS:-4}
[[ $CREDENTIALS =~ ^[1-9][0-9]*$ ]] || { echo "bench: FATAL: CREDENTIALS must be a positive integer" >&2; exit 1; }
CLOVE_API_KEYS="\"$UPSTREAM_KEY\""
for ((i = 2; i <= CREDENTIALS; i++)); do CLOVE_API_KEYS+=", \"sk-bench-upstream-$(printf %04d "$i")\""; done
SSE_EVENTS=57

log() { echo "bench: $*" >&2; }
die() { echo "bench: FATAL: $*" >&2; exit 1; }

# ------------------------------------------------------------------ preflight
for t in wrk nginx node taskset curl awk pgrep cmp; do
  command -v "$t" >/dev/null || die "required tool '$t' is missing (run scripts/setup.sh)"
done
ncpu=$(nproc)
(( ncpu >= 2 )) || die "needs at least 2 CPUs for pinning (have $ncpu)"
for c in "$SUBJECT_CPU" "$AUX_CPU"; do (( c < ncpu )) || die "CPU $c does not exist"; done
[[ $DURATION =~ ^[0-9]+s?$ ]] || die "DURATION must be whole seconds, like 10s"
[[ $WARMUP =~ ^[0-9]+s?$ ]] || die "WARMUP must be whole seconds, like 2s"
[[ $SLICES =~ ^[1-9][0-9]*$ ]] || die "SLICES must be a positive integer"
DURATION_S=${DURATION%s}
WARMUP_S=${WARMUP%s}
SLICE_S=$(( DURATION_S / SLICES ))
(( SLICE_S >= 1 )) || die "DURATION ($DURATION) must be at least SLICES ($SLICES) seconds"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
for t in $TARGETS; do
  [[ $t == direct || $t == nginx || $t == clove ]] || die "unknown target '$t' in TARGETS"
done
if [[ " $TARGETS " == *" clove "* ]]; then
  [[ -x $CLOVE_BIN ]] || die "Clove binary '$CLOVE_BIN' not found or not executable (build it with
  'bash scripts/build.sh release', set CLOVE_BIN, or run TARGETS='direct nginx')"
  CLOVE_BIN=$(cd "$(dirname "$CLOVE_BIN")" && pwd)/$(basename "$CLOVE_BIN")
fi

# The driver itself (bash, awk, pgrep, node helpers) stays off the measured CPU.
taskset -p -c "$AUX_CPU" $$ >/dev/null || die "taskset failed"

# Raise the fd limit: 1000 streams need ~2000 sockets in a proxy.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= 2 * STREAMS + 200 )) || die "open-file limit $(ulimit -n) too low for $STREAMS streams"

MOCK=$BENCH/.build/mock_upstream
if [[ ! -x $MOCK || $BENCH/mock_upstream.cpp -nt $MOCK ]]; then
  command -v g++ >/dev/null || die "g++ is missing (needed to build the mock upstream)"
  [[ -f /usr/include/boost/asio.hpp ]] || die "Boost.Asio headers missing (apt-get install libboost1.81-dev)"
  mkdir -p "$BENCH/.build"
  log "building $MOCK"
  g++ -O2 -std=c++20 -o "$MOCK.tmp" "$BENCH/mock_upstream.cpp" -pthread || die "mock build failed"
  mv "$MOCK.tmp" "$MOCK"
fi

compiler_running() { grep -qxE "$BUSY_PATTERN" /proc/[0-9]*/comm 2>/dev/null; }
wait_quiet() {  # with WAIT_QUIET=1: wait until no compiler/linker has run for 5 s
  [[ $WAIT_QUIET == 1 ]] || return 0
  local waited=0 quiet=0
  while ((quiet < 5)); do
    if compiler_running; then
      quiet=0
      ((waited % 60 == 0)) && log "waiting for compilers/linkers to finish (${waited}s)"
    else
      quiet=$((quiet + 1))
    fi
    sleep 1
    waited=$((waited + 1))
    if ((waited > WAIT_QUIET_MAX)); then log "WARNING: still busy after ${WAIT_QUIET_MAX}s, measuring anyway"; return 0; fi
  done
}

TMP=$(mktemp -d /tmp/clove-bench.XXXXXX)
DATA=$TMP/data.tsv
META=$TMP/meta.tsv
ERRORS=$TMP/errors.txt
NOTES=$TMP/notes.txt
: >"$DATA"; : >"$META"; : >"$ERRORS"; : >"$NOTES"
STARTED=()
MONITOR_PID=""

cleanup() {
  local rc=$?
  if [[ -n $MONITOR_PID ]]; then kill "$MONITOR_PID" 2>/dev/null || true; wait "$MONITOR_PID" 2>/dev/null || true; fi
  for p in "${STARTED[@]}"; do stop_pid "$p" KILL 2>/dev/null || true; done
  if [[ $KEEP_TMP == 1 ]]; then log "temp files kept in $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ process helpers
proc_state() {  # prints the state letter, or nothing when gone
  local s
  { s=$(<"/proc/$1/stat"); } 2>/dev/null || return 0
  s=${s##*) }
  echo "${s%% *}"
}
proc_alive() { local st; st=$(proc_state "$1"); [[ -n $st && $st != Z ]]; }

tree() {  # the pid and all its descendants
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null || true); do tree "$c"; done
}

tree_cpu_ticks() {  # utime+stime (all threads) summed over the process tree, in clock ticks
  local total=0 p s f
  for p in $(tree "$1"); do
    { s=$(<"/proc/$p/stat"); } 2>/dev/null || continue
    s=${s##*) }
    read -ra f <<<"$s"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

tree_kb() {  # sum of a /proc/PID/status field (VmRSS, VmHWM) over the tree, in kB
  local field=$2 total=0 p v
  for p in $(tree "$1"); do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

retask() {  # move a process tree (all threads) to a CPU
  local p
  for p in $(tree "$1"); do taskset -a -p -c "$2" "$p" >/dev/null 2>&1 || true; done
}

stop_pid() {  # stop a process we started, by PID: SIGTERM, then SIGKILL after 8 s
  local pid=$1 how=${2:-TERM} i rc=0
  [[ -n $pid ]] || return 0
  if proc_alive "$pid"; then
    kill "-$how" "$pid" 2>/dev/null || true
    for ((i = 0; i < 160; i++)); do proc_alive "$pid" || break; sleep 0.05; done
    if proc_alive "$pid"; then
      log "WARNING: pid $pid did not exit on SIG$how within 8 s, killing"
      echo "pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) ignored SIG$how for 8 s" >>"$NOTES"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  local keep=() p
  for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  STARTED=("${keep[@]}")
  return $rc
}

# Interference monitor: once a second, note when a compiler or linker runs; every measurement
# checks whether the log grew while it ran and says so in the results.
BUSY_LOG=$TMP/busy.log
: >"$BUSY_LOG"
( while :; do
    if compiler_running; then date +%s >>"$BUSY_LOG"; fi
    sleep 1
  done ) &
MONITOR_PID=$!
core_busy_ticks() {  # busy ticks of one CPU from /proc/stat
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
busy_mark() {  # start watching for interference (a compiler anywhere; other load on the subject CPU)
  BUSY_AT=$(wc -l <"$BUSY_LOG")
  CORE_T0=$(core_busy_ticks "$SUBJECT_CPU")
  SUBJ_T0=$( [[ -n ${SUBJ_PID:-} ]] && tree_cpu_ticks "$SUBJ_PID" || echo 0)
  WALL_T0=${EPOCHREALTIME//[.,]/}
}
busy_check() {  # busy_check WHAT [core]: note if a compiler ran since busy_mark; with "core", also
                # note CPU time on the subject CPU not used by the subject (only it should run there)
  if (( $(wc -l <"$BUSY_LOG") > BUSY_AT )); then
    log "WARNING: a compiler/linker ran during $1: its numbers are unreliable"
    echo "round $ROUND: a compiler/linker ran during $1: its numbers are unreliable" >>"$NOTES"
  fi
  if [[ ${2:-} == core ]]; then
    local core subj wall pct
    core=$(( $(core_busy_ticks "$SUBJECT_CPU") - CORE_T0 ))
    subj=$(( $(tree_cpu_ticks "$SUBJ_PID") - SUBJ_T0 ))
    wall=$(( ${EPOCHREALTIME//[.,]/} - WALL_T0 ))
    pct=$(awk -v c="$core" -v s="$subj" -v w="$wall" -v k="$CLK_TCK" 'BEGIN { printf "%.0f", (c - s) / k / (w / 1e6) * 100 }')
    if ((pct > 5 && core - subj > 5)); then
      log "WARNING: $pct % of CPU $SUBJECT_CPU went to other processes during $1"
      echo "round $ROUND: $pct % of CPU $SUBJECT_CPU went to other processes during $1: its numbers are unreliable" >>"$NOTES"
    fi
  fi
}

# Snapshot the Clove binary so a rebuild during the run cannot change or break it.
if [[ " $TARGETS " == *" clove "* ]]; then
  wait_quiet
  cp "$CLOVE_BIN" "$TMP/clove"
  "$TMP/clove" --version >/dev/null 2>&1 || die "$CLOVE_BIN does not run (--version failed; being rebuilt?)"
  CLOVE_SRC=$CLOVE_BIN
  CLOVE_BIN=$TMP/clove
fi

CLK_TCK=$(getconf CLK_TCK)
FREE_PORTS=()
next_port() {
  if ((${#FREE_PORTS[@]} == 0)); then mapfile -t FREE_PORTS < <(node "$BENCH/tools.js" freeport 16); fi
  PORT=${FREE_PORTS[0]}
  FREE_PORTS=("${FREE_PORTS[@]:1}")
}

# spawn NAME CPU LOGFILE PORT -- CMD...   sets SPAWN_PID, SPAWN_READY_MS
# Ready time: from just before the fork to the first 200 on http://127.0.0.1:PORT/health, polled
# (new connection every ~50 µs) by a poller that is already running on the other CPU.
spawn() {
  local name=$1 cpu=$2 logf=$3 port=$4
  shift 5
  local rf=$TMP/ready.$name.$RANDOM poller t0 t1 tries
  taskset -c "$AUX_CPU" "$MOCK" --wait-ready "$port" --out "$rf" --timeout-ms 15000 &
  poller=$!
  until [[ -e $rf.started ]]; do
    proc_alive "$poller" || die "ready poller for $name failed"
    sleep 0.005
  done
  t0=$EPOCHREALTIME
  taskset -c "$cpu" "$@" >"$logf" 2>&1 &
  SPAWN_PID=$!
  STARTED+=("$SPAWN_PID")
  if ! wait "$poller"; then
    tail -n 30 "$logf" >&2 || true
    die "$name did not answer 200 on http://127.0.0.1:$port/health (log above)"
  fi
  read -r t1 tries <"$rf"
  t0=${t0//[.,]/}
  SPAWN_READY_MS=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", (a - b) / 1000 }')
  proc_alive "$SPAWN_PID" || die "$name exited right after start (log: $logf)"
}

emit() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" >>"$DATA"; }
error() { log "ERROR: $*"; echo "round $ROUND: $*" >>"$ERRORS"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }

# run_wrk TARGET LABEL CPU CONNS DURATION MODE URL   sets W (assoc array) from WRKRESULT
declare -A W
run_wrk() {
  local target=$1 label=$2 cpu=$3 conns=$4 dur=$5 mode=$6 url=$7 out line kv errs
  W=()
  if ! out=$(taskset -c "$cpu" wrk -t1 -c"$conns" -d"$dur" --timeout 5s --latency \
      -s "$BENCH/wrk_messages.lua" "$url" -- "$mode" "$CLIENT_KEY" 2>&1); then
    error "$target $label: wrk failed: $(tail -n 3 <<<"$out")"
    return 1
  fi
  if ! line=$(grep '^WRKRESULT' <<<"$out"); then
    error "$target $label: no WRKRESULT line from wrk: $(tail -n 3 <<<"$out")"
    return 1
  fi
  for kv in ${line#WRKRESULT }; do W[${kv%%=*}]=${kv#*=}; done
  errs=$((W[err_connect] + W[err_read] + W[err_write] + W[err_status] + W[err_timeout]))
  if ((W[requests] == 0)); then
    error "$target $label: no request completed"
    return 1
  fi
  if ((errs > 0)); then
    error "$target $label: $errs errors in ${W[requests]} requests (connect ${W[err_connect]}, read ${W[err_read]}, write ${W[err_write]}, non-2xx ${W[err_status]}, timeout ${W[err_timeout]})"
  fi
  return 0
}

BODY_JSON='{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Say hello."}]}'
BODY_SSE='{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Say hello."}]}'
"$MOCK" --print json >"$TMP/expect.json"
"$MOCK" --print sse-events >"$TMP/expect.sse"

validate() {  # validate TARGET URL: one JSON and one SSE answer must be 200 and byte-identical
  local target=$1 url=$2 code mode body expect
  for mode in json sse; do
    if [[ $mode == json ]]; then body=$BODY_JSON; expect=$TMP/expect.json; else body=$BODY_SSE; expect=$TMP/expect.sse; fi
    code=$(curl -sS -o "$TMP/got.$mode" -D "$TMP/got.$mode.head" -w '%{http_code}' --max-time 10 \
      -H 'content-type: application/json' -H "x-api-key: $CLIENT_KEY" \
      -H 'anthropic-version: 2023-06-01' --data-binary "$body" "$url") || code=000
    if [[ $code != 200 ]]; then
      error "$target: preflight $mode answered HTTP $code: $(head -c 300 "$TMP/got.$mode" 2>/dev/null)"
    elif ! cmp -s "$TMP/got.$mode" "$expect"; then
      error "$target: preflight $mode body differs from the mock's ($(wc -c <"$TMP/got.$mode") vs $(wc -c <"$expect") bytes)"
    fi
  done
  # keep the response heads of the first round, for the notes
  if [[ $ROUND == 1 ]]; then
    {
      echo "$target response head (SSE):"
      sed 's/^/    /; s/\r$//' "$TMP/got.sse.head"
    } >>"$TMP/heads.txt"
  fi
}

write_nginx_conf() {  # write_nginx_conf PREFIX PORT MOCK_PORT
  local prefix=$1 user="" alog=off
  [[ $(id -u) == 0 ]] && user="user root;"
  [[ $ACCESS_LOG == 1 ]] && alog="$prefix/access.log"
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$2|g" -e "s|@MOCK_PORT@|$3|g" -e "s|@USER@|$user|g" \
      -e "s|@ACCESS_LOG@|$alog|g" -e "s|@UPSTREAM_KEY@|$UPSTREAM_KEY|g" \
      "$BENCH/nginx.conf.in" >"$prefix/nginx.conf"
}

write_clove_conf() {  # write_clove_conf FILE PORT MOCK_PORT
  local level=info
  [[ $ACCESS_LOG == 1 ]] || level=warn
  cat >"$1" <<EOF
[server]
host = "127.0.0.1"
port = $2
workers = 1
drain_timeout_ms = 5000

[log]
level = "$level"

[[upstream]]
name = "mock"
kind = "anthropic"
base_url = "http://127.0.0.1:$3"
api_keys = [$CLOVE_API_KEYS]
models = ["claude-*"]

[[client_key]]
name = "bench"
key = "$CLIENT_KEY"
EOF
}

# start_subject TARGET TRICKLE_MS   sets SUBJ_PID SUBJ_URL SUBJ_LOG MOCK_PID READY_MS
start_subject() {
  local target=$1 trickle=$2 mport sport dir=$TMP/$1.r$ROUND.t$2
  mkdir -p "$dir"
  MOCK_PID=""
  SUBJ_LOG=$dir/stderr.log
  if [[ $target == direct ]]; then
    next_port; sport=$PORT
    spawn mock "$SUBJECT_CPU" "$SUBJ_LOG" "$sport" -- \
      "$MOCK" --port "$sport" --trickle-ms "$trickle"
    SUBJ_PID=$SPAWN_PID; READY_MS=$SPAWN_READY_MS
  else
    next_port; mport=$PORT
    spawn mock "$AUX_CPU" "$dir/mock.log" "$mport" -- \
      "$MOCK" --port "$mport" --trickle-ms "$trickle"
    MOCK_PID=$SPAWN_PID
    next_port; sport=$PORT
    if [[ $target == nginx ]]; then
      write_nginx_conf "$dir/nginx" "$sport" "$mport"
      spawn nginx "$SUBJECT_CPU" "$SUBJ_LOG" "$sport" -- \
        nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
    else
      write_clove_conf "$dir/clove.toml" "$sport" "$mport"
      spawn clove "$SUBJECT_CPU" "$SUBJ_LOG" "$sport" -- \
        "$CLOVE_BIN" --config "$dir/clove.toml" --data-dir "$dir/data"
    fi
    SUBJ_PID=$SPAWN_PID; READY_MS=$SPAWN_READY_MS
  fi
  SUBJ_URL="http://127.0.0.1:$sport/v1/messages"
}

stop_subject() {  # stop_subject TARGET PHASE
  local target=$1 phase=$2 rc=0
  stop_pid "$SUBJ_PID" TERM || rc=$?
  if ((rc != 0)); then
    echo "round $ROUND $target ($phase): exited with status $rc on SIGTERM" >>"$NOTES"
  fi
  if [[ $target == clove && -s $SUBJ_LOG ]]; then
    # outcome counts from the access log, and any non-access log lines (warnings, errors)
    local oc
    oc=$(grep -o '"outcome":"[a-z_]*"' "$SUBJ_LOG" | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep=", " }' | tr -d '"' || true)
    echo "round $ROUND clove ($phase): access-log outcomes: ${oc:-none}" >>"$NOTES"
    local other
    other=$(grep -v ' access {' "$SUBJ_LOG" | grep -v 'listening on' | grep -iE 'warn|error|crit' | head -n 5 || true)
    if [[ -n $other ]]; then
      { echo "round $ROUND clove ($phase): warnings/errors in its log (first 5):"; sed 's/^/    /' <<<"$other"; } >>"$NOTES"
    fi
    local nlines
    nlines=$(wc -l <"$SUBJ_LOG")
    ((nlines > 0)) && echo "round $ROUND clove ($phase): stderr lines: $nlines" >>"$NOTES"
  fi
  if [[ -n $MOCK_PID ]]; then stop_pid "$MOCK_PID" TERM || true; fi
  [[ $KEEP_TMP == 1 ]] || rm -f "$SUBJ_LOG" "$(dirname "$SUBJ_LOG")/nginx/access.log"
}

subject_alive_or_error() {  # subject_alive_or_error TARGET WHAT
  if ! proc_alive "$SUBJ_PID"; then
    error "$1: process died during $2 (last log lines: $(tail -n 5 "$SUBJ_LOG" | tr '\n' ' '))"
    return 1
  fi
}

# ------------------------------------------------------------------ one round
# All subjects of a round run side by side (idle ones cost nothing); every measurement is taken for
# each target in turn, in slices ordered A B C, C B A, ... (the round's order rotates too), so a
# slow drift of the machine's speed, which is large on shared VMs, hits every target alike.
declare -A S_PID S_URL S_LOG S_MOCK DEAD ACC_REQ ACC_CPU ACC_DUR ACC_P50 ACC_P99 ACC_N
save_subject() { S_PID[$1]=$SUBJ_PID; S_URL[$1]=$SUBJ_URL; S_LOG[$1]=$SUBJ_LOG; S_MOCK[$1]=$MOCK_PID; }
use_subject() { SUBJ_PID=${S_PID[$1]}; SUBJ_URL=${S_URL[$1]}; SUBJ_LOG=${S_LOG[$1]}; MOCK_PID=${S_MOCK[$1]}; }
alive() {  # the round's targets whose subject is still running, in the given order
  local t
  for t in "$@"; do [[ ${DEAD[$t]:-0} == 1 ]] || echo "$t"; done
}
check_alive() {  # check_alive TARGET WHAT: on death, record the error, clean up, mark dead
  use_subject "$1"
  if ! subject_alive_or_error "$1" "$2"; then
    stop_subject "$1" "$2"
    DEAD[$1]=1
    return 1
  fi
}
slice_order() {  # slice_order K TARGETS...: forward for even K, reversed for odd K
  local k=$1 i
  shift
  local ts=("$@")
  if ((k % 2 == 0)); then printf '%s\n' "${ts[@]}"; else for ((i = ${#ts[@]} - 1; i >= 0; i--)); do echo "${ts[i]}"; done; fi
}

bench_round() {
  local all=($TARGETS) order=() t mode k i c0 c1 n=${#all[@]}
  for ((i = 0; i < n; i++)); do order+=("${all[(i + ROUND - 1) % n]}"); done
  DEAD=()
  log "round $ROUND: order ${order[*]}"
  wait_quiet

  # ---- start every subject in front of its own fast mock
  for t in "${order[@]}"; do
    busy_mark
    start_subject "$t" 0
    busy_check "$t start-up (time to ready)"
    save_subject "$t"
    emit "$t" ready_ms "$READY_MS"
    log "round $ROUND: $t: ready in $READY_MS ms"
    sleep 0.3
    emit "$t" idle_rss_mb "$(mb "$(tree_kb "$SUBJ_PID" VmRSS)")"
    validate "$t" "$SUBJ_URL"
  done

  # ---- requests/s and CPU per request at $CONNS connections
  for mode in json sse; do
    for t in $(alive "${order[@]}"); do
      use_subject "$t"
      run_wrk "$t" "$mode warmup" "$AUX_CPU" "$CONNS" "${WARMUP_S}s" "$mode" "$SUBJ_URL" || true
      check_alive "$t" "$mode warmup" || true
      ACC_REQ[$t]=0; ACC_CPU[$t]=0; ACC_DUR[$t]=0
    done
    for ((k = 0; k < SLICES; k++)); do
      for t in $(alive $(slice_order "$k" "${order[@]}")); do
        use_subject "$t"
        busy_mark
        c0=$(tree_cpu_ticks "$SUBJ_PID")
        if run_wrk "$t" "$mode @$CONNS" "$AUX_CPU" "$CONNS" "${SLICE_S}s" "$mode" "$SUBJ_URL"; then
          c1=$(tree_cpu_ticks "$SUBJ_PID")
          busy_check "$t $mode @$CONNS" core
          ACC_REQ[$t]=$((ACC_REQ[$t] + W[requests]))
          ACC_CPU[$t]=$((ACC_CPU[$t] + c1 - c0))
          ACC_DUR[$t]=$((ACC_DUR[$t] + W[duration_us]))
        fi
        check_alive "$t" "$mode @$CONNS" || true
      done
    done
    for t in $(alive "${order[@]}"); do
      ((ACC_REQ[$t] > 0)) || continue
      emit "$t" "${mode}_rps" "$(awk -v r="${ACC_REQ[$t]}" -v d="${ACC_DUR[$t]}" 'BEGIN { printf "%.1f", r / (d / 1e6) }')"
      emit "$t" "${mode}_cpu_ms_1k" "$(awk -v t="${ACC_CPU[$t]}" -v k="$CLK_TCK" -v r="${ACC_REQ[$t]}" 'BEGIN { printf "%.3f", t * 1000 / k / r * 1000 }')"
      log "round $ROUND: $t: $mode @$CONNS: $(awk -v r="${ACC_REQ[$t]}" -v d="${ACC_DUR[$t]}" 'BEGIN { printf "%.0f", r / (d / 1e6) }') req/s, CPU $((ACC_CPU[$t] * 1000 / CLK_TCK)) ms for ${ACC_REQ[$t]} requests"
    done
  done
  for t in $(alive "${order[@]}"); do
    use_subject "$t"
    emit "$t" load_peak_rss_mb "$(mb "$(tree_kb "$SUBJ_PID" VmHWM)")"
  done
  sleep 1
  for t in $(alive "${order[@]}"); do
    use_subject "$t"
    emit "$t" after_load_rss_mb "$(mb "$(tree_kb "$SUBJ_PID" VmRSS)")"
  done

  # ---- latency at 1 connection: the subject, its mock and wrk all on one CPU
  for mode in json sse; do
    for t in "${order[@]}"; do ACC_P50[$t]=0; ACC_P99[$t]=0; ACC_N[$t]=0; done
    for ((k = 0; k < SLICES; k++)); do
      for t in $(alive $(slice_order "$k" "${order[@]}")); do
        use_subject "$t"
        [[ -n $MOCK_PID ]] && retask "$MOCK_PID" "$SUBJECT_CPU"
        busy_mark
        if run_wrk "$t" "$mode @1" "$SUBJECT_CPU" 1 "${SLICE_S}s" "$mode" "$SUBJ_URL"; then
          busy_check "$t $mode @1"
          ACC_P50[$t]=$((ACC_P50[$t] + W[p50_us]))
          ACC_P99[$t]=$((ACC_P99[$t] + W[p99_us]))
          ACC_N[$t]=$((ACC_N[$t] + 1))
        fi
        [[ -n $MOCK_PID ]] && retask "$MOCK_PID" "$AUX_CPU"
        check_alive "$t" "$mode @1" || true
      done
    done
    for t in $(alive "${order[@]}"); do
      ((ACC_N[$t] > 0)) || continue
      emit "$t" "lat_${mode}_p50_us" "$(awk -v s="${ACC_P50[$t]}" -v n="${ACC_N[$t]}" 'BEGIN { printf "%.1f", s / n }')"
      emit "$t" "lat_${mode}_p99_us" "$(awk -v s="${ACC_P99[$t]}" -v n="${ACC_N[$t]}" 'BEGIN { printf "%.1f", s / n }')"
      log "round $ROUND: $t: $mode @1: p50 $((ACC_P50[$t] / ACC_N[$t])) µs, p99 $((ACC_P99[$t] / ACC_N[$t])) µs"
    done
  done
  for t in $(alive "${order[@]}"); do
    use_subject "$t"
    stop_subject "$t" load
  done

  # ---- slow streams: one target at a time, a fresh subject in front of a trickling mock
  for t in "${order[@]}"; do
    streams_test "$t"
  done
}

streams_test() {
  local target=$1 c0 c1 idle hwm n ok cpu_ms trickle sfile check
  trickle=$(( STREAM_SECONDS * 1000 / (SSE_EVENTS - 1) ))
  wait_quiet
  busy_mark
  start_subject "$target" "$trickle"
  sleep 0.3
  idle=$(tree_kb "$SUBJ_PID" VmRSS)
  c0=$(tree_cpu_ticks "$SUBJ_PID")
  sfile=$TMP/streams.$target.$ROUND.json
  log "round $ROUND: $target: $STREAMS streams of ~${STREAM_SECONDS}s ($trickle ms between events)"
  if ! taskset -c "$AUX_CPU" node "$BENCH/tools.js" streams --url "$SUBJ_URL" --n "$STREAMS" \
      --key "$CLIENT_KEY" --events "$SSE_EVENTS" --timeout-s $(( STREAM_SECONDS * 3 + 30 )) >"$sfile"; then
    error "$target: streams client failed"
  fi
  c1=$(tree_cpu_ticks "$SUBJ_PID")
  hwm=$(tree_kb "$SUBJ_PID" VmHWM)
  busy_check "$target slow streams" core
  subject_alive_or_error "$target" "slow streams" || true
  n=$STREAMS
  ok=$(node -e 'const r = require(process.argv[1]); console.log(r.ok)' "$sfile" 2>/dev/null || echo 0)
  emit "$target" streams_n "$n"
  emit "$target" streams_ok "$ok"
  emit "$target" streams_peak_rss_mb "$(mb "$hwm")"
  emit "$target" streams_kb_per_stream "$(awk -v h="$hwm" -v i="$idle" -v n="$n" 'BEGIN { printf "%.2f", (h - i) / n }')"
  cpu_ms=$(( (c1 - c0) * 1000 / CLK_TCK ))
  emit "$target" streams_cpu_ms "$cpu_ms"
  log "round $ROUND: $target: streams $ok/$n ok, peak RSS $(mb "$hwm") MB, CPU $cpu_ms ms: $(cat "$sfile")"
  if [[ $ok != "$n" ]]; then
    error "$target: only $ok of $n slow streams completed: $(cat "$sfile")"
  fi
  # the streams must really have trickled through: first bytes early, whole stream ~STREAM_SECONDS
  check=$(node -e '
    const r = require(process.argv[1]), secs = Number(process.argv[2]);
    const out = [];
    if (r.ok && r.duration_s.min < 0.8 * secs) out.push(`shortest stream took ${r.duration_s.min.toFixed(2)} s, expected ~${secs} s`);
    if (r.ok && r.ttfb_ms.p50 > 0.5 * secs * 1000) out.push(`median first byte after ${(r.ttfb_ms.p50 / 1000).toFixed(2)} s: the stream is buffered, not relayed`);
    console.log(out.join("; "));' "$sfile" "$STREAM_SECONDS" 2>&1 || echo "could not read $sfile")
  [[ -z $check ]] || error "$target: slow streams: $check"
  stop_subject "$target" streams
}

# ------------------------------------------------------------------ main
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'machine\t%s, %s CPUs, kernel %s\n' "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" "$ncpu" "$(uname -r)"
  printf 'tools\t%s, %s, node %s\n' "$(nginx -v 2>&1 | sed 's/.*: //')" "$(wrk -v 2>&1 | head -n 1 | awk '{ print "wrk " $2 }')" "$(node --version)"
  if [[ " $TARGETS " == *" clove "* ]]; then
    printf 'clove\t%s (%s, built %s, sha256 %s)\n' "$("$CLOVE_BIN" --version 2>&1 | head -n 1)" "$CLOVE_SRC" \
      "$(date -u -r "$CLOVE_SRC" '+%Y-%m-%d %H:%M UTC')" "$(sha256sum "$CLOVE_BIN" | cut -c1-12)"
  fi
  printf 'settings\tROUNDS=%s DURATION=%s (in %s interleaved slices of %ss) WARMUP=%s CONNS=%s STREAMS=%s STREAM_SECONDS=%s ACCESS_LOG=%s QUICK=%s CREDENTIALS=%s\n' \
    "$ROUNDS" "$DURATION" "$SLICES" "$SLICE_S" "$WARMUP" "$CONNS" "$STREAMS" "$STREAM_SECONDS" "$ACCESS_LOG" "$QUICK" "$CREDENTIALS"
  printf 'pinning\tmeasured process (proxy, or the mock for direct) on CPU %s; mock, wrk and clients on CPU %s; @1-connection latency: everything on CPU %s\n' \
    "$SUBJECT_CPU" "$AUX_CPU" "$SUBJECT_CPU"
} >>"$META"

log "targets: $TARGETS; rounds $ROUNDS x duration $DURATION; temp $TMP"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  bench_round
done

mkdir -p "$RESULTS_DIR"
if [[ -s $ERRORS ]]; then printf 'ERRORS\t%s error(s) during the run, see the end of this file\n' "$(wc -l <"$ERRORS")" >>"$META"; fi
node "$BENCH/tools.js" report --data "$DATA" --meta "$META" --md "$RESULTS_DIR/latest.md" --fails-out "$TMP/fails"
{
  if [[ -s $TMP/heads.txt ]]; then echo; echo '## Response heads seen by the client (round 1)'; echo; cat "$TMP/heads.txt"; fi
  if [[ -s $NOTES ]]; then echo; echo '## Notes'; echo; sed 's/^/- /' "$NOTES"; fi
  if [[ -s $ERRORS ]]; then echo; echo '## Errors'; echo; sed 's/^/- /' "$ERRORS"; fi
  echo; echo '## Streams client summaries'; echo
  for f in "$TMP"/streams.*.json; do [[ -e $f ]] && echo "- $(basename "$f" .json): \`$(cat "$f")\`"; done
} >>"$RESULTS_DIR/latest.md"
log "wrote $RESULTS_DIR/latest.md"

if [[ -s $ERRORS ]]; then
  echo >&2
  echo "bench: FAILED: $(wc -l <"$ERRORS") error(s) during the run:" >&2
  sed 's/^/  /' "$ERRORS" >&2
  exit 1
fi
if [[ $STRICT == 1 && $(cat "$TMP/fails" 2>/dev/null || echo 0) != 0 ]]; then
  die "Clove missed $(cat "$TMP/fails") target(s) (STRICT=1)"
fi
exit 0
}
