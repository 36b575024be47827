// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap report: decode captures with libtraceevent (tep + kbuffer) and
 * print events in timestamp order across CPUs, with losses shown where
 * they happened.  lib/capture.c turns the files into one chain of rebuilt
 * sub-buffers per CPU; a cursor per chain walks the events of its current
 * sub-buffer, and the cursor with the earliest event goes first.
 *
 * Every event then passes the filters (CPU, time, event id, pid, comm: the
 * cheap ones first, all before anything is formatted) and is printed as
 * text, in the layout of tracefs' `trace` file, or as JSON, or counted for
 * --stats.  --follow (at the end of this file) re-feeds the growing tail of
 * each file to the same code.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event-parse.h>
#include <kbuffer.h>
#include <trace-seq.h>

#include "ringtap/capture.h"
#include "ringtap/log.h"
#include "ringtap/trace_mmap.h"
#include "ringtap.h"
#include "report_bpf.h"

#define MAX_CPUS 4096	   /* as lib/capture.c */
#define NR_EVENT_IDS 65536 /* common_type is 16 bits */
#define NSEC_PER_SEC UINT64_C(1000000000)

enum out_format { OUT_TEXT, OUT_FTRACE, OUT_JSON };

struct time_bound {
	bool set;
	bool absolute; /* '@': trace clock; else from the first event */
	uint64_t ns;
};

struct filter {
	bool *cpus; /* NULL: every CPU, else MAX_CPUS entries */
	char **events; /* "system:name" globs */
	int nr_events;
	int *pids;
	int nr_pids;
	char **comms; /* globs */
	int nr_comms;
	struct time_bound from, to; /* [from, to) */
};

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
	struct filter f;
	enum out_format fmt;
	bool stats;
	bool follow;
	/* the capture being read (several in turn with --follow) */
	struct rt_capture_reader *cr;
	const struct rt_capture_meta *meta;
	struct tep_handle *tep;
	uint8_t *id_ok;	 /* NR_EVENT_IDS: 1 when the event passes --event */
	int marker_id;	 /* ftrace:print, or -1 */
	bool warned;	 /* --event patterns checked against the formats */
	/* the whole run */
	struct cpu_count *cnt;
	uint32_t nr_cnt;
	uint64_t *type_cnt; /* --stats: events per id */
	bool have_base;
	uint64_t base; /* first event: origin of relative times */
	struct trace_seq seq;
	FILE *out;
	struct report_bpf bpf; /* BPF events: ringtap:NAME */
};

/* ---- option values ---- */

/* Decimal digits at *p, at most @max; *p moves past them.  0 or -errno. */
static int parse_num(const char **p, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(*p, &end, 10);
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*p = end;
	*ret = v;
	return 0;
}

/* "0,2-3" into @set (MAX_CPUS entries). */
static int parse_cpu_list(const char *arg, bool *set)
{
	const char *p = arg;
	uint64_t a, b;
	int r;

	for (;;) {
		r = parse_num(&p, MAX_CPUS - 1, &a);
		if (r < 0)
			return r;
		b = a;
		if (*p == '-') {
			p++;
			r = parse_num(&p, MAX_CPUS - 1, &b);
			if (r < 0)
				return r;
			if (b < a)
				return -EINVAL;
		}
		for (uint64_t c = a; c <= b; c++)
			set[c] = true;
		if (!*p)
			return 0;
		if (*p++ != ',')
			return -EINVAL;
	}
}

/* "12,345" appended to @f's pids. */
static int parse_pid_list(const char *arg, struct filter *f)
{
	const char *p = arg;
	uint64_t v;
	int r;

	for (;;) {
		r = parse_num(&p, INT_MAX, &v);
		if (r < 0)
			return r;
		if (*p && *p != ',')
			return -EINVAL;
		f->pids = realloc(f->pids, (f->nr_pids + 1) * sizeof(*f->pids));
		if (!f->pids)
			return -ENOMEM;
		f->pids[f->nr_pids++] = (int)v;
		if (!*p++)
			return 0;
	}
}

/* "SEC[.FRACTION]", at most 9 decimals, into nanoseconds. */
static int parse_seconds(const char *s, uint64_t *ret)
{
	uint64_t sec = 0, frac = 0;
	const char *p = s;
	int digits = 0, r;

	if (*p != '.') {
		r = parse_num(&p, UINT64_MAX / NSEC_PER_SEC - 1, &sec);
		if (r < 0)
			return r;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++digits > 9)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (!digits)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (*p)
		return -EINVAL;
	*ret = sec * NSEC_PER_SEC + frac;
	return 0;
}

static int parse_time_bound(const char *opt, const char *arg,
			    struct time_bound *b)
{
	int r;

	b->absolute = arg[0] == '@';
	r = parse_seconds(arg + b->absolute, &b->ns);
	if (r < 0) {
		log_err("%s '%s': expected seconds from the first event (e.g. 1.5) or @SECONDS on the trace clock (e.g. @5123.000012), at most 9 decimals",
			opt, arg);
		return r;
	}
	b->set = true;
	return 0;
}

static int add_glob(char ***v, int *nr, const char *arg)
{
	char **n = realloc(*v, (*nr + 1) * sizeof(**v));

	if (!n)
		return -ENOMEM;
	*v = n;
	n[*nr] = strdup(arg);
	if (!n[*nr])
		return -ENOMEM;
	(*nr)++;
	return 0;
}

static void filter_free(struct filter *f)
{
	for (int i = 0; i < f->nr_events; i++)
		free(f->events[i]);
	for (int i = 0; i < f->nr_comms; i++)
		free(f->comms[i]);
	free(f->events);
	free(f->comms);
	free(f->pids);
	free(f->cpus);
}

/* ---- filters ---- */

static void event_name(const struct tep_event *ev, int id, char *buf,
		       size_t size)
{
	if (ev)
		snprintf(buf, size, "%s:%s", ev->system, ev->name);
	else
		snprintf(buf, size, "unknown:%d", id);
}

/* Patterns that select nothing are likely typos: say so, once. */
static void filter_check_events(const struct report *rep, const bool *bpf)
{
	int n = tep_get_events_count(rep->tep);
	char name[512];

	for (int j = 0; j < rep->f.nr_events; j++) {
		int i;

		if (bpf[j])
			continue;
		for (i = 0; i < n; i++) {
			struct tep_event *ev = tep_get_event(rep->tep, i);

			event_name(ev, ev->id, name, sizeof(name));
			if (!fnmatch(rep->f.events[j], name, 0))
				break;
		}
		if (i == n)
			log_warn("--event '%s' matches no event of this capture",
				 rep->f.events[j]);
	}
}

