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
	/*
	 * Event formats as a writer of another format may pass them on:
	 * records of RT_TAG_EVENT_FORMAT ("system\0format"), without those
	 * libtraceevent crashed on while parsing (left out of tep too, with a
	 * warning naming the file and byte: their events are unknown), and
	 * without the print fmt of the print_raw_ids events.
	 */
	struct rt_buf formats;
	/*
	 * Events whose print fmt divides by something other than a nonzero
	 * constant, which libtraceevent may divide by zero with when it
	 * prints them: their tep event has TEP_EVENT_FL_PRINTRAW set, so
	 * tep_print_event() prints their fields raw instead
	 * (rt_capture_event_print_raw()).
	 */
	int *print_raw_ids;
	uint32_t nr_print_raw;
	/* BPF event layouts (RT_TAG_BPF_EVENT/ENUM), NULL if none:
	 * ringtap/bpf_decode.h */
	struct rt_bpf_decoder *bpf;
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
 * How event formats are parsed (process-wide, before opening):
 * RT_FORMAT_CHECK_CHILD (the default) parses them first in a forked child
 * and leaves out, with a warning, those that crash it (lib/capture.c,
 * "event formats", says why); RT_FORMAT_CHECK_NONE parses them in this
 * process only, crashes included (to reproduce one under a debugger).
 */
enum rt_format_check {
	RT_FORMAT_CHECK_CHILD = 0,
	RT_FORMAT_CHECK_NONE,
};
void rt_capture_set_format_check(enum rt_format_check how);

/* Whether event @id is printed as raw fields (meta->print_raw_ids). */
bool rt_capture_event_print_raw(const struct rt_capture_meta *m, int id);

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
