// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * type = file: one stream file per CPU in the output directory,
 * cpu<N>-<index>.rtap, each written only by that CPU's reader thread, so
 * CPUs never wait on each other (a shared file's inode lock made readers
 * lose events while the load preempted the holder).  Each file starts with
 * a complete HEADER, so every rotated file decodes alone.
 *
 * A frame is written with one writev() straight from the mapped sub-buffer:
 * the only copy is the kernel's into the page cache.  A failed write is cut
 * back to the last whole frame, its events counted as lost, and a LOST frame
 * records them as soon as writing works again.
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
	uint32_t oldest;    /* lowest index that may still exist */
	bool failing;	    /* last write failed: log once per episode */
};

struct file_sink {
	char *dir;
	struct file_cpu *cpus;
	/* Room kept at the end of a file for cmdlines METADATA and END, so
	 * that a finished file stays within max_file_size. */
	uint64_t tail_reserve;
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
	r = rt_framer_begin(&fc->f);
	if (r < 0) {
		log_err("output '%s': cannot write '%s': %s", s->out->name,
			path, strerror(-r));
		close(fc->fd);
		fc->fd = -1;
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
	close(fc->fd);
	fc->fd = -1;
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
		fs->cpus[c].fd = -1;
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
		       const struct rt_subbuf_ref *ref, int err, bool drain)
{
	rt_framer_count_lost(&fc->f, ref, drain);
	if (!fc->failing)
		log_err("output '%s': cpu %d: write failed (%s): counting lost events until it works again",
			s->out->name, fc->f.cpu, strerror(-err));
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

static int file_write(struct rt_sink *s, int cpu,
		      const struct rt_subbuf_ref *ref)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];
	struct rt_subbuf sb;
	uint64_t frame_len;
	int r;

	if (fc->fd < 0) {
		/* a rotation failed earlier: try to start a new file */
		r = open_file(s, cpu);
		if (r < 0) {
			count_lost(s, fc, ref, r, true);
			return r;
		}
	}
	frame_len = rt_framer_prepare(&fc->f, ref, &sb);
	if (rt_framer_must_rotate(&fc->f, frame_len, fs->tail_reserve)) {
		r = rotate(s, cpu);
		if (r < 0) {
			count_lost(s, fc, ref, r, true);
			return r;
		}
		rt_framer_prepare(&fc->f, ref, &sb); /* from the page's start */
	}
	r = flush_pending_lost(s, fc);
	if (r < 0) {
		count_lost(s, fc, ref, r, true);
		return r;
	}
	if (ref->pipe_fd >= 0)
		r = write_spliced(fc, ref);
	else
		r = rt_framer_subbuf(&fc->f, ref, &sb);
	if (r < 0) {
		/* write_spliced() emptied the pipe already */
		count_lost(s, fc, ref, r, false);
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
	close(fc->fd);
	fc->fd = -1;
	return r;
}

static void file_free(struct rt_sink *s)
{
	struct file_sink *fs = s->priv;

	if (!fs)
		return;
	for (int c = 0; fs->cpus && c < s->nr_cpus; c++)
		if (fs->cpus[c].fd >= 0)
			close(fs->cpus[c].fd);
	free(fs->cpus);
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

const struct rt_sink_ops rt_sink_file_ops = {
	.type = "file",
	.open = file_open,
	.write_subbuf = file_write,
	.close_cpu = file_close_cpu,
	.free = file_free,
	.restart = file_restart,
	.state = file_state,
	.can_splice = true,
};
