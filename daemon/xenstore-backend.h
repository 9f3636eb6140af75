/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The toolstack side of ioreqd: xenstore discovery, the backend state
 * handshake with libxl, and the per-domain launcher.
 *
 * Xen 4.17 (disk = [ "..., specification=virtio, target=PATH" ]): libxl
 * writes /local/domain/0/backend/virtio_disk/<domid>/<devid>/ with state 1
 * (Initialising), `base` in decimal, `irq`, `params` (the target), `mode`
 * ("w" or "r") and then waits up to 10 s for state 2 (InitWait) while the
 * domain stays paused; `xl create` fails otherwise. On destroy it writes 5
 * (Closing) and waits up to 10 s for 6 (Closed), then removes the nodes.
 *
 * Xen 4.18+ (virtio = [ "type=virtio,device<N>, transport=mmio, ..." ]):
 * /local/domain/0/backend/virtio/<domid>/<devid>/ with `type`, `base` in
 * 0x hex, `irq`, `transport` and `grant_usage`; libxl does not wait.
 *
 * Everything here runs on the event-loop thread. Xenstore reads and writes
 * are short synchronous requests to xenstored; nothing here waits for a
 * watch or for another process. The xenstore backend nodes are written by
 * dom0's toolstack, not by the guest, but they are still validated: a bad
 * node fails discovery of that device with a message, never an abort.
 */
#ifndef IQ_DAEMON_XENSTORE_BACKEND_H
#define IQ_DAEMON_XENSTORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ioreqd/compiler.h"

struct iq_xenstore;
struct iq_loop;

/* At most 11 virtio-mmio devices per Arm guest (SPIs 33..43). */
#define IQ_XS_MAX_DEVS 11u
/* MMIO window libxl gives each virtio-mmio device. */
#define IQ_XS_DEV_WINDOW 0x200u
/* Longest backend directory path we build ("/local/domain/0/..."). */
#define IQ_XS_PATH_MAX 96u
/* Longest `params` (target path) accepted. */
#define IQ_XS_PARAMS_MAX 4096u

/* XenbusState values (xen/io/xenbus.h). */
enum iq_xs_state {
    IQ_XS_UNKNOWN = 0,
    IQ_XS_INITIALISING = 1,
    IQ_XS_INITWAIT = 2,
    IQ_XS_INITIALISED = 3,
    IQ_XS_CONNECTED = 4,
    IQ_XS_CLOSING = 5,
    IQ_XS_CLOSED = 6,
};

enum iq_xs_layout {
    IQ_XS_VIRTIO_DISK = 0, /* Xen 4.17: backend/virtio_disk */
    IQ_XS_VIRTIO = 1, /* Xen 4.18+: backend/virtio */
};

/* One device found in xenstore. */
struct iq_xs_dev {
    enum iq_xs_layout layout;
    uint32_t devid;
    uint64_t base; /* start of the 0x200 MMIO window */
    uint32_t irq; /* GIC INTID (33 and up on Arm) */
    int state; /* backend state when discovered */
    /* IQ_XS_VIRTIO_DISK */
    bool readonly; /* mode "r" */
    char *params; /* target path, malloc'ed; NULL otherwise */
    /* IQ_XS_VIRTIO */
    uint32_t virtio_id; /* from type "virtio,device<hex>"; 0: none */
    bool grant_usage;
    char path[IQ_XS_PATH_MAX]; /* backend directory */
};

struct iq_xs_devs {
    unsigned n;
    struct iq_xs_dev dev[IQ_XS_MAX_DEVS];
};

/* ---- pure parsing (no xenstore; unit-tested) ---- */

/*
 * Parse an unsigned number: decimal, or hex with a 0x/0X prefix. No sign,
 * no spaces, no trailing text, at most `max`. 0, -EINVAL or -ERANGE.
 */
IQ_MUST_CHECK int iq_xs_parse_number(const char *s, uint64_t max,
                                     uint64_t *out);
