/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake libxenforeignmemory.so.1: guest pages are mmapped straight from the
 * simulator's RAM memfd; the ioreq pages come from the simulator as fds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>
#include <xen/memory.h>

#include "fakexen-proto.h"

struct xenforeignmemory_handle {
    struct fx_conn c;
    int ram_fd;
    struct fx_active_handle ah;
    bool restricted;
    domid_t rdomid;
};

struct xenforeignmemory_resource_handle {
    void *addr;
    size_t nr;
};

static int
fm_restrict_cb(struct fx_active_handle *ah, uint16_t domid)
{
    xenforeignmemory_handle *h =
        FX_CONTAINER_OF(ah, xenforeignmemory_handle, ah);

    return xenforeignmemory_restrict(h, domid);
}

xenforeignmemory_handle *
xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags)
{
    xenforeignmemory_handle *h;

    (void)logger;
    (void)open_flags;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->ram_fd = -1;
    if (iq_fx_conn_open_fd(&h->c, FX_KIND_FMEM, &h->ram_fd) < 0) {
        return iq_fx_open_failed(h);
    }
    h->ah.restrict_callback = fm_restrict_cb;
    xentoolcore__register_active_handle(&h->ah);
    return h;
}

int
xenforeignmemory_close(xenforeignmemory_handle *fmem)
{
    if (fmem == NULL) {
        return 0;
    }
    xentoolcore__deregister_active_handle(&fmem->ah);
    close(fmem->ram_fd);
    iq_fx_conn_close(&fmem->c);
    free(fmem);
    return 0;
}

static int
check_dom(xenforeignmemory_handle *h, uint32_t dom)
{
    if (h->restricted && dom != h->rdomid) {
        return EPERM;
    }
    if (dom != h->c.lay.domid ||
        __atomic_load_n(&h->c.sh->dead, __ATOMIC_ACQUIRE) != 0) {
        return ESRCH;
    }
    return 0;
}

static void
pages_add(struct fx_shared *sh, uint64_t n)
{
    uint64_t now =
        __atomic_add_fetch(&sh->foreign_pages_now, n, __ATOMIC_ACQ_REL);
    uint64_t peak = __atomic_load_n(&sh->foreign_pages_peak, __ATOMIC_ACQUIRE);

    while (now > peak && !__atomic_compare_exchange_n(
                             &sh->foreign_pages_peak, &peak, now, false,
                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    }
}

void *
xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom, void *addr,
                      int prot, int flags, size_t pages, const xen_pfn_t arr[],
                      int err[])
{
    struct fx_shared *sh = fmem->c.sh;
    uint64_t bad;
    uint8_t *base;
    size_t nfail = 0;
    int first_err = 0;
    size_t i;
    int e;

    __atomic_add_fetch(&sh->foreign_map_calls, 1, __ATOMIC_RELAXED);
    e = check_dom(fmem, dom);
    if (e == 0 && (pages == 0 || pages > SIZE_MAX / FX_PAGE)) {
        e = EINVAL;
    }
    if (e == 0 && fx_fault_take(&sh->fault_map_fail)) {
        e = ENOMEM;
    }
    if (e != 0) {
        errno = e;
        return NULL;
    }
    base =
        mmap(addr, pages * FX_PAGE, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & MAP_FIXED),
             -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    bad = __atomic_load_n(&sh->fault_map_gfn, __ATOMIC_ACQUIRE);
    i = 0;
    while (i < pages) {
        int64_t off = fx_gfn_offset(&fmem->c.lay, arr[i]);
        size_t j;

        if (off < 0 || arr[i] == bad) {
            if (err != NULL) {
                err[i] = -EFAULT;
            }
            if (first_err == 0) {
                first_err = EFAULT;
            }
            nfail++;
            i++;
            continue;
        }
        for (j = i + 1; j < pages; j++) {
            if (arr[j] != arr[j - 1] + 1 || arr[j] == bad ||
                fx_gfn_offset(&fmem->c.lay, arr[j]) !=
                    off + (int64_t)((j - i) * FX_PAGE)) {
                break;
            }
        }
        if (mmap(base + i * FX_PAGE, (j - i) * FX_PAGE, prot,
                 MAP_SHARED | MAP_FIXED, fmem->ram_fd, off) == MAP_FAILED) {
            int me = errno;

            if (first_err == 0) {
                first_err = me;
            }
            for (; i < j; i++) {
                if (err != NULL) {
                    err[i] = -me;
                }
                nfail++;
            }
            continue;
        }
        for (; i < j; i++) {
            if (err != NULL) {
                err[i] = 0;
            }
        }
    }
    if (err == NULL && nfail != 0) {
        munmap(base, pages * FX_PAGE);
        errno = first_err;
        return NULL;
    }
    pages_add(sh, pages);
    return base;
}

