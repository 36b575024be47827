// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for lib/config.c: a full config with every value checked, the
 * defaults, every class of error with its "FILE:LINE: " prefix, the number
 * helpers, and the shipped config/ringtap.conf.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringtap/config.h"

static char err[RT_CONFIG_ERR_MAX];

static int load(struct rt_config *cfg, const char *text)
{
	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	return rt_config_load_string(cfg, text, "t.conf", err, sizeof(err));
}

/*
 * A valid config: line 3 selects @events (none if NULL), @trace_extra is
 * line 4, and @tail starts on line 8.
 */
static const char *conf(const char *events, const char *trace_extra,
			const char *tail)
{
	static char buf[65536];
	char ev[4096];

	if (events)
		snprintf(ev, sizeof(ev), "events = %s", events);
	else
		snprintf(ev, sizeof(ev), "; no events");
	snprintf(buf, sizeof(buf),
		 "[trace]\n"
		 "instance = t\n"
		 "%s\n"
		 "%s\n"
		 "[output \"o\"]\n"
		 "type = file\n"
		 "path = /tmp/rt\n"
		 "%s",
		 ev, trace_extra, tail);
	return buf;
}

static bool config_is_empty(const struct rt_config *cfg)
{
	return !cfg->path && !cfg->instance && !cfg->clock && !cfg->run_dir &&
	       !cfg->nr_events && !cfg->nr_event_opts && !cfg->nr_outputs;
}

/*
 * @text must be refused with -EINVAL and a message that starts with
 * "t.conf:LINE: " ("t.conf: " for line 0) and contains @part; the config is
 * left empty.
 */
#define want_error(text, line, part) \
	check_error(text, line, part, __FILE__, __LINE__)

static void check_error(const char *text, int line, const char *part,
			const char *file, int srcline)
{
	struct rt_config cfg;
	char prefix[64];
	size_t n;
	int r;

	r = load(&cfg, text);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "t.conf:%d: ", line);
	else
		snprintf(prefix, sizeof(prefix), "t.conf: ");
	n = strlen(prefix);
	if (r != -EINVAL || strncmp(err, prefix, n) || !strstr(err + n, part)) {
		print_error("want -EINVAL, \"%s...%s...\"\n got %d, \"%s\"\n",
			    prefix, part, r, err);
		_fail(file, srcline);
	}
	if (!config_is_empty(&cfg)) {
		print_error("failed load left data in the config\n");
		_fail(file, srcline);
	}
	rt_config_free(&cfg);
}

/* ---- good configs ---- */

static const char good_text[] =
	"; ringtap test config\n" /* 1 */
	"[trace]\n" /* 2 */
	"instance = rt-test.1\n" /* 3 */
	"buffer_size_kb = 8192   ; per CPU\n" /* 4 */
	"subbuf_size_kb = 128\r\n" /* 5 */
	"clock = mono_raw\n" /* 6 */
	"buffer_percent = 0\n" /* 7 */
	"events = sched:sched_switch , sched:sched_wakeup,\n" /* 8 */
	"\tftrace:print, irq:*   ; continued\n" /* 9 */
	"flush_interval_ms = 60000\n" /* 10 */
	"\n" /* 11 */
	"[event \"sched:sched_switch\"]\n" /* 12 */
	"filter = prev_pid != 0 &&\n" /* 13 */
	"    next_pid != 0\n" /* 14 */
	"[ event  \"irq:irq_handler_entry\" ]  ; comment\n" /* 15 */
	"# a comment\n" /* 16 */
	"filter = irq == 1\n" /* 17 */
	"\n" /* 18 */
	"[output \"local\"]\n" /* 19 */
	"type = file\n" /* 20 */
	"path = /var/lib/ringtap/capture\n" /* 21 */
	"max_file_size = 64MiB\n" /* 22 */
	"max_files = 8\n" /* 23 */
	"[output \"null\"]\n" /* 24 */
	"type = discard\n" /* 25 */
	"[daemon]\n" /* 26 */
	"run_dir = /run/rt-test\n" /* 27 */
	"[trace]\n" /* 28 */
	"reader = read"; /* 29 */

static void check_good(const struct rt_config *cfg)
{
	assert_string_equal(cfg->instance, "rt-test.1");
	assert_int_equal(cfg->buffer_size_kb, 8192);
	assert_int_equal(cfg->subbuf_size_kb, 128);
	assert_string_equal(cfg->clock, "mono_raw");
	assert_int_equal(cfg->buffer_percent, 0);
	assert_int_equal(cfg->flush_interval_ms, 60000);
	assert_int_equal(cfg->reader, RT_READER_READ);
	assert_string_equal(cfg->run_dir, "/run/rt-test");

	assert_int_equal(cfg->events_line, 8);
	assert_int_equal(cfg->nr_events, 4);
	assert_string_equal(cfg->events[0].system, "sched");
	assert_string_equal(cfg->events[0].event, "sched_switch");
	assert_int_equal(cfg->events[0].line, 8);
	assert_string_equal(cfg->events[1].system, "sched");
	assert_string_equal(cfg->events[1].event, "sched_wakeup");
	assert_int_equal(cfg->events[1].line, 8);
	assert_string_equal(cfg->events[2].system, "ftrace");
	assert_string_equal(cfg->events[2].event, "print");
	assert_int_equal(cfg->events[2].line, 9);
	assert_string_equal(cfg->events[3].system, "irq");
	assert_string_equal(cfg->events[3].event, "*");
	assert_int_equal(cfg->events[3].line, 9);

	assert_int_equal(cfg->nr_event_opts, 2);
	assert_string_equal(cfg->event_opts[0].system, "sched");
	assert_string_equal(cfg->event_opts[0].event, "sched_switch");
	assert_string_equal(cfg->event_opts[0].filter,
			    "prev_pid != 0 && next_pid != 0");
	assert_int_equal(cfg->event_opts[0].line, 12);
	assert_int_equal(cfg->event_opts[0].filter_line, 13);
	assert_string_equal(cfg->event_opts[1].system, "irq");
	assert_string_equal(cfg->event_opts[1].event, "irq_handler_entry");
	assert_string_equal(cfg->event_opts[1].filter, "irq == 1");
	assert_int_equal(cfg->event_opts[1].line, 15);
	assert_int_equal(cfg->event_opts[1].filter_line, 17);

	assert_int_equal(cfg->nr_outputs, 2);
	assert_string_equal(cfg->outputs[0].name, "local");
	assert_int_equal(cfg->outputs[0].type, RT_OUTPUT_FILE);
	assert_string_equal(cfg->outputs[0].path, "/var/lib/ringtap/capture");
	assert_int_equal(cfg->outputs[0].max_file_size, 64ull << 20);
	assert_int_equal(cfg->outputs[0].max_files, 8);
	assert_int_equal(cfg->outputs[0].line, 19);
	assert_string_equal(cfg->outputs[1].name, "null");
	assert_int_equal(cfg->outputs[1].type, RT_OUTPUT_DISCARD);
	assert_null(cfg->outputs[1].path);
	assert_int_equal(cfg->outputs[1].max_file_size, 0);
	assert_int_equal(cfg->outputs[1].max_files, 0);
	assert_int_equal(cfg->outputs[1].line, 24);
}

