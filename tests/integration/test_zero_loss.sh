#!/bin/bash
# Zero loss at a moderate rate: a writer pinned to each CPU writes sequenced
# markers; every marker appears exactly once, in order per CPU, in
# `ringtap report`, and --stats reports no loss.
. "$(dirname "$0")/lib.sh"

N=20000
# reader = mmap (default), reader = read (splice + read), and the automatic
# fallback from mmap to read when the mapping is refused.
for mode in mmap read fallback; do
	log "reader mode: $mode"
	inst=$(new_instance)
	out=$TMP/out-$mode
	reader=$mode
	[ $mode = fallback ] && reader=mmap
	write_config "$TMP/rt.conf" "$inst" "$out" "flush_interval_ms = 200" "reader = $reader"
	if [ $mode = fallback ]; then
		RINGTAP_DEBUG_NO_MMAP=1 start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
	else
		start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
	fi
	cpus=$(seq -s, 0 $((NCPUS - 1)))
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n $N -r 20000 >"$TMP/written" ||
		fail "marker_writer failed"
	cat "$TMP/written"
	stop_daemon TERM || fail "ringtapd exited with $?"
	cat "$TMP/daemon.log"
	instance_exists "$inst" && fail "instance $inst left behind after SIGTERM"
	expect_mode=$mode
	[ $mode = fallback ] && expect_mode=read
	grep -q "(reader $expect_mode," "$TMP/daemon.log" || fail "$mode: daemon did not run the $expect_mode reader"
	if [ $mode = fallback ]; then
		grep -q "falling back to splice/read" "$TMP/daemon.log" || fail "fallback not logged"
	fi

	"$RINGTAP" report "$out" >"$TMP/report" || fail "report exited with $?"
	"$RINGTAP" report --stats "$out" >"$TMP/stats" || fail "report --stats exited with $?"
	cat "$TMP/stats"
	for cpu in $(seq 0 $((NCPUS - 1))); do
		written=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$TMP/written")
		[ "$written" = $N ] || fail "cpu $cpu: marker_writer wrote $written of $N"
		check_markers "$TMP/report" "$cpu" "$written" || fail "$mode: cpu $cpu markers incomplete"
	done
	grep -q "LOST" "$TMP/report" && fail "$mode: report shows lost events"
	awk '$1 == "all" { exit !($4 == 0 && $5 == 0) }' "$TMP/stats" || fail "$mode: --stats reports losses"
	# Marker text is verbatim in the report.
	grep -q "c=0 s=0\$" "$TMP/report" || fail "marker text not verbatim"
	echo "$mode: all $((N * NCPUS)) markers present exactly once"
done
