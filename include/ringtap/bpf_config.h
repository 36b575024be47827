/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A [bpf "NAME"] section of the config: its keys as written.  The parser
 * (lib/config.c) checks only the syntax; ringtapd (daemon/bpf.c) knows each
 * program's parameters and checks them, naming the file and line.
 * docs/bpf.md lists the programs and their parameters.
 */
#ifndef RINGTAP_BPF_CONFIG_H
#define RINGTAP_BPF_CONFIG_H

#include <stddef.h>

#define RT_CONFIG_MAX_BPF 16
#define RT_BPF_MAX_PARAMS 16

struct rt_bpf_param {
	char *key;
	char *value;
	int line;
};

struct rt_bpf_section {
	char *name;
	int line; /* of the section header */
	struct rt_bpf_param params[RT_BPF_MAX_PARAMS];
	size_t nr_params;
};

#endif
