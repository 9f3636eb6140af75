/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mapcache benchmark. Prints `BENCH <name> <value> <unit>` lines.
 *
 * "Guest RAM" is a sparse 1 GiB memfd (ftruncate only). The fake backend
 * maps each bucket with one mmap(MAP_SHARED) of the memfd at the bucket's
 * offset and unmaps it with munmap, so a miss costs a real mmap and, at
 * steady state, a real munmap of the evicted bucket, like a foreign map.
 * The hit-rate runs translate (pin + unpin) without touching the pages, so
 * the sparse file stays sparse; only the copy benchmark touches memory, and
 * only 4 MiB of it. mc_miss_ns maps without populating the page tables;
 * mc_miss_populate_ns adds MAP_POPULATE, closer to a foreign map.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ioreqd/mapcache.h"

#define RAM_BYTES (1ull << 30)
#define PAGE 4096ull

struct ram {
    int fd;
    int flags; /* extra mmap flags: MAP_POPULATE or 0 */
    uint64_t map_calls;
};

static void *
ram_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct ram *r = opaque;
    size_t i;
    void *va;

    r->map_calls++;
    for (i = 0; i < n; i++) {
        err[i] = 0;
        if (frames[i] != frames[0] + i || frames[i] >= RAM_BYTES / PAGE) {
            /* Not expected from the mapcache's foreign buckets. */
            for (i = 0; i < n; i++) {
                err[i] = -EFAULT;
            }
            return NULL;
        }
    }
    va = mmap(NULL, n * PAGE, prot, MAP_SHARED | r->flags, r->fd,
              (off_t)(frames[0] * PAGE));
    if (va == MAP_FAILED) {
        int e = -errno;

        for (i = 0; i < n; i++) {
            err[i] = e;
        }
        return NULL;
    }
    return va;
}

static int
ram_unmap(void *opaque, void *va, size_t n)
{
    (void)opaque;
    return munmap(va, n * PAGE) == 0 ? 0 : -errno;
}

static const struct iq_mc_backend_ops ram_mc_ops = {
    .map = ram_map,
    .unmap = ram_unmap,
};

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fixed seed, reproducible runs. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static struct iq_mc *
mc_open(struct ram *r, size_t cap)
{
    struct iq_mc_config cfg = {
        .cap_bytes = cap,
        .bucket_shift = 20,
        .foreign = &ram_mc_ops,
        .foreign_opaque = r,
    };
    struct iq_mc *mc = NULL;
    int rc = iq_mc_create(&cfg, &mc);

    if (rc < 0) {
        fprintf(stderr, "iq_mc_create: %s\n", strerror(-rc));
        exit(1);
    }
    return mc;
}

/* One 4 KiB translation: pin and release, as a request would. */
static void
translate(struct iq_mc *mc, gpa_t gpa)
{
    struct iq_mc_ref ref;
    void *hva;
    int rc = iq_mc_pin(mc, gpa, PAGE, IQ_MC_READ, &ref, &hva);

    if (rc < 0) {
        fprintf(stderr, "iq_mc_pin(0x%llx): %s\n", (unsigned long long)gpa,
                strerror(-rc));
        exit(1);
    }
    iq_mc_unpin(mc, &ref);
}

static void
bench_hit(struct ram *r)
{
    struct iq_mc *mc = mc_open(r, IQ_MC_DEFAULT_CAP);
    const unsigned n = 2000000;
    uint64_t seed = 1;
    uint64_t t0;
    uint64_t buf = 0;
    uint64_t sum = 0;
    unsigned i;

    /* 32 resident buckets, random pages among them (hash path). */
    for (i = 0; i < 32; i++) {
        translate(mc, (gpa_t)i << 20);
    }
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        translate(mc, (rnd(&seed) % (32ull << 20)) & ~(PAGE - 1));
    }
    printf("BENCH mc_hit_ns %.1f ns\n", (double)(now_ns() - t0) / n);

    /* Same bucket again and again (last-entry hint path). */
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        translate(mc, (gpa_t)(i % 256) * PAGE);
    }
    printf("BENCH mc_hit_same_bucket_ns %.1f ns\n",
           (double)(now_ns() - t0) / n);

    /* 8-byte copy-in on a hit, within 4 MiB (touches those pages only). */
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        if (iq_mc_read(mc, (rnd(&seed) % (4ull << 20)) & ~7ull, &buf,
                       sizeof(buf)) < 0) {
            exit(1);
        }
        sum += buf;
    }
    printf("BENCH mc_read8_hit_ns %.1f ns\n", (double)(now_ns() - t0) / n);
    if (sum != 0) {
        /* The memfd is all zeroes: anything else is a bug. */
        fprintf(stderr, "unexpected data\n");
        exit(1);
    }
    iq_mc_destroy(mc);
}

