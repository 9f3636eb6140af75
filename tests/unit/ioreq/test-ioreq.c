/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the Xen-free ioreq core: region table, request decoding
 * (size, masking, count, df, data_is_ptr, PCI config, special types), the
 * per-vCPU slot state machine and the buffered ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ioreq-internal.h"

/* ---- fake device: a byte-addressed little-endian register file --------- */

#define DEV_REGS 8192u
#define DEV_LOG 64u

#define MMIO_BASE 0x1000ull

enum dev_mode {
    DEV_REGFILE = 0,
    DEV_FIFO, /* reads return 1, 2, 3, ... */
    DEV_GARBAGE, /* reads return garbage above `size` */
    DEV_SELF_UNMAP, /* the first write unmaps the device's own region */
    DEV_PRODUCER, /* the 100th write queues more buffered slots */
    /*
     * Each write plays Linux's privcmd ioeventfd handler on `race_slot`
     * while ioreqd holds it (race_kind, then back to DEV_REGFILE).
     */
    DEV_KERNEL_RACE,
};

enum race_kind {
    RACE_HAND_BACK, /* no queue matched: state put back to READY */
    RACE_ANSWERED, /* matched: IORESP_READY (and Xen not yet done) */
    RACE_NEXT, /* matched, Xen finished, the vCPU's next request is READY */
};

struct dev_access {
    bool write;
    uint64_t off;
    uint64_t val;
    unsigned size;
};

struct fakedev {
    enum dev_mode mode;
    uint8_t regs[DEV_REGS];
    struct dev_access log[DEV_LOG];
    unsigned nlog;
    uint64_t fifo;
    struct iq_ioreq_ctx *ctx;
    struct iq_region *self;
    struct iq_ioreq_bufpage *pg;
    struct iq_ioreq_slot *race_slot;
    enum race_kind race_kind;
    unsigned races; /* DEV_KERNEL_RACE: writes to interfere with */
};

static void
dev_log(struct fakedev *d, bool write, uint64_t off, uint64_t val,
        unsigned size)
{
    if (d->nlog < DEV_LOG) {
        d->log[d->nlog].write = write;
        d->log[d->nlog].off = off;
        d->log[d->nlog].val = val;
        d->log[d->nlog].size = size;
    }
    d->nlog++;
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
dev_read(void *opaque, uint64_t off, unsigned size)
{
    struct fakedev *d = opaque;

    dev_log(d, false, off, 0, size);
    switch (d->mode) {
    case DEV_FIFO:
        return ++d->fifo;
    case DEV_GARBAGE:
        return 0xa5a5a5a5a5a5a500ull | (off & 0xff);
    default:
        assert_true(off + size <= DEV_REGS);
        return le_get(d->regs + off, size);
    }
}

static void push_buf(struct iq_ioreq_bufpage *pg, uint8_t type, uint32_t addr,
                     unsigned size, uint64_t val);

static void
dev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct fakedev *d = opaque;

    dev_log(d, true, off, val, size);
    if (d->mode == DEV_SELF_UNMAP) {
        iq_ioreq_region_del(d->ctx, d->self);
        d->self = NULL;
        d->mode = DEV_REGFILE;
        return;
    }
    if (d->mode == DEV_KERNEL_RACE && d->races > 0) {
        struct iq_ioreq_slot *r = d->race_slot;
        uint8_t f = (uint8_t)(r->flags & ~IQ_SLOT_STATE_MASK);

        d->races--;
        switch (d->race_kind) {
        case RACE_HAND_BACK:
            r->flags = (uint8_t)(f | IQ_IOREQ_STATE_READY);
            break;
        case RACE_ANSWERED:
            r->flags = (uint8_t)(f | IQ_IORESP_STATE_READY);
            break;
        default: /* the next request: a read of offset 8 */
            r->addr = MMIO_BASE + 8;
            r->size = 4;
            r->data = 0;
            r->flags = (uint8_t)(IQ_IOREQ_STATE_READY | IQ_SLOT_DIR_READ);
            break;
        }
    }
    if (d->mode == DEV_PRODUCER && d->nlog == 100) {
        /* Xen keeps queueing while we drain: 10 more 1-byte writes. */
        d->mode = DEV_REGFILE;
        for (unsigned i = 0; i < 10; i++) {
            push_buf(d->pg, IQ_IOREQ_TYPE_COPY, 0x1000 + i, 1, 0x40 + i);
        }
    }
    assert_true(off + size <= DEV_REGS);
    le_put(d->regs + off, val, size);
}

static const struct iq_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
};

/* ---- fake guest memory ----------------------------------------------- */

#define RAM_BASE 0x100000ull
#define RAM_SIZE 0x4000u

struct fakemem {
    uint8_t ram[RAM_SIZE];
    unsigned reads;
    unsigned writes;
    unsigned invalidates;
    struct iq_ioreq_slot *watch;
    uint8_t state_at_invalidate;
};

static bool
ram_range(uint64_t gpa, size_t len, size_t *off)
{
    if (gpa < RAM_BASE || len > RAM_SIZE || gpa - RAM_BASE > RAM_SIZE - len) {
        return false;
    }
    *off = (size_t)(gpa - RAM_BASE);
    return true;
}

static int
mem_read(void *opaque, gpa_t gpa, void *buf, size_t len)
{
    struct fakemem *m = opaque;
    size_t off;

    m->reads++;
    if (!ram_range(gpa, len, &off)) {
        return -EFAULT;
    }
    memcpy(buf, m->ram + off, len);
    return 0;
}

static int
mem_write(void *opaque, gpa_t gpa, const void *buf, size_t len)
{
    struct fakemem *m = opaque;
    size_t off;

    m->writes++;
    if (!ram_range(gpa, len, &off)) {
        return -EFAULT;
    }
    memcpy(m->ram + off, buf, len);
    return 0;
}

static void
mem_invalidate(void *opaque)
{
    struct fakemem *m = opaque;

    m->invalidates++;
    if (m->watch != NULL) {
        m->state_at_invalidate = m->watch->flags & IQ_SLOT_STATE_MASK;
    }
}

