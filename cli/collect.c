// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap collect: receive capture streams from ringtapd socket outputs
 * (docs/stream-protocol.md) and write one capture per host and boot.
 *
 * One thread, one epoll loop, non-blocking sockets.  Each connection has a
 * 16-byte header buffer and one message buffer, grown only as bytes arrive
 * and never beyond the largest message the protocol allows; its channel's
 * bytes go straight to the store (cli/collect_store.c), which checks them
 * as the stream format and writes them.  A 50 ms timer drives the
 * acknowledgements (fdatasync, state file, ACK: every 150-200 ms while
 * there is something to acknowledge), the time limits and --stats.
 *
 * tcp: listeners run TLS (OpenSSL, non-blocking) unless --insecure: the
 * handshake is part of the HELLO phase and its deadline, SSL's wants map
 * onto the epoll interest, and decrypted bytes SSL still holds are read
 * before the next epoll_wait.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ringtap/clock.h"
#include "ringtap/log.h"
#include "ringtap/tls.h"
#include "ringtap/transport.h"
#include "collect.h"
#include "collect_nats.h"
#include "ringtap.h"

#define TICK_MS 50
#define ACK_MS 150	   /* checkpoint when the last one is this old */
#define HELLO_MS 10000	   /* HELLO complete within */
#define IDLE_MS 60000	   /* nothing received for this long: closed */
#define LINGER_MS 2000	   /* a refused peer gets this long to read why */
#define FIRST_BUF (64u << 10)
#define MAX_UIDS 64
#define MAX_LISTEN 16
#define OUT_SIZE 1024
#define TLS_LOG_MAX 10

enum kind { K_LISTEN, K_CONN, K_SIGNAL, K_TIMER };
enum cstate { C_HELLO, C_OPEN, C_CLOSING };

struct listener {
	enum kind kind;
	int fd;
	bool is_unix;
	bool tls;
	bool paused; /* out of fds: off epoll until the next tick */
	char name[128];
	char *unix_path;
};

struct conn {
	enum kind kind;
	struct conn *prev, *next;
	int fd;
	bool is_unix;
	bool uid_ok;
	char peer[256];
	/* TLS: from accept on; handshaking until SSL_accept is done */
	SSL *ssl;
	bool handshaking;
	bool tls_want_out;	/* SSL needs to write (handshake, read) */
	bool tls_wr_wants_read; /* SSL_write needs to read first */
	char tls_info[160];	/* version, cipher, client certificate */
	enum cstate state;
	uint64_t t_start, t_rx, t_close;
	/* input: header, then a payload buffer sized by what arrived */
	uint8_t hdr[RT_MSG_HDR_SIZE];
	size_t hdr_have;
	struct rt_msg_hdr mh;
	uint8_t *buf;
	size_t cap, have;
	/* output: WELCOME, ACK, BYE */
	uint8_t out[OUT_SIZE];
	size_t out_len;
	bool want_out;
	bool shut; /* SHUT_WR done */
	uint64_t ack_sent;
	struct store *st;
	uint64_t t_sync;
	uint64_t rx, rx_mark; /* channel bytes received, at the last stats */
	bool dead;	      /* freed at the end of the epoll batch */
};

struct collect {
	const char *dir;
	unsigned int max_files, max_conn;
	char *token;
	size_t token_len;
	uid_t uids[MAX_UIDS];
	int nr_uids;
	bool insecure;
	SSL_CTX *tls; /* --tls-cert: tcp listeners speak TLS */
	unsigned int stats_s;
	uint64_t hello_ms, idle_ms;

	int epfd, sigfd, timerfd;
	enum kind sig_kind, timer_kind;
	struct listener ls[MAX_LISTEN];
	int nr_ls;
	struct conn *conns;
	struct conn *dead; /* closed, freed after the current epoll batch */
	unsigned int nr_open, nr_closing;
	uint64_t t_stats, rx_total, rx_total_mark;
	uint64_t t_busy_log, busy_quiet; /* a flood is logged once a second */
	/* failed TLS handshakes: TLS_LOG_MAX logged a second, the rest counted */
	uint64_t t_tls_log, tls_logged, tls_quiet;
	bool stop;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap collect -d DIR --listen ADDR [--listen ADDR]... [OPTIONS]\n"
		"Receive capture streams from ringtapd socket outputs and write them to\n"
		"DIR/<host>/<boot_id>/cpu<N>-<index>.rtap, readable by ringtap report.\n\n"
		"  -d, --dir DIR            where captures are written\n"
		"  -l, --listen ADDR        tcp:HOST:PORT, tcp:[V6]:PORT (port 0: any, printed)\n"
		"                           or unix:/PATH; repeatable\n"
		"      --max-files N        keep the newest N files per host and CPU\n"
		"      --token-file F       peers must send this shared secret (F's content)\n"
		"      --allow-uid LIST     uids (or user names) allowed on unix sockets\n"
		"                           (default: 0)\n"
		"      --tls-cert FILE      tcp: listeners speak TLS with this certificate\n"
		"                           (PEM, the chain after it)\n"
		"      --tls-key FILE       its private key (PEM)\n"
		"      --tls-client-ca FILE require a client certificate issued by a CA\n"
		"                           in FILE (PEM)\n"
		"      --insecure           plain tcp: listeners without TLS (captures and\n"
		"                           tokens in plain text; warns)\n"
		"      --max-connections N  more are answered BUSY (default 256)\n"
		"      --stats[=SECONDS]    print connected channels and rates (default 5 s;\n"
		"                           also on SIGUSR1)\n"
		"  -q, --quiet              only warnings and errors\n"
		"  -h, --help               this help\n\n"
		"A tcp: listener needs --tls-cert and --tls-key, or --insecure.\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || *s == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_uids(struct collect *cl, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !r;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long v;
		struct passwd *pw;

