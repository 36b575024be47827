// SPDX-License-Identifier: GPL-2.0-or-later
/* ringtap convert: being written (issue 4). */
#include "ringtap/log.h"
#include "ringtap.h"

int cmd_convert(int argc, char **argv)
{
	log_err("'convert' is not implemented yet in this version");
	return 2;
}
