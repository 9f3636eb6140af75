/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for backends/virtio (register file, status machine, split
 * virtqueue engine) and virtio-rng, over a real mapcache and flat fake RAM.
 * Every hostile case asserts the exact guest-visible result and that a
 * second device on the same mapcache keeps working.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ioreqd/log.h"
#include "ioreqd/virtio-devices.h"
#include "ioreqd/virtio.h"
#include "vtest.h"

#define RING_A 0x010000u /* rings of the device under test */
#define RING_B 0x100000u /* rings of the bystander device */
#define DATA 0x200000u /* data buffers */
#define TABLE 0x080000u /* indirect tables */
#define IRQ_A 33u
#define IRQ_B 34u
#define FEAT (VT_F_V1 | VT_F_INDIRECT)
#define QSIZE 8u

static struct iq_virtio_rng *
mk_rng(struct vt_env *e, struct vt_irq *irq, uint32_t irqno, enum iq_arch arch)
{
    struct iq_virtio_rng_config cfg = {
        .env =
            {
                .name = "rng",
                .irq = irqno,
                .mc = e->mc,
                .loop = e->loop,
                .irq_ops = &vt_irq_ops,
                .irq_opaque = irq,
                .arch = arch,
            },
    };
    struct iq_virtio_rng *rng = NULL;

    assert_int_equal(iq_virtio_rng_create(&cfg, &rng), 0);
    return rng;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* One rng request of `len` bytes at `addr` through descriptor `head`. */
static void
rng_request(struct vt_drv *d, uint16_t head, uint64_t addr, uint32_t len)
{
    vt_desc(d, 0, head, addr, len, VT_D_WRITE, 0);
    vt_avail(d, 0, head);
    vt_kick(d, 0);
}

/* ---- registers and negotiation ---------------------------------------- */

static void
test_registers(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_rng *rng;
    const struct iq_region_ops *ops = iq_virtio_region_ops();

    (void)state;
    vt_env_init(&e, 0);
    rng = mk_rng(&e, &e.irq, IRQ_A, IQ_ARCH_ARM);
    vt_drv_init(&d, &e, iq_virtio_rng_dev(rng), RING_A);

    assert_int_equal(vt_reg_r(&d, VT_MAGIC), 0x74726976);
    assert_int_equal(vt_reg_r(&d, VT_VERSION), 2);
    assert_int_equal(vt_reg_r(&d, VT_DEVICE_ID), IQ_VIRTIO_ID_RNG);
    assert_int_equal(vt_reg_r(&d, 0x00c), 0x44514f49);
    vt_reg_w(&d, VT_DEV_FEATURES_SEL, 0);
    assert_int_equal(vt_reg_r(&d, VT_DEV_FEATURES), (1u << 28) | (1u << 29));
    vt_reg_w(&d, VT_DEV_FEATURES_SEL, 1);
    assert_int_equal(vt_reg_r(&d, VT_DEV_FEATURES), 1);
    vt_reg_w(&d, VT_DEV_FEATURES_SEL, 2);
    assert_int_equal(vt_reg_r(&d, VT_DEV_FEATURES), 0);
    vt_reg_w(&d, VT_QUEUE_SEL, 0);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_NUM_MAX), 256);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_READY), 0);
    /* Non-4-byte and misaligned accesses to 32-bit registers. */
    assert_int_equal(ops->read(d.dev, VT_MAGIC, 2), 0);
    assert_int_equal(ops->read(d.dev, VT_MAGIC, 1), 0);
    assert_int_equal(ops->read(d.dev, VT_MAGIC + 1, 4), 0);
    assert_int_equal(ops->read(d.dev, VT_MAGIC, 8), 0);
    ops->write(d.dev, VT_STATUS, 1, 2);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 0);
    /* rng has no config space: every width reads 0. */
    assert_int_equal(ops->read(d.dev, 0x100, 1), 0);
    assert_int_equal(ops->read(d.dev, 0x100, 8), 0);
    assert_int_equal(ops->read(d.dev, 0x1f8, 8), 0);
    /* No shared memory regions. */
    assert_int_equal(vt_reg_r(&d, 0x0b0), 0xffffffffu);
    assert_int_equal(vt_reg_r(&d, VT_CONFIG_GEN), 0);

    /* The probe sequence, step by step. */
    vt_reg_w(&d, VT_STATUS, 0);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 0);
    vt_reg_w(&d, VT_STATUS, IQ_VIRTIO_S_ACKNOWLEDGE);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 1);
    vt_reg_w(&d, VT_STATUS, 3);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 3);
    assert_int_equal(vt_negotiate(&d, FEAT | VT_F_EVENT_IDX), 11);
    assert_int_equal(iq_virtio_features(d.dev), FEAT | VT_F_EVENT_IDX);
    vt_queue_setup(&d, 0, QSIZE);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_READY), 1);
    /* Queue registers are read-only while the queue is ready. */
    vt_reg_w(&d, VT_QUEUE_NUM, 4);
    vt_reg_w(&d, VT_DESC_LO, 0x1230);
    vt_driver_ok(&d);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 15);
    assert_int_equal(iq_virtq_size(iq_virtio_queue(d.dev, 0)), QSIZE);
    /* After DRIVER_OK queue configuration is ignored too. */
    vt_reg_w(&d, VT_QUEUE_READY, 0);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_READY), 1);
    /* Clearing a status bit without reset is ignored. */
    vt_reg_w(&d, VT_STATUS, 3);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 15);
    /* The device works with the original configuration. */
    rng_request(&d, 0, DATA, 32);
    assert_int_equal(vt_used_idx(&d, 0), 1);
    /* Reset clears everything. */
    vt_reg_w(&d, VT_STATUS, 0);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 0);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_READY), 0);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 0);
    assert_int_equal(iq_virtio_features(d.dev), 0);
    assert_int_equal(vt_pins(&e), 0);

    iq_virtio_rng_destroy(rng);
    vt_env_fini(&e);
}

