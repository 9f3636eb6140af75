/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-vhost: 4 KiB random reads and writes in one run, through the real
 * ioreqd on the fake Xen with the simulated guest's virtio-blk driver, on
 * three devices of the same ioreqd:
 *   inproc: ioreqd's own virtio-blk (null backend),
 *   mmap:   vhost-user bridge to qemu-storage-daemon (null-co), zero-copy,
 *   shadow: the same through shadow rings and buffers.
 * Prints `BENCH name value unit` lines: IOPS per device and direction, and
 * mmap/shadow as a percentage of inproc (targets: >= 90 % and >= 60 %),
 * the median over ten interleaved rounds of 150 ms per device; then, from
 * ioreqd's exit statistics, the shadow device's kicks and daemon calls per
 * request (shadow rings with the event index when the daemon offers it).
 * Exits 77 when qemu-storage-daemon is not installed.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#define QSD IQ_SPAWN_QSD
#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (128ull << 20)
#define BASE 0x2000000ull
#define IRQ0 33u
#define DISK_BYTES (1ull << 30)
#define QD 16u
/* Rounds of RUN_NS per device, interleaved so that load from other
 * processes on the machine hits the three devices alike. */
#define RUN_NS 150000000ull
#define ROUNDS 10u
#define WAIT_MS 10000u

enum { DEV_INPROC, DEV_MMAP, DEV_SHADOW, NR_DEVS };
static const char *const dev_names[NR_DEVS] = {"inproc", "mmap", "shadow"};

