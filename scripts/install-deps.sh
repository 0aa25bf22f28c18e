#!/usr/bin/env bash
# Installs what redlock needs to build, test and benchmark, from Debian 12's archive, skipping
# what is already installed. Run as root (or with sudo on PATH).
#
# POLICY_RC_D (default /usr/sbin/policy-rc.d) is for scripts/test-install-deps.sh only, which
# runs this script against a file in a temporary directory, with apt-get, dpkg-query and sudo
# stubbed on PATH.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config      # build
  libhiredis-dev libuv1-dev             # the library's dependencies (hiredis 0.14, libuv 1.44)
  googletest libgtest-dev libgmock-dev  # tests
  libssl-dev                            # TLS (OpenSSL 3)
  libbenchmark-dev                      # micro-benchmarks
  redis-server                          # the integration tier and the demo start their own servers
  redis-tools openssl                   # TLS tests: redis-cli, and the CLI that makes test certificates
  clang-format                          # format check
  doxygen                               # the API reference (docs/Doxyfile), warnings as errors
  docker-compose                        # checks docker-compose.yml (no Docker daemon needed)
  binutils                              # nm, readelf, c++filt: scripts/check-exports.sh
  gnuplot-nox python3                   # benchmark plots (scripts/plot-bench.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
# policy-rc.d keeps the package from starting a redis-server of its own on port 6379: every
# test and the demo start their own servers on free ports. A policy-rc.d that was already
# there is kept (a copy beside it) and put back afterwards, also when apt-get fails or we are
# interrupted; the one we wrote is removed.
policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
ours=$'#!/bin/sh\nexit 101'
copy=   # the copy being made
saved=  # the copy, once complete
put_policy_back() {
  if [ -n "$saved" ]; then
    "${as_root[@]}" mv -f "$saved" "$policy"
  else
    if [ -n "$copy" ]; then "${as_root[@]}" rm -f "$copy"; fi
    if [ "$(cat "$policy" 2>/dev/null)" = "$ours" ]; then "${as_root[@]}" rm -f "$policy"; fi
  fi
}
trap put_policy_back EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -e "$policy" ] || [ -L "$policy" ]; then
  copy=$("${as_root[@]}" mktemp "$policy.redlock-saved.XXXXXX")
  "${as_root[@]}" cp -a "$policy" "$copy"  # a symlink stays a symlink
  saved=$copy
  "${as_root[@]}" rm -f "$policy"  # not written through, if it is a symlink
fi
printf '%s\n' "$ours" | "${as_root[@]}" tee "$policy" >/dev/null
"${as_root[@]}" chmod 755 "$policy"
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