static const struct iq_gmem_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .invalidate = mem_invalidate,
};

/* ---- fixture ------------------------------------------------------------ */

struct fix {
    struct iq_ioreq_ctx ctx;
    struct fakedev dev;
    struct fakedev dev2;
    struct fakemem mem;
    struct iq_region *r;
    struct iq_region *r2;
};

#define MMIO_SIZE 0x100ull

static int
setup(void **state, enum iq_arch arch)
{
    struct fix *f = test_calloc(1, sizeof(*f));

    iq_ioreq_ctx_init(&f->ctx, arch, 7, &mem_ops, &f->mem);
    f->dev.ctx = &f->ctx;
    f->dev2.ctx = &f->ctx;
    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_MMIO, MMIO_BASE,
                                         MMIO_SIZE, &dev_ops, &f->dev, &f->r),
                     0);
    f->dev.self = f->r;
    *state = f;
    return 0;
}

static int
setup_arm(void **state)
{
    return setup(state, IQ_ARCH_ARM);
}

static int
setup_x86(void **state)
{
    return setup(state, IQ_ARCH_X86);
}

static int
teardown(void **state)
{
    struct fix *f = *state;

    iq_ioreq_ctx_fini(&f->ctx);
    test_free(f);
    return 0;
}

static struct iq_ioreq_req
mk(uint8_t type, bool rd, uint64_t addr, uint32_t size, uint64_t data)
{
    struct iq_ioreq_req r = {
        .addr = addr,
        .data = data,
        .count = 1,
        .size = size,
        .type = type,
        .dir_read = rd,
    };
    return r;
}

/* ---- region table ---------------------------------------------------------
 */

static void
test_region_table(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_ctx *c = &f->ctx;
    struct iq_region *r = NULL;
    struct iq_region *lo = NULL;

    /* Overlaps with [0x1000, 0x1100) in the same space are refused. */
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0x10ff, 1, &dev_ops, NULL, &r),
        -EEXIST);
    assert_null(r);
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0xf80, 0x81, &dev_ops, NULL, &r),
        -EEXIST);
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0x0, 0x10000, &dev_ops, NULL, &r),
        -EEXIST);
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0x1080, 0x10, &dev_ops, NULL, &r),
        -EEXIST);
    /* Adjacent on both sides is fine. */
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0xf80, 0x80, &dev_ops, NULL, &lo),
        0);
    assert_int_equal(iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0x1100, 0x100,
                                         &dev_ops, NULL, &r),
                     0);
    assert_int_equal(iq_ioreq_region_count(c, IQ_SPACE_MMIO), 3);
    /* Size checks. */
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0x9000, 0, &dev_ops, NULL, &r),
        -EINVAL);
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_MMIO, ~0ull - 1, 3, &dev_ops, NULL, &r),
        -EINVAL);
    assert_int_equal(iq_ioreq_region_add(c, IQ_SPACE_MMIO, ~0ull - 0xfff,
                                         0x1000, &dev_ops, NULL, &r),
                     0);
    assert_ptr_equal(iq_ioreq_region_find(c, IQ_SPACE_MMIO, ~0ull, 1), r);
    assert_null(iq_ioreq_region_find(c, IQ_SPACE_MMIO, ~0ull, 2));
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_PIO, 0xfff0, 0x11, &dev_ops, NULL, &r),
        -EINVAL);
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_PCI, 0x10, 256, &dev_ops, NULL, &r),
        -EINVAL);
    assert_int_equal(iq_ioreq_region_add(c, IQ_SPACE_PCI, 1ull << 32, 4096,
                                         &dev_ops, NULL, &r),
                     -EINVAL);
    assert_int_equal(
        iq_ioreq_region_add(c, (enum iq_space)3, 0, 1, &dev_ops, NULL, &r),
        -EINVAL);
    /* The same range in another space does not conflict. */
    assert_int_equal(
        iq_ioreq_region_add(c, IQ_SPACE_PIO, 0x1000, 0x100, &dev_ops, NULL, &r),
        0);
    assert_int_equal(iq_ioreq_region_count(c, IQ_SPACE_PIO), 1);

    /* Lookups: the whole span must lie in one region. */
    assert_ptr_equal(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0x1000, 0x100),
                     f->r);
    assert_ptr_equal(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0x10ff, 1), f->r);
    assert_null(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0x10ff, 2));
    assert_ptr_equal(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0xf80, 1), lo);
    assert_null(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0xf7f, 1));
    assert_null(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0x1000, 0));

    /* Remove and re-add. */
    iq_ioreq_region_del(c, lo);
    assert_null(iq_ioreq_region_find(c, IQ_SPACE_MMIO, 0xf80, 1));
    assert_int_equal(iq_ioreq_region_add(c, IQ_SPACE_MMIO, 0xf00, 0x100,
                                         &dev_ops, NULL, &lo),
                     0);
    iq_ioreq_region_del(c, NULL);
}

static void
test_region_many(void **state)
{
    struct fix *f = *state;
    struct iq_region *r;

    /* 100 regions inserted in a shuffled order stay sorted and findable. */
    for (unsigned i = 0; i < 100; i++) {
        uint64_t base = 0x100000 + (uint64_t)((i * 37) % 100) * 0x1000;

        assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_MMIO, base,
                                             0x1000, &dev_ops, NULL, &r),
                         0);
    }
    for (unsigned i = 0; i < 100; i++) {
        uint64_t base = 0x100000 + (uint64_t)i * 0x1000;

        r = iq_ioreq_region_find(&f->ctx, IQ_SPACE_MMIO, base + 0x800, 8);
        assert_non_null(r);
        assert_int_equal(r->start, base);
        assert_null(
            iq_ioreq_region_find(&f->ctx, IQ_SPACE_MMIO, base + 0xffc, 8));
    }
}

/* ---- sizes and masking ------------------------------------------------- */

