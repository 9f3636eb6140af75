/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Raw file or block device storage.
 *
 * Each request runs as a small state machine (file_op): op_next() describes
 * the next system call, op_result() accounts for its result. Short reads and
 * writes continue from an iovec cursor, and WRITE_ZEROES walks down from
 * fallocate(ZERO_RANGE) to fallocate(PUNCH_HOLE) to writing zeroes. Two
 * executors drive the same machine:
 *  - io_uring: one ring per object, FILE_QD slots; requests beyond that
 *    wait in a FIFO. Completions are signalled on an eventfd registered
 *    with the ring and read by the loop.
 *  - worker threads (no liburing, io_uring refused, or opts->no_uring):
 *    nr_queues threads, each with its own FIFO; a request goes to worker
 *    (queue % nr_queues) and the worker posts it to a done list plus the
 *    eventfd. Workers only make system calls on the caller's iovecs, which
 *    are pinned for the request's lifetime; they never touch the mapcache.
 * Host errors are returned to the callback as -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if IQ_HAVE_URING
#include <liburing.h>
#endif

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "storage-internal.h"

#define FILE_QD 128u /* io_uring slots per object */
#define FILE_ZERO_LEN (64u * 1024u) /* zero buffer for WRITE_ZEROES */
#define FILE_MAX_QUEUES 64u /* worker threads at most */
#define FILE_MAX_RETRIES 64u /* EINTR/EAGAIN retries per request */

/* Position inside an iovec array. */
struct iov_cur {
    unsigned idx;
    size_t off;
};

struct file_op {
    struct iq_sto_req *req;
    uint64_t total; /* READ/WRITE/WRITE_ZEROES bytes */
    uint64_t done;
    struct iov_cur cur;
    unsigned stage; /* WRITE_ZEROES: 0 zero-range, 1 punch, 2 write */
    unsigned retries;
    struct iovec part; /* rest of a partly transferred entry / zeroes */
};

enum file_call_kind {
    CALL_READV,
    CALL_WRITEV,
    CALL_FSYNC,
    CALL_FALLOC,
};

struct file_call {
    enum file_call_kind kind;
    const struct iovec *iov;
    unsigned cnt;
    uint64_t off;
    uint64_t len; /* fallocate length */
    int mode; /* fallocate mode */
};

struct file_slot {
    struct file_op op;
    struct file_slot *next_free;
    struct file_slot *next_unsub; /* SQE prepared, not taken by the kernel */
};

struct file_worker {
    struct file_sto *fs;
    pthread_t thread;
    bool started;
    bool sync_init;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct iq_sto_req *head;
    struct iq_sto_req *tail;
    bool stop;
};

struct file_sto {
    struct iq_storage base;
    int fd;
    int evfd;
    bool evfd_added;
    void *zeroes; /* FILE_ZERO_LEN zero bytes, page aligned */
    uint64_t inflight; /* submitted, callback not run yet */
#if IQ_HAVE_URING
    struct io_uring ring;
    bool ring_ok;
    int dead_err; /* 0, or the -errno that made submission impossible */
    unsigned kernel_n; /* SQEs the kernel took whose CQE is not seen yet */
    struct iq_loop_work submit_work;
    struct file_slot slots[FILE_QD];
    struct file_slot *free_slots;
    struct file_slot *unsub_head; /* SQEs not taken yet, in SQ order */
    struct file_slot *unsub_tail;
    struct iq_sto_req *pend_head; /* waiting for a slot (FIFO) */
    struct iq_sto_req *pend_tail;
    struct iq_sto_req *fail_head; /* failed without a CQE, res_ set */
    struct iq_sto_req *fail_tail;
#endif
    bool drain_warned;
    struct file_worker *workers;
    unsigned nworkers;
    bool done_init;
    pthread_mutex_t done_lock;
    struct iq_sto_req *done_head; /* completed by workers (FIFO) */
    struct iq_sto_req *done_tail;
};

static void
fifo_push(struct iq_sto_req **head, struct iq_sto_req **tail,
          struct iq_sto_req *req)
{
    req->next_ = NULL;
    if (*tail != NULL) {
        (*tail)->next_ = req;
    } else {
        *head = req;
    }
    *tail = req;
}

