# Shared set-up of the bench scripts (sourced).
#   bench_setup NAME INSTANCE
# mounts tracefs if needed and sets T (its path), work (a new directory
# /var/tmp/NAME.XXXXXX), inst (the instance the daemon will create) and
# pid (empty; the script sets it to the daemon it runs).  On exit, whatever
# the reason, a daemon still running is killed, the instance it may have
# left is removed, and so is the work directory.
bench_setup() {
	T=/sys/kernel/tracing
	[ -e $T/instances ] || mount -t tracefs nodev $T
	work=$(mktemp -d "/var/tmp/$1.XXXXXX")
	inst=$2
	pid=
	trap bench_cleanup EXIT
}

bench_cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -d "$T/instances/$inst" ] && rmdir "$T/instances/$inst"
	rm -rf "$work"
}
