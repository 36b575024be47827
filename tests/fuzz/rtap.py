#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Frame-level reading and writing of ringtap stream files, for making fuzz
seeds and hand-made corrupt files (docs/stream-format.md).  Standard library
only; CRC32C is implemented here.

    rtap.py list FILE             one line per frame: offset, type, ...
    rtap.py trim IN OUT KEEP [missed]
                                  keep the HEADER, the last KEEP SUBBUF/LOST
                                  frames (with "missed": KEEP from the first
                                  page with RB_MISSED_EVENTS) and every
                                  METADATA/END frame
    rtap.py slim IN OUT [SYS:EVENT...]
                                  keep 40 CMDLINES lines; with events, also
                                  only their EVENT_FORMAT records and no
                                  PRINTK_FORMATS (smaller, faster seeds)
    rtap.py hostile IN OUT KIND...
                                  add to IN's HEADER the event formats
                                  HOSTILE_FORMATS[KIND] (system "evil"), and
                                  before its END a page of 3 events of each
                                  (fields a, b: (7, 0), (8, 2), (9, 0))
    rtap.py crc32c STRING         CRC32C of the bytes of STRING, in hex

As a module: parse(), build(), frame_bytes(), records(), records_bytes(),
hostile_format(), event_page(), add_hostile().
"""
import struct
import sys

MAGIC = b"RINGTAP\0"
FRAME_MAGIC = 0x52465452
HDR = struct.Struct("<IHHIIQII")   # magic type flags cpu len seq pcrc hcrc
SUBBUF = struct.Struct("<QQIIIIQQII")
REC = struct.Struct("<HHI")
HEADER, SUBBUF_T, LOST, METADATA, END, PAD = 1, 2, 3, 4, 5, 6
F_SKIPPABLE, F_PARTIAL_CRC, F_PAGE_IMAGE = 0x1, 0x2, 0x4
TAG_EVENT_FORMAT, TAG_PRINTK_FORMATS, TAG_CMDLINES = 17, 18, 19
CMDLINES_KEEP = 40
TYPE_NAMES = {1: "HEADER", 2: "SUBBUF", 3: "LOST", 4: "METADATA", 5: "END",
              6: "PAD"}


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


_TABLE = _crc_table()


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli); crc32c(b'123456789') == 0xE3069283."""
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def pad8(n):
    return (n + 7) & ~7


class Frame:
    def __init__(self, type, flags=0, cpu=0, payload=b"", seq=0, offset=None):
        self.type, self.flags, self.cpu = type, flags, cpu
        self.payload, self.seq, self.offset = bytes(payload), seq, offset

    def subbuf(self):
        """The struct rt_subbuf of a SUBBUF frame, as a dict."""
        names = ("page_ts", "commit", "data_start", "data_len", "emit_from",
                 "subbuf_id", "entries", "overrun", "subbuf_size", "flags")
        return dict(zip(names, SUBBUF.unpack_from(self.payload)))


def frame_bytes(type, flags, cpu, seq, payload, length=None, payload_crc=None,
                header_crc=None, padding=None):
    """One frame, checksums computed unless given; @length overrides the
    header's len field (the payload written stays @payload)."""
    if payload_crc is None:
        span = payload[:56] if flags & F_PARTIAL_CRC else payload
        payload_crc = crc32c(span)
    ln = len(payload) if length is None else length
    head = HDR.pack(FRAME_MAGIC, type, flags, cpu, ln, seq, payload_crc, 0)
    if header_crc is None:
        header_crc = crc32c(head[:28])
    head = head[:28] + struct.pack("<I", header_crc)
    if padding is None:
        padding = b"\0" * (pad8(len(payload)) - len(payload))
    return head + payload + padding


def parse(data):
    """(preamble, [Frame], tail): frames up to the first one that does not
    fit in @data; tail holds whatever bytes follow them."""
    pre, off, frames = data[:16], 16, []
    while off + 32 <= len(data):
        magic, typ, flags, cpu, ln, seq, _, _ = HDR.unpack_from(data, off)
        if magic != FRAME_MAGIC or off + 32 + pad8(ln) > len(data):
            break
        frames.append(Frame(typ, flags, cpu, data[off + 32:off + 32 + ln],
                            seq, off))
        off += 32 + pad8(ln)
    return pre, frames, data[off:]


