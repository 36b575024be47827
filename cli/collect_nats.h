/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RINGTAP_COLLECT_NATS_H
#define RINGTAP_COLLECT_NATS_H

/* ringtap collect --from nats://...: a JetStream consumer (docs/nats.md). */
int cmd_collect_nats(int argc, char **argv);

#endif
