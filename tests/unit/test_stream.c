// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for lib/stream_format.c: CRC32C, frame and record helpers and
 * the sequential reader, including hostile and truncated input.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringtap/stream_format.h"
#include "ringtap/trace_mmap.h"

/* The table-driven path of rt_crc32c(), not in the header: tests only. */
extern uint32_t rt_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* ---- helpers ---- */

/* rt_record_next() into the caller's off, tag, val and len */
#define REC_NEXT(p, size) rt_record_next((p), (size), &off, &tag, &val, &len)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng();
}

/* Bit-at-a-time CRC32C, straight from the definition: the oracle. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & -(c & 1));
	}
	return ~c;
}

struct exp_frame {
	uint16_t type;
	uint16_t flags;
	uint32_t cpu;
	uint64_t seq;
	uint32_t len;
	uint64_t offset; /* of the header; payload follows at +32 */
	/*
	 * Page image frames (type, flags, len above as on disk): the payload
	 * the reader hands out, struct rt_subbuf then the carried bytes.
	 */
	uint8_t *compact;
	uint32_t compact_len;
};

struct stream {
	struct rt_buf b;
	struct exp_frame f[64];
	int n;
};

static const uint8_t zeros[8];

static void stream_init(struct stream *s)
{
	struct rt_preamble pre;

	memset(s, 0, sizeof(*s));
	rt_preamble_init(&pre);
	assert_int_equal(rt_buf_append(&s->b, &pre, sizeof(pre)), 0);
}

/* Append a frame whose payload is the concatenation of @a and @b. */
static void stream_frame2(struct stream *s, uint16_t type, uint16_t flags,
			  uint32_t cpu, const void *a, size_t alen,
			  const void *b, size_t blen)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	struct exp_frame *e = &s->f[s->n];
	struct rt_frame_hdr hdr;

	assert_true(s->n < 64);
	rt_frame_hdr_init(&hdr, type, flags, cpu, s->n, iov, 2);
	*e = (struct exp_frame){ .type = type, .flags = flags, .cpu = cpu,
				 .seq = s->n, .len = alen + blen,
				 .offset = s->b.len };
	assert_int_equal(rt_buf_append(&s->b, &hdr, sizeof(hdr)), 0);
	assert_int_equal(rt_buf_append(&s->b, a, alen), 0);
	assert_int_equal(rt_buf_append(&s->b, b, blen), 0);
	assert_int_equal(rt_buf_append(&s->b, zeros,
				       rt_pad8(alen + blen) - (alen + blen)),
			 0);
	s->n++;
}

static void stream_frame(struct stream *s, uint16_t type, uint32_t cpu,
			 const void *p, size_t len)
{
	stream_frame2(s, type, 0, cpu, p, len, NULL, 0);
}

static const uint8_t subbuf_data[13] = "event bytes!";

/* preamble + HEADER + SUBBUF + LOST + METADATA + END, all padding kinds. */
static void stream_sample(struct stream *s)
{
	struct rt_buf rec = { 0 };
	struct rt_subbuf sb = {
		.page_ts = 0x1122334455667788ull, .commit = 13 | (1ull << 31),
		.data_start = 0, .data_len = 13, .emit_from = 0,
		.subbuf_id = 7, .entries = 2, .overrun = 5,
		.subbuf_size = 4096,
	};
	struct rt_lost lost = { .events = 42, .bytes = 4080, .last_ts = 99,
				.reason = RT_LOST_SINK };
	struct rt_end end = { .reason = RT_END_SHUTDOWN, .nr_stats = 1 };
	struct rt_cpu_stats st = { .cpu = 3, .events = 2, .bytes = 13,
				   .subbufs = 1, .lost = 5, .reads = 9 };

	stream_init(s);
	assert_int_equal(rt_record_add_str(&rec, RT_TAG_TOOL, "ringtapd 0.1.0"),
			 0);
	assert_int_equal(rt_record_add_u32(&rec, RT_TAG_FILE_CPU, 3), 0);
	assert_int_equal(rt_record_add_u64(&rec, RT_TAG_START_REALTIME,
					   0x0102030405060708ull), 0);
	stream_frame(s, RT_FRAME_HEADER, 3, rec.data, rec.len);
	stream_frame2(s, RT_FRAME_SUBBUF, 0, 3, &sb, sizeof(sb), subbuf_data,
		      sizeof(subbuf_data));
	stream_frame(s, RT_FRAME_LOST, 3, &lost, sizeof(lost));
	rt_buf_free(&rec);
	assert_int_equal(rt_record_add_str(&rec, RT_TAG_CMDLINES, "1 init\n"),
			 0);
	stream_frame(s, RT_FRAME_METADATA, 3, rec.data, rec.len);
	stream_frame2(s, RT_FRAME_END, 0, 3, &end, sizeof(end), &st,
		      sizeof(st));
	rt_buf_free(&rec);
}

static int memfd_with(const void *p, size_t n)
{
	int fd = memfd_create("rtap", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* "at byte N" followed by something other than a digit. */
static bool msg_has_offset(const char *msg, uint64_t off)
{
	char pat[48];
	const char *p = msg;

	snprintf(pat, sizeof(pat), "at byte %" PRIu64, off);
	while ((p = strstr(p, pat))) {
		p += strlen(pat);
		if (*p < '0' || *p > '9')
			return true;
	}
	return false;
}

/* A page image frame as the reader hands it out: in the compact form. */
static void expect_compact(const struct stream *s, const struct exp_frame *e,
			   const struct rt_frame *f)
{
	struct iovec iov = { e->compact, e->compact_len };
	struct rt_frame_hdr want, disk;

	rt_frame_hdr_init(&want, RT_FRAME_SUBBUF,
			  e->flags & ~RT_FRAME_F_PAGE_IMAGE, e->cpu, e->seq,
			  &iov, 1);
	assert_int_equal(f->hdr.magic, RT_FRAME_MAGIC);
	assert_int_equal(f->hdr.type, RT_FRAME_SUBBUF);
	assert_int_equal(f->hdr.flags, e->flags & ~RT_FRAME_F_PAGE_IMAGE);
	assert_int_equal(f->hdr.cpu, e->cpu);
	assert_int_equal(f->hdr.seq, e->seq);
	assert_int_equal(f->hdr.len, e->compact_len);
	assert_int_equal(f->offset, e->offset);
	assert_memory_equal(f->payload, e->compact, e->compact_len);
	assert_memory_equal(f->payload + e->compact_len, zeros,
			    rt_pad8(e->compact_len) - e->compact_len);
	/* the on-disk checksum, still valid for the compact payload */
	assert_int_equal(f->hdr.payload_crc,
			 crc32c_bitwise(e->compact, e->compact_len));
	assert_int_equal(f->hdr.payload_crc,
			 rt_crc32c(0, f->payload, f->hdr.len));
	memcpy(&disk, s->b.data + e->offset, sizeof(disk));
	assert_int_equal(f->hdr.payload_crc, disk.payload_crc);
	assert_int_equal(rt_frame_hdr_check(&f->hdr), 0);
	assert_memory_equal(&f->hdr, &want, RT_FRAME_HDR_SIZE);
}

static void expect_frame(const struct stream *s, int i,
			 const struct rt_frame *f)
{
	const struct exp_frame *e = &s->f[i];

	if (e->compact) {
		expect_compact(s, e, f);
		return;
	}
	assert_int_equal(f->hdr.magic, RT_FRAME_MAGIC);
	assert_int_equal(f->hdr.type, e->type);
	assert_int_equal(f->hdr.flags, e->flags);
	assert_int_equal(f->hdr.cpu, e->cpu);
	assert_int_equal(f->hdr.seq, e->seq);
	assert_int_equal(f->hdr.len, e->len);
	assert_int_equal(f->offset, e->offset);
	assert_memory_equal(&f->hdr, s->b.data + e->offset, RT_FRAME_HDR_SIZE);
	if (e->len)
		assert_memory_equal(f->payload,
				    s->b.data + e->offset + RT_FRAME_HDR_SIZE,
				    e->len);
}

/* Read all of @s from @r, expecting every frame and a clean end. */
static void expect_stream(const struct stream *s, struct rt_reader *r)
{
	struct rt_frame f;

	assert_int_equal(rt_reader_offset(r), RT_PREAMBLE_SIZE);
	for (int i = 0; i < s->n; i++) {
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(s, i, &f);
		assert_int_equal(rt_reader_offset(r),
				 i + 1 < s->n ? s->f[i + 1].offset : s->b.len);
	}
	assert_int_equal(rt_reader_next(r, &f), RT_READ_EOF);
	assert_int_equal(rt_reader_next(r, &f), RT_READ_EOF);
	assert_string_equal(rt_reader_error(r), "");
	assert_int_equal(rt_reader_offset(r), s->b.len);
}

/* ---- CRC32C ---- */

static void test_crc32c_vectors(void **state)
{
	uint8_t buf[32];

	assert_int_equal(rt_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(rt_crc32c_sw(0, "123456789", 9), 0xE3069283);
	assert_int_equal(rt_crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI) B.4 */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rt_crc32c(0, buf, 32), 0x8A9136AA);
	assert_int_equal(rt_crc32c_sw(0, buf, 32), 0x8A9136AA);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(rt_crc32c(0, buf, 32), 0x62A8AB43);
	assert_int_equal(rt_crc32c_sw(0, buf, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = i;
	assert_int_equal(rt_crc32c(0, buf, 32), 0x46DD794E);
	assert_int_equal(rt_crc32c_sw(0, buf, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		buf[i] = 31 - i;
	assert_int_equal(rt_crc32c(0, buf, 32), 0x113FDB5C);
	assert_int_equal(rt_crc32c_sw(0, buf, 32), 0x113FDB5C);
}

static void test_crc32c_chaining(void **state)
{
	uint8_t buf[200];
	uint32_t whole;

	fill_random(buf, sizeof(buf));
	whole = crc32c_bitwise(buf, sizeof(buf));
	assert_int_equal(rt_crc32c(0, buf, sizeof(buf)), whole);
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t c = rt_crc32c(0, buf, cut);

		assert_int_equal(rt_crc32c(c, buf + cut, sizeof(buf) - cut),
				 whole);
		c = rt_crc32c_sw(0, buf, cut);
		assert_int_equal(rt_crc32c_sw(c, buf + cut, sizeof(buf) - cut),
				 whole);
	}
	/* three pieces, as rt_frame_hdr_init() chains iovecs */
	assert_int_equal(rt_crc32c(rt_crc32c(rt_crc32c(0, buf, 3), buf + 3, 90),
				   buf + 93, 107),
			 whole);
}

/* Hardware and table paths agree at every length and alignment. */
static void test_crc32c_hw_sw_agree(void **state)
{
	size_t size = 70000;
	uint8_t *buf;

#if defined(__x86_64__)
	/* Otherwise both calls take the table path and agree trivially. */
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("sse4.2"))
		skip();
#endif
	buf = malloc(size);
	assert_non_null(buf);
	fill_random(buf, size);
	for (size_t align = 0; align < 16; align++) {
		for (size_t len = 0; len < 300; len++) {
			uint32_t ref = crc32c_bitwise(buf + align, len);

			assert_int_equal(rt_crc32c(0, buf + align, len), ref);
			assert_int_equal(rt_crc32c_sw(0, buf + align, len),
					 ref);
		}
	}
	for (int i = 0; i < 200; i++) {
		size_t off = rng() % 64, len = rng() % (size - 64);
		uint32_t seed = (uint32_t)rng();

		assert_int_equal(rt_crc32c(seed, buf + off, len),
				 rt_crc32c_sw(seed, buf + off, len));
	}
	assert_int_equal(rt_crc32c(0, buf, size), crc32c_bitwise(buf, size));
	free(buf);
}

/*
 * The hardware path runs three streams over blocks of 3 x 8192, then
 * 3 x 256 bytes, and joins them (lib/stream_format.c): check every length
 * near those edges, at every alignment and from a nonzero CRC, where a
 * wrong joining constant or an off-by-one block would show.
 */
static void test_crc32c_block_edges(void **state)
{
	static const size_t edges[] = {
		3 * 256, 3 * 8192, 3 * 8192 + 3 * 256, 2 * 3 * 8192,
		2 * 3 * 8192 + 7 * 3 * 256,
	};
	size_t size = 2 * 3 * 8192 + 8 * 3 * 256;
	uint8_t *buf;

	buf = malloc(size);
	assert_non_null(buf);
	fill_random(buf, size);
	for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]); e++) {
		for (size_t len = edges[e] - 9; len <= edges[e] + 9; len++) {
			for (size_t align = 0; align < 8; align++) {
				uint32_t seed = (uint32_t)rng();

				assert_true(align + len <= size);
				assert_int_equal(rt_crc32c(0, buf + align, len),
						 crc32c_bitwise(buf + align,
								len));
				assert_int_equal(
					rt_crc32c(seed, buf + align, len),
					rt_crc32c_sw(seed, buf + align, len));
			}
		}
	}
	free(buf);
}

/* Chaining over odd cuts of a large buffer gives the CRC of the whole. */
static void test_crc32c_chaining_large(void **state)
{
	size_t size = 3 * 3 * 8192 + 5 * 3 * 256 + 13;
	static const size_t cuts[] = {
		1, 7, 9, 3 * 256 - 1, 3 * 256 + 1, 3 * 8192 - 3, 3 * 8192 + 5,
		3 * 8192 + 3 * 256 + 11, 2 * 3 * 8192 + 1,
	};
	uint32_t whole, c;
	uint8_t *buf;

	buf = malloc(size);
	assert_non_null(buf);
	fill_random(buf, size);
	whole = crc32c_bitwise(buf, size);
	assert_int_equal(rt_crc32c(0, buf, size), whole);
	assert_int_equal(rt_crc32c_sw(0, buf, size), whole);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t cut = cuts[i];

		c = rt_crc32c(0, buf, cut);
		assert_int_equal(rt_crc32c(c, buf + cut, size - cut), whole);
		c = rt_crc32c(0, buf, size - cut);
		assert_int_equal(rt_crc32c(c, buf + size - cut, cut), whole);
	}
	/* many odd pieces, each at a different alignment */
	c = 0;
	for (size_t off = 0, piece = 1; off < size; piece = piece * 3 + 2) {
		size_t n = piece < size - off ? piece : size - off;

		c = rt_crc32c(c, buf + off, n);
		off += n;
	}
	assert_int_equal(c, whole);
	free(buf);
}

