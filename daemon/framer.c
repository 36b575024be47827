// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The bytes of one CPU's stream, whatever carries them.  The file output
 * writes them to cpu<N>-<index>.rtap files, the socket outputs queue them
 * for a collector that writes the very same files; both go through this
 * module so that the two can never drift apart:
 *
 *   - a "file" runs from the preamble and a HEADER (with FILE_INDEX and
 *     FILE_CPU) to an END frame, preceded by the cmdlines METADATA when it
 *     fits within max_file_size;
 *   - a sub-buffer is carried from its page's start unless this file holds
 *     that start already (so every rotated file decodes alone);
 *   - events an output could not take are counted and recorded in one LOST
 *     frame as soon as it can take frames again.
 *
 * Where the bytes go is the output's emit() callback.
 */
#include <errno.h>
#include <string.h>

#include "ringtapd.h"

#define END_FRAME_SIZE \
	(RT_FRAME_HDR_SIZE + sizeof(struct rt_end) + sizeof(struct rt_cpu_stats))

static const uint8_t zeros[8];

uint64_t rt_framer_tail_reserve(struct rt_instance *inst)
{
	/* Room for twice today's cmdlines, and never less than 4 KiB:
	 * saved_cmdlines_size (6552 entries here) would reserve far more
	 * than the table ever holds. */
	struct rt_buf b = { 0 };
	uint64_t cmd = rt_metadata_cmdlines(inst, &b) == 0 ? b.len : 0;

	rt_buf_free(&b);
	cmd = 2 * cmd < 4096 ? 4096 : 2 * cmd;
	return RT_FRAME_HDR_SIZE + rt_pad8(cmd) + END_FRAME_SIZE;
}

int rt_framer_frame(struct rt_framer *f, uint16_t type, uint16_t flags,
		    const struct iovec *pl, int plcnt, uint64_t events)
{
	struct rt_frame_hdr hdr;
	struct iovec iov[RT_FRAMER_MAX_PIECES + 2];
	size_t len = 0, total;
	int n = 0, r;

	rt_frame_hdr_init(&hdr, type, flags, f->cpu, f->seq, pl, plcnt);
	iov[n++] = (struct iovec){ &hdr, sizeof(hdr) };
	for (int i = 0; i < plcnt; i++) {
		iov[n++] = pl[i];
		len += pl[i].iov_len;
	}
	if (rt_pad8(len) != len)
		iov[n++] = (struct iovec){ (void *)zeros, rt_pad8(len) - len };
	total = sizeof(hdr) + rt_pad8(len);
	r = f->emit(f, iov, n, total, &hdr, events);
	if (!r) {
		f->seq++;
		f->size += total;
	}
	return r;
}

int rt_framer_begin(struct rt_framer *f)
{
	struct rt_preamble pre;
	struct rt_buf extra = { 0 };
	struct iovec iov = { &pre, sizeof(pre) };
	int r;

	f->size = 0;
	f->seq = 0;
	f->have_page = false;
	rt_preamble_init(&pre);
	r = f->emit(f, &iov, 1, sizeof(pre), NULL, 0);
	if (!r)
		f->size = sizeof(pre);
	if (!r)
		r = rt_record_add_u32(&extra, RT_TAG_FILE_INDEX, f->index);
	if (!r)
		r = rt_record_add_u32(&extra, RT_TAG_FILE_CPU, f->cpu);
	if (!r) {
		/* s->header as it stands: a reload replaces it */
		const struct rt_buf *h = f->s->header;
		struct iovec pl[2] = {
			{ h->data, h->len },
			{ extra.data, extra.len },
		};

		r = rt_framer_frame(f, RT_FRAME_HEADER, 0, pl, 2, 0);
	}
	rt_buf_free(&extra);
	f->open = !r;
	return r;
}

uint64_t rt_framer_room(const struct rt_framer *f)
{
	if (!f->s->out->max_file_size)
		return UINT64_MAX;
	if (f->size + END_FRAME_SIZE >= f->s->out->max_file_size)
		return 0;
	return f->s->out->max_file_size - f->size - END_FRAME_SIZE;
}

int rt_framer_end(struct rt_framer *f, uint32_t reason,
		  const struct rt_cpu_stats *st)
{
	struct rt_end end = { .reason = reason, .nr_stats = st ? 1 : 0 };
	struct iovec pl[2] = {
		{ &end, sizeof(end) },
		{ (void *)st, st ? sizeof(*st) : 0 },
	};
	struct rt_buf b = { 0 };
	int r = 0;

	/* the pid -> comm table is a convenience: not being able to read
	 * it must not cost the END frame, and it is left out where it would
	 * take the file beyond max_file_size */
	if (rt_metadata_cmdlines(f->s->inst, &b) == 0 &&
	    RT_FRAME_HDR_SIZE + rt_pad8(b.len) <= rt_framer_room(f)) {
		struct iovec md = { b.data, b.len };

		r = rt_framer_frame(f, RT_FRAME_METADATA, 0, &md, 1, 0);
	}
	rt_buf_free(&b);
	if (!r)
		r = rt_framer_frame(f, RT_FRAME_END, 0, pl, st ? 2 : 1, 0);
	f->open = false;
	return r;
}

