#!/bin/bash
# make bench, reading side (issue 4): decode speed of `ringtap report`
# against the stock `trace-cmd report` on the same capture, and the speed of
# `ringtap convert`.  One real capture (sched events plus a marker flood on
# every CPU) is converted to trace.dat; then, in the same run and
# alternately, `ringtap report` reads the capture, `ringtap report` reads
# the trace.dat's source again with --format ftrace, and `trace-cmd report`
# reads the converted file, all to /dev/null.  Figures and ratios are
# printed; nothing here passes or fails.
#   bench/run-decode-bench.sh BUILD [SECONDS]
set -u
build=$(cd "${1:-build}" && pwd)
secs=${2:-${BENCH_DECODE_SECONDS:-3}}
root=$(cd "$(dirname "$0")/.." && pwd)
RINGTAPD=$build/ringtapd RINGTAP=$build/ringtap MW=$build/tools/marker_writer
command -v trace-cmd >/dev/null || { echo "decode bench: trace-cmd is not installed (scripts/install-deps.sh)"; exit 1; }
. "$root/bench/lib.sh"
bench_setup ringtap-decode rtbench-decode-$$
ncpu=$(nproc)
cpus=$(seq -s, 0 $((ncpu - 1)))

# The default config, with its own instance, output and run directory.
sed -e "s|^instance = .*|instance = $inst|" \
    -e "s|^path = .*|path = $work/cap|" \
    -e "s|^run_dir = .*|run_dir = $work/run|" "$root/config/ringtap.conf" >"$work/conf"
"$RINGTAPD" -c "$work/conf" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "capturing on" "$work/daemon.log" && break; sleep 0.05; done
grep -q "capturing on" "$work/daemon.log" || { cat "$work/daemon.log"; exit 1; }
# A marker flood at a rate the capture keeps whole, beside the scheduler
# events the flood itself causes.
"$MW" -m "$T/instances/$inst/trace_marker" -c "$cpus" -t "$secs" -r 250000 -s 64 >/dev/null
kill -TERM $pid; wait $pid; pid=

in_bytes=$(du -cb "$work"/cap/*.rtap | awk 'END {print $1}')
events=$("$RINGTAP" report --stats "$work/cap" | awk '$1 == "all" {print $2; exit}')
[ -n "$events" ] || events=$("$RINGTAP" report "$work/cap" | wc -l)

# wall and CPU seconds of one command, output to /dev/null
TIMEFORMAT='%R %U %S'
timed() { { time "$@" >/dev/null 2>"$work/err"; } 2>&1 | awk '{printf "%.3f %.3f\n", $1, $2 + $3}'; }

"$RINGTAP" convert "$work/cap" -o "$work/trace.dat" >/dev/null 2>&1 ||
	{ echo "decode bench: convert failed"; exit 1; }
tc_events=$(trace-cmd report "$work/trace.dat" 2>/dev/null | grep -c ' \[[0-9]*\] ')

echo
echo "decode benchmark: $events events ($tc_events in trace.dat), $((in_bytes / 1000000)) MB of capture, best of 3 runs each"
best() { sort -n | head -1; }
declare -A wall cpu
for tool in report report_ftrace tracecmd convert; do
	for round in 1 2 3; do
		case $tool in
		report) r=$(timed "$RINGTAP" report "$work/cap") ;;
		report_ftrace) r=$(timed "$RINGTAP" report --format ftrace "$work/cap") ;;
		tracecmd) r=$(timed trace-cmd report "$work/trace.dat") ;;
		convert) r=$(timed "$RINGTAP" convert "$work/cap" -o "$work/trace2.dat") ;;
		esac
		echo "$r"
	done >"$work/$tool.times"
	wall[$tool]=$(awk '{print $1}' "$work/$tool.times" | best)
	cpu[$tool]=$(awk '{print $2}' "$work/$tool.times" | best)
done
rate() { echo "$1 / $2" | bc -l; }
printf '  %-30s %8.3f s  %11.0f events/s\n' "ringtap report" "${wall[report]}" "$(rate "$events" "${wall[report]}")"
printf '  %-30s %8.3f s  %11.0f events/s\n' "ringtap report --format ftrace" "${wall[report_ftrace]}" "$(rate "$events" "${wall[report_ftrace]}")"
printf '  %-30s %8.3f s  %11.0f events/s\n' "trace-cmd report (trace.dat)" "${wall[tracecmd]}" "$(rate "$tc_events" "${wall[tracecmd]}")"
printf '  %-30s %8.3f s  %11.1f MB/s of input\n' "ringtap convert" "${wall[convert]}" "$(rate "$in_bytes / 1000000" "${wall[convert]}")"
printf 'ratios: report/trace-cmd speed %.2f (target >= 1)   convert %.0f MB/s (target >= 200)\n' \
	"$(echo "($events / ${wall[report]}) / ($tc_events / ${wall[tracecmd]})" | bc -l)" \
	"$(rate "$in_bytes / 1000000" "${wall[convert]}")"
