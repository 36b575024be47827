// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The daemon's private tracefs instance: ownership (a lock file per
 * instance), creation, buffer geometry, clock, events and filters, and
 * teardown.  Never touches the top-level instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tracefs.h>

#include "ringtap/log.h"
#include "ringtapd.h"

/*
 * Ownership: <run_dir>/<instance>.lock, flock()ed for the daemon's lifetime
 * and holding its pid.  A lock we can take whose file names a pid means a
 * ringtapd died without cleaning up: its instance is stale and reclaimed.
 * An existing instance without such a file belongs to somebody else.
 */
static int take_ownership(const struct rt_config *cfg, struct rt_instance *inst,
			  bool *ret_stale, long *ret_old_pid)
{
	char buf[32] = "";
	ssize_t n;
	int r, fd;

	r = rt_mkdir_p(cfg->run_dir, 0755);
	if (r < 0) {
		log_err("cannot create run directory '%s': %s", cfg->run_dir,
			strerror(-r));
		return r;
	}
	if (asprintf(&inst->lock_path, "%s/%s.lock", cfg->run_dir,
		     cfg->instance) < 0)
		return -ENOMEM;
	fd = open(inst->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		log_err("cannot open lock file '%s': %m", inst->lock_path);
		return r;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK)
			log_err("instance '%s' is owned by a running ringtapd (pid %s, lock '%s')",
				cfg->instance, n > 0 ? strtok(buf, "\n") : "?",
				inst->lock_path);
		else
			log_err("cannot lock '%s': %s", inst->lock_path,
				strerror(-r));
		close(fd);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	/* The owner unlinks the file on its way out: if it did so while we
	 * waited, we hold a lock on a file nobody else will see. */
	{
		struct stat a, b;

		if (fstat(fd, &a) < 0 || stat(inst->lock_path, &b) < 0 ||
		    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
			close(fd);
			free(inst->lock_path);
			inst->lock_path = NULL;
			return take_ownership(cfg, inst, ret_stale, ret_old_pid);
		}
	}
	/* Re-read now that we hold the lock: the previous owner may have just
	 * exited and emptied it. */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	*ret_stale = n > 0;
	*ret_old_pid = n > 0 ? strtol(buf, NULL, 10) : 0;
	inst->lock_fd = fd;
	return 0;
}

static int write_pid(int fd)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != len)
		return -errno;
	return 0;
}

