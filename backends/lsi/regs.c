/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LSI 53C895A register file (BAR0 I/O, BAR1 MMIO), SCRIPTS RAM (BAR2), the
 * PCI function and chip reset. Register semantics follow the 53C895A data
 * manual chapter 5; every value written here is guest-controlled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lsi-internal.h"

uint32_t
iq_lsi_get32(const struct iq_lsi *lsi, unsigned off)
{
    off &= 0xfcu;
    return (uint32_t)lsi->r[off] | (uint32_t)lsi->r[off + 1] << 8 |
           (uint32_t)lsi->r[off + 2] << 16 | (uint32_t)lsi->r[off + 3] << 24;
}

void
iq_lsi_set32(struct iq_lsi *lsi, unsigned off, uint32_t v)
{
    off &= 0xfcu;
    lsi->r[off] = (uint8_t)v;
    lsi->r[off + 1] = (uint8_t)(v >> 8);
    lsi->r[off + 2] = (uint8_t)(v >> 16);
    lsi->r[off + 3] = (uint8_t)(v >> 24);
}

void
iq_lsi_update_irq(struct iq_lsi *lsi)
{
    bool level = (lsi->r[R_DSTAT] & lsi->r[R_DIEN]) != 0 ||
                 (lsi->r[R_SIST0] & lsi->r[R_SIEN0]) != 0 ||
                 (lsi->r[R_SIST1] & lsi->r[R_SIEN1]) != 0 ||
                 (lsi->r[R_ISTAT0] & ISTAT_INTF) != 0;

    if (lsi->pci != NULL) {
        iq_pci_set_irq(lsi->pci, level);
    }
}

void
iq_lsi_stop(struct iq_lsi *lsi)
{
    lsi->running = false;
    lsi->wait = WAIT_NONE;
    iq_loop_cancel(lsi->loop, &lsi->work);
}

/* A DMA (DSTAT) interrupt: every one the model raises halts SCRIPTS. */
void
iq_lsi_dma_irq(struct iq_lsi *lsi, uint8_t dstat)
{
    lsi->r[R_DSTAT] |= dstat;
    iq_lsi_stop(lsi);
    iq_lsi_update_irq(lsi);
}

/* A SCSI interrupt; the ones raised here (MA, UDC, RST, STO) are fatal. */
void
iq_lsi_scsi_irq(struct iq_lsi *lsi, uint8_t sist0, uint8_t sist1)
{
    lsi->r[R_SIST0] |= sist0;
    lsi->r[R_SIST1] |= sist1;
    iq_lsi_stop(lsi);
    iq_lsi_update_irq(lsi);
}

/* Power-on / ISTAT.SRST values. */
void
iq_lsi_chip_reset(struct iq_lsi *lsi)
{
    iq_lsi_stop(lsi);
    iq_lsi_bus_reset(lsi);
    memset(lsi->r, 0, sizeof(lsi->r));
    lsi->carry = false;
    lsi->r[R_SCNTL0] = 0xc0; /* full arbitration */
    lsi->r[R_CTEST1] = 0xf0; /* FIFO empty */
    lsi->r[R_STEST4] = 0x80; /* single-ended bus */
    lsi->r[R_DCNTL] = 0x00;
    iq_lsi_update_irq(lsi);
}

static uint8_t
read_istat0(const struct iq_lsi *lsi)
{
    uint8_t v = lsi->r[R_ISTAT0] & (ISTAT_INTF | ISTAT_SEM | ISTAT_SIGP);

    if (lsi->r[R_DSTAT] != 0) {
        v |= ISTAT_DIP;
    }
    if (lsi->r[R_SIST0] != 0 || lsi->r[R_SIST1] != 0) {
        v |= ISTAT_SIP;
    }
    if (lsi->connected) {
        v |= ISTAT_CON;
    }
    return v;
}

