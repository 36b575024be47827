// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ringtap stream format: CRC32C, frame and record helpers, and a
 * sequential reader that validates every byte it hands out.  The layout is
 * described in docs/stream-format.md and include/ringtap/stream_format.h.
 *
 * The reader trusts nothing in its input: every length is checked against
 * what is actually present before it is used, and memory grows only with
 * bytes that have really been read, never with what a header claims.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ringtap/stream_format.h"
#include "ringtap/trace_mmap.h"

/*
 * The format is little-endian and the code reads and writes the structs in
 * host order: refuse to build where that would silently write other files.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the ringtap stream format is little-endian; this host is not");
_Static_assert(__builtin_offsetof(struct rt_frame_hdr, header_crc) == 28,
	       "header_crc covers bytes 0..27");

/* ---- CRC32C ---- */

/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) is written here by
 * hand because Debian 12 has no small C library for it: zlib only does the
 * IEEE CRC32, and the one packaged library with a CRC32C (Intel's ISA-L,
 * libisal-dev, crc32_iscsi()) is a storage-acceleration suite with an int
 * length, a large dependency for these few lines.  It runs over every
 * captured byte, so x86-64 uses the SSE4.2 crc32 instruction when the CPU
 * has it, three streams at a time with PCLMULQDQ to join them (see
 * crc32c_sse42_3way()), and everything else a slice-by-8 table.
 */
#define CRC32C_POLY 0x82F63B78u

uint32_t rt_crc32c_sw(uint32_t crc, const void *buf, size_t len);

static uint32_t crc_table[8][256];
static uint32_t (*crc_impl)(uint32_t crc, const uint8_t *p, size_t len);
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Both take and return the CRC register, i.e. without the ~ on either end. */
static uint32_t crc32c_slice8(uint32_t c, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		uint32_t lo, hi;

		memcpy(&v, p, 8);
		lo = (uint32_t)v ^ c;
		hi = (uint32_t)(v >> 32);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

/*
 * One crc32 instruction takes 3 cycles but a new one can start every cycle,
 * so the loop above, where each step waits for the last, runs at a third of
 * what the CPU can do.  crc32c_sse42_3way() splits the buffer into three
 * consecutive blocks of equal length and runs one independent chain over
 * each, in the same loop.  The chains over blocks B and C start from 0, and
 * the three partial CRCs are then joined: the CRC is linear, so
 *
 *	crc(c, A B C) = c_A * x^(16n) + c_B * x^(8n) + c_C   mod P
 *
 * with n the block length in bytes.  Multiplying by the constant x^(8n) mod
 * P is one carry-less multiply (PCLMULQDQ) and one crc32 to reduce the
 * 64-bit product mod P.  Block lengths are fixed, so the constants are
 * computed once, in crc_init(): LONG blocks for the bulk of large buffers,
 * SHORT ones for what is left, and the plain loop for the last < 3 * SHORT
 * bytes.  This is the scheme of the kernel's crc32c-pcl-intel and of Mark
 * Adler's crc32c.c.
 */
#define CRC32C_LONG 8192
#define CRC32C_SHORT 256

/*
 * Polynomials mod P in the reflected form the crc32 instruction uses: bit
 * 31 holds the coefficient of x^0, bit 0 that of x^31.
 */
static uint32_t gf2_mulmod(uint32_t a, uint32_t b)
{
	uint32_t prod = 0;

	for (int k = 0; k < 32; k++) {
		if (a & (0x80000000u >> k))
			prod ^= b; /* a has x^k: add b * x^k */
		b = (b >> 1) ^ (CRC32C_POLY & -(b & 1)); /* b *= x */
	}
	return prod;
}

/* x^n mod P, by square-and-multiply */
static uint32_t gf2_xpow(uint64_t n)
{
	uint32_t r = 0x80000000u, sq = 0x40000000u; /* x^0, x^1 */

	for (; n; n >>= 1, sq = gf2_mulmod(sq, sq))
		if (n & 1)
			r = gf2_mulmod(r, sq);
	return r;
}

/*
 * Constants for shifting a CRC over 1 and 2 blocks.  clmul of two reflected
 * 32-bit values, read back as the 64-bit word crc32 takes, is their product
 * times x, and crc32(0, w) is w * x^32 mod P: 33 powers of x come for free,
 * so each constant is x^(8n - 33) mod P.
 */
static uint32_t crc_k_long1, crc_k_long2, crc_k_short1, crc_k_short2;

static void crc32c_3way_init(void)
{
	crc_k_long1 = gf2_xpow(8 * CRC32C_LONG - 33);
	crc_k_long2 = gf2_xpow(8 * 2 * CRC32C_LONG - 33);
	crc_k_short1 = gf2_xpow(8 * CRC32C_SHORT - 33);
	crc_k_short2 = gf2_xpow(8 * 2 * CRC32C_SHORT - 33);
}

/* CRC register over 3 * @n bytes at @p, @n a multiple of 8. */
__attribute__((target("sse4.2,pclmul"), always_inline))
static inline uint32_t crc32c_3blocks(uint32_t crc, const uint8_t *p,
				      size_t n, uint32_t k1, uint32_t k2)
{
	uint64_t c0 = crc, c1 = 0, c2 = 0, v0, v1, v2;
	__m128i a, b;

	for (const uint8_t *end = p + n; p < end; p += 8) {
		memcpy(&v0, p, 8);
		memcpy(&v1, p + n, 8);
		memcpy(&v2, p + 2 * n, 8);
		c0 = __builtin_ia32_crc32di(c0, v0);
		c1 = __builtin_ia32_crc32di(c1, v1);
		c2 = __builtin_ia32_crc32di(c2, v2);
	}
	/* c0 * x^(16n) + c1 * x^(8n), one reduction for both products */
	a = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)c0),
				 _mm_cvtsi32_si128((int)k2), 0x00);
	b = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)c1),
				 _mm_cvtsi32_si128((int)k1), 0x00);
	v0 = (uint64_t)_mm_cvtsi128_si64(_mm_xor_si128(a, b));
	return (uint32_t)__builtin_ia32_crc32di(0, v0) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2,pclmul")))
