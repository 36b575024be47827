#!/bin/bash
# Regenerate the fuzzing seeds in tests/fuzz/seeds/ from short real
# captures: run ringtapd (as root, on tracefs) with 4 KiB sub-buffers, write
# a few markers, and keep the files small (under 64 KiB each) with
# tests/fuzz/rtap.py: "slim" keeps only the event formats used, "trim" only
# the last few sub-buffer frames.  Inputs holding several files are the
# files back to back, as fuzz_capture.c splits them.
#   tests/fuzz/make-seeds.sh [BUILD]     (BUILD defaults to build/)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
RINGTAPD=$build/ringtapd
MARKER_WRITER=$build/tools/marker_writer
TRACEFS=/sys/kernel/tracing
RTAP="python3 $here/rtap.py"
seeds=$here/seeds

[ "$(id -u)" = 0 ] || { echo "make-seeds: needs root (tracefs)" >&2; exit 1; }
for b in "$RINGTAPD" "$MARKER_WRITER"; do
	[ -x "$b" ] || { echo "make-seeds: missing $b: run make first" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/ringtap-seeds.XXXXXX)
instances=()
daemon=
cleanup() {
	local rc=$?
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	for i in "${instances[@]}"; do
		[ -d "$TRACEFS/instances/$i" ] && rmdir "$TRACEFS/instances/$i"
	done
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# capture NAME EVENTS "CONFIG LINES" "OUTPUT LINES" MARKER_WRITER_ARGS...
# Captures into $tmp/NAME while marker_writer writes to the instance.
capture() {
	local name=$1 events=$2 trace_extra=$3 out_extra=$4 inst
	shift 4
	inst=rtseed-$name-$$-$RANDOM
	instances+=("$inst")
	printf '[trace]\ninstance = %s\nevents = %s\nsubbuf_size_kb = 4\n%b\n\n[output "seed"]\ntype = file\npath = %s\n%b\n\n[daemon]\nrun_dir = %s\n' \
		"$inst" "$events" "$trace_extra" "$tmp/$name" "$out_extra" "$tmp/run" >"$tmp/$name.conf"
	"$RINGTAPD" -c "$tmp/$name.conf" >"$tmp/$name.log" 2>&1 &
	daemon=$!
	for _ in $(seq 1 200); do
		grep -q "capturing on" "$tmp/$name.log" && break
		kill -0 "$daemon" 2>/dev/null || { cat "$tmp/$name.log" >&2; exit 1; }
		sleep 0.05
	done
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" "$@" >/dev/null
	sleep 0.3
	kill -TERM "$daemon"
	wait "$daemon" || { cat "$tmp/$name.log" >&2; exit 1; }
	daemon=
	[ ! -d "$TRACEFS/instances/$inst" ] || { echo "make-seeds: $inst left behind" >&2; exit 1; }
}

slim() { $RTAP slim "$1" "$2" ftrace:print sched:sched_switch; }

mkdir -p "$seeds"
rm -f "$seeds"/*.rtap

# A few markers and context switches on CPUs 0 and 1, mmap reader: continuation
# frames (data_start > 0) from the 50 ms flushes.  Kept once with every
# ftrace format and printk_formats (cmdlines cut to 40 lines: they hold
# every task the machine ran), and slim.
# Only the marker writer's own context switches: a busy machine would
# fill the seed with other tasks'.
capture basic "ftrace:print, sched:sched_switch" \
	"buffer_size_kb = 16\nflush_interval_ms = 50\n\n[event \"sched:sched_switch\"]\nfilter = prev_comm == \"marker_writer\" || next_comm == \"marker_writer\"" \
	"" -c 0,1 -n 12 -r 100
$RTAP slim "$tmp/basic/cpu0-000000.rtap" "$seeds/basic-full.rtap"
slim "$tmp/basic/cpu0-000000.rtap" "$seeds/basic.rtap"
# Two CPUs: two chains, merged by timestamp.
slim "$tmp/basic/cpu1-000000.rtap" "$tmp/cpu1.rtap"
cat "$seeds/basic.rtap" "$tmp/cpu1.rtap" >"$seeds/two-cpus.rtap"

# The splice reader: raw pages (RT_SUBBUF_F_RAW_PAGE, partial checksums).
capture splice "ftrace:print" "buffer_size_kb = 16\nreader = read\nflush_interval_ms = 50" "" \
	-c 0 -n 200 -s 100 -r 2000
$RTAP trim "$tmp/splice/cpu0-000000.rtap" "$tmp/splice.rtap" 3
slim "$tmp/splice.rtap" "$seeds/splice.rtap"

# Overload: a flood into a 16 KiB buffer, pages with RB_MISSED_* flags.
capture lost "ftrace:print" "buffer_size_kb = 16\nbuffer_percent = 100" "" \
	-c 0 -n 20000 -s 200
$RTAP trim "$tmp/lost/cpu0-000000.rtap" "$tmp/lost.rtap" 3 missed
slim "$tmp/lost.rtap" "$seeds/lost.rtap"

# Rotation at 64 KiB: the last two files of CPU 0 back to back, trimmed
# (a rotated file restates its first page from offset 0).
capture rotated "ftrace:print" "buffer_size_kb = 16\nflush_interval_ms = 20" \
	"max_file_size = 64K" -c 0 -n 3000 -r 20000 -s 64
files=("$tmp/rotated"/cpu0-*.rtap)
[ ${#files[@]} -ge 2 ] || { echo "make-seeds: no rotation happened" >&2; exit 1; }
: >"$seeds/rotated.rtap"
for f in "${files[@]: -2}"; do
	$RTAP trim "$f" "$tmp/r.rtap" 3
	slim "$tmp/r.rtap" "$tmp/r-slim.rtap"
	cat "$tmp/r-slim.rtap" >>"$seeds/rotated.rtap"
done

# The same read by cmd_report(): fuzz_capture picks its mode from the
# preamble's reserved flags (byte 12; readers ignore it).
mode() { # SEED MODE OUT
	python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[12] = int(sys.argv[2]); open(sys.argv[3], "wb").write(d)' \
		"$seeds/$1" "$2" "$seeds/$3"
}
mode basic.rtap 4 report-text.rtap
mode two-cpus.rtap 5 report-json.rtap
mode splice.rtap 6 report-ftrace.rtap
mode lost.rtap 7 report-stats-filters.rtap

for f in "$seeds"/*.rtap; do
	size=$(stat -c %s "$f")
	[ "$size" -lt 65536 ] || { echo "make-seeds: $f is $size bytes" >&2; exit 1; }
	echo "$(basename "$f"): $size bytes"
done
