/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xl disks served by a vhost-user daemon: the production ioreqd in
 * `--xenstore` mode on the fake Xen, a real qemu-storage-daemon exporting
 * a raw file, libxl's virtio_disk nodes pointing at its socket (directly,
 * or through a *.vhost-user file as an xl config must on Xen 4.17), and
 * the simulated guest's virtio-blk driver. Also: read-only disks, a socket
 * nobody listens on, and iq_xs_resolve_target() on its own.
 * The tests that need qemu-storage-daemon skip when it is absent.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"
#include "xenstore-backend.h"

#ifndef IQ_IOREQD_PATH
#error "IQ_IOREQD_PATH must be set by meson"
#endif

#define QSD IQ_SPAWN_QSD
#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (64ull << 20)
#define BASE 0x2000000ull
#define IRQ 33u
#define DEVID 51712u
#define DISK_SIZE (4ull << 20)
#define WAIT_MS 15000u
/* 1 MiB written by the guest at 1 MiB into the disk. */
#define PAT_SECTOR 2048u
#define PAT_LEN (1u << 20)

struct vx {
    struct iq_sim *sim;
    struct iq_guest *g;
    pid_t ioreqd;
    pid_t qsd;
    char dir[64];
    char be[96]; /* backend directory of the disk */
    char log[128];
    char qsd_log[128];
    char sock[96]; /* fits sockaddr_un.sun_path */
    char disk[128];
    uint8_t *ref;
};

static void
vx_dump(struct vx *x)
{
    iq_spawn_dump("ioreqd log", x->log);
    iq_spawn_dump("qemu-storage-daemon log", x->qsd_log);
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
    x->qsd = -1;
    snprintf(x->dir, sizeof(x->dir), "/tmp/iq-xsvu-XXXXXX");
    if (mkdtemp(x->dir) == NULL) {
        free(x);
        return -1;
    }
    snprintf(x->log, sizeof(x->log), "%s/ioreqd.log", x->dir);
    snprintf(x->qsd_log, sizeof(x->qsd_log), "%s/qsd.log", x->dir);
    snprintf(x->sock, sizeof(x->sock), "%s/qsd.sock", x->dir);
    snprintf(x->disk, sizeof(x->disk), "%s/disk.raw", x->dir);
    iq_sim_config_default(&sc, IQ_SIM_ARM);
    sc.ram0_size = RAM0_SIZE;
    sc.timeout_ms = 30000; /* generous: the machine may be loaded */
    if (iq_sim_create(&sc, &x->sim) < 0 ||
        iq_guest_create(x->sim, RAM0, RAM0_SIZE, &x->g) < 0) {
        return -1;
    }
    snprintf(x->be, sizeof(x->be), "/local/domain/0/backend/virtio_disk/%u/%u",
             (unsigned)iq_sim_domid(x->sim), DEVID);
    *state = x;
    return 0;
}

static int
vx_teardown(void **state)
{
    struct vx *x = *state;
    char cmd[160];

    (void)iq_spawn_stop(&x->ioreqd, SIGKILL, 5000, NULL);
    (void)iq_spawn_stop(&x->qsd, SIGKILL, 5000, NULL);
    iq_guest_destroy(x->g);
    iq_sim_destroy(x->sim);
    free(x->ref);
    if (getenv("IQ_TEST_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", x->dir);
    } else if (strncmp(x->dir, "/tmp/iq-xsvu-", 13) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", x->dir);
        }
    }
    free(x);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

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

/* qemu-storage-daemon exporting x->disk as vhost-user-blk on x->sock. */
static void
start_qsd(struct vx *x)
{
    int rc = iq_spawn_qsd(x->disk, x->sock, 0, x->qsd_log, WAIT_MS, &x->qsd);

    if (rc < 0) {
        vx_dump(x);
        fail_msg("qemu-storage-daemon did not listen: %s", strerror(-rc));
    }
}

static void
put(struct vx *x, const char *key, const char *val)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/%s", x->be, key);
    assert_int_equal(iq_sim_xs_write(x->sim, path, val), 0);
}

