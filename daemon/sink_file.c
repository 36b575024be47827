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
	int fd;
	uint32_t index;	    /* rotation index of the open file */
	uint32_t oldest;    /* lowest index that may still exist */
	uint64_t size;	    /* bytes in the open file (whole frames) */
	uint64_t seq;	    /* next frame number */
	bool have_page;	    /* the file holds the start of this page */
	uint32_t page_id;
	uint64_t page_ts;
	uint32_t page_end;
	uint64_t pending_events; /* lost, not yet recorded in a LOST frame */
	uint64_t pending_bytes;
	uint64_t last_ts;
	bool failing;	    /* last write failed: log once per episode */
};

struct file_sink {
	char *dir;
	struct file_cpu *cpus;
	/* Room kept at the end of a file for cmdlines METADATA and END, so
	 * that a finished file stays within max_file_size. */
	uint64_t tail_reserve;
};

#define END_FRAME_SIZE \
	(RT_FRAME_HDR_SIZE + sizeof(struct rt_end) + sizeof(struct rt_cpu_stats))


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
		if (index + 1 > fs->cpus[cpu].index)
			fs->cpus[cpu].index = index + 1;
		if (index < fs->cpus[cpu].oldest)
			fs->cpus[cpu].oldest = index;
	}
	closedir(d);
	for (int c = 0; c < nr_cpus; c++)
		if (fs->cpus[c].oldest == UINT32_MAX)
			fs->cpus[c].oldest = fs->cpus[c].index;
	return 0;
}

/* Write all of @iov or fail; on failure the file is cut back to @fc->size. */
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
			if (ftruncate(fc->fd, fc->size) == 0)
				lseek(fc->fd, fc->size, SEEK_SET);
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
	fc->size += total;
	return 0;
}

/* Frame header + payload pieces (at most 6) + padding, in one writev. */
static int write_frame(struct file_cpu *fc, uint16_t type, uint16_t flags,
		       uint32_t cpu, struct iovec *pl, int plcnt)
{
	struct rt_frame_hdr hdr;
	struct iovec iov[8];
	size_t len = 0, total;
	int n = 0;

	rt_frame_hdr_init(&hdr, type, flags, cpu, fc->seq, pl, plcnt);
	iov[n++] = (struct iovec){ &hdr, sizeof(hdr) };
	for (int i = 0; i < plcnt; i++) {
		iov[n++] = pl[i];
		len += pl[i].iov_len;
	}
	if (rt_pad8(len) != len)
		iov[n++] = (struct iovec){ (void *)zeros, rt_pad8(len) - len };
	total = sizeof(hdr) + rt_pad8(len);
	int r = write_all(fc, iov, n, total);

	if (!r)
		fc->seq++;
	return r;
}

static int write_metadata(struct rt_sink *s, struct file_cpu *fc, int cpu,
			  uint16_t type, const struct rt_buf *extra)
{
	struct iovec pl[2];
	int n = 0;

	if (type == RT_FRAME_HEADER)
		pl[n++] = (struct iovec){ s->header->data, s->header->len };
	if (extra)
		pl[n++] = (struct iovec){ extra->data, extra->len };
	return write_frame(fc, type, 0, cpu, pl, n);
}

static int write_end(struct file_cpu *fc, int cpu, uint32_t reason,
		     const struct rt_cpu_stats *st)
{
	struct rt_end end = { .reason = reason, .nr_stats = st ? 1 : 0 };
	struct iovec pl[2] = {
		{ &end, sizeof(end) },
		{ (void *)st, st ? sizeof(*st) : 0 },
	};

	return write_frame(fc, RT_FRAME_END, 0, cpu, pl, st ? 2 : 1);
}

static int open_file(struct rt_sink *s, int cpu)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];
	struct rt_preamble pre;
	struct rt_buf extra = { 0 };
	char path[PATH_MAX];
	int r;

	file_path(fs, cpu, fc->index, path, sizeof(path));
	fc->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fc->fd < 0) {
		r = -errno;
		log_err("output '%s': cannot create '%s': %m", s->out->name,
			path);
		return r;
	}
	fc->size = 0;
	fc->seq = 0;
	fc->have_page = false;
	rt_preamble_init(&pre);
	struct iovec iov = { &pre, sizeof(pre) };

	r = write_all(fc, &iov, 1, sizeof(pre));
	if (!r)
		r = rt_record_add_u32(&extra, RT_TAG_FILE_INDEX, fc->index);
	if (!r)
		r = rt_record_add_u32(&extra, RT_TAG_FILE_CPU, cpu);
	if (!r)
		r = write_metadata(s, fc, cpu, RT_FRAME_HEADER, &extra);
	rt_buf_free(&extra);
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
	       fc->index - fc->oldest + 1 > s->out->max_files) {
		file_path(fs, cpu, fc->oldest++, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("output '%s': cannot remove '%s': %m",
				 s->out->name, path);
	}
	return 0;
}

