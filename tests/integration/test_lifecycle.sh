#!/bin/bash
# Start-up and shutdown rules: a second daemon on the same instance is
# refused; SIGTERM and SIGINT leave no instance behind; a foreign instance is
# not taken over; every file ends with an END frame.
. "$(dirname "$0")/lib.sh"

inst=$(new_instance)
write_config "$TMP/rt.conf" "$inst" "$TMP/out"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
first=$DAEMON_PID

"$RINGTAPD" -c "$TMP/rt.conf" >"$TMP/second.log" 2>&1 &
second=$!
PIDS+=("$second")
for _ in $(seq 1 100); do kill -0 $second 2>/dev/null || break; sleep 0.1; done
kill -0 $second 2>/dev/null && fail "second daemon is still running"
wait $second
rc=$?
cat "$TMP/second.log"
[ $rc -ne 0 ] || fail "second daemon exited 0"
grep -q "owned by a running ringtapd (pid $first" "$TMP/second.log" || fail "no clear refusal message"
instance_exists "$inst" || fail "second daemon removed the first one's instance"

DAEMON_PID=$first
stop_daemon TERM || fail "ringtapd exited with $?"
instance_exists "$inst" && fail "instance left behind after SIGTERM"
[ -e "$RUN_DIR/$inst.lock" ] && fail "lock file left behind"
"$RINGTAP" report --stats "$TMP/out" >/dev/null || fail "files not complete after SIGTERM"

# SIGINT behaves the same.
start_daemon "$TMP/rt.conf" "$TMP/daemon3.log"
stop_daemon INT || fail "ringtapd exited with $? on SIGINT"
instance_exists "$inst" && fail "instance left behind after SIGINT"

# --duration stops by itself.
"$RINGTAPD" -c "$TMP/rt.conf" --duration 0.5 >"$TMP/dur.log" 2>&1 || { cat "$TMP/dur.log"; fail "--duration run failed"; }
instance_exists "$inst" && fail "instance left behind after --duration"

# An instance somebody else created is not taken over, nor removed.
mkdir "$TRACEFS/instances/$inst"
"$RINGTAPD" -c "$TMP/rt.conf" --duration 0.2 >"$TMP/foreign.log" 2>&1 && fail "daemon took over a foreign instance"
cat "$TMP/foreign.log"
grep -q "was not created by ringtapd" "$TMP/foreign.log" || fail "no clear message for a foreign instance"
instance_exists "$inst" || fail "foreign instance was removed"
rmdir "$TRACEFS/instances/$inst"
echo "lifecycle rules hold"
