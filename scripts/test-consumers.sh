#!/usr/bin/env bash
# Builds the consumer projects of tests/consumers/ and runs their program (take_lock: it takes
# and releases one lock) on the servers named by REDLOCK_SERVERS:
#
#   REDLOCK_SERVERS=redis://127.0.0.1:40001,redis://127.0.0.1:40002,redis://127.0.0.1:40003 \
#     scripts/test-consumers.sh SHARED_PREFIX STATIC_PREFIX
#
# SHARED_PREFIX and STATIC_PREFIX are where `cmake --install` put a shared
# (-DBUILD_SHARED_LIBS=ON) and a static libredlock; the static one from a build with the
# redlock tool (REDLOCK_BUILD_CLI, on by default), as scripts/test.sh makes them. Before the
# projects, each install is checked:
#   bin/redlock        the static install has it, and any install that has it can run it from
#                      the prefix (`redlock --help` exits 0)
#   version file       find_package(redlock 99) is refused by the installed version file
#   find-package       find_package(redlock), against each prefix
#   pkg-config         c++ take_lock.cpp $(pkg-config --cflags --libs redlock): the shared
#                      library; with --static, the static one
#   add-subdirectory   this source tree as a subproject: built without its tests, and the
#                      parent's `cmake --install` installs the parent's program only
# Each program must link the library it was meant to (read from its dynamic section) and
# print a token.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  echo "usage: REDLOCK_SERVERS=URL,URL,... $0 SHARED_PREFIX STATIC_PREFIX" >&2
  exit 2
fi
if [ -z "${REDLOCK_SERVERS:-}" ]; then
  echo "test-consumers: REDLOCK_SERVERS is not set (comma-separated redis:// URLs)" >&2
  exit 2
fi
shared=$(realpath "$1")
static=$(realpath "$2")
jobs=$(nproc)
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "test-consumers: $*" >&2
  exit 1
}

# Runs a command with its output kept aside, shown only if it fails.
quietly() {  # what (for the message), command...
  local what=$1
  shift
  "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; fail "$what failed"; }
}

# The one file of a kind that an install holds, e.g. its redlock.pc.
installed() {  # prefix, file name
  local found
  found=$(find "$1" -name "$2" -not -type d)
  if [ -z "$found" ] || [ "$(wc -l <<<"$found")" -ne 1 ]; then fail "$1: not one $2: '$found'"; fi
  echo "$found"
}
shared_lib=$(installed "$shared" libredlock.so)
shared_lib_dir=$(dirname "$(realpath "$shared_lib")")
installed "$static" libredlock.a >/dev/null
if [ -n "$(find "$static" -name 'libredlock.so*')" ]; then
  fail "$static holds a shared libredlock"
fi
shared_pc=$(installed "$shared" redlock.pc)
static_pc=$(installed "$static" redlock.pc)

echo "bin/redlock: in the static install, and runs from each install that has it"
[ -f "$static/bin/redlock" ] || fail "$static: no bin/redlock"
for kind in shared static; do
  prefix=${!kind}
  [ -e "$prefix/bin/redlock" ] || continue
  out=$("$prefix/bin/redlock" --help 2>&1) || fail "$prefix/bin/redlock --help failed: $out"
  [[ $out == "usage: redlock "* ]] || fail "$prefix/bin/redlock --help printed '$out'"
  echo "  $kind: bin/redlock --help"
done

