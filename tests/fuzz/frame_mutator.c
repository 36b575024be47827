// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A structure-aware libFuzzer mutator for ringtap streams, linked into
 * every fuzz target.  Every frame carries two CRC32C checksums, so almost
 * every byte-level mutation stops the reader at the damaged frame, and the
 * code behind it (sub-buffer rebuilding, metadata, libtraceevent) would never
 * see a hostile byte.  This mutator parses the input into preambles and
 * frames, mutates one part (a payload, a metadata record, a sub-buffer
 * field, a header field, the frame list) and writes the frames back with
 * lengths, padding, sequence numbers and checksums made valid again.  A
 * share of mutations stays plain byte-level, without repair, so the frame
 * reader's own checks are fuzzed too.
 *
 * An input may hold several files back to back: each "RINGTAP\0" at an
 * 8-aligned offset starts one (fuzz_capture.c splits them the same way).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/stream_format.h"
#include "ringtap/trace_mmap.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define MAX_PARTS 512

enum part_type { PART_PREAMBLE, PART_FRAME, PART_RAW };

struct part {
	enum part_type type;
	struct rt_frame_hdr hdr; /* PART_FRAME */
	uint8_t *p; /* payload (FRAME) or bytes (PREAMBLE, RAW) */
	size_t len;
};

struct stream {
	struct part parts[MAX_PARTS];
	size_t nr;
};

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic for a given libFuzzer seed */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n)
{
	return n ? rnd() % n : 0;
}

static bool is_preamble_at(const uint8_t *d, size_t size, size_t off)
{
	return size - off >= RT_PREAMBLE_SIZE && !memcmp(d + off, RT_MAGIC, 8);
}

static void stream_free(struct stream *s)
{
	for (size_t i = 0; i < s->nr; i++)
		free(s->parts[i].p);
	s->nr = 0;
}

static bool add_part(struct stream *s, enum part_type type,
		     const struct rt_frame_hdr *hdr, const uint8_t *p,
		     size_t len)
{
	struct part *pt;

	if (s->nr == MAX_PARTS)
		return false;
	pt = &s->parts[s->nr];
	*pt = (struct part){.type = type, .len = len};
	if (hdr)
		pt->hdr = *hdr;
	pt->p = malloc(len ? len : 1);
	if (!pt->p)
		return false;
	memcpy(pt->p, p, len);
	s->nr++;
	return true;
}

/* Split @d into preambles, whole frames, and raw bytes for the rest. */
static void stream_parse(struct stream *s, const uint8_t *d, size_t size)
{
	size_t off = 0;

	s->nr = 0;
	while (off < size) {
		struct rt_frame_hdr hdr;
		size_t end;

		if (is_preamble_at(d, size, off)) {
			if (!add_part(s, PART_PREAMBLE, NULL, d + off,
				      RT_PREAMBLE_SIZE))
				break;
			off += RT_PREAMBLE_SIZE;
			continue;
		}
		if (size - off >= RT_FRAME_HDR_SIZE) {
			memcpy(&hdr, d + off, sizeof(hdr));
			if (hdr.magic == RT_FRAME_MAGIC &&
			    hdr.len <= size - off - RT_FRAME_HDR_SIZE) {
				if (!add_part(s, PART_FRAME, &hdr,
					      d + off + RT_FRAME_HDR_SIZE,
					      hdr.len))
					break;
				off += RT_FRAME_HDR_SIZE + rt_pad8(hdr.len);
				if (off > size)
					off = size;
				continue;
			}
		}
		/* raw up to the next file, if any */
		for (end = (off + 8) & ~(size_t)7; end < size; end += 8)
			if (is_preamble_at(d, size, end))
				break;
		if (end > size)
			end = size;
		if (!add_part(s, PART_RAW, NULL, d + off, end - off))
			break;
		off = end;
	}
}

/*
 * Write @s into @out (at most @max bytes): frames get their length,
 * padding, checksums and, with @renumber, sequence numbers recomputed.
 * Returns the size, or 0 if it does not fit.
 */
