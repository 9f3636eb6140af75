/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration tests through the production ioreqd binary on the fake Xen:
 * the simulated guest's drivers (tests/sim/lib) talk to the real daemon
 * process, which finds the simulator through IQ_FAKEXEN_SOCK and the fake
 * Xen libraries through LD_LIBRARY_PATH (set by meson for this test).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#ifndef IQ_IOREQD_PATH
#error "IQ_IOREQD_PATH must be set by meson"
#endif

#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (256ull << 20)
#define BLK_BASE 0x2000000ull
#define BLK_IRQ 33u
#define RNG_BASE 0x2000200ull
#define RNG_IRQ 34u
#define DISK_SIZE (8ull << 20)
#define WAIT_MS 10000u

struct hx {
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t pid;
    char dir[64];
    char log[128];
    char disk[128];
    bool dumped;
    bool x86;
};

/* ---- harness ------------------------------------------------------------- */

static void
dump_log(struct hx *h)
{
    char *text;

    if (h->dumped || h->log[0] == '\0') {
        return;
    }
    h->dumped = true;
    text = iq_spawn_slurp(h->log);
    if (text != NULL) {
        fprintf(stderr, "---- ioreqd log (%s) ----\n%s---- end ----\n", h->log,
                text);
        free(text);
    }
}

/* A fresh simulator, temp dir and disk image (random data, reference). */
static void
hx_init_arch(struct hx *h, bool x86, unsigned vcpus, uint8_t *ref,
             size_t disk_len)
{
    struct iq_sim_config sc;

    memset(h, 0, sizeof(*h));
    h->x86 = x86;
    h->pid = -1;
    snprintf(h->dir, sizeof(h->dir), "/tmp/iq-simd-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    snprintf(h->log, sizeof(h->log), "%s/ioreqd.log", h->dir);
    snprintf(h->disk, sizeof(h->disk), "%s/disk.img", h->dir);
    if (ref != NULL) {
        int fd = open(h->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);

        assert_true(fd >= 0);
        iq_test_fill_random(ref, disk_len, 0x1234);
        assert_int_equal(pwrite(fd, ref, disk_len, 0), (ssize_t)disk_len);
        close(fd);
    }
    iq_sim_config_default(&sc, x86 ? IQ_SIM_X86 : IQ_SIM_ARM);
    sc.nr_vcpus = vcpus;
    sc.ram0_size = RAM0_SIZE;
    sc.timeout_ms = 30000; /* generous: the machine may be loaded */
    assert_int_equal(iq_sim_create(&sc, &h->sim), 0);
    if (x86) {
        /* x86 RAM0 starts at 0; stay above the legacy hole. */
        assert_int_equal(iq_guest_create(h->sim, 16ull << 20,
                                         RAM0_SIZE - (16ull << 20), &h->g),
                         0);
    } else {
        assert_int_equal(iq_guest_create(h->sim, RAM0, RAM0_SIZE, &h->g), 0);
    }
}

static void
hx_init(struct hx *h, unsigned vcpus, uint8_t *ref, size_t disk_len)
{
    hx_init_arch(h, false, vcpus, ref, disk_len);
}

/*
 * Start ioreqd for the sim's domain with the given extra arguments (NULL
 * ended) and wait until `ranges` MMIO ranges are mapped.
 */
static void
hx_start(struct hx *h, uint64_t ranges, ...)
{
    const char *args[27] = {"--log-level", "info"};
    unsigned n = 2;
    const char *a;
    va_list ap;
    struct iq_ioreqd_spec is = {
        .exe = IQ_IOREQD_PATH,
        .log_path = h->log,
        .x86 = h->x86,
        .args = args,
        .ranges = ranges,
        .timeout_ms = WAIT_MS,
    };
    int st = 0;
    int rc;

    va_start(ap, ranges);
    while ((a = va_arg(ap, const char *)) != NULL && n < 26) {
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    rc = iq_spawn_ioreqd(h->sim, &is, &h->pid, &st);
    if (rc < 0) {
        dump_log(h);
        fail_msg("ioreqd not ready: %s (status 0x%x)", strerror(-rc), st);
    }
}

/* Stop with `sig`, reap, return the wait status. */
static int
hx_stop(struct hx *h, int sig)
{
    int st = 0;

    assert_true(h->pid > 0);
    assert_int_equal(kill(h->pid, sig), 0);
    if (iq_spawn_wait(h->pid, WAIT_MS, &st) < 0) {
        kill(h->pid, SIGKILL);
        (void)iq_spawn_wait(h->pid, WAIT_MS, &st);
        h->pid = -1;
        dump_log(h);
        fail_msg("ioreqd did not exit after signal %d", sig);
    }
    h->pid = -1;
    return st;
}

/* `sig`, exit status 0, and nothing left behind in the fake. */
static void
hx_stop_clean_sig(struct hx *h, int sig)
{
    struct iq_sim_counters c;
    int st = hx_stop(h, sig);

    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        dump_log(h);
        fail_msg("ioreqd exit status 0x%x after signal %d", st, sig);
    }
    if (iq_spawn_wait_clean(h->sim, 2000, &c) < 0) {
        dump_log(h);
        fail_msg("fake not clean: servers %llu evtchn %llu foreign pages "
                 "%llu resource maps %llu",
                 (unsigned long long)c.servers_now,
                 (unsigned long long)c.evtchn_bound_now,
                 (unsigned long long)c.foreign_pages_now,
                 (unsigned long long)c.resource_maps_now);
    }
}

static void
hx_stop_clean(struct hx *h)
{
    hx_stop_clean_sig(h, SIGTERM);
}

static void
hx_fini(struct hx *h)
{
    char cmd[160];

    if (h->sim == NULL && h->dir[0] == '\0') {
        return; /* never initialised, or already finished */
    }

    (void)iq_spawn_stop(&h->pid, SIGKILL, WAIT_MS, NULL);
    iq_guest_destroy(h->g);
    h->g = NULL;
    iq_sim_destroy(h->sim);
    h->sim = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
    if (strncmp(h->dir, "/tmp/iq-simd-", 13) == 0) {
        int rc = system(cmd);

        (void)rc;
    }
    h->dir[0] = '\0';
}

/* Each test gets a struct hx; teardown cleans up even after a failure. */
static int
hx_setup(void **state)
{
    struct hx *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        return -1;
    }
    h->pid = -1;
    *state = h;
    return 0;
}

static int
hx_teardown(void **state)
{
    struct hx *h = *state;

    hx_fini(h);
    free(h);
    return 0;
}

static char *
blk_arg(struct hx *h, char *buf, size_t len, const char *extra)
{
    snprintf(buf, len, "virtio-blk,base=0x%llx,irq=%u,file=%s%s",
             (unsigned long long)BLK_BASE, BLK_IRQ, h->disk, extra);
    return buf;
}

static char *
rng_arg(char *buf, size_t len)
{
    snprintf(buf, len, "virtio-rng,base=0x%llx,irq=%u",
             (unsigned long long)RNG_BASE, RNG_IRQ);
    return buf;
}

static struct iq_blk *
attach_blk(struct hx *h, unsigned queues, uint16_t qsize, uint64_t want)
{
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;

    assert_int_equal(iq_vm_probe(h->g, BLK_BASE, BLK_IRQ, 0, &dev), 0);
    assert_int_equal(dev->device_id, 2);
    assert_int_equal(iq_blk_attach(dev, want, queues, qsize, 0, &blk), 0);
    return blk;
}

