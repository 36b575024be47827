// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtapd's BPF programs: the built-in ones (bpf/NAME.bpf.c, through their
 * skeletons) and external objects.  Every program writes its events into
 * one BPF ring buffer (the `rt_events` map of each object is replaced by
 * ours before load); a thread drains it into the instance's
 * trace_marker_raw, one write per event, so that the events land in the
 * per-CPU ring buffers as ftrace:raw_data events whose id says which BPF
 * event they are (docs/bpf.md explains the choice of this route).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <tracefs.h>

#include "ringtap/bpf_decode.h"
#include "ringtap/bpf_events.h"
#include "ringtap/config.h"
#include "ringtap/log.h"
#include "ringtapd.h"
#include "bpf.h"

#include "exec.skel.h"
#include "syscall_latency.skel.h"
#include "runqueue_latency.skel.h"
#include "tcp.skel.h"
#include "block_latency.skel.h"
#include "bench.skel.h"

static const char *const syscall_names[] = {
#include "syscall_names.h"
};
#define NR_SYSCALL_NAMES (sizeof(syscall_names) / sizeof(syscall_names[0]))

/* How often the drain thread looks for events nobody woke it for: the
 * longest an event waits before it is written into the instance. */
#define RT_BPF_DRAIN_MS 10

/* The shared ring buffer: events of every program, until drained. */
#define RING_SIZE (4u << 20)

/* A section's parameters once checked. */
struct params {
	const struct builtin *b; /* NULL: object */
	const char *object;
	bool optional;
	uint32_t tgid;
	uint64_t cgroup;
	char comm[RT_BPF_COMM_LEN];
	uint64_t min_ns;
	int32_t nr;
	uint32_t dev;
	uint16_t port;
	bool printk;
};

/* A built-in program: its skeleton's functions and parameters. */
struct builtin {
	const char *name;
	const char *keys; /* parameters beyond the common ones */
	uint64_t default_min_us;
	void *(*open)(void);
	struct bpf_object *(*obj)(void *skel);
	void (*set)(void *skel, const struct params *p);
	int (*attach)(void *skel);
	void (*destroy)(void *skel);
	void (*detach)(void *skel);
	struct bpf_map *(*ring)(void *skel);
	struct bpf_map *(*stats)(void *skel);
};

