/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Virtio device object: feature negotiation, the device status machine,
 * reset, DEVICE_NEEDS_RESET and interrupts (virtio 1.2 sections 2.1, 2.2,
 * 3.1 and 4.2.3.4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio.h"
#include "virtio-internal.h"

/* "IOQD" as a little-endian 32-bit VendorID. */
#define VIO_VENDOR_DEFAULT 0x44514f49u

/*
 * Feature bits a device may offer itself: the device-specific range 0..23.
 * Transport bits (24..41) are decided here, so a device cannot offer
 * something the engine does not implement (packed rings, in-order, ...).
 */
#define VIO_DEVICE_FEATURE_MASK ((1ull << 24) - 1)

static void
irq_set(struct iq_virtio_dev *dev, unsigned level)
{
    int ret;

    if (dev->irq_ops == NULL || dev->irq_ops->set_level == NULL) {
        return;
    }
    ret = dev->irq_ops->set_level(dev->irq_opaque, dev->irq, level);
    if (ret < 0) {
        iq_log_guest(&dev->rl, dev->ctx, "irq %u level %u failed: %d", dev->irq,
                     level, ret);
    }
}

void
iq_virtio_raise(struct iq_virtio_dev *dev, uint32_t bits)
{
    dev->isr |= bits;
    if (dev->arch == IQ_ARCH_ARM) {
        /* libxl describes virtio-mmio SPIs as edge-rising: one edge each. */
        irq_set(dev, 1);
        irq_set(dev, 0);
        return;
    }
    /* x86 ISA IRQ: a level held while InterruptStatus is non-zero. */
    if (dev->isr != 0 && !dev->irq_line) {
        dev->irq_line = true;
        irq_set(dev, 1);
    }
}

void
iq_virtio_ack(struct iq_virtio_dev *dev, uint32_t bits)
{
    dev->isr &= ~bits;
    if (dev->arch == IQ_ARCH_X86 && dev->isr == 0 && dev->irq_line) {
        dev->irq_line = false;
        irq_set(dev, 0);
    }
}

bool
iq_virtio_running(const struct iq_virtio_dev *dev)
{
    return (dev->status & IQ_VIRTIO_S_DRIVER_OK) != 0 && !dev->needs_reset;
}

void
iq_virtio_set_needs_reset(struct iq_virtio_dev *dev, const char *why)
{
    iq_log_guest(&dev->rl, dev->ctx, "needs reset: %s", why);
    if (dev->needs_reset || dev->resetting) {
        return;
    }
    /* Section 2.1.2: set the bit and send a configuration change notice. */
    dev->needs_reset = true;
    dev->status |= IQ_VIRTIO_S_NEEDS_RESET;
    dev->config_gen++;
    iq_virtio_raise(dev, VIO_ISR_CONFIG);
}

void
iq_virtio_set_isr_always(struct iq_virtio_dev *dev, uint32_t bits)
{
    dev->isr_always = bits & VIO_ISR_USED;
}

void
iq_virtio_raise_used(struct iq_virtio_dev *dev)
{
    if (iq_virtio_running(dev)) {
        iq_virtio_raise(dev, VIO_ISR_USED);
    }
}

void
iq_virtio_config_changed(struct iq_virtio_dev *dev)
{
    dev->config_gen++;
    if (dev->status & IQ_VIRTIO_S_DRIVER_OK) {
        iq_virtio_raise(dev, VIO_ISR_CONFIG);
    }
}

/*
 * Reset (status write 0, or teardown): the device stops and returns every
 * element it holds, then every piece of transport state is cleared. Nothing
 * here touches guest memory after the device's reset op returns.
 */
void
iq_virtio_reset(struct iq_virtio_dev *dev)
{
    if (dev->loop != NULL) {
        iq_loop_cancel(dev->loop, &dev->reset_work);
    }
    dev->reset_pending = false;
    dev->resetting = true;
    if (dev->ops->reset != NULL) {
        dev->ops->reset(dev->opaque);
    }
    for (unsigned i = 0; i < dev->num_queues; i++) {
        iq_virtq_teardown(&dev->vqs[i]);
        iq_virtq_init(&dev->vqs[i], dev, i);
    }
    dev->resetting = false;
    dev->driver_features = 0;
    dev->dev_features_sel = 0;
    dev->drv_features_sel = 0;
    dev->queue_sel = 0;
    dev->status = 0;
    dev->needs_reset = false;
    iq_virtio_ack(dev, UINT32_MAX);
}

/* Elements the device holds, over every queue. */
static unsigned
dev_inflight(const struct iq_virtio_dev *dev)
{
    unsigned n = 0;

    for (unsigned i = 0; i < dev->num_queues; i++) {
        n += dev->vqs[i].inflight;
    }
    return n;
}

static void
reset_work_cb(void *opaque)
{
    iq_virtio_reset(opaque);
}

void
iq_virtio_elem_released(struct iq_virtio_dev *dev)
{
    /* Deferred: the device's completion path is still on the stack. */
    if (dev->reset_pending && dev_inflight(dev) == 0) {
        iq_loop_defer(dev->loop, &dev->reset_work);
    }
}

bool
iq_virtio_reset_pending(const struct iq_virtio_dev *dev)
{
    return dev->reset_pending;
}

/*
 * The driver wrote Status 0. With elements in flight and a device that can
 * let them finish on their own, the reset completes later (Status keeps
 * its value until then); the loop is never blocked on the device's I/O.
 */
static void
reset_request(struct iq_virtio_dev *dev)
{
    if (dev->reset_pending) {
        return;
    }
    if (dev->ops->reset_async == NULL || dev->loop == NULL ||
        dev_inflight(dev) == 0) {
        iq_virtio_reset(dev);
        return;
    }
    dev->reset_pending = true;
    dev->resetting = true;
    for (unsigned i = 0; i < dev->num_queues; i++) {
        iq_loop_cancel(dev->loop, &dev->vqs[i].notify_work);
        iq_loop_cancel(dev->loop, &dev->vqs[i].busy_work);
        iq_mc_wait_cancel(dev->mc, &dev->vqs[i].mc_wait);
    }
    dev->ops->reset_async(dev->opaque);
    if (dev_inflight(dev) == 0) {
        iq_virtio_reset(dev);
    }
}

static bool
features_acceptable(struct iq_virtio_dev *dev)
{
    uint64_t f = dev->driver_features;

    if ((f & ~dev->host_features) != 0) {
        iq_log_guest(
            &dev->rl, dev->ctx, "driver features 0x%llx not offered (0x%llx)",
            (unsigned long long)f, (unsigned long long)dev->host_features);
        return false;
    }
    /* Legacy is not offered: VERSION_1 must be accepted. */
    if (!(f & (1ull << IQ_VIRTIO_F_VERSION_1))) {
        iq_log_guest(&dev->rl, dev->ctx, "driver did not accept VERSION_1");
        return false;
    }
    return true;
}

static void
driver_ok(struct iq_virtio_dev *dev)
{
    int ret;

    for (unsigned i = 0; i < dev->num_queues; i++) {
        iq_virtq_start(&dev->vqs[i], dev->driver_features);
    }
    ret = dev->ops->start != NULL
              ? dev->ops->start(dev->opaque, dev->driver_features)
              : 0;
    if (ret < 0) {
        iq_virtio_set_needs_reset(dev, "device start failed");
    }
}

/* Status register write (section 2.1; guest-controlled `val`). */
void
iq_virtio_write_status(struct iq_virtio_dev *dev, uint32_t val)
{
    uint32_t old = dev->status;
    uint32_t set;

    val &= 0xff;
    if (dev->reset_pending) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "status 0x%x written while a reset is in progress: "
                     "ignored",
                     val);
        return;
    }
    if (val == 0) {
        reset_request(dev);
        return;
    }
    /* NEEDS_RESET belongs to the device; the driver cannot set or clear it. */
    val &= ~IQ_VIRTIO_S_NEEDS_RESET;
    if ((old & ~IQ_VIRTIO_S_NEEDS_RESET & ~val) != 0) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "status 0x%x clears bits of 0x%x without reset: ignored",
                     val, old);
        return;
    }
    set = val & ~old;
    if ((set & IQ_VIRTIO_S_FEATURES_OK) && !features_acceptable(dev)) {
        /* Section 3.1.1: the driver re-reads and sees FEATURES_OK clear. */
        val &= ~IQ_VIRTIO_S_FEATURES_OK;
        set &= ~IQ_VIRTIO_S_FEATURES_OK;
    }
    if ((set & IQ_VIRTIO_S_DRIVER_OK) && !(val & IQ_VIRTIO_S_FEATURES_OK)) {
        iq_log_guest(&dev->rl, dev->ctx, "DRIVER_OK without FEATURES_OK");
        val &= ~IQ_VIRTIO_S_DRIVER_OK;
        set &= ~IQ_VIRTIO_S_DRIVER_OK;
    }
    dev->status = val | (old & IQ_VIRTIO_S_NEEDS_RESET);
    if ((set & IQ_VIRTIO_S_DRIVER_OK) && !dev->needs_reset) {
        driver_ok(dev);
    }
}

