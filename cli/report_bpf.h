/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ringtap report's view of BPF events (cli/report_bpf.c): ftrace:raw_data
 * events whose id the capture's RT_TAG_BPF_EVENT records describe are
 * shown as ringtap:NAME with typed fields, filtered by --event
 * 'ringtap:NAME', counted by --stats, and the ringtap:bpf_stats events the
 * daemon writes at its stop are summed into a per-program table.
 */
#ifndef RINGTAP_REPORT_BPF_H
#define RINGTAP_REPORT_BPF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringtap/bpf_decode.h"

struct tep_handle;
struct tep_record;
struct rt_capture_meta;
struct rt_bpf_event;

#define REPORT_BPF_MAX_EVENTS 256

struct report_bpf_prog {
	char section[33];
	uint32_t cpu;
	uint64_t seen, emitted, dropped, lost_write;
};

struct report_bpf {
	const struct rt_capture_meta *meta;
	int raw_id;	   /* ftrace:raw_data, -1 if unknown */
	int id_off;	   /* offset of its id field in a record */
	uint8_t ok[REPORT_BPF_MAX_EVENTS];	 /* passes --event */
	uint64_t cnt[REPORT_BPF_MAX_EVENTS]; /* --stats */
	char names[REPORT_BPF_MAX_EVENTS][80]; /* for the counts */
	struct report_bpf_prog *progs;
	size_t nr_progs;
};

/* A BPF event in @rec: its layout, its bytes from the id on. */
struct report_bpf_ev {
	const struct rt_bpf_event *ev;
	size_t idx;
	const uint8_t *data;
	size_t len;
	int pid, cpu;
	char comm[17];
};

/* For the capture now open: which BPF events pass @globs (none: all);
 * sets matched[j] when glob j names one. */
void report_bpf_prepare(struct report_bpf *b, const struct rt_capture_meta *m,
			char *const *globs, int nr_globs, bool *matched);
/* Is @rec a BPF event?  Fills @out. */
bool report_bpf_event(const struct report_bpf *b, struct tep_handle *tep,
		      const struct tep_record *rec, struct report_bpf_ev *out);
void report_bpf_count(struct report_bpf *b, const struct report_bpf_ev *e);
/* ": ringtap:NAME: field=value ..." after the columns */
void report_bpf_text(const struct report_bpf *b, const struct report_bpf_ev *e,
		     FILE *out);
void report_bpf_json_fields(const struct report_bpf *b,
			    const struct report_bpf_ev *e, FILE *out,
			    void (*put_str)(FILE *o, const void *s, size_t len));
/* --stats: events per BPF type as "name count" rows via @row, then the
 * per-program table. */
void report_bpf_type_rows(const struct report_bpf *b,
			  void (*row)(void *ctx, const char *name, uint64_t n),
			  void *ctx);
void report_bpf_print_programs(struct report_bpf *b, FILE *out);
void report_bpf_free(struct report_bpf *b);

#endif