static struct iq_sto_req *
fifo_pop(struct iq_sto_req **head, struct iq_sto_req **tail)
{
    struct iq_sto_req *req = *head;

    if (req != NULL) {
        *head = req->next_;
        if (*head == NULL) {
            *tail = NULL;
        }
        req->next_ = NULL;
    }
    return req;
}

static void
cur_advance(const struct iovec *iov, unsigned cnt, struct iov_cur *c,
            uint64_t n)
{
    while (n > 0 && c->idx < cnt) {
        size_t left = iov[c->idx].iov_len - c->off;

        if (n < left) {
            c->off += (size_t)n;
            return;
        }
        n -= left;
        c->idx++;
        c->off = 0;
    }
}

/* ---- the per-request state machine ------------------------------------ */

static void
op_init(struct file_op *o, struct iq_sto_req *req)
{
    memset(o, 0, sizeof(*o));
    o->req = req;
    if (req->op == IQ_STO_READ || req->op == IQ_STO_WRITE) {
        /* Validated at submit: the sum does not overflow. */
        (void)iq_sto_iov_total(req->iov, req->iovcnt, &o->total);
    } else if (req->op == IQ_STO_WRITE_ZEROES) {
        o->total = req->len;
    }
}

static void
op_next(struct file_sto *fs, struct file_op *o, struct file_call *c)
{
    struct iq_sto_req *req = o->req;

    memset(c, 0, sizeof(*c));
    switch (req->op) {
    case IQ_STO_READ:
    case IQ_STO_WRITE:
        c->kind = req->op == IQ_STO_READ ? CALL_READV : CALL_WRITEV;
        c->off = req->offset + o->done;
        if (o->cur.off == 0) {
            c->iov = req->iov + o->cur.idx;
            c->cnt = req->iovcnt - o->cur.idx;
        } else {
            /* Resume inside a partly transferred entry. */
            const struct iovec *e = &req->iov[o->cur.idx];

            o->part.iov_base = (uint8_t *)e->iov_base + o->cur.off;
            o->part.iov_len = e->iov_len - o->cur.off;
            c->iov = &o->part;
            c->cnt = 1;
        }
        break;
    case IQ_STO_FLUSH:
        c->kind = CALL_FSYNC;
        break;
    case IQ_STO_DISCARD:
        c->kind = CALL_FALLOC;
        c->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        c->off = req->offset;
        c->len = req->len;
        break;
    case IQ_STO_WRITE_ZEROES:
        if (o->stage < 2) {
            c->kind = CALL_FALLOC;
            c->mode =
                (o->stage == 0 ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) |
                FALLOC_FL_KEEP_SIZE;
            c->off = req->offset;
            c->len = req->len;
        } else {
            o->part.iov_base = fs->zeroes;
            o->part.iov_len =
                (size_t)IQ_MIN(o->total - o->done, (uint64_t)FILE_ZERO_LEN);
            c->kind = CALL_WRITEV;
            c->iov = &o->part;
            c->cnt = 1;
            c->off = req->offset + o->done;
        }
        break;
    }
}

/*
 * Account for the result `r` (bytes or -errno) of the call op_next()
 * described. Returns true when the request is finished, with *res set.
 */
static bool
op_result(struct file_op *o, int64_t r, int64_t *res)
{
    struct iq_sto_req *req = o->req;
    bool transfer = req->op == IQ_STO_READ || req->op == IQ_STO_WRITE ||
                    (req->op == IQ_STO_WRITE_ZEROES && o->stage == 2);

    if ((r == -EINTR || r == -EAGAIN) && o->retries < FILE_MAX_RETRIES) {
        o->retries++;
        return false;
    }
    if (req->op == IQ_STO_WRITE_ZEROES && o->stage < 2) {
        /* The mode is not supported (EOPNOTSUPP) or fallocate is not
         * available for this kind of file at all (ENODEV). */
        if (r == -EOPNOTSUPP || r == -ENODEV) {
            o->stage++;
            return false;
        }
        *res = r < 0 ? r : 0;
        return true;
    }
    if (!transfer || r < 0) {
        *res = r < 0 ? r : 0;
        return true;
    }
    if (r == 0 && o->done < o->total) {
        /* End of file inside the device: the file shrank under us. */
        *res = -EIO;
        return true;
    }
    o->done += (uint64_t)r;
    if (req->op != IQ_STO_WRITE_ZEROES) {
        cur_advance(req->iov, req->iovcnt, &o->cur, (uint64_t)r);
    }
    if (o->done < o->total) {
        return false;
    }
    *res = req->op == IQ_STO_WRITE_ZEROES ? 0 : (int64_t)o->total;
    return true;
}

