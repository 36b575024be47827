#!/bin/bash
# NATS over TLS, live, with a nats-server that requires TLS and client
# certificates (verify: true) and a throwaway PKI (make_certs in collect.sh):
#  1. ringtapd with a file output (direct_io = no) and two nats outputs
#     with tls_ca, tls_cert, tls_key and create_stream = yes, one at
#     tls://127.0.0.1:PORT, one at nats://127.0.0.1:PORT (TLS is the default
#     for both schemes) into a second stream; markers on every CPU; each
#     stream collected by `ringtap collect --from tls://|nats:// --tls-ca
#     --tls-cert --tls-key --idle-exit`: every marker exactly once, the
#     collected files the file output's byte for byte (same_capture);
#  2. refusals: a daemon with insecure = yes delivers nothing and keeps the
#     capture queued, then counts every event as lost at stop; a collector
#     with a CA of its own (another CA) fails verifying the server, and one
#     without a client certificate is refused by the server: both exit
#     non-zero, say why (or the server does), and write nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats.sh"
. "$(dirname "$0")/collect.sh"
command -v openssl >/dev/null || skip "needs the openssl command"
cpus=$(seq -s, 0 $((NCPUS - 1)))

P=$TMP/pki
make_certs "$P"
start_nats_tls tls "$P/srv.pem" "$P/srv.key" "$P/ca.pem"
NPORT=${NATS_URL##*:}
TLS_URL=tls://127.0.0.1:$NPORT
NATS_TLS_DEFAULT_URL=nats://127.0.0.1:$NPORT
NLOG=$TMP/nats-tls.log
log "nats-server $("$NATS_SERVER" --version) at $TLS_URL"
# the server says TLS and client certificates are required
exec 3<>"/dev/tcp/127.0.0.1/$NPORT"
read -r -t 5 info <&3 || fail "no INFO from nats-server"
exec 3>&-
case $info in
*'"tls_required":true'*'"tls_verify":true'*) ;;
*) fail "nats-server does not require TLS with client certificates: $info" ;;
esac

# ---- 2a. collectors that must be refused (they retry for ~10 s, so they
# run while part 1 does) ----
log "2. a collector with another CA, and one without a client certificate"
# bad_collector NAME ARGS...: `ringtap collect --from` in the background;
# sets BAD_PID_<NAME>
bad_collector() {
	local name=$1
	shift
	"$RINGTAP" collect -d "$TMP/col-$name" --idle-exit 2 "$@" >"$TMP/c-$name.log.out" 2>"$TMP/c-$name.log" &
	eval "BAD_PID_$name=$!"
	PIDS+=($!)
}
bad_collector wrongca --from "$TLS_URL" --tls-ca "$P/other-ca.pem" --tls-cert "$P/cli.pem" --tls-key "$P/cli.key"
bad_collector nocert --from "$TLS_URL" --tls-ca "$P/ca.pem"

# ---- 1. live over TLS: two nats outputs beside a file output ----
log "1. nats outputs over tls:// and nats:// (TLS by default) beside a file output"
inst=$(new_instance)
tls_keys="tls_ca = $P/ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/cli.key\ncreate_stream = yes"
nats_config "$TMP/rt.conf" "$inst" "" \
	"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local\n
