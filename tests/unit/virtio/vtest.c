/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test harness: flat fake RAM, IRQ recorder, tiny virtio-mmio driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "vtest.h"

static int
rec_set_level(void *opaque, uint32_t irq, unsigned level)
{
    struct vt_irq *r = opaque;

    r->calls++;
    if (level && !r->level) {
        r->edges++;
    }
    r->level = level;
    r->last_irq = irq;
    return 0;
}

const struct iq_irq_ops vt_irq_ops = {
    .set_level = rec_set_level,
};

void
vt_env_init(struct vt_env *e, size_t cap_bytes)
{
    struct iq_mc_config mcc = {
        .cap_bytes = cap_bytes != 0 ? cap_bytes : (1u << 20),
        .bucket_shift = VT_BUCKET_SHIFT,
        .foreign = &iq_test_ram_ops,
    };

    memset(e, 0, sizeof(*e));
    /* Extra slack so a bucket mapped at the end stays inside the buffer. */
    assert_int_equal(
        iq_test_ram_init(&e->fake, VT_RAM_SIZE, 1u << VT_BUCKET_SHIFT), 0);
    e->fake.hole = VT_HOLE;
    e->fake.hole_len = VT_HOLE_LEN;
    e->ram = e->fake.ram;
    mcc.foreign_opaque = &e->fake;
    assert_int_equal(iq_mc_create(&mcc, &e->mc), 0);
    assert_int_equal(iq_loop_create(&e->loop), 0);
}

void
vt_env_fini(struct vt_env *e)
{
    iq_loop_destroy(e->loop);
    iq_mc_destroy(e->mc);
    iq_test_ram_fini(&e->fake);
    e->ram = NULL;
}

uint64_t
vt_pins(const struct vt_env *e)
{
    struct iq_mc_stats st;

    iq_mc_get_stats(e->mc, &st);
    return st.pins;
}

void
vt_w16(struct vt_env *e, uint64_t gpa, uint16_t v)
{
    memcpy(e->ram + gpa, &v, 2);
}

void
vt_w32(struct vt_env *e, uint64_t gpa, uint32_t v)
{
    memcpy(e->ram + gpa, &v, 4);
}

void
vt_w64(struct vt_env *e, uint64_t gpa, uint64_t v)
{
    memcpy(e->ram + gpa, &v, 8);
}

uint16_t
vt_r16(struct vt_env *e, uint64_t gpa)
{
    uint16_t v;

    memcpy(&v, e->ram + gpa, 2);
    return v;
}

uint32_t
vt_r32(struct vt_env *e, uint64_t gpa)
{
    uint32_t v;

    memcpy(&v, e->ram + gpa, 4);
    return v;
}

void
vt_drv_init(struct vt_drv *d, struct vt_env *e, struct iq_virtio_dev *dev,
            uint64_t base)
{
    memset(d, 0, sizeof(*d));
    d->env = e;
    d->dev = dev;
    d->base = base;
}

uint32_t
vt_reg_r(struct vt_drv *d, uint64_t off)
{
    return (uint32_t)iq_virtio_region_ops()->read(d->dev, off, 4);
}

void
vt_reg_w(struct vt_drv *d, uint64_t off, uint32_t v)
{
    iq_virtio_region_ops()->write(d->dev, off, v, 4);
}

uint32_t
vt_negotiate(struct vt_drv *d, uint64_t features)
{
    vt_reg_w(d, VT_STATUS, 0);
    vt_reg_w(d, VT_STATUS, IQ_VIRTIO_S_ACKNOWLEDGE);
    vt_reg_w(d, VT_STATUS, IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER);
    vt_reg_w(d, VT_DRV_FEATURES_SEL, 0);
    vt_reg_w(d, VT_DRV_FEATURES, (uint32_t)features);
    vt_reg_w(d, VT_DRV_FEATURES_SEL, 1);
    vt_reg_w(d, VT_DRV_FEATURES, (uint32_t)(features >> 32));
    vt_reg_w(d, VT_STATUS,
             IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER |
                 IQ_VIRTIO_S_FEATURES_OK);
    return vt_reg_r(d, VT_STATUS);
}

