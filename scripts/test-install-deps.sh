#!/usr/bin/env bash
# Tests what scripts/install-deps.sh does with policy-rc.d (scripts/test.sh runs it): while
# apt-get installs, the policy in place is the one that keeps services from starting; after,
# a policy-rc.d that was there before is back byte for byte (a symlink as the same symlink),
# one that was not is not, and nothing else is left beside it, also when apt-get fails or the
# script is sent SIGTERM.
#
# Entirely in a temporary directory: install-deps.sh is pointed at a policy-rc.d there
# (POLICY_RC_D), and apt-get, dpkg-query (every package "missing") and sudo are stubs put first
# on PATH. No real apt-get runs. About a second.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "test-install-deps: $*" >&2
  exit 1
}

stubs=$tmp/stubs
mkdir "$stubs"
# apt-get: `update` succeeds; `install` checks the policy in place, notes that it ran, then
# succeeds, fails (STUB_APT=fail) or has the script sent SIGTERM (STUB_APT=term).
cat >"$stubs/apt-get" <<'EOF'
#!/usr/bin/env bash
[ "$1" = install ] || exit 0
if [ "$(cat "$POLICY_RC_D")" != $'#!/bin/sh\nexit 101' ] || [ ! -x "$POLICY_RC_D" ]; then
  echo "stub apt-get: $POLICY_RC_D is not the policy that blocks services" >&2
  exit 99
fi
touch "$STUB_RAN"
case $STUB_APT in
  fail) exit 100 ;;
  term) kill -TERM "$PPID" ;;
esac
EOF
printf '#!/bin/sh\nexit 1\n' >"$stubs/dpkg-query"
printf '#!/bin/sh\nexec "$@"\n' >"$stubs/sudo"
chmod +x "$stubs"/*
[ "$(PATH=$stubs:$PATH command -v apt-get)" = "$stubs/apt-get" ] || fail "apt-get is not the stub"

# Runs install-deps.sh in a fresh directory, after `setup` (run there) made what was there
# before; checks its exit status and that the stub apt-get was reached.
run() {  # case name, STUB_APT (ok|fail|term), expected exit status, setup command...
  local name=$1 apt=$2 expected=$3
  shift 3
  dir=$tmp/$name
  mkdir -p "$dir/sbin" "$dir/before"
  (cd "$dir/sbin" && "$@")
  cp -a "$dir/sbin/." "$dir/before/"
  local status=0
  env PATH="$stubs:$PATH" POLICY_RC_D="$dir/sbin/policy-rc.d" STUB_APT="$apt" \
    STUB_RAN="$dir/ran" scripts/install-deps.sh >"$dir/log" 2>&1 || status=$?
  if [ "$status" -ne "$expected" ]; then
    cat "$dir/log" >&2
    fail "$name: install-deps.sh exited $status, not $expected"
  fi
  [ -e "$dir/ran" ] || fail "$name: the stub apt-get install did not run"
}

# What is in sbin/ now is what was there before: the same names, a regular file byte for byte
# with its mode, a symlink with its target.
names() { (cd "$1" && find . -mindepth 1 -printf '%P\n' | sort | tr '\n' ' '); }
same_as_before() {  # case name
  local name=$1 dir=$tmp/$1 f now
  [ "$(names "$dir/sbin")" = "$(names "$dir/before")" ] ||
    fail "$name: left '$(names "$dir/sbin")', had '$(names "$dir/before")'"
  for f in "$dir/before"/*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    now=$dir/sbin/${f##*/}
    if [ -L "$f" ]; then
      if [ ! -L "$now" ] || [ "$(readlink "$now")" != "$(readlink "$f")" ]; then
        fail "$name: ${f##*/} is no longer a symlink to $(readlink "$f")"
      fi
    else
      if [ -L "$now" ] || ! cmp -s "$f" "$now"; then
        fail "$name: ${f##*/} is not restored byte for byte"
      fi
      [ "$(stat -c %a "$now")" = "$(stat -c %a "$f")" ] || fail "$name: ${f##*/} lost its mode"
    fi
  done
  echo "  $name"
}

# A policy of someone else's: no trailing newline, a byte that is not text, not executable.
theirs() { printf '#!/bin/sh\n# theirs\xff\nexit 0' >policy-rc.d && chmod 640 policy-rc.d; }
nothing() { :; }
symlink() { printf 'target\n' >target && ln -s target policy-rc.d; }

echo "install-deps.sh: policy-rc.d kept and restored"
run file-kept ok 0 theirs && same_as_before file-kept
run none-left ok 0 nothing && same_as_before none-left
run symlink-kept ok 0 symlink && same_as_before symlink-kept
run file-kept-apt-fails fail 100 theirs && same_as_before file-kept-apt-fails
run none-left-apt-fails fail 100 nothing && same_as_before none-left-apt-fails
run file-kept-on-sigterm term 143 theirs && same_as_before file-kept-on-sigterm
