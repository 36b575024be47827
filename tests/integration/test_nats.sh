#!/bin/bash
# type = nats and `ringtap collect --from nats://` with a real nats-server
# (JetStream, loopback port, temporary store):
#  1. config errors name file:line;
#  2. a nats output beside a file output, a collector consuming live: the
#     collector's files are the file output's frame for frame (same_capture:
#     only the cmdlines METADATA may differ), every marker
#     exactly once, `ringtap status` shows the output connected;
#  3. the collector killed (-9) and restarted 3 times mid-stream: every
#     marker exactly once (nothing lost, nothing twice);
#  4. the broker killed (-9) and restarted mid-stream: the daemon's queue
#     holds the capture, every marker exactly once;
#  5. the broker away with a small queue_size/spill_size: whole sub-buffers
#     dropped, LOST frames with exact counts: captured + lost == written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats.sh"
cpus=$(seq -s, 0 $((NCPUS - 1)))

# check_lost REPORT CPU WRITTEN (as test_stream_out.sh): strictly increasing
# markers, and present + LOST counts == WRITTEN, with some lost.
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
# all_markers DIR N: every marker 0..N-1 of every CPU exactly once in DIR.
all_markers() {
	"$RINGTAP" report "$1" >"$TMP/all.rep" || fail "ringtap report $1 exited with $?"
	grep -q LOST "$TMP/all.rep" && fail "$1: the report shows losses"
	for cpu in $(seq 0 $((NCPUS - 1))); do
		check_markers "$TMP/all.rep" "$cpu" "$2" || fail "$1: cpu $cpu markers"
	done
}

# ---- 1. config errors ----
log "1. config errors"
inst=$(new_instance)
expect_bad() {
	nats_config "$TMP/bad.conf" "$inst" "" "$1"
	"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.log" 2>&1 && fail "accepted: $1"
	grep -qE -- "$2" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "message lacks '$2'"; }
	echo "refused: $(cat "$TMP/bad.log")"
}
expect_bad "[output \"n\"]\ntype = nats\ninsecure = yes\n" \
	"bad.conf:6: output 'n': type 'nats' needs 'url'"
expect_bad "[output \"n\"]\ntype = nats\nurl = http://x:1\ninsecure = yes\n" \
	"bad.conf:8: output 'n': url: 'http://x:1' is not nats://HOST:PORT"
expect_bad "[output \"n\"]\ntype = nats\naddress = 127.0.0.1:4222\n" \
	"bad.conf:8: output 'n': type 'nats' takes 'url'"
expect_bad "[output \"n\"]\ntype = nats\nurl = tls://x:1\nsubject_prefix = a.*\n" \
	"bad.conf:9: output 'n': subject_prefix: 'a.\\*' is not a NATS subject"
expect_bad "[output \"n\"]\ntype = file\npath = /tmp/x\nstream = S\n" \
	"bad.conf:9: output 'n': 'stream' is only for type 'nats'"
# TLS: the keys of tcp outputs (tls_ca, tls_cert, tls_key), TLS unless
# insecure = yes, the files checked when the config is read
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ca.key" \
	-out "$TMP/ca.pem" -days 2 -subj "/CN=ringtap test CA" 2>/dev/null || fail "openssl req"
expect_bad "[output \"n\"]\ntype = nats\nurl = tls://x:1\ntls_cert = $TMP/ca.pem\n" \
	"bad.conf:9: output 'n': 'tls_cert' needs 'tls_key' too"
expect_bad "[output \"n\"]\ntype = nats\nurl = nats://x:1\ntls_ca = $TMP/none.pem\n" \
	"bad.conf:9: output 'n': tls_ca: cannot read '$TMP/none.pem'"
expect_bad "[output \"n\"]\ntype = nats\nurl = nats://x:1\ntls_ca = $TMP/ca.key\n" \
	"bad.conf:9: output 'n': tls_ca: "
expect_bad "[output \"n\"]\ntype = nats\nurl = nats://x:1\ninsecure = yes\ntls_ca = $TMP/ca.pem\n" \
	"bad.conf:10: output 'n': 'tls_ca' is for TLS, but 'insecure = yes' \\(line 9\\) sends plain nats://"
expect_bad "[output \"n\"]\ntype = nats\ninsecure = yes\nurl = nats://x:1,tls://y:2\n" \
	"bad.conf:9: output 'n': url: 'tls://y:2' asks for TLS, but 'insecure = yes' \\(line 8\\)"
expect_bad "[output \"n\"]\ntype = nats\nurl = tls://x:1\ntls_server_name = x\n" \
	"bad.conf:9: output 'n': 'tls_server_name' is only for type 'tcp'"
