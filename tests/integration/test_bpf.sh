#!/bin/bash
# The built-in BPF programs on the real kernel, in one daemon: each one
# produces its event for an action done here (an exec of a known binary, a
# nanosleep above the threshold, a wait behind a real-time hog on a busy
# CPU, a TCP connection on loopback, direct-I/O reads of a loop device),
# and nothing below its threshold or outside its filter; BPF and
# tracepoint events interleave in timestamp order; --json has typed fields;
# --stats shows the per-program counters; the daemon's exit leaves no BPF
# program attached and the top-level instance as it found it.
. "$(dirname "$0")/lib.sh"

command -v bpftool >/dev/null || fail "bpftool missing: scripts/install-deps.sh"
top_state() {
	cat "$TRACEFS/set_event" "$TRACEFS/tracing_on" \
		"$TRACEFS/events/bpf_trace/bpf_trace_printk/enable"
}
rt_progs() { bpftool prog list | grep -c 'name rt_' || true; }
top_before=$(top_state)
[ "$(rt_progs)" = 0 ] || fail "ringtap BPF programs attached before the test"

# The actors: copies of known binaries under names the filters select.
cp /bin/false "$TMP/rtprobe"
cp /bin/sleep "$TMP/rtsleep"
cp /bin/sleep "$TMP/rtrunq"
cp /bin/true "$TMP/rtcg"
cp /bin/true "$TMP/rtpid"
# pid filter: two shells that exec rtpid when told, one of them selected by
# its pid (exec keeps the pid), started before the daemon to know it.
mkfifo "$TMP/go_in" "$TMP/go_out"
sh -c 'read x <"$1" && exec "$2"' sh "$TMP/go_in" "$TMP/rtpid" &
pid_in=$!
sh -c 'read x <"$1" && exec "$2"' sh "$TMP/go_out" "$TMP/rtpid" &
pid_out=$!
PIDS+=("$pid_in" "$pid_out")

# A loop device to read with O_DIRECT.
dd if=/dev/zero of="$TMP/disk.img" bs=1M count=8 status=none
LOOP=$(losetup -f --show "$TMP/disk.img") || fail "cannot set up a loop device"
# A cgroup v2 group of our own (the exec section's cgroup filter), removed
# at exit once its task is gone; relative to where cgroup v2 is mounted
# (/sys/fs/cgroup or, hybrid, /sys/fs/cgroup/unified).
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG2" ] || fail "no cgroup v2 file system mounted"
CGNAME=rttest-bpf-$$
CG=$CG2/$CGNAME
mkdir "$CG" || fail "cannot create the cgroup $CG"
trap 'rc=$?; losetup -d "$LOOP"; rmdir "$CG"; (exit $rc); cleanup' EXIT
majmin=$(lsblk -ndo MAJ:MIN "$LOOP" | tr -d ' ')
PORT=$((20000 + RANDOM % 20000))

inst=$(new_instance)
write_config "$TMP/rt.conf" "$inst" "$TMP/out"
sed -i 's/^events = ftrace:print$/events = sched:sched_process_exec, tcp:tcp_retransmit_skb, ftrace:print/' "$TMP/rt.conf"
cat >>"$TMP/rt.conf" <<CONF

[bpf "procs"]
program = exec
comm = rtprobe

[bpf "in_cgroup"]
program = exec
cgroup = $CGNAME

[bpf "by_pid"]
program = exec
pid = $pid_in

[bpf "slow"]
program = syscall_latency
min_us = 100000
comm = rtsleep

[bpf "waits"]
program = runqueue_latency
min_us = 100000
comm = rtrunq

[bpf "tcp"]
program = tcp
port = $PORT

[bpf "disk"]
program = block_latency
min_us = 0
dev = $majmin

[bpf "disk_slow"]
program = block_latency
min_us = 10000000
dev = $majmin
CONF
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
[ "$(rt_progs)" -ge 10 ] || { bpftool prog list; fail "the programs are not attached while the daemon runs"; }

