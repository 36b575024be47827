#!/bin/bash
# [bpf] sections beyond the built-in programs: an external object attached
# by section name with the same event route; a program the verifier
# refuses fails the start with the verifier's message and leaves nothing
# behind, or is skipped with a warning under `optional = yes`; parameter
# errors name the file and line; a bpf_trace_printk program (which makes
# the kernel enable bpf_trace:bpf_trace_printk in the top-level instance)
# leaves the top-level instance as found, and its text lands in ours.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang >/dev/null || fail "clang missing: scripts/install-deps.sh"
rt_progs() { bpftool prog list | grep -c 'name rt_' || true; }
PRINTK_ENABLE=$TRACEFS/events/bpf_trace/bpf_trace_printk/enable
top_before=$(cat "$TRACEFS/set_event" "$PRINTK_ENABLE")
printk_before=$(cat "$PRINTK_ENABLE")
# A failure kills the daemon before it can put the top-level event back:
# undo what our printk program made the kernel do, then the usual cleanup.
restore_top() {
	local rc=$? p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=()
	[ "$(cat "$PRINTK_ENABLE")" = "$printk_before" ] || echo "$printk_before" >"$PRINTK_ENABLE"
	(exit $rc)
	cleanup
}
trap restore_top EXIT
bpfcc() {
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$RT_BUILD/bpf" \
		-I"$ROOT/bpf" -I"$ROOT/include" -c "$1" -o "$2" || fail "cannot compile $1"
}

# An external object: one event per getppid() of rtgen, its own
# ringtap:ext_call declared with RT_EVENT(), whose layout ringtapd reads from
# the object's BTF: every kind of field the decoder has.
cat >"$TMP/good.bpf.c" <<'C'
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"
char LICENSE[] SEC("license") = "GPL";
enum ext_color { EXT_RED = 1, EXT_GREEN = 2 };
struct ext_call {
	struct rt_bpf_hdr h;
	__u64 seq;
	__s32 delta;
	enum ext_color color;
	char tag[8];
	rt_ipaddr_t addr;
	__u8 raw[4];
	struct { __u16 lo, hi; } pair;
	rt_dev_t dev;
	bool odd;
};
#define EXT_CALL 0x52541001
RT_EVENT(ext_call, EXT_CALL);
__u64 n;
SEC("tracepoint/syscalls/sys_enter_getppid")
int rt_ext(void *ctx)
{
	struct ext_call *e;

	if (!rt_current_wanted())
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	e = rt_reserve(sizeof(*e), EXT_CALL);
	if (!e)
		return 0;
	e->seq = __sync_fetch_and_add(&n, 1);
	e->delta = -3;
	e->odd = e->seq & 1;
	e->color = e->odd ? EXT_GREEN : EXT_RED;
	__builtin_memcpy(e->tag, "rtgen", 6);
	e->addr[10] = e->addr[11] = 0xff;
	e->addr[12] = 127;
	e->addr[15] = 1;
	e->raw[0] = 0xde; e->raw[1] = 0xad; e->raw[2] = 0xbe; e->raw[3] = 0xef;
	e->pair.lo = 7;
	e->pair.hi = 9;
	e->dev = 7 << 20 | 3;
	rt_submit(e);
	return 0;
}
C
# An RT_EVENT() whose id is a built-in's range: refused by the config check.
cat >"$TMP/badid.bpf.c" <<'C'
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"
char LICENSE[] SEC("license") = "GPL";
struct x_ev { struct rt_bpf_hdr h; __u32 v; };
RT_EVENT(x_ev, RT_BPF_EV_BENCH);
SEC("tracepoint/syscalls/sys_enter_getppid")
int rt_x(void *ctx) { return 0; }
C
# One the verifier refuses: a read through a pointer that may be NULL.
cat >"$TMP/bad.bpf.c" <<'C'
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"
char LICENSE[] SEC("license") = "GPL";
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} m SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int rt_bad(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&m, &k);

	return *v;
}
C
bpfcc "$TMP/good.bpf.c" "$TMP/good.bpf.o"
bpfcc "$TMP/bad.bpf.c" "$TMP/bad.bpf.o"
bpfcc "$TMP/badid.bpf.c" "$TMP/badid.bpf.o"
cat >"$TMP/rtgen" <<'SH'
#!/usr/bin/perl
getppid() for 1..100;
SH
chmod +x "$TMP/rtgen"

