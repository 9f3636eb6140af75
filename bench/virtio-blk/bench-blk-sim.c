/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk through the whole stack: the real ioreqd binary on the fake
 * Xen, driven by the simulated guest's virtio-mmio / virtio-blk driver
 * (tests/sim/lib), as the sim tests and iq-demo run it.
 *
 * One daemon serves two virtio-blk devices: a raw image on tmpfs (the
 * io_uring file backend with no disk behind it) and a null backend (device,
 * engine, mapcache and ioreq path only). For each backend, 4 KiB random
 * reads and writes at queue depth 1 and 32 run for RUN_MS after WARM_MS of
 * warm-up on one queue from one vCPU. Completions are interrupt-driven as in
 * Linux: every interrupt edge costs an InterruptStatus read and an
 * InterruptACK write, the handler reaps with callbacks disabled and
 * re-enables them (used_event) before returning, and the resubmitted batch
 * gets one kick, issued only if the device's avail_event asks for it.
 *
 * Prints `BENCH name value unit` lines; per configuration
 * blk_<tmpfs|null>_<read|write>_qd<1|32>_ (blk_file_ if no tmpfs was found):
 *   iops            completed requests per second in the window
 *   lat_mean_us     mean submit -> completion time seen by the guest
 *   lat_p99_us      99th percentile of the same
 *   ioreqs_per_req  synchronous ioreqs (kicks, ISR reads, ACKs) per request
 *   fmap_per_req    foreign map calls per request (mapcache misses)
 *   kicks_per_req   QueueNotify writes per request   } ioreqs_per_req is
 *   irqs_per_req    interrupts taken per request     } kicks + 2 * irqs
 * then the same six for blk_null_read_qd32_polled (completions polled as on
 * a Linux poll queue: no interrupts, only the kick per batch is left), and
 * eventfd_pingpong (roundtrips/s), blk_null_read_qd{1,32}_vs_pingpong.
 *
 * At QD32 with EVENT_IDX the interrupt-driven loop costs one kick and one
 * interrupt (2 ioreqs) per batch: 3/32 = 0.094 ioreqs per request when each
 * interrupt reaps all 32. Going lower needs the guest and the device to
 * overlap on the ring (no kick while the device is still consuming, no
 * interrupt while the guest is still reaping); in this closed loop the
 * device drains the batch before the guest refills it.
 * Figures are noisy on a shared machine; nothing here asserts timings. The
 * exit status is non-zero only if an I/O fails or the daemon misbehaves.
 *
 * Usage: bench-blk-sim [IOREQD [FAKE_XEN_LIB_DIR]] (defaults baked in).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#ifndef IQ_BENCH_IOREQD
#define IQ_BENCH_IOREQD "ioreqd"
#endif
#ifndef IQ_BENCH_FAKELIB
#define IQ_BENCH_FAKELIB "."
#endif

#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (64ull << 20)
#define NR_VCPUS 2u
#define WINDOW_BASE 0x2000000ull
#define FIRST_SPI 33u
#define DISK_SIZE (64ull << 20)
#define IO_BLOCK 4096u
#define QD_MAX 32u
#define QSIZE 128u
#define WARM_MS 300u
#define RUN_MS 2000u
#define PINGPONG_MS 1000u
#define TIMEOUT_MS 10000u
#define MAX_SAMPLES (8u << 20)
#define TMPFS_MAGIC_VALUE 0x01021994L

enum { DEV_TMPFS, DEV_NULL, NR_DEVS };

static const char *const dev_names[NR_DEVS] = {"tmpfs", "null"};

struct bench_ctx {
    const char *ioreqd;
    const char *libdir;
    char dir[128];
    char image[160];
    char log[160];
    bool have_tmpfs;
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t pid;
    struct iq_blk *blk[NR_DEVS];
    uint64_t irq_seen[NR_DEVS];
    uint64_t bufs[QD_MAX];
    uint32_t *lat; /* samples of the current window, ns */
    size_t nr_lat;
};

/* One request with its submission time. `r` first: pointers convert. */
struct bench_req {
    struct iq_blk_req r;
    uint64_t t_submit;
};

