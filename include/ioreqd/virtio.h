/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Virtio: one transport (virtio-mmio v2) and one split-virtqueue engine for
 * every device (backends/virtio/). Devices (virtio-blk, -rng, -console, the
 * vhost-user bridge) implement struct iq_virtio_device_ops and never touch
 * rings or registers themselves.
 *
 * Threads: everything runs on the loop thread, except that a device may
 * hand an element's iovecs (already pinned) to a worker and complete it
 * later on the loop thread.
 *
 * Guest misbehaviour detected anywhere (bad descriptors, rings outside RAM,
 * bad queue configuration) puts the device into DEVICE_NEEDS_RESET and
 * raises a configuration-change interrupt for that device only
 * (iq_virtio_set_needs_reset); it never affects another device.
 */
#ifndef IQ_INCLUDE_VIRTIO_H
#define IQ_INCLUDE_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "compiler.h"
#include "ioreq.h"
#include "loop.h"
#include "mapcache.h"
#include "types.h"

/* Feature bits handled by the transport/engine (virtio 1.2 section 6). */
#define IQ_VIRTIO_F_INDIRECT_DESC 28
#define IQ_VIRTIO_F_EVENT_IDX 29
#define IQ_VIRTIO_F_VERSION_1 32
#define IQ_VIRTIO_F_ACCESS_PLATFORM 33

/* Device status bits (virtio 1.2 section 2.1). */
#define IQ_VIRTIO_S_ACKNOWLEDGE 1u
#define IQ_VIRTIO_S_DRIVER 2u
#define IQ_VIRTIO_S_DRIVER_OK 4u
#define IQ_VIRTIO_S_FEATURES_OK 8u
#define IQ_VIRTIO_S_NEEDS_RESET 64u
#define IQ_VIRTIO_S_FAILED 128u

/* Virtio device ids. */
#define IQ_VIRTIO_ID_NET 1
#define IQ_VIRTIO_ID_BLOCK 2
#define IQ_VIRTIO_ID_CONSOLE 3
#define IQ_VIRTIO_ID_RNG 4
#define IQ_VIRTIO_ID_FS 26

/* virtio-mmio window of one device (libxl: 0x200 per device). */
#define IQ_VIRTIO_MMIO_SIZE 0x200u
#define IQ_VIRTIO_MMIO_CONFIG 0x100u

/* Largest queue we accept (spec maximum for split rings is 32768). */
#define IQ_VIRTQ_MAX_SIZE 1024u
/* Most iovecs one element may carry (descriptors split at bucket edges). */
#define IQ_VIRTQ_MAX_IOV 1024u

struct iq_virtio_dev;
struct iq_virtq;

/*
 * One popped request. The engine owns the arrays; the device owns the
 * element from pop to push. iov[0 .. out_num) are driver-to-device
 * (readable) buffers, iov[out_num .. out_num + in_num) device-to-driver
 * (writable) ones; all are pinned until push/discard.
 */
struct iq_virtq_elem {
    uint16_t head; /* descriptor index of the chain head */
    unsigned out_num;
    unsigned in_num;
    uint64_t out_len; /* total readable bytes */
    uint64_t in_len; /* total writable bytes */
    struct iovec *iov;
    void *priv; /* device's per-request state */
};

