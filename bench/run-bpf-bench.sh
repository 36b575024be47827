#!/bin/bash
# make bench: the cost of each route by which BPF events reach ringtapd's
# instance (docs/bpf.md).  A pinned generator calls getppid() N times as
# fast as it can; the bench program emits one event per call, of the
# generator only (comm filter):
#   ringbuf  BPF ring buffer, drained by ringtapd into trace_marker_raw
#            (ringtap:bench, typed)
#   printk   bpf_trace_printk into the instance's bpf_trace:bpf_trace_printk
#            (text)
# against a run with no BPF program (the baseline).  Per route: events/s of
# the generator, events captured and lost, CPU-seconds (generator + ringtapd,
# baseline subtracted) per event, and for the ring buffer the delay between
# the event and its write into the instance.  Then the event reduction a
# threshold buys: syscall_latency over the same calls with min_us = 0 and
# min_us = 1000 (events seen by the program vs events written).
# Figures are printed; nothing passes or fails.
#   bench/run-bpf-bench.sh BUILD [CALLS]
set -u
build=$(cd "${1:-build}" && pwd)
calls=${2:-${BENCH_BPF_CALLS:-1000000}}
RINGTAPD=$build/ringtapd RINGTAP=$build/ringtap
. "$(dirname "$0")/lib.sh"
bench_setup ringtap-bpf-bench rtbpfbench-$$

# The generator: N getppid() calls on CPU 0; prints wall, user and system
# seconds.  Named rtbpfgen for the programs' comm filter.
cat >"$work/gen.c" <<'C'
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	long n = atol(argv[1]);
	cpu_set_t set;
	struct timespec a, b;
	struct rusage ru;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &ru);
	printf("%.6f %.6f %.6f\n",
	       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}
C
${CC:-cc} -O2 -o "$work/rtbpfgen" "$work/gen.c" || exit 1

# run NAME EVENTS [bpf section lines...]: one capture around one generator
# run; leaves $work/NAME.{gen,log} and the capture in $work/NAME.
run() {
	local name=$1 events=$2
	shift 2
	{
		echo "[trace]"
		echo "instance = $inst"
		echo "events = $events"
		echo "buffer_size_kb = 16384"
		echo "[output \"o\"]"
		echo "type = file"
		echo "path = $work/$name"
		echo "[daemon]"
		echo "run_dir = $work"
		if [ $# -gt 0 ]; then
			echo "[bpf \"$name\"]"
			for l in "$@"; do echo "$l"; done
		fi
	} >"$work/$name.conf"
	"$RINGTAPD" -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do grep -q "capturing on" "$work/$name.log" && break; sleep 0.05; done
	"$work/rtbpfgen" "$calls" >"$work/$name.gen"
	sleep 1
	kill -INT $pid
	wait $pid
	pid=
}

# ringtapd's CPU seconds from its resource usage line
daemon_cpu() {
	sed -n 's/.*resource usage: user \([0-9.]*\) s, system \([0-9.]*\) s.*/\1 \2/p' "$work/$1.log" |
		awk '{ print $1 + $2 }'
}
gen_cpu() { awk '{ print $2 + $3 }' "$work/$1.gen"; }
gen_wall() { awk '{ print $1 }' "$work/$1.gen"; }
count() { "$RINGTAP" report --stats "$work/$1" | awk -v e="$2" '$1 == e { print $2 }'; }
stat_col() { "$RINGTAP" report --stats "$work/$1" | awk -v s="$1" -v c="$2" '$1 == s { n += $c } END { print n + 0 }'; }
lost_rb() { "$RINGTAP" report --stats "$work/$1" | awk '$1 == "all" { print $4; exit }'; }

echo "BPF emission routes: $calls getppid() calls on CPU 0, one event each"
run baseline ftrace:print
run ringbuf ftrace:print "program = bench" "route = ringbuf" "comm = rtbpfgen"
run printk "bpf_trace:bpf_trace_printk, ftrace:print" "program = bench" "route = printk" "comm = rtbpfgen"

b_cpu=$(echo "$(gen_cpu baseline) + $(daemon_cpu baseline)" | bc -l)
printf "\n%-9s %12s %12s %10s %10s %10s %14s\n" route "calls/s" captured dropped lost_rb lost_wr "CPU us/event"
printf "%-9s %12.0f %12s %10s %10s %10s %14s\n" baseline "$(echo "$calls / $(gen_wall baseline)" | bc -l)" - - - - -
for r in ringbuf printk; do
	if [ $r = ringbuf ]; then ev=ringtap:bench; else ev=bpf_trace:bpf_trace_printk; fi
	cap=$(count $r $ev)
	cap=${cap:-0}
	cpu=$(echo "$(gen_cpu $r) + $(daemon_cpu $r)" | bc -l)
	per=$(echo "($cpu - $b_cpu) * 1000000 / ($cap + ($cap == 0))" | bc -l)
	printf "%-9s %12.0f %12s %10s %10s %10s %14.3f\n" $r \
		"$(echo "$calls / $(gen_wall $r)" | bc -l)" "$cap" \
		"$(stat_col $r 5)" "$(lost_rb $r)" "$(stat_col $r 6)" "$per"
	echo "  $r: generator $(gen_cpu $r) CPU-s (baseline $(gen_cpu baseline)), ringtapd $(daemon_cpu $r) CPU-s (baseline $(daemon_cpu baseline))"
done
# the ring buffer route writes an event after it happened: how much later
"$RINGTAP" report --json --event ringtap:bench "$work/ringbuf" |
	jq -r '.ts - .fields.ts' | sort -n |
	awk '{ v[NR] = $1 } END { if (NR) printf "  ringbuf: delay from the event to its write into the instance: median %.1f us, p99 %.1f us, max %.1f us\n", v[int(NR / 2) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000, v[NR] / 1000 }'

echo
echo "Event reduction by a threshold: syscall_latency over the same calls"
run thr0 ftrace:print "program = syscall_latency" "min_us = 0" "comm = rtbpfgen"
run thr1ms ftrace:print "program = syscall_latency" "min_us = 1000" "comm = rtbpfgen"
printf "%-10s %12s %12s %12s %14s\n" min_us seen written ratio "CPU us/call"
for r in thr0 thr1ms; do
	seen=$(stat_col $r 3)
	wr=$(stat_col $r 4)
	cpu=$(echo "$(gen_cpu $r) + $(daemon_cpu $r)" | bc -l)
	printf "%-10s %12s %12s %12s %14.3f\n" "$([ $r = thr0 ] && echo 0 || echo 1000)" "$seen" "$wr" \
		"$(echo "scale=4; $wr / ($seen + ($seen == 0))" | bc -l)" \
		"$(echo "($cpu - $b_cpu) * 1000000 / $calls" | bc -l)"
done
