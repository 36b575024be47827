// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * block_latency: block requests from issue (block_rq_issue) to completion
 * (block_rq_complete) that took at least min_ns, with device, sector,
 * size and op.  Filters: pid (tgid), comm, cgroup of the issuing task;
 * dev (kernel dev_t).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 min_ns = 1000000;
const volatile __u32 filter_dev = 0;

struct rq_key {
	__u64 sector;
	__u32 dev;
	__u32 pad;
};

struct issued {
	__u64 ts;
	__u32 pid, tgid;
	char comm[RT_BPF_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rq_key);
	__type(value, struct issued);
} inflight SEC(".maps");

SEC("tracepoint/block/block_rq_issue")
int rt_rq_issue(struct trace_event_raw_block_rq *ctx)
{
	struct rq_key k = { .sector = ctx->sector, .dev = ctx->dev };
	struct issued v = {};
	__u64 pt;

	if (filter_dev && ctx->dev != filter_dev)
		return 0;
	if (!rt_current_wanted())
		return 0;
	pt = bpf_get_current_pid_tgid();
	v.ts = bpf_ktime_get_ns();
	v.pid = (__u32)pt;
	v.tgid = pt >> 32;
	bpf_get_current_comm(v.comm, sizeof(v.comm));
	bpf_map_update_elem(&inflight, &k, &v, BPF_ANY);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int rt_rq_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct rq_key k = { .sector = ctx->sector, .dev = ctx->dev };
	struct rt_bpf_block *e;
	struct issued *v;
	__u64 d;

	v = bpf_map_lookup_elem(&inflight, &k);
	if (!v)
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	d = bpf_ktime_get_ns() - v->ts;
	if (d < min_ns) {
		bpf_map_delete_elem(&inflight, &k);
		return 0;
	}
	e = rt_reserve(sizeof(*e), RT_BPF_EV_BLOCK);
	if (e) {
		e->h.pid = v->pid;
		e->h.tgid = v->tgid;
		__builtin_memcpy(e->h.comm, v->comm, sizeof(e->h.comm));
		e->dev = ctx->dev;
		e->sector = ctx->sector;
		e->bytes = ctx->nr_sector * 512;
		e->latency_ns = d;
		e->error = ctx->error;
		bpf_probe_read_kernel_str(e->op, sizeof(e->op), ctx->rwbs);
		rt_submit(e);
	}
	bpf_map_delete_elem(&inflight, &k);
	return 0;
}
