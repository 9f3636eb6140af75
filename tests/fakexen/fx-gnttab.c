/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake libxengnttab.so.1: the simulator resolves refs to gfns (checking
 * validity and read-only grants), the pages are mmapped from guest RAM.
 * A call fails whole when any ref fails, like gntdev.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xengnttab.h>

#include "fakexen-proto.h"

struct xengntdev_handle {
    struct fx_conn c;
    int ram_fd;
};

xengnttab_handle *
xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
    xengnttab_handle *h;

    (void)logger;
    (void)open_flags;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->ram_fd = -1;
    if (iq_fx_conn_open_fd(&h->c, FX_KIND_GNT, &h->ram_fd) < 0) {
        return iq_fx_open_failed(h);
    }
    return h;
}

int
xengnttab_close(xengnttab_handle *xgt)
{
    if (xgt == NULL) {
        return 0;
    }
    close(xgt->ram_fd);
    iq_fx_conn_close(&xgt->c);
    free(xgt);
    return 0;
}

int
xengnttab_fd(xengnttab_handle *xgt)
{
    return xgt->c.fd;
}

void *
xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
                                uint32_t domid, uint32_t *refs, int prot)
{
    struct fx_msg m;
    uint64_t *gfns = NULL;
    uint8_t *base = MAP_FAILED;
    size_t rlen = 0;
    uint32_t i;
    int r;

    __atomic_add_fetch(&xgt->c.sh->grant_map_calls, 1, __ATOMIC_RELAXED);
    if (count == 0 || count > FX_MAX_GRANT_REFS) {
        errno = EINVAL;
        return NULL;
    }
    gfns = malloc(count * sizeof(*gfns));
    if (gfns == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(&m, 0, sizeof(m));
    m.op = FX_OP_GNT_MAP;
    m.a[0] = domid;
    m.a[1] = count;
    m.a[2] = (prot & PROT_WRITE) != 0;
    r = iq_fx_call(&xgt->c, &m, refs, count * sizeof(*refs), gfns,
                   count * sizeof(*gfns), &rlen, NULL, NULL);
    if (r == 0 && rlen != count * sizeof(*gfns)) {
        r = -EPROTO;
    }
    if (r < 0) {
        goto fail;
    }
    base = mmap(NULL, (size_t)count * FX_PAGE, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        r = -errno;
        goto fail;
    }
    for (i = 0; i < count; i++) {
        int64_t off = fx_gfn_offset(&xgt->c.lay, gfns[i]);

        if (off < 0 ||
            mmap(base + (size_t)i * FX_PAGE, FX_PAGE, prot,
                 MAP_SHARED | MAP_FIXED, xgt->ram_fd, off) == MAP_FAILED) {
            r = off < 0 ? -EFAULT : -errno;
            munmap(base, (size_t)count * FX_PAGE);
            goto fail;
        }
    }
    free(gfns);
    __atomic_add_fetch(&xgt->c.sh->grant_pages_now, count, __ATOMIC_ACQ_REL);
    return base;

fail:
    free(gfns);
    errno = -r;
    return NULL;
}

void *
xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref,
                        int prot)
{
    return xengnttab_map_domain_grant_refs(xgt, 1, domid, &ref, prot);
}

void *
xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
                         uint32_t *domids, uint32_t *refs, int prot)
{
    uint32_t i;

    for (i = 1; i < count; i++) {
        if (domids[i] != domids[0]) {
            /* One guest per simulator: mixed domains cannot all exist. */
            errno = ESRCH;
            return NULL;
        }
    }
    return xengnttab_map_domain_grant_refs(
        xgt, count, count != 0 ? domids[0] : 0, refs, prot);
}

void *
xengnttab_map_grant_ref_notify(xengnttab_handle *xgt, uint32_t domid,
                               uint32_t ref, int prot, uint32_t notify_offset,
                               evtchn_port_t notify_port)
{
    (void)xgt;
    (void)domid;
    (void)ref;
    (void)prot;
    (void)notify_offset;
    (void)notify_port;
    errno = ENOSYS;
    return NULL;
}

int
xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
    if (start_address == NULL || count == 0) {
        errno = EINVAL;
        return -1;
    }
    if (munmap(start_address, (size_t)count * FX_PAGE) < 0) {
        return -1;
    }
    __atomic_sub_fetch(&xgt->c.sh->grant_pages_now, count, __ATOMIC_ACQ_REL);
    return 0;
}

int
xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
    (void)xgt;
    (void)nr_grants;
    return 0;
}

int
xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
                     xengnttab_grant_copy_segment_t *segs)
{
    (void)xgt;
    (void)count;
    (void)segs;
    errno = ENOSYS;
    return -1;
}

int
xengnttab_dmabuf_exp_from_refs(xengnttab_handle *xgt, uint32_t domid,
                               uint32_t flags, uint32_t count,
                               const uint32_t *refs, uint32_t *fd)
{
    (void)xgt;
    (void)domid;
    (void)flags;
    (void)count;
    (void)refs;
    (void)fd;
    errno = ENOSYS;
    return -1;
}

int
xengnttab_dmabuf_exp_wait_released(xengnttab_handle *xgt, uint32_t fd,
                                   uint32_t wait_to_ms)
{
    (void)xgt;
    (void)fd;
    (void)wait_to_ms;
    errno = ENOSYS;
    return -1;
}

int
xengnttab_dmabuf_imp_to_refs(xengnttab_handle *xgt, uint32_t domid, uint32_t fd,
                             uint32_t count, uint32_t *refs)
{
    (void)xgt;
    (void)domid;
    (void)fd;
    (void)count;
    (void)refs;
    errno = ENOSYS;
    return -1;
}

int
xengnttab_dmabuf_imp_release(xengnttab_handle *xgt, uint32_t fd)
{
    (void)xgt;
    (void)fd;
    errno = ENOSYS;
    return -1;
}

xengntshr_handle *
xengntshr_open(struct xentoollog_logger *logger, unsigned open_flags)
{
    (void)logger;
    (void)open_flags;
    errno = ENOSYS;
    return NULL;
}

int
xengntshr_close(xengntshr_handle *xgs)
{
    (void)xgs;
    return 0;
}

int
xengntshr_fd(xengntshr_handle *xgs)
{
    (void)xgs;
    errno = ENOSYS;
    return -1;
}

void *
xengntshr_share_pages(xengntshr_handle *xgs, uint32_t domid, int count,
                      uint32_t *refs, int writable)
{
    (void)xgs;
    (void)domid;
    (void)count;
    (void)refs;
    (void)writable;
    errno = ENOSYS;
    return NULL;
}

void *
xengntshr_share_page_notify(xengntshr_handle *xgs, uint32_t domid,
                            uint32_t *ref, int writable, uint32_t notify_offset,
                            evtchn_port_t notify_port)
{
    (void)xgs;
    (void)domid;
    (void)ref;
    (void)writable;
    (void)notify_offset;
    (void)notify_port;
    errno = ENOSYS;
    return NULL;
}

int
xengntshr_unshare(xengntshr_handle *xgs, void *start_address, uint32_t count)
{
    (void)xgs;
    (void)start_address;
    (void)count;
    errno = ENOSYS;
    return -1;
}