static uint32_t crc32c_sse42_3way(uint32_t crc, const uint8_t *p, size_t len)
{
	/* aligned 8-byte loads in the loops: go byte-wise to the boundary */
	while (len && ((uintptr_t)p & 7)) {
		crc = __builtin_ia32_crc32qi(crc, *p++);
		len--;
	}
	for (; len >= 3 * CRC32C_LONG;
	     p += 3 * CRC32C_LONG, len -= 3 * CRC32C_LONG)
		crc = crc32c_3blocks(crc, p, CRC32C_LONG, crc_k_long1,
				     crc_k_long2);
	for (; len >= 3 * CRC32C_SHORT;
	     p += 3 * CRC32C_SHORT, len -= 3 * CRC32C_SHORT)
		crc = crc32c_3blocks(crc, p, CRC32C_SHORT, crc_k_short1,
				     crc_k_short2);
	return crc32c_sse42(crc, p, len);
}
#endif

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++) {
		for (int t = 1; t < 8; t++) {
			uint32_t c = crc_table[t - 1][i];

			crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
	}
	crc_impl = crc32c_slice8;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		crc_impl = crc32c_sse42;
		if (__builtin_cpu_supports("pclmul")) {
			crc32c_3way_init();
			crc_impl = crc32c_sse42_3way;
		}
	}
#endif
}

/**
 * rt_crc32c() - CRC32C of @len bytes at @buf
 * @crc: 0 to start, or the result for the bytes before @buf to continue
 *
 * rt_crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t rt_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_impl(~crc, buf, len);
}

/* The table path, whatever the CPU: for tests that compare both. */
uint32_t rt_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc32c_slice8(~crc, buf, len);
}

/* ---- preamble and frame header ---- */

void rt_preamble_init(struct rt_preamble *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->magic, RT_MAGIC, sizeof(p->magic));
	p->version = RT_VERSION;
}

