#!/usr/bin/env bash
# Runs each example program once against three local redis-server processes, as CI's smoke
# runs do (scripts/test.sh), and fails as soon as one of them exits non-zero (each checks what
# it shows); then examples/cron/nightly-report.sh as two hosts would run it at once (see
# nightly_report below). The servers come from `redlock fleet up` (free loopback ports, nothing
# kept on disk) and are stopped when this script ends, however it ends.
#
#   scripts/run-examples.sh [BUILD_DIR]   # default: build; needs its examples and tools/redlock
#
# Against your own servers, run a program directly instead:
#   REDLOCK_SERVERS=redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379 \
#     build/examples/redlock-blocking-client
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
redlock=$build/tools/redlock/redlock

fleet_dir=$(mktemp -d)
stop_fleet() {
  "$redlock" fleet down --dir "$fleet_dir/fleet" 2>/dev/null || true
  # A `fleet up` cut short (Ctrl-C) has not listed its servers for `fleet down` yet: stop
  # those it started, by the pids in their pidfiles.
  local pidfile pid
  for pidfile in "$fleet_dir"/fleet/node-*/redis.pid; do
    [[ -s $pidfile ]] || continue
    pid=$(<"$pidfile")
    if grep -qs redis-server "/proc/$pid/cmdline"; then kill -KILL "$pid" || true; fi
  done
  rm -rf "$fleet_dir"
}
trap stop_fleet EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run() {  # program [args...]
  printf '\n=== %s\n' "$*"
  timeout 120 "$build/examples/$1" "${@:2}"
}

# examples/cron/nightly-report.sh as cron runs it on two hosts at once, with a stub report
# (NIGHTLY_REPORT): one run must run the report and the other exit 0 without a word, the lock
# being busy. The stub holds the lock until the quiet run has ended, so the two always overlap.
# Then one run alone whose report fails: the script must exit with the report's status, and say
# so.
nightly_report() {
  printf '\n=== %s\n' "examples/cron/nightly-report.sh, twice at once"
  local dir=$fleet_dir/cron tools
  tools=$(realpath "$(dirname "$redlock")")  # nightly-report.sh finds redlock on PATH
  mkdir "$dir"
  cat >"$dir/report" <<'EOF'
#!/usr/bin/env bash
echo "report ran, holding $REDLOCK_RESOURCE"
if [[ -n ${CRON_REPORT_STATUS:-} ]]; then exit "$CRON_REPORT_STATUS"; fi
echo ran >>"$CRON_DIR/runs"
for _ in $(seq 200); do
  if [[ -e $CRON_DIR/finish ]]; then exit 0; fi
  sleep 0.05
done
echo "stub report: not told to finish within 10 s" >&2
exit 1
EOF
  chmod +x "$dir/report"
  local i pids=()
  for i in 1 2; do
    PATH=$tools:$PATH NIGHTLY_REPORT=$dir/report CRON_DIR=$dir timeout 60 \
      examples/cron/nightly-report.sh >"$dir/out-$i" 2>"$dir/err-$i" &
    pids+=("$!")
  done
  cron_fail() {
    touch "$dir/finish"
    wait "${pids[@]}" || true
    for i in 1 2; do printf -- '--- run %s: stdout\n%s\n--- stderr\n%s\n' "$i" \
      "$(<"$dir/out-$i")" "$(<"$dir/err-$i")" >&2; done
    echo "nightly-report: $*" >&2
    exit 1
  }
  local first status=0 quiet ran
  wait -n -p first "${pids[@]}" || status=$?
  if [[ $first == "${pids[0]}" ]]; then quiet=1 ran=2; else quiet=2 ran=1; fi
  [[ $status == 0 ]] || cron_fail "the run that ended first (run $quiet) exited $status, not 0"
  [[ ! -s $dir/out-$quiet && ! -s $dir/err-$quiet ]] ||
    cron_fail "the run that found the lock busy (run $quiet) printed something"
  touch "$dir/finish"
  status=0
  wait "${pids[ran - 1]}" || status=$?
  [[ $status == 0 ]] || cron_fail "the run holding the lock (run $ran) exited $status, not 0"
  [[ $(<"$dir/out-$ran") == "report ran, holding nightly-report" && ! -s $dir/err-$ran ]] ||
    cron_fail "the run holding the lock (run $ran) did not print the report's output alone"
  [[ $(<"$dir/runs") == ran ]] || cron_fail "the report ran $(wc -l <"$dir/runs") times, not once"
  echo "run $ran ran the report; run $quiet found the lock busy and exited 0 without a word"

  status=0
  PATH=$tools:$PATH NIGHTLY_REPORT=$dir/report CRON_DIR=$dir CRON_REPORT_STATUS=5 timeout 60 \
    examples/cron/nightly-report.sh >"$dir/out-3" 2>"$dir/err-3" || status=$?
  [[ $status == 5 && $(<"$dir/err-3") == *"the report failed with exit status 5" ]] ||
    cron_fail "a report that fails with status 5: exited $status, stderr '$(<"$dir/err-3")'"
  echo "a report that fails with status 5: exits 5 and says so"
}

# Sets REDLOCK_SERVERS, and REDLOCK_QUARANTINE=off: servers started a moment ago would each sit
# out the quarantine of restarted servers (quarantine.max_ttl, 60 s) before they vote, and
# these have never granted a lock. Never set it so for servers that serve real locks.
fleet_env=$("$redlock" fleet up --env --nodes 3 --dir "$fleet_dir/fleet")
eval "$fleet_env"
echo "fleet: $REDLOCK_SERVERS"

run redlock-blocking-client
run redlock-async-loop 100
run redlock-auto-extend
run redlock-fencing
nightly_report
echo
echo "every example passed"
