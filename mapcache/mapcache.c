/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mapcache core: entries, hash table, LRU, pins, invalidation, statistics.
 *
 * Every mapping is an entry: a foreign bucket (1 << bucket_shift bytes,
 * mapped with one backend call) or a single grant page (read-only or
 * read-write cache). Entries are found through one hash table keyed by
 * (cache, key). Unpinned, non-stale entries sit on one LRU list shared by
 * all caches, most recently used at the head; eviction takes the tail, so
 * both lookup and eviction are O(1) and there is no scan on the hot path.
 *
 * The byte cap is checked before every backend map call, so bytes_mapped
 * can never pass it: when the pinned bytes alone leave no room, the call
 * fails with -EBUSY without evicting anything.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "ioreqd/err.h"
#include "ioreqd/mapcache.h"
#include "mapcache-internal.h"

#define MC_DEFAULT_SHIFT 20u
#define MC_MIN_SHIFT 12u
#define MC_MAX_SHIFT 24u
#define MC_MIN_HASH_BITS 4u
#define MC_MAX_HASH_BITS 20u

/* Doubly linked list node for the LRU list. */
struct mc_link {
    struct mc_link *prev;
    struct mc_link *next;
};

struct iq_mc_entry {
    struct iq_mc_entry *hnext;
    struct iq_mc_entry **hpprev; /* NULL when not in the hash table */
    struct mc_link lru; /* next == NULL when not on the LRU */
    unsigned char *va;
    uint64_t key; /* bucket index or grant reference */
    size_t bytes;
    uint32_t npages;
    uint32_t pins;
    uint8_t cache;
    bool stale; /* invalidated while pinned */
    uint64_t valid[]; /* one bit per page: mapped */
};

/* Last entry handed out per cache; only valid while gen is unchanged. */
struct mc_hint {
    struct iq_mc_entry *entry;
    uint64_t gen;
};

struct iq_mc {
    const struct iq_mc_backend_ops *ops[IQ_MC_NR_CACHES];
    void *opaque[IQ_MC_NR_CACHES];
    size_t cap;
    unsigned shift;
    size_t bucket_bytes;
    uint32_t bucket_pages;
    uint32_t pin_limit;

    struct iq_mc_entry **heads;
    uint64_t hash_mask;
    uint64_t seed;

    struct mc_link lru; /* sentinel: next is MRU, prev is LRU */
    size_t lru_bytes; /* bytes held by entries on the LRU */

    /* Bumped whenever an entry leaves the hash table (hints die). */
    uint64_t gen;
    struct mc_hint hint[IQ_MC_NR_CACHES];

    uint64_t *frames; /* scratch, bucket_pages long */
    int *err;

    struct iq_mc_waiter *waiters; /* woken when pinned room is released */

    struct iq_mc_stats st;
};

static size_t
entry_words(uint32_t npages)
{
    return ((size_t)npages + 63) / 64;
}

static uint64_t
mix64(uint64_t x)
{
    /* A 64-bit finaliser (splitmix64 constants): keys are guest-chosen. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t
hash_slot(const struct iq_mc *mc, unsigned cache, uint64_t key)
{
    /* Keys are below 2^52, so the cache id in the top bits keeps them apart. */
    return mix64(key ^ ((uint64_t)cache << 60) ^ mc->seed) & mc->hash_mask;
}

static void
lru_unlink(struct iq_mc *mc, struct iq_mc_entry *e)
{
    if (e->lru.next == NULL) {
        return;
    }
    e->lru.prev->next = e->lru.next;
    e->lru.next->prev = e->lru.prev;
    e->lru.next = NULL;
    e->lru.prev = NULL;
    mc->lru_bytes -= e->bytes;
}

static void
lru_push_head(struct iq_mc *mc, struct iq_mc_entry *e)
{
    assert(e->lru.next == NULL);
    e->lru.next = mc->lru.next;
    e->lru.prev = &mc->lru;
    mc->lru.next->prev = &e->lru;
    mc->lru.next = &e->lru;
    mc->lru_bytes += e->bytes;
}

