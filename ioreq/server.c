/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-vCPU slot state machine and the buffered ring (xen-reference.md
 * sections 1.1 and 1.2). Xen owns both pages; their contents derive from
 * guest accesses, so every field is copied once and validated on the copy.
 *
 * Barriers: rmb/wmb are acquire/release fences, which give dmb ishld /
 * dmb ish on Arm and compiler barriers on x86 (TSO), as Xen's own
 * smp_rmb/smp_wmb do.
 */
#include <errno.h>
#include <inttypes.h>

#include "ioreq-internal.h"

#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

/* Re-reads of the buffered pointers before giving up for this wake-up. */
#define BUF_PTR_RETRIES 8u

#define LOAD(p) __atomic_load_n(p, __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)

int
iq_ioreq_ctx_add_taker(struct iq_ioreq_ctx *ctx, iq_ioreq_takes_fn takes,
                       void *opaque)
{
    if (takes == NULL) {
        return -EINVAL;
    }
    if (ctx->nr_takers >= IQ_IOREQ_MAX_TAKERS) {
        return -ENOSPC;
    }
    ctx->takers[ctx->nr_takers].takes = takes;
    ctx->takers[ctx->nr_takers].opaque = opaque;
    ctx->nr_takers++;
    return 0;
}

void
iq_ioreq_ctx_del_taker(struct iq_ioreq_ctx *ctx, void *opaque)
{
    for (unsigned i = 0; i < ctx->nr_takers; i++) {
        if (ctx->takers[i].opaque == opaque) {
            ctx->takers[i] = ctx->takers[ctx->nr_takers - 1];
            ctx->nr_takers--;
            return;
        }
    }
}

bool
iq_ioreq_slot_for_taker(const struct iq_ioreq_ctx *ctx,
                        const struct iq_ioreq_slot *slot)
{
    uint8_t flags;
    uint64_t addr;
    uint64_t data;
    uint32_t size;

    if (ctx->nr_takers == 0) {
        return false;
    }
    flags = __atomic_load_n(&slot->flags, __ATOMIC_ACQUIRE);
    if ((flags & IQ_SLOT_STATE_MASK) != IQ_IOREQ_STATE_READY ||
        (flags & (IQ_SLOT_DIR_READ | IQ_SLOT_DATA_IS_PTR)) != 0 ||
        LOAD(&slot->type) != IQ_IOREQ_TYPE_COPY) {
        return false;
    }
    addr = LOAD(&slot->addr);
    size = LOAD(&slot->size);
    data = LOAD(&slot->data);
    for (unsigned i = 0; i < ctx->nr_takers; i++) {
        if (ctx->takers[i].takes(ctx->takers[i].opaque, addr, size, data)) {
            return true;
        }
    }
    return false;
}

/* How often one wake-up serves a slot that another agent handed back. */
#define SLOT_RACE_ROUNDS 4u

enum slot_outcome {
    SLOT_ANSWERED, /* we answered it */
    SLOT_NOT_READY, /* nothing to do (spurious) */
    SLOT_REDO, /* handed back READY while we held it: serve it again */
    SLOT_TAKEN, /* answered by another agent while we held it */
};

