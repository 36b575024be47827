// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * type = nats: the capture published to NATS JetStream, as docs/nats.md
 * specifies.
 *
 * Each CPU's stream is the byte sequence a file output writes for that CPU
 * (framer.c makes it, for every output): files one after another, each from
 * its preamble to its END frame.  Every frame is one JetStream message on
 * the subject PREFIX.<host>.<cpu>; the first message of a file carries the
 * preamble and the HEADER frame together.  Headers say which file and where
 * in it the bytes go (Ringtap-File, Ringtap-Offset), so a collector writes
 * them at their place whatever order they arrive in, and Nats-Msg-Id
 * (<boot>.<capture>.<cpu>.<file>.<frame seq>) lets the stream drop a
 * message published twice.
 *
 * The reader thread only appends frames to its CPU's queue (one copy out of
 * the mapped page) and never waits on the network.  The queue holds every
 * message until JetStream acknowledges it: in memory up to queue_size, then
 * in a spill file up to spill_size; beyond that whole sub-buffers are
 * dropped, their events counted, and a LOST frame takes their place as soon
 * as there is room again.  Metadata frames are always queued.  (The bounds,
 * spill and loss rules are the socket sink's; the queue here is of whole
 * messages, not of a byte stream, so the code is its own.)
 *
 * One publisher thread per output publishes with js_PublishMsgAsync, at
 * most WINDOW messages in flight per CPU; the acknowledgement handler (a
 * libnats thread) frees a message once JetStream stored it and puts it
 * back in line, after a backoff, when the publish failed or timed out.
 * libnats reconnects by itself; a republished message keeps its id.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "ringtap/clock.h"
#include "ringtap/log.h"
#include "ringtapd.h"

#define WINDOW 32	      /* messages in flight per CPU */
#define PUB_TIMEOUT_MS 5000   /* no acknowledgement: publish again */
#define KICK_BYTES (256u << 10)
#define LAZY_MS 20
#define CHECK_MS 2000	      /* retry the stream check */

enum { Q_WAIT, Q_FLIGHT, Q_ACKED };

/* One message: a frame, or preamble + HEADER at the start of a file. */
struct qent {
	struct qent *next;
	uint32_t index;	 /* file index */
	uint64_t offset; /* in the file */
	uint64_t seq;	 /* frame number in the file */
	uint32_t len;
	uint64_t events; /* in a SUBBUF frame */
	uint8_t *mem;	 /* NULL: in the spill file at spill_off */
	uint64_t spill_off;
	int state;
};

struct nats_sink;

struct nchan {
	struct nats_sink *ns;
	int cpu;
	char subject[512];

	/* the queue: appended by the reader, published and freed by the
	 * publisher and the acknowledgement handler, under mu */
	pthread_mutex_t mu;
	struct qent *head, *tail;
	struct qent *cursor; /* no Q_WAIT entry before it; NULL: head */
	size_t nr;
	unsigned int inflight;
	uint64_t mem_bytes, spill_bytes;
	uint64_t unacked_events;
	uint64_t acked_bytes, acked_msgs;
	int spill_fd;
	bool spill_failed;
	uint64_t spill_wr;
	int nr_spilled;
	uint64_t retry_at; /* after a failed publish, ms */
	unsigned int attempt;
	bool failing;
	bool finished;
	uint64_t unkicked;

	/* the reader thread only (the main thread while paused) */
	struct rt_framer f;
	uint8_t pre[RT_PREAMBLE_SIZE];
	bool have_pre;
	bool dropping;

	/* the publisher thread only */
	uint8_t *bounce; /* a spilled message read back */
	size_t bounce_cap;
};

struct nats_sink {
	struct rt_sink *s;
	struct nchan *ch;
	/* copies: a reload replaces s->out while the publisher runs */
	char *name, *url, *stream, *prefix, *spill_dir;
	unsigned int reconnect_min_ms, reconnect_max_ms;
	bool create_stream;
	unsigned int replicas;
	int64_t max_bytes;
	char host[256], boot_id[64], capture_id[64];
	uint64_t max_msg; /* largest message this output makes */
	uint64_t tail_reserve;

	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	/* a publish was made on js: libnats 3.4 builds its pending list
	 * lazily and js_PublishAsyncGetPendingList() crashes before that */
	bool published;
	/* the connection libnats gave up on (closed, not by us): the
	 * publisher thread dials anew at redial_at, backing off */
	uint64_t redial_at, redial_wait;
	atomic_bool connected;
	atomic_uint_fast64_t reconnects;
	bool stream_ok;
	uint64_t check_at;
	bool check_logged;

	atomic_uint_fast64_t mem_total, spill_total;
	atomic_uint_fast64_t stop_at;

	pthread_t thread;
	bool started;
	pthread_mutex_t wmu;
	pthread_cond_t wcond;
	bool kicked;
	bool closing, closed; /* under wmu */
};

static const char *nats_err(natsStatus s)
{
	return natsStatus_GetText(s);
}

static void kick(struct nats_sink *ns)
{
	pthread_mutex_lock(&ns->wmu);
	ns->kicked = true;
	pthread_cond_signal(&ns->wcond);
	pthread_mutex_unlock(&ns->wmu);
}

