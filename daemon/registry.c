/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device registry: one explicit const table from device type to
 * constructor and destructor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/lsi.h"
#include "ioreqd/pci.h"
#include "ioreqd/privcmd.h"
#include "ioreqd/scsi.h"
#include "ioreqd/storage.h"
#include "ioreqd/vhost-bridge.h"
#include "ioreqd/virtio-blk.h"
#include "ioreqd/virtio-devices.h"
#include "registry.h"
#include "xenstore-backend.h"

static void
fill_env(struct iq_virtio_env *ve, const struct iq_dev_env *env,
         const struct iq_dev_spec *spec, const struct iq_daemon_dev *d)
{
    memset(ve, 0, sizeof(*ve));
    ve->name = d->name;
    ve->irq = spec->irq;
    ve->mc = env->mc;
    ve->loop = env->loop;
    ve->irq_ops = env->irq_ops;
    ve->irq_opaque = env->irq_opaque;
    ve->arch = env->arch;
    ve->grants = spec->grants;
}

/* ---- virtio-blk ------------------------------------------------------------
 */

static int
blk_create(const struct iq_dev_env *env, const struct iq_dev_spec *spec,
           struct iq_daemon_dev *d, char *err, size_t err_len)
{
    struct iq_storage_opts so = {
        .readonly = spec->readonly,
        .direct = spec->cache == IQ_BLK_CACHE_NONE,
        .nr_queues = spec->queues,
        .no_uring = spec->engine == IQ_BLK_ENGINE_THREADS,
    };
    struct iq_virtio_blk_config bc;
    struct iq_virtio_blk *blk = NULL;
    int rc;

    if (spec->null_backend) {
        rc = iq_storage_open_null(env->loop, spec->null_size, &so, &d->sto);
    } else {
        rc = iq_storage_open_file(env->loop, spec->file, &so, &d->sto);
    }
    if (rc < 0) {
        snprintf(err, err_len, "cannot open %s: %s",
                 spec->null_backend ? "null disk" : spec->file, strerror(-rc));
        return rc;
    }
    if (spec->engine == IQ_BLK_ENGINE_URING &&
        strcmp(iq_storage_engine(d->sto), "io_uring") != 0 &&
        !spec->null_backend) {
        snprintf(err, err_len,
                 "engine=uring requested but io_uring is not "
                 "available (use engine=threads)");
        return -EOPNOTSUPP;
    }
    memset(&bc, 0, sizeof(bc));
    fill_env(&bc.env, env, spec, d);
    bc.storage = d->sto;
    bc.num_queues = spec->queues;
    bc.serial = spec->serial[0] != '\0' ? spec->serial : NULL;
    bc.readonly = spec->readonly;
    rc = iq_virtio_blk_create(&bc, &blk);
    if (rc < 0) {
        snprintf(err, err_len, "cannot create virtio-blk: %s", strerror(-rc));
        return rc;
    }
    d->obj = blk;
    d->vdev = iq_virtio_blk_dev(blk);
    IQ_INFO(d->name, "disk %s, %llu bytes, %s%s, %u queue(s)",
            spec->null_backend ? "null" : spec->file,
            (unsigned long long)iq_storage_size(d->sto),
            iq_storage_engine(d->sto), spec->readonly ? ", read-only" : "",
            spec->queues);
    return 0;
}

static void
blk_destroy(struct iq_daemon_dev *d)
{
    /* The device drains its requests on reset, then the storage goes. */
    iq_virtio_blk_destroy(d->obj);
    d->obj = NULL;
    d->vdev = NULL;
    iq_storage_destroy(d->sto);
    d->sto = NULL;
}

/* ---- virtio-rng ------------------------------------------------------------
 */

static int
rng_create(const struct iq_dev_env *env, const struct iq_dev_spec *spec,
           struct iq_daemon_dev *d, char *err, size_t err_len)
{
    struct iq_virtio_rng_config rc_cfg;
    struct iq_virtio_rng *rng = NULL;
    int rc;

    memset(&rc_cfg, 0, sizeof(rc_cfg));
    fill_env(&rc_cfg.env, env, spec, d);
    rc = iq_virtio_rng_create(&rc_cfg, &rng);
    if (rc < 0) {
        snprintf(err, err_len, "cannot create virtio-rng: %s", strerror(-rc));
        return rc;
    }
    d->obj = rng;
    d->vdev = iq_virtio_rng_dev(rng);
    return 0;
}

