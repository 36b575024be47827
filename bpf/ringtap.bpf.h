/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every ringtap BPF program shares: the ring buffer its events go to
 * (ringtapd gives all programs one, through bpf_map__reuse_fd), its
 * statistics map, the pid/comm/cgroup filters, and the event header.
 * Include after vmlinux.h and the libbpf headers.
 */
#ifndef RINGTAP_BPF_H
#define RINGTAP_BPF_H

#include "ringtap/bpf_events.h"

/* The events, drained by ringtapd into the instance's trace_marker_raw.
 * The size here is a placeholder: ringtapd's shared map replaces it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rt_events SEC(".maps");

/* seen / emitted / dropped, per CPU (enum rt_bpf_stat). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RT_BPF_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rt_stats SEC(".maps");

/*
 * External objects: RT_EVENT(NAME, ID) declares an event the object emits
 * as `struct NAME`, which starts with `struct rt_bpf_hdr h` and is
 * reserved with rt_reserve(sizeof(struct NAME), ID); ID is the object's
 * choice in RT_BPF_ID_EXT_MIN..RT_BPF_ID_EXT_MAX.  ringtapd reads the
 * declaration and the struct from the object's BTF (a variable in section
 * .ringtap.events, never loaded), describes the layout in the capture's
 * metadata, and `ringtap report` shows the events as ringtap:NAME with
 * typed fields (docs/bpf.md, "External objects").
 */
#define RT_EVENT(NAME, ID)                                                  \
	struct {                                                            \
		int (*id)[ID];                                              \
		struct NAME layout[0];                                      \
	} rt_event__##NAME SEC(".ringtap.events")

/* Filters, set by ringtapd before load; 0 / empty = everything. */
const volatile __u32 rt_filter_tgid = 0;
const volatile __u64 rt_filter_cgroup = 0;
const volatile char rt_filter_comm[RT_BPF_COMM_LEN] = {};

static __always_inline void rt_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&rt_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline bool rt_comm_match(const char *comm)
{
	if (!rt_filter_comm[0])
		return true;
	for (int i = 0; i < RT_BPF_COMM_LEN; i++) {
		if (comm[i] != rt_filter_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

/* Does @task (not the current one; @comm read from it) pass the
 * section's filters?  Its cgroup is its cgroup v2 group, as for
 * bpf_get_current_cgroup_id(). */
static __always_inline bool rt_task_wanted(struct task_struct *task,
					   const char *comm)
{
	if (rt_filter_tgid && BPF_CORE_READ(task, tgid) != rt_filter_tgid)
		return false;
	if (rt_filter_cgroup &&
	    BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id) != rt_filter_cgroup)
		return false;
	return rt_comm_match(comm);
}

/* The same for the current task, cgroup included. */
static __always_inline bool rt_current_wanted(void)
{
	char comm[RT_BPF_COMM_LEN];

	if (rt_filter_tgid && (bpf_get_current_pid_tgid() >> 32) != rt_filter_tgid)
		return false;
	if (rt_filter_cgroup && bpf_get_current_cgroup_id() != rt_filter_cgroup)
		return false;
	if (!rt_filter_comm[0])
		return true;
	bpf_get_current_comm(comm, sizeof(comm));
	return rt_comm_match(comm);
}

/* A zeroed event of @size with its header for the current task, or NULL
 * (counted as a drop) when the ring buffer is full. */
static __always_inline void *rt_reserve(__u32 size, __u32 id)
{
	struct rt_bpf_hdr *h = bpf_ringbuf_reserve(&rt_events, size, 0);
	__u64 pt;

	if (!h) {
		rt_count(RT_BPF_STAT_DROPPED);
		return NULL;
	}
	__builtin_memset(h, 0, size);
	pt = bpf_get_current_pid_tgid();
	h->id = id;
	h->pid = (__u32)pt;
	h->tgid = pt >> 32;
	h->cpu = bpf_get_smp_processor_id();
	h->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	return h;
}

/* Fill the header from @task instead of the current task. */
static __always_inline void rt_hdr_task(struct rt_bpf_hdr *h,
					struct task_struct *task)
{
	h->pid = BPF_CORE_READ(task, pid);
	h->tgid = BPF_CORE_READ(task, tgid);
	BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
}

/*
 * Waking ringtapd for every event costs more than the event (an irq_work
 * and a wakeup each): it is woken once RT_WAKEUP_BYTES wait, and otherwise
 * finds the events when it polls (every RT_BPF_DRAIN_MS, daemon/bpf.c).
 */
#define RT_WAKEUP_BYTES (64 * 1024)

static __always_inline void rt_submit(void *ev)
{
	__u64 wake = bpf_ringbuf_query(&rt_events, BPF_RB_AVAIL_DATA) >=
				     RT_WAKEUP_BYTES ?
			     BPF_RB_FORCE_WAKEUP :
			     BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(ev, wake);
	rt_count(RT_BPF_STAT_EMITTED);
}

#endif
