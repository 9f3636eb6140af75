#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the seed corpus of fuzz-scsi (input format: see fuzz-scsi.c).
import os
import struct
import sys


def rec(cdb, lun=0, shape=0, keep=False, reset=False, cdb_len=None,
        out=b''):
    """out: data-out bytes (only consumed when the command gets to submit
    with a data-out phase)."""
    flags = lun | shape << 4 | (0x40 if keep else 0) | (0x80 if reset else 0)
    n = len(cdb) if cdb_len is None else cdb_len
    return bytes([flags, n]) + bytes(cdb).ljust(16, b'\0')[:16] + out


def unmap(descs, plen=None):
    body = b''.join(struct.pack('>QI4x', lba, n) for lba, n in descs)
    plist = struct.pack('>HH4x', 6 + len(body), len(body)) + body
    n = len(plist) if plen is None else plen
    cdb = bytes([0x42, 0, 0, 0, 0, 0, 0]) + struct.pack('>H', n) + b'\0'
    return rec(cdb, out=plist[:48].ljust(min(n, 48), b'\0'))


def rw10(op, lba, n, b1=0):
    return bytes([op, b1]) + struct.pack('>IBH', lba, 0, n) + b'\0'


def rw16(op, lba, n):
    return bytes([op, 0]) + struct.pack('>QI', lba, n) + b'\0\0'


TUR = bytes(6)
INQ = bytes([0x12, 0, 0, 0, 0xff, 0])

seeds = {
    'inquiry': b'\x04' + rec(INQ),
    'inquiry-vpd': b'\x04' + b''.join(
        rec(bytes([0x12, 1, p, 0, 0xff, 0])) for p in
        (0x00, 0x80, 0x83, 0xb0, 0xb1, 0x99)),
    'unit-attention': b'\0' + rec(INQ) + rec(TUR) + rec(TUR) +
    rec(bytes([0x03, 0, 0, 0, 18, 0])),
    'read-capacity': b'\x04' + rec(bytes([0x25]) + bytes(9)) +
    rec(bytes([0x9e, 0x10]) + bytes(11) + b'\x20\0\0'),
    'mode-sense': b'\x04' + rec(bytes([0x1a, 0, 0x3f, 0, 0xff, 0])) +
    rec(bytes([0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 0xff, 0])),
    'report-luns': b'\x04' + rec(bytes([0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                                        0, 0]), lun=5),
    'write-read-10': b'\x04' + rec(rw10(0x2a, 3, 4), out=b'\x77' * 48) +
    rec(rw10(0x28, 3, 4)),
    'unmap': b'\x04' + unmap([(2, 3)]) + unmap([(0, 1), (4, 1)]) +
    unmap([(0x7f, 2)]) + unmap([(1, 1)], plen=7),
    'write-read-6-len0': b'\x04' + rec(bytes([0x0a, 0, 0, 0, 0, 0])) +
    rec(bytes([0x08, 0, 0, 0, 0, 0]), shape=1),
    'read-16-overflow': b'\x04' + rec(rw16(0x88, 0xfffffffffffffffe, 4)),
    'too-long': b'\x04' + rec(rw10(0x28, 0, 0xffff)),
    'short-cdb': b'\x04' + rec(rw10(0x28, 0, 1), cdb_len=6) +
    rec(TUR, cdb_len=0),
    'reserved-opcodes': b'\x04' + b''.join(rec(bytes([op]) + bytes(15))
                                           for op in (0x02, 0x60, 0xc0, 0xff)),
    'read-only': b'\x05' + rec(rw10(0x2a, 0, 1)) +
    rec(bytes([0x1a, 0, 0x08, 0, 0xff, 0])),
    'fua-write-through': b'\x06' + rec(rw10(0x2a, 0, 2, 0x08), shape=2) +
    rec(rw10(0x35, 0, 0)),
    'in-flight-reset': b'\x04' + rec(rw10(0x28, 0, 8), keep=True) +
    rec(INQ, keep=True) + rec(rw10(0x2a, 1, 1), lun=1, keep=True) +
    rec(TUR, reset=True),
    'missing-lun': b'\x04' + rec(INQ, lun=3) + rec(TUR, lun=9) +
    rec(bytes([0x03, 0, 0, 0, 18, 0]), lun=12),
    'verify-sync16': b'\x04' + rec(rw16(0x8f, 0, 128)) +
    rec(rw16(0x91, 127, 1)) + rec(bytes([0x1b, 0, 0, 0, 2, 0])),
    'short-buffer': b'\x04' + rec(rw10(0x28, 0, 4), shape=3) +
    rec(INQ, shape=3),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
