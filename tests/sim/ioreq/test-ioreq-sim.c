/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real ioreq/ code, in process, against the fake Xen (tests/fakexen;
 * the fake libraries are found through LD_LIBRARY_PATH). The loop thread
 * serves the IOREQ server; test threads act as vCPUs.
 *
 * - x86: 4 vCPUs x 25,000 iterations (about 45,000 accesses each) on a
 *   register file with per-vCPU windows. Every answer is checked; a write
 *   sequence register and a read counter prove that no access is lost or
 *   handled twice. Mixed in: port I/O, PCI config, rep with data_is_ptr in
 *   both directions and both df, buffered writes (with 8-byte ones)
 *   followed by synchronous reads that must see them, and one INVALIDATE
 *   mid-run. Then buffered writes around a pointer rebase near 2^32.
 * - Arm: 4 vCPUs with the 4.17 unmasked-write quirk switched on.
 * - The domain going away reports domain_gone exactly once.
 * Teardown must leave no mapping, port, range, server or handle behind.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ioreqd/ioreq.h"
#include "ioreqd/log.h"
#include "ioreqd/loop.h"
#include "iq-sim.h"

/* IOREQ_TYPE_* (xen/hvm/ioreq.h); tests do not include Xen headers. */
#define T_COPY 1
#define T_PIO 0

#define NVCPU 4u
#define ITERS 25000u
#define ARM_ITERS 5000u

#define X86_REG_BASE 0xe0000000ull
#define ARM_REG_BASE 0x02000000ull
#define WIN 0x100u /* per-vCPU window */
#define BUF_BASE 0xa0000ull /* buffered target: below 1 MiB, not RAM */
#define PIO_BASE 0x500u
#define PCI_SBDF 0x18u /* 00:03.0 */
#define RAM_SCRATCH 0x200000ull /* per-vCPU 4 KiB of guest RAM */

/* Window layout. */
#define OFF_SCRATCH 0x00u /* 0x00..0x3f: byte-addressed scratch */
#define OFF_SEQ 0x40u /* write: must be previous + 1 */
#define OFF_RCOUNT 0x48u /* read: 1, 2, 3, ... */
#define OFF_ARRAY 0x80u /* 0x80..0xff: rep target */

struct rf {
    uint8_t mem[NVCPU * WIN];
    uint64_t seq[NVCPU];
    uint64_t rcount[NVCPU];
    uint64_t errors;
    uint64_t writes;
};

static unsigned
rf_vcpu(uint64_t off)
{
    return (unsigned)(off / WIN);
}

