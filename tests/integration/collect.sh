# Helpers for the `ringtap collect` tests (sourced after lib.sh): a real
# capture to replay, a collector in the background, and the check that a
# replayed capture arrived whole.
RTAP_SEND=$RT_BUILD/tools/rtap_send
[ -x "$RTAP_SEND" ] || fail "missing $RTAP_SEND: run make first"
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)

# make_capture DIR N [TRACE-LINE...]: a capture of N sequenced markers per
# CPU, rotated at 256K, into DIR; marker_writer's counts go to DIR.written.
make_capture() {
	local out=$1 n=$2 inst
	shift 2
	inst=$(new_instance)
	write_config "$TMP/capture.conf" "$inst" "$out" "flush_interval_ms = 100" "subbuf_size_kb = 64" "$@"
	sed -i 's/^type = file$/type = file\nmax_file_size = 256K/' "$TMP/capture.conf"
	start_daemon "$TMP/capture.conf" "$TMP/capture.log"
	"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" \
		-c "$(seq -s, 0 $((NCPUS - 1)))" -n "$n" -r 40000 >"$out.written" ||
		fail "marker_writer failed"
	stop_daemon TERM || fail "ringtapd exited with $?"
	[ "$(ls "$out"/cpu0-*.rtap | wc -l)" -ge 2 ] || fail "the capture did not rotate"
}

# start_collect LOG ARGS...: `ringtap collect ARGS` in the background, log
# in LOG, stdout in LOG.out.  Sets COLLECT_PID and COLLECT_TCP (the first
# tcp: address it listens on, with the port it bound).
start_collect() {
	local logf=$1
	shift
	: >"$logf" # a reused log must not say "collecting into" already
	"$RINGTAP" collect "$@" >"$logf.out" 2>"$logf" &
	COLLECT_PID=$!
	PIDS+=("$COLLECT_PID")
	for _ in $(seq 1 200); do
		grep -q "collecting into" "$logf" && break
		kill -0 "$COLLECT_PID" 2>/dev/null || { cat "$logf"; fail "ringtap collect exited during start-up"; }
		sleep 0.05
	done
	grep -q "collecting into" "$logf" || fail "ringtap collect did not start within 10 s"
	COLLECT_TCP=$(sed -n 's/.*listening on \(tcp:.*\)$/\1/p' "$logf" | head -1)
}

# stop_collect: SIGTERM; returns its exit status (0, and no leak under ASan).
stop_collect() {
	kill -TERM "$COLLECT_PID"
	for _ in $(seq 1 100); do
		kill -0 "$COLLECT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$COLLECT_PID" 2>/dev/null && fail "ringtap collect did not exit within 10 s of SIGTERM"
	wait "$COLLECT_PID"
}

# check_collected SRC DEST: DEST holds SRC's files byte for byte, nothing
# else, and `ringtap report DEST` shows every marker exactly once.
check_collected() {
	local src=$1 dst=$2 f cpu written
	for f in "$src"/*.rtap; do
		cmp "$f" "$dst/${f##*/}" || fail "$dst/${f##*/} differs from $f"
	done
	[ "$(ls "$dst"/*.rtap | wc -l)" = "$(ls "$src"/*.rtap | wc -l)" ] || fail "$dst: not the same files as $src"
	"$RINGTAP" report "$dst" >"$TMP/report" || fail "ringtap report $dst exited with $?"
	for cpu in $(seq 0 $((NCPUS - 1))); do
		written=$(sed -n "s/^cpu=$cpu written=\([0-9]*\).*/\1/p" "$src.written")
		check_markers "$TMP/report" "$cpu" "$written" || fail "$dst: cpu $cpu markers"
	done
}

# make_certs DIR: a throwaway PKI for the TLS tests, in DIR: ca.pem (the CA),
# srv.pem/srv.key (the collector: CN localhost, SAN 127.0.0.1, ::1 and
# localhost), cli.pem/cli.key (a client certificate of ca.pem), and
# other-ca.pem with other-cli.pem/other-cli.key (an unrelated CA and a
# client certificate it issued).  EC P-256 keys, valid 2 days.
make_certs() {
	local d=$1 name
	mkdir -p "$d"
	for name in ca other-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$d/$name.key" -out "$d/$name.pem" -days 2 \
			-subj "/CN=ringtap test $name" 2>/dev/null || fail "openssl: cannot make $name"
	done
	# issue NAME CA CN EXTENSIONS
	issue() {
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$3" 2>/dev/null &&
		printf '%b' "$4" >"$d/$1.ext" &&
		openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.pem" -CAkey "$d/$2.key" \
			-CAcreateserial -out "$d/$1.pem" -days 2 -extfile "$d/$1.ext" 2>/dev/null ||
			fail "openssl: cannot issue $1"
	}
	issue srv ca localhost "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
	issue cli ca ringtap-client "extendedKeyUsage=clientAuth\n"
	issue other-cli other-ca intruder "extendedKeyUsage=clientAuth\n"
	issue other-srv other-ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
	chmod 644 "$d"/*.key
}
