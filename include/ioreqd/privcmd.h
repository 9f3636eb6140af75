/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linux privcmd ioeventfd/irqfd offload (ioreq/privcmd.c) for one IOREQ
 * server: the hot-path provider behind struct iq_vhost_offload_ops
 * (vhost-bridge.h) in mmap mode.
 *
 * What the kernel does for us (xen-reference.md section 5.4; Linux >= 6.7
 * built with CONFIG_XEN_PRIVCMD_EVENTFD):
 *  - IOCTL_PRIVCMD_IOEVENTFD: the kernel binds the server's *local*
 *    per-vCPU ports as a shared handler next to ours. For a READY,
 *    IOREQ_TYPE_COPY write of `addr_len` bytes at base + 0x50
 *    (QueueNotify) whose data & 0xffff is the queue index, it marks the
 *    slot INPROCESS, signals the daemon's kick eventfd, sets IORESP_READY
 *    and notifies the port. ioreqd then sees a slot that is not READY and
 *    counts a spurious wake-up (ioreq.h: iq_ioreq_stats.spurious). When
 *    ioreqd is woken first, the taker the daemon registers
 *    (iq_privcmd_takes, iq_ioreq_add_taker) makes the server leave such a
 *    write to the kernel for a bounded moment. The
 *    handler marks *every* READY COPY write INPROCESS while it looks for a
 *    match and puts READY back when none matches; ioreq/xen.c waits that
 *    window out (bounded) instead of taking INPROCESS as "answered". Its
 *    state writes are plain stores, so it can still change a slot ioreqd
 *    has claimed: ioreqd answers with a compare-and-swap from its own
 *    INPROCESS and, when that fails, serves the slot again if it is READY
 *    (the same write handed back, or the vCPU's next request) or leaves
 *    it if the kernel answered it (ioreq/server.c; stats "raced"). What
 *    remains is the kernel's own window: a hand-back that lands after
 *    ioreqd's answer would leave the slot READY with no one notified.
 *  - IOCTL_PRIVCMD_IRQFD: the kernel keeps a pre-built struct xen_dm_op and
 *    issues it each time the daemon signals its call eventfd. On Arm that
 *    is XEN_DMOP_set_irq_level(spi, 1). libxl describes virtio-mmio SPIs as
 *    edge-rising, so every assertion is one interrupt and the line never
 *    needs lowering (lowering an edge SPI has no effect); the bridge makes
 *    InterruptStatus read "used buffer" while the irq is offloaded, as no
 *    one in userspace sees the calls. On x86 the virtio-mmio line is an ISA
 *    IRQ held high while InterruptStatus is non-zero and lowered on
 *    InterruptACK: a stored op can only ever raise it, so it would stay
 *    asserted (and set_isa_irq_level crashes Xen 4.17 on PVH).
 *  - x86 is refused altogether (-EOPNOTSUPP, no system call): besides the
 *    irq problem above, the 6.7 ioeventfd code finds the ioreq page
 *    through the privcmd mapping's page array, which privcmd keeps only
 *    for auto-translated dom0s; on an x86 PV dom0 (Debian's usual) that
 *    field holds a marker instead, so the kernel would dereference it.
 *
 * Availability: the first assignment the kernel refuses with ENOTTY,
 * EINVAL, EOPNOTSUPP or ENOENT (no such ioctl, or the feature compiled
 * out) marks the provider unavailable: that is logged once at info, the
 * call returns its -errno, and every later assignment returns -EOPNOTSUPP
 * without a system call. Other errors (EBUSY, EFAULT, EPERM, ...) are
 * returned as they are and change nothing. The vhost bridge falls back to
 * relaying kicks and calls in userspace on any -errno.
 *
 * Deassignment issues the ioctl even when unavailable (only an assignment
 * that succeeded is ever undone); a kernel answer of ENODEV or ENOENT
 * (no such assignment) counts as done. Another failure keeps the entry,
 * so that destroy tries again, and a new assignment of the same key gives
 * -EBUSY meanwhile.
 *
 * Ownership: the provider opens /dev/xen/privcmd itself and restricts that
 * fd to the domain (IOCTL_PRIVCMD_RESTRICT) before any other use. It keeps
 * a duplicate of every eventfd it assigned, so that it can deassign even
 * after the caller closed its own fd; iq_privcmd_destroy() deassigns
 * whatever is still assigned. The kernel keeps an ioeventfd assignment
 * past close() of the privcmd fd and even past the process (an irqfd goes
 * when its eventfd is closed for good), so destroy must run before the
 * ioreq server is torn down (its ports unbound, its page unmapped).
 *
 * Threads: loop thread only (the same thread as the ioreq server).
 */
#ifndef IQ_INCLUDE_PRIVCMD_H
#define IQ_INCLUDE_PRIVCMD_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "types.h"

/* Assignments of each kind one provider holds (a bridge has <= 64 queues). */
#define IQ_PRIVCMD_MAX_BINDINGS 64u

/* The QueueNotify register of a virtio-mmio window (virtio 1.2, 4.2.2). */
#define IQ_PRIVCMD_QUEUE_NOTIFY 0x50u

/*
 * System-call seam: tests replace these; NULL in the config means the real
 * open(2)/ioctl(2)/fcntl(F_DUPFD_CLOEXEC)/close(2). Each returns what the
 * call returns (fd, >= 0) or -errno; close cannot fail.
 */
struct iq_privcmd_sys_ops {
    int (*open)(void *opaque, const char *path);
    int (*ioctl)(void *opaque, int fd, unsigned long req, void *arg);
    int (*dup)(void *opaque, int fd);
    void (*close)(void *opaque, int fd);
};

struct iq_privcmd_config {
    const char *name; /* log context, e.g. "dom5 vu0"; copied */
    uint16_t domid;
    enum iq_arch arch;
    /*
     * The user address of the synchronous ioreq page as the ioreq server
     * mapped it (xenforeignmemory_map_resource of frame_ioreq(0) alone: a
     * privcmd resource mapping whose first page is the ioreq array).
     */
    void *ioreq_page;
    /* Local event-channel port per vCPU (nr_vcpus entries; copied). */
    const uint32_t *ports;
    unsigned nr_vcpus; /* 1..IQ_MAX_VCPUS */
    const struct iq_privcmd_sys_ops *sys; /* NULL: the real system calls */
    void *sys_opaque;
};

struct iq_privcmd;

/*
 * Open /dev/xen/privcmd and restrict it to cfg->domid. Returns 0, or
 * -EINVAL (bad config), -ENOMEM, or the -errno of open or of the restrict
 * ioctl (-ENOENT: no privcmd device, not a Xen dom0). Nothing is assigned
 * yet, so a kernel without the feature still creates fine.
 */
IQ_MUST_CHECK int iq_privcmd_create(const struct iq_privcmd_config *cfg,
                                    struct iq_privcmd **out);

/* Deassign everything left, close the fds, free. Accepts NULL. */
void iq_privcmd_destroy(struct iq_privcmd *pc);

/*
 * struct iq_vhost_offload_ops.kick (`opaque` is the struct iq_privcmd).
 * Arm only (x86: -EOPNOTSUPP, see above).
 * Assign: the kernel signals `fd` for 4-byte QueueNotify writes of queue
 * `vq` at `notify_gpa` (base + IQ_PRIVCMD_QUEUE_NOTIFY). Deassign
 * (assign == false) removes the assignment made for (notify_gpa, vq).
 * `vq` comes from the guest through the bridge: vq > 0xffff (the kernel
 * matches 16 bits), notify_gpa below 0x50, or fd < 0 give -EINVAL. Also
 * -EBUSY (already assigned here), -ENOSPC (table full), -ENOENT (deassign
 * of nothing), -EOPNOTSUPP (unavailable), or the ioctl's -errno.
 */
IQ_MUST_CHECK int iq_privcmd_kick(void *opaque, uint64_t notify_gpa,
                                  unsigned vq, int fd, bool assign);

/*
 * struct iq_vhost_offload_ops.irq: each signal of `fd` raises SPI `irq`
 * (Arm: 32..1019, else -EINVAL). x86: -EOPNOTSUPP (see above). Deassign
 * removes the assignment made for (irq, fd). Other errors as for kick.
 */
IQ_MUST_CHECK int iq_privcmd_irq(void *opaque, uint32_t irq, int fd,
                                 bool assign);

/*
 * iq_ioreq_takes_fn (ioreq.h) for the server this provider serves: true
 * when a 4-byte write of `data` at `addr` is a QueueNotify the kernel
 * answers itself (an assigned (base + 0x50, vq) with data & 0xffff == vq).
 */
bool iq_privcmd_takes(void *opaque, uint64_t addr, uint32_t size,
                      uint64_t data);

/* False once the kernel was found to lack the feature. */
bool iq_privcmd_available(const struct iq_privcmd *pc);

/* Assignments currently held (kick and irq). */
unsigned iq_privcmd_nr_kicks(const struct iq_privcmd *pc);
unsigned iq_privcmd_nr_irqs(const struct iq_privcmd *pc);

#endif /* IQ_INCLUDE_PRIVCMD_H */
