// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * type = file: one stream file per CPU in the output directory,
 * cpu<N>-<index>.rtap, each written only by that CPU's reader thread, so
 * CPUs never wait on each other (a shared file's inode lock made readers
 * lose events while the load preempted the holder).  Each file starts with
 * a complete HEADER, so every rotated file decodes alone.
 *
 * A sub-buffer of the mapped reader goes to disk with O_DIRECT straight
 * from the mapped page (direct_io = auto, the default): no copy by any CPU,
 * and no page cache, whose first touch of fresh memory costs this VM more
 * than the copy itself (docs/architecture.md).  The frame is a page image
 * (RT_FRAME_F_PAGE_IMAGE): header block, then the whole sub-buffer, both on
 * file-system block boundaries, with a PAD frame before it when the frame
 * before was not.  The page is ours until the next GET_READER and the write
 * is synchronous, so the kernel never reuses it under the transfer.  Small
 * parts of pages (idle flushes), the splice reader's pages, and every frame
 * while the reader is behind (more than half the ring buffer unread: the
 * page cache does not wait for the disk) go through the page cache with one
 * writev() from the pieces.  A failed write is cut back to the last whole
 * frame, its events counted as lost, and a LOST frame records them as soon
 * as writing works again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtapd.h"

struct file_cpu {
	struct rt_framer f; /* index, size, seq, page and loss state */
	int fd;
	int dfd;	    /* the same file opened O_DIRECT, or -1 */
	uint8_t *blk;	    /* align bytes, aligned: a page image's header */
	uint32_t oldest;    /* lowest index that may still exist */
	bool failing;	    /* last write failed: log once per episode */
	bool no_direct;	    /* the file system refused an O_DIRECT write */
	uint64_t direct, cached; /* sub-buffer frames written each way */
	uint64_t cached_behind;	 /* of cached: because the reader was behind */
};

struct file_sink {
	char *dir;
	struct file_cpu *cpus;
	/* Room kept at the end of a file for cmdlines METADATA and END, so
	 * that a finished file stays within max_file_size. */
	uint64_t tail_reserve;
	/* O_DIRECT offset and length alignment of the directory's file
	 * system (0: not probed yet, UINT32_MAX: no O_DIRECT) */
	uint32_t align;
	uint8_t *zeros;	    /* align + RT_FRAME_HDR_SIZE zero bytes: PAD */
};

static const uint8_t zeros[8];

static void file_path(const struct file_sink *fs, int cpu, uint32_t index,
		      char *buf, size_t len)
{
	snprintf(buf, len, "%s/cpu%d-%06u.rtap", fs->dir, cpu, index);
}

/* Continue numbering after files an earlier capture left in the directory. */
static int scan_dir(struct file_sink *fs, int nr_cpus)
{
	struct dirent *de;
	DIR *d = opendir(fs->dir);

	if (!d)
		return -errno;
	for (int c = 0; c < nr_cpus; c++)
		fs->cpus[c].oldest = UINT32_MAX;
	while ((de = readdir(d))) {
		unsigned int cpu, index;
		char tail[8];

		if (sscanf(de->d_name, "cpu%u-%u.%7s", &cpu, &index, tail) != 3 ||
		    strcmp(tail, "rtap") || cpu >= (unsigned int)nr_cpus)
			continue;
		if (index + 1 > fs->cpus[cpu].f.index)
			fs->cpus[cpu].f.index = index + 1;
		if (index < fs->cpus[cpu].oldest)
			fs->cpus[cpu].oldest = index;
	}
	closedir(d);
	for (int c = 0; c < nr_cpus; c++)
		if (fs->cpus[c].oldest == UINT32_MAX)
			fs->cpus[c].oldest = fs->cpus[c].f.index;
	return 0;
}

/* Write all of @iov or fail; on failure the file is cut back to its last
 * whole frame, @fc->f.size (which the caller advances). */