/* ---- the queue ---- */

static bool mem_fits(const struct nchan *ch, size_t total)
{
	return rt_outq_mem_fits(ch->ns->s->out,
				atomic_load(&ch->ns->mem_total), total);
}

static bool spill_fits(const struct nchan *ch, size_t total)
{
	return rt_outq_spill_fits(ch->ns->s->out, ch->spill_failed,
				  atomic_load(&ch->ns->spill_total), total);
}

/* Free the acknowledged messages at the head.  Under mu. */
static void free_acked(struct nchan *ch)
{
	struct nats_sink *ns = ch->ns;

	while (ch->head && ch->head->state == Q_ACKED) {
		struct qent *e = ch->head;

		ch->head = e->next;
		if (!ch->head)
			ch->tail = NULL;
		if (ch->cursor == e)
			ch->cursor = NULL;
		ch->nr--;
		ch->unacked_events -= e->events;
		ch->acked_bytes += e->len;
		ch->acked_msgs++;
		if (e->mem) {
			ch->mem_bytes -= e->len;
			atomic_fetch_sub(&ns->mem_total, e->len);
			free(e->mem);
		} else {
			ch->spill_bytes -= e->len;
			atomic_fetch_sub(&ns->spill_total, e->len);
			fallocate(ch->spill_fd,
				  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  e->spill_off, e->len);
			if (!--ch->nr_spilled && ftruncate(ch->spill_fd, 0) == 0)
				ch->spill_wr = 0;
		}
		free(e);
	}
}

/* Queue one message of @iov (after the held preamble, if any). */
static int q_append(struct nchan *ch, const struct iovec *iov, int iovcnt,
		    size_t total, uint64_t offset, uint64_t seq,
		    uint64_t events)
{
	struct nats_sink *ns = ch->ns;
	size_t len = total + (ch->have_pre ? RT_PREAMBLE_SIZE : 0);
	struct qent *e = calloc(1, sizeof(*e));
	bool spill, wake;
	int r = 0;

	if (!e)
		return -ENOMEM;
	e->index = ch->f.index;
	e->offset = ch->have_pre ? offset - RT_PREAMBLE_SIZE : offset;
	e->seq = seq;
	e->len = len;
	e->events = events;
	pthread_mutex_lock(&ch->mu);
	spill = !mem_fits(ch, len) && spill_fits(ch, len);
	if (spill && ch->spill_fd < 0 &&
	    rt_outq_open_spill(ns->name, ns->spill_dir, ch->cpu, &ch->spill_fd,
			       &ch->spill_failed) < 0)
		spill = false;
	if (spill) {
		uint64_t at = ch->spill_wr;
		struct iovec v[RT_FRAMER_MAX_PIECES + 4];
		int n = 0;
		ssize_t w;

		if (ch->have_pre)
			v[n++] = (struct iovec){ ch->pre, RT_PREAMBLE_SIZE };
		for (int i = 0; i < iovcnt; i++)
			v[n++] = iov[i];
		w = pwritev(ch->spill_fd, v, n, (off_t)at);
		if (w < 0 || (size_t)w != len) {
			/* to memory instead: the bound is overshot this once */
			log_err("output '%s': cpu %d: spill file write failed (%s); spilling stops",
				ns->name, ch->cpu,
				w < 0 ? strerror(errno) : "short write");
			ch->spill_failed = true;
			spill = false;
		} else {
			e->spill_off = at;
			ch->spill_wr += len;
			ch->nr_spilled++;
			ch->spill_bytes += len;
			atomic_fetch_add(&ns->spill_total, len);
		}
	}
	if (!spill) {
		uint8_t *p = e->mem = malloc(len);

		if (!p) {
			r = -ENOMEM;
		} else {
			if (ch->have_pre) {
				memcpy(p, ch->pre, RT_PREAMBLE_SIZE);
				p += RT_PREAMBLE_SIZE;
			}
			for (int i = 0; i < iovcnt; i++) {
				memcpy(p, iov[i].iov_base, iov[i].iov_len);
				p += iov[i].iov_len;
			}
			ch->mem_bytes += len;
			atomic_fetch_add(&ns->mem_total, len);
		}
	}
	if (!r) {
		if (ch->tail)
			ch->tail->next = e;
		else
			ch->head = e;
		ch->tail = e;
		ch->nr++;
		ch->unacked_events += events;
		ch->have_pre = false;
	}
	ch->unkicked += len;
	wake = ch->unkicked >= KICK_BYTES;
	if (wake)
		ch->unkicked = 0;
	pthread_mutex_unlock(&ch->mu);
	if (r < 0) {
		free(e);
		log_err("output '%s': cpu %d: out of memory queueing %zu bytes",
			ns->name, ch->cpu, len);
	}
	if (wake)
		kick(ns);
	return r;
}

