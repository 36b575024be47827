#!/bin/bash
# ringtap collect: a real sequenced-marker capture replayed by rtap_send
# (tests/tools/rtap_send.c, the transport protocol's daemon side) arrives
# byte for byte with every marker exactly once: over TCP and a unix socket,
# across kill -9 and restarts of the collector, from 8 hosts at once; and
# tokens and unix peer credentials are enforced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/collect.sh"

make_capture "$TMP/src" 20000
cpu0_bytes=$(cat "$TMP"/src/cpu0-*.rtap | wc -c)

log "TCP needs --insecure"
"$RINGTAP" collect -d "$TMP/x" --listen tcp:127.0.0.1:0 2>"$TMP/x.log" && fail "plain TCP accepted without --insecure"
grep -q "insecure" "$TMP/x.log" || fail "no reason given: $(cat "$TMP/x.log")"

log "replay over TCP and over a unix socket"
start_collect "$TMP/c1.log" -d "$TMP/c1" --listen tcp:127.0.0.1:0 --insecure \
	--listen "unix:$TMP/c1.sock" --stats=1
grep -q "warning: .*plain TCP" "$TMP/c1.log" || fail "no warning for --insecure"
[ -n "$COLLECT_TCP" ] || fail "bound port not printed"
"$RINGTAP" collect -d "$TMP/c1" --listen "unix:$TMP/other.sock" 2>"$TMP/x.log" && fail "two collectors in one directory"
grep -q "another ringtap collect writes there" "$TMP/x.log" || fail "second collector: $(cat "$TMP/x.log")"
"$RINGTAP" collect -d "$TMP/other" --listen "unix:$TMP/c1.sock" 2>"$TMP/x.log" && fail "a live unix socket taken over"
grep -q "in use by another process" "$TMP/x.log" || fail "live socket: $(cat "$TMP/x.log")"
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H tcphost -s 16384 "$TMP/src" || fail "rtap_send over TCP: exit $?"
"$RTAP_SEND" -a "unix:$TMP/c1.sock" -A -H unixhost "$TMP/src" || fail "rtap_send over unix: exit $?"
check_collected "$TMP/src" "$TMP/c1/tcphost/$BOOT_ID"
check_collected "$TMP/src" "$TMP/c1/unixhost/$BOOT_ID"
# The same channel again: it resumes at its end and writes nothing twice.
"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H tcphost "$TMP/src" 2>"$TMP/again.log" || fail "resend: exit $?"
grep -q "resuming at $cpu0_bytes of" "$TMP/again.log" || fail "resend did not resume at the end: $(cat "$TMP/again.log")"
check_collected "$TMP/src" "$TMP/c1/tcphost/$BOOT_ID"
# A later capture of the same boot gets a directory of its own.
make_capture "$TMP/src2" 8000
"$RTAP_SEND" -a "unix:$TMP/c1.sock" -A -H tcphost "$TMP/src2" || fail "second capture: exit $?"
later=$(ls -d "$TMP/c1/tcphost/$BOOT_ID".*) || fail "no directory for the second capture"
check_collected "$TMP/src2" "$later"
check_collected "$TMP/src" "$TMP/c1/tcphost/$BOOT_ID"
# The splice reader's frames (RT_FRAME_F_PARTIAL_CRC) pass the checks.
make_capture "$TMP/src3" 8000 "reader = read"
grep -q "(reader read," "$TMP/capture.log" || fail "the capture did not use the splice reader"
partial=$(python3 - "$TMP"/src3/*.rtap <<'PY'
import struct, sys
n = 0
for name in sys.argv[1:]:
    b = open(name, "rb").read()
    o = 16
    while o + 32 <= len(b):
        _, _, flags, _, length = struct.unpack_from("<IHHII", b, o)
        n += (flags & 2) != 0
        o += 32 + ((length + 7) & ~7)
print(n)
PY
)
[ "$partial" -gt 0 ] || fail "no RT_FRAME_F_PARTIAL_CRC frame in the splice capture"
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H splicehost "$TMP/src3" || fail "splice capture: exit $?"
check_collected "$TMP/src3" "$TMP/c1/splicehost/$BOOT_ID"
echo "splice capture with $partial partial-CRC frames collected"
# Per-channel --stats lines while a slow sender streams.
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H statshost -s 4096 -D 10 "$TMP/src" 2>"$TMP/stats-send.log" &
stats_pid=$!
PIDS+=("$stats_pid")
sleep 1.5
kill -USR1 "$COLLECT_PID"
wait "$stats_pid" || fail "slow sender: exit $?"
grep -q "^collect: host=statshost cpu=0 received=[0-9]* rate=[0-9.]*MB/s acked=[0-9]*$" "$TMP/c1.log.out" ||
	{ cat "$TMP/c1.log.out"; fail "no per-channel --stats line"; }
grep -q "^collect: total channels=[0-9]* connections=[0-9]* received=[0-9]* rate=" "$TMP/c1.log.out" ||
	fail "no --stats totals"
stop_collect || fail "ringtap collect exited with $? after SIGTERM"
cat "$TMP/c1.log"

log "IPv6, --max-files"
start_collect "$TMP/c7.log" -d "$TMP/c7" --listen "tcp:[::1]:0" --insecure --max-files 2
case $COLLECT_TCP in "tcp:[::1]:"[1-9]*) ;; *) fail "IPv6 listener: '$COLLECT_TCP'";; esac
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H v6host "$TMP/src" || fail "rtap_send over IPv6: exit $?"
grep -q "v6host cpu 0 (\[::1\]:[0-9]*): channel open" "$TMP/c7.log" || fail "IPv6 peer not named"
for cpu in $(seq 0 $((NCPUS - 1))); do
	kept=$(ls "$TMP/c7/v6host/$BOOT_ID" | grep -c "^cpu$cpu-")
	[ "$kept" = 2 ] || fail "--max-files 2: cpu $cpu kept $kept files"
	for f in $(ls "$TMP/src/cpu$cpu-"*.rtap | tail -2); do
		cmp "$f" "$TMP/c7/v6host/$BOOT_ID/${f##*/}" || fail "--max-files: ${f##*/} differs"
	done
done
stop_collect || fail "ringtap collect exited with $?"

log "kill -9 and restart the collector mid-stream"
start_collect "$TMP/c2-0.log" -d "$TMP/c2" --listen "unix:$TMP/c2.sock"
"$RTAP_SEND" -a "unix:$TMP/c2.sock" -A -H killhost -r -s 2048 -D 10 -T 120 "$TMP/src" 2>"$TMP/send2.log" &
send_pid=$!
PIDS+=("$send_pid")
for i in 1 2 3 4 5 6; do
	sleep 0.6
	if [ $i = 6 ]; then
		# an orderly stop mid-stream: everything synced, BYE SHUTDOWN
		stop_collect || fail "ringtap collect exited with $? after SIGTERM mid-stream"
	else
		kill -9 "$COLLECT_PID"
		wait "$COLLECT_PID" 2>/dev/null
	fi
	start_collect "$TMP/c2-$i.log" -d "$TMP/c2" --listen "unix:$TMP/c2.sock"
done
wait "$send_pid" || { cat "$TMP/send2.log"; fail "rtap_send across restarts: exit $?"; }
grep -q "BYE reason 2 from the collector: collector stopping" "$TMP/send2.log" || fail "no BYE SHUTDOWN on SIGTERM"
resumes=$(grep -c "resuming at [1-9]" "$TMP/send2.log")
[ "$resumes" -ge 6 ] || { cat "$TMP/send2.log"; fail "only $resumes resumptions mid-stream"; }
check_collected "$TMP/src" "$TMP/c2/killhost/$BOOT_ID"
ls -A "$TMP/c2/killhost/$BOOT_ID" | grep -q head && fail "a .head file left behind"
stop_collect || fail "ringtap collect exited with $?"
echo "5 kill -9 restarts and a SIGTERM, $resumes resumptions: every byte once"

log "8 senders at once"
start_collect "$TMP/c3.log" -d "$TMP/c3" --listen tcp:127.0.0.1:0 --insecure
senders=()
for i in 1 2 3 4 5 6 7 8; do
	"$RTAP_SEND" -a "$COLLECT_TCP" -A -H "host$i" -s 8192 "$TMP/src" 2>"$TMP/send3-$i.log" &
	senders+=($!)
	PIDS+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
	wait "${senders[$((i - 1))]}" || { cat "$TMP/send3-$i.log"; fail "sender host$i: exit $?"; }
done
for i in 1 2 3 4 5 6 7 8; do
	check_collected "$TMP/src" "$TMP/c3/host$i/$BOOT_ID"
done
[ "$(ls "$TMP/c3" | wc -l)" = 8 ] || fail "not 8 host directories"
stop_collect || fail "ringtap collect exited with $?"

log "token"
printf 's3cret\n' >"$TMP/token"
printf 'wrong\n' >"$TMP/badtoken"
start_collect "$TMP/c4.log" -d "$TMP/c4" --listen tcp:127.0.0.1:0 --insecure --token-file "$TMP/token"
"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H badtoken -t "$TMP/badtoken" "$TMP/src"
rc=$?
[ $rc = 12 ] || fail "wrong token: rtap_send exit $rc, expected 12 (WELCOME AUTH)"
"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H notoken "$TMP/src"
rc=$?
[ $rc = 12 ] || fail "no token: rtap_send exit $rc, expected 12 (WELCOME AUTH)"
grep -q "127.0.0.1:[0-9]*: refused (AUTH): wrong token" "$TMP/c4.log" || fail "refusal not logged with the peer"
[ -e "$TMP/c4/badtoken" ] && fail "a refused peer created a directory"
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H goodtoken -t "$TMP/token" "$TMP/src" || fail "right token: exit $?"
check_collected "$TMP/src" "$TMP/c4/goodtoken/$BOOT_ID"
stop_collect || fail "ringtap collect exited with $?"

log "unix peer credentials"
chmod 755 "$TMP"
mkdir -m 755 "$TMP/u"
start_collect "$TMP/c5.log" -d "$TMP/c5" --listen "unix:$TMP/u/c.sock"
setpriv --reuid=65534 --regid=65534 --clear-groups "$RTAP_SEND" -a "unix:$TMP/u/c.sock" -c 0 -H nobody "$TMP/src"
rc=$?
[ $rc = 12 ] || fail "uid 65534: rtap_send exit $rc, expected 12 (WELCOME AUTH)"
grep -q "uid 65534: refused (AUTH)" "$TMP/c5.log" || fail "uid refusal not logged: $(cat "$TMP/c5.log")"
stop_collect || fail "ringtap collect exited with $?"
start_collect "$TMP/c6.log" -d "$TMP/c6" --listen "unix:$TMP/u/c.sock" --allow-uid 0,nobody
setpriv --reuid=65534 --regid=65534 --clear-groups "$RTAP_SEND" -a "unix:$TMP/u/c.sock" -A -H nobody "$TMP/src" ||
	fail "uid 65534 allowed: exit $?"
check_collected "$TMP/src" "$TMP/c6/nobody/$BOOT_ID"
stop_collect || fail "ringtap collect exited with $?"
echo "all collect checks passed"
