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
/* The same for a reload: formats of @prev's events too, since its events
 * may still be in the buffers when the new files start. */
int rt_metadata_build2(const struct rt_config *cfg,
		       const struct rt_config *prev, struct rt_instance *inst,
		       uint32_t subbuf_size, int nr_cpus, const char *mode,
		       struct rt_buf *out);
/* saved_cmdlines as a METADATA payload (appended to @out). */
int rt_metadata_cmdlines(struct rt_instance *inst, struct rt_buf *out);
/*
 * A moment of the calling thread: while it lasts, rt_metadata_cmdlines()
 * reads the table once and gives every caller the same bytes.  The reader
 * threads and the reload bracket each hand-over to all outputs with it, so
 * that outputs ending a file at the same point carry the same table (a
 * socket channel carries exactly the bytes a file output writes).
 */
void rt_cmdlines_moment_begin(void);
void rt_cmdlines_moment_end(void);

/* ---- sinks: where sub-buffers go ---- */

/* One sub-buffer range handed to the outputs. */
struct rt_subbuf_ref {
	const uint8_t *page; /* kernel sub-buffer: 16-byte header + data */
	struct rt_subbuf sb; /* emit_from/data_end etc. as read */
	uint32_t stored_lost_len; /* 8 if the lost count follows data_end */
	bool mapped; /* page is the kernel's mapped sub-buffer */
	/* mapped reader: the kernel writes no more into this page */
	bool done;
	/* mapped reader: more than half the ring buffer is still unread */
	bool behind;
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
	/* Live reload: finish every CPU's current file and go on in a new
	 * one that starts with s->header (the readers are paused).
	 * NULL: the output keeps no per-file header. */
	int (*restart)(struct rt_sink *s);
	/* For `ringtap status`: "ok", "failing", ...; @detail gets a short
	 * human description (may stay empty). */
	const char *(*state)(struct rt_sink *s, char *detail, size_t len);
	/* More `ringtap status` lines (key, value) for this output; may be
	 * NULL.  Called with the readers paused. */
	void (*status)(struct rt_sink *s,
		       void (*put)(void *ctx, const char *key, const char *val),
		       void *ctx);
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

/* ---- outq.c: what the socket and NATS outputs' send queues share ---- */

struct rt_framer;

/* Whether @total more bytes fit in memory (queue_size) or in the spill
 * files (spill_size, unless spilling failed), over the whole output. */
bool rt_outq_mem_fits(const struct rt_output *o, uint64_t mem_total,
		      uint64_t total);
bool rt_outq_spill_fits(const struct rt_output *o, bool spill_failed,
			uint64_t spill_total, uint64_t total);
/* <dir>/cpu<cpu>.spill, created empty into *@spill_fd; on failure logs,
 * sets *@spill_failed and returns -errno. */
int rt_outq_open_spill(const char *name, const char *dir, int cpu,
		       int *spill_fd, bool *spill_failed);
/* The queue took a frame again: a LOST frame for what was dropped, logged
 * once per episode (*@dropping). */
void rt_outq_flush_lost(struct rt_framer *f, const char *name, int cpu,
			bool *dropping);
/* The queue is full: count @ref lost, logged once per episode, naming
 * the peer ("collector <address>", "NATS <url>"). */
void rt_outq_count_lost(struct rt_framer *f, const struct rt_subbuf_ref *ref,
			const struct rt_output *o, int cpu, bool *dropping,
			const char *peer_kind, const char *peer);
/* Exponential backoff from @min_ms to @max_ms, jittered to [d/2, d]. */
uint64_t rt_outq_backoff_ms(unsigned int min_ms, unsigned int max_ms,
			    unsigned int attempt);
/* HOSTNAME, BOOT_ID and CAPTURE_ID of the HEADER records @h (64 bytes
 * each at most; host "unknown" when absent). */
void rt_outq_header_identity(const struct rt_buf *h, char *host,
			     size_t host_size, char *boot_id,
			     char *capture_id);
/* token_file @path (NULL: none, 0) into @buf, trailing newlines dropped:
 * its length, or -errno (logged). */
ssize_t rt_outq_read_token(const char *name, const char *path, char *buf,
			   size_t size);

/* The reader's side of a queued output's write(): rt_outq_begin() (0, or
 * -EINVAL for a splice pipe, -ENOMEM), rt_outq_prepare() (@ref prepared
 * into *@sb, *@rot when it must go to a new file; the queue room it needs,
 * a LOST frame's included), then, if the queue has that room,
 * rt_outq_subbuf() (rotation, the pending LOST frame, the SUBBUF frame).
 * On failure the caller counts @ref lost. */
int rt_outq_begin(struct rt_framer *f, const struct rt_subbuf_ref *ref);
uint64_t rt_outq_prepare(struct rt_framer *f, const struct rt_subbuf_ref *ref,
			 struct rt_subbuf *sb, uint64_t tail_reserve,
			 bool *rot);
int rt_outq_subbuf(struct rt_framer *f, const struct rt_subbuf_ref *ref,
		   const struct rt_subbuf *sb, bool rot, const char *name,
		   int cpu, bool *dropping);
/* END ROTATE, then a new file with the next index. */
void rt_outq_rotate(struct rt_framer *f);
/* End of capture for the CPU, in the open file: the pending LOST frame,
 * then END SHUTDOWN with @st and the output's own loss count. */
int rt_outq_end(struct rt_framer *f, const struct rt_cpu_stats *st,
		const char *name, int cpu, bool *dropping);

/* ---- framer.c: the per-CPU stream the file and socket outputs carry ---- */

#define RT_FRAMER_MAX_PIECES 6 /* payload pieces of one frame */

struct rt_framer;
/*
 * Append @total bytes (@iovcnt pieces): all of them or, on failure
 * (-errno), none.  @hdr: the frame's header when the bytes are a frame
 * (NULL for the preamble); @events: the events in a SUBBUF frame.
 */
typedef int (*rt_framer_emit_fn)(struct rt_framer *f, struct iovec *iov,
				 int iovcnt, size_t total,
				 const struct rt_frame_hdr *hdr,
				 uint64_t events);

/* One CPU's stream state: the CPU's reader thread only. */
struct rt_framer {
	struct rt_sink *s;
	int cpu;
	rt_framer_emit_fn emit;
	bool open;	    /* a file is begun and not ended */
	uint32_t index;	    /* rotation index of the current file */
	uint64_t size;	    /* bytes in the current file (whole frames) */
	uint64_t seq;	    /* next frame number */
	bool have_page;	    /* the file holds the start of this page */
	uint32_t page_id;
	uint64_t page_ts;
	uint32_t page_end;
	uint64_t pending_events; /* lost, not yet recorded in a LOST frame */
	uint64_t pending_bytes;
	uint64_t last_ts;
};

/* Bytes to keep free at a file's end for cmdlines METADATA and END. */
uint64_t rt_framer_tail_reserve(struct rt_instance *inst);
/* Preamble and HEADER (s->header + FILE_INDEX f->index, FILE_CPU): a
 * new file. */
int rt_framer_begin(struct rt_framer *f);
/* cmdlines METADATA (if within max_file_size) and END. */
int rt_framer_end(struct rt_framer *f, uint32_t reason,
		  const struct rt_cpu_stats *st);
/* One frame of up to RT_FRAMER_MAX_PIECES payload pieces. */
int rt_framer_frame(struct rt_framer *f, uint16_t type, uint16_t flags,
		    const struct iovec *pl, int plcnt, uint64_t events);
/* Room left in the file before max_file_size (END frame kept). */
uint64_t rt_framer_room(const struct rt_framer *f);
/* A LOST frame for what was counted lost: 0 nothing pending, 1 written
 * (*flushed says what), or -errno. */
int rt_framer_flush_lost(struct rt_framer *f, struct rt_lost *flushed);
/* @ref as this file carries it into *@sb; the frame's length at most. */
uint64_t rt_framer_prepare(const struct rt_framer *f,
			   const struct rt_subbuf_ref *ref, struct rt_subbuf *sb);
/* Whether a frame of @frame_len must go to a new file. */
bool rt_framer_must_rotate(const struct rt_framer *f, uint64_t frame_len,
			   uint64_t tail_reserve);
/* The SUBBUF frame of a prepared @sb from the mapped or copied page. */
int rt_framer_subbuf(struct rt_framer *f, const struct rt_subbuf_ref *ref,
		     const struct rt_subbuf *sb);
/* After a SUBBUF frame went out by other means (splice). */
void rt_framer_page_done(struct rt_framer *f, const struct rt_subbuf *sb,
			 bool from_memory);
/* @ref could not be taken: count its events and bytes (draining a
 * splice pipe if @drain) for the next LOST frame and the statistics. */
void rt_framer_count_lost(struct rt_framer *f, const struct rt_subbuf_ref *ref,
			  bool drain);

extern const struct rt_sink_ops rt_sink_file_ops;
extern const struct rt_sink_ops rt_sink_discard_ops;
/* sink_socket.c: to `ringtap collect` (docs/stream-protocol.md) */
extern const struct rt_sink_ops rt_sink_tcp_ops;
extern const struct rt_sink_ops rt_sink_unix_ops;
/* sink_nats.c: to NATS JetStream (docs/nats.md) */
extern const struct rt_sink_ops rt_sink_nats_ops;

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
	/* statistics, updated by the reader thread under the capture's
	 * read lock; others read them holding the write lock */
	struct rt_cpu_stats st;
	/* bumped by the thread on every turn of its loop: the watchdog */
	atomic_uint_fast64_t beats;
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
	/*
	 * Reader threads drain holding it for reading; the main thread takes
	 * it for writing (rt_capture_pause) to swap outputs on a reload and
	 * to read consistent statistics.  It prefers writers, and `pausing`
	 * makes a drain return after the sub-buffer at hand.
	 */
	pthread_rwlock_t lock;
	atomic_bool pausing;
};