		if (cl->nr_uids == MAX_UIDS) {
			r = -E2BIG;
		} else if (parse_uint(tok, UINT32_MAX - 1, &v) == 0) {
			cl->uids[cl->nr_uids++] = (uid_t)v;
		} else if ((pw = getpwnam(tok))) {
			cl->uids[cl->nr_uids++] = pw->pw_uid;
		} else {
			log_err("--allow-uid: unknown user '%s'", tok);
			r = -EINVAL;
		}
	}
	free(copy);
	return r;
}

/* The content of @path without trailing line endings, as ringtapd reads it. */
static int read_token(struct collect *cl, const char *path)
{
	/* the same rule as ringtapd's token_file: at most 4095 bytes after
	 * the line ending is dropped */
	char buf[4096 + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_err("--token-file '%s': %m", path);
		return -errno;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		log_err("--token-file '%s': %m", path);
		return -EIO;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= (ssize_t)sizeof(buf) - 1 || memchr(buf, 0, (size_t)n)) {
		log_err("--token-file '%s' is empty, longer than %zu bytes or binary",
			path, sizeof(buf) - 2);
		return -EINVAL;
	}
	buf[n] = 0;
	free(cl->token);
	cl->token = strdup(buf);
	cl->token_len = (size_t)n;
	return cl->token ? 0 : -ENOMEM;
}

/* ---- listening ---- */

