/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LSI 53C895A model internals shared by regs.c (register file, PCI
 * function, reset), bus.c (SCSI bus phases, messages, commands) and
 * scripts.c (the SCRIPTS processor).
 */
#ifndef IQ_BACKENDS_LSI_INTERNAL_H
#define IQ_BACKENDS_LSI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ioreqd/log.h"
#include "ioreqd/lsi.h"

/* Register offsets (53C895A data manual, chapter 5). */
#define R_SCNTL0 0x00
#define R_SCNTL1 0x01
#define R_SCNTL2 0x02
#define R_SCNTL3 0x03
#define R_SCID 0x04
#define R_SXFER 0x05
#define R_SDID 0x06
#define R_GPREG 0x07
#define R_SFBR 0x08
#define R_SOCL 0x09
#define R_SSID 0x0a
#define R_SBCL 0x0b
#define R_DSTAT 0x0c
#define R_SSTAT0 0x0d
#define R_SSTAT1 0x0e
#define R_SSTAT2 0x0f
#define R_DSA 0x10
#define R_ISTAT0 0x14
#define R_ISTAT1 0x15
#define R_MBOX0 0x16
#define R_MBOX1 0x17
#define R_CTEST0 0x18
#define R_CTEST1 0x19
#define R_CTEST2 0x1a
#define R_CTEST3 0x1b
#define R_TEMP 0x1c
#define R_DFIFO 0x20
#define R_CTEST4 0x21
#define R_CTEST5 0x22
#define R_CTEST6 0x23
#define R_DBC 0x24 /* 24 bits; DCMD at 0x27 */
#define R_DCMD 0x27
#define R_DNAD 0x28
#define R_DSP 0x2c
#define R_DSPS 0x30
#define R_SCRATCHA 0x34
#define R_DMODE 0x38
#define R_DIEN 0x39
#define R_SBR 0x3a
#define R_DCNTL 0x3b
#define R_ADDER 0x3c
#define R_SIEN0 0x40
#define R_SIEN1 0x41
#define R_SIST0 0x42
#define R_SIST1 0x43
#define R_STIME0 0x48
#define R_STIME1 0x49
#define R_STEST0 0x4c
#define R_STEST1 0x4d
#define R_STEST2 0x4e
#define R_STEST3 0x4f
#define R_SIDL 0x50
#define R_STEST4 0x52
#define R_SODL 0x54
#define R_CCNTL0 0x56
#define R_CCNTL1 0x57
#define R_SBDL 0x58
#define R_SCRATCHB 0x5c
#define R_PMJAD1 0xc0
#define R_PMJAD2 0xc4

/* DSTAT */
#define DSTAT_IID 0x01
#define DSTAT_SIR 0x04
#define DSTAT_SSI 0x08
#define DSTAT_ABRT 0x10
#define DSTAT_BF 0x20
#define DSTAT_DFE 0x80
/* SIST0 */
#define SIST0_PAR 0x01
#define SIST0_RST 0x02
#define SIST0_UDC 0x04
#define SIST0_SGE 0x08
#define SIST0_RSL 0x10
#define SIST0_SEL 0x20
#define SIST0_CMP 0x40
#define SIST0_MA 0x80
/* SSTAT0 */
#define SSTAT0_RST 0x02

/* SIST1 */
#define SIST1_HTH 0x01
#define SIST1_GEN 0x02
#define SIST1_STO 0x04
#define SIST1_SBMC 0x10
/* ISTAT0 */
#define ISTAT_DIP 0x01
#define ISTAT_SIP 0x02
#define ISTAT_INTF 0x04
#define ISTAT_CON 0x08
#define ISTAT_SEM 0x10
#define ISTAT_SIGP 0x20
#define ISTAT_SRST 0x40
#define ISTAT_ABRT 0x80
/* ISTAT1 */
#define ISTAT1_SRUN 0x02
/* SCNTL1 */
#define SCNTL1_RST 0x08
#define SCNTL1_CON 0x10
/* SOCL / SBCL signal bits */
#define SBCL_REQ 0x80
#define SBCL_ACK 0x40
#define SBCL_BSY 0x20
#define SBCL_SEL 0x10
#define SBCL_ATN 0x08
/* DMODE / DCNTL / CCNTL0 */
#define DMODE_MAN 0x01
#define DCNTL_STD 0x04
#define DCNTL_SSM 0x10
#define CCNTL0_ENPMJ 0x80
/* STEST1 clock doubler/quadrupler enable, STEST4 frequency lock */
#define STEST1_DBLEN 0x08
#define STEST4_LCKFRQ 0x20
/* SCID: respond to reselection */
#define SCID_RRE 0x40

