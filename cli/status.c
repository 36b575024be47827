// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap status: ask a running ringtapd over its control socket
 * (<run_dir>/<instance>.sock, daemon/control.c) and show the answer as
 * text, JSON (--json) or OpenMetrics text (--metrics, for Prometheus'
 * node_exporter textfile collector or any scraper that runs a command).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringtap/config.h"
#include "ringtap/log.h"
#include "ringtap.h"

#define DEFAULT_CONFIG "/etc/ringtap/ringtap.conf"

struct entry {
	char *scope, *id, *key, *val;
};

struct status {
	struct entry *e;
	size_t n;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap status [OPTIONS]\n"
		"Show a running ringtapd: per-CPU events, bytes, losses, reader mode,\n"
		"outputs and their state.\n\n"
		"  -c, --config FILE   find the daemon through its config (run_dir and\n"
		"                      instance; default " DEFAULT_CONFIG ")\n"
		"  -s, --socket PATH   the control socket itself\n"
		"      --json          one JSON object, for scripts\n"
		"      --metrics       OpenMetrics/Prometheus text exposition\n"
		"  -h, --help          this help\n\n"
		"Exit status: 0 running, 1 not reachable or an error, 2 bad usage.\n");
}

static const char *get(const struct status *st, const char *scope,
		       const char *id, const char *key)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->e[i].scope, scope) && !strcmp(st->e[i].id, id) &&
		    !strcmp(st->e[i].key, key))
			return st->e[i].val;
	return NULL;
}

static unsigned long long getu(const struct status *st, const char *scope,
			       const char *id, const char *key)
{
	const char *v = get(st, scope, id, key);

	return v ? strtoull(v, NULL, 10) : 0;
}

/* The distinct ids of a scope, in order of appearance. */
static size_t ids(const struct status *st, const char *scope, const char ***ret)
{
	const char **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < st->n; i++) {
		bool seen = false;

		if (strcmp(st->e[i].scope, scope))
			continue;
		for (size_t k = 0; k < n && !seen; k++)
			seen = !strcmp(v[k], st->e[i].id);
		if (seen)
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		if (!v) {
			log_err("out of memory");
			exit(1);
		}
		v[n++] = st->e[i].id;
	}
	*ret = v;
	return n;
}

static int query(const char *path, struct status *st)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	char *buf = NULL, *line, *save;
	size_t len = 0, cap = 0;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		log_err("cannot reach ringtapd at %s: %s%s", path, strerror(-r),
			r == -ENOENT || r == -ECONNREFUSED ? " (is it running?)" : "");
		close(fd);
		return r;
	}
	if (send(fd, "status\n", 7, MSG_NOSIGNAL) != 7) {
		r = -errno;
		log_err("%s: cannot send the request: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			if (cap > (16u << 20)) {
				log_err("%s: answer too long", path);
				close(fd);
				free(buf);
				return -EMSGSIZE;
			}
			buf = realloc(buf, cap);
			if (!buf) {
				close(fd);
				return -ENOMEM;
			}
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			r = -errno;
			log_err("%s: no answer: %s", path, strerror(-r));
			close(fd);
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	if (strncmp(buf, "ringtapd-status\t1\n", 18)) {
		log_err("%s: not a ringtapd status answer (version 1): '%.60s'",
			path, buf);
		free(buf);
		return -EPROTO;
	}
	for (line = strtok_r(buf + 18, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4];
		int k = 0;

		f[k++] = line;
		for (char *p = line; *p && k < 4; p++)
			if (*p == '\t') {
				*p = '\0';
				f[k++] = p + 1;
			}
		if (k != 4) {
			log_err("%s: malformed status line '%s'", path, line);
			continue;
		}
		st->e = realloc(st->e, (st->n + 1) * sizeof(*st->e));
		if (!st->e) {
			free(buf);
			return -ENOMEM;
		}
		st->e[st->n++] = (struct entry){ strdup(f[0]), strdup(f[1]),
						 strdup(f[2]), strdup(f[3]) };
	}
	free(buf);
	return 0;
}

static bool is_number(const char *s)
{
	const char *p = s;

	if (!*p)
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.' && p != s) {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return !*p && !(s[0] == '0' && s[1] >= '0' && s[1] <= '9');
}

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void json_fields(const struct status *st, const char *scope,
			const char *id, bool first)
{
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->e[i].scope, scope) || strcmp(st->e[i].id, id))
			continue;
		printf("%s", first ? "" : ",");
		first = false;
		json_str(st->e[i].key);
		putchar(':');
		if (is_number(st->e[i].val))
			fputs(st->e[i].val, stdout);
		else
			json_str(st->e[i].val);
	}
}

