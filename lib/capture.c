// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading captures (include/ringtap/capture.h): inputs are grouped into one
 * chain per CPU, ordered by rotation index; each chain rebuilds the kernel
 * sub-buffers from SUBBUF frames (docs/stream-format.md, "SUBBUF") and
 * reports losses at the place they happened.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event-parse.h>
#include <trace-seq.h>

#include "ringtap/bpf_decode.h"
#include "ringtap/capture.h"
#include "ringtap/log.h"
#include "ringtap/trace_mmap.h"

#define MAX_CPUS 4096
/* largest sub-buffer a capture may claim */
#define RT_SUBBUF_SIZE_MAX (8u << 20)

struct input {
	char *path;
	uint32_t cpu; /* RT_CPU_NONE: several CPUs */
	uint32_t index;
	/* a pipe or stdin can be read once: the reader that took its HEADER
	 * is kept for the chain */
	struct rt_reader *kept;
};

struct page {
	uint8_t *buf;
	size_t cap;
	size_t len; /* header + data bytes present */
	uint64_t ts;
	uint32_t id;
	uint64_t accounted; /* lost events reported so far on this CPU */
	bool valid;	    /* may be continued by the next frame */
};

struct rt_chain {
	struct rt_capture_reader *cr;
	uint32_t cpu;	/* the CPU of its files, RT_CPU_NONE: any */
	struct input **files;
	size_t nr, cur;
	struct rt_reader *r;
	struct page *pages; /* per CPU */
};

struct rt_capture_reader {
	struct rt_capture_meta meta;
	bool meta_ready;
	struct input *ins;
	size_t nr_ins;
	struct rt_chain *chains;
	int nr_chains;
	struct rt_cpu_summary *sum;
	int incomplete;
	uint32_t *min_size; /* per event id: fixed-field bytes + 1, 0 unknown */
};

static enum rt_format_check format_check = RT_FORMAT_CHECK_CHILD;

void rt_capture_set_format_check(enum rt_format_check how)
{
	format_check = how;
}

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

/* trace_marker text verbatim: the kernel's print format would show the
 * caller's address, which needs kallsyms. */
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

static int set_text(struct rt_buf *b, const uint8_t *val, uint32_t len)
{
	b->len = 0;
	if (rt_buf_append(b, val, len) < 0 || rt_buf_append(b, "", 1) < 0)
		return -ENOMEM;
	b->len--; /* keep the NUL out of len */
	return 0;
}

/*
 * printk_formats lines are `0xADDR : "format"`; libtraceevent parses them
 * without checking (a line without the colon or with an empty format made
 * it read out of bounds), so only well-formed lines are kept.
 */
static int set_printk_formats(struct rt_buf *b, const uint8_t *val,
			      uint32_t len, const char *name)
{
	const char *p = (const char *)val, *end = p + len;
	unsigned int dropped = 0;

	b->len = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;
		const char *q = p, *colon;
		bool ok;

		ok = eol - q > 2 && q[0] == '0' && q[1] == 'x';
		for (q += 2; ok && q < eol && isxdigit((unsigned char)*q); q++)
			;
		colon = ok ? memchr(q, ':', eol - q) : NULL;
		ok = colon && colon == q + (q < eol && *q == ' ') &&
		     eol - colon >= 5 && colon[1] == ' ' && colon[2] == '"' &&
		     eol[-1] == '"' && !memchr(p, '\0', eol - p);
		if (ok) {
			if (rt_buf_append(b, p, eol - p) < 0 ||
			    rt_buf_append(b, "\n", 1) < 0)
				return -ENOMEM;
		} else if (eol > p) {
			dropped++;
		}
		p = eol + 1;
	}
	if (dropped)
		log_warn("%s: %u malformed printk_formats lines ignored", name,
			 dropped);
	if (rt_buf_append(b, "", 1) < 0)
		return -ENOMEM;
	b->len--;
	return 0;
}

static void copy_str(char *dst, size_t size, const uint8_t *val, uint32_t len)
{
	size_t n = len < size - 1 ? len : size - 1;

	memcpy(dst, val, n);
	dst[n] = '\0';
}

/* ---- event formats ---- */

/*
 * Hostile event format text.  A capture header carries the kernel's format
 * text, and libtraceevent (1.7.1 in Debian 12, upstream up to 1.8.4 at
 * least) crashes on some of it: a NULL token in array brackets, a
 * __print_flags() of a field that does not exist, a division by zero in a
 * constant expression (all while parsing), and a division or modulo by
 * zero while printing when the print fmt divides by a field.
 *
 * Printing is handled by looking at the parsed print fmt (the public
 * struct tep_print_arg tree) before any event is printed: an event whose
 * print fmt divides by anything but a nonzero constant gets
 * TEP_EVENT_FL_PRINTRAW, so that tep_print_event() prints its fields raw
 * and never evaluates that arithmetic (print_args_safe()).
 *
 * Parsing cannot be made safe that way: libtraceevent cannot be asked to
 * check a format without parsing it, and the crashes are deep inside its
 * recursive-descent parser, on paths a fuzzer keeps finding new ones of.
 * A hand-written validator would have to re-implement that parser to be
 * sure, and would still miss the next bug.  So the formats are first
 * parsed in a forked child (check_in_child()), with the parent's tep state
 * as it is at that point; the child reports each format's index before
 * parsing it, so when it dies (signal, sanitizer exit, or no answer within
 * RT_FORMAT_PARSE_SECONDS) the parent knows which format did it, leaves
 * that one out, and forks again for the rest.  Only formats the child got
 * through are parsed in the reader's own process.  The cost is one fork per
 * capture opened, plus one per crashing format; verdicts are cached per
 * process (by full text) so that `report --follow`, which reopens the
 * capture at every flush, and the fuzzer do not fork again for formats
 * already judged, nor warn twice.  rt_capture_set_format_check() turns the
 * child off (in-process parse, crashes included: for reproducing them).
 */
#define RT_FORMAT_PARSE_SECONDS 5
#define FMT_CACHE_MAX_ENTRIES 4096
#define FMT_CACHE_MAX_BYTES (16u << 20)