static void
rng_destroy(struct iq_daemon_dev *d)
{
    iq_virtio_rng_destroy(d->obj);
    d->obj = NULL;
    d->vdev = NULL;
}

/* ---- virtio-console --------------------------------------------------------
 */

static int
con_create(const struct iq_dev_env *env, const struct iq_dev_spec *spec,
           struct iq_daemon_dev *d, char *err, size_t err_len)
{
    struct iq_virtio_console_config cc;
    struct iq_virtio_console *con = NULL;
    int rc;

    memset(&cc, 0, sizeof(cc));
    fill_env(&cc.env, env, spec, d);
    cc.fd = -1;
    switch (spec->con_backend) {
    case IQ_CON_FILE:
        cc.backend = IQ_VIRTIO_CONSOLE_FILE;
        cc.path = spec->con_path;
        cc.file_max = spec->con_maxsize;
        break;
    case IQ_CON_SOCKET:
        cc.backend = IQ_VIRTIO_CONSOLE_SOCKET;
        cc.path = spec->con_path;
        break;
    case IQ_CON_PTY:
    default:
        cc.backend = IQ_VIRTIO_CONSOLE_PTY;
        break;
    }
    rc = iq_virtio_console_create(&cc, &con);
    if (rc < 0) {
        snprintf(err, err_len, "cannot create virtio-console%s%s: %s",
                 cc.path != NULL ? " on " : "", cc.path != NULL ? cc.path : "",
                 strerror(-rc));
        return rc;
    }
    d->obj = con;
    d->vdev = iq_virtio_console_dev(con);
    return 0;
}

static void
con_destroy(struct iq_daemon_dev *d)
{
    iq_virtio_console_destroy(d->obj);
    d->obj = NULL;
    d->vdev = NULL;
}

/* ---- vhost-user bridge -----------------------------------------------------
 */

/* Arm RAM0 can hold at most 3 GiB; describe all of it on real Xen. */
#define VU_XEN_RAM_DEFAULT (3ull << 30)

/* The bridge and, on real Xen in mmap mode, its privcmd offload. */
struct vu_host {
    struct iq_vhost_bridge *b;
    struct iq_privcmd *pc;
    struct iq_ioreq_server *srv; /* pc registered as its taker */
};

static const struct iq_vhost_offload_ops vu_privcmd_offload_ops = {
    .kick = iq_privcmd_kick,
    .irq = iq_privcmd_irq,
};

/* The privcmd provider over this domain's IOREQ server (page and ports). */
static int
vu_offload_create(const struct iq_dev_env *env, const char *name,
                  struct iq_privcmd **out)
{
    uint32_t ports[IQ_MAX_VCPUS];
    struct iq_privcmd_config pcc;
    unsigned nr;
    int rc;

    *out = NULL;
    if (env->srv == NULL) {
        return -ENODEV;
    }
    nr = iq_ioreq_nr_vcpus(env->srv);
    if (nr == 0 || nr > IQ_MAX_VCPUS) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < nr; i++) {
        rc = iq_ioreq_vcpu_port(env->srv, i);
        if (rc < 0) {
            return rc;
        }
        ports[i] = (uint32_t)rc;
    }
    memset(&pcc, 0, sizeof(pcc));
    pcc.name = name;
    pcc.domid = env->domid;
    pcc.arch = env->arch;
    pcc.ioreq_page = iq_ioreq_sync_page(env->srv);
    pcc.ports = ports;
    pcc.nr_vcpus = nr;
    return iq_privcmd_create(&pcc, out);
}

/*
 * How much guest RAM the XEN_MMAP regions describe: the guest's maximum
 * from xenstore (a daemon may map the regions whole and up front, which
 * fails for RAM the guest does not have), else all of Arm RAM0.
 */
static uint64_t
vu_guest_ram(const struct iq_dev_env *env, const struct iq_daemon_dev *d)
{
    uint64_t ram = 0;
    int rc = iq_xs_guest_ram(env->domid, &ram);

    if (rc < 0) {
        IQ_WARN(d->name,
                "guest RAM size unknown (xenstore memory/static-max: %s): "
                "describing %llu MiB",
                strerror(-rc), (unsigned long long)(VU_XEN_RAM_DEFAULT >> 20));
        return VU_XEN_RAM_DEFAULT;
    }
    IQ_INFO(d->name, "guest RAM %llu MiB (xenstore memory/static-max)",
            (unsigned long long)(ram >> 20));
    return ram;
}