static int write_all(struct file_cpu *fc, struct iovec *iov, int iovcnt,
		     size_t total)
{
	size_t done = 0;

	while (done < total) {
		ssize_t n = writev(fc->fd, iov, iovcnt);

		if (n < 0) {
			int r = errno == EINTR ? 0 : -errno;

			if (!r)
				continue;
			if (ftruncate(fc->fd, fc->f.size) == 0)
				lseek(fc->fd, fc->f.size, SEEK_SET);
			return r;
		}
		done += n;
		while (n > 0 && iovcnt) {
			if ((size_t)n >= iov->iov_len) {
				n -= iov->iov_len;
				iov++;
				iovcnt--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + n;
				iov->iov_len -= n;
				n = 0;
			}
		}
	}
	return 0;
}

/* The framer's emit: one writev() straight from the pieces. */
static int emit(struct rt_framer *f, struct iovec *iov, int iovcnt,
		size_t total, const struct rt_frame_hdr *hdr, uint64_t events)
{
	(void)hdr;
	(void)events;
	return write_all((struct file_cpu *)f, iov, iovcnt, total);
}

static void close_fds(struct file_cpu *fc)
{
	if (fc->dfd >= 0)
		close(fc->dfd);
	if (fc->fd >= 0)
		close(fc->fd);
	fc->fd = fc->dfd = -1;
}

/*
 * The file system's O_DIRECT alignment, from the first file (statx
 * STATX_DIOALIGN).  The page images need the mapped pages (page-aligned)
 * usable as they are and a block that holds the frame header; anything
 * coarser than 64 KiB is not worth the padding.
 */
static void probe_direct(struct rt_sink *s, int fd)
{
	struct file_sink *fs = s->priv;
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
	struct statx sx;

	fs->align = UINT32_MAX;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) < 0 ||
	    !(sx.stx_mask & STATX_DIOALIGN) || !sx.stx_dio_offset_align ||
	    sx.stx_dio_mem_align > page || sx.stx_dio_offset_align > 65536)
		return;
	fs->align = sx.stx_dio_offset_align > page ? sx.stx_dio_offset_align :
						     page;
	fs->zeros = calloc(1, fs->align + RT_FRAME_HDR_SIZE);
	if (!fs->zeros)
		fs->align = UINT32_MAX;
}

/* The O_DIRECT twin of a new file, where this output may use one. */
static int open_direct(struct rt_sink *s, struct file_cpu *fc,
		       const char *path)
{
	struct file_sink *fs = s->priv;

	/* probed whatever the setting, so that it happens in file_open()
	 * (one thread) and not later in the reader threads */
	if (!fs->align)
		probe_direct(s, fc->fd);
	if (s->out->direct_io == RT_DIRECT_IO_NO || fc->no_direct)
		return 0;
	if (fs->align != UINT32_MAX && !fc->blk) {
		/* only its first bytes change from frame to frame */
		fc->blk = aligned_alloc(fs->align, fs->align);
		if (!fc->blk)
			return -ENOMEM;
		memset(fc->blk, 0, fs->align);
	}
	if (fs->align != UINT32_MAX)
		fc->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fc->dfd >= 0 || s->out->direct_io != RT_DIRECT_IO_YES)
		return 0;
	log_err("output '%s': direct_io = yes, but the file system of '%s' does not take O_DIRECT writes of sub-buffers (%s)",
		s->out->name, fs->dir,
		fs->align == UINT32_MAX ? "no usable STATX_DIOALIGN" :
					  strerror(errno));
	return -EOPNOTSUPP;
}

static int open_file(struct rt_sink *s, int cpu)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];
	char path[PATH_MAX];
	int r;

	file_path(fs, cpu, fc->f.index, path, sizeof(path));
	fc->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fc->fd < 0) {
		r = -errno;
		log_err("output '%s': cannot create '%s': %m", s->out->name,
			path);
		return r;
	}
	r = open_direct(s, fc, path);
	if (r < 0) {
		close(fc->fd);
		fc->fd = -1;
		unlink(path);
		return r;
	}
	r = rt_framer_begin(&fc->f);
	if (r < 0) {
		log_err("output '%s': cannot write '%s': %s", s->out->name,
			path, strerror(-r));
		close_fds(fc);
		unlink(path);
		return r;
	}
	/* Keep at most max_files per CPU, this one included. */
	while (s->out->max_files &&
	       fc->f.index - fc->oldest + 1 > s->out->max_files) {
		file_path(fs, cpu, fc->oldest++, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("output '%s': cannot remove '%s': %m",
				 s->out->name, path);
	}
	return 0;
}