/*
 * /local/domain/<domid>/memory/static-max as libxl writes it (the guest's
 * maximum RAM in KiB, decimal) to bytes, rounded up to a 4 KiB page; at
 * most 1 TiB. 0, -EINVAL or -ERANGE.
 */
IQ_MUST_CHECK int iq_xs_parse_static_max(const char *s, uint64_t *bytes);
/*
 * The guest's maximum RAM in bytes, read from its xenstore memory/static-max
 * on a connection of its own (opened and closed here). 0 or -errno.
 */
IQ_MUST_CHECK int iq_xs_guest_ram(uint16_t domid, uint64_t *bytes);
/* A XenbusState value 0..6 in decimal. 0 or -EINVAL. */
IQ_MUST_CHECK int iq_xs_parse_state(const char *s, int *out);
/* `mode`: "w" -> rw, "r" -> read-only. 0 or -EINVAL. */
IQ_MUST_CHECK int iq_xs_parse_mode(const char *s, bool *readonly);
/*
 * 4.18 `type`: "virtio,device" (id 0) or "virtio,device<hex>" (the virtio
 * device ID, lower-case hex without 0x). 0 or -EINVAL.
 */
IQ_MUST_CHECK int iq_xs_parse_virtio_type(const char *s, uint32_t *id);

/* Key lookup for iq_xs_parse_dev: the value of `key`, or NULL if absent. */
typedef const char *(*iq_xs_get_fn)(void *opaque, const char *key);

/*
 * Build *dev from the keys of one backend directory, read through `get`
 * (keys relative to the directory: "base", "irq", ...). Checks: `base`
 * non-zero and 0x200 aligned, `irq` 32..1019 (a GIC SPI), `state` present;
 * for virtio_disk `params` non-empty (< IQ_XS_PARAMS_MAX), `mode` r/w,
 * `specification`/`transport` when present must be virtio/mmio,
 * `frontend-id` when present must equal `domid`; for virtio `transport`
 * must be mmio. `path` is copied into dev->path.
 * Returns 0, -EINVAL (bad or missing key), -EOPNOTSUPP (other transport),
 * -ENOMEM. On error *dev holds nothing to free.
 */
IQ_MUST_CHECK int iq_xs_parse_dev(enum iq_xs_layout layout, uint16_t domid,
                                  uint32_t devid, const char *path,
                                  iq_xs_get_fn get, void *opaque,
                                  struct iq_xs_dev *dev);
/* Free dev->params. Accepts NULL and a zeroed struct. */
void iq_xs_dev_fini(struct iq_xs_dev *dev);
void iq_xs_devs_fini(struct iq_xs_devs *devs);

/*
 * Cross-checks over a device list: MMIO windows disjoint, IRQs distinct.
 * 0 or -EINVAL; *bad receives the index of the second offender.
 */
IQ_MUST_CHECK int iq_xs_check_devs(const struct iq_xs_devs *devs,
                                   unsigned *bad);

/* "/local/domain/0/backend/virtio_disk" (or ".../virtio"). */
const char *iq_xs_layout_root(enum iq_xs_layout layout);

/* ---- disk targets ---- */

/* Longest vhost-user socket path (sockaddr_un.sun_path, with its NUL). */
#define IQ_XS_SOCKET_MAX 108u
/* Name suffix of a file that names a vhost-user socket (see below). */
#define IQ_XS_VU_SUFFIX ".vhost-user"

enum iq_xs_target {
    IQ_XS_TARGET_FILE = 0, /* served from the file (or device) itself */
    IQ_XS_TARGET_VHOST_USER = 1, /* bridged to a vhost-user daemon */
};

