/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Xen IOREQ server (ioreq/): one per guest domain.
 *
 * ioreq/ is the only caller of libxendevicemodel and libxenevtchn. Devices
 * never see Xen: they register regions with struct iq_region_ops and raise
 * interrupts through struct iq_irq_ops. Guest memory for data_is_ptr
 * requests is reached through struct iq_gmem_ops, which the daemon wires to
 * the mapcache (ioreq/ does not depend on mapcache/).
 *
 * Threads: everything here runs on the loop thread given at creation.
 */
#ifndef IQ_INCLUDE_IOREQ_H
#define IQ_INCLUDE_IOREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "loop.h"
#include "types.h"

/* Address spaces a region can live in. */
enum iq_space {
    IQ_SPACE_MMIO = 0, /* IOREQ_TYPE_COPY */
    IQ_SPACE_PIO = 1, /* IOREQ_TYPE_PIO, x86 ports */
    IQ_SPACE_PCI = 2, /* IOREQ_TYPE_PCI_CONFIG: one function's config space */
};

/*
 * Region ops: how a device answers accesses to a range it registered.
 *
 * `offset` is relative to the region start (for IQ_SPACE_PCI: the config
 * register, 0..4095). `size` is 1, 2, 4 or 8. Both are guest-controlled
 * but already validated: offset + size <= region size.
 * `value` on write is already masked to `size` bytes. A read returns the
 * value in the low `size` bytes; ioreq/ zero-extends and masks it.
 * Neither may fail: undefined registers read a documented value (usually 0)
 * and writes to them are ignored (and logged rate-limited by the device).
 */