static void
test_write_masking(void **state)
{
    struct fix *f = *state;
    /* Arm 4.17: the whole source register arrives with every write. */
    const uint64_t reg = 0xdeadbeefcafe12abull;
    static const uint64_t want[] = {0xab, 0x12ab, 0xcafe12ab, reg};
    static const unsigned sizes[] = {1, 2, 4, 8};

    for (unsigned i = 0; i < 4; i++) {
        struct iq_ioreq_req q =
            mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x20, sizes[i], reg);

        iq_ioreq_handle(&f->ctx, &q);
        assert_int_equal(f->dev.nlog, i + 1);
        assert_true(f->dev.log[i].write);
        assert_int_equal(f->dev.log[i].off, 0x20);
        assert_int_equal(f->dev.log[i].size, sizes[i]);
        assert_int_equal(f->dev.log[i].val, want[i]);
    }
    assert_int_equal(le_get(f->dev.regs + 0x20, 8), reg);
    assert_int_equal(f->ctx.rejected, 0);
}

static void
test_read_zero_extend(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    le_put(f->dev.regs, 0x8877665544332211ull, 8);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE, 1, 0xffffffffffffffffull);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x11);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 6, 2, 0x1234567812345678);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x8877);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 4, 4, ~0ull);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x88776655);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE, 8, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x8877665544332211ull);

    /* A device returning bits above `size` is masked too. */
    f->dev.mode = DEV_GARBAGE;
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x42, 1, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x42);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x42, 4, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xa5a5a542);
}

static void
test_bad_sizes(void **state)
{
    struct fix *f = *state;
    static const uint32_t bad[] = {0, 3, 5, 6, 7, 9, 16, 0x80000000u};

    for (unsigned i = 0; i < IQ_ARRAY_SIZE(bad); i++) {
        struct iq_ioreq_req q =
            mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE, bad[i], 0x1234);

        iq_ioreq_handle(&f->ctx, &q);
        assert_int_equal(q.data, ~0ull);
        q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE, bad[i], 0x1234);
        iq_ioreq_handle(&f->ctx, &q);
        assert_int_equal(q.data, 0x1234);
    }
    assert_int_equal(f->dev.nlog, 0);
    assert_int_equal(f->ctx.rejected, 2 * IQ_ARRAY_SIZE(bad));
}

/* ---- unclaimed and spanning ------------------------------------------------
 */

static void
test_unclaimed(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_MMIO, 0x1100, 0x100,
                                         &dev_ops, &f->dev2, &f->r2),
                     0);
    /* Nothing there. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x5000, 4, 0x55);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x5000, 8, 0x55);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, ~0ull);
    q = mk(IQ_IOREQ_TYPE_COPY, false, 0x5000, 4, 0x55);
    iq_ioreq_handle(&f->ctx, &q);
    /* Straddling the end of a region, and two adjacent regions. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x11fe, 4, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    q = mk(IQ_IOREQ_TYPE_COPY, false, 0x10fc, 8, 0x1122334455667788ull);
    iq_ioreq_handle(&f->ctx, &q);
    /* Port space is separate from memory space. */
    q = mk(IQ_IOREQ_TYPE_PIO, true, 0x1000, 2, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffff);

    assert_int_equal(f->ctx.st.unclaimed, 6);
    assert_int_equal(f->dev.nlog, 0);
    assert_int_equal(f->dev2.nlog, 0);
    assert_int_equal(f->ctx.rejected, 0);

    /* Exactly at the edges is claimed. */
    q = mk(IQ_IOREQ_TYPE_COPY, false, 0x10f8, 8, 0x1122334455667788ull);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 1);
    assert_int_equal(f->dev.log[0].off, 0xf8);
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x1100, 1, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev2.nlog, 1);
    assert_int_equal(f->dev2.log[0].off, 0);
    assert_int_equal(q.data, 0);
}

/* ---- repeated accesses ------------------------------------------------------
 */

static void
test_rep_no_ptr(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    /* Write the same value to 4 ascending elements. */
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x10, 4, 0xffff0000abcdull);
    q.count = 4;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(f->dev.log[i].off, 0x10 + 4 * i);
        assert_int_equal(f->dev.log[i].val, 0xabcd);
    }
    /* df: descending from 0x3c. */
    f->dev.nlog = 0;
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x3c, 4, 7);
    q.count = 4;
    q.df = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(f->dev.log[i].off, 0x3c - 4 * i);
    }
    /* A repeated read keeps the last element. */
    le_put(f->dev.regs + 0x80, 0x11, 1);
    le_put(f->dev.regs + 0x81, 0x22, 1);
    le_put(f->dev.regs + 0x82, 0x33, 1);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x80, 1, 0);
    q.count = 3;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x33);
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x82, 1, 0);
    q.count = 3;
    q.df = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0x11);

    /* The whole span must be inside the region, in both directions. */
    f->dev.nlog = 0;
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 4, 4, 1);
    q.count = 4;
    q.df = true;
    iq_ioreq_handle(&f->ctx, &q);
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0xf4, 4, 1);
    q.count = 4;
    iq_ioreq_handle(&f->ctx, &q);
    /* df below address 0 wraps: unclaimed, never a huge span. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, 4, 4, 0);
    q.count = 4;
    q.df = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    assert_int_equal(f->dev.nlog, 0);
    assert_int_equal(f->ctx.st.unclaimed, 3);
}

static void
test_rep_ptr_to_device(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    for (unsigned i = 0; i < 16; i++) {
        f->mem.ram[0x100 + i] = (uint8_t)(0x10 + i);
    }
    /* 4 x 2 bytes, ascending: memory 0x100.. -> device 0x20.. */
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x20, 2, RAM_BASE + 0x100);
    q.count = 4;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(f->dev.log[i].off, 0x20 + 2 * i);
        assert_int_equal(f->dev.log[i].val, (uint64_t)(0x10 + 2 * i) |
                                                (uint64_t)(0x11 + 2 * i) << 8);
    }
    assert_int_equal(le_get(f->dev.regs + 0x20, 8), 0x1716151413121110ull);
    assert_int_equal(q.data, RAM_BASE + 0x100);

    /* df: element i from memory 0x106 - 2i to device 0x36 - 2i. */
    f->dev.nlog = 0;
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x36, 2, RAM_BASE + 0x106);
    q.count = 4;
    q.df = true;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 4);
    assert_int_equal(f->dev.log[0].off, 0x36);
    assert_int_equal(f->dev.log[0].val, 0x1716);
    assert_int_equal(f->dev.log[3].off, 0x30);
    assert_int_equal(f->dev.log[3].val, 0x1110);
    assert_int_equal(le_get(f->dev.regs + 0x30, 8), 0x1716151413121110ull);
    assert_int_equal(f->mem.reads, 2);
    assert_int_equal(f->ctx.st.gmem_errors, 0);
}

