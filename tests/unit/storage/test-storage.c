/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Storage backends: the file engine (io_uring and forced worker threads) on
 * a temporary file, plus null and mem.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ioreqd/compiler.h"
#include "ioreqd/loop.h"
#include "ioreqd/storage.h"

#define FILE_SIZE (4u << 20)
#define MANY 300u

struct tctx {
    bool no_uring;
    struct iq_loop *loop;
    struct iq_storage *s;
    char path[64];
    int fd; /* the test's own fd on the same file */
    unsigned ncb; /* callbacks run */
    bool direct_refused;
};

struct treq {
    struct iq_sto_req req;
    struct tctx *t;
    unsigned done;
    int64_t res;
    /* optional follow-up submitted from the callback */
    struct treq *then;
};

static void
treq_cb(struct iq_sto_req *req, int64_t res)
{
    struct treq *r = IQ_CONTAINER_OF(req, struct treq, req);

    r->done++;
    r->res = res;
    r->t->ncb++;
    if (r->then != NULL) {
        assert_int_equal(iq_storage_submit(r->t->s, &r->then->req), 0);
    }
}

static void
treq_init(struct treq *r, struct tctx *t, enum iq_sto_op op, uint64_t off,
          const struct iovec *iov, unsigned cnt, uint64_t len)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    r->req.op = op;
    r->req.offset = off;
    r->req.len = len;
    r->req.iov = iov;
    r->req.iovcnt = cnt;
    r->req.cb = treq_cb;
}

/* Run the loop until `want` callbacks ran (bounded: fails on a hang). */
static void
run_until(struct tctx *t, unsigned want)
{
    for (unsigned i = 0; t->ncb < want; i++) {
        assert_true(i < 10000);
        assert_true(iq_loop_run_once(t->loop, 1000) >= 0);
    }
    assert_int_equal(t->ncb, want);
}

/* Submit, check nothing ran inline, run to completion, return res. */
static int64_t
do_req(struct tctx *t, enum iq_sto_op op, uint64_t off, const struct iovec *iov,
       unsigned cnt, uint64_t len)
{
    struct treq r;
    unsigned before = t->ncb;

    treq_init(&r, t, op, off, iov, cnt, len);
    assert_int_equal(iq_storage_submit(t->s, &r.req), 0);
    assert_int_equal(r.done, 0);
    run_until(t, before + 1);
    assert_int_equal(r.done, 1);
    return r.res;
}

static int
submit_rc(struct tctx *t, enum iq_sto_op op, uint64_t off,
          const struct iovec *iov, unsigned cnt, uint64_t len)
{
    struct treq r;
    int ret;

    treq_init(&r, t, op, off, iov, cnt, len);
    ret = iq_storage_submit(t->s, &r.req);
    if (ret == 0) {
        iq_storage_drain(t->s);
    }
    return ret;
}

static int
setup_common(void **state, bool readonly, bool direct)
{
    struct tctx *t = *state;
    struct iq_storage_opts o = {
        .readonly = readonly,
        .direct = direct,
        .nr_queues = 2,
        .no_uring = t->no_uring,
    };
    int ret;

    t->ncb = 0;
    t->s = NULL;
    strcpy(t->path, "/tmp/iq-storage-XXXXXX");
    t->fd = mkstemp(t->path);
    assert_true(t->fd >= 0);
    assert_int_equal(ftruncate(t->fd, FILE_SIZE), 0);
    assert_int_equal(iq_loop_create(&t->loop), 0);
    ret = iq_storage_open_file(t->loop, t->path, &o, &t->s);
    if (direct && ret == -EINVAL) {
        /* This filesystem refuses O_DIRECT (tmpfs before Linux 6.6). */
        t->direct_refused = true;
        return 0;
    }
    t->direct_refused = false;
    assert_int_equal(ret, 0);
    assert_int_equal(iq_storage_size(t->s), FILE_SIZE);
    assert_int_equal(iq_storage_block_size(t->s), 512);
    assert_true(iq_storage_readonly(t->s) == readonly);
    return 0;
}

static int
setup_rw(void **state)
{
    return setup_common(state, false, false);
}