static void
test_feature_reject(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_rng *rng;

    (void)state;
    vt_env_init(&e, 0);
    rng = mk_rng(&e, &e.irq, IRQ_A, IQ_ARCH_ARM);
    vt_drv_init(&d, &e, iq_virtio_rng_dev(rng), RING_A);

    /* A bit that was not offered (rng offers no device bits). */
    assert_int_equal(vt_negotiate(&d, VT_F_V1 | 1), 3);
    /* DRIVER_OK without FEATURES_OK is refused. */
    vt_reg_w(&d, VT_STATUS, 3 | IQ_VIRTIO_S_DRIVER_OK);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 3);
    /* Legacy (no VERSION_1) is not offered. */
    assert_int_equal(vt_negotiate(&d, VT_F_INDIRECT), 3);
    /* Bits past word 1 are not offered either. */
    assert_int_equal(vt_negotiate(&d, VT_F_V1 | (1ull << 40)), 3);
    /* Subset including VERSION_1 is accepted. */
    assert_int_equal(vt_negotiate(&d, VT_F_V1), 11);
    /* Features cannot change after FEATURES_OK. */
    vt_reg_w(&d, VT_DRV_FEATURES_SEL, 0);
    vt_reg_w(&d, VT_DRV_FEATURES, 1u << 28);
    assert_int_equal(iq_virtio_features(d.dev), VT_F_V1);
    assert_int_equal(e.irq.calls, 0);

    iq_virtio_rng_destroy(rng);
    vt_env_fini(&e);
}

/* ---- rng data path and interrupts -------------------------------------- */

static void
test_rng_data(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_rng *rng;
    uint32_t id;
    uint32_t len;

    (void)state;
    vt_env_init(&e, 0);
    rng = mk_rng(&e, &e.irq, IRQ_A, IQ_ARCH_ARM);
    vt_drv_init(&d, &e, iq_virtio_rng_dev(rng), RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);

    /* A two-descriptor chain crossing a bucket boundary. */
    vt_desc(&d, 0, 3, DATA + 0x10000 - 16, 16, VT_D_WRITE | VT_D_NEXT, 5);
    vt_desc(&d, 0, 5, DATA + 0x10000, 48, VT_D_WRITE, 0);
    vt_avail(&d, 0, 3);
    vt_kick(&d, 0);
    assert_int_equal(vt_used_idx(&d, 0), 1);
    vt_used_elem(&d, 0, 0, &id, &len);
    assert_int_equal(id, 3);
    assert_int_equal(len, 64);
    assert_false(all_zero(e.ram + DATA + 0x10000 - 16, 64));
    assert_true(all_zero(e.ram + DATA + 0x10000 + 48, 64));
    /* Arm: one edge (assert then deassert) on the device's SPI. */
    assert_int_equal(e.irq.edges, 1);
    assert_int_equal(e.irq.calls, 2);
    assert_int_equal(e.irq.level, 0);
    assert_int_equal(e.irq.last_irq, IRQ_A);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 1);
    vt_reg_w(&d, VT_ISR_ACK, 1);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 0);

    /* At most 64 KiB per element. */
    rng_request(&d, 0, DATA, 100u << 10);
    vt_used_elem(&d, 0, 1, &id, &len);
    assert_int_equal(len, 64u << 10);
    /* A readable-only element gets 0 bytes. */
    vt_desc(&d, 0, 1, DATA, 64, 0, 0);
    vt_avail(&d, 0, 1);
    vt_kick(&d, 0);
    vt_used_elem(&d, 0, 2, &id, &len);
    assert_int_equal(id, 1);
    assert_int_equal(len, 0);

    /* Indirect: a table of two writable descriptors. */
    vt_desc_at(&e, TABLE, DATA + 0x1000, 8, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc_at(&e, TABLE + 16, DATA + 0x2000, 8, VT_D_WRITE, 0);
    vt_desc(&d, 0, 2, TABLE, 32, VT_D_INDIRECT, 0);
    vt_avail(&d, 0, 2);
    vt_kick(&d, 0);
    assert_int_equal(vt_used_idx(&d, 0), 4);
    vt_used_elem(&d, 0, 3, &id, &len);
    assert_int_equal(id, 2);
    assert_int_equal(len, 16);
    assert_int_equal(e.irq.edges, 4);
    assert_int_equal(vt_pins(&e), 0);

    iq_virtio_rng_destroy(rng);
    vt_env_fini(&e);
}

static void
test_event_idx(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_rng *rng;
    uint64_t used_event;
    uint64_t avail_event;

    (void)state;
    vt_env_init(&e, 0);
    rng = mk_rng(&e, &e.irq, IRQ_A, IQ_ARCH_ARM);
    vt_drv_init(&d, &e, iq_virtio_rng_dev(rng), RING_A);
    vt_probe(&d, FEAT | VT_F_EVENT_IDX, 1, QSIZE);
    used_event = d.q[0].avail + 4 + 2 * QSIZE;
    avail_event = d.q[0].used + 4 + 8 * QSIZE;

    /* First completion always signals (nothing signalled yet). */
    vt_w16(&e, used_event, 0);
    rng_request(&d, 0, DATA, 16);
    assert_int_equal(e.irq.edges, 1);
    assert_int_equal(vt_r16(&e, avail_event), 1);
    /* Driver wants an interrupt only once used idx passes 2. */
    vt_w16(&e, used_event, 2);
    rng_request(&d, 1, DATA, 16);
    assert_int_equal(vt_used_idx(&d, 0), 2);
    assert_int_equal(e.irq.edges, 1);
    rng_request(&d, 2, DATA, 16);
    assert_int_equal(vt_used_idx(&d, 0), 3);
    assert_int_equal(e.irq.edges, 2);
    assert_int_equal(vt_r16(&e, avail_event), 3);
    /* NO_INTERRUPT is ignored when EVENT_IDX is negotiated. */
    vt_w16(&e, d.q[0].avail, 1);
    vt_w16(&e, used_event, 3);
    rng_request(&d, 3, DATA, 16);
    assert_int_equal(e.irq.edges, 3);
    /* An event index far behind suppresses. */
    vt_w16(&e, used_event, 0);
    rng_request(&d, 4, DATA, 16);
    rng_request(&d, 5, DATA, 16);
    assert_int_equal(vt_used_idx(&d, 0), 6);
    assert_int_equal(e.irq.edges, 3);

    iq_virtio_rng_destroy(rng);
    vt_env_fini(&e);
}