/* ---- preamble, frame header ---- */

static void test_preamble(void **state)
{
	struct rt_preamble p, q;

	rt_preamble_init(&p);
	assert_memory_equal(p.magic, "RINGTAP\0", 8);
	assert_int_equal(p.version, RT_VERSION);
	assert_int_equal(p.flags, 0);
	assert_int_equal(rt_preamble_check(&p), 0);
	/* every bit of magic and version matters; flags are reserved */
	for (size_t bit = 0; bit < 8 * sizeof(p); bit++) {
		int ret;

		q = p;
		((uint8_t *)&q)[bit / 8] ^= 1u << (bit % 8);
		ret = rt_preamble_check(&q);
		if (bit < 64)
			assert_int_equal(ret, -EPROTO);
		else if (bit == 64)	/* version 1 -> 0 */
			assert_int_equal(ret, -EPROTO);
		else if (bit < 96)
			assert_int_equal(ret, -EPROTONOSUPPORT);
		else
			assert_int_equal(ret, 0);
	}
	q = p;
	q.version = RT_VERSION + 1;
	assert_int_equal(rt_preamble_check(&q), -EPROTONOSUPPORT);
}

static void test_frame_hdr(void **state)
{
	uint8_t a[5] = "abcde", b[11] = "0123456789";
	struct iovec iov[3] = { { a, 5 }, { NULL, 0 }, { b, 11 } };
	uint8_t both[16];
	struct rt_frame_hdr h, g;

	memcpy(both, a, 5);
	memcpy(both + 5, b, 11);
	rt_frame_hdr_init(&h, RT_FRAME_LOST, RT_FRAME_F_SKIPPABLE, 9, 1234,
			  iov, 3);
	assert_int_equal(h.magic, RT_FRAME_MAGIC);
	assert_memory_equal(&h.magic, "RTFR", 4);
	assert_int_equal(h.type, RT_FRAME_LOST);
	assert_int_equal(h.flags, RT_FRAME_F_SKIPPABLE);
	assert_int_equal(h.cpu, 9);
	assert_int_equal(h.seq, 1234);
	assert_int_equal(h.len, 16);
	assert_int_equal(h.payload_crc, crc32c_bitwise(both, 16));
	assert_int_equal(h.header_crc, crc32c_bitwise((uint8_t *)&h, 28));
	assert_int_equal(rt_frame_hdr_check(&h), 0);
	rt_frame_hdr_init(&g, RT_FRAME_END, 0, RT_CPU_NONE, 0, NULL, 0);
	assert_int_equal(g.len, 0);
	assert_int_equal(g.payload_crc, 0);
	assert_int_equal(rt_frame_hdr_check(&g), 0);
	/* any single changed bit is caught */
	for (int bit = 0; bit < 8 * RT_FRAME_HDR_SIZE; bit++) {
		g = h;
		((uint8_t *)&g)[bit / 8] ^= 1u << (bit % 8);
		assert_int_equal(rt_frame_hdr_check(&g), -EBADMSG);
	}
	/* the length bound, with a valid checksum */
	g = h;
	g.len = RT_FRAME_MAX_PAYLOAD;
	g.header_crc = rt_crc32c(0, &g, 28);
	assert_int_equal(rt_frame_hdr_check(&g), 0);
	g.len = RT_FRAME_MAX_PAYLOAD + 1;
	g.header_crc = rt_crc32c(0, &g, 28);
	assert_int_equal(rt_frame_hdr_check(&g), -EBADMSG);
	g.len = UINT32_MAX;
	g.header_crc = rt_crc32c(0, &g, 28);
	assert_int_equal(rt_frame_hdr_check(&g), -EBADMSG);
}

/* ---- records ---- */

