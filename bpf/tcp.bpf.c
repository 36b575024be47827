// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp: TCP state changes (sock:inet_sock_set_state) and retransmits
 * (tcp:tcp_retransmit_skb) with addresses and ports.  Filter: port (local
 * or remote).  These run in softirq context as often as not, so the
 * header's pid/comm is whoever was on the CPU; no pid/comm filter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u16 filter_port = 0;

#define AF_INET 2
#define IPPROTO_TCP 6

static __always_inline bool port_wanted(__u16 sport, __u16 dport)
{
	return !filter_port || sport == filter_port || dport == filter_port;
}

static __always_inline void addr_copy(__u8 *dst, __u16 family,
				      const __u8 *v4, const __u8 *v6)
{
	/* the verifier refuses reads from a computed ctx pointer */
	if (family == AF_INET) {
		dst[10] = 0xff;
		dst[11] = 0xff;
		bpf_probe_read_kernel(dst + 12, 4, v4);
	} else {
		bpf_probe_read_kernel(dst, 16, v6);
	}
}

SEC("tracepoint/sock/inet_sock_set_state")
int rt_tcp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct rt_bpf_tcp *e;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	if (!port_wanted(ctx->sport, ctx->dport))
		return 0;
	e = rt_reserve(sizeof(*e), RT_BPF_EV_TCP_STATE);
	if (!e)
		return 0;
	e->family = ctx->family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	e->oldstate = ctx->oldstate;
	e->newstate = ctx->newstate;
	addr_copy(e->saddr, ctx->family, ctx->saddr, ctx->saddr_v6);
	addr_copy(e->daddr, ctx->family, ctx->daddr, ctx->daddr_v6);
	rt_submit(e);
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int rt_tcp_retransmit(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	struct rt_bpf_tcp *e;

	rt_count(RT_BPF_STAT_SEEN);
	if (!port_wanted(ctx->sport, ctx->dport))
		return 0;
	e = rt_reserve(sizeof(*e), RT_BPF_EV_TCP_RETRANSMIT);
	if (!e)
		return 0;
	e->family = ctx->family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	e->oldstate = ctx->state;
	e->newstate = ctx->state;
	addr_copy(e->saddr, ctx->family, ctx->saddr, ctx->saddr_v6);
	addr_copy(e->daddr, ctx->family, ctx->daddr, ctx->daddr_v6);
	rt_submit(e);
	return 0;
}
