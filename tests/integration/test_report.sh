#!/bin/bash
# ringtap report as a daily tool: every filter (--cpu, --event, --pid,
# --comm, --from/--to), --stats per event type, --json, --format ftrace and
# --follow, each checked against what the unfiltered report of the same
# capture says (sched_switch, sched_wakeup and sequenced markers on two
# CPUs, plus one marker full of bytes JSON must escape).
. "$(dirname "$0")/lib.sh"

[ "$NCPUS" -ge 2 ] || skip "needs 2 CPUs"
N=300
EVENTS="events = sched:sched_switch, sched:sched_wakeup, ftrace:print"

# Fields of a text report line, for awk: comm, pid, cpu, ts (seconds,
# nanoseconds) and the event name; returns 0 for lines that are not events.
AWKLIB='
function parse(line,    s, a) {
	if (!match(line, /-[0-9]+ +\[[0-9][0-9][0-9]\] +[0-9]+\.[0-9]+: [^:]+:/))
		return 0
	comm = substr(line, 1, RSTART - 1); sub(/^ +/, "", comm)
	s = substr(line, RSTART + 1, RLENGTH - 2)
	split(s, a, /[][ :.]+/)
	pid = a[1]; cpu = a[2] + 0; sec = a[3]; nsec = a[4]; name = a[5]
	return 1
}'
# count [-v VAR=VALUE]... PROGRAM FILE...: awk with AWKLIB
count() {
	local vars=()
	while [ "$1" = -v ]; do
		vars+=(-v "$2")
		shift 2
	done
	awk "${vars[@]}" "$AWKLIB $1" "${@:2}"
}

# capture_config FILE INSTANCE OUTDIR [MAX_FILE_SIZE]
capture_config() {
	write_config "$1" "$2" "$3" "flush_interval_ms = 200" "subbuf_size_kb = 64"
	sed -i "s/^events = .*/$EVENTS/" "$1"
	[ -n "${4:-}" ] && sed -i "s/^type = file\$/&\nmax_file_size = $4/" "$1"
	return 0
}

# ---- one capture of known content ----
inst=$(new_instance)
out=$TMP/cap
capture_config "$TMP/rt.conf" "$inst" "$out"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0,1 -n $N -r 2000 >"$TMP/written" ||
	fail "marker_writer failed"
# Control characters, a quote, a backslash, a byte that is not UTF-8 and
# one that is (e-acute).
printf 'odd ctl\001\037 bad\377 utf8:\303\251 q"b\\ tab\tend\n' >"$TRACEFS/instances/$inst/trace_marker"
sleep 0.3
stop_daemon TERM || fail "ringtapd exited with $?"

"$RINGTAP" report "$out" >"$TMP/all" || fail "report exited with $?"
events=$(count 'parse($0) { n++ } END { print n + 0 }' "$TMP/all")
markers=$(grep -ac ' print: ' "$TMP/all")
switches=$(grep -ac ' sched_switch: ' "$TMP/all")
wakeups=$(grep -ac ' sched_wakeup: ' "$TMP/all")
log "capture: $events events, $markers markers, $switches sched_switch, $wakeups sched_wakeup"
[ "$markers" -eq $((2 * N + 1)) ] || fail "expected $((2 * N + 1)) markers, report has $markers"
[ "$switches" -gt 0 ] && [ "$wakeups" -gt 0 ] || fail "no sched events captured"
grep -aq LOST "$TMP/all" && fail "losses in a moderate capture"

