#!/bin/bash
# Damaged capture files: `ringtap report` never crashes or hangs, names the
# byte offset and the reason, exits 1 (nothing readable) or 3 (cut short or
# damaged), and still prints every event before the damage.  The damaged
# files are made from a real capture of sequenced markers on CPU 0 by
# tests/fuzz/rtap.py (which recomputes CRC32C, so that each file carries
# exactly one fault past the checks before it).  Hostile event formats,
# which crash libtraceevent, are named with their byte and left out, or
# their events printed raw; report and convert go on with the rest.
. "$(dirname "$0")/lib.sh"

RTAP_DIR=$(cd "$(dirname "$0")/../fuzz" && pwd)
command -v python3 >/dev/null || fail "python3 is needed to craft the files"

# A real capture: 4 KiB sub-buffers and 20 ms flushes, so that pages are
# written in several frames (continuations, data_start > 0).
inst=$(new_instance)
write_config "$TMP/rt.conf" "$inst" "$TMP/out" "subbuf_size_kb = 4" \
	"buffer_size_kb = 16" "flush_interval_ms = 20"
start_daemon "$TMP/rt.conf" "$TMP/daemon.log"
N=400
"$MARKER_WRITER" -m "$TRACEFS/instances/$inst/trace_marker" -c 0 -n $N -r 1000 -s 48 >"$TMP/written" ||
	fail "marker_writer failed"
stop_daemon TERM || fail "ringtapd exited with $?"
base=$TMP/out/cpu0-000000.rtap
[ -f "$base" ] || fail "no capture file $base"
timeout 20 "$RINGTAP" report "$base" >"$TMP/base.out" 2>"$TMP/base.err" ||
	{ cat "$TMP/base.err"; fail "report of the undamaged capture exited with $?"; }
check_markers "$TMP/base.out" 0 $N || fail "undamaged capture misses markers"

# One damaged file per line of the manifest:
#   NAME|EXIT|MESSAGE|PREFIX|EVENTS
# EXIT: the exit status; MESSAGE must appear in stderr (fixed string), and
# stderr name the file unless EXIT is 0; PREFIX=1: the output must begin
# with the report of the frames before the damaged one (NAME.prefix);
# EVENTS: how many markers the report shows.
mkdir -p "$TMP/c"
python3 - "$RTAP_DIR" "$base" "$TMP/c" $N >"$TMP/manifest" <<'EOF' || fail "crafting the damaged files failed"
import struct, sys
sys.path.insert(0, sys.argv[1])
import rtap

src, out = sys.argv[2], sys.argv[3]
data = open(src, "rb").read()
pre, frames, tail = rtap.parse(data)
assert not tail and frames[0].type == rtap.HEADER and frames[-1].type == rtap.END
subs = [i for i, f in enumerate(frames) if f.type == rtap.SUBBUF_T]


def entries(fs):
    return sum(f.subbuf()["entries"] for f in fs if f.type == rtap.SUBBUF_T)


def page_end(i):
    """Index after the last frame of the page frame i is in."""
    i += 1
    while (i < len(frames) and frames[i].type == rtap.SUBBUF_T and
           frames[i].subbuf()["data_start"] > 0):
        i += 1
    return i


