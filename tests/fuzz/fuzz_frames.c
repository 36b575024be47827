// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_frames: the frame reader of lib/stream_format.c alone, on an fd
 * (rt_reader_open_fd + rt_reader_next), checked against the input itself:
 *
 * - a frame handed out is exactly the input bytes at its offset, at the
 *   offset after the previous frame, with sequence number = frames before;
 * - RT_READ_EOF only at the end of the input, and again on the next call;
 * - an error is -EBADMSG or -ENODATA (-EPROTO/-EPROTONOSUPPORT for the
 *   preamble), repeats on the next call, and its message names the byte
 *   offset of the frame it is about;
 * - metadata records found by rt_record_next() lie inside the payload.
 *
 * Odd-sized inputs go through a pipe (like `ringtap report -`), others
 * through a memfd.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ringtap/stream_format.h"

#define PIPE_MAX (1u << 20)

static int memfd = -1;

#define fuzz_assert(cond, ...)                                        \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr, "fuzz_frames: " __VA_ARGS__); \
			fputc('\n', stderr);                          \
			abort();                                      \
		}                                                     \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memfd = memfd_create("fuzz_frames", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("memfd_create");
		exit(1);
	}
	return 0;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
}

/* An fd positioned at the start of @data, or -1 to use the memfd. */
static int input_fd(const uint8_t *data, size_t size, bool *is_pipe)
{
	int p[2];

	*is_pipe = false;
	if (size % 2 == 0 || size > PIPE_MAX)
		goto use_memfd;
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	if (size > 65536 && fcntl(p[1], F_SETPIPE_SZ, PIPE_MAX) < 0) {
		close(p[0]);
		close(p[1]);
		goto use_memfd;
	}
	write_all(p[1], data, size);
	close(p[1]);
	*is_pipe = true;
	return p[0];
use_memfd:
	if (ftruncate(memfd, 0) < 0 || lseek(memfd, 0, SEEK_SET) < 0)
		abort();
	write_all(memfd, data, size);
	if (lseek(memfd, 0, SEEK_SET) < 0)
		abort();
	return memfd;
}

/* The error message names @off as "at byte N". */
static void check_offset(const struct rt_reader *r, uint64_t off)
{
	const char *msg = rt_reader_error(r), *at = strstr(msg, "at byte ");
	char want[48];
	bool same;

	fuzz_assert(at, "error without a byte offset: '%s'", msg);
	snprintf(want, sizeof(want), "at byte %" PRIu64, off);
	same = !strncmp(at, want, strlen(want)) &&
	       !isdigit((unsigned char)at[strlen(want)]);
	fuzz_assert(same,
		    "error names the wrong offset (frame at %" PRIu64 "): '%s'",
		    off, msg);
}

static void check_records(const struct rt_frame *f)
{
	const uint8_t *val;
	size_t off = 0, prev = 0;
	uint16_t tag;
	uint32_t len;
	int r;

	while ((r = rt_record_next(f->payload, f->hdr.len, &off, &tag, &val,
				   &len)) == 1) {
		fuzz_assert(val >= f->payload + prev + 8 &&
				    val + len <= f->payload + f->hdr.len &&
				    off > prev && off <= f->hdr.len,
			    "record outside its payload");
		prev = off;
	}
	fuzz_assert(r == 0 || r == -EBADMSG, "rt_record_next returned %d", r);
}

static void check_frame(const uint8_t *data, size_t size,
			const struct rt_frame *f, uint64_t off, uint64_t seq)
{
	size_t span = f->hdr.len;

	fuzz_assert(f->offset == off, "frame at %" PRIu64 ", expected %" PRIu64,
		    f->offset, off);
	fuzz_assert(off + RT_FRAME_HDR_SIZE + rt_pad8(f->hdr.len) <= size,
		    "frame at %" PRIu64 " runs past the input", off);
	fuzz_assert(!memcmp(&f->hdr, data + off, RT_FRAME_HDR_SIZE) &&
			    !memcmp(f->payload, data + off + RT_FRAME_HDR_SIZE,
				    f->hdr.len),
		    "frame at %" PRIu64 " differs from the input", off);
	fuzz_assert(f->hdr.seq == seq && rt_frame_hdr_check(&f->hdr) == 0,
		    "frame at %" PRIu64 " accepted with a bad header", off);
	if (f->hdr.flags & RT_FRAME_F_PARTIAL_CRC) {
		fuzz_assert(f->hdr.type == RT_FRAME_SUBBUF &&
				    f->hdr.len >= RT_SUBBUF_SIZE,
			    "partial checksum accepted on type %u",
			    f->hdr.type);
		span = RT_SUBBUF_SIZE;
	}
	fuzz_assert(rt_crc32c(0, f->payload, span) == f->hdr.payload_crc,
		    "frame at %" PRIu64 " accepted with a bad payload", off);
	if (f->hdr.type == RT_FRAME_HEADER || f->hdr.type == RT_FRAME_METADATA)
		check_records(f);
}

/* Truncation (-ENODATA) exactly when the input ends inside the frame. */
static void check_error_kind(const uint8_t *data, size_t size, uint64_t off,
			     uint64_t seq, int ret)
{
	struct rt_frame_hdr hdr;
	bool cut;

	if (size - off < RT_FRAME_HDR_SIZE) {
		fuzz_assert(ret == -ENODATA,
			    "short header at %" PRIu64 " reported as %d", off,
			    ret);
		return;
	}
	memcpy(&hdr, data + off, sizeof(hdr));
	if (rt_frame_hdr_check(&hdr) < 0 || hdr.seq != seq) {
		fuzz_assert(ret == -EBADMSG,
			    "bad header at %" PRIu64 " reported as %d", off,
			    ret);
		return;
	}
	cut = RT_FRAME_HDR_SIZE + rt_pad8(hdr.len) > size - off;
	fuzz_assert(cut == (ret == -ENODATA),
		    "frame at %" PRIu64 " (%" PRIu32
		    " bytes, %zu left) reported as %d",
		    off, hdr.len, (size_t)(size - off), ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t off = RT_PREAMBLE_SIZE, seq = 0;
	struct rt_reader *r;
	struct rt_frame f;
	bool is_pipe;
	int fd = input_fd(data, size, &is_pipe), ret;

	ret = rt_reader_open_fd(fd, "fuzz", &r);
	if (ret < 0) {
		fuzz_assert(ret == -EPROTO || ret == -EPROTONOSUPPORT ||
				    ret == -ENODATA,
			    "open returned %d", ret);
		fuzz_assert(r && !strncmp(rt_reader_error(r), "fuzz: ", 6),
			    "open error without the stream's name");
		goto out;
	}
	while ((ret = rt_reader_next(r, &f)) == RT_READ_OK) {
		check_frame(data, size, &f, off, seq);
		off += RT_FRAME_HDR_SIZE + rt_pad8(f.hdr.len);
		seq++;
		fuzz_assert(rt_reader_offset(r) == off, "offset not advanced");
	}
	if (ret == RT_READ_EOF) {
		fuzz_assert(off == size, "EOF at %" PRIu64 " of %zu bytes", off,
			    size);
		fuzz_assert(rt_reader_next(r, &f) == RT_READ_EOF,
			    "EOF not repeated");
		goto out;
	}
	fuzz_assert(ret == -EBADMSG || ret == -ENODATA,
		    "rt_reader_next returned %d", ret);
	check_error_kind(data, size, off, seq, ret);
	check_offset(r, off);
	fuzz_assert(rt_reader_next(r, &f) == ret, "error not repeated");
out:
	rt_reader_close(r);
	if (is_pipe)
		close(fd);
	return 0;
}