static void
hash_insert(struct iq_mc *mc, struct iq_mc_entry *e)
{
    struct iq_mc_entry **head = &mc->heads[hash_slot(mc, e->cache, e->key)];

    e->hnext = *head;
    if (*head != NULL) {
        (*head)->hpprev = &e->hnext;
    }
    *head = e;
    e->hpprev = head;
}

static void
hash_remove(struct iq_mc *mc, struct iq_mc_entry *e)
{
    if (e->hpprev == NULL) {
        return;
    }
    *e->hpprev = e->hnext;
    if (e->hnext != NULL) {
        e->hnext->hpprev = e->hpprev;
    }
    e->hnext = NULL;
    e->hpprev = NULL;
    /* Any hint may point at this entry: invalidate them all. */
    mc->gen++;
}

static struct iq_mc_entry *
hash_find(struct iq_mc *mc, unsigned cache, uint64_t key)
{
    struct mc_hint *h = &mc->hint[cache];
    struct iq_mc_entry *e;

    if (h->entry != NULL && h->gen == mc->gen && h->entry->key == key) {
        return h->entry;
    }
    for (e = mc->heads[hash_slot(mc, cache, key)]; e != NULL; e = e->hnext) {
        if (e->key == key && e->cache == cache) {
            return e;
        }
    }
    return NULL;
}

/*
 * Unmap and free an entry that is not pinned. If the backend cannot unmap,
 * the range is still mapped in this process, so its bytes stay counted in
 * bytes_mapped for good: the cap describes what is really mapped.
 */
static void
entry_drop(struct iq_mc *mc, struct iq_mc_entry *e)
{
    int rc;

    assert(e->pins == 0);
    hash_remove(mc, e);
    lru_unlink(mc, e);
    rc = mc->ops[e->cache]->unmap(mc->opaque[e->cache], e->va, e->npages);
    if (e->cache == IQ_MC_CACHE_FOREIGN) {
        mc->st.unmap_calls++;
    } else {
        mc->st.grant_unmaps++;
    }
    if (rc == 0) {
        mc->st.bytes_mapped -= e->bytes;
    }
    free(e);
}

static bool
room_for(const struct iq_mc *mc, size_t bytes)
{
    return mc->st.bytes_mapped <= mc->cap &&
           bytes <= mc->cap - mc->st.bytes_mapped;
}

/* Evict LRU entries until `bytes` more fit under the cap, or -EBUSY. */
static int
make_room(struct iq_mc *mc, size_t bytes)
{
    uint64_t pinned;

    if (room_for(mc, bytes)) {
        return 0;
    }
    /* Pinned, stale and leaked bytes cannot be reclaimed: decide up front. */
    pinned = mc->st.bytes_mapped - mc->lru_bytes;
    if (pinned > mc->cap || bytes > mc->cap - pinned) {
        mc->st.busy++;
        return -EBUSY;
    }
    while (!room_for(mc, bytes)) {
        struct mc_link *tail = mc->lru.prev;

        if (tail == &mc->lru) {
            /* Only reachable when an unmap failed during this loop. */
            mc->st.busy++;
            return -EBUSY;
        }
        entry_drop(mc, IQ_CONTAINER_OF(tail, struct iq_mc_entry, lru));
        mc->st.evictions++;
    }
    return 0;
}

static bool
pages_valid(const struct iq_mc_entry *e, uint32_t first, uint32_t last)
{
    uint32_t i = first;

    while (i <= last) {
        uint32_t bit = i % 64;
        uint32_t n = IQ_MIN(64 - bit, last - i + 1);
        uint64_t mask = (n == 64) ? ~0ull : (((1ull << n) - 1) << bit);

        if ((e->valid[i / 64] & mask) != mask) {
            return false;
        }
        i += n;
    }
    return true;
}

static int
backend_prot(unsigned cache)
{
    /* Foreign mappings are always read-write, like QEMU's; grants follow
     * the direction (xen-reference.md section 4). */
    return cache == IQ_MC_CACHE_GRANT_RO ? PROT_READ : PROT_READ | PROT_WRITE;
}