static void test_good_config(void **state)
{
	struct rt_config cfg;

	assert_int_equal(load(&cfg, good_text), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.path, "t.conf");
	check_good(&cfg);
	rt_config_free(&cfg);
	assert_true(config_is_empty(&cfg));
	rt_config_free(&cfg); /* twice is harmless */
}

static void test_defaults(void **state)
{
	struct rt_config cfg;

	assert_int_equal(load(&cfg, "[trace]\nevents = ftrace:print\n"
				    "[output \"o\"]\ntype = discard\n"),
			 0);
	assert_string_equal(cfg.instance, "ringtap");
	assert_int_equal(cfg.buffer_size_kb, 8192);
	assert_int_equal(cfg.subbuf_size_kb, 256);
	assert_string_equal(cfg.clock, "mono");
	assert_int_equal(cfg.buffer_percent, 50);
	assert_int_equal(cfg.flush_interval_ms, 500);
	assert_int_equal(cfg.reader, RT_READER_MMAP);
	assert_string_equal(cfg.run_dir, "/run/ringtap");
	assert_int_equal(cfg.nr_events, 1);
	assert_int_equal(cfg.events_line, 2);
	assert_int_equal(cfg.nr_event_opts, 0);
	assert_int_equal(cfg.nr_outputs, 1);
	assert_int_equal(cfg.outputs[0].type, RT_OUTPUT_DISCARD);
	rt_config_free(&cfg);

	/* A file output without limits never rotates, keeps every file. */
	assert_int_equal(load(&cfg, conf("ftrace:print", "", "")), 0);
	assert_int_equal(cfg.outputs[0].type, RT_OUTPUT_FILE);
	assert_string_equal(cfg.outputs[0].path, "/tmp/rt");
	assert_int_equal(cfg.outputs[0].max_file_size, 0);
	assert_int_equal(cfg.outputs[0].max_files, 0);
	assert_int_equal(cfg.outputs[0].direct_io, RT_DIRECT_IO_AUTO);
	rt_config_free(&cfg);
}

/* Forms that are accepted and what they mean. */
static void test_accepted_forms(void **state)
{
	struct rt_config cfg;

	/* A [event] section for an event under a selected "system:*". */
	assert_int_equal(load(&cfg, conf("sched:*, ftrace:print", "",
					 "[event \"sched:sched_wakeup\"]\n"
					 "filter = pid == 1\n"
					 "[event \"sched:*\"]\n"
					 "filter = common_pid != 0\n")),
			 0);
	assert_int_equal(cfg.nr_event_opts, 2);
	assert_string_equal(cfg.event_opts[1].event, "*");
	rt_config_free(&cfg);

	/* A UTF-8 BOM, "key: value", a trailing comma, max/min values. */
	assert_int_equal(load(&cfg, "\xef\xbb\xbf[trace]\n"
				    "events: ftrace:print,\n"
				    "buffer_size_kb = 4194304\n"
				    "subbuf_size_kb = 1024\n"
				    "buffer_percent = 100\n"
				    "flush_interval_ms = 1\n"
				    "reader = copy\n"
				    "instance = "
				    "0123456789012345678901234567890123456789"
				    "012345678901234567890123\n"
				    "[output \"a.b:c*d-e_f\"]\n"
				    "type = file\n"
				    "path = /x\n"
				    "max_file_size = 1024K\n"
				    "max_files = 1000000\n"),
			 0);
	assert_int_equal(cfg.nr_events, 1);
	assert_int_equal(cfg.buffer_size_kb, 4194304);
	assert_int_equal(cfg.subbuf_size_kb, 1024);
	assert_int_equal(cfg.buffer_percent, 100);
	assert_int_equal(cfg.flush_interval_ms, 1);
	assert_int_equal(cfg.reader, RT_READER_COPY);
	assert_int_equal(strlen(cfg.instance), 64);
	assert_string_equal(cfg.outputs[0].name, "a.b:c*d-e_f");
	assert_int_equal(cfg.outputs[0].max_file_size, 1 << 20);
	assert_int_equal(cfg.outputs[0].max_files, 1000000);
	rt_config_free(&cfg);

	/* direct_io: auto, or yes/no in every form a boolean takes */
	{
		static const struct {
			const char *value;
			enum rt_direct_io want;
		} dio[] = {
			{ "auto", RT_DIRECT_IO_AUTO }, { "yes", RT_DIRECT_IO_YES },
			{ "no", RT_DIRECT_IO_NO },     { "off", RT_DIRECT_IO_NO },
			{ "1", RT_DIRECT_IO_YES },
		};
		char buf[256];

		for (size_t i = 0; i < sizeof(dio) / sizeof(dio[0]); i++) {
			snprintf(buf, sizeof(buf),
				 "[trace]\nevents = ftrace:print\n"
				 "[output \"f\"]\ntype = file\npath = /x\n"
				 "direct_io = %s\n",
				 dio[i].value);
			assert_int_equal(load(&cfg, buf), 0);
			assert_int_equal(cfg.outputs[0].direct_io, dio[i].want);
			rt_config_free(&cfg);
		}
	}

	/* Repeated [trace] sections merge. */
	assert_int_equal(load(&cfg, conf("ftrace:print", "",
					 "[trace]\nclock = boot\n"
					 "[daemon]\n[trace]\nreader = read\n")),
			 0);
	assert_string_equal(cfg.clock, "boot");
	assert_int_equal(cfg.reader, RT_READER_READ);
	rt_config_free(&cfg);
}

