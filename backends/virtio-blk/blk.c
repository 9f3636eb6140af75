/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk (virtio 1.2 section 5.2): request parsing and completion on
 * top of the shared virtqueue engine and a storage backend.
 *
 * A request is one element: readable part = 16-byte header (+ OUT data, or
 * discard/write-zeroes segments), writable part = IN data (or GET_ID bytes)
 * followed by the status byte, which is the element's last writable byte.
 * Everything read from the element is copied once into locals with
 * iq_virtq_elem_read() and validated before use (all guest-controlled);
 * the device only ever writes into the writable iovecs.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio-blk.h"

#define BLK_DEFAULT_QUEUE 256u
#define BLK_INLINE_IOV 16u
#define BLK_HDR_LEN 16u
#define BLK_SEG_LEN 16u
#define BLK_SECTOR 512u
#define BLK_SECTOR_SHIFT 9
/*
 * How long a guest-triggered reset waits for the storage on the loop
 * thread. Linux's virtio-mmio driver writes Status 0 and does not read it
 * back, so a reset that ends at once is what it expects; beyond this bound
 * the reset ends asynchronously (Status reads non-zero until then).
 */
#define BLK_RESET_WAIT_MS 50

struct blk_queue;

/* Per-request state, from a per-queue pool of queue_max entries. */
struct blk_req {
    struct iq_sto_req sto;
    struct blk_queue *q;
    struct iq_virtq_elem *elem;
    uint32_t type;
    uint32_t written; /* used length on success (data + status) */
    uint64_t data_len; /* IN/OUT bytes */
    bool flush_after; /* write cache off: flush before completing */
    bool wz_via_discard; /* WRITE_ZEROES with UNMAP sent as DISCARD */
    struct iovec *iov; /* inline_iov or heap (more than inline) */
    unsigned iovcnt;
    struct blk_req *next_free;
    struct iovec inline_iov[BLK_INLINE_IOV];
};

struct blk_queue {
    struct iq_virtio_blk *blk;
    unsigned index;
    struct blk_req *reqs;
    struct blk_req *free;
    unsigned inflight;
    struct iq_loop_work irq_work; /* iq_virtq_flush after the batch */
    struct iq_loop_work more_work; /* resume after the per-kick budget */
};

struct iq_virtio_blk {
    struct iq_virtio_dev *dev;
    struct iq_storage *sto;
    struct iq_loop *loop;
    char ctx[48];
    struct iq_ratelimit rl; /* guest errors */
    struct iq_ratelimit host_rl; /* host I/O errors */
    bool readonly;
    bool can_discard;
    uint8_t serial[IQ_VIRTIO_BLK_ID_BYTES];
    unsigned num_queues;
    uint16_t queue_max;
    uint32_t seg_max; /* advertised: one request fits in half the cap */
    uint32_t size_max;
    uint64_t capacity; /* 512-byte sectors */
    uint32_t blk_size;
    uint64_t offered;
    uint64_t features; /* negotiated, set at DRIVER_OK */
    uint8_t writeback;
    uint8_t writeback_default;
    bool resetting;
    struct blk_queue *queues;
    struct iq_virtio_blk_stats stats;
};

static bool
has_feature(uint64_t features, unsigned bit)
{
    return (features >> bit) & 1;
}

/* Write cache disabled: each write is flushed before it completes. */
static bool
blk_writethrough(const struct iq_virtio_blk *blk)
{
    return !has_feature(blk->features, IQ_VIRTIO_BLK_F_FLUSH) ||
           blk->writeback == 0;
}

static struct blk_req *
req_alloc(struct blk_queue *q)
{
    struct blk_req *r = q->free;

    if (r == NULL) {
        return NULL;
    }
    q->free = r->next_free;
    q->inflight++;
    memset(&r->sto, 0, sizeof(r->sto));
    r->elem = NULL;
    r->type = 0;
    r->written = 1;
    r->data_len = 0;
    r->flush_after = false;
    r->wz_via_discard = false;
    r->iov = r->inline_iov;
    r->iovcnt = 0;
    return r;
}

