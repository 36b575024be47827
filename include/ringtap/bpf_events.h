/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Events that ringtapd's BPF programs emit, shared by the programs
 * (bpf/NAME.bpf.c, which include vmlinux.h first) and user space.  Plain
 * fixed-size types only, so both compilers lay them out alike.
 *
 * A program reserves one of these structs in the `rt_events` BPF ring
 * buffer; ringtapd writes the bytes unchanged to the instance's
 * trace_marker_raw, whose first 4 bytes are the raw_data event's `id`.  So
 * every event starts with struct rt_bpf_hdr, and its `id` (RT_BPF_EV_*)
 * says which struct follows.  The field layout of each event is described
 * to readers by RT_TAG_BPF_EVENT records (docs/stream-format.md), built
 * from rt_bpf_event_descs (lib/bpf_events.c).
 */
#ifndef RINGTAP_BPF_EVENTS_H
#define RINGTAP_BPF_EVENTS_H

#ifndef __bpf__
#include <stdint.h>
#include <linux/types.h>
#endif

#define RT_BPF_COMM_LEN 16
#define RT_BPF_PATH_LEN 256

/* trace_marker_raw ids of ringtap's events: 0x52540000 | n ("RT"). */
#define RT_BPF_ID_BASE 0x52540000u
enum rt_bpf_event_id {
	RT_BPF_EV_EXEC = RT_BPF_ID_BASE + 1,
	RT_BPF_EV_EXIT = RT_BPF_ID_BASE + 2,
	RT_BPF_EV_SYSCALL = RT_BPF_ID_BASE + 3,
	RT_BPF_EV_RUNQ = RT_BPF_ID_BASE + 4,
	RT_BPF_EV_TCP_STATE = RT_BPF_ID_BASE + 5,
	RT_BPF_EV_TCP_RETRANSMIT = RT_BPF_ID_BASE + 6,
	RT_BPF_EV_BLOCK = RT_BPF_ID_BASE + 7,
	RT_BPF_EV_BENCH = RT_BPF_ID_BASE + 8,
	RT_BPF_EV_STATS = RT_BPF_ID_BASE + 9, /* written by ringtapd itself */
};

/*
 * Ids of external objects' own events (RT_EVENT() of bpf/ringtap.bpf.h):
 * the built-ins' stay below.
 */
#define RT_BPF_ID_EXT_MIN (RT_BPF_ID_BASE + 0x1000)
#define RT_BPF_ID_EXT_MAX (RT_BPF_ID_BASE + 0xffff)

/* Field types an external object's event can name by typedef (a BTF
 * typedef of these names decodes as an address, a device number). */
