// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap collect --from nats://...: the capture streams that ringtapd's
 * nats outputs publish to JetStream, written to the same files a socket
 * collector writes, <dir>/<host>/<boot_id>/cpu<N>-<index>.rtap
 * (docs/nats.md).
 *
 * Every message is one or more whole frames of one file (the first also
 * carries the preamble) with its place in that file in its headers.  The
 * collector checks the frames and writes them there with pwrite(), so the
 * order messages arrive in does not matter, and a message written twice
 * (redelivered, or published twice) writes the same bytes at the same
 * place: files never hold anything twice.  Several collectors with the same
 * --durable share one pull consumer, JetStream hands each message to one of
 * them, and they write into one directory tree.
 *
 * A batch of messages is written, the files touched are fdatasync'ed (and
 * directories that got a new entry fsync'ed), and only then are the
 * messages acknowledged: what JetStream forgets is on disk.  What was not
 * acknowledged (a collector killed mid-batch) is delivered again after the
 * consumer's AckWait.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "ringtap/clock.h"
#include "ringtap/config.h"
#include "ringtap/log.h"
#include "ringtap/stream_format.h"
#include "collect.h"
#include "collect_nats.h"

#define OWNER_FILE ".capture_id"
#define MAX_OPEN 64   /* files kept open */
#define MAX_DIRS 256  /* capture directories remembered */
#define MAX_BATCH 4096

struct cdir {
	char *host, *boot, *capture;
	char *path;
	int fd;
	bool dirty; /* a new entry not yet fsync'ed */
};

struct ofile {
	struct cdir *d;
	uint32_t cpu, index;
	int fd;
	bool touched;
	uint64_t used; /* LRU clock */
};

struct ncollect {
	const char *root;
	const char *urls, *stream, *prefix, *durable;
	const char *token_file, *creds, *tls_ca, *tls_cert, *tls_key;
	bool insecure, create_stream;
	int replicas;
	int64_t max_bytes;
	int64_t ack_wait_ms;
	int batch;
	unsigned int idle_exit_s;

	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;

	struct cdir *dirs[MAX_DIRS];
	int nr_dirs;
	struct ofile files[MAX_OPEN];
	uint64_t clock;

	uint64_t msgs, bytes, bad, redelivered;
	struct timespec last; /* CLOCK_REALTIME of the last message written */
};

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap collect --from nats://HOST:PORT[,URL...] -d DIR [OPTIONS]\n"
		"Consume the capture streams ringtapd's nats outputs publish to JetStream and\n"
		"write them to DIR/<host>/<boot_id>/cpu<N>-<index>.rtap (docs/nats.md).\n"
		"Collectors with the same --durable share the load; they must share DIR.\n\n"
		"      --from URLS          NATS servers, nats:// or tls://, comma-separated\n"
		"  -d, --dir DIR            where captures are written\n"
		"      --stream NAME        JetStream stream (default RINGTAP)\n"
		"      --subject-prefix P   subjects P.<host>.<cpu> (default ringtap)\n"
		"      --durable NAME       the durable pull consumer, shared by collectors\n"
		"                           (default ringtap-collect)\n"
		"      --create-stream      create the stream if it is missing\n"
		"      --replicas N         replicas of a stream it creates (default 1)\n"
		"      --stream-max-bytes S size limit of a stream it creates (default none)\n"
		"      --ack-wait SECONDS   redelivery after a collector died (default 30)\n"
		"      --batch N            messages per fetch (default 64)\n"
		"      --idle-exit SECONDS  exit once nothing is pending for that long\n"
		"      --token-file F       NATS token (F's content)\n"
		"      --creds F            NATS user credentials file (JWT and nkey seed)\n"
		"      --tls-ca F           verify the servers with this CA (PEM; default:\n"
		"                           the system store)\n"
		"      --tls-cert F, --tls-key F   a client certificate and its key (PEM)\n"
		"      --insecure           plain nats://, without TLS (the default is TLS\n"
		"                           for nats:// and tls:// alike)\n"
		"  -q, --quiet              only warnings and errors\n"
		"  -h, --help               this help\n");
}

/* ---- where the bytes go ---- */

/* A name used as a path component: printable, no '/', no "..", not hidden
 * (as cli/collect.c checks HELLO's). */