/* The framer's emit: the preamble waits for its HEADER frame. */
static int emit(struct rt_framer *f, struct iovec *iov, int iovcnt,
		size_t total, const struct rt_frame_hdr *hdr, uint64_t events)
{
	struct nchan *ch = (struct nchan *)((char *)f -
					    offsetof(struct nchan, f));

	if (!hdr) {
		uint8_t *p = ch->pre;

		if (total != RT_PREAMBLE_SIZE)
			return -EINVAL;
		for (int i = 0; i < iovcnt; i++) {
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
			p += iov[i].iov_len;
		}
		ch->have_pre = true;
		return 0;
	}
	return q_append(ch, iov, iovcnt, total, f->size, hdr->seq, events);
}

/* ---- the reader's side ---- */

static void count_lost(struct rt_sink *s, struct nchan *ch,
		       const struct rt_subbuf_ref *ref)
{
	rt_outq_count_lost(&ch->f, ref, s->out, ch->cpu, &ch->dropping, "NATS",
			   ch->ns->url);
}

static int nats_write(struct rt_sink *s, int cpu,
		      const struct rt_subbuf_ref *ref)
{
	struct nats_sink *ns = s->priv;
	struct nchan *ch = &ns->ch[cpu];
	struct rt_subbuf sb;
	uint64_t need;
	bool rot, ok;
	int r = rt_outq_begin(&ch->f, ref);

	if (!r) {
		need = rt_outq_prepare(&ch->f, ref, &sb, ns->tail_reserve, &rot);
		pthread_mutex_lock(&ch->mu);
		ok = mem_fits(ch, need) || spill_fits(ch, need);
		pthread_mutex_unlock(&ch->mu);
		r = ok ? rt_outq_subbuf(&ch->f, ref, &sb, rot, s->out->name,
					ch->cpu, &ch->dropping) :
			 -ENOBUFS;
	}
	if (r < 0)
		count_lost(s, ch, ref);
	return r;
}

static int nats_close_cpu(struct rt_sink *s, int cpu,
			  const struct rt_cpu_stats *st)
{
	struct nats_sink *ns = s->priv;
	struct nchan *ch = &ns->ch[cpu];
	int r;

	if (!ch->f.open && rt_framer_begin(&ch->f) < 0)
		return -ENOMEM;
	r = rt_outq_end(&ch->f, st, s->out->name, cpu, &ch->dropping);
	pthread_mutex_lock(&ch->mu);
	ch->finished = true;
	pthread_mutex_unlock(&ch->mu);
	kick(ns);
	/* free() waits for the last acknowledgements, all CPUs at once */
	return r;
}

/* Reload: every CPU goes on in a new file with the new HEADER. */
static int nats_restart(struct rt_sink *s)
{
	struct nats_sink *ns = s->priv;

	for (int c = 0; c < s->nr_cpus; c++)
		if (s->online[c] && ns->ch[c].f.open)
			rt_outq_rotate(&ns->ch[c].f);
	return 0;
}

/* ---- the publisher ---- */

/* A publish failed or timed out: back in line after a backoff.  Under mu. */
static void publish_failed(struct nchan *ch, struct qent *e, const char *why)
{
	uint64_t delay = rt_outq_backoff_ms(ch->ns->reconnect_min_ms,
					    ch->ns->reconnect_max_ms,
					    ch->attempt++);

	e->state = Q_WAIT;
	ch->cursor = NULL;
	ch->retry_at = rt_now_ms() + delay;
	if (!ch->failing)
		log_warn("output '%s': cpu %d: publishing to %s (%s) failed: %s; publishing again with the same message ids, next try in %llu ms",
			 ch->ns->name, ch->cpu, ch->subject, ch->ns->url, why,
			 (unsigned long long)delay);
	ch->failing = true;
}

/* "<boot>.<capture>.<cpu>.<index>.<seq>" -> cpu, index, seq */
static bool parse_msg_id(const char *id, unsigned int *cpu, uint32_t *index,
			 uint64_t *seq)
{
	const char *p = id + strlen(id);
	int dots = 0;

	while (p > id && dots < 3)
		if (*--p == '.')
			dots++;
	return dots == 3 &&
	       sscanf(p, ".%u.%" SCNu32 ".%" SCNu64, cpu, index, seq) == 3;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
		   void *closure)
{
	struct nats_sink *ns = closure;
	const char *id = NULL;
	unsigned int cpu;
	uint32_t index;
	uint64_t seq;

	(void)js;
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK &&
	    parse_msg_id(id, &cpu, &index, &seq) &&
	    cpu < (unsigned int)ns->s->nr_cpus) {
		struct nchan *ch = &ns->ch[cpu];
		struct qent *e;

		pthread_mutex_lock(&ch->mu);
		for (e = ch->head; e; e = e->next)
			if (e->state == Q_FLIGHT && e->index == index &&
			    e->seq == seq)
				break;
		if (e) {
			ch->inflight--;
			if (pa) {
				e->state = Q_ACKED;
				if (ch->failing)
					log_info("output '%s': cpu %d: JetStream acknowledges again",
						 ns->name, cpu);
				ch->failing = false;
				ch->attempt = 0;
				free_acked(ch);
			} else {
				char why[256];

				const char *txt = pae && pae->ErrText &&
							  strcmp(pae->ErrText, nats_err(pae->Err)) ?
							  pae->ErrText : NULL;

				snprintf(why, sizeof(why), "%s%s%s",
					 pae ? nats_err(pae->Err) : "no answer",
					 txt ? ": " : "", txt ? txt : "");
				publish_failed(ch, e, why);
			}
		}
		pthread_mutex_unlock(&ch->mu);
	}
	natsMsg_Destroy(msg);
	kick(ns);
}

