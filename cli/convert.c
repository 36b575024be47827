// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap convert: write a capture as a trace.dat version 6 file, the
 * format `trace-cmd report` and KernelShark read (docs/convert.md).
 *
 * A v6 file is a header (magic, page size, header_page/header_event, event
 * formats, kallsyms, printk formats, cmdlines, CPU count, options, then a
 * table of (offset, size) per CPU) followed by each CPU's kernel
 * sub-buffers back to back, each padded to the page size, which is the
 * capture's sub-buffer size.  The header can only be completed at the end
 * (section sizes, END statistics), so the output starts with a hole as
 * large as the largest header this capture can produce; the CPU sections
 * are streamed after it as the chains are read, one chain (one CPU) at a
 * time, and the header is written into the hole last.  Everything goes to
 * OUT.tmp-XXXXXX, renamed to OUT once complete.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event-parse.h>
#include <kbuffer.h>

#include "ringtap/capture.h"
#include "ringtap/log.h"
#include "ringtap/trace_mmap.h"
#include "ringtap.h"

#define OUT_BUF_SIZE (4u << 20)

/* Option ids of trace.dat (trace-cmd's enum tracecmd_option_id). */
enum {
	OPT_DONE = 0,
	OPT_CPUSTAT = 2,
	OPT_TRACECLOCK = 4,
	OPT_UNAME = 5,
	OPT_VERSION = 9,
};

/* The output file: a write buffer in front of the temporary file. */
struct out {
	int fd;
	const char *name; /* what the user asked for */
	char tmp[PATH_MAX];
	uint8_t *buf;
	size_t len;
	uint64_t pos; /* file offset of buf[0] */
	bool committed; /* renamed to name */
};

/* One CPU's section of the output. */
struct cpu_out {
	bool started;
	uint64_t off, size;
	int64_t lost_pending; /* LOST items not yet put on a page */
	bool have_ts;
	uint64_t first_ts, last_ts;
};

struct conv {
	struct rt_capture_reader *cr;
	const struct rt_capture_meta *meta;
	struct rt_buf cmdlines; /* as the capture held them at open */
	uint32_t subbuf;
	struct cpu_out *cpus;
	struct kbuffer *kbuf;
	struct out out;
	uint64_t data_start;
	/* the page being assembled, for the chain being read */
	int cpu;
	uint8_t *page;	   /* the kernel sub-buffer, as captured */
	uint32_t page_len; /* its header + data bytes; 0: none */
	uint32_t base;	   /* data offset not written yet */
	int64_t page_lost; /* events lost before what is not written yet */
	uint8_t *opage, *page2; /* pages cut from it */
	uint64_t pages;
	bool split_all; /* tests: cut every page after a known loss */
};

/* ---- the temporary file, removed on every exit before the rename ---- */

static char sig_tmp_path[PATH_MAX];
static volatile sig_atomic_t sig_tmp_armed;

static void on_fatal_signal(int sig)
{
	if (sig_tmp_armed)
		unlink(sig_tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm_cleanup(const char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	snprintf(sig_tmp_path, sizeof(sig_tmp_path), "%s", path);
	sig_tmp_armed = 1;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int out_open(struct out *o, const char *path)
{
	mode_t mask;
	int n, r;

	o->name = path;
	o->fd = -1;
	n = snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(o->tmp)) {
		log_err("%s: path too long", path);
		return -ENAMETOOLONG;
	}
	o->buf = malloc(OUT_BUF_SIZE);
	if (!o->buf)
		return -ENOMEM;
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		r = -errno;
		log_err("%s: cannot create the temporary file '%s': %s", path,
			o->tmp, strerror(-r));
		return r;
	}
	arm_cleanup(o->tmp);
	/* mkostemp makes 0600; give the file the mode a new file gets */
	mask = umask(0);
	umask(mask);
	if (fchmod(o->fd, 0666 & ~mask) < 0) {
		r = -errno;
		log_err("%s: chmod '%s': %s", path, o->tmp, strerror(-r));
		return r;
	}
	return 0;
}

static int out_pwrite(struct out *o, const void *p, size_t n, uint64_t at)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = pwrite(o->fd, (const uint8_t *)p + done, n - done,
				   at + done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int r = w < 0 ? -errno : -EIO;

			log_err("%s: cannot write at byte %" PRIu64 " (of the temporary file '%s'): %s",
				o->name, at + done, o->tmp, strerror(-r));
			return r;
		}
		done += w;
	}
	return 0;
}

