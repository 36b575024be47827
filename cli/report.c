// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap report: decode captures with libtraceevent (tep + kbuffer) and
 * print events in timestamp order across CPUs, with losses shown where
 * they happened.  lib/capture.c turns the files into one chain of rebuilt
 * sub-buffers per CPU; a cursor per chain walks the events of its current
 * sub-buffer, and the cursor with the earliest event prints first.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event-parse.h>
#include <kbuffer.h>
#include <trace-seq.h>

#include "ringtap/capture.h"
#include "ringtap/log.h"
#include "ringtap.h"

enum ev_type { EV_NONE, EV_EVENT, EV_LOST };

/* The next thing a cursor has to say. */
struct ev {
	enum ev_type type;
	uint64_t ts;
	int cpu;
	struct tep_record rec;
	int64_t lost; /* EV_LOST: count, -1 unknown */
	const char *why;
};

struct cursor {
	struct rt_chain *chain;
	struct kbuffer *kbuf;
	bool in_page;
	int cpu;
	uint32_t next_index; /* data offset of the first event not yet shown */
	int64_t pending_lost;
	struct ev ev;
};

struct cpu_count {
	uint64_t events, lost, lost_unknown, first_ts, last_ts;
};

struct report {
	struct rt_capture_reader *cr;
	const struct rt_capture_meta *meta;
	struct cpu_count *cnt;
	bool stats_only;
};

/* Advance @c to its next event or loss; false when its chain is done. */
static bool cursor_next(struct cursor *c)
{
	unsigned long long ts;
	struct rt_item it;
	void *data;

	c->ev.type = EV_NONE;
	for (;;) {
		if (c->in_page) {
			if (c->pending_lost) {
				c->ev = (struct ev){ .type = EV_LOST, .cpu = c->cpu,
						     .lost = c->pending_lost,
						     .ts = kbuffer_timestamp(c->kbuf) };
				c->pending_lost = 0;
				return true;
			}
			data = kbuffer_read_event(c->kbuf, &ts);
			while (data && (uint32_t)kbuffer_curr_index(c->kbuf) <
					       c->next_index)
				data = kbuffer_next_event(c->kbuf, &ts);
			if (data) {
				struct ev *e = &c->ev;

				e->type = EV_EVENT;
				e->ts = ts;
				e->cpu = c->cpu;
				memset(&e->rec, 0, sizeof(e->rec));
				e->rec.ts = ts;
				e->rec.cpu = c->cpu;
				e->rec.data = data;
				e->rec.size = kbuffer_event_size(c->kbuf);
				e->rec.record_size = kbuffer_curr_size(c->kbuf);
				c->next_index = kbuffer_curr_index(c->kbuf) + 1;
				return true;
			}
			c->in_page = false;
		}
		if (!rt_chain_next(c->chain, &it))
			return false;
		if (it.type == RT_ITEM_LOST) {
			c->ev = (struct ev){ .type = EV_LOST, .cpu = it.cpu,
					     .ts = it.lost_ts, .lost = it.lost,
					     .why = it.why };
			return true;
		}
		if (kbuffer_load_subbuffer(c->kbuf, (void *)it.page) < 0)
			continue;
		c->in_page = true;
		c->cpu = it.cpu;
		c->next_index = it.emit_from;
		c->pending_lost = it.new_page ? it.lost : 0;
	}
}

static void print_ts(FILE *out, uint64_t ts)
{
	fprintf(out, "%5" PRIu64 ".%09" PRIu64, ts / UINT64_C(1000000000),
		ts % UINT64_C(1000000000));
}

static void show(struct report *rep, struct ev *e, struct trace_seq *s)
{
	struct cpu_count *n = &rep->cnt[e->cpu];

	if (e->type == EV_LOST) {
		if (e->lost > 0 && !e->why)
			n->lost += e->lost;
		else if (e->lost < 0)
			n->lost_unknown++;
		if (rep->stats_only)
			return;
		if (e->lost > 0)
			printf("CPU:%d [LOST %" PRId64 " EVENTS%s%s]\n", e->cpu,
			       e->lost, e->why ? ": " : "", e->why ? e->why : "");
		else
			printf("CPU:%d [LOST EVENTS%s%s]\n", e->cpu,
			       e->why ? ": " : "", e->why ? e->why : "");
		return;
	}
	if (!n->events)
		n->first_ts = e->ts;
	n->events++;
	n->last_ts = e->ts;
	if (rep->stats_only)
		return;
	trace_seq_reset(s);
	tep_print_event(rep->meta->tep, s, &e->rec, "%16s-%-7d [%03d] ",
			TEP_PRINT_COMM, TEP_PRINT_PID, TEP_PRINT_CPU);
	fwrite(s->buffer, 1, s->len, stdout);
	print_ts(stdout, e->ts);
	trace_seq_reset(s);
	tep_print_event(rep->meta->tep, s, &e->rec, ": %s: %s", TEP_PRINT_NAME,
			TEP_PRINT_INFO);
	while (s->len && s->buffer[s->len - 1] == '\n')
		s->len--;
	fwrite(s->buffer, 1, s->len, stdout);
	putchar('\n');
}