/* Online CPUs from /sys/devices/system/cpu/online. */
int rt_online_cpus(bool **ret_online, int *ret_nr);
/* Open every CPU's trace_pipe_raw (mapping it unless told not to). */
int rt_capture_open_readers(struct rt_capture *cap);
int rt_capture_start(struct rt_capture *cap);
/* Ask the threads to drain and stop, wait for them, close outputs. */
int rt_capture_stop(struct rt_capture *cap);
void rt_capture_close_readers(struct rt_capture *cap);
/* Hold every reader between two sub-buffers (they keep nothing in
 * flight), and let them go again.  The ring buffers go on filling. */
void rt_capture_pause(struct rt_capture *cap);
void rt_capture_resume(struct rt_capture *cap);
/* Statistics of one CPU as they stand (losses read live); call paused. */
void rt_capture_cpu_snapshot(struct rt_capture *cap, int cpu,
			     struct rt_cpu_stats *st);

/* ---- instance.c, live reload ---- */

/* Set @cfg up on a throwaway instance and remove it: what the kernel
 * refuses is logged naming the config line. */
int rt_instance_check_config(struct rt_config *cfg);

/*
 * Move the instance from @old's event selection and filters to @new's:
 * filters first, then events enabled and disabled one by one, so that an
 * event selected by both (even through a different glob) never stops.
 */
