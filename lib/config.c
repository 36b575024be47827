// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ringtapd configuration: INI parsed with libinih, checked value by value.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO, so the parser feeds
 * inih through its own ini_reader, one physical line per call, and knows the
 * line the handler is looking at.  The reader also classifies each line the
 * way inih will (comment, section header, key, continuation): section
 * headers are handled there, so that an empty or unknown section is reported
 * at its own line, and names longer than inih's 50-byte section buffer are
 * not truncated.  It stops inih at the first error by reporting end of
 * input: inih's ini_stop_on_first_error is process-wide state, not ours.
 *
 * Indented lines continue the previous key's value (inih's multi-line
 * values, as in Python's configparser); only 'events' and 'filter' accept
 * them, since inih's line buffer limits a line to 198 characters.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "ringtap/config.h"
#include "ringtap/tls.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEFAULT_INSTANCE "ringtap"
#define DEFAULT_BUFFER_SIZE_KB 8192
#define DEFAULT_SUBBUF_SIZE_KB 256
#define DEFAULT_CLOCK "mono"
#define DEFAULT_BUFFER_PERCENT 50
#define DEFAULT_FLUSH_INTERVAL_MS 500
#define DEFAULT_RUN_DIR "/run/ringtap"

#define INSTANCE_MAX 64
#define CLOCK_MAX 32
#define MIN_ROTATE_SIZE (64 * 1024)
#define MAX_FILES_MAX 1000000
#define MAX_KEYS 32 /* keys of the largest section */
/* socket outputs */
#define DEFAULT_NET_FILE_SIZE (256ull << 20)
#define DEFAULT_QUEUE_SIZE (64ull << 20)
#define DEFAULT_SPILL_SIZE (1ull << 30)
#define DEFAULT_SPILL_ROOT "/var/lib/ringtap/spool"
#define DEFAULT_RECONNECT_MIN_MS 100
#define DEFAULT_RECONNECT_MAX_MS 30000
#define DEFAULT_STOP_TIMEOUT_MS 10000
#define MIN_QUEUE_SIZE (1ull << 20)
#define MAX_MS 3600000
/* nats outputs */
#define DEFAULT_NATS_SUBJECT_PREFIX "ringtap"
#define DEFAULT_NATS_STREAM "RINGTAP"

enum line_kind {
	LINE_OTHER, /* blank, comment or section header */
	LINE_KEY, /* key = value */
	LINE_CONT, /* indented: continues the previous key's value */
};

enum section_kind {
	SEC_NONE,
	SEC_TRACE,
	SEC_EVENT,
	SEC_OUTPUT,
	SEC_DAEMON,
	SEC_BPF,
};

struct parser;

struct key_def {
	const char *name;
	int (*set)(struct parser *p, const char *value);
	int (*add)(struct parser *p, const char *more); /* continuation */
};

struct parser {
	struct rt_config *cfg;
	const char *name; /* the file as given, for messages */
	char *err;
	size_t errlen;
	int error; /* first error, -errno; parsing stops there */

	FILE *f; /* input: a file ... */
	const char *text; /* ... or a string (rest of it) */
	char *buf;
	size_t bufsize;
	int line;

	/* What inih will make of the current line (see classify()). */
	enum line_kind kind;
	bool have_prev_key; /* inih's prev_name is non-empty */

	/* Current section. */
	enum section_kind sec;
	const struct key_def *keys;
	size_t nr_keys;
	int *key_lines; /* line each key was set on, 0 = not yet */
	int prev_key; /* index of the last key set */
	struct rt_event_opts *event;
	struct rt_output *output;
	struct rt_bpf_section *bpf;
	char label[256]; /* "trace", "output \"local\"" */
	char prefix[256]; /* "", "output 'local': " */

	int trace_lines[MAX_KEYS];
	int daemon_lines[MAX_KEYS];
	int event_lines[RT_CONFIG_MAX_EVENTS][MAX_KEYS];
	int output_lines[RT_CONFIG_MAX_OUTPUTS][MAX_KEYS];
};

/* ---- errors ---- */

static __attribute__((format(printf, 5, 0))) void
put_err(char *err, size_t errlen, const char *name, int line, const char *fmt,
	va_list ap)
{
	int n;

	if (!err || !errlen)
		return;
	if (line > 0)
		n = snprintf(err, errlen, "%s:%d: ", name, line);
	else
		n = snprintf(err, errlen, "%s: ", name);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - n, fmt, ap);
}

/* Record the first error (at @line, 0 = the file as a whole); returns @r. */
static __attribute__((format(printf, 4, 5))) int
fail_at(struct parser *p, int r, int line, const char *fmt, ...)
{
	va_list ap;

	if (p->error)
		return p->error;
	va_start(ap, fmt);
	put_err(p->err, p->errlen, p->name, line, fmt, ap);
	va_end(ap);
	p->error = r;
	return r;
}

#define fail(p, ...) fail_at(p, -EINVAL, (p)->line, __VA_ARGS__)
#define fail_nomem(p) fail_at(p, -ENOMEM, (p)->line, "out of memory")

/* ---- checked numbers ---- */

int rt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	/* strtoull() would take blanks, a sign and "0x" for us. */
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int rt_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		unsigned int shift;
	} units[] = {
		{ "", 0 },     { "k", 10 }, { "kib", 10 }, { "m", 20 },
		{ "mib", 20 }, { "g", 30 }, { "gib", 30 },
	};
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].suffix))
			continue;
		if (errno == ERANGE || v > UINT64_MAX >> units[i].shift)
			return -ERANGE;
		*ret = (uint64_t)v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

int rt_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- small string helpers ---- */

static char *skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return (char *)s;
}

static void rstrip(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/*
 * inih's find_chars_or_comment(): the first of @chars, or the start of an
 * inline comment (';' after whitespace), or the end of @s.
 */
static char *find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s && !(chars && strchr(chars, *s)) &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return (char *)s;
}

static bool all_chars_in(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return false;
	return n > 0;
}

