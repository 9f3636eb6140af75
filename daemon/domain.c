/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One guest's object graph (STYLE.md section 7): the domain owns the loop,
 * the mapcache and its Xen backend, the IOREQ server and every device.
 * Construction follows a stage order that teardown unwinds in reverse;
 * every pointer starts NULL and every fd -1, so one destroy handles any
 * partial state.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "domain.h"
#include "ioreqd/err.h"
#include "ioreqd/ioreq.h"
#include "ioreqd/log.h"
#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/xenstore.h"
#include "registry.h"

struct iq_domain {
    const struct iq_daemon_config *cfg;
    char ctx[16]; /* "dom5" */
    struct iq_loop *loop;
    int sigfd;
    int alive_fd; /* liveness probe timer */
    struct iq_xenstore *xs; /* @releaseDomain watch (may be NULL) */
    int xs_fd;
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    struct iq_mc_xen *mcx;
    struct iq_mc *mc;
    struct iq_ioreq_server *srv;
    unsigned nr_devs; /* devices whose create was attempted */
    struct iq_daemon_dev devs[IQ_DAEMON_MAX_DEVICES];
    bool gone;
    int loop_err;
};

static void seterr(char *err, size_t err_len, const char *fmt, ...)
    IQ_PRINTF(3, 4);

static void
seterr(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ---- guest memory for ioreq/ (data_is_ptr) ------------------------------ */

static int
gmem_read(void *opaque, gpa_t gpa, void *buf, size_t len)
{
    struct iq_domain *d = opaque;

    return iq_mc_read(d->mc, gpa, buf, len);
}

static int
gmem_write(void *opaque, gpa_t gpa, const void *buf, size_t len)
{
    struct iq_domain *d = opaque;

    return iq_mc_write(d->mc, gpa, buf, len);
}

static void
gmem_invalidate(void *opaque)
{
    struct iq_domain *d = opaque;

    iq_mc_invalidate(d->mc);
}

static const struct iq_gmem_ops domain_gmem_ops = {
    .read = gmem_read,
    .write = gmem_write,
    .invalidate = gmem_invalidate,
};

/* ---- events ----------------------------------------------------------------
 */

static void
domain_gone(void *opaque)
{
    struct iq_domain *d = opaque;

    if (!d->gone) {
        IQ_NOTICE(d->ctx, "domain is gone, shutting down");
    }
    d->gone = true;
    iq_loop_stop(d->loop);
}

static void
on_signal(void *opaque, uint32_t events)
{
    struct iq_domain *d = opaque;
    struct signalfd_siginfo si;
    ssize_t n;

    (void)events;
    /* Bounded: at most a handful of queued signals per wake-up. */
    for (unsigned i = 0; i < 16; i++) {
        n = read(d->sigfd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si)) {
            return;
        }
        switch (si.ssi_signo) {
        case SIGUSR1:
            iq_domain_log_stats(d, IQ_LOG_NOTICE);
            break;
        case SIGTERM:
        case SIGINT:
        case SIGHUP:
            IQ_NOTICE(d->ctx, "signal %u, shutting down", si.ssi_signo);
            iq_loop_stop(d->loop);
            break;
        default:
            break;
        }
    }
}

static int
open_signalfd(struct iq_domain *d)
{
    sigset_t set;
    int rc;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->sigfd < 0) {
        return IQ_NEG_ERRNO();
    }
    rc = iq_loop_add_fd(d->loop, d->sigfd, EPOLLIN, on_signal, d);
    if (rc < 0) {
        iq_close_fd(&d->sigfd);
    }
    return rc;
}

/*
 * Liveness probe. When the domain is destroyed nothing tells an idle daemon:
 * its event channels just go quiet, and a xenstore watch does not survive
 * xentoolcore_restrict_all. Every IQ_ALIVE_PERIOD_S the loop asks Xen with a
 * side-effect-free dm_op (iq_ioreq_check_alive); once the domain is gone it
 * fails with ESRCH and ioreq/ reports domain_gone.
 */
#define IQ_ALIVE_PERIOD_S 1

