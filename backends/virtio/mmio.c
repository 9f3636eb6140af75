/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-mmio version 2 register file (virtio 1.2 section 4.2.2).
 *
 * Every offset, size and value arrives from the guest. Registers below 0x100
 * are 32 bits wide and only aligned 4-byte accesses reach them; anything
 * else is logged (rate-limited) and reads 0 / is ignored. Config space at
 * 0x100 accepts 1, 2, 4 and 8-byte accesses inside config_size.
 */
#include <stdint.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/virtio.h"
#include "virtio-internal.h"

#define VIO_MAGIC 0x74726976u /* "virt" */
#define VIO_VERSION 2u

enum {
    REG_MAGIC = 0x000,
    REG_VERSION = 0x004,
    REG_DEVICE_ID = 0x008,
    REG_VENDOR_ID = 0x00c,
    REG_DEVICE_FEATURES = 0x010,
    REG_DEVICE_FEATURES_SEL = 0x014,
    REG_DRIVER_FEATURES = 0x020,
    REG_DRIVER_FEATURES_SEL = 0x024,
    REG_QUEUE_SEL = 0x030,
    REG_QUEUE_NUM_MAX = 0x034,
    REG_QUEUE_NUM = 0x038,
    REG_QUEUE_READY = 0x044,
    REG_QUEUE_NOTIFY = 0x050,
    REG_INTERRUPT_STATUS = 0x060,
    REG_INTERRUPT_ACK = 0x064,
    REG_STATUS = 0x070,
    REG_QUEUE_DESC_LOW = 0x080,
    REG_QUEUE_DESC_HIGH = 0x084,
    REG_QUEUE_DRIVER_LOW = 0x090,
    REG_QUEUE_DRIVER_HIGH = 0x094,
    REG_QUEUE_DEVICE_LOW = 0x0a0,
    REG_QUEUE_DEVICE_HIGH = 0x0a4,
    REG_SHM_SEL = 0x0ac,
    REG_SHM_LEN_LOW = 0x0b0,
    REG_SHM_LEN_HIGH = 0x0b4,
    REG_SHM_BASE_LOW = 0x0b8,
    REG_SHM_BASE_HIGH = 0x0bc,
    REG_CONFIG_GENERATION = 0x0fc,
};

/* The selected queue, or NULL when QueueSel is out of range. */
static struct iq_virtq *
sel_queue(struct iq_virtio_dev *dev)
{
    if (dev->queue_sel >= dev->num_queues) {
        return NULL;
    }
    return &dev->vqs[dev->queue_sel];
}

static uint32_t
queue_reg_read(struct iq_virtio_dev *dev, uint64_t off)
{
    struct iq_virtq *vq = sel_queue(dev);

    if (vq == NULL) {
        /* QueueNumMax 0 tells the driver the queue does not exist. */
        iq_log_guest(&dev->rl, dev->ctx,
                     "read 0x%x with QueueSel %u "
                     "out of range",
                     (unsigned)off, dev->queue_sel);
        return 0;
    }
    switch (off) {
    case REG_QUEUE_NUM_MAX:
        return dev->queue_max_size;
    case REG_QUEUE_READY:
        return vq->ready ? 1 : 0;
    default:
        return 0;
    }
}

static uint32_t
reg_read(struct iq_virtio_dev *dev, uint64_t off)
{
    switch (off) {
    case REG_MAGIC:
        return VIO_MAGIC;
    case REG_VERSION:
        return VIO_VERSION;
    case REG_DEVICE_ID:
        return dev->device_id;
    case REG_VENDOR_ID:
        return dev->vendor_id;
    case REG_DEVICE_FEATURES:
        if (dev->dev_features_sel == 0) {
            return (uint32_t)dev->host_features;
        }
        if (dev->dev_features_sel == 1) {
            return (uint32_t)(dev->host_features >> 32);
        }
        return 0;
    case REG_QUEUE_NUM_MAX:
    case REG_QUEUE_READY:
        return queue_reg_read(dev, off);
    case REG_INTERRUPT_STATUS:
        return dev->isr | (iq_virtio_running(dev) ? dev->isr_always : 0);
    case REG_STATUS:
        return dev->status;
    case REG_SHM_LEN_LOW:
    case REG_SHM_LEN_HIGH:
    case REG_SHM_BASE_LOW:
    case REG_SHM_BASE_HIGH:
        /* No shared memory regions: length -1 means "absent" (4.2.2). */
        return UINT32_MAX;
    case REG_CONFIG_GENERATION:
        return dev->config_gen;
    default:
        /* Write-only and reserved registers read as 0. */
        return 0;
    }
}

