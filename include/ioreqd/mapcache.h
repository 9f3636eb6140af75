/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bounded mapcache (mapcache/): the only way device code reaches guest
 * memory (STYLE.md section 8).
 *
 * Guest-physical addresses are mapped in fixed-size buckets through a
 * backend (foreign mapping on Xen, a flat fake RAM in unit tests, fuzz-fed
 * RAM in fuzz targets). Addresses with bit 63 set (IQ_MC_GRANT_BIT) are
 * grant addresses: (addr & ~bit63) >> 12 is the grant reference, and they
 * go to separate one-page-per-entry read-only and read-write caches.
 *
 * The number of bytes mapped never exceeds the configured cap, whatever the
 * guest does. Pinned entries are never evicted; when a new mapping is needed
 * and every entry is pinned, the call fails with -EBUSY (back-pressure).
 *
 * Threads: not thread-safe; owned by the loop thread. Storage workers get
 * iovecs that are already pinned and never call in here.
 *
 * All `gpa` and `len` arguments are guest-controlled and validated here:
 * wrapping ranges give -EINVAL; pages the backend cannot map give -EFAULT.
 * A range may not run from guest-physical into grant space (-EINVAL). A
 * grant address with no grant backend configured is -EFAULT, like any other
 * unmappable address. Any call that has to map may also fail with -ENOMEM
 * (host allocation failure).
 */
#ifndef IQ_INCLUDE_MAPCACHE_H
#define IQ_INCLUDE_MAPCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "compiler.h"
#include "types.h"

#define IQ_MC_GRANT_BIT (1ull << 63)

/* Access the device makes: read guest memory, or also write it. */
enum iq_mc_prot {
    IQ_MC_READ = 1, /* device reads (driver-to-device buffer) */
    IQ_MC_WRITE = 3, /* device writes (and may read) */
};

/*
 * Backend ops. `map` maps `n` frames (gfns, or grant refs for the grant
 * backend) into one contiguous host range and fills err[i] (0 or -errno) for
 * every page; it returns NULL with *all* err[] set on complete failure.
 * A page with err[i] != 0 must not be touched. `prot` is PROT_READ or
 * PROT_READ|PROT_WRITE. `unmap` undoes one successful map with the same n.
 */
struct iq_mc_backend_ops {
    void *(*map)(void *opaque, const uint64_t *frames, size_t n, int prot,
                 int *err);
    int (*unmap)(void *opaque, void *va, size_t n);
};

struct iq_mc_config {
    /* Hard cap on bytes mapped at once (all caches). 0: 64 MiB default. */
    size_t cap_bytes;
    /* log2 of the foreign bucket size; 0: 20 (1 MiB). 12..24 allowed. */
    unsigned bucket_shift;
    const struct iq_mc_backend_ops *foreign; /* required */
    void *foreign_opaque;
    const struct iq_mc_backend_ops *grant; /* NULL: grants refused */
    void *grant_opaque;
};

#define IQ_MC_DEFAULT_CAP (64u << 20)

struct iq_mc;

/*
 * A pin on one cache entry. Owned by the caller (a request); release with
 * iq_mc_unpin()/iq_mc_unmap_sg() before the guest is notified.
 */
struct iq_mc_ref {
    void *entry; /* opaque */
};

/* Returns 0 or -errno (-EINVAL: bad config, -ENOMEM). */
IQ_MUST_CHECK int iq_mc_create(const struct iq_mc_config *cfg,
                               struct iq_mc **out);
/*
 * Unmap everything. Every pin must have been released (asserted: a leaked
 * pin is an internal bug). Accepts NULL.
 */
void iq_mc_destroy(struct iq_mc *mc);

/*
 * Copy between guest memory and a local buffer, across bucket boundaries.
 * The copy is done through temporary pins released before return.
 * Returns 0, -EINVAL (wrapping range), -EFAULT (unmappable page: nothing
 * partial is reported as success) or -EBUSY.
 */
IQ_MUST_CHECK int iq_mc_read(struct iq_mc *mc, gpa_t gpa, void *buf,
                             size_t len);
IQ_MUST_CHECK int iq_mc_write(struct iq_mc *mc, gpa_t gpa, const void *buf,
                              size_t len);

