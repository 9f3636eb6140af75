/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake Xen: simulator API (test side).
 *
 * A simulator plays hypervisor and guest for one domain. It serves a unix
 * socket; the fake libxendevicemodel/libxenforeignmemory/libxenevtchn/
 * libxengnttab/libxenstore/libxentoolcore (same sonames and functions as
 * the real ones, built in tests/fakexen/) connect to it from the process
 * under test, which finds the socket in the environment variable
 * IQ_FAKEXEN_SOCK. The process under test may be this same process (the
 * simulator serves the socket from its own thread) or a child such as the
 * production ioreqd binary started with LD_LIBRARY_PATH pointing at the fake
 * libraries.
 *
 * Guest RAM is a memfd laid out as the guest's physical memory map:
 *  - Arm: RAM0 at 0x40000000 (ram0_size), optional RAM1 at 0x200000000;
 *    everything else is a hole.
 *  - x86: RAM0 at 0 with the legacy hole 0xa0000..0xfffff, optional RAM1 at
 *    0x100000000.
 * The ioreq page and the buffered page of each server are shared memory laid
 * out exactly as xen/hvm/ioreq.h.
 *
 * Guest accesses are issued by test threads acting as vCPUs: one access at a
 * time per vCPU (like a real vCPU), any number of vCPUs concurrently.
 */
#ifndef IQ_TESTS_FAKEXEN_IQ_SIM_H
#define IQ_TESTS_FAKEXEN_IQ_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IQ_SIM_ENV_SOCK "IQ_FAKEXEN_SOCK"

#define IQ_SIM_ARM_RAM0_BASE 0x40000000ull
#define IQ_SIM_ARM_RAM1_BASE 0x200000000ull
#define IQ_SIM_X86_RAM1_BASE 0x100000000ull

enum iq_sim_arch {
    IQ_SIM_ARM = 0,
    IQ_SIM_X86 = 1,
};

struct iq_sim_config {
    enum iq_sim_arch arch;
    uint16_t domid; /* 0 means 1 */
    unsigned nr_vcpus; /* 1..128; 0 means 1 */
    uint64_t ram0_size; /* bytes, page multiple; 0 means 256 MiB */
    uint64_t ram1_size; /* 0: no RAM1 */
    /*
     * Xen 4.17 Arm quirk: writes carry the whole source register, reads are
     * not masked. When true (the default for IQ_SIM_ARM via
     * iq_sim_config_default), the simulator puts `garbage` into the bytes of
     * `data` above `size` on writes, so tests prove the daemon masks.
     */
    bool arm_unmasked;
    /* Socket path; NULL: a fresh path under $TMPDIR. */
    const char *sock_path;
    /* Per-access timeout in ms; 0 means 20000. */
    unsigned timeout_ms;
};

void iq_sim_config_default(struct iq_sim_config *cfg, enum iq_sim_arch arch);

struct iq_sim;

/* Start the simulator (its server thread). Returns 0 or -errno. */
int iq_sim_create(const struct iq_sim_config *cfg, struct iq_sim **out);
/* Stop it; clients still connected see their sockets closed. Accepts NULL. */
void iq_sim_destroy(struct iq_sim *sim);

const char *iq_sim_socket_path(const struct iq_sim *sim);
/* setenv(IQ_FAKEXEN_SOCK, path) in this process (for children and self). */
void iq_sim_export_env(const struct iq_sim *sim);
uint16_t iq_sim_domid(const struct iq_sim *sim);

/* ---- guest RAM ---------------------------------------------------------- */

/*
 * Host pointer to guest RAM [gpa, gpa + len), or NULL when any byte is not
 * RAM. The guest driver library builds rings and buffers through this.
 */
void *iq_sim_ram(struct iq_sim *sim, uint64_t gpa, size_t len);
int iq_sim_ram_read(struct iq_sim *sim, uint64_t gpa, void *buf, size_t len);
int iq_sim_ram_write(struct iq_sim *sim, uint64_t gpa, const void *buf,
                     size_t len);

/* ---- guest accesses (vCPU threads) --------------------------------------- */