# The version file, not a missing one (CMake then refuses any version, reporting it as
# "unknown"), refuses a far higher version. Script mode: no project, a few milliseconds.
echo "version file: find_package(redlock 99) refused by each install"
cat >"$work/find-version-99.cmake" <<'EOF'
find_package(redlock 99 QUIET PATHS "${prefix}" NO_DEFAULT_PATH)
message(STATUS "found=${redlock_FOUND} versions=${redlock_CONSIDERED_VERSIONS}")
EOF
for kind in shared static; do
  prefix=${!kind}
  out=$(cmake -Dprefix="$prefix" -P "$work/find-version-99.cmake" 2>&1) ||
    fail "version file ($kind): cmake -P failed: $out"
  [[ $out =~ ^--\ found=0\ versions=[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    fail "version file ($kind): find_package(redlock 99) gave: $out"
  echo "  $kind: refused (installed ${out##*=})"
done

# Checks what `program` links (libredlock.so from `lib_dir`, or no libredlock.so for
# "static"), runs it, and checks that it printed a token.
check() {  # name, program, shared lib_dir | static, [env assignments for the run...]
  local name=$1 program=$2 kind=$3
  shift 3
  local resolved
  if [ "$kind" = static ]; then
    if readelf -d "$program" | grep -q 'NEEDED.*libredlock'; then
      fail "$name: links a shared libredlock, not the static one"
    fi
  else
    resolved=$(env "$@" ldd "$program" | awk '$1 ~ /^libredlock\.so/ { print $3 }')
    [ -f "$resolved" ] || fail "$name: libredlock.so not found: '$resolved'"
    [ "$(dirname "$(realpath "$resolved")")" = "$kind" ] ||
      fail "$name: loads $resolved, not the libredlock.so in $kind"
  fi
  local out
  out=$(env "$@" "$program") || fail "$name: take_lock failed"
  [[ $out =~ ^[0-9a-f]{32}$ ]] || fail "$name: printed '$out', not a token"
  printf '  %-28s token %s\n' "$name" "$out"
}

echo "find-package: find_package(redlock) against each install"
for kind in shared static; do
  prefix=${!kind}
  build=$work/find-package-$kind
  quietly "find-package ($kind): configure" cmake -S tests/consumers/find-package -B "$build" \
    "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix"
  found=$(sed -n 's/^redlock_DIR:PATH=//p' "$build/CMakeCache.txt")
  [[ $found == "$prefix"/* ]] || fail "find-package ($kind): found redlock in $found, not $prefix"
  quietly "find-package ($kind): build" cmake --build "$build" -j "$jobs"
  lib_dir=static
  if [ "$kind" = shared ]; then lib_dir=$shared_lib_dir; fi
  check "find-package ($kind)" "$build/take_lock" "$lib_dir"
done

echo "pkg-config: c++ take_lock.cpp \$(pkg-config [--static] --cflags --libs redlock)"
PKG_CONFIG_PATH=$(dirname "$shared_pc") quietly "pkg-config (shared): build" \
  tests/consumers/pkg-config/build.sh "$work/pkg-config-shared"
# A shared library outside the loader's paths: found through LD_LIBRARY_PATH, as the user of a
# private prefix would.
check "pkg-config (shared)" "$work/pkg-config-shared" "$shared_lib_dir" \
  LD_LIBRARY_PATH="$shared_lib_dir"
PKG_CONFIG_PATH=$(dirname "$static_pc") quietly "pkg-config --static: build" \
  tests/consumers/pkg-config/build.sh "$work/pkg-config-static" --static
check "pkg-config --static" "$work/pkg-config-static" static

echo "add-subdirectory: this source tree as a subproject"
build=$work/add-subdirectory
quietly "add-subdirectory: configure" cmake -S tests/consumers/add-subdirectory -B "$build" \
  "${generator[@]}"
quietly "add-subdirectory: build" cmake --build "$build" -j "$jobs"
check "add-subdirectory" "$build/take_lock" static
quietly "add-subdirectory: install" cmake --install "$build" --prefix "$work/parent-prefix"
installed_files=$(cd "$work/parent-prefix" && find . -not -type d | sort)
[ "$installed_files" = "./bin/take_lock" ] ||
  fail "add-subdirectory: the parent's install holds more than its program:" \
    "$(tr '\n' ' ' <<<"$installed_files")"
echo "  the parent's install holds its bin/take_lock only"