/* Map a new entry for (cache, key). Returns 0, -EBUSY, -EFAULT, -ENOMEM. */
static int
entry_create(struct iq_mc *mc, unsigned cache, uint64_t key,
             struct iq_mc_entry **out)
{
    uint32_t npages = cache == IQ_MC_CACHE_FOREIGN ? mc->bucket_pages : 1;
    size_t bytes = (size_t)npages << IQ_PAGE_SHIFT;
    struct iq_mc_entry *e;
    void *va;
    uint32_t i;
    int rc;

    rc = make_room(mc, bytes);
    if (rc < 0) {
        return rc;
    }
    e = calloc(1, sizeof(*e) + entry_words(npages) * sizeof(uint64_t));
    if (e == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < npages; i++) {
        /* A grant entry maps its reference; a bucket maps its gfns. */
        mc->frames[i] = cache == IQ_MC_CACHE_FOREIGN
                            ? (key << (mc->shift - IQ_PAGE_SHIFT)) + i
                            : key;
        mc->err[i] = -EFAULT;
    }
    va = mc->ops[cache]->map(mc->opaque[cache], mc->frames, npages,
                             backend_prot(cache), mc->err);
    if (cache == IQ_MC_CACHE_FOREIGN) {
        mc->st.map_calls++;
    } else {
        mc->st.grant_maps++;
    }
    if (va == NULL) {
        free(e);
        return -EFAULT;
    }
    for (i = 0; i < npages; i++) {
        if (mc->err[i] == 0) {
            e->valid[i / 64] |= 1ull << (i % 64);
        }
    }
    e->va = va;
    e->key = key;
    e->bytes = bytes;
    e->npages = npages;
    e->cache = (uint8_t)cache;
    hash_insert(mc, e);
    mc->st.bytes_mapped += bytes;
    if (mc->st.bytes_mapped > mc->st.bytes_mapped_peak) {
        mc->st.bytes_mapped_peak = mc->st.bytes_mapped;
    }
    *out = e;
    return 0;
}

static int
entry_pin(struct iq_mc *mc, struct iq_mc_entry *e)
{
    /* Explicit saturation: refuse rather than wrap (QEMU's uint8_t lock). */
    if (e->pins >= mc->pin_limit) {
        mc->st.busy++;
        return -EBUSY;
    }
    if (e->pins == 0) {
        lru_unlink(mc, e);
    }
    e->pins++;
    mc->st.pins++;
    return 0;
}

int
iq_mc_get(struct iq_mc *mc, const struct iq_mc_loc *loc, size_t len,
          struct iq_mc_entry **entry, void **hva)
{
    uint32_t first = (uint32_t)(loc->off >> IQ_PAGE_SHIFT);
    uint32_t last = (uint32_t)((loc->off + len - 1) >> IQ_PAGE_SHIFT);
    struct iq_mc_entry *e;
    bool fresh = false;
    int rc;

    assert(len > 0 && len <= loc->room);
    e = hash_find(mc, loc->cache, loc->key);
    if (e != NULL) {
        mc->st.hits++;
        if (!pages_valid(e, first, last)) {
            if (e->pins > 0) {
                return -EFAULT;
            }
            /*
             * The guest may have populated the hole since: remap the
             * unpinned entry rather than keep a stale hole forever.
             */
            entry_drop(mc, e);
            e = NULL;
        }
    }
    if (e == NULL) {
        mc->st.misses++;
        rc = entry_create(mc, loc->cache, loc->key, &e);
        if (rc < 0) {
            return rc;
        }
        fresh = true;
        if (!pages_valid(e, first, last)) {
            /* Keep the valid part cached for other accesses. */
            lru_push_head(mc, e);
            return -EFAULT;
        }
    }
    rc = entry_pin(mc, e);
    if (rc < 0) {
        if (fresh) {
            lru_push_head(mc, e);
        }
        return rc;
    }
    mc->hint[loc->cache].entry = e;
    mc->hint[loc->cache].gen = mc->gen;
    *entry = e;
    *hva = e->va + loc->off;
    return 0;
}

/* Bytes that eviction cannot reclaim: pinned, stale or leaked. */
static uint64_t
held_bytes(const struct iq_mc *mc)
{
    return mc->st.bytes_mapped - mc->lru_bytes;
}

