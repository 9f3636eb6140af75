/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to backends/storage/: the engine ops table behind struct
 * iq_storage, and the deferred-completion engine shared by null and mem.
 */
#ifndef IQ_STORAGE_STORAGE_INTERNAL_H
#define IQ_STORAGE_STORAGE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ioreqd/loop.h"
#include "ioreqd/storage.h"

/* Most iovecs in one READ/WRITE request (the kernel's UIO_MAXIOV). */
#define STO_MAX_IOV 1024u

/*
 * An engine. submit() gets a request already validated by
 * iq_storage_submit() (op, range, read-only). destroy() drains, releases
 * everything and frees the object; it must accept partially built state.
 */
struct sto_engine_ops {
    const char *name;
    int (*submit)(struct iq_storage *s, struct iq_sto_req *req);
    void (*drain)(struct iq_storage *s);
    /* Bounded drain: true when nothing is in flight any more. */
    bool (*drain_for)(struct iq_storage *s, int timeout_ms);
    void (*destroy)(struct iq_storage *s);
};

/* Embedded first in every engine's object. */
struct iq_storage {
    const struct sto_engine_ops *ops;
    struct iq_loop *loop;
    uint64_t size;
    uint32_t block_size;
    bool readonly;
    bool can_discard;
};

/* Sum of iov lengths; false when it overflows. */
bool iq_sto_iov_total(const struct iovec *iov, unsigned cnt, uint64_t *total);

/*
 * The synchronous engines (null, mem): the operation itself is a memory
 * copy run on the loop thread when the deferred work item fires, never
 * from inside iq_storage_submit().
 */
struct sto_sync;
typedef int64_t (*sto_sync_exec)(struct sto_sync *ss, struct iq_sto_req *req);

struct sto_sync {
    struct iq_storage base;
    sto_sync_exec exec;
    uint8_t *buf; /* mem: the device contents */
    struct iq_loop_work work;
    struct iq_sto_req *head; /* FIFO of submitted requests */
    struct iq_sto_req *tail;
    bool hold; /* iq_storage_mem_hold() */
};

/*
 * Build the common part; the engine fills buf afterwards. `ops` is the
 * engine's const table, made of the three sto_sync_* functions below.
 */
IQ_MUST_CHECK int iq_sto_sync_create(struct iq_loop *loop, uint64_t size,
                                     const struct iq_storage_opts *opts,
                                     const struct sto_engine_ops *ops,
                                     sto_sync_exec exec, struct sto_sync **out);
int iq_sto_sync_submit(struct iq_storage *s, struct iq_sto_req *req);
void iq_sto_sync_drain(struct iq_storage *s);
bool iq_sto_sync_drain_for(struct iq_storage *s, int timeout_ms);
void iq_sto_sync_destroy(struct iq_storage *s);

#endif /* IQ_STORAGE_STORAGE_INTERNAL_H */