static int set_string(struct parser *p, char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return fail_nomem(p);
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_uint(struct parser *p, const char *key, const char *value,
		      uint64_t min, uint64_t max, uint64_t *ret)
{
	int r = rt_parse_u64(value, min, max, ret);

	if (r == -ERANGE)
		return fail(p, "%s%s: '%s' is out of range %llu..%llu",
			    p->prefix, key, value, (unsigned long long)min,
			    (unsigned long long)max);
	if (r < 0)
		return fail(p,
			    "%s%s: '%s' is not a number (decimal digits only)",
			    p->prefix, key, value);
	return 0;
}

static int set_uint(struct parser *p, const char *key, const char *value,
		    unsigned int min, unsigned int max, unsigned int *dst)
{
	uint64_t v;
	int r = parse_uint(p, key, value, min, max, &v);

	if (!r)
		*dst = v;
	return r;
}

static int set_abs_path(struct parser *p, const char *key, char **dst,
			const char *value)
{
	if (value[0] != '/')
		return fail(p, "%s%s: '%s' is not an absolute path", p->prefix,
			    key, value);
	if (strlen(value) >= PATH_MAX)
		return fail(p, "%s%s: path is too long", p->prefix, key);
	return set_string(p, dst, value);
}

/* ---- events ---- */

static bool valid_event_name(const char *system, size_t system_len,
			     const char *event, size_t event_len)
{
	if (!all_chars_in(system, system_len, "_"))
		return false;
	return (event_len == 1 && event[0] == '*') ||
	       all_chars_in(event, event_len, "_");
}

/* Split "system:event" (@len bytes) into two new strings. */
static int split_event(struct parser *p, const char *what, const char *s,
		       size_t len, char **system, char **event)
{
	const char *colon = memchr(s, ':', len);

	if (!colon ||
	    !valid_event_name(s, colon - s, colon + 1, s + len - colon - 1))
		return fail(
			p,
			"%s'%.*s' is not a valid event (expected system:event; names are letters, digits and '_', the event may be '*')",
			what, (int)len, s);
	*system = strndup(s, colon - s);
	*event = strndup(colon + 1, s + len - colon - 1);
	if (!*system || !*event) {
		free(*system);
		free(*event);
		return fail_nomem(p);
	}
	return 0;
}

static bool event_covers(const struct rt_event_sel *sel, const char *system,
			 const char *event)
{
	return !strcmp(sel->system, system) &&
	       (!strcmp(sel->event, "*") || !strcmp(sel->event, event));
}

/* Equal, or one is "system:*" and takes the other in. */
static bool events_overlap(const struct rt_event_sel *a, const char *system,
			   const char *event)
{
	return !strcmp(a->system, system) &&
	       (!strcmp(a->event, event) || !strcmp(a->event, "*") ||
		!strcmp(event, "*"));
}

static int add_event(struct parser *p, const char *item, size_t len)
{
	struct rt_config *cfg = p->cfg;
	struct rt_event_sel *ev;
	char *system, *event;
	int r;

	r = split_event(p, "events: ", item, len, &system, &event);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->nr_events; i++) {
		const struct rt_event_sel *o = &cfg->events[i];

		if (!events_overlap(o, system, event))
			continue;
		if (!strcmp(o->event, event))
			fail(p,
			     "events: '%s:%s' is listed twice (first on line %d)",
			     system, event, o->line);
		else
			fail(p,
			     "events: '%s:%s' overlaps '%s:%s' (line %d); list a whole system or single events of it",
			     system, event, o->system, o->event, o->line);
		free(system);
		free(event);
		return p->error;
	}
	if (cfg->nr_events == RT_CONFIG_MAX_EVENTS) {
		free(system);
		free(event);
		return fail(p, "events: too many events (at most %d)",
			    RT_CONFIG_MAX_EVENTS);
	}
	ev = &cfg->events[cfg->nr_events++];
	ev->system = system;
	ev->event = event;
	ev->line = p->line;
	return 0;
}

/*
 * One line of the list: items separated by commas, blanks around them
 * ignored; a trailing comma is fine (the list may go on next line).
 */
static int add_event_list(struct parser *p, const char *value)
{
	const char *s = value;

	for (;;) {
		const char *comma = strchr(s, ',');
		const char *end = comma ? comma : s + strlen(s);
		const char *item = skip_space(s);
		int r;

		while (end > item && isspace((unsigned char)end[-1]))
			end--;
		if (end == item) {
			if (!comma && s != value)
				return 0;
			return fail(p, "events: empty item in the list '%s'",
				    value);
		}
		r = add_event(p, item, end - item);
		if (r < 0 || !comma)
			return r;
		s = comma + 1;
	}
}

/* ---- [trace] ---- */

static int set_instance(struct parser *p, const char *value)
{
	size_t n = strlen(value);

	if (n > INSTANCE_MAX || !all_chars_in(value, n, "_.-") ||
	    !strcmp(value, ".") || !strcmp(value, ".."))
		return fail(
			p,
			"instance: '%s' is not a valid instance name (1-%d letters, digits, '_', '.', '-'; not '.' or '..')",
			value, INSTANCE_MAX);
	return set_string(p, &p->cfg->instance, value);
}

static int set_buffer_size(struct parser *p, const char *value)
{
	p->cfg->buffer_size_line = p->line;
	return set_uint(p, "buffer_size_kb", value, 4, 4194304,
			&p->cfg->buffer_size_kb);
}

static int set_subbuf_size(struct parser *p, const char *value)
{
	unsigned int v = 0;
	int r = set_uint(p, "subbuf_size_kb", value, 4, 1024, &v);

	if (r < 0)
		return r;
	if (v & (v - 1))
		return fail(
			p,
			"subbuf_size_kb: '%s' is not a power of two (4, 8, 16, ... 1024)",
			value);
	p->cfg->subbuf_size_kb = v;
	p->cfg->subbuf_size_line = p->line;
	return 0;
}

static int set_clock(struct parser *p, const char *value)
{
	size_t n = strlen(value);
	bool ok = n && n <= CLOCK_MAX;

	for (size_t i = 0; ok && i < n; i++)
		ok = islower((unsigned char)value[i]) ||
		     isdigit((unsigned char)value[i]) || value[i] == '_' ||
		     value[i] == '-';
	if (!ok)
		return fail(
			p,
			"clock: '%s' is not a valid clock name (lower-case letters, digits, '_', '-')",
			value);
	p->cfg->clock_line = p->line;
	return set_string(p, &p->cfg->clock, value);
}

static int set_buffer_percent(struct parser *p, const char *value)
{
	p->cfg->buffer_percent_line = p->line;
	return set_uint(p, "buffer_percent", value, 0, 100,
			&p->cfg->buffer_percent);
}

static int set_flush_interval(struct parser *p, const char *value)
{
	return set_uint(p, "flush_interval_ms", value, 1, 60000,
			&p->cfg->flush_interval_ms);
}

static int set_reader(struct parser *p, const char *value)
{
	static const struct {
		const char *name;
		enum rt_reader_mode mode;
	} modes[] = {
		{ "mmap", RT_READER_MMAP },
		{ "read", RT_READER_READ },
		{ "copy", RT_READER_COPY },
	};

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		if (!strcmp(value, modes[i].name)) {
			p->cfg->reader = modes[i].mode;
			return 0;
		}
	}
	return fail(p, "reader: '%s' is not supported (mmap, read, copy)",
		    value);
}

static int set_events(struct parser *p, const char *value)
{
	p->cfg->events_line = p->line;
	if (!*value)
		return fail(p, "events: no events given");
	return add_event_list(p, value);
}

/* ---- [event "system:event"] ---- */

static int set_filter(struct parser *p, const char *value)
{
	if (!*value)
		return fail(p, "%sfilter: empty (remove the key for no filter)",
			    p->prefix);
	p->event->filter_line = p->line;
	return set_string(p, &p->event->filter, value);
}

static int add_filter(struct parser *p, const char *more)
{
	char *s;

	if (asprintf(&s, "%s %s", p->event->filter, more) < 0)
		return fail_nomem(p);
	free(p->event->filter);
	p->event->filter = s;
	return 0;
}

/* ---- [output "name"] ---- */

static int set_output_type(struct parser *p, const char *value)
{
	if (!strcmp(value, "file"))
		p->output->type = RT_OUTPUT_FILE;
	else if (!strcmp(value, "discard"))
		p->output->type = RT_OUTPUT_DISCARD;
	else if (!strcmp(value, "tcp"))
		p->output->type = RT_OUTPUT_TCP;
	else if (!strcmp(value, "unix"))
		p->output->type = RT_OUTPUT_UNIX;
	else if (!strcmp(value, "nats"))
		p->output->type = RT_OUTPUT_NATS;
	else
		return fail(p,
			    "%stype '%s' is not supported (file, discard, tcp, unix, nats)",
			    p->prefix, value);
	return 0;
}