assert len(subs) >= 4, "need at least 4 SUBBUF frames, got %d" % len(subs)
assert entries(frames) == int(sys.argv[4]), "SUBBUF entries do not add up to the markers"
# the damaged frame: a SUBBUF in the middle, with markers before it
v = subs[len(subs) // 2]
V = frames[v].offset


def write(name, blob):
    with open("%s/%s.rtap" % (out, name), "wb") as f:
        f.write(blob)


def case(name, blob, rc, msg, prefix_frames=None, events=None):
    """@events: markers the report must show; by default those of
    @prefix_frames, or none."""
    write(name, blob)
    if prefix_frames is not None:
        write(name + ".prefix", rtap.build(prefix_frames, pre))
    if events is None:
        events = entries(prefix_frames or [])
    print("%s|%d|%s|%d|%d" % (name, rc, msg, prefix_frames is not None, events))


def enc(fs, i, **kw):
    """The stream with frame i re-encoded by rtap.frame_bytes(**kw)."""
    parts = [pre]
    for j, f in enumerate(fs):
        if j == i:
            args = dict(type=f.type, flags=f.flags, cpu=f.cpu, seq=j,
                        payload=f.payload)
            args.update(kw)
            parts.append(rtap.frame_bytes(**args))
        else:
            parts.append(rtap.frame_bytes(f.type, f.flags, f.cpu, j, f.payload))
    return b"".join(parts)


before = frames[:v]
L = len(frames[v].payload)

case("empty", b"", 1, "truncated preamble at byte 0 (0 of 16 bytes)")
case("bad-preamble-magic", b"RINGTAQ\0" + data[8:], 1,
     "not a ringtap stream: bad magic at byte 0")
case("future-version", data[:8] + struct.pack("<I", 2) + data[12:], 1,
     "stream format version 2 is newer than this reader's (1)")
case("version-zero", data[:8] + struct.pack("<I", 0) + data[12:], 1,
     "invalid stream format version 0 at byte 8")
case("truncated-header-frame", data[:V + 12], 3,
     "truncated frame header at byte %d (12 of 32 bytes)" % V, before)
case("truncated-payload", data[:V + 32 + 10], 3,
     "truncated frame at byte %d: header says %d payload bytes, only 10 present"
     % (V, L), before)
b = bytearray(data)
b[V + 32 + 56 + 3] ^= 0x20
case("flipped-payload-byte", bytes(b), 3,
     "bad payload checksum at byte %d (frame type 2, seq %d)" % (V, v), before)
b = bytearray(data)
b[V + 8] ^= 0x01
case("flipped-header-byte", bytes(b), 3,
     "bad frame header checksum at byte %d" % V, before)
b = bytearray(data)
b[V:V + 4] = b"RTFS"
case("bad-frame-magic", bytes(b), 3,
     "bad frame magic at byte %d (0x53465452)" % V, before)
case("huge-length", enc(frames, v, length=0xFFFFFFF0), 3,
     "frame at byte %d: payload length 4294967280 exceeds limit (67108864)" % V,
     before)
case("length-past-end", enc(frames, v, length=60 << 20), 3,
     "truncated frame at byte %d: header says %d payload bytes, only %d present"
     % (V, 60 << 20, len(data) - V - 32), before)
case("wrong-sequence", enc(frames, v, seq=v + 1), 3,
     "frame at byte %d: sequence number %d, expected %d (frames missing or out of order)"
     % (V, v + 1, v), before)
short = frames[v].payload[:L - 3]  # L is 56 + a multiple of 4: padding follows
case("nonzero-padding",
     enc(frames, v, payload=short, padding=b"\x01" * (rtap.pad8(len(short)) - len(short))),
     3, "frame at byte %d: nonzero padding after the payload" % V, before)
case("partial-crc-on-lost", enc(frames, v, type=rtap.LOST,
                                flags=rtap.F_PARTIAL_CRC,
                                payload=bytes(32)), 3,
     "frame at byte %d: partial checksum on a frame of type 3 and 32 bytes" % V,
     before)
case("unknown-type", enc(frames, v, type=99), 3,
     "unknown frame type 99 at byte %d" % V, before)
# A skippable unknown frame is skipped: the report is the undamaged one.
skip = frames[:v] + [rtap.Frame(99, rtap.F_SKIPPABLE, 0, b"future data")] + frames[v:]
case("unknown-skippable", rtap.build(skip, pre), 0, "", frames)
sb = frames[v].subbuf()
p = bytearray(frames[v].payload)
struct.pack_into("<I", p, 20, sb["data_len"] + 100)
# Skipped, with the rest of its page; the pages after it are reported.
skipped = entries(frames[v:page_end(v)])
case("subbuf-data-len-too-big", enc(frames, v, payload=bytes(p)), 3,
     "malformed sub-buffer frame at byte %d: skipped" % V, before,
     entries(frames) - skipped)
p = bytearray(frames[v].payload)
struct.pack_into("<I", p, 24, sb["data_start"] + sb["data_len"] + 8)
case("subbuf-emit-from-past-end", enc(frames, v, payload=bytes(p)), 3,
     "malformed sub-buffer frame at byte %d: skipped" % V, before,
     entries(frames) - skipped)
# A continuation whose page start (and earlier continuations) is gone.
starts = [i for i in subs if frames[i].subbuf()["data_start"] == 0]
start = next((i for i in starts[1:] if frames[i + 1].type == rtap.SUBBUF_T and
              frames[i + 1].subbuf()["data_start"] > 0), None)
assert start is not None, "no page after the first written in several frames"
cont = start + 1
case("continuation-without-start",
     rtap.build(frames[:start] + frames[cont:], pre), 0,
     "[LOST EVENTS: sub-buffer continued without its start]", frames[:start],
     entries(frames) - entries(frames[start:page_end(start)]))
# END with an absurd number of statistics: only complete entries are used.
e = frames[-1]
case("end-absurd-nr-stats",
     enc(frames, len(frames) - 1,
         payload=struct.pack("<II", 1, 0xFFFFFFFF) + e.payload[8:]), 0, "",
     frames)
case("end-nr-stats-no-entries",
     enc(frames, len(frames) - 1, payload=struct.pack("<II", 1, 1000)), 0, "",
     frames)
# HEADER damage.
recs = rtap.records(frames[0].payload)
def with_header_payload(payload):
    h = rtap.Frame(rtap.HEADER, 0, frames[0].cpu, payload)
    return rtap.build([h] + frames[1:], pre)
def with_header(rs):
    return with_header_payload(rtap.records_bytes(rs))
case("header-without-formats",
     with_header([r for r in recs if r[0] != rtap.TAG_EVENT_FORMAT]), 0,
     "", None)
case("header-without-subbuf-size",
     with_header([r for r in recs if r[0] != 7]), 1,
     "capture header lacks a valid sub-buffer")
last = recs[-1]
bad = (rtap.records_bytes(recs[:-1]) + rtap.REC.pack(last[0], 0, 0xFFFF) +
       rtap.records_bytes([last])[8:])  # a length past the payload's end
case("header-malformed-record", with_header_payload(bad), 1,
     "malformed metadata record at record offset")
case("no-header-first", rtap.build(frames[1:], pre), 1,
     "does not start with a HEADER frame")
# A header claiming 8 MiB sub-buffers, then 30000 tiny pages: the work
# must follow the bytes in the file, not the claimed size (it took 6 s, 30
# times as long as with 4 KiB sub-buffers: 8 MiB cleared for each 96-byte
# frame).  The same with 4 KiB sub-buffers is the yardstick.
def tiny_pages(name, sub):
    hdr = [(t, fl, struct.pack("<I", sub) if t == 7 else v) for t, fl, v in recs]
    pages = [rtap.Frame(rtap.SUBBUF_T, 0, frames[0].cpu,
                        struct.pack("<QQIIIIQQII", 1000 + i, 8, 0, 8, 0, i, 1,
                                    0, sub, 0) +
                        struct.pack("<II", 29, 0))  # one null padding event
             for i in range(30000)]
    case(name, rtap.build(
         [rtap.Frame(rtap.HEADER, 0, frames[0].cpu, rtap.records_bytes(hdr))] +
         pages + [frames[-1]], pre), 0, "")
tiny_pages("subbuf-size-8mib", 8 << 20)  # the largest the reader accepts
tiny_pages("subbuf-size-4kib", 4096)


# Memory likewise: a directory of 64 one-page files, one per CPU, each
# claiming 8 MiB sub-buffers (it took 512 MiB), against 4 KiB ones.
def many_files(name, sub):
    import os
    os.makedirs("%s/%s" % (out, name))
    for cpu in range(64):
        rs = [(7, 0, struct.pack("<I", sub)), (9, 0, struct.pack("<I", 8)),
              (8, 0, struct.pack("<I", 64)), (20, 0, struct.pack("<I", cpu))]
        page = (struct.pack("<QQIIIIQQII", 1000, 8, 0, 8, 0, 1, 1, 0, sub, 0) +
                struct.pack("<II", 29, 0))
        fs = [rtap.Frame(rtap.HEADER, 0, cpu, rtap.records_bytes(rs)),
              rtap.Frame(rtap.SUBBUF_T, 0, cpu, page),
              rtap.Frame(rtap.END, 0, cpu, struct.pack("<II", 1, 0))]
        with open("%s/%s/cpu%d-000000.rtap" % (out, name, cpu), "wb") as f:
            f.write(rtap.build(fs, pre))
many_files("many-files-8mib", 8 << 20)
many_files("many-files-4kib", 4096)


# Hostile event formats (rtap.HOSTILE_FORMATS), each with a page of 3 events
# of its own: libtraceevent crashes parsing the first three (the reader
# leaves the format out, its events are unknown, exit 3) and would divide
# by zero printing the last two (their events are printed as raw fields).
# Every marker still prints.  EXTRA: UNKNOWN,RAW event lines expected.
def hostile(name, kinds):
    fs, offs = rtap.add_hostile(frames, kinds)
    write(name, rtap.build(fs, pre))
    crash = [k for k in kinds if k in ("null-token", "flag-no-field",
                                       "const-div-zero")]
    k = kinds[0]
    ename = rtap.HOSTILE_FORMATS[k][0]
    if k in crash:
        msg = ("event format of evil:%s (id %d) at byte %d (HEADER frame at"
               " byte %d) crashes libtraceevent's parser"
               % (ename, rtap.HOSTILE_IDS[k], offs[k], frames[0].offset))
    else:
        msg = ("event evil:%s (id %d), format at byte %d: its print fmt"
               " divides by" % (ename, rtap.HOSTILE_IDS[k], offs[k]))
    print("%s|%d|%s|0|%d|%d,%d" % (name, 3 if crash else 0, msg,
                                   entries(frames), 3 * len(crash),
                                   3 * (len(kinds) - len(crash))))
for k in rtap.HOSTILE_FORMATS:
    hostile("format-" + k, [k])
hostile("format-all", list(rtap.HOSTILE_FORMATS))
EOF

failures=0
bad() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# report_ok NAME MODE WANT_RC: run `report MODE FILE` into out.txt/err.txt
# and check that it ended by itself, in time, without a sanitizer report,
# with WANT_RC.
report_ok() {
	local name=$1 mode=$2 want_rc=$3 start ms rc
	start=$(date +%s%N)
	timeout 20 "$RINGTAP" report $mode "$TMP/c/$name.rtap" >"$TMP/out.txt" 2>"$TMP/err.txt"
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	case $rc in
	124) bad "$name $mode: report did not finish within 20 s"; return 1;;
	0 | 1 | 3) ;;
	*) bad "$name $mode: report exited with $rc (86: sanitizer, >128: signal)"
	   sed 's/^/    /' "$TMP/err.txt" | head -30 >&2; return 1;;
	esac
	if grep -q "Sanitizer\|runtime error" "$TMP/err.txt"; then
		bad "$name $mode: sanitizer report"
		sed 's/^/    /' "$TMP/err.txt" | head -30 >&2
		return 1
	fi
	[ "$ms" -lt 5000 ] || bad "$name${mode:+ $mode}: took $ms ms"
	[ "$rc" = "$want_rc" ] ||
		{ bad "$name $mode: exit $rc, expected $want_rc"; sed 's/^/    /' "$TMP/err.txt" >&2; }
	echo "$rc ${ms}"
}