/* Which event ids pass --event, for the capture now open. */
static void filter_prepare(struct report *rep)
{
	const struct filter *f = &rep->f;
	struct tep_event *marker;
	int n = tep_get_events_count(rep->tep);
	bool bpf_matched[f->nr_events + 1];
	char name[512];

	marker = tep_find_event_by_name(rep->tep, "ftrace", "print");
	rep->marker_id = marker ? marker->id : -1;
	memset(rep->id_ok, !f->nr_events, NR_EVENT_IDS);
	for (int i = 0; i < n && f->nr_events; i++) {
		struct tep_event *ev = tep_get_event(rep->tep, i);

		event_name(ev, ev->id, name, sizeof(name));
		for (int j = 0; j < f->nr_events; j++)
			if (!fnmatch(f->events[j], name, 0))
				rep->id_ok[ev->id & (NR_EVENT_IDS - 1)] = 1;
	}
	memset(bpf_matched, 0, sizeof(bpf_matched));
	report_bpf_prepare(&rep->bpf, rep->meta, f->events, f->nr_events,
			   bpf_matched);
	/* with --follow, every reader of the capture has the same formats */
	if (!rep->warned)
		filter_check_events(rep, bpf_matched);
	rep->warned = true;
}

static bool want_cpu(const struct report *rep, int cpu)
{
	return !rep->f.cpus || (cpu >= 0 && cpu < MAX_CPUS && rep->f.cpus[cpu]);
}

static uint64_t bound_ns(const struct report *rep, const struct time_bound *b,
			 uint64_t ts)
{
	/* before the first event (a loss), relative bounds count from here */
	uint64_t base = rep->have_base ? rep->base : ts;

	if (b->absolute)
		return b->ns;
	return b->ns > UINT64_MAX - base ? UINT64_MAX : base + b->ns;
}

static bool want_time(const struct report *rep, uint64_t ts)
{
	const struct filter *f = &rep->f;

	if (f->from.set && ts < bound_ns(rep, &f->from, ts))
		return false;
	if (f->to.set && ts >= bound_ns(rep, &f->to, ts))
		return false;
	return true;
}

/* Event id first: the cheapest test that rejects most. */
static bool want_event(const struct report *rep, struct tep_record *rec,
		       const struct report_bpf_ev *be)
{
	const struct filter *f = &rep->f;
	const char *comm;
	bool ok;
	int pid;

	if (be ? !rep->bpf.ok[be->idx] :
		 !rep->id_ok[tep_data_type(rep->tep, rec) & (NR_EVENT_IDS - 1)])
		return false;
	if (!f->nr_pids && !f->nr_comms)
		return true;
	/* a BPF event is about the task in its header, not the writer */
	pid = be ? be->pid : tep_data_pid(rep->tep, rec);
	ok = !f->nr_pids;
	for (int i = 0; i < f->nr_pids && !ok; i++)
		ok = f->pids[i] == pid;
	if (!ok || !f->nr_comms)
		return ok;
	comm = be ? be->comm : tep_data_comm_from_pid(rep->tep, pid);
	for (int i = 0; i < f->nr_comms; i++)
		if (!fnmatch(f->comms[i], comm, 0))
			return true;
	return false;
}

/* ---- cursors ---- */

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

/* ---- text and ftrace output ---- */

static void print_ts(FILE *out, uint64_t ts)
{
	fprintf(out, "%5" PRIu64 ".%09" PRIu64, ts / NSEC_PER_SEC,
		ts % NSEC_PER_SEC);
}

static void put_seq(struct report *rep, struct trace_seq *s)
{
	while (s->len && s->buffer[s->len - 1] == '\n')
		s->len--;
	fwrite(s->buffer, 1, s->len, rep->out);
}

static void print_text(struct report *rep, struct ev *e,
		       const struct report_bpf_ev *be)
{
	struct trace_seq *s = &rep->seq;

	if (be) {
		fprintf(rep->out, "%16s-%-7d [%03d] ", be->comm, be->pid,
			be->cpu);
		print_ts(rep->out, e->ts);
		report_bpf_text(&rep->bpf, be, rep->out);
		putc('\n', rep->out);
		return;
	}

	trace_seq_reset(s);
	tep_print_event(rep->tep, s, &e->rec, "%16s-%-7d [%03d] ",
			TEP_PRINT_COMM, TEP_PRINT_PID, TEP_PRINT_CPU);
	fwrite(s->buffer, 1, s->len, rep->out);
	print_ts(rep->out, e->ts);
	trace_seq_reset(s);
	tep_print_event(rep->tep, s, &e->rec, ": %s: %s", TEP_PRINT_NAME,
			TEP_PRINT_INFO);
	put_seq(rep, s);
	putc('\n', rep->out);
}

/*
 * The layout of tracefs' `trace` file (kernel/trace/trace_output.c:
 * "%16s-%-7d [%03d] FLAGS %5lu.%06lu: name: info", microseconds rounded),
 * with trace_marker writes named tracing_mark_write as the kernel does.
 */
static void print_ftrace_header(struct report *rep)
{
	fputs("# tracer: nop\n"
	      "#\n"
	      "#                                _-----=> irqs-off/BH-disabled\n"
	      "#                               / _----=> need-resched\n"
	      "#                              | / _---=> hardirq/softirq\n"
	      "#                              || / _--=> preempt-depth\n"
	      "#                              ||| / _-=> migrate-disable\n"
	      "#                              |||| /     delay\n"
	      "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
	      "#              | |         |   |||||     |         |\n",
	      rep->out);
}

static void print_ftrace(struct report *rep, struct ev *e, int id)
{
	struct trace_seq *s = &rep->seq;
	uint64_t us = (e->ts + 500) / 1000;

	trace_seq_reset(s);
	tep_print_event(rep->tep, s, &e->rec, "%16s-%-7d [%03d] %s ",
			TEP_PRINT_COMM, TEP_PRINT_PID, TEP_PRINT_CPU,
			TEP_PRINT_LATENCY);
	fwrite(s->buffer, 1, s->len, rep->out);
	fprintf(rep->out, "%5" PRIu64 ".%06" PRIu64 ": ", us / 1000000,
		us % 1000000);
	trace_seq_reset(s);
	if (id == rep->marker_id)
		tep_print_event(rep->tep, s, &e->rec, "tracing_mark_write: %s",
				TEP_PRINT_INFO);
	else
		tep_print_event(rep->tep, s, &e->rec, "%s: %s", TEP_PRINT_NAME,
				TEP_PRINT_INFO);
	put_seq(rep, s);
	putc('\n', rep->out);
}

static void print_lost_text(struct report *rep, const struct ev *e)
{
	if (e->lost > 0)
		fprintf(rep->out, "CPU:%d [LOST %" PRId64 " EVENTS%s%s]\n",
			e->cpu, e->lost, e->why ? ": " : "",
			e->why ? e->why : "");
	else
		fprintf(rep->out, "CPU:%d [LOST EVENTS%s%s]\n", e->cpu,
			e->why ? ": " : "", e->why ? e->why : "");
}

/* ---- JSON output ---- */

/* Length of the valid UTF-8 sequence at @p (1..4), 0 if it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t left)
{
	uint32_t cp, min;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string of the bytes at @p up to @len or a NUL.  Control characters
 * and bytes that are not UTF-8 become \u00XX (a byte shows as the code point
 * of the same value), so any input gives valid JSON.
 */
static void json_str(FILE *o, const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i = 0, n;

	putc('"', o);
	while (i < len && p[i]) {
		n = utf8_seq(p + i, len - i);
		if (n == 1 && (p[i] == '"' || p[i] == '\\')) {
			putc('\\', o);
			putc(p[i], o);
		} else if (n == 1 && p[i] >= 0x20) {
			putc(p[i], o);
		} else if (n > 1) {
			fwrite(p + i, 1, n, o);
		} else {
			fprintf(o, "\\u%04x", p[i]);
			n = 1;
		}
		i += n;
	}
	putc('"', o);
}