def build(frames, preamble=None, renumber=True):
    """A stream from @frames, seq renumbered from 0 unless @renumber is
    False."""
    if preamble is None:
        preamble = MAGIC + struct.pack("<II", 1, 0)
    out = [preamble]
    for i, f in enumerate(frames):
        out.append(frame_bytes(f.type, f.flags, f.cpu,
                               i if renumber else f.seq, f.payload))
    return b"".join(out)


def records(payload):
    """[(tag, flags, value)] of a HEADER or METADATA payload."""
    out, off = [], 0
    while off + 8 <= len(payload):
        tag, flags, ln = REC.unpack_from(payload, off)
        out.append((tag, flags, payload[off + 8:off + 8 + ln]))
        off += 8 + pad8(ln)
    return out


def records_bytes(recs):
    out = []
    for tag, flags, val in recs:
        out.append(REC.pack(tag, flags, len(val)) + val +
                   b"\0" * (pad8(len(val)) - len(val)))
    return b"".join(out)


# Event formats that crash libtraceevent 1.7.1 (and up to 1.8.4 at least)
# unless ringtap keeps it from parsing (the first three) or from evaluating
# (the last two) them: KIND -> (event name, text after the fields).
HOSTILE_FORMATS = {
    # a NULL token in array brackets: strcmp(NULL, "]") while parsing
    "null-token": ("evil_nulltok", "\tfield:char x["),
    # __print_flags() of a field that does not exist: NULL->flags
    "flag-no-field": ("evil_noflag", 'print fmt: "%s", '
                      '__print_flags(REC->nope, "|", { 1, "A" })'),
    # a division by zero in a constant expression, folded at parse time
    "const-div-zero": ("evil_constdiv", 'print fmt: "a=%u q=%u", REC->a, '
                       '1 / 0'),
    # divisions by a field, which is 0 in some events: at print time
    "div-by-field": ("evil_div", 'print fmt: "a=%u q=%u", REC->a, '
                     'REC->a / REC->b'),
    "mod-by-field": ("evil_mod", 'print fmt: "a=%u r=%u", REC->a, '
                     '(REC->a + 1) % (REC->b)'),
}
HOSTILE_IDS = {k: 60001 + i for i, k in enumerate(HOSTILE_FORMATS)}
COMMON_FIELDS = (
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n")


def hostile_format(kind):
    """(b"evil", format text) of HOSTILE_FORMATS[kind]: fields u32 a at 8,
    u32 b at 12 (the array format stops inside its brackets)."""
    name, tail = HOSTILE_FORMATS[kind]
    text = "name: %s\nID: %d\nformat:\n%s" % (name, HOSTILE_IDS[kind],
                                              COMMON_FIELDS)
    if kind == "null-token":
        text += tail
    else:
        text += ("\tfield:unsigned int a;\toffset:8;\tsize:4;\tsigned:0;\n"
                 "\tfield:unsigned int b;\toffset:12;\tsize:4;\tsigned:0;\n"
                 "\n" + tail + "\n")
    return b"evil", text.encode()


def event_page(cpu, page_ts, subbuf_id, events, subbuf_size=4096):
    """A SUBBUF frame holding one whole page of @events, each (id, pid, a,
    b) 16 bytes: common fields then u32 a, u32 b, 1000 ns apart."""
    data = b""
    for i, (eid, pid, a, b) in enumerate(events):
        data += struct.pack("<IHBBiII", 4 | ((1000 if i else 0) << 5), eid,
                            0, 0, pid, a, b)
    head = SUBBUF.pack(page_ts, len(data), 0, len(data), 0, subbuf_id,
                       len(events), 0, subbuf_size, 0)
    return Frame(SUBBUF_T, 0, cpu, head + data)


def add_hostile(frames, kinds, pid=4242):
    """@frames (a real capture's, HEADER first and END last) with the
    formats of @kinds appended to the HEADER and a page of 3 events of each
    before the END; also returns the file offset of each added format
    record, by kind."""
    recs = records(frames[0].payload)
    offs = {}
    pos = 16 + 32 + len(records_bytes(recs))
    for k in kinds:
        sysname, text = hostile_format(k)
        val = sysname + b"\0" + text
        offs[k] = pos
        recs.append((TAG_EVENT_FORMAT, 0, val))
        pos += 8 + pad8(len(val))
    out = [Frame(HEADER, 0, frames[0].cpu, records_bytes(recs))]
    out += frames[1:-1]
    last_ts = max([f.subbuf()["page_ts"] for f in frames
                   if f.type == SUBBUF_T] or [1000])
    for n, k in enumerate(kinds):
        i = HOSTILE_IDS[k]
        out.append(event_page(frames[0].cpu, last_ts + 1000000 * (n + 1),
                              900000 + n,
                              [(i, pid, 7, 0), (i, pid, 8, 2), (i, pid, 9, 0)]))
    out.append(frames[-1])
    return out, offs


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def cmd_list(path):
    _, frames, tail = parse(_read(path))
    for f in frames:
        line = "%d %s flags=%#x cpu=%d len=%d seq=%d" % (
            f.offset, TYPE_NAMES.get(f.type, "type%d" % f.type), f.flags,
            f.cpu, len(f.payload), f.seq)
        if f.type == SUBBUF_T and len(f.payload) >= 56:
            s = f.subbuf()
            line += (" data_start=%d data_len=%d emit_from=%d commit=%#x"
                     " id=%d entries=%d" % (
                         s["data_start"], s["data_len"], s["emit_from"],
                         s["commit"], s["subbuf_id"], s["entries"]))
        print(line)
    if tail:
        print("%d tail %d bytes" % (len(_read(path)) - len(tail), len(tail)))


def cmd_trim(src, dst, keep, missed=False):
    pre, frames, _ = parse(_read(src))
    data_idx = [i for i, f in enumerate(frames) if f.type in (SUBBUF_T, LOST)]
    start = max(0, len(data_idx) - keep)
    if missed:
        # from the first page that says events were lost before it
        start = next(n for n, i in enumerate(data_idx)
                     if frames[i].type == SUBBUF_T and
                     frames[i].subbuf()["commit"] & (1 << 31))
    drop = set(data_idx[:start] + data_idx[start + keep:])
    kept = [f for i, f in enumerate(frames) if i not in drop]
    # The first kept SUBBUF must start its page: restate it from 0 the way
    # the writer does at the start of a file is not possible without the
    # bytes, so start at the first kept frame that begins a page.
    while True:
        first = next((i for i, f in enumerate(kept) if f.type == SUBBUF_T),
                     None)
        if first is None or kept[first].subbuf()["data_start"] == 0:
            break
        del kept[first]
    _write(dst, build(kept, pre))


def cmd_slim(src, dst, events):
    pre, frames, _ = parse(_read(src))
    want = set() if events else None
    for e in events:
        sysname, name = e.split(":", 1)
        want.add((sysname.encode(), name.encode()))
    for f in frames:
        if f.type in (HEADER, METADATA):
            f.payload = records_bytes(_slim_records(f.payload, want))
    _write(dst, build(frames, pre))


def _slim_records(payload, want):
    recs = []
    for tag, flags, val in records(payload):
        if tag == TAG_PRINTK_FORMATS and want is not None:
            continue
        if tag == TAG_CMDLINES:
            val = b"".join(val.splitlines(True)[:CMDLINES_KEEP])
        if tag == TAG_EVENT_FORMAT and want is not None:
            sysname, text = val.split(b"\0", 1)
            name = text.split(b"\n", 1)[0].replace(b"name:", b"").strip()
            if (sysname, name) not in want:
                continue
        recs.append((tag, flags, val))
    return recs


def main(argv):
    if len(argv) >= 2 and argv[0] == "list":
        cmd_list(argv[1])
    elif len(argv) in (4, 5) and argv[0] == "trim":
        cmd_trim(argv[1], argv[2], int(argv[3]), argv[4:] == ["missed"])
    elif len(argv) >= 3 and argv[0] == "slim":
        cmd_slim(argv[1], argv[2], argv[3:])
    elif len(argv) >= 4 and argv[0] == "hostile":
        pre, frames, _ = parse(_read(argv[1]))
        _write(argv[2], build(add_hostile(frames, argv[3:])[0], pre))
    elif len(argv) == 2 and argv[0] == "crc32c":
        print("%08x" % crc32c(argv[1].encode()))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
