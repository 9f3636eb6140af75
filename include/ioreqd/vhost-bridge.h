/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user bridge (vhost-bridge/): a virtio-mmio device whose device
 * model is an external vhost-user daemon (qemu-storage-daemon, virtiofsd,
 * DPDK, ...). ioreqd keeps the register file (backends/virtio) and acts as
 * the vhost-user *frontend* towards the daemon.
 *
 * Two memory modes, chosen per device:
 *  - IQ_VHOST_MMAP (zero-copy): the daemon maps guest memory itself and
 *    walks the guest's own rings. ioreqd forwards queue setup, turns
 *    QueueNotify writes into kick eventfds and the daemon's call eventfds
 *    into guest interrupts. Guest memory is described by struct
 *    iq_vhost_mem: on Xen by VHOST_USER_PROTOCOL_F_XEN_MMAP regions
 *    (foreign mapping, domid, guest-physical addresses as user addresses),
 *    which a daemon must implement or be refused.
 *  - IQ_VHOST_SHADOW (works with every daemon): ioreqd owns one shadow
 *    split ring per queue and a bounded pool of shadow buffers in a memfd
 *    shared with the daemon. Each guest request is validated by the
 *    virtqueue engine, its driver-to-device bytes copied (through the
 *    mapcache) into shadow buffers and relayed; on completion the
 *    device-to-driver bytes are copied back and the guest's used ring is
 *    published by the engine. When the pool is full, requests wait in the
 *    guest's ring (back-pressure).
 *
 * The daemon is untrusted: every reply is validated (vhost-bridge/vu-msg.c)
 * and every used entry checked. If it misbehaves, disconnects or dies, the
 * device is put into DEVICE_NEEDS_RESET; on the guest's next reset ioreqd
 * reconnects (if the daemon is back). Nothing a daemon does ends ioreqd.
 *
 * Threads: loop thread only. Each request/reply exchange with the daemon is
 * synchronous and bounded by timeout_ms.
 */
#ifndef IQ_INCLUDE_VHOST_BRIDGE_H
#define IQ_INCLUDE_VHOST_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "ioreq.h"
#include "loop.h"
#include "mapcache.h"
#include "types.h"
#include "virtio.h"

enum iq_vhost_mode {
    IQ_VHOST_SHADOW = 0,
    IQ_VHOST_MMAP = 1,
};

#define IQ_VHOST_MAX_REGIONS 8u

/* One guest RAM range as the daemon must map it (mmap mode). */
struct iq_vhost_mem_region {
    uint64_t gpa;
    uint64_t size;
    int fd; /* borrowed; the bridge dups it */
    uint64_t fd_offset; /* offset of gpa in fd (memfd regions) */
};

/*
 * Guest memory for mmap mode.
 *  - xen == false: fd-backed regions (guest RAM memfd; the fake Xen).
 *  - xen == true: Xen foreign regions (VHOST_USER_PROTOCOL_F_XEN_MMAP,
 *    flag FOREIGN, `domid`); fd is a /dev/xen/privcmd fd sent only because
 *    the protocol wants one fd per region.
 */
struct iq_vhost_mem {
    unsigned nr;
    struct iq_vhost_mem_region r[IQ_VHOST_MAX_REGIONS];
    bool xen;
    uint16_t domid;
};

/*
 * Optional hot-path offload for mmap mode (Linux >= 6.7 privcmd
 * IOCTL_PRIVCMD_IOEVENTFD / IOCTL_PRIVCMD_IRQFD, xen-reference.md section
 * 5.4), supplied by the layer that owns the ioreq server (ioreq page, event
 * channel ports, dm_op). Each returns 0 when the kernel took the path over,
 * or -errno (-ENOTTY, -EOPNOTSUPP, ...: not available), and the bridge then
 * keeps relaying in userspace. assign == false undoes an assignment.
 *  - kick: the kernel signals `fd` for QueueNotify writes of queue `vq`
 *    (written at `notify_gpa`) and completes the vCPU's access itself.
 *  - irq: the kernel raises `irq` whenever `fd` is signalled; the bridge
 *    then has InterruptStatus always show "used buffer" while running.
 */
struct iq_vhost_offload_ops {
    int (*kick)(void *opaque, uint64_t notify_gpa, unsigned vq, int fd,
                bool assign);
    int (*irq)(void *opaque, uint32_t irq, int fd, bool assign);
};

