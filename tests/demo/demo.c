/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iq-demo (`make demo`): a simulated Arm guest drives the real ioreqd
 * binary on the fake Xen. It probes every virtio-mmio device as Linux
 * does, writes and verifies a pattern on virtio-blk, measures 4 KiB random
 * reads at QD1 and QD32, reads virtio-rng, echoes through virtio-console,
 * and prints a summary. Exit status 0 only if everything verified.
 *
 * Usage: iq-demo [IOREQD_PATH [FAKE_XEN_LIB_DIR]]; the defaults are baked
 * in at build time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#ifndef IQ_DEMO_IOREQD
#define IQ_DEMO_IOREQD "ioreqd"
#endif
#ifndef IQ_DEMO_FAKELIB
#define IQ_DEMO_FAKELIB "."
#endif

#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (256ull << 20)
#define NR_VCPUS 4u
#define WINDOW_BASE 0x2000000ull /* GUEST_VIRTIO_MMIO_BASE */
#define WINDOW_SLOTS 8u
#define FIRST_SPI 33u
#define DISK_SIZE (64ull << 20)
#define PATTERN_LEN (16u << 20)
#define CHUNK (1u << 20)
#define IO_BLOCK 4096u
#define QD_MAX 32u
#define BENCH_MS 1000u
#define TIMEOUT_MS 10000u

struct demo {
    const char *ioreqd;
    const char *libdir;
    char dir[64];
    char disk[128];
    char log[128];
    char sock[128];
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t pid;
    bool ok;
    struct iq_vm_dev *found[WINDOW_SLOTS];
    struct iq_blk *blk;
    struct iq_vm_dev *rng;
    struct iq_vm_dev *con;
};

