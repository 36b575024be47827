# Shared helpers for integration tests (sourced).  Every test runs against
# the real kernel, uses uniquely named instances, and removes everything it
# created on any exit: instances, lock files, processes, temporary files.
set -u
RT_BUILD=${RT_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
# The sanitizer build when there is one (make check builds it).
if [ -x "$RT_BUILD/asan/ringtapd" ] && [ -x "$RT_BUILD/asan/ringtap" ] && [ -z "${RT_NO_ASAN:-}" ]; then
	RINGTAPD=$RT_BUILD/asan/ringtapd
	RINGTAP=$RT_BUILD/asan/ringtap
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
	RINGTAPD=$RT_BUILD/ringtapd
	RINGTAP=$RT_BUILD/ringtap
fi
MARKER_WRITER=$RT_BUILD/tools/marker_writer
TRACEFS=/sys/kernel/tracing
NCPUS=$(nproc)

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/ringtap-$TEST_NAME.XXXXXX")
RUN_DIR=$TMP/run
INSTANCES=()
PIDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }
log() { echo "# $*"; }

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# new_instance runs in $(...), a subshell: find its names by prefix.
	for d in "$TRACEFS/instances/$INSTANCE_PREFIX"* "${INSTANCES[@]/#/$TRACEFS/instances/}"; do
		[ -d "$d" ] || continue
		rmdir "$d" 2>/dev/null
		[ -d "$d" ] && echo "cleanup: could not remove instance $d" >&2
	done
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (tracefs)"
if [ ! -e "$TRACEFS/instances" ]; then
	mount -t tracefs nodev "$TRACEFS" || skip "cannot mount tracefs"
fi
for b in "$RINGTAPD" "$RINGTAP" "$MARKER_WRITER"; do
	[ -x "$b" ] || fail "missing $b: run make first"
done

# new_instance: a unique instance name, removed at exit (by its prefix).
INSTANCE_PREFIX="rttest-$TEST_NAME-$$-"
new_instance() {
	echo "$INSTANCE_PREFIX$RANDOM"
}

# write_config FILE INSTANCE OUTDIR [extra [trace] lines...]
write_config() {
	local file=$1 inst=$2 out=$3
	shift 3
	{
		echo "[trace]"
		echo "instance = $inst"
		echo "events = ftrace:print"
		for l in "$@"; do echo "$l"; done
		echo
		echo "[output \"test\"]"
		echo "type = file"
		echo "path = $out"
		echo
		echo "[daemon]"
		echo "run_dir = $RUN_DIR"
	} >"$file"
}

# start_daemon CONFIG LOG [ringtapd args...]: starts ringtapd in the
# background and waits until it captures.  Sets DAEMON_PID.
start_daemon() {
	local cfg=$1 logf=$2
	shift 2
	# emptied here, not only by the redirection in the child: a log of
	# an earlier daemon must not say "capturing on" before this one runs
	: >"$logf"
	"$RINGTAPD" -c "$cfg" "$@" >"$logf" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	for _ in $(seq 1 200); do
		grep -q "capturing on" "$logf" && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$logf"; fail "ringtapd exited during start-up"; }
		sleep 0.05
	done
	cat "$logf"
	fail "ringtapd did not start capturing within 10 s"
}

# stop_daemon [SIGNAL]: signal and wait (at most 30 s); returns its status.
stop_daemon() {
	local sig=${1:-TERM} rc
	kill -"$sig" "$DAEMON_PID"
	for _ in $(seq 1 300); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DAEMON_PID" 2>/dev/null && fail "ringtapd did not exit within 30 s of SIG$sig"
	wait "$DAEMON_PID"
	rc=$?
	return $rc
}

instance_exists() { [ -d "$TRACEFS/instances/$1" ]; }

# check_markers REPORT CPU WRITTEN: every marker s=0..WRITTEN-1 of CPU
# appears exactly once, in order.
check_markers() {
	local report=$1 cpu=$2 n=$3
	awk -v cpu="$cpu" -v n="$n" '
		{
			for (i = 1; i <= NF; i++) if ($i == "c=" cpu) {
				split($(i + 1), a, "="); s = a[2] + 0
				if (s != next_s) { printf "cpu %d: expected s=%d, got s=%d\n", cpu, next_s, s; bad = 1; exit 1 }
				next_s++
			}
		}
		END { if (bad) exit 1; if (next_s != n) { printf "cpu %d: %d of %d markers\n", cpu, next_s, n; exit 1 } }
	' "$report"
}

# start_writer INSTANCE OUT [marker_writer args...]: marker_writer on the
# instance's trace_marker in the background, what it wrote reported to OUT;
# killed at exit if still running.  Sets WRITER_PID: `wait "$WRITER_PID"`
# gives its status.
start_writer() {
	local inst=$1 out=$2
	shift 2
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" "$@" >"$out" &
	WRITER_PID=$!
	PIDS+=("$WRITER_PID")
}
