// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * marker_writer: write sequenced markers "c=<cpu> s=<n>" to a trace_marker
 * from a thread pinned to each given CPU, for tests and benchmarks.
 *
 *   marker_writer -m MARKER -c CPULIST [-n COUNT] [-t SECONDS] [-r RATE]
 *                 [-s PAYLOAD_BYTES]
 *
 * Each CPU's writer stops after COUNT markers or SECONDS, whichever comes
 * first; RATE limits markers per second per CPU.  Prints one line per CPU:
 * "cpu=<cpu> written=<n> failed=<n>" (failed writes are not in the sequence).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct writer {
	int cpu;
	int fd;
	uint64_t count;
	double seconds;
	double rate;
	size_t payload;
	uint64_t written, failed;
	pthread_t thread;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct writer *w = arg;
	char buf[4096];
	cpu_set_t set;
	double start, deadline;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		fprintf(stderr, "marker_writer: cannot pin to cpu %d\n", w->cpu);
		exit(1);
	}
	start = now();
	deadline = w->seconds > 0 ? start + w->seconds : 0;
	for (uint64_t s = 0; !w->count || s < w->count; s++) {
		int len = snprintf(buf, sizeof(buf), "c=%d s=%llu", w->cpu,
				   (unsigned long long)w->written);

		if (w->payload > (size_t)len && w->payload < sizeof(buf)) {
			buf[len] = ' ';
			memset(buf + len + 1, 'x', w->payload - len - 1);
			len = w->payload;
		}
		if ((s & 255) == 0 && deadline && now() >= deadline)
			break;
		if (w->rate > 0) {
			double due = start + s / w->rate;
			double t = now();

			if (deadline && due >= deadline)
				break;
			if (due > t) {
				struct timespec d = { 0, (long)((due - t) * 1e9) };

				nanosleep(&d, NULL);
			}
		}
		if (write(w->fd, buf, len) == len)
			w->written++;
		else
			w->failed++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *marker = NULL, *cpus = NULL;
	struct writer w[256];
	uint64_t count = 0;
	double seconds = 0, rate = 0;
	size_t payload = 0;
	int nr = 0, c;

	while ((c = getopt(argc, argv, "m:c:n:t:r:s:")) != -1) {
		switch (c) {
		case 'm': marker = optarg; break;
		case 'c': cpus = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 's': payload = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: marker_writer -m MARKER -c CPULIST [-n COUNT] [-t SEC] [-r RATE] [-s BYTES]\n");
			return 2;
		}
	}
	if (!marker || !cpus || (!count && seconds <= 0)) {
		fprintf(stderr, "marker_writer: -m, -c and one of -n/-t are required\n");
		return 2;
	}
	for (char *p = strdup(cpus), *tok = strtok(p, ","); tok && nr < 256;
	     tok = strtok(NULL, ",")) {
		w[nr] = (struct writer){ .cpu = atoi(tok), .count = count,
					 .seconds = seconds, .rate = rate,
					 .payload = payload };
		w[nr].fd = open(marker, O_WRONLY | O_CLOEXEC);
		if (w[nr].fd < 0) {
			fprintf(stderr, "marker_writer: %s: %s\n", marker,
				strerror(errno));
			return 1;
		}
		nr++;
	}
	for (int i = 0; i < nr; i++)
		pthread_create(&w[i].thread, NULL, run, &w[i]);
	for (int i = 0; i < nr; i++) {
		pthread_join(w[i].thread, NULL);
		printf("cpu=%d written=%llu failed=%llu\n", w[i].cpu,
		       (unsigned long long)w[i].written,
		       (unsigned long long)w[i].failed);
	}
	return 0;
}
