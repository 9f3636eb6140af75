/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulated guest: virtio-blk, virtio-rng and virtio-console drivers over
 * the virtio-mmio driver in iq-guest.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iq-guest.h"

/* Per-tag guest area: header, status byte, discard/write-zeroes segment. */
#define BLK_SLOT_LEN 64u
#define BLK_SLOT_HDR 0u
#define BLK_SLOT_STATUS 16u
#define BLK_SLOT_SEG 32u
#define BLK_DEFAULT_BOUNCE (1u << 20)

/* virtio-blk config offsets (virtio 1.2 section 5.2.4). */
#define BLK_CFG_CAPACITY 0u
#define BLK_CFG_SIZE_MAX 8u
#define BLK_CFG_SEG_MAX 12u
#define BLK_CFG_BLK_SIZE 20u
#define BLK_CFG_NUM_QUEUES 34u
#define BLK_CFG_MAX_DISCARD_SECTORS 36u
#define BLK_CFG_MAX_DISCARD_SEG 40u
#define BLK_CFG_MAX_WZ_SECTORS 48u
#define BLK_CFG_MAX_WZ_SEG 52u
#define BLK_CFG_WZ_MAY_UNMAP 56u

struct blk_queue {
    struct iq_vq *vq;
    pthread_mutex_t lock;
    uint16_t *free_tags;
    unsigned nr_free;
    uint64_t slots_gpa;
    uint64_t bounce_gpa;
    size_t bounce_len;
};

struct iq_blk {
    struct iq_vm_dev *dev;
    struct iq_blk_config cfg;
    unsigned nr_queues;
    struct blk_queue *q;
};

struct iq_vm_dev *
iq_blk_dev(struct iq_blk *blk)
{
    return blk->dev;
}

const struct iq_blk_config *
iq_blk_config(const struct iq_blk *blk)
{
    return &blk->cfg;
}

unsigned
iq_blk_nr_queues(const struct iq_blk *blk)
{
    return blk->nr_queues;
}

struct iq_vq *
iq_blk_vq(struct iq_blk *blk, unsigned q)
{
    return q < blk->nr_queues ? blk->q[q].vq : NULL;
}

void
iq_blk_free(struct iq_blk *blk)
{
    if (blk == NULL) {
        return;
    }
    for (unsigned i = 0; blk->q != NULL && i < blk->nr_queues; i++) {
        free(blk->q[i].free_tags);
        pthread_mutex_destroy(&blk->q[i].lock);
    }
    free(blk->q);
    iq_vm_free(blk->dev);
    free(blk);
}

static int
cfg_u32(struct iq_vm_dev *dev, uint32_t off, uint32_t *v)
{
    return iq_vm_config_read(dev, off, v, 4);
}

static int
read_blk_config(struct iq_blk *blk)
{
    struct iq_vm_dev *dev = blk->dev;
    uint64_t f = dev->drv_features;
    int rc = iq_vm_config_read(dev, BLK_CFG_CAPACITY, &blk->cfg.capacity, 8);

    blk->cfg.blk_size = 512;
    blk->cfg.num_queues = 1;
    if (rc == 0 && (f & IQ_BLK_F_SIZE_MAX)) {
        rc = cfg_u32(dev, BLK_CFG_SIZE_MAX, &blk->cfg.size_max);
    }
    if (rc == 0 && (f & IQ_BLK_F_SEG_MAX)) {
        rc = cfg_u32(dev, BLK_CFG_SEG_MAX, &blk->cfg.seg_max);
    }
    if (rc == 0 && (f & IQ_BLK_F_BLK_SIZE)) {
        rc = cfg_u32(dev, BLK_CFG_BLK_SIZE, &blk->cfg.blk_size);
    }
    if (rc == 0 && (f & IQ_BLK_F_MQ)) {
        rc =
            iq_vm_config_read(dev, BLK_CFG_NUM_QUEUES, &blk->cfg.num_queues, 2);
    }
    if (rc == 0 && (f & IQ_BLK_F_DISCARD)) {
        rc = cfg_u32(dev, BLK_CFG_MAX_DISCARD_SECTORS,
                     &blk->cfg.max_discard_sectors);
        if (rc == 0) {
            rc = cfg_u32(dev, BLK_CFG_MAX_DISCARD_SEG,
                         &blk->cfg.max_discard_seg);
        }
    }
    if (rc == 0 && (f & IQ_BLK_F_WRITE_ZEROES)) {
        rc = cfg_u32(dev, BLK_CFG_MAX_WZ_SECTORS,
                     &blk->cfg.max_write_zeroes_sectors);
        if (rc == 0) {
            rc = cfg_u32(dev, BLK_CFG_MAX_WZ_SEG,
                         &blk->cfg.max_write_zeroes_seg);
        }
        if (rc == 0) {
            rc = iq_vm_config_read(dev, BLK_CFG_WZ_MAY_UNMAP,
                                   &blk->cfg.write_zeroes_may_unmap, 1);
        }
    }
    return rc;
}