struct iq_vhost_bridge_config {
    const char *name; /* log context, e.g. "dom5 vu0" */
    const char *socket_path;
    uint32_t device_id; /* virtio device id (IQ_VIRTIO_ID_*, 16 gpu, ...) */
    enum iq_vhost_mode mode;
    unsigned queues; /* 0: the type's default (blk: 1) */
    uint16_t queue_max_size; /* 0: 256 (at most 256) */
    size_t shadow_bytes; /* shadow buffer pool; 0: 4 MiB */
    unsigned timeout_ms; /* per daemon reply; 0: 2000 */
    const struct iq_vhost_mem *mem; /* mmap mode only */
    const char *fs_tag; /* virtio-fs tag when the daemon has no CONFIG */
    /*
     * A read-only virtio-blk disk (e.g. an xl disk with access=ro):
     *  - shadow mode: VIRTIO_BLK_F_RO is offered to the guest, and since a
     *    hostile guest may write anyway, every request other than IN,
     *    FLUSH, GET_ID and GET_LIFETIME is completed by ioreqd with IOERR
     *    and never reaches the daemon (the type is read from the shadow
     *    copy the daemon would see, so the guest cannot change it later);
     *  - mmap mode: the daemon walks the guest's rings itself and ioreqd
     *    cannot filter requests: accepted only when the daemon offers
     *    VIRTIO_BLK_F_RO itself, else create fails with -EOPNOTSUPP.
     */
    bool readonly;
    uint64_t base; /* MMIO base (for the offload's notify address) */
    const struct iq_vhost_offload_ops *offload; /* NULL: none */
    void *offload_opaque;
    uint32_t irq;
    struct iq_mc *mc;
    struct iq_loop *loop;
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    enum iq_arch arch;
};

struct iq_vhost_bridge;

/*
 * Connect to the daemon, negotiate, and create the virtio-mmio device.
 * Returns 0 or -errno with one line in err (e.g. a daemon that lacks
 * what the mode needs, naming the missing feature).
 */
IQ_MUST_CHECK int
iq_vhost_bridge_create(const struct iq_vhost_bridge_config *cfg,
                       struct iq_vhost_bridge **out, char *err, size_t err_len);
/* Stops the daemon's rings, disconnects, frees. Accepts NULL. */
void iq_vhost_bridge_destroy(struct iq_vhost_bridge *b);
struct iq_virtio_dev *iq_vhost_bridge_dev(struct iq_vhost_bridge *b);
/* True while connected to a daemon that behaved so far. */
bool iq_vhost_bridge_connected(const struct iq_vhost_bridge *b);

struct iq_vhost_bridge_stats {
    uint64_t kicks; /* kick eventfd writes */
    uint64_t kicks_suppressed; /* shadow: batches the daemon needed no kick */
    uint64_t calls; /* call eventfd wake-ups */
    uint64_t relayed; /* shadow: requests relayed */
    uint64_t backpressure; /* shadow: pool full, request left waiting */
    uint64_t reconnects;
    uint64_t disconnects;
    uint64_t kick_offloaded; /* queues whose kicks the kernel delivers */
    uint64_t irq_offloaded; /* queues whose calls the kernel delivers */
    uint64_t ro_refused; /* shadow, read-only: requests refused locally */
};
void iq_vhost_bridge_get_stats(const struct iq_vhost_bridge *b,
                               struct iq_vhost_bridge_stats *st);

/*
 * Guest memory for mmap mode on the *fake* Xen (tests only): the fake
 * libxenforeignmemory holds the simulator's guest RAM memfd, named
 * "iq-sim-ram"; this finds it among the process's open fds
 * (/proc/self/fd) and describes it with the simulator's fixed layout for
 * `arch` (RAM0 only: Arm at 0x40000000, x86 at 0). Returns 0, or -ENOENT
 * when there is no such fd (real Xen: use iq_vhost_mem_xen()). The fd in
 * *mem is borrowed from the fake library.
 */
IQ_MUST_CHECK int iq_vhost_mem_fake_xen(enum iq_arch arch,
                                        struct iq_vhost_mem *mem);

/*
 * Guest memory for mmap mode on real Xen: XEN_MMAP foreign regions for the
 * architectural RAM banks of `arch` holding `ram_bytes` (Arm: RAM0 at
 * 0x40000000 up to 3 GiB, then RAM1 at 0x200000000), with a freshly opened
 * /dev/xen/privcmd fd (closed by iq_vhost_mem_close).
 */
IQ_MUST_CHECK int iq_vhost_mem_xen(uint16_t domid, enum iq_arch arch,
                                   uint64_t ram_bytes,
                                   struct iq_vhost_mem *mem);
/* The region layout iq_vhost_mem_xen() builds, around a given fd. */
IQ_MUST_CHECK int iq_vhost_mem_xen_layout(uint16_t domid, enum iq_arch arch,
                                          uint64_t ram_bytes, int fd,
                                          struct iq_vhost_mem *mem);
/* Close the privcmd fd opened by iq_vhost_mem_xen (not borrowed fds). */
void iq_vhost_mem_close(struct iq_vhost_mem *mem);

#endif /* IQ_INCLUDE_VHOST_BRIDGE_H */
