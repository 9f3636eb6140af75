/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LSI 53C895A vs virtio-blk on the same backing file, through the real
 * ioreqd on the fake Xen's x86 personality, in one run:
 *   - ioreqs per 4 KiB read and write through the LSI (counted with the
 *     fake's ioreqs_sent), for the SeaBIOS-shaped polled driver (SCRIPTS
 *     in guest RAM) and the sym53c8xx-shaped interrupt-driven driver
 *     (SCRIPTS in on-chip RAM, tagged, disconnect/reselect);
 *   - QD1 4 KiB random read/write throughput of each, and of virtio-blk
 *     (polled too, so the comparison is about the device paths).
 * Prints `BENCH name value unit` lines. About 2 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iq-guest.h"
#include "iq-sim.h"
#include "iq-harness.h"
#include "iq-spawn.h"
#include "iq-test-util.h"
#include "lsi-guest.h"

#ifndef IQ_BENCH_IOREQD
#define IQ_BENCH_IOREQD "ioreqd"
#endif
#ifndef IQ_BENCH_FAKELIB
#define IQ_BENCH_FAKELIB "."
#endif

#define DISK_SIZE (16u << 20)
#define RAM_SIZE (64ull << 20)
#define VBLK_BASE 0xfe000000ull
#define VBLK_IRQ 5u
#define SBDF 0x28u
#define NR_REQS 2000u
#define BS 4096u
#define TIMEOUT_MS 20000u

struct bench {
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t pid;
    char dir[64];
    char log[128];
    char disk[128];
    struct lg l;
    struct iq_blk *blk;
    uint64_t rng;
};

static double
now_s(void)
{
    return (double)iq_test_now_ns() / 1e9;
}

static uint64_t
ioreqs(struct bench *b)
{
    struct iq_sim_counters c;

    iq_sim_counters(b->sim, &c);
    return c.ioreqs_sent;
}

static uint32_t
next_lba(struct bench *b)
{
    return (uint32_t)(iq_test_xorshift(&b->rng) % (DISK_SIZE / BS)) *
           (BS / 512);
}

static void
cdb10(uint8_t *c, uint8_t op, uint32_t lba, uint16_t blocks)
{
    memset(c, 0, 10);
    c[0] = op;
    c[2] = (uint8_t)(lba >> 24);
    c[3] = (uint8_t)(lba >> 16);
    c[4] = (uint8_t)(lba >> 8);
    c[5] = (uint8_t)lba;
    c[7] = (uint8_t)(blocks >> 8);
    c[8] = (uint8_t)blocks;
}

static void
report(const char *name, unsigned n, double secs, uint64_t io)
{
    printf("BENCH %s_iops %.0f req/s\n", name, n / secs);
    printf("BENCH %s_mbps %.2f MB/s\n", name, n * (double)BS / secs / 1e6);
    printf("BENCH %s_ioreqs_per_req %.2f ioreqs/req\n", name, (double)io / n);
}

/* mode 0: SeaBIOS polled, 1: sym interrupt-driven. Returns IOPS or -1. */
static double
run_lsi(struct bench *b, const char *name, int mode, bool write)
{
    uint8_t buf[BS];
    uint8_t cdb[10];
    uint8_t st = 0;
    uint8_t mi = 0;
    uint64_t io0 = ioreqs(b);
    double t0 = now_s();
    double secs;

    memset(buf, 0x3c, sizeof(buf));
    for (unsigned i = 0; i < NR_REQS; i++) {
        uint32_t dsps = 0;
        unsigned sist = 0;
        bool resel = false;
        int rc;

        cdb10(cdb, write ? 0x2a : 0x28, next_lba(b), BS / 512);
        if (mode == 0) {
            rc =
                lg_seabios_cmd(&b->l, 0, 0, cdb, 10, !write, buf, BS, &st, &mi);
        } else {
            rc = lg_sym_cmd(&b->l, 0, 0, (uint8_t)(0x40 + i % 32), cdb, 10,
                            !write, buf, BS, &st, &dsps, &sist, &resel);
        }
        if (rc < 0 || st != 0) {
            fprintf(stderr, "%s: request %u failed: %d status %u\n", name, i,
                    rc, st);
            return -1;
        }
    }
    secs = now_s() - t0;
    report(name, NR_REQS, secs, ioreqs(b) - io0);
    return NR_REQS / secs;
}

/*
 * virtio-blk at QD1, polled like the SeaBIOS-shaped LSI driver (spin on the
 * used ring) so both compare the device paths, not interrupt latency.
 */
static double
run_vblk(struct bench *b, const char *name, bool write)
{
    uint64_t gpa = iq_guest_alloc(b->g, BS, 4096);
    uint64_t io0 = ioreqs(b);
    double t0 = now_s();
    double secs;

    if (gpa == 0) {
        return -1;
    }
    for (unsigned i = 0; i < NR_REQS; i++) {
        struct iq_blk_req req;
        struct iq_blk_req *done = NULL;
        double until = now_s() + TIMEOUT_MS / 1000.0;
        int rc;

        memset(&req, 0, sizeof(req));
        req.type = write ? IQ_BLK_T_OUT : IQ_BLK_T_IN;
        req.sector = next_lba(b);
        req.data_gpa = gpa;
        req.data_len = BS;
        rc = iq_blk_submit(b->blk, 0, &req, false);
        if (rc == 0) {
            rc = iq_blk_kick(b->blk, 0);
        }
        while (rc == 0) {
            rc = iq_blk_poll(b->blk, 0, &done);
            if (rc == 0 && now_s() > until) {
                rc = -ETIMEDOUT;
            }
        }
        if (rc < 0 || done != &req || req.status != 0) {
            fprintf(stderr, "%s: request %u failed: %d status %u\n", name, i,
                    rc, req.status);
            return -1;
        }
    }
    secs = now_s() - t0;
    report(name, NR_REQS, secs, ioreqs(b) - io0);
    return NR_REQS / secs;
}

