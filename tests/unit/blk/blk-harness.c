/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The minimal virtio-blk test driver (see blk-harness.h). */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk-harness.h"
#include "ioreqd/virtio.h"

#define BH_SLACK (1u << 20)
#define BH_RING_BASE 0x1000u /* rings live below BH_BUF_BASE */
#define BH_BUF_BASE 0x100000u

/* Register offsets (virtio 1.2 section 4.2.2). */
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_DRV_LO 0x090
#define R_DRV_HI 0x094
#define R_DEV_LO 0x0a0
#define R_DEV_HI 0x0a4

static int
irq_set_level(void *opaque, uint32_t irq, unsigned level)
{
    struct bh *h = opaque;

    (void)irq;
    if (level) {
        h->irq_edges++;
    }
    return 0;
}

static const struct iq_irq_ops bh_irq_ops = {
    .set_level = irq_set_level,
};

int
bh_init(struct bh *h)
{
    struct iq_mc_config mc = {
        .cap_bytes = 4u << 20,
        .bucket_shift = 20,
        .foreign = &iq_test_ram_ops,
    };
    int ret;

    memset(h, 0, sizeof(*h));
    ret = iq_test_ram_init(&h->fake, BH_RAM_SIZE, BH_SLACK);
    if (ret < 0) {
        return ret;
    }
    h->ram = h->fake.ram;
    mc.foreign_opaque = &h->fake;
    ret = iq_mc_create(&mc, &h->mc);
    if (ret == 0) {
        ret = iq_loop_create(&h->loop);
    }
    if (ret < 0) {
        bh_fini(h);
    }
    h->bump = BH_BUF_BASE;
    h->bump_start = BH_BUF_BASE;
    return ret;
}

void
bh_fini(struct bh *h)
{
    iq_virtio_blk_destroy(h->blk);
    h->blk = NULL;
    h->dev = NULL;
    iq_mc_destroy(h->mc);
    h->mc = NULL;
    iq_loop_destroy(h->loop);
    h->loop = NULL;
    iq_test_ram_fini(&h->fake);
    h->ram = NULL;
}

uint32_t
bh_rd(struct bh *h, uint32_t off)
{
    return (uint32_t)iq_virtio_region_ops()->read(h->dev, off, 4);
}

void
bh_wr(struct bh *h, uint32_t off, uint32_t val)
{
    iq_virtio_region_ops()->write(h->dev, off, val, 4);
}

uint64_t
bh_cfg_rd(struct bh *h, uint32_t off, unsigned size)
{
    return iq_virtio_region_ops()->read(h->dev, IQ_VIRTIO_MMIO_CONFIG + off,
                                        size);
}

void
bh_cfg_wr(struct bh *h, uint32_t off, uint64_t val, unsigned size)
{
    iq_virtio_region_ops()->write(h->dev, IQ_VIRTIO_MMIO_CONFIG + off, val,
                                  size);
}

uint64_t
bh_alloc(struct bh *h, size_t len, size_t align)
{
    uint64_t a = (h->bump + align - 1) & ~(uint64_t)(align - 1);

    if (a + len > BH_RAM_SIZE) {
        return 0;
    }
    h->bump = a + len;
    return a;
}

void
bh_alloc_reset(struct bh *h)
{
    h->bump = h->bump_start;
}

void *
bh_ptr(struct bh *h, uint64_t gpa)
{
    return gpa < BH_RAM_SIZE ? h->ram + gpa : NULL;
}

static void
put16(struct bh *h, uint64_t gpa, uint16_t v)
{
    v = htole16(v);
    memcpy(h->ram + gpa, &v, 2);
}

static uint16_t
get16(struct bh *h, uint64_t gpa)
{
    uint16_t v;

    memcpy(&v, h->ram + gpa, 2);
    return le16toh(v);
}

