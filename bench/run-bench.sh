#!/bin/bash
# make bench: the capture benchmark of the core issue.  One pinned marker
# writer per CPU floods 200-byte markers at full speed while ringtapd
# captures; the same run measures the mapped reader, the `reader = read`
# (splice) reader, plain read() (`reader = copy`), and the mapped reader
# with a discarding output, plus dd writing as many bytes to the same
# filesystem.  Figures and ratios are printed; nothing here passes or fails.
#   bench/run-bench.sh BUILD [SECONDS]
set -u
build=$(cd "${1:-build}" && pwd)
secs=${2:-${BENCH_SECONDS:-8}}
root=$(cd "$(dirname "$0")/.." && pwd)
RINGTAPD=$build/ringtapd RINGTAP=$build/ringtap MW=$build/tools/marker_writer
T=/sys/kernel/tracing
[ -e $T/instances ] || mount -t tracefs nodev $T
work=$(mktemp -d /var/tmp/ringtap-bench.XXXXXX)
inst=rtbench-$$
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -d "$T/instances/$inst" ] && rmdir "$T/instances/$inst"
	rm -rf "$work"
}
trap cleanup EXIT
ncpu=$(nproc)
cpus=$(seq -s, 0 $((ncpu - 1)))

# run NAME READER OUTPUT-TYPE
run() {
	local name=$1 reader=$2 type=$3 out=$work/$1
	local conf=$work/$name.conf
	sed -e "s|^instance = .*|instance = $inst|" \
	    -e "s|^path = .*|path = $out|" \
	    -e "s|^type = file|type = $type|" \
	    -e "s|^reader = .*||" -e "s|^events = .*|events = ftrace:print|" \
	    "${BENCH_CONFIG:-$root/config/ringtap.conf}" |
		awk -v r="$reader" '{print} /^\[trace\]/{print "reader = " r}' >"$conf"
	[ "$type" = discard ] && sed -i '/^path = /d; /^max_file/d' "$conf"
	sed -i "s|^run_dir = .*|run_dir = $work/run|" "$conf"
	grep -q '^\[daemon\]' "$conf" || printf '\n[daemon]\nrun_dir = %s\n' "$work/run" >>"$conf"
	"$RINGTAPD" -c "$conf" >"$work/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do grep -q "capturing on" "$work/$name.log" && break; sleep 0.05; done
	"$MW" -m "$T/instances/$inst/trace_marker" -c "$cpus" -t "$secs" -s 200 >"$work/$name.written" &
	local mw=$!
	sleep $(echo "$secs / 2" | bc -l)
	local rss=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
	wait $mw
	kill -TERM $pid; wait $pid; pid=
	local offered=$(awk -F'[ =]' '{s += $4} END {print s}' "$work/$name.written")
	local lost=$(grep -o '[0-9]* lost in the ring buffer' "$work/$name.log" | awk '{s += $1} END {print s + 0}')
	local lost_out=$(grep -o '[0-9]* lost by outputs' "$work/$name.log" | awk '{s += $1} END {print s + 0}')
	local bytes=$(grep -o '[0-9]* bytes,' "$work/$name.log" | awk '{s += $1} END {print s + 0}')
	local reads=$(grep -o '[0-9]* reads' "$work/$name.log" | awk '{s += $1} END {print s + 0}')
	local cpu=$(sed -n 's/.*resource usage: user \([0-9.]*\) s, system \([0-9.]*\) s.*/\1 \2/p' "$work/$name.log" | awk '{print $1 + $2}')
	if [ "$round" = 1 ]; then rm -rf "$out"; return 0; fi  # warm-up
	local captured=$offered
	if [ "$type" = file ]; then
		captured=$("$RINGTAP" report "$out" | grep -c ': print: c=')
	else
		captured=$((offered - lost))
	fi
	local gb=$(echo "$bytes / 1000000000" | bc -l)
	printf '%-14s offered %9d captured %9d lost %7d (output %d)  %6.3f GB  %6.3f CPU-s  %6.3f CPU-s/GB  %8.0f reads/GB  RssAnon %d KiB\n' \
		"$name" "$offered" "$captured" "$lost" "$lost_out" "$gb" "$cpu" "$(echo "$cpu / $gb" | bc -l)" \
		"$(echo "$reads / $gb" | bc -l)" "$rss"
	eval "cpu_gb_$name=$(echo "$cpu / $gb" | bc -l)"
	eval "bytes_$name=$bytes"
	rm -rf "$out"
}

echo "ringtap capture benchmark: $ncpu CPUs, ${secs}s flood of 200-byte markers per run"
echo "default config sizes (buffer_size_kb, subbuf_size_kb, buffer_percent), events = ftrace:print"
# This VM pays heavily the first time page-cache pages come from memory the
# guest never touched (dd alone then costs several times more): a warm-up
# round runs every path once unreported, then the measured round.
for round in 1 2; do
	run mmap mmap file
	run splice read file
	run copy copy file
	run mmap_discard mmap discard
done
# dd: the page-cache cost of writing as many bytes to the same filesystem.
bs=65536
count=$((bytes_mmap / bs + 1))
TIMEFORMAT='%U %S'
ddcpu=$( { time dd if=/dev/zero of="$work/dd.bin" bs=$bs count=$count status=none; } 2>&1 | awk '{print $1 + $2}')
ddgb=$(echo "$count * $bs / 1000000000" | bc -l)
cpu_gb_dd=$(echo "$ddcpu / $ddgb" | bc -l)
rm -f "$work/dd.bin"
printf '%-14s %6.3f GB  %6.3f CPU-s  %6.3f CPU-s/GB\n' dd "$ddgb" "$ddcpu" "$cpu_gb_dd"
echo
printf 'ratios: mmap/dd %.2f (target <= 2)   mmap/splice %.2f (target <= 1)   mmap/copy %.2f   discard %.3f CPU-s/GB (target <= 0.2)\n' \
	"$(echo "$cpu_gb_mmap / $cpu_gb_dd" | bc -l)" "$(echo "$cpu_gb_mmap / $cpu_gb_splice" | bc -l)" \
	"$(echo "$cpu_gb_mmap / $cpu_gb_copy" | bc -l)" "$cpu_gb_mmap_discard"