/* The kernel's pid -> comm table, if it fits in @room bytes of frame. */
static int write_cmdlines(struct rt_sink *s, struct file_cpu *fc, int cpu,
			  uint64_t room)
{
	struct rt_buf b = { 0 };
	int r = 0;

	/* the table is a convenience: not being able to read it must not
	 * cost the END frame */
	if (rt_metadata_cmdlines(s->inst, &b) == 0 &&
	    RT_FRAME_HDR_SIZE + rt_pad8(b.len) <= room)
		r = write_metadata(s, fc, cpu, RT_FRAME_METADATA, &b);
	rt_buf_free(&b);
	return r;
}

static uint64_t room_left(const struct rt_sink *s, const struct file_cpu *fc)
{
	if (!s->out->max_file_size)
		return UINT64_MAX;
	if (fc->size + END_FRAME_SIZE >= s->out->max_file_size)
		return 0;
	return s->out->max_file_size - fc->size - END_FRAME_SIZE;
}

static int rotate(struct rt_sink *s, int cpu)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];

	/* Failures here only cost the END frame: the reader then reports
	 * the file as cut short, and the next file carries on. */
	write_cmdlines(s, fc, cpu, room_left(s, fc));
	write_end(fc, cpu, RT_END_ROTATE, NULL);
	close(fc->fd);
	fc->fd = -1;
	fc->index++;
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
	for (int c = 0; c < s->nr_cpus; c++)
		fs->cpus[c].fd = -1;
	{
		/* Room for twice today's cmdlines, and never less than 4 KiB:
		 * saved_cmdlines_size (6552 entries here) would reserve far
		 * more than the table ever holds. */
		struct rt_buf b = { 0 };
		uint64_t cmd = rt_metadata_cmdlines(s->inst, &b) == 0 ? b.len : 0;

		rt_buf_free(&b);
		cmd = 2 * cmd < 4096 ? 4096 : 2 * cmd;
		fs->tail_reserve = RT_FRAME_HDR_SIZE + rt_pad8(cmd) + END_FRAME_SIZE;
	}
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

static int flush_pending_lost(struct rt_sink *s, struct file_cpu *fc, int cpu)
{
	struct rt_lost lost = {
		.events = fc->pending_events,
		.bytes = fc->pending_bytes,
		.last_ts = fc->last_ts,
		.reason = RT_LOST_SINK,
	};
	struct iovec pl = { &lost, sizeof(lost) };
	int r;

	if (!fc->pending_events && !fc->pending_bytes)
		return 0;
	r = write_frame(fc, RT_FRAME_LOST, 0, cpu, &pl, 1);
	if (!r) {
		log_notice("output '%s': cpu %d: writing again; %llu events (%llu bytes) were lost",
			   s->out->name, cpu,
			   (unsigned long long)fc->pending_events,
			   (unsigned long long)fc->pending_bytes);
		fc->pending_events = fc->pending_bytes = 0;
		fc->failing = false;
	}
	return r;
}

static void count_lost(struct rt_sink *s, struct file_cpu *fc, int cpu,
		       const struct rt_subbuf_ref *ref, int err, bool drain)
{
	if (drain && ref->pipe_fd >= 0)
		rt_drain_pipe(ref->pipe_fd, ref->pipe_len);
	uint64_t bytes = ref->pipe_fd >= 0 ? ref->pipe_len : ref->sb.data_len;

	fc->pending_events += ref->sb.entries;
	fc->pending_bytes += bytes;
	s->lost_events[cpu] += ref->sb.entries;
	s->lost_bytes[cpu] += bytes;
	fc->have_page = false;
	if (!fc->failing)
		log_err("output '%s': cpu %d: write failed (%s): counting lost events until it works again",
			s->out->name, cpu, strerror(-err));
	fc->failing = true;
}

