/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LSI 53C895A through the production ioreqd binary on the fake Xen's
 * x86 personality: hvmloader-style enumeration, a SeaBIOS-shaped polled
 * driver, a sym53c8xx-shaped interrupt-driven driver running SCRIPTS from
 * on-chip RAM, and hostile SCRIPTS.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iq-sim.h"
#include "iq-spawn.h"
#include "lsi-guest.h"

#ifndef IQ_IOREQD_PATH
#error "IQ_IOREQD_PATH must be set by meson"
#endif

#define SBDF0 0x28u /* 00:05.0 */
#define SBDF1 0x30u /* 00:06.0 */
#define IO0 0xc100u
#define MMIO0 0xf1002000u
#define RAM0 0xf1000000u
#define IO1 0xc200u
#define MMIO1 0xf1012000u
#define RAM1 0xf1010000u
#define DISK_SIZE (4u << 20)
#define WAIT_MS 10000u

struct sx {
    struct iq_sim *sim;
    pid_t pid;
    char dir[64];
    char log[128];
    char disk[128];
    uint8_t *ref;
    struct lg l;
    bool dumped;
};

static void
dump_log(struct sx *s)
{
    char *text;

    if (s->dumped || s->log[0] == '\0') {
        return;
    }
    s->dumped = true;
    text = iq_spawn_slurp(s->log);
    if (text != NULL) {
        fprintf(stderr, "---- ioreqd log ----\n%s---- end ----\n", text);
        free(text);
    }
}

static int
setup(void **state)
{
    static struct sx s;
    struct iq_sim_config sc;
    char dev0[300];
    char dev1[] = "lsi53c895a,bdf=00:06.0,disk=null:1M";
    char domid[16];
    char *argv[16];
    unsigned n = 0;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int fd;
    int st = 0;

    memset(&s, 0, sizeof(s));
    s.pid = -1;
    snprintf(s.dir, sizeof(s.dir), "/tmp/iq-simlsi-XXXXXX");
    if (mkdtemp(s.dir) == NULL) {
        return -1;
    }
    snprintf(s.log, sizeof(s.log), "%s/ioreqd.log", s.dir);
    snprintf(s.disk, sizeof(s.disk), "%s/disk.img", s.dir);
    s.ref = malloc(DISK_SIZE);
    if (s.ref == NULL) {
        return -1;
    }
    for (size_t i = 0; i < DISK_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.ref[i] = (uint8_t)x;
    }
    fd = open(s.disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || pwrite(fd, s.ref, DISK_SIZE, 0) != (ssize_t)DISK_SIZE) {
        return -1;
    }
    close(fd);
    iq_sim_config_default(&sc, IQ_SIM_X86);
    sc.ram0_size = 64ull << 20;
    sc.timeout_ms = 30000; /* generous: the machine may be loaded */
    if (iq_sim_create(&sc, &s.sim) < 0) {
        return -1;
    }
    snprintf(domid, sizeof(domid), "%u", iq_sim_domid(s.sim));
    snprintf(dev0, sizeof(dev0),
             "lsi53c895a,bdf=00:05.0,disk=%s,disk=null:2M,target=0,lun=1,"
             "disk=null:1M,ro,target=3",
             s.disk);
    argv[n++] = (char *)"ioreqd";
    argv[n++] = (char *)"--domid";
    argv[n++] = domid;
    argv[n++] = (char *)"--arch";
    argv[n++] = (char *)"x86";
    argv[n++] = (char *)"--log-level";
    argv[n++] = (char *)"info";
    argv[n++] = (char *)"--device";
    argv[n++] = dev0;
    argv[n++] = (char *)"--device";
    argv[n++] = dev1;
    argv[n] = NULL;
    if (iq_spawn(IQ_IOREQD_PATH, argv, NULL, s.sim, s.log, &s.pid) < 0) {
        return -1;
    }
    /* Two PCI functions claimed. */
    if (iq_spawn_wait_ready(s.sim, s.pid, 2, WAIT_MS, &st) < 0) {
        dump_log(&s);
        return -1;
    }
    *state = &s;
    return 0;
}

