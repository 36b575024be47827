#!/bin/bash
# direct_io: the file output writes whole sub-buffers with O_DIRECT straight
# from the mapped pages as page-image frames (RT_FRAME_F_PAGE_IMAGE), block
# aligned behind PAD frames.  Shown here: every marker exactly once with
# direct_io = yes, auto and no, page images on block boundaries in the
# files (and none with no), rotated files that decode alone, a corrupted
# carried byte caught while bytes outside the carried range do not matter,
# a tail cut inside a page image reported as truncated, auto going through
# the page cache while the reader is behind and back to O_DIRECT after,
# `ringtap status` counters, and a file system without O_DIRECT (ramfs):
# refused with yes, page cache with auto.
. "$(dirname "$0")/lib.sh"

RAMFS=$TMP/ramfs
trap 'rc=$?; mountpoint -q "$RAMFS" && umount -l "$RAMFS"; (exit $rc); cleanup' EXIT

N=20000
cpus=$(seq -s, 0 $((NCPUS - 1)))

# conf FILE INSTANCE OUTDIR DIRECT_IO [output lines...]
conf() {
	local file=$1 inst=$2 out=$3 dio=$4
	shift 4
	write_config "$file" "$inst" "$out" "flush_interval_ms = 200"
	sed -i "s|^type = file\$|type = file\ndirect_io = $dio|" "$file"
	for l in "$@"; do sed -i "s|^direct_io = .*|&\n$l|" "$file"; done
}

# frames FILE: one line per frame: offset type flags len (tests/fuzz/rtap.py)
RTAP_DIR=$(cd "$(dirname "$0")/../fuzz" && pwd)
frames() {
	python3 - "$RTAP_DIR" "$1" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import rtap
for f in rtap.parse(open(sys.argv[2], 'rb').read())[1]:
    print(f.offset, f.type, f.flags, len(f.payload))
EOF
}

# capture DIRECT_IO OUTDIR [output lines...]: N markers per CPU; checks
# that each one is there exactly once and nothing was lost
capture() {
	local dio=$1 out=$2
	shift 2
	local inst
	inst=$(new_instance)
	conf "$TMP/rt.conf" "$inst" "$out" "$dio" "$@"
	start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c "$cpus" -n $N -r 40000 -s 200 >"$TMP/written" ||
		fail "marker_writer failed"
	# what ringtap status says, once the idle flush handed everything over
	sleep 0.6
	"$RINGTAP" status -c "$TMP/rt.conf" --json >"$TMP/status.json" || fail "ringtap status failed"
	stop_daemon TERM || { cat "$TMP/daemon.log"; fail "ringtapd exited with $?"; }
	instance_exists "$inst" && fail "instance $inst left behind"
	grep "O_DIRECT" "$TMP/daemon.log"
	"$RINGTAP" report "$out" >"$TMP/report" || fail "$dio: report exited with $?"
	for cpu in $(seq 0 $((NCPUS - 1))); do
		check_markers "$TMP/report" "$cpu" $N || fail "direct_io = $dio: cpu $cpu markers incomplete"
	done
	grep -q "LOST" "$TMP/report" && fail "direct_io = $dio: report shows lost events"
	return 0
}

# direct sub-buffers the daemon logged, summed over CPUs
nr_direct() {
	grep -o '[0-9]* sub-buffers written with O_DIRECT' "$TMP/daemon.log" | awk '{ s += $1 } END { print s + 0 }'
}

