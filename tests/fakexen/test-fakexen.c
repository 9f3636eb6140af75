/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Self-test of the fake Xen. Linked against the real Xen libraries through
 * pkg-config and run with LD_LIBRARY_PATH pointing at the fakes. A minimal
 * device model (thread) serves a register file; vCPU threads access it.
 */
#include <dlfcn.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xentoolcore.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#include "iq-sim.h"

#define ARM_MMIO_BASE 0x02000000ull
#define X86_MMIO_BASE 0xfebf0000ull
#define X86_VGA_BASE 0xa0000ull
#define REGS_LEN 0x200u
#define PIO_BASE 0x500u
#define PIO_LEN 0x10u
#define DEV_SBDF 0x18u /* 0000:00:03.0 */
#define NR_REC 1024u
#define PAGE 4096u

struct rec {
    uint64_t addr;
    unsigned size;
    uint64_t data;
    uint8_t type;
};

/* A minimal device model using the Xen libraries as a daemon would. */
struct dm {
    bool x86;
    domid_t domid;
    unsigned nvcpus;
    xendevicemodel_handle *dmod;
    xenforeignmemory_handle *fmem;
    xenevtchn_handle *xce;
    xenforeignmemory_resource_handle *res;
    ioservid_t id;
    shared_iopage_t *io;
    buffered_iopage_t *buf;
    evtchn_port_t lports[8];
    evtchn_port_t buf_lport;
    int stop_fd;
    pthread_t thr;
    bool running;

    uint8_t regs[REGS_LEN];
    uint8_t pio[PIO_LEN];
    uint8_t cfg[256];
    uint64_t last_raw_write;
    unsigned invalidates;
    struct rec recs[NR_REC];
    unsigned nrecs;
};