/* Run one call synchronously (worker threads). */
static int64_t
call_run(struct file_sto *fs, const struct file_call *c)
{
    ssize_t n = 0;

    switch (c->kind) {
    case CALL_READV:
        n = preadv(fs->fd, c->iov, (int)c->cnt, (off_t)c->off);
        break;
    case CALL_WRITEV:
        n = pwritev(fs->fd, c->iov, (int)c->cnt, (off_t)c->off);
        break;
    case CALL_FSYNC:
        n = fdatasync(fs->fd);
        break;
    case CALL_FALLOC:
        n = fallocate(fs->fd, c->mode, (off_t)c->off, (off_t)c->len);
        break;
    }
    if (n < 0) {
        return IQ_NEG_ERRNO();
    }
    return n;
}

static int64_t
op_run_sync(struct file_sto *fs, struct iq_sto_req *req)
{
    struct file_op o;
    int64_t res = 0;

    op_init(&o, req);
    /* Bounded: every pass makes progress, moves a stage or uses a retry. */
    for (;;) {
        struct file_call c;

        op_next(fs, &o, &c);
        if (op_result(&o, call_run(fs, &c), &res)) {
            return res;
        }
    }
}

static void
evfd_consume(struct file_sto *fs)
{
    uint64_t v;
    ssize_t n = read(fs->evfd, &v, sizeof(v));

    (void)n; /* EAGAIN: nothing pending; the lists are checked anyway */
}

/* Back off for a millisecond when waiting itself failed. */
static void
drain_backoff(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};

    (void)nanosleep(&ts, NULL);
}

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
deadline_in(int timeout_ms)
{
    return now_ms() + timeout_ms;
}

/*
 * How long one wait of a drain may last: at most a second (then the lists
 * are looked at again), 0 when `deadline` passed; deadline -1 is "none".
 */
static int
wait_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0) {
        return 1000;
    }
    left = deadline - now_ms();
    return left <= 0 ? 0 : (int)IQ_MIN(left, (int64_t)1000);
}

/* ---- worker threads ---------------------------------------------------- */