static void
test_rep_ptr_from_device(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    le_put(f->dev.regs + 0x40, 0x4444444433333333ull, 8);
    le_put(f->dev.regs + 0x48, 0x2222222211111111ull, 8);
    /* 4 x 4 bytes ascending into memory 0x200. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x40, 4, RAM_BASE + 0x200);
    q.count = 4;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(le_get(f->mem.ram + 0x200, 8), 0x4444444433333333ull);
    assert_int_equal(le_get(f->mem.ram + 0x208, 8), 0x2222222211111111ull);
    assert_int_equal(q.data, RAM_BASE + 0x200);
    assert_int_equal(f->dev.nlog, 4);
    assert_int_equal(f->dev.log[0].off, 0x40);
    assert_int_equal(f->dev.log[3].off, 0x4c);

    /* df: device 0x4c - 4i -> memory 0x30c - 4i: same layout. */
    f->dev.nlog = 0;
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x4c, 4, RAM_BASE + 0x30c);
    q.count = 4;
    q.df = true;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(le_get(f->mem.ram + 0x300, 8), 0x4444444433333333ull);
    assert_int_equal(le_get(f->mem.ram + 0x308, 8), 0x2222222211111111ull);
    assert_int_equal(f->dev.log[0].off, 0x4c);
    assert_int_equal(f->dev.log[3].off, 0x40);
    /* Nothing outside the span was touched. */
    assert_int_equal(f->mem.ram[0x2ff], 0);
    assert_int_equal(f->mem.ram[0x310], 0);
    assert_int_equal(f->mem.writes, 2);
}

static void
test_pio_ptr(void **state)
{
    struct fix *f = *state;
    struct iq_region *r;
    struct iq_ioreq_req q;

    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_PIO, 0x60, 4,
                                         &dev_ops, &f->dev2, &r),
                     0);
    f->dev2.mode = DEV_FIFO;
    /* ins: port fixed, memory ascending. */
    q = mk(IQ_IOREQ_TYPE_PIO, true, 0x61, 1, RAM_BASE + 0x400);
    q.count = 5;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(f->mem.ram[0x400 + i], i + 1);
        assert_int_equal(f->dev2.log[i].off, 1);
    }
    /* ins with df: memory descending from 0x40e. */
    q = mk(IQ_IOREQ_TYPE_PIO, true, 0x62, 2, RAM_BASE + 0x40e);
    q.count = 3;
    q.df = true;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(le_get(f->mem.ram + 0x40e, 2), 6);
    assert_int_equal(le_get(f->mem.ram + 0x40c, 2), 7);
    assert_int_equal(le_get(f->mem.ram + 0x40a, 2), 8);
    assert_int_equal(f->dev2.log[5].off, 2);
    assert_int_equal(f->dev2.log[7].off, 2);

    /* outs with df: port fixed, memory descending. */
    f->dev2.mode = DEV_REGFILE;
    f->dev2.nlog = 0;
    le_put(f->mem.ram + 0x500, 0x0403020100000000ull, 8);
    q = mk(IQ_IOREQ_TYPE_PIO, false, 0x60, 2, RAM_BASE + 0x506);
    q.count = 3;
    q.df = true;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev2.nlog, 3);
    assert_int_equal(f->dev2.log[0].val, 0x0403);
    assert_int_equal(f->dev2.log[1].val, 0x0201);
    assert_int_equal(f->dev2.log[2].val, 0x0000);
    assert_int_equal(f->dev2.log[2].off, 0);
    /* A port access must fit the port region. */
    q = mk(IQ_IOREQ_TYPE_PIO, true, 0x62, 4, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    assert_int_equal(f->dev2.nlog, 3);
}

static void
test_rep_count_bound(void **state)
{
    struct fix *f = *state;
    struct iq_region *r;
    struct iq_ioreq_req q;

    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_MMIO, 0x10000,
                                         0x2000, &dev_ops, &f->dev2, &r),
                     0);
    /* 512 x 8 = 4096 bytes: allowed. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x10000, 8, RAM_BASE);
    q.count = 512;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev2.nlog, 512);
    assert_int_equal(f->mem.writes, 1);
    /* 513 x 8: over one page, answered without effect. */
    f->dev2.nlog = 0;
    q.count = 513;
    iq_ioreq_handle(&f->ctx, &q);
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x10000, 1, 0);
    q.count = 4097;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xff);
    q.count = 0xffffffffu;
    q.size = 8;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, ~0ull);
    /* count 0 is malformed as well. */
    q = mk(IQ_IOREQ_TYPE_COPY, false, 0x10000, 4, 1);
    q.count = 0;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev2.nlog, 0);
    assert_int_equal(f->mem.writes, 1);
    assert_int_equal(f->ctx.rejected, 4);
}

static void
test_gmem_fault(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    /* Memory -> device from a non-RAM address: the device sees nothing. */
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE, 4, 0x9000);
    q.count = 2;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 0);
    /* Crossing the end of RAM. */
    q.data = RAM_BASE + RAM_SIZE - 4;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 0);
    /* df below zero: refused before touching memory. */
    q.data = 2;
    q.df = true;
    q.addr = MMIO_BASE + 4;
    iq_ioreq_handle(&f->ctx, &q);
    /* Forward past 2^64. */
    q.df = false;
    q.data = ~0ull - 3;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 0);
    /* Device -> bad memory: the reads happen, the copy fails. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, MMIO_BASE, 4, 0x9000);
    q.count = 2;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 2);
    assert_int_equal(f->ctx.st.gmem_errors, 5);
    assert_int_equal(f->mem.reads, 2);
    assert_int_equal(f->mem.writes, 1);
}

static void
test_unclaimed_ptr_read(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    /* Unclaimed rep read into memory fills the span with all ones. */
    q = mk(IQ_IOREQ_TYPE_COPY, true, 0x7000, 2, RAM_BASE + 0x10);
    q.count = 3;
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(le_get(f->mem.ram + 0x10, 6), 0xffffffffffffull);
    assert_int_equal(f->mem.ram[0x16], 0);
    assert_int_equal(f->mem.ram[0x0f], 0);
    assert_int_equal(f->ctx.st.unclaimed, 1);
}

