/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-console over its four backends (fd/socketpair, pty, listening
 * unix socket, file), driven by the in-test virtio driver.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioreqd/log.h"
#include "ioreqd/virtio-devices.h"
#include "ioreqd/virtio.h"
#include "vtest.h"

#define RING 0x010000u
#define DATA 0x200000u
#define QSIZE 8u
#define RXQ 0u
#define TXQ 1u
#define FEAT_CON (VT_F_V1 | VT_F_EVENT_IDX)

static unsigned
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    unsigned n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

static struct iq_virtio_console *
mk_console(struct vt_env *e, enum iq_virtio_console_backend b, const char *path,
           int fd)
{
    struct iq_virtio_console_config cfg = {
        .env =
            {
                .name = "con",
                .irq = 35,
                .mc = e->mc,
                .loop = e->loop,
                .irq_ops = &vt_irq_ops,
                .irq_opaque = &e->irq,
                .arch = IQ_ARCH_ARM,
            },
        .backend = b,
        .path = path,
        .fd = fd,
    };
    struct iq_virtio_console *con = NULL;

    assert_int_equal(iq_virtio_console_create(&cfg, &con), 0);
    return con;
}

/* Run the loop until nothing is left to do (bounded). */
static void
pump(struct vt_env *e)
{
    for (int i = 0; i < 1000; i++) {
        int n = iq_loop_run_once(e->loop, 0);

        assert_true(n >= 0);
        if (n == 0) {
            return;
        }
    }
    fail_msg("loop did not settle");
}

/* Run the loop until used idx of `qi` reaches `want` (bounded waits). */
static void
pump_until_used(struct vt_env *e, struct vt_drv *d, unsigned qi, uint16_t want)
{
    for (int i = 0; i < 50 && vt_used_idx(d, qi) != want; i++) {
        assert_true(iq_loop_run_once(e->loop, 200) >= 0);
    }
    assert_int_equal(vt_used_idx(d, qi), want);
}

static void
post_rx(struct vt_drv *d, uint16_t head, uint64_t addr, uint32_t len)
{
    vt_desc(d, RXQ, head, addr, len, VT_D_WRITE, 0);
    vt_avail(d, RXQ, head);
    vt_kick(d, RXQ);
}

static void
send_tx(struct vt_drv *d, uint16_t head, uint64_t addr, const char *s)
{
    memcpy(d->env->ram + addr, s, strlen(s));
    vt_desc(d, TXQ, head, addr, (uint32_t)strlen(s), 0, 0);
    vt_avail(d, TXQ, head);
    vt_kick(d, TXQ);
}

/* Read exactly n bytes from fd, waiting a bounded number of times. */
static void
read_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;

    for (int i = 0; i < 50 && got < n; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&p, 1, 200) <= 0) {
            continue;
        }
        r = read(fd, buf + got, n - got);
        if (r > 0) {
            got += (size_t)r;
        }
    }
    assert_int_equal(got, n);
}

static void
test_console_echo_fd(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    struct iq_virtio_console_stats st;
    unsigned fds = count_fds();
    int sv[2];
    char buf[16] = {0};
    uint32_t id;
    uint32_t len;

    (void)state;
    vt_env_init(&e, 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_FD, NULL, sv[0]);
    assert_null(iq_virtio_console_pty_path(con));
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    assert_int_equal(vt_reg_r(&d, VT_DEVICE_ID), IQ_VIRTIO_ID_CONSOLE);
    /* No device features: no SIZE, no MULTIPORT. */
    vt_reg_w(&d, VT_DEV_FEATURES_SEL, 0);
    assert_int_equal(vt_reg_r(&d, VT_DEV_FEATURES) & 0xffffff, 0);
    assert_int_equal(iq_virtio_region_ops()->read(d.dev, 0x100, 4), 0);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);

    post_rx(&d, 0, DATA, 64);
    assert_int_equal(vt_used_idx(&d, RXQ), 0);
    assert_int_equal(write(sv[1], "hello", 5), 5);
    pump_until_used(&e, &d, RXQ, 1);
    vt_used_elem(&d, RXQ, 0, &id, &len);
    assert_int_equal(id, 0);
    assert_int_equal(len, 5);
    assert_memory_equal(e.ram + DATA, "hello", 5);
    assert_int_equal(e.irq.edges, 1);

    /* The guest echoes it back through the transmit queue. */
    send_tx(&d, 0, DATA + 0x1000, "hello");
    assert_int_equal(vt_used_idx(&d, TXQ), 1);
    vt_used_elem(&d, TXQ, 0, &id, &len);
    assert_int_equal(len, 0);
    read_exact(sv[1], buf, 5);
    assert_memory_equal(buf, "hello", 5);
    iq_virtio_console_get_stats(con, &st);
    assert_int_equal(st.rx_bytes, 5);
    assert_int_equal(st.tx_bytes, 5);
    assert_int_equal(st.rx_dropped, 0);
    assert_int_equal(st.tx_dropped, 0);
    assert_int_equal(vt_pins(&e), 0);

    iq_virtio_console_destroy(con);
    close(sv[0]);
    close(sv[1]);
    vt_env_fini(&e);
    assert_int_equal(count_fds(), fds);
}

