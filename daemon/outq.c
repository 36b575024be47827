// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the socket (sink_socket.c) and NATS (sink_nats.c) outputs' send
 * queues share: the queue_size / spill_size bounds, the per-CPU spill
 * file, the "queue full" episode logging, the reconnect backoff, the
 * identity from the HEADER records, the token_file, and the reader's side
 * of write() up to the queue (framing, rotation, the room it needs).  The
 * queues themselves differ (a byte stream in chunks against one entry a
 * message) and stay in their sinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtapd.h"

#define LOST_FRAME_SIZE (RT_FRAME_HDR_SIZE + sizeof(struct rt_lost))

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

uint64_t rt_outq_backoff_ms(unsigned int min_ms, unsigned int max_ms,
			    unsigned int attempt)
{
	uint64_t d = min_ms;
	uint32_t rnd = 0;

	for (unsigned int i = 0; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* full jitter on half the range: [d/2, d] */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		rnd = (uint32_t)(ts.tv_sec * 1000ull + ts.tv_nsec / 1000000) *
		      2654435761u;
	}
	return d / 2 + (d - d / 2) * rnd / UINT32_MAX;
}

void rt_outq_header_identity(const struct rt_buf *h, char *host,
			     size_t host_size, char *boot_id,
			     char *capture_id)
{
	size_t off = 0;
	uint16_t tag;
	const uint8_t *val;
	uint32_t len;

	while (rt_record_next(h->data, h->len, &off, &tag, &val, &len) == 1) {
		char *dst = tag == RT_TAG_HOSTNAME ? host :
			    tag == RT_TAG_BOOT_ID  ? boot_id :
			    tag == RT_TAG_CAPTURE_ID ? capture_id :
						     NULL;

		if (dst && len < 64)
			snprintf(dst, 64, "%.*s", (int)len, val);
	}
	if (!host[0])
		snprintf(host, host_size, "unknown");
}

ssize_t rt_outq_read_token(const char *name, const char *path, char *buf,
			   size_t size)
{
	ssize_t n;
	int fd;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		log_err("output '%s': cannot read token_file '%s': %m",
			name, path);
		return r;
	}
	n = read(fd, buf, size);
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n <= 0 || (size_t)n >= size) {
		log_err("output '%s': token_file '%s' is empty or longer than %zu bytes",
			name, path, size - 1);
		return -EINVAL;
	}
	return n;
}

void rt_outq_rotate(struct rt_framer *f)
{
	rt_framer_end(f, RT_END_ROTATE, NULL);
	f->index++;
	rt_framer_begin(f);
}

int rt_outq_end(struct rt_framer *f, const struct rt_cpu_stats *st,
		const char *name, int cpu, bool *dropping)
{
	struct rt_cpu_stats final = *st;

	final.lost_sink = f->s->lost_events[cpu];
	rt_outq_flush_lost(f, name, cpu, dropping);
	return rt_framer_end(f, RT_END_SHUTDOWN, &final);
}

int rt_outq_begin(struct rt_framer *f, const struct rt_subbuf_ref *ref)
{
	/* never offered (can_splice is false); count, not corrupt */
	if (ref->pipe_fd >= 0)
		return -EINVAL;
	if (!f->open && rt_framer_begin(f) < 0)
		return -ENOMEM;
	return 0;
}

uint64_t rt_outq_prepare(struct rt_framer *f, const struct rt_subbuf_ref *ref,
			 struct rt_subbuf *sb, uint64_t tail_reserve,
			 bool *rot)
{
	uint64_t frame_len = rt_framer_prepare(f, ref, sb);

	*rot = rt_framer_must_rotate(f, frame_len, tail_reserve);
	if (*rot) {
		/* the new file carries the page from its start */
		f->have_page = false;
		frame_len = rt_framer_prepare(f, ref, sb);
	}
	return frame_len + LOST_FRAME_SIZE;
}

int rt_outq_subbuf(struct rt_framer *f, const struct rt_subbuf_ref *ref,
		   const struct rt_subbuf *sb, bool rot, const char *name,
		   int cpu, bool *dropping)
{
	if (rot)
		rt_outq_rotate(f);
	rt_outq_flush_lost(f, name, cpu, dropping);
	return rt_framer_subbuf(f, ref, sb);
}