static void *
worker_main(void *arg)
{
    struct file_worker *w = arg;
    struct file_sto *fs = w->fs;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct iq_sto_req *req;
        uint64_t one = 1;
        ssize_t n;

        while (w->head == NULL && !w->stop) {
            pthread_cond_wait(&w->cond, &w->lock);
        }
        req = fifo_pop(&w->head, &w->tail);
        if (req == NULL) {
            break;
        }
        pthread_mutex_unlock(&w->lock);

        req->res_ = op_run_sync(fs, req);

        pthread_mutex_lock(&fs->done_lock);
        fifo_push(&fs->done_head, &fs->done_tail, req);
        pthread_mutex_unlock(&fs->done_lock);
        n = write(fs->evfd, &one, sizeof(one));
        (void)n; /* only fails when the counter would overflow */

        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Run the callbacks of everything the workers finished. Loop thread. */
static unsigned
thr_complete(struct file_sto *fs)
{
    struct iq_sto_req *req;
    unsigned n = 0;

    pthread_mutex_lock(&fs->done_lock);
    req = fs->done_head;
    fs->done_head = NULL;
    fs->done_tail = NULL;
    pthread_mutex_unlock(&fs->done_lock);
    while (req != NULL) {
        struct iq_sto_req *next = req->next_;

        req->next_ = NULL;
        fs->inflight--;
        req->cb(req, req->res_);
        req = next;
        n++;
    }
    return n;
}

static void
thr_on_event(void *opaque, uint32_t events)
{
    struct file_sto *fs = opaque;

    (void)events;
    evfd_consume(fs);
    (void)thr_complete(fs);
}

static int
thr_submit(struct iq_storage *s, struct iq_sto_req *req)
{
    struct file_sto *fs = IQ_CONTAINER_OF(s, struct file_sto, base);
    struct file_worker *w = &fs->workers[req->queue % fs->nworkers];

    fs->inflight++;
    pthread_mutex_lock(&w->lock);
    fifo_push(&w->head, &w->tail, req);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

static bool
thr_drain_until(struct file_sto *fs, int64_t deadline)
{
    /*
     * Never return with requests in flight: the workers hold the caller's
     * iovecs (pinned guest memory). Every request a worker took finishes
     * (op_run_sync is bounded), so this ends; when poll itself fails the
     * done list is checked again after a short sleep.
     */
    while (fs->inflight > 0) {
        struct pollfd pfd = {.fd = fs->evfd, .events = POLLIN};

        int ms;

        if (thr_complete(fs) > 0) {
            continue;
        }
        ms = wait_ms(deadline);
        if (ms == 0) {
            return false;
        }
        if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
            if (!fs->drain_warned) {
                fs->drain_warned = true;
                IQ_ERR("storage", "poll on completion eventfd: %s",
                       strerror(errno));
            }
            drain_backoff();
        }
        evfd_consume(fs);
    }
    return true;
}

static void
thr_drain(struct iq_storage *s)
{
    (void)thr_drain_until(IQ_CONTAINER_OF(s, struct file_sto, base), -1);
}

static bool
thr_drain_for(struct iq_storage *s, int timeout_ms)
{
    return thr_drain_until(IQ_CONTAINER_OF(s, struct file_sto, base),
                           deadline_in(timeout_ms));
}

static int
thr_start(struct file_sto *fs, unsigned nr)
{
    sigset_t all;
    sigset_t old;
    int ret = 0;

    fs->workers = calloc(nr, sizeof(*fs->workers));
    if (fs->workers == NULL) {
        return -ENOMEM;
    }
    fs->nworkers = nr;
    for (unsigned i = 0; i < nr; i++) {
        struct file_worker *w = &fs->workers[i];

        w->fs = fs;
        if (pthread_mutex_init(&w->lock, NULL) != 0) {
            return -ENOMEM;
        }
        if (pthread_cond_init(&w->cond, NULL) != 0) {
            pthread_mutex_destroy(&w->lock);
            return -ENOMEM;
        }
        w->sync_init = true;
    }
    /* Workers take no signals: the loop thread handles them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < nr && ret == 0; i++) {
        ret = -pthread_create(&fs->workers[i].thread, NULL, worker_main,
                              &fs->workers[i]);
        fs->workers[i].started = ret == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ret;
}

static void
thr_stop(struct file_sto *fs)
{
    for (unsigned i = 0; i < fs->nworkers; i++) {
        struct file_worker *w = &fs->workers[i];

        if (w->started) {
            pthread_mutex_lock(&w->lock);
            w->stop = true;
            pthread_cond_signal(&w->cond);
            pthread_mutex_unlock(&w->lock);
            pthread_join(w->thread, NULL);
        }
        if (w->sync_init) {
            pthread_cond_destroy(&w->cond);
            pthread_mutex_destroy(&w->lock);
        }
    }
    free(fs->workers);
    fs->workers = NULL;
    fs->nworkers = 0;
}

/* ---- io_uring ---------------------------------------------------------- */

#if IQ_HAVE_URING
/* Queue a finished-without-CQE request for uring_fail_complete(). */
static void
uring_fail_req(struct file_sto *fs, struct iq_sto_req *req, int err)
{
    req->res_ = err;
    fifo_push(&fs->fail_head, &fs->fail_tail, req);
    iq_loop_defer(fs->base.loop, &fs->submit_work);
}

static void
uring_free_slot(struct file_sto *fs, struct file_slot *sl)
{
    sl->op.req = NULL;
    sl->next_unsub = NULL;
    sl->next_free = fs->free_slots;
    fs->free_slots = sl;
}

/*
 * Submission failed for good (not EINTR/EAGAIN/EBUSY): the SQEs the kernel
 * did not take never will be, so their requests and those waiting for a
 * slot fail with `err`; later requests fail the same way. Requests the
 * kernel took still complete through their CQEs.
 */
static void
uring_die(struct file_sto *fs, int err)
{
    struct iq_sto_req *req;

    IQ_ERR("storage", "io_uring_submit: %s; failing new requests",
           strerror(-err));
    fs->dead_err = err;
    while (fs->unsub_head != NULL) {
        struct file_slot *sl = fs->unsub_head;

        fs->unsub_head = sl->next_unsub;
        req = sl->op.req;
        uring_free_slot(fs, sl);
        uring_fail_req(fs, req, err);
    }
    fs->unsub_tail = NULL;
    while ((req = fifo_pop(&fs->pend_head, &fs->pend_tail)) != NULL) {
        uring_fail_req(fs, req, err);
    }
}

/* Run the callbacks of failed requests. Returns how many ran. */
static unsigned
uring_fail_complete(struct file_sto *fs)
{
    struct iq_sto_req *req = fs->fail_head;
    unsigned n = 0;

    /* Requests a callback submits wait for the next pass. */
    fs->fail_head = NULL;
    fs->fail_tail = NULL;
    while (req != NULL) {
        struct iq_sto_req *next = req->next_;

        req->next_ = NULL;
        fs->inflight--;
        req->cb(req, req->res_);
        req = next;
        n++;
    }
    return n;
}

/*
 * Hand the prepared SQEs to the kernel. 0 when it took some or there was
 * nothing to take, -EINTR/-EAGAIN/-EBUSY when it should be tried again,
 * another -errno when submission is dead (uring_die ran).
 */
static int
uring_submit_sq(struct file_sto *fs)
{
    int ret;

    if (fs->unsub_head == NULL || fs->dead_err != 0) {
        return 0;
    }
    ret = io_uring_submit(&fs->ring);
    if (ret == 0) {
        return -EAGAIN;
    }
    if (ret > 0) {
        /* The kernel takes SQEs in ring order, the order of this list. */
        for (int i = 0; i < ret && fs->unsub_head != NULL; i++) {
            struct file_slot *sl = fs->unsub_head;

            fs->unsub_head = sl->next_unsub;
            sl->next_unsub = NULL;
            fs->kernel_n++;
        }
        if (fs->unsub_head == NULL) {
            fs->unsub_tail = NULL;
        }
        return 0;
    }
    if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY) {
        return ret;
    }
    uring_die(fs, ret);
    return ret;
}

static void
uring_flush_sq(struct file_sto *fs)
{
    int ret = uring_submit_sq(fs);

    if ((ret == -EINTR || ret == -EAGAIN || ret == -EBUSY) ||
        (ret == 0 && fs->unsub_head != NULL)) {
        /* Try again after the next batch of events. */
        iq_loop_defer(fs->base.loop, &fs->submit_work);
    }
}

static void
uring_submit_work(void *opaque)
{
    struct file_sto *fs = opaque;

    uring_flush_sq(fs);
    (void)uring_fail_complete(fs);
}

static void
uring_issue(struct file_sto *fs, struct file_slot *sl)
{
    struct io_uring_sqe *sqe = NULL;
    struct file_call c;

    if (fs->dead_err == 0) {
        sqe = io_uring_get_sqe(&fs->ring);
        if (sqe == NULL) {
            uring_flush_sq(fs);
            sqe = fs->dead_err == 0 ? io_uring_get_sqe(&fs->ring) : NULL;
        }
    }
    if (sqe == NULL) {
        /*
         * Submission is dead. (While it is alive the SQ cannot be full: a
         * slot has at most one SQE outstanding and there are as many slots
         * as SQ entries.)
         */
        struct iq_sto_req *req = sl->op.req;

        uring_free_slot(fs, sl);
        uring_fail_req(fs, req, fs->dead_err != 0 ? fs->dead_err : -EIO);
        return;
    }
    op_next(fs, &sl->op, &c);
    switch (c.kind) {
    case CALL_READV:
        io_uring_prep_readv(sqe, fs->fd, c.iov, c.cnt, c.off);
        break;
    case CALL_WRITEV:
        io_uring_prep_writev(sqe, fs->fd, c.iov, c.cnt, c.off);
        break;
    case CALL_FSYNC:
        io_uring_prep_fsync(sqe, fs->fd, IORING_FSYNC_DATASYNC);
        break;
    case CALL_FALLOC:
        io_uring_prep_fallocate(sqe, fs->fd, c.mode, c.off, c.len);
        break;
    }
    io_uring_sqe_set_data(sqe, sl);
    sl->next_unsub = NULL;
    if (fs->unsub_tail != NULL) {
        fs->unsub_tail->next_unsub = sl;
    } else {
        fs->unsub_head = sl;
        iq_loop_defer(fs->base.loop, &fs->submit_work);
    }
    fs->unsub_tail = sl;
}

static void
uring_start(struct file_sto *fs, struct file_slot *sl, struct iq_sto_req *req)
{
    op_init(&sl->op, req);
    uring_issue(fs, sl);
}

static int
uring_submit(struct iq_storage *s, struct iq_sto_req *req)
{
    struct file_sto *fs = IQ_CONTAINER_OF(s, struct file_sto, base);
    struct file_slot *sl = fs->free_slots;

    fs->inflight++;
    if (fs->dead_err != 0) {
        uring_fail_req(fs, req, fs->dead_err);
        return 0;
    }
    if (sl == NULL) {
        fifo_push(&fs->pend_head, &fs->pend_tail, req);
        return 0;
    }
    fs->free_slots = sl->next_free;
    uring_start(fs, sl, req);
    return 0;
}

/* Run the callbacks of the CQEs that are there, without waiting. */
static void
uring_reap_cqes(struct file_sto *fs)
{
    struct io_uring_cqe *cqe;

    /*
     * Bounded: new SQEs are only submitted after the loop, so at most
     * FILE_QD completions can be waiting here.
     */
    while (io_uring_peek_cqe(&fs->ring, &cqe) == 0) {
        struct file_slot *sl = io_uring_cqe_get_data(cqe);
        struct iq_sto_req *req;
        struct iq_sto_req *next;
        int64_t res = 0;
        int r = cqe->res;

        io_uring_cqe_seen(&fs->ring, cqe);
        fs->kernel_n--;
        if (!op_result(&sl->op, r, &res)) {
            uring_issue(fs, sl);
            continue;
        }
        req = sl->op.req;
        next = fifo_pop(&fs->pend_head, &fs->pend_tail);
        if (next != NULL) {
            uring_start(fs, sl, next);
        } else {
            uring_free_slot(fs, sl);
        }
        fs->inflight--;
        req->cb(req, res);
    }
}

static void
uring_reap(struct file_sto *fs)
{
    uring_reap_cqes(fs);
    uring_flush_sq(fs);
}

static void
uring_on_event(void *opaque, uint32_t events)
{
    struct file_sto *fs = opaque;

    (void)events;
    evfd_consume(fs);
    uring_reap(fs);
}

/*
 * Returns only when nothing is in flight: the kernel may write into the
 * caller's iovecs (pinned guest memory) until the CQE is seen. SQEs the
 * kernel refused for now (EAGAIN, EBUSY) are submitted again here, not
 * later from the loop; when submission fails for good they complete with
 * the error. When waiting itself fails, the CQ is polled after a sleep.
 */
static bool
uring_drain_until(struct file_sto *fs, int64_t deadline)
{
    while (fs->inflight > 0) {
        struct io_uring_cqe *cqe;
        int ms;
        int ret;

        (void)uring_fail_complete(fs);
        uring_reap_cqes(fs);
        if (fs->inflight == 0) {
            break;
        }
        ret = uring_submit_sq(fs);
        ms = wait_ms(deadline);
        if (ms == 0) {
            /* The loop goes on: it submits and reaps the rest. */
            iq_loop_defer(fs->base.loop, &fs->submit_work);
            return false;
        }
        if (ret == -EINTR) {
            continue;
        }
        if (fs->kernel_n == 0) {
            if (ret == -EAGAIN || ret == -EBUSY) {
                /* Nothing to wait for yet: let the kernel recover. */
                drain_backoff();
            }
            /* Else: only failed requests or new SQEs are left. */
            continue;
        }
        if (deadline < 0) {
            ret = io_uring_wait_cqe(&fs->ring, &cqe);
        } else {
            /*
             * Bounded: wait on the completion eventfd, not with
             * io_uring_wait_cqe_timeout(), which on kernels without
             * IORING_FEAT_EXT_ARG takes an SQE and submits behind our back.
             */
            struct pollfd pfd = {.fd = fs->evfd, .events = POLLIN};

            evfd_consume(fs);
            ret = 0;
            if (io_uring_cq_ready(&fs->ring) == 0 && poll(&pfd, 1, ms) < 0) {
                ret = IQ_NEG_ERRNO();
            }
        }
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -ETIME) {
            if (!fs->drain_warned) {
                fs->drain_warned = true;
                IQ_ERR("storage", "io_uring_wait_cqe: %s", strerror(-ret));
            }
            drain_backoff();
        }
    }
    iq_loop_cancel(fs->base.loop, &fs->submit_work);
    return true;
}