inst=$(new_instance)
write_config "$TMP/base.conf" "$inst" "$TMP/out"

# 1. The refused program fails the start, with the verifier's reason.
cp "$TMP/base.conf" "$TMP/bad.conf"
printf '\n[bpf "bad"]\nobject = %s\n' "$TMP/bad.bpf.o" >>"$TMP/bad.conf"
"$RINGTAPD" -c "$TMP/bad.conf" -d 5 >"$TMP/bad.log" 2>&1 && { cat "$TMP/bad.log"; fail "ringtapd started with a program the verifier refuses"; }
grep -q "invalid mem access 'map_value_or_null'" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "the verifier's message is not in the log"; }
grep -q 'bpf "bad": cannot load or attach object' "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "no error naming the section"; }
instance_exists "$inst" && fail "instance left behind after a failed start"
[ "$(rt_progs)" = 0 ] || fail "programs left attached after a failed start"

# 1b. --check-config loads the programs too (the verifier runs), attaches
# none and leaves no instance: the refusal is reported with the verifier's
# message and the section's line; status 1.
L_BAD=$(grep -n '^\[bpf "bad"\]' "$TMP/bad.conf" | cut -d: -f1)
"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/check.log" 2>&1
rc=$?
[ $rc = 1 ] || { cat "$TMP/check.log"; fail "--check-config with a program the verifier refuses: status $rc, expected 1"; }
grep -q "invalid mem access 'map_value_or_null'" "$TMP/check.log" || { cat "$TMP/check.log"; fail "--check-config: the verifier's message is not in its output"; }
grep -qF "bad.conf:$L_BAD: bpf \"bad\": the kernel refuses object '$TMP/bad.bpf.o'" "$TMP/check.log" ||
	{ cat "$TMP/check.log"; fail "--check-config: no error naming the file, line and section"; }
grep -q "configuration is valid" "$TMP/check.log" && fail "--check-config called a refused program valid"
ls "$TRACEFS/instances" | grep -q "^$inst" && fail "--check-config left an instance"
[ "$(rt_progs)" = 0 ] || fail "--check-config left programs loaded"

# 2. optional = yes: skipped with a warning; the external object and the
# printk program run.
cp "$TMP/base.conf" "$TMP/rt.conf"
sed -i 's/^events = ftrace:print$/events = ftrace:print, bpf_trace:bpf_trace_printk/' "$TMP/rt.conf"
cat >>"$TMP/rt.conf" <<CONF

[bpf "bad"]
object = $TMP/bad.bpf.o
optional = yes

[bpf "ext"]
object = $TMP/good.bpf.o
comm = rtgen

[bpf "text"]
program = bench
route = printk
comm = rtgen
CONF
# --check-config first: the same programs verified, the refused one a
# warning, status 0, nothing attached, the top-level instance as found
# (the printk program makes the kernel enable bpf_trace_printk there).
"$RINGTAPD" -c "$TMP/rt.conf" --check-config >"$TMP/check2.log" 2>&1 || { cat "$TMP/check2.log"; fail "--check-config with optional = yes failed"; }
grep -q "warning: .*bpf \"bad\": the kernel refuses object .*it would be skipped (optional)" "$TMP/check2.log" ||
	{ cat "$TMP/check2.log"; fail "--check-config: no warning for the optional program"; }
grep -q "invalid mem access 'map_value_or_null'" "$TMP/check2.log" || { cat "$TMP/check2.log"; fail "--check-config: the optional program's verifier message is missing"; }
for sec in ext text; do
	grep -q "bpf \"$sec\": .* loaded and verified (not attached)" "$TMP/check2.log" || { cat "$TMP/check2.log"; fail "--check-config did not verify [bpf \"$sec\"]"; }
