#!/usr/bin/env bash
# A consumer that links redlock by hand with pkg-config, as a Makefile would:
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig tests/consumers/pkg-config/build.sh OUTPUT [--static]
# Without --static it links a shared libredlock (Libs and Requires); with it, a static one
# (Libs.private and Requires.private too: hiredis, OpenSSL, -pthread).
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ] || { [ $# -eq 2 ] && [ "$2" != --static ]; }; then
  echo "usage: $0 OUTPUT [--static]" >&2
  exit 2
fi
here=$(dirname "$0")
# shellcheck disable=SC2046  # pkg-config's output is a list of words
c++ "$here/../take_lock.cpp" $(pkg-config ${2:+--static} --cflags --libs redlock) -o "$1"