/* Where a field's value lies in @rec: false when outside the record. */
static bool field_span(struct tep_handle *tep, const struct tep_format_field *f,
		       const struct tep_record *rec, const uint8_t **ret,
		       size_t *ret_len)
{
	size_t size = rec->size, off = f->offset, len = f->size;

	if (f->offset < 0 || f->size < 0 || off > size || len > size - off)
		return false;
	if (f->flags & TEP_FIELD_IS_DYNAMIC) {
		/* __data_loc / __rel_loc: u32 length << 16 | offset */
		unsigned long long loc;

		loc = tep_read_number(tep, (const uint8_t *)rec->data + off, len);
		off = (loc & 0xffff) +
		      (f->flags & TEP_FIELD_IS_RELATIVE ? off + len : 0);
		len = (loc >> 16) & 0xffff;
	} else if ((f->flags & TEP_FIELD_IS_ARRAY) && !len) {
		len = size - off; /* "char buf[]": to the end of the record */
	}
	if (off > size || len > size - off)
		return false;
	*ret = (const uint8_t *)rec->data + off;
	*ret_len = len;
	return true;
}

static void json_num(struct report *rep, const uint8_t *p, size_t size,
		     bool sign)
{
	unsigned long long v = tep_read_number(rep->tep, p, size);
	int shift = 64 - 8 * (int)size;

	if (sign)
		fprintf(rep->out, "%lld", (long long)(v << shift) >> shift);
	else
		fprintf(rep->out, "%llu", v);
}

static bool num_size(size_t n)
{
	return n == 1 || n == 2 || n == 4 || n == 8;
}

static void json_value(struct report *rep, const struct tep_format_field *f,
		       const uint8_t *p, size_t len, bool marker)
{
	bool sign = f->flags & TEP_FIELD_IS_SIGNED;
	size_t es = f->elementsize;

	if (f->flags & TEP_FIELD_IS_STRING) {
		len = strnlen((const char *)p, len);
		while (marker && len && p[len - 1] == '\n')
			len--;
		json_str(rep->out, p, len);
		return;
	}
	if (!(f->flags & TEP_FIELD_IS_ARRAY) && num_size(len)) {
		json_num(rep, p, len, sign);
		return;
	}
	/* arrays, and odd sizes as bytes */
	if (!(f->flags & TEP_FIELD_IS_ARRAY) || !num_size(es))
		es = 1, sign = false;
	putc('[', rep->out);
	for (size_t i = 0; i + es <= len; i += es) {
		if (i)
			putc(',', rep->out);
		json_num(rep, p + i, es, sign);
	}
	putc(']', rep->out);
}

static void print_json_bpf(struct report *rep, struct ev *e,
			   const struct report_bpf_ev *be)
{
	const char *name = rt_bpf_event_name(be->ev);
	FILE *o = rep->out;

	fprintf(o, "{\"ts\":%" PRIu64 ",\"cpu\":%d,\"pid\":%d,\"comm\":", e->ts,
		be->cpu, be->pid);
	json_str(o, be->comm, strlen(be->comm));
	fputs(",\"event\":", o);
	json_str(o, name, strlen(name));
	fputs(",\"fields\":{", o);
	report_bpf_json_fields(&rep->bpf, be, o, json_str);
	fputs("}}\n", o);
}

static void print_json(struct report *rep, struct ev *e, int id)
{
	struct tep_event *ev = tep_find_event(rep->tep, id);
	int pid = tep_data_pid(rep->tep, &e->rec);
	const char *comm = tep_data_comm_from_pid(rep->tep, pid);
	FILE *o = rep->out;
	char name[512];

	event_name(ev, id, name, sizeof(name));
	fprintf(o, "{\"ts\":%" PRIu64 ",\"cpu\":%d,\"pid\":%d,\"comm\":", e->ts,
		e->cpu, pid);
	json_str(o, comm, strlen(comm));
	fputs(",\"event\":", o);
	json_str(o, name, strlen(name));
	fputs(",\"fields\":{", o);
	for (struct tep_format_field *f = ev ? ev->format.fields : NULL; f;
	     f = f->next) {
		const uint8_t *p;
		size_t len;

		json_str(o, f->name, strlen(f->name));
		putc(':', o);
		if (field_span(rep->tep, f, &e->rec, &p, &len))
			json_value(rep, f, p, len, id == rep->marker_id);
		else
			fputs("null", o);
		if (f->next)
			putc(',', o);
	}
	fputs("}}\n", o);
}

static void print_lost_json(struct report *rep, const struct ev *e)
{
	const char *why = e->why ? e->why : "overwritten in the ring buffer";

	if (e->lost > 0)
		fprintf(rep->out, "{\"lost\":%" PRId64, e->lost);
	else
		fputs("{\"lost\":null", rep->out);
	fprintf(rep->out, ",\"cpu\":%d,\"ts\":%" PRIu64 ",\"why\":", e->cpu,
		e->ts);
	json_str(rep->out, why, strlen(why));
	fputs("}\n", rep->out);
}

/* ---- one item ---- */

static void handle_lost(struct report *rep, const struct ev *e)
{
	struct cpu_count *n = &rep->cnt[e->cpu];

	if (e->lost > 0 && !e->why)
		n->lost += e->lost;
	else if (e->lost < 0)
		n->lost_unknown++;
	if (rep->stats)
		return;
	if (rep->fmt == OUT_JSON)
		print_lost_json(rep, e);
	else
		print_lost_text(rep, e);
}

static void handle(struct report *rep, struct ev *e)
{
	struct cpu_count *n = &rep->cnt[e->cpu];
	struct report_bpf_ev bev, *be = NULL;
	int id;

	if (e->type == EV_EVENT && !rep->have_base) {
		rep->have_base = true;
		rep->base = e->ts;
	}
	if (!want_cpu(rep, e->cpu) || !want_time(rep, e->ts))
		return;
	if (e->type == EV_LOST) {
		handle_lost(rep, e);
		return;
	}
	if (report_bpf_event(&rep->bpf, rep->tep, &e->rec, &bev))
		be = &bev;
	if (!want_event(rep, &e->rec, be))
		return;
	if (!n->events)
		n->first_ts = e->ts;
	n->events++;
	n->last_ts = e->ts;
	id = tep_data_type(rep->tep, &e->rec);
	if (rep->stats && be)
		report_bpf_count(&rep->bpf, be);
	else if (rep->stats)
		rep->type_cnt[id & (NR_EVENT_IDS - 1)]++;
	else if (rep->fmt == OUT_JSON && be)
		print_json_bpf(rep, e, be);
	else if (rep->fmt == OUT_JSON)
		print_json(rep, e, id);
	else if (rep->fmt == OUT_FTRACE)
		print_ftrace(rep, e, id);
	else
		print_text(rep, e, be);
}

/* ---- --stats ---- */

