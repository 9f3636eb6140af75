/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake libxendevicemodel.so.1: every dm_op is one request to the simulator.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xendevicemodel.h>

#include "fakexen-proto.h"

struct xendevicemodel_handle {
    struct fx_conn c;
    struct fx_active_handle ah;
    bool restricted;
    domid_t rdomid;
};

static int
dm_restrict_cb(struct fx_active_handle *ah, uint16_t domid)
{
    xendevicemodel_handle *h = FX_CONTAINER_OF(ah, xendevicemodel_handle, ah);

    return xendevicemodel_restrict(h, domid);
}

xendevicemodel_handle *
xendevicemodel_open(struct xentoollog_logger *logger, unsigned int open_flags)
{
    xendevicemodel_handle *h;

    (void)logger;
    (void)open_flags;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    if (iq_fx_conn_open(&h->c, FX_KIND_DMOD, NULL, NULL) < 0) {
        return iq_fx_open_failed(h);
    }
    h->ah.restrict_callback = dm_restrict_cb;
    xentoolcore__register_active_handle(&h->ah);
    return h;
}

int
xendevicemodel_close(xendevicemodel_handle *dmod)
{
    if (dmod == NULL) {
        return 0;
    }
    xentoolcore__deregister_active_handle(&dmod->ah);
    iq_fx_conn_close(&dmod->c);
    free(dmod);
    return 0;
}

static int
dm_call(xendevicemodel_handle *h, uint32_t op, domid_t domid, struct fx_msg *m)
{
    if (h->restricted && domid != h->rdomid) {
        errno = EPERM;
        return -1;
    }
    m->op = op;
    m->a[0] = domid;
    return iq_fx_call_simple(&h->c, m);
}

int
xendevicemodel_create_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                   int handle_bufioreq, ioservid_t *id)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = (uint64_t)(int64_t)handle_bufioreq;
    if (handle_bufioreq < 0) {
        m.a[1] = 0xff;
    }
    if (dm_call(dmod, FX_OP_DM_CREATE, domid, &m) < 0) {
        return -1;
    }
    *id = (ioservid_t)m.a[0];
    return 0;
}

int
xendevicemodel_get_ioreq_server_info(xendevicemodel_handle *dmod, domid_t domid,
                                     ioservid_t id, xen_pfn_t *ioreq_gfn,
                                     xen_pfn_t *bufioreq_gfn,
                                     evtchn_port_t *bufioreq_port)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = id;
    m.a[2] = ioreq_gfn != NULL || bufioreq_gfn != NULL;
    if (dm_call(dmod, FX_OP_DM_GET_INFO, domid, &m) < 0) {
        return -1;
    }
    if (bufioreq_port != NULL) {
        *bufioreq_port = (evtchn_port_t)m.a[0];
    }
    return 0;
}

static int
range_op(xendevicemodel_handle *dmod, uint32_t op, domid_t domid, ioservid_t id,
         uint32_t type, uint64_t start, uint64_t end)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = id;
    m.a[2] = type;
    m.a[3] = start;
    m.a[4] = end;
    return dm_call(dmod, op, domid, &m);
}

int
xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle *dmod,
                                            domid_t domid, ioservid_t id,
                                            int is_mmio, uint64_t start,
                                            uint64_t end)
{
    return range_op(dmod, FX_OP_DM_MAP_RANGE, domid, id,
                    is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT,
                    start, end);
}

int
xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle *dmod,
                                                domid_t domid, ioservid_t id,
                                                int is_mmio, uint64_t start,
                                                uint64_t end)
{
    return range_op(dmod, FX_OP_DM_UNMAP_RANGE, domid, id,
                    is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT,
                    start, end);
}

int
xendevicemodel_map_mem_type_to_ioreq_server(xendevicemodel_handle *dmod,
                                            domid_t domid, ioservid_t id,
                                            uint16_t type, uint32_t flags)
{
    (void)dmod;
    (void)domid;
    (void)id;
    (void)type;
    (void)flags;
    errno = ENOSYS;
    return -1;
}

static int
pcidev_op(xendevicemodel_handle *dmod, uint32_t op, domid_t domid,
          ioservid_t id, uint16_t segment, uint8_t bus, uint8_t device,
          uint8_t function)
{
    uint64_t sbdf;

    if (device > 0x1f || function > 0x7) {
        errno = EINVAL;
        return -1;
    }
    sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
    return range_op(dmod, op, domid, id, XEN_DMOP_IO_RANGE_PCI, sbdf, sbdf);
}

int
xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle *dmod,
                                          domid_t domid, ioservid_t id,
                                          uint16_t segment, uint8_t bus,
                                          uint8_t device, uint8_t function)
{
    return pcidev_op(dmod, FX_OP_DM_MAP_RANGE, domid, id, segment, bus, device,
                     function);
}

int
xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle *dmod,
                                              domid_t domid, ioservid_t id,
                                              uint16_t segment, uint8_t bus,
                                              uint8_t device, uint8_t function)
{
    return pcidev_op(dmod, FX_OP_DM_UNMAP_RANGE, domid, id, segment, bus,
                     device, function);
}

