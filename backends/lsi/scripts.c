/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The 53C895A SCRIPTS processor (data manual chapter 6: block move, I/O,
 * read/write register, transfer control, memory move, load/store).
 *
 * Every instruction word is guest-controlled. A run executes at most the
 * adapter's budget of instructions (a memory move or block move counts one
 * more per 4 KiB moved) and then parks in WAIT_BUDGET, resumed from a
 * deferred loop work item. DMA that hits the chip's own SCRIPTS RAM (BAR2)
 * or register window (BAR1) is served here; anything else goes to guest RAM
 * through the mapcache, and an address that is neither is a bus fault.
 */
#include <errno.h>
#include <string.h>

#include "lsi-internal.h"

#define CHUNK 4096u

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t
sext24(uint32_t v)
{
    return (v & 0x800000u) ? (v | 0xff000000u) : (v & 0xffffffu);
}

/* ---- DMA ---------------------------------------------------------------- */

static int
dma_xfer(struct iq_lsi *lsi, uint32_t addr32, uint8_t *buf, size_t len,
         bool write)
{
    uint64_t ram = iq_pci_bar_addr(lsi->pci, 2);
    uint64_t mmio = iq_pci_bar_addr(lsi->pci, 1);
    uint64_t a = addr32;
    uint64_t gen = lsi->bus_gen;

    /* 32-bit bus addresses: a transfer may not wrap past 4 GiB. */
    if (len > 0x100000000ull - a) {
        return -EFAULT;
    }
    while (len > 0) {
        size_t n = len;

        if (ram != IQ_PCI_BAR_UNMAPPED && a >= ram &&
            a < ram + IQ_LSI_RAM_SIZE) {
            size_t off = (size_t)(a - ram);

            n = IQ_MIN(n, IQ_LSI_RAM_SIZE - off);
            if (write) {
                memcpy(lsi->ram + off, buf, n);
            } else {
                memcpy(buf, lsi->ram + off, n);
            }
        } else if (mmio != IQ_PCI_BAR_UNMAPPED && a >= mmio &&
                   a < mmio + IQ_LSI_MMIO_SIZE) {
            uint8_t tmp[IQ_LSI_MMIO_SIZE];

            n = IQ_MIN(n, (size_t)(mmio + IQ_LSI_MMIO_SIZE - a));
            /*
             * A register write may reset the chip and free the command
             * whose bounce buffer `buf` points into: copy it out first.
             */
            if (write) {
                memcpy(tmp, buf, n);
            }
            for (size_t i = 0; i < n; i++) {
                unsigned reg = (unsigned)((a - mmio + i) & 0xffu);

                if (!write) {
                    buf[i] = iq_lsi_reg_readb(lsi, reg);
                    continue;
                }
                iq_lsi_reg_writeb(lsi, reg, tmp[i]);
                if (gen != lsi->bus_gen) {
                    /* Bus or chip reset: the DMA stops here (and `buf`
                     * may be gone). */
                    return 0;
                }
            }
        } else if (!(iq_pci_command(lsi->pci) & IQ_PCI_CMD_MASTER)) {
            /* Bus mastering disabled: the chip cannot reach guest RAM. */
            return -EFAULT;
        } else {
            /* Guest RAM up to the next own window. */
            if (ram != IQ_PCI_BAR_UNMAPPED && ram > a && ram - a < n) {
                n = (size_t)(ram - a);
            }
            if (mmio != IQ_PCI_BAR_UNMAPPED && mmio > a && mmio - a < n) {
                n = (size_t)(mmio - a);
            }
            if ((write ? iq_mc_write(lsi->mc, a, buf, n)
                       : iq_mc_read(lsi->mc, a, buf, n)) < 0) {
                return -EFAULT;
            }
        }
        a += n;
        buf += n;
        len -= n;
    }
    return 0;
}

int
iq_lsi_dma_read(struct iq_lsi *lsi, uint32_t addr, void *buf, size_t len)
{
    return dma_xfer(lsi, addr, buf, len, false);
}

