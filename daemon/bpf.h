/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ringtapd's BPF programs ([bpf "NAME"] sections, docs/bpf.md): loaded and
 * attached at start, their events drained from one BPF ring buffer into
 * the instance's trace_marker_raw by a thread, so that they travel in the
 * per-CPU ring buffers with the tracepoint events.  One set per daemon.
 */
#ifndef RINGTAPD_BPF_H
#define RINGTAPD_BPF_H

#include <stdbool.h>
#include <stddef.h>

#include "ringtap/bpf_config.h"

struct rt_buf;
struct rt_instance;

/* Check the sections' programs and parameters (not against the kernel);
 * errors name @path and the line.  0 or -EINVAL. */
int rt_bpf_check(const struct rt_bpf_section *secs, size_t nr,
		 const char *path);
/*
 * --check-config: open and load (the verifier runs) every section's
 * program, attach none, and close them; no instance is touched (the
 * top-level bpf_trace_printk event a printk program makes the kernel
 * enable is put back).  A program the kernel refuses is an error with the
 * verifier's message, or a warning when its section says `optional =
 * yes`.  0, -EINVAL or another -errno.
 */
int rt_bpf_verify(const struct rt_bpf_section *secs, size_t nr,
		  const char *path);
/*
 * Open, load and attach every section's program; a program that fails
 * fails the start with the kernel's (verifier's) message, unless its
 * section says `optional = yes`: then it is skipped with a warning.
 * Call with tracing off; events wait in the BPF ring buffer until
 * rt_bpf_run().  Remembers the top-level instance's bpf_trace_printk
 * state to restore it in rt_bpf_stop().
 */
int rt_bpf_start(const struct rt_bpf_section *secs, size_t nr,
		 const char *path, struct rt_instance *inst);
/* Start draining into the instance (tracing on). */
int rt_bpf_run(void);
/*
 * Detach every program, drain what they wrote, write each program's
 * per-CPU statistics as ringtap:bpf_stats events, free everything and put
 * the top-level bpf_trace_printk event back as it was.  Call before
 * tracing goes off.  Accepts a half-started set.
 */
void rt_bpf_stop(void);
/* Are two configs' [bpf] sections the same (names, keys, values)?  A
 * reload cannot change them yet. */
bool rt_bpf_same(const struct rt_bpf_section *a, size_t na,
		 const struct rt_bpf_section *b, size_t nb);
/* The BPF event layouts (RT_TAG_BPF_EVENT/ENUM) when @nr sections exist. */
int rt_bpf_metadata(size_t nr, struct rt_buf *b);
/* `ringtap status` lines: id = section name. */
void rt_bpf_status(void (*put)(void *ctx, const char *id, const char *key,
			       const char *val),
		   void *ctx);

#endif
