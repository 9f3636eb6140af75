/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LSI 53C895A SCSI host adapter (backends/lsi/): a PCI function (see
 * pci.h) with the register file on BAR0 (I/O, 256 bytes) and BAR1 (MMIO,
 * 1 KiB, decoding addr & 0xff), 8 KiB of SCRIPTS RAM on BAR2, and the
 * SCRIPTS processor driving up to seven SCSI targets (IDs 0..6; the
 * initiator is ID 7), each an iq_scsi_target with its own LUNs.
 *
 * Everything the guest writes (registers, SCRIPTS, tables, messages, CDBs)
 * is guest-controlled and validated here:
 *   - every run of SCRIPTS executes at most `insn_budget` instructions;
 *     then the processor parks and resumes from a deferred loop work item,
 *     so an endless SCRIPTS loop costs a bounded share of the loop thread
 *     and the registers (ISTAT ABRT, SIGP, SRST) stay responsive;
 *   - fetches and moves that hit the chip's own SCRIPTS RAM (BAR2's
 *     decoded address) or its registers (BAR1's) are served inside the
 *     model; everything else is guest RAM through the mapcache (never the
 *     ioreq dispatcher); an address that is neither raises DSTAT.BF;
 *   - reserved or inconsistent instructions raise DSTAT.IID;
 *   - each command's data goes through a bounce buffer of at most
 *     IQ_SCSI_MAX_XFER bytes (data-in: execute, then move to the guest;
 *     data-out: move from the guest, then execute); larger READ/WRITE
 *     commands run as pieces of that size through the same buffer.
 *
 * The interrupt line is (DSTAT & DIEN) | (SIST0 & SIEN0) | (SIST1 & SIEN1)
 * | ISTAT.INTF, driven through the PCI function's INTx (pin A).
 * All calls happen on the loop thread.
 *
 * Guest-visible choices where the chip leaves room:
 *   - after selection (with or without ATN) the target enters MESSAGE OUT;
 *     after a MESSAGE OUT move it goes to COMMAND (SeaBIOS relies on it);
 *   - a block move with no target connected raises SIST0.UDC; a zero
 *     byte count raises DSTAT.IID; a phase mismatch leaves DBC/DNAD at
 *     the remainder (DFIFO reads as an empty FIFO);
 *   - commands with disconnect privilege disconnect after the CDB (data
 *     out: after the data) with SAVE DATA POINTER + DISCONNECT and
 *     reselect at the next WAIT RESELECT once done; without it, REQ is
 *     withheld and SCRIPTS park until the command completes;
 *   - extended messages (SDTR, WDTR, PPR) get MESSAGE REJECT: the bus
 *     stays narrow and asynchronous;
 *   - a chip or bus reset reached through the chip's own registers by a
 *     SCRIPTS DMA stops that DMA at the byte that caused it.
 * Not modelled: target mode, single-step, 40/64-bit addressing (table
 * upper bytes ignored), wide transfers (CHMOV acts as MOVE), parity, the
 * general purpose timer (expires at once: SIST1.GEN), losing arbitration
 * (Select never takes its alternate address).
 */
#ifndef IQ_INCLUDE_LSI_H
#define IQ_INCLUDE_LSI_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "loop.h"
#include "mapcache.h"
#include "pci.h"
#include "scsi.h"

#define IQ_LSI_VENDOR_ID 0x1000u
#define IQ_LSI_DEVICE_ID 0x0012u
#define IQ_LSI_MAX_TARGETS 7u
#define IQ_LSI_REGS_SIZE 256u /* BAR0 */
#define IQ_LSI_MMIO_SIZE 0x400u /* BAR1 */
#define IQ_LSI_RAM_SIZE 0x2000u /* BAR2 */
/* Default SCRIPTS instructions per run. */
#define IQ_LSI_DEFAULT_BUDGET 1000u
/* Commands in flight at once (all targets); more get BUSY status. */
#define IQ_LSI_MAX_CMDS 64u
/* Bounce-buffer bytes held at once (all commands); more get BUSY. */
#define IQ_LSI_MAX_BOUNCE (16u << 20)

struct iq_lsi_config {
    const char *name; /* log context; copied */
    struct iq_loop *loop;
    struct iq_mc *mc; /* guest RAM for DMA */
    /* Borrowed, outlive the adapter; NULL: no device at that ID. */
    struct iq_scsi_target *targets[IQ_LSI_MAX_TARGETS];
    /* Passed to the PCI function (BAR mapping, INTx). */
    const struct iq_pci_host_ops *host;
    void *host_opaque;
    unsigned insn_budget; /* 0: IQ_LSI_DEFAULT_BUDGET */
};

struct iq_lsi;

/* 0, -EINVAL (no loop/mc/host) or -ENOMEM. */
IQ_MUST_CHECK int iq_lsi_create(const struct iq_lsi_config *cfg,
                                struct iq_lsi **out);
/*
 * Stops SCRIPTS, waits for commands in flight (iq_scsi_target_reset on each
 * target with one), unmaps the BARs. Accepts NULL.
 */
void iq_lsi_destroy(struct iq_lsi *lsi);

/* The PCI function (config space region ops: iq_pci_region_ops()). */
struct iq_pci_dev *iq_lsi_pci(struct iq_lsi *lsi);

/*
 * Register file access as through BAR0/BAR1: `off` is reduced to 0..255,
 * `size` 1..4 (little-endian, bytewise with each byte's side effects).
 * Guest-controlled. May run SCRIPTS (a write that starts them).
 */
uint32_t iq_lsi_reg_read(struct iq_lsi *lsi, unsigned off, unsigned size);
void iq_lsi_reg_write(struct iq_lsi *lsi, unsigned off, uint32_t val,
                      unsigned size);

struct iq_lsi_stats {
    uint64_t insns; /* SCRIPTS instructions executed */
    uint64_t parks; /* runs that ended with the budget spent */
    uint64_t commands; /* SCSI commands started */
    uint64_t reselects;
    uint64_t bus_faults;
    uint64_t illegal; /* DSTAT.IID raised */
    uint64_t sel_timeouts; /* Selects nobody answered (SIST1.STO) */
    uint64_t bus_resets; /* SCNTL1.RST asserted by the driver */
    uint64_t chip_resets; /* ISTAT.SRST */
};
void iq_lsi_get_stats(const struct iq_lsi *lsi, struct iq_lsi_stats *st);

#endif /* IQ_INCLUDE_LSI_H */