typedef __u8 rt_ipaddr_t[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
typedef __u32 rt_dev_t;	      /* kernel dev_t: major << 20 | minor */

/* First in every event: 40 bytes. */
struct rt_bpf_hdr {
	__u32 id;   /* enum rt_bpf_event_id */
	__u32 pid;  /* thread the event is about */
	__u32 tgid; /* its process */
	__u32 cpu;  /* CPU the program ran on */
	__u64 ts;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, like trace clock mono */
	char comm[RT_BPF_COMM_LEN];
};

/* exec: a process image replaced (sched:sched_process_exec). */
struct rt_bpf_exec {
	struct rt_bpf_hdr h;
	__u32 ppid;
	__u32 reserved;
	char filename[RT_BPF_PATH_LEN];
};

/* exit: a process (thread-group leader) ended (sched:sched_process_exit). */
struct rt_bpf_exit {
	struct rt_bpf_hdr h;
	__u32 ppid;
	__s32 exit_code;  /* exit status (0..255), when no signal */
	__u32 signal;	  /* terminating signal, 0 if none */
	__u32 reserved;
	__u64 lifetime_ns; /* since the process started */
};

/* syscall_latency: one system call slower than the threshold. */
struct rt_bpf_syscall {
	struct rt_bpf_hdr h;
	__u32 nr;	   /* syscall number (names in RT_TAG_BPF_ENUM "syscall") */
	__u32 reserved;
	__s64 ret;
	__u64 duration_ns;
};

/* runqueue_latency: a task waited longer than the threshold to run. */
struct rt_bpf_runq {
	struct rt_bpf_hdr h; /* the task that waited */
	__u64 latency_ns;    /* wakeup to running */
	__u32 prev_pid;	     /* the task it replaced on the CPU */
	__u32 reserved;
	char prev_comm[RT_BPF_COMM_LEN];
};

/* tcp: a state change (RT_BPF_EV_TCP_STATE) or a retransmit. */
struct rt_bpf_tcp {
	struct rt_bpf_hdr h;
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 sport;
	__u16 dport;
	__u16 reserved;
	__u32 oldstate; /* retransmit: the socket's state */
	__u32 newstate; /* retransmit: the same */
	__u8 saddr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u8 daddr[16];
};

/* block_latency: a request slower than the threshold, issue to complete. */
struct rt_bpf_block {
	struct rt_bpf_hdr h; /* the task that issued it */
	__u32 dev;	     /* kernel dev_t: major << 20 | minor */
	__u32 bytes;
	__u64 sector;
	__u64 latency_ns;
	__s32 error;
	char op[12]; /* rwbs: R, W, RS, WS, FWS, D ... */
};

/* bench: one event per getppid() call (bench/run-bpf-bench.sh). */
struct rt_bpf_bench {
	struct rt_bpf_hdr h;
	__u64 seq;
};

/*
 * stats: one per program and CPU, written by ringtapd (not a BPF program)
 * when it stops: the program's counters (rt_stats) on that CPU (h.cpu).
 */
struct rt_bpf_stats {
	struct rt_bpf_hdr h;
	char section[32]; /* the [bpf "NAME"] section */
	__u64 seen;
	__u64 emitted;
	__u64 dropped; /* the program found the ring buffer full */
	__u64 lost_write; /* ringtapd could not write them to the instance */
};

/* Per-program statistics, a per-CPU array map `rt_stats` indexed by: */
enum rt_bpf_stat {
	RT_BPF_STAT_SEEN = 0,	 /* events the program looked at */
	RT_BPF_STAT_EMITTED = 1, /* events it wrote */
	RT_BPF_STAT_DROPPED = 2, /* events it could not write (ring full) */
	RT_BPF_STAT_MAX = 3,
};

#ifndef __bpf__
#include <stddef.h>

/*
 * User space: the layout of each event, for the RT_TAG_BPF_EVENT records
 * the daemon writes and the decoder reads (lib/bpf_events.c).
 */
struct rt_bpf_field_desc {
	const char *name;
	const char *type; /* u8..u64 s8..s64 str hex ipaddr dev enum:NAME */
	unsigned int offset, size;
};

struct rt_bpf_event_desc {
	uint32_t id;
	const char *name; /* shown as ringtap:NAME */
	size_t size;
	const struct rt_bpf_field_desc *fields;
	size_t nr_fields;
};

extern const struct rt_bpf_event_desc rt_bpf_event_descs[];
extern const size_t rt_bpf_nr_event_descs;

_Static_assert(sizeof(struct rt_bpf_hdr) == 40, "rt_bpf_hdr");
_Static_assert(sizeof(struct rt_bpf_exec) == 304, "rt_bpf_exec");
_Static_assert(sizeof(struct rt_bpf_exit) == 64, "rt_bpf_exit");
_Static_assert(sizeof(struct rt_bpf_syscall) == 64, "rt_bpf_syscall");
_Static_assert(sizeof(struct rt_bpf_runq) == 72, "rt_bpf_runq");
_Static_assert(sizeof(struct rt_bpf_tcp) == 88, "rt_bpf_tcp");
_Static_assert(sizeof(struct rt_bpf_block) == 80, "rt_bpf_block");
_Static_assert(sizeof(struct rt_bpf_stats) == 104, "rt_bpf_stats");
#endif

#endif
