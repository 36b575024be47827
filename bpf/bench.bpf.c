// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench: one event per getppid() call, by either route into the instance
 * (bench/run-bpf-bench.sh): the ring buffer ringtapd drains into
 * trace_marker_raw (route = ringbuf), or bpf_trace_printk (route = printk),
 * which lands in every instance with bpf_trace:bpf_trace_printk enabled.
 * Only calls of the filtered process count (pid = the load generator).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"

char LICENSE[] SEC("license") = "GPL";

__u64 seq = 0;

/* route = printk: ringtapd turns this one's autoload on, the other off */
SEC("tracepoint/syscalls/sys_enter_getppid")
int rt_bench_printk(void *ctx)
{
	if (!rt_current_wanted())
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	if (bpf_printk("ringtap bench seq=%llu", __sync_fetch_and_add(&seq, 1)) < 0)
		rt_count(RT_BPF_STAT_DROPPED);
	else
		rt_count(RT_BPF_STAT_EMITTED);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int rt_bench_ringbuf(void *ctx)
{
	struct rt_bpf_bench *e;

	if (!rt_current_wanted())
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	e = rt_reserve(sizeof(*e), RT_BPF_EV_BENCH);
	if (!e)
		return 0;
	e->seq = __sync_fetch_and_add(&seq, 1);
	rt_submit(e);
	return 0;
}