static void
bench_miss(struct ram *r)
{
    struct iq_mc *mc = mc_open(r, IQ_MC_DEFAULT_CAP);
    const unsigned n = 20000;
    struct iq_mc_stats st;
    uint64_t t0;
    unsigned i;

    /* Fill the cap first so every measured miss also evicts (munmap). */
    for (i = 0; i < 64; i++) {
        translate(mc, (gpa_t)i << 20);
    }
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        translate(mc, ((gpa_t)(64 + i % 960) << 20) + (i % 256) * PAGE);
    }
    printf("BENCH mc_miss_ns %.1f ns\n", (double)(now_ns() - t0) / n);
    iq_mc_get_stats(mc, &st);
    if (st.misses != 64 + n) {
        fprintf(stderr, "expected only misses\n");
        exit(1);
    }
    iq_mc_destroy(mc);

    /*
     * A real foreign map fills the page tables at once: the same with
     * MAP_POPULATE, cycling through 96 buckets (96 MiB of the memfd get
     * allocated, then released) so that LRU misses every time.
     */
    mc = mc_open(r, IQ_MC_DEFAULT_CAP);
    r->flags = MAP_POPULATE;
    for (i = 0; i < 64; i++) {
        translate(mc, (gpa_t)i << 20);
    }
    t0 = now_ns();
    for (i = 0; i < n / 4; i++) {
        translate(mc, (gpa_t)((64 + i) % 96) << 20);
    }
    printf("BENCH mc_miss_populate_ns %.1f ns\n",
           (double)(now_ns() - t0) / (n / 4));
    iq_mc_get_stats(mc, &st);
    if (st.misses != 64 + n / 4) {
        fprintf(stderr, "expected only misses\n");
        exit(1);
    }
    iq_mc_destroy(mc);
    r->flags = 0;
    if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  96ll << 20) < 0) {
        perror("fallocate");
        exit(1);
    }
}

static void
bench_hit_rate(struct ram *r, size_t cap, const char *tag)
{
    struct iq_mc *mc = mc_open(r, cap);
    const unsigned warm = 200000;
    const unsigned n = 1000000;
    struct iq_mc_stats a;
    struct iq_mc_stats b;
    uint64_t maps0;
    uint64_t seed = 42;
    unsigned i;

    for (i = 0; i < warm; i++) {
        translate(mc, (rnd(&seed) % RAM_BYTES) & ~(PAGE - 1));
    }
    iq_mc_get_stats(mc, &a);
    maps0 = r->map_calls;
    for (i = 0; i < n; i++) {
        translate(mc, (rnd(&seed) % RAM_BYTES) & ~(PAGE - 1));
    }
    iq_mc_get_stats(mc, &b);
    printf("BENCH mc_hit_rate_%s %.4f ratio\n", tag,
           (double)(b.hits - a.hits) /
               (double)((b.hits - a.hits) + (b.misses - a.misses)));
    printf("BENCH mc_map_calls_per_access_%s %.4f calls\n", tag,
           (double)(r->map_calls - maps0) / n);
    printf("BENCH mc_peak_bytes_%s %llu bytes\n", tag,
           (unsigned long long)b.bytes_mapped_peak);
    printf("BENCH mc_peak_ratio_%s %.4f ratio\n", tag,
           (double)b.bytes_mapped_peak / (double)cap);
    iq_mc_destroy(mc);
}

int
main(void)
{
    struct ram r = {.fd = -1};

    r.fd = memfd_create("bench-guest-ram", 0);
    if (r.fd < 0 || ftruncate(r.fd, (off_t)RAM_BYTES) < 0) {
        perror("memfd");
        return 1;
    }
    bench_hit(&r);
    bench_miss(&r);
    bench_hit_rate(&r, 64u << 20, "64m");
    bench_hit_rate(&r, 512u << 20, "512m");
    close(r.fd);
    return 0;
}
