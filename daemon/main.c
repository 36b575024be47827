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

#include <tracefs.h>

#include "ringtap/log.h"
#include "ringtapd.h"

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

/* --check-config: let the kernel judge events, filters and clock on a
 * throwaway instance. */
static int check_config(struct rt_config *cfg)
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
	if (!r)
		printf("%s: configuration is valid\n", cfg->path);
	return r;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/*
 * Until SIGINT/SIGTERM, the end of --duration, or a reader thread's
 * failure (returned as its error).
 */
static int wait_for_stop(const struct rt_capture *cap, double duration)
{
	uint64_t deadline = duration > 0 ? now_ms() + (uint64_t)(duration * 1000) : 0;
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd, r = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = cap->fail_fd, .events = POLLIN },
		};
		int timeout = -1;

		if (deadline) {
			uint64_t t = now_ms();

			if (t >= deadline) {
				log_info("capture duration elapsed: stopping");
				break;
			}
			timeout = deadline - t;
		}
		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (pfd[1].revents) {
			r = atomic_load(&cap->failed);
			log_err("a CPU reader failed (%s): stopping the capture",
				strerror(-r));
			break;
		}
		if (pfd[0].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				log_warn("SIGHUP: live reload is not implemented yet; the capture goes on unchanged");
				continue;
			}
			log_info("received %s: stopping", strsignal(si.ssi_signo));
			break;
		}
	}
	close(sfd);
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

static int run(struct rt_config *cfg, const struct options *o)
{
	struct rt_instance inst;
	struct rt_capture cap = { .cfg = cfg, .inst = &inst, .stop_fd = -1,
				  .fail_fd = -1 };
	struct rt_buf header = { 0 };
	int r;

	r = rt_instance_setup(cfg, &inst);
	if (r < 0)
		return r;
	r = rt_online_cpus(&cap.online, &cap.nr_cpus);
	if (r < 0) {
		log_err("cannot tell which CPUs are online: %s", strerror(-r));
		goto out;
	}
	r = rt_capture_open_readers(&cap);
	if (r < 0)
		goto out;
	r = rt_metadata_build(cfg, &inst, cap.subbuf_size, cap.nr_cpus,
			      cap.mode, &header);
	if (r < 0) {
		log_err("cannot collect the capture's metadata: %s",
			strerror(-r));
		goto out;
	}
	cap.sinks = calloc(cfg->nr_outputs, sizeof(*cap.sinks));
	if (!cap.sinks) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->nr_outputs; i++) {
		r = rt_sink_create(&cfg->outputs[i], &header, &inst,
				   cap.nr_cpus, cap.online, &cap.sinks[i]);
		if (r < 0)
			goto out;
		cap.nr_sinks++;
	}
	r = rt_capture_start(&cap);
	if (r < 0)
		goto out_stop;
	r = rt_instance_tracing_on(&inst, true);
	if (r < 0) {
		log_err("instance '%s': cannot turn tracing on: %s", inst.name,
			strerror(-r));
		goto out_stop;
	}
	log_info("capturing on %d CPUs into instance '%s' (reader %s, %u KiB sub-buffers, %u KiB per CPU, %zu outputs)",
		 cap.nr_cpus, inst.name, cap.mode, cap.subbuf_size / 1024,
		 cfg->buffer_size_kb, cap.nr_sinks);
	r = wait_for_stop(&cap, o->duration);
out_stop:
	/* Stop the writers first, so that the final drain terminates. */
	rt_instance_tracing_on(&inst, false);
	{
		int r2 = rt_capture_stop(&cap);

		if (!r && r2 < 0)
			r = r2;
	}
	print_summary(&cap);
out:
	for (size_t i = 0; i < cap.nr_sinks; i++)
		rt_sink_free(cap.sinks[i]);
	free(cap.sinks);
	rt_capture_close_readers(&cap);
	free(cap.online);
	rt_buf_free(&header);
	rt_instance_teardown(&inst);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct rt_config cfg = { 0 };
	char err[RT_CONFIG_ERR_MAX];
	sigset_t set;
	int r;

	rt_log_init("ringtapd");
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	r = rt_config_load(&cfg, o.config, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		rt_config_free(&cfg);
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
	if (!r)
		r = o.check_only ? check_config(&cfg) : run(&cfg, &o);
	rt_config_free(&cfg);
	return r < 0 ? 1 : 0;
}