struct format {
	const char *sys;
	const char *text;
	uint32_t len;
	uint64_t at; /* file byte of its record */
	int bad;     /* 0 parses, else how the child died (wait status) */
};

struct fmt_verdict {
	uint32_t crc, len;
	char *key; /* "sys\0text" */
	int bad;
	bool warned;
};

static struct {
	struct fmt_verdict *v;
	size_t nr, cap;
	size_t bytes;
} fmt_cache;

static uint32_t fmt_crc(const struct format *f)
{
	return rt_crc32c(rt_crc32c(0, f->sys, strlen(f->sys) + 1), f->text,
			 f->len);
}

static struct fmt_verdict *fmt_cache_find(const struct format *f)
{
	size_t sl = strlen(f->sys) + 1;
	uint32_t crc = fmt_crc(f);

	for (size_t i = 0; i < fmt_cache.nr; i++) {
		struct fmt_verdict *v = &fmt_cache.v[i];

		if (v->crc == crc && v->len == sl + f->len &&
		    !memcmp(v->key, f->sys, sl) &&
		    !memcmp(v->key + sl, f->text, f->len))
			return v;
	}
	return NULL;
}

static struct fmt_verdict *fmt_cache_add(const struct format *f, int bad)
{
	size_t sl = strlen(f->sys) + 1;
	struct fmt_verdict *v;

	if (fmt_cache.nr >= FMT_CACHE_MAX_ENTRIES ||
	    fmt_cache.bytes + sl + f->len > FMT_CACHE_MAX_BYTES) {
		/* bounded: start over (only costs forks and warnings again) */
		for (size_t i = 0; i < fmt_cache.nr; i++)
			free(fmt_cache.v[i].key);
		free(fmt_cache.v);
		memset(&fmt_cache, 0, sizeof(fmt_cache));
	}
	if (fmt_cache.nr == fmt_cache.cap) {
		fmt_cache.cap = fmt_cache.cap ? 2 * fmt_cache.cap : 64;
		fmt_cache.v = xrealloc(fmt_cache.v,
				       fmt_cache.cap * sizeof(*fmt_cache.v));
	}
	v = &fmt_cache.v[fmt_cache.nr];
	*v = (struct fmt_verdict){ .crc = fmt_crc(f), .len = sl + f->len,
				   .bad = bad };
	v->key = xrealloc(NULL, sl + f->len);
	memcpy(v->key, f->sys, sl);
	memcpy(v->key + sl, f->text, f->len);
	fmt_cache.nr++;
	fmt_cache.bytes += sl + f->len;
	return v;
}

/* "name" and "ID" lines of a format text, for messages: printable only */
static void format_ident(const struct format *f, char *name, size_t nsize,
			 char *id, size_t isize)
{
	const char *p = f->text, *end = f->text + f->len;

	snprintf(name, nsize, "?");
	snprintf(id, isize, "?");
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p), *eol = nl ? nl : end;
		char *dst = NULL;
		size_t size = 0, n = 0;

		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (eol - p > 5 && !memcmp(p, "name:", 5)) {
			dst = name, size = nsize, p += 5;
		} else if (eol - p > 3 && !memcmp(p, "ID:", 3)) {
			dst = id, size = isize, p += 3;
		}
		while (dst && p < eol && *p == ' ')
			p++;
		for (; dst && p < eol && n + 1 < size; p++)
			dst[n++] = isgraph((unsigned char)*p) ? *p : '?';
		if (dst && n)
			dst[n] = '\0';
		p = eol + 1;
	}
}

static void describe_status(int status, char *buf, size_t size)
{
	if (status == -1)
		snprintf(buf, size, "no result within %d s",
			 RT_FORMAT_PARSE_SECONDS);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		snprintf(buf, size, "no result within %d s",
			 RT_FORMAT_PARSE_SECONDS);
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d, %s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, size, "wait status %#x", status);
}

/* In the child: die of whatever libtraceevent does, quietly, soon. */
static void child_setup(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
				    SIGTRAP, SIGSYS, SIGALRM, SIGXCPU };
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t set;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0); /* no core dump per crashing format */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&set, sigs[i]);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* the parent logs what matters; sanitizer reports of a crash go too */
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
}

/*
 * Parse formats @f (those with todo[i]) in children until one gets through
 * them all; each format a child died on gets its wait status in f[i].bad.
 * Returns 0, or a negative errno when no child could be run.
 */
