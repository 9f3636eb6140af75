/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private state shared by core.c (device object, status machine, reset),
 * mmio.c (the virtio-mmio v2 register file) and virtq.c (the split
 * virtqueue engine). Not for use outside backends/virtio/.
 */
#ifndef IQ_BACKENDS_VIRTIO_VIRTIO_INTERNAL_H
#define IQ_BACKENDS_VIRTIO_VIRTIO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ioreqd/log.h"
#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/virtio.h"

/* InterruptStatus bits (virtio 1.2 section 4.2.2). */
#define VIO_ISR_USED 1u
#define VIO_ISR_CONFIG 2u

/* Split-ring layout (virtio 1.2 section 2.7). */
#define VQ_DESC_SIZE 16u
#define VQ_DESC_F_NEXT 1u
#define VQ_DESC_F_WRITE 2u
#define VQ_DESC_F_INDIRECT 4u
#define VQ_AVAIL_F_NO_INTERRUPT 1u
#define VQ_USED_F_NO_NOTIFY 1u

/* Iovecs stored inside each pool element; longer chains borrow a big slot. */
#define VQ_INLINE_IOV 8u
/* Big iovec slots per queue (IQ_VIRTQ_MAX_IOV entries each). */
#define VQ_BIG_SLOTS 4u

/* One element of a queue's preallocated pool. */
struct vq_slot {
    struct iq_virtq_elem elem; /* handed to the device */
    struct iq_mc_ref *refs; /* refs[i] pins elem.iov[i] */
    int big; /* big slot index, or -1 */
    bool in_use;
    uint16_t next_free;
    struct iovec inline_iov[VQ_INLINE_IOV];
    struct iq_mc_ref inline_refs[VQ_INLINE_IOV];
};

/* A completion whose used-ring write had to wait for the mapcache. */
struct vq_done {
    uint16_t head;
    uint32_t len;
};

struct iq_virtq {
    struct iq_virtio_dev *dev;
    unsigned index;

    /* Register values as written by the driver (guest-controlled). */
    uint32_t num;
    gpa_t desc_gpa;
    gpa_t avail_gpa;
    gpa_t used_gpa;
    bool ready;

    /* Validated at QueueReady = 1. */
    uint16_t size;
    uint16_t last_avail; /* next avail ring slot to pop */
    uint16_t used_idx; /* next used ring slot (device's copy) */
    uint16_t used_idx_pub; /* used->idx as last written to the guest */
    uint16_t signalled_used; /* used_idx at the last interrupt decision */
    bool signalled_valid;
    bool event_idx; /* EVENT_IDX negotiated (set at DRIVER_OK) */
    bool indirect; /* INDIRECT_DESC negotiated */
    bool want_notify; /* a pop returned -EBUSY */
    unsigned inflight;

    /* Element pool: `size` slots, allocated at QueueReady = 1. */
    struct vq_slot *slots;
    uint16_t free_head; /* UINT16_MAX: empty */
    struct iovec *big_iov; /* VQ_BIG_SLOTS * IQ_VIRTQ_MAX_IOV */
    struct iq_mc_ref *big_refs;
    bool big_used[VQ_BIG_SLOTS];
    /* Scratch for one pop: iovecs, pins, and a copied indirect table. */
    struct iovec *scratch_iov;
    struct iq_mc_ref *scratch_refs;
    uint8_t *scratch_desc; /* IQ_VIRTQ_MAX_SIZE * 16 bytes */
    /* Completions not yet in the used ring (FIFO, `size` entries). */
    struct vq_done *done;
    uint16_t done_head;
    uint16_t done_count;

    struct iq_loop_work notify_work;
    /* Mapcache back-pressure: woken when pinned room is released. */
    struct iq_mc_waiter mc_wait;
    struct iq_loop_work busy_work; /* publish, flush, then notify again */
};

struct iq_virtio_dev {
    char ctx[48]; /* log prefix */
    struct iq_ratelimit rl;
    const struct iq_virtio_device_ops *ops;
    void *opaque;
    struct iq_mc *mc;
    struct iq_loop *loop;
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    enum iq_arch arch;
    uint32_t irq;
    uint32_t device_id;
    uint32_t vendor_id;
    uint32_t config_size;
    uint16_t queue_max_size;

    uint64_t host_features; /* offered */
    uint64_t driver_features; /* as written by the driver */
    uint32_t dev_features_sel;
    uint32_t drv_features_sel;
    uint32_t queue_sel; /* raw, guest-controlled */
    uint32_t status;
    uint32_t isr;
    uint32_t isr_always; /* iq_virtio_set_isr_always() */
    uint32_t config_gen;
    bool irq_line; /* x86: level currently asserted */
    bool needs_reset;
    bool resetting; /* inside the device's reset op, or reset_pending */
    bool reset_pending; /* Status 0 written, elements still in flight */
    struct iq_loop_work reset_work; /* finishes a pending reset */

    unsigned num_queues;
    struct iq_virtq *vqs;
};

/* core.c */
void iq_virtio_reset(struct iq_virtio_dev *dev);
void iq_virtio_write_status(struct iq_virtio_dev *dev, uint32_t val);
/* Set InterruptStatus `bits` and signal the guest (arch-specific). */
void iq_virtio_raise(struct iq_virtio_dev *dev, uint32_t bits);
void iq_virtio_ack(struct iq_virtio_dev *dev, uint32_t bits);
/* An element was given back: finish a pending reset when none is left. */
void iq_virtio_elem_released(struct iq_virtio_dev *dev);
/* True when the queues may be served (DRIVER_OK, no NEEDS_RESET). */
bool iq_virtio_running(const struct iq_virtio_dev *dev);

/* virtq.c */
void iq_virtq_init(struct iq_virtq *vq, struct iq_virtio_dev *dev,
                   unsigned index);
/* QueueReady = 1: validate the configuration and allocate the pool. */
IQ_MUST_CHECK int iq_virtq_enable(struct iq_virtq *vq);
/* Drop everything (pins, pool); no guest memory access. */
void iq_virtq_teardown(struct iq_virtq *vq);
/* DRIVER_OK: latch negotiated ring features. */
void iq_virtq_start(struct iq_virtq *vq, uint64_t features);

#endif /* IQ_BACKENDS_VIRTIO_VIRTIO_INTERNAL_H */