static void check(struct demo *d, bool cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
check(struct demo *d, bool cond, const char *fmt, ...)
{
    va_list ap;

    if (cond) {
        return;
    }
    d->ok = false;
    fprintf(stderr, "iq-demo: FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const char *
dev_name(uint32_t id)
{
    switch (id) {
    case 1:
        return "virtio-net";
    case 2:
        return "virtio-blk";
    case 3:
        return "virtio-console";
    case 4:
        return "virtio-rng";
    default:
        return "virtio-?";
    }
}

static void
vendor_str(uint32_t v, char out[5])
{
    for (unsigned i = 0; i < 4; i++) {
        char c = (char)(v >> (8 * i));

        out[i] = (c >= 0x20 && c < 0x7f) ? c : '.';
    }
    out[4] = '\0';
}

static int
start(struct demo *d)
{
    struct iq_sim_config sc;
    char blk[256];
    char rng[96];
    char con[256];
    const char *args[] = {"--log-level", "info",     "--device",
                          blk,           "--device", rng,
                          "--device",    con,        NULL};
    struct iq_ioreqd_spec is = {
        .exe = d->ioreqd,
        .ld_path = d->libdir,
        .log_path = d->log,
        .args = args,
        .ranges = 3,
        .timeout_ms = TIMEOUT_MS,
    };
    int st = 0;
    int fd;
    int rc;

    snprintf(d->dir, sizeof(d->dir), "/tmp/iq-demo-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        return -errno;
    }
    snprintf(d->disk, sizeof(d->disk), "%s/disk.img", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/ioreqd.log", d->dir);
    snprintf(d->sock, sizeof(d->sock), "%s/console.sock", d->dir);
    fd = open(d->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)DISK_SIZE) < 0) {
        rc = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return rc;
    }
    close(fd);

    iq_sim_config_default(&sc, IQ_SIM_ARM);
    sc.nr_vcpus = NR_VCPUS;
    sc.ram0_size = RAM0_SIZE;
    rc = iq_sim_create(&sc, &d->sim);
    if (rc < 0) {
        return rc;
    }
    rc = iq_guest_create(d->sim, RAM0, RAM0_SIZE, &d->g);
    if (rc < 0) {
        return rc;
    }
    snprintf(blk, sizeof(blk),
             "virtio-blk,base=0x%llx,irq=%u,file=%s,queues=2,"
             "serial=iq-demo-disk0",
             (unsigned long long)WINDOW_BASE, FIRST_SPI, d->disk);
    snprintf(rng, sizeof(rng), "virtio-rng,base=0x%llx,irq=%u",
             (unsigned long long)(WINDOW_BASE + 0x200), FIRST_SPI + 1);
    snprintf(con, sizeof(con),
             "virtio-console,base=0x%llx,irq=%u,backend=socket:%s",
             (unsigned long long)(WINDOW_BASE + 0x400), FIRST_SPI + 2, d->sock);
    rc = iq_spawn_ioreqd(d->sim, &is, &d->pid, &st);
    if (rc == -ECHILD) {
        fprintf(stderr, "iq-demo: ioreqd exited early (status 0x%x)\n", st);
    }
    return rc;
}

/* Walk the virtio-mmio window slot by slot, like Linux's DT probe. */
static void
probe_all(struct demo *d)
{
    printf("Devices found (virtio-mmio probe in Linux order: magic, "
           "version, device id, vendor):\n");
    for (unsigned i = 0; i < WINDOW_SLOTS; i++) {
        uint64_t base = WINDOW_BASE + 0x200ull * i;
        struct iq_vm_dev *dev = NULL;
        char vendor[5];
        int rc = iq_vm_probe(d->g, base, FIRST_SPI + i, 0, &dev);

        if (rc < 0) {
            /* Past the last device: Xen would inject a data abort. */
            continue;
        }
        vendor_str(dev->vendor_id, vendor);
        printf("  0x%08llx  irq %u  %-15s id %u  version %u  vendor %s\n",
               (unsigned long long)base, dev->irq, dev_name(dev->device_id),
               dev->device_id, dev->version, vendor);
        d->found[i] = dev;
    }
}

static void
show_features(struct iq_vm_dev *dev)
{
    static const struct {
        unsigned bit;
        uint32_t device_id; /* 0: transport feature */
        const char *name;
    } names[] = {
        {1, 2, "SIZE_MAX"},         {2, 2, "SEG_MAX"},    {5, 2, "RO"},
        {6, 2, "BLK_SIZE"},         {9, 2, "FLUSH"},      {10, 2, "TOPOLOGY"},
        {11, 2, "CONFIG_WCE"},      {12, 2, "MQ"},        {13, 2, "DISCARD"},
        {14, 2, "WRITE_ZEROES"},    {0, 3, "SIZE"},       {1, 3, "MULTIPORT"},
        {28, 0, "INDIRECT_DESC"},   {29, 0, "EVENT_IDX"}, {32, 0, "VERSION_1"},
        {33, 0, "ACCESS_PLATFORM"},
    };

    printf("    features: device 0x%016" PRIx64 "  negotiated 0x%016" PRIx64
           "\n    negotiated:",
           dev->dev_features, dev->drv_features);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((names[i].device_id == 0 || names[i].device_id == dev->device_id) &&
            (dev->drv_features & (1ull << names[i].bit))) {
            printf(" %s", names[i].name);
        }
    }
    printf("\n");
}

/* ---- virtio-blk -----------------------------------------------------------
 */

static void
fill_pattern(uint8_t *p, size_t len, uint64_t off)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull ^ 0x10adb10cull;

        memcpy(p + i, &v, 8);
    }
}

struct bench {
    double iops;
    double ioreqs_per_req;
    double maps_per_req;
    uint64_t ops;
    bool ok;
};

/* 4 KiB random reads on queue 0 at `qd` for about BENCH_MS. */
static void
bench_reads(struct demo *d, unsigned qd, const uint64_t *bufs,
            struct bench *out)
{
    struct iq_blk_req req[QD_MAX];
    struct iq_sim_counters c0;
    struct iq_sim_counters c1;
    uint64_t seed = 0x1234567u + qd;
    uint64_t sectors = DISK_SIZE / 512;
    uint64_t t0;
    uint64_t deadline;
    uint64_t done = 0;
    unsigned inflight = 0;
    bool stop = false;

