#!/bin/bash
# TLS between ringtapd's tcp outputs and `ringtap collect`, with a
# throwaway PKI made here (make_certs in collect.sh):
#  1. options and config: a tcp: listener needs TLS or --insecure; bad TLS
#     options and config keys are refused naming the option or FILE:LINE;
#  2. ringtapd streams sequenced markers over TLS (client certificate and
#     token) and every marker arrives exactly once, while outputs of the same
#     daemon with a wrong CA, the system's CA store, a wrong server name, no
#     client certificate, a client certificate of another CA and a wrong token
#     are refused, logged on both sides, and write nothing;
#  3. hostile peers against a TLS listener (plain HELLO, garbage, no or a
#     wrong client certificate, a CA that does not know the collector, a wrong
#     token, a silent TCP connection, slowloris inside TLS, an absurd length,
#     a flood beyond --max-connections) are refused and logged, while a good
#     TLS sender streams on to a byte-exact capture.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/collect.sh"
command -v openssl >/dev/null || skip "needs the openssl command"

P=$TMP/pki
make_certs "$P"
HOST_DIR=$(hostname)/$BOOT_ID
cpus=$(seq -s, 0 $((NCPUS - 1)))
printf 's3cret-%s\n' "$RANDOM" >"$TMP/token"
printf 'wrong\n' >"$TMP/badtoken"

# ---- 1. options and config ----
log "1. collector options"
# refused NAME PATTERN ARGS...: `ringtap collect ARGS` exits non-zero, PATTERN in its message
refused() {
	local name=$1 pattern=$2
	shift 2
	"$RINGTAP" collect -d "$TMP/x" "$@" >/dev/null 2>"$TMP/x.log" && fail "$name: accepted"
	grep -qE -- "$pattern" "$TMP/x.log" || { cat "$TMP/x.log"; fail "$name: message lacks '$pattern'"; }
	echo "refused: $name: $(tail -1 "$TMP/x.log")"
}
refused "tcp without TLS or --insecure" "tcp:127.0.0.1:0: a tcp: listener needs TLS \(--tls-cert and --tls-key\), or --insecure" \
	--listen tcp:127.0.0.1:0
refused "--tls-cert without --tls-key" "--tls-cert and --tls-key go together" \
	--listen tcp:127.0.0.1:0 --tls-cert "$P/srv.pem"
refused "--tls-client-ca without a certificate" "--tls-client-ca needs --tls-cert" \
	--listen tcp:127.0.0.1:0 --tls-client-ca "$P/ca.pem"
refused "--insecure with --tls-cert" "exclude each other" \
	--listen tcp:127.0.0.1:0 --insecure --tls-cert "$P/srv.pem" --tls-key "$P/srv.key"
refused "a key as the certificate" "--tls-cert '$P/srv.key': not a PEM certificate" \
	--listen tcp:127.0.0.1:0 --tls-cert "$P/srv.key" --tls-key "$P/srv.key"
refused "the key of another certificate" "--tls-key '$P/cli.key' is not the key of the certificate '$P/srv.pem'" \
	--listen tcp:127.0.0.1:0 --tls-cert "$P/srv.pem" --tls-key "$P/cli.key"
refused "a missing client CA" "--tls-client-ca '$P/nope.pem': no usable CA certificates" \
	--listen tcp:127.0.0.1:0 --tls-cert "$P/srv.pem" --tls-key "$P/srv.key" --tls-client-ca "$P/nope.pem"

