#!/usr/bin/env bash
# Checks what a shared libredlock exports (scripts/test.sh runs it on the installed libraries):
#   scripts/check-exports.sh PREFIX/lib/libredlock.so [OTHER_PREFIX/lib/libredlock.a]
# It must have a SONAME (libredlock.so.MAJOR, present beside it), and every dynamic symbol it
# defines must be, by its mangled name (Itanium C++ ABI), owned by
#   - namespace redlock, but not redlock::detail (the public API; this includes the private
#     members of exported classes and what is local to their functions, such as a lambda's
#     typeinfo), or
#   - namespace std (or __gnu_cxx): the standard library's inline functions and templates
#     instantiated in our code, which libstdc++ declares with default visibility. Which of them
#     appear depends on the compiler and the optimisation level, so they are not listed.
# Anything else fails: a C symbol (hiredis, OpenSSL or libuv code linked in and re-exported, or
# one of ours outside the namespace), an entity of another namespace, or one of redlock::detail
# (the internals, hidden unless something marks them REDLOCK_API).
# Given the static library of the same sources too, it also checks the other way: each function
# or variable of namespace redlock (not detail) that the static library defines out of line
# (nm: T, D, B, R; not the inline ones, W) is exported, so no part of the API lacks REDLOCK_API.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 path/to/libredlock.so [path/to/libredlock.a]" >&2
  exit 2
fi
lib=$1
static=${2:-}
if [ ! -f "$lib" ]; then
  echo "check-exports: no such file: $lib" >&2
  exit 1
fi

# The SONAME, and the file it names next to the library (as the dynamic loader looks it up).
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
if [[ ! $soname =~ ^libredlock\.so\.[0-9]+$ ]]; then
  echo "check-exports: $lib: SONAME is '${soname}', not libredlock.so.MAJOR" >&2
  exit 1
fi
if [ ! -e "$(dirname "$lib")/$soname" ]; then
  echo "check-exports: $lib: SONAME $soname, but no such file beside it" >&2
  exit 1
fi

# What precedes the owner's name in a mangled symbol: special names (vtable TV, VTT TT,
# typeinfo TI, its name TS, thunks Th/Tv, guard variables GV), local entities (Z, nested), a
# nested name (N) with its cv- and ref-qualifiers.
prefix='^_Z(T[VTIS]|Thn?[0-9]+_|Tvn?[0-9]+_n?[0-9]+_|GV)?Z*(N[rVKRO]*)?'
owner() {  # mangled symbol: api, detail, std or other
  local symbol=$1 rest=$1
  if [[ $symbol =~ $prefix ]]; then rest=${symbol:${#BASH_REMATCH[0]}}; fi
  if [[ $symbol != _Z* ]]; then
    echo other  # not C++: outside any namespace
  elif [[ $rest == 7redlock6detail* ]]; then
    echo detail
  elif [[ $rest == 7redlock* ]]; then
    echo api
  elif [[ $rest =~ ^(St|S[absiod]|9__gnu_cxx) ]]; then
    echo std
  else
    echo other
  fi
}

symbols=$(nm -D --defined-only "$lib" | awk '{ print $NF }')
redlock=0
standard=0
bad=()
while read -r symbol; do
  [ -n "$symbol" ] || continue
  case $(owner "$symbol") in
    api) redlock=$((redlock + 1)) ;;
    std) standard=$((standard + 1)) ;;
    *) bad+=("$symbol") ;;
  esac
done <<<"$symbols"

if [ ${#bad[@]} -ne 0 ]; then
  echo "check-exports: $lib exports ${#bad[@]} symbol(s) outside the public API:" >&2
  printf '%s\n' "${bad[@]}" | c++filt | sed 's/^/  /' >&2
  exit 1
fi
# A guard against checking the wrong file: the API's entry point must be there.
if ! grep -q '^_ZN7redlock6client6create' <<<"$symbols"; then
  echo "check-exports: $lib does not export redlock::client::create" >&2
  exit 1
fi
echo "check-exports: $lib: SONAME $soname; $redlock symbols of namespace redlock," \
  "$standard standard-library instantiations, nothing else"

if [ -n "$static" ]; then
  missing=()
  defined=$(nm --defined-only "$static" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort -u)
  while read -r symbol; do
    [ -n "$symbol" ] || continue
    if [ "$(owner "$symbol")" = api ] && ! grep -qxF -- "$symbol" <<<"$symbols"; then
      missing+=("$symbol")
    fi
  done <<<"$defined"
  if [ ${#missing[@]} -ne 0 ]; then
    echo "check-exports: $lib lacks ${#missing[@]} symbol(s) of the API that $static defines" \
      "(REDLOCK_API missing?):" >&2
    printf '%s\n' "${missing[@]}" | c++filt | sed 's/^/  /' >&2
    exit 1
  fi
  echo "check-exports: every out-of-line symbol of namespace redlock in $static is exported"
fi
