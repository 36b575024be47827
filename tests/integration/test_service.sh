#!/bin/bash
# ringtapd as a systemd service, under a real systemd (systemd-nspawn on the
# host's root, tests/integration/systemd.sh), with the unit of
# packaging/ringtapd.service (hardening included; only ExecStart points at
# the built daemon, and a drop-in shortens WatchdogSec so the test sees
# pings) and the shipped default config (its own instance name):
#  - start reaches active through READY=1; STATUS= shows figures;
#  - the watchdog is pinged;
#  - `systemctl reload` changes the event selection while sequenced markers
#    flow, with zero loss across it; a broken config on reload keeps the
#    service running on the old one, logged at error priority;
#  - `ringtap status` inside matches what was written;
#  - stop leaves no instance behind, and the capture reads back complete.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/systemd.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
unit_src=${RT_UNIT:-$repo/packaging/ringtapd.service}
[ -f "$unit_src" ] || fail "missing $unit_src"
# the service runs the optimized build: ASan does not mix with the unit's
# MemoryDenyWriteExecute and friends
[ -x "$RT_BUILD/ringtapd" ] && [ -x "$RT_BUILD/ringtap" ] || fail "missing $RT_BUILD/ringtapd or ringtap: run make"

inst=$(new_instance)
mkdir -p "$TMP/etc" "$TMP/unit/ringtapd.service.d"
sed -e 's|^ExecStart=/usr/sbin/ringtapd|ExecStart=/srv/build/ringtapd|' "$unit_src" >"$TMP/unit/ringtapd.service"
grep -q '^ExecStart=/srv/build/ringtapd ' "$TMP/unit/ringtapd.service" || fail "unexpected ExecStart in $unit_src"
grep -q '^Type=notify' "$TMP/unit/ringtapd.service" || fail "the unit is not Type=notify"
printf '[Service]\nWatchdogSec=2s\n' >"$TMP/unit/ringtapd.service.d/test.conf"

# config EVENTS: the shipped default with this test's instance
config() {
	sed -e "s|^instance = .*|instance = $inst|" "$repo/config/ringtap.conf" |
		awk -v ev="$1" '/^events =/ { print "events = " ev; skip = 1; next }
			skip && /^[ \t]/ { next } { skip = 0; print }' >"$TMP/etc/ringtap.conf.new"
	mv "$TMP/etc/ringtap.conf.new" "$TMP/etc/ringtap.conf"
}
config "ftrace:print, sched:sched_switch"

sd_boot "rtsvc$$" \
	--bind-ro="$TMP/etc:/etc/ringtap" \
	--bind-ro="$TMP/unit/ringtapd.service:/etc/systemd/system/ringtapd.service" \
	--bind-ro="$TMP/unit/ringtapd.service.d:/etc/systemd/system/ringtapd.service.d"

show() { sd_in systemctl show -p "$1" --value ringtapd; }
journal() { sd_in journalctl -u ringtapd -o cat --no-pager "$@"; }

sd_in systemctl start ringtapd || { journal; fail "systemctl start failed"; }
[ "$(show ActiveState)" = active ] || { journal; fail "not active after start"; }
journal | grep -q "capturing on" || fail "READY before capturing?"
sleep 2.5
status_text=$(show StatusText)
echo "StatusText: $status_text"
[[ $status_text == capturing* ]] || fail "STATUS= not visible: '$status_text'"
[[ $status_text == *"events/s"* && $status_text == *"lost"* ]] || fail "STATUS= lacks figures"
wd=$(show WatchdogTimestampMonotonic)
[ -n "$wd" ] && [ "$wd" != 0 ] || fail "watchdog never pinged (WatchdogTimestampMonotonic '$wd')"
sleep 1.2
[ "$(show WatchdogTimestampMonotonic)" != "$wd" ] || fail "watchdog pinged only once"

