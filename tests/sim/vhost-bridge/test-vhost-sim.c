/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user bridge end to end: the production ioreqd on the fake Xen,
 * the simulated guest's drivers, and real vhost-user daemons from Debian
 * (qemu-storage-daemon, DPDK testpmd, virtiofsd), in both memory modes.
 * A test skips (exit 77 for the whole executable) only when the daemon's
 * binary is absent.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <setjmp.h>

#include <cmocka.h>

#include "iq-guest-vu.h"
#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#ifndef IQ_IOREQD_PATH
#error "IQ_IOREQD_PATH must be set by meson"
#endif

#define QSD IQ_SPAWN_QSD
#define TESTPMD "/usr/bin/dpdk-testpmd"
#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (64ull << 20)
#define VU_BASE 0x2000000ull
#define VU_IRQ 33u
#define DISK_SIZE (4ull << 20)
#define WAIT_MS 10000u
#define IQ_ARRAY_SIZE_T(a) (sizeof(a) / sizeof((a)[0]))

struct vx {
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t ioreqd;
    pid_t peer;
    char dir[64];
    char log[128];
    char peer_log[128];
    char sock[128];
    char disk[128];
    char prefix[32]; /* DPDK --file-prefix */
    int peer_stdin; /* write end of testpmd's stdin */
    uint8_t *ref;
};

static void
vx_dump(struct vx *x)
{
    iq_spawn_dump("ioreqd log", x->log);
    iq_spawn_dump("daemon log", x->peer_log);
}

static int
vx_setup(void **state)
{
    struct vx *x = calloc(1, sizeof(*x));
    struct iq_sim_config sc;

    if (x == NULL) {
        return -1;
    }
    x->ioreqd = -1;
    x->peer = -1;
    x->peer_stdin = -1;
    snprintf(x->dir, sizeof(x->dir), "/tmp/iq-vhost-XXXXXX");
    if (mkdtemp(x->dir) == NULL) {
        free(x);
        return -1;
    }
    snprintf(x->log, sizeof(x->log), "%s/ioreqd.log", x->dir);
    snprintf(x->peer_log, sizeof(x->peer_log), "%s/daemon.log", x->dir);
    snprintf(x->sock, sizeof(x->sock), "%s/vu.sock", x->dir);
    snprintf(x->disk, sizeof(x->disk), "%s/disk.raw", x->dir);
    iq_sim_config_default(&sc, IQ_SIM_ARM);
    sc.nr_vcpus = 2;
    sc.ram0_size = RAM0_SIZE;
    sc.timeout_ms = 30000; /* generous: the machine may be loaded */
    if (iq_sim_create(&sc, &x->sim) < 0 ||
        iq_guest_create(x->sim, RAM0, RAM0_SIZE, &x->g) < 0) {
        return -1;
    }
    *state = x;
    return 0;
}

static int
vx_teardown(void **state)
{
    struct vx *x = *state;
    char cmd[160];

    (void)iq_spawn_stop(&x->ioreqd, SIGKILL, 5000, NULL);
    (void)iq_spawn_stop(&x->peer, SIGKILL, 5000, NULL);
    if (x->peer_stdin >= 0) {
        close(x->peer_stdin);
    }
    if (x->prefix[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '/var/run/dpdk/%s'", x->prefix);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove /var/run/dpdk/%s\n", x->prefix);
        }
    }
    iq_guest_destroy(x->g);
    iq_sim_destroy(x->sim);
    free(x->ref);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
    if (getenv("IQ_TEST_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", x->dir);
    } else if (strncmp(x->dir, "/tmp/iq-vhost-", 14) == 0) {
        int rc = system(cmd);

        (void)rc;
    }
    free(x);
    return 0;
}

/* ---- daemons ------------------------------------------------------------- */