static void
test_console_input_bounded(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    struct iq_virtio_console_stats st;
    size_t total = IQ_VIRTIO_CONSOLE_BUF + 100;
    uint8_t *pat = malloc(total);
    int sv[2];
    uint32_t id;
    uint32_t len;

    (void)state;
    assert_non_null(pat);
    for (size_t i = 0; i < total; i++) {
        pat[i] = (uint8_t)(i * 7 + 3);
    }
    vt_env_init(&e, 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_FD, NULL, sv[0]);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);

    /* Input before any driver: buffered up to the bound, rest dropped. */
    assert_int_equal(write(sv[1], pat, total), (ssize_t)total);
    pump(&e);
    iq_virtio_console_get_stats(con, &st);
    assert_int_equal(st.rx_dropped, 100);
    assert_int_equal(st.rx_bytes, 0);

    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);
    post_rx(&d, 0, DATA, 40000);
    post_rx(&d, 1, DATA + 0x10000, 40000);
    pump(&e);
    assert_int_equal(vt_used_idx(&d, RXQ), 2);
    vt_used_elem(&d, RXQ, 0, &id, &len);
    assert_int_equal(len, 40000);
    vt_used_elem(&d, RXQ, 1, &id, &len);
    assert_int_equal(id, 1);
    assert_int_equal(len, IQ_VIRTIO_CONSOLE_BUF - 40000);
    assert_memory_equal(e.ram + DATA, pat, 40000);
    assert_memory_equal(e.ram + DATA + 0x10000, pat + 40000,
                        IQ_VIRTIO_CONSOLE_BUF - 40000);
    iq_virtio_console_get_stats(con, &st);
    assert_int_equal(st.rx_bytes, IQ_VIRTIO_CONSOLE_BUF);

    iq_virtio_console_destroy(con);
    close(sv[0]);
    close(sv[1]);
    vt_env_fini(&e);
    free(pat);
}

static void
test_console_tx_drop(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    struct iq_virtio_console_stats st;
    int sv[2];
    int sz = 4096;
    const uint32_t chunk = 60000;

    (void)state;
    vt_env_init(&e, 4u << 20);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)),
                     0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_FD, NULL, sv[0]);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);

    /* Nobody reads sv[1]: the device must drop, never block or hold. */
    for (uint16_t i = 0; i < 6; i++) {
        vt_desc(&d, TXQ, i, DATA + (uint64_t)i * 0x10000, chunk, 0, 0);
        vt_avail(&d, TXQ, i);
    }
    vt_kick(&d, TXQ);
    assert_int_equal(vt_used_idx(&d, TXQ), 6);
    assert_int_equal(vt_pins(&e), 0);
    iq_virtio_console_get_stats(con, &st);
    assert_true(st.tx_dropped > 0);
    assert_true(st.tx_bytes + st.tx_dropped <= 6ull * chunk);
    assert_true(st.tx_bytes + st.tx_dropped + IQ_VIRTIO_CONSOLE_BUF >=
                6ull * chunk);

    iq_virtio_console_destroy(con);
    close(sv[0]);
    close(sv[1]);
    vt_env_fini(&e);
}

static void
test_console_pty(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    unsigned fds = count_fds();
    const char *path;
    char buf[8] = {0};
    int s;

    (void)state;
    /* Containers without devpts cannot run this test. */
    s = posix_openpt(O_RDWR | O_NOCTTY);
    if (s < 0) {
        skip();
    }
    close(s);
    vt_env_init(&e, 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_PTY, NULL, -1);
    path = iq_virtio_console_pty_path(con);
    assert_non_null(path);
    assert_int_equal(strncmp(path, "/dev/pts/", 9), 0);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);

    s = open(path, O_RDWR | O_NOCTTY);
    assert_true(s >= 0);
    post_rx(&d, 0, DATA, 64);
    assert_int_equal(write(s, "pty!", 4), 4);
    pump_until_used(&e, &d, RXQ, 1);
    assert_memory_equal(e.ram + DATA, "pty!", 4);
    send_tx(&d, 0, DATA + 0x1000, "raw\n");
    read_exact(s, buf, 4);
    /* Raw mode: no CR inserted before the newline. */
    assert_memory_equal(buf, "raw\n", 4);
    close(s);

    iq_virtio_console_destroy(con);
    vt_env_fini(&e);
    assert_int_equal(count_fds(), fds);
}

