/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LSI 53C895A unit tests: register semantics and each SCRIPTS instruction
 * class over flat guest RAM, a real mapcache and mem-storage SCSI targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ioreqd/pci.h"
#include "lsi-harness.h"

/* Guest RAM layout used by the tests. */
#define SCR 0x1000u /* SCRIPTS */
#define MSGOUT 0x3000u
#define CDB 0x3100u
#define STATUS 0x3200u
#define MSGIN 0x3210u
#define MSGTMP 0x3220u
#define TABLE 0x3400u /* DSA tables */
#define BUF 0x8000u
#define BUF2 0x20000u

#define REG_SCNTL1 0x01
#define REG_DSTAT 0x0c
#define REG_SSTAT0 0x0d
#define REG_DSA 0x10
#define REG_ISTAT 0x14
#define REG_ISTAT1 0x15
#define REG_CTEST2 0x1a
#define REG_TEMP 0x1c
#define REG_DBC 0x24
#define REG_DNAD 0x28
#define REG_DSP 0x2c
#define REG_DSPS 0x30
#define REG_SCRATCHA 0x34
#define REG_DIEN 0x39
#define REG_SIEN0 0x40
#define REG_SIST0 0x42
#define REG_SIST1 0x43
#define REG_CCNTL0 0x56
#define REG_SCRATCHB 0x5c
#define REG_PMJAD2 0xc4

static uint8_t seabios_cmd(struct lh *h, unsigned target, uint8_t identify,
                           const uint8_t *cdb, unsigned cdb_len, bool dir_in,
                           uint32_t len);

static int
setup(void **state)
{
    static struct lh h;
    static const uint8_t tur[6] = {0};

    if (lh_init(&h, true, 0) < 0) {
        return -1;
    }
    lh_enable(&h);
    /* Consume each LUN's power-on unit attention (CHECK CONDITION). */
    if (seabios_cmd(&h, 0, 0x80, tur, 6, false, 0) != 0x84 ||
        h.ram[STATUS] != 0x02 ||
        seabios_cmd(&h, 0, 0x81, tur, 6, false, 0) != 0x84 ||
        h.ram[STATUS] != 0x02 ||
        seabios_cmd(&h, 2, 0x80, tur, 6, false, 0) != 0x84 ||
        h.ram[STATUS] != 0x02) {
        lh_fini(&h);
        return -1;
    }
    *state = &h;
    return 0;
}

static int
teardown(void **state)
{
    lh_fini(*state);
    return 0;
}

/* Run a SeaBIOS-shaped command; returns DSTAT (read after completion). */
static uint8_t
seabios_cmd(struct lh *h, unsigned target, uint8_t identify, const uint8_t *cdb,
            unsigned cdb_len, bool dir_in, uint32_t len)
{
    struct lh_prog p = {0};

    memset(h->ram + CDB, 0, 16);
    memcpy(h->ram + CDB, cdb, cdb_len);
    h->ram[MSGOUT] = identify;
    h->ram[MSGOUT + 1] = 0x08;
    h->ram[STATUS] = 0xff;
    h->ram[MSGIN] = 0xff;
    lh_seabios_prog(&p, target, MSGOUT, 1, CDB, dir_in, len, BUF, STATUS, MSGIN,
                    MSGTMP);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    lh_settle(h);
    return (uint8_t)lh_rd(h, REG_DSTAT, 1);
}

/* ---- PCI identity ------------------------------------------------------- */

static void
test_pci_identity(void **state)
{
    struct lh *h = *state;
    struct iq_pci_dev *pci = iq_lsi_pci(h->lsi);

    assert_int_equal(iq_pci_cfg_read(pci, 0, 4), 0x00121000);
    assert_int_equal(iq_pci_cfg_read(pci, 0x08, 4) >> 8, 0x010000);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_INT_PIN, 1), 1);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_SUBSYS_ID, 2), 0x1000);
    /* Sizing: write all ones, read back the size masks. */
    iq_pci_cfg_write(pci, IQ_PCI_COMMAND, 0, 2);
    for (unsigned i = 0; i < 3; i++) {
        iq_pci_cfg_write(pci, IQ_PCI_BAR0 + 4 * i, 0xffffffffu, 4);
    }
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_BAR0, 4), 0xffffff01u);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_BAR0 + 4, 4), 0xfffffc00u);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_BAR0 + 8, 4), 0xffffe000u);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_BAR0 + 12, 4), 0);
    lh_enable(h);
    assert_int_equal(h->bar_addr[0], LH_IO_BASE);
    assert_int_equal(h->bar_addr[1], LH_MMIO_BASE);
    assert_int_equal(h->bar_addr[2], LH_RAM_BASE);
    /* BAR1 decodes addr & 0xff: offset 0x134 is SCRATCHA. */
    h->bar_ops[1]->write(h->bar_opaque[1], 0x134, 0x11223344, 4);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0x11223344);
    assert_int_equal(h->bar_ops[0]->read(h->bar_opaque[0], REG_SCRATCHA, 2),
                     0x3344);
    /* SCRIPTS RAM: any width. */
    h->bar_ops[2]->write(h->bar_opaque[2], 0x1ff8, 0x0102030405060708ull, 8);
    assert_int_equal(h->bar_ops[2]->read(h->bar_opaque[2], 0x1ffc, 2), 0x0304);
}

/* ---- registers ---------------------------------------------------------- */

static void
test_regs(void **state)
{
    struct lh *h = *state;

    /* DSTAT: DFE always reads 1. */
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x80);
    /* Scratch registers read back; DSTAT/SIST are read-only. */
    lh_wr(h, REG_SCRATCHB, 0xdeadbeef, 4);
    assert_int_equal(lh_rd(h, REG_SCRATCHB, 4), 0xdeadbeef);
    lh_wr(h, REG_DSTAT, 0xff, 1);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x80);
    /* SCSI bus reset: SIST0.RST, cleared on read; ISTAT.SIP meanwhile. */
    assert_int_equal(lh_rd(h, REG_SSTAT0, 1), 0x00);
    lh_wr(h, 0x01, 0x08, 1);
    /* SSTAT0.RST shows the RST signal while SCNTL1.RST drives it. */
    assert_int_equal(lh_rd(h, REG_SSTAT0, 1), 0x02);
    lh_wr(h, 0x01, 0x00, 1);
    assert_int_equal(lh_rd(h, REG_SSTAT0, 1), 0x00);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x02);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x02);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x00);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x00);
    /* SIGP: set through ISTAT, reported and cleared by CTEST2. */
    lh_wr(h, REG_ISTAT, 0x20, 1);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x20);
    assert_int_equal(lh_rd(h, REG_CTEST2, 1), 0x48);
    assert_int_equal(lh_rd(h, REG_CTEST2, 1), 0x08);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x00);
    /* General purpose timer expires at once: SIST1.GEN. */
    lh_wr(h, 0x49, 0x01, 1);
    assert_int_equal(lh_rd(h, REG_SIST1, 1), 0x02);
    assert_int_equal(lh_rd(h, REG_SIST1, 1), 0x00);
    /* Chip reset clears the register file. */
    lh_wr(h, REG_ISTAT, 0x40, 1);
    assert_int_equal(lh_rd(h, REG_SCRATCHB, 4), 0);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0);
    assert_int_equal(lh_rd(h, 0x00, 1), 0xc0);
}