static void
start_qsd(struct vx *x)
{
    int rc = iq_spawn_qsd(x->disk, x->sock, 2, x->peer_log, WAIT_MS, &x->peer);

    if (rc < 0) {
        vx_dump(x);
        fail_msg("qemu-storage-daemon did not listen: %s", strerror(-rc));
    }
}

static void
make_disk(struct vx *x)
{
    int fd = open(x->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    x->ref = malloc(DISK_SIZE);
    assert_non_null(x->ref);
    iq_test_fill_random(x->ref, DISK_SIZE, 0x5eed);
    assert_int_equal(pwrite(fd, x->ref, DISK_SIZE, 0), (ssize_t)DISK_SIZE);
    close(fd);
}

/* Start ioreqd with one vhost-user device `spec` and wait until it serves. */
static void
start_ioreqd(struct vx *x, const char *spec)
{
    const char *args[] = {"--log-level", "info", "--device", spec, NULL};
    struct iq_ioreqd_spec is = {
        .exe = IQ_IOREQD_PATH,
        .log_path = x->log,
        .args = args,
        .ranges = 1,
        .timeout_ms = WAIT_MS,
    };
    int st = 0;
    int rc = iq_spawn_ioreqd(x->sim, &is, &x->ioreqd, &st);

    if (rc < 0) {
        vx_dump(x);
        fail_msg("ioreqd not ready: %s (status 0x%x)", strerror(-rc), st);
    }
}

static void
stop_ioreqd_clean(struct vx *x)
{
    int st = 0;

    assert_true(x->ioreqd > 0);
    kill(x->ioreqd, SIGTERM);
    if (iq_spawn_wait(x->ioreqd, WAIT_MS, &st) < 0) {
        vx_dump(x);
        fail_msg("ioreqd did not stop");
    }
    x->ioreqd = -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        vx_dump(x);
        fail_msg("ioreqd exit status 0x%x", st);
    }
}

static char *
vu_spec(char *buf, size_t len, const char *type, const char *sock,
        const char *mode, const char *extra)
{
    snprintf(buf, len,
             "vhost-user,base=0x%llx,irq=%u,type=%s,socket=%s,"
             "mode=%s%s",
             (unsigned long long)VU_BASE, VU_IRQ, type, sock, mode, extra);
    return buf;
}

/* ---- virtio-blk through qemu-storage-daemon ------------------------------ */

static struct iq_blk *
attach_blk(struct vx *x, unsigned queues)
{
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;
    int rc;

    assert_int_equal(iq_vm_probe(x->g, VU_BASE, VU_IRQ, 0, &dev), 0);
    assert_int_equal(dev->device_id, 2);
    rc = iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, queues, 64, 0, &blk);
    if (rc < 0) {
        vx_dump(x);
        fail_msg("attach: %s", strerror(-rc));
    }
    return blk;
}