static void show_json(const struct status *st)
{
	const char **cpus, **outs;
	size_t nc = ids(st, "cpu", &cpus), no = ids(st, "output", &outs);

	printf("{\"daemon\":{");
	json_fields(st, "daemon", "-", true);
	printf("},\"cpus\":[");
	for (size_t i = 0; i < nc; i++) {
		printf("%s{\"cpu\":%s", i ? "," : "", cpus[i]);
		json_fields(st, "cpu", cpus[i], false);
		putchar('}');
	}
	printf("],\"outputs\":[");
	for (size_t i = 0; i < no; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_str(outs[i]);
		json_fields(st, "output", outs[i], false);
		putchar('}');
	}
	free(outs);
	/* BPF programs ([bpf] sections), and "-": their drain into the instance */
	no = ids(st, "bpf", &outs);
	printf("],\"bpf\":[");
	for (size_t i = 0; i < no; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_str(outs[i]);
		json_fields(st, "bpf", outs[i], false);
		putchar('}');
	}
	printf("]}\n");
	free(cpus);
	free(outs);
}

/* OpenMetrics label values: backslash, quote and newline escaped. */
static void label(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
	putchar('"');
}

static void metric_head(const char *name, const char *type, const char *help)
{
	printf("# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

/* The labels of one [bpf] section's samples: instance, bpf, program. */
static void bpf_labels(const struct status *st, const char *inst,
		       const char *sec)
{
	printf("{instance=");
	label(inst);
	printf(",bpf=");
	label(sec);
	printf(",program=");
	label(get(st, "bpf", sec, "program") ?: get(st, "bpf", sec, "object") ?: "");
}

/* The BPF programs' counters (daemon/bpf.c, rt_bpf_status): per section
 * events seen, emitted and dropped (per CPU), and the drain's. */
static void show_bpf_metrics(const struct status *st, const char *inst)
{
	static const struct {
		const char *key, *name, *help;
	} per_sec[] = {
		{ "seen", "ringtap_bpf_seen_events", "events a BPF program looked at, per [bpf] section" },
		{ "emitted", "ringtap_bpf_emitted_events", "events a BPF program wrote to its ring buffer, per [bpf] section" },
	};
	const char **secs;
	size_t n = ids(st, "bpf", &secs);

	if (!n) {
		free(secs);
		return;
	}
	for (size_t m = 0; m < sizeof(per_sec) / sizeof(per_sec[0]); m++) {
		metric_head(per_sec[m].name, "counter", per_sec[m].help);
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(secs[i], "-"))
				continue;
			printf("%s_total", per_sec[m].name);
			bpf_labels(st, inst, secs[i]);
			printf("} %llu\n", getu(st, "bpf", secs[i], per_sec[m].key));
		}
	}
	metric_head("ringtap_bpf_dropped_events", "counter",
		    "events a BPF program could not emit (its ring buffer was full), per [bpf] section and CPU");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < st->n; j++) {
			if (strcmp(secs[i], "-") && !strcmp(st->e[j].scope, "bpf") &&
			    !strcmp(st->e[j].id, secs[i]) &&
			    !strncmp(st->e[j].key, "dropped_cpu", 11)) {
				printf("ringtap_bpf_dropped_events_total");
				bpf_labels(st, inst, secs[i]);
				printf(",cpu=");
				label(st->e[j].key + 11);
				printf("} %llu\n", strtoull(st->e[j].val, NULL, 10));
			}
		}
	metric_head("ringtap_bpf_written_events", "counter",
		    "BPF events ringtapd wrote into the instance");
	printf("ringtap_bpf_written_events_total{instance=");
	label(inst);
	printf("} %llu\n", getu(st, "bpf", "-", "written"));
	metric_head("ringtap_bpf_lost_write_events", "counter",
		    "BPF events ringtapd could not write into the instance");
	printf("ringtap_bpf_lost_write_events_total{instance=");
	label(inst);
	printf("} %llu\n", getu(st, "bpf", "-", "lost_write"));
	free(secs);
}