/*
 * Pin one contiguous object [gpa, gpa + len) and return its host address.
 * Fails with -ERANGE when the object crosses a bucket (use map_sg or the copy
 * helpers), -EINVAL for len == 0 or wrapping, -EFAULT, -EBUSY.
 */
IQ_MUST_CHECK int iq_mc_pin(struct iq_mc *mc, gpa_t gpa, size_t len,
                            enum iq_mc_prot prot, struct iq_mc_ref *ref,
                            void **hva);
/* Release a pin. A stale (invalidated) entry is unmapped on its last unpin. */
void iq_mc_unpin(struct iq_mc *mc, struct iq_mc_ref *ref);

/*
 * Translate [gpa, gpa + len) into at most `max` iovecs, pinning each entry
 * it touches (refs[i] pairs with iov[i]). On success *n is the count used.
 * When `max` is too small: -ENOBUFS, nothing pinned, *n = entries needed
 * (clamped to UINT_MAX). len == 0: returns 0 with *n = 0. Other errors as
 * iq_mc_pin (nothing left pinned and *n = 0 on any error); a range needing
 * more entries than the cap can hold pinned at once gives -EBUSY.
 */
IQ_MUST_CHECK int iq_mc_map_sg(struct iq_mc *mc, gpa_t gpa, size_t len,
                               enum iq_mc_prot prot, struct iovec *iov,
                               struct iq_mc_ref *refs, unsigned max,
                               unsigned *n);
void iq_mc_unmap_sg(struct iq_mc *mc, struct iq_mc_ref *refs, unsigned n);

/*
 * IOREQ_TYPE_INVALIDATE: unmap every unpinned entry now; mark pinned ones
 * stale so they are unmapped at their last unpin and never handed out again.
 */
void iq_mc_invalidate(struct iq_mc *mc);

/*
 * Back-pressure wake-up. A user that got -EBUSY registers a waiter with
 * iq_mc_wait(); its callback runs once (the waiter is then unregistered)
 * when an unpin really releases room, i.e. when the bytes held by pins and
 * stale entries fall below what they were at registration. Temporary pins
 * (the copy helpers) never wake it. The callback runs inside an unpin: it
 * must not call into the mapcache (defer the retry to the loop). Cancel a
 * waiter before freeing it; iq_mc_wait on a registered waiter only updates
 * its reference point. The fields are private.
 */
struct iq_mc_waiter {
    void (*cb)(void *opaque);
    void *opaque;
    struct iq_mc_waiter *next_;
    uint64_t held_;
    bool queued_;
};
void iq_mc_wait(struct iq_mc *mc, struct iq_mc_waiter *w);
void iq_mc_wait_cancel(struct iq_mc *mc, struct iq_mc_waiter *w);

struct iq_mc_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    uint64_t map_calls; /* foreign backend map calls */
    uint64_t unmap_calls; /* foreign backend unmap calls */
    uint64_t grant_maps; /* grant backend map calls */
    uint64_t grant_unmaps;
    uint64_t busy; /* -EBUSY returned */
    uint64_t invalidations; /* iq_mc_invalidate() calls */
    uint64_t bytes_mapped; /* now (a failed unmap stays counted) */
    uint64_t bytes_mapped_peak;
    uint64_t pins; /* pins held now */
};
void iq_mc_get_stats(const struct iq_mc *mc, struct iq_mc_stats *st);
/*
 * The cap on bytes mapped at once and the foreign bucket size, as
 * configured (defaults applied). For devices that size their largest
 * request so it always fits (added for virtio-blk seg_max/size_max).
 */
size_t iq_mc_cap_bytes(const struct iq_mc *mc);
size_t iq_mc_bucket_bytes(const struct iq_mc *mc);

/*
 * The Xen backends (mapcache/fmem.c): foreign mapping through
 * xenforeignmemory_map2 and grant mapping through xengnttab. Opened for one
 * domain; the handles are restricted by xentoolcore_restrict_all later.
 */
struct iq_mc_xen;
IQ_MUST_CHECK int iq_mc_xen_open(uint16_t domid, bool grants,
                                 struct iq_mc_xen **out);
void iq_mc_xen_close(struct iq_mc_xen *x);
/* Fill cfg->foreign/grant and their opaques from `x`. */
void iq_mc_xen_backends(struct iq_mc_xen *x, struct iq_mc_config *cfg);

#endif /* IQ_INCLUDE_MAPCACHE_H */
