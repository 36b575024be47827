// SPDX-License-Identifier: GPL-2.0-or-later
/* ringtap report: BPF events (cli/report_bpf.h, docs/bpf.md). */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event-parse.h>

#include "ringtap/bpf_decode.h"
#include "ringtap/bpf_events.h"
#include "ringtap/capture.h"
#include "report_bpf.h"

void report_bpf_prepare(struct report_bpf *b, const struct rt_capture_meta *m,
			char *const *globs, int nr_globs, bool *matched)
{
	struct tep_event *raw = tep_find_event_by_name(m->tep, "ftrace",
						       "raw_data");
	struct tep_format_field *f = raw ? tep_find_field(raw, "id") : NULL;
	size_t n = rt_bpf_decoder_count(m->bpf);

	b->meta = m;
	b->raw_id = f ? raw->id : -1;
	b->id_off = f ? f->offset : 0;
	for (size_t i = 0; i < n && i < REPORT_BPF_MAX_EVENTS; i++) {
		const char *name =
			rt_bpf_event_name(rt_bpf_decoder_event(m->bpf, i));

		/* --follow reopens the capture: keep the counts by name */
		if (b->names[i][0] && strcmp(b->names[i], name))
			b->cnt[i] = 0;
		snprintf(b->names[i], sizeof(b->names[i]), "%s", name);
		b->ok[i] = !nr_globs;
		for (int j = 0; j < nr_globs; j++)
			if (!fnmatch(globs[j], name, 0)) {
				b->ok[i] = 1;
				matched[j] = true;
			}
	}
}

bool report_bpf_event(const struct report_bpf *b, struct tep_handle *tep,
		      const struct tep_record *rec, struct report_bpf_ev *out)
{
	uint32_t id;

	if (b->raw_id < 0 || !b->meta->bpf ||
	    tep_data_type(tep, (struct tep_record *)rec) != b->raw_id ||
	    rec->size < b->id_off + 4)
		return false;
	memcpy(&id, (const uint8_t *)rec->data + b->id_off, 4);
	out->ev = rt_bpf_decoder_find(b->meta->bpf, id);
	if (!out->ev)
		return false;
	out->idx = rt_bpf_event_index(b->meta->bpf, out->ev);
	if (out->idx >= REPORT_BPF_MAX_EVENTS)
		return false;
	out->data = (const uint8_t *)rec->data + b->id_off;
	out->len = rec->size - b->id_off;
	out->cpu = rec->cpu;
	if (!rt_bpf_event_task(out->ev, out->data, out->len, &out->pid,
			       out->comm, sizeof(out->comm))) {
		out->pid = tep_data_pid(tep, (struct tep_record *)rec);
		snprintf(out->comm, sizeof(out->comm), "%s",
			 tep_data_comm_from_pid(tep, out->pid));
	} else {
		struct rt_bpf_hdr h;

		memcpy(&h, out->data, sizeof(h));
		out->cpu = h.cpu;
	}
	return true;
}

static void add_prog(struct report_bpf *b, const struct report_bpf_ev *e)
{
	struct rt_bpf_stats s;
	struct report_bpf_prog *p = NULL, *n;

	if (e->len < sizeof(s))
		return;
	memcpy(&s, e->data, sizeof(s));
	for (size_t i = 0; i < b->nr_progs && !p; i++)
		if (!strncmp(b->progs[i].section, s.section, 32) &&
		    b->progs[i].cpu == s.h.cpu)
			p = &b->progs[i];
	if (!p) {
		n = realloc(b->progs, (b->nr_progs + 1) * sizeof(*n));
		if (!n)
			return;
		b->progs = n;
		p = &b->progs[b->nr_progs++];
		memset(p, 0, sizeof(*p));
		memcpy(p->section, s.section, 32);
		p->cpu = s.h.cpu;
	}
	p->seen += s.seen;
	p->emitted += s.emitted;
	p->dropped += s.dropped;
	p->lost_write += s.lost_write;
}

void report_bpf_count(struct report_bpf *b, const struct report_bpf_ev *e)
{
	uint32_t id;

	b->cnt[e->idx]++;
	memcpy(&id, e->data, 4);
	if (id == RT_BPF_EV_STATS)
		add_prog(b, e);
}

void report_bpf_text(const struct report_bpf *b, const struct report_bpf_ev *e,
		     FILE *out)
{
	fputs(": ", out);
	rt_bpf_print_text(b->meta->bpf, e->ev, e->data, e->len, out);
}

void report_bpf_json_fields(const struct report_bpf *b,
			    const struct report_bpf_ev *e, FILE *out,
			    void (*put_str)(FILE *o, const void *s, size_t len))
{
	rt_bpf_print_json(b->meta->bpf, e->ev, e->data, e->len, out, put_str);
}

void report_bpf_type_rows(const struct report_bpf *b,
			  void (*row)(void *ctx, const char *name, uint64_t n),
			  void *ctx)
{
	for (size_t i = 0; i < REPORT_BPF_MAX_EVENTS; i++)
		if (b->cnt[i])
			row(ctx, b->names[i], b->cnt[i]);
}

static int cmp_prog(const void *x, const void *y)
{
	const struct report_bpf_prog *a = x, *c = y;
	int r = strcmp(a->section, c->section);

	return r ? r : (a->cpu > c->cpu) - (a->cpu < c->cpu);
}

void report_bpf_print_programs(struct report_bpf *b, FILE *out)
{
	struct report_bpf_prog all = { 0 };

	if (!b->nr_progs)
		return;
	qsort(b->progs, b->nr_progs, sizeof(*b->progs), cmp_prog);
	fprintf(out, "\n%-24s %4s %14s %14s %12s %12s\n", "bpf program", "CPU",
		"seen", "emitted", "dropped", "lost(write)");
	for (size_t i = 0; i < b->nr_progs; i++) {
		const struct report_bpf_prog *p = &b->progs[i];

		fprintf(out, "%-24s %4u %14" PRIu64 " %14" PRIu64 " %12" PRIu64
			     " %12" PRIu64 "\n",
			p->section, p->cpu, p->seen, p->emitted, p->dropped,
			p->lost_write);
		all.seen += p->seen;
		all.emitted += p->emitted;
		all.dropped += p->dropped;
		all.lost_write += p->lost_write;
	}
	fprintf(out, "%-24s %4s %14" PRIu64 " %14" PRIu64 " %12" PRIu64
		     " %12" PRIu64 "\n",
		"all", "", all.seen, all.emitted, all.dropped, all.lost_write);
}

void report_bpf_free(struct report_bpf *b)
{
	free(b->progs);
	b->progs = NULL;
	b->nr_progs = 0;
}
