// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * type = tcp, type = unix: the capture streamed to `ringtap collect`, as
 * docs/stream-protocol.md specifies.
 *
 * One connection (a channel) per traced CPU carries exactly the bytes a file
 * output would write for that CPU: files one after another, each from its
 * preamble to its END frame, rotated by max_file_size: framer.c makes them,
 * for both.
 *
 * The reader thread only appends frames to its channel's queue (one copy
 * out of the mapped page) and never waits on the network.  The queue holds
 * every byte until the collector acknowledges it: in memory up to
 * queue_size, then in a spill file up to spill_size; beyond that whole
 * sub-buffers are dropped, their events counted, and a LOST frame takes
 * their place as soon as there is room again.  Metadata frames (LOST,
 * cmdlines, END, preamble and HEADER) are always queued, so the queue may
 * exceed its bounds by one rotation's worth of metadata.
 *
 * One sender thread per output runs an epoll loop over its channels: it
 * connects, says HELLO, sends DATA from the WELCOME's resume offset with
 * plain send() (splicing mapped pages corrupted data here), frees what the
 * collector acknowledges, and reconnects with exponential backoff and
 * jitter.
 *
 * zerocopy = yes (plain tcp) sends DATA bodies from the queue's chunks with
 * MSG_ZEROCOPY: the kernel then reads the chunk's pages until it reports
 * the send complete on the socket's error queue, so a chunk is freed or
 * reused only once both the collector's ACK and the kernel's completions
 * cover it (zc_safe).  Headers (a reused buffer) and spilled bytes read
 * back into the bounce buffer are sent the ordinary way.
 *
 * type = tcp without insecure = yes runs TLS (OpenSSL, non-blocking) on
 * each connection: SSL_connect after connect(), then the same messages
 * through SSL_write/SSL_read, with SSL's wants mapped onto the epoll
 * interest.  The handshake counts against the HELLO deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <linux/errqueue.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ringtap/clock.h"
#include "ringtap/log.h"
#include "ringtap/tls.h"
#include "ringtap/transport.h"
#include "ringtapd.h"

#define CHUNK_SIZE (1u << 20)	 /* queue allocation unit */
#define DATA_MAX (1u << 20)	 /* channel bytes per DATA message */
#define HANDSHAKE_MS 10000	 /* connect + WELCOME */
#define KEEPALIVE_MS 20000	 /* empty DATA when idle (collector: 60 s) */
#define TOKEN_MAX 4096
/* The reader wakes the sender once this much is queued; smaller amounts
 * wait up to LAZY_MS.  One wake-up per sub-buffer cost more than the send. */
#define KICK_BYTES (256u << 10)
#define LAZY_MS 20
#define BOUND_MAX (1u << 20) /* frame boundaries recorded per channel */
#define RX_SIZE (RT_MSG_HDR_SIZE + RT_MSG_MAX_PAYLOAD)

enum ch_state {
	CH_BACKOFF,	/* waiting to try again */
	CH_CONNECTING,	/* connect() in progress */
	CH_HELLO,	/* HELLO sent, waiting for WELCOME */
	CH_CONNECTED,
	CH_DONE,	/* BYE DONE sent: everything acknowledged */
	CH_TLS,		/* connected, TLS handshake in progress */
};

struct chunk {
	struct chunk *next;
	uint64_t off;	    /* channel offset of its first byte */
	uint32_t len;	    /* bytes filled */
	uint8_t *mem;	    /* NULL: in the spill file at spill_off */
	uint64_t spill_off;
};

/* A SUBBUF frame not yet acknowledged, for exact counts at stop. */
struct mark {
	uint64_t end;
	uint64_t events;
};

struct bound {
	uint64_t off;
	uint32_t crc;
};

/* A MSG_ZEROCOPY send the kernel has not reported complete yet. */
struct zc_send {
	uint64_t start; /* channel offset of its first byte */
	bool done;	/* reported, but an earlier one is not */
};

struct sock_sink;

struct channel {
	struct sock_sink *ss;
	int cpu;

	/* The queue: appended by the reader thread, sent and freed by the
	 * sender thread, under mu. */
	pthread_mutex_t mu;
	struct chunk *head, *tail, *spare;
	int nr_spare, nr_spill_chunks;
	uint64_t end;	/* channel offset after the last byte queued */
	uint64_t acked; /* the collector holds every byte before it */
	uint64_t mem_bytes, spill_bytes; /* queued, not acknowledged */
	int spill_fd;
	bool spill_failed;
	uint64_t spill_wr;
	struct mark *marks;
	size_t mark_first, mark_nr, mark_cap;
	uint64_t unacked_events;
	bool finished; /* END SHUTDOWN queued */
	uint64_t unkicked; /* queued since the sender was last woken */
	/* CRC32C of the channel's bytes [0, off) at frame boundaries, so that
	 * a DATA message's checksum comes from two of them instead of a
	 * second pass over its bytes (see data_crc()) */
	struct bound *bounds;
	size_t bound_first, bound_nr, bound_cap;
	uint32_t stream_crc; /* of [0, end) */

	/* Framing (framer.c): the CPU's reader thread only (the main thread
	 * while the readers are paused). */
	struct rt_framer f;
	bool dropping; /* log the queue being full once per episode */

	/* The sender thread only. */
	int fd;
	SSL *ssl; /* TLS outputs, from connect() on */
	_Atomic int state;
	atomic_uint_fast64_t reconnects;
	uint64_t sent;	    /* channel offset sent (or in flight) up to */
	uint64_t retry_at;  /* CH_BACKOFF: next try, ms */
	uint64_t deadline;  /* CH_CONNECTING, CH_HELLO: give up, ms */
	uint64_t last_send; /* ms */
	unsigned int attempt;
	bool failing;	    /* log a failure once per episode */
	bool want_out;	    /* EPOLLOUT registered */
	/* the message in flight: hdr, then body */
	uint8_t hdr[RT_MSG_HDR_SIZE + 8];
	size_t hdr_len;
	const uint8_t *body, *body2; /* body2: the next chunk's part */
	size_t body_len, body2_len, pos;
	bool in_flight;
	uint16_t msg_type;
	uint64_t msg_end; /* DATA: channel offset after it */
	uint8_t *bounce;  /* spilled bytes read back */
	struct rt_buf hello;
	uint8_t *rx;
	size_t rx_len;
	/* MSG_ZEROCOPY: this connection's sends in flight, oldest first,
	 * numbered by the kernel from 0 per socket */
	bool zc;      /* this connection sends bodies with MSG_ZEROCOPY */
	bool body_zc; /* the message's bodies are queue chunks */
	struct zc_send *zcq;
	size_t zc_first, zc_nr, zc_cap;
	uint32_t zc_seq_first; /* the kernel's number of zcq[zc_first] */
	/* Chunks ending at or before this may be freed or reused as far as
	 * the kernel is concerned: the first send in flight's offset, or
	 * UINT64_MAX.  Read by free_acked() under mu, on this thread. */
	uint64_t zc_safe;
	atomic_uint_fast64_t zc_sends, zc_zero, zc_copied;
};

struct sock_sink {
	struct rt_sink *s;
	struct channel *ch; /* nr_cpus, online ones used */
	int ep, kick_fd;
	atomic_bool kicked;
	/* queued, not acknowledged, over all channels: the bounds are per
	 * output */
	atomic_uint_fast64_t mem_total, spill_total;
	atomic_uint_fast64_t stop_at; /* 0: running; else stop by then (ms) */
	pthread_t thread;
	bool started;
	uint64_t tail_reserve;
	/* Acknowledged chunks kept for reuse per channel: a fresh chunk
	 * costs a page fault per page, which was a third of the send path's
	 * CPU under a flood.  queue_size's share of each channel. */
	int max_spare;
	/* copies: a reload replaces s->out while this thread runs */
	char *name;
	char *address;
	unsigned int reconnect_min_ms, reconnect_max_ms;
	enum rt_output_type type;
	char *spill_dir;
	char host[256], boot_id[64], capture_id[64];
	uint8_t token[TOKEN_MAX];
	size_t token_len;
	bool zerocopy;	/* zerocopy = yes */
	SSL_CTX *tls;	/* NULL: plain (unix, or tcp with insecure = yes) */
	char *tls_name; /* the name the collector's certificate must carry */
	char tls_err[256]; /* the sender thread's last TLS failure */
};

