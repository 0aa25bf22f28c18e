#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. format check (clang-format); what docker-compose.yml runs (scripts/check-compose.py);
#      install-deps.sh keeps a policy-rc.d (scripts/test-install-deps.sh); every C++ block of
#      the docs compiles (scripts/check-doc-blocks.py); the API reference builds with no
#      warning (Doxygen, docs/Doxyfile, into build/doxygen);
#   2. build with warnings as errors, run every test (unit and integration tiers);
#   3. build with AddressSanitizer + UndefinedBehaviorSanitizer, run every test again;
#   4. build with ThreadSanitizer (without the torture run), run every test again.
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

step "format check, the docker-compose files, install-deps.sh's policy-rc.d"
# Valid, and five redis-server services with --appendonly yes --appendfsync always.
docker-compose -f docker-compose.yml config | scripts/check-compose.py
docker-compose -f docker-compose.sentinel.yml config -q
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror
scripts/test-install-deps.sh  # apt-get stubbed, a temporary policy-rc.d: about a second

step "the docs: every C++ block of README.md and docs/*.md compiles; the API reference builds"
scripts/check-doc-blocks.py
doxygen docs/Doxyfile  # warnings are errors (WARN_AS_ERROR)

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
# A local fleet for the consumer projects, from the redlock tool just built.
fleet() { build/ci/tools/redlock/redlock fleet "$1" --dir "$smoke/fleet" "${@:2}"; }
trap 'fleet down 2>/dev/null; rm -rf "$smoke"' EXIT
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
eval "$(fleet up --nodes 3 --env)"  # sets REDLOCK_SERVERS
scripts/test-consumers.sh "$smoke/shared" "$smoke/static"
fleet down
unset REDLOCK_SERVERS REDLOCK_QUARANTINE

step "AddressSanitizer + UndefinedBehaviorSanitizer"
configure build/ci-asan -DCMAKE_BUILD_TYPE=Debug -DREDLOCK_SANITIZE=address,undefined -DREDLOCK_BUILD_BENCH=OFF -DREDLOCK_BUILD_EXAMPLES=OFF
cmake --build build/ci-asan -j "$jobs"
# The Sentinel negative control runs in the plain pass only: it must find an overlap in 10 s,
# and under ASan's slowdown its clients get about 50 grants, too few to be sure of one (it
# found none in 2 of 11 runs on 2026-12-02). The other torture runs stay here.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/ci-asan -j "$jobs" --output-on-failure \
  -E '^torture\.sentinel\.negative_control$'

step "ThreadSanitizer"
# The torture run is left out here, and not even built (its checker's and driver's unit tests
# go with it): its client processes are the library run as in the integration tier, which TSan
# covers, and under TSan's slowdown its Sentinel scenarios miss the sentinels' timing (a forced
# failover not done within 20 s, seen in CI); it runs in the plain and ASan tiers. This also
# keeps the whole run near 30 minutes (31.9 on 2026-12-02 with it built here).
configure build/ci-tsan -DCMAKE_BUILD_TYPE=Debug -DREDLOCK_SANITIZE=thread -DREDLOCK_BUILD_BENCH=OFF -DREDLOCK_BUILD_EXAMPLES=OFF -DREDLOCK_BUILD_TORTURE=OFF
cmake --build build/ci-tsan -j "$jobs"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
  ctest --test-dir build/ci-tsan -j "$jobs" --output-on-failure