static uint64_t
mask_of(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static uint64_t
load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < size; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void
store_le(uint8_t *p, unsigned size, uint64_t v)
{
    unsigned i;

    for (i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t
emulate(struct dm *dm, uint8_t type, uint64_t addr, unsigned size, bool rd,
        uint64_t data)
{
    uint8_t *base = NULL;
    uint64_t off = 0;
    uint64_t len = 0;

    if (type == IOREQ_TYPE_COPY) {
        uint64_t mb = dm->x86 ? X86_MMIO_BASE : ARM_MMIO_BASE;

        base = dm->regs;
        len = REGS_LEN;
        off = addr - mb;
        if (!rd) {
            dm->last_raw_write = data;
        }
    } else if (type == IOREQ_TYPE_PIO) {
        base = dm->pio;
        len = PIO_LEN;
        off = addr - PIO_BASE;
    } else if (type == IOREQ_TYPE_PCI_CONFIG) {
        base = dm->cfg;
        len = sizeof(dm->cfg);
        off = addr & 0xffffffffu;
    }
    if (base == NULL || size > 8 || off >= len || len - off < size) {
        return rd ? mask_of(size) : 0;
    }
    if (rd) {
        return load_le(base + off, size);
    }
    store_le(base + off, size, data & mask_of(size));
    return 0;
}

static void
dm_slot(struct dm *dm, unsigned v, evtchn_port_t port)
{
    ioreq_t *r = &dm->io->vcpu_ioreq[v];

    if (r->state != STATE_IOREQ_READY) {
        return;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    r->state = STATE_IOREQ_INPROCESS;
    if (r->type == IOREQ_TYPE_INVALIDATE) {
        dm->invalidates++;
    } else {
        uint64_t d = emulate(dm, r->type, r->addr, r->size, r->dir, r->data);

        if (r->dir == IOREQ_READ) {
            r->data = d;
        }
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    r->state = STATE_IORESP_READY;
    xenevtchn_notify(dm->xce, port);
}

static void
dm_buffered(struct dm *dm)
{
    buffered_iopage_t *b = dm->buf;

    for (;;) {
        uint32_t rp = __atomic_load_n(&b->read_pointer, __ATOMIC_ACQUIRE);
        uint32_t wp = __atomic_load_n(&b->write_pointer, __ATOMIC_ACQUIRE);
        buf_ioreq_t s;
        struct rec rc;
        unsigned n = 1;

        if (rp == wp) {
            return;
        }
        s = b->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM];
        rc.addr = s.addr;
        rc.size = 1u << s.size;
        rc.data = s.data;
        rc.type = s.type;
        if (rc.size == 8) {
            rc.data |=
                (uint64_t)b->buf_ioreq[(rp + 1) % IOREQ_BUFFER_SLOT_NUM].data
                << 32;
            n = 2;
        }
        if (dm->nrecs < NR_REC) {
            dm->recs[dm->nrecs++] = rc;
        }
        emulate(dm, rc.type, rc.addr, rc.size, false, rc.data);
        __atomic_add_fetch(&b->read_pointer, n, __ATOMIC_RELEASE);
    }
}

static void *
dm_loop(void *arg)
{
    struct dm *dm = arg;
    struct pollfd pfd[2];

    pfd[0].fd = xenevtchn_fd(dm->xce);
    pfd[0].events = POLLIN;
    pfd[1].fd = dm->stop_fd;
    pfd[1].events = POLLIN;
    for (;;) {
        xenevtchn_port_or_error_t port;
        unsigned v;

        if (poll(pfd, 2, -1) < 0) {
            continue;
        }
        if (pfd[1].revents != 0) {
            return NULL;
        }
        if (pfd[0].revents == 0) {
            continue;
        }
        port = xenevtchn_pending(dm->xce);
        if (port < 0) {
            continue;
        }
        xenevtchn_unmask(dm->xce, (evtchn_port_t)port);
        if (dm->buf != NULL && (evtchn_port_t)port == dm->buf_lport) {
            dm_buffered(dm);
            continue;
        }
        for (v = 0; v < dm->nvcpus; v++) {
            if (dm->lports[v] == (evtchn_port_t)port) {
                dm_slot(dm, v, (evtchn_port_t)port);
            }
        }
    }
}

/* Bring-up in the order xen-reference.md 1.5 gives; asserts on failure. */
static void
dm_start(struct dm *dm, struct iq_sim *sim, bool x86, int bufioreq, bool thread)
{
    void *addr = NULL;
    evtchn_port_t bufport = 0;
    unsigned v;

    memset(dm, 0, sizeof(*dm));
    dm->x86 = x86;
    dm->domid = iq_sim_domid(sim);
    dm->dmod = xendevicemodel_open(NULL, 0);
    dm->fmem = xenforeignmemory_open(NULL, 0);
    dm->xce = xenevtchn_open(NULL, 0);
    assert_non_null(dm->dmod);
    assert_non_null(dm->fmem);
    assert_non_null(dm->xce);
    assert_int_equal(xendevicemodel_nr_vcpus(dm->dmod, dm->domid, &dm->nvcpus),
                     0);
    assert_true(dm->nvcpus <= 8);
    assert_int_equal(xendevicemodel_create_ioreq_server(dm->dmod, dm->domid,
                                                        bufioreq, &dm->id),
                     0);
    if (bufioreq != 0) {
        dm->res = xenforeignmemory_map_resource(
            dm->fmem, dm->domid, XENMEM_resource_ioreq_server, dm->id, 0, 2,
            &addr, PROT_READ | PROT_WRITE, 0);
        assert_non_null(dm->res);
        dm->buf = addr;
        dm->io = (shared_iopage_t *)((uint8_t *)addr + PAGE);
    } else {
        dm->res = xenforeignmemory_map_resource(
            dm->fmem, dm->domid, XENMEM_resource_ioreq_server, dm->id, 1, 1,
            &addr, PROT_READ | PROT_WRITE, 0);
        assert_non_null(dm->res);
        dm->io = addr;
    }
    assert_int_equal(xendevicemodel_get_ioreq_server_info(
                         dm->dmod, dm->domid, dm->id, NULL, NULL, &bufport),
                     0);
    assert_true((bufport != 0) == (bufioreq != 0));
    /* vp_eport is published only by enabling. */
    assert_int_equal(dm->io->vcpu_ioreq[0].vp_eport, 0);
    assert_int_equal(
        xendevicemodel_set_ioreq_server_state(dm->dmod, dm->domid, dm->id, 1),
        0);
    for (v = 0; v < dm->nvcpus; v++) {
        xenevtchn_port_or_error_t p;

        assert_int_not_equal(dm->io->vcpu_ioreq[v].vp_eport, 0);
        p = xenevtchn_bind_interdomain(dm->xce, dm->domid,
                                       dm->io->vcpu_ioreq[v].vp_eport);
        assert_true(p > 0);
        dm->lports[v] = (evtchn_port_t)p;
    }
    if (bufport != 0) {
        xenevtchn_port_or_error_t p;

        p = xenevtchn_bind_interdomain(dm->xce, dm->domid, bufport);
        assert_true(p > 0);
        dm->buf_lport = (evtchn_port_t)p;
    }
    assert_int_equal(xendevicemodel_map_io_range_to_ioreq_server(
                         dm->dmod, dm->domid, dm->id, 1,
                         x86 ? X86_MMIO_BASE : ARM_MMIO_BASE,
                         (x86 ? X86_MMIO_BASE : ARM_MMIO_BASE) + REGS_LEN - 1),
                     0);
    if (x86) {
        assert_int_equal(xendevicemodel_map_io_range_to_ioreq_server(
                             dm->dmod, dm->domid, dm->id, 0, PIO_BASE,
                             PIO_BASE + PIO_LEN - 1),
                         0);
        assert_int_equal(xendevicemodel_map_io_range_to_ioreq_server(
                             dm->dmod, dm->domid, dm->id, 1, X86_VGA_BASE,
                             X86_VGA_BASE + 0xffff),
                         0);
        assert_int_equal(xendevicemodel_map_pcidev_to_ioreq_server(
                             dm->dmod, dm->domid, dm->id, 0, 0, 3, 0),
                         0);
        store_le(dm->cfg, 2, 0x1af4);
        store_le(dm->cfg + 2, 2, 0x1001);
    }
    dm->stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_true(dm->stop_fd >= 0);
    if (thread) {
        assert_int_equal(pthread_create(&dm->thr, NULL, dm_loop, dm), 0);
        dm->running = true;
    }
}

static void
dm_stop(struct dm *dm)
{
    unsigned v;

    if (dm->running) {
        uint64_t one = 1;

        assert_int_equal(write(dm->stop_fd, &one, sizeof(one)), sizeof(one));
        pthread_join(dm->thr, NULL);
        dm->running = false;
    }
    close(dm->stop_fd);
    (void)xendevicemodel_set_ioreq_server_state(dm->dmod, dm->domid, dm->id, 0);
    for (v = 0; v < dm->nvcpus; v++) {
        (void)xenevtchn_unbind(dm->xce, dm->lports[v]);
    }
    if (dm->buf_lport != 0) {
        (void)xenevtchn_unbind(dm->xce, dm->buf_lport);
    }
    (void)xenforeignmemory_unmap_resource(dm->fmem, dm->res);
    (void)xendevicemodel_destroy_ioreq_server(dm->dmod, dm->domid, dm->id);
    xenevtchn_close(dm->xce);
    xenforeignmemory_close(dm->fmem);
    xendevicemodel_close(dm->dmod);
}

static struct iq_sim *
sim_new(enum iq_sim_arch arch, unsigned nvcpus, unsigned timeout_ms)
{
    struct iq_sim_config cfg;
    struct iq_sim *sim = NULL;

    iq_sim_config_default(&cfg, arch);
    cfg.nr_vcpus = nvcpus;
    cfg.timeout_ms = timeout_ms;
    cfg.ram0_size = 16u << 20;
    cfg.ram1_size = 1u << 20;
    assert_int_equal(iq_sim_create(&cfg, &sim), 0);
    iq_sim_export_env(sim);
    return sim;
}

static void
assert_all_released(struct iq_sim *sim)
{
    struct iq_sim_counters c;

    iq_sim_counters(sim, &c);
    assert_int_equal(c.servers_now, 0);
    assert_int_equal(c.servers_enabled_now, 0);
    assert_int_equal(c.ranges_now, 0);
    assert_int_equal(c.evtchn_bound_now, 0);
    assert_int_equal(c.resource_maps_now, 0);
    assert_int_equal(c.foreign_pages_now, 0);
    assert_int_equal(c.grant_pages_now, 0);
    assert_int_equal(c.handles_open, 0);
}

/* The handles open asynchronously counted by the server thread. */
static void
wait_handles(struct iq_sim *sim, uint64_t want)
{
    struct iq_sim_counters c;
    unsigned i;

    for (i = 0; i < 2000; i++) {
        iq_sim_counters(sim, &c);
        if (c.handles_open == want) {
            return;
        }
        usleep(1000);
    }
    assert_int_equal(c.handles_open, want);
}

/* ---- vCPU threads ----------------------------------------------------- */

struct vcpu_arg {
    struct iq_sim *sim;
    unsigned vcpu;
    uint64_t base;
    int failures;
};

static void *
vcpu_thread(void *p)
{
    struct vcpu_arg *a = p;
    static const unsigned sizes[4] = {1, 2, 4, 8};
    unsigned i;

    for (i = 0; i < 300; i++) {
        unsigned size = sizes[i % 4];
        uint64_t addr = a->base + a->vcpu * 64 + (i % 7) * 8;
        uint64_t val = 0x0123456789abcdefull * (i + 1) + a->vcpu;
        uint64_t got = 0;

        if (iq_sim_mmio_write(a->sim, a->vcpu, addr, size, val) != 0 ||
            iq_sim_mmio_read(a->sim, a->vcpu, addr, size, &got) != 0 ||
            (got & mask_of(size)) != (val & mask_of(size))) {
            a->failures++;
        }
    }
    return NULL;
}

static void
run_vcpus(struct iq_sim *sim, unsigned n, uint64_t base)
{
    struct vcpu_arg args[4];
    pthread_t t[4];
    unsigned i;

    for (i = 0; i < n; i++) {
        args[i].sim = sim;
        args[i].vcpu = i;
        args[i].base = base;
        args[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, vcpu_thread, &args[i]), 0);
    }
    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
}

/* ---- tests --------------------------------------------------------------- */

/* The loader resolved the real libraries' symbols to the fakes. */
static void
assert_from_fake(const void *sym)
{
    char dir[4096];
    char lib[4096];
    Dl_info info;

    assert_true(dladdr(sym, &info) != 0);
    assert_non_null(info.dli_fname);
    assert_non_null(realpath(FAKEXEN_LIBDIR, dir));
    assert_non_null(realpath(info.dli_fname, lib));
    assert_int_equal(strncmp(lib, dir, strlen(dir)), 0);
    assert_int_equal(lib[strlen(dir)], '/');
}

static void
test_fake_libs_loaded(void **state)
{
    (void)state;
    assert_from_fake((const void *)(uintptr_t)&xendevicemodel_open);
    assert_from_fake((const void *)(uintptr_t)&xenforeignmemory_map2);
    assert_from_fake((const void *)(uintptr_t)&xenevtchn_notify);
    assert_from_fake((const void *)(uintptr_t)&xengnttab_unmap);
    assert_from_fake((const void *)(uintptr_t)&xs_open);
    assert_from_fake((const void *)(uintptr_t)&xentoolcore_restrict_all);
}

static void
test_arm_mmio(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_ARM, 4, 0);
    struct iq_sim_counters c;
    ioservid_t bad;
    struct dm dm;
    uint64_t v = 0;

    (void)state;
    dm_start(&dm, sim, false, 0, true);
    /* Arm 4.17 rejects buffered ioreqs. */
    errno = 0;
    assert_int_equal(
        xendevicemodel_create_ioreq_server(dm.dmod, dm.domid, 2, &bad), -1);
    assert_int_equal(errno, EINVAL);
    run_vcpus(sim, 4, ARM_MMIO_BASE);

    /* Writes carry garbage above `size`; the DM saw it raw. */
    assert_int_equal(iq_sim_mmio_write(sim, 1, ARM_MMIO_BASE + 0x100, 1, 0x5a),
                     0);
    assert_int_equal(dm.last_raw_write & 0xff, 0x5a);
    assert_int_not_equal(dm.last_raw_write >> 8, 0);
    assert_int_equal(iq_sim_mmio_read(sim, 1, ARM_MMIO_BASE + 0x100, 4, &v), 0);
    assert_int_equal(v & 0xff, 0x5a);

    /* Unclaimed: data abort; x86-only paths refused. */
    assert_int_equal(iq_sim_mmio_read(sim, 0, ARM_MMIO_BASE + REGS_LEN, 4, &v),
                     -EFAULT);
    assert_int_equal(iq_sim_mmio_write(sim, 0, ARM_MMIO_BASE - 4, 4, 1),
                     -EFAULT);
    /* An access straddling the end of the range is not claimed. */
    assert_int_equal(
        iq_sim_mmio_read(sim, 0, ARM_MMIO_BASE + REGS_LEN - 4, 8, &v), -EFAULT);
    assert_int_equal(iq_sim_pio_read(sim, 0, 0x500, 1, &v), -EOPNOTSUPP);
    assert_int_equal(iq_sim_buffered_write(sim, IOREQ_TYPE_COPY, 0, 4, 0),
                     -EOPNOTSUPP);
    assert_int_equal(iq_sim_invalidate(sim, 2), 0);
    assert_int_equal(dm.invalidates, 1);
    assert_int_equal(iq_sim_mmio_read(sim, 4, ARM_MMIO_BASE, 4, &v), -EINVAL);

    iq_sim_counters(sim, &c);
    assert_int_equal(c.servers_now, 1);
    assert_int_equal(c.servers_enabled_now, 1);
    assert_int_equal(c.ranges_now, 1);
    assert_int_equal(c.evtchn_bound_now, 4);
    assert_int_equal(c.resource_maps_now, 1);
    assert_int_equal(c.handles_open, 3);
    assert_int_equal(c.ioreqs_sent, 4 * 300 * 2 + 2 + 1);
    assert_true(c.evtchn_notify_calls >= c.ioreqs_sent);

    /* Frame 0 (buffered) of a server without one does not exist. */
    {
        void *addr = NULL;

        errno = 0;
        assert_null(xenforeignmemory_map_resource(
            dm.fmem, dm.domid, XENMEM_resource_ioreq_server, dm.id, 0, 1, &addr,
            PROT_READ | PROT_WRITE, 0));
        assert_int_equal(errno, ENOENT);
    }
    dm_stop(&dm);
    /* Closing is synchronous: counters are exact right away. */
    assert_all_released(sim);
    iq_sim_destroy(sim);
}

static void
test_x86_io(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_X86, 2, 0);
    struct iq_sim_counters c;
    struct dm dm;
    uint64_t v = 0;
    unsigned i;

    (void)state;
    dm_start(&dm, sim, true, HVM_IOREQSRV_BUFIOREQ_ATOMIC, true);
    run_vcpus(sim, 2, X86_MMIO_BASE);

    /* x86 writes are not polluted. */
    assert_int_equal(iq_sim_mmio_write(sim, 0, X86_MMIO_BASE + 0x100, 1, 0x5a),
                     0);
    assert_int_equal(dm.last_raw_write, 0x5a);
    /* Unclaimed: all ones, writes dropped. */
    assert_int_equal(iq_sim_mmio_read(sim, 0, 0xfec00000, 4, &v), 0);
    assert_int_equal(v, 0xffffffffu);
    assert_int_equal(iq_sim_mmio_write(sim, 0, 0xfec00000, 4, 0), 0);
    assert_int_equal(iq_sim_pio_read(sim, 1, 0x60, 1, &v), 0);
    assert_int_equal(v, 0xff);
    /* Port I/O. */
    assert_int_equal(iq_sim_pio_write(sim, 1, PIO_BASE + 2, 2, 0xbeef), 0);
    assert_int_equal(iq_sim_pio_read(sim, 0, PIO_BASE + 2, 2, &v), 0);
    assert_int_equal(v, 0xbeef);
    /* PCI config: claimed sbdf is routed, another one reads all ones. */
    assert_int_equal(iq_sim_pci_cfg_read(sim, 0, DEV_SBDF, 0, 2, &v), 0);
    assert_int_equal(v, 0x1af4);
    assert_int_equal(iq_sim_pci_cfg_read(sim, 0, DEV_SBDF, 0, 4, &v), 0);
    assert_int_equal(v, 0x10011af4);
    assert_int_equal(iq_sim_pci_cfg_write(sim, 1, DEV_SBDF, 0x3c, 1, 0x0b), 0);
    assert_int_equal(dm.cfg[0x3c], 0x0b);
    assert_int_equal(iq_sim_pci_cfg_read(sim, 0, 0x20, 0, 2, &v), 0);
    assert_int_equal(v, 0xffff);

    /* Buffered: a 2-byte PIO write and an 8-byte MMIO write. */
    assert_int_equal(
        iq_sim_buffered_write(sim, IOREQ_TYPE_PIO, PIO_BASE, 2, 0x1234), 0);
    assert_int_equal(iq_sim_buffered_write(sim, IOREQ_TYPE_COPY,
                                           X86_VGA_BASE + 8, 8,
                                           0x1122334455667788ull),
                     0);
    assert_int_equal(iq_sim_buffered_write(sim, IOREQ_TYPE_COPY, 0x70000, 4, 1),
                     -ENOENT);
    assert_int_equal(iq_sim_buffered_drain(sim), 0);
    assert_int_equal(dm.nrecs, 2);
    assert_int_equal(dm.recs[0].type, IOREQ_TYPE_PIO);
    assert_int_equal(dm.recs[0].addr, PIO_BASE);
    assert_int_equal(dm.recs[0].size, 2);
    assert_int_equal(dm.recs[0].data, 0x1234);
    assert_int_equal(dm.recs[1].type, IOREQ_TYPE_COPY);
    assert_int_equal(dm.recs[1].addr, X86_VGA_BASE + 8);
    assert_int_equal(dm.recs[1].size, 8);
    assert_int_equal(dm.recs[1].data, 0x1122334455667788ull);

    /* Free-running pointers near 2^32 are rebased (ATOMIC mode). */
    assert_int_equal(iq_sim_buffered_set_pointers(sim, 0xfffffff0u), 0);
    for (i = 0; i < 40; i++) {
        assert_int_equal(iq_sim_buffered_write(sim, IOREQ_TYPE_PIO,
                                               PIO_BASE + 4, i % 2 ? 4 : 8,
                                               0xa0000000ull + i),
                         0);
    }
    assert_int_equal(iq_sim_buffered_drain(sim), 0);
    assert_int_equal(dm.nrecs, 42);
    for (i = 0; i < 40; i++) {
        assert_int_equal(dm.recs[2 + i].data, 0xa0000000ull + i);
        assert_int_equal(dm.recs[2 + i].size, i % 2 ? 4 : 8);
    }
    /* The first write rebased them (the DM was idle then). */
    assert_true(__atomic_load_n(&dm.buf->read_pointer, __ATOMIC_ACQUIRE) <
                0x10000u);
    assert_int_equal(__atomic_load_n(&dm.buf->read_pointer, __ATOMIC_ACQUIRE),
                     __atomic_load_n(&dm.buf->write_pointer, __ATOMIC_ACQUIRE));

    /* INVALIDATE reaches every enabled server. */
    assert_int_equal(iq_sim_invalidate(sim, 1), 0);
    assert_int_equal(dm.invalidates, 1);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.ioreqs_buffered, 42);
    assert_int_equal(c.ranges_now, 4);

    dm_stop(&dm);
    /* Closing is synchronous: counters are exact right away. */
    assert_all_released(sim);
    iq_sim_destroy(sim);
}