static int
teardown(void **state)
{
    struct sx *s = *state;
    struct iq_sim_counters c;
    char cmd[160];
    int st = 0;
    int rc = 0;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (iq_spawn_wait(s->pid, WAIT_MS, &st) < 0) {
            kill(s->pid, SIGKILL);
            (void)iq_spawn_wait(s->pid, WAIT_MS, &st);
            rc = -1;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            rc = -1;
        }
        if (rc == 0 && iq_spawn_wait_clean(s->sim, 2000, &c) < 0) {
            rc = -1;
        }
        if (rc < 0) {
            dump_log(s);
        }
    }
    iq_sim_destroy(s->sim);
    free(s->ref);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    if (system(cmd) != 0) {
        rc = -1;
    }
    return rc;
}

static void
enumerate(struct sx *s)
{
    assert_int_equal(lg_enumerate(&s->l, s->sim, SBDF0, IO0, MMIO0, RAM0, 10),
                     0);
}

/* ---- enumeration -------------------------------------------------------- */

static void
test_enumerate(void **state)
{
    struct sx *s = *state;
    struct iq_sim_counters c0;
    struct iq_sim_counters c;
    struct lg l1;
    uint64_t v = 0;

    iq_sim_counters(s->sim, &c0);
    assert_int_equal(lg_cfg_rd(s->sim, SBDF0, 0x08, 4), 0x01000000);
    assert_int_equal(lg_cfg_rd(s->sim, SBDF0, 0x3d, 1), 1);
    enumerate(s);
    assert_int_equal(s->l.bar_size[0], 0xffffff01u);
    assert_int_equal(s->l.bar_size[1], 0xfffffc00u);
    assert_int_equal(s->l.bar_size[2], 0xffffe000u);
    assert_int_equal(lg_cfg_rd(s->sim, SBDF0, 0x10, 4), IO0 | 1u);
    assert_int_equal(lg_cfg_rd(s->sim, SBDF0, 0x3c, 1), 10);
    iq_sim_counters(s->sim, &c);
    /* Three BARs now decoded. */
    assert_int_equal(c.ranges_now, c0.ranges_now + 3);
    /* The same register through ports and MMIO. */
    lg_wr(&s->l, LG_SCRATCHB, 0x11223344u, 4);
    s->l.use_mmio = true;
    assert_int_equal(lg_rd(&s->l, LG_SCRATCHB, 4), 0x11223344u);
    /* BAR1 decodes addr & 0xff across its 1 KiB. */
    assert_int_equal(iq_sim_mmio_read(s->sim, 0, MMIO0 + 0x35c, 2, &v), 0);
    assert_int_equal(v, 0x3344);
    s->l.use_mmio = false;
    /* Move BAR1: the old address is no longer claimed by the device. */
    lg_cfg_wr(s->sim, SBDF0, 0x14, MMIO0 + 0x400, 4);
    assert_int_equal(iq_sim_mmio_read(s->sim, 0, MMIO0 + 0x400 + 0x5c, 4, &v),
                     0);
    assert_int_equal(v, 0x11223344u);
    iq_sim_counters(s->sim, &c);
    assert_int_equal(c.ranges_now, c0.ranges_now + 3);
    /* Memory decode off: BAR1 and BAR2 unclaimed, ports still work. */
    lg_cfg_wr(s->sim, SBDF0, 0x04, 0x0005, 2);
    iq_sim_counters(s->sim, &c);
    assert_int_equal(c.ranges_now, c0.ranges_now + 1);
    assert_int_equal(lg_rd(&s->l, LG_SCRATCHB, 4), 0x11223344u);
    lg_cfg_wr(s->sim, SBDF0, 0x14, MMIO0, 4);
    lg_cfg_wr(s->sim, SBDF0, 0x04, 0x0007, 2);
    iq_sim_counters(s->sim, &c);
    assert_int_equal(c.ranges_now, c0.ranges_now + 3);
    /* The second controller enumerates independently. */
    assert_int_equal(lg_enumerate(&l1, s->sim, SBDF1, IO1, MMIO1, RAM1, 11),
                     0);
    lg_wr(&l1, LG_SCRATCHB, 0x55, 1);
    assert_int_equal(lg_rd(&l1, LG_SCRATCHB, 1), 0x55);
    assert_int_equal(lg_rd(&s->l, LG_SCRATCHB, 1), 0x44);
    /* An absent function is not ours. */
    assert_int_equal(lg_cfg_rd(s->sim, 0x38, 0, 4), 0xffffffffu);
}