static void test_records_round_trip(void **state)
{
	static const uint8_t blob[17] = "0123456789abcdef";
	struct rt_buf b = { 0 };
	const uint8_t *val;
	uint16_t tag;
	uint32_t len, u32;
	uint64_t u64;
	size_t off = 0;

	assert_int_equal(rt_record_add_str(&b, RT_TAG_HOSTNAME, "host"), 0);
	assert_int_equal(rt_record_add_u32(&b, RT_TAG_NR_CPUS, 0xdeadbeef), 0);
	assert_int_equal(rt_record_add_u64(&b, RT_TAG_START_TRACE_TS,
					   0x8877665544332211ull), 0);
	assert_int_equal(rt_record_add(&b, 999, NULL, 0), 0);
	for (size_t n = 1; n <= 17; n++)
		assert_int_equal(rt_record_add(&b, 1000 + n, blob, n), 0);
	assert_int_equal(rt_record_add_str(&b, RT_TAG_EVENTS, ""), 0);
	assert_int_equal(rt_record_add_str(&b, RT_TAG_EVENTS, NULL), -EINVAL);
	assert_int_equal(b.len % 8, 0);
	assert_true(b.len <= b.cap);

	assert_int_equal(REC_NEXT(b.data, b.len), 1);
	assert_int_equal(tag, RT_TAG_HOSTNAME);
	assert_int_equal(len, 4); /* no NUL */
	assert_memory_equal(val, "host", 4);
	assert_memory_equal(val + 4, zeros, 4); /* padding */
	assert_int_equal(off, 16);
	assert_int_equal(REC_NEXT(b.data, b.len), 1);
	assert_int_equal(tag, RT_TAG_NR_CPUS);
	assert_int_equal(len, 4);
	memcpy(&u32, val, 4);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(REC_NEXT(b.data, b.len), 1);
	assert_int_equal(tag, RT_TAG_START_TRACE_TS);
	assert_int_equal(len, 8);
	memcpy(&u64, val, 8);
	assert_int_equal(u64, 0x8877665544332211ull);
	assert_int_equal(REC_NEXT(b.data, b.len), 1);
	assert_int_equal(tag, 999);
	assert_int_equal(len, 0);
	for (size_t n = 1; n <= 17; n++) {
		size_t start = off;

		assert_int_equal(rt_record_next(b.data, b.len, &off, &tag,
						&val, &len), 1);
		assert_int_equal(tag, 1000 + n);
		assert_int_equal(len, n);
		assert_memory_equal(val, blob, n);
		assert_int_equal(off - start, 8 + rt_pad8(n));
		assert_memory_equal(val + n, zeros, rt_pad8(n) - n);
	}
	assert_int_equal(REC_NEXT(b.data, b.len), 1);
	assert_int_equal(tag, RT_TAG_EVENTS);
	assert_int_equal(len, 0);
	assert_int_equal(REC_NEXT(b.data, b.len), 0);
	assert_int_equal(off, b.len);
	assert_int_equal(REC_NEXT(b.data, b.len), 0);
	rt_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	rt_buf_free(&b);
	rt_buf_free(NULL);
	/* an empty payload has no records */
	off = 0;
	assert_int_equal(rt_record_next(NULL, 0, &off, &tag, &val, &len), 0);
}

static void set_rec_len(struct rt_buf *b, size_t at, uint32_t len)
{
	memcpy(b->data + at + offsetof(struct rt_record, len), &len, 4);
}

static int walk(const struct rt_buf *b, size_t size)
{
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;
	size_t off = 0;
	int ret, n = 0;

	while ((ret = REC_NEXT(b->data, size)) == 1) {
		assert_true(val >= b->data && val + len <= b->data + size);
		n++;
	}
	return ret < 0 ? ret : n;
}

static void test_records_bad_lengths(void **state)
{
	struct rt_buf b = { 0 };

	assert_int_equal(rt_record_add_str(&b, 1, "hello"), 0);  /* 0..15 */
	assert_int_equal(rt_record_add_u64(&b, 2, 7), 0);	  /* 16..31 */
	assert_int_equal(walk(&b, b.len), 2);
	/* a payload cut anywhere inside a record is malformed */
	for (size_t size = 0; size < b.len; size++) {
		if (size == 0 || size == 16)
			assert_int_equal(walk(&b, size), size / 16);
		else
			assert_int_equal(walk(&b, size), -EBADMSG);
	}
	/* value longer than what is left, in many ways */
	set_rec_len(&b, 16, 9);
	assert_int_equal(walk(&b, b.len), -EBADMSG);
	set_rec_len(&b, 16, 16);
	assert_int_equal(walk(&b, b.len), -EBADMSG);
	set_rec_len(&b, 16, UINT32_MAX);
	assert_int_equal(walk(&b, b.len), -EBADMSG);
	set_rec_len(&b, 16, UINT32_MAX - 6); /* pad8 wraps in 32 bits */
	assert_int_equal(walk(&b, b.len), -EBADMSG);
	set_rec_len(&b, 0, 25);
	assert_int_equal(walk(&b, b.len), -EBADMSG);
	/* exactly to the end is fine */
	set_rec_len(&b, 0, 5);
	set_rec_len(&b, 16, 8);
	assert_int_equal(walk(&b, b.len), 2);
	set_rec_len(&b, 0, 24);
	assert_int_equal(walk(&b, b.len), 1);
	rt_buf_free(&b);
}

/* ---- reader ---- */

static void test_reader_file_round_trip(void **state)
{
	char path[] = "/tmp/test_stream.XXXXXX";
	struct stream s;
	struct rt_reader *r = (void *)1;
	struct rt_frame f;
	const uint8_t *val;
	uint16_t tag;
	uint32_t len, u32;
	uint64_t u64;
	size_t off = 0;
	int fd;

	stream_sample(&s);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s.b.data, s.b.len), (ssize_t)s.b.len);
	close(fd);

	assert_int_equal(rt_reader_open(path, &r), 0);
	assert_non_null(r);
	assert_string_equal(rt_reader_name(r), path);
	assert_string_equal(rt_reader_error(r), "");
	assert_int_equal(rt_reader_offset(r), 16);

	/* HEADER: records decoded field by field */
	assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	expect_frame(&s, 0, &f);
	assert_int_equal(f.hdr.type, RT_FRAME_HEADER);
	assert_int_equal(f.offset, 16);
	assert_int_equal(REC_NEXT(f.payload, f.hdr.len), 1);
	assert_int_equal(tag, RT_TAG_TOOL);
	assert_int_equal(len, 14);
	assert_memory_equal(val, "ringtapd 0.1.0", 14);
	assert_int_equal(REC_NEXT(f.payload, f.hdr.len), 1);
	assert_int_equal(tag, RT_TAG_FILE_CPU);
	memcpy(&u32, val, 4);
	assert_int_equal(u32, 3);
	assert_int_equal(REC_NEXT(f.payload, f.hdr.len), 1);
	assert_int_equal(tag, RT_TAG_START_REALTIME);
	memcpy(&u64, val, 8);
	assert_int_equal(u64, 0x0102030405060708ull);
	assert_int_equal(REC_NEXT(f.payload, f.hdr.len), 0);

	/* SUBBUF: struct then data, odd length */
	assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	expect_frame(&s, 1, &f);
	{
		struct rt_subbuf sb;

		assert_int_equal(f.hdr.len, RT_SUBBUF_SIZE + 13);
		memcpy(&sb, f.payload, sizeof(sb));
		assert_int_equal(sb.page_ts, 0x1122334455667788ull);
		assert_int_equal(sb.commit, 13 | (1ull << 31));
		assert_int_equal(sb.data_len, 13);
		assert_int_equal(sb.subbuf_id, 7);
		assert_int_equal(sb.entries, 2);
		assert_int_equal(sb.overrun, 5);
		assert_int_equal(sb.subbuf_size, 4096);
		assert_memory_equal(f.payload + RT_SUBBUF_SIZE, subbuf_data,
				    13);
	}
	/* LOST */
	assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	expect_frame(&s, 2, &f);
	{
		struct rt_lost l;

		memcpy(&l, f.payload, sizeof(l));
		assert_int_equal(l.events, 42);
		assert_int_equal(l.bytes, 4080);
		assert_int_equal(l.last_ts, 99);
		assert_int_equal(l.reason, RT_LOST_SINK);
	}
	/* METADATA */
	assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	expect_frame(&s, 3, &f);
	off = 0;
	assert_int_equal(REC_NEXT(f.payload, f.hdr.len), 1);
	assert_int_equal(tag, RT_TAG_CMDLINES);
	assert_int_equal(len, 7);
	assert_memory_equal(val, "1 init\n", 7);
	/* END with one stats block */
	assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	expect_frame(&s, 4, &f);
	{
		struct rt_end e;
		struct rt_cpu_stats st;

		assert_int_equal(f.hdr.len, sizeof(e) + RT_CPU_STATS_SIZE);
		memcpy(&e, f.payload, sizeof(e));
		memcpy(&st, f.payload + sizeof(e), sizeof(st));
		assert_int_equal(e.reason, RT_END_SHUTDOWN);
		assert_int_equal(e.nr_stats, 1);
		assert_int_equal(st.cpu, 3);
		assert_int_equal(st.events, 2);
		assert_int_equal(st.reads, 9);
	}
	assert_int_equal(rt_reader_next(r, &f), RT_READ_EOF);
	assert_int_equal(rt_reader_offset(r), s.b.len);
	assert_string_equal(rt_reader_error(r), "");
	rt_reader_close(r);

	/* and the whole thing once more through the generic check */
	assert_int_equal(rt_reader_open(path, &r), 0);
	expect_stream(&s, r);
	rt_reader_close(r);
	unlink(path);
	rt_buf_free(&s.b);
}

static void test_reader_open_errors(void **state)
{
	struct rt_reader *r = (void *)1;
	struct stream s;
	int fd;

	assert_int_equal(rt_reader_open("/nonexistent/x.rtap", &r), -ENOENT);
	assert_non_null(r);
	assert_non_null(strstr(rt_reader_error(r), "/nonexistent/x.rtap"));
	rt_reader_close(r);
	rt_reader_close(NULL);

	/* wrong magic */
	stream_sample(&s);
	s.b.data[3] = 'X';
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "bad-magic.rtap", &r), -EPROTO);
	assert_non_null(r);
	assert_string_equal(rt_reader_error(r),
			    "bad-magic.rtap: not a ringtap stream: bad magic at byte 0");
	rt_reader_close(r);
	close(fd);

	/* newer version */
	s.b.data[3] = 'G';
	s.b.data[8] = RT_VERSION + 1;
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "new.rtap", &r), -EPROTONOSUPPORT);
	assert_non_null(strstr(rt_reader_error(r), "new.rtap: "));
	assert_non_null(strstr(rt_reader_error(r), "version 2"));
	rt_reader_close(r);
	close(fd);

	/* version 0 never existed */
	s.b.data[8] = 0;
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "v0.rtap", &r), -EPROTO);
	rt_reader_close(r);
	close(fd);

	/* the right preamble opens, and the fd stays the caller's */
	s.b.data[8] = RT_VERSION;
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, NULL, &r), 0);
	assert_non_null(strstr(rt_reader_name(r), "fd"));
	expect_stream(&s, r);
	rt_reader_close(r);
	assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
	close(fd);

	/* empty input */
	fd = memfd_with("", 0);
	assert_int_equal(rt_reader_open_fd(fd, "empty", &r), -ENODATA);
	assert_string_equal(rt_reader_error(r),
			    "empty: truncated preamble at byte 0 (0 of 16 bytes): not a complete ringtap stream");
	rt_reader_close(r);
	close(fd);
	rt_buf_free(&s.b);
}

