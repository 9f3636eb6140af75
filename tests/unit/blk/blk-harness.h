/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal virtio-blk driver for the unit tests and the fuzz target: flat
 * fake guest RAM behind the real mapcache, the real virtio engine and
 * register file, split rings built in that RAM, and a loop to run storage
 * completions. No cmocka in here: functions return 0 or -errno.
 */
#ifndef IQ_TESTS_BLK_HARNESS_H
#define IQ_TESTS_BLK_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iq-test-ram.h"
#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/storage.h"
#include "ioreqd/virtio-blk.h"

#define BH_RAM_SIZE (8u << 20) /* guest RAM: [0, 8 MiB) */
#define BH_MAX_QUEUES 4u

struct bh_queue {
    uint16_t size;
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
    uint16_t avail_idx; /* driver's next avail index */
    uint16_t used_seen; /* used entries consumed */
    uint16_t next_desc;
};

struct bh {
    struct iq_test_ram fake; /* BH_RAM_SIZE + one bucket of slack */
    uint8_t *ram; /* fake.ram */
    struct iq_mc *mc;
    struct iq_loop *loop;
    struct iq_virtio_blk *blk;
    struct iq_virtio_dev *dev;
    unsigned irq_edges; /* set_level(1) calls */
    uint64_t bump; /* next free guest address for buffers */
    uint64_t bump_start;
    unsigned nq;
    uint64_t features; /* negotiated */
    uint64_t refuse; /* bits the driver refuses */
    struct bh_queue q[BH_MAX_QUEUES];
};

struct bh_opts {
    struct iq_storage *storage; /* borrowed, created on h->loop */
    bool readonly;
    bool writethrough;
    const char *serial;
    unsigned num_queues; /* 0: 1 */
    uint16_t queue_size; /* 0: 64 */
    /* Feature bits the driver refuses (besides those not offered). */
    uint64_t refuse;
};

/* RAM, mapcache and loop. */
int bh_init(struct bh *h);
/* Create the device and bring it to DRIVER_OK with every queue set up. */
int bh_start(struct bh *h, const struct bh_opts *o);
/* Driver-side reset then full re-initialisation (same options). */
int bh_reinit(struct bh *h);
/* Destroy the device (not the storage), then mapcache, RAM and loop. */
void bh_fini(struct bh *h);

uint32_t bh_rd(struct bh *h, uint32_t off);
void bh_wr(struct bh *h, uint32_t off, uint32_t val);
/* Config space access (offset inside the device config). */
uint64_t bh_cfg_rd(struct bh *h, uint32_t off, unsigned size);
void bh_cfg_wr(struct bh *h, uint32_t off, uint64_t val, unsigned size);

/* Bump allocation of guest RAM (never freed); 0 when full. */
uint64_t bh_alloc(struct bh *h, size_t len, size_t align);
void bh_alloc_reset(struct bh *h);
void *bh_ptr(struct bh *h, uint64_t gpa);

struct bh_buf {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable */
};

/* Place a chain and kick. Returns 0 or -ENOSPC (ring has no room). */
int bh_submit(struct bh *h, unsigned q, const struct bh_buf *bufs, unsigned n);
/* Place a chain without kicking. */
int bh_place(struct bh *h, unsigned q, const struct bh_buf *bufs, unsigned n);
void bh_kick(struct bh *h, unsigned q);
/*
 * Run the loop until a used entry is available on queue q, then consume it.
 * `iters` bounds the loop iterations (each waits up to `wait_ms`).
 * Returns 0 or -ETIMEDOUT.
 */
int bh_wait(struct bh *h, unsigned q, unsigned iters, int wait_ms, uint32_t *id,
            uint32_t *len);
/* Used entries published and not consumed yet. */
uint16_t bh_used_pending(struct bh *h, unsigned q);

/*
 * One virtio-blk request: header + data (device-writable for IN and
 * GET_ID) + status, each in its own descriptor. Returns the status byte
 * (0..255), or -errno; *used_len gets the used length when non-NULL.
 */
int bh_blk(struct bh *h, unsigned q, uint32_t type, uint64_t sector,
           uint64_t data_gpa, uint32_t data_len, bool data_in,
           uint32_t *used_len);

#endif /* IQ_TESTS_BLK_HARNESS_H */