/*
 * Return values of every access call:
 *   0           answered by a server (reads: *val holds its answer)
 *   -EFAULT     Arm: no enabled server claims the access -> Xen would inject
 *               a data abort into the guest
 *   -ETIMEDOUT  no answer within the timeout (daemon hung or dead)
 *   -EIO        the slot was not NONE when Xen wanted to send ("device model
 *               set bad IO state"), or the state went backwards: Xen would
 *               crash the domain (also: vp_eport was overwritten, or the
 *               server was destroyed while the access waited)
 *   -ESRCH      the domain was destroyed (iq_sim_domain_destroy)
 *   -EINVAL     vcpu >= nr_vcpus, or a size other than 1/2/4/8
 *   -EBUSY      another access is in flight on the same vcpu
 * On x86, unclaimed accesses read all ones and drop writes (returns 0).
 * `*val` receives the raw `data` field as the server left it (not masked).
 */
int iq_sim_mmio_read(struct iq_sim *sim, unsigned vcpu, uint64_t addr,
                     unsigned size, uint64_t *val);
int iq_sim_mmio_write(struct iq_sim *sim, unsigned vcpu, uint64_t addr,
                      unsigned size, uint64_t val);
/* x86 only (-EOPNOTSUPP on Arm). */
int iq_sim_pio_read(struct iq_sim *sim, unsigned vcpu, uint16_t port,
                    unsigned size, uint64_t *val);
int iq_sim_pio_write(struct iq_sim *sim, unsigned vcpu, uint16_t port,
                     unsigned size, uint64_t val);
/*
 * x86 only: a config access as Xen decodes cf8/cfc: type PCI_CONFIG,
 * addr = (sbdf << 32) | reg. sbdf = seg<<16 | bus<<8 | dev<<3 | fn.
 */
int iq_sim_pci_cfg_read(struct iq_sim *sim, unsigned vcpu, uint32_t sbdf,
                        uint32_t reg, unsigned size, uint64_t *val);
int iq_sim_pci_cfg_write(struct iq_sim *sim, unsigned vcpu, uint32_t sbdf,
                         uint32_t reg, unsigned size, uint64_t val);

/* A raw request with every field under the test's control (rep, df, ptr). */
struct iq_sim_ioreq {
    uint64_t addr;
    uint64_t data; /* in: write data / pointer; out: answer */
    uint32_t count;
    uint32_t size;
    uint8_t type; /* IOREQ_TYPE_* */
    bool dir_read;
    bool data_is_ptr;
    bool df;
};
/*
 * Send `req` on `vcpu` to the server that claims it (for MMIO: first and
 * last byte of the whole repeated access must fall in one range, as Xen
 * checks); INVALIDATE and TIMEOFFSET go to every enabled server.
 */
int iq_sim_ioreq(struct iq_sim *sim, unsigned vcpu, struct iq_sim_ioreq *req);
/* Broadcast IOREQ_TYPE_INVALIDATE (size 4, write, data ~0) and wait. */
int iq_sim_invalidate(struct iq_sim *sim, unsigned vcpu);

/*
 * x86 buffered ioreq: queue a write (count 1, not a pointer, addr < 1 MiB)
 * in the buffered ring of the server that claims it, as Xen does (an 8-byte
 * write takes two slots) and notify its buffered port. Returns -ENOSPC when
 * the ring is full (Xen would fall back to a synchronous request: the test
 * decides), -ENOENT when no buffered server claims it.
 */
int iq_sim_buffered_write(struct iq_sim *sim, uint8_t type, uint64_t addr,
                          unsigned size, uint64_t val);
/* Wait until every buffered ring is empty. 0 or -ETIMEDOUT. */
int iq_sim_buffered_drain(struct iq_sim *sim);
/*
 * Set a server's buffered read/write pointers (both to `ptr`) while idle,
 * to test free-running pointer wrap. Returns 0 or -ENOENT.
 */
int iq_sim_buffered_set_pointers(struct iq_sim *sim, uint32_t ptr);

/* ---- interrupts ---------------------------------------------------------- */

/*
 * The simulator records every interrupt dm_op. For level lines (Arm SPIs
 * via set_irq_level, x86 ISA IRQs and PCI INTx) it keeps the level and the
 * number of 0->1 transitions ("edges"). MSIs are counted per (addr, data).
 * For x86 INTx the line key is IQ_SIM_INTX_KEY(sbdf, pin).
 */
