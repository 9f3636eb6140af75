/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Device registry: a const table from device type to constructor
 * (STYLE.md section 3: no constructor attributes).
 */
#ifndef IQ_DAEMON_REGISTRY_H
#define IQ_DAEMON_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ioreqd/ioreq.h"
#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/storage.h"
#include "ioreqd/virtio.h"

/* What every device constructor gets from the domain. */
struct iq_dev_env {
    uint16_t domid;
    enum iq_arch arch;
    struct iq_loop *loop;
    struct iq_mc *mc;
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    /*
     * For devices that claim their own regions (PCI functions map their
     * config space and BARs); virtio-mmio devices leave this alone and the
     * domain maps their window from d->vdev.
     */
    struct iq_ioreq_server *srv;
};

/* One device instance as the domain holds it. */
struct iq_daemon_dev {
    const struct iq_dev_class *cls;
    char name[24]; /* "dom5 blk0": log context */
    void *obj; /* the device's own object */
    struct iq_virtio_dev *vdev; /* its virtio-mmio register file */
    struct iq_storage *sto; /* virtio-blk only */
    struct iq_region *region;
};

struct iq_dev_class {
    enum iq_dev_type type;
    const char *short_name; /* "blk", "rng", "con" */
    /*
     * Build the device from `spec`; on success d->vdev is set. On failure
     * return -errno with one line in err (d may be partially filled; the
     * caller runs destroy on it).
     */
    int (*create)(const struct iq_dev_env *env, const struct iq_dev_spec *spec,
                  struct iq_daemon_dev *d, char *err, size_t err_len);
    /* Accepts a partially built d. */
    void (*destroy)(struct iq_daemon_dev *d);
    /* Optional: one "stats: ..." log line for the device (SIGUSR1, exit). */
    void (*log_stats)(const struct iq_daemon_dev *d, int level);
};

/* NULL for an unknown type. */
const struct iq_dev_class *iq_daemon_registry_find(enum iq_dev_type type);

#endif /* IQ_DAEMON_REGISTRY_H */
