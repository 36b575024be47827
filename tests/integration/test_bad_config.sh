#!/bin/bash
# Bad configuration: each class fails with a message naming file and line
# (or event), --check-config agrees, and no instance is left behind.
. "$(dirname "$0")/lib.sh"

inst=$(new_instance)
n=0
# expect_fail NAME PATTERN: the config in $TMP/bad.conf must be refused by
# both --check-config and a real start, with PATTERN in the message.
expect_fail() {
	local name=$1 pattern=$2 mode
	for mode in --check-config --duration=1; do
		if "$RINGTAPD" -c "$TMP/bad.conf" $mode >"$TMP/out.log" 2>&1; then
			cat "$TMP/out.log"; fail "$name: accepted with $mode"
		fi
		grep -qE -- "$pattern" "$TMP/out.log" || { cat "$TMP/out.log"; fail "$name ($mode): message lacks '$pattern'"; }
		instance_exists "$inst" && fail "$name ($mode): instance left behind"
		ls "$TRACEFS/instances" | grep -q "^$inst-check" && fail "$name: check instance left behind"
	done
	echo "ok: $name: $(head -1 "$TMP/out.log")"
	n=$((n + 1))
}
base() {
	printf '[trace]\ninstance = %s\nevents = %s\n%s\n[output "o"]\ntype = file\npath = %s\n[daemon]\nrun_dir = %s\n' \
		"$inst" "$1" "$2" "$TMP/out" "$RUN_DIR" >"$TMP/bad.conf"
}

base "sched:sched_switch" "bufer_size_kb = 10"
expect_fail "unknown key" "bad.conf:4: .*unknown key"
base "sched:sched_switch" "buffer_percent = 120"
expect_fail "out of range" "bad.conf:4: .*buffer_percent"
base "sched:sched_switch" "subbuf_size_kb = 12"
expect_fail "bad sub-buffer size" "bad.conf:4: .*subbuf_size_kb"
base "sched:no_such_event" ""
expect_fail "unknown event" "bad.conf:3: unknown event 'sched:no_such_event'"
base "nosystem:*" ""
expect_fail "unknown system" "bad.conf:3: unknown event 'nosystem:\\*'"
base "sched:sched_switch" "clock = sundial"
expect_fail "unknown clock" "bad.conf:4: clock 'sundial' is not offered by this kernel \\(.*mono"
printf '[trace]\ninstance = %s\nevents = sched:sched_switch\n[event "sched:sched_switch"]\nfilter = no_such_field == 1\n[output "o"]\ntype = file\npath = %s\n[daemon]\nrun_dir = %s\n' \
	"$inst" "$TMP/out" "$RUN_DIR" >"$TMP/bad.conf"
expect_fail "filter rejected" "bad.conf:5: filter 'no_such_field == 1' for 'sched:sched_switch' rejected by the kernel"
printf '[tracer]\n' >"$TMP/bad.conf"
expect_fail "unknown section" "bad.conf:1: .*unknown section"

# A good config passes --check-config and leaves nothing behind.
base "sched:sched_switch,ftrace:print" ""
"$RINGTAPD" -c "$TMP/bad.conf" --check-config >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "good config refused"; }
grep -q "configuration is valid" "$TMP/ok.log" || fail "no confirmation"
ls "$TRACEFS/instances" | grep -q "^$inst" && fail "--check-config left an instance"
# The shipped default config is valid on this machine.
"$RINGTAPD" -c "$(dirname "$0")/../../config/ringtap.conf" --check-config || fail "config/ringtap.conf is not valid here"
"$RINGTAPD" -c "$TMP/missing.conf" --check-config 2>"$TMP/m.log" && fail "missing config accepted"
grep -q "missing.conf" "$TMP/m.log" || fail "missing config: message does not name the file"
echo "$n bad-config classes refused"