    memset(out, 0, sizeof(*out));
    out->ok = true;
    iq_sim_counters(d->sim, &c0);
    t0 = iq_test_now_ns();
    deadline = t0 + (uint64_t)BENCH_MS * 1000000ull;
    for (unsigned i = 0; i < qd; i++) {
        req[i] = (struct iq_blk_req){
            .type = IQ_BLK_T_IN,
            .sector = (iq_test_xorshift(&seed) % (sectors / 8)) * 8,
            .data_gpa = bufs[i],
            .data_len = IO_BLOCK,
        };
        if (iq_blk_submit(d->blk, 0, &req[i], true) < 0) {
            out->ok = false;
            return;
        }
        inflight++;
    }
    if (iq_blk_kick(d->blk, 0) < 0) {
        out->ok = false;
        return;
    }
    while (inflight > 0) {
        struct iq_blk_req *r = NULL;
        unsigned resubmitted = 0;
        int rc = iq_blk_wait(d->blk, 0, TIMEOUT_MS, &r);

        /* Reap every completion available, resubmit them, kick once. */
        while (rc == 1 || rc == 0) {
            inflight--;
            done++;
            if (r->status != IQ_BLK_S_OK) {
                out->ok = false;
            }
            if (!stop && (done % 64 == 0) && iq_test_now_ns() >= deadline) {
                stop = true;
            }
            if (!stop) {
                r->sector = (iq_test_xorshift(&seed) % (sectors / 8)) * 8;
                if (iq_blk_submit(d->blk, 0, r, true) < 0) {
                    out->ok = false;
                    return;
                }
                inflight++;
                resubmitted++;
            }
            rc = iq_blk_poll(d->blk, 0, &r);
            if (rc == 0) {
                break;
            }
            rc = 1;
        }
        if (rc < 0) {
            out->ok = false;
            return;
        }
        if (resubmitted > 0 && iq_blk_kick(d->blk, 0) < 0) {
            out->ok = false;
            return;
        }
    }
    iq_sim_counters(d->sim, &c1);
    out->ops = done;
    out->iops = (double)done * 1e9 / (double)(iq_test_now_ns() - t0);
    out->ioreqs_per_req =
        (double)(c1.ioreqs_sent - c0.ioreqs_sent) / (double)done;
    out->maps_per_req =
        (double)(c1.foreign_map_calls - c0.foreign_map_calls) / (double)done;
}

