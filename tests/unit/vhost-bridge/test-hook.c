/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio engine hooks the vhost-user bridge uses (backends/virtio):
 * transport_features (a device whose rings someone else walks decides
 * whether INDIRECT_DESC / EVENT_IDX are offered), queue_ready, and
 * iq_virtio_raise_used (a used-buffer interrupt without an engine push).
 * Over the virtio unit-test harness (tests/unit/virtio/vtest.c).
 */
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "vtest.h"

struct hook_dev {
    uint64_t transport;
    unsigned ready_calls;
    unsigned last_index;
    uint16_t last_size;
    uint64_t last_desc;
    uint64_t last_avail;
    uint64_t last_used;
    unsigned notifies;
};

static uint64_t
h_features(void *opaque)
{
    (void)opaque;
    /* Device bit 1 plus transport bits the engine must not take from
     * here (RING_PACKED 34, IN_ORDER 35). */
    return (1ull << 1) | (1ull << 34) | (1ull << 35);
}

static uint64_t
h_transport(void *opaque)
{
    struct hook_dev *h = opaque;

    return h->transport;
}

static void
h_queue_ready(void *opaque, unsigned index, uint16_t size, gpa_t desc,
              gpa_t avail, gpa_t used)
{
    struct hook_dev *h = opaque;

    h->ready_calls++;
    h->last_index = index;
    h->last_size = size;
    h->last_desc = desc;
    h->last_avail = avail;
    h->last_used = used;
}

static void
h_notify(void *opaque, struct iq_virtq *vq)
{
    struct hook_dev *h = opaque;

    (void)vq;
    h->notifies++;
}

static const struct iq_virtio_device_ops hook_ops = {
    .features = h_features,
    .notify = h_notify,
    .queue_ready = h_queue_ready,
    .transport_features = h_transport,
};

static const struct iq_virtio_device_ops plain_ops = {
    .features = h_features,
    .notify = h_notify,
};

static struct iq_virtio_dev *
mkdev(struct vt_env *e, const struct iq_virtio_device_ops *ops,
      struct hook_dev *h)
{
    struct iq_virtio_dev_config c;
    struct iq_virtio_dev *dev = NULL;

    memset(&c, 0, sizeof(c));
    c.name = "hook";
    c.device_id = 2;
    c.num_queues = 1;
    c.queue_max_size = 64;
    c.ops = ops;
    c.opaque = h;
    c.mc = e->mc;
    c.loop = e->loop;
    c.irq_ops = &vt_irq_ops;
    c.irq_opaque = &e->irq;
    c.irq = 40;
    c.arch = IQ_ARCH_ARM;
    assert_int_equal(iq_virtio_dev_create(&c, &dev), 0);
    return dev;
}

static uint64_t
offered(struct vt_drv *d)
{
    uint64_t f;

    vt_reg_w(d, VT_DEV_FEATURES_SEL, 0);
    f = vt_reg_r(d, VT_DEV_FEATURES);
    vt_reg_w(d, VT_DEV_FEATURES_SEL, 1);
    return f | ((uint64_t)vt_reg_r(d, VT_DEV_FEATURES) << 32);
}