static int
vu_create(const struct iq_dev_env *env, const struct iq_dev_spec *spec,
          struct iq_daemon_dev *d, char *err, size_t err_len)
{
    struct iq_vhost_bridge_config bc;
    struct iq_vhost_mem mem;
    struct vu_host *h;
    bool xen_mem = false;
    int rc;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    d->obj = h;
    memset(&bc, 0, sizeof(bc));
    memset(&mem, 0, sizeof(mem));
    if (spec->vu_mmap) {
        /*
         * The fake Xen (tests) holds the guest RAM memfd; on real Xen the
         * daemon gets XEN_MMAP foreign regions instead.
         */
        rc = iq_vhost_mem_fake_xen(env->arch, &mem);
        if (rc == -ENOENT) {
            rc = iq_vhost_mem_xen(env->domid, env->arch, vu_guest_ram(env, d),
                                  &mem);
            xen_mem = rc == 0;
        }
        if (rc < 0) {
            snprintf(err, err_len, "mode=mmap: no guest memory to share: %s",
                     strerror(-rc));
            return rc;
        }
        bc.mem = &mem;
    }
    /*
     * Real Xen on Arm, mmap mode: the kernel may take QueueNotify writes
     * and the daemon's calls off our hands (Linux >= 6.7; privcmd.h says
     * why not x86). Without it (older kernel, no privcmd) the bridge
     * relays both in userspace.
     */
    if (xen_mem && env->arch == IQ_ARCH_ARM) {
        rc = vu_offload_create(env, d->name, &h->pc);
        if (rc < 0) {
            IQ_INFO(d->name,
                    "no privcmd offload (%s): relaying kicks and "
                    "calls in userspace",
                    strerror(-rc));
        } else if (iq_ioreq_add_taker(env->srv, iq_privcmd_takes, h->pc) == 0) {
            /* The server leaves the kernel its QueueNotify writes. */
            h->srv = env->srv;
            bc.offload = &vu_privcmd_offload_ops;
            bc.offload_opaque = h->pc;
        } else {
            iq_privcmd_destroy(h->pc);
            h->pc = NULL;
        }
    }
    bc.name = d->name;
    bc.socket_path = spec->vu_socket;
    bc.device_id = spec->vu_device_id;
    bc.mode = spec->vu_mmap ? IQ_VHOST_MMAP : IQ_VHOST_SHADOW;
    bc.queues = spec->queues;
    bc.shadow_bytes = spec->vu_shadow;
    bc.fs_tag = spec->vu_tag[0] != '\0' ? spec->vu_tag : NULL;
    bc.readonly = spec->readonly;
    bc.irq = spec->irq;
    bc.base = spec->base;
    bc.mc = env->mc;
    bc.loop = env->loop;
    bc.irq_ops = env->irq_ops;
    bc.irq_opaque = env->irq_opaque;
    bc.arch = env->arch;
    rc = iq_vhost_bridge_create(&bc, &h->b, err, err_len);
    if (xen_mem) {
        iq_vhost_mem_close(&mem); /* the bridge holds its own copies */
    }
    if (rc < 0) {
        return rc;
    }
    d->vdev = iq_vhost_bridge_dev(h->b);
    return 0;
}

static void
vu_log_stats(const struct iq_daemon_dev *d, int level)
{
    const struct vu_host *h = d->obj;
    struct iq_vhost_bridge_stats st;

    if (h == NULL || h->b == NULL) {
        return;
    }
    iq_vhost_bridge_get_stats(h->b, &st);
    iq_log(
        level, d->name,
        "stats: vhost kicks=%llu kicks_suppressed=%llu calls=%llu "
        "relayed=%llu backpressure=%llu reconnects=%llu disconnects=%llu "
        "kick_offloaded=%llu irq_offloaded=%llu ro_refused=%llu",
        (unsigned long long)st.kicks, (unsigned long long)st.kicks_suppressed,
        (unsigned long long)st.calls, (unsigned long long)st.relayed,
        (unsigned long long)st.backpressure, (unsigned long long)st.reconnects,
        (unsigned long long)st.disconnects,
        (unsigned long long)st.kick_offloaded,
        (unsigned long long)st.irq_offloaded,
        (unsigned long long)st.ro_refused);
}

static void
vu_destroy(struct iq_daemon_dev *d)
{
    struct vu_host *h = d->obj;

    if (h != NULL) {
        /* The bridge deassigns what it offloaded; the provider the rest. */
        iq_vhost_bridge_destroy(h->b);
        if (h->srv != NULL) {
            iq_ioreq_del_taker(h->srv, h->pc);
        }
        iq_privcmd_destroy(h->pc);
        free(h);
    }
    d->obj = NULL;
    d->vdev = NULL;
}

