/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Xen side of the IOREQ server: the only caller of libxendevicemodel,
 * libxenevtchn, xentoolcore and xenforeignmemory_map_resource.
 *
 * Bring-up follows xen-reference.md section 1.5: open the handles, create
 * the server, map frame_ioreq(0) on its own (and the buffered page), learn
 * the buffered port and the vCPU count, enable, bind every vCPU's port (only
 * valid once enabled), then watch the event-channel fd. `stage` records how
 * far that got; destroy unwinds from any stage.
 */
#define __XEN_TOOLS__ 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xentoolcore.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#include "ioreqd/err.h"
#include "ioreqd/ioreq.h"
#include "ioreqd/log.h"

#include "ioreq-internal.h"

/* The core's mirrors must match Xen's layout (ioreq-internal.h). */
_Static_assert(sizeof(struct ioreq) == sizeof(struct iq_ioreq_slot),
               "ioreq slot size");
_Static_assert(offsetof(struct ioreq, addr) ==
                   offsetof(struct iq_ioreq_slot, addr),
               "addr");
_Static_assert(offsetof(struct ioreq, data) ==
                   offsetof(struct iq_ioreq_slot, data),
               "data");
_Static_assert(offsetof(struct ioreq, count) ==
                   offsetof(struct iq_ioreq_slot, count),
               "count");
_Static_assert(offsetof(struct ioreq, size) ==
                   offsetof(struct iq_ioreq_slot, size),
               "size");
_Static_assert(offsetof(struct ioreq, vp_eport) ==
                   offsetof(struct iq_ioreq_slot, vp_eport),
               "vp_eport");
_Static_assert(offsetof(struct ioreq, type) ==
                   offsetof(struct iq_ioreq_slot, type),
               "type");
_Static_assert(sizeof(struct buffered_iopage) ==
                   sizeof(struct iq_ioreq_bufpage),
               "buffered page");
_Static_assert(sizeof(buf_ioreq_t) == sizeof(struct iq_ioreq_bufslot),
               "buffered slot");
_Static_assert(IOREQ_BUFFER_SLOT_NUM == IQ_BUF_SLOT_NUM, "slot count");
_Static_assert(IOREQ_TYPE_PIO == IQ_IOREQ_TYPE_PIO &&
                   IOREQ_TYPE_COPY == IQ_IOREQ_TYPE_COPY &&
                   IOREQ_TYPE_PCI_CONFIG == IQ_IOREQ_TYPE_PCI_CONFIG &&
                   IOREQ_TYPE_TIMEOFFSET == IQ_IOREQ_TYPE_TIMEOFFSET &&
                   IOREQ_TYPE_INVALIDATE == IQ_IOREQ_TYPE_INVALIDATE,
               "ioreq types");
_Static_assert(STATE_IOREQ_READY == IQ_IOREQ_STATE_READY &&
                   STATE_IOREQ_INPROCESS == IQ_IOREQ_STATE_INPROCESS &&
                   STATE_IORESP_READY == IQ_IORESP_STATE_READY,
               "ioreq states");
_Static_assert(IQ_BUFIOREQ_OFF == HVM_IOREQSRV_BUFIOREQ_OFF &&
                   IQ_BUFIOREQ_ATOMIC == HVM_IOREQSRV_BUFIOREQ_ATOMIC,
               "bufioreq modes");

/* How far bring-up got; teardown undoes everything at or below it. */
enum stage {
    STAGE_NONE = 0,
    STAGE_HANDLES, /* dmod, xce, fmem open */
    STAGE_SERVER, /* ioreq server created */
    STAGE_MAPPED, /* ioreq page (and buffered page) mapped */
    STAGE_ENABLED, /* server enabled */
    STAGE_BOUND, /* every port bound */
    STAGE_RUNNING, /* evtchn fd in the loop */
};

/* Pending ports handled per fd wake-up before returning to the loop. */
#define PENDING_PER_WAKEUP 64u

