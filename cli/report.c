// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap report: decode captures with libtraceevent (tep + kbuffer) and
 * print events in timestamp order across CPUs, with losses shown where
 * they happened.
 *
 * Inputs are files or capture directories.  Files are grouped into chains,
 * one per CPU, ordered by rotation index; a cursor per chain yields events,
 * and the chain with the earliest next event prints first.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event-parse.h>
#include <kbuffer.h>
#include <trace-seq.h>

#include "ringtap/log.h"
#include "ringtap/stream_format.h"
#include "ringtap/trace_mmap.h"
#include "ringtap.h"

#define MAX_CPUS 4096

struct input {
	char *path;
	uint32_t cpu;	/* RT_CPU_NONE: several CPUs */
	uint32_t index;
	char capture_id[40];
};

/* What the HEADER records say, and the parser built from them. */
struct meta {
	struct tep_handle *tep;
	uint32_t subbuf_size;
	uint32_t long_size;
	bool ready;
};

enum item_type { ITEM_NONE, ITEM_EVENT, ITEM_LOST };

struct item {
	enum item_type type;
	uint64_t ts;
	int cpu;
	struct tep_record rec;
	int64_t lost;	     /* ITEM_LOST: events, -1 unknown */
	const char *why;
};

struct cpu_stats {
	uint64_t events, bytes, subbufs, lost, lost_unknown, lost_sink;
	uint64_t first_ts, last_ts;
	bool have_end;
	struct rt_cpu_stats end;
};

struct page {
	uint8_t *buf;
	size_t cap;
	size_t len;   /* header + data bytes present */
	uint64_t ts;
	uint32_t id;
	uint64_t accounted; /* lost events reported so far on this CPU */
	bool valid;
};

struct chain {
	struct input **files;
	size_t nr, cur;
	struct rt_reader *r;
	struct page *pages; /* per CPU of the chain */
	struct kbuffer *kbuf;
	bool in_page;
	int page_cpu;
	uint32_t emit_from;
	bool pending_lost;
	int64_t lost_count;
	struct item item;
	bool done;
};

struct report {
	struct meta meta;
	struct cpu_stats *st;
	int nr_cpus_seen;
	bool stats_only;
	int incomplete; /* inputs that ended early or were corrupt */
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q) {
		log_err("out of memory");
		exit(1);
	}
	return q;
}

/* ---- metadata ---- */

static int print_marker(struct trace_seq *s, struct tep_record *rec,
			struct tep_event *ev, void *ctx)
{
	struct tep_format_field *f = tep_find_field(ev, "buf");
	const char *p;
	int len;

	if (!f || f->offset < 0 || f->offset > rec->size)
		return 0;
	p = (const char *)rec->data + f->offset;
	len = strnlen(p, rec->size - f->offset);
	while (len && p[len - 1] == '\n')
		len--;
	trace_seq_printf(s, "%.*s", len, p);
	return 0;
}

