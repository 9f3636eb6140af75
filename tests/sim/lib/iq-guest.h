/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated guest's drivers (library iq-guest), over the fake Xen
 * simulator API (tests/fakexen/iq-sim.h).
 *
 * A virtio-mmio (version 2) driver that follows the order Linux's
 * virtio_mmio and virtio core use, split rings in guest RAM (optionally with
 * EVENT_IDX and INDIRECT_DESC), and on top of it virtio-blk, virtio-rng and
 * virtio-console drivers. Every register access is an iq_sim_mmio_read/write
 * issued from a given vCPU index, so several test threads (one per vCPU)
 * can drive different queues of the same device at once.
 *
 * Guest RAM for rings and buffers comes from a bump allocator over a window
 * of the simulator's RAM (normally RAM0). Nothing is ever freed; create the
 * guest per test.
 *
 * Return values: 0 or a count on success, -errno on failure. -ETIMEDOUT
 * means the device did not answer (no used entry, or the access itself
 * timed out), -EIO a protocol failure seen by the driver (e.g. the device
 * refused FEATURES_OK, or set NEEDS_RESET).
 */
#ifndef IQ_TESTS_SIM_IQ_GUEST_H
#define IQ_TESTS_SIM_IQ_GUEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iq-sim.h"

/* ---- guest RAM allocator ---------------------------------------------------
 */

struct iq_guest;

/* Allocator over [ram_base, ram_base + ram_size), which must be sim RAM. */
int iq_guest_create(struct iq_sim *sim, uint64_t ram_base, uint64_t ram_size,
                    struct iq_guest **out);
void iq_guest_destroy(struct iq_guest *g);
struct iq_sim *iq_guest_sim(struct iq_guest *g);
/* Allocate `len` bytes aligned to `align` (power of two). 0 when full. */
uint64_t iq_guest_alloc(struct iq_guest *g, size_t len, size_t align);
/* Move the bump pointer forward to `gpa` (to place the next allocation,
 * e.g. just below a bucket boundary). -EINVAL if backwards or outside. */
int iq_guest_set_next(struct iq_guest *g, uint64_t gpa);
/* Host pointer to guest RAM (NULL if not RAM). */
void *iq_guest_ptr(struct iq_guest *g, uint64_t gpa, size_t len);

/*
 * Grant DMA, as Linux's grant-dma-ops does it for devices behind a
 * xen,grant-dma (or xen-grant-dma) node. iq_guest_use_grants grants every
 * page of the allocator window to the backend through the fake Xen's grant
 * table: read-write with ref = page index from the window base + 1 (ref 0
 * is reserved), and a second, read-only alias of each page with ref = that
 * + the number of pages. Consecutive pages of one buffer thus get
 * consecutive refs. From then on, a device whose driver negotiated
 * VIRTIO_F_ACCESS_PLATFORM sees only grant addresses: every address the
 * driver writes into its queue registers and descriptors goes through
 * iq_guest_dma (driver-to-device data buffers through the read-only alias).
 * Devices that did not negotiate it keep guest-physical addresses.
 * 0, or -errno from iq_sim_grant.
 */
int iq_guest_use_grants(struct iq_guest *g);
/* True after iq_guest_use_grants. */
bool iq_guest_grants(const struct iq_guest *g);
/*
 * The grant address of `gpa`: (1 << 63) | (ref << 12) | offset in page, with
 * the read-write ref (or the read-only alias with `readonly`). `gpa` itself
 * when grants are off or `gpa` is outside the window.
 */
uint64_t iq_guest_dma(const struct iq_guest *g, uint64_t gpa, bool readonly);
/* The grant ref of the page holding `gpa` (read-write or read-only alias);
 * 0 when grants are off or `gpa` is outside the window. */
uint32_t iq_guest_grant_ref(const struct iq_guest *g, uint64_t gpa,
                            bool readonly);

/* ---- virtio-mmio transport -------------------------------------------------
 */

#define IQ_VM_MAGIC 0x74726976u /* "virt" */