int
iq_lsi_dma_write(struct iq_lsi *lsi, uint32_t addr, const void *buf, size_t len)
{
    /* dma_xfer does not modify the buffer when writing. */
    return dma_xfer(lsi, addr, (uint8_t *)(uintptr_t)buf, len, true);
}

/* ---- interrupts and helpers -------------------------------------------- */

static void
illegal(struct iq_lsi *lsi, uint32_t insn)
{
    lsi->stats.illegal++;
    iq_log_guest(&lsi->rl, lsi->name, "illegal SCRIPTS instruction 0x%08x",
                 insn);
    iq_lsi_dma_irq(lsi, DSTAT_IID);
}

static void
bus_fault(struct iq_lsi *lsi, uint32_t addr)
{
    lsi->stats.bus_faults++;
    iq_log_guest(&lsi->rl, lsi->name, "SCRIPTS DMA to 0x%08x: bus fault", addr);
    iq_lsi_dma_irq(lsi, DSTAT_BF);
}

/*
 * An instruction that needs the bus while a Select is still waiting for an
 * absent target: the selection times out here. True when it did.
 */
static bool
selection_timed_out(struct iq_lsi *lsi)
{
    if (!lsi->sel_timeout) {
        return false;
    }
    lsi->sel_timeout = false;
    lsi->stats.sel_timeouts++;
    /* Fatal: halts SCRIPTS (if they still run). */
    iq_lsi_scsi_irq(lsi, 0, SIST1_STO);
    return true;
}

/* Park at the current instruction until the target raises REQ. */
static void
park_for_req(struct iq_lsi *lsi)
{
    iq_lsi_set32(lsi, R_DSP, iq_lsi_get32(lsi, R_DSP) - 8u);
    lsi->wait = WAIT_REQ;
}

/*
 * Phase mismatch during a block move of `phase`. With CCNTL0.ENPMJ the
 * processor jumps through PMJAD1 (output phases: DATA OUT, COMMAND,
 * MESSAGE OUT) or PMJAD2 (input phases) instead of interrupting.
 */
static void
phase_mismatch(struct iq_lsi *lsi, unsigned phase)
{
    if (lsi->r[R_CCNTL0] & CCNTL0_ENPMJ) {
        iq_lsi_set32(lsi, R_DSP,
                     iq_lsi_get32(lsi, (phase & 1u) ? R_PMJAD2 : R_PMJAD1));
        return;
    }
    iq_lsi_scsi_irq(lsi, SIST0_MA, 0);
}

static void
set_dbc(struct iq_lsi *lsi, uint32_t count)
{
    lsi->r[R_DBC] = (uint8_t)count;
    lsi->r[R_DBC + 1] = (uint8_t)(count >> 8);
    lsi->r[R_DBC + 2] = (uint8_t)(count >> 16);
}

/* ---- instruction classes ------------------------------------------------ */