static const uint8_t zeros[8];

/*
 * CRC32C algebra (as zlib's crc32_combine): with C(X) the CRC32C of X,
 * C(A || B) = x^(8|B|) * C(A) + C(B) in GF(2)[x] mod the polynomial, so the
 * CRC of a range follows from the CRCs of two prefixes without reading it.
 */
#define CRC32C_POLY 0x82f63b78u
static uint32_t x2n_table[32];

static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if (!(a & (m - 1)))
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

static void crc_algebra_init(void)
{
	uint32_t p = 1u << 30; /* x^1 */

	x2n_table[0] = p;
	for (int n = 1; n < 32; n++)
		x2n_table[n] = p = multmodp(p, p);
}

/* x^(8 n) mod the polynomial */
static uint32_t x8n(uint64_t n)
{
	uint32_t p = 1u << 31; /* x^0 */
	unsigned int k = 3;

	for (; n; n >>= 1, k++)
		if (n & 1)
			p = multmodp(x2n_table[k & 31], p);
	return p;
}

/* C(A || B) from C(A), C(B) and |B| */
static uint32_t crc_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	return multmodp(x8n(len_b), crc_a) ^ crc_b;
}

static const char *out_name(const struct sock_sink *ss)
{
	return ss->name;
}

/* ---- the queue ---- */

static void kick(struct sock_sink *ss)
{
	uint64_t one = 1;

	if (!atomic_exchange(&ss->kicked, true) &&
	    write(ss->kick_fd, &one, sizeof(one)) < 0)
		atomic_store(&ss->kicked, false);
}

static bool mem_fits(const struct channel *ch, size_t total)
{
	return rt_outq_mem_fits(ch->ss->s->out,
				atomic_load(&ch->ss->mem_total), total);
}

static bool spill_fits(const struct channel *ch, size_t total)
{
	return rt_outq_spill_fits(ch->ss->s->out, ch->spill_failed,
				  atomic_load(&ch->ss->spill_total), total);
}

static bool fits(const struct channel *ch, size_t total)
{
	return mem_fits(ch, total) || spill_fits(ch, total);
}

static struct chunk *new_chunk(struct channel *ch, bool spill)
{
	struct chunk *c;

	if (spill && ch->spill_fd < 0 &&
	    rt_outq_open_spill(out_name(ch->ss), ch->ss->spill_dir, ch->cpu,
			       &ch->spill_fd, &ch->spill_failed) < 0)
		spill = false;
	if (!spill && ch->spare) {
		c = ch->spare;
		ch->spare = c->next;
		ch->nr_spare--;
	} else {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		if (!spill && !(c->mem = malloc(CHUNK_SIZE))) {
			free(c);
			return NULL;
		}
	}
	c->next = NULL;
	c->off = ch->end;
	c->len = 0;
	if (spill) {
		c->spill_off = ch->spill_wr;
		ch->spill_wr += CHUNK_SIZE;
		ch->nr_spill_chunks++;
	}
	if (ch->tail)
		ch->tail->next = c;
	else
		ch->head = c;
	ch->tail = c;
	return c;
}