/* SCSI phases as SSTAT1/SBCL show them (bits 2:0). */
enum lsi_phase {
    PH_DO = 0,
    PH_DI = 1,
    PH_CMD = 2,
    PH_ST = 3,
    PH_MO = 6,
    PH_MI = 7,
};

/* SCSI messages (SPI-5 / SAM). */
#define MSG_COMMAND_COMPLETE 0x00
#define MSG_EXTENDED 0x01
#define MSG_SAVE_DP 0x02
#define MSG_DISCONNECT 0x04
#define MSG_ABORT 0x06
#define MSG_REJECT 0x07
#define MSG_NOP 0x08
#define MSG_BUS_DEVICE_RESET 0x0c
#define MSG_ABORT_TAG 0x0d
#define MSG_CLEAR_QUEUE 0x0e
#define MSG_SIMPLE_TAG 0x20
#define MSG_HEAD_TAG 0x21
#define MSG_ORDERED_TAG 0x22
#define MSG_IDENTIFY 0x80
#define MSG_IDENTIFY_DISC 0x40

enum lsi_cmd_state {
    CMD_FREE = 0,
    CMD_DATA_OUT, /* collecting data-out from the initiator */
    CMD_RUNNING, /* submitted to the target */
    CMD_DONE, /* data-in ready / status ready */
};

struct iq_lsi;

struct lsi_cmd {
    struct iq_lsi *lsi;
    enum lsi_cmd_state state;
    unsigned target;
    unsigned lun;
    int tag; /* -1: untagged */
    bool aborted; /* completion frees it */
    bool disconnected; /* waiting to reselect once done */
    struct iq_scsi_task task;
    uint8_t *buf;
    uint32_t len; /* bytes of the data phase */
    uint32_t len_alloc; /* size of buf (counted in bounce_bytes) */
    uint32_t pos; /* bytes moved so far */
    struct iovec iov;
    /*
     * READ/WRITE larger than IQ_SCSI_MAX_XFER run as a series of READ(16)
     * / WRITE(16) sub-commands of at most that size through one bounded
     * buffer; the target keeps the bus between them.
     */
    bool split;
    bool split_first; /* the first sub-command has not been submitted */
    uint8_t split_op; /* READ(16) or WRITE(16) */
    uint8_t split_flags; /* CDB byte 1 (DPO, FUA) */
    uint8_t split_group;
    uint8_t split_control;
    uint32_t split_bs; /* logical block size */
    uint64_t split_lba; /* next sub-command's LBA */
    uint64_t split_left; /* blocks not yet in a sub-command */
};

/* What the target does when the MSG IN bytes queued are all read. */
enum lsi_mi_next {
    MI_NEXT_RESUME = 0, /* back to the command's phase (or CMD) */
    MI_NEXT_DISCONNECT, /* bus free, command keeps running */
    MI_NEXT_FREE, /* command complete: bus free, command freed */
};

/* Why the processor is not executing although ISTAT1.SRUN. */
enum lsi_wait {
    WAIT_NONE = 0,
    WAIT_REQ, /* target busy executing: no REQ yet */
    WAIT_RESELECT, /* Wait Reselect */
    WAIT_BUDGET, /* instruction budget spent; deferred work resumes */
};

struct iq_lsi {
    char name[32];
    struct iq_loop *loop;
    struct iq_mc *mc;
    struct iq_scsi_target *targets[IQ_LSI_MAX_TARGETS];
    struct iq_pci_dev *pci;
    unsigned budget;
    struct iq_ratelimit rl;
    bool unimp_ssm;
    bool unimp_target_mode;

    uint8_t r[256]; /* plain register storage */
    uint8_t ram[IQ_LSI_RAM_SIZE];
    bool carry;