static void
test_no_interrupt(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_rng *rng;

    (void)state;
    vt_env_init(&e, 0);
    rng = mk_rng(&e, &e.irq, IRQ_A, IQ_ARCH_ARM);
    vt_drv_init(&d, &e, iq_virtio_rng_dev(rng), RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);

    vt_w16(&e, d.q[0].avail, 1); /* VRING_AVAIL_F_NO_INTERRUPT */
    rng_request(&d, 0, DATA, 16);
    rng_request(&d, 1, DATA, 16);
    assert_int_equal(vt_used_idx(&d, 0), 2);
    assert_int_equal(e.irq.calls, 0);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 0);
    vt_w16(&e, d.q[0].avail, 0);
    rng_request(&d, 2, DATA, 16);
    assert_int_equal(e.irq.edges, 1);

    iq_virtio_rng_destroy(rng);
    vt_env_fini(&e);
}

static void
test_x86_level(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct iq_virtio_rng *rng;

    (void)state;
    vt_env_init(&e, 0);
    rng = mk_rng(&e, &e.irq, 5, IQ_ARCH_X86);
    vt_drv_init(&d, &e, iq_virtio_rng_dev(rng), RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);

    rng_request(&d, 0, DATA, 16);
    assert_int_equal(e.irq.level, 1);
    assert_int_equal(e.irq.calls, 1);
    assert_int_equal(e.irq.last_irq, 5);
    /* Still pending: the line stays up, no new call. */
    rng_request(&d, 1, DATA, 16);
    assert_int_equal(e.irq.calls, 1);
    vt_reg_w(&d, VT_ISR_ACK, 1);
    assert_int_equal(e.irq.level, 0);
    assert_int_equal(e.irq.calls, 2);
    /* Acking nothing changes nothing. */
    vt_reg_w(&d, VT_ISR_ACK, 1);
    assert_int_equal(e.irq.calls, 2);
    rng_request(&d, 2, DATA, 16);
    assert_int_equal(e.irq.level, 1);
    assert_int_equal(e.irq.edges, 2);
    /* Reset lowers the line. */
    vt_reg_w(&d, VT_STATUS, 0);
    assert_int_equal(e.irq.level, 0);

    iq_virtio_rng_destroy(rng);
    vt_env_fini(&e);
}

/* ---- a device that holds elements (reset, back-pressure) --------------- */

struct holdev {
    struct iq_virtio_dev *dev;
    struct iq_virtq_elem *held[16];
    unsigned nheld;
    unsigned notifies;
    unsigned resets;
    unsigned discarded;
    int last_pop;
};

static void
hold_notify(void *opaque, struct iq_virtq *vq)
{
    struct holdev *h = opaque;
    struct iq_virtq_elem *el;

    h->notifies++;
    while (h->nheld < IQ_ARRAY_SIZE(h->held)) {
        h->last_pop = iq_virtq_pop(vq, &el);
        if (h->last_pop != 1) {
            break;
        }
        h->held[h->nheld++] = el;
    }
}

static void
hold_reset(void *opaque)
{
    struct holdev *h = opaque;
    struct iq_virtq *vq = iq_virtio_queue(h->dev, 0);

    h->resets++;
    for (unsigned i = 0; i < h->nheld; i++) {
        iq_virtq_discard(vq, h->held[i]);
        h->discarded++;
    }
    h->nheld = 0;
}

static const struct iq_virtio_device_ops hold_ops = {
    .notify = hold_notify,
    .reset = hold_reset,
};

static void
mk_hold(struct vt_env *e, struct holdev *h)
{
    struct iq_virtio_dev_config cfg = {
        .name = "hold",
        .device_id = 0x4242,
        .num_queues = 1,
        .queue_max_size = 16,
        .irq = IRQ_A,
        .ops = &hold_ops,
        .opaque = h,
        .mc = e->mc,
        .loop = e->loop,
        .irq_ops = &vt_irq_ops,
        .irq_opaque = &e->irq,
        .arch = IQ_ARCH_ARM,
    };

    memset(h, 0, sizeof(*h));
    assert_int_equal(iq_virtio_dev_create(&cfg, &h->dev), 0);
}

static void
hold_push(struct holdev *h, unsigned i, uint32_t written)
{
    iq_virtq_push(iq_virtio_queue(h->dev, 0), h->held[i], written, true);
    h->held[i] = h->held[--h->nheld];
}