static void print_cpu_table(struct report *rep)
{
	uint64_t t_events = 0, t_bytes = 0, t_lost = 0, t_sink = 0, t_sub = 0;
	FILE *o = rep->out;

	fprintf(o, "%-4s %12s %14s %10s %12s %10s %20s %20s\n", "CPU", "events",
		"bytes", "lost", "lost(output)", "subbufs", "first", "last");
	for (uint32_t i = 0; i < rep->meta->nr_cpus; i++) {
		const struct rt_cpu_summary *sum = rt_capture_reader_summary(rep->cr, i);
		struct cpu_count *n = &rep->cnt[i];
		uint64_t lost = n->lost;
		char lostbuf[32];

		if (!want_cpu(rep, i))
			continue;
		/* The daemon's final count also covers losses no page
		 * carried (e.g. a commit overrun); it is for all times. */
		if (sum->have_end && sum->end.lost > lost && !rep->f.from.set &&
		    !rep->f.to.set)
			lost = sum->end.lost;
		snprintf(lostbuf, sizeof(lostbuf), "%" PRIu64 "%s", lost,
			 n->lost_unknown ? "+?" : "");
		fprintf(o, "%-4u %12" PRIu64 " %14" PRIu64 " %10s %12" PRIu64
			   " %10" PRIu64 " ",
			i, n->events, sum->bytes, lostbuf, sum->lost_sink,
			sum->subbufs);
		print_ts(o, n->first_ts);
		fprintf(o, "       ");
		print_ts(o, n->last_ts);
		fprintf(o, "\n");
		t_events += n->events;
		t_bytes += sum->bytes;
		t_lost += lost;
		t_sink += sum->lost_sink;
		t_sub += sum->subbufs;
	}
	fprintf(o, "%-4s %12" PRIu64 " %14" PRIu64 " %10" PRIu64 " %12" PRIu64
		   " %10" PRIu64 "\n",
		"all", t_events, t_bytes, t_lost, t_sink, t_sub);
}

struct type_row {
	char name[256];
	uint64_t count;
};

