#!/bin/bash
# Socket outputs (type = tcp, type = unix) streaming to a collector:
#  1. tcp and unix beside a file output: the collector's files hold every
#     marker exactly once, and the same events as the local files (mmap and
#     read readers);
#  2. the collector killed and restarted mid-stream, several times: every
#     marker exactly once after the daemon stops;
#  3. a small queue_size/spill_size with the collector away: the data spills,
#     then whole sub-buffers are dropped and LOST frames say where; markers
#     captured + lost == written, per CPU;
#  4. config errors (TLS keys, bad addresses) name file:line;
#  5. a reload mid-stream keeps one socket output (new files) and removes
#     another (finished and acknowledged): markers once in the first, an
#     unbroken run from the start in the second.
#
# The collector is `ringtap collect`.
. "$(dirname "$0")/lib.sh"

HOST_DIR=$(hostname)/$(cat /proc/sys/kernel/random/boot_id)

# start_collector NAME LOG ARGS...: `ringtap collect ARGS` in the
# background; sets COL_PID_<NAME> and, for a tcp: listener, COL_TCP (the
# address it bound, port included).
start_collector() {
	local name=$1 logf=$2 pid
	shift 2
	"$RINGTAP" collect "$@" >"$logf.out" 2>"$logf" &
	pid=$!
	PIDS+=($pid)
	eval "COL_PID_$name=$pid"
	for _ in $(seq 1 200); do
		grep -q "collecting into" "$logf" && break
		kill -0 $pid 2>/dev/null || { cat "$logf"; fail "ringtap collect exited during start-up"; }
		sleep 0.05
	done
	grep -q "collecting into" "$logf" || fail "ringtap collect did not start within 10 s"
	COL_TCP=$(sed -n 's/.*listening on tcp:\(.*\)$/\1/p' "$logf" | head -1)
}
# kill_collector NAME [SIGNAL]
kill_collector() {
	local pid
	eval "pid=\$COL_PID_$1"
	kill -"${2:-9}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
# net_config FILE INSTANCE TRACE-LINES OUTPUT-SECTIONS
net_config() {
	printf '[trace]\ninstance = %s\nevents = ftrace:print\nflush_interval_ms = 100\n%b\n%b\n[daemon]\nrun_dir = %s\n' \
		"$2" "$3" "$4" "$RUN_DIR" >"$1"
}
# check_lost REPORT CPU WRITTEN: markers of CPU strictly increasing (none
# twice), and those present plus the LOST counts equal WRITTEN.
check_lost() {
	awk -v cpu="$2" -v n="$3" '
		$1 == "CPU:" cpu && $2 == "[LOST" { if ($3 !~ /^[0-9]+$/) { print "LOST without a count: " $0; bad = 1 } lost += $3; next }
		{
			for (i = 1; i <= NF; i++) if ($i == "c=" cpu) {
				split($(i + 1), a, "="); s = a[2] + 0
				if (seen && s <= last) { printf "cpu %d: s=%d after s=%d\n", cpu, s, last; bad = 1 }
				seen = 1; last = s; got++
			}
		}
		END {
			printf "cpu %d: %d markers captured + %d lost = %d (written %d)\n", cpu, got, lost, got + lost, n
			exit bad || got + lost != n || lost == 0
		}
	' "$1"
}
cpus=$(seq -s, 0 $((NCPUS - 1)))

# ---- 1. tcp + unix + file, both readers ----
for reader in mmap read; do
	log "1. tcp, unix and file outputs, reader = $reader"
	inst=$(new_instance)
	rm -rf "$TMP/c1" "$TMP/c2" "$TMP/local"
	start_collector tcp "$TMP/c1.log" -d "$TMP/c1" --listen tcp:127.0.0.1:0 --insecure
	PORT=${COL_TCP##*:}
	start_collector unix "$TMP/c2.log" -d "$TMP/c2" --listen "unix:$TMP/col.sock"
	net_config "$TMP/rt.conf" "$inst" "reader = $reader" \
		"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local\n
[output \"net\"]\ntype = tcp\naddress = 127.0.0.1:$PORT\ninsecure = yes\nspill_dir = $TMP/spill-net\n
[output \"sock\"]\ntype = unix\naddress = $TMP/col.sock\nspill_dir = $TMP/spill-sock\n"
	start_daemon "$TMP/rt.conf" "$TMP/d1.log"
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 20000 -r 20000 >"$TMP/written" ||
		fail "marker_writer failed"
	"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
	grep -E "^(net|sock) " "$TMP/status"
	grep -qE "^net +tcp +connected" "$TMP/status" || fail "tcp output not connected"
	grep -qE "^sock +unix +connected" "$TMP/status" || fail "unix output not connected"
	"$RINGTAP" status -c "$TMP/rt.conf" --metrics >"$TMP/metrics" || fail "ringtap status --metrics failed"
	grep -q "^ringtap_output_up{instance=\"$inst\",output=\"net\",type=\"tcp\"} 1$" "$TMP/metrics" ||
		fail "metrics: tcp output not up"
	"$RINGTAP" status -c "$TMP/rt.conf" --json | python3 -c '
import json, sys
o = {x["name"]: x for x in json.load(sys.stdin)["outputs"]}["sock"]
assert o["state"] == "connected" and o["peer"].endswith("col.sock"), o
assert int(o["acked_bytes"]) > 0 and int(o["reconnects"]) == 0, o
for k in ("queued_bytes", "spilled_bytes", "lost_events", "lost_bytes"):
    assert k in o, k
' || fail "status --json: socket output fields"
	stop_daemon TERM || { cat "$TMP/d1.log"; fail "ringtapd exited with $?"; }
	grep -q "not acknowledged" "$TMP/d1.log" && { cat "$TMP/d1.log"; fail "data left unacknowledged"; }
	grep -q "plain TCP to 127.0.0.1:$PORT" "$TMP/d1.log" || fail "no warning about plain TCP"
	kill_collector tcp TERM
	kill_collector unix TERM
	"$RINGTAP" report "$TMP/local" >"$TMP/local.rep" || fail "report of the file output failed"
	for c in c1 c2; do
		dir=$TMP/$c/$HOST_DIR
		"$RINGTAP" report "$dir" >"$TMP/$c.rep" || fail "$c: report exited with $?"
		for cpu in $(seq 0 $((NCPUS - 1))); do
			check_markers "$TMP/$c.rep" "$cpu" 20000 || fail "$c ($reader): cpu $cpu markers incomplete"
		done
		cmp -s "$TMP/local.rep" "$TMP/$c.rep" || fail "$c ($reader): events differ from the file output's"
		[ $reader = mmap ] && for f in "$TMP"/local/*.rtap; do
			cmp "$f" "$dir/$(basename "$f")" || fail "$c: $(basename "$f") differs from the file output's"
		done
		echo "$c ($reader): every marker once, same events as the file output"
	done
done

# ---- 2. collector killed and restarted mid-stream ----
log "2. the collector killed and restarted 4 times"
inst=$(new_instance)
rm -rf "$TMP/c1"
echo "s3cret-$RANDOM" >"$TMP/token"
start_collector tcp "$TMP/c2-0.log" -d "$TMP/c1" --listen tcp:127.0.0.1:0 --insecure --token-file "$TMP/token"
PORT=${COL_TCP##*:}
net_config "$TMP/rt.conf" "$inst" "subbuf_size_kb = 64" \
	"[output \"net\"]\ntype = tcp\naddress = 127.0.0.1:$PORT\ninsecure = yes\ntoken_file = $TMP/token\nspill_dir = $TMP/spill-net\nmax_file_size = 256K\nreconnect_min_ms = 20\nreconnect_max_ms = 300\n"
start_daemon "$TMP/rt.conf" "$TMP/d2.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 30000 -r 6000
for i in 1 2 3 4; do
	sleep 0.8
	kill_collector tcp
	sleep 0.3
	start_collector tcp "$TMP/c2-$i.log" -d "$TMP/c1" --listen "tcp:127.0.0.1:$PORT" --insecure --token-file "$TMP/token"
done
wait "$WRITER_PID" || fail "marker_writer failed"
"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
stop_daemon TERM || { cat "$TMP/d2.log"; fail "ringtapd exited with $?"; }
kill_collector tcp TERM
grep -c "connected to" "$TMP/d2.log" | grep -qv '^[0-4]$' || { cat "$TMP/d2.log"; fail "expected reconnections"; }
grep -q "not acknowledged" "$TMP/d2.log" && { cat "$TMP/d2.log"; fail "data left unacknowledged"; }
dir=$TMP/c1/$HOST_DIR
ls "$dir" | grep -q "cpu0-000002.rtap" || fail "expected rotated files"
"$RINGTAP" report "$dir" >"$TMP/c1.rep" || fail "report exited with $?"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/c1.rep" "$cpu" 30000 || fail "after restarts: cpu $cpu markers incomplete"
done
grep -q LOST "$TMP/c1.rep" && fail "after restarts: report shows losses"
echo "restarts: $(grep -c 'connected to' "$TMP/d2.log") connections, every marker once"

# ---- 3. queue and spill full: LOST where the data was dropped ----
# (reader = read hands pages over without an event count: the output
# counts the events of the pages it drops itself)
for reader in mmap read; do
	log "3. queue_size = 1M, spill_size = 1M, collector away, reader = $reader"
	inst=$(new_instance)
	rm -rf "$TMP/c1"
	net_config "$TMP/rt.conf" "$inst" "reader = $reader" \
		"[output \"net\"]\ntype = unix\naddress = $TMP/col.sock\nqueue_size = 1M\nspill_size = 1M\nspill_dir = $TMP/spill-small\nreconnect_min_ms = 20\nreconnect_max_ms = 100\n"
	rm -f "$TMP/col.sock"
	start_daemon "$TMP/rt.conf" "$TMP/d3.log"
	# about 2.3 MB per CPU in 2.5 s; the collector comes after 1.5 s
	start_writer "$inst" "$TMP/written" -c "$cpus" -n 10000 -r 4000 -s 200
	sleep 1.2
	"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
	grep -E "^net " "$TMP/status"
	grep -qE "^net +unix +spilling" "$TMP/status" || fail "output not spilling with the collector away"
	ls "$TMP/spill-small"/cpu0.spill >/dev/null || fail "no spill file"
	sleep 0.3
	start_collector unix "$TMP/c3.log" -d "$TMP/c1" --listen "unix:$TMP/col.sock"
	wait "$WRITER_PID" || fail "marker_writer failed"
	sleep 0.5
	stop_daemon TERM || { cat "$TMP/d3.log"; fail "ringtapd exited with $?"; }
	kill_collector unix TERM
	grep -q "not acknowledged" "$TMP/d3.log" && { cat "$TMP/d3.log"; fail "data left unacknowledged"; }
	grep "dropping sub-buffers" "$TMP/d3.log" | head -2
	dir=$TMP/c1/$HOST_DIR
	"$RINGTAP" report "$dir" >"$TMP/c1.rep" || fail "report exited with $?"
	"$RINGTAP" report --stats "$dir" | head -$((NCPUS + 2))
	for cpu in $(seq 0 $((NCPUS - 1))); do
		check_lost "$TMP/c1.rep" "$cpu" 10000 || fail "cpu $cpu: captured + lost != written"
	done
	ls "$TMP/spill-small"/*.spill 2>/dev/null && fail "spill files left behind"
done

# ---- 4. config errors ----
log "4. config errors"
inst=$(new_instance)
expect_bad() {
	net_config "$TMP/bad.conf" "$inst" "" "$1"
	"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.log" 2>&1 && fail "accepted: $1"
	grep -qE -- "$2" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "message lacks '$2'"; }
	echo "refused: $(cat "$TMP/bad.log")"
}
expect_bad "[output \"c\"]\ntype = tcp\naddress = 127.0.0.1:9\ntls_cert = /etc/hostname\n" \
	"bad.conf:9: output 'c': 'tls_cert' needs 'tls_key' too"
expect_bad "[output \"c\"]\ntype = tcp\naddress = collector\ninsecure = yes\n" \
	"bad.conf:8: output 'c': address: 'collector' is not host:port"
expect_bad "[output \"c\"]\ntype = tcp\naddress = ::1:9000\ninsecure = yes\n" \
	"bad.conf:8: output 'c': address: '::1:9000' is not host:port or \\[ipv6-address\\]:port"
expect_bad "[output \"c\"]\ntype = tcp\naddress = host:70000\ninsecure = yes\n" \
	"bad.conf:8: .*port 1..65535"
expect_bad "[output \"c\"]\ntype = unix\naddress = /run/x.sock\ninsecure = yes\n" \
	"bad.conf:9: output 'c': 'insecure' is only for types 'tcp' and 'nats'"
expect_bad "[output \"c\"]\ntype = unix\n" \
	"bad.conf:6: output 'c': type 'unix' needs 'address'"
expect_bad "[output \"c\"]\ntype = unix\naddress = /x\npath = /tmp\n" \
	"bad.conf:9: output 'c': 'path' is not allowed for type 'unix'"
expect_bad "[output \"c\"]\ntype = file\npath = /tmp/x\nqueue_size = 4M\n" \
	"bad.conf:9: output 'c': 'queue_size' is only for types 'tcp', 'unix' and 'nats'"
net_config "$TMP/ok.conf" "$inst" "" "[output \"c\"]\ntype = tcp\naddress = [::1]:9000\ninsecure = yes\n"
"$RINGTAPD" -c "$TMP/ok.conf" --check-config >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "[::1]:9000 refused"; }

# ---- 5. reload: one socket output kept, one removed ----
log "5. reload mid-stream"
inst=$(new_instance)
rm -rf "$TMP/c1" "$TMP/c2"
start_collector unix "$TMP/c5u.log" -d "$TMP/c1" --listen "unix:$TMP/col.sock"
start_collector tcp "$TMP/c5t.log" -d "$TMP/c2" --listen tcp:127.0.0.1:0 --insecure
keep="[output \"sock\"]\ntype = unix\naddress = $TMP/col.sock\nspill_dir = $TMP/spill-sock\n"
net_config "$TMP/rt.conf" "$inst" "" \
	"$keep\n[output \"net\"]\ntype = tcp\naddress = $COL_TCP\ninsecure = yes\nspill_dir = $TMP/spill-net\n"
start_daemon "$TMP/rt.conf" "$TMP/d5.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 20000 -r 8000
sleep 1
net_config "$TMP/rt.conf" "$inst" "" "${keep}queue_size = 32M\n"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do
	grep -qE "reload done|reload refused" "$TMP/d5.log" && break
	sleep 0.1
done
grep -q "reload done" "$TMP/d5.log" || { cat "$TMP/d5.log"; fail "reload not done"; }
wait "$WRITER_PID" || fail "marker_writer failed"
stop_daemon TERM || { cat "$TMP/d5.log"; fail "ringtapd exited with $?"; }
kill_collector unix TERM
kill_collector tcp TERM
grep -q "not acknowledged" "$TMP/d5.log" && { cat "$TMP/d5.log"; fail "data left unacknowledged"; }
ls "$TMP/c1/$HOST_DIR/cpu0-000001.rtap" >/dev/null || fail "the kept output did not start new files"
"$RINGTAP" report "$TMP/c1/$HOST_DIR" >"$TMP/c1.rep" || fail "report of the kept output exited with $?"
"$RINGTAP" report "$TMP/c2/$HOST_DIR" >"$TMP/c2.rep" || fail "report of the removed output exited with $?"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/c1.rep" "$cpu" 20000 || fail "kept output: cpu $cpu markers incomplete"
	n=$(grep -c "c=$cpu s=" "$TMP/c2.rep")
	[ "$n" -gt 0 ] && [ "$n" -lt 20000 ] || fail "removed output: cpu $cpu has $n markers"
	check_markers "$TMP/c2.rep" "$cpu" "$n" || fail "removed output: cpu $cpu markers not an unbroken run"
done
echo "reload: kept output complete, removed output finished after $n markers of cpu $((NCPUS - 1))"
echo "stream outputs ok"