static uint64_t
le_get(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void
le_put(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t
rf_read(void *opaque, uint64_t off, unsigned size)
{
    struct rf *d = opaque;
    unsigned v = rf_vcpu(off);
    uint64_t o = off % WIN;

    if (v >= NVCPU || off + size > sizeof(d->mem)) {
        d->errors++;
        return 0;
    }
    if (o == OFF_RCOUNT) {
        if (size != 8) {
            d->errors++;
        }
        return ++d->rcount[v];
    }
    /* Garbage above `size`: ioreq/ must zero-extend. */
    return le_get(d->mem + off, size) | (size < 8 ? ~0ull << (8 * size) : 0);
}

static void
rf_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct rf *d = opaque;
    unsigned v = rf_vcpu(off);
    uint64_t o = off % WIN;

    d->writes++;
    if (v >= NVCPU || off + size > sizeof(d->mem) ||
        (size < 8 && (val >> (8 * size)) != 0)) {
        d->errors++;
        return;
    }
    if (o == OFF_SEQ) {
        if (size != 8 || val != d->seq[v] + 1) {
            d->errors++;
        }
        d->seq[v] = val;
        return;
    }
    le_put(d->mem + off, val, size);
}

static const struct iq_region_ops rf_ops = {
    .read = rf_read,
    .write = rf_write,
};

/* Guest memory for data_is_ptr: straight into the simulator's RAM. */
struct gmem {
    struct iq_sim *sim;
    unsigned invalidates;
};

static int
gm_read(void *opaque, gpa_t gpa, void *buf, size_t len)
{
    struct gmem *g = opaque;

    return iq_sim_ram_read(g->sim, gpa, buf, len);
}

static int
gm_write(void *opaque, gpa_t gpa, const void *buf, size_t len)
{
    struct gmem *g = opaque;

    return iq_sim_ram_write(g->sim, gpa, buf, len);
}

static void
gm_invalidate(void *opaque)
{
    struct gmem *g = opaque;

    g->invalidates++;
}

static const struct iq_gmem_ops gm_ops = {
    .read = gm_read,
    .write = gm_write,
    .invalidate = gm_invalidate,
};

/* ---- harness --------------------------------------------------------------
 */

struct env {
    enum iq_sim_arch arch;
    struct iq_sim *sim;
    struct iq_loop *loop;
    struct iq_ioreq_server *srv;
    struct iq_region *reg;
    struct iq_region *buf;
    struct iq_region *pio;
    struct iq_region *pci;
    struct rf rf;
    struct rf bufdev;
    struct rf piodev;
    struct rf pcidev;
    struct gmem gm;
    pthread_t loop_thread;
    bool running;
    unsigned gone;
};

static void
on_gone(void *opaque)
{
    struct env *e = opaque;

    e->gone++;
}

static void *
loop_main(void *arg)
{
    struct env *e = arg;

    if (iq_loop_run(e->loop) < 0) {
        e->rf.errors++;
    }
    return NULL;
}

static void
env_start(struct env *e, enum iq_sim_arch arch)
{
    struct iq_sim_config sc;
    struct iq_ioreq_config cfg = {0};
    uint64_t base = arch == IQ_SIM_X86 ? X86_REG_BASE : ARM_REG_BASE;

    memset(e, 0, sizeof(*e));
    e->arch = arch;
    iq_sim_config_default(&sc, arch);
    sc.nr_vcpus = NVCPU;
    sc.ram0_size = 16ull << 20;
    assert_int_equal(iq_sim_create(&sc, &e->sim), 0);
    iq_sim_export_env(e->sim);
    e->gm.sim = e->sim;
    assert_int_equal(iq_loop_create(&e->loop), 0);

    cfg.domid = iq_sim_domid(e->sim);
    cfg.arch = arch == IQ_SIM_X86 ? IQ_ARCH_X86 : IQ_ARCH_ARM;
    cfg.bufioreq = arch == IQ_SIM_X86 ? IQ_BUFIOREQ_ATOMIC : IQ_BUFIOREQ_OFF;
    cfg.loop = e->loop;
    cfg.gmem = &gm_ops;
    cfg.gmem_opaque = &e->gm;
    cfg.domain_gone = on_gone;
    cfg.domain_gone_opaque = e;
    assert_int_equal(iq_ioreq_create(&cfg, &e->srv), 0);
    assert_int_equal(iq_ioreq_nr_vcpus(e->srv), NVCPU);
    assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_MMIO, base,
                                         NVCPU * WIN, &rf_ops, &e->rf, &e->reg),
                     0);
    if (arch == IQ_SIM_X86) {
        assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_MMIO, BUF_BASE,
                                             NVCPU * WIN, &rf_ops, &e->bufdev,
                                             &e->buf),
                         0);
        assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_PIO, PIO_BASE,
                                             2 * NVCPU, &rf_ops, &e->piodev,
                                             &e->pio),
                         0);
        assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_PCI, PCI_SBDF,
                                             4096, &rf_ops, &e->pcidev,
                                             &e->pci),
                         0);
    } else {
        struct iq_region *r = NULL;

        /* Arm has no port I/O or cf8/cfc config space. */
        assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_PIO, PIO_BASE, 8,
                                             &rf_ops, &e->piodev, &r),
                         -EOPNOTSUPP);
        assert_null(r);
    }
    assert_int_equal(iq_ioreq_restrict(e->srv), 0);
    assert_int_equal(pthread_create(&e->loop_thread, NULL, loop_main, e), 0);
    e->running = true;
}

