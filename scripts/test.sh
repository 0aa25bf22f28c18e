#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. format check (clang-format); every C++ block of the docs compiles
#      (scripts/check-doc-blocks.py); the API reference builds with no warning (Doxygen,
#      docs/Doxyfile, into build/doxygen);
#   2. build with warnings as errors, run every test (unit and integration tiers);
#   3. build with AddressSanitizer + UndefinedBehaviorSanitizer, run every test again;
#   4. build with ThreadSanitizer, run every test again.
# Between 2 and 3: smoke runs, and the packaging: a shared and a static install, what the shared
# library exports, and the consumer projects of tests/consumers/ on three local servers.
# Integration tests start their own redis-server processes on free loopback ports; a missing
# redis-server is a failure here (REDLOCK_REQUIRE_REDIS=1), not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export REDLOCK_REQUIRE_REDIS=1
jobs=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

step "format check, docker-compose.yml"
docker-compose -f docker-compose.yml config -q
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror

step "the docs: every C++ block of README.md and docs/*.md compiles; the API reference builds"
scripts/check-doc-blocks.py
doxygen docs/Doxyfile  # warnings are errors (WARN_AS_ERROR)

# TODO(fleet): these two become `redlock fleet up --env` and `redlock fleet down`.
# start_servers N: N local redis-servers on free loopback ports, in $servers_dir; exports
# REDLOCK_SERVERS, their URLs. stop_servers: stops them, by the pids in their pidfiles.
server_ports=()
start_servers() {
  mkdir -p "$servers_dir"
  local i tries port urls=()
  for ((i = 0; i < $1; i++)); do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    server_ports+=("$port")
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --dir "$servers_dir" --pidfile "$servers_dir/$port.pid" --logfile "$servers_dir/$port.log"
    for ((tries = 0; tries < 50; tries++)); do
      [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" != PONG ]; then
      cat "$servers_dir/$port.log" >&2
      return 1
    fi
    urls+=("redis://127.0.0.1:$port")
  done
  REDLOCK_SERVERS=$(IFS=,; echo "${urls[*]}")
  export REDLOCK_SERVERS
}
running() {  # pid: alive and not a zombie (a daemon's parent is init, which may reap it late)
  local state
  state=$(ps -o stat= -p "$1") && [[ $state != Z* ]]
}
stop_servers() {
  local port pid tries
  for port in "${server_ports[@]}"; do
    pid=$(cat "$servers_dir/$port.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || continue
    for ((tries = 0; tries < 100; tries++)); do  # 10 s for SIGTERM, then SIGKILL
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then kill -KILL "$pid"; fi
  done
  server_ports=()
}

configure() {  # build dir, extra cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DREDLOCK_WERROR=ON "$@" >/dev/null
}

step "build (warnings are errors) and test"
configure build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=OFF
cmake --build build/ci -j "$jobs"
ctest --test-dir build/ci -j "$jobs" --output-on-failure

step "smoke runs: the demo and the examples (each exits non-zero if a lock misbehaves), the benchmarks, the plots"
build/ci/examples/redlock-demo >/dev/null
scripts/run-examples.sh build/ci >/dev/null
smoke=$(mktemp -d)
servers_dir="$smoke/servers"
trap 'stop_servers; rm -rf "$smoke"' EXIT
build/ci/bench/redlock-bench --scenario all --seconds 0.3 --json "$smoke/bench.json" >/dev/null
build/ci/bench/redlock-micro-bench --benchmark_min_time=0.01 >/dev/null
scripts/plot-bench.sh "$smoke/bench.json" "$smoke/plots" >/dev/null

step "packaging: shared and static installs, the shared library's exports, the consumer projects"
configure build/ci-shared -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=ON \
  -DREDLOCK_BUILD_TESTS=OFF -DREDLOCK_BUILD_BENCH=OFF -DREDLOCK_BUILD_TORTURE=OFF \
  -DREDLOCK_BUILD_EXAMPLES=OFF -DREDLOCK_BUILD_CLI=OFF  # the library alone
cmake --build build/ci-shared -j "$jobs"
cmake --install build/ci-shared --prefix "$smoke/shared" >/dev/null
cmake --install build/ci --prefix "$smoke/static" >/dev/null  # build/ci: the static library
scripts/check-exports.sh "$smoke/shared/lib/libredlock.so" "$smoke/static/lib/libredlock.a"
start_servers 3  # TODO(fleet): REDLOCK_SERVERS from redlock fleet up
scripts/test-consumers.sh "$smoke/shared" "$smoke/static"
stop_servers

step "AddressSanitizer + UndefinedBehaviorSanitizer"
configure build/ci-asan -DCMAKE_BUILD_TYPE=Debug -DREDLOCK_SANITIZE=address,undefined -DREDLOCK_BUILD_BENCH=OFF -DREDLOCK_BUILD_EXAMPLES=OFF
cmake --build build/ci-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/ci-asan -j "$jobs" --output-on-failure

step "ThreadSanitizer"
configure build/ci-tsan -DCMAKE_BUILD_TYPE=Debug -DREDLOCK_SANITIZE=thread -DREDLOCK_BUILD_BENCH=OFF -DREDLOCK_BUILD_EXAMPLES=OFF
cmake --build build/ci-tsan -j "$jobs"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
  ctest --test-dir build/ci-tsan -j "$jobs" --output-on-failure