static natsStatus set_header_u64(natsMsg *m, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return natsMsgHeader_Set(m, key, buf);
}

/* Build and publish @e (state Q_FLIGHT). */
static natsStatus publish(struct nchan *ch, struct qent *e)
{
	struct nats_sink *ns = ch->ns;
	const uint8_t *data = e->mem;
	jsPubOptions po;
	natsMsg *m = NULL;
	natsStatus s;
	char id[256];

	if (!data) {
		ssize_t n;

		if (ch->bounce_cap < e->len) {
			free(ch->bounce);
			ch->bounce = malloc(e->len);
			ch->bounce_cap = ch->bounce ? e->len : 0;
			if (!ch->bounce)
				return NATS_NO_MEMORY;
		}
		n = pread(ch->spill_fd, ch->bounce, e->len, (off_t)e->spill_off);
		if (n != (ssize_t)e->len)
			return NATS_IO_ERROR;
		data = ch->bounce;
	}
	snprintf(id, sizeof(id), "%s.%s.%d.%u.%" PRIu64, ns->boot_id,
		 ns->capture_id, ch->cpu, e->index, e->seq);
	s = natsMsg_Create(&m, ch->subject, NULL, (const char *)data,
			   (int)e->len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Ringtap-Host", ns->host);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Ringtap-Boot", ns->boot_id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Ringtap-Capture", ns->capture_id);
	if (s == NATS_OK)
		s = set_header_u64(m, "Ringtap-Cpu", (uint64_t)ch->cpu);
	if (s == NATS_OK)
		s = set_header_u64(m, "Ringtap-File", e->index);
	if (s == NATS_OK)
		s = set_header_u64(m, "Ringtap-Offset", e->offset);
	if (s == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MaxWait = PUB_TIMEOUT_MS;
		po.ExpectStream = ns->stream;
		s = js_PublishMsgAsync(ns->js, &m, &po);
		ns->published = true;
	}
	natsMsg_Destroy(m); /* NULL once the library owns it */
	return s;
}

static void publish_some(struct nchan *ch)
{
	uint64_t now = rt_now_ms();

	pthread_mutex_lock(&ch->mu);
	while (ch->inflight < WINDOW && now >= ch->retry_at) {
		struct qent *e = ch->cursor ? ch->cursor : ch->head;
		natsStatus s;

		while (e && e->state != Q_WAIT)
			e = e->next;
		ch->cursor = e;
		if (!e)
			break;
		e->state = Q_FLIGHT;
		ch->inflight++;
		ch->cursor = e->next;
		/* e stays: only Q_ACKED entries are freed */
		pthread_mutex_unlock(&ch->mu);
		s = publish(ch, e);
		pthread_mutex_lock(&ch->mu);
		if (s != NATS_OK && e->state == Q_FLIGHT) {
			ch->inflight--;
			publish_failed(ch, e, nats_err(s));
			break;
		}
	}
	pthread_mutex_unlock(&ch->mu);
}

/* The last callback of a connection: free() waits for it. */
static void on_closed(natsConnection *nc, void *closure)
{
	struct nats_sink *ns = closure;

	(void)nc;
	pthread_mutex_lock(&ns->wmu);
	ns->closed = true;
	pthread_cond_broadcast(&ns->wcond);
	pthread_mutex_unlock(&ns->wmu);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct nats_sink *ns = closure;
	bool closing;

	(void)nc;
	pthread_mutex_lock(&ns->wmu);
	closing = ns->closing;
	pthread_mutex_unlock(&ns->wmu);
	if (atomic_exchange(&ns->connected, false) && !closing)
		log_warn("output '%s': disconnected from NATS (%s); libnats reconnects, the queue holds the capture",
			 ns->name, ns->url);
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct nats_sink *ns = closure;
	char url[256] = "";

	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	atomic_store(&ns->connected, true);
	log_info("output '%s': connected to NATS %s", ns->name, url);
	kick(ns);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct nats_sink *ns = closure;

	atomic_fetch_add(&ns->reconnects, 1);
	on_connected(nc, closure);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub,
			   natsStatus err, void *closure)
{
	struct nats_sink *ns = closure;

	(void)nc;
	(void)sub;
	log_warn("output '%s': NATS: %s", ns->name, nats_err(err));
}

/*
 * The stream must exist (or be created with create_stream) and take our
 * largest message; the server's max_payload too.  Logged once per problem;
 * publishing goes on (and fails, and retries) regardless.
 */
static void check_stream(struct nats_sink *ns)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int64_t payload = natsConnection_GetMaxPayload(ns->nc);

	ns->check_at = rt_now_ms() + CHECK_MS;
	if (payload > 0 && (uint64_t)payload < ns->max_msg + 1024) {
		if (!ns->check_logged)
			log_err("output '%s': the NATS server's max_payload (%lld bytes) is smaller than a message of this output (%llu bytes + headers): raise max_payload in nats-server.conf (docs/nats.md)",
				ns->name, (long long)payload,
				(unsigned long long)ns->max_msg);
		ns->check_logged = true;
		return;
	}
	s = js_GetStreamInfo(&si, ns->js, ns->stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND && ns->create_stream) {
		jsStreamConfig sc;
		char subj[300];
		const char *subjects[1] = { subj };

		snprintf(subj, sizeof(subj), "%s.>", ns->prefix);
		jsStreamConfig_Init(&sc);
		sc.Name = ns->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Retention = js_WorkQueuePolicy;
		sc.Discard = js_DiscardNew;
		sc.Storage = js_FileStorage;
		sc.Replicas = (int64_t)ns->replicas;
		sc.MaxBytes = ns->max_bytes ? ns->max_bytes : -1;
		sc.MaxMsgSize = -1;
		sc.Duplicates = 120ll * 1000000000ll; /* 2 min */
		s = js_AddStream(&si, ns->js, &sc, NULL, &jerr);
		if (s == NATS_OK)
			log_notice("output '%s': created JetStream stream '%s' (subjects %s, work queue, file storage, %u replicas)",
				   ns->name, ns->stream, subj, ns->replicas);
	}
	if (s != NATS_OK) {
		if (!ns->check_logged)
			log_err("output '%s': JetStream stream '%s' on %s: %s (error %d)%s",
				ns->name, ns->stream, ns->url, nats_err(s),
				(int)jerr,
				s == NATS_NOT_FOUND ?
					": create it (docs/nats.md) or set create_stream = yes" :
					"");
		ns->check_logged = true;
		jsStreamInfo_Destroy(si);
		return;
	}
	if (si->Config->MaxMsgSize > 0 &&
	    (uint64_t)si->Config->MaxMsgSize < ns->max_msg + 1024) {
		if (!ns->check_logged)
			log_err("output '%s': stream '%s' has max_msg_size %d, smaller than a message of this output (%llu bytes + headers) (docs/nats.md)",
				ns->name, ns->stream, (int)si->Config->MaxMsgSize,
				(unsigned long long)ns->max_msg);
		ns->check_logged = true;
		jsStreamInfo_Destroy(si);
		return;
	}
	jsStreamInfo_Destroy(si);
	if (ns->check_logged)
		log_info("output '%s': stream '%s' is usable now", ns->name,
			 ns->stream);
	ns->stream_ok = true;
	ns->check_logged = false;
}