static void expected_trunc_msg(const struct stream *s, int i, size_t cut,
			       char *buf, size_t size)
{
	const struct exp_frame *e = &s->f[i];
	size_t have = cut - e->offset;

	if (have < RT_FRAME_HDR_SIZE)
		snprintf(buf, size,
			 "t: truncated frame header at byte %" PRIu64 " (%zu of 32 bytes)",
			 e->offset, have);
	else if (have - RT_FRAME_HDR_SIZE < e->len)
		snprintf(buf, size,
			 "t: truncated frame at byte %" PRIu64 ": header says %u payload bytes, only %zu present",
			 e->offset, e->len, have - RT_FRAME_HDR_SIZE);
	else
		snprintf(buf, size,
			 "t: truncated frame at byte %" PRIu64 ": %u payload bytes present, but only %zu of %zu padding bytes",
			 e->offset, e->len, have - RT_FRAME_HDR_SIZE - e->len,
			 rt_pad8(e->len) - e->len);
}

/* Cut the stream at every byte: EOF at boundaries, else -ENODATA. */
static void test_reader_truncated_everywhere(void **state)
{
	struct stream s;
	char want[256], pre[128];
	int eofs = 0, nodata = 0;

	stream_sample(&s);
	for (size_t cut = 0; cut <= s.b.len; cut++) {
		struct rt_reader *r;
		struct rt_frame f;
		int fd = memfd_with(s.b.data, cut), ret, i;

		ret = rt_reader_open_fd(fd, "t", &r);
		if (cut < RT_PREAMBLE_SIZE) {
			snprintf(pre, sizeof(pre),
				 "t: truncated preamble at byte 0 (%zu of 16 bytes): not a complete ringtap stream",
				 cut);
			assert_int_equal(ret, -ENODATA);
			assert_string_equal(rt_reader_error(r), pre);
			rt_reader_close(r);
			close(fd);
			nodata++;
			continue;
		}
		assert_int_equal(ret, 0);
		for (i = 0; i < s.n; i++) {
			ret = rt_reader_next(r, &f);
			if (s.f[i].offset + RT_FRAME_HDR_SIZE +
				    rt_pad8(s.f[i].len) > cut)
				break;
			assert_int_equal(ret, RT_READ_OK);
			expect_frame(&s, i, &f);
		}
		if (i == s.n || s.f[i].offset == cut) {
			if (i == s.n)
				ret = rt_reader_next(r, &f);
			assert_int_equal(ret, RT_READ_EOF);
			assert_int_equal(rt_reader_offset(r), cut);
			eofs++;
		} else {
			expected_trunc_msg(&s, i, cut, want, sizeof(want));
			assert_int_equal(ret, -ENODATA);
			assert_string_equal(rt_reader_error(r), want);
			assert_true(msg_has_offset(rt_reader_error(r),
						   s.f[i].offset));
			assert_int_equal(rt_reader_offset(r), s.f[i].offset);
			/* sticky */
			assert_int_equal(rt_reader_next(r, &f), -ENODATA);
			assert_string_equal(rt_reader_error(r), want);
			nodata++;
		}
		rt_reader_close(r);
		close(fd);
	}
	assert_int_equal(eofs, s.n + 1);
	assert_int_equal(eofs + nodata, s.b.len + 1);
	rt_buf_free(&s.b);
}

/* Flip every bit after the preamble: always -EBADMSG at the right frame. */
static void test_reader_bit_flips(void **state)
{
	struct stream s;

	stream_sample(&s);
	for (size_t bit = 8 * RT_PREAMBLE_SIZE; bit < 8 * s.b.len; bit++) {
		size_t byte = bit / 8;
		struct rt_reader *r;
		struct rt_frame f;
		int fd, ret, i, bad = 0;

		while (bad + 1 < s.n && s.f[bad + 1].offset <= byte)
			bad++;
		s.b.data[byte] ^= 1u << (bit % 8);
		fd = memfd_with(s.b.data, s.b.len);
		s.b.data[byte] ^= 1u << (bit % 8);
		assert_int_equal(rt_reader_open_fd(fd, "flip", &r), 0);
		for (i = 0; (ret = rt_reader_next(r, &f)) == RT_READ_OK; i++)
			expect_frame(&s, i, &f);
		if (ret != -EBADMSG)
			fail_msg("bit %zu: returned %d (%s)", bit, ret,
				 rt_reader_error(r));
		assert_int_equal(i, bad);
		assert_true(msg_has_offset(rt_reader_error(r),
					   s.f[bad].offset));
		assert_int_equal(rt_reader_offset(r), s.f[bad].offset);
		assert_int_equal(rt_reader_next(r, &f), -EBADMSG);
		rt_reader_close(r);
		close(fd);
	}
	rt_buf_free(&s.b);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * A frame header with a valid checksum but a huge length: refused, or read
 * only as far as bytes exist.  Memory is measured with mallinfo2(), which
 * sanitizers and valgrind do not feed: there this part passes trivially.
 */
static void test_reader_hostile_length(void **state)
{
	static const struct {
		uint32_t len;
		size_t present;
		int err;
		size_t max_heap;
	} cases[] = {
		{ UINT32_MAX, 1000, -EBADMSG, 1 << 20 },
		{ RT_FRAME_MAX_PAYLOAD + 1, 1000, -EBADMSG, 1 << 20 },
		{ RT_FRAME_MAX_PAYLOAD, 1000, -ENODATA, 1 << 20 },
		{ RT_FRAME_MAX_PAYLOAD, 3 << 20, -ENODATA, 16 << 20 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct rt_preamble pre;
		struct rt_frame_hdr hdr;
		struct rt_reader *r;
		struct rt_frame f;
		size_t size = sizeof(pre) + sizeof(hdr) + cases[c].present;
		uint8_t *buf = calloc(1, size);
		size_t before;
		char want[200];
		int fd;

		assert_non_null(buf);
		rt_preamble_init(&pre);
		rt_frame_hdr_init(&hdr, RT_FRAME_SUBBUF, 0, 0, 0, NULL, 0);
		hdr.len = cases[c].len;
		hdr.header_crc = rt_crc32c(0, &hdr, 28);
		memcpy(buf, &pre, sizeof(pre));
		memcpy(buf + sizeof(pre), &hdr, sizeof(hdr));
		fd = memfd_with(buf, size);
		free(buf);
		before = heap_in_use();
		assert_int_equal(rt_reader_open_fd(fd, "h.rtap", &r), 0);
		assert_int_equal(rt_reader_next(r, &f), cases[c].err);
		if (cases[c].err == -EBADMSG)
			snprintf(want, sizeof(want),
				 "h.rtap: frame at byte 16: payload length %u exceeds limit (%u)",
				 cases[c].len, RT_FRAME_MAX_PAYLOAD);
		else
			snprintf(want, sizeof(want),
				 "h.rtap: truncated frame at byte 16: header says %u payload bytes, only %zu present",
				 cases[c].len, cases[c].present);
		assert_string_equal(rt_reader_error(r), want);
		if (heap_in_use() > before + cases[c].max_heap)
			fail_msg("case %zu: reader holds %zu bytes", c,
				 heap_in_use() - before);
		rt_reader_close(r);
		close(fd);
	}
}

/* Flags, seq and the partial checksum of spliced SUBBUF frames. */
static void test_reader_frame_rules(void **state)
{
	struct rt_subbuf sb = { .subbuf_size = 4096,
				.flags = RT_SUBBUF_F_RAW_PAGE };
	uint8_t page[100];
	struct stream s;
	struct rt_reader *r;
	struct rt_frame f;
	struct rt_frame_hdr *h;
	int fd;

	fill_random(page, sizeof(page));
	/* unknown types are handed to the caller, who decides */
	stream_init(&s);
	stream_frame2(&s, 77, RT_FRAME_F_SKIPPABLE, RT_CPU_NONE, "x", 1, NULL, 0);
	stream_frame2(&s, 78, 0, 0, NULL, 0, NULL, 0);
	/* a spliced page: the CRC covers struct rt_subbuf only */
	stream_frame2(&s, RT_FRAME_SUBBUF, 0, 1, &sb, sizeof(sb), page,
		      sizeof(page));
	h = (void *)(s.b.data + s.f[2].offset);
	h->flags = RT_FRAME_F_PARTIAL_CRC;
	h->payload_crc = rt_crc32c(0, &sb, sizeof(sb));
	h->header_crc = rt_crc32c(0, h, 28);
	s.f[2].flags = RT_FRAME_F_PARTIAL_CRC;
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "r", &r), 0);
	expect_stream(&s, r);
	rt_reader_close(r);
	close(fd);

	/* a change in the page is not seen, one in the struct is */
	s.b.data[s.f[2].offset + 32 + RT_SUBBUF_SIZE + 5] ^= 0x10;
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "r", &r), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	assert_int_equal(rt_reader_next(r, &f), RT_READ_EOF);
	rt_reader_close(r);
	close(fd);
	s.b.data[s.f[2].offset + 32 + 3] ^= 0x10;
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "r", &r), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	assert_int_equal(rt_reader_next(r, &f), -EBADMSG);
	assert_string_equal(rt_reader_error(r),
			    "r: bad payload checksum at byte 88 (frame type 2, seq 2)");
	rt_reader_close(r);
	close(fd);

	/* partial CRC on a frame without a fixed part is refused */
	h = (void *)(s.b.data + s.f[0].offset);
	h->flags |= RT_FRAME_F_PARTIAL_CRC;
	h->header_crc = rt_crc32c(0, h, 28);
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "r", &r), 0);
	assert_int_equal(rt_reader_next(r, &f), -EBADMSG);
	assert_true(msg_has_offset(rt_reader_error(r), 16));
	rt_reader_close(r);
	close(fd);
	h->flags &= ~RT_FRAME_F_PARTIAL_CRC;
	h->header_crc = rt_crc32c(0, h, 28);

	/* a frame whose seq is not the next number: one went missing */
	h = (void *)(s.b.data + s.f[1].offset);
	h->seq = 2;
	h->header_crc = rt_crc32c(0, h, 28);
	fd = memfd_with(s.b.data, s.b.len);
	assert_int_equal(rt_reader_open_fd(fd, "r", &r), 0);
	assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
	assert_int_equal(rt_reader_next(r, &f), -EBADMSG);
	assert_string_equal(rt_reader_error(r),
			    "r: frame at byte 56: sequence number 2, expected 1 (frames missing or out of order)");
	rt_reader_close(r);
	close(fd);
	rt_buf_free(&s.b);
}

