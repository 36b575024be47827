#!/bin/bash
# Zero loss at a moderate rate: a writer pinned to each CPU writes sequenced
# markers; every marker appears exactly once, in order per CPU, in
# `ringtap report`, and --stats reports no loss.
. "$(dirname "$0")/lib.sh"

N=20000
inst=$(new_instance)
write_config "$TMP/rt.conf" "$inst" "$TMP/out" "flush_interval_ms = 200"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
cpus=$(seq -s, 0 $((NCPUS - 1)))
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n $N -r 20000 >"$TMP/written" ||
	fail "marker_writer failed"
cat "$TMP/written"
stop_daemon TERM || fail "ringtapd exited with $?"
cat "$TMP/daemon.log"
instance_exists "$inst" && fail "instance $inst left behind after SIGTERM"

"$RINGTAP" report "$TMP/out" >"$TMP/report" || fail "report exited with $?"
"$RINGTAP" report --stats "$TMP/out" >"$TMP/stats" || fail "report --stats exited with $?"
cat "$TMP/stats"
for cpu in $(seq 0 $((NCPUS - 1))); do
	written=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$TMP/written")
	[ "$written" = $N ] || fail "cpu $cpu: marker_writer wrote $written of $N"
	check_markers "$TMP/report" "$cpu" "$written" || fail "cpu $cpu markers incomplete"
done
grep -q "LOST" "$TMP/report" && fail "report shows lost events"
awk '$1 == "all" { exit !($4 == 0 && $5 == 0) }' "$TMP/stats" || fail "--stats reports losses"
# Markers text is verbatim in the report.
grep -q "c=0 s=0\$" "$TMP/report" || fail "marker text not verbatim"
echo "all $((N * NCPUS)) markers present exactly once"