static int
setup(struct bench *b)
{
    struct iq_sim_config sc;
    struct iq_vm_dev *dev = NULL;
    char lsi[256];
    char vblk[256];
    const char *args[] = {"--device", lsi, "--device", vblk, NULL};
    struct iq_ioreqd_spec is = {
        .exe = IQ_BENCH_IOREQD,
        .ld_path = IQ_BENCH_FAKELIB,
        .log_path = b->log,
        .x86 = true,
        .args = args,
        .ranges = 2,
        .timeout_ms = TIMEOUT_MS,
    };
    uint8_t tur[6] = {0};
    uint8_t st;
    uint8_t mi;
    int fd;
    int rc;

    snprintf(b->dir, sizeof(b->dir), "/tmp/iq-benchlsi-XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        return -errno;
    }
    snprintf(b->log, sizeof(b->log), "%s/ioreqd.log", b->dir);
    snprintf(b->disk, sizeof(b->disk), "%s/disk.img", b->dir);
    fd = open(b->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0) {
        return -errno;
    }
    close(fd);
    iq_sim_config_default(&sc, IQ_SIM_X86);
    sc.ram0_size = RAM_SIZE;
    sc.timeout_ms = TIMEOUT_MS;
    rc = iq_sim_create(&sc, &b->sim);
    if (rc < 0) {
        return rc;
    }
    rc = iq_guest_create(b->sim, 16ull << 20, RAM_SIZE - (16ull << 20), &b->g);
    if (rc < 0) {
        return rc;
    }
    snprintf(lsi, sizeof(lsi), "lsi53c895a,bdf=00:05.0,disk=%s", b->disk);
    snprintf(vblk, sizeof(vblk), "virtio-blk,base=0x%llx,irq=%u,file=%s",
             VBLK_BASE, VBLK_IRQ, b->disk);
    rc = iq_spawn_ioreqd(b->sim, &is, &b->pid, NULL);
    if (rc < 0) {
        return rc;
    }
    rc =
        lg_enumerate(&b->l, b->sim, SBDF, 0xc100, 0xf1002000u, 0xf1000000u, 10);
    if (rc < 0) {
        return rc;
    }
    lg_wr(&b->l, LG_ISTAT, 0x40, 1);
    /* Consume the unit attention. */
    (void)lg_seabios_cmd(&b->l, 0, 0, tur, 6, false, NULL, 0, &st, &mi);
    rc = iq_vm_probe(b->g, VBLK_BASE, VBLK_IRQ, 0, &dev);
    if (rc == 0) {
        rc = iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, 64, 64u << 10, &b->blk);
        if (rc < 0) {
            iq_vm_free(dev);
        }
    }
    return rc;
}

static void
teardown(struct bench *b)
{
    char cmd[160];

    iq_blk_free(b->blk);
    (void)iq_spawn_stop(&b->pid, SIGTERM, TIMEOUT_MS, NULL);
    iq_guest_destroy(b->g);
    iq_sim_destroy(b->sim);
    if (b->dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", b->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", b->dir);
        }
    }
}

int
main(void)
{
    struct bench b;
    double lsi_r;
    double lsi_w;
    double sym_r;
    double vb_r;
    double vb_w;
    int rc;

    memset(&b, 0, sizeof(b));
    b.pid = -1;
    b.rng = 0x2545f4914f6cdd1dull;
    rc = setup(&b);
    if (rc < 0) {
        fprintf(stderr, "bench-lsi-sim: setup failed: %s\n", strerror(-rc));
        teardown(&b);
        return 1;
    }
    lsi_r = run_lsi(&b, "lsi_seabios_read4k", 0, false);
    lsi_w = run_lsi(&b, "lsi_seabios_write4k", 0, true);
    b.l.use_mmio = true;
    rc = lg_sym_init(&b.l);
    sym_r = rc < 0 ? -1 : run_lsi(&b, "lsi_sym_read4k", 1, false);
    if (rc == 0) {
        (void)run_lsi(&b, "lsi_sym_write4k", 1, true);
    }
    vb_r = run_vblk(&b, "vblk_read4k", false);
    vb_w = run_vblk(&b, "vblk_write4k", true);
    if (lsi_r > 0 && vb_r > 0) {
        printf("BENCH lsi_vs_vblk_read4k %.3f ratio\n", lsi_r / vb_r);
    }
    if (lsi_w > 0 && vb_w > 0) {
        printf("BENCH lsi_vs_vblk_write4k %.3f ratio\n", lsi_w / vb_w);
    }
    if (sym_r > 0 && vb_r > 0) {
        printf("BENCH lsi_sym_vs_vblk_read4k %.3f ratio\n", sym_r / vb_r);
    }
    teardown(&b);
    return (lsi_r > 0 && lsi_w > 0 && sym_r > 0 && vb_r > 0 && vb_w > 0) ? 0
                                                                         : 1;
}