static int set_output_path(struct parser *p, const char *value)
{
	return set_abs_path(p, "path", &p->output->path, value);
}

static int set_max_file_size(struct parser *p, const char *value)
{
	uint64_t v;
	int r = rt_parse_size(value, &v);

	if (r == -ERANGE)
		return fail(p, "%smax_file_size: '%s' is too large", p->prefix,
			    value);
	if (r < 0)
		return fail(
			p,
			"%smax_file_size: '%s' is not a size (a number with an optional K, M, G, KiB, MiB or GiB suffix)",
			p->prefix, value);
	if (v && v < MIN_ROTATE_SIZE)
		return fail(
			p,
			"%smax_file_size: '%s' is too small (0 for no rotation, or at least 64K)",
			p->prefix, value);
	p->output->max_file_size = v;
	return 0;
}

static int set_max_files(struct parser *p, const char *value)
{
	return set_uint(p, "max_files", value, 0, MAX_FILES_MAX,
			&p->output->max_files);
}

static int set_address(struct parser *p, const char *value)
{
	/* checked against the type once the section is complete */
	return set_string(p, &p->output->address, value);
}

static int set_out_size(struct parser *p, const char *key, const char *value,
			uint64_t min, bool zero_ok, uint64_t *dst)
{
	uint64_t v;
	int r = rt_parse_size(value, &v);

	if (r == -ERANGE)
		return fail(p, "%s%s: '%s' is too large", p->prefix, key, value);
	if (r < 0)
		return fail(
			p,
			"%s%s: '%s' is not a size (a number with an optional K, M, G, KiB, MiB or GiB suffix)",
			p->prefix, key, value);
	if (v < min && !(zero_ok && v == 0))
		return fail(p, "%s%s: '%s' is too small (%sat least %lluM)",
			    p->prefix, key, value, zero_ok ? "0, or " : "",
			    (unsigned long long)(min >> 20));
	*dst = v;
	return 0;
}

static int set_queue_size(struct parser *p, const char *value)
{
	return set_out_size(p, "queue_size", value, MIN_QUEUE_SIZE, false,
			    &p->output->queue_size);
}

static int set_spill_size(struct parser *p, const char *value)
{
	return set_out_size(p, "spill_size", value, MIN_QUEUE_SIZE, true,
			    &p->output->spill_size);
}

static int set_spill_dir(struct parser *p, const char *value)
{
	return set_abs_path(p, "spill_dir", &p->output->spill_dir, value);
}

static int set_reconnect_min(struct parser *p, const char *value)
{
	return set_uint(p, "reconnect_min_ms", value, 1, MAX_MS,
			&p->output->reconnect_min_ms);
}

static int set_reconnect_max(struct parser *p, const char *value)
{
	return set_uint(p, "reconnect_max_ms", value, 1, MAX_MS,
			&p->output->reconnect_max_ms);
}

static int set_stop_timeout(struct parser *p, const char *value)
{
	return set_uint(p, "stop_timeout_ms", value, 0, MAX_MS,
			&p->output->stop_timeout_ms);
}

static int set_token_file(struct parser *p, const char *value)
{
	return set_abs_path(p, "token_file", &p->output->token_file, value);
}

static int set_insecure(struct parser *p, const char *value)
{
	if (rt_parse_bool(value, &p->output->insecure) < 0)
		return fail(p, "%sinsecure: '%s' is not yes or no", p->prefix,
			    value);
	return 0;
}

/* ---- nats ---- */

static int set_url(struct parser *p, const char *value)
{
	/* checked against the type once the section is complete */
	return set_string(p, &p->output->address, value);
}

/* A subject token or stream name: no dots, spaces or wildcards. */
static bool nats_name_ok(const char *s, bool dots)
{
	if (!*s || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == 0x7f || *s == '*' || *s == '>' ||
		    *s == '/' || *s == '\\' || (*s == '.' && !dots))
			return false;
	return true;
}

static int set_subject_prefix(struct parser *p, const char *value)
{
	if (!nats_name_ok(value, true) || value[0] == '.' ||
	    value[strlen(value) - 1] == '.' || strstr(value, ".."))
		return fail(p, "%ssubject_prefix: '%s' is not a NATS subject without wildcards",
			    p->prefix, value);
	return set_string(p, &p->output->subject_prefix, value);
}

static int set_stream(struct parser *p, const char *value)
{
	if (!nats_name_ok(value, false))
		return fail(p, "%sstream: '%s' is not a JetStream stream name (1 to 128 characters, no '.', '*', '>', '/' or spaces)",
			    p->prefix, value);
	return set_string(p, &p->output->stream, value);
}

static int set_create_stream(struct parser *p, const char *value)
{
	if (rt_parse_bool(value, &p->output->create_stream) < 0)
		return fail(p, "%screate_stream: '%s' is not yes or no",
			    p->prefix, value);
	return 0;
}

static int set_stream_replicas(struct parser *p, const char *value)
{
	return set_uint(p, "stream_replicas", value, 1, 5,
			&p->output->stream_replicas);
}

static int set_stream_max_bytes(struct parser *p, const char *value)
{
	return set_out_size(p, "stream_max_bytes", value, MIN_QUEUE_SIZE, true,
			    &p->output->stream_max_bytes);
}

static int set_creds_file(struct parser *p, const char *value)
{
	return set_abs_path(p, "creds_file", &p->output->creds_file, value);
}

static int set_tls_ca(struct parser *p, const char *value)
{
	return set_abs_path(p, "tls_ca", &p->output->tls_ca, value);
}

static int set_tls_cert(struct parser *p, const char *value)
{
	return set_abs_path(p, "tls_cert", &p->output->tls_cert, value);
}

static int set_tls_key(struct parser *p, const char *value)
{
	return set_abs_path(p, "tls_key", &p->output->tls_key, value);
}

static int set_tls_server_name(struct parser *p, const char *value)
{
	for (const char *c = value; *c; c++)
		if (!isgraph((unsigned char)*c) || *c == '/')
			return fail(p, "%stls_server_name: '%s' is not a host name or address",
				    p->prefix, value);
	if (!value[0] || strlen(value) > 253)
		return fail(p, "%stls_server_name: '%s' is not a host name or address",
			    p->prefix, value);
	return set_string(p, &p->output->tls_server_name, value);
}

const char *rt_direct_io_name(enum rt_direct_io d)
{
	return d == RT_DIRECT_IO_YES ? "yes" : d == RT_DIRECT_IO_NO ? "no" : "auto";
}

static int set_direct_io(struct parser *p, const char *value)
{
	bool b;

	if (!strcasecmp(value, "auto"))
		p->output->direct_io = RT_DIRECT_IO_AUTO;
	else if (rt_parse_bool(value, &b) == 0)
		p->output->direct_io = b ? RT_DIRECT_IO_YES : RT_DIRECT_IO_NO;
	else
		return fail(p, "%sdirect_io: '%s' is not auto, yes or no",
			    p->prefix, value);
	return 0;
}

