/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulated guest's LSI 53C895A driver (see lsi-guest.h). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lsi-guest.h"

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint32_t
lg_cfg_rd(struct iq_sim *sim, uint32_t sbdf, uint32_t reg, unsigned size)
{
    uint64_t v = 0;

    if (iq_sim_pci_cfg_read(sim, 0, sbdf, reg, size, &v) < 0) {
        return 0xffffffffu;
    }
    return (uint32_t)v;
}

void
lg_cfg_wr(struct iq_sim *sim, uint32_t sbdf, uint32_t reg, uint32_t v,
          unsigned size)
{
    (void)iq_sim_pci_cfg_write(sim, 0, sbdf, reg, size, v);
}

int
lg_enumerate(struct lg *l, struct iq_sim *sim, uint32_t sbdf, uint16_t io,
             uint32_t mmio, uint32_t ram, uint8_t irq_line)
{
    memset(l, 0, sizeof(*l));
    l->sim = sim;
    l->sbdf = sbdf;
    if (lg_cfg_rd(sim, sbdf, 0, 4) != 0x00121000u) {
        return -ENODEV;
    }
    lg_cfg_wr(sim, sbdf, 0x04, 0, 2);
    for (unsigned i = 0; i < 3; i++) {
        lg_cfg_wr(sim, sbdf, 0x10 + 4 * i, 0xffffffffu, 4);
        l->bar_size[i] = lg_cfg_rd(sim, sbdf, 0x10 + 4 * i, 4);
    }
    /* hvmloader assigns the largest BAR first; order is irrelevant here. */
    lg_cfg_wr(sim, sbdf, 0x18, ram, 4);
    lg_cfg_wr(sim, sbdf, 0x14, mmio, 4);
    lg_cfg_wr(sim, sbdf, 0x10, io | 1u, 4);
    lg_cfg_wr(sim, sbdf, 0x3c, irq_line, 1);
    lg_cfg_wr(sim, sbdf, 0x04, 0x0007, 2);
    l->io = io;
    l->mmio = mmio;
    l->ram = ram;
    return 0;
}

uint32_t
lg_rd(struct lg *l, unsigned reg, unsigned size)
{
    uint64_t v = 0xffffffffu;
    int rc;

    if (l->use_mmio) {
        rc = iq_sim_mmio_read(l->sim, l->vcpu, l->mmio + reg, size, &v);
    } else {
        rc = iq_sim_pio_read(l->sim, l->vcpu, (uint16_t)(l->io + reg), size,
                             &v);
    }
    return rc < 0 ? 0xffffffffu : (uint32_t)v;
}

void
lg_wr(struct lg *l, unsigned reg, uint32_t v, unsigned size)
{
    if (l->use_mmio) {
        (void)iq_sim_mmio_write(l->sim, l->vcpu, l->mmio + reg, size, v);
    } else {
        (void)iq_sim_pio_write(l->sim, l->vcpu, (uint16_t)(l->io + reg), size,
                               v);
    }
}

void
lg_start(struct lg *l, uint32_t dsp)
{
    for (unsigned i = 0; i < 4; i++) {
        lg_wr(l, LG_DSP + i, (dsp >> (8 * i)) & 0xffu, 1);
    }
}

void
lg_ram_write(struct lg *l, uint32_t off, const uint32_t *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        (void)iq_sim_mmio_write(l->sim, l->vcpu, l->ram + off + 4 * i, 4,
                                w[i]);
    }
}

uint32_t
lg_ram_read32(struct lg *l, uint32_t off)
{
    uint64_t v = 0;

    (void)iq_sim_mmio_read(l->sim, l->vcpu, l->ram + off, 4, &v);
    return (uint32_t)v;
}

void
lg_put_words(struct lg *l, uint32_t gpa, const uint32_t *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t b[4] = {(uint8_t)w[i], (uint8_t)(w[i] >> 8),
                        (uint8_t)(w[i] >> 16), (uint8_t)(w[i] >> 24)};

        (void)iq_sim_ram_write(l->sim, gpa + 4 * i, b, 4);
    }
}