/* ---- SeaBIOS ------------------------------------------------------------ */

static void
test_seabios(void **state)
{
    struct sx *s = *state;
    static const uint8_t tur[6] = {0x00};
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    static const uint8_t cap[10] = {0x25};
    uint8_t buf[8192];
    uint8_t st = 0;
    uint8_t mi = 0;
    uint8_t sist0 = 0;
    uint8_t sist1 = 0;
    uint8_t dstat = 0;
    int rc;

    enumerate(s);
    /* SeaBIOS: reset, then scan targets 0..6 at LUN 0. */
    lg_wr(&s->l, LG_ISTAT, 0x40, 1);
    for (unsigned t = 0; t < 7; t++) {
        rc = lg_seabios_cmd(&s->l, t, 0, inq, 6, true, buf, 36, &st, &mi);
        if (t == 0 || t == 3) {
            assert_int_equal(rc, 0);
            assert_int_equal(st, 0);
            assert_int_equal(mi, 0);
            assert_int_equal(buf[0] & 0x1f, 0);
        } else {
            /* Nobody there: selection timeout (SIST1.STO). */
            assert_int_equal(rc, -EIO);
        }
    }
    /* The STO itself, read directly. */
    rc = lg_seabios_cmd(&s->l, 4, 0, inq, 6, true, buf, 36, &st, &mi);
    assert_int_equal(rc, -EIO);
    /* Unit attention first, then ready. */
    assert_int_equal(lg_seabios_cmd(&s->l, 0, 0, tur, 6, false, NULL, 0, &st,
                                    &mi),
                     0);
    assert_int_equal(st, 2);
    assert_int_equal(lg_seabios_cmd(&s->l, 0, 0, tur, 6, false, NULL, 0, &st,
                                    &mi),
                     0);
    assert_int_equal(st, 0);
    assert_int_equal(lg_seabios_cmd(&s->l, 0, 0, cap, 10, true, buf, 8, &st,
                                    &mi),
                     0);
    assert_int_equal(st, 0);
    assert_int_equal((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                         (uint32_t)buf[2] << 8 | buf[3],
                     DISK_SIZE / 512 - 1);
    assert_int_equal(buf[6] << 8 | buf[7], 512);
    /* READ(10) of 16 blocks at LBA 100: the file's bytes. */
    {
        uint8_t rd[10] = {0x28, 0, 0, 0, 0, 100, 0, 0, 16, 0};

        assert_int_equal(lg_seabios_cmd(&s->l, 0, 0, rd, 10, true, buf, 8192,
                                        &st, &mi),
                         0);
        assert_int_equal(st, 0);
        assert_memory_equal(buf, s->ref + 100 * 512, 8192);
    }
    /* WRITE(10) of 8 blocks at LBA 7, checked in the file itself. */
    {
        uint8_t wr[10] = {0x2a, 0, 0, 0, 0, 7, 0, 0, 8, 0};
        uint8_t back[4096];
        int fd;

        for (unsigned i = 0; i < 4096; i++) {
            buf[i] = (uint8_t)(i * 13 + 5);
        }
        assert_int_equal(lg_seabios_cmd(&s->l, 0, 0, wr, 10, false, buf, 4096,
                                        &st, &mi),
                         0);
        assert_int_equal(st, 0);
        fd = open(s->disk, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, back, 4096, 7 * 512), 4096);
        close(fd);
        assert_memory_equal(back, buf, 4096);
        memcpy(s->ref + 7 * 512, buf, 4096);
    }
    /* Read-only LUN (target 3): write gets DATA PROTECT. */
    {
        uint8_t wr[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};

        assert_int_equal(lg_seabios_cmd(&s->l, 3, 0, tur, 6, false, NULL, 0,
                                        &st, &mi),
                         0);
        assert_int_equal(lg_seabios_cmd(&s->l, 3, 0, wr, 10, false, buf, 512,
                                        &st, &mi),
                         -EIO);
        /* CHECK CONDITION right after the CDB: the DATA OUT move meets
         * STATUS phase, a phase mismatch SeaBIOS reports as failure. */
    }
    /* Registers after a polled run: SCRIPTS stopped, no interrupt. */
    assert_int_equal(lg_rd(&s->l, LG_ISTAT1, 1), 0);
    (void)lg_poll(&s->l, 100, &dstat, &sist0, &sist1);
    assert_int_equal(sist0 | sist1, 0);
}