/* Open-addressing map from a local event-channel port to its vCPU. */
struct port_map_entry {
    uint32_t port;
    int32_t vcpu; /* -1: free */
};

struct iq_ioreq_server {
    struct iq_ioreq_ctx ctx;
    struct iq_ioreq_config cfg;
    enum stage stage;

    xendevicemodel_handle *dmod;
    xenevtchn_handle *xce;
    xenforeignmemory_handle *fmem;
    ioservid_t id;

    xenforeignmemory_resource_handle *ioreq_res;
    xenforeignmemory_resource_handle *buf_res;
    struct iq_ioreq_slot *slots;
    struct iq_ioreq_bufpage *bufpage;

    unsigned nr_vcpus;
    int32_t *vcpu_port; /* local port per vCPU, -1 unbound */
    int32_t buf_port; /* local buffered port, -1 unbound */
    evtchn_port_t buf_remote_port;
    struct port_map_entry *pmap;
    uint32_t pmap_mask;

    int evtchn_fd;
    bool in_loop;
    struct iq_loop_work buf_work; /* drain the ring again (budget hit) */
    struct iq_loop_work gone_work; /* report domain_gone outside callbacks */
    bool gone;
};

/* ---- domain gone -------------------------------------------------------- */

static void
gone_cb(void *opaque)
{
    struct iq_ioreq_server *srv = opaque;

    if (srv->cfg.domain_gone != NULL) {
        srv->cfg.domain_gone(srv->cfg.domain_gone_opaque);
    }
}

/*
 * The domain is gone: stop listening (the fd would keep firing) and tell
 * the owner once, from deferred work so that the callback may tear us down.
 */
static void
report_gone(struct iq_ioreq_server *srv)
{
    if (srv->gone) {
        return;
    }
    srv->gone = true;
    IQ_NOTICE(srv->ctx.name, "domain is gone");
    if (srv->in_loop) {
        iq_loop_del_fd(srv->cfg.loop, srv->evtchn_fd);
        srv->in_loop = false;
    }
    iq_loop_cancel(srv->cfg.loop, &srv->buf_work);
    iq_loop_defer(srv->cfg.loop, &srv->gone_work);
}

/* After a failed Xen call: rc is -errno. Returns rc. */
static int
xen_failed(struct iq_ioreq_server *srv, int rc)
{
    if (rc == -ESRCH && srv->stage >= STAGE_RUNNING) {
        report_gone(srv);
    }
    return rc;
}

/* ---- port map ------------------------------------------------------------ */

static uint32_t
port_hash(uint32_t port)
{
    return port * 2654435761u;
}

static IQ_MUST_CHECK int
port_map_init(struct iq_ioreq_server *srv, unsigned entries)
{
    uint32_t cap = 16;

    while (cap < 2u * entries) {
        cap *= 2;
    }
    srv->pmap = calloc(cap, sizeof(*srv->pmap));
    if (srv->pmap == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < cap; i++) {
        srv->pmap[i].vcpu = -1;
    }
    srv->pmap_mask = cap - 1;
    return 0;
}

static void
port_map_put(struct iq_ioreq_server *srv, uint32_t port, unsigned vcpu)
{
    uint32_t i = port_hash(port) & srv->pmap_mask;

    /* The table is at most half full: a free entry exists. */
    while (srv->pmap[i].vcpu >= 0) {
        i = (i + 1) & srv->pmap_mask;
    }
    srv->pmap[i].port = port;
    srv->pmap[i].vcpu = (int32_t)vcpu;
}

static int
port_map_get(const struct iq_ioreq_server *srv, uint32_t port)
{
    uint32_t i = port_hash(port) & srv->pmap_mask;

    for (uint32_t n = 0; n <= srv->pmap_mask; n++) {
        if (srv->pmap[i].vcpu < 0) {
            return -1;
        }
        if (srv->pmap[i].port == port) {
            return srv->pmap[i].vcpu;
        }
        i = (i + 1) & srv->pmap_mask;
    }
    return -1;
}

