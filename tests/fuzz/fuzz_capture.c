// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_capture: the whole read path of `ringtap report` on hostile input.
 * The input is one capture file, or several back to back (each 8-aligned
 * "RINGTAP\0" starts the next: rotated files, other CPUs).  Each goes into
 * a memfd, read through its /proc/self/fd path.  Byte 12 of the input,
 * the low byte of the first preamble's reserved flags (which readers
 * ignore), picks what reads it:
 *
 * - 0..3 (mod 8): rt_capture_reader_open(), every chain walked with
 *   rt_chain_next(), every page decoded with kbuffer and printed with
 *   tep_print_event() as cli/report.c does, checking what the capture
 *   reader promises about a page (inside the sub-buffer, commit = length);
 * - 4..7: cmd_report() itself (cli/report.c, output to /dev/null) as
 *   text, --json, --format ftrace, or --stats with every filter, so that
 *   its own field decoding sees hostile events too.
 *
 * libtraceevent sees hostile pages and formats either way.  Formats are
 * parsed the way the CLI parses them: first in a forked child, those that
 * crash it left out (lib/capture.c, "event formats"); FUZZ_FORMAT_CHECK=0
 * parses them in this process only, to see libtraceevent's own crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event-parse.h>
#include <kbuffer.h>
#include <trace-seq.h>

#include "ringtap/capture.h"
#include "ringtap/log.h"
#include "ringtap/trace_mmap.h"
#include "../../cli/ringtap.h"

#define MAX_FILES 8

static int fds[MAX_FILES];
static char paths[MAX_FILES][64];

#define fuzz_assert(cond, ...)                                         \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "fuzz_capture: " __VA_ARGS__); \
			fputc('\n', stderr);                           \
			abort();                                       \
		}                                                      \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int null;

	/* The reader logs every damaged frame, libtraceevent every format it
	 * cannot parse: noise at fuzzing speed.  FUZZ_VERBOSE=1 shows them. */
	if (getenv("FUZZ_VERBOSE")) {
		rt_log_set_level(LOG_DEBUG);
	} else {
		rt_log_set_level(LOG_CRIT);
		tep_set_loglevel(TEP_LOG_NONE);
	}
	if (getenv("FUZZ_FORMAT_CHECK") &&
	    !strcmp(getenv("FUZZ_FORMAT_CHECK"), "0"))
		rt_capture_set_format_check(RT_FORMAT_CHECK_NONE);
	/* cmd_report() prints the events */
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDOUT_FILENO) < 0) {
		perror("/dev/null");
		exit(1);
	}
	close(null);
	for (int i = 0; i < MAX_FILES; i++) {
		fds[i] = memfd_create("fuzz_capture", MFD_CLOEXEC);
		if (fds[i] < 0) {
			perror("memfd_create");
			exit(1);
		}
		snprintf(paths[i], sizeof(paths[i]), "/proc/self/fd/%d",
			 fds[i]);
	}
	return 0;
}

static void put_file(int i, const uint8_t *p, size_t n)
{
	size_t done = 0;

	if (ftruncate(fds[i], 0) < 0)
		abort();
	while (done < n) {
		ssize_t w = pwrite(fds[i], p + done, n - done, (off_t)done);

		if (w <= 0)
			abort();
		done += (size_t)w;
	}
}

/* Split at each 8-aligned preamble magic after the start. */
static int split_files(const uint8_t *data, size_t size)
{
	size_t start = 0;
	int nr = 0;

	for (size_t off = 8; off + 8 <= size && nr < MAX_FILES - 1; off += 8) {
		if (memcmp(data + off, RT_MAGIC, 8))
			continue;
		put_file(nr++, data + start, off - start);
		start = off;
	}
	put_file(nr++, data + start, size - start);
	return nr;
}