/* A config file, not a string: messages name the path. */
static void test_load_file(void **state)
{
	char path[] = "/tmp/test_config.XXXXXX";
	struct rt_config cfg = { 0 };
	char want[128];
	FILE *f;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(good_text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rt_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.path, path);
	check_good(&cfg);
	rt_config_free(&cfg);

	/* An error three lines in; a NUL byte in a line. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[trace]\nevents = ftrace:print\nbufer_size_kb = 1\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rt_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: unknown key 'bufer_size_kb' in section [trace]", path);
	assert_string_equal(err, want);
	assert_true(config_is_empty(&cfg));

	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("[trace]\nin\0stance = x\n", 1, 22, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rt_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	assert_string_equal(err, want);
	unlink(path);
}

static void test_missing_file(void **state)
{
	struct rt_config cfg = { 0 };

	assert_int_equal(rt_config_load(&cfg, "/nonexistent/ringtap.conf", err,
					sizeof(err)),
			 -ENOENT);
	assert_string_equal(
		err, "/nonexistent/ringtap.conf: No such file or directory");
	assert_true(config_is_empty(&cfg));

	/* fopen() takes a directory; reading it fails. */
	assert_int_equal(rt_config_load(&cfg, "/", err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: Is a directory");
	assert_true(config_is_empty(&cfg));
	rt_config_free(&cfg);

	/* No room for a message is not a crash. */
	assert_int_equal(rt_config_load(&cfg, "/nonexistent", NULL, 0),
			 -ENOENT);
}

/*
 * config/ringtap.conf, found from the source file name (relative to where
 * make runs) or else from the binary (build/tests/test_config).
 */
static void shipped_config_path(char *path, size_t size)
{
	const char *slash = strrchr(__FILE__, '/');
	char exe[PATH_MAX];
	ssize_t n;

	snprintf(path, size, "%.*s/../../config/ringtap.conf",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	if (!access(path, R_OK))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return;
	exe[n] = '\0';
	snprintf(path, size, "%s/../../config/ringtap.conf", dirname(exe));
}

/* The default config shipped in config/ is valid as it stands. */
static void test_shipped_config(void **state)
{
	struct rt_config cfg = { 0 };
	char path[PATH_MAX + 64];

	shipped_config_path(path, sizeof(path));
	if (rt_config_load(&cfg, path, err, sizeof(err)))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_string_equal(cfg.instance, "ringtap");
	assert_int_equal(cfg.nr_events, 5);
	assert_string_equal(cfg.events[0].event, "sched_switch");
	assert_string_equal(cfg.events[4].system, "ftrace");
	assert_string_equal(cfg.events[4].event, "print");
	assert_int_equal(cfg.nr_outputs, 1);
	assert_string_equal(cfg.outputs[0].name, "local");
	assert_int_equal(cfg.outputs[0].type, RT_OUTPUT_FILE);
	assert_string_equal(cfg.outputs[0].path, "/var/lib/ringtap/capture");
	assert_int_equal(cfg.outputs[0].max_file_size, 256ull << 20);
	assert_int_equal(cfg.outputs[0].max_files, 16);
	assert_int_equal(cfg.reader, RT_READER_MMAP);
	rt_config_free(&cfg);
}

/* [bpf "NAME"]: keys kept as written, for ringtapd to check. */
static void test_bpf_sections(void **state)
{
	struct rt_config cfg;

	assert_int_equal(load(&cfg, conf("ftrace:print", "",
					 "[bpf \"slow\"]\nprogram = syscall_latency\nmin_us = 500\n"
					 "[bpf \"x\"]\nobject = /p.o\n")),
			 0);
	assert_int_equal(cfg.nr_bpf, 2);
	assert_string_equal(cfg.bpf[0].name, "slow");
	assert_int_equal(cfg.bpf[0].line, 8);
	assert_int_equal(cfg.bpf[0].nr_params, 2);
	assert_string_equal(cfg.bpf[0].params[1].key, "min_us");
	assert_string_equal(cfg.bpf[0].params[1].value, "500");
	assert_int_equal(cfg.bpf[0].params[1].line, 10);
	assert_string_equal(cfg.bpf[1].params[0].value, "/p.o");
	rt_config_free(&cfg);
	want_error(conf("ftrace:print", "", "[bpf \"a\"]\nx = 1\nx = 2\n"), 10,
		   "duplicate key 'x' in section [bpf \"a\"] (first on line 9)");
	want_error(conf("ftrace:print", "", "[bpf \"a\"]\n[bpf \"a\"]\n"), 9,
		   "duplicate section [bpf \"a\"]");
	want_error(conf("ftrace:print", "", "[bpf]\n"), 8,
		   "section [bpf] needs a quoted name");
}

/* ---- errors ---- */

static void test_err_sections(void **state)
{
	struct rt_config cfg;

	assert_int_equal(load(&cfg, "[tracer]\n"), -EINVAL);
	assert_string_equal(
		err,
		"t.conf:1: unknown section [tracer] (trace, event \"system:event\", output \"name\", daemon, bpf \"name\")");
	want_error(conf("ftrace:print", "", "\n[Trace]\n"), 9,
		   "unknown section [Trace]");
	want_error(conf("ftrace:print", "", "[output]\n"), 8,
		   "section [output] needs a quoted name");
	want_error(conf("ftrace:print", "", "[output local]\n"), 8,
		   "section [output] needs a quoted name");
	want_error(conf("ftrace:print", "", "[event]\n"), 8,
		   "section [event] needs a quoted name");
	want_error(conf("ftrace:print", "", "[trace \"x\"]\n"), 8,
		   "section [trace] takes no name");
	want_error(conf("ftrace:print", "", "[daemon x]\n"), 8,
		   "section [daemon] takes no name");
	want_error(conf("ftrace:print", "", "[output \"a b\"]\n"), 8,
		   "the name must be");
	want_error(conf("ftrace:print", "", "[output \"\"]\n"), 8,
		   "the name must be");
	want_error(conf("ftrace:print", "", "[output \"x\n"), 8, "missing ']'");
	want_error(conf("ftrace:print", "", "[output \"x]\n"), 8,
		   "missing closing '\"'");
	want_error(conf("ftrace:print", "", "[output \"x\" y]\n"), 8,
		   "unexpected text after the name");
	want_error(conf("ftrace:print", "", "[daemon] junk\n"), 8,
		   "unexpected text after ']'");
	want_error(conf("ftrace:print", "", "[output \"o\"]\ntype = discard\n"),
		   8, "duplicate output 'o' (first on line 5)");
	want_error("instance = x\n[trace]\n", 1,
		   "key 'instance' is outside of any section");
}

static void test_err_keys(void **state)
{
	struct rt_config cfg;

	assert_int_equal(
		load(&cfg, conf("ftrace:print", "bufer_size_kb = 10", "")),
		-EINVAL);
	assert_string_equal(
		err,
		"t.conf:4: unknown key 'bufer_size_kb' in section [trace]");
	want_error(conf("ftrace:print", "", "[output \"x\"]\nsize = 1\n"), 9,
		   "unknown key 'size' in section [output \"x\"]");
	want_error(conf("ftrace:print", "", "[daemon]\nrundir = /x\n"), 9,
		   "unknown key 'rundir' in section [daemon]");
	want_error(conf("ftrace:print", "",
			"[event \"ftrace:print\"]\nfiltre = x\n"),
		   9,
		   "unknown key 'filtre' in section [event \"ftrace:print\"]");
	/* Keys are case-sensitive. */
	want_error(conf("ftrace:print", "Clock = mono", ""), 4,
		   "unknown key 'Clock'");

	/* A key twice: both lines named, also across merged sections. */
	assert_int_equal(load(&cfg, conf("ftrace:print", "instance = u", "")),
			 -EINVAL);
	assert_string_equal(
		err,
		"t.conf:4: duplicate key 'instance' in section [trace] (first on line 2)");
	want_error(
		conf("ftrace:print", "",
		     "[trace]\nclock = mono\n[daemon]\n[trace]\nclock = boot\n"),
		12,
		"duplicate key 'clock' in section [trace] (first on line 9)");
	want_error(
		conf("ftrace:print", "", "path = /y\n"), 8,
		"duplicate key 'path' in section [output \"o\"] (first on line 7)");
	want_error(conf("ftrace:print", "",
			"[event \"ftrace:print\"]\nfilter = a\nfilter = b\n"),
		   10, "duplicate key 'filter'");

	/* Only 'events' and 'filter' continue on indented lines. */
	want_error(conf("ftrace:print", "", "  max_files = 3\n"), 8,
		   "indented line continues the value of 'path' (line 7)");
	want_error(conf("ftrace:print", "",
			"[daemon]\nrun_dir = /x\n"
			"  [output \"y\"]\n"),
		   10, "continues the value of 'run_dir'");

	/* Syntax: no '=' or ':'; a first error stops the parse. */
	want_error(conf("ftrace:print", "instance", ""), 4,
		   "expected 'key = value'");
	want_error(conf("ftrace:print", "clock = x y", "[nope]\n"), 4,
		   "clock: 'x y' is not a valid clock name");
}

static void test_err_numbers(void **state)
{
	struct rt_config cfg;

	assert_int_equal(
		load(&cfg, conf("ftrace:print", "buffer_percent = 120", "")),
		-EINVAL);
	assert_string_equal(
		err, "t.conf:4: buffer_percent: '120' is out of range 0..100");
	want_error(conf("ftrace:print", "buffer_size_kb = abc", ""), 4,
		   "buffer_size_kb: 'abc' is not a number");
	want_error(conf("ftrace:print", "buffer_size_kb = -5", ""), 4,
		   "buffer_size_kb: '-5' is not a number");
	want_error(conf("ftrace:print", "buffer_size_kb = 0x10", ""), 4,
		   "buffer_size_kb: '0x10' is not a number");
	want_error(conf("ftrace:print", "buffer_size_kb = 12 kb", ""), 4,
		   "buffer_size_kb: '12 kb' is not a number");
	want_error(conf("ftrace:print", "buffer_size_kb =", ""), 4,
		   "buffer_size_kb: '' is not a number");
	want_error(conf("ftrace:print", "buffer_size_kb = 3", ""), 4,
		   "buffer_size_kb: '3' is out of range 4..4194304");
	want_error(conf("ftrace:print", "buffer_size_kb = 4194305", ""), 4,
		   "out of range 4..4194304");
	want_error(conf("ftrace:print",
			"buffer_size_kb = 99999999999999999999999", ""),
		   4, "out of range 4..4194304");
	want_error(conf("ftrace:print", "flush_interval_ms = 0", ""), 4,
		   "flush_interval_ms: '0' is out of range 1..60000");
	want_error(conf("ftrace:print", "flush_interval_ms = 60001", ""), 4,
		   "flush_interval_ms: '60001' is out of range 1..60000");
	want_error(conf("ftrace:print", "subbuf_size_kb = 2", ""), 4,
		   "subbuf_size_kb: '2' is out of range 4..1024");
	want_error(conf("ftrace:print", "subbuf_size_kb = 2048", ""), 4,
		   "subbuf_size_kb: '2048' is out of range 4..1024");
	want_error(
		conf("ftrace:print", "", "max_files = 1000001\n"), 8,
		"output 'o': max_files: '1000001' is out of range 0..1000000");
}

static void test_err_subbuf_power_of_two(void **state)
{
	want_error(conf("ftrace:print", "subbuf_size_kb = 48", ""), 4,
		   "subbuf_size_kb: '48' is not a power of two");
	want_error(conf("ftrace:print", "subbuf_size_kb = 1023", ""), 4,
		   "subbuf_size_kb: '1023' is not a power of two");
	want_error(conf("ftrace:print", "subbuf_size_kb = 12", ""), 4,
		   "is not a power of two");
}

static void test_err_values(void **state)
{
	/* conf() sets the instance: these stand alone. */
	want_error("[trace]\ninstance = a/b\n", 2,
		   "instance: 'a/b' is not a valid instance name");
	want_error("[trace]\ninstance = ..\n", 2,
		   "instance: '..' is not a valid instance name");
	want_error("[trace]\ninstance = .\n", 2,
		   "instance: '.' is not a valid instance name");
	want_error("[trace]\ninstance =\n", 2,
		   "instance: '' is not a valid instance name");
	want_error("[trace]\ninstance = a b\n", 2,
		   "instance: 'a b' is not a valid instance name");
	want_error("[trace]\ninstance = "
		   "0123456789012345678901234567890123456789"
		   "0123456789012345678901234\n",
		   2, "is not a valid instance name (1-64");
	want_error(conf("ftrace:print", "clock = Mono", ""), 4,
		   "clock: 'Mono' is not a valid clock name");
	want_error(conf("ftrace:print", "reader = fast", ""), 4,
		   "reader: 'fast' is not supported (mmap, read, copy)");
	want_error(conf("ftrace:print", "reader = MMAP", ""), 4,
		   "reader: 'MMAP' is not supported");
	want_error(conf("ftrace:print", "", "[daemon]\nrun_dir = run\n"), 9,
		   "run_dir: 'run' is not an absolute path");
}

static void test_err_events(void **state)
{
	struct rt_config cfg;
	char *big, *p;

	want_error(
		conf("sched", "", ""), 3,
		"events: 'sched' is not a valid event (expected system:event");
	want_error(conf("ftrace:print, sched:", "", ""), 3,
		   "events: 'sched:' is not a valid event");
	want_error(conf(":sched_switch", "", ""), 3,
		   "events: ':sched_switch' is not a valid event");
	want_error(conf("*:*", "", ""), 3,
		   "events: '*:*' is not a valid event");
	want_error(conf("sched:sched-switch", "", ""), 3,
		   "events: 'sched:sched-switch' is not a valid event");
	want_error(conf("sched:a:b", "", ""), 3,
		   "events: 'sched:a:b' is not a valid event");
	want_error(
		conf("sched:sched_switch sched:sched_wakeup", "", ""), 3,
		"events: 'sched:sched_switch sched:sched_wakeup' is not a valid event");
	want_error(conf("ftrace:print", "\tsched:x y", ""), 4,
		   "events: 'sched:x y' is not a valid event");
	want_error(conf("ftrace:print,,sched:sched_switch", "", ""), 3,
		   "events: empty item");
	want_error(conf(", ftrace:print", "", ""), 3, "events: empty item");
	want_error(conf("", "", ""), 3, "events: no events given");
	want_error(conf(NULL, "", ""), 0,
		   "no events selected: set 'events' in [trace]");

	/* Duplicates, also across lines, and overlaps with "system:*". */
	assert_int_equal(
		load(&cfg,
		     conf("sched:sched_switch, sched:sched_switch", "", "")),
		-EINVAL);
	assert_string_equal(
		err,
		"t.conf:3: events: 'sched:sched_switch' is listed twice (first on line 3)");
	want_error(
		conf("sched:sched_switch,", " ftrace:print, sched:sched_switch",
		     ""),
		4,
		"events: 'sched:sched_switch' is listed twice (first on line 3)");
	want_error(conf("sched:*, sched:sched_switch", "", ""), 3,
		   "events: 'sched:sched_switch' overlaps 'sched:*'");
	want_error(conf("sched:sched_switch, sched:*", "", ""), 3,
		   "events: 'sched:*' overlaps 'sched:sched_switch'");

	/* At most RT_CONFIG_MAX_EVENTS, one per continuation line. */
	big = malloc(64 * (RT_CONFIG_MAX_EVENTS + 8));
	assert_non_null(big);
	p = big + sprintf(big, "[trace]\nevents = s:e0");
	for (int i = 1; i <= RT_CONFIG_MAX_EVENTS; i++)
		p += sprintf(p, ",\n  s:e%d", i);
	sprintf(p, "\n[output \"o\"]\ntype = discard\n");
	want_error(big, RT_CONFIG_MAX_EVENTS + 2,
		   "events: too many events (at most 256)");
	free(big);
}

static void test_err_event_sections(void **state)
{
	struct rt_config cfg;

	assert_int_equal(load(&cfg, conf("sched:sched_switch", "",
					 "[event \"sched:sched_switch\"]\n"
					 "filter = prev_pid != 0\n"
					 "[event \"sched:sched_wakeup\"]\n"
					 "filter = pid == 1\n")),
			 -EINVAL);
	assert_string_equal(
		err,
		"t.conf:10: section [event \"sched:sched_wakeup\"]: the event is not selected by 'events' in [trace]");
	/* "sched:*" is covered by nothing narrower. */
	want_error(conf("sched:sched_switch", "", "[event \"sched:*\"]\n"), 8,
		   "section [event \"sched:*\"]: the event is not selected");
	want_error(
		conf("sched:*", "", "[event \"irq:*\"]\nfilter = irq == 1\n"),
		8, "section [event \"irq:*\"]: the event is not selected");
	want_error(conf("ftrace:print", "", "[event \"sched\"]\n"), 8,
		   "event section: 'sched' is not a valid event");
	want_error(conf("ftrace:print", "", "[event \"sched.x:y\"]\n"), 8,
		   "event section: 'sched.x:y' is not a valid event");
	want_error(
		conf("ftrace:print", "",
		     "[event \"ftrace:print\"]\n[event \"ftrace:print\"]\n"),
		9,
		"duplicate section [event \"ftrace:print\"] (first on line 8)");
	want_error(conf("ftrace:print", "",
			"[event \"ftrace:print\"]\nfilter =\n"),
		   9, "event 'ftrace:print': filter: empty");
}

static void test_err_outputs(void **state)
{
	struct rt_config cfg;
	char *big, *p;

	want_error("[trace]\nevents = ftrace:print\n", 0,
		   "no output: add an [output \"NAME\"] section");
	assert_int_equal(load(&cfg, conf("ftrace:print", "",
					 "[output \"x\"]\ntype = udp\n")),
			 -EINVAL);
	assert_string_equal(
		err,
		"t.conf:9: output 'x': type 'udp' is not supported (file, discard, tcp, unix, nats)");
	want_error(conf("ftrace:print", "", "[output \"x\"]\ntype = File\n"), 9,
		   "output 'x': type 'File' is not supported");
	want_error(conf("ftrace:print", "",
			"\n[output \"x\"]\ntype = file\n"
			"max_files = 2\n"),
		   9, "output 'x': type 'file' needs 'path'");
	want_error(conf("ftrace:print", "", "[output \"x\"]\npath = /x\n"), 8,
		   "output 'x': missing 'type' (file, discard, tcp, unix, nats)");
	want_error(conf("ftrace:print", "", "[output \"x\"]\n"), 8,
		   "output 'x': missing 'type'");
	want_error(conf("ftrace:print", "",
			"[output \"x\"]\npath = /x\n"
			"type = discard\n"),
		   9, "output 'x': 'path' is not allowed for type 'discard'");
	want_error(conf("ftrace:print", "",
			"[output \"x\"]\ntype = discard\n"
			"max_files = 3\n"),
		   10,
		   "output 'x': 'max_files' is not allowed for type 'discard'");
	want_error(conf("ftrace:print", "",
			"[output \"x\"]\ntype = discard\n"
			"max_file_size = 1M\n"),
		   10, "output 'x': 'max_file_size' is not allowed");
	want_error(conf("ftrace:print", "",
			"[output \"x\"]\ntype = discard\n"
			"direct_io = yes\n"),
		   10,
		   "output 'x': 'direct_io' is not allowed for type 'discard'");
	want_error(conf("ftrace:print", "",
			"[output \"x\"]\ntype = file\npath = /x\n"
			"direct_io = sometimes\n"),
		   11,
		   "output 'x': direct_io: 'sometimes' is not auto, yes or no");
	want_error(conf("ftrace:print", "",
			"[output \"x\"]\ntype = file\n"
			"path = capture\n"),
		   10, "output 'x': path: 'capture' is not an absolute path");

	/* At most RT_CONFIG_MAX_OUTPUTS. */
	big = malloc(64 * (RT_CONFIG_MAX_OUTPUTS + 4));
	assert_non_null(big);
	p = big + sprintf(big, "[trace]\nevents = ftrace:print\n");
	for (int i = 0; i <= RT_CONFIG_MAX_OUTPUTS; i++)
		p += sprintf(p, "[output \"o%d\"]\ntype = discard\n", i);
	want_error(big, 3 + 2 * RT_CONFIG_MAX_OUTPUTS,
		   "too many outputs (at most 16)");
	free(big);
}

/*
 * Socket-output settings refused: @keys make up the section [output "c"]
 * after conf()'s own (its header is line 8, its keys start on line 9),
 * @trace is one more [trace] line; the error is at @line and says @part.
 * A failure is reported at the entry's own line.
 */
struct bad_output {
	const char *trace, *keys;
	int line;
	const char *part;
	int srcline;
};
#define BAD_OUTPUT(trace, keys, line, part) { trace, keys, line, part, __LINE__ }

static const struct bad_output bad_socket[] = {
	/* TLS: the files are checked when the config is read */
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ntls_cert = /etc/hostname\n", 11,
		   "output 'c': 'tls_cert' needs 'tls_key' too"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ntls_key = /etc/hostname\n", 11,
		   "output 'c': 'tls_key' needs 'tls_cert' too"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ntls_ca = /nonexistent/ca.pem\n", 11,
		   "output 'c': tls_ca: cannot read '/nonexistent/ca.pem': No such file or directory"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ntls_ca = /etc/hostname\n", 11,
		   "output 'c': tls_ca: '/etc/hostname': no usable CA certificates"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ntls_ca = ca.pem\n", 11,
		   "tls_ca: 'ca.pem' is not an absolute path"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ninsecure = yes\ntls_server_name = collector\n", 12,
		   "output 'c': 'tls_server_name' is for TLS, but 'insecure = yes' (line 11) sends plain TCP"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\ntls_server_name = a/b\n", 11,
		   "tls_server_name: 'a/b' is not a host name or address"),
	BAD_OUTPUT("", "type = unix\naddress = /s\ntls_server_name = x\n", 11,
		   "output 'c': 'tls_server_name' is only for type 'tcp'"),
	/* nats: the same TLS keys, TLS unless insecure = yes */
	BAD_OUTPUT("", "type = nats\nurl = nats://h:1\ntls_ca = /nonexistent/ca.pem\n", 11,
		   "output 'c': tls_ca: cannot read '/nonexistent/ca.pem': No such file or directory"),
	BAD_OUTPUT("", "type = nats\nurl = nats://h:1\ntls_ca = /etc\n", 11,
		   "output 'c': tls_ca: '/etc' is a directory: a nats output takes a PEM file"),
	BAD_OUTPUT("", "type = nats\nurl = nats://h:1\ntls_key = /etc/hostname\n", 11,
		   "output 'c': 'tls_key' needs 'tls_cert' too"),
	BAD_OUTPUT("", "type = nats\nurl = nats://h:1\ninsecure = yes\ntls_ca = /etc/hostname\n", 12,
		   "output 'c': 'tls_ca' is for TLS, but 'insecure = yes' (line 11) sends plain nats://"),
	BAD_OUTPUT("", "type = nats\ninsecure = yes\nurl = tls://h:1\n", 11,
		   "output 'c': url: 'tls://h:1' asks for TLS, but 'insecure = yes' (line 10)"),
	BAD_OUTPUT("", "type = nats\nurl = nats://h:1\ntls_server_name = h\n", 11,
		   "output 'c': 'tls_server_name' is only for type 'tcp'"),
	BAD_OUTPUT("", "type = nats\nurl = nats://h:1\ntls_ca_file = /etc/hostname\n", 11,
		   "unknown key 'tls_ca_file'"),
	BAD_OUTPUT("", "type = tcp\naddress = h:1\nstream = S\n", 11,
		   "output 'c': 'stream' is only for type 'nats'"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\n", 8,
		   "output 'c': type 'tcp' needs 'address'"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\naddress = host\n", 11,
		   "output 'c': address: 'host' is not host:port"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\naddress = ::1:80\n", 11,
		   "address: '::1:80' is not host:port"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\naddress = []:80\n", 11,
		   "address: '[]:80' is not host:port"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\naddress = h:0\n", 11,
		   "port 1..65535"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\naddress = :80\n", 11,
		   "address: ':80' is not host:port"),
	BAD_OUTPUT("", "type = tcp\ninsecure = maybe\n", 10,
		   "output 'c': insecure: 'maybe' is not yes or no"),
	BAD_OUTPUT("", "type = unix\naddress = /s\ninsecure = yes\n", 11,
		   "output 'c': 'insecure' is only for types 'tcp' and 'nats'"),
	BAD_OUTPUT("", "type = unix\naddress = /s\nmax_files = 3\n", 11,
		   "output 'c': 'max_files' is not allowed for type 'unix'"),
	BAD_OUTPUT("", "type = tcp\ninsecure = yes\naddress = h:1\ndirect_io = no\n", 12,
		   "output 'c': 'direct_io' is not allowed for type 'tcp'"),
	BAD_OUTPUT("", "type = discard\nspill_size = 0\n", 10,
		   "'spill_size' is only for types 'tcp', 'unix' and 'nats'"),
	BAD_OUTPUT("", "type = unix\naddress = /s\nqueue_size = 512K\n", 11,
		   "queue_size: '512K' is too small (at least 1M)"),
	BAD_OUTPUT("", "type = unix\naddress = /s\nspill_size = 4K\n", 11,
		   "spill_size: '4K' is too small (0, or at least 1M)"),
	BAD_OUTPUT("subbuf_size_kb = 512",
		   "type = unix\naddress = /s\nqueue_size = 1M\n", 11,
		   "output 'c': queue_size is smaller than 4 sub-buffers (subbuf_size_kb = 512)"),
	BAD_OUTPUT("subbuf_size_kb = 512",
		   "type = unix\naddress = /s\nspill_size = 1M\n", 11,
		   "spill_size is smaller than 4 sub-buffers"),
	BAD_OUTPUT("", "type = unix\naddress = /s\nspill_dir = spool\n", 11,
		   "spill_dir: 'spool' is not an absolute path"),
	BAD_OUTPUT("", "type = unix\naddress = /s\nreconnect_min_ms = 0\n", 11,
		   "reconnect_min_ms: '0' is out of range 1..3600000"),
	BAD_OUTPUT("",
		   "type = unix\naddress = /s\n"
		   "reconnect_min_ms = 500\nreconnect_max_ms = 200\n",
		   12,
		   "reconnect_max_ms (200) is smaller than reconnect_min_ms (500)"),
	BAD_OUTPUT("", "type = unix\naddress = /s\nstop_timeout_ms = 3600001\n",
		   11, "stop_timeout_ms: '3600001' is out of range 0..3600000"),
	BAD_OUTPUT("", "type = unix\naddress = /s\ntoken_file = token\n", 11,
		   "token_file: 'token' is not an absolute path"),
};

/* type = tcp / unix: defaults, every key, and what is refused. */
static void test_socket_outputs(void **state)
{
	struct rt_config cfg;
	const struct rt_output *o;

	assert_int_equal(load(&cfg, conf("ftrace:print", "",
					 "[output \"c\"]\ntype = unix\n"
					 "address = /run/ringtap/collect.sock\n")),
			 0);
	o = &cfg.outputs[1];
	assert_int_equal(o->type, RT_OUTPUT_UNIX);
	assert_string_equal(o->address, "/run/ringtap/collect.sock");
	assert_int_equal(o->max_file_size, 256ull << 20);
	assert_int_equal(o->queue_size, 64ull << 20);
	assert_int_equal(o->spill_size, 1ull << 30);
	assert_string_equal(o->spill_dir, "/var/lib/ringtap/spool/c");
	assert_int_equal(o->reconnect_min_ms, 100);
	assert_int_equal(o->reconnect_max_ms, 30000);
	assert_int_equal(o->stop_timeout_ms, 10000);
	assert_null(o->token_file);
	assert_false(o->insecure);
	/* the file output keeps its own default: never rotate */
	assert_int_equal(cfg.outputs[0].max_file_size, 0);
	rt_config_free(&cfg);

	assert_int_equal(
		load(&cfg, conf("ftrace:print", "",
				"[output \"c\"]\ntype = tcp\n"
				"address = [fd00::1]:7000\ninsecure = yes\n"
				"max_file_size = 1G\nqueue_size = 8M\n"
				"spill_dir = /srv/spool\nspill_size = 0\n"
				"reconnect_min_ms = 5\nreconnect_max_ms = 5\n"
				"stop_timeout_ms = 0\ntoken_file = /etc/t\n")),
		0);
	o = &cfg.outputs[1];
	assert_int_equal(o->type, RT_OUTPUT_TCP);
	assert_string_equal(o->address, "[fd00::1]:7000");
	assert_true(o->insecure);
	assert_int_equal(o->max_file_size, 1ull << 30);
	assert_int_equal(o->queue_size, 8ull << 20);
	assert_int_equal(o->spill_size, 0);
	assert_string_equal(o->spill_dir, "/srv/spool");
	assert_int_equal(o->reconnect_min_ms, 5);
	assert_int_equal(o->reconnect_max_ms, 5);
	assert_int_equal(o->stop_timeout_ms, 0);
	assert_string_equal(o->token_file, "/etc/t");
	rt_config_free(&cfg);
	assert_int_equal(load(&cfg, conf("ftrace:print", "",
					 "[output \"c\"]\ntype = tcp\n"
					 "address = collector.example:7000\n"
					 "insecure = yes\n")),
			 0);
	rt_config_free(&cfg);

	/* tcp without insecure = yes: TLS, verified against the system store */
	assert_int_equal(load(&cfg, conf("ftrace:print", "",
					 "[output \"c\"]\ntype = tcp\n"
					 "address = h:1\ninsecure = no\n")),
			 0);
	o = &cfg.outputs[1];
	assert_false(o->insecure);
	assert_null(o->tls_ca);
	assert_null(o->tls_cert);
	assert_null(o->tls_key);
	assert_null(o->tls_server_name);
	rt_config_free(&cfg);
	want_error(conf("ftrace:print", "", "tls_ca = /etc/hostname\n"), 8,
		   "output 'o': 'tls_ca' is only for types 'tcp' and 'nats'");
	for (size_t i = 0; i < sizeof(bad_socket) / sizeof(bad_socket[0]); i++) {
		const struct bad_output *b = &bad_socket[i];
		char tail[256];

		snprintf(tail, sizeof(tail), "[output \"c\"]\n%s", b->keys);
		check_error(conf("ftrace:print", b->trace, tail), b->line,
			    b->part, __FILE__, b->srcline);
	}
	want_error(conf("ftrace:print", "", "address = /s\n"), 8,
		   "output 'o': 'address' is only for types 'tcp' and 'unix'");
}

static void test_err_sizes(void **state)
{
	want_error(conf("ftrace:print", "", "max_file_size = 64X\n"), 8,
		   "output 'o': max_file_size: '64X' is not a size");
	want_error(conf("ftrace:print", "", "max_file_size = 64KB\n"), 8,
		   "max_file_size: '64KB' is not a size");
	want_error(conf("ftrace:print", "", "max_file_size = 64 M\n"), 8,
		   "max_file_size: '64 M' is not a size");
	want_error(conf("ftrace:print", "", "max_file_size = 1.5G\n"), 8,
		   "max_file_size: '1.5G' is not a size");
	want_error(conf("ftrace:print", "", "max_file_size = M\n"), 8,
		   "max_file_size: 'M' is not a size");
	want_error(conf("ftrace:print", "", "max_file_size = 17179869184G\n"),
		   8, "max_file_size: '17179869184G' is too large");
	want_error(
		conf("ftrace:print", "", "max_file_size = 63K\n"), 8,
		"max_file_size: '63K' is too small (0 for no rotation, or at least 64K)");
	want_error(
		conf("ftrace:print", "subbuf_size_kb = 256",
		     "max_file_size = 128K\n"),
		8,
		"max_file_size is smaller than one sub-buffer (subbuf_size_kb = 256)");
}

static void test_err_lines(void **state)
{
	struct rt_config cfg;
	char text[300];

	/* inih's line buffer holds 198 characters (and newline, NUL). */
	snprintf(text, sizeof(text),
		 "[output \"x\"]\ntype = file\npath = /%0191d\n", 0);
	want_error(conf("ftrace:print", "", text), 10,
		   "line is too long (199 characters, at most 198;");
	snprintf(text, sizeof(text),
		 "[output \"x\"]\ntype = file\npath = /%0190d\n", 0);
	assert_int_equal(load(&cfg, conf("ftrace:print", "", text)), 0);
	assert_int_equal(strlen(cfg.outputs[1].path), 191);
	rt_config_free(&cfg);
}

/* ---- helpers ---- */

static void test_parse_u64(void **state)
{
	uint64_t v = 7;

	assert_int_equal(rt_parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(rt_parse_u64("007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(
		rt_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(rt_parse_u64("10", 10, 10, &v), 0);
	assert_int_equal(v, 10);

	v = 42;
	assert_int_equal(
		rt_parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
		-ERANGE);
	assert_int_equal(
		rt_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v),
		-ERANGE);
	assert_int_equal(rt_parse_u64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(rt_parse_u64("9", 10, 20, &v), -ERANGE);
	assert_int_equal(rt_parse_u64("", 0, 10, &v), -EINVAL);
	assert_int_equal(rt_parse_u64(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(rt_parse_u64("-1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(rt_parse_u64("+1", 0, 10, &v), -EINVAL);
	assert_int_equal(rt_parse_u64(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(rt_parse_u64("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(rt_parse_u64("0x1", 0, 10, &v), -EINVAL);
	assert_int_equal(rt_parse_u64("1e3", 0, 10000, &v), -EINVAL);
	assert_int_equal(rt_parse_u64("12abc", 0, 100, &v), -EINVAL);
	assert_int_equal(v, 42); /* untouched on error */
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "65536", 65536 },
		{ "64K", 64 << 10 },
		{ "64k", 64 << 10 },
		{ "64KiB", 64 << 10 },
		{ "64kib", 64 << 10 },
		{ "3M", 3 << 20 },
		{ "3m", 3 << 20 },
		{ "3MiB", 3 << 20 },
		{ "2G", 2ull << 30 },
		{ "2g", 2ull << 30 },
		{ "2GiB", 2ull << 30 },
		{ "17179869183G", 17179869183ull << 30 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"",    "K",  "-1K", "+1K",  " 1K",  "1K ", "1 K",   "1KB",
		"1kb", "1T", "1Ki", "1.5M", "0x10", "1KK", "1GiBs",
	};
	static const char *const too_big[] = {
		"17179869184G",
		"17592186044416M",
		"18014398509481984K",
		"18446744073709551616",
		"99999999999999999999999K",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		if (rt_parse_size(good[i].s, &v) || v != good[i].v) {
			print_error("'%s' -> %llu\n", good[i].s,
				    (unsigned long long)v);
			fail();
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rt_parse_size(bad[i], &v) != -EINVAL) {
			print_error("'%s' accepted\n", bad[i]);
			fail();
		}
	}
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
		if (rt_parse_size(too_big[i], &v) != -ERANGE) {
			print_error("'%s' is not -ERANGE\n", too_big[i]);
			fail();
		}
	}
	assert_int_equal(rt_parse_size(NULL, &v), -EINVAL);
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"yes", "true", "1",
					  "on",	 "YES",	 "On"};
	static const char *const no[] = {"no",	"false", "0",
					 "off", "NO",	 "Off"};
	static const char *const bad[] = {"",	  "2",	  "y",	  "n",
					  "yess", " yes", "yes ", "enable"};
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(rt_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(rt_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = true;
		if (rt_parse_bool(bad[i], &b) != -EINVAL || !b) {
			print_error("'%s' accepted\n", bad[i]);
			fail();
		}
	}
	assert_int_equal(rt_parse_bool(NULL, &b), -EINVAL);
}

static void test_config_free_partial(void **state)
{
	struct rt_config cfg = { 0 };

	rt_config_free(NULL);
	rt_config_free(&cfg);
	/* Partially filled by hand. */
	cfg.instance = strdup("x");
	cfg.nr_outputs = 1;
	cfg.outputs[0].name = strdup("o");
	rt_config_free(&cfg);
	assert_null(cfg.instance);
	assert_int_equal(cfg.nr_outputs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_err_sections),
		cmocka_unit_test(test_bpf_sections),
		cmocka_unit_test(test_err_keys),
		cmocka_unit_test(test_err_numbers),
		cmocka_unit_test(test_err_subbuf_power_of_two),
		cmocka_unit_test(test_err_values),
		cmocka_unit_test(test_err_events),
		cmocka_unit_test(test_err_event_sections),
		cmocka_unit_test(test_err_outputs),
		cmocka_unit_test(test_socket_outputs),
		cmocka_unit_test(test_err_sizes),
		cmocka_unit_test(test_err_lines),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_config_free_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