static void
run_blk(struct demo *d, struct iq_vm_dev *dev)
{
    const struct iq_blk_config *bc;
    uint8_t *chunk = malloc(CHUNK);
    uint8_t *back = malloc(CHUNK);
    uint64_t bufs[QD_MAX];
    uint64_t verified = 0;
    struct bench b1;
    struct bench b32;
    char id[21] = "";
    uint8_t st = 0xff;
    uint64_t t0;
    double wsec;
    double rsec;
    int rc;

    if (chunk == NULL || back == NULL) {
        check(d, false, "out of memory");
        goto out;
    }
    rc = iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 2, 256, CHUNK, &d->blk);
    check(d, rc == 0, "virtio-blk bring-up: %s", strerror(-rc));
    if (rc < 0) {
        goto out;
    }
    bc = iq_blk_config(d->blk);
    printf("\nvirtio-blk: %" PRIu64 " sectors (%" PRIu64 " MiB), block %u, "
           "%u queue(s)\n",
           bc->capacity, bc->capacity >> 11, bc->blk_size,
           iq_blk_nr_queues(d->blk));
    show_features(dev);
    check(d, bc->capacity == DISK_SIZE / 512, "capacity %" PRIu64,
          bc->capacity);
    rc = iq_blk_get_id(d->blk, 0, id, &st);
    check(d, rc == 0 && st == IQ_BLK_S_OK && strcmp(id, "iq-demo-disk0") == 0,
          "GET_ID returned '%s'", id);
    printf("    serial (GET_ID): \"%s\"\n", id);

    /* Write the pattern, alternating queues, then FLUSH. */
    t0 = iq_test_now_ns();
    for (uint64_t off = 0; off < PATTERN_LEN && d->ok; off += CHUNK) {
        fill_pattern(chunk, CHUNK, off);
        rc = iq_blk_write(d->blk, (unsigned)((off / CHUNK) % 2), off / 512,
                          chunk, CHUNK, &st);
        check(d, rc == 0 && st == IQ_BLK_S_OK, "write at %" PRIu64, off);
    }
    rc = iq_blk_flush(d->blk, 0, &st);
    check(d, rc == 0 && st == IQ_BLK_S_OK, "flush");
    wsec = (double)(iq_test_now_ns() - t0) / 1e9;
    t0 = iq_test_now_ns();
    for (uint64_t off = 0; off < PATTERN_LEN && d->ok; off += CHUNK) {
        rc = iq_blk_read(d->blk, (unsigned)((off / CHUNK + 1) % 2), off / 512,
                         back, CHUNK, &st);
        fill_pattern(chunk, CHUNK, off);
        check(d,
              rc == 0 && st == IQ_BLK_S_OK && memcmp(chunk, back, CHUNK) == 0,
              "read-back mismatch at %" PRIu64, off);
        if (d->ok) {
            verified += CHUNK;
        }
    }
    rsec = (double)(iq_test_now_ns() - t0) / 1e9;
    printf("    wrote %u MiB pattern (%.0f MiB/s), FLUSH ok, read back and "
           "verified %" PRIu64 " bytes (%.0f MiB/s)\n",
           PATTERN_LEN >> 20, (PATTERN_LEN >> 20) / wsec, verified,
           (PATTERN_LEN >> 20) / rsec);
    check(d, verified == PATTERN_LEN, "verified %" PRIu64 " bytes", verified);
    if (!d->ok) {
        goto out;
    }
    for (unsigned i = 0; i < QD_MAX; i++) {
        bufs[i] = iq_guest_alloc(d->g, IO_BLOCK, IO_BLOCK);
        check(d, bufs[i] != 0, "guest RAM exhausted");
    }
    if (!d->ok) {
        goto out;
    }
    bench_reads(d, 1, bufs, &b1);
    bench_reads(d, QD_MAX, bufs, &b32);
    check(d, b1.ok && b32.ok, "random-read benchmark failed");
    printf("    4 KiB random reads, QD1 : %8.0f IOPS  (%.2f ioreqs, %.3f "
           "foreign maps per request; %" PRIu64 " requests)\n",
           b1.iops, b1.ioreqs_per_req, b1.maps_per_req, b1.ops);
    printf("    4 KiB random reads, QD32: %8.0f IOPS  (%.2f ioreqs, %.3f "
           "foreign maps per request; %" PRIu64 " requests)\n",
           b32.iops, b32.ioreqs_per_req, b32.maps_per_req, b32.ops);
out:
    free(chunk);
    free(back);
}

/* ---- virtio-rng / virtio-console ------------------------------------------
 */

static void
run_rng(struct demo *d, struct iq_vm_dev *dev)
{
    uint8_t buf[64];
    bool nonzero = false;
    int n = 0;
    int rc = iq_vm_init(dev, IQ_VM_F_EVENT_IDX | IQ_VM_F_INDIRECT_DESC, 1, 0);

    check(d, rc == 0, "virtio-rng bring-up: %s", strerror(-rc));
    if (rc < 0) {
        return;
    }
    /* The device may return fewer bytes (or 0 before the pool is ready). */
    for (unsigned tries = 0; tries < 8 && n < (int)sizeof(buf); tries++) {
        rc = iq_rng_read(dev, buf + n, sizeof(buf) - (size_t)n);
        check(d, rc >= 0, "virtio-rng read: %s", strerror(-rc));
        if (rc < 0) {
            return;
        }
        n += rc;
    }
    for (int i = 0; i < n; i++) {
        nonzero = nonzero || buf[i] != 0;
    }
    check(d, n == (int)sizeof(buf) && nonzero, "virtio-rng gave %d bytes", n);
    printf("\nvirtio-rng: read %d bytes:", n);
    for (int i = 0; i < 16 && i < n; i++) {
        printf(" %02x", buf[i]);
    }
    printf(" ...\n");
    show_features(dev);
}

