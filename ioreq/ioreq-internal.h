/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ioreq/ private interface: the Xen-free core (decode.c, dispatch.c,
 * server.c, pci-cfg.c) that xen.c drives and that unit tests and the fuzz
 * target drive directly.
 *
 * The core never includes a Xen header. The two shared pages are described
 * here by layout-identical mirrors of Xen's `struct ioreq` and
 * `struct buffered_iopage` (xen/hvm/ioreq.h, little-endian, Xen 4.17);
 * xen.c checks the mirrors against the real headers at build and start-up.
 *
 * Threads: all of it runs on the loop thread; nothing here locks.
 */
#ifndef IQ_IOREQ_IOREQ_INTERNAL_H
#define IQ_IOREQ_IOREQ_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioreqd/compiler.h"
#include "ioreqd/ioreq.h"
#include "ioreqd/log.h"
#include "ioreqd/types.h"

/* ---- Xen ABI values (xen/hvm/ioreq.h) ----------------------------------- */

#define IQ_IOREQ_TYPE_PIO 0u
#define IQ_IOREQ_TYPE_COPY 1u
#define IQ_IOREQ_TYPE_PCI_CONFIG 2u
#define IQ_IOREQ_TYPE_TIMEOFFSET 7u
#define IQ_IOREQ_TYPE_INVALIDATE 8u

#define IQ_IOREQ_STATE_NONE 0u
#define IQ_IOREQ_STATE_READY 1u
#define IQ_IOREQ_STATE_INPROCESS 2u
#define IQ_IORESP_STATE_READY 3u

/*
 * Mirror of `struct ioreq` (32 bytes). `flags` is the byte holding the
 * bitfields state:4, data_is_ptr:1, dir:1, df:1 (bit 0 first).
 */
struct iq_ioreq_slot {
    uint64_t addr;
    uint64_t data;
    uint32_t count;
    uint32_t size;
    uint32_t vp_eport;
    uint16_t pad0;
    uint8_t flags;
    uint8_t type;
};

#define IQ_SLOT_STATE_MASK 0x0fu
#define IQ_SLOT_DATA_IS_PTR 0x10u
#define IQ_SLOT_DIR_READ 0x20u
#define IQ_SLOT_DF 0x40u

/*
 * Mirror of `struct buffered_iopage`: two free-running 32-bit pointers and
 * 511 slots of 8 bytes. A slot's first word holds type (bits 0..7), pad
 * (8), dir (9), size code (10..11: 1 << code bytes) and addr (12..31); the
 * second word is the data.
 */
#define IQ_BUF_SLOT_NUM 511u

struct iq_ioreq_bufslot {
    uint32_t word;
    uint32_t data;
};

struct iq_ioreq_bufpage {
    uint32_t read_pointer;
    uint32_t write_pointer;
    struct iq_ioreq_bufslot slot[IQ_BUF_SLOT_NUM];
};

/* Build a buffered slot's first word (tests and the fake ring writer). */
static inline uint32_t
iq_ioreq_bufslot_word(uint8_t type, bool dir_read, unsigned size_code,
                      uint32_t addr)
{
    return (uint32_t)type | ((uint32_t)dir_read << 9) |
           ((uint32_t)(size_code & 3u) << 10) | ((addr & 0xfffffu) << 12);
}

/* ---- a decoded request -----------------------------------------------------
 */

/*
 * A private copy of one request. Every field is guest-controlled (Xen
 * fills it from the trapping instruction): the core validates all of it.
 * On return from iq_ioreq_handle() `data` holds the answer for non-pointer
 * reads (zero-extended to `size`) and is otherwise unchanged.
 */
struct iq_ioreq_req {
    uint64_t addr;
    uint64_t data;
    uint32_t count;
    uint32_t size;
    uint8_t type;
    bool dir_read;
    bool df;
    bool data_is_ptr;
};

/* Largest byte span of one repeated access (Xen caps the RAM side here). */
#define IQ_IOREQ_MAX_REP_BYTES 4096u

/* ---- regions
 * ----------------------------------------------------------------- */

/*
 * A claimed range. `key`/`last` are the table coordinates: the address
 * range for MMIO and PIO, and (sbdf << 12) | reg for PCI so that every
 * function's 4 KiB config space is an ordinary range.
 */
struct iq_region {
    enum iq_space space;
    uint64_t start; /* as passed to map_region (PCI: the SBDF) */
    uint64_t size;
    uint64_t key;
    uint64_t last; /* inclusive */
    const struct iq_region_ops *ops;
    void *opaque;
};

/* One address space: regions sorted by key, pairwise disjoint. */
struct iq_region_table {
    struct iq_region **v;
    size_t n;
    size_t cap;
};

#define IQ_NR_SPACES 3u

/* Everything the core needs for one domain. */
struct iq_ioreq_ctx {
    enum iq_arch arch;
    const struct iq_gmem_ops *gmem;
    void *gmem_opaque;
    struct iq_region_table tab[IQ_NR_SPACES];
    /* Bumped on every add/remove: a callback may unmap its own region. */
    uint64_t gen;
    struct iq_ioreq_stats st;
    /* Malformed requests answered without effect (bad size, count...). */
    uint64_t rejected;
    struct iq_ratelimit rl;
    char name[24];
    /* iq_ioreq_add_taker(): agents that answer some writes themselves. */
    struct {
        iq_ioreq_takes_fn takes;
        void *opaque;
    } takers[IQ_IOREQ_MAX_TAKERS];
    unsigned nr_takers;
};