static bool
readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, ms) == 1;
}

/* Manual daemon on the main thread: ring contents, masking, bad states. */
static void
test_x86_manual(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_X86, 1, 200);
    buf_ioreq_t s0;
    struct dm dm;
    uint64_t v = 0;
    unsigned n;
    int fd;
    int r;

    (void)state;
    dm_start(&dm, sim, true, HVM_IOREQSRV_BUFIOREQ_LEGACY, false);
    fd = xenevtchn_fd(dm.xce);
    /* Like /dev/xen/evtchn: pending() blocks unless the fd is O_NONBLOCK. */
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    errno = 0;
    assert_int_equal(xenevtchn_pending(dm.xce), -1);
    assert_int_equal(errno, EAGAIN);

    /* Buffered event, then masked until unmask, then re-delivered. */
    assert_int_equal(
        iq_sim_buffered_write(sim, IOREQ_TYPE_PIO, PIO_BASE, 1, 0x11), 0);
    assert_true(readable(fd, 2000));
    assert_int_equal(xenevtchn_pending(dm.xce), (int)dm.buf_lport);
    assert_int_equal(
        iq_sim_buffered_write(sim, IOREQ_TYPE_PIO, PIO_BASE, 1, 0x22), 0);
    assert_false(readable(fd, 0));
    assert_int_equal(xenevtchn_unmask(dm.xce, dm.buf_lport), 0);
    assert_true(readable(fd, 2000));
    assert_int_equal(xenevtchn_pending(dm.xce), (int)dm.buf_lport);

    memcpy(&s0, &dm.buf->buf_ioreq[0], sizeof(s0));
    assert_int_equal(s0.type, IOREQ_TYPE_PIO);
    assert_int_equal(s0.addr, PIO_BASE);
    assert_int_equal(s0.size, 0);
    assert_int_equal(s0.dir, IOREQ_WRITE);
    assert_int_equal(s0.data, 0x11);

    /* Fill the ring: 511 slots. */
    n = 2;
    while ((r = iq_sim_buffered_write(sim, IOREQ_TYPE_PIO, PIO_BASE, 4, n)) ==
           0) {
        n++;
    }
    assert_int_equal(r, -ENOSPC);
    assert_int_equal(n, IOREQ_BUFFER_SLOT_NUM);
    assert_int_equal(dm.buf->write_pointer, IOREQ_BUFFER_SLOT_NUM);
    /* Free two slots: an 8-byte write fits, LEGACY does not rebase. */
    __atomic_add_fetch(&dm.buf->read_pointer, 2, __ATOMIC_RELEASE);
    assert_int_equal(iq_sim_buffered_write(sim, IOREQ_TYPE_PIO, PIO_BASE, 8,
                                           0x0102030405060708ull),
                     0);
    assert_int_equal(dm.buf->write_pointer, IOREQ_BUFFER_SLOT_NUM + 2);
    assert_int_equal(dm.buf->buf_ioreq[0].data, 0x05060708u);
    assert_int_equal(dm.buf->buf_ioreq[1].data, 0x01020304u);
    assert_int_equal(dm.buf->buf_ioreq[1].size, 3);
    assert_int_equal(iq_sim_buffered_write(sim, IOREQ_TYPE_PIO, PIO_BASE, 1, 0),
                     -ENOSPC);

    /* A slot left in IORESP_READY is a bad state; no answer times out. */
    dm.io->vcpu_ioreq[0].state = STATE_IORESP_READY;
    assert_int_equal(iq_sim_mmio_read(sim, 0, X86_MMIO_BASE, 4, &v), -EIO);
    dm.io->vcpu_ioreq[0].state = STATE_IOREQ_NONE;
    assert_int_equal(iq_sim_mmio_read(sim, 0, X86_MMIO_BASE, 4, &v),
                     -ETIMEDOUT);
    assert_int_equal(dm.io->vcpu_ioreq[0].state, STATE_IOREQ_READY);
    assert_int_equal(dm.io->vcpu_ioreq[0].type, IOREQ_TYPE_COPY);
    assert_int_equal(dm.io->vcpu_ioreq[0].addr, X86_MMIO_BASE);
    assert_int_equal(dm.io->vcpu_ioreq[0].size, 4);
    assert_int_equal(dm.io->vcpu_ioreq[0].dir, IOREQ_READ);
    assert_int_equal(iq_sim_mmio_read(sim, 0, X86_MMIO_BASE, 4, &v), -EIO);
    /* Answer it late, by hand: the slot is usable again afterwards. */
    dm.io->vcpu_ioreq[0].state = STATE_IOREQ_NONE;
    /* The DM rewrote vp_eport: Xen refuses to send. */
    dm.io->vcpu_ioreq[0].vp_eport++;
    assert_int_equal(iq_sim_mmio_read(sim, 0, X86_MMIO_BASE, 4, &v), -EIO);
    dm.io->vcpu_ioreq[0].vp_eport--;

    /* Info with gfn pointers is not offered by the fake. */
    {
        xen_pfn_t g1;
        xen_pfn_t g2;

        errno = 0;
        assert_int_equal(xendevicemodel_get_ioreq_server_info(
                             dm.dmod, dm.domid, dm.id, &g1, &g2, NULL),
                         -1);
        assert_int_equal(errno, EOPNOTSUPP);
    }
    /* Range bookkeeping: overlap, partial unmap. */
    errno = 0;
    assert_int_equal(
        xendevicemodel_map_io_range_to_ioreq_server(dm.dmod, dm.domid, dm.id, 0,
                                                    PIO_BASE + 1, PIO_BASE + 1),
        -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(
        xendevicemodel_unmap_io_range_from_ioreq_server(
            dm.dmod, dm.domid, dm.id, 0, PIO_BASE + 4, PIO_BASE + 5),
        0);
    assert_int_equal(iq_sim_pio_read(sim, 0, PIO_BASE + 4, 1, &v), 0);
    assert_int_equal(v, 0xff);
    errno = 0;
    assert_int_equal(
        xendevicemodel_unmap_io_range_from_ioreq_server(
            dm.dmod, dm.domid, dm.id, 0, PIO_BASE + 4, PIO_BASE + 5),
        -1);
    assert_int_equal(errno, ENOENT);

    /* Overlap: disabled servers get nothing, then the highest id wins. */
    {
        xenforeignmemory_resource_handle *rb;
        shared_iopage_t *iob;
        void *ab = NULL;
        ioservid_t idb;

        assert_int_equal(
            xendevicemodel_create_ioreq_server(dm.dmod, dm.domid, 0, &idb), 0);
        assert_true(idb > dm.id);
        rb = xenforeignmemory_map_resource(dm.fmem, dm.domid,
                                           XENMEM_resource_ioreq_server, idb, 1,
                                           1, &ab, PROT_READ | PROT_WRITE, 0);
        assert_non_null(rb);
        iob = ab;
        assert_int_equal(xendevicemodel_map_io_range_to_ioreq_server(
                             dm.dmod, dm.domid, idb, 0, PIO_BASE, PIO_BASE),
                         0);
        assert_int_equal(iq_sim_pio_read(sim, 0, PIO_BASE, 1, &v), -ETIMEDOUT);
        assert_int_equal(dm.io->vcpu_ioreq[0].state, STATE_IOREQ_READY);
        assert_int_equal(iob->vcpu_ioreq[0].state, STATE_IOREQ_NONE);
        dm.io->vcpu_ioreq[0].state = STATE_IOREQ_NONE;
        assert_int_equal(
            xendevicemodel_set_ioreq_server_state(dm.dmod, dm.domid, idb, 1),
            0);
        assert_int_equal(iq_sim_pio_read(sim, 0, PIO_BASE, 1, &v), -ETIMEDOUT);
        assert_int_equal(dm.io->vcpu_ioreq[0].state, STATE_IOREQ_NONE);
        assert_int_equal(iob->vcpu_ioreq[0].state, STATE_IOREQ_READY);
        assert_int_equal(iob->vcpu_ioreq[0].addr, PIO_BASE);
        assert_int_equal(iob->vcpu_ioreq[0].type, IOREQ_TYPE_PIO);
        assert_int_equal(xenforeignmemory_unmap_resource(dm.fmem, rb), 0);
        assert_int_equal(
            xendevicemodel_destroy_ioreq_server(dm.dmod, dm.domid, idb), 0);
    }
    dm_stop(&dm);
    /* Closing is synchronous: counters are exact right away. */
    assert_all_released(sim);
    iq_sim_destroy(sim);
}