[output \"js\"]\ntype = nats\nurl = $TLS_URL\n$tls_keys\nspill_dir = $TMP/spill-js\n
[output \"jsn\"]\ntype = nats\nurl = $NATS_TLS_DEFAULT_URL\n$tls_keys\nstream = RTNATS\nsubject_prefix = rtnats\nspill_dir = $TMP/spill-jsn\n"
start_daemon "$TMP/rt.conf" "$TMP/d.log"
# the daemon creates both streams over TLS; the collectors then find them
for s in RINGTAP RTNATS; do
	for _ in $(seq 1 100); do
		grep -q "created JetStream stream '$s'" "$TMP/d.log" && break
		sleep 0.05
	done
	grep -q "created JetStream stream '$s'" "$TMP/d.log" || { cat "$TMP/d.log"; fail "the daemon did not create stream $s over TLS"; }
done
grep -q "plain nats://" "$TMP/d.log" && { cat "$TMP/d.log"; fail "a TLS output warned about plain nats://"; }
start_ncollect js "$TMP/c-js.log" --from "$TLS_URL" --tls-ca "$P/ca.pem" --tls-cert "$P/cli.pem" --tls-key "$P/cli.key" \
	-d "$TMP/col-js" --ack-wait 2 --idle-exit 3
start_ncollect jsn "$TMP/c-jsn.log" --from "$NATS_TLS_DEFAULT_URL" --tls-ca "$P/ca.pem" --tls-cert "$P/cli.pem" --tls-key "$P/cli.key" \
	-d "$TMP/col-jsn" --stream RTNATS --subject-prefix rtnats --ack-wait 2 --idle-exit 3
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 20000 -r 20000 >"$TMP/written" ||
	fail "marker_writer failed"
"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/status" || fail "ringtap status failed"
grep -E "^jsn? " "$TMP/status"
"$RINGTAP" status -c "$TMP/rt.conf" --json | python3 -c '
import json, sys
tls_url, nats_url = sys.argv[1:3]
o = {x["name"]: x for x in json.load(sys.stdin)["outputs"]}
for name, peer, stream in (("js", tls_url, "RINGTAP"), ("jsn", nats_url, "RTNATS")):
    x = o[name]
    assert x["state"] == "connected" and x["peer"] == peer and x["stream"] == stream, x
    assert int(x["acked_bytes"]) > 0 and int(x["acked_messages"]) > 0, x
' "$TLS_URL" "$NATS_TLS_DEFAULT_URL" || fail "status --json: a nats output not connected over TLS"
stop_daemon TERM || { cat "$TMP/d.log"; fail "ringtapd exited with $?"; }
grep -q "not acknowledged" "$TMP/d.log" && { cat "$TMP/d.log"; fail "data left unacknowledged"; }
grep -q "output 'js': connected to NATS $TLS_URL" "$TMP/d.log" || { cat "$TMP/d.log"; fail "js: no connection logged"; }
grep -q "output 'jsn': connected to NATS $NATS_TLS_DEFAULT_URL" "$TMP/d.log" || { cat "$TMP/d.log"; fail "jsn: no connection logged"; }
for c in js jsn; do
	wait_ncollect $c || { cat "$TMP/c-$c.log"; fail "collector $c exited with $?"; }
	grep -q "warning\|error" "$TMP/c-$c.log" && { cat "$TMP/c-$c.log"; fail "collector $c: warnings or errors"; }
	dir=$TMP/col-$c/$HOST_DIR
	same_capture "$TMP/local" "$dir"
	"$RINGTAP" report "$dir" >"$TMP/$c.rep" || fail "ringtap report $dir exited with $?"
	grep -q LOST "$TMP/$c.rep" && fail "$dir: the report shows losses"
	for cpu in $(seq 0 $((NCPUS - 1))); do
		check_markers "$TMP/$c.rep" "$cpu" 20000 || fail "$dir: cpu $cpu markers not exactly once"
	done
	echo "$c: $(grep -c . "$TMP/$c.rep") report lines, the file output's files byte for byte, 20000 markers per CPU once"
done

# ---- 2b. insecure = yes against the TLS server ----
log "2. a daemon with insecure = yes against the TLS server"
inst=$(new_instance)
nats_config "$TMP/insecure.conf" "$inst" "" \
	"[output \"plain\"]\ntype = nats\nurl = $NATS_TLS_DEFAULT_URL\ninsecure = yes\ncreate_stream = yes\nstream = PLAIN\nsubject_prefix = plain\nspill_dir = $TMP/spill-plain\nstop_timeout_ms = 500\nreconnect_min_ms = 50\nreconnect_max_ms = 200\n"
start_daemon "$TMP/insecure.conf" "$TMP/d-insecure.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 2000 -r 10000 >"$TMP/written" ||
	fail "marker_writer failed"
sleep 1
"$RINGTAP" status -c "$TMP/insecure.conf" >"$TMP/status" || fail "ringtap status failed"
grep -E "^plain " "$TMP/status"
"$RINGTAP" status -c "$TMP/insecure.conf" --json | python3 -c '
import json, sys
x = {x["name"]: x for x in json.load(sys.stdin)["outputs"]}["plain"]
assert x["state"] != "connected", x
assert int(x["acked_bytes"]) == 0 and int(x["acked_messages"]) == 0, x
assert int(x["queued_bytes"]) > 0, x
' || fail "status --json: the insecure output delivered, or did not keep the capture queued"
grep -q "output 'plain': plain nats:// to $NATS_TLS_DEFAULT_URL: the capture travels unencrypted (insecure = yes)" "$TMP/d-insecure.log" ||
	{ cat "$TMP/d-insecure.log"; fail "no warning about plain nats://"; }
grep -q "output 'plain': NATS $NATS_TLS_DEFAULT_URL is not reachable yet" "$TMP/d-insecure.log" ||
	{ cat "$TMP/d-insecure.log"; fail "the insecure output's failure to connect not logged"; }
grep -q "output 'plain': connected to NATS" "$TMP/d-insecure.log" && fail "the insecure output connected"
stop_daemon TERM
rc=$?
# at stop every event is counted: nothing lost silently
for cpu in $(seq 0 $((NCPUS - 1))); do
	grep -qE "output 'plain': cpu $cpu: [0-9]+ messages \\([0-9]+ bytes, 2000 events\\) were not acknowledged by JetStream \\($NATS_TLS_DEFAULT_URL\\) within stop_timeout_ms \\(500\\): they are lost" "$TMP/d-insecure.log" ||
		{ cat "$TMP/d-insecure.log"; fail "insecure output: cpu $cpu's 2000 events not counted as lost at stop"; }
done
grep "output 'plain': cpu 0: .*not acknowledged" "$TMP/d-insecure.log"
# an output that never connected stops cleanly (libnats crashed here when
# asked for the in-flight list of a JetStream context that never published)
[ $rc = 0 ] || { cat "$TMP/d-insecure.log"; fail "the insecure daemon exited with $rc"; }
# libnats gives up on a refused handshake: ringtapd says why and dials again
grep -E "output 'plain': NATS $NATS_TLS_DEFAULT_URL closed the connection \(.+\): dialing again every 50..200 ms" "$TMP/d-insecure.log" ||
	{ cat "$TMP/d-insecure.log"; fail "the insecure output's closed connection: no reason, or no new dialing"; }

# ---- 2c. the refused collectors ----
for name in wrongca nocert; do
	eval "pid=\$BAD_PID_$name"
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { cat "$TMP/c-$name.log"; fail "collector $name still running after 30 s"; }
	wait "$pid"
	rc=$?
	[ $rc = 1 ] || { cat "$TMP/c-$name.log"; fail "collector $name exited with $rc, expected 1"; }
	grep -q "collecting into" "$TMP/c-$name.log" && fail "collector $name started collecting"
	[ -z "$(find "$TMP/col-$name" -name '*.rtap' 2>/dev/null)" ] || fail "collector $name wrote a capture"
	grep -q "error: cannot connect to NATS $TLS_URL: " "$TMP/c-$name.log" || { cat "$TMP/c-$name.log"; fail "collector $name: no error logged"; }
	echo "$name: exit $rc: $(grep -m1 "^ringtap: error:" "$TMP/c-$name.log")"
done
# another CA: the collector cannot verify the server's certificate
grep -qE "error: cannot connect to NATS $TLS_URL: .*SSL handshake error: .*unable to get local issuer certificate" "$TMP/c-wrongca.log" ||
	{ cat "$TMP/c-wrongca.log"; fail "wrongca: no certificate verification error"; }
# no client certificate: the server refuses the handshake and says why
grep -q "TLS handshake error: tls: client didn't provide a certificate" "$NLOG" ||
	{ grep ERR "$NLOG"; fail "nats-server did not refuse the collector without a certificate"; }
echo "nats-server: $(grep -m1 "client didn't provide a certificate" "$NLOG" | sed 's/^\[[0-9]*\] [0-9/]* [0-9:.]* //')"
echo "nats tls ok"