/* ---- SeaBIOS-shaped commands ------------------------------------------- */

static void
test_seabios_inquiry(void **state)
{
    struct lh *h = *state;
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};

    memset(h->ram + BUF, 0xee, 64);
    assert_int_equal(seabios_cmd(h, 0, 0x80, inq, 6, true, 36), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    assert_int_equal(h->ram[MSGIN], 0);
    assert_int_equal(h->ram[BUF] & 0x1f, 0); /* direct-access block device */
    assert_int_equal(h->ram[BUF + 36], 0xee);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0);
    assert_int_equal(lh_rd(h, REG_SIST1, 1), 0);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0); /* stopped */
    /* DSPS holds the INT vector. */
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0);
}

static void
test_seabios_rw(void **state)
{
    struct lh *h = *state;
    static const uint8_t cap[10] = {0x25};
    uint8_t wr[10] = {0x2a, 0, 0, 0, 0, 3, 0, 0, 2, 0};
    uint8_t rd[10] = {0x28, 0, 0, 0, 0, 3, 0, 0, 2, 0};

    assert_int_equal(seabios_cmd(h, 0, 0x80, cap, 10, true, 8), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    /* Last LBA of 256 KiB of 512-byte blocks, block length 512. */
    assert_int_equal(h->ram[BUF + 2] << 8 | h->ram[BUF + 3], 511);
    assert_int_equal(h->ram[BUF + 6] << 8 | h->ram[BUF + 7], 512);

    for (unsigned i = 0; i < 1024; i++) {
        h->ram[BUF + i] = (uint8_t)(i * 7 + 1);
    }
    assert_int_equal(seabios_cmd(h, 0, 0x80, wr, 10, false, 1024), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    memset(h->ram + BUF, 0, 1024);
    assert_int_equal(seabios_cmd(h, 0, 0x80, rd, 10, true, 1024), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    for (unsigned i = 0; i < 1024; i++) {
        assert_int_equal(h->ram[BUF + i], (uint8_t)(i * 7 + 1));
    }
    /* LUN 1 of target 0 is the second disk: it reads zeroes there. */
    memset(h->ram + BUF, 0x55, 1024);
    assert_int_equal(seabios_cmd(h, 0, 0x81, rd, 10, true, 1024), 0x84);
    assert_int_equal(h->ram[BUF], 0);
    /* No data: TEST UNIT READY (two zero words skipped). */
    {
        static const uint8_t tur[6] = {0};

        assert_int_equal(seabios_cmd(h, 0, 0x80, tur, 6, false, 0), 0x84);
        assert_int_equal(h->ram[STATUS], 0);
        assert_int_equal(h->ram[MSGIN], 0);
    }
}

/*
 * A SCSI bus reset (SCNTL1.RST) reaches every target: the next command of
 * each LUN gets CHECK CONDITION with the POWER ON / RESET unit attention
 * (29h), INQUIRY excepted, as a real disk does.
 */
static void
test_bus_reset_unit_attention(void **state)
{
    struct lh *h = *state;
    static const uint8_t tur[6] = {0};
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    static const uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};
    struct iq_lsi_stats st;

    /* Whatever power-on attention there was is consumed. */
    (void)seabios_cmd(h, 0, 0x80, tur, 6, false, 0);
    (void)seabios_cmd(h, 2, 0x80, tur, 6, false, 0);
    assert_int_equal(seabios_cmd(h, 0, 0x80, tur, 6, false, 0), 0x84);
    assert_int_equal(h->ram[STATUS], 0);

    lh_wr(h, REG_SCNTL1, 0x08, 1); /* assert RST */
    lh_wr(h, REG_SCNTL1, 0x00, 1);
    assert_int_equal(lh_rd(h, REG_SIST0, 1) & 0x02, 0x02);
    iq_lsi_get_stats(h->lsi, &st);
    assert_int_equal(st.bus_resets, 1);

    assert_int_equal(seabios_cmd(h, 0, 0x80, inq, 6, true, 36), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    assert_int_equal(seabios_cmd(h, 0, 0x80, tur, 6, false, 0), 0x84);
    assert_int_equal(h->ram[STATUS], 2);
    /* Target 2 too; its sense says 29h (power on, reset). */
    assert_int_equal(seabios_cmd(h, 2, 0x80, tur, 6, false, 0), 0x84);
    assert_int_equal(h->ram[STATUS], 2);
    assert_int_equal(seabios_cmd(h, 2, 0x80, rs, 6, true, 18), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    assert_int_equal(h->ram[BUF + 2] & 0x0f, 0x06);
    assert_int_equal(h->ram[BUF + 12], 0x29);
    /* Reported once. */
    assert_int_equal(seabios_cmd(h, 0, 0x80, tur, 6, false, 0), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
}

/* With COMMAND.MASTER clear the chip reaches no guest RAM: bus fault. */
static void
test_no_bus_master(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    uint32_t cmd = iq_pci_cfg_read(iq_lsi_pci(h->lsi), 0x04, 2);

    lh_put32(h, TABLE, 0x5a5a5a5au);
    lh_wr(h, REG_SCRATCHA, 0, 4);
    /* From SCRIPTS RAM (on-chip, no PCI master needed): LOAD from RAM. */
    lh_emit(&p, 0xe1340004u, TABLE);
    lh_emit(&p, 0x98080000u, 7);
    lh_load_ram(h, 0, &p);
    iq_pci_cfg_write(iq_lsi_pci(h->lsi), 0x04, cmd & ~0x04u, 2);
    lh_start(h, LH_RAM_BASE);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0xa0); /* DFE | BF */
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0);
    /* Mastering back on: the same SCRIPTS load the word. */
    iq_pci_cfg_write(iq_lsi_pci(h->lsi), 0x04, cmd, 2);
    lh_start(h, LH_RAM_BASE);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0x5a5a5a5au);
}

static void
test_select_timeout(void **state)
{
    struct lh *h = *state;
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};

    assert_int_equal(seabios_cmd(h, 3, 0x80, inq, 6, true, 36), 0x80);
    assert_int_equal(lh_rd(h, REG_SIST1, 1), 0x04);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0);
    /* The timeout ends the MSG OUT move that follows the Select. */
    assert_int_equal(lh_rd(h, REG_DSP, 4), SCR + 16);
    assert_int_equal(h->ram[STATUS], 0xff);
}

/*
 * sym53c8xx's selection: after SELECT ATN the processor goes on loading
 * registers until its first phase test (INT IFFALSE WHEN MSG_OUT); the
 * timeout ends that instruction, DSP past it. The driver recognises a
 * selection timeout only by that DSP and resets the bus otherwise.
 */