static unsigned
exec_block_move(struct iq_lsi *lsi, uint32_t insn, uint32_t arg)
{
    unsigned phase = (insn >> 24) & 7u;
    uint32_t count = insn & 0xffffffu;
    uint32_t addr = arg;
    uint8_t ent[8];
    int64_t n;
    bool cont;

    if ((insn & 0x30000000u) == 0x30000000u) {
        illegal(lsi, insn);
        return 1;
    }
    cont = lsi->mv_cont && lsi->mv_dsp == iq_lsi_get32(lsi, R_DSP) - 8u &&
           lsi->mv_insn == insn && lsi->mv_arg == arg;
    if (cont) {
        /* The rest of a move parked part-way. */
        count = lsi->mv_count;
        addr = lsi->mv_addr;
    } else if (insn & 0x10000000u) {
        /* Table indirect: {count, address} at DSA + signed offset. */
        uint32_t t = iq_lsi_get32(lsi, R_DSA) + sext24(arg);

        if (iq_lsi_dma_read(lsi, t, ent, 8) < 0) {
            bus_fault(lsi, t);
            return 1;
        }
        count = le32(ent) & 0xffffffu;
        addr = le32(ent + 4);
    } else if (insn & 0x20000000u) {
        /* Indirect: the data address is in memory at `arg`. */
        if (iq_lsi_dma_read(lsi, arg, ent, 4) < 0) {
            bus_fault(lsi, arg);
            return 1;
        }
        addr = le32(ent);
    }
    lsi->mv_cont = false;
    set_dbc(lsi, count);
    iq_lsi_set32(lsi, R_DNAD, addr);
    if (count == 0) {
        illegal(lsi, insn);
        return 1;
    }
    if (selection_timed_out(lsi)) {
        return 1;
    }
    if (!lsi->connected) {
        /* No target on the bus: nobody will ever raise REQ. */
        iq_lsi_scsi_irq(lsi, SIST0_UDC, 0);
        return 1;
    }
    if (iq_lsi_bus_busy(lsi)) {
        /* Still no REQ: keep a parked continuation for the next try. */
        lsi->mv_cont = cont;
        park_for_req(lsi);
        return 1;
    }
    if (phase != lsi->phase) {
        phase_mismatch(lsi, phase);
        return 1;
    }
    n = iq_lsi_bus_move(lsi, phase, addr, count);
    if (n < 0) {
        bus_fault(lsi, addr);
        return 1;
    }
    set_dbc(lsi, count - (uint32_t)n);
    iq_lsi_set32(lsi, R_DNAD, addr + (uint32_t)n);
    if ((uint32_t)n < count) {
        if (lsi->connected && lsi->phase == phase && iq_lsi_bus_busy(lsi)) {
            /*
             * The target withholds REQ in the same phase (between two
             * sub-commands): wait, then move the rest.
             */
            lsi->mv_cont = true;
            lsi->mv_dsp = iq_lsi_get32(lsi, R_DSP) - 8u;
            lsi->mv_insn = insn;
            lsi->mv_arg = arg;
            lsi->mv_addr = addr + (uint32_t)n;
            lsi->mv_count = count - (uint32_t)n;
            park_for_req(lsi);
        } else if (lsi->connected) {
            phase_mismatch(lsi, phase);
        } else {
            iq_lsi_scsi_irq(lsi, SIST0_UDC, 0);
        }
    }
    return 1u + (unsigned)((uint64_t)n / CHUNK);
}

/* Arithmetic of the read/modify/write instructions. */
static uint8_t
alu(struct iq_lsi *lsi, unsigned op, uint8_t a, uint8_t b)
{
    unsigned r;

    switch (op) {
    case 0: /* MOV */
        return b;
    case 1: /* SHL through carry */
        r = (unsigned)a << 1 | (lsi->carry ? 1u : 0u);
        lsi->carry = (a & 0x80u) != 0;
        return (uint8_t)r;
    case 2:
        return a | b;
    case 3:
        return a ^ b;
    case 4:
        return a & b;
    case 5: /* SHR through carry */
        r = (unsigned)a >> 1 | (lsi->carry ? 0x80u : 0u);
        lsi->carry = (a & 1u) != 0;
        return (uint8_t)r;
    case 6: /* ADD */
        r = (unsigned)a + b;
        lsi->carry = r > 0xffu;
        return (uint8_t)r;
    default: /* ADC */
        r = (unsigned)a + b + (lsi->carry ? 1u : 0u);
        lsi->carry = r > 0xffu;
        return (uint8_t)r;
    }
}

