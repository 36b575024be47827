/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ringtap stream format, version 1: the on-disk (and on-wire) layout of a
 * capture.  docs/stream-format.md is the normative description; this header
 * is its C rendering.  All integers are little-endian.
 *
 *   preamble  (16 bytes)  "RINGTAP\0", u32 version, u32 flags
 *   frame...              32-byte frame header + payload + zero padding to 8
 *
 * Every file starts with the preamble and a HEADER frame that carries all
 * the metadata needed to decode it on another machine, so each rotated file
 * stands alone.  A file written to its end finishes with an END frame.
 */
#ifndef RINGTAP_STREAM_FORMAT_H
#define RINGTAP_STREAM_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define RT_MAGIC "RINGTAP"	/* 8 bytes with its NUL */
#define RT_VERSION 1
#define RT_PREAMBLE_SIZE 16

#define RT_FRAME_MAGIC 0x52465452u /* "RTFR" little-endian */
#define RT_FRAME_HDR_SIZE 32
#define RT_FRAME_ALIGN 8
/* Largest payload a reader accepts: guards allocations against bad input. */
#define RT_FRAME_MAX_PAYLOAD (64u << 20)

#define RT_CPU_NONE 0xffffffffu

struct rt_preamble {
	char magic[8];
	uint32_t version;
	uint32_t flags; /* reserved, 0 */
};

enum rt_frame_type {
	RT_FRAME_HEADER = 1,   /* metadata records (TLV), first in a file */
	RT_FRAME_SUBBUF = 2,   /* a range of one ring-buffer sub-buffer */
	RT_FRAME_LOST = 3,     /* events lost outside any sub-buffer flag */
	RT_FRAME_METADATA = 4, /* more metadata records (e.g. cmdlines) */
	RT_FRAME_END = 5,      /* end of file: reason + per-CPU statistics */
	RT_FRAME_PAD = 6,      /* zero bytes aligning the next frame (SKIPPABLE) */
};

/* A reader that does not know a frame type with this flag skips it. */
#define RT_FRAME_F_SKIPPABLE 0x0001
/*
 * payload_crc covers only the fixed part of the payload (for SUBBUF: the
 * struct rt_subbuf), not the sub-buffer bytes: set by the splice reader,
 * which moves pages from the kernel to the file without seeing them.
 */
#define RT_FRAME_F_PARTIAL_CRC 0x0002
/*
 * SUBBUF only: the payload is struct rt_subbuf, zero padding, then an image
 * of the whole kernel sub-buffer (subbuf_size bytes, its 16-byte header
 * included) that ends the payload.  Only the carried bytes of the image
 * mean anything: data_len bytes at data offset data_start, then the 8-byte
 * stored lost count when commit has RB_MISSED_STORED and it fits in the
 * sub-buffer.  payload_crc covers struct rt_subbuf followed by those bytes,
 * so it equals the CRC of the same frame in the compact form (rt_subbuf,
 * then the carried bytes), which rt_frame_compact() turns it into.
 * Written by the file output with O_DIRECT straight from the mapped page:
 * the frame starts on a file-system block boundary and the image, which
 * sits in page-aligned memory, on the next one.
 */
#define RT_FRAME_F_PAGE_IMAGE 0x0004

struct rt_frame_hdr {
	uint32_t magic;	      /* RT_FRAME_MAGIC */
	uint16_t type;	      /* enum rt_frame_type */
	uint16_t flags;	      /* RT_FRAME_F_* */
	uint32_t cpu;	      /* CPU the frame is about, or RT_CPU_NONE */
	uint32_t len;	      /* payload bytes (padding not included) */
	uint64_t seq;	      /* frame number within the file, from 0 */
	uint32_t payload_crc; /* CRC32C of the payload */
	uint32_t header_crc;  /* CRC32C of bytes 0..27 of this header */
};

/*
 * SUBBUF payload: this struct, then data_len bytes of the sub-buffer's data
 * area starting at data_start, then (if commit has RB_MISSED_STORED) the
 * 8-byte lost count the kernel stored after the data.
 *
 * Events live in the data area at offsets [data_start, data_end) with
 * data_end = data_start + data_len.  Only events at or after emit_from are
 * new in this frame; bytes in [data_start, emit_from) repeat a prefix of the
 * same sub-buffer (written at the start of a file so that timestamps, which
 * are deltas from the page timestamp, can be decoded without the previous
 * file).  data_start is either 0 or the data_end of this CPU's previous
 * SUBBUF frame for the same page (page_ts and subbuf_id equal).
 */