static void
test_select_timeout_sym(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    struct iq_lsi_stats st;

    lh_put32(h, TABLE, 0xa5a5a5a5u);
    lh_wr(h, REG_SCRATCHA, 0, 4);
    lh_emit(&p, 0x41050000u, 0x9000); /* SELECT ATN 5, alt 0x9000 */
    lh_emit(&p, 0xe1340004u, TABLE); /* LOAD SCRATCHA, 4, TABLE */
    lh_emit(&p, 0x9e030000u, 0x42); /* INT 0x42 IFFALSE WHEN MSG_OUT */
    lh_emit(&p, 0x98080000u, 0x43); /* INT 0x43 (never reached) */
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1) & 0x03, 0x02); /* SIP only */
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0);
    assert_int_equal(lh_rd(h, REG_SIST1, 1), 0x04);
    assert_int_equal(lh_rd(h, REG_DSP, 4), SCR + 24);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0xa5a5a5a5u);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1) & 0x02, 0); /* not running */
    iq_lsi_get_stats(h->lsi, &st);
    assert_int_equal(st.sel_timeouts, 1);
    assert_int_equal(st.bus_resets, 0);

    /* SCRIPTS that halt before any phase test: SIR, and the STO too. */
    p.n = 0;
    lh_emit(&p, 0x41050000u, 0x9000); /* SELECT ATN 5 */
    lh_emit(&p, 0x98080000u, 0x44); /* INT 0x44 */
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1) & 0x03, 0x03);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1) & 0x04, 0x04);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x44);
    assert_int_equal(lh_rd(h, REG_SIST1, 1), 0x04);
    /* A present target is still selected normally afterwards. */
    {
        static const uint8_t tur[6] = {0};

        assert_int_equal(seabios_cmd(h, 0, 0x80, tur, 6, false, 0), 0x84);
        assert_int_equal(lh_rd(h, REG_SIST1, 1), 0);
    }
}

static void
test_missing_lun(void **state)
{
    struct lh *h = *state;
    static const uint8_t tur[6] = {0};

    /* Target 2 has LUN 0 only: CHECK CONDITION on LUN 5. */
    assert_int_equal(seabios_cmd(h, 2, 0x85, tur, 6, false, 0), 0x84);
    assert_int_equal(h->ram[STATUS], 0x02);
}

static void
test_phase_mismatch(void **state)
{
    struct lh *h = *state;
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};

    /* Ask for 100 bytes of data while the command gives 36. */
    assert_int_equal(seabios_cmd(h, 0, 0x80, inq, 6, true, 100), 0x80);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x80);
    assert_int_equal(lh_rd(h, REG_DBC, 4) & 0xffffff, 64);
    assert_int_equal(lh_rd(h, REG_DNAD, 4), BUF + 36);
    assert_int_equal(h->ram[STATUS], 0xff);
}

static void
test_phase_jump(void **state)
{
    struct lh *h = *state;
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    struct lh_prog p = {0};

    /* Same mismatch with CCNTL0.ENPMJ: jump through PMJAD2 instead. */
    p.n = 0;
    lh_emit(&p, 0x98080000u, 0x77);
    lh_load(h, 0x5000, &p);
    lh_wr(h, REG_CCNTL0, 0x80, 1);
    lh_wr(h, REG_PMJAD2, 0x5000, 4);
    assert_int_equal(seabios_cmd(h, 0, 0x80, inq, 6, true, 100), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x77);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0);
    lh_wr(h, REG_CCNTL0, 0, 1);
}

/* ---- instruction classes ------------------------------------------------ */

static void
test_illegal(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* Transfer control opcode 4 is reserved. */
    lh_emit(&p, 0xa0080000u, 0);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x81);
    assert_int_equal(lh_rd(h, REG_DSP, 4), SCR + 8);
    /* A misaligned DSP. */
    lh_start(h, SCR + 2);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x81);
    /* A block move with both indirect bits. */
    p.n = 0;
    lh_emit(&p, 0x31000010u, 0);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x81);
    /* Load of 0 bytes. */
    p.n = 0;
    lh_emit(&p, 0xe1340000u, BUF);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x81);
}

static void
test_bus_fault(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* Fetch from an address that is neither RAM nor the chip. */
    lh_start(h, 0x40000000u);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0xa0);
    /* A table-indirect move whose table is outside guest RAM. */
    lh_emit(&p, 0x40000000u, 0);
    lh_emit(&p, 0x16000000u, 0x10);
    lh_load(h, SCR, &p);
    lh_wr(h, REG_DSA, 0x7fff0000u, 4);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0xa0);
    assert_int_equal(lh_rd(h, REG_DSP, 4), SCR + 16);
    /* Reset the bus (the target stays selected otherwise). */
    lh_wr(h, 0x01, 0x08, 1);
    lh_wr(h, 0x01, 0x00, 1);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x02);
    /* Memory move into a hole. */
    p.n = 0;
    lh_emit3(&p, 0xc0000010u, BUF, 0x7ff00000u);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0xa0);
    /* A range wrapping past 4 GiB. */
    p.n = 0;
    lh_emit3(&p, 0xc0000010u, 0xfffffff8u, BUF);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0xa0);
}

static void
test_register_ops(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* SCRATCHA0 = 0xf0; += 0x20 (carry); SFBR = SCRATCHA0; SCRATCHA1 =
     * SFBR | 0x01; SCRATCHA2 = 0x81 << 1 through carry; jump if carry. */
    lh_emit(&p, 0x7834f000u, 0); /* MOV 0xf0 -> SCRATCHA0 */
    lh_emit(&p, 0x7e342000u, 0); /* ADD 0x20 -> SCRATCHA0 (0x10, C) */
    lh_emit(&p, 0x72340000u, 0); /* SCRATCHA0 | 0 -> SFBR */
    lh_emit(&p, 0x6a350100u, 0); /* SFBR | 1 -> SCRATCHA1 (0x11) */
    lh_emit(&p, 0x78368100u, 0); /* MOV 0x81 -> SCRATCHA2 */
    lh_emit(&p, 0x79360000u, 0); /* SHL SCRATCHA2: 0x03, C=1 */
    lh_emit(&p, 0x7f370000u, 0); /* ADC 0 -> SCRATCHA3: 1 */
    lh_emit(&p, 0x80a80000u, 0x10); /* JUMP REL if carry (not set) */
    lh_emit(&p, 0x98080000u, 1);
    lh_emit(&p, 0x98080000u, 2);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0x01031110u);
    assert_int_equal(lh_rd(h, 0x08, 1), 0x10);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 1);

    /* Data compare with mask: SFBR 0x10 matches 0x1f under mask 0x0f. */
    p.n = 0;
    lh_emit(&p, 0x808c0f1fu, 0x08); /* JUMP REL if (SFBR & 0xf0)==0x10 */
    lh_emit(&p, 0x98080000u, 3);
    lh_emit(&p, 0x808c001fu, 0x08); /* exact compare with 0x1f: false */
    lh_emit(&p, 0x98080000u, 4);
    lh_emit(&p, 0x98080000u, 5);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 4);

    /* SET CARRY, then SHR through carry; CLEAR CARRY; an IF-FALSE jump. */
    p.n = 0;
    lh_emit(&p, 0x58000400u, 0); /* SET CARRY */
    lh_emit(&p, 0x78340200u, 0); /* MOV 2 -> SCRATCHA0 */
    lh_emit(&p, 0x7d340000u, 0); /* SHR: 0x81, C=0 */
    lh_emit(&p, 0x80200000u, SCR + 0x28); /* JUMP if not carry */
    lh_emit(&p, 0x98080000u, 6);
    lh_emit(&p, 0x98080000u, 7);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 7);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 1), 0x81);
}

static void
test_call_return_nop(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    lh_emit(&p, 0x88080000u, SCR + 0x20); /* CALL sub */
    lh_emit(&p, 0x80000000u, 0x12345678); /* never-taken jump: a NOP */
    lh_emit(&p, 0x98080000u, 0x10);
    lh_emit(&p, 0, 0);
    lh_emit(&p, 0x7834aa00u, 0); /* sub: MOV 0xaa -> SCRATCHA0 */
    lh_emit(&p, 0x90080000u, 0); /* RETURN */
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x10);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 1), 0xaa);
    assert_int_equal(lh_rd(h, REG_TEMP, 4), SCR + 8);
}

