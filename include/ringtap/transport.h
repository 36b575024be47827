/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport protocol between ringtapd's socket outputs and
 * `ringtap collect`: docs/stream-protocol.md is the normative text.  All
 * integers little-endian.
 */
#ifndef RINGTAP_TRANSPORT_H
#define RINGTAP_TRANSPORT_H

#include <stdint.h>

#define RT_PROTO_VERSION 1
#define RT_MSG_MAGIC 0x50415452u /* "RTAP" little-endian */
#define RT_MSG_HDR_SIZE 16
#define RT_MSG_MAX_PAYLOAD (64u << 10)	    /* every type but DATA */
#define RT_MSG_MAX_DATA (8u + (4u << 20)) /* DATA: offset + 4 MiB */

enum rt_msg_type {
	RT_MSG_HELLO = 1,
	RT_MSG_WELCOME = 2,
	RT_MSG_DATA = 3,
	RT_MSG_ACK = 4,
	RT_MSG_BYE = 5,
};

struct rt_msg_hdr {
	uint32_t magic;	  /* RT_MSG_MAGIC */
	uint16_t type;	  /* enum rt_msg_type */
	uint16_t flags;	  /* reserved, 0 */
	uint32_t len;	  /* payload bytes */
	uint32_t crc;	  /* CRC32C of the payload */
};

/* HELLO: TLV records as in the stream format (rt_record_add*) */
enum rt_hello_tag {
	RT_HELLO_PROTO_VERSION = 1, /* u32 */
	RT_HELLO_HOST = 2,	    /* string */
	RT_HELLO_BOOT_ID = 3,	    /* string */
	RT_HELLO_CAPTURE_ID = 4,    /* string */
	RT_HELLO_CPU = 5,	    /* u32 */
	RT_HELLO_TOKEN = 6,	    /* bytes */
	RT_HELLO_OUTPUT = 7,	    /* string */
};

enum rt_welcome_status {
	RT_WELCOME_OK = 0,
	RT_WELCOME_BAD_REQUEST = 1,
	RT_WELCOME_AUTH = 2,
	RT_WELCOME_VERSION = 3,
	RT_WELCOME_BUSY = 4,
	RT_WELCOME_CONFLICT = 5,
};

/* WELCOME payload, then an optional UTF-8 message */
struct rt_msg_welcome {
	uint32_t status;   /* enum rt_welcome_status */
	uint32_t reserved;
	uint64_t resume;   /* channel offset to send from */
};

/* DATA payload: this, then channel bytes */
struct rt_msg_data {
	uint64_t offset;
};

/* ACK payload */
struct rt_msg_ack {
	uint64_t offset; /* every channel byte before it is durably written */
};

/* BYE payload, then an optional UTF-8 message */
enum rt_bye_reason {
	RT_BYE_DONE = 1,     /* the channel's last file is acknowledged */
	RT_BYE_SHUTDOWN = 2, /* the peer stops; reconnect later */
	RT_BYE_PROTOCOL = 3, /* the other side broke the protocol */
};
struct rt_msg_bye {
	uint32_t reason;
};

_Static_assert(sizeof(struct rt_msg_hdr) == RT_MSG_HDR_SIZE, "msg hdr");
_Static_assert(sizeof(struct rt_msg_welcome) == 16, "welcome");

#endif
