/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: virtio-mmio register sequences against a virtio-rng device
 * over flat fake RAM (with a hole) behind a tiny real mapcache.
 *
 * Input: byte 0 selects the arch (bit 0); then an operation stream, one
 * opcode byte each (mod 6):
 *   0 read   off:u16 size:u8
 *   1 write  off:u16 size:u8 value:u64
 *   2 ram    addr:u16 (x8) data:8 bytes (the driver writing its rings)
 *   3 probe  features:u8 qsize:u8 (a well-formed driver probe)
 *   4 loop   run deferred work
 *   5 kick   QueueNotify 0
 * The oracle: no crash, no sanitizer report, no pin left in the mapcache
 * (iq_mc_destroy asserts it) and the register file's invariants below.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/virtio-devices.h"
#include "ioreqd/virtio.h"
#include "iq-test-ram.h"

#define RAM_SIZE (512u << 10)
#define HOLE (256u << 10)
#define HOLE_LEN (16u << 10)
#define MAX_OPS 4096u
#define RING 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    const uint8_t *p;
    size_t left;
};

static uint64_t
take(struct fz *f, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n && f->left > 0; i++) {
        v |= (uint64_t)*f->p << (8 * i);
        f->p++;
        f->left--;
    }
    return v;
}

static int
irq_set(void *opaque, uint32_t irq, unsigned level)
{
    (void)opaque;
    (void)irq;
    (void)level;
    return 0;
}

static const struct iq_irq_ops irq_ops = {
    .set_level = irq_set,
};

static void
w32(struct iq_virtio_dev *dev, uint64_t off, uint32_t v)
{
    iq_virtio_region_ops()->write(dev, off, v, 4);
}

static void
probe(struct iq_virtio_dev *dev, uint8_t feat, uint8_t qsz)
{
    uint32_t f0 = ((feat & 1u) << 28) | ((feat & 2u) << 28);

    w32(dev, 0x70, 0);
    w32(dev, 0x70, 1);
    w32(dev, 0x70, 3);
    w32(dev, 0x24, 0);
    w32(dev, 0x20, f0);
    w32(dev, 0x24, 1);
    w32(dev, 0x20, (feat & 4u) ? 0 : 1);
    w32(dev, 0x70, 11);
    w32(dev, 0x30, 0);
    w32(dev, 0x38, 1u << (qsz % 9));
    w32(dev, 0x80, RING);
    w32(dev, 0x84, 0);
    w32(dev, 0x90, RING + 0x4000);
    w32(dev, 0x94, 0);
    w32(dev, 0xa0, RING + 0x5000);
    w32(dev, 0xa4, 0);
    w32(dev, 0x44, 1);
    w32(dev, 0x70, 15);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {.p = data, .left = size};
    struct iq_test_ram ram;
    struct iq_mc_config mcc = {
        .cap_bytes = 16u << 12,
        .bucket_shift = 12,
        .foreign = &iq_test_ram_ops,
    };
    struct iq_virtio_rng_config rc = {0};
    const struct iq_region_ops *ops = iq_virtio_region_ops();
    struct iq_mc *mc = NULL;
    struct iq_loop *loop = NULL;
    struct iq_virtio_rng *rng = NULL;
    struct iq_virtio_dev *dev;

    iq_log_set_level(IQ_LOG_ERR);
    if (iq_test_ram_init(&ram, RAM_SIZE, 0) < 0) {
        abort();
    }
    ram.hole = HOLE;
    ram.hole_len = HOLE_LEN;
    mcc.foreign_opaque = &ram;
    if (iq_mc_create(&mcc, &mc) < 0 || iq_loop_create(&loop) < 0) {
        abort();
    }
    rc.env.name = "fuzz-rng";
    rc.env.irq = 33;
    rc.env.mc = mc;
    rc.env.loop = loop;
    rc.env.irq_ops = &irq_ops;
    rc.env.arch = (take(&f, 1) & 1) ? IQ_ARCH_X86 : IQ_ARCH_ARM;
    rc.env.queue_max_size = 256;
    if (iq_virtio_rng_create(&rc, &rng) < 0) {
        abort();
    }
    dev = iq_virtio_rng_dev(rng);

    for (unsigned n = 0; n < MAX_OPS && f.left > 0; n++) {
        unsigned op = (unsigned)take(&f, 1) % 6;
        uint64_t off;
        unsigned sz;
        uint64_t v;

        switch (op) {
        case 0:
            off = take(&f, 2) % IQ_VIRTIO_MMIO_SIZE;
            sz = 1u << (take(&f, 1) & 3);
            if (off + sz <= IQ_VIRTIO_MMIO_SIZE) {
                v = ops->read(dev, off, sz);
                if (off == 0 && sz == 4) {
                    assert(v == 0x74726976);
                }
            }
            break;
        case 1:
            off = take(&f, 2) % IQ_VIRTIO_MMIO_SIZE;
            sz = 1u << (take(&f, 1) & 3);
            v = take(&f, 8);
            if (sz < 8) {
                v &= (1ull << (8 * sz)) - 1;
            }
            if (off + sz <= IQ_VIRTIO_MMIO_SIZE) {
                ops->write(dev, off, v, sz);
            }
            break;
        case 2:
            off = (take(&f, 2) * 8) % RAM_SIZE;
            v = take(&f, 8);
            memcpy(ram.ram + off, &v, 8);
            break;
        case 3:
            v = take(&f, 2);
            probe(dev, (uint8_t)v, (uint8_t)(v >> 8));
            break;
        case 4:
            if (iq_loop_run_once(loop, 0) < 0) {
                abort();
            }
            break;
        default:
            w32(dev, 0x50, 0);
            break;
        }
        /* Invariants the driver relies on. */
        assert((iq_virtio_status(dev) & ~0xffu) == 0);
        assert((iq_virtio_interrupt_status(dev) & ~3u) == 0);
    }

    iq_virtio_rng_destroy(rng);
    iq_loop_destroy(loop);
    iq_mc_destroy(mc);
    iq_test_ram_fini(&ram);
    return 0;
}