/* Register offsets (virtio 1.2 section 4.2.2). */
enum {
    IQ_VM_MAGIC_VALUE = 0x000,
    IQ_VM_VERSION = 0x004,
    IQ_VM_DEVICE_ID = 0x008,
    IQ_VM_VENDOR_ID = 0x00c,
    IQ_VM_DEVICE_FEATURES = 0x010,
    IQ_VM_DEVICE_FEATURES_SEL = 0x014,
    IQ_VM_DRIVER_FEATURES = 0x020,
    IQ_VM_DRIVER_FEATURES_SEL = 0x024,
    IQ_VM_QUEUE_SEL = 0x030,
    IQ_VM_QUEUE_NUM_MAX = 0x034,
    IQ_VM_QUEUE_NUM = 0x038,
    IQ_VM_QUEUE_READY = 0x044,
    IQ_VM_QUEUE_NOTIFY = 0x050,
    IQ_VM_INTERRUPT_STATUS = 0x060,
    IQ_VM_INTERRUPT_ACK = 0x064,
    IQ_VM_STATUS = 0x070,
    IQ_VM_QUEUE_DESC_LOW = 0x080,
    IQ_VM_QUEUE_DESC_HIGH = 0x084,
    IQ_VM_QUEUE_DRIVER_LOW = 0x090,
    IQ_VM_QUEUE_DRIVER_HIGH = 0x094,
    IQ_VM_QUEUE_DEVICE_LOW = 0x0a0,
    IQ_VM_QUEUE_DEVICE_HIGH = 0x0a4,
    IQ_VM_CONFIG_GENERATION = 0x0fc,
    IQ_VM_CONFIG = 0x100,
};

#define IQ_VM_S_ACKNOWLEDGE 1u
#define IQ_VM_S_DRIVER 2u
#define IQ_VM_S_DRIVER_OK 4u
#define IQ_VM_S_FEATURES_OK 8u
#define IQ_VM_S_NEEDS_RESET 64u
#define IQ_VM_S_FAILED 128u

#define IQ_VM_F_INDIRECT_DESC (1ull << 28)
#define IQ_VM_F_EVENT_IDX (1ull << 29)
#define IQ_VM_F_VERSION_1 (1ull << 32)
#define IQ_VM_F_ACCESS_PLATFORM (1ull << 33)

#define IQ_VM_INT_USED 1u
#define IQ_VM_INT_CONFIG 2u

/* Most descriptors one indirect table holds in this driver. */
#define IQ_VQ_MAX_INDIRECT 64u

struct iq_vm_dev;

