#!/bin/bash
# ringtap convert: the stock `trace-cmd report` reads the trace.dat it writes
# and shows, event by event, what `ringtap report` shows for the capture
# (CPU, timestamp, event, marker text or sched fields), with the same lost
# event counts at the same places; the formats, clock, uname and per-CPU
# statistics are in the file; and a conversion that fails leaves no OUT.
. "$(dirname "$0")/lib.sh"

command -v trace-cmd >/dev/null || skip "trace-cmd is not installed"
if [ "$NCPUS" -ge 2 ]; then CPUS=0,1; else CPUS=0; fi
EVENTS="events = sched:sched_switch, sched:sched_wakeup, ftrace:print"

# normalize rt|tc: `ringtap report` or `trace-cmd report -t -R` output as
# "CPU TS EVENT KEY" and "CPU LOST N" lines, in each CPU's order (the
# merge across CPUs may order equal timestamps differently).  Consecutive
# losses of a CPU add up: trace.dat tells a loss only before a sub-buffer,
# so losses with no event between them become one.
normalize() {
	awk -v fmt="$1" '
		function field(name,   re) {
			re = " " name "=[^ ]*"
			if (match($0, re))
				return substr($0, RSTART + length(name) + 2, RLENGTH - length(name) - 2)
			return "?"
		}
		/^CPU:[0-9]+ \[/ {
			n = "?"
			if (fmt == "rt" && match($0, /\[LOST [0-9]+ EVENTS/))
				n = substr($0, RSTART + 6, RLENGTH - 13) + 0
			if (fmt == "tc" && match($0, /\[[0-9]+ EVENTS DROPPED/))
				n = substr($0, RSTART + 1, RLENGTH - 16) + 0
			print substr($1, 5) + 0, "LOST", n
			next
		}
		{
			for (i = 1; i < NF - 1; i++)
				if ($i ~ /^\[[0-9]+\]$/ && $(i + 1) ~ /^[0-9]+\.[0-9]+:$/)
					break
			if (i >= NF - 1)
				next
			name = substr($(i + 2), 1, length($(i + 2)) - 1)
			if (name == "sched_switch")
				key = field("prev_pid") "," field("next_pid")
			else if (name == "sched_wakeup")
				key = field("pid") "," field("target_cpu")
			else if (name == "print" && fmt == "tc")
				key = match($0, / buf=/) ? substr($0, RSTART + 5) : "?"
			else if (name == "print")
				key = substr($0, index($0, " print: ") + 8)
			else
				key = "-"
			print substr($i, 2, length($i) - 2) + 0, substr($(i + 1), 1, length($(i + 1)) - 1), name, key
		}
	' | sort -s -k1,1n | awk '
		function flush() {
			if (have)
				print lcpu, "LOST", sum ? sum : "?"
			have = 0; sum = 0
		}
		$2 == "LOST" {
			if ($1 != lcpu) flush()
			lcpu = $1; have = 1
			if ($3 != "?") sum += $3
			next
		}
		{ flush(); print }
		END { flush() }
	'
}

# compare CAPTURE DAT LABEL [MIN]: trace-cmd's view of DAT is ringtap's of
# CAPTURE, which has at least MIN (100) events.
compare() {
	local cap=$1 dat=$2 label=$3 min=${4:-100} n
	"$RINGTAP" report "$cap" >"$TMP/rt.txt" || fail "$label: ringtap report exited with $?"
	trace-cmd report -t -R -i "$dat" >"$TMP/tc.txt" 2>"$TMP/tc.err" ||
		{ cat "$TMP/tc.err"; fail "$label: trace-cmd report exited with $?"; }
	[ -s "$TMP/tc.err" ] && { cat "$TMP/tc.err"; fail "$label: trace-cmd report complained"; }
	normalize rt <"$TMP/rt.txt" >"$TMP/rt.norm"
	normalize tc <"$TMP/tc.txt" >"$TMP/tc.norm"
	n=$(grep -vc " LOST " "$TMP/rt.norm")
	[ "$n" -ge "$min" ] || fail "$label: only $n events: the capture did not work"
	# Every field was found (a "?" on both sides would compare equal).
	grep -v " LOST " "$TMP/rt.norm" | grep -Eq "(^|[ ,])\?(,|\$)" && fail "$label: unparsed ringtap report line"
	if ! cmp -s "$TMP/rt.norm" "$TMP/tc.norm"; then
		diff "$TMP/rt.norm" "$TMP/tc.norm" | head -20
		fail "$label: trace-cmd report of the trace.dat differs from ringtap report (< ringtap, > trace-cmd)"
	fi
	echo "$label: $n events and $(grep -c " LOST " "$TMP/rt.norm") loss places match"
}

# capture LABEL MARKER_ARGS CONFIG_LINES...: a capture into $TMP/LABEL with
# the writer on $CPUS; the daemon log is $TMP/LABEL.log.  $OUT_LINE, if
# set, goes into the output section ("\n" separates lines).
capture() {
	local label=$1 margs=$2 inst
	shift 2
	inst=$(new_instance)
	INSTANCES+=("$inst") # new_instance ran in a subshell
	write_config "$TMP/$label.conf" "$inst" "$TMP/$label" "$EVENTS" "clock = mono" "$@"
	# Our events line replaces write_config's; a key may appear only once.
	awk -v out="${OUT_LINE:-}" '
		/^events = ftrace:print$/ && !done { done = 1; next }
		{ print }
		/^type = file$/ && out != "" { print out }
	' "$TMP/$label.conf" >"$TMP/conf.new" && mv "$TMP/conf.new" "$TMP/$label.conf"
	start_daemon "$TMP/$label.conf" "$TMP/$label.log"
	# shellcheck disable=SC2086
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$CPUS" $margs >"$TMP/$label.written" ||
		fail "$label: marker_writer failed"
	sleep 0.3
	stop_daemon TERM || fail "$label: ringtapd exited with $?"
}

# check_stats DAT LOG: CPUSTAT holds the END statistics the daemon logged.
check_stats() {
	local dat=$1 logf=$2 cpu events lost
	trace-cmd report --stat -i "$dat" >"$TMP/stat.txt" 2>&1 || fail "trace-cmd report --stat failed"
	for cpu in ${CPUS//,/ }; do
		events=$(sed -n "s/.*cpu $cpu: \([0-9]*\) events.*/\1/p" "$logf")
		lost=$(sed -n "s/.*cpu $cpu: .* \([0-9]*\) lost in the ring buffer.*/\1/p" "$logf")
		awk -v cpu="$cpu" -v ev="$events" -v lost="$lost" '
			$1 == "CPU:" { in_cpu = ($2 == cpu) }
			in_cpu && /^overrun:/ { o = $2 }
			in_cpu && /^read events:/ { r = $3 }
			END { exit !(o == lost && r == ev) }
		' "$TMP/stat.txt" || { cat "$TMP/stat.txt"; fail "cpu $cpu: CPUSTAT differs from the daemon's $events events, $lost lost"; }
	done
}

# 1. Several event types on both CPUs, 4 KiB sub-buffers, pages flushed
# half full and continued; both reader modes.
for mode in mmap read; do
	capture "mixed-$mode" "-n 20000 -r 20000" "reader = $mode" "subbuf_size_kb = 4" \
		"buffer_size_kb = 1024" "flush_interval_ms = 100"
	"$RINGTAP" convert "$TMP/mixed-$mode" -o "$TMP/mixed-$mode.dat" || fail "$mode: convert exited with $?"
	compare "$TMP/mixed-$mode" "$TMP/mixed-$mode.dat" "$mode"
	grep -q " print c=0 s=19999\$" "$TMP/tc.norm" || fail "$mode: last marker of cpu 0 missing"
	grep -q " sched_switch " "$TMP/tc.norm" || fail "$mode: no sched_switch events"
	grep -q " sched_wakeup " "$TMP/tc.norm" || fail "$mode: no sched_wakeup events"
	check_stats "$TMP/mixed-$mode.dat" "$TMP/mixed-$mode.log"
done
dat=$TMP/mixed-mmap.dat
trace-cmd dump -v -i "$dat" | grep -q "is a valid trace-cmd file" || fail "trace-cmd dump -v rejects the file"
trace-cmd dump --summary -i "$dat" >"$TMP/summary" 2>&1
cat "$TMP/summary"
grep -Eq "[[:space:]]6[[:space:]]+\[Version\]" "$TMP/summary" || fail "not a version 6 file"
grep -Eq "[[:space:]]4096[[:space:]]+\[Page size, bytes\]" "$TMP/summary" || fail "page size is not the 4 KiB sub-buffer size"
grep -q "$NCPUS \[CPUs with tracing data\]" "$TMP/summary" || fail "CPU count is not $NCPUS"
grep -q "sched 2 \[system, events\]" <(trace-cmd dump --systems -i "$dat") || fail "sched formats missing"
trace-cmd dump --printk -i "$dat" | grep -q '0x' || fail "printk formats missing"
trace-cmd dump --cmd-lines -i "$dat" | grep -q "marker_writer" || fail "cmdlines missing"
trace-cmd dump --clock -i "$dat" | grep -qx "[[:space:]]*\[mono\]" || fail "trace clock is not [mono]"
trace-cmd report --uname -i "$dat" | grep -qF "$(uname -r)" || fail "uname option missing"
trace-cmd report --version -i "$dat" | grep -q "ringtap convert" || fail "version option missing"

# Rotation and pruning (max_files), with pages read in many pieces (1 ms
# flushes): a page continued in the next file is written once, and a file
# that starts inside a page (its start is in the file before) converts
# alone, from where that file ended, as ringtap report shows it.
OUT_LINE='max_file_size = 256K\nmax_files = 3' capture rotated "-n 20000 -r 5000 -s 100" \
	"subbuf_size_kb = 4" "flush_interval_ms = 1"
files=$(ls "$TMP/rotated"/cpu0-*.rtap | wc -l)
[ "$files" = 3 ] || fail "expected 3 rotated files, got $files"
[ -e "$TMP/rotated/cpu0-000000.rtap" ] && fail "max_files = 3 pruned nothing"
"$RINGTAP" convert "$TMP/rotated" -o "$TMP/rotated.dat" || fail "rotated: convert exited with $?"
compare "$TMP/rotated" "$TMP/rotated.dat" "rotated and pruned"
for f in "$TMP/rotated"/*.rtap; do
	"$RINGTAP" convert "$f" -o "$TMP/one.dat" || fail "$f: convert exited with $?"
	compare "$f" "$TMP/one.dat" "$(basename "$f") alone" 0
done

# 2. Overload: a 16 KiB buffer of 4 KiB sub-buffers and a flood.  trace-cmd
# shows "CPU:N [n EVENTS DROPPED]" where ringtap shows "CPU:N [LOST n
# EVENTS]", with the same n.  Once more with every page that follows a
# loss cut after its first event (the way a count is told when the page
# has no room for it).
for mode in mmap read; do
	capture "flood-$mode" "-n 100000 -s 200" "reader = $mode" "subbuf_size_kb = 4" \
		"buffer_size_kb = 16" "buffer_percent = 100"
	"$RINGTAP" convert "$TMP/flood-$mode" -o "$TMP/flood-$mode.dat" || fail "$mode: convert exited with $?"
	compare "$TMP/flood-$mode" "$TMP/flood-$mode.dat" "flood, $mode"
	drops=$(grep -c "EVENTS DROPPED\]" "$TMP/tc.txt")
	[ "$drops" -gt 0 ] || fail "flood, $mode: trace-cmd shows no dropped events: the flood did not overload"
	# The mapped reader knows every count (meta->overrun); the read reader
	# only what the kernel stored in the page, which a page filled to its
	# last 8 bytes has no room for: that gap is flagged without a count,
	# at the same place by both readers (compare checked the places).
	uncounted=$(grep -c "\[EVENTS DROPPED\]" "$TMP/tc.txt")
	[ "$mode" = mmap ] && [ "$uncounted" -gt 0 ] && fail "flood, $mode: a loss without its count"
	echo "flood, $mode: $uncounted of $drops losses without a count"
	for cpu in ${CPUS//,/ }; do
		tc_lost=$(awk -v c="CPU:$cpu" '$1 == c && /EVENTS DROPPED/ { s += substr($2, 2) } END { print s + 0 }' "$TMP/tc.txt")
		rt_lost=$(awk -v c="CPU:$cpu" '$1 == c && /LOST [0-9]+ EVENTS/ { s += $3 } END { print s + 0 }' "$TMP/rt.txt")
		daemon_lost=$(sed -n "s/.*cpu $cpu: .* \([0-9]*\) lost in the ring buffer.*/\1/p" "$TMP/flood-$mode.log")
		echo "flood, $mode, cpu $cpu: trace-cmd dropped $tc_lost, ringtap report lost $rt_lost, ringtapd lost $daemon_lost"
		# an uncounted gap leaves its events to the END statistics only
		if [ "$uncounted" = 0 ]; then
			[ "$tc_lost" = "$rt_lost" ] && [ "$tc_lost" = "$daemon_lost" ] ||
				fail "cpu $cpu: lost counts differ"
		else
			[ "$tc_lost" = "$rt_lost" ] && [ "$rt_lost" -le "$daemon_lost" ] ||
				fail "cpu $cpu: lost counts differ"
		fi
	done
	check_stats "$TMP/flood-$mode.dat" "$TMP/flood-$mode.log"
	RINGTAP_DEBUG_CONVERT_SPLIT=1 "$RINGTAP" convert "$TMP/flood-$mode" -o "$TMP/split.dat" ||
		fail "$mode: convert (split) exited with $?"
	[ "$(stat -c %s "$TMP/split.dat")" -gt "$(stat -c %s "$TMP/flood-$mode.dat")" ] ||
		fail "$mode: splitting pages after losses added no page"
	compare "$TMP/flood-$mode" "$TMP/split.dat" "flood, $mode, pages cut after losses"
done

# 3. 64 KiB sub-buffers convert as they are.
capture big "-n 30000 -r 30000 -s 100" "subbuf_size_kb = 64" "buffer_size_kb = 4096" "flush_interval_ms = 200"
"$RINGTAP" convert "$TMP/big" -o "$TMP/big.dat" || fail "64 KiB: convert exited with $?"
trace-cmd dump --summary -i "$TMP/big.dat" | grep -Eq "[[:space:]]65536[[:space:]]+\[Page size, bytes\]" ||
	fail "64 KiB: page size is not 65536"
compare "$TMP/big" "$TMP/big.dat" "64 KiB sub-buffers"

# 4. Failures.  An existing OUT is left alone when the conversion fails.
echo old >"$TMP/keep.dat"
"$RINGTAP" convert "$TMP/big.conf" -o "$TMP/keep.dat" 2>"$TMP/err" && fail "converting a config file succeeded"
grep -q "big.conf: not a ringtap stream: bad magic at byte 0" "$TMP/err" || { cat "$TMP/err"; fail "bad input not named"; }
[ "$(cat "$TMP/keep.dat")" = old ] || fail "a failed conversion replaced OUT"

"$RINGTAP" convert "$TMP/big" -o "$TMP/nodir/x.dat" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] || fail "output in a missing directory: exit $rc, expected 1"
grep -q "nodir/x.dat: cannot create" "$TMP/err" || { cat "$TMP/err"; fail "unwritable output not named"; }

# A damaged input: named with its byte offset, exit 3, and what comes
# before the damage is converted.
cp -r "$TMP/mixed-mmap" "$TMP/damaged"
f=$TMP/damaged/cpu0-000000.rtap
# one byte in the middle, inverted (writing a fixed pattern was a no-op
# when it hit an event's kernel address, which is 0xffffffff there)
off=$(($(stat -c %s "$f") / 2))
b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
printf "\\$(printf '%03o' $((255 - b)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
cmp -s "$f" "$TMP/mixed-mmap/cpu0-000000.rtap" && fail "the damage changed nothing"
"$RINGTAP" convert "$TMP/damaged" -o "$TMP/damaged.dat" 2>"$TMP/err"
rc=$?
cat "$TMP/err"
[ $rc = 3 ] || fail "damaged input: exit $rc, expected 3"
grep -q "cpu0-000000.rtap: .* at byte [0-9]" "$TMP/err" || fail "damage not named with file and byte"
trace-cmd report -i "$TMP/damaged.dat" >"$TMP/damaged.txt" 2>&1 || fail "trace-cmd cannot read the partial conversion"
grep -q "c=0 s=0\$" "$TMP/damaged.txt" || fail "events before the damage missing"

# 5. Events an output could not store (LOST frames, no page flag) show as
# dropped events before the next sub-buffer.
mnt=$TMP/small
mkdir -p "$mnt"
mount -t tmpfs -o size=4m tmpfs "$mnt" || skip "cannot mount a tmpfs"
trap 'rc=$?; umount -l "$mnt" 2>/dev/null; (exit $rc); cleanup' EXIT
inst=$(new_instance)
INSTANCES+=("$inst") # new_instance ran in a subshell
write_config "$TMP/df.conf" "$inst" "$mnt/out" "flush_interval_ms = 100"
dd if=/dev/zero of="$mnt/filler" bs=1M count=3 status=none
start_daemon "$TMP/df.conf" "$TMP/df.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n 30000 -r 30000 -s 100 >/dev/null ||
	fail "marker_writer failed"
sleep 0.5
grep -q "write failed" "$TMP/df.log" || { cat "$TMP/df.log"; fail "the disk never filled up"; }
rm "$mnt/filler"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n 1000 -r 10000 >/dev/null ||
	fail "marker_writer failed"
sleep 0.5
stop_daemon TERM || fail "ringtapd exited with $?"
"$RINGTAP" convert "$mnt/out" -o "$TMP/df.dat" || fail "disk full capture: convert exited with $?"
compare "$mnt/out" "$TMP/df.dat" "output losses"
grep -q "CPU:0 \[LOST [0-9]* EVENTS: an output could not store them\]" "$TMP/rt.txt" || fail "no output loss in the capture"
grep -q "CPU:0 \[[0-9]* EVENTS DROPPED\]" "$TMP/tc.txt" || fail "trace-cmd shows no dropped events for the output loss"

# 6. A full disk while converting: exit 1 naming OUT, nothing left behind.
[ "$(stat -c %s "$TMP/big.dat")" -gt $((4 << 20)) ] || fail "the 64 KiB capture is too small to fill the disk"
"$RINGTAP" convert "$TMP/big" -o "$mnt/full.dat" 2>"$TMP/err"
rc=$?
cat "$TMP/err"
[ $rc = 1 ] || fail "full disk: exit $rc, expected 1"
grep -q "full.dat: cannot write at byte [0-9]*.*No space left on device" "$TMP/err" || fail "full disk not reported"
[ "$(ls -A "$mnt")" = out ] || { ls -la "$mnt"; fail "a failed conversion left files behind"; }
echo "convert ok"
