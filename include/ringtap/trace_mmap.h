/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The memory-mapped ftrace ring buffer ABI (Linux >= 6.10,
 * include/uapi/linux/trace_mmap.h).  Debian 12's linux-libc-dev (6.1) does
 * not ship this header, so the definition is carried here.  When the system
 * header is present we use it and check that both agree.
 */
#ifndef RINGTAP_TRACE_MMAP_H
#define RINGTAP_TRACE_MMAP_H

#include <linux/types.h>
#include <sys/ioctl.h>

#if defined(__has_include)
#if __has_include(<linux/trace_mmap.h>)
#include <linux/trace_mmap.h>
#define RINGTAP_HAVE_SYSTEM_TRACE_MMAP 1
#endif
#endif

#ifndef RINGTAP_HAVE_SYSTEM_TRACE_MMAP
/**
 * struct trace_buffer_meta - ring-buffer meta-page description
 * @meta_page_size:	size of the meta-page (remap if > page size)
 * @meta_struct_len:	size of this structure as the kernel knows it
 * @subbuf_size:	size of each sub-buffer, header included
 * @nr_subbufs:		number of sub-buffers, the reader's included
 * @reader.lost_events:	events lost at the time of the reader swap
 * @reader.id:		sub-buffer ID of the current reader page
 * @reader.read:	bytes consumed on the reader sub-buffer
 * @flags:		0 on every kernel so far
 * @entries:		events ever committed to this CPU buffer
 * @overrun:		events overwritten (lost) in this CPU buffer
 * @read:		events consumed by readers
 */
struct trace_buffer_meta {
	__u32 meta_page_size;
	__u32 meta_struct_len;

	__u32 subbuf_size;
	__u32 nr_subbufs;

	struct {
		__u64 lost_events;
		__u32 id;
		__u32 read;
	} reader;

	__u64 flags;

	__u64 entries;
	__u64 overrun;
	__u64 read;

	__u64 Reserved1;
	__u64 Reserved2;
};

#define TRACE_MMAP_IOCTL_GET_READER _IO('R', 0x20)
#endif

_Static_assert(sizeof(struct trace_buffer_meta) == 80,
	       "struct trace_buffer_meta must match the kernel's (80 bytes)");
_Static_assert(__builtin_offsetof(struct trace_buffer_meta, reader) == 16,
	       "trace_buffer_meta.reader offset");
_Static_assert(__builtin_offsetof(struct trace_buffer_meta, overrun) == 48,
	       "trace_buffer_meta.overrun offset");

/* Flags in the high bits of a sub-buffer's commit word (ring_buffer.c). */
#define RB_MISSED_EVENTS (1UL << 31) /* events were lost before this page */
#define RB_MISSED_STORED (1UL << 30) /* the lost count follows the data */
#define RB_COMMIT_MASK ((1UL << 27) - 1)

/* Sub-buffer header: u64 timestamp; local_t commit (8 bytes on 64-bit). */
#define RB_PAGE_HDR_SIZE 16

#endif