static size_t stream_write(const struct stream *s, uint8_t *out, size_t max,
			   bool renumber)
{
	uint64_t seq = 0;
	size_t off = 0;

	for (size_t i = 0; i < s->nr; i++) {
		const struct part *pt = &s->parts[i];
		struct rt_frame_hdr hdr = pt->hdr;
		size_t span = pt->len;

		if (pt->type != PART_FRAME) {
			if (pt->len > max - off)
				return 0;
			memcpy(out + off, pt->p, pt->len);
			off += pt->len;
			if (pt->type == PART_PREAMBLE)
				seq = 0;
			continue;
		}
		if (pt->len > RT_FRAME_MAX_PAYLOAD ||
		    RT_FRAME_HDR_SIZE + rt_pad8(pt->len) > max - off)
			return 0;
		hdr.len = (uint32_t)pt->len;
		if (renumber)
			hdr.seq = seq;
		seq++;
		if ((hdr.flags & RT_FRAME_F_PARTIAL_CRC) &&
		    span >= RT_SUBBUF_SIZE)
			span = RT_SUBBUF_SIZE;
		hdr.payload_crc = rt_crc32c(0, pt->p, span);
		hdr.header_crc = rt_crc32c(
			0, &hdr, offsetof(struct rt_frame_hdr, header_crc));
		memcpy(out + off, &hdr, sizeof(hdr));
		memcpy(out + off + sizeof(hdr), pt->p, pt->len);
		memset(out + off + sizeof(hdr) + pt->len, 0,
		       rt_pad8(pt->len) - pt->len);
		off += RT_FRAME_HDR_SIZE + rt_pad8(pt->len);
	}
	return off;
}

/* Recompute the checksums of whatever frames are where they say, in place. */
static void fix_crcs_in_place(uint8_t *d, size_t size)
{
	size_t off = 0;

	while (off + RT_FRAME_HDR_SIZE <= size) {
		struct rt_frame_hdr hdr;
		size_t span;

		if (is_preamble_at(d, size, off)) {
			off += RT_PREAMBLE_SIZE;
			continue;
		}
		memcpy(&hdr, d + off, sizeof(hdr));
		if (hdr.magic != RT_FRAME_MAGIC)
			return;
		span = hdr.len;
		if ((hdr.flags & RT_FRAME_F_PARTIAL_CRC) &&
		    span >= RT_SUBBUF_SIZE)
			span = RT_SUBBUF_SIZE;
		if (span <= size - off - RT_FRAME_HDR_SIZE)
			hdr.payload_crc =
				rt_crc32c(0, d + off + RT_FRAME_HDR_SIZE, span);
		hdr.header_crc = rt_crc32c(
			0, &hdr, offsetof(struct rt_frame_hdr, header_crc));
		memcpy(d + off, &hdr, sizeof(hdr));
		if (hdr.len > size - off - RT_FRAME_HDR_SIZE)
			return;
		off += RT_FRAME_HDR_SIZE + rt_pad8(hdr.len);
	}
}

static struct part *pick_frame(struct stream *s, int type)
{
	size_t idx[MAX_PARTS], n = 0;

	for (size_t i = 0; i < s->nr; i++)
		if (s->parts[i].type == PART_FRAME &&
		    (type < 0 || s->parts[i].hdr.type == type))
			idx[n++] = i;
	return n ? &s->parts[idx[rnd_below(n)]] : NULL;
}

/* Replace @pt's bytes by a LLVMFuzzerMutate()d copy that may grow by @room. */
static bool mutate_bytes(uint8_t **p, size_t *len, size_t off, size_t room)
{
	size_t cap = *len + room, n;
	uint8_t *q;

	if (off > *len)
		return false;
	q = malloc(cap ? cap : 1);
	if (!q)
		return false;
	memcpy(q, *p, *len);
	n = LLVMFuzzerMutate(q + off, *len - off, cap - off);
	free(*p);
	*p = q;
	*len = off + n;
	return true;
}

static const uint64_t interesting[] = {
	0,
	1,
	2,
	7,
	8,
	15,
	16,
	55,
	56,
	57,
	63,
	64,
	255,
	256,
	4095,
	4096,
	4097,
	4080,
	65535,
	65536,
	1u << 20,
	RT_FRAME_MAX_PAYLOAD,
	RT_FRAME_MAX_PAYLOAD + 1,
	0x7ffffff,
	0x8000000,
	0x7fffffff,
	0x80000000,
	0xfffffff0,
	0xffffffff,
	0x100000000ull,
	~0ull,
};

static uint64_t tweak(uint64_t v)
{
	switch (rnd_below(4)) {
	case 0:
		return interesting[rnd_below(sizeof(interesting) /
					     sizeof(interesting[0]))];
	case 1:
		return v + 1 + rnd_below(16);
	case 2:
		return v - 1 - rnd_below(16);
	default:
		return v ^ (1ull << rnd_below(64));
	}
}

