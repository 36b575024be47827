#!/bin/bash
# The fuzz targets (tests/fuzz) in make check: every saved reproducer in
# tests/fuzz/crashes/ must now pass, then a bounded libFuzzer run of each
# target (FUZZ_CHECK_SECONDS in all, default 60: two thirds for
# fuzz_capture, the rest for fuzz_frames) must find no crash, leak, timeout
# or OOM (tests/fuzz/run-fuzz.sh).  The corpus persists in
# build/fuzz/corpus, so each run starts where the last one stopped.
# Skipped only when clang or its libFuzzer runtime is missing.  Needs no
# root: it reads no tracefs.
set -u
here=$(cd "$(dirname "$0")/../fuzz" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${RT_BUILD:-$repo/build}
total=${FUZZ_CHECK_SECONDS:-60}
CLANG=${CLANG:-clang}
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }

[[ $total =~ ^[0-9]+$ ]] && [ "$total" -ge 2 ] ||
	fail "FUZZ_CHECK_SECONDS must be a number of seconds >= 2, not '$total'"
command -v "$CLANG" >/dev/null || skip "no $CLANG: install clang (scripts/install-deps.sh)"
probe=$(mktemp /tmp/test_fuzz.XXXXXX)
trap 'rm -f "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
	"$CLANG" -x c -fsanitize=fuzzer,address,undefined -o "$probe" - 2>/dev/null ||
	skip "$CLANG has no libFuzzer/sanitizer runtime: install libclang-rt-14-dev (scripts/install-deps.sh)"

# make check built them already; this is for running the test alone.
b=()
[ "$(cd "$build" && pwd)" = "$repo/build" ] || b=(B="$build")
make -C "$repo" --no-print-directory -s "${b[@]}" CLANG="$CLANG" fuzz-build ||
	fail "building the fuzz targets failed"
fdir=$build/fuzz

# Saved reproducers: each one once through both targets.
bad=0
for r in "$here"/crashes/*; do
	[ -f "$r" ] || continue
	for t in fuzz_capture fuzz_frames; do
		if ! "$fdir/$t" -timeout=20 "$r" >"$fdir/replay.log" 2>&1; then
			echo "FAIL: $t still fails on tests/fuzz/crashes/$(basename "$r"):" >&2
			grep -E 'ERROR|runtime error|fuzz_(capture|frames):|^    #[0-9]+ ' "$fdir/replay.log" |
				grep -v 'fuzzer::\|libc_start\|_start ' | head -10 | sed 's/^/    /' >&2
			bad=$((bad + 1))
		fi
	done
	echo "replayed $(basename "$r")"
done

cap=$((total * 2 / 3))
"$here/run-fuzz.sh" "$fdir" fuzz_capture "$cap" || bad=$((bad + 1))
"$here/run-fuzz.sh" "$fdir" fuzz_frames $((total - cap)) || bad=$((bad + 1))
[ $bad -eq 0 ] || fail "$bad problem(s) found"
echo "fuzzing found nothing new"
