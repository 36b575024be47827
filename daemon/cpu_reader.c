// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One reader thread per CPU.  The mmap reader follows the kernel's
 * trace_pipe_raw mapping ABI (include/ringtap/trace_mmap.h): the meta page
 * at offset 0, the sub-buffers after it, and TRACE_MMAP_IOCTL_GET_READER to
 * consume.  libtracefs 1.6 has no mapped-buffer API, hence this file.
 *
 * Each ioctl marks everything committed on the reader page as consumed and
 * swaps in a new page once the current one is used up, so the new bytes are
 * [previous reader.read, reader.read) on the same reader.id, or [0,
 * reader.read) when the id changed.  The page stays ours until the next
 * ioctl: every output must be done with it before we ask again.
 *
 * The read reader (`reader = read`, and the fallback when mapping fails)
 * splices full sub-buffers out of trace_pipe_raw and read()s the last
 * partial one on idle flushes and at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtapd.h"

static int reader_map(struct rt_cpu_reader *rd)
{
	long pagesz = sysconf(_SC_PAGESIZE);
	struct trace_buffer_meta *meta;
	size_t meta_len = pagesz;

	meta = mmap(NULL, meta_len, PROT_READ, MAP_SHARED, rd->fd, 0);
	if (meta == MAP_FAILED)
		return -errno;
	if (meta->meta_page_size > meta_len) {
		size_t len = meta->meta_page_size;

		munmap(meta, meta_len);
		meta_len = len;
		meta = mmap(NULL, meta_len, PROT_READ, MAP_SHARED, rd->fd, 0);
		if (meta == MAP_FAILED)
			return -errno;
	}
	if (meta->meta_struct_len < sizeof(*meta) - 16 ||
	    meta->subbuf_size < RB_PAGE_HDR_SIZE || meta->nr_subbufs < 2) {
		munmap(meta, meta_len);
		return -EPROTO;
	}
	rd->meta = meta;
	rd->meta_len = meta_len;
	rd->subbuf_size = meta->subbuf_size;
	rd->data_len = (size_t)meta->subbuf_size * meta->nr_subbufs;
	rd->data = mmap(NULL, rd->data_len, PROT_READ, MAP_SHARED, rd->fd,
			meta->meta_page_size);
	if (rd->data == MAP_FAILED) {
		int r = -errno;

		rd->data = NULL;
		munmap(meta, meta_len);
		rd->meta = NULL;
		return r;
	}
	rd->cur_id = meta->reader.id;
	rd->cur_read = meta->reader.read;
	rd->have_page = false;
	rd->last_read = meta->read;
	rd->first_overrun = meta->overrun;
	rd->mapped = true;
	return 0;
}

static void reader_unmap(struct rt_cpu_reader *rd)
{
	if (rd->data)
		munmap(rd->data, rd->data_len);
	if (rd->meta)
		munmap(rd->meta, rd->meta_len);
	rd->data = NULL;
	rd->meta = NULL;
}

static int open_one(struct rt_capture *cap, struct rt_cpu_reader *rd)
{
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/per_cpu/cpu%d/trace_pipe_raw",
		 cap->inst->dir, rd->cpu);
	rd->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rd->fd < 0) {
		r = -errno;
		log_err("cpu %d: cannot open '%s': %m", rd->cpu, path);
		return r;
	}
	if (cap->cfg->reader == RT_READER_MMAP) {
		/* Fault injection for the fallback test: act as if the kernel
		 * refused the mapping (as an older kernel or lockdown would). */
		r = getenv("RINGTAP_DEBUG_NO_MMAP") ? -ENODEV : reader_map(rd);
		if (!r)
			return 0;
		log_warn("cpu %d: cannot map '%s' (%s): falling back to splice/read",
			 rd->cpu, path, strerror(-r));
	}
	rd->mapped = false;
	rd->subbuf_size = cap->cfg->subbuf_size_kb * 1024;
	rd->buf = aligned_alloc(4096, rd->subbuf_size);
	if (!rd->buf)
		return -ENOMEM;
	if (pipe2(rd->pipe, O_CLOEXEC) < 0)
		return -errno;
	/* Room for a few sub-buffers in flight. */
	fcntl(rd->pipe[1], F_SETPIPE_SZ, rd->subbuf_size * 4);
	return 0;
}