struct rt_subbuf {
	uint64_t page_ts;    /* sub-buffer header timestamp */
	uint64_t commit;     /* data_end | RB_MISSED_* flags of the page */
	uint32_t data_start; /* first data byte carried */
	uint32_t data_len;   /* data bytes carried */
	uint32_t emit_from;  /* first byte of new events, >= data_start */
	uint32_t subbuf_id;  /* kernel sub-buffer id (reader.id) */
	uint64_t entries;    /* events new in this frame (meta->read delta) */
	uint64_t overrun;    /* meta->overrun after the read: lost so far */
	uint32_t subbuf_size;/* kernel sub-buffer size, header included */
	uint32_t flags;	     /* RT_SUBBUF_F_* */
};
/*
 * The payload after struct rt_subbuf is the whole kernel sub-buffer as the
 * kernel handed it to splice/read (subbuf_size bytes: 16-byte header, data,
 * padding); page_ts, commit, data_* and entries are 0 and the reader takes
 * them from the embedded header.  Written by the splice reader.
 */
#define RT_SUBBUF_F_RAW_PAGE 0x1
#define RT_SUBBUF_SIZE 56

enum rt_lost_reason {
	RT_LOST_OVERRUN = 1,  /* ring buffer overwrote unread events */
	RT_LOST_SINK = 2,     /* an output failed to store them (e.g. ENOSPC) */
	RT_LOST_UNDECODED = 3,/* reader-side: a continuation without its page */
};

/* LOST payload. */
struct rt_lost {
	uint64_t events;   /* events lost (0 = unknown number) */
	uint64_t bytes;    /* sub-buffer bytes lost, when known */
	uint64_t last_ts;  /* trace timestamp before which they were lost */
	uint32_t reason;   /* enum rt_lost_reason */
	uint32_t reserved;
};
#define RT_LOST_SIZE 32

/* Metadata records in HEADER and METADATA frames: TLV, 8-byte aligned. */
struct rt_record {
	uint16_t tag;
	uint16_t flags;	/* reserved, 0 */
	uint32_t len;	/* value bytes, padding to 8 not included */
};

enum rt_tag {
	RT_TAG_TOOL = 1,	   /* string: "ringtapd 0.1.0" */
	RT_TAG_HOSTNAME = 2,	   /* string */
	RT_TAG_BOOT_ID = 3,	   /* string: /proc/sys/kernel/random/boot_id */
	RT_TAG_UNAME = 4,	   /* string: sysname release version machine */
	RT_TAG_CLOCK = 5,	   /* string: trace_clock name */
	RT_TAG_PAGE_SIZE = 6,	   /* u32: kernel page size */
	RT_TAG_SUBBUF_SIZE = 7,	   /* u32: sub-buffer size, header included */
	RT_TAG_NR_CPUS = 8,	   /* u32: CPUs traced (highest id + 1) */
	RT_TAG_LONG_SIZE = 9,	   /* u32: kernel long size */
	RT_TAG_INSTANCE = 10,	   /* string: tracefs instance name */
	RT_TAG_CAPTURE_ID = 11,	   /* string: random id shared by all files */
	RT_TAG_FILE_INDEX = 12,	   /* u32: rotation index of this file */
	RT_TAG_START_REALTIME = 13,/* u64: CLOCK_REALTIME ns at start */
	RT_TAG_START_TRACE_TS = 14,/* u64: trace clock ns at the same moment */
	RT_TAG_HEADER_PAGE = 15,   /* text: events/header_page */
	RT_TAG_HEADER_EVENT = 16,  /* text: events/header_event */
	RT_TAG_EVENT_FORMAT = 17,  /* "system\0" + format text */
	RT_TAG_PRINTK_FORMATS = 18,/* text: printk_formats */
	RT_TAG_CMDLINES = 19,	   /* text: saved_cmdlines ("pid comm\n") */
	RT_TAG_FILE_CPU = 20,	   /* u32: the one CPU this file carries */
	RT_TAG_EVENTS = 21,	   /* string: the enabled event selection */
	RT_TAG_READER_MODE = 22,   /* string: "mmap" or "read" */
	RT_TAG_BPF_EVENT = 23,	   /* text: a BPF event's id, name, fields */
	RT_TAG_BPF_ENUM = 24,	   /* text: value names of a BPF field type */
};

enum rt_end_reason {
	RT_END_SHUTDOWN = 1, /* capture stopped */
	RT_END_ROTATE = 2,   /* continued in the file with the next index */
};

/* END payload: struct rt_end, then nr_stats struct rt_cpu_stats. */
struct rt_end {
	uint32_t reason;   /* enum rt_end_reason */
	uint32_t nr_stats;
};

struct rt_cpu_stats {
	uint32_t cpu;
	uint32_t reserved;
	uint64_t events;	 /* events captured (meta->read deltas) */
	uint64_t bytes;		 /* sub-buffer data bytes captured */
	uint64_t subbufs;	 /* SUBBUF frames produced */
	uint64_t lost;		 /* events the kernel overwrote (overrun) */
	uint64_t lost_sink;	 /* events an output failed to store */
	uint64_t dropped;	 /* kernel "dropped events" (no-overwrite) */
	uint64_t commit_overrun; /* kernel "commit overrun" */
	uint64_t reads;		 /* ioctls (mmap) or read/splice calls */
};
#define RT_CPU_STATS_SIZE 72