static int
driver_init(struct bh *h, uint64_t refuse)
{
    uint64_t offered;
    uint64_t want;

    bh_wr(h, R_STATUS, 0);
    bh_wr(h, R_STATUS, IQ_VIRTIO_S_ACKNOWLEDGE);
    bh_wr(h, R_STATUS, IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER);
    bh_wr(h, R_DEV_FEAT_SEL, 0);
    offered = bh_rd(h, R_DEV_FEAT);
    bh_wr(h, R_DEV_FEAT_SEL, 1);
    offered |= (uint64_t)bh_rd(h, R_DEV_FEAT) << 32;
    /* No EVENT_IDX: this driver reads the used ring after every kick. */
    want = offered & ~refuse & ~(1ull << IQ_VIRTIO_F_EVENT_IDX);
    bh_wr(h, R_DRV_FEAT_SEL, 0);
    bh_wr(h, R_DRV_FEAT, (uint32_t)want);
    bh_wr(h, R_DRV_FEAT_SEL, 1);
    bh_wr(h, R_DRV_FEAT, (uint32_t)(want >> 32));
    bh_wr(h, R_STATUS,
          IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER |
              IQ_VIRTIO_S_FEATURES_OK);
    if (!(bh_rd(h, R_STATUS) & IQ_VIRTIO_S_FEATURES_OK)) {
        return -EIO;
    }
    h->features = want;
    for (unsigned i = 0; i < h->nq; i++) {
        struct bh_queue *q = &h->q[i];

        memset(h->ram + q->desc, 0, (size_t)q->size * 16);
        memset(h->ram + q->avail, 0, 6 + 2 * (size_t)q->size);
        memset(h->ram + q->used, 0, 6 + 8 * (size_t)q->size);
        q->avail_idx = 0;
        q->used_seen = 0;
        q->next_desc = 0;
        bh_wr(h, R_QUEUE_SEL, i);
        bh_wr(h, R_QUEUE_NUM, q->size);
        bh_wr(h, R_DESC_LO, (uint32_t)q->desc);
        bh_wr(h, R_DESC_HI, 0);
        bh_wr(h, R_DRV_LO, (uint32_t)q->avail);
        bh_wr(h, R_DRV_HI, 0);
        bh_wr(h, R_DEV_LO, (uint32_t)q->used);
        bh_wr(h, R_DEV_HI, 0);
        bh_wr(h, R_QUEUE_READY, 1);
        if (bh_rd(h, R_QUEUE_READY) != 1) {
            return -EIO;
        }
    }
    bh_wr(h, R_STATUS,
          IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER |
              IQ_VIRTIO_S_FEATURES_OK | IQ_VIRTIO_S_DRIVER_OK);
    if ((bh_rd(h, R_STATUS) & 0xff) != 0xf) {
        return -EIO;
    }
    return 0;
}

int
bh_start(struct bh *h, const struct bh_opts *o)
{
    struct iq_virtio_blk_config c = {0};
    uint16_t qs = o->queue_size != 0 ? o->queue_size : 64;
    uint64_t ring = BH_RING_BASE;
    int ret;

    h->nq = o->num_queues != 0 ? o->num_queues : 1;
    if (h->nq > BH_MAX_QUEUES) {
        return -EINVAL;
    }
    c.env.name = "blk-test";
    c.env.irq = 40;
    c.env.mc = h->mc;
    c.env.loop = h->loop;
    c.env.irq_ops = &bh_irq_ops;
    c.env.irq_opaque = h;
    c.env.arch = IQ_ARCH_ARM;
    c.env.queue_max_size = qs;
    c.storage = o->storage;
    c.readonly = o->readonly;
    c.serial = o->serial;
    c.num_queues = h->nq;
    c.writethrough = o->writethrough;
    ret = iq_virtio_blk_create(&c, &h->blk);
    if (ret < 0) {
        return ret;
    }
    h->dev = iq_virtio_blk_dev(h->blk);
    for (unsigned i = 0; i < h->nq; i++) {
        struct bh_queue *q = &h->q[i];

        q->size = qs;
        q->desc = ring;
        ring += (uint64_t)qs * 16;
        q->avail = ring;
        ring += (6 + 2 * (uint64_t)qs + 15) & ~15ull;
        q->used = ring;
        ring += (6 + 8 * (uint64_t)qs + 15) & ~15ull;
    }
    if (ring > BH_BUF_BASE) {
        return -EINVAL;
    }
    h->refuse = o->refuse;
    return driver_init(h, o->refuse);
}

int
bh_reinit(struct bh *h)
{
    return driver_init(h, h->refuse);
}