static void
test_elem_layout(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct holdev h;
    struct iq_virtq_elem *el;
    uint8_t buf[64];

    (void)state;
    vt_env_init(&e, 0);
    mk_hold(&e, &h);
    vt_drv_init(&d, &e, h.dev, RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);

    /* Readable 10 bytes across a bucket edge, then 20 writable bytes. */
    memcpy(e.ram + DATA + 0x10000 - 4, "0123456789", 10);
    vt_desc(&d, 0, 0, DATA + 0x10000 - 4, 10, VT_D_NEXT, 1);
    vt_desc(&d, 0, 1, DATA + 0x8000, 0, VT_D_NEXT, 2); /* empty */
    vt_desc(&d, 0, 2, DATA + 0x9000, 20, VT_D_WRITE, 0);
    vt_avail(&d, 0, 0);
    vt_kick(&d, 0);
    assert_int_equal(h.nheld, 1);
    el = h.held[0];
    assert_int_equal(el->head, 0);
    assert_int_equal(el->out_num, 2);
    assert_int_equal(el->in_num, 1);
    assert_int_equal(el->out_len, 10);
    assert_int_equal(el->in_len, 20);
    assert_int_equal(iq_virtq_elem_read(el, 2, buf, sizeof(buf)), 8);
    assert_memory_equal(buf, "23456789", 8);
    assert_int_equal(iq_virtq_elem_write(el, 18, "abcd", 4), 2);
    assert_memory_equal(e.ram + DATA + 0x9000 + 18, "ab", 2);
    assert_int_equal(vt_pins(&e), 3);
    /* Nothing visible until push. */
    assert_int_equal(vt_used_idx(&d, 0), 0);
    hold_push(&h, 0, 1000); /* clamped to in_len */
    assert_int_equal(vt_pins(&e), 0);
    assert_int_equal(vt_used_idx(&d, 0), 1);
    assert_int_equal(vt_r32(&e, d.q[0].used + 8), 20);

    iq_virtio_dev_destroy(h.dev);
    vt_env_fini(&e);
}

static void
test_reset_mid_request(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct holdev h;

    (void)state;
    vt_env_init(&e, 0);
    mk_hold(&e, &h);
    vt_drv_init(&d, &e, h.dev, RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);

    vt_desc(&d, 0, 0, DATA, 64, VT_D_WRITE, 0);
    vt_desc(&d, 0, 1, DATA + 0x10000, 64, VT_D_WRITE, 0);
    vt_avail(&d, 0, 0);
    vt_avail(&d, 0, 1);
    vt_kick(&d, 0);
    assert_int_equal(h.nheld, 2);
    assert_int_equal(vt_pins(&e), 2);

    /* The driver resets with both requests in flight. */
    memset(e.ram + d.q[0].used, 0xee, 64);
    h.resets = 0;
    vt_reg_w(&d, VT_STATUS, 0);
    assert_int_equal(h.resets, 1);
    assert_int_equal(h.discarded, 2);
    assert_int_equal(vt_pins(&e), 0);
    assert_int_equal(vt_reg_r(&d, VT_STATUS), 0);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_READY), 0);
    assert_int_equal(vt_reg_r(&d, VT_QUEUE_NUM_MAX), 16);
    /* No guest memory written after reset. */
    for (unsigned i = 0; i < 64; i++) {
        assert_int_equal(e.ram[d.q[0].used + i], 0xee);
    }
    /* A kick after reset is ignored. */
    vt_kick(&d, 0);
    assert_int_equal(h.notifies, 1);

    /* Re-probe: the device serves requests again. */
    vt_probe(&d, FEAT, 1, QSIZE);
    vt_desc(&d, 0, 0, DATA, 64, VT_D_WRITE, 0);
    vt_avail(&d, 0, 0);
    vt_kick(&d, 0);
    assert_int_equal(h.nheld, 1);
    hold_push(&h, 0, 7);
    assert_int_equal(vt_used_idx(&d, 0), 1);
    assert_int_equal(vt_r32(&e, d.q[0].used + 8), 7);

    iq_virtio_dev_destroy(h.dev);
    assert_int_equal(vt_pins(&e), 0);
    vt_env_fini(&e);
}

static void
test_backpressure(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct holdev h;

    (void)state;
    /* Two buckets: the rings' bucket and one more. */
    vt_env_init(&e, 2u << VT_BUCKET_SHIFT);
    mk_hold(&e, &h);
    vt_drv_init(&d, &e, h.dev, RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);

    /* Buffer 0 shares the rings' bucket; 1 and 2 need a bucket each. */
    vt_desc(&d, 0, 0, RING_A + 0x8000, 64, VT_D_WRITE, 0);
    vt_desc(&d, 0, 1, DATA, 64, VT_D_WRITE, 0);
    vt_desc(&d, 0, 2, DATA + 0x10000, 64, VT_D_WRITE, 0);
    vt_avail(&d, 0, 0);
    vt_avail(&d, 0, 1);
    vt_avail(&d, 0, 2);
    vt_kick(&d, 0);
    /* The third buffer needs a third bucket: back-pressure. */
    assert_int_equal(h.nheld, 2);
    assert_int_equal(h.last_pop, -EBUSY);
    assert_int_equal(vt_pins(&e), 2);
    assert_int_equal(iq_virtio_status(h.dev) & IQ_VIRTIO_S_NEEDS_RESET, 0);

    /* Completing the first element re-notifies the device (deferred). */
    hold_push(&h, 0, 1);
    assert_int_equal(vt_used_idx(&d, 0), 1);
    assert_int_equal(h.notifies, 1);
    assert_true(iq_loop_run_once(e.loop, 0) >= 1);
    assert_int_equal(h.notifies, 2);
    assert_int_equal(h.nheld, 2);
    assert_int_equal(h.held[0]->head, 1);
    assert_int_equal(h.held[1]->head, 2);
    hold_push(&h, 0, 2);
    {
        struct iq_virtq_elem *again = h.held[0];
        struct iq_virtq *vq = iq_virtio_queue(h.dev, 0);

        hold_push(&h, 0, 3);
        /* A device bug (the same element twice) is ignored, not fatal. */
        iq_virtq_push(vq, again, 3, true);
        iq_virtq_discard(vq, again);
    }
    assert_int_equal(vt_used_idx(&d, 0), 3);
    assert_int_equal(vt_pins(&e), 0);
    assert_int_equal(iq_virtio_status(h.dev), 15);

    iq_virtio_dev_destroy(h.dev);
    vt_env_fini(&e);
}

