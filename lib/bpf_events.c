// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The layouts of the BPF events (include/ringtap/bpf_events.h) as metadata
 * records, and their decoding: ringtapd writes an RT_TAG_BPF_EVENT record
 * per event and RT_TAG_BPF_ENUM records for value names (syscalls, TCP
 * states); `ringtap report` reads them back and prints the events as
 * `ringtap:NAME` with typed fields.  docs/stream-format.md, section 5.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/bpf_events.h"
#include "ringtap/bpf_decode.h"
#include "ringtap/stream_format.h"

#define F(st, fld, ty)                                                     \
	{ #fld, ty, offsetof(struct st, fld),                              \
	  sizeof(((struct st *)0)->fld) }
#define HDR(st)                                                            \
	{ "pid", "u32", offsetof(struct st, h.pid), 4 },                   \
	{ "tgid", "u32", offsetof(struct st, h.tgid), 4 },                 \
	{ "cpu", "u32", offsetof(struct st, h.cpu), 4 },                   \
	{ "ts", "u64", offsetof(struct st, h.ts), 8 },                     \
	{ "comm", "str", offsetof(struct st, h.comm), RT_BPF_COMM_LEN }

static const struct rt_bpf_field_desc exec_fields[] = {
	HDR(rt_bpf_exec), F(rt_bpf_exec, ppid, "u32"),
	F(rt_bpf_exec, filename, "str"),
};
static const struct rt_bpf_field_desc exit_fields[] = {
	HDR(rt_bpf_exit), F(rt_bpf_exit, ppid, "u32"),
	F(rt_bpf_exit, exit_code, "s32"), F(rt_bpf_exit, signal, "u32"),
	F(rt_bpf_exit, lifetime_ns, "u64"),
};
static const struct rt_bpf_field_desc syscall_fields[] = {
	HDR(rt_bpf_syscall), F(rt_bpf_syscall, nr, "u32"),
	{ "name", "enum:syscall", offsetof(struct rt_bpf_syscall, nr), 4 },
	F(rt_bpf_syscall, ret, "s64"), F(rt_bpf_syscall, duration_ns, "u64"),
};
static const struct rt_bpf_field_desc runq_fields[] = {
	HDR(rt_bpf_runq), F(rt_bpf_runq, latency_ns, "u64"),
	F(rt_bpf_runq, prev_pid, "u32"), F(rt_bpf_runq, prev_comm, "str"),
};
static const struct rt_bpf_field_desc tcp_fields[] = {
	HDR(rt_bpf_tcp), F(rt_bpf_tcp, family, "enum:af"),
	F(rt_bpf_tcp, saddr, "ipaddr"), F(rt_bpf_tcp, sport, "u16"),
	F(rt_bpf_tcp, daddr, "ipaddr"), F(rt_bpf_tcp, dport, "u16"),
	F(rt_bpf_tcp, oldstate, "enum:tcp_state"),
	F(rt_bpf_tcp, newstate, "enum:tcp_state"),
};
static const struct rt_bpf_field_desc tcp_rt_fields[] = {
	HDR(rt_bpf_tcp), F(rt_bpf_tcp, family, "enum:af"),
	F(rt_bpf_tcp, saddr, "ipaddr"), F(rt_bpf_tcp, sport, "u16"),
	F(rt_bpf_tcp, daddr, "ipaddr"), F(rt_bpf_tcp, dport, "u16"),
	{ "state", "enum:tcp_state", offsetof(struct rt_bpf_tcp, oldstate), 4 },
};
static const struct rt_bpf_field_desc block_fields[] = {
	HDR(rt_bpf_block), F(rt_bpf_block, dev, "dev"),
	F(rt_bpf_block, sector, "u64"), F(rt_bpf_block, bytes, "u32"),
	F(rt_bpf_block, op, "str"), F(rt_bpf_block, latency_ns, "u64"),
	F(rt_bpf_block, error, "s32"),
};
static const struct rt_bpf_field_desc bench_fields[] = {
	HDR(rt_bpf_bench), F(rt_bpf_bench, seq, "u64"),
};

static const struct rt_bpf_field_desc stats_fields[] = {
	{ "cpu", "u32", offsetof(struct rt_bpf_stats, h.cpu), 4 },
	F(rt_bpf_stats, section, "str"),
	F(rt_bpf_stats, seen, "u64"), F(rt_bpf_stats, emitted, "u64"),
	F(rt_bpf_stats, dropped, "u64"), F(rt_bpf_stats, lost_write, "u64"),
};