/*
 * Device ops. `opaque` is the device's own object.
 *  - features: device feature bits offered (the engine adds VERSION_1,
 *    INDIRECT_DESC, EVENT_IDX and, for grant devices, ACCESS_PLATFORM).
 *    Only the device-specific bits 0..23 are taken from it: transport bits
 *    (packed ring, in-order, ...) are the engine's and are not offered.
 *  - config_read/config_write: device config space; offset+len already
 *    bounds-checked against config_size. Guest-controlled values in writes.
 *  - start: the driver set DRIVER_OK with `features` negotiated. 0 or
 *    -errno (the device is then marked NEEDS_RESET).
 *  - notify: the driver kicked queue `vq` (index iq_virtq_index(vq)).
 *  - reset: stop: cancel or wait for every element in flight and return
 *    them with iq_virtq_discard(); after reset returns the device must not
 *    touch guest memory.
 *  - reset_async (optional; added for guest-triggered resets): the driver
 *    wrote Status 0. Stop popping and arrange that every element still in
 *    flight is given back with iq_virtq_discard() (or iq_virtq_push(),
 *    which then publishes nothing) when its I/O ends, without writing
 *    guest memory; do not wait. When the last element is back the engine
 *    calls `reset` (nothing left in flight). If the driver touches any
 *    register other than InterruptStatus/InterruptACK before that, the
 *    engine calls `reset` at once (it waits for the I/O): Linux reads
 *    Status right after writing 0 and expects 0, so the loop blocks only
 *    when the guest insists on using a device it has just reset. Without
 *    reset_async, and at destroy, `reset` runs synchronously.
 *  - queue_ready (optional, used by the vhost-user bridge): a queue was
 *    enabled with the given size and ring addresses.
 *  - transport_features (optional, for a device whose rings are walked by
 *    someone else: the vhost-user bridge in zero-copy mode): when set, the
 *    engine offers INDIRECT_DESC and EVENT_IDX only if they are among the
 *    returned bits (other bits are ignored), instead of always.
 */
