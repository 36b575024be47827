// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The HEADER records of a capture: everything `ringtap report` needs to
 * decode the raw sub-buffers on another machine (event formats, header
 * layouts, printk formats, clock, sizes, host identity).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <tracefs.h>

#include "ringtap/log.h"
#include "ringtapd.h"
#include "bpf.h"

static int add_file(struct rt_buf *b, uint16_t tag, const char *path,
		    bool required)
{
	char *text;
	int size = 0;
	int r;

	text = tracefs_instance_file_read(NULL, path, &size);
	if (!text) {
		if (!required)
			return 0;
		log_err("cannot read tracefs file '%s': %m", path);
		return errno ? -errno : -EIO;
	}
	r = rt_record_add(b, tag, text, size);
	free(text);
	return r;
}

/* One RT_TAG_EVENT_FORMAT record: "system\0" then the format file. */
static int add_event_format(struct rt_buf *b, const char *system,
			    const char *event)
{
	char path[512];
	struct rt_buf rec = { 0 };
	char *text;
	int size = 0, r;

	snprintf(path, sizeof(path), "events/%s/%s/format", system, event);
	text = tracefs_instance_file_read(NULL, path, &size);
	if (!text)
		return 0; /* e.g. an event without a format file */
	r = rt_buf_append(&rec, system, strlen(system) + 1);
	if (!r)
		r = rt_buf_append(&rec, text, size);
	if (!r)
		r = rt_record_add(b, RT_TAG_EVENT_FORMAT, rec.data, rec.len);
	free(text);
	rt_buf_free(&rec);
	return r;
}

static int add_system_formats(struct rt_buf *b, const char *system)
{
	char **events = tracefs_system_events(NULL, system);
	int r = 0;

	if (!events)
		return 0;
	for (char **e = events; *e && !r; e++)
		r = add_event_format(b, system, *e);
	tracefs_list_free(events);
	return r;
}

static clockid_t trace_clock_id(const char *name, bool *known)
{
	*known = true;
	if (!strcmp(name, "mono"))
		return CLOCK_MONOTONIC;
	if (!strcmp(name, "mono_raw"))
		return CLOCK_MONOTONIC_RAW;
	if (!strcmp(name, "boot"))
		return CLOCK_BOOTTIME;
	if (!strcmp(name, "tai"))
		return CLOCK_TAI;
	*known = false;
	return CLOCK_MONOTONIC;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int add_identity(struct rt_buf *b)
{
	/* one per daemon: a reload's new HEADER continues the same capture */
	static char id[33];
	char host[256] = "", boot_id[64] = "";
	struct utsname u;
	uint8_t rnd[16];
	char *uname_s;
	int fd, r;

	gethostname(host, sizeof(host) - 1);
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, boot_id, sizeof(boot_id) - 1);

		boot_id[n > 0 ? n : 0] = '\0';
		boot_id[strcspn(boot_id, "\n")] = '\0';
		close(fd);
	}
	if (!id[0]) {
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		for (int i = 0; i < 16; i++)
			sprintf(id + 2 * i, "%02x", rnd[i]);
	}
	uname(&u);
	if (asprintf(&uname_s, "%s %s %s %s", u.sysname, u.release, u.version,
		     u.machine) < 0)
		return -ENOMEM;
	r = rt_record_add_str(b, RT_TAG_TOOL, "ringtapd " RINGTAP_VERSION);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_HOSTNAME, host);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_BOOT_ID, boot_id);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_UNAME, uname_s);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_CAPTURE_ID, id);
	free(uname_s);
	return r;
}

/* @system/@event's format unless it is in @done already. */
static int add_format_once(struct rt_buf *b, const char *system,
			   const char *event, char ***done, size_t *nr_done)
{
	char *key, **grown;

	if (asprintf(&key, "%s/%s", system, event) < 0)
		return -ENOMEM;
	for (size_t k = 0; k < *nr_done; k++)
		if (!strcmp((*done)[k], key)) {
			free(key);
			return 0;
		}
	grown = realloc(*done, (*nr_done + 1) * sizeof(**done));
	if (!grown) {
		free(key);
		return -ENOMEM;
	}
	*done = grown;
	(*done)[(*nr_done)++] = key;
	return add_event_format(b, system, event);
}

/* Formats of @cfg's selected events, each once over all calls. */
static int add_selected_formats(struct rt_buf *b, const struct rt_config *cfg,
				char ***done, size_t *nr_done)
{
	int r = 0;

	for (size_t i = 0; i < cfg->nr_events && !r; i++) {
		const struct rt_event_sel *ev = &cfg->events[i];
		char **events;

		if (!strcmp(ev->system, "ftrace"))
			continue;
		if (strcmp(ev->event, "*")) {
			r = add_format_once(b, ev->system, ev->event, done,
					    nr_done);
			continue;
		}
		events = tracefs_system_events(NULL, ev->system);
		for (char **e = events; e && *e && !r; e++)
			r = add_format_once(b, ev->system, *e, done, nr_done);
		tracefs_list_free(events);
	}
	return r;
}