int
lg_poll(struct lg *l, unsigned timeout_ms, uint8_t *dstat, uint8_t *sist0,
        uint8_t *sist1)
{
    uint64_t end = now_ms() + timeout_ms;
    unsigned spins = 0;

    l->polls = 0;
    for (;;) {
        uint8_t d = (uint8_t)lg_rd(l, LG_DSTAT, 1);
        uint8_t s0 = (uint8_t)lg_rd(l, LG_SIST0, 1);
        uint8_t s1 = (uint8_t)lg_rd(l, LG_SIST1, 1);

        l->polls++;
        if (dstat != NULL) {
            *dstat = d;
        }
        if (sist0 != NULL) {
            *sist0 = s0;
        }
        if (sist1 != NULL) {
            *sist1 = s1;
        }
        if (s0 != 0 || s1 != 0) {
            return -EIO;
        }
        if (d & 0x04) {
            return 0;
        }
        if (++spins % 64 == 0 && now_ms() > end) {
            return -ETIMEDOUT;
        }
        if (spins > 16) {
            usleep(5);
        }
    }
}

int
lg_seabios_cmd(struct lg *l, unsigned target, unsigned lun,
               const uint8_t *cdb, unsigned cdb_len, bool dir_in, void *buf,
               uint32_t len, uint8_t *status, uint8_t *msgin)
{
    uint8_t mo[2] = {(uint8_t)(0x80u | lun), 0x08};
    uint8_t c[16] = {0};
    uint8_t ff = 0xff;
    uint32_t s[22];
    unsigned n = 0;
    int rc;

    if (len > LG_DATA_MAX || cdb_len > 16) {
        return -EINVAL;
    }
    memcpy(c, cdb, cdb_len);
    (void)iq_sim_ram_write(l->sim, LG_MSGOUT, mo, 2);
    (void)iq_sim_ram_write(l->sim, LG_CDB, c, 16);
    (void)iq_sim_ram_write(l->sim, LG_STATUS, &ff, 1);
    (void)iq_sim_ram_write(l->sim, LG_MSGIN, &ff, 1);
    if (!dir_in && len != 0) {
        (void)iq_sim_ram_write(l->sim, LG_DATA, buf, len);
    }
    s[n++] = 0x40000000u | target << 16;
    s[n++] = 0;
    s[n++] = 0x06000001u;
    s[n++] = LG_MSGOUT;
    s[n++] = 0x02000010u;
    s[n++] = LG_CDB;
    s[n++] = 0x87820000u;
    s[n++] = 0x18;
    s[n++] = 0x07000002u;
    s[n++] = LG_MSGTMP;
    s[n++] = 0x50000000u;
    s[n++] = 0;
    s[n++] = 0x07000002u;
    s[n++] = LG_MSGTMP;
    s[n++] = (dir_in ? 0x01000000u : 0) | len;
    s[n++] = len != 0 ? LG_DATA : 0;
    s[n++] = 0x03000001u;
    s[n++] = LG_STATUS;
    s[n++] = 0x07000001u;
    s[n++] = LG_MSGIN;
    s[n++] = 0x98080000u;
    s[n++] = 0;
    lg_put_words(l, LG_SCRIPT, s, n);
    lg_start(l, LG_SCRIPT);
    rc = lg_poll(l, 10000, NULL, NULL, NULL);
    (void)iq_sim_ram_read(l->sim, LG_STATUS, status, 1);
    (void)iq_sim_ram_read(l->sim, LG_MSGIN, msgin, 1);
    if (rc == 0 && dir_in && len != 0) {
        (void)iq_sim_ram_read(l->sim, LG_DATA, buf, len);
    }
    return rc;
}

/* ---- sym53c8xx-shaped ---------------------------------------------------- */

/* DSA table layout (offsets from LG_TABLE). */
#define T_MSGOUT 0x00
#define T_CMD 0x08
#define T_DATA 0x10
#define T_SELECT 0x18
#define MSGBUF (LG_AREA + 0x1300u)
#define STATBUF (LG_AREA + 0x1308u)