struct pipe_writer {
	int fd;	 /* write end, the thread's */
	int rfd; /* read end (or the saved stdin), the test's to close */
	const uint8_t *p;
	size_t len;
};

/* Dribble the stream into a pipe in uneven pieces, then close it. */
static void *pipe_writer(void *arg)
{
	struct pipe_writer *w = arg;
	uint64_t x = 12345;
	size_t done = 0;

	while (done < w->len) {
		size_t n;
		ssize_t k;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		n = (x >> 33) % 3 ? (x >> 40) % 13 + 1 : (x >> 40) % 150000 + 1;
		if (n > w->len - done)
			n = w->len - done;
		k = write(w->fd, w->p + done, n);
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	close(w->fd);
	return NULL;
}

static void big_stream(struct stream *s)
{
	size_t big = 1 << 20;
	uint8_t *p = malloc(big);
	struct rt_subbuf sb = { .data_len = big };

	assert_non_null(p);
	fill_random(p, big);
	stream_sample(s);
	s->n--; /* drop END: put it back at the end */
	s->b.len = s->f[s->n].offset;
	for (int i = 0; i < 20; i++) {
		size_t len = i == 10 ? big : rng() % 5000;

		sb.data_len = len;
		stream_frame2(s, RT_FRAME_SUBBUF, 0, 1, &sb, sizeof(sb), p,
			      len);
	}
	stream_frame(s, RT_FRAME_END, 1, zeros, 8);
	free(p);
}

static void run_pipe(const struct stream *s, size_t len, bool use_stdin,
		     struct rt_reader **ret, pthread_t *tid,
		     struct pipe_writer *w)
{
	int fds[2], saved = -1;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	*w = (struct pipe_writer){ fds[1], -1, s->b.data, len };
	assert_int_equal(pthread_create(tid, NULL, pipe_writer, w), 0);
	if (use_stdin) {
		saved = dup(STDIN_FILENO);
		assert_true(saved >= 0);
		assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
		close(fds[0]);
		assert_int_equal(rt_reader_open("-", ret), 0);
		assert_string_equal(rt_reader_name(*ret), "<stdin>");
		/* the reader reads stdin; the caller restores it */
		fds[0] = saved;
	} else {
		assert_int_equal(rt_reader_open_fd(fds[0], "pipe", ret), 0);
	}
	w->rfd = fds[0];
}

static void test_reader_pipe(void **state)
{
	struct pipe_writer w;
	struct stream s;
	struct rt_reader *r;
	struct rt_frame f;
	pthread_t tid;
	char want[256];
	int cut_frame;

	big_stream(&s);
	run_pipe(&s, s.b.len, false, &r, &tid, &w);
	expect_stream(&s, r);
	rt_reader_close(r);
	assert_int_equal(pthread_join(tid, NULL), 0);
	close(w.rfd);

	/* "-" reads standard input */
	run_pipe(&s, s.b.len, true, &r, &tid, &w);
	expect_stream(&s, r);
	rt_reader_close(r);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(dup2(w.rfd, STDIN_FILENO), STDIN_FILENO);
	close(w.rfd);

	/* cut inside the big frame: truncation reported with its offset */
	cut_frame = 3 + 1 + 10;
	run_pipe(&s, s.f[cut_frame].offset + 32 + 777777, false, &r, &tid, &w);
	for (int i = 0; i < cut_frame; i++) {
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(&s, i, &f);
	}
	assert_int_equal(rt_reader_next(r, &f), -ENODATA);
	snprintf(want, sizeof(want),
		 "pipe: truncated frame at byte %" PRIu64 ": header says %u payload bytes, only 777777 present",
		 s.f[cut_frame].offset, s.f[cut_frame].len);
	assert_string_equal(rt_reader_error(r), want);
	rt_reader_close(r);
	assert_int_equal(pthread_join(tid, NULL), 0);
	close(w.rfd);
	rt_buf_free(&s.b);
}

/* ---- page images (RT_FRAME_F_PAGE_IMAGE) ---- */

/* The file output's O_DIRECT block: frame header, rt_subbuf, zeros. */
#define IMG_BLOCK 4096

static void stream_free(struct stream *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->f[i].compact);
	rt_buf_free(&s->b);
}

/* A PAD frame, where one is needed, so that the next one starts at @align. */
static void stream_pad_to(struct stream *s, uint32_t cpu, size_t align)
{
	size_t gap = (align - s->b.len % align) % align;
	uint8_t *z;

	if (!gap)
		return;
	if (gap < RT_FRAME_HDR_SIZE)
		gap += align;
	z = calloc(1, gap);
	assert_non_null(z);
	stream_frame2(s, RT_FRAME_PAD, RT_FRAME_F_SKIPPABLE, cpu, z,
		      gap - RT_FRAME_HDR_SIZE, NULL, 0);
	free(z);
	assert_int_equal(s->b.len % align, 0);
}

/*
 * A page image frame as the file output writes it (write_direct() in
 * daemon/sink_file.c): a block with the frame header, struct rt_subbuf and
 * zeros, then the whole sub-buffer @image.  @carried: the bytes at
 * data_start the frame stands for, stored lost count included.
 */
static void stream_page_image(struct stream *s, uint32_t cpu,
			      const struct rt_subbuf *sb, const uint8_t *image,
			      size_t carried)
{
	const uint8_t *data = image + RB_PAGE_HDR_SIZE + sb->data_start;
	struct iovec pl[2] = { { (void *)sb, sizeof(*sb) },
			       { (void *)data, carried } };
	struct exp_frame *e = &s->f[s->n];
	uint8_t *blk = calloc(1, IMG_BLOCK);
	struct rt_frame_hdr hdr;

	assert_non_null(blk);
	assert_true(s->n < 64);
	assert_int_equal(s->b.len % IMG_BLOCK, 0);
	assert_int_equal(sb->subbuf_size % 8, 0);
	assert_true(RB_PAGE_HDR_SIZE + sb->data_start + carried <=
		    sb->subbuf_size);
	/* the checksum of the compact form, the length of the image form */
	rt_frame_hdr_init(&hdr, RT_FRAME_SUBBUF, RT_FRAME_F_PAGE_IMAGE, cpu,
			  s->n, pl, 2);
	hdr.len = IMG_BLOCK - RT_FRAME_HDR_SIZE + sb->subbuf_size;
	hdr.header_crc = rt_crc32c(0, &hdr, 28);
	memcpy(blk, &hdr, sizeof(hdr));
	memcpy(blk + sizeof(hdr), sb, sizeof(*sb));
	*e = (struct exp_frame){ .type = RT_FRAME_SUBBUF,
				 .flags = RT_FRAME_F_PAGE_IMAGE, .cpu = cpu,
				 .seq = s->n, .len = hdr.len,
				 .offset = s->b.len };
	e->compact_len = sizeof(*sb) + carried;
	e->compact = malloc(e->compact_len);
	assert_non_null(e->compact);
	memcpy(e->compact, sb, sizeof(*sb));
	memcpy(e->compact + sizeof(*sb), data, carried);
	assert_int_equal(rt_buf_append(&s->b, blk, IMG_BLOCK), 0);
	assert_int_equal(rt_buf_append(&s->b, image, sb->subbuf_size), 0);
	s->n++;
	free(blk);
}

/* A sub-buffer image without a zero byte: garbage around the data. */
static uint8_t *garbage_image(size_t size)
{
	uint8_t *p = malloc(size);

	assert_non_null(p);
	fill_random(p, size);
	for (size_t i = 0; i < size; i++)
		if (!p[i])
			p[i] = 0xa5;
	return p;
}

struct img_case {
	uint32_t subbuf_size;
	uint32_t data_start;
	uint32_t data_len;
	uint64_t commit_flags; /* RB_MISSED_* */
	uint32_t carried;      /* what the frame stands for */
};

static const struct img_case img_cases[] = {
	{ 4096, 0, 1000, 0, 1000 },	/* a page from its start */
	{ 8192, 512, 3001, 0, 3001 },	/* the rest of a page read before */
	/* the lost count the kernel stored after the data */
	{ 8192, 512, 3001, RB_MISSED_EVENTS | RB_MISSED_STORED, 3009 },
	{ 4096, 0, 4072, RB_MISSED_STORED, 4080 },	/* just fits */
	{ 4096, 8, 4068, RB_MISSED_STORED, 4068 },	/* 4 bytes short */
	{ 4096, 0, 4072, RB_MISSED_EVENTS, 4072 },	/* not stored */
	{ 4096, 80, 4000, RB_MISSED_STORED, 4000 },	/* data to the end */
	{ 4096, 100, 0, 0, 0 },				/* nothing new */
};

