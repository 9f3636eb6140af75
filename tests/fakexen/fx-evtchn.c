/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake libxenevtchn.so.1. xenevtchn_fd is the client end of a socketpair
 * on which the simulator writes 4-byte local ports; like the Linux evtchn
 * device, a delivered port stays masked until xenevtchn_unmask, and the fd
 * blocks unless the caller sets O_NONBLOCK. xenevtchn_notify bumps and
 * wakes the futex word of the remote (guest) port: one syscall.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xenevtchn.h>

#include "fakexen-proto.h"

struct xenevtchn_handle {
    struct fx_conn c;
    int evfd;
    struct fx_active_handle ah;
    bool restricted;
    domid_t rdomid;
    uint32_t remote[FX_MAX_PORTS]; /* local -> guest port, 0: unbound */
};

static int
ev_restrict_cb(struct fx_active_handle *ah, uint16_t domid)
{
    xenevtchn_handle *h = FX_CONTAINER_OF(ah, xenevtchn_handle, ah);

    return xenevtchn_restrict(h, domid);
}

xenevtchn_handle *
xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
    xenevtchn_handle *h;

    (void)logger;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->evfd = -1;
    if (iq_fx_conn_open_fd(&h->c, FX_KIND_EVTCHN, &h->evfd) < 0) {
        return iq_fx_open_failed(h);
    }
    if ((flags & XENEVTCHN_NO_CLOEXEC) != 0) {
        fcntl(h->evfd, F_SETFD, 0);
    }
    h->ah.restrict_callback = ev_restrict_cb;
    xentoolcore__register_active_handle(&h->ah);
    return h;
}

xenevtchn_handle *
xenevtchn_fdopen(struct xentoollog_logger *logger, int fd, unsigned int flags)
{
    (void)logger;
    (void)fd;
    (void)flags;
    errno = ENOSYS;
    return NULL;
}

int
xenevtchn_close(xenevtchn_handle *xce)
{
    if (xce == NULL) {
        return 0;
    }
    xentoolcore__deregister_active_handle(&xce->ah);
    close(xce->evfd);
    iq_fx_conn_close(&xce->c);
    free(xce);
    return 0;
}

int
xenevtchn_fd(xenevtchn_handle *xce)
{
    return xce->evfd;
}

int
xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
    struct fx_shared *sh = xce->c.sh;
    uint32_t gp;

    if (port == 0 || port >= FX_MAX_PORTS) {
        errno = EINVAL;
        return -1;
    }
    gp = __atomic_load_n(&xce->remote[port], __ATOMIC_ACQUIRE);
    if (gp == 0) {
        errno = ENOTCONN;
        return -1;
    }
    if (fx_fault_take(&sh->fault_evtchn)) {
        errno = EIO;
        return -1;
    }
    __atomic_add_fetch(&sh->evtchn_notify_calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&sh->port_seq[gp], 1, __ATOMIC_RELEASE);
    iq_fx_futex_wake(&sh->port_seq[gp]);
    return 0;
}

xenevtchn_port_or_error_t
xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid)
{
    (void)xce;
    (void)domid;
    errno = ENOSYS;
    return -1;
}

xenevtchn_port_or_error_t
xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
                           evtchn_port_t remote_port)
{
    struct fx_msg m;

    if (xce->restricted && domid != xce->rdomid) {
        errno = EPERM;
        return -1;
    }
    memset(&m, 0, sizeof(m));
    m.op = FX_OP_EV_BIND;
    m.a[0] = domid;
    m.a[1] = remote_port;
    if (iq_fx_call_simple(&xce->c, &m) < 0) {
        return -1;
    }
    if (m.a[0] == 0 || m.a[0] >= FX_MAX_PORTS) {
        errno = EPROTO;
        return -1;
    }
    __atomic_store_n(&xce->remote[m.a[0]], remote_port, __ATOMIC_RELEASE);
    return (xenevtchn_port_or_error_t)m.a[0];
}

xenevtchn_port_or_error_t
xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
    (void)xce;
    (void)virq;
    errno = ENOSYS;
    return -1;
}

int
xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
    struct fx_msg m;

    if (port == 0 || port >= FX_MAX_PORTS) {
        errno = EINVAL;
        return -1;
    }
    memset(&m, 0, sizeof(m));
    m.op = FX_OP_EV_UNBIND;
    m.a[1] = port;
    if (iq_fx_call_simple(&xce->c, &m) < 0) {
        return -1;
    }
    __atomic_store_n(&xce->remote[port], 0, __ATOMIC_RELEASE);
    return 0;
}

xenevtchn_port_or_error_t
xenevtchn_pending(xenevtchn_handle *xce)
{
    uint32_t port;
    ssize_t n;

    do {
        n = recv(xce->evfd, &port, sizeof(port), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -1;
    }
    if (n != (ssize_t)sizeof(port)) {
        errno = n == 0 ? EPIPE : EPROTO;
        return -1;
    }
    return (xenevtchn_port_or_error_t)port;
}

int
xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
    uint32_t *w;
    uint32_t old;
    uint32_t nw;

    if (port == 0 || port >= FX_MAX_PORTS ||
        __atomic_load_n(&xce->remote[port], __ATOMIC_ACQUIRE) == 0) {
        errno = EINVAL;
        return -1;
    }
    w = &xce->c.sh->evstate[port];
    old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    do {
        nw = (old & FX_EV_PENDING) != 0 ? 0 : (old & ~FX_EV_MASKED);
    } while (!__atomic_compare_exchange_n(w, &old, nw, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    if ((old & FX_EV_PENDING) != 0) {
        /* Raised while masked: ask the simulator to deliver it again. */
        if (send(xce->evfd, &port, sizeof(port), MSG_NOSIGNAL) < 0) {
            return -1;
        }
    }
    return 0;
}

int
xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid)
{
    return iq_fx_restrict(&xce->restricted, &xce->rdomid, domid);
}
