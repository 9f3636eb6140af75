/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for mapcache/ against a fake backend: a memfd "guest RAM"
 * mapped page by page with mmap(MAP_SHARED | MAP_FIXED) so that prot is
 * real, with holes (per-page err[]), whole-call failures and unmap
 * failures, and a record of every live mapping and every call.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioreqd/mapcache.h"
#include "mapcache-internal.h"

#define PG 4096u
#define FAKE_MAX_MAPS 1024u
#define FAKE_UNMAP_LOG 256u

struct fake_map {
    unsigned char *va;
    size_t n;
    uint64_t frame0;
};

struct fake {
    int fd;
    size_t npages;
    unsigned char *view; /* the whole RAM, read-write */
    bool *hole;
    bool all_or_nothing; /* grant style: no per-page errors */
    bool fail_next_map;
    bool fail_next_unmap;
    unsigned map_calls;
    unsigned unmap_calls;
    size_t pages_mapped;
    int last_prot;
    uint64_t last_frame0;
    size_t last_n;
    uint64_t unmapped[FAKE_UNMAP_LOG]; /* frame0 of each unmap, in order */
    unsigned nunmapped;
    struct fake_map maps[FAKE_MAX_MAPS];
    unsigned nmaps;
};

static struct fake *
fake_new(size_t npages, bool all_or_nothing)
{
    struct fake *f = calloc(1, sizeof(*f));
    size_t i;

    assert_non_null(f);
    f->fd = memfd_create("fake-ram", 0);
    assert_true(f->fd >= 0);
    assert_int_equal(ftruncate(f->fd, (off_t)(npages * PG)), 0);
    f->npages = npages;
    f->view =
        mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    assert_true(f->view != MAP_FAILED);
    f->hole = calloc(npages, sizeof(*f->hole));
    assert_non_null(f->hole);
    f->all_or_nothing = all_or_nothing;
    for (i = 0; i < npages * PG; i++) {
        f->view[i] = (unsigned char)(i * 7 + i / PG);
    }
    return f;
}

static void
fake_free(struct fake *f)
{
    unsigned i;

    /* Leaked mappings (unmap failure test) are released here. */
    for (i = 0; i < f->nmaps; i++) {
        munmap(f->maps[i].va, f->maps[i].n * PG);
    }
    munmap(f->view, f->npages * PG);
    close(f->fd);
    free(f->hole);
    free(f);
}

static void *
fake_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct fake *f = opaque;
    unsigned char *base;
    bool any_bad = false;
    size_t i;

    f->map_calls++;
    f->last_prot = prot;
    f->last_frame0 = frames[0];
    f->last_n = n;
    if (f->fail_next_map) {
        f->fail_next_map = false;
        for (i = 0; i < n; i++) {
            err[i] = -EIO;
        }
        errno = EIO;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        bool bad = frames[i] >= f->npages || f->hole[frames[i]];

        err[i] = bad ? -ENOENT : 0;
        any_bad |= bad;
    }
    if (f->all_or_nothing && any_bad) {
        return NULL;
    }
    base = mmap(NULL, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    for (i = 0; i < n; i++) {
        void *p;

        if (err[i] != 0) {
            continue;
        }
        p = mmap(base + i * PG, PG, prot, MAP_SHARED | MAP_FIXED, f->fd,
                 (off_t)(frames[i] * PG));
        assert_true(p == base + i * PG);
    }
    assert_true(f->nmaps < FAKE_MAX_MAPS);
    f->maps[f->nmaps].va = base;
    f->maps[f->nmaps].n = n;
    f->maps[f->nmaps].frame0 = frames[0];
    f->nmaps++;
    f->pages_mapped += n;
    return base;
}

static int
fake_unmap(void *opaque, void *va, size_t n)
{
    struct fake *f = opaque;
    unsigned i;

    f->unmap_calls++;
    for (i = 0; i < f->nmaps; i++) {
        if (f->maps[i].va == va) {
            break;
        }
    }
    /* Must be a live mapping, unmapped with the n it was mapped with. */
    assert_true(i < f->nmaps);
    assert_int_equal(f->maps[i].n, n);
    if (f->fail_next_unmap) {
        f->fail_next_unmap = false;
        return -EIO;
    }
    if (f->nunmapped < FAKE_UNMAP_LOG) {
        f->unmapped[f->nunmapped++] = f->maps[i].frame0;
    }
    assert_int_equal(munmap(va, n * PG), 0);
    f->pages_mapped -= n;
    f->maps[i] = f->maps[--f->nmaps];
    return 0;
}

static const struct iq_mc_backend_ops fake_mc_ops = {
    .map = fake_map,
    .unmap = fake_unmap,
};

/* Bucket of 4 pages (16 KiB) unless the test says otherwise. */
#define SHIFT 14u
#define BKT (1u << SHIFT)

static struct iq_mc *
mc_new(struct fake *f, struct fake *g, size_t cap, unsigned shift)
{
    struct iq_mc_config cfg = {
        .cap_bytes = cap,
        .bucket_shift = shift,
        .foreign = &fake_mc_ops,
        .foreign_opaque = f,
        .grant = g != NULL ? &fake_mc_ops : NULL,
        .grant_opaque = g,
    };
    struct iq_mc *mc = NULL;

    assert_int_equal(iq_mc_create(&cfg, &mc), 0);
    assert_non_null(mc);
    return mc;
}

static struct iq_mc_stats
stats(const struct iq_mc *mc)
{
    struct iq_mc_stats st;

    iq_mc_get_stats(mc, &st);
    return st;
}