static int meta_load(struct meta *m, const uint8_t *p, size_t size,
		     const char *name)
{
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;
	size_t off = 0;
	int r;

	if (!m->tep) {
		m->tep = tep_alloc();
		if (!m->tep)
			return -ENOMEM;
		tep_set_file_bigendian(m->tep, TEP_LITTLE_ENDIAN);
		tep_set_local_bigendian(m->tep, TEP_LITTLE_ENDIAN);
	}
	while ((r = rt_record_next(p, size, &off, &tag, &val, &len)) == 1) {
		char *text;

		switch (tag) {
		case RT_TAG_SUBBUF_SIZE:
			if (len == 4)
				memcpy(&m->subbuf_size, val, 4);
			break;
		case RT_TAG_LONG_SIZE:
			if (len == 4)
				memcpy(&m->long_size, val, 4);
			break;
		case RT_TAG_HEADER_PAGE:
			if (m->ready)
				break;
			text = strndup((const char *)val, len);
			if (!text)
				return -ENOMEM;
			tep_parse_header_page(m->tep, text, len,
					      m->long_size ? m->long_size : 8);
			free(text);
			break;
		case RT_TAG_EVENT_FORMAT: {
			const char *sys = (const char *)val;
			size_t sl = strnlen(sys, len);

			if (m->ready || sl + 1 >= len)
				break;
			tep_parse_event(m->tep, sys + sl + 1, len - sl - 1,
					sys);
			break;
		}
		case RT_TAG_PRINTK_FORMATS:
			if (m->ready)
				break;
			text = strndup((const char *)val, len);
			if (!text)
				return -ENOMEM;
			tep_parse_printk_formats(m->tep, text);
			free(text);
			break;
		case RT_TAG_CMDLINES:
			text = strndup((const char *)val, len);
			if (!text)
				return -ENOMEM;
			tep_parse_saved_cmdlines(m->tep, text);
			free(text);
			break;
		default:
			break;
		}
	}
	if (r < 0) {
		log_err("%s: malformed metadata record", name);
		return r;
	}
	return 0;
}

static int meta_finish(struct meta *m)
{
	if (m->ready)
		return 0;
	if (!m->subbuf_size || !m->long_size) {
		log_err("capture header lacks the sub-buffer or long size");
		return -EBADMSG;
	}
	tep_set_long_size(m->tep, m->long_size);
	tep_set_page_size(m->tep, m->subbuf_size);
	tep_register_event_handler(m->tep, -1, "ftrace", "print",
				   print_marker, NULL);
	m->ready = true;
	return 0;
}

/*
 * cmdlines are written at rotation and at the end, after the events that
 * need them: on a seekable file, hop over frame headers to find them first.
 */
static void prescan_cmdlines(struct meta *m, const char *path)
{
	struct rt_frame_hdr hdr;
	uint64_t off = RT_PREAMBLE_SIZE;
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fseeko(f, off, SEEK_SET) == 0 &&
	       fread(&hdr, sizeof(hdr), 1, f) == 1 &&
	       rt_frame_hdr_check(&hdr) == 0) {
		if (hdr.type == RT_FRAME_METADATA) {
			uint8_t *p = malloc(hdr.len ? hdr.len : 1);

			if (p && fread(p, 1, hdr.len, f) == hdr.len &&
			    rt_crc32c(0, p, hdr.len) == hdr.payload_crc)
				meta_load(m, p, hdr.len, path);
			free(p);
		}
		off += RT_FRAME_HDR_SIZE + rt_pad8(hdr.len);
	}
	fclose(f);
}

/* ---- inputs ---- */

static int probe_input(struct report *rep, const char *path, struct input *in)
{
	struct rt_reader *r;
	struct rt_frame f;
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;
	size_t off = 0;
	int ret;

	in->path = strdup(path);
	in->cpu = RT_CPU_NONE;
	ret = rt_reader_open(path, &r);
	if (ret < 0) {
		if (r)
			log_err("%s", rt_reader_error(r));
		else
			log_err("%s: %s", path, strerror(-ret));
		rt_reader_close(r);
		return ret;
	}
	ret = rt_reader_next(r, &f);
	if (ret != RT_READ_OK || f.hdr.type != RT_FRAME_HEADER) {
		log_err("%s: %s", path,
			ret < 0 ? rt_reader_error(r) :
				  "does not start with a HEADER frame");
		rt_reader_close(r);
		return -EBADMSG;
	}
	while (rt_record_next(f.payload, f.hdr.len, &off, &tag, &val, &len) == 1) {
		if (tag == RT_TAG_FILE_CPU && len == 4)
			memcpy(&in->cpu, val, 4);
		else if (tag == RT_TAG_FILE_INDEX && len == 4)
			memcpy(&in->index, val, 4);
		else if (tag == RT_TAG_CAPTURE_ID && len < sizeof(in->capture_id))
			memcpy(in->capture_id, val, len);
	}
	ret = meta_load(&rep->meta, f.payload, f.hdr.len, path);
	if (!ret)
		ret = meta_finish(&rep->meta);
	rt_reader_close(r);
	if (!ret && strcmp(path, "-"))
		prescan_cmdlines(&rep->meta, path);
	return ret;
}