int
iq_blk_attach(struct iq_vm_dev *dev, uint64_t want, unsigned nr_queues,
              uint16_t qsize, size_t bounce_len, struct iq_blk **out)
{
    struct iq_blk *blk = calloc(1, sizeof(*blk));
    uint32_t st = 0;
    int rc;

    if (blk == NULL) {
        return -ENOMEM;
    }
    blk->dev = dev;
    if (bounce_len == 0) {
        bounce_len = BLK_DEFAULT_BOUNCE;
    }
    rc = iq_vm_negotiate(dev, want);
    if (rc == 0) {
        rc = read_blk_config(blk);
    }
    if (rc < 0) {
        goto fail;
    }
    if (nr_queues == 0) {
        nr_queues = 1;
    }
    if (!(dev->drv_features & IQ_BLK_F_MQ)) {
        nr_queues = 1;
    } else if (nr_queues > blk->cfg.num_queues) {
        nr_queues = blk->cfg.num_queues;
    }
    if (nr_queues == 0 || nr_queues > 16) {
        rc = -EIO;
        goto fail;
    }
    blk->q = calloc(nr_queues, sizeof(*blk->q));
    if (blk->q == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < nr_queues; i++) {
        struct blk_queue *bq = &blk->q[i];

        rc = iq_vm_setup_queue(dev, i, qsize);
        if (rc < 0) {
            goto fail;
        }
        blk->nr_queues = i + 1;
        pthread_mutex_init(&bq->lock, NULL);
        bq->vq = &dev->vqs[i];
        bq->free_tags = calloc(bq->vq->size, sizeof(*bq->free_tags));
        bq->slots_gpa =
            iq_guest_alloc(dev->g, (size_t)bq->vq->size * BLK_SLOT_LEN, 64);
        bq->bounce_gpa = iq_guest_alloc(dev->g, bounce_len, 4096);
        bq->bounce_len = bounce_len;
        if (bq->free_tags == NULL || bq->slots_gpa == 0 ||
            bq->bounce_gpa == 0) {
            rc = -ENOMEM;
            goto fail;
        }
        for (unsigned t = 0; t < bq->vq->size; t++) {
            bq->free_tags[t] = (uint16_t)t;
        }
        bq->nr_free = bq->vq->size;
    }
    rc = iq_vm_get_status(dev, &st);
    if (rc == 0) {
        rc = iq_vm_set_status(dev, st | IQ_VM_S_DRIVER_OK);
    }
    if (rc < 0) {
        goto fail;
    }
    *out = blk;
    return 0;
fail:
    blk->dev = NULL; /* the caller keeps the device on failure */
    iq_blk_free(blk);
    return rc;
}

struct blk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct blk_seg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