struct bench {
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t ioreqd;
    pid_t qsd;
    char dir[64];
    char log[128];
    char qlog[128];
    char sock[2][128];
    struct iq_blk *blk[NR_DEVS];
    uint64_t buf[NR_DEVS];
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

static int
start_qsd(struct bench *b)
{
    char exp[2][320];
    char *argv[] = {(char *)"qemu-storage-daemon",
                    (char *)"--blockdev",
                    (char *)"driver=null-co,node-name=n0,size=1073741824,"
                            "read-zeroes=on",
                    (char *)"--blockdev",
                    (char *)"driver=null-co,node-name=n1,size=1073741824,"
                            "read-zeroes=on",
                    (char *)"--export",
                    exp[0],
                    (char *)"--export",
                    exp[1],
                    NULL};

    for (unsigned i = 0; i < 2; i++) {
        snprintf(exp[i], sizeof(exp[i]),
                 "type=vhost-user-blk,id=e%u,node-name=n%u,addr.type=unix,"
                 "addr.path=%s,writable=on",
                 i, i, b->sock[i]);
    }
    if (iq_spawn(QSD, argv, NULL, NULL, b->qlog, &b->qsd) < 0) {
        return -1;
    }
    for (unsigned i = 0; i < 2; i++) {
        if (iq_spawn_wait_path(b->sock[i], 0, 10000) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
start_ioreqd(struct bench *b, const char *exe)
{
    struct iq_sim_config sc;
    char d0[160];
    char d1[320];
    char d2[320];
    const char *args[] = {"--device",    d0,     "--device", d1, "--device", d2,
                          "--log-level", "info", NULL};
    struct iq_ioreqd_spec is = {
        .exe = exe,
        .log_path = b->log,
        .args = args,
        .ranges = NR_DEVS,
        .timeout_ms = WAIT_MS,
    };
    int st = 0;

    iq_sim_config_default(&sc, IQ_SIM_ARM);
    sc.nr_vcpus = 1;
    sc.ram0_size = RAM0_SIZE;
    if (iq_sim_create(&sc, &b->sim) < 0 ||
        iq_guest_create(b->sim, RAM0, RAM0_SIZE, &b->g) < 0) {
        return -1;
    }
    snprintf(d0, sizeof(d0), "virtio-blk,base=0x%llx,irq=%u,file=null:%llu",
             (unsigned long long)BASE, IRQ0, (unsigned long long)DISK_BYTES);
    snprintf(d1, sizeof(d1),
             "vhost-user,base=0x%llx,irq=%u,type=blk,socket=%s,mode=mmap",
             (unsigned long long)(BASE + 0x200), IRQ0 + 1, b->sock[0]);
    snprintf(d2, sizeof(d2),
             "vhost-user,base=0x%llx,irq=%u,type=blk,socket=%s,mode=shadow",
             (unsigned long long)(BASE + 0x400), IRQ0 + 2, b->sock[1]);
    if (iq_spawn_ioreqd(b->sim, &is, &b->ioreqd, &st) < 0) {
        fprintf(stderr, "bench-vhost: ioreqd not ready (0x%x)\n", st);
        return -1;
    }
    return 0;
}

/*
 * QD requests kept in flight on queue 0 for RUN_NS; adds the requests
 * completed and the time taken to *ops and *ns. 0 or -1.
 */
static int
run(struct bench *b, unsigned d, bool write, uint64_t *ops, uint64_t *ns)
{
    struct iq_blk *blk = b->blk[d];
    struct iq_blk_req req[QD];
    uint64_t buf = b->buf[d] != 0
                       ? b->buf[d]
                       : iq_guest_alloc(b->g, (size_t)QD * 4096, 4096);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (d * 7 + write) ^ *ops;
    uint64_t sectors = DISK_BYTES / 512;
    uint64_t done = 0;
    uint64_t t0;
    uint64_t t1;
    unsigned inflight;

    if (buf == 0) {
        return -1;
    }
    /* Reuse the buffers of earlier rounds (the allocator never frees). */
    b->buf[d] = buf;
    for (unsigned i = 0; i < QD; i++) {
        memset(&req[i], 0, sizeof(req[i]));
        req[i].type = write ? IQ_BLK_T_OUT : IQ_BLK_T_IN;
        req[i].data_gpa = buf + 4096ull * i;
        req[i].data_len = 4096;
        req[i].sector = (iq_test_xorshift(&seed) % (sectors / 8)) * 8;
        if (iq_blk_submit(blk, 0, &req[i], false) < 0) {
            return -1;
        }
    }
    if (iq_blk_kick(blk, 0) < 0) {
        return -1;
    }
    t0 = iq_test_now_ns();
    t1 = t0;
    inflight = QD;
    while (inflight > 0) {
        struct iq_blk_req *r = NULL;
        bool stop = t1 - t0 >= RUN_NS;
        unsigned n = 0;
        int rc = iq_blk_wait(blk, 0, WAIT_MS, &r);

        while (rc >= 0 && r != NULL) {
            if (r->status != IQ_BLK_S_OK) {
                fprintf(stderr, "bench-vhost: %s status %u\n", dev_names[d],
                        r->status);
                return -1;
            }
            inflight--;
            if (!stop) {
                done++;
                r->sector = (iq_test_xorshift(&seed) % (sectors / 8)) * 8;
                r->done = false;
                if (iq_blk_submit(blk, 0, r, false) < 0) {
                    return -1;
                }
                inflight++;
                n++;
            }
            r = NULL;
            rc = iq_blk_poll(blk, 0, &r);
            if (rc == 0) {
                break;
            }
        }
        if (rc < 0) {
            fprintf(stderr, "bench-vhost: %s request failed (%d)\n",
                    dev_names[d], rc);
            return -1;
        }
        if (n > 0 && iq_blk_kick(blk, 0) < 0) {
            return -1;
        }
        if (!stop) {
            t1 = iq_test_now_ns();
        }
    }
    *ops += done;
    *ns += t1 - t0;
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench b;
    double iops[NR_DEVS][2];
    uint64_t total_ops[NR_DEVS] = {0};
    int ret = 1;
    char cmd[128];

    (void)argc;
    (void)argv;
    if (access(QSD, X_OK) != 0) {
        fprintf(stderr, "bench-vhost: %s not installed\n", QSD);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&b, 0, sizeof(b));
    b.ioreqd = -1;
    b.qsd = -1;
    snprintf(b.dir, sizeof(b.dir), "/tmp/iq-bvhost-XXXXXX");
    if (mkdtemp(b.dir) == NULL) {
        return 1;
    }
    snprintf(b.log, sizeof(b.log), "%s/ioreqd.log", b.dir);
    snprintf(b.qlog, sizeof(b.qlog), "%s/qsd.log", b.dir);
    snprintf(b.sock[0], sizeof(b.sock[0]), "%s/m.sock", b.dir);
    snprintf(b.sock[1], sizeof(b.sock[1]), "%s/s.sock", b.dir);
    if (start_qsd(&b) < 0 || start_ioreqd(&b, IQ_BENCH_IOREQD) < 0) {
        goto out;
    }
    for (unsigned d = 0; d < NR_DEVS; d++) {
        struct iq_vm_dev *dev = NULL;

        if (iq_vm_probe(b.g, BASE + 0x200ull * d, IRQ0 + d, 0, &dev) < 0 ||
            iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, 64, 0, &b.blk[d]) < 0) {
            fprintf(stderr, "bench-vhost: attach %s failed\n", dev_names[d]);
            goto out;
        }
    }
    for (unsigned w = 0; w < 2; w++) {
        uint64_t ops[NR_DEVS] = {0};
        uint64_t ns[NR_DEVS] = {0};
        double ratio[NR_DEVS][ROUNDS];

        for (unsigned r = 0; r < ROUNDS; r++) {
            double round_iops[NR_DEVS];

            for (unsigned d = 0; d < NR_DEVS; d++) {
                uint64_t o = 0;
                uint64_t t = 0;

                if (run(&b, d, w == 1, &o, &t) < 0) {
                    goto out;
                }
                ops[d] += o;
                ns[d] += t;
                round_iops[d] = (double)o * 1e9 / (double)t;
            }
            for (unsigned d = 0; d < NR_DEVS; d++) {
                ratio[d][r] = round_iops[d] / round_iops[DEV_INPROC];
            }
        }
        for (unsigned d = 0; d < NR_DEVS; d++) {
            total_ops[d] += ops[d];
            iops[d][w] = (double)ops[d] * 1e9 / (double)ns[d];
            printf("BENCH vhost-blk-%s-rand%s-4k-qd%u %.0f IOPS\n",
                   dev_names[d], w ? "write" : "read", QD, iops[d][w]);
        }
        /* Ratio: the median over rounds of back-to-back measurements, which
         * other load on the machine disturbs least. */
        for (unsigned d = DEV_MMAP; d < NR_DEVS; d++) {
            qsort(ratio[d], ROUNDS, sizeof(double), cmp_double);
            printf("BENCH vhost-blk-%s-vs-inproc-rand%s %.1f %%\n",
                   dev_names[d], w ? "write" : "read",
                   100.0 * (ratio[d][ROUNDS / 2 - 1] + ratio[d][ROUNDS / 2]) /
                       2.0);
        }
    }
    ret = 0;
out:
    for (unsigned d = 0; d < NR_DEVS; d++) {
        if (b.blk[d] != NULL) {
            (void)iq_vm_reset(iq_blk_dev(b.blk[d]));
            iq_blk_free(b.blk[d]);
        }
    }
    (void)iq_spawn_stop(&b.ioreqd, SIGTERM, 5000, NULL);
    (void)iq_spawn_stop(&b.qsd, SIGTERM, 5000, NULL);
    {
        char *t = iq_spawn_slurp(b.log);
        /* The shadow device is the second vhost-user one: "vu1". */
        uint64_t kicks = iq_test_log_field(t, "vu1: stats: vhost", "kicks=");
        uint64_t calls = iq_test_log_field(t, "vu1: stats: vhost", "calls=");

        if (ret == 0 && total_ops[DEV_SHADOW] > 0 && kicks != UINT64_MAX &&
            calls != UINT64_MAX) {
            printf("BENCH vhost-blk-shadow-kicks-per-req %.3f kicks/req\n",
                   (double)kicks / (double)total_ops[DEV_SHADOW]);
            printf("BENCH vhost-blk-shadow-calls-per-req %.3f calls/req\n",
                   (double)calls / (double)total_ops[DEV_SHADOW]);
        }
        if (t != NULL && (ret != 0 || getenv("IQ_BENCH_VERBOSE") != NULL)) {
            fprintf(stderr, "---- ioreqd log ----\n%s", t);
        }
        free(t);
    }
    iq_guest_destroy(b.g);
    iq_sim_destroy(b.sim);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench-vhost: cannot remove %s\n", b.dir);
    }
    return ret;
}
