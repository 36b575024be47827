// SPDX-License-Identifier: GPL-2.0-or-later
/* Output creation and the discarding output. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtapd.h"

int rt_sink_create(const struct rt_output *out, const struct rt_buf *header,
		   struct rt_instance *inst, int nr_cpus, const bool *online,
		   struct rt_sink **ret)
{
	struct rt_sink *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->out = out;
	s->header = header;
	s->inst = inst;
	s->nr_cpus = nr_cpus;
	s->online = online;
	s->lost_events = calloc(nr_cpus, sizeof(*s->lost_events));
	s->lost_bytes = calloc(nr_cpus, sizeof(*s->lost_bytes));
	switch (out->type) {
	case RT_OUTPUT_FILE:
		s->ops = &rt_sink_file_ops;
		break;
	case RT_OUTPUT_DISCARD:
		s->ops = &rt_sink_discard_ops;
		break;
	case RT_OUTPUT_TCP:
		s->ops = &rt_sink_tcp_ops;
		break;
	case RT_OUTPUT_UNIX:
		s->ops = &rt_sink_unix_ops;
		break;
	case RT_OUTPUT_NATS:
		s->ops = &rt_sink_nats_ops;
		break;
	}
	if (!s->lost_events || !s->lost_bytes || !s->ops) {
		rt_sink_free(s);
		return -ENOMEM;
	}
	r = s->ops->open(s);
	if (r < 0) {
		rt_sink_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void rt_sink_free(struct rt_sink *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->free)
		s->ops->free(s);
	free(s->lost_events);
	free(s->lost_bytes);
	free(s);
}

/* A spliced page that could not be stored must still leave the pipe, or
 * every later frame would carry an older page. */
void rt_drain_pipe(int fd, uint32_t left)
{
	uint8_t trash[4096];

	while (left) {
		ssize_t n = read(fd, trash, left < sizeof(trash) ? left : sizeof(trash));

		if (n <= 0)
			break;
		left -= n;
	}
}

int rt_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * type = discard: drops everything.  It exists to measure the reader's own
 * cost apart from any output's.
 */
static int discard_open(struct rt_sink *s)
{
	int *fd = malloc(sizeof(*fd));

	if (!fd)
		return -ENOMEM;
	*fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (*fd < 0) {
		free(fd);
		return -errno;
	}
	s->priv = fd;
	return 0;
}

static int discard_write(struct rt_sink *s, int cpu,
			 const struct rt_subbuf_ref *ref)
{
	uint32_t left = ref->pipe_len;

	/* A spliced page must still leave the pipe. */
	while (ref->pipe_fd >= 0 && left) {
		ssize_t n = splice(ref->pipe_fd, NULL, *(int *)s->priv, NULL,
				   left, SPLICE_F_MOVE);

		if (n <= 0) {
			rt_drain_pipe(ref->pipe_fd, left);
			return n < 0 ? -errno : -EIO;
		}
		left -= n;
	}
	return 0;
}

static int discard_close_cpu(struct rt_sink *s, int cpu,
			     const struct rt_cpu_stats *st)
{
	return 0;
}

static void discard_free(struct rt_sink *s)
{
	if (s->priv)
		close(*(int *)s->priv);
	free(s->priv);
}

const struct rt_sink_ops rt_sink_discard_ops = {
	.type = "discard",
	.open = discard_open,
	.write_subbuf = discard_write,
	.close_cpu = discard_close_cpu,
	.free = discard_free,
	.can_splice = true,
};
