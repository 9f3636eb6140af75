/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A simulated-guest LSI 53C895A driver over the fake Xen's x86 personality:
 * hvmloader-style enumeration through config-space ioreqs, register access
 * through BAR0 (ports) or BAR1 (MMIO), SCRIPTS RAM writes through BAR2, a
 * SeaBIOS-shaped polled command path (SCRIPTS in guest RAM) and a
 * sym53c8xx-shaped interrupt-driven path (SCRIPTS in on-chip RAM, DSA
 * tables, tagged commands with disconnect/reselect). Used by the sim tests
 * and bench/lsi.
 */
#ifndef IQ_TESTS_SIM_LSI_GUEST_H
#define IQ_TESTS_SIM_LSI_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iq-sim.h"

/* Guest RAM the driver uses: [LG_AREA, LG_AREA + 2 MiB). */
#define LG_AREA 0x200000u
#define LG_SCRIPT (LG_AREA + 0x0000u)
#define LG_MSGOUT (LG_AREA + 0x1000u)
#define LG_CDB (LG_AREA + 0x1100u)
#define LG_STATUS (LG_AREA + 0x1200u)
#define LG_MSGIN (LG_AREA + 0x1210u)
#define LG_MSGTMP (LG_AREA + 0x1220u)
#define LG_TABLE (LG_AREA + 0x1400u)
#define LG_DATA (LG_AREA + 0x10000u)
#define LG_DATA_MAX (1u << 20)

/* Registers. */
#define LG_SCNTL1 0x01
#define LG_SCID 0x04
#define LG_SSID 0x0a
#define LG_DSTAT 0x0c
#define LG_DSA 0x10
#define LG_ISTAT 0x14
#define LG_ISTAT1 0x15
#define LG_CTEST2 0x1a
#define LG_DBC 0x24
#define LG_DNAD 0x28
#define LG_DSP 0x2c
#define LG_DSPS 0x30
#define LG_SCRATCHA 0x34
#define LG_DIEN 0x39
#define LG_SIEN0 0x40
#define LG_SIEN1 0x41
#define LG_SIST0 0x42
#define LG_SIST1 0x43
#define LG_SCRATCHB 0x5c

struct lg {
    struct iq_sim *sim;
    unsigned vcpu;
    uint32_t sbdf;
    uint16_t io; /* BAR0 */
    uint32_t mmio; /* BAR1 */
    uint32_t ram; /* BAR2 */
    bool use_mmio; /* registers through BAR1 instead of BAR0 */
    uint32_t bar_size[3]; /* as read back while sizing */
    unsigned polls; /* register reads spent polling (last command) */
};

/* Config space helpers (size 1, 2 or 4). */
uint32_t lg_cfg_rd(struct iq_sim *sim, uint32_t sbdf, uint32_t reg,
                   unsigned size);
void lg_cfg_wr(struct iq_sim *sim, uint32_t sbdf, uint32_t reg, uint32_t v,
               unsigned size);

/*
 * hvmloader's steps: check the ID, size each BAR (write all ones, read
 * back), assign io/mmio/ram, route INTA to `irq_line` (reg 0x3c), then
 * COMMAND = I/O | memory | bus master. 0 or -errno (-ENODEV: wrong ID).
 */
int lg_enumerate(struct lg *l, struct iq_sim *sim, uint32_t sbdf, uint16_t io,
                 uint32_t mmio, uint32_t ram, uint8_t irq_line);

uint32_t lg_rd(struct lg *l, unsigned reg, unsigned size);
void lg_wr(struct lg *l, unsigned reg, uint32_t v, unsigned size);
/* Write DSP bytewise (as SeaBIOS): the top byte starts SCRIPTS. */
void lg_start(struct lg *l, uint32_t dsp);
/* SCRIPTS RAM through BAR2 (MMIO). */
void lg_ram_write(struct lg *l, uint32_t off, const uint32_t *w, unsigned n);
uint32_t lg_ram_read32(struct lg *l, uint32_t off);
/* Guest RAM, little-endian words. */
void lg_put_words(struct lg *l, uint32_t gpa, const uint32_t *w, unsigned n);

/*
 * SeaBIOS's loop: read DSTAT, SIST0, SIST1 until a SIST bit (returns
 * -EIO) or DSTAT.SIR (returns 0); -ETIMEDOUT after `timeout_ms`.
 */
int lg_poll(struct lg *l, unsigned timeout_ms, uint8_t *dstat, uint8_t *sist0,
            uint8_t *sist1);

/*
 * One SeaBIOS-shaped command (select, IDENTIFY 0x80|lun + 0x08 with a
 * 1-byte MSG OUT move as SeaBIOS does, 16-byte CDB, disconnect branch,
 * data, STATUS, MSG IN, INT). `buf`/`len`: data (copied to/from guest RAM
 * at LG_DATA; len <= LG_DATA_MAX). *status and *msgin as the guest saw
 * them. 0, -EIO (a SCSI interrupt: SeaBIOS's failure), -ETIMEDOUT.
 */
int lg_seabios_cmd(struct lg *l, unsigned target, unsigned lun,
                   const uint8_t *cdb, unsigned cdb_len, bool dir_in,
                   void *buf, uint32_t len, uint8_t *status, uint8_t *msgin);

/*
 * sym53c8xx-shaped driver: init registers (SRST, SCID, interrupt enables),
 * load the SCRIPTS into on-chip RAM (after a RAM probe: pattern written and
 * read back through BAR2). 0 or -EIO (RAM probe failed).
 */
int lg_sym_init(struct lg *l);
/*
 * One tagged command (IDENTIFY 0xc0|lun, SIMPLE TAG `tag`) through DSA
 * tables, interrupt-driven: waits for the INTx edge, reads ISTAT/DSTAT.
 * *dsps is the final interrupt vector (0x42 done, 0xbad unexpected phase).
 * `reselected` reports whether the target disconnected and reselected.
 * 0, -EIO (SCSI interrupt, *sist = SIST0 | SIST1 << 8), -ETIMEDOUT.
 */
int lg_sym_cmd(struct lg *l, unsigned target, unsigned lun, uint8_t tag,
               const uint8_t *cdb, unsigned cdb_len, bool dir_in, void *buf,
               uint32_t len, uint8_t *status, uint32_t *dsps, unsigned *sist,
               bool *reselected);
/* sym's idle: SCRIPTS in WAIT RESELECT; SIGP leaves it (vector 0x51). */
void lg_sym_idle(struct lg *l);
/* Vector offsets in the sym program (for hostile tests). */
#define LG_SYM_IDLE 0x80u
#define LG_SYM_RAM_FREE 0x400u /* SCRIPTS RAM past the program */

#endif /* IQ_TESTS_SIM_LSI_GUEST_H */