static void
test_load_store_move(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    lh_put32(h, BUF, 0xcafef00d);
    lh_put32(h, BUF + 0x100, 0x00000000);
    lh_wr(h, REG_DSA, BUF, 4);
    lh_emit(&p, 0xe1340004u, BUF); /* LOAD SCRATCHA, 4 <- BUF */
    lh_emit(&p, 0xf0340004u, 0x100); /* STORE REL SCRATCHA -> DSA+0x100 */
    lh_emit3(&p, 0xc0000008u, BUF, BUF2); /* MOVE MEMORY 8 */
    /* Memory move into the chip's registers (SCRATCHB via BAR1). */
    lh_emit3(&p, 0xc0000004u, BUF, LH_MMIO_BASE + 0x5c);
    /* ...and out of SCRIPTS RAM into guest RAM. */
    lh_emit3(&p, 0xc0000004u, LH_RAM_BASE + 0x10, BUF2 + 0x10);
    lh_emit(&p, 0x98080000u, 0x20);
    lh_load(h, SCR, &p);
    h->bar_ops[2]->write(h->bar_opaque[2], 0x10, 0x5a5a1234, 4);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0xcafef00d);
    assert_int_equal(lh_get32(h, BUF + 0x100), 0xcafef00d);
    assert_int_equal(lh_get32(h, BUF2), 0xcafef00d);
    assert_int_equal(lh_get32(h, BUF2 + 4), 0);
    assert_int_equal(lh_rd(h, REG_SCRATCHB, 4), 0xcafef00d);
    assert_int_equal(lh_get32(h, BUF2 + 0x10), 0x5a5a1234);
}

static void
test_scripts_ram_self_modify(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* In SCRIPTS RAM: copy an INT 0x99 from guest RAM over the next
     * instruction (a JUMP to a bus-fault address), then run into it. */
    lh_put32(h, BUF, 0x98080000u);
    lh_put32(h, BUF + 4, 0x99);
    lh_emit3(&p, 0xc0000008u, BUF, LH_RAM_BASE + 0x0c);
    lh_emit(&p, 0x80080000u, 0x40000000u);
    lh_load_ram(h, 0, &p);
    lh_start(h, LH_RAM_BASE);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x99);
    assert_int_equal(lh_rd(h, REG_DSP, 4), LH_RAM_BASE + 0x14);
}

static void
test_registers_via_scripts(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* A memory move that writes ISTAT.ABRT through BAR1 stops the chip. */
    lh_put32(h, BUF, 0x80);
    lh_emit3(&p, 0xc0000001u, BUF, LH_MMIO_BASE + 0x14);
    lh_emit(&p, 0x98080000u, 1);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x90);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0);
    /* A memory move that rewrites DSP (top byte starts SCRIPTS there). */
    p.n = 0;
    lh_put32(h, BUF, SCR + 0x20);
    lh_emit3(&p, 0xc0000004u, BUF, LH_MMIO_BASE + 0x2c);
    lh_emit(&p, 0x98080000u, 1);
    lh_emit(&p, 0, 0);
    lh_emit(&p, 0, 0);
    lh_emit(&p, 0x98080000u, 2);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 2);
}

static void
test_int_fly_and_irq(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    struct iq_pci_dev *pci = iq_lsi_pci(h->lsi);

    lh_emit(&p, 0x98180000u, 0x1); /* INTFLY */
    lh_emit(&p, 0x7834aa00u, 0);
    lh_emit(&p, 0x98080000u, 2);
    lh_load(h, SCR, &p);
    h->intx_edges = 0;
    lh_start(h, SCR);
    /* INTF raises the line even with DIEN clear; SCRIPTS carried on. */
    assert_int_equal(h->intx_level, 1);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x05);
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 1), 0xaa);
    /* DSTAT is not cleared by reading while INTF is set. */
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    lh_wr(h, REG_ISTAT, 0x04, 1);
    assert_int_equal(h->intx_level, 0);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x80);
    /* DIEN.SIR: the INT raises INTx; INTx-disable masks it. */
    lh_wr(h, REG_DIEN, 0x04, 1);
    lh_start(h, SCR + 16);
    assert_int_equal(h->intx_level, 1);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_STATUS, 2) & 0x08, 0x08);
    iq_pci_cfg_write(pci, IQ_PCI_COMMAND, 0x407, 2);
    assert_int_equal(h->intx_level, 0);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_STATUS, 2) & 0x08, 0x08);
    iq_pci_cfg_write(pci, IQ_PCI_COMMAND, 0x007, 2);
    assert_int_equal(h->intx_level, 1);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(h->intx_level, 0);
    assert_int_equal(iq_pci_cfg_read(pci, IQ_PCI_STATUS, 2) & 0x08, 0);
    lh_wr(h, REG_DIEN, 0, 1);
}

static void
test_endless_loop(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    struct iq_lsi_stats st;

    lh_emit(&p, 0x80080000u, SCR); /* JUMP to itself */
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    /* The run parked after its budget; the registers still answer. */
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0x02);
    iq_lsi_get_stats(h->lsi, &st);
    assert_true(st.parks >= 1);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(h->loop, 0) >= 1);
    }
    iq_lsi_get_stats(h->lsi, &st);
    assert_true(st.parks >= 6);
    lh_wr(h, REG_SCRATCHB, 0x1234, 2);
    assert_int_equal(lh_rd(h, REG_SCRATCHB, 2), 0x1234);
    /* ABRT stops it. */
    lh_wr(h, REG_ISTAT, 0x80, 1);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x01);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x90);
    lh_settle(h);
    iq_lsi_get_stats(h->lsi, &st);
    {
        uint64_t before = st.insns;

        lh_settle(h);
        iq_lsi_get_stats(h->lsi, &st);
        assert_int_equal(st.insns, before);
    }
}

