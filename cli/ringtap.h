/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RINGTAP_CLI_H
#define RINGTAP_CLI_H

int cmd_report(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_collect(int argc, char **argv);

#endif