/* The page, as cli/report.c decodes it. */
static void decode_page(const struct rt_capture_meta *meta,
			struct kbuffer *kbuf, struct trace_seq *s,
			const struct rt_item *it)
{
	unsigned long long ts;
	struct tep_event *ev;
	uint64_t commit;
	void *data;

	fuzz_assert(it->page && it->page_len >= RB_PAGE_HDR_SIZE &&
			    it->page_len <= meta->subbuf_size,
		    "page of %u bytes, sub-buffer size %u", it->page_len,
		    meta->subbuf_size);
	memcpy(&commit, it->page + 8, 8);
	fuzz_assert((commit & RB_COMMIT_MASK) + RB_PAGE_HDR_SIZE ==
			    it->page_len,
		    "page commit %#llx disagrees with its length %u",
		    (unsigned long long)commit, it->page_len);
	if (kbuffer_load_subbuffer(kbuf, (void *)it->page) < 0)
		return;
	if (it->new_page && it->lost)
		(void)kbuffer_timestamp(kbuf);
	for (data = kbuffer_read_event(kbuf, &ts); data;
	     data = kbuffer_next_event(kbuf, &ts)) {
		struct tep_record rec = {
			.ts = ts,
			.cpu = it->cpu,
			.data = data,
			.size = kbuffer_event_size(kbuf),
			.record_size = kbuffer_curr_size(kbuf),
		};

		if ((uint32_t)kbuffer_curr_index(kbuf) < it->emit_from)
			continue;
		ev = tep_find_event_by_record(meta->tep, &rec);
		/* an event whose print fmt may divide by zero prints raw */
		fuzz_assert(!ev || !rt_capture_event_print_raw(meta, ev->id) ||
				    (ev->flags & TEP_EVENT_FL_PRINTRAW),
			    "event %d prints with its print fmt", ev->id);
		trace_seq_reset(s);
		tep_print_event(meta->tep, s, &rec, "%16s-%-7d [%03d] ",
				TEP_PRINT_COMM, TEP_PRINT_PID, TEP_PRINT_CPU);
		trace_seq_reset(s);
		tep_print_event(meta->tep, s, &rec, ": %s: %s", TEP_PRINT_NAME,
				TEP_PRINT_INFO);
	}
}

static void walk(struct rt_capture_reader *cr)
{
	const struct rt_capture_meta *meta = rt_capture_reader_meta(cr);
	struct kbuffer *kbuf;
	struct trace_seq s;
	struct rt_item it;

	fuzz_assert(meta->tep, "capture opened without a tep handle");
	kbuf = tep_kbuffer(meta->tep);
	if (!kbuf)
		return;
	trace_seq_init(&s);
	for (int i = 0; i < rt_capture_reader_nr_chains(cr); i++) {
		struct rt_chain *ch = rt_capture_reader_chain(cr, i);

		while (rt_chain_next(ch, &it)) {
			fuzz_assert(
				it.cpu >= 0 && (uint32_t)it.cpu < meta->nr_cpus,
				"item for cpu %d of %u", it.cpu, meta->nr_cpus);
			if (it.type == RT_ITEM_PAGE)
				decode_page(meta, kbuf, &s, &it);
			else
				fuzz_assert(it.type == RT_ITEM_LOST,
					    "item of type %d", it.type);
		}
	}
	for (uint32_t cpu = 0; cpu < meta->nr_cpus; cpu++)
		fuzz_assert(rt_capture_reader_summary(cr, (int)cpu),
			    "no summary for cpu %u", cpu);
	trace_seq_destroy(&s);
	kbuffer_free(kbuf);
}

/* `ringtap report OPTIONS FILES`, the options picked by @mode */
static void run_report(int mode, int nr)
{
	static char *const opts[][16] = {
		{"report"},
		{"report", "--json"},
		{"report", "--format", "ftrace"},
		{"report", "--stats", "-c", "0,2-5", "-e", "sched:*", "-e",
		 "ftrace:print", "-p", "1,0", "--comm", "*a*", "--from",
		 "0.000001", "--to", "@99999"},
	};
	char *argv[16 + MAX_FILES + 1];
	int argc = 0, r;

	for (int i = 0; i < 16 && opts[mode][i]; i++)
		argv[argc++] = opts[mode][i];
	for (int i = 0; i < nr; i++)
		argv[argc++] = paths[i];
	argv[argc] = NULL;
	optind = 0; /* a new getopt_long() scan */
	r = cmd_report(argc, argv);
	fuzz_assert(r == 0 || r == 1 || r == 3, "cmd_report returned %d", r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_FILES];
	struct rt_capture_reader *cr;
	int nr = split_files(data, size);

	if (size > 12 && (data[12] & 7) >= 4) {
		run_report((data[12] & 7) - 4, nr);
		return 0;
	}
	for (int i = 0; i < nr; i++)
		argv[i] = paths[i];
	if (rt_capture_reader_open(argv, nr, &cr) < 0) {
		fuzz_assert(!cr, "failed open left a reader behind");
		return 0;
	}
	walk(cr);
	(void)rt_capture_reader_incomplete(cr);
	rt_capture_reader_close(cr);
	return 0;
}