void *
xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot,
                     size_t pages, const xen_pfn_t arr[], int err[])
{
    return xenforeignmemory_map2(fmem, dom, NULL, prot, 0, pages, arr, err);
}

int
xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages)
{
    struct fx_shared *sh = fmem->c.sh;

    if (addr == NULL || pages == 0 || pages > SIZE_MAX / FX_PAGE) {
        errno = EINVAL;
        return -1;
    }
    if (munmap(addr, pages * FX_PAGE) < 0) {
        return -1;
    }
    __atomic_add_fetch(&sh->foreign_unmap_calls, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&sh->foreign_pages_now, pages, __ATOMIC_ACQ_REL);
    return 0;
}

int
xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid)
{
    return iq_fx_restrict(&fmem->restricted, &fmem->rdomid, domid);
}

xenforeignmemory_resource_handle *
xenforeignmemory_map_resource(xenforeignmemory_handle *fmem, domid_t domid,
                              unsigned int type, unsigned int id,
                              unsigned long frame, unsigned long nr_frames,
                              void **paddr, int prot, int flags)
{
    xenforeignmemory_resource_handle *res;
    struct fx_msg m;
    int fds[FX_MAX_FDS];
    int nfds = FX_MAX_FDS;
    uint8_t *base;
    unsigned long k;
    int r;
    int i;

    if (type != XENMEM_resource_ioreq_server) {
        errno = EOPNOTSUPP;
        return NULL;
    }
    if (fmem->restricted && domid != fmem->rdomid) {
        errno = EPERM;
        return NULL;
    }
    memset(&m, 0, sizeof(m));
    m.op = FX_OP_RES_MAP;
    m.a[0] = domid;
    m.a[1] = id;
    m.a[2] = frame;
    m.a[3] = nr_frames;
    r = iq_fx_call(&fmem->c, &m, NULL, 0, NULL, 0, NULL, fds, &nfds);
    if (r < 0 || (unsigned long)nfds != nr_frames) {
        for (i = 0; r == 0 && i < nfds; i++) {
            close(fds[i]);
        }
        errno = r < 0 ? -r : EPROTO;
        return NULL;
    }
    res = calloc(1, sizeof(*res));
    base = mmap(*paddr, nr_frames * FX_PAGE, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
    if (res == NULL || base == MAP_FAILED) {
        r = res == NULL ? ENOMEM : errno;
        goto fail;
    }
    for (k = 0; k < nr_frames; k++) {
        if (mmap(base + k * FX_PAGE, FX_PAGE, prot, MAP_SHARED | MAP_FIXED,
                 fds[k], 0) == MAP_FAILED) {
            r = errno;
            munmap(base, nr_frames * FX_PAGE);
            goto fail;
        }
    }
    for (i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    res->addr = base;
    res->nr = nr_frames;
    *paddr = base;
    __atomic_add_fetch(&fmem->c.sh->resource_maps_now, nr_frames,
                       __ATOMIC_ACQ_REL);
    return res;

fail:
    for (i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    free(res);
    errno = r;
    return NULL;
}

int
xenforeignmemory_unmap_resource(xenforeignmemory_handle *fmem,
                                xenforeignmemory_resource_handle *fres)
{
    if (fres == NULL) {
        return 0;
    }
    munmap(fres->addr, fres->nr * FX_PAGE);
    __atomic_sub_fetch(&fmem->c.sh->resource_maps_now, fres->nr,
                       __ATOMIC_ACQ_REL);
    free(fres);
    return 0;
}

int
xenforeignmemory_resource_size(xenforeignmemory_handle *fmem, domid_t domid,
                               unsigned int type, unsigned int id, size_t *size)
{
    struct fx_msg m;

    if (type != XENMEM_resource_ioreq_server) {
        errno = EOPNOTSUPP;
        return -1;
    }
    memset(&m, 0, sizeof(m));
    m.op = FX_OP_RES_SIZE;
    m.a[0] = domid;
    m.a[1] = id;
    if (iq_fx_call_simple(&fmem->c, &m) < 0) {
        return -1;
    }
    *size = (size_t)m.a[0];
    return 0;
}