int rt_preamble_check(const struct rt_preamble *p)
{
	if (memcmp(p->magic, RT_MAGIC, sizeof(p->magic)) || p->version == 0)
		return -EPROTO;
	if (p->version > RT_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

static uint32_t hdr_crc(const struct rt_frame_hdr *hdr)
{
	return rt_crc32c(0, hdr, offsetof(struct rt_frame_hdr, header_crc));
}

void rt_frame_hdr_init(struct rt_frame_hdr *hdr, uint16_t type, uint16_t flags,
		       uint32_t cpu, uint64_t seq, const struct iovec *iov,
		       int iovcnt)
{
	uint32_t crc = 0;
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		crc = rt_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = RT_FRAME_MAGIC;
	hdr->type = type;
	hdr->flags = flags;
	hdr->cpu = cpu;
	hdr->len = (uint32_t)len;
	hdr->seq = seq;
	hdr->payload_crc = crc;
	hdr->header_crc = hdr_crc(hdr);
}

int rt_frame_hdr_check(const struct rt_frame_hdr *hdr)
{
	if (hdr->magic != RT_FRAME_MAGIC || hdr->header_crc != hdr_crc(hdr) ||
	    hdr->len > RT_FRAME_MAX_PAYLOAD)
		return -EBADMSG;
	return 0;
}

void rt_frame_hdr_seal(struct rt_frame_hdr *hdr)
{
	hdr->header_crc = hdr_crc(hdr);
}

int rt_page_image_span(const struct rt_frame_hdr *hdr, const uint8_t *payload,
		       size_t *off, size_t *len, const char **why)
{
	struct rt_subbuf sb;
	size_t image, end;

	if (hdr->type != RT_FRAME_SUBBUF || hdr->len < RT_SUBBUF_SIZE ||
	    (hdr->flags & RT_FRAME_F_PARTIAL_CRC)) {
		*why = "page image flag on a frame that is no plain sub-buffer frame";
		return -EBADMSG;
	}
	memcpy(&sb, payload, sizeof(sb));
	if (sb.subbuf_size < RB_PAGE_HDR_SIZE ||
	    sb.subbuf_size > hdr->len - RT_SUBBUF_SIZE ||
	    (sb.flags & RT_SUBBUF_F_RAW_PAGE)) {
		*why = "page image does not fit its frame";
		return -EBADMSG;
	}
	image = hdr->len - sb.subbuf_size;
	for (size_t i = RT_SUBBUF_SIZE; i < image; i++)
		if (payload[i]) {
			*why = "nonzero padding before the page image";
			return -EBADMSG;
		}
	end = (size_t)sb.data_start + sb.data_len;
	if (end < sb.data_start || end > sb.subbuf_size - RB_PAGE_HDR_SIZE) {
		*why = "carried range outside the page image";
		return -EBADMSG;
	}
	*off = image + RB_PAGE_HDR_SIZE + sb.data_start;
	*len = sb.data_len;
	/* the daemon's rule (fill_ref()): the count follows the data if room */
	if ((sb.commit & RB_MISSED_STORED) &&
	    RB_PAGE_HDR_SIZE + end + 8 <= sb.subbuf_size)
		*len += 8;
	return 0;
}

int rt_frame_payload_crc(const struct rt_frame_hdr *hdr, const uint8_t *payload,
			 uint32_t *crc, const char **why)
{
	size_t off, len;

	if (hdr->flags & RT_FRAME_F_PAGE_IMAGE) {
		if (rt_page_image_span(hdr, payload, &off, &len, why) < 0)
			return -EBADMSG;
		*crc = rt_crc32c(rt_crc32c(0, payload, RT_SUBBUF_SIZE),
				 payload + off, len);
		return 0;
	}
	if (hdr->flags & RT_FRAME_F_PARTIAL_CRC) {
		if (hdr->type != RT_FRAME_SUBBUF || hdr->len < RT_SUBBUF_SIZE) {
			*why = "partial checksum on a frame that is no sub-buffer frame";
			return -EBADMSG;
		}
		*crc = rt_crc32c(0, payload, RT_SUBBUF_SIZE);
		return 0;
	}
	*crc = rt_crc32c(0, payload, hdr->len);
	return 0;
}

void rt_frame_compact(struct rt_frame_hdr *hdr, uint8_t *payload)
{
	const char *why;
	size_t off, len;

	if (!(hdr->flags & RT_FRAME_F_PAGE_IMAGE) ||
	    rt_page_image_span(hdr, payload, &off, &len, &why) < 0)
		return;
	memmove(payload + RT_SUBBUF_SIZE, payload + off, len);
	hdr->len = RT_SUBBUF_SIZE + len;
	hdr->flags &= ~RT_FRAME_F_PAGE_IMAGE;
	rt_frame_hdr_seal(hdr);
	/* the compact form is padded to 8 with zeros */
	memset(payload + hdr->len, 0, rt_pad8(hdr->len) - hdr->len);
}

/* ---- growable buffer and TLV records ---- */

void rt_buf_free(struct rt_buf *b)
{
	if (!b)
		return;
	free(b->data);
	*b = (struct rt_buf){ 0 };
}

/* Make room for @n more bytes; the buffer is unchanged on failure. */
static int buf_reserve(struct rt_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n > SIZE_MAX - b->len)
		return -ENOMEM;
	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int rt_buf_append(struct rt_buf *b, const void *p, size_t n)
{
	int r;

	if (!n)
		return 0;
	r = buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int rt_record_add(struct rt_buf *b, uint16_t tag, const void *val, size_t len)
{
	struct rt_record rec = { .tag = tag, .len = (uint32_t)len };
	size_t pad;
	int r;

	if (len > UINT32_MAX || len > SIZE_MAX - sizeof(rec) - 7)
		return -EOVERFLOW;
	pad = rt_pad8(len) - len;
	r = buf_reserve(b, sizeof(rec) + len + pad);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, &rec, sizeof(rec));
	if (len)
		memcpy(b->data + b->len + sizeof(rec), val, len);
	memset(b->data + b->len + sizeof(rec) + len, 0, pad);
	b->len += sizeof(rec) + len + pad;
	return 0;
}

/* Strings are stored without their NUL: readers use the record length. */
int rt_record_add_str(struct rt_buf *b, uint16_t tag, const char *s)
{
	if (!s)
		return -EINVAL;
	return rt_record_add(b, tag, s, strlen(s));
}

int rt_record_add_u32(struct rt_buf *b, uint16_t tag, uint32_t v)
{
	return rt_record_add(b, tag, &v, sizeof(v));
}

int rt_record_add_u64(struct rt_buf *b, uint16_t tag, uint64_t v)
{
	return rt_record_add(b, tag, &v, sizeof(v));
}

int rt_record_next(const uint8_t *p, size_t size, size_t *off, uint16_t *tag,
		   const uint8_t **val, uint32_t *len)
{
	struct rt_record rec;
	size_t left;

	if (*off == size)
		return 0;
	if (*off > size || size - *off < sizeof(rec) || (*off & 7))
		return -EBADMSG;
	left = size - *off - sizeof(rec);
	memcpy(&rec, p + *off, sizeof(rec));
	/*
	 * The padding belongs to the record: a payload is whole records.
	 * rec.len > left is not redundant: rt_pad8() wraps on 32-bit size_t.
	 */
	if (rec.len > left || rt_pad8(rec.len) > left)
		return -EBADMSG;
	*tag = rec.tag;
	*len = rec.len;
	*val = p + *off + sizeof(rec);
	*off += sizeof(rec) + rt_pad8(rec.len);
	return 1;
}

/* ---- sequential reader ---- */

/* First read size; the buffer doubles only when full of real input. */
#define READER_CHUNK (64u << 10)

struct rt_reader {
	int fd;
	bool owns_fd;
	char *name;
	uint8_t *buf;
	size_t cap;
	size_t start;	 /* first byte of buf not yet handed out */
	size_t end;	 /* end of the bytes read into buf */
	uint64_t offset; /* input offset of buf[start] */
	uint64_t seq;	 /* expected seq of the next frame */
	bool input_eof;	 /* read() returned 0 */
	bool done;	 /* RT_READ_EOF returned */
	int err;	 /* sticky error, 0 if none */
	char msg[PATH_MAX + 256];
};

__attribute__((format(printf, 3, 4)))
static int reader_fail(struct rt_reader *r, int err, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(r->msg, sizeof(r->msg), "%s: ", r->name);
	if (n < sizeof(r->msg)) {
		va_start(ap, fmt);
		vsnprintf(r->msg + n, sizeof(r->msg) - n, fmt, ap);
		va_end(ap);
	}
	r->err = err;
	return err;
}

/*
 * Have at least @want bytes from buf[start] on, unless the input ends
 * first: the caller compares end - start with @want.  0 or -errno.
 */
static int reader_fill(struct rt_reader *r, size_t want)
{
	while (r->end - r->start < want && !r->input_eof) {
		ssize_t n;

		if (r->start && r->cap - r->start < want) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : READER_CHUNK;
			uint8_t *p;

			if (cap > want)
				cap = want > READER_CHUNK ? want : READER_CHUNK;
			p = realloc(r->buf, cap);
			if (!p)
				return -ENOMEM;
			r->buf = p;
			r->cap = cap;
		}
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			r->input_eof = true;
		r->end += (size_t)n;
	}
	return 0;
}

static int reader_fill_or_fail(struct rt_reader *r, size_t want)
{
	uint64_t at = r->offset + (r->end - r->start);
	int ret = reader_fill(r, want);

	if (ret == -ENOMEM)
		return reader_fail(r, ret, "out of memory reading at byte %" PRIu64,
				   at);
	if (ret < 0)
		return reader_fail(r, ret, "read error at byte %" PRIu64 ": %s",
				   r->offset + (r->end - r->start),
				   strerror(-ret));
	return 0;
}

static int reader_preamble(struct rt_reader *r)
{
	struct rt_preamble pre;
	size_t have;
	int ret;

	ret = reader_fill_or_fail(r, sizeof(pre));
	if (ret < 0)
		return ret;
	have = r->end - r->start;
	if (have < sizeof(pre))
		return reader_fail(r, -ENODATA,
				   "truncated preamble at byte 0 (%zu of %d bytes): not a complete ringtap stream",
				   have, RT_PREAMBLE_SIZE);
	memcpy(&pre, r->buf + r->start, sizeof(pre));
	ret = rt_preamble_check(&pre);
	if (ret < 0 && memcmp(pre.magic, RT_MAGIC, sizeof(pre.magic)))
		return reader_fail(r, ret,
				   "not a ringtap stream: bad magic at byte 0");
	if (ret == -EPROTONOSUPPORT)
		return reader_fail(r, ret,
				   "stream format version %" PRIu32 " is newer than this reader's (%d)",
				   pre.version, RT_VERSION);
	if (ret < 0)
		return reader_fail(r, ret,
				   "invalid stream format version %" PRIu32 " at byte 8",
				   pre.version);
	r->start += sizeof(pre);
	r->offset += sizeof(pre);
	return 0;
}

/*
 * Take ownership of @fd only when @owns_fd; on failure the reader, if it
 * could be allocated, is returned with its error message.
 */
static int reader_new(int fd, bool owns_fd, const char *name,
		      struct rt_reader **ret)
{
	struct rt_reader *r = calloc(1, sizeof(*r));
	char fdname[32];

	*ret = NULL;
	if (!name) {
		snprintf(fdname, sizeof(fdname), "<fd %d>", fd);
		name = fdname;
	}
	if (r)
		r->name = strdup(name);
	if (!r || !r->name) {
		free(r);
		if (owns_fd && fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	r->fd = fd;
	r->owns_fd = owns_fd;
	*ret = r;
	return 0;
}

int rt_reader_open_fd(int fd, const char *name, struct rt_reader **ret)
{
	int err = reader_new(fd, false, name, ret);

	if (err < 0)
		return err;
	return reader_preamble(*ret);
}

int rt_reader_open(const char *path, struct rt_reader **ret)
{
	bool is_stdin = !strcmp(path, "-");
	struct rt_reader *r;
	int fd = STDIN_FILENO, err;

	if (!is_stdin) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	}
	err = reader_new(fd, !is_stdin, is_stdin ? "<stdin>" : path, ret);
	r = *ret;
	if (err < 0)
		return err;
	if (fd < 0)
		return reader_fail(r, fd, "cannot open: %s", strerror(-fd));
	return reader_preamble(r);
}

void rt_reader_close(struct rt_reader *r)
{
	if (!r)
		return;
	if (r->owns_fd && r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->name);
	free(r);
}

/* Read and validate the 32-byte header at buf[start]. */
static int reader_header(struct rt_reader *r, struct rt_frame_hdr *hdr)
{
	size_t have;
	int ret;

	ret = reader_fill_or_fail(r, sizeof(*hdr));
	if (ret < 0)
		return ret;
	have = r->end - r->start;
	if (have == 0)
		return RT_READ_EOF;
	if (have < sizeof(*hdr))
		return reader_fail(r, -ENODATA,
				   "truncated frame header at byte %" PRIu64 " (%zu of %d bytes)",
				   r->offset, have, RT_FRAME_HDR_SIZE);
	memcpy(hdr, r->buf + r->start, sizeof(*hdr));
	/* the same checks as rt_frame_hdr_check(), each with its message */
	if (hdr->magic != RT_FRAME_MAGIC)
		return reader_fail(r, -EBADMSG,
				   "bad frame magic at byte %" PRIu64 " (0x%08" PRIx32 ")",
				   r->offset, hdr->magic);
	if (hdr->header_crc != hdr_crc(hdr))
		return reader_fail(r, -EBADMSG,
				   "bad frame header checksum at byte %" PRIu64,
				   r->offset);
	if (hdr->len > RT_FRAME_MAX_PAYLOAD)
		return reader_fail(r, -EBADMSG,
				   "frame at byte %" PRIu64 ": payload length %" PRIu32 " exceeds limit (%u)",
				   r->offset, hdr->len, RT_FRAME_MAX_PAYLOAD);
	if (hdr->seq != r->seq)
		return reader_fail(r, -EBADMSG,
				   "frame at byte %" PRIu64 ": sequence number %" PRIu64 ", expected %" PRIu64 " (frames missing or out of order)",
				   r->offset, hdr->seq, r->seq);
	return RT_READ_OK;
}

/* Read the payload and padding after a valid header; check both. */
static int reader_payload(struct rt_reader *r, const struct rt_frame_hdr *hdr)
{
	size_t total = RT_FRAME_HDR_SIZE + rt_pad8(hdr->len), have;
	const char *why = NULL;
	const uint8_t *payload;
	uint32_t crc;
	int ret;

	ret = reader_fill_or_fail(r, total);
	if (ret < 0)
		return ret;
	have = r->end - r->start - RT_FRAME_HDR_SIZE;
	if (have < hdr->len)
		return reader_fail(r, -ENODATA,
				   "truncated frame at byte %" PRIu64 ": header says %" PRIu32 " payload bytes, only %zu present",
				   r->offset, hdr->len, have);
	if (have < total - RT_FRAME_HDR_SIZE)
		return reader_fail(r, -ENODATA,
				   "truncated frame at byte %" PRIu64 ": %" PRIu32 " payload bytes present, but only %zu of %zu padding bytes",
				   r->offset, hdr->len, have - hdr->len,
				   rt_pad8(hdr->len) - hdr->len);
	payload = r->buf + r->start + RT_FRAME_HDR_SIZE;
	if ((hdr->flags & (RT_FRAME_F_PARTIAL_CRC | RT_FRAME_F_PAGE_IMAGE)) ==
		    RT_FRAME_F_PARTIAL_CRC &&
	    (hdr->type != RT_FRAME_SUBBUF || hdr->len < RT_SUBBUF_SIZE))
		return reader_fail(r, -EBADMSG,
				   "frame at byte %" PRIu64 ": partial checksum on a frame of type %u and %" PRIu32 " bytes",
				   r->offset, hdr->type, hdr->len);
	if (rt_frame_payload_crc(hdr, payload, &crc, &why) < 0)
		return reader_fail(r, -EBADMSG, "frame at byte %" PRIu64 ": %s",
				   r->offset, why);
	if (crc != hdr->payload_crc)
		return reader_fail(r, -EBADMSG,
				   "bad payload checksum at byte %" PRIu64 " (frame type %u, seq %" PRIu64 ")",
				   r->offset, hdr->type, hdr->seq);
	for (size_t i = hdr->len; i < rt_pad8(hdr->len); i++)
		if (payload[i])
			return reader_fail(r, -EBADMSG,
					   "frame at byte %" PRIu64 ": nonzero padding after the payload",
					   r->offset);
	return 0;
}

/**
 * rt_reader_next() - the next frame of the input
 *
 * Returns RT_READ_OK with @f filled, RT_READ_EOF when the input ends at a
 * frame boundary, or a negative errno with the reason and byte offset in
 * rt_reader_error().  An error or EOF is returned again by later calls.
 */
int rt_reader_next(struct rt_reader *r, struct rt_frame *f)
{
	struct rt_frame_hdr hdr;
	int ret;

	if (r->err)
		return r->err;
	if (r->done)
		return RT_READ_EOF;
	ret = reader_header(r, &hdr);
	if (ret == RT_READ_EOF)
		r->done = true;
	if (ret != RT_READ_OK)
		return ret;
	ret = reader_payload(r, &hdr);
	if (ret < 0)
		return ret;
	f->hdr = hdr;
	f->payload = r->buf + r->start + RT_FRAME_HDR_SIZE;
	f->offset = r->offset;
	r->start += RT_FRAME_HDR_SIZE + rt_pad8(hdr.len);
	r->offset += RT_FRAME_HDR_SIZE + rt_pad8(hdr.len);
	/* callers see every sub-buffer frame in one (the compact) form */
	rt_frame_compact(&f->hdr, r->buf + r->start - rt_pad8(hdr.len));
	r->seq++;
	return RT_READ_OK;
}

const char *rt_reader_error(const struct rt_reader *r)
{
	return r->err ? r->msg : "";
}

const char *rt_reader_name(const struct rt_reader *r)
{
	return r->name;
}

uint64_t rt_reader_offset(const struct rt_reader *r)
{
	return r->offset;
}