static void
env_stop_loop(struct env *e)
{
    if (e->running) {
        iq_loop_stop(e->loop);
        assert_int_equal(pthread_join(e->loop_thread, NULL), 0);
        e->running = false;
    }
}

/* Tear down and prove nothing is left in the simulator. */
static void
env_finish(struct env *e, bool expect_clean)
{
    struct iq_sim_counters c;

    env_stop_loop(e);
    iq_ioreq_unmap_region(e->srv, e->pci);
    iq_ioreq_destroy(e->srv);
    iq_loop_destroy(e->loop);
    iq_sim_counters(e->sim, &c);
    assert_int_equal(c.resource_maps_now, 0);
    assert_int_equal(c.handles_open, 0);
    if (expect_clean) {
        assert_int_equal(c.evtchn_bound_now, 0);
        assert_int_equal(c.servers_now, 0);
        assert_int_equal(c.servers_enabled_now, 0);
        assert_int_equal(c.ranges_now, 0);
    }
    iq_sim_destroy(e->sim);
}

/* ---- vCPU threads
 * ------------------------------------------------------------ */

struct vcpu {
    struct env *e;
    unsigned id;
    unsigned iters;
    uint64_t accesses;
    uint64_t buffered;
    uint64_t buffered_full;
    uint64_t unclaimed;
    unsigned failed_line;
    int failed_rc;
};

#define VCHECK(v, cond, rc) \
    do { \
        if (!(cond)) { \
            (v)->failed_line = __LINE__; \
            (v)->failed_rc = (rc); \
            return NULL; \
        } \
    } while (0)