/*
 * How to serve a virtio_disk `params` (the xl target):
 *  - a Unix socket: bridged to the vhost-user daemon listening on it;
 *  - a regular file whose name ends in IQ_XS_VU_SUFFIX: bridged to the
 *    socket it names. libxl 4.17 stat()s the target and refuses anything
 *    but a block device or a regular file ("no suitable backend"), so this
 *    is how an xl config reaches a socket. The file holds one absolute
 *    path (a trailing newline is allowed), at most IQ_XS_SOCKET_MAX - 1
 *    bytes. Only the name selects this: the contents of an ordinary disk
 *    image (which a guest writes) never do;
 *  - anything else, a missing path included: the file itself, as before.
 * On IQ_XS_TARGET_VHOST_USER the socket path is copied to sock.
 * Returns the kind, or -EINVAL (a *.vhost-user file that is not one
 * absolute path; a path with ',', which device specs cannot carry),
 * -ENAMETOOLONG, or -errno from reading the file.
 */
IQ_MUST_CHECK int iq_xs_resolve_target(const char *params, char *sock,
                                       size_t sock_len);

/* ---- connection ---- */

/*
 * Open a connection to xenstored (iq_xenstore_open()), so that only this file
 * includes <xenstore.h>. Note that xentoolcore_restrict_all() makes every
 * xenstore handle open at that moment unusable: open the backend's handle
 * after it. Returns 0 or -errno.
 */
IQ_MUST_CHECK int iq_xs_open(struct iq_xenstore **out);
/* Accepts NULL. */
void iq_xs_close(struct iq_xenstore *xs);

/* ---- discovery ---- */

/*
 * List the domain's virtio devices from both layouts: every
 * backend/virtio_disk/<domid>/<devid> and backend/virtio/<domid>/<devid>
 * whose state is 1..4 (5 and 6 are on their way out and are skipped).
 * Sorted by base. The caller frees with iq_xs_devs_fini().
 * Returns the number of devices (>= 1), -ENOENT (none), -E2BIG (more than
 * IQ_XS_MAX_DEVS), -EINVAL (a malformed device or overlapping windows;
 * logged), or -errno from xenstore.
 */
IQ_MUST_CHECK int iq_xs_discover(struct iq_xenstore *xs, uint16_t domid,
                                 struct iq_xs_devs *out);

/* ---- backend state handshake ---- */

struct iq_xs_backend_ops {
    /*
     * A device appeared after create: libxl writes each disk in its own
     * transaction, so discovery may have seen only the first ones. Set it
     * up (create the device, map its MMIO range to the server) and return
     * 0: the backend then writes 2 and 4 for it. `dev` (and dev->params)
     * is valid only during the call: copy what you keep. `idx` is the
     * device's index for later close calls. On -errno the device is left
     * at state 1 (libxl fails the domain creation after its 10 s).
     * NULL: late devices are refused.
     */
    int (*add)(void *opaque, unsigned idx, const struct iq_xs_dev *dev);
    /*
     * Device `idx` is closing: libxl wrote 5, or its backend directory (or
     * the domain) vanished. Tear it down (unmap its range, stop its I/O)
     * before returning; the backend then writes 6 (only if the node still
     * exists). Called once per device that was connected or added. Devices
     * passed to create have the index they had in `devs`.
     */
    void (*close)(void *opaque, unsigned idx);
    /*
     * Every device is closed, or the domain is gone: the daemon should stop.
     * Called once, after the last close.
     */
    void (*gone)(void *opaque);
};

struct iq_xs_backend;

/*
 * Watch the state of every device in `devs` (copied: the caller may free
 * it; it may be empty), the domain's backend directories (both layouts) for
 * devices added later, and the domain's existence (@releaseDomain). Adds
 * iq_xenstore_fileno(xs) to `loop`: the backend consumes every watch event of
 * `xs` from then on, so `xs` must not be shared with another watcher. Writes
 * nothing. `xs` stays owned by the caller and must outlive the backend.
 * Callbacks run from the loop (and from iq_xs_backend_connect).
 * Returns 0 or -errno.
 */
IQ_MUST_CHECK int iq_xs_backend_create(struct iq_loop *loop,
                                       struct iq_xenstore *xs, uint16_t domid,
                                       const struct iq_xs_devs *devs,
                                       const struct iq_xs_backend_ops *ops,
                                       void *opaque,
                                       struct iq_xs_backend **out);
