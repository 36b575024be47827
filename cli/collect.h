/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ringtap collect: the per-channel store (cli/collect_store.c) under the
 * network loop (cli/collect.c).
 */
#ifndef RINGTAP_COLLECT_H
#define RINGTAP_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "ringtap/stream_format.h"

#define COLLECT_NAME_MAX 255 /* host */
#define COLLECT_ID_MAX 128   /* boot id, capture id */
#define COLLECT_CPU_MAX 4096 /* as lib/capture.c */

/*
 * One channel (host, boot id, capture id, cpu) being written: the stream
 * parser that validates its bytes, the file they go to, and the last point
 * that may be acknowledged.  Bytes go to disk as they arrive; only whole,
 * checked frames of a file whose HEADER is complete are acknowledged, and
 * anything after the last such point is cut off when the channel closes or
 * the collector restarts.
 */
struct store {
	char *host, *boot, *capture;
	uint32_t cpu;
	char *dir; /* the capture directory */
	int dirfd;
	char label[COLLECT_NAME_MAX + 32]; /* "host cpu N" for messages */

	/* the file being written: -1 between files */
	int fd;
	bool head;	/* fd is .cpuN.head: HEADER not complete, no name yet */
	uint32_t index; /* of the named file */
	uint64_t flen;	/* bytes in fd */

	/* stream parser */
	int ps; /* enum in collect_store.c */
	uint8_t pbuf[RT_FRAME_HDR_SIZE];
	size_t phave;
	struct rt_frame_hdr fh;
	uint64_t pay_done, pay_total;
	uint32_t crc, crc_len;
	/* a page-image frame's payload, whole: its checksum skips bytes */
	struct rt_buf img;
	uint64_t seq; /* of the next frame */
	uint64_t off; /* channel bytes accepted */

	/* the last point that may be acknowledged */
	uint64_t good_off, good_len, good_seq;
	uint32_t good_index;
	bool good_infile;
	uint64_t durable; /* good_off as of the last checkpoint (the ACK) */
	bool dir_dirty;	  /* a rename or creation not yet synced */
	bool ack_now;	  /* a file ended: checkpoint at once */
	unsigned int max_files;
	uint64_t files_done;

	char err[256]; /* why store_feed() failed */
};

/* Open (or resume) a channel under @root; -errno with a message in @err. */
int store_open(const char *root, const char *host, const char *boot,
	       const char *capture, uint32_t cpu, unsigned int max_files,
	       struct store **ret, char *err, size_t errlen);
/* Validate and write channel bytes; -EBADMSG etc. with st->err set. */
int store_feed(struct store *st, const uint8_t *p, size_t n);
/* fdatasync and record the last acknowledgeable point: st->durable. */
int store_checkpoint(struct store *st);
/* Cut off what cannot be acknowledged, checkpoint, close.  NULL is fine. */
void store_close(struct store *st);
/* mkdir @path (0 if it exists), its new entry made durable (parent
 * fsynced); also for cli/collect_nats.c. */
int collect_mkdir_sync(const char *path);

#endif