static int rotate(struct rt_sink *s, int cpu)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];

	/* Failures here only cost the END frame: the reader then reports
	 * the file as cut short, and the next file carries on. */
	rt_framer_end(&fc->f, RT_END_ROTATE, NULL);
	close_fds(fc);
	fc->f.index++;
	return open_file(s, cpu);
}

static int file_open(struct rt_sink *s)
{
	struct file_sink *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs)
		return -ENOMEM;
	s->priv = fs;
	fs->dir = strdup(s->out->path);
	fs->cpus = calloc(s->nr_cpus, sizeof(*fs->cpus));
	if (!fs->dir || !fs->cpus)
		return -ENOMEM;
	for (int c = 0; c < s->nr_cpus; c++) {
		fs->cpus[c].fd = fs->cpus[c].dfd = -1;
		fs->cpus[c].f = (struct rt_framer){
			.s = s, .cpu = c, .emit = emit,
		};
	}
	fs->tail_reserve = rt_framer_tail_reserve(s->inst);
	r = rt_mkdir_p(fs->dir, 0755);
	if (!r)
		r = scan_dir(fs, s->nr_cpus);
	if (r < 0) {
		log_err("output '%s': cannot use directory '%s': %s",
			s->out->name, fs->dir, strerror(-r));
		return r;
	}
	for (int c = 0; c < s->nr_cpus; c++) {
		if (!s->online[c])
			continue;
		r = open_file(s, c);
		if (r < 0)
			return r;
	}
	return 0;
}

static int flush_pending_lost(struct rt_sink *s, struct file_cpu *fc)
{
	struct rt_lost lost;
	int r = rt_framer_flush_lost(&fc->f, &lost);

	if (r > 0) {
		log_notice("output '%s': cpu %d: writing again; %llu events (%llu bytes) were lost",
			   s->out->name, fc->f.cpu,
			   (unsigned long long)lost.events,
			   (unsigned long long)lost.bytes);
		fc->failing = false;
	}
	return r < 0 ? r : 0;
}

static void count_lost(struct rt_sink *s, struct file_cpu *fc,
		       const struct rt_subbuf_ref *ref, int err, bool drain,
		       bool direct)
{
	rt_framer_count_lost(&fc->f, ref, drain);
	if (!fc->failing)
		log_err("output '%s': cpu %d: %swrite failed (%s): counting lost events until it works again",
			s->out->name, fc->f.cpu, direct ? "O_DIRECT " : "",
			strerror(-err));
	fc->failing = true;
}

/* splice reader: header from memory, the page straight from the pipe. */
static int write_spliced(struct file_cpu *fc, const struct rt_subbuf_ref *ref)
{
	struct rt_frame_hdr hdr;
	struct iovec pl = { (void *)&ref->sb, sizeof(ref->sb) };
	struct iovec iov[2];
	uint32_t left = ref->pipe_len;
	int r;

	rt_frame_hdr_init(&hdr, RT_FRAME_SUBBUF, RT_FRAME_F_PARTIAL_CRC,
			  fc->f.cpu, fc->f.seq, &pl, 1);
	/* len covers the spliced page too; the header CRC covers len */
	hdr.len = sizeof(ref->sb) + ref->pipe_len;
	hdr.header_crc = rt_crc32c(0, &hdr, offsetof(struct rt_frame_hdr,
						    header_crc));
	iov[0] = (struct iovec){ &hdr, sizeof(hdr) };
	iov[1] = pl;
	r = write_all(fc, iov, 2, sizeof(hdr) + sizeof(ref->sb));
	while (!r && left) {
		ssize_t n = splice(ref->pipe_fd, NULL, fc->fd, NULL, left,
				   SPLICE_F_MOVE);

		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		left -= n;
	}
	if (!r && rt_pad8(hdr.len) != hdr.len)
		r = write_all(fc, &(struct iovec){ (void *)zeros,
						   rt_pad8(hdr.len) - hdr.len },
			      1, rt_pad8(hdr.len) - hdr.len);
	if (r < 0) {
		/* Cut the file back to its last whole frame. */
		rt_drain_pipe(ref->pipe_fd, left);
		if (ftruncate(fc->fd, fc->f.size) == 0)
			lseek(fc->fd, fc->f.size, SEEK_SET);
		return r;
	}
	fc->f.size += sizeof(hdr) + rt_pad8(hdr.len);
	fc->f.seq++;
	rt_framer_page_done(&fc->f, &ref->sb, false);
	return 0;
}

