/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The epoll event loop. Registrations live in a small table indexed by fd
 * (grown on demand) so a callback can unregister any fd, including one whose
 * event is still pending in the current batch: the batch checks a
 * per-registration generation before dispatching.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ioreqd/err.h"
#include "ioreqd/loop.h"

#define LOOP_MAX_EVENTS 64

struct loop_reg {
    iq_loop_fd_cb cb;
    void *opaque;
    uint32_t gen; /* bumped on every add/del of this fd */
    bool used;
};

struct iq_loop {
    int epfd;
    int wakefd; /* eventfd for iq_loop_stop/iq_loop_wake */
    struct loop_reg *regs; /* indexed by fd */
    size_t nregs;
    struct iq_loop_work *work_head; /* queued for the next batch */
    struct iq_loop_work *work_tail;
    struct iq_loop_work *batch_head; /* the batch being run now */
    int stop; /* atomic */
};

int
iq_loop_create(struct iq_loop **out)
{
    struct iq_loop *loop = calloc(1, sizeof(*loop));
    struct epoll_event ev = {.events = EPOLLIN};
    int ret;

    *out = NULL;
    if (loop == NULL) {
        return -ENOMEM;
    }
    loop->wakefd = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        ret = IQ_NEG_ERRNO();
        goto fail;
    }
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0) {
        ret = IQ_NEG_ERRNO();
        goto fail;
    }
    /* The wake fd is marked with data.fd = -1 so it needs no table entry. */
    ev.data.u64 = UINT64_MAX;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
        ret = IQ_NEG_ERRNO();
        goto fail;
    }
    *out = loop;
    return 0;

fail:
    iq_loop_destroy(loop);
    return ret;
}

void
iq_loop_destroy(struct iq_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    iq_close_fd(&loop->epfd);
    iq_close_fd(&loop->wakefd);
    free(loop->regs);
    free(loop);
}

static int
loop_grow(struct iq_loop *loop, int fd)
{
    size_t want = (size_t)fd + 1;
    size_t n = loop->nregs ? loop->nregs : 16;
    struct loop_reg *r;

    if (want <= loop->nregs) {
        return 0;
    }
    while (n < want) {
        n *= 2;
    }
    r = realloc(loop->regs, n * sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    memset(r + loop->nregs, 0, (n - loop->nregs) * sizeof(*r));
    loop->regs = r;
    loop->nregs = n;
    return 0;
}

static uint64_t
loop_key(int fd, uint32_t gen)
{
    return ((uint64_t)gen << 32) | (uint32_t)fd;
}

int
iq_loop_add_fd(struct iq_loop *loop, int fd, uint32_t events, iq_loop_fd_cb cb,
               void *opaque)
{
    struct epoll_event ev = {.events = events};
    struct loop_reg *r;
    int ret;

    if (fd < 0 || cb == NULL) {
        return -EINVAL;
    }
    ret = loop_grow(loop, fd);
    if (ret < 0) {
        return ret;
    }
    r = &loop->regs[fd];
    if (r->used) {
        return -EEXIST;
    }
    r->gen++;
    ev.data.u64 = loop_key(fd, r->gen);
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        return IQ_NEG_ERRNO();
    }
    r->cb = cb;
    r->opaque = opaque;
    r->used = true;
    return 0;
}

int
iq_loop_mod_fd(struct iq_loop *loop, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events};

    if (fd < 0 || (size_t)fd >= loop->nregs || !loop->regs[fd].used) {
        return -ENOENT;
    }
    ev.data.u64 = loop_key(fd, loop->regs[fd].gen);
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

void
iq_loop_del_fd(struct iq_loop *loop, int fd)
{
    struct loop_reg *r;

    if (loop == NULL || fd < 0 || (size_t)fd >= loop->nregs) {
        return;
    }
    r = &loop->regs[fd];
    if (!r->used) {
        return;
    }
    /* The fd may already be closed by its owner: ignore EBADF/ENOENT. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    r->used = false;
    r->gen++;
    r->cb = NULL;
    r->opaque = NULL;
}

void
iq_loop_work_init(struct iq_loop_work *w, iq_loop_work_cb cb, void *opaque)
{
    w->cb = cb;
    w->opaque = opaque;
    w->queued = false;
    w->next = NULL;
}

void
iq_loop_defer(struct iq_loop *loop, struct iq_loop_work *w)
{
    if (w->queued) {
        return;
    }
    w->queued = true;
    w->next = NULL;
    if (loop->work_tail != NULL) {
        loop->work_tail->next = w;
    } else {
        loop->work_head = w;
    }
    loop->work_tail = w;
}

/* Unlink `w` from the singly linked list at *head; true when found. */
static bool
work_unlink(struct iq_loop_work **head, struct iq_loop_work **tail,
            struct iq_loop_work *w)
{
    struct iq_loop_work *prev = NULL;

    for (struct iq_loop_work **pp = head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (tail != NULL && *tail == w) {
                *tail = prev;
            }
            return true;
        }
        prev = *pp;
    }
    return false;
}

void
iq_loop_cancel(struct iq_loop *loop, struct iq_loop_work *w)
{
    if (!w->queued) {
        return;
    }
    if (!work_unlink(&loop->work_head, &loop->work_tail, w)) {
        (void)work_unlink(&loop->batch_head, NULL, w);
    }
    w->queued = false;
    w->next = NULL;
}

/*
 * Run the work queued before this call as one batch; work queued while it
 * runs (including by its own callbacks) waits for the next iteration, so a
 * callback that re-queues itself cannot starve fd events.
 */
static int
loop_run_work(struct iq_loop *loop)
{
    int n = 0;

    loop->batch_head = loop->work_head;
    loop->work_head = NULL;
    loop->work_tail = NULL;
    while (loop->batch_head != NULL) {
        struct iq_loop_work *cur = loop->batch_head;

        loop->batch_head = cur->next;
        cur->queued = false;
        cur->next = NULL;
        cur->cb(cur->opaque);
        n++;
    }
    return n;
}

int
iq_loop_run_once(struct iq_loop *loop, int timeout_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n;
    int ran = 0;

    if (loop->work_head != NULL) {
        timeout_ms = 0;
    }
    n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) {
            return 0;
        }
        return IQ_NEG_ERRNO();
    }
    for (int i = 0; i < n; i++) {
        uint64_t key = evs[i].data.u64;
        int fd;
        uint32_t gen;
        struct loop_reg *r;

        if (key == UINT64_MAX) {
            uint64_t v;
            ssize_t rd = read(loop->wakefd, &v, sizeof(v));
            (void)rd;
            continue;
        }
        fd = (int)(uint32_t)key;
        gen = (uint32_t)(key >> 32);
        if ((size_t)fd >= loop->nregs) {
            continue;
        }
        r = &loop->regs[fd];
        /* Unregistered (or re-registered) by an earlier callback. */
        if (!r->used || r->gen != gen) {
            continue;
        }
        r->cb(r->opaque, evs[i].events);
        ran++;
    }
    ran += loop_run_work(loop);
    return ran;
}

int
iq_loop_run(struct iq_loop *loop)
{
    while (!iq_loop_stopped(loop)) {
        int ret = iq_loop_run_once(loop, -1);

        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

void
iq_loop_stop(struct iq_loop *loop)
{
    uint64_t one = 1;
    ssize_t w;

    __atomic_store_n(&loop->stop, 1, __ATOMIC_SEQ_CST);
    w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

bool
iq_loop_stopped(struct iq_loop *loop)
{
    return __atomic_load_n(&loop->stop, __ATOMIC_SEQ_CST) != 0;
}