/* ---- lsi53c895a -------------------------------------------------------------
 */

/* Everything one LSI controller owns in the daemon. */
struct lsi_host {
    char name[24];
    struct iq_ioreq_server *srv;
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    uint32_t sbdf;
    struct iq_lsi *lsi;
    struct iq_region *cfg_region;
    struct iq_region *bar_region[IQ_PCI_NR_BARS];
    struct iq_scsi_target *targets[IQ_LSI_MAX_TARGETS];
    struct iq_storage *sto[IQ_DAEMON_LSI_MAX_DISKS];
    struct iq_ratelimit rl;
};

static int
lsi_host_map(void *host, unsigned bar, enum iq_space space, uint64_t addr,
             uint64_t size, const struct iq_region_ops *ops, void *opaque)
{
    struct lsi_host *h = host;

    if (bar >= IQ_PCI_NR_BARS || h->bar_region[bar] != NULL) {
        return -EINVAL;
    }
    return iq_ioreq_map_region(h->srv, space, addr, size, ops, opaque,
                               &h->bar_region[bar]);
}

static void
lsi_host_unmap(void *host, unsigned bar)
{
    struct lsi_host *h = host;

    if (bar < IQ_PCI_NR_BARS) {
        iq_ioreq_unmap_region(h->srv, h->bar_region[bar]);
        h->bar_region[bar] = NULL;
    }
}

static int
lsi_host_intx(void *host, unsigned pin, unsigned level)
{
    struct lsi_host *h = host;
    int rc;

    /* INTx only: never set_isa_irq_level for a PCI function. */
    if (h->irq_ops == NULL || h->irq_ops->pci_intx == NULL) {
        return -EOPNOTSUPP;
    }
    rc = h->irq_ops->pci_intx(h->irq_opaque, h->sbdf, pin, level);
    if (rc < 0) {
        iq_log_guest(&h->rl, h->name, "INTx level %u failed: %s", level,
                     strerror(-rc));
    }
    return rc;
}

static const struct iq_pci_host_ops lsi_pci_host_ops = {
    .map = lsi_host_map,
    .unmap = lsi_host_unmap,
    .intx = lsi_host_intx,
};

static void
lsi_destroy(struct iq_daemon_dev *d)
{
    struct lsi_host *h = d->obj;

    if (h == NULL) {
        return;
    }
    iq_ioreq_unmap_region(h->srv, h->cfg_region);
    h->cfg_region = NULL;
    /* Unmaps the BARs (through lsi_host_unmap) and drains commands. */
    iq_lsi_destroy(h->lsi);
    for (unsigned i = 0; i < IQ_LSI_MAX_TARGETS; i++) {
        iq_scsi_target_destroy(h->targets[i]);
    }
    for (unsigned i = 0; i < IQ_DAEMON_LSI_MAX_DISKS; i++) {
        iq_storage_destroy(h->sto[i]);
    }
    free(h);
    d->obj = NULL;
}

static void
lsi_log_stats(const struct iq_daemon_dev *d, int level)
{
    const struct lsi_host *h = d->obj;
    struct iq_lsi_stats st;

    if (h == NULL || h->lsi == NULL) {
        return;
    }
    iq_lsi_get_stats(h->lsi, &st);
    iq_log(level, d->name,
           "stats: lsi insns=%llu parks=%llu commands=%llu reselects=%llu "
           "sel_timeouts=%llu bus_resets=%llu chip_resets=%llu "
           "illegal=%llu bus_faults=%llu",
           (unsigned long long)st.insns, (unsigned long long)st.parks,
           (unsigned long long)st.commands, (unsigned long long)st.reselects,
           (unsigned long long)st.sel_timeouts,
           (unsigned long long)st.bus_resets,
           (unsigned long long)st.chip_resets, (unsigned long long)st.illegal,
           (unsigned long long)st.bus_faults);
}

static int
lsi_create(const struct iq_dev_env *env, const struct iq_dev_spec *spec,
           struct iq_daemon_dev *d, char *err, size_t err_len)
{
    struct iq_lsi_config lc;
    struct lsi_host *h;
    int rc;

