/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test harness for the virtio unit tests: flat fake guest RAM with a hole
 * behind a real mapcache, an IRQ recorder, and a tiny virtio-mmio driver
 * that writes split rings into the fake RAM.
 */
#ifndef IQ_TESTS_UNIT_VIRTIO_VTEST_H
#define IQ_TESTS_UNIT_VIRTIO_VTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioreqd/ioreq.h"
#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/virtio.h"
#include "iq-test-ram.h"

/* Guest RAM: [0, VT_RAM_SIZE) minus the hole [VT_HOLE, VT_HOLE + 64 KiB). */
#define VT_RAM_SIZE (4u << 20)
#define VT_HOLE (3u << 20)
#define VT_HOLE_LEN (64u << 10)
#define VT_BUCKET_SHIFT 16u

/* Register offsets (virtio 1.2 section 4.2.2). */
#define VT_MAGIC 0x000
#define VT_VERSION 0x004
#define VT_DEVICE_ID 0x008
#define VT_DEV_FEATURES 0x010
#define VT_DEV_FEATURES_SEL 0x014
#define VT_DRV_FEATURES 0x020
#define VT_DRV_FEATURES_SEL 0x024
#define VT_QUEUE_SEL 0x030
#define VT_QUEUE_NUM_MAX 0x034
#define VT_QUEUE_NUM 0x038
#define VT_QUEUE_READY 0x044
#define VT_QUEUE_NOTIFY 0x050
#define VT_ISR 0x060
#define VT_ISR_ACK 0x064
#define VT_STATUS 0x070
#define VT_DESC_LO 0x080
#define VT_DESC_HI 0x084
#define VT_AVAIL_LO 0x090
#define VT_AVAIL_HI 0x094
#define VT_USED_LO 0x0a0
#define VT_USED_HI 0x0a4
#define VT_CONFIG_GEN 0x0fc

#define VT_F_INDIRECT (1ull << IQ_VIRTIO_F_INDIRECT_DESC)
#define VT_F_EVENT_IDX (1ull << IQ_VIRTIO_F_EVENT_IDX)
#define VT_F_V1 (1ull << IQ_VIRTIO_F_VERSION_1)

#define VT_D_NEXT 1u
#define VT_D_WRITE 2u
#define VT_D_INDIRECT 4u

struct vt_irq {
    unsigned calls; /* set_level calls */
    unsigned edges; /* 0 -> 1 transitions */
    unsigned level;
    uint32_t last_irq;
};

struct vt_env {
    struct iq_test_ram fake; /* RAM with the hole; counts maps, unmaps */
    uint8_t *ram; /* fake.ram */
    struct iq_mc *mc;
    struct iq_loop *loop;
    struct vt_irq irq;
};

/* Guest-side state of one queue. */
struct vt_queue {
    uint16_t size;
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
    uint16_t avail_idx;
    uint16_t last_used;
};

struct vt_drv {
    struct vt_env *env;
    struct iq_virtio_dev *dev;
    uint64_t base; /* ring area for this driver's queues */
    struct vt_queue q[4];
};

extern const struct iq_irq_ops vt_irq_ops;

/* cap_bytes 0: 1 MiB. */
void vt_env_init(struct vt_env *e, size_t cap_bytes);
void vt_env_fini(struct vt_env *e);
/* Pins currently held in the mapcache. */
uint64_t vt_pins(const struct vt_env *e);

void vt_w16(struct vt_env *e, uint64_t gpa, uint16_t v);
void vt_w32(struct vt_env *e, uint64_t gpa, uint32_t v);
void vt_w64(struct vt_env *e, uint64_t gpa, uint64_t v);
uint16_t vt_r16(struct vt_env *e, uint64_t gpa);
uint32_t vt_r32(struct vt_env *e, uint64_t gpa);

void vt_drv_init(struct vt_drv *d, struct vt_env *e, struct iq_virtio_dev *dev,
                 uint64_t base);
uint32_t vt_reg_r(struct vt_drv *d, uint64_t off);
void vt_reg_w(struct vt_drv *d, uint64_t off, uint32_t v);
/* reset, ACK, DRIVER, features, FEATURES_OK; returns the status read back. */
uint32_t vt_negotiate(struct vt_drv *d, uint64_t features);
/* Configure queue qi with rings at the driver's default addresses. */
void vt_queue_setup(struct vt_drv *d, unsigned qi, uint16_t size);
/* Program explicit ring addresses and size; then QueueReady = 1. */
void vt_queue_setup_at(struct vt_drv *d, unsigned qi, uint16_t size,
                       uint64_t desc, uint64_t avail, uint64_t used);
void vt_driver_ok(struct vt_drv *d);
/* Full probe: negotiate, set up `nq` queues of `size`, DRIVER_OK. */
void vt_probe(struct vt_drv *d, uint64_t features, unsigned nq, uint16_t size);

void vt_desc(struct vt_drv *d, unsigned qi, uint16_t i, uint64_t addr,
             uint32_t len, uint16_t flags, uint16_t next);
/* Write a raw descriptor into a table at `gpa` (indirect tables). */
void vt_desc_at(struct vt_env *e, uint64_t gpa, uint64_t addr, uint32_t len,
                uint16_t flags, uint16_t next);
/* Publish `head` in the avail ring (ring entry, then idx). */
void vt_avail(struct vt_drv *d, unsigned qi, uint16_t head);
void vt_kick(struct vt_drv *d, unsigned qi);
uint16_t vt_used_idx(struct vt_drv *d, unsigned qi);
/* Used element `n` (ring position n mod size). */
void vt_used_elem(struct vt_drv *d, unsigned qi, uint16_t n, uint32_t *id,
                  uint32_t *len);
uint64_t vt_used_gpa(const struct vt_drv *d, unsigned qi);

#endif /* IQ_TESTS_UNIT_VIRTIO_VTEST_H */