log "1. config errors name FILE:LINE"
inst=$(new_instance)
net_conf() {
	printf '[trace]\ninstance = %s\nevents = ftrace:print\nflush_interval_ms = 100\n\n%b\n[daemon]\nrun_dir = %s\n' \
		"$2" "$3" "$RUN_DIR" >"$1"
}
# expect_bad OUTPUT-SECTION PATTERN [PREFIX-COMMAND...]
expect_bad() {
	local section=$1 pattern=$2
	shift 2
	net_conf "$TMP/bad.conf" "$inst" "$section"
	"$@" "$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.log" 2>&1 && { cat "$TMP/bad.conf"; fail "accepted: $section"; }
	grep -qE -- "$pattern" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "message lacks '$pattern'"; }
	echo "refused: $(cat "$TMP/bad.log")"
}
tcp='[output "c"]\ntype = tcp\naddress = 127.0.0.1:9\n'
expect_bad "${tcp}tls_cert = $P/cli.pem\n" \
	"bad.conf:9: output 'c': 'tls_cert' needs 'tls_key' too"
expect_bad "${tcp}tls_key = $P/cli.key\n" \
	"bad.conf:9: output 'c': 'tls_key' needs 'tls_cert' too"
expect_bad "${tcp}tls_ca = $P/nope.pem\n" \
	"bad.conf:9: output 'c': tls_ca: cannot read '$P/nope.pem': No such file or directory"
expect_bad "${tcp}tls_ca = $P/cli.key\n" \
	"bad.conf:9: output 'c': tls_ca: '$P/cli.key': no usable CA certificates"
expect_bad "${tcp}tls_ca = $P/ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/srv.key\n" \
	"bad.conf:11: output 'c': tls_key: '$P/srv.key' is not the key of the certificate '$P/cli.pem'"
expect_bad "${tcp}tls_cert = $P/cli.key\ntls_key = $P/cli.key\n" \
	"bad.conf:9: output 'c': tls_cert: '$P/cli.key': not a PEM certificate"
expect_bad "${tcp}insecure = yes\ntls_ca = $P/ca.pem\n" \
	"bad.conf:10: output 'c': 'tls_ca' is for TLS, but 'insecure = yes' \\(line 9\\) sends plain TCP"
expect_bad '[output "c"]\ntype = unix\naddress = /run/x.sock\n'"tls_ca = $P/ca.pem\n" \
	"bad.conf:9: output 'c': 'tls_ca' is only for types 'tcp' and 'nats'"
expect_bad "${tcp}tls_server_name = a b\n" \
	"bad.conf:9: output 'c': tls_server_name: 'a b' is not a host name"
# unreadable: a key only root may read, checked by an unprivileged parser
chmod 755 "$TMP" "$P"
cp "$P/cli.key" "$P/private.key"
chmod 600 "$P/private.key"
expect_bad "${tcp}tls_ca = $P/ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/private.key\n" \
	"bad.conf:11: output 'c': tls_key: cannot read '$P/private.key': Permission denied" \
	setpriv --reuid=65534 --regid=65534 --clear-groups
# TLS is the default for tcp now: no insecure, the system's CA store
net_conf "$TMP/ok.conf" "$inst" "${tcp}"
"$RINGTAPD" -c "$TMP/ok.conf" --check-config >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "tcp with TLS defaults refused"; }
net_conf "$TMP/ok.conf" "$inst" "${tcp}tls_ca = $P/ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/cli.key\ntls_server_name = localhost\ntoken_file = $TMP/token\n"
"$RINGTAPD" -c "$TMP/ok.conf" --check-config >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "a full TLS output refused"; }

# ---- 2. ringtapd over TLS, with badly configured outputs beside ----
log "2. markers over TLS, and outputs that must be refused"
export RINGTAP_COLLECT_HELLO_MS=1500
rm -rf "$TMP/c1"
start_collect "$TMP/c1.log" -d "$TMP/c1" --listen tcp:127.0.0.1:0 --tls-cert "$P/srv.pem" --tls-key "$P/srv.key" \
	--tls-client-ca "$P/ca.pem" --token-file "$TMP/token"
