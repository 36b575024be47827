// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * runqueue_latency: time from a task's wakeup (sched_wakeup,
 * sched_wakeup_new) or preemption to its running again (sched_switch);
 * emits only waits of at least min_ns.  Filters: pid (tgid), comm,
 * cgroup, of the task that waits.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 min_ns = 10000000;

#define TASK_RUNNING 0

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} queued SEC(".maps");

static __always_inline void enqueue(struct task_struct *p)
{
	char comm[RT_BPF_COMM_LEN];
	__u32 pid = BPF_CORE_READ(p, pid);
	__u64 ts;

	if (!pid)
		return;
	BPF_CORE_READ_STR_INTO(&comm, p, comm);
	if (!rt_task_wanted(p, comm))
		return;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&queued, &pid, &ts, BPF_ANY);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(rt_wakeup, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(rt_wakeup_new, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rt_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct rt_bpf_runq *e;
	__u32 pid;
	__u64 *tsp, d;

	/* a preempted task waits on the run queue too */
	if (BPF_CORE_READ(prev, __state) == TASK_RUNNING)
		enqueue(prev);
	pid = BPF_CORE_READ(next, pid);
	tsp = bpf_map_lookup_elem(&queued, &pid);
	if (!tsp)
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	d = bpf_ktime_get_ns() - *tsp;
	bpf_map_delete_elem(&queued, &pid);
	if (d < min_ns)
		return 0;
	e = rt_reserve(sizeof(*e), RT_BPF_EV_RUNQ);
	if (!e)
		return 0;
	rt_hdr_task(&e->h, next);
	e->latency_ns = d;
	e->prev_pid = BPF_CORE_READ(prev, pid);
	BPF_CORE_READ_STR_INTO(&e->prev_comm, prev, comm);
	rt_submit(e);
	return 0;
}
