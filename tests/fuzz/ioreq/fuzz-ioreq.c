/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the ioreq decoder and dispatcher (ioreq/ core, no Xen).
 *
 * Input: byte 0 picks the arch (bit 0: x86), then an operation stream:
 *   0x00 sync    type flags size count:4 addr:8 data:8  (slot service)
 *   0x01 bufpush word:4 data:4                        (one ring slot)
 *   0x02 drain                                        (buffered ring)
 *   0x03 toggle  idx                                  (unmap/remap region)
 *   0x04 bufptr  ptr:4                                (rp = wp = ptr)
 * flags: bit 0 read, bit 1 df, bit 2 data_is_ptr, bits 4..7 state.
 * Devices and guest memory check the core's promises and trap on a broken
 * one: offsets inside the region, sizes 1/2/4/8, masked write values,
 * copies of at most one page, the slot always answered.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioreq-internal.h"

#include "ioreqd/log.h"

#define FZ_RAM_BASE 0x100000ull
#define FZ_RAM_SIZE 0x10000u
#define FZ_REGS 8192u
#define FZ_NR_REGIONS 5u

struct fz_dev {
    uint64_t size;
    uint8_t regs[FZ_REGS];
};

struct fz {
    struct iq_ioreq_ctx ctx;
    struct fz_dev dev[FZ_NR_REGIONS];
    struct iq_region *r[FZ_NR_REGIONS];
    uint8_t ram[FZ_RAM_SIZE];
    struct iq_ioreq_bufpage pg;
    struct iq_ioreq_slot slot;
};

static const struct {
    enum iq_space space;
    uint64_t start;
    uint64_t size;
} fz_layout[FZ_NR_REGIONS] = {
    {IQ_SPACE_MMIO, 0x1000, 0x100},   {IQ_SPACE_MMIO, 0x1100, 0x100},
    {IQ_SPACE_MMIO, 0x10000, 0x2000}, {IQ_SPACE_PIO, 0x60, 0x8},
    {IQ_SPACE_PCI, 0x18, 0x1000},
};

static void
check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

static bool
fz_size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

static uint64_t
fz_read(void *opaque, uint64_t off, unsigned size)
{
    struct fz_dev *d = opaque;
    uint64_t v = 0;

    check(fz_size_ok(size) && off < d->size && size <= d->size - off);
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)d->regs[off + i] << (8 * i);
    }
    /* Garbage above `size`: the core must mask it. */
    return v | (size < 8 ? ~iq_ioreq_size_mask(size) : 0);
}

static void
fz_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct fz_dev *d = opaque;

    check(fz_size_ok(size) && off < d->size && size <= d->size - off);
    check((val & ~iq_ioreq_size_mask(size)) == 0);
    for (unsigned i = 0; i < size; i++) {
        d->regs[off + i] = (uint8_t)(val >> (8 * i));
    }
}

static const struct iq_region_ops fz_ops = {
    .read = fz_read,
    .write = fz_write,
};

static bool
fz_ram(uint64_t gpa, size_t len, size_t *off)
{
    check(len > 0 && len <= IQ_IOREQ_MAX_REP_BYTES);
    if (gpa < FZ_RAM_BASE || gpa - FZ_RAM_BASE > FZ_RAM_SIZE - len) {
        return false;
    }
    *off = (size_t)(gpa - FZ_RAM_BASE);
    return true;
}

static int
fz_mem_read(void *opaque, gpa_t gpa, void *buf, size_t len)
{
    struct fz *z = opaque;
    size_t off;

    if (!fz_ram(gpa, len, &off)) {
        return -14;
    }
    memcpy(buf, z->ram + off, len);
    return 0;
}

static int
fz_mem_write(void *opaque, gpa_t gpa, const void *buf, size_t len)
{
    struct fz *z = opaque;
    size_t off;

    if (!fz_ram(gpa, len, &off)) {
        return -14;
    }
    memcpy(z->ram + off, buf, len);
    return 0;
}

static void
fz_invalidate(void *opaque)
{
    struct fz *z = opaque;

    /* Called before the answer: the slot is still being processed. */
    check((z->slot.flags & IQ_SLOT_STATE_MASK) == IQ_IOREQ_STATE_INPROCESS);
}

static const struct iq_gmem_ops fz_gmem = {
    .read = fz_mem_read,
    .write = fz_mem_write,
    .invalidate = fz_invalidate,
};

/* Input cursor. */
struct cur {
    const uint8_t *p;
    size_t n;
};

static bool
take(struct cur *c, void *out, size_t len)
{
    if (c->n < len) {
        return false;
    }
    memcpy(out, c->p, len);
    c->p += len;
    c->n -= len;
    return true;
}

static uint64_t
le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