no_comm() { sed 's/^.*\(\[[0-9]\{3\}\]\)/\1/' "$@"; }

while IFS='|' read -r name want_rc msg prefix events extra; do
	f=$TMP/c/$name.rtap
	before=$failures
	res=$(report_ok "$name" "" "$want_rc") || continue
	if [ -n "$msg" ]; then
		grep -qF -- "$msg" "$TMP/err.txt" "$TMP/out.txt" ||
			{ bad "$name: no '$msg' in:"; sed 's/^/    /' "$TMP/err.txt" >&2; }
	fi
	if [ "$want_rc" != 0 ]; then
		grep -qF -- "$f" "$TMP/err.txt" || bad "$name: the message does not name the file"
	fi
	got=$(grep -c "print: c=0 s=" "$TMP/out.txt")
	[ "$got" = "$events" ] || bad "$name: $got markers reported, expected $events"
	if [ "$name" = header-without-formats ]; then
		# Nothing to name the events with, but each one is shown.
		got=$(grep -c "UNKNOWN EVENT" "$TMP/out.txt")
		[ "$got" = $N ] || bad "$name: $got of $N events shown"
	fi
	if [ -n "$extra" ]; then
		# hostile formats: the events of a skipped one are unknown, those
		# of a print fmt that could divide by zero show their raw fields
		got=$(grep -c "UNKNOWN EVENT" "$TMP/out.txt")
		[ "$got" = "${extra%,*}" ] || bad "$name: $got unknown events, expected ${extra%,*}"
		got=$(grep -cE ": evil_(div|mod): +a=[0-9]+ b=[0-9]+$" "$TMP/out.txt")
		[ "$got" = "${extra#*,}" ] || bad "$name: $got events printed raw, expected ${extra#*,}"
		# convert leaves them out of the trace.dat likewise (no print fmt
		# to evaluate): trace-cmd reads it without crashing
		timeout 20 "$RINGTAP" convert "$f" -o "$TMP/h.dat" 2>"$TMP/conv.err"
		rc=$?
		[ $rc = "$want_rc" ] || { bad "$name: convert exited with $rc, expected $want_rc"; sed 's/^/    /' "$TMP/conv.err" >&2; }
		grep -qF -- "$msg" "$TMP/conv.err" || bad "$name: convert does not say '$msg'"
		if command -v trace-cmd >/dev/null && [ -s "$TMP/h.dat" ]; then
			timeout 20 trace-cmd report "$TMP/h.dat" >"$TMP/tc.out" 2>&1
			rc=$?
			[ $rc -lt 124 ] || bad "$name: trace-cmd report on the converted file exited with $rc"
			got=$(grep -c "print: .*c=0 s=" "$TMP/tc.out")
			[ "$got" = "$events" ] || bad "$name: trace-cmd shows $got of $events markers"
		fi
	fi
	if [ "$prefix" = 1 ]; then
		# Task names aside: they come from cmdlines at the end of the
		# file, which a damaged file may still have.
		timeout 20 "$RINGTAP" report "$TMP/c/$name.prefix.rtap" 2>/dev/null | no_comm >"$TMP/want.txt"
		lines=$(wc -l <"$TMP/want.txt")
		grep -q "print: c=0 s=" "$TMP/want.txt" || bad "$name: setup: no events before the damage"
		no_comm "$TMP/out.txt" | head -n "$lines" | cmp -s - "$TMP/want.txt" ||
			bad "$name: the $lines events before the damage are not all printed"
	fi
	# The other outputs read the same damage: same exit, valid JSON.
	report_ok "$name" --stats "$want_rc" >/dev/null
	if report_ok "$name" --json "$want_rc" >/dev/null; then
		python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/out.txt" 2>"$TMP/json.err" ||
			{ bad "$name --json: not one JSON object per line:"; tail -1 "$TMP/json.err" >&2; }
	fi
	[ $failures -eq $before ] && echo "ok   $name: exit ${res% *}, ${res#* } ms${msg:+, '$msg'}"
