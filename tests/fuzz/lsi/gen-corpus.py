#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of fuzz-lsi-regs, fuzz-lsi-scripts and fuzz-pci.

Run from this folder: ./gen-corpus.py (rewrites corpus-*/ and ../pci/corpus/).
"""
import os
import struct

RAM_BASE = 0xF1000000
MMIO_BASE = 0xF1002000


def w32(*words):
    return b"".join(struct.pack("<I", w & 0xFFFFFFFF) for w in words)


def save(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---- fuzz-lsi-regs: ops of 7 bytes (kind, off, size-1, value) ----------
def op(kind, off, size, val):
    return struct.pack("<BBBI", kind, off, size - 1, val & 0xFFFFFFFF)


def regs_seeds():
    s = {}
    s["reset-scratch"] = (op(0, 0x14, 1, 0x40) + op(0, 0x5C, 4, 0x12345678)
                          + op(1, 0x5C, 4, 0) + op(1, 0x0C, 1, 0)
                          + op(1, 0x42, 2, 0))
    # Start SCRIPTS in zeroed guest RAM: zero words run into a bus fault.
    s["start-zero"] = (op(0, 0x2C, 4, 0x1000) + op(5, 0, 1, 0)
                       + op(1, 0x0C, 1, 0) + op(1, 0x14, 1, 0))
    # A JUMP-to-self in SCRIPTS RAM, then SIGP, ABRT.
    s["loop-abort"] = (op(3, 0, 4, 0x80080000) + op(3, 0, 4, 0)
                       + op(2, 0x2C, 4, RAM_BASE) + op(5, 0, 1, 0)
                       + op(0, 0x14, 1, 0x20) + op(5, 0, 1, 0)
                       + op(0, 0x14, 1, 0x80) + op(1, 0x0C, 1, 0))
    s["bus-reset-irq"] = (op(0, 0x40, 1, 0xFF) + op(0, 0x01, 1, 0x08)
                          + op(0, 0x01, 1, 0x00) + op(4, 0x04, 2, 0x407)
                          + op(1, 0x42, 1, 0) + op(4, 0x04, 2, 0x7))
    s["bar-moves"] = (op(4, 0x14, 4, 0xFFFFFFFF) + op(4, 0x14, 4, 0xF1004000)
                      + op(2, 0x34, 4, 0xAABBCCDD) + op(4, 0x04, 2, 0)
                      + op(0, 0x49, 1, 0x0F) + op(1, 0x43, 1, 0))
    for k, v in s.items():
        save("corpus-regs", k, v)


# ---- fuzz-lsi-scripts: 16 preset bytes, 8 KiB SCRIPTS RAM, guest RAM ----
def scripts_input(dsa, ram_prog, guest=b"", dien=0x04, sien0=0x8F, ccntl0=0):
    presets = struct.pack("<IIIBBBB", dsa, 0, 0, dien, sien0, ccntl0, 0)
    ram = ram_prog.ljust(0x2000, b"\0")
    return presets + ram + guest


def seabios_guest(target, cdb, dir_in, length):
    g = bytearray(0x8000)
    g[0] = 1  # start in guest RAM at 0x100
    msgout, cdbaddr, status, msgin, tmp, buf = 0x3000, 0x3100, 0x3200, 0x3210, 0x3220, 0x4000
    g[msgout] = 0x80
    g[msgout + 1] = 0x08
    g[cdbaddr:cdbaddr + len(cdb)] = cdb
    prog = w32(0x40000000 | target << 16, 0, 0x06000001, msgout,
               0x02000010, cdbaddr, 0x87820000, 0x18,
               0x07000002, tmp, 0x50000000, 0, 0x07000002, tmp,
               (0x01000000 if dir_in else 0) | length, buf if length else 0,
               0x03000001, status, 0x07000001, msgin, 0x98080000, 0)
    g[0x100:0x100 + len(prog)] = prog
    return bytes(g)


def sym_ram(dsa_table):
    # The program of tests/sim/lsi/lsi-guest.c lg_sym_init (same layout).
    r = RAM_BASE
    p = w32(0x43000018, 0, 0x1E000000, 0, 0x1A000000, 8,
            0x870B0000, r + 0x48, 0x810B0000, r + 0xA0,
            0x800B0000, r + 0xB0, 0x830B0000, r + 0xC0,
            0x98080000, 0xBAD, 0x80000000, 0)
    p += w32(0x0F000001, 0x3300, 0x800C0004, r + 0x70, 0x800C0000, r + 0xD0,
             0x60000040, 0, 0x80080000, r + 0x18)
    p += w32(0x60000040, 0, 0x48000000, 0, 0x50000000, r + 0xF0,
             0x7834FF00, 0, 0x80080000, r + 0x18)
    p = p.ljust(0xA0, b"\0")
    p += w32(0x19000000, 0x10, 0x80080000, r + 0x18)
    p += w32(0x18000000, 0x10, 0x80080000, r + 0x18)
    p += w32(0x0B000001, 0x3308, 0x80080000, r + 0x18)
    p += w32(0x60000040, 0, 0x48000000, 0, 0x98080000, 0x42)
    p = p.ljust(0xF0, b"\0") + w32(0x98080000, 0x51)
    return p


def scripts_seeds():
    s = {}
    s["seabios-inquiry"] = scripts_input(0, b"", seabios_guest(0, bytes([0x12, 0, 0, 0, 36, 0]), True, 36))
    s["seabios-tur"] = scripts_input(0, b"", seabios_guest(0, bytes(6), False, 0))
    s["seabios-read"] = scripts_input(0, b"", seabios_guest(0, bytes([0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0]), True, 1024))
    s["seabios-absent"] = scripts_input(0, b"", seabios_guest(4, bytes(6), False, 0))
    g = bytearray(0x8000)
    table = 0x3400
    g[0x3000:0x3003] = bytes([0xC0, 0x20, 0x31])
    g[0x3100:0x310A] = bytes([0x28, 0, 0, 0, 0, 2, 0, 0, 1, 0])
    g[table:table + 28] = w32(3, 0x3000, 10, 0x3100, 512, 0x4000, 0)
    s["sym-read"] = scripts_input(table, sym_ram(table), bytes(g))
    s["loop"] = scripts_input(0, w32(0x80080000, RAM_BASE))
    s["self-modify"] = scripts_input(
        0, w32(0xC0000008, RAM_BASE + 0x20, RAM_BASE + 0x10,
               0x80080000, 0x40000000, 0, 0, 0x98080000, 0x99))
    s["regs-move"] = scripts_input(
        0x100, w32(0xC0000004, RAM_BASE + 0x40, MMIO_BASE + 0x5C,
                   0xE1340004, RAM_BASE + 0x40, 0xF0340004, 0x20,
                   0x7E342000, 0, 0x808C0F1F, 0x08, 0x98180000, 1,
                   0x88080000, RAM_BASE + 0x60, 0x98080000, 2).ljust(0x60, b"\0")
        + w32(0x90080000, 0))
    s["int-fly-intf"] = scripts_input(0, w32(0x98180000, 1, 0x98080000, 2))
    for k, v in s.items():
        save("corpus-scripts", k, v)


# ---- fuzz-pci: ops of 7 bytes (off16, size selector, value32) ---------
def cfg(off, size, val):
    return struct.pack("<HBI", off, size, val & 0xFFFFFFFF)


def rd(off, size):
    return struct.pack("<HBI", off, size + 4, 0)


def pci_seeds():
    s = {}
    hvm = b""
    for b in range(6):
        hvm += cfg(0x10 + 4 * b, 4, 0xFFFFFFFF) + rd(0x10 + 4 * b, 4)
    hvm += (cfg(0x18, 4, 0xF1000000) + cfg(0x14, 4, 0xF1002000)
            + cfg(0x10, 4, 0xC101) + cfg(0x3C, 1, 10) + cfg(0x04, 2, 7))
    s["hvmloader"] = hvm
    s["linux-resize"] = (hvm + cfg(0x04, 2, 0) + cfg(0x14, 4, 0xFFFFFFFF)
                         + rd(0x14, 4) + cfg(0x14, 4, 0xF1002000)
                         + cfg(0x04, 2, 7) + cfg(0x14, 4, 0xF1000000)
                         + cfg(0x14, 4, 0xFFFFFC00))
    s["intx"] = (cfg(0x04, 2, 7) + struct.pack("<HBI", 0, 8, 1)
                 + cfg(0x04, 2, 0x407) + struct.pack("<HBI", 0, 8, 0)
                 + cfg(0x05, 1, 0) + rd(0x06, 2))
    s["unaligned"] = (cfg(0x13, 4, 0xFFFFFFFF) + cfg(0x0F, 2, 0x1234)
                      + rd(0x3F, 4) + cfg(0x8FFE, 4, 0) + cfg(0x8FFF, 2, 1)
                      + cfg(0x04, 3, 7) + cfg(0x20, 4, 0xFFFFFFFF)
                      + cfg(0x04, 2, 1) + cfg(0x20, 4, 0xFFFC))
    s["wrap-overlap"] = (cfg(0x04, 2, 3) + cfg(0x10, 4, 0xFFFF01)
                         + cfg(0x18, 4, 0xFFFFE000) + cfg(0x14, 4, 0xF1000000)
                         + cfg(0x18, 4, 0xF1000000) + cfg(0x18, 4, 0xE0000)
                         + cfg(0x14, 4, 0))
    for k, v in s.items():
        save("../pci/corpus", k, v)


regs_seeds()
scripts_seeds()
pci_seeds()