int
iq_blk_submit(struct iq_blk *blk, unsigned q, struct iq_blk_req *req,
              bool use_indirect)
{
    struct blk_queue *bq;
    struct iq_vq_buf bufs[3];
    struct blk_hdr hdr;
    unsigned n = 0;
    uint64_t slot;
    unsigned tag;
    int rc;

    if (q >= blk->nr_queues) {
        return -EINVAL;
    }
    bq = &blk->q[q];
    pthread_mutex_lock(&bq->lock);
    if (bq->nr_free == 0) {
        pthread_mutex_unlock(&bq->lock);
        return -ENOSPC;
    }
    tag = bq->free_tags[--bq->nr_free];
    pthread_mutex_unlock(&bq->lock);

    slot = bq->slots_gpa + (uint64_t)tag * BLK_SLOT_LEN;
    hdr.type = req->type;
    hdr.reserved = 0;
    hdr.sector = req->sector;
    memcpy(iq_guest_ptr(blk->dev->g, slot + BLK_SLOT_HDR, sizeof(hdr)), &hdr,
           sizeof(hdr));
    /* A status byte the device must overwrite. */
    *(uint8_t *)iq_guest_ptr(blk->dev->g, slot + BLK_SLOT_STATUS, 1) = 0xee;
    bufs[n++] = (struct iq_vq_buf){slot + BLK_SLOT_HDR, sizeof(hdr), false};
    switch (req->type) {
    case IQ_BLK_T_IN:
    case IQ_BLK_T_GET_ID:
        bufs[n++] = (struct iq_vq_buf){req->data_gpa, req->data_len, true};
        break;
    case IQ_BLK_T_OUT:
        bufs[n++] = (struct iq_vq_buf){req->data_gpa, req->data_len, false};
        break;
    case IQ_BLK_T_DISCARD:
    case IQ_BLK_T_WRITE_ZEROES: {
        struct blk_seg seg = {req->sector, req->nr_sectors, req->seg_flags};

        memcpy(iq_guest_ptr(blk->dev->g, slot + BLK_SLOT_SEG, sizeof(seg)),
               &seg, sizeof(seg));
        bufs[n++] = (struct iq_vq_buf){slot + BLK_SLOT_SEG, sizeof(seg), false};
        break;
    }
    default:
        if (req->data_len != 0) {
            bufs[n++] = (struct iq_vq_buf){req->data_gpa, req->data_len, false};
        }
        break;
    }
    bufs[n++] = (struct iq_vq_buf){slot + BLK_SLOT_STATUS, 1, true};
    req->tag_ = tag;
    req->done = false;
    rc = iq_vq_add(bq->vq, bufs, n, use_indirect, req);
    if (rc < 0) {
        pthread_mutex_lock(&bq->lock);
        bq->free_tags[bq->nr_free++] = (uint16_t)tag;
        pthread_mutex_unlock(&bq->lock);
        return rc;
    }
    return 0;
}

int
iq_blk_kick(struct iq_blk *blk, unsigned q)
{
    if (q >= blk->nr_queues) {
        return -EINVAL;
    }
    return iq_vq_kick(blk->q[q].vq);
}

static int blk_complete(struct iq_blk *blk, struct blk_queue *bq,
                        struct iq_blk_req *req, uint32_t len,
                        struct iq_blk_req **done);

int
iq_blk_wait(struct iq_blk *blk, unsigned q, unsigned timeout_ms,
            struct iq_blk_req **done)
{
    struct iq_blk_req *req = NULL;
    uint32_t len = 0;
    int rc;

    if (q >= blk->nr_queues) {
        return -EINVAL;
    }
    rc = iq_vq_wait_used(blk->q[q].vq, timeout_ms, (void **)&req, &len);
    if (rc < 0) {
        return rc;
    }
    return blk_complete(blk, &blk->q[q], req, len, done);
}

int
iq_blk_poll(struct iq_blk *blk, unsigned q, struct iq_blk_req **done)
{
    struct iq_blk_req *req = NULL;
    uint32_t len = 0;
    int rc;

    if (q >= blk->nr_queues) {
        return -EINVAL;
    }
    rc = iq_vq_get_used(blk->q[q].vq, (void **)&req, &len);
    if (rc <= 0) {
        return rc;
    }
    rc = blk_complete(blk, &blk->q[q], req, len, done);
    return rc < 0 ? rc : 1;
}

