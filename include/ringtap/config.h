/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ringtapd configuration (INI, parsed with libinih).  docs/config.md and
 * ringtap.conf(5) describe every key; config/ringtap.conf is the default.
 */
#ifndef RINGTAP_CONFIG_H
#define RINGTAP_CONFIG_H

#include "ringtap/bpf_config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_CONFIG_MAX_EVENTS 256
#define RT_CONFIG_MAX_OUTPUTS 16
#define RT_CONFIG_ERR_MAX 512

enum rt_reader_mode {
	RT_READER_MMAP = 0, /* map trace_pipe_raw (falls back to read) */
	RT_READER_READ = 1, /* splice/read trace_pipe_raw */
	RT_READER_COPY = 2, /* plain read() only: for comparison */
};

enum rt_output_type {
	RT_OUTPUT_FILE = 0,
	RT_OUTPUT_DISCARD = 1,
	RT_OUTPUT_TCP = 2,  /* to `ringtap collect` (docs/stream-protocol.md) */
	RT_OUTPUT_UNIX = 3, /* the same over a Unix stream socket */
	RT_OUTPUT_NATS = 4, /* to NATS JetStream (docs/nats.md) */
};

/* One selected event: "system:event", event may be "*". */
struct rt_event_sel {
	char *system;
	char *event;
	int line; /* config line that named it */
};

/* A [event "system:event"] section. */
struct rt_event_opts {
	char *system;
	char *event;
	char *filter; /* NULL: none */
	int line;     /* line of the section header */
	int filter_line;
};

/* file outputs: O_DIRECT writes straight from the mapped sub-buffers */
enum rt_direct_io {
	RT_DIRECT_IO_AUTO = 0, /* where the file system allows, unless behind */
	RT_DIRECT_IO_YES,      /* where the file system allows, always */
	RT_DIRECT_IO_NO,       /* never: every frame through the page cache */
};

struct rt_output {
	char *name;
	enum rt_output_type type;
	char *path;		/* directory of the capture (file) */
	uint64_t max_file_size; /* bytes per file before rotation, 0 = never */
	unsigned int max_files; /* files kept per CPU, 0 = unlimited */
	enum rt_direct_io direct_io; /* file */
	/* tcp, unix */
	char *address;		/* tcp: host:port or [v6]:port; unix: path */
	uint64_t queue_size;	/* bytes queued in memory per output */
	char *spill_dir;	/* where the queue overflows to */
	uint64_t spill_size;	/* bytes spilled per output, 0 = no spill */
	unsigned int reconnect_min_ms, reconnect_max_ms;
	unsigned int stop_timeout_ms; /* wait for the last ACKs on stop */
	char *token_file;	/* shared secret sent in HELLO, NULL = none */
	bool insecure;		/* tcp, nats: plain, without TLS, accepted */
	/* tcp and nats without insecure: TLS */
	char *tls_ca;		/* verifies the collector / server, NULL = system store */
	char *tls_cert, *tls_key; /* client certificate, NULL = none */
	char *tls_server_name;	/* tcp: NULL = the host part of address */
	bool zerocopy;		/* plain tcp: send DATA with MSG_ZEROCOPY */
	/* nats (docs/nats.md): address holds the `url` list; the queue,
	 * spill, reconnect, stop and token keys above apply too */
	char *subject_prefix;	/* subjects PREFIX.<host>.<cpu> */
	char *stream;		/* JetStream stream name */
	bool create_stream;	/* create the stream if it is missing */
	unsigned int stream_replicas;
	uint64_t stream_max_bytes; /* 0: unlimited */
	char *creds_file;	/* NATS user credentials (JWT + nkey seed) */
	int line;
};

struct rt_config {
	char *path; /* file it came from, for messages */

	/* [trace] */
	char *instance;
	unsigned int buffer_size_kb;
	unsigned int subbuf_size_kb;
	char *clock;
	unsigned int buffer_percent;
	unsigned int flush_interval_ms;
	enum rt_reader_mode reader;
	/* lines of the keys the kernel may still refuse (0: default) */
	int buffer_size_line, subbuf_size_line, clock_line, buffer_percent_line;
	struct rt_event_sel events[RT_CONFIG_MAX_EVENTS];
	size_t nr_events;
	int events_line;

	/* [event "..."] */
	struct rt_event_opts event_opts[RT_CONFIG_MAX_EVENTS];
	size_t nr_event_opts;

	/* [output "..."] */
	struct rt_output outputs[RT_CONFIG_MAX_OUTPUTS];
	size_t nr_outputs;

	/* [daemon] */
	char *run_dir; /* lock files: default /run/ringtap */

	/* [bpf "..."]: keys as written, checked by ringtapd (daemon/bpf.c) */
	struct rt_bpf_section bpf[RT_CONFIG_MAX_BPF];
	size_t nr_bpf;
};

/*
 * Parse @path into @cfg (zeroed by the caller, then filled with defaults).
 * Returns 0, or a negative errno with a message "FILE:LINE: ..." in @err.
 * Only syntax and values are checked here; whether events exist and
 * filters compile is the kernel's to say (instance setup checks those).
 */
int rt_config_load(struct rt_config *cfg, const char *path, char *err,
		   size_t errlen);
/* Same, from a string (tests); @name is used in messages. */
int rt_config_load_string(struct rt_config *cfg, const char *text,
			  const char *name, char *err, size_t errlen);
void rt_config_free(struct rt_config *cfg);

/* Checked number parsing: 0 or -EINVAL/-ERANGE. */
int rt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* Sizes with an optional K/M/G suffix (powers of 1024). */
int rt_parse_size(const char *s, uint64_t *ret);
int rt_parse_bool(const char *s, bool *ret);
/* "auto", "yes" or "no", as the config file spells @d */
const char *rt_direct_io_name(enum rt_direct_io d);

#endif