int rt_online_cpus(bool **ret_online, int *ret_nr)
{
	char buf[4096];
	bool *online = NULL;
	int fd, nr = 0;
	ssize_t n;

	fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* "0-3,5,7-8": find the highest first, then mark */
	for (int pass = 0; pass < 2; pass++) {
		char *p = buf;

		if (pass && !nr)
			return -EINVAL;
		if (pass)
			online = calloc(nr, sizeof(*online));
		if (pass && !online)
			return -ENOMEM;
		while (*p && *p != '\n') {
			char *end;
			long a = strtol(p, &end, 10), b = a;

			if (end == p || a < 0 || a > 65535)
				goto bad;
			if (*end == '-') {
				p = end + 1;
				b = strtol(p, &end, 10);
				if (end == p || b < a || b > 65535)
					goto bad;
			}
			for (long c = a; c <= b; c++) {
				if (!pass && c + 1 > nr)
					nr = c + 1;
				if (pass)
					online[c] = true;
			}
			p = *end == ',' ? end + 1 : end;
		}
	}
	*ret_online = online;
	*ret_nr = nr;
	return 0;
bad:
	free(online);
	return -EINVAL;
}

int rt_capture_open_readers(struct rt_capture *cap)
{
	int nr_mapped = 0, nr_online = 0, r;

	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	/* a reload must not wait behind readers that never all let go */
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&cap->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	cap->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cap->fail_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cap->stop_fd < 0 || cap->fail_fd < 0)
		return -errno;
	cap->readers = calloc(cap->nr_cpus, sizeof(*cap->readers));
	if (!cap->readers)
		return -ENOMEM;
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		struct rt_cpu_reader *rd = &cap->readers[cpu];

		rd->cpu = cpu;
		rd->fd = -1;
		rd->pipe[0] = rd->pipe[1] = -1;
		rd->cap = cap;
		rd->stop_fd = cap->stop_fd;
		rd->st.cpu = cpu;
	}
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		if (!cap->online[cpu])
			continue;
		r = open_one(cap, &cap->readers[cpu]);
		if (r < 0)
			return r;
		nr_mapped += cap->readers[cpu].mapped;
		nr_online++;
		cap->subbuf_size = cap->readers[cpu].subbuf_size;
	}
	cap->mode = nr_mapped == nr_online ? "mmap" :
		    nr_mapped == 0		  ? "read" :
						    "mixed";
	return 0;
}

void rt_capture_close_readers(struct rt_capture *cap)
{
	if (!cap->readers)
		return;
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		struct rt_cpu_reader *rd = &cap->readers[cpu];

		reader_unmap(rd);
		if (rd->fd >= 0)
			close(rd->fd);
		if (rd->pipe[0] >= 0)
			close(rd->pipe[0]);
		if (rd->pipe[1] >= 0)
			close(rd->pipe[1]);
		free(rd->buf);
	}
	free(cap->readers);
	cap->readers = NULL;
	pthread_rwlock_destroy(&cap->lock);
	if (cap->stop_fd >= 0)
		close(cap->stop_fd);
	cap->stop_fd = -1;
	if (cap->fail_fd >= 0)
		close(cap->fail_fd);
	cap->fail_fd = -1;
}

static void emit(struct rt_cpu_reader *rd, const struct rt_subbuf_ref *ref)
{
	struct rt_capture *cap = rd->cap;

	rt_cmdlines_moment_begin();
	for (size_t i = 0; i < cap->nr_sinks; i++)
		cap->sinks[i]->ops->write_subbuf(cap->sinks[i], rd->cpu, ref);
	rt_cmdlines_moment_end();
	rd->st.subbufs++;
	rd->st.bytes += ref->sb.data_len;
	rd->st.events += ref->sb.entries;
}

