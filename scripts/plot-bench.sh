#!/usr/bin/env bash
# Turns the JSON of `redlock-bench --json FILE` into PNG plots (gnuplot):
#
#   scripts/plot-bench.sh docs/bench-latest.json docs/plots
#
# writes into the output directory (created if missing; files replaced on every run):
#   latency-by-nodes.png           acquire p50 / p99 by N: async_client, client, and the floors
#                                  (hiredis-sync at N=1 as a horizontal line, hiredis-fanout by N)
#   failover.png                   p50 and p99 per fault of the failover rows (log scale)
#   throughput-by-concurrency.png  lock+unlock pairs/s by concurrency of the throughput rows;
#                                  skipped (with a note on stderr) when the JSON has none
# Needs python3 (standard library only) and gnuplot (Debian: apt-get install gnuplot-nox).
# The gnuplot code below is single-quoted on purpose: $0, $2 ... are gnuplot's columns.
# shellcheck disable=SC2016
set -euo pipefail

die() {
  echo "plot-bench: error: $*" >&2
  exit 1
}

if [ $# -ne 2 ]; then
  echo "usage: $0 BENCH_JSON OUTPUT_DIR" >&2
  exit 2
fi
json=$1
out=$2

[ -f "$json" ] || die "no such file: $json"
[ -r "$json" ] || die "cannot read: $json"
command -v python3 >/dev/null || die "python3 is not installed"
command -v gnuplot >/dev/null || die "gnuplot is not installed (Debian: apt-get install -y gnuplot-nox)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plot-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- extract: rows -> .dat files and settings.gp (gnuplot variables) ----------------------
python3 - "$json" "$tmp" <<'PY' || die "could not read $json as redlock-bench JSON (see above)"
import json
import math
import os
import sys

path, tmp = sys.argv[1], sys.argv[2]


def fail(msg):
    print(f"plot-bench: error: {path}: {msg}", file=sys.stderr)
    sys.exit(1)


try:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
except json.JSONDecodeError as e:
    fail(f"malformed JSON: {e}")
except (OSError, UnicodeDecodeError) as e:
    fail(f"cannot read: {e}")

if not isinstance(doc, dict):
    fail("expected a JSON object with 'machine' and 'rows'")
rows = doc.get("rows")
if not isinstance(rows, list) or not rows:
    fail("'rows' is missing, not a list, or empty")
machine = doc.get("machine", {})
if not isinstance(machine, dict):
    fail("'machine' is not an object")

STRINGS = ("scenario", "client", "fault")
NUMBERS = ("nodes", "concurrency", "ops", "ops_per_s", "p50_us", "p99_us", "errors")
for i, r in enumerate(rows):
    if not isinstance(r, dict):
        fail(f"row {i} is not an object")
    for k in STRINGS:
        if not isinstance(r.get(k), str):
            fail(f"row {i}: '{k}' is missing or not a string")
    for k in NUMBERS:
        v = r.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            fail(f"row {i} ({r['scenario']}/{r['client']}): '{k}' is missing or not a number")


def clean(s):
    """A label safe inside gnuplot data files (double quotes) and single-quoted strings."""
    return str(s).replace('"', "'").replace("\n", " ").replace("\r", " ").strip()


def gp_string(s):
    return "'" + clean(s).replace("'", "''") + "'"


def write(name, lines):
    with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def num(v):
    return repr(float(v))


# The machine, for plot titles: "AMD EPYC, 2 cores, Linux 6.18.44 (host vm)".
parts = []
if machine.get("cpu"):
    parts.append(clean(machine["cpu"]))
if machine.get("cores"):
    parts.append(f"{clean(machine['cores'])} cores")
if machine.get("kernel"):
    parts.append(f"Linux {clean(machine['kernel'])}")
label = ", ".join(parts) if parts else "unknown machine"
if machine.get("host"):
    label += f" (host {clean(machine['host'])})"
for k, v in machine.items():  # anything else the runner may add later
    if k not in ("cpu", "cores", "kernel", "host") and isinstance(v, (str, int, float)):
        label += f", {clean(k)} {clean(v)}"

settings = [f"machine = {gp_string(label)}"]

# Latency by nodes: one file per client, sorted by N (plain acquires: no fencing, no TLS).
lat_clients = []
for client in ("async_client", "client"):
    sel = sorted((r for r in rows if r["scenario"] == "latency" and r["client"] == client
                  and not r.get("fencing") and not r.get("tls")),
                 key=lambda r: r["nodes"])
    if sel:
        lat_clients.append(client)
        write(f"latency-{client}.dat",
              [f"{int(r['nodes'])} {num(r['p50_us'])} {num(r['p99_us'])}" for r in sel])
fanout = sorted((r for r in rows if r["scenario"] == "floor" and r["client"] == "hiredis-fanout"),
                key=lambda r: r["nodes"])
if fanout:
    write("floor-fanout.dat",
          [f"{int(r['nodes'])} {num(r['p50_us'])} {num(r['p99_us'])}" for r in fanout])
sync = [r for r in rows if r["scenario"] == "floor" and r["client"] == "hiredis-sync"]
sync = [r for r in sync if r["nodes"] == 1] or sync
settings += [
    f"lat_clients = {gp_string(' '.join(lat_clients))}",
    f"has_fanout = {1 if fanout else 0}",
    f"has_sync = {1 if sync else 0}",
    f"sync_p50 = {num(sync[0]['p50_us']) if sync else 0}",
    f"sync_p99 = {num(sync[0]['p99_us']) if sync else 0}",
]
all_nodes = [r["nodes"] for r in rows if r["scenario"] in ("latency", "floor")]
settings += [f"max_nodes = {int(max(all_nodes)) if all_nodes else 7}"]

# Failover: one line per fault, in the runner's order. A row whose every op failed measures
# the time to fail, not an acquire.
fo = [r for r in rows if r["scenario"] == "failover"]
if fo:
    lines = []
    for r in fo:
        failing = r["ops"] > 0 and r["errors"] >= r["ops"]
        first = r.get("first_us")
        if isinstance(first, bool) or not isinstance(first, (int, float)) or not math.isfinite(first):
            first = 0
        lines.append(f"\"{clean(r['fault'])}\" {num(r['p50_us'])} {num(r['p99_us'])} "
                     f"{1 if failing else 0} {num(first)}")
    write("failover.dat", lines)
    fo_clients = sorted({clean(r["client"]) for r in fo})
    fo_nodes = sorted({int(r["nodes"]) for r in fo})
    settings += [f"fo_count = {len(fo)}",
                 f"fo_what = {gp_string(', '.join(fo_clients) + ', N = ' + '/'.join(map(str, fo_nodes)))}",
                 f"fo_max = {num(max(max(r['p50_us'], r['p99_us']) for r in fo))}",
                 f"fo_min = {num(min(r['p50_us'] for r in fo if r['p50_us'] > 0) if any(r['p50_us'] > 0 for r in fo) else 1)}"]
settings += [f"has_failover = {1 if fo else 0}"]

# Throughput: one file per client, sorted by concurrency.
tp = [r for r in rows if r["scenario"] == "throughput"]
tp_clients = []
for client in sorted({r["client"] for r in tp}):
    sel = sorted((r for r in tp if r["client"] == client), key=lambda r: r["concurrency"])
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in client)
    tp_clients.append(name)
    write(f"throughput-{name}.dat",
          [f"{int(r['concurrency'])} {num(r['ops_per_s'])} {int(r['nodes'])}" for r in sel])
