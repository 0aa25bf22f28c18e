#!/usr/bin/env bash
# Builds redlock and runs the demo: five local redis-server processes, locks taken and
# released, nodes killed one by one, the fleet stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DREDLOCK_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target redlock-demo
exec build/release/examples/redlock-demo
