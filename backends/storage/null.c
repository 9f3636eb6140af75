/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The null device: reads return zeroes, writes are discarded. Completions
 * are deferred to the loop like a real device's.
 */
#include <string.h>

#include "storage-internal.h"

static int64_t
null_exec(struct sto_sync *ss, struct iq_sto_req *req)
{
    uint64_t total = 0;

    (void)ss;
    switch (req->op) {
    case IQ_STO_READ:
        for (unsigned i = 0; i < req->iovcnt; i++) {
            memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
            total += req->iov[i].iov_len;
        }
        return (int64_t)total;
    case IQ_STO_WRITE:
        /* Validated at submit: the sum does not overflow. */
        (void)iq_sto_iov_total(req->iov, req->iovcnt, &total);
        return (int64_t)total;
    default:
        return 0;
    }
}

static const struct sto_engine_ops null_engine_ops = {
    .name = "null",
    .submit = iq_sto_sync_submit,
    .drain = iq_sto_sync_drain,
    .drain_for = iq_sto_sync_drain_for,
    .destroy = iq_sto_sync_destroy,
};

int
iq_storage_open_null(struct iq_loop *loop, uint64_t size,
                     const struct iq_storage_opts *opts,
                     struct iq_storage **out)
{
    struct sto_sync *ss;
    int ret;

    *out = NULL;
    ret =
        iq_sto_sync_create(loop, size, opts, &null_engine_ops, null_exec, &ss);
    if (ret < 0) {
        return ret;
    }
    *out = &ss->base;
    return 0;
}