static int cmp_type_row(const void *a, const void *b)
{
	const struct type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct type_rows {
	struct type_row *rows;
	size_t nr;
	bool oom;
};

static void add_type_row(void *ctx, const char *name, uint64_t count)
{
	struct type_rows *t = ctx;
	struct type_row *n = realloc(t->rows, (t->nr + 1) * sizeof(*n));

	if (!n) {
		t->oom = true;
		return;
	}
	t->rows = n;
	snprintf(n[t->nr].name, sizeof(n[t->nr].name), "%s", name);
	n[t->nr++].count = count;
}

/* Events per type, most frequent first. */
static int print_type_table(struct report *rep)
{
	struct type_rows t = { 0 };
	char name[256];

	for (int id = 0; id < NR_EVENT_IDS; id++) {
		if (!rep->type_cnt[id])
			continue;
		event_name(tep_find_event(rep->tep, id), id, name, sizeof(name));
		add_type_row(&t, name, rep->type_cnt[id]);
	}
	report_bpf_type_rows(&rep->bpf, add_type_row, &t);
	if (t.oom) {
		free(t.rows);
		return -ENOMEM;
	}
	if (t.nr)
		qsort(t.rows, t.nr, sizeof(*t.rows), cmp_type_row);
	fprintf(rep->out, "\n%-40s %12s\n", "event", "count");
	for (size_t i = 0; i < t.nr; i++)
		fprintf(rep->out, "%-40s %12" PRIu64 "\n", t.rows[i].name,
			t.rows[i].count);
	free(t.rows);
	report_bpf_print_programs(&rep->bpf, rep->out);
	return 0;
}

/* ---- one capture ---- */

static int ensure_counts(struct report *rep, uint32_t nr_cpus)
{
	struct cpu_count *n;

	if (nr_cpus <= rep->nr_cnt)
		return 0;
	n = realloc(rep->cnt, nr_cpus * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + rep->nr_cnt, 0, (nr_cpus - rep->nr_cnt) * sizeof(*n));
	rep->cnt = n;
	rep->nr_cnt = nr_cpus;
	return 0;
}

/* Everything @cr holds, in timestamp order, through the filters. */
static int report_capture(struct report *rep, struct rt_capture_reader *cr)
{
	int nr = rt_capture_reader_nr_chains(cr), r = 0;
	struct cursor *cur;

	rep->cr = cr;
	rep->meta = rt_capture_reader_meta(cr);
	rep->tep = rep->meta->tep;
	if (ensure_counts(rep, rep->meta->nr_cpus) < 0)
		return -ENOMEM;
	filter_prepare(rep);
	cur = calloc(nr, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	for (int i = 0; i < nr; i++) {
		cur[i].chain = rt_capture_reader_chain(cr, i);
		cur[i].kbuf = tep_kbuffer(rep->tep);
		if (!cur[i].kbuf) {
			r = -ENOMEM;
			goto out;
		}
		cursor_next(&cur[i]);
	}
	for (;;) {
		struct cursor *best = NULL;

		for (int i = 0; i < nr; i++)
			if (cur[i].ev.type != EV_NONE &&
			    (!best || cur[i].ev.ts < best->ev.ts))
				best = &cur[i];
		if (!best)
			break;
		handle(rep, &best->ev);
		cursor_next(best);
	}
out:
	for (int i = 0; i < nr; i++)
		kbuffer_free(cur[i].kbuf);
	free(cur);
	return r;
}

/* ---- --follow ---- */

/*
 * lib/capture.c reads a capture to its end: a file without an END frame is
 * reported as cut short and its chain cannot be resumed.  So, to follow a
 * capture ringtapd is still writing, each poll gives the reader, for every
 * file that grew, a stand-alone file in memory (a memfd) holding
 *
 *   - the file's preamble and HEADER frame,
 *   - the frames of the sub-buffer still being filled that were shown
 *     already, with emit_from moved to their end so that they show nothing
 *     but let the next frame continue the sub-buffer,
 *   - the new complete frames, and an END frame,
 *
 * renumbered, since the reader checks frame sequence numbers.  Every byte
 * is decoded once, plus the sub-buffer being filled.  Files are kept open:
 * the daemon deletes old rotated files (max_files).  The daemon writes the
 * pid -> comm table at rotation and at the end only; the last one seen is
 * given to every later reader (follow_comms()).
 *
 * The lost count of a sub-buffer without a stored count is the capture's
 * cumulative overrun minus what was reported before; a window starts its
 * own count at 0, so new frames carry the overrun minus what earlier
 * windows reported (tail_account() does lib/capture.c's page_lost() sums).
 *
 * Events are merged by time within a poll; a CPU whose sub-buffer is
 * flushed later than another's may print a little out of order.
 */

#define FOLLOW_POLL_MS 200
#define FOLLOW_WINDOW_MAX (64u << 20) /* bytes of new frames per poll */

struct tail_file {
	char *path;
	int fd;
	bool have_head;
	struct rt_buf head;	/* preamble + HEADER frame */
	uint32_t cpu, index;	/* from the HEADER */
	uint64_t pos;		/* next frame to read */
	uint64_t frame_size;	/* on disk, of the frame last read */
	uint64_t seq;		/* its sequence number */
	struct rt_buf page;	/* frames of the open sub-buffer, shown */
	bool ended;		/* END read (or damaged): nothing more */
	bool shutdown;		/* the END says the capture stopped */
	bool damaged;
	bool gap_checked;	/* its predecessor was looked for */
	uint64_t bad_at;	/* pos + 1 where a frame looked damaged */
};

struct follow {
	char *const *args;
	int nr_args;
	bool any_dir;
	struct tail_file *files;
	size_t nr_files;
	struct rt_buf comms;	/* the last pid -> comm table: "pid comm\0"... */
	uint64_t accounted[MAX_CPUS];
	uint8_t *buf;		/* payload of the frame being read */
	size_t cap;
	bool damaged;
};

static volatile sig_atomic_t follow_stop;

static void on_stop_signal(int sig)
{
	follow_stop = 1;
}

static void tail_free(struct tail_file *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	rt_buf_free(&t->head);
	rt_buf_free(&t->page);
}

static int follow_add(struct follow *fw, const char *path)
{
	struct tail_file *n, *t;
	int fd;

	for (size_t i = 0; i < fw->nr_files; i++)
		if (!strcmp(fw->files[i].path, path))
			return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* rotated away already */
	n = realloc(fw->files, (fw->nr_files + 1) * sizeof(*n));
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	fw->files = n;
	t = &fw->files[fw->nr_files];
	*t = (struct tail_file){ .fd = fd, .path = strdup(path),
				 .cpu = RT_CPU_NONE };
	if (!t->path) {
		close(fd);
		return -ENOMEM;
	}
	fw->nr_files++;
	return 0;
}

static int rtap_name(const struct dirent *d)
{
	size_t l = strlen(d->d_name);

	return l > 5 && !strcmp(d->d_name + l - 5, ".rtap");
}

/* New files in the directories given. */
static int follow_scan(struct follow *fw)
{
	for (int i = 0; i < fw->nr_args; i++) {
		struct dirent **names;
		struct stat st;
		int n, r = 0;

		if (stat(fw->args[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = follow_add(fw, fw->args[i]);
			if (r < 0) {
				log_err("%s: %s", fw->args[i], strerror(-r));
				return r;
			}
			continue;
		}
		fw->any_dir = true;
		n = scandir(fw->args[i], &names, rtap_name, alphasort);
		if (n < 0) {
			r = -errno;
			log_err("%s: %s", fw->args[i], strerror(-r));
			return r;
		}
		for (int j = 0; j < n; j++) {
			char *full;

			if (!r && asprintf(&full, "%s/%s", fw->args[i],
					   names[j]->d_name) >= 0) {
				r = follow_add(fw, full);
				if (r < 0)
					log_err("%s: %s", full, strerror(-r));
				free(full);
			}
			free(names[j]);
		}
		free(names);
		if (r < 0)
			return r;
	}
	return 0;
}

__attribute__((format(printf, 3, 4)))
static void tail_damaged(struct follow *fw, struct tail_file *t,
			 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s: %s at byte %" PRIu64 ": not following this file further",
		 t->path, msg, t->pos);
	t->ended = true;
	t->damaged = true;
	fw->damaged = true;
}

/* The payload checksum @h calls for (0 for a frame whose flags are bad). */
static uint32_t payload_crc(const struct rt_frame_hdr *h, const uint8_t *p)
{
	const char *why;
	uint32_t crc;

	return rt_frame_payload_crc(h, p, &crc, &why) < 0 ? 0 : crc;
}

/*
 * A frame that looks damaged may be one the daemon is cutting back after
 * a failed write (and rewriting): damaged only if it still is next poll.
 */
static int tail_bad_frame(struct follow *fw, struct tail_file *t,
			  const char *what)
{
	if (t->bad_at != t->pos + 1) {
		t->bad_at = t->pos + 1;
		return 0;
	}
	tail_damaged(fw, t, "%s", what);
	return -EBADMSG;
}

/*
 * The frame at t->pos into @h and fw->buf: 1, 0 when it is not complete
 * yet (the daemon writes a frame with one writev()), -EBADMSG when damaged.
 */
static int tail_read_frame(struct follow *fw, struct tail_file *t,
			   uint64_t size, struct rt_frame_hdr *h)
{
	const char *why;
	uint32_t crc;
	size_t len;

	if (size < t->pos + RT_FRAME_HDR_SIZE)
		return 0;
	if (pread(t->fd, h, sizeof(*h), t->pos) != sizeof(*h))
		return 0;
	if (rt_frame_hdr_check(h) < 0 || h->seq != t->seq)
		return tail_bad_frame(fw, t, "bad frame header");
	len = rt_pad8(h->len);
	if (size < t->pos + RT_FRAME_HDR_SIZE + len)
		return 0;
	if (fw->cap < len) {
		uint8_t *b = realloc(fw->buf, len);

		if (!b)
			return -ENOMEM;
		fw->buf = b;
		fw->cap = len;
	}
	if (pread(t->fd, fw->buf, len, t->pos + RT_FRAME_HDR_SIZE) != (ssize_t)len)
		return 0;
	if (rt_frame_payload_crc(h, fw->buf, &crc, &why) < 0)
		return tail_bad_frame(fw, t, why);
	if (crc != h->payload_crc)
		return tail_bad_frame(fw, t, "bad payload checksum");
	t->frame_size = RT_FRAME_HDR_SIZE + len;
	/* a page image becomes the compact frame the window carries */
	rt_frame_compact(h, fw->buf);
	return 1;
}

/*
 * Append frame @seq with @h's type, flags, cpu and the payload @p (whose
 * checksum is recomputed when @changed).
 */
static int put_frame(struct rt_buf *w, const struct rt_frame_hdr *h,
		     uint64_t seq, const uint8_t *p, bool changed)
{
	static const uint8_t zeros[8];
	struct rt_frame_hdr hdr = *h;

	hdr.seq = seq;
	if (changed)
		hdr.payload_crc = payload_crc(&hdr, p);
	hdr.header_crc = rt_crc32c(0, &hdr, offsetof(struct rt_frame_hdr,
						    header_crc));
	if (rt_buf_append(w, &hdr, sizeof(hdr)) < 0 ||
	    rt_buf_append(w, p, h->len) < 0 ||
	    rt_buf_append(w, zeros, rt_pad8(h->len) - h->len) < 0)
		return -ENOMEM;
	return 0;
}

/* Preamble and HEADER, once complete: 1, 0 not yet, -errno. */
static int tail_head(struct follow *fw, struct tail_file *t, uint64_t size)
{
	struct rt_preamble pre;
	struct rt_frame_hdr h;
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;
	size_t off = 0;
	int r;

	if (size < RT_PREAMBLE_SIZE ||
	    pread(t->fd, &pre, sizeof(pre), 0) != sizeof(pre))
		return 0;
	if (rt_preamble_check(&pre) < 0) {
		tail_damaged(fw, t, "not a ringtap stream of a known version");
		return -EBADMSG;
	}
	t->pos = RT_PREAMBLE_SIZE;
	r = tail_read_frame(fw, t, size, &h);
	if (r <= 0)
		return r;
	if (h.type != RT_FRAME_HEADER) {
		tail_damaged(fw, t, "no HEADER frame");
		return -EBADMSG;
	}
	while (rt_record_next(fw->buf, h.len, &off, &tag, &val, &len) == 1) {
		if (tag == RT_TAG_FILE_CPU && len == 4)
			memcpy(&t->cpu, val, 4);
		else if (tag == RT_TAG_FILE_INDEX && len == 4)
			memcpy(&t->index, val, 4);
	}
	if (rt_buf_append(&t->head, &pre, sizeof(pre)) < 0 ||
	    put_frame(&t->head, &h, 0, fw->buf, false) < 0)
		return -ENOMEM;
	t->pos += t->frame_size;
	t->seq = 1;
	t->have_head = true;
	return 1;
}

/* What lib/capture.c's page_lost() adds to its per-CPU reported count. */
static void tail_account(struct follow *fw, uint32_t cpu, uint64_t commit,
			 const uint8_t *stored, const uint64_t *overrun)
{
	uint64_t *acc = &fw->accounted[cpu < MAX_CPUS ? cpu : 0];
	uint64_t n = 0;

	if (!(commit & RB_MISSED_EVENTS))
		return;
	if (commit & RB_MISSED_STORED) {
		if (stored)
			memcpy(&n, stored, 8);
	} else if (overrun && *overrun > *acc) {
		n = *overrun - *acc;
	}
	if ((int64_t)n > 0)
		*acc += n;
}

/*
 * A new SUBBUF frame (in fw->buf): rebase its overrun for the window,
 * account its loss, and keep it for the next window if it may be
 * continued.
 */
static int tail_subbuf(struct follow *fw, struct tail_file *t,
		       struct rt_frame_hdr *h, uint64_t acc_base)
{
	struct rt_subbuf sb;
	const uint8_t *data = fw->buf + RT_SUBBUF_SIZE;
	uint64_t dlen = h->len - RT_SUBBUF_SIZE, end;

	memcpy(&sb, fw->buf, sizeof(sb));
	if (sb.flags & RT_SUBBUF_F_RAW_PAGE) {
		uint64_t commit = 0;

		t->page.len = 0; /* never continued */
		if (dlen >= RB_PAGE_HDR_SIZE)
			memcpy(&commit, data + 8, 8);
		end = RB_PAGE_HDR_SIZE + (commit & RB_COMMIT_MASK);
		tail_account(fw, h->cpu, commit,
			     end + 8 <= dlen ? data + end : NULL, NULL);
		return 0;
	}
	end = (uint64_t)sb.data_start + sb.data_len;
	if (sb.emit_from == 0)
		tail_account(fw, h->cpu, sb.commit,
			     dlen >= sb.data_len + 8 ? data + sb.data_len : NULL,
			     &sb.overrun);
	sb.overrun = sb.overrun > acc_base ? sb.overrun - acc_base : 0;
	memcpy(fw->buf, &sb, sizeof(sb));
	if (!sb.data_start)
		t->page.len = 0;
	if (!end)
		return 0;
	/* shown from now on: kept to let the next frame continue the page */
	sb.emit_from = end;
	if (rt_buf_append(&t->page, h, sizeof(*h)) < 0 ||
	    rt_buf_append(&t->page, &sb, sizeof(sb)) < 0 ||
	    rt_buf_append(&t->page, data, dlen) < 0)
		return -ENOMEM;
	return 0;
}

/* The frames kept of the open sub-buffer, renumbered, into @w. */
static int tail_put_page(struct rt_buf *page, struct rt_buf *w, uint64_t *seq)
{
	size_t off = 0;

	while (off < page->len) {
		struct rt_frame_hdr h;

		memcpy(&h, page->data + off, sizeof(h));
		if (put_frame(w, &h, (*seq)++, page->data + off + sizeof(h),
			      true) < 0)
			return -ENOMEM;
		off += sizeof(h) + h.len;
	}
	return 0;
}

/* Keep the pid -> comm table of a METADATA frame for later readers. */
static int follow_keep_comms(struct follow *fw, const uint8_t *p, size_t len)
{
	const uint8_t *val;
	uint16_t tag;
	uint32_t n;
	size_t off = 0;

	while (rt_record_next(p, len, &off, &tag, &val, &n) == 1) {
		if (tag != RT_TAG_CMDLINES)
			continue;
		fw->comms.len = 0;
		if (rt_buf_append(&fw->comms, val, n) < 0 ||
		    rt_buf_append(&fw->comms, "", 1) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < fw->comms.len; i++)
			if (fw->comms.data[i] == '\n')
				fw->comms.data[i] = '\0';
	}
	return 0;
}

/*
 * The kept table into a new reader's tep.  Before the first lookup tep
 * only lists what it is given, which is much cheaper than having it parse
 * the text again for every poll.
 */
static void follow_comms(struct follow *fw, struct tep_handle *tep)
{
	const char *p = (const char *)fw->comms.data;
	const char *end = p + fw->comms.len;
	char *sp;
	long pid;

	for (; p && p < end; p += strlen(p) + 1) {
		errno = 0;
		pid = strtol(p, &sp, 10);
		if (sp != p && *sp == ' ' && !errno && pid > 0 && pid <= INT_MAX)
			tep_register_comm(tep, sp + 1, (int)pid);
	}
}

/*
 * The window of @t for this poll into @w: 1 with new frames, 0 without,
 * -errno.  *more is set when it stopped at FOLLOW_WINDOW_MAX.
 */
static int tail_window(struct follow *fw, struct tail_file *t,
		       struct rt_buf *w, bool *more)
{
	uint64_t seq = 1, acc_base, size, nr_new = 0;
	struct rt_frame_hdr h;
	struct stat st;
	int r;

	if (t->ended || fstat(t->fd, &st) < 0)
		return 0;
	size = st.st_size;
	if (!t->have_head && (r = tail_head(fw, t, size)) <= 0)
		return r == -EBADMSG ? 0 : r;
	acc_base = fw->accounted[t->cpu < MAX_CPUS ? t->cpu : 0];
	if (rt_buf_append(w, t->head.data, t->head.len) < 0)
		return -ENOMEM;
	if (tail_put_page(&t->page, w, &seq) < 0)
		return -ENOMEM;
	while (!t->ended && w->len < FOLLOW_WINDOW_MAX) {
		r = tail_read_frame(fw, t, size, &h);
		if (r == 0 || r == -EBADMSG)
			break;
		if (r < 0)
			return r;
		if (h.type == RT_FRAME_SUBBUF && h.len < RT_SUBBUF_SIZE) {
			tail_damaged(fw, t, "short sub-buffer frame");
			break;
		}
		if (h.type == RT_FRAME_SUBBUF &&
		    (r = tail_subbuf(fw, t, &h, acc_base)) < 0)
			return r;
		if (put_frame(w, &h, seq++, fw->buf, acc_base != 0) < 0)
			return -ENOMEM;
		if (h.type == RT_FRAME_METADATA &&
		    follow_keep_comms(fw, fw->buf, h.len) < 0)
			return -ENOMEM;
		if (h.type == RT_FRAME_END) {
			struct rt_end e = { 0 };

			memcpy(&e, fw->buf, h.len < sizeof(e) ? h.len : sizeof(e));
			t->ended = true;
			t->shutdown = e.reason == RT_END_SHUTDOWN;
		}
		t->pos += t->frame_size;
		t->seq++;
		nr_new++;
	}
	*more |= !t->ended && w->len >= FOLLOW_WINDOW_MAX;
	if (!t->ended) {
		struct rt_end e = { .reason = RT_END_ROTATE };
		struct rt_frame_hdr eh = { .magic = RT_FRAME_MAGIC,
					   .type = RT_FRAME_END,
					   .cpu = t->cpu,
					   .len = sizeof(e) };

		if (put_frame(w, &eh, seq, (const uint8_t *)&e, true) < 0)
			return -ENOMEM;
	}
	return nr_new > 0;
}

static int cmp_tail(const void *a, const void *b)
{
	const struct tail_file *x = a, *y = b;

	if (x->have_head != y->have_head)
		return x->have_head ? -1 : 1;
	if (x->cpu != y->cpu)
		return x->cpu < y->cpu ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* New files, then the HEADERs of files that have one by now. */
static int follow_heads(struct follow *fw)
{
	int r = follow_scan(fw);

	for (size_t i = 0; i < fw->nr_files && r >= 0; i++) {
		struct tail_file *t = &fw->files[i];
		struct stat st;

		if (t->have_head || t->ended || fstat(t->fd, &st) < 0)
			continue;
		r = tail_head(fw, t, st.st_size);
		if (r == -EBADMSG)
			r = 0;
	}
	if (r < 0)
		return r;
	/* per CPU in rotation order: tail_account() sums in capture order */
	qsort(fw->files, fw->nr_files, sizeof(*fw->files), cmp_tail);
	return 0;
}

/*
 * Rotated files deleted (max_files) before they could be opened: a loss
 * of unknown size, shown like any other.
 */
static int follow_gaps(struct report *rep, struct follow *fw)
{
	for (size_t i = 1; i < fw->nr_files; i++) {
		struct tail_file *p = &fw->files[i - 1], *t = &fw->files[i];
		struct ev e = { .type = EV_LOST, .cpu = t->cpu, .lost = -1,
				.why = "rotated files deleted before they could be read" };

		if (!t->have_head || t->gap_checked || t->cpu >= MAX_CPUS)
			continue;
		t->gap_checked = true;
		if (!p->have_head || p->cpu != t->cpu || t->index == p->index + 1)
			continue;
		log_warn("cpu %u: files %06u to %06u were deleted (max_files) before --follow could read them",
			 t->cpu, p->index + 1, t->index - 1);
		fw->damaged = true;
		if (ensure_counts(rep, t->cpu + 1) < 0)
			return -ENOMEM;
		e.ts = rep->cnt[t->cpu].last_ts;
		if (want_cpu(rep, e.cpu))
			handle_lost(rep, &e);
	}
	return 0;
}

/* Hand @w to the reader as a file in memory: its fd and path, or -errno. */
static int window_file(const struct rt_buf *w, int *ret_fd, char **ret_path)
{
	int fd = memfd_create("ringtap-follow", MFD_CLOEXEC);

	*ret_fd = fd;
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < w->len;) {
		ssize_t n = write(fd, w->data + off, w->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += n;
	}
	if (asprintf(ret_path, "/proc/self/fd/%d", fd) < 0) {
		*ret_path = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* What is new in every file, through the report. */
static int follow_poll(struct report *rep, struct follow *fw, bool *more)
{
	struct rt_capture_reader *cr;
	char **paths = NULL;
	int *fds = NULL;
	int nr = 0, r;

	r = follow_heads(fw);
	if (r >= 0)
		r = follow_gaps(rep, fw);
	if (r >= 0) {
		paths = calloc(fw->nr_files + 1, sizeof(*paths));
		fds = calloc(fw->nr_files + 1, sizeof(*fds));
		if (!paths || !fds)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < fw->nr_files && r >= 0; i++) {
		struct rt_buf w = { 0 };

		r = tail_window(fw, &fw->files[i], &w, more);
		if (r > 0) {
			r = window_file(&w, &fds[nr], &paths[nr]);
			nr++;
			if (r < 0)
				log_err("cannot keep the new data in memory: %s",
					strerror(-r));
		}
		rt_buf_free(&w);
	}
	if (r >= 0 && nr) {
		r = rt_capture_reader_open(paths, nr, &cr);
		if (r >= 0) {
			follow_comms(fw, rt_capture_reader_meta(cr)->tep);
			r = report_capture(rep, cr);
			if (rt_capture_reader_incomplete(cr))
				fw->damaged = true;
			rt_capture_reader_close(cr);
		}
	}
	for (int i = 0; i < nr; i++) {
		free(paths[i]);
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(paths);
	free(fds);
	for (size_t i = 0; i < fw->nr_files; i++)
		if (fw->files[i].ended)
			tail_free(&fw->files[i]);
	fflush(rep->out);
	return r;
}

/*
 * Done when every file ended and, in a capture directory, each CPU's
 * newest file says the capture stopped (a rotated file ends too, just
 * before its successor appears).
 */
static bool follow_done(const struct follow *fw)
{
	if (!fw->nr_files)
		return false;
	for (size_t i = 0; i < fw->nr_files; i++)
		if (!fw->files[i].ended)
			return false;
	for (size_t i = 0; i < fw->nr_files && fw->any_dir; i++) {
		const struct tail_file *t = &fw->files[i];
		bool newest = i + 1 == fw->nr_files || !t[1].have_head ||
			      t[1].cpu != t->cpu;

		if (newest && t->have_head && !t->shutdown && !t->damaged)
			return false;
	}
	return true;
}

static int report_follow(struct report *rep, char *const *args, int nr)
{
	/* SA_RESTART keeps writes going; nanosleep() still returns early */
	struct sigaction sa = { .sa_handler = on_stop_signal,
				.sa_flags = SA_RESTART };
	struct timespec poll = { 0, FOLLOW_POLL_MS * 1000000L };
	struct follow *fw = calloc(1, sizeof(*fw));
	int r = 0;

	if (!fw)
		return -ENOMEM;
	fw->args = args;
	fw->nr_args = nr;
	for (int i = 0; i < nr && !r; i++) {
		struct stat st;

		if (!strcmp(args[i], "-")) {
			log_err("--follow reads capture files or directories, not stdin");
			r = -EINVAL;
		} else if (stat(args[i], &st) < 0) {
			r = -errno;
			log_err("%s: %s", args[i], strerror(-r));
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!r && !follow_stop) {
		bool more = false;

		r = follow_poll(rep, fw, &more);
		if (r < 0 || follow_done(fw))
			break;
		if (!more)
			nanosleep(&poll, NULL); /* a signal ends it early */
	}
	if (r == -ENOMEM)
		log_err("out of memory");
	if (!r && fw->damaged)
		r = 1;
	for (size_t i = 0; i < fw->nr_files; i++) {
		tail_free(&fw->files[i]);
		free(fw->files[i].path);
	}
	free(fw->files);
	rt_buf_free(&fw->comms);
	free(fw->buf);
	free(fw);
	return r;
}

/* ---- the command ---- */

static void report_usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap report [OPTION]... FILE|DIR...\n"
		"Print the events of a capture in timestamp order.\n\n"
		"  FILE  a capture file (cpuN-INDEX.rtap), '-' for stdin\n"
		"  DIR   a capture directory: all its .rtap files\n\n"
		"Filters (an event must pass each one given; repeating an option, or a\n"
		"list, offers alternatives):\n"
		"  -c, --cpu LIST        these CPUs only, e.g. 0,2-3\n"
		"  -e, --event SYS:NAME  these events only: a shell glob on system:name,\n"
		"                        e.g. 'sched:*', '*:sched_switch'; trace_marker\n"
		"                        writes are ftrace:print, BPF programs' events\n"
		"                        ringtap:NAME (e.g. ringtap:exec)\n"
		"  -p, --pid PID[,PID]   these threads only\n"
		"      --comm NAME       threads whose command name matches this glob\n"
		"      --from T          events at or after T\n"
		"      --to T            events before T\n"
		"        T: seconds from the first event of the capture (1.5), or\n"
		"        @SECONDS on the trace clock (@5123.000012)\n"
		"Losses are shown for the CPUs and times selected, whatever the other\n"
		"filters.\n\n"
		"Output:\n"
		"  -s, --stats           per-CPU events, bytes and lost events, then\n"
		"                        events per type, instead of the events\n"
		"      --format FORMAT   text (default); ftrace: the layout of tracefs'\n"
		"                        'trace' file (Perfetto, systrace viewers); json\n"
		"      --json            one JSON object per line per event or loss\n"
		"  -f, --follow          keep reading a capture ringtapd is writing, until\n"
		"                        Ctrl-C or the daemon stops\n\n"
		"Exit status: 0 ok, 1 error, 2 usage, 3 some input was cut short or\n"
		"corrupt (everything readable before the damage is still printed).\n");
}

enum {
	OPT_COMM = 256,
	OPT_FROM,
	OPT_TO,
	OPT_JSON,
	OPT_FORMAT,
};

/* One option into @rep: 0, or -EINVAL (logged) for a bad value. */
static int report_option(struct report *rep, int c, const char *arg)
{
	struct filter *f = &rep->f;
	int r = 0;

	switch (c) {
	case 'c':
		if (!f->cpus && !(f->cpus = calloc(MAX_CPUS, sizeof(bool))))
			return -ENOMEM;
		r = parse_cpu_list(arg, f->cpus);
		if (r == -ENOMEM || r == 0)
			return r;
		log_err("--cpu '%s': expected CPUs below %d as a list like 0,2-3",
			arg, MAX_CPUS);
		return -EINVAL;
	case 'e':
		if (!strchr(arg, ':')) {
			log_err("--event '%s': expected system:name, e.g. sched:sched_switch, 'sched:*' or '*:sched_switch'",
				arg);
			return -EINVAL;
		}
		return add_glob(&f->events, &f->nr_events, arg);
	case 'p':
		r = parse_pid_list(arg, f);
		if (r == -ENOMEM || r == 0)
			return r;
		log_err("--pid '%s': expected thread ids (0..%d), e.g. 1234 or 1234,1240",
			arg, INT_MAX);
		return -EINVAL;
	case OPT_COMM:
		return add_glob(&f->comms, &f->nr_comms, arg);
	case OPT_FROM:
		return parse_time_bound("--from", arg, &f->from);
	case OPT_TO:
		return parse_time_bound("--to", arg, &f->to);
	case OPT_JSON:
		arg = "json";
		/* fall through */
	case OPT_FORMAT: {
		enum out_format fmt;

		if (!strcmp(arg, "text")) {
			fmt = OUT_TEXT;
		} else if (!strcmp(arg, "ftrace")) {
			fmt = OUT_FTRACE;
		} else if (!strcmp(arg, "json")) {
			fmt = OUT_JSON;
		} else {
			log_err("--format '%s': expected text, ftrace or json", arg);
			return -EINVAL;
		}
		if (rep->fmt != OUT_TEXT && rep->fmt != fmt) {
			log_err("--json and --format ftrace: choose one output format");
			return -EINVAL;
		}
		rep->fmt = fmt;
		return 0;
	}
	case 's':
		rep->stats = true;
		return 0;
	case 'f':
		rep->follow = true;
		return 0;
	}
	return -EINVAL;
}

/* Combinations that cannot work; 0 or -EINVAL (logged). */
static int report_check(const struct report *rep)
{
	const struct time_bound *a = &rep->f.from, *b = &rep->f.to;

	if (rep->stats && rep->fmt != OUT_TEXT) {
		log_err("--stats prints tables: it takes no --json or --format");
		return -EINVAL;
	}
	if (rep->stats && rep->follow) {
		log_err("--stats and --follow: statistics need the whole capture");
		return -EINVAL;
	}
	if (a->set && b->set && a->absolute == b->absolute && b->ns <= a->ns) {
		log_err("--to must be later than --from: this range selects nothing");
		return -EINVAL;
	}
	return 0;
}

static int report_run(struct report *rep, char *const *paths, int nr)
{
	struct rt_capture_reader *cr;
	int r;

	if (rep->fmt == OUT_FTRACE)
		print_ftrace_header(rep);
	if (rep->follow)
		return report_follow(rep, paths, nr);
	r = rt_capture_reader_open(paths, nr, &cr);
	if (r < 0)
		return r;
	r = report_capture(rep, cr);
	if (r >= 0 && rep->stats) {
		print_cpu_table(rep);
		r = print_type_table(rep);
	}
	if (r >= 0 && rt_capture_reader_incomplete(cr))
		r = 1;
	rt_capture_reader_close(cr);
	if (r == -ENOMEM)
		log_err("out of memory");
	return r;
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cpu", required_argument, NULL, 'c' },
		{ "event", required_argument, NULL, 'e' },
		{ "pid", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, OPT_COMM },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "stats", no_argument, NULL, 's' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct report rep = { .out = stdout, .marker_id = -1 };
	int c, r = 0;

	while (!r && (c = getopt_long(argc, argv, "c:e:p:sfh", longopts,
				      NULL)) != -1) {
		if (c == 'h') {
			report_usage(stdout);
			filter_free(&rep.f);
			return 0;
		}
		if (c == '?') {
			report_usage(stderr);
			r = -EINVAL;
			break;
		}
		r = report_option(&rep, c, optarg);
	}
	if (!r)
		r = report_check(&rep);
	if (!r && optind >= argc) {
		report_usage(stderr);
		r = -EINVAL;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			log_err("out of memory");
		filter_free(&rep.f);
		return r == -ENOMEM ? 1 : 2;
	}
	rep.id_ok = malloc(NR_EVENT_IDS);
	rep.type_cnt = calloc(rep.stats ? NR_EVENT_IDS : 1, sizeof(uint64_t));
	if (!rep.id_ok || !rep.type_cnt) {
		log_err("out of memory");
		r = -ENOMEM;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	trace_seq_init(&rep.seq);
	if (!r)
		r = report_run(&rep, argv + optind, argc - optind);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_err("writing the report: %m");
		r = r < 0 ? r : -EIO;
	}
	trace_seq_destroy(&rep.seq);
	free(rep.id_ok);
	free(rep.type_cnt);
	report_bpf_free(&rep.bpf);
	free(rep.cnt);
	filter_free(&rep.f);
	return r < 0 ? 1 : r > 0 ? 3 : 0;
}
