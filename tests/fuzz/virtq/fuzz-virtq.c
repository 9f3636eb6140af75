/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the split virtqueue walker. Guest RAM is filled from the
 * input *as the device reads it*: the mapcache backend hands out a fresh
 * page for every map call, filled with the next 4 KiB of input (zeros when
 * the input is exhausted). With a 4-page cap the same guest page is
 * re-mapped, and so changes, between accesses: a hostile guest rewriting
 * its rings under the device.
 *
 * Input header (8 bytes):
 *   0  features: bit 0 INDIRECT_DESC, bit 1 EVENT_IDX
 *   1  log2 queue size (mod 11)
 *   2  desc page, 3 avail page, 4 used page (mod RAM pages)
 *   5  ring offset low bits (desc: bits 0-1 x16, avail: 2-3 x2, used:
 *      4-5 x4), 6 device behaviour, 7 reserved
 * then the page stream.
 *
 * The device pops up to 256 times, holds up to 8 elements, writes and reads
 * their buffers, completes them in varying order, and finally the driver
 * resets with elements in flight. Oracle: no crash, no sanitizer report, no
 * pin left (iq_mc_destroy asserts it), element lengths consistent.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/virtio.h"

#define RAM_PAGES 64u
#define MAX_POPS 256u
#define MAX_HELD 8u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    const uint8_t *p;
    size_t left;
    uint8_t mode;
    struct iq_virtio_dev *dev;
    struct iq_virtq_elem *held[MAX_HELD];
    unsigned nheld;
};

static void *
page_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct fz *f = opaque;
    uint8_t *pg;
    size_t c;

    (void)prot;
    /* Bucket shift 12: one frame per call. */
    if (n != 1 || frames[0] >= RAM_PAGES) {
        for (size_t i = 0; i < n; i++) {
            err[i] = -EFAULT;
        }
        return NULL;
    }
    pg = calloc(1, IQ_PAGE_SIZE);
    if (pg == NULL) {
        err[0] = -ENOMEM;
        return NULL;
    }
    c = IQ_MIN(f->left, (size_t)IQ_PAGE_SIZE);
    memcpy(pg, f->p, c);
    f->p += c;
    f->left -= c;
    err[0] = 0;
    return pg;
}

static int
page_unmap(void *opaque, void *va, size_t n)
{
    (void)opaque;
    (void)n;
    free(va);
    return 0;
}

static const struct iq_mc_backend_ops page_ops = {
    .map = page_map,
    .unmap = page_unmap,
};

static void
check_elem(const struct iq_virtq_elem *el)
{
    uint64_t out = 0;
    uint64_t in = 0;

    for (unsigned i = 0; i < el->out_num + el->in_num; i++) {
        assert(el->iov[i].iov_len > 0);
        if (i < el->out_num) {
            out += el->iov[i].iov_len;
        } else {
            in += el->iov[i].iov_len;
        }
    }
    assert(out == el->out_len && in == el->in_len);
    assert(el->out_num + el->in_num <= IQ_VIRTQ_MAX_IOV);
}

static void
complete(struct fz *f, struct iq_virtq *vq, unsigned i, bool flush)
{
    struct iq_virtq_elem *el = f->held[i];
    uint8_t buf[64];
    size_t n;

    n = iq_virtq_elem_read(el, el->out_len / 2, buf, sizeof(buf));
    assert(n <= sizeof(buf));
    memset(buf, 0xa5, sizeof(buf));
    n = iq_virtq_elem_write(el, 0, buf, sizeof(buf));
    assert(n == IQ_MIN(el->in_len, (uint64_t)sizeof(buf)));
    iq_virtq_push(vq, el, (uint32_t)n + (f->mode & 8u), flush);
    f->held[i] = f->held[--f->nheld];
}

static void
dev_notify(void *opaque, struct iq_virtq *vq)
{
    (void)opaque;
    (void)vq;
}

static void
dev_reset(void *opaque)
{
    struct fz *f = opaque;
    struct iq_virtq *vq = iq_virtio_queue(f->dev, 0);

    while (f->nheld > 0) {
        iq_virtq_discard(vq, f->held[--f->nheld]);
    }
}

static const struct iq_virtio_device_ops dev_ops = {
    .notify = dev_notify,
    .reset = dev_reset,
};