/* Program offsets inside SCRIPTS RAM. */
#define P_DISPATCH 0x18u
#define P_MSGIN 0x48u
#define P_DISC 0x70u
#define P_DATAIN 0xa0u
#define P_DATAOUT 0xb0u
#define P_STATUS 0xc0u
#define P_CCOMP 0xd0u
#define P_SIGP 0xf0u

int
lg_sym_init(struct lg *l)
{
    uint32_t ram = l->ram;
    uint32_t p[64];
    unsigned n = 0;

#define EMIT(a, b) \
    do { \
        p[n++] = (a); \
        p[n++] = (b); \
    } while (0)
#define PAD_TO(off) \
    do { \
        if (n * 4u > (off)) { \
            return -EINVAL; /* layout error in this file */ \
        } \
        while (n * 4u < (off)) { \
            EMIT(0x80000000u, 0); /* never-taken jump: NOP */ \
        } \
    } while (0)

    /* sym_init: soft reset, then the registers it programs. */
    lg_wr(l, LG_ISTAT, 0x40, 1);
    lg_wr(l, LG_ISTAT, 0x00, 1);
    lg_wr(l, LG_SCID, 0x47, 1); /* RRE | ID 7 */
    lg_wr(l, 0x4a, 0x80, 1); /* RESPID0: ID 7 */
    lg_wr(l, 0x48, 0x0c, 1); /* STIME0: selection timeout */
    lg_wr(l, LG_DIEN, 0x7d, 1); /* MDPE BF ABRT SSI SIR IID */
    lg_wr(l, LG_SIEN0, 0x8f, 1); /* MA SGE UDC RST PAR */
    lg_wr(l, LG_SIEN1, 0x04, 1); /* STO */

    /* The on-chip RAM probe: a pattern in, the same pattern out. */
    for (uint32_t off = 0; off < 0x2000; off += 0x400) {
        uint32_t w = 0xa5a50000u | off;

        lg_ram_write(l, off, &w, 1);
    }
    for (uint32_t off = 0; off < 0x2000; off += 0x400) {
        if (lg_ram_read32(l, off) != (0xa5a50000u | off)) {
            return -EIO;
        }
    }

    EMIT(0x43000000u | T_SELECT, 0); /* SELECT ATN from table */
    EMIT(0x1e000000u, T_MSGOUT); /* MOVE TBL MSG OUT */
    EMIT(0x1a000000u, T_CMD); /* MOVE TBL COMMAND */
    /* dispatch */
    EMIT(0x870b0000u, ram + P_MSGIN); /* JUMP WHEN MSG IN */
    EMIT(0x810b0000u, ram + P_DATAIN); /* JUMP WHEN DATA IN */
    EMIT(0x800b0000u, ram + P_DATAOUT); /* JUMP WHEN DATA OUT */
    EMIT(0x830b0000u, ram + P_STATUS); /* JUMP WHEN STATUS */
    EMIT(0x98080000u, 0xbad); /* unexpected phase */
    PAD_TO(P_MSGIN);
    EMIT(0x0f000001u, MSGBUF); /* MOVE 1 WHEN MSG IN */
    EMIT(0x800c0004u, ram + P_DISC); /* JUMP IF SFBR == DISCONNECT */
    EMIT(0x800c0000u, ram + P_CCOMP); /* JUMP IF SFBR == COMMAND COMPLETE */
    EMIT(0x60000040u, 0); /* CLEAR ACK */
    EMIT(0x80080000u, ram + P_DISPATCH);
    PAD_TO(P_DISC);
    EMIT(0x60000040u, 0); /* CLEAR ACK */
    EMIT(0x48000000u, 0); /* WAIT DISCONNECT */
    /* idle (LG_SYM_IDLE): WAIT RESELECT, SIGP goes to P_SIGP */
    EMIT(0x50000000u, ram + P_SIGP);
    EMIT(0x7834ff00u, 0); /* SCRATCHA0 = 0xff: "reselected" */
    EMIT(0x80080000u, ram + P_DISPATCH);
    PAD_TO(P_DATAIN);
    EMIT(0x19000000u, T_DATA); /* MOVE TBL DATA IN */
    EMIT(0x80080000u, ram + P_DISPATCH);
    PAD_TO(P_DATAOUT);
    EMIT(0x18000000u, T_DATA); /* MOVE TBL DATA OUT */
    EMIT(0x80080000u, ram + P_DISPATCH);
    PAD_TO(P_STATUS);
    EMIT(0x0b000001u, STATBUF); /* MOVE 1 WHEN STATUS */
    EMIT(0x80080000u, ram + P_DISPATCH);
    PAD_TO(P_CCOMP);
    EMIT(0x60000040u, 0); /* CLEAR ACK */
    EMIT(0x48000000u, 0); /* WAIT DISCONNECT */
    EMIT(0x98080000u, 0x42);
    PAD_TO(P_SIGP);
    EMIT(0x98080000u, 0x51);
    lg_ram_write(l, 0, p, n);
#undef EMIT
#undef PAD_TO
    return 0;
}

