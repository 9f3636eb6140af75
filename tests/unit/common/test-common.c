/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for common/: the event loop, logging helpers, arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/loop.h"

struct fd_ctx {
    struct iq_loop *loop;
    int fd;
    int hits;
    int other_fd;      /* unregistered by this callback when >= 0 */
};

static void
fd_cb(void *opaque, uint32_t events)
{
    struct fd_ctx *c = opaque;
    char buf[16];

    assert_true(events & EPOLLIN);
    assert_true(read(c->fd, buf, sizeof(buf)) > 0);
    c->hits++;
    if (c->other_fd >= 0) {
        iq_loop_del_fd(c->loop, c->other_fd);
    }
}

static void
test_loop_fd_and_del_in_callback(void **state)
{
    struct iq_loop *loop;
    int p1[2], p2[2];
    struct fd_ctx a = {0}, b = {0};

    (void)state;
    assert_int_equal(iq_loop_create(&loop), 0);
    assert_int_equal(pipe(p1), 0);
    assert_int_equal(pipe(p2), 0);
    a = (struct fd_ctx){loop, p1[0], 0, p2[0]};
    b = (struct fd_ctx){loop, p2[0], 0, -1};
    assert_int_equal(iq_loop_add_fd(loop, p1[0], EPOLLIN, fd_cb, &a), 0);
    assert_int_equal(iq_loop_add_fd(loop, p2[0], EPOLLIN, fd_cb, &b), 0);
    assert_int_equal(iq_loop_add_fd(loop, p2[0], EPOLLIN, fd_cb, &b),
                     -EEXIST);
    /* Both readable in one batch; whichever runs first, b must not run
     * after a has unregistered it. */
    assert_int_equal(write(p1[1], "x", 1), 1);
    assert_int_equal(write(p2[1], "y", 1), 1);
    assert_true(iq_loop_run_once(loop, 1000) >= 1);
    assert_int_equal(a.hits, 1);
    assert_true(b.hits <= 1);
    /* b is gone: its fd stays readable or not, it is never dispatched. */
    int before = b.hits;
    assert_int_equal(iq_loop_run_once(loop, 0), 0);
    assert_int_equal(b.hits, before);
    iq_loop_del_fd(loop, p1[0]);
    iq_loop_destroy(loop);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
}

struct work_ctx {
    struct iq_loop *loop;
    struct iq_loop_work w;
    struct iq_loop_work *victim;
    int runs;
    int requeue;
};

static void
work_cb(void *opaque)
{
    struct work_ctx *c = opaque;

    c->runs++;
    if (c->victim != NULL) {
        iq_loop_cancel(c->loop, c->victim);
    }
    if (c->requeue > 0) {
        c->requeue--;
        iq_loop_defer(c->loop, &c->w);
    }
}

static void
test_loop_work(void **state)
{
    struct iq_loop *loop;
    struct work_ctx a = {0}, b = {0};

    (void)state;
    assert_int_equal(iq_loop_create(&loop), 0);
    a.loop = b.loop = loop;
    iq_loop_work_init(&a.w, work_cb, &a);
    iq_loop_work_init(&b.w, work_cb, &b);
    /* a cancels b, which is in the same batch: b must not run. */
    a.victim = &b.w;
    iq_loop_defer(loop, &a.w);
    iq_loop_defer(loop, &a.w);  /* no-op: already queued */
    iq_loop_defer(loop, &b.w);
    assert_int_equal(iq_loop_run_once(loop, 0), 1);
    assert_int_equal(a.runs, 1);
    assert_int_equal(b.runs, 0);
    /* A self-requeuing item runs once per iteration, never unbounded. */
    a.victim = NULL;
    a.requeue = 3;
    iq_loop_defer(loop, &a.w);
    assert_int_equal(iq_loop_run_once(loop, 0), 1);
    assert_int_equal(a.runs, 2);
    assert_int_equal(iq_loop_run_once(loop, 0), 1);
    assert_int_equal(iq_loop_run_once(loop, 0), 1);
    assert_int_equal(iq_loop_run_once(loop, 0), 1);
    assert_int_equal(iq_loop_run_once(loop, 0), 0);
    assert_int_equal(a.runs, 5);
    iq_loop_destroy(loop);
}

static void
test_loop_stop(void **state)
{
    struct iq_loop *loop;

    (void)state;
    assert_int_equal(iq_loop_create(&loop), 0);
    iq_loop_stop(loop);
    assert_true(iq_loop_stopped(loop));
    assert_int_equal(iq_loop_run(loop), 0);
    iq_loop_destroy(loop);
    iq_loop_destroy(NULL);
}

static void
test_log_levels(void **state)
{
    struct iq_ratelimit rl = {0};
    bool once = false;

    (void)state;
    assert_int_equal(iq_log_parse_level("debug"), IQ_LOG_DEBUG);
    assert_int_equal(iq_log_parse_level("WARNING"), IQ_LOG_WARNING);
    assert_int_equal(iq_log_parse_level("4"), 4);
    assert_int_equal(iq_log_parse_level("loud"), -EINVAL);
    assert_int_equal(iq_log_parse_level(NULL), -EINVAL);
    iq_log_set_level(IQ_LOG_WARNING);
    assert_true(iq_log_enabled(IQ_LOG_ERR));
    assert_false(iq_log_enabled(IQ_LOG_INFO));
    /* errno survives logging. */
    errno = 1234;
    for (unsigned i = 0; i < IQ_LOG_GUEST_BURST + 5; i++) {
        iq_log_guest(&rl, "test", "bad thing %u", i);
    }
    assert_int_equal(errno, 1234);
    assert_int_equal(rl.emitted, IQ_LOG_GUEST_BURST);
    assert_int_equal(rl.suppressed, 5);
    iq_log_unimp(&once, "test", "feature");
    assert_true(once || !iq_log_enabled(IQ_LOG_NOTICE));
}

static void
test_arith(void **state)
{
    uint64_t r;
    size_t s;
    int fd = dup(0);

    (void)state;
    assert_false(iq_add_overflow_u64(1, 2, &r));
    assert_int_equal(r, 3);
    assert_true(iq_add_overflow_u64(UINT64_MAX, 1, &r));
    assert_true(iq_mul_overflow_size(SIZE_MAX / 2 + 1, 2, &s));
    assert_true(iq_range_ok(UINT64_MAX - 4, 4, &r));
    assert_false(iq_range_ok(UINT64_MAX - 4, 5, &r));
    errno = 77;
    iq_close_fd(&fd);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, 77);
    iq_close_fd(&fd);
    iq_close_fd(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_fd_and_del_in_callback),
        cmocka_unit_test(test_loop_work),
        cmocka_unit_test(test_loop_stop),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_arith),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