# exec: rtprobe is exec'ed (and exits 1); /bin/true is outside the filter.
"$TMP/rtprobe" && fail "rtprobe exited 0"
/bin/true
# cgroup filter: rtcg exec'ed inside the cgroup, and outside it.
sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2"' sh "$CG" "$TMP/rtcg" &
cg_in=$!
wait $cg_in || fail "cannot run rtcg in $CG"
"$TMP/rtcg" &
cg_out=$!
wait $cg_out
# pid filter: both exec rtpid.
echo >"$TMP/go_in"
echo >"$TMP/go_out"
wait $pid_in $pid_out
# syscall_latency: 300 ms above 100 ms, 10 ms below.
"$TMP/rtsleep" 0.3
"$TMP/rtsleep" 0.01
# runqueue_latency: rtrunq wakes up on CPU 1 while a SCHED_FIFO hog holds
# it for 0.6 s, so it waits about 0.5 s; then once more with no hog.
taskset -c 1 "$TMP/rtrunq" 0.3 &
runq=$!
# the hog starts once rtrunq sleeps (not while it still runs as taskset)
for _ in $(seq 1 100); do
	[ "$(cat /proc/$runq/comm 2>/dev/null)" = rtrunq ] &&
		[ "$(awk '{print $3}' /proc/$runq/stat 2>/dev/null)" = S ] && break
	sleep 0.01
done
chrt -f 10 taskset -c 1 perl -MTime::HiRes=time -e '$e = time + 0.6; 1 while time < $e'
wait $runq
taskset -c 1 "$TMP/rtrunq" 0.05
# tcp: a connection on PORT through its states; another port is filtered out.
python3 - "$PORT" <<'PY'
import socket, sys
for port in (int(sys.argv[1]), int(sys.argv[1]) + 1):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = s.accept()
    c.sendall(b"x")
    a.recv(1)
    c.close()
    a.close()
    s.close()
PY
# tcp retransmits, on loopback with nothing changed: a listener with a
# backlog of 0 whose accept queue one connection fills drops the next SYNs
# (ListenOverflows), so the connecting side retransmits its SYN after 1 s.
# On PORT (the filter) and PORT+1 (outside it); prints the client ports.
python3 - "$PORT" >"$TMP/rtx.txt" <<'PY' || fail "the retransmit generator failed"
import socket, sys, time
port = int(sys.argv[1])
keep = []
for p in (port, port + 1):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p))
    s.listen(0)
    keep += [s, socket.create_connection(("127.0.0.1", p))]  # never accepted
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", p))
    except BlockingIOError:
        pass
    keep.append(c)
    print(p, c.getsockname()[1])
time.sleep(1.6)
for s in keep:
    s.close()
PY
# block_latency: 16 direct reads of 4 KiB.
dd if="$LOOP" of=/dev/null iflag=direct bs=4k count=16 status=none
sleep 0.5
stop_daemon TERM || { cat "$TMP/daemon.log"; fail "ringtapd exited with $?"; }

# Nothing left behind.
[ "$(rt_progs)" = 0 ] || { bpftool prog list; fail "BPF programs still attached after the daemon's exit"; }
[ "$(top_state)" = "$top_before" ] || fail "top-level instance changed: before '$top_before', after '$(top_state)'"

"$RINGTAP" report "$TMP/out" >"$TMP/report.txt" || fail "report failed"
"$RINGTAP" report --json "$TMP/out" >"$TMP/report.json" || fail "report --json failed"
bpfev() { jq -c "select(.event == \"ringtap:$1\")" "$TMP/report.json"; }
# has EXPR [jq options]: some event on stdin passes select(EXPR)
has() {
	local expr=$1
	shift
	jq -s -e "$@" "map(select($expr)) | length > 0" >/dev/null
}

# exec: rtprobe's exec and exit, with ppid, filename, exit code and lifetime.
bpfev exec | has '.fields.filename == $f and .comm == "rtprobe" and (.fields.ppid | type) == "number" and .fields.ppid > 0' --arg f "$TMP/rtprobe" ||
	{ grep ringtap: "$TMP/report.txt"; fail "no ringtap:exec of $TMP/rtprobe"; }
bpfev exit | has '.comm == "rtprobe" and .fields.exit_code == 1 and .fields.signal == 0 and .fields.lifetime_ns > 0 and .fields.lifetime_ns < 10000000000' ||
	fail "no ringtap:exit of rtprobe with exit_code 1 and a lifetime"