static int
connect_console(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {2, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -errno;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;

        close(fd);
        return rc;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void
run_console(struct demo *d, struct iq_vm_dev *dev)
{
    static const char to_guest[] = "hello guest, this is dom0\n";
    static const char to_host[] = "hello dom0, this is the guest\n";
    char buf[128];
    size_t got = 0;
    int fd;
    int rc = iq_vm_init(dev, 0, 2, 0);

    check(d, rc == 0, "virtio-console bring-up: %s", strerror(-rc));
    if (rc < 0) {
        return;
    }
    fd = connect_console(d->sock);
    check(d, fd >= 0, "cannot connect to %s: %s", d->sock, strerror(-fd));
    if (fd < 0) {
        return;
    }
    /* Host to guest first: once the guest has it, the client is accepted. */
    check(d,
          write(fd, to_guest, sizeof(to_guest) - 1) ==
              (ssize_t)(sizeof(to_guest) - 1),
          "console socket write");
    while (got < sizeof(to_guest) - 1 && d->ok) {
        rc = iq_con_recv(dev, buf + got, sizeof(buf) - 1 - got, 3000);
        check(d, rc > 0, "console receive: %s", strerror(-rc));
        if (rc > 0) {
            got += (size_t)rc;
        }
    }
    buf[got] = '\0';
    check(d, strcmp(buf, to_guest) == 0, "guest received '%s'", buf);
    if (d->ok) {
        rc = iq_con_send(dev, to_host, sizeof(to_host) - 1);
        check(d, rc == 0, "console send: %s", strerror(-rc));
        got = 0;
        while (d->ok && got < sizeof(to_host) - 1) {
            ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

            check(d, n > 0, "console socket read");
            if (n > 0) {
                got += (size_t)n;
            }
        }
        buf[got] = '\0';
        check(d, strcmp(buf, to_host) == 0, "dom0 received '%s'", buf);
    }
    close(fd);
    printf("\nvirtio-console: dom0 -> guest \"%.*s\" ok, guest -> dom0 "
           "\"%.*s\" ok\n",
           (int)sizeof(to_guest) - 2, to_guest, (int)sizeof(to_host) - 2,
           to_host);
    show_features(dev);
}

/* ---- shutdown and summary ---------------------------------------------------
 */

static void
stop(struct demo *d)
{
    struct iq_sim_counters c;
    uint64_t hits;
    uint64_t misses;
    char *log;
    int st = 0;

    if (d->pid <= 0) {
        return;
    }
    if (iq_spawn_stop(&d->pid, SIGTERM, TIMEOUT_MS, &st) < 0) {
        check(d, false, "ioreqd did not stop on SIGTERM");
    }
    check(d, WIFEXITED(st) && WEXITSTATUS(st) == 0, "ioreqd exit status 0x%x",
          st);
    check(d, iq_spawn_wait_clean(d->sim, 2000, &c) == 0,
          "fake Xen not clean after shutdown");
    log = iq_spawn_slurp(d->log);
    printf("\nDaemon statistics (logged by ioreqd at exit):\n");
    if (log != NULL) {
        hits = iq_test_log_field(log, "stats: mapcache", "hits=");
        misses = iq_test_log_field(log, "stats: mapcache", "misses=");
        if (hits != UINT64_MAX && misses != UINT64_MAX && hits + misses > 0) {
            printf("  mapcache: %" PRIu64 " hits, %" PRIu64 " misses, hit "
                   "rate %.2f%%, %" PRIu64 " evictions, peak %" PRIu64
                   " KiB mapped\n",
                   hits, misses, 100.0 * (double)hits / (double)(hits + misses),
                   iq_test_log_field(log, "stats: mapcache", "evictions="),
                   iq_test_log_field(log, "stats: mapcache", "peak=") >> 10);
        } else {
            check(d, false, "no mapcache statistics in the daemon log");
        }
        printf("  ioreq: %" PRIu64 " requests answered, %" PRIu64
               " unclaimed, %" PRIu64 " guest-memory errors\n",
               iq_test_log_field(log, "stats: ioreq", "ioreqs="),
               iq_test_log_field(log, "stats: ioreq", "unclaimed="),
               iq_test_log_field(log, "stats: ioreq", "gmem_errors="));
    }
    printf("  fake Xen after shutdown: %" PRIu64 " servers, %" PRIu64
           " event channels, %" PRIu64 " foreign pages, %" PRIu64
           " ioreq pages mapped; %" PRIu64 " foreign map calls in total\n",
           c.servers_now, c.evtchn_bound_now, c.foreign_pages_now,
           c.resource_maps_now, c.foreign_map_calls);
    if (!d->ok && log != NULL) {
        fprintf(stderr, "---- ioreqd log ----\n%s---- end ----\n", log);
    }
    free(log);
}

static void
cleanup(struct demo *d)
{
    char cmd[128];

    (void)iq_spawn_stop(&d->pid, SIGKILL, TIMEOUT_MS, NULL);
    if (d->blk != NULL) {
        struct iq_vm_dev *owned = iq_blk_dev(d->blk);

        for (unsigned i = 0; i < WINDOW_SLOTS; i++) {
            if (d->found[i] == owned) {
                d->found[i] = NULL;
            }
        }
        iq_blk_free(d->blk); /* frees its device too */
    }
    for (unsigned i = 0; i < WINDOW_SLOTS; i++) {
        iq_vm_free(d->found[i]);
    }
    iq_guest_destroy(d->g);
    iq_sim_destroy(d->sim);
    if (strncmp(d->dir, "/tmp/iq-demo-", 13) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "iq-demo: could not remove %s\n", d->dir);
        }
    }
}