static void
exec_register(struct iq_lsi *lsi, unsigned opcode, uint32_t insn)
{
    unsigned reg = ((insn >> 16) & 0x7fu) | (insn & 0x80u);
    unsigned op = (insn >> 24) & 7u;
    uint8_t imm = (uint8_t)(insn >> 8);
    uint8_t b = (insn & 0x800000u) ? lsi->r[R_SFBR] : imm;
    uint8_t a;
    uint8_t res;

    switch (opcode) {
    case 5: /* SFBR op data -> register */
        a = lsi->r[R_SFBR];
        res = op == 0 ? a : alu(lsi, op, a, b);
        iq_lsi_reg_writeb(lsi, reg, res);
        break;
    case 6: /* register op data -> SFBR */
        a = iq_lsi_reg_readb(lsi, reg);
        res = op == 0 ? a : alu(lsi, op, a, b);
        lsi->r[R_SFBR] = res;
        break;
    default: /* 7: register op data -> register */
        a = iq_lsi_reg_readb(lsi, reg);
        res = alu(lsi, op, a, b);
        iq_lsi_reg_writeb(lsi, reg, res);
        break;
    }
}

static unsigned
exec_io(struct iq_lsi *lsi, uint32_t insn, uint32_t arg)
{
    unsigned opcode = (insn >> 27) & 7u;
    uint32_t dsp = iq_lsi_get32(lsi, R_DSP);
    uint32_t alt = (insn & 0x04000000u) ? dsp + sext24(arg) : arg;
    unsigned id;
    uint8_t ent[4];

    if (opcode <= 2 && selection_timed_out(lsi)) {
        /* Select, Wait Disconnect and Wait Reselect need the bus. */
        return 1;
    }
    switch (opcode) {
    case 0: /* Select */
        if (lsi->connected) {
            illegal(lsi, insn);
            break;
        }
        if (insn & 0x02000000u) {
            uint32_t t = iq_lsi_get32(lsi, R_DSA) + sext24(insn);
            uint32_t v;

            if (iq_lsi_dma_read(lsi, t, ent, 4) < 0) {
                bus_fault(lsi, t);
                break;
            }
            v = le32(ent);
            id = (v >> 16) & 0x0fu;
            lsi->r[R_SXFER] = (uint8_t)(v >> 8);
            lsi->r[R_SCNTL3] = (uint8_t)(v >> 24);
        } else {
            id = (insn >> 16) & 0x0fu;
        }
        lsi->r[R_SDID] = (uint8_t)id;
        if (iq_lsi_bus_select(lsi, id, (insn & 0x01000000u) != 0) < 0) {
            /* Nobody answers: the timeout comes at the next bus phase. */
            lsi->sel_timeout = true;
        }
        break;
    case 1: /* Wait Disconnect */
        if (lsi->connected) {
            iq_lsi_bus_disconnect(lsi);
        }
        break;
    case 2: /* Wait Reselect */
        if (lsi->connected) {
            illegal(lsi, insn);
            break;
        }
        if (iq_lsi_bus_reselect(lsi) == 0) {
            break;
        }
        if (lsi->r[R_ISTAT0] & ISTAT_SIGP) {
            iq_lsi_set32(lsi, R_DSP, alt);
            break;
        }
        lsi->wait_alt = alt;
        lsi->wait = WAIT_RESELECT;
        break;
    case 3: /* Set */
    case 4: /* Clear */
        if (insn & 0x400u) {
            lsi->carry = opcode == 3;
        }
        if (insn & 0x200u) {
            iq_log_unimp(&lsi->unimp_target_mode, lsi->name, "target mode");
        }
        if (insn & 0x08u) {
            iq_lsi_bus_set_atn(lsi, opcode == 3);
            if (opcode == 3 && lsi->connected && !iq_lsi_bus_busy(lsi) &&
                lsi->msg_in_len == 0) {
                lsi->phase = PH_MO;
            }
        }
        /* ACK: the model acknowledges each byte as it moves it. */
        break;
    case 5:
    case 6:
    case 7:
        exec_register(lsi, opcode, insn);
        break;
    default:
        illegal(lsi, insn);
        break;
    }
    return 1;
}