cpus=$(seq -s, 0 $((NCPUS - 1)))
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -t 5 -r 3000 >"$TMP/written" &
mw=$!
PIDS+=("$mw")
sleep 1

# reload_wait WHAT: systemctl reload returns when kill -HUP did; wait for
# the daemon's outcome in the journal.
reload_wait() {
	local n
	n=$(journal | grep -c "reload done\|reload refused")
	sd_in systemctl reload ringtapd || fail "systemctl reload failed"
	for _ in $(seq 1 100); do
		[ "$(journal | grep -c "reload done\|reload refused")" -gt "$n" ] &&
			[ "$(show SubState)" = running ] && return 0
		sleep 0.05
	done
	journal
	fail "$1: no outcome within 5 s"
}

log "reload: sched_switch -> sched_wakeup"
config "ftrace:print, sched:sched_wakeup"
reload_wait "reload"
journal | grep -q "reload done" || fail "reload not applied"
[ "$(cat "$TRACEFS/instances/$inst/events/sched/sched_wakeup/enable")" = 1 ] || fail "sched_wakeup not enabled after reload"
[ "$(cat "$TRACEFS/instances/$inst/events/sched/sched_switch/enable")" = 0 ] || fail "sched_switch still enabled after reload"
sleep 1

log "reload: a broken config is refused, the service goes on"
cp "$TMP/etc/ringtap.conf" "$TMP/good.conf"
printf '\n[trace]\nbufer_size_kb = 1\n' >>"$TMP/etc/ringtap.conf"
reload_wait "broken reload"
[ "$(show ActiveState)" = active ] || fail "service not active after a broken reload"
journal -p err | grep -q "reload refused: /etc/ringtap/ringtap.conf:[0-9]*: unknown key 'bufer_size_kb'" ||
	fail "refusal not in the journal at error priority"
cp "$TMP/good.conf" "$TMP/etc/ringtap.conf"

wait "$mw" || fail "marker_writer failed"
cat "$TMP/written"
sleep 1 # flush_interval_ms of the default config is 500
sd_in /srv/build/ringtap status --json >"$TMP/status.json" || fail "ringtap status failed inside"
written_total=$(awk -F'[ =]' '{ s += $4 } END { print s }' "$TMP/written")
python3 - "$TMP/status.json" "$written_total" <<'EOF' || fail "ringtap status does not match what was written"
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
d = s["daemon"]
assert d["state"] == "running" and d["reloads"] == 1 and d["reload_failures"] == 1, d
ev = sum(c["events"] for c in s["cpus"])
assert ev >= n, (ev, n)               # markers plus scheduler events
assert all(c["lost"] == 0 and c["lost_output"] == 0 for c in s["cpus"]), s["cpus"]
assert s["outputs"][0]["state"] == "ok", s["outputs"]
EOF

sd_in systemctl stop ringtapd
[ "$(show ActiveState)" = inactive ] || fail "not inactive after stop"
instance_exists "$inst" && fail "instance $inst left behind by systemctl stop"
journal | grep -q "resource usage" || fail "no orderly stop in the journal"

sd_in /srv/build/ringtap report /var/lib/ringtap/capture >"$TMP/report" 2>"$TMP/report.err" ||
	{ cat "$TMP/report.err"; fail "report of the service's capture failed"; }
[ -s "$TMP/report.err" ] && { cat "$TMP/report.err"; fail "report warns"; }
for cpu in $(seq 0 $((NCPUS - 1))); do
	w=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$TMP/written")
	check_markers "$TMP/report" "$cpu" "$w" || fail "cpu $cpu: markers lost or duplicated across the reloads"
done
grep -q " sched_wakeup: " "$TMP/report" || fail "no sched_wakeup after the reload"
grep -q " sched_switch: " "$TMP/report" || fail "no sched_switch before the reload"
echo "service: READY, STATUS, watchdog, reload with $written_total markers intact, refused reload, clean stop"