static void
on_alive_timer(void *opaque, uint32_t events)
{
    struct iq_domain *d = opaque;
    uint64_t expirations;

    (void)events;
    if (read(d->alive_fd, &expirations, sizeof(expirations)) < 0) {
        return;
    }
    if (d->gone || d->srv == NULL) {
        return;
    }
    /* -ESRCH is reported through domain_gone; other errors are transient. */
    if (iq_ioreq_check_alive(d->srv) < 0) {
        IQ_DBG(d->ctx, "liveness check failed");
    }
}

/*
 * Domain death through xenstore. A destroyed domain can linger as a zombie
 * while our own foreign mappings hold it ("(null) --p--d" in xl list), and
 * dm_ops such as nr_vcpus keep succeeding on it (seen on Xen 4.17 x86), so
 * the liveness timer alone never fires. The toolstack removes
 * /local/domain/<domid> and xenstored fires @releaseDomain: watch it and
 * check the node. The handle is opened after xentoolcore_restrict_all,
 * which disables earlier ones; xenstore access is mediated by xenstored's
 * own permissions. Without xenstored (no handle) only the timer is used.
 */
#define IQ_XS_REL_TOKEN "iq-release"

static bool
domain_node_exists(struct iq_domain *d)
{
    char path[64];
    unsigned int len;
    void *v;

    snprintf(path, sizeof(path), "/local/domain/%d", d->cfg->domid);
    v = iq_xenstore_read(d->xs, IQ_XBT_NULL, path, &len);
    if (v != NULL) {
        free(v);
        return true;
    }
    /* Only a definite "no such node" means gone; other errors retry. */
    return errno != ENOENT;
}

static void
on_xs_event(void *opaque, uint32_t events)
{
    struct iq_domain *d = opaque;
    bool release = false;
    char **ev;

    /* Bounded: at most a batch of queued events per wake-up. */
    for (unsigned n = 0; n < 64; n++) {
        ev = iq_xenstore_check_watch(d->xs);
        if (ev == NULL) {
            break;
        }
        release |= strcmp(ev[IQ_XS_WATCH_TOKEN], IQ_XS_REL_TOKEN) == 0;
        free(ev);
    }
    if (events & (EPOLLERR | EPOLLHUP)) {
        /* xenstored went away: stop watching, keep the timer. */
        iq_loop_del_fd(d->loop, d->xs_fd);
        d->xs_fd = -1;
        return;
    }
    if (release && !d->gone && !domain_node_exists(d)) {
        domain_gone(d);
    }
}

static void
open_release_watch(struct iq_domain *d)
{
    d->xs = iq_xenstore_open();
    if (d->xs == NULL) {
        IQ_NOTICE(d->ctx,
                  "no xenstore (%s): domain death is detected by "
                  "polling only",
                  strerror(errno));
        return;
    }
    if (!iq_xenstore_watch(d->xs, "@releaseDomain", IQ_XS_REL_TOKEN)) {
        IQ_NOTICE(d->ctx, "cannot watch @releaseDomain: %s", strerror(errno));
        iq_xenstore_close(d->xs);
        d->xs = NULL;
        return;
    }
    d->xs_fd = iq_xenstore_fileno(d->xs);
    if (iq_loop_add_fd(d->loop, d->xs_fd, EPOLLIN, on_xs_event, d) < 0) {
        d->xs_fd = -1;
        iq_xenstore_close(d->xs);
        d->xs = NULL;
    }
}

static int
open_alive_timer(struct iq_domain *d)
{
    struct itimerspec its = {
        .it_interval = {IQ_ALIVE_PERIOD_S, 0},
        .it_value = {IQ_ALIVE_PERIOD_S, 0},
    };
    int rc;

    d->alive_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->alive_fd < 0) {
        return IQ_NEG_ERRNO();
    }
    if (timerfd_settime(d->alive_fd, 0, &its, NULL) < 0) {
        rc = IQ_NEG_ERRNO();
        iq_close_fd(&d->alive_fd);
        return rc;
    }
    rc = iq_loop_add_fd(d->loop, d->alive_fd, EPOLLIN, on_alive_timer, d);
    if (rc < 0) {
        iq_close_fd(&d->alive_fd);
    }
    return rc;
}