static int check_in_child(struct tep_handle *tep, struct format *f,
			  const bool *todo, size_t n)
{
	for (size_t attempt = 0; attempt <= n; attempt++) {
		uint32_t idx, last = UINT32_MAX;
		bool done = false;
		int p[2], status = 0;
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			int e = errno;

			close(p[0]);
			close(p[1]);
			return -e;
		}
		if (pid == 0) {
			close(p[0]);
			child_setup();
			for (size_t i = 0; i < n; i++) {
				if (!todo[i] || f[i].bad)
					continue;
				idx = i;
				if (write(p[1], &idx, 4) != 4)
					_exit(2);
				alarm(RT_FORMAT_PARSE_SECONDS);
				tep_parse_event(tep, f[i].text, f[i].len, f[i].sys);
			}
			idx = UINT32_MAX - 1; /* all done */
			_exit(write(p[1], &idx, 4) == 4 ? 0 : 2);
		}
		close(p[1]);
		for (;;) {
			ssize_t got = read(p[0], &idx, 4);

			if (got < 0 && errno == EINTR)
				continue;
			if (got != 4)
				break;
			if (idx == UINT32_MAX - 1)
				done = true;
			else if (idx < n)
				last = idx;
		}
		close(p[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (done)
			return 0;
		if (last == UINT32_MAX) /* died before its first format */
			return -ECHILD;
		f[last].bad = status ? status : -1;
	}
	return 0;
}

/* A divisor libtraceevent's eval_num_arg() cannot see as 0: a numeric
 * atom (strtoull, as it reads them) that is nonzero, also once a typecast
 * truncates it (the low byte survives every cast). */
static bool nonzero_constant(const struct tep_print_arg *a)
{
	bool cast = false;

	for (; a && a->type == TEP_PRINT_TYPE; a = a->typecast.item)
		cast = true;
	if (!a || a->type != TEP_PRINT_ATOM || !a->atom.atom)
		return false;
	return cast ? (strtoull(a->atom.atom, NULL, 0) & 0xff) != 0 :
		      strtoull(a->atom.atom, NULL, 0) != 0;
}

/*
 * Whether printing with @a (a list of print args) never divides by zero:
 * every "/" and "%" has a nonzero constant on its right, through every
 * kind of arg that holds others.  Too deep or too big counts as unsafe.
 */
static bool print_args_safe(const struct tep_print_arg *a, int depth,
			    unsigned int *budget)
{
	if (depth > 256)
		return false;
	for (; a; a = a->next) {
		bool ok = true;

		if (!(*budget)--)
			return false;
		switch (a->type) {
		case TEP_PRINT_OP:
			if (a->op.op && (!strcmp(a->op.op, "/") ||
					 !strcmp(a->op.op, "%")) &&
			    !nonzero_constant(a->op.right))
				return false;
			ok = print_args_safe(a->op.left, depth + 1, budget) &&
			     print_args_safe(a->op.right, depth + 1, budget);
			break;
		case TEP_PRINT_TYPE:
			ok = print_args_safe(a->typecast.item, depth + 1, budget);
			break;
		case TEP_PRINT_FLAGS:
			ok = print_args_safe(a->flags.field, depth + 1, budget);
			break;
		case TEP_PRINT_SYMBOL:
			ok = print_args_safe(a->symbol.field, depth + 1, budget);
			break;
		case TEP_PRINT_HEX:
		case TEP_PRINT_HEX_STR:
			ok = print_args_safe(a->hex.field, depth + 1, budget) &&
			     print_args_safe(a->hex.size, depth + 1, budget);
			break;
		case TEP_PRINT_INT_ARRAY:
			ok = print_args_safe(a->int_array.field, depth + 1, budget) &&
			     print_args_safe(a->int_array.count, depth + 1, budget) &&
			     print_args_safe(a->int_array.el_size, depth + 1, budget);
			break;
		case TEP_PRINT_DYNAMIC_ARRAY:
		case TEP_PRINT_DYNAMIC_ARRAY_LEN:
			ok = print_args_safe(a->dynarray.index, depth + 1, budget);
			break;
		case TEP_PRINT_FUNC:
			ok = print_args_safe(a->func.args, depth + 1, budget);
			break;
		default: /* no args inside */
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

static void note_print_raw(struct rt_capture_meta *m, int id)
{
	m->print_raw_ids = xrealloc(m->print_raw_ids, (m->nr_print_raw + 1) *
							      sizeof(int));
	m->print_raw_ids[m->nr_print_raw++] = id;
}

bool rt_capture_event_print_raw(const struct rt_capture_meta *m, int id)
{
	for (uint32_t i = 0; i < m->nr_print_raw; i++)
		if (m->print_raw_ids[i] == id)
			return true;
	return false;
}

/* Length of @f's text before its first "print fmt:" (all of it when
 * there is none). */
static uint32_t print_fmt_start(const struct format *f)
{
	const char *p = memmem(f->text, f->len, "print fmt:", 10);

	return p ? (uint32_t)(p - f->text) : f->len;
}

/*
 * The formats load_formats() cut (bad == -2) go into meta->formats too,
 * once checked as cut: that text is new, and libtraceevent could crash on
 * it where it did not on the whole one (a prefix ending inside array
 * brackets), or find another print fmt in it (its tokenizer does not care
 * for lines).  So a child parses the cut texts first, then a scratch tep
 * here, and only those whose print fmt is gone or safe are kept; when no
 * child can run, none.
 */
static int keep_cut_formats(struct rt_capture_meta *m, struct format *f,
			    size_t n)
{
	bool *todo = calloc(n ? n : 1, sizeof(*todo));
	struct tep_handle *scratch = NULL;
	size_t nr = 0;
	int r = 0;

	if (!todo)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (f[i].bad == -2) {
			f[i].bad = 0;
			todo[i] = true;
			nr++;
		}
	}
	if (nr && (format_check != RT_FORMAT_CHECK_CHILD ||
		   check_in_child(m->tep, f, todo, n) < 0))
		nr = 0;
	if (nr) {
		scratch = tep_alloc();
		if (!scratch)
			nr = 0;
		else if (m->long_size)
			tep_set_long_size(scratch, m->long_size);
	}
	for (size_t i = 0; nr && i < n && r >= 0; i++) {
		struct tep_event *ev = NULL;
		unsigned int budget = 100000;

		if (!todo[i] || f[i].bad)
			continue;
		if (tep_parse_format(scratch, &ev, f[i].text, f[i].len,
				     f[i].sys) == TEP_ERRNO__MEM_ALLOC_FAILED ||
		    !ev)
			continue;
		if (!(ev->flags & TEP_EVENT_FL_FAILED) &&
		    !print_args_safe(ev->print_fmt.args, 0, &budget))
			continue;
		r = rt_record_add(&m->formats, RT_TAG_EVENT_FORMAT, f[i].sys,
				  strlen(f[i].sys) + 1 + f[i].len);
	}
	if (scratch)
		tep_free(scratch);
	free(todo);
	return r;
}

/*
 * Parse the event formats of a HEADER (its frame at @frame_off of @name)
 * into meta->tep, leaving out those libtraceevent crashes on, and keep
 * in meta->formats what a writer of another format may pass on.
 */
static int load_formats(struct rt_capture_reader *cr, struct format *f,
			size_t n, const char *name, uint64_t frame_off)
{
	struct rt_capture_meta *m = &cr->meta;
	bool *quiet = calloc(n, sizeof(*quiet)); /* warned about already */
	bool *todo = calloc(n, sizeof(*todo));	 /* no verdict cached */
	size_t nr_todo = 0;
	int r = 0;

	if (!quiet || !todo) {
		free(quiet);
		free(todo);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct fmt_verdict *v = fmt_cache_find(&f[i]);

		if (v) {
			f[i].bad = v->bad;
			quiet[i] = v->warned;
			v->warned = true;
		} else {
			todo[i] = true;
			nr_todo++;
		}
	}
	if (nr_todo && format_check == RT_FORMAT_CHECK_CHILD) {
		r = check_in_child(m->tep, f, todo, n);
		for (size_t i = 0; i < n; i++)
			if (todo[i] && r == 0) /* only verdicts of a child */
				fmt_cache_add(&f[i], f[i].bad)->warned = true;
		if (r < 0)
			log_warn("%s: cannot check the event formats in a child process (%s): parsing them unchecked",
				 name, strerror(-r));
		r = 0;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct tep_event *ev = NULL;
		char ename[64], id[24], why[64];
		unsigned int budget = 100000;
		bool warn = !quiet[i];

		format_ident(&f[i], ename, sizeof(ename), id, sizeof(id));
		if (f[i].bad) {
			cr->incomplete++;
			if (!warn)
				continue;
			describe_status(f[i].bad, why, sizeof(why));
			log_warn("%s: event format of %s:%s (id %s) at byte %" PRIu64 " (HEADER frame at byte %" PRIu64 ") crashes libtraceevent's parser (%s): format skipped, its events show as [UNKNOWN EVENT]",
				 name, f[i].sys, ename, id, f[i].at, frame_off,
				 why);
			continue;
		}
		if (tep_parse_format(m->tep, &ev, f[i].text, f[i].len,
				     f[i].sys) == TEP_ERRNO__MEM_ALLOC_FAILED)
			ev = NULL; /* NULL or freed */
		if (ev && !(ev->flags & TEP_EVENT_FL_FAILED) &&
		    !print_args_safe(ev->print_fmt.args, 0, &budget)) {
			ev->flags |= TEP_EVENT_FL_PRINTRAW;
			note_print_raw(m, ev->id);
			if (warn)
				log_warn("%s: event %s:%s (id %d), format at byte %" PRIu64 ": its print fmt divides by something other than a nonzero constant, which libtraceevent may divide by zero with: its events are printed as raw fields",
					 name, f[i].sys, ename, ev->id, f[i].at);
			/* other readers (trace-cmd on a converted file) would
			 * evaluate it too: they get the text without the print
			 * fmt, checked below */
			f[i].len = print_fmt_start(&f[i]);
			f[i].bad = -2;
			continue;
		}
		/* "sys\0text", as the record was */
		if (rt_record_add(&m->formats, RT_TAG_EVENT_FORMAT, f[i].sys,
				  strlen(f[i].sys) + 1 + f[i].len) < 0)
			r = -ENOMEM;
	}
	r = r < 0 ? r : keep_cut_formats(m, f, n);
	/* one id, one way of printing, whichever format of it tep finds */
	for (int i = 0; m->nr_print_raw && i < tep_get_events_count(m->tep); i++) {
		struct tep_event *ev = tep_get_event(m->tep, i);

		if (ev && rt_capture_event_print_raw(m, ev->id))
			ev->flags |= TEP_EVENT_FL_PRINTRAW;
	}
	free(quiet);
	free(todo);
	return r;
}

/* Whether the format text's "ID: N" names an event @tep does not know. */
static bool new_event_id(struct tep_handle *tep, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t l = (nl ? nl : end) - p;

		if (l > 4 && !memcmp(p, "ID: ", 4)) {
			char num[16];
			size_t k = l - 4 < sizeof(num) - 1 ? l - 4 : sizeof(num) - 1;
			char *e;
			long id;

			memcpy(num, p + 4, k);
			num[k] = '\0';
			id = strtol(num, &e, 10);
			if (e == num || id < 0 || id > INT_MAX)
				return false;
			return !tep_find_event(tep, (int)id);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

static int meta_load(struct rt_capture_reader *cr, const uint8_t *p,
		     size_t size, const char *name, uint64_t frame_off)
{
	struct rt_capture_meta *m = &cr->meta;
	struct format *fmts = NULL;
	size_t nr_fmts = 0, rec_off = 0;
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
	for (; (r = rt_record_next(p, size, &off, &tag, &val, &len)) == 1;
	     rec_off = off) {
		bool first = !cr->meta_ready;

		switch (tag) {
		case RT_TAG_SUBBUF_SIZE:
			if (len == 4 && first)
				memcpy(&m->subbuf_size, val, 4);
			break;
		case RT_TAG_LONG_SIZE:
			if (len == 4 && first)
				memcpy(&m->long_size, val, 4);
			break;
		case RT_TAG_PAGE_SIZE:
			if (len == 4 && first)
				memcpy(&m->page_size, val, 4);
			break;
		case RT_TAG_NR_CPUS:
			if (len == 4 && first) {
				uint32_t n;

				memcpy(&n, val, 4);
				if (n <= MAX_CPUS && n > m->nr_cpus)
					m->nr_cpus = n;
			}
			break;
		case RT_TAG_CLOCK:
			if (first)
				copy_str(m->clock, sizeof(m->clock), val, len);
			break;
		case RT_TAG_HOSTNAME:
			if (first)
				copy_str(m->hostname, sizeof(m->hostname), val, len);
			break;
		case RT_TAG_UNAME:
			if (first)
				copy_str(m->uname, sizeof(m->uname), val, len);
			break;
		case RT_TAG_START_REALTIME:
			if (len == 8 && first)
				memcpy(&m->start_realtime, val, 8);
			break;
		case RT_TAG_START_TRACE_TS:
			if (len == 8 && first) {
				memcpy(&m->start_trace_ts, val, 8);
				m->have_start_trace_ts = true;
			}
			break;
		case RT_TAG_HEADER_PAGE:
			if (!first)
				break;
			if (set_text(&m->header_page, val, len) < 0)
				return -ENOMEM;
			tep_parse_header_page(m->tep, (char *)m->header_page.data,
					      len, m->long_size ? m->long_size : 8);
			break;
		case RT_TAG_HEADER_EVENT:
			if (first && set_text(&m->header_event, val, len) < 0)
				return -ENOMEM;
			break;
		case RT_TAG_EVENT_FORMAT: {
			const char *sys = (const char *)val;
			size_t sl = strnlen(sys, len);

			if (sl + 1 >= len)
				break;
			/* Later files and METADATA frames may add formats (events
			 * selected by a live reload); an id known already keeps
			 * the format it has. */
			if (!first && !new_event_id(m->tep, sys + sl + 1, len - sl - 1))
				break;
			/* parsed below, all at once: see load_formats() */
			fmts = xrealloc(fmts, (nr_fmts + 1) * sizeof(*fmts));
			fmts[nr_fmts++] = (struct format){
				.sys = sys,
				.text = sys + sl + 1,
				.len = len - sl - 1,
				.at = frame_off + RT_FRAME_HDR_SIZE + rec_off,
			};
			break;
		}
		case RT_TAG_PRINTK_FORMATS:
			if (!first)
				break;
			if (set_printk_formats(&m->printk_formats, val, len,
					       name) < 0) {
				free(fmts);
				return -ENOMEM;
			}
			tep_parse_printk_formats(m->tep,
						 (char *)m->printk_formats.data);
			break;
		case RT_TAG_BPF_EVENT:
		case RT_TAG_BPF_ENUM:
			if (rt_bpf_decoder_add(&m->bpf, tag, val, len) < 0) {
				free(fmts);
				return -ENOMEM;
			}
			break;
		case RT_TAG_CMDLINES: {
			struct rt_buf t = { 0 };

			if (set_text(&t, val, len) < 0) {
				free(fmts);
				return -ENOMEM;
			}
			tep_parse_saved_cmdlines(m->tep, (char *)t.data);
			/* keep them all for writers of other formats */
			r = rt_buf_append(&m->cmdlines, t.data, t.len);
			rt_buf_free(&t);
			if (r < 0) {
				free(fmts);
				return r;
			}
			break;
		}
		default:
			break;
		}
	}
	if (r < 0) {
		log_err("%s: malformed metadata record at record offset %zu",
			name, off);
		free(fmts);
		return r;
	}
	r = nr_fmts ? load_formats(cr, fmts, nr_fmts, name, frame_off) : 0;
	free(fmts);
	return r;
}

static int meta_finish(struct rt_capture_reader *cr, const char *name)
{
	struct rt_capture_meta *m = &cr->meta;

	if (cr->meta_ready)
		return 0;
	/* The kernel's sub-buffers go up to 1 MiB at most today; a larger
	 * claim would only make the reader allocate for a hostile file. */
	if (!m->subbuf_size || m->long_size != 8 ||
	    m->subbuf_size < RB_PAGE_HDR_SIZE + 8 ||
	    m->subbuf_size > RT_SUBBUF_SIZE_MAX) {
		log_err("%s: capture header lacks a valid sub-buffer size (24 bytes .. %u KiB) or long size (8)",
			name, RT_SUBBUF_SIZE_MAX / 1024);
		return -EBADMSG;
	}
	tep_set_long_size(m->tep, m->long_size);
	tep_set_page_size(m->tep, m->subbuf_size);
	tep_register_event_handler(m->tep, -1, "ftrace", "print",
				   print_marker, NULL);
	cr->meta_ready = true;
	return 0;
}

/*
 * cmdlines are written at rotation and at the end, after the events that
 * need them: on a seekable file, hop over frame headers to find them first.
 */
static void prescan_cmdlines(struct rt_capture_reader *cr, const char *path)
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
				meta_load(cr, p, hdr.len, path, off);
			free(p);
		}
		off += RT_FRAME_HDR_SIZE + rt_pad8(hdr.len);
	}
	fclose(f);
}

/* ---- inputs ---- */

static bool seekable(const char *path)
{
	struct stat st;

	return strcmp(path, "-") && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int probe_input(struct rt_capture_reader *cr, const char *path,
		       struct input *in)
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
	if (!in->path)
		return -ENOMEM;
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
	}
	if (in->cpu != RT_CPU_NONE && in->cpu >= MAX_CPUS) {
		log_err("%s: CPU %u out of range", path, in->cpu);
		rt_reader_close(r);
		return -EBADMSG;
	}
	ret = meta_load(cr, f.payload, f.hdr.len, path, f.offset);
	if (!ret)
		ret = meta_finish(cr, path);
	if (!ret && !seekable(path)) {
		in->kept = r;
		return 0;
	}
	rt_reader_close(r);
	if (!ret)
		prescan_cmdlines(cr, path);
	return ret;
}

static int add_path(struct rt_capture_reader *cr, const char *path,
		    bool in_dir)
{
	struct stat st;
	int r;

	if (strcmp(path, "-") && stat(path, &st) < 0) {
		r = -errno;
		log_err("%s: %s", path, strerror(-r));
		return r;
	}
	if (strcmp(path, "-") && S_ISDIR(st.st_mode)) {
		struct dirent **names;
		int n = scandir(path, &names, NULL, alphasort), found = 0;

		if (n < 0) {
			r = -errno;
			log_err("%s: %s", path, strerror(-r));
			return r;
		}
		r = 0;
		for (int i = 0; i < n; i++) {
			const char *d = names[i]->d_name;
			size_t l = strlen(d);
			char *full;

			if (!r && l > 5 && !strcmp(d + l - 5, ".rtap") &&
			    asprintf(&full, "%s/%s", path, d) >= 0) {
				r = add_path(cr, full, true);
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
	cr->ins = xrealloc(cr->ins, (cr->nr_ins + 1) * sizeof(*cr->ins));
	memset(&cr->ins[cr->nr_ins], 0, sizeof(*cr->ins));
	r = probe_input(cr, path, &cr->ins[cr->nr_ins]);
	if (r < 0 && in_dir) {
		/* One damaged file (say, created but never written by a
		 * daemon that was killed) must not hide the others. */
		log_warn("%s: skipped", path);
		free(cr->ins[cr->nr_ins].path);
		cr->incomplete++;
		return 0;
	}
	cr->nr_ins++;
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

int rt_capture_reader_open(char *const *paths, int nr,
			   struct rt_capture_reader **ret)
{
	struct rt_capture_reader *cr = calloc(1, sizeof(*cr));
	struct input **order = NULL;
	int r = 0;

	*ret = NULL;
	if (!cr)
		return -ENOMEM;
	for (int i = 0; i < nr && !r; i++)
		r = add_path(cr, paths[i], false);
	if (!r && !cr->nr_ins)
		r = -ENOENT;
	if (r < 0)
		goto fail;
	order = calloc(cr->nr_ins, sizeof(*order));
	cr->chains = calloc(cr->nr_ins, sizeof(*cr->chains));
	if (!order || !cr->chains) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cr->nr_ins; i++) {
		order[i] = &cr->ins[i];
		if (cr->ins[i].cpu != RT_CPU_NONE &&
		    cr->ins[i].cpu + 1 > cr->meta.nr_cpus)
			cr->meta.nr_cpus = cr->ins[i].cpu + 1;
	}
	if (!cr->meta.nr_cpus)
		cr->meta.nr_cpus = 1;
	qsort(order, cr->nr_ins, sizeof(*order), cmp_input);
	cr->sum = calloc(cr->meta.nr_cpus, sizeof(*cr->sum));
	if (!cr->sum) {
		r = -ENOMEM;
		goto fail;
	}
	/* One chain per CPU; files without a CPU each get their own. */
	for (size_t i = 0; i < cr->nr_ins; i++) {
		struct rt_chain *ch;

		if (cr->nr_chains && order[i]->cpu != RT_CPU_NONE &&
		    cr->chains[cr->nr_chains - 1].files[0]->cpu == order[i]->cpu) {
			ch = &cr->chains[cr->nr_chains - 1];
		} else {
			ch = &cr->chains[cr->nr_chains++];
			ch->cr = cr;
			ch->cpu = order[i]->cpu;
			ch->pages = calloc(cr->meta.nr_cpus, sizeof(*ch->pages));
			if (!ch->pages) {
				r = -ENOMEM;
				goto fail;
			}
		}
		ch->files = xrealloc(ch->files, (ch->nr + 1) * sizeof(*ch->files));
		ch->files[ch->nr++] = order[i];
	}
	free(order);
	*ret = cr;
	return 0;
fail:
	free(order);
	rt_capture_reader_close(cr);
	return r;
}

void rt_capture_reader_close(struct rt_capture_reader *cr)
{
	if (!cr)
		return;
	for (int i = 0; i < cr->nr_chains; i++) {
		struct rt_chain *ch = &cr->chains[i];

		rt_reader_close(ch->r);
		for (uint32_t j = 0; ch->pages && j < cr->meta.nr_cpus; j++)
			free(ch->pages[j].buf);
		free(ch->pages);
		free(ch->files);
	}
	free(cr->chains);
	for (size_t i = 0; i < cr->nr_ins; i++) {
		rt_reader_close(cr->ins[i].kept);
		free(cr->ins[i].path);
	}
	free(cr->ins);
	free(cr->sum);
	free(cr->min_size);
	free(cr->meta.print_raw_ids);
	rt_bpf_decoder_free(cr->meta.bpf);
	rt_buf_free(&cr->meta.header_page);
	rt_buf_free(&cr->meta.header_event);
	rt_buf_free(&cr->meta.printk_formats);
	rt_buf_free(&cr->meta.cmdlines);
	rt_buf_free(&cr->meta.formats);
	if (cr->meta.tep)
		tep_free(cr->meta.tep);
	free(cr);
}

const struct rt_capture_meta *
rt_capture_reader_meta(const struct rt_capture_reader *cr)
{
	return &cr->meta;
}

int rt_capture_reader_nr_chains(const struct rt_capture_reader *cr)
{
	return cr->nr_chains;
}

struct rt_chain *rt_capture_reader_chain(struct rt_capture_reader *cr, int i)
{
	return i < cr->nr_chains ? &cr->chains[i] : NULL;
}

const struct rt_cpu_summary *
rt_capture_reader_summary(const struct rt_capture_reader *cr, int cpu)
{
	return cpu >= 0 && (uint32_t)cpu < cr->meta.nr_cpus ? &cr->sum[cpu] :
							      NULL;
}

int rt_capture_reader_incomplete(const struct rt_capture_reader *cr)
{
	return cr->incomplete;
}

/* ---- chains ---- */

static void chain_warn(struct rt_chain *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void chain_warn(struct rt_chain *ch, const char *fmt, ...)
{
	char msg[PATH_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fflush(stdout);
	log_warn("%s", msg);
	ch->cr->incomplete++;
}

static bool open_next_file(struct rt_chain *ch)
{
	struct rt_frame f;
	int r;

	for (;;) {
		/* Pages stay valid across files: the first frame of a rotated
		 * file repeats its page's start, and the next frame of the
		 * page may continue it. */
		rt_reader_close(ch->r);
		ch->r = NULL;
		if (ch->cur >= ch->nr)
			return false;
		if (ch->files[ch->cur]->kept) {
			/* its HEADER was read when the inputs were probed */
			ch->r = ch->files[ch->cur]->kept;
			ch->files[ch->cur++]->kept = NULL;
			return true;
		}
		r = rt_reader_open(ch->files[ch->cur++]->path, &ch->r);
		if (r == 0 && rt_reader_next(ch->r, &f) == RT_READ_OK)
			return true;
		chain_warn(ch, "%s", ch->r ? rt_reader_error(ch->r) : "cannot open");
	}
}

static void page_reserve(struct page *pg, size_t n)
{
	if (pg->cap < n) {
		size_t cap = pg->cap * 2 > n ? pg->cap * 2 : n;

		pg->buf = xrealloc(pg->buf, cap);
		pg->cap = cap;
	}
}

/* Lost before a new page: the stored count, else the overrun not yet
 * reported (cumulative since the capture started), else unknown. */
static int64_t page_lost(struct page *pg, uint64_t commit, uint64_t stored,
			 const uint64_t *overrun)
{
	int64_t n = 0;

	if (!(commit & RB_MISSED_EVENTS))
		return 0;
	if (commit & RB_MISSED_STORED)
		n = stored;
	else if (overrun && *overrun > pg->accounted)
		n = *overrun - pg->accounted;
	if (n <= 0)
		return -1;
	pg->accounted += n;
	return n;
}

/*
 * Walk the event headers of a sub-buffer's data [0, size) the way
 * libtraceevent's kbuffer will, and refuse a page on which an event does
 * not fit or does not move forward: kbuffer trusts the lengths (a crafted
 * padding length made it loop forever, an oversized event made readers run
 * past the page).  Ring-buffer event header: u32 type_len:5, time_delta:27.
 */
/*
 * Bytes an event's fixed fields need (0: unknown event).  libtraceevent
 * reads fields at their format offsets whatever the record's size: a
 * record shorter than that made it read past the page, or allocate 4 GiB
 * for a zero-size array (found by the fuzzer).  Cached per event id.
 */
static uint32_t event_min_size(struct rt_capture_reader *cr, uint16_t id)
{
	struct tep_event *ev;
	uint32_t need = 0;

	if (!cr->min_size) {
		cr->min_size = calloc(65536, sizeof(*cr->min_size));
		if (!cr->min_size)
			return 0;
	}
	if (cr->min_size[id])
		return cr->min_size[id] - 1;
	ev = tep_find_event(cr->meta.tep, id);
	for (int pass = 0; ev && pass < 2; pass++) {
		struct tep_format_field *f = pass ? ev->format.fields :
						    ev->format.common_fields;

		for (; f; f = f->next) {
			uint64_t end = (uint64_t)(f->offset < 0 ? 0 : f->offset) +
				       (uint64_t)(f->size < 0 ? 0 : f->size);

			/* a format no record can satisfy: refuse them all */
			if (end > UINT32_MAX - 2)
				end = UINT32_MAX - 2;
			if (end > need)
				need = end;
		}
	}
	cr->min_size[id] = need + 1;
	return need;
}

static bool event_fits(struct rt_capture_reader *cr, const uint8_t *payload,
		       uint64_t len)
{
	uint16_t id;

	if (len < 2)
		return len == 0;
	memcpy(&id, payload, 2);
	return len >= event_min_size(cr, id);
}

static bool page_events_fit(struct rt_capture_reader *cr, const uint8_t *data,
			    uint64_t size)
{
	uint64_t off = 0;

	while (off < size) {
		uint32_t hdr, type_len, word;
		uint64_t total;

		if (size - off < 4)
			return false;
		memcpy(&hdr, data + off, 4);
		type_len = hdr & 31;
		switch (type_len) {
		case 29: /* padding; a null one (delta 0) ends the data */
			if (!(hdr >> 5))
				return true;
			if (size - off < 8)
				return false;
			memcpy(&word, data + off + 4, 4);
			total = 4 + (uint64_t)word;
			break;
		case 30: /* time extend */
		case 31: /* absolute time stamp */
			total = 8;
			break;
		case 0: /* length in the next word, which counts itself */
			if (size - off < 8)
				return false;
			memcpy(&word, data + off + 4, 4);
			if (word < 4)
				return false;
			total = 8 + ((((uint64_t)word - 4) + 3) & ~(uint64_t)3);
			if (total <= size - off &&
			    !event_fits(cr, data + off + 8, (uint64_t)word - 4))
				return false;
			break;
		default:
			total = 4 + (uint64_t)type_len * 4;
			if (total <= size - off &&
			    !event_fits(cr, data + off + 4, (uint64_t)type_len * 4))
				return false;
			break;
		}
		if (total < 4 || total > size - off)
			return false;
		off += total;
	}
	return true;
}

/*
 * Rebuild the kernel sub-buffer of a SUBBUF frame into @it.  Returns 1 with
 * a PAGE item, 0 with a LOST item (a continuation without its start), or
 * -EBADMSG for a malformed frame.
 */
static int load_subbuf(struct rt_chain *ch, const struct rt_frame *f,
		       struct rt_item *it)
{
	struct rt_cpu_summary *sum = &ch->cr->sum[f->hdr.cpu];
	struct page *pg = &ch->pages[f->hdr.cpu];
	const uint8_t *data = f->payload + sizeof(struct rt_subbuf);
	uint32_t subbuf = ch->cr->meta.subbuf_size;
	struct rt_subbuf sb;
	uint64_t stored = 0, data_end;
	size_t dlen;

	if (f->hdr.len < sizeof(sb))
		return -EBADMSG;
	memcpy(&sb, f->payload, sizeof(sb));
	dlen = f->hdr.len - sizeof(sb);
	*it = (struct rt_item){ .type = RT_ITEM_PAGE, .cpu = f->hdr.cpu };
	if (sb.flags & RT_SUBBUF_F_RAW_PAGE) {
		uint64_t commit;

		if (dlen < RB_PAGE_HDR_SIZE || dlen > subbuf)
			return -EBADMSG;
		memcpy(&commit, data + 8, 8);
		data_end = commit & RB_COMMIT_MASK;
		if (RB_PAGE_HDR_SIZE + data_end > dlen)
			return -EBADMSG;
		if (!page_events_fit(ch->cr, data + RB_PAGE_HDR_SIZE, data_end))
			return -EBADMSG;
		/* only what the page holds: a header may claim a huge size */
		page_reserve(pg, dlen + 8);
		memcpy(pg->buf, data, dlen);
		memset(pg->buf + dlen, 0, 8);
		if (RB_PAGE_HDR_SIZE + data_end + 8 <= dlen)
			memcpy(&stored, data + RB_PAGE_HDR_SIZE + data_end, 8);
		pg->len = RB_PAGE_HDR_SIZE + data_end;
		memcpy(&pg->ts, data, 8);
		pg->valid = false; /* never continued */
		it->new_page = true;
		it->lost = page_lost(pg, commit, stored, NULL);
		sum->bytes += data_end;
	} else {
		uint64_t carried = (uint64_t)sb.data_len;
		uint64_t extra = dlen - carried; /* the stored lost count */

		data_end = (uint64_t)sb.data_start + sb.data_len;
		if (carried > dlen || (extra != 0 && extra != 8) ||
		    sb.emit_from < sb.data_start || sb.emit_from > data_end ||
		    RB_PAGE_HDR_SIZE + data_end > subbuf ||
		    (sb.commit & RB_COMMIT_MASK) != data_end)
			return -EBADMSG;
		if (sb.data_start &&
		    (!pg->valid || pg->ts != sb.page_ts || pg->id != sb.subbuf_id ||
		     pg->len != RB_PAGE_HDR_SIZE + sb.data_start)) {
			pg->valid = false;
			*it = (struct rt_item){
				.type = RT_ITEM_LOST,
				.cpu = f->hdr.cpu,
				.lost = -1,
				.lost_ts = sb.page_ts,
				.why = "sub-buffer continued without its start",
			};
			return 0;
		}
		page_reserve(pg, RB_PAGE_HDR_SIZE + data_end + 8);
		memcpy(pg->buf, &sb.page_ts, 8);
		memcpy(pg->buf + 8, &sb.commit, 8);
		memcpy(pg->buf + RB_PAGE_HDR_SIZE + sb.data_start, data, dlen);
		if (!page_events_fit(ch->cr, pg->buf + RB_PAGE_HDR_SIZE, data_end)) {
			pg->valid = false;
			return -EBADMSG;
		}
		/* kbuffer may read a stored lost count right after the data */
		memset(pg->buf + RB_PAGE_HDR_SIZE + data_end + extra, 0, 8 - extra);
		if (extra)
			memcpy(&stored, data + carried, 8);
		it->new_page = sb.emit_from == 0 ||
			       !(pg->valid && pg->ts == sb.page_ts &&
				 pg->id == sb.subbuf_id);
		pg->len = RB_PAGE_HDR_SIZE + data_end;
		pg->ts = sb.page_ts;
		pg->id = sb.subbuf_id;
		pg->valid = true;
		it->emit_from = sb.emit_from;
		it->lost = sb.emit_from == 0 ?
				   page_lost(pg, sb.commit, stored, &sb.overrun) :
				   0;
		sum->bytes += data_end - sb.emit_from;
	}
	sum->subbufs++;
	it->page = pg->buf;
	it->page_len = pg->len;
	it->page_ts = pg->ts;
	return 1;
}

static void read_end(struct rt_chain *ch, const struct rt_frame *f)
{
	struct rt_end e;

	if (f->hdr.len < sizeof(e))
		return;
	memcpy(&e, f->payload, sizeof(e));
	for (uint64_t i = 0; i < e.nr_stats &&
			     sizeof(e) + (i + 1) * sizeof(struct rt_cpu_stats) <= f->hdr.len;
	     i++) {
		struct rt_cpu_stats s;

		memcpy(&s, f->payload + sizeof(e) + i * sizeof(s), sizeof(s));
		if (s.cpu < ch->cr->meta.nr_cpus) {
			ch->cr->sum[s.cpu].end = s;
			ch->cr->sum[s.cpu].have_end = true;
		}
	}
}

bool rt_chain_next(struct rt_chain *ch, struct rt_item *it)
{
	struct rt_frame f;
	int r;

	*it = (struct rt_item){ .type = RT_ITEM_NONE };
	for (;;) {
		if (!ch->r && !open_next_file(ch))
			return false;
		r = rt_reader_next(ch->r, &f);
		if (r == RT_READ_EOF) {
			chain_warn(ch, "%s: ends at byte %" PRIu64 " without an END frame: the capture was cut short (daemon killed, crashed or still running)",
				   rt_reader_name(ch->r), rt_reader_offset(ch->r));
			rt_reader_close(ch->r);
			ch->r = NULL;
			continue;
		}
		if (r < 0) {
			chain_warn(ch, "%s; events before it were reported",
				   rt_reader_error(ch->r));
			rt_reader_close(ch->r);
			ch->r = NULL;
			continue;
		}
		/* A per-CPU file carries its own CPU only: this also bounds the
		 * sub-buffers a chain keeps to one. */
		if ((f.hdr.type == RT_FRAME_SUBBUF || f.hdr.type == RT_FRAME_LOST) &&
		    (f.hdr.cpu >= ch->cr->meta.nr_cpus ||
		     (ch->cpu != RT_CPU_NONE && f.hdr.cpu != ch->cpu))) {
			chain_warn(ch, "%s: frame at byte %" PRIu64 " is for CPU %u, not this file's: skipped",
				   rt_reader_name(ch->r), f.offset, f.hdr.cpu);
			continue;
		}
		switch (f.hdr.type) {
		case RT_FRAME_SUBBUF:
			r = load_subbuf(ch, &f, it);
			if (r >= 0)
				return true;
			chain_warn(ch, "%s: malformed sub-buffer frame at byte %" PRIu64 ": skipped",
				   rt_reader_name(ch->r), f.offset);
			ch->pages[f.hdr.cpu].valid = false;
			break;
		case RT_FRAME_LOST: {
			struct rt_lost l;

			if (f.hdr.len < sizeof(l))
				break;
			memcpy(&l, f.payload, sizeof(l));
			*it = (struct rt_item){
				.type = RT_ITEM_LOST,
				.cpu = f.hdr.cpu,
				.lost_ts = l.last_ts,
				.lost = l.events ? (int64_t)l.events : -1,
				.why = l.reason == RT_LOST_SINK ?
					       "an output could not store them" :
					       NULL,
			};
			if (l.reason == RT_LOST_SINK)
				ch->cr->sum[f.hdr.cpu].lost_sink += l.events;
			return true;
		}
		case RT_FRAME_METADATA:
			meta_load(ch->cr, f.payload, f.hdr.len,
				  rt_reader_name(ch->r), f.offset);
			break;
		case RT_FRAME_END:
			read_end(ch, &f);
			/* a clean end: this file is complete */
			rt_reader_close(ch->r);
			ch->r = NULL;
			break;
		case RT_FRAME_HEADER:
			break;
		default:
			if (!(f.hdr.flags & RT_FRAME_F_SKIPPABLE)) {
				chain_warn(ch, "%s: unknown frame type %u at byte %" PRIu64 " (written by a newer ringtap?): rest of file skipped",
					   rt_reader_name(ch->r), f.hdr.type, f.offset);
				rt_reader_close(ch->r);
				ch->r = NULL;
			}
			break;
		}
	}
}
