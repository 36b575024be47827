/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ringtapd internals: the capture (instance + per-CPU readers) and the
 * outputs it feeds.  docs/architecture.md draws the picture.
 */
#ifndef RINGTAPD_H
#define RINGTAPD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringtap/config.h"
#include "ringtap/stream_format.h"
#include "ringtap/trace_mmap.h"

struct tracefs_instance;

/* The kernel updates the meta page during our ioctl; read it once. */
#define READ_ONCE_U32(x) (*(const volatile uint32_t *)&(x))

/* ---- instance.c: the private tracefs instance and its ownership ---- */

struct rt_instance {
	struct tracefs_instance *tfs;
	char *name;
	char *dir;	  /* tracefs path of the instance */
	char *lock_path;  /* <run_dir>/<instance>.lock */
	int lock_fd;
	bool created;
};

/*
 * Take ownership of @cfg->instance (lock file in run_dir), create it and
 * configure buffers, clock and events.  Messages about config problems name
 * the config file and line.  On failure nothing is left behind.
 */
int rt_instance_setup(const struct rt_config *cfg, struct rt_instance *inst);
int rt_instance_tracing_on(struct rt_instance *inst, bool on);
/* Remove the instance and release the lock; accepts a half-set-up one. */
void rt_instance_teardown(struct rt_instance *inst);
/* Kernel per-CPU statistics (per_cpu/cpuN/stats) into @st. */
int rt_instance_cpu_stats(struct rt_instance *inst, int cpu,
			  struct rt_cpu_stats *st);

/* ---- metadata.c: what a reader needs to decode a capture ---- */

/*
 * Build the HEADER records common to all files of this capture (formats,
 * host, clock, sizes).  Per-file records are added by the sink.
 */
int rt_metadata_build(const struct rt_config *cfg, struct rt_instance *inst,
		      uint32_t subbuf_size, int nr_cpus, const char *mode,
		      struct rt_buf *out);
/* saved_cmdlines as a METADATA payload. */
int rt_metadata_cmdlines(struct rt_instance *inst, struct rt_buf *out);

/* ---- sinks: where sub-buffers go ---- */

/* One sub-buffer range handed to the outputs. */
struct rt_subbuf_ref {
	const uint8_t *page; /* kernel sub-buffer: 16-byte header + data */
	struct rt_subbuf sb; /* emit_from/data_end etc. as read */
	uint32_t stored_lost_len; /* 8 if the lost count follows data_end */
	/* splice reader: the page sits in a pipe instead of memory */
	int pipe_fd;
	uint32_t pipe_len;
};

struct rt_sink;

struct rt_sink_ops {
	const char *type;
	int (*open)(struct rt_sink *s);
	int (*write_subbuf)(struct rt_sink *s, int cpu,
			    const struct rt_subbuf_ref *ref);
	/* End of capture for this CPU: END frame with these statistics. */
	int (*close_cpu)(struct rt_sink *s, int cpu,
			 const struct rt_cpu_stats *st);
	void (*free)(struct rt_sink *s);
	bool can_splice; /* accepts pipe_fd refs */
};

struct rt_sink {
	const struct rt_sink_ops *ops;
	const struct rt_output *out;
	const struct rt_buf *header; /* common HEADER records */
	struct rt_instance *inst;
	int nr_cpus;
	const bool *online; /* CPUs that are traced (nr_cpus entries) */
	void *priv;
	/* per CPU, written only by that CPU's reader thread */
	uint64_t *lost_events;
	uint64_t *lost_bytes;
};

int rt_sink_create(const struct rt_output *out, const struct rt_buf *header,
		   struct rt_instance *inst, int nr_cpus, const bool *online,
		   struct rt_sink **ret);
void rt_sink_free(struct rt_sink *s);

/* Empty @left bytes of a splice pipe (an output could not take them). */
void rt_drain_pipe(int fd, uint32_t left);
/* mkdir -p; 0 or -errno. */
int rt_mkdir_p(const char *path, mode_t mode);

extern const struct rt_sink_ops rt_sink_file_ops;
extern const struct rt_sink_ops rt_sink_discard_ops;

/* ---- cpu_reader.c: one thread per CPU ---- */

struct rt_cpu_reader {
	int cpu;
	int fd; /* trace_pipe_raw */
	int stop_fd; /* eventfd shared by all readers */
	struct rt_capture *cap;
	bool mapped;
	/* mmap reader */
	struct trace_buffer_meta *meta;
	size_t meta_len;
	uint8_t *data;
	size_t data_len;
	uint32_t subbuf_size;
	uint32_t cur_id;
	uint32_t cur_read;
	bool have_page;
	uint64_t last_read;
	uint64_t first_overrun;
	/* read/splice reader */
	int pipe[2];
	uint8_t *buf;
	/* statistics, updated by the reader thread */
	struct rt_cpu_stats st;
	pthread_t thread;
	bool started;
	int error; /* first fatal error of the thread, -errno */
};

struct rt_capture {
	const struct rt_config *cfg;
	struct rt_instance *inst;
	struct rt_sink **sinks;
	size_t nr_sinks;
	struct rt_cpu_reader *readers;
	int nr_cpus;	/* highest online CPU + 1 */
	bool *online;	/* readers exist for these CPUs only */
	int fail_fd;	/* eventfd: a reader thread failed */
	uint32_t subbuf_size;
	int stop_fd;
	atomic_bool stopping;
	atomic_int failed;
	const char *mode; /* "mmap", "read" or "mixed" */
};

/* Online CPUs from /sys/devices/system/cpu/online. */
int rt_online_cpus(bool **ret_online, int *ret_nr);
/* Open every CPU's trace_pipe_raw (mapping it unless told not to). */
int rt_capture_open_readers(struct rt_capture *cap);
int rt_capture_start(struct rt_capture *cap);
/* Ask the threads to drain and stop, wait for them, close outputs. */
int rt_capture_stop(struct rt_capture *cap);
void rt_capture_close_readers(struct rt_capture *cap);

#endif