/* Mutate the value of one metadata record, keeping the record list valid. */
static bool mutate_record(struct part *pt, size_t room)
{
	size_t offs[1024], n = 0, off = 0, pick, vlen, tail;
	uint32_t len;
	uint16_t tag;
	const uint8_t *val;
	uint8_t *v, *np;
	struct rt_record rec;

	while (n < 1024 &&
	       rt_record_next(pt->p, pt->len, &off, &tag, &val, &len) == 1)
		offs[n++] = (size_t)(val - pt->p) - sizeof(rec);
	if (!n)
		return false;
	pick = offs[rnd_below(n)];
	memcpy(&rec, pt->p + pick, sizeof(rec));
	vlen = rec.len;
	v = malloc(vlen + room + 1);
	if (!v)
		return false;
	memcpy(v, pt->p + pick + sizeof(rec), vlen);
	if ((rec.len == 4 || rec.len == 8) && rnd_below(2)) {
		uint64_t x = 0;

		memcpy(&x, v, rec.len);
		x = tweak(x);
		memcpy(v, &x, rec.len);
	} else if (rnd_below(8) == 0) {
		rec.tag = (uint16_t)(rnd_below(4) ? 1 + rnd_below(24) : rnd());
	} else {
		vlen = LLVMFuzzerMutate(v, vlen, vlen + room);
	}
	tail = pick + sizeof(rec) + rt_pad8(rec.len);
	rec.len = (uint32_t)vlen;
	np = malloc(pick + sizeof(rec) + rt_pad8(vlen) + (pt->len - tail) + 1);
	if (!np) {
		free(v);
		return false;
	}
	memcpy(np, pt->p, pick);
	memcpy(np + pick, &rec, sizeof(rec));
	memcpy(np + pick + sizeof(rec), v, vlen);
	memset(np + pick + sizeof(rec) + vlen, 0, rt_pad8(vlen) - vlen);
	memcpy(np + pick + sizeof(rec) + rt_pad8(vlen), pt->p + tail,
	       pt->len - tail);
	free(v);
	free(pt->p);
	pt->p = np;
	pt->len = pick + sizeof(rec) + rt_pad8(vlen) + (pt->len - tail);
	return true;
}

/* Make a SUBBUF frame's data_len and commit agree with its payload again. */
static void fix_subbuf(struct part *pt)
{
	struct rt_subbuf sb;
	uint64_t dlen;

	if (pt->len < sizeof(sb))
		return;
	memcpy(&sb, pt->p, sizeof(sb));
	if (sb.flags & RT_SUBBUF_F_RAW_PAGE)
		return;
	dlen = pt->len - sizeof(sb);
	if ((sb.commit & RB_MISSED_STORED) && dlen >= 8)
		dlen -= 8;
	sb.data_len = (uint32_t)dlen;
	sb.commit = (sb.commit & ~(uint64_t)RB_COMMIT_MASK) |
		    ((sb.data_start + dlen) & RB_COMMIT_MASK);
	if (sb.emit_from > sb.data_start + dlen)
		sb.emit_from = sb.data_start;
	memcpy(pt->p, &sb, sizeof(sb));
}

static bool mutate_subbuf_field(struct part *pt)
{
	/* offsets of the fields of struct rt_subbuf, with their sizes */
	static const uint8_t fld[][2] = {
		{0, 8},	 {8, 8},  {16, 4}, {20, 4}, {24, 4},
		{28, 4}, {32, 8}, {40, 8}, {48, 4}, {52, 4},
	};
	const uint8_t *f;
	uint64_t v = 0;

	if (pt->len < RT_SUBBUF_SIZE)
		return false;
	if (rnd_below(4) == 0) {
		/* the commit word's flags: missed events, stored count */
		uint64_t c;

		memcpy(&c, pt->p + 8, 8);
		c ^= rnd_below(2) ? RB_MISSED_EVENTS : RB_MISSED_STORED;
		memcpy(pt->p + 8, &c, 8);
		return true;
	}
	f = fld[rnd_below(sizeof(fld) / sizeof(fld[0]))];
	memcpy(&v, pt->p + f[0], f[1]);
	v = tweak(v);
	memcpy(pt->p + f[0], &v, f[1]);
	return true;
}

static bool mutate_header_field(struct part *pt)
{
	switch (rnd_below(5)) {
	case 0:
		pt->hdr.type = (uint16_t)(rnd_below(4) ? rnd_below(8) : rnd());
		break;
	case 1:
		pt->hdr.flags ^=
			(uint16_t)(1u << rnd_below(rnd_below(2) ? 2 : 16));
		break;
	case 2:
		pt->hdr.cpu = (uint32_t)(rnd_below(2) ? rnd_below(8) :
							tweak(pt->hdr.cpu));
		break;
	case 3:
		pt->hdr.seq = tweak(pt->hdr.seq);
		break;
	default:
		/* a payload of another size: cut or extend with zeros */
		{
			size_t n = rnd_below(pt->len + 64);
			uint8_t *q = calloc(1, n + 1);

			if (!q)
				return false;
			memcpy(q, pt->p, n < pt->len ? n : pt->len);
			free(pt->p);
			pt->p = q;
			pt->len = n;
		}
		break;
	}
	return true;
}