done
grep -q "configuration is valid" "$TMP/check2.log" || fail "--check-config did not say valid"
grep -q 'top-level instance: bpf_trace:bpf_trace_printk set back to 0' "$TMP/check2.log" ||
	{ cat "$TMP/check2.log"; fail "--check-config: the printk program's load did not change the top-level instance (or it was not restored)"; }
[ "$(rt_progs)" = 0 ] || fail "--check-config left programs loaded"
[ "$(cat "$TRACEFS/set_event" "$PRINTK_ENABLE")" = "$top_before" ] || fail "--check-config changed the top-level instance"
ls "$TRACEFS/instances" | grep -q "^$inst" && fail "--check-config left an instance"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
grep -q 'warning: bpf "bad": .*skipped (optional)' "$TMP/daemon.log" || { cat "$TMP/daemon.log"; fail "no warning for the optional program"; }
# the kernel had turned the top-level event on when the printk program loaded
grep -q 'top-level instance: bpf_trace:bpf_trace_printk set back to 0' "$TMP/daemon.log" ||
	{ cat "$TMP/daemon.log"; fail "loading a bpf_trace_printk program did not change the top-level instance (or it was not restored)"; }
[ "$(cat "$PRINTK_ENABLE")" = 0 ] || fail "top-level bpf_trace_printk left enabled while running"
"$TMP/rtgen"
cp "$TMP/rtgen" "$TMP/rtother" # outside the comm filters
"$TMP/rtother"
"$RINGTAP" status -c "$TMP/rt.conf" --json >"$TMP/status.json" || fail "status failed"
jq -e '.bpf | map(select(.name == "ext" and .seen == 100 and .emitted == 100 and .dropped == 0)) | length == 1' "$TMP/status.json" >/dev/null ||
	{ cat "$TMP/status.json"; fail "status: the external program's counters"; }
# a reload cannot change [bpf] sections yet: refused, the running set stays
sed -i 's/^comm = rtgen$/comm = other/' "$TMP/rt.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do grep -q "cannot change on reload" "$TMP/daemon.log" && break; sleep 0.1; done
grep -q "'\[bpf\] sections' cannot change on reload" "$TMP/daemon.log" || { cat "$TMP/daemon.log"; fail "a reload changing [bpf] was not refused"; }
stop_daemon TERM || { cat "$TMP/daemon.log"; fail "ringtapd exited with $?"; }
[ "$(rt_progs)" = 0 ] || fail "programs left attached"
[ "$(cat "$TRACEFS/set_event" "$PRINTK_ENABLE")" = "$top_before" ] || fail "top-level instance changed"

# The external object's events: named, typed fields from its BTF, in the
# text report and --json.
"$RINGTAP" report --event ringtap:ext_call "$TMP/out" >"$TMP/ext.txt" || fail "report --event ringtap:ext_call failed"
n=$(grep -c 'ringtap:ext_call: pid=[0-9]* tgid=[0-9]* cpu=[0-9] ts=[0-9]* comm=rtgen seq=[0-9]* delta=-3 color=EXT_[A-Z]* tag=rtgen addr=127.0.0.1 raw=deadbeef pair.lo=7 pair.hi=9 dev=7:3 odd=[01]$' "$TMP/ext.txt")
[ "$n" = 100 ] || { head -3 "$TMP/ext.txt"; fail "$n ringtap:ext_call events of the external object with typed fields, expected 100"; }
"$RINGTAP" report --json --event ringtap:ext_call "$TMP/out" >"$TMP/ext.json" || fail "report --json failed"
jq -s -e 'length == 100 and ([.[].fields.seq] | sort) == [range(100)] and
	all(.[]; .comm == "rtgen" and .fields.delta == -3 and .fields.tag == "rtgen" and
		.fields.addr == "127.0.0.1" and .fields.raw == "deadbeef" and
		.fields["pair.lo"] == 7 and .fields["pair.hi"] == 9 and .fields.dev == "7:3" and
		(.fields.pid | type) == "number" and (.fields.ts | type) == "number" and
		.fields.color == (if .fields.odd == 1 then "EXT_GREEN" else "EXT_RED" end))' "$TMP/ext.json" >/dev/null ||
	{ head -2 "$TMP/ext.json"; fail "--json: the external object's events lack their typed fields"; }