static bool name_ok(const char *v, size_t max)
{
	size_t len = strlen(v);

	if (!len || len > max || v[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f || v[i] == '/' ||
		    v[i] == '\\' || (v[i] == '.' && v[i + 1] == '.'))
			return false;
	return true;
}

/* 1: @path/.capture_id names @capture; 0: another; -ENOENT: none yet. */
static int owner_is(int dfd, const char *capture)
{
	char owner[COLLECT_ID_MAX + 1];
	ssize_t n;
	int fd = openat(dfd, OWNER_FILE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, owner, sizeof(owner) - 1);
	close(fd);
	owner[n > 0 ? n : 0] = 0;
	return !strcmp(owner, capture);
}

/*
 * The directory of a capture, as cli/collect_store.c chooses it:
 * <root>/<host>/<boot>, owned by the first capture that wrote there
 * (.capture_id), else <root>/<host>/<boot>.<capture>.  Several collectors
 * may race here: .capture_id is written aside and linked into place, so it
 * appears whole or not at all.
 */
static int capture_dir(struct ncollect *nc, const char *host, const char *boot,
		       const char *capture, struct cdir **ret)
{
	char *path = NULL, tmp[64];
	struct cdir *d;
	int r = 0, dfd = -1;

	for (int i = 0; i < nc->nr_dirs; i++) {
		d = nc->dirs[i];
		if (!strcmp(d->host, host) && !strcmp(d->boot, boot) &&
		    !strcmp(d->capture, capture)) {
			*ret = d;
			return 0;
		}
	}
	if (asprintf(&path, "%s/%s", nc->root, host) < 0)
		return -ENOMEM;
	r = collect_mkdir_sync(path);
	free(path);
	path = NULL;
	if (r < 0)
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		free(path);
		path = NULL;
		if ((pass == 0 && asprintf(&path, "%s/%s/%s", nc->root, host, boot) < 0) ||
		    (pass == 1 && asprintf(&path, "%s/%s/%s.%s", nc->root, host, boot,
					   capture) < 0)) {
			path = NULL;
			r = -ENOMEM;
			goto out;
		}
		r = collect_mkdir_sync(path);
		if (r < 0)
			goto out;
		dfd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (dfd < 0) {
			r = -errno;
			goto out;
		}
		for (;;) {
			int fd;

			r = owner_is(dfd, capture);
			if (r != -ENOENT)
				break;
			snprintf(tmp, sizeof(tmp), ".capture_id.%d.tmp", getpid());
			fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				    0644);
			if (fd < 0) {
				r = -errno;
				break;
			}
			if (write(fd, capture, strlen(capture)) != (ssize_t)strlen(capture) ||
			    fsync(fd) < 0) {
				r = -EIO;
				close(fd);
				unlinkat(dfd, tmp, 0);
				break;
			}
			close(fd);
			r = linkat(dfd, tmp, dfd, OWNER_FILE, 0) < 0 ? -errno : 1;
			unlinkat(dfd, tmp, 0);
			if (r == 1) {
				fsync(dfd);
				break;
			}
			if (r != -EEXIST)
				break;
			/* another collector was first: read its owner */
		}
		if (r == 1)
			break;
		close(dfd);
		dfd = -1;
		if (r < 0)
			goto out;
		r = -EEXIST; /* owned by another capture: the next pass */
	}
	if (r != 1)
		goto out;
	if (nc->nr_dirs == MAX_DIRS) {
		/* forget the oldest (its files are closed first by the caller) */
		struct cdir *old = nc->dirs[0];

		for (int i = 0; i < MAX_OPEN; i++)
			if (nc->files[i].d == old && nc->files[i].fd >= 0) {
				close(nc->files[i].fd);
				nc->files[i].fd = -1;
				nc->files[i].d = NULL;
			}
		if (old->dirty)
			fsync(old->fd);
		close(old->fd);
		free(old->host);
		free(old->boot);
		free(old->capture);
		free(old->path);
		free(old);
		memmove(nc->dirs, nc->dirs + 1, (MAX_DIRS - 1) * sizeof(*nc->dirs));
		nc->nr_dirs--;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		r = -ENOMEM;
		goto out;
	}
	d->host = strdup(host);
	d->boot = strdup(boot);
	d->capture = strdup(capture);
	d->path = path;
	d->fd = dfd;
	path = NULL;
	dfd = -1;
	nc->dirs[nc->nr_dirs++] = d;
	*ret = d;
	r = 0;