static bool mutate_frame_list(struct stream *s)
{
	size_t i, j;
	struct part tmp;

	if (!s->nr)
		return false;
	i = rnd_below(s->nr);
	j = rnd_below(s->nr);
	switch (rnd_below(3)) {
	case 0: /* delete */
		free(s->parts[i].p);
		memmove(&s->parts[i], &s->parts[i + 1],
			(s->nr - i - 1) * sizeof(s->parts[0]));
		s->nr--;
		return true;
	case 1: /* duplicate at j */
		if (s->nr == MAX_PARTS)
			return false;
		tmp = s->parts[i];
		tmp.p = malloc(tmp.len ? tmp.len : 1);
		if (!tmp.p)
			return false;
		memcpy(tmp.p, s->parts[i].p, tmp.len);
		memmove(&s->parts[j + 1], &s->parts[j],
			(s->nr - j) * sizeof(s->parts[0]));
		s->parts[j] = tmp;
		s->nr++;
		return true;
	default: /* swap */
		tmp = s->parts[i];
		s->parts[i] = s->parts[j];
		s->parts[j] = tmp;
		return true;
	}
}

/* One structured mutation of @s; false if none applied. */
static bool mutate_stream(struct stream *s, size_t room)
{
	struct part *pt;

	switch (rnd_below(10)) {
	case 0:
	case 1:
	case 2: /* sub-buffer bytes: the events libtraceevent decodes */
		pt = pick_frame(s, RT_FRAME_SUBBUF);
		if (!pt ||
		    !mutate_bytes(&pt->p, &pt->len,
				  pt->len >= RT_SUBBUF_SIZE ? RT_SUBBUF_SIZE :
							      0,
				  room))
			return false;
		if (rnd_below(4))
			fix_subbuf(pt);
		return true;
	case 3:
	case 4: /* a metadata record: formats, sizes, cmdlines */
		pt = pick_frame(s, rnd_below(2) ? RT_FRAME_HEADER :
						  RT_FRAME_METADATA);
		return pt && mutate_record(pt, room);
	case 5:
		pt = pick_frame(s, RT_FRAME_SUBBUF);
		return pt && mutate_subbuf_field(pt);
	case 6:
		pt = pick_frame(s, -1);
		return pt && mutate_header_field(pt);
	case 7:
		if (rnd_below(4) == 0) {
			/* the reserved preamble flags: fuzz_capture's mode */
			for (size_t i = 0; i < s->nr; i++)
				if (s->parts[i].type == PART_PREAMBLE) {
					s->parts[i].p[12] =
						(uint8_t)rnd_below(8);
					return true;
				}
		}
		return mutate_frame_list(s);
	default: /* any payload, bytes */
		pt = pick_frame(s, -1);
		return pt && mutate_bytes(&pt->p, &pt->len, 0, room);
	}
}

static uint8_t *scratch(size_t n)
{
	static uint8_t *buf;
	static size_t cap;

	if (cap < n) {
		free(buf);
		buf = malloc(n);
		cap = buf ? n : 0;
	}
	return buf;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	static struct stream s;
	uint8_t *out;
	size_t n = 0;
	unsigned int mode;

	rnd_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	mode = rnd_below(16);
	if (mode == 0) /* plain bytes: the frame reader's own checks */
		return LLVMFuzzerMutate(data, size, max_size);
	if (mode == 1) { /* bytes, then valid checksums where frames are */
		size = LLVMFuzzerMutate(data, size, max_size);
		fix_crcs_in_place(data, size);
		return size;
	}
	stream_parse(&s, data, size);
	out = scratch(max_size);
	if (out && mutate_stream(&s, max_size > size ? max_size - size : 0))
		n = stream_write(&s, out, max_size, rnd_below(32) != 0);
	stream_free(&s);
	if (!n)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data, out, n);
	return n;
}

/* Frames of one input, then frames of the other. */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1,
				 const uint8_t *d2, size_t s2, uint8_t *out,
				 size_t max_out, unsigned int seed)
{
	static struct stream a, b;
	size_t cut_a, cut_b, n;

	rnd_state = seed * 0x9E3779B97F4A7C15ULL + 7;
	stream_parse(&a, d1, s1);
	stream_parse(&b, d2, s2);
	cut_a = rnd_below(a.nr + 1);
	cut_b = rnd_below(b.nr + 1);
	for (size_t i = cut_a; i < a.nr; i++)
		free(a.parts[i].p);
	a.nr = cut_a;
	for (size_t i = cut_b; i < b.nr && a.nr < MAX_PARTS; i++) {
		a.parts[a.nr++] = b.parts[i];
		b.parts[i].p = NULL;
	}
	n = stream_write(&a, out, max_out, true);
	stream_free(&a);
	stream_free(&b);
	return n;
}