static enum slot_outcome
slot_service_once(struct iq_ioreq_ctx *ctx, struct iq_ioreq_slot *slot)
{
    struct iq_ioreq_req req;
    uint8_t flags = LOAD(&slot->flags);
    uint8_t busy;

    if ((flags & IQ_SLOT_STATE_MASK) != IQ_IOREQ_STATE_READY) {
        /* Already answered (e.g. by privcmd ioeventfd) or not ours. */
        return SLOT_NOT_READY;
    }
    /*
     * Claim it: READY -> INPROCESS in one step, so that an agent racing
     * with us (and seeing INPROCESS) leaves it alone. Xen does not write
     * the slot while it is READY or INPROCESS.
     */
    busy = (uint8_t)((flags & ~IQ_SLOT_STATE_MASK) | IQ_IOREQ_STATE_INPROCESS);
    if (!__atomic_compare_exchange_n(&slot->flags, &flags, busy, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        return SLOT_NOT_READY;
    }
    /* State READY is published after the other fields. */
    rmb();
    req.addr = LOAD(&slot->addr);
    req.data = LOAD(&slot->data);
    req.count = LOAD(&slot->count);
    req.size = LOAD(&slot->size);
    req.type = LOAD(&slot->type);
    req.dir_read = (flags & IQ_SLOT_DIR_READ) != 0;
    req.df = (flags & IQ_SLOT_DF) != 0;
    req.data_is_ptr = (flags & IQ_SLOT_DATA_IS_PTR) != 0;
    flags &= (uint8_t)~IQ_SLOT_STATE_MASK;

    iq_ioreq_handle(ctx, &req);
    if (req.dir_read) {
        /*
         * Only reads answer with data. A write's slot may hold another
         * request by now (below); Linux's privcmd handler, the one agent
         * that can take a slot from us, takes writes only.
         */
        STORE(&slot->data, req.data);
    }
    /* The answer must be visible before the state says so. */
    wmb();
    /*
     * INPROCESS -> IORESP_READY only if the slot is still as we left it:
     * Linux's privcmd ioeventfd handler writes the state without a
     * compare-and-swap, so it may have answered this write itself (and Xen
     * may already have put the vCPU's next request here), or handed the
     * slot back READY after finding no queue of its own.
     */
    if (__atomic_compare_exchange_n(
            &slot->flags, &busy, (uint8_t)(flags | IQ_IORESP_STATE_READY),
            false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        ctx->st.ioreqs++;
        return SLOT_ANSWERED;
    }
    ctx->st.raced++;
    return (busy & IQ_SLOT_STATE_MASK) == IQ_IOREQ_STATE_READY ? SLOT_REDO
                                                               : SLOT_TAKEN;
}

bool
iq_ioreq_slot_service(struct iq_ioreq_ctx *ctx, struct iq_ioreq_slot *slot)
{
    for (unsigned round = 0; round < SLOT_RACE_ROUNDS; round++) {
        switch (slot_service_once(ctx, slot)) {
        case SLOT_ANSWERED:
            return true;
        case SLOT_NOT_READY:
            if (round == 0) {
                ctx->st.spurious++;
            }
            return false;
        case SLOT_TAKEN:
            /* The other agent notified Xen itself. */
            return false;
        case SLOT_REDO:
            /*
             * The same write handed back, or the vCPU's next request:
             * either way READY and ours to serve (a virtio-mmio register
             * write applied twice is harmless).
             */
            break;
        }
    }
    /* Still READY after that many hand-backs: the next wake-up serves it. */
    return false;
}

/*
 * A consistent (read, write) pointer pair: read rp, rmb, wp, rmb, re-read
 * rp. In ATOMIC mode Xen may rebase both pointers at once; a changed rp
 * means we raced with that and must read again.
 */
static bool
buf_pointers(struct iq_ioreq_bufpage *pg, uint32_t *rp, uint32_t *wp)
{
    for (unsigned t = 0; t < BUF_PTR_RETRIES; t++) {
        uint32_t r = LOAD(&pg->read_pointer);

        rmb();
        *wp = LOAD(&pg->write_pointer);
        rmb();
        *rp = LOAD(&pg->read_pointer);
        if (*rp == r) {
            return true;
        }
    }
    return false;
}

static void
buf_handle(struct iq_ioreq_ctx *ctx, uint32_t word, uint64_t data)
{
    struct iq_ioreq_req req = {
        .addr = word >> 12,
        .data = data,
        .count = 1,
        .size = 1u << ((word >> 10) & 3u),
        .type = (uint8_t)word,
        .dir_read = ((word >> 9) & 1u) != 0,
    };

    if (req.dir_read) {
        /* Xen buffers writes only: a read here has nobody to answer. */
        ctx->rejected++;
        iq_log_guest(&ctx->rl, ctx->name,
                     "buffered read type %u addr 0x%" PRIx64 " ignored",
                     (unsigned)req.type, req.addr);
        return;
    }
    /*
     * Only MMIO, port writes and the RTC offset travel here: a 20-bit
     * address cannot carry an SBDF, and INVALIDATE must be synchronous.
     */
    if (req.type != IQ_IOREQ_TYPE_COPY && req.type != IQ_IOREQ_TYPE_PIO &&
        req.type != IQ_IOREQ_TYPE_TIMEOFFSET) {
        ctx->rejected++;
        iq_log_guest(&ctx->rl, ctx->name,
                     "buffered ioreq type %u addr 0x%" PRIx64 " ignored",
                     (unsigned)req.type, req.addr);
        return;
    }
    iq_ioreq_handle(ctx, &req);
}

unsigned
iq_ioreq_buf_drain(struct iq_ioreq_ctx *ctx, struct iq_ioreq_bufpage *pg,
                   bool *more)
{
    unsigned done = 0;
    uint32_t rp;
    uint32_t wp;

    *more = false;
    while (done < IQ_BUF_SLOT_NUM) {
        uint32_t word;
        uint64_t data;
        uint32_t n = 1;

        if (!buf_pointers(pg, &rp, &wp) || rp == wp) {
            return done;
        }
        if (wp - rp > IQ_BUF_SLOT_NUM) {
            /* Not something Xen writes: stop rather than spin. */
            ctx->rejected++;
            iq_log_guest(&ctx->rl, ctx->name,
                         "buffered ring pointers rp %" PRIu32 " wp %" PRIu32
                         " inconsistent",
                         rp, wp);
            return done;
        }
        /* Slot index is pointer mod 511, wrap included, as Xen computes. */
        word = LOAD(&pg->slot[rp % IQ_BUF_SLOT_NUM].word);
        data = LOAD(&pg->slot[rp % IQ_BUF_SLOT_NUM].data);
        if (((word >> 10) & 3u) == 3u) {
            /* 8 bytes: the high half is in the next slot. */
            if (rp + 1u == wp) {
                return done;
            }
            data |= (uint64_t)LOAD(&pg->slot[(rp + 1u) % IQ_BUF_SLOT_NUM].data)
                    << 32;
            n = 2;
        }
        rmb();
        buf_handle(ctx, word, data);
        ctx->st.buffered++;
        /* Atomic: Xen may be rebasing both pointers with a cmpxchg. */
        __atomic_fetch_add(&pg->read_pointer, n, __ATOMIC_SEQ_CST);
        done += n;
    }
    *more = buf_pointers(pg, &rp, &wp) && rp != wp;
    return done;
}