grep -q "tcp:127.0.0.1:[0-9]*: TLS, client certificates required" "$TMP/c1.log" || fail "listener not TLS"
grep -q "plain TCP" "$TMP/c1.log" && fail "a TLS listener warned about plain TCP"
ADDR=${COLLECT_TCP#tcp:}
inst=$(new_instance)
# bad_out NAME KEYS: an output that must never get a channel
bad_out() {
	printf '[output "%s"]\ntype = tcp\naddress = %s\n%bspill_dir = %s\nstop_timeout_ms = 200\nreconnect_min_ms = 200\nreconnect_max_ms = 800\n\n' \
		"$1" "$ADDR" "$2" "$TMP/spill-$1"
}
net_conf "$TMP/rt.conf" "$inst" "[output \"good\"]\ntype = tcp\naddress = $ADDR\ntls_ca = $P/ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/cli.key\ntoken_file = $TMP/token\nspill_dir = $TMP/spill-good\n
$(bad_out wrongca "tls_ca = $P/other-ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/cli.key\ntoken_file = $TMP/token\n")
$(bad_out sysca "tls_cert = $P/cli.pem\ntls_key = $P/cli.key\ntoken_file = $TMP/token\n")
$(bad_out wrongname "tls_ca = $P/ca.pem\ntls_server_name = collector.example\ntls_cert = $P/cli.pem\ntls_key = $P/cli.key\ntoken_file = $TMP/token\n")
$(bad_out nocert "tls_ca = $P/ca.pem\ntoken_file = $TMP/token\n")
$(bad_out wrongcert "tls_ca = $P/ca.pem\ntls_cert = $P/other-cli.pem\ntls_key = $P/other-cli.key\ntoken_file = $TMP/token\n")
$(bad_out wrongtoken "tls_ca = $P/ca.pem\ntls_cert = $P/cli.pem\ntls_key = $P/cli.key\ntoken_file = $TMP/badtoken\n")"
start_daemon "$TMP/rt.conf" "$TMP/d.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 20000 -r 10000 >"$TMP/written" ||
	fail "marker_writer failed"
"$RINGTAP" status -c "$TMP/rt.conf" --json | python3 -c '
import json, sys
o = {x["name"]: x for x in json.load(sys.stdin)["outputs"]}
assert o["good"]["state"] == "connected" and o["good"]["transport"] == "tls", o["good"]
assert o["wrongca"]["state"] != "connected" and o["wrongca"]["transport"] == "tls", o["wrongca"]
' || fail "status: good output not connected over TLS, or a bad one connected"
# daemon log: output, then what it must say
expect=(
	wrongca "cannot connect to $ADDR: TLS handshake failed: certificate verify failed: self-signed certificate in certificate chain"
	sysca "cannot connect to $ADDR: TLS handshake failed: certificate verify failed: self-signed certificate in certificate chain"
	wrongname "cannot connect to $ADDR: TLS handshake failed: certificate verify failed: hostname mismatch"
	nocert "cannot connect to $ADDR: .*certificate required"
	wrongcert "cannot connect to $ADDR: .*unknown ca"
	wrongtoken "collector $ADDR refused the channel \\(status 2\\): wrong token"
)
for ((i = 0; i < ${#expect[@]}; i += 2)); do
	name=${expect[i]} what=${expect[i + 1]}
	for _ in $(seq 1 50); do
		grep -qE "output '$name': cpu [0-9]+: $what" "$TMP/d.log" && break
		sleep 0.1
	done
	grep -qE "output '$name': cpu [0-9]+: $what" "$TMP/d.log" || { cat "$TMP/d.log"; fail "$name: '$what' not logged"; }
	grep -q "output '$name': cpu [0-9]*: connected to" "$TMP/d.log" && fail "$name: got a channel"
	echo "$name: $(grep -E "output '$name': cpu [0-9]+: $what" "$TMP/d.log" | head -1 | sed 's/^ringtapd: //')"
done
stop_daemon TERM || { cat "$TMP/d.log"; fail "ringtapd exited with $?"; }
grep -q "output 'good': .*not acknowledged" "$TMP/d.log" && { cat "$TMP/d.log"; fail "good output: data left unacknowledged"; }
[ "$(grep -c "output 'good': cpu [0-9]*: connected to $ADDR (TLSv1.3 .*certificate CN=localhost)" "$TMP/d.log")" = "$NCPUS" ] ||
	{ cat "$TMP/d.log"; fail "good output: not one TLS 1.3 connection per CPU"; }
# the collector: the peers and reasons of its side, one channel per CPU opened
for what in "TLS handshake failed: tlsv1 alert unknown ca" \
	"TLS handshake failed: peer did not return a certificate" \
	"TLS handshake failed: certificate verify failed: unable to get local issuer certificate" \
	"refused \\(AUTH\\): wrong token"; do
	grep -qE "127\.0\.0\.1:[0-9]+: $what" "$TMP/c1.log" || { cat "$TMP/c1.log"; fail "collector: '$what' not logged with the peer"; }
done
[ "$(grep -c "channel open (TLSv1.3 .*certificate CN=ringtap-client)" "$TMP/c1.log")" = "$NCPUS" ] ||
	{ cat "$TMP/c1.log"; fail "collector: not exactly $NCPUS channels opened"; }
stop_collect || { cat "$TMP/c1.log"; fail "ringtap collect exited with $?"; }
[ "$(ls "$TMP/c1/$(hostname)")" = "$BOOT_ID" ] || fail "a refused output wrote a capture: $(ls "$TMP/c1/$(hostname)")"
"$RINGTAP" report "$TMP/c1/$HOST_DIR" >"$TMP/c1.rep" || fail "report exited with $?"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/c1.rep" "$cpu" 20000 || fail "over TLS: cpu $cpu markers not exactly once"
done
grep -q LOST "$TMP/c1.rep" && fail "over TLS: the report shows losses"
echo "over TLS: 20000 markers per CPU exactly once; 6 bad outputs refused"

# ---- 3. hostile peers against a TLS listener, a good sender beside ----
log "3. hostile peers, a good TLS sender streaming"
export RINGTAP_COLLECT_IDLE_MS=2000
make_capture "$TMP/src" 20000
start_collect "$TMP/c2.log" -d "$TMP/c2" --listen tcp:127.0.0.1:0 --tls-cert "$P/srv.pem" --tls-key "$P/srv.key" \
	--tls-client-ca "$P/ca.pem" --token-file "$TMP/token" --max-connections 6
TLS_ARGS=(-C "$P/ca.pem" -k "$P/cli.pem" -K "$P/cli.key" -t "$TMP/token")
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H good -s 1024 -D 15 -T 120 "${TLS_ARGS[@]}" "$TMP/src" 2>"$TMP/good.log" &
good_pid=$!
PIDS+=("$good_pid")
sleep 0.5
# hs_fail: how many failed handshakes the collector logged so far
hs_fail() { grep -c "127\.0\.0\.1:[0-9]*: TLS handshake failed" "$TMP/c2.log"; }
# bad NAME EXIT LOG-PATTERN ARGS...: rtap_send ARGS exits with EXIT, and
# the collector logged LOG-PATTERN (with the peer) since
bad() {
	local name=$1 want=$2 what=$3 before rc
	shift 3
	before=$(grep -cE "127\.0\.0\.1:[0-9]+\)?: $what" "$TMP/c2.log")
	"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H "bad-$name" -T 10 "$@" "$TMP/src" 2>"$TMP/$name.log"
	rc=$?
	[ $rc = "$want" ] || { cat "$TMP/$name.log"; fail "$name: rtap_send exit $rc, expected $want"; }
	for _ in $(seq 1 30); do
		[ "$(grep -cE "127\.0\.0\.1:[0-9]+\)?: $what" "$TMP/c2.log")" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(grep -cE "127\.0\.0\.1:[0-9]+\)?: $what" "$TMP/c2.log")" -gt "$before" ] ||
		{ cat "$TMP/c2.log"; fail "$name: '$what' not logged with the peer"; }
	echo "$name: $(grep -hE "127\.0\.0\.1:[0-9]+\)?: $what" "$TMP/c2.log" | tail -1 | sed 's/^ringtap: //')"
}
bad plain-hello 1 "TLS handshake failed"
bad garbage 0 "TLS handshake failed" -X garbage
bad no-cert 21 "TLS handshake failed: peer did not return a certificate" -C "$P/ca.pem" -t "$TMP/token"
bad wrong-cert 21 "TLS handshake failed: certificate verify failed" -C "$P/ca.pem" -k "$P/other-cli.pem" -K "$P/other-cli.key"
bad wrong-ca 20 "TLS handshake failed: tlsv1 alert unknown ca" -C "$P/other-ca.pem" -k "$P/cli.pem" -K "$P/cli.key"
bad wrong-token 12 "refused \\(AUTH\\): wrong token" -C "$P/ca.pem" -k "$P/cli.pem" -K "$P/cli.key" -t "$TMP/badtoken"
bad slowloris 0 "no HELLO within 1500 ms" -X slowloris "${TLS_ARGS[@]}"
bad hugehello 0 "message type 1: payload length 104857600 exceeds limit" -X hugehello "${TLS_ARGS[@]}"
bad idle 0 "nothing received for 2000 ms" -X idle "${TLS_ARGS[@]}"
# a TCP connection that never starts the handshake
before=$(grep -c "no HELLO within 1500 ms" "$TMP/c2.log")
exec 3<>"/dev/tcp/127.0.0.1/${COLLECT_TCP##*:}"
sleep 2.2
exec 3>&-
[ "$(grep -c "no HELLO within 1500 ms" "$TMP/c2.log")" -gt "$before" ] || fail "silent TCP peer not closed by the HELLO deadline"
echo "silent TCP peer: closed by the handshake deadline"
# a flood: 4 held channels + the good sender's 2 fill --max-connections 6
holders=()
for i in 1 2 3 4; do
	"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H "hold$i" -X hold "${TLS_ARGS[@]}" "$TMP/src" 2>"$TMP/hold$i.log" &
	holders+=($!)
	PIDS+=($!)
done
for i in 1 2 3 4; do
	for _ in $(seq 1 100); do
		grep -q "holding" "$TMP/hold$i.log" && break
		sleep 0.05
	done
	grep -q "holding" "$TMP/hold$i.log" || { cat "$TMP/hold$i.log"; fail "hold$i: no channel"; }
done
flood=()
for i in $(seq 1 30); do
	"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H "flood$i" "${TLS_ARGS[@]}" "$TMP/src" 2>/dev/null &
	flood+=($!)
done
for p in "${flood[@]}"; do
	wait "$p"
	rc=$?
	[ $rc = 20 ] || fail "flood: rtap_send exit $rc, expected 20 (closed before the TLS handshake)"
done
sleep 1.2
grep -q "127\.0\.0\.1:[0-9]*: refused (BUSY): 6 connections (--max-connections), closed before the TLS handshake" "$TMP/c2.log" ||
	fail "flood: not logged"
busy_lines=$(grep -c "refused (BUSY)" "$TMP/c2.log")
[ "$busy_lines" -le 4 ] || fail "flood: $busy_lines BUSY lines logged for 30 connections"
echo "flood: 30 connections closed before the handshake, $busy_lines log lines"
kill "${holders[@]}"
kill -0 "$good_pid" 2>/dev/null || fail "the good sender finished too early to test anything alongside it"
wait "$good_pid" || { cat "$TMP/good.log"; fail "good sender: exit $?"; }
check_collected "$TMP/src" "$TMP/c2/good/$BOOT_ID"
kill -0 "$COLLECT_PID" || fail "ringtap collect died"
stop_collect || { cat "$TMP/c2.log"; fail "ringtap collect exited with $?"; }
echo "every bad peer refused over TLS; the good sender's capture is byte for byte complete"