static uint64_t
mix(unsigned v, unsigned i)
{
    uint64_t x = ((uint64_t)v << 32) ^ (i * 0x9e3779b97f4a7c15ull);

    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

static uint64_t
mask(unsigned size)
{
    return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static void *
vcpu_main(void *arg)
{
    struct vcpu *v = arg;
    struct env *e = v->e;
    struct iq_sim *sim = e->sim;
    bool x86 = e->arch == IQ_SIM_X86;
    uint64_t base = (x86 ? X86_REG_BASE : ARM_REG_BASE) + v->id * WIN;
    uint64_t seq = 0;
    uint64_t rc_expect = 0;
    uint64_t got;
    int rc;

    for (unsigned i = 0; i < v->iters; i++) {
        uint64_t val = mix(v->id, i);
        unsigned size = 1u << ((i / 8) % 4);
        unsigned op = x86 ? i % 8 : i % 3;

        if (v->id == 0 && i == v->iters / 2) {
            rc = iq_sim_invalidate(sim, v->id);
            VCHECK(v, rc == 0, rc);
            v->accesses++;
        }
        switch (op) {
        case 0: {
            /* Scratch register of `size`, aligned, written and read. */
            uint64_t a = base + OFF_SCRATCH + ((i * 8) % 0x40);

            rc = iq_sim_mmio_write(sim, v->id, a, size, val);
            VCHECK(v, rc == 0, rc);
            rc = iq_sim_mmio_read(sim, v->id, a, size, &got);
            VCHECK(v, rc == 0, rc);
            VCHECK(v, got == (val & mask(size)), 0);
            v->accesses += 2;
            break;
        }
        case 1:
            rc = iq_sim_mmio_write(sim, v->id, base + OFF_SEQ, 8, ++seq);
            VCHECK(v, rc == 0, rc);
            v->accesses++;
            break;
        case 2:
            rc = iq_sim_mmio_read(sim, v->id, base + OFF_RCOUNT, 8, &got);
            VCHECK(v, rc == 0, rc);
            VCHECK(v, got == ++rc_expect, 0);
            v->accesses++;
            break;
        case 3: {
            uint16_t port = (uint16_t)(PIO_BASE + 2 * v->id);

            rc = iq_sim_pio_write(sim, v->id, port, 2, val);
            VCHECK(v, rc == 0, rc);
            rc = iq_sim_pio_read(sim, v->id, port, 2, &got);
            VCHECK(v, rc == 0, rc);
            VCHECK(v, got == (val & 0xffff), 0);
            v->accesses += 2;
            break;
        }
        case 4: {
            uint32_t reg = 0x10 + 4 * v->id;

            rc = iq_sim_pci_cfg_write(sim, v->id, PCI_SBDF, reg, 4, val);
            VCHECK(v, rc == 0, rc);
            rc = iq_sim_pci_cfg_read(sim, v->id, PCI_SBDF, reg + 2, 2, &got);
            VCHECK(v, rc == 0, rc);
            VCHECK(v, got == ((val >> 16) & 0xffff), 0);
            v->accesses += 2;
            break;
        }
        case 5: {
            /* rep movs RAM -> device and back, df from the iteration. */
            uint64_t ram = RAM_SCRATCH + v->id * 0x1000ull;
            bool df = (i / 8) & 1;
            uint8_t src[32];
            uint8_t dst[32];
            struct iq_sim_ioreq q = {0};

            for (unsigned k = 0; k < sizeof(src); k++) {
                src[k] = (uint8_t)(val >> (8 * (k % 8))) ^ (uint8_t)k;
            }
            rc = iq_sim_ram_write(sim, ram, src, sizeof(src));
            VCHECK(v, rc == 0, rc);
            memset(dst, 0, sizeof(dst));
            rc = iq_sim_ram_write(sim, ram + 0x800, dst, sizeof(dst));
            VCHECK(v, rc == 0, rc);
            /* 8 elements of 4 bytes; with df start at the top element. */
            q.type = T_COPY;
            q.size = 4;
            q.count = 8;
            q.df = df;
            q.data_is_ptr = true;
            q.addr = base + OFF_ARRAY + (df ? 28 : 0);
            q.data = ram + (df ? 28 : 0);
            rc = iq_sim_ioreq(sim, v->id, &q);
            VCHECK(v, rc == 0, rc);
            q.dir_read = true;
            q.df = !df;
            q.addr = base + OFF_ARRAY + (q.df ? 28 : 0);
            q.data = ram + 0x800 + (q.df ? 28 : 0);
            rc = iq_sim_ioreq(sim, v->id, &q);
            VCHECK(v, rc == 0, rc);
            rc = iq_sim_ram_read(sim, ram + 0x800, dst, sizeof(dst));
            VCHECK(v, rc == 0, rc);
            VCHECK(v, memcmp(src, dst, sizeof(src)) == 0, 0);
            v->accesses += 2;
            break;
        }
        case 6: {
            /* Buffered write, then a synchronous read must see it. */
            uint64_t a = BUF_BASE + v->id * WIN + ((i * 8) % 0x40);

            rc = iq_sim_buffered_write(sim, T_COPY, a, size, val);
            if (rc == -ENOSPC) {
                /* Ring full: Xen sends it synchronously instead. */
                rc = iq_sim_mmio_write(sim, v->id, a, size, val);
                v->buffered_full++;
                v->accesses++;
            } else {
                v->buffered++;
            }
            VCHECK(v, rc == 0, rc);
            rc = iq_sim_mmio_read(sim, v->id, a, size, &got);
            VCHECK(v, rc == 0, rc);
            VCHECK(v, got == (val & mask(size)), 0);
            v->accesses++;
            break;
        }
        default: {
            /*
             * Nothing is registered 1 MiB above the window: the fake Xen
             * answers all ones itself and the server never sees it.
             */
            uint64_t a = base + 0x100000 + OFF_SCRATCH;

            rc = iq_sim_mmio_read(sim, v->id, a, 4, &got);
            VCHECK(v, rc == 0, rc);
            VCHECK(v, got == 0xffffffffull, 0);
            v->unclaimed++;
            break;
        }
        }
    }
    return NULL;
}

static void
run_vcpus(struct env *e, unsigned iters, struct vcpu *v)
{
    pthread_t t[NVCPU];

    for (unsigned i = 0; i < NVCPU; i++) {
        v[i] = (struct vcpu){.e = e, .id = i, .iters = iters};
        assert_int_equal(pthread_create(&t[i], NULL, vcpu_main, &v[i]), 0);
    }
    for (unsigned i = 0; i < NVCPU; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (v[i].failed_line != 0) {
            fprintf(stderr, "vCPU %u failed at line %u (rc %d)\n", i,
                    v[i].failed_line, v[i].failed_rc);
        }
        assert_int_equal(v[i].failed_line, 0);
    }
}

/* ---- tests
 * ---------------------------------------------------------------------- */

static void
test_x86_stress(void **state)
{
    struct env *e = test_calloc(1, sizeof(*e));
    struct vcpu v[NVCPU];
    struct iq_ioreq_stats st;
    struct iq_sim_counters c;
    uint64_t total = 0;
    uint64_t buffered = 0;
    uint64_t sent_before;

    (void)state;
    env_start(e, IQ_SIM_X86);
    iq_sim_counters(e->sim, &c);
    sent_before = c.ioreqs_sent;
    run_vcpus(e, ITERS, v);
    for (unsigned i = 0; i < NVCPU; i++) {
        assert_true(v[i].accesses >= 25000);
        total += v[i].accesses;
        buffered += v[i].buffered;
    }
    assert_true(total >= 100000);

    /* Buffered writes across a pointer rebase near 2^32, incl. 8 bytes. */
    assert_int_equal(iq_sim_buffered_drain(e->sim), 0);
    assert_int_equal(iq_sim_buffered_set_pointers(e->sim, 0xfffffff0u), 0);
    for (unsigned k = 0; k < 40; k++) {
        unsigned size = 1u << (k % 4);
        uint64_t a = BUF_BASE + 0x80 + (k % 8) * 8;

        assert_int_equal(
            iq_sim_buffered_write(e->sim, T_COPY, a, size, mix(9, k)), 0);
        buffered++;
    }
    assert_int_equal(iq_sim_buffered_drain(e->sim), 0);
    for (unsigned k = 32; k < 40; k++) {
        unsigned size = 1u << (k % 4);
        uint64_t a = BUF_BASE + 0x80 + (k % 8) * 8;
        uint64_t got;

        assert_int_equal(iq_sim_mmio_read(e->sim, 0, a, size, &got), 0);
        assert_int_equal(got, mix(9, k) & mask(size));
        total++;
    }

    env_stop_loop(e);
    iq_ioreq_get_stats(e->srv, &st);
    iq_sim_counters(e->sim, &c);
    /* Every synchronous request answered exactly once. */
    assert_int_equal(c.ioreqs_sent - sent_before, total);
    assert_int_equal(st.ioreqs, total);
    assert_int_equal(st.buffered, buffered);
    assert_int_equal(st.invalidates, 1);
    assert_int_equal(e->gm.invalidates, 1);
    assert_int_equal(st.gmem_errors, 0);
    assert_int_equal(st.unknown_type, 0);
    /* The op-7 reads never reached the server. */
    assert_int_equal(st.unclaimed, 0);
    for (unsigned i = 0; i < NVCPU; i++) {
        assert_int_equal(v[i].unclaimed, ITERS / 8);
    }
    assert_int_equal(e->rf.errors, 0);
    assert_int_equal(e->bufdev.errors, 0);
    assert_int_equal(e->piodev.errors, 0);
    assert_int_equal(e->pcidev.errors, 0);
    for (unsigned i = 0; i < NVCPU; i++) {
        /* Sequenced writes: none lost, none twice; reads likewise. */
        assert_int_equal(e->rf.seq[i], ITERS / 8);
        assert_int_equal(e->rf.rcount[i], ITERS / 8);
    }
    env_finish(e, true);
    test_free(e);
}

static void
test_arm_masking(void **state)
{
    struct env *e = test_calloc(1, sizeof(*e));
    struct vcpu v[NVCPU];
    struct iq_ioreq_stats st;
    uint64_t total = 0;

    (void)state;
    env_start(e, IQ_SIM_ARM);
    run_vcpus(e, ARM_ITERS, v);
    for (unsigned i = 0; i < NVCPU; i++) {
        total += v[i].accesses;
    }
    env_stop_loop(e);
    iq_ioreq_get_stats(e->srv, &st);
    assert_int_equal(st.ioreqs, total);
    assert_int_equal(st.unclaimed, 0);
    assert_int_equal(st.invalidates, 1);
    /* rf_write flags any value with bits above `size`. */
    assert_int_equal(e->rf.errors, 0);
    for (unsigned i = 0; i < NVCPU; i++) {
        assert_int_equal(e->rf.seq[i], (ARM_ITERS + 1) / 3);
        assert_int_equal(e->rf.rcount[i], ARM_ITERS / 3);
    }
    env_finish(e, true);
    test_free(e);
}

static void
test_irq_ops(void **state)
{
    struct env *e = test_calloc(1, sizeof(*e));
    const struct iq_irq_ops *ops;
    void *opaque;

    (void)state;
    env_start(e, IQ_SIM_X86);
    env_stop_loop(e);
    iq_ioreq_irq_ops(e->srv, &ops, &opaque);
    assert_int_equal(ops->set_level(opaque, 5, 1), 0);
    assert_int_equal(iq_sim_irq_level(e->sim, IQ_SIM_ISA_KEY(5)), 1);
    assert_int_equal(ops->set_level(opaque, 5, 0), 0);
    assert_int_equal(iq_sim_irq_edges(e->sim, IQ_SIM_ISA_KEY(5)), 1);
    assert_int_equal(ops->set_level(opaque, 16, 1), -EINVAL);
    assert_int_equal(ops->set_level(opaque, 5, 2), -EINVAL);
    assert_int_equal(ops->pci_intx(opaque, PCI_SBDF, 0, 1), 0);
    assert_int_equal(iq_sim_irq_level(e->sim, IQ_SIM_INTX_KEY(PCI_SBDF, 0)), 1);
    assert_int_equal(ops->pci_intx(opaque, PCI_SBDF, 4, 1), -EINVAL);
    assert_int_equal(ops->msi(opaque, 0xfee00000ull, 0x4041), 0);
    assert_int_equal(iq_sim_msi_count(e->sim, 0xfee00000ull, 0x4041), 1);
    env_finish(e, true);
    test_free(e);
}

static void
test_domain_gone(void **state)
{
    struct env *e = test_calloc(1, sizeof(*e));
    const struct iq_irq_ops *ops;
    void *opaque;
    struct iq_region *r = NULL;

    (void)state;
    env_start(e, IQ_SIM_ARM);
    /* Drive the loop from this thread from now on. */
    env_stop_loop(e);
    iq_ioreq_irq_ops(e->srv, &ops, &opaque);
    assert_int_equal(ops->set_level(opaque, 40, 1), 0);
    assert_int_equal(iq_sim_irq_edges(e->sim, 40), 1);
    assert_int_equal(ops->pci_intx(opaque, 0, 0, 1), -EOPNOTSUPP);
    assert_int_equal(ops->msi(opaque, 0xfee00000ull, 1), -EOPNOTSUPP);
    assert_int_equal(ops->set_level(opaque, 31, 1), -EINVAL);
    assert_int_equal(ops->set_level(opaque, 1020, 1), -EINVAL);

    iq_sim_domain_destroy(e->sim);
    assert_int_equal(ops->set_level(opaque, 40, 0), -ESRCH);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(e->loop, 10) >= 0);
    }
    assert_int_equal(e->gone, 1);
    /* Further failures do not report again. */
    assert_int_equal(ops->set_level(opaque, 40, 1), -ESRCH);
    assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_MMIO, 0x3000000,
                                         0x200, &rf_ops, &e->rf, &r),
                     -ESRCH);
    assert_null(r);
    for (unsigned i = 0; i < 3; i++) {
        assert_true(iq_loop_run_once(e->loop, 10) >= 0);
    }
    assert_int_equal(e->gone, 1);
    env_finish(e, true);
    test_free(e);
}

