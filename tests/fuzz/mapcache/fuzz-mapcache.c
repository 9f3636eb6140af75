/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the mapcache (mapcache/ core, no Xen) driven by a hostile
 * operation stream on a tiny cache (3 buckets of 16 KiB, grants on).
 *
 * Input: byte 0 is a hole mask (bit i: page 4 * i + 1 is a hole), then
 * operations of 6 bytes:  op a0 a1 a2 len x
 *   op % 8: 0 read, 1 write, 2 pin, 3 unpin (x: which), 4 map_sg (x: max),
 *           5 invalidate, 6 grant copy, 7 grant pin
 *   address: a0..a2 little-endian byte offset; op bit 3 turns it into
 *   UINT64_MAX - offset (wrapping ranges), op bit 4 into the last bytes
 *   below the grant bit; len: 1 + len * (op bit 5 ? 512 : 1), op bit 6
 *   makes it 0; x bit 0: IQ_MC_WRITE.
 * The fake backend hands out pointers into flat buffers, so every
 * translation is checked against the address it must give. Invariants
 * trap: bytes mapped <= cap and == what the fake holds, pins match,
 * every unmap matches a live map, nothing left mapped at the end.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ioreqd/mapcache.h"
#include "ioreqd/log.h"

#define FZ_PG 4096u
#define FZ_SHIFT 14u
#define FZ_BKT (1u << FZ_SHIFT)
#define FZ_RAM_PAGES 32u
#define FZ_GRANT_PAGES 8u
#define FZ_CAP (3u * FZ_BKT)
#define FZ_MAX_PINS 16u
#define FZ_MAX_MAPS 64u
#define FZ_SG_MAX 4u

#define FZ_CHECK(c) \
    do { \
        if (!(c)) { \
            abort(); \
        } \
    } while (0)

struct fz_backend {
    unsigned char *mem;
    size_t npages;
    bool grant;
    const bool *hole;
    struct {
        void *va;
        size_t n;
    } maps[FZ_MAX_MAPS];
    unsigned nmaps;
    size_t pages;
};

struct fz_pin {
    struct iq_mc_ref ref;
    unsigned char *hva;
    size_t len;
};

struct fz {
    struct fz_backend ram;
    struct fz_backend gnt;
    bool hole[FZ_RAM_PAGES];
    struct iq_mc *mc;
    struct fz_pin pins[FZ_MAX_PINS];
    unsigned npins;
    unsigned char buf[2 * FZ_BKT];
};

static void *
fz_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct fz_backend *b = opaque;
    size_t i;
    bool bad = false;

    (void)prot;
    FZ_CHECK(n > 0 && b->nmaps < FZ_MAX_MAPS);
    for (i = 0; i < n; i++) {
        bool hole = frames[i] >= b->npages ||
                    (b->hole != NULL && b->hole[frames[i]]) ||
                    frames[i] != frames[0] + i;

        err[i] = hole ? -ENOENT : 0;
        bad |= hole;
    }
    if (frames[0] >= b->npages || (b->grant && bad)) {
        return NULL;
    }
    /* Pages past the end of the buffer are never valid, never touched. */
    b->maps[b->nmaps].va = b->mem + frames[0] * FZ_PG;
    b->maps[b->nmaps].n = n;
    b->nmaps++;
    b->pages += n;
    return b->mem + frames[0] * FZ_PG;
}

static int
fz_unmap(void *opaque, void *va, size_t n)
{
    struct fz_backend *b = opaque;
    unsigned i;

    for (i = 0; i < b->nmaps; i++) {
        if (b->maps[i].va == va && b->maps[i].n == n) {
            b->maps[i] = b->maps[--b->nmaps];
            b->pages -= n;
            return 0;
        }
    }
    abort();
}

static const struct iq_mc_backend_ops fz_mc_ops = {
    .map = fz_map,
    .unmap = fz_unmap,
};

static void
fz_check(struct fz *f)
{
    struct iq_mc_stats st;

    iq_mc_get_stats(f->mc, &st);
    FZ_CHECK(st.bytes_mapped <= FZ_CAP);
    FZ_CHECK(st.bytes_mapped == (f->ram.pages + f->gnt.pages) * FZ_PG);
    FZ_CHECK(st.pins == f->npins);
}

/* Where `gpa` must land in the flat buffers, or NULL if nowhere. */
static unsigned char *
fz_expect(struct fz *f, gpa_t gpa)
{
    if (gpa & IQ_MC_GRANT_BIT) {
        uint64_t g = gpa & ~IQ_MC_GRANT_BIT;

        return g < FZ_GRANT_PAGES * FZ_PG ? f->gnt.mem + g : NULL;
    }
    return gpa < FZ_RAM_PAGES * FZ_PG ? f->ram.mem + gpa : NULL;
}