#define NR_IMG_CASES (sizeof(img_cases) / sizeof(img_cases[0]))

static struct rt_subbuf img_subbuf(const struct img_case *c)
{
	return (struct rt_subbuf){
		.page_ts = 0x0a0b0c0d0e0f1011ull,
		.commit = (c->data_start + c->data_len) | c->commit_flags,
		.data_start = c->data_start, .data_len = c->data_len,
		.emit_from = c->data_start, .subbuf_id = 5, .entries = 17,
		.overrun = 3, .subbuf_size = c->subbuf_size,
	};
}

/*
 * preamble + HEADER + PAD + page image + END, as the file output writes
 * them: frames 0 to 3, the image at byte 4096.
 */
static void image_stream(struct stream *s, const struct img_case *c,
			 struct rt_subbuf *sb, uint8_t **image)
{
	struct rt_end end = { .reason = RT_END_SHUTDOWN };
	struct rt_buf rec = { 0 };

	*sb = img_subbuf(c);
	*image = garbage_image(c->subbuf_size);
	stream_init(s);
	assert_int_equal(rt_record_add_str(&rec, RT_TAG_TOOL, "ringtapd 0.1.0"),
			 0);
	assert_int_equal(rt_record_add_u32(&rec, RT_TAG_SUBBUF_SIZE,
					   c->subbuf_size), 0);
	stream_frame(s, RT_FRAME_HEADER, 2, rec.data, rec.len);
	stream_pad_to(s, 2, IMG_BLOCK);
	stream_page_image(s, 2, sb, *image, c->carried);
	stream_frame(s, RT_FRAME_END, 2, &end, sizeof(end));
	assert_int_equal(s->n, 4);
	assert_int_equal(s->f[1].type, RT_FRAME_PAD);
	assert_int_equal(s->f[2].offset, IMG_BLOCK);
	assert_int_equal(s->f[3].offset, 2 * IMG_BLOCK + c->subbuf_size);
	rt_buf_free(&rec);
}

static void expect_good(const struct stream *s)
{
	int fd = memfd_with(s->b.data, s->b.len);
	struct rt_reader *r;

	assert_int_equal(rt_reader_open_fd(fd, "m", &r), 0);
	expect_stream(s, r);
	rt_reader_close(r);
	close(fd);
}

/* Read @s up to its frame @bad, which is refused with @why. */
static void expect_bad(const struct stream *s, int bad, const char *why)
{
	int fd = memfd_with(s->b.data, s->b.len);
	struct rt_reader *r;
	struct rt_frame f;
	int ret;

	assert_int_equal(rt_reader_open_fd(fd, "m", &r), 0);
	for (int i = 0; i < bad; i++) {
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(s, i, &f);
	}
	ret = rt_reader_next(r, &f);
	if (ret != -EBADMSG || !strstr(rt_reader_error(r), why))
		fail_msg("expected -EBADMSG \"%s\", got %d \"%s\"", why, ret,
			 rt_reader_error(r));
	assert_true(msg_has_offset(rt_reader_error(r), s->f[bad].offset));
	assert_int_equal(rt_reader_offset(r), s->f[bad].offset);
	assert_int_equal(rt_reader_next(r, &f), -EBADMSG);
	rt_reader_close(r);
	close(fd);
}

/*
 * Put @sb in page image frame @i, with the checksum of @sb and the
 * @crc_len bytes at its data_start in the image: what a reader that missed
 * the check under test would accept.
 */
static void set_image_subbuf(struct stream *s, int i,
			     const struct rt_subbuf *sb, size_t crc_len)
{
	uint8_t *p = s->b.data + s->f[i].offset;
	size_t data = s->f[i].offset + IMG_BLOCK + RB_PAGE_HDR_SIZE;
	struct rt_frame_hdr hdr;

	memcpy(&hdr, p, sizeof(hdr));
	memcpy(p + RT_FRAME_HDR_SIZE, sb, sizeof(*sb));
	hdr.payload_crc = rt_crc32c(0, sb, sizeof(*sb));
	if (crc_len) {
		data += sb->data_start;
		assert_true(data + crc_len <= s->b.len);
		hdr.payload_crc = rt_crc32c(hdr.payload_crc, s->b.data + data,
					    crc_len);
	}
	hdr.header_crc = rt_crc32c(0, &hdr, 28);
	memcpy(p, &hdr, sizeof(hdr));
}

/* The header of frame @i, to change: reseal it afterwards. */
static struct rt_frame_hdr *frame_hdr(struct stream *s, int i)
{
	return (void *)(s->b.data + s->f[i].offset);
}

/* Written to a file as the daemon does: PAD, then the image, compacted. */
static void test_reader_page_image(void **state)
{
	for (size_t k = 0; k < NR_IMG_CASES; k++) {
		const struct img_case *c = &img_cases[k];
		char path[] = "/tmp/test_stream.XXXXXX";
		uint64_t end_off = 2 * IMG_BLOCK + c->subbuf_size;
		const uint8_t *data;
		struct rt_subbuf sb;
		struct rt_reader *r;
		struct rt_frame f;
		struct stream s;
		uint8_t *image;
		int fd;

		image_stream(&s, c, &sb, &image);
		data = image + RB_PAGE_HDR_SIZE + c->data_start;
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, s.b.data, s.b.len), (ssize_t)s.b.len);
		close(fd);

		assert_int_equal(rt_reader_open(path, &r), 0);
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(&s, 0, &f);
		assert_int_equal(f.hdr.type, RT_FRAME_HEADER);
		/* PAD: skippable zeros up to the block boundary */
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(&s, 1, &f);
		assert_int_equal(f.hdr.type, RT_FRAME_PAD);
		assert_int_equal(f.hdr.type, 6);
		assert_int_equal(f.hdr.flags, RT_FRAME_F_SKIPPABLE);
		assert_int_equal(f.offset + RT_FRAME_HDR_SIZE + f.hdr.len,
				 IMG_BLOCK);
		for (size_t i = 0; i < f.hdr.len; i++)
			assert_int_equal(f.payload[i], 0);
		assert_int_equal(rt_reader_offset(r), IMG_BLOCK);
		/* the page image, handed out in the compact form */
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(&s, 2, &f);
		assert_int_equal(f.offset, IMG_BLOCK);
		assert_int_equal(f.hdr.type, RT_FRAME_SUBBUF);
		assert_int_equal(f.hdr.flags, 0);
		assert_int_equal(f.hdr.cpu, 2);
		assert_int_equal(f.hdr.seq, 2);
		assert_int_equal(f.hdr.len, RT_SUBBUF_SIZE + c->carried);
		assert_memory_equal(f.payload, &sb, RT_SUBBUF_SIZE);
		if (c->carried)
			assert_memory_equal(f.payload + RT_SUBBUF_SIZE, data,
					    c->carried);
		assert_int_equal(f.hdr.payload_crc,
				 rt_crc32c(0, f.payload, f.hdr.len));
		assert_int_equal(rt_frame_hdr_check(&f.hdr), 0);
		/* moved on by the frame on disk, not by the compact one */
		assert_int_equal(rt_reader_offset(r), end_off);
		assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
		expect_frame(&s, 3, &f);
		assert_int_equal(f.hdr.type, RT_FRAME_END);
		assert_int_equal(f.offset, end_off);
		assert_int_equal(rt_reader_next(r, &f), RT_READ_EOF);
		assert_int_equal(rt_reader_offset(r), s.b.len);
		assert_string_equal(rt_reader_error(r), "");
		rt_reader_close(r);

		assert_int_equal(rt_reader_open(path, &r), 0);
		expect_stream(&s, r);
		rt_reader_close(r);
		unlink(path);
		free(image);
		stream_free(&s);
	}
}

/*
 * Only the carried bytes count: changes elsewhere in the image go unseen,
 * in them (stored lost count included) they are a bad checksum.
 */
static void test_reader_page_image_changes(void **state)
{
	for (size_t k = 0; k < NR_IMG_CASES; k++) {
		const struct img_case *c = &img_cases[k];
		size_t img, data, after, outside[5], carried[3];
		int nout = 0, nin = 0;
		struct rt_subbuf sb;
		struct stream s;
		uint8_t *image;

		image_stream(&s, c, &sb, &image);
		img = s.f[2].offset + IMG_BLOCK;
		data = img + RB_PAGE_HDR_SIZE + c->data_start;
		after = data + c->carried;
		expect_good(&s);

		outside[nout++] = img;	/* the page header */
		outside[nout++] = img + RB_PAGE_HDR_SIZE - 1;
		if (c->data_start)
			outside[nout++] = data - 1;
		if (after < img + c->subbuf_size) {
			/* right after the data, or the lost count, if any */
			outside[nout++] = after;
			outside[nout++] = img + c->subbuf_size - 1;
		}
		for (int i = 0; i < nout; i++) {
			s.b.data[outside[i]] ^= 0x5a;
			expect_good(&s);
			s.b.data[outside[i]] ^= 0x5a;
		}

		carried[nin++] = s.f[2].offset + RT_FRAME_HDR_SIZE +
				 offsetof(struct rt_subbuf, page_ts);
		if (c->carried) {
			carried[nin++] = data;
			carried[nin++] = after - 1;
		}
		for (int i = 0; i < nin; i++) {
			s.b.data[carried[i]] ^= 0x5a;
			expect_bad(&s, 2, "bad payload checksum at byte 4096 (frame type 2, seq 2)");
			s.b.data[carried[i]] ^= 0x5a;
		}
		expect_good(&s);
		free(image);
		stream_free(&s);
	}
}