static int add_path(struct report *rep, const char *path, struct input **ins,
		    size_t *nr)
{
	struct stat st;

	if (strcmp(path, "-") && stat(path, &st) < 0) {
		log_err("%s: %m", path);
		return -errno;
	}
	if (strcmp(path, "-") && S_ISDIR(st.st_mode)) {
		struct dirent **names;
		int n = scandir(path, &names, NULL, alphasort), found = 0, r = 0;

		if (n < 0) {
			log_err("%s: %m", path);
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			const char *d = names[i]->d_name;
			size_t l = strlen(d);
			char *full;

			if (!r && l > 5 && !strcmp(d + l - 5, ".rtap") &&
			    asprintf(&full, "%s/%s", path, d) >= 0) {
				r = add_path(rep, full, ins, nr);
				free(full);
				found++;
			}
			free(names[i]);
		}
		free(names);
		if (!r && !found) {
			log_err("%s: no capture files (*.rtap) in this directory",
				path);
			return -ENOENT;
		}
		return r;
	}
	*ins = xrealloc(*ins, (*nr + 1) * sizeof(**ins));
	memset(&(*ins)[*nr], 0, sizeof(**ins));
	int r = probe_input(rep, path, &(*ins)[*nr]);

	(*nr)++;
	return r;
}