static int set_zerocopy(struct parser *p, const char *value)
{
	if (rt_parse_bool(value, &p->output->zerocopy) < 0)
		return fail(p, "%szerocopy: '%s' is not yes or no", p->prefix,
			    value);
	return 0;
}

/* ---- [daemon] ---- */

static int set_run_dir(struct parser *p, const char *value)
{
	return set_abs_path(p, "run_dir", &p->cfg->run_dir, value);
}

static const struct key_def trace_keys[] = {
	{ "instance", set_instance, NULL },
	{ "buffer_size_kb", set_buffer_size, NULL },
	{ "subbuf_size_kb", set_subbuf_size, NULL },
	{ "clock", set_clock, NULL },
	{ "buffer_percent", set_buffer_percent, NULL },
	{ "events", set_events, add_event_list },
	{ "flush_interval_ms", set_flush_interval, NULL },
	{ "reader", set_reader, NULL },
};

static const struct key_def event_keys[] = {
	{ "filter", set_filter, add_filter },
};

enum {
	OUT_TYPE,
	OUT_PATH,
	OUT_MAX_FILE_SIZE,
	OUT_MAX_FILES,
	OUT_DIRECT_IO,
	/* socket outputs only, from here on */
	OUT_ADDRESS,
	OUT_QUEUE_SIZE,
	OUT_SPILL_DIR,
	OUT_SPILL_SIZE,
	OUT_RECONNECT_MIN,
	OUT_RECONNECT_MAX,
	OUT_STOP_TIMEOUT,
	OUT_TOKEN_FILE,
	OUT_INSECURE,
	OUT_TLS_CA,
	OUT_TLS_CERT,
	OUT_TLS_KEY,
	OUT_TLS_SERVER_NAME,
	OUT_ZEROCOPY,
	/* nats only, from here on */
	OUT_URL,
	OUT_SUBJECT_PREFIX,
	OUT_STREAM,
	OUT_CREATE_STREAM,
	OUT_STREAM_REPLICAS,
	OUT_STREAM_MAX_BYTES,
	OUT_CREDS_FILE,
	OUT_LAST = OUT_CREDS_FILE,
};
static const struct key_def output_keys[] = {
	[OUT_TYPE] = { "type", set_output_type, NULL },
	[OUT_PATH] = { "path", set_output_path, NULL },
	[OUT_MAX_FILE_SIZE] = { "max_file_size", set_max_file_size, NULL },
	[OUT_MAX_FILES] = { "max_files", set_max_files, NULL },
	[OUT_DIRECT_IO] = { "direct_io", set_direct_io, NULL },
	[OUT_ADDRESS] = { "address", set_address, NULL },
	[OUT_QUEUE_SIZE] = { "queue_size", set_queue_size, NULL },
	[OUT_SPILL_DIR] = { "spill_dir", set_spill_dir, NULL },
	[OUT_SPILL_SIZE] = { "spill_size", set_spill_size, NULL },
	[OUT_RECONNECT_MIN] = { "reconnect_min_ms", set_reconnect_min, NULL },
	[OUT_RECONNECT_MAX] = { "reconnect_max_ms", set_reconnect_max, NULL },
	[OUT_STOP_TIMEOUT] = { "stop_timeout_ms", set_stop_timeout, NULL },
	[OUT_TOKEN_FILE] = { "token_file", set_token_file, NULL },
	[OUT_INSECURE] = { "insecure", set_insecure, NULL },
	[OUT_TLS_CA] = { "tls_ca", set_tls_ca, NULL },
	[OUT_TLS_CERT] = { "tls_cert", set_tls_cert, NULL },
	[OUT_TLS_KEY] = { "tls_key", set_tls_key, NULL },
	[OUT_TLS_SERVER_NAME] = { "tls_server_name", set_tls_server_name, NULL },
	[OUT_ZEROCOPY] = { "zerocopy", set_zerocopy, NULL },
	[OUT_URL] = { "url", set_url, NULL },
	[OUT_SUBJECT_PREFIX] = { "subject_prefix", set_subject_prefix, NULL },
	[OUT_STREAM] = { "stream", set_stream, NULL },
	[OUT_CREATE_STREAM] = { "create_stream", set_create_stream, NULL },
	[OUT_STREAM_REPLICAS] = { "stream_replicas", set_stream_replicas, NULL },
	[OUT_STREAM_MAX_BYTES] = { "stream_max_bytes", set_stream_max_bytes, NULL },
	[OUT_CREDS_FILE] = { "creds_file", set_creds_file, NULL },
};

static const struct key_def daemon_keys[] = {
	{ "run_dir", set_run_dir, NULL },
};

_Static_assert(ARRAY_SIZE(trace_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(ARRAY_SIZE(output_keys) <= MAX_KEYS, "MAX_KEYS");

/* ---- sections ---- */

static void enter(struct parser *p, enum section_kind sec,
		  const struct key_def *keys, size_t nr_keys, int *key_lines)
{
	p->sec = sec;
	p->keys = keys;
	p->nr_keys = nr_keys;
	p->key_lines = key_lines;
}

static int open_event(struct parser *p, const char *name)
{
	struct rt_config *cfg = p->cfg;
	struct rt_event_opts *eo;
	char *system, *event;
	int r;

	r = split_event(p, "event section: ", name, strlen(name), &system,
			&event);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->nr_event_opts; i++) {
		eo = &cfg->event_opts[i];
		if (strcmp(eo->system, system) || strcmp(eo->event, event))
			continue;
		free(system);
		free(event);
		return fail(
			p,
			"duplicate section [event \"%s\"] (first on line %d)",
			name, eo->line);
	}
	if (cfg->nr_event_opts == RT_CONFIG_MAX_EVENTS) {
		free(system);
		free(event);
		return fail(p, "too many [event] sections (at most %d)",
			    RT_CONFIG_MAX_EVENTS);
	}
	eo = &cfg->event_opts[cfg->nr_event_opts];
	eo->system = system;
	eo->event = event;
	eo->line = p->line;
	p->event = eo;
	snprintf(p->prefix, sizeof(p->prefix), "event '%s': ", name);
	snprintf(p->label, sizeof(p->label), "event \"%s\"", name);
	enter(p, SEC_EVENT, event_keys, ARRAY_SIZE(event_keys),
	      p->event_lines[cfg->nr_event_opts++]);
	return 0;
}

static int open_output(struct parser *p, const char *name)
{
	struct rt_config *cfg = p->cfg;
	struct rt_output *o;

	for (size_t i = 0; i < cfg->nr_outputs; i++)
		if (!strcmp(cfg->outputs[i].name, name))
			return fail(p,
				    "duplicate output '%s' (first on line %d)",
				    name, cfg->outputs[i].line);
	if (cfg->nr_outputs == RT_CONFIG_MAX_OUTPUTS)
		return fail(p, "too many outputs (at most %d)",
			    RT_CONFIG_MAX_OUTPUTS);
	o = &cfg->outputs[cfg->nr_outputs];
	o->name = strdup(name);
	if (!o->name)
		return fail_nomem(p);
	o->line = p->line;
	o->queue_size = DEFAULT_QUEUE_SIZE;
	o->spill_size = DEFAULT_SPILL_SIZE;
	o->reconnect_min_ms = DEFAULT_RECONNECT_MIN_MS;
	o->reconnect_max_ms = DEFAULT_RECONNECT_MAX_MS;
	o->stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
	o->stream_replicas = 1;
	p->output = o;
	snprintf(p->prefix, sizeof(p->prefix), "output '%s': ", name);
	snprintf(p->label, sizeof(p->label), "output \"%s\"", name);
	enter(p, SEC_OUTPUT, output_keys, ARRAY_SIZE(output_keys),
	      p->output_lines[cfg->nr_outputs++]);
	return 0;
}

/* [bpf "NAME"]: any keys, kept for ringtapd to check (daemon/bpf.c). */
static int open_bpf(struct parser *p, const char *name)
{
	struct rt_config *cfg = p->cfg;
	struct rt_bpf_section *b;

	for (size_t i = 0; i < cfg->nr_bpf; i++)
		if (!strcmp(cfg->bpf[i].name, name))
			return fail(p,
				    "duplicate section [bpf \"%s\"] (first on line %d)",
				    name, cfg->bpf[i].line);
	if (cfg->nr_bpf == RT_CONFIG_MAX_BPF)
		return fail(p, "too many [bpf] sections (at most %d)",
			    RT_CONFIG_MAX_BPF);
	b = &cfg->bpf[cfg->nr_bpf];
	b->name = strdup(name);
	if (!b->name)
		return fail_nomem(p);
	b->line = p->line;
	cfg->nr_bpf++;
	p->bpf = b;
	snprintf(p->label, sizeof(p->label), "bpf \"%s\"", name);
	enter(p, SEC_BPF, NULL, 0, NULL);
	return 0;
}

static int bpf_key(struct parser *p, const char *name, const char *value)
{
	struct rt_bpf_section *b = p->bpf;
	struct rt_bpf_param *kv;

	for (size_t i = 0; i < b->nr_params; i++)
		if (!strcmp(b->params[i].key, name))
			return fail(p,
				    "duplicate key '%s' in section [%s] (first on line %d)",
				    name, p->label, b->params[i].line);
	if (b->nr_params == RT_BPF_MAX_PARAMS)
		return fail(p, "too many keys in section [%s] (at most %d)",
			    p->label, RT_BPF_MAX_PARAMS);
	kv = &b->params[b->nr_params];
	kv->key = strdup(name);
	kv->value = strdup(value);
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		return fail_nomem(p);
	}
	kv->line = p->line;
	b->nr_params++;
	return 0;
}