static void
uring_drain(struct iq_storage *s)
{
    (void)uring_drain_until(IQ_CONTAINER_OF(s, struct file_sto, base), -1);
}

static bool
uring_drain_for(struct iq_storage *s, int timeout_ms)
{
    return uring_drain_until(IQ_CONTAINER_OF(s, struct file_sto, base),
                             deadline_in(timeout_ms));
}

static int
uring_setup(struct file_sto *fs)
{
    int ret = io_uring_queue_init(FILE_QD, &fs->ring, 0);

    if (ret < 0) {
        return ret;
    }
    fs->ring_ok = true;
    ret = io_uring_register_eventfd(&fs->ring, fs->evfd);
    if (ret < 0) {
        io_uring_queue_exit(&fs->ring);
        fs->ring_ok = false;
        return ret;
    }
    for (unsigned i = FILE_QD; i-- > 0;) {
        fs->slots[i].next_free = fs->free_slots;
        fs->free_slots = &fs->slots[i];
    }
    iq_loop_work_init(&fs->submit_work, uring_submit_work, fs);
    return 0;
}
#endif /* IQ_HAVE_URING */

/* ---- object lifetime ---------------------------------------------------- */

static void file_destroy(struct iq_storage *s);

static const struct sto_engine_ops thr_engine_ops = {
    .name = "threads",
    .submit = thr_submit,
    .drain = thr_drain,
    .drain_for = thr_drain_for,
    .destroy = file_destroy,
};

