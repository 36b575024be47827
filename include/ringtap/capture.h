/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a capture: files or directories of one capture, grouped into one
 * chain per CPU (rotated files in index order), each chain yielding the
 * kernel sub-buffers rebuilt from SUBBUF frames, and losses where they
 * happened.  Used by `ringtap report` and `ringtap convert`.
 */
#ifndef RINGTAP_CAPTURE_H
#define RINGTAP_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "ringtap/stream_format.h"

struct tep_handle;
struct rt_capture_reader;
struct rt_chain;

/* What the HEADER (and METADATA) records said. */
struct rt_capture_meta {
	struct tep_handle *tep; /* formats parsed, ftrace:print handler set */
	uint32_t subbuf_size;	/* kernel sub-buffer size, header included */
	uint32_t long_size;
	uint32_t page_size;
	uint32_t nr_cpus;	/* highest CPU seen + 1 */
	char clock[32];
	char hostname[256];
	char uname[512];
	uint64_t start_realtime; /* 0 when unknown */
	uint64_t start_trace_ts;
	bool have_start_trace_ts;
	/* raw texts, NUL-terminated, for writers of other formats */
	struct rt_buf header_page;
	struct rt_buf header_event;
	struct rt_buf printk_formats;
	struct rt_buf cmdlines;
	/* event formats: records of RT_TAG_EVENT_FORMAT ("system\0format") */
	struct rt_buf formats;
};

enum rt_item_type {
	RT_ITEM_NONE = 0,
	RT_ITEM_PAGE, /* a sub-buffer to decode */
	RT_ITEM_LOST, /* events lost at this place */
};

struct rt_item {
	enum rt_item_type type;
	int cpu;
	/*
	 * RT_ITEM_PAGE: the kernel sub-buffer [u64 ts][u64 commit][data],
	 * commit = data end | RB_MISSED_* flags, followed by the stored lost
	 * count when RB_MISSED_STORED; valid until the next rt_chain_next().
	 */
	const uint8_t *page;
	uint32_t page_len;   /* header + data bytes */
	uint32_t emit_from;  /* data offset of the first event new here */
	bool new_page;	     /* not a continuation of the previous PAGE item */
	uint64_t page_ts;
	/*
	 * Events lost right before this item (PAGE: before the page's first
	 * event, only when new_page; LOST: the count): > 0 a count, -1 lost
	 * but the number is unknown, 0 none.
	 */
	int64_t lost;
	uint64_t lost_ts;	/* LOST: trace timestamp of the place */
	const char *why;	/* LOST: NULL (ring buffer overwrite) or reason */
};

struct rt_cpu_summary {
	bool have_end;		 /* an END frame with statistics was read */
	struct rt_cpu_stats end; /* its figures */
	uint64_t subbufs;	 /* SUBBUF frames read */
	uint64_t bytes;		 /* new sub-buffer bytes read */
	uint64_t lost_sink;	 /* events LOST frames said an output dropped */
};

/*
 * Open the inputs (capture files, capture directories, "-" for stdin),
 * read their HEADERs and build the metadata.  Problems are logged naming
 * the file; returns 0 or a negative errno.
 */
int rt_capture_reader_open(char *const *paths, int nr, struct rt_capture_reader **ret);
void rt_capture_reader_close(struct rt_capture_reader *cr);
const struct rt_capture_meta *rt_capture_reader_meta(const struct rt_capture_reader *cr);
int rt_capture_reader_nr_chains(const struct rt_capture_reader *cr);
struct rt_chain *rt_capture_reader_chain(struct rt_capture_reader *cr, int i);
/* Per-CPU figures gathered so far (index < meta->nr_cpus). */
const struct rt_cpu_summary *rt_capture_reader_summary(const struct rt_capture_reader *cr, int cpu);
/* Inputs that ended early or were damaged (each was logged). */
int rt_capture_reader_incomplete(const struct rt_capture_reader *cr);

/* Next item of the chain: true, or false when the chain is exhausted. */
bool rt_chain_next(struct rt_chain *ch, struct rt_item *item);

#endif