expect_bad "[output \"n\"]\ntype = nats\nurl = nats://x:1\ninsecure = yes\nzerocopy = yes\n" \
	"bad.conf:10: output 'n': 'zerocopy' is only for type 'tcp'"
expect_bad "[output \"n\"]\ntype = nats\nurl = tls://x:1\ntls_ca_file = $TMP/ca.pem\n" \
	"bad.conf:9: unknown key 'tls_ca_file'"
for ok in "url = tls://a:1,tls://b:2\ntls_ca = $TMP/ca.pem\nstream = X" "url = nats://a:1"; do
	nats_config "$TMP/ok.conf" "$inst" "" "[output \"n\"]\ntype = nats\n$ok\n"
	"$RINGTAPD" -c "$TMP/ok.conf" --check-config >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "a TLS nats output refused: $ok"; }
done
"$RINGTAP" collect --from tls://127.0.0.1:1 --insecure -d "$TMP/x" 2>"$TMP/x.log" && fail "collect --from tls:// with --insecure accepted"
grep -q "insecure" "$TMP/x.log" || fail "no reason given: $(cat "$TMP/x.log")"
"$RINGTAP" collect --from nats://127.0.0.1:1 --insecure --tls-ca "$TMP/ca.pem" -d "$TMP/x" 2>"$TMP/x.log" && fail "collect --insecure --tls-ca accepted"
grep -q "insecure" "$TMP/x.log" || fail "no reason given: $(cat "$TMP/x.log")"