    if (env->arch != IQ_ARCH_X86 || env->srv == NULL) {
        snprintf(err, err_len, "lsi53c895a needs an x86 guest");
        return -EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    d->obj = h;
    snprintf(h->name, sizeof(h->name), "%s", d->name);
    h->srv = env->srv;
    h->irq_ops = env->irq_ops;
    h->irq_opaque = env->irq_opaque;
    h->sbdf = spec->pci_sbdf;
    for (unsigned i = 0; i < spec->nr_disks; i++) {
        const struct iq_lsi_disk_spec *ds = &spec->disks[i];
        struct iq_storage_opts so = {.readonly = ds->readonly};
        struct iq_scsi_lun_config lcfg = {.readonly = ds->readonly};
        char tname[40];

        if (ds->null_backend) {
            rc =
                iq_storage_open_null(env->loop, ds->null_size, &so, &h->sto[i]);
        } else {
            rc = iq_storage_open_file(env->loop, ds->path, &so, &h->sto[i]);
        }
        if (rc < 0) {
            snprintf(err, err_len, "cannot open %s: %s",
                     ds->null_backend ? "null disk" : ds->path, strerror(-rc));
            return rc;
        }
        if (h->targets[ds->target] == NULL) {
            snprintf(tname, sizeof(tname), "%s t%u", d->name, ds->target);
            rc = iq_scsi_target_create(tname, env->loop,
                                       &h->targets[ds->target]);
            if (rc < 0) {
                snprintf(err, err_len, "cannot create SCSI target %u: %s",
                         ds->target, strerror(-rc));
                return rc;
            }
        }
        lcfg.storage = h->sto[i];
        rc = iq_scsi_target_add_lun(h->targets[ds->target], ds->lun, &lcfg);
        if (rc < 0) {
            snprintf(err, err_len, "cannot add target %u lun %u: %s",
                     ds->target, ds->lun, strerror(-rc));
            return rc;
        }
        IQ_INFO(d->name, "target %u lun %u: %s, %llu bytes%s", ds->target,
                ds->lun, ds->null_backend ? "null" : ds->path,
                (unsigned long long)iq_storage_size(h->sto[i]),
                ds->readonly ? ", read-only" : "");
    }
    memset(&lc, 0, sizeof(lc));
    lc.name = d->name;
    lc.loop = env->loop;
    lc.mc = env->mc;
    memcpy(lc.targets, h->targets, sizeof(lc.targets));
    lc.host = &lsi_pci_host_ops;
    lc.host_opaque = h;
    rc = iq_lsi_create(&lc, &h->lsi);
    if (rc < 0) {
        snprintf(err, err_len, "cannot create lsi53c895a: %s", strerror(-rc));
        return rc;
    }
    rc = iq_ioreq_map_region(env->srv, IQ_SPACE_PCI, spec->pci_sbdf,
                             IQ_PCI_CFG_SIZE, iq_pci_region_ops(),
                             iq_lsi_pci(h->lsi), &h->cfg_region);
    if (rc < 0) {
        snprintf(err, err_len, "cannot claim PCI %04x:%02x:%02x.%x: %s",
                 spec->pci_sbdf >> 16, (spec->pci_sbdf >> 8) & 0xffu,
                 (spec->pci_sbdf >> 3) & 0x1fu, spec->pci_sbdf & 7u,
                 strerror(-rc));
        return rc;
    }
    IQ_INFO(d->name, "lsi53c895a at PCI %04x:%02x:%02x.%x, %u disk(s)",
            spec->pci_sbdf >> 16, (spec->pci_sbdf >> 8) & 0xffu,
            (spec->pci_sbdf >> 3) & 0x1fu, spec->pci_sbdf & 7u, spec->nr_disks);
    return 0;
}

static const struct iq_dev_class registry[] = {
    {IQ_DEV_VIRTIO_BLK, "blk", blk_create, blk_destroy, NULL},
    {IQ_DEV_VIRTIO_RNG, "rng", rng_create, rng_destroy, NULL},
    {IQ_DEV_VIRTIO_CONSOLE, "con", con_create, con_destroy, NULL},
    {IQ_DEV_VHOST_USER, "vu", vu_create, vu_destroy, vu_log_stats},
    {IQ_DEV_LSI53C895A, "lsi", lsi_create, lsi_destroy, lsi_log_stats},
};

const struct iq_dev_class *
iq_daemon_registry_find(enum iq_dev_type type)
{
    for (size_t i = 0; i < IQ_ARRAY_SIZE(registry); i++) {
        if (registry[i].type == type) {
            return &registry[i];
        }
    }
    return NULL;
}