#define IQ_SIM_INTX_KEY(sbdf, pin) (0x80000000u | ((sbdf) << 2) | (pin))
#define IQ_SIM_ISA_KEY(irq) (0x40000000u | (irq))
uint64_t iq_sim_irq_edges(struct iq_sim *sim, uint32_t line);
unsigned iq_sim_irq_level(struct iq_sim *sim, uint32_t line);
/* Wait until edges(line) > after. 0 or -ETIMEDOUT. */
int iq_sim_irq_wait(struct iq_sim *sim, uint32_t line, uint64_t after,
                    unsigned timeout_ms);
uint64_t iq_sim_msi_count(struct iq_sim *sim, uint64_t addr, uint32_t data);

/* ---- xenstore (the simulator's in-memory store) -------------------------- */

int iq_sim_xs_write(struct iq_sim *sim, const char *path, const char *value);
/* Returns a malloc'ed string or NULL if absent. */
char *iq_sim_xs_read(struct iq_sim *sim, const char *path);
int iq_sim_xs_rm(struct iq_sim *sim, const char *path);
/* Wait until `path` reads `value`. 0 or -ETIMEDOUT. */
int iq_sim_xs_wait(struct iq_sim *sim, const char *path, const char *value,
                   unsigned timeout_ms);

/* ---- grants -------------------------------------------------------------- */

/* Guest grants frame `gfn` to the backend domain as `ref` (RO or RW). */
int iq_sim_grant(struct iq_sim *sim, uint32_t ref, uint64_t gfn, bool readonly);
/* Revoke `ref` (later maps of it fail: "vanished grant"). */
int iq_sim_grant_revoke(struct iq_sim *sim, uint32_t ref);

/* ---- domain lifecycle ---------------------------------------------------- */

/*
 * The domain goes away: every later dm_op fails with ESRCH, the vCPUs stop,
 * @releaseDomain watches fire, /local/domain/<domid> is removed.
 */
void iq_sim_domain_destroy(struct iq_sim *sim);

/*
 * The toolstack destroyed the domain but it lingers as a zombie while a
 * backend still holds mappings of it (as on real Xen): /local/domain/<domid>
 * is removed and @releaseDomain fires, but dm_ops keep succeeding. A later
 * iq_sim_domain_destroy() finishes it.
 */
void iq_sim_domain_dying(struct iq_sim *sim);

/* ---- fault injection ----------------------------------------------------- */

enum iq_sim_fault {
    IQ_SIM_FAULT_MAP_FAIL, /* next `arg` foreign map calls fail whole */
    IQ_SIM_FAULT_MAP_GFN, /* gfn `arg` fails per page (~0: clear) */
    IQ_SIM_FAULT_EVTCHN, /* next `arg` evtchn notify calls fail */
    IQ_SIM_FAULT_DMOP, /* next `arg` dm_op calls fail with EIO */
    IQ_SIM_FAULT_RESOURCE, /* next `arg` map_resource calls fail */
};
void iq_sim_fault(struct iq_sim *sim, enum iq_sim_fault f, uint64_t arg);

/* ---- counters ------------------------------------------------------------ */

struct iq_sim_counters {
    uint64_t foreign_map_calls; /* xenforeignmemory_map/map2 */
    uint64_t foreign_unmap_calls;
    uint64_t foreign_pages_now; /* pages currently mapped */
    uint64_t foreign_pages_peak;
    uint64_t resource_maps_now; /* ioreq pages mapped */
    uint64_t grant_map_calls;
    uint64_t grant_pages_now;
    uint64_t evtchn_bound_now;
    uint64_t evtchn_notify_calls;
    uint64_t servers_now; /* created and not destroyed */
    uint64_t servers_enabled_now;
    uint64_t ranges_now; /* io ranges + pci devices, all servers */
    uint64_t dm_op_calls;
    uint64_t irq_calls; /* set_irq_level/isa/intx/msi */
    uint64_t restrict_calls; /* xentoolcore_restrict_all */
    uint64_t ioreqs_sent; /* synchronous, incl. invalidate */
    uint64_t ioreqs_buffered;
    uint64_t handles_open; /* fake library handles open now */
};
void iq_sim_counters(struct iq_sim *sim, struct iq_sim_counters *c);

#endif /* IQ_TESTS_FAKEXEN_IQ_SIM_H */