static int
setup_ro(void **state)
{
    return setup_common(state, true, false);
}

static int
setup_direct(void **state)
{
    return setup_common(state, false, true);
}

static int
teardown(void **state)
{
    struct tctx *t = *state;

    iq_storage_destroy(t->s);
    t->s = NULL;
    iq_loop_destroy(t->loop);
    t->loop = NULL;
    close(t->fd);
    unlink(t->path);
    return 0;
}

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

static void
t_engine(void **state)
{
    struct tctx *t = *state;

    if (t->no_uring) {
        assert_string_equal(iq_storage_engine(t->s), "threads");
        return;
    }
#if IQ_HAVE_URING
    if (strcmp(iq_storage_engine(t->s), "io_uring") != 0) {
        print_message("io_uring refused by this kernel: threads used\n");
        skip();
    }
#else
    assert_string_equal(iq_storage_engine(t->s), "threads");
#endif
}

static void
t_write_read(void **state)
{
    struct tctx *t = *state;
    uint8_t src[12288];
    uint8_t dst[12288];
    uint8_t file[12288];
    struct iovec wv[3] = {
        {src, 1000},
        {src + 1000, 0},
        {src + 1000, sizeof(src) - 1000},
    };
    struct iovec rv[2] = {{dst, 5000}, {dst + 5000, sizeof(dst) - 5000}};

    fill(src, sizeof(src), 3);
    memset(dst, 0, sizeof(dst));
    assert_int_equal(do_req(t, IQ_STO_WRITE, 3 * 4096, wv, 3, 0), sizeof(src));
    assert_int_equal(pread(t->fd, file, sizeof(file), 3 * 4096), sizeof(file));
    assert_memory_equal(file, src, sizeof(src));
    assert_int_equal(do_req(t, IQ_STO_READ, 3 * 4096, rv, 2, 0), sizeof(dst));
    assert_memory_equal(dst, src, sizeof(src));
}

static void
t_last_sector(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[512];
    struct iovec v = {buf, sizeof(buf)};

    fill(buf, sizeof(buf), 9);
    assert_int_equal(do_req(t, IQ_STO_WRITE, FILE_SIZE - 512, &v, 1, 0), 512);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_READ, FILE_SIZE - 512, &v, 1, 0), 512);
    assert_int_equal(buf[511], (uint8_t)(9 + 511 * 7));
}

static void
t_flush(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[4096];
    struct iovec v = {buf, sizeof(buf)};
    struct treq w;
    struct treq f;

    /* FLUSH submitted from the write's callback (the wce=0 pattern). */
    fill(buf, sizeof(buf), 1);
    treq_init(&w, t, IQ_STO_WRITE, 0, &v, 1, 0);
    treq_init(&f, t, IQ_STO_FLUSH, 0, NULL, 0, 0);
    w.then = &f;
    assert_int_equal(iq_storage_submit(t->s, &w.req), 0);
    run_until(t, 2);
    assert_int_equal(w.res, 4096);
    assert_int_equal(f.done, 1);
    assert_int_equal(f.res, 0);
}

static void
t_discard(void **state)
{
    struct tctx *t = *state;
    size_t n = 1u << 20;
    uint8_t *buf = malloc(n);
    struct iovec v = {buf, n};
    struct stat st0;
    struct stat st1;

    assert_non_null(buf);
    assert_true(iq_storage_can_discard(t->s));
    memset(buf, 0xab, n);
    assert_int_equal(do_req(t, IQ_STO_WRITE, n, &v, 1, 0), (int64_t)n);
    assert_int_equal(do_req(t, IQ_STO_FLUSH, 0, NULL, 0, 0), 0);
    assert_int_equal(fstat(t->fd, &st0), 0);
    assert_true(st0.st_blocks >= 2048);
    assert_int_equal(do_req(t, IQ_STO_DISCARD, n, NULL, 0, n), 0);
    assert_int_equal(fstat(t->fd, &st1), 0);
    /* 1 MiB of allocated blocks (2048 sectors of 512) went away. */
    assert_true(st1.st_blocks <= st0.st_blocks - 2048);
    assert_int_equal(st1.st_size, FILE_SIZE);
    assert_int_equal(do_req(t, IQ_STO_READ, n, &v, 1, 0), (int64_t)n);
    assert_true(all_zero(buf, n));
    free(buf);
}