static void
test_unmap_in_callback(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_req q;

    /* The first element's write unmaps the region (a BAR move). */
    f->dev.mode = DEV_SELF_UNMAP;
    q = mk(IQ_IOREQ_TYPE_COPY, false, MMIO_BASE, 4, 9);
    q.count = 4;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev.nlog, 1);
    assert_null(f->dev.self);
    assert_int_equal(iq_ioreq_region_count(&f->ctx, IQ_SPACE_MMIO), 0);
    f->r = NULL;
}

/* ---- PCI config -------------------------------------------------------------
 */

static void
test_pci_sbdf(void **state)
{
    uint32_t sbdf = iq_pci_sbdf(0x12, 0x34, 0x1f, 7);
    uint32_t s;
    uint32_t reg;

    (void)state;
    assert_int_equal(sbdf, 0x1234ffu);
    assert_int_equal(iq_pci_sbdf_seg(sbdf), 0x12);
    assert_int_equal(iq_pci_sbdf_bus(sbdf), 0x34);
    assert_int_equal(iq_pci_sbdf_dev(sbdf), 0x1f);
    assert_int_equal(iq_pci_sbdf_fn(sbdf), 7);
    assert_int_equal(iq_pci_sbdf(0, 0, 3, 0), 0x18);
    assert_int_equal(iq_pci_sbdf(0xffff, 0xff, 0x1f, 7), 0xffffffffu);
    iq_pci_cfg_split(((uint64_t)0x00010018 << 32) | 0x44, &s, &reg);
    assert_int_equal(s, 0x00010018);
    assert_int_equal(reg, 0x44);
    assert_int_equal(iq_pci_cfg_key(0x18, 0x44), 0x18044ull);
}

static void
test_pci_config(void **state)
{
    struct fix *f = *state;
    uint32_t sbdf = iq_pci_sbdf(0, 1, 2, 3);
    uint64_t base = (uint64_t)sbdf << 32;
    struct iq_region *r;
    struct iq_ioreq_req q;

    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_PCI, sbdf, 4096,
                                         &dev_ops, &f->dev2, &r),
                     0);
    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_PCI, sbdf, 4096,
                                         &dev_ops, &f->dev2, &r),
                     -EEXIST);
    le_put(f->dev2.regs, 0x12345678abcd1af4ull, 8);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base, 4, 0xdead);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xabcd1af4);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base | 2, 2, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xabcd);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, false, base | 0x3c, 1, 0xffffff0bull);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev2.log[2].off, 0x3c);
    assert_int_equal(f->dev2.log[2].val, 0x0b);
    assert_int_equal(f->dev2.log[2].size, 1);
    /* Extended config space up to 0xfff. */
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base | 0xffc, 4, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->dev2.log[3].off, 0xffc);
    assert_int_equal(f->dev2.nlog, 4);

    /* Malformed: size 8, count 2, pointer. */
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base, 8, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, ~0ull);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base, 4, 0);
    q.count = 2;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, false, base, 4, RAM_BASE);
    q.data_is_ptr = true;
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(f->ctx.rejected, 3);
    /* Unclaimed: beyond 4 KiB, crossing 4 KiB, another function. */
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base | 0x1000, 4, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, base | 0xffe, 4, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffffffffull);
    q = mk(IQ_IOREQ_TYPE_PCI_CONFIG, true, (base + (1ull << 32)), 2, 0);
    iq_ioreq_handle(&f->ctx, &q);
    assert_int_equal(q.data, 0xffff);
    assert_int_equal(f->ctx.st.unclaimed, 3);
    assert_int_equal(f->dev2.nlog, 4);
}

/* ---- slot state machine and special types ---------------------------------
 */

static void
slot_fill(struct iq_ioreq_slot *s, uint8_t type, bool rd, uint64_t addr,
          uint32_t size, uint64_t data)
{
    memset(s, 0, sizeof(*s));
    s->addr = addr;
    s->data = data;
    s->count = 1;
    s->size = size;
    s->vp_eport = 77;
    s->type = type;
    s->flags = (uint8_t)(IQ_IOREQ_STATE_READY | (rd ? IQ_SLOT_DIR_READ : 0));
}

static void
test_slot_service(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_slot s;

    le_put(f->dev.regs + 8, 0xcafef00d, 4);
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 8, 4, ~0ull);
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(s.data, 0xcafef00d);
    assert_int_equal(s.flags, IQ_IORESP_STATE_READY | IQ_SLOT_DIR_READ);
    assert_int_equal(s.vp_eport, 77);
    assert_int_equal(f->ctx.st.ioreqs, 1);

    /* Not READY (already answered, or in progress): spurious, untouched. */
    assert_false(iq_ioreq_slot_service(&f->ctx, &s));
    s.flags = IQ_IOREQ_STATE_NONE;
    assert_false(iq_ioreq_slot_service(&f->ctx, &s));
    s.flags = IQ_IOREQ_STATE_INPROCESS;
    assert_false(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(s.flags, IQ_IOREQ_STATE_INPROCESS);
    assert_int_equal(f->ctx.st.spurious, 3);
    assert_int_equal(f->ctx.st.ioreqs, 1);
    assert_int_equal(f->dev.nlog, 1);

    /* A write with garbage above the size (Arm 4.17) and df/ptr bits. */
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x10, 2,
              0x123456789abcull);
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(f->dev.log[1].val, 0x9abc);
    assert_int_equal(s.data, 0x123456789abcull);
    assert_int_equal(s.flags, IQ_IORESP_STATE_READY);
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x16, 2,
              RAM_BASE + 0x2);
    s.count = 2;
    s.flags |= IQ_SLOT_DF | IQ_SLOT_DATA_IS_PTR;
    le_put(f->mem.ram, 0xddccbbaa, 4);
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(f->dev.log[2].off, 0x16);
    assert_int_equal(f->dev.log[2].val, 0xddcc);
    assert_int_equal(f->dev.log[3].off, 0x14);
    assert_int_equal(f->dev.log[3].val, 0xbbaa);
    assert_int_equal(s.flags,
                     IQ_IORESP_STATE_READY | IQ_SLOT_DF | IQ_SLOT_DATA_IS_PTR);
}

