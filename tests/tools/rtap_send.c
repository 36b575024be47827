// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rtap_send: replay a capture directory's files as transport channels
 * (docs/stream-protocol.md) into `ringtap collect`, for tests.
 *
 *   rtap_send -a ADDR [-c CPU | -A] [-H HOST] [-t TOKEN_FILE] [-r]
 *             [-s CHUNK] [-D DELAY_MS] [-T TIMEOUT_S] [-X MODE]
 *             [-C CA [-k CERT -K KEY] [-N NAME]] DIR
 *
 * ADDR is tcp:HOST:PORT, tcp:[V6]:PORT or unix:/PATH.  A channel is the
 * concatenation of the CPU's files cpu<N>-*.rtap in index order; boot id
 * and capture id come from the first file's HEADER, the host too unless
 * -H names one.  -A sends every CPU found, one process and connection each.
 * -r reconnects after a disconnect or a BUSY/CONFLICT answer and resumes
 * at the WELCOME offset; it fails if that offset is below an offset the
 * collector acknowledged before (acknowledged bytes must survive anything).
 * DATA messages carry CHUNK bytes (default 65536), DELAY_MS apart.
 *
 * -C CA speaks TLS over tcp:, verifying the collector's certificate
 * against CA and its name against NAME (default: the host of ADDR); -k and
 * -K present a client certificate.
 *
 * Exit: 0 everything acknowledged (or, with -X, the collector refused as
 * expected), 10 + status for a WELCOME refusal, 20 a failed TLS handshake,
 * 21 TLS failing after the handshake (a client certificate refused: TLS
 * 1.3 says so after the client's handshake is done), 1 other failures.
 *
 * -X MODE plays a hostile peer and expects the collector to close:
 *   garbage    random bytes instead of a message
 *   badcrc     a HELLO whose CRC is wrong
 *   hugehello  a HELLO header announcing 100 MiB
 *   huge       after WELCOME, a DATA header announcing 4 GiB
 *   slowloris  5 bytes of a header, then nothing
 *   idle       HELLO, then nothing
 *   gap        DATA 4096 bytes past the resume offset
 *   overlap    DATA at the resume offset twice
 *   badstream  the channel with one byte flipped at offset -O (default
 *              half-way)
 *   hold       HELLO, then hold the channel open until killed
 *   version    a HELLO with protocol version 2
 *   badname    a HELLO with host "../x"
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ringtap/stream_format.h"
#include "ringtap/tls.h"
#include "ringtap/transport.h"

struct opts {
	const char *addr, *host, *token_file, *mode, *dir;
	const char *ca, *cert, *key, *name;
	int cpu;
	bool all, reconnect;
	size_t chunk;
	unsigned int delay_ms, timeout_s;
	long long flip_at;
};

struct channel {
	uint8_t *bytes;
	size_t len;
	char host[256], boot[128], capture[128];
	char *token;
	uint64_t max_ack;
};

static struct opts o = { .cpu = -1, .chunk = 65536, .timeout_s = 60,
			 .flip_at = -1 };
static int cpu_id;
static SSL_CTX *tls_ctx;
static SSL *ssl;	/* the connection's, with -C */
static bool tls_broke;	/* TLS failed after the handshake */

#define say(...) (fprintf(stderr, "rtap_send cpu %d: ", cpu_id), \
		  fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int cmp_name(const struct dirent **a, const struct dirent **b)
{
	unsigned int ca, ia, cb, ib;

	sscanf((*a)->d_name, "cpu%u-%u", &ca, &ia);
	sscanf((*b)->d_name, "cpu%u-%u", &cb, &ib);
	return ia < ib ? -1 : ia > ib;
}

static int filter_cpu(const struct dirent *d)
{
	unsigned int c, i;
	int end = 0;

	return sscanf(d->d_name, "cpu%u-%u.rtap%n", &c, &i, &end) == 2 &&
	       (size_t)end == strlen(d->d_name) && (int)c == cpu_id;
}

static int append_file(struct channel *ch, const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);
	uint8_t *p;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		say("%s: %m", path);
		return -1;
	}
	p = realloc(ch->bytes, ch->len + (size_t)sb.st_size);
	if (!p || read(fd, p + ch->len, (size_t)sb.st_size) != sb.st_size) {
		say("%s: cannot read", path);
		close(fd);
		return -1;
	}
	close(fd);
	ch->bytes = p;
	ch->len += (size_t)sb.st_size;
	return 0;
}