struct iq_virtio_device_ops {
    uint64_t (*features)(void *opaque);
    void (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
    void (*config_write)(void *opaque, uint32_t offset, const void *buf,
                         uint32_t len);
    int (*start)(void *opaque, uint64_t features);
    void (*notify)(void *opaque, struct iq_virtq *vq);
    void (*reset)(void *opaque);
    void (*queue_ready)(void *opaque, unsigned index, uint16_t size, gpa_t desc,
                        gpa_t avail, gpa_t used);
    uint64_t (*transport_features)(void *opaque);
    void (*reset_async)(void *opaque);
};

struct iq_virtio_dev_config {
    const char *name; /* for log context, e.g. "blk0" */
    uint32_t device_id;
    uint32_t vendor_id; /* 0: "IOQD" */
    unsigned num_queues; /* 1..64 */
    uint16_t queue_max_size; /* power of two, <= IQ_VIRTQ_MAX_SIZE */
    uint32_t config_size; /* <= 0x100 */
    bool grants; /* offer ACCESS_PLATFORM */
    uint32_t irq; /* Arm SPI / x86 ISA IRQ */
    const struct iq_virtio_device_ops *ops;
    void *opaque;
    struct iq_mc *mc;
    struct iq_loop *loop;
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    enum iq_arch arch; /* Arm: edge SPI (assert then deassert) */
};

/*
 * Create the device and its virtio-mmio register file. Returns 0 or -errno.
 * The caller maps the register file with iq_virtio_region_ops() at its base
 * address (IQ_VIRTIO_MMIO_SIZE bytes).
 */
IQ_MUST_CHECK int iq_virtio_dev_create(const struct iq_virtio_dev_config *cfg,
                                       struct iq_virtio_dev **out);
/* Resets the device (device ops reset) and frees it. Accepts NULL. */
void iq_virtio_dev_destroy(struct iq_virtio_dev *dev);

/* Region ops + opaque for the MMIO window (offset 0 = MagicValue). */
const struct iq_region_ops *iq_virtio_region_ops(void);

/* Device-visible state, for tests and the demo. */
uint32_t iq_virtio_status(const struct iq_virtio_dev *dev);
uint64_t iq_virtio_features(const struct iq_virtio_dev *dev);
struct iq_virtq *iq_virtio_queue(struct iq_virtio_dev *dev, unsigned index);
/* InterruptStatus (bit 0 used buffer, bit 1 config change). */
uint32_t iq_virtio_interrupt_status(const struct iq_virtio_dev *dev);
/* ConfigGeneration as the driver reads it. */
uint32_t iq_virtio_config_generation(const struct iq_virtio_dev *dev);
/* True while a reset the driver asked for waits for elements in flight. */
bool iq_virtio_reset_pending(const struct iq_virtio_dev *dev);
/* The log context name given at creation. */
const char *iq_virtio_name(const struct iq_virtio_dev *dev);

/*
 * The guest broke the protocol: log (rate-limited) `why`, set NEEDS_RESET,
 * bump ConfigGeneration, raise a config-change interrupt, and stop serving
 * the device's queues until the driver resets it.
 */
void iq_virtio_set_needs_reset(struct iq_virtio_dev *dev, const char *why);
/* The device's config space changed (bump generation + config interrupt). */
void iq_virtio_config_changed(struct iq_virtio_dev *dev);
/*
 * Raise a used-buffer interrupt for the device (InterruptStatus bit 0), for
 * a device whose used rings are written by someone else (the vhost-user
 * bridge in zero-copy mode, on its daemon's call eventfd). Ignored unless
 * the device is running (DRIVER_OK, no NEEDS_RESET).
 */
void iq_virtio_raise_used(struct iq_virtio_dev *dev);
/*
 * InterruptStatus reads also show `bits` (only bit 0, used buffer, is
 * accepted) while the device is running, until set to 0 again. For used
 * interrupts raised outside ioreqd (a kernel irqfd), which ioreqd cannot
 * record: the driver must still see the reason in InterruptStatus.
 */
void iq_virtio_set_isr_always(struct iq_virtio_dev *dev, uint32_t bits);

unsigned iq_virtq_index(const struct iq_virtq *vq);
struct iq_virtio_dev *iq_virtq_dev(struct iq_virtq *vq);
/* The validated queue size, 0 while the queue is not ready. */
uint16_t iq_virtq_size(const struct iq_virtq *vq);
/* True when the queue is enabled and the device is running (DRIVER_OK and
 * not NEEDS_RESET): iq_virtq_pop may return elements. */
bool iq_virtq_ready(const struct iq_virtq *vq);

/*
 * Take the next available chain: copy its descriptors out of guest memory,
 * validate them (loops, lengths, chain longer than the queue, nested or
 * misaligned indirect tables, readable after writable, addresses that are
 * not guest RAM), pin its buffers and fill *elem.
 * Returns 1 with *elem set, 0 when the ring is empty, -EBUSY when the
 * mapcache or the element pool is exhausted (retry after completions: the
 * engine calls notify again, from deferred loop work, when an element of
 * this queue is pushed), or -EPROTO after it has put the device into
 * NEEDS_RESET (and on every call until the driver resets the device).
 * Returns 0 as well while the queue is not ready or DRIVER_OK is not set.
 * At most `size` elements are in flight per queue (preallocated pool).
 */
IQ_MUST_CHECK int iq_virtq_pop(struct iq_virtq *vq,
                               struct iq_virtq_elem **elem);

/*
 * Complete `elem` with `written` bytes written into its in-buffers: release
 * its pins, publish it in the used ring. The interrupt is decided (with
 * EVENT_IDX suppression) and raised by iq_virtq_flush(), or at once if
 * `flush` is true. `written` is clamped to elem->in_len. After NEEDS_RESET
 * (or during reset) only the pins are released: nothing is published.
 * If the mapcache is too busy for the used-ring write, the completion is
 * queued and published by the next push or flush.
 */
void iq_virtq_push(struct iq_virtq *vq, struct iq_virtq_elem *elem,
                   uint32_t written, bool flush);
/* Raise the queue's interrupt if used entries were published and the
 * driver wants one. */
void iq_virtq_flush(struct iq_virtq *vq);
/* Give an element back without publishing it (reset / teardown). */
void iq_virtq_discard(struct iq_virtq *vq, struct iq_virtq_elem *elem);

/*
 * Copy helpers over an element's iovecs (byte cursors across entries).
 * iq_iov_to_buf copies up to `len` bytes starting at byte `off` of the
 * readable part; iq_iov_from_buf writes into the writable part. Both return
 * the number of bytes copied.
 */
size_t iq_virtq_elem_read(const struct iq_virtq_elem *elem, size_t off,
                          void *buf, size_t len);
size_t iq_virtq_elem_write(struct iq_virtq_elem *elem, size_t off,
                           const void *buf, size_t len);

#endif /* IQ_INCLUDE_VIRTIO_H */