static int out_flush(struct out *o)
{
	int r = out_pwrite(o, o->buf, o->len, o->pos);

	if (r < 0)
		return r;
	o->pos += o->len;
	o->len = 0;
	return 0;
}

static int out_put(struct out *o, const void *p, size_t n)
{
	int r;

	if (o->len + n > OUT_BUF_SIZE) {
		r = out_flush(o);
		if (r < 0)
			return r;
	}
	if (n > OUT_BUF_SIZE) { /* sub-buffers larger than the buffer */
		r = out_pwrite(o, p, n, o->pos);
		if (r < 0)
			return r;
		o->pos += n;
		return 0;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

/* Flush, make it durable and put it in place. */
static int out_commit(struct out *o)
{
	int r = out_flush(o);

	if (r < 0)
		return r;
	/* the end of the data, or of the room for the header without it */
	if (ftruncate(o->fd, o->pos) < 0 || fsync(o->fd) < 0) {
		r = -errno;
		log_err("%s: cannot write (temporary file '%s'): %s", o->name,
			o->tmp, strerror(-r));
		return r;
	}
	if (rename(o->tmp, o->name) < 0) {
		r = -errno;
		log_err("%s: cannot rename '%s' to it: %s", o->name, o->tmp,
			strerror(-r));
		return r;
	}
	o->committed = true;
	sig_tmp_armed = 0;
	return 0;
}

/* Close; remove the temporary file unless it was committed. */
static void out_close(struct out *o)
{
	if (o->fd >= 0) {
		close(o->fd);
		if (!o->committed)
			unlink(o->tmp);
		sig_tmp_armed = 0;
	}
	free(o->buf);
}

/* ---- header ---- */

/* A byte buffer that remembers its first allocation failure. */
struct hdr {
	struct rt_buf b;
	int err;
};

static void put(struct hdr *h, const void *p, size_t n)
{
	if (!h->err)
		h->err = rt_buf_append(&h->b, p, n);
}

static void put_u16(struct hdr *h, uint16_t v)
{
	v = htole16(v);
	put(h, &v, 2);
}

static void put_u32(struct hdr *h, uint32_t v)
{
	v = htole32(v);
	put(h, &v, 4);
}

static void put_u64(struct hdr *h, uint64_t v)
{
	v = htole64(v);
	put(h, &v, 8);
}

/* A NUL-terminated string, NUL included. */
static void put_cstr(struct hdr *h, const char *s)
{
	put(h, s, strlen(s) + 1);
}

static void put_option(struct hdr *h, uint16_t id, const char *s)
{
	put_u16(h, id);
	put_u32(h, strlen(s) + 1);
	put_cstr(h, s);
}

struct format {
	const char *sys;
	const char *text;
	size_t len;
};

/* The EVENT_FORMAT records, as ("system", format text). */
static int list_formats(const struct rt_capture_meta *m, struct format **ret,
			size_t *nr)
{
	const uint8_t *val;
	struct format *f = NULL;
	size_t off = 0, n = 0;
	uint16_t tag;
	uint32_t len;
	int r;

	while ((r = rt_record_next(m->formats.data, m->formats.len, &off, &tag,
				   &val, &len)) == 1) {
		size_t sl = strnlen((const char *)val, len);
		struct format *g;

		if (tag != RT_TAG_EVENT_FORMAT || sl + 1 >= len)
			continue;
		g = realloc(f, (n + 1) * sizeof(*f));
		if (!g) {
			free(f);
			return -ENOMEM;
		}
		f = g;
		f[n++] = (struct format){ .sys = (const char *)val,
					  .text = (const char *)val + sl + 1,
					  .len = len - sl - 1 };
	}
	*ret = f;
	*nr = n;
	return r < 0 ? r : 0;
}

static bool is_ftrace(const struct format *f)
{
	return !strcmp(f->sys, "ftrace");
}

/* Whether f[i] is the first format of its system. */
static bool first_of_system(const struct format *f, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(f[j].sys, f[i].sys))
			return false;
	return true;
}

static void put_format(struct hdr *h, const struct format *f)
{
	put_u64(h, f->len);
	put(h, f->text, f->len);
}

/* ftrace formats, then the other systems, each system's events together. */
static int put_formats(struct hdr *h, const struct rt_capture_meta *m)
{
	struct format *f;
	size_t nr, nftrace = 0, nsys = 0;
	int r = list_formats(m, &f, &nr);

	if (r < 0)
		return r;
	for (size_t i = 0; i < nr; i++) {
		nftrace += is_ftrace(&f[i]);
		nsys += !is_ftrace(&f[i]) && first_of_system(f, i);
	}
	put_u32(h, nftrace);
	for (size_t i = 0; i < nr; i++)
		if (is_ftrace(&f[i]))
			put_format(h, &f[i]);
	put_u32(h, nsys);
	for (size_t i = 0; i < nr; i++) {
		uint32_t nev = 0;

		if (is_ftrace(&f[i]) || !first_of_system(f, i))
			continue;
		for (size_t j = i; j < nr; j++)
			nev += !strcmp(f[j].sys, f[i].sys);
		put_cstr(h, f[i].sys);
		put_u32(h, nev);
		for (size_t j = i; j < nr; j++)
			if (!strcmp(f[j].sys, f[i].sys))
				put_format(h, &f[j]);
	}
	free(f);
	return 0;
}

/* Clocks whose trace timestamps are nanoseconds (the kernel's in_ns). */
static bool clock_in_ns(const char *clock)
{
	static const char *const ns[] = { "local", "global", "perf", "mono",
					  "mono_raw", "boot", "tai" };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		if (!strcmp(clock, ns[i]))
			return true;
	return false;
}

static void fmt_ts(char *buf, size_t size, uint64_t ts, bool in_ns)
{
	if (in_ns) {
		uint64_t us = ts / 1000 + (ts % 1000 >= 500);

		snprintf(buf, size, "%5" PRIu64 ".%06" PRIu64, us / 1000000,
			 us % 1000000);
	} else {
		snprintf(buf, size, "%" PRIu64, ts);
	}
}

/*
 * A CPUSTAT option: "CPU: N" and the kernel's per_cpu/cpuN/stats lines,
 * taken at the end of the capture (the buffer drained: no entries or
 * bytes left in it).  @worst: the longest text the figures could give.
 */
static void put_cpustat(struct hdr *h, const struct conv *cv, uint32_t cpu,
			bool worst)
{
	const struct rt_cpu_summary *sum =
		rt_capture_reader_summary(cv->cr, cpu);
	const struct cpu_out *co = &cv->cpus[cpu];
	bool in_ns = clock_in_ns(cv->meta->clock);
	struct rt_cpu_stats s = sum->end;
	uint64_t first = co->first_ts, last = co->last_ts;
	char t0[32], t1[32], *text;

	if (worst) {
		memset(&s, 0xff, sizeof(s));
		first = last = UINT64_MAX;
		in_ns = false; /* the raw number is the longer */
	} else if (!sum->have_end) {
		return;
	}
	fmt_ts(t0, sizeof(t0), first, in_ns);
	fmt_ts(t1, sizeof(t1), last, in_ns);
	if (asprintf(&text,
		     "CPU: %u\n"
		     "entries: 0\n"
		     "overrun: %" PRIu64 "\n"
		     "commit overrun: %" PRIu64 "\n"
		     "bytes: 0\n"
		     "oldest event ts: %s\n"
		     "now ts: %s\n"
		     "dropped events: %" PRIu64 "\n"
		     "read events: %" PRIu64 "\n",
		     cpu, s.lost, s.commit_overrun, t0, t1, s.dropped,
		     s.events) < 0) {
		h->err = -ENOMEM;
		return;
	}
	put_option(h, OPT_CPUSTAT, text);
	free(text);
}

static void put_options(struct hdr *h, const struct conv *cv, bool worst,
			const char *clock)
{
	const struct rt_capture_meta *m = cv->meta;

	put(h, "options  ", 10);
	if (*clock)
		put_option(h, OPT_TRACECLOCK, clock);
	if (*m->uname) {
		/* trace-cmd's is "sysname nodename release version machine";
		 * the capture's lacks the nodename */
		const char *rest = strchr(m->uname, ' ');
		char *u;

		if (rest && *m->hostname &&
		    asprintf(&u, "%.*s %s%s", (int)(rest - m->uname), m->uname,
			     m->hostname, rest) >= 0) {
			put_option(h, OPT_UNAME, u);
			free(u);
		} else {
			put_option(h, OPT_UNAME, m->uname);
		}
	}
	put_option(h, OPT_VERSION, "ringtap convert " RINGTAP_VERSION);
	for (uint32_t cpu = 0; cpu < m->nr_cpus; cpu++)
		put_cpustat(h, cv, cpu, worst);
	put_u16(h, OPT_DONE);
}

/* The whole header, up to the zero padding before the first section. */
static int build_header(const struct conv *cv, struct hdr *h, bool worst)
{
	const struct rt_capture_meta *m = cv->meta;
	char clock[40] = "";
	int r;

	if (*m->clock)
		snprintf(clock, sizeof(clock), "[%s]", m->clock);
	put(h, "\x17\x08\x44" "tracing" "6", 12); /* magic, version "6\0" */
	put(h, "", 1);				    /* little-endian */
	put(h, &(uint8_t){ m->long_size }, 1);
	put_u32(h, cv->subbuf);

	put(h, "header_page", 12);
	put_u64(h, m->header_page.len);
	put(h, m->header_page.data, m->header_page.len);
	put(h, "header_event", 13);
	put_u64(h, m->header_event.len);
	put(h, m->header_event.data, m->header_event.len);
	r = put_formats(h, m);
	if (r < 0)
		return r;
	put_u32(h, 0); /* kallsyms: not captured */
	put_u32(h, m->printk_formats.len);
	put(h, m->printk_formats.data, m->printk_formats.len);
	put_u64(h, cv->cmdlines.len);
	put(h, cv->cmdlines.data, cv->cmdlines.len);

	put_u32(h, m->nr_cpus);
	put_options(h, cv, worst, clock);
	put(h, "flyrecord", 10);
	for (uint32_t cpu = 0; cpu < m->nr_cpus; cpu++) {
		const struct cpu_out *co = &cv->cpus[cpu];

		put_u64(h, co->started ? co->off : cv->data_start);
		put_u64(h, co->size);
	}
	/* the trace_clock file, read because TRACECLOCK was given */
	if (*clock) {
		put_u64(h, strlen(clock));
		put(h, clock, strlen(clock));
	}
	return h->err;
}

/* ---- pages ---- */

/*
 * The kernel sub-buffer being assembled is kept whole, as the capture has
 * it (cv->page), and written from cv->base: events before emit_from that
 * are not written yet were counted as lost (or reported in a file that is
 * gone), so `ringtap report` does not show them, and neither does the
 * trace.dat, which starts a page of its own at emit_from instead.
 */

/* Losses put together: known counts add up, an unknown one alone is -1. */
static int64_t lost_add(int64_t a, int64_t b)
{
	if (a > 0 || b > 0)
		return (a > 0 ? a : 0) + (b > 0 ? b : 0);
	return a || b ? -1 : 0;
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void set_commit(uint8_t *p, uint64_t commit)
{
	commit = htole64(commit);
	memcpy(p + 8, &commit, 8);
}

/* Page @p without its first @at data bytes; it now starts at @ts. */
static void drop_front(uint8_t *p, uint64_t *data_end, uint64_t at,
		       uint64_t ts)
{
	memmove(p + RB_PAGE_HDR_SIZE, p + RB_PAGE_HDR_SIZE + at,
		*data_end - at);
	*data_end -= at;
	ts = htole64(ts);
	memcpy(p, &ts, 8);
	set_commit(p, *data_end);
}

/* Timestamps of the page's first and last events, for CPUSTAT. */
static void page_ts_range(struct conv *cv, uint8_t *p, struct cpu_out *co,
			  bool first)
{
	unsigned long long ts;
	void *ev;

	if (kbuffer_load_subbuffer(cv->kbuf, p) < 0)
		return;
	ev = kbuffer_read_event(cv->kbuf, &ts);
	if (ev && first)
		co->first_ts = ts;
	while (ev) {
		co->last_ts = ts;
		ev = kbuffer_next_event(cv->kbuf, &ts);
	}
}

/*
 * The timestamp a page starting at data offset @at of the assembled page
 * needs: that of the first event from @at on, less its delta and those of
 * the records before it from @at (time extends, discarded events), as
 * event timestamps are deltas from the one before.  False if no event
 * starts at or after @at.
 */
static bool ts_at(struct conv *cv, uint32_t at, uint64_t *ret)
{
	const uint8_t *data = cv->page + RB_PAGE_HDR_SIZE;
	uint64_t end = cv->page_len - RB_PAGE_HDR_SIZE, off = at, ev_at, sum;
	unsigned long long ts;
	void *ev;

	if (kbuffer_load_subbuffer(cv->kbuf, cv->page) < 0)
		return false;
	ev = kbuffer_read_event(cv->kbuf, &ts);
	while (ev && (uint32_t)kbuffer_curr_index(cv->kbuf) < at)
		ev = kbuffer_next_event(cv->kbuf, &ts);
	if (!ev)
		return false;
	ev_at = kbuffer_curr_index(cv->kbuf);
	sum = get_le32(data + ev_at) >> 5;
	/* stops early only if @at is not where a record starts */
	while (off < ev_at && off + 8 <= end) {
		uint32_t w = get_le32(data + off), type = w & 0x1f;

		if (type == 31) {
			/* an absolute timestamp: the page's is not used */
			sum = 0;
			break;
		}
		if (type < 29)
			break;
		sum += w >> 5;
		if (type == 30)
			sum += (uint64_t)get_le32(data + off + 4) << 27;
		off += type == 30 ? 8 : 4 + (uint64_t)get_le32(data + off + 4);
	}
	*ret = ts - sum;
	return true;
}

/*
 * Write @p with @data_end bytes of events: its commit word gets the
 * missed-events flag when events were lost before it, with the count after
 * the data when it fits, as the kernel does; the rest is zeroed.
 */
static int write_page(struct conv *cv, uint8_t *p, uint64_t data_end,
		      int64_t lost)
{
	size_t end = RB_PAGE_HDR_SIZE + data_end;
	uint64_t commit = data_end;

	if (lost) {
		commit |= RB_MISSED_EVENTS;
		if (lost > 0 && end + 8 <= cv->subbuf) {
			uint64_t n = htole64(lost);

			memcpy(p + end, &n, 8);
			end += 8;
			commit |= RB_MISSED_STORED;
		}
	}
	set_commit(p, commit);
	memset(p + end, 0, cv->subbuf - end);
	cv->cpus[cv->cpu].size += cv->subbuf;
	cv->pages++;
	return out_put(&cv->out, p, cv->subbuf);
}

/*
 * Where page @p could be cut after its first event: the data offset and
 * that event's timestamp, which starts the rest as a page of its own.
 */
static bool split_point(struct conv *cv, uint8_t *p, uint64_t data_end,
			uint64_t *at, uint64_t *ts)
{
	unsigned long long t;

	if (kbuffer_load_subbuffer(cv->kbuf, p) < 0 ||
	    !kbuffer_read_event(cv->kbuf, &t))
		return false;
	*at = kbuffer_curr_index(cv->kbuf) + kbuffer_curr_size(cv->kbuf);
	*ts = t;
	return *at < data_end && RB_PAGE_HDR_SIZE + *at + 8 <= cv->subbuf;
}

/*
 * Where the first event of page @p starts when other records (a time
 * extend) come before it, and the page timestamp that lets it start the
 * page instead: its own, less its delta.
 */
static bool lead_records(struct conv *cv, uint8_t *p, uint64_t *at,
			 uint64_t *ts)
{
	unsigned long long t;

	if (kbuffer_load_subbuffer(cv->kbuf, p) < 0 ||
	    !kbuffer_read_event(cv->kbuf, &t) || !kbuffer_curr_index(cv->kbuf))
		return false;
	*at = kbuffer_curr_index(cv->kbuf);
	*ts = t - (get_le32(p + RB_PAGE_HDR_SIZE + *at) >> 5);
	return true;
}

/*
 * Write page @p (header set, @data_end bytes of events) with the loss
 * before it.  trace-cmd tells a loss only before an event at the very
 * start of a page, with a count only when the count fits after the data:
 * a page after a loss starts at its first event, and one too full for the
 * count is cut in two after its first event, which carries it.
 */
static int emit_page(struct conv *cv, uint8_t *p, uint64_t data_end,
		     bool last)
{
	struct cpu_out *co = &cv->cpus[cv->cpu];
	int64_t lost = cv->page_lost;
	uint64_t at, ts;
	int r;

	cv->page_lost = 0;
	set_commit(p, data_end); /* for kbuffer; write_page adds the flags */
	/* events are walked only on the first and last pages */
	if (!co->have_ts || last) {
		page_ts_range(cv, p, co, !co->have_ts);
		co->have_ts = true;
	} else {
		memcpy(&ts, p, 8);
		co->last_ts = le64toh(ts);
	}
	if (lost && lead_records(cv, p, &at, &ts))
		drop_front(p, &data_end, at, ts);
	if (lost > 0 &&
	    (RB_PAGE_HDR_SIZE + data_end + 8 > cv->subbuf || cv->split_all) &&
	    split_point(cv, p, data_end, &at, &ts)) {
		memcpy(cv->page2, p, RB_PAGE_HDR_SIZE + at);
		r = write_page(cv, cv->page2, at, lost);
		if (r < 0)
			return r;
		drop_front(p, &data_end, at, ts);
		lost = 0;
	}
	return write_page(cv, p, data_end, lost);
}

/*
 * Write the assembled page from cv->base to its end.  @done: it is not
 * continued, so its buffer may be written in place; @last: the chain's
 * last page.  Without an event to write, the loss waits for the next page.
 */
static int flush_page(struct conv *cv, bool done, bool last)
{
	uint32_t base = cv->base, end;
	uint8_t *p = cv->page;
	uint64_t ts;
	bool any;

	if (!cv->page_len)
		return 0;
	end = cv->page_len - RB_PAGE_HDR_SIZE;
	any = end > base && (!base || ts_at(cv, base, &ts));
	if (any && base) {
		/* a page of its own from base */
		p = cv->opage;
		ts = htole64(ts);
		memcpy(p, &ts, 8);
		memcpy(p + RB_PAGE_HDR_SIZE, cv->page + RB_PAGE_HDR_SIZE + base,
		       end - base);
	} else if (any && !done) {
		/* the page goes on being assembled in cv->page */
		p = cv->opage;
		memcpy(p, cv->page, RB_PAGE_HDR_SIZE + end);
	}
	cv->base = end;
	if (done)
		cv->page_len = 0;
	return any ? emit_page(cv, p, end - base, last) : 0;
}

static int add_page(struct conv *cv, const struct rt_item *it)
{
	struct cpu_out *co = &cv->cpus[it->cpu];
	uint32_t len = it->page_len, have = cv->page_len;
	int r;

	if (len < RB_PAGE_HDR_SIZE || len > cv->subbuf)
		return 0; /* the reader checked: cannot happen */
	if (!it->new_page && have && len >= have) {
		/* the same page with more data: the header and new bytes */
		if (it->emit_from > have - RB_PAGE_HDR_SIZE ||
		    co->lost_pending) {
			/*
			 * Events were lost here: the bytes in between (counted
			 * as lost) or elsewhere (a LOST frame).  The new
			 * events start a page that tells it.
			 */
			r = flush_page(cv, false, false);
			if (r < 0)
				return r;
			if (it->emit_from > cv->base)
				cv->base = it->emit_from;
			cv->page_lost = lost_add(cv->page_lost,
						 co->lost_pending);
			co->lost_pending = 0;
		}
		memcpy(cv->page, it->page, RB_PAGE_HDR_SIZE);
		memcpy(cv->page + have, it->page + have, len - have);
		cv->page_len = len;
		return 0;
	}
	r = flush_page(cv, true, false);
	if (r < 0)
		return r;
	memcpy(cv->page, it->page, len);
	cv->page_len = len;
	cv->base = it->emit_from;
	cv->page_lost = lost_add(cv->page_lost,
				 lost_add(it->new_page ? it->lost : 0,
					  co->lost_pending));
	co->lost_pending = 0;
	return 0;
}

/* One chain: one CPU's files, streamed into its section. */
static int convert_chain(struct conv *cv, struct rt_chain *ch)
{
	struct cpu_out *co = NULL;
	struct rt_item it;
	int64_t left;
	int r = 0;

	while (r >= 0 && rt_chain_next(ch, &it)) {
		if (!co) {
			co = &cv->cpus[it.cpu];
			if (co->started) {
				log_err("cpu %d: events in more than one input chain: convert needs each CPU's events in its own files (FILE_CPU), as ringtapd writes them",
					it.cpu);
				return -EINVAL;
			}
			co->started = true;
			co->off = cv->out.pos + cv->out.len;
			cv->cpu = it.cpu;
		} else if (it.cpu != cv->cpu) {
			log_err("cpu %d: events in a file of cpu %d: convert needs each CPU's events in its own files (FILE_CPU), as ringtapd writes them",
				it.cpu, cv->cpu);
			return -EINVAL;
		}
		if (it.type == RT_ITEM_LOST)
			co->lost_pending = lost_add(co->lost_pending, it.lost);
		else if (it.type == RT_ITEM_PAGE)
			r = add_page(cv, &it);
	}
	if (r >= 0)
		r = flush_page(cv, true, true);
	if (r < 0 || !co)
		return r;
	left = lost_add(cv->page_lost, co->lost_pending);
	cv->page_lost = co->lost_pending = 0;
	if (left > 0)
		log_warn("cpu %d: %" PRId64 " events lost after its last sub-buffer are not in the trace.dat, which shows losses only before a sub-buffer",
			 cv->cpu, left);
	else if (left < 0)
		log_warn("cpu %d: events lost after its last sub-buffer are not in the trace.dat, which shows losses only before a sub-buffer",
			 cv->cpu);
	return 0;
}

/* ---- command ---- */

static void convert_usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap convert FILE|DIR... -o OUT.dat\n"
		"Write a capture as a trace.dat (version 6) file for\n"
		"trace-cmd report and KernelShark (docs/convert.md).\n\n"
		"  FILE  a capture file (cpuN-INDEX.rtap)\n"
		"  DIR   a capture directory: all its .rtap files\n"
		"  -o, --output OUT  the trace.dat to write, under a\n"
		"                    temporary name renamed to OUT when done\n"
		"  -h, --help\n"
		"Exit status: 0 ok, 1 error (OUT not written), 2 usage,\n"
		"3 some input was cut short or corrupt (OUT holds everything\n"
		"readable before the damage).\n");
}

