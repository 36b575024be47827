# Helpers for the `ringtap collect` tests (sourced after lib.sh): a real
# capture to replay, a collector in the background, and the check that a
# replayed capture arrived whole.
RTAP_SEND=$RT_BUILD/tools/rtap_send
[ -x "$RTAP_SEND" ] || fail "missing $RTAP_SEND: run make first"
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)

# make_capture DIR N [TRACE-LINE...]: a capture of N sequenced markers per
# CPU, rotated at 256K, into DIR; marker_writer's counts go to DIR.written.
make_capture() {
	local out=$1 n=$2 inst
	shift 2
	inst=$(new_instance)
	write_config "$TMP/capture.conf" "$inst" "$out" "flush_interval_ms = 100" "subbuf_size_kb = 64" "$@"
	sed -i 's/^type = file$/type = file\nmax_file_size = 256K/' "$TMP/capture.conf"
	start_daemon "$TMP/capture.conf" "$TMP/capture.log"
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" \
		-c "$(seq -s, 0 $((NCPUS - 1)))" -n "$n" -r 40000 >"$out.written" ||
		fail "marker_writer failed"
	stop_daemon TERM || fail "ringtapd exited with $?"
	[ "$(ls "$out"/cpu0-*.rtap | wc -l)" -ge 2 ] || fail "the capture did not rotate"
}

# start_collect LOG ARGS...: `ringtap collect ARGS` in the background, log
# in LOG, stdout in LOG.out.  Sets COLLECT_PID and COLLECT_TCP (the first
# tcp: address it listens on, with the port it bound).
start_collect() {
	local logf=$1
	shift
	"$RINGTAP" collect "$@" >"$logf.out" 2>"$logf" &
	COLLECT_PID=$!
	PIDS+=("$COLLECT_PID")
	for _ in $(seq 1 200); do
		grep -q "collecting into" "$logf" && break
		kill -0 "$COLLECT_PID" 2>/dev/null || { cat "$logf"; fail "ringtap collect exited during start-up"; }
		sleep 0.05
	done
	grep -q "collecting into" "$logf" || fail "ringtap collect did not start within 10 s"
	COLLECT_TCP=$(sed -n 's/.*listening on \(tcp:.*\)$/\1/p' "$logf" | head -1)
}

# stop_collect: SIGTERM; returns its exit status (0, and no leak under ASan).
stop_collect() {
	kill -TERM "$COLLECT_PID"
	for _ in $(seq 1 100); do
		kill -0 "$COLLECT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$COLLECT_PID" 2>/dev/null && fail "ringtap collect did not exit within 10 s of SIGTERM"
	wait "$COLLECT_PID"
}

# check_collected SRC DEST: DEST holds SRC's files byte for byte, nothing
# else, and `ringtap report DEST` shows every marker exactly once.
check_collected() {
	local src=$1 dst=$2 f cpu written
	for f in "$src"/*.rtap; do
		cmp "$f" "$dst/${f##*/}" || fail "$dst/${f##*/} differs from $f"
	done
	[ "$(ls "$dst"/*.rtap | wc -l)" = "$(ls "$src"/*.rtap | wc -l)" ] || fail "$dst: not the same files as $src"
	"$RINGTAP" report "$dst" >"$TMP/report" || fail "ringtap report $dst exited with $?"
	for cpu in $(seq 0 $((NCPUS - 1))); do
		written=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$src.written")
		check_markers "$TMP/report" "$cpu" "$written" || fail "$dst: cpu $cpu markers"
	done
}