/* Run (and unregister) every waiter whose reference point was passed. */
static void
wake_waiters(struct iq_mc *mc)
{
    struct iq_mc_waiter **pp = &mc->waiters;
    uint64_t held = held_bytes(mc);

    while (*pp != NULL) {
        struct iq_mc_waiter *w = *pp;

        if (held < w->held_) {
            *pp = w->next_;
            w->next_ = NULL;
            w->queued_ = false;
            w->cb(w->opaque);
        } else {
            pp = &w->next_;
        }
    }
}

void
iq_mc_wait(struct iq_mc *mc, struct iq_mc_waiter *w)
{
    w->held_ = held_bytes(mc);
    if (w->queued_) {
        return;
    }
    w->queued_ = true;
    w->next_ = mc->waiters;
    mc->waiters = w;
}

void
iq_mc_wait_cancel(struct iq_mc *mc, struct iq_mc_waiter *w)
{
    if (mc == NULL || w == NULL || !w->queued_) {
        return;
    }
    for (struct iq_mc_waiter **pp = &mc->waiters; *pp != NULL;
         pp = &(*pp)->next_) {
        if (*pp == w) {
            *pp = w->next_;
            break;
        }
    }
    w->next_ = NULL;
    w->queued_ = false;
}

void
iq_mc_put(struct iq_mc *mc, struct iq_mc_entry *e)
{
    assert(e->pins > 0 && mc->st.pins > 0);
    e->pins--;
    mc->st.pins--;
    if (e->pins > 0) {
        return;
    }
    if (e->stale) {
        entry_drop(mc, e);
    } else {
        lru_push_head(mc, e);
    }
    if (mc->waiters != NULL) {
        wake_waiters(mc);
    }
}

int
iq_mc_locate(const struct iq_mc *mc, gpa_t gpa, enum iq_mc_prot prot,
             struct iq_mc_loc *loc)
{
    if (prot != IQ_MC_READ && prot != IQ_MC_WRITE) {
        return -EINVAL;
    }
    if (gpa & IQ_MC_GRANT_BIT) {
        /* Grants without a grant backend are a bad guest address. */
        if (mc->ops[IQ_MC_CACHE_GRANT_RO] == NULL) {
            return -EFAULT;
        }
        loc->cache =
            prot == IQ_MC_READ ? IQ_MC_CACHE_GRANT_RO : IQ_MC_CACHE_GRANT_RW;
        loc->key = (gpa & ~IQ_MC_GRANT_BIT) >> IQ_PAGE_SHIFT;
        loc->off = (size_t)(gpa & (IQ_PAGE_SIZE - 1));
        loc->room = IQ_PAGE_SIZE - loc->off;
        return 0;
    }
    loc->cache = IQ_MC_CACHE_FOREIGN;
    loc->key = gpa >> mc->shift;
    loc->off = (size_t)(gpa & (mc->bucket_bytes - 1));
    loc->room = mc->bucket_bytes - loc->off;
    return 0;
}

int
iq_mc_check_range(gpa_t gpa, size_t len)
{
    uint64_t last;

    if (len == 0) {
        return 0;
    }
    if (__builtin_add_overflow(gpa, (uint64_t)len - 1, &last)) {
        return -EINVAL;
    }
    /* A range may not run from guest-physical into grant space. */
    if ((gpa ^ last) & IQ_MC_GRANT_BIT) {
        return -EINVAL;
    }
    return 0;
}

void
iq_mc_test_set_pin_limit(struct iq_mc *mc, uint32_t limit)
{
    mc->pin_limit = limit;
}

static bool
ops_ok(const struct iq_mc_backend_ops *ops)
{
    return ops->map != NULL && ops->unmap != NULL;
}

static uint64_t
pick_seed(const struct iq_mc *mc)
{
    uint64_t seed = 0;
    struct timespec ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed)) {
        return seed;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64((uint64_t)(uintptr_t)mc ^ (uint64_t)ts.tv_nsec);
}