static unsigned
exec_transfer(struct iq_lsi *lsi, uint32_t insn, uint32_t arg)
{
    unsigned opcode = (insn >> 27) & 7u;
    bool if_true = (insn & 0x00080000u) != 0;
    bool match = true;
    bool take;
    uint32_t dsp = iq_lsi_get32(lsi, R_DSP);
    uint32_t target = (insn & 0x00800000u) ? dsp + sext24(arg) : arg;

    if (opcode > 3) {
        illegal(lsi, insn);
        return 1;
    }
    if ((insn & 0x00030000u) && selection_timed_out(lsi)) {
        /* Phase compare, or "When", with the selection still open. */
        return 1;
    }
    /* "When": wait for a valid phase (REQ) before comparing. */
    if ((insn & 0x00010000u) && iq_lsi_bus_busy(lsi)) {
        park_for_req(lsi);
        return 1;
    }
    if (insn & 0x00200000u) {
        match = match && lsi->carry;
    }
    if (insn & 0x00020000u) {
        match = match && lsi->connected && lsi->phase == ((insn >> 24) & 7u);
    }
    if (insn & 0x00040000u) {
        uint8_t mask = (uint8_t)(insn >> 8);

        match = match && ((lsi->r[R_SFBR] ^ (uint8_t)insn) & ~mask) == 0;
    }
    take = if_true ? match : !match;
    if (!take) {
        return 1;
    }
    switch (opcode) {
    case 0: /* Jump */
        iq_lsi_set32(lsi, R_DSP, target);
        break;
    case 1: /* Call */
        iq_lsi_set32(lsi, R_TEMP, dsp);
        iq_lsi_set32(lsi, R_DSP, target);
        break;
    case 2: /* Return */
        iq_lsi_set32(lsi, R_DSP, iq_lsi_get32(lsi, R_TEMP));
        break;
    default: /* Interrupt */
        if (insn & 0x00100000u) {
            /* Interrupt on the fly: SCRIPTS continue. */
            lsi->r[R_ISTAT0] |= ISTAT_INTF;
            iq_lsi_update_irq(lsi);
        } else {
            iq_lsi_dma_irq(lsi, DSTAT_SIR);
        }
        break;
    }
    return 1;
}

static unsigned
exec_memory(struct iq_lsi *lsi, uint32_t insn, uint32_t arg)
{
    uint8_t buf[CHUNK];
    uint32_t dsp = iq_lsi_get32(lsi, R_DSP);

    if (!(insn & 0x20000000u)) {
        /* Memory move: 12 bytes, destination in the third dword. */
        uint32_t count = insn & 0xffffffu;
        uint32_t src = arg;
        uint32_t dst;
        uint32_t done = 0;

        if (iq_lsi_dma_read(lsi, dsp, buf, 4) < 0) {
            bus_fault(lsi, dsp);
            return 1;
        }
        dst = le32(buf);
        iq_lsi_set32(lsi, R_DSP, dsp + 4u);
        iq_lsi_set32(lsi, R_DNAD, dst);
        while (done < count && lsi->running) {
            uint32_t n = IQ_MIN(count - done, CHUNK);

            if (iq_lsi_dma_read(lsi, src + done, buf, n) < 0) {
                bus_fault(lsi, src + done);
                break;
            }
            if (iq_lsi_dma_write(lsi, dst + done, buf, n) < 0) {
                bus_fault(lsi, dst + done);
                break;
            }
            done += n;
        }
        return 1u + count / CHUNK;
    }
    /* Load/Store: 1..4 bytes between memory and registers. */
    {
        unsigned n = insn & 7u;
        unsigned reg = (insn >> 16) & 0xffu;
        uint32_t addr = arg;

        if (insn & 0x10000000u) {
            addr = iq_lsi_get32(lsi, R_DSA) + sext24(arg);
        }
        if (n == 0 || n > 4 || (reg & 3u) + n > 4 || (addr & 3u) + n > 4) {
            illegal(lsi, insn);
            return 1;
        }
        if (insn & 0x01000000u) {
            if (iq_lsi_dma_read(lsi, addr, buf, n) < 0) {
                bus_fault(lsi, addr);
                return 1;
            }
            for (unsigned i = 0; i < n; i++) {
                iq_lsi_reg_writeb(lsi, reg + i, buf[i]);
            }
        } else {
            for (unsigned i = 0; i < n; i++) {
                buf[i] = iq_lsi_reg_readb(lsi, reg + i);
            }
            if (iq_lsi_dma_write(lsi, addr, buf, n) < 0) {
                bus_fault(lsi, addr);
                return 1;
            }
        }
        iq_lsi_set32(lsi, R_DNAD, addr);
    }
    return 1;
}

