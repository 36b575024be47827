#!/bin/bash
# make bench: the capture benchmark of the core issue.  One pinned marker
# writer per CPU floods 200-byte markers at full speed while ringtapd
# captures; the same run measures the mapped reader (its file output
# writing whole sub-buffers with O_DIRECT, and again through the page cache
# with direct_io = no: mmap_cache), the `reader = read`
# (splice) reader, plain read() (`reader = copy`), and the mapped and splice
# readers with a discarding output, plus dd writing as many bytes to the same
# filesystem.  The mapped reader also streams to a local `ringtap collect`
# over TCP (plain, with MSG_ZEROCOPY, and TLS with a certificate made here)
# and over a unix socket (socket outputs), and through a local nats-server
# (JetStream, type = nats) to `ringtap collect --from`, where the
# collector's CPU time is measured too (and, for NATS, the end-to-end rate:
# bytes over the time from the flood's start to the collector's last
# write).  Figures and ratios are printed; nothing here passes
# or fails.
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
cpid=
npid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
	[ -n "$npid" ] && kill -9 "$npid" 2>/dev/null
	[ -d "$T/instances/$inst" ] && rmdir "$T/instances/$inst"
	rm -rf "$work"
}
trap cleanup EXIT
ncpu=$(nproc)
cpus=$(seq -s, 0 $((ncpu - 1)))

# This VM returns freed guest memory to the host (virtio-balloon free page
# reporting), and the first touch of such memory costs far more than the
# copy itself, so page-cache writes vary several-fold with the host's mood.
# Writing and deleting a file just before each measured run puts recently
# freed (still backed) pages at the front of the allocator for every path
# alike, dd included: 3 GiB, more than one run writes (about 2.5 GB), since
# a reader that meets untouched memory mid-run slows down enough to lose
# events whatever its path.
prefault() {
	dd if=/dev/zero of="$work/prefault" bs=1M count=3072 status=none
	rm -f "$work/prefault"
}

# CPU-seconds a live process used so far
proc_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' /proc/$1/stat
}

# start_nats: one nats-server with JetStream on a free loopback port, store
# under $work (once per bench); sets npid and nats_url
start_nats() {
	local port
	[ -n "$npid" ] && return 0
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$work/nats"
	printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s" }\n' "$port" "$work/nats" >"$work/nats.conf"
	nats-server -c "$work/nats.conf" >"$work/nats.log" 2>&1 &
	npid=$!
	for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
	nats_url=nats://127.0.0.1:$port
}

# a CA and a collector certificate for 127.0.0.1, for the TLS path
make_pki() {
	[ -e "$work/pki/srv.pem" ] && return 0
	mkdir -p "$work/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/pki/ca.key" \
		-out "$work/pki/ca.pem" -days 2 -subj "/CN=ringtap bench CA" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/pki/srv.key" \
		-out "$work/pki/srv.csr" -subj "/CN=127.0.0.1" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$work/pki/srv.ext"
	openssl x509 -req -in "$work/pki/srv.csr" -CA "$work/pki/ca.pem" -CAkey "$work/pki/ca.key" \
		-CAcreateserial -out "$work/pki/srv.pem" -days 2 -extfile "$work/pki/srv.ext" 2>/dev/null
}

# start_collector NAME TYPE: a local `ringtap collect` for a socket output
# (TYPE tcp, tls or unix) or a nats output; sets cpid and address
start_collector() {
	local name=$1 type=$2 l
	if [ "$type" = nats ]; then
		start_nats
		"$RINGTAP" collect --from "$nats_url" --insecure --create-stream --idle-exit 2 \
			-d "$work/coll-$name" >/dev/null 2>"$work/$name.coll.log" &
		cpid=$!
		for _ in $(seq 1 100); do grep -q "collecting into" "$work/$name.coll.log" && break; sleep 0.05; done
		address=$nats_url
		return 0
	fi
	if [ "$type" = tcp ]; then l="tcp:127.0.0.1:0 --insecure"
	elif [ "$type" = tls ]; then make_pki; l="tcp:127.0.0.1:0 --tls-cert $work/pki/srv.pem --tls-key $work/pki/srv.key"
	else l="unix:$work/$name.sock"; fi
	: >"$work/$name.coll.log" # not the last round's "collecting into"
	"$RINGTAP" collect -d "$work/coll-$name" --listen $l >/dev/null 2>"$work/$name.coll.log" &
	cpid=$!
	for _ in $(seq 1 100); do grep -q "collecting into" "$work/$name.coll.log" && break; sleep 0.05; done
	if [ "$type" = tcp ] || [ "$type" = tls ]; then
		address=$(sed -n 's/.*listening on tcp:\(.*\)$/\1/p' "$work/$name.coll.log" | head -1)
	else
		address=$work/$name.sock
	fi
}