/*
 * server.c: is `slot` a READY synchronous COPY write that a taker of `ctx`
 * answers itself? (Reads the fields only after seeing READY.)
 */
bool iq_ioreq_slot_for_taker(const struct iq_ioreq_ctx *ctx,
                             const struct iq_ioreq_slot *slot);
int iq_ioreq_ctx_add_taker(struct iq_ioreq_ctx *ctx, iq_ioreq_takes_fn takes,
                           void *opaque);
void iq_ioreq_ctx_del_taker(struct iq_ioreq_ctx *ctx, void *opaque);

/* Initialise `ctx` (no allocation). `gmem` may be NULL (copies then fail). */
void iq_ioreq_ctx_init(struct iq_ioreq_ctx *ctx, enum iq_arch arch,
                       uint16_t domid, const struct iq_gmem_ops *gmem,
                       void *gmem_opaque);
/* Free every region and table. Accepts a zeroed or initialised ctx. */
void iq_ioreq_ctx_fini(struct iq_ioreq_ctx *ctx);

/*
 * dispatch.c: claim [start, start + size) in `space` (PCI: `start` is the
 * SBDF and `size` must be 4096). `size` may reach the top of the space
 * (start + size == 2^64 is allowed). -EINVAL: bad space, zero or wrapping
 * size, PIO beyond port 0xffff, PCI size not 4096 or SBDF over 32 bits;
 * -EEXIST: overlaps a region in the same space; -ENOMEM.
 */
IQ_MUST_CHECK int iq_ioreq_region_add(struct iq_ioreq_ctx *ctx,
                                      enum iq_space space, uint64_t start,
                                      uint64_t size,
                                      const struct iq_region_ops *ops,
                                      void *opaque, struct iq_region **out);
/* Remove and free `region`. Accepts NULL; ignores regions not in ctx. */
void iq_ioreq_region_del(struct iq_ioreq_ctx *ctx, struct iq_region *region);
/*
 * The region wholly containing [key, key + len) in `space`, or NULL (also
 * for len 0 or a wrapping range). O(log n).
 */
struct iq_region *iq_ioreq_region_find(const struct iq_ioreq_ctx *ctx,
                                       enum iq_space space, uint64_t key,
                                       uint64_t len);
size_t iq_ioreq_region_count(const struct iq_ioreq_ctx *ctx,
                             enum iq_space space);

/*
 * decode.c: perform one request against the region table and guest memory
 * and fill in the answer. Never fails: malformed requests are logged on the
 * rate-limited guest channel, counted and answered (reads: all ones).
 */
void iq_ioreq_handle(struct iq_ioreq_ctx *ctx, struct iq_ioreq_req *req);

/* All ones in the low `size` bytes (size 1..8), zero above. */
static inline uint64_t
iq_ioreq_size_mask(unsigned size)
{
    return size >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (size * 8u)) - 1u;
}

/*
 * server.c: service one vCPU slot. If its state is not IOREQ_READY, count
 * a spurious wake-up and return false (another agent may have completed
 * it). Otherwise copy it, mark it INPROCESS, handle it, write back `data`,
 * then (after a write barrier) IORESP_READY, and return true: the caller
 * must notify the vCPU's port.
 */
bool iq_ioreq_slot_service(struct iq_ioreq_ctx *ctx,
                           struct iq_ioreq_slot *slot);

/*
 * server.c: consume buffered requests, at most IQ_BUF_SLOT_NUM slots per
 * call. Returns the number of slots consumed. *more is set when the ring
 * still holds requests afterwards (call again later, e.g. from deferred
 * work). An 8-byte write whose second slot is not published yet is left in
 * place and does not set *more.
 */
unsigned iq_ioreq_buf_drain(struct iq_ioreq_ctx *ctx,
                            struct iq_ioreq_bufpage *pg, bool *more);

/* ---- pci-cfg.c: SBDF helpers (ioreq encoding seg<<16|bus<<8|dev<<3|fn) --- */

uint32_t iq_pci_sbdf(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn);
uint16_t iq_pci_sbdf_seg(uint32_t sbdf);
uint8_t iq_pci_sbdf_bus(uint32_t sbdf);
uint8_t iq_pci_sbdf_dev(uint32_t sbdf);
uint8_t iq_pci_sbdf_fn(uint32_t sbdf);
/* Split an IOREQ_TYPE_PCI_CONFIG address: (sbdf << 32) | reg. */
void iq_pci_cfg_split(uint64_t addr, uint32_t *sbdf, uint32_t *reg);
/* Table key of (sbdf, reg); reg must be below 4096. */
uint64_t iq_pci_cfg_key(uint32_t sbdf, uint32_t reg);

#define IQ_PCI_CFG_SPACE_SIZE 4096u

#endif /* IQ_IOREQ_IOREQ_INTERNAL_H */
