// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ringtap collect, the store: the bytes of one channel, checked as the
 * stream format and written to <dir>/<host>/<boot_id>/cpu<N>-<index>.rtap
 * (docs/stream-protocol.md, sections 3 and 4).
 *
 * A file's first bytes (preamble and HEADER frame) go to .cpu<N>.head until
 * the HEADER is complete and its FILE_INDEX known; the file is then renamed
 * to its name.  Every checked frame after that is a point that may be
 * acknowledged: store_checkpoint() fdatasyncs the file and atomically
 * rewrites .cpu<N>.state (channel offset, file, length, next frame number),
 * which is what a restarted collector resumes from.  Bytes past that point
 * (a partial or bad frame) are cut off when the channel closes, and again
 * when it is opened, so the capture only ever holds whole, checked frames.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "collect.h"

enum { P_PREAMBLE, P_FHDR, P_PAYLOAD };

#define STATE_MAGIC "ringtap-collect-state 1"
#define OWNER_FILE ".capture_id"

__attribute__((format(printf, 3, 4)))
static int fail(struct store *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return err;
}

static void file_name(const struct store *st, uint32_t index, char *buf,
		      size_t len)
{
	snprintf(buf, len, "cpu%u-%06u.rtap", st->cpu, index);
}

static void dot_name(const struct store *st, const char *what, char *buf,
		     size_t len)
{
	snprintf(buf, len, ".cpu%u.%s", st->cpu, what);
}