static void print_stats(struct report *rep)
{
	uint64_t t_events = 0, t_bytes = 0, t_lost = 0, t_sink = 0, t_sub = 0;

	printf("%-4s %12s %14s %10s %12s %10s %20s %20s\n", "CPU", "events",
	       "bytes", "lost", "lost(output)", "subbufs", "first", "last");
	for (uint32_t i = 0; i < rep->meta->nr_cpus; i++) {
		const struct rt_cpu_summary *sum = rt_capture_reader_summary(rep->cr, i);
		struct cpu_count *n = &rep->cnt[i];
		uint64_t lost = n->lost;
		char lostbuf[32];

		/* The daemon's final count also covers losses no page
		 * carried (e.g. a commit overrun). */
		if (sum->have_end && sum->end.lost > lost)
			lost = sum->end.lost;
		snprintf(lostbuf, sizeof(lostbuf), "%" PRIu64 "%s", lost,
			 n->lost_unknown ? "+?" : "");
		printf("%-4u %12" PRIu64 " %14" PRIu64 " %10s %12" PRIu64
		       " %10" PRIu64 " ",
		       i, n->events, sum->bytes, lostbuf, sum->lost_sink,
		       sum->subbufs);
		print_ts(stdout, n->first_ts);
		printf("       ");
		print_ts(stdout, n->last_ts);
		printf("\n");
		t_events += n->events;
		t_bytes += sum->bytes;
		t_lost += lost;
		t_sink += sum->lost_sink;
		t_sub += sum->subbufs;
	}
	printf("%-4s %12" PRIu64 " %14" PRIu64 " %10" PRIu64 " %12" PRIu64
	       " %10" PRIu64 "\n",
	       "all", t_events, t_bytes, t_lost, t_sink, t_sub);
}

static void report_usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap report [--stats] FILE|DIR...\n"
		"Print the events of a capture in timestamp order.\n\n"
		"  FILE  a capture file (cpuN-INDEX.rtap), '-' for stdin\n"
		"  DIR   a capture directory: all its .rtap files\n"
		"  -s, --stats  per-CPU events, bytes and lost events instead\n"
		"Exit status: 0 ok, 1 error, 3 some input was cut short or corrupt\n"
		"(everything readable before the damage is still printed).\n");
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "stats", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct report rep = { 0 };
	struct cursor *cur;
	struct trace_seq s;
	int c, nr, r;

	while ((c = getopt_long(argc, argv, "sh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			rep.stats_only = true;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		report_usage(stderr);
		return 2;
	}
	r = rt_capture_reader_open(argv + optind, argc - optind, &rep.cr);
	if (r < 0)
		return 1;
	rep.meta = rt_capture_reader_meta(rep.cr);
	nr = rt_capture_reader_nr_chains(rep.cr);
	cur = calloc(nr, sizeof(*cur));
	rep.cnt = calloc(rep.meta->nr_cpus, sizeof(*rep.cnt));
	if (!cur || !rep.cnt) {
		log_err("out of memory");
		return 1;
	}
	for (int i = 0; i < nr; i++) {
		cur[i].chain = rt_capture_reader_chain(rep.cr, i);
		cur[i].kbuf = tep_kbuffer(rep.meta->tep);
		if (!cur[i].kbuf) {
			log_err("out of memory");
			return 1;
		}
		cursor_next(&cur[i]);
	}

	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	trace_seq_init(&s);
	for (;;) {
		struct cursor *best = NULL;

		for (int i = 0; i < nr; i++)
			if (cur[i].ev.type != EV_NONE &&
			    (!best || cur[i].ev.ts < best->ev.ts))
				best = &cur[i];
		if (!best)
			break;
		show(&rep, &best->ev, &s);
		cursor_next(best);
	}
	if (rep.stats_only)
		print_stats(&rep);
	fflush(stdout);
	r = rt_capture_reader_incomplete(rep.cr) ? 3 : 0;
	trace_seq_destroy(&s);
	for (int i = 0; i < nr; i++)
		kbuffer_free(cur[i].kbuf);
	free(cur);
	free(rep.cnt);
	rt_capture_reader_close(rep.cr);
	return r;
}