#define EV(id_, name_, st, f)                                              \
	{ id_, name_, sizeof(struct st), f, sizeof(f) / sizeof(f[0]) }
const struct rt_bpf_event_desc rt_bpf_event_descs[] = {
	EV(RT_BPF_EV_EXEC, "exec", rt_bpf_exec, exec_fields),
	EV(RT_BPF_EV_EXIT, "exit", rt_bpf_exit, exit_fields),
	EV(RT_BPF_EV_SYSCALL, "syscall_latency", rt_bpf_syscall, syscall_fields),
	EV(RT_BPF_EV_RUNQ, "runqueue_latency", rt_bpf_runq, runq_fields),
	EV(RT_BPF_EV_TCP_STATE, "tcp_state", rt_bpf_tcp, tcp_fields),
	EV(RT_BPF_EV_TCP_RETRANSMIT, "tcp_retransmit", rt_bpf_tcp, tcp_rt_fields),
	EV(RT_BPF_EV_BLOCK, "block_latency", rt_bpf_block, block_fields),
	EV(RT_BPF_EV_BENCH, "bench", rt_bpf_bench, bench_fields),
	EV(RT_BPF_EV_STATS, "bpf_stats", rt_bpf_stats, stats_fields),
};
const size_t rt_bpf_nr_event_descs =
	sizeof(rt_bpf_event_descs) / sizeof(rt_bpf_event_descs[0]);

static const char *const tcp_states[] = {
	[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV",
	[4] = "FIN_WAIT1", [5] = "FIN_WAIT2", [6] = "TIME_WAIT",
	[7] = "CLOSE", [8] = "CLOSE_WAIT", [9] = "LAST_ACK",
	[10] = "LISTEN", [11] = "CLOSING", [12] = "NEW_SYN_RECV",
	[13] = "BOUND_INACTIVE",
};
static const char *const families[] = { [2] = "AF_INET", [10] = "AF_INET6" };

/* ---- writing (ringtapd) ---- */

static int add_enum(struct rt_buf *b, const char *name,
		    const char *const *names, size_t nr)
{
	size_t sz = 64;
	char *t, *p;
	int r;

	for (size_t i = 0; i < nr; i++)
		if (names[i])
			sz += strlen(names[i]) + 16;
	t = malloc(sz);
	if (!t)
		return -ENOMEM;
	p = t + sprintf(t, "enum %s\n", name);
	for (size_t i = 0; i < nr; i++)
		if (names[i])
			p += sprintf(p, "%zu %s\n", i, names[i]);
	r = rt_record_add(b, RT_TAG_BPF_ENUM, t, p - t);
	free(t);
	return r;
}

int rt_bpf_metadata_add_event(struct rt_buf *b,
			      const struct rt_bpf_event_desc *e)
{
	char *t;
	size_t sz = 64 + strlen(e->name), n;
	int r;

	for (size_t j = 0; j < e->nr_fields; j++)
		sz += strlen(e->fields[j].name) + strlen(e->fields[j].type) + 40;
	t = malloc(sz);
	if (!t)
		return -ENOMEM;
	n = snprintf(t, sz, "id %u\nname %s\nsize %zu\n", e->id, e->name,
		     e->size);
	for (size_t j = 0; j < e->nr_fields; j++)
		n += snprintf(t + n, sz - n, "field %s %s %u %u\n",
			      e->fields[j].name, e->fields[j].type,
			      e->fields[j].offset, e->fields[j].size);
	r = rt_record_add(b, RT_TAG_BPF_EVENT, t, n);
	free(t);
	return r;
}

int rt_bpf_metadata_add_enum(struct rt_buf *b, const char *name,
			     const uint64_t *vals, const char *const *names,
			     size_t nr)
{
	size_t sz = 64 + strlen(name), n;
	char *t;
	int r;

	for (size_t i = 0; i < nr; i++)
		sz += strlen(names[i]) + 24;
	t = malloc(sz);
	if (!t)
		return -ENOMEM;
	n = snprintf(t, sz, "enum %s\n", name);
	for (size_t i = 0; i < nr; i++)
		n += snprintf(t + n, sz - n, "%" PRIu64 " %s\n", vals[i],
			      names[i]);
	r = rt_record_add(b, RT_TAG_BPF_ENUM, t, n);
	free(t);
	return r;
}

int rt_bpf_metadata_add(struct rt_buf *b, const char *const *syscalls,
			size_t nr_syscalls)
{
	int r;

	for (size_t i = 0; i < rt_bpf_nr_event_descs; i++) {
		r = rt_bpf_metadata_add_event(b, &rt_bpf_event_descs[i]);
		if (r < 0)
			return r;
	}
	r = add_enum(b, "tcp_state", tcp_states,
		     sizeof(tcp_states) / sizeof(tcp_states[0]));
	if (!r)
		r = add_enum(b, "af", families,
			     sizeof(families) / sizeof(families[0]));
	if (!r && syscalls)
		r = add_enum(b, "syscall", syscalls, nr_syscalls);
	return r;
}

/* ---- reading (ringtap report) ---- */

enum ftype { T_U, T_S, T_STR, T_IPADDR, T_DEV, T_ENUM, T_HEX };

struct field {
	char name[64];
	enum ftype type;
	int enum_idx; /* T_ENUM: index in dec->enums, -1 unknown */
	char enum_name[64];
	uint32_t offset, size;
};

struct rt_bpf_event {
	uint32_t id;
	char name[64];
	char full[80]; /* ringtap:NAME */
	struct field *fields;
	size_t nr_fields;
};

struct enum_val {
	uint64_t v;
	char *name;
};

struct enumt {
	char name[64];
	struct enum_val *vals;
	size_t nr;
};

struct rt_bpf_decoder {
	struct rt_bpf_event *events;
	size_t nr_events;
	struct enumt *enums;
	size_t nr_enums;
};

void rt_bpf_decoder_free(struct rt_bpf_decoder *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr_events; i++)
		free(d->events[i].fields);
	for (size_t i = 0; i < d->nr_enums; i++) {
		for (size_t j = 0; j < d->enums[i].nr; j++)
			free(d->enums[i].vals[j].name);
		free(d->enums[i].vals);
	}
	free(d->events);
	free(d->enums);
	free(d);
}