/*
 * Back-pressure across devices: device A holds every bucket the cap allows,
 * so device B's pop fails with -EBUSY. B has nothing in flight, so no
 * completion of its own will ever retry it: when A releases its pins, the
 * mapcache wake-up must re-notify B (deferred) without a new kick.
 */
static void
test_backpressure_other_device(void **state)
{
    struct vt_env e;
    struct vt_drv da;
    struct vt_drv db;
    struct holdev a;
    struct holdev b;

    (void)state;
    vt_env_init(&e, 3u << VT_BUCKET_SHIFT);
    mk_hold(&e, &a);
    mk_hold(&e, &b);
    vt_drv_init(&da, &e, a.dev, RING_A);
    vt_drv_init(&db, &e, b.dev, RING_B);
    vt_probe(&da, FEAT, 1, QSIZE);
    vt_probe(&db, FEAT, 1, QSIZE);

    /* A: one element over three buckets, all pinned while held. */
    vt_desc(&da, 0, 0, DATA, 64, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc(&da, 0, 1, DATA + 0x10000, 64, VT_D_WRITE | VT_D_NEXT, 2);
    vt_desc(&da, 0, 2, DATA + 0x20000, 64, VT_D_WRITE, 0);
    vt_avail(&da, 0, 0);
    vt_kick(&da, 0);
    assert_int_equal(a.nheld, 1);
    assert_int_equal(vt_pins(&e), 3);

    /* B cannot even read its ring now. */
    vt_desc(&db, 0, 0, DATA + 0x30000, 64, VT_D_WRITE, 0);
    vt_avail(&db, 0, 0);
    vt_kick(&db, 0);
    assert_int_equal(b.notifies, 1);
    assert_int_equal(b.nheld, 0);
    assert_int_equal(b.last_pop, -EBUSY);

    /* A completes: B is retried from deferred work and gets its element. */
    hold_push(&a, 0, 1);
    assert_int_equal(vt_used_idx(&da, 0), 1);
    assert_int_equal(b.notifies, 1);
    assert_true(iq_loop_run_once(e.loop, 0) >= 1);
    assert_int_equal(b.notifies, 2);
    assert_int_equal(b.nheld, 1);
    hold_push(&b, 0, 5);
    assert_int_equal(vt_used_idx(&db, 0), 1);
    assert_int_equal(vt_pins(&e), 0);

    iq_virtio_dev_destroy(b.dev);
    iq_virtio_dev_destroy(a.dev);
    vt_env_fini(&e);
}

/*
 * An element that needs more buckets than the whole cap, while nothing else
 * holds a pin: retrying can never succeed and no release will ever wake the
 * queue, so it must not hang silently with -EBUSY: the device goes to
 * NEEDS_RESET (guest-visible, logged) and gives everything back.
 */
static void
test_element_larger_than_cap(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct holdev h;

    (void)state;
    vt_env_init(&e, 2u << VT_BUCKET_SHIFT);
    mk_hold(&e, &h);
    vt_drv_init(&d, &e, h.dev, RING_A);
    vt_probe(&d, FEAT, 1, QSIZE);
    vt_desc(&d, 0, 0, DATA, 64, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc(&d, 0, 1, DATA + 0x10000, 64, VT_D_WRITE | VT_D_NEXT, 2);
    vt_desc(&d, 0, 2, DATA + 0x20000, 64, VT_D_WRITE, 0);
    vt_avail(&d, 0, 0);
    vt_kick(&d, 0);
    assert_int_equal(h.nheld, 0);
    assert_int_equal(h.last_pop, -EPROTO);
    assert_int_equal(iq_virtio_status(h.dev) & IQ_VIRTIO_S_NEEDS_RESET,
                     IQ_VIRTIO_S_NEEDS_RESET);
    assert_int_equal(vt_pins(&e), 0);

    /* After a reset, an element that fits works. */
    vt_reg_w(&d, VT_STATUS, 0);
    vt_probe(&d, FEAT, 1, QSIZE);
    vt_desc(&d, 0, 0, DATA, 64, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc(&d, 0, 1, DATA + 0x100, 64, VT_D_WRITE, 0);
    vt_avail(&d, 0, 0);
    vt_kick(&d, 0);
    assert_int_equal(h.nheld, 1);
    hold_push(&h, 0, 3);
    assert_int_equal(vt_used_idx(&d, 0), 1);
    assert_int_equal(vt_pins(&e), 0);

    iq_virtio_dev_destroy(h.dev);
    vt_env_fini(&e);
}

static void
test_used_ring_backpressure(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct holdev h;
    uint32_t id;
    uint32_t len;

    (void)state;
    vt_env_init(&e, 2u << VT_BUCKET_SHIFT);
    mk_hold(&e, &h);
    vt_drv_init(&d, &e, h.dev, RING_A);
    assert_int_equal(vt_negotiate(&d, FEAT), 11);
    /* The used ring lives in a bucket of its own. */
    vt_queue_setup_at(&d, 0, QSIZE, RING_A, RING_A + 0x4000, 0x40000);
    vt_driver_ok(&d);

    /* Elements 0 and 1 share a bucket; element 2 needs the last one. */
    vt_desc(&d, 0, 0, DATA, 64, VT_D_WRITE, 0);
    vt_desc(&d, 0, 1, DATA + 0x100, 64, VT_D_WRITE, 0);
    vt_desc(&d, 0, 2, DATA + 0x10000, 64, VT_D_WRITE, 0);
    for (uint16_t i = 0; i < 3; i++) {
        vt_avail(&d, 0, i);
    }
    vt_kick(&d, 0);
    assert_int_equal(h.nheld, 3);
    assert_int_equal(vt_pins(&e), 3);

    /* Every bucket is pinned: the completion waits, nothing is visible. */
    hold_push(&h, 0, 5);
    assert_int_equal(vt_used_idx(&d, 0), 0);
    assert_int_equal(e.irq.calls, 0);
    assert_int_equal(iq_virtio_status(h.dev), 15);
    /* The next push frees the shared bucket: both go out, in order. */
    assert_int_equal(h.held[0]->head, 2);
    assert_int_equal(h.held[1]->head, 1);
    hold_push(&h, 1, 6);
    assert_int_equal(vt_used_idx(&d, 0), 2);
    vt_used_elem(&d, 0, 0, &id, &len);
    assert_int_equal(id, 0);
    assert_int_equal(len, 5);
    vt_used_elem(&d, 0, 1, &id, &len);
    assert_int_equal(id, 1);
    assert_int_equal(len, 6);
    assert_int_equal(e.irq.edges, 1);
    hold_push(&h, 0, 7);
    assert_int_equal(vt_used_idx(&d, 0), 3);
    assert_int_equal(vt_pins(&e), 0);

    iq_virtio_dev_destroy(h.dev);
    vt_env_fini(&e);
}

/* ---- hostile drivers ---------------------------------------------------- */

struct hostile {
    struct vt_env e;
    struct vt_irq irq_b;
    struct iq_virtio_rng *a;
    struct iq_virtio_rng *b;
    struct vt_drv da;
    struct vt_drv db;
    uint32_t gen;
    unsigned edges;
};

static void
hostile_setup(struct hostile *t, uint64_t features, uint16_t size)
{
    memset(t, 0, sizeof(*t));
    vt_env_init(&t->e, 0);
    t->a = mk_rng(&t->e, &t->e.irq, IRQ_A, IQ_ARCH_ARM);
    t->b = mk_rng(&t->e, &t->irq_b, IRQ_B, IQ_ARCH_ARM);
    vt_drv_init(&t->da, &t->e, iq_virtio_rng_dev(t->a), RING_A);
    vt_drv_init(&t->db, &t->e, iq_virtio_rng_dev(t->b), RING_B);
    vt_probe(&t->db, FEAT, 1, QSIZE);
    if (size != 0) {
        vt_probe(&t->da, features, 1, size);
    }
    t->gen = vt_reg_r(&t->da, VT_CONFIG_GEN);
    t->edges = t->e.irq.edges;
}

/* Device B on the same mapcache still serves requests. */
static void
bystander_works(struct hostile *t)
{
    uint16_t before = vt_used_idx(&t->db, 0);
    unsigned edges = t->irq_b.edges;
    uint32_t id;
    uint32_t len;

    memset(t->e.ram + DATA + 0x30000, 0, 32);
    rng_request(&t->db, (uint16_t)(before % QSIZE), DATA + 0x30000, 32);
    assert_int_equal(vt_used_idx(&t->db, 0), (uint16_t)(before + 1));
    vt_used_elem(&t->db, 0, before, &id, &len);
    assert_int_equal(len, 32);
    assert_false(all_zero(t->e.ram + DATA + 0x30000, 32));
    assert_int_equal(t->irq_b.edges, edges + 1);
    assert_int_equal(vt_reg_r(&t->db, VT_STATUS) & IQ_VIRTIO_S_NEEDS_RESET, 0);
}

/* The exact guest-visible NEEDS_RESET state of device A. */
static void
assert_needs_reset(struct hostile *t, uint32_t status_before)
{
    uint16_t used = vt_used_idx(&t->da, 0);

    assert_int_equal(vt_reg_r(&t->da, VT_STATUS),
                     status_before | IQ_VIRTIO_S_NEEDS_RESET);
    assert_int_equal(vt_reg_r(&t->da, VT_ISR) & 2, 2);
    assert_int_equal(vt_reg_r(&t->da, VT_CONFIG_GEN), t->gen + 1);
    assert_int_equal(t->e.irq.edges, t->edges + 1);
    assert_int_equal(t->e.irq.last_irq, IRQ_A);
    assert_int_equal(vt_pins(&t->e), 0);
    /* The queue is no longer served: a kick changes nothing. */
    vt_kick(&t->da, 0);
    assert_int_equal(vt_used_idx(&t->da, 0), used);
    assert_int_equal(t->e.irq.edges, t->edges + 1);
    assert_int_equal(vt_reg_r(&t->da, VT_CONFIG_GEN), t->gen + 1);
    bystander_works(t);
}

/* After reset and a fresh probe, device A works again. */
static void
recovers(struct hostile *t)
{
    uint32_t id;
    uint32_t len;

    vt_probe(&t->da, FEAT, 1, QSIZE);
    rng_request(&t->da, 0, DATA, 16);
    assert_int_equal(vt_used_idx(&t->da, 0), 1);
    vt_used_elem(&t->da, 0, 0, &id, &len);
    assert_int_equal(len, 16);
}

static void
hostile_teardown(struct hostile *t)
{
    iq_virtio_rng_destroy(t->a);
    iq_virtio_rng_destroy(t->b);
    assert_int_equal(vt_pins(&t->e), 0);
    vt_env_fini(&t->e);
}

/* Run one chain on device A and check the NEEDS_RESET outcome. */
static void
hostile_chain(struct hostile *t, uint16_t head)
{
    vt_avail(&t->da, 0, head);
    vt_kick(&t->da, 0);
    assert_int_equal(vt_used_idx(&t->da, 0), 0);
    assert_needs_reset(t, 15);
    recovers(t);
    hostile_teardown(t);
}

static void
test_hostile_desc_loop(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 2, DATA, 16, VT_D_WRITE | VT_D_NEXT, 2);
    hostile_chain(&t, 2);
}

static void
test_hostile_chain_too_long(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    /* Every descriptor once, then back to the head: QSIZE + 1 hops. */
    for (uint16_t i = 0; i < QSIZE; i++) {
        vt_desc(&t.da, 0, i, DATA + 64u * i, 16, VT_D_WRITE | VT_D_NEXT,
                (uint16_t)((i + 1) % QSIZE));
    }
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_loop(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc_at(&t.e, TABLE, DATA, 16, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc_at(&t.e, TABLE + 16, DATA, 16, VT_D_WRITE | VT_D_NEXT, 0);
    vt_desc(&t.da, 0, 0, TABLE, 32, VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_nested_indirect(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc_at(&t.e, TABLE, TABLE + 0x100, 16, VT_D_INDIRECT, 0);
    vt_desc_at(&t.e, TABLE + 0x100, DATA, 16, VT_D_WRITE, 0);
    vt_desc(&t.da, 0, 0, TABLE, 16, VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_misaligned(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc_at(&t.e, TABLE, DATA, 16, VT_D_WRITE, 0);
    vt_desc(&t.da, 0, 0, TABLE, 24, VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_empty(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, TABLE, 0, VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_too_big(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, TABLE, 16 * (IQ_VIRTQ_MAX_SIZE + 1), VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_next(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc_at(&t.e, TABLE, DATA, 16, VT_D_WRITE, 0);
    vt_desc(&t.da, 0, 0, TABLE, 16, VT_D_INDIRECT | VT_D_NEXT, 1);
    vt_desc(&t.da, 0, 1, DATA, 16, VT_D_WRITE, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_not_negotiated(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, VT_F_V1, QSIZE);
    vt_desc_at(&t.e, TABLE, DATA, 16, VT_D_WRITE, 0);
    vt_desc(&t.da, 0, 0, TABLE, 16, VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_outside_ram(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, 64u << 20, 16, VT_D_WRITE, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_in_hole(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    /* Starts in RAM, runs into the hole. */
    vt_desc(&t.da, 0, 0, VT_HOLE - 8, 16, VT_D_WRITE, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_indirect_table_outside(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, VT_HOLE, 32, VT_D_INDIRECT, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_addr_wrap(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, UINT64_MAX - 0x10, 0x100, VT_D_WRITE, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_len_overflow(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, DATA, UINT32_MAX, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc(&t.da, 0, 1, DATA, UINT32_MAX, VT_D_WRITE, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_write_then_read(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, DATA, 16, VT_D_WRITE | VT_D_NEXT, 1);
    vt_desc(&t.da, 0, 1, DATA + 64, 16, VT_D_NEXT, 2);
    vt_desc(&t.da, 0, 2, DATA + 128, 16, VT_D_WRITE, 0);
    hostile_chain(&t, 0);
}

static void
test_hostile_next_out_of_range(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, DATA, 16, VT_D_WRITE | VT_D_NEXT, QSIZE);
    hostile_chain(&t, 0);
}

static void
test_hostile_head_out_of_range(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    hostile_chain(&t, 0x7fff);
}

static void
test_hostile_avail_jump(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    vt_desc(&t.da, 0, 0, DATA, 16, VT_D_WRITE, 0);
    vt_w16(&t.e, t.da.q[0].avail + 2, QSIZE + 1);
    vt_kick(&t.da, 0);
    assert_int_equal(vt_used_idx(&t.da, 0), 0);
    assert_needs_reset(&t, 15);
    recovers(&t);
    hostile_teardown(&t);
}

/* Queue configuration errors: NEEDS_RESET before DRIVER_OK. */
static void
bad_queue_config(uint16_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
    struct hostile t;

    hostile_setup(&t, FEAT, 0);
    assert_int_equal(vt_negotiate(&t.da, FEAT), 11);
    vt_queue_setup_at(&t.da, 0, num, desc, avail, used);
    assert_int_equal(vt_reg_r(&t.da, VT_QUEUE_READY), 0);
    assert_int_equal(vt_reg_r(&t.da, VT_STATUS), 11 | IQ_VIRTIO_S_NEEDS_RESET);
    assert_int_equal(vt_reg_r(&t.da, VT_ISR), 2);
    assert_int_equal(vt_reg_r(&t.da, VT_CONFIG_GEN), t.gen + 1);
    assert_int_equal(t.e.irq.edges, t.edges + 1);
    /* DRIVER_OK does not start a device that needs reset. */
    vt_driver_ok(&t.da);
    assert_int_equal(vt_reg_r(&t.da, VT_STATUS) & IQ_VIRTIO_S_NEEDS_RESET,
                     IQ_VIRTIO_S_NEEDS_RESET);
    assert_int_equal(vt_pins(&t.e), 0);
    bystander_works(&t);
    recovers(&t);
    hostile_teardown(&t);
}

static void
test_hostile_queue_size(void **state)
{
    (void)state;
    bad_queue_config(3, RING_A, RING_A + 0x4000, RING_A + 0x6000);
    bad_queue_config(0, RING_A, RING_A + 0x4000, RING_A + 0x6000);
    bad_queue_config(512, RING_A, RING_A + 0x4000, RING_A + 0x6000);
}

static void
test_hostile_ring_misaligned(void **state)
{
    (void)state;
    bad_queue_config(8, RING_A + 8, RING_A + 0x4000, RING_A + 0x6000);
    bad_queue_config(8, RING_A, RING_A + 0x4001, RING_A + 0x6000);
    bad_queue_config(8, RING_A, RING_A + 0x4000, RING_A + 0x6002);
}

static void
test_hostile_ring_outside(void **state)
{
    (void)state;
    bad_queue_config(8, VT_HOLE, RING_A + 0x4000, RING_A + 0x6000);
    bad_queue_config(8, RING_A, VT_RAM_SIZE - 4, RING_A + 0x6000);
    bad_queue_config(8, RING_A, RING_A + 0x4000, UINT64_MAX - 0x3f);
}

static void
test_hostile_queue_sel(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, 0);
    assert_int_equal(vt_negotiate(&t.da, FEAT), 11);
    vt_reg_w(&t.da, VT_QUEUE_SEL, 1);
    assert_int_equal(vt_reg_r(&t.da, VT_QUEUE_NUM_MAX), 0);
    assert_int_equal(vt_reg_r(&t.da, VT_QUEUE_READY), 0);
    vt_reg_w(&t.da, VT_QUEUE_SEL, 0xffffffffu);
    vt_reg_w(&t.da, VT_QUEUE_NUM, 8);
    vt_reg_w(&t.da, VT_QUEUE_READY, 1);
    assert_int_equal(vt_reg_r(&t.da, VT_QUEUE_READY), 0);
    /* Notify of a queue that does not exist is ignored. */
    vt_reg_w(&t.da, VT_QUEUE_NOTIFY, 7);
    /* No error state: out-of-range selection is simply ignored. */
    assert_int_equal(vt_reg_r(&t.da, VT_STATUS), 11);
    assert_int_equal(vt_reg_r(&t.da, VT_ISR), 0);
    assert_int_equal(vt_reg_r(&t.da, VT_CONFIG_GEN), t.gen);
    assert_int_equal(t.e.irq.calls, 0);
    /* Queue 0 was not touched by those writes. */
    vt_reg_w(&t.da, VT_QUEUE_SEL, 0);
    assert_int_equal(vt_reg_r(&t.da, VT_QUEUE_READY), 0);
    bystander_works(&t);
    recovers(&t);
    hostile_teardown(&t);
}

static void
test_needs_reset_api(void **state)
{
    struct hostile t;

    (void)state;
    hostile_setup(&t, FEAT, QSIZE);
    iq_virtio_set_needs_reset(iq_virtio_rng_dev(t.a), "test");
    assert_needs_reset(&t, 15);
    /* A second report does not bump the generation again. */
    iq_virtio_set_needs_reset(iq_virtio_rng_dev(t.a), "again");
    assert_int_equal(vt_reg_r(&t.da, VT_CONFIG_GEN), t.gen + 1);
    /* The driver cannot clear NEEDS_RESET by writing status. */
    vt_reg_w(&t.da, VT_STATUS, 15);
    assert_int_equal(vt_reg_r(&t.da, VT_STATUS), 15 | 64);
    recovers(&t);
    /* Config change: generation and config interrupt. */
    t.gen = vt_reg_r(&t.da, VT_CONFIG_GEN);
    t.edges = t.e.irq.edges;
    iq_virtio_config_changed(iq_virtio_rng_dev(t.a));
    assert_int_equal(vt_reg_r(&t.da, VT_CONFIG_GEN), t.gen + 1);
    assert_int_equal(vt_reg_r(&t.da, VT_ISR) & 2, 2);
    assert_int_equal(t.e.irq.edges, t.edges + 1);
    hostile_teardown(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers),
        cmocka_unit_test(test_feature_reject),
        cmocka_unit_test(test_rng_data),
        cmocka_unit_test(test_event_idx),
        cmocka_unit_test(test_no_interrupt),
        cmocka_unit_test(test_x86_level),
        cmocka_unit_test(test_elem_layout),
        cmocka_unit_test(test_reset_mid_request),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_backpressure_other_device),
        cmocka_unit_test(test_element_larger_than_cap),
        cmocka_unit_test(test_used_ring_backpressure),
        cmocka_unit_test(test_hostile_desc_loop),
        cmocka_unit_test(test_hostile_chain_too_long),
        cmocka_unit_test(test_hostile_indirect_loop),
        cmocka_unit_test(test_hostile_nested_indirect),
        cmocka_unit_test(test_hostile_indirect_misaligned),
        cmocka_unit_test(test_hostile_indirect_empty),
        cmocka_unit_test(test_hostile_indirect_too_big),
        cmocka_unit_test(test_hostile_indirect_next),
        cmocka_unit_test(test_hostile_indirect_not_negotiated),
        cmocka_unit_test(test_hostile_outside_ram),
        cmocka_unit_test(test_hostile_in_hole),
        cmocka_unit_test(test_hostile_indirect_table_outside),
        cmocka_unit_test(test_hostile_addr_wrap),
        cmocka_unit_test(test_hostile_len_overflow),
        cmocka_unit_test(test_hostile_write_then_read),
        cmocka_unit_test(test_hostile_next_out_of_range),
        cmocka_unit_test(test_hostile_head_out_of_range),
        cmocka_unit_test(test_hostile_avail_jump),
        cmocka_unit_test(test_hostile_queue_size),
        cmocka_unit_test(test_hostile_ring_misaligned),
        cmocka_unit_test(test_hostile_ring_outside),
        cmocka_unit_test(test_hostile_queue_sel),
        cmocka_unit_test(test_needs_reset_api),
    };

    /* Guest-error logging is expected here; keep the output short. */
    iq_log_set_level(getenv("VT_VERBOSE") != NULL ? IQ_LOG_DEBUG : IQ_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