/* Copy @len bytes to the tail of the queue, in memory or spilled. */
static int put_bytes(struct channel *ch, const uint8_t *p, size_t len,
		     bool spill)
{
	while (len) {
		struct chunk *c = ch->tail;
		size_t n;

		if (!c || c->len == CHUNK_SIZE || !c->mem != spill) {
			c = new_chunk(ch, spill && !ch->spill_failed);
			if (!c)
				return -ENOMEM;
			spill = !c->mem;
		}
		n = CHUNK_SIZE - c->len < len ? CHUNK_SIZE - c->len : len;
		if (c->mem) {
			memcpy(c->mem + c->len, p, n);
			ch->mem_bytes += n;
			atomic_fetch_add(&ch->ss->mem_total, n);
		} else {
			ssize_t w = pwrite(ch->spill_fd, p, n,
					   c->spill_off + c->len);

			if (w < 0 || (size_t)w != n) {
				/* The bytes go to memory instead: nothing is
				 * torn, the bound is overshot this once. */
				log_err("output '%s': cpu %d: spill file write failed (%s); spilling stops",
					out_name(ch->ss), ch->cpu,
					w < 0 ? strerror(errno) : "short write");
				ch->spill_failed = true;
				spill = false;
				continue;
			}
			ch->spill_bytes += n;
			atomic_fetch_add(&ch->ss->spill_total, n);
		}
		c->len += n;
		ch->end += n;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Make room for one more entry in a ring of @size-byte entries (@first,
 * @nr, @cap), doubling it and moving the entries to its start: 0 or
 * -ENOMEM.  The marks and the frame boundaries are both such rings.
 */
static int ring_room(void **ring, size_t size, size_t *first, size_t nr,
		     size_t *cap)
{
	size_t ncap;
	uint8_t *n;

	if (nr < *cap)
		return 0;
	ncap = *cap ? 2 * *cap : 256;
	n = malloc(ncap * size);
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < nr; i++)
		memcpy(n + i * size, (uint8_t *)*ring + (*first + i) % *cap * size,
		       size);
	free(*ring);
	*ring = n;
	*cap = ncap;
	*first = 0;
	return 0;
}

static int push_mark(struct channel *ch, uint64_t events)
{
	if (ring_room((void **)&ch->marks, sizeof(*ch->marks), &ch->mark_first,
		      ch->mark_nr, &ch->mark_cap) < 0)
		return -ENOMEM;
	ch->marks[(ch->mark_first + ch->mark_nr++) % ch->mark_cap] =
		(struct mark){ ch->end, events };
	ch->unacked_events += events;
	return 0;
}

static int push_bound(struct channel *ch)
{
	/* only an optimisation: past this many (a queue of tiny frames),
	 * messages are checksummed the slow way */
	if (ch->bound_nr >= BOUND_MAX)
		return 0;
	if (ring_room((void **)&ch->bounds, sizeof(*ch->bounds),
		      &ch->bound_first, ch->bound_nr, &ch->bound_cap) < 0)
		return -ENOMEM;
	ch->bounds[(ch->bound_first + ch->bound_nr++) % ch->bound_cap] =
		(struct bound){ ch->end, ch->stream_crc };
	return 0;
}

/* Queue whole frames, whatever the bounds (sock_write() checked them for
 * sub-buffers; metadata frames always go in). */
static int q_append(struct channel *ch, const struct iovec *iov, int iovcnt,
		    size_t total, uint64_t events, uint32_t crc)
{
	bool spill, wake;
	int r = 0;

	pthread_mutex_lock(&ch->mu);
	spill = !mem_fits(ch, total) && spill_fits(ch, total);
	for (int i = 0; i < iovcnt && !r; i++)
		r = put_bytes(ch, iov[i].iov_base, iov[i].iov_len, spill);
	if (!r && events)
		r = push_mark(ch, events);
	if (!r) {
		ch->stream_crc = crc_combine(ch->stream_crc, crc, total);
		r = push_bound(ch);
	}
	ch->unkicked += total;
	wake = ch->unkicked >= KICK_BYTES;
	if (wake)
		ch->unkicked = 0;
	pthread_mutex_unlock(&ch->mu);
	if (r < 0)
		log_err("output '%s': cpu %d: out of memory queueing %zu bytes: the channel is broken",
			out_name(ch->ss), ch->cpu, total);
	if (wake)
		kick(ch->ss);
	return r;
}

/* The collector holds everything before @upto: free it.  Under mu. */
static void free_acked(struct channel *ch, uint64_t upto)
{
	while (ch->bound_nr > 1 &&
	       ch->bounds[(ch->bound_first + 1) % ch->bound_cap].off <= upto) {
		ch->bound_first = (ch->bound_first + 1) % ch->bound_cap;
		ch->bound_nr--;
	}
	while (ch->mark_nr && ch->marks[ch->mark_first].end <= upto) {
		ch->unacked_events -= ch->marks[ch->mark_first].events;
		ch->mark_first = (ch->mark_first + 1) % ch->mark_cap;
		ch->mark_nr--;
	}
	for (struct chunk *c = ch->head; c; c = ch->head) {
		uint64_t c_end = c->off + c->len;
		uint64_t to = upto < c_end ? upto : c_end;

		if (to > ch->acked) {
			if (c->mem) {
				ch->mem_bytes -= to - ch->acked;
				atomic_fetch_sub(&ch->ss->mem_total, to - ch->acked);
			} else {
				ch->spill_bytes -= to - ch->acked;
				atomic_fetch_sub(&ch->ss->spill_total, to - ch->acked);
			}
			ch->acked = to;
		}
		/* partly acknowledged, or the tail the reader still fills, or
		 * the kernel may still read it (MSG_ZEROCOPY) */
		if (to < c_end || (c == ch->tail && c->len < CHUNK_SIZE) ||
		    c_end > ch->zc_safe)
			break;
		/* the whole chunk is acknowledged */
		ch->head = c->next;
		if (ch->tail == c)
			ch->tail = NULL;
		if (c->mem && ch->nr_spare < ch->ss->max_spare) {
			c->next = ch->spare;
			ch->spare = c;
			ch->nr_spare++;
			continue;
		}
		if (!c->mem) {
			ch->nr_spill_chunks--;
			fallocate(ch->spill_fd,
				  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  c->spill_off, CHUNK_SIZE);
			if (!ch->nr_spill_chunks &&
			    ftruncate(ch->spill_fd, 0) == 0)
				ch->spill_wr = 0;
		}
		free(c->mem);
		free(c);
	}
}

/* ---- framing: what a file output would write, into the queue ---- */

/* The framer's emit: queue the pieces, with their CRC32C for DATA. */
static int emit(struct rt_framer *f, struct iovec *iov, int iovcnt,
		size_t total, const struct rt_frame_hdr *hdr, uint64_t events)
{
	struct channel *ch = (struct channel *)((char *)f -
						offsetof(struct channel, f));
	uint32_t crc = 0;

	if (hdr) {
		/* the payload's CRC is in the header already: no second pass */
		size_t len = hdr->len, pad = rt_pad8(len) - len;

		crc = crc_combine(rt_crc32c(0, hdr, sizeof(*hdr)),
				  hdr->payload_crc, len);
		crc = crc_combine(crc, rt_crc32c(0, zeros, pad), pad);
	} else {
		for (int i = 0; i < iovcnt; i++)
			crc = crc_combine(crc, rt_crc32c(0, iov[i].iov_base,
							 iov[i].iov_len),
					  iov[i].iov_len);
	}
	return q_append(ch, iov, iovcnt, total, events, crc);
}

static void count_lost(struct rt_sink *s, struct channel *ch,
		       const struct rt_subbuf_ref *ref)
{
	rt_outq_count_lost(&ch->f, ref, s->out, ch->cpu, &ch->dropping,
			   "collector", ((struct sock_sink *)s->priv)->address);
}

static int sock_write(struct rt_sink *s, int cpu,
		      const struct rt_subbuf_ref *ref)
{
	struct sock_sink *ss = s->priv;
	struct channel *ch = &ss->ch[cpu];
	struct rt_subbuf sb;
	uint64_t need;
	bool rot, ok;
	int r = rt_outq_begin(&ch->f, ref);

	if (!r) {
		need = rt_outq_prepare(&ch->f, ref, &sb, ss->tail_reserve, &rot);
		pthread_mutex_lock(&ch->mu);
		ok = fits(ch, need);
		pthread_mutex_unlock(&ch->mu);
		r = ok ? rt_outq_subbuf(&ch->f, ref, &sb, rot, s->out->name,
					ch->cpu, &ch->dropping) :
			 -ENOBUFS;
	}
	if (r < 0)
		count_lost(s, ch, ref);
	return r;
}

static int sock_close_cpu(struct rt_sink *s, int cpu,
			  const struct rt_cpu_stats *st)
{
	struct sock_sink *ss = s->priv;
	struct channel *ch = &ss->ch[cpu];
	int r;

	if (!ch->f.open && rt_framer_begin(&ch->f) < 0)
		return -ENOMEM;
	r = rt_outq_end(&ch->f, st, s->out->name, cpu, &ch->dropping);
	pthread_mutex_lock(&ch->mu);
	ch->finished = true;
	pthread_mutex_unlock(&ch->mu);
	kick(ss);
	/* free() waits for the collector's last ACKs, all CPUs at once */
	return r;
}

/* Reload: every CPU goes on in a new file with the new HEADER (which
 * keeps the capture's CAPTURE_ID, so the collector's channel goes on). */
static int sock_restart(struct rt_sink *s)
{
	struct sock_sink *ss = s->priv;

	for (int c = 0; c < s->nr_cpus; c++)
		if (s->online[c] && ss->ch[c].f.open)
			rt_outq_rotate(&ss->ch[c].f);
	return 0;
}

/* ---- the sender thread ---- */

static void set_out(struct channel *ch, bool on)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (on ? EPOLLOUT : 0),
		.data.ptr = ch,
	};

	if (ch->want_out == on || ch->fd < 0)
		return;
	epoll_ctl(ch->ss->ep, EPOLL_CTL_MOD, ch->fd, &ev);
	ch->want_out = on;
}