static void
op_sync(struct fz *z, struct cur *c)
{
    uint8_t b[23];
    uint8_t flags;
    uint8_t initial;
    uint64_t before;
    bool answered;

    if (!take(c, b, sizeof(b))) {
        c->n = 0;
        return;
    }
    flags = b[1];
    memset(&z->slot, 0, sizeof(z->slot));
    z->slot.type = b[0];
    z->slot.size = b[2];
    z->slot.count = (uint32_t)le(b + 3, 4);
    z->slot.addr = le(b + 7, 8);
    z->slot.data = le(b + 15, 8);
    /* Mostly READY; the high nibble sometimes picks another state. */
    z->slot.flags = (uint8_t)((flags & 1 ? IQ_SLOT_DIR_READ : 0) |
                              (flags & 2 ? IQ_SLOT_DF : 0) |
                              (flags & 4 ? IQ_SLOT_DATA_IS_PTR : 0) |
                              ((flags >> 4) < 12 ? IQ_IOREQ_STATE_READY
                                                 : (flags >> 4) & 3u));
    before = z->ctx.st.ioreqs;
    initial = z->slot.flags;
    answered = iq_ioreq_slot_service(&z->ctx, &z->slot);
    if (!answered) {
        /* Not READY: left exactly as it was. */
        check((initial & IQ_SLOT_STATE_MASK) != IQ_IOREQ_STATE_READY);
        check(z->slot.flags == initial);
        check(z->ctx.st.ioreqs == before);
        return;
    }
    check((z->slot.flags & IQ_SLOT_STATE_MASK) == IQ_IORESP_STATE_READY);
    check(z->ctx.st.ioreqs == before + 1);
    if ((flags & 1) && !(flags & 4) &&
        (z->slot.type == IQ_IOREQ_TYPE_COPY ||
         z->slot.type == IQ_IOREQ_TYPE_PIO ||
         z->slot.type == IQ_IOREQ_TYPE_PCI_CONFIG) &&
        fz_size_ok(z->slot.size)) {
        check((z->slot.data & ~iq_ioreq_size_mask(z->slot.size)) == 0);
    }
}

static void
op_bufpush(struct fz *z, struct cur *c)
{
    uint8_t b[8];
    uint32_t wp = z->pg.write_pointer;

    if (!take(c, b, sizeof(b))) {
        c->n = 0;
        return;
    }
    /* Like Xen: never more than the ring holds. */
    if (wp - z->pg.read_pointer >= IQ_BUF_SLOT_NUM) {
        return;
    }
    z->pg.slot[wp % IQ_BUF_SLOT_NUM].word = (uint32_t)le(b, 4);
    z->pg.slot[wp % IQ_BUF_SLOT_NUM].data = (uint32_t)le(b + 4, 4);
    z->pg.write_pointer = wp + 1;
}

static void
op_drain(struct fz *z)
{
    uint32_t rp = z->pg.read_pointer;
    uint32_t wp = z->pg.write_pointer;
    bool more;
    unsigned done = iq_ioreq_buf_drain(&z->ctx, &z->pg, &more);

    check(done <= IQ_BUF_SLOT_NUM + 1);
    check(z->pg.read_pointer - rp == done);
    check(z->pg.write_pointer == wp);
    check(wp - z->pg.read_pointer <= IQ_BUF_SLOT_NUM);
}

static void
op_toggle(struct fz *z, struct cur *c)
{
    uint8_t idx;
    unsigned i;

    if (!take(c, &idx, 1)) {
        c->n = 0;
        return;
    }
    i = idx % FZ_NR_REGIONS;
    if (z->r[i] != NULL) {
        iq_ioreq_region_del(&z->ctx, z->r[i]);
        z->r[i] = NULL;
        return;
    }
    check(iq_ioreq_region_add(&z->ctx, fz_layout[i].space, fz_layout[i].start,
                              fz_layout[i].size, &fz_ops, &z->dev[i],
                              &z->r[i]) == 0);
}

static void
op_bufptr(struct fz *z, struct cur *c)
{
    uint8_t b[4];

    if (!take(c, b, sizeof(b))) {
        c->n = 0;
        return;
    }
    z->pg.read_pointer = (uint32_t)le(b, 4);
    z->pg.write_pointer = z->pg.read_pointer;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cur c = {data, size};
    struct fz *z;
    uint8_t arch;

    /* Bound the work per input regardless of its length. */
    unsigned ops = 0;

    /* Guest errors are expected here: keep the fuzzer's output quiet. */
    iq_log_set_level(IQ_LOG_ERR);

    if (!take(&c, &arch, 1)) {
        return 0;
    }
    z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return 0;
    }
    iq_ioreq_ctx_init(&z->ctx, (arch & 1) ? IQ_ARCH_X86 : IQ_ARCH_ARM, 1,
                      &fz_gmem, z);
    for (unsigned i = 0; i < FZ_NR_REGIONS; i++) {
        z->dev[i].size = fz_layout[i].size;
        check(iq_ioreq_region_add(&z->ctx, fz_layout[i].space,
                                  fz_layout[i].start, fz_layout[i].size,
                                  &fz_ops, &z->dev[i], &z->r[i]) == 0);
    }
    while (c.n > 0 && ops++ < 4096) {
        uint8_t op;

        (void)take(&c, &op, 1);
        switch (op % 5) {
        case 0:
            op_sync(z, &c);
            break;
        case 1:
            op_bufpush(z, &c);
            break;
        case 2:
            op_drain(z);
            break;
        case 3:
            op_toggle(z, &c);
            break;
        default:
            op_bufptr(z, &c);
            break;
        }
    }
    iq_ioreq_ctx_fini(&z->ctx);
    free(z);
    return 0;
}