# ---- --cpu ----
"$RINGTAP" report --cpu 1 "$out" >"$TMP/cpu1" || fail "--cpu 1 exited with $?"
bad=$(count 'parse($0) && cpu != 1 { n++ } !parse($0) { n++ } END { print n + 0 }' "$TMP/cpu1")
[ "$bad" -eq 0 ] || fail "--cpu 1 shows $bad lines not of CPU 1"
want=$(count 'parse($0) && cpu == 1 { n++ } END { print n + 0 }' "$TMP/all")
[ "$(wc -l <"$TMP/cpu1")" -eq "$want" ] || fail "--cpu 1: $(wc -l <"$TMP/cpu1") lines, the report has $want on CPU 1"
check_markers "$TMP/cpu1" 1 $N || fail "--cpu 1 lacks CPU 1 markers"
grep -aq 'print: c=0 ' "$TMP/cpu1" && fail "--cpu 1 shows CPU 0 markers"
n=$("$RINGTAP" report --cpu 0-1 "$out" | wc -l)
[ "$n" -eq "$events" ] || fail "--cpu 0-1: $n lines, expected all $events"
n=$("$RINGTAP" report --cpu 0,1 "$out" | wc -l)
[ "$n" -eq "$events" ] || fail "--cpu 0,1: $n lines, expected all $events"

# ---- --event ----
"$RINGTAP" report --event ftrace:print "$out" >"$TMP/ev"
[ "$(wc -l <"$TMP/ev")" -eq "$markers" ] || fail "--event ftrace:print: $(wc -l <"$TMP/ev") lines, $markers markers"
grep -avq ' print: ' "$TMP/ev" && fail "--event ftrace:print shows other events"
check_markers "$TMP/ev" 0 $N && check_markers "$TMP/ev" 1 $N || fail "--event ftrace:print lacks markers"
"$RINGTAP" report --event 'sched:*' "$out" >"$TMP/ev"
grep -aq ' print: ' "$TMP/ev" && fail "--event 'sched:*' shows markers"
[ "$(wc -l <"$TMP/ev")" -eq $((switches + wakeups)) ] || fail "--event 'sched:*': $(wc -l <"$TMP/ev") lines, expected $((switches + wakeups))"
n=$("$RINGTAP" report --event '*:sched_switch' "$out" | grep -ac ' sched_switch: ')
[ "$n" -eq "$switches" ] && [ "$("$RINGTAP" report -e '*:sched_switch' "$out" | wc -l)" -eq "$switches" ] ||
	fail "--event '*:sched_switch' shows other events or misses some"
n=$("$RINGTAP" report -e sched:sched_wakeup --event ftrace:print "$out" | wc -l)
[ "$n" -eq $((wakeups + markers)) ] || fail "two --event: $n lines, expected $((wakeups + markers))"

# ---- --pid, --comm ----
pid0=$(count '/ print: c=0 s=0$/ && parse($0) { print pid; exit }' "$TMP/all")
pid1=$(count '/ print: c=1 s=0$/ && parse($0) { print pid; exit }' "$TMP/all")
[ -n "$pid0" ] && [ -n "$pid1" ] && [ "$pid0" != "$pid1" ] || fail "marker writer threads not found ($pid0, $pid1)"
"$RINGTAP" report --pid "$pid0" "$out" >"$TMP/pid"
want=$(count -v p="$pid0" 'parse($0) && pid == p { n++ } END { print n + 0 }' "$TMP/all")
[ "$(wc -l <"$TMP/pid")" -eq "$want" ] || fail "--pid $pid0: $(wc -l <"$TMP/pid") lines, expected $want"
bad=$(count -v p="$pid0" '!parse($0) || pid != p { n++ } END { print n + 0 }' "$TMP/pid")
[ "$bad" -eq 0 ] || fail "--pid $pid0 shows $bad lines of other threads"
check_markers "$TMP/pid" 0 $N || fail "--pid $pid0 lacks its markers"
want2=$(count -v p="$pid0" -v q="$pid1" 'parse($0) && (pid == p || pid == q) { n++ } END { print n + 0 }' "$TMP/all")
[ "$want2" -gt "$want" ] || fail "thread $pid1 has no events"
n=$("$RINGTAP" report --pid "$pid0,$pid1" "$out" | wc -l)
[ "$n" -eq "$want2" ] || fail "--pid $pid0,$pid1: $n lines, expected $want2"
n=$("$RINGTAP" report -p "$pid0" -p "$pid1" "$out" | wc -l)
[ "$n" -eq "$want2" ] || fail "--pid twice: $n lines, expected $want2"