/* The next line of [*p, end) into @line (NUL-terminated, cut to size). */
static bool next_line(const char **p, const char *end, char *line, size_t size)
{
	const char *nl;
	size_t n;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', end - *p);
	if (!nl)
		nl = end;
	n = nl - *p;
	if (n >= size)
		n = size - 1;
	memcpy(line, *p, n);
	line[n] = 0;
	*p = nl + (nl < end);
	return true;
}

static int parse_type(const char *t, struct field *f)
{
	static const struct { const char *n; enum ftype t; } types[] = {
		{ "u8", T_U }, { "u16", T_U }, { "u32", T_U }, { "u64", T_U },
		{ "s8", T_S }, { "s16", T_S }, { "s32", T_S }, { "s64", T_S },
		{ "str", T_STR }, { "ipaddr", T_IPADDR }, { "dev", T_DEV },
		{ "hex", T_HEX },
	};

	f->enum_idx = -1;
	if (!strncmp(t, "enum:", 5)) {
		f->type = T_ENUM;
		snprintf(f->enum_name, sizeof(f->enum_name), "%s", t + 5);
		return 0;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(t, types[i].n)) {
			f->type = types[i].t;
			return 0;
		}
	return -EINVAL;
}

static bool size_ok(const struct field *f)
{
	switch (f->type) {
	case T_U: case T_S: case T_DEV: case T_ENUM:
		return f->size == 1 || f->size == 2 || f->size == 4 ||
		       f->size == 8;
	case T_IPADDR:
		return f->size == 16;
	case T_HEX:
		return f->size > 0 && f->size <= 512;
	default:
		return f->size > 0 && f->size <= 4096;
	}
}

static int add_event(struct rt_bpf_decoder *d, const char *p, const char *end)
{
	struct rt_bpf_event ev = { 0 }, *n;
	char line[256];

	while (next_line(&p, end, line, sizeof(line))) {
		struct field f = { 0 }, *nf;
		char type[64];
		unsigned int id;

		if (sscanf(line, "id %u", &id) == 1) {
			ev.id = id;
		} else if (!strncmp(line, "name ", 5)) {
			snprintf(ev.name, sizeof(ev.name), "%.63s", line + 5);
		} else if (sscanf(line, "field %63s %63s %u %u", f.name, type,
				  &f.offset, &f.size) == 4) {
			/* an unknown type or absurd size: the field is left out */
			if (parse_type(type, &f) < 0 || !size_ok(&f) ||
			    f.offset > 65536)
				continue;
			nf = realloc(ev.fields, (ev.nr_fields + 1) * sizeof(f));
			if (!nf) {
				free(ev.fields);
				return -ENOMEM;
			}
			ev.fields = nf;
			ev.fields[ev.nr_fields++] = f;
		}
	}
	/* a later file's copy of a known event changes nothing */
	if (!ev.id || !ev.name[0] || rt_bpf_decoder_find(d, ev.id)) {
		free(ev.fields);
		return 0;
	}
	snprintf(ev.full, sizeof(ev.full), "ringtap:%s", ev.name);
	n = realloc(d->events, (d->nr_events + 1) * sizeof(*n));
	if (!n) {
		free(ev.fields);
		return -ENOMEM;
	}
	d->events = n;
	d->events[d->nr_events++] = ev;
	return 0;
}

