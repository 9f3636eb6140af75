/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: virtio-blk request parsing through the real device, virtio
 * engine, mapcache (flat fake RAM) and mem storage.
 *
 * Input format (little-endian; missing bytes read as 0):
 *   u8 setup: bit0 read-only, bit1 write-through, bit2 refuse DISCARD,
 *             bit3 refuse WRITE_ZEROES, bit4 refuse FLUSH, bit5 two queues
 *   then records until the input ends:
 *   u8 op: op & 3 == 0 place a chain and kick, 3 place only,
 *          1 config write, 2 driver reset; bit 7 selects queue 1
 *     chain:  u8 n (1 + n % 6 descriptors), per descriptor u8 flags
 *             (bit0 device-writable) and u16 len (% 8193), then the
 *             contents of each readable descriptor in order (len bytes)
 *     config: u8 offset (% 64), u8 value: one-byte config write
 * The first 16 readable bytes of a chain are the request header.
 */
#include <stdint.h>
#include <string.h>

#include "blk-harness.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio-blk.h"
#include "ioreqd/virtio.h"

#define FZ_DISK_SIZE (64u * 1024u)
#define FZ_MAX_DESC 6u
#define FZ_MAX_LEN 8192u
#define FZ_QSIZE 64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_in {
    const uint8_t *p;
    size_t left;
};

static uint8_t
in_u8(struct fz_in *in)
{
    if (in->left == 0) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static uint16_t
in_u16(struct fz_in *in)
{
    uint16_t lo = in_u8(in);

    return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}

static void
in_bytes(struct fz_in *in, uint8_t *dst, size_t n)
{
    size_t k = n < in->left ? n : in->left;

    memcpy(dst, in->p, k);
    memset(dst + k, 0, n - k);
    in->p += k;
    in->left -= k;
}

struct fz {
    struct bh h;
    unsigned placed[2]; /* chains placed and not yet used */
    unsigned descs[2]; /* descriptors those chains occupy */
};

/* Complete what was placed (bounded), then recycle the buffer space. */
static void
fz_settle(struct fz *f)
{
    for (unsigned q = 0; q < f->h.nq; q++) {
        for (unsigned i = 0; i < 16 && f->placed[q] > 0; i++) {
            while (f->placed[q] > 0 && bh_used_pending(&f->h, q) > 0) {
                (void)bh_wait(&f->h, q, 1, 0, NULL, NULL);
                f->placed[q]--;
            }
            if (f->placed[q] > 0 && iq_loop_run_once(f->h.loop, 0) < 0) {
                break;
            }
        }
    }
    if (iq_virtio_status(f->h.dev) & IQ_VIRTIO_S_NEEDS_RESET) {
        (void)bh_reinit(&f->h);
        f->placed[0] = f->placed[1] = 0;
    }
    if (f->placed[0] == 0 && f->placed[1] == 0) {
        f->descs[0] = f->descs[1] = 0;
        bh_alloc_reset(&f->h);
    }
}

static void
fz_chain(struct fz *f, struct fz_in *in, unsigned q, bool kick)
{
    struct bh_buf b[FZ_MAX_DESC];
    unsigned n = 1 + in_u8(in) % FZ_MAX_DESC;

    for (unsigned i = 0; i < n; i++) {
        uint8_t fl = in_u8(in);

        b[i].len = in_u16(in) % (FZ_MAX_LEN + 1);
        b[i].write = (fl & 1) != 0;
    }
    for (unsigned i = 0; i < n; i++) {
        b[i].gpa = bh_alloc(&f->h, b[i].len ? b[i].len : 1, 8);
        if (b[i].gpa == 0) {
            return;
        }
        if (!b[i].write) {
            in_bytes(in, bh_ptr(&f->h, b[i].gpa), b[i].len);
        } else {
            memset(bh_ptr(&f->h, b[i].gpa), 0xee, b[i].len);
        }
    }
    if (f->descs[q] + n > FZ_QSIZE || f->placed[q] + 1 >= FZ_QSIZE) {
        return;
    }
    if (bh_place(&f->h, q, b, n) == 0) {
        f->placed[q]++;
        f->descs[q] += n;
    }
    if (kick) {
        bh_kick(&f->h, q);
        fz_settle(f);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct fz f;
    struct iq_storage *sto = NULL;
    struct bh_opts o = {0};
    uint8_t setup;

    memset(&f, 0, sizeof(f));
    iq_log_set_level(IQ_LOG_ERR);
    if (bh_init(&f.h) < 0) {
        return 0;
    }
    setup = in_u8(&in);
    if (iq_storage_open_mem(f.h.loop, FZ_DISK_SIZE, NULL, &sto) < 0) {
        bh_fini(&f.h);
        return 0;
    }
    o.storage = sto;
    o.readonly = setup & 1;
    o.writethrough = (setup >> 1) & 1;
    o.refuse = ((setup >> 2) & 1 ? 1ull << IQ_VIRTIO_BLK_F_DISCARD : 0) |
               ((setup >> 3) & 1 ? 1ull << IQ_VIRTIO_BLK_F_WRITE_ZEROES : 0) |
               ((setup >> 4) & 1 ? 1ull << IQ_VIRTIO_BLK_F_FLUSH : 0);
    o.num_queues = (setup >> 5) & 1 ? 2 : 1;
    o.queue_size = FZ_QSIZE;
    o.serial = "fuzz-serial";
    if (bh_start(&f.h, &o) == 0) {
        /* Every record consumes at least one byte: bounded by the input. */
        while (in.left > 0) {
            uint8_t op = in_u8(&in);
            unsigned q = (op >> 7) % f.h.nq;

            switch (op & 3) {
            case 0:
            case 3:
                fz_chain(&f, &in, q, (op & 3) == 0);
                break;
            case 1: {
                uint8_t off = in_u8(&in) % 64;

                bh_cfg_wr(&f.h, off, in_u8(&in), 1);
                break;
            }
            default:
                (void)bh_reinit(&f.h);
                f.placed[0] = f.placed[1] = 0;
                f.descs[0] = f.descs[1] = 0;
                bh_alloc_reset(&f.h);
                break;
            }
        }
        for (unsigned q = 0; q < f.h.nq; q++) {
            bh_kick(&f.h, q);
        }
        fz_settle(&f);
    }
    /* Device (drains the storage), then storage, then RAM and loop. */
    iq_virtio_blk_destroy(f.h.blk);
    f.h.blk = NULL;
    iq_storage_destroy(sto);
    bh_fini(&f.h);
    return 0;
}