static int
blk_complete(struct iq_blk *blk, struct blk_queue *bq, struct iq_blk_req *req,
             uint32_t len, struct iq_blk_req **done)
{
    if (req == NULL) {
        return -EIO;
    }
    req->status = *(uint8_t *)iq_guest_ptr(
        blk->dev->g,
        bq->slots_gpa + (uint64_t)req->tag_ * BLK_SLOT_LEN + BLK_SLOT_STATUS,
        1);
    req->used_len = len;
    req->done = true;
    pthread_mutex_lock(&bq->lock);
    bq->free_tags[bq->nr_free++] = (uint16_t)req->tag_;
    pthread_mutex_unlock(&bq->lock);
    *done = req;
    return 0;
}

static int
blk_sync(struct iq_blk *blk, unsigned q, struct iq_blk_req *req)
{
    struct iq_blk_req *done = NULL;
    int rc = iq_blk_submit(blk, q, req, true);

    if (rc == 0) {
        rc = iq_blk_kick(blk, q);
    }
    if (rc == 0) {
        rc = iq_blk_wait(blk, q, 0, &done);
    }
    if (rc == 0 && done != req) {
        rc = -EIO; /* sync helpers assume one request in flight */
    }
    return rc;
}

int
iq_blk_read(struct iq_blk *blk, unsigned q, uint64_t sector, void *buf,
            size_t len, uint8_t *status)
{
    struct iq_blk_req req = {.type = IQ_BLK_T_IN, .sector = sector};
    int rc;

    if (q >= blk->nr_queues || len > blk->q[q].bounce_len || len > UINT32_MAX) {
        return -EINVAL;
    }
    req.data_gpa = blk->q[q].bounce_gpa;
    req.data_len = (uint32_t)len;
    rc = blk_sync(blk, q, &req);
    if (rc == 0) {
        memcpy(buf, iq_guest_ptr(blk->dev->g, req.data_gpa, len), len);
        *status = req.status;
    }
    return rc;
}

int
iq_blk_write(struct iq_blk *blk, unsigned q, uint64_t sector, const void *buf,
             size_t len, uint8_t *status)
{
    struct iq_blk_req req = {.type = IQ_BLK_T_OUT, .sector = sector};
    int rc;

    if (q >= blk->nr_queues || len > blk->q[q].bounce_len || len > UINT32_MAX) {
        return -EINVAL;
    }
    req.data_gpa = blk->q[q].bounce_gpa;
    req.data_len = (uint32_t)len;
    memcpy(iq_guest_ptr(blk->dev->g, req.data_gpa, len), buf, len);
    rc = blk_sync(blk, q, &req);
    if (rc == 0) {
        *status = req.status;
    }
    return rc;
}

int
iq_blk_flush(struct iq_blk *blk, unsigned q, uint8_t *status)
{
    struct iq_blk_req req = {.type = IQ_BLK_T_FLUSH};
    int rc = blk_sync(blk, q, &req);

    if (rc == 0) {
        *status = req.status;
    }
    return rc;
}

int
iq_blk_discard(struct iq_blk *blk, unsigned q, uint64_t sector,
               uint32_t nr_sectors, uint8_t *status)
{
    struct iq_blk_req req = {
        .type = IQ_BLK_T_DISCARD, .sector = sector, .nr_sectors = nr_sectors};
    int rc = blk_sync(blk, q, &req);

    if (rc == 0) {
        *status = req.status;
    }
    return rc;
}

int
iq_blk_write_zeroes(struct iq_blk *blk, unsigned q, uint64_t sector,
                    uint32_t nr_sectors, bool unmap, uint8_t *status)
{
    struct iq_blk_req req = {.type = IQ_BLK_T_WRITE_ZEROES,
                             .sector = sector,
                             .nr_sectors = nr_sectors,
                             .seg_flags = unmap ? 1u : 0u};
    int rc = blk_sync(blk, q, &req);

    if (rc == 0) {
        *status = req.status;
    }
    return rc;
}