static void
blk_io(struct vx *x, struct iq_blk *blk)
{
    const struct iq_blk_config *c = iq_blk_config(blk);
    uint8_t *wbuf = malloc(65536);
    uint8_t *rbuf = malloc(65536);
    uint8_t st = 0xff;

    assert_non_null(wbuf);
    assert_non_null(rbuf);
    assert_int_equal(c->capacity, DISK_SIZE / 512);
    assert_int_equal(iq_blk_nr_queues(blk), 2);

    /* What the host wrote is what the guest reads, on both queues. */
    assert_int_equal(iq_blk_read(blk, 0, 0, rbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, x->ref, 65536);
    assert_int_equal(iq_blk_read(blk, 1, 2048, rbuf, 4096, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, x->ref + 2048 * 512, 4096);

    /* Write on queue 0, read back on queue 1, flush. */
    iq_test_fill_random(wbuf, 65536, 0xabcdef);
    assert_int_equal(iq_blk_write(blk, 0, 100, wbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    memset(rbuf, 0, 65536);
    assert_int_equal(iq_blk_read(blk, 1, 100, rbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, wbuf, 65536);
    assert_int_equal(iq_blk_flush(blk, 0, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    memcpy(x->ref + 100 * 512, wbuf, 65536);

    /* Config writes go to the daemon (SET_CONFIG); the link survives. */
    {
        uint8_t wce = 0;
        uint8_t back = 0xff;

        assert_int_equal(iq_vm_config_write(iq_blk_dev(blk), 32, &wce, 1), 0);
        assert_int_equal(iq_vm_config_read(iq_blk_dev(blk), 32, &back, 1), 0);
        assert_int_equal(back, 0);
    }

    /* Past the end: the daemon answers IOERR, nothing breaks. */
    assert_int_equal(iq_blk_read(blk, 0, DISK_SIZE / 512, rbuf, 512, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    free(wbuf);
    free(rbuf);
}

/* Many requests in flight on both queues at once. */
static void
blk_parallel(struct vx *x, struct iq_blk *blk)
{
    enum { N = 24 };
    struct iq_blk_req req[N];
    uint64_t buf = iq_guest_alloc(x->g, (size_t)N * 4096, 4096);
    unsigned done[2] = {0, 0};

    assert_true(buf != 0);
    for (unsigned i = 0; i < N; i++) {
        memset(&req[i], 0, sizeof(req[i]));
        req[i].type = IQ_BLK_T_IN;
        req[i].sector = 8ull * (i * 7 % 512);
        req[i].data_gpa = buf + 4096ull * i;
        req[i].data_len = 4096;
        assert_int_equal(iq_blk_submit(blk, i % 2, &req[i], false), 0);
    }
    assert_int_equal(iq_blk_kick(blk, 0), 0);
    assert_int_equal(iq_blk_kick(blk, 1), 0);
    for (unsigned q = 0; q < 2; q++) {
        while (done[q] < N / 2) {
            struct iq_blk_req *r = NULL;

            assert_int_equal(iq_blk_wait(blk, q, WAIT_MS, &r), 0);
            assert_non_null(r);
            assert_int_equal(r->status, IQ_BLK_S_OK);
            done[q]++;
        }
    }
    for (unsigned i = 0; i < N; i++) {
        assert_memory_equal(iq_guest_ptr(x->g, req[i].data_gpa, 4096),
                            x->ref + req[i].sector * 512, 4096);
    }
}

static void
check_disk_on_host(struct vx *x)
{
    uint8_t *buf = malloc(DISK_SIZE);
    int fd = open(x->disk, O_RDONLY);

    assert_non_null(buf);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, DISK_SIZE, 0), (ssize_t)DISK_SIZE);
    close(fd);
    assert_memory_equal(buf, x->ref, DISK_SIZE);
    free(buf);
}

static void
blk_mode(void **state, const char *mode)
{
    struct vx *x = *state;
    char spec[384];
    struct iq_blk *blk;

    if (access(QSD, X_OK) != 0) {
        skip();
    }
    make_disk(x);
    start_qsd(x);
    start_ioreqd(
        x, vu_spec(spec, sizeof(spec), "blk", x->sock, mode, ",queues=2"));
    blk = attach_blk(x, 2);
    blk_io(x, blk);
    blk_parallel(x, blk);
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);
    stop_ioreqd_clean(x);
    (void)iq_spawn_stop(&x->peer, SIGTERM, 5000, NULL);
    check_disk_on_host(x);
}

static void
test_blk_shadow(void **state)
{
    blk_mode(state, "shadow");
}

static void
test_blk_mmap(void **state)
{
    blk_mode(state, "mmap");
}

/*
 * Shadow mode with a 16 KiB pool: requests wait for pool space
 * (back-pressure) and all complete; one larger than the whole pool puts
 * the device into NEEDS_RESET.
 */
static void
test_blk_shadow_backpressure(void **state)
{
    struct vx *x = *state;
    char spec[384];
    struct iq_blk *blk;
    uint8_t *buf;
    uint8_t st = 0xff;
    uint32_t status = 0;
    int rc;

    if (access(QSD, X_OK) != 0) {
        skip();
    }
    make_disk(x);
    start_qsd(x);
    start_ioreqd(x, vu_spec(spec, sizeof(spec), "blk", x->sock, "shadow",
                            ",queues=2,shadow=16K"));
    blk = attach_blk(x, 2);
    blk_parallel(x, blk);
    buf = malloc(65536);
    assert_non_null(buf);
    assert_int_equal(iq_blk_read(blk, 0, 0, buf, 8192, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, x->ref, 8192);
    /* 64 KiB + header + status cannot fit 16 KiB. */
    iq_blk_dev(blk)->wait_timeout_ms = 2000;
    rc = iq_blk_read(blk, 0, 0, buf, 65536, &st);
    assert_true(rc < 0);
    assert_int_equal(iq_vm_get_status(iq_blk_dev(blk), &status), 0);
    assert_true(status & IQ_VM_S_NEEDS_RESET);
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);
    /* After the reset the device works again. */
    blk = attach_blk(x, 2);
    assert_int_equal(iq_blk_read(blk, 1, 8, buf, 4096, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, x->ref + 4096, 4096);
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);
    free(buf);
    stop_ioreqd_clean(x);
}

/* The daemon dies mid-I/O: NEEDS_RESET, ioreqd lives, recovery. */
static void
blk_kill(void **state, const char *mode)
{
    struct vx *x = *state;
    char spec[384];
    struct iq_blk *blk;
    struct iq_blk_req req[8];
    uint64_t buf;
    uint32_t status = 0;
    uint8_t st;
    uint8_t rbuf[4096];
    int rc;

    if (access(QSD, X_OK) != 0) {
        skip();
    }
    make_disk(x);
    start_qsd(x);
    start_ioreqd(
        x, vu_spec(spec, sizeof(spec), "blk", x->sock, mode, ",queues=2"));
    blk = attach_blk(x, 2);
    buf = iq_guest_alloc(x->g, 8 * 4096, 4096);
    for (unsigned i = 0; i < 8; i++) {
        memset(&req[i], 0, sizeof(req[i]));
        req[i].type = IQ_BLK_T_IN;
        req[i].sector = 8ull * i;
        req[i].data_gpa = buf + 4096ull * i;
        req[i].data_len = 4096;
        assert_int_equal(iq_blk_submit(blk, 0, &req[i], false), 0);
    }
    assert_int_equal(iq_blk_kick(blk, 0), 0);
    (void)iq_spawn_stop(&x->peer, SIGKILL, 5000, NULL);

    /* The guest sees NEEDS_RESET (bounded wait). */
    for (unsigned t = 0; t < 500; t++) {
        assert_int_equal(iq_vm_get_status(iq_blk_dev(blk), &status), 0);
        if (status & IQ_VM_S_NEEDS_RESET) {
            break;
        }
        iq_test_sleep_ms(10);
    }
    if (!(status & IQ_VM_S_NEEDS_RESET)) {
        vx_dump(x);
        fail_msg("no NEEDS_RESET after the daemon died (status 0x%x)", status);
    }
    assert_int_equal(kill(x->ioreqd, 0), 0);

    /* Reset while the daemon is still away: initialisation fails cleanly. */
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);
    blk = NULL;
    {
        struct iq_vm_dev *dev = NULL;

        assert_int_equal(iq_vm_probe(x->g, VU_BASE, VU_IRQ, 0, &dev), 0);
        rc = iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 2, 64, 0, &blk);
        if (rc == 0) {
            /* DRIVER_OK could not start the daemon's rings. */
            assert_int_equal(iq_vm_get_status(iq_blk_dev(blk), &status), 0);
            assert_true(status & IQ_VM_S_NEEDS_RESET);
        }
        if (blk != NULL) {
            assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
            iq_blk_free(blk);
        } else {
            assert_int_equal(iq_vm_reset(dev), 0);
            iq_vm_free(dev);
        }
    }
    assert_int_equal(kill(x->ioreqd, 0), 0);

    /* The daemon is back; a guest reset reconnects. */
    start_qsd(x);
    {
        struct iq_vm_dev *dev = NULL;

        assert_int_equal(iq_vm_probe(x->g, VU_BASE, VU_IRQ, 0, &dev), 0);
        assert_int_equal(iq_vm_reset(dev), 0);
        iq_vm_free(dev);
    }
    blk = attach_blk(x, 2);
    assert_int_equal(iq_blk_read(blk, 1, 0, rbuf, 4096, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, x->ref, 4096);
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);
    stop_ioreqd_clean(x);
}

static void
test_blk_kill_shadow(void **state)
{
    blk_kill(state, "shadow");
}

static void
test_blk_kill_mmap(void **state)
{
    blk_kill(state, "mmap");
}

/* ---- virtio-net through DPDK testpmd (io forwarding) ------------------- */

/* testpmd runs until its stdin closes: give it a pipe we hold. */
static void
start_testpmd(struct vx *x)
{
    char vdev[256];
    char prefix_arg[64];
    char *argv[] = {(char *)"dpdk-testpmd",
                    (char *)"-l",
                    (char *)"0-1",
                    (char *)"--no-pci",
                    (char *)"--no-huge",
                    (char *)"-m",
                    (char *)"256",
                    prefix_arg,
                    (char *)"--vdev",
                    vdev,
                    (char *)"--",
                    (char *)"--forward-mode=io",
                    (char *)"--auto-start",
                    (char *)"--nb-cores=1",
                    (char *)"--total-num-mbufs=2048",
                    NULL};
    int p[2];
    int rc;

    snprintf(x->prefix, sizeof(x->prefix), "iqvu%d", (int)getpid());
    snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", x->prefix);
    snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", x->sock);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    x->peer = fork();
    assert_true(x->peer >= 0);
    if (x->peer == 0) {
        int fd = open(x->peer_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        dup2(p[0], 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(TESTPMD, argv);
        _exit(127);
    }
    close(p[0]);
    x->peer_stdin = p[1];
    rc = iq_spawn_wait_path(x->sock, x->peer, WAIT_MS);
    if (rc < 0) {
        vx_dump(x);
        fail_msg("testpmd did not listen: %s", strerror(-rc));
    }
}

static void
net_mode(void **state, const char *mode)
{
    struct vx *x = *state;
    static const size_t sizes[] = {60, 64, 128, 777, 1514};
    char spec[384];
    struct iq_vm_dev *dev = NULL;
    struct iq_net *net = NULL;
    uint8_t frame[1514];
    uint8_t got[2048];
    int rc;

    if (access(TESTPMD, X_OK) != 0) {
        skip();
    }
    start_testpmd(x);
    start_ioreqd(x, vu_spec(spec, sizeof(spec), "net", x->sock, mode, ""));
    assert_int_equal(iq_vm_probe(x->g, VU_BASE, VU_IRQ, 0, &dev), 0);
    assert_int_equal(dev->device_id, 1);
    rc = iq_net_attach(dev, 0, 64, 16, 2048, &net);
    if (rc < 0) {
        vx_dump(x);
        fail_msg("net attach: %s", strerror(-rc));
    }
    for (unsigned i = 0; i < IQ_ARRAY_SIZE_T(sizes); i++) {
        iq_test_fill_random(frame, sizes[i], 0x1000 + i);
        memset(frame, 0xff, 6); /* broadcast destination */
        frame[12] = 0x88; /* local experimental EtherType */
        frame[13] = 0xb5;
        rc = iq_net_send(net, frame, sizes[i], WAIT_MS);
        if (rc < 0) {
            vx_dump(x);
            fail_msg("send %zu: %s", sizes[i], strerror(-rc));
        }
        rc = iq_net_recv(net, got, sizeof(got), WAIT_MS);
        if (rc < 0) {
            vx_dump(x);
            fail_msg("recv %zu: %s", sizes[i], strerror(-rc));
        }
        assert_int_equal(rc, (int)sizes[i]);
        assert_memory_equal(got, frame, sizes[i]);
    }
    assert_int_equal(iq_vm_reset(iq_net_dev(net)), 0);
    iq_net_free(net);
    stop_ioreqd_clean(x);
    close(x->peer_stdin);
    x->peer_stdin = -1;
    (void)iq_spawn_stop(&x->peer, SIGTERM, 5000, NULL);
}

static void
test_net_shadow(void **state)
{
    net_mode(state, "shadow");
}

static void
test_net_mmap(void **state)
{
    net_mode(state, "mmap");
}

/* ---- virtio-fs through virtiofsd: negotiation and FUSE_INIT ------------ */

static void
fs_mode(void **state, const char *mode)
{
    struct vx *x = *state;
    char spec[384];
    char sock_arg[160];
    char src_arg[160];
    char src[96];
    char *argv[] = {
        (char *)"virtiofsd",  sock_arg, (char *)"-o", src_arg, (char *)"-o",
        (char *)"cache=none", NULL};
    struct iq_vm_dev *dev = NULL;
    struct iq_fuse_init_reply r;
    char tag[37];
    int rc;

    if (access(VIRTIOFSD, X_OK) != 0) {
        skip();
    }
    snprintf(src, sizeof(src), "%s/share", x->dir);
    assert_int_equal(mkdir(src, 0700), 0);
    snprintf(sock_arg, sizeof(sock_arg), "--socket-path=%s", x->sock);
    snprintf(src_arg, sizeof(src_arg), "source=%s", src);
    assert_int_equal(
        iq_spawn(VIRTIOFSD, argv, NULL, NULL, x->peer_log, &x->peer), 0);
    rc = iq_spawn_wait_path(x->sock, x->peer, WAIT_MS);
    if (rc < 0) {
        vx_dump(x);
        fail_msg("virtiofsd did not listen: %s", strerror(-rc));
    }
    start_ioreqd(
        x, vu_spec(spec, sizeof(spec), "fs", x->sock, mode, ",tag=iqshare"));
    assert_int_equal(iq_vm_probe(x->g, VU_BASE, VU_IRQ, 0, &dev), 0);
    assert_int_equal(dev->device_id, 26);
    rc = iq_fs_fuse_init(dev, tag, WAIT_MS, &r);
    if (rc < 0) {
        vx_dump(x);
        fail_msg("FUSE_INIT: %s", strerror(-rc));
    }
    assert_string_equal(tag, "iqshare");
    assert_int_equal(r.error, 0);
    assert_int_equal(r.major, 7);
    assert_true(r.minor >= 1);
    assert_true(r.max_write > 0);
    assert_int_equal(iq_vm_reset(dev), 0);
    iq_vm_free(dev);
    stop_ioreqd_clean(x);
    /* virtiofsd exits by itself when its client goes. */
    (void)iq_spawn_stop(&x->peer, SIGTERM, 5000, NULL);
}

static void
test_fs_shadow(void **state)
{
    fs_mode(state, "shadow");
}

static void
test_fs_mmap(void **state)
{
    fs_mode(state, "mmap");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blk_shadow, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_blk_mmap, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_blk_shadow_backpressure, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_blk_kill_shadow, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_blk_kill_mmap, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_net_shadow, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_net_mmap, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_fs_shadow, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_fs_mmap, vx_setup, vx_teardown),
    };

    /* Exit 77 (skip) only when no daemon is installed at all. */
    if (access(QSD, X_OK) != 0 && access(TESTPMD, X_OK) != 0 &&
        access(VIRTIOFSD, X_OK) != 0) {
        fprintf(stderr, "no vhost-user daemon installed: skipped\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
