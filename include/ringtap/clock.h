/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef RINGTAP_CLOCK_H
#define RINGTAP_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC: deadlines, back-off, uptime. */
static inline uint64_t rt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