static void copy_rec(char *dst, size_t max, const uint8_t *v, uint32_t len)
{
	if (len >= max)
		len = (uint32_t)max - 1;
	memcpy(dst, v, len);
	dst[len] = 0;
}

static int load(struct channel *ch)
{
	struct dirent **names;
	struct rt_reader *r;
	struct rt_frame f;
	char path[4096];
	int n, ret = 0;
	size_t off = 0;
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;

	n = scandir(o.dir, &names, filter_cpu, cmp_name);
	if (n <= 0) {
		say("no files cpu%d-*.rtap in %s", cpu_id, o.dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", o.dir, names[i]->d_name);
		if (!ret)
			ret = append_file(ch, path);
		if (i == 0 && !ret) {
			if (rt_reader_open(path, &r) < 0 ||
			    rt_reader_next(r, &f) != RT_READ_OK) {
				say("%s: no HEADER", path);
				ret = -1;
			} else {
				while (rt_record_next(f.payload, f.hdr.len, &off,
						      &tag, &val, &len) == 1) {
					if (tag == RT_TAG_HOSTNAME)
						copy_rec(ch->host, sizeof(ch->host), val, len);
					else if (tag == RT_TAG_BOOT_ID)
						copy_rec(ch->boot, sizeof(ch->boot), val, len);
					else if (tag == RT_TAG_CAPTURE_ID)
						copy_rec(ch->capture, sizeof(ch->capture), val, len);
				}
			}
			rt_reader_close(r);
		}
		free(names[i]);
	}
	free(names);
	if (o.host)
		snprintf(ch->host, sizeof(ch->host), "%s", o.host);
	return ret;
}

static int dial(void)
{
	int fd = -1;
	struct timeval tv = { .tv_sec = 10 };

	if (!strncmp(o.addr, "unix:", 5)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o.addr + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
		}
	} else if (!strncmp(o.addr, "tcp:", 4)) {
		char host[256];
		const char *spec = o.addr + 4, *colon;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;

		if (spec[0] == '[') {
			colon = strchr(spec, ']') + 1;
			snprintf(host, sizeof(host), "%.*s", (int)(colon - spec - 2),
				 spec + 1);
		} else {
			colon = strrchr(spec, ':');
			snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		}
		if (getaddrinfo(host, colon + 1, &hints, &ai))
			return -1;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
	}
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd >= 0 && tls_ctx) {
		char name[256], why[256];
		const char *spec = o.addr + 4, *colon = strrchr(spec, ':');
		int r;

		if (o.name)
			snprintf(name, sizeof(name), "%s", o.name);
		else if (spec[0] == '[')
			snprintf(name, sizeof(name), "%.*s", (int)(colon - spec - 2),
				 spec + 1);
		else
			snprintf(name, sizeof(name), "%.*s", (int)(colon - spec), spec);
		ssl = SSL_new(tls_ctx);
		SSL_set_fd(ssl, fd);
		rt_tls_set_peer_name(ssl, name);
		tls_broke = false;
		r = SSL_connect(ssl);
		if (r != 1) {
			say("TLS handshake failed: %s", rt_tls_why(ssl, r, why, sizeof(why)));
			SSL_free(ssl);
			ssl = NULL;
			close(fd);
			return -2;
		}
	}
	return fd;
}

static void hangup(int fd)
{
	if (ssl) {
		SSL_free(ssl);
		ssl = NULL;
	}
	close(fd);
}

static ssize_t io_send(int fd, const void *p, size_t n)
{
	char why[256];
	int r;

	if (!ssl)
		return send(fd, p, n, MSG_NOSIGNAL);
	r = SSL_write(ssl, p, (int)n);
	if (r > 0)
		return r;
	say("TLS: %s", rt_tls_why(ssl, r, why, sizeof(why)));
	tls_broke = true;
	return -1;
}