/* ---- sym53c8xx ---------------------------------------------------------- */

static void
test_sym(void **state)
{
    struct sx *s = *state;
    static const uint8_t tur[6] = {0x00};
    uint8_t buf[16384];
    uint8_t st = 0;
    uint32_t dsps = 0;
    unsigned sist = 0;
    bool resel = false;
    uint64_t edges;
    uint32_t key = IQ_SIM_INTX_KEY(SBDF0, 0);

    enumerate(s);
    s->l.use_mmio = true;
    assert_int_equal(lg_sym_init(&s->l), 0);
    /* Unit attention. */
    assert_int_equal(lg_sym_cmd(&s->l, 0, 0, 0x30, tur, 6, false, NULL, 0,
                                &st, &dsps, &sist, &resel),
                     0);
    assert_int_equal(dsps, 0x42);
    assert_int_equal(st, 2);
    assert_false(resel);
    /* The line went down when DSTAT was read. */
    assert_int_equal(iq_sim_irq_level(s->sim, key), 0);
    /* READ(10) of 32 blocks at LBA 200: disconnects, then reselects. */
    {
        uint8_t rd[10] = {0x28, 0, 0, 0, 0, 200, 0, 0, 32, 0};

        assert_int_equal(lg_sym_cmd(&s->l, 0, 0, 0x31, rd, 10, true, buf,
                                    16384, &st, &dsps, &sist, &resel),
                         0);
        assert_int_equal(dsps, 0x42);
        assert_int_equal(st, 0);
        assert_true(resel);
        assert_memory_equal(buf, s->ref + 200 * 512, 16384);
        /* SSID shows the reselecting target (VAL | 0). */
        assert_int_equal(lg_rd(&s->l, LG_SSID, 1), 0x80);
    }
    /* WRITE(10) of 4 blocks at LBA 300, then READ it back. */
    {
        uint8_t wr[10] = {0x2a, 0, 0, 0, 1, 0x2c, 0, 0, 4, 0};
        uint8_t rd[10] = {0x28, 0, 0, 0, 1, 0x2c, 0, 0, 4, 0};
        uint8_t back[2048];

        for (unsigned i = 0; i < 2048; i++) {
            buf[i] = (uint8_t)(i ^ 0xa5);
        }
        assert_int_equal(lg_sym_cmd(&s->l, 0, 0, 0x32, wr, 10, false, buf,
                                    2048, &st, &dsps, &sist, &resel),
                         0);
        assert_int_equal(dsps, 0x42);
        assert_int_equal(st, 0);
        assert_true(resel);
        assert_int_equal(lg_sym_cmd(&s->l, 0, 0, 0x33, rd, 10, true, back,
                                    2048, &st, &dsps, &sist, &resel),
                         0);
        assert_memory_equal(back, buf, 2048);
    }
    /* LUN 1 of target 0 (the null disk): zeroes. */
    {
        uint8_t rd[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};

        (void)lg_sym_cmd(&s->l, 0, 1, 0x34, tur, 6, false, NULL, 0, &st,
                         &dsps, &sist, &resel);
        memset(buf, 0x77, 512);
        assert_int_equal(lg_sym_cmd(&s->l, 0, 1, 0x35, rd, 10, true, buf, 512,
                                    &st, &dsps, &sist, &resel),
                         0);
        assert_int_equal(st, 0);
        assert_int_equal(buf[0], 0);
        assert_int_equal(buf[511], 0);
    }
    /* sym_snooptest's shape: memory moves between guest RAM and the
     * chip's registers through BAR1 (SCRIPTS in on-chip RAM), then INT;
     * DSP must point past the INT. */
    {
        uint32_t host = 0x12345678u;
        uint32_t prog[8] = {
            0xc0000004u, LG_MSGTMP, MMIO0 + LG_SCRATCHA, /* host -> SCRA */
            0xc0000004u, MMIO0 + 0x1c, LG_MSGTMP + 4, /* TEMP -> host */
            0x98080000u, 99,
        };
        uint8_t back[4];

        lg_put_words(&s->l, LG_MSGTMP, &host, 1);
        lg_wr(&s->l, 0x1c, 0x9abcdef0u, 4); /* TEMP */
        lg_ram_write(&s->l, LG_SYM_RAM_FREE, prog, 8);
        edges = iq_sim_irq_edges(s->sim, key);
        lg_wr(&s->l, LG_DSP, RAM0 + LG_SYM_RAM_FREE, 4);
        assert_int_equal(iq_sim_irq_wait(s->sim, key, edges, WAIT_MS), 0);
        assert_int_equal(lg_rd(&s->l, LG_ISTAT, 1), 0x01);
        assert_int_equal(lg_rd(&s->l, LG_DSTAT, 1), 0x84);
        assert_int_equal(lg_rd(&s->l, LG_DSPS, 4), 99);
        assert_int_equal(lg_rd(&s->l, LG_DSP, 4),
                         RAM0 + LG_SYM_RAM_FREE + 0x20);
        assert_int_equal(lg_rd(&s->l, LG_SCRATCHA, 4), 0x12345678u);
        assert_int_equal(iq_sim_ram_read(s->sim, LG_MSGTMP + 4, back, 4), 0);
        assert_int_equal(back[0] | back[1] << 8 | back[2] << 16 |
                             (uint32_t)back[3] << 24,
                         0x9abcdef0u);
    }
    /* An absent target: STO, interrupt-driven. */
    assert_int_equal(lg_sym_cmd(&s->l, 5, 0, 0x36, tur, 6, false, NULL, 0,
                                &st, &dsps, &sist, &resel),
                     -EIO);
    assert_int_equal(sist, 0x0400);
    /* Idle in WAIT RESELECT; SIGP breaks out through the alternate jump. */
    edges = iq_sim_irq_edges(s->sim, key);
    lg_sym_idle(&s->l);
    assert_int_equal(lg_rd(&s->l, LG_ISTAT1, 1), 0x02);
    assert_int_equal(iq_sim_irq_edges(s->sim, key), edges);
    lg_wr(&s->l, LG_ISTAT, 0x20, 1);
    assert_int_equal(iq_sim_irq_wait(s->sim, key, edges, WAIT_MS), 0);
    assert_int_equal(lg_rd(&s->l, LG_DSTAT, 1), 0x84);
    assert_int_equal(lg_rd(&s->l, LG_DSPS, 4), 0x51);
    assert_int_equal(lg_rd(&s->l, LG_CTEST2, 1), 0x48);
    /* INTx disabled in COMMAND: no edge for the next interrupt. */
    lg_cfg_wr(s->sim, SBDF0, 0x04, 0x0407, 2);
    edges = iq_sim_irq_edges(s->sim, key);
    lg_sym_idle(&s->l);
    lg_wr(&s->l, LG_ISTAT, 0x20, 1);
    assert_int_equal(lg_rd(&s->l, LG_ISTAT, 1) & 0x01, 0x01);
    assert_int_equal(iq_sim_irq_edges(s->sim, key), edges);
    assert_int_equal(lg_cfg_rd(s->sim, SBDF0, 0x06, 2) & 0x08, 0x08);
    assert_int_equal(lg_rd(&s->l, LG_DSTAT, 1), 0x84);
    assert_int_equal(lg_cfg_rd(s->sim, SBDF0, 0x06, 2) & 0x08, 0);
    lg_cfg_wr(s->sim, SBDF0, 0x04, 0x0007, 2);
}

