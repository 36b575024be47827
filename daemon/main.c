// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtapd: set up the instance, map every CPU's ring buffer, feed the
 * outputs until SIGINT/SIGTERM (or --duration), then drain, finish every
 * file with an END frame and remove the instance.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <tracefs.h>

#include "ringtap/clock.h"
#include "ringtap/log.h"
#include "ringtapd.h"
#include "bpf.h"

#define DEFAULT_CONFIG "/etc/ringtap/ringtap.conf"

struct options {
	const char *config;
	bool check_only;
	double duration; /* seconds, 0 = until a signal */
	bool quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtapd [OPTIONS]\n"
		"Capture ftrace events from every CPU's mapped ring buffer.\n\n"
		"  -c, --config FILE    configuration (default " DEFAULT_CONFIG ")\n"
		"      --check-config   validate the configuration, also against the\n"
		"                       kernel (events, filters, clock), and exit\n"
		"  -d, --duration SEC   stop after SEC seconds (default: on SIGINT/SIGTERM)\n"
		"  -q, --quiet          log warnings and errors only\n"
		"  -v, --verbose        log debug messages\n"
		"  -h, --help           this help\n"
		"  -V, --version        print the version\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "duration", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c;

	o->config = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:d:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'C':
			o->check_only = true;
			break;
		case 'd': {
			char *end;

			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || *end || end == optarg || o->duration <= 0 ||
			    o->duration > 1e9) {
				log_err("--duration: '%s' is not a positive number of seconds",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case 'q':
			rt_log_set_level(LOG_WARNING);
			break;
		case 'v':
			rt_log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("ringtapd %s\n", RINGTAP_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* tracefs is not mounted at boot on every system. */
static int ensure_tracefs(void)
{
	struct stat st;

	if (tracefs_tracing_dir())
		return 0;
	if (stat("/sys/kernel/tracing", &st) == 0 &&
	    mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
	    tracefs_tracing_dir())
		return 0;
	log_err("tracefs is not mounted and cannot be mounted on /sys/kernel/tracing: %m");
	return -ENODEV;
}

/* One line with the configuration in force, for the journal. */
static void log_effective_config(const struct rt_daemon *d)
{
	const struct rt_config *cfg = d->cfg;
	char line[4096];
	size_t n = 0;

#define ADD(...)                                                             \
	do {                                                                 \
		if (n < sizeof(line))                                        \
			n += snprintf(line + n, sizeof(line) - n, __VA_ARGS__); \
	} while (0)
	ADD("configuration %s: instance=%s buffer_size_kb=%u subbuf_size_kb=%u clock=%s buffer_percent=%u flush_interval_ms=%u reader=%s events=",
	    cfg->path, cfg->instance, cfg->buffer_size_kb, cfg->subbuf_size_kb,
	    cfg->clock, cfg->buffer_percent, cfg->flush_interval_ms,
	    cfg->reader == RT_READER_MMAP ? "mmap" :
	    cfg->reader == RT_READER_READ ? "read" : "copy");
	for (size_t i = 0; i < cfg->nr_events; i++)
		ADD("%s%s:%s", i ? "," : "", cfg->events[i].system,
		    cfg->events[i].event);
	for (size_t i = 0; i < cfg->nr_event_opts; i++)
		if (cfg->event_opts[i].filter)
			ADD(" filter[%s:%s]=\"%s\"", cfg->event_opts[i].system,
			    cfg->event_opts[i].event, cfg->event_opts[i].filter);
	for (size_t i = 0; i < cfg->nr_outputs; i++) {
		const struct rt_output *o = &cfg->outputs[i];

		if (o->type == RT_OUTPUT_FILE)
			ADD(" output[%s]=file:%s,max_file_size=%llu,max_files=%u,direct_io=%s",
			    o->name, o->path, (unsigned long long)o->max_file_size,
			    o->max_files, rt_direct_io_name(o->direct_io));
		else if (o->type == RT_OUTPUT_DISCARD)
			ADD(" output[%s]=discard", o->name);
		else
			ADD(" output[%s]=%s:%s%s%s%s%s,max_file_size=%llu,queue_size=%llu,spill_dir=%s,spill_size=%llu,reconnect_ms=%u..%u,stop_timeout_ms=%u%s%s",
			    o->name,
			    o->type == RT_OUTPUT_TCP  ? "tcp" :
			    o->type == RT_OUTPUT_NATS ? "nats" :
							"unix",
			    o->address,
			    o->type == RT_OUTPUT_NATS ? ",stream=" : "",
			    o->type == RT_OUTPUT_NATS ? o->stream : "",
			    o->type == RT_OUTPUT_NATS ? ",subject_prefix=" : "",
			    o->type == RT_OUTPUT_NATS ? o->subject_prefix : "",
			    (unsigned long long)o->max_file_size,
			    (unsigned long long)o->queue_size, o->spill_dir,
			    (unsigned long long)o->spill_size,
			    o->reconnect_min_ms, o->reconnect_max_ms,
			    o->stop_timeout_ms, o->token_file ? ",token" : "",
			    o->type == RT_OUTPUT_UNIX ? "" :
			    o->insecure		      ? ",plain" :
							",tls");
	}
	ADD(" run_dir=%s", cfg->run_dir);
#undef ADD
	log_info("%s", line);
}

/* STATUS= for systemctl status: rates since the last update. */
static void notify_status(struct rt_daemon *d, uint64_t *prev_events,
			  uint64_t *prev_ms)
{
	uint64_t events, lost, lost_sink, t = rt_now_ms();
	char outs[512] = "";
	size_t n = 0;
	bool healthy = true;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	rt_capture_pause(&d->cap);
	rt_daemon_totals(d, &events, &lost, &lost_sink);
	for (size_t i = 0; i < d->cap.nr_sinks && n < sizeof(outs); i++) {
		struct rt_sink *s = d->cap.sinks[i];
		char detail[600];
		const char *st = s->ops->state ?
					 s->ops->state(s, detail, sizeof(detail)) :
					 "ok";

		healthy &= !strcmp(st, "ok") || !strcmp(st, "connected");
		n += snprintf(outs + n, sizeof(outs) - n, "%s%s %s",
			      i ? ", " : "", s->out->name, st);
	}
	rt_capture_resume(&d->cap);
	sd_notifyf(0, "STATUS=%s %d CPUs (%s): %.0f events/s, %llu events, %llu lost in buffers, %llu lost by outputs; outputs: %s",
		   healthy ? "capturing" : "DEGRADED:", d->cap.nr_cpus,
		   d->cap.mode,
		   t > *prev_ms ? (events - *prev_events) * 1000.0 / (t - *prev_ms) : 0.0,
		   (unsigned long long)events, (unsigned long long)lost,
		   (unsigned long long)lost_sink, outs);
	*prev_events = events;
	*prev_ms = t;
}

/*
 * The watchdog is fed only while every reader thread still turns its loop
 * (each wakes at least every flush_interval_ms): a reader stuck in a
 * write to a hung disk gets the service restarted instead of a silent
 * stall.
 */
static bool readers_alive(struct rt_daemon *d, uint64_t *last_beats)
{
	bool alive = true;

	for (int cpu = 0; cpu < d->cap.nr_cpus; cpu++) {
		uint64_t b;

		if (!d->cap.online[cpu])
			continue;
		b = atomic_load(&d->cap.readers[cpu].beats);
		if (b == last_beats[cpu]) {
			log_warn("cpu %d: reader thread has not turned for a watchdog period: not feeding the watchdog",
				 cpu);
			alive = false;
		}
		last_beats[cpu] = b;
	}
	return alive;
}

/*
 * Until SIGINT/SIGTERM, the end of --duration, or a reader thread's
 * failure (returned as its error).  Serves the control socket, reloads on
 * SIGHUP, keeps STATUS= fresh and feeds the watchdog.
 */
static int main_loop(struct rt_daemon *d, double duration)
{
	uint64_t deadline = duration > 0 ? rt_now_ms() + (uint64_t)(duration * 1000) : 0;
	uint64_t wd_usec = 0, next_status, next_wd = UINT64_MAX, prev_ms, prev_ev = 0;
	uint64_t *beats = calloc(d->cap.nr_cpus, sizeof(*beats));
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd, r = 0;

	if (!beats)
		return -ENOMEM;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		free(beats);
		return -errno;
	}
	prev_ms = rt_now_ms();
	next_status = prev_ms + 2000;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec)
		next_wd = prev_ms + wd_usec / 2000;
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = d->cap.fail_fd, .events = POLLIN },
			{ .fd = d->ctl_fd, .events = POLLIN },
		};
		uint64_t t = rt_now_ms(), wake = next_status < next_wd ? next_status : next_wd;