/* Fetch and execute one instruction; returns its cost. */
static unsigned
step(struct iq_lsi *lsi)
{
    uint32_t dsp = iq_lsi_get32(lsi, R_DSP);
    uint8_t w[8];
    uint32_t insn;
    uint32_t arg;
    uint64_t resets;
    unsigned cost;

    lsi->stats.insns++;
    if (dsp & 3u) {
        illegal(lsi, dsp);
        return 1;
    }
    if (iq_lsi_dma_read(lsi, dsp, w, 4) < 0) {
        bus_fault(lsi, dsp);
        return 1;
    }
    insn = le32(w);
    if (insn == 0) {
        /* A zero word is skipped on its own (no DSPS dword). */
        iq_lsi_set32(lsi, R_DSP, dsp + 4u);
        return 1;
    }
    if (iq_lsi_dma_read(lsi, dsp + 4u, w + 4, 4) < 0) {
        bus_fault(lsi, dsp + 4u);
        return 1;
    }
    arg = le32(w + 4);
    set_dbc(lsi, insn & 0xffffffu);
    lsi->r[R_DCMD] = (uint8_t)(insn >> 24);
    iq_lsi_set32(lsi, R_DSPS, arg);
    iq_lsi_set32(lsi, R_DSP, dsp + 8u);
    resets = lsi->stats.chip_resets;
    switch (insn >> 30) {
    case 0:
        cost = exec_block_move(lsi, insn, arg);
        break;
    case 1:
        cost = exec_io(lsi, insn, arg);
        break;
    case 2:
        cost = exec_transfer(lsi, insn, arg);
        break;
    default:
        cost = exec_memory(lsi, insn, arg);
        break;
    }
    if (lsi->stats.chip_resets != resets) {
        /*
         * The instruction's own DMA reset the chip (ISTAT.SRST through
         * BAR1): whatever it wrote after that (DBC, DNAD, a bus fault)
         * belongs to a chip that no longer exists.
         */
        iq_lsi_chip_reset(lsi);
    }
    return cost;
}

void
iq_lsi_scripts_run(struct iq_lsi *lsi)
{
    unsigned spent = 0;

    if (lsi->in_run) {
        /* A register write from SCRIPTS: the outer loop carries on. */
        return;
    }
    lsi->in_run = true;
    while (lsi->running && lsi->wait == WAIT_NONE) {
        if (spent >= lsi->budget) {
            lsi->wait = WAIT_BUDGET;
            lsi->stats.parks++;
            iq_loop_defer(lsi->loop, &lsi->work);
            break;
        }
        spent += step(lsi);
    }
    if (!lsi->running) {
        /* SCRIPTS halted before using the bus: the timer still expires. */
        (void)selection_timed_out(lsi);
    }
    lsi->in_run = false;
}

void
iq_lsi_scripts_start(struct iq_lsi *lsi)
{
    iq_loop_cancel(lsi->loop, &lsi->work);
    lsi->running = true;
    lsi->wait = WAIT_NONE;
    lsi->mv_cont = false;
    iq_lsi_scripts_run(lsi);
}

void
iq_lsi_scripts_kick(struct iq_lsi *lsi)
{
    if (lsi->running && lsi->wait == WAIT_NONE) {
        iq_lsi_scripts_run(lsi);
    }
}
