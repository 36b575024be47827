#!/bin/bash
# Two `ringtap collect --from nats://` processes in one queue group (the
# same --durable, the same directory) with a real nats-server: they split
# the load, and together they write every marker exactly once, the files
# byte for byte those of a file output beside the nats output; one of them
# is killed (-9) mid-stream and what it had not acknowledged goes to the
# other.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats.sh"
cpus=$(seq -s, 0 $((NCPUS - 1)))

start_nats q1
inst=$(new_instance)
common=(--from "$NATS_URL" --insecure -d "$TMP/col" --durable shared --ack-wait 2 --batch 4)
start_ncollect a "$TMP/ca.log" "${common[@]}" --create-stream
start_ncollect b "$TMP/cb.log" "${common[@]}"
nats_config "$TMP/rt.conf" "$inst" "subbuf_size_kb = 64" \
	"[output \"local\"]\ntype = file\ndirect_io = no\npath = $TMP/local\nmax_file_size = 512K\n\n[output \"js\"]\ntype = nats\nurl = $NATS_URL\ninsecure = yes\nspill_dir = $TMP/spill\nmax_file_size = 512K\n"
start_daemon "$TMP/rt.conf" "$TMP/d.log"
start_writer "$inst" "$TMP/written" -c "$cpus" -n 40000 -r 8000
sleep 2.5
log "collector b killed mid-stream, a third one (c) joins"
kill_ncollect b 9
start_ncollect c "$TMP/cc.log" "${common[@]}" --idle-exit 4
wait "$WRITER_PID" || fail "marker_writer failed"
stop_daemon TERM || { cat "$TMP/d.log"; fail "ringtapd exited with $?"; }
grep -q "not acknowledged" "$TMP/d.log" && { cat "$TMP/d.log"; fail "data left unacknowledged"; }
kill_ncollect a TERM
wait_ncollect c || { cat "$TMP/cc.log"; fail "collector c exited with $?"; }
cat "$TMP/ca.log" "$TMP/cc.log"
na=$(sed -n 's/.*stopping: \([0-9]*\) messages.*/\1/p' "$TMP/ca.log")
nc=$(sed -n 's/.*stopping: \([0-9]*\) messages.*/\1/p' "$TMP/cc.log")
[ "${na:-0}" -gt 0 ] && [ "${nc:-0}" -gt 0 ] || fail "the load was not shared: a wrote ${na:-?}, c wrote ${nc:-?} messages"
dir=$TMP/col/$HOST_DIR
ls "$dir" | grep -q "cpu0-000001.rtap" || fail "expected rotated files"
same_capture "$TMP/local" "$dir"
"$RINGTAP" report "$dir" >"$TMP/rep" || fail "ringtap report exited with $?"
grep -q LOST "$TMP/rep" && fail "the report shows losses"
for cpu in $(seq 0 $((NCPUS - 1))); do
	check_markers "$TMP/rep" "$cpu" 40000 || fail "cpu $cpu markers"
done
echo "queue group: a wrote $na messages, c wrote $nc (b killed), every marker once"
