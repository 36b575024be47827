// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * exec: every exec (sched_process_exec) and every process exit
 * (sched_process_exit of a thread-group leader), with pid, ppid, comm,
 * filename, exit code and lifetime.  Filters: pid (tgid), comm, cgroup.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ringtap.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_exec")
int BPF_PROG(rt_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct rt_bpf_exec *e;

	rt_count(RT_BPF_STAT_SEEN);
	if (!rt_current_wanted())
		return 0;
	e = rt_reserve(sizeof(*e), RT_BPF_EV_EXEC);
	if (!e)
		return 0;
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
				  BPF_CORE_READ(bprm, filename));
	rt_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(rt_exit, struct task_struct *p)
{
	struct rt_bpf_exit *e;
	__u64 pt = bpf_get_current_pid_tgid();
	int code;

	/* threads other than the leader are not process exits */
	if ((__u32)pt != pt >> 32)
		return 0;
	rt_count(RT_BPF_STAT_SEEN);
	if (!rt_current_wanted())
		return 0;
	e = rt_reserve(sizeof(*e), RT_BPF_EV_EXIT);
	if (!e)
		return 0;
	code = BPF_CORE_READ(p, exit_code);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->exit_code = (code >> 8) & 0xff;
	e->signal = code & 0x7f;
	e->lifetime_ns = e->h.ts - BPF_CORE_READ(p, start_time);
	rt_submit(e);
	return 0;
}
