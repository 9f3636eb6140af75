/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The region table: for each address space a sorted array of disjoint
 * regions, searched by binary search. Devices register a handful of regions
 * and re-register on BAR moves, so inserts are rare and a sorted array
 * keeps lookups O(log n) and cache-friendly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/err.h"

#include "ioreq-internal.h"

#define TABLE_MIN_CAP 8u
#define PIO_LAST_PORT 0xffffu

void
iq_ioreq_ctx_init(struct iq_ioreq_ctx *ctx, enum iq_arch arch, uint16_t domid,
                  const struct iq_gmem_ops *gmem, void *gmem_opaque)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->arch = arch;
    ctx->gmem = gmem;
    ctx->gmem_opaque = gmem_opaque;
    snprintf(ctx->name, sizeof(ctx->name), "dom%u ioreq", (unsigned)domid);
}

void
iq_ioreq_ctx_fini(struct iq_ioreq_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    for (unsigned s = 0; s < IQ_NR_SPACES; s++) {
        struct iq_region_table *t = &ctx->tab[s];

        for (size_t i = 0; i < t->n; i++) {
            free(t->v[i]);
        }
        free(t->v);
        t->v = NULL;
        t->n = 0;
        t->cap = 0;
    }
    ctx->gen++;
}

/* Number of regions whose key is below `key` (the insertion point). */
static size_t
lower_bound(const struct iq_region_table *t, uint64_t key)
{
    size_t lo = 0;
    size_t hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->v[mid]->key < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Table coordinates of a region, or -EINVAL. */
static int
region_keys(enum iq_space space, uint64_t start, uint64_t size, uint64_t *key,
            uint64_t *last)
{
    if (size == 0) {
        return -EINVAL;
    }
    switch (space) {
    case IQ_SPACE_MMIO:
    case IQ_SPACE_PIO:
        /* start + size may equal 2^64: compare against the last byte. */
        if (iq_add_overflow_u64(start, size - 1, last)) {
            return -EINVAL;
        }
        if (space == IQ_SPACE_PIO && *last > PIO_LAST_PORT) {
            return -EINVAL;
        }
        *key = start;
        return 0;
    case IQ_SPACE_PCI:
        if (size != IQ_PCI_CFG_SPACE_SIZE || start > UINT32_MAX) {
            return -EINVAL;
        }
        *key = iq_pci_cfg_key((uint32_t)start, 0);
        *last = *key + IQ_PCI_CFG_SPACE_SIZE - 1u;
        return 0;
    }
    return -EINVAL;
}

int
iq_ioreq_region_add(struct iq_ioreq_ctx *ctx, enum iq_space space,
                    uint64_t start, uint64_t size,
                    const struct iq_region_ops *ops, void *opaque,
                    struct iq_region **out)
{
    struct iq_region_table *t;
    struct iq_region *r;
    uint64_t key;
    uint64_t last;
    size_t pos;
    int rc;

    *out = NULL;
    if ((unsigned)space >= IQ_NR_SPACES || ops == NULL || ops->read == NULL ||
        ops->write == NULL) {
        return -EINVAL;
    }
    rc = region_keys(space, start, size, &key, &last);
    if (rc < 0) {
        return rc;
    }
    t = &ctx->tab[space];
    pos = lower_bound(t, key);
    if (pos > 0 && t->v[pos - 1]->last >= key) {
        return -EEXIST;
    }
    if (pos < t->n && t->v[pos]->key <= last) {
        return -EEXIST;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : TABLE_MIN_CAP;
        size_t bytes;
        struct iq_region **nv;

        if (iq_mul_overflow_size(ncap, sizeof(*nv), &bytes)) {
            return -ENOMEM;
        }
        nv = realloc(t->v, bytes);
        if (nv == NULL) {
            return -ENOMEM;
        }
        t->v = nv;
        t->cap = ncap;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->space = space;
    r->start = start;
    r->size = size;
    r->key = key;
    r->last = last;
    r->ops = ops;
    r->opaque = opaque;
    memmove(&t->v[pos + 1], &t->v[pos], (t->n - pos) * sizeof(t->v[0]));
    t->v[pos] = r;
    t->n++;
    ctx->gen++;
    *out = r;
    return 0;
}

void
iq_ioreq_region_del(struct iq_ioreq_ctx *ctx, struct iq_region *region)
{
    struct iq_region_table *t;
    size_t pos;

    if (region == NULL || (unsigned)region->space >= IQ_NR_SPACES) {
        return;
    }
    t = &ctx->tab[region->space];
    pos = lower_bound(t, region->key);
    if (pos >= t->n || t->v[pos] != region) {
        return;
    }
    memmove(&t->v[pos], &t->v[pos + 1], (t->n - pos - 1) * sizeof(t->v[0]));
    t->n--;
    ctx->gen++;
    free(region);
}

struct iq_region *
iq_ioreq_region_find(const struct iq_ioreq_ctx *ctx, enum iq_space space,
                     uint64_t key, uint64_t len)
{
    const struct iq_region_table *t;
    uint64_t end;
    size_t pos;

    if ((unsigned)space >= IQ_NR_SPACES || len == 0 ||
        iq_add_overflow_u64(key, len - 1, &end)) {
        return NULL;
    }
    t = &ctx->tab[space];
    /* The candidate is the last region starting at or below `key`. */
    pos = lower_bound(t, key);
    if (pos < t->n && t->v[pos]->key == key) {
        pos++;
    }
    if (pos == 0) {
        return NULL;
    }
    if (t->v[pos - 1]->last >= end) {
        return t->v[pos - 1];
    }
    return NULL;
}

size_t
iq_ioreq_region_count(const struct iq_ioreq_ctx *ctx, enum iq_space space)
{
    if ((unsigned)space >= IQ_NR_SPACES) {
        return 0;
    }
    return ctx->tab[space].n;
}