[ -z "$(bpfev exec | jq -r 'select(.comm != "rtprobe" and .comm != "rtcg" and .comm != "rtpid") | .comm')" ] ||
	{ bpfev exec; fail "exec events outside the comm, cgroup and pid filters"; }
# cgroup: the task in the cgroup (exec and exit), not the one outside.
bpfev exec | has '.comm == "rtcg" and .pid == $p and .fields.filename == $f' --argjson p "$cg_in" --arg f "$TMP/rtcg" ||
	{ bpfev exec; fail "no ringtap:exec of rtcg in the cgroup $CG (pid $cg_in)"; }
bpfev exit | has '.comm == "rtcg" and .pid == $p and .fields.exit_code == 0' --argjson p "$cg_in" ||
	fail "no ringtap:exit of rtcg in the cgroup"
[ -z "$(jq -c --argjson p "$cg_out" 'select((.event | startswith("ringtap:")) and .pid == $p)' "$TMP/report.json")" ] ||
	fail "ringtap events of rtcg outside the cgroup (pid $cg_out)"
# pid: the selected process's exec, not the other's.
bpfev exec | has '.comm == "rtpid" and .pid == $p' --argjson p "$pid_in" ||
	{ bpfev exec; fail "no ringtap:exec of pid $pid_in (the pid filter)"; }
[ -z "$(jq -c --argjson p "$pid_out" 'select((.event | startswith("ringtap:")) and .pid == $p)' "$TMP/report.json")" ] ||
	fail "ringtap events of pid $pid_out, outside the pid filter"
# comm: /bin/true ran (exec'ed by this shell) but only rtprobe passed.
[ -z "$(bpfev exec | jq -r 'select(.fields.filename == "/bin/true")')" ] || fail "ringtap:exec of /bin/true, outside the comm filter"

# syscall_latency: exactly one, clock_nanosleep of about 300 ms.
n=$(bpfev syscall_latency | wc -l)
[ "$n" = 1 ] || { bpfev syscall_latency; fail "$n syscall_latency events, expected 1 (the 300 ms sleep)"; }
bpfev syscall_latency | has '.comm == "rtsleep" and .fields.name == "clock_nanosleep" and .fields.ret == 0 and .fields.duration_ns >= 290000000 and .fields.duration_ns < 2000000000' ||
	{ bpfev syscall_latency; fail "syscall_latency event has the wrong fields"; }

# runqueue_latency: rtrunq waited behind the hog, and only then.
n=$(bpfev runqueue_latency | jq -c 'select(.comm == "rtrunq")' | wc -l)
[ "$n" = 1 ] || { bpfev runqueue_latency; fail "$n runqueue_latency events of rtrunq, expected 1"; }
bpfev runqueue_latency | has '.fields.latency_ns >= 100000000 and .fields.prev_pid > 0 and .cpu == 1' ||
	{ bpfev runqueue_latency; fail "runqueue_latency event has the wrong fields"; }
[ -z "$(bpfev runqueue_latency | jq -r 'select(.comm != "rtrunq") | .comm')" ] || fail "runqueue_latency events outside the comm filter"

# tcp: the connection's states on PORT, with addresses; none on PORT+1.
states=$(bpfev tcp_state | jq -r --argjson p "$PORT" 'select(.fields.sport == $p or .fields.dport == $p) | "\(.fields.oldstate)>\(.fields.newstate)"' | sort -u | tr '\n' ' ')
for t in "CLOSE>LISTEN" "CLOSE>SYN_SENT" "SYN_SENT>ESTABLISHED" "ESTABLISHED>FIN_WAIT1" "LISTEN>CLOSE"; do
	case " $states " in *" $t "*) ;; *) fail "no tcp_state $t on port $PORT (got: $states)" ;; esac
done
bpfev tcp_state | has '.fields.saddr == "127.0.0.1" and .fields.daddr == "127.0.0.1" and .fields.family == "AF_INET"' ||
	{ bpfev tcp_state | head -3; fail "tcp_state events lack the loopback addresses"; }
[ -z "$(bpfev tcp_state | jq -r --argjson p "$PORT" 'select(.fields.sport != $p and .fields.dport != $p)')" ] ||
	fail "tcp_state events outside the port filter"