#define SKEL_OPS(n)                                                          \
	static void *n##_open(void) { return n##_bpf__open(); }              \
	static struct bpf_object *n##_obj(void *s)                           \
	{                                                                    \
		return ((struct n##_bpf *)s)->obj;                           \
	}                                                                    \
	static int n##_attach(void *s) { return n##_bpf__attach(s); }        \
	static void n##_destroy(void *s) { n##_bpf__destroy(s); }            \
	static void n##_detach(void *s) { n##_bpf__detach(s); }              \
	static struct bpf_map *n##_ring(void *s)                             \
	{                                                                    \
		return ((struct n##_bpf *)s)->maps.rt_events;                \
	}                                                                    \
	static struct bpf_map *n##_stats(void *s)                            \
	{                                                                    \
		return ((struct n##_bpf *)s)->maps.rt_stats;                 \
	}                                                                    \
	/* the filters every program has (bpf/ringtap.bpf.h) */              \
	static void n##_common(struct n##_bpf *k, const struct params *p)    \
	{                                                                    \
		k->rodata->rt_filter_tgid = p->tgid;                         \
		k->rodata->rt_filter_cgroup = p->cgroup;                     \
		memcpy((char *)k->rodata->rt_filter_comm, p->comm,           \
		       sizeof(p->comm));                                     \
	}

SKEL_OPS(exec)
SKEL_OPS(syscall_latency)
SKEL_OPS(runqueue_latency)
SKEL_OPS(tcp)
SKEL_OPS(block_latency)
SKEL_OPS(bench)

static void exec_set(void *s, const struct params *p)
{
	exec_common(s, p);
}

static void syscall_latency_set(void *s, const struct params *p)
{
	struct syscall_latency_bpf *k = s;

	syscall_latency_common(k, p);
	k->rodata->min_ns = p->min_ns;
	k->rodata->filter_nr = p->nr;
}

static void runqueue_latency_set(void *s, const struct params *p)
{
	struct runqueue_latency_bpf *k = s;

	runqueue_latency_common(k, p);
	k->rodata->min_ns = p->min_ns;
}

static void tcp_set(void *s, const struct params *p)
{
	struct tcp_bpf *k = s;

	tcp_common(k, p);
	k->rodata->filter_port = p->port;
}

static void block_latency_set(void *s, const struct params *p)
{
	struct block_latency_bpf *k = s;

	block_latency_common(k, p);
	k->rodata->min_ns = p->min_ns;
	k->rodata->filter_dev = p->dev;
}

static void bench_set(void *s, const struct params *p)
{
	struct bench_bpf *k = s;

	bench_common(k, p);
	bpf_program__set_autoload(k->progs.rt_bench_printk, p->printk);
	bpf_program__set_autoload(k->progs.rt_bench_ringbuf, !p->printk);
}

#define BUILTIN(n, keys_, min_us)                                            \
	{ #n, keys_, min_us, n##_open, n##_obj, n##_set, n##_attach,         \
	  n##_destroy, n##_detach, n##_ring, n##_stats }
static const struct builtin builtins[] = {
	BUILTIN(exec, "", 0),
	BUILTIN(syscall_latency, "min_us syscall", 10000),
	BUILTIN(runqueue_latency, "min_us", 10000),
	BUILTIN(tcp, "port", 0),
	BUILTIN(block_latency, "min_us dev", 1000),
	BUILTIN(bench, "route", 0),
};
#define NR_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

/* One loaded section. */
struct prog {
	char *name; /* section name */
	struct params p;
	void *skel; /* built-in */
	struct bpf_object *obj;
	struct bpf_link **links; /* external object */
	size_t nr_links;
	int stats_fd;
};

static struct {
	struct prog *progs;
	size_t nr_progs;
	int ring_fd;
	struct ring_buffer *rb;
	int marker_fd; /* the instance's trace_marker_raw */
	int stop_fd;
	pthread_t thread;
	bool running;
	atomic_uint_fast64_t written, lost_write;
	/* the top-level instance's bpf_trace_printk enable, as found */
	char printk_enable_path[512];
	int printk_enable_was; /* -1: unknown */
	bool printk_used; /* a loaded program calls bpf_trace_(v)printk */
} bpf = { .ring_fd = -1, .marker_fd = -1, .stop_fd = -1,
	  .printk_enable_was = -1 };

/* ---- parameters ---- */

static const struct builtin *find_builtin(const char *name)
{
	for (size_t i = 0; i < NR_BUILTINS; i++)
		if (!strcmp(builtins[i].name, name))
			return &builtins[i];
	return NULL;
}

static bool key_in(const char *key, const char *list)
{
	size_t n = strlen(key);

	for (const char *p = list; (p = strstr(p, key)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

static int parse_u(const char *path, const struct rt_bpf_param *kv,
		   uint64_t max, uint64_t *ret)
{
	if (rt_parse_u64(kv->value, 0, max, ret) < 0) {
		log_err("%s:%d: %s: '%s' is not a number in 0..%llu", path,
			kv->line, kv->key, kv->value, (unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified
 * on a hybrid system, as /proc/self/mounts says. */
static void cgroup2_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[4096], dir[4096], type[64];

	snprintf(buf, size, "/sys/fs/cgroup");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s %63s", dir, type) == 2 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(buf, size, "%s", dir);
			break;
		}
	fclose(f);
}

static int parse_param(const char *path, const struct rt_bpf_section *s,
		       const struct rt_bpf_param *kv, struct params *p)
{
	const char *k = kv->key, *v = kv->value;
	uint64_t n;
	struct stat st;

	if (!strcmp(k, "program") || !strcmp(k, "object"))
		return 0;
	if (!strcmp(k, "optional")) {
		if (rt_parse_bool(v, &p->optional) < 0) {
			log_err("%s:%d: optional: expected yes or no, not '%s'",
				path, kv->line, v);
			return -EINVAL;
		}
		return 0;
	}
	/* tcp's events happen in softirq context as often as not: the
	 * current task says nothing about the connection */
	if (p->b && !strcmp(p->b->name, "tcp") &&
	    (!strcmp(k, "pid") || !strcmp(k, "comm") || !strcmp(k, "cgroup"))) {
		log_err("%s:%d: %s: program tcp has no pid, comm or cgroup filter (its events happen in softirq context); it takes port",
			path, kv->line, k);
		return -EINVAL;
	}
	if (!strcmp(k, "pid")) {
		if (parse_u(path, kv, INT32_MAX, &n) < 0)
			return -EINVAL;
		p->tgid = n;
		return 0;
	}
	if (!strcmp(k, "comm")) {
		if (!*v || strlen(v) >= RT_BPF_COMM_LEN) {
			log_err("%s:%d: comm: '%s' must be 1 to %d characters (the kernel's comm)",
				path, kv->line, v, RT_BPF_COMM_LEN - 1);
			return -EINVAL;
		}
		strncpy(p->comm, v, sizeof(p->comm) - 1);
		return 0;
	}
	if (!strcmp(k, "cgroup")) {
		char dir[8200], mnt[4096];
		struct statfs sfs;

		cgroup2_mount(mnt, sizeof(mnt));
		snprintf(dir, sizeof(dir), "%s%s%s", *v == '/' ? "" : mnt,
			 *v == '/' ? "" : "/", v);
		if (stat(dir, &st) < 0) {
			log_err("%s:%d: cgroup: '%s': %m", path, kv->line, dir);
			return -EINVAL;
		}
		if (!S_ISDIR(st.st_mode)) {
			log_err("%s:%d: cgroup: '%s' is not a directory",
				path, kv->line, dir);
			return -EINVAL;
		}
		/* bpf_get_current_cgroup_id() is the task's cgroup v2 id:
		 * a cgroup v1 directory would match nothing */
		if (statfs(dir, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
			log_err("%s:%d: cgroup: '%s' is not on a cgroup v2 file system (cgroup v2 is mounted at %s)",
				path, kv->line, dir, mnt);
			return -EINVAL;
		}
		p->cgroup = st.st_ino; /* the cgroup id on cgroup v2 */
		return 0;
	}
	if (!p->b || !key_in(k, p->b->keys)) {
		log_err("%s:%d: unknown key '%s' in section [bpf \"%s\"] (%s%s%s takes program or object, optional, pid, comm, cgroup%s%s)",
			path, kv->line, k, s->name,
			p->b ? "program " : "an object", p->b ? p->b->name : "",
			"", p->b && *p->b->keys ? ", " : "",
			p->b ? p->b->keys : "");
		return -EINVAL;
	}
	if (!strcmp(k, "min_us")) {
		if (parse_u(path, kv, UINT64_MAX / 1000, &n) < 0)
			return -EINVAL;
		p->min_ns = n * 1000;
	} else if (!strcmp(k, "syscall")) {
		p->nr = -1;
		for (size_t i = 0; i < NR_SYSCALL_NAMES; i++)
			if (syscall_names[i] && !strcmp(syscall_names[i], v))
				p->nr = i;
		if (p->nr < 0 && rt_parse_u64(v, 0, 4095, &n) == 0)
			p->nr = n;
		if (p->nr < 0) {
			log_err("%s:%d: syscall: '%s' is neither a system call name of this architecture nor a number",
				path, kv->line, v);
			return -EINVAL;
		}
	} else if (!strcmp(k, "port")) {
		if (parse_u(path, kv, 65535, &n) < 0)
			return -EINVAL;
		p->port = n;
	} else if (!strcmp(k, "dev")) {
		unsigned int maj, min;
		char c;

		if (sscanf(v, "%u:%u%c", &maj, &min, &c) != 2 || maj > 4095 ||
		    min > 0xfffff) {
			log_err("%s:%d: dev: expected MAJOR:MINOR (as in /proc/partitions), not '%s'",
				path, kv->line, v);
			return -EINVAL;
		}
		p->dev = maj << 20 | min;
	} else if (!strcmp(k, "route")) {
		if (strcmp(v, "ringbuf") && strcmp(v, "printk")) {
			log_err("%s:%d: route: expected ringbuf or printk, not '%s'",
				path, kv->line, v);
			return -EINVAL;
		}
		p->printk = !strcmp(v, "printk");
	}
	return 0;
}

static const char *get(const struct rt_bpf_section *s, const char *key,
		       int *line)
{
	for (size_t i = 0; i < s->nr_params; i++)
		if (!strcmp(s->params[i].key, key)) {
			*line = s->params[i].line;
			return s->params[i].value;
		}
	return NULL;
}

static int parse_section(const char *path, const struct rt_bpf_section *s,
			 struct params *p)
{
	int pl = 0, ol = 0;
	const char *prog = get(s, "program", &pl), *obj = get(s, "object", &ol);
	char names[256] = "";

	memset(p, 0, sizeof(*p));
	p->nr = -1;
	if (!prog == !obj) {
		log_err("%s:%d: section [bpf \"%s\"] needs one of 'program = NAME' or 'object = PATH'",
			path, prog ? ol : s->line, s->name);
		return -EINVAL;
	}
	if (prog) {
		p->b = find_builtin(prog);
		if (!p->b) {
			for (size_t i = 0; i < NR_BUILTINS; i++)
				snprintf(names + strlen(names),
					 sizeof(names) - strlen(names), "%s%s",
					 i ? ", " : "", builtins[i].name);
			log_err("%s:%d: program: unknown program '%s' (built-in: %s)",
				path, pl, prog, names);
			return -EINVAL;
		}
		p->min_ns = p->b->default_min_us * 1000;
	} else {
		if (access(obj, R_OK) < 0) {
			log_err("%s:%d: object: cannot read '%s': %m", path, ol,
				obj);
			return -EINVAL;
		}
		p->object = obj;
	}
	for (size_t i = 0; i < s->nr_params; i++)
		if (parse_param(path, s, &s->params[i], p) < 0)
			return -EINVAL;
	return 0;
}

/* ---- external objects' event layouts, from their BTF ---- */

/*
 * An object declares each event with RT_EVENT(NAME, ID) (bpf/ringtap.bpf.h):
 * a variable rt_event__NAME in section .ringtap.events whose type holds the
 * id (as an array's size, like libbpf's __uint()) and struct NAME.  The
 * struct's members become the fields of an RT_TAG_BPF_EVENT record, its
 * enums RT_TAG_BPF_ENUM records.  Built by rt_bpf_check(), written by
 * rt_bpf_metadata(); [bpf] sections cannot change on reload, so neither can
 * these.
 */
struct ext_field {
	char name[64];
	char type[64];
	uint32_t offset, size;
};

struct ext_enum {
	char name[64];
	uint64_t *vals;
	char **names;
	size_t nr;
};

struct ext_event {
	uint32_t id;
	char name[64];
	size_t size;
	struct ext_field *fields;
	size_t nr_fields;
	char *object;
};

static struct {
	struct ext_event *ev;
	size_t nr_ev;
	struct ext_enum *en;
	size_t nr_en;
} ext;

static void ext_free(void)
{
	for (size_t i = 0; i < ext.nr_ev; i++) {
		free(ext.ev[i].fields);
		free(ext.ev[i].object);
	}
	for (size_t i = 0; i < ext.nr_en; i++) {
		for (size_t j = 0; j < ext.en[i].nr; j++)
			free(ext.en[i].names[j]);
		free(ext.en[i].names);
		free(ext.en[i].vals);
	}
	free(ext.ev);
	free(ext.en);
	memset(&ext, 0, sizeof(ext));
}

/* What a layout is being built from, for the messages. */
struct ext_ctx {
	const struct btf *btf;
	const char *path; /* config */
	int line;	  /* of `object =` */
	const char *object;
	struct ext_event *ev;
};

static const char *btf_name(const struct btf *btf, const struct btf_type *t)
{
	const char *n = btf__name_by_offset(btf, t->name_off);

	return n ? n : "";
}

/* @id through typedefs and qualifiers; *special: "ipaddr" or "dev" when a
 * typedef on the way is rt_ipaddr_t or rt_dev_t. */
static const struct btf_type *ext_resolve(const struct btf *btf, uint32_t *id,
					  const char **special)
{
	const struct btf_type *t = btf__type_by_id(btf, *id);

	while (t && (btf_is_mod(t) || btf_is_typedef(t))) {
		if (special && !*special && btf_is_typedef(t)) {
			if (!strcmp(btf_name(btf, t), "rt_ipaddr_t"))
				*special = "ipaddr";
			else if (!strcmp(btf_name(btf, t), "rt_dev_t"))
				*special = "dev";
		}
		*id = t->type;
		t = btf__type_by_id(btf, *id);
	}
	return t;
}

static int ext_push(struct ext_ctx *c, const char *name, const char *type,
		    uint32_t off, uint32_t size)
{
	struct ext_event *e = c->ev;
	struct ext_field *n = realloc(e->fields, (e->nr_fields + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	e->fields = n;
	n = &e->fields[e->nr_fields++];
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->type, sizeof(n->type), "%s", type);
	n->offset = off;
	n->size = size;
	return 0;
}

/* The enum @t as record "EVENT.ENUM" (or EVENT.FIELD when anonymous);
 * values as the field's bytes read them (unsigned, @t->size bytes). */
static int ext_enum(struct ext_ctx *c, const struct btf_type *t,
		    const char *field, char *type, size_t type_size)
{
	const char *tn = btf_name(c->btf, t);
	uint64_t mask = t->size >= 8 ? ~0ull : (1ull << (8 * t->size)) - 1;
	struct ext_enum en = { 0 }, *n;
	int vlen = btf_vlen(t);

	char full[192];

	/* "enum:" + the name is a field type: at most 63 characters */
	if (snprintf(full, sizeof(full), "%s.%s", c->ev->name,
		     *tn ? tn : field) > 58)
		return -ENAMETOOLONG;
	memcpy(en.name, full, strlen(full) + 1);
	for (size_t i = 0; i < ext.nr_en; i++)
		if (!strcmp(ext.en[i].name, en.name))
			goto done;
	en.vals = calloc(vlen ? vlen : 1, sizeof(*en.vals));
	en.names = calloc(vlen ? vlen : 1, sizeof(*en.names));
	if (!en.vals || !en.names)
		goto oom;
	for (int i = 0; i < vlen; i++) {
		const char *vn;
		uint64_t v;

		if (btf_is_enum(t)) {
			vn = btf__name_by_offset(c->btf, btf_enum(t)[i].name_off);
			v = (uint64_t)(int64_t)btf_enum(t)[i].val;
		} else {
			vn = btf__name_by_offset(c->btf, btf_enum64(t)[i].name_off);
			v = btf_enum64_value(&btf_enum64(t)[i]);
		}
		en.vals[en.nr] = v & mask;
		en.names[en.nr] = strdup(vn ? vn : "?");
		if (!en.names[en.nr++])
			goto oom;
	}
	n = realloc(ext.en, (ext.nr_en + 1) * sizeof(*n));
	if (!n)
		goto oom;
	ext.en = n;
	ext.en[ext.nr_en++] = en;
done:
	return snprintf(type, type_size, "enum:%s", en.name) < (int)type_size ?
		       0 : -ENAMETOOLONG;
oom:
	for (size_t i = 0; i < en.nr; i++)
		free(en.names[i]);
	free(en.names);
	free(en.vals);
	return -ENOMEM;
}

static int ext_struct(struct ext_ctx *c, const struct btf_type *st,
		      const char *prefix, uint32_t base, int depth);

/* One member (of type @tid at byte @off) as a field, or left out with a
 * warning when no decoder type fits. */
static int ext_member(struct ext_ctx *c, uint32_t tid, const char *name,
		      uint32_t off, int depth)
{
	const char *special = NULL, *why = NULL;
	const struct btf_type *t = ext_resolve(c->btf, &tid, &special);
	long long size = btf__resolve_size(c->btf, tid);
	char type[64] = "";

	if (!t || size < 0) {
		why = "its type cannot be resolved";
	} else if (special) {
		if ((!strcmp(special, "ipaddr") && size != 16) ||
		    (!strcmp(special, "dev") && size != 4 && size != 8))
			why = "its size does not fit its rt_*_t type";
		else
			snprintf(type, sizeof(type), "%s", special);
	} else if (btf_is_int(t)) {
		if (btf_int_offset(t) || btf_int_bits(t) != 8 * t->size ||
		    (size != 1 && size != 2 && size != 4 && size != 8))
			why = "an integer of this width is not decoded";
		else
			snprintf(type, sizeof(type), "%c%lld",
				 btf_int_encoding(t) & BTF_INT_SIGNED ? 's' : 'u',
				 size * 8);
	} else if (btf_is_any_enum(t)) {
		if (size != 1 && size != 2 && size != 4 && size != 8)
			why = "an enum of this size is not decoded";
		else if (ext_enum(c, t, name, type, sizeof(type)) < 0)
			why = "its enum's name is too long";
	} else if (btf_is_ptr(t)) {
		snprintf(type, sizeof(type), "u%lld", size * 8);
	} else if (btf_is_array(t)) {
		uint32_t et = btf_array(t)->type;
		const struct btf_type *e = ext_resolve(c->btf, &et, NULL);

		if (size == 0 || size > 512)
			why = "arrays of 1 to 512 bytes are decoded";
		else
			snprintf(type, sizeof(type), "%s",
				 e && btf_is_int(e) && e->size == 1 &&
						 !strcmp(btf_name(c->btf, e), "char") ?
					 "str" : "hex");
	} else if (btf_is_struct(t)) {
		char pre[64];

		if (depth >= 4)
			why = "structs nested deeper than 4 are not decoded";
		else if (snprintf(pre, sizeof(pre), "%s.", name) >= (int)sizeof(pre))
			why = "the name is too long";
		else
			return ext_struct(c, t, pre, off, depth + 1);
	} else {
		why = "unions, floats and the like are not decoded";
	}
	if (!why && strlen(name) > 63)
		why = "the name is too long";
	if (why) {
		log_warn("%s:%d: object '%s': event %s: field '%s' left out: %s",
			 c->path, c->line, c->object, c->ev->name, name, why);
		return 0;
	}
	return ext_push(c, name, type, off, size);
}

static int ext_struct(struct ext_ctx *c, const struct btf_type *st,
		      const char *prefix, uint32_t base, int depth)
{
	const struct btf_member *m = btf_members(st);

	for (int i = 0; i < btf_vlen(st); i++, m++) {
		uint32_t bit = btf_member_bit_offset(st, i);
		char name[128];
		int r;

		snprintf(name, sizeof(name), "%s%s", prefix,
			 btf__name_by_offset(c->btf, m->name_off) ?: "");
		/* the header: built by rt_reserve(), first in every event */
		if (depth == 0 && i == 0)
			continue;
		if (btf_member_bitfield_size(st, i) || bit % 8) {
			log_warn("%s:%d: object '%s': event %s: field '%s' left out: bit fields are not decoded",
				 c->path, c->line, c->object, c->ev->name, name);
			continue;
		}
		r = ext_member(c, m->type, name, base + bit / 8, depth);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The id out of RT_EVENT()'s `int (*id)[ID]`; -1 when not that shape. */
static long long ext_decl_id(const struct btf *btf, const struct btf_type *d,
			     uint32_t *layout)
{
	const struct btf_member *m = btf_members(d);
	const struct btf_type *t;
	long long id = -1;

	if (!btf_is_struct(d) || btf_vlen(d) != 2)
		return -1;
	for (int i = 0; i < 2; i++, m++) {
		const char *n = btf__name_by_offset(btf, m->name_off) ?: "";
		uint32_t tid = m->type;

		t = ext_resolve(btf, &tid, NULL);
		if (!strcmp(n, "id") && t && btf_is_ptr(t)) {
			tid = t->type;
			t = btf__type_by_id(btf, tid);
			if (t && btf_is_array(t))
				id = btf_array(t)->nelems;
		} else if (!strcmp(n, "layout") && t && btf_is_array(t)) {
			tid = btf_array(t)->type;
			*layout = tid;
		}
	}
	return id;
}

static int ext_parse_object(const char *path, int line, const char *object)
{
	struct btf *btf;
	int r = 0;

	for (size_t i = 0; i < ext.nr_ev; i++)
		if (!strcmp(ext.ev[i].object, object))
			return 0; /* another section loads the same file */
	btf = btf__parse_elf(object, NULL);
	if (!btf) {
		/* no BTF: its events, if any, show as ftrace:raw_data */
		log_debug("%s:%d: object '%s' has no BTF: %m", path, line, object);
		return 0;
	}
	for (uint32_t i = 1; i < btf__type_cnt(btf) && !r; i++) {
		const struct btf_type *v = btf__type_by_id(btf, i), *st, *h;
		const char *vn = btf_name(btf, v);
		struct ext_event ev = { 0 }, *ne;
		struct ext_ctx c = { btf, path, line, object, &ev };
		uint32_t layout = 0, hid;
		long long id;

		if (!btf_is_var(v) || strncmp(vn, "rt_event__", 10))
			continue;
		id = ext_decl_id(btf, btf__type_by_id(btf, v->type), &layout);
		st = layout ? ext_resolve(btf, &layout, NULL) : NULL;
		if (id < 0 || !st || !btf_is_struct(st)) {
			log_err("%s:%d: object '%s': '%s' is not an RT_EVENT(NAME, ID) declaration (bpf/ringtap.bpf.h)",
				path, line, object, vn);
			r = -EINVAL;
			break;
		}
		snprintf(ev.name, sizeof(ev.name), "%.63s", btf_name(btf, st));
		ev.id = id;
		ev.size = st->size;
		if (id < RT_BPF_ID_EXT_MIN || id > RT_BPF_ID_EXT_MAX) {
			log_err("%s:%d: object '%s': event %s: id 0x%llx is outside 0x%x..0x%x (RT_BPF_ID_EXT_MIN..MAX)",
				path, line, object, ev.name, id,
				RT_BPF_ID_EXT_MIN, RT_BPF_ID_EXT_MAX);
			r = -EINVAL;
			break;
		}
		hid = btf_vlen(st) ? btf_members(st)[0].type : 0;
		h = hid ? ext_resolve(btf, &hid, NULL) : NULL;
		if (!h || !btf_is_struct(h) || strcmp(btf_name(btf, h), "rt_bpf_hdr") ||
		    btf_member_bit_offset(st, 0)) {
			log_err("%s:%d: object '%s': event %s: struct %s must start with struct rt_bpf_hdr",
				path, line, object, ev.name, ev.name);
			r = -EINVAL;
			break;
		}
		for (size_t k = 0; k < rt_bpf_nr_event_descs; k++)
			if (!strcmp(rt_bpf_event_descs[k].name, ev.name))
				id = -1;
		for (size_t k = 0; k < ext.nr_ev; k++)
			if (!strcmp(ext.ev[k].name, ev.name) || ext.ev[k].id == ev.id)
				id = -1;
		if (id < 0) {
			log_err("%s:%d: object '%s': event %s (id 0x%x): a built-in event or another object's has this name or id",
				path, line, object, ev.name, ev.id);
			r = -EINVAL;
			break;
		}
		/* the header's fields, as the built-ins' */
		r = ext_push(&c, "pid", "u32", offsetof(struct rt_bpf_hdr, pid), 4);
		if (!r)
			r = ext_push(&c, "tgid", "u32", offsetof(struct rt_bpf_hdr, tgid), 4);
		if (!r)
			r = ext_push(&c, "cpu", "u32", offsetof(struct rt_bpf_hdr, cpu), 4);
		if (!r)
			r = ext_push(&c, "ts", "u64", offsetof(struct rt_bpf_hdr, ts), 8);
		if (!r)
			r = ext_push(&c, "comm", "str", offsetof(struct rt_bpf_hdr, comm),
				     RT_BPF_COMM_LEN);
		if (!r)
			r = ext_struct(&c, st, "", 0, 0);
		ev.object = strdup(object);
		ne = realloc(ext.ev, (ext.nr_ev + 1) * sizeof(*ne));
		if (r || !ev.object || !ne) {
			free(ev.fields);
			free(ev.object);
			if (ne)
				ext.ev = ne;
			r = r ?: -ENOMEM;
			break;
		}
		ext.ev = ne;
		ext.ev[ext.nr_ev++] = ev;
		log_debug("%s:%d: object '%s': event ringtap:%s, id 0x%x, %zu fields",
			  path, line, object, ev.name, ev.id, ev.nr_fields);
	}
	btf__free(btf);
	return r;
}

int rt_bpf_check(const struct rt_bpf_section *secs, size_t nr,
		 const char *path)
{
	struct params p;

	ext_free();
	for (size_t i = 0; i < nr; i++) {
		int line = 0;

		if (parse_section(path, &secs[i], &p) < 0)
			return -EINVAL;
		if (p.object && get(&secs[i], "object", &line) &&
		    ext_parse_object(path, line, p.object) < 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- libbpf's messages: the verifier's log is in the warnings ---- */

static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	char *msg = NULL;
	int n = vasprintf(&msg, fmt, ap);
	const char *p;

	if (n < 0)
		return 0;
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = 0;
	/* a verifier log says why at its end */
	p = n > 6000 ? msg + n - 6000 : msg;
	if (level == LIBBPF_WARN)
		log_warn("%s%s", p == msg ? "" : "[...] ", p);
	else
		log_debug("%s", msg);
	free(msg);
	return 0;
}

/* ---- the top-level instance's bpf_trace_printk event ---- */

/*
 * Loading a program that calls bpf_trace_printk enables the
 * bpf_trace:bpf_trace_printk event in the top-level instance (the kernel's
 * bpf_get_trace_printk_proto()), where it would stay after we exit.
 */
static void printk_state_save(void)
{
	const char *top = tracefs_tracing_dir();
	char c;
	int fd;

	if (!top)
		return;
	snprintf(bpf.printk_enable_path, sizeof(bpf.printk_enable_path),
		 "%s/events/bpf_trace/bpf_trace_printk/enable", top);
	fd = open(bpf.printk_enable_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (read(fd, &c, 1) == 1)
		bpf.printk_enable_was = c == '1';
	close(fd);
}

/* Does a program of @obj that is loaded call bpf_trace_(v)printk? */
static bool calls_printk(struct bpf_object *obj)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj) {
		const struct bpf_insn *in = bpf_program__insns(prog);
		size_t n = bpf_program__insn_cnt(prog);

		if (!bpf_program__autoload(prog) || !in)
			continue;
		for (size_t i = 0; i < n; i++)
			if (in[i].code == (BPF_JMP | BPF_CALL) && !in[i].src_reg &&
			    (in[i].imm == BPF_FUNC_trace_printk ||
			     in[i].imm == BPF_FUNC_trace_vprintk))
				return true;
	}
	return false;
}

/*
 * The kernel enables the top-level event from a work item it queues while
 * verifying the program (since Linux 6.14, commit "bpf: Fix deadlock
 * between rcu_tasks_trace and event_mutex"), so it may happen after the
 * load returns: wait for it (up to a second) before putting it back.
 */
static void printk_wait_enabled(void)
{
	char c;

	if (bpf.printk_enable_was != 0)
		return;
	for (int i = 0; i < 100; i++) {
		int fd = open(bpf.printk_enable_path, O_RDONLY | O_CLOEXEC);
		bool on = fd >= 0 && read(fd, &c, 1) == 1 && c == '1';

		if (fd >= 0)
			close(fd);
		if (on)
			return;
		usleep(10000);
	}
	log_debug("top-level instance: bpf_trace:bpf_trace_printk was not enabled within 1 s of the load");
}

/* Put the top-level event back as found; true if it had to. */
static bool printk_state_restore(void)
{
	bool changed = false;
	char c, want;
	int fd;

	if (bpf.printk_enable_was < 0)
		return false;
	fd = open(bpf.printk_enable_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	want = bpf.printk_enable_was ? '1' : '0';
	if (read(fd, &c, 1) == 1 && c != want) {
		changed = true;
		if (pwrite(fd, &want, 1, 0) == 1)
			log_info("top-level instance: bpf_trace:bpf_trace_printk set back to %c (loading a program that calls bpf_trace_printk had changed it)",
				 want);
		else
			log_warn("top-level instance: cannot set bpf_trace:bpf_trace_printk back to %c: %m",
				 want);
	}
	close(fd);
	return changed;
}

/*
 * After the loads: the verifier asks for the helper more than once per
 * program (checking, then fixing up the calls), and each time queues the
 * kernel's work item that enables the event; one that runs after our
 * restore enables it again.  So restore, then watch until it has stayed
 * as found for RT_PRINTK_SETTLE_MS.
 */
#define RT_PRINTK_SETTLE_MS 300
static void printk_settle(void)
{
	int quiet = 0;

	printk_state_restore();
	if (!bpf.printk_used)
		return;
	while (quiet < RT_PRINTK_SETTLE_MS) {
		usleep(10000);
		quiet = printk_state_restore() ? 0 : quiet + 10;
	}
}

/* ---- loading ---- */

static void prog_free(struct prog *pr)
{
	for (size_t i = 0; i < pr->nr_links; i++)
		bpf_link__destroy(pr->links[i]);
	free(pr->links);
	if (pr->skel)
		pr->p.b->destroy(pr->skel);
	else if (pr->obj)
		bpf_object__close(pr->obj);
	free(pr->name);
	memset(pr, 0, sizeof(*pr));
	pr->stats_fd = -1;
}

/* Open and load (the verifier runs); attach too when @attach. */
static int load_builtin(struct prog *pr, bool attach)
{
	const struct builtin *b = pr->p.b;
	int r;

	pr->skel = b->open();
	if (!pr->skel)
		return -errno;
	pr->obj = b->obj(pr->skel);
	b->set(pr->skel, &pr->p);
	r = bpf_map__reuse_fd(b->ring(pr->skel), bpf.ring_fd);
	if (!r)
		r = bpf_object__load(pr->obj);
	if (!r && attach)
		r = b->attach(pr->skel);
	if (!r)
		pr->stats_fd = bpf_map__fd(b->stats(pr->skel));
	return r;
}

/* Set the `const volatile` @var of @obj's .rodata (before load), found by
 * its BTF; false when the object has no such variable. */
static bool set_rodata(struct bpf_object *obj, const char *var,
		       const void *val, size_t size)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *m;
	size_t msize;
	uint8_t *data;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return false;
	sec = btf__type_by_id(btf, id);
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);

		if (strlen(n) >= 7 && !strcmp(n + strlen(n) - 7, ".rodata"))
			break;
	}
	if (!m)
		return false;
	data = (uint8_t *)bpf_map__initial_value(m, &msize); /* mmaped */
	vs = btf_var_secinfos(sec);
	for (int i = 0; data && i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *t = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, t->name_off), var) ||
		    vs->size != size || vs->offset + size > msize)
			continue;
		memcpy(data + vs->offset, val, size);
		return true;
	}
	return false;
}

/* An external object: its rt_events map becomes ours; every program is
 * attached as its section name says; the filters of bpf/ringtap.bpf.h
 * are set when it has them. */
static int load_object(struct prog *pr, bool attach)
{
	struct bpf_program *prog;
	struct bpf_map *m;
	int r;

	pr->obj = bpf_object__open_file(pr->p.object, NULL);
	if (!pr->obj)
		return -errno;
	m = bpf_object__find_map_by_name(pr->obj, "rt_events");
	if (!m || bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF) {
		log_err("bpf \"%s\": '%s' has no BPF_MAP_TYPE_RINGBUF map named rt_events (bpf/ringtap.bpf.h)",
			pr->name, pr->p.object);
		return -ENOENT;
	}
	if (((pr->p.tgid &&
	      !set_rodata(pr->obj, "rt_filter_tgid", &pr->p.tgid, 4)) ||
	     (pr->p.cgroup &&
	      !set_rodata(pr->obj, "rt_filter_cgroup", &pr->p.cgroup, 8)) ||
	     (pr->p.comm[0] &&
	      !set_rodata(pr->obj, "rt_filter_comm", pr->p.comm, 16)))) {
		log_err("bpf \"%s\": '%s' has no rt_filter_* variables (bpf/ringtap.bpf.h) for pid, comm or cgroup",
			pr->name, pr->p.object);
		return -ENOENT;
	}
	r = bpf_map__reuse_fd(m, bpf.ring_fd);
	if (!r)
		r = bpf_object__load(pr->obj);
	if (r)
		return r;
	bpf_object__for_each_program(prog, pr->obj) {
		struct bpf_link **n, *l;

		if (!attach || !bpf_program__autoload(prog))
			continue;
		l = bpf_program__attach(prog);
		if (!l)
			return -errno;
		n = realloc(pr->links, (pr->nr_links + 1) * sizeof(*n));
		if (!n) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
		pr->links = n;
		pr->links[pr->nr_links++] = l;
	}
	m = bpf_object__find_map_by_name(pr->obj, "rt_stats");
	if (m && bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY)
		pr->stats_fd = bpf_map__fd(m);
	return 0;
}

static int drain_one(void *ctx, void *data, size_t size)
{
	if (write(bpf.marker_fd, data, size) == (ssize_t)size)
		atomic_fetch_add(&bpf.written, 1);
	else
		atomic_fetch_add(&bpf.lost_write, 1);
	return 0;
}

int rt_bpf_start(const struct rt_bpf_section *secs, size_t nr,
		 const char *path, struct rt_instance *inst)
{
	char *marker;
	int r = 0;

	if (!nr)
		return 0;
	libbpf_set_print(libbpf_log);
	bpf.progs = calloc(nr, sizeof(*bpf.progs));
	if (!bpf.progs)
		return -ENOMEM;
	if (asprintf(&marker, "%s/trace_marker_raw", inst->dir) < 0)
		return -ENOMEM;
	bpf.marker_fd = open(marker, O_WRONLY | O_CLOEXEC);
	if (bpf.marker_fd < 0) {
		r = -errno;
		log_err("cannot open '%s': %m", marker);
		free(marker);
		return r;
	}
	free(marker);
	bpf.ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rt_events", 0, 0,
				     RING_SIZE, NULL);
	if (bpf.ring_fd < 0) {
		r = -errno;
		log_err("cannot create the BPF ring buffer: %m");
		return r;
	}
	bpf.rb = ring_buffer__new(bpf.ring_fd, drain_one, NULL, NULL);
	if (!bpf.rb)
		return -errno;
	printk_state_save();
	for (size_t i = 0; i < nr; i++) {
		struct prog *pr = &bpf.progs[bpf.nr_progs];

		pr->stats_fd = -1;
		if (parse_section(path, &secs[i], &pr->p) < 0)
			return -EINVAL;
		pr->name = strdup(secs[i].name);
		if (!pr->name)
			return -ENOMEM;
		r = pr->p.b ? load_builtin(pr, true) : load_object(pr, true);
		if (r < 0) {
			if (!pr->p.optional) {
				log_err("bpf \"%s\": cannot load or attach %s '%s' (%s): the kernel's messages are above; 'optional = yes' would skip it",
					pr->name, pr->p.b ? "program" : "object",
					pr->p.b ? pr->p.b->name : pr->p.object,
					strerror(-r));
				bpf.nr_progs++;
				return r;
			}
			log_warn("bpf \"%s\": cannot load or attach %s '%s' (%s): skipped (optional)",
				 pr->name, pr->p.b ? "program" : "object",
				 pr->p.b ? pr->p.b->name : pr->p.object,
				 strerror(-r));
			prog_free(pr);
			r = 0;
			continue;
		}
		bpf.printk_used |= calls_printk(pr->obj);
		log_info("bpf \"%s\": %s '%s' attached", pr->name,
			 pr->p.b ? "program" : "object",
			 pr->p.b ? pr->p.b->name : pr->p.object);
		bpf.nr_progs++;
	}
	/* bpf_trace_printk output goes to our instance only, not to the
	 * top-level one the kernel is enabling it in */
	if (bpf.printk_used)
		printk_wait_enabled();
	printk_settle();
	return 0;
}

int rt_bpf_verify(const struct rt_bpf_section *secs, size_t nr,
		  const char *path)
{
	bool failed = false;
	int r = 0;

	if (!nr)
		return 0;
	libbpf_set_print(libbpf_log);
	/* the programs' rt_events: one small ring, never read */
	bpf.ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rt_events", 0, 0,
				     64 * 1024, NULL);
	if (bpf.ring_fd < 0) {
		r = -errno;
		log_err("cannot create a BPF ring buffer: %m%s",
			r == -EPERM ? " (loading BPF programs needs root, or CAP_BPF and CAP_PERFMON)" : "");
		return r;
	}
	printk_state_save();
	for (size_t i = 0; i < nr; i++) {
		struct prog pr = { .stats_fd = -1 };
		const char *what;

		if (parse_section(path, &secs[i], &pr.p) < 0) {
			failed = true;
			continue;
		}
		pr.name = strdup(secs[i].name);
		if (!pr.name) {
			r = -ENOMEM;
			break;
		}
		what = pr.p.b ? pr.p.b->name : pr.p.object;
		r = pr.p.b ? load_builtin(&pr, false) : load_object(&pr, false);
		if (r < 0 && pr.p.optional) {
			log_warn("%s:%d: bpf \"%s\": the kernel refuses %s '%s' (%s): it would be skipped (optional)",
				 path, secs[i].line, pr.name,
				 pr.p.b ? "program" : "object", what, strerror(-r));
		} else if (r < 0) {
			log_err("%s:%d: bpf \"%s\": the kernel refuses %s '%s' (%s): the verifier's messages are above; 'optional = yes' would skip it",
				path, secs[i].line, pr.name,
				pr.p.b ? "program" : "object", what, strerror(-r));
			failed = true;
		} else {
			bpf.printk_used |= calls_printk(pr.obj);
			log_info("bpf \"%s\": %s '%s' loaded and verified (not attached)",
				 pr.name, pr.p.b ? "program" : "object", what);
		}
		r = 0;
		prog_free(&pr);
	}
	if (bpf.printk_used)
		printk_wait_enabled();
	printk_settle();
	bpf.printk_enable_was = -1;
	bpf.printk_used = false;
	close(bpf.ring_fd);
	bpf.ring_fd = -1;
	return r < 0 ? r : failed ? -EINVAL : 0;
}

static void *drain_thread(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = ring_buffer__epoll_fd(bpf.rb), .events = POLLIN },
		{ .fd = bpf.stop_fd, .events = POLLIN },
	};

	for (;;) {
		/* programs wake us only when a lot waits (bpf/ringtap.bpf.h) */
		if (poll(pfd, 2, RT_BPF_DRAIN_MS) < 0 && errno != EINTR)
			break;
		ring_buffer__consume(bpf.rb);
		if (pfd[1].revents)
			break;
	}
	return NULL;
}

int rt_bpf_run(void)
{
	int r;

	if (!bpf.nr_progs)
		return 0;
	bpf.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (bpf.stop_fd < 0)
		return -errno;
	r = pthread_create(&bpf.thread, NULL, drain_thread, NULL);
	if (r)
		return -r;
	bpf.running = true;
	return 0;
}

/* The program's counters, per CPU; false when it has none. */
static bool read_stats(const struct prog *pr, uint64_t *vals, int nr_cpus,
		       int stat)
{
	uint32_t key = stat;

	return pr->stats_fd >= 0 &&
	       bpf_map_lookup_elem(pr->stats_fd, &key, vals) == 0;
}

static void write_stats_events(void)
{
	int nr_cpus = libbpf_num_possible_cpus();
	uint64_t *v[RT_BPF_STAT_MAX];
	struct timespec ts;

	if (nr_cpus <= 0)
		return;
	for (int s = 0; s < RT_BPF_STAT_MAX; s++)
		v[s] = calloc(nr_cpus, sizeof(uint64_t));
	for (size_t i = 0; i < bpf.nr_progs; i++) {
		struct prog *pr = &bpf.progs[i];
		bool ok = true;

		for (int s = 0; s < RT_BPF_STAT_MAX; s++)
			ok = ok && v[s] && read_stats(pr, v[s], nr_cpus, s);
		if (!ok)
			continue;
		for (int cpu = 0; cpu < nr_cpus; cpu++) {
			struct rt_bpf_stats e = { .h.id = RT_BPF_EV_STATS };

			if (!v[0][cpu] && !v[1][cpu] && !v[2][cpu])
				continue;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			e.h.pid = e.h.tgid = getpid();
			e.h.cpu = cpu;
			e.h.ts = ts.tv_sec * 1000000000ull + ts.tv_nsec;
			strncpy(e.h.comm, "ringtapd", sizeof(e.h.comm));
			strncpy(e.section, pr->name, sizeof(e.section) - 1);
			e.seen = v[RT_BPF_STAT_SEEN][cpu];
			e.emitted = v[RT_BPF_STAT_EMITTED][cpu];
			e.dropped = v[RT_BPF_STAT_DROPPED][cpu];
			/* the drain thread's failures are not per program */
			e.lost_write = i == 0 && cpu == 0 ?
					       atomic_load(&bpf.lost_write) : 0;
			if (write(bpf.marker_fd, &e, sizeof(e)) != sizeof(e))
				log_warn("bpf \"%s\": cannot write its statistics to the instance: %m",
					 pr->name);
		}
		log_info("bpf \"%s\": %s", pr->name, "statistics written");
	}
	for (int s = 0; s < RT_BPF_STAT_MAX; s++)
		free(v[s]);
}

void rt_bpf_stop(void)
{
	/* No program writes any more, then the ring is emptied. */
	for (size_t i = 0; i < bpf.nr_progs; i++) {
		struct prog *pr = &bpf.progs[i];

		for (size_t j = 0; j < pr->nr_links; j++)
			bpf_link__destroy(pr->links[j]);
		pr->nr_links = 0;
		if (pr->skel)
			pr->p.b->detach(pr->skel);
	}
	if (bpf.running) {
		uint64_t one = 1;

		if (write(bpf.stop_fd, &one, sizeof(one)) < 0)
			log_warn("cannot wake the BPF drain thread: %m");
		pthread_join(bpf.thread, NULL);
		bpf.running = false;
	}
	if (bpf.rb)
		ring_buffer__consume(bpf.rb);
	if (bpf.marker_fd >= 0 && bpf.nr_progs)
		write_stats_events();
	if (bpf.nr_progs || bpf.progs)
		log_info("bpf: %llu events written to the instance, %llu could not be written",
			 (unsigned long long)atomic_load(&bpf.written),
			 (unsigned long long)atomic_load(&bpf.lost_write));
	for (size_t i = 0; i < bpf.nr_progs; i++)
		prog_free(&bpf.progs[i]);
	free(bpf.progs);
	bpf.progs = NULL;
	bpf.nr_progs = 0;
	ring_buffer__free(bpf.rb);
	bpf.rb = NULL;
	if (bpf.ring_fd >= 0)
		close(bpf.ring_fd);
	if (bpf.marker_fd >= 0)
		close(bpf.marker_fd);
	if (bpf.stop_fd >= 0)
		close(bpf.stop_fd);
	bpf.ring_fd = bpf.marker_fd = bpf.stop_fd = -1;
	printk_state_restore();
	bpf.printk_enable_was = -1;
}

bool rt_bpf_same(const struct rt_bpf_section *a, size_t na,
		 const struct rt_bpf_section *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i].name, b[i].name) ||
		    a[i].nr_params != b[i].nr_params)
			return false;
		for (size_t j = 0; j < a[i].nr_params; j++)
			if (strcmp(a[i].params[j].key, b[i].params[j].key) ||
			    strcmp(a[i].params[j].value, b[i].params[j].value))
				return false;
	}
	return true;
}

int rt_bpf_metadata(size_t nr, struct rt_buf *b)
{
	int r;

	if (!nr)
		return 0;
	r = rt_bpf_metadata_add(b, syscall_names, NR_SYSCALL_NAMES);
	/* external objects' own events (RT_EVENT()) */
	for (size_t i = 0; !r && i < ext.nr_ev; i++) {
		const struct ext_event *e = &ext.ev[i];
		struct rt_bpf_field_desc *f = calloc(e->nr_fields ?: 1, sizeof(*f));
		struct rt_bpf_event_desc d = { e->id, e->name, e->size, f,
					       e->nr_fields };

		if (!f)
			return -ENOMEM;
		for (size_t j = 0; j < e->nr_fields; j++)
			f[j] = (struct rt_bpf_field_desc){
				e->fields[j].name, e->fields[j].type,
				e->fields[j].offset, e->fields[j].size
			};
		r = rt_bpf_metadata_add_event(b, &d);
		free(f);
	}
	for (size_t i = 0; !r && i < ext.nr_en; i++)
		r = rt_bpf_metadata_add_enum(b, ext.en[i].name, ext.en[i].vals,
					     (const char *const *)ext.en[i].names,
					     ext.en[i].nr);
	return r;
}

void rt_bpf_status(void (*put)(void *ctx, const char *id, const char *key,
			       const char *val),
		   void *ctx)
{
	int nr_cpus = libbpf_num_possible_cpus();
	static const char *const names[] = { "seen", "emitted", "dropped" };
	uint64_t *v;
	char val[64], key[64];

	if (!bpf.nr_progs || nr_cpus <= 0)
		return;
	v = calloc(nr_cpus, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < bpf.nr_progs; i++) {
		struct prog *pr = &bpf.progs[i];

		put(ctx, pr->name, pr->p.b ? "program" : "object",
		    pr->p.b ? pr->p.b->name : pr->p.object);
		for (int s = 0; s < RT_BPF_STAT_MAX; s++) {
			uint64_t sum = 0;

			if (!read_stats(pr, v, nr_cpus, s))
				break;
			for (int c = 0; c < nr_cpus; c++) {
				sum += v[c];
				if (s == RT_BPF_STAT_DROPPED) {
					snprintf(key, sizeof(key), "dropped_cpu%d", c);
					snprintf(val, sizeof(val), "%llu",
						 (unsigned long long)v[c]);
					put(ctx, pr->name, key, val);
				}
			}
			snprintf(val, sizeof(val), "%llu", (unsigned long long)sum);
			put(ctx, pr->name, names[s], val);
		}
	}
	snprintf(val, sizeof(val), "%llu",
		 (unsigned long long)atomic_load(&bpf.written));
	put(ctx, "-", "written", val);
	snprintf(val, sizeof(val), "%llu",
		 (unsigned long long)atomic_load(&bpf.lost_write));
	put(ctx, "-", "lost_write", val);
	free(v);
}