/* The stored lost count is carried exactly when the kernel had room. */
static void test_reader_page_image_stored_lost(void **state)
{
	static const struct {
		uint32_t data_len;
		uint64_t flags;
		bool count;
	} cases[] = {
		{ 4000, RB_MISSED_STORED, true },
		{ 4072, RB_MISSED_EVENTS | RB_MISSED_STORED, true },
		{ 4073, RB_MISSED_STORED, false },
		{ 4076, RB_MISSED_STORED, false },
		{ 4000, RB_MISSED_EVENTS, false },
		{ 4000, 0, false },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct img_case c = { 4096, 0, cases[k].data_len,
				      cases[k].flags,
				      cases[k].data_len + 8 * cases[k].count };
		struct rt_subbuf sb;
		struct stream s;
		uint8_t *image;
		size_t count;

		image_stream(&s, &c, &sb, &image);
		expect_good(&s);
		assert_int_equal(s.f[2].compact_len,
				 RT_SUBBUF_SIZE + c.data_len +
					 (cases[k].count ? 8 : 0));
		/* the 8 bytes after the data: covered by the checksum or not */
		count = s.f[2].offset + IMG_BLOCK + RB_PAGE_HDR_SIZE +
			c.data_len;
		for (size_t i = 0; i < 8 && count + i < s.f[3].offset; i++) {
			s.b.data[count + i] ^= 0x81;
			if (cases[k].count)
				expect_bad(&s, 2, "bad payload checksum");
			else
				expect_good(&s);
			s.b.data[count + i] ^= 0x81;
		}
		free(image);
		stream_free(&s);
	}
}

/* Page image frames that do not hold together. */
static void test_reader_page_image_bad(void **state)
{
	const struct img_case *c = &img_cases[1];
	const char *fit = "page image does not fit its frame";
	const char *plain = "page image flag on a frame that is no plain sub-buffer frame";
	struct rt_subbuf sb, bad;
	struct rt_frame_hdr *h;
	struct stream s;
	uint8_t *image, *orig;
	size_t pad;

	image_stream(&s, c, &sb, &image);
	orig = malloc(s.b.len);
	assert_non_null(orig);
	memcpy(orig, s.b.data, s.b.len);
	expect_good(&s);

	/* a nonzero byte between struct rt_subbuf and the image */
	pad = s.f[2].offset + RT_FRAME_HDR_SIZE + RT_SUBBUF_SIZE;
	for (size_t at = pad; at < s.f[2].offset + IMG_BLOCK; at += 1001) {
		s.b.data[at] = 1;
		expect_bad(&s, 2, "frame at byte 4096: nonzero padding before the page image");
		s.b.data[at] = 0;
	}
	s.b.data[s.f[2].offset + IMG_BLOCK - 1] = 0x80;
	expect_bad(&s, 2, "nonzero padding before the page image");
	memcpy(s.b.data, orig, s.b.len);

	/* carried bytes past the end of the image, by one byte or more */
	bad = sb;
	bad.data_start = c->subbuf_size - RB_PAGE_HDR_SIZE - 100;
	bad.data_len = 101;
	bad.commit = bad.data_start + bad.data_len;
	set_image_subbuf(&s, 2, &bad, bad.data_len);
	expect_bad(&s, 2, "frame at byte 4096: carried range outside the page image");
	bad.data_start = 0;
	bad.data_len = c->subbuf_size - RB_PAGE_HDR_SIZE + 1;
	set_image_subbuf(&s, 2, &bad, bad.data_len);
	expect_bad(&s, 2, "carried range outside the page image");
	bad.data_start = c->subbuf_size;
	bad.data_len = 0;
	set_image_subbuf(&s, 2, &bad, 0);
	expect_bad(&s, 2, "carried range outside the page image");
	bad.data_start = UINT32_MAX;
	bad.data_len = UINT32_MAX;
	set_image_subbuf(&s, 2, &bad, 0);
	expect_bad(&s, 2, "carried range outside the page image");
	/* while the whole data area is fine */
	bad.data_start = 0;
	bad.data_len = c->subbuf_size - RB_PAGE_HDR_SIZE;
	bad.commit = bad.data_len;
	set_image_subbuf(&s, 2, &bad, bad.data_len);
	s.f[2].compact = realloc(s.f[2].compact, RT_SUBBUF_SIZE + bad.data_len);
	assert_non_null(s.f[2].compact);
	s.f[2].compact_len = RT_SUBBUF_SIZE + bad.data_len;
	memcpy(s.f[2].compact, &bad, sizeof(bad));
	memcpy(s.f[2].compact + RT_SUBBUF_SIZE, image + RB_PAGE_HDR_SIZE,
	       bad.data_len);
	expect_good(&s);
	memcpy(s.f[2].compact, &sb, sizeof(sb));
	s.f[2].compact_len = RT_SUBBUF_SIZE + c->carried;
	memcpy(s.f[2].compact + RT_SUBBUF_SIZE,
	       image + RB_PAGE_HDR_SIZE + c->data_start, c->carried);
	memcpy(s.b.data, orig, s.b.len);
	expect_good(&s);

	/* a sub-buffer larger than the payload, or smaller than its header */
	bad = sb;
	bad.subbuf_size = s.f[2].len - RT_SUBBUF_SIZE + 8;
	set_image_subbuf(&s, 2, &bad, 0);
	expect_bad(&s, 2, fit);
	bad.subbuf_size = UINT32_MAX;
	set_image_subbuf(&s, 2, &bad, 0);
	expect_bad(&s, 2, fit);
	bad.subbuf_size = RB_PAGE_HDR_SIZE - 8;
	bad.data_start = bad.data_len = 0;
	set_image_subbuf(&s, 2, &bad, 0);
	expect_bad(&s, 2, fit);
	/* a raw spliced page cannot be an image as well */
	bad = sb;
	bad.flags = RT_SUBBUF_F_RAW_PAGE;
	set_image_subbuf(&s, 2, &bad, c->carried);
	expect_bad(&s, 2, fit);
	memcpy(s.b.data, orig, s.b.len);

	/* with the partial checksum of spliced pages, either checksum */
	h = frame_hdr(&s, 2);
	h->flags |= RT_FRAME_F_PARTIAL_CRC;
	h->header_crc = rt_crc32c(0, h, 28);
	assert_int_equal(rt_frame_hdr_check(h), 0);
	expect_bad(&s, 2, plain);
	h->payload_crc = rt_crc32c(0, &sb, sizeof(sb));
	h->header_crc = rt_crc32c(0, h, 28);
	expect_bad(&s, 2, plain);
	memcpy(s.b.data, orig, s.b.len);

	/* on frames other than SUBBUF */
	h = frame_hdr(&s, 2);
	h->type = RT_FRAME_METADATA;
	h->header_crc = rt_crc32c(0, h, 28);
	expect_bad(&s, 2, plain);
	h->type = RT_FRAME_LOST;
	h->header_crc = rt_crc32c(0, h, 28);
	expect_bad(&s, 2, plain);
	memcpy(s.b.data, orig, s.b.len);
	h = frame_hdr(&s, 3);
	h->flags |= RT_FRAME_F_PAGE_IMAGE;
	h->header_crc = rt_crc32c(0, h, 28);
	expect_bad(&s, 3, plain);
	memcpy(s.b.data, orig, s.b.len);
	h = frame_hdr(&s, 1);
	h->flags |= RT_FRAME_F_PAGE_IMAGE;
	h->header_crc = rt_crc32c(0, h, 28);
	expect_bad(&s, 1, plain);
	memcpy(s.b.data, orig, s.b.len);

	/* a SUBBUF frame too short for struct rt_subbuf */
	h = frame_hdr(&s, 2);
	h->len = RT_SUBBUF_SIZE - 8;
	h->header_crc = rt_crc32c(0, h, 28);
	expect_bad(&s, 2, plain);
	memcpy(s.b.data, orig, s.b.len);
	expect_good(&s);
	free(orig);
	free(image);
	stream_free(&s);
}

/* Cut anywhere from the PAD frame on: -ENODATA, never a bad frame. */
static void test_reader_page_image_truncated(void **state)
{
	const struct img_case *c = &img_cases[2];
	size_t inside = 0, eofs = 0;
	struct rt_subbuf sb;
	struct stream s;
	uint8_t *image;
	char want[256];

	image_stream(&s, c, &sb, &image);
	for (size_t cut = s.f[1].offset; cut <= s.f[3].offset; cut++) {
		int fd = memfd_with(s.b.data, cut), ret, i;
		struct rt_reader *r;
		struct rt_frame f;

		assert_int_equal(rt_reader_open_fd(fd, "t", &r), 0);
		for (i = 0; i < s.n; i++) {
			if (s.f[i].offset + RT_FRAME_HDR_SIZE +
				    rt_pad8(s.f[i].len) > cut)
				break;
			assert_int_equal(rt_reader_next(r, &f), RT_READ_OK);
			expect_frame(&s, i, &f);
		}
		ret = rt_reader_next(r, &f);
		if (s.f[i].offset == cut) {
			assert_int_equal(ret, RT_READ_EOF);
			eofs++;
		} else {
			expected_trunc_msg(&s, i, cut, want, sizeof(want));
			if (ret != -ENODATA)
				fail_msg("cut at %zu: returned %d (%s)", cut,
					 ret, rt_reader_error(r));
			assert_string_equal(rt_reader_error(r), want);
			assert_int_equal(rt_reader_offset(r), s.f[i].offset);
			assert_int_equal(rt_reader_next(r, &f), -ENODATA);
			inside += i == 2;
		}
		rt_reader_close(r);
		close(fd);
	}
	assert_int_equal(eofs, 3);
	assert_int_equal(inside, IMG_BLOCK + c->subbuf_size - 1);
	free(image);
	stream_free(&s);
}