struct bench_result {
    double iops;
    double lat_mean_us;
    double lat_p99_us;
    double ioreqs_per_req;
    double fmap_per_req;
    double kicks_per_req;
    double irqs_per_req;
};

/* ---- daemon and devices --------------------------------------------------
 */

static bool
is_tmpfs(const char *path)
{
    struct statfs sf;

    return statfs(path, &sf) == 0 && (long)sf.f_type == TMPFS_MAGIC_VALUE;
}

/* The image directory: /dev/shm or $XDG_RUNTIME_DIR when tmpfs, else /tmp. */
static int
make_dir(struct bench_ctx *b)
{
    const char *cands[] = {"/dev/shm", getenv("XDG_RUNTIME_DIR"), "/tmp"};

    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (cands[i] == NULL || cands[i][0] != '/' || strlen(cands[i]) > 64) {
            continue;
        }
        snprintf(b->dir, sizeof(b->dir), "%s/iq-bench-blk-XXXXXX", cands[i]);
        if (mkdtemp(b->dir) == NULL) {
            continue;
        }
        b->have_tmpfs = is_tmpfs(b->dir);
        if (b->have_tmpfs || i + 1 == sizeof(cands) / sizeof(cands[0])) {
            return 0;
        }
        rmdir(b->dir);
    }
    b->dir[0] = '\0';
    return -ENOENT;
}