static int epoll_add(struct collect *cl, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(cl->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int listen_unix(struct listener *l, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("unix:%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	/* a socket left by a collector that was killed, not a live one */
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 &&
			    connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		if (probe >= 0)
			close(probe);
		if (live) {
			log_err("unix:%s: in use by another process", path);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_err("unix:%s: %m", path);
		return -errno;
	}
	/* anyone may connect: SO_PEERCRED and --allow-uid decide */
	chmod(path, 0666);
	l->is_unix = true;
	l->unix_path = strdup(path);
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
	return 0;
}

static int listen_tcp(struct listener *l, const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[128], port[16], hbuf[INET6_ADDRSTRLEN];
	const char *colon;
	int one = 1, r;
	size_t hl;

	if (spec[0] == '[') {
		const char *close_b = strchr(spec, ']');

		if (!close_b || close_b[1] != ':')
			goto bad;
		hl = (size_t)(close_b - spec - 1);
		colon = close_b + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - spec);
	}
	if (hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port) ||
	    !colon[1])
		goto bad;
	memcpy(host, spec, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	r = getaddrinfo(hl ? host : NULL, port, &hints, &ai);
	if (r) {
		log_err("tcp:%s: %s", spec, gai_strerror(r));
		return -EINVAL;
	}
	l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (l->fd < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		log_err("tcp:%s: %s", spec, strerror(-r));
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, hbuf, sizeof(hbuf));
		snprintf(l->name, sizeof(l->name), "tcp:[%s]:%u", hbuf,
			 ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, hbuf, sizeof(hbuf));
		snprintf(l->name, sizeof(l->name), "tcp:%s:%u", hbuf,
			 ntohs(s4->sin_port));
	}
	return 0;
bad:
	log_err("tcp:%s: expected tcp:HOST:PORT or tcp:[V6]:PORT", spec);
	return -EINVAL;
}

static int add_listener(struct collect *cl, const char *addr)
{
	struct listener *l;
	int r;

	if (cl->nr_ls == MAX_LISTEN) {
		log_err("at most %d --listen", MAX_LISTEN);
		return -E2BIG;
	}
	l = &cl->ls[cl->nr_ls];
	*l = (struct listener){ .kind = K_LISTEN, .fd = -1 };
	if (!strncmp(addr, "unix:", 5) && addr[5]) {
		r = listen_unix(l, addr + 5);
	} else if (!strncmp(addr, "tcp:", 4)) {
		if (!cl->tls && !cl->insecure) {
			log_err("--listen %s: a tcp: listener needs TLS (--tls-cert and --tls-key), "
				"or --insecure for plain TCP, which sends captures and tokens in plain text",
				addr);
			return -EPERM;
		}
		r = listen_tcp(l, addr + 4);
		l->tls = cl->tls != NULL;
	} else {
		log_err("--listen %s: expected tcp:HOST:PORT or unix:/PATH", addr);
		return -EINVAL;
	}
	cl->nr_ls++;
	if (r < 0)
		return r;
	if (listen(l->fd, 128) < 0 || (r = epoll_add(cl, l->fd, EPOLLIN, l)) < 0) {
		log_err("%s: %m", l->name);
		return -errno;
	}
	if (!l->is_unix && !l->tls)
		log_warn("%s: plain TCP (--insecure): captures and tokens cross the network unencrypted",
			 l->name);
	if (l->tls)
		log_info("%s: TLS, %s", l->name,
			 SSL_CTX_get_verify_mode(cl->tls) & SSL_VERIFY_PEER ?
				 "client certificates required" :
				 "no client certificates");
	log_info("listening on %s", l->name);
	return 0;
}

/* ---- connections: output ---- */

static void conn_events(struct collect *cl, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
				  .data.ptr = c };
	bool want = (c->out_len > 0 && !c->tls_wr_wants_read) ||
		    c->tls_want_out;

	if (want == c->want_out)
		return;
	c->want_out = want;
	if (want)
		ev.events |= EPOLLOUT;
	epoll_ctl(cl->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* SSL_write as send(): bytes, or -1 with errno EAGAIN or EPIPE. */
static ssize_t tls_send(struct conn *c, const void *p, size_t len)
{
	int r, e;

	if (c->handshaking) {
		errno = EPIPE; /* nothing but the handshake yet */
		return -1;
	}
	ERR_clear_error();
	r = SSL_write(c->ssl, p, (int)len);
	c->tls_wr_wants_read = false;
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		c->tls_wr_wants_read = e == SSL_ERROR_WANT_READ;
		errno = EAGAIN;
		return -1;
	}
	ERR_clear_error();
	errno = EPIPE;
	return -1;
}

static void conn_flush(struct collect *cl, struct conn *c)
{
	while (c->out_len) {
		ssize_t n = c->ssl ? tls_send(c, c->out, c->out_len) :
				     send(c->fd, c->out, c->out_len,
					  MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				c->out_len = 0; /* the peer is gone */
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (!c->out_len && c->state == C_CLOSING && !c->shut) {
		if (c->ssl && !c->handshaking) {
			ERR_clear_error();
			SSL_shutdown(c->ssl); /* close_notify; not waiting */
			ERR_clear_error();
		}
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	conn_events(cl, c);
}

static bool conn_queue(struct conn *c, uint16_t type, const void *a,
		       size_t alen, const char *msg)
{
	size_t mlen = msg ? strlen(msg) : 0;
	struct rt_msg_hdr h = { .magic = RT_MSG_MAGIC, .type = type,
				.len = (uint32_t)(alen + mlen) };

	if (c->out_len + sizeof(h) + alen + mlen > sizeof(c->out))
		return false;
	h.crc = rt_crc32c(0, a, alen);
	if (mlen)
		h.crc = rt_crc32c(h.crc, msg, mlen);
	memcpy(c->out + c->out_len, &h, sizeof(h));
	memcpy(c->out + c->out_len + sizeof(h), a, alen);
	if (mlen)
		memcpy(c->out + c->out_len + sizeof(h) + alen, msg, mlen);
	c->out_len += sizeof(h) + alen + mlen;
	return true;
}

static void conn_ack(struct collect *cl, struct conn *c)
{
	struct rt_msg_ack a;

	if (!c->st || c->st->durable <= c->ack_sent)
		return;
	a.offset = c->st->durable;
	if (conn_queue(c, RT_MSG_ACK, &a, sizeof(a), NULL))
		c->ack_sent = a.offset;
	conn_flush(cl, c);
}

/* Checkpoint the channel and acknowledge; false if the store failed. */
static bool conn_sync(struct collect *cl, struct conn *c, uint64_t now)
{
	if (store_checkpoint(c->st) < 0) {
		log_err("%s (%s): %s", c->st->label, c->peer, c->st->err);
		return false;
	}
	c->t_sync = now;
	conn_ack(cl, c);
	return true;
}

/*
 * Closed now, freed after the current batch of epoll events: a later event
 * of the same batch may still point to it.
 */
static void conn_free(struct collect *cl, struct conn *c)
{
	if (c->dead)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		cl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->state == C_CLOSING)
		cl->nr_closing--;
	else
		cl->nr_open--;
	store_close(c->st);
	c->st = NULL;
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	free(c->buf);
	c->buf = NULL;
	c->dead = true;
	c->next = cl->dead;
	cl->dead = c;
}

static void reap(struct collect *cl)
{
	while (cl->dead) {
		struct conn *c = cl->dead;

		cl->dead = c->next;
		free(c);
	}
}

/*
 * End the conversation: close the channel (cut off what cannot be
 * acknowledged, sync, acknowledge the rest), say @bye_reason if nonzero,
 * then linger until the peer closes or LINGER_MS, so that it reads why.
 */
static void conn_end(struct collect *cl, struct conn *c, uint32_t bye_reason,
		     const char *msg)
{
	struct rt_msg_bye b = { .reason = bye_reason };

	if (c->state == C_CLOSING)
		return;
	if (c->st) {
		store_close(c->st);
		/* store_close() checkpointed: acknowledge what it kept */
		c->st = NULL;
	}
	if (bye_reason)
		conn_queue(c, RT_MSG_BYE, &b, sizeof(b), msg);
	free(c->buf);
	c->buf = NULL;
	c->cap = c->have = 0;
	cl->nr_open--;
	cl->nr_closing++;
	c->state = C_CLOSING;
	c->t_close = rt_now_ms();
	conn_flush(cl, c);
	if (cl->nr_closing > cl->max_conn)
		conn_free(cl, c); /* no lingering for a flood */
}

__attribute__((format(printf, 4, 5)))
static void conn_fail(struct collect *cl, struct conn *c, uint32_t reason,
		      const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->st)
		log_warn("%s (%s): %s; closing", c->st->label, c->peer, msg);
	else
		log_warn("%s: %s; closing", c->peer, msg);
	conn_end(cl, c, reason, msg);
}

/* ---- HELLO ---- */

struct hello {
	uint32_t version, cpu;
	bool has_version, has_cpu;
	char host[COLLECT_NAME_MAX + 1], boot[COLLECT_ID_MAX + 1],
		capture[COLLECT_ID_MAX + 1];
	const uint8_t *token;
	uint32_t token_len;
};

/* A name used as a path component: printable, no '/', no "..", not hidden. */
static bool copy_name(char *dst, size_t max, const uint8_t *v, uint32_t len)
{
	if (!len || len > max || v[0] == '.')
		return false;
	for (uint32_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] == 0x7f || v[i] == '/' || v[i] == '\\' ||
		    (v[i] == '.' && i + 1 < len && v[i + 1] == '.'))
			return false;
	memcpy(dst, v, len);
	dst[len] = 0;
	return true;
}

static const char *hello_parse(struct hello *h, const uint8_t *p, size_t n)
{
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;
	size_t off = 0;
	int r;

	memset(h, 0, sizeof(*h));
	while ((r = rt_record_next(p, n, &off, &tag, &val, &len)) == 1) {
		switch (tag) {
		case RT_HELLO_PROTO_VERSION:
			if (len != 4)
				return "PROTO_VERSION is not a u32";
			memcpy(&h->version, val, 4);
			h->has_version = true;
			break;
		case RT_HELLO_HOST:
			if (!copy_name(h->host, COLLECT_NAME_MAX, val, len))
				return "host name not usable as a directory name";
			break;
		case RT_HELLO_BOOT_ID:
			if (!copy_name(h->boot, COLLECT_ID_MAX, val, len))
				return "boot id not usable as a directory name";
			break;
		case RT_HELLO_CAPTURE_ID:
			if (!copy_name(h->capture, COLLECT_ID_MAX, val, len))
				return "capture id not usable as a directory name";
			break;
		case RT_HELLO_CPU:
			if (len != 4)
				return "CPU is not a u32";
			memcpy(&h->cpu, val, 4);
			h->has_cpu = true;
			break;
		case RT_HELLO_TOKEN:
			h->token = val;
			h->token_len = len;
			break;
		default:
			break; /* OUTPUT, and tags of later versions */
		}
	}
	if (r < 0)
		return "malformed HELLO records";
	if (!h->has_version || !h->version)
		return "no protocol version";
	if (h->version > RT_PROTO_VERSION)
		return NULL; /* the caller answers VERSION */
	if (!h->host[0] || !h->boot[0] || !h->capture[0] || !h->has_cpu)
		return "HOST, BOOT_ID, CAPTURE_ID and CPU are required";
	if (h->cpu >= COLLECT_CPU_MAX)
		return "CPU out of range";
	return NULL;
}

static bool token_ok(const struct collect *cl, const struct hello *h)
{
	uint32_t len = h->token_len;
	unsigned char diff;

	if (!cl->token)
		return true;
	/* a token file written with a line ending is the same token */
	while (len && h->token && (h->token[len - 1] == '\n' ||
				   h->token[len - 1] == '\r'))
		len--;
	/* constant time in the token: every byte of ours is compared */
	diff = len != cl->token_len;
	for (size_t i = 0; i < cl->token_len; i++)
		diff |= (unsigned char)cl->token[i] ^
			(i < len ? h->token[i] : (unsigned char)~cl->token[i]);
	return diff == 0;
}

static struct conn *channel_conn(struct collect *cl, const struct hello *h)
{
	for (struct conn *c = cl->conns; c; c = c->next)
		if (c->st && c->st->cpu == h->cpu && !strcmp(c->st->host, h->host) &&
		    !strcmp(c->st->boot, h->boot) &&
		    !strcmp(c->st->capture, h->capture))
			return c;
	return NULL;
}

static void welcome(struct collect *cl, struct conn *c, uint32_t status,
		    uint64_t resume, const char *msg)
{
	struct rt_msg_welcome w = { .status = status, .resume = resume };
	static const char *const names[] = { "OK", "BAD_REQUEST", "AUTH",
					     "VERSION", "BUSY", "CONFLICT" };

	conn_queue(c, RT_MSG_WELCOME, &w, sizeof(w), msg);
	if (status == RT_WELCOME_BUSY && rt_now_ms() - cl->t_busy_log < 1000) {
		cl->busy_quiet++;
		conn_end(cl, c, 0, NULL);
	} else if (status != RT_WELCOME_OK) {
		if (status == RT_WELCOME_BUSY && cl->busy_quiet)
			log_warn("%s: refused (%s): %s (and %" PRIu64 " more not logged)",
				 c->peer, names[status], msg, cl->busy_quiet);
		else
			log_warn("%s: refused (%s): %s", c->peer, names[status], msg);
		if (status == RT_WELCOME_BUSY) {
			cl->t_busy_log = rt_now_ms();
			cl->busy_quiet = 0;
		}
		conn_end(cl, c, 0, NULL);
	} else {
		conn_flush(cl, c);
	}
}

static void on_hello(struct collect *cl, struct conn *c, const uint8_t *p,
		     size_t n)
{
	struct hello h;
	const char *why = hello_parse(&h, p, n);
	char err[300], msg[600];
	struct conn *other;
	int r;

	if (why)
		return welcome(cl, c, RT_WELCOME_BAD_REQUEST, 0, why);
	if (h.version > RT_PROTO_VERSION) {
		snprintf(msg, sizeof(msg), "protocol version %u; this collector speaks %u",
			 h.version, RT_PROTO_VERSION);
		return welcome(cl, c, RT_WELCOME_VERSION, 0, msg);
	}
	if (c->is_unix && !c->uid_ok)
		return welcome(cl, c, RT_WELCOME_AUTH, 0,
			       "peer uid not allowed (--allow-uid)");
	if (!token_ok(cl, &h))
		return welcome(cl, c, RT_WELCOME_AUTH, 0, "wrong token");
	other = channel_conn(cl, &h);
	if (other) {
		snprintf(msg, sizeof(msg), "channel %s cpu %u is already connected from %s",
			 h.host, h.cpu, other->peer);
		return welcome(cl, c, RT_WELCOME_CONFLICT, 0, msg);
	}
	r = store_open(cl->dir, h.host, h.boot, h.capture, h.cpu,
		       cl->max_files, &c->st, err, sizeof(err));
	if (r < 0) {
		log_err("%s cpu %u: %s", h.host, h.cpu, err);
		snprintf(msg, sizeof(msg), "collector cannot store this channel: %s", err);
		return welcome(cl, c, RT_WELCOME_BAD_REQUEST, 0, msg);
	}
	c->state = C_OPEN;
	c->ack_sent = c->st->durable;
	c->t_sync = rt_now_ms();
	log_info("%s (%s): channel open%s%s%s, capture %s, resuming at %" PRIu64 " into %s",
		 c->st->label, c->peer, c->ssl ? " (" : "", c->tls_info,
		 c->ssl ? ")" : "", h.capture, c->st->durable, c->st->dir);
	welcome(cl, c, RT_WELCOME_OK, c->st->durable, NULL);
}

/* ---- connections: input ---- */

static void on_data(struct collect *cl, struct conn *c, const uint8_t *p,
		    size_t n)
{
	struct rt_msg_data d;
	int r;

	if (n < sizeof(d))
		return conn_fail(cl, c, RT_BYE_PROTOCOL, "DATA shorter than its offset");
	memcpy(&d, p, sizeof(d));
	if (d.offset != c->st->off)
		return conn_fail(cl, c, RT_BYE_PROTOCOL,
				 "DATA at offset %" PRIu64 ", expected %" PRIu64 " (%s)",
				 d.offset, c->st->off,
				 d.offset > c->st->off ? "a gap" : "an overlap");
	r = store_feed(c->st, p + sizeof(d), n - sizeof(d));
	c->rx += n - sizeof(d);
	cl->rx_total += n - sizeof(d);
	if (r == -EBADMSG)
		return conn_fail(cl, c, RT_BYE_PROTOCOL,
				 "not a valid stream at channel offset %" PRIu64 ": %s",
				 c->st->off, c->st->err);
	if (r < 0) {
		log_err("%s (%s): %s", c->st->label, c->peer, c->st->err);
		return conn_end(cl, c, RT_BYE_SHUTDOWN, "collector cannot write");
	}
	if (c->st->ack_now && !conn_sync(cl, c, rt_now_ms()))
		conn_end(cl, c, RT_BYE_SHUTDOWN, "collector cannot write");
}

static void on_message(struct collect *cl, struct conn *c)
{
	const uint8_t *p = c->buf;
	size_t n = c->mh.len;
	struct rt_msg_bye b = { 0 };

	if (rt_crc32c(0, p, n) != c->mh.crc)
		return conn_fail(cl, c, RT_BYE_PROTOCOL, "bad message checksum (type %u)",
				 c->mh.type);
	if (c->state == C_HELLO) {
		if (c->mh.type != RT_MSG_HELLO)
			return conn_fail(cl, c, RT_BYE_PROTOCOL,
					 "message type %u before HELLO", c->mh.type);
		return on_hello(cl, c, p, n);
	}
	switch (c->mh.type) {
	case RT_MSG_DATA:
		return on_data(cl, c, p, n);
	case RT_MSG_BYE:
		if (n >= sizeof(b))
			memcpy(&b, p, sizeof(b));
		log_info("%s (%s): BYE (reason %u) at offset %" PRIu64 ", %" PRIu64 " acknowledged",
			 c->st->label, c->peer, b.reason, c->st->off,
			 c->st->durable);
		return conn_end(cl, c, 0, NULL);
	default:
		return conn_fail(cl, c, RT_BYE_PROTOCOL,
				 "unexpected message type %u", c->mh.type);
	}
}

static bool header_done(struct collect *cl, struct conn *c)
{
	uint32_t max;

	memcpy(&c->mh, c->hdr, sizeof(c->mh));
	if (c->mh.magic != RT_MSG_MAGIC) {
		conn_fail(cl, c, RT_BYE_PROTOCOL, "bad message magic 0x%08x",
			  c->mh.magic);
		return false;
	}
	if (c->mh.type < RT_MSG_HELLO || c->mh.type > RT_MSG_BYE) {
		conn_fail(cl, c, RT_BYE_PROTOCOL, "unknown message type %u",
			  c->mh.type);
		return false;
	}
	max = c->mh.type == RT_MSG_DATA ? RT_MSG_MAX_DATA : RT_MSG_MAX_PAYLOAD;
	if (c->mh.len > max) {
		conn_fail(cl, c, RT_BYE_PROTOCOL,
			  "message type %u: payload length %u exceeds limit (%u)",
			  c->mh.type, c->mh.len, max);
		return false;
	}
	c->have = 0;
	return true;
}

/*
 * The TLS handshake, whenever the socket is ready for it: true once done.
 * A failed one is logged with the peer and the reason, and the connection
 * closed; it costs no other connection anything.
 */
static bool conn_handshake(struct collect *cl, struct conn *c)
{
	char why[256];
	int r, e;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->handshaking = false;
		c->tls_want_out = false;
		rt_tls_describe(c->ssl, c->tls_info, sizeof(c->tls_info));
		log_debug("%s: TLS: %s", c->peer, c->tls_info);
		conn_events(cl, c);
		return true;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->tls_want_out = e == SSL_ERROR_WANT_WRITE;
		conn_events(cl, c);
		return false;
	}
	rt_tls_why(c->ssl, r, why, sizeof(why));
	if (rt_now_ms() - cl->t_tls_log >= 1000) {
		cl->t_tls_log = rt_now_ms();
		cl->tls_logged = 0;
	}
	if (cl->tls_logged++ < TLS_LOG_MAX)
		log_warn("%s: TLS handshake failed: %s; closing", c->peer, why);
	else
		cl->tls_quiet++;
	/* OpenSSL sent its alert already, if any; nothing more to say */
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->handshaking = c->tls_want_out = false;
	conn_end(cl, c, 0, NULL);
	return false;
}