int
bh_place(struct bh *h, unsigned qi, const struct bh_buf *bufs, unsigned n)
{
    struct bh_queue *q = &h->q[qi];
    uint16_t head = q->next_desc;

    if (n == 0 || n > q->size) {
        return -ENOSPC;
    }
    for (unsigned i = 0; i < n; i++) {
        uint16_t d = (uint16_t)((head + i) % q->size);
        uint64_t a = q->desc + (uint64_t)d * 16;
        uint64_t addr = htole64(bufs[i].gpa);
        uint32_t len = htole32(bufs[i].len);
        uint16_t flags =
            (uint16_t)((i + 1 < n ? 1 : 0) | (bufs[i].write ? 2 : 0));
        uint16_t next = (uint16_t)((d + 1) % q->size);

        flags = htole16(flags);
        next = htole16(next);
        memcpy(h->ram + a, &addr, 8);
        memcpy(h->ram + a + 8, &len, 4);
        memcpy(h->ram + a + 12, &flags, 2);
        memcpy(h->ram + a + 14, &next, 2);
    }
    q->next_desc = (uint16_t)((head + n) % q->size);
    put16(h, q->avail + 4 + 2 * (uint64_t)(q->avail_idx % q->size), head);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->avail_idx++;
    put16(h, q->avail + 2, q->avail_idx);
    return 0;
}

void
bh_kick(struct bh *h, unsigned qi)
{
    bh_wr(h, R_QUEUE_NOTIFY, qi);
}

int
bh_submit(struct bh *h, unsigned qi, const struct bh_buf *bufs, unsigned n)
{
    int ret = bh_place(h, qi, bufs, n);

    if (ret == 0) {
        bh_kick(h, qi);
    }
    return ret;
}

uint16_t
bh_used_pending(struct bh *h, unsigned qi)
{
    struct bh_queue *q = &h->q[qi];

    return (uint16_t)(get16(h, q->used + 2) - q->used_seen);
}

int
bh_wait(struct bh *h, unsigned qi, unsigned iters, int wait_ms, uint32_t *id,
        uint32_t *len)
{
    struct bh_queue *q = &h->q[qi];
    uint64_t e;
    uint32_t v;

    for (unsigned i = 0; bh_used_pending(h, qi) == 0; i++) {
        if (i >= iters) {
            return -ETIMEDOUT;
        }
        if (iq_loop_run_once(h->loop, wait_ms) < 0) {
            return -EIO;
        }
    }
    e = q->used + 4 + 8 * (uint64_t)(q->used_seen % q->size);
    memcpy(&v, h->ram + e, 4);
    if (id != NULL) {
        *id = le32toh(v);
    }
    memcpy(&v, h->ram + e + 4, 4);
    if (len != NULL) {
        *len = le32toh(v);
    }
    q->used_seen++;
    /* Acknowledge the interrupt like a driver would. */
    bh_wr(h, R_INT_ACK, bh_rd(h, R_INT_STATUS));
    return 0;
}

int
bh_blk(struct bh *h, unsigned qi, uint32_t type, uint64_t sector,
       uint64_t data_gpa, uint32_t data_len, bool data_in, uint32_t *used_len)
{
    uint64_t hdr = bh_alloc(h, 16, 16);
    uint64_t st = bh_alloc(h, 1, 1);
    struct bh_buf b[3];
    unsigned n = 0;
    uint32_t t = htole32(type);
    uint64_t s = htole64(sector);
    int ret;

    if (hdr == 0 || st == 0) {
        return -ENOMEM;
    }
    memcpy(h->ram + hdr, &t, 4);
    memset(h->ram + hdr + 4, 0, 4);
    memcpy(h->ram + hdr + 8, &s, 8);
    h->ram[st] = 0xee;
    b[n++] = (struct bh_buf){hdr, 16, false};
    if (data_len > 0) {
        b[n++] = (struct bh_buf){data_gpa, data_len, data_in};
    }
    b[n++] = (struct bh_buf){st, 1, true};
    ret = bh_submit(h, qi, b, n);
    if (ret == 0) {
        ret = bh_wait(h, qi, 2000, 100, NULL, used_len);
    }
    return ret < 0 ? ret : h->ram[st];
}