/* Linux-shaped: tagged command with disconnect and reselect. */
static void
test_disconnect_reselect(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    uint32_t resel;
    uint8_t rd[10] = {0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0};

    /* Seed block 3 through a write first. */
    for (unsigned i = 0; i < 512; i++) {
        h->ram[BUF + i] = (uint8_t)(i ^ 0x5a);
    }
    {
        uint8_t wr[10] = {0x2a, 0, 0, 0, 0, 3, 0, 0, 1, 0};

        assert_int_equal(seabios_cmd(h, 0, 0x80, wr, 10, false, 512), 0x84);
    }
    memset(h->ram + BUF2, 0, 512);
    /* DSA table: msgout {3, MSGOUT}, cmd {10, CDB}, data {512, BUF2}. */
    lh_put32(h, TABLE + 0, 3);
    lh_put32(h, TABLE + 4, MSGOUT);
    lh_put32(h, TABLE + 8, 10);
    lh_put32(h, TABLE + 12, CDB);
    lh_put32(h, TABLE + 16, 512);
    lh_put32(h, TABLE + 20, BUF2);
    lh_put32(h, TABLE + 24, 0x00000000); /* select: id 0 in bits 19:16 */
    lh_wr(h, REG_DSA, TABLE, 4);
    h->ram[MSGOUT] = 0xc0; /* IDENTIFY, disconnect allowed, LUN 0 */
    h->ram[MSGOUT + 1] = 0x20; /* SIMPLE TAG */
    h->ram[MSGOUT + 2] = 0x2a;
    memcpy(h->ram + CDB, rd, 10);
    h->ram[STATUS] = 0xff;
    h->ram[MSGIN] = 0xff;

    lh_emit(&p, 0x43000018u, 0); /* SELECT ATN from table +0x18 */
    lh_emit(&p, 0x1e000000u, 0); /* MOVE TBL MSG OUT +0 */
    lh_emit(&p, 0x1a000000u, 8); /* MOVE TBL CMD +8 */
    lh_emit(&p, 0x0f000002u, MSGTMP); /* MOVE 2 WHEN MSG IN */
    lh_emit(&p, 0x60000040u, 0); /* CLEAR ACK */
    lh_emit(&p, 0x48000000u, 0); /* WAIT DISCONNECT */
    resel = lh_here(&p);
    lh_emit(&p, 0x50000000u, SCR + 0x200); /* WAIT RESELECT, alt: SIGP */
    lh_emit(&p, 0x0f000003u, MSGIN); /* IDENTIFY + SIMPLE TAG */
    lh_emit(&p, 0x19000000u, 0x10); /* MOVE TBL DATA IN +0x10 */
    lh_emit(&p, 0x0b000001u, STATUS);
    lh_emit(&p, 0x0f000001u, MSGTMP + 4);
    lh_emit(&p, 0x60000040u, 0); /* CLEAR ACK */
    lh_emit(&p, 0x48000000u, 0); /* WAIT DISCONNECT */
    lh_emit(&p, 0x98080000u, 0x42);
    lh_load(h, SCR, &p);
    p.n = 0;
    lh_emit(&p, 0x98080000u, 0x51); /* SIGP path */
    lh_load(h, SCR + 0x200, &p);

    lh_wr(h, REG_DIEN, 0x04, 1);
    h->intx_edges = 0;
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(h->intx_edges, 1);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x42);
    assert_int_equal(h->ram[MSGTMP], 0x02); /* SAVE DATA POINTER */
    assert_int_equal(h->ram[MSGTMP + 1], 0x04); /* DISCONNECT */
    assert_int_equal(h->ram[MSGIN], 0x80);
    assert_int_equal(h->ram[MSGIN + 1], 0x20);
    assert_int_equal(h->ram[MSGIN + 2], 0x2a);
    assert_int_equal(h->ram[STATUS], 0);
    assert_int_equal(h->ram[MSGTMP + 4], 0);
    assert_int_equal(lh_rd(h, 0x0a, 1), 0x80); /* SSID: VAL | ID 0 */
    for (unsigned i = 0; i < 512; i++) {
        assert_int_equal(h->ram[BUF2 + i], (uint8_t)(i ^ 0x5a));
    }
    /* Idle in WAIT RESELECT; SIGP leaves through the alternate address. */
    lh_start(h, SCR + resel);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0x02);
    lh_wr(h, REG_ISTAT, 0x20, 1);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x51);
    assert_int_equal(lh_rd(h, REG_CTEST2, 1), 0x48);
    lh_wr(h, REG_DIEN, 0, 1);
}

static void
test_extended_message_rejected(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    static const uint8_t tur[6] = {0};

    /* IDENTIFY + SDTR: the target answers MESSAGE REJECT, then COMMAND. */
    h->ram[MSGOUT] = 0x80;
    h->ram[MSGOUT + 1] = 0x01;
    h->ram[MSGOUT + 2] = 0x03;
    h->ram[MSGOUT + 3] = 0x01;
    h->ram[MSGOUT + 4] = 0x0c;
    h->ram[MSGOUT + 5] = 0x0f;
    memcpy(h->ram + CDB, tur, 6);
    lh_emit(&p, 0x41000000u, 0);
    lh_emit(&p, 0x0e000006u, MSGOUT);
    lh_emit(&p, 0x0f000001u, MSGTMP);
    lh_emit(&p, 0x0a000006u, CDB);
    lh_emit(&p, 0x0b000001u, STATUS);
    lh_emit(&p, 0x0f000001u, MSGIN);
    lh_emit(&p, 0x98080000u, 0);
    lh_load(h, SCR, &p);
    h->ram[STATUS] = 0xff;
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(h->ram[MSGTMP], 0x07);
    assert_int_equal(h->ram[STATUS], 0);
    assert_int_equal(h->ram[MSGIN], 0);
}

static void
test_block_move_errors(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* Block move with nobody on the bus: unexpected disconnect. */
    lh_emit(&p, 0x01000010u, BUF);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x04);
    /* Zero byte count: illegal. */
    p.n = 0;
    lh_emit(&p, 0x40000000u, 0);
    lh_emit(&p, 0x06000000u, BUF);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x81);
    /* An oversized command move: 16 bytes taken, then a mismatch. */
    p.n = 0;
    lh_emit(&p, 0x06000001u, MSGOUT);
    lh_emit(&p, 0x02ffffffu, CDB);
    h->ram[MSGOUT] = 0x80;
    memset(h->ram + CDB, 0, 16);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x80);
    assert_int_equal(lh_rd(h, REG_DBC, 4) & 0xffffff, 0xffffff - 16);
    lh_wr(h, 0x01, 0x08, 1);
    lh_wr(h, 0x01, 0x00, 1);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x02);
    /* Wait Reselect while connected: illegal. */
    p.n = 0;
    lh_emit(&p, 0x40000000u, 0);
    lh_emit(&p, 0x50000000u, 0);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x81);
    lh_wr(h, REG_ISTAT, 0x40, 1);
}

static void
test_abort_messages(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};

    /* IDENTIFY + ABORT: the target goes bus free; the CDB move that
     * follows finds nobody (UDC). */
    h->ram[MSGOUT] = 0x80;
    h->ram[MSGOUT + 1] = 0x06;
    lh_emit(&p, 0x41000000u, 0);
    lh_emit(&p, 0x06000002u, MSGOUT);
    lh_emit(&p, 0x02000006u, CDB);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_SIST0, 1), 0x04);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x00);
    assert_int_equal(lh_rd(h, REG_DSP, 4), SCR + 24);
    /* BUS DEVICE RESET: bus free too; WAIT DISCONNECT then goes on. */
    p.n = 0;
    h->ram[MSGOUT + 1] = 0x0c;
    lh_emit(&p, 0x41000000u, 0);
    lh_emit(&p, 0x06000002u, MSGOUT);
    lh_emit(&p, 0x48000000u, 0);
    lh_emit(&p, 0x98080000u, 0x0c);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x0c);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0x00);
}