int rt_instance_apply_events(const struct rt_config *old,
			     const struct rt_config *new,
			     struct rt_instance *inst);

/* ---- main.c / control.c / reload.c: the running daemon ---- */

struct rt_daemon {
	const char *config_path;
	struct rt_config *cfg; /* in force; replaced by a reload */
	struct rt_instance inst;
	struct rt_capture cap;
	struct rt_buf *header; /* HEADER records of the files being written */
	uint64_t start_ms;     /* CLOCK_MONOTONIC */
	int64_t start_realtime;
	const char *state;     /* "starting", "running", "reloading", "stopping" */
	unsigned int reloads, reload_failures;
	char last_reload[RT_CONFIG_ERR_MAX + 128];
	/* control socket */
	int ctl_fd;
	char *ctl_path;
};

/* The control socket <run_dir>/<instance>.sock (mode 0600). */
int rt_control_open(struct rt_daemon *d);
/* Serve one connection waiting on the socket. */
void rt_control_serve(struct rt_daemon *d);
void rt_control_close(struct rt_daemon *d);
/* Events and losses over all CPUs (paused). */
void rt_daemon_totals(struct rt_daemon *d, uint64_t *events, uint64_t *lost,
		      uint64_t *lost_sink);

/*
 * SIGHUP: load the config again and apply it without stopping the
 * capture.  0 when the new config is in force; otherwise the old one goes
 * on and the reason is logged.
 */
int rt_reload(struct rt_daemon *d);

#endif