/* ---- hostile SCRIPTS ---------------------------------------------------- */

static void
test_hostile_loop(void **state)
{
    struct sx *s = *state;
    struct lg l1;
    uint32_t loop[2] = {0x80080000u, LG_SCRIPT + 0x800};
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    uint8_t buf[64];
    uint8_t st = 0;
    uint8_t mi = 0;

    enumerate(s);
    assert_int_equal(lg_enumerate(&l1, s->sim, SBDF1, IO1, MMIO1, RAM1, 11),
                     0);
    /* JUMP to itself, forever. */
    lg_put_words(&s->l, LG_SCRIPT + 0x800, loop, 2);
    lg_start(&s->l, LG_SCRIPT + 0x800);
    /* The daemon keeps answering this device's registers... */
    for (unsigned i = 0; i < 50; i++) {
        lg_wr(&s->l, LG_SCRATCHB, i * 0x01010101u, 4);
        assert_int_equal(lg_rd(&s->l, LG_SCRATCHB, 4), i * 0x01010101u);
        assert_int_equal(lg_rd(&s->l, LG_ISTAT1, 1), 0x02);
    }
    /* ...and the other device, which runs a whole command meanwhile. */
    assert_int_equal(lg_cfg_rd(s->sim, SBDF1, 0, 4), 0x00121000u);
    lg_wr(&l1, LG_ISTAT, 0x40, 1);
    assert_int_equal(lg_seabios_cmd(&l1, 0, 0, inq, 6, true, buf, 36, &st,
                                    &mi),
                     0);
    assert_int_equal(st, 0);
    /* ABRT stops the loop. */
    lg_wr(&s->l, LG_ISTAT, 0x80, 1);
    assert_int_equal(lg_rd(&s->l, LG_ISTAT1, 1), 0);
    assert_int_equal(lg_rd(&s->l, LG_ISTAT, 1), 0x01);
    assert_int_equal(lg_rd(&s->l, LG_DSTAT, 1), 0x90);
    assert_int_equal(lg_rd(&s->l, LG_DSP, 4), LG_SCRIPT + 0x800);
}