static int
connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void
test_console_socket(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    unsigned fds = count_fds();
    char dir[] = "/tmp/iq-con-XXXXXX";
    char path[64];
    char buf[8] = {0};
    int c1;
    int c2;
    int c3;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/con.sock", dir);
    vt_env_init(&e, 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_SOCKET, path, -1);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);

    c1 = connect_to(path);
    pump(&e);
    post_rx(&d, 0, DATA, 64);
    assert_int_equal(write(c1, "sock", 4), 4);
    pump_until_used(&e, &d, RXQ, 1);
    assert_memory_equal(e.ram + DATA, "sock", 4);
    send_tx(&d, 0, DATA + 0x1000, "back");
    read_exact(c1, buf, 4);
    assert_memory_equal(buf, "back", 4);

    /* A second client is refused while the first is connected. */
    c2 = connect_to(path);
    pump(&e);
    assert_int_equal(read(c2, buf, sizeof(buf)), 0);
    close(c2);

    /* The first leaves; output without a client is dropped. */
    close(c1);
    pump(&e);
    send_tx(&d, 1, DATA + 0x1000, "lost");
    assert_int_equal(vt_used_idx(&d, TXQ), 2);

    /* A new client is served. */
    c3 = connect_to(path);
    pump(&e);
    send_tx(&d, 2, DATA + 0x1000, "new!");
    read_exact(c3, buf, 4);
    assert_memory_equal(buf, "new!", 4);
    close(c3);

    iq_virtio_console_destroy(con);
    /* The socket file is removed at destroy. */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(rmdir(dir), 0);
    vt_env_fini(&e);
    assert_int_equal(count_fds(), fds);
}

static void
test_console_file(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    char dir[] = "/tmp/iq-con-XXXXXX";
    char path[64];
    char buf[32] = {0};
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/out.log", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("old\n", f);
    fclose(f);

    vt_env_init(&e, 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_FILE, path, -1);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);
    send_tx(&d, 0, DATA, "new");
    send_tx(&d, 1, DATA + 0x100, "er");
    assert_int_equal(vt_used_idx(&d, TXQ), 2);
    iq_virtio_console_destroy(con);

    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf), f), 9);
    fclose(f);
    assert_string_equal(buf, "old\nnewer");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    vt_env_fini(&e);
}

/* FILE backend with a size cap (0: the default). */
static struct iq_virtio_console *
mk_file_console(struct vt_env *e, const char *path, uint64_t max)
{
    struct iq_virtio_console_config cfg = {
        .env =
            {
                .name = "con",
                .irq = 35,
                .mc = e->mc,
                .loop = e->loop,
                .irq_ops = &vt_irq_ops,
                .irq_opaque = &e->irq,
                .arch = IQ_ARCH_ARM,
            },
        .backend = IQ_VIRTIO_CONSOLE_FILE,
        .path = path,
        .fd = -1,
        .file_max = max,
    };
    struct iq_virtio_console *con = NULL;

    assert_int_equal(iq_virtio_console_create(&cfg, &con), 0);
    return con;
}

static uint64_t
file_size_of(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

/*
 * A guest cannot fill dom0's disk through a file console: by default the
 * file stops at IQ_VIRTIO_CONSOLE_FILE_MAX, the rest is dropped and counted.
 */
static void
test_console_file_default_cap(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    struct iq_virtio_console_stats st;
    char path[] = "/tmp/iq-concap-XXXXXX";
    const uint32_t chunk = 64u << 10;
    const unsigned kicks = (unsigned)(IQ_VIRTIO_CONSOLE_FILE_MAX / chunk) + 16;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    vt_env_init(&e, 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_FILE, path, -1);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);
    memset(e.ram + DATA, 'x', chunk);
    for (unsigned i = 0; i < kicks; i++) {
        uint16_t head = (uint16_t)(i % QSIZE);

        vt_desc(&d, TXQ, head, DATA, chunk, 0, 0);
        vt_avail(&d, TXQ, head);
        vt_kick(&d, TXQ);
    }
    pump(&e);
    assert_int_equal(vt_used_idx(&d, TXQ), (uint16_t)kicks);
    iq_virtio_console_get_stats(con, &st);
    iq_virtio_console_destroy(con);
    assert_int_equal(file_size_of(path), IQ_VIRTIO_CONSOLE_FILE_MAX);
    assert_int_equal(st.tx_bytes, IQ_VIRTIO_CONSOLE_FILE_MAX);
    assert_int_equal(st.tx_dropped,
                     (uint64_t)kicks * chunk - IQ_VIRTIO_CONSOLE_FILE_MAX);
    assert_int_equal(unlink(path), 0);
    vt_env_fini(&e);
}