/*
 * @hdr: what is between '[' and ']', trimmed: "trace", "daemon",
 * "event \"system:event\"" or "output \"name\"".
 */
static int open_section(struct parser *p, char *hdr)
{
	size_t wlen = strcspn(hdr, " \t\"");
	char *rest = skip_space(hdr + wlen), *name, *q;
	bool named_kind = (wlen == 5 && !strncmp(hdr, "event", 5)) ||
			  (wlen == 6 && !strncmp(hdr, "output", 6)) ||
			  (wlen == 3 && !strncmp(hdr, "bpf", 3));
	bool plain_kind = (wlen == 5 && !strncmp(hdr, "trace", 5)) ||
			  (wlen == 6 && !strncmp(hdr, "daemon", 6));

	p->prefix[0] = '\0';
	snprintf(p->label, sizeof(p->label), "%s", hdr);
	if (!named_kind && !plain_kind)
		return fail(
			p,
			"unknown section [%s] (trace, event \"system:event\", output \"name\", daemon, bpf \"name\")",
			hdr);
	if (plain_kind && *rest)
		return fail(p, "section [%.*s] takes no name", (int)wlen, hdr);
	if (plain_kind && hdr[0] == 't') {
		enter(p, SEC_TRACE, trace_keys, ARRAY_SIZE(trace_keys),
		      p->trace_lines);
		return 0;
	}
	if (plain_kind) {
		enter(p, SEC_DAEMON, daemon_keys, ARRAY_SIZE(daemon_keys),
		      p->daemon_lines);
		return 0;
	}
	if (*rest != '"')
		return fail(
			p,
			"section [%.*s] needs a quoted name: [%.*s \"NAME\"]",
			(int)wlen, hdr, (int)wlen, hdr);
	name = rest + 1;
	q = strchr(name, '"');
	if (!q)
		return fail(p, "section [%s]: missing closing '\"'", hdr);
	if (*skip_space(q + 1))
		return fail(p, "section [%s]: unexpected text after the name",
			    hdr);
	*q = '\0';
	if (!all_chars_in(name, q - name, "_.:*-")) {
		*q = '"';
		return fail(
			p,
			"section [%s]: the name must be non-empty letters, digits, '_', '.', ':', '*', '-'",
			hdr);
	}
	if (hdr[0] == 'b')
		return open_bpf(p, name);
	return hdr[0] == 'e' ? open_event(p, name) : open_output(p, name);
}

/* @s: a section header line from its '['. */
static int section_line(struct parser *p, char *s)
{
	char *end = find_chars_or_comment(s + 1, "]"), *hdr;

	if (*end != ']')
		return fail(p, "missing ']' in section header");
	if (*skip_space(end + 1) && *skip_space(end + 1) != ';')
		return fail(p, "unexpected text after ']'");
	*end = '\0';
	hdr = skip_space(s + 1);
	rstrip(hdr);
	p->sec = SEC_NONE;
	p->event = NULL;
	p->output = NULL;
	p->bpf = NULL;
	return open_section(p, hdr);
}

/*
 * Mirror inih's ini_parse_stream() on @line: comments (blank lines too)
 * change nothing; an indented line after a key continues it; '[' starts a
 * section; anything else must have '=' or ':' before any comment.
 */
static int classify(struct parser *p, char *line)
{
	char *s = skip_space(line), *end;

	p->kind = LINE_OTHER;
	if (!*s || *s == ';' || *s == '#')
		return 0;
	if (s != line && p->have_prev_key) {
		p->kind = LINE_CONT;
		return 0;
	}
	if (*s == '[') {
		p->have_prev_key = false;
		return section_line(p, s);
	}
	end = find_chars_or_comment(s, "=:");
	if (*end != '=' && *end != ':')
		return fail(p,
			    "expected 'key = value', '[section]' or a comment");
	p->kind = LINE_KEY;
	p->have_prev_key = end > s;
	return 0;
}

/* ---- input ---- */

/* Next physical line into p->buf, without its newline: 1, 0 at EOF, -errno */
static int next_line(struct parser *p, size_t *len)
{
	ssize_t n;

	if (p->f) {
		errno = 0;
		n = getline(&p->buf, &p->bufsize, p->f);
		if (n < 0)
			return ferror(p->f) ? (errno ? -errno : -EIO) : 0;
	} else {
		if (!*p->text)
			return 0;
		n = strchrnul(p->text, '\n') - p->text;
		if ((size_t)n + 1 > p->bufsize) {
			char *b = realloc(p->buf, n + 1);

			if (!b)
				return -ENOMEM;
			p->buf = b;
			p->bufsize = n + 1;
		}
		memcpy(p->buf, p->text, n);
		p->buf[n] = '\0';
		p->text += n + (p->text[n] == '\n');
	}
	if (n && p->buf[n - 1] == '\n')
		p->buf[--n] = '\0';
	if (n && p->buf[n - 1] == '\r')
		p->buf[--n] = '\0';
	*len = n;
	return 1;
}