static void
t_write_zeroes(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[65536];
    struct iovec v = {buf, sizeof(buf)};

    memset(buf, 0xcd, sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_WRITE, 0, &v, 1, 0), sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_WRITE_ZEROES, 4096, NULL, 0, 8192), 0);
    memset(buf, 0x11, sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_READ, 0, &v, 1, 0), sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++) {
        uint8_t want = (i >= 4096 && i < 12288) ? 0 : 0xcd;

        if (buf[i] != want) {
            fail_msg("byte %zu is 0x%x", i, buf[i]);
        }
    }
}

static void
t_readonly(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[512];
    struct iovec v = {buf, sizeof(buf)};

    assert_int_equal(submit_rc(t, IQ_STO_WRITE, 0, &v, 1, 0), -EROFS);
    assert_int_equal(submit_rc(t, IQ_STO_DISCARD, 0, NULL, 0, 512), -EROFS);
    assert_int_equal(submit_rc(t, IQ_STO_WRITE_ZEROES, 0, NULL, 0, 512),
                     -EROFS);
    assert_int_equal(t->ncb, 0);
    assert_int_equal(do_req(t, IQ_STO_READ, 0, &v, 1, 0), 512);
    assert_int_equal(do_req(t, IQ_STO_FLUSH, 0, NULL, 0, 0), 0);
}

static void
t_range(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[1024];
    struct iovec v = {buf, sizeof(buf)};
    struct iovec big[2] = {{buf, SIZE_MAX}, {buf, 2}};

    assert_int_equal(submit_rc(t, IQ_STO_READ, FILE_SIZE - 512, &v, 1, 0),
                     -EINVAL);
    assert_int_equal(submit_rc(t, IQ_STO_WRITE, UINT64_MAX - 10, &v, 1, 0),
                     -EINVAL);
    assert_int_equal(submit_rc(t, IQ_STO_READ, 0, big, 2, 0), -EINVAL);
    assert_int_equal(submit_rc(t, IQ_STO_READ, 0, &v, 1025, 0), -EINVAL);
    assert_int_equal(submit_rc(t, IQ_STO_DISCARD, FILE_SIZE, NULL, 0, 1),
                     -EINVAL);
    assert_int_equal(
        submit_rc(t, IQ_STO_WRITE_ZEROES, 512, NULL, 0, UINT64_MAX), -EINVAL);
    assert_int_equal(t->ncb, 0);
    /* A zero-length request at the very end is in range. */
    assert_int_equal(do_req(t, IQ_STO_READ, FILE_SIZE, &v, 0, 0), 0);
}

static void
t_many(void **state)
{
    struct tctx *t = *state;
    struct treq *r = calloc(MANY, sizeof(*r));
    uint8_t *buf = malloc(MANY * 4096);
    struct iovec *v = calloc(MANY, sizeof(*v));
    uint8_t chk[4096];

    assert_non_null(r);
    assert_non_null(buf);
    assert_non_null(v);
    for (unsigned i = 0; i < MANY; i++) {
        memset(buf + i * 4096, (int)((i & 0xff) ^ 0x5a), 4096);
        v[i].iov_base = buf + i * 4096;
        v[i].iov_len = 4096;
        treq_init(&r[i], t, IQ_STO_WRITE, (uint64_t)i * 4096, &v[i], 1, 0);
        r[i].req.queue = i;
        assert_int_equal(iq_storage_submit(t->s, &r[i].req), 0);
    }
    assert_int_equal(t->ncb, 0);
    run_until(t, MANY);
    for (unsigned i = 0; i < MANY; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].res, 4096);
        assert_int_equal(pread(t->fd, chk, 4096, (off_t)i * 4096), 4096);
        assert_memory_equal(chk, buf + i * 4096, 4096);
    }
    /* Read back, completing through drain instead of the loop. */
    memset(buf, 0, MANY * 4096);
    for (unsigned i = 0; i < MANY; i++) {
        treq_init(&r[i], t, IQ_STO_READ, (uint64_t)i * 4096, &v[i], 1, 0);
        r[i].req.queue = i;
        assert_int_equal(iq_storage_submit(t->s, &r[i].req), 0);
    }
    assert_int_equal(t->ncb, MANY);
    iq_storage_drain(t->s);
    assert_int_equal(t->ncb, 2 * MANY);
    for (unsigned i = 0; i < MANY; i++) {
        assert_int_equal(r[i].res, 4096);
        assert_int_equal(buf[i * 4096 + 4095], (uint8_t)((i & 0xff) ^ 0x5a));
    }
    free(v);
    free(buf);
    free(r);
}