# run NAME READER OUTPUT-TYPE (tls: a tcp output with TLS; tcp_zc: plain
# tcp with zerocopy = yes)
run() {
	local name=$1 reader=$2 type=$3 out=$work/$1 tls= zc=
	local conf=$work/$name.conf
	[ "$type" = tls ] && { type=tcp; tls=1; }
	[ "$type" = tcp_zc ] && { type=tcp; zc=1; }
	local nodio=
	[ "$type" = file_cache ] && { type=file; nodio=1; }
	sed -e "s|^instance = .*|instance = $inst|" \
	    -e "s|^path = .*|path = $out|" \
	    -e "s|^type = file|type = $type|" \
	    -e "s|^reader = .*||" "${BENCH_CONFIG:-$root/config/ringtap.conf}" |
		awk '/^events =/ { print "events = ftrace:print"; skip = 1; next }
		     skip && /^[ \t]/ { next } { skip = 0; print }' |
		awk -v r="$reader" '{print} /^\[trace\]/{print "reader = " r}' >"$conf"
	[ "$type" = discard ] && sed -i '/^path = /d; /^max_file/d' "$conf"
	[ -n "$nodio" ] && sed -i 's|^type = file$|type = file\ndirect_io = no|' "$conf"
	if [ "$type" = tcp ] || [ "$type" = unix ]; then
		if [ -n "$tls" ]; then start_collector "$name" tls; else start_collector "$name" "$type"; fi
		sed -i "/^path = /d; /^max_files/d; s|^type = $type\$|type = $type\naddress = $address\nspill_dir = $work/spill-$name|" "$conf"
		if [ -n "$tls" ]; then
			sed -i "s|^type = tcp\$|type = tcp\ntls_ca = $work/pki/ca.pem|" "$conf"
		elif [ "$type" = tcp ]; then
			sed -i "s|^type = tcp\$|type = tcp\ninsecure = yes${zc:+\\nzerocopy = yes}|" "$conf"
		fi
	fi
	if [ "$type" = nats ]; then
		start_nats
		sed -i "/^path = /d; /^max_files/d; s|^type = nats\$|type = nats\nurl = $nats_url\ninsecure = yes\ncreate_stream = yes\nspill_dir = $work/spill-$name|" "$conf"
	fi
	sed -i "s|^run_dir = .*|run_dir = $work/run|" "$conf"
	grep -q '^\[daemon\]' "$conf" || printf '\n[daemon]\nrun_dir = %s\n' "$work/run" >>"$conf"
	prefault
	: >"$work/$name.log" # not the last round's "capturing on"
	"$RINGTAPD" -c "$conf" >"$work/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do grep -q "capturing on" "$work/$name.log" && break; sleep 0.05; done
	grep -q "capturing on" "$work/$name.log" ||
		{ echo "$name: ringtapd is not capturing after 5 s:"; sed 's/^/    /' "$work/$name.log"; }
	# after the prefault and the daemon's start: its --idle-exit clock
	# must not run out before the flood
	[ "$type" = nats ] && start_collector "$name" "$type"
	local t0=$(date +%s.%N)
	"$MW" -m "$T/instances/$inst/trace_marker" -c "$cpus" -t "$secs" -s 200 >"$work/$name.written" &
	local mw=$!
	sleep $(echo "$secs / 2" | bc -l)
	local rss=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
	wait $mw
	kill -TERM $pid; wait $pid; pid=
	local ccpu= e2e=
	if [ -n "$cpid" ] && [ "$type" = nats ]; then
		# it exits by itself once the stream is drained (--idle-exit)
		wait $cpid; cpid=
		ccpu=$(sed -n 's/.*CPU user \([0-9.]*\) s, system \([0-9.]*\) s.*/\1 \2/p' "$work/$name.coll.log" | awk '{print $1 + $2}')
		e2e=$(sed -n 's/.*last write at \([0-9.]*\)$/\1/p' "$work/$name.coll.log")
	elif [ -n "$cpid" ]; then
		ccpu=$(proc_cpu $cpid)
		kill -TERM $cpid; wait $cpid; cpid=
	fi
	local offered=$(awk -F'[ =]' '{s += $4} END {printf "%.0f\n", s}' "$work/$name.written")
	local lost=$(grep -o '[0-9]* lost in the ring buffer' "$work/$name.log" | awk '{s += $1} END {printf "%.0f\n", s}')
	local lost_out=$(grep -o '[0-9]* lost by outputs' "$work/$name.log" | awk '{s += $1} END {printf "%.0f\n", s}')
	local bytes=$(grep -o '[0-9]* bytes,' "$work/$name.log" | awk '{s += $1} END {printf "%.0f\n", s}')
	local reads=$(grep -o '[0-9]* reads' "$work/$name.log" | awk '{s += $1} END {printf "%.0f\n", s}')
	local cpu=$(sed -n 's/.*resource usage: user \([0-9.]*\) s, system \([0-9.]*\) s.*/\1 \2/p' "$work/$name.log" | awk '{print $1 + $2}')
	local zcl=$(sed -n 's/.*zerocopy: \([0-9]*\) sends, [0-9]* completed without a copy, \([0-9]*\) copied.*/\1 \2/p' "$work/$name.log")
	[ -n "$zcl" ] && echo "$name: $(grep -o 'zerocopy: .*' "$work/$name.log")"
	# file outputs: how the sub-buffers went to disk (direct_io)
	grep -q 'sub-buffers written with O_DIRECT' "$work/$name.log" &&
		grep -o '[0-9]* sub-buffers written with O_DIRECT, [0-9]* through the page cache ([0-9]*' "$work/$name.log" | tr -d '(' |
		awk -v n="$name" '{ d += $1; c += $6; b += $11 } END { printf "%s: %d sub-buffers written with O_DIRECT, %d through the page cache (%d while the reader was behind)\n", n, d, c, b }'
	if [ "$round" = 1 ]; then rm -rf "$out" "$work/coll-$name" "$work/spill-$name"; return 0; fi  # warm-up
	local captured=$offered
	if [ "$type" = file ]; then
		captured=$("$RINGTAP" report "$out" | grep -c ': print: c=')
	elif [ -n "$ccpu" ]; then
		captured=$("$RINGTAP" report "$work/coll-$name"/*/* | grep -c ': print: c=')
	else
		captured=$((offered - lost))
	fi
	local gb=$(echo "$bytes / 1000000000" | bc -l)
	printf '%-14s offered %9d captured %9d lost %7d (output %d)  %6.3f GB  %6.3f CPU-s  %6.3f CPU-s/GB  %8.0f reads/GB  RssAnon %d KiB\n' \
		"$name" "$offered" "$captured" "$lost" "$lost_out" "$gb" "$cpu" "$(echo "$cpu / $gb" | bc -l)" \
		"$(echo "$reads / $gb" | bc -l)" "$rss"
	# sums over the measured rounds
	eval "cpu_sum_$name=\$(echo \"\${cpu_sum_$name:-0} + $cpu\" | bc -l)"
	eval "gb_sum_$name=\$(echo \"\${gb_sum_$name:-0} + $gb\" | bc -l)"
	eval "lost_sum_$name=\$(( \${lost_sum_$name:-0} + offered - captured ))"
	if [ -n "$ccpu" ]; then
		printf '%-14s collector %6.3f CPU-s  %6.3f CPU-s/GB\n' "" "$ccpu" "$(echo "$ccpu / $gb" | bc -l)"
		eval "ccpu_sum_$name=\$(echo \"\${ccpu_sum_$name:-0} + $ccpu\" | bc -l)"
	fi
	if [ -n "$e2e" ]; then
		local mbs=$(echo "$bytes / 1000000 / ($e2e - $t0)" | bc -l)
		printf '%-14s end to end %7.1f MB/s (flood start to the collector'"'"'s last write)\n' "" "$mbs"
		eval "mbs_sum_$name=\$(echo \"\${mbs_sum_$name:-0} + $mbs\" | bc -l)"
	fi
	[ "$name" = mmap ] && last_bytes=$bytes
	if [ -n "$zcl" ]; then
		zc_sends_sum=$(( ${zc_sends_sum:-0} + ${zcl% *} ))
		zc_copied_sum=$(( ${zc_copied_sum:-0} + ${zcl#* } ))
	fi
	rm -rf "$out" "$work/coll-$name" "$work/spill-$name"
}

echo "ringtap capture benchmark: $ncpu CPUs, ${secs}s flood of 200-byte markers per run"
echo "default config sizes (buffer_size_kb, subbuf_size_kb, buffer_percent), events = ftrace:print"
# This VM pays heavily the first time page-cache pages come from memory the
# guest never touched (dd alone then costs several times more): a warm-up
# round runs every path once unreported; then two measured rounds, the
# second in reverse order, and the ratios use the sums of both.
# dd writes as many bytes as the mmap run captured, to the same filesystem,
# paced over the same duration (in 20 appends), so that it meets the same
# page-cache and memory conditions as the daemon did (only dd's own CPU
# time is counted).
dd_run() {
	local bs=65536 total=$((last_bytes / 65536 + 1)) c=0 g i t n=20
	local chunk=$((total / n + 1)) pause=$(echo "$secs / $n" | bc -l)
	TIMEFORMAT='%U %S'
	prefault
	for ((i = 0; i < n; i++)); do
		t=$( { time dd if=/dev/zero of="$work/dd.bin" bs=$bs count=$chunk seek=$((i * chunk)) conv=notrunc status=none; } 2>&1 | awk '{print $1 + $2}')
		c=$(echo "$c + $t" | bc -l)
		sleep "$pause"
	done
	rm -f "$work/dd.bin"
	g=$(echo "$n * $chunk * $bs / 1000000000" | bc -l)
	printf '%-14s %6.3f GB  %6.3f CPU-s  %6.3f CPU-s/GB  (in %d appends over %ss)\n' dd "$g" "$c" "$(echo "$c / $g" | bc -l)" $n "$secs"
	cpu_sum_dd=$(echo "${cpu_sum_dd:-0} + $c" | bc -l)
	gb_sum_dd=$(echo "${gb_sum_dd:-0} + $g" | bc -l)
}
paths=("mmap mmap file" "mmap_cache mmap file_cache" "splice read file" "copy copy file" "mmap_discard mmap discard"
	"splice_discard read discard" "mmap_tcp mmap tcp" "mmap_tcp_zc mmap tcp_zc" "mmap_tls mmap tls" "mmap_unix mmap unix")
command -v nats-server >/dev/null && paths+=("mmap_nats mmap nats")
# BENCH_PATHS="mmap splice": only these paths (the summary then shows nan
# for the others)
if [ -n "${BENCH_PATHS:-}" ]; then
	keep=()
	for p in "${paths[@]}"; do
		case " $BENCH_PATHS " in *" ${p%% *} "*) keep+=("$p") ;; esac
	done
	paths=("${keep[@]}")
fi
for round in 1 2 3; do
	[ $round -gt 1 ] && echo "-- round $((round - 1))"
	if [ $round = 3 ]; then
		for ((i = ${#paths[@]} - 1; i >= 0; i--)); do run ${paths[$i]}; done
	else
		for p in "${paths[@]}"; do run $p; done
	fi
	[ $round -gt 1 ] && dd_run
done
per_gb() {
	local c g
	c=$(eval echo "\${cpu_sum_$1:-}") g=$(eval echo "\${gb_sum_$1:-}")
	if [ -z "$g" ]; then echo nan; else echo "$c / $g" | bc -l; fi
}
ratio() {
	local a b
	a=$(per_gb "$1") b=$(per_gb "$2")
	if [ "$a" = nan ] || [ "$b" = nan ]; then echo nan; else echo "$a / $b" | bc -l; fi
}
echo
echo "summary over both measured rounds (CPU-seconds per GB captured; lost = markers offered but not captured):"
for n in mmap mmap_cache splice copy mmap_discard splice_discard mmap_tcp mmap_tcp_zc mmap_tls mmap_unix mmap_nats dd; do
	[ "$(per_gb $n)" = nan ] && continue
	if [ $n = dd ]; then
		printf '  %-14s %6.3f CPU-s/GB\n' $n "$(per_gb $n)"
	elif [ $n = mmap_nats ]; then
		printf '  %-14s %6.3f CPU-s/GB  lost %d   collector %6.3f CPU-s/GB   end to end %.1f MB/s\n' $n "$(per_gb $n)" \
			"$(eval echo \$lost_sum_$n)" "$(echo "$(eval echo \$ccpu_sum_$n) / $(eval echo \$gb_sum_$n)" | bc -l)" \
			"$(echo "$(eval echo \$mbs_sum_$n) / 2" | bc -l)"
	elif [ $n = mmap_tcp ] || [ $n = mmap_tcp_zc ] || [ $n = mmap_tls ] || [ $n = mmap_unix ]; then
		printf '  %-14s %6.3f CPU-s/GB  lost %d   collector %6.3f CPU-s/GB\n' $n "$(per_gb $n)" \
			"$(eval echo \$lost_sum_$n)" "$(echo "$(eval echo \$ccpu_sum_$n) / $(eval echo \$gb_sum_$n)" | bc -l)"
	else
		printf '  %-14s %6.3f CPU-s/GB  lost %d\n' $n "$(per_gb $n)" "$(eval echo \$lost_sum_$n)"
	fi
done
printf 'ratios: mmap/dd %.2f (target <= 2)   mmap/splice %.2f (target <= 1)   mmap/copy %.2f (target < 1)\n' \
	"$(ratio mmap dd)" "$(ratio mmap splice)" "$(ratio mmap copy)"
printf 'file output without O_DIRECT (direct_io = no): mmap_cache/splice %.2f, mmap/mmap_cache %.2f\n' \
	"$(ratio mmap_cache splice)" "$(ratio mmap mmap_cache)"
printf 'socket outputs: tcp/file %.2f, unix/file %.2f (daemon CPU per GB; target <= 1.5); against the file output through the page cache: tcp %.2f, unix %.2f\n' \
	"$(ratio mmap_tcp mmap)" "$(ratio mmap_unix mmap)" "$(ratio mmap_tcp mmap_cache)" "$(ratio mmap_unix mmap_cache)"
printf 'nats output: nats/file %.2f (daemon CPU per GB)\n' "$(ratio mmap_nats mmap)"
if [ "$(per_gb mmap_tls)" != nan ] && [ "$(per_gb mmap_tcp)" != nan ]; then
	printf 'TLS: tls/tcp %.2f (daemon CPU per GB): %+.3f CPU-s/GB in the daemon, %+.3f CPU-s/GB in the collector\n' \
		"$(ratio mmap_tls mmap_tcp)" "$(echo "$(per_gb mmap_tls) - $(per_gb mmap_tcp)" | bc -l)" \
		"$(echo "$ccpu_sum_mmap_tls / $gb_sum_mmap_tls - $ccpu_sum_mmap_tcp / $gb_sum_mmap_tcp" | bc -l)"
fi
if [ "$(per_gb mmap_tcp_zc)" != nan ] && [ "$(per_gb mmap_tcp)" != nan ]; then
	printf 'zero-copy vs plain send: zc/plain %.2f (daemon CPU per GB), collector %.2f; the kernel copied %s of %s zero-copy sends\n' \
		"$(ratio mmap_tcp_zc mmap_tcp)" \
		"$(echo "($ccpu_sum_mmap_tcp_zc / $gb_sum_mmap_tcp_zc) / ($ccpu_sum_mmap_tcp / $gb_sum_mmap_tcp)" | bc -l)" \
		"${zc_copied_sum:-0}" "${zc_sends_sum:-0}"
fi
printf 'reader alone (discarding output): mmap %.3f CPU-s/GB (target <= 0.2), splice %.3f CPU-s/GB\n' \
	"$(per_gb mmap_discard)" "$(per_gb splice_discard)"
