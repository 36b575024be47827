#!/bin/bash
# Run one libFuzzer target for a bounded time on its corpus, then sort what
# it found.
#   tests/fuzz/run-fuzz.sh FUZZ_DIR TARGET SECONDS [libFuzzer options...]
# FUZZ_DIR is build/fuzz: the binary is FUZZ_DIR/TARGET, the corpus grows in
# FUZZ_DIR/corpus/TARGET (tests/fuzz/seeds is read, never written) and
# crash, leak, timeout and OOM inputs land in FUZZ_DIR/artifacts.
# Environment: FUZZ_MAX_LEN (300000), FUZZ_TIMEOUT (10 s per input),
# FUZZ_JOBS (1 process), FUZZ_MERGE (1: minimize the corpus afterwards).
#
# Each finding is run again to read its stack (FUZZ_DIR/artifacts/*.log).
# Every crash, timeout, OOM or leak fails the run, libtraceevent's included:
# hostile event formats no longer crash ringtap (the capture reader parses
# them in a child process first and prints raw the events whose print fmt
# could divide by zero, tests/fuzz/README.md), so there is no "known" class.
# Exit status: 0 nothing new found, 1 something found or the fuzzer failed.
set -u
dir=${1:?usage: run-fuzz.sh FUZZ_DIR TARGET SECONDS [options...]}
target=${2:?target}
secs=${3:?seconds}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
bin=$dir/$target
arts=$dir/artifacts
[ -x "$bin" ] || { echo "run-fuzz: missing $bin (make fuzz-build)" >&2; exit 1; }
mkdir -p "$dir/corpus/$target" "$arts"
# A small quarantine: the reader's 64 KiB buffers otherwise come from fresh
# pages on every input, a third of the run time.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=16}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
stamp=$(mktemp "/tmp/run-fuzz-$target.XXXXXX")
log=$dir/$target.log
trap 'rm -f "$stamp"' EXIT

# One crash ends a libFuzzer process, and fails the run.  FUZZ_JOBS > 1
# runs -fork processes instead, which go on by themselves
# (-ignore_crashes), so that one run collects several findings.
triage() { # ARTIFACT: show what it is; always 1 (a failure)
	local a=$1
	"$bin" -timeout="${FUZZ_TIMEOUT:-10}" "$a" >"$a.log" 2>&1
	echo "FOUND: $a" >&2
	grep -E 'ERROR|runtime error|fuzz_(capture|frames):|^    #[0-9]+ ' "$a.log" |
		grep -v 'fuzzer::\|libc_start\|_start ' | head -12 | sed 's/^/    /' >&2
	return 1
}

echo "fuzzing $target for $secs s (log: $log)"
: >"$log"
end=$((SECONDS + secs))
bad=0
jobs=${FUZZ_JOBS:-1}
fork=()
[ "$jobs" -gt 1 ] && fork=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
while [ $bad -eq 0 ] && [ $((left = end - SECONDS)) -gt 0 ]; do
	# libFuzzer exits with 77 on some errors by default, which test
	# runners read as "skipped": make those exit 1.
	"$bin" "${fork[@]}" -max_total_time="$left" -max_len="${FUZZ_MAX_LEN:-300000}" \
		-timeout="${FUZZ_TIMEOUT:-10}" -error_exitcode=1 -timeout_exitcode=1 \
		-dict="$here/capture.dict" -artifact_prefix="$arts/$target-" \
		-print_final_stats=1 "$@" "$dir/corpus/$target" "$here/seeds" >>"$log" 2>&1
	rc=$?
	found=0
	for a in $(find "$arts" -maxdepth 1 -name "$target-*" ! -name '*.log' -newer "$stamp"); do
		[ -f "$a.log" ] && continue # triaged in an earlier round
		found=1
		triage "$a" || bad=$((bad + 1))
	done
	if [ $rc -ne 0 ] && [ $found -eq 0 ]; then
		tail -20 "$log" >&2
		echo "run-fuzz: $target exited with $rc and left no input" >&2
		exit 1
	fi
	# without a finding, libFuzzer stopped because the time was up
	[ ${#fork[@]} -eq 0 ] && [ $found -eq 1 ] || break
done
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{n += $1} END {print n + 0}')
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
echo "$target: $execs executions in $((SECONDS + secs - end)) s, $cov"
# FUZZ_MERGE=1 (make fuzz): keep only the inputs that add coverage, so that
# the next run, make check's too, does not spend its time loading the rest.
if [ "${FUZZ_MERGE:-0}" = 1 ] && [ $bad -eq 0 ]; then
	c=$dir/corpus/$target
	rm -rf "$c.merge" && mkdir -p "$c.merge"
	if "$bin" -merge=1 -max_len="${FUZZ_MAX_LEN:-300000}" \
		-timeout="${FUZZ_TIMEOUT:-10}" "$c.merge" "$c" >>"$log" 2>&1; then
		echo "$target: corpus merged from $(ls "$c" | wc -l) to $(ls "$c.merge" | wc -l) inputs"
		rm -rf "$c" && mv "$c.merge" "$c"
	else
		rm -rf "$c.merge"
	fi
fi
if [ $bad -gt 0 ]; then
	echo "run-fuzz: $target: $bad new input(s) in $arts; reproduce: $bin FILE;" \
		"keep one as tests/fuzz/crashes/NAME" >&2
	exit 1
fi
exit 0