static void
read_file(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

/* ---- scenarios ------------------------------------------------------------
 */

/* Probe order, negotiation, config space, reset and re-initialisation. */
static void
test_probe_negotiate_reset(void **state)
{
    struct hx *h = *state;
    char a1[256];
    char a2[64];
    struct iq_vm_dev *rng = NULL;
    struct iq_blk *blk;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t buf[4096];
    uint32_t v = 0;
    uint64_t raw = 0;
    char id[21];
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 2, "--device", blk_arg(h, a1, sizeof(a1), ",serial=IQSIM0001"),
             "--device", rng_arg(a2, sizeof(a2)), NULL);

    /* The identity registers, as virtio_mmio_probe reads them. */
    assert_int_equal(iq_vm_probe(h->g, RNG_BASE, RNG_IRQ, 1, &rng), 0);
    assert_int_equal(rng->version, 2);
    assert_int_equal(rng->device_id, 4);
    assert_int_equal(rng->vendor_id, 0x44514f49); /* "IOQD" */

    /* Nothing answers beyond the 0x200 windows: a data abort on Arm. */
    assert_int_equal(iq_sim_mmio_read(h->sim, 0, RNG_BASE + 0x200, 4, &raw),
                     -EFAULT);

    blk = attach_blk(h, 1, 128, IQ_BLK_WANT_DEFAULT);
    {
        struct iq_vm_dev *dev = iq_blk_dev(blk);
        const struct iq_blk_config *bc = iq_blk_config(blk);

        assert_true(dev->dev_features & IQ_VM_F_VERSION_1);
        assert_true(dev->drv_features & IQ_BLK_F_FLUSH);
        assert_false(dev->drv_features & IQ_BLK_F_RO);
        assert_int_equal(bc->capacity, DISK_SIZE / 512);
        assert_int_equal(bc->blk_size, 512);
        assert_int_equal(iq_vm_get_status(dev, &v), 0);
        assert_int_equal(v, IQ_VM_S_ACKNOWLEDGE | IQ_VM_S_DRIVER |
                                IQ_VM_S_FEATURES_OK | IQ_VM_S_DRIVER_OK);
    }
    assert_int_equal(iq_blk_get_id(blk, 0, id, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_string_equal(id, "IQSIM0001");
    assert_int_equal(iq_blk_read(blk, 0, 8, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref + 8 * 512, sizeof(buf));

    /* Reset: status reads 0, queues read not ready, then bring it up again. */
    {
        struct iq_vm_dev *dev = iq_blk_dev(blk);

        assert_int_equal(iq_vm_reset(dev), 0);
        assert_int_equal(iq_vm_write(dev, IQ_VM_QUEUE_SEL, 0), 0);
        assert_int_equal(iq_vm_read(dev, IQ_VM_QUEUE_READY, &v), 0);
        assert_int_equal(v, 0);
        /* FEATURES_OK is refused for features the device never offered. */
        assert_int_equal(
            iq_vm_set_status(dev, IQ_VM_S_ACKNOWLEDGE | IQ_VM_S_DRIVER), 0);
        assert_int_equal(iq_vm_write(dev, IQ_VM_DRIVER_FEATURES_SEL, 0), 0);
        assert_int_equal(
            iq_vm_write(dev, IQ_VM_DRIVER_FEATURES, (uint32_t)(1u << 27)), 0);
        assert_int_equal(iq_vm_write(dev, IQ_VM_DRIVER_FEATURES_SEL, 1), 0);
        assert_int_equal(iq_vm_write(dev, IQ_VM_DRIVER_FEATURES, 1), 0);
        assert_int_equal(iq_vm_set_status(dev, IQ_VM_S_ACKNOWLEDGE |
                                                   IQ_VM_S_DRIVER |
                                                   IQ_VM_S_FEATURES_OK),
                         0);
        assert_int_equal(iq_vm_get_status(dev, &v), 0);
        assert_int_equal(v & IQ_VM_S_FEATURES_OK, 0);
        iq_blk_free(blk);
    }
    /* A plain driver (no EVENT_IDX, no INDIRECT) after the reset. */
    blk = attach_blk(h, 1, 64,
                     IQ_BLK_WANT_DEFAULT &
                         ~(IQ_VM_F_EVENT_IDX | IQ_VM_F_INDIRECT_DESC));
    assert_int_equal(iq_blk_dev(blk)->drv_features & IQ_VM_F_EVENT_IDX, 0);
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(iq_blk_write(blk, 0, 16, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(iq_blk_read(blk, 0, 16, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    for (size_t i = 0; i < sizeof(buf); i++) {
        assert_int_equal(buf[i], 0x5a);
    }
    /* rng still negotiates and works next to it. */
    assert_int_equal(iq_vm_init(rng, IQ_VM_F_EVENT_IDX, 1, 0), 0);
    assert_true(iq_rng_read(rng, buf, 64) > 0);

    hx_stop_clean(h);
    read_file(h->disk, 16 * 512, buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++) {
        assert_int_equal(buf[i], 0x5a);
    }
    iq_blk_free(blk);
    iq_vm_free(rng);
    hx_fini(h);
    free(ref);
}

/* ---- multi-queue I/O from several vCPU threads ----------------------------
 */

#define MQ_QUEUES 4u
#define MQ_DEPTH 8u
#define MQ_OPS 300u
#define MQ_BLOCK 4096u

struct mq_thread {
    struct iq_blk *blk;
    struct iq_guest *g;
    unsigned q;
    uint8_t *ref; /* shared reference disk; disjoint blocks */
    uint64_t buf_gpa[MQ_DEPTH];
    struct iq_blk_req req[MQ_DEPTH];
    uint64_t block[MQ_DEPTH];
    int rc;
    unsigned errors;
};

/* Blocks of slot i of thread t: b % (Q * D) == t * D + i. */
static uint64_t
mq_pick_block(unsigned t, unsigned i, uint64_t *seed)
{
    uint64_t nblocks = DISK_SIZE / MQ_BLOCK;
    uint64_t stride = MQ_QUEUES * MQ_DEPTH;
    uint64_t k = iq_test_xorshift(seed) % (nblocks / stride);

    return k * stride + t * MQ_DEPTH + i;
}

static void
mq_issue(struct mq_thread *th, unsigned i, uint64_t *seed)
{
    struct iq_blk_req *r = &th->req[i];
    uint8_t *host = iq_guest_ptr(th->g, th->buf_gpa[i], MQ_BLOCK);
    bool write = (iq_test_xorshift(seed) & 1) != 0;

    th->block[i] = mq_pick_block(th->q, i, seed);
    memset(r, 0, sizeof(*r));
    r->sector = th->block[i] * (MQ_BLOCK / 512);
    r->data_gpa = th->buf_gpa[i];
    r->data_len = MQ_BLOCK;
    if (write) {
        r->type = IQ_BLK_T_OUT;
        iq_test_fill_random(host, MQ_BLOCK, iq_test_xorshift(seed));
        memcpy(th->ref + th->block[i] * MQ_BLOCK, host, MQ_BLOCK);
    } else {
        r->type = IQ_BLK_T_IN;
        memset(host, 0xcc, MQ_BLOCK);
    }
    if (iq_blk_submit(th->blk, th->q, r, (i & 1) != 0) < 0) {
        th->errors++;
    }
}

static void *
mq_main(void *arg)
{
    struct mq_thread *th = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (th->q + 1);
    unsigned issued = 0;
    unsigned done = 0;

    for (unsigned i = 0; i < MQ_DEPTH; i++) {
        mq_issue(th, i, &seed);
        issued++;
    }
    th->rc = iq_blk_kick(th->blk, th->q);
    while (th->rc == 0 && done < issued) {
        struct iq_blk_req *r = NULL;
        unsigned i;

        th->rc = iq_blk_wait(th->blk, th->q, WAIT_MS, &r);
        if (th->rc < 0) {
            break;
        }
        done++;
        i = (unsigned)(r - th->req);
        if (i >= MQ_DEPTH || r->status != IQ_BLK_S_OK) {
            th->errors++;
            continue;
        }
        if (r->type == IQ_BLK_T_IN &&
            memcmp(iq_guest_ptr(th->g, th->buf_gpa[i], MQ_BLOCK),
                   th->ref + th->block[i] * MQ_BLOCK, MQ_BLOCK) != 0) {
            th->errors++;
        }
        if (issued < MQ_OPS) {
            mq_issue(th, i, &seed);
            issued++;
            th->rc = iq_blk_kick(th->blk, th->q);
        }
    }
    return NULL;
}

static void
test_multiqueue_parallel(void **state)
{
    struct hx *h = *state;
    char a1[256];
    struct iq_blk *blk;
    struct mq_thread th[MQ_QUEUES];
    pthread_t tid[MQ_QUEUES];
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t *disk = malloc(DISK_SIZE);
    uint8_t *chunk = malloc(1u << 20);
    uint8_t st = 0;

    (void)state;
    assert_non_null(ref);
    assert_non_null(disk);
    assert_non_null(chunk);
    hx_init(h, MQ_QUEUES, ref, DISK_SIZE);
    hx_start(h, 1, "--device", blk_arg(h, a1, sizeof(a1), ",queues=4"), NULL);
    blk = attach_blk(h, MQ_QUEUES, 64, IQ_BLK_WANT_DEFAULT);
    assert_int_equal(iq_blk_nr_queues(blk), MQ_QUEUES);
    assert_int_equal(iq_blk_config(blk)->num_queues, MQ_QUEUES);
    for (unsigned t = 0; t < MQ_QUEUES; t++) {
        memset(&th[t], 0, sizeof(th[t]));
        th[t].blk = blk;
        th[t].g = h->g;
        th[t].q = t;
        th[t].ref = ref;
        iq_blk_vq(blk, t)->vcpu = t; /* one vCPU per queue */
        for (unsigned i = 0; i < MQ_DEPTH; i++) {
            th[t].buf_gpa[i] = iq_guest_alloc(h->g, MQ_BLOCK, 4096);
            assert_true(th[t].buf_gpa[i] != 0);
        }
    }
    for (unsigned t = 0; t < MQ_QUEUES; t++) {
        assert_int_equal(pthread_create(&tid[t], NULL, mq_main, &th[t]), 0);
    }
    for (unsigned t = 0; t < MQ_QUEUES; t++) {
        pthread_join(tid[t], NULL);
        assert_int_equal(th[t].rc, 0);
        assert_int_equal(th[t].errors, 0);
    }
    /* The whole disk, read back through the device, matches. */
    for (uint64_t off = 0; off < DISK_SIZE; off += 1u << 20) {
        assert_int_equal(iq_blk_read(blk, 0, off / 512, chunk, 1u << 20, &st),
                         0);
        assert_int_equal(st, IQ_BLK_S_OK);
        assert_memory_equal(chunk, ref + off, 1u << 20);
    }
    hx_stop_clean(h);
    read_file(h->disk, 0, disk, DISK_SIZE);
    assert_memory_equal(disk, ref, DISK_SIZE);
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
    free(disk);
    free(chunk);
}

/* A completed FLUSH survives the daemon being killed at once. */
static void
test_flush_durability(void **state)
{
    struct hx *h = *state;
    char a1[256];
    struct iq_blk *blk;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t *pat = malloc(65536);
    uint8_t *back = malloc(65536);
    uint8_t st = 0xff;
    int ws;

    (void)state;
    assert_non_null(ref);
    assert_non_null(pat);
    assert_non_null(back);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 1, "--device", blk_arg(h, a1, sizeof(a1), ""), NULL);
    blk = attach_blk(h, 1, 64, IQ_BLK_WANT_DEFAULT);
    iq_test_fill_random(pat, 65536, 77);
    assert_int_equal(iq_blk_write(blk, 0, 100, pat, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    st = 0xff;
    assert_int_equal(iq_blk_flush(blk, 0, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    ws = hx_stop(h, SIGKILL);
    assert_true(WIFSIGNALED(ws));
    read_file(h->disk, 100 * 512, back, 65536);
    assert_memory_equal(back, pat, 65536);
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
    free(pat);
    free(back);
}

static void
assert_all(const uint8_t *p, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != v) {
            fail_msg("byte %zu is 0x%x, expected 0x%x", i, p[i], v);
        }
    }
}

/* DISCARD and WRITE_ZEROES read back zeroes; out-of-range ones fail. */
static void
test_discard_write_zeroes(void **state)
{
    struct hx *h = *state;
    char a1[256];
    struct iq_blk *blk;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t *buf = malloc(1u << 20);
    uint8_t st = 0xff;
    uint64_t cap;

    (void)state;
    assert_non_null(ref);
    assert_non_null(buf);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 1, "--device", blk_arg(h, a1, sizeof(a1), ""), NULL);
    blk = attach_blk(h, 1, 64, IQ_BLK_WANT_DEFAULT);
    cap = iq_blk_config(blk)->capacity;
    assert_true(iq_blk_dev(blk)->drv_features & IQ_BLK_F_DISCARD);
    assert_true(iq_blk_dev(blk)->drv_features & IQ_BLK_F_WRITE_ZEROES);

    /* Discard 64 KiB at 1 MiB (aligned to 4 KiB). */
    assert_int_equal(iq_blk_discard(blk, 0, 2048, 128, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_int_equal(iq_blk_read(blk, 0, 2048 - 8, buf, 80 * 1024, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref + 2040 * 512, 4096);
    assert_all(buf + 4096, 65536, 0);
    assert_memory_equal(buf + 4096 + 65536, ref + (2048 + 128) * 512,
                        80 * 1024 - 4096 - 65536);

    /* Write zeroes, unaligned, with and without the unmap flag. */
    assert_int_equal(iq_blk_write_zeroes(blk, 0, 5001, 3, false, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_int_equal(iq_blk_write_zeroes(blk, 0, 6000, 17, true, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_int_equal(iq_blk_read(blk, 0, 5000, buf, 5 * 512, &st), 0);
    assert_memory_equal(buf, ref + 5000 * 512, 512);
    assert_all(buf + 512, 3 * 512, 0);
    assert_memory_equal(buf + 4 * 512, ref + 5004 * 512, 512);

    /* Beyond the end of the disk: IOERR, nothing changed. */
    st = 0;
    assert_int_equal(iq_blk_discard(blk, 0, cap - 1, 2, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    st = 0;
    assert_int_equal(iq_blk_write_zeroes(blk, 0, cap, 1, false, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    st = 0;
    assert_int_equal(iq_blk_read(blk, 0, cap, buf, 512, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);

    hx_stop_clean_sig(h, SIGHUP); /* what libxl sends */
    read_file(h->disk, 2048 * 512, buf, 65536);
    assert_all(buf, 65536, 0);
    read_file(h->disk, 6000 * 512, buf, 17 * 512);
    assert_all(buf, 17 * 512, 0);
    read_file(h->disk, (cap - 1) * 512, buf, 512);
    assert_memory_equal(buf, ref + (cap - 1) * 512, 512);
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
    free(buf);
}

/* A read-only disk offers RO and fails writes with IOERR. */
static void
test_readonly(void **state)
{
    struct hx *h = *state;
    char a1[256];
    char conf[128];
    char pidfile[128];
    char *text;
    FILE *f;
    struct iq_blk *blk;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t buf[4096];
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    hx_init(h, 2, ref, DISK_SIZE);
    /* The device comes from a config file; a pidfile is asked for. */
    snprintf(conf, sizeof(conf), "%s/ioreqd.conf", h->dir);
    snprintf(pidfile, sizeof(pidfile), "%s/ioreqd.pid", h->dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "# read-only disk\nmapcache-size = 8M\ndevice = %s\n",
            blk_arg(h, a1, sizeof(a1), ",ro"));
    fclose(f);
    hx_start(h, 1, "--config", conf, "--pidfile", pidfile, NULL);
    /* Written once setup is complete, just after the ranges: poll. */
    text = NULL;
    for (unsigned i = 0; i < 2000 && (text == NULL || text[0] == '\0'); i++) {
        free(text);
        text = iq_spawn_slurp(pidfile);
        if (text == NULL || text[0] == '\0') {
            usleep(1000);
        }
    }
    assert_non_null(text);
    assert_int_equal(strtol(text, NULL, 10), h->pid);
    free(text);
    blk = attach_blk(h, 1, 64, IQ_BLK_WANT_DEFAULT);
    assert_true(iq_blk_dev(blk)->drv_features & IQ_BLK_F_RO);
    assert_false(iq_blk_dev(blk)->drv_features & IQ_BLK_F_WRITE_ZEROES);
    memset(buf, 0x11, sizeof(buf));
    assert_int_equal(iq_blk_write(blk, 0, 0, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    st = 0xff;
    assert_int_equal(iq_blk_read(blk, 0, 0, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref, sizeof(buf));
    hx_stop_clean_sig(h, SIGINT);
    assert_int_equal(access(pidfile, F_OK), -1); /* removed at exit */
    read_file(h->disk, 0, buf, sizeof(buf));
    assert_memory_equal(buf, ref, sizeof(buf));
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
}

/* One synchronous request with caller-chosen buffers. */
static void
raw_io(struct iq_blk *blk, struct iq_blk_req *r, bool indirect)
{
    struct iq_blk_req *done = NULL;

    assert_int_equal(iq_blk_submit(blk, 0, r, indirect), 0);
    assert_int_equal(iq_blk_kick(blk, 0), 0);
    assert_int_equal(iq_blk_wait(blk, 0, WAIT_MS, &done), 0);
    assert_ptr_equal(done, r);
}

/*
 * A 2-bucket mapcache (2 MiB of 1 MiB buckets). Phase A: the descriptor
 * table straddles a bucket boundary. Phase B: data buffers straddle it
 * (rings and headers in the upper bucket, so one request never needs more
 * than the two buckets). Phase C: data far away, so every request evicts.
 * The fake's peak of mapped pages never exceeds the cap.
 */
static void
test_tiny_mapcache(void **state)
{
    struct hx *h = *state;
    char a1[256];
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;
    struct iq_sim_counters c;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t *buf = malloc(65536);
    const uint64_t boundary = RAM0 + (16ull << 20);
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    assert_non_null(buf);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 1, "--mapcache-size", "2M", "--device",
             blk_arg(h, a1, sizeof(a1), ""), NULL);

    /* Phase A: descriptor table across the boundary (no indirect). */
    assert_int_equal(iq_guest_set_next(h->g, boundary - 0x80), 0);
    assert_int_equal(iq_vm_probe(h->g, BLK_BASE, BLK_IRQ, 0, &dev), 0);
    assert_int_equal(iq_blk_attach(dev,
                                   IQ_BLK_WANT_DEFAULT & ~IQ_VM_F_INDIRECT_DESC,
                                   1, 16, 16384, &blk),
                     0);
    assert_int_equal(iq_blk_vq(blk, 0)->desc_gpa, boundary - 0x80);
    for (unsigned round = 0; round < 24; round++) {
        uint64_t sector = 200 + 8u * round;

        iq_test_fill_random(buf, 4096, 1000 + round);
        memcpy(ref + sector * 512, buf, 4096);
        assert_int_equal(iq_blk_write(blk, 0, sector, buf, 4096, &st), 0);
        assert_int_equal(st, IQ_BLK_S_OK);
        memset(buf, 0, 4096);
        assert_int_equal(iq_blk_read(blk, 0, sector, buf, 4096, &st), 0);
        assert_int_equal(st, IQ_BLK_S_OK);
        assert_memory_equal(buf, ref + sector * 512, 4096);
    }
    iq_blk_free(blk);

    /* Phase B: rings above the boundary, data across it. */
    dev = NULL;
    assert_int_equal(iq_vm_probe(h->g, BLK_BASE, BLK_IRQ, 0, &dev), 0);
    assert_int_equal(
        iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, 16, 16384, &blk), 0);
    assert_true(iq_blk_vq(blk, 0)->desc_gpa > boundary);
    for (unsigned round = 0; round < 8; round++) {
        struct iq_blk_req r = {0};

        r.type = round % 2 ? IQ_BLK_T_IN : IQ_BLK_T_OUT;
        r.sector = 64 + 16 * (round / 2);
        r.data_gpa = boundary - 0x1000 + 512 * round;
        r.data_len = 8192;
        if (r.type == IQ_BLK_T_OUT) {
            iq_test_fill_random(iq_guest_ptr(h->g, r.data_gpa, 8192), 8192,
                                round);
            memcpy(ref + r.sector * 512, iq_guest_ptr(h->g, r.data_gpa, 8192),
                   8192);
        } else {
            memset(iq_guest_ptr(h->g, r.data_gpa, 8192), 0, 8192);
        }
        raw_io(blk, &r, (round & 2) != 0);
        assert_int_equal(r.status, IQ_BLK_S_OK);
        if (r.type == IQ_BLK_T_IN) {
            assert_memory_equal(iq_guest_ptr(h->g, r.data_gpa, 8192),
                                ref + r.sector * 512, 8192);
        }
    }

    /* Phase C: data 16..64 MiB away from the rings: every request evicts. */
    for (unsigned round = 0; round < 16; round++) {
        struct iq_blk_req r = {0};

        r.type = IQ_BLK_T_IN;
        r.sector = 512u * round;
        r.data_gpa =
            RAM0 + (32ull << 20) + (uint64_t)round * (3ull << 20) + 0x800;
        r.data_len = 16384;
        raw_io(blk, &r, false);
        assert_int_equal(r.status, IQ_BLK_S_OK);
        assert_memory_equal(iq_guest_ptr(h->g, r.data_gpa, 16384),
                            ref + r.sector * 512, 16384);
    }
    iq_sim_counters(h->sim, &c);
    /* Never more than the cap (2 MiB = 512 pages) mapped at once. */
    assert_true(c.foreign_pages_peak <= 512);
    assert_true(c.foreign_pages_peak > 0);
    /* Evictions happened: at least one new mapping per far request. */
    assert_true(c.foreign_map_calls >= 16);
    assert_int_equal(iq_blk_read(blk, 0, 64, buf, 16384, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref + 64 * 512, 16384);
    hx_stop_clean(h);
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
    free(buf);
}

/*
 * IOREQ_TYPE_INVALIDATE while idle unmaps every bucket; I/O afterwards maps
 * again. Then SIGTERM with requests still in flight on two queues: the
 * daemon drains them and leaves nothing behind.
 */
static void
test_invalidate_and_stop_busy(void **state)
{
    struct hx *h = *state;
    char a1[256];
    struct iq_blk *blk;
    struct iq_sim_counters c0;
    struct iq_sim_counters c1;
    struct iq_blk_req req[2][16];
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t buf[4096];
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 1, "--device", blk_arg(h, a1, sizeof(a1), ",queues=2"), NULL);
    blk = attach_blk(h, 2, 64, IQ_BLK_WANT_DEFAULT);
    assert_int_equal(iq_blk_nr_queues(blk), 2);
    assert_int_equal(iq_blk_read(blk, 0, 0, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    iq_sim_counters(h->sim, &c0);
    assert_true(c0.foreign_pages_now > 0);
    assert_int_equal(iq_sim_invalidate(h->sim, 1), 0);
    iq_sim_counters(h->sim, &c1);
    assert_int_equal(c1.foreign_pages_now, 0);
    assert_int_equal(iq_blk_read(blk, 1, 40, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref + 40 * 512, sizeof(buf));
    iq_sim_counters(h->sim, &c1);
    assert_true(c1.foreign_map_calls > c0.foreign_map_calls);
    assert_true(c1.foreign_pages_now > 0);

    /* 32 writes of 64 KiB in flight, then stop at once. */
    for (unsigned q = 0; q < 2; q++) {
        for (unsigned i = 0; i < 16; i++) {
            struct iq_blk_req *r = &req[q][i];

            memset(r, 0, sizeof(*r));
            r->type = IQ_BLK_T_OUT;
            r->sector = (q * 16u + i) * 128u;
            r->data_gpa = iq_guest_alloc(h->g, 65536, 4096);
            r->data_len = 65536;
            assert_true(r->data_gpa != 0);
            assert_int_equal(iq_blk_submit(blk, q, r, true), 0);
        }
        assert_int_equal(iq_blk_kick(blk, q), 0);
    }
    hx_stop_clean(h);
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
}

static void
wait_needs_reset(struct iq_vm_dev *dev)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < 2000; i++) {
        assert_int_equal(iq_vm_get_status(dev, &v), 0);
        if (v & IQ_VM_S_NEEDS_RESET) {
            return;
        }
        usleep(1000);
    }
    fail_msg("device status 0x%x never got NEEDS_RESET", v);
}

/*
 * A descriptor loop and a bad indirect table put only that device into
 * NEEDS_RESET (with a config interrupt); the rng on the same daemon keeps
 * working, and the blk device works again after a reset.
 */
static void
test_hostile_isolated(void **state)
{
    struct hx *h = *state;
    char a1[256];
    char a2[64];
    struct iq_vm_dev *rng = NULL;
    struct iq_blk *blk;
    struct iq_vq *vq;
    struct iq_vq_desc *d;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t buf[512];
    uint64_t edges;
    uint32_t isr = 0;
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 2, "--device", blk_arg(h, a1, sizeof(a1), ""), "--device",
             rng_arg(a2, sizeof(a2)), NULL);
    assert_int_equal(iq_vm_probe(h->g, RNG_BASE, RNG_IRQ, 1, &rng), 0);
    assert_int_equal(iq_vm_init(rng, 0, 1, 0), 0);
    blk = attach_blk(h, 1, 16, IQ_BLK_WANT_DEFAULT);
    vq = iq_blk_vq(blk, 0);

    /* 1. A two-descriptor loop. */
    d = iq_vq_desc_table(vq);
    d[0] = (struct iq_vq_desc){RAM0 + 0x100000, 16, 1, 1};
    d[1] = (struct iq_vq_desc){RAM0 + 0x101000, 16, 1, 0};
    edges = iq_sim_irq_edges(h->sim, BLK_IRQ);
    assert_int_equal(iq_vq_publish_raw(vq, 0, true), 0);
    wait_needs_reset(iq_blk_dev(blk));
    assert_int_equal(iq_sim_irq_wait(h->sim, BLK_IRQ, edges, WAIT_MS), 0);
    assert_int_equal(iq_vm_ack_irq(iq_blk_dev(blk), 0, &isr), 0);
    assert_true(isr & IQ_VM_INT_CONFIG);
    /* The other device is unaffected. */
    assert_true(iq_rng_read(rng, buf, 32) > 0);
    iq_blk_free(blk);

    /* Reset and use the disk again. */
    blk = attach_blk(h, 1, 16, IQ_BLK_WANT_DEFAULT);
    assert_int_equal(iq_blk_read(blk, 0, 3, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref + 3 * 512, sizeof(buf));

    /* 2. An indirect table whose length is not a multiple of 16. */
    vq = iq_blk_vq(blk, 0);
    assert_true(vq->indirect);
    d = iq_vq_desc_table(vq);
    d[5] = (struct iq_vq_desc){vq->indirect_gpa, 40, 4, 0};
    assert_int_equal(iq_vq_publish_raw(vq, 5, true), 0);
    wait_needs_reset(iq_blk_dev(blk));
    assert_true(iq_rng_read(rng, buf, 32) > 0);
    iq_blk_free(blk);

    /* 3. A descriptor pointing into the hole below RAM. */
    blk = attach_blk(h, 1, 16, IQ_BLK_WANT_DEFAULT);
    vq = iq_blk_vq(blk, 0);
    d = iq_vq_desc_table(vq);
    d[2] = (struct iq_vq_desc){0x1000, 16, 1, 3};
    d[3] = (struct iq_vq_desc){RAM0 + 0x102000, 1, 2, 0};
    assert_int_equal(iq_vq_publish_raw(vq, 2, true), 0);
    wait_needs_reset(iq_blk_dev(blk));
    assert_true(iq_rng_read(rng, buf, 32) > 0);

    hx_stop_clean(h);
    iq_blk_free(blk);
    iq_vm_free(rng);
    hx_fini(h);
    free(ref);
}

/*
 * Grant DMA: a virtio-blk configured with `grants` offers ACCESS_PLATFORM
 * (the rng without it does not), the driver negotiates it and passes only
 * grant addresses (consecutive refs for consecutive pages, driver-to-device
 * buffers through read-only grants). Data goes through grant maps, never a
 * foreign map. A descriptor whose grant was revoked puts only that device
 * into NEEDS_RESET; the rng on the same daemon keeps working.
 */
static void
test_grants_access_platform(void **state)
{
    struct hx *h = *state;
    char a1[256];
    char a2[64];
    struct iq_vm_dev *rng = NULL;
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;
    struct iq_sim_counters c0;
    struct iq_sim_counters c1;
    struct iq_vq *vq;
    struct iq_vq_desc *d;
    struct iq_blk_req req = {0};
    struct iq_blk_req *done = NULL;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t *pat = malloc(16384);
    uint8_t *back = malloc(16384);
    uint8_t buf[512];
    uint64_t data;
    uint64_t bad;
    uint64_t status;
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    assert_non_null(pat);
    assert_non_null(back);
    hx_init(h, 2, ref, DISK_SIZE);
    /* An 8 MiB window of RAM0, every page granted (refs 1..2048 RW). */
    iq_guest_destroy(h->g);
    h->g = NULL;
    assert_int_equal(iq_guest_create(h->sim, RAM0, 8ull << 20, &h->g), 0);
    assert_int_equal(iq_guest_use_grants(h->g), 0);
    assert_true(iq_guest_grants(h->g));
    assert_int_equal(iq_guest_grant_ref(h->g, RAM0, false), 1);
    assert_int_equal(iq_guest_grant_ref(h->g, RAM0 + 0x1fff, false), 2);
    assert_int_equal(iq_guest_grant_ref(h->g, RAM0, true), 2049);
    assert_int_equal(iq_guest_dma(h->g, RAM0 + 0x2123, false),
                     (1ull << 63) | (3ull << 12) | 0x123);
    assert_int_equal(iq_guest_dma(h->g, RAM0 + (8ull << 20), false),
                     RAM0 + (8ull << 20));

    hx_start(h, 2, "--device", blk_arg(h, a1, sizeof(a1), ",grants"),
             "--device", rng_arg(a2, sizeof(a2)), NULL);

    /* The rng has no `grants`: no ACCESS_PLATFORM, guest-physical DMA. */
    assert_int_equal(iq_vm_probe(h->g, RNG_BASE, RNG_IRQ, 1, &rng), 0);
    assert_int_equal(iq_vm_init(rng, IQ_VM_F_ACCESS_PLATFORM, 1, 0), 0);
    assert_false(rng->dev_features & IQ_VM_F_ACCESS_PLATFORM);
    assert_false(rng->drv_features & IQ_VM_F_ACCESS_PLATFORM);
    assert_int_equal(iq_rng_read(rng, buf, 32), 32);

    /* The blk has it, and the driver takes it. */
    assert_int_equal(iq_vm_probe(h->g, BLK_BASE, BLK_IRQ, 0, &dev), 0);
    assert_int_equal(
        iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT | IQ_VM_F_ACCESS_PLATFORM, 1, 64,
                      0, &blk),
        0);
    dev = iq_blk_dev(blk);
    assert_true(dev->dev_features & IQ_VM_F_ACCESS_PLATFORM);
    assert_true(dev->drv_features & IQ_VM_F_ACCESS_PLATFORM);
    vq = iq_blk_vq(blk, 0);
    assert_true(vq->indirect);

    /* Write and read back a 4-page pattern, direct and indirect chains. */
    iq_sim_counters(h->sim, &c0);
    iq_test_fill_random(pat, 16384, 0x6a6e);
    assert_int_equal(iq_blk_write(blk, 0, 64, pat, 16384, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    memset(back, 0, 16384);
    assert_int_equal(iq_blk_read(blk, 0, 64, back, 16384, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(back, pat, 16384);
    data = iq_guest_alloc(h->g, 8192, 4096);
    assert_true(data != 0);
    req.type = IQ_BLK_T_IN;
    req.sector = 64;
    req.data_gpa = data + 2048; /* straddles a page: refs n, n + 1 */
    req.data_len = 4096;
    assert_true(iq_blk_submit(blk, 0, &req, false) >= 0);
    assert_int_equal(iq_blk_kick(blk, 0), 0);
    assert_int_equal(iq_blk_wait(blk, 0, WAIT_MS, &done), 0);
    assert_ptr_equal(done, &req);
    assert_int_equal(req.status, IQ_BLK_S_OK);
    assert_memory_equal(iq_guest_ptr(h->g, data + 2048, 4096), pat, 4096);
    assert_int_equal(iq_blk_read(blk, 0, 3, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, ref + 3 * 512, sizeof(buf));
    read_file(h->disk, 64 * 512, back, 16384);
    assert_memory_equal(back, pat, 16384);
    iq_sim_counters(h->sim, &c1);
    assert_true(c1.grant_map_calls > 0);
    assert_true(c1.grant_map_calls > c0.grant_map_calls);
    assert_int_equal(c1.foreign_map_calls, c0.foreign_map_calls);

    /* A descriptor on a page whose grants were revoked: NEEDS_RESET. */
    bad = iq_guest_alloc(h->g, 4096, 4096);
    status = iq_guest_alloc(h->g, 4096, 4096);
    assert_true(bad != 0 && status != 0);
    assert_int_equal(
        iq_sim_grant_revoke(h->sim, iq_guest_grant_ref(h->g, bad, false)), 0);
    assert_int_equal(
        iq_sim_grant_revoke(h->sim, iq_guest_grant_ref(h->g, bad, true)), 0);
    d = iq_vq_desc_table(vq);
    d[10] = (struct iq_vq_desc){iq_guest_dma(h->g, bad, true), 16, 1, 11};
    d[11] = (struct iq_vq_desc){iq_guest_dma(h->g, status, false), 1, 2, 0};
    assert_int_equal(iq_vq_publish_raw(vq, 10, true), 0);
    wait_needs_reset(dev);
    /* The rng on the same daemon keeps working. */
    assert_int_equal(iq_rng_read(rng, buf, 32), 32);
    iq_blk_free(blk);

    /* After a reset the granted disk works again. */
    dev = NULL;
    assert_int_equal(iq_vm_probe(h->g, BLK_BASE, BLK_IRQ, 0, &dev), 0);
    assert_int_equal(
        iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT | IQ_VM_F_ACCESS_PLATFORM, 1, 16,
                      16384, &blk),
        0);
    assert_int_equal(iq_blk_read(blk, 0, 64, back, 16384, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(back, pat, 16384);

    hx_stop_clean(h);
    iq_sim_counters(h->sim, &c1);
    assert_int_equal(c1.grant_pages_now, 0);
    iq_blk_free(blk);
    iq_vm_free(rng);
    hx_fini(h);
    free(back);
    free(pat);
    free(ref);
}

/*
 * x86 personality: buffered ioreqs on (atomic), an ISA IRQ (level, dropped
 * when the driver acknowledges), two devices, clean shutdown.
 */
static void
test_x86_personality(void **state)
{
    struct hx *h = *state;
    char a1[256];
    char a2[64];
    const uint64_t blk_base = 0xfeb00000ull;
    const uint64_t rng_base = 0xfeb00200ull;
    struct iq_vm_dev *dev = NULL;
    struct iq_vm_dev *rng = NULL;
    struct iq_blk *blk = NULL;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t *buf = malloc(65536);
    uint64_t raw = 0;
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    assert_non_null(buf);
    hx_init_arch(h, true, 2, ref, DISK_SIZE);
    snprintf(a1, sizeof(a1), "virtio-blk,base=0x%llx,irq=5,file=%s",
             (unsigned long long)blk_base, h->disk);
    snprintf(a2, sizeof(a2), "virtio-rng,base=0x%llx,irq=6",
             (unsigned long long)rng_base);
    hx_start(h, 2, "--device", a1, "--device", a2, NULL);
    assert_int_equal(iq_vm_probe(h->g, blk_base, IQ_SIM_ISA_KEY(5), 0, &dev),
                     0);
    assert_int_equal(dev->device_id, 2);
    assert_int_equal(iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, 64, 0, &blk),
                     0);
    for (unsigned i = 0; i < 16; i++) {
        iq_test_fill_random(buf, 65536, 500 + i);
        memcpy(ref + (uint64_t)i * 65536, buf, 65536);
        assert_int_equal(iq_blk_write(blk, 0, i * 128u, buf, 65536, &st), 0);
        assert_int_equal(st, IQ_BLK_S_OK);
    }
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(iq_blk_read(blk, 0, i * 128u, buf, 65536, &st), 0);
        assert_int_equal(st, IQ_BLK_S_OK);
        assert_memory_equal(buf, ref + (uint64_t)i * 65536, 65536);
    }
    /*
     * The level line drops when the driver acknowledges. Two round trips:
     * an interrupt raised by deferred work after the last completion was
     * seen is raised before the second access is served.
     */
    assert_int_equal(iq_vm_ack_irq(dev, 0, NULL), 0);
    assert_int_equal(iq_vm_ack_irq(dev, 0, NULL), 0);
    assert_int_equal(iq_sim_irq_level(h->sim, IQ_SIM_ISA_KEY(5)), 0);
    assert_true(iq_sim_irq_edges(h->sim, IQ_SIM_ISA_KEY(5)) > 0);
    assert_int_equal(iq_vm_probe(h->g, rng_base, IQ_SIM_ISA_KEY(6), 1, &rng),
                     0);
    assert_int_equal(iq_vm_init(rng, IQ_VM_F_EVENT_IDX, 1, 0), 0);
    assert_true(iq_rng_read(rng, buf, 64) > 0);
    /* x86: an access nobody claims reads all ones (no abort). */
    assert_int_equal(iq_sim_mmio_read(h->sim, 0, rng_base + 0x200, 4, &raw), 0);
    assert_int_equal(raw & 0xffffffffu, 0xffffffffu);
    hx_stop_clean(h);
    iq_blk_free(blk);
    iq_vm_free(rng);
    hx_fini(h);
    free(ref);
    free(buf);
}

static int
connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {5, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)),
                     0);
    return fd;
}

/* virtio-console over a socket backend, both directions; rng next to it. */
static void
test_console_and_rng(void **state)
{
    static const char in[] = "input from the host side\n";
    static const char out[] = "output from the guest driver\n";
    struct hx *h = *state;
    char a1[256];
    char a2[64];
    char sock[128];
    struct iq_vm_dev *con = NULL;
    struct iq_vm_dev *rng = NULL;
    uint8_t r1[32];
    uint8_t r2[32];
    char buf[128];
    size_t got = 0;
    int fd;
    int n;

    (void)state;
    hx_init(h, 2, NULL, 0);
    snprintf(sock, sizeof(sock), "%s/con.sock", h->dir);
    snprintf(a1, sizeof(a1),
             "virtio-console,base=0x2000400,irq=40,backend=socket:%s", sock);
    hx_start(h, 2, "--device", a1, "--device", rng_arg(a2, sizeof(a2)), NULL);
    assert_int_equal(iq_vm_probe(h->g, 0x2000400, 40, 0, &con), 0);
    assert_int_equal(con->device_id, 3);
    assert_int_equal(iq_vm_init(con, 0, 2, 0), 0);
    fd = connect_unix(sock);
    /* Host to guest (buffered by the device until the driver posts). */
    assert_int_equal(write(fd, in, sizeof(in) - 1), (ssize_t)(sizeof(in) - 1));
    while (got < sizeof(in) - 1) {
        n = iq_con_recv(con, buf + got, sizeof(buf) - 1 - got, WAIT_MS);
        assert_true(n > 0);
        got += (size_t)n;
    }
    buf[got] = '\0';
    assert_string_equal(buf, in);
    /* Guest to host. */
    assert_int_equal(iq_con_send(con, out, sizeof(out) - 1), 0);
    got = 0;
    while (got < sizeof(out) - 1) {
        ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);

        assert_true(k > 0);
        got += (size_t)k;
    }
    buf[got] = '\0';
    assert_string_equal(buf, out);
    close(fd);

    /* Two rng reads differ (32 random bytes colliding: never). */
    assert_int_equal(iq_vm_probe(h->g, RNG_BASE, RNG_IRQ, 1, &rng), 0);
    assert_int_equal(iq_vm_init(rng, IQ_VM_F_INDIRECT_DESC, 1, 0), 0);
    assert_int_equal(iq_rng_read(rng, r1, sizeof(r1)), (int)sizeof(r1));
    assert_int_equal(iq_rng_read(rng, r2, sizeof(r2)), (int)sizeof(r2));
    assert_memory_not_equal(r1, r2, sizeof(r1));
    hx_stop_clean(h);
    assert_int_equal(access(sock, F_OK), -1); /* unlinked at destroy */
    iq_vm_free(con);
    iq_vm_free(rng);
    hx_fini(h);
}

/* Run ioreqd with `argv` and capture status and output. */
static char *
run_capture(struct hx *h, char **argv, bool with_sim, int *status)
{
    pid_t pid;

    assert_int_equal(iq_spawn(IQ_IOREQD_PATH, argv, NULL,
                              with_sim ? h->sim : NULL, h->log, &pid),
                     0);
    if (iq_spawn_wait(pid, WAIT_MS, status) < 0) {
        kill(pid, SIGKILL);
        (void)iq_spawn_wait(pid, WAIT_MS, status);
        fail_msg("ioreqd did not exit");
    }
    return iq_spawn_slurp(h->log);
}

struct cmdline_case {
    const char *args[10];
    int status;
    const char *msg;
};

static void
test_bad_command_lines(void **state)
{
    static const struct cmdline_case cases[] = {
        {{NULL}, 2, "ioreqd: --domid is required"},
        {{"--frob", NULL}, 2, "unknown option '--frob'"},
        {{"--domid", NULL}, 2, "option '--domid' needs an argument"},
        {{"--domid", "x1", NULL}, 2, "bad domid 'x1'"},
        {{"--domid", "1", NULL}, 2, "no device given"},
        {{"--domid", "1", "--arch", "arm", "--device",
          "virtio-rng,base=0x2000000,irq=33", "--device",
          "virtio-rng,base=0x2000100,irq=34"},
         2,
         "must be 0x200-aligned"},
        {{"--domid", "1", "--arch", "arm", "--device",
          "virtio-rng,base=0x2000000,irq=33", "--device",
          "virtio-rng,base=0x2000000,irq=34"},
         2,
         "overlaps device 0"},
        {{"--domid", "1", "--arch", "arm", "--device",
          "virtio-rng,base=0x2000000,irq=33", "--device",
          "virtio-rng,base=0x2000200,irq=33"},
         2,
         "irq 33 already used"},
        {{"--domid", "1", "--arch", "arm", "--device",
          "virtio-rng,base=0x2000000,irq=1020", NULL},
         2,
         "irq 1020 out of range"},
        {{"--domid", "1", "--device", "virtio-rng,base=0x2000000,irq=31",
          "--arch", "arm", NULL},
         2,
         "irq 31 is not an Arm SPI"},
        {{"--domid", "1", "--arch", "arm", "--device",
          "virtio-blk,base=0x2000000,irq=33", NULL},
         2,
         "missing file="},
        {{"--domid", "1", "--arch", "arm", "--mapcache-size", "64K", "--device",
          "virtio-rng,base=0x2000000,irq=33", NULL},
         2,
         "smaller than one bucket"},
        {{"--domid", "1", "--config", "/nonexistent.conf", NULL},
         2,
         "cannot open config file /nonexistent.conf"},
        {{"--help", NULL}, 0, "Usage: ioreqd"},
        {{"--version", NULL}, 0, "ioreqd "},
    };
    struct hx *h = *state;

    (void)state;
    hx_init(h, 1, NULL, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[12];
        unsigned n = 0;
        int st = 0;
        char *out;

        argv[n++] = (char *)"ioreqd";
        for (unsigned k = 0; k < 10 && cases[i].args[k] != NULL; k++) {
            argv[n++] = (char *)cases[i].args[k];
        }
        argv[n] = NULL;
        out = run_capture(h, argv, true, &st);
        assert_non_null(out);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != cases[i].status ||
            strstr(out, cases[i].msg) == NULL) {
            fail_msg("case %zu: status 0x%x, output '%s', expected %d and "
                     "'%s'",
                     i, st, out, cases[i].status, cases[i].msg);
        }
        /* One line of error (plus the --help hint) for usage errors. */
        if (cases[i].status == 2) {
            char *nl = strchr(out, '\n');

            assert_non_null(nl);
            assert_non_null(strstr(nl + 1, "Try 'ioreqd --help'"));
        }
        free(out);
    }
    hx_fini(h);
}

/* Runtime setup failures: exit 1, one message, nothing half set up. */
static void
test_setup_failures(void **state)
{
    struct hx *h = *state;
    char domid[16];
    char dev1[128];
    char *out;
    int st = 0;
    struct iq_sim_counters c;

    (void)state;
    hx_init(h, 2, NULL, 0);
    snprintf(domid, sizeof(domid), "%u", iq_sim_domid(h->sim));
    {
        /* A missing disk file, after a good rng: all undone. */
        char *argv[] = {(char *)"ioreqd",
                        (char *)"--domid",
                        domid,
                        (char *)"--arch",
                        (char *)"arm",
                        (char *)"--device",
                        (char *)"virtio-rng,base=0x2000200,irq=34",
                        (char *)"--device",
                        dev1,
                        NULL};

        snprintf(dev1, sizeof(dev1),
                 "virtio-blk,base=0x2000000,irq=33,file=%s/missing.img",
                 h->dir);
        out = run_capture(h, argv, true, &st);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1);
        assert_non_null(strstr(out, "missing.img"));
        assert_non_null(strstr(out, "No such file or directory"));
        free(out);
        assert_int_equal(iq_spawn_wait_clean(h->sim, 2000, &c), 0);
        assert_int_equal(c.ranges_now, 0);
    }
    {
        /* No simulator reachable: the Xen handles cannot be opened. */
        char *argv[] = {(char *)"ioreqd",
                        (char *)"--domid",
                        domid,
                        (char *)"--arch",
                        (char *)"arm",
                        (char *)"--device",
                        (char *)"virtio-rng,base=0x2000200,irq=34",
                        NULL};

        out = run_capture(h, argv, false, &st);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1);
        assert_non_null(strstr(out, "cannot open"));
        free(out);
    }
    hx_fini(h);
}

/* The daemon must exit 0 on its own after `event` and leave the fake clean. */
static void
expect_exit_clean(struct hx *h, const char *event)
{
    struct iq_sim_counters c;
    int ws = 0;

    if (iq_spawn_wait(h->pid, WAIT_MS, &ws) < 0) {
        dump_log(h);
        fail_msg("ioreqd still running after %s", event);
    }
    h->pid = -1;
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        dump_log(h);
        fail_msg("exit status 0x%x after %s", ws, event);
    }
    assert_int_equal(iq_spawn_wait_clean(h->sim, 2000, &c), 0);
}

/*
 * x86: the toolstack destroys the domain, but our own mappings keep it as a
 * zombie on which dm_ops still succeed (seen on real Xen 4.17), so only
 * xenstore tells: /local/domain/<domid> goes and @releaseDomain fires. The
 * daemon must exit 0 on its own and release everything.
 */
static void
test_domain_dying_x86(void **state)
{
    struct hx *h = *state;
    char a1[256];
    const uint64_t blk_base = 0xfeb00000ull;
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t buf[4096];
    uint8_t st = 0xff;

    (void)state;
    assert_non_null(ref);
    hx_init_arch(h, true, 2, ref, DISK_SIZE);
    snprintf(a1, sizeof(a1), "virtio-blk,base=0x%llx,irq=5,file=%s",
             (unsigned long long)blk_base, h->disk);
    hx_start(h, 1, "--device", a1, NULL);
    assert_int_equal(iq_vm_probe(h->g, blk_base, IQ_SIM_ISA_KEY(5), 0, &dev),
                     0);
    assert_int_equal(iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, 64, 0, &blk),
                     0);
    assert_int_equal(iq_blk_read(blk, 0, 0, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);

    iq_sim_domain_dying(h->sim);
    /* It exits 0 and releases everything, so the zombie can go. */
    expect_exit_clean(h, "the domain was released");
    iq_sim_domain_destroy(h->sim);
    iq_blk_free(blk);
    free(ref);
    hx_fini(h);
}

/* The domain is destroyed under the daemon: it exits 0 on its own. */
static void
test_domain_destroyed(void **state)
{
    struct hx *h = *state;
    char a1[256];
    char a2[64];
    struct iq_blk *blk;
    uint8_t *ref = malloc(DISK_SIZE);
    uint8_t buf[4096];
    uint8_t st = 0xff;
    char *log;

    (void)state;
    assert_non_null(ref);
    hx_init(h, 2, ref, DISK_SIZE);
    hx_start(h, 2, "--device", blk_arg(h, a1, sizeof(a1), ""), "--device",
             rng_arg(a2, sizeof(a2)), NULL);
    blk = attach_blk(h, 1, 64, IQ_BLK_WANT_DEFAULT);
    assert_int_equal(iq_blk_read(blk, 0, 0, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    /* SIGUSR1 logs statistics and keeps running. */
    assert_int_equal(kill(h->pid, SIGUSR1), 0);
    assert_int_equal(iq_blk_read(blk, 0, 8, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);

    iq_sim_domain_destroy(h->sim);
    expect_exit_clean(h, "the domain was destroyed");
    log = iq_spawn_slurp(h->log);
    assert_non_null(log);
    /* Once for SIGUSR1 (notice), once at exit (info). */
    {
        const char *p;
        unsigned n = 0;

        for (p = log; (p = strstr(p, "stats: mapcache hits=")) != NULL; p++) {
            n++;
        }
        assert_int_equal(n, 2);
    }
    assert_non_null(strstr(log, "stats: ioreq ioreqs="));
    free(log);
    iq_blk_free(blk);
    hx_fini(h);
    free(ref);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_probe_negotiate_reset, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_multiqueue_parallel, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_flush_durability, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_discard_write_zeroes, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_readonly, hx_setup, hx_teardown),
        cmocka_unit_test_setup_teardown(test_tiny_mapcache, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_invalidate_and_stop_busy, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_isolated, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_grants_access_platform, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_x86_personality, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_console_and_rng, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_command_lines, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_setup_failures, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_domain_dying_x86, hx_setup,
                                        hx_teardown),
        cmocka_unit_test_setup_teardown(test_domain_destroyed, hx_setup,
                                        hx_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
