/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk (virtio 1.2 section 5.2) over a storage backend, served by the
 * shared virtio engine (backends/virtio-blk/, on backends/virtio/ and
 * backends/storage/).
 *
 * Offered features: SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH, TOPOLOGY,
 * CONFIG_WCE, MQ (when num_queues > 1), RO (read-only device), DISCARD (when
 * the storage can discard and is writable) and WRITE_ZEROES (writable).
 * Request types: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES; any other
 * type completes with VIRTIO_BLK_S_UNSUPP.
 *
 * Guest-controlled input: every request header, data length, sector and
 * discard/write-zeroes segment, and the config-space writeback byte. Each
 * is copied out of guest memory once, validated, and only the copy is used.
 * Malformed requests complete with VIRTIO_BLK_S_IOERR (or UNSUPP); a chain
 * with no device-writable byte for the status puts the device into
 * NEEDS_RESET. Host I/O errors complete with IOERR (rate-limited warning).
 *
 * Ordering: a request completes (status byte written, element pushed, pins
 * released) only after the storage callback reported the data in the
 * backend; a FLUSH only after fdatasync returned. With the write cache
 * disabled (writeback byte 0, or FLUSH not negotiated) every write is
 * followed by a flush before it completes. Interrupts are raised once per
 * batch (a deferred loop work item per queue calls iq_virtq_flush).
 *
 * Reset: the device waits for every storage request in flight
 * (iq_storage_drain), then returns every element without touching guest
 * memory; nothing is touched after reset returns.
 *
 * Threads: everything runs on the loop thread; storage worker threads (if
 * any) only see pinned iovecs.
 */
#ifndef IQ_INCLUDE_VIRTIO_BLK_H
#define IQ_INCLUDE_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "storage.h"
#include "virtio-devices.h"
#include "virtio.h"

/* Feature bits (virtio 1.2 section 5.2.3). */
#define IQ_VIRTIO_BLK_F_SIZE_MAX 1
#define IQ_VIRTIO_BLK_F_SEG_MAX 2
#define IQ_VIRTIO_BLK_F_GEOMETRY 4
#define IQ_VIRTIO_BLK_F_RO 5
#define IQ_VIRTIO_BLK_F_BLK_SIZE 6
#define IQ_VIRTIO_BLK_F_FLUSH 9
#define IQ_VIRTIO_BLK_F_TOPOLOGY 10
#define IQ_VIRTIO_BLK_F_CONFIG_WCE 11
#define IQ_VIRTIO_BLK_F_MQ 12
#define IQ_VIRTIO_BLK_F_DISCARD 13
#define IQ_VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (section 5.2.6). */
#define IQ_VIRTIO_BLK_T_IN 0
#define IQ_VIRTIO_BLK_T_OUT 1
#define IQ_VIRTIO_BLK_T_FLUSH 4
#define IQ_VIRTIO_BLK_T_GET_ID 8
#define IQ_VIRTIO_BLK_T_GET_LIFETIME 10
#define IQ_VIRTIO_BLK_T_DISCARD 11
#define IQ_VIRTIO_BLK_T_WRITE_ZEROES 13
#define IQ_VIRTIO_BLK_T_SECURE_ERASE 14

/* Status byte values. */
#define IQ_VIRTIO_BLK_S_OK 0
#define IQ_VIRTIO_BLK_S_IOERR 1
#define IQ_VIRTIO_BLK_S_UNSUPP 2

/* Discard / write-zeroes segment flag. */
#define IQ_VIRTIO_BLK_WZ_FLAG_UNMAP 1u

/* Config space layout (little-endian), as offsets into it. */
#define IQ_VIRTIO_BLK_CFG_CAPACITY 0 /* le64, 512-byte sectors */
#define IQ_VIRTIO_BLK_CFG_SIZE_MAX 8 /* le32 */
#define IQ_VIRTIO_BLK_CFG_SEG_MAX 12 /* le32 */
#define IQ_VIRTIO_BLK_CFG_BLK_SIZE 20 /* le32 */
#define IQ_VIRTIO_BLK_CFG_TOPOLOGY 24 /* 8 bytes */
#define IQ_VIRTIO_BLK_CFG_WRITEBACK 32 /* u8, driver-writable */
#define IQ_VIRTIO_BLK_CFG_NUM_QUEUES 34 /* le16 */
#define IQ_VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define IQ_VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define IQ_VIRTIO_BLK_CFG_DISCARD_ALIGN 44
#define IQ_VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define IQ_VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define IQ_VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56 /* u8 */
#define IQ_VIRTIO_BLK_CONFIG_SIZE 60

/* Limits advertised in config space. */
#define IQ_VIRTIO_BLK_SIZE_MAX (1u << 20) /* bytes per segment, at most */
#define IQ_VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB */
#define IQ_VIRTIO_BLK_MAX_WZ_SECTORS (1u << 22)
#define IQ_VIRTIO_BLK_MAX_DISCARD_SEG 1u
#define IQ_VIRTIO_BLK_MAX_WZ_SEG 1u
#define IQ_VIRTIO_BLK_ID_BYTES 20u
#define IQ_VIRTIO_BLK_MAX_QUEUES 64u

struct iq_virtio_blk_config {
    /*
     * Name, IRQ, mapcache, loop, IRQ ops, arch, grants and queue size
     * (0: 256). seg_max is advertised as queue size - 2 at most, and
     * lowered (with size_max, at most one mapcache bucket) so a request of
     * seg_max segments of size_max bytes pins at most half of the
     * mapcache cap.
     */
    struct iq_virtio_env env;
    /*
     * Borrowed: the caller keeps ownership and destroys the storage after
     * iq_virtio_blk_destroy(). Its size (rounded down to 512 bytes) is the
     * capacity; its logical block size is blk_size.
     */
    struct iq_storage *storage;
    /* Offer RO and refuse writes (also implied by a read-only storage). */
    bool readonly;
    /* GET_ID string: up to 20 bytes are used (no NUL when 20 long). NULL:
     * empty. Copied. */
    const char *serial;
    /* Request queues, 1..IQ_VIRTIO_BLK_MAX_QUEUES (0 means 1). */
    unsigned num_queues;
    /* Start with the write cache disabled (writeback byte 0). */
    bool writethrough;
};

struct iq_virtio_blk;

/*
 * Returns 0 or -errno: -EINVAL (missing storage/mc/loop, bad queue count or
 * queue size, storage smaller than one sector), -ENOMEM, or the error of
 * iq_virtio_dev_create().
 */
IQ_MUST_CHECK int iq_virtio_blk_create(const struct iq_virtio_blk_config *cfg,
                                       struct iq_virtio_blk **out);
/* Resets the device (waiting for storage I/O) and frees it. Accepts NULL.
 * Does not destroy the storage. */
void iq_virtio_blk_destroy(struct iq_virtio_blk *blk);
/* The transport object (register window opaque), valid until destroy. */
struct iq_virtio_dev *iq_virtio_blk_dev(struct iq_virtio_blk *blk);

/* Counters for tests and the benchmark. */
struct iq_virtio_blk_stats {
    uint64_t reqs; /* requests completed (pushed) */
    uint64_t ioerr; /* completed with IOERR */
    uint64_t unsupp; /* completed with UNSUPP */
    uint64_t read_bytes;
    uint64_t write_bytes;
    uint64_t flushes; /* storage flushes issued (incl. write-through) */
};
void iq_virtio_blk_get_stats(const struct iq_virtio_blk *blk,
                             struct iq_virtio_blk_stats *st);

#endif /* IQ_INCLUDE_VIRTIO_BLK_H */
