#!/bin/bash
# zerocopy = yes (plain tcp, MSG_ZEROCOPY with completion tracking): every
# marker arrives exactly once, also across kill -9 restarts of the collector
# (connections reset with zero-copy sends in flight), the kernel's
# completions are counted in the output's status, and the key is refused
# for TLS and unix outputs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/collect.sh"

HOST_DIR=$(hostname)/$BOOT_ID
cpus=$(seq -s, 0 $((NCPUS - 1)))
net_conf() {
	printf '[trace]\ninstance = %s\nevents = ftrace:print\nflush_interval_ms = 100\n\n%b\n[daemon]\nrun_dir = %s\n' \
		"$2" "$3" "$RUN_DIR" >"$1"
}

log "config: zerocopy only for plain tcp"
inst=$(new_instance)
net_conf "$TMP/bad.conf" "$inst" '[output "c"]\ntype = tcp\naddress = 127.0.0.1:9\nzerocopy = yes\n'
"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.log" 2>&1 && fail "zerocopy with TLS accepted"
grep -q "bad.conf:9: output 'c': 'zerocopy = yes' is only for plain TCP (insecure = yes)" "$TMP/bad.log" ||
	{ cat "$TMP/bad.log"; fail "zerocopy with TLS: wrong message"; }
net_conf "$TMP/bad.conf" "$inst" '[output "c"]\ntype = unix\naddress = /run/x.sock\nzerocopy = yes\n'
"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.log" 2>&1 && fail "zerocopy on unix accepted"
grep -q "bad.conf:9: output 'c': 'zerocopy' is only for type 'tcp'" "$TMP/bad.log" ||
	{ cat "$TMP/bad.log"; fail "zerocopy on unix: wrong message"; }
net_conf "$TMP/bad.conf" "$inst" '[output "c"]\ntype = tcp\naddress = 127.0.0.1:9\ninsecure = yes\nzerocopy = maybe\n'
"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.log" 2>&1 && fail "zerocopy = maybe accepted"
grep -q "bad.conf:10: output 'c': zerocopy: 'maybe' is not yes or no" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "zerocopy = maybe: wrong message"; }

log "markers over MSG_ZEROCOPY, the collector killed and restarted 3 times"
rm -rf "$TMP/c"
start_collect "$TMP/c0.log" -d "$TMP/c" --listen tcp:127.0.0.1:0 --insecure
PORT=${COLLECT_TCP##*:}
net_conf "$TMP/rt.conf" "$inst" "[output \"zc\"]\ntype = tcp\naddress = 127.0.0.1:$PORT\ninsecure = yes\nzerocopy = yes\nspill_dir = $TMP/spill\nmax_file_size = 1M\nreconnect_min_ms = 20\nreconnect_max_ms = 300\n"
start_daemon "$TMP/rt.conf" "$TMP/d.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 60000 -r 15000 -s 200 >"$TMP/written" &
writer=$!
PIDS+=($writer)
for i in 1 2 3; do
	sleep 0.9
	kill -9 "$COLLECT_PID"
	wait "$COLLECT_PID" 2>/dev/null
	sleep 0.2
	start_collect "$TMP/c$i.log" -d "$TMP/c" --listen "tcp:127.0.0.1:$PORT" --insecure
done
wait $writer || fail "marker_writer failed"
sleep 0.5
"$RINGTAP" status -c "$TMP/rt.conf" --json >"$TMP/status.json" || fail "ringtap status failed"
python3 - "$TMP/status.json" <<'PY' || fail "status: zero-copy counters"
import json, sys
o = {x["name"]: x for x in json.load(open(sys.argv[1]))["outputs"]}["zc"]
sends, zero, copied = (int(o[k]) for k in ("zerocopy_sends", "zerocopy_completed", "zerocopy_copied"))
print(f"zerocopy: {sends} sends, {zero} completed without a copy, {copied} copied by the kernel")
assert sends > 0 and zero + copied > 0 and zero + copied <= sends, o
PY
"$RINGTAP" status -c "$TMP/rt.conf" | grep -E "^zc " || fail "no status line for the output"
"$RINGTAP" status -c "$TMP/rt.conf" | grep -qE "^zc .*zerocopy: [0-9]+ sends, [0-9]+ completed without a copy, [0-9]+ copied by the kernel" ||
	fail "status detail lacks the zero-copy counts"
stop_daemon TERM || { cat "$TMP/d.log"; fail "ringtapd exited with $?"; }
stop_collect || fail "ringtap collect exited with $?"
grep -q "not acknowledged" "$TMP/d.log" && { cat "$TMP/d.log"; fail "data left unacknowledged"; }
[ "$(grep -c "output 'zc': cpu [0-9]*: connected to" "$TMP/d.log")" -ge $((NCPUS * 2)) ] || { cat "$TMP/d.log"; fail "expected reconnections"; }
"$RINGTAP" report "$TMP/c/$HOST_DIR" >"$TMP/c.rep" || fail "report exited with $?"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/c.rep" "$cpu" 60000 || fail "zerocopy: cpu $cpu markers not exactly once"
done
grep -q LOST "$TMP/c.rep" && fail "zerocopy: the report shows losses"
echo "zerocopy: 60000 markers per CPU exactly once across 3 collector kills"