static void
t_shrunk(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[8192];
    struct iovec v[2] = {{buf, 2048}, {buf + 2048, 6144}};

    /* The file shrinks under the device: the read hits EOF -> -EIO. */
    assert_int_equal(ftruncate(t->fd, 4096 + 1000), 0);
    assert_int_equal(do_req(t, IQ_STO_READ, 0, v, 2, 0), -EIO);
}

static void
t_enospc(void **state)
{
    struct tctx *t = *state;
    struct iq_storage_opts o = {.no_uring = t->no_uring};
    struct iq_storage *full = NULL;
    struct iq_storage *keep = t->s;
    uint8_t buf[4096];
    struct iovec v = {buf, sizeof(buf)};
    int fd = open("/dev/full", O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    /* A character device needs an explicit size. */
    assert_int_equal(iq_storage_open_fd(t->loop, dup(fd), 0, &o, &full),
                     -EINVAL);
    assert_null(full);
    assert_int_equal(iq_storage_open_fd(t->loop, fd, 1u << 20, &o, &full), 0);
    t->s = full;
    memset(buf, 0x77, sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_WRITE, 0, &v, 1, 0), -ENOSPC);
    assert_int_equal(do_req(t, IQ_STO_READ, 8192, &v, 1, 0), 4096);
    assert_true(all_zero(buf, sizeof(buf)));
    assert_int_equal(do_req(t, IQ_STO_FLUSH, 0, NULL, 0, 0), -EINVAL);
    t->s = keep;
    iq_storage_destroy(full);
}

static void
t_zeroes_fallback(void **state)
{
    struct tctx *t = *state;
    struct iq_storage_opts o = {.no_uring = t->no_uring};
    struct iq_storage *keep = t->s;
    struct iq_storage *alt = NULL;
    char path[] = "/dev/shm/iq-storage-XXXXXX";
    uint8_t buf[16384];
    struct iovec v = {buf, sizeof(buf)};
    int fd = mkstemp(path);

    /* tmpfs has no ZERO_RANGE: the engine falls back to PUNCH_HOLE. */
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1u << 20), 0);
    assert_int_equal(iq_storage_open_fd(t->loop, dup(fd), 0, &o, &alt), 0);
    t->s = alt;
    memset(buf, 0x3c, sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_WRITE, 0, &v, 1, 0), sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_WRITE_ZEROES, 1024, NULL, 0, 2048), 0);
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
    assert_int_equal(buf[1023], 0x3c);
    assert_true(all_zero(buf + 1024, 2048));
    assert_int_equal(buf[3072], 0x3c);
    iq_storage_destroy(alt);
    close(fd);
    unlink(path);

    /*
     * A character device has no fallocate at all: zeroes are written in
     * 64 KiB pieces (accepted by /dev/zero, refused by /dev/full), and
     * DISCARD is refused at submit.
     */
    fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(iq_storage_open_fd(t->loop, fd, 1u << 20, &o, &alt), 0);
    assert_false(iq_storage_can_discard(alt));
    t->s = alt;
    assert_int_equal(do_req(t, IQ_STO_WRITE_ZEROES, 512, NULL, 0, 200 * 1024),
                     0);
    assert_int_equal(submit_rc(t, IQ_STO_DISCARD, 0, NULL, 0, 512),
                     -EOPNOTSUPP);
    iq_storage_destroy(alt);
    fd = open("/dev/full", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(iq_storage_open_fd(t->loop, fd, 1u << 20, &o, &alt), 0);
    t->s = alt;
    assert_int_equal(do_req(t, IQ_STO_WRITE_ZEROES, 0, NULL, 0, 4096), -ENOSPC);
    iq_storage_destroy(alt);
    t->s = keep;
}