static void
test_budget_exact(void **state)
{
    struct lh h;
    struct lh_prog p = {0};
    struct iq_lsi_stats st;

    (void)state;
    assert_int_equal(lh_init(&h, false, 10), 0);
    lh_enable(&h);
    for (unsigned i = 0; i < 25; i++) {
        lh_emit(&p, 0x80000000u, 0); /* never-taken jump */
    }
    lh_emit(&p, 0x98080000u, 0x25);
    lh_load(&h, SCR, &p);
    lh_start(&h, SCR);
    iq_lsi_get_stats(h.lsi, &st);
    assert_int_equal(st.insns, 10);
    assert_int_equal(st.parks, 1);
    assert_int_equal(lh_rd(&h, REG_ISTAT1, 1), 0x02);
    assert_int_equal(lh_rd(&h, REG_DSP, 4), SCR + 80);
    assert_true(iq_loop_run_once(h.loop, 0) >= 1);
    iq_lsi_get_stats(h.lsi, &st);
    assert_int_equal(st.insns, 20);
    assert_int_equal(st.parks, 2);
    assert_true(iq_loop_run_once(h.loop, 0) >= 1);
    iq_lsi_get_stats(h.lsi, &st);
    assert_int_equal(st.insns, 26);
    assert_int_equal(st.parks, 2);
    assert_int_equal(lh_rd(&h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(&h, REG_DSPS, 4), 0x25);
    assert_int_equal(lh_rd(&h, REG_ISTAT1, 1), 0);
    lh_fini(&h);
}

/* Data-in moved onto the chip's own registers: a byte resets the chip
 * (ISTAT.SRST) halfway through, freeing the command being moved. */
static void
test_dma_resets_chip(void **state)
{
    struct lh *h = *state;
    uint8_t wr[10] = {0x2a, 0, 0, 0, 0, 5, 0, 0, 1, 0};
    struct lh_prog p = {0};

    memset(h->ram + BUF, 0, 512);
    h->ram[BUF + 0x14] = 0x40;
    assert_int_equal(seabios_cmd(h, 0, 0x80, wr, 10, false, 512), 0x84);
    assert_int_equal(h->ram[STATUS], 0);
    memset(h->ram + CDB, 0, 16);
    h->ram[CDB] = 0x28;
    h->ram[CDB + 5] = 5;
    h->ram[CDB + 8] = 1;
    h->ram[MSGOUT] = 0x80;
    lh_wr(h, REG_SCRATCHB, 0x11, 1);
    lh_emit(&p, 0x40000000u, 0);
    lh_emit(&p, 0x06000001u, MSGOUT);
    lh_emit(&p, 0x0200000au, CDB);
    lh_emit(&p, 0x09000200u, LH_MMIO_BASE); /* DATA IN onto BAR1 */
    lh_emit(&p, 0x98080000u, 1);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    lh_settle(h);
    /* The reset cleared everything and stopped SCRIPTS before the INT. */
    assert_int_equal(lh_rd(h, REG_SCRATCHB, 1), 0);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x80);
    /* Nothing of the interrupted move survives the reset. */
    assert_int_equal(lh_rd(h, REG_DBC, 4) & 0xffffff, 0);
    assert_int_equal(lh_rd(h, REG_DNAD, 4), 0);
    assert_int_equal(lh_rd(h, REG_DSP, 4), 0);
    /* A STORE of SRST into ISTAT: DNAD is not written afterwards. */
    p.n = 0;
    lh_wr(h, REG_SCRATCHB, 0x40, 4);
    lh_emit(&p, 0xe05c0001u, LH_MMIO_BASE + REG_ISTAT); /* STORE SCRATCHB */
    lh_emit(&p, 0x98080000u, 2);
    lh_load(h, SCR, &p);
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_DNAD, 4), 0);
    assert_int_equal(lh_rd(h, REG_DSP, 4), 0);
    assert_int_equal(lh_rd(h, REG_SCRATCHB, 4), 0);
    assert_int_equal(lh_rd(h, REG_ISTAT, 1), 0);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x80);
    /* And the controller works afterwards. */
    {
        static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};

        assert_int_equal(seabios_cmd(h, 0, 0x80, inq, 6, true, 36), 0x84);
        assert_int_equal(h->ram[STATUS], 0);
    }
}

/* 64 tagged commands disconnect and wait to reselect; the 65th finds no
 * command slot and gets BUSY status; then they reselect one by one. */
static void
test_tagged_queue_full(void **state)
{
    struct lh *h = *state;
    struct lh_prog a = {0};
    struct lh_prog b = {0};
    struct lh_prog r = {0};
    uint8_t rd[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    bool seen[IQ_LSI_MAX_CMDS] = {false};
    struct iq_lsi_stats st;

    memcpy(h->ram + CDB, rd, 10);
    h->ram[MSGOUT] = 0xc0;
    h->ram[MSGOUT + 1] = 0x20;
    lh_emit(&a, 0x41000000u, 0);
    lh_emit(&a, 0x06000003u, MSGOUT);
    lh_emit(&a, 0x0200000au, CDB);
    lh_emit(&a, 0x0f000002u, MSGTMP); /* SAVE DP, DISCONNECT */
    lh_emit(&a, 0x48000000u, 0);
    lh_emit(&a, 0x98080000u, 0x11);
    lh_load(h, SCR, &a);
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        h->ram[MSGOUT + 2] = (uint8_t)(0x40 + i);
        lh_start(h, SCR);
        lh_settle(h);
        assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
        assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x11);
        assert_int_equal(h->ram[MSGTMP + 1], 0x04);
    }
    /* The 65th: straight to STATUS with BUSY, then COMMAND COMPLETE. */
    h->ram[MSGOUT + 2] = 0x99;
    lh_emit(&b, 0x41000000u, 0);
    lh_emit(&b, 0x06000003u, MSGOUT);
    lh_emit(&b, 0x0200000au, CDB);
    lh_emit(&b, 0x0b000001u, STATUS);
    lh_emit(&b, 0x0f000001u, MSGIN);
    lh_emit(&b, 0x98080000u, 0x12);
    lh_load(h, SCR + 0x100, &b);
    h->ram[STATUS] = 0xff;
    lh_start(h, SCR + 0x100);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(h->ram[STATUS], 0x08);
    assert_int_equal(h->ram[MSGIN], 0x00);
    /* Reselect each: IDENTIFY, SIMPLE TAG, tag; data; status; complete. */
    lh_emit(&r, 0x50000000u, 0);
    lh_emit(&r, 0x0f000003u, MSGTMP);
    lh_emit(&r, 0x09000200u, BUF);
    lh_emit(&r, 0x0b000001u, STATUS);
    lh_emit(&r, 0x0f000001u, MSGIN);
    lh_emit(&r, 0x48000000u, 0);
    lh_emit(&r, 0x98080000u, 0x13);
    lh_load(h, SCR + 0x200, &r);
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        unsigned tag;

        h->ram[STATUS] = 0xff;
        lh_start(h, SCR + 0x200);
        assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
        assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x13);
        assert_int_equal(h->ram[MSGTMP], 0x80);
        assert_int_equal(h->ram[MSGTMP + 1], 0x20);
        tag = h->ram[MSGTMP + 2];
        assert_true(tag >= 0x40 && tag < 0x40 + IQ_LSI_MAX_CMDS);
        assert_false(seen[tag - 0x40]);
        seen[tag - 0x40] = true;
        assert_int_equal(h->ram[STATUS], 0);
        assert_int_equal(h->ram[MSGIN], 0);
    }
    iq_lsi_get_stats(h->lsi, &st);
    assert_int_equal(st.reselects, IQ_LSI_MAX_CMDS);
    /* Nothing left: WAIT RESELECT parks. */
    lh_start(h, SCR + 0x200);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_ISTAT1, 1), 0x02);
    lh_wr(h, REG_ISTAT, 0x80, 1);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x90);
}

/*
 * sym53c8xx's tagged sequence: IDENTIFY + SIMPLE TAG + tag in one MSG
 * OUT move; on reselection IDENTIFY is read alone, then SIMPLE TAG + tag
 * in a 2-byte move, and the tag is taken from SIDL (Move Register to
 * SFBR, SIDL shifted left) to index the task table.
 */