static bool
take_notify_q1(void *opaque, uint64_t addr, uint32_t size, uint64_t data)
{
    unsigned *calls = opaque;

    (*calls)++;
    return addr == MMIO_BASE + 0x50 && size == 4 && (data & 0xffff) == 1;
}

static bool
take_nothing(void *opaque, uint64_t addr, uint32_t size, uint64_t data)
{
    (void)opaque;
    (void)addr;
    (void)size;
    (void)data;
    return false;
}

/* Takers: which READY requests the server leaves to another agent. */
static void
test_slot_takers(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_slot s;
    unsigned calls = 0;
    unsigned dummy[IQ_IOREQ_MAX_TAKERS];

    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 1);
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    assert_int_equal(iq_ioreq_ctx_add_taker(&f->ctx, NULL, NULL), -EINVAL);
    assert_int_equal(iq_ioreq_ctx_add_taker(&f->ctx, take_nothing, &dummy[0]),
                     0);
    assert_int_equal(iq_ioreq_ctx_add_taker(&f->ctx, take_notify_q1, &calls),
                     0);
    assert_true(iq_ioreq_slot_for_taker(&f->ctx, &s));
    assert_int_equal(calls, 1);
    /* Only the kernel's kind of request: READY, COPY, write, no pointer. */
    s.data = 0x10001; /* the kernel matches the low 16 bits */
    assert_true(iq_ioreq_slot_for_taker(&f->ctx, &s));
    s.data = 2;
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    s.data = 1;
    s.flags |= IQ_SLOT_DATA_IS_PTR;
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, true, MMIO_BASE + 0x50, 4, 1);
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    slot_fill(&s, IQ_IOREQ_TYPE_PIO, false, MMIO_BASE + 0x50, 4, 1);
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 1);
    s.flags = IQ_IORESP_STATE_READY;
    calls = 0;
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    assert_int_equal(calls, 0); /* fields not even looked at */
    /* Removed: no longer consulted. */
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 1);
    iq_ioreq_ctx_del_taker(&f->ctx, &calls);
    assert_false(iq_ioreq_slot_for_taker(&f->ctx, &s));
    assert_int_equal(calls, 0);
    iq_ioreq_ctx_del_taker(&f->ctx, &calls); /* absent: no-op */
    /* Bounded table. */
    for (unsigned i = 1; i < IQ_IOREQ_MAX_TAKERS; i++) {
        assert_int_equal(
            iq_ioreq_ctx_add_taker(&f->ctx, take_nothing, &dummy[i]), 0);
    }
    assert_int_equal(iq_ioreq_ctx_add_taker(&f->ctx, take_nothing, &calls),
                     -ENOSPC);
    for (unsigned i = 0; i < IQ_IOREQ_MAX_TAKERS; i++) {
        iq_ioreq_ctx_del_taker(&f->ctx, &dummy[i]);
    }
    assert_int_equal(f->ctx.nr_takers, 0);
}

/*
 * Linux's privcmd ioeventfd handler writes slot states without a
 * compare-and-swap; when it changes a slot ioreqd holds, ioreqd neither
 * overwrites what is there now nor leaves a READY slot behind.
 */
static void
test_slot_kernel_race(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_slot s;

    f->dev.race_slot = &s;
    f->dev.mode = DEV_KERNEL_RACE;

    /* Handed back READY once: the same write is served again. */
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 1);
    f->dev.race_kind = RACE_HAND_BACK;
    f->dev.races = 1;
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(f->dev.nlog, 2);
    assert_int_equal(f->dev.log[1].off, 0x50);
    assert_int_equal(s.flags, IQ_IORESP_STATE_READY);
    assert_int_equal(f->ctx.st.raced, 1);
    assert_int_equal(f->ctx.st.ioreqs, 1);

    /* Answered by the kernel meanwhile: left alone, no notification. */
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 0x77);
    f->dev.race_kind = RACE_ANSWERED;
    f->dev.races = 1;
    assert_false(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(s.flags, IQ_IORESP_STATE_READY);
    assert_int_equal(s.data, 0x77);
    assert_int_equal(f->ctx.st.raced, 2);
    assert_int_equal(f->ctx.st.spurious, 0);

    /*
     * Answered, and the vCPU's next request (a read) already READY: it is
     * served, not overwritten by the old write's answer.
     */
    le_put(f->dev.regs + 8, 0x5eedf00d, 4);
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 0x1234);
    f->dev.race_kind = RACE_NEXT;
    f->dev.races = 1;
    f->dev.nlog = 0;
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(f->dev.nlog, 2);
    assert_false(f->dev.log[1].write);
    assert_int_equal(f->dev.log[1].off, 8);
    assert_int_equal(s.data, 0x5eedf00d);
    assert_int_equal(s.flags, IQ_IORESP_STATE_READY | IQ_SLOT_DIR_READ);

    /* Handed back on every round: bounded, the slot stays READY. */
    slot_fill(&s, IQ_IOREQ_TYPE_COPY, false, MMIO_BASE + 0x50, 4, 2);
    f->dev.race_kind = RACE_HAND_BACK;
    f->dev.races = 1000;
    f->dev.nlog = 0;
    assert_false(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(f->dev.nlog, 4);
    assert_int_equal(s.flags & IQ_SLOT_STATE_MASK, IQ_IOREQ_STATE_READY);
    f->dev.mode = DEV_REGFILE;
}