#if IQ_HAVE_URING
static const struct sto_engine_ops uring_engine_ops = {
    .name = "io_uring",
    .submit = uring_submit,
    .drain = uring_drain,
    .drain_for = uring_drain_for,
    .destroy = file_destroy,
};
#endif

static void
file_destroy(struct iq_storage *s)
{
    struct file_sto *fs = IQ_CONTAINER_OF(s, struct file_sto, base);

    if (s->ops != NULL) {
        s->ops->drain(s);
    }
    if (fs->evfd_added) {
        iq_loop_del_fd(s->loop, fs->evfd);
    }
#if IQ_HAVE_URING
    if (fs->ring_ok) {
        iq_loop_cancel(s->loop, &fs->submit_work);
        io_uring_queue_exit(&fs->ring);
    }
#endif
    thr_stop(fs);
    if (fs->done_init) {
        pthread_mutex_destroy(&fs->done_lock);
    }
    iq_close_fd(&fs->evfd);
    iq_close_fd(&fs->fd);
    free(fs->zeroes);
    free(fs);
}

/* Size and logical block size of what `fd` refers to. */
static int
file_geometry(struct file_sto *fs, uint64_t want_size)
{
    struct stat st;
    uint64_t size = 0;

    if (fstat(fs->fd, &st) < 0) {
        return IQ_NEG_ERRNO();
    }
    fs->base.block_size = 512;
    if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
        fs->base.can_discard = true;
    } else if (S_ISBLK(st.st_mode)) {
        int lbs = 0;

        if (ioctl(fs->fd, BLKGETSIZE64, &size) < 0) {
            return IQ_NEG_ERRNO();
        }
        if (ioctl(fs->fd, BLKSSZGET, &lbs) == 0 && lbs >= 512 && lbs <= 65536 &&
            (lbs & (lbs - 1)) == 0) {
            fs->base.block_size = (uint32_t)lbs;
        }
        fs->base.can_discard = true;
    } else if (S_ISCHR(st.st_mode)) {
        if (want_size == 0) {
            return -EINVAL;
        }
        size = want_size;
    } else {
        return -EINVAL;
    }
    if (want_size != 0) {
        if (want_size > size) {
            return -EINVAL;
        }
        size = want_size;
    }
    fs->base.size = size;
    return 0;
}

