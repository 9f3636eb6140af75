/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Request decoding: size, count, data_is_ptr and df (xen-reference.md
 * sections 1.2-1.4 and 1.7), then dispatch to the region table.
 *
 * Every field of a request is guest-controlled. Nothing here fails: a
 * malformed request is logged on the rate-limited guest channel, counted
 * and answered (non-pointer reads get all ones), so the vCPU never stalls.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ioreqd/err.h"

#include "ioreq-internal.h"

static bool
valid_size(uint32_t size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

/* Little-endian byte cursor helpers: guest memory holds LE elements. */
static void
put_le(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static uint64_t
get_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

/* A malformed request: no effect, answered, counted, logged. */
static void
reject(struct iq_ioreq_ctx *ctx, struct iq_ioreq_req *req, const char *why)
{
    ctx->rejected++;
    iq_log_guest(&ctx->rl, ctx->name,
                 "bad ioreq (%s): type %u addr 0x%" PRIx64 " size %" PRIu32
                 " count %" PRIu32 " dir %s ptr %d df %d",
                 why, (unsigned)req->type, req->addr, req->size, req->count,
                 req->dir_read ? "read" : "write", (int)req->data_is_ptr,
                 (int)req->df);
    if (req->dir_read && !req->data_is_ptr) {
        req->data = valid_size(req->size) ? iq_ioreq_size_mask(req->size)
                                          : ~(uint64_t)0;
    }
}

static int
gmem_read(struct iq_ioreq_ctx *ctx, gpa_t gpa, void *buf, size_t len)
{
    if (ctx->gmem == NULL || ctx->gmem->read == NULL) {
        return -ENODEV;
    }
    return ctx->gmem->read(ctx->gmem_opaque, gpa, buf, len);
}

static int
gmem_write(struct iq_ioreq_ctx *ctx, gpa_t gpa, const void *buf, size_t len)
{
    if (ctx->gmem == NULL || ctx->gmem->write == NULL) {
        return -ENODEV;
    }
    return ctx->gmem->write(ctx->gmem_opaque, gpa, buf, len);
}

static void
gmem_failed(struct iq_ioreq_ctx *ctx, const struct iq_ioreq_req *req, gpa_t gpa,
            uint64_t len, int rc)
{
    ctx->st.gmem_errors++;
    iq_log_guest(&ctx->rl, ctx->name,
                 "ioreq %s at 0x%" PRIx64 ": guest memory 0x%" PRIx64
                 "+0x%" PRIx64 " not accessible (%d)",
                 req->dir_read ? "read" : "write", req->addr, gpa, len, rc);
}

/*
 * The guest-memory side of a data_is_ptr request: element i lives at
 * data +- i*size, so the whole block is [lo, lo + span). False if it wraps.
 */
static bool
mem_span(const struct iq_ioreq_req *req, uint64_t span, uint64_t *lo)
{
    uint64_t back = span - req->size;
    uint64_t end;

    if (req->df) {
        if (req->data < back) {
            return false;
        }
        *lo = req->data - back;
    } else {
        *lo = req->data;
    }
    return !iq_add_overflow_u64(*lo, span - 1, &end);
}

/* No region claims the access: reads see all ones, writes vanish. */
static void
unclaimed(struct iq_ioreq_ctx *ctx, struct iq_ioreq_req *req, uint64_t span)
{
    uint8_t ones[IQ_IOREQ_MAX_REP_BYTES];
    uint64_t lo;
    int rc;

    ctx->st.unclaimed++;
    IQ_DBG(ctx->name,
           "unclaimed ioreq type %u addr 0x%" PRIx64 " size %" PRIu32
           " count %" PRIu32,
           (unsigned)req->type, req->addr, req->size, req->count);
    if (!req->dir_read) {
        return;
    }
    if (!req->data_is_ptr) {
        req->data = iq_ioreq_size_mask(req->size);
        return;
    }
    if (!mem_span(req, span, &lo)) {
        gmem_failed(ctx, req, req->data, span, -EFAULT);
        return;
    }
    memset(ones, 0xff, (size_t)span);
    rc = gmem_write(ctx, lo, ones, (size_t)span);
    if (rc < 0) {
        gmem_failed(ctx, req, lo, span, rc);
    }
}

/*
 * Walks the elements of one access. The span was checked against one
 * region up front; if a device callback changes the table (e.g. a BAR
 * move unmaps its own region), every later element is looked up again.
 */
struct walker {
    struct iq_ioreq_ctx *ctx;
    enum iq_space space;
    struct iq_region *region;
    uint64_t gen;
    bool relookup;
};

static struct iq_region *
walker_region(struct walker *w, uint64_t key, unsigned size)
{
    if (w->ctx->gen != w->gen) {
        w->relookup = true;
    }
    if (w->relookup) {
        w->region = iq_ioreq_region_find(w->ctx, w->space, key, size);
        w->gen = w->ctx->gen;
    }
    return w->region;
}

static uint64_t
walker_read(struct walker *w, uint64_t key, unsigned size)
{
    struct iq_region *r = walker_region(w, key, size);
    uint64_t mask = iq_ioreq_size_mask(size);

    if (r == NULL) {
        return mask;
    }
    /* Arm 4.17 does not mask what we return: zero-extend here. */
    return r->ops->read(r->opaque, key - r->key, size) & mask;
}

static void
walker_write(struct walker *w, uint64_t key, uint64_t value, unsigned size)
{
    struct iq_region *r = walker_region(w, key, size);

    if (r == NULL) {
        return;
    }
    /* Arm 4.17 sends the whole source register: mask to `size`. */
    r->ops->write(r->opaque, key - r->key, value & iq_ioreq_size_mask(size),
                  size);
}

/* Device-side address of element i (PIO: the port stays fixed). */
static uint64_t
elem_key(const struct iq_ioreq_req *req, uint64_t stride, uint32_t i)
{
    uint64_t step = stride * i;

    return req->df ? req->addr - step : req->addr + step;
}

static void
copy_ptr(struct walker *w, struct iq_ioreq_req *req, uint64_t stride,
         uint64_t span)
{
    uint8_t buf[IQ_IOREQ_MAX_REP_BYTES];
    unsigned size = req->size;
    uint64_t back = span - size;
    uint64_t lo;
    int rc;

    /* guest-controlled: data (a guest address) */
    if (!mem_span(req, span, &lo)) {
        gmem_failed(w->ctx, req, req->data, span, -EFAULT);
        return;
    }
    if (!req->dir_read) {
        /* Guest memory -> device: one copy, then act only on the copy. */
        rc = gmem_read(w->ctx, lo, buf, (size_t)span);
        if (rc < 0) {
            gmem_failed(w->ctx, req, lo, span, rc);
            return;
        }
        for (uint32_t i = 0; i < req->count; i++) {
            uint64_t moff =
                req->df ? back - (uint64_t)i * size : (uint64_t)i * size;

            walker_write(w, elem_key(req, stride, i), get_le(buf + moff, size),
                         size);
        }
        return;
    }
    for (uint32_t i = 0; i < req->count; i++) {
        uint64_t moff =
            req->df ? back - (uint64_t)i * size : (uint64_t)i * size;

        put_le(buf + moff, walker_read(w, elem_key(req, stride, i), size),
               size);
    }
    rc = gmem_write(w->ctx, lo, buf, (size_t)span);
    if (rc < 0) {
        gmem_failed(w->ctx, req, lo, span, rc);
    }
}

/* IOREQ_TYPE_COPY (MMIO) and IOREQ_TYPE_PIO. */
static void
handle_access(struct iq_ioreq_ctx *ctx, struct iq_ioreq_req *req,
              enum iq_space space)
{
    struct walker w = {.ctx = ctx, .space = space, .gen = ctx->gen};
    uint64_t stride = space == IQ_SPACE_PIO ? 0 : req->size;
    uint64_t span;
    uint64_t dev_lo;
    uint64_t dev_len;

    /* guest-controlled: size, count, df, data_is_ptr, addr, data */
    if (!valid_size(req->size)) {
        reject(ctx, req, "size");
        return;
    }
    span = (uint64_t)req->count * req->size;
    if (req->count == 0 || span > IQ_IOREQ_MAX_REP_BYTES) {
        reject(ctx, req, "count");
        return;
    }
    /* Xen routes by the first and last byte of the whole access. */
    if (stride == 0) {
        dev_lo = req->addr;
        dev_len = req->size;
    } else {
        uint64_t back = span - req->size;

        if (req->df && req->addr < back) {
            unclaimed(ctx, req, span);
            return;
        }
        dev_lo = req->df ? req->addr - back : req->addr;
        dev_len = span;
    }
    w.region = iq_ioreq_region_find(ctx, space, dev_lo, dev_len);
    if (w.region == NULL) {
        unclaimed(ctx, req, span);
        return;
    }
    if (req->data_is_ptr) {
        copy_ptr(&w, req, stride, span);
        return;
    }
    /*
     * Without a pointer a repeated read keeps the last element and a
     * repeated write stores the same value into every element.
     */
    for (uint32_t i = 0; i < req->count; i++) {
        uint64_t key = elem_key(req, stride, i);

        if (req->dir_read) {
            req->data = walker_read(&w, key, req->size);
        } else {
            walker_write(&w, key, req->data, req->size);
        }
    }
}

/* IOREQ_TYPE_PCI_CONFIG: addr = (SBDF << 32) | reg; sizes 1/2/4, count 1. */
static void
handle_pci(struct iq_ioreq_ctx *ctx, struct iq_ioreq_req *req)
{
    struct walker w = {.ctx = ctx, .space = IQ_SPACE_PCI, .gen = ctx->gen};
    uint32_t sbdf;
    uint32_t reg;
    uint64_t key;

    if (req->size != 1 && req->size != 2 && req->size != 4) {
        reject(ctx, req, "pci size");
        return;
    }
    if (req->count != 1 || req->data_is_ptr) {
        reject(ctx, req, "pci count/ptr");
        return;
    }
    iq_pci_cfg_split(req->addr, &sbdf, &reg);
    if (reg >= IQ_PCI_CFG_SPACE_SIZE ||
        reg + req->size > IQ_PCI_CFG_SPACE_SIZE) {
        unclaimed(ctx, req, req->size);
        return;
    }
    key = iq_pci_cfg_key(sbdf, reg);
    w.region = iq_ioreq_region_find(ctx, IQ_SPACE_PCI, key, req->size);
    if (w.region == NULL) {
        unclaimed(ctx, req, req->size);
        return;
    }
    if (req->dir_read) {
        req->data = walker_read(&w, key, req->size);
    } else {
        walker_write(&w, key, req->data, req->size);
    }
}

void
iq_ioreq_handle(struct iq_ioreq_ctx *ctx, struct iq_ioreq_req *req)
{
    switch (req->type) {
    case IQ_IOREQ_TYPE_COPY:
        handle_access(ctx, req, IQ_SPACE_MMIO);
        return;
    case IQ_IOREQ_TYPE_PIO:
        handle_access(ctx, req, IQ_SPACE_PIO);
        return;
    case IQ_IOREQ_TYPE_PCI_CONFIG:
        handle_pci(ctx, req);
        return;
    case IQ_IOREQ_TYPE_INVALIDATE:
        /* Drop idle mappings before the vCPU sees the answer (1.7). */
        ctx->st.invalidates++;
        if (ctx->gmem != NULL && ctx->gmem->invalidate != NULL) {
            ctx->gmem->invalidate(ctx->gmem_opaque);
        }
        return;
    case IQ_IOREQ_TYPE_TIMEOFFSET:
        /* RTC offset broadcast: nothing to emulate. */
        return;
    default:
        ctx->st.unknown_type++;
        iq_log_guest(&ctx->rl, ctx->name,
                     "unknown ioreq type %u addr 0x%" PRIx64 " (answered)",
                     (unsigned)req->type, req->addr);
        return;
    }
}
