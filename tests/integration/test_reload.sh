#!/bin/bash
# Live reload (SIGHUP) while sequenced markers flow on every CPU:
#  - a reload that swaps sched_switch for sched_wakeup and adds an output
#    takes effect, and the kept output loses and duplicates no marker;
#  - a config with a syntax error, one that changes a key that needs a
#    restart, and one whose filter the kernel rejects are each refused
#    with a message naming the file (and line), and the old config goes on;
#  - a last reload removes the added output, which is finished cleanly and
#    holds an unbroken run of markers;
#  - status counts the reloads and the refusals.
. "$(dirname "$0")/lib.sh"

inst=$(new_instance)
out=$TMP/out
out2=$TMP/out2
conf=$TMP/rt.conf

# config EVENTS [extra lines for [trace]] -- plus optional second output
config() {
	local events=$1 second=$2
	shift 2
	{
		echo "[trace]"
		echo "instance = $inst"
		echo "events = $events"
		echo "flush_interval_ms = 100"
		for l in "$@"; do echo "$l"; done
		echo
		echo "[output \"main\"]"
		echo "type = file"
		echo "path = $out"
		if [ "$second" = yes ]; then
			echo
			echo "[output \"second\"]"
			echo "type = file"
			echo "path = $out2"
		fi
		echo
		echo "[daemon]"
		echo "run_dir = $RUN_DIR"
	} >"$conf.new"
	mv "$conf.new" "$conf"
}

status_field() {
	"$RINGTAP" status -c "$conf" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["daemon"][sys.argv[1]])' "$1"
}

# reload_and_wait: SIGHUP, then wait until the daemon logged the outcome
nlog=0
reload_and_wait() {
	local before
	before=$(grep -c "reload done\|reload refused\|partly applied" "$TMP/daemon.log")
	kill -HUP "$DAEMON_PID"
	for _ in $(seq 1 100); do
		[ "$(grep -c "reload done\|reload refused\|partly applied" "$TMP/daemon.log")" -gt "$before" ] && return 0
		sleep 0.05
	done
	cat "$TMP/daemon.log"
	fail "no reload outcome logged within 5 s"
}

config "ftrace:print, sched:sched_switch" no
start_daemon "$conf" "$TMP/daemon.log"
cpus=$(seq -s, 0 $((NCPUS - 1)))
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -t 7 -r 4000 >"$TMP/written" &
mw=$!
PIDS+=("$mw")
sleep 1

log "reload 1: sched_switch -> sched_wakeup, output 'second' added"
config "ftrace:print, sched:sched_wakeup" yes
reload_and_wait
grep -q "reload done" "$TMP/daemon.log" || fail "reload 1 not applied"
grep -q "reload: output 'second' added" "$TMP/daemon.log" || fail "output 'second' not added"
grep -q "event sched/sched_wakeup enabled" "$TMP/daemon.log" || fail "sched_wakeup not enabled"
grep -q "event sched/sched_switch disabled" "$TMP/daemon.log" || fail "sched_switch not disabled"
[ "$(cat "$TRACEFS/instances/$inst/events/sched/sched_switch/enable")" = 0 ] || fail "sched_switch still enabled in the kernel"
[ "$(cat "$TRACEFS/instances/$inst/events/sched/sched_wakeup/enable")" = 1 ] || fail "sched_wakeup not enabled in the kernel"
sleep 0.7

log "reload 2: a syntax error is refused"
cp "$conf" "$TMP/good.conf"
printf '\n[trace]\nbogus_key = 1\n' >>"$conf"
reload_and_wait
grep -q "reload refused: $conf:[0-9]*: .*bogus_key" "$TMP/daemon.log" || fail "syntax error: refusal does not name file, line and key"
kill -0 "$DAEMON_PID" || fail "daemon died on a broken config"
sleep 0.5

log "reload 3: buffer_size_kb needs a restart"
config "ftrace:print, sched:sched_wakeup" yes "buffer_size_kb = 16384"
reload_and_wait
grep -q "reload refused: $conf: 'buffer_size_kb' cannot change on reload" "$TMP/daemon.log" || fail "fixed key: no clear refusal"
sleep 0.5

log "reload 4: a filter the kernel rejects"
config "ftrace:print, sched:sched_wakeup" yes
printf '\n[event "sched:sched_wakeup"]\nfilter = no_such_field == 1\n' >>"$conf"
reload_and_wait
grep -q "$conf:[0-9]*: filter 'no_such_field == 1' for 'sched:sched_wakeup' rejected by the kernel" "$TMP/daemon.log" ||
	fail "rejected filter not named with file and line"