int collect_mkdir_sync(const char *path)
{
	char *parent, *slash;
	int fd;

	if (mkdir(path, 0755) == 0) {
		/* make the new entry durable: fsync its parent */
		parent = strdup(path);
		if (!parent)
			return -ENOMEM;
		slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = 0;
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		free(parent);
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

/*
 * The directory of a capture: <root>/<host>/<boot>, owned by the first
 * capture that wrote there (.capture_id).  A later capture of the same
 * boot (ringtapd restarted) starts its file indexes anew, so it goes to
 * <root>/<host>/<boot>.<capture> instead of mixing with the first.
 */
static int capture_dir(struct store *st, const char *root, char **ret)
{
	char *path = NULL, owner[COLLECT_ID_MAX + 1];
	int r, fd, pass;
	ssize_t n;

	for (pass = 0; pass < 2; pass++) {
		free(path);
		if (asprintf(&path, "%s/%s", root, st->host) < 0)
			return -ENOMEM;
		r = collect_mkdir_sync(path);
		free(path);
		if (r < 0)
			return fail(st, r, "cannot create '%s/%s': %s", root,
				    st->host, strerror(-r));
		if ((pass == 0 && asprintf(&path, "%s/%s/%s", root, st->host,
					   st->boot) < 0) ||
		    (pass == 1 && asprintf(&path, "%s/%s/%s.%s", root, st->host,
					   st->boot, st->capture) < 0))
			return -ENOMEM;
		r = collect_mkdir_sync(path);
		if (r < 0)
			break;
		fd = openat(AT_FDCWD, path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		r = openat(fd, OWNER_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			   0644);
		if (r >= 0) {
			n = write(r, st->capture, strlen(st->capture));
			fsync(r);
			close(r);
			fsync(fd);
			close(fd);
			if (n != (ssize_t)strlen(st->capture))
				return fail(st, -EIO, "cannot write '%s/%s'",
					    path, OWNER_FILE);
			*ret = path;
			return 0;
		}
		r = openat(fd, OWNER_FILE, O_RDONLY | O_CLOEXEC);
		close(fd);
		if (r < 0) {
			r = -errno;
			break;
		}
		n = read(r, owner, sizeof(owner) - 1);
		close(r);
		owner[n > 0 ? n : 0] = 0;
		if (!strcmp(owner, st->capture)) {
			*ret = path;
			return 0;
		}
	}
	r = fail(st, r ? r : -EEXIST, "cannot use '%s': %s", path,
		 r ? strerror(-r) : "owned by another capture");
	free(path);
	return r;
}

static int pwrite_all(struct store *st, const void *p, size_t n)
{
	while (n) {
		ssize_t w = pwrite(st->fd, p, n, (off_t)st->flen);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fail(st, w < 0 ? -errno : -EIO,
				    "cannot write to '%s': %s", st->dir,
				    strerror(w < 0 ? errno : EIO));
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
		st->flen += (uint64_t)w;
	}
	return 0;
}

static void set_good(struct store *st, bool infile)
{
	st->good_off = st->off;
	st->good_len = st->flen;
	st->good_seq = st->seq;
	st->good_index = st->index;
	st->good_infile = infile;
}

static int state_load(struct store *st)
{
	char name[64], buf[512], fname[64];
	unsigned long long off, len, seq, done;
	unsigned int index;
	int fd, infile;
	ssize_t n;
	struct stat sb;

	dot_name(st, "state", name, sizeof(name));
	fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		st->ps = P_PREAMBLE;
		return 0;
	}
	if (fd < 0)
		return fail(st, -errno, "cannot open '%s/%s': %s", st->dir,
			    name, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (sscanf(buf, STATE_MAGIC " offset=%llu index=%u length=%llu seq=%llu infile=%d files=%llu",
		   &off, &index, &len, &seq, &infile, &done) != 6)
		return fail(st, -EBADMSG, "'%s/%s' is damaged", st->dir, name);
	st->off = off;
	st->index = index;
	st->seq = seq;
	st->files_done = done;
	st->ps = infile ? P_FHDR : P_PREAMBLE;
	if (infile) {
		file_name(st, index, fname, sizeof(fname));
		st->fd = openat(st->dirfd, fname, O_RDWR | O_CLOEXEC);
		if (st->fd < 0)
			return fail(st, -errno, "cannot open '%s/%s': %s",
				    st->dir, fname, strerror(errno));
		if (fstat(st->fd, &sb) < 0)
			return fail(st, -errno, "'%s/%s': %s", st->dir, fname,
				    strerror(errno));
		if ((uint64_t)sb.st_size < len)
			return fail(st, -EBADMSG,
				    "'%s/%s' has %lld bytes, fewer than the %llu acknowledged",
				    st->dir, fname, (long long)sb.st_size, len);
		/* what was written but never acknowledged is sent again */
		if ((uint64_t)sb.st_size > len && ftruncate(st->fd, (off_t)len) < 0)
			return fail(st, -errno, "cannot truncate '%s/%s': %s",
				    st->dir, fname, strerror(errno));
		st->flen = len;
	}
	set_good(st, infile);
	st->durable = st->off;
	return 0;
}

int store_open(const char *root, const char *host, const char *boot,
	       const char *capture, uint32_t cpu, unsigned int max_files,
	       struct store **ret, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	char name[64];
	int r;

	*ret = NULL;
	if (!st)
		return -ENOMEM;
	st->fd = st->dirfd = -1;
	st->cpu = cpu;
	st->max_files = max_files;
	st->host = strdup(host);
	st->boot = strdup(boot);
	st->capture = strdup(capture);
	snprintf(st->label, sizeof(st->label), "%s cpu %u", host, cpu);
	r = -ENOMEM;
	if (!st->host || !st->boot || !st->capture)
		goto fail;
	r = capture_dir(st, root, &st->dir);
	if (r < 0)
		goto fail;
	st->dirfd = open(st->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (st->dirfd < 0) {
		r = fail(st, -errno, "'%s': %s", st->dir, strerror(errno));
		goto fail;
	}
	dot_name(st, "head", name, sizeof(name));
	unlinkat(st->dirfd, name, 0);
	r = state_load(st);
	if (r < 0)
		goto fail;
	*ret = st;
	return 0;
fail:
	snprintf(err, errlen, "%s", st->err[0] ? st->err : strerror(-r));
	store_close(st);
	return r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* --max-files: keep the newest files of this CPU, the open one included. */
static void retention(struct store *st)
{
	uint32_t *idx = NULL, *p;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char name[64];
	DIR *d;
	int fd;

	if (!st->max_files)
		return;
	fd = dup(st->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		unsigned int cpu, index;
		int end = 0;

		if (sscanf(de->d_name, "cpu%u-%u.rtap%n", &cpu, &index, &end) != 2 ||
		    (size_t)end != strlen(de->d_name) || cpu != st->cpu ||
		    index >= st->index)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			p = realloc(idx, cap * sizeof(*idx));
			if (!p)
				break;
			idx = p;
		}
		idx[n++] = index;
	}
	closedir(d);
	if (n)
		qsort(idx, n, sizeof(*idx), cmp_u32);
	for (size_t i = 0; i < n && n - i + 1 > st->max_files; i++) {
		file_name(st, idx[i], name, sizeof(name));
		if (unlinkat(st->dirfd, name, 0) == 0)
			st->dir_dirty = true;
	}
	free(idx);
}

/* The HEADER frame is complete and checked: read its records, name the file. */
static int header_done(struct store *st)
{
	const uint64_t base = RT_PREAMBLE_SIZE + RT_FRAME_HDR_SIZE;
	uint64_t o = 0, len = st->fh.len;
	bool have_index = false;
	char head[64], name[64], cap[COLLECT_ID_MAX];
	uint32_t index = 0, cpu;

	while (o < len) {
		struct rt_record rec;
		uint64_t left = len - o - sizeof(rec);

		if (len - o < sizeof(rec) ||
		    pread(st->fd, &rec, sizeof(rec), (off_t)(base + o)) != sizeof(rec))
			return fail(st, -EBADMSG, "malformed HEADER records");
		if (rec.len > left || rt_pad8(rec.len) > left)
			return fail(st, -EBADMSG, "malformed HEADER records");
		if (rec.tag == RT_TAG_FILE_INDEX && rec.len == 4) {
			if (pread(st->fd, &index, 4, (off_t)(base + o + 8)) != 4)
				return fail(st, -EIO, "cannot read back the HEADER");
			have_index = true;
		} else if (rec.tag == RT_TAG_FILE_CPU && rec.len == 4) {
			if (pread(st->fd, &cpu, 4, (off_t)(base + o + 8)) != 4)
				return fail(st, -EIO, "cannot read back the HEADER");
			if (cpu != st->cpu)
				return fail(st, -EBADMSG,
					    "HEADER is for CPU %u, the channel for CPU %u",
					    cpu, st->cpu);
		} else if (rec.tag == RT_TAG_CAPTURE_ID) {
			if (rec.len != strlen(st->capture) ||
			    pread(st->fd, cap, rec.len, (off_t)(base + o + 8)) != rec.len ||
			    memcmp(cap, st->capture, rec.len))
				return fail(st, -EBADMSG,
					    "HEADER's capture id is not the channel's");
		}
		o += sizeof(rec) + rt_pad8(rec.len);
	}
	if (!have_index)
		return fail(st, -EBADMSG, "HEADER without FILE_INDEX");
	if ((st->files_done || st->good_infile) && index <= st->index)
		return fail(st, -EBADMSG, "file index %u after file index %u",
			    index, st->index);
	dot_name(st, "head", head, sizeof(head));
	file_name(st, index, name, sizeof(name));
	if (renameat(st->dirfd, head, st->dirfd, name) < 0)
		return fail(st, -errno, "cannot rename '%s/%s': %s", st->dir,
			    head, strerror(errno));
	st->head = false;
	st->index = index;
	st->dir_dirty = true;
	retention(st);
	return 0;
}

static int frame_done(struct store *st)
{
	const char *why;
	int r;

	if (st->fh.flags & RT_FRAME_F_PAGE_IMAGE) {
		r = rt_frame_payload_crc(&st->fh, st->img.data, &st->crc, &why);
		st->img.len = 0;
		if (r < 0)
			return fail(st, -EBADMSG, "%s (seq %" PRIu64 ")", why,
				    st->fh.seq);
	}
	if (st->crc != st->fh.payload_crc)
		return fail(st, -EBADMSG, "bad payload checksum (frame type %u, seq %" PRIu64 ")",
			    st->fh.type, st->fh.seq);
	st->seq++;
	st->ps = P_FHDR;
	if (st->fh.type == RT_FRAME_HEADER) {
		r = header_done(st);
		if (r < 0)
			return r;
	}
	if (st->fh.type == RT_FRAME_END) {
		/* the file is whole: sync, close, acknowledge at once */
		if (fdatasync(st->fd) < 0)
			return fail(st, -errno, "fdatasync '%s': %s", st->dir,
				    strerror(errno));
		close(st->fd);
		st->fd = -1;
		st->files_done++;
		st->ps = P_PREAMBLE;
		st->ack_now = true;
		set_good(st, false);
		return 0;
	}
	set_good(st, true);
	return 0;
}

static int preamble_done(struct store *st)
{
	char head[64];
	int r = rt_preamble_check((const struct rt_preamble *)st->pbuf);

	if (r == -EPROTONOSUPPORT)
		return fail(st, -EBADMSG, "stream format version %u is newer than this collector's (%u)",
			    ((const struct rt_preamble *)st->pbuf)->version,
			    RT_VERSION);
	if (r < 0)
		return fail(st, -EBADMSG, "not a ringtap stream: bad preamble");
	dot_name(st, "head", head, sizeof(head));
	st->fd = openat(st->dirfd, head, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	if (st->fd < 0)
		return fail(st, -errno, "cannot create '%s/%s': %s", st->dir,
			    head, strerror(errno));
	st->head = true;
	st->flen = 0;
	st->seq = 0;
	st->ps = P_FHDR;
	return pwrite_all(st, st->pbuf, RT_PREAMBLE_SIZE);
}

static int fhdr_done(struct store *st)
{
	struct rt_frame_hdr *h = &st->fh;
	bool partial;

	memcpy(h, st->pbuf, sizeof(*h));
	if (h->magic != RT_FRAME_MAGIC)
		return fail(st, -EBADMSG, "bad frame magic (0x%08x)", h->magic);
	if (rt_frame_hdr_check(h) < 0)
		return h->len > RT_FRAME_MAX_PAYLOAD ?
			       fail(st, -EBADMSG, "payload length %u exceeds limit (%u)",
				    h->len, RT_FRAME_MAX_PAYLOAD) :
			       fail(st, -EBADMSG, "bad frame header checksum");
	if (h->seq != st->seq)
		return fail(st, -EBADMSG, "sequence number %" PRIu64 ", expected %" PRIu64,
			    h->seq, st->seq);
	if (st->seq == 0 && h->type != RT_FRAME_HEADER)
		return fail(st, -EBADMSG, "file does not start with a HEADER frame");
	if (st->seq != 0 && h->type == RT_FRAME_HEADER)
		return fail(st, -EBADMSG, "a second HEADER frame");
	partial = h->flags & RT_FRAME_F_PARTIAL_CRC;
	if (partial && (h->type != RT_FRAME_SUBBUF || h->len < RT_SUBBUF_SIZE))
		return fail(st, -EBADMSG, "partial checksum on a frame that cannot have one");
	if ((h->flags & RT_FRAME_F_PAGE_IMAGE) &&
	    (partial || h->type != RT_FRAME_SUBBUF || h->len < RT_SUBBUF_SIZE))
		return fail(st, -EBADMSG, "page-image flag on a frame that cannot have one");
	st->crc = 0;
	/* a page image is checked whole at its end (frame_done()) */
	st->crc_len = (h->flags & RT_FRAME_F_PAGE_IMAGE) ? 0 :
		      partial ? RT_SUBBUF_SIZE : h->len;
	st->img.len = 0;
	st->pay_done = 0;
	st->pay_total = rt_pad8(h->len);
	st->ps = P_PAYLOAD;
	return pwrite_all(st, h, sizeof(*h));
}

static int payload(struct store *st, const uint8_t *p, size_t k)
{
	uint64_t a = st->pay_done, b = a + k, len = st->fh.len;

	if (a < st->crc_len)
		st->crc = rt_crc32c(st->crc, p,
				    (b < st->crc_len ? b : st->crc_len) - a);
	if ((st->fh.flags & RT_FRAME_F_PAGE_IMAGE) && a < len &&
	    rt_buf_append(&st->img, p, (b < len ? b : len) - a) < 0)
		return fail(st, -ENOMEM, "out of memory");
	for (uint64_t i = a > len ? a : len; i < b; i++)
		if (p[i - a])
			return fail(st, -EBADMSG, "nonzero padding after the payload");
	st->pay_done = b;
	return pwrite_all(st, p, k);
}

int store_feed(struct store *st, const uint8_t *p, size_t n)
{
	int r = 0;

	while (n && r >= 0) {
		size_t want, k;

		if (st->ps == P_PAYLOAD) {
			k = st->pay_total - st->pay_done < n ?
				    (size_t)(st->pay_total - st->pay_done) : n;
			r = payload(st, p, k);
			st->off += k;
			if (r >= 0 && st->pay_done == st->pay_total)
				r = frame_done(st);
		} else {
			want = st->ps == P_PREAMBLE ? RT_PREAMBLE_SIZE :
						      RT_FRAME_HDR_SIZE;
			k = want - st->phave < n ? want - st->phave : n;
			memcpy(st->pbuf + st->phave, p, k);
			st->phave += k;
			st->off += k;
			if (st->phave == want) {
				st->phave = 0;
				r = st->ps == P_PREAMBLE ? preamble_done(st) :
							   fhdr_done(st);
				if (r >= 0 && st->ps == P_PAYLOAD &&
				    !st->pay_total)
					r = frame_done(st);
			}
		}
		p += k;
		n -= k;
	}
	return r;
}

int store_checkpoint(struct store *st)
{
	char name[64], tmp[64];
	int fd, r;

	if (st->good_off == st->durable && !st->dir_dirty)
		return 0;
	if (st->fd >= 0 && !st->head && fdatasync(st->fd) < 0)
		return fail(st, -errno, "fdatasync in '%s': %s", st->dir,
			    strerror(errno));
	if (st->good_off != st->durable) {
		dot_name(st, "state", name, sizeof(name));
		dot_name(st, "state.tmp", tmp, sizeof(tmp));
		fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			    0644);
		if (fd < 0)
			return fail(st, -errno, "cannot write '%s/%s': %s",
				    st->dir, tmp, strerror(errno));
		r = dprintf(fd, STATE_MAGIC " offset=%" PRIu64 " index=%u length=%" PRIu64
			    " seq=%" PRIu64 " infile=%d files=%" PRIu64 "\n",
			    st->good_off, st->good_index, st->good_len,
			    st->good_seq, st->good_infile, st->files_done);
		if (r < 0 || fdatasync(fd) < 0) {
			r = -errno;
			close(fd);
			return fail(st, r, "cannot write '%s/%s': %s", st->dir,
				    tmp, strerror(-r));
		}
		close(fd);
		if (renameat(st->dirfd, tmp, st->dirfd, name) < 0)
			return fail(st, -errno, "cannot rename '%s/%s': %s",
				    st->dir, tmp, strerror(errno));
	}
	if (fsync(st->dirfd) < 0)
		return fail(st, -errno, "fsync '%s': %s", st->dir,
			    strerror(errno));
	st->dir_dirty = false;
	st->durable = st->good_off;
	st->ack_now = false;
	return 0;
}

void store_close(struct store *st)
{
	char head[64];

	if (!st)
		return;
	if (st->fd >= 0 && st->head) {
		close(st->fd);
		st->fd = -1;
		dot_name(st, "head", head, sizeof(head));
		unlinkat(st->dirfd, head, 0);
	} else if (st->fd >= 0 && st->flen > st->good_len &&
		   ftruncate(st->fd, (off_t)st->good_len) < 0) {
		log_warn("%s: cannot truncate in '%s': %m", st->label, st->dir);
	}
	if (st->dirfd >= 0 && store_checkpoint(st) < 0)
		log_err("%s: %s", st->label, st->err);
	if (st->fd >= 0)
		close(st->fd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	rt_buf_free(&st->img);
	free(st->host);
	free(st->boot);
	free(st->capture);
	free(st->dir);
	free(st);
}