/* Describe the bytes [from, to) of the sub-buffer at @page. */
static void fill_ref(struct rt_subbuf_ref *ref, const uint8_t *page,
		     uint32_t subbuf_size, uint32_t id, uint32_t from,
		     uint32_t to)
{
	uint64_t commit;

	memcpy(&ref->sb.page_ts, page, 8);
	memcpy(&commit, page + 8, 8);
	ref->page = page;
	ref->sb.commit = to | (commit & (RB_MISSED_EVENTS | RB_MISSED_STORED));
	ref->sb.data_start = from;
	ref->sb.data_len = to - from;
	ref->sb.emit_from = from;
	ref->sb.subbuf_id = id;
	ref->sb.subbuf_size = subbuf_size;
	/* The kernel stores the lost count right after the data, if room. */
	ref->stored_lost_len =
		(commit & RB_MISSED_STORED) &&
				RB_PAGE_HDR_SIZE + to + 8 <= subbuf_size ?
			8 :
			0;
	ref->pipe_fd = -1;
}

/*
 * What the meta page says of the ring buffer after this GET_READER, for the
 * outputs (the events the kernel holds unread, at this sub-buffer's bytes
 * per event):
 *   done:   committed events exist beyond the reader page, so the kernel
 *           has moved on to later pages and writes no more into this one;
 *   behind: more than half the ring buffer is unread: outputs should not
 *           wait for the disk now.
 */
static void page_state(const struct rt_cpu_reader *rd,
		       struct rt_subbuf_ref *ref)
{
	const struct trace_buffer_meta *meta = rd->meta;
	uint64_t unread;

	if (meta->entries < meta->overrun + meta->read)
		return;
	unread = meta->entries - meta->overrun - meta->read;
	ref->done = unread > 0;
	ref->behind = ref->sb.entries &&
		      2 * (unread * ref->sb.data_len / ref->sb.entries) >
			      rd->data_len;
}

/* Consume everything the kernel has committed so far. */
static int drain_mapped(struct rt_cpu_reader *rd)
{
	struct trace_buffer_meta *meta = rd->meta;

	for (;;) {
		struct rt_subbuf_ref ref = { 0 };
		uint32_t id, rdpos, from;
		uint64_t read;

		if (ioctl(rd->fd, TRACE_MMAP_IOCTL_GET_READER) < 0) {
			if (errno == EINTR)
				continue;
			log_err("cpu %d: TRACE_MMAP_IOCTL_GET_READER: %m",
				rd->cpu);
			return -errno;
		}
		rd->st.reads++;
		id = READ_ONCE_U32(meta->reader.id);
		rdpos = READ_ONCE_U32(meta->reader.read);
		read = meta->read;
		if (id >= meta->nr_subbufs ||
		    rdpos > rd->subbuf_size - RB_PAGE_HDR_SIZE) {
			log_err("cpu %d: meta page out of range (id %u, read %u)",
				rd->cpu, id, rdpos);
			return -EPROTO;
		}
		from = (rd->have_page && id == rd->cur_id) ? rd->cur_read : 0;
		if (rdpos <= from) {
			/* Nothing new: done until the next wake-up. */
			rd->cur_id = id;
			rd->cur_read = rdpos;
			rd->have_page = true;
			return 0;
		}
		fill_ref(&ref, rd->data + (size_t)rd->subbuf_size * id,
			 rd->subbuf_size, id, from, rdpos);
		ref.sb.entries = read - rd->last_read;
		ref.sb.overrun = meta->overrun - rd->first_overrun;
		ref.mapped = true;
		page_state(rd, &ref);
		emit(rd, &ref);
		rd->last_read = read;
		rd->cur_id = id;
		rd->cur_read = rdpos;
		rd->have_page = true;
		/* the rest stays in the ring buffer until after the pause */
		if (atomic_load_explicit(&rd->cap->pausing, memory_order_relaxed))
			return 0;
	}
}