/* ---- event handling ---------------------------------------------------- */

static void
notify(struct iq_ioreq_server *srv, uint32_t port)
{
    if (xenevtchn_notify(srv->xce, port) < 0) {
        int rc = IQ_NEG_ERRNO();

        IQ_DBG(srv->ctx.name, "notify port %" PRIu32 ": %d", port, rc);
        (void)xen_failed(srv, rc);
    }
}

static void
drain_buffered(struct iq_ioreq_server *srv)
{
    bool more;

    if (srv->bufpage == NULL) {
        return;
    }
    (void)iq_ioreq_buf_drain(&srv->ctx, srv->bufpage, &more);
    if (more && !srv->gone) {
        /* Bounded per wake-up: finish after other fds had their turn. */
        iq_loop_defer(srv->cfg.loop, &srv->buf_work);
    }
}

static void
buf_work_cb(void *opaque)
{
    drain_buffered(opaque);
}

/*
 * Linux's privcmd ioeventfd handler (6.7+, xen-reference.md section 5.4)
 * runs on the same port, in interrupt context. It marks every READY COPY
 * write INPROCESS while it looks for a matching queue, and puts READY back
 * when none matches. Neither Xen nor we leave a slot INPROCESS across
 * calls, so INPROCESS here means that handler is running on another CPU:
 * wait for it (bounded) rather than dropping a request it hands back.
 */
#define KERNEL_HANDLER_WAIT 4096u

/* Wait (bounded) while the slot's state is `state`; false if it still is. */
static bool
wait_while_state(const struct iq_ioreq_slot *slot, uint8_t state)
{
    for (unsigned n = 0; n < KERNEL_HANDLER_WAIT; n++) {
        if ((__atomic_load_n(&slot->flags, __ATOMIC_ACQUIRE) &
             IQ_SLOT_STATE_MASK) != state) {
            return true;
        }
        (void)sched_yield();
    }
    return false;
}

/*
 * A READY write the kernel's handler answers itself (a taker's): our
 * wake-up may come before that handler has run; give it the same bounded
 * moment. If it is still READY afterwards we serve it (a kick given twice
 * is harmless; one never given is not).
 */
static void
wait_for_taker(struct iq_ioreq_server *srv, const struct iq_ioreq_slot *slot)
{
    if (iq_ioreq_slot_for_taker(&srv->ctx, slot) &&
        !wait_while_state(slot, IQ_IOREQ_STATE_READY)) {
        srv->ctx.st.taker_timeouts++;
    }
}

static void
service_vcpu(struct iq_ioreq_server *srv, unsigned vcpu)
{
    /* Buffered writes issued earlier must land before this request. */
    drain_buffered(srv);
    wait_for_taker(srv, &srv->slots[vcpu]);
    (void)wait_while_state(&srv->slots[vcpu], IQ_IOREQ_STATE_INPROCESS);
    if (iq_ioreq_slot_service(&srv->ctx, &srv->slots[vcpu])) {
        notify(srv, (uint32_t)srv->vcpu_port[vcpu]);
    }
}

static void
evtchn_cb(void *opaque, uint32_t events)
{
    struct iq_ioreq_server *srv = opaque;

    if (events & (EPOLLERR | EPOLLHUP)) {
        report_gone(srv);
        return;
    }
    for (unsigned n = 0; n < PENDING_PER_WAKEUP && !srv->gone; n++) {
        xenevtchn_port_or_error_t port = xenevtchn_pending(srv->xce);
        int vcpu;

        if (port < 0) {
            int rc = IQ_NEG_ERRNO();

            if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
                IQ_WARN(srv->ctx.name, "event channel read failed: %d", rc);
                report_gone(srv);
            }
            return;
        }
        /* Unmask before looking at the slot so no event is lost. */
        vcpu = port_map_get(srv, (uint32_t)port);
        if (xenevtchn_unmask(srv->xce, (evtchn_port_t)port) < 0) {
            (void)xen_failed(srv, IQ_NEG_ERRNO());
        }
        if (srv->buf_port >= 0 && port == srv->buf_port) {
            drain_buffered(srv);
        } else if (vcpu >= 0) {
            service_vcpu(srv, (unsigned)vcpu);
        } else {
            srv->ctx.st.spurious++;
        }
    }
}

