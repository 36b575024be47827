#!/bin/bash
# A low-rate event reaches the file within flush_interval_ms: one marker on
# an otherwise idle instance is readable from the running daemon's file
# well before the buffer_percent watermark would ever wake the reader.
. "$(dirname "$0")/lib.sh"

for mode in mmap read; do
	inst=$(new_instance)
	out=$TMP/out-$mode
	write_config "$TMP/rt.conf" "$inst" "$out" "flush_interval_ms = 200" "reader = $mode"
	start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
	for i in 1 2 3; do
		echo "idle-$mode-$i" >"$TRACEFS/instances/$inst/trace_marker"
		sleep 0.6 # 3 flush intervals
		# The daemon is still running: no END frame yet (exit 3).
		"$RINGTAP" report "$out" >"$TMP/report" 2>/dev/null
		grep -q "idle-$mode-$i\$" "$TMP/report" || { cat "$TMP/report"; fail "$mode: marker $i not in the file after 3 flush intervals"; }
		[ "$(grep -c "idle-$mode-" "$TMP/report")" -eq $i ] || fail "$mode: expected $i markers, each once"
	done
	stop_daemon TERM || fail "ringtapd exited with $?"
	"$RINGTAP" report "$out" >"$TMP/report" || fail "$mode: final report failed"
	[ "$(grep -c "idle-$mode-" "$TMP/report")" -eq 3 ] || fail "$mode: markers repeated or lost after the partial flushes"
	echo "$mode: each marker was in the file within 600 ms"
done