static int
file_create(struct iq_loop *loop, int fd, uint64_t want_size,
            const struct iq_storage_opts *opts, struct iq_storage **out)
{
    struct file_sto *fs;
    unsigned nr = opts != NULL && opts->nr_queues > 0 ? opts->nr_queues : 1;
    int fl;
    int ret;

    *out = NULL;
    fs = calloc(1, sizeof(*fs));
    if (fs == NULL) {
        iq_close_fd(&fd);
        return -ENOMEM;
    }
    fs->fd = fd;
    fs->evfd = -1;
    fs->base.loop = loop;
    if (loop == NULL) {
        ret = -EINVAL;
        goto fail;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        ret = IQ_NEG_ERRNO();
        goto fail;
    }
    fs->base.readonly =
        (opts != NULL && opts->readonly) || (fl & O_ACCMODE) == O_RDONLY;
    ret = file_geometry(fs, want_size);
    if (ret < 0) {
        goto fail;
    }
    if (posix_memalign(&fs->zeroes, 4096, FILE_ZERO_LEN) != 0) {
        fs->zeroes = NULL;
        ret = -ENOMEM;
        goto fail;
    }
    memset(fs->zeroes, 0, FILE_ZERO_LEN);
    if (pthread_mutex_init(&fs->done_lock, NULL) != 0) {
        ret = -ENOMEM;
        goto fail;
    }
    fs->done_init = true;
    fs->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fs->evfd < 0) {
        ret = IQ_NEG_ERRNO();
        goto fail;
    }