static void
test_sym_tagged_reselect(void **state)
{
    struct lh *h = *state;
    struct lh_prog p = {0};
    uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};

    memset(h->ram + BUF, 0, 64);
    memcpy(h->ram + CDB, inq, 6);
    h->ram[MSGOUT] = 0xc0; /* IDENTIFY, disconnect allowed, LUN 0 */
    h->ram[MSGOUT + 1] = 0x20; /* SIMPLE TAG */
    h->ram[MSGOUT + 2] = 0xa7; /* tag (bit 7 set: SHL carries) */
    memset(h->ram + MSGTMP, 0xff, 8);
    memset(h->ram + MSGIN, 0xff, 4);
    h->ram[STATUS] = 0xff;

    lh_emit(&p, 0x41000000u, 0); /* SELECT ATN id 0 */
    lh_emit(&p, 0x06000003u, MSGOUT); /* MOVE 3 MSG OUT */
    lh_emit(&p, 0x02000006u, CDB); /* MOVE 6 CMD */
    lh_emit(&p, 0x0f000001u, MSGTMP); /* MOVE 1 MSG IN: SAVE DP */
    lh_emit(&p, 0x60000040u, 0); /* CLEAR ACK */
    lh_emit(&p, 0x0f000001u, MSGTMP + 1); /* MOVE 1 MSG IN: DISCONNECT */
    lh_emit(&p, 0x60000048u, 0); /* CLEAR ACK|ATN */
    lh_emit(&p, 0x48000000u, 0); /* WAIT DISCONNECT */
    lh_emit(&p, 0x50000000u, SCR + 0x200); /* WAIT RESELECT */
    lh_emit(&p, 0x0f000001u, MSGIN); /* IDENTIFY */
    lh_emit(&p, 0x60000040u, 0); /* CLEAR ACK */
    lh_emit(&p, 0x0f000002u, MSGIN + 1); /* SIMPLE TAG + tag */
    lh_emit(&p, 0x71500000u, 0); /* SFBR = SIDL << 1 */
    lh_emit(&p, 0x6a340000u, 0); /* SCRATCHA0 |= SFBR */
    lh_emit(&p, 0x60000040u, 0); /* CLEAR ACK */
    lh_emit(&p, 0x09000024u, BUF); /* MOVE 36 DATA IN */
    lh_emit(&p, 0x0b000001u, STATUS);
    lh_emit(&p, 0x0f000001u, MSGIN + 3);
    lh_emit(&p, 0x60000040u, 0); /* CLEAR ACK */
    lh_emit(&p, 0x48000000u, 0); /* WAIT DISCONNECT */
    lh_emit(&p, 0x98080000u, 0x61);
    lh_load(h, SCR, &p);
    p.n = 0;
    lh_emit(&p, 0x98080000u, 0x62); /* SIGP path: must not be taken */
    lh_load(h, SCR + 0x200, &p);

    lh_wr(h, REG_SCRATCHA, 0, 4);
    lh_start(h, SCR);
    lh_settle(h);
    assert_int_equal(lh_rd(h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x61);
    assert_int_equal(h->ram[MSGTMP], 0x02);
    assert_int_equal(h->ram[MSGTMP + 1], 0x04);
    assert_int_equal(h->ram[MSGIN], 0x80);
    assert_int_equal(h->ram[MSGIN + 1], 0x20);
    assert_int_equal(h->ram[MSGIN + 2], 0xa7);
    assert_int_equal(h->ram[MSGIN + 3], 0x00);
    assert_int_equal(lh_rd(h, 0x50, 1), 0x00); /* SIDL: COMMAND COMPLETE */
    assert_int_equal(lh_rd(h, REG_SCRATCHA, 4), 0x4e); /* 0xa7 << 1 */
    assert_int_equal(h->ram[STATUS], 0);
    assert_int_equal(h->ram[BUF] & 0x1f, 0); /* direct-access device */
    assert_int_equal(h->ram[BUF + 4], 31);
}

/* STEST4.LCKFRQ reads set once STEST1.DBLEN enables the quadrupler. */
static void
test_clock_lock(void **state)
{
    struct lh *h = *state;

    assert_int_equal(lh_rd(h, 0x52, 1) & 0x20, 0);
    lh_wr(h, 0x4d, 0x08, 1); /* DBLEN */
    assert_int_equal(lh_rd(h, 0x52, 1) & 0x20, 0x20);
    lh_wr(h, 0x4d, 0x0c, 1); /* DBLEN | DBLSEL */
    assert_int_equal(lh_rd(h, 0x52, 1) & 0x20, 0x20);
    lh_wr(h, 0x52, 0x00, 1); /* read-only */
    assert_int_equal(lh_rd(h, 0x52, 1), 0xa0);
    lh_wr(h, 0x4d, 0x00, 1);
    assert_int_equal(lh_rd(h, 0x52, 1) & 0x20, 0);
}

/* ---- transfers larger than IQ_SCSI_MAX_XFER ---------------------------- */

#define BIG_RAM (12u << 20)
#define BIG_DISK (8u << 20)
#define BIG_SRC 0x100000u
#define BIG_DST 0x600000u
#define BIG_LEN (4u << 20)
#define BIG_LBA 100u

/*
 * A sym53c8xx-shaped tagged command with disconnect privilege: the data
 * phase is three table-indirect moves whose boundaries do not line up
 * with the 1 MiB sub-commands. Returns DSTAT; DSPS tells where it ended.
 */
static uint8_t
big_cmd(struct lh *h, const uint8_t *cdb, bool dir_in, uint32_t buf)
{
    struct lh_prog p = {0};
    static const uint32_t sg[3] = {0x180000u, 0x200000u, 0x80000u};
    uint32_t off = 0;

    for (unsigned i = 0; i < 3; i++) {
        lh_put32(h, TABLE + 8 * i, sg[i]);
        lh_put32(h, TABLE + 8 * i + 4, buf + off);
        off += sg[i];
    }
    lh_wr(h, REG_DSA, TABLE, 4);
    memset(h->ram + CDB, 0, 16);
    memcpy(h->ram + CDB, cdb, 10);
    h->ram[MSGOUT] = 0xc0;
    h->ram[MSGOUT + 1] = 0x20;
    h->ram[MSGOUT + 2] = 0x17;
    h->ram[STATUS] = 0xff;
    memset(h->ram + MSGIN, 0xff, 4);
    memset(h->ram + MSGTMP, 0xff, 4);

    lh_emit(&p, 0x41000000u, 0); /* SELECT ATN id 0 */
    lh_emit(&p, 0x06000003u, MSGOUT);
    lh_emit(&p, 0x0200000au, CDB);
    if (dir_in) {
        lh_emit(&p, 0x0f000002u, MSGTMP); /* SAVE DP, DISCONNECT */
        lh_emit(&p, 0x60000040u, 0);
        lh_emit(&p, 0x48000000u, 0);
        lh_emit(&p, 0x50000000u, SCR + 0x400);
        lh_emit(&p, 0x0f000003u, MSGIN); /* IDENTIFY, SIMPLE TAG, tag */
        for (unsigned i = 0; i < 3; i++) {
            lh_emit(&p, 0x19000000u, 8 * i); /* MOVE TBL DATA IN */
        }
    } else {
        for (unsigned i = 0; i < 3; i++) {
            lh_emit(&p, 0x18000000u, 8 * i); /* MOVE TBL DATA OUT */
        }
        lh_emit(&p, 0x0f000002u, MSGTMP); /* SAVE DP, DISCONNECT */
        lh_emit(&p, 0x60000040u, 0);
        lh_emit(&p, 0x48000000u, 0);
        lh_emit(&p, 0x50000000u, SCR + 0x400);
        lh_emit(&p, 0x0f000003u, MSGIN);
    }
    lh_emit(&p, 0x0b000001u, STATUS);
    lh_emit(&p, 0x0f000001u, MSGIN + 3);
    lh_emit(&p, 0x60000040u, 0);
    lh_emit(&p, 0x48000000u, 0);
    lh_emit(&p, 0x98080000u, 0x71);
    lh_load(h, SCR, &p);
    p.n = 0;
    lh_emit(&p, 0x98080000u, 0x72); /* SIGP path: must not be taken */
    lh_load(h, SCR + 0x400, &p);
    lh_start(h, SCR);
    lh_settle(h);
    return (uint8_t)lh_rd(h, REG_DSTAT, 1);
}

