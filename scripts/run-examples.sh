#!/usr/bin/env bash
# Runs each example program once against three local redis-server processes, as CI's smoke
# runs do (scripts/test.sh), and fails as soon as one of them exits non-zero (each checks what
# it shows). The servers come from `redlock fleet up` (free loopback ports, nothing kept on
# disk) and are stopped when this script ends, however it ends.
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
bash -n examples/cron/nightly-report.sh  # runs `redlock exec` from cron: only parsed here
echo
echo "every example passed"