static void
test_hostile_scripts(void **state)
{
    struct sx *s = *state;
    uint8_t dstat = 0;
    uint8_t sist0 = 0;
    uint8_t sist1 = 0;

    enumerate(s);
    s->l.use_mmio = true;
    /* Jump into SCRIPTS RAM that the SCRIPTS modify first: a memory move
     * writes an INT 0x77 at RAM+0x100 over a JUMP to a bus-fault address. */
    {
        uint32_t in_ram[4] = {0x80080000u, 0x40000000u, 0, 0};
        uint32_t patch[2] = {0x98080000u, 0x77};
        uint32_t prog[5] = {0xc0000008u, LG_MSGTMP, RAM0 + 0x100,
                            0x80080000u, RAM0 + 0x100};

        lg_ram_write(&s->l, 0x100, in_ram, 4);
        lg_put_words(&s->l, LG_MSGTMP, patch, 2);
        lg_put_words(&s->l, LG_SCRIPT, prog, 5);
        lg_start(&s->l, LG_SCRIPT);
        assert_int_equal(lg_poll(&s->l, WAIT_MS, &dstat, &sist0, &sist1), 0);
        assert_int_equal(dstat, 0x84);
        assert_int_equal(lg_rd(&s->l, LG_DSPS, 4), 0x77);
        assert_int_equal(lg_ram_read32(&s->l, 0x100), 0x98080000u);
    }
    /* Moves targeting the chip's own registers (BAR1): SCRATCHB from
     * memory, DSA from SCRATCHB, then a store of DSA to guest RAM. */
    {
        uint32_t v = 0x00abcdefu;
        uint32_t prog[12] = {
            0xc0000004u, LG_MSGTMP, MMIO0 + LG_SCRATCHB,
            0xc0000004u, MMIO0 + LG_SCRATCHB, MMIO0 + LG_DSA,
            0xe0100004u, LG_MSGTMP + 8, /* STORE DSA */
            0x98080000u, 0x78, 0, 0,
        };
        uint8_t out[4];

        lg_put_words(&s->l, LG_MSGTMP, &v, 1);
        lg_put_words(&s->l, LG_SCRIPT, prog, 12);
        lg_start(&s->l, LG_SCRIPT);
        assert_int_equal(lg_poll(&s->l, WAIT_MS, &dstat, &sist0, &sist1), 0);
        assert_int_equal(lg_rd(&s->l, LG_SCRATCHB, 4), 0x00abcdefu);
        assert_int_equal(lg_rd(&s->l, LG_DSA, 4), 0x00abcdefu);
        assert_int_equal(iq_sim_ram_read(s->sim, LG_MSGTMP + 8, out, 4), 0);
        assert_int_equal(out[0] | out[1] << 8 | out[2] << 16, 0xabcdef);
    }
    /* Invalid opcode: DSTAT.IID, DSP past it. */
    {
        uint32_t prog[2] = {0xb8080000u, 0};

        lg_put_words(&s->l, LG_SCRIPT, prog, 2);
        lg_start(&s->l, LG_SCRIPT);
        assert_int_equal(lg_rd(&s->l, LG_DSTAT, 1), 0x81);
        assert_int_equal(lg_rd(&s->l, LG_DSP, 4), LG_SCRIPT + 8);
    }
    /* Oversized count: a 16 MiB memory move out of a 64 MiB guest ends
     * in a bus fault at the first byte past RAM. */
    {
        uint32_t prog[3] = {0xc0ffffffu, 0x03800000u, LG_DATA};

        lg_put_words(&s->l, LG_SCRIPT, prog, 3);
        lg_start(&s->l, LG_SCRIPT);
        /* The move runs within the DSP write's ioreq. */
        assert_int_equal(lg_rd(&s->l, LG_DSTAT, 1), 0xa0);
        assert_int_equal(lg_rd(&s->l, LG_ISTAT1, 1), 0);
    }
    /* DSA table outside guest RAM: bus fault on the table fetch. */
    {
        uint32_t prog[4] = {0x41000000u, 0, 0x1e000000u, 0x10};
        uint8_t d;

        lg_wr(&s->l, LG_ISTAT, 0x40, 1);
        lg_wr(&s->l, LG_DSA, 0xe0000000u, 4);
        lg_put_words(&s->l, LG_SCRIPT, prog, 4);
        lg_start(&s->l, LG_SCRIPT);
        d = (uint8_t)lg_rd(&s->l, LG_DSTAT, 1);
        assert_int_equal(d, 0xa0);
        assert_int_equal(lg_rd(&s->l, LG_DSP, 4), LG_SCRIPT + 16);
    }
}

/* lsi53c895a is x86 only: the daemon refuses it for an Arm guest. */
static void
test_refuse_arm(void **state)
{
    char dir[] = "/tmp/iq-simlsi-arm-XXXXXX";
    char log[96];
    char cmd[96];
    char *argv[] = {
        (char *)"ioreqd",
        (char *)"--domid",
        (char *)"1",
        (char *)"--arch",
        (char *)"arm",
        (char *)"--device",
        (char *)"lsi53c895a,bdf=00:05.0,disk=null:1M",
        NULL,
    };
    char *text;
    pid_t pid;
    int st = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/ioreqd.log", dir);
    assert_int_equal(iq_spawn(IQ_IOREQD_PATH, argv, NULL, NULL, log, &pid),
                     0);
    assert_int_equal(iq_spawn_wait(pid, WAIT_MS, &st), 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    text = iq_spawn_slurp(log);
    assert_non_null(text);
    assert_non_null(strstr(text, "lsi53c895a is a PCI device: x86 guests "
                                 "only"));
    free(text);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enumerate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seabios, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sym, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_scripts, setup,
                                        teardown),
        cmocka_unit_test(test_refuse_arm),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