#if IQ_HAVE_URING
    if (opts == NULL || !opts->no_uring) {
        ret = uring_setup(fs);
        if (ret == 0) {
            fs->base.ops = &uring_engine_ops;
        } else {
            IQ_NOTICE("storage",
                      "io_uring unavailable (%s), using %u "
                      "worker thread(s)",
                      strerror(-ret), IQ_MIN(nr, FILE_MAX_QUEUES));
        }
    }
#endif
    if (fs->base.ops == NULL) {
        ret = thr_start(fs, IQ_MIN(nr, FILE_MAX_QUEUES));
        fs->base.ops = &thr_engine_ops;
        if (ret < 0) {
            goto fail;
        }
    }
#if IQ_HAVE_URING
    if (fs->ring_ok) {
        ret = iq_loop_add_fd(loop, fs->evfd, EPOLLIN, uring_on_event, fs);
    } else {
        ret = iq_loop_add_fd(loop, fs->evfd, EPOLLIN, thr_on_event, fs);
    }
#else
    ret = iq_loop_add_fd(loop, fs->evfd, EPOLLIN, thr_on_event, fs);
#endif
    if (ret < 0) {
        goto fail;
    }
    fs->evfd_added = true;
    *out = &fs->base;
    return 0;

fail:
    file_destroy(&fs->base);
    return ret;
}

int
iq_storage_open_fd(struct iq_loop *loop, int fd, uint64_t size,
                   const struct iq_storage_opts *opts, struct iq_storage **out)
{
    *out = NULL;
    if (fd < 0) {
        return -EBADF;
    }
    return file_create(loop, fd, size, opts, out);
}

int
iq_storage_open_file(struct iq_loop *loop, const char *path,
                     const struct iq_storage_opts *opts,
                     struct iq_storage **out)
{
    bool ro = opts != NULL && opts->readonly;
    bool direct = opts != NULL && opts->direct;
    int flags = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
    int fd;

    *out = NULL;
    if (path == NULL) {
        return -EINVAL;
    }
    fd = open(path, flags);
    if (fd < 0) {
        int ret = IQ_NEG_ERRNO();

        if (direct && ret == -EINVAL) {
            /* The only EINVAL open() gives here: the fs refuses O_DIRECT. */
            IQ_ERR("storage",
                   "%s: the filesystem does not support O_DIRECT "
                   "(direct/cache=none); use buffered I/O",
                   path);
        }
        return ret;
    }
    return file_create(loop, fd, 0, opts, out);
}