static bool all_done(struct nats_sink *ns)
{
	for (int c = 0; c < ns->s->nr_cpus; c++) {
		struct nchan *ch = &ns->ch[c];
		bool done;

		if (!ns->s->online[c])
			continue;
		pthread_mutex_lock(&ch->mu);
		done = ch->finished && !ch->head;
		pthread_mutex_unlock(&ch->mu);
		if (!done)
			return false;
	}
	return true;
}

static natsStatus make_js(struct nats_sink *ns)
{
	jsOptions jo;

	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)WINDOW * ns->s->nr_cpus + 16;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = ns;
	jo.PublishAsync.StallWait = 100;
	ns->published = false;
	return natsConnection_JetStream(&ns->js, ns->nc, &jo);
}

/* Drop the JetStream context: what is in flight is taken back first. */
static void drop_js(struct nats_sink *ns)
{
	natsMsgList pending = { 0 };

	if (!ns->js)
		return;
	if (ns->published &&
	    js_PublishAsyncGetPendingList(&pending, ns->js) == NATS_OK)
		natsMsgList_Destroy(&pending);
	jsCtx_Destroy(ns->js);
	ns->js = NULL;
}

/*
 * libnats closed the connection by itself: it gives up when a server
 * refuses the handshake (a TLS or authorization error) instead of
 * retrying.  Say why, once per episode, and dial anew with backoff; the
 * queue keeps the capture and unacknowledged messages go again (their
 * Nats-Msg-Id makes JetStream drop what it has already).  Publisher
 * thread only; the old connection's last callback (on_closed) has run.
 */
static void redial(struct nats_sink *ns, uint64_t now)
{
	const char *text = NULL;
	natsStatus last = ns->nc ? natsConnection_GetLastError(ns->nc, &text) :
				   NATS_OK;
	natsStatus st;

	if (!ns->redial_wait)
		log_err("output '%s': NATS %s closed the connection (%s%s%s): dialing again every %u..%u ms; the queue holds the capture",
			ns->name, ns->url, nats_err(last),
			text && *text ? ": " : "", text ? text : "",
			ns->reconnect_min_ms, ns->reconnect_max_ms);
	drop_js(ns);
	natsConnection_Destroy(ns->nc);
	ns->nc = NULL;
	pthread_mutex_lock(&ns->wmu);
	ns->closed = false;
	pthread_mutex_unlock(&ns->wmu);
	ns->redial_wait = ns->redial_wait ? 2 * ns->redial_wait :
					    ns->reconnect_min_ms;
	if (ns->redial_wait > ns->reconnect_max_ms)
		ns->redial_wait = ns->reconnect_max_ms;
	ns->redial_at = now + ns->redial_wait;
	st = natsConnection_Connect(&ns->nc, ns->opts);
	if (st == NATS_OK || st == NATS_NOT_YET_CONNECTED)
		st = make_js(ns);
	if (st != NATS_OK) {
		/* no connection object to wait for: next try at redial_at */
		drop_js(ns);
		natsConnection_Destroy(ns->nc);
		ns->nc = NULL;
		pthread_mutex_lock(&ns->wmu);
		ns->closed = true;
		pthread_mutex_unlock(&ns->wmu);
		return;
	}
	if (natsConnection_Status(ns->nc) == NATS_CONN_STATUS_CONNECTED)
		on_connected(ns->nc, ns);
}

