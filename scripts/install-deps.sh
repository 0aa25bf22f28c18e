#!/usr/bin/env bash
# Installs what redlock needs to build, test and benchmark, from Debian 12's archive, skipping
# what is already installed. Run as root (or with sudo on PATH).
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
# test and the demo start their own servers on free ports.
"${as_root[@]}" sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
"${as_root[@]}" rm -f /usr/sbin/policy-rc.d
