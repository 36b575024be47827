// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live reload (SIGHUP, `systemctl reload`).  The instance, its ring buffers
 * and the reader threads stay; what changes:
 *
 *   outputs      an output with the same name, type and path is kept and
 *                goes on in a new file (its settings updated); others are
 *                closed with their END frames or opened;
 *   events       enabled and disabled one by one after the switch, each
 *                filter replaced in one write, so an event in both configs
 *                never stops and the new files know every format that may
 *                still be in the buffers (old and new selections);
 *   flush_interval_ms  from the next wake-up.
 *
 * The ring buffers go on filling while the readers are held between two
 * sub-buffers, so nothing is lost or written twice (the file sink's page
 * continuation covers a page split across the switch).  Keys that shape
 * the buffers or the instance need a restart: a reload that changes them
 * is refused, like any config the parser or the kernel rejects, and the
 * running configuration stays in force.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "ringtapd.h"
#include "bpf.h"

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* What cannot change without a restart. */
static int check_fixed(const struct rt_config *old, const struct rt_config *new,
		       char *why, size_t len)
{
#define FIXED(cond, key, fmt, a, b)                                               \
	if (!(cond)) {                                                            \
		snprintf(why, len,                                                \
			 "%s: '%s' cannot change on reload (" fmt " -> " fmt      \
			 "): restart ringtapd for it",                            \
			 new->path, key, a, b);                                   \
		return -EINVAL;                                                   \
	}
	FIXED(same_str(old->instance, new->instance), "instance", "%s",
	      old->instance, new->instance);
	FIXED(old->buffer_size_kb == new->buffer_size_kb, "buffer_size_kb",
	      "%u", old->buffer_size_kb, new->buffer_size_kb);
	FIXED(old->subbuf_size_kb == new->subbuf_size_kb, "subbuf_size_kb",
	      "%u", old->subbuf_size_kb, new->subbuf_size_kb);
	FIXED(same_str(old->clock, new->clock), "clock", "%s", old->clock,
	      new->clock);
	FIXED(old->buffer_percent == new->buffer_percent, "buffer_percent",
	      "%u", old->buffer_percent, new->buffer_percent);
	FIXED(old->reader == new->reader, "reader", "%d", (int)old->reader,
	      (int)new->reader);
	FIXED(same_str(old->run_dir, new->run_dir), "run_dir", "%s",
	      old->run_dir, new->run_dir);
	FIXED(rt_bpf_same(old->bpf, old->nr_bpf, new->bpf, new->nr_bpf),
	      "[bpf] sections", "%zu sections", old->nr_bpf, new->nr_bpf);
#undef FIXED
	return 0;
}

static struct rt_sink *find_kept(struct rt_capture *cap,
				 const struct rt_output *out)
{
	for (size_t i = 0; i < cap->nr_sinks; i++) {
		const struct rt_output *o = cap->sinks[i]->out;

		if (!strcmp(o->name, out->name) && o->type == out->type &&
		    same_str(o->path, out->path) &&
		    same_str(o->address, out->address) &&
		    same_str(o->spill_dir, out->spill_dir) &&
		    same_str(o->token_file, out->token_file) &&
		    o->insecure == out->insecure &&
		    same_str(o->tls_ca, out->tls_ca) &&
		    same_str(o->tls_cert, out->tls_cert) &&
		    same_str(o->tls_key, out->tls_key) &&
		    same_str(o->tls_server_name, out->tls_server_name) &&
		    o->zerocopy == out->zerocopy &&
		    o->direct_io == out->direct_io)
			return cap->sinks[i];
	}
	return NULL;
}

/* An output that goes: every CPU's file finished with its END frame. */
static void finish_sink(struct rt_capture *cap, struct rt_sink *s)
{
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		struct rt_cpu_stats st;

		if (!cap->online[cpu])
			continue;
		rt_capture_cpu_snapshot(cap, cpu, &st);
		s->ops->close_cpu(s, cpu, &st);
	}
	rt_sink_free(s);
}

static void fail(struct rt_daemon *d, const char *why)
{
	log_err("reload refused: %s; the running configuration stays in force",
		why);
	d->reload_failures++;
	snprintf(d->last_reload, sizeof(d->last_reload), "refused: %s", why);
}