int
xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                    ioservid_t id)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = id;
    return dm_call(dmod, FX_OP_DM_DESTROY, domid, &m);
}

int
xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *dmod,
                                      domid_t domid, ioservid_t id, int enabled)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = id;
    m.a[2] = enabled != 0;
    return dm_call(dmod, FX_OP_DM_SET_STATE, domid, &m);
}

int
xendevicemodel_set_pci_intx_level(xendevicemodel_handle *dmod, domid_t domid,
                                  uint16_t segment, uint8_t bus, uint8_t device,
                                  uint8_t intx, unsigned int level)
{
    struct fx_msg m;

    if (device > 0x1f) {
        errno = EINVAL;
        return -1;
    }
    memset(&m, 0, sizeof(m));
    m.a[1] = XEN_DMOP_PCI_SBDF(segment, bus, device, 0);
    m.a[2] = intx;
    m.a[3] = level;
    return dm_call(dmod, FX_OP_DM_INTX_LEVEL, domid, &m);
}

int
xendevicemodel_set_isa_irq_level(xendevicemodel_handle *dmod, domid_t domid,
                                 uint8_t irq, unsigned int level)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = irq;
    m.a[2] = level;
    return dm_call(dmod, FX_OP_DM_ISA_LEVEL, domid, &m);
}

int
xendevicemodel_set_irq_level(xendevicemodel_handle *dmod, domid_t domid,
                             unsigned int irq, unsigned int level)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = irq;
    m.a[2] = level;
    return dm_call(dmod, FX_OP_DM_IRQ_LEVEL, domid, &m);
}

int
xendevicemodel_set_pci_link_route(xendevicemodel_handle *dmod, domid_t domid,
                                  uint8_t link, uint8_t irq)
{
    (void)dmod;
    (void)domid;
    (void)link;
    (void)irq;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_inject_msi(xendevicemodel_handle *dmod, domid_t domid,
                          uint64_t msi_addr, uint32_t msi_data)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    m.a[1] = msi_addr;
    m.a[2] = msi_data;
    return dm_call(dmod, FX_OP_DM_MSI, domid, &m);
}

int
xendevicemodel_track_dirty_vram(xendevicemodel_handle *dmod, domid_t domid,
                                uint64_t first_pfn, uint32_t nr,
                                unsigned long *dirty_bitmap)
{
    (void)dmod;
    (void)domid;
    (void)first_pfn;
    (void)nr;
    (void)dirty_bitmap;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_modified_memory(xendevicemodel_handle *dmod, domid_t domid,
                               uint64_t first_pfn, uint32_t nr)
{
    (void)dmod;
    (void)domid;
    (void)first_pfn;
    (void)nr;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_modified_memory_bulk(
    xendevicemodel_handle *dmod, domid_t domid,
    struct xen_dm_op_modified_memory_extent extents[], uint32_t nr)
{
    (void)dmod;
    (void)domid;
    (void)extents;
    (void)nr;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_set_mem_type(xendevicemodel_handle *dmod, domid_t domid,
                            hvmmem_type_t mem_type, uint64_t first_pfn,
                            uint32_t nr)
{
    (void)dmod;
    (void)domid;
    (void)mem_type;
    (void)first_pfn;
    (void)nr;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_inject_event(xendevicemodel_handle *dmod, domid_t domid,
                            int vcpu, uint8_t vector, uint8_t type,
                            uint32_t error_code, uint8_t insn_len,
                            uint64_t extra)
{
    (void)dmod;
    (void)domid;
    (void)vcpu;
    (void)vector;
    (void)type;
    (void)error_code;
    (void)insn_len;
    (void)extra;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_shutdown(xendevicemodel_handle *dmod, domid_t domid,
                        unsigned int reason)
{
    (void)dmod;
    (void)domid;
    (void)reason;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_relocate_memory(xendevicemodel_handle *dmod, domid_t domid,
                               uint32_t size, uint64_t src_gfn,
                               uint64_t dst_gfn)
{
    (void)dmod;
    (void)domid;
    (void)size;
    (void)src_gfn;
    (void)dst_gfn;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_pin_memory_cacheattr(xendevicemodel_handle *dmod, domid_t domid,
                                    uint64_t start, uint64_t end, uint32_t type)
{
    (void)dmod;
    (void)domid;
    (void)start;
    (void)end;
    (void)type;
    errno = ENOSYS;
    return -1;
}

int
xendevicemodel_nr_vcpus(xendevicemodel_handle *dmod, domid_t domid,
                        unsigned int *vcpus)
{
    struct fx_msg m;

    memset(&m, 0, sizeof(m));
    if (dm_call(dmod, FX_OP_DM_NR_VCPUS, domid, &m) < 0) {
        return -1;
    }
    *vcpus = (unsigned int)m.a[0];
    return 0;
}

int
xendevicemodel_restrict(xendevicemodel_handle *dmod, domid_t domid)
{
    return iq_fx_restrict(&dmod->restricted, &dmod->rdomid, domid);
}
