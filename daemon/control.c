// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket: <run_dir>/<instance>.sock, a Unix stream socket only
 * its owner (root) may connect to.  One request line per connection
 * ("status" or "ping"); the answer is lines of four tab-separated fields,
 * SCOPE ID KEY VALUE, after a first line "ringtapd-status<TAB>1".  The
 * format is documented in docs/service.md; `ringtap status` renders it as
 * text, JSON or OpenMetrics.  Served by the main thread between signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/clock.h"
#include "ringtap/log.h"
#include "ringtapd.h"
#include "bpf.h"

int rt_control_open(struct rt_daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_mask;
	int fd, r;

	if (asprintf(&d->ctl_path, "%s/%s.sock", d->cfg->run_dir,
		     d->cfg->instance) < 0)
		return -ENOMEM;
	if (strlen(d->ctl_path) >= sizeof(sa.sun_path)) {
		log_err("control socket path '%s' is too long (run_dir)",
			d->ctl_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* We hold the instance lock: a socket file left here is stale. */
	unlink(d->ctl_path);
	old_mask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r < 0 || listen(fd, 8) < 0) {
		r = -errno;
		log_err("cannot listen on control socket '%s': %s", d->ctl_path,
			strerror(-r));
		close(fd);
		return r;
	}
	d->ctl_fd = fd;
	return 0;
}

void rt_control_close(struct rt_daemon *d)
{
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->ctl_path);
	}
	d->ctl_fd = -1;
	free(d->ctl_path);
	d->ctl_path = NULL;
}

/* a value on one line, with no tabs */
static void put(FILE *f, const char *scope, const char *id, const char *key,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void put(FILE *f, const char *scope, const char *id, const char *key,
		const char *fmt, ...)
{
	char val[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	for (char *p = val; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(f, "%s\t%s\t%s\t%s\n", scope, id, key, val);
}

struct put_ctx {
	FILE *f;
	const char *name;
};

/* BPF programs (daemon/bpf.c): scope "bpf", id the section name. */
static void put_bpf(void *ctx, const char *id, const char *key,
		    const char *val)
{
	put(ctx, "bpf", id, key, "%s", val);
}

static void put_output(void *ctx, const char *key, const char *val)
{
	struct put_ctx *c = ctx;

	put(c->f, "output", c->name, key, "%s", val);
}

void rt_daemon_totals(struct rt_daemon *d, uint64_t *events, uint64_t *lost,
		      uint64_t *lost_sink)
{
	struct rt_capture *cap = &d->cap;

	*events = *lost = *lost_sink = 0;
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		struct rt_cpu_stats st;

		if (!cap->online[cpu])
			continue;
		rt_capture_cpu_snapshot(cap, cpu, &st);
		*events += st.events;
		*lost += st.lost;
		*lost_sink += st.lost_sink;
	}
}

static void write_status(struct rt_daemon *d, FILE *f)
{
	const struct rt_config *cfg = d->cfg;
	struct rt_capture *cap = &d->cap;
	char events[4096] = "", id[32];
	uint64_t up = rt_now_ms() - d->start_ms;

	for (size_t i = 0; i < cfg->nr_events; i++) {
		size_t n = strlen(events);

		snprintf(events + n, sizeof(events) - n, "%s%s:%s", i ? "," : "",
			 cfg->events[i].system, cfg->events[i].event);
	}
	fprintf(f, "ringtapd-status\t1\n");
	put(f, "daemon", "-", "version", "%s", RINGTAP_VERSION);
	put(f, "daemon", "-", "pid", "%ld", (long)getpid());
	put(f, "daemon", "-", "state", "%s", d->state);
	put(f, "daemon", "-", "config", "%s", d->config_path);
	put(f, "daemon", "-", "instance", "%s", cfg->instance);
	put(f, "daemon", "-", "started", "%lld", (long long)d->start_realtime);
	put(f, "daemon", "-", "uptime_seconds", "%llu.%03llu",
	    (unsigned long long)up / 1000, (unsigned long long)up % 1000);
	put(f, "daemon", "-", "reader", "%s", cap->mode);
	put(f, "daemon", "-", "clock", "%s", cfg->clock);
	put(f, "daemon", "-", "buffer_size_kb", "%u", cfg->buffer_size_kb);
	put(f, "daemon", "-", "subbuf_size_kb", "%u", cap->subbuf_size / 1024);
	put(f, "daemon", "-", "events", "%s", events);
	put(f, "daemon", "-", "reloads", "%u", d->reloads);
	put(f, "daemon", "-", "reload_failures", "%u", d->reload_failures);
	put(f, "daemon", "-", "last_reload", "%s",
	    d->last_reload[0] ? d->last_reload : "none");

	rt_capture_pause(cap);
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		const struct rt_cpu_reader *rd = &cap->readers[cpu];
		struct rt_cpu_stats st;

		if (!cap->online[cpu])
			continue;
		rt_capture_cpu_snapshot(cap, cpu, &st);
		snprintf(id, sizeof(id), "%d", cpu);
		put(f, "cpu", id, "reader", "%s",
		    rd->mapped ? "mmap" :
		    cfg->reader == RT_READER_COPY ? "copy" : "read");
		put(f, "cpu", id, "events", "%llu", (unsigned long long)st.events);
		put(f, "cpu", id, "bytes", "%llu", (unsigned long long)st.bytes);
		put(f, "cpu", id, "subbufs", "%llu", (unsigned long long)st.subbufs);
		put(f, "cpu", id, "reads", "%llu", (unsigned long long)st.reads);
		put(f, "cpu", id, "lost", "%llu", (unsigned long long)st.lost);
		put(f, "cpu", id, "lost_output", "%llu",
		    (unsigned long long)st.lost_sink);
	}
	for (size_t i = 0; i < cap->nr_sinks; i++) {
		struct rt_sink *s = cap->sinks[i];
		char detail[600] = "";
		const char *state = s->ops->state ?
					    s->ops->state(s, detail, sizeof(detail)) :
					    "ok";
		uint64_t le = 0, lb = 0;

		for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
			le += s->lost_events[cpu];
			lb += s->lost_bytes[cpu];
		}
		put(f, "output", s->out->name, "type", "%s", s->ops->type);
		put(f, "output", s->out->name, "state", "%s", state);
		if (detail[0])
			put(f, "output", s->out->name, "detail", "%s", detail);
		put(f, "output", s->out->name, "lost_events", "%llu",
		    (unsigned long long)le);
		put(f, "output", s->out->name, "lost_bytes", "%llu",
		    (unsigned long long)lb);
		if (s->ops->status)
			s->ops->status(s, put_output,
				       &(struct put_ctx){ f, s->out->name });
	}
	rt_bpf_status(put_bpf, f);
	rt_capture_resume(cap);
}

void rt_control_serve(struct rt_daemon *d)
{
	struct timeval tv = { .tv_sec = 1 };
	char req[128];
	ssize_t n;
	FILE *f;
	int fd;

	fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* a client that stalls must not hold up the daemon for long */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0) {
		close(fd);
		return;
	}
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	if (!strcmp(req, "status"))
		write_status(d, f);
	else if (!strcmp(req, "ping"))
		fprintf(f, "pong\n");
	else
		fprintf(f, "error\tunknown request '%.64s' (try: status, ping)\n",
			req);
	fclose(f);
}