/* ---- construction -----------------------------------------------------------
 */

static unsigned
log2_u64(uint64_t v)
{
    unsigned s = 0;

    while (v > 1) {
        v >>= 1;
        s++;
    }
    return s;
}

static void
dev_env(struct iq_domain *d, struct iq_dev_env *env)
{
    memset(env, 0, sizeof(*env));
    env->domid = (uint16_t)d->cfg->domid;
    env->arch = d->cfg->arch;
    env->loop = d->loop;
    env->mc = d->mc;
    env->srv = d->srv;
    iq_ioreq_irq_ops(d->srv, &env->irq_ops, &env->irq_opaque);
    d->irq_ops = env->irq_ops;
    d->irq_opaque = env->irq_opaque;
}

/* Create configured device `i` and claim its window. */
static int
create_one(struct iq_domain *d, const struct iq_dev_env *env, unsigned i,
           char *err, size_t err_len)
{
    const struct iq_dev_spec *spec = &d->cfg->devs[i];
    const struct iq_dev_class *cls = iq_daemon_registry_find(spec->type);
    struct iq_daemon_dev *dev = &d->devs[i];
    char sub[IQ_DAEMON_ERR_LEN];
    unsigned same_type = 0;
    int rc;

    if (cls == NULL) {
        seterr(err, err_len, "device %u: no constructor for %s", i,
               iq_dev_type_name(spec->type));
        return -EINVAL;
    }
    /* Names count per type: blk0, blk1, rng0, ... */
    for (unsigned j = 0; j < i; j++) {
        same_type += d->cfg->devs[j].type == spec->type;
    }
    dev->cls = cls;
    snprintf(dev->name, sizeof(dev->name), "%s %s%u", d->ctx, cls->short_name,
             same_type);
    d->nr_devs = i + 1;
    sub[0] = '\0';
    rc = cls->create(env, spec, dev, sub, sizeof(sub));
    if (rc < 0) {
        seterr(err, err_len, "%s: %s", dev->name,
               sub[0] != '\0' ? sub : strerror(-rc));
        return rc;
    }
    if (spec->type == IQ_DEV_LSI53C895A) {
        /* A PCI function: its create claimed its config space. */
        return 0;
    }
    rc = iq_ioreq_map_region(d->srv, IQ_SPACE_MMIO, spec->base,
                             IQ_VIRTIO_MMIO_SIZE, iq_virtio_region_ops(),
                             dev->vdev, &dev->region);
    if (rc < 0) {
        seterr(err, err_len, "%s: cannot claim MMIO 0x%llx..0x%llx: %s",
               dev->name, (unsigned long long)spec->base,
               (unsigned long long)(spec->base + IQ_VIRTIO_MMIO_SIZE - 1),
               strerror(-rc));
        return rc;
    }
    IQ_INFO(dev->name, "%s at 0x%llx irq %u", iq_dev_type_name(spec->type),
            (unsigned long long)spec->base, spec->irq);
    return 0;
}