# tcp retransmits: the SYN to PORT, from its client port, with addresses
# and the state; the one to PORT+1 happened (the tracepoint saw it) but is
# outside the filter.
read -r _ cport <<<"$(sed -n 1p "$TMP/rtx.txt")"
read -r _ cport2 <<<"$(sed -n 2p "$TMP/rtx.txt")"
bpfev tcp_retransmit | has '.fields.sport == $c and .fields.dport == $p and .fields.saddr == "127.0.0.1" and .fields.daddr == "127.0.0.1" and .fields.family == "AF_INET" and .fields.state == "SYN_SENT"' --argjson c "$cport" --argjson p "$PORT" ||
	{ bpfev tcp_retransmit; jq -c 'select(.event == "tcp:tcp_retransmit_skb")' "$TMP/report.json"; fail "no ringtap:tcp_retransmit of 127.0.0.1:$cport -> 127.0.0.1:$PORT"; }
jq -c 'select(.event == "tcp:tcp_retransmit_skb")' "$TMP/report.json" | has '.fields.sport == $c and .fields.dport == $p' --argjson c "$cport2" --argjson p $((PORT + 1)) ||
	fail "the kernel did not retransmit to port $((PORT + 1)) (tcp:tcp_retransmit_skb): the negative case proves nothing"
[ -z "$(bpfev tcp_retransmit | jq -r --argjson p "$PORT" 'select(.fields.sport != $p and .fields.dport != $p)')" ] ||
	{ bpfev tcp_retransmit; fail "tcp_retransmit events outside the port filter"; }

# block_latency: the direct reads, on the loop device, 4 KiB each.
n=$(bpfev block_latency | jq -c --arg d "$majmin" 'select(.fields.dev == $d and (.fields.op | startswith("R")) and .fields.bytes == 4096)' | wc -l)
[ "$n" -ge 16 ] || { bpfev block_latency | head; fail "$n block_latency reads of $majmin, expected 16"; }
[ -z "$(bpfev block_latency | jq -r --arg d "$majmin" 'select(.fields.dev != $d)')" ] || fail "block_latency events outside the dev filter"

# The thresholds filtered in the kernel: seen > emitted (bpf_stats).
"$RINGTAP" report --stats "$TMP/out" >"$TMP/stats.txt" || fail "report --stats failed"
cat "$TMP/stats.txt"
awk '$1 == "slow" && $2 != "" { seen += $3; emitted += $4 } END { exit !(seen > 1 && emitted == 1) }' "$TMP/stats.txt" ||
	fail "--stats: syscall_latency should have seen many calls and emitted 1"
awk '$1 == "disk_slow" { seen += $3; emitted += $4 } END { exit !(seen >= 16 && emitted == 0) }' "$TMP/stats.txt" ||
	fail "--stats: block_latency with a 10 s threshold should have seen the reads and emitted none"
grep -q '^ringtap:exec ' "$TMP/stats.txt" || fail "--stats does not count ringtap:exec"

# --event ringtap:NAME selects those only.
"$RINGTAP" report --event ringtap:syscall_latency "$TMP/out" >"$TMP/sel.txt" 2>&1
[ "$(wc -l <"$TMP/sel.txt")" = 1 ] && grep -q 'ringtap:syscall_latency: .*name=clock_nanosleep' "$TMP/sel.txt" ||
	{ cat "$TMP/sel.txt"; fail "--event ringtap:syscall_latency"; }

# Interleaved with tracepoint events, in timestamp order: rtprobe's
# sched_process_exec then its ringtap:exec, same pid, close in time.
jq -r '.ts' "$TMP/report.json" | sort -c -n || fail "report not in timestamp order"
grep -E 'sched_process_exec: |ringtap:exec: ' "$TMP/report.txt" | grep rtprobe >"$TMP/pair.txt"
head -1 "$TMP/pair.txt" | grep -q sched_process_exec && sed -n 2p "$TMP/pair.txt" | grep -q 'ringtap:exec' ||
	{ cat "$TMP/pair.txt"; fail "rtprobe's tracepoint and BPF exec events are not interleaved as expected"; }
exit 0