struct iq_region_ops {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

/*
 * Interrupt ops, implemented by ioreq/ over libxendevicemodel (tests may
 * substitute a recorder). All return 0 or -errno; a failure is logged by the
 * caller (rate-limited) and becomes no device-visible effect.
 *
 * - set_level: Arm SPI (32..1019) level via set_irq_level; on x86 an ISA IRQ
 *   (0..15) via set_isa_irq_level (refused with -EOPNOTSUPP on PVH domains,
 *   where that call crashes Xen 4.17).
 * - pci_intx: x86 PCI INTx level; `sbdf` in the ioreq encoding
 *   (seg<<16 | bus<<8 | dev<<3 | fn), `pin` 0..3 for INTA..INTD.
 * - msi: x86 MSI injection (addr 0xfeexxxxx, data).
 */
struct iq_irq_ops {
    int (*set_level)(void *opaque, uint32_t irq, unsigned level);
    int (*pci_intx)(void *opaque, uint32_t sbdf, unsigned pin, unsigned level);
    int (*msi)(void *opaque, uint64_t addr, uint32_t data);
};

/*
 * Guest-memory ops for data_is_ptr requests and anything else in ioreq/ that
 * must touch guest RAM. read/write return 0 or -errno (-EFAULT: not guest
 * RAM; -EBUSY: mapcache full of pins). invalidate drops every mapping that is
 * not in use (IOREQ_TYPE_INVALIDATE); it is called before the ioreq is
 * answered.
 */
struct iq_gmem_ops {
    int (*read)(void *opaque, gpa_t gpa, void *buf, size_t len);
    int (*write)(void *opaque, gpa_t gpa, const void *buf, size_t len);
    void (*invalidate)(void *opaque);
};

enum iq_bufioreq {
    IQ_BUFIOREQ_OFF = 0, /* required on Arm (Xen rejects anything else) */
    IQ_BUFIOREQ_ATOMIC = 2, /* x86: atomic read-pointer updates */
};

struct iq_ioreq_config {
    uint16_t domid;
    enum iq_arch arch;
    enum iq_bufioreq bufioreq;
    /* x86 only: the domain is PVH (no ISA IRQs; see set_level above). */
    bool pvh;
    struct iq_loop *loop;
    const struct iq_gmem_ops *gmem;
    void *gmem_opaque;
    /*
     * Called on the loop thread when the domain is found gone (its event
     * channels fail or Xen reports ESRCH). May be NULL.
     */
    void (*domain_gone)(void *opaque);
    void *domain_gone_opaque;
};

struct iq_ioreq_server;
struct iq_region;

/*
 * Create the server, map the synchronous ioreq page (frame_ioreq(0) on its
 * own) and, with bufioreq, the buffered page; learn the vCPU count; enable;
 * bind every vCPU's port (and the buffered port); register with the loop.
 * Ranges can be added before or after; Xen sends nothing for a range until
 * it is mapped. On failure everything done so far is undone.
 * Returns 0 or -errno.
 */
IQ_MUST_CHECK int iq_ioreq_create(const struct iq_ioreq_config *cfg,
                                  struct iq_ioreq_server **out);

/*
 * Tear down: disable, unregister from the loop, unmap the pages, destroy
 * the server (which drops all ranges), unbind the ports, close the handles.
 * Accepts NULL and a partially built server.
 */
void iq_ioreq_destroy(struct iq_ioreq_server *srv);

/*
 * After every Xen handle of the process is open (ioreq/ and mapcache/):
 * xentoolcore_restrict_all(domid). Returns 0 or -errno.
 */
IQ_MUST_CHECK int iq_ioreq_restrict(struct iq_ioreq_server *srv);

/*
 * Claim [start, start + size) in `space` for a device and tell Xen.
 * For IQ_SPACE_PCI, `start` is the SBDF (seg<<16|bus<<8|dev<<3|fn) and
 * `size` must be 4096 (the function's whole config space).
 * -EEXIST when it overlaps a region of this server; -EINVAL for a zero or
 * wrapping size. The region handle stays valid until unmapped or destroy.
 */
IQ_MUST_CHECK int iq_ioreq_map_region(struct iq_ioreq_server *srv,
                                      enum iq_space space, uint64_t start,
                                      uint64_t size,
                                      const struct iq_region_ops *ops,
                                      void *opaque, struct iq_region **out);

/* Release a region (BAR disabled or moved). Accepts NULL. */
void iq_ioreq_unmap_region(struct iq_ioreq_server *srv,
                           struct iq_region *region);

/* The interrupt ops for this domain (valid for the server's lifetime). */
void iq_ioreq_irq_ops(struct iq_ioreq_server *srv,
                      const struct iq_irq_ops **ops, void **opaque);

unsigned iq_ioreq_nr_vcpus(const struct iq_ioreq_server *srv);

/*
 * For the privcmd ioeventfd offload (privcmd.h), which the kernel runs on
 * this server's page and ports:
 *  - iq_ioreq_sync_page: the user address of the synchronous ioreq page,
 *    a privcmd resource mapping of frame_ioreq(0) alone (valid until
 *    destroy; the kernel reads it, callers must not write it).
 *  - iq_ioreq_vcpu_port: the local event-channel port bound for `vcpu`
 *    (>= 0), or -EINVAL when vcpu >= iq_ioreq_nr_vcpus().
 */
void *iq_ioreq_sync_page(const struct iq_ioreq_server *srv);
IQ_MUST_CHECK int iq_ioreq_vcpu_port(const struct iq_ioreq_server *srv,
                                     unsigned vcpu);

/*
 * Requests another agent answers on this server's ports (the kernel's
 * privcmd ioeventfd handler): `takes` says whether a synchronous COPY write
 * of `size` bytes of `data` at `addr` is one of them. The server then
 * leaves such a READY request to that agent for a bounded moment (its
 * handler may run just after we are woken) and serves it itself only if
 * it is still READY. At most IQ_IOREQ_MAX_TAKERS; the callback runs on the
 * loop thread and must not call back into the server.
 */
#define IQ_IOREQ_MAX_TAKERS 8u
typedef bool (*iq_ioreq_takes_fn)(void *opaque, uint64_t addr, uint32_t size,
                                  uint64_t data);
/* 0, -ENOSPC (table full) or -EINVAL. */
IQ_MUST_CHECK int iq_ioreq_add_taker(struct iq_ioreq_server *srv,
                                     iq_ioreq_takes_fn takes, void *opaque);
/* Remove what add registered with the same opaque (no-op if absent). */
void iq_ioreq_del_taker(struct iq_ioreq_server *srv, void *opaque);

/*
 * Ask Xen whether the domain still exists, with a dm_op that has no side
 * effect (nr_vcpus). An idle server gets no event when its domain is
 * destroyed, so the owner calls this periodically. Returns 0 while the
 * domain lives, -ESRCH once it is gone (domain_gone is then reported, once),
 * or another -errno for a transient failure.
 */
IQ_MUST_CHECK int iq_ioreq_check_alive(struct iq_ioreq_server *srv);

struct iq_ioreq_stats {
    uint64_t ioreqs; /* synchronous requests answered */
    uint64_t buffered; /* buffered slots consumed (a qword counts 1) */
    uint64_t spurious; /* wake-ups whose slot was not READY */
    /*
     * Slots another agent (Linux privcmd ioeventfd) changed while we held
     * them: served again when READY, left alone when answered.
     */
    uint64_t raced;
    /* Taker requests still READY after the wait (served by us). */
    uint64_t taker_timeouts;
    uint64_t unclaimed; /* accesses no region claimed */
    uint64_t invalidates;
    uint64_t unknown_type;
    uint64_t gmem_errors; /* data_is_ptr copies that failed */
};
void iq_ioreq_get_stats(const struct iq_ioreq_server *srv,
                        struct iq_ioreq_stats *st);

#endif /* IQ_INCLUDE_IOREQ_H */