int
iq_blk_get_id(struct iq_blk *blk, unsigned q, char *id, uint8_t *status)
{
    struct iq_blk_req req = {.type = IQ_BLK_T_GET_ID};
    int rc;

    if (q >= blk->nr_queues) {
        return -EINVAL;
    }
    req.data_gpa = blk->q[q].bounce_gpa;
    req.data_len = 20;
    memset(iq_guest_ptr(blk->dev->g, req.data_gpa, 20), 0, 20);
    rc = blk_sync(blk, q, &req);
    if (rc == 0) {
        memcpy(id, iq_guest_ptr(blk->dev->g, req.data_gpa, 20), 20);
        id[20] = '\0';
        *status = req.status;
    }
    return rc;
}

/* ---- rng / console ----------------------------------------------------- */

static int
one_shot(struct iq_vm_dev *dev, unsigned qi, uint64_t gpa, uint32_t len,
         bool write, unsigned timeout_ms, uint32_t *used_len)
{
    struct iq_vq *vq;
    struct iq_vq_buf b = {gpa, len, write};
    void *cookie = NULL;
    int rc;

    if (qi >= dev->nr_queues || dev->vqs[qi].dev == NULL) {
        return -EINVAL;
    }
    vq = &dev->vqs[qi];
    rc = iq_vq_add(vq, &b, 1, false, (void *)(uintptr_t)gpa);
    if (rc >= 0) {
        rc = iq_vq_kick(vq);
    }
    if (rc == 0) {
        rc = iq_vq_wait_used(vq, timeout_ms, &cookie, used_len);
    }
    if (rc == 1 && cookie != (void *)(uintptr_t)gpa) {
        rc = -EIO;
    }
    return rc < 0 ? rc : 0;
}

int
iq_rng_read(struct iq_vm_dev *dev, void *buf, size_t len)
{
    uint32_t got = 0;
    uint64_t gpa;
    int rc;

    if (len == 0 || len > (1u << 20)) {
        return -EINVAL;
    }
    gpa = iq_guest_alloc(dev->g, len, 16);
    if (gpa == 0) {
        return -ENOMEM;
    }
    rc = one_shot(dev, 0, gpa, (uint32_t)len, true, 0, &got);
    if (rc < 0) {
        return rc;
    }
    if (got > len) {
        return -EIO;
    }
    memcpy(buf, iq_guest_ptr(dev->g, gpa, got), got);
    return (int)got;
}

int
iq_con_send(struct iq_vm_dev *dev, const void *buf, size_t len)
{
    uint32_t got = 0;
    uint64_t gpa;

    if (len == 0 || len > (1u << 20)) {
        return -EINVAL;
    }
    gpa = iq_guest_alloc(dev->g, len, 16);
    if (gpa == 0) {
        return -ENOMEM;
    }
    memcpy(iq_guest_ptr(dev->g, gpa, len), buf, len);
    return one_shot(dev, 1, gpa, (uint32_t)len, false, 0, &got);
}

int
iq_con_recv(struct iq_vm_dev *dev, void *buf, size_t len, unsigned timeout_ms)
{
    struct iq_vq *vq;
    struct iq_vq_buf b;
    void *cookie = NULL;
    uint32_t got = 0;
    uint64_t gpa;
    int rc;

    if (len == 0 || len > (1u << 20) || dev->nr_queues < 2) {
        return -EINVAL;
    }
    vq = &dev->vqs[0];
    /* Re-use a buffer left posted by an earlier call that timed out. */
    if (vq->num_free == vq->size) {
        gpa = iq_guest_alloc(dev->g, len, 16);
        if (gpa == 0) {
            return -ENOMEM;
        }
        b = (struct iq_vq_buf){gpa, (uint32_t)len, true};
        rc = iq_vq_add(vq, &b, 1, false, (void *)(uintptr_t)gpa);
        if (rc >= 0) {
            rc = iq_vq_kick(vq);
        }
        if (rc < 0) {
            return rc;
        }
    }
    rc = iq_vq_wait_used(vq, timeout_ms, &cookie, &got);
    if (rc < 0) {
        return rc;
    }
    gpa = (uint64_t)(uintptr_t)cookie;
    if (got > len) {
        return -EIO;
    }
    memcpy(buf, iq_guest_ptr(dev->g, gpa, got), got);
    return (int)got;
}