/* ---- bring-up and teardown ------------------------------------------------
 */

/*
 * The bitfields of struct ioreq and buf_ioreq_t cannot be checked by
 * _Static_assert: check the byte layout the core relies on once here.
 */
static bool
layout_ok(void)
{
    struct ioreq r;
    buf_ioreq_t b;
    uint8_t flags;
    uint32_t word;

    memset(&r, 0, sizeof(r));
    r.state = STATE_IORESP_READY;
    r.data_is_ptr = 1;
    r.df = 1;
    memcpy(&flags, (const char *)&r + offsetof(struct iq_ioreq_slot, flags), 1);
    if (flags != (IQ_IORESP_STATE_READY | IQ_SLOT_DATA_IS_PTR | IQ_SLOT_DF)) {
        return false;
    }
    memset(&r, 0, sizeof(r));
    r.dir = IOREQ_READ;
    memcpy(&flags, (const char *)&r + offsetof(struct iq_ioreq_slot, flags), 1);
    if (flags != IQ_SLOT_DIR_READ) {
        return false;
    }
    memset(&b, 0, sizeof(b));
    b.type = 0x5a;
    b.dir = 1;
    b.size = 3;
    b.addr = 0xabcde;
    b.data = 0x12345678;
    memcpy(&word, &b, sizeof(word));
    return word == iq_ioreq_bufslot_word(0x5a, true, 3, 0xabcde) &&
           memcmp((const char *)&b + 4, &b.data, 4) == 0;
}

static IQ_MUST_CHECK int
map_pages(struct iq_ioreq_server *srv)
{
    void *addr = NULL;

    /* frame_ioreq(0) alone: 4.17 exposes only the first ioreq frame. */
    srv->ioreq_res = xenforeignmemory_map_resource(
        srv->fmem, srv->cfg.domid, XENMEM_resource_ioreq_server, srv->id,
        XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
        PROT_READ | PROT_WRITE, 0);
    if (srv->ioreq_res == NULL) {
        return IQ_NEG_ERRNO();
    }
    srv->slots = addr;
    if (srv->cfg.bufioreq == IQ_BUFIOREQ_OFF) {
        return 0;
    }
    addr = NULL;
    srv->buf_res = xenforeignmemory_map_resource(
        srv->fmem, srv->cfg.domid, XENMEM_resource_ioreq_server, srv->id,
        XENMEM_resource_ioreq_server_frame_bufioreq, 1, &addr,
        PROT_READ | PROT_WRITE, 0);
    if (srv->buf_res == NULL) {
        return IQ_NEG_ERRNO();
    }
    srv->bufpage = addr;
    return 0;
}

static IQ_MUST_CHECK int
bind_ports(struct iq_ioreq_server *srv)
{
    int rc;

    srv->vcpu_port = malloc(srv->nr_vcpus * sizeof(*srv->vcpu_port));
    if (srv->vcpu_port == NULL) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < srv->nr_vcpus; i++) {
        srv->vcpu_port[i] = -1;
    }
    rc = port_map_init(srv, srv->nr_vcpus + 1);
    if (rc < 0) {
        return rc;
    }
    for (unsigned i = 0; i < srv->nr_vcpus; i++) {
        /* vp_eport is filled in by Xen once the server is enabled. */
        evtchn_port_t remote =
            __atomic_load_n(&srv->slots[i].vp_eport, __ATOMIC_RELAXED);
        xenevtchn_port_or_error_t p;

        p = xenevtchn_bind_interdomain(srv->xce, srv->cfg.domid, remote);
        if (p < 0) {
            return IQ_NEG_ERRNO();
        }
        srv->vcpu_port[i] = p;
        port_map_put(srv, (uint32_t)p, i);
    }
    if (srv->bufpage != NULL) {
        xenevtchn_port_or_error_t p;

        p = xenevtchn_bind_interdomain(srv->xce, srv->cfg.domid,
                                       srv->buf_remote_port);
        if (p < 0) {
            return IQ_NEG_ERRNO();
        }
        srv->buf_port = p;
    }
    return 0;
}