/* A fully written image, so reads hit real tmpfs pages, not holes. */
static int
make_image(struct bench_ctx *b)
{
    uint8_t *chunk = malloc(1u << 20);
    int fd;
    int rc = 0;

    if (chunk == NULL) {
        return -ENOMEM;
    }
    memset(chunk, 0xa5, 1u << 20);
    snprintf(b->image, sizeof(b->image), "%s/disk.img", b->dir);
    fd = open(b->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
    }
    for (uint64_t off = 0; rc == 0 && off < DISK_SIZE; off += 1u << 20) {
        if (pwrite(fd, chunk, 1u << 20, (off_t)off) != (ssize_t)(1u << 20)) {
            rc = errno != 0 ? -errno : -EIO;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    free(chunk);
    return rc;
}

static int
start_daemon(struct bench_ctx *b)
{
    struct iq_sim_config sc;
    char dev_tmpfs[320];
    char dev_null[160];
    const char *args[] = {"--device", dev_tmpfs, "--device", dev_null, NULL};
    struct iq_ioreqd_spec is = {
        .exe = b->ioreqd,
        .ld_path = b->libdir,
        .log_path = b->log,
        .args = args,
        .ranges = NR_DEVS,
        .timeout_ms = TIMEOUT_MS,
    };
    int st = 0;
    int rc;

    iq_sim_config_default(&sc, IQ_SIM_ARM);
    sc.nr_vcpus = NR_VCPUS;
    sc.ram0_size = RAM0_SIZE;
    rc = iq_sim_create(&sc, &b->sim);
    if (rc == 0) {
        rc = iq_guest_create(b->sim, RAM0, RAM0_SIZE, &b->g);
    }
    if (rc < 0) {
        return rc;
    }
    snprintf(b->log, sizeof(b->log), "%s/ioreqd.log", b->dir);
    snprintf(dev_tmpfs, sizeof(dev_tmpfs),
             "virtio-blk,base=0x%llx,irq=%u,file=%s,queues=1",
             (unsigned long long)WINDOW_BASE, FIRST_SPI, b->image);
    snprintf(dev_null, sizeof(dev_null),
             "virtio-blk,base=0x%llx,irq=%u,file=null:%llu,queues=1",
             (unsigned long long)(WINDOW_BASE + 0x200), FIRST_SPI + 1,
             (unsigned long long)DISK_SIZE);
    rc = iq_spawn_ioreqd(b->sim, &is, &b->pid, &st);
    if (rc == -ECHILD) {
        fprintf(stderr, "bench-blk-sim: ioreqd exited early (0x%x)\n", st);
    }
    return rc;
}

static int
attach_devices(struct bench_ctx *b)
{
    for (unsigned d = 0; d < NR_DEVS; d++) {
        struct iq_vm_dev *dev = NULL;
        int rc = iq_vm_probe(b->g, WINDOW_BASE + 0x200ull * d, FIRST_SPI + d, 0,
                             &dev);

        if (rc == 0 && dev->device_id != 2) {
            rc = -ENODEV;
        }
        if (rc == 0) {
            /* On success b->blk[d] owns dev; on failure we still do. */
            rc = iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, QSIZE, 64u << 10,
                               &b->blk[d]);
            if (rc == 0) {
                dev = NULL;
            }
        }
        if (rc == 0 &&
            !(iq_blk_dev(b->blk[d])->drv_features & IQ_VM_F_EVENT_IDX)) {
            rc = -EPROTO; /* the figures below assume EVENT_IDX */
        }
        iq_vm_free(dev);
        if (rc < 0) {
            return rc;
        }
    }
    for (unsigned i = 0; i < QD_MAX; i++) {
        b->bufs[i] = iq_guest_alloc(b->g, IO_BLOCK, IO_BLOCK);
        if (b->bufs[i] == 0) {
            return -ENOMEM;
        }
        memset(iq_guest_ptr(b->g, b->bufs[i], IO_BLOCK), 0x5a + (int)i,
               IO_BLOCK);
    }
    return 0;
}

static void
stop_daemon(struct bench_ctx *b, bool *ok)
{
    int st = 0;

    if (b->pid <= 0) {
        return;
    }
    if (iq_spawn_stop(&b->pid, SIGTERM, TIMEOUT_MS, &st) < 0) {
        st = -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench-blk-sim: ioreqd exit status 0x%x\n", st);
        *ok = false;
    }
}

/* ---- one configuration -----------------------------------------------------
 */

enum phase { PH_WARM, PH_MEASURE, PH_DRAIN };

/* One configuration's loop state. */
struct run_state {
    unsigned d;
    bool write;
    struct iq_vq *vq;
    uint64_t seed;
    enum phase ph;
    uint64_t t_start;
    uint64_t t0;
    uint64_t t1;
    struct iq_sim_counters c0;
    struct iq_sim_counters c1;
    uint64_t kicks0;
    uint64_t kicks1;
    uint64_t irqs; /* interrupts taken */
    uint64_t irqs0;
    uint64_t irqs1;
    uint64_t counted; /* completions inside the window */
    uint64_t lat_sum;
    unsigned inflight;
};

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static void
submit_one(struct bench_ctx *b, unsigned d, struct bench_req *br, bool write,
           uint64_t *seed, int *rc)
{
    uint64_t blocks = DISK_SIZE / IO_BLOCK;

    br->r.type = write ? IQ_BLK_T_OUT : IQ_BLK_T_IN;
    br->r.sector = (iq_test_xorshift(seed) % blocks) * (IO_BLOCK / 512);
    br->r.data_len = IO_BLOCK;
    br->r.done = false;
    br->t_submit = iq_test_now_ns();
    *rc = iq_blk_submit(b->blk[d], 0, &br->r, true);
}

/* Phase change at time t; counters are read at the same two points. */
static void
advance_phase(struct bench_ctx *b, struct run_state *rs, uint64_t t)
{
    if (rs->ph == PH_WARM && t - rs->t_start >= WARM_MS * 1000000ull) {
        rs->ph = PH_MEASURE;
        iq_sim_counters(b->sim, &rs->c0);
        rs->kicks0 = rs->vq->kicks;
        rs->irqs0 = rs->irqs;
        rs->t0 = t;
    } else if (rs->ph == PH_MEASURE && t - rs->t0 >= RUN_MS * 1000000ull) {
        rs->ph = PH_DRAIN;
        iq_sim_counters(b->sim, &rs->c1);
        rs->kicks1 = rs->vq->kicks;
        rs->irqs1 = rs->irqs;
        rs->t1 = t;
    }
}

/*
 * Reap what the used ring holds: account for it and, until the drain,
 * resubmit each request at once (the kick comes after the batch). 0 or
 * -errno.
 */
static int
reap(struct bench_ctx *b, struct run_state *rs, unsigned *resubmitted)
{
    struct iq_blk_req *done = NULL;
    int rc;

    while ((rc = iq_blk_poll(b->blk[rs->d], 0, &done)) == 1) {
        struct bench_req *br = (struct bench_req *)done;
        uint64_t lat = iq_test_now_ns() - br->t_submit;

        rs->inflight--;
        if (done->status != IQ_BLK_S_OK) {
            return -EIO;
        }
        if (rs->ph == PH_MEASURE) {
            rs->counted++;
            rs->lat_sum += lat;
            if (b->nr_lat < MAX_SAMPLES) {
                b->lat[b->nr_lat++] =
                    lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
            }
        }
        if (rs->ph != PH_DRAIN) {
            submit_one(b, rs->d, br, rs->write, &rs->seed, &rc);
            if (rc < 0) {
                return rc;
            }
            rs->inflight++;
            (*resubmitted)++;
        }
    }
    return rc;
}

/*
 * Interrupt-driven, as Linux's virtio_blk: take the interrupt (ISR read +
 * ACK), reap with callbacks off, re-enable them (used_event) and reap again
 * if entries slipped in, then one kick for the resubmitted batch, which
 * iq_vq_kick skips unless the device's avail_event asks for it.
 */
static int
loop_irq(struct bench_ctx *b, struct run_state *rs)
{
    struct iq_vm_dev *dev = iq_blk_dev(b->blk[rs->d]);
    int rc = 0;

    for (;;) {
        unsigned resubmitted = 0;

        advance_phase(b, rs, iq_test_now_ns());
        if (rs->ph == PH_DRAIN && rs->inflight == 0) {
            return 0;
        }
        rc = iq_vm_take_irq(dev, 0, &b->irq_seen[rs->d], TIMEOUT_MS, NULL);
        if (rc < 0) {
            return rc;
        }
        rs->irqs++;
        do {
            iq_vq_disable_cb(rs->vq);
            rc = reap(b, rs, &resubmitted);
        } while (rc == 0 && !iq_vq_enable_cb(rs->vq));
        if (rc == 0 && resubmitted > 0) {
            rc = iq_blk_kick(b->blk[rs->d], 0);
        }
        if (rc < 0) {
            return rc;
        }
    }
}

/*
 * Polled completions, as a Linux virtio_blk poll queue under io_uring
 * IOPOLL: callbacks stay disabled, the submitter polls the used ring.
 * Interrupts the device raises anyway are still taken (ISR + ACK).
 */
static int
loop_polled(struct bench_ctx *b, struct run_state *rs)
{
    struct iq_vm_dev *dev = iq_blk_dev(b->blk[rs->d]);
    uint64_t deadline = iq_test_now_ns() + (uint64_t)TIMEOUT_MS * 1000000ull;
    int rc = 0;

    iq_vq_disable_cb(rs->vq);
    for (;;) {
        uint64_t t = iq_test_now_ns();
        unsigned resubmitted = 0;

        advance_phase(b, rs, t);
        if (rs->ph == PH_DRAIN && rs->inflight == 0) {
            break;
        }
        rc = iq_vm_take_irq(dev, 0, &b->irq_seen[rs->d], 0, NULL);
        if (rc == 0) {
            rs->irqs++;
        } else if (rc != -EAGAIN) {
            break;
        }
        rc = reap(b, rs, &resubmitted);
        if (rc < 0) {
            break;
        }
        if (resubmitted > 0) {
            deadline = t + (uint64_t)TIMEOUT_MS * 1000000ull;
            rc = iq_blk_kick(b->blk[rs->d], 0);
            if (rc < 0) {
                break;
            }
        } else if (t >= deadline) {
            rc = -ETIMEDOUT;
            break;
        } else {
            sched_yield(); /* two shared cores: let the daemon run */
        }
    }
    (void)iq_vq_enable_cb(rs->vq);
    return rc;
}

/*
 * Keep `qd` requests in flight on device `d` for WARM_MS + RUN_MS. The
 * window opens and closes between two batches, and the counters are read
 * at the same two points, so requests and ioreqs cover the same span.
 */
static int
run_config(struct bench_ctx *b, unsigned d, bool write, unsigned qd,
           bool polled, struct bench_result *res)
{
    struct bench_req reqs[QD_MAX];
    struct run_state rs;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    memset(reqs, 0, sizeof(reqs));
    memset(&rs, 0, sizeof(rs));
    rs.d = d;
    rs.write = write;
    rs.vq = iq_blk_vq(b->blk[d], 0);
    rs.seed =
        0x9e3779b97f4a7c15ull ^ ((uint64_t)qd << 8) ^ d ^ (write ? 0x55u : 0u);
    rs.ph = PH_WARM;
    rs.t_start = iq_test_now_ns();
    b->nr_lat = 0;
    /* Edges left over from the previous run are not ours to take. */
    b->irq_seen[d] = iq_sim_irq_edges(b->sim, iq_blk_dev(b->blk[d])->irq);
    for (unsigned i = 0; i < qd && rc >= 0; i++) {
        reqs[i].r.data_gpa = b->bufs[i];
        submit_one(b, d, &reqs[i], write, &rs.seed, &rc);
        rs.inflight += rc >= 0;
    }
    if (rc >= 0) {
        rc = iq_blk_kick(b->blk[d], 0);
    }
    if (rc >= 0) {
        rc = polled ? loop_polled(b, &rs) : loop_irq(b, &rs);
    }
    if (rc < 0) {
        fprintf(stderr, "bench-blk-sim: %s %s qd%u%s: %s\n", dev_names[d],
                write ? "write" : "read", qd, polled ? " polled" : "",
                strerror(-rc));
        return rc;
    }
    if (rs.counted == 0 || rs.t1 <= rs.t0) {
        return -EIO;
    }
    qsort(b->lat, b->nr_lat, sizeof(b->lat[0]), cmp_u32);
    res->iops = (double)rs.counted * 1e9 / (double)(rs.t1 - rs.t0);
    res->lat_mean_us = (double)rs.lat_sum / (double)rs.counted / 1e3;
    res->lat_p99_us = (double)b->lat[(b->nr_lat * 99) / 100] / 1e3;
    res->ioreqs_per_req =
        (double)(rs.c1.ioreqs_sent - rs.c0.ioreqs_sent) / (double)rs.counted;
    res->fmap_per_req =
        (double)(rs.c1.foreign_map_calls - rs.c0.foreign_map_calls) /
        (double)rs.counted;
    res->kicks_per_req = (double)(rs.kicks1 - rs.kicks0) / (double)rs.counted;
    res->irqs_per_req = (double)(rs.irqs1 - rs.irqs0) / (double)rs.counted;
    return 0;
}

static void
print_result(const char *name, const struct bench_result *r)
{
    printf("BENCH %s_iops %.0f req/s\n", name, r->iops);
    printf("BENCH %s_lat_mean_us %.2f us\n", name, r->lat_mean_us);
    printf("BENCH %s_lat_p99_us %.2f us\n", name, r->lat_p99_us);
    printf("BENCH %s_ioreqs_per_req %.4f ioreqs/req\n", name,
           r->ioreqs_per_req);
    printf("BENCH %s_fmap_per_req %.4f calls/req\n", name, r->fmap_per_req);
    printf("BENCH %s_kicks_per_req %.4f kicks/req\n", name, r->kicks_per_req);
    printf("BENCH %s_irqs_per_req %.4f irqs/req\n", name, r->irqs_per_req);
}

static void
cleanup(struct bench_ctx *b)
{
    (void)iq_spawn_stop(&b->pid, SIGKILL, TIMEOUT_MS, NULL);
    for (unsigned d = 0; d < NR_DEVS; d++) {
        iq_blk_free(b->blk[d]);
    }
    iq_guest_destroy(b->g);
    iq_sim_destroy(b->sim);
    if (b->image[0] != '\0') {
        unlink(b->image);
    }
    if (b->log[0] != '\0') {
        unlink(b->log);
    }
    if (b->dir[0] != '\0') {
        rmdir(b->dir);
    }
    free(b->lat);
}

static void
dump_log(const struct bench_ctx *b)
{
    char *log = b->log[0] != '\0' ? iq_spawn_slurp(b->log) : NULL;

    if (log != NULL) {
        fprintf(stderr, "---- ioreqd log ----\n%s---- end ----\n", log);
        free(log);
    }
}

int
main(int argc, char **argv)
{
    static const unsigned qds[] = {1, QD_MAX};
    struct bench_ctx b;
    struct bench_result null_read[2] = {{0}};
    double pp = 0;
    bool ok = true;
    int rc;

    memset(&b, 0, sizeof(b));
    b.pid = -1;
    b.ioreqd = argc > 1 ? argv[1] : IQ_BENCH_IOREQD;
    b.libdir = argc > 2 ? argv[2] : IQ_BENCH_FAKELIB;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    b.lat = calloc(MAX_SAMPLES, sizeof(*b.lat));
    rc = b.lat == NULL ? -ENOMEM : make_dir(&b);
    if (rc == 0) {
        rc = make_image(&b);
    }
    if (rc == 0 && !b.have_tmpfs) {
        fprintf(stderr,
                "bench-blk-sim: no tmpfs found; the image is on %s "
                "(blk_file_*)\n",
                b.dir);
    }
    if (rc == 0) {
        rc = start_daemon(&b);
    }
    if (rc == 0) {
        rc = attach_devices(&b);
    }
    if (rc < 0) {
        fprintf(stderr, "bench-blk-sim: setup: %s\n", strerror(-rc));
        dump_log(&b);
        cleanup(&b);
        return 1;
    }

    for (unsigned d = 0; d < NR_DEVS && ok; d++) {
        if (d == DEV_NULL) {
            /*
             * Right before the null runs it is compared with, so that a
             * change in the machine's load during the run hits both alike.
             */
            pp = iq_test_pingpong_rate(PINGPONG_MS);
            if (pp <= 0) {
                fprintf(stderr, "bench-blk-sim: ping-pong: %s\n",
                        strerror((int)-pp));
                ok = false;
                break;
            }
            printf("BENCH eventfd_pingpong %.0f roundtrips/s\n", pp);
        }
        for (unsigned w = 0; w < 2 && ok; w++) {
            for (unsigned q = 0; q < 2 && ok; q++) {
                struct bench_result r;
                char name[64];

                rc = run_config(&b, d, w == 1, qds[q], false, &r);
                if (rc < 0) {
                    ok = false;
                    break;
                }
                /* Not on tmpfs after all: do not call it tmpfs. */
                snprintf(name, sizeof(name), "blk_%s_%s_qd%u",
                         d == DEV_TMPFS && !b.have_tmpfs ? "file"
                                                         : dev_names[d],
                         w ? "write" : "read", qds[q]);
                print_result(name, &r);
                if (d == DEV_NULL && w == 0) {
                    null_read[q] = r;
                }
            }
        }
    }
    /*
     * The same null QD32 reads with polled completions (no interrupts):
     * what is left is the kick per batch, for comparison with the target.
     */
    if (ok) {
        struct bench_result r;

        rc = run_config(&b, DEV_NULL, false, QD_MAX, true, &r);
        if (rc < 0) {
            ok = false;
        } else {
            print_result("blk_null_read_qd32_polled", &r);
        }
    }
    if (ok) {
        /*
         * QD1 is the comparable figure: each request is a strictly
         * serial chain (kick, device work, interrupt, ISR read + ACK) with
         * nothing overlapping, so, like one ping-pong round trip, its rate
         * is bounded by wake-up latency; the ratio is the fraction of the
         * bare bound left after the ioreq path and the device (at best
         * about 1/4 with 3 ioreqs and an interrupt per request). At QD32
         * requests share kicks and interrupts, so that ratio measures
         * batching and may exceed 1.
         */
        printf("BENCH blk_null_read_qd1_vs_pingpong %.4f ratio\n",
               null_read[0].iops / pp);
        printf("BENCH blk_null_read_qd32_vs_pingpong %.4f ratio\n",
               null_read[1].iops / pp);
    }
    stop_daemon(&b, &ok);
    if (!ok) {
        dump_log(&b);
    }
    cleanup(&b);
    return ok ? 0 : 1;
}