static void
req_free(struct blk_queue *q, struct blk_req *r)
{
    if (r->iov != r->inline_iov) {
        free(r->iov);
    }
    r->iov = r->inline_iov;
    r->elem = NULL;
    r->next_free = q->free;
    q->free = r;
    q->inflight--;
}

/*
 * Finish a request: status byte, then push (which releases the pins and
 * publishes the used entry); the interrupt is decided once per batch by
 * irq_work. During reset the element is only given back.
 */
static void
req_complete(struct blk_req *r, uint8_t status)
{
    struct blk_queue *q = r->q;
    struct iq_virtio_blk *blk = q->blk;
    struct iq_virtq *vq = iq_virtio_queue(blk->dev, q->index);
    struct iq_virtq_elem *elem = r->elem;
    uint32_t written = status == IQ_VIRTIO_BLK_S_OK ? r->written : 1;

    if (blk->resetting) {
        req_free(q, r);
        iq_virtq_discard(vq, elem);
        return;
    }
    /* in_len >= 1 was checked when the request was parsed. */
    (void)iq_virtq_elem_write(elem, (size_t)(elem->in_len - 1), &status, 1);
    blk->stats.reqs++;
    if (status == IQ_VIRTIO_BLK_S_IOERR) {
        blk->stats.ioerr++;
    } else if (status == IQ_VIRTIO_BLK_S_UNSUPP) {
        blk->stats.unsupp++;
    }
    req_free(q, r);
    iq_virtq_push(vq, elem, written, false);
    iq_loop_defer(blk->loop, &q->irq_work);
}

static void
irq_work_cb(void *opaque)
{
    struct blk_queue *q = opaque;

    iq_virtq_flush(iq_virtio_queue(q->blk->dev, q->index));
}

/*
 * Describe bytes [off, off + len) of `src` (n entries) in r->iov. The count
 * is bounded by n <= IQ_VIRTQ_MAX_IOV. 0 or -ENOMEM.
 */
static int
req_set_iov(struct blk_req *r, const struct iovec *src, unsigned n,
            uint64_t off, uint64_t len)
{
    unsigned need = 0;
    uint64_t o = off;
    uint64_t left = len;

    for (unsigned i = 0; i < n && left > 0; i++) {
        uint64_t take;

        if (o >= src[i].iov_len) {
            o -= src[i].iov_len;
            continue;
        }
        take = IQ_MIN(src[i].iov_len - o, left);
        left -= take;
        o = 0;
        need++;
    }
    if (need > BLK_INLINE_IOV) {
        r->iov = calloc(need, sizeof(*r->iov));
        if (r->iov == NULL) {
            r->iov = r->inline_iov;
            return -ENOMEM;
        }
    }
    o = off;
    left = len;
    r->iovcnt = 0;
    for (unsigned i = 0; i < n && left > 0; i++) {
        uint64_t take;

        if (o >= src[i].iov_len) {
            o -= src[i].iov_len;
            continue;
        }
        take = IQ_MIN(src[i].iov_len - o, left);
        r->iov[r->iovcnt].iov_base = (uint8_t *)src[i].iov_base + o;
        r->iov[r->iovcnt].iov_len = (size_t)take;
        r->iovcnt++;
        left -= take;
        o = 0;
    }
    return 0;
}

static void blk_sto_cb(struct iq_sto_req *sto, int64_t res);

/* Submit r->sto; on a synchronous refusal complete with IOERR. */
static void
req_submit(struct blk_req *r)
{
    struct iq_virtio_blk *blk = r->q->blk;
    int ret;

    r->sto.queue = r->q->index;
    r->sto.cb = blk_sto_cb;
    if (r->sto.op == IQ_STO_FLUSH) {
        blk->stats.flushes++;
    }
    ret = iq_storage_submit(blk->sto, &r->sto);
    if (ret < 0) {
        iq_log_guest(&blk->host_rl, blk->ctx,
                     "storage refused request "
                     "type %u: %d",
                     r->type, ret);
        req_complete(r, ret == -EOPNOTSUPP ? IQ_VIRTIO_BLK_S_UNSUPP
                                           : IQ_VIRTIO_BLK_S_IOERR);
    }
}

