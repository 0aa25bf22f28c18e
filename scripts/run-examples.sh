#!/usr/bin/env bash
# Runs each example program once against three local redis-server processes, as CI's smoke
# runs do (scripts/test.sh), and fails as soon as one of them exits non-zero (each checks what
# it shows). The servers listen on free loopback ports, keep nothing on disk, and are stopped
# when this script ends, however it ends.
#
#   scripts/run-examples.sh [BUILD_DIR]    # default: build; the programs are BUILD_DIR/examples/*
#
# Against your own servers, run a program directly instead:
#   REDLOCK_SERVERS=redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379 \
#     build/examples/redlock-blocking-client
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-build}/examples

fleet_dir=$(mktemp -d)
servers=()  # redis://127.0.0.1:PORT of each server started

stop_fleet() {
  local pidfile pid i
  for pidfile in "$fleet_dir"/*.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$fleet_dir"
}
trap stop_fleet EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts one server on a free loopback port and appends its URL to `servers`. A port is tried
# only if nothing listens on it, and kept only once the server answering there is the one
# started (same pid), so another server on the machine is never used or stopped.
# TODO(fleet): replace start_fleet with `eval "$(redlock fleet up --env)"` once it exists.
start_server() {  # name
  local name=$1 port attempt i answered
  for ((attempt = 0; attempt < 10; attempt++)); do
    port=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi  # in use
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$fleet_dir/$name.pid" --dir "$fleet_dir" --logfile "$fleet_dir/$name.log" ||
      continue
    for ((i = 0; i < 50; i++)); do
      if [[ -s $fleet_dir/$name.pid ]]; then
        answered=$(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' |
          sed -n 's/^process_id://p')
        if [[ $answered == "$(<"$fleet_dir/$name.pid")" ]]; then
          servers+=("redis://127.0.0.1:$port")
          return 0
        fi
      fi
      sleep 0.1
    done
    # Not ours, or not up within 5 s (the port was taken meanwhile): stop it, try another.
    if [[ -s $fleet_dir/$name.pid ]]; then kill -KILL "$(<"$fleet_dir/$name.pid")" 2>/dev/null || true; fi
    rm -f "$fleet_dir/$name.pid"
  done
  echo "cannot start redis-server $name (see $fleet_dir/$name.log)" >&2
  return 1
}

start_fleet() {  # count
  local i
  for ((i = 1; i <= $1; i++)); do start_server "node$i"; done
}

run() {  # program [args...]
  printf '\n=== %s\n' "$*"
  timeout 120 "$examples/$1" "${@:2}"
}

start_fleet 3
REDLOCK_SERVERS=$(IFS=,; echo "${servers[*]}")
export REDLOCK_SERVERS
# These servers were started just now and have never granted a lock: each example then turns
# the quarantine of restarted servers off, which would otherwise keep every server out of the
# vote for quarantine.max_ttl (60 s). Never set this for servers that serve real locks.
export REDLOCK_FRESH_FLEET=1
echo "fleet: $REDLOCK_SERVERS"

run redlock-blocking-client
run redlock-async-loop 100
run redlock-auto-extend
run redlock-fencing
bash -n examples/cron/nightly-report.sh  # needs the redlock CLI to run: only parsed here
echo
echo "every example passed"