enum how { CACHED, DIRECT, CACHED_BEHIND };

/* How this sub-buffer goes to disk (file header). */
static enum how want_direct(struct rt_sink *s, const struct file_cpu *fc,
			    const struct rt_subbuf_ref *ref,
			    const struct rt_subbuf *sb)
{
	const struct file_sink *fs = s->priv;

	/* the copy reader stays the plain read()+write() baseline; a page
	 * the kernel may still write into is not handed to the disk (on
	 * storage that checksums data, a buffer changing under an O_DIRECT
	 * write stores a block that fails its checksum) */
	if (fc->dfd < 0 || !ref->mapped || !ref->done ||
	    s->out->direct_io == RT_DIRECT_IO_NO ||
	    ((uintptr_t)ref->page | sb->subbuf_size) % fs->align)
		return CACHED;
	/* a small part of a page would cost the whole page on disk */
	if (2 * ((uint64_t)sb->data_len + ref->stored_lost_len) <
	    sb->subbuf_size - RB_PAGE_HDR_SIZE)
		return CACHED;
	if (s->out->direct_io == RT_DIRECT_IO_AUTO && ref->behind)
		return CACHED_BEHIND;
	return DIRECT;
}

/* Bytes of PAD frame that put the next frame on a block boundary. */
static uint64_t pad_before(const struct file_sink *fs, uint64_t size)
{
	uint64_t gap = (fs->align - size % fs->align) % fs->align;

	return gap && gap < RT_FRAME_HDR_SIZE ? gap + fs->align : gap;
}

/* The LOST frame flush_pending_lost() will write first, if any. */
static uint64_t lost_len(const struct file_cpu *fc)
{
	return fc->f.pending_events || fc->f.pending_bytes ?
		       RT_FRAME_HDR_SIZE + RT_LOST_SIZE :
		       0;
}

/* A page image's bytes in the file: that LOST frame, PAD, the frame. */
static uint64_t direct_len(const struct file_sink *fs,
			   const struct file_cpu *fc, const struct rt_subbuf *sb)
{
	uint64_t lost = lost_len(fc);

	return lost + pad_before(fs, fc->f.size + lost) + fs->align +
	       sb->subbuf_size;
}

/*
 * One page image with one pwritev() on the O_DIRECT descriptor: the header
 * block, then the mapped sub-buffer itself.  -EINVAL: the file system
 * refused after all (the caller writes the frame the other way).
 */
