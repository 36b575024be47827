#!/bin/bash
# Exact loss accounting under overload: a tiny ring buffer and a flood.
# Per CPU: markers captured + events reported lost == markers written, and
# every gap in the sequence is announced by a LOST line at that place.
. "$(dirname "$0")/lib.sh"

for mode in mmap read; do
log "reader mode: $mode"
inst=$(new_instance)
rm -rf "$TMP/out"
write_config "$TMP/rt.conf" "$inst" "$TMP/out" "reader = $mode" \
	"buffer_size_kb = 16" "subbuf_size_kb = 4" "buffer_percent = 100"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
cpus=$(seq -s, 0 $((NCPUS - 1)))
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n 200000 -s 200 >"$TMP/written" ||
	fail "marker_writer failed"
cat "$TMP/written"
stop_daemon TERM || fail "ringtapd exited with $?"
cat "$TMP/daemon.log"

"$RINGTAP" report "$TMP/out" >"$TMP/report" || fail "report exited with $?"
"$RINGTAP" report --stats "$TMP/out" >"$TMP/stats" || fail "report --stats exited with $?"
cat "$TMP/stats"
total_lost=0
for cpu in $(seq 0 $((NCPUS - 1))); do
	written=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$TMP/written")
	# Walk the report: sequence numbers must rise; a jump needs a LOST
	# line for this CPU since the previous marker, and the LOST counts
	# must add up to the jumps exactly.
	read -r captured lost unknown <<<"$(awk -v cpu="$cpu" '
		$1 == "CPU:" cpu && /LOST/ {
			if (match($0, /LOST [0-9]+ EVENTS/)) {
				split(substr($0, RSTART, RLENGTH), w, " "); pend += w[2]
			} else { unk = 1 }
			announced = 1; next
		}
		{
			for (i = 1; i <= NF; i++) if ($i == "c=" cpu) {
				split($(i + 1), a, "="); s = a[2] + 0
				if (s < expect) { printf "cpu %d: s=%d after s=%d\n", cpu, s, expect - 1 > "/dev/stderr"; exit 2 }
				if (s > expect) {
					if (!announced) { printf "cpu %d: unannounced gap before s=%d\n", cpu, s > "/dev/stderr"; exit 2 }
				}
				n++; expect = s + 1; announced = 0
			}
		}
		END { printf "%d %d %d\n", n, pend, unk }
	' "$TMP/report")" || fail "cpu $cpu: sequence check failed"
	echo "cpu $cpu: written $written captured $captured lost $lost unknown-count-gaps $unknown"
	[ "$unknown" = 0 ] || fail "cpu $cpu: a gap without a count"
	[ $((captured + lost)) -eq "$written" ] || fail "cpu $cpu: captured $captured + lost $lost != written $written"
	stat_lost=$(awk -v cpu="$cpu" '$1 == cpu { print $4 }' "$TMP/stats")
	[ "$stat_lost" = "$lost" ] || fail "cpu $cpu: --stats says lost $stat_lost, report lines say $lost"
	total_lost=$((total_lost + lost))
done
[ $total_lost -gt 0 ] || fail "$mode: the flood lost nothing: the test did not overload the buffer"
echo "$mode: loss accounted exactly: $total_lost events lost"
done
