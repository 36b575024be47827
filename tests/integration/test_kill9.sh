#!/bin/bash
# kill -9 mid-capture: every complete frame stays readable, report says
# where and why the files end, and the next daemon reclaims the stale
# instance with a warning.
. "$(dirname "$0")/lib.sh"

inst=$(new_instance)
write_config "$TMP/rt.conf" "$inst" "$TMP/out" "flush_interval_ms = 50"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n 5000 -r 10000 >"$TMP/written" ||
	fail "marker_writer failed"
sleep 0.5 # > flush interval: the markers are in the file
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
instance_exists "$inst" || fail "expected the killed daemon's instance to remain"

"$RINGTAP" report "$TMP/out" >"$TMP/report" 2>"$TMP/report.err"
rc=$?
cat "$TMP/report.err"
[ $rc -eq 3 ] || fail "report exit status $rc, expected 3 (incomplete input)"
grep -q "without an END frame" "$TMP/report.err" || fail "report did not say the file was cut short"
check_markers "$TMP/report" 0 5000 || fail "markers written before the kill are missing"

# Cut a file in the middle of a frame: everything before stays readable.
f=$TMP/out/cpu0-000000.rtap
size=$(stat -c %s "$f")
head -c $((size - 100)) "$f" >"$TMP/torn.rtap"
"$RINGTAP" report "$TMP/torn.rtap" >"$TMP/torn.report" 2>"$TMP/torn.err"
rc=$?
cat "$TMP/torn.err"
[ $rc -eq 3 ] || fail "torn file: exit status $rc, expected 3"
grep -q "truncated frame at byte" "$TMP/torn.err" || fail "torn file: no truncation message with a byte offset"
lines=$(grep -c "c=0 s=" "$TMP/torn.report")
[ "$lines" -gt 4000 ] || fail "torn file: only $lines markers readable"

# The next daemon reclaims the stale instance.
start_daemon "$TMP/rt.conf" "$TMP/daemon2.log"
grep -q "reclaiming stale instance" "$TMP/daemon2.log" || fail "no stale-instance warning"
stop_daemon TERM || fail "second daemon exited with $?"
instance_exists "$inst" && fail "instance left behind"
echo "kill -9 capture readable up to the last complete frame"