/* @n bytes, or fewer at the end or on an error */
static ssize_t io_recv_all(int fd, void *p, size_t n)
{
	size_t got = 0;
	char why[256];

	if (!ssl)
		return recv(fd, p, n, MSG_WAITALL);
	while (got < n) {
		int r = SSL_read(ssl, (uint8_t *)p + got, (int)(n - got));

		if (r <= 0) {
			int e = SSL_get_error(ssl, r);

			if (e != SSL_ERROR_ZERO_RETURN &&
			    !(e == SSL_ERROR_SYSCALL && !errno)) {
				say("TLS: %s", rt_tls_why(ssl, r, why, sizeof(why)));
				tls_broke = true;
			}
			return got ? (ssize_t)got : r == 0 ? 0 : -1;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* poll() for input, counting what SSL holds already */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (ssl && SSL_pending(ssl) > 0)
		return 1;
	return poll(&p, 1, ms);
}

static int send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = io_send(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_msg(int fd, uint16_t type, const void *a, size_t alen,
		    const void *b, size_t blen, bool bad_crc)
{
	struct rt_msg_hdr h = { .magic = RT_MSG_MAGIC, .type = type,
				.len = (uint32_t)(alen + blen) };

	h.crc = rt_crc32c(0, a, alen) ^ (bad_crc ? 1 : 0);
	if (blen)
		h.crc = rt_crc32c(h.crc, b, blen);
	if (send_all(fd, &h, sizeof(h)) || send_all(fd, a, alen) ||
	    (blen && send_all(fd, b, blen)))
		return -1;
	return 0;
}

static int send_hello(int fd, const struct channel *ch, uint32_t version,
		      const char *host, bool bad_crc)
{
	struct rt_buf b = { 0 };
	uint32_t cpu = (uint32_t)cpu_id;
	int r;

	rt_record_add_u32(&b, RT_HELLO_PROTO_VERSION, version);
	rt_record_add_str(&b, RT_HELLO_HOST, host);
	rt_record_add_str(&b, RT_HELLO_BOOT_ID, ch->boot);
	rt_record_add_str(&b, RT_HELLO_CAPTURE_ID, ch->capture);
	rt_record_add_u32(&b, RT_HELLO_CPU, cpu);
	if (ch->token)
		rt_record_add_str(&b, RT_HELLO_TOKEN, ch->token);
	rt_record_add_str(&b, RT_HELLO_OUTPUT, "rtap_send");
	r = send_msg(fd, RT_MSG_HELLO, b.data, b.len, NULL, 0, bad_crc);
	rt_buf_free(&b);
	return r;
}

/* One whole message, blocking (SO_RCVTIMEO): 1, 0 at EOF, -1 on error. */
static int recv_msg(int fd, struct rt_msg_hdr *h, uint8_t *buf, size_t cap)
{
	ssize_t n = io_recv_all(fd, h, sizeof(*h));

	if (n == 0)
		return 0;
	if (n != sizeof(*h) || h->magic != RT_MSG_MAGIC || h->len > cap) {
		say("bad message from the collector (%zd bytes, magic 0x%x, len %u)",
		    n, n == sizeof(*h) ? h->magic : 0, n == sizeof(*h) ? h->len : 0);
		return -1;
	}
	if (h->len && io_recv_all(fd, buf, h->len) != (ssize_t)h->len)
		return -1;
	if (rt_crc32c(0, buf, h->len) != h->crc) {
		say("message from the collector with a bad CRC");
		return -1;
	}
	return 1;
}

/* Handle ACK/BYE from the collector; -1 fatal, 0 disconnected, 1 fine. */
static int handle(struct channel *ch, const struct rt_msg_hdr *h,
		  const uint8_t *buf)
{
	uint64_t ack;

	if (h->type == RT_MSG_ACK && h->len == 8) {
		memcpy(&ack, buf, 8);
		if (ack < ch->max_ack || ack > ch->len) {
			say("FAIL: ACK %" PRIu64 " after ACK %" PRIu64 " (channel %zu bytes)",
			    ack, ch->max_ack, ch->len);
			exit(4);
		}
		ch->max_ack = ack;
		return 1;
	}
	if (h->type == RT_MSG_BYE && h->len >= 4) {
		uint32_t reason;

		memcpy(&reason, buf, 4);
		say("BYE reason %u from the collector: %.*s", reason,
		    (int)h->len - 4, buf + 4);
		return 0;
	}
	say("unexpected message type %u from the collector", h->type);
	return -1;
}

/* Wait for the collector to close: 0 if it did within @secs. */
static int expect_close(int fd, double secs)
{
	double t0 = now(), deadline = t0 + secs;
	struct rt_msg_hdr h;
	uint8_t buf[RT_MSG_MAX_PAYLOAD];

	while (now() < deadline) {
		int r;

		if (readable(fd, 200) <= 0)
			continue;
		r = recv_msg(fd, &h, buf, sizeof(buf));
		if (r == 1 && h.type == RT_MSG_BYE && h.len >= 4) {
			say("BYE reason %u: %.*s", *(uint32_t *)buf, (int)h.len - 4,
			    buf + 4);
			continue;
		}
		if (r == 1 && h.type == RT_MSG_WELCOME && h.len >= 16) {
			say("WELCOME status %u: %.*s", *(uint32_t *)buf,
			    (int)h.len - 16, buf + 16);
			continue;
		}
		if (r == 1)
			continue;
		say("closed by the collector after %.1f s", now() - t0);
		return 0;
	}
	say("FAIL: the collector did not close within %.0f s", secs);
	return 1;
}

/* HELLO and WELCOME: the resume offset, or -(10 + status), or -1. */
static long long handshake(int fd, struct channel *ch, uint32_t version,
			   const char *host)
{
	struct rt_msg_hdr h;
	uint8_t buf[RT_MSG_MAX_PAYLOAD];
	struct rt_msg_welcome w;

	/* A collector may answer (BUSY) and close before the HELLO is all
	 * out: the send then fails, but its WELCOME is still there to read. */
	send_hello(fd, ch, version, host, false);
	if (recv_msg(fd, &h, buf, sizeof(buf)) != 1)
		return -1;
	if (h.type != RT_MSG_WELCOME || h.len < sizeof(w)) {
		say("expected WELCOME, got type %u", h.type);
		return -1;
	}
	memcpy(&w, buf, sizeof(w));
	if (w.status != RT_WELCOME_OK) {
		say("WELCOME status %u: %.*s", w.status, (int)(h.len - sizeof(w)),
		    buf + sizeof(w));
		return -(10 + (long long)w.status);
	}
	if (w.resume < ch->max_ack || w.resume > ch->len) {
		say("FAIL: resume offset %" PRIu64 ", but %" PRIu64 " was acknowledged (channel %zu bytes)",
		    w.resume, ch->max_ack, ch->len);
		exit(4);
	}
	/* the collector holds everything before it durably: as good as an ACK */
	ch->max_ack = w.resume;
	return (long long)w.resume;
}

static int send_data(int fd, uint64_t off, const uint8_t *p, size_t n)
{
	struct rt_msg_data d = { .offset = off };

	return send_msg(fd, RT_MSG_DATA, &d, sizeof(d), p, n, false);
}

static int hostile(struct channel *ch)
{
	const char *m = o.mode;
	int fd = dial();
	long long r;
	double wait = o.timeout_s;

	if (fd < 0) {
		if (fd == -2)
			return 20;
		say("cannot connect to %s: %m", o.addr);
		return 1;
	}
	if (!strcmp(m, "garbage")) {
		uint8_t junk[4096];

		srand((unsigned int)getpid());
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand();
		send_all(fd, junk, sizeof(junk));
	} else if (!strcmp(m, "badcrc")) {
		send_hello(fd, ch, RT_PROTO_VERSION, ch->host, true);
	} else if (!strcmp(m, "hugehello")) {
		struct rt_msg_hdr h = { RT_MSG_MAGIC, RT_MSG_HELLO, 0, 100u << 20, 0 };

		send_all(fd, &h, sizeof(h));
	} else if (!strcmp(m, "slowloris")) {
		struct rt_msg_hdr h = { RT_MSG_MAGIC, RT_MSG_HELLO, 0, 64, 0 };

		send_all(fd, &h, 5);
	} else if (!strcmp(m, "version") || !strcmp(m, "badname")) {
		r = handshake(fd, ch, !strcmp(m, "version") ? 2 : RT_PROTO_VERSION,
			      !strcmp(m, "version") ? ch->host : "../x");
		hangup(fd);
		return r == -(10 + (!strcmp(m, "version") ? RT_WELCOME_VERSION :
							     RT_WELCOME_BAD_REQUEST)) ? 0 : 1;
	} else {
		r = handshake(fd, ch, RT_PROTO_VERSION, ch->host);
		if (r < 0)
			return r < -1 ? (int)-r : 1;
		if (!strcmp(m, "hold")) {
			say("holding the channel");
			pause();
		} else if (!strcmp(m, "huge")) {
			struct rt_msg_hdr h = { RT_MSG_MAGIC, RT_MSG_DATA, 0,
						0xfffffff0u, 0 };

			send_all(fd, &h, sizeof(h));
		} else if (!strcmp(m, "gap")) {
			send_data(fd, (uint64_t)r + 4096, ch->bytes, 100);
		} else if (!strcmp(m, "overlap")) {
			send_data(fd, (uint64_t)r, ch->bytes + r, 100);
			send_data(fd, (uint64_t)r, ch->bytes + r, 100);
		} else if (!strcmp(m, "badstream")) {
			size_t at = o.flip_at >= 0 ? (size_t)o.flip_at : ch->len / 2;

			ch->bytes[at] ^= 0x40;
			for (size_t off = (size_t)r; off < ch->len; off += o.chunk) {
				size_t n = ch->len - off < o.chunk ? ch->len - off : o.chunk;

				if (send_data(fd, off, ch->bytes + off, n) < 0)
					break;
			}
		} else if (strcmp(m, "idle")) {
			say("unknown mode '%s'", m);
			return 2;
		}
	}
	r = expect_close(fd, wait);
	hangup(fd);
	return (int)r;
}

/* One connection: 1 done, 0 disconnected (retry), <0 exit status. */
static int session(struct channel *ch)
{
	struct rt_msg_hdr h;
	uint8_t buf[RT_MSG_MAX_PAYLOAD];
	long long r;
	uint64_t off;
	int fd = dial();

	if (fd < 0) {
		if (fd == -2 && !o.reconnect)
			return -20;
		say("cannot connect to %s: %m", o.addr);
		return 0;
	}
	r = handshake(fd, ch, RT_PROTO_VERSION, ch->host);
	if (r < 0) {
		hangup(fd);
		if (r == -1 && tls_broke && !o.reconnect)
			return -21;
		if (r == -1)
			return 0;
		if (o.reconnect && (r == -(10 + RT_WELCOME_BUSY) ||
				    r == -(10 + RT_WELCOME_CONFLICT)))
			return 0;
		return (int)r;
	}
	say("resuming at %lld of %zu", r, ch->len);
	for (off = (uint64_t)r; off < ch->len;) {
		size_t n = ch->len - off < o.chunk ? ch->len - off : o.chunk;
		if (send_data(fd, off, ch->bytes + off, n) < 0)
			goto gone;
		off += n;
		while (readable(fd, 0) > 0) {
			int k = recv_msg(fd, &h, buf, sizeof(buf));

			if (k != 1 || (k = handle(ch, &h, buf)) != 1)
				goto gone;
		}
		if (o.delay_ms)
			msleep(o.delay_ms);
	}
	while (ch->max_ack < ch->len) {
		int k = recv_msg(fd, &h, buf, sizeof(buf));

		if (k != 1 || (k = handle(ch, &h, buf)) != 1)
			goto gone;
	}
	{
		struct rt_msg_bye b = { .reason = RT_BYE_DONE };

		send_msg(fd, RT_MSG_BYE, &b, sizeof(b), NULL, 0, false);
	}
	hangup(fd);
	say("done: %zu bytes acknowledged", ch->len);
	return 1;
gone:
	say("disconnected at %" PRIu64 " (acknowledged %" PRIu64 ")", off,
	    ch->max_ack);
	hangup(fd);
	return tls_broke && !o.reconnect ? -21 : 0;
}

static int run_cpu(int cpu)
{
	struct channel ch = { 0 };
	double deadline = now() + o.timeout_s;
	int r;

	cpu_id = cpu;
	if (load(&ch) < 0)
		return 1;
	if (o.token_file) {
		FILE *f = fopen(o.token_file, "r");
		char line[4096];

		if (!f || !fgets(line, sizeof(line), f)) {
			say("cannot read %s", o.token_file);
			return 1;
		}
		fclose(f);
		line[strcspn(line, "\r\n")] = 0;
		ch.token = strdup(line);
	}
	if (o.mode)
		return hostile(&ch);
	for (;;) {
		r = session(&ch);
		if (r == 1)
			return 0;
		if (r < 0)
			return -r;
		if (!o.reconnect || now() > deadline) {
			say("FAIL: gave up (%zu bytes, %" PRIu64 " acknowledged)",
			    ch.len, ch.max_ack);
			return 1;
		}
		msleep(100);
	}
}

static int cpus_in_dir(int *cpus, int max)
{
	DIR *d = opendir(o.dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		unsigned int c, i;
		bool seen = false;

		if (sscanf(de->d_name, "cpu%u-%u.rtap", &c, &i) != 2)
			continue;
		for (int k = 0; k < n; k++)
			seen |= cpus[k] == (int)c;
		if (!seen && n < max)
			cpus[n++] = (int)c;
	}
	if (d)
		closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	int c, cpus[256], n, rc = 0;

	while ((c = getopt(argc, argv, "a:c:AH:t:rs:D:T:X:O:C:k:K:N:")) != -1) {
		switch (c) {
		case 'a': o.addr = optarg; break;
		case 'c': o.cpu = atoi(optarg); break;
		case 'A': o.all = true; break;
		case 'H': o.host = optarg; break;
		case 't': o.token_file = optarg; break;
		case 'r': o.reconnect = true; break;
		case 's': o.chunk = strtoul(optarg, NULL, 0); break;
		case 'D': o.delay_ms = (unsigned int)atoi(optarg); break;
		case 'T': o.timeout_s = (unsigned int)atoi(optarg); break;
		case 'X': o.mode = optarg; break;
		case 'O': o.flip_at = atoll(optarg); break;
		case 'C': o.ca = optarg; break;
		case 'k': o.cert = optarg; break;
		case 'K': o.key = optarg; break;
		case 'N': o.name = optarg; break;
		default:
			fprintf(stderr, "usage: rtap_send -a ADDR [-c CPU|-A] [-H HOST] [-t TOKEN_FILE] [-r] [-s CHUNK] [-D MS] [-T S] [-X MODE] DIR\n");
			return 2;
		}
	}
	if (optind != argc - 1 || !o.addr || (o.cpu < 0 && !o.all) || !o.chunk ||
	    o.chunk > (4u << 20)) {
		fprintf(stderr, "rtap_send: need -a ADDR, -c CPU or -A, and DIR\n");
		return 2;
	}
	o.dir = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	if (o.ca) {
		char err[512];
		enum rt_tls_file which;

		tls_ctx = rt_tls_client_ctx(o.ca, o.cert, o.key, err, sizeof(err),
					    &which);
		if (!tls_ctx) {
			fprintf(stderr, "rtap_send: %s\n", err);
			return 2;
		}
	}
	if (!o.all)
		return run_cpu(o.cpu);
	n = cpus_in_dir(cpus, 256);
	if (!n) {
		fprintf(stderr, "rtap_send: no capture files in %s\n", o.dir);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (fork() == 0)
			_exit(run_cpu(cpus[i]));
	}
	for (int i = 0; i < n; i++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			rc = WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
	}
	return rc;
}
