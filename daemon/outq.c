// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the socket (sink_socket.c) and NATS (sink_nats.c) outputs' send
 * queues share: the queue_size / spill_size bounds, the per-CPU spill
 * file and the "queue full" episode logging.  The queues themselves
 * differ (a byte stream in chunks against one entry a message) and stay
 * in their sinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ringtap/log.h"
#include "ringtapd.h"

bool rt_outq_mem_fits(const struct rt_output *o, uint64_t mem_total,
		      uint64_t total)
{
	return mem_total + total <= o->queue_size;
}

bool rt_outq_spill_fits(const struct rt_output *o, bool spill_failed,
			uint64_t spill_total, uint64_t total)
{
	return o->spill_size && !spill_failed &&
	       spill_total + total <= o->spill_size;
}

int rt_outq_open_spill(const char *name, const char *dir, int cpu,
		       int *spill_fd, bool *spill_failed)
{
	char path[PATH_MAX];
	int r = rt_mkdir_p(dir, 0700);

	snprintf(path, sizeof(path), "%s/cpu%d.spill", dir, cpu);
	if (!r) {
		*spill_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0600);
		r = *spill_fd < 0 ? -errno : 0;
	}
	if (r < 0) {
		log_err("output '%s': cpu %d: cannot spill to '%s': %s; the queue stays in memory",
			name, cpu, path, strerror(-r));
		*spill_failed = true;
	}
	return r;
}

void rt_outq_flush_lost(struct rt_framer *f, const char *name, int cpu,
			bool *dropping)
{
	struct rt_lost lost;

	if (rt_framer_flush_lost(f, &lost) <= 0)
		return;
	log_notice("output '%s': cpu %d: queueing again; %llu events (%llu bytes) were dropped while the queue was full",
		   name, cpu, (unsigned long long)lost.events,
		   (unsigned long long)lost.bytes);
	*dropping = false;
}

void rt_outq_count_lost(struct rt_framer *f, const struct rt_subbuf_ref *ref,
			const struct rt_output *o, int cpu, bool *dropping,
			const char *peer_kind, const char *peer)
{
	rt_framer_count_lost(f, ref, true);
	if (!*dropping)
		log_err("output '%s': cpu %d: queue full (queue_size %llu, spill_size %llu, %s %s): dropping sub-buffers and counting their events",
			o->name, cpu, (unsigned long long)o->queue_size,
			(unsigned long long)o->spill_size, peer_kind, peer);
	*dropping = true;
}
