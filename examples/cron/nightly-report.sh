#!/usr/bin/env bash
# nightly-report.sh: runs the nightly report on one host of many. Every host runs this script
# from cron at the same time (examples/cron/crontab); the host that takes the lock
# 'nightly-report' runs the report, the others find the lock busy and exit 0 without a word
# (cron mails what a job prints: the report's output, and the errors below).
#
# Uses `redlock exec` of the redlock tool (docs/cli.md; `redlock exec --help`). The report is
# /usr/local/bin/report, or the program NIGHTLY_REPORT names: CI (scripts/run-examples.sh) runs
# this script twice at once on a local fleet with a stub report, and checks that one runs it
# and the other exits 0 without a word.
#
#   redlock exec [-n|--nonblock] [-w|--wait D] [--ttl D] [--fence] [-E|--conflict-exit-code N]
#                [--grace D] RESOURCE -- CMD ARGS...
#
# It reads the servers from REDLOCK_SERVERS (url,url,...: independent masters, 3 or more), runs
# CMD while it holds RESOURCE, and tells CMD REDLOCK_RESOURCE, REDLOCK_TOKEN and REDLOCK_FENCE
# (with --fence: a number to pass with every write, see docs/safety.md). The lock is kept alive
# (auto-extended) while the report runs; --ttl 30s is how long it outlives a host that dies in
# the middle of the report.
#
# Its exit codes, and what this script makes of each:
#   0       the report ran and succeeded.
#   75      (-E 75) the lock is busy: another host is running the report. Not an error: exit 0.
#           Without -E this is 1, which the report itself may return on failure; -E keeps the
#           two apart (75 is EX_TEMPFAIL; pick any code the report never returns).
#   2       usage error: a bad flag, duration or endpoint (REDLOCK_SERVERS). Fix the crontab.
#   3       no majority: too few servers answered, or they refuse us (password, ACL, TLS), so
#           no host ran the report: alert. A fleet (re)started less than a minute ago gives this
#           too: restarted servers do not vote for quarantine.max_ttl (docs/operations.md).
#   4       the lock was lost while the report ran (the servers stopped confirming it) and the
#           report was killed (after --grace): its work may be partial. Alert; run it again.
#   126/127 the report could not be run (127: not found, 126: not executable).
#   128+N   the report was killed by signal N (137: SIGKILL, e.g. the OOM killer), or redlock
#           exec was, while it waited for the lock.
#   other   the report's own exit status.
# Codes 2, 3, 4, 126, 127 and 128+N can also be the report's own: if it uses them, tell them
# apart in its log, or wrap it in a script that maps them to others.
#
# The lock keeps two hosts from running the report at the same time, not from running it twice
# in one night: a host whose cron fires late (its clock is off, it was busy) finds the lock free
# once the first run is over. If a second run would hurt, have the report record that tonight's
# run is done (a dated marker next to its output) and check that first.
set -uo pipefail  # no -e: the exit status of `redlock exec` is looked at below

report=${NIGHTLY_REPORT:-/usr/local/bin/report}
busy=75

log() { echo "nightly-report on $(hostname): $*" >&2; }

# What redlock exec and the report write to stderr is held back until the outcome is known, so
# that a host that finds the lock busy stays quiet ("... is held by another owner ...").
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

status=0
redlock exec -n -E "$busy" --ttl 30s nightly-report -- "$report" 2>"$errors" || status=$?
if [[ $status != "$busy" ]]; then cat "$errors" >&2; fi

case $status in
  0 | "$busy") exit 0 ;;
  2)
    log "redlock exec refused its arguments or REDLOCK_SERVERS (usage error): fix the crontab"
    ;;
  3)
    log "too few lock servers answered or they refused us (no quorum): the report did not run"
    ;;
  4)
    log "the lock was lost while the report ran; it was killed and its output may be partial"
    ;;
  126 | 127)
    log "$report could not be run (exit status $status)"
    ;;
  *)
    if ((status > 128)); then
      log "the report was killed by signal $((status - 128))"
    else
      log "the report failed with exit status $status"
    fi
    ;;
esac
exit "$status"