/* recv() or SSL_read(): bytes, 0 at the end, -1 with errno. */
static ssize_t conn_recv(struct collect *cl, struct conn *c, void *buf,
			 size_t len)
{
	char why[256];
	int r, e;

	if (!c->ssl)
		return recv(c->fd, buf, len, 0);
	ERR_clear_error();
	r = SSL_read(c->ssl, buf, (int)len);
	if (r > 0) {
		if (c->tls_want_out) {
			c->tls_want_out = false;
			conn_events(cl, c);
		}
		return r;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (c->tls_want_out != (e == SSL_ERROR_WANT_WRITE)) {
			c->tls_want_out = e == SSL_ERROR_WANT_WRITE;
			conn_events(cl, c);
		}
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno)) {
		ERR_clear_error();
		return 0;
	}
	log_warn("%s: TLS: %s", c->peer, rt_tls_why(c->ssl, r, why, sizeof(why)));
	errno = EPROTO;
	return -1;
}

/* Read what is there (a bounded amount, for fairness), handle messages. */
static void on_readable(struct collect *cl, struct conn *c)
{
	if (c->handshaking && !conn_handshake(cl, c))
		return;
	for (int rounds = 0; rounds < 64 && c->state != C_CLOSING; rounds++) {
		ssize_t n;
		bool hdr = c->hdr_have < RT_MSG_HDR_SIZE;

		if (!hdr && c->have == c->cap && c->have < c->mh.len) {
			size_t cap = c->cap ? c->cap * 2 : FIRST_BUF;
			uint8_t *b;

			if (cap > c->mh.len)
				cap = c->mh.len;
			b = realloc(c->buf, cap);
			if (!b)
				return conn_fail(cl, c, RT_BYE_SHUTDOWN, "out of memory");
			c->buf = b;
			c->cap = cap;
		}
		if (hdr)
			n = conn_recv(cl, c, c->hdr + c->hdr_have,
				      RT_MSG_HDR_SIZE - c->hdr_have);
		else
			n = conn_recv(cl, c, c->buf + c->have,
				      (c->cap < c->mh.len ? c->cap : c->mh.len) - c->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (c->state == C_OPEN)
				log_info("%s (%s): disconnected without BYE at offset %" PRIu64
					 ", %" PRIu64 " acknowledged",
					 c->st->label, c->peer, c->st->off,
					 c->st->good_off);
			else
				log_warn("%s: closed before completing HELLO",
					 c->peer);
			return conn_end(cl, c, 0, NULL);
		}
		c->t_rx = rt_now_ms();
		if (hdr) {
			c->hdr_have += (size_t)n;
			if (c->hdr_have < RT_MSG_HDR_SIZE || !header_done(cl, c))
				continue;
			if (c->mh.len)
				continue;
		} else {
			c->have += (size_t)n;
		}
		if (c->have == c->mh.len) {
			c->hdr_have = 0;
			on_message(cl, c);
		}
	}
}

