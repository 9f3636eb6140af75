/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iq_storage_drain() under host faults, injected with the linker's --wrap:
 * poll() failing (worker threads), io_uring_submit() refusing (EAGAIN) or
 * failing for good (EINVAL), and waiting for CQEs failing. In every case
 * drain must return only when every callback ran.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if IQ_HAVE_URING
#include <liburing.h>
#endif

#include "ioreqd/compiler.h"
#include "ioreqd/loop.h"
#include "ioreqd/storage.h"

#define FILE_SIZE (1u << 20)

/*
 * Fault switches read by the wrappers. File-scope state is unavoidable
 * here: the wrapped functions have no context argument.
 */
static bool g_poll_fail; /* poll() fails with EINVAL */
static bool g_hold_sync; /* fdatasync() waits for g_sync_go */
static sem_t g_sync_go;
static unsigned g_polls_failed;
static int g_submit_err; /* io_uring_submit() fails with this... */
static unsigned g_submit_left; /* ...this many times (UINT32_MAX: always) */
static bool g_wait_fail; /* waiting for a CQE fails with EINVAL */
static unsigned g_waits_failed;

int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

int
__wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (g_poll_fail) {
        if (g_polls_failed++ == 0) {
            sem_post(&g_sync_go); /* let the worker finish now */
        }
        errno = EINVAL;
        return -1;
    }
    return __real_poll(fds, n, timeout);
}

int
__wrap_fdatasync(int fd)
{
    if (g_hold_sync) {
        while (sem_wait(&g_sync_go) != 0) {
        }
    }
    return __real_fdatasync(fd);
}

#if IQ_HAVE_URING
int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);
int __real___io_uring_get_cqe(struct io_uring *ring,
                              struct io_uring_cqe **cqe_ptr, unsigned submit,
                              unsigned wait_nr, sigset_t *sigmask);
int __wrap___io_uring_get_cqe(struct io_uring *ring,
                              struct io_uring_cqe **cqe_ptr, unsigned submit,
                              unsigned wait_nr, sigset_t *sigmask);

int
__wrap_io_uring_submit(struct io_uring *ring)
{
    if (g_submit_left > 0) {
        if (g_submit_left != UINT32_MAX) {
            g_submit_left--;
        }
        return g_submit_err;
    }
    return __real_io_uring_submit(ring);
}

int
__wrap___io_uring_get_cqe(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
                          unsigned submit, unsigned wait_nr, sigset_t *sigmask)
{
    if (wait_nr > 0 && submit == 0 && io_uring_sq_ready(ring) > 0) {
        /* The tests keep one request at a time in flight: waiting while
         * its SQE is still in the SQ would never end. */
        fail_msg("waiting for a CQE of an SQE never submitted");
    }
    if (wait_nr > 0 && g_wait_fail) {
        g_waits_failed++;
        return -EINVAL;
    }
    return __real___io_uring_get_cqe(ring, cqe_ptr, submit, wait_nr, sigmask);
}
#endif

struct tctx {
    struct iq_loop *loop;
    struct iq_storage *s;
    char path[64];
    int fd;
};

struct treq {
    struct iq_sto_req req;
    unsigned done;
    int64_t res;
};

static void
treq_cb(struct iq_sto_req *req, int64_t res)
{
    struct treq *r = IQ_CONTAINER_OF(req, struct treq, req);

    r->done++;
    r->res = res;
}

static void
treq_init(struct treq *r, enum iq_sto_op op, const struct iovec *iov)
{
    memset(r, 0, sizeof(*r));
    r->req.op = op;
    r->req.iov = iov;
    r->req.iovcnt = iov != NULL ? 1 : 0;
    r->req.cb = treq_cb;
}

static void
reset_faults(void)
{
    g_poll_fail = false;
    g_hold_sync = false;
    g_polls_failed = 0;
    g_submit_err = 0;
    g_submit_left = 0;
    g_wait_fail = false;
    g_waits_failed = 0;
}

/* Open the test file with the engine asked for; false if unavailable. */
static bool
open_sto(struct tctx *t, bool no_uring)
{
    struct iq_storage_opts o = {.nr_queues = 1, .no_uring = no_uring};

    reset_faults();
    strcpy(t->path, "/tmp/iq-stofault-XXXXXX");
    t->fd = mkstemp(t->path);
    assert_true(t->fd >= 0);
    assert_int_equal(ftruncate(t->fd, FILE_SIZE), 0);
    assert_int_equal(iq_loop_create(&t->loop), 0);
    assert_int_equal(iq_storage_open_file(t->loop, t->path, &o, &t->s), 0);
    return strcmp(iq_storage_engine(t->s), no_uring ? "threads" : "io_uring") ==
           0;
}

static void
close_sto(struct tctx *t)
{
    reset_faults();
    iq_storage_destroy(t->s);
    iq_loop_destroy(t->loop);
    close(t->fd);
    unlink(t->path);
}