"$RINGTAP" report --stats "$TMP/out" | grep -q '^ringtap:ext_call  *100$' || fail "--stats does not count ringtap:ext_call"
n=$("$RINGTAP" report --event bpf_trace:bpf_trace_printk "$TMP/out" | grep -c 'ringtap bench seq=')
[ "$n" = 100 ] || fail "$n bpf_trace_printk events, expected 100"

# 2b. Drops, counted and shown: while ringtapd is stopped (SIGSTOP) nothing
# drains the 4 MiB BPF ring buffer, and 150000 events of 56 bytes (with the
# ring's record header) do not fit.  status --metrics and --json show the
# program's counters per section (dropped per CPU), report --stats the same.
inst2=$(new_instance)
write_config "$TMP/drop.conf" "$inst2" "$TMP/out2"
printf '\n[bpf "flood"]\nobject = %s\ncomm = rtflood\n' "$TMP/good.bpf.o" >>"$TMP/drop.conf"
printf '#!/usr/bin/perl\ngetppid() for 1..150000;\n' >"$TMP/rtflood"
chmod +x "$TMP/rtflood"
start_daemon "$TMP/drop.conf" "$TMP/drop.log"
kill -STOP "$DAEMON_PID"
"$TMP/rtflood"
kill -CONT "$DAEMON_PID"
# the drain catches up: written reaches emitted
for _ in $(seq 1 100); do
	"$RINGTAP" status -c "$TMP/drop.conf" --metrics >"$TMP/metrics.txt" || fail "status --metrics failed"
	m() { awk -v k="$1" 'index($0, k) == 1 { s += $NF; n++ } END { if (!n) print "none"; else printf "%d\n", s }' "$TMP/metrics.txt"; }
	sel="{instance=\"$inst2\",bpf=\"flood\",program=\"$TMP/good.bpf.o\""
	seen=$(m "ringtap_bpf_seen_events_total$sel}") emitted=$(m "ringtap_bpf_emitted_events_total$sel}")
	dropped=$(m "ringtap_bpf_dropped_events_total$sel,cpu=") written=$(m "ringtap_bpf_written_events_total{instance=\"$inst2\"}")
	[ "$written" = "$emitted" ] && break
	sleep 0.1
done
cat "$TMP/metrics.txt" | grep ringtap_bpf
[ "$seen" = 150000 ] || fail "metrics: seen $seen, expected 150000"
[ "$dropped" != none ] && [ "$dropped" -gt 0 ] && [ $((emitted + dropped)) = 150000 ] ||
	fail "metrics: emitted $emitted + dropped $dropped should be 150000, with drops"
[ "$(grep -c "^ringtap_bpf_dropped_events_total$sel,cpu=" "$TMP/metrics.txt")" = "$(grep -c "^ringtap_bpf_dropped_events_total" "$TMP/metrics.txt")" ] || fail "metrics: dropped lines of another section"
[ "$(grep -c "^ringtap_bpf_dropped_events_total$sel,cpu=" "$TMP/metrics.txt")" -ge "$NCPUS" ] || fail "metrics: not one dropped line per CPU"
[ "$written" = "$emitted" ] || fail "metrics: written $written, emitted $emitted"
grep -q '^ringtap_bpf_lost_write_events_total{instance="'"$inst2"'"} 0$' "$TMP/metrics.txt" || fail "metrics: no lost_write counter"
for t in seen emitted dropped written lost_write; do
	grep -q "^# TYPE ringtap_bpf_${t}_events counter$" "$TMP/metrics.txt" || fail "metrics: no TYPE line for ringtap_bpf_${t}_events"