/* The ini_reader: one physical line per call; NULL (end) after an error. */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	char *line;
	size_t len = 0;
	int r;

	if (p->error)
		return NULL;
	r = next_line(p, &len);
	if (r < 0)
		fail_at(p, r, 0, "%s", strerror(-r));
	if (r <= 0)
		return NULL;
	line = p->buf;
	p->line++;
	if (p->line == 1 && !strncmp(line, "\xef\xbb\xbf", 3)) {
		line += 3;
		len -= 3;
	}
	if (strlen(line) != len) {
		fail(p, "NUL byte in line");
		return NULL;
	}
	/* Room for the newline and the terminator. */
	if (num < 2 || len > (size_t)num - 2) {
		fail(p,
		     "line is too long (%zu characters, at most %d; long 'events' and 'filter' values may continue on indented lines)",
		     len, num - 2);
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	if (classify(p, line) < 0)
		return NULL;
	return str;
}

static int on_continuation(struct parser *p, const char *value)
{
	const struct key_def *k = &p->keys[p->prev_key];
	char *more, *end;
	int r;

	/* inih 55 leaves inline comments on continuation lines. */
	more = strdup(value);
	if (!more)
		return fail_nomem(p);
	end = find_chars_or_comment(more, NULL);
	*end = '\0';
	rstrip(more);
	if (!k->add)
		r = fail(
			p,
			"indented line continues the value of '%s' (line %d); only 'events' and 'filter' may span lines (do not indent keys or sections)",
			k->name, p->key_lines[p->prev_key]);
	else
		r = k->add(p, more);
	free(more);
	return r;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parser *p = user;
	size_t i;

	if (p->error)
		return 0;
	if (p->kind == LINE_CONT && p->sec == SEC_BPF)
		return fail(p, "indented line in section [%s]: its values are one line each",
			    p->label) == 0;
	if (p->kind == LINE_CONT && p->sec != SEC_NONE)
		return on_continuation(p, value) == 0;
	if (p->sec == SEC_NONE)
		return fail(p, "key '%s' is outside of any section", name) == 0;
	if (p->sec == SEC_BPF)
		return bpf_key(p, name, value) == 0;
	for (i = 0; i < p->nr_keys; i++)
		if (!strcmp(name, p->keys[i].name))
			break;
	if (i == p->nr_keys)
		return fail(p, "unknown key '%s' in section [%s]", name,
			    p->label) == 0;
	if (p->key_lines[i])
		return fail(p,
			    "duplicate key '%s' in section [%s] (first on line %d)",
			    name, p->label, p->key_lines[i]) == 0;
	p->key_lines[i] = p->line;
	p->prev_key = i;
	return p->keys[i].set(p, value) == 0;
}

/* ---- after parsing: what needs the whole file ---- */

static int check_event_opts(struct parser *p)
{
	struct rt_config *cfg = p->cfg;

	for (size_t i = 0; i < cfg->nr_event_opts; i++) {
		const struct rt_event_opts *eo = &cfg->event_opts[i];
		bool selected = false;

		for (size_t j = 0; j < cfg->nr_events && !selected; j++)
			selected = event_covers(&cfg->events[j], eo->system,
						eo->event);
		if (!selected)
			return fail_at(
				p, -EINVAL, eo->line,
				"section [event \"%s:%s\"]: the event is not selected by 'events' in [trace]",
				eo->system, eo->event);
	}
	return 0;
}

/* tcp: "host:port" or "[v6addr]:port"; unix: a socket path. */
static int check_address(struct parser *p, const struct rt_output *o,
			 int line)
{
	const char *a = o->address, *colon;
	uint64_t port;

	if (o->type == RT_OUTPUT_UNIX) {
		if (!a[0] || strlen(a) >= 108)
			return fail_at(
				p, -EINVAL, line,
				"output '%s': address: '%s' is not a Unix socket path (1 to 107 bytes)",
				o->name, a);
		return 0;
	}
	if (a[0] == '[') {
		const char *close = strchr(a, ']');

		colon = close && close[1] == ':' ? close + 1 : NULL;
		if (colon && close == a + 1)
			colon = NULL;
	} else {
		colon = strrchr(a, ':');
		if (colon && (colon == a || memchr(a, ':', colon - a)))
			colon = NULL; /* empty host, or a v6 address without [] */
	}
	if (!colon || rt_parse_u64(colon + 1, 1, 65535, &port) < 0)
		return fail_at(
			p, -EINVAL, line,
			"output '%s': address: '%s' is not host:port or [ipv6-address]:port (port 1..65535)",
			o->name, a);
	return 0;
}

static bool is_net(const struct rt_output *o)
{
	return o->type == RT_OUTPUT_TCP || o->type == RT_OUTPUT_UNIX ||
	       o->type == RT_OUTPUT_NATS;
}

/* Which output types take output key @k, for messages. */
static const char *key_types(int k)
{
	if (k == OUT_ADDRESS)
		return "types 'tcp' and 'unix'";
	if (k >= OUT_QUEUE_SIZE && k <= OUT_TOKEN_FILE)
		return "types 'tcp', 'unix' and 'nats'";
	if (k >= OUT_INSECURE && k <= OUT_TLS_KEY)
		return "types 'tcp' and 'nats'";
	if (k >= OUT_URL)
		return "type 'nats'";
	return "type 'tcp'";
}

/*
 * type = nats: url is a comma-separated list of nats:// or tls:// URLs.
 * TLS as for tcp (check_tls()): a tls:// URL asks for it, which
 * 'insecure = yes' contradicts.
 */
static int check_nats_output(struct parser *p, struct rt_output *o,
			     const int *lines)
{
	const char *u;

	if (o->type != RT_OUTPUT_NATS) {
		for (int k = OUT_URL; k <= OUT_LAST; k++)
			if (lines[k])
				return fail_at(
					p, -EINVAL, lines[k],
					"output '%s': '%s' is only for type 'nats'",
					o->name, output_keys[k].name);
		return 0;
	}
	if (lines[OUT_ADDRESS])
		return fail_at(p, -EINVAL, lines[OUT_ADDRESS],
			       "output '%s': type 'nats' takes 'url' (nats://HOST:PORT[,...]), not 'address'",
			       o->name);
	if (!o->address)
		return fail_at(p, -EINVAL, o->line,
			       "output '%s': type 'nats' needs 'url' (nats://HOST:PORT or tls://HOST:PORT, comma-separated for a cluster)",
			       o->name);
	for (u = o->address; *u;) {
		size_t n = strcspn(u, ",");
		bool is_tls = !strncmp(u, "tls://", 6);

		if ((strncmp(u, "nats://", 7) && !is_tls) ||
		    n <= (size_t)(is_tls ? 6 : 7) || memchr(u, ' ', n))
			return fail_at(p, -EINVAL, lines[OUT_URL],
				       "output '%s': url: '%.*s' is not nats://HOST:PORT or tls://HOST:PORT",
				       o->name, (int)n, u);
		if (is_tls && o->insecure)
			return fail_at(
				p, -EINVAL, lines[OUT_URL],
				"output '%s': url: '%.*s' asks for TLS, but 'insecure = yes' (line %d) sends plain nats://: remove one of them",
				o->name, (int)n, u, lines[OUT_INSECURE]);
		u += n + (u[n] == ',');
	}
	if (!o->subject_prefix &&
	    !(o->subject_prefix = strdup(DEFAULT_NATS_SUBJECT_PREFIX)))
		return fail_at(p, -ENOMEM, o->line, "out of memory");
	if (!o->stream && !(o->stream = strdup(DEFAULT_NATS_STREAM)))
		return fail_at(p, -ENOMEM, o->line, "out of memory");
	return 0;
}