tp_nodes = sorted({int(r["nodes"]) for r in tp})
settings += [f"tp_clients = {gp_string(' '.join(tp_clients))}",
             f"tp_nodes = {gp_string('/'.join(map(str, tp_nodes)))}",
             f"has_throughput = {1 if tp else 0}"]
cap = [r for r in rows if r["scenario"] == "floor" and r["client"] == "hiredis-pipelined"]
# The servers' capacity (cores / their CPU per pipelined SET); older JSON has only the SET/s reached.
capacity = (cap[0].get("capacity_per_s") or cap[0]["ops_per_s"]) if cap else 0
settings += [f"tp_capacity = {num(capacity / 10)}"]

# Timeline: acquire latency in windows over a run with a node paused and a node restarted.
timeline = doc.get("timeline") or []
if timeline:
    write("timeline.dat", [f"{num(p['t_ms'])} {num(p['p50_us'])} {num(p['p99_us'])} {int(p['errors'])}"
                           for p in timeline])
events = doc.get("timeline_events") or []
settings += [f"has_timeline = {1 if timeline else 0}",
             f"event_count = {len(events)}"]
for i, e in enumerate(events, 1):
    settings += [f"event_t{i} = {num(e['t_ms'])}", f"event_label{i} = {gp_string(clean(e['event']))}"]

write("settings.gp", settings)
PY

# ---- plot ---------------------------------------------------------------------------------
if gnuplot -e "set terminal" 2>&1 | grep -qw pngcairo; then
  terminal="pngcairo noenhanced size 900,540 font 'Sans,10'"
else
  terminal="png noenhanced size 900,540"
fi

setting() { sed -n "s/^$1 = //p" "$tmp/settings.gp"; }

common="set encoding utf8
set terminal $terminal
load '$tmp/settings.gp'
tmp = '$tmp'
set grid ytics lc rgb '#dddddd'
set key outside right top box opaque
set border 3
set tics nomirror"

mkdir -p "$out" || die "cannot create $out"
plotted=()

# Plots into $tmp first, then moves the PNG into place: a failed run leaves the old one.
render() {
  local name=$1 script=$2
  printf '%s\nset output %s\n%s\n' "$common" "'$tmp/$name'" "$script" >"$tmp/$name.gp"
  gnuplot "$tmp/$name.gp" || die "gnuplot failed on $name"
  mv -f "$tmp/$name" "$out/$name"
  plotted+=("$out/$name")
}