		if (deadline && t >= deadline) {
			log_info("capture duration elapsed: stopping");
			break;
		}
		if (deadline && deadline < wake)
			wake = deadline;
		if (poll(pfd, 3, wake > t ? (int)(wake - t) : 0) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		t = rt_now_ms();
		if (t >= next_wd) {
			if (readers_alive(d, beats))
				sd_notify(0, "WATCHDOG=1");
			next_wd = t + wd_usec / 2000;
		}
		if (t >= next_status) {
			notify_status(d, &prev_ev, &prev_ms);
			next_status = t + 2000;
		}
		if (pfd[1].revents) {
			r = atomic_load(&d->cap.failed);
			log_err("a CPU reader failed (%s): stopping the capture",
				strerror(-r));
			break;
		}
		if (pfd[2].revents)
			rt_control_serve(d);
		if (pfd[0].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				uint64_t usec = 0;
				struct timespec ts;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				usec = ts.tv_sec * 1000000ull + ts.tv_nsec / 1000;
				d->state = "reloading";
				sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
					   (unsigned long long)usec);
				rt_reload(d);
				d->state = "running";
				sd_notify(0, "READY=1");
				notify_status(d, &prev_ev, &prev_ms);
				continue;
			}
			log_info("received %s: stopping", strsignal(si.ssi_signo));
			break;
		}
	}
	close(sfd);
	free(beats);
	return r;
}