static void *pub_thread(void *arg)
{
	struct nats_sink *ns = arg;

	for (;;) {
		uint64_t now = rt_now_ms(), stop = atomic_load(&ns->stop_at);
		uint64_t wait = LAZY_MS;
		struct timespec ts;

		if (stop && (now >= stop || all_done(ns)))
			break;
		if (atomic_load(&ns->connected)) {
			ns->redial_wait = 0;
			if (!ns->stream_ok && now >= ns->check_at)
				check_stream(ns);
			for (int c = 0; c < ns->s->nr_cpus; c++)
				if (ns->s->online[c])
					publish_some(&ns->ch[c]);
		} else {
			bool gave_up;

			pthread_mutex_lock(&ns->wmu);
			gave_up = ns->closed && !ns->closing;
			pthread_mutex_unlock(&ns->wmu);
			if (gave_up && now >= ns->redial_at)
				redial(ns, now);
			wait = 100;
		}
		if (stop && stop - now < wait)
			wait = stop - now;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(wait % 1000) * 1000000;
		ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_mutex_lock(&ns->wmu);
		if (!ns->kicked)
			pthread_cond_timedwait(&ns->wcond, &ns->wmu, &ts);
		ns->kicked = false;
		pthread_mutex_unlock(&ns->wmu);
	}
	return NULL;
}

/* ---- set-up, status, teardown ---- */

/* A subject token from the host name: no '.', wildcards or spaces. */
static void host_token(const char *host, char *buf, size_t len)
{
	size_t i;

	for (i = 0; host[i] && i + 1 < len; i++)
		buf[i] = (host[i] <= ' ' || host[i] == '.' || host[i] == '*' ||
			  host[i] == '>' || host[i] == 0x7f) ?
				 '_' :
				 host[i];
	buf[i] = 0;
}

static int read_token(struct nats_sink *ns, char **ret)
{
	char buf[4096];
	ssize_t n = rt_outq_read_token(ns->name, ns->s->out->token_file, buf,
				       sizeof(buf));

	*ret = NULL;
	if (n <= 0)
		return n;
	*ret = strndup(buf, n);
	return *ret ? 0 : -ENOMEM;
}