static void
test_create_config(void **state)
{
    struct fake *f = fake_new(16, false);
    struct iq_mc_backend_ops half = {.map = fake_map, .unmap = NULL};
    struct iq_mc_config cfg = {.foreign = &fake_mc_ops, .foreign_opaque = f};
    struct iq_mc *mc = NULL;

    (void)state;
    assert_int_equal(iq_mc_create(NULL, &mc), -EINVAL);
    assert_int_equal(iq_mc_create(&cfg, NULL), -EINVAL);
    cfg.foreign = NULL;
    assert_int_equal(iq_mc_create(&cfg, &mc), -EINVAL);
    cfg.foreign = &half;
    assert_int_equal(iq_mc_create(&cfg, &mc), -EINVAL);
    cfg.foreign = &fake_mc_ops;
    cfg.grant = &half;
    assert_int_equal(iq_mc_create(&cfg, &mc), -EINVAL);
    cfg.grant = NULL;
    cfg.bucket_shift = 11;
    assert_int_equal(iq_mc_create(&cfg, &mc), -EINVAL);
    cfg.bucket_shift = 25;
    assert_int_equal(iq_mc_create(&cfg, &mc), -EINVAL);
    cfg.bucket_shift = 16;
    cfg.cap_bytes = (1u << 16) - 1;
    assert_int_equal(iq_mc_create(&cfg, &mc), -EINVAL);
    assert_null(mc);

    /* Boundaries and defaults are accepted; nothing is mapped up front. */
    cfg.cap_bytes = 0;
    cfg.bucket_shift = 12;
    assert_int_equal(iq_mc_create(&cfg, &mc), 0);
    iq_mc_destroy(mc);
    cfg.bucket_shift = 24;
    assert_int_equal(iq_mc_create(&cfg, &mc), 0);
    iq_mc_destroy(mc);
    cfg.bucket_shift = 0;
    assert_int_equal(iq_mc_create(&cfg, &mc), 0);
    iq_mc_destroy(mc);
    assert_int_equal(f->map_calls, 0);
    iq_mc_destroy(NULL);
    fake_free(f);
}