/* splice reader: header from memory, the page straight from the pipe. */
static int write_spliced(struct rt_sink *s, struct file_cpu *fc, int cpu,
			 const struct rt_subbuf_ref *ref)
{
	struct rt_frame_hdr hdr;
	struct iovec pl = { (void *)&ref->sb, sizeof(ref->sb) };
	struct iovec iov[2];
	uint32_t left = ref->pipe_len;
	uint64_t start = fc->size;
	int r;

	rt_frame_hdr_init(&hdr, RT_FRAME_SUBBUF, RT_FRAME_F_PARTIAL_CRC, cpu,
			  fc->seq, &pl, 1);
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
		fc->size += n;
	}
	if (!r && rt_pad8(hdr.len) != hdr.len)
		r = write_all(fc, &(struct iovec){ (void *)zeros,
						   rt_pad8(hdr.len) - hdr.len },
			      1, rt_pad8(hdr.len) - hdr.len);
	if (r < 0) {
		/* Cut the file back to its last whole frame. */
		rt_drain_pipe(ref->pipe_fd, left);
		if (ftruncate(fc->fd, start) == 0)
			lseek(fc->fd, start, SEEK_SET);
		fc->size = start;
		return r;
	}
	fc->seq++;
	return 0;
}

static int file_write(struct rt_sink *s, int cpu,
		      const struct rt_subbuf_ref *ref)
{
	struct file_sink *fs = s->priv;
	struct file_cpu *fc = &fs->cpus[cpu];
	struct rt_subbuf sb = ref->sb;
	uint64_t frame_len;
	struct iovec pl[3];
	int n = 0, r;

	if (fc->fd < 0) {
		/* a rotation failed earlier: try to start a new file */
		r = open_file(s, cpu);
		if (r < 0) {
			count_lost(s, fc, cpu, ref, r, true);
			return r;
		}
	}
	/* Carry the page from its start unless this file holds it. */
	if (ref->pipe_fd < 0 &&
	    !(fc->have_page && fc->page_id == sb.subbuf_id &&
	      fc->page_ts == sb.page_ts && fc->page_end == sb.data_start)) {
		sb.data_len += sb.data_start;
		sb.data_start = 0;
	}
	frame_len = RT_FRAME_HDR_SIZE + sizeof(sb) + sb.data_len +
		    ref->stored_lost_len + ref->pipe_len + 8;
	if (s->out->max_file_size &&
	    fc->size + frame_len + fs->tail_reserve > s->out->max_file_size) {
		r = rotate(s, cpu);
		if (r < 0) {
			count_lost(s, fc, cpu, ref, r, true);
			return r;
		}
		if (ref->pipe_fd < 0 && sb.data_start) {
			sb.data_len += sb.data_start;
			sb.data_start = 0;
		}
	}
	r = flush_pending_lost(s, fc, cpu);
	if (r < 0) {
		count_lost(s, fc, cpu, ref, r, true);
		return r;
	}
	if (ref->pipe_fd >= 0) {
		r = write_spliced(s, fc, cpu, ref);
	} else {
		pl[n++] = (struct iovec){ &sb, sizeof(sb) };
		pl[n++] = (struct iovec){
			(void *)(ref->page + RB_PAGE_HDR_SIZE + sb.data_start),
			sb.data_len + ref->stored_lost_len
		};
		r = write_frame(fc, RT_FRAME_SUBBUF, 0, cpu, pl, n);
	}
	if (r < 0) {
		/* write_spliced() emptied the pipe already */
		count_lost(s, fc, cpu, ref, r, false);
		return r;
	}
	fc->have_page = ref->pipe_fd < 0;
	fc->page_id = sb.subbuf_id;
	fc->page_ts = sb.page_ts;
	fc->page_end = sb.data_start + sb.data_len;
	if (sb.page_ts)
		fc->last_ts = sb.page_ts;
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
	r = flush_pending_lost(s, fc, cpu);
	if (!r)
		r = write_cmdlines(s, fc, cpu, room_left(s, fc));
	if (!r)
		r = write_end(fc, cpu, RT_END_SHUTDOWN, &final);
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
		files += fs->cpus[c].index - fs->cpus[c].oldest + 1;
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
