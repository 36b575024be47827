// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * syscall_latency: pairs raw_syscalls sys_enter/sys_exit per thread and
 * emits only the calls that took at least min_ns, with their number,
 * duration and return value.  Filters: pid (tgid), comm, cgroup, nr.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 min_ns = 10000000;
const volatile __s32 filter_nr = -1; /* -1: every syscall */

struct start {
	__u64 ts;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int rt_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s;

	if (filter_nr >= 0 && ctx->id != filter_nr)
		return 0;
	if (!rt_current_wanted())
		return 0;
	s.ts = bpf_ktime_get_ns();
	s.nr = ctx->id;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int rt_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct rt_bpf_syscall *e;
	struct start *s;
	__u64 d;

	s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	d = bpf_ktime_get_ns() - s->ts;
	if (d < min_ns || s->nr != ctx->id) {
		bpf_map_delete_elem(&starts, &tid);
		return 0;
	}
	e = rt_reserve(sizeof(*e), RT_BPF_EV_SYSCALL);
	if (e) {
		e->nr = s->nr;
		e->ret = ctx->ret;
		e->duration_ns = d;
		rt_submit(e);
	}
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}