/* Remove the watches and the loop fd. Writes nothing. Accepts NULL. */
void iq_xs_backend_destroy(struct iq_xs_backend *be);

/*
 * Call once the IOREQ server and the ranges of the devices given to create
 * are registered and enabled: for each device still at 1 (or 2, or 3),
 * write 2 (InitWait) then 4 (Connected). A write only happens while the
 * node exists (transaction): nothing libxl has removed is recreated. Then
 * looks for devices added meanwhile (ops->add). Returns 0 or -errno (the
 * first failing device; the others are still written).
 */
IQ_MUST_CHECK int iq_xs_backend_connect(struct iq_xs_backend *be);

/* Handle pending watch events now (also done from the loop). */
void iq_xs_backend_poll(struct iq_xs_backend *be);

/* True once ops->gone has been called. */
bool iq_xs_backend_gone(const struct iq_xs_backend *be);

/*
 * Write `state` to one backend directory, only if its `state` node exists.
 * 0, -ENOENT (gone) or -errno.
 */
IQ_MUST_CHECK int iq_xs_write_state(struct iq_xenstore *xs, const char *dir,
                                    int state);

/* ---- launcher ---- */

/* Most domains the launcher tracks at once. */
#define IQ_XS_LAUNCHER_MAX_DOMAINS 128u
/* Default settle delay between seeing a new domain and starting ioreqd. */
#define IQ_XS_LAUNCHER_SETTLE_MS 200u

struct iq_xs_launcher_config {
    const char *ioreqd_path; /* binary to exec (absolute path) */
    /* Extra arguments passed after "--domid N --xenstore". */
    char *const *extra_args;
    unsigned nr_extra;
    /*
     * Wait this long after a new domain's first device appears so that
     * usually all of its disks (one libxl transaction each) are in xenstore
     * when ioreqd discovers them; later ones are picked up by ioreqd's
     * backend anyway. 0: IQ_XS_LAUNCHER_SETTLE_MS. Must stay well below
     * libxl's 10 s.
     */
    unsigned settle_ms;
};

struct iq_xs_launcher;

/*
 * Watch backend/virtio_disk; for every new <domid> with a device in state
 * 1 start `ioreqd --domid N --xenstore [extra...]` (fork + exec, never
 * waiting for it), at most once per domain while its backend directory
 * exists. `xs` as for iq_xs_backend_create. Children are reaped by
 * iq_xs_launcher_reap(), which the owner calls on SIGCHLD.
 * Returns 0 or -errno.
 */
IQ_MUST_CHECK int iq_xs_launcher_create(struct iq_loop *loop,
                                        struct iq_xenstore *xs,
                                        const struct iq_xs_launcher_config *cfg,
                                        struct iq_xs_launcher **out);
/* Stop watching. Running children are left alone. Accepts NULL. */
void iq_xs_launcher_destroy(struct iq_xs_launcher *l);
/* Reap exited children (waitpid WNOHANG). Returns how many were reaped. */
unsigned iq_xs_launcher_reap(struct iq_xs_launcher *l);
/* Rescan xenstore now (also done on every watch event). */
void iq_xs_launcher_scan(struct iq_xs_launcher *l);
/* Number of children started so far, and pid of the one for `domid`. */
unsigned iq_xs_launcher_started(const struct iq_xs_launcher *l);
pid_t iq_xs_launcher_child(const struct iq_xs_launcher *l, uint16_t domid);

/*
 * `ioreqd --launcher`: open xenstore, create a loop, block SIGCHLD,
 * SIGTERM, SIGINT and SIGHUP into a signalfd, run until SIGTERM or SIGINT.
 * Children are not killed on exit (each serves a running domain).
 * Returns 0 or -errno (logged).
 */
IQ_MUST_CHECK int iq_xs_launcher_run(const struct iq_xs_launcher_config *cfg);

#endif /* IQ_DAEMON_XENSTORE_BACKEND_H */