static int
create_devices(struct iq_domain *d, char *err, size_t err_len)
{
    struct iq_dev_env env;
    int rc;

    dev_env(d, &env);
    for (unsigned i = 0; i < d->cfg->nr_devs; i++) {
        rc = create_one(d, &env, i, err, err_len);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int
iq_domain_add_device(struct iq_domain *d, unsigned i, char *err, size_t err_len)
{
    struct iq_dev_env env;

    if (i != d->nr_devs || i >= d->cfg->nr_devs) {
        seterr(err, err_len, "device %u: out of order", i);
        return -EINVAL;
    }
    dev_env(d, &env);
    return create_one(d, &env, i, err, err_len);
}

void
iq_domain_close_device(struct iq_domain *d, unsigned i)
{
    struct iq_daemon_dev *dev;

    if (i >= d->nr_devs) {
        return;
    }
    dev = &d->devs[i];
    if (dev->region != NULL) {
        iq_ioreq_unmap_region(d->srv, dev->region);
        dev->region = NULL;
    }
    if (dev->cls != NULL) {
        dev->cls->destroy(dev);
        dev->cls = NULL;
    }
}

struct iq_loop *
iq_domain_loop(struct iq_domain *d)
{
    return d->loop;
}

void
iq_domain_stop(struct iq_domain *d)
{
    iq_loop_stop(d->loop);
}

/* True when some device is configured for grant DMA (ACCESS_PLATFORM). */
static bool
any_grants(const struct iq_daemon_config *cfg)
{
    for (unsigned i = 0; i < cfg->nr_devs; i++) {
        if (cfg->devs[i].grants) {
            return true;
        }
    }
    return false;
}

int
iq_domain_create(const struct iq_daemon_config *cfg, struct iq_domain **out,
                 char *err, size_t err_len)
{
    struct iq_domain *d = calloc(1, sizeof(*d));
    struct iq_mc_config mcc = {0};
    struct iq_ioreq_config ic = {0};
    int rc;

    if (d == NULL) {
        seterr(err, err_len, "out of memory");
        return -ENOMEM;
    }
    d->cfg = cfg;
    d->sigfd = -1;
    d->alive_fd = -1;
    d->xs_fd = -1;
    snprintf(d->ctx, sizeof(d->ctx), "dom%d", cfg->domid);

    rc = iq_loop_create(&d->loop);
    if (rc < 0) {
        seterr(err, err_len, "cannot create the event loop: %s", strerror(-rc));
        goto fail;
    }
    rc = open_signalfd(d);
    if (rc < 0) {
        seterr(err, err_len, "cannot create a signalfd: %s", strerror(-rc));
        goto fail;
    }
    rc = iq_mc_xen_open((uint16_t)cfg->domid, any_grants(cfg), &d->mcx);
    if (rc < 0) {
        seterr(err, err_len, "cannot open foreign memory for domain %d: %s",
               cfg->domid, strerror(-rc));
        goto fail;
    }
    iq_mc_xen_backends(d->mcx, &mcc);
    mcc.cap_bytes = (size_t)cfg->mapcache_size;
    mcc.bucket_shift = log2_u64(cfg->mapcache_bucket);
    rc = iq_mc_create(&mcc, &d->mc);
    if (rc < 0) {
        seterr(err, err_len, "cannot create the mapcache (cap %llu): %s",
               (unsigned long long)cfg->mapcache_size, strerror(-rc));
        goto fail;
    }
    ic.domid = (uint16_t)cfg->domid;
    ic.arch = cfg->arch;
    /* Xen on Arm refuses buffered ioreqs; x86 uses atomic pointers. */
    ic.bufioreq =
        cfg->arch == IQ_ARCH_ARM ? IQ_BUFIOREQ_OFF : IQ_BUFIOREQ_ATOMIC;
    ic.pvh = cfg->pvh;
    ic.loop = d->loop;
    ic.gmem = &domain_gmem_ops;
    ic.gmem_opaque = d;
    ic.domain_gone = domain_gone;
    ic.domain_gone_opaque = d;
    rc = iq_ioreq_create(&ic, &d->srv);
    if (rc < 0) {
        seterr(err, err_len, "cannot create the IOREQ server for domain %d: %s",
               cfg->domid, strerror(-rc));
        goto fail;
    }
    rc = create_devices(d, err, err_len);
    if (rc < 0) {
        goto fail;
    }
    /* Every Xen handle is open now (ioreq/ and mapcache/). */
    rc = iq_ioreq_restrict(d->srv);
    if (rc < 0) {
        seterr(err, err_len, "cannot restrict Xen handles to domain %d: %s",
               cfg->domid, strerror(-rc));
        goto fail;
    }
    rc = open_alive_timer(d);
    if (rc < 0) {
        seterr(err, err_len, "cannot create a timerfd: %s", strerror(-rc));
        goto fail;
    }
    open_release_watch(d);
    IQ_NOTICE(d->ctx, "serving %u device(s), %u vCPU(s), mapcache %llu MiB",
              d->nr_devs, iq_ioreq_nr_vcpus(d->srv),
              (unsigned long long)(cfg->mapcache_size >> 20));
    *out = d;
    return 0;
fail:
    iq_domain_destroy(d);
    return rc;
}

int
iq_domain_run(struct iq_domain *d)
{
    int rc = iq_loop_run(d->loop);

    if (rc < 0) {
        IQ_ERR(d->ctx, "event loop failed: %s", strerror(-rc));
        d->loop_err = rc;
        return 1;
    }
    return 0;
}

void
iq_domain_log_stats(const struct iq_domain *d, int level)
{
    struct iq_mc_stats ms;
    struct iq_ioreq_stats is;

    if (d == NULL || !iq_log_enabled(level)) {
        return;
    }
    if (d->mc != NULL) {
        iq_mc_get_stats(d->mc, &ms);
        iq_log(level, d->ctx,
               "stats: mapcache hits=%llu misses=%llu evictions=%llu "
               "map_calls=%llu unmap_calls=%llu busy=%llu "
               "invalidations=%llu bytes_mapped=%llu peak=%llu pins=%llu",
               (unsigned long long)ms.hits, (unsigned long long)ms.misses,
               (unsigned long long)ms.evictions,
               (unsigned long long)ms.map_calls,
               (unsigned long long)ms.unmap_calls, (unsigned long long)ms.busy,
               (unsigned long long)ms.invalidations,
               (unsigned long long)ms.bytes_mapped,
               (unsigned long long)ms.bytes_mapped_peak,
               (unsigned long long)ms.pins);
    }
    if (d->srv != NULL) {
        iq_ioreq_get_stats(d->srv, &is);
        iq_log(level, d->ctx,
               "stats: ioreq ioreqs=%llu buffered=%llu spurious=%llu "
               "raced=%llu taker_timeouts=%llu unclaimed=%llu "
               "invalidates=%llu unknown_type=%llu gmem_errors=%llu",
               (unsigned long long)is.ioreqs, (unsigned long long)is.buffered,
               (unsigned long long)is.spurious, (unsigned long long)is.raced,
               (unsigned long long)is.taker_timeouts,
               (unsigned long long)is.unclaimed,
               (unsigned long long)is.invalidates,
               (unsigned long long)is.unknown_type,
               (unsigned long long)is.gmem_errors);
    }
    for (unsigned i = 0; i < d->nr_devs; i++) {
        const struct iq_daemon_dev *dev = &d->devs[i];

        if (dev->cls != NULL && dev->cls->log_stats != NULL) {
            dev->cls->log_stats(dev, level);
        }
    }
}

void
iq_domain_destroy(struct iq_domain *d)
{
    if (d == NULL) {
        return;
    }
    /*
     * Regions first (Xen stops sending accesses), then devices (which
     * drain their storage and release their pins), then the server, the
     * mapcache and its handles, and last the loop.
     */
    for (unsigned i = d->nr_devs; i-- > 0;) {
        struct iq_daemon_dev *dev = &d->devs[i];

        if (dev->region != NULL) {
            iq_ioreq_unmap_region(d->srv, dev->region);
            dev->region = NULL;
        }
    }
    for (unsigned i = d->nr_devs; i-- > 0;) {
        struct iq_daemon_dev *dev = &d->devs[i];

        if (dev->cls != NULL) {
            dev->cls->destroy(dev);
        }
    }
    if (d->alive_fd >= 0) {
        iq_loop_del_fd(d->loop, d->alive_fd);
        iq_close_fd(&d->alive_fd);
    }
    if (d->xs_fd >= 0) {
        iq_loop_del_fd(d->loop, d->xs_fd);
        d->xs_fd = -1;
    }
    iq_xenstore_close(d->xs);
    iq_ioreq_destroy(d->srv);
    iq_mc_destroy(d->mc);
    iq_mc_xen_close(d->mcx);
    if (d->sigfd >= 0) {
        iq_loop_del_fd(d->loop, d->sigfd);
        iq_close_fd(&d->sigfd);
    }
    iq_loop_destroy(d->loop);
    free(d);
}
