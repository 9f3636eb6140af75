/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Xen mapcache backends: foreign mapping through libxenforeignmemory
 * (xenforeignmemory_map2 with a per-page err[]) and grant mapping through
 * libxengnttab. Only this file of mapcache/ includes Xen headers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <xenforeignmemory.h>
#include <xengnttab.h>

#include "ioreqd/err.h"
#include "ioreqd/mapcache.h"

/* The largest bucket (shift 24) is 4096 pages; grants map one at a time. */
#define FMEM_MAX_PAGES 4096u
/*
 * Grants mappable at once through our gntdev handle: 256 MiB worth, above
 * any sensible cap (the mapcache bounds what is really mapped).
 */
#define FMEM_MAX_GRANTS 65536u

struct iq_mc_xen {
    xenforeignmemory_handle *fmem;
    xengnttab_handle *xgt;
    uint16_t domid;
    xen_pfn_t pfns[FMEM_MAX_PAGES]; /* xen_pfn_t differs per arch */
    uint32_t refs[FMEM_MAX_PAGES];
};

static void
fill_err(int *err, size_t n, int e)
{
    size_t i;

    for (i = 0; i < n; i++) {
        err[i] = e;
    }
}

static void *
foreign_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct iq_mc_xen *x = opaque;
    void *va;
    size_t i;
    int e;

    if (n == 0 || n > FMEM_MAX_PAGES) {
        fill_err(err, n, -EINVAL);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        x->pfns[i] = (xen_pfn_t)frames[i];
    }
    va = xenforeignmemory_map2(x->fmem, x->domid, NULL, prot, 0, n, x->pfns,
                               err);
    if (va == NULL) {
        /* Complete failure: err[] is not valid, errno is. */
        e = IQ_NEG_ERRNO();
        fill_err(err, n, e);
        return NULL;
    }
    /* Per-page errors are errno values; normalise them to -errno. */
    for (i = 0; i < n; i++) {
        if (err[i] > 0) {
            err[i] = -err[i];
        }
    }
    return va;
}

static int
foreign_unmap(void *opaque, void *va, size_t n)
{
    struct iq_mc_xen *x = opaque;

    if (xenforeignmemory_unmap(x->fmem, va, n) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

static void *
grant_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct iq_mc_xen *x = opaque;
    void *va;
    size_t i;
    int e;

    if (n == 0 || n > FMEM_MAX_PAGES) {
        fill_err(err, n, -EINVAL);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        /* Guest-derived: a grant reference is 32 bits. */
        if (frames[i] > UINT32_MAX) {
            fill_err(err, n, -EINVAL);
            return NULL;
        }
        x->refs[i] = (uint32_t)frames[i];
    }
    /* All or nothing: no per-page errors for grant maps. */
    va = xengnttab_map_domain_grant_refs(x->xgt, (uint32_t)n, x->domid, x->refs,
                                         prot);
    if (va == NULL) {
        e = IQ_NEG_ERRNO();
        fill_err(err, n, e);
        return NULL;
    }
    fill_err(err, n, 0);
    return va;
}

static int
grant_unmap(void *opaque, void *va, size_t n)
{
    struct iq_mc_xen *x = opaque;

    if (xengnttab_unmap(x->xgt, va, (uint32_t)n) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

static const struct iq_mc_backend_ops xen_foreign_mc_ops = {
    .map = foreign_map,
    .unmap = foreign_unmap,
};

static const struct iq_mc_backend_ops xen_grant_mc_ops = {
    .map = grant_map,
    .unmap = grant_unmap,
};

int
iq_mc_xen_open(uint16_t domid, bool grants, struct iq_mc_xen **out)
{
    struct iq_mc_xen *x;
    int rc;

    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->domid = domid;
    x->fmem = xenforeignmemory_open(NULL, 0);
    if (x->fmem == NULL) {
        rc = IQ_NEG_ERRNO();
        iq_mc_xen_close(x);
        return rc;
    }
    if (grants) {
        x->xgt = xengnttab_open(NULL, 0);
        if (x->xgt == NULL) {
            rc = IQ_NEG_ERRNO();
            iq_mc_xen_close(x);
            return rc;
        }
        /* Must come before any other use of the handle (xengnttab.h). */
        if (xengnttab_set_max_grants(x->xgt, FMEM_MAX_GRANTS) < 0) {
            rc = IQ_NEG_ERRNO();
            iq_mc_xen_close(x);
            return rc;
        }
    }
    *out = x;
    return 0;
}

void
iq_mc_xen_close(struct iq_mc_xen *x)
{
    if (x == NULL) {
        return;
    }
    if (x->xgt != NULL) {
        xengnttab_close(x->xgt);
    }
    if (x->fmem != NULL) {
        xenforeignmemory_close(x->fmem);
    }
    free(x);
}

void
iq_mc_xen_backends(struct iq_mc_xen *x, struct iq_mc_config *cfg)
{
    cfg->foreign = &xen_foreign_mc_ops;
    cfg->foreign_opaque = x;
    cfg->grant = x->xgt != NULL ? &xen_grant_mc_ops : NULL;
    cfg->grant_opaque = x->xgt != NULL ? x : NULL;
}