static void
w32(struct iq_virtio_dev *dev, uint64_t off, uint32_t v)
{
    iq_virtio_region_ops()->write(dev, off, v, 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {0};
    struct iq_mc_config mcc = {
        .cap_bytes = 4u << 12,
        .bucket_shift = 12,
        .foreign = &page_ops,
    };
    struct iq_virtio_dev_config dc = {
        .name = "fuzz-virtq",
        .device_id = 0x7f,
        .num_queues = 1,
        .queue_max_size = IQ_VIRTQ_MAX_SIZE,
        .ops = &dev_ops,
        .arch = IQ_ARCH_ARM,
    };
    uint8_t h[8] = {0};
    struct iq_mc *mc = NULL;
    struct iq_virtq *vq;
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
    uint32_t feat;

    iq_log_set_level(IQ_LOG_ERR);
    memcpy(h, data, IQ_MIN(size, sizeof(h)));
    f.p = data + IQ_MIN(size, sizeof(h));
    f.left = size - IQ_MIN(size, sizeof(h));
    f.mode = h[6];
    mcc.foreign_opaque = &f;
    if (iq_mc_create(&mcc, &mc) < 0) {
        abort();
    }
    dc.mc = mc;
    dc.opaque = &f;
    if (iq_virtio_dev_create(&dc, &f.dev) < 0) {
        abort();
    }
    desc = (uint64_t)(h[2] % RAM_PAGES) * IQ_PAGE_SIZE + 16u * (h[5] & 3);
    avail =
        (uint64_t)(h[3] % RAM_PAGES) * IQ_PAGE_SIZE + 2u * ((h[5] >> 2) & 3);
    used = (uint64_t)(h[4] % RAM_PAGES) * IQ_PAGE_SIZE + 4u * ((h[5] >> 4) & 3);
    feat = ((h[0] & 1u) ? 1u << IQ_VIRTIO_F_INDIRECT_DESC : 0) |
           ((h[0] & 2u) ? 1u << IQ_VIRTIO_F_EVENT_IDX : 0);

    /* A well-formed probe with the fuzzer's ring geometry. */
    w32(f.dev, 0x70, 1);
    w32(f.dev, 0x70, 3);
    w32(f.dev, 0x24, 0);
    w32(f.dev, 0x20, feat);
    w32(f.dev, 0x24, 1);
    w32(f.dev, 0x20, 1);
    w32(f.dev, 0x70, 11);
    w32(f.dev, 0x30, 0);
    w32(f.dev, 0x38, 1u << (h[1] % 11));
    w32(f.dev, 0x80, (uint32_t)desc);
    w32(f.dev, 0x90, (uint32_t)avail);
    w32(f.dev, 0xa0, (uint32_t)used);
    w32(f.dev, 0x44, 1);
    w32(f.dev, 0x70, 15);
    vq = iq_virtio_queue(f.dev, 0);

    for (unsigned n = 0; n < MAX_POPS; n++) {
        struct iq_virtq_elem *el = NULL;
        int ret;

        if (f.nheld == MAX_HELD) {
            complete(&f, vq, n % f.nheld, (f.mode & 1u) != 0);
        }
        ret = iq_virtq_pop(vq, &el);
        if (ret == 1) {
            check_elem(el);
            f.held[f.nheld++] = el;
            if (f.mode & 2u) {
                complete(&f, vq, f.nheld - 1, (n & 1u) != 0);
            }
            continue;
        }
        assert(el == NULL);
        assert(ret == 0 || ret == -EBUSY || ret == -EPROTO);
        if (ret == -EPROTO) {
            assert(iq_virtio_status(f.dev) & IQ_VIRTIO_S_NEEDS_RESET);
            break;
        }
        if (ret == -EBUSY && f.nheld > 0) {
            complete(&f, vq, 0, true);
            continue;
        }
        if (f.left == 0) {
            break;
        }
    }
    iq_virtq_flush(vq);
    if (f.mode & 4u) {
        /* Complete what is left before the reset. */
        while (f.nheld > 0) {
            complete(&f, vq, f.nheld - 1, false);
        }
        iq_virtq_flush(vq);
    }
    /* Reset with whatever is still in flight. */
    w32(f.dev, 0x70, 0);
    assert(f.nheld == 0);
    iq_virtio_dev_destroy(f.dev);
    iq_mc_destroy(mc);
    return 0;
}