start_nats s1
NPORT=${NATS_URL##*:}
log "nats-server $("$NATS_SERVER" --version) at $NATS_URL"

# ---- 2. live: nats beside file ----
log "2. a nats output beside a file output, collected live"
inst=$(new_instance)
start_ncollect a "$TMP/c2.log" --from "$NATS_URL" --insecure -d "$TMP/col2" --create-stream --ack-wait 2 --idle-exit 3
nats_config "$TMP/rt.conf" "$inst" "" \
	"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local2\n\n[output \"js\"]\ntype = nats\nurl = $NATS_URL\ninsecure = yes\nspill_dir = $TMP/spill2\n"
start_daemon "$TMP/rt.conf" "$TMP/d2.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 20000 -r 20000 >"$TMP/written" ||
	fail "marker_writer failed"
"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
grep -E "^js " "$TMP/status"
grep -qE "^js +nats +connected" "$TMP/status" || fail "nats output not connected"
"$RINGTAP" status -c "$TMP/rt.conf" --json | python3 -c '
import json, sys
o = {x["name"]: x for x in json.load(sys.stdin)["outputs"]}["js"]
assert o["state"] == "connected" and o["peer"].startswith("nats://"), o
assert int(o["acked_bytes"]) > 0 and int(o["acked_messages"]) > 0, o
assert o["stream"] == "RINGTAP", o
' || fail "status --json: nats output fields"
stop_daemon TERM || { cat "$TMP/d2.log"; fail "ringtapd exited with $?"; }
grep -q "not acknowledged" "$TMP/d2.log" && { cat "$TMP/d2.log"; fail "data left unacknowledged"; }
grep -q "plain nats:// to $NATS_URL" "$TMP/d2.log" || fail "no warning about plain nats://"
wait_ncollect a || { cat "$TMP/c2.log"; fail "collector exited with $?"; }
cat "$TMP/c2.log"
dir=$TMP/col2/$HOST_DIR
same_capture "$TMP/local2" "$dir"
all_markers "$dir" 20000
echo "live: the file output's files byte for byte, every marker once"

# ---- 3. collector killed and restarted ----
log "3. the collector killed (-9) and restarted 3 times mid-stream"
inst=$(new_instance)
nats_config "$TMP/rt.conf" "$inst" "subbuf_size_kb = 64" \
	"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local3\nmax_file_size = 256K\n\n[output \"js\"]\ntype = nats\nurl = $NATS_URL\ninsecure = yes\nspill_dir = $TMP/spill3\nmax_file_size = 256K\n"
start_ncollect a "$TMP/c3-0.log" --from "$NATS_URL" --insecure -d "$TMP/col3" --batch 8
start_daemon "$TMP/rt.conf" "$TMP/d3.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 30000 -r 6000
for i in 1 2 3; do
	sleep 1
	kill_ncollect a 9
	sleep 0.3
	start_ncollect a "$TMP/c3-$i.log" --from "$NATS_URL" --insecure -d "$TMP/col3" --batch 8 --idle-exit 4
done
wait "$WRITER_PID" || fail "marker_writer failed"
stop_daemon TERM || { cat "$TMP/d3.log"; fail "ringtapd exited with $?"; }
grep -q "not acknowledged" "$TMP/d3.log" && { cat "$TMP/d3.log"; fail "data left unacknowledged"; }
wait_ncollect a || { cat "$TMP/c3-3.log"; fail "collector exited with $?"; }
dir=$TMP/col3/$HOST_DIR
ls "$dir" | grep -q "cpu0-000002.rtap" || fail "expected rotated files"
same_capture "$TMP/local3" "$dir"
all_markers "$dir" 30000
echo "collector restarts: $(cat "$TMP"/c3-*.log | grep -c 'collecting into') starts, every marker once"

# ---- 4. broker killed and restarted ----
log "4. the broker killed (-9) and restarted mid-stream"
inst=$(new_instance)
nats_config "$TMP/rt.conf" "$inst" "subbuf_size_kb = 64" \
	"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local4\n\n[output \"js\"]\ntype = nats\nurl = $NATS_URL\ninsecure = yes\nspill_dir = $TMP/spill4\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n"
start_ncollect a "$TMP/c4-0.log" --from "$NATS_URL" --insecure -d "$TMP/col4"
start_daemon "$TMP/rt.conf" "$TMP/d4.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 30000 -r 6000
sleep 1.5
kill_nats s1 9
sleep 1.5
"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
grep -E "^js " "$TMP/status"
grep -qE "^js +nats +connecting" "$TMP/status" || fail "nats output not 'connecting' with the broker away"
start_nats s1 "$NPORT"
wait "$WRITER_PID" || fail "marker_writer failed"
stop_daemon TERM || { cat "$TMP/d4.log"; fail "ringtapd exited with $?"; }
grep -q "not acknowledged" "$TMP/d4.log" && { cat "$TMP/d4.log"; fail "data left unacknowledged"; }
grep -q "disconnected from NATS" "$TMP/d4.log" || { cat "$TMP/d4.log"; fail "the daemon did not notice the outage"; }
# the collector reconnects by itself; it stops once everything is written
kill_ncollect a TERM
start_ncollect a "$TMP/c4-1.log" --from "$NATS_URL" --insecure -d "$TMP/col4" --idle-exit 3
wait_ncollect a || { cat "$TMP/c4-1.log"; fail "collector exited with $?"; }
dir=$TMP/col4/$HOST_DIR
same_capture "$TMP/local4" "$dir"
all_markers "$dir" 30000
echo "broker outage: every marker once"

# ---- 5. broker away, small queue: exact losses ----
log "5. queue_size = 1M, spill_size = 1M, broker away"
kill_nats s1 9
rm -rf "$TMP/nats-s1"
inst=$(new_instance)
nats_config "$TMP/rt.conf" "$inst" "" \
	"[output \"js\"]\ntype = nats\nurl = $NATS_URL\ninsecure = yes\ncreate_stream = yes\nstream = SMALL\nsubject_prefix = small\nqueue_size = 1M\nspill_size = 1M\nspill_dir = $TMP/spill5\nreconnect_min_ms = 20\nreconnect_max_ms = 200\n"
start_daemon "$TMP/rt.conf" "$TMP/d5.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 10000 -r 4000 -s 200
sleep 1.2
"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
grep -E "^js " "$TMP/status"
ls "$TMP/spill5"/cpu0.spill >/dev/null || fail "no spill file"
sleep 0.3
start_nats s1 "$NPORT"
wait "$WRITER_PID" || fail "marker_writer failed"
sleep 0.5
stop_daemon TERM || { cat "$TMP/d5.log"; fail "ringtapd exited with $?"; }
grep -q "not acknowledged" "$TMP/d5.log" && { cat "$TMP/d5.log"; fail "data left unacknowledged"; }
grep "dropping sub-buffers" "$TMP/d5.log" | head -2
grep -q "created JetStream stream 'SMALL'" "$TMP/d5.log" || { cat "$TMP/d5.log"; fail "the daemon did not create the stream"; }
start_ncollect a "$TMP/c5.log" --from "$NATS_URL" --insecure -d "$TMP/col5" --stream SMALL --subject-prefix small --idle-exit 3
wait_ncollect a || { cat "$TMP/c5.log"; fail "collector exited with $?"; }
dir=$TMP/col5/$HOST_DIR
"$RINGTAP" report "$dir" >"$TMP/c5.rep" || fail "report exited with $?"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_lost "$TMP/c5.rep" "$cpu" 10000 || fail "cpu $cpu: captured + lost != written"
done
ls "$TMP/spill5"/*.spill 2>/dev/null && fail "spill files left behind"
echo "nats ok"