static void
set_half(gpa_t *reg, bool high, uint32_t val)
{
    if (high) {
        *reg = (*reg & 0xffffffffull) | ((uint64_t)val << 32);
    } else {
        *reg = (*reg & ~0xffffffffull) | val;
    }
}

/* QueueReady write (guest-controlled `val`). */
static void
queue_ready_write(struct iq_virtio_dev *dev, struct iq_virtq *vq, uint32_t val)
{
    if (val == 1 && !vq->ready) {
        if (iq_virtq_enable(vq) < 0) {
            iq_virtio_set_needs_reset(dev, "invalid queue configuration");
        }
    } else if (val == 0 && vq->ready) {
        /* Before DRIVER_OK nothing can be in flight on this queue. */
        iq_virtq_teardown(vq);
    } else if (val > 1) {
        iq_log_guest(&dev->rl, dev->ctx, "QueueReady 0x%x ignored", val);
    }
}

static void
queue_reg_write(struct iq_virtio_dev *dev, uint64_t off, uint32_t val)
{
    struct iq_virtq *vq = sel_queue(dev);

    if (vq == NULL) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "write 0x%x with QueueSel %u "
                     "out of range: ignored",
                     (unsigned)off, dev->queue_sel);
        return;
    }
    if (dev->status & IQ_VIRTIO_S_DRIVER_OK) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "queue %u register 0x%x written "
                     "after DRIVER_OK: ignored",
                     vq->index, (unsigned)off);
        return;
    }
    if (off == REG_QUEUE_READY) {
        queue_ready_write(dev, vq, val);
        return;
    }
    if (vq->ready) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "queue %u register 0x%x written "
                     "while ready: ignored",
                     vq->index, (unsigned)off);
        return;
    }
    switch (off) {
    case REG_QUEUE_NUM:
        vq->num = val; /* validated at QueueReady */
        break;
    case REG_QUEUE_DESC_LOW:
    case REG_QUEUE_DESC_HIGH:
        set_half(&vq->desc_gpa, off == REG_QUEUE_DESC_HIGH, val);
        break;
    case REG_QUEUE_DRIVER_LOW:
    case REG_QUEUE_DRIVER_HIGH:
        set_half(&vq->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, val);
        break;
    case REG_QUEUE_DEVICE_LOW:
    case REG_QUEUE_DEVICE_HIGH:
        set_half(&vq->used_gpa, off == REG_QUEUE_DEVICE_HIGH, val);
        break;
    default:
        break;
    }
}

static void
queue_notify(struct iq_virtio_dev *dev, uint32_t val)
{
    struct iq_virtq *vq;

    if (val >= dev->num_queues) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "notify of queue %u: no such "
                     "queue",
                     val);
        return;
    }
    vq = &dev->vqs[val];
    if (!iq_virtio_running(dev) || !vq->ready) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "notify of queue %u ignored "
                     "(status 0x%x, ready %d)",
                     val, dev->status, vq->ready);
        return;
    }
    if (dev->ops->notify != NULL) {
        dev->ops->notify(dev->opaque, vq);
    }
}

static void
features_write(struct iq_virtio_dev *dev, uint32_t val)
{
    uint64_t f = dev->driver_features;

    if (dev->status & IQ_VIRTIO_S_FEATURES_OK) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "DriverFeatures written after FEATURES_OK: ignored");
        return;
    }
    if (dev->drv_features_sel == 0) {
        f = (f & ~0xffffffffull) | val;
    } else if (dev->drv_features_sel == 1) {
        f = (f & 0xffffffffull) | ((uint64_t)val << 32);
    } else if (val != 0) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "DriverFeatures word %u = 0x%x "
                     "ignored",
                     dev->drv_features_sel, val);
        return;
    }
    dev->driver_features = f;
}