static int write_direct(struct rt_sink *s, struct file_cpu *fc,
			const struct rt_subbuf_ref *ref,
			const struct rt_subbuf *sb)
{
	struct file_sink *fs = s->priv;
	uint64_t gap = pad_before(fs, fc->f.size);
	struct rt_frame_hdr hdr;
	struct iovec pl[2] = {
		{ (void *)sb, sizeof(*sb) },
		{ (void *)(ref->page + RB_PAGE_HDR_SIZE + sb->data_start),
		  sb->data_len + ref->stored_lost_len },
	};
	struct iovec iov[2];
	size_t total = fs->align + sb->subbuf_size;
	ssize_t n;
	int r;

	if (gap) {
		struct iovec z = { fs->zeros, gap - RT_FRAME_HDR_SIZE };

		r = rt_framer_frame(&fc->f, RT_FRAME_PAD, RT_FRAME_F_SKIPPABLE,
				    &z, 1, 0);
		if (r < 0)
			return r;
	}
	/* the checksum of the compact form: struct rt_subbuf, carried bytes */
	rt_frame_hdr_init(&hdr, RT_FRAME_SUBBUF, RT_FRAME_F_PAGE_IMAGE,
			  fc->f.cpu, fc->f.seq, pl, 2);
	hdr.len = fs->align - RT_FRAME_HDR_SIZE + sb->subbuf_size;
	rt_frame_hdr_seal(&hdr);
	memcpy(fc->blk, &hdr, sizeof(hdr));
	memcpy(fc->blk + sizeof(hdr), sb, sizeof(*sb));
	iov[0] = (struct iovec){ fc->blk, fs->align };
	iov[1] = (struct iovec){ (void *)ref->page, sb->subbuf_size };
	do
		n = pwritev(fc->dfd, iov, 2, (off_t)fc->f.size);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)total) {
		r = n < 0 ? -errno : -EIO; /* short: e.g. the disk filled up */
		if (ftruncate(fc->fd, fc->f.size) < 0 && r == -EINVAL)
			r = -EIO;
		return r;
	}
	/* the page-cache descriptor writes on from here (writev, splice) */
	if (lseek(fc->fd, (off_t)(fc->f.size + total), SEEK_SET) < 0) {
		r = -errno;
		if (ftruncate(fc->fd, fc->f.size) < 0)
			r = -EIO;
		return r;
	}
	fc->f.size += total;
	fc->f.seq++;
	rt_framer_page_done(&fc->f, sb, true);
	fc->direct++;
	return 0;
}

static int file_write(struct rt_sink *s, int cpu,
		      const struct rt_subbuf_ref *ref)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];
	struct rt_subbuf sb;
	uint64_t frame_len;
	enum how how;
	int r;

	if (fc->fd < 0) {
		/* a rotation failed earlier: try to start a new file */
		r = open_file(s, cpu);
		if (r < 0) {
			count_lost(s, fc, ref, r, true, false);
			return r;
		}
	}
	frame_len = rt_framer_prepare(&fc->f, ref, &sb);
	how = want_direct(s, fc, ref, &sb);
	if (how == DIRECT)
		frame_len = direct_len(fs, fc, &sb);
	else
		frame_len += lost_len(fc);
	if (rt_framer_must_rotate(&fc->f, frame_len, fs->tail_reserve)) {
		r = rotate(s, cpu);
		if (r < 0) {
			count_lost(s, fc, ref, r, true, false);
			return r;
		}
		rt_framer_prepare(&fc->f, ref, &sb); /* from the page's start */
		how = want_direct(s, fc, ref, &sb);
	}
	r = flush_pending_lost(s, fc);
	if (r < 0) {
		count_lost(s, fc, ref, r, true, false);
		return r;
	}
	if (how == DIRECT) {
		r = write_direct(s, fc, ref, &sb);
		/* refused, not failed: the page cache takes this frame */
		if (r == -EINVAL || r == -EFAULT || r == -EOPNOTSUPP) {
			log_warn("output '%s': cpu %d: an O_DIRECT write was refused (%s): this CPU writes through the page cache from now on",
				 s->out->name, cpu, strerror(-r));
			close(fc->dfd);
			fc->dfd = -1;
			fc->no_direct = true;
		} else {
			goto done;
		}
	}
	if (ref->pipe_fd >= 0)
		r = write_spliced(fc, ref);
	else
		r = rt_framer_subbuf(&fc->f, ref, &sb);
	if (!r && ref->pipe_fd < 0) {
		fc->cached++;
		fc->cached_behind += how == CACHED_BEHIND;
	}
done:
	if (r < 0) {
		/* write_spliced() emptied the pipe already */
		count_lost(s, fc, ref, r, false, how == DIRECT && fc->dfd >= 0);
		return r;
	}
	return 0;
}