uint8_t
iq_lsi_reg_readb(struct iq_lsi *lsi, unsigned off)
{
    uint8_t v;

    off &= 0xffu;
    switch (off) {
    case R_SCNTL1:
        return (uint8_t)((lsi->r[R_SCNTL1] & ~SCNTL1_CON) |
                         (lsi->connected ? SCNTL1_CON : 0));
    case R_SBCL:
        if (!lsi->connected) {
            return 0;
        }
        v = SBCL_BSY | (uint8_t)(lsi->phase & 7u);
        if (!iq_lsi_bus_busy(lsi)) {
            v |= SBCL_REQ;
        }
        if (lsi->atn) {
            v |= SBCL_ATN;
        }
        return v;
    case R_SOCL:
        return (uint8_t)(lsi->atn ? SBCL_ATN : 0);
    case R_DSTAT:
        /* DFE always reads 1; cleared on read unless ISTAT.INTF. */
        v = lsi->r[R_DSTAT] | DSTAT_DFE;
        if (!(lsi->r[R_ISTAT0] & ISTAT_INTF)) {
            lsi->r[R_DSTAT] = 0;
            iq_lsi_update_irq(lsi);
        }
        return v;
    case R_SSTAT0:
        /* RST follows the SCSI RST signal, driven by SCNTL1.RST. */
        return (uint8_t)((lsi->r[R_SSTAT0] & ~SSTAT0_RST) |
                         ((lsi->r[R_SCNTL1] & SCNTL1_RST) ? SSTAT0_RST : 0));
    case R_SSTAT1:
        return lsi->connected ? (uint8_t)(lsi->phase & 7u) : 0;
    case R_ISTAT0:
        return read_istat0(lsi);
    case R_ISTAT1:
        return lsi->running ? ISTAT1_SRUN : 0;
    case R_CTEST2:
        /* Reports and clears SIGP (bit 6), DMA FIFO ready (bit 3). */
        v = 0x08;
        if (lsi->r[R_ISTAT0] & ISTAT_SIGP) {
            v |= 0x40;
            lsi->r[R_ISTAT0] &= (uint8_t)~ISTAT_SIGP;
        }
        return v;
    case R_CTEST3:
        return lsi->r[R_CTEST3] & 0x0fu; /* revision 0 in bits 7:4 */
    case R_DFIFO:
        /* An empty FIFO: the byte offset counter equals DBC's low bits. */
        return lsi->r[R_DBC] & 0x7fu;
    case R_SIST0:
    case R_SIST1:
        /* Cleared on read. */
        v = lsi->r[off];
        lsi->r[off] = 0;
        iq_lsi_update_irq(lsi);
        return v;
    case R_SBDL:
        if (lsi->connected && lsi->phase == PH_MI &&
            lsi->msg_in_pos < lsi->msg_in_len) {
            return lsi->msg_in[lsi->msg_in_pos];
        }
        return 0;
    case R_SBDL + 1:
        return 0;
    default:
        return lsi->r[off];
    }
}

static void
write_istat0(struct iq_lsi *lsi, uint8_t v)
{
    if (v & ISTAT_SRST) {
        /* Chip reset; the bit does not stay set. */
        lsi->stats.chip_resets++;
        iq_lsi_chip_reset(lsi);
        return;
    }
    lsi->r[R_ISTAT0] =
        (uint8_t)((lsi->r[R_ISTAT0] & ~ISTAT_SEM) | (v & ISTAT_SEM));
    if (v & ISTAT_INTF) {
        /* Writing 1 clears INTF. */
        lsi->r[R_ISTAT0] &= (uint8_t)~ISTAT_INTF;
    }
    if (v & ISTAT_SIGP) {
        lsi->r[R_ISTAT0] |= ISTAT_SIGP;
        if (lsi->running && lsi->wait == WAIT_RESELECT) {
            /* Wait Reselect is left through its alternate address. */
            iq_lsi_set32(lsi, R_DSP, lsi->wait_alt);
            lsi->wait = WAIT_NONE;
            iq_lsi_scripts_kick(lsi);
        }
    }
    if (v & ISTAT_ABRT) {
        iq_lsi_dma_irq(lsi, DSTAT_ABRT);
    }
    iq_lsi_update_irq(lsi);
}