static int add_enum_rec(struct rt_bpf_decoder *d, const char *p,
			const char *end)
{
	struct enumt e = { 0 }, *n;
	char line[256];

	if (!next_line(&p, end, line, sizeof(line)) ||
	    sscanf(line, "enum %63s", e.name) != 1)
		return 0;
	for (size_t i = 0; i < d->nr_enums; i++)
		if (!strcmp(d->enums[i].name, e.name))
			return 0;
	while (next_line(&p, end, line, sizeof(line))) {
		char name[128];
		uint64_t v;
		struct enum_val *nv;

		if (sscanf(line, "%" SCNu64 " %127s", &v, name) != 2)
			continue;
		nv = realloc(e.vals, (e.nr + 1) * sizeof(*nv));
		if (!nv)
			goto oom;
		e.vals = nv;
		e.vals[e.nr].v = v;
		e.vals[e.nr].name = strdup(name);
		if (!e.vals[e.nr++].name)
			goto oom;
	}
	n = realloc(d->enums, (d->nr_enums + 1) * sizeof(*n));
	if (!n)
		goto oom;
	d->enums = n;
	d->enums[d->nr_enums++] = e;
	return 0;
oom:
	for (size_t i = 0; i < e.nr; i++)
		free(e.vals[i].name);
	free(e.vals);
	return -ENOMEM;
}

int rt_bpf_decoder_add(struct rt_bpf_decoder **dp, uint16_t tag,
		       const uint8_t *val, uint32_t len)
{
	const char *p = (const char *)val, *end = p + len;

	if (tag != RT_TAG_BPF_EVENT && tag != RT_TAG_BPF_ENUM)
		return 0;
	if (!*dp) {
		*dp = calloc(1, sizeof(**dp));
		if (!*dp)
			return -ENOMEM;
	}
	return tag == RT_TAG_BPF_EVENT ? add_event(*dp, p, end) :
					 add_enum_rec(*dp, p, end);
}

const struct rt_bpf_event *rt_bpf_decoder_find(const struct rt_bpf_decoder *d,
					       uint32_t id)
{
	for (size_t i = 0; d && i < d->nr_events; i++)
		if (d->events[i].id == id)
			return &d->events[i];
	return NULL;
}

size_t rt_bpf_decoder_count(const struct rt_bpf_decoder *d)
{
	return d ? d->nr_events : 0;
}

const struct rt_bpf_event *rt_bpf_decoder_event(const struct rt_bpf_decoder *d,
						size_t i)
{
	return d && i < d->nr_events ? &d->events[i] : NULL;
}

size_t rt_bpf_event_index(const struct rt_bpf_decoder *d,
			  const struct rt_bpf_event *ev)
{
	return ev - d->events;
}

const char *rt_bpf_event_name(const struct rt_bpf_event *ev)
{
	return ev->full;
}

static uint64_t get_u(const uint8_t *p, uint32_t size)
{
	uint8_t b1;
	uint16_t b2;
	uint32_t b4;
	uint64_t b8;

	switch (size) {
	case 1: memcpy(&b1, p, 1); return b1;
	case 2: memcpy(&b2, p, 2); return b2;
	case 4: memcpy(&b4, p, 4); return b4;
	default: memcpy(&b8, p, 8); return b8;
	}
}

static int64_t get_s(const uint8_t *p, uint32_t size)
{
	int shift = 64 - 8 * (int)size;

	return (int64_t)(get_u(p, size) << shift) >> shift;
}