"$RINGTAP" report --comm marker_writer "$out" >"$TMP/comm"
want=$(count 'parse($0) && comm == "marker_writer" { n++ } END { print n + 0 }' "$TMP/all")
[ "$want" -ge $((2 * N)) ] || fail "the report names marker_writer on only $want events"
[ "$(wc -l <"$TMP/comm")" -eq "$want" ] || fail "--comm marker_writer: $(wc -l <"$TMP/comm") lines, expected $want"
bad=$(count '!parse($0) || comm != "marker_writer" { n++ } END { print n + 0 }' "$TMP/comm")
[ "$bad" -eq 0 ] || fail "--comm marker_writer shows $bad lines of other tasks"
grep -aq 'print: odd ctl' "$TMP/comm" && fail "--comm marker_writer shows the shell's marker"
n=$("$RINGTAP" report --comm 'marker_w*' --event ftrace:print "$out" | wc -l)
[ "$n" -eq $((2 * N)) ] || fail "--comm 'marker_w*' --event ftrace:print: $n lines, expected $((2 * N))"

# ---- --from / --to: a window from the 1/3rd event (included) to the
# 2/3rds one (excluded), relative to the first event and on the trace clock
k=$((events / 3 + 1)) m=$((2 * events / 3 + 1))
read -r rel_from rel_to abs_from abs_to want want_from want_to < <(count -v k=$k -v m=$m '
	parse($0) {
		i++
		if (i == 1) { bs = sec; bn = nsec }
		rel = (sec - bs) * 1000000000 + (nsec - bn)
		if (i == k) { f = rel; af = sec "." nsec }
		if (i == m) { t = rel; at = sec "." nsec }
		r[i] = rel
	}
	END {
		for (j = 1; j <= i; j++) {
			n += r[j] >= f && r[j] < t
			nf += r[j] >= f
			nt += r[j] < t
		}
		printf "%d.%09d %d.%09d @%s @%s %d %d %d\n", f / 1e9, f % 1e9, t / 1e9, t % 1e9, af, at, n, nf, nt
	}' "$TMP/all")
log "window: $rel_from .. $rel_to ($abs_from .. $abs_to), $want events"
[ "$want" -gt 0 ] && [ "$want" -lt "$events" ] || fail "bad test window ($want of $events)"
n=$("$RINGTAP" report --from "$rel_from" --to "$rel_to" "$out" | wc -l)
[ "$n" -eq "$want" ] || fail "--from $rel_from --to $rel_to: $n lines, expected $want"
n=$("$RINGTAP" report --from "$abs_from" --to "$abs_to" "$out" | wc -l)
[ "$n" -eq "$want" ] || fail "--from $abs_from --to $abs_to: $n lines, expected $want"
n=$("$RINGTAP" report --from "$rel_from" "$out" | wc -l)
[ "$n" -eq "$want_from" ] || fail "--from $rel_from: $n lines, expected $want_from"
n=$("$RINGTAP" report --to "$abs_to" "$out" | wc -l)
[ "$n" -eq "$want_to" ] || fail "--to $abs_to: $n lines, expected $want_to"

# ---- bad values: a clear error and exit status 2 ----
for bad in "--from abc" "--from 1.5s" "--to @1.2.3" "--from 1.0123456789" \
	"--cpu x" "--cpu 3-1" "--cpu 99999" "--pid -3" "--pid 1,,2" \
	"--event sched_switch" "--format xml" "--json --format ftrace" \
	"--stats --json" "--from 2 --to 1"; do
	# shellcheck disable=SC2086 # the options are split on purpose
	"$RINGTAP" report $bad "$out" >"$TMP/bad.out" 2>"$TMP/bad.err"
	rc=$?
	[ $rc -eq 2 ] || fail "'$bad': exit status $rc, expected 2"
	[ -s "$TMP/bad.out" ] && fail "'$bad' printed a report"
	grep -aq "error:" "$TMP/bad.err" || fail "'$bad': no error message"
done
"$RINGTAP" report --event 'nosuch:*' "$out" 2>"$TMP/bad.err" | grep -aq . && fail "--event 'nosuch:*' shows events"
grep -aq "matches no event" "$TMP/bad.err" || fail "--event 'nosuch:*': no warning"

# ---- --stats ----
"$RINGTAP" report --stats "$out" >"$TMP/stats" || fail "--stats exited with $?"
cat "$TMP/stats"
awk -v n="$events" '$1 == "all" { ok = $2 == n && $4 == 0 && $5 == 0 } END { exit !ok }' "$TMP/stats" ||
	fail "--stats: 'all' row does not say $events events and no loss"
for t in sched:sched_switch:$switches sched:sched_wakeup:$wakeups ftrace:print:$markers; do
	name=${t%:*} want=${t##*:}
	n=$(awk -v e="$name" '$1 == e { print $2 }' "$TMP/stats")
	[ "$n" = "$want" ] || fail "--stats: $name counted '$n', the report has $want"
done
[ "$(awk '/^event +count$/ { t = 1; next } t && NF == 2 { n++ } END { print n + 0 }' "$TMP/stats")" -eq 3 ] ||
	fail "--stats: expected 3 event types"
awk '/^event +count$/ { t = 1; next } t { if (p != "" && $2 > p) exit 1; p = $2 }' "$TMP/stats" ||
	fail "--stats: event types not sorted by count"
"$RINGTAP" report --stats --cpu 1 --event ftrace:print "$out" >"$TMP/stats"
want=$(count 'parse($0) && cpu == 1 && name == "print" { n++ } END { print n + 0 }' "$TMP/all")
awk -v n="$want" '$1 == "all" { ok = $2 == n } $1 == "0" { bad = 1 } END { exit !(ok && !bad) }' "$TMP/stats" ||
	fail "--stats --cpu 1 --event ftrace:print: not $want events on CPU 1 alone"
[ "$(awk '$1 == "ftrace:print" { print $2 }' "$TMP/stats")" = "$want" ] &&
	! grep -aq '^sched:' "$TMP/stats" || fail "--stats with filters counts other events"

# ---- --json ----
"$RINGTAP" report --json "$out" >"$TMP/json" || fail "--json exited with $?"
python3 - "$TMP/json" "$TMP/all" "$N" <<'EOF' || fail "--json check failed"
import json, re, sys
from collections import Counter

path, text, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
events, bufs = Counter(), []
with open(path, "rb") as f:
    for raw in f:
        # strict UTF-8, no raw control characters, one object per line
        line = raw.decode("utf-8")
        assert line.endswith("\n") and not re.search(r"[\x00-\x1f]", line[:-1]), line
        o = json.loads(line)
        for k, t in (("ts", int), ("cpu", int), ("pid", int), ("comm", str),
                     ("event", str), ("fields", dict)):
            assert type(o[k]) is t, (k, o)
        assert re.fullmatch(r"[a-z_0-9]+:[a-z_0-9]+", o["event"]), o
        f = o["fields"]
        if o["event"] == "sched:sched_switch":
            assert type(f["prev_comm"]) is str and type(f["next_pid"]) is int, o
            assert type(f["prev_state"]) is int and type(f["prev_prio"]) is int, o
        if o["event"] == "sched:sched_wakeup":
            assert type(f["comm"]) is str and type(f["target_cpu"]) is int, o
        if o["event"] == "ftrace:print":
            assert type(f["buf"]) is str and type(f["ip"]) is int, o
            bufs.append(f["buf"])
        events[o["event"]] += 1
names = {"sched_switch": "sched:sched_switch", "sched_wakeup": "sched:sched_wakeup",
         "print": "ftrace:print"}
want = Counter()
for line in open(text, "rb"):
    m = re.search(rb"\] +\d+\.\d+: ([a-z_0-9]+):", line)
    if m:
        want[names.get(m.group(1).decode(), m.group(1).decode())] += 1
assert events == want, (events, want)
odd = 'odd ctl\x01\x1f bad\xff utf8:\xe9 q"b\\ tab\tend'
assert bufs.count(odd) == 1, [b for b in bufs if b.startswith("odd")]
for c in (0, 1):
    seq = [b for b in bufs if b.startswith("c=%d " % c)]
    assert seq == ["c=%d s=%d" % (c, s) for s in range(n)], seq[:3]
print("json: %d events, types %s" % (sum(events.values()), dict(events)))
EOF
want=$(count 'parse($0) && cpu == 0 && name == "print" { n++ } END { print n + 0 }' "$TMP/all")
"$RINGTAP" report --json --event ftrace:print --cpu 0 "$out" >"$TMP/json"
n=$(grep -ac '"cpu":0,.*"event":"ftrace:print"' "$TMP/json")
[ "$n" -eq "$want" ] && [ "$(wc -l <"$TMP/json")" -eq "$want" ] ||
	fail "--json --event ftrace:print --cpu 0: $n markers of $(wc -l <"$TMP/json") lines, expected $want"

# ---- --format ftrace ----
"$RINGTAP" report --format ftrace "$out" >"$TMP/ftrace" || fail "--format ftrace exited with $?"
head -12 "$TMP/ftrace"
[ "$(head -1 "$TMP/ftrace")" = "# tracer: nop" ] || fail "--format ftrace: first line is not '# tracer: nop'"
grep -aqx '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION' "$TMP/ftrace" ||
	fail "--format ftrace: no TASK-PID header line"
grep -aqx '#              | |         |   |||||     |         |' "$TMP/ftrace" ||
	fail "--format ftrace: no column marks header line"
# "%16s-%-7d [%03d] FLAGS %5lu.%06lu: name: " as the kernel prints it
ts5='(    [0-9]| {3}[0-9]{2}|  [0-9]{3}| [0-9]{4}|[0-9]{5,})'
bad=$(grep -av '^#' "$TMP/ftrace" |
	grep -acvE "^.{16}-[0-9 ]{7} \[[0-9]{3}\] [.dDbX][.NnpLbB][.HhsZz][.0-9a-f][.0-9a-f] $ts5\.[0-9]{6}: [a-z_0-9]+: ")
[ "$bad" -eq 0 ] || fail "--format ftrace: $bad lines not in the trace file layout"
[ "$(grep -avc '^#' "$TMP/ftrace")" -eq "$events" ] || fail "--format ftrace: not $events events"
# line by line the same events as the text report: pid, CPU, name, and the
# time in microseconds, rounded as the kernel does
grep -av '^#' "$TMP/ftrace" | sed 's/tracing_mark_write:/print:/' |
	sed -E 's/^(.{16}-[0-9 ]{7} \[[0-9]{3}\]) [^ ]{5}/\1/' >"$TMP/ftrace.ev"
bad=$(count '
	FNR == NR { if (parse($0)) { t[++n] = pid " " cpu " " name; s[n] = sec; ns[n] = nsec }; next }
	parse($0) {
		i++
		us = int((ns[i] + 500) / 1000); sc = s[i]
		if (us == 1000000) { us = 0; sc++ }
		if (t[i] != pid " " cpu " " name || sc != sec || us != nsec + 0) bad++
	}
	END { print bad + i - n }' "$TMP/all" "$TMP/ftrace.ev")
[ "$bad" -eq 0 ] || fail "--format ftrace: $bad lines differ from the report in pid, CPU, name or time"
[ "$(grep -ac '\] [^ ]* *[0-9.]*: tracing_mark_write: ' "$TMP/ftrace")" -eq "$markers" ] ||
	fail "--format ftrace: markers are not all tracing_mark_write"
grep -aq ': print: ' "$TMP/ftrace" && fail "--format ftrace: a marker named print"
grep -aqE '\[000\] [^ ]{5} +[0-9]+\.[0-9]{6}: tracing_mark_write: c=0 s=0$' "$TMP/ftrace" ||
	fail "--format ftrace: marker text not verbatim"
# latency flags: the scheduler switches with interrupts off, trace_marker
# writes come from a task with interrupts on
awk '/: sched_switch: / && substr($0, 32, 1) != "d" { n++ }
     /: tracing_mark_write: / && (substr($0, 32, 1) != "." || substr($0, 34, 1) != ".") { n++ }
     END { exit n > 0 }' "$TMP/ftrace" || fail "--format ftrace: wrong latency flags"

# ---- --follow on a capture being written, with rotation ----
inst=$(new_instance)
out=$TMP/live
capture_config "$TMP/live.conf" "$inst" "$out" 64K
start_daemon "$TMP/live.conf" "$TMP/live.log"
"$RINGTAP" report --follow "$out" >"$TMP/follow" 2>"$TMP/follow.err" &
follow_pid=$!
PIDS+=("$follow_pid")
"$RINGTAP" report -f --json "$out" >"$TMP/follow.json" 2>"$TMP/follow.json.err" &
json_pid=$!
PIDS+=("$json_pid")
"$RINGTAP" report --follow --event ftrace:print "$out" >"$TMP/follow.int" 2>&1 &
int_pid=$!
PIDS+=("$int_pid")
M=1000
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0,1 -n $M -r 2000 -s 200 >"$TMP/written" ||
	fail "marker_writer failed"
# all markers, in every follower's output, while the daemon still runs
all_markers() {
	check_markers "$TMP/follow" 0 $M && check_markers "$TMP/follow" 1 $M &&
		check_markers "$TMP/follow.int" 0 $M && check_markers "$TMP/follow.int" 1 $M &&
		[ "$(grep -ac '"event":"ftrace:print"' "$TMP/follow.json")" -eq $((2 * M)) ]
}
seen=0
for _ in $(seq 1 300); do
	all_markers >/dev/null && { seen=1; break; }
	sleep 0.1
done
[ $seen = 1 ] || { all_markers; fail "--follow did not show all markers within 30 s"; }
kill -0 "$DAEMON_PID" || fail "the daemon stopped early"
[ "$(ls "$out" | wc -l)" -gt 2 ] || fail "no rotation during the follow test"
# SIGINT stops a follower while the daemon still runs
kill -INT "$int_pid"
for _ in $(seq 1 50); do kill -0 "$int_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$int_pid" 2>/dev/null && fail "--follow did not stop on SIGINT"
wait "$int_pid" || fail "--follow exited with $? after SIGINT"
[ "$(grep -ac ' print: c=' "$TMP/follow.int")" -eq $((2 * M)) ] || fail "--follow --event ftrace:print missed markers"
stop_daemon TERM || fail "ringtapd exited with $?"
# the followers read page images (direct_io = auto) as well as frames
# written through the page cache
grep -q ' [1-9][0-9]* sub-buffers written with O_DIRECT, [1-9]' "$TMP/live.log" ||
	{ grep O_DIRECT "$TMP/live.log"; fail "--follow not shown on both kinds of sub-buffer frames"; }
# wait_exit PID WHAT: it must end by itself (within 20 s on a busy machine)
wait_exit() {
	for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$1" 2>/dev/null; then
		ls -la "$out"
		cat "$TMP"/*.err
		fail "--follow ($2) did not exit after the daemon stopped"
	fi
	wait "$1"
}
wait_exit $follow_pid text || fail "--follow exited with $?"
wait_exit $json_pid json || fail "--follow --json exited with $?"
cat "$TMP/follow.err" "$TMP/follow.json.err"
[ -s "$TMP/follow.err" ] && fail "--follow warned"
"$RINGTAP" report "$out" >"$TMP/live.all" || fail "report of the followed capture exited with $?"
n=$(wc -l <"$TMP/live.all")
[ "$(wc -l <"$TMP/follow")" -eq "$n" ] || fail "--follow printed $(wc -l <"$TMP/follow") events, the capture has $n"
[ "$(wc -l <"$TMP/follow.json")" -eq "$n" ] || fail "--follow --json printed $(wc -l <"$TMP/follow.json") events, the capture has $n"
python3 -c 'import json, sys
for l in open(sys.argv[1]): json.loads(l)' "$TMP/follow.json" || fail "--follow --json: invalid JSON"
# the same events (commands learnt at rotation may differ: compare the rest)
strip() { sed 's/^.*-\([0-9]* *\[[0-9]*\]\)/\1/' "$1" | sort; }
cmp -s <(strip "$TMP/live.all") <(strip "$TMP/follow") || fail "--follow shows other events than the report"
check_markers "$TMP/follow" 0 $M && check_markers "$TMP/follow" 1 $M || fail "--follow markers out of order"
"$RINGTAP" report --follow - <"$TMP/live.all" 2>"$TMP/bad.err" && fail "--follow of stdin accepted"
grep -aq "not stdin" "$TMP/bad.err" || fail "--follow of stdin: no clear error"
# stdin still works
# (without seeking, the reader learns commands only at the end of the file)
big=$(ls -S "$out"/cpu1-*.rtap | head -1)
"$RINGTAP" report "$big" >"$TMP/file1" 2>/dev/null
"$RINGTAP" report - <"$big" >"$TMP/stdin1" 2>/dev/null
cmp -s <(strip "$TMP/file1") <(strip "$TMP/stdin1") || fail "report of stdin differs from the report of the file"
[ -s "$TMP/file1" ] || fail "empty report of $big"

# ---- --follow when rotated files are deleted before it reads them ----
# A stopped follower misses the files the daemon rotates and deletes
# (max_files) meanwhile: it says so, shows the losses (on the CPUs
# selected, whatever the event filter) and exits with status 3.
inst=$(new_instance)
out=$TMP/gap
capture_config "$TMP/gap.conf" "$inst" "$out" 64K
sed -i 's/^type = file$/&\nmax_files = 2/' "$TMP/gap.conf"
start_daemon "$TMP/gap.conf" "$TMP/gap.log"
"$RINGTAP" report --follow --cpu 0 --event sched:sched_switch "$out" >"$TMP/gap.out" 2>"$TMP/gap.err" &
gap_pid=$!
PIDS+=("$gap_pid")
sleep 0.5
kill -STOP "$gap_pid"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0,1 -n 3000 -r 20000 -s 200 >"$TMP/written" ||
	fail "marker_writer failed"
sleep 0.5
ls "$out"
kill -CONT "$gap_pid"
sleep 0.5
stop_daemon TERM || fail "ringtapd exited with $?"
wait_exit $gap_pid "missing files"
rc=$?
cat "$TMP/gap.err"
[ $rc -eq 3 ] || fail "--follow missing files: exit status $rc, expected 3"
grep -aq "cpu 0: files .* were deleted (max_files) before --follow could read them" "$TMP/gap.err" ||
	fail "--follow did not say which files it missed"
grep -aq '^CPU:0 \[LOST EVENTS: rotated files deleted before they could be read\]$' "$TMP/gap.out" ||
	fail "--follow did not show the loss on CPU 0"
grep -aq '^CPU:1 ' "$TMP/gap.out" && fail "--follow --cpu 0 shows a loss on CPU 1"
bad=$(count '!parse($0) && !/^CPU:0 \[LOST/ || parse($0) && (cpu != 0 || name != "sched_switch") { n++ } END { print n + 0 }' "$TMP/gap.out")
[ "$bad" -eq 0 ] || fail "--follow --cpu 0 --event sched:sched_switch shows $bad other lines"

echo "report: filters, stats, json, ftrace and follow agree with the plain report"