/* Closing: drain and discard until the peer closes. */
static void on_drain(struct collect *cl, struct conn *c)
{
	char sink[4096];

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			return conn_free(cl, c);
	}
}

static void peer_name(struct conn *c, const struct sockaddr_storage *ss)
{
	char h[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof(h));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", h,
			 ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", h,
			 ntohs(s4->sin_port));
	}
}

static void on_accept(struct collect *cl, struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct ucred cred;
		socklen_t cl_len = sizeof(cred);
		struct conn *c;
		int fd, one = 1;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE ||
			       errno == ENOBUFS || errno == ENOMEM)) {
			log_warn("%s: cannot accept: %m; pausing", l->name);
			epoll_ctl(cl->epfd, EPOLL_CTL_DEL, l->fd, NULL);
			l->paused = true;
			return;
		}
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->kind = K_CONN;
		c->fd = fd;
		c->is_unix = l->is_unix;
		c->t_start = c->t_rx = rt_now_ms();
		if (l->is_unix) {
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len) == 0) {
				snprintf(c->peer, sizeof(c->peer), "%s pid %d uid %u",
					 l->name, cred.pid, cred.uid);
				for (int k = 0; k < cl->nr_uids; k++)
					c->uid_ok |= cred.uid == cl->uids[k];
			} else {
				snprintf(c->peer, sizeof(c->peer), "%s (no credentials)",
					 l->name);
			}
		} else {
			peer_name(c, &ss);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		if (l->tls && cl->nr_open >= cl->max_conn) {
			/* no handshake spent on a flood: closed at once */
			if (rt_now_ms() - cl->t_busy_log < 1000) {
				cl->busy_quiet++;
			} else {
				log_warn("%s: refused (BUSY): %u connections (--max-connections), closed before the TLS handshake",
					 c->peer, cl->max_conn);
				cl->t_busy_log = rt_now_ms();
				cl->busy_quiet = 0;
			}
			close(fd);
			free(c);
			continue;
		}
		if (l->tls) {
			c->ssl = SSL_new(cl->tls);
			if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
				log_warn("%s: cannot set up TLS; closing", c->peer);
				if (c->ssl)
					SSL_free(c->ssl);
				close(fd);
				free(c);
				continue;
			}
			SSL_set_accept_state(c->ssl);
			c->handshaking = true;
		}
		c->next = cl->conns;
		if (cl->conns)
			cl->conns->prev = c;
		cl->conns = c;
		cl->nr_open++;
		if (epoll_add(cl, fd, EPOLLIN | EPOLLRDHUP, c) < 0) {
			conn_free(cl, c);
			continue;
		}
		if (cl->nr_open > cl->max_conn) {
			char msg[80];

			snprintf(msg, sizeof(msg), "%u connections (--max-connections)",
				 cl->max_conn);
			welcome(cl, c, RT_WELCOME_BUSY, 0, msg);
		}
	}
}