static void
fz_op(struct fz *f, const uint8_t *p)
{
    uint64_t a = p[1] | (uint64_t)p[2] << 8 | (uint64_t)p[3] << 16;
    size_t len = 1 + (size_t)p[4] * ((p[0] & 0x20) ? 512 : 1);
    enum iq_mc_prot prot = (p[5] & 1) ? IQ_MC_WRITE : IQ_MC_READ;
    gpa_t gpa = a % (FZ_RAM_PAGES * FZ_PG + 4 * FZ_PG);
    struct iovec iov[FZ_SG_MAX];
    struct iq_mc_ref refs[FZ_SG_MAX];
    unsigned n;
    void *hva;
    int rc;

    if (p[0] & 0x08) {
        gpa = UINT64_MAX - (a & 0xffff);
    } else if (p[0] & 0x10) {
        gpa = IQ_MC_GRANT_BIT - 1 - (a & 0xffff);
    }
    if (p[0] & 0x40) {
        len = 0;
    }
    len = len > sizeof(f->buf) ? sizeof(f->buf) : len;
    switch (p[0] & 7) {
    case 6:
    case 7:
        gpa = IQ_MC_GRANT_BIT | (a % ((FZ_GRANT_PAGES + 2) * FZ_PG));
        break;
    default:
        break;
    }

    switch (p[0] & 7) {
    case 0:
    case 6:
        rc = (p[5] & 1) ? iq_mc_write(f->mc, gpa, f->buf, len)
                        : iq_mc_read(f->mc, gpa, f->buf, len);
        FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFAULT || rc == -EBUSY);
        FZ_CHECK(len != 0 || rc == 0);
        break;
    case 1:
        memset(f->buf, p[5], len);
        rc = iq_mc_write(f->mc, gpa, f->buf, len);
        FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFAULT || rc == -EBUSY);
        if (rc == 0 && len > 0) {
            FZ_CHECK(fz_expect(f, gpa) != NULL);
            FZ_CHECK(memcmp(fz_expect(f, gpa), f->buf, len) == 0);
        }
        break;
    case 2:
    case 7:
        if (f->npins == FZ_MAX_PINS) {
            break;
        }
        rc = iq_mc_pin(f->mc, gpa, len, prot, &f->pins[f->npins].ref, &hva);
        FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE || rc == -EFAULT ||
                 rc == -EBUSY);
        if (rc == 0) {
            struct fz_pin *pin = &f->pins[f->npins++];

            pin->hva = hva;
            pin->len = len;
            FZ_CHECK(fz_expect(f, gpa) == hva);
            if (prot == IQ_MC_WRITE) {
                memset(hva, p[5], len);
            }
        } else {
            FZ_CHECK(f->pins[f->npins].ref.entry == NULL);
        }
        break;
    case 3:
        if (f->npins > 0) {
            unsigned i = p[5] % f->npins;

            iq_mc_unpin(f->mc, &f->pins[i].ref);
            f->pins[i] = f->pins[--f->npins];
        }
        break;
    case 4:
        n = 99;
        rc = iq_mc_map_sg(f->mc, gpa, len, prot, iov, refs,
                          (unsigned)(p[5] >> 1) % (FZ_SG_MAX + 1), &n);
        if (rc == 0) {
            size_t off = 0;
            unsigned i;

            FZ_CHECK(n <= FZ_SG_MAX);
            for (i = 0; i < n; i++) {
                FZ_CHECK(iov[i].iov_base == fz_expect(f, gpa + off));
                off += iov[i].iov_len;
            }
            FZ_CHECK(off == len);
            iq_mc_unmap_sg(f->mc, refs, n);
        } else if (rc == -ENOBUFS) {
            FZ_CHECK(n > (unsigned)(p[5] >> 1) % (FZ_SG_MAX + 1));
        } else {
            FZ_CHECK(n == 0);
        }
        break;
    case 5:
        iq_mc_invalidate(f->mc);
        break;
    default:
        break;
    }
    fz_check(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *f;

    /* Guest errors are expected here: keep the fuzzer's output quiet. */
    iq_log_set_level(IQ_LOG_ERR);
    struct iq_mc_config cfg = {
        .cap_bytes = FZ_CAP,
        .bucket_shift = FZ_SHIFT,
        .foreign = &fz_mc_ops,
        .grant = &fz_mc_ops,
    };
    size_t i;

    if (size < 1) {
        return 0;
    }
    f = calloc(1, sizeof(*f));
    FZ_CHECK(f != NULL);
    f->ram.mem = calloc(FZ_RAM_PAGES, FZ_PG);
    f->gnt.mem = calloc(FZ_GRANT_PAGES, FZ_PG);
    FZ_CHECK(f->ram.mem != NULL && f->gnt.mem != NULL);
    f->ram.npages = FZ_RAM_PAGES;
    f->ram.hole = f->hole;
    f->gnt.npages = FZ_GRANT_PAGES;
    f->gnt.grant = true;
    for (i = 0; i < 8; i++) {
        f->hole[4 * i + 1] = (data[0] >> i) & 1;
    }
    cfg.foreign_opaque = &f->ram;
    cfg.grant_opaque = &f->gnt;
    FZ_CHECK(iq_mc_create(&cfg, &f->mc) == 0);

    for (i = 1; i + 6 <= size; i += 6) {
        fz_op(f, data + i);
    }
    while (f->npins > 0) {
        iq_mc_unpin(f->mc, &f->pins[--f->npins].ref);
    }
    fz_check(f);
    iq_mc_destroy(f->mc);
    FZ_CHECK(f->ram.nmaps == 0 && f->gnt.nmaps == 0);
    free(f->ram.mem);
    free(f->gnt.mem);
    free(f);
    return 0;
}