/* One sub-buffer from read(): whole pages, never continued. */
static int read_one(struct rt_cpu_reader *rd)
{
	struct rt_subbuf_ref ref = { 0 };
	uint64_t commit;
	ssize_t n;

	n = read(rd->fd, rd->buf, rd->subbuf_size);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	rd->st.reads++;
	if (n < RB_PAGE_HDR_SIZE)
		return 0;
	memcpy(&commit, rd->buf + 8, 8);
	if ((commit & RB_COMMIT_MASK) > (uint64_t)n - RB_PAGE_HDR_SIZE)
		return -EPROTO;
	fill_ref(&ref, rd->buf, rd->subbuf_size, 0, 0,
		 commit & RB_COMMIT_MASK);
	emit(rd, &ref);
	return 1;
}

/* Full sub-buffers through a pipe: the kernel moves its pages. */
static int splice_one(struct rt_cpu_reader *rd)
{
	struct rt_capture *cap = rd->cap;
	struct rt_subbuf_ref ref = { 0 };
	ssize_t n;

	n = splice(rd->fd, NULL, rd->pipe[1], NULL, rd->subbuf_size,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return 0;
	rd->st.reads++;
	ref.pipe_fd = rd->pipe[0];
	ref.pipe_len = n;
	ref.sb.subbuf_size = rd->subbuf_size;
	ref.sb.flags = RT_SUBBUF_F_RAW_PAGE;
	cap->sinks[0]->ops->write_subbuf(cap->sinks[0], rd->cpu, &ref);
	rd->st.subbufs++;
	rd->st.bytes += n;
	return 1;
}

static bool can_splice(struct rt_capture *cap)
{
	return cap->cfg->reader != RT_READER_COPY && cap->nr_sinks == 1 &&
	       cap->sinks[0]->ops->can_splice;
}

static int drain_read(struct rt_cpu_reader *rd, bool partial)
{
	int r;

	atomic_bool *pausing = &rd->cap->pausing;

	if (can_splice(rd->cap)) {
		while ((r = splice_one(rd)) > 0 &&
		       !atomic_load_explicit(pausing, memory_order_relaxed))
			;
		if (r < 0)
			return r;
		if (!partial || atomic_load(pausing))
			return 0;
	}
	while ((r = read_one(rd)) > 0 &&
	       !atomic_load_explicit(pausing, memory_order_relaxed))
		;
	return r < 0 ? r : 0;
}

static int drain(struct rt_cpu_reader *rd, bool partial)
{
	return rd->mapped ? drain_mapped(rd) : drain_read(rd, partial);
}

void rt_capture_pause(struct rt_capture *cap)
{
	atomic_store(&cap->pausing, true);
	pthread_rwlock_wrlock(&cap->lock);
}

void rt_capture_resume(struct rt_capture *cap)
{
	atomic_store(&cap->pausing, false);
	pthread_rwlock_unlock(&cap->lock);
}

void rt_capture_cpu_snapshot(struct rt_capture *cap, int cpu,
			     struct rt_cpu_stats *st)
{
	struct rt_cpu_reader *rd = &cap->readers[cpu];
	struct rt_cpu_stats k = { 0 };

	*st = rd->st;
	if (rd->mapped) {
		st->lost = rd->meta->overrun - rd->first_overrun;
	} else if (rt_instance_cpu_stats(cap->inst, cpu, &k) == 0) {
		st->lost = k.lost;
		st->events = k.events;
	}
	st->lost_sink = 0;
	for (size_t i = 0; i < cap->nr_sinks; i++)
		st->lost_sink += cap->sinks[i]->lost_events[cpu];
}

static void final_stats(struct rt_cpu_reader *rd)
{
	struct rt_cpu_stats k = { 0 };

	if (rt_instance_cpu_stats(rd->cap->inst, rd->cpu, &k) == 0) {
		rd->st.dropped = k.dropped;
		rd->st.commit_overrun = k.commit_overrun;
		if (!rd->mapped) {
			rd->st.lost = k.lost;
			rd->st.events = k.events;
		}
	}
	if (rd->mapped)
		rd->st.lost = rd->meta->overrun - rd->first_overrun;
	for (size_t i = 0; i < rd->cap->nr_sinks; i++)
		rd->st.lost_sink += rd->cap->sinks[i]->lost_events[rd->cpu];
}

static void *reader_thread(void *arg)
{
	struct rt_cpu_reader *rd = arg;
	struct rt_capture *cap = rd->cap;
	struct pollfd pfd[2] = {
		{ .fd = rd->fd, .events = POLLIN },
		{ .fd = rd->stop_fd, .events = POLLIN },
	};
	int timeout = cap->cfg->flush_interval_ms;
	cpu_set_t set;
	int r = 0;

	/* Reading on the CPU that writes keeps the pages in its cache. */
	CPU_ZERO(&set);
	CPU_SET(rd->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);

	while (!atomic_load(&cap->stopping)) {
		int n = poll(pfd, 2, timeout);

		atomic_fetch_add_explicit(&rd->beats, 1, memory_order_relaxed);
		if (n < 0 && errno != EINTR) {
			r = -errno;
			log_err("cpu %d: poll: %m", rd->cpu);
			break;
		}
		if (pfd[1].revents)
			break;
		/* Woken by the watermark: full pages; by the timer: flush. */
		pthread_rwlock_rdlock(&cap->lock);
		r = drain(rd, n == 0);
		timeout = cap->cfg->flush_interval_ms; /* a reload may change it */
		pthread_rwlock_unlock(&cap->lock);
		if (r < 0)
			break;
	}
	/* Tracing is off by now: take whatever is left. */
	pthread_rwlock_rdlock(&cap->lock);
	if (r >= 0)
		r = drain(rd, true);
	if (r < 0) {
		uint64_t one = 1;

		/* Losing a CPU's events silently is not an option: tell the
		 * main thread, which stops the capture with an error. */
		rd->error = r;
		atomic_store(&cap->failed, r);
		if (write(cap->fail_fd, &one, sizeof(one)) < 0)
			log_err("cpu %d: cannot report the failure: %m", rd->cpu);
	}
	final_stats(rd);
	rt_cmdlines_moment_begin();
	for (size_t i = 0; i < cap->nr_sinks; i++)
		cap->sinks[i]->ops->close_cpu(cap->sinks[i], rd->cpu, &rd->st);
	rt_cmdlines_moment_end();
	pthread_rwlock_unlock(&cap->lock);
	return NULL;
}

int rt_capture_start(struct rt_capture *cap)
{
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		struct rt_cpu_reader *rd = &cap->readers[cpu];
		int r;

		if (!cap->online[cpu])
			continue;
		r = pthread_create(&rd->thread, NULL, reader_thread, rd);

		if (r) {
			log_err("cpu %d: cannot start reader thread: %s", cpu,
				strerror(r));
			return -r;
		}
		rd->started = true;
	}
	return 0;
}

int rt_capture_stop(struct rt_capture *cap)
{
	uint64_t one = 1;

	atomic_store(&cap->stopping, true);
	if (write(cap->stop_fd, &one, sizeof(one)) < 0)
		log_err("cannot wake reader threads: %m");
	for (int cpu = 0; cpu < cap->nr_cpus; cpu++) {
		struct rt_cpu_reader *rd = &cap->readers[cpu];

		struct timespec ts;

		if (!rd->started)
			continue;
		/* A stop that takes long says why, while it happens. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_timedjoin_np(rd->thread, NULL, &ts) == ETIMEDOUT) {
			log_warn("cpu %d: still draining its buffer and finishing its files after 5 s (%llu bytes read so far): slow or stuck output?",
				 cpu, (unsigned long long)__atomic_load_n(&rd->st.bytes, __ATOMIC_RELAXED));
			pthread_join(rd->thread, NULL);
		}
		rd->started = false;
	}
	return atomic_load(&cap->failed);
}
