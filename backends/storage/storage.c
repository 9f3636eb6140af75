/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Engine-independent part of the storage API: request validation, the
 * accessors, and the deferred-completion engine used by null and mem.
 */
#include <errno.h>
#include <stdlib.h>

#include "ioreqd/err.h"
#include "storage-internal.h"

bool
iq_sto_iov_total(const struct iovec *iov, unsigned cnt, uint64_t *total)
{
    uint64_t t = 0;

    for (unsigned i = 0; i < cnt; i++) {
        if (iq_add_overflow_u64(t, iov[i].iov_len, &t)) {
            return false;
        }
    }
    *total = t;
    return true;
}

static bool
op_writes(enum iq_sto_op op)
{
    return op == IQ_STO_WRITE || op == IQ_STO_DISCARD ||
           op == IQ_STO_WRITE_ZEROES;
}

int
iq_storage_submit(struct iq_storage *s, struct iq_sto_req *req)
{
    uint64_t len = 0;
    uint64_t end;

    if (s == NULL || req == NULL || req->cb == NULL) {
        return -EINVAL;
    }
    switch (req->op) {
    case IQ_STO_READ:
    case IQ_STO_WRITE:
        if (req->iovcnt > STO_MAX_IOV ||
            (req->iovcnt > 0 && req->iov == NULL) ||
            !iq_sto_iov_total(req->iov, req->iovcnt, &len)) {
            return -EINVAL;
        }
        break;
    case IQ_STO_FLUSH:
        break;
    case IQ_STO_DISCARD:
    case IQ_STO_WRITE_ZEROES:
        len = req->len;
        break;
    default:
        return -EINVAL;
    }
    if (op_writes(req->op) && s->readonly) {
        return -EROFS;
    }
    if (req->op != IQ_STO_FLUSH &&
        (!iq_range_ok(req->offset, len, &end) || end > s->size)) {
        return -EINVAL;
    }
    if (req->op == IQ_STO_DISCARD && !s->can_discard) {
        return -EOPNOTSUPP;
    }
    req->next_ = NULL;
    req->res_ = 0;
    return s->ops->submit(s, req);
}

void
iq_storage_drain(struct iq_storage *s)
{
    if (s != NULL) {
        s->ops->drain(s);
    }
}

bool
iq_storage_drain_for(struct iq_storage *s, int timeout_ms)
{
    if (s == NULL) {
        return true;
    }
    return s->ops->drain_for(s, timeout_ms < 0 ? 0 : timeout_ms);
}

void
iq_storage_destroy(struct iq_storage *s)
{
    if (s != NULL) {
        s->ops->destroy(s);
    }
}

uint64_t
iq_storage_size(const struct iq_storage *s)
{
    return s->size;
}

uint32_t
iq_storage_block_size(const struct iq_storage *s)
{
    return s->block_size;
}

bool
iq_storage_readonly(const struct iq_storage *s)
{
    return s->readonly;
}

bool
iq_storage_can_discard(const struct iq_storage *s)
{
    return s->can_discard;
}

const char *
iq_storage_engine(const struct iq_storage *s)
{
    return s->ops->name;
}

/*
 * Deferred-completion engine. Requests queue in FIFO order; the loop work
 * item runs the batch queued before it started (requests submitted from a
 * callback wait for the next run), so a callback never runs from inside
 * iq_storage_submit().
 */
static void
sync_run_batch(struct sto_sync *ss)
{
    struct iq_sto_req *req = ss->head;

    ss->head = NULL;
    ss->tail = NULL;
    while (req != NULL) {
        struct iq_sto_req *next = req->next_;
        int64_t res = ss->exec(ss, req);

        req->next_ = NULL;
        req->cb(req, res);
        req = next;
    }
}

static void
sync_work(void *opaque)
{
    struct sto_sync *ss = opaque;

    if (!ss->hold) {
        sync_run_batch(ss);
    }
}

int
iq_sto_sync_submit(struct iq_storage *s, struct iq_sto_req *req)
{
    struct sto_sync *ss = IQ_CONTAINER_OF(s, struct sto_sync, base);

    if (ss->tail != NULL) {
        ss->tail->next_ = req;
    } else {
        ss->head = req;
    }
    ss->tail = req;
    iq_loop_defer(s->loop, &ss->work);
    return 0;
}

void
iq_sto_sync_drain(struct iq_storage *s)
{
    struct sto_sync *ss = IQ_CONTAINER_OF(s, struct sto_sync, base);

    /* Callbacks may submit more; each pass completes what was queued. */
    while (ss->head != NULL) {
        iq_loop_cancel(s->loop, &ss->work);
        sync_run_batch(ss);
    }
    iq_loop_cancel(s->loop, &ss->work);
}

/* The operations are memory copies: only a held mem device waits. */
bool
iq_sto_sync_drain_for(struct iq_storage *s, int timeout_ms)
{
    struct sto_sync *ss = IQ_CONTAINER_OF(s, struct sto_sync, base);

    (void)timeout_ms;
    if (ss->hold) {
        return ss->head == NULL;
    }
    iq_sto_sync_drain(s);
    return true;
}

void
iq_sto_sync_destroy(struct iq_storage *s)
{
    struct sto_sync *ss = IQ_CONTAINER_OF(s, struct sto_sync, base);

    iq_sto_sync_drain(s);
    free(ss->buf);
    free(ss);
}

int
iq_sto_sync_create(struct iq_loop *loop, uint64_t size,
                   const struct iq_storage_opts *opts,
                   const struct sto_engine_ops *ops, sto_sync_exec exec,
                   struct sto_sync **out)
{
    struct sto_sync *ss;

    *out = NULL;
    if (loop == NULL) {
        return -EINVAL;
    }
    ss = calloc(1, sizeof(*ss));
    if (ss == NULL) {
        return -ENOMEM;
    }
    ss->base.ops = ops;
    ss->base.loop = loop;
    ss->base.size = size;
    ss->base.block_size = 512;
    ss->base.readonly = opts != NULL && opts->readonly;
    ss->base.can_discard = true;
    ss->exec = exec;
    iq_loop_work_init(&ss->work, sync_work, ss);
    *out = ss;
    return 0;
}