/* A file the daemon will read: readable now, or an error at @line. */
static int check_readable(struct parser *p, const struct rt_output *o,
			  const char *key, const char *path, int line)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail_at(p, -EINVAL, line, "output '%s': %s: cannot read '%s': %s",
			       o->name, key, path, strerror(errno));
	close(fd);
	return 0;
}

/*
 * tcp and nats: TLS unless insecure = yes.  The files must be readable and
 * usable (PEM, the key matching the certificate) now, not at the first
 * connection.  tls_server_name and zerocopy are tcp's only.
 */
static int check_tls(struct parser *p, const struct rt_output *o,
		     const int *lines)
{
	static const int tls_keys[] = { OUT_TLS_CA, OUT_TLS_CERT, OUT_TLS_KEY,
					OUT_TLS_SERVER_NAME };
	static const int tcp_only[] = { OUT_TLS_SERVER_NAME, OUT_ZEROCOPY };
	char err[512];
	enum rt_tls_file which;
	struct stat st;
	SSL_CTX *ctx;
	int r;

	if (o->type == RT_OUTPUT_UNIX) {
		for (int k = OUT_INSECURE; k <= OUT_ZEROCOPY; k++)
			if (lines[k])
				return fail_at(p, -EINVAL, lines[k],
					       "output '%s': '%s' is only for %s",
					       o->name, output_keys[k].name,
					       key_types(k));
		return 0;
	}
	if (o->type == RT_OUTPUT_NATS)
		for (size_t i = 0; i < ARRAY_SIZE(tcp_only); i++)
			if (lines[tcp_only[i]])
				return fail_at(p, -EINVAL, lines[tcp_only[i]],
					       "output '%s': '%s' is only for type 'tcp'",
					       o->name, output_keys[tcp_only[i]].name);
	if (o->insecure) {
		for (size_t i = 0; i < ARRAY_SIZE(tls_keys); i++)
			if (lines[tls_keys[i]])
				return fail_at(
					p, -EINVAL, lines[tls_keys[i]],
					"output '%s': '%s' is for TLS, but 'insecure = yes' (line %d) sends %s: remove one of them",
					o->name, output_keys[tls_keys[i]].name,
					lines[OUT_INSECURE],
					o->type == RT_OUTPUT_NATS ? "plain nats://" :
								    "plain TCP");
		return 0;
	}
	if (o->zerocopy)
		return fail_at(p, -EINVAL, lines[OUT_ZEROCOPY],
			       "output '%s': 'zerocopy = yes' is only for plain TCP (insecure = yes): TLS encrypts into its own buffers",
			       o->name);
	if (!o->tls_cert != !o->tls_key)
		return fail_at(p, -EINVAL,
			       lines[o->tls_cert ? OUT_TLS_CERT : OUT_TLS_KEY],
			       "output '%s': '%s' needs '%s' too (the client certificate and its private key)",
			       o->name, o->tls_cert ? "tls_cert" : "tls_key",
			       o->tls_cert ? "tls_key" : "tls_cert");
	if (o->type == RT_OUTPUT_NATS && o->tls_ca &&
	    !stat(o->tls_ca, &st) && S_ISDIR(st.st_mode))
		return fail_at(p, -EINVAL, lines[OUT_TLS_CA],
			       "output '%s': tls_ca: '%s' is a directory: a nats output takes a PEM file of CA certificates",
			       o->name, o->tls_ca);
	if ((o->tls_ca && (r = check_readable(p, o, "tls_ca", o->tls_ca,
					      lines[OUT_TLS_CA])) < 0) ||
	    (o->tls_cert && (r = check_readable(p, o, "tls_cert", o->tls_cert,
						lines[OUT_TLS_CERT])) < 0) ||
	    (o->tls_key && (r = check_readable(p, o, "tls_key", o->tls_key,
					       lines[OUT_TLS_KEY])) < 0))
		return r;
	ctx = rt_tls_client_ctx(o->tls_ca, o->tls_cert, o->tls_key, err,
				sizeof(err), &which);
	if (!ctx)
		return fail_at(p, -EINVAL,
			       which == RT_TLS_CA   ? (lines[OUT_TLS_CA] ? lines[OUT_TLS_CA] : o->line) :
			       which == RT_TLS_CERT ? lines[OUT_TLS_CERT] :
						      lines[OUT_TLS_KEY],
			       "output '%s': %s: %s", o->name,
			       which == RT_TLS_CA   ? "tls_ca" :
			       which == RT_TLS_CERT ? "tls_cert" :
						      "tls_key",
			       err);
	SSL_CTX_free(ctx);
	return 0;
}

static int check_net_output(struct parser *p, struct rt_output *o,
			    const int *lines)
{
	static const char *const type_name[] = { "file", "discard", "tcp",
						 "unix", "nats" };
	int r = check_nats_output(p, o, lines);

	if (r < 0)
		return r;
	if (!is_net(o)) {
		for (int k = OUT_ADDRESS; k <= OUT_LAST; k++)
			if (lines[k])
				return fail_at(
					p, -EINVAL, lines[k],
					"output '%s': '%s' is only for %s",
					o->name, output_keys[k].name,
					key_types(k));
		return 0;
	}
	static const int file_only[] = { OUT_PATH, OUT_MAX_FILES, OUT_DIRECT_IO };

	for (size_t i = 0; i < ARRAY_SIZE(file_only); i++) {
		int k = file_only[i];

		if (lines[k])
			return fail_at(
				p, -EINVAL, lines[k],
				"output '%s': '%s' is not allowed for type '%s' (the collector chooses where files go and how many it keeps)",
				o->name, output_keys[k].name, type_name[o->type]);
	}
	if (o->type == RT_OUTPUT_NATS)
		; /* url: check_nats_output() */
	else if (!o->address)
		return fail_at(
			p, -EINVAL, o->line,
			"output '%s': type '%s' needs 'address' (%s)", o->name,
			type_name[o->type],
			o->type == RT_OUTPUT_TCP ? "host:port of ringtap collect" :
						   "the collector's socket path");
	else if ((r = check_address(p, o, lines[OUT_ADDRESS])) < 0)
		return r;
	r = check_tls(p, o, lines);
	if (r < 0)
		return r;
	if (o->reconnect_min_ms > o->reconnect_max_ms)
		return fail_at(
			p, -EINVAL,
			lines[OUT_RECONNECT_MAX] ? lines[OUT_RECONNECT_MAX] :
						   lines[OUT_RECONNECT_MIN],
			"output '%s': reconnect_max_ms (%u) is smaller than reconnect_min_ms (%u)",
			o->name, o->reconnect_max_ms, o->reconnect_min_ms);
	/* the queue must hold a few whole sub-buffers to be of any use */
	if (o->queue_size < 4ull * p->cfg->subbuf_size_kb * 1024)
		return fail_at(
			p, -EINVAL, lines[OUT_QUEUE_SIZE] ? lines[OUT_QUEUE_SIZE] : o->line,
			"output '%s': queue_size is smaller than 4 sub-buffers (subbuf_size_kb = %u)",
			o->name, p->cfg->subbuf_size_kb);
	if (o->spill_size && o->spill_size < 4ull * p->cfg->subbuf_size_kb * 1024)
		return fail_at(
			p, -EINVAL, lines[OUT_SPILL_SIZE],
			"output '%s': spill_size is smaller than 4 sub-buffers (subbuf_size_kb = %u); 0 for no spill",
			o->name, p->cfg->subbuf_size_kb);
	if (!lines[OUT_MAX_FILE_SIZE])
		o->max_file_size = DEFAULT_NET_FILE_SIZE;
	if (!o->spill_dir &&
	    asprintf(&o->spill_dir, DEFAULT_SPILL_ROOT "/%s", o->name) < 0) {
		o->spill_dir = NULL;
		return fail_at(p, -ENOMEM, o->line, "out of memory");
	}
	return 0;
}