static IQ_MUST_CHECK int
bring_up(struct iq_ioreq_server *srv)
{
    const struct iq_ioreq_config *cfg = &srv->cfg;
    unsigned int nr = 0;
    int flags;
    int rc;

    srv->dmod = xendevicemodel_open(NULL, 0);
    if (srv->dmod == NULL) {
        return IQ_NEG_ERRNO();
    }
    srv->xce = xenevtchn_open(NULL, 0);
    if (srv->xce == NULL) {
        return IQ_NEG_ERRNO();
    }
    srv->fmem = xenforeignmemory_open(NULL, 0);
    if (srv->fmem == NULL) {
        return IQ_NEG_ERRNO();
    }
    srv->stage = STAGE_HANDLES;

    if (xendevicemodel_create_ioreq_server(srv->dmod, cfg->domid,
                                           (int)cfg->bufioreq, &srv->id) < 0) {
        return IQ_NEG_ERRNO();
    }
    srv->stage = STAGE_SERVER;

    rc = map_pages(srv);
    if (rc < 0) {
        return rc;
    }
    srv->stage = STAGE_MAPPED;

    if (srv->bufpage != NULL) {
        evtchn_port_t port = 0;

        /* NULL gfns: XEN_DMOP_no_gfns, we only want the port. */
        if (xendevicemodel_get_ioreq_server_info(srv->dmod, cfg->domid, srv->id,
                                                 NULL, NULL, &port) < 0) {
            return IQ_NEG_ERRNO();
        }
        srv->buf_remote_port = port;
    }
    if (xendevicemodel_nr_vcpus(srv->dmod, cfg->domid, &nr) < 0) {
        return IQ_NEG_ERRNO();
    }
    /* One ioreq page holds IQ_MAX_VCPUS slots and we map only that one. */
    if (nr == 0 || nr > IQ_MAX_VCPUS) {
        return -E2BIG;
    }
    srv->nr_vcpus = nr;

    if (xendevicemodel_set_ioreq_server_state(srv->dmod, cfg->domid, srv->id,
                                              1) < 0) {
        return IQ_NEG_ERRNO();
    }
    srv->stage = STAGE_ENABLED;

    rc = bind_ports(srv);
    if (rc < 0) {
        return rc;
    }
    srv->stage = STAGE_BOUND;

    srv->evtchn_fd = xenevtchn_fd(srv->xce);
    if (srv->evtchn_fd < 0) {
        return IQ_NEG_ERRNO();
    }
    /* Drain pending ports without ever blocking the loop thread. */
    flags = fcntl(srv->evtchn_fd, F_GETFL);
    if (flags < 0 || fcntl(srv->evtchn_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return IQ_NEG_ERRNO();
    }
    rc = iq_loop_add_fd(cfg->loop, srv->evtchn_fd, EPOLLIN, evtchn_cb, srv);
    if (rc < 0) {
        return rc;
    }
    srv->in_loop = true;
    srv->stage = STAGE_RUNNING;

    /*
     * A request sent between enabling and binding had its notification
     * dropped: answer whatever is already READY (others count spurious).
     */
    for (unsigned i = 0; i < srv->nr_vcpus; i++) {
        if ((__atomic_load_n(&srv->slots[i].flags, __ATOMIC_ACQUIRE) &
             IQ_SLOT_STATE_MASK) == IQ_IOREQ_STATE_READY) {
            service_vcpu(srv, i);
        }
    }
    drain_buffered(srv);
    return 0;
}

int
iq_ioreq_create(const struct iq_ioreq_config *cfg, struct iq_ioreq_server **out)
{
    struct iq_ioreq_server *srv;
    int rc;

    *out = NULL;
    if (cfg == NULL || cfg->loop == NULL ||
        (cfg->arch != IQ_ARCH_ARM && cfg->arch != IQ_ARCH_X86) ||
        (cfg->bufioreq != IQ_BUFIOREQ_OFF &&
         cfg->bufioreq != IQ_BUFIOREQ_ATOMIC)) {
        return -EINVAL;
    }
    /* Arm Xen rejects buffered ioreq servers (section 1.1). */
    if (cfg->arch == IQ_ARCH_ARM && cfg->bufioreq != IQ_BUFIOREQ_OFF) {
        return -EINVAL;
    }
    /* Internal invariant: the build's Xen headers match our mirrors. */
    if (!layout_ok()) {
        return -EPROTO;
    }
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return -ENOMEM;
    }
    srv->cfg = *cfg;
    srv->stage = STAGE_NONE;
    srv->buf_port = -1;
    srv->evtchn_fd = -1;
    iq_ioreq_ctx_init(&srv->ctx, cfg->arch, cfg->domid, cfg->gmem,
                      cfg->gmem_opaque);
    iq_loop_work_init(&srv->buf_work, buf_work_cb, srv);
    iq_loop_work_init(&srv->gone_work, gone_cb, srv);

    rc = bring_up(srv);
    if (rc < 0) {
        IQ_DBG(srv->ctx.name, "ioreq bring-up failed at stage %d: %d",
               (int)srv->stage, rc);
        iq_ioreq_destroy(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

void
iq_ioreq_destroy(struct iq_ioreq_server *srv)
{
    if (srv == NULL) {
        return;
    }
    if (srv->in_loop) {
        iq_loop_del_fd(srv->cfg.loop, srv->evtchn_fd);
        srv->in_loop = false;
    }
    iq_loop_cancel(srv->cfg.loop, &srv->buf_work);
    iq_loop_cancel(srv->cfg.loop, &srv->gone_work);
    /* Failures below are ignored: the domain may already be gone. */
    if (srv->stage >= STAGE_ENABLED) {
        (void)xendevicemodel_set_ioreq_server_state(srv->dmod, srv->cfg.domid,
                                                    srv->id, 0);
    }
    if (srv->buf_res != NULL) {
        (void)xenforeignmemory_unmap_resource(srv->fmem, srv->buf_res);
        srv->buf_res = NULL;
        srv->bufpage = NULL;
    }
    if (srv->ioreq_res != NULL) {
        (void)xenforeignmemory_unmap_resource(srv->fmem, srv->ioreq_res);
        srv->ioreq_res = NULL;
        srv->slots = NULL;
    }
    /* Destroying the server drops every range and PCI device with it. */
    if (srv->stage >= STAGE_SERVER) {
        (void)xendevicemodel_destroy_ioreq_server(srv->dmod, srv->cfg.domid,
                                                  srv->id);
    }
    if (srv->vcpu_port != NULL) {
        for (unsigned i = 0; i < srv->nr_vcpus; i++) {
            if (srv->vcpu_port[i] >= 0) {
                (void)xenevtchn_unbind(srv->xce,
                                       (evtchn_port_t)srv->vcpu_port[i]);
            }
        }
    }
    if (srv->buf_port >= 0) {
        (void)xenevtchn_unbind(srv->xce, (evtchn_port_t)srv->buf_port);
    }
    /* The evtchn fd belongs to the xce handle: closed with it. */
    if (srv->fmem != NULL) {
        (void)xenforeignmemory_close(srv->fmem);
    }
    if (srv->xce != NULL) {
        (void)xenevtchn_close(srv->xce);
    }
    if (srv->dmod != NULL) {
        (void)xendevicemodel_close(srv->dmod);
    }
    iq_ioreq_ctx_fini(&srv->ctx);
    free(srv->vcpu_port);
    free(srv->pmap);
    free(srv);
}

int
iq_ioreq_restrict(struct iq_ioreq_server *srv)
{
    if (xentoolcore_restrict_all(srv->cfg.domid) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

/* ---- regions ----------------------------------------------------------------
 */

static int
xen_map(struct iq_ioreq_server *srv, const struct iq_region *r, bool map)
{
    uint16_t domid = srv->cfg.domid;
    int ret;

    switch (r->space) {
    case IQ_SPACE_MMIO:
    case IQ_SPACE_PIO: {
        int is_mmio = r->space == IQ_SPACE_MMIO;

        ret = map ? xendevicemodel_map_io_range_to_ioreq_server(
                        srv->dmod, domid, srv->id, is_mmio, r->key, r->last)
                  : xendevicemodel_unmap_io_range_from_ioreq_server(
                        srv->dmod, domid, srv->id, is_mmio, r->key, r->last);
        break;
    }
    case IQ_SPACE_PCI: {
        uint32_t sbdf = (uint32_t)r->start;

        ret = map ? xendevicemodel_map_pcidev_to_ioreq_server(
                        srv->dmod, domid, srv->id, iq_pci_sbdf_seg(sbdf),
                        iq_pci_sbdf_bus(sbdf), iq_pci_sbdf_dev(sbdf),
                        iq_pci_sbdf_fn(sbdf))
                  : xendevicemodel_unmap_pcidev_from_ioreq_server(
                        srv->dmod, domid, srv->id, iq_pci_sbdf_seg(sbdf),
                        iq_pci_sbdf_bus(sbdf), iq_pci_sbdf_dev(sbdf),
                        iq_pci_sbdf_fn(sbdf));
        break;
    }
    default:
        return -EINVAL;
    }
    if (ret < 0) {
        return xen_failed(srv, IQ_NEG_ERRNO());
    }
    return 0;
}

int
iq_ioreq_map_region(struct iq_ioreq_server *srv, enum iq_space space,
                    uint64_t start, uint64_t size,
                    const struct iq_region_ops *ops, void *opaque,
                    struct iq_region **out)
{
    struct iq_region *r;
    int rc;

    *out = NULL;
    /* Arm has no port I/O and no cf8/cfc decoding in Xen. */
    if (srv->cfg.arch == IQ_ARCH_ARM && space != IQ_SPACE_MMIO) {
        return -EOPNOTSUPP;
    }
    rc = iq_ioreq_region_add(&srv->ctx, space, start, size, ops, opaque, &r);
    if (rc < 0) {
        return rc;
    }
    rc = xen_map(srv, r, true);
    if (rc < 0) {
        iq_ioreq_region_del(&srv->ctx, r);
        return rc;
    }
    *out = r;
    return 0;
}

void
iq_ioreq_unmap_region(struct iq_ioreq_server *srv, struct iq_region *region)
{
    if (srv == NULL || region == NULL) {
        return;
    }
    /* A failure leaves a stale range in Xen; its accesses read all ones. */
    if (!srv->gone) {
        (void)xen_map(srv, region, false);
    }
    iq_ioreq_region_del(&srv->ctx, region);
}

/* ---- interrupts -----------------------------------------------------------
 */

static int
irq_set_level(void *opaque, uint32_t irq, unsigned level)
{
    struct iq_ioreq_server *srv = opaque;
    int ret;

    if (level > 1) {
        return -EINVAL;
    }
    if (srv->cfg.arch == IQ_ARCH_ARM) {
        /* Xen accepts SPIs only. */
        if (irq < 32 || irq > 1019) {
            return -EINVAL;
        }
        ret =
            xendevicemodel_set_irq_level(srv->dmod, srv->cfg.domid, irq, level);
    } else {
        /* set_isa_irq_level crashes Xen 4.17 on PVH domains. */
        if (srv->cfg.pvh) {
            return -EOPNOTSUPP;
        }
        if (irq > 15) {
            return -EINVAL;
        }
        ret = xendevicemodel_set_isa_irq_level(srv->dmod, srv->cfg.domid,
                                               (uint8_t)irq, level);
    }
    if (ret < 0) {
        return xen_failed(srv, IQ_NEG_ERRNO());
    }
    return 0;
}

static int
irq_pci_intx(void *opaque, uint32_t sbdf, unsigned pin, unsigned level)
{
    struct iq_ioreq_server *srv = opaque;

    if (srv->cfg.arch != IQ_ARCH_X86) {
        return -EOPNOTSUPP;
    }
    if (pin > 3 || level > 1) {
        return -EINVAL;
    }
    if (xendevicemodel_set_pci_intx_level(
            srv->dmod, srv->cfg.domid, iq_pci_sbdf_seg(sbdf),
            iq_pci_sbdf_bus(sbdf), iq_pci_sbdf_dev(sbdf), (uint8_t)pin,
            level) < 0) {
        return xen_failed(srv, IQ_NEG_ERRNO());
    }
    return 0;
}

static int
irq_msi(void *opaque, uint64_t addr, uint32_t data)
{
    struct iq_ioreq_server *srv = opaque;

    if (srv->cfg.arch != IQ_ARCH_X86) {
        return -EOPNOTSUPP;
    }
    if (xendevicemodel_inject_msi(srv->dmod, srv->cfg.domid, addr, data) < 0) {
        return xen_failed(srv, IQ_NEG_ERRNO());
    }
    return 0;
}

static const struct iq_irq_ops xen_irq_ops = {
    .set_level = irq_set_level,
    .pci_intx = irq_pci_intx,
    .msi = irq_msi,
};

void
iq_ioreq_irq_ops(struct iq_ioreq_server *srv, const struct iq_irq_ops **ops,
                 void **opaque)
{
    *ops = &xen_irq_ops;
    *opaque = srv;
}

int
iq_ioreq_check_alive(struct iq_ioreq_server *srv)
{
    unsigned nr;

    if (srv->gone) {
        return -ESRCH;
    }
    if (xendevicemodel_nr_vcpus(srv->dmod, srv->cfg.domid, &nr) < 0) {
        return xen_failed(srv, IQ_NEG_ERRNO());
    }
    return 0;
}

unsigned
iq_ioreq_nr_vcpus(const struct iq_ioreq_server *srv)
{
    return srv->nr_vcpus;
}

void *
iq_ioreq_sync_page(const struct iq_ioreq_server *srv)
{
    return srv->slots;
}

int
iq_ioreq_add_taker(struct iq_ioreq_server *srv, iq_ioreq_takes_fn takes,
                   void *opaque)
{
    if (srv == NULL) {
        return -EINVAL;
    }
    return iq_ioreq_ctx_add_taker(&srv->ctx, takes, opaque);
}

void
iq_ioreq_del_taker(struct iq_ioreq_server *srv, void *opaque)
{
    if (srv != NULL) {
        iq_ioreq_ctx_del_taker(&srv->ctx, opaque);
    }
}

int
iq_ioreq_vcpu_port(const struct iq_ioreq_server *srv, unsigned vcpu)
{
    if (vcpu >= srv->nr_vcpus || srv->vcpu_port == NULL ||
        srv->vcpu_port[vcpu] < 0) {
        return -EINVAL;
    }
    return srv->vcpu_port[vcpu];
}

void
iq_ioreq_get_stats(const struct iq_ioreq_server *srv, struct iq_ioreq_stats *st)
{
    *st = srv->ctx.st;
}