static int
wait_intx(struct lg *l, uint64_t after)
{
    uint32_t key = IQ_SIM_INTX_KEY(l->sbdf, 0);

    return iq_sim_irq_wait(l->sim, key, after, 10000);
}

int
lg_sym_cmd(struct lg *l, unsigned target, unsigned lun, uint8_t tag,
           const uint8_t *cdb, unsigned cdb_len, bool dir_in, void *buf,
           uint32_t len, uint8_t *status, uint32_t *dsps, unsigned *sist,
           bool *reselected)
{
    uint8_t mo[3] = {(uint8_t)(0xc0u | lun), 0x20, tag};
    uint32_t t[8];
    uint64_t edges = iq_sim_irq_edges(l->sim, IQ_SIM_INTX_KEY(l->sbdf, 0));
    uint8_t istat;
    uint8_t ff = 0xff;
    int rc;

    if (len > LG_DATA_MAX || cdb_len > 16) {
        return -EINVAL;
    }
    (void)iq_sim_ram_write(l->sim, LG_MSGOUT, mo, 3);
    (void)iq_sim_ram_write(l->sim, LG_CDB, cdb, cdb_len);
    (void)iq_sim_ram_write(l->sim, STATBUF, &ff, 1);
    if (!dir_in && len != 0) {
        (void)iq_sim_ram_write(l->sim, LG_DATA, buf, len);
    }
    t[0] = 3;
    t[1] = LG_MSGOUT;
    t[2] = cdb_len;
    t[3] = LG_CDB;
    t[4] = len;
    t[5] = LG_DATA;
    t[6] = target << 16; /* sel_id in bits 19:16 */
    t[7] = 0;
    lg_put_words(l, LG_TABLE, t, 8);
    lg_wr(l, LG_DSA, LG_TABLE, 4);
    lg_wr(l, LG_SCRATCHA, 0, 1);
    lg_wr(l, LG_DSP, l->ram, 4);
    rc = wait_intx(l, edges);
    if (rc < 0) {
        return rc;
    }
    istat = (uint8_t)lg_rd(l, LG_ISTAT, 1);
    *sist = 0;
    *dsps = 0;
    if (istat & 0x02) {
        *sist = lg_rd(l, LG_SIST0, 1) | lg_rd(l, LG_SIST1, 1) << 8;
        return -EIO;
    }
    if (!(istat & 0x01) || !(lg_rd(l, LG_DSTAT, 1) & 0x04)) {
        return -EPROTO;
    }
    *dsps = lg_rd(l, LG_DSPS, 4);
    *reselected = lg_rd(l, LG_SCRATCHA, 1) == 0xff;
    (void)iq_sim_ram_read(l->sim, STATBUF, status, 1);
    if (dir_in && len != 0) {
        (void)iq_sim_ram_read(l->sim, LG_DATA, buf, len);
    }
    return 0;
}

void
lg_sym_idle(struct lg *l)
{
    lg_wr(l, LG_DSP, l->ram + LG_SYM_IDLE, 4);
}
