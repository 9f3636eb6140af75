/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device registry: one explicit const table from device type to
 * constructor and destructor.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/storage.h"
#include "ioreqd/virtio-blk.h"
#include "ioreqd/virtio-devices.h"
#include "registry.h"

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
    ve->grants = false;
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

static const struct iq_dev_class registry[] = {
    {IQ_DEV_VIRTIO_BLK, "blk", blk_create, blk_destroy},
    {IQ_DEV_VIRTIO_RNG, "rng", rng_create, rng_destroy},
    {IQ_DEV_VIRTIO_CONSOLE, "con", con_create, con_destroy},
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