void
vt_queue_setup_at(struct vt_drv *d, unsigned qi, uint16_t size, uint64_t desc,
                  uint64_t avail, uint64_t used)
{
    struct vt_queue *q = &d->q[qi];

    memset(q, 0, sizeof(*q));
    q->size = size;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    vt_reg_w(d, VT_QUEUE_SEL, qi);
    vt_reg_w(d, VT_QUEUE_NUM, size);
    vt_reg_w(d, VT_DESC_LO, (uint32_t)desc);
    vt_reg_w(d, VT_DESC_HI, (uint32_t)(desc >> 32));
    vt_reg_w(d, VT_AVAIL_LO, (uint32_t)avail);
    vt_reg_w(d, VT_AVAIL_HI, (uint32_t)(avail >> 32));
    vt_reg_w(d, VT_USED_LO, (uint32_t)used);
    vt_reg_w(d, VT_USED_HI, (uint32_t)(used >> 32));
    vt_reg_w(d, VT_QUEUE_READY, 1);
}

void
vt_queue_setup(struct vt_drv *d, unsigned qi, uint16_t size)
{
    uint64_t b = d->base + (uint64_t)qi * 0x10000;

    /* Fresh rings: zero them as a driver would allocate them. */
    memset(d->env->ram + b, 0, 0x10000);
    vt_queue_setup_at(d, qi, size, b, b + 0x4000, b + 0x6000);
}

void
vt_driver_ok(struct vt_drv *d)
{
    vt_reg_w(d, VT_STATUS,
             IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER |
                 IQ_VIRTIO_S_FEATURES_OK | IQ_VIRTIO_S_DRIVER_OK);
}

void
vt_probe(struct vt_drv *d, uint64_t features, unsigned nq, uint16_t size)
{
    uint32_t st = vt_negotiate(d, features);

    assert_true(st & IQ_VIRTIO_S_FEATURES_OK);
    for (unsigned i = 0; i < nq; i++) {
        vt_queue_setup(d, i, size);
        vt_reg_w(d, VT_QUEUE_SEL, i);
        assert_int_equal(vt_reg_r(d, VT_QUEUE_READY), 1);
    }
    vt_driver_ok(d);
    assert_int_equal(vt_reg_r(d, VT_STATUS),
                     IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER |
                         IQ_VIRTIO_S_FEATURES_OK | IQ_VIRTIO_S_DRIVER_OK);
}

void
vt_desc_at(struct vt_env *e, uint64_t gpa, uint64_t addr, uint32_t len,
           uint16_t flags, uint16_t next)
{
    vt_w64(e, gpa, addr);
    vt_w32(e, gpa + 8, len);
    vt_w16(e, gpa + 12, flags);
    vt_w16(e, gpa + 14, next);
}

void
vt_desc(struct vt_drv *d, unsigned qi, uint16_t i, uint64_t addr, uint32_t len,
        uint16_t flags, uint16_t next)
{
    vt_desc_at(d->env, d->q[qi].desc + 16u * i, addr, len, flags, next);
}

void
vt_avail(struct vt_drv *d, unsigned qi, uint16_t head)
{
    struct vt_queue *q = &d->q[qi];

    vt_w16(d->env, q->avail + 4 + 2u * (q->avail_idx % q->size), head);
    q->avail_idx++;
    vt_w16(d->env, q->avail + 2, q->avail_idx);
}

void
vt_kick(struct vt_drv *d, unsigned qi)
{
    vt_reg_w(d, VT_QUEUE_NOTIFY, qi);
}

uint16_t
vt_used_idx(struct vt_drv *d, unsigned qi)
{
    return vt_r16(d->env, d->q[qi].used + 2);
}

void
vt_used_elem(struct vt_drv *d, unsigned qi, uint16_t n, uint32_t *id,
             uint32_t *len)
{
    uint64_t g = d->q[qi].used + 4 + 8u * (n % d->q[qi].size);

    *id = vt_r32(d->env, g);
    *len = vt_r32(d->env, g + 4);
}

uint64_t
vt_used_gpa(const struct vt_drv *d, unsigned qi)
{
    return d->q[qi].used;
}