/* Threads: poll() on the eventfd fails while the worker is still busy. */
static void
t_thr_drain_poll_fails(void **state)
{
    struct tctx t;
    struct treq r;

    (void)state;
    assert_int_equal(sem_init(&g_sync_go, 0, 0), 0);
    assert_true(open_sto(&t, true));
    g_hold_sync = true;
    treq_init(&r, IQ_STO_FLUSH, NULL);
    assert_int_equal(iq_storage_submit(t.s, &r.req), 0);
    g_poll_fail = true;
    iq_storage_drain(t.s);
    assert_true(g_polls_failed >= 1);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 0);
    close_sto(&t);
    sem_destroy(&g_sync_go);
}

/* Threads: a bounded drain gives up while the worker is busy. */
static void
t_thr_drain_for(void **state)
{
    struct tctx t;
    struct treq r;

    (void)state;
    assert_int_equal(sem_init(&g_sync_go, 0, 0), 0);
    assert_true(open_sto(&t, true));
    g_hold_sync = true;
    treq_init(&r, IQ_STO_FLUSH, NULL);
    assert_int_equal(iq_storage_submit(t.s, &r.req), 0);
    assert_false(iq_storage_drain_for(t.s, 0));
    assert_int_equal(r.done, 0);
    sem_post(&g_sync_go);
    assert_true(iq_storage_drain_for(t.s, 60000));
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 0);
    assert_true(iq_storage_drain_for(t.s, 0));
    close_sto(&t);
    sem_destroy(&g_sync_go);
}

#if IQ_HAVE_URING
/* io_uring_submit() says EAGAIN three times: drain submits again itself. */
static void
t_uring_drain_submit_eagain(void **state)
{
    struct tctx t;
    struct treq r;
    uint8_t buf[512];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

    (void)state;
    if (!open_sto(&t, false)) {
        close_sto(&t);
        skip();
    }
    memset(buf, 0x5a, sizeof(buf));
    treq_init(&r, IQ_STO_WRITE, &iov);
    r.req.offset = 4096;
    g_submit_err = -EAGAIN;
    g_submit_left = 3;
    assert_int_equal(iq_storage_submit(t.s, &r.req), 0);
    /* A bounded drain submits again and completes as well. */
    assert_true(iq_storage_drain_for(t.s, 60000));
    assert_int_equal(g_submit_left, 0);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 512);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pread(t.fd, buf, sizeof(buf), 4096), 512);
    assert_int_equal(buf[0], 0x5a);
    assert_int_equal(buf[511], 0x5a);
    /* EBUSY too, then a request through the loop works again. */
    g_submit_err = -EBUSY;
    g_submit_left = 2;
    treq_init(&r, IQ_STO_READ, &iov);
    assert_int_equal(iq_storage_submit(t.s, &r.req), 0);
    iq_storage_drain(t.s);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 512);
    close_sto(&t);
}

/* io_uring_submit() fails for good: the request completes with -EINVAL. */
static void
t_uring_drain_submit_fails(void **state)
{
    struct tctx t;
    struct treq r;
    struct treq r2;
    uint8_t buf[512];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

    (void)state;
    if (!open_sto(&t, false)) {
        close_sto(&t);
        skip();
    }
    treq_init(&r, IQ_STO_READ, &iov);
    g_submit_err = -EINVAL;
    g_submit_left = UINT32_MAX;
    assert_int_equal(iq_storage_submit(t.s, &r.req), 0);
    iq_storage_drain(t.s);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, -EINVAL);
    /* Later requests fail the same way, through the loop. */
    treq_init(&r2, IQ_STO_FLUSH, NULL);
    assert_int_equal(iq_storage_submit(t.s, &r2.req), 0);
    assert_int_equal(r2.done, 0);
    for (unsigned i = 0; i < 100 && r2.done == 0; i++) {
        assert_true(iq_loop_run_once(t.loop, 100) >= 0);
    }
    assert_int_equal(r2.done, 1);
    assert_int_equal(r2.res, -EINVAL);
    close_sto(&t);
}

/* Waiting for the CQE fails: drain still returns only after the callback. */
static void
t_uring_drain_wait_fails(void **state)
{
    struct tctx t;
    struct treq r;
    uint8_t buf[512];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

    (void)state;
    if (!open_sto(&t, false)) {
        close_sto(&t);
        skip();
    }
    treq_init(&r, IQ_STO_READ, &iov);
    assert_int_equal(iq_storage_submit(t.s, &r.req), 0);
    g_wait_fail = true;
    iq_storage_drain(t.s);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 512);
    close_sto(&t);
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_thr_drain_poll_fails),
        cmocka_unit_test(t_thr_drain_for),
#if IQ_HAVE_URING
        cmocka_unit_test(t_uring_drain_submit_eagain),
        cmocka_unit_test(t_uring_drain_submit_fails),
        cmocka_unit_test(t_uring_drain_wait_fails),
#endif
    };

    return cmocka_run_group_tests_name("storage-faults", tests, NULL, NULL);
}