void
iq_lsi_reg_writeb(struct iq_lsi *lsi, unsigned off, uint8_t v)
{
    off &= 0xffu;
    switch (off) {
    case R_SCNTL0:
        if (v & 0x01) {
            iq_log_unimp(&lsi->unimp_target_mode, lsi->name,
                         "target mode / start sequence");
        }
        lsi->r[off] = v;
        break;
    case R_SCNTL1: {
        bool was_rst = (lsi->r[off] & SCNTL1_RST) != 0;

        lsi->r[off] = v & (uint8_t)~SCNTL1_CON;
        if ((v & SCNTL1_RST) && !was_rst) {
            /*
             * Asserting SCSI RST: every target drops its commands (they
             * are not told: a unit attention is the target's business).
             */
            lsi->stats.bus_resets++;
            iq_lsi_stop(lsi);
            iq_lsi_bus_reset(lsi);
            /* Every target sees the RST: unit attention on each LUN. */
            for (unsigned t = 0; t < IQ_LSI_MAX_TARGETS; t++) {
                iq_scsi_target_reset_async(lsi->targets[t]);
            }
            lsi->r[R_SIST0] |= SIST0_RST;
            iq_lsi_update_irq(lsi);
        }
        break;
    }
    case R_SBCL:
    case R_SSTAT0:
    case R_SSTAT1:
    case R_SSTAT2:
    case R_ISTAT1:
    case R_CTEST0:
    case R_CTEST1:
    case R_CTEST2:
    case R_DFIFO:
    case R_SIDL:
    case R_SIDL + 1:
    case R_STEST4:
    case R_SBDL:
    case R_SBDL + 1:
        /* Read-only. */
        break;
    case R_SFBR:
        /* Written by SCRIPTS only (register moves), but harmless. */
        lsi->r[off] = v;
        break;
    case R_SOCL:
        lsi->r[off] = v;
        break;
    case R_DSTAT:
    case R_SIST0:
    case R_SIST1:
        /* Read-only (cleared by reading). */
        break;
    case R_ISTAT0:
        write_istat0(lsi, v);
        break;
    case R_CTEST3:
        lsi->r[off] = v & 0x0fu;
        break;
    case R_DSP + 3:
        lsi->r[off] = v;
        /* Writing DSP's top byte starts SCRIPTS unless manual mode. */
        if (!(lsi->r[R_DMODE] & DMODE_MAN)) {
            iq_lsi_scripts_start(lsi);
        }
        break;
    case R_DCNTL:
        lsi->r[off] = v & (uint8_t)~DCNTL_STD;
        if (v & DCNTL_SSM) {
            iq_log_unimp(&lsi->unimp_ssm, lsi->name, "single-step mode");
        }
        if ((v & DCNTL_STD) && (lsi->r[R_DMODE] & DMODE_MAN)) {
            iq_lsi_scripts_start(lsi);
        }
        break;
    case R_DIEN:
    case R_SIEN0:
    case R_SIEN1:
        lsi->r[off] = v;
        iq_lsi_update_irq(lsi);
        break;
    case R_STEST1:
        lsi->r[off] = v;
        /*
         * The clock quadrupler locks at once: STEST4.LCKFRQ follows
         * STEST1.DBLEN (sym53c8xx polls it after enabling the doubler).
         */
        if (v & STEST1_DBLEN) {
            lsi->r[R_STEST4] |= STEST4_LCKFRQ;
        } else {
            lsi->r[R_STEST4] &= (uint8_t)~STEST4_LCKFRQ;
        }
        break;
    case R_STIME1:
        lsi->r[off] = v;
        /*
         * The general purpose timer is not modelled: it expires at once
         * (drivers use it to measure the SCSI clock; a fast expiry makes
         * them assume the nominal clock).
         */
        if (v & 0x0fu) {
            lsi->r[R_SIST1] |= SIST1_GEN;
            iq_lsi_update_irq(lsi);
        }
        break;
    default:
        lsi->r[off] = v;
        break;
    }
}

uint32_t
iq_lsi_reg_read(struct iq_lsi *lsi, unsigned off, unsigned size)
{
    uint32_t v = 0;

    if (size < 1 || size > 4) {
        return UINT32_MAX;
    }
    for (unsigned i = 0; i < size; i++) {
        v |= (uint32_t)iq_lsi_reg_readb(lsi, (off + i) & 0xffu) << (8 * i);
    }
    return v;
}

void
iq_lsi_reg_write(struct iq_lsi *lsi, unsigned off, uint32_t val, unsigned size)
{
    if (size < 1 || size > 4) {
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        iq_lsi_reg_writeb(lsi, (off + i) & 0xffu, (uint8_t)(val >> (8 * i)));
    }
}

/* ---- BAR region ops ---------------------------------------------------- */

static uint64_t
regs_region_read(void *opaque, uint64_t offset, unsigned size)
{
    if (size > 4) {
        /* 8-byte access: two dwords. */
        return iq_lsi_reg_read(opaque, (unsigned)offset, 4) |
               (uint64_t)iq_lsi_reg_read(opaque, (unsigned)offset + 4, 4) << 32;
    }
    return iq_lsi_reg_read(opaque, (unsigned)(offset & 0xffu), size);
}

static void
regs_region_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    if (size > 4) {
        iq_lsi_reg_write(opaque, (unsigned)offset, (uint32_t)value, 4);
        iq_lsi_reg_write(opaque, (unsigned)offset + 4, (uint32_t)(value >> 32),
                         4);
        return;
    }
    iq_lsi_reg_write(opaque, (unsigned)(offset & 0xffu), (uint32_t)value, size);
}

static const struct iq_region_ops lsi_regs_ops = {
    .read = regs_region_read,
    .write = regs_region_write,
};