static int make_options(struct nats_sink *ns)
{
	const struct rt_output *o = ns->s->out;
	char *urls = strdup(ns->url), *save = NULL, *tok, *token = NULL;
	const char *servers[64];
	int nr = 0, r;
	natsStatus s;
	char name[300];

	if (!urls)
		return -ENOMEM;
	for (tok = strtok_r(urls, ",", &save); tok && nr < 64;
	     tok = strtok_r(NULL, ",", &save))
		servers[nr++] = tok;
	r = read_token(ns, &token);
	if (r < 0) {
		free(urls);
		return r;
	}
	snprintf(name, sizeof(name), "ringtapd %s output %s", ns->host,
		 ns->name);
	s = natsOptions_Create(&ns->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(ns->opts, servers, nr);
	if (s == NATS_OK)
		s = natsOptions_SetName(ns->opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(ns->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(ns->opts, ns->reconnect_min_ms);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectJitter(ns->opts, 100, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(ns->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(ns->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(ns->opts, 3);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(ns->opts, true,
							on_connected, ns);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(ns->opts, on_disconnected, ns);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(ns->opts, on_reconnected, ns);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(ns->opts, on_closed, ns);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(ns->opts, on_async_error, ns);
	if (s == NATS_OK && token)
		s = natsOptions_SetToken(ns->opts, token);
	if (s == NATS_OK && o->creds_file)
		s = natsOptions_SetUserCredentialsFromFiles(ns->opts,
							    o->creds_file, NULL);
	/* as for tcp: TLS unless insecure = yes, the server verified
	 * against tls_ca or the system store (docs/nats.md) */
	if (s == NATS_OK && !o->insecure)
		s = natsOptions_SetSecure(ns->opts, true);
	if (s == NATS_OK && o->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(ns->opts, o->tls_ca);
	if (s == NATS_OK && o->tls_cert)
		s = natsOptions_LoadCertificatesChain(ns->opts, o->tls_cert,
						      o->tls_key);
	free(urls);
	free(token);
	if (s != NATS_OK) {
		log_err("output '%s': NATS client options: %s (%s)", ns->name,
			nats_err(s), nats_GetLastError(NULL));
		return -EINVAL;
	}
	return 0;
}

/*
 * The largest message: a whole sub-buffer's SUBBUF frame (header, struct
 * rt_subbuf, the page's data and the lost count after it, padded) or the
 * preamble with the HEADER frame.
 */
static uint64_t max_message(const struct rt_sink *s)
{
	uint32_t sub = 0;
	uint64_t m, h;
	size_t off = 0;
	uint16_t tag;
	const uint8_t *val;
	uint32_t len;

	while (rt_record_next(s->header->data, s->header->len, &off, &tag,
			      &val, &len) == 1)
		if (tag == RT_TAG_SUBBUF_SIZE && len == 4)
			memcpy(&sub, val, 4);
	m = RT_FRAME_HDR_SIZE + RT_SUBBUF_SIZE + (uint64_t)sub + 16;
	h = RT_PREAMBLE_SIZE + RT_FRAME_HDR_SIZE + s->header->len + 64;
	return m > h ? m : h;
}

static int nats_open(struct rt_sink *s)
{
	struct nats_sink *ns = calloc(1, sizeof(*ns));
	natsStatus st;
	char htok[256];
	int r;

	if (!ns)
		return -ENOMEM;
	s->priv = ns;
	ns->s = s;
	pthread_mutex_init(&ns->wmu, NULL);
	pthread_cond_init(&ns->wcond, NULL);
	ns->name = strdup(s->out->name);
	ns->url = strdup(s->out->address);
	ns->stream = strdup(s->out->stream);
	ns->prefix = strdup(s->out->subject_prefix);
	ns->spill_dir = strdup(s->out->spill_dir);
	ns->reconnect_min_ms = s->out->reconnect_min_ms;
	ns->reconnect_max_ms = s->out->reconnect_max_ms;
	ns->create_stream = s->out->create_stream;
	ns->replicas = s->out->stream_replicas;
	ns->max_bytes = (int64_t)s->out->stream_max_bytes;
	ns->ch = calloc(s->nr_cpus, sizeof(*ns->ch));
	if (!ns->name || !ns->url || !ns->stream || !ns->prefix ||
	    !ns->spill_dir || !ns->ch)
		return -ENOMEM;
	rt_outq_header_identity(ns->s->header, ns->host, sizeof(ns->host),
				ns->boot_id, ns->capture_id);
	host_token(ns->host, htok, sizeof(htok));
	ns->tail_reserve = rt_framer_tail_reserve(s->inst);
	for (int c = 0; c < s->nr_cpus; c++) {
		struct nchan *ch = &ns->ch[c];

		ch->ns = ns;
		ch->cpu = c;
		ch->spill_fd = -1;
		ch->f = (struct rt_framer){ .s = s, .cpu = c, .emit = emit };
		snprintf(ch->subject, sizeof(ch->subject), "%s.%s.%d",
			 ns->prefix, htok, c);
		pthread_mutex_init(&ch->mu, NULL);
	}
	r = make_options(ns);
	if (r < 0)
		return r;
	ns->max_msg = max_message(s);
	for (int c = 0; c < s->nr_cpus; c++) {
		if (!s->online[c])
			continue;
		r = rt_framer_begin(&ns->ch[c].f);
		if (r < 0)
			return r;
	}
	st = natsConnection_Connect(&ns->nc, ns->opts);
	if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED) {
		log_err("output '%s': cannot connect to NATS %s: %s (%s)",
			ns->name, ns->url, nats_err(st),
			nats_GetLastError(NULL));
		return -ECONNREFUSED;
	}
	if (st == NATS_NOT_YET_CONNECTED)
		log_warn("output '%s': NATS %s is not reachable yet: the queue holds the capture while libnats retries",
			 ns->name, ns->url);
	else
		on_connected(ns->nc, ns);
	st = make_js(ns);
	if (st != NATS_OK) {
		log_err("output '%s': JetStream context: %s", ns->name,
			nats_err(st));
		return -ENOMEM;
	}
	if (s->out->insecure)
		log_warn("output '%s': plain nats:// to %s: the capture travels unencrypted (insecure = yes)",
			 ns->name, ns->url);
	r = pthread_create(&ns->thread, NULL, pub_thread, ns);
	if (r) {
		log_err("output '%s': cannot start its publisher thread: %s",
			ns->name, strerror(r));
		return -r;
	}
	ns->started = true;
	return 0;
}

/* Stop: wait (stop_timeout_ms, all CPUs together) for the last acks. */
static void finish(struct nats_sink *ns)
{
	const struct rt_output *o = ns->s->out;
	uint64_t t0 = rt_now_ms();

	atomic_store(&ns->stop_at, t0 + o->stop_timeout_ms + !o->stop_timeout_ms);
	kick(ns);
	pthread_join(ns->thread, NULL);
	ns->started = false;
	for (int c = 0; c < ns->s->nr_cpus; c++) {
		struct nchan *ch = &ns->ch[c];

		if (!ns->s->online[c])
			continue;
		pthread_mutex_lock(&ch->mu);
		if (ch->head)
			log_err("output '%s': cpu %d: %zu messages (%llu bytes, %llu events) were not acknowledged by JetStream (%s) within stop_timeout_ms (%u): they are lost",
				o->name, c, ch->nr,
				(unsigned long long)(ch->mem_bytes + ch->spill_bytes),
				(unsigned long long)ch->unacked_events, ns->url,
				o->stop_timeout_ms);
		pthread_mutex_unlock(&ch->mu);
	}
	if (rt_now_ms() - t0 > 1000)
		log_info("output '%s': waited %.1f s for JetStream's last acknowledgements",
			 o->name, (rt_now_ms() - t0) / 1000.0);
}

static void nats_free(struct rt_sink *s)
{
	struct nats_sink *ns = s->priv;

	if (!ns)
		return;
	if (ns->started)
		finish(ns);
	/* take back what is in flight: no handler runs after this */
	if (ns->js) {
		natsMsgList pending = { 0 };

		if (ns->published &&
		    js_PublishAsyncGetPendingList(&pending, ns->js) == NATS_OK)
			natsMsgList_Destroy(&pending);
	}
	if (ns->nc) {
		struct timespec ts;

		pthread_mutex_lock(&ns->wmu);
		ns->closing = true;
		pthread_mutex_unlock(&ns->wmu);
		natsConnection_Close(ns->nc);
		/* callbacks run on a libnats thread: the closed one is last */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		pthread_mutex_lock(&ns->wmu);
		while (!ns->closed &&
		       pthread_cond_timedwait(&ns->wcond, &ns->wmu, &ts) == 0)
			;
		pthread_mutex_unlock(&ns->wmu);
	}
	jsCtx_Destroy(ns->js);
	natsConnection_Destroy(ns->nc);
	natsOptions_Destroy(ns->opts);
	for (int c = 0; ns->ch && c < s->nr_cpus; c++) {
		struct nchan *ch = &ns->ch[c];

		while (ch->head) {
			struct qent *e = ch->head;

			ch->head = e->next;
			free(e->mem);
			free(e);
		}
		if (ch->spill_fd >= 0) {
			char path[PATH_MAX];

			close(ch->spill_fd);
			snprintf(path, sizeof(path), "%s/cpu%d.spill",
				 ns->spill_dir, c);
			unlink(path);
		}
		free(ch->bounce);
		pthread_mutex_destroy(&ch->mu);
	}
	pthread_mutex_destroy(&ns->wmu);
	pthread_cond_destroy(&ns->wcond);
	free(ns->ch);
	free(ns->name);
	free(ns->url);
	free(ns->stream);
	free(ns->prefix);
	free(ns->spill_dir);
	free(ns);
	s->priv = NULL;
}

static const char *nats_state(struct rt_sink *s, char *detail, size_t len)
{
	struct nats_sink *ns = s->priv;
	uint64_t queued = 0, spilled = 0;
	bool failing = false;

	for (int c = 0; c < s->nr_cpus; c++) {
		struct nchan *ch = &ns->ch[c];

		if (!s->online[c])
			continue;
		pthread_mutex_lock(&ch->mu);
		queued += ch->mem_bytes + ch->spill_bytes;
		spilled += ch->spill_bytes;
		failing |= ch->failing;
		pthread_mutex_unlock(&ch->mu);
	}
	snprintf(detail, len, "%s stream %s (%llu bytes queued, %llu spilled)",
		 ns->url, ns->stream, (unsigned long long)queued,
		 (unsigned long long)spilled);
	return !atomic_load(&ns->connected) ? "connecting" :
	       spilled			    ? "spilling" :
	       failing || !ns->stream_ok    ? "failing" :
					      "connected";
}

static void nats_status(struct rt_sink *s,
			void (*put)(void *ctx, const char *key, const char *v),
			void *ctx)
{
	struct nats_sink *ns = s->priv;
	uint64_t acked = 0, msgs = 0, queued = 0, spilled = 0;
	char v[32];
#define PUT_U64(key, x) \
	(snprintf(v, sizeof(v), "%llu", (unsigned long long)(x)), put(ctx, key, v))

	for (int c = 0; c < s->nr_cpus; c++) {
		struct nchan *ch = &ns->ch[c];

		if (!s->online[c])
			continue;
		pthread_mutex_lock(&ch->mu);
		acked += ch->acked_bytes;
		msgs += ch->acked_msgs;
		queued += ch->mem_bytes + ch->spill_bytes;
		spilled += ch->spill_bytes;
		pthread_mutex_unlock(&ch->mu);
	}
	put(ctx, "peer", ns->url);
	put(ctx, "stream", ns->stream);
	PUT_U64("acked_bytes", acked);
	PUT_U64("acked_messages", msgs);
	PUT_U64("queued_bytes", queued);
	PUT_U64("spilled_bytes", spilled);
	PUT_U64("reconnects", atomic_load(&ns->reconnects));
#undef PUT_U64
}

const struct rt_sink_ops rt_sink_nats_ops = {
	.type = "nats",
	.open = nats_open,
	.write_subbuf = nats_write,
	.close_cpu = nats_close_cpu,
	.free = nats_free,
	.restart = nats_restart,
	.state = nats_state,
	.status = nats_status,
	.can_splice = false,
};