int rt_framer_flush_lost(struct rt_framer *f, struct rt_lost *flushed)
{
	struct rt_lost lost = {
		.events = f->pending_events,
		.bytes = f->pending_bytes,
		.last_ts = f->last_ts,
		.reason = RT_LOST_SINK,
	};
	struct iovec pl = { &lost, sizeof(lost) };
	int r;

	if (!f->pending_events && !f->pending_bytes)
		return 0;
	r = rt_framer_frame(f, RT_FRAME_LOST, 0, &pl, 1, 0);
	if (r < 0)
		return r;
	f->pending_events = f->pending_bytes = 0;
	if (flushed)
		*flushed = lost;
	return 1;
}

uint64_t rt_framer_prepare(const struct rt_framer *f,
			   const struct rt_subbuf_ref *ref, struct rt_subbuf *sb)
{
	*sb = ref->sb;
	/* From memory: carry the page from its start unless this file holds
	 * it.  (A spliced page is whole already.) */
	if (ref->pipe_fd < 0 &&
	    !(f->have_page && f->page_id == sb->subbuf_id &&
	      f->page_ts == sb->page_ts && f->page_end == sb->data_start)) {
		sb->data_len += sb->data_start;
		sb->data_start = 0;
	}
	return RT_FRAME_HDR_SIZE + sizeof(*sb) + sb->data_len +
	       ref->stored_lost_len + ref->pipe_len + 8;
}

bool rt_framer_must_rotate(const struct rt_framer *f, uint64_t frame_len,
			   uint64_t tail_reserve)
{
	uint64_t max = f->s->out->max_file_size;

	return max && f->size + frame_len + tail_reserve > max;
}

int rt_framer_subbuf(struct rt_framer *f, const struct rt_subbuf_ref *ref,
		     const struct rt_subbuf *sb)
{
	struct iovec pl[2] = {
		{ (void *)sb, sizeof(*sb) },
		{ (void *)(ref->page + RB_PAGE_HDR_SIZE + sb->data_start),
		  sb->data_len + ref->stored_lost_len },
	};
	int r = rt_framer_frame(f, RT_FRAME_SUBBUF, 0, pl, 2, sb->entries);

	if (!r)
		rt_framer_page_done(f, sb, true);
	return r;
}

void rt_framer_page_done(struct rt_framer *f, const struct rt_subbuf *sb,
			 bool from_memory)
{
	f->have_page = from_memory;
	f->page_id = sb->subbuf_id;
	f->page_ts = sb->page_ts;
	f->page_end = sb->data_start + sb->data_len;
	if (sb->page_ts)
		f->last_ts = sb->page_ts;
}

/*
 * Events in [from, to) of a sub-buffer's data area, by their ring-buffer
 * headers (u32 type_len:5, time_delta:27), for a page the read() reader
 * handed over without a count.  Stops at anything that does not fit.
 */
static uint64_t count_events(const uint8_t *data, uint32_t from, uint32_t to)
{
	uint64_t n = 0, off = from;

	while (to - off >= 4) {
		uint32_t hdr, type_len, word;
		uint64_t total;

		memcpy(&hdr, data + off, 4);
		type_len = hdr & 31;
		if (type_len == 29 && !(hdr >> 5))
			break; /* null padding: the end of the data */
		if (type_len == 30 || type_len == 31) {
			total = 8;
		} else if (type_len == 29 || type_len == 0) {
			if (to - off < 8)
				break;
			memcpy(&word, data + off + 4, 4);
			if (type_len == 29) {
				total = 4 + (uint64_t)word; /* discarded */
			} else {
				total = 8 + (((uint64_t)word - 4 + 3) & ~3ull);
				n += word >= 4;
			}
		} else {
			total = 4 + (uint64_t)type_len * 4;
			n++;
		}
		if (total < 4 || total > to - off)
			break;
		off += total;
	}
	return n;
}

void rt_framer_count_lost(struct rt_framer *f, const struct rt_subbuf_ref *ref,
			  bool drain)
{
	uint64_t bytes = ref->pipe_fd >= 0 ? ref->pipe_len : ref->sb.data_len;
	uint64_t events = ref->sb.entries;

	if (drain && ref->pipe_fd >= 0)
		rt_drain_pipe(ref->pipe_fd, ref->pipe_len);
	else if (!events && ref->pipe_fd < 0 && ref->page)
		/* reader = copy: no count from the kernel; the page is here */
		events = count_events(ref->page + RB_PAGE_HDR_SIZE,
				      ref->sb.emit_from,
				      ref->sb.data_start + ref->sb.data_len);
	f->pending_events += events;
	f->pending_bytes += bytes;
	f->s->lost_events[f->cpu] += events;
	f->s->lost_bytes[f->cpu] += bytes;
	f->have_page = false;
}