static int check_capture(const struct rt_capture_meta *m)
{
	if (m->long_size != 8) {
		log_err("capture of a kernel with %u-byte longs: only 64-bit kernels' captures convert",
			m->long_size);
		return -EINVAL;
	}
	if (m->subbuf_size & (m->subbuf_size - 1)) {
		log_err("sub-buffer size %u is not a power of two: trace.dat cannot hold it",
			m->subbuf_size);
		return -EINVAL;
	}
	if (!m->header_page.len) {
		log_err("the capture lacks the header_page format trace.dat needs");
		return -EINVAL;
	}
	return 0;
}

static int convert(struct conv *cv, const char *path)
{
	const struct rt_capture_meta *m = cv->meta;
	struct hdr h = { 0 };
	int r;

	cv->subbuf = m->subbuf_size;
	cv->split_all = getenv("RINGTAP_DEBUG_CONVERT_SPLIT") != NULL;
	cv->cpus = calloc(m->nr_cpus, sizeof(*cv->cpus));
	/* + 8: kbuffer may read a stored lost count at the very end */
	cv->page = malloc(m->subbuf_size + 8);
	cv->page2 = malloc(m->subbuf_size + 8);
	cv->opage = malloc(m->subbuf_size + 8);
	cv->kbuf = tep_kbuffer(m->tep);
	/* later METADATA frames repeat what the prescan at open found */
	r = rt_buf_append(&cv->cmdlines, m->cmdlines.data, m->cmdlines.len);
	if (!cv->cpus || !cv->page || !cv->page2 || !cv->opage || !cv->kbuf ||
	    r < 0) {
		log_err("out of memory");
		return -ENOMEM;
	}
	r = build_header(cv, &h, true);
	if (r < 0)
		goto out;
	cv->data_start = (h.b.len + cv->subbuf - 1) &
			 ~(uint64_t)(cv->subbuf - 1);
	r = out_open(&cv->out, path);
	if (r < 0)
		goto out;
	cv->out.pos = cv->data_start;
	for (int i = 0; r >= 0 && i < rt_capture_reader_nr_chains(cv->cr); i++)
		r = convert_chain(cv, rt_capture_reader_chain(cv->cr, i));
	if (r < 0)
		goto out;
	r = out_flush(&cv->out);
	if (r < 0)
		goto out;
	h.b.len = 0;
	r = build_header(cv, &h, false);
	if (r < 0)
		goto out;
	if (h.b.len > cv->data_start) { /* cannot be: room for the longest */
		log_err("%s: header of %zu bytes exceeds its room (%" PRIu64 ")",
			path, h.b.len, cv->data_start);
		r = -EOVERFLOW;
		goto out;
	}
	r = out_pwrite(&cv->out, h.b.data, h.b.len, 0);
	if (r >= 0)
		r = out_commit(&cv->out);
out:
	if (r == -ENOMEM)
		log_err("out of memory");
	rt_buf_free(&h.b);
	return r;
}

