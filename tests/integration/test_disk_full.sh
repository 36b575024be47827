#!/bin/bash
# A full disk loses no data that was already written and no count: the file
# is cut back to its last whole frame, the events that could not be stored
# are counted, and once space returns a LOST frame records them where they
# happened.  captured + lost by outputs == written, per CPU.  Twice: on a
# tmpfs (frames through the page cache) and on a small ext4 image with
# direct_io = yes (whole sub-buffers as O_DIRECT page images).
. "$(dirname "$0")/lib.sh"

mnt=$TMP/small
mkdir -p "$mnt"
trap 'rc=$?; mountpoint -q "$mnt" && umount -l "$mnt"; (exit $rc); cleanup' EXIT

# full_disk FS: the capture on a full $mnt, checked
full_disk() {
	local fs=$1
	inst=$(new_instance)
	write_config "$TMP/rt.conf" "$inst" "$mnt/out" "flush_interval_ms = 100"
	[ "$fs" = ext4 ] && sed -i 's|^type = file$|type = file\ndirect_io = yes|' "$TMP/rt.conf"
	# Leave about 1 MiB free.
	dd if=/dev/zero of="$mnt/filler" bs=1M count=3 status=none
	start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n 30000 -r 30000 -s 100 >"$TMP/w1" ||
		fail "marker_writer failed"
	sleep 0.5
	grep -q "write failed" "$TMP/daemon.log" || { cat "$TMP/daemon.log"; fail "the disk never filled up"; }
	# Space comes back: the daemon resumes and records what it lost.
	rm "$mnt/filler"
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n 1000 -r 10000 >"$TMP/w2" ||
		fail "marker_writer failed"
	sleep 0.5
	stop_daemon TERM || fail "ringtapd exited with $?"
	cat "$TMP/daemon.log"
	grep -q "writing again" "$TMP/daemon.log" || fail "daemon did not say it resumed"

	"$RINGTAP" report "$mnt/out" >"$TMP/report" 2>"$TMP/report.err" || { cat "$TMP/report.err"; fail "report failed on a capture that survived a full disk"; }
	grep "LOST" "$TMP/report" | head -5
	grep -q "CPU:0 \[LOST [0-9]* EVENTS: an output could not store them\]" "$TMP/report" || fail "no LOST line for the output failure"
	captured=$(grep -c "c=0 s=" "$TMP/report")
	lost_out=$(sed -n 's/.*cpu 0: .* \([0-9]*\) lost by outputs.*/\1/p' "$TMP/daemon.log")
	lost_ring=$(sed -n 's/.*cpu 0: .* \([0-9]*\) lost in the ring buffer.*/\1/p' "$TMP/daemon.log")
	lost_lines=$(awk '/^CPU:0 \[LOST [0-9]+ EVENTS: an output/ { s += $3 } END { print s + 0 }' "$TMP/report")
	written=$(( $(sed -n 's/^cpu=0 written=\([0-9]*\).*/\1/p' "$TMP/w1") + $(sed -n 's/^cpu=0 written=\([0-9]*\).*/\1/p' "$TMP/w2") ))
	echo "written $written captured $captured lost by outputs $lost_out (report lines $lost_lines) ring $lost_ring"
	[ "$lost_out" -gt 0 ] || fail "no events counted as lost by the output"
	[ "$lost_lines" = "$lost_out" ] || fail "report's LOST lines ($lost_lines) differ from the daemon's count ($lost_out)"
	[ $((captured + lost_out + lost_ring)) -eq "$written" ] || fail "captured + lost != written"
	# The markers that made it are in order (the second writer restarts at 0).
	grep -o "c=0 s=[0-9]*" "$TMP/report" | awk -F= '
		{ s = $3 + 0; if (NR > 1 && s <= last && !(s == 0 && !reset++)) { print "out of order at " $0; exit 1 } last = s }' ||
		fail "markers out of order"
	echo "disk full: every event captured or counted"
}

mount -t tmpfs -o size=4m tmpfs "$mnt" || skip "cannot mount a tmpfs"
log "tmpfs (page cache)"
full_disk tmpfs
grep -q " 0 sub-buffers written with O_DIRECT" "$TMP/daemon.log" || fail "tmpfs: O_DIRECT writes"
umount "$mnt"

# 4 MiB of ext4 (1 KiB blocks, no journal: all of it for files)
truncate -s 4M "$TMP/ext4.img"
mkfs.ext4 -q -F -b 1024 -O ^has_journal -m 0 "$TMP/ext4.img" || skip "cannot make an ext4 image"
mount -o loop "$TMP/ext4.img" "$mnt" || skip "cannot mount an ext4 image"
log "ext4 image, direct_io = yes"
full_disk ext4
grep -q "cpu 0: [1-9][0-9]* sub-buffers written with O_DIRECT" "$TMP/daemon.log" ||
	fail "ext4: no O_DIRECT write"
grep -q "cpu 0: O_DIRECT write failed (No space left on device)" "$TMP/daemon.log" ||
	fail "ext4: the full disk was not met by an O_DIRECT write"
