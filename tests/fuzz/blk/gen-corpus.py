#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the seed corpus of fuzz-blk (input format: see fuzz-blk.c).
import os
import struct
import sys

IN, OUT, FLUSH, GET_ID, DISCARD, WZ = 0, 1, 4, 8, 11, 13


def hdr(t, sector):
    return struct.pack('<IIQ', t, 0, sector)


def chain(descs, kick=True, queue=0):
    """descs: list of (writable, length, contents-if-readable)."""
    op = (0 if kick else 3) | (0x80 if queue else 0)
    out = bytes([op, len(descs) - 1])
    body = b''
    for w, ln, data in descs:
        out += bytes([1 if w else 0]) + struct.pack('<H', ln)
        if not w:
            body += data.ljust(ln, b'\0')[:ln]
    return out + body


def req(t, sector, data_len=0, data_in=True, payload=b'', queue=0):
    d = [(False, 16, hdr(t, sector))]
    if data_len:
        d.append((data_in, data_len, payload))
    d.append((True, 1, b''))
    return chain(d, queue=queue)


def seg(sector, num, flags=0):
    return struct.pack('<QII', sector, num, flags)


seeds = {
    'read': b'\0' + req(IN, 0, 512),
    'write-read': b'\0' + req(OUT, 8, 1024, False, b'\xab' * 1024) +
    req(IN, 8, 1024),
    'flush': b'\0' + req(FLUSH, 0),
    'get-id': b'\0' + req(GET_ID, 0, 20),
    'discard': b'\0' + req(DISCARD, 0, 16, False, seg(2, 4)),
    'write-zeroes-unmap': b'\0' + req(WZ, 0, 16, False, seg(1, 2, 1)),
    'discard-two-segs': b'\0' + req(DISCARD, 0, 32, False,
                                    seg(0, 1) + seg(4, 1)),
    'out-of-range': b'\0' + req(IN, 127, 1024) +
    req(OUT, 0xffffffffffffffff, 512, False),
    'unaligned-len': b'\0' + req(IN, 0, 100),
    'unsupported': b'\0' + req(99, 0, 512),
    'read-only': b'\x01' + req(OUT, 0, 512, False) +
    req(WZ, 0, 16, False, seg(0, 1)),
    'write-through': b'\x02' + req(OUT, 0, 512, False, b'\x11' * 512),
    'no-flush-feature': b'\x10' + req(OUT, 0, 512, False),
    'split-header': b'\0' + chain([(False, 8, hdr(OUT, 3)[:8]),
                                   (False, 8, hdr(OUT, 3)[8:]),
                                   (False, 512, b'\x22' * 512),
                                   (True, 1, b'')]),
    'short-header': b'\0' + chain([(False, 8, hdr(IN, 0)[:8]),
                                   (True, 1, b'')]),
    'no-status': b'\0' + chain([(False, 16, hdr(IN, 0))]) + req(IN, 0, 512),
    'status-in-data': b'\0' + chain([(False, 16, hdr(IN, 0)),
                                     (True, 513, b'')]),
    'batch-no-kick': b'\0' + chain([(False, 16, hdr(IN, 0)), (True, 1, b'')],
                                   kick=False) * 4 + req(FLUSH, 0),
    'wce-config': b'\0' + bytes([1, 32, 0]) + req(OUT, 0, 512, False) +
    bytes([1, 32, 1]) + bytes([1, 0, 5]),
    'reset-mid': b'\0' + chain([(False, 16, hdr(OUT, 0)),
                                (False, 512, b''), (True, 1, b'')],
                               kick=False) + bytes([2]) + req(IN, 0, 512),
    'two-queues': b'\x20' + req(IN, 0, 512, queue=1) + req(OUT, 1, 512,
                                                          False),
}

outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)