    /* SCRIPTS processor */
    bool running; /* ISTAT1.SRUN */
    enum lsi_wait wait;
    bool in_run; /* re-entrancy guard */
    struct iq_loop_work work;
    uint32_t wait_alt; /* Wait Reselect alternate address */
    /*
     * A block move parked part-way (the target withholds REQ between two
     * sub-commands): re-executing the instruction at mv_dsp continues with
     * mv_count bytes at mv_addr.
     */
    bool mv_cont;
    uint32_t mv_dsp;
    uint32_t mv_insn;
    uint32_t mv_arg;
    uint32_t mv_addr;
    uint32_t mv_count;

    /* SCSI bus */
    uint64_t bus_gen; /* bumped on bus reset and bus free */
    bool connected;
    /*
     * A Select of an ID nobody answers: SCRIPTS go on (the chip has won
     * arbitration) until an instruction that needs the target's phase;
     * that one ends in the selection timeout (SIST1.STO) with DSP past it,
     * where Linux's sym53c8xx looks for it.
     */
    bool sel_timeout;
    bool atn;
    unsigned phase;
    unsigned sel_target;
    unsigned sel_lun;
    int sel_tag;
    bool disc_priv;
    struct lsi_cmd *cur; /* nexus, or NULL before the CDB */
    uint8_t msg_in[8];
    unsigned msg_in_len;
    unsigned msg_in_pos;
    enum lsi_mi_next mi_next;
    uint8_t last_msg_in;

    struct lsi_cmd cmds[IQ_LSI_MAX_CMDS];
    size_t bounce_bytes; /* sum of the commands' buffers */
    struct iq_lsi_stats stats;
};

/* regs.c */
uint8_t iq_lsi_reg_readb(struct iq_lsi *lsi, unsigned off);
void iq_lsi_reg_writeb(struct iq_lsi *lsi, unsigned off, uint8_t v);
uint32_t iq_lsi_get32(const struct iq_lsi *lsi, unsigned off);
void iq_lsi_set32(struct iq_lsi *lsi, unsigned off, uint32_t v);
void iq_lsi_update_irq(struct iq_lsi *lsi);
void iq_lsi_dma_irq(struct iq_lsi *lsi, uint8_t dstat);
void iq_lsi_scsi_irq(struct iq_lsi *lsi, uint8_t sist0, uint8_t sist1);
void iq_lsi_stop(struct iq_lsi *lsi);
/* Power-on register values, SCRIPTS stopped, SCSI bus reset. */
void iq_lsi_chip_reset(struct iq_lsi *lsi);

/* bus.c */
void iq_lsi_bus_reset(struct iq_lsi *lsi);
int iq_lsi_bus_select(struct iq_lsi *lsi, unsigned id, bool atn);
int iq_lsi_bus_reselect(struct iq_lsi *lsi);
bool iq_lsi_bus_reselect_pending(const struct iq_lsi *lsi);
void iq_lsi_bus_disconnect(struct iq_lsi *lsi);
bool iq_lsi_bus_busy(const struct iq_lsi *lsi);
void iq_lsi_bus_set_atn(struct iq_lsi *lsi, bool on);
/*
 * One block move in `phase` of `count` bytes at `addr`. Returns the bytes
 * the target took/gave (the rest is a phase mismatch), or -EFAULT on a
 * bus fault.
 */
int64_t iq_lsi_bus_move(struct iq_lsi *lsi, unsigned phase, uint32_t addr,
                        uint32_t count);

/* scripts.c */
void iq_lsi_scripts_run(struct iq_lsi *lsi);
void iq_lsi_scripts_start(struct iq_lsi *lsi);
void iq_lsi_scripts_kick(struct iq_lsi *lsi);
/* DMA as the SCRIPTS processor sees it (own RAM/registers, or guest RAM). */
int iq_lsi_dma_read(struct iq_lsi *lsi, uint32_t addr, void *buf, size_t len);
int iq_lsi_dma_write(struct iq_lsi *lsi, uint32_t addr, const void *buf,
                     size_t len);

#endif /* IQ_BACKENDS_LSI_INTERNAL_H */