static int cmp_input(const void *a, const void *b)
{
	const struct input *x = *(struct input *const *)a;
	const struct input *y = *(struct input *const *)b;

	if (x->cpu != y->cpu)
		return x->cpu < y->cpu ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* ---- cursors ---- */

static void chain_error(struct report *rep, struct chain *c, const char *msg)
{
	fflush(stdout);
	log_warn("%s", msg);
	rep->incomplete++;
}

static int open_next_file(struct report *rep, struct chain *c)
{
	struct rt_frame f;
	int r;

	rt_reader_close(c->r);
	c->r = NULL;
	c->in_page = false;
	for (int i = 0; i < rep->nr_cpus_seen; i++)
		c->pages[i].valid = false;
	if (c->cur >= c->nr)
		return 0;
	r = rt_reader_open(c->files[c->cur++]->path, &c->r);
	if (r < 0 || rt_reader_next(c->r, &f) != RT_READ_OK) {
		chain_error(rep, c, c->r ? rt_reader_error(c->r) : "open failed");
		return open_next_file(rep, c);
	}
	return 1;
}

static struct page *page_of(struct report *rep, struct chain *c, uint32_t cpu)
{
	if (cpu >= (uint32_t)rep->nr_cpus_seen)
		return NULL;
	return &c->pages[cpu];
}

static void page_reserve(struct page *pg, size_t n)
{
	if (pg->cap < n) {
		pg->cap = n;
		pg->buf = xrealloc(pg->buf, n);
	}
}

/*
 * Rebuild the kernel sub-buffer from a SUBBUF frame.  Returns 1 with the
 * page ready to decode, 0 to skip the frame (reported), <0 on bad content.
 */
static int load_subbuf(struct report *rep, struct chain *c,
		       const struct rt_frame *f)
{
	struct rt_subbuf sb;
	struct page *pg = page_of(rep, c, f->hdr.cpu);
	const uint8_t *data = f->payload + sizeof(sb);
	size_t dlen;

	if (!pg || f->hdr.len < sizeof(sb))
		return -EBADMSG;
	memcpy(&sb, f->payload, sizeof(sb));
	dlen = f->hdr.len - sizeof(sb);
	if (sb.flags & RT_SUBBUF_F_RAW_PAGE) {
		uint64_t commit;

		if (dlen < RB_PAGE_HDR_SIZE)
			return -EBADMSG;
		memcpy(&commit, data + 8, 8);
		if ((commit & RB_COMMIT_MASK) + RB_PAGE_HDR_SIZE > dlen)
			return -EBADMSG;
		page_reserve(pg, dlen + 8);
		memcpy(pg->buf, data, dlen);
		memset(pg->buf + dlen, 0, 8);
		pg->len = RB_PAGE_HDR_SIZE + (commit & RB_COMMIT_MASK);
		memcpy(&pg->ts, data, 8);
		pg->valid = false; /* never continued */
		c->emit_from = 0;
		rep->st[f->hdr.cpu].bytes += commit & RB_COMMIT_MASK;
		return 1;
	}
	if (sb.data_len > dlen || sb.emit_from < sb.data_start ||
	    sb.emit_from > sb.data_start + sb.data_len ||
	    sb.data_start + (uint64_t)sb.data_len > RT_FRAME_MAX_PAYLOAD)
		return -EBADMSG;
	if (sb.data_start) {
		if (!pg->valid || pg->ts != sb.page_ts || pg->id != sb.subbuf_id ||
		    pg->len != RB_PAGE_HDR_SIZE + sb.data_start) {
			c->item = (struct item){ .type = ITEM_LOST,
						 .ts = sb.page_ts,
						 .cpu = f->hdr.cpu,
						 .lost = -1,
						 .why = "sub-buffer continued without its start" };
			return 0;
		}
	} else {
		pg->len = RB_PAGE_HDR_SIZE;
		pg->ts = sb.page_ts;
		pg->id = sb.subbuf_id;
	}
	page_reserve(pg, RB_PAGE_HDR_SIZE + sb.data_start + dlen + 8);
	memcpy(pg->buf, &sb.page_ts, 8);
	memcpy(pg->buf + 8, &sb.commit, 8);
	memcpy(pg->buf + RB_PAGE_HDR_SIZE + sb.data_start, data, dlen);
	memset(pg->buf + RB_PAGE_HDR_SIZE + sb.data_start + dlen, 0, 8);
	pg->len = RB_PAGE_HDR_SIZE + sb.data_start + sb.data_len;
	pg->valid = true;
	c->emit_from = sb.emit_from;
	rep->st[f->hdr.cpu].bytes += sb.data_start + sb.data_len - sb.emit_from;
	/* Lost before this page: the kernel's stored count; without one,
	 * the cumulative overrun minus what was already reported. */
	c->lost_count = -1;
	if (sb.emit_from == 0 && (sb.commit & RB_MISSED_EVENTS) &&
	    !(sb.commit & RB_MISSED_STORED) && sb.overrun > pg->accounted)
		c->lost_count = sb.overrun - pg->accounted;
	return 1;
}

/* Advance @c to its next item; false when the chain is exhausted. */
static bool chain_next(struct report *rep, struct chain *c)
{
	struct rt_frame f;
	unsigned long long ts;
	void *data;
	int r;

	c->item.type = ITEM_NONE;
	for (;;) {
		if (c->in_page) {
			if (c->pending_lost) {
				int64_t n = kbuffer_missed_events(c->kbuf);

				c->pending_lost = false;
				if (n == -1 && c->lost_count > 0)
					n = c->lost_count;
				if (n > 0)
					c->pages[c->page_cpu].accounted += n;
				if (n) {
					c->item = (struct item){
						.type = ITEM_LOST,
						.cpu = c->page_cpu,
						.lost = n,
						.ts = kbuffer_timestamp(c->kbuf),
					};
					return true;
				}
			}
			data = kbuffer_read_event(c->kbuf, &ts);
			while (data && (uint32_t)kbuffer_curr_index(c->kbuf) <
					       c->emit_from)
				data = kbuffer_next_event(c->kbuf, &ts);
			if (data) {
				struct item *it = &c->item;

				it->type = ITEM_EVENT;
				it->ts = ts;
				it->cpu = c->page_cpu;
				memset(&it->rec, 0, sizeof(it->rec));
				it->rec.ts = ts;
				it->rec.cpu = c->page_cpu;
				it->rec.data = data;
				it->rec.size = kbuffer_event_size(c->kbuf);
				it->rec.record_size = kbuffer_curr_size(c->kbuf);
				/* emit_from now marks what was handed out */
				c->emit_from = kbuffer_curr_index(c->kbuf) + 1;
				return true;
			}
			c->in_page = false;
		}
		if (!c->r) {
			if (open_next_file(rep, c) <= 0)
				return false;
		}
		r = rt_reader_next(c->r, &f);
		if (r == RT_READ_EOF) {
			char msg[PATH_MAX + 128];

			snprintf(msg, sizeof(msg),
				 "%s: ends at byte %" PRIu64 " without an END frame: the capture was cut short (daemon killed, crashed or still running)",
				 rt_reader_name(c->r), rt_reader_offset(c->r));
			if (!c->done)
				chain_error(rep, c, msg);
			c->done = false;
			rt_reader_close(c->r);
			c->r = NULL;
			continue;
		}
		if (r < 0) {
			char msg[PATH_MAX + 256];

			snprintf(msg, sizeof(msg), "%s; events before it were reported",
				 rt_reader_error(c->r));
			chain_error(rep, c, msg);
			rt_reader_close(c->r);
			c->r = NULL;
			continue;
		}
		c->done = false;
		switch (f.hdr.type) {
		case RT_FRAME_SUBBUF:
			if (f.hdr.cpu >= (uint32_t)rep->nr_cpus_seen) {
				chain_error(rep, c, "frame for an unknown CPU");
				break;
			}
			r = load_subbuf(rep, c, &f);
			if (r < 0) {
				char msg[PATH_MAX + 128];

				snprintf(msg, sizeof(msg),
					 "%s: malformed sub-buffer frame at byte %" PRIu64 ": skipped",
					 rt_reader_name(c->r), f.offset);
				chain_error(rep, c, msg);
				break;
			}
			if (r == 0)
				return true; /* the gap item */
			rep->st[f.hdr.cpu].subbufs++;
			c->page_cpu = f.hdr.cpu;
			if (kbuffer_load_subbuffer(c->kbuf,
						   page_of(rep, c, f.hdr.cpu)->buf) < 0)
				break;
			c->in_page = true;
			c->pending_lost = c->emit_from == 0;
			break;
		case RT_FRAME_LOST: {
			struct rt_lost l;

			if (f.hdr.len < sizeof(l))
				break;
			memcpy(&l, f.payload, sizeof(l));
			c->item = (struct item){
				.type = ITEM_LOST,
				.cpu = f.hdr.cpu,
				.ts = l.last_ts,
				.lost = l.events ? (int64_t)l.events : -1,
				.why = l.reason == RT_LOST_SINK ?
					       "an output could not store them" :
					       NULL,
			};
			if (l.reason == RT_LOST_SINK && f.hdr.cpu < (uint32_t)rep->nr_cpus_seen)
				rep->st[f.hdr.cpu].lost_sink += l.events;
			return true;
		}
		case RT_FRAME_METADATA:
			meta_load(&rep->meta, f.payload, f.hdr.len,
				  rt_reader_name(c->r));
			break;
		case RT_FRAME_END: {
			struct rt_end e;

			if (f.hdr.len >= sizeof(e)) {
				memcpy(&e, f.payload, sizeof(e));
				for (uint32_t i = 0; i < e.nr_stats &&
				     sizeof(e) + (i + 1) * sizeof(struct rt_cpu_stats) <= f.hdr.len; i++) {
					struct rt_cpu_stats s;

					memcpy(&s, f.payload + sizeof(e) + i * sizeof(s), sizeof(s));
					if (s.cpu < (uint32_t)rep->nr_cpus_seen) {
						rep->st[s.cpu].end = s;
						rep->st[s.cpu].have_end = true;
					}
				}
			}
			/* A clean end: the file is complete. */
			c->done = true;
			rt_reader_close(c->r);
			c->r = NULL;
			break;
		}
		case RT_FRAME_HEADER:
			break;
		default:
			if (!(f.hdr.flags & RT_FRAME_F_SKIPPABLE)) {
				char msg[PATH_MAX + 128];

				snprintf(msg, sizeof(msg),
					 "%s: unknown frame type %u at byte %" PRIu64 " (written by a newer ringtap?): rest of file skipped",
					 rt_reader_name(c->r), f.hdr.type, f.offset);
				chain_error(rep, c, msg);
				rt_reader_close(c->r);
				c->r = NULL;
			}
			break;
		}
	}
}

/* ---- output ---- */

static void print_ts(FILE *out, uint64_t ts)
{
	fprintf(out, "%5" PRIu64 ".%09" PRIu64, ts / UINT64_C(1000000000),
		ts % UINT64_C(1000000000));
}

static void print_item(struct report *rep, struct item *it, struct trace_seq *s)
{
	struct cpu_stats *st = &rep->st[it->cpu];

	if (it->type == ITEM_LOST) {
		if (it->lost > 0 && !it->why)
			st->lost += it->lost;
		else if (it->lost < 0)
			st->lost_unknown++;
		if (rep->stats_only)
			return;
		if (it->lost > 0)
			printf("CPU:%d [LOST %" PRId64 " EVENTS%s%s]\n", it->cpu,
			       it->lost, it->why ? ": " : "",
			       it->why ? it->why : "");
		else
			printf("CPU:%d [LOST EVENTS%s%s]\n", it->cpu,
			       it->why ? ": " : "", it->why ? it->why : "");
		return;
	}
	if (!st->events)
		st->first_ts = it->ts;
	st->events++;
	st->last_ts = it->ts;
	if (rep->stats_only)
		return;
	trace_seq_reset(s);
	tep_print_event(rep->meta.tep, s, &it->rec, "%16s-%-7d [%03d] ",
			TEP_PRINT_COMM, TEP_PRINT_PID, TEP_PRINT_CPU);
	fwrite(s->buffer, 1, s->len, stdout);
	print_ts(stdout, it->ts);
	trace_seq_reset(s);
	tep_print_event(rep->meta.tep, s, &it->rec, ": %s: %s",
			TEP_PRINT_NAME, TEP_PRINT_INFO);
	while (s->len && s->buffer[s->len - 1] == '\n')
		s->len--;
	fwrite(s->buffer, 1, s->len, stdout);
	putchar('\n');
}

static void print_stats(struct report *rep)
{
	struct cpu_stats t = { 0 };

	printf("%-4s %12s %14s %10s %12s %10s %20s %20s\n", "CPU", "events",
	       "bytes", "lost", "lost(output)", "subbufs", "first", "last");
	for (int i = 0; i < rep->nr_cpus_seen; i++) {
		struct cpu_stats *s = &rep->st[i];
		uint64_t lost = s->lost;
		char lostbuf[32];

		if (s->have_end && s->end.lost > lost)
			lost = s->end.lost;
		snprintf(lostbuf, sizeof(lostbuf), "%" PRIu64 "%s", lost,
			 s->lost_unknown ? "+?" : "");
		printf("%-4d %12" PRIu64 " %14" PRIu64 " %10s %12" PRIu64
		       " %10" PRIu64 " ",
		       i, s->events, s->bytes, lostbuf, s->lost_sink, s->subbufs);
		print_ts(stdout, s->first_ts);
		printf("       ");
		print_ts(stdout, s->last_ts);
		printf("\n");
		t.events += s->events;
		t.bytes += s->bytes;
		t.lost += lost;
		t.lost_sink += s->lost_sink;
		t.subbufs += s->subbufs;
	}
	printf("%-4s %12" PRIu64 " %14" PRIu64 " %10" PRIu64 " %12" PRIu64
	       " %10" PRIu64 "\n",
	       "all", t.events, t.bytes, t.lost, t.lost_sink, t.subbufs);
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
	struct input *ins = NULL;
	struct input **order;
	struct chain *chains;
	size_t nr_ins = 0, nr_chains = 0;
	struct trace_seq s;
	int c, r = 0;

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
	for (int i = optind; i < argc && !r; i++)
		r = add_path(&rep, argv[i], &ins, &nr_ins);
	if (r < 0)
		return 1;

	order = calloc(nr_ins, sizeof(*order));
	chains = calloc(nr_ins, sizeof(*chains));
	if (!order || !chains)
		return 1;
	for (size_t i = 0; i < nr_ins; i++) {
		order[i] = &ins[i];
		if (ins[i].cpu != RT_CPU_NONE && ins[i].cpu >= MAX_CPUS) {
			log_err("%s: CPU %u out of range", ins[i].path, ins[i].cpu);
			return 1;
		}
		if (ins[i].cpu != RT_CPU_NONE && (int)ins[i].cpu + 1 > rep.nr_cpus_seen)
			rep.nr_cpus_seen = ins[i].cpu + 1;
	}
	if (rep.nr_cpus_seen == 0)
		rep.nr_cpus_seen = MAX_CPUS;
	qsort(order, nr_ins, sizeof(*order), cmp_input);
	rep.st = calloc(rep.nr_cpus_seen, sizeof(*rep.st));
	/* One chain per CPU (files without a CPU each get their own). */
	for (size_t i = 0; i < nr_ins; i++) {
		struct chain *ch;

		if (nr_chains && order[i]->cpu != RT_CPU_NONE &&
		    chains[nr_chains - 1].files[0]->cpu == order[i]->cpu) {
			ch = &chains[nr_chains - 1];
		} else {
			ch = &chains[nr_chains++];
			ch->pages = calloc(rep.nr_cpus_seen, sizeof(*ch->pages));
			ch->kbuf = tep_kbuffer(rep.meta.tep);
			if (!ch->pages || !ch->kbuf)
				return 1;
		}
		ch->files = xrealloc(ch->files, (ch->nr + 1) * sizeof(*ch->files));
		ch->files[ch->nr++] = order[i];
	}

	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	trace_seq_init(&s);
	for (size_t i = 0; i < nr_chains; i++)
		chain_next(&rep, &chains[i]);
	for (;;) {
		struct chain *best = NULL;

		for (size_t i = 0; i < nr_chains; i++) {
			struct chain *ch = &chains[i];

			if (ch->item.type != ITEM_NONE &&
			    (!best || ch->item.ts < best->item.ts))
				best = ch;
		}
		if (!best)
			break;
		print_item(&rep, &best->item, &s);
		chain_next(&rep, best);
	}
	if (rep.stats_only)
		print_stats(&rep);
	fflush(stdout);
	trace_seq_destroy(&s);
	for (size_t i = 0; i < nr_chains; i++) {
		rt_reader_close(chains[i].r);
		kbuffer_free(chains[i].kbuf);
		for (int j = 0; j < rep.nr_cpus_seen; j++)
			free(chains[i].pages[j].buf);
		free(chains[i].pages);
		free(chains[i].files);
	}
	for (size_t i = 0; i < nr_ins; i++)
		free(ins[i].path);
	free(ins);
	free(order);
	free(chains);
	free(rep.st);
	tep_free(rep.meta.tep);
	return rep.incomplete ? 3 : 0;
}