static void
test_invalidate(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_slot s;

    slot_fill(&s, IQ_IOREQ_TYPE_INVALIDATE, false, 0, 4, ~0ull);
    f->mem.watch = &s;
    f->mem.state_at_invalidate = 0xff;
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(f->mem.invalidates, 1);
    /* Invalidated while the slot was still INPROCESS: before the answer. */
    assert_int_equal(f->mem.state_at_invalidate, IQ_IOREQ_STATE_INPROCESS);
    assert_int_equal(s.flags & IQ_SLOT_STATE_MASK, IQ_IORESP_STATE_READY);
    assert_int_equal(s.data, ~0ull);
    assert_int_equal(f->ctx.st.invalidates, 1);
    assert_int_equal(f->dev.nlog, 0);
}

static void
test_timeoffset_unknown(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_slot s;

    slot_fill(&s, IQ_IOREQ_TYPE_TIMEOFFSET, false, 0, 8, 0x1234);
    assert_true(iq_ioreq_slot_service(&f->ctx, &s));
    assert_int_equal(s.flags, IQ_IORESP_STATE_READY);
    assert_int_equal(s.data, 0x1234);
    assert_int_equal(f->ctx.st.unknown_type, 0);

    static const uint8_t types[] = {3, 4, 5, 6, 9, 0xff};

    for (unsigned i = 0; i < IQ_ARRAY_SIZE(types); i++) {
        slot_fill(&s, types[i], true, MMIO_BASE, 4, 0x77);
        assert_true(iq_ioreq_slot_service(&f->ctx, &s));
        assert_int_equal(s.flags & IQ_SLOT_STATE_MASK, IQ_IORESP_STATE_READY);
        assert_int_equal(s.data, 0x77);
    }
    assert_int_equal(f->ctx.st.unknown_type, IQ_ARRAY_SIZE(types));
    assert_int_equal(f->ctx.st.ioreqs, 1 + IQ_ARRAY_SIZE(types));
    assert_int_equal(f->dev.nlog, 0);
    assert_int_equal(f->mem.invalidates, 0);
}

/* ---- buffered ring --------------------------------------------------------
 */

/* Queue a write as Xen does: slots first, then the write pointer. */
static void
push_buf(struct iq_ioreq_bufpage *pg, uint8_t type, uint32_t addr,
         unsigned size, uint64_t val)
{
    unsigned code = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
    uint32_t wp = pg->write_pointer;
    uint32_t w = iq_ioreq_bufslot_word(type, false, code, addr);

    pg->slot[wp % IQ_BUF_SLOT_NUM].word = w;
    pg->slot[wp % IQ_BUF_SLOT_NUM].data = (uint32_t)val;
    if (size == 8) {
        pg->slot[(wp + 1) % IQ_BUF_SLOT_NUM].word = w;
        pg->slot[(wp + 1) % IQ_BUF_SLOT_NUM].data = (uint32_t)(val >> 32);
    }
    pg->write_pointer = wp + (size == 8 ? 2 : 1);
}

static void
test_buf_simple(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_bufpage *pg = test_calloc(1, sizeof(*pg));
    struct iq_region *r;
    bool more = true;

    assert_int_equal(sizeof(*pg), 4096);
    assert_int_equal(iq_ioreq_region_add(&f->ctx, IQ_SPACE_PIO, 0x3c0, 0x20,
                                         &dev_ops, &f->dev2, &r),
                     0);
    push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 4, 4, 0x11223344);
    push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 9, 1, 0xab);
    push_buf(pg, IQ_IOREQ_TYPE_PIO, 0x3c4, 2, 0xbeef);
    push_buf(pg, IQ_IOREQ_TYPE_TIMEOFFSET, 0, 4, 0x55);
    push_buf(pg, IQ_IOREQ_TYPE_COPY, 0x80000, 4, 1); /* unclaimed */
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 5);
    assert_false(more);
    assert_int_equal(pg->read_pointer, 5);
    assert_int_equal(pg->write_pointer, 5);
    assert_int_equal(f->dev.nlog, 2);
    assert_int_equal(f->dev.log[0].off, 4);
    assert_int_equal(f->dev.log[0].val, 0x11223344);
    assert_int_equal(f->dev.log[0].size, 4);
    assert_int_equal(f->dev.log[1].off, 9);
    assert_int_equal(f->dev.log[1].val, 0xab);
    assert_int_equal(f->dev2.nlog, 1);
    assert_int_equal(f->dev2.log[0].off, 4);
    assert_int_equal(f->dev2.log[0].val, 0xbeef);
    assert_int_equal(f->ctx.st.buffered, 5);
    assert_int_equal(f->ctx.st.unclaimed, 1);
    /* Empty ring: nothing to do. */
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 0);
    assert_false(more);
    test_free(pg);
}

static void
test_buf_qword(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_bufpage *pg = test_calloc(1, sizeof(*pg));
    bool more;

    push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 0x18, 8,
             0x0123456789abcdefull);
    assert_int_equal(pg->write_pointer, 2);
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 2);
    assert_int_equal(pg->read_pointer, 2);
    assert_int_equal(f->dev.nlog, 1);
    assert_int_equal(f->dev.log[0].size, 8);
    assert_int_equal(f->dev.log[0].val, 0x0123456789abcdefull);
    assert_int_equal(f->ctx.st.buffered, 1);

    /* Only the low half published: left alone until the high half is. */
    pg->slot[2].word =
        iq_ioreq_bufslot_word(IQ_IOREQ_TYPE_COPY, false, 3, MMIO_BASE + 0x20);
    pg->slot[2].data = 0x44332211;
    pg->write_pointer = 3;
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 0);
    assert_false(more);
    assert_int_equal(pg->read_pointer, 2);
    assert_int_equal(f->dev.nlog, 1);
    pg->slot[3] = pg->slot[2];
    pg->slot[3].data = 0x88776655;
    pg->write_pointer = 4;
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 2);
    assert_int_equal(pg->read_pointer, 4);
    assert_int_equal(f->dev.log[1].val, 0x8877665544332211ull);
    assert_int_equal(f->dev.log[1].off, 0x20);
    test_free(pg);
}