static void
reg_write(struct iq_virtio_dev *dev, uint64_t off, uint32_t val)
{
    switch (off) {
    case REG_DEVICE_FEATURES_SEL:
        dev->dev_features_sel = val;
        break;
    case REG_DRIVER_FEATURES:
        features_write(dev, val);
        break;
    case REG_DRIVER_FEATURES_SEL:
        dev->drv_features_sel = val;
        break;
    case REG_QUEUE_SEL:
        dev->queue_sel = val; /* checked at every use */
        break;
    case REG_QUEUE_NUM:
    case REG_QUEUE_READY:
    case REG_QUEUE_DESC_LOW:
    case REG_QUEUE_DESC_HIGH:
    case REG_QUEUE_DRIVER_LOW:
    case REG_QUEUE_DRIVER_HIGH:
    case REG_QUEUE_DEVICE_LOW:
    case REG_QUEUE_DEVICE_HIGH:
        queue_reg_write(dev, off, val);
        break;
    case REG_QUEUE_NOTIFY:
        queue_notify(dev, val);
        break;
    case REG_INTERRUPT_ACK:
        iq_virtio_ack(dev, val);
        break;
    case REG_STATUS:
        iq_virtio_write_status(dev, val);
        break;
    case REG_SHM_SEL:
        break;
    default:
        iq_log_guest(&dev->rl, dev->ctx,
                     "write 0x%x to read-only or "
                     "reserved register 0x%x ignored",
                     val, (unsigned)off);
        break;
    }
}

static bool
config_range_ok(const struct iq_virtio_dev *dev, uint64_t off, unsigned size)
{
    return size <= 8 && off < dev->config_size &&
           size <= dev->config_size - off;
}

/*
 * A reset is still waiting for I/O in flight and the driver touches the
 * device again. Linux's virtio_mmio writes Status 0 and then reads Status
 * to set ACKNOWLEDGE without waiting for 0, so the reset has to end now:
 * wait for the I/O (the loop blocks only when the guest insists on using a
 * device it has just reset) and finish it. Interrupt status and ACK stay
 * usable meanwhile (an x86 level IRQ may need acknowledging).
 */
static void
reset_finish_now(struct iq_virtio_dev *dev)
{
    iq_log_guest(&dev->rl, dev->ctx,
                 "device accessed while its reset waits for I/O: "
                 "finishing the reset now");
    iq_virtio_reset(dev);
}

static uint64_t
mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct iq_virtio_dev *dev = opaque;

    if (dev->reset_pending && offset != REG_INTERRUPT_STATUS) {
        reset_finish_now(dev);
    }

    if (offset >= IQ_VIRTIO_MMIO_CONFIG) {
        uint8_t buf[8] = {0};
        uint64_t v = 0;
        uint64_t off = offset - IQ_VIRTIO_MMIO_CONFIG;

        if (!config_range_ok(dev, off, size)) {
            return 0;
        }
        if (dev->ops->config_read != NULL) {
            dev->ops->config_read(dev->opaque, (uint32_t)off, buf, size);
        }
        /* Config space is little-endian (section 2.5). */
        for (unsigned i = size; i > 0; i--) {
            v = (v << 8) | buf[i - 1];
        }
        return v;
    }
    if (size != 4 || (offset & 3) != 0) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "%u-byte read at 0x%x: only "
                     "aligned 4-byte accesses allowed",
                     size, (unsigned)offset);
        return 0;
    }
    return reg_read(dev, offset);
}

static void
mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct iq_virtio_dev *dev = opaque;

    if (dev->reset_pending && offset != REG_INTERRUPT_ACK) {
        reset_finish_now(dev);
    }
    if (offset >= IQ_VIRTIO_MMIO_CONFIG) {
        uint8_t buf[8];
        uint64_t off = offset - IQ_VIRTIO_MMIO_CONFIG;

        if (!config_range_ok(dev, off, size)) {
            iq_log_guest(&dev->rl, dev->ctx,
                         "config write at 0x%x size %u "
                         "outside config space",
                         (unsigned)off, size);
            return;
        }
        for (unsigned i = 0; i < size; i++) {
            buf[i] = (uint8_t)(value >> (8 * i));
        }
        if (dev->ops->config_write != NULL) {
            dev->ops->config_write(dev->opaque, (uint32_t)off, buf, size);
        }
        return;
    }
    if (size != 4 || (offset & 3) != 0) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "%u-byte write at 0x%x: only "
                     "aligned 4-byte accesses allowed",
                     size, (unsigned)offset);
        return;
    }
    reg_write(dev, offset, (uint32_t)value);
}

static const struct iq_region_ops virtio_mmio_region_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

const struct iq_region_ops *
iq_virtio_region_ops(void)
{
    return &virtio_mmio_region_ops;
}