int
iq_mc_create(const struct iq_mc_config *cfg, struct iq_mc **out)
{
    struct iq_mc *mc;
    unsigned shift;
    size_t cap;
    size_t max_entries;
    unsigned bits;

    if (cfg == NULL || out == NULL || cfg->foreign == NULL ||
        !ops_ok(cfg->foreign) || (cfg->grant != NULL && !ops_ok(cfg->grant))) {
        return -EINVAL;
    }
    shift = cfg->bucket_shift == 0 ? MC_DEFAULT_SHIFT : cfg->bucket_shift;
    if (shift < MC_MIN_SHIFT || shift > MC_MAX_SHIFT) {
        return -EINVAL;
    }
    cap = cfg->cap_bytes == 0 ? IQ_MC_DEFAULT_CAP : cfg->cap_bytes;
    if (cap < ((size_t)1 << shift)) {
        return -EINVAL;
    }

    mc = calloc(1, sizeof(*mc));
    if (mc == NULL) {
        return -ENOMEM;
    }
    mc->ops[IQ_MC_CACHE_FOREIGN] = cfg->foreign;
    mc->opaque[IQ_MC_CACHE_FOREIGN] = cfg->foreign_opaque;
    mc->ops[IQ_MC_CACHE_GRANT_RO] = cfg->grant;
    mc->opaque[IQ_MC_CACHE_GRANT_RO] = cfg->grant_opaque;
    mc->ops[IQ_MC_CACHE_GRANT_RW] = cfg->grant;
    mc->opaque[IQ_MC_CACHE_GRANT_RW] = cfg->grant_opaque;
    mc->cap = cap;
    mc->shift = shift;
    mc->bucket_bytes = (size_t)1 << shift;
    mc->bucket_pages = (uint32_t)(mc->bucket_bytes >> IQ_PAGE_SHIFT);
    mc->pin_limit = UINT32_MAX;
    mc->lru.next = &mc->lru;
    mc->lru.prev = &mc->lru;
    mc->seed = pick_seed(mc);

    /* Size the table for the most entries the cap allows: chains stay short. */
    max_entries = cfg->grant != NULL ? cap >> IQ_PAGE_SHIFT : cap >> shift;
    bits = MC_MIN_HASH_BITS;
    while (bits < MC_MAX_HASH_BITS && ((size_t)1 << bits) < max_entries) {
        bits++;
    }
    mc->hash_mask = ((uint64_t)1 << bits) - 1;
    mc->heads = calloc((size_t)1 << bits, sizeof(*mc->heads));
    mc->frames = calloc(mc->bucket_pages, sizeof(*mc->frames));
    mc->err = calloc(mc->bucket_pages, sizeof(*mc->err));
    if (mc->heads == NULL || mc->frames == NULL || mc->err == NULL) {
        iq_mc_destroy(mc);
        return -ENOMEM;
    }
    *out = mc;
    return 0;
}

void
iq_mc_destroy(struct iq_mc *mc)
{
    uint64_t i;

    if (mc == NULL) {
        return;
    }
    /* A leaked pin is a bug in this process, not something a guest does. */
    assert(mc->st.pins == 0);
    if (mc->heads != NULL) {
        for (i = 0; i <= mc->hash_mask; i++) {
            while (mc->heads[i] != NULL) {
                entry_drop(mc, mc->heads[i]);
            }
        }
    }
    free(mc->heads);
    free(mc->frames);
    free(mc->err);
    free(mc);
}

void
iq_mc_invalidate(struct iq_mc *mc)
{
    uint64_t i;

    mc->st.invalidations++;
    for (i = 0; i <= mc->hash_mask; i++) {
        struct iq_mc_entry *e = mc->heads[i];

        while (e != NULL) {
            struct iq_mc_entry *next = e->hnext;

            if (e->pins == 0) {
                entry_drop(mc, e);
            } else {
                /* Out of the table: never found again, dropped at unpin. */
                hash_remove(mc, e);
                e->stale = true;
            }
            e = next;
        }
    }
    mc->gen++;
    memset(mc->hint, 0, sizeof(mc->hint));
}

void
iq_mc_get_stats(const struct iq_mc *mc, struct iq_mc_stats *st)
{
    *st = mc->st;
}

size_t
iq_mc_cap_bytes(const struct iq_mc *mc)
{
    return mc->cap;
}

size_t
iq_mc_bucket_bytes(const struct iq_mc *mc)
{
    return mc->bucket_bytes;
}