static void
t_direct(void **state)
{
    struct tctx *t = *state;
    void *p = NULL;
    struct iovec v;

    if (t->direct_refused) {
        print_message("O_DIRECT refused by the filesystem of /tmp\n");
        skip();
    }
    assert_int_equal(posix_memalign(&p, 4096, 8192), 0);
    v.iov_base = p;
    v.iov_len = 8192;
    fill(p, 8192, 5);
    assert_int_equal(do_req(t, IQ_STO_WRITE, 8192, &v, 1, 0), 8192);
    memset(p, 0, 8192);
    assert_int_equal(do_req(t, IQ_STO_READ, 8192, &v, 1, 0), 8192);
    assert_int_equal(((uint8_t *)p)[8191], (uint8_t)(5 + 8191 * 7));
    free(p);
}

static void
t_destroy_drains(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[4096];
    struct iovec v = {buf, sizeof(buf)};
    struct treq r[8];

    for (unsigned i = 0; i < IQ_ARRAY_SIZE(r); i++) {
        treq_init(&r[i], t, IQ_STO_WRITE, i * 4096u, &v, 1, 0);
        assert_int_equal(iq_storage_submit(t->s, &r[i].req), 0);
    }
    iq_storage_destroy(t->s);
    t->s = NULL;
    assert_int_equal(t->ncb, IQ_ARRAY_SIZE(r));
    for (unsigned i = 0; i < IQ_ARRAY_SIZE(r); i++) {
        assert_int_equal(r[i].res, 4096);
    }
}

/* ---- null and mem ------------------------------------------------------ */

static int
setup_loop(void **state)
{
    struct tctx *t = *state;

    memset(t, 0, sizeof(*t));
    t->fd = -1;
    assert_int_equal(iq_loop_create(&t->loop), 0);
    return 0;
}

static int
teardown_loop(void **state)
{
    struct tctx *t = *state;

    iq_storage_destroy(t->s);
    t->s = NULL;
    iq_loop_destroy(t->loop);
    return 0;
}

static void
t_null(void **state)
{
    struct tctx *t = *state;
    uint8_t buf[1024];
    struct iovec v[2] = {{buf, 24}, {buf + 24, 1000}};

    assert_int_equal(iq_storage_open_null(t->loop, 1u << 20, NULL, &t->s), 0);
    assert_string_equal(iq_storage_engine(t->s), "null");
    assert_int_equal(iq_storage_size(t->s), 1u << 20);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(do_req(t, IQ_STO_READ, 512, v, 2, 0), 1024);
    assert_true(all_zero(buf, sizeof(buf)));
    assert_int_equal(do_req(t, IQ_STO_WRITE, 512, v, 2, 0), 1024);
    assert_int_equal(do_req(t, IQ_STO_FLUSH, 0, NULL, 0, 0), 0);
    assert_int_equal(submit_rc(t, IQ_STO_READ, (1u << 20) - 512, v, 2, 0),
                     -EINVAL);
}