static void
test_grants(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_ARM, 1, 0);
    uint64_t gfn_a = IQ_SIM_ARM_RAM0_BASE / PAGE + 10;
    uint64_t gfn_b = IQ_SIM_ARM_RAM0_BASE / PAGE + 3;
    struct iq_sim_counters c;
    xengnttab_handle *g;
    uint32_t refs[2] = {7, 8};
    uint8_t pat[PAGE];
    uint8_t *p;
    uint16_t dom;

    (void)state;
    dom = iq_sim_domid(sim);
    memset(pat, 0xa1, sizeof(pat));
    assert_int_equal(iq_sim_ram_write(sim, gfn_a * PAGE, pat, PAGE), 0);
    memset(pat, 0xb2, sizeof(pat));
    assert_int_equal(iq_sim_ram_write(sim, gfn_b * PAGE, pat, PAGE), 0);
    assert_int_equal(iq_sim_grant(sim, 7, gfn_a, false), 0);
    assert_int_equal(iq_sim_grant(sim, 8, gfn_b, true), 0);
    assert_int_equal(iq_sim_grant(sim, 9, 0x10, false), -EINVAL);

    g = xengnttab_open(NULL, 0);
    assert_non_null(g);
    assert_int_equal(xengnttab_set_max_grants(g, 64), 0);
    p = xengnttab_map_domain_grant_refs(g, 2, dom, refs, PROT_READ);
    assert_non_null(p);
    assert_int_equal(p[0], 0xa1);
    assert_int_equal(p[PAGE - 1], 0xa1);
    assert_int_equal(p[PAGE], 0xb2);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.grant_pages_now, 2);
    assert_int_equal(xengnttab_unmap(g, p, 2), 0);

    /* RW mapping writes guest RAM. */
    p = xengnttab_map_grant_ref(g, dom, 7, PROT_READ | PROT_WRITE);
    assert_non_null(p);
    p[5] = 0x5c;
    assert_int_equal(iq_sim_ram_read(sim, gfn_a * PAGE + 5, pat, 1), 0);
    assert_int_equal(pat[0], 0x5c);
    assert_int_equal(xengnttab_unmap(g, p, 1), 0);

    /* RO grant mapped writable, revoked and unknown refs: whole failure. */
    errno = 0;
    assert_null(xengnttab_map_domain_grant_refs(g, 2, dom, refs,
                                                PROT_READ | PROT_WRITE));
    assert_int_equal(errno, EACCES);
    assert_int_equal(iq_sim_grant_revoke(sim, 7), 0);
    assert_int_equal(iq_sim_grant_revoke(sim, 7), -ENOENT);
    errno = 0;
    assert_null(xengnttab_map_domain_grant_refs(g, 2, dom, refs, PROT_READ));
    assert_int_equal(errno, EFAULT);
    refs[0] = 1000;
    errno = 0;
    assert_null(xengnttab_map_grant_ref(g, dom, refs[0], PROT_READ));
    assert_int_equal(errno, EFAULT);
    errno = 0;
    assert_null(xengnttab_map_grant_ref(g, dom + 1, 8, PROT_READ));
    assert_int_equal(errno, ESRCH);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.grant_pages_now, 0);
    assert_int_equal(c.grant_map_calls, 6);
    xengnttab_close(g);
    /* Closing is synchronous: counters are exact right away. */
    assert_all_released(sim);
    iq_sim_destroy(sim);
}