/* One buffer of a chain: `write` means device-writable. */
struct iq_vq_buf {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

/* A split virtqueue as the driver sees it. Thread-safe per queue. */
struct iq_vq {
    struct iq_vm_dev *dev;
    unsigned index;
    unsigned vcpu; /* vCPU used for this queue's kicks / acks */
    uint16_t size;
    uint64_t desc_gpa;
    uint64_t avail_gpa;
    uint64_t used_gpa;
    uint64_t indirect_gpa; /* size tables of IQ_VQ_MAX_INDIRECT */
    bool event_idx;
    bool indirect;
    pthread_mutex_t lock;
    uint16_t free_head;
    uint16_t num_free;
    uint16_t avail_idx; /* shadow of avail->idx */
    uint16_t last_used;
    uint16_t kicked_idx; /* avail idx at the last notify decision */
    uint16_t *next; /* host-side free list */
    uint16_t *chain_len; /* descriptors used by each head */
    void **cookie;
    uint64_t kicks; /* QueueNotify writes issued */
    uint64_t irq_seen; /* interrupt edges already consumed */
    bool cb_disabled; /* iq_vq_disable_cb: used_event left alone */
};

struct iq_vm_dev {
    struct iq_guest *g;
    struct iq_sim *sim;
    uint64_t base;
    uint32_t irq;
    unsigned vcpu; /* vCPU for probe / config accesses */
    uint32_t version;
    uint32_t device_id;
    uint32_t vendor_id;
    uint64_t dev_features;
    uint64_t drv_features;
    unsigned nr_queues;
    struct iq_vq *vqs;
    unsigned wait_timeout_ms; /* default 10000 */
};

/*
 * Probe like virtio_mmio_probe: MagicValue, Version (must be 2), DeviceID
 * (0 -> -ENODEV), VendorID. Allocates *out; nothing written to the device.
 */
int iq_vm_probe(struct iq_guest *g, uint64_t base, uint32_t irq, unsigned vcpu,
                struct iq_vm_dev **out);
/* Frees the driver state (does not touch the device). Accepts NULL. */
void iq_vm_free(struct iq_vm_dev *dev);

/* Raw 32-bit register access from dev->vcpu. */
int iq_vm_read(struct iq_vm_dev *dev, uint32_t off, uint32_t *val);
int iq_vm_write(struct iq_vm_dev *dev, uint32_t off, uint32_t val);
/* Read/write the device status register. */
int iq_vm_get_status(struct iq_vm_dev *dev, uint32_t *status);
int iq_vm_set_status(struct iq_vm_dev *dev, uint32_t status);
/* Reset: write 0 and read back until 0 (bounded). */
int iq_vm_reset(struct iq_vm_dev *dev);

/*
 * The negotiation Linux performs: reset, ACKNOWLEDGE, DRIVER, read both
 * feature windows, write (device & want) | VERSION_1 to both driver
 * windows, FEATURES_OK, read it back (-EIO if the device cleared it).
 * Does not set up queues.
 */
int iq_vm_negotiate(struct iq_vm_dev *dev, uint64_t want);
/*
 * Set up queue `index` with `size` entries (0: QueueNumMax capped at 256):
 * select, check QueueReady == 0, read QueueNumMax, set QueueNum, ring
 * addresses (allocated now), QueueReady = 1. Uses EVENT_IDX / INDIRECT if
 * negotiated. `nr_queues` in iq_vm_init decides the array size.
 */
int iq_vm_setup_queue(struct iq_vm_dev *dev, unsigned index, uint16_t size);
/*
 * Full bring-up: negotiate(want), set up `nr_queues` queues of `size`,
 * DRIVER_OK. Each queue's vCPU defaults to dev->vcpu.
 */
int iq_vm_init(struct iq_vm_dev *dev, uint64_t want, unsigned nr_queues,
               uint16_t size);
/* Device config space with a ConfigGeneration retry loop (bounded). */
int iq_vm_config_read(struct iq_vm_dev *dev, uint32_t off, void *buf,
                      uint32_t len);
int iq_vm_config_write(struct iq_vm_dev *dev, uint32_t off, const void *buf,
                       uint32_t len);

/*
 * Add a chain (readable buffers first, then writable). Uses one indirect
 * table when `use_indirect` and INDIRECT_DESC was negotiated. Returns the
 * head index, -ENOSPC when the ring is full, -EINVAL for a bad chain.
 */
int iq_vq_add(struct iq_vq *vq, const struct iq_vq_buf *bufs, unsigned n,
              bool use_indirect, void *cookie);
/* Notify the device if it wants it (EVENT_IDX / NO_NOTIFY), from vq->vcpu. */
int iq_vq_kick(struct iq_vq *vq);
/* Take one used entry: 1 with cookie and len set, 0 if none. */
int iq_vq_get_used(struct iq_vq *vq, void **cookie, uint32_t *len);
/*
 * Wait for one used entry: poll the used ring, and in between wait for the
 * device's interrupt (iq_sim_irq_wait) and acknowledge it as Linux does
 * (InterruptStatus read, InterruptACK write). 1, -ETIMEDOUT, or -EIO when
 * the device sets NEEDS_RESET while we wait.
 */
int iq_vq_wait_used(struct iq_vq *vq, unsigned timeout_ms, void **cookie,
                    uint32_t *len);
/*
 * Hostile-driver helpers. iq_vq_desc_table: the descriptor table in guest
 * RAM, to write raw (loops, bad indirect tables, addresses in holes).
 * iq_vq_publish_raw: put `head` in the avail ring as it is, bump avail idx
 * and, with `kick`, write QueueNotify; the driver's free list is not
 * touched, so reset the device (re-attach) afterwards.
 */
#define IQ_VQ_DESC_F_NEXT 1u
#define IQ_VQ_DESC_F_WRITE 2u
#define IQ_VQ_DESC_F_INDIRECT 4u
struct iq_vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct iq_vq_desc *iq_vq_desc_table(struct iq_vq *vq);
int iq_vq_publish_raw(struct iq_vq *vq, uint16_t head, bool kick);

/* Read InterruptStatus and ACK what was set; *isr receives it (may be NULL). */
int iq_vm_ack_irq(struct iq_vm_dev *dev, unsigned vcpu, uint32_t *isr);

/*
 * Interrupt-driven completion as Linux does it (virtio_blk's done handler
 * around virtqueue_disable_cb / get_buf / enable_cb). iq_vq_wait_used polls
 * first and so never takes the interrupts whose used entries it found by
 * polling; these helpers let a driver model every interrupt instead.
 *
 * iq_vq_disable_cb: while reaping, ask for no interrupt. With EVENT_IDX
 * used_event is no longer moved by iq_vq_get_used (the device has already
 * signalled past it); without, avail->flags gets NO_INTERRUPT.
 * iq_vq_enable_cb: publish used_event = last used (or clear the flag), then
 * look at the used ring again: true if it is empty (an interrupt will come
 * for the next entry), false if entries arrived meanwhile (reap them, and
 * call it again).
 */
void iq_vq_disable_cb(struct iq_vq *vq);
bool iq_vq_enable_cb(struct iq_vq *vq);

/*
 * Take one interrupt of `dev`'s line on `vcpu` as the Linux virtio-mmio
 * handler does: wait up to `timeout_ms` until the line has an edge newer
 * than *seen (edges that arrive while the previous handler ran coalesce into
 * one pending interrupt, as on a GIC), set *seen to the current edge count,
 * read InterruptStatus and write that value to InterruptACK (always: two
 * ioreqs per interrupt). timeout_ms 0 only looks. Returns 0 with *isr set
 * (may be NULL), -EAGAIN when timeout_ms is 0 and nothing is pending,
 * -ETIMEDOUT, or -errno from the accesses.
 */
int iq_vm_take_irq(struct iq_vm_dev *dev, unsigned vcpu, uint64_t *seen,
                   unsigned timeout_ms, uint32_t *isr);

/* ---- virtio-blk ------------------------------------------------------------
 */

#define IQ_BLK_T_IN 0u
#define IQ_BLK_T_OUT 1u
#define IQ_BLK_T_FLUSH 4u
#define IQ_BLK_T_GET_ID 8u
#define IQ_BLK_T_DISCARD 11u
#define IQ_BLK_T_WRITE_ZEROES 13u

#define IQ_BLK_S_OK 0u
#define IQ_BLK_S_IOERR 1u
#define IQ_BLK_S_UNSUPP 2u

#define IQ_BLK_F_SIZE_MAX (1ull << 1)
#define IQ_BLK_F_SEG_MAX (1ull << 2)
#define IQ_BLK_F_RO (1ull << 5)
#define IQ_BLK_F_BLK_SIZE (1ull << 6)
#define IQ_BLK_F_FLUSH (1ull << 9)
#define IQ_BLK_F_MQ (1ull << 12)
#define IQ_BLK_F_DISCARD (1ull << 13)
#define IQ_BLK_F_WRITE_ZEROES (1ull << 14)

/* The features Linux's virtio_blk asks for that we also model here. */
#define IQ_BLK_WANT_DEFAULT \
    (IQ_BLK_F_SIZE_MAX | IQ_BLK_F_SEG_MAX | IQ_BLK_F_RO | IQ_BLK_F_BLK_SIZE | \
     IQ_BLK_F_FLUSH | IQ_BLK_F_MQ | IQ_BLK_F_DISCARD | IQ_BLK_F_WRITE_ZEROES | \
     IQ_VM_F_EVENT_IDX | IQ_VM_F_INDIRECT_DESC)

struct iq_blk_config {
    uint64_t capacity; /* 512-byte sectors */
    uint32_t size_max;
    uint32_t seg_max;
    uint32_t blk_size;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
};

/* One asynchronous request. The caller owns it until it completes. */
struct iq_blk_req {
    uint32_t type;
    uint64_t sector;
    uint64_t data_gpa; /* IN/OUT/GET_ID data (guest RAM) */
    uint32_t data_len;
    uint32_t nr_sectors; /* DISCARD / WRITE_ZEROES */
    uint32_t seg_flags; /* DISCARD / WRITE_ZEROES: unmap bit 0 */
    /* filled on completion */
    uint8_t status;
    uint32_t used_len;
    bool done;
    /* private */
    unsigned tag_;
};

struct iq_blk;

/*
 * Bring up a probed block device: init with `want`, `nr_queues` queues
 * (capped by num_queues when MQ was negotiated, else 1) of `qsize`, read the
 * config. Each queue gets a bounce buffer of `bounce_len` bytes for the
 * synchronous helpers (0: 1 MiB). Takes ownership of `dev`.
 */
int iq_blk_attach(struct iq_vm_dev *dev, uint64_t want, unsigned nr_queues,
                  uint16_t qsize, size_t bounce_len, struct iq_blk **out);
void iq_blk_free(struct iq_blk *blk);
struct iq_vm_dev *iq_blk_dev(struct iq_blk *blk);
const struct iq_blk_config *iq_blk_config(const struct iq_blk *blk);
unsigned iq_blk_nr_queues(const struct iq_blk *blk);
struct iq_vq *iq_blk_vq(struct iq_blk *blk, unsigned q);

/* Queue a request (no kick). -ENOSPC when the queue is full. */
int iq_blk_submit(struct iq_blk *blk, unsigned q, struct iq_blk_req *req,
                  bool use_indirect);
int iq_blk_kick(struct iq_blk *blk, unsigned q);
/* Wait for one completion on `q`; *done receives the request. */
int iq_blk_wait(struct iq_blk *blk, unsigned q, unsigned timeout_ms,
                struct iq_blk_req **done);

/* Non-blocking: 1 with *done set, 0 if nothing completed yet, -errno. */
int iq_blk_poll(struct iq_blk *blk, unsigned q, struct iq_blk_req **done);

/*
 * Synchronous helpers through the queue's bounce buffer (len <= bounce).
 * Return 0 with *status set, or -errno for a transport failure.
 */
int iq_blk_read(struct iq_blk *blk, unsigned q, uint64_t sector, void *buf,
                size_t len, uint8_t *status);
int iq_blk_write(struct iq_blk *blk, unsigned q, uint64_t sector,
                 const void *buf, size_t len, uint8_t *status);
int iq_blk_flush(struct iq_blk *blk, unsigned q, uint8_t *status);
int iq_blk_discard(struct iq_blk *blk, unsigned q, uint64_t sector,
                   uint32_t nr_sectors, uint8_t *status);
int iq_blk_write_zeroes(struct iq_blk *blk, unsigned q, uint64_t sector,
                        uint32_t nr_sectors, bool unmap, uint8_t *status);
/* VIRTIO_BLK_T_GET_ID: 20 bytes, NUL-padded; id must hold 21 bytes. */
int iq_blk_get_id(struct iq_blk *blk, unsigned q, char *id, uint8_t *status);

/* ---- virtio-rng ------------------------------------------------------------
 */

/* Read up to `len` random bytes (one request). Returns bytes or -errno. */
int iq_rng_read(struct iq_vm_dev *dev, void *buf, size_t len);

/* ---- virtio-console (single port: receiveq 0, transmitq 1) ----------------
 */

/* Send `len` bytes on transmitq. 0 or -errno. */
int iq_con_send(struct iq_vm_dev *dev, const void *buf, size_t len);
/*
 * Post one receive buffer of `len` bytes and wait for data. Returns the
 * number of bytes received or -errno.
 */
int iq_con_recv(struct iq_vm_dev *dev, void *buf, size_t len,
                unsigned timeout_ms);

#endif /* IQ_TESTS_SIM_IQ_GUEST_H */