static void
blk_sto_cb(struct iq_sto_req *sto, int64_t res)
{
    struct blk_req *r = IQ_CONTAINER_OF(sto, struct blk_req, sto);
    struct iq_virtio_blk *blk = r->q->blk;

    if (blk->resetting) {
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if (res < 0) {
        if (r->wz_via_discard && res == -EOPNOTSUPP) {
            /* The backend cannot punch holes: write the zeroes instead. */
            r->wz_via_discard = false;
            r->sto.op = IQ_STO_WRITE_ZEROES;
            req_submit(r);
            return;
        }
        if (r->type == IQ_VIRTIO_BLK_T_DISCARD && res == -EOPNOTSUPP) {
            req_complete(r, IQ_VIRTIO_BLK_S_UNSUPP);
            return;
        }
        iq_log_guest(&blk->host_rl, blk->ctx,
                     "I/O error (type %u, offset "
                     "%llu): %s",
                     r->type, (unsigned long long)r->sto.offset,
                     strerror((int)-res));
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if ((r->sto.op == IQ_STO_READ || r->sto.op == IQ_STO_WRITE) &&
        (uint64_t)res != r->data_len) {
        /* Storage completes all or nothing; anything else is an error. */
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if (r->sto.op == IQ_STO_READ) {
        blk->stats.read_bytes += r->data_len;
    } else if (r->sto.op == IQ_STO_WRITE) {
        blk->stats.write_bytes += r->data_len;
    }
    if (r->flush_after) {
        r->flush_after = false;
        r->sto.op = IQ_STO_FLUSH;
        r->sto.iov = NULL;
        r->sto.iovcnt = 0;
        req_submit(r);
        return;
    }
    req_complete(r, IQ_VIRTIO_BLK_S_OK);
}

/* Guest-controlled sector range check: [sector, sector + n) in capacity. */
static bool
range_ok(const struct iq_virtio_blk *blk, uint64_t sector, uint64_t n)
{
    return sector <= blk->capacity && n <= blk->capacity - sector;
}

static void
blk_rw(struct blk_req *r, uint64_t sector)
{
    struct iq_virtio_blk *blk = r->q->blk;
    struct iq_virtq_elem *elem = r->elem;
    bool in = r->type == IQ_VIRTIO_BLK_T_IN;
    /* Guest-controlled lengths (bounded to 32 bits by the engine). */
    uint64_t len = in ? elem->in_len - 1 : elem->out_len - BLK_HDR_LEN;
    int ret;

    if (!in && blk->readonly) {
        iq_log_guest(&blk->rl, blk->ctx, "write to a read-only device");
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if ((len & (BLK_SECTOR - 1)) != 0 ||
        !range_ok(blk, sector, len >> BLK_SECTOR_SHIFT)) {
        iq_log_guest(&blk->rl, blk->ctx,
                     "bad %s: sector %llu, %llu bytes "
                     "(capacity %llu sectors)",
                     in ? "read" : "write", (unsigned long long)sector,
                     (unsigned long long)len,
                     (unsigned long long)blk->capacity);
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if (len == 0) {
        req_complete(r, IQ_VIRTIO_BLK_S_OK);
        return;
    }
    if (in) {
        ret = req_set_iov(r, elem->iov + elem->out_num, elem->in_num, 0, len);
    } else {
        ret = req_set_iov(r, elem->iov, elem->out_num, BLK_HDR_LEN, len);
    }
    if (ret < 0) {
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    r->data_len = len;
    r->written = in ? (uint32_t)len + 1 : 1;
    r->flush_after = !in && blk_writethrough(blk);
    r->sto.op = in ? IQ_STO_READ : IQ_STO_WRITE;
    r->sto.offset = sector << BLK_SECTOR_SHIFT;
    r->sto.iov = r->iov;
    r->sto.iovcnt = r->iovcnt;
    req_submit(r);
}

static void
blk_get_id(struct blk_req *r)
{
    struct iq_virtio_blk *blk = r->q->blk;
    struct iq_virtq_elem *elem = r->elem;
    size_t n =
        (size_t)IQ_MIN(elem->in_len - 1, (uint64_t)IQ_VIRTIO_BLK_ID_BYTES);

    (void)iq_virtq_elem_write(elem, 0, blk->serial, n);
    r->written = (uint32_t)n + 1;
    req_complete(r, IQ_VIRTIO_BLK_S_OK);
}

/* DISCARD / WRITE_ZEROES (section 5.2.6: one segment at most here). */
static void
blk_dwz(struct blk_req *r)
{
    struct iq_virtio_blk *blk = r->q->blk;
    struct iq_virtq_elem *elem = r->elem;
    bool discard = r->type == IQ_VIRTIO_BLK_T_DISCARD;
    unsigned bit =
        discard ? IQ_VIRTIO_BLK_F_DISCARD : IQ_VIRTIO_BLK_F_WRITE_ZEROES;
    uint64_t dlen = elem->out_len - BLK_HDR_LEN;
    uint64_t max_seg =
        discard ? IQ_VIRTIO_BLK_MAX_DISCARD_SEG : IQ_VIRTIO_BLK_MAX_WZ_SEG;
    uint32_t max_sectors = discard ? IQ_VIRTIO_BLK_MAX_DISCARD_SECTORS
                                   : IQ_VIRTIO_BLK_MAX_WZ_SECTORS;
    uint8_t raw[BLK_SEG_LEN];
    uint64_t sector;
    uint32_t num;
    uint32_t flags;

    if (blk->readonly) {
        iq_log_guest(&blk->rl, blk->ctx, "%s on a read-only device",
                     discard ? "discard" : "write zeroes");
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if (!has_feature(blk->features, bit)) {
        req_complete(r, IQ_VIRTIO_BLK_S_UNSUPP);
        return;
    }
    if (dlen == 0 || (dlen % BLK_SEG_LEN) != 0) {
        iq_log_guest(&blk->rl, blk->ctx, "%s: %llu bytes of segments",
                     discard ? "discard" : "write zeroes",
                     (unsigned long long)dlen);
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if (dlen / BLK_SEG_LEN > max_seg) {
        req_complete(r, IQ_VIRTIO_BLK_S_UNSUPP);
        return;
    }
    /* Copy the segment once; only the copy is used. */
    if (iq_virtq_elem_read(elem, BLK_HDR_LEN, raw, sizeof(raw)) !=
        sizeof(raw)) {
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    memcpy(&sector, raw, 8);
    memcpy(&num, raw + 8, 4);
    memcpy(&flags, raw + 12, 4);
    sector = le64toh(sector);
    num = le32toh(num);
    flags = le32toh(flags);
    /* Unknown flags, or UNMAP on a discard: UNSUPP (section 5.2.6.2). */
    if ((flags & ~IQ_VIRTIO_BLK_WZ_FLAG_UNMAP) != 0 ||
        (discard && (flags & IQ_VIRTIO_BLK_WZ_FLAG_UNMAP) != 0)) {
        req_complete(r, IQ_VIRTIO_BLK_S_UNSUPP);
        return;
    }
    if (num > max_sectors || !range_ok(blk, sector, num)) {
        iq_log_guest(&blk->rl, blk->ctx, "%s: sector %llu + %u out of range",
                     discard ? "discard" : "write zeroes",
                     (unsigned long long)sector, num);
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    if (num == 0) {
        req_complete(r, IQ_VIRTIO_BLK_S_OK);
        return;
    }
    r->sto.offset = sector << BLK_SECTOR_SHIFT;
    r->sto.len = (uint64_t)num << BLK_SECTOR_SHIFT;
    if (discard) {
        r->sto.op = IQ_STO_DISCARD;
    } else if ((flags & IQ_VIRTIO_BLK_WZ_FLAG_UNMAP) && blk->can_discard) {
        /* Storage DISCARD reads back zeroes (storage.h), so it qualifies. */
        r->sto.op = IQ_STO_DISCARD;
        r->wz_via_discard = true;
        r->flush_after = blk_writethrough(blk);
    } else {
        r->sto.op = IQ_STO_WRITE_ZEROES;
        r->flush_after = blk_writethrough(blk);
    }
    req_submit(r);
}

/* Parse and start one element. */
static void
blk_handle(struct blk_queue *q, struct iq_virtq *vq, struct iq_virtq_elem *elem)
{
    struct iq_virtio_blk *blk = q->blk;
    uint8_t hdr[BLK_HDR_LEN];
    uint32_t type;
    uint64_t sector;
    struct blk_req *r;

    if (elem->in_len == 0) {
        /* No place for the status byte: a driver bug (section 5.2.6). */
        iq_virtq_discard(vq, elem);
        iq_virtio_set_needs_reset(blk->dev, "virtio-blk request without a "
                                            "writable status byte");
        return;
    }
    r = req_alloc(q);
    if (r == NULL) {
        /* Cannot happen: the pool is as large as the largest queue. */
        uint8_t st = IQ_VIRTIO_BLK_S_IOERR;

        (void)iq_virtq_elem_write(elem, (size_t)(elem->in_len - 1), &st, 1);
        iq_virtq_push(vq, elem, 1, false);
        iq_loop_defer(blk->loop, &q->irq_work);
        return;
    }
    r->q = q;
    r->elem = elem;
    /* Copy the header out once (it may be split across descriptors). */
    if (elem->out_len < BLK_HDR_LEN ||
        iq_virtq_elem_read(elem, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
        iq_log_guest(&blk->rl, blk->ctx, "request header is %llu bytes",
                     (unsigned long long)elem->out_len);
        req_complete(r, IQ_VIRTIO_BLK_S_IOERR);
        return;
    }
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    type = le32toh(type);
    sector = le64toh(sector);
    r->type = type;

    switch (type) {
    case IQ_VIRTIO_BLK_T_IN:
    case IQ_VIRTIO_BLK_T_OUT:
        blk_rw(r, sector);
        break;
    case IQ_VIRTIO_BLK_T_FLUSH:
        r->sto.op = IQ_STO_FLUSH;
        req_submit(r);
        break;
    case IQ_VIRTIO_BLK_T_GET_ID:
        blk_get_id(r);
        break;
    case IQ_VIRTIO_BLK_T_DISCARD:
    case IQ_VIRTIO_BLK_T_WRITE_ZEROES:
        blk_dwz(r);
        break;
    default:
        req_complete(r, IQ_VIRTIO_BLK_S_UNSUPP);
        break;
    }
}

static void
blk_run_queue(struct blk_queue *q)
{
    struct iq_virtq *vq = iq_virtio_queue(q->blk->dev, q->index);
    unsigned budget = iq_virtq_size(vq);
    struct iq_virtq_elem *elem;

    /*
     * At most one queue's worth per kick. -EBUSY: the engine notifies us
     * again after a push; -EPROTO: NEEDS_RESET is set, stop.
     */
    while (budget > 0 && iq_virtq_pop(vq, &elem) == 1) {
        budget--;
        blk_handle(q, vq, elem);
    }
    if (budget == 0 && iq_virtq_size(vq) > 0) {
        iq_loop_defer(q->blk->loop, &q->more_work);
    }
}

static void
more_work_cb(void *opaque)
{
    blk_run_queue(opaque);
}

/* ---- device ops ------------------------------------------------------- */

static uint64_t
blk_features(void *opaque)
{
    struct iq_virtio_blk *blk = opaque;

    return blk->offered;
}

static void
put16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, sizeof(v));
}

static void
put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

static void
put64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof(v));
}

static void
blk_config_build(struct iq_virtio_blk *blk, uint8_t *c)
{
    uint64_t drv = iq_virtio_features(blk->dev);
    uint8_t wb = blk->writeback;

    /* Without FLUSH the device is write-through whatever the byte says. */
    if (drv != 0 && !has_feature(drv, IQ_VIRTIO_BLK_F_FLUSH)) {
        wb = 0;
    }
    memset(c, 0, IQ_VIRTIO_BLK_CONFIG_SIZE);
    put64(c + IQ_VIRTIO_BLK_CFG_CAPACITY, blk->capacity);
    put32(c + IQ_VIRTIO_BLK_CFG_SIZE_MAX, blk->size_max);
    put32(c + IQ_VIRTIO_BLK_CFG_SEG_MAX, blk->seg_max);
    put32(c + IQ_VIRTIO_BLK_CFG_BLK_SIZE, blk->blk_size);
    /* Topology: physical = logical block, no offset, min_io 1 block. */
    put16(c + IQ_VIRTIO_BLK_CFG_TOPOLOGY + 2, 1);
    c[IQ_VIRTIO_BLK_CFG_WRITEBACK] = wb;
    put16(c + IQ_VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)blk->num_queues);
    put32(c + IQ_VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS,
          IQ_VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c + IQ_VIRTIO_BLK_CFG_MAX_DISCARD_SEG, IQ_VIRTIO_BLK_MAX_DISCARD_SEG);
    put32(c + IQ_VIRTIO_BLK_CFG_DISCARD_ALIGN, blk->blk_size / BLK_SECTOR);
    put32(c + IQ_VIRTIO_BLK_CFG_MAX_WZ_SECTORS, IQ_VIRTIO_BLK_MAX_WZ_SECTORS);
    put32(c + IQ_VIRTIO_BLK_CFG_MAX_WZ_SEG, IQ_VIRTIO_BLK_MAX_WZ_SEG);
    c[IQ_VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = blk->can_discard ? 1 : 0;
}

static void
blk_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
    uint8_t c[IQ_VIRTIO_BLK_CONFIG_SIZE];

    /* Bounds were checked by the engine; checked again (cheap). */
    if (offset > sizeof(c) || len > sizeof(c) - offset) {
        memset(buf, 0, len);
        return;
    }
    blk_config_build(opaque, c);
    memcpy(buf, c + offset, len);
}

static void
blk_config_write(void *opaque, uint32_t offset, const void *buf, uint32_t len)
{
    struct iq_virtio_blk *blk = opaque;
    uint8_t v;

    /* Only the writeback byte is writable, with CONFIG_WCE accepted. */
    if (offset != IQ_VIRTIO_BLK_CFG_WRITEBACK || len != 1 ||
        !has_feature(iq_virtio_features(blk->dev),
                     IQ_VIRTIO_BLK_F_CONFIG_WCE)) {
        iq_log_guest(&blk->rl, blk->ctx,
                     "config write at %u (%u bytes) "
                     "ignored",
                     offset, len);
        return;
    }
    memcpy(&v, buf, 1); /* guest-controlled */
    if (v > 1) {
        iq_log_guest(&blk->rl, blk->ctx, "writeback value %u ignored", v);
        return;
    }
    blk->writeback = v;
}

static int
blk_start(void *opaque, uint64_t features)
{
    struct iq_virtio_blk *blk = opaque;

    blk->features = features;
    return 0;
}

static void
blk_notify(void *opaque, struct iq_virtq *vq)
{
    struct iq_virtio_blk *blk = opaque;
    unsigned idx = iq_virtq_index(vq);

    if (idx < blk->num_queues) {
        blk_run_queue(&blk->queues[idx]);
    }
}

static void
blk_reset(void *opaque)
{
    struct iq_virtio_blk *blk = opaque;

    /*
     * No system call is cancelled half-way: wait for every storage request;
     * their callbacks see `resetting` and give the elements back without
     * touching guest memory.
     */
    blk->resetting = true;
    iq_storage_drain(blk->sto);
    for (unsigned i = 0; i < blk->num_queues; i++) {
        iq_loop_cancel(blk->loop, &blk->queues[i].irq_work);
        iq_loop_cancel(blk->loop, &blk->queues[i].more_work);
    }
    blk->resetting = false;
    blk->features = 0;
    blk->writeback = blk->writeback_default;
}

/*
 * Guest-triggered reset: do not wait for the storage beyond a short bound
 * (it may be slow or hung, and the loop serves every vCPU and device).
 * Requests still in flight finish later; their callbacks see `resetting`
 * and give the elements back without writing guest memory; the engine
 * then calls blk_reset.
 */
static void
blk_reset_async(void *opaque)
{
    struct iq_virtio_blk *blk = opaque;

    blk->resetting = true;
    for (unsigned i = 0; i < blk->num_queues; i++) {
        iq_loop_cancel(blk->loop, &blk->queues[i].irq_work);
        iq_loop_cancel(blk->loop, &blk->queues[i].more_work);
    }
    (void)iq_storage_drain_for(blk->sto, BLK_RESET_WAIT_MS);
}

static const struct iq_virtio_device_ops blk_virtio_ops = {
    .features = blk_features,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .start = blk_start,
    .notify = blk_notify,
    .reset = blk_reset,
    .reset_async = blk_reset_async,
};

/* ---- lifetime --------------------------------------------------------- */

static void
blk_free(struct iq_virtio_blk *blk)
{
    if (blk->queues != NULL) {
        for (unsigned i = 0; i < blk->num_queues; i++) {
            iq_loop_cancel(blk->loop, &blk->queues[i].irq_work);
            iq_loop_cancel(blk->loop, &blk->queues[i].more_work);
            free(blk->queues[i].reqs);
        }
    }
    free(blk->queues);
    free(blk);
}

/*
 * Segment limits the driver is told. A segment of at most one bucket spans
 * at most two buckets, the header two and the status byte one, so a
 * request of seg_max segments pins at most (2 * seg_max + 3) buckets; keep
 * that within half of the mapcache cap, so one request always fits beside
 * others instead of waiting forever for room that can never exist. Grant
 * entries are single pages and cost less. Never more than the descriptors
 * a chain can have besides header and status (queue size - 2).
 */
static void
seg_limits(struct iq_virtio_blk *blk, const struct iq_mc *mc)
{
    size_t bucket = iq_mc_bucket_bytes(mc);
    size_t half = iq_mc_cap_bytes(mc) / bucket / 2;
    uint32_t segs = blk->queue_max > 3 ? blk->queue_max - 2u : 1u;

    blk->size_max = (uint32_t)IQ_MIN((size_t)IQ_VIRTIO_BLK_SIZE_MAX, bucket);
    if (half < 5) {
        /* A tiny cap: one segment, and requests may have to wait. */
        segs = 1;
    } else if ((half - 3) / 2 < segs) {
        segs = (uint32_t)((half - 3) / 2);
    }
    blk->seg_max = segs;
}

static int
queues_init(struct iq_virtio_blk *blk)
{
    blk->queues = calloc(blk->num_queues, sizeof(*blk->queues));
    if (blk->queues == NULL) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < blk->num_queues; i++) {
        struct blk_queue *q = &blk->queues[i];

        q->blk = blk;
        q->index = i;
        iq_loop_work_init(&q->irq_work, irq_work_cb, q);
        iq_loop_work_init(&q->more_work, more_work_cb, q);
        q->reqs = calloc(blk->queue_max, sizeof(*q->reqs));
        if (q->reqs == NULL) {
            return -ENOMEM;
        }
        for (unsigned j = blk->queue_max; j-- > 0;) {
            q->reqs[j].q = q;
            q->reqs[j].iov = q->reqs[j].inline_iov;
            q->reqs[j].next_free = q->free;
            q->free = &q->reqs[j];
        }
    }
    return 0;
}

int
iq_virtio_blk_create(const struct iq_virtio_blk_config *cfg,
                     struct iq_virtio_blk **out)
{
    struct iq_virtio_dev_config dc = {0};
    struct iq_virtio_blk *blk;
    unsigned nq;
    uint16_t qmax;
    int ret;

    *out = NULL;
    if (cfg == NULL || cfg->storage == NULL || cfg->env.mc == NULL ||
        cfg->env.loop == NULL) {
        return -EINVAL;
    }
    nq = cfg->num_queues != 0 ? cfg->num_queues : 1;
    qmax = cfg->env.queue_max_size != 0 ? cfg->env.queue_max_size
                                        : BLK_DEFAULT_QUEUE;
    if (nq > IQ_VIRTIO_BLK_MAX_QUEUES || qmax > IQ_VIRTQ_MAX_SIZE ||
        (qmax & (qmax - 1)) != 0 ||
        iq_storage_size(cfg->storage) < BLK_SECTOR) {
        return -EINVAL;
    }
    blk = calloc(1, sizeof(*blk));
    if (blk == NULL) {
        return -ENOMEM;
    }
    snprintf(blk->ctx, sizeof(blk->ctx), "%s",
             cfg->env.name != NULL ? cfg->env.name : "blk");
    blk->sto = cfg->storage;
    blk->loop = cfg->env.loop;
    blk->num_queues = nq;
    blk->queue_max = qmax;
    seg_limits(blk, cfg->env.mc);
    blk->capacity = iq_storage_size(cfg->storage) >> BLK_SECTOR_SHIFT;
    blk->blk_size = iq_storage_block_size(cfg->storage);
    blk->readonly = cfg->readonly || iq_storage_readonly(cfg->storage);
    blk->can_discard = !blk->readonly && iq_storage_can_discard(cfg->storage);
    blk->writeback_default = cfg->writethrough ? 0 : 1;
    blk->writeback = blk->writeback_default;
    if (cfg->serial != NULL) {
        memcpy(blk->serial, cfg->serial,
               IQ_MIN(strlen(cfg->serial), sizeof(blk->serial)));
    }
    blk->offered =
        (1ull << IQ_VIRTIO_BLK_F_SIZE_MAX) | (1ull << IQ_VIRTIO_BLK_F_SEG_MAX) |
        (1ull << IQ_VIRTIO_BLK_F_BLK_SIZE) | (1ull << IQ_VIRTIO_BLK_F_FLUSH) |
        (1ull << IQ_VIRTIO_BLK_F_TOPOLOGY) |
        (1ull << IQ_VIRTIO_BLK_F_CONFIG_WCE);
    if (nq > 1) {
        blk->offered |= 1ull << IQ_VIRTIO_BLK_F_MQ;
    }
    if (blk->readonly) {
        blk->offered |= 1ull << IQ_VIRTIO_BLK_F_RO;
    } else {
        blk->offered |= 1ull << IQ_VIRTIO_BLK_F_WRITE_ZEROES;
    }
    if (blk->can_discard) {
        blk->offered |= 1ull << IQ_VIRTIO_BLK_F_DISCARD;
    }
    ret = queues_init(blk);
    if (ret < 0) {
        blk_free(blk);
        return ret;
    }

    dc.name = blk->ctx;
    dc.device_id = IQ_VIRTIO_ID_BLOCK;
    dc.num_queues = nq;
    dc.queue_max_size = qmax;
    dc.config_size = IQ_VIRTIO_BLK_CONFIG_SIZE;
    dc.grants = cfg->env.grants;
    dc.irq = cfg->env.irq;
    dc.ops = &blk_virtio_ops;
    dc.opaque = blk;
    dc.mc = cfg->env.mc;
    dc.loop = cfg->env.loop;
    dc.irq_ops = cfg->env.irq_ops;
    dc.irq_opaque = cfg->env.irq_opaque;
    dc.arch = cfg->env.arch;
    ret = iq_virtio_dev_create(&dc, &blk->dev);
    if (ret < 0) {
        blk_free(blk);
        return ret;
    }
    *out = blk;
    return 0;
}

void
iq_virtio_blk_destroy(struct iq_virtio_blk *blk)
{
    if (blk == NULL) {
        return;
    }
    /* Resets the device first: our reset op drains the storage. */
    iq_virtio_dev_destroy(blk->dev);
    blk_free(blk);
}

struct iq_virtio_dev *
iq_virtio_blk_dev(struct iq_virtio_blk *blk)
{
    return blk->dev;
}

void
iq_virtio_blk_get_stats(const struct iq_virtio_blk *blk,
                        struct iq_virtio_blk_stats *st)
{
    *st = blk->stats;
}