static int check_output(struct parser *p, size_t idx)
{
	struct rt_output *o = &p->cfg->outputs[idx];
	const int *lines = p->output_lines[idx];
	uint64_t subbuf = (uint64_t)p->cfg->subbuf_size_kb * 1024;
	int r;

	if (!lines[OUT_TYPE])
		return fail_at(p, -EINVAL, o->line,
			       "output '%s': missing 'type' (file, discard, tcp, unix, nats)",
			       o->name);
	r = check_net_output(p, o, lines);
	if (r < 0)
		return r;
	if (o->type == RT_OUTPUT_FILE && !o->path)
		return fail_at(
			p, -EINVAL, o->line,
			"output '%s': type 'file' needs 'path' (the capture directory)",
			o->name);
	if (o->type == RT_OUTPUT_DISCARD) {
		for (int k = OUT_PATH; k <= OUT_DIRECT_IO; k++)
			if (lines[k])
				return fail_at(
					p, -EINVAL, lines[k],
					"output '%s': '%s' is not allowed for type 'discard'",
					o->name, output_keys[k].name);
	}
	/* Each file holds whole sub-buffers: a smaller limit would give a
	 * file per sub-buffer. */
	if (o->max_file_size && o->max_file_size < subbuf)
		return fail_at(
			p, -EINVAL, lines[OUT_MAX_FILE_SIZE],
			"output '%s': max_file_size is smaller than one sub-buffer (subbuf_size_kb = %u)",
			o->name, p->cfg->subbuf_size_kb);
	return 0;
}

static int check_config(struct parser *p)
{
	int r = check_event_opts(p);

	for (size_t i = 0; !r && i < p->cfg->nr_outputs; i++)
		r = check_output(p, i);
	if (r < 0)
		return r;
	if (!p->cfg->nr_events)
		return fail_at(p, -EINVAL, 0,
			       "no events selected: set 'events' in [trace]");
	if (!p->cfg->nr_outputs)
		return fail_at(p, -EINVAL, 0,
			       "no output: add an [output \"NAME\"] section");
	return 0;
}

/* ---- entry points ---- */

static int set_defaults(struct rt_config *cfg, const char *name)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->path = strdup(name);
	cfg->instance = strdup(DEFAULT_INSTANCE);
	cfg->clock = strdup(DEFAULT_CLOCK);
	cfg->run_dir = strdup(DEFAULT_RUN_DIR);
	cfg->buffer_size_kb = DEFAULT_BUFFER_SIZE_KB;
	cfg->subbuf_size_kb = DEFAULT_SUBBUF_SIZE_KB;
	cfg->buffer_percent = DEFAULT_BUFFER_PERCENT;
	cfg->flush_interval_ms = DEFAULT_FLUSH_INTERVAL_MS;
	cfg->reader = RT_READER_MMAP;
	if (!cfg->path || !cfg->instance || !cfg->clock || !cfg->run_dir)
		return -ENOMEM;
	return 0;
}

static int parse(struct parser *p)
{
	int r;

	r = ini_parse_stream(reader, p, handler, p);
	if (r == -2)
		fail_at(p, -ENOMEM, 0, "out of memory");
	else if (r > 0)
		fail_at(p, -EINVAL, r, "syntax error");
	if (!p->error)
		check_config(p);
	free(p->buf);
	if (p->error)
		rt_config_free(p->cfg);
	return p->error;
}

static int parser_init(struct parser *p, struct rt_config *cfg,
		       const char *name, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->name = name;
	p->err = err;
	p->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (set_defaults(cfg, name) < 0) {
		rt_config_free(cfg);
		return fail_at(p, -ENOMEM, 0, "out of memory");
	}
	return 0;
}

int rt_config_load(struct rt_config *cfg, const char *path, char *err,
		   size_t errlen)
{
	struct parser p;
	int r;

	if (!cfg || !path)
		return -EINVAL;
	r = parser_init(&p, cfg, path, err, errlen);
	if (r < 0)
		return r;
	p.f = fopen(path, "re");
	if (!p.f) {
		r = -errno;
		rt_config_free(cfg);
		return fail_at(&p, r, 0, "%s", strerror(-r));
	}
	r = parse(&p);
	fclose(p.f);
	return r;
}

int rt_config_load_string(struct rt_config *cfg, const char *text,
			  const char *name, char *err, size_t errlen)
{
	struct parser p;
	int r;

	if (!cfg || !text || !name)
		return -EINVAL;
	r = parser_init(&p, cfg, name, err, errlen);
	if (r < 0)
		return r;
	p.text = text;
	return parse(&p);
}

void rt_config_free(struct rt_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->instance);
	free(cfg->clock);
	free(cfg->run_dir);
	for (size_t i = 0; i < cfg->nr_events && i < RT_CONFIG_MAX_EVENTS;
	     i++) {
		free(cfg->events[i].system);
		free(cfg->events[i].event);
	}
	for (size_t i = 0; i < cfg->nr_event_opts && i < RT_CONFIG_MAX_EVENTS;
	     i++) {
		free(cfg->event_opts[i].system);
		free(cfg->event_opts[i].event);
		free(cfg->event_opts[i].filter);
	}
	for (size_t i = 0; i < cfg->nr_outputs && i < RT_CONFIG_MAX_OUTPUTS;
	     i++) {
		free(cfg->outputs[i].name);
		free(cfg->outputs[i].path);
		free(cfg->outputs[i].address);
		free(cfg->outputs[i].spill_dir);
		free(cfg->outputs[i].token_file);
		free(cfg->outputs[i].subject_prefix);
		free(cfg->outputs[i].stream);
		free(cfg->outputs[i].creds_file);
		free(cfg->outputs[i].tls_ca);
		free(cfg->outputs[i].tls_cert);
		free(cfg->outputs[i].tls_key);
		free(cfg->outputs[i].tls_server_name);
	}
	for (size_t i = 0; i < cfg->nr_bpf && i < RT_CONFIG_MAX_BPF; i++) {
		free(cfg->bpf[i].name);
		for (size_t j = 0; j < cfg->bpf[i].nr_params; j++) {
			free(cfg->bpf[i].params[j].key);
			free(cfg->bpf[i].params[j].value);
		}
	}
	memset(cfg, 0, sizeof(*cfg));
}
