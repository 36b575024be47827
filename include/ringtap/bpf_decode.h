/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * BPF events in a capture (lib/bpf_events.c): their layouts as metadata
 * records (written by ringtapd) and their decoding (ringtap report).  A BPF
 * event is an ftrace:raw_data event (what trace_marker_raw writes) whose
 * id an RT_TAG_BPF_EVENT record describes; the bytes from the id on are the
 * event's struct (include/ringtap/bpf_events.h).
 */
#ifndef RINGTAP_BPF_DECODE_H
#define RINGTAP_BPF_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rt_buf;
struct rt_bpf_decoder;
struct rt_bpf_event;
struct rt_bpf_event_desc;

/* RT_TAG_BPF_EVENT records of every built-in event, RT_TAG_BPF_ENUM
 * records of their value names (@syscalls: names by number, may be NULL). */
int rt_bpf_metadata_add(struct rt_buf *b, const char *const *syscalls,
			size_t nr_syscalls);

/* One RT_TAG_BPF_EVENT record: @e's id, name, size and fields. */
int rt_bpf_metadata_add_event(struct rt_buf *b,
			      const struct rt_bpf_event_desc *e);
/* One RT_TAG_BPF_ENUM record: value names (a field of type enum:NAME). */
int rt_bpf_metadata_add_enum(struct rt_buf *b, const char *name,
			     const uint64_t *vals, const char *const *names,
			     size_t nr);

/* Take one metadata record (other tags are ignored); *dp is allocated on
 * first use.  Malformed content is skipped.  0 or -ENOMEM. */
int rt_bpf_decoder_add(struct rt_bpf_decoder **dp, uint16_t tag,
		       const uint8_t *val, uint32_t len);
void rt_bpf_decoder_free(struct rt_bpf_decoder *d);
const struct rt_bpf_event *rt_bpf_decoder_find(const struct rt_bpf_decoder *d,
					       uint32_t id);
size_t rt_bpf_decoder_count(const struct rt_bpf_decoder *d);
const struct rt_bpf_event *rt_bpf_decoder_event(const struct rt_bpf_decoder *d,
						size_t i);
size_t rt_bpf_event_index(const struct rt_bpf_decoder *d,
			  const struct rt_bpf_event *ev);
/* "ringtap:NAME" */
const char *rt_bpf_event_name(const struct rt_bpf_event *ev);

/* @data/@len: the event from its id on (raw_data's id + buf). */
void rt_bpf_print_text(const struct rt_bpf_decoder *d,
		       const struct rt_bpf_event *ev, const uint8_t *data,
		       size_t len, FILE *out);
/* The members of the "fields" object (without braces). */
void rt_bpf_print_json(const struct rt_bpf_decoder *d,
		       const struct rt_bpf_event *ev, const uint8_t *data,
		       size_t len, FILE *out,
		       void (*put_str)(FILE *o, const void *s, size_t len));
/* The task the event is about (its header), rather than the writer's. */
bool rt_bpf_event_task(const struct rt_bpf_event *ev, const uint8_t *data,
		       size_t len, int *pid, char *comm, size_t comm_size);

#endif