done <"$TMP/manifest"
# Time and memory in proportion to the files, not to the sub-buffer size
# they claim.  cost INPUT: milliseconds and peak RSS in KiB of a report.
cost() {
	python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(["timeout", "20", sys.argv[1], "report", "--stats", sys.argv[2]],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(int((time.monotonic() - t) * 1000),
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$RINGTAP" "$1"
}
read -r small_ms _ <<<"$(cost "$TMP/c/subbuf-size-4kib.rtap")"
read -r big_ms _ <<<"$(cost "$TMP/c/subbuf-size-8mib.rtap")"
echo "30000 pages: $small_ms ms with 4 KiB sub-buffers, $big_ms ms with 8 MiB"
[ "$big_ms" -le $((3 * small_ms + 500)) ] ||
	bad "claiming 8 MiB sub-buffers makes the same pages $((big_ms / (small_ms + 1)))x slower to read"
read -r _ small_kb <<<"$(cost "$TMP/c/many-files-4kib")"
read -r _ big_kb <<<"$(cost "$TMP/c/many-files-8mib")"
echo "64 one-page files: $small_kb KiB with 4 KiB sub-buffers, $big_kb KiB with 8 MiB"
[ "$big_kb" -le $((2 * small_kb + 65536)) ] ||
	bad "claiming 8 MiB sub-buffers makes 64 one-page files take $((big_kb / 1024)) MiB"
[ -s "$TMP/manifest" ] || fail "no damaged files were made"
[ $failures -eq 0 ] || fail "$failures checks failed"
echo "all $(wc -l <"$TMP/manifest") damaged files handled"