/* libxl's 4.17 virtio_disk nodes for one disk; `state` 1 last. */
static void
put_disk(struct vx *x, const char *target, const char *mode)
{
    char domid[16];

    snprintf(domid, sizeof(domid), "%u", (unsigned)iq_sim_domid(x->sim));
    put(x, "frontend-id", domid);
    put(x, "type", "standalone");
    put(x, "specification", "virtio");
    put(x, "transport", "mmio");
    put(x, "params", target);
    put(x, "mode", mode);
    put(x, "base", "33554432");
    put(x, "irq", "33");
    put(x, "state", "1");
}

static char *
be_state(struct vx *x)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/state", x->be);
    return iq_sim_xs_read(x->sim, path);
}

/* Start `ioreqd --domid N --arch arm --xenstore [extra]`. */
static int
spawn_xs_ioreqd(struct vx *x, const char *extra, int *status)
{
    const char *args[] = {"--xenstore", "--log-level", "info", extra, NULL};
    struct iq_ioreqd_spec is = {
        .exe = IQ_IOREQD_PATH,
        .log_path = x->log,
        .args = args,
        .ranges = 1,
        .timeout_ms = WAIT_MS,
    };

    return iq_spawn_ioreqd(x->sim, &is, &x->ioreqd, status);
}

static void
start_xs_ioreqd(struct vx *x, const char *extra)
{
    char path[160];
    int st = 0;
    int rc = spawn_xs_ioreqd(x, extra, &st);

    if (rc < 0) {
        vx_dump(x);
        fail_msg("ioreqd not ready: %s (status 0x%x)", strerror(-rc), st);
    }
    /* The handshake: 1 -> 2 -> 4 once the range is mapped. */
    snprintf(path, sizeof(path), "%s/state", x->be);
    if (iq_sim_xs_wait(x->sim, path, "4", WAIT_MS) < 0) {
        vx_dump(x);
        fail_msg("backend state never reached 4");
    }
}