static void
test_transport_features(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct hook_dev h;
    struct iq_virtio_dev *dev;

    (void)state;
    vt_env_init(&e, 0);

    /* Without the hook: the engine always offers both ring features. */
    memset(&h, 0, sizeof(h));
    dev = mkdev(&e, &plain_ops, &h);
    vt_drv_init(&d, &e, dev, 0x10000);
    assert_int_equal(offered(&d),
                     VT_F_V1 | VT_F_INDIRECT | VT_F_EVENT_IDX | (1ull << 1));
    iq_virtio_dev_destroy(dev);

    /* Hook offering neither. */
    memset(&h, 0, sizeof(h));
    dev = mkdev(&e, &hook_ops, &h);
    vt_drv_init(&d, &e, dev, 0x10000);
    assert_int_equal(offered(&d), VT_F_V1 | (1ull << 1));
    /* The driver cannot negotiate what is not offered. */
    vt_reg_w(&d, VT_STATUS, IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER);
    vt_reg_w(&d, VT_DRV_FEATURES_SEL, 0);
    vt_reg_w(&d, VT_DRV_FEATURES, (uint32_t)VT_F_EVENT_IDX);
    vt_reg_w(&d, VT_DRV_FEATURES_SEL, 1);
    vt_reg_w(&d, VT_DRV_FEATURES, (uint32_t)(VT_F_V1 >> 32));
    vt_reg_w(&d, VT_STATUS,
             IQ_VIRTIO_S_ACKNOWLEDGE | IQ_VIRTIO_S_DRIVER |
                 IQ_VIRTIO_S_FEATURES_OK);
    assert_int_equal(vt_reg_r(&d, VT_STATUS) & IQ_VIRTIO_S_FEATURES_OK, 0);
    iq_virtio_dev_destroy(dev);

    /* Hook offering EVENT_IDX only; other bits it returns are ignored. */
    memset(&h, 0, sizeof(h));
    h.transport = VT_F_EVENT_IDX | (1ull << 34) | (1ull << 5);
    dev = mkdev(&e, &hook_ops, &h);
    vt_drv_init(&d, &e, dev, 0x10000);
    assert_int_equal(offered(&d), VT_F_V1 | VT_F_EVENT_IDX | (1ull << 1));
    iq_virtio_dev_destroy(dev);

    /* Both. */
    memset(&h, 0, sizeof(h));
    h.transport = VT_F_EVENT_IDX | VT_F_INDIRECT;
    dev = mkdev(&e, &hook_ops, &h);
    vt_drv_init(&d, &e, dev, 0x10000);
    assert_int_equal(offered(&d),
                     VT_F_V1 | VT_F_INDIRECT | VT_F_EVENT_IDX | (1ull << 1));
    iq_virtio_dev_destroy(dev);
    vt_env_fini(&e);
}

static void
test_queue_ready_and_raise_used(void **state)
{
    struct vt_env e;
    struct vt_drv d;
    struct hook_dev h;
    struct iq_virtio_dev *dev;
    unsigned edges;

    (void)state;
    vt_env_init(&e, 0);
    memset(&h, 0, sizeof(h));
    h.transport = VT_F_EVENT_IDX;
    dev = mkdev(&e, &hook_ops, &h);
    vt_drv_init(&d, &e, dev, 0x10000);

    /* Not running yet: no interrupt. */
    iq_virtio_raise_used(dev);
    assert_int_equal(e.irq.edges, 0);
    assert_int_equal(iq_virtio_interrupt_status(dev), 0);

    vt_probe(&d, VT_F_V1 | VT_F_EVENT_IDX, 1, 32);
    assert_int_equal(h.ready_calls, 1);
    assert_int_equal(h.last_index, 0);
    assert_int_equal(h.last_size, 32);
    assert_int_equal(h.last_desc, d.q[0].desc);
    assert_int_equal(h.last_avail, d.q[0].avail);
    assert_int_equal(h.last_used, d.q[0].used);

    vt_kick(&d, 0);
    assert_int_equal(h.notifies, 1);

    edges = e.irq.edges;
    iq_virtio_raise_used(dev);
    assert_int_equal(e.irq.edges, edges + 1);
    assert_int_equal(e.irq.last_irq, 40);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 1);
    vt_reg_w(&d, VT_ISR_ACK, 1);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 0);

    /* Interrupts raised outside ioreqd: InterruptStatus always shows the
     * used-buffer bit (and nothing else) until cleared again. */
    iq_virtio_set_isr_always(dev, 3);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 1);
    vt_reg_w(&d, VT_ISR_ACK, 1);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 1);
    iq_virtio_set_isr_always(dev, 0);
    assert_int_equal(vt_reg_r(&d, VT_ISR), 0);
    iq_virtio_set_isr_always(dev, 1);

    /* After NEEDS_RESET: ignored (and the always-bit is not shown). */
    iq_virtio_set_needs_reset(dev, "test");
    edges = e.irq.edges;
    vt_reg_w(&d, VT_ISR_ACK, vt_reg_r(&d, VT_ISR));
    iq_virtio_raise_used(dev);
    assert_int_equal(e.irq.edges, edges);
    assert_int_equal(vt_reg_r(&d, VT_ISR) & 1, 0);
    iq_virtio_dev_destroy(dev);
    vt_env_fini(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_features),
        cmocka_unit_test(test_queue_ready_and_raise_used),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