static int file_close_cpu(struct rt_sink *s, int cpu,
			  const struct rt_cpu_stats *st)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];
	struct rt_cpu_stats final = *st;
	int r;

	/* a rotation failed: one more try, so the losses get recorded */
	if (fc->fd < 0 && open_file(s, cpu) < 0)
		return -EBADF;
	final.lost_sink = s->lost_events[cpu];
	r = flush_pending_lost(s, fc);
	if (!r)
		r = rt_framer_end(&fc->f, RT_END_SHUTDOWN, &final);
	if (!r && fsync(fc->fd) < 0)
		r = -errno;
	if (r < 0)
		log_err("output '%s': cpu %d: cannot finish file: %s",
			s->out->name, cpu, strerror(-r));
	close_fds(fc);
	if (fc->direct + fc->cached)
		log_info("output '%s': cpu %d: %llu sub-buffers written with O_DIRECT, %llu through the page cache (%llu while the reader was behind)",
			 s->out->name, cpu, (unsigned long long)fc->direct,
			 (unsigned long long)fc->cached,
			 (unsigned long long)fc->cached_behind);
	return r;
}

static void file_free(struct rt_sink *s)
{
	struct file_sink *fs = s->priv;

	if (!fs)
		return;
	for (int c = 0; fs->cpus && c < s->nr_cpus; c++) {
		close_fds(&fs->cpus[c]);
		free(fs->cpus[c].blk);
	}
	free(fs->cpus);
	free(fs->zeros);
	free(fs->dir);
	free(fs);
}

/* Reload: every CPU goes on in a new file with the new HEADER. */
static int file_restart(struct rt_sink *s)
{
	struct file_sink *fs = s->priv;
	int ret = 0;

	for (int c = 0; c < s->nr_cpus; c++) {
		int r;

		if (!s->online[c])
			continue;
		if (fs->cpus[c].fd < 0) {
			/* failing already: file_write() retries */
			continue;
		}
		r = rotate(s, c);
		if (r < 0) {
			log_err("output '%s': cpu %d: cannot start a new file: %s",
				s->out->name, c, strerror(-r));
			ret = ret ? ret : r;
		}
	}
	return ret;
}

static const char *file_state(struct rt_sink *s, char *detail, size_t len)
{
	struct file_sink *fs = s->priv;
	bool failing = false;
	uint64_t files = 0;

	for (int c = 0; c < s->nr_cpus; c++) {
		if (!s->online[c])
			continue;
		failing |= fs->cpus[c].failing || fs->cpus[c].fd < 0;
		files += fs->cpus[c].f.index - fs->cpus[c].oldest + 1;
	}
	snprintf(detail, len, "%s (%llu files)", fs->dir,
		 (unsigned long long)files);
	return failing ? "failing" : "ok";
}

/* `ringtap status`: how the sub-buffers went to disk so far. */
static void file_status(struct rt_sink *s,
			void (*put)(void *ctx, const char *key, const char *v),
			void *ctx)
{
	struct file_sink *fs = s->priv;
	uint64_t direct = 0, cached = 0, behind = 0;
	char v[32];

	for (int c = 0; c < s->nr_cpus; c++) {
		direct += fs->cpus[c].direct;
		cached += fs->cpus[c].cached;
		behind += fs->cpus[c].cached_behind;
	}
	put(ctx, "direct_io", rt_direct_io_name(s->out->direct_io));
	snprintf(v, sizeof(v), "%llu", (unsigned long long)direct);
	put(ctx, "direct_subbufs", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)cached);
	put(ctx, "cached_subbufs", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)behind);
	put(ctx, "cached_behind_subbufs", v);
}

const struct rt_sink_ops rt_sink_file_ops = {
	.type = "file",
	.open = file_open,
	.write_subbuf = file_write,
	.close_cpu = file_close_cpu,
	.free = file_free,
	.restart = file_restart,
	.state = file_state,
	.status = file_status,
	.can_splice = true,
};