int rt_metadata_build(const struct rt_config *cfg, struct rt_instance *inst,
		      uint32_t subbuf_size, int nr_cpus, const char *mode,
		      struct rt_buf *b)
{
	return rt_metadata_build2(cfg, NULL, inst, subbuf_size, nr_cpus, mode,
				  b);
}

int rt_metadata_build2(const struct rt_config *cfg,
		       const struct rt_config *prev, struct rt_instance *inst,
		       uint32_t subbuf_size, int nr_cpus, const char *mode,
		       struct rt_buf *b)
{
	char **done = NULL;
	size_t nr_done = 0;
	char events[4096] = "";
	bool known;
	clockid_t cid = trace_clock_id(cfg->clock, &known);
	int r;

	for (size_t i = 0; i < cfg->nr_events; i++) {
		size_t n = strlen(events);

		snprintf(events + n, sizeof(events) - n, "%s%s:%s",
			 i ? "," : "", cfg->events[i].system,
			 cfg->events[i].event);
	}
	r = add_identity(b);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_CLOCK, cfg->clock);
	if (!r)
		r = rt_record_add_u32(b, RT_TAG_PAGE_SIZE, getpagesize());
	if (!r)
		r = rt_record_add_u32(b, RT_TAG_SUBBUF_SIZE, subbuf_size);
	if (!r)
		r = rt_record_add_u32(b, RT_TAG_NR_CPUS, nr_cpus);
	if (!r)
		r = rt_record_add_u32(b, RT_TAG_LONG_SIZE, sizeof(long));
	if (!r)
		r = rt_record_add_str(b, RT_TAG_INSTANCE, inst->name);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_EVENTS, events);
	if (!r)
		r = rt_record_add_str(b, RT_TAG_READER_MODE, mode);
	if (!r) {
		/* Two readings as close together as we can make them. */
		uint64_t rt = clock_ns(CLOCK_REALTIME);
		uint64_t tt = clock_ns(cid);

		r = rt_record_add_u64(b, RT_TAG_START_REALTIME, rt);
		if (!r && known)
			r = rt_record_add_u64(b, RT_TAG_START_TRACE_TS, tt);
	}
	if (!r)
		r = add_file(b, RT_TAG_HEADER_PAGE, "events/header_page", true);
	if (!r)
		r = add_file(b, RT_TAG_HEADER_EVENT, "events/header_event", true);
	if (!r)
		r = add_file(b, RT_TAG_PRINTK_FORMATS, "printk_formats", false);
	/* ftrace's own events (print = trace_marker, bprint, ...) always. */
	if (!r)
		r = add_system_formats(b, "ftrace");
	if (!r)
		r = add_selected_formats(b, cfg, &done, &nr_done);
	if (!r && prev)
		r = add_selected_formats(b, prev, &done, &nr_done);
	/* the layouts of the BPF programs' events (daemon/bpf.c) */
	if (!r)
		r = rt_bpf_metadata(cfg->nr_bpf, b);
	for (size_t k = 0; k < nr_done; k++)
		free(done[k]);
	free(done);
	return r;
}

/* The table read during this thread's moment, if any (see ringtapd.h). */
static __thread int moment_depth;
static __thread struct rt_buf moment_buf; /* .data: read already */

void rt_cmdlines_moment_begin(void)
{
	moment_depth++;
}

void rt_cmdlines_moment_end(void)
{
	if (--moment_depth == 0)
		rt_buf_free(&moment_buf);
}

int rt_metadata_cmdlines(struct rt_instance *inst, struct rt_buf *b)
{
	struct rt_buf rec = { 0 };
	char *text;
	int size = 0, r;

	if (moment_depth && moment_buf.data)
		return rt_buf_append(b, moment_buf.data, moment_buf.len);
	/* libtracefs returns NULL for an empty file too: the table is
	 * empty until something records a task's comm (sched events). */
	errno = 0;
	text = tracefs_instance_file_read(NULL, "saved_cmdlines", &size);
	if (!text && errno)
		return -errno;
	r = rt_record_add(&rec, RT_TAG_CMDLINES, text ? text : "",
			  text ? size : 0);
	free(text);
	if (!r)
		r = rt_buf_append(b, rec.data, rec.len);
	if (!r && moment_depth) {
		rt_buf_free(&moment_buf);
		moment_buf = rec;
		return 0;
	}
	rt_buf_free(&rec);
	return r;
}