static void show_metrics(const struct status *st)
{
	const char *inst = get(st, "daemon", "-", "instance");
	const char **cpus, **outs;
	size_t nc = ids(st, "cpu", &cpus), no = ids(st, "output", &outs);
	static const struct {
		const char *key, *name, *help;
	} per_cpu[] = {
		{ "events", "ringtap_events", "events captured" },
		{ "bytes", "ringtap_bytes", "bytes of events captured" },
		{ "lost", "ringtap_buffer_lost_events", "events the kernel overwrote before ringtapd read them" },
		{ "lost_output", "ringtap_output_lost_events", "events captured that an output could not store" },
		{ "reads", "ringtap_reads", "GET_READER ioctls or reads" },
		{ "subbufs", "ringtap_subbufs", "sub-buffers handed to the outputs" },
	};

	inst = inst ? inst : "";
	metric_head("ringtap_up", "gauge", "1 if ringtapd answered");
	printf("ringtap_up{instance=");
	label(inst);
	printf("} 1\n");
	metric_head("ringtap_info", "gauge", "ringtapd version and capture settings");
	printf("ringtap_info{instance=");
	label(inst);
	printf(",version=");
	label(get(st, "daemon", "-", "version") ?: "");
	printf(",reader=");
	label(get(st, "daemon", "-", "reader") ?: "");
	printf(",clock=");
	label(get(st, "daemon", "-", "clock") ?: "");
	printf("} 1\n");
	metric_head("ringtap_uptime_seconds", "gauge", "seconds since ringtapd started");
	printf("ringtap_uptime_seconds{instance=");
	label(inst);
	printf("} %s\n", get(st, "daemon", "-", "uptime_seconds") ?: "0");
	for (size_t m = 0; m < sizeof(per_cpu) / sizeof(per_cpu[0]); m++) {
		metric_head(per_cpu[m].name, "counter", per_cpu[m].help);
		for (size_t i = 0; i < nc; i++) {
			printf("%s_total{instance=", per_cpu[m].name);
			label(inst);
			printf(",cpu=");
			label(cpus[i]);
			printf("} %llu\n", getu(st, "cpu", cpus[i], per_cpu[m].key));
		}
	}
	metric_head("ringtap_reader_mapped", "gauge", "1 if the CPU's ring buffer is read through the mapping");
	for (size_t i = 0; i < nc; i++) {
		const char *r = get(st, "cpu", cpus[i], "reader");

		printf("ringtap_reader_mapped{instance=");
		label(inst);
		printf(",cpu=");
		label(cpus[i]);
		printf("} %d\n", r && !strcmp(r, "mmap"));
	}
	metric_head("ringtap_output_up", "gauge", "1 if the output is writing normally (file: ok; tcp, unix: connected)");
	for (size_t i = 0; i < no; i++) {
		const char *s = get(st, "output", outs[i], "state");

		printf("ringtap_output_up{instance=");
		label(inst);
		printf(",output=");
		label(outs[i]);
		printf(",type=");
		label(get(st, "output", outs[i], "type") ?: "");
		printf("} %d\n", s && (!strcmp(s, "ok") || !strcmp(s, "connected")));
	}
	metric_head("ringtap_output_dropped_events", "counter", "events an output lost, per output");
	for (size_t i = 0; i < no; i++) {
		printf("ringtap_output_dropped_events_total{instance=");
		label(inst);
		printf(",output=");
		label(outs[i]);
		printf("} %llu\n", getu(st, "output", outs[i], "lost_events"));
	}
	show_bpf_metrics(st, inst);
	metric_head("ringtap_reloads", "counter", "configuration reloads applied");
	printf("ringtap_reloads_total{instance=");
	label(inst);
	printf("} %llu\n", getu(st, "daemon", "-", "reloads"));
	metric_head("ringtap_reload_failures", "counter", "configuration reloads refused or partly applied");
	printf("ringtap_reload_failures_total{instance=");
	label(inst);
	printf("} %llu\n", getu(st, "daemon", "-", "reload_failures"));
	printf("# EOF\n");
	free(cpus);
	free(outs);
}