static void
assert_event(char **ev, const char *path, const char *token)
{
    assert_non_null(ev);
    assert_string_equal(ev[XS_WATCH_PATH], path);
    assert_string_equal(ev[XS_WATCH_TOKEN], token);
    free(ev);
}

static void
test_xenstore(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_ARM, 1, 0);
    struct iq_sim_counters c;
    struct xs_handle *xs;
    xendevicemodel_handle *dmod;
    unsigned int num = 0;
    unsigned int len = 0;
    char **dir;
    char *val;
    unsigned i;
    bool seen_domid = false;
    bool seen_be = false;
    ioservid_t id;

    (void)state;
    xs = xs_open(0);
    assert_non_null(xs);
    val = xs_get_domain_path(xs, 1);
    assert_string_equal(val, "/local/domain/1");
    free(val);
    assert_true(xs_watch(xs, "/local/domain/1/backend", "tok"));
    assert_event(xs_read_watch(xs, &num), "/local/domain/1/backend", "tok");
    assert_int_equal(num, 2);
    errno = 0;
    assert_null(xs_check_watch(xs));
    assert_int_equal(errno, EAGAIN);
    assert_false(xs_watch(xs, "/local/domain/1/backend", "tok"));
    assert_int_equal(errno, EEXIST);

    assert_int_equal(iq_sim_xs_write(sim, "/local/domain/1/backend/x", "7"), 0);
    assert_true(readable(xs_fileno(xs), 2000));
    assert_event(xs_check_watch(xs), "/local/domain/1/backend/x", "tok");
    val = xs_read(xs, XBT_NULL, "/local/domain/1/backend/x", &len);
    assert_non_null(val);
    assert_int_equal(len, 1);
    assert_string_equal(val, "7");
    free(val);
    /* A write elsewhere does not fire. */
    assert_true(
        xs_write(xs, XBT_NULL, "/local/domain/0/ioreqd/state", "ready", 5));
    assert_int_equal(
        iq_sim_xs_wait(sim, "/local/domain/0/ioreqd/state", "ready", 2000), 0);
    val = iq_sim_xs_read(sim, "/local/domain/0/ioreqd/state");
    assert_string_equal(val, "ready");
    free(val);
    errno = 0;
    assert_null(xs_check_watch(xs));
    assert_int_equal(errno, EAGAIN);

    dir = xs_directory(xs, XBT_NULL, "/local/domain/1", &num);
    assert_non_null(dir);
    for (i = 0; i < num; i++) {
        seen_domid = seen_domid || strcmp(dir[i], "domid") == 0;
        seen_be = seen_be || strcmp(dir[i], "backend") == 0;
    }
    free(dir);
    assert_int_equal(num, 2);
    assert_true(seen_domid && seen_be);

    assert_true(xs_rm(xs, XBT_NULL, "/local/domain/1/backend"));
    assert_event(xs_read_watch(xs, &num), "/local/domain/1/backend", "tok");
    errno = 0;
    assert_null(xs_read(xs, XBT_NULL, "/local/domain/1/backend/x", &len));
    assert_int_equal(errno, ENOENT);
    assert_true(xs_unwatch(xs, "/local/domain/1/backend", "tok"));
    assert_false(xs_unwatch(xs, "/local/domain/1/backend", "tok"));
    assert_true(xs_mkdir(xs, XBT_NULL, "/local/domain/1/backend"));
    assert_null(xs_check_watch(xs));
    {
        xs_transaction_t t = xs_transaction_start(xs);

        assert_int_not_equal(t, XBT_NULL);
        assert_true(xs_write(xs, t, "/local/domain/1/backend/y", "1", 1));
        assert_true(xs_transaction_end(xs, t, false));
    }

    /* Domain death: @releaseDomain, the domain's nodes gone, ESRCH. */
    assert_true(xs_watch(xs, "@releaseDomain", "rel"));
    assert_event(xs_read_watch(xs, &num), "@releaseDomain", "rel");
    dmod = xendevicemodel_open(NULL, 0);
    assert_non_null(dmod);
    iq_sim_domain_destroy(sim);
    assert_event(xs_read_watch(xs, &num), "@releaseDomain", "rel");
    errno = 0;
    assert_null(xs_read(xs, XBT_NULL, "/local/domain/1/domid", &len));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(xendevicemodel_create_ioreq_server(dmod, 1, 0, &id), -1);
    assert_int_equal(errno, ESRCH);
    {
        uint64_t v;

        assert_int_equal(iq_sim_mmio_read(sim, 0, ARM_MMIO_BASE, 4, &v),
                         -ESRCH);
    }

    /* restrict_all neuters xenstore handles like the real library. */
    assert_int_equal(xentoolcore_restrict_all(1), 0);
    errno = 0;
    assert_null(xs_read(xs, XBT_NULL, "/local/domain/0/ioreqd/state", &len));
    assert_int_equal(errno, EBADF);
    errno = 0;
    assert_int_equal(xendevicemodel_nr_vcpus(dmod, 2, &num), -1);
    assert_int_equal(errno, EPERM);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.restrict_calls, 1);
    xendevicemodel_close(dmod);
    xs_close(xs);
    wait_handles(sim, 0);
    iq_sim_destroy(sim);
}

