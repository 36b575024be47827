/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef RINGTAP_LOG_H
#define RINGTAP_LOG_H

#include <syslog.h>

/*
 * Logging to stderr.  Under systemd (JOURNAL_STREAM set) each line carries a
 * "<N>" priority prefix so that journald keeps the level.
 */
void rt_log_init(const char *prog);
void rt_log_set_level(int level); /* LOG_ERR..LOG_DEBUG; default LOG_INFO */
void rt_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) rt_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) rt_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) rt_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) rt_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) rt_log(LOG_DEBUG, __VA_ARGS__)

#endif