static void show_text(const struct status *st)
{
	const char **cpus, **outs;
	size_t nc = ids(st, "cpu", &cpus), no = ids(st, "output", &outs);
	unsigned long long t_ev = 0, t_b = 0, t_l = 0, t_lo = 0;
	double up = strtod(get(st, "daemon", "-", "uptime_seconds") ?: "0", NULL);
	unsigned long s = up;

	printf("ringtapd %s, pid %s, %s for %luh%02lum%02lus (config %s)\n",
	       get(st, "daemon", "-", "version") ?: "?",
	       get(st, "daemon", "-", "pid") ?: "?",
	       get(st, "daemon", "-", "state") ?: "?", s / 3600, s / 60 % 60,
	       s % 60, get(st, "daemon", "-", "config") ?: "?");
	printf("instance %s: reader %s, %s KiB sub-buffers, %s KiB per CPU, clock %s\n",
	       get(st, "daemon", "-", "instance") ?: "?",
	       get(st, "daemon", "-", "reader") ?: "?",
	       get(st, "daemon", "-", "subbuf_size_kb") ?: "?",
	       get(st, "daemon", "-", "buffer_size_kb") ?: "?",
	       get(st, "daemon", "-", "clock") ?: "?");
	printf("events: %s\n", get(st, "daemon", "-", "events") ?: "");
	printf("reloads: %s applied, %s failed (last: %s)\n\n",
	       get(st, "daemon", "-", "reloads") ?: "0",
	       get(st, "daemon", "-", "reload_failures") ?: "0",
	       get(st, "daemon", "-", "last_reload") ?: "none");
	printf("%-5s %-6s %14s %16s %10s %12s\n", "CPU", "reader", "events",
	       "bytes", "lost", "lost(output)");
	for (size_t i = 0; i < nc; i++) {
		unsigned long long ev = getu(st, "cpu", cpus[i], "events"),
				   b = getu(st, "cpu", cpus[i], "bytes"),
				   l = getu(st, "cpu", cpus[i], "lost"),
				   lo = getu(st, "cpu", cpus[i], "lost_output");

		printf("%-5s %-6s %14llu %16llu %10llu %12llu\n", cpus[i],
		       get(st, "cpu", cpus[i], "reader") ?: "?", ev, b, l, lo);
		t_ev += ev;
		t_b += b;
		t_l += l;
		t_lo += lo;
	}
	printf("%-5s %-6s %14llu %16llu %10llu %12llu\n\n", "all", "", t_ev,
	       t_b, t_l, t_lo);
	printf("%-16s %-8s %-8s %12s  %s\n", "output", "type", "state",
	       "lost", "detail");
	for (size_t i = 0; i < no; i++)
		printf("%-16s %-8s %-8s %12llu  %s\n", outs[i],
		       get(st, "output", outs[i], "type") ?: "?",
		       get(st, "output", outs[i], "state") ?: "?",
		       getu(st, "output", outs[i], "lost_events"),
		       get(st, "output", outs[i], "detail") ?: "");
	free(outs);
	no = ids(st, "bpf", &outs);
	if (no)
		printf("\n%-16s %-18s %12s %12s %10s  %s\n", "bpf", "program",
		       "seen", "emitted", "dropped", "dropped per CPU");
	for (size_t i = 0; i < no; i++) {
		if (!strcmp(outs[i], "-"))
			continue;
		printf("%-16s %-18s %12llu %12llu %10llu ", outs[i],
		       get(st, "bpf", outs[i], "program") ?:
		       get(st, "bpf", outs[i], "object") ?: "?",
		       getu(st, "bpf", outs[i], "seen"),
		       getu(st, "bpf", outs[i], "emitted"),
		       getu(st, "bpf", outs[i], "dropped"));
		for (size_t j = 0; j < st->n; j++)
			if (!strcmp(st->e[j].scope, "bpf") &&
			    !strcmp(st->e[j].id, outs[i]) &&
			    !strncmp(st->e[j].key, "dropped_cpu", 11))
				printf(" %s:%s", st->e[j].key + 11, st->e[j].val);
		putchar('\n');
	}
	if (no)
		printf("bpf events written to the instance: %llu, not written: %llu\n",
		       getu(st, "bpf", "-", "written"),
		       getu(st, "bpf", "-", "lost_write"));
	free(cpus);
	free(outs);
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "metrics", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *config = NULL, *sock = NULL;
	char *path = NULL;
	bool json = false, metrics = false;
	struct status st = { 0 };
	int c, r;

	while ((c = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			metrics = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_err("status: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (json && metrics) {
		log_err("status: --json and --metrics exclude each other");
		return 2;
	}
	if (sock && config) {
		log_err("status: give --socket or --config, not both");
		return 2;
	}
	if (!sock) {
		struct rt_config cfg = { 0 };
		char err[RT_CONFIG_ERR_MAX];

		r = rt_config_load(&cfg, config ? config : DEFAULT_CONFIG, err,
				   sizeof(err));
		if (r < 0) {
			log_err("%s", err);
			log_err("status: name the daemon's config with -c or its socket with -s");
			rt_config_free(&cfg);
			return 1;
		}
		if (asprintf(&path, "%s/%s.sock", cfg.run_dir, cfg.instance) < 0)
			path = NULL;
		rt_config_free(&cfg);
		if (!path)
			return 1;
		sock = path;
	}
	r = query(sock, &st);
	if (r < 0) {
		if (metrics) /* the scrape still learns that it is down */
			printf("# TYPE ringtap_up gauge\nringtap_up 0\n# EOF\n");
		free(path);
		return 1;
	}
	if (json)
		show_json(&st);
	else if (metrics)
		show_metrics(&st);
	else
		show_text(&st);
	for (size_t i = 0; i < st.n; i++) {
		free(st.e[i].scope);
		free(st.e[i].id);
		free(st.e[i].key);
		free(st.e[i].val);
	}
	free(st.e);
	free(path);
	return 0;
}