out:
	if (r < 0 && r != -ENOMEM)
		log_err("%s/%s/%s: cannot use a capture directory: %s", nc->root,
			host, boot, r == -EEXIST ? "owned by other captures" :
						    strerror(-r));
	if (dfd >= 0)
		close(dfd);
	free(path);
	return r < 0 ? r : 0;
}

static struct ofile *get_file(struct ncollect *nc, struct cdir *d,
			      uint32_t cpu, uint32_t index)
{
	struct ofile *f = NULL, *lru = &nc->files[0];
	char name[64];
	int fd;

	for (int i = 0; i < MAX_OPEN; i++) {
		struct ofile *o = &nc->files[i];

		if (o->fd >= 0 && o->d == d && o->cpu == cpu && o->index == index) {
			o->used = ++nc->clock;
			return o;
		}
		if (o->fd < 0)
			lru = o;
		else if (lru->fd >= 0 && o->used < lru->used)
			lru = o;
	}
	f = lru;
	if (f->fd >= 0) {
		/* the batch's data must still be synced before its acks */
		if (f->touched && fdatasync(f->fd) < 0)
			log_err("fdatasync %s/cpu%u-%06u.rtap: %m", f->d->path,
				f->cpu, f->index);
		close(f->fd);
		f->fd = -1;
	}
	snprintf(name, sizeof(name), "cpu%u-%06u.rtap", cpu, index);
	fd = openat(d->fd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(d->fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		d->dirty = true;
	}
	if (fd < 0) {
		log_err("cannot open '%s/%s': %m", d->path, name);
		return NULL;
	}
	*f = (struct ofile){ .d = d, .cpu = cpu, .index = index, .fd = fd,
			     .used = ++nc->clock };
	return f;
}

/* ---- checking a message ---- */

struct where {
	const char *host, *boot, *capture;
	uint32_t cpu, index;
	uint64_t offset;
};

static bool header_u64(natsMsg *m, const char *key, uint64_t max,
		       uint64_t *ret)
{
	const char *v = NULL;

	return natsMsgHeader_Get(m, key, &v) == NATS_OK &&
	       rt_parse_u64(v, 0, max, ret) == 0;
}

static const char *parse_where(natsMsg *m, struct where *w)
{
	uint64_t v;

	if (natsMsgHeader_Get(m, "Ringtap-Host", &w->host) != NATS_OK ||
	    !name_ok(w->host, COLLECT_NAME_MAX))
		return "Ringtap-Host missing or not usable as a directory name";
	if (natsMsgHeader_Get(m, "Ringtap-Boot", &w->boot) != NATS_OK ||
	    !name_ok(w->boot, COLLECT_ID_MAX))
		return "Ringtap-Boot missing or not usable as a directory name";
	if (natsMsgHeader_Get(m, "Ringtap-Capture", &w->capture) != NATS_OK ||
	    !name_ok(w->capture, COLLECT_ID_MAX))
		return "Ringtap-Capture missing or not usable as a directory name";
	if (!header_u64(m, "Ringtap-Cpu", COLLECT_CPU_MAX - 1, &v))
		return "Ringtap-Cpu missing or out of range";
	w->cpu = (uint32_t)v;
	if (!header_u64(m, "Ringtap-File", UINT32_MAX, &v))
		return "Ringtap-File missing or out of range";
	w->index = (uint32_t)v;
	if (!header_u64(m, "Ringtap-Offset", (uint64_t)1 << 50, &v))
		return "Ringtap-Offset missing or out of range";
	w->offset = v;
	return NULL;
}

/* The HEADER's FILE_INDEX, FILE_CPU and CAPTURE_ID against the headers. */
static const char *check_header_records(const uint8_t *p, size_t n,
					const struct where *w)
{
	size_t off = 0;
	uint16_t tag;
	const uint8_t *val;
	uint32_t len, u;
	bool index = false;
	int r;

	while ((r = rt_record_next(p, n, &off, &tag, &val, &len)) == 1) {
		if (tag == RT_TAG_FILE_INDEX && len == 4) {
			memcpy(&u, val, 4);
			if (u != w->index)
				return "HEADER's FILE_INDEX is not Ringtap-File";
			index = true;
		} else if (tag == RT_TAG_FILE_CPU && len == 4) {
			memcpy(&u, val, 4);
			if (u != w->cpu)
				return "HEADER's FILE_CPU is not Ringtap-Cpu";
		} else if (tag == RT_TAG_CAPTURE_ID) {
			if (len != strlen(w->capture) ||
			    memcmp(val, w->capture, len))
				return "HEADER's CAPTURE_ID is not Ringtap-Capture";
		}
	}
	if (r < 0)
		return "malformed HEADER records";
	return index ? NULL : "HEADER without FILE_INDEX";
}

/* The message's bytes: whole, checked frames of CPU w->cpu. */
static const char *check_frames(const uint8_t *p, size_t n,
				const struct where *w)
{
	size_t at = 0;

	if (w->offset == 0) {
		struct rt_preamble pre; /* message data is not aligned */

		if (n < RT_PREAMBLE_SIZE)
			return "offset 0 without a preamble";
		memcpy(&pre, p, sizeof(pre));
		if (rt_preamble_check(&pre) < 0)
			return "offset 0 without a valid preamble";
		at = RT_PREAMBLE_SIZE;
	} else if (w->offset < RT_PREAMBLE_SIZE || w->offset % 8) {
		return "Ringtap-Offset is not a frame boundary";
	}
	if (at == n)
		return "no frame";
	while (at < n) {
		struct rt_frame_hdr h;
		const char *why;
		size_t total;
		uint32_t crc;

		if (n - at < RT_FRAME_HDR_SIZE)
			return "a partial frame header";
		memcpy(&h, p + at, sizeof(h));
		if (h.magic != RT_FRAME_MAGIC || rt_frame_hdr_check(&h) < 0)
			return "bad frame header";
		if (h.cpu != w->cpu && h.cpu != RT_CPU_NONE)
			return "frame of another CPU";
		total = RT_FRAME_HDR_SIZE + rt_pad8(h.len);
		if (total > n - at)
			return "a partial frame";
		if ((w->offset + at == RT_PREAMBLE_SIZE) != (h.type == RT_FRAME_HEADER))
			return "HEADER frame not at the start of the file";
		if (rt_frame_payload_crc(&h, p + at + RT_FRAME_HDR_SIZE, &crc,
					 &why) < 0)
			return why;
		if (crc != h.payload_crc)
			return "bad payload checksum";
		for (size_t i = h.len; i < rt_pad8(h.len); i++)
			if (p[at + RT_FRAME_HDR_SIZE + i])
				return "nonzero padding";
		if (h.type == RT_FRAME_HEADER) {
			why = check_header_records(p + at + RT_FRAME_HDR_SIZE,
						   h.len, w);
			if (why)
				return why;
		}
		at += total;
	}
	return NULL;
}

enum { MSG_OK, MSG_BAD, MSG_RETRY };

static int write_msg(struct ncollect *nc, natsMsg *m)
{
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);
	size_t n = (size_t)natsMsg_GetDataLength(m), done = 0;
	const char *why;
	struct where w;
	struct cdir *d = NULL;
	struct ofile *f;

	why = parse_where(m, &w);
	if (!why)
		why = check_frames(p, n, &w);
	if (why) {
		log_err("message on %s refused: %s", natsMsg_GetSubject(m), why);
		return MSG_BAD;
	}
	if (capture_dir(nc, w.host, w.boot, w.capture, &d) < 0)
		return MSG_RETRY;
	f = get_file(nc, d, w.cpu, w.index);
	if (!f)
		return MSG_RETRY;
	while (done < n) {
		ssize_t k = pwrite(f->fd, p + done, n - done,
				   (off_t)(w.offset + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			log_err("cannot write to '%s/cpu%u-%06u.rtap': %s", d->path,
				w.cpu, w.index, k < 0 ? strerror(errno) : "short write");
			return MSG_RETRY;
		}
		done += (size_t)k;
	}
	f->touched = true;
	clock_gettime(CLOCK_REALTIME, &nc->last);
	nc->msgs++;
	nc->bytes += n;
	return MSG_OK;
}

/* Everything written so far on disk: then it may be acknowledged. */
static int sync_all(struct ncollect *nc)
{
	int r = 0;

	for (int i = 0; i < MAX_OPEN; i++) {
		struct ofile *f = &nc->files[i];

		if (f->fd < 0 || !f->touched)
			continue;
		if (fdatasync(f->fd) < 0) {
			log_err("fdatasync '%s/cpu%u-%06u.rtap': %m", f->d->path,
				f->cpu, f->index);
			r = -EIO;
		}
		f->touched = false;
	}
	for (int i = 0; i < nc->nr_dirs; i++) {
		struct cdir *d = nc->dirs[i];

		if (d->dirty && fsync(d->fd) < 0) {
			log_err("fsync '%s': %m", d->path);
			r = -EIO;
		}
		d->dirty = false;
	}
	return r;
}

/* ---- NATS ---- */

static char *read_token(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_err("cannot read --token-file '%s': %m", path);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n <= 0 || (size_t)n >= sizeof(buf)) {
		log_err("--token-file '%s' is empty or too long", path);
		return NULL;
	}
	return strndup(buf, n);
}