/* maxsize: existing bytes count, the cut is exact, truncation reopens. */
static void
test_console_file_cap(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    struct iq_virtio_console_stats st;
    char path[] = "/tmp/iq-concap-XXXXXX";
    char buf[32] = {0};
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old\n", 4), 4);
    vt_env_init(&e, 0);
    con = mk_file_console(&e, path, 10);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);
    send_tx(&d, 0, DATA, "new");
    send_tx(&d, 1, DATA + 0x100, "ers-longer");
    send_tx(&d, 2, DATA + 0x200, "more");
    assert_int_equal(vt_used_idx(&d, TXQ), 3);
    assert_int_equal(file_size_of(path), 10);
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), 10);
    assert_string_equal(buf, "old\nnewers");
    iq_virtio_console_get_stats(con, &st);
    assert_int_equal(st.tx_bytes, 6);
    assert_int_equal(st.tx_dropped, 11);
    /* Rotated (truncated): output is written again. */
    assert_int_equal(ftruncate(fd, 0), 0);
    send_tx(&d, 3, DATA + 0x300, "again");
    assert_int_equal(vt_used_idx(&d, TXQ), 4);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
    assert_string_equal(buf, "again");
    iq_virtio_console_destroy(con);
    close(fd);
    assert_int_equal(unlink(path), 0);
    vt_env_fini(&e);
}

/* Lines of `path` containing `needle`. */
static unsigned
count_lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[512];
    unsigned n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/*
 * A backend whose writes keep failing (disk full: /dev/full gives ENOSPC)
 * must not let the guest flood the log: one failing write per transmit
 * kick is guest-triggerable, so the message is rate-limited.
 */
static void
test_console_write_error_log_limited(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_console *con;
    struct iq_virtio_console_stats st;
    char logpath[] = "/tmp/iq-con-log-XXXXXX";
    int logfd;
    int saved;
    unsigned lines;

    (void)state;
    logfd = mkstemp(logpath);
    assert_true(logfd >= 0);
    vt_env_init(&e, 0);
    con = mk_console(&e, IQ_VIRTIO_CONSOLE_FILE, "/dev/full", -1);
    vt_drv_init(&d, &e, iq_virtio_console_dev(con), RING);
    vt_probe(&d, FEAT_CON, 2, QSIZE);
    pump(&e);

    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(logfd, STDERR_FILENO) >= 0);
    iq_log_set_level(IQ_LOG_WARNING);
    for (uint16_t i = 0; i < 40; i++) {
        send_tx(&d, i % QSIZE, DATA + 0x100u * (i % QSIZE), "x");
    }
    iq_log_set_level(getenv("VT_VERBOSE") != NULL ? IQ_LOG_DEBUG : IQ_LOG_ERR);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(logfd);

    assert_int_equal(vt_used_idx(&d, TXQ), 40);
    iq_virtio_console_get_stats(con, &st);
    assert_int_equal(st.tx_bytes, 0);
    assert_int_equal(st.tx_dropped, 40);
    lines = count_lines_with(logpath, "console output");
    assert_true(lines >= 1);
    assert_true(lines <= IQ_LOG_GUEST_BURST);
    assert_int_equal(unlink(logpath), 0);

    iq_virtio_console_destroy(con);
    vt_env_fini(&e);
}

static void
test_console_bad_config(void **state)
{
    struct vt_env e;
    struct iq_virtio_console_config cfg = {0};
    struct iq_virtio_console *con = (void *)1;

    (void)state;
    vt_env_init(&e, 0);
    cfg.env.mc = e.mc;
    cfg.env.loop = e.loop;
    cfg.backend = IQ_VIRTIO_CONSOLE_FILE;
    assert_int_equal(iq_virtio_console_create(&cfg, &con), -EINVAL);
    assert_null(con);
    cfg.backend = IQ_VIRTIO_CONSOLE_FILE;
    cfg.path = "/nonexistent-dir/x/y";
    assert_int_equal(iq_virtio_console_create(&cfg, &con), -ENOENT);
    cfg.backend = IQ_VIRTIO_CONSOLE_FD;
    cfg.fd = -1;
    assert_int_equal(iq_virtio_console_create(&cfg, &con), -EINVAL);
    iq_virtio_console_destroy(NULL);
    vt_env_fini(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_echo_fd),
        cmocka_unit_test(test_console_input_bounded),
        cmocka_unit_test(test_console_tx_drop),
        cmocka_unit_test(test_console_pty),
        cmocka_unit_test(test_console_socket),
        cmocka_unit_test(test_console_file),
        cmocka_unit_test(test_console_file_default_cap),
        cmocka_unit_test(test_console_file_cap),
        cmocka_unit_test(test_console_write_error_log_limited),
        cmocka_unit_test(test_console_bad_config),
    };

    iq_log_set_level(getenv("VT_VERBOSE") != NULL ? IQ_LOG_DEBUG : IQ_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