static void
test_map2(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_ARM, 1, 0);
    uint64_t g0 = IQ_SIM_ARM_RAM0_BASE / PAGE;
    uint64_t r1 = IQ_SIM_ARM_RAM1_BASE / PAGE;
    xen_pfn_t arr[6] = {g0, g0 + 1, 0x1000, r1, g0 + 5, g0 + 6};
    int err[6];
    struct iq_sim_counters c;
    xenforeignmemory_handle *fm;
    uint16_t dom = iq_sim_domid(sim);
    uint8_t *p;
    uint8_t b;
    unsigned i;

    (void)state;
    for (i = 0; i < 8; i++) {
        b = (uint8_t)(0x10 + i);
        assert_int_equal(iq_sim_ram_write(sim, (g0 + i) * PAGE + 9, &b, 1), 0);
    }
    b = 0x77;
    assert_int_equal(iq_sim_ram_write(sim, r1 * PAGE + 9, &b, 1), 0);
    assert_null(iq_sim_ram(sim, 0x1000 * PAGE, 1));
    assert_null(iq_sim_ram(sim, IQ_SIM_ARM_RAM0_BASE + (16u << 20) - 1, 2));

    fm = xenforeignmemory_open(NULL, 0);
    assert_non_null(fm);
    iq_sim_fault(sim, IQ_SIM_FAULT_MAP_GFN, g0 + 5);
    p = xenforeignmemory_map2(fm, dom, NULL, PROT_READ | PROT_WRITE, 0, 6, arr,
                              err);
    assert_non_null(p);
    assert_int_equal(err[0], 0);
    assert_int_equal(err[1], 0);
    assert_int_equal(err[2], -EFAULT);
    assert_int_equal(err[3], 0);
    assert_int_equal(err[4], -EFAULT);
    assert_int_equal(err[5], 0);
    assert_int_equal(p[9], 0x10);
    assert_int_equal(p[PAGE + 9], 0x11);
    assert_int_equal(p[3 * PAGE + 9], 0x77);
    assert_int_equal(p[5 * PAGE + 9], 0x16);
    p[PAGE + 10] = 0x42;
    assert_int_equal(iq_sim_ram_read(sim, (g0 + 1) * PAGE + 10, &b, 1), 0);
    assert_int_equal(b, 0x42);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.foreign_map_calls, 1);
    assert_int_equal(c.foreign_pages_now, 6);

    /* Without err[] any failing page fails the call. */
    errno = 0;
    assert_null(xenforeignmemory_map(fm, dom, PROT_READ, 6, arr, NULL));
    assert_int_equal(errno, EFAULT);
    iq_sim_fault(sim, IQ_SIM_FAULT_MAP_GFN, ~0ull);
    iq_sim_fault(sim, IQ_SIM_FAULT_MAP_FAIL, 1);
    errno = 0;
    assert_null(xenforeignmemory_map(fm, dom, PROT_READ, 2, arr, err));
    assert_int_equal(errno, ENOMEM);
    {
        uint8_t *q = xenforeignmemory_map(fm, dom, PROT_READ, 2, arr, NULL);

        assert_non_null(q);
        assert_int_equal(q[PAGE + 10], 0x42);
        assert_int_equal(xenforeignmemory_unmap(fm, q, 2), 0);
    }
    errno = 0;
    assert_null(xenforeignmemory_map(fm, dom + 1, PROT_READ, 1, arr, NULL));
    assert_int_equal(errno, ESRCH);
    assert_int_equal(xenforeignmemory_restrict(fm, dom), 0);
    errno = 0;
    assert_null(xenforeignmemory_map(fm, dom + 1, PROT_READ, 1, arr, NULL));
    assert_int_equal(errno, EPERM);
    assert_int_equal(xenforeignmemory_unmap(fm, p, 6), 0);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.foreign_map_calls, 6);
    assert_int_equal(c.foreign_unmap_calls, 2);
    assert_int_equal(c.foreign_pages_now, 0);
    assert_int_equal(c.foreign_pages_peak, 8);
    xenforeignmemory_close(fm);
    /* Closing is synchronous: counters are exact right away. */
    assert_all_released(sim);
    iq_sim_destroy(sim);

    /* x86: the legacy VGA hole is not RAM. */
    sim = sim_new(IQ_SIM_X86, 1, 0);
    fm = xenforeignmemory_open(NULL, 0);
    assert_non_null(fm);
    arr[0] = 0x9f;
    arr[1] = 0xa0;
    arr[2] = 0x100;
    p = xenforeignmemory_map2(fm, iq_sim_domid(sim), NULL, PROT_READ, 0, 3, arr,
                              err);
    assert_non_null(p);
    assert_int_equal(err[0], 0);
    assert_int_equal(err[1], -EFAULT);
    assert_int_equal(err[2], 0);
    assert_int_equal(xenforeignmemory_unmap(fm, p, 3), 0);
    xenforeignmemory_close(fm);
    iq_sim_destroy(sim);
}

