// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"

static const char *log_prog = "ringtap";
static int log_level = LOG_INFO;
static bool log_prefix_prio;

void rt_log_init(const char *prog)
{
	log_prog = prog;
	log_prefix_prio = getenv("JOURNAL_STREAM") != NULL;
}

void rt_log_set_level(int level)
{
	log_level = level;
}

void rt_log(int prio, const char *fmt, ...)
{
	static const char *const names[] = {
		[LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",
		[LOG_CRIT] = "critical",   [LOG_ERR] = "error",
		[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info",	   [LOG_DEBUG] = "debug",
	};
	char line[2048];
	va_list ap;
	int n;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_prefix_prio)
		n = fprintf(stderr, "<%d>%s\n", prio, line);
	else if (prio <= LOG_WARNING)
		n = fprintf(stderr, "%s: %s: %s\n", log_prog, names[prio], line);
	else
		n = fprintf(stderr, "%s: %s\n", log_prog, line);
	(void)n;
}
