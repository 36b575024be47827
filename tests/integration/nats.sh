# Helpers for the NATS tests (sourced after lib.sh): real nats-server
# processes with JetStream on loopback ports and temporary store
# directories, killed at exit by lib.sh's cleanup (their pids are in PIDS).
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server)}
[ -n "$NATS_SERVER" ] || skip "nats-server is not installed (apt-get install nats-server)"
HOST_DIR=$(hostname)/$(cat /proc/sys/kernel/random/boot_id)

# free_port: a TCP port nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID LOG: until PORT accepts connections (10 s).
wait_port() {
	for _ in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { cat "$3"; fail "nats-server exited during start-up"; }
		sleep 0.05
	done
	cat "$3"
	fail "nats-server did not listen on $1 within 10 s"
}

# start_nats NAME [PORT]: one server with JetStream; sets NATS_URL and
# NATS_PID_<NAME>; its store is $TMP/nats-NAME (kept across restarts).
# NATS_CONF_EXTRA (start_nats_tls sets it) is appended to its config.
start_nats() {
	local name=$1 port=${2:-} pid
	[ -n "$port" ] || port=$(free_port)
	mkdir -p "$TMP/nats-$name"
	cat >"$TMP/nats-$name.conf" <<EOC
server_name: $name
listen: 127.0.0.1:$port
jetstream { store_dir: "$TMP/nats-$name" }
${NATS_CONF_EXTRA:-}
EOC
	"$NATS_SERVER" -c "$TMP/nats-$name.conf" >"$TMP/nats-$name.log" 2>&1 &
	pid=$!
	PIDS+=($pid)
	eval "NATS_PID_$name=$pid"
	wait_port "$port" "$pid" "$TMP/nats-$name.log"
	NATS_URL=nats://127.0.0.1:$port
}

# start_nats_tls NAME CERT KEY CA [PORT]: start_nats with TLS required on
# the client port (CERT and KEY the server's) and a client certificate
# issued by CA demanded of every client (verify: true); NATS_URL is then
# tls://127.0.0.1:PORT.
start_nats_tls() {
	local NATS_CONF_EXTRA
	NATS_CONF_EXTRA=$(printf 'tls {\n  cert_file: "%s"\n  key_file: "%s"\n  ca_file: "%s"\n  verify: true\n  timeout: 2\n}' "$2" "$3" "$4")
	start_nats "$1" "${5:-}"
	NATS_URL=tls://${NATS_URL#nats://}
}

# start_cluster: three servers n1 n2 n3 forming one JetStream cluster;
# sets NATS_URLS (comma-separated), NATS_PORT_n1.. and NATS_PID_n1..
start_cluster() {
	local cports=() ports=() i routes pid
	for i in 1 2 3; do ports+=($(free_port)); cports+=($(free_port)); done
	routes="nats-route://127.0.0.1:${cports[0]},nats-route://127.0.0.1:${cports[1]},nats-route://127.0.0.1:${cports[2]}"
	NATS_URLS=
	for i in 1 2 3; do
		mkdir -p "$TMP/nats-n$i"
		cat >"$TMP/nats-n$i.conf" <<EOC
server_name: n$i
listen: 127.0.0.1:${ports[$((i - 1))]}
jetstream { store_dir: "$TMP/nats-n$i" }
cluster {
  name: rttest
  listen: 127.0.0.1:${cports[$((i - 1))]}
  routes: [ $(echo "$routes" | sed 's/,/, /g') ]
}
EOC
		NATS_URLS=${NATS_URLS:+$NATS_URLS,}nats://127.0.0.1:${ports[$((i - 1))]}
		eval "NATS_PORT_n$i=${ports[$((i - 1))]}"
	done
	for i in 1 2 3; do restart_node n$i; done
}

# restart_node NAME: (re)start cluster node NAME with its config and store.
restart_node() {
	local name=$1 pid port
	eval "port=\$NATS_PORT_$name"
	"$NATS_SERVER" -c "$TMP/nats-$name.conf" >>"$TMP/nats-$name.log" 2>&1 &
	pid=$!
	PIDS+=($pid)
	eval "NATS_PID_$name=$pid"
	wait_port "$port" "$pid" "$TMP/nats-$name.log"
}

# kill_nats NAME [SIGNAL]
kill_nats() {
	local pid
	eval "pid=\$NATS_PID_$1"
	kill -"${2:-9}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# nats_config FILE INSTANCE TRACE-LINES OUTPUT-SECTIONS
nats_config() {
	printf '[trace]\ninstance = %s\nevents = ftrace:print\nflush_interval_ms = 100\n%b\n%b\n[daemon]\nrun_dir = %s\n' \
		"$2" "$3" "$4" "$RUN_DIR" >"$1"
}

# start_ncollect NAME LOG ARGS...: `ringtap collect --from ...` in the
# background; sets NCOL_PID_<NAME>.
start_ncollect() {
	local name=$1 logf=$2 pid
	shift 2
	: >"$logf" # a reused log must not say "collecting into" already
	"$RINGTAP" collect "$@" >"$logf.out" 2>"$logf" &
	pid=$!
	PIDS+=($pid)
	eval "NCOL_PID_$name=$pid"
	for _ in $(seq 1 400); do
		grep -q "collecting into" "$logf" && return 0
		kill -0 $pid 2>/dev/null || { cat "$logf"; fail "ringtap collect --from exited during start-up"; }
		sleep 0.05
	done
	cat "$logf"
	fail "ringtap collect --from did not start within 20 s"
}

# wait_ncollect NAME: it exits by itself (--idle-exit); its status.
wait_ncollect() {
	local pid
	eval "pid=\$NCOL_PID_$1"
	for _ in $(seq 1 1200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "ringtap collect --from did not finish within 120 s"
	wait "$pid"
}

# kill_ncollect NAME [SIGNAL]
kill_ncollect() {
	local pid
	eval "pid=\$NCOL_PID_$1"
	kill -"${2:-9}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# same_capture SRC DEST: DEST holds SRC's .rtap files and no others, each
# byte for byte, except that the payload of METADATA frames (the cmdlines
# table each output reads from the kernel at the moment it ends a file) may
# differ between two outputs of one daemon.  The file output compared must
# have direct_io = no: its O_DIRECT page images are a form only files have.
same_capture() {
	local src=$1 dst=$2
	[ "$(ls "$dst"/*.rtap | wc -l)" = "$(ls "$src"/*.rtap | wc -l)" ] || fail "$dst: not the same files as $src"
	python3 - "$src" "$dst" <<'PY' || fail "$dst differs from $src"
import os, struct, sys
src, dst = sys.argv[1:3]
def frames(path):
    b = open(path, "rb").read()
    out, o = [b[:16]], 16
    while o < len(b):
        if o + 32 > len(b):
            out.append(("partial", b[o:])); break
        magic, typ, flags, cpu, length = struct.unpack_from("<IHHII", b, o)
        end = o + 32 + ((length + 7) & ~7)
        out.append((typ, b[o:end] if typ != 4 else b"METADATA"))
        o = end
    return out
bad = 0
for name in sorted(os.listdir(src)):
    if not name.endswith(".rtap"):
        continue
    a, b = frames(os.path.join(src, name)), frames(os.path.join(dst, name))
    if a != b:
        n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f"{name}: frame {n} differs ({len(a)} and {len(b)} frames)")
        bad = 1
sys.exit(bad)
PY
}