static uint64_t
ram_region_read(void *opaque, uint64_t offset, unsigned size)
{
    struct iq_lsi *lsi = opaque;
    uint64_t v = 0;

    for (unsigned i = 0; i < size && i < 8; i++) {
        v |= (uint64_t)lsi->ram[(offset + i) % IQ_LSI_RAM_SIZE] << (8 * i);
    }
    return v;
}

static void
ram_region_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct iq_lsi *lsi = opaque;

    for (unsigned i = 0; i < size && i < 8; i++) {
        lsi->ram[(offset + i) % IQ_LSI_RAM_SIZE] = (uint8_t)(value >> (8 * i));
    }
}

static const struct iq_region_ops lsi_ram_ops = {
    .read = ram_region_read,
    .write = ram_region_write,
};

/* ---- lifecycle ---------------------------------------------------------- */

static void
resume_work(void *opaque)
{
    struct iq_lsi *lsi = opaque;

    if (lsi->running && lsi->wait == WAIT_BUDGET) {
        lsi->wait = WAIT_NONE;
        iq_lsi_scripts_run(lsi);
    }
}

int
iq_lsi_create(const struct iq_lsi_config *cfg, struct iq_lsi **out)
{
    struct iq_pci_config pc;
    struct iq_lsi *lsi;
    int rc;

    *out = NULL;
    if (cfg == NULL || cfg->loop == NULL || cfg->mc == NULL ||
        cfg->host == NULL) {
        return -EINVAL;
    }
    lsi = calloc(1, sizeof(*lsi));
    if (lsi == NULL) {
        return -ENOMEM;
    }
    strncpy(lsi->name, cfg->name != NULL ? cfg->name : "lsi",
            sizeof(lsi->name) - 1);
    lsi->loop = cfg->loop;
    lsi->mc = cfg->mc;
    memcpy(lsi->targets, cfg->targets, sizeof(lsi->targets));
    lsi->budget =
        cfg->insn_budget != 0 ? cfg->insn_budget : IQ_LSI_DEFAULT_BUDGET;
    iq_loop_work_init(&lsi->work, resume_work, lsi);
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        lsi->cmds[i].lsi = lsi;
    }

    memset(&pc, 0, sizeof(pc));
    pc.name = lsi->name;
    pc.vendor_id = IQ_LSI_VENDOR_ID;
    pc.device_id = IQ_LSI_DEVICE_ID;
    pc.subsys_vendor_id = 0;
    pc.subsys_id = 0x1000;
    pc.revision = 0;
    pc.class_code = 0x010000; /* mass storage, SCSI */
    pc.int_pin = 1; /* INTA */
    pc.latency = 0xff;
    pc.bars[0] = (struct iq_pci_bar_def){IQ_PCI_BAR_IO, IQ_LSI_REGS_SIZE,
                                         &lsi_regs_ops, lsi};
    pc.bars[1] = (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, IQ_LSI_MMIO_SIZE,
                                         &lsi_regs_ops, lsi};
    pc.bars[2] = (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, IQ_LSI_RAM_SIZE,
                                         &lsi_ram_ops, lsi};
    pc.host = cfg->host;
    pc.host_opaque = cfg->host_opaque;
    rc = iq_pci_create(&pc, &lsi->pci);
    if (rc < 0) {
        free(lsi);
        return rc;
    }
    iq_lsi_chip_reset(lsi);
    *out = lsi;
    return 0;
}

void
iq_lsi_destroy(struct iq_lsi *lsi)
{
    if (lsi == NULL) {
        return;
    }
    iq_lsi_stop(lsi);
    /* Drops every command; running ones are freed by their completion. */
    iq_lsi_bus_reset(lsi);
    /* Wait for those: their done() must not outlive the adapter. */
    for (unsigned t = 0; t < IQ_LSI_MAX_TARGETS; t++) {
        bool busy = false;

        for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
            busy = busy || (lsi->cmds[i].state == CMD_RUNNING &&
                            lsi->cmds[i].target == t);
        }
        if (busy && lsi->targets[t] != NULL) {
            iq_scsi_target_reset(lsi->targets[t]);
        }
    }
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        /* A completion that never came (cannot happen with a target that
         * honours reset): leak the slot's buffer rather than free it under
         * a live task. */
        if (lsi->cmds[i].state == CMD_RUNNING) {
            IQ_WARN(lsi->name, "command still running at destroy");
            lsi->cmds[i].buf = NULL;
        }
    }
    iq_pci_destroy(lsi->pci);
    free(lsi);
}

struct iq_pci_dev *
iq_lsi_pci(struct iq_lsi *lsi)
{
    return lsi->pci;
}

void
iq_lsi_get_stats(const struct iq_lsi *lsi, struct iq_lsi_stats *st)
{
    *st = lsi->stats;
}
