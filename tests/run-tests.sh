#!/bin/bash
# Runs the unit tests (cmocka binaries in BUILD/tests) and the integration
# tests (tests/integration/test_*.sh, real kernel), then prints one summary
# line: "N passed, N failed, N skipped".
#   tests/run-tests.sh [--unit-only] BUILD [TEST-NAME-FILTER...]
set -u
unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi
build=${1:?usage: run-tests.sh [--unit-only] BUILD [FILTER...]}
shift
filters=("$@")
here=$(cd "$(dirname "$0")" && pwd)
logdir=$build/test-logs
mkdir -p "$logdir"
passed=0 failed=0 skipped=0
failed_names=()

selected() {
	[ ${#filters[@]} -eq 0 ] && return 0
	for f in "${filters[@]}"; do [[ $1 == *$f* ]] && return 0; done
	return 1
}

# cmocka: count its own PASSED/FAILED/SKIPPED lines.
for t in "$build"/tests/test_* "$build"/asan/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	[[ $t == */asan/* ]] && name=asan-$name
	selected "$name" || continue
	log=$logdir/$name.log
	"$t" >"$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if [ "$f" -gt 0 ]; then
		failed_names+=("$name")
		echo "FAIL unit $name ($p passed, $f failed)"; sed 's/^/    /' "$log" | grep -E "FAILED|ERROR|error|Failure" | head -20
	else
		echo "ok   unit $name ($p passed)"
	fi
done

if [ $unit_only -eq 0 ]; then
	for t in "$here"/integration/test_*.sh; do
		name=$(basename "$t" .sh)
		selected "$name" || continue
		log=$logdir/$name.log
		start=$(date +%s)
		RT_BUILD=$(cd "$build" && pwd) bash "$t" >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		case $rc in
		0) passed=$((passed + 1)); echo "ok   $name (${secs}s)";;
		77) skipped=$((skipped + 1)); echo "skip $name: $(tail -1 "$log")";;
		*) failed=$((failed + 1)); failed_names+=("$name")
		   echo "FAIL $name (exit $rc, ${secs}s), last lines of $log:"
		   tail -25 "$log" | sed 's/^/    /';;
		esac
	done
fi

[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
