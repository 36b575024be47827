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

# kill -9 in the middle of a flood, whole sub-buffers going to disk as
# O_DIRECT page images: each CPU's markers read back in order from the
# first one up to the last complete frame, any gap shown as a loss.
inst2=$(new_instance)
write_config "$TMP/rt2.conf" "$inst2" "$TMP/out2" "flush_interval_ms = 50"
start_daemon "$TMP/rt2.conf" "$TMP/daemon3.log"
start_writer "$inst2" "$TMP/written2" -c "$(seq -s, 0 $((NCPUS - 1)))" -t 2 -s 200
sleep 1
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
wait "$WRITER_PID"
"$RINGTAP" report "$TMP/out2" >"$TMP/report2" 2>"$TMP/report2.err"
rc=$?
cat "$TMP/report2.err"
[ $rc -eq 3 ] || fail "flood: report exit status $rc, expected 3 (incomplete input)"
images=$(python3 - "$(dirname "$0")/../fuzz" "$TMP/out2" <<'PY'
import glob, sys
sys.path.insert(0, sys.argv[1])
import rtap
print(sum(f.type == rtap.SUBBUF_T and f.flags & rtap.F_PAGE_IMAGE != 0
          for p in glob.glob(sys.argv[2] + '/*.rtap')
          for f in rtap.parse(open(p, 'rb').read())[1]))
PY
)
[ "$images" -gt 0 ] || fail "flood: no page image in the files"
for cpu in $(seq 0 $((NCPUS - 1))); do
	# a gap is allowed only where the report shows a loss on that CPU
	lost=0
	grep -q "^CPU:$cpu \[LOST" "$TMP/report2" && lost=1
	grep -o "c=$cpu s=[0-9]*" "$TMP/report2" | awk -F= -v cpu="$cpu" -v lost=$lost '
		{ s = $3 + 0
		  if (NR > 1 && s <= last) { printf "cpu %d: marker %d after %d\n", cpu, s, last; exit 1 }
		  if (s != (NR > 1 ? last + 1 : 0)) gaps++
		  last = s }
		END { if (NR == 0) { printf "cpu %d: no markers\n", cpu; exit 1 }
		      if (gaps && !lost) { printf "cpu %d: %d gaps without a LOST line\n", cpu, gaps; exit 1 }
		      printf "cpu %d: %d markers up to s=%d, %d gaps (LOST shown: %d)\n", cpu, NR, last, gaps + 0, lost }' ||
		fail "flood: cpu $cpu markers out of order or lost silently"
done
instance_exists "$inst2" && rmdir "$TRACEFS/instances/$inst2"
echo "flood killed: $images page images, every CPU's markers in order up to the cut"

# The next daemon reclaims the stale instance.
start_daemon "$TMP/rt.conf" "$TMP/daemon2.log"
grep -q "reclaiming stale instance" "$TMP/daemon2.log" || fail "no stale-instance warning"
stop_daemon TERM || fail "second daemon exited with $?"
instance_exists "$inst" && fail "instance left behind"
echo "kill -9 capture readable up to the last complete frame"