int rt_reload(struct rt_daemon *d)
{
	struct rt_capture *cap = &d->cap;
	struct rt_config *nc, *old = d->cfg;
	struct rt_buf *hdr = NULL, *old_hdr = d->header;
	struct rt_sink **sinks = NULL;
	bool *kept = NULL;
	char why[RT_CONFIG_ERR_MAX + 64];
	size_t nr = 0;
	int r;

	log_info("reloading '%s'", d->config_path);
	nc = calloc(1, sizeof(*nc));
	if (!nc) {
		fail(d, "out of memory");
		return -ENOMEM;
	}
	r = rt_config_load(nc, d->config_path, why, sizeof(why));
	if (!r)
		r = check_fixed(old, nc, why, sizeof(why));
	if (r < 0) {
		fail(d, why);
		goto out_cfg;
	}
	/* Events, filters: the kernel's word, on a throwaway instance (its
	 * own messages name the lines). */
	r = rt_instance_check_config(nc);
	if (r < 0) {
		snprintf(why, sizeof(why),
			 "%s: the kernel rejects it (see the messages above)",
			 nc->path);
		fail(d, why);
		goto out_cfg;
	}
	hdr = calloc(1, sizeof(*hdr));
	sinks = calloc(nc->nr_outputs ? nc->nr_outputs : 1, sizeof(*sinks));
	kept = calloc(cap->nr_sinks ? cap->nr_sinks : 1, sizeof(*kept));
	if (!hdr || !sinks || !kept) {
		r = -ENOMEM;
		fail(d, "out of memory");
		goto out_cfg;
	}
	r = rt_metadata_build2(nc, old, &d->inst, cap->subbuf_size,
			       cap->nr_cpus, cap->mode, hdr);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot collect event formats: %s",
			 strerror(-r));
		fail(d, why);
		goto out_cfg;
	}

	rt_capture_pause(cap);
	/* New outputs first: if one cannot open, nothing has changed yet. */
	for (size_t j = 0; j < nc->nr_outputs; j++) {
		struct rt_sink *s = find_kept(cap, &nc->outputs[j]);

		if (s) {
			for (size_t i = 0; i < cap->nr_sinks; i++)
				kept[i] |= cap->sinks[i] == s;
			sinks[nr++] = s;
			continue;
		}
		r = rt_sink_create(&nc->outputs[j], hdr, &d->inst, cap->nr_cpus,
				   cap->online, &sinks[nr]);
		if (r < 0) {
			for (size_t k = 0; k < nr; k++)
				if (sinks[k]->header == hdr) /* made here */
					finish_sink(cap, sinks[k]);
			rt_capture_resume(cap);
			snprintf(why, sizeof(why), "%s:%d: output '%s' cannot start: %s",
				 nc->path, nc->outputs[j].line,
				 nc->outputs[j].name, strerror(-r));
			fail(d, why);
			goto out_cfg;
		}
		log_info("reload: output '%s' added", nc->outputs[j].name);
		nr++;
	}
	/* Outputs that go: finished with their END frames. */
	for (size_t i = 0; i < cap->nr_sinks; i++) {
		struct rt_sink *s = cap->sinks[i];

		if (kept[i])
			continue;
		log_info("reload: output '%s' removed", s->out->name);
		finish_sink(cap, s);
	}
	/* Outputs that stay: new settings, new files with the new HEADER
	 * (and the same cmdlines table in the files they end). */
	rt_cmdlines_moment_begin();
	for (size_t j = 0; j < nr; j++) {
		struct rt_sink *s = sinks[j];

		if (s->header == hdr)
			continue; /* just made */
		s->out = &nc->outputs[j];
		s->header = hdr;
		if (s->ops->restart && s->ops->restart(s) < 0)
			log_warn("reload: output '%s' could not start new files everywhere; it retries on the next write",
				 s->out->name);
	}
	rt_cmdlines_moment_end();
	free(cap->sinks);
	cap->sinks = sinks;
	cap->nr_sinks = nr;
	sinks = NULL;
	cap->cfg = nc;
	d->cfg = nc;
	d->header = hdr;
	hdr = NULL;
	rt_capture_resume(cap);

	/* The files know every format now: switch the events over. */
	r = rt_instance_apply_events(old, nc, &d->inst);
	if (r < 0) {
		snprintf(why, sizeof(why),
			 "%s: event selection only partly applied: %s", nc->path,
			 strerror(-r));
		log_err("reload: %s", why);
		d->reload_failures++;
		snprintf(d->last_reload, sizeof(d->last_reload), "partial: %s",
			 why);
	} else {
		d->reloads++;
		snprintf(d->last_reload, sizeof(d->last_reload), "ok");
		log_info("reload done: %zu events selected, %zu outputs",
			 nc->nr_events, nc->nr_outputs);
	}
	rt_config_free(old);
	free(old);
	rt_buf_free(old_hdr);
	free(old_hdr);
	free(kept);
	return r;

out_cfg:
	rt_config_free(nc);
	free(nc);
	if (hdr) {
		rt_buf_free(hdr);
		free(hdr);
	}
	free(sinks);
	free(kept);
	return r;
}
