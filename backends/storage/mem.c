/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An in-memory device for tests and fuzzing. The copy happens when the
 * deferred completion runs, so the caller's iovecs are used asynchronously
 * exactly as a real engine would use them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage-internal.h"

static int64_t
mem_exec(struct sto_sync *ss, struct iq_sto_req *req)
{
    uint8_t *p = ss->buf + req->offset;
    uint64_t total = 0;

    /* Range, op and read-only were validated by iq_storage_submit(). */
    switch (req->op) {
    case IQ_STO_READ:
    case IQ_STO_WRITE:
        for (unsigned i = 0; i < req->iovcnt; i++) {
            size_t n = req->iov[i].iov_len;

            if (n == 0) {
                continue;
            }
            if (req->op == IQ_STO_READ) {
                memcpy(req->iov[i].iov_base, p + total, n);
            } else {
                memcpy(p + total, req->iov[i].iov_base, n);
            }
            total += n;
        }
        return (int64_t)total;
    case IQ_STO_DISCARD:
    case IQ_STO_WRITE_ZEROES:
        memset(p, 0, req->len);
        return 0;
    default:
        return 0;
    }
}

static const struct sto_engine_ops mem_engine_ops = {
    .name = "mem",
    .submit = iq_sto_sync_submit,
    .drain = iq_sto_sync_drain,
    .drain_for = iq_sto_sync_drain_for,
    .destroy = iq_sto_sync_destroy,
};

void
iq_storage_mem_hold(struct iq_storage *s, bool hold)
{
    struct sto_sync *ss;

    if (s == NULL || s->ops != &mem_engine_ops) {
        return;
    }
    ss = IQ_CONTAINER_OF(s, struct sto_sync, base);
    ss->hold = hold;
    if (!hold && ss->head != NULL) {
        iq_loop_defer(s->loop, &ss->work);
    }
}

int
iq_storage_open_mem(struct iq_loop *loop, uint64_t size,
                    const struct iq_storage_opts *opts, struct iq_storage **out)
{
    struct sto_sync *ss;
    int ret;

    *out = NULL;
    if ((uint64_t)(size_t)size != size) {
        return -ENOMEM;
    }
    ret = iq_sto_sync_create(loop, size, opts, &mem_engine_ops, mem_exec, &ss);
    if (ret < 0) {
        return ret;
    }
    ss->buf = calloc(1, size > 0 ? (size_t)size : 1);
    if (ss->buf == NULL) {
        iq_sto_sync_destroy(&ss->base);
        return -ENOMEM;
    }
    *out = &ss->base;
    return 0;
}