static void
test_irq(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_ARM, 3, 0);
    xendevicemodel_handle *d;
    struct iq_sim_counters c;
    uint16_t dom = iq_sim_domid(sim);
    unsigned n = 0;

    (void)state;
    d = xendevicemodel_open(NULL, 0);
    assert_non_null(d);
    assert_int_equal(xendevicemodel_nr_vcpus(d, dom, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 33, 1), 0);
    assert_int_equal(iq_sim_irq_edges(sim, 33), 1);
    assert_int_equal(iq_sim_irq_level(sim, 33), 1);
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 33, 1), 0);
    assert_int_equal(iq_sim_irq_edges(sim, 33), 1);
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 33, 0), 0);
    assert_int_equal(iq_sim_irq_level(sim, 33), 0);
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 33, 1), 0);
    assert_int_equal(iq_sim_irq_wait(sim, 33, 1, 2000), 0);
    assert_int_equal(iq_sim_irq_wait(sim, 33, 2, 10), -ETIMEDOUT);
    errno = 0;
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 31, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 1020, 1), -1);
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 40, 2), -1);
    errno = 0;
    assert_int_equal(xendevicemodel_set_isa_irq_level(d, dom, 5, 1), -1);
    assert_int_equal(errno, EOPNOTSUPP);
    assert_int_equal(xendevicemodel_inject_msi(d, dom, 0xfee00000, 1), -1);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.irq_calls, 9);
    xendevicemodel_close(d);
    iq_sim_destroy(sim);

    sim = sim_new(IQ_SIM_X86, 1, 0);
    dom = iq_sim_domid(sim);
    d = xendevicemodel_open(NULL, 0);
    assert_non_null(d);
    assert_int_equal(xendevicemodel_set_isa_irq_level(d, dom, 5, 1), 0);
    assert_int_equal(iq_sim_irq_edges(sim, IQ_SIM_ISA_KEY(5)), 1);
    assert_int_equal(xendevicemodel_set_pci_intx_level(d, dom, 0, 0, 3, 1, 1),
                     0);
    assert_int_equal(iq_sim_irq_level(sim, IQ_SIM_INTX_KEY(DEV_SBDF, 1)), 1);
    assert_int_equal(xendevicemodel_inject_msi(d, dom, 0xfee00000, 0x4041), 0);
    assert_int_equal(xendevicemodel_inject_msi(d, dom, 0xfee00000, 0x4041), 0);
    assert_int_equal(iq_sim_msi_count(sim, 0xfee00000, 0x4041), 2);
    assert_int_equal(iq_sim_msi_count(sim, 0xfee00000, 0x4042), 0);
    errno = 0;
    assert_int_equal(xendevicemodel_set_irq_level(d, dom, 40, 1), -1);
    assert_int_equal(errno, EOPNOTSUPP);
    assert_int_equal(xendevicemodel_set_isa_irq_level(d, dom, 16, 1), -1);
    xendevicemodel_close(d);
    iq_sim_destroy(sim);
}

