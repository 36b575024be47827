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
	*e = (struct exp_frame){ type, flags, cpu, s->n, alen + blen,
				 s->b.len };
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

static void expect_frame(const struct stream *s, int i,
			 const struct rt_frame *f)
{
	const struct exp_frame *e = &s->f[i];

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