if [ -n "$(setting lat_clients | tr -d "'")" ] || [ "$(setting has_fanout)" = 1 ]; then
  render latency-by-nodes.png '
set multiplot layout 1,2 title "Acquire latency by number of nodes (one caller, acquire timed; floor = plain SET)\n".machine
set xlabel "nodes (N)"
set ylabel "latency (µs)"
set xrange [0.5:max_nodes+0.5]
set xtics 1
set yrange [0:*]
set key inside right bottom box opaque
set lmargin 8
set rmargin 2
do for [pct in "p50 p99"] {
  col = (pct eq "p50") ? 2 : 3
  sv = (pct eq "p50") ? sync_p50 : sync_p99
  set title pct." of acquire"
  plot \
    for [c in lat_clients] tmp."/latency-".c.".dat" using 1:col with linespoints lw 2 pt 7 \
        lc (c eq "async_client" ? 1 : 2) title c, \
    (has_fanout ? tmp."/floor-fanout.dat" : "+") using 1:(has_fanout ? column(col) : NaN) \
        with linespoints dt 2 lw 2 pt 5 lc rgb "#555555" title "floor: hiredis-fanout (majority of N)", \
    (has_sync ? sv : NaN) with lines dt 3 lw 2 lc rgb "#000000" title "floor: hiredis-sync, N = 1"
}
unset multiplot'
fi

if [ "$(setting has_failover)" = 1 ]; then
  render failover.png '
set title "Acquire latency with faults (".fo_what.", one caller)\n".machine
set ylabel "latency (µs, log scale)"
set xlabel "fault  (\"time to fail\": every acquire fails there, the bars are the time to fail)" offset 0,-2.2
set bmargin 7
set logscale y
set yrange [fo_min/2:fo_max*1.8]
set ytics (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000)
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.36
set xrange [-0.6:fo_count-0.4]
set key inside left top box opaque Left reverse width 1
first_ms(us) = us >= 1000 ? sprintf("%.1f ms", us/1000.0) : sprintf("%.2f ms", us/1000.0)
label_of(f, failing, first) = failing ? f."\n(time to fail;\nfirst: ".first_ms(first).")" : f
plot \
  tmp."/failover.dat" using ($0-0.19):2:xtic(label_of(stringcolumn(1), int(column(4)), column(5))) \
      with boxes lc rgb "#4477aa" title "p50", \
  "" using ($0+0.19):3 with boxes lc rgb "#ee8866" title "p99", \
  "" using ($0-0.19):2:(sprintf("%.1f", $2)) with labels offset 0,0.7 font ",9" notitle, \
  "" using ($0+0.19):3:(sprintf("%.1f", $3)) with labels offset 0,0.7 font ",9" notitle'
else
  echo "plot-bench: no failover rows in $json: failover.png not written" >&2
fi

if [ "$(setting has_throughput)" = 1 ]; then
  render throughput-by-concurrency.png '
set title "Throughput by concurrency: lock+unlock pairs per second (N = ".tp_nodes.")\n".machine
set xlabel "concurrency (operations in flight)"
set ylabel "pairs/s"
set logscale x 2
set xrange [*:*]
set offsets graph 0.04, graph 0.12, 0, 0
set yrange [0:*]
set format y "%.0f"
set key inside left top box opaque
plot for [i=1:words(tp_clients)] tmp."/throughput-".word(tp_clients, i).".dat" \
    using 1:2 with linespoints lw 2 pt 7 lc i title word(tp_clients, i), \
  (tp_capacity > 0 ? tp_capacity : NaN) with lines dt 2 lw 2 lc rgb "#555555" \
    title "server capacity: SET/s with every core / 10 commands per pair", \
  for [i=1:words(tp_clients)] tmp."/throughput-".word(tp_clients, i).".dat" \
    using 1:2:(sprintf("%.0f", $2)) with labels left offset 1,0 font ",9" notitle'
else
  # A plot left from an earlier JSON would not match this one.
  rm -f "$out/throughput-by-concurrency.png"
  echo "plot-bench: no throughput rows in $json: throughput-by-concurrency.png not written" >&2
fi

if [ "$(setting has_timeline)" = 1 ]; then
  render latency-over-time.png '
set title "Acquire latency over time, one caller, N = 5: a node paused, then a node killed and restarted\n".machine
set xlabel "time (ms)"
set ylabel "acquire latency per 50 ms window (µs)"
set y2label "failed acquires per window"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key outside bottom center horizontal box
do for [i=1:event_count] {
  set arrow i from first value("event_t".i), graph 0 to first value("event_t".i), graph 1 nohead dt 2 lc rgb "#888888"
  set label i value("event_label".i) at first value("event_t".i), graph 0.97 rotate by 90 right offset -1.6,0 font ",9"
}
plot tmp."/timeline.dat" using 1:2 with lines lw 2 lc 1 title "p50", \
     "" using 1:3 with lines lw 1 lc 2 title "p99", \
     "" using 1:4 axes x1y2 with impulses lw 3 lc rgb "#cc3311" title "failed acquires"'
else
  echo "plot-bench: no timeline in $json: latency-over-time.png not written" >&2
fi

[ ${#plotted[@]} -gt 0 ] || die "nothing to plot in $json (no latency, floor, failover or throughput rows)"
printf '%s\n' "${plotted[@]}"
