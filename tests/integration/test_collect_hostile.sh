#!/bin/bash
# ringtap collect against hostile peers: garbage, bad CRCs, absurd lengths,
# slowloris, silence, DATA gaps and overlaps, an invalid stream, a newer
# protocol, a bad host name, a second connection for a channel, a flood
# beyond --max-connections.  Each is refused or closed and logged with the
# peer's address, while a good sender streams on to a complete capture,
# and the collector exits cleanly (ASan) at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/collect.sh"

make_capture "$TMP/src" 20000

# Time limits of 10 s (HELLO) and 60 s (silence), shortened for the test.
export RINGTAP_COLLECT_HELLO_MS=1500 RINGTAP_COLLECT_IDLE_MS=2000
start_collect "$TMP/c.log" -d "$TMP/c" --listen tcp:127.0.0.1:0 --insecure --max-connections 6
# The good sender: slow enough to stream through every bad peer below.
"$RTAP_SEND" -a "$COLLECT_TCP" -A -H good -s 1024 -D 15 -T 120 "$TMP/src" 2>"$TMP/good.log" &
good_pid=$!
PIDS+=("$good_pid")
sleep 0.5

# mode, then what the collector logs about it
expect=(
	"garbage" "bad message magic"
	"badcrc" "bad message checksum"
	"hugehello" "payload length 104857600 exceeds limit"
	"huge" "payload length 4294967280 exceeds limit"
	"slowloris" "no HELLO within 1500 ms"
	"idle" "nothing received for 2000 ms"
	"gap" "DATA at offset 4096, expected 0 (a gap)"
	"overlap" "DATA at offset 0, expected 100 (an overlap)"
	"version" "refused (VERSION)"
	"badname" "refused (BAD_REQUEST): host name not usable"
)
for ((i = 0; i < ${#expect[@]}; i += 2)); do
	mode=${expect[i]} what=${expect[i + 1]}
	"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H "bad-$mode" -X "$mode" -T 10 "$TMP/src" 2>"$TMP/$mode.log" ||
		{ cat "$TMP/$mode.log"; fail "$mode: not refused or not closed"; }
	grep -q "127\.0\.0\.1:[0-9]*.*$what" "$TMP/c.log" || { cat "$TMP/c.log"; fail "$mode: '$what' not logged with the peer"; }
	echo "$mode: refused: $(grep -h "$what" "$TMP/c.log" | tail -1)"
done
[ -e "$TMP/c/../x" ] && fail "a host name escaped the directory"

# An invalid stream: one byte flipped in the middle of the second file.  The
# collector closes the channel and keeps only whole, checked frames.
size0=$(stat -c %s "$TMP/src/cpu0-000000.rtap")
size1=$(stat -c %s "$TMP/src/cpu0-000001.rtap")
flip=$((size0 + size1 / 2))
"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H bad-stream -X badstream -O $flip -T 10 "$TMP/src" 2>"$TMP/badstream.log" ||
	{ cat "$TMP/badstream.log"; fail "badstream: not closed"; }
grep -q "bad-stream cpu 0 (127\.0\.0\.1:[0-9]*): not a valid stream at channel offset" "$TMP/c.log" ||
	fail "badstream: not logged"
d=$TMP/c/bad-stream/$BOOT_ID
cmp "$TMP/src/cpu0-000000.rtap" "$d/cpu0-000000.rtap" || fail "badstream: first file damaged"
kept=$(stat -c %s "$d/cpu0-000001.rtap")
[ "$kept" -le $((size1 / 2)) ] || fail "badstream: $kept bytes kept past the flipped byte at $((size1 / 2))"
cmp -n "$kept" "$TMP/src/cpu0-000001.rtap" "$d/cpu0-000001.rtap" || fail "badstream: kept bytes differ"
ls -A "$d" | grep -q head && fail "badstream: a .head file left behind"
"$RINGTAP" report "$d" >/dev/null 2>"$TMP/badstream.report"
[ $? = 3 ] || fail "report on the cut channel: expected exit 3 (cut short)"
grep -q "bad payload checksum\|nonzero padding\|bad frame" "$TMP/badstream.report" && fail "garbage reached the capture"
echo "badstream: $kept whole bytes of the damaged file kept"

# A second connection for a channel that is streaming: CONFLICT.
"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H good "$TMP/src" 2>"$TMP/conflict.log"
rc=$?
[ $rc = 15 ] || { cat "$TMP/conflict.log"; fail "conflict: rtap_send exit $rc, expected 15 (CONFLICT)"; }
grep -q "127\.0\.0\.1:[0-9]*: refused (CONFLICT): channel good cpu 0 is already connected" "$TMP/c.log" ||
	fail "conflict not logged"

# A flood: 4 held channels + the good sender's 2 fill --max-connections 6.
holders=()
for i in 1 2 3 4; do
	"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H "hold$i" -X hold "$TMP/src" 2>"$TMP/hold$i.log" &
	holders+=($!)
	PIDS+=($!)
done
for i in 1 2 3 4; do
	for _ in $(seq 1 100); do
		grep -q "holding" "$TMP/hold$i.log" && break
		sleep 0.05
	done
	grep -q "holding" "$TMP/hold$i.log" || fail "hold$i: no channel"
done
"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H busy "$TMP/src" 2>"$TMP/busy.log"
rc=$?
[ $rc = 14 ] || { cat "$TMP/busy.log"; fail "busy: rtap_send exit $rc, expected 14 (BUSY)"; }
grep -q "127\.0\.0\.1:[0-9]*: refused (BUSY)" "$TMP/c.log" || fail "busy not logged"
# A flood of 40 more at once: all BUSY, logged about once a second.
flood=()
for i in $(seq 1 40); do
	"$RTAP_SEND" -a "$COLLECT_TCP" -c 0 -H "flood$i" "$TMP/src" 2>/dev/null &
	flood+=($!)
done
for p in "${flood[@]}"; do
	wait "$p"
	rc=$?
	[ $rc = 14 ] || fail "flood: rtap_send exit $rc, expected 14 (BUSY)"
done
sleep 1.2
grep -q "more connections refused (BUSY)" "$TMP/c.log" || fail "flood: the refusals not logged are not counted"
busy_lines=$(grep -c "refused (BUSY)" "$TMP/c.log")
[ "$busy_lines" -le 6 ] || fail "flood: $busy_lines BUSY lines logged for 41 connections"
echo "flood: 41 connections answered BUSY, $busy_lines log lines"
kill "${holders[@]}"
kill -0 "$good_pid" 2>/dev/null || fail "the good sender finished too early to test anything alongside it"

wait "$good_pid" || { cat "$TMP/good.log"; fail "good sender: exit $?"; }
check_collected "$TMP/src" "$TMP/c/good/$BOOT_ID"
kill -0 "$COLLECT_PID" || fail "ringtap collect died"
stop_collect || { cat "$TMP/c.log"; fail "ringtap collect exited with $?"; }
echo "every bad peer refused; the good sender's capture is complete"
