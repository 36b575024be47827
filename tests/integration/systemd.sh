# A real systemd for the service tests (sourced after lib.sh): PID 1 here is
# not systemd, so a nested one boots in a container on the host's own root
# (systemd-nspawn -D / --volatile=yes: tmpfs /, read-only /usr, empty /etc,
# /var).  In its own cgroups, so that cleanup is complete; powered off and
# removed on every exit, through lib.sh's cleanup.
#
#   sd_boot NAME [nspawn args...]   boot; binds tracefs and the build tree
#                                   (/srv/build); sets SD_IN (nsenter prefix)
#   sd_in CMD...                    run CMD inside the container
#   sd_shutdown                     orderly poweroff (also done at exit)
SD_NSPID=
SD_NAME=
SD_LEADER=
SD_CG=()

command -v systemd-nspawn >/dev/null || skip "no systemd-nspawn (package systemd-container: scripts/install-deps.sh)"

sd_cleanup() {
	sd_shutdown
	local cg
	for cg in "${SD_CG[@]}"; do
		# depth first: the container's own cgroups, then ours
		find "$cg" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
		rmdir "$cg" 2>/dev/null
	done
	SD_CG=()
}

sd_shutdown() {
	[ -n "$SD_NSPID" ] || return 0
	if kill -0 "$SD_NSPID" 2>/dev/null; then
		kill -TERM "$SD_NSPID" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$SD_NSPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$SD_NSPID" 2>/dev/null && { kill -9 "$SD_NSPID"; echo "sd_shutdown: container did not power off in 10 s" >&2; }
	fi
	wait "$SD_NSPID" 2>/dev/null
	SD_NSPID=
}

# ours first, then lib.sh's (processes, instances, $TMP), with the status
trap 'rc=$?; sd_cleanup; (exit $rc); cleanup' EXIT

sd_in() { nsenter -t "$SD_LEADER" -m -u -i -n -p -- "$@"; }

sd_boot() {
	local name=$1 cg
	shift
	SD_NAME=$name
	mkdir -p "$TMP/sd"
	printf '[Unit]\nDescription=ringtap test target\nRequires=basic.target\nAfter=basic.target\nAllowIsolate=yes\n' >"$TMP/sd/test.target"
	for cg in /sys/fs/cgroup/systemd/$name /sys/fs/cgroup/unified/$name; do
		[ -d "$(dirname "$cg")" ] || continue
		mkdir -p "$cg" && SD_CG+=("$cg")
	done
	(
		for cg in "${SD_CG[@]}"; do echo $BASHPID >"$cg/cgroup.procs"; done
		exec unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' sh \
			systemd-nspawn -D / --volatile=yes --register=no --keep-unit -M "$name" \
			--capability=CAP_BPF,CAP_PERFMON --system-call-filter="bpf perf_event_open" \
			--bind=/sys/kernel/tracing --bind-ro="$RT_BUILD:/srv/build" \
			--bind-ro="$TMP/sd/test.target:/etc/systemd/system/test.target" \
			"$@" \
			-b -- systemd.firstboot=off systemd.unit=test.target
	) >"$TMP/sd/nspawn.log" 2>&1 </dev/null &
	SD_NSPID=$!
	for _ in $(seq 1 100); do
		SD_LEADER=$(pgrep -P "$SD_NSPID" -x systemd)
		[ -n "$SD_LEADER" ] && break
		# nspawn may sit under unshare's sh for a moment
		SD_LEADER=$(pgrep -f "systemd.unit=test.target" | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = systemd ] && echo $p; done | head -1)
		[ -n "$SD_LEADER" ] && break
		kill -0 "$SD_NSPID" 2>/dev/null || { cat "$TMP/sd/nspawn.log"; fail "systemd-nspawn exited"; }
		sleep 0.1
	done
	[ -n "$SD_LEADER" ] || { cat "$TMP/sd/nspawn.log"; fail "no systemd in the container after 10 s"; }
	local st
	for _ in $(seq 1 300); do
		st=$(sd_in systemctl is-system-running 2>/dev/null)
		case $st in running|degraded) return 0 ;; esac
		sleep 0.1
	done
	cat "$TMP/sd/nspawn.log"
	fail "container systemd not up after 30 s (state '$st')"
}
