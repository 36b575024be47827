// SPDX-License-Identifier: GPL-2.0-or-later
/* ringtap: the command-line companion of ringtapd. */
#include <stdio.h>
#include <string.h>

#include "ringtap/log.h"
#include "ringtap.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtap COMMAND [ARGS]\n\n"
		"Commands:\n"
		"  report [OPTIONS] FILE|DIR...  print captured events (filters, --stats, --json, --follow)\n"
		"  convert IN... -o trace.dat     convert to trace.dat (trace-cmd, KernelShark)\n"
		"  collect -d DIR --listen ADDR   receive streams from ringtapd socket outputs\n"
		"  status [--json|--metrics]      show a running daemon (control socket)\n\n"
		"ringtap COMMAND --help shows a command's options.\n");
}

int main(int argc, char **argv)
{
	rt_log_init("ringtap");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "convert"))
		return cmd_convert(argc - 1, argv + 1);
	if (!strcmp(argv[1], "collect"))
		return cmd_collect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ringtap %s\n", RINGTAP_VERSION);
		return 0;
	}
	log_err("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