log "direct_io = yes on $(stat -f -c %T "$TMP")"
out=$TMP/out-yes
capture yes "$out"
d=$(nr_direct)
[ "$d" -gt 0 ] || fail "direct_io = yes: no sub-buffer was written with O_DIRECT"
images=0
for f in "$out"/*.rtap; do
	frames "$f" >"$TMP/frames"
	# a page image (SUBBUF, flag 4) starts on a 4096-byte boundary, its
	# image 4096 bytes later at the end of the frame; a PAD (6, SKIPPABLE)
	# frame before it when the frame before ended elsewhere
	awk -v f="$f" '
		$2 == 2 && int($3 / 4) % 2 {
			n++
			if ($1 % 4096 || ($1 + 32 + $4) % 4096) { print f ": page image at " $1 " (" $4 " bytes) not block aligned"; bad = 1 }
		}
		$2 == 6 && $3 != 1 { print f ": PAD frame at " $1 " without exactly SKIPPABLE"; bad = 1 }
		$2 == 6 { pads++ }
		END { print n + 0, pads + 0; exit bad }' "$TMP/frames" >"$TMP/count" || { cat "$TMP/count"; fail "misaligned frames"; }
	read -r i p <"$TMP/count"
	images=$((images + i))
	[ "$i" -gt 0 ] && [ "$p" -eq 0 ] && fail "$f: page images but no PAD frame (the HEADER ends off the block boundary)"
done
[ "$images" = "$d" ] || fail "the files hold $images page images, the daemon logged $d O_DIRECT writes"
python3 - "$TMP/status.json" "$d" <<'PY' || fail "status: direct_io counters"
import json, sys
o = {x["name"]: x for x in json.load(open(sys.argv[1]))["outputs"]}["test"]
print({k: o[k] for k in ("direct_io", "direct_subbufs", "cached_subbufs", "cached_behind_subbufs")})
assert o["direct_io"] == "yes", o
assert 0 < int(o["direct_subbufs"]) <= int(sys.argv[2]), o
assert int(o["cached_behind_subbufs"]) <= int(o["cached_subbufs"]), o
PY
echo "direct_io = yes: $d of the sub-buffers written with O_DIRECT, all $((N * NCPUS)) markers once"

log "a carried byte damaged is caught; bytes outside the carried range are not carried"
f=$(ls "$out"/cpu0-*.rtap | head -1)
frames "$f" | awk '$2 == 2 && int($3 / 4) % 2 { print $1, $4; exit }' >"$TMP/img"
read -r at len <"$TMP/img" || fail "no page image in $f"
cp "$f" "$TMP/orig.rtap"
"$RINGTAP" report "$TMP/orig.rtap" >"$TMP/orig.txt" || fail "report of one file failed"
# the image's own page header (timestamp, commit) is not carried: the
# frame's struct rt_subbuf says both
python3 - "$f" $((at + 4096)) <<'EOF'
import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as fh:
    fh.seek(o); b = fh.read(16); fh.seek(o); fh.write(bytes(x ^ 0x5a for x in b))
EOF
"$RINGTAP" report "$f" >"$TMP/outside.txt" || fail "a byte outside the carried range made report fail"
cmp -s "$TMP/orig.txt" "$TMP/outside.txt" || fail "bytes outside the carried range changed the report"
# the first event's first byte is carried
python3 - "$f" $((at + 4096 + 16)) <<'EOF'
import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as fh:
    fh.seek(o); b = fh.read(1); fh.seek(o); fh.write(bytes([b[0] ^ 1]))
EOF
"$RINGTAP" report "$f" >"$TMP/bad.txt" 2>"$TMP/bad.err" && fail "report took a damaged page image"
cat "$TMP/bad.err"
grep -q "bad payload checksum at byte $at" "$TMP/bad.err" || fail "the damaged page image at byte $at not named"

log "a tail cut inside a page image"
cp "$TMP/orig.rtap" "$TMP/cut.rtap"
truncate -s $((at + 4096 + 1000)) "$TMP/cut.rtap"
"$RINGTAP" report "$TMP/cut.rtap" >"$TMP/cut.txt" 2>"$TMP/cut.err"
cat "$TMP/cut.err"
grep -q "truncated frame at byte $at" "$TMP/cut.err" || fail "the cut page image at byte $at not reported as truncated"
grep -q "truncated" "$TMP/cut.txt" "$TMP/cut.err" || fail "report does not say the file is truncated"

log "rotation: every file with page images decodes alone"
out=$TMP/out-rot
capture yes "$out" "max_file_size = 1M"
[ "$(nr_direct)" -gt 0 ] || fail "rotation: no O_DIRECT write"
nfiles=$(ls "$out"/cpu0-*.rtap | wc -l)
[ "$nfiles" -ge 3 ] || fail "rotation: only $nfiles files for cpu 0"
for f in "$out"/*.rtap; do
	[ "$(stat -c %s "$f")" -le $((1024 * 1024)) ] || fail "$f is larger than max_file_size"
	"$RINGTAP" report "$f" >"$TMP/one.txt" 2>"$TMP/one.err" || { cat "$TMP/one.err"; fail "$f does not decode alone"; }
	grep -q "sub-buffer continued without its start" "$TMP/one.txt" && fail "$f: continues a page of the file before"
done
echo "rotation: $nfiles files for cpu 0, each decodes alone"

log "auto: while more than half the ring buffer is unread, the page cache"
# The daemon is stopped until CPU 0's buffer is 75 % full (the kernel's
# own count of unread bytes), then goes on: the first sub-buffers after
# that must not wait for the disk.
inst=$(new_instance)
out=$TMP/out-behind
conf "$TMP/rt.conf" "$inst" "$out" auto
sed -i 's|^flush_interval_ms = .*|&\nbuffer_size_kb = 4096|' "$TMP/rt.conf"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
kill -STOP "$DAEMON_PID"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 30000 -r 15000 -s 200
full=0
for _ in $(seq 1 500); do
	b=$(sed -n 's/^bytes: //p' "$TRACEFS/instances/$inst/per_cpu/cpu0/stats")
	[ "$b" -gt $((4096 * 1024 * 3 / 4)) ] && { full=1; break; }
	kill -0 "$WRITER_PID" 2>/dev/null || break
	sleep 0.02
done
kill -CONT "$DAEMON_PID"
[ $full = 1 ] || fail "cpu 0's ring buffer never got 75 % full (last: $b bytes unread)"
wait "$WRITER_PID" || fail "marker_writer failed"
stop_daemon TERM || { cat "$TMP/daemon.log"; fail "ringtapd exited with $?"; }
grep "O_DIRECT" "$TMP/daemon.log"
grep -q 'cpu 0: [0-9]* sub-buffers written with O_DIRECT, [0-9]* through the page cache ([1-9][0-9]* while the reader was behind)' "$TMP/daemon.log" ||
	fail "auto: no sub-buffer of cpu 0 went through the page cache while the reader was behind"
# the writer started after the STOP: every O_DIRECT write came after
grep -q 'cpu 0: [1-9][0-9]* sub-buffers written with O_DIRECT' "$TMP/daemon.log" ||
	fail "auto: cpu 0 never went back to O_DIRECT after catching up"
"$RINGTAP" report "$out" >"$TMP/report" || fail "behind: report exited with $?"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/report" "$cpu" 30000 || fail "behind: cpu $cpu markers incomplete"
done

log "direct_io = no: no page images"
out=$TMP/out-no
capture no "$out"
[ "$(nr_direct)" = 0 ] || fail "direct_io = no wrote with O_DIRECT"
for f in "$out"/*.rtap; do
	frames "$f" | awk '($2 == 2 && int($3 / 4) % 2) || $2 == 6 { bad = 1 } END { exit bad }' ||
		fail "$f: page image or PAD frame with direct_io = no"
done

log "a file system without O_DIRECT (ramfs)"
mkdir -p "$RAMFS"
mount -t ramfs none "$RAMFS" || skip "cannot mount ramfs"
inst=$(new_instance)
conf "$TMP/rt.conf" "$inst" "$RAMFS/out-yes" yes
"$RINGTAPD" -c "$TMP/rt.conf" >"$TMP/refused.log" 2>&1 && fail "direct_io = yes started on ramfs"
cat "$TMP/refused.log"
grep -q "output 'test': direct_io = yes, but the file system of '$RAMFS/out-yes' does not take O_DIRECT" "$TMP/refused.log" ||
	fail "refusal does not name the output and directory"
instance_exists "$inst" && fail "instance $inst left behind after the refusal"
capture auto "$RAMFS/out-auto"
[ "$(nr_direct)" = 0 ] || fail "ramfs: O_DIRECT writes logged"
grep -q "through the page cache" "$TMP/daemon.log" || fail "ramfs: no page-cache writes logged"
# a reload to direct_io = yes there is refused; the capture goes on
inst=$(new_instance)
conf "$TMP/rt.conf" "$inst" "$RAMFS/out-reload" auto
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
sed -i 's|^direct_io = auto$|direct_io = yes|' "$TMP/rt.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do grep -q "reload refused" "$TMP/daemon.log" && break; sleep 0.05; done
grep "reload" "$TMP/daemon.log"
grep -q "reload refused: .*output 'test' cannot start" "$TMP/daemon.log" || fail "ramfs: reload to direct_io = yes not refused"
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n 100 >/dev/null || fail "marker_writer failed"
stop_daemon TERM || fail "ringtapd exited with $? after the refused reload"
"$RINGTAP" report "$RAMFS/out-reload" >"$TMP/report" || fail "report after the refused reload"
check_markers "$TMP/report" 0 100 || fail "ramfs: markers after the refused reload"
echo "ramfs: yes refused (start and reload), auto wrote through the page cache"