int
iq_virtio_dev_create(const struct iq_virtio_dev_config *cfg,
                     struct iq_virtio_dev **out)
{
    struct iq_virtio_dev *dev;
    uint16_t qmax;

    *out = NULL;
    if (cfg == NULL || cfg->ops == NULL || cfg->mc == NULL ||
        cfg->num_queues == 0 || cfg->num_queues > 64 ||
        cfg->config_size > IQ_VIRTIO_MMIO_SIZE - IQ_VIRTIO_MMIO_CONFIG) {
        return -EINVAL;
    }
    qmax = cfg->queue_max_size;
    if (qmax == 0 || qmax > IQ_VIRTQ_MAX_SIZE || (qmax & (qmax - 1)) != 0) {
        return -EINVAL;
    }
    if (cfg->arch != IQ_ARCH_ARM && cfg->arch != IQ_ARCH_X86) {
        return -EINVAL;
    }
    dev = calloc(1, sizeof(*dev));
    if (dev == NULL) {
        return -ENOMEM;
    }
    dev->vqs = calloc(cfg->num_queues, sizeof(*dev->vqs));
    if (dev->vqs == NULL) {
        free(dev);
        return -ENOMEM;
    }
    snprintf(dev->ctx, sizeof(dev->ctx), "%s",
             cfg->name != NULL ? cfg->name : "virtio");
    dev->ops = cfg->ops;
    dev->opaque = cfg->opaque;
    dev->mc = cfg->mc;
    dev->loop = cfg->loop;
    dev->irq_ops = cfg->irq_ops;
    dev->irq_opaque = cfg->irq_opaque;
    dev->arch = cfg->arch;
    dev->irq = cfg->irq;
    dev->device_id = cfg->device_id;
    dev->vendor_id = cfg->vendor_id != 0 ? cfg->vendor_id : VIO_VENDOR_DEFAULT;
    dev->config_size = cfg->config_size;
    dev->queue_max_size = qmax;
    dev->num_queues = cfg->num_queues;
    dev->host_features = (1ull << IQ_VIRTIO_F_VERSION_1) |
                         (1ull << IQ_VIRTIO_F_INDIRECT_DESC) |
                         (1ull << IQ_VIRTIO_F_EVENT_IDX);
    if (cfg->ops->transport_features != NULL) {
        uint64_t ring = (1ull << IQ_VIRTIO_F_INDIRECT_DESC) |
                        (1ull << IQ_VIRTIO_F_EVENT_IDX);

        dev->host_features &= ~ring;
        dev->host_features |= cfg->ops->transport_features(cfg->opaque) & ring;
    }
    if (cfg->grants) {
        dev->host_features |= 1ull << IQ_VIRTIO_F_ACCESS_PLATFORM;
    }
    if (cfg->ops->features != NULL) {
        dev->host_features |=
            cfg->ops->features(cfg->opaque) & VIO_DEVICE_FEATURE_MASK;
    }
    for (unsigned i = 0; i < dev->num_queues; i++) {
        iq_virtq_init(&dev->vqs[i], dev, i);
    }
    iq_loop_work_init(&dev->reset_work, reset_work_cb, dev);
    *out = dev;
    return 0;
}

void
iq_virtio_dev_destroy(struct iq_virtio_dev *dev)
{
    if (dev == NULL) {
        return;
    }
    if (dev->vqs != NULL) {
        iq_virtio_reset(dev);
    }
    free(dev->vqs);
    free(dev);
}

uint32_t
iq_virtio_status(const struct iq_virtio_dev *dev)
{
    return dev->status;
}

uint64_t
iq_virtio_features(const struct iq_virtio_dev *dev)
{
    return (dev->status & IQ_VIRTIO_S_FEATURES_OK) ? dev->driver_features : 0;
}

uint32_t
iq_virtio_interrupt_status(const struct iq_virtio_dev *dev)
{
    return dev->isr;
}

uint32_t
iq_virtio_config_generation(const struct iq_virtio_dev *dev)
{
    return dev->config_gen;
}

const char *
iq_virtio_name(const struct iq_virtio_dev *dev)
{
    return dev->ctx;
}

struct iq_virtq *
iq_virtio_queue(struct iq_virtio_dev *dev, unsigned index)
{
    if (index >= dev->num_queues) {
        return NULL;
    }
    return &dev->vqs[index];
}