static void
expect_nothing_left(struct iq_sim *sim)
{
    struct iq_sim_counters c;

    iq_sim_counters(sim, &c);
    assert_int_equal(c.servers_now, 0);
    assert_int_equal(c.resource_maps_now, 0);
    assert_int_equal(c.evtchn_bound_now, 0);
    assert_int_equal(c.ranges_now, 0);
    assert_int_equal(c.handles_open, 0);
}

static void
test_bringup_failures(void **state)
{
    struct iq_sim_config sc;
    struct iq_sim *sim;
    struct iq_loop *loop;
    struct iq_ioreq_server *srv = NULL;
    struct iq_ioreq_config cfg = {0};
    struct iq_region *r = NULL;
    struct rf dev;

    (void)state;
    memset(&dev, 0, sizeof(dev));
    iq_sim_config_default(&sc, IQ_SIM_X86);
    sc.nr_vcpus = 2;
    sc.ram0_size = 16ull << 20;
    assert_int_equal(iq_sim_create(&sc, &sim), 0);
    iq_sim_export_env(sim);
    assert_int_equal(iq_loop_create(&loop), 0);
    cfg.domid = iq_sim_domid(sim);
    cfg.arch = IQ_ARCH_X86;
    cfg.bufioreq = IQ_BUFIOREQ_ATOMIC;
    cfg.loop = loop;

    /* Arm servers cannot be buffered; no loop is invalid too. */
    cfg.arch = IQ_ARCH_ARM;
    assert_int_equal(iq_ioreq_create(&cfg, &srv), -EINVAL);
    cfg.arch = IQ_ARCH_X86;
    cfg.loop = NULL;
    assert_int_equal(iq_ioreq_create(&cfg, &srv), -EINVAL);
    cfg.loop = loop;
    assert_null(srv);

    /* create_ioreq_server fails. */
    iq_sim_fault(sim, IQ_SIM_FAULT_DMOP, 1);
    assert_int_equal(iq_ioreq_create(&cfg, &srv), -EIO);
    assert_null(srv);
    expect_nothing_left(sim);

    /* The ioreq page cannot be mapped: the server is destroyed again. */
    iq_sim_fault(sim, IQ_SIM_FAULT_RESOURCE, 1);
    assert_true(iq_ioreq_create(&cfg, &srv) < 0);
    assert_null(srv);
    expect_nothing_left(sim);

    /* A range Xen refuses is not kept: the same range maps afterwards. */
    assert_int_equal(iq_ioreq_create(&cfg, &srv), 0);
    iq_sim_fault(sim, IQ_SIM_FAULT_DMOP, 1);
    assert_int_equal(iq_ioreq_map_region(srv, IQ_SPACE_MMIO, X86_REG_BASE, WIN,
                                         &rf_ops, &dev, &r),
                     -EIO);
    assert_null(r);
    assert_int_equal(iq_ioreq_map_region(srv, IQ_SPACE_MMIO, X86_REG_BASE, WIN,
                                         &rf_ops, &dev, &r),
                     0);
    assert_int_equal(iq_ioreq_map_region(srv, IQ_SPACE_MMIO,
                                         X86_REG_BASE + WIN - 1, 2, &rf_ops,
                                         &dev, &r),
                     -EEXIST);
    iq_ioreq_destroy(srv);
    expect_nothing_left(sim);
    iq_ioreq_destroy(NULL);
    iq_loop_destroy(loop);
    iq_sim_destroy(sim);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x86_stress),
        cmocka_unit_test(test_arm_masking),
        cmocka_unit_test(test_irq_ops),
        cmocka_unit_test(test_domain_gone),
        cmocka_unit_test(test_bringup_failures),
    };

    iq_log_open("test-ioreq-sim", IQ_LOG_WARNING, false);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