/* ---- the timer: acknowledgements, time limits, stats ---- */

static void print_stats(struct collect *cl, uint64_t now)
{
	double secs = (double)(now - cl->t_stats) / 1000.0;
	unsigned int chans = 0;

	if (secs <= 0)
		secs = 1e-3;
	for (struct conn *c = cl->conns; c; c = c->next) {
		if (!c->st)
			continue;
		chans++;
		printf("collect: host=%s cpu=%u received=%" PRIu64 " rate=%.2fMB/s acked=%" PRIu64 "\n",
		       c->st->host, c->st->cpu, c->rx,
		       (double)(c->rx - c->rx_mark) / secs / 1e6, c->st->durable);
		c->rx_mark = c->rx;
	}
	printf("collect: total channels=%u connections=%u received=%" PRIu64 " rate=%.2fMB/s\n",
	       chans, cl->nr_open, cl->rx_total,
	       (double)(cl->rx_total - cl->rx_total_mark) / secs / 1e6);
	fflush(stdout);
	cl->rx_total_mark = cl->rx_total;
	cl->t_stats = now;
}

static void on_tick(struct collect *cl)
{
	uint64_t now = rt_now_ms(), ticks;
	struct conn *next;

	if (read(cl->timerfd, &ticks, sizeof(ticks)) < 0) {
		/* nothing: level-triggered, read again next time */
	}
	for (struct conn *c = cl->conns; c; c = next) {
		next = c->next;
		if (c->state == C_CLOSING) {
			if (now - c->t_close > LINGER_MS)
				conn_free(cl, c);
		} else if (c->state == C_HELLO && now - c->t_start > cl->hello_ms) {
			conn_fail(cl, c, 0, "no HELLO within %" PRIu64 " ms",
				  cl->hello_ms);
		} else if (c->state == C_OPEN && now - c->t_rx > cl->idle_ms) {
			conn_fail(cl, c, RT_BYE_PROTOCOL,
				  "nothing received for %" PRIu64 " ms", cl->idle_ms);
		} else if (c->state == C_OPEN &&
			   c->st->good_off > c->st->durable &&
			   now - c->t_sync >= ACK_MS) {
			if (!conn_sync(cl, c, now))
				conn_end(cl, c, RT_BYE_SHUTDOWN,
					 "collector cannot write");
		} else if (c->state == C_OPEN) {
			conn_ack(cl, c); /* one that did not fit before */
		}
	}
	for (int i = 0; i < cl->nr_ls; i++) {
		if (cl->ls[i].paused &&
		    epoll_add(cl, cl->ls[i].fd, EPOLLIN, &cl->ls[i]) == 0)
			cl->ls[i].paused = false;
	}
	if (cl->busy_quiet && now - cl->t_busy_log >= 1000) {
		log_warn("%" PRIu64 " more connections refused (BUSY) in the last second",
			 cl->busy_quiet);
		cl->busy_quiet = 0;
		cl->t_busy_log = now;
	}
	if (cl->tls_quiet && now - cl->t_tls_log >= 1000) {
		log_warn("%" PRIu64 " more failed TLS handshakes not logged", cl->tls_quiet);
		cl->tls_quiet = 0;
	}
	if (cl->stats_s && now - cl->t_stats >= cl->stats_s * 1000ull)
		print_stats(cl, now);
}

