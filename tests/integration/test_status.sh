#!/bin/bash
# ringtap status against a running daemon: the figures (text, --json,
# --metrics) match what the test wrote; the control socket is the owner's
# only; a daemon that is gone gives a clear error and exit status 1.
. "$(dirname "$0")/lib.sh"

N=3000
inst=$(new_instance)
out=$TMP/out
write_config "$TMP/rt.conf" "$inst" "$out" "flush_interval_ms = 100"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
sock=$RUN_DIR/$inst.sock
[ -S "$sock" ] || fail "no control socket at $sock"
[ "$(stat -c %a "$sock")" = 600 ] || fail "control socket mode is $(stat -c %a "$sock"), not 600"

cpus=$(seq -s, 0 $((NCPUS - 1)))
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n $N -r 20000 >"$TMP/written" ||
	fail "marker_writer failed"
# the idle flush brings the last partial sub-buffer within 100 ms
expected=$((N * NCPUS))
for _ in $(seq 1 50); do
	"$RINGTAP" status -c "$TMP/rt.conf" --json >"$TMP/status.json" || fail "status --json exited with $?"
	got=$(python3 -c 'import json,sys; print(sum(c["events"] for c in json.load(open(sys.argv[1]))["cpus"]))' "$TMP/status.json")
	[ "$got" = "$expected" ] && break
	sleep 0.1
done
cat "$TMP/status.json"
[ "$got" = "$expected" ] || fail "status counts $got events, the test wrote $expected markers"

python3 - "$TMP/status.json" "$inst" "$NCPUS" "$DAEMON_PID" "$TMP/rt.conf" <<'EOF' || fail "status --json content"
import json, sys
s = json.load(open(sys.argv[1]))
inst, ncpus, pid, conf = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
d = s["daemon"]
assert d["instance"] == inst, d
assert d["pid"] == pid, d
assert d["state"] == "running", d
assert d["config"] == conf, d
assert d["reader"] == "mmap", d
assert d["events"] == "ftrace:print", d
assert len(s["cpus"]) == ncpus, s["cpus"]
for c in s["cpus"]:
    assert c["reader"] == "mmap" and c["lost"] == 0 and c["lost_output"] == 0, c
    # each marker: 12-byte event header + ip + "c=N s=M\n" text: > 20 bytes
    assert c["bytes"] > 20 * c["events"], c
(o,) = s["outputs"]
assert o["name"] == "test" and o["type"] == "file" and o["state"] == "ok", o
assert o["lost_events"] == 0, o
EOF

# Text: the total line and the output line.
"$RINGTAP" status --socket "$sock" >"$TMP/status.txt" || fail "status exited with $?"
cat "$TMP/status.txt"
awk -v n=$expected '$1 == "all" { found = 1; if ($2 != n || $4 != 0 || $5 != 0) exit 1 } END { exit !found }' "$TMP/status.txt" ||
	fail "text status: the 'all' line does not show $expected events and no loss"
grep -Eq "^test +file +ok +0 " "$TMP/status.txt" || fail "text status: output line"

# OpenMetrics: parseable, events per CPU add up, ends with # EOF.
"$RINGTAP" status -c "$TMP/rt.conf" --metrics >"$TMP/metrics" || fail "status --metrics exited with $?"
cat "$TMP/metrics"
[ "$(tail -1 "$TMP/metrics")" = "# EOF" ] || fail "metrics do not end with # EOF"
sum=$(awk -F' ' '/^ringtap_events_total\{/ { s += $2 } END { print s }' "$TMP/metrics")
[ "$sum" = "$expected" ] || fail "metrics: ringtap_events_total adds up to $sum, not $expected"
grep -q "^ringtap_up{instance=\"$inst\"} 1$" "$TMP/metrics" || fail "metrics: ringtap_up"
grep -q "^ringtap_output_up{instance=\"$inst\",output=\"test\",type=\"file\"} 1$" "$TMP/metrics" || fail "metrics: ringtap_output_up"
awk '/^# TYPE/ { t[$3] = $4 } /^[a-z]/ { split($1, a, "{"); n = a[1]; sub(/_total$/, "", n); if (!(n in t)) { print "no TYPE for " $1; exit 1 } }' "$TMP/metrics" ||
	fail "metrics: a sample without its # TYPE"

# A request the daemon does not know gets an error line, not silence.
reply=$(python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(b"bogus\n"); print(s.recv(4096).decode())' "$sock")
echo "$reply" | grep -q "^error.*unknown request" || fail "unknown request answered with '$reply'"

stop_daemon TERM || fail "ringtapd exited with $?"
[ -e "$sock" ] && fail "control socket left behind after SIGTERM"
"$RINGTAP" status -c "$TMP/rt.conf" >"$TMP/gone.out" 2>"$TMP/gone.err"
rc=$?
cat "$TMP/gone.err"
[ $rc = 1 ] || fail "status of a stopped daemon exited with $rc, not 1"
grep -q "cannot reach ringtapd at $sock.*is it running" "$TMP/gone.err" || fail "unclear error for a stopped daemon"
"$RINGTAP" status -c "$TMP/rt.conf" --metrics >"$TMP/gone.metrics" 2>/dev/null
grep -q "^ringtap_up 0$" "$TMP/gone.metrics" || fail "--metrics of a stopped daemon lacks ringtap_up 0"
"$RINGTAP" status -c "$TMP/nonexistent.conf" 2>"$TMP/noconf.err" && fail "status with a missing config succeeded"
grep -q "nonexistent.conf" "$TMP/noconf.err" || fail "missing config not named"
echo "status: $expected events seen live, text/JSON/metrics agree"