int
main(int argc, char **argv)
{
    struct demo d;
    unsigned nblk = 0;
    unsigned nrng = 0;
    unsigned ncon = 0;
    int rc;

    memset(&d, 0, sizeof(d));
    d.ok = true;
    d.pid = -1;
    d.ioreqd = argc > 1 ? argv[1] : IQ_DEMO_IOREQD;
    d.libdir = argc > 2 ? argv[2] : IQ_DEMO_FAKELIB;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("ioreqd demo: a simulated Arm guest (%u vCPUs, %llu MiB RAM) on "
           "the fake Xen\n",
           NR_VCPUS, (unsigned long long)(RAM0_SIZE >> 20));
    rc = start(&d);
    if (rc < 0) {
        fprintf(stderr, "iq-demo: cannot start: %s\n", strerror(-rc));
        d.ok = false;
        if (d.log[0] != '\0') {
            char *log = iq_spawn_slurp(d.log);

            if (log != NULL) {
                fprintf(stderr, "---- ioreqd log ----\n%s---- end ----\n", log);
                free(log);
            }
        }
        cleanup(&d);
        return 1;
    }
    printf("daemon: %s (pid %ld), fake Xen libraries from %s\n\n", d.ioreqd,
           (long)d.pid, d.libdir);
    probe_all(&d);
    for (unsigned i = 0; i < WINDOW_SLOTS; i++) {
        struct iq_vm_dev *dev = d.found[i];

        if (dev == NULL || !d.ok) {
            continue;
        }
        if (dev->device_id == 2 && nblk++ == 0) {
            run_blk(&d, dev);
        } else if (dev->device_id == 4 && nrng++ == 0) {
            run_rng(&d, dev);
        } else if (dev->device_id == 3 && ncon++ == 0) {
            run_console(&d, dev);
        }
    }
    check(&d, nblk == 1 && nrng == 1 && ncon == 1,
          "expected one blk, rng and console (found %u, %u, %u)", nblk, nrng,
          ncon);
    stop(&d);
    printf("\nRESULT: %s\n", d.ok ? "PASS (everything verified)" : "FAIL");
    cleanup(&d);
    return d.ok ? 0 : 1;
}