/* SIGINT/SIGTERM: sync and acknowledge everything, BYE SHUTDOWN to all. */
static void shutdown_all(struct collect *cl)
{
	uint64_t deadline = rt_now_ms() + 1000;
	struct conn *next;
	struct epoll_event evs[64];

	for (struct conn *c = cl->conns; c; c = next) {
		next = c->next;
		if (c->state == C_OPEN) {
			if (store_checkpoint(c->st) == 0)
				conn_ack(cl, c);
			conn_end(cl, c, RT_BYE_SHUTDOWN, "collector stopping");
		} else if (c->state == C_HELLO) {
			conn_end(cl, c, 0, NULL);
		}
	}
	/* a moment for the peers to read the BYE and close */
	while (cl->conns && rt_now_ms() < deadline) {
		int n = epoll_wait(cl->epfd, evs, 64, 100);

		for (int i = 0; i < n; i++) {
			enum kind *k = evs[i].data.ptr;
			struct conn *c = (struct conn *)k;

			if (*k != K_CONN || c->dead)
				continue;
			if (evs[i].events & EPOLLOUT)
				conn_flush(cl, c);
			on_drain(cl, c);
		}
		reap(cl);
	}
	while (cl->conns)
		conn_free(cl, cl->conns);
	reap(cl);
}

/*
 * Bytes SSL decrypted but on_readable did not take (its round limit): the
 * socket may have nothing more, so epoll would not say so.  True if some
 * remain after another round.
 */
static bool tls_pending(struct collect *cl)
{
	bool more = false;
	struct conn *next;

	for (struct conn *c = cl->conns; c; c = next) {
		next = c->next;
		if (!c->ssl || c->handshaking || c->state == C_CLOSING ||
		    SSL_pending(c->ssl) <= 0)
			continue;
		on_readable(cl, c);
		more |= !c->dead && c->ssl && c->state != C_CLOSING &&
			SSL_pending(c->ssl) > 0;
	}
	return more;
}

static int loop(struct collect *cl)
{
	struct epoll_event evs[64];
	struct signalfd_siginfo si;
	bool more = false;

	while (!cl->stop) {
		int n = epoll_wait(cl->epfd, evs, 64, more ? 0 : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("epoll_wait: %m");
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			enum kind *k = evs[i].data.ptr;
			struct conn *c = (struct conn *)k;

			switch (*k) {
			case K_LISTEN:
				on_accept(cl, (struct listener *)k);
				break;
			case K_TIMER:
				on_tick(cl);
				break;
			case K_SIGNAL:
				if (read(cl->sigfd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGUSR1)
					print_stats(cl, rt_now_ms());
				else
					cl->stop = true;
				break;
			case K_CONN:
				if (c->dead)
					break;
				if (evs[i].events & EPOLLOUT)
					conn_flush(cl, c);
				if (c->state == C_CLOSING)
					on_drain(cl, c);
				else
					on_readable(cl, c);
				break;
			}
		}
		more = cl->tls && tls_pending(cl);
		reap(cl);
	}
	return 0;
}

static int setup(struct collect *cl)
{
	struct itimerspec it = {
		.it_interval = { .tv_nsec = TICK_MS * 1000000L },
		.it_value = { .tv_nsec = TICK_MS * 1000000L },
	};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	cl->sig_kind = K_SIGNAL;
	cl->timer_kind = K_TIMER;
	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	cl->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	cl->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (cl->epfd < 0 || cl->sigfd < 0 || cl->timerfd < 0 ||
	    timerfd_settime(cl->timerfd, 0, &it, NULL) < 0 ||
	    epoll_add(cl, cl->sigfd, EPOLLIN, &cl->sig_kind) < 0 ||
	    epoll_add(cl, cl->timerfd, EPOLLIN, &cl->timer_kind) < 0) {
		log_err("cannot set up the event loop: %m");
		return -errno;
	}
	return 0;
}

/* Test hooks: shorter time limits, so that tests need not wait 60 s. */
static uint64_t env_ms(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	unsigned long ms;

	return v && parse_uint(v, 3600000, &ms) == 0 ? ms : def;
}

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s && !r; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			r = -errno;
		*s = '/';
	}
	if (!r && mkdir(p, 0755) < 0 && errno != EEXIST)
		r = -errno;
	free(p);
	return r;
}