grep -q "reload refused: $conf: the kernel rejects it" "$TMP/daemon.log" || fail "kernel rejection not refused"
[ "$(cat "$TRACEFS/instances/$inst/events/sched/sched_wakeup/filter")" = none ] || fail "the rejected filter reached the running instance"
[ "$(status_field state)" = running ] || fail "daemon not running after refused reloads"
[ "$(status_field reload_failures)" = 3 ] || fail "status: reload_failures is not 3"
[ "$(status_field reloads)" = 1 ] || fail "status: reloads is not 1"
sleep 0.5

log "reload 5: output 'second' removed"
config "ftrace:print, sched:sched_wakeup" no
reload_and_wait
grep -q "reload: output 'second' removed" "$TMP/daemon.log" || fail "output 'second' not removed"
[ "$(status_field reloads)" = 2 ] || fail "status: reloads is not 2"

wait $mw || fail "marker_writer failed"
cat "$TMP/written"
stop_daemon TERM || fail "ringtapd exited with $?"
cat "$TMP/daemon.log"
instance_exists "$inst" && fail "instance left behind"

# The kept output is one capture: every file (a reload starts new ones)
# carries the same CAPTURE_ID, the first 32-hex-digit string of its HEADER.
ids=$(for f in "$out"/*.rtap; do grep -aoE '[0-9a-f]{32}' "$f" | head -1; done | sort -u)
[ "$(ls "$out"/*.rtap | wc -l)" -gt "$NCPUS" ] || fail "the reloads started no new files"
[ "$(echo "$ids" | wc -l)" = 1 ] || fail "the kept output's files carry several capture ids: $ids"
# The kept output: every marker exactly once, in order, across 5 reloads.
"$RINGTAP" report "$out" >"$TMP/report" 2>"$TMP/report.err" || { cat "$TMP/report.err"; fail "report exited with $?"; }
cat "$TMP/report.err"
[ -s "$TMP/report.err" ] && fail "report of the kept output warns"
for cpu in $(seq 0 $((NCPUS - 1))); do
	written=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$TMP/written")
	[ "$written" -gt 1000 ] || fail "cpu $cpu: only $written markers written"
	check_markers "$TMP/report" "$cpu" "$written" || fail "cpu $cpu: markers lost or duplicated across the reloads"
done
grep -q "LOST" "$TMP/report" && fail "report shows lost events"
grep -q "UNKNOWN" "$TMP/report" && fail "events of a newly selected type cannot be decoded"
grep -q " sched_switch: " "$TMP/report" || fail "no sched_switch before the reload"
grep -q " sched_wakeup: " "$TMP/report" || fail "no sched_wakeup after the reload"
# sched_switch stopped at reload 1, some 5 s before the markers ended
last_switch=$(awk '/ sched_switch: / { ts = $3 } END { sub(":", "", ts); print ts }' "$TMP/report")
last_marker=$(awk '/ print: / { ts = $3 } END { sub(":", "", ts); print ts }' "$TMP/report")
awk -v s="$last_switch" -v m="$last_marker" 'BEGIN { exit !(m - s > 3) }' ||
	fail "sched_switch went on after the reload (last at $last_switch, markers until $last_marker)"

# The output that came and went: finished files, an unbroken run per CPU.
"$RINGTAP" report "$out2" >"$TMP/report2" 2>"$TMP/report2.err" || fail "report of 'second' exited with $?"
[ -s "$TMP/report2.err" ] && { cat "$TMP/report2.err"; fail "report of the removed output warns (cut short?)"; }
for cpu in $(seq 0 $((NCPUS - 1))); do
	awk -v cpu="$cpu" '
		{ for (i = 1; i <= NF; i++) if ($i == "c=" cpu) { split($(i + 1), a, "="); s = a[2] + 0
			if (n && s != prev + 1) { printf "cpu %d: s=%d after s=%d\n", cpu, s, prev; exit 1 }
			prev = s; n++ } }
		END { if (n < 1000) { printf "cpu %d: only %d markers in the second output\n", cpu, n; exit 1 } }' "$TMP/report2" ||
		fail "second output: markers not an unbroken run"
done
echo "reload: 2 reloads applied, 3 refused, every marker once in the kept output"