int cmd_convert(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct conv cv = { .out.fd = -1 };
	const char *path = NULL;
	struct stat st;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			path = optarg;
			break;
		case 'h':
			convert_usage(stdout);
			return 0;
		default:
			convert_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc || !path || !*path) {
		log_err("%s", path ? "no input given" : "-o OUT is required");
		convert_usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-")) {
			/* cmdlines come at the end of a stream, and v6 wants
			 * them before the events */
			log_err("convert reads files, not standard input ('-')");
			return 2;
		}
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_err("%s: is a directory", path);
		return 1;
	}
	r = rt_capture_reader_open(argv + optind, argc - optind, &cv.cr);
	if (r < 0)
		return 1;
	cv.meta = rt_capture_reader_meta(cv.cr);
	r = check_capture(cv.meta);
	if (r >= 0)
		r = convert(&cv, path);
	if (r >= 0) {
		log_info("%s: %u CPUs, %" PRIu64 " sub-buffers of %u bytes",
			 path, cv.meta->nr_cpus, cv.pages, cv.subbuf);
		r = rt_capture_reader_incomplete(cv.cr) ? 3 : 0;
	} else {
		r = 1;
	}
	out_close(&cv.out);
	if (cv.kbuf)
		kbuffer_free(cv.kbuf);
	rt_buf_free(&cv.cmdlines);
	free(cv.page);
	free(cv.page2);
	free(cv.opage);
	free(cv.cpus);
	rt_capture_reader_close(cv.cr);
	return r;
}