static int lock_dir(const char *dir)
{
	char *path;
	int fd;

	if (asprintf(&path, "%s/.collect.lock", dir) < 0)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_err("'%s': another ringtap collect writes there", dir);
		else
			log_err("'%s': %m", path);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

int cmd_collect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "max-files", required_argument, NULL, 'F' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "allow-uid", required_argument, NULL, 'U' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-client-ca", required_argument, NULL, 'A' },
		{ "max-connections", required_argument, NULL, 'M' },
		{ "stats", optional_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct collect cl = { .max_conn = 256, .epfd = -1, .sigfd = -1,
			      .timerfd = -1 };
	const char *listen_addrs[MAX_LISTEN], *token_file = NULL;
	const char *tls_cert = NULL, *tls_key = NULL, *tls_client_ca = NULL;
	int nr_listen = 0, c, r = 0, lock_fd;
	unsigned long v;

	/* --from nats://...: a JetStream consumer, its own options */
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--from", 6) &&
		    (argv[i][6] == '=' || !argv[i][6]))
			return cmd_collect_nats(argc, argv);
	while (!r && (c = getopt_long(argc, argv, "d:l:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cl.dir = optarg;
			break;
		case 'l':
			if (nr_listen == MAX_LISTEN) {
				log_err("at most %d --listen", MAX_LISTEN);
				r = -E2BIG;
			} else {
				listen_addrs[nr_listen++] = optarg;
			}
			break;
		case 'F':
			r = parse_uint(optarg, UINT32_MAX, &v);
			cl.max_files = (unsigned int)v;
			if (r < 0)
				log_err("--max-files: '%s' is not a number", optarg);
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'U':
			r = parse_uids(&cl, optarg);
			break;
		case 'I':
			cl.insecure = true;
			break;
		case 'C':
			tls_cert = optarg;
			break;
		case 'K':
			tls_key = optarg;
			break;
		case 'A':
			tls_client_ca = optarg;
			break;
		case 'M':
			r = parse_uint(optarg, 1000000, &v);
			if (r < 0 || !v) {
				log_err("--max-connections: '%s' is not a positive number", optarg);
				r = -EINVAL;
			}
			cl.max_conn = (unsigned int)v;
			break;
		case 'S':
			v = 5;
			if (optarg && (parse_uint(optarg, 86400, &v) < 0 || !v)) {
				log_err("--stats: '%s' is not a number of seconds", optarg);
				r = -EINVAL;
			}
			cl.stats_s = (unsigned int)v;
			break;
		case 'q':
			rt_log_set_level(LOG_WARNING);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!r && (optind < argc || !cl.dir || !nr_listen)) {
		usage(stderr);
		return 2;
	}
	if (r < 0)
		return 2;
	if (!cl.nr_uids)
		cl.uids[cl.nr_uids++] = 0;
	cl.hello_ms = env_ms("RINGTAP_COLLECT_HELLO_MS", HELLO_MS);
	cl.idle_ms = env_ms("RINGTAP_COLLECT_IDLE_MS", IDLE_MS);
	if (token_file && read_token(&cl, token_file) < 0)
		return 2;
	if (!tls_cert != !tls_key) {
		log_err("--tls-cert and --tls-key go together (the server certificate and its key)");
		free(cl.token);
		return 2;
	}
	if (tls_client_ca && !tls_cert) {
		log_err("--tls-client-ca needs --tls-cert and --tls-key (TLS)");
		free(cl.token);
		return 2;
	}
	if (tls_cert && cl.insecure) {
		log_err("--insecure (plain TCP) and --tls-cert (TLS) exclude each other");
		free(cl.token);
		return 2;
	}
	if (tls_cert) {
		char err[512];
		enum rt_tls_file which;

		cl.tls = rt_tls_server_ctx(tls_cert, tls_key, tls_client_ca, err,
					   sizeof(err), &which);
		if (!cl.tls) {
			log_err("%s %s",
				which == RT_TLS_CA ? "--tls-client-ca" :
				which == RT_TLS_CERT ? "--tls-cert" : "--tls-key",
				err);
			free(cl.token);
			return 2;
		}
		if (!tls_client_ca)
			log_info("TLS without client certificates: peers are not authenticated%s",
				 cl.token ? " beyond the token" : " (consider --token-file or --tls-client-ca)");
	}
	r = mkdir_p(cl.dir);
	if (r < 0) {
		log_err("'%s': %s", cl.dir, strerror(-r));
		free(cl.token);
		SSL_CTX_free(cl.tls);
		return 1;
	}
	/* the state files are one collector's: a second one would corrupt them */
	lock_fd = lock_dir(cl.dir);
	if (lock_fd < 0) {
		free(cl.token);
		SSL_CTX_free(cl.tls);
		return 1;
	}
	r = setup(&cl);
	for (int i = 0; i < nr_listen && !r; i++)
		r = add_listener(&cl, listen_addrs[i]);
	if (!r) {
		cl.t_stats = rt_now_ms();
		log_info("collecting into %s", cl.dir);
		r = loop(&cl);
		log_info("stopping");
		shutdown_all(&cl);
	}
	for (int i = 0; i < cl.nr_ls; i++) {
		if (cl.ls[i].fd >= 0)
			close(cl.ls[i].fd);
		if (cl.ls[i].unix_path)
			unlink(cl.ls[i].unix_path);
		free(cl.ls[i].unix_path);
	}
	if (cl.epfd >= 0)
		close(cl.epfd);
	if (cl.sigfd >= 0)
		close(cl.sigfd);
	if (cl.timerfd >= 0)
		close(cl.timerfd);
	free(cl.token);
	SSL_CTX_free(cl.tls);
	close(lock_fd);
	return r < 0 ? 1 : 0;
}