static void
test_faults(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_X86, 1, 0);
    xendevicemodel_handle *d;
    xenforeignmemory_handle *fm;
    xenevtchn_handle *xce;
    struct iq_sim_counters c;
    uint16_t dom = iq_sim_domid(sim);
    ioservid_t id;
    void *addr = NULL;
    xenforeignmemory_resource_handle *res;
    shared_iopage_t *io;
    int lp;

    (void)state;
    d = xendevicemodel_open(NULL, 0);
    fm = xenforeignmemory_open(NULL, 0);
    xce = xenevtchn_open(NULL, 0);
    assert_non_null(d);
    assert_non_null(fm);
    assert_non_null(xce);
    iq_sim_fault(sim, IQ_SIM_FAULT_DMOP, 1);
    errno = 0;
    assert_int_equal(xendevicemodel_create_ioreq_server(d, dom, 0, &id), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(xendevicemodel_create_ioreq_server(d, dom, 0, &id), 0);
    errno = 0;
    assert_int_equal(xendevicemodel_create_ioreq_server(d, dom + 1, 0, &id),
                     -1);
    assert_int_equal(errno, ESRCH);

    iq_sim_fault(sim, IQ_SIM_FAULT_RESOURCE, 1);
    errno = 0;
    assert_null(
        xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                      1, 1, &addr, PROT_READ | PROT_WRITE, 0));
    assert_int_equal(errno, EIO);
    res =
        xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                      1, 1, &addr, PROT_READ | PROT_WRITE, 0);
    assert_non_null(res);
    io = addr;
    assert_int_equal(xendevicemodel_set_ioreq_server_state(d, dom, id, 1), 0);
    lp = xenevtchn_bind_interdomain(xce, dom, io->vcpu_ioreq[0].vp_eport);
    assert_true(lp > 0);
    errno = 0;
    assert_int_equal(
        xenevtchn_bind_interdomain(xce, dom, io->vcpu_ioreq[0].vp_eport), -1);
    assert_int_equal(errno, EINVAL);
    iq_sim_fault(sim, IQ_SIM_FAULT_EVTCHN, 1);
    errno = 0;
    assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t)lp), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t)lp), 0);
    errno = 0;
    assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t)lp + 1), -1);
    assert_int_equal(errno, ENOTCONN);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.evtchn_notify_calls, 1);
    assert_int_equal(c.evtchn_bound_now, 1);
    assert_int_equal(c.dm_op_calls, 4);

    /* Eight servers at most. */
    {
        ioservid_t ids[8];
        unsigned k;

        for (k = 0; k < 7; k++) {
            assert_int_equal(
                xendevicemodel_create_ioreq_server(d, dom, 0, &ids[k]), 0);
        }
        errno = 0;
        assert_int_equal(xendevicemodel_create_ioreq_server(d, dom, 0, &ids[7]),
                         -1);
        assert_int_equal(errno, ENOSPC);
        for (k = 0; k < 7; k++) {
            assert_int_equal(
                xendevicemodel_destroy_ioreq_server(d, dom, ids[k]), 0);
        }
    }
    assert_int_equal(xenforeignmemory_unmap_resource(fm, res), 0);
    assert_int_equal(xendevicemodel_destroy_ioreq_server(d, dom, id), 0);
    errno = 0;
    assert_int_equal(xendevicemodel_destroy_ioreq_server(d, dom, id), -1);
    assert_int_equal(errno, ENOENT);
    xenevtchn_close(xce);
    xenforeignmemory_close(fm);
    xendevicemodel_close(d);
    /* Closing is synchronous: counters are exact right away. */
    assert_all_released(sim);
    iq_sim_destroy(sim);
}

/* Child process: bring a server up, then die without cleaning up. */
static int
child_main(void)
{
    struct dm dm;

    /* cmocka asserts would longjmp nowhere here: use plain checks. */
    dm.dmod = xendevicemodel_open(NULL, 0);
    dm.fmem = xenforeignmemory_open(NULL, 0);
    dm.xce = xenevtchn_open(NULL, 0);
    if (dm.dmod == NULL || dm.fmem == NULL || dm.xce == NULL) {
        return 2;
    }
    {
        domid_t dom = 1;
        ioservid_t id;
        void *addr = NULL;
        shared_iopage_t *io;

        if (xendevicemodel_create_ioreq_server(dm.dmod, dom, 0, &id) < 0 ||
            xenforeignmemory_map_resource(
                dm.fmem, dom, XENMEM_resource_ioreq_server, id, 1, 1, &addr,
                PROT_READ | PROT_WRITE, 0) == NULL ||
            xendevicemodel_map_io_range_to_ioreq_server(
                dm.dmod, dom, id, 1, ARM_MMIO_BASE, ARM_MMIO_BASE + 0xfff) <
                0 ||
            xendevicemodel_set_ioreq_server_state(dm.dmod, dom, id, 1) < 0) {
            return 3;
        }
        io = addr;
        if (xenevtchn_bind_interdomain(dm.xce, dom,
                                       io->vcpu_ioreq[0].vp_eport) < 0) {
            return 4;
        }
    }
    return 0;
}

static void
test_client_death(void **state)
{
    struct iq_sim *sim = sim_new(IQ_SIM_ARM, 1, 300);
    struct iq_sim_counters c;
    char *argv[3];
    pid_t pid;
    int status = 0;
    uint64_t v;

    /* Our own binary (not /proc/self/exe: valgrind would run itself). */
    argv[0] = *state;
    argv[1] = (char *)(uintptr_t) "--child";
    argv[2] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    wait_handles(sim, 0);
    iq_sim_counters(sim, &c);
    assert_int_equal(c.servers_now, 1);
    assert_int_equal(c.servers_enabled_now, 1);
    assert_int_equal(c.evtchn_bound_now, 0);
    /* The server stays claimed, nobody answers. */
    assert_int_equal(iq_sim_mmio_read(sim, 0, ARM_MMIO_BASE, 4, &v),
                     -ETIMEDOUT);
    iq_sim_destroy(sim);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_libs_loaded),
        cmocka_unit_test(test_arm_mmio),
        cmocka_unit_test(test_x86_io),
        cmocka_unit_test(test_x86_manual),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_xenstore),
        cmocka_unit_test(test_map2),
        cmocka_unit_test(test_irq),
        cmocka_unit_test(test_faults),
        cmocka_unit_test_prestate(test_client_death, argv[0]),
    };

    if (argc == 2 && strcmp(argv[1], "--child") == 0) {
        /* Die holding everything (and skip leak checks at exit). */
        _exit(child_main());
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