/* Write a file of the instance; on failure return -errno. */
static int inst_write(struct rt_instance *inst, const char *file,
		      const char *val)
{
	if (tracefs_instance_file_write(inst->tfs, file, val) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static int inst_write_uint(struct rt_instance *inst, const char *file,
			   unsigned int v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%u", v);
	return inst_write(inst, file, buf);
}

static int set_clock(const struct rt_config *cfg, struct rt_instance *inst)
{
	char *clocks = tracefs_instance_file_read(inst->tfs, "trace_clock",
						  NULL);
	char offered[512] = "";
	bool known = false;
	int r;

	for (char *tok = clocks ? strtok(clocks, " []\n") : NULL; tok;
	     tok = strtok(NULL, " []\n")) {
		size_t n = strlen(offered);

		known |= !strcmp(tok, cfg->clock);
		snprintf(offered + n, sizeof(offered) - n, "%s%s", n ? ", " : "",
			 tok);
	}
	free(clocks);
	if (!known) {
		log_err("%s:%d: clock '%s' is not offered by this kernel (%s)",
			cfg->path, cfg->clock_line, cfg->clock, offered);
		return -EINVAL;
	}
	r = inst_write(inst, "trace_clock", cfg->clock);
	if (r < 0)
		log_err("%s:%d: cannot set clock '%s': %s", cfg->path,
			cfg->clock_line, cfg->clock, strerror(-r));
	return r;
}

static bool event_exists(struct rt_instance *inst, const char *system,
			 const char *event)
{
	char *path;
	struct stat st;
	bool ok;

	if (!strcmp(event, "*")) {
		if (asprintf(&path, "%s/events/%s", inst->dir, system) < 0)
			return false;
	} else if (asprintf(&path, "%s/events/%s/%s", inst->dir, system,
			    event) < 0) {
		return false;
	}
	ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	free(path);
	return ok;
}

static int enable_event(const struct rt_config *cfg, struct rt_instance *inst,
			const struct rt_event_sel *ev)
{
	char *file;
	int r;

	if (!event_exists(inst, ev->system, ev->event)) {
		log_err("%s:%d: unknown event '%s:%s' (not in %s/events)",
			cfg->path, ev->line, ev->system, ev->event, inst->dir);
		return -ENOENT;
	}
	/* ftrace's own events (print = trace_marker, ...) have no switch:
	 * they are always recorded. */
	if (!strcmp(ev->system, "ftrace"))
		return 0;
	if (!strcmp(ev->event, "*"))
		r = asprintf(&file, "events/%s/enable", ev->system);
	else
		r = asprintf(&file, "events/%s/%s/enable", ev->system,
			     ev->event);
	if (r < 0)
		return -ENOMEM;
	r = inst_write(inst, file, "1");
	if (r < 0)
		log_err("%s:%d: cannot enable event '%s:%s': %s", cfg->path,
			ev->line, ev->system, ev->event, strerror(-r));
	free(file);
	return r;
}

/* The kernel explains a rejected filter in the filter file itself. */
static int set_filter(const struct rt_config *cfg, struct rt_instance *inst,
		      const struct rt_event_opts *eo)
{
	char *file, *why;
	int r;

	if (!eo->filter)
		return 0;
	if (!event_exists(inst, eo->system, eo->event)) {
		log_err("%s:%d: unknown event '%s:%s'", cfg->path, eo->line,
			eo->system, eo->event);
		return -ENOENT;
	}
	if (!strcmp(eo->event, "*"))
		r = asprintf(&file, "events/%s/filter", eo->system);
	else
		r = asprintf(&file, "events/%s/%s/filter", eo->system,
			     eo->event);
	if (r < 0)
		return -ENOMEM;
	r = inst_write(inst, file, eo->filter);
	if (r < 0) {
		why = tracefs_instance_file_read(inst->tfs, file, NULL);
		for (char *p = why; p && *p; p++)
			if (*p == '\n')
				*p = ' ';
		log_err("%s:%d: filter '%s' for '%s:%s' rejected by the kernel: %s",
			cfg->path, eo->filter_line ? eo->filter_line : eo->line,
			eo->filter, eo->system, eo->event,
			why && *why ? why : strerror(-r));
		free(why);
		r = -EINVAL;
	}
	free(file);
	return r;
}

static int configure(const struct rt_config *cfg, struct rt_instance *inst)
{
	int r;

	/* Nothing may reach the buffers before the readers are in place. */
	r = inst_write(inst, "tracing_on", "0");
	if (r < 0)
		return r;
	/* Sub-buffer size first: changing it reallocates the buffers. */
	r = inst_write_uint(inst, "buffer_subbuf_size_kb", cfg->subbuf_size_kb);
	if (r < 0) {
		log_err("%s:%d: subbuf_size_kb = %u refused by the kernel: %s",
			cfg->path, cfg->subbuf_size_line, cfg->subbuf_size_kb,
			strerror(-r));
		return r;
	}
	r = inst_write_uint(inst, "buffer_size_kb", cfg->buffer_size_kb);
	if (r < 0) {
		log_err("%s:%d: buffer_size_kb = %u refused by the kernel: %s",
			cfg->path, cfg->buffer_size_line, cfg->buffer_size_kb,
			strerror(-r));
		return r;
	}
	r = inst_write_uint(inst, "buffer_percent", cfg->buffer_percent);
	if (r < 0) {
		log_err("%s:%d: buffer_percent = %u refused by the kernel: %s",
			cfg->path, cfg->buffer_percent_line, cfg->buffer_percent,
			strerror(-r));
		return r;
	}
	r = set_clock(cfg, inst);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->nr_event_opts; i++) {
		r = set_filter(cfg, inst, &cfg->event_opts[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cfg->nr_events; i++) {
		r = enable_event(cfg, inst, &cfg->events[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int rt_instance_setup(const struct rt_config *cfg, struct rt_instance *inst)
{
	bool stale = false;
	long old_pid = 0;
	int r;

	memset(inst, 0, sizeof(*inst));
	inst->lock_fd = -1;
	inst->name = strdup(cfg->instance);
	if (!inst->name)
		return -ENOMEM;
	r = take_ownership(cfg, inst, &stale, &old_pid);
	if (r < 0)
		goto fail;

	if (tracefs_instance_exists(cfg->instance)) {
		if (!stale) {
			log_err("tracefs instance '%s' exists and was not created by ringtapd; remove it (rmdir %s/instances/%s) or choose another 'instance'",
				cfg->instance, tracefs_tracing_dir(),
				cfg->instance);
			r = -EEXIST;
			goto fail_unlock;
		}
		log_warn("reclaiming stale instance '%s' left by ringtapd pid %ld, which is no longer running",
			 cfg->instance, old_pid);
		inst->tfs = tracefs_instance_alloc(NULL, cfg->instance);
		if (!inst->tfs || tracefs_instance_destroy(inst->tfs) < 0) {
			r = errno ? -errno : -EIO;
			log_err("cannot remove stale instance '%s': %s",
				cfg->instance, strerror(-r));
			goto fail_unlock;
		}
		tracefs_instance_free(inst->tfs);
		inst->tfs = NULL;
	}
	r = write_pid(inst->lock_fd);
	if (r < 0) {
		log_err("cannot write lock file '%s': %s", inst->lock_path,
			strerror(-r));
		goto fail_unlock;
	}
	inst->tfs = tracefs_instance_create(cfg->instance);
	if (!inst->tfs) {
		r = errno ? -errno : -EIO;
		log_err("cannot create tracefs instance '%s': %s", cfg->instance,
			strerror(-r));
		goto fail_unlock;
	}
	if (!tracefs_instance_is_new(inst->tfs)) {
		/* somebody made it between our check and our mkdir */
		log_err("tracefs instance '%s' appeared while ringtapd was starting; it belongs to somebody else",
			cfg->instance);
		r = -EEXIST;
		goto fail_unlock;
	}
	inst->created = true;
	inst->dir = tracefs_instance_get_dir(inst->tfs);
	if (!inst->dir) {
		r = -ENOMEM;
		goto fail_unlock;
	}
	r = configure(cfg, inst);
	if (r < 0)
		goto fail_unlock;
	return 0;

fail_unlock:
	rt_instance_teardown(inst);
	return r;
fail:
	free(inst->name);
	free(inst->lock_path);
	memset(inst, 0, sizeof(*inst));
	inst->lock_fd = -1;
	return r;
}

int rt_instance_tracing_on(struct rt_instance *inst, bool on)
{
	return inst_write(inst, "tracing_on", on ? "1" : "0");
}

void rt_instance_teardown(struct rt_instance *inst)
{
	if (inst->tfs) {
		if (inst->created) {
			inst_write(inst, "tracing_on", "0");
			if (tracefs_instance_destroy(inst->tfs) < 0)
				log_err("cannot remove instance '%s': %m",
					inst->name);
		}
		tracefs_instance_free(inst->tfs);
	}
	if (inst->lock_fd >= 0) {
		/* Unlink while holding the lock: a waiting daemon then sees
		 * an empty file, not a stale owner. */
		if (inst->lock_path) {
			if (ftruncate(inst->lock_fd, 0) < 0)
				log_warn("cannot empty lock file '%s': %m",
					 inst->lock_path);
			unlink(inst->lock_path);
		}
		close(inst->lock_fd);
	}
	tracefs_put_tracing_file(inst->dir);
	free(inst->name);
	free(inst->lock_path);
	memset(inst, 0, sizeof(*inst));
	inst->lock_fd = -1;
}

static uint64_t stat_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	if (!p)
		return 0;
	return strtoull(p + strlen(key), NULL, 10);
}

int rt_instance_cpu_stats(struct rt_instance *inst, int cpu,
			  struct rt_cpu_stats *st)
{
	char file[64];
	char *text;

	snprintf(file, sizeof(file), "per_cpu/cpu%d/stats", cpu);
	text = tracefs_instance_file_read(inst->tfs, file, NULL);
	if (!text)
		return errno ? -errno : -EIO;
	st->cpu = cpu;
	st->lost = stat_field(text, "\noverrun:");
	if (!strncmp(text, "overrun:", 8))
		st->lost = stat_field(text, "overrun:");
	st->commit_overrun = stat_field(text, "commit overrun:");
	st->dropped = stat_field(text, "dropped events:");
	st->events = stat_field(text, "read events:");
	free(text);
	return 0;
}

/* ---- live reload ---- */

/* "system/event" of every event @cfg selects, "*" expanded. */
static int expand_events(const struct rt_config *cfg, struct rt_instance *inst,
			 char ***ret, size_t *ret_n)
{
	char **set = NULL;
	size_t n = 0;

	for (size_t i = 0; i < cfg->nr_events; i++) {
		const struct rt_event_sel *ev = &cfg->events[i];
		char **names = NULL, *one[2] = { ev->event, NULL };

		/* always recorded, nothing to switch */
		if (!strcmp(ev->system, "ftrace"))
			continue;
		if (!strcmp(ev->event, "*")) {
			names = tracefs_system_events(inst->dir, ev->system);
			if (!names)
				continue;
		}
		for (char **e = names ? names : one; *e; e++) {
			char **grown = realloc(set, (n + 1) * sizeof(*set));

			if (!grown || asprintf(&grown[n], "%s/%s", ev->system,
					       *e) < 0) {
				set = grown ? grown : set;
				for (size_t k = 0; k < n; k++)
					free(set[k]);
				free(set);
				tracefs_list_free(names);
				return -ENOMEM;
			}
			set = grown;
			n++;
		}
		tracefs_list_free(names);
	}
	*ret = set;
	*ret_n = n;
	return 0;
}

static bool in_set(char **set, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(set[i], name))
			return true;
	return false;
}

static void free_set(char **set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(set[i]);
	free(set);
}

static const struct rt_event_opts *find_opts(const struct rt_config *cfg,
					     const char *system,
					     const char *event)
{
	for (size_t i = 0; i < cfg->nr_event_opts; i++)
		if (!strcmp(cfg->event_opts[i].system, system) &&
		    !strcmp(cfg->event_opts[i].event, event))
			return &cfg->event_opts[i];
	return NULL;
}

static int clear_filter(struct rt_instance *inst, const struct rt_event_opts *eo)
{
	char *file;
	int r;

	if (!strcmp(eo->event, "*"))
		r = asprintf(&file, "events/%s/filter", eo->system);
	else
		r = asprintf(&file, "events/%s/%s/filter", eo->system, eo->event);
	if (r < 0)
		return -ENOMEM;
	r = inst_write(inst, file, "0");
	free(file);
	return r;
}

int rt_instance_apply_events(const struct rt_config *old,
			     const struct rt_config *new,
			     struct rt_instance *inst)
{
	char **was = NULL, **will = NULL;
	size_t nwas = 0, nwill = 0;
	int r;

	/* Everything the kernel may refuse first, before anything changes
	 * for the events that stay: the names, then the new filters. */
	for (size_t i = 0; i < new->nr_events; i++)
		if (!event_exists(inst, new->events[i].system,
				  new->events[i].event)) {
			log_err("%s:%d: unknown event '%s:%s' (not in %s/events)",
				new->path, new->events[i].line,
				new->events[i].system, new->events[i].event,
				inst->dir);
			return -ENOENT;
		}
	for (size_t i = 0; i < new->nr_event_opts; i++) {
		const struct rt_event_opts *eo = &new->event_opts[i];
		const struct rt_event_opts *prev =
			find_opts(old, eo->system, eo->event);

		if (prev && prev->filter && eo->filter &&
		    !strcmp(prev->filter, eo->filter))
			continue;
		if (eo->filter)
			r = set_filter(new, inst, eo);
		else
			r = prev && prev->filter ? clear_filter(inst, eo) : 0;
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < old->nr_event_opts; i++) {
		const struct rt_event_opts *eo = &old->event_opts[i];

		if (eo->filter && !find_opts(new, eo->system, eo->event)) {
			r = clear_filter(inst, eo);
			if (r < 0)
				log_warn("cannot remove the filter of '%s:%s': %s",
					 eo->system, eo->event, strerror(-r));
		}
	}
	r = expand_events(old, inst, &was, &nwas);
	if (!r)
		r = expand_events(new, inst, &will, &nwill);
	/* switched one by one: an event in both sets is never off */
	for (size_t i = 0; !r && i < nwill; i++) {
		char file[600];

		if (in_set(was, nwas, will[i]))
			continue;
		snprintf(file, sizeof(file), "events/%s/enable", will[i]);
		r = inst_write(inst, file, "1");
		if (r < 0)
			log_err("%s: cannot enable event '%s': %s", new->path,
				will[i], strerror(-r));
		else
			log_info("reload: event %s enabled", will[i]);
	}
	for (size_t i = 0; !r && i < nwas; i++) {
		char file[600];

		if (in_set(will, nwill, was[i]))
			continue;
		snprintf(file, sizeof(file), "events/%s/enable", was[i]);
		r = inst_write(inst, file, "0");
		if (r < 0)
			log_err("cannot disable event '%s': %s", was[i],
				strerror(-r));
		else
			log_info("reload: event %s disabled", was[i]);
	}
	free_set(was, nwas);
	free_set(will, nwill);
	return r;
}

/* --check-config and reloads: let the kernel judge events, filters, clock
 * and sizes on a throwaway instance. */
int rt_instance_check_config(struct rt_config *cfg)
{
	struct rt_instance inst;
	char *name, *orig = cfg->instance;
	int r;

	if (asprintf(&name, "%s-check-%ld", cfg->instance, (long)getpid()) < 0)
		return -ENOMEM;
	cfg->instance = name;
	r = rt_instance_setup(cfg, &inst);
	if (!r)
		rt_instance_teardown(&inst);
	cfg->instance = orig;
	free(name);
	return r;
}
