#!/bin/bash
# Size rotation: every rotated file decodes alone, together they hold every
# marker exactly once, and max_files keeps only the newest files.
. "$(dirname "$0")/lib.sh"

inst=$(new_instance)
N=20000
cfg=$TMP/rt.conf
write_config "$cfg" "$inst" "$TMP/out" "flush_interval_ms = 100" "subbuf_size_kb = 64"
grep -v '^max_file_size' "$cfg" | sed 's/^type = file$/type = file\nmax_file_size = 256K/' >"$cfg.new" && mv "$cfg.new" "$cfg"
start_daemon "$cfg" "$TMP/daemon.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n $N -r 40000 -s 100 >"$TMP/written" ||
	fail "marker_writer failed"
stop_daemon TERM || fail "ringtapd exited with $?"
files=$(ls "$TMP/out"/cpu0-*.rtap | wc -l)
echo "cpu0 files: $files"
[ "$files" -ge 4 ] || fail "expected rotation into several files, got $files"
for f in "$TMP/out"/cpu0-*.rtap; do
	[ "$(stat -c %s "$f")" -le $((256 * 1024)) ] || fail "$f exceeds max_file_size"
	"$RINGTAP" report "$f" >"$TMP/one" 2>"$TMP/one.err" || { cat "$TMP/one.err"; fail "$f does not decode alone"; }
	grep -q "c=0 s=" "$TMP/one" || fail "$f holds no markers"
done
"$RINGTAP" report "$TMP/out" >"$TMP/report" || fail "report exited with $?"
check_markers "$TMP/report" 0 $N || fail "rotated capture misses or repeats markers"
# Files given in any order are put back in rotation order.
"$RINGTAP" report $(ls -r "$TMP/out"/cpu0-*.rtap) >"$TMP/report2" || fail "report of reversed list failed"
check_markers "$TMP/report2" 0 $N || fail "reversed file list decoded out of order"

# max_files = 3: only the newest 3 files per CPU remain.
rm -rf "$TMP/out"
sed -i 's/^max_file_size = 256K$/max_file_size = 256K\nmax_files = 3/' "$cfg"
start_daemon "$cfg" "$TMP/daemon2.log"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n $N -r 40000 -s 100 >/dev/null ||
	fail "marker_writer failed"
stop_daemon TERM || fail "ringtapd exited with $?"
files=$(ls "$TMP/out"/cpu0-*.rtap | wc -l)
[ "$files" -eq 3 ] || fail "max_files = 3 kept $files files"
"$RINGTAP" report "$TMP/out" >"$TMP/report3" || fail "report of pruned capture failed"
last=$(grep -o "c=0 s=[0-9]*" "$TMP/report3" | tail -1)
[ "$last" = "c=0 s=$((N - 1))" ] || fail "newest marker missing after pruning (last: $last)"
echo "rotation ok: files decode alone and together"