done
"$RINGTAP" status -c "$TMP/drop.conf" --json >"$TMP/drop.json" || fail "status --json failed"
jq -e --argjson d "$dropped" --argjson e "$emitted" '.bpf | map(select(.name == "flood")) | .[0] |
	.seen == 150000 and .emitted == $e and .dropped == $d and
	([to_entries[] | select(.key | startswith("dropped_cpu")) | .value] | add) == $d' "$TMP/drop.json" >/dev/null ||
	{ cat "$TMP/drop.json"; fail "status --json: the flood section's counters"; }
jq -e --argjson e "$emitted" '.bpf | map(select(.name == "-")) | .[0] | .written == $e and .lost_write == 0' "$TMP/drop.json" >/dev/null ||
	{ cat "$TMP/drop.json"; fail "status --json: the drain's counters"; }
"$RINGTAP" status -c "$TMP/drop.conf" >"$TMP/drop.txt" || fail "status failed"
awk -v d="$dropped" '$1 == "flood" { found = 1; exit !($5 == d) } END { if (!found) exit 1 }' "$TMP/drop.txt" ||
	{ cat "$TMP/drop.txt"; fail "status: the flood section's drops"; }
stop_daemon TERM || { cat "$TMP/drop.log"; fail "ringtapd exited with $?"; }
"$RINGTAP" report --stats "$TMP/out2" >"$TMP/drop_stats.txt" || fail "report --stats failed"
awk -v d="$dropped" '$1 == "flood" && $2 != "" { s += $3; dr += $5 } END { exit !(s == 150000 && dr == d) }' "$TMP/drop_stats.txt" ||
	{ cat "$TMP/drop_stats.txt"; fail "report --stats: the flood program's drops"; }

# 3. Parameter errors name the file and line, exit status 2.
check_err() {
	local body=$1 want=$2
	cp "$TMP/base.conf" "$TMP/e.conf"
	printf '\n%b\n' "$body" >>"$TMP/e.conf"
	"$RINGTAPD" -c "$TMP/e.conf" --check-config >"$TMP/e.log" 2>&1
	[ $? = 2 ] || { cat "$TMP/e.log"; fail "'$body': exit status is not 2"; }
	grep -qF "$want" "$TMP/e.log" || { cat "$TMP/e.log"; fail "'$body': no '$want'"; }
}
L=$(($(wc -l <"$TMP/base.conf") + 3))
check_err '[bpf "x"]\nprogram = nope' "e.conf:$L: program: unknown program 'nope' (built-in: exec, syscall_latency"
check_err '[bpf "x"]\nprogram = exec\nmin_us = 5' "e.conf:$((L + 1)): unknown key 'min_us' in section [bpf \"x\"]"
check_err '[bpf "x"]\nprogram = syscall_latency\nmin_us = soon' "e.conf:$((L + 1)): min_us: 'soon' is not a number"
check_err '[bpf "x"]\nprogram = syscall_latency\nsyscall = nosuchcall' "syscall: 'nosuchcall' is neither"
check_err '[bpf "x"]\nprogram = block_latency\ndev = sda' "dev: expected MAJOR:MINOR"
check_err '[bpf "x"]\nprogram = exec\nobject = /x.o' "needs one of 'program = NAME' or 'object = PATH'"
check_err '[bpf "x"]\nobject = /nonexistent.bpf.o' "object: cannot read '/nonexistent.bpf.o'"
check_err "[bpf \"x\"]\nobject = $TMP/badid.bpf.o" "e.conf:$L: object '$TMP/badid.bpf.o': event x_ev: id 0x52540008 is outside 0x52541000..0x5254ffff"
check_err '[bpf "x"]\nprogram = tcp\ncomm = curl' "e.conf:$((L + 1)): comm: program tcp has no pid, comm or cgroup filter"
check_err '[bpf "x"]\nprogram = exec\ncgroup = /tmp' "e.conf:$((L + 1)): cgroup: '/tmp' is not on a cgroup v2 file system"
check_err '[bpf "x"]\nprogram = exec\ncgroup = rttest-no-such-group' "rttest-no-such-group': No such file or directory"
exit 0