static void disconnect(struct channel *ch, const char *why)
{
	const struct sock_sink *ss = ch->ss;
	uint64_t delay = rt_outq_backoff_ms(ss->reconnect_min_ms,
					    ss->reconnect_max_ms, ch->attempt);

	if (!ch->failing || ch->state == CH_CONNECTED)
		log_warn("output '%s': cpu %d: %s %s: %s; retrying in %llu ms",
			 out_name(ch->ss), ch->cpu,
			 ch->state == CH_CONNECTED ? "connection to" :
						     "cannot connect to",
			 ch->ss->address, why, (unsigned long long)delay);
	ch->failing = true;
	if (ch->ssl) {
		SSL_free(ch->ssl);
		ch->ssl = NULL;
	}
	if (ch->zc_nr && ch->fd >= 0) {
		/* the kernel may still read chunks for this socket: a reset
		 * drops its send queue now, so they are no longer in use
		 * (a graceful close would keep sending them while we reuse) */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(ch->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (ch->fd >= 0)
		close(ch->fd);
	if (ch->zc_nr || ch->zc_safe != UINT64_MAX) {
		ch->zc_nr = 0;
		ch->zc_safe = UINT64_MAX;
		pthread_mutex_lock(&ch->mu);
		free_acked(ch, ch->acked);
		pthread_mutex_unlock(&ch->mu);
	}
	ch->zc = false;
	ch->fd = -1;
	ch->want_out = false;
	ch->in_flight = false;
	ch->rx_len = 0;
	ch->attempt++;
	ch->retry_at = rt_now_ms() + delay;
	ch->state = CH_BACKOFF;
}

static int resolve(struct sock_sink *ss, struct sockaddr_storage *sa,
		   socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char host[256];
	const char *a = ss->address, *colon;
	size_t hl;
	int r;

	if (ss->type == RT_OUTPUT_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)sa;

		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", a);
		*len = sizeof(*un);
		return 0;
	}
	colon = strrchr(a, ':'); /* checked by the config parser */
	if (a[0] == '[')
		a++, hl = colon - 1 - a;
	else
		hl = colon - a;
	if (hl >= sizeof(host))
		return -ENAMETOOLONG;
	memcpy(host, a, hl);
	host[hl] = '\0';
	r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void start_msg2(struct channel *ch, uint16_t type, const void *fixed,
		       size_t fixed_len, const uint8_t *body, size_t body_len,
		       const uint8_t *body2, size_t body2_len, uint32_t crc)
{
	struct rt_msg_hdr h = {
		.magic = RT_MSG_MAGIC,
		.type = type,
		.len = fixed_len + body_len + body2_len,
		.crc = crc,
	};

	memcpy(ch->hdr, &h, sizeof(h));
	if (fixed_len)
		memcpy(ch->hdr + sizeof(h), fixed, fixed_len);
	ch->msg_type = type;
	ch->hdr_len = sizeof(h) + fixed_len;
	ch->body = body;
	ch->body_len = body_len;
	ch->body2 = body2;
	ch->body2_len = body2_len;
	ch->pos = 0;
	ch->in_flight = true;
	ch->body_zc = false;
}

static void start_msg(struct channel *ch, uint16_t type, const void *fixed,
		      size_t fixed_len, const uint8_t *body, size_t body_len)
{
	start_msg2(ch, type, fixed, fixed_len, body, body_len, NULL, 0,
		   rt_crc32c(rt_crc32c(0, fixed, fixed_len), body, body_len));
}

/* The channel's CRC at @off if @off is a frame boundary.  Under mu. */
static bool bound_at(const struct channel *ch, uint64_t off, uint32_t *crc)
{
	for (size_t i = 0; i < ch->bound_nr; i++) {
		const struct bound *b =
			&ch->bounds[(ch->bound_first + i) % ch->bound_cap];

		if (b->off == off)
			*crc = b->crc;
		if (b->off >= off)
			return b->off == off;
	}
	return false;
}

/* The last frame boundary in (after, upto], if any.  Under mu. */
static bool bound_before(const struct channel *ch, uint64_t after,
			 uint64_t upto, struct bound *ret)
{
	bool found = false;

	for (size_t i = 0; i < ch->bound_nr; i++) {
		const struct bound *b =
			&ch->bounds[(ch->bound_first + i) % ch->bound_cap];

		if (b->off > upto)
			break;
		if (b->off > after) {
			*ret = *b;
			found = true;
		}
	}
	return found;
}

static void try_connect(struct channel *ch)
{
	struct sock_sink *ss = ch->ss;
	struct sockaddr_storage sa;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = ch };
	socklen_t len = 0;
	int r, one = 1;

	if (ch->attempt)
		atomic_fetch_add(&ch->reconnects, 1);
	ch->state = CH_CONNECTING;
	ch->deadline = rt_now_ms() + HANDSHAKE_MS;
	r = resolve(ss, &sa, &len);
	if (r < 0) {
		disconnect(ch, r == -EHOSTUNREACH ? "cannot resolve the host" :
						    strerror(-r));
		return;
	}
	ch->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (ch->fd < 0) {
		disconnect(ch, strerror(errno));
		return;
	}
	if (sa.ss_family != AF_UNIX) {
		/* A collector host that vanishes without a reset (power loss,
		 * partition) is noticed in about 30 s rather than the
		 * kernel's 15 minutes of retransmissions, so that the channel
		 * reconnects; a slow but live collector keeps its window. */
		int user_timeout = 30000, idle = 30, intvl = 10, cnt = 3;

		setsockopt(ch->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(ch->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
			   sizeof(user_timeout));
		setsockopt(ch->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(ch->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(ch->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
			   sizeof(intvl));
		setsockopt(ch->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		if (ss->zerocopy) {
			ch->zc = setsockopt(ch->fd, SOL_SOCKET, SO_ZEROCOPY, &one,
					    sizeof(one)) == 0;
			if (!ch->zc && !ch->failing)
				log_warn("output '%s': cpu %d: SO_ZEROCOPY refused (%m): sending with plain send()",
					 out_name(ss), ch->cpu);
			ch->zc_first = ch->zc_nr = 0;
			ch->zc_seq_first = 0;
		}
	}
	if (connect(ch->fd, (struct sockaddr *)&sa, len) < 0 &&
	    errno != EINPROGRESS) {
		disconnect(ch, strerror(errno));
		return;
	}
	epoll_ctl(ss->ep, EPOLL_CTL_ADD, ch->fd, &ev);
	ch->want_out = true;
}

/* The TLS handshake, again whenever the socket is ready for it. */
static void tls_handshake(struct channel *ch)
{
	char why[300];
	int r;

	ERR_clear_error();
	r = SSL_connect(ch->ssl);
	if (r == 1) {
		log_debug("output '%s': cpu %d: TLS to %s: %s", out_name(ch->ss),
			  ch->cpu, ch->ss->address,
			  rt_tls_describe(ch->ssl, why, sizeof(why)));
		start_msg(ch, RT_MSG_HELLO, NULL, 0, ch->hello.data,
			  ch->hello.len);
		ch->state = CH_HELLO;
		return;
	}
	switch (SSL_get_error(ch->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		set_out(ch, false);
		return;
	case SSL_ERROR_WANT_WRITE:
		set_out(ch, true);
		return;
	}
	snprintf(why, sizeof(why), "TLS handshake failed: %s",
		 rt_tls_why(ch->ssl, r, ch->ss->tls_err, sizeof(ch->ss->tls_err)));
	disconnect(ch, why);
}

/* connect() finished: TLS handshake, or say HELLO. */
static void connected(struct channel *ch)
{
	int err = 0;
	socklen_t l = sizeof(err);

	getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err) {
		disconnect(ch, strerror(err));
		return;
	}
	if (ch->ss->tls) {
		ch->ssl = SSL_new(ch->ss->tls);
		if (!ch->ssl || SSL_set_fd(ch->ssl, ch->fd) != 1 ||
		    rt_tls_set_peer_name(ch->ssl, ch->ss->tls_name) < 0) {
			disconnect(ch, "cannot set up TLS (out of memory?)");
			return;
		}
		ch->state = CH_TLS;
		tls_handshake(ch);
		return;
	}
	start_msg(ch, RT_MSG_HELLO, NULL, 0, ch->hello.data, ch->hello.len);
	ch->state = CH_HELLO;
}

/*
 * SSL_write of what sendmsg() would send first: > 0 bytes written, or -1
 * with errno EAGAIN (wait for EPOLLOUT), EINPROGRESS (wait for EPOLLIN)
 * or EPROTO (the reason in ss->tls_err).
 */
static ssize_t tls_write(struct channel *ch, const struct iovec *iov)
{
	int r, e;

	ERR_clear_error();
	r = SSL_write(ch->ssl, iov->iov_base,
		      iov->iov_len > INT_MAX ? INT_MAX : (int)iov->iov_len);
	if (r > 0)
		return r;
	e = SSL_get_error(ch->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
	} else if (e == SSL_ERROR_WANT_READ) {
		errno = EINPROGRESS;
	} else {
		rt_tls_why(ch->ssl, r, ch->ss->tls_err, sizeof(ch->ss->tls_err));
		errno = EPROTO;
	}
	return -1;
}

/* As recv(): bytes, 0 at the end, -1 with errno EAGAIN or EPROTO. */
static ssize_t tls_read(struct channel *ch, void *buf, size_t len)
{
	int r, e;

	ERR_clear_error();
	r = SSL_read(ch->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (r > 0)
		return r;
	e = SSL_get_error(ch->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (e == SSL_ERROR_WANT_WRITE)
			set_out(ch, true);
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	rt_tls_why(ch->ssl, r, ch->ss->tls_err, sizeof(ch->ss->tls_err));
	errno = EPROTO;
	return -1;
}

/* Best effort, the socket closes right after. */
static void send_now(struct channel *ch, const void *p, size_t len)
{
	if (!len)
		return;
	if (ch->ssl) {
		ERR_clear_error();
		SSL_write(ch->ssl, p, (int)len);
		ERR_clear_error();
	} else {
		send(ch->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

static void send_bye(struct channel *ch, uint32_t reason)
{
	static const char done[] = "capture finished";
	static const char proto[] = "protocol error";
	struct rt_msg_bye bye = { reason };
	const char *msg = reason == RT_BYE_DONE ? done : proto;

	start_msg(ch, RT_MSG_BYE, &bye, sizeof(bye), (const uint8_t *)msg,
		  strlen(msg));
}

/* Next DATA from the queue, if there is something to send. */
static int next_data(struct channel *ch)
{
	const struct chunk *c;
	uint64_t off = ch->sent;
	const uint8_t *body;
	ssize_t got;
	size_t n;
	bool done;

	pthread_mutex_lock(&ch->mu);
	for (c = ch->head; c && c->off + c->len <= off; c = c->next)
		;
	if (!c || c->off > off) {
		/* all sent: BYE once all is acknowledged too */
		done = ch->finished && ch->acked == ch->end &&
		       off == ch->end && atomic_load(&ch->ss->stop_at);
		pthread_mutex_unlock(&ch->mu);
		if (done)
			send_bye(ch, RT_BYE_DONE);
		return done;
	}
	n = c->off + c->len - off;
	if (n > DATA_MAX)
		n = DATA_MAX;
	{
		/* From a frame boundary to the last one within DATA_MAX, in
		 * this memory chunk and the next: the CRC from theirs. */
		const struct chunk *c2 = c->next;
		uint64_t limit = c->off + c->len, e;
		uint32_t crc_a, crc_b;
		struct bound b = { 0 };

		if (c2 && c2->mem && c->len == CHUNK_SIZE)
			limit = c2->off + c2->len;
		if (limit > off + DATA_MAX)
			limit = off + DATA_MAX;
		if (c->mem && bound_at(ch, off, &crc_a) &&
		    bound_before(ch, off, limit, &b)) {
			e = b.off;
			/* C(B) = C(A || B) - x^(8|B|) C(A), then C(offset || B) */
			crc_b = b.crc ^ multmodp(x8n(e - off), crc_a);
			crc_b = crc_combine(rt_crc32c(0, &off, sizeof(off)), crc_b,
					    e - off);
			n = e < c->off + c->len ? e - off : c->off + c->len - off;
			body = c->mem + (off - c->off);
			pthread_mutex_unlock(&ch->mu);
			start_msg2(ch, RT_MSG_DATA, &off, sizeof(off), body, n,
				   e - off > n ? c2->mem : NULL, e - off - n,
				   crc_b);
			ch->msg_end = e;
			ch->body_zc = true;
			return 1;
		}
	}
	if (c->mem) {
		/* stays put: only this thread frees, after ACKs */
		body = c->mem + (off - c->off);
		pthread_mutex_unlock(&ch->mu);
	} else {
		uint64_t at = c->spill_off + (off - c->off);

		pthread_mutex_unlock(&ch->mu);
		if (!ch->bounce && !(ch->bounce = malloc(DATA_MAX)))
			return -ENOMEM;
		got = pread(ch->spill_fd, ch->bounce, n, at);
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		n = got;
		body = ch->bounce;
	}
	start_msg(ch, RT_MSG_DATA, &off, sizeof(off), body, n);
	ch->msg_end = off + n;
	ch->body_zc = body != ch->bounce;
	return 1;
}

/* A MSG_ZEROCOPY send of channel bytes from @start went out. */
static int zc_sent(struct channel *ch, uint64_t start)
{
	if (ch->zc_nr == ch->zc_cap) {
		size_t cap = ch->zc_cap ? 2 * ch->zc_cap : 256;
		struct zc_send *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < ch->zc_nr; i++)
			q[i] = ch->zcq[(ch->zc_first + i) % ch->zc_cap];
		free(ch->zcq);
		ch->zcq = q;
		ch->zc_cap = cap;
		ch->zc_first = 0;
	}
	ch->zcq[(ch->zc_first + ch->zc_nr++) % ch->zc_cap] =
		(struct zc_send){ .start = start };
	if (ch->zc_nr == 1)
		ch->zc_safe = start;
	atomic_fetch_add(&ch->zc_sends, 1);
	return 0;
}

/*
 * The kernel's completions from the error queue: sends [lo, hi] are done
 * (SO_EE_CODE_ZEROCOPY_COPIED: it copied after all).  Frees the chunks
 * that were only waiting for them.
 */
static void zc_drain(struct channel *ch)
{
	uint64_t safe = ch->zc_safe;

	for (;;) {
		char ctrl[CMSG_SPACE(sizeof(struct sock_extended_err)) + 64];
		struct msghdr m = { .msg_control = ctrl,
				    .msg_controllen = sizeof(ctrl) };
		struct cmsghdr *cm;

		if (recvmsg(ch->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			struct sock_extended_err ee;
			uint32_t lo, hi;

			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 &&
			       cm->cmsg_type == IPV6_RECVERR)))
				continue;
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY || ee.ee_errno)
				continue;
			lo = ee.ee_info;
			hi = ee.ee_data;
			atomic_fetch_add(ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED ?
						 &ch->zc_copied :
						 &ch->zc_zero,
					 (uint32_t)(hi - lo) + 1);
			/* mark [lo, hi] among those in flight (wrapping u32) */
			for (uint32_t k = lo - ch->zc_seq_first;; k++) {
				if (k < ch->zc_nr)
					ch->zcq[(ch->zc_first + k) % ch->zc_cap].done = true;
				if (k + ch->zc_seq_first == hi)
					break;
			}
		}
	}
	while (ch->zc_nr && ch->zcq[ch->zc_first].done) {
		ch->zc_first = (ch->zc_first + 1) % ch->zc_cap;
		ch->zc_nr--;
		ch->zc_seq_first++;
	}
	ch->zc_safe = ch->zc_nr ? ch->zcq[ch->zc_first].start : UINT64_MAX;
	if (ch->zc_safe != safe) {
		pthread_mutex_lock(&ch->mu);
		free_acked(ch, ch->acked);
		pthread_mutex_unlock(&ch->mu);
	}
}

/* Send what the socket takes. */
static void pump(struct channel *ch)
{
	while (ch->fd >= 0) {
		struct iovec iov[3];
		int n = 0, flags = MSG_NOSIGNAL | MSG_DONTWAIT;
		uint64_t zc_start = 0;
		ssize_t w;

		if (!ch->in_flight) {
			int r;

			if (ch->state != CH_CONNECTED)
				break;
			r = next_data(ch);
			if (r < 0) {
				disconnect(ch, strerror(-r));
				return;
			}
			if (r == 0 && rt_now_ms() - ch->last_send >= KEEPALIVE_MS) {
				/* an empty DATA: the collector closes
				 * channels silent for 60 s */
				start_msg(ch, RT_MSG_DATA, &ch->sent,
					  sizeof(ch->sent), NULL, 0);
				ch->msg_end = ch->sent;
			} else if (r == 0) {
				break;
			}
		}
		if (ch->pos < ch->hdr_len)
			iov[n++] = (struct iovec){ ch->hdr + ch->pos,
						   ch->hdr_len - ch->pos };
		if (ch->pos < ch->hdr_len + ch->body_len) {
			size_t bpos = ch->pos > ch->hdr_len ? ch->pos - ch->hdr_len : 0;

			iov[n++] = (struct iovec){ (void *)(ch->body + bpos),
						   ch->body_len - bpos };
		}
		if (ch->body2_len) {
			size_t start = ch->hdr_len + ch->body_len;
			size_t bpos = ch->pos > start ? ch->pos - start : 0;

			iov[n++] = (struct iovec){ (void *)(ch->body2 + bpos),
						   ch->body2_len - bpos };
		}
		if (ch->zc && ch->body_zc) {
			if (ch->pos < ch->hdr_len) {
				/* the header buffer is reused: copied, and
				 * held back (MSG_MORE) for the body */
				n = 1;
				flags |= MSG_MORE;
			} else {
				flags |= MSG_ZEROCOPY;
				zc_start = ch->msg_end - ch->body_len -
					   ch->body2_len + (ch->pos - ch->hdr_len);
			}
		}
		if (ch->ssl)
			w = tls_write(ch, iov);
		else
			w = sendmsg(ch->fd, &(struct msghdr){ .msg_iov = iov,
							      .msg_iovlen = n },
				    flags);
		if (w > 0 && (flags & MSG_ZEROCOPY) && zc_sent(ch, zc_start) < 0) {
			disconnect(ch, "out of memory tracking zero-copy sends");
			return;
		}
		if (w < 0 && errno == ENOBUFS && (flags & MSG_ZEROCOPY) &&
		    ch->zc_nr)
			return; /* optmem full: the completions (EPOLLERR) come */
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				set_out(ch, true);
				return;
			}
			if (errno == EINPROGRESS) {
				/* TLS wants to read first (a key update) */
				set_out(ch, false);
				return;
			}
			disconnect(ch, errno == EPROTO && ch->ssl ?
					       ch->ss->tls_err :
					       strerror(errno));
			return;
		}
		ch->pos += w;
		ch->last_send = rt_now_ms();
		if (ch->pos < ch->hdr_len + ch->body_len + ch->body2_len)
			continue;
		ch->in_flight = false;
		if (ch->msg_type == RT_MSG_BYE) {
			if (ch->ssl) {
				ERR_clear_error();
				SSL_shutdown(ch->ssl); /* close_notify, no wait */
				SSL_free(ch->ssl);
				ch->ssl = NULL;
			}
			close(ch->fd);
			ch->fd = -1;
			ch->want_out = false;
			ch->state = CH_DONE;
			return;
		}
		if (ch->msg_type == RT_MSG_DATA)
			ch->sent = ch->msg_end;
	}
	set_out(ch, false);
}

static void protocol_error(struct channel *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void protocol_error(struct channel *ch, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_err("output '%s': cpu %d: collector %s broke the protocol: %s",
		out_name(ch->ss), ch->cpu, ch->ss->address, why);
	if (!ch->in_flight && ch->fd >= 0) {
		/* best effort: the socket closes right after */
		send_bye(ch, RT_BYE_PROTOCOL);
		send_now(ch, ch->hdr, ch->hdr_len);
		send_now(ch, ch->body, ch->body_len);
	}
	ch->failing = true;
	disconnect(ch, "protocol error");
}

static void on_welcome(struct channel *ch, const uint8_t *p, uint32_t len)
{
	struct rt_msg_welcome w;
	uint64_t acked, end;

	if (ch->state != CH_HELLO || len < sizeof(w)) {
		protocol_error(ch, "unexpected or short WELCOME");
		return;
	}
	memcpy(&w, p, sizeof(w));
	if (w.status != RT_WELCOME_OK) {
		log_err("output '%s': cpu %d: collector %s refused the channel (status %u): %.*s",
			out_name(ch->ss), ch->cpu, ch->ss->address, w.status,
			(int)(len - sizeof(w)), p + sizeof(w));
		ch->failing = true;
		disconnect(ch, "refused");
		return;
	}
	pthread_mutex_lock(&ch->mu);
	acked = ch->acked;
	end = ch->end;
	if (w.resume >= acked && w.resume <= end)
		free_acked(ch, w.resume);
	pthread_mutex_unlock(&ch->mu);
	if (w.resume > end) {
		protocol_error(ch, "resume offset %llu is beyond the %llu bytes produced",
			       (unsigned long long)w.resume,
			       (unsigned long long)end);
		return;
	}
	if (w.resume < acked) {
		protocol_error(ch, "resume offset %llu is before %llu bytes it acknowledged already",
			       (unsigned long long)w.resume,
			       (unsigned long long)acked);
		return;
	}
	{
		char tls[200] = "";

		if (ch->ssl) {
			memcpy(tls, " (", 2);
			rt_tls_describe(ch->ssl, tls + 2, sizeof(tls) - 3);
			strcat(tls, ")");
		}
		log_info("output '%s': cpu %d: connected to %s%s, sending from byte %llu",
			 out_name(ch->ss), ch->cpu, ch->ss->address, tls,
			 (unsigned long long)w.resume);
	}
	ch->sent = w.resume;
	ch->state = CH_CONNECTED;
	ch->attempt = 0;
	ch->failing = false;
}

static void on_ack(struct channel *ch, const uint8_t *p, uint32_t len)
{
	uint64_t a;

	if (ch->state != CH_CONNECTED || len != sizeof(a)) {
		protocol_error(ch, "unexpected ACK");
		return;
	}
	memcpy(&a, p, sizeof(a));
	if (a > ch->sent && !(ch->in_flight && a <= ch->msg_end)) {
		protocol_error(ch, "ACK of byte %llu, only %llu sent",
			       (unsigned long long)a,
			       (unsigned long long)ch->sent);
		return;
	}
	pthread_mutex_lock(&ch->mu);
	if (a > ch->acked)
		free_acked(ch, a);
	pthread_mutex_unlock(&ch->mu);
}

static void on_bye(struct channel *ch, const uint8_t *p, uint32_t len)
{
	uint32_t reason = 0;

	if (len >= sizeof(reason))
		memcpy(&reason, p, sizeof(reason));
	log_warn("output '%s': cpu %d: collector %s said BYE (reason %u): %.*s",
		 out_name(ch->ss), ch->cpu, ch->ss->address, reason,
		 len > 4 ? (int)(len - 4) : 0, p + 4);
	ch->failing = true;
	disconnect(ch, "the collector closed the channel");
}

static void receive(struct channel *ch)
{
	for (;;) {
		ssize_t n = ch->ssl ? tls_read(ch, ch->rx + ch->rx_len,
					       RX_SIZE - ch->rx_len) :
				      recv(ch->fd, ch->rx + ch->rx_len,
					   RX_SIZE - ch->rx_len, MSG_DONTWAIT);
		size_t at = 0;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			disconnect(ch, n == 0 ? "closed by the collector" :
				       errno == EPROTO && ch->ssl ? ch->ss->tls_err :
								    strerror(errno));
			return;
		}
		ch->rx_len += n;
		while (ch->rx_len - at >= RT_MSG_HDR_SIZE && ch->fd >= 0) {
			struct rt_msg_hdr h;
			const uint8_t *pl = ch->rx + at + RT_MSG_HDR_SIZE;

			memcpy(&h, ch->rx + at, sizeof(h));
			if (h.magic != RT_MSG_MAGIC || h.len > RT_MSG_MAX_PAYLOAD) {
				protocol_error(ch, "bad message header");
				return;
			}
			if (ch->rx_len - at - RT_MSG_HDR_SIZE < h.len)
				break;
			if (rt_crc32c(0, pl, h.len) != h.crc) {
				protocol_error(ch, "bad message checksum");
				return;
			}
			at += RT_MSG_HDR_SIZE + h.len;
			switch (h.type) {
			case RT_MSG_WELCOME:
				on_welcome(ch, pl, h.len);
				break;
			case RT_MSG_ACK:
				on_ack(ch, pl, h.len);
				break;
			case RT_MSG_BYE:
				on_bye(ch, pl, h.len);
				break;
			default:
				protocol_error(ch, "unexpected message type %u",
					       h.type);
			}
		}
		if (ch->fd < 0)
			return;
		memmove(ch->rx, ch->rx + at, ch->rx_len - at);
		ch->rx_len -= at;
	}
}

static bool all_done(struct sock_sink *ss)
{
	for (int c = 0; c < ss->s->nr_cpus; c++)
		if (ss->s->online[c] && ss->ch[c].state != CH_DONE)
			return false;
	return true;
}

static void *sender_thread(void *arg)
{
	struct sock_sink *ss = arg;
	struct epoll_event evs[16];

	for (;;) {
		uint64_t now = rt_now_ms(), stop = atomic_load(&ss->stop_at);
		int64_t timeout = 1000;
		int n;

		if (stop && (now >= stop || all_done(ss)))
			break;
		for (int c = 0; c < ss->s->nr_cpus; c++) {
			struct channel *ch = &ss->ch[c];
			int64_t t = timeout;

			if (!ss->s->online[c])
				continue;
			if (ch->state == CH_BACKOFF && now >= ch->retry_at)
				try_connect(ch);
			else if ((ch->state == CH_CONNECTING ||
				  ch->state == CH_TLS || ch->state == CH_HELLO) &&
				 now >= ch->deadline)
				disconnect(ch, ch->state == CH_TLS ?
						       "no TLS handshake within 10 s" :
						       "no answer within 10 s");
			if (ch->state == CH_BACKOFF)
				t = ch->retry_at - now;
			else if (ch->state == CH_CONNECTING ||
				 ch->state == CH_TLS || ch->state == CH_HELLO)
				t = ch->deadline - now;
			else if (ch->state == CH_CONNECTED && !ch->want_out) {
				bool pending;

				pthread_mutex_lock(&ch->mu);
				pending = ch->end > ch->sent;
				pthread_mutex_unlock(&ch->mu);
				t = pending ? LAZY_MS :
					      (int64_t)(ch->last_send + KEEPALIVE_MS - now);
			}
			if (t < timeout)
				timeout = t < 0 ? 0 : t;
		}
		if (stop && (int64_t)(stop - now) < timeout)
			timeout = stop - now;
		n = epoll_wait(ss->ep, evs, 16, (int)timeout);
		for (int i = 0; i < n; i++) {
			struct channel *ch = evs[i].data.ptr;

			if (!ch) {
				uint64_t v;

				if (read(ss->kick_fd, &v, sizeof(v)) < 0)
					continue;
				atomic_store(&ss->kicked, false);
				continue;
			}
			if (ch->fd < 0)
				continue;
			if (ch->state == CH_CONNECTING &&
			    (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				connected(ch);
				continue;
			}
			if (ch->state == CH_TLS) {
				tls_handshake(ch);
				continue;
			}
			if ((evs[i].events & EPOLLERR) && ch->zc)
				zc_drain(ch);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				receive(ch);
		}
		/* anything new in the queues, or room in the sockets */
		for (int c = 0; c < ss->s->nr_cpus; c++)
			if (ss->s->online[c] && ss->ch[c].fd >= 0 &&
			    ss->ch[c].state != CH_CONNECTING &&
			    ss->ch[c].state != CH_TLS)
				pump(&ss->ch[c]);
	}
	return NULL;
}

/* ---- set-up, status, teardown ---- */

static int read_token(struct sock_sink *ss)
{
	ssize_t n = rt_outq_read_token(out_name(ss), ss->s->out->token_file,
				       (char *)ss->token, sizeof(ss->token));

	if (n < 0)
		return n;
	if (n > 0)
		ss->token_len = n;
	return 0;
}

static int build_hello(struct sock_sink *ss, struct channel *ch)
{
	struct rt_buf *b = &ch->hello;
	int r = rt_record_add_u32(b, RT_HELLO_PROTO_VERSION, RT_PROTO_VERSION);

	if (!r)
		r = rt_record_add_str(b, RT_HELLO_HOST, ss->host);
	if (!r)
		r = rt_record_add_str(b, RT_HELLO_BOOT_ID, ss->boot_id);
	if (!r)
		r = rt_record_add_str(b, RT_HELLO_CAPTURE_ID, ss->capture_id);
	if (!r)
		r = rt_record_add_u32(b, RT_HELLO_CPU, ch->cpu);
	if (!r && ss->token_len)
		r = rt_record_add(b, RT_HELLO_TOKEN, ss->token, ss->token_len);
	if (!r)
		r = rt_record_add_str(b, RT_HELLO_OUTPUT, out_name(ss));
	return r;
}

/* The client context and the name to verify: tls_server_name, else the
 * host of address. */
static int open_tls(struct sock_sink *ss)
{
	const struct rt_output *o = ss->s->out;
	enum rt_tls_file which;
	char err[512];

	if (o->tls_server_name) {
		ss->tls_name = strdup(o->tls_server_name);
	} else {
		const char *a = ss->address, *colon = strrchr(a, ':');

		if (a[0] == '[')
			ss->tls_name = strndup(a + 1, colon - a - 2);
		else
			ss->tls_name = strndup(a, colon - a);
	}
	if (!ss->tls_name)
		return -ENOMEM;
	ss->tls = rt_tls_client_ctx(o->tls_ca, o->tls_cert, o->tls_key, err,
				    sizeof(err), &which);
	if (!ss->tls) {
		log_err("output '%s': %s: %s", out_name(ss),
			which == RT_TLS_CA ? "tls_ca" :
			which == RT_TLS_CERT ? "tls_cert" : "tls_key", err);
		return -EINVAL;
	}
	log_info("output '%s': TLS to %s, verifying the name '%s' against %s%s%s",
		 out_name(ss), ss->address, ss->tls_name,
		 o->tls_ca ? o->tls_ca : "the system's CA store",
		 o->tls_cert ? ", client certificate " : "",
		 o->tls_cert ? o->tls_cert : "");
	return 0;
}

static int sock_open(struct rt_sink *s)
{
	struct sock_sink *ss = calloc(1, sizeof(*ss));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int r;

	if (!ss)
		return -ENOMEM;
	if (!x2n_table[0])
		crc_algebra_init(); /* main thread, before any sender */
	s->priv = ss;
	ss->s = s;
	ss->ep = ss->kick_fd = -1;
	ss->name = strdup(s->out->name);
	ss->address = strdup(s->out->address);
	ss->spill_dir = strdup(s->out->spill_dir);
	ss->reconnect_min_ms = s->out->reconnect_min_ms;
	ss->reconnect_max_ms = s->out->reconnect_max_ms;
	ss->type = s->out->type;
	ss->zerocopy = s->out->zerocopy;
	ss->ch = calloc(s->nr_cpus, sizeof(*ss->ch));
	if (!ss->name || !ss->address || !ss->spill_dir || !ss->ch)
		return -ENOMEM;
	for (int c = 0; c < s->nr_cpus; c++) {
		struct channel *ch = &ss->ch[c];

		ch->ss = ss;
		ch->cpu = c;
		ch->f = (struct rt_framer){
			.s = s, .cpu = c, .emit = emit,
		};
		ch->fd = ch->spill_fd = -1;
		ch->state = CH_BACKOFF; /* retry_at 0: at once */
		ch->zc_safe = UINT64_MAX;
		pthread_mutex_init(&ch->mu, NULL);
	}
	for (int c = 0; c < s->nr_cpus; c++)
		if (push_bound(&ss->ch[c]) < 0) /* C(empty) = 0 at offset 0 */
			return -ENOMEM;
	r = read_token(ss);
	if (r < 0)
		return r;
	rt_outq_header_identity(ss->s->header, ss->host, sizeof(ss->host),
				ss->boot_id, ss->capture_id);
	ss->tail_reserve = rt_framer_tail_reserve(s->inst);
	{
		int online = 0;

		for (int c = 0; c < s->nr_cpus; c++)
			online += s->online[c];
		ss->max_spare = s->out->queue_size / CHUNK_SIZE / (online ? online : 1);
		if (ss->max_spare < 2)
			ss->max_spare = 2;
	}
	for (int c = 0; c < s->nr_cpus; c++) {
		if (!s->online[c])
			continue;
		ss->ch[c].rx = malloc(RX_SIZE);
		if (!ss->ch[c].rx || build_hello(ss, &ss->ch[c]) < 0)
			return -ENOMEM;
		r = rt_framer_begin(&ss->ch[c].f);
		if (r < 0)
			return r;
	}
	ss->ep = epoll_create1(EPOLL_CLOEXEC);
	ss->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ss->ep < 0 || ss->kick_fd < 0 ||
	    epoll_ctl(ss->ep, EPOLL_CTL_ADD, ss->kick_fd, &ev) < 0)
		return -errno;
	if (s->out->type == RT_OUTPUT_TCP && s->out->insecure)
		log_warn("output '%s': plain TCP to %s: the capture travels unencrypted and unauthenticated (insecure = yes)",
			 out_name(ss), ss->address);
	else if (s->out->type == RT_OUTPUT_TCP && (r = open_tls(ss)) < 0)
		return r;
	r = pthread_create(&ss->thread, NULL, sender_thread, ss);
	if (r) {
		log_err("output '%s': cannot start its sender thread: %s",
			out_name(ss), strerror(r));
		return -r;
	}
	ss->started = true;
	return 0;
}

/* Stop: wait (stop_timeout_ms, all CPUs together) for the last ACKs. */
static void finish(struct sock_sink *ss)
{
	const struct rt_output *o = ss->s->out;
	uint64_t t0 = rt_now_ms();

	atomic_store(&ss->stop_at, t0 + o->stop_timeout_ms + !o->stop_timeout_ms);
	kick(ss);
	pthread_join(ss->thread, NULL);
	ss->started = false;
	for (int c = 0; c < ss->s->nr_cpus; c++) {
		struct channel *ch = &ss->ch[c];

		if (!ss->s->online[c] || ch->end == ch->acked)
			continue;
		if (ch->unacked_events || ch->mark_nr)
			log_err("output '%s': cpu %d: %llu bytes (%llu events in %zu sub-buffers) were not acknowledged by %s within stop_timeout_ms (%u): they are lost",
				o->name, c,
				(unsigned long long)(ch->end - ch->acked),
				(unsigned long long)ch->unacked_events,
				ch->mark_nr, ss->address, o->stop_timeout_ms);
		else
			log_err("output '%s': cpu %d: %llu bytes (metadata, no events) were not acknowledged by %s within stop_timeout_ms (%u)",
				o->name, c,
				(unsigned long long)(ch->end - ch->acked),
				ss->address, o->stop_timeout_ms);
	}
	if (rt_now_ms() - t0 > 1000)
		log_info("output '%s': waited %.1f s for the collector's last acknowledgements",
			 o->name, (rt_now_ms() - t0) / 1000.0);
	if (ss->zerocopy) {
		uint64_t zs = 0, zz = 0, zcp = 0;

		for (int c = 0; c < ss->s->nr_cpus; c++) {
			zs += atomic_load(&ss->ch[c].zc_sends);
			zz += atomic_load(&ss->ch[c].zc_zero);
			zcp += atomic_load(&ss->ch[c].zc_copied);
		}
		log_info("output '%s': zerocopy: %llu sends, %llu completed without a copy, %llu copied by the kernel",
			 o->name, (unsigned long long)zs, (unsigned long long)zz,
			 (unsigned long long)zcp);
	}
}

static void free_chunks(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;

		free(c->mem);
		free(c);
		c = next;
	}
}

static void sock_free(struct rt_sink *s)
{
	struct sock_sink *ss = s->priv;

	if (!ss)
		return;
	if (ss->started)
		finish(ss);
	for (int c = 0; ss->ch && c < s->nr_cpus; c++) {
		struct channel *ch = &ss->ch[c];

		if (ch->ssl)
			SSL_free(ch->ssl);
		if (ch->fd >= 0)
			close(ch->fd);
		if (ch->spill_fd >= 0) {
			char path[PATH_MAX];

			close(ch->spill_fd);
			snprintf(path, sizeof(path), "%s/cpu%d.spill",
				 ss->spill_dir, c);
			unlink(path);
		}
		free_chunks(ch->head);
		free_chunks(ch->spare);
		free(ch->marks);
		free(ch->bounds);
		free(ch->bounce);
		free(ch->rx);
		free(ch->zcq);
		rt_buf_free(&ch->hello);
		pthread_mutex_destroy(&ch->mu);
	}
	if (ss->ep >= 0)
		close(ss->ep);
	if (ss->kick_fd >= 0)
		close(ss->kick_fd);
	SSL_CTX_free(ss->tls);
	free(ss->tls_name);
	free(ss->ch);
	free(ss->name);
	free(ss->address);
	free(ss->spill_dir);
	free(ss);
	s->priv = NULL;
}

static const char *sock_state(struct rt_sink *s, char *detail, size_t len)
{
	struct sock_sink *ss = s->priv;
	int nr = 0, up = 0, backoff = 0;
	uint64_t queued = 0, spilled = 0;

	for (int c = 0; c < s->nr_cpus; c++) {
		struct channel *ch = &ss->ch[c];
		int st = ch->state;

		if (!s->online[c])
			continue;
		nr++;
		up += st == CH_CONNECTED || st == CH_DONE;
		backoff += st == CH_BACKOFF;
		pthread_mutex_lock(&ch->mu);
		queued += ch->end - ch->acked;
		spilled += ch->spill_bytes;
		pthread_mutex_unlock(&ch->mu);
	}
	{
		int k = snprintf(detail, len, "%s%s (%d/%d CPUs connected, %llu bytes queued, %llu spilled",
				 ss->address,
				 ss->tls ? " tls" : ss->type == RT_OUTPUT_TCP ? " plain" : "",
				 up, nr, (unsigned long long)queued,
				 (unsigned long long)spilled);
		uint64_t zs = 0, zz = 0, zcp = 0;

		for (int c = 0; ss->zerocopy && c < s->nr_cpus; c++) {
			zs += atomic_load(&ss->ch[c].zc_sends);
			zz += atomic_load(&ss->ch[c].zc_zero);
			zcp += atomic_load(&ss->ch[c].zc_copied);
		}
		if (k >= 0 && (size_t)k < len && ss->zerocopy)
			k += snprintf(detail + k, len - k,
				      ", zerocopy: %llu sends, %llu completed without a copy, %llu copied by the kernel",
				      (unsigned long long)zs, (unsigned long long)zz,
				      (unsigned long long)zcp);
		if (k >= 0 && (size_t)k < len)
			snprintf(detail + k, len - k, ")");
	}
	return spilled ? "spilling" :
	       up == nr ? "connected" :
	       backoff	? "backoff" :
			  "connecting";
}

static void sock_status(struct rt_sink *s,
			void (*put)(void *ctx, const char *key, const char *v),
			void *ctx)
{
	struct sock_sink *ss = s->priv;
	uint64_t acked = 0, queued = 0, spilled = 0, reconnects = 0;
	char v[32];
#define PUT_U64(key, x) \
	(snprintf(v, sizeof(v), "%llu", (unsigned long long)(x)), put(ctx, key, v))

	for (int c = 0; c < s->nr_cpus; c++) {
		struct channel *ch = &ss->ch[c];

		if (!s->online[c])
			continue;
		pthread_mutex_lock(&ch->mu);
		acked += ch->acked;
		queued += ch->end - ch->acked;
		spilled += ch->spill_bytes;
		pthread_mutex_unlock(&ch->mu);
		reconnects += atomic_load(&ch->reconnects);
	}
	put(ctx, "peer", ss->address);
	put(ctx, "transport", ss->tls ? "tls" :
			      ss->type == RT_OUTPUT_TCP ? "tcp" : "unix");
	if (ss->zerocopy) {
		uint64_t zs = 0, zz = 0, zcp = 0;

		for (int c = 0; c < s->nr_cpus; c++) {
			zs += atomic_load(&ss->ch[c].zc_sends);
			zz += atomic_load(&ss->ch[c].zc_zero);
			zcp += atomic_load(&ss->ch[c].zc_copied);
		}
		PUT_U64("zerocopy_sends", zs);
		PUT_U64("zerocopy_completed", zz);
		PUT_U64("zerocopy_copied", zcp);
	}
	PUT_U64("acked_bytes", acked);
	PUT_U64("queued_bytes", queued);
	PUT_U64("spilled_bytes", spilled);
	PUT_U64("reconnects", reconnects);
#undef PUT_U64
}

const struct rt_sink_ops rt_sink_tcp_ops = {
	.type = "tcp",
	.open = sock_open,
	.write_subbuf = sock_write,
	.close_cpu = sock_close_cpu,
	.free = sock_free,
	.restart = sock_restart,
	.state = sock_state,
	.status = sock_status,
	.can_splice = false,
};

const struct rt_sink_ops rt_sink_unix_ops = {
	.type = "unix",
	.open = sock_open,
	.write_subbuf = sock_write,
	.close_cpu = sock_close_cpu,
	.free = sock_free,
	.restart = sock_restart,
	.state = sock_state,
	.status = sock_status,
	.can_splice = false,
};
