#!/bin/bash
# A 3-node JetStream cluster of real nats-servers on loopback ports, a
# stream with 3 replicas: the node leading the stream is killed (-9)
# mid-stream; the daemon (given all three URLs) and the collector go on
# with the others, and nothing JetStream acknowledged is lost: the
# collector's files are a file output's byte for byte, every marker exactly
# once.  The node comes back and catches up before the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats.sh"
cpus=$(seq -s, 0 $((NCPUS - 1)))

start_cluster
log "cluster at $NATS_URLS"
inst=$(new_instance)
common=(--from "$NATS_URLS" --insecure -d "$TMP/col" --ack-wait 3)
start_ncollect a "$TMP/ca.log" "${common[@]}" --create-stream --replicas 3
cat "$TMP/ca.log"
leader=$(sed -n "s/.*stream 'RINGTAP': 3 replicas, leader \(n[123]\)$/\1/p" "$TMP/ca.log")
[ -n "$leader" ] || fail "no stream leader named by the collector"
nats_config "$TMP/rt.conf" "$inst" "subbuf_size_kb = 64" \
	"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local\nmax_file_size = 512K\n\n[output \"js\"]\ntype = nats\nurl = $NATS_URLS\ninsecure = yes\nspill_dir = $TMP/spill\nmax_file_size = 512K\nreconnect_min_ms = 50\nreconnect_max_ms = 1000\nstop_timeout_ms = 30000\n"
start_daemon "$TMP/rt.conf" "$TMP/d.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 40000 -r 5000
sleep 2.5
log "killing the stream leader $leader"
kill_nats "$leader" 9
sleep 4
log "restarting $leader"
restart_node "$leader"
wait "$WRITER_PID" || fail "marker_writer failed"
stop_daemon TERM || { cat "$TMP/d.log"; fail "ringtapd exited with $?"; }
cat "$TMP/d.log" | grep -v "^ringtapd: configuration"
grep -q "not acknowledged" "$TMP/d.log" && fail "data left unacknowledged"
kill_ncollect a TERM
start_ncollect a "$TMP/ca2.log" "${common[@]}" --idle-exit 4
cat "$TMP/ca2.log"
wait_ncollect a || { cat "$TMP/ca2.log"; fail "collector exited with $?"; }
cat "$TMP/ca2.log"
grep -q "leader n" "$TMP/ca2.log" || fail "no leader after the failover"
dir=$TMP/col/$HOST_DIR
cat "$TMP/ca.log"
same_capture "$TMP/local" "$dir"
"$RINGTAP" report "$dir" >"$TMP/rep" || fail "ringtap report exited with $?"
grep -q LOST "$TMP/rep" && fail "the report shows losses"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/rep" "$cpu" 40000 || fail "cpu $cpu markers"
done
echo "leader $leader killed mid-stream: every marker once"
