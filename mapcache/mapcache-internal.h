/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private interface between mapcache.c (entries, LRU, pins) and access.c
 * (copy helpers, pin, scatter-gather). Not for use outside mapcache/ except
 * by the white-box unit test (iq_mc_test_set_pin_limit).
 */
#ifndef IQ_MAPCACHE_MAPCACHE_INTERNAL_H
#define IQ_MAPCACHE_MAPCACHE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ioreqd/compiler.h"
#include "ioreqd/mapcache.h"

/* The three caches. All of them share the one byte cap and LRU list. */
enum iq_mc_cache_id {
    IQ_MC_CACHE_FOREIGN = 0, /* buckets of 1 << bucket_shift bytes */
    IQ_MC_CACHE_GRANT_RO = 1, /* one grant page per entry, PROT_READ */
    IQ_MC_CACHE_GRANT_RW = 2, /* one grant page per entry, read-write */
    IQ_MC_NR_CACHES = 3,
};

struct iq_mc_entry;

/*
 * Where a guest address lands: which cache, which entry key (bucket index
 * or grant reference), the byte offset inside that entry and the bytes left
 * from there to the end of the entry.
 */
struct iq_mc_loc {
    unsigned cache;
    uint64_t key;
    size_t off;
    size_t room;
};

/*
 * Check [gpa, gpa + len) for wrapping and for crossing between the foreign
 * and the grant address spaces. len may be 0. Returns 0 or -EINVAL.
 */
IQ_MUST_CHECK int iq_mc_check_range(gpa_t gpa, size_t len);

/*
 * Locate `gpa` for an access with `prot`. Returns 0, -EINVAL (bad prot) or
 * -EFAULT (grant address and no grant backend).
 */
IQ_MUST_CHECK int iq_mc_locate(const struct iq_mc *mc, gpa_t gpa,
                               enum iq_mc_prot prot, struct iq_mc_loc *loc);

/*
 * Pin the entry for `loc`, mapping it (and evicting unpinned entries) when
 * needed, and check that [loc->off, loc->off + len) is all mapped. `len`
 * must be 1..loc->room. On success *hva points at loc->off in the mapping.
 * Returns 0, -EFAULT, -EBUSY or -ENOMEM.
 */
IQ_MUST_CHECK int iq_mc_get(struct iq_mc *mc, const struct iq_mc_loc *loc,
                            size_t len, struct iq_mc_entry **entry, void **hva);

/* Drop one pin taken by iq_mc_get(). */
void iq_mc_put(struct iq_mc *mc, struct iq_mc_entry *entry);

/*
 * Test hook: refuse new pins on an entry once it holds `limit` pins
 * (default UINT32_MAX). Lets the unit test reach the saturation path.
 */
void iq_mc_test_set_pin_limit(struct iq_mc *mc, uint32_t limit);

#endif /* IQ_MAPCACHE_MAPCACHE_INTERNAL_H */