static void
stop_ioreqd_clean(struct vx *x)
{
    int st = 0;

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

static void
assert_log_has(struct vx *x, const char *what)
{
    char *text = iq_spawn_slurp(x->log);

    assert_non_null(text);
    if (strstr(text, what) == NULL) {
        vx_dump(x);
        free(text);
        fail_msg("ioreqd log lacks '%s'", what);
    }
    free(text);
}

static struct iq_blk *
attach_blk(struct vx *x)
{
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;
    int rc;

    assert_int_equal(iq_vm_probe(x->g, BASE, IRQ, 0, &dev), 0);
    assert_int_equal(dev->device_id, 2);
    rc = iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 1, 64, 0, &blk);
    if (rc < 0) {
        vx_dump(x);
        fail_msg("attach: %s", strerror(-rc));
    }
    assert_int_equal(iq_blk_config(blk)->capacity, DISK_SIZE / 512);
    return blk;
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

/* Write a file holding `text` (no newline added). */
static void
write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* ---- tests --------------------------------------------------------------- */

/*
 * target= the socket itself, shadow mode (the default): the guest reads
 * what the host wrote, writes a 1 MiB pattern, reads it back, flushes;
 * afterwards the raw file holds it (the write went through the daemon).
 */
static void
test_socket_rw(void **state)
{
    struct vx *x = *state;
    uint8_t *wbuf = malloc(PAT_LEN);
    uint8_t *rbuf = malloc(PAT_LEN);
    struct iq_blk *blk;
    char want[256];
    uint8_t st = 0xff;

    assert_non_null(wbuf);
    assert_non_null(rbuf);
    if (access(QSD, X_OK) != 0) {
        free(wbuf);
        free(rbuf);
        skip();
    }
    make_disk(x);
    start_qsd(x);
    put_disk(x, x->sock, "w");
    start_xs_ioreqd(x, NULL);
    snprintf(want, sizeof(want), "bridged to vhost-user socket %s, mode=shadow",
             x->sock);
    assert_log_has(x, want);

    blk = attach_blk(x);
    assert_true((iq_blk_dev(blk)->drv_features & IQ_BLK_F_RO) == 0);
    assert_int_equal(iq_blk_read(blk, 0, 0, rbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, x->ref, 65536);
    iq_test_fill_random(wbuf, PAT_LEN, 0xfeed);
    for (unsigned off = 0; off < PAT_LEN; off += 65536) {
        assert_int_equal(iq_blk_write(blk, 0, PAT_SECTOR + off / 512,
                                      wbuf + off, 65536, &st),
                         0);
        assert_int_equal(st, IQ_BLK_S_OK);
    }
    memset(rbuf, 0, PAT_LEN);
    for (unsigned off = 0; off < PAT_LEN; off += 65536) {
        assert_int_equal(
            iq_blk_read(blk, 0, PAT_SECTOR + off / 512, rbuf + off, 65536, &st),
            0);
        assert_int_equal(st, IQ_BLK_S_OK);
    }
    assert_memory_equal(rbuf, wbuf, PAT_LEN);
    assert_int_equal(iq_blk_flush(blk, 0, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    memcpy(x->ref + (size_t)PAT_SECTOR * 512, wbuf, PAT_LEN);
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);

    /* libxl's destroy: 5 -> 6, and ioreqd exits 0 by itself. */
    put(x, "state", "5");
    {
        char path[160];
        int wst = 0;

        snprintf(path, sizeof(path), "%s/state", x->be);
        assert_int_equal(iq_sim_xs_wait(x->sim, path, "6", WAIT_MS), 0);
        assert_int_equal(iq_spawn_wait(x->ioreqd, WAIT_MS, &wst), 0);
        x->ioreqd = -1;
        assert_true(WIFEXITED(wst));
        assert_int_equal(WEXITSTATUS(wst), 0);
    }
    (void)iq_spawn_stop(&x->qsd, SIGTERM, 5000, NULL);
    check_disk_on_host(x);
    free(wbuf);
    free(rbuf);
}

/*
 * A read-only xl disk (mode "r") whose daemon would accept writes, reached
 * through a *.vhost-user file: ioreqd offers VIRTIO_BLK_F_RO and answers
 * every write-type request with IOERR itself; reads work; the raw file is
 * unchanged.
 */
static void
test_pointer_ro(void **state)
{
    struct vx *x = *state;
    uint8_t *buf = malloc(65536);
    struct iq_blk *blk;
    char ptr[160];
    char text[512];
    uint8_t st = 0xff;

    assert_non_null(buf);
    if (access(QSD, X_OK) != 0) {
        free(buf);
        skip();
    }
    make_disk(x);
    start_qsd(x);
    snprintf(ptr, sizeof(ptr), "%s/disk0.vhost-user", x->dir);
    snprintf(text, sizeof(text), "%s\n", x->sock);
    write_text(ptr, text);
    put_disk(x, ptr, "r");
    start_xs_ioreqd(x, "--vhost-mode=shadow");
    snprintf(text, sizeof(text),
             "(target %s): bridged to vhost-user socket %s, mode=shadow, "
             "read-only",
             ptr, x->sock);
    assert_log_has(x, text);

    blk = attach_blk(x);
    assert_true((iq_blk_dev(blk)->drv_features & IQ_BLK_F_RO) != 0);
    assert_int_equal(iq_blk_read(blk, 0, 8, buf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, x->ref + 8 * 512, 65536);
    /* A hostile guest writes anyway: refused, never reaches the daemon. */
    memset(buf, 0xa5, 65536);
    st = 0xff;
    assert_int_equal(iq_blk_write(blk, 0, 0, buf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    st = 0xff;
    assert_int_equal(iq_blk_write_zeroes(blk, 0, 0, 8, false, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    st = 0xff;
    assert_int_equal(iq_blk_discard(blk, 0, 0, 8, &st), 0);
    assert_int_equal(st, IQ_BLK_S_IOERR);
    /* Flush and reads still go through; the device did not break. */
    assert_int_equal(iq_blk_flush(blk, 0, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_int_equal(iq_blk_read(blk, 0, 0, buf, 4096, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(buf, x->ref, 4096);
    assert_int_equal(iq_vm_reset(iq_blk_dev(blk)), 0);
    iq_blk_free(blk);
    stop_ioreqd_clean(x);
    (void)iq_spawn_stop(&x->qsd, SIGTERM, 5000, NULL);
    check_disk_on_host(x);
    free(buf);
}

/*
 * Read-only in mmap mode with a daemon that accepts writes: ioreqd cannot
 * filter the daemon's own ring walk, so the disk is refused with a clear
 * error, the process exits 1 and the backend stays at 1 (libxl then fails
 * the domain creation), as for a missing file.
 */
static void
test_mmap_ro_refused(void **state)
{
    struct vx *x = *state;
    char *s;
    int st = 0;
    int rc;

    if (access(QSD, X_OK) != 0) {
        skip();
    }
    make_disk(x);
    start_qsd(x);
    put_disk(x, x->sock, "r");
    rc = spawn_xs_ioreqd(x, "--vhost-mode=mmap", &st);
    assert_int_equal(rc, -ECHILD);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_log_has(x, "mode=mmap, read-only");
    assert_log_has(x, "read-only disk in mode=mmap needs a daemon that is "
                      "read-only itself");
    s = be_state(x);
    assert_non_null(s);
    assert_string_equal(s, "1");
    free(s);
    (void)iq_spawn_stop(&x->qsd, SIGTERM, 5000, NULL);
    check_disk_on_host(x);
}

/*
 * A socket file nobody listens on (a daemon that died): a clean error,
 * exit status 1, state left at 1 — exactly what a missing image file gets.
 */
static void
test_socket_no_listener(void **state)
{
    struct vx *x = *state;
    struct sockaddr_un sa;
    char missing[160];
    char want[256];
    char *s;
    int st = 0;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", x->sock);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* the socket file stays, nobody listens */

    put_disk(x, x->sock, "w");
    assert_int_equal(spawn_xs_ioreqd(x, NULL, &st), -ECHILD);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    snprintf(want, sizeof(want),
             "cannot connect to vhost-user socket %s: Connection refused",
             x->sock);
    assert_log_has(x, want);
    s = be_state(x);
    assert_non_null(s);
    assert_string_equal(s, "1");
    free(s);

    /* The same handling as for a missing image file. */
    snprintf(missing, sizeof(missing), "%s/missing.img", x->dir);
    put(x, "params", missing);
    assert_int_equal(spawn_xs_ioreqd(x, NULL, &st), -ECHILD);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    s = be_state(x);
    assert_non_null(s);
    assert_string_equal(s, "1");
    free(s);
}

/*
 * `ioreqd --launcher --vhost-mode mmap -- ARGS`: each domain's ioreqd gets
 * "--vhost-mode mmap" before ARGS. The launched program is a script that
 * records its arguments. A bad mode is a usage error (exit 2).
 */
static void
test_launcher_passes_mode(void **state)
{
    struct vx *x = *state;
    char script[160];
    char args_out[160];
    char text[600];
    char want[160];
    char *argv[] = {(char *)"ioreqd",
                    (char *)"--launcher",
                    (char *)"--ioreqd-path",
                    script,
                    (char *)"--vhost-mode",
                    (char *)"mmap",
                    (char *)"--",
                    (char *)"--log-level",
                    (char *)"debug",
                    NULL};
    pid_t pid = -1;
    char *got = NULL;
    int st = 0;

    snprintf(script, sizeof(script), "%s/fake-ioreqd", x->dir);
    snprintf(args_out, sizeof(args_out), "%s/args", x->dir);
    snprintf(text, sizeof(text),
             "#!/bin/sh\necho \"$*\" > %s.tmp\n"
             "mv %s.tmp %s\n",
             args_out, args_out, args_out);
    write_text(script, text);
    assert_int_equal(chmod(script, 0700), 0);
    assert_int_equal(iq_spawn(IQ_IOREQD_PATH, argv, NULL, x->sim, x->log, &pid),
                     0);
    put_disk(x, "/img/a.img", "w");
    for (unsigned i = 0; i < WAIT_MS / 50 && got == NULL; i++) {
        usleep(50000);
        got = iq_spawn_slurp(args_out);
    }
    (void)iq_spawn_stop(&pid, SIGTERM, 5000, &st);
    if (got == NULL) {
        vx_dump(x);
        fail_msg("the launcher started nothing");
    }
    snprintf(want, sizeof(want),
             "--domid %u --xenstore --vhost-mode mmap --log-level debug\n",
             (unsigned)iq_sim_domid(x->sim));
    assert_string_equal(got, want);
    free(got);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    argv[5] = (char *)"zerocopy";
    assert_int_equal(iq_spawn(IQ_IOREQD_PATH, argv, NULL, x->sim, x->log, &pid),
                     0);
    assert_int_equal(iq_spawn_wait(pid, WAIT_MS, &st), 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_log_has(x, "bad --vhost-mode");
}

/* Usage errors (exit 2, one line): a bad --vhost-mode, ro on a non-disk. */
static void
test_bad_options(void **state)
{
    struct vx *x = *state;
    char *mode_argv[] = {(char *)"ioreqd",
                         (char *)"--domid",
                         (char *)"1",
                         (char *)"--vhost-mode",
                         (char *)"zerocopy",
                         (char *)"--device",
                         (char *)"vhost-user,base=0x2000000,irq=33,type=blk,"
                                 "socket=/nonexistent.sock",
                         NULL};
    char *ro_argv[] = {(char *)"ioreqd",
                       (char *)"--domid",
                       (char *)"1",
                       (char *)"--device",
                       (char *)"vhost-user,base=0x2000000,irq=33,type=fs,"
                               "socket=/nonexistent.sock,ro",
                       NULL};
    pid_t pid = -1;
    int st = 0;

    assert_int_equal(
        iq_spawn(IQ_IOREQD_PATH, mode_argv, NULL, x->sim, x->log, &pid), 0);
    assert_int_equal(iq_spawn_wait(pid, WAIT_MS, &st), 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_log_has(x, "--vhost-mode: bad mode 'zerocopy' (shadow|mmap)");
    assert_int_equal(
        iq_spawn(IQ_IOREQD_PATH, ro_argv, NULL, x->sim, x->log, &pid), 0);
    assert_int_equal(iq_spawn_wait(pid, WAIT_MS, &st), 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_log_has(x, "'ro' needs type=blk");
}

/* iq_xs_resolve_target() on every kind of target. */
static void
test_resolve_target(void **state)
{
    struct vx *x = *state;
    char sock[IQ_XS_SOCKET_MAX];
    char path[160];
    char text[300];
    struct sockaddr_un sa;
    int fd;

    /* missing and regular files are files, whatever they contain */
    snprintf(path, sizeof(path), "%s/none.img", x->dir);
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     IQ_XS_TARGET_FILE);
    snprintf(path, sizeof(path), "%s/disk.img", x->dir);
    write_text(path, "/tmp/some.sock\n");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     IQ_XS_TARGET_FILE);
    /* a directory is left to the file path too (it fails to open) */
    assert_int_equal(iq_xs_resolve_target(x->dir, sock, sizeof(sock)),
                     IQ_XS_TARGET_FILE);

    /* a socket */
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", x->sock);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    memset(sock, 'x', sizeof(sock));
    assert_int_equal(iq_xs_resolve_target(x->sock, sock, sizeof(sock)),
                     IQ_XS_TARGET_VHOST_USER);
    assert_string_equal(sock, x->sock);
    assert_int_equal(iq_xs_resolve_target(x->sock, sock, 8), -ENAMETOOLONG);

    /* *.vhost-user files: one absolute path, newline optional */
    snprintf(path, sizeof(path), "%s/d.vhost-user", x->dir);
    write_text(path, "/run/qsd/disk0.sock");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     IQ_XS_TARGET_VHOST_USER);
    assert_string_equal(sock, "/run/qsd/disk0.sock");
    write_text(path, "/run/qsd/disk1.sock\n");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     IQ_XS_TARGET_VHOST_USER);
    assert_string_equal(sock, "/run/qsd/disk1.sock");
    write_text(path, "");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)), -EINVAL);
    write_text(path, "relative.sock\n");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)), -EINVAL);
    write_text(path, "/a.sock\n/b.sock\n");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)), -EINVAL);
    write_text(path, "/a,b.sock\n");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)), -EINVAL);
    memset(text, 'a', sizeof(text));
    text[0] = '/';
    text[IQ_XS_SOCKET_MAX] = '\0'; /* 108 bytes: one too many */
    write_text(path, text);
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     -ENAMETOOLONG);
    text[sizeof(text) - 1] = '\0'; /* longer than anything we read */
    write_text(path, text);
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     -ENAMETOOLONG);
    /* the suffix alone is not a name */
    snprintf(path, sizeof(path), "%s/.vhost-user", x->dir);
    write_text(path, "/run/qsd/disk0.sock");
    assert_int_equal(iq_xs_resolve_target(path, sock, sizeof(sock)),
                     IQ_XS_TARGET_FILE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve_target, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_socket_rw, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_pointer_ro, vx_setup, vx_teardown),
        cmocka_unit_test_setup_teardown(test_mmap_ro_refused, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_socket_no_listener, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_launcher_passes_mode, vx_setup,
                                        vx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, vx_setup,
                                        vx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