/* Images back to back, among other frames, from a file and a pipe. */
static void test_reader_page_image_sequence(void **state)
{
	const struct img_case *c[3] = { &img_cases[0], &img_cases[2],
					&img_cases[6] };
	struct rt_lost lost = { .events = 4, .reason = RT_LOST_OVERRUN };
	struct rt_subbuf sb[3];
	uint8_t *image[3];
	struct pipe_writer w;
	struct rt_reader *r;
	struct stream s;
	pthread_t tid;

	for (int i = 0; i < 3; i++) {
		sb[i] = img_subbuf(c[i]);
		sb[i].subbuf_id = i;
		image[i] = garbage_image(c[i]->subbuf_size);
	}
	stream_init(&s);
	stream_frame(&s, RT_FRAME_HEADER, 1, zeros, 8);
	stream_pad_to(&s, 1, IMG_BLOCK);
	stream_page_image(&s, 1, &sb[0], image[0], c[0]->carried);
	stream_pad_to(&s, 1, IMG_BLOCK); /* none needed */
	stream_page_image(&s, 1, &sb[1], image[1], c[1]->carried);
	stream_frame(&s, RT_FRAME_LOST, 1, &lost, sizeof(lost));
	stream_pad_to(&s, 1, IMG_BLOCK);
	stream_page_image(&s, 1, &sb[2], image[2], c[2]->carried);
	stream_frame(&s, RT_FRAME_END, 1, zeros, 8);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.f[3].offset, 3 * IMG_BLOCK);
	assert_int_equal(s.f[3].flags, RT_FRAME_F_PAGE_IMAGE);
	assert_int_equal(s.f[5].type, RT_FRAME_PAD);
	assert_int_equal(s.f[6].offset, 7 * IMG_BLOCK);
	expect_good(&s);

	run_pipe(&s, s.b.len, false, &r, &tid, &w);
	expect_stream(&s, r);
	rt_reader_close(r);
	assert_int_equal(pthread_join(tid, NULL), 0);
	close(w.rfd);
	for (int i = 0; i < 3; i++)
		free(image[i]);
	stream_free(&s);
}

/* The helpers on one frame in memory: span, checksum, compaction. */
static void test_page_image_span(void **state)
{
	const struct img_case *c = &img_cases[2];
	struct rt_subbuf sb = img_subbuf(c);
	size_t len = IMG_BLOCK - RT_FRAME_HDR_SIZE + c->subbuf_size;
	size_t clen = RT_SUBBUF_SIZE + c->carried, off = 0, n = 0;
	uint8_t *image = garbage_image(c->subbuf_size);
	uint8_t *p = calloc(1, len), *want = malloc(clen), *q;
	struct iovec iov = { want, clen };
	struct rt_frame_hdr hdr, compact, g;
	const char *why = NULL;
	uint32_t crc = 0;

	assert_non_null(p);
	assert_non_null(want);
	memcpy(p, &sb, sizeof(sb));
	memcpy(p + len - c->subbuf_size, image, c->subbuf_size);
	memcpy(want, &sb, sizeof(sb));
	memcpy(want + RT_SUBBUF_SIZE,
	       image + RB_PAGE_HDR_SIZE + c->data_start, c->carried);
	rt_frame_hdr_init(&compact, RT_FRAME_SUBBUF, 0, 4, 9, &iov, 1);
	hdr = compact;
	hdr.flags = RT_FRAME_F_PAGE_IMAGE;
	hdr.len = len;
	rt_frame_hdr_seal(&hdr);
	assert_int_equal(hdr.header_crc, crc32c_bitwise((uint8_t *)&hdr, 28));
	assert_int_equal(rt_frame_hdr_check(&hdr), 0);

	assert_int_equal(rt_page_image_span(&hdr, p, &off, &n, &why), 0);
	assert_int_equal(off, len - c->subbuf_size + RB_PAGE_HDR_SIZE +
				      c->data_start);
	assert_int_equal(n, c->carried);
	assert_int_equal(rt_frame_payload_crc(&hdr, p, &crc, &why), 0);
	assert_int_equal(crc, crc32c_bitwise(want, clen));
	assert_int_equal(crc, hdr.payload_crc);
	/* the other flags: the whole payload, or struct rt_subbuf only */
	g = hdr;
	g.flags = 0;
	assert_int_equal(rt_frame_payload_crc(&g, p, &crc, &why), 0);
	assert_int_equal(crc, crc32c_bitwise(p, len));
	g.flags = RT_FRAME_F_PARTIAL_CRC;
	assert_int_equal(rt_frame_payload_crc(&g, p, &crc, &why), 0);
	assert_int_equal(crc, crc32c_bitwise(p, RT_SUBBUF_SIZE));
	g.flags = RT_FRAME_F_PARTIAL_CRC | RT_FRAME_F_PAGE_IMAGE;
	why = NULL;
	assert_int_equal(rt_page_image_span(&g, p, &off, &n, &why), -EBADMSG);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(rt_frame_payload_crc(&g, p, &crc, &why), -EBADMSG);
	assert_non_null(why);
	g = hdr;
	g.type = RT_FRAME_END;
	why = NULL;
	assert_int_equal(rt_frame_payload_crc(&g, p, &crc, &why), -EBADMSG);
	assert_non_null(why);

	/* in place into the compact form, padding to 8 zeroed */
	rt_frame_compact(&hdr, p);
	assert_memory_equal(&hdr, &compact, RT_FRAME_HDR_SIZE);
	assert_int_equal(rt_frame_hdr_check(&hdr), 0);
	assert_memory_equal(p, want, clen);
	assert_true(rt_pad8(clen) > clen);
	assert_memory_equal(p + clen, zeros, rt_pad8(clen) - clen);
	/* and once compact it stays as it is */
	g = hdr;
	q = malloc(len);
	assert_non_null(q);
	memcpy(q, p, len);
	rt_frame_compact(&hdr, p);
	assert_memory_equal(&hdr, &g, RT_FRAME_HDR_SIZE);
	assert_memory_equal(p, q, len);
	free(q);
	free(want);
	free(p);
	free(image);
}

/* rt_frame_compact() leaves every frame without the flag as it is. */
static void test_frame_compact_noop(void **state)
{
	static const struct {
		uint16_t type, flags;
	} kinds[] = {
		{ RT_FRAME_SUBBUF, 0 },
		{ RT_FRAME_SUBBUF, RT_FRAME_F_PARTIAL_CRC },
		{ RT_FRAME_SUBBUF, RT_FRAME_F_SKIPPABLE },
		{ RT_FRAME_HEADER, 0 },
		{ RT_FRAME_LOST, 0 },
		{ RT_FRAME_PAD, RT_FRAME_F_SKIPPABLE },
		{ RT_FRAME_END, 0 },
	};
	const struct img_case *c = &img_cases[1];
	struct rt_subbuf sb = img_subbuf(c);
	size_t len = IMG_BLOCK - RT_FRAME_HDR_SIZE + c->subbuf_size;
	uint8_t *image = garbage_image(c->subbuf_size);
	uint8_t *p = calloc(1, len + 8), *q = malloc(len + 8);
	struct iovec iov = { p, len };
	struct rt_frame_hdr hdr, g;

	/* a payload that is a valid page image, were the flag set */
	assert_non_null(p);
	assert_non_null(q);
	memcpy(p, &sb, sizeof(sb));
	memcpy(p + len - c->subbuf_size, image, c->subbuf_size);
	memset(p + len, 0x77, 8);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		rt_frame_hdr_init(&hdr, kinds[k].type, kinds[k].flags, 0, k,
				  &iov, 1);
		g = hdr;
		memcpy(q, p, len + 8);
		rt_frame_compact(&hdr, q);
		assert_memory_equal(&hdr, &g, RT_FRAME_HDR_SIZE);
		assert_memory_equal(q, p, len + 8);
	}
	/* the same bytes with the flag are compacted */
	hdr.type = RT_FRAME_SUBBUF;
	hdr.flags = RT_FRAME_F_PAGE_IMAGE;
	rt_frame_hdr_seal(&hdr);
	rt_frame_compact(&hdr, q);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.len, RT_SUBBUF_SIZE + c->carried);
	assert_memory_equal(q + RT_SUBBUF_SIZE,
			    image + RB_PAGE_HDR_SIZE + c->data_start,
			    c->carried);
	free(q);
	free(p);
	free(image);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_chaining),
		cmocka_unit_test(test_crc32c_hw_sw_agree),
		cmocka_unit_test(test_crc32c_block_edges),
		cmocka_unit_test(test_crc32c_chaining_large),
		cmocka_unit_test(test_preamble),
		cmocka_unit_test(test_frame_hdr),
		cmocka_unit_test(test_records_round_trip),
		cmocka_unit_test(test_records_bad_lengths),
		cmocka_unit_test(test_reader_file_round_trip),
		cmocka_unit_test(test_reader_open_errors),
		cmocka_unit_test(test_reader_truncated_everywhere),
		cmocka_unit_test(test_reader_bit_flips),
		cmocka_unit_test(test_reader_hostile_length),
		cmocka_unit_test(test_reader_frame_rules),
		cmocka_unit_test(test_reader_pipe),
		cmocka_unit_test(test_page_image_span),
		cmocka_unit_test(test_frame_compact_noop),
		cmocka_unit_test(test_reader_page_image),
		cmocka_unit_test(test_reader_page_image_changes),
		cmocka_unit_test(test_reader_page_image_stored_lost),
		cmocka_unit_test(test_reader_page_image_bad),
		cmocka_unit_test(test_reader_page_image_truncated),
		cmocka_unit_test(test_reader_page_image_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