static _Atomic bool closing;

static void on_disconnected(natsConnection *c, void *closure)
{
	(void)c;
	(void)closure;
	if (!closing)
		log_warn("disconnected from NATS; reconnecting");
}

static void on_reconnected(natsConnection *c, void *closure)
{
	char url[256] = "";

	(void)closure;
	natsConnection_GetConnectedUrl(c, url, sizeof(url));
	log_info("reconnected to NATS %s", url);
}

static int connect_nats(struct ncollect *nc)
{
	char *urls = strdup(nc->urls), *save = NULL, *tok, *token = NULL;
	const char *servers[64];
	int nr = 0;
	natsStatus s;
	bool tls = !nc->insecure; /* as the daemon's nats outputs */

	if (!urls)
		return -ENOMEM;
	for (tok = strtok_r(urls, ",", &save); tok && nr < 64;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "nats://", 7) && strncmp(tok, "tls://", 6)) {
			log_err("--from: '%s' is not nats://HOST:PORT or tls://HOST:PORT",
				tok);
			free(urls);
			return -EINVAL;
		}
		if (!tls && !strncmp(tok, "tls://", 6)) {
			log_err("--from: '%s' asks for TLS, but --insecure sends plain nats://: remove one of them",
				tok);
			free(urls);
			return -EINVAL;
		}
		servers[nr++] = tok;
	}
	if (!nr) {
		log_err("--from: no server");
		free(urls);
		return -EINVAL;
	}
	if (nc->token_file && !(token = read_token(nc->token_file))) {
		free(urls);
		return -EINVAL;
	}
	s = natsOptions_Create(&nc->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(nc->opts, servers, nr);
	if (s == NATS_OK)
		s = natsOptions_SetName(nc->opts, "ringtap collect");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(nc->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(nc->opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(nc->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(nc->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(nc->opts, on_disconnected, nc);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(nc->opts, on_reconnected, nc);
	if (s == NATS_OK && token)
		s = natsOptions_SetToken(nc->opts, token);
	if (s == NATS_OK && nc->creds)
		s = natsOptions_SetUserCredentialsFromFiles(nc->opts, nc->creds, NULL);
	if (s == NATS_OK && tls)
		s = natsOptions_SetSecure(nc->opts, true);
	if (s == NATS_OK && nc->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(nc->opts, nc->tls_ca);
	if (s == NATS_OK && nc->tls_cert)
		s = natsOptions_LoadCertificatesChain(nc->opts, nc->tls_cert,
						      nc->tls_key);
	free(token);
	free(urls);
	if (s != NATS_OK) {
		log_err("NATS client options: %s", nats_GetLastError(NULL));
		return -EINVAL;
	}
	/* the broker may be starting: try for a while */
	for (int i = 0; i < 40 && !stop_sig; i++) {
		s = natsConnection_Connect(&nc->nc, nc->opts);
		if (s == NATS_OK)
			break;
		if (i == 0)
			log_warn("cannot connect to NATS %s: %s; retrying",
				 nc->urls, nats_GetLastError(NULL));
		usleep(250000);
	}
	if (s != NATS_OK) {
		log_err("cannot connect to NATS %s: %s", nc->urls,
			nats_GetLastError(NULL));
		return -ECONNREFUSED;
	}
	s = natsConnection_JetStream(&nc->js, nc->nc, NULL);
	if (s != NATS_OK) {
		log_err("JetStream: %s", nats_GetLastError(NULL));
		return -EIO;
	}
	return 0;
}

static int ensure_stream(struct ncollect *nc)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	char subj[300];
	const char *subjects[1] = { subj };

	snprintf(subj, sizeof(subj), "%s.>", nc->prefix);
	for (int i = 0; i < 20; i++) {
		s = js_GetStreamInfo(&si, nc->js, nc->stream, NULL, &jerr);
		if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS)
			break;
		usleep(500000); /* JetStream not ready yet (cluster forming) */
	}
	if (s == NATS_NOT_FOUND && nc->create_stream) {
		jsStreamConfig sc;

		jsStreamConfig_Init(&sc);
		sc.Name = nc->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Retention = js_WorkQueuePolicy;
		sc.Discard = js_DiscardNew;
		sc.Storage = js_FileStorage;
		sc.Replicas = nc->replicas;
		sc.MaxBytes = nc->max_bytes ? nc->max_bytes : -1;
		sc.MaxMsgSize = -1;
		sc.Duplicates = 120ll * 1000000000ll;
		/* a cluster still forming has no peers to place replicas on */
		for (int i = 0; i < 30; i++) {
			s = js_AddStream(&si, nc->js, &sc, NULL, &jerr);
			if (s == NATS_OK || jerr == JSStreamNameExistErr ||
			    (jerr != JSClusterNoPeersErr && s != NATS_TIMEOUT &&
			     s != NATS_NO_RESPONDERS))
				break;
			usleep(500000);
		}
		if (s == NATS_OK)
			log_notice("created JetStream stream '%s' (subjects %s, work queue, file storage, %d replicas)",
				   nc->stream, subj, nc->replicas);
		else if (jerr == JSStreamNameExistErr)
			s = js_GetStreamInfo(&si, nc->js, nc->stream, NULL, &jerr);
	}
	if (s == NATS_OK)
		log_info("stream '%s': %d replicas, leader %s", nc->stream,
			 (int)si->Config->Replicas,
			 si->Cluster && si->Cluster->Leader ? si->Cluster->Leader :
							       "(standalone)");
	if (s != NATS_OK) {
		log_err("JetStream stream '%s' on %s: %s (error %d)%s", nc->stream,
			nc->urls, nats_GetLastError(NULL), (int)jerr,
			s == NATS_NOT_FOUND ? ": create it (docs/nats.md) or use --create-stream" : "");
		jsStreamInfo_Destroy(si);
		return -ENOENT;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

static int ensure_consumer(struct ncollect *nc)
{
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;
	char subj[300];

	snprintf(subj, sizeof(subj), "%s.>", nc->prefix);
	s = js_GetConsumerInfo(&ci, nc->js, nc->stream, nc->durable, NULL, &jerr);
	if (s == NATS_NOT_FOUND) {
		jsConsumerConfig_Init(&cc);
		cc.Durable = nc->durable;
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = nc->ack_wait_ms * 1000000;
		cc.DeliverPolicy = js_DeliverAll;
		cc.FilterSubject = subj;
		cc.MaxDeliver = -1;
		cc.MaxAckPending = 20000;
		s = js_AddConsumer(&ci, nc->js, nc->stream, &cc, NULL, &jerr);
		if (s == NATS_OK)
			log_notice("created durable consumer '%s' on stream '%s' (ack wait %lld s)",
				   nc->durable, nc->stream,
				   (long long)(nc->ack_wait_ms / 1000));
		else /* another collector was first */
			s = js_GetConsumerInfo(&ci, nc->js, nc->stream,
					       nc->durable, NULL, &jerr);
	}
	if (s != NATS_OK) {
		log_err("consumer '%s' of stream '%s': %s (error %d)", nc->durable,
			nc->stream, nats_GetLastError(NULL), (int)jerr);
		jsConsumerInfo_Destroy(ci);
		return -EIO;
	}
	jsConsumerInfo_Destroy(ci);
	jsSubOptions_Init(&so);
	so.Stream = nc->stream;
	so.Consumer = nc->durable; /* bind: never deleted by us */
	s = js_PullSubscribe(&nc->sub, nc->js, subj, nc->durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		log_err("pull subscription to '%s' of stream '%s': %s (error %d)",
			nc->durable, nc->stream, nats_GetLastError(NULL), (int)jerr);
		return -EIO;
	}
	return 0;
}

/* Nothing for this consumer to deliver or to wait acknowledgements for. */
static bool consumer_idle(struct ncollect *nc)
{
	jsConsumerInfo *ci = NULL;
	bool idle;

	if (js_GetConsumerInfo(&ci, nc->js, nc->stream, nc->durable, NULL,
			       NULL) != NATS_OK)
		return false;
	idle = ci->NumPending == 0 && ci->NumAckPending == 0;
	jsConsumerInfo_Destroy(ci);
	return idle;
}

static int loop(struct ncollect *nc)
{
	int verdict[MAX_BATCH];
	uint64_t idle_since = rt_now_ms();
	int r = 0;

	while (!stop_sig) {
		natsMsgList list = { 0 };
		jsErrCode jerr = 0;
		natsStatus s = natsSubscription_Fetch(&list, nc->sub, nc->batch,
						      1000, &jerr);

		if (s == NATS_TIMEOUT || (s == NATS_OK && !list.Count)) {
			natsMsgList_Destroy(&list);
			if (nc->idle_exit_s &&
			    rt_now_ms() - idle_since >= nc->idle_exit_s * 1000ull &&
			    consumer_idle(nc)) {
				log_info("nothing pending for %u s: done",
					 nc->idle_exit_s);
				break;
			}
			continue;
		}
		if (s != NATS_OK) {
			static uint64_t last;

			if (rt_now_ms() - last > 5000)
				log_warn("fetch from consumer '%s': %s (error %d); retrying",
					 nc->durable, natsStatus_GetText(s), (int)jerr);
			last = rt_now_ms();
			natsMsgList_Destroy(&list);
			usleep(200000);
			continue;
		}
		idle_since = rt_now_ms();
		for (int i = 0; i < list.Count; i++)
			verdict[i] = write_msg(nc, list.Msgs[i]);
		if (sync_all(nc) < 0) {
			/* nothing of this batch may be acknowledged */
			for (int i = 0; i < list.Count; i++)
				if (verdict[i] == MSG_OK)
					verdict[i] = MSG_RETRY;
		}
		for (int i = 0; i < list.Count; i++) {
			natsMsg *m = list.Msgs[i];

			if (verdict[i] == MSG_OK)
				natsMsg_Ack(m, NULL);
			else if (verdict[i] == MSG_BAD) {
				nc->bad++;
				natsMsg_Term(m, NULL);
			} else {
				natsMsg_NakWithDelay(m, 1000, NULL);
			}
		}
		natsMsgList_Destroy(&list);
	}
	/* the last acknowledgements out before the connection closes */
	natsConnection_FlushTimeout(nc->nc, 2000);
	return r;
}

static int parse_num(const char *opt, const char *s, uint64_t min,
		     uint64_t max, uint64_t *ret)
{
	if (rt_parse_u64(s, min, max, ret) == 0)
		return 0;
	log_err("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64, opt, s,
		min, max);
	return -EINVAL;
}

int cmd_collect_nats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "dir", required_argument, NULL, 'd' },
		{ "stream", required_argument, NULL, 's' },
		{ "subject-prefix", required_argument, NULL, 'p' },
		{ "durable", required_argument, NULL, 'D' },
		{ "create-stream", no_argument, NULL, 'C' },
		{ "replicas", required_argument, NULL, 'R' },
		{ "stream-max-bytes", required_argument, NULL, 'B' },
		{ "ack-wait", required_argument, NULL, 'A' },
		{ "batch", required_argument, NULL, 'b' },
		{ "idle-exit", required_argument, NULL, 'E' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "creds", required_argument, NULL, 'c' },
		{ "tls-ca", required_argument, NULL, '1' },
		{ "tls-cert", required_argument, NULL, '2' },
		{ "tls-key", required_argument, NULL, '3' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct ncollect nc = {
		.stream = "RINGTAP", .prefix = "ringtap",
		.durable = "ringtap-collect", .replicas = 1,
		.ack_wait_ms = 30000, .batch = 64,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t v, sz;
	int c, r = 0;

	optind = 0;
	while (!r && (c = getopt_long(argc, argv, "d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': nc.urls = optarg; break;
		case 'd': nc.root = optarg; break;
		case 's': nc.stream = optarg; break;
		case 'p': nc.prefix = optarg; break;
		case 'D': nc.durable = optarg; break;
		case 'C': nc.create_stream = true; break;
		case 'R':
			r = parse_num("--replicas", optarg, 1, 5, &v);
			nc.replicas = (int)v;
			break;
		case 'B':
			r = rt_parse_size(optarg, &sz);
			if (r < 0)
				log_err("--stream-max-bytes: '%s' is not a size", optarg);
			nc.max_bytes = (int64_t)sz;
			break;
		case 'A':
			r = parse_num("--ack-wait", optarg, 1, 86400, &v);
			nc.ack_wait_ms = v * 1000;
			break;
		case 'b':
			r = parse_num("--batch", optarg, 1, MAX_BATCH, &v);
			nc.batch = (int)v;
			break;
		case 'E':
			r = parse_num("--idle-exit", optarg, 1, 86400, &v);
			nc.idle_exit_s = (unsigned int)v;
			break;
		case 'T': nc.token_file = optarg; break;
		case 'c': nc.creds = optarg; break;
		case '1': nc.tls_ca = optarg; break;
		case '2': nc.tls_cert = optarg; break;
		case '3': nc.tls_key = optarg; break;
		case 'I': nc.insecure = true; break;
		case 'q': rt_log_set_level(LOG_WARNING); break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (r < 0)
		return 2;
	if (optind < argc || !nc.root || !nc.urls) {
		usage(stderr);
		return 2;
	}
	if (!!nc.tls_cert != !!nc.tls_key) {
		log_err("--tls-cert and --tls-key go together");
		return 2;
	}
	if (nc.insecure && (nc.tls_ca || nc.tls_cert)) {
		log_err("--insecure (plain nats://) and --tls-%s (TLS) exclude each other",
			nc.tls_ca ? "ca" : "cert");
		return 2;
	}
	for (int i = 0; i < MAX_OPEN; i++)
		nc.files[i].fd = -1;
	r = collect_mkdir_sync(nc.root);
	if (r < 0) {
		log_err("'%s': %s", nc.root, strerror(-r));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = connect_nats(&nc);
	if (!r)
		r = ensure_stream(&nc);
	if (!r)
		r = ensure_consumer(&nc);
	if (!r) {
		log_info("collecting into %s from %s (stream %s, consumer %s)",
			 nc.root, nc.urls, nc.stream, nc.durable);
		r = loop(&nc);
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		log_info("stopping: %" PRIu64 " messages (%" PRIu64 " bytes) written, %" PRIu64 " refused; CPU user %.3f s, system %.3f s; last write at %lld.%03ld",
			 nc.msgs, nc.bytes, nc.bad,
			 ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
			 ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
			 (long long)nc.last.tv_sec, nc.last.tv_nsec / 1000000);
	}
	sync_all(&nc);
	for (int i = 0; i < MAX_OPEN; i++)
		if (nc.files[i].fd >= 0)
			close(nc.files[i].fd);
	for (int i = 0; i < nc.nr_dirs; i++) {
		close(nc.dirs[i]->fd);
		free(nc.dirs[i]->host);
		free(nc.dirs[i]->boot);
		free(nc.dirs[i]->capture);
		free(nc.dirs[i]->path);
		free(nc.dirs[i]);
	}
	natsSubscription_Destroy(nc.sub);
	closing = true;
	if (nc.nc)
		natsConnection_Close(nc.nc);
	jsCtx_Destroy(nc.js);
	natsConnection_Destroy(nc.nc);
	natsOptions_Destroy(nc.opts);
	nats_CloseAndWait(2000);
	return r < 0 ? 1 : 0;
}