_Static_assert(sizeof(struct rt_preamble) == RT_PREAMBLE_SIZE, "preamble");
_Static_assert(sizeof(struct rt_frame_hdr) == RT_FRAME_HDR_SIZE, "frame");
_Static_assert(sizeof(struct rt_subbuf) == RT_SUBBUF_SIZE, "subbuf");
_Static_assert(sizeof(struct rt_lost) == RT_LOST_SIZE, "lost");
_Static_assert(sizeof(struct rt_cpu_stats) == RT_CPU_STATS_SIZE, "stats");
_Static_assert(sizeof(struct rt_record) == 8, "record");

/* ---- helpers (lib/stream_format.c) ---- */

uint32_t rt_crc32c(uint32_t crc, const void *buf, size_t len);
static inline size_t rt_pad8(size_t n) { return (n + 7) & ~(size_t)7; }

void rt_preamble_init(struct rt_preamble *p);
/* 0 if the preamble is one this reader understands, -EPROTO/-EPROTONOSUPPORT */
int rt_preamble_check(const struct rt_preamble *p);

/*
 * Fill @hdr for a payload given as @iov (which the caller writes right after
 * the header, followed by rt_pad8(len) - len zero bytes).
 */
void rt_frame_hdr_init(struct rt_frame_hdr *hdr, uint16_t type, uint16_t flags,
		       uint32_t cpu, uint64_t seq, const struct iovec *iov,
		       int iovcnt);
/* Header-only check: magic, header CRC, length bound.  0 or -EBADMSG. */
int rt_frame_hdr_check(const struct rt_frame_hdr *hdr);
/* Recompute @hdr's header_crc after changing its fields. */
void rt_frame_hdr_seal(struct rt_frame_hdr *hdr);

/*
 * The checksum @hdr's payload_crc must equal for @payload (hdr->len bytes):
 * the whole payload, only struct rt_subbuf (RT_FRAME_F_PARTIAL_CRC), or
 * struct rt_subbuf and the carried bytes (RT_FRAME_F_PAGE_IMAGE).  0, or
 * -EBADMSG with a reason in *why when the flags do not fit the frame.
 */
int rt_frame_payload_crc(const struct rt_frame_hdr *hdr, const uint8_t *payload,
			 uint32_t *crc, const char **why);
/*
 * Where the carried bytes of a RT_FRAME_F_PAGE_IMAGE frame are: *off into
 * the payload, *len bytes (stored lost count included).  0 or -EBADMSG.
 */
int rt_page_image_span(const struct rt_frame_hdr *hdr, const uint8_t *payload,
		       size_t *off, size_t *len, const char **why);
/*
 * Rewrite a checked RT_FRAME_F_PAGE_IMAGE frame in place into the compact
 * form (header and payload; payload_crc stays valid).  No-op for others.
 */
void rt_frame_compact(struct rt_frame_hdr *hdr, uint8_t *payload);

/* A growable byte buffer for building metadata payloads. */
struct rt_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
void rt_buf_free(struct rt_buf *b);
int rt_buf_append(struct rt_buf *b, const void *p, size_t n);
int rt_record_add(struct rt_buf *b, uint16_t tag, const void *val, size_t len);
int rt_record_add_str(struct rt_buf *b, uint16_t tag, const char *s);
int rt_record_add_u32(struct rt_buf *b, uint16_t tag, uint32_t v);
int rt_record_add_u64(struct rt_buf *b, uint16_t tag, uint64_t v);

/*
 * Iterate records in a metadata payload: *off starts at 0.  Returns 1 with
 * the record in @tag/@val/@len, 0 at the end, -EBADMSG on a malformed one.
 */
int rt_record_next(const uint8_t *p, size_t size, size_t *off, uint16_t *tag,
		   const uint8_t **val, uint32_t *len);

/* ---- sequential reader over a file or stream ---- */

struct rt_reader;

struct rt_frame {
	struct rt_frame_hdr hdr;
	const uint8_t *payload; /* valid until the next rt_reader_next() */
	uint64_t offset;	/* byte offset of the frame header in the input */
};

enum rt_reader_status {
	RT_READ_OK = 1,
	RT_READ_EOF = 0, /* clean end: at a frame boundary */
};

/*
 * Open @path ("-" for stdin) or an fd.  Checks the preamble.  On error
 * returns a negative errno and, where it is about the content, a message in
 * rt_reader_error() of the returned reader (when *ret is set).
 */
int rt_reader_open(const char *path, struct rt_reader **ret);
int rt_reader_open_fd(int fd, const char *name, struct rt_reader **ret);
void rt_reader_close(struct rt_reader *r);
/*
 * Next frame: RT_READ_OK, RT_READ_EOF, or a negative errno: -EBADMSG for a
 * corrupt frame, -ENODATA for a truncated tail.  The reason and byte offset
 * are in rt_reader_error().
 */
int rt_reader_next(struct rt_reader *r, struct rt_frame *f);
const char *rt_reader_error(const struct rt_reader *r);
const char *rt_reader_name(const struct rt_reader *r);
uint64_t rt_reader_offset(const struct rt_reader *r);

#endif