/* Default geometry: 1 MiB buckets mapped with one 256-frame call. */
static void
test_default_bucket(void **state)
{
    struct fake *f = fake_new(512, false);
    struct iq_mc *mc = mc_new(f, NULL, 0, 0);
    uint8_t b[8];

    (void)state;
    assert_int_equal(iq_mc_read(mc, (1u << 20) + 5 * PG + 3, b, sizeof(b)), 0);
    assert_memory_equal(b, f->view + (1u << 20) + 5 * PG + 3, sizeof(b));
    assert_int_equal(f->map_calls, 1);
    assert_int_equal(f->last_n, 256);
    assert_int_equal(f->last_frame0, 256);
    assert_int_equal(f->last_prot, PROT_READ | PROT_WRITE);
    assert_int_equal(stats(mc).bytes_mapped, 1u << 20);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
touch(struct iq_mc *mc, gpa_t gpa)
{
    uint8_t b;

    assert_int_equal(iq_mc_read(mc, gpa, &b, 1), 0);
}

static void
test_lru_order(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_stats st;

    (void)state;
    touch(mc, 0 * BKT);
    touch(mc, 1 * BKT);
    touch(mc, 2 * BKT);
    touch(mc, 3 * BKT);
    assert_int_equal(f->map_calls, 4);
    touch(mc, 0 * BKT + 100); /* 0 becomes most recent: LRU is now 1 */
    assert_int_equal(f->map_calls, 4);
    touch(mc, 4 * BKT);
    assert_int_equal(f->unmap_calls, 1);
    assert_int_equal(f->unmapped[0], 1 * BKT / PG);
    touch(mc, 2 * BKT + PG); /* LRU order now: 3, 0, 4, 2 */
    touch(mc, 5 * BKT);
    touch(mc, 6 * BKT);
    assert_int_equal(f->unmap_calls, 3);
    assert_int_equal(f->unmapped[1], 3 * BKT / PG);
    assert_int_equal(f->unmapped[2], 0 * BKT / PG);
    st = stats(mc);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 7);
    assert_int_equal(st.evictions, 3);
    assert_int_equal(st.map_calls, 7);
    assert_int_equal(st.unmap_calls, 3);
    assert_int_equal(st.bytes_mapped, 4 * BKT);
    assert_int_equal(st.bytes_mapped_peak, 4 * BKT);
    assert_int_equal(f->pages_mapped * PG, st.bytes_mapped);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
test_pin_survives_pressure(void **state)
{
    struct fake *f = fake_new(256, false);
    struct iq_mc *mc = mc_new(f, NULL, 3 * BKT, SHIFT);
    struct iq_mc_ref ref;
    void *hva = NULL;
    unsigned i;

    (void)state;
    assert_int_equal(iq_mc_pin(mc, 2 * BKT + 10, 100, IQ_MC_WRITE, &ref, &hva),
                     0);
    assert_ptr_equal(hva != NULL, true);
    for (i = 0; i < 40; i++) {
        touch(mc, (gpa_t)(3 + i) * BKT);
        assert_true(stats(mc).bytes_mapped <= 3 * BKT);
    }
    for (i = 0; i < f->nunmapped; i++) {
        assert_true(f->unmapped[i] != 2 * BKT / PG);
    }
    /* Still the same live mapping of the same guest bytes. */
    memset(hva, 0xa5, 100);
    assert_int_equal(f->view[2 * BKT + 10], 0xa5);
    assert_int_equal(f->view[2 * BKT + 109], 0xa5);
    assert_int_equal(stats(mc).pins, 1);
    iq_mc_unpin(mc, &ref);
    assert_null(ref.entry);
    iq_mc_unpin(mc, &ref); /* a second unpin of a released ref: no-op */
    assert_int_equal(stats(mc).pins, 0);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
test_all_pinned_busy(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref refs[5];
    void *hva;
    uint8_t b = 0;
    unsigned i;

    (void)state;
    for (i = 0; i < 4; i++) {
        assert_int_equal(
            iq_mc_pin(mc, (gpa_t)i * BKT, 8, IQ_MC_READ, &refs[i], &hva), 0);
    }
    assert_int_equal(iq_mc_pin(mc, 4 * BKT, 8, IQ_MC_READ, &refs[4], &hva),
                     -EBUSY);
    assert_null(refs[4].entry);
    assert_int_equal(iq_mc_read(mc, 5 * BKT, &b, 1), -EBUSY);
    assert_int_equal(iq_mc_write(mc, 5 * BKT, &b, 1), -EBUSY);
    /* No map was even attempted and nothing was evicted. */
    assert_int_equal(f->map_calls, 4);
    assert_int_equal(f->unmap_calls, 0);
    assert_int_equal(stats(mc).busy, 3);
    assert_int_equal(stats(mc).bytes_mapped, 4 * BKT);
    /* A pinned bucket can still be used. */
    assert_int_equal(iq_mc_read(mc, 1 * BKT + 7, &b, 1), 0);
    assert_int_equal(b, f->view[1 * BKT + 7]);
    iq_mc_unpin(mc, &refs[2]);
    assert_int_equal(iq_mc_pin(mc, 4 * BKT, 8, IQ_MC_READ, &refs[4], &hva), 0);
    assert_int_equal(f->unmapped[0], 2 * BKT / PG);
    assert_int_equal(stats(mc).pins, 4);
    iq_mc_unpin(mc, &refs[0]);
    iq_mc_unpin(mc, &refs[1]);
    iq_mc_unpin(mc, &refs[3]);
    iq_mc_unpin(mc, &refs[4]);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
count_wake(void *opaque)
{
    (*(unsigned *)opaque)++;
}

/*
 * Back-pressure waiters: woken once when a pin really releases room, never
 * by temporary pins of the copy helpers or by a second pin of a pinned
 * entry; a cancelled waiter is never called.
 */
static void
test_busy_waiter(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref refs[5];
    unsigned woken = 0;
    unsigned woken2 = 0;
    struct iq_mc_waiter w = {.cb = count_wake, .opaque = &woken};
    struct iq_mc_waiter w2 = {.cb = count_wake, .opaque = &woken2};
    void *hva;
    uint8_t b = 0;
    unsigned i;

    (void)state;
    for (i = 0; i < 4; i++) {
        assert_int_equal(
            iq_mc_pin(mc, (gpa_t)i * BKT, 8, IQ_MC_READ, &refs[i], &hva), 0);
    }
    assert_int_equal(iq_mc_pin(mc, 4 * BKT, 8, IQ_MC_READ, &refs[4], &hva),
                     -EBUSY);
    iq_mc_wait(mc, &w);
    iq_mc_wait(mc, &w); /* registering twice is harmless */
    iq_mc_wait(mc, &w2);
    /* Temporary pins and extra pins of pinned entries: no wake-up. */
    assert_int_equal(iq_mc_read(mc, BKT + 3, &b, 1), 0);
    assert_int_equal(iq_mc_pin(mc, 8, 8, IQ_MC_READ, &refs[4], &hva), 0);
    iq_mc_unpin(mc, &refs[4]);
    assert_int_equal(woken, 0);
    assert_int_equal(woken2, 0);
    /* A cancelled waiter stays silent; the other is woken exactly once. */
    iq_mc_wait_cancel(mc, &w2);
    iq_mc_unpin(mc, &refs[2]);
    assert_int_equal(woken, 1);
    assert_int_equal(woken2, 0);
    /* Re-registered: a temporary pin of an idle bucket does not wake. */
    iq_mc_wait(mc, &w);
    assert_int_equal(iq_mc_read(mc, 2 * BKT + 5, &b, 1), 0);
    assert_int_equal(woken, 1);
    iq_mc_unpin(mc, &refs[3]);
    assert_int_equal(woken, 2);
    /* The retry succeeds now. */
    assert_int_equal(iq_mc_pin(mc, 4 * BKT, 8, IQ_MC_READ, &refs[4], &hva), 0);
    iq_mc_wait_cancel(mc, &w); /* not registered: no-op */
    iq_mc_wait_cancel(NULL, &w);
    iq_mc_unpin(mc, &refs[0]);
    iq_mc_unpin(mc, &refs[1]);
    iq_mc_unpin(mc, &refs[4]);
    assert_int_equal(woken, 2);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
test_pin_saturation(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref refs[4];
    void *hva;
    uint8_t b;
    unsigned i;

    (void)state;
    iq_mc_test_set_pin_limit(mc, 3);
    for (i = 0; i < 3; i++) {
        assert_int_equal(iq_mc_pin(mc, BKT + i, 1, IQ_MC_READ, &refs[i], &hva),
                         0);
    }
    /* Same entry: the fourth pin is refused, not wrapped. */
    assert_int_equal(iq_mc_pin(mc, BKT + 8, 1, IQ_MC_READ, &refs[3], &hva),
                     -EBUSY);
    assert_int_equal(iq_mc_read(mc, BKT, &b, 1), -EBUSY);
    assert_int_equal(stats(mc).busy, 2);
    assert_int_equal(stats(mc).pins, 3);
    /* Another entry is unaffected. */
    assert_int_equal(iq_mc_pin(mc, 2 * BKT, 1, IQ_MC_READ, &refs[3], &hva), 0);
    iq_mc_unpin(mc, &refs[3]);
    iq_mc_unpin(mc, &refs[0]);
    assert_int_equal(iq_mc_pin(mc, BKT + 8, 1, IQ_MC_READ, &refs[0], &hva), 0);
    for (i = 0; i < 3; i++) {
        iq_mc_unpin(mc, &refs[i]);
    }
    assert_int_equal(stats(mc).pins, 0);
    /* The real limit: the counter stops at UINT32_MAX. */
    iq_mc_test_set_pin_limit(mc, UINT32_MAX);
    assert_int_equal(iq_mc_read(mc, BKT, &b, 1), 0);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
test_invalidate_with_pins(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref old_ref;
    struct iq_mc_ref old_ref2;
    struct iq_mc_ref new_ref;
    void *old_hva;
    void *old_hva2;
    void *new_hva;

    (void)state;
    assert_int_equal(iq_mc_pin(mc, 16, 4, IQ_MC_WRITE, &old_ref, &old_hva), 0);
    assert_int_equal(iq_mc_pin(mc, 32, 4, IQ_MC_WRITE, &old_ref2, &old_hva2),
                     0);
    touch(mc, BKT);
    touch(mc, 2 * BKT);
    assert_int_equal(f->map_calls, 3);

    iq_mc_invalidate(mc);
    assert_int_equal(stats(mc).invalidations, 1);
    /* Unpinned entries are unmapped at once, the pinned one survives. */
    assert_int_equal(f->unmap_calls, 2);
    assert_int_equal(stats(mc).bytes_mapped, BKT);
    memcpy(old_hva, "abcd", 4);
    assert_memory_equal(f->view + 16, "abcd", 4);

    /* A new lookup never returns the stale entry: a fresh mapping. */
    assert_int_equal(iq_mc_pin(mc, 16, 4, IQ_MC_WRITE, &new_ref, &new_hva), 0);
    assert_int_equal(f->map_calls, 4);
    assert_ptr_not_equal(new_ref.entry, old_ref.entry);
    assert_ptr_not_equal(new_hva, old_hva);
    assert_memory_equal(new_hva, "abcd", 4);
    assert_int_equal(stats(mc).bytes_mapped, 2 * BKT);

    /* Unmapped exactly at the last unpin of the stale entry. */
    iq_mc_unpin(mc, &old_ref);
    assert_int_equal(f->unmap_calls, 2);
    iq_mc_unpin(mc, &old_ref2);
    assert_int_equal(f->unmap_calls, 3);
    assert_int_equal(f->unmapped[2], 0);
    assert_int_equal(stats(mc).bytes_mapped, BKT);
    /* The fresh entry stays cached after its unpin. */
    iq_mc_unpin(mc, &new_ref);
    assert_int_equal(f->unmap_calls, 3);
    touch(mc, 100);
    assert_int_equal(f->map_calls, 4);
    iq_mc_destroy(mc);
    assert_int_equal(f->unmap_calls, 4);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

/* True when the kernel refuses to store into `p` (read(2) gives EFAULT). */
static bool
not_writable(void *p)
{
    int fds[2];
    ssize_t r;
    bool ro;

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    r = read(fds[0], p, 1);
    ro = r < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return ro;
}

#define GADDR(ref, off) (IQ_MC_GRANT_BIT | ((uint64_t)(ref) << 12) | (off))

static void
test_grants_ro_rw(void **state)
{
    struct fake *f = fake_new(64, false);
    struct fake *g = fake_new(16, true);
    struct iq_mc *mc = mc_new(f, g, 4 * BKT, SHIFT);
    struct iq_mc_ref ro;
    struct iq_mc_ref rw;
    void *ro_hva;
    void *rw_hva;
    uint8_t buf[PG + 16];

    (void)state;
    assert_int_equal(iq_mc_pin(mc, GADDR(5, 8), 16, IQ_MC_READ, &ro, &ro_hva),
                     0);
    assert_int_equal(g->last_prot, PROT_READ);
    assert_int_equal(g->last_frame0, 5);
    assert_int_equal(g->last_n, 1);
    assert_memory_equal(ro_hva, g->view + 5 * PG + 8, 16);
    assert_true(not_writable(ro_hva));

    /* Same ref for writing: a separate read-write entry. */
    assert_int_equal(iq_mc_pin(mc, GADDR(5, 8), 16, IQ_MC_WRITE, &rw, &rw_hva),
                     0);
    assert_int_equal(g->last_prot, PROT_READ | PROT_WRITE);
    assert_ptr_not_equal(ro.entry, rw.entry);
    assert_ptr_not_equal(ro_hva, rw_hva);
    assert_false(not_writable(rw_hva));
    memcpy(rw_hva, "grant!", 6);
    assert_memory_equal(ro_hva, "grant!", 6);
    assert_int_equal(g->map_calls, 2);
    assert_int_equal(stats(mc).grant_maps, 2);
    assert_int_equal(stats(mc).map_calls, 0);
    assert_int_equal(stats(mc).bytes_mapped, 2 * PG);
    iq_mc_unpin(mc, &ro);
    iq_mc_unpin(mc, &rw);

    /* A grant pin may not cross its page; copies cross to ref + 1. */
    assert_int_equal(
        iq_mc_pin(mc, GADDR(5, PG - 4), 8, IQ_MC_READ, &ro, &ro_hva), -ERANGE);
    assert_int_equal(iq_mc_read(mc, GADDR(6, PG - 8), buf, 16), 0);
    assert_memory_equal(buf, g->view + 7 * PG - 8, 16);
    memset(buf, 0x3c, sizeof(buf));
    assert_int_equal(iq_mc_write(mc, GADDR(9, 4), buf, PG), 0);
    assert_memory_equal(g->view + 9 * PG + 4, buf, PG);
    assert_int_equal(g->last_prot, PROT_READ | PROT_WRITE);

    /* A revoked ref: the all-or-nothing map fails, -EFAULT. */
    g->hole[12] = true;
    assert_int_equal(iq_mc_read(mc, GADDR(12, 0), buf, 1), -EFAULT);
    assert_int_equal(iq_mc_read(mc, GADDR(100, 0), buf, 1), -EFAULT);

    /* Grants and buckets share the cap: fill it with buckets. */
    touch(mc, 0);
    touch(mc, BKT);
    touch(mc, 2 * BKT);
    touch(mc, 3 * BKT);
    assert_true(stats(mc).bytes_mapped <= 4 * BKT);
    assert_int_equal(f->pages_mapped * PG + g->pages_mapped * PG,
                     stats(mc).bytes_mapped);
    assert_int_equal(stats(mc).grant_unmaps, g->unmap_calls);
    assert_true(g->unmap_calls > 0);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps + g->nmaps, 0);
    fake_free(f);
    fake_free(g);
}

static void
test_grants_refused_without_backend(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref ref;
    struct iovec iov[2];
    struct iq_mc_ref refs[2];
    unsigned n = 7;
    uint8_t b;
    void *hva;

    (void)state;
    assert_int_equal(iq_mc_read(mc, GADDR(1, 0), &b, 1), -EFAULT);
    assert_int_equal(iq_mc_write(mc, GADDR(1, 0), &b, 1), -EFAULT);
    assert_int_equal(iq_mc_pin(mc, GADDR(1, 0), 1, IQ_MC_READ, &ref, &hva),
                     -EFAULT);
    assert_int_equal(
        iq_mc_map_sg(mc, GADDR(1, 0), 8, IQ_MC_READ, iov, refs, 2, &n),
        -EFAULT);
    assert_int_equal(n, 0);
    assert_int_equal(f->map_calls, 0);
    iq_mc_destroy(mc);
    fake_free(f);
}

static void
test_partial_map_failure(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref ref;
    uint8_t b[2 * PG];
    void *hva;

    (void)state;
    f->hole[2] = true; /* page 2 of bucket 0 */
    assert_int_equal(iq_mc_read(mc, PG + 5, b, 10), 0);
    assert_memory_equal(b, f->view + PG + 5, 10);
    assert_int_equal(f->map_calls, 1);
    assert_int_equal(stats(mc).bytes_mapped, BKT); /* whole bucket */

    /* Touching the hole: the unpinned entry is remapped once, still bad. */
    assert_int_equal(iq_mc_read(mc, 2 * PG + 5, b, 1), -EFAULT);
    assert_int_equal(f->map_calls, 2);
    assert_int_equal(iq_mc_read(mc, 2 * PG - 2, b, 4), -EFAULT);
    assert_int_equal(iq_mc_pin(mc, 2 * PG, 4, IQ_MC_READ, &ref, &hva), -EFAULT);
    assert_int_equal(iq_mc_write(mc, 3 * PG - 1, b, 2), -EFAULT);
    assert_int_equal(f->map_calls, 5);
    assert_int_equal(stats(mc).pins, 0);
    assert_int_equal(f->pages_mapped * PG, stats(mc).bytes_mapped);

    /* While pinned, a hole gives -EFAULT with no remap. */
    assert_int_equal(iq_mc_pin(mc, 3 * PG, 4, IQ_MC_READ, &ref, &hva), 0);
    assert_int_equal(iq_mc_read(mc, 2 * PG, b, 1), -EFAULT);
    assert_int_equal(f->map_calls, 5);
    iq_mc_unpin(mc, &ref);

    /* The guest populates the page: the next access remaps and works. */
    f->hole[2] = false;
    assert_int_equal(iq_mc_read(mc, PG, b, 2 * PG), 0);
    assert_memory_equal(b, f->view + PG, 2 * PG);
    assert_int_equal(f->map_calls, 6);

    /* Complete failure of the map call: nothing cached, nothing counted. */
    f->fail_next_map = true;
    assert_int_equal(iq_mc_read(mc, 5 * BKT, b, 1), -EFAULT);
    assert_int_equal(f->map_calls, 7);
    assert_int_equal(stats(mc).bytes_mapped, BKT);
    assert_int_equal(iq_mc_read(mc, 5 * BKT, b, 1), 0);
    assert_int_equal(f->map_calls, 8);

    /* Beyond guest RAM: all pages fail but the map returns non-NULL. */
    assert_int_equal(iq_mc_read(mc, 1000 * BKT, b, 1), -EFAULT);
    assert_int_equal(f->pages_mapped * PG, stats(mc).bytes_mapped);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
test_map_sg(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iovec iov[4];
    struct iq_mc_ref refs[4];
    gpa_t gpa = BKT - 100;
    size_t len = BKT + 200; /* buckets 0, 1 and 2 */
    unsigned n = 99;

    (void)state;
    assert_int_equal(iq_mc_map_sg(mc, gpa, len, IQ_MC_READ, iov, refs, 2, &n),
                     -ENOBUFS);
    assert_int_equal(n, 3);
    assert_int_equal(f->map_calls, 0);
    assert_int_equal(stats(mc).pins, 0);
    assert_int_equal(iq_mc_map_sg(mc, gpa, len, IQ_MC_READ, NULL, NULL, 0, &n),
                     -ENOBUFS);
    assert_int_equal(n, 3);

    assert_int_equal(iq_mc_map_sg(mc, gpa, len, IQ_MC_WRITE, iov, refs, 4, &n),
                     0);
    assert_int_equal(n, 3);
    assert_int_equal(iov[0].iov_len, 100);
    assert_int_equal(iov[1].iov_len, BKT);
    assert_int_equal(iov[2].iov_len, 100);
    assert_memory_equal(iov[0].iov_base, f->view + gpa, 100);
    assert_memory_equal(iov[1].iov_base, f->view + BKT, BKT);
    assert_memory_equal(iov[2].iov_base, f->view + 2 * BKT, 100);
    assert_int_equal(stats(mc).pins, 3);
    iq_mc_unmap_sg(mc, refs, n);
    assert_int_equal(stats(mc).pins, 0);

    /* Several pages of one bucket merge into one iovec. */
    assert_int_equal(
        iq_mc_map_sg(mc, 3 * BKT + 10, 3 * PG, IQ_MC_READ, iov, refs, 4, &n),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(iov[0].iov_len, 3 * PG);
    iq_mc_unmap_sg(mc, refs, n);

    /* Zero length maps nothing. */
    assert_int_equal(iq_mc_map_sg(mc, 0, 0, IQ_MC_READ, iov, refs, 4, &n), 0);
    assert_int_equal(n, 0);

    /* A failure midway leaves nothing pinned. */
    f->hole[4 * BKT / PG + 1] = true;
    assert_int_equal(
        iq_mc_map_sg(mc, 3 * BKT, 2 * BKT, IQ_MC_READ, iov, refs, 4, &n),
        -EFAULT);
    assert_int_equal(n, 0);
    assert_int_equal(stats(mc).pins, 0);

    /* More than the cap can hold at once: back-pressure, nothing pinned. */
    assert_int_equal(
        iq_mc_map_sg(mc, 10 * BKT, 4 * BKT + 1, IQ_MC_READ, NULL, NULL, 0, &n),
        -ENOBUFS);
    assert_int_equal(n, 5);
    {
        struct iovec big_iov[5];
        struct iq_mc_ref big_refs[5];

        assert_int_equal(iq_mc_map_sg(mc, 10 * BKT, 4 * BKT + 1, IQ_MC_READ,
                                      big_iov, big_refs, 5, &n),
                         -EBUSY);
        assert_int_equal(n, 0);
    }
    assert_int_equal(stats(mc).pins, 0);
    assert_true(stats(mc).bytes_mapped <= 4 * BKT);

    /* A huge range reports a clamped count and maps nothing. */
    assert_int_equal(
        iq_mc_map_sg(mc, 0, SIZE_MAX / 2, IQ_MC_READ, iov, refs, 4, &n),
        -ENOBUFS);
    assert_int_equal(n, UINT_MAX);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 0);
    fake_free(f);
}

static void
test_cross_bucket_copy(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 2 * BKT, SHIFT);
    static uint8_t out[3 * BKT];
    static uint8_t in[3 * BKT];
    gpa_t gpa = 5 * BKT - 3;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(i * 13 + 1);
    }
    /* 4 buckets with a cap of 2: the copy still works, chunk by chunk. */
    assert_int_equal(iq_mc_write(mc, gpa, out, sizeof(out)), 0);
    assert_memory_equal(f->view + gpa, out, sizeof(out));
    assert_int_equal(iq_mc_read(mc, gpa, in, sizeof(in)), 0);
    assert_memory_equal(in, out, sizeof(in));
    assert_int_equal(stats(mc).bytes_mapped_peak, 2 * BKT);
    assert_int_equal(stats(mc).pins, 0);
    /* Odd sizes and offsets in one bucket and across one boundary. */
    assert_int_equal(iq_mc_read(mc, 7 * BKT - 1, in, 2), 0);
    assert_memory_equal(in, f->view + 7 * BKT - 1, 2);
    iq_mc_destroy(mc);
    fake_free(f);
}

static void
test_bad_ranges(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 4 * BKT, SHIFT);
    struct iq_mc_ref ref;
    struct iovec iov[2];
    struct iq_mc_ref refs[2];
    uint8_t b[8] = {0};
    unsigned n;
    void *hva;

    (void)state;
    /* Zero-length copies are no-ops, whatever the address. */
    assert_int_equal(iq_mc_read(mc, UINT64_MAX, b, 0), 0);
    assert_int_equal(iq_mc_write(mc, UINT64_MAX, b, 0), 0);
    assert_int_equal(iq_mc_read(mc, GADDR(1, 0), b, 0), 0);
    /* Wrapping. */
    assert_int_equal(iq_mc_read(mc, UINT64_MAX - 2, b, 4), -EINVAL);
    assert_int_equal(iq_mc_write(mc, UINT64_MAX - 2, b, 4), -EINVAL);
    assert_int_equal(iq_mc_read(mc, 16, b, SIZE_MAX), -EINVAL);
    assert_int_equal(iq_mc_pin(mc, UINT64_MAX, 2, IQ_MC_READ, &ref, &hva),
                     -EINVAL);
    assert_int_equal(
        iq_mc_map_sg(mc, UINT64_MAX - 2, 4, IQ_MC_READ, iov, refs, 2, &n),
        -EINVAL);
    /* From guest-physical into grant space. */
    assert_int_equal(iq_mc_read(mc, IQ_MC_GRANT_BIT - 2, b, 4), -EINVAL);
    assert_int_equal(
        iq_mc_map_sg(mc, IQ_MC_GRANT_BIT - 2, 4, IQ_MC_READ, iov, refs, 2, &n),
        -EINVAL);
    /* Pin rules. */
    assert_int_equal(iq_mc_pin(mc, 0, 0, IQ_MC_READ, &ref, &hva), -EINVAL);
    assert_int_equal(iq_mc_pin(mc, BKT - 4, 8, IQ_MC_READ, &ref, &hva),
                     -ERANGE);
    assert_int_equal(iq_mc_pin(mc, 0, 8, (enum iq_mc_prot)2, &ref, &hva),
                     -EINVAL);
    assert_int_equal(iq_mc_pin(mc, 0, BKT, IQ_MC_READ, &ref, &hva), 0);
    iq_mc_unpin(mc, &ref);
    assert_int_equal(f->map_calls, 1);
    /* The last byte below the grant space is addressable (and a hole). */
    assert_int_equal(iq_mc_read(mc, IQ_MC_GRANT_BIT - 1, b, 1), -EFAULT);
    assert_int_equal(stats(mc).pins, 0);
    iq_mc_destroy(mc);
    fake_free(f);
}

static void
test_unmap_failure_keeps_bytes(void **state)
{
    struct fake *f = fake_new(64, false);
    struct iq_mc *mc = mc_new(f, NULL, 2 * BKT, SHIFT);

    (void)state;
    touch(mc, 0);
    touch(mc, BKT);
    f->fail_next_unmap = true;
    touch(mc, 2 * BKT); /* evicting bucket 0 fails, bucket 1 goes too */
    assert_int_equal(f->unmap_calls, 2);
    assert_int_equal(stats(mc).bytes_mapped, 2 * BKT);
    assert_int_equal(f->pages_mapped * PG, stats(mc).bytes_mapped);
    touch(mc, 3 * BKT);
    assert_int_equal(stats(mc).bytes_mapped, 2 * BKT);
    iq_mc_destroy(mc);
    assert_int_equal(f->nmaps, 1); /* the leaked one; fake_free unmaps it */
    fake_free(f);
}

/* xorshift64*: deterministic, local state. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

#define RS_PAGES 96u
#define RS_CAP_BKTS 5u
#define RS_MAX_PINS 8u

struct rs_pin {
    struct iq_mc_ref ref;
    unsigned char *hva;
    gpa_t gpa;
    size_t len;
};

struct rs {
    struct fake *f;
    struct iq_mc *mc;
    uint8_t *ref; /* reference copy of guest RAM */
    struct rs_pin pins[RS_MAX_PINS];
    unsigned npins;
    uint64_t seed;
};

static bool
range_has_hole(const struct fake *f, gpa_t gpa, size_t len)
{
    uint64_t p;

    for (p = gpa / PG; p <= (gpa + len - 1) / PG; p++) {
        if (p >= f->npages || f->hole[p]) {
            return true;
        }
    }
    return false;
}

/* Distinct entries pinned now: busy is only allowed when they fill the cap. */
static unsigned
rs_pinned_entries(const struct rs *r)
{
    unsigned i;
    unsigned j;
    unsigned d = 0;

    for (i = 0; i < r->npins; i++) {
        for (j = 0; j < i; j++) {
            if (r->pins[j].ref.entry == r->pins[i].ref.entry) {
                break;
            }
        }
        d += j == i;
    }
    return d;
}

static void
rs_check_busy_allowed(const struct rs *r, unsigned more)
{
    assert_true((rs_pinned_entries(r) + more) * BKT > RS_CAP_BKTS * BKT);
}

static void
rs_step(struct rs *r)
{
    uint64_t x = rnd(&r->seed);
    unsigned op = (unsigned)(x % 100);
    size_t ram = RS_PAGES * PG;
    gpa_t gpa = (rnd(&r->seed) % (ram + 2 * PG));
    size_t len = 1 + (size_t)(rnd(&r->seed) % (2 * BKT));
    uint8_t buf[2 * BKT];
    int rc;

    if (op < 30) {
        rc = iq_mc_read(r->mc, gpa, buf, len);
        if (range_has_hole(r->f, gpa, len)) {
            assert_true(rc == -EFAULT || rc == -EBUSY);
        } else if (rc == -EBUSY) {
            rs_check_busy_allowed(r, 1);
        } else {
            assert_int_equal(rc, 0);
            assert_memory_equal(buf, r->ref + gpa, len);
        }
    } else if (op < 55) {
        size_t i;

        for (i = 0; i < len; i++) {
            buf[i] = (uint8_t)rnd(&r->seed);
        }
        rc = iq_mc_write(r->mc, gpa, buf, len);
        if (rc == 0) {
            assert_false(range_has_hole(r->f, gpa, len));
            memcpy(r->ref + gpa, buf, len);
        } else {
            assert_true(rc == -EFAULT || rc == -EBUSY);
            if (rc == -EBUSY) {
                rs_check_busy_allowed(r, 1);
            }
            /* A failed write may have stored a prefix: resync. */
            for (i = 0; i < len && gpa + i < ram; i++) {
                if (!r->f->hole[(gpa + i) / PG]) {
                    r->ref[gpa + i] = r->f->view[gpa + i];
                }
            }
        }
    } else if (op < 72 && r->npins < RS_MAX_PINS) {
        struct rs_pin *p = &r->pins[r->npins];
        size_t plen = 1 + (size_t)(rnd(&r->seed) % 64);
        void *hva;

        gpa = rnd(&r->seed) % (ram - 64);
        rc = iq_mc_pin(r->mc, gpa, plen, IQ_MC_WRITE, &p->ref, &hva);
        if (gpa / BKT != (gpa + plen - 1) / BKT) {
            assert_int_equal(rc, -ERANGE);
        } else if (range_has_hole(r->f, gpa, plen)) {
            assert_true(rc == -EFAULT || rc == -EBUSY);
        } else if (rc == -EBUSY) {
            rs_check_busy_allowed(r, 1);
        } else {
            assert_int_equal(rc, 0);
            assert_memory_equal(hva, r->ref + gpa, plen);
            /* Write through the pin now; checked by later reads. */
            memset(hva, (int)(x >> 32) & 0xff, plen);
            memset(r->ref + gpa, (int)(x >> 32) & 0xff, plen);
            p->hva = hva;
            p->gpa = gpa;
            p->len = plen;
            r->npins++;
        }
    } else if (op < 90) {
        if (r->npins > 0) {
            unsigned i = (unsigned)(rnd(&r->seed) % r->npins);

            assert_memory_equal(r->pins[i].hva, r->ref + r->pins[i].gpa,
                                r->pins[i].len);
            iq_mc_unpin(r->mc, &r->pins[i].ref);
            r->pins[i] = r->pins[--r->npins];
        }
    } else if (op < 97) {
        struct iovec iov[3];
        struct iq_mc_ref refs[3];
        unsigned n = 0;
        unsigned need = (unsigned)((gpa + len - 1) / BKT - gpa / BKT + 1);

        rc = iq_mc_map_sg(r->mc, gpa, len, IQ_MC_READ, iov, refs, 3, &n);
        if (rc == 0) {
            size_t off = 0;
            unsigned i;

            assert_int_equal(n, need);
            for (i = 0; i < n; i++) {
                assert_memory_equal(iov[i].iov_base, r->ref + gpa + off,
                                    iov[i].iov_len);
                off += iov[i].iov_len;
            }
            assert_int_equal(off, len);
            iq_mc_unmap_sg(r->mc, refs, n);
        } else if (rc == -EBUSY) {
            assert_int_equal(n, 0);
            rs_check_busy_allowed(r, need);
        } else {
            assert_int_equal(rc, -EFAULT);
            assert_int_equal(n, 0);
            assert_true(range_has_hole(r->f, gpa, len));
        }
    } else {
        iq_mc_invalidate(r->mc);
    }
}

static void
test_random_sequence(void **state)
{
    struct rs r = {.seed = 0x9e3779b97f4a7c15ull};
    struct iq_mc_stats st;
    unsigned step;
    unsigned i;

    (void)state;
    r.f = fake_new(RS_PAGES, false);
    r.f->hole[13] = true;
    r.f->hole[40] = true;
    r.f->hole[41] = true;
    r.mc = mc_new(r.f, NULL, RS_CAP_BKTS * BKT, SHIFT);
    r.ref = malloc(RS_PAGES * PG);
    assert_non_null(r.ref);
    memcpy(r.ref, r.f->view, RS_PAGES * PG);

    for (step = 0; step < 20000; step++) {
        rs_step(&r);
        st = stats(r.mc);
        assert_true(st.bytes_mapped <= RS_CAP_BKTS * BKT);
        assert_int_equal(st.bytes_mapped, r.f->pages_mapped * PG);
        assert_int_equal(st.pins, r.npins);
        /* Every pin's bucket is still mapped: its bytes are the RAM. */
        if (step % 64 == 0) {
            for (i = 0; i < r.npins; i++) {
                assert_memory_equal(r.pins[i].hva, r.f->view + r.pins[i].gpa,
                                    r.pins[i].len);
            }
        }
    }
    st = stats(r.mc);
    assert_true(st.bytes_mapped_peak <= RS_CAP_BKTS * BKT);
    assert_true(st.evictions > 0);
    assert_true(st.busy > 0 || st.invalidations > 0);
    while (r.npins > 0) {
        iq_mc_unpin(r.mc, &r.pins[--r.npins].ref);
    }
    for (i = 0; i < RS_PAGES; i++) {
        if (!r.f->hole[i]) {
            assert_memory_equal(r.f->view + i * PG, r.ref + i * PG, PG);
        }
    }
    iq_mc_destroy(r.mc);
    assert_int_equal(r.f->nmaps, 0);
    assert_int_equal(r.f->map_calls, r.f->unmap_calls);
    free(r.ref);
    fake_free(r.f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_config),
        cmocka_unit_test(test_default_bucket),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_pin_survives_pressure),
        cmocka_unit_test(test_all_pinned_busy),
        cmocka_unit_test(test_pin_saturation),
        cmocka_unit_test(test_invalidate_with_pins),
        cmocka_unit_test(test_grants_ro_rw),
        cmocka_unit_test(test_grants_refused_without_backend),
        cmocka_unit_test(test_partial_map_failure),
        cmocka_unit_test(test_map_sg),
        cmocka_unit_test(test_cross_bucket_copy),
        cmocka_unit_test(test_bad_ranges),
        cmocka_unit_test(test_unmap_failure_keeps_bytes),
        cmocka_unit_test(test_random_sequence),
        cmocka_unit_test(test_busy_waiter),
    };

    return cmocka_run_group_tests_name("mapcache", tests, NULL, NULL);
}