static void
test_buf_wrap(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_bufpage *pg = test_calloc(1, sizeof(*pg));
    bool more;

    /* Free-running pointers at 2^32 - 1: slot 31 then slot 0. */
    pg->read_pointer = 0xffffffffu;
    pg->write_pointer = 0xffffffffu;
    push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 0x30, 8,
             0xfeedface12345678ull);
    assert_int_equal(pg->write_pointer, 1);
    assert_int_equal(pg->slot[31].data, 0x12345678);
    assert_int_equal(pg->slot[0].data, 0xfeedface);
    push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 0x3c, 2, 0x5a5a);
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 3);
    assert_false(more);
    assert_int_equal(pg->read_pointer, 2);
    assert_int_equal(f->dev.nlog, 2);
    assert_int_equal(f->dev.log[0].val, 0xfeedface12345678ull);
    assert_int_equal(f->dev.log[1].off, 0x3c);
    assert_int_equal(f->dev.log[1].val, 0x5a5a);

    /* Just below the wrap with single slots: 0xfffffffe, 0xffffffff, 0. */
    pg->read_pointer = 0xfffffffeu;
    pg->write_pointer = 0xfffffffeu;
    for (unsigned i = 0; i < 3; i++) {
        push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 0x40 + i, 1, 0xa0 + i);
    }
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 3);
    assert_int_equal(pg->read_pointer, 1);
    assert_int_equal(f->dev.regs[0x40], 0xa0);
    assert_int_equal(f->dev.regs[0x41], 0xa1);
    assert_int_equal(f->dev.regs[0x42], 0xa2);
    test_free(pg);
}

static void
test_buf_full_and_budget(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_bufpage *pg = test_calloc(1, sizeof(*pg));
    bool more;

    /* A full ring (511 slots) is consumed in one call. */
    for (unsigned i = 0; i < IQ_BUF_SLOT_NUM; i++) {
        push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + (i & 0xff), 1, i);
    }
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), IQ_BUF_SLOT_NUM);
    assert_false(more);
    assert_int_equal(pg->read_pointer, IQ_BUF_SLOT_NUM);
    assert_int_equal(f->dev.nlog, IQ_BUF_SLOT_NUM);

    /*
     * Xen keeps producing while we drain (10 more at the 100th write): the
     * call stops after 511 slots and reports more work.
     */
    f->dev.nlog = 0;
    f->dev.pg = pg;
    for (unsigned i = 0; i < 505; i++) {
        push_buf(pg, IQ_IOREQ_TYPE_COPY, MMIO_BASE + 0x80, 1, i);
    }
    f->dev.mode = DEV_PRODUCER;
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), IQ_BUF_SLOT_NUM);
    assert_true(more);
    assert_int_equal(pg->read_pointer, 2 * IQ_BUF_SLOT_NUM);
    assert_int_equal(pg->write_pointer - pg->read_pointer, 4);
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 4);
    assert_false(more);
    assert_int_equal(pg->read_pointer, pg->write_pointer);
    assert_int_equal(f->dev.nlog, 515);
    /* The last four are the producer's 0x46..0x49 at 0x1006..0x1009. */
    assert_int_equal(f->dev.regs[0x09], 0x49);

    /* Impossible pointers (wp - rp > 511): refuse, do not spin. */
    f->dev.nlog = 0;
    pg->read_pointer = 0;
    pg->write_pointer = 600;
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 0);
    assert_false(more);
    assert_int_equal(pg->read_pointer, 0);
    assert_int_equal(f->dev.nlog, 0);
    test_free(pg);
}

static void
test_buf_bad_slots(void **state)
{
    struct fix *f = *state;
    struct iq_ioreq_bufpage *pg = test_calloc(1, sizeof(*pg));
    bool more;

    pg->slot[0].word =
        iq_ioreq_bufslot_word(IQ_IOREQ_TYPE_COPY, true, 2, MMIO_BASE);
    pg->write_pointer = 1;
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 1);
    assert_int_equal(pg->read_pointer, 1);
    assert_int_equal(f->dev.nlog, 0);
    assert_int_equal(f->ctx.rejected, 1);
    /* INVALIDATE, PCI_CONFIG and unknown types are synchronous only. */
    push_buf(pg, IQ_IOREQ_TYPE_INVALIDATE, 0, 4, ~0u);
    push_buf(pg, IQ_IOREQ_TYPE_PCI_CONFIG, 0x10, 4, 1);
    push_buf(pg, 0x42, MMIO_BASE, 4, 1);
    assert_int_equal(iq_ioreq_buf_drain(&f->ctx, pg, &more), 3);
    assert_int_equal(pg->read_pointer, 4);
    assert_int_equal(f->mem.invalidates, 0);
    assert_int_equal(f->ctx.st.invalidates, 0);
    assert_int_equal(f->ctx.st.unknown_type, 0);
    assert_int_equal(f->ctx.rejected, 4);
    assert_int_equal(f->dev.nlog, 0);
    test_free(pg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_region_table, setup_arm, teardown),
        cmocka_unit_test_setup_teardown(test_region_many, setup_arm, teardown),
        cmocka_unit_test_setup_teardown(test_write_masking, setup_arm,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_zero_extend, setup_arm,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_sizes, setup_arm, teardown),
        cmocka_unit_test_setup_teardown(test_unclaimed, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_rep_no_ptr, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_rep_ptr_to_device, setup_x86,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rep_ptr_from_device, setup_x86,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pio_ptr, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_rep_count_bound, setup_x86,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gmem_fault, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_unclaimed_ptr_read, setup_x86,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unmap_in_callback, setup_x86,
                                        teardown),
        cmocka_unit_test(test_pci_sbdf),
        cmocka_unit_test_setup_teardown(test_pci_config, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_slot_service, setup_arm, teardown),
        cmocka_unit_test_setup_teardown(test_slot_kernel_race, setup_arm,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slot_takers, setup_arm, teardown),
        cmocka_unit_test_setup_teardown(test_invalidate, setup_arm, teardown),
        cmocka_unit_test_setup_teardown(test_timeoffset_unknown, setup_x86,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_buf_simple, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_buf_qword, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_buf_wrap, setup_x86, teardown),
        cmocka_unit_test_setup_teardown(test_buf_full_and_budget, setup_x86,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_buf_bad_slots, setup_x86,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