static void
t_mem(void **state)
{
    struct tctx *t = *state;
    struct iq_storage_opts ro = {.readonly = true};
    uint8_t src[2048];
    uint8_t dst[2048];
    struct iovec w[2] = {{src, 1536}, {src + 1536, 512}};
    struct iovec r = {dst, sizeof(dst)};
    struct treq q[4];

    assert_int_equal(iq_storage_open_mem(t->loop, 1u << 16, NULL, &t->s), 0);
    assert_string_equal(iq_storage_engine(t->s), "mem");
    fill(src, sizeof(src), 77);
    assert_int_equal(do_req(t, IQ_STO_WRITE, 1024, w, 2, 0), 2048);
    assert_int_equal(do_req(t, IQ_STO_READ, 1024, &r, 1, 0), 2048);
    assert_memory_equal(dst, src, sizeof(src));
    assert_int_equal(do_req(t, IQ_STO_DISCARD, 1024, NULL, 0, 512), 0);
    assert_int_equal(do_req(t, IQ_STO_WRITE_ZEROES, 2048, NULL, 0, 512), 0);
    assert_int_equal(do_req(t, IQ_STO_READ, 1024, &r, 1, 0), 2048);
    assert_true(all_zero(dst, 512));
    assert_memory_equal(dst + 512, src + 512, 512);
    assert_true(all_zero(dst + 1024, 512));
    assert_memory_equal(dst + 1536, src + 1536, 512);

    /* FIFO order, completion only through the loop or drain. */
    treq_init(&q[0], t, IQ_STO_WRITE, 0, w, 2, 0);
    treq_init(&q[1], t, IQ_STO_READ, 0, &r, 1, 0);
    memset(dst, 0, sizeof(dst));
    assert_int_equal(iq_storage_submit(t->s, &q[0].req), 0);
    assert_int_equal(iq_storage_submit(t->s, &q[1].req), 0);
    assert_int_equal(q[0].done + q[1].done, 0);
    iq_storage_drain(t->s);
    assert_int_equal(q[1].res, 2048);
    assert_memory_equal(dst, src, sizeof(src));
    /* The loop's deferred work runs nothing twice after a drain. */
    assert_true(iq_loop_run_once(t->loop, 0) >= 0);
    assert_int_equal(q[0].done, 1);
    assert_int_equal(q[1].done, 1);

    /* destroy runs what is still queued. */
    treq_init(&q[2], t, IQ_STO_FLUSH, 0, NULL, 0, 0);
    assert_int_equal(iq_storage_submit(t->s, &q[2].req), 0);
    iq_storage_destroy(t->s);
    t->s = NULL;
    assert_int_equal(q[2].done, 1);

    assert_int_equal(iq_storage_open_mem(t->loop, 4096, &ro, &t->s), 0);
    assert_int_equal(submit_rc(t, IQ_STO_WRITE, 0, w, 1, 0), -EROFS);
    treq_init(&q[3], t, 99, 0, NULL, 0, 0);
    assert_int_equal(iq_storage_submit(t->s, &q[3].req), -EINVAL);
}

#define FILE_TESTS(st) \
    cmocka_unit_test_prestate_setup_teardown(t_engine, setup_rw, teardown, \
                                             st), \
        cmocka_unit_test_prestate_setup_teardown(t_write_read, setup_rw, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_last_sector, setup_rw, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_flush, setup_rw, teardown, \
                                                 st), \
        cmocka_unit_test_prestate_setup_teardown(t_discard, setup_rw, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_write_zeroes, setup_rw, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_readonly, setup_ro, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_range, setup_rw, teardown, \
                                                 st), \
        cmocka_unit_test_prestate_setup_teardown(t_many, setup_rw, teardown, \
                                                 st), \
        cmocka_unit_test_prestate_setup_teardown(t_shrunk, setup_rw, teardown, \
                                                 st), \
        cmocka_unit_test_prestate_setup_teardown(t_enospc, setup_rw, teardown, \
                                                 st), \
        cmocka_unit_test_prestate_setup_teardown(t_zeroes_fallback, setup_rw, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_direct, setup_direct, \
                                                 teardown, st), \
        cmocka_unit_test_prestate_setup_teardown(t_destroy_drains, setup_rw, \
                                                 teardown, st)

int
main(void)
{
    struct tctx uring = {.no_uring = false};
    struct tctx thr = {.no_uring = true};
    struct tctx plain = {0};
    const struct CMUnitTest uring_tests[] = {FILE_TESTS(&uring)};
    const struct CMUnitTest thread_tests[] = {FILE_TESTS(&thr)};
    const struct CMUnitTest sync_tests[] = {
        cmocka_unit_test_prestate_setup_teardown(t_null, setup_loop,
                                                 teardown_loop, &plain),
        cmocka_unit_test_prestate_setup_teardown(t_mem, setup_loop,
                                                 teardown_loop, &plain),
    };
    int fails = 0;

    fails +=
        cmocka_run_group_tests_name("file-io_uring", uring_tests, NULL, NULL);
    fails +=
        cmocka_run_group_tests_name("file-threads", thread_tests, NULL, NULL);
    fails += cmocka_run_group_tests_name("null-mem", sync_tests, NULL, NULL);
    return fails;
}