static void
assert_big_done(struct lh *h)
{
    assert_int_equal(lh_rd(h, REG_DSPS, 4), 0x71);
    assert_int_equal(h->ram[MSGTMP], 0x02);
    assert_int_equal(h->ram[MSGTMP + 1], 0x04);
    assert_int_equal(h->ram[MSGIN], 0x80);
    assert_int_equal(h->ram[MSGIN + 1], 0x20);
    assert_int_equal(h->ram[MSGIN + 2], 0x17);
    assert_int_equal(h->ram[STATUS], 0x00);
    assert_int_equal(h->ram[MSGIN + 3], 0x00);
}

/* Small READ(10) through the SeaBIOS path into BUF (512-byte blocks). */
static void
read_small(struct lh *h, uint32_t lba, uint16_t blocks)
{
    uint8_t rd[10] = {0x28,
                      0,
                      (uint8_t)(lba >> 24),
                      (uint8_t)(lba >> 16),
                      (uint8_t)(lba >> 8),
                      (uint8_t)lba,
                      0,
                      (uint8_t)(blocks >> 8),
                      (uint8_t)blocks,
                      0};

    assert_int_equal(seabios_cmd(h, 0, 0x80, rd, 10, true, 512u * blocks),
                     0x84);
    assert_int_equal(h->ram[STATUS], 0);
}

static void
test_big_rw(void **state)
{
    struct lh h;
    static const uint8_t tur[6] = {0};
    const uint16_t nblk = BIG_LEN / 512u;
    uint8_t wr[10] = {
        0x2a,          0x08, 0, 0, 0, BIG_LBA, 0, (uint8_t)(nblk >> 8),
        (uint8_t)nblk, 0};
    uint8_t rd[10] = {
        0x28, 0, 0, 0, 0, BIG_LBA, 0, (uint8_t)(nblk >> 8), (uint8_t)nblk, 0};
    uint8_t far[10] = {0x28, 0, 0, 0, 0x3f, 0xf0, 0, 0x20, 0x00, 0};
    struct lh_prog p = {0};

    (void)state;
    assert_int_equal(lh_init_disk(&h, false, 0, BIG_RAM, BIG_DISK), 0);
    lh_enable(&h);
    assert_int_equal(seabios_cmd(&h, 0, 0x80, tur, 6, false, 0), 0x84);
    assert_int_equal(h.ram[STATUS], 0x02); /* power-on unit attention */
    for (uint32_t i = 0; i < BIG_LEN; i++) {
        h.ram[BIG_SRC + i] = (uint8_t)((i * 7u) ^ (i >> 9) ^ (i >> 17));
    }
    /* 4 MiB WRITE(10) with FUA. */
    assert_int_equal(big_cmd(&h, wr, false, BIG_SRC), 0x84);
    assert_big_done(&h);
    /* 4 MiB READ(10) back into other memory. */
    memset(h.ram + BIG_DST, 0, BIG_LEN);
    assert_int_equal(big_cmd(&h, rd, true, BIG_DST), 0x84);
    assert_big_done(&h);
    assert_memory_equal(h.ram + BIG_DST, h.ram + BIG_SRC, BIG_LEN);
    /* Placement on the disk: the blocks either side are untouched. */
    read_small(&h, BIG_LBA - 1, 1);
    for (unsigned i = 0; i < 512; i++) {
        assert_int_equal(h.ram[BUF + i], 0);
    }
    read_small(&h, BIG_LBA + nblk, 1);
    for (unsigned i = 0; i < 512; i++) {
        assert_int_equal(h.ram[BUF + i], 0);
    }
    read_small(&h, BIG_LBA + 2048 + 7, 2); /* straddles nothing, 1 MiB in */
    assert_memory_equal(h.ram + BUF, h.ram + BIG_SRC + (2048u + 7u) * 512u,
                        1024);
    /*
     * Without disconnect privilege (SeaBIOS shape, one 2 MiB + 512 move):
     * the move waits in DATA IN between the sub-commands.
     */
    read_small(&h, BIG_LBA, 4097);
    assert_memory_equal(h.ram + BUF, h.ram + BIG_DST, 4097u * 512u);
    /*
     * 4 MiB READ(10) at LBA 0x3ff0 running past the end of the 8 MiB
     * disk: CHECK CONDITION before any data, no data phase.
     */
    memset(h.ram + CDB, 0, 16);
    memcpy(h.ram + CDB, far, 10);
    h.ram[MSGOUT] = 0xc0;
    h.ram[MSGOUT + 1] = 0x20;
    h.ram[MSGOUT + 2] = 0x18;
    h.ram[STATUS] = 0xff;
    h.ram[MSGIN] = 0xff;
    p.n = 0;
    lh_emit(&p, 0x41000000u, 0);
    lh_emit(&p, 0x06000003u, MSGOUT);
    lh_emit(&p, 0x0200000au, CDB);
    lh_emit(&p, 0x0b000001u, STATUS);
    lh_emit(&p, 0x0f000001u, MSGIN);
    lh_emit(&p, 0x60000040u, 0);
    lh_emit(&p, 0x48000000u, 0);
    lh_emit(&p, 0x98080000u, 0x73);
    lh_load(&h, SCR, &p);
    lh_start(&h, SCR);
    lh_settle(&h);
    assert_int_equal(lh_rd(&h, REG_DSTAT, 1), 0x84);
    assert_int_equal(lh_rd(&h, REG_DSPS, 4), 0x73);
    assert_int_equal(h.ram[STATUS], 0x02);
    assert_int_equal(h.ram[MSGIN], 0x00);
    lh_fini(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seabios_inquiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seabios_rw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_timeout_sym, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_bus_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_reset_unit_attention, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_select_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_lun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phase_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phase_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_return_nop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_store_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scripts_ram_self_modify, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_registers_via_scripts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_int_fly_and_irq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endless_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_reselect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_extended_message_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_block_move_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_messages, setup, teardown),
        cmocka_unit_test(test_budget_exact),
        cmocka_unit_test_setup_teardown(test_sym_tagged_reselect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_clock_lock, setup, teardown),
        cmocka_unit_test(test_big_rw),
        cmocka_unit_test_setup_teardown(test_tagged_queue_full, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dma_resets_chip, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