static void log_resource_usage(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	log_info("resource usage: user %ld.%06ld s, system %ld.%06ld s, max RSS %ld KiB",
		 (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
		 (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
		 ru.ru_maxrss);
}

static void print_summary(const struct rt_capture *cap)
{
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		const struct rt_cpu_stats *st = &cap->readers[cpu].st;

		if (!cap->online[cpu])
			continue;
		log_info("cpu %d: %llu events, %llu bytes, %llu sub-buffers, %llu reads, %llu lost in the ring buffer, %llu lost by outputs",
			 cpu, (unsigned long long)st->events,
			 (unsigned long long)st->bytes,
			 (unsigned long long)st->subbufs,
			 (unsigned long long)st->reads,
			 (unsigned long long)st->lost,
			 (unsigned long long)st->lost_sink);
	}
	log_resource_usage();
}

/* A stop that takes longer than this is logged with the reason. */
#define SLOW_STOP_MS 5000

static int run(struct rt_daemon *d, const struct options *o)
{
	struct rt_capture *cap = &d->cap;
	uint64_t stop_start;
	int r;

	d->state = "starting";
	d->start_ms = rt_now_ms();
	d->start_realtime = time(NULL);
	d->ctl_fd = -1;
	cap->cfg = d->cfg;
	cap->inst = &d->inst;
	cap->stop_fd = cap->fail_fd = -1;
	log_effective_config(d);
	r = rt_instance_setup(d->cfg, &d->inst);
	if (r < 0)
		return r;
	r = rt_online_cpus(&cap->online, &cap->nr_cpus);
	if (r < 0) {
		log_err("cannot tell which CPUs are online: %s", strerror(-r));
		goto out;
	}
	r = rt_capture_open_readers(cap);
	if (r < 0)
		goto out;
	d->header = calloc(1, sizeof(*d->header));
	if (!d->header) {
		r = -ENOMEM;
		goto out;
	}
	r = rt_metadata_build(d->cfg, &d->inst, cap->subbuf_size, cap->nr_cpus,
			      cap->mode, d->header);
	if (r < 0) {
		log_err("cannot collect the capture's metadata: %s",
			strerror(-r));
		goto out;
	}
	/* BPF programs: loaded and attached now, drained once tracing is on */
	r = rt_bpf_start(d->cfg->bpf, d->cfg->nr_bpf, d->cfg->path, &d->inst);
	if (r < 0)
		goto out;
	cap->sinks = calloc(d->cfg->nr_outputs, sizeof(*cap->sinks));
	if (!cap->sinks) {
		r = -ENOMEM;
		goto out;
	}
	/* one cmdlines table for all: the same room kept at files' ends */
	rt_cmdlines_moment_begin();
	for (size_t i = 0; i < d->cfg->nr_outputs && r >= 0; i++) {
		r = rt_sink_create(&d->cfg->outputs[i], d->header, &d->inst,
				   cap->nr_cpus, cap->online, &cap->sinks[i]);
		if (r >= 0)
			cap->nr_sinks++;
	}
	rt_cmdlines_moment_end();
	if (r < 0)
		goto out;
	r = rt_control_open(d);
	if (r < 0)
		goto out;
	r = rt_capture_start(cap);
	if (r < 0)
		goto out_stop;
	r = rt_instance_tracing_on(&d->inst, true);
	if (r < 0) {
		log_err("instance '%s': cannot turn tracing on: %s",
			d->inst.name, strerror(-r));
		goto out_stop;
	}
	r = rt_bpf_run();
	if (r < 0)
		goto out_stop;
	log_info("capturing on %d CPUs into instance '%s' (reader %s, %u KiB sub-buffers, %u KiB per CPU, %zu outputs); control socket %s",
		 cap->nr_cpus, d->inst.name, cap->mode, cap->subbuf_size / 1024,
		 d->cfg->buffer_size_kb, cap->nr_sinks, d->ctl_path);
	/* Every reader thread runs and every output is open. */
	d->state = "running";
	sd_notifyf(0, "READY=1\nSTATUS=capturing %d CPUs (%s), %zu outputs\nMAINPID=%ld",
		   cap->nr_cpus, cap->mode, cap->nr_sinks, (long)getpid());
	r = main_loop(d, o->duration);
out_stop:
	d->state = "stopping";
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: draining the buffers");
	stop_start = rt_now_ms();
	/* BPF programs off and their last events in, while tracing is on. */
	rt_bpf_stop();
	/* Stop the writers first, so that the final drain terminates. */
	rt_instance_tracing_on(&d->inst, false);
	{
		int r2 = rt_capture_stop(cap);

		if (!r && r2 < 0)
			r = r2;
	}
	if (rt_now_ms() - stop_start > SLOW_STOP_MS)
		log_warn("stopping took %.1f s: draining the buffers and finishing the outputs' files (slow storage?)",
			 (rt_now_ms() - stop_start) / 1000.0);
	print_summary(cap);
out:
	rt_bpf_stop(); /* after a failed start; a no-op after out_stop's */
	rt_control_close(d);
	for (size_t i = 0; i < cap->nr_sinks; i++)
		rt_sink_free(cap->sinks[i]);
	free(cap->sinks);
	rt_capture_close_readers(cap);
	free(cap->online);
	if (d->header) {
		rt_buf_free(d->header);
		free(d->header);
	}
	rt_instance_teardown(&d->inst);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct rt_daemon d = { .ctl_fd = -1 };
	char err[RT_CONFIG_ERR_MAX];
	sigset_t set;
	int r;

	rt_log_init("ringtapd");
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	d.config_path = o.config;
	d.cfg = calloc(1, sizeof(*d.cfg));
	if (!d.cfg)
		return 1;
	r = rt_config_load(d.cfg, o.config, err, sizeof(err));
	if (r < 0)
		log_err("%s", err);
	else
		r = rt_bpf_check(d.cfg->bpf, d.cfg->nr_bpf, d.cfg->path);
	if (r < 0) {
		rt_config_free(d.cfg);
		free(d.cfg);
		return 2;
	}
	/* Signals are taken synchronously by the main thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	r = ensure_tracefs();
	if (!r && o.check_only) {
		r = rt_instance_check_config(d.cfg);
		/* the kernel's verifier on every [bpf] program, none attached */
		if (!r)
			r = rt_bpf_verify(d.cfg->bpf, d.cfg->nr_bpf, d.cfg->path);
		if (!r)
			printf("%s: configuration is valid\n", d.cfg->path);
	} else if (!r) {
		r = run(&d, &o);
	}
	if (r < 0)
		sd_notifyf(0, "STATUS=failed: %s\nERRNO=%d", strerror(-r), -r);
	rt_config_free(d.cfg);
	free(d.cfg);
	return r < 0 ? 1 : 0;
}