static const char *enum_name(const struct rt_bpf_decoder *d, struct field *f,
			     uint64_t v)
{
	if (f->enum_idx < 0) {
		for (size_t i = 0; i < d->nr_enums; i++)
			if (!strcmp(d->enums[i].name, f->enum_name))
				f->enum_idx = (int)i;
		if (f->enum_idx < 0)
			return NULL;
	}
	for (size_t i = 0; i < d->enums[f->enum_idx].nr; i++)
		if (d->enums[f->enum_idx].vals[i].v == v)
			return d->enums[f->enum_idx].vals[i].name;
	return NULL;
}

static void ip_str(const uint8_t *a, char *buf, size_t size)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (!memcmp(a, mapped, 12))
		inet_ntop(AF_INET, a + 12, buf, size);
	else
		inet_ntop(AF_INET6, a, buf, size);
}

/* One field's value: false when the event is too short to hold it. */
static bool field_value(const struct rt_bpf_decoder *d, struct field *f,
			const uint8_t *data, size_t len, char *buf,
			size_t size, bool *is_num, const char **str,
			size_t *str_len)
{
	const uint8_t *p = data + f->offset;
	uint64_t v;
	const char *n;

	if ((size_t)f->offset + f->size > len)
		return false;
	*is_num = false;
	*str = buf;
	switch (f->type) {
	case T_U:
		snprintf(buf, size, "%" PRIu64, get_u(p, f->size));
		*is_num = true;
		break;
	case T_S:
		snprintf(buf, size, "%" PRId64, get_s(p, f->size));
		*is_num = true;
		break;
	case T_STR:
		*str = (const char *)p;
		*str_len = strnlen(*str, f->size);
		return true;
	case T_IPADDR:
		ip_str(p, buf, size);
		break;
	case T_HEX: /* the bytes in order, two digits each (size_ok: 512) */
		for (uint32_t i = 0; i < f->size && 2 * i + 2 < size; i++)
			snprintf(buf + 2 * i, 3, "%02x", p[i]);
		break;
	case T_DEV:
		v = get_u(p, f->size);
		snprintf(buf, size, "%" PRIu64 ":%" PRIu64, v >> 20, v & 0xfffff);
		break;
	case T_ENUM:
		v = get_u(p, f->size);
		n = enum_name(d, f, v);
		if (n)
			snprintf(buf, size, "%s", n);
		else
			snprintf(buf, size, "%" PRIu64, v);
		break;
	}
	*str_len = strlen(buf);
	return true;
}

void rt_bpf_print_text(const struct rt_bpf_decoder *d,
		       const struct rt_bpf_event *cev, const uint8_t *data,
		       size_t len, FILE *out)
{
	struct rt_bpf_event *ev = (struct rt_bpf_event *)cev;
	char buf[1040]; /* T_HEX: 512 bytes */

	fprintf(out, "%s:", ev->full);
	for (size_t i = 0; i < ev->nr_fields; i++) {
		const char *s;
		size_t sl;
		bool num;

		if (!field_value(d, &ev->fields[i], data, len, buf, sizeof(buf),
				 &num, &s, &sl))
			continue;
		fprintf(out, " %s=%.*s", ev->fields[i].name, (int)sl, s);
	}
}

void rt_bpf_print_json(const struct rt_bpf_decoder *d,
		       const struct rt_bpf_event *cev, const uint8_t *data,
		       size_t len, FILE *out,
		       void (*put_str)(FILE *o, const void *s, size_t len))
{
	struct rt_bpf_event *ev = (struct rt_bpf_event *)cev;
	bool first = true;
	char buf[1040];

	for (size_t i = 0; i < ev->nr_fields; i++) {
		const char *s;
		size_t sl;
		bool num;

		if (!field_value(d, &ev->fields[i], data, len, buf, sizeof(buf),
				 &num, &s, &sl))
			continue;
		if (!first)
			putc(',', out);
		first = false;
		put_str(out, ev->fields[i].name, strlen(ev->fields[i].name));
		putc(':', out);
		if (num)
			fputs(buf, out);
		else
			put_str(out, s, sl);
	}
}

bool rt_bpf_event_task(const struct rt_bpf_event *ev, const uint8_t *data,
		       size_t len, int *pid, char *comm, size_t comm_size)
{
	if (len < sizeof(struct rt_bpf_hdr))
		return false;
	*pid = (int)get_u(data + offsetof(struct rt_bpf_hdr, pid), 4);
	snprintf(comm, comm_size, "%.*s", RT_BPF_COMM_LEN,
		 (const char *)data + offsetof(struct rt_bpf_hdr, comm));
	return true;
}
