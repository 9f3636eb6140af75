/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk through the real virtio engine and register file, the real
 * mapcache over flat fake RAM, and mem or file storage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk-harness.h"
#include "ioreqd/virtio-blk.h"
#include "ioreqd/virtio.h"

#define DISK_SIZE (1u << 20)
#define CAPACITY (DISK_SIZE / 512)

#define S_OK IQ_VIRTIO_BLK_S_OK
#define S_IOERR IQ_VIRTIO_BLK_S_IOERR
#define S_UNSUPP IQ_VIRTIO_BLK_S_UNSUPP

struct tst {
    struct bh h;
    struct iq_storage *sto;
    char path[64];
    int fd;
};

static int
setup(void **state)
{
    struct tst *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    t->fd = -1;
    assert_int_equal(bh_init(&t->h), 0);
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    struct tst *t = *state;
    struct iq_mc_stats st;

    if (t->h.mc != NULL) {
        /* Every request released its pins. */
        iq_virtio_blk_destroy(t->h.blk);
        t->h.blk = NULL;
        iq_mc_get_stats(t->h.mc, &st);
        assert_int_equal(st.pins, 0);
    }
    /* The storage uses the loop: destroy it first. */
    iq_storage_destroy(t->sto);
    bh_fini(&t->h);
    if (t->fd >= 0) {
        close(t->fd);
        unlink(t->path);
    }
    free(t);
    return 0;
}

static void
start_mem(struct tst *t, struct bh_opts *o)
{
    assert_int_equal(iq_storage_open_mem(t->h.loop, DISK_SIZE, NULL, &t->sto),
                     0);
    o->storage = t->sto;
    assert_int_equal(bh_start(&t->h, o), 0);
}

static void
start_file(struct tst *t, struct bh_opts *o, bool no_uring)
{
    struct iq_storage_opts so = {.no_uring = no_uring, .nr_queues = 2};

    strcpy(t->path, "/tmp/iq-blk-XXXXXX");
    t->fd = mkstemp(t->path);
    assert_true(t->fd >= 0);
    assert_int_equal(ftruncate(t->fd, DISK_SIZE), 0);
    assert_int_equal(iq_storage_open_file(t->h.loop, t->path, &so, &t->sto), 0);
    o->storage = t->sto;
    assert_int_equal(bh_start(&t->h, o), 0);
}

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 13);
    }
}

static bool
all_eq(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != v) {
            return false;
        }
    }
    return true;
}

/* A 16-byte discard/write-zeroes segment in guest RAM. */
static uint64_t
seg(struct tst *t, uint64_t sector, uint32_t num, uint32_t flags)
{
    uint64_t g = bh_alloc(&t->h, 16, 16);
    uint8_t *p = bh_ptr(&t->h, g);

    sector = htole64(sector);
    num = htole32(num);
    flags = htole32(flags);
    memcpy(p, &sector, 8);
    memcpy(p + 8, &num, 4);
    memcpy(p + 12, &flags, 4);
    return g;
}

static int
blk(struct tst *t, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len,
    bool in, uint32_t *used)
{
    return bh_blk(&t->h, 0, type, sector, gpa, len, in, used);
}

static void
rw_roundtrip(struct tst *t)
{
    uint64_t w = bh_alloc(&t->h, 8192, 4096);
    uint64_t r = bh_alloc(&t->h, 8192, 4096);
    uint32_t used = 0;
    struct iq_virtio_blk_stats st;

    fill(bh_ptr(&t->h, w), 8192, 1);
    memset(bh_ptr(&t->h, r), 0, 8192);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 8, w, 8192, false, &used),
                     S_OK);
    assert_int_equal(used, 1);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 8, r, 8192, true, &used), S_OK);
    assert_int_equal(used, 8193);
    assert_memory_equal(bh_ptr(&t->h, r), bh_ptr(&t->h, w), 8192);
    iq_virtio_blk_get_stats(t->h.blk, &st);
    assert_int_equal(st.reqs, 2);
    assert_int_equal(st.write_bytes, 8192);
    assert_int_equal(st.read_bytes, 8192);
    assert_int_equal(st.ioerr, 0);
}

static void
t_rw_mem(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};

    start_mem(t, &o);
    rw_roundtrip(t);
}

static void
rw_file(struct tst *t, bool no_uring)
{
    struct bh_opts o = {0};
    uint8_t chk[8192];
    uint8_t want[8192];

    start_file(t, &o, no_uring);
    rw_roundtrip(t);
    /* The data is in the file itself. */
    assert_int_equal(pread(t->fd, chk, sizeof(chk), 8 * 512), sizeof(chk));
    fill(want, sizeof(want), 1);
    assert_memory_equal(chk, want, sizeof(want));
}

static void
t_rw_file_uring(void **state)
{
    rw_file(*state, false);
}

static void
t_rw_file_threads(void **state)
{
    rw_file(*state, true);
}

static void
t_flush(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct iq_virtio_blk_stats st;

    start_mem(t, &o);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), S_OK);
    iq_virtio_blk_get_stats(t->h.blk, &st);
    assert_int_equal(st.flushes, 1);
}

static void
t_discard(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    uint64_t d = bh_alloc(&t->h, 4096, 4096);
    uint64_t two;
    uint8_t *p;

    start_mem(t, &o);
    assert_true(t->h.features & (1ull << IQ_VIRTIO_BLK_F_DISCARD));
    memset(bh_ptr(&t->h, d), 0x5a, 4096);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 4096, false, NULL),
                     S_OK);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0, seg(t, 2, 4, 0), 16, false, NULL),
        S_OK);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 4096, true, NULL), S_OK);
    p = bh_ptr(&t->h, d);
    assert_true(all_eq(p, 1024, 0x5a));
    assert_true(all_eq(p + 1024, 2048, 0));
    assert_true(all_eq(p + 3072, 1024, 0x5a));

    /* UNMAP on a discard and unknown flags: UNSUPP (5.2.6.2). */
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0,
                         seg(t, 0, 1, IQ_VIRTIO_BLK_WZ_FLAG_UNMAP), 16, false,
                         NULL),
                     S_UNSUPP);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0, seg(t, 0, 1, 2), 16, false, NULL),
        S_UNSUPP);
    /* More segments than max_discard_seg (1). */
    two = seg(t, 0, 1, 0);
    (void)seg(t, 1, 1, 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0, two, 32, false, NULL),
                     S_UNSUPP);
    /* A partial segment, and ranges beyond the capacity or the maximum. */
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0, seg(t, 0, 1, 0), 8, false, NULL),
        S_IOERR);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0,
                         seg(t, CAPACITY - 1, 2, 0), 16, false, NULL),
                     S_IOERR);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0,
                         seg(t, UINT64_MAX, 1, 0), 16, false, NULL),
                     S_IOERR);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0,
                         seg(t, 0, IQ_VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0),
                         16, false, NULL),
                     S_IOERR);
    /* The last sector is in range. */
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0,
                         seg(t, CAPACITY - 1, 1, 0), 16, false, NULL),
                     S_OK);
}

static void
t_write_zeroes(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    uint64_t d = bh_alloc(&t->h, 4096, 4096);
    uint8_t *p;

    start_mem(t, &o);
    assert_true(t->h.features & (1ull << IQ_VIRTIO_BLK_F_WRITE_ZEROES));
    assert_int_equal(bh_cfg_rd(&t->h, IQ_VIRTIO_BLK_CFG_WZ_MAY_UNMAP, 1), 1);
    memset(bh_ptr(&t->h, d), 0xa5, 4096);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 4096, false, NULL),
                     S_OK);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_WRITE_ZEROES, 0, seg(t, 1, 2, 0),
                         16, false, NULL),
                     S_OK);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_WRITE_ZEROES, 0,
                         seg(t, 5, 1, IQ_VIRTIO_BLK_WZ_FLAG_UNMAP), 16, false,
                         NULL),
                     S_OK);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 4096, true, NULL), S_OK);
    p = bh_ptr(&t->h, d);
    assert_true(all_eq(p, 512, 0xa5));
    assert_true(all_eq(p + 512, 1024, 0));
    assert_true(all_eq(p + 1536, 1024, 0xa5));
    assert_true(all_eq(p + 2560, 512, 0));
    assert_true(all_eq(p + 3072, 1024, 0xa5));
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_WRITE_ZEROES, 0, seg(t, 0, 1, 4),
                         16, false, NULL),
                     S_UNSUPP);
}

static void
t_feature_not_negotiated(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {
        .refuse = (1ull << IQ_VIRTIO_BLK_F_DISCARD) |
                  (1ull << IQ_VIRTIO_BLK_F_WRITE_ZEROES),
    };

    start_mem(t, &o);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0, seg(t, 0, 1, 0), 16, false, NULL),
        S_UNSUPP);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_WRITE_ZEROES, 0, seg(t, 0, 1, 0),
                         16, false, NULL),
                     S_UNSUPP);
}

static void
t_get_id(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {.serial = "IQ-SERIAL-0123456789-TOOLONG"};
    uint64_t d = bh_alloc(&t->h, 32, 16);
    uint32_t used = 0;
    uint8_t *p = bh_ptr(&t->h, d);

    start_mem(t, &o);
    memset(p, 0xff, 32);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_GET_ID, 0, d, 20, true, &used),
                     S_OK);
    assert_int_equal(used, 21);
    /* 20 bytes, not NUL-terminated when full. */
    assert_memory_equal(p, "IQ-SERIAL-0123456789", 20);
    assert_int_equal(p[20], 0xff);
    /* A shorter buffer gets what fits. */
    memset(p, 0xff, 32);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_GET_ID, 0, d, 4, true, &used),
                     S_OK);
    assert_int_equal(used, 5);
    assert_memory_equal(p, "IQ-S", 4);
    assert_int_equal(p[4], 0xff);
}

static void
t_get_id_short_serial(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {.serial = "abc"};
    uint64_t d = bh_alloc(&t->h, 32, 16);
    uint8_t *p = bh_ptr(&t->h, d);

    start_mem(t, &o);
    memset(p, 0xff, 32);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_GET_ID, 0, d, 20, true, NULL),
                     S_OK);
    assert_memory_equal(p, "abc", 3);
    assert_true(all_eq(p + 3, 17, 0));
}

static void
t_readonly(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {.readonly = true};
    uint64_t d = bh_alloc(&t->h, 512, 512);

    start_mem(t, &o);
    assert_true(t->h.features & (1ull << IQ_VIRTIO_BLK_F_RO));
    assert_false(t->h.features & (1ull << IQ_VIRTIO_BLK_F_DISCARD));
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 512, false, NULL),
                     S_IOERR);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_DISCARD, 0, seg(t, 0, 1, 0), 16, false, NULL),
        S_IOERR);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_WRITE_ZEROES, 0, seg(t, 0, 1, 0),
                         16, false, NULL),
                     S_IOERR);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 512, true, NULL), S_OK);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), S_OK);
}

static void
t_range(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    uint64_t d = bh_alloc(&t->h, 1024, 512);

    start_mem(t, &o);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, CAPACITY, d, 512, true, NULL),
                     S_IOERR);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_IN, CAPACITY - 1, d, 1024, true, NULL), S_IOERR);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, d, 512, false, NULL),
        S_IOERR);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_OUT, UINT64_MAX, d, 512, false, NULL), S_IOERR);
    /* Data length not a multiple of 512. */
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 100, false, NULL),
                     S_IOERR);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 513, true, NULL),
                     S_IOERR);
    assert_int_equal(
        blk(t, IQ_VIRTIO_BLK_T_IN, CAPACITY - 1, d, 512, true, NULL), S_OK);
    /* Zero-length read at the end is fine. */
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, CAPACITY, d, 0, true, NULL),
                     S_OK);
}

static void
t_unsupp(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    uint64_t d = bh_alloc(&t->h, 512, 512);

    start_mem(t, &o);
    assert_int_equal(blk(t, 99, 0, d, 512, true, NULL), S_UNSUPP);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_GET_LIFETIME, 0, d, 12, true, NULL),
                     S_UNSUPP);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_SECURE_ERASE, 0, seg(t, 0, 1, 0),
                         16, false, NULL),
                     S_UNSUPP);
    assert_int_equal(blk(t, UINT32_MAX, 0, 0, 0, false, NULL), S_UNSUPP);
}

static void
put_hdr(uint8_t *p, uint32_t type, uint64_t sector)
{
    type = htole32(type);
    sector = htole64(sector);
    memcpy(p, &type, 4);
    memset(p + 4, 0, 4);
    memcpy(p + 8, &sector, 8);
}

static void
t_split_layouts(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t a = bh_alloc(h, 8, 8);
    uint64_t b = bh_alloc(h, 64, 64) + 32; /* not adjacent to a */
    uint64_t data = bh_alloc(h, 512, 512);
    uint64_t st = bh_alloc(h, 1, 1);
    uint64_t big = bh_alloc(h, 16 + 512, 16);
    uint64_t rd = bh_alloc(h, 513, 16);
    uint8_t hdr[16];
    uint32_t used = 0;

    start_mem(t, &o);
    /* Header split 8 + 8 across two descriptors. */
    put_hdr(hdr, IQ_VIRTIO_BLK_T_OUT, 3);
    memcpy(bh_ptr(h, a), hdr, 8);
    memcpy(bh_ptr(h, b), hdr + 8, 8);
    fill(bh_ptr(h, data), 512, 7);
    {
        struct bh_buf c[4] = {
            {a, 8, false},
            {b, 8, false},
            {data, 512, false},
            {st, 1, true},
        };

        *(uint8_t *)bh_ptr(h, st) = 0xee;
        assert_int_equal(bh_submit(h, 0, c, 4), 0);
        assert_int_equal(bh_wait(h, 0, 100, 100, NULL, &used), 0);
        assert_int_equal(*(uint8_t *)bh_ptr(h, st), S_OK);
    }
    /* Header and data in one descriptor; data and status in one. */
    put_hdr(bh_ptr(h, big), IQ_VIRTIO_BLK_T_IN, 3);
    memset(bh_ptr(h, rd), 0xee, 513);
    {
        struct bh_buf c[2] = {{big, 16, false}, {rd, 513, true}};

        assert_int_equal(bh_submit(h, 0, c, 2), 0);
        assert_int_equal(bh_wait(h, 0, 100, 100, NULL, &used), 0);
        assert_int_equal(used, 513);
        assert_int_equal(((uint8_t *)bh_ptr(h, rd))[512], S_OK);
        assert_memory_equal(bh_ptr(h, rd), bh_ptr(h, data), 512);
    }
    put_hdr(bh_ptr(h, big), IQ_VIRTIO_BLK_T_OUT, 4);
    fill((uint8_t *)bh_ptr(h, big) + 16, 512, 9);
    {
        struct bh_buf c[2] = {{big, 16 + 512, false}, {st, 1, true}};

        assert_int_equal(bh_submit(h, 0, c, 2), 0);
        assert_int_equal(bh_wait(h, 0, 100, 100, NULL, &used), 0);
        assert_int_equal(*(uint8_t *)bh_ptr(h, st), S_OK);
    }
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 4, data, 512, true, NULL),
                     S_OK);
    assert_memory_equal(bh_ptr(h, data), (uint8_t *)bh_ptr(h, big) + 16, 512);
}

static void
t_short_header(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t a = bh_alloc(h, 16, 16);
    uint64_t st = bh_alloc(h, 1, 1);
    struct bh_buf c[2] = {{a, 8, false}, {st, 1, true}};

    start_mem(t, &o);
    put_hdr(bh_ptr(h, a), IQ_VIRTIO_BLK_T_FLUSH, 0);
    assert_int_equal(bh_submit(h, 0, c, 2), 0);
    assert_int_equal(bh_wait(h, 0, 100, 100, NULL, NULL), 0);
    assert_int_equal(*(uint8_t *)bh_ptr(h, st), S_IOERR);
}

static void
t_no_status(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t a = bh_alloc(h, 16, 16);
    uint64_t d = bh_alloc(h, 512, 512);
    struct bh_buf c[2] = {{a, 16, false}, {d, 512, false}};

    start_mem(t, &o);
    put_hdr(bh_ptr(h, a), IQ_VIRTIO_BLK_T_OUT, 0);
    assert_int_equal(bh_submit(h, 0, c, 2), 0);
    assert_int_equal(bh_wait(h, 0, 5, 0, NULL, NULL), -ETIMEDOUT);
    assert_true(iq_virtio_status(h->dev) & IQ_VIRTIO_S_NEEDS_RESET);
    assert_int_equal(bh_used_pending(h, 0), 0);
    /* After a driver reset the device works again. */
    assert_int_equal(bh_reinit(h), 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 512, true, NULL), S_OK);
}

static void
t_config(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {.num_queues = 2};
    struct bh *h = &t->h;
    uint64_t d = bh_alloc(h, 512, 512);

    start_mem(t, &o);
    assert_int_equal(bh_rd(h, 0x008), IQ_VIRTIO_ID_BLOCK);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_CAPACITY, 8), CAPACITY);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_CAPACITY, 4), CAPACITY);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_SIZE_MAX, 4), 1u << 20);
    /* The harness's 4 MiB mapcache (1 MiB buckets) allows one segment. */
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_SEG_MAX, 4), 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_TOPOLOGY + 2, 2), 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_NUM_QUEUES, 2), 2);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4), 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_DISCARD_ALIGN, 4), 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_MAX_WZ_SEG, 4), 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_WZ_MAY_UNMAP, 4), 1);
    /* Past the end of config space: the transport reads 0. */
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CONFIG_SIZE, 4), 0);
    assert_true(h->features & (1ull << IQ_VIRTIO_BLK_F_MQ));
    assert_true(h->features & (1ull << IQ_VIRTIO_BLK_F_CONFIG_WCE));
    /* Queue 1 serves requests too. */
    assert_int_equal(bh_blk(h, 1, IQ_VIRTIO_BLK_T_IN, 0, d, 512, true, NULL),
                     S_OK);
    /* Only the writeback byte is writable. */
    bh_cfg_wr(h, IQ_VIRTIO_BLK_CFG_CAPACITY, 5, 4);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_CAPACITY, 8), CAPACITY);
    bh_cfg_wr(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 7, 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
    bh_cfg_wr(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 0, 1);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
}

static void
t_write_cache(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t d = bh_alloc(h, 512, 512);
    struct iq_virtio_blk_stats st;

    start_mem(t, &o);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 512, false, NULL), S_OK);
    iq_virtio_blk_get_stats(h->blk, &st);
    assert_int_equal(st.flushes, 0);
    /* Write cache off: every write is flushed before it completes. */
    bh_cfg_wr(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 0, 1);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 512, false, NULL), S_OK);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_WRITE_ZEROES, 0, seg(t, 0, 1, 0),
                         16, false, NULL),
                     S_OK);
    iq_virtio_blk_get_stats(h->blk, &st);
    assert_int_equal(st.flushes, 2);
    assert_int_equal(st.reqs, 3);
    /* Reset restores the default (writeback). */
    assert_int_equal(bh_reinit(h), 0);
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
}

static void
t_no_flush_feature(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {.refuse = 1ull << IQ_VIRTIO_BLK_F_FLUSH};
    struct bh *h = &t->h;
    uint64_t d = bh_alloc(h, 512, 512);
    struct iq_virtio_blk_stats st;

    start_mem(t, &o);
    /* Without FLUSH the device must be write-through. */
    assert_int_equal(bh_cfg_rd(h, IQ_VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_OUT, 0, d, 512, false, NULL), S_OK);
    iq_virtio_blk_get_stats(h->blk, &st);
    assert_int_equal(st.flushes, 1);
}

static void
t_batch(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t st[16];
    uint64_t d = bh_alloc(h, 16 * 512, 512);
    unsigned edges;

    start_mem(t, &o);
    for (unsigned i = 0; i < 16; i++) {
        uint64_t hdr = bh_alloc(h, 16, 16);
        struct bh_buf c[3];

        st[i] = bh_alloc(h, 1, 1);
        *(uint8_t *)bh_ptr(h, st[i]) = 0xee;
        put_hdr(bh_ptr(h, hdr), IQ_VIRTIO_BLK_T_OUT, i);
        c[0] = (struct bh_buf){hdr, 16, false};
        c[1] = (struct bh_buf){d + i * 512, 512, false};
        c[2] = (struct bh_buf){st[i], 1, true};
        assert_int_equal(bh_place(h, 0, c, 3), 0);
    }
    edges = h->irq_edges;
    bh_kick(h, 0);
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(bh_wait(h, 0, 100, 100, NULL, NULL), 0);
    }
    /* Drain the deferred interrupt work. */
    assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(*(uint8_t *)bh_ptr(h, st[i]), S_OK);
    }
    /* One interrupt for the whole batch. */
    assert_int_equal(h->irq_edges - edges, 1);
}

static void
reset_inflight(struct tst *t, bool no_uring)
{
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t st[4];
    uint64_t d = bh_alloc(h, 4 * 4096, 4096);
    struct iq_mc_stats ms;

    start_file(t, &o, no_uring);
    for (unsigned i = 0; i < 4; i++) {
        uint64_t hdr = bh_alloc(h, 16, 16);
        struct bh_buf c[3];

        st[i] = bh_alloc(h, 1, 1);
        *(uint8_t *)bh_ptr(h, st[i]) = 0xee;
        put_hdr(bh_ptr(h, hdr), IQ_VIRTIO_BLK_T_OUT, i * 8);
        c[0] = (struct bh_buf){hdr, 16, false};
        c[1] = (struct bh_buf){d + i * 4096, 4096, false};
        c[2] = (struct bh_buf){st[i], 1, true};
        assert_int_equal(bh_place(h, 0, c, 3), 0);
    }
    bh_kick(h, 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_true(ms.pins > 0);
    /* Driver reset with four writes in flight: the driver waits until
     * Status reads 0; elements are given back, no writes into guest
     * memory. */
    bh_wr(h, 0x070, 0);
    for (unsigned i = 0; bh_rd(h, 0x070) != 0; i++) {
        assert_true(i < 2000);
        assert_true(iq_loop_run_once(h->loop, 100) >= 0);
    }
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 0);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(*(uint8_t *)bh_ptr(h, st[i]), 0xee);
    }
    assert_int_equal(bh_used_pending(h, 0), 0);
    assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    assert_int_equal(bh_used_pending(h, 0), 0);
    assert_int_equal(bh_reinit(h), 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 8, d, 4096, true, NULL), S_OK);
}

/*
 * Guest reset while the storage holds a request (as if it hung): the Status
 * write returns at once, Status keeps reading non-zero and register writes
 * are ignored, another device on the same loop keeps being served; when
 * the completion finally arrives nothing is written to guest memory, the
 * pins are released, Status reads 0 and the device initialises again.
 */
static void
t_reset_async_held(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    struct bh h2_store;
    struct bh *h2 = &h2_store;
    struct iq_storage *sto2 = NULL;
    struct bh_opts o2 = {0};
    uint64_t hdr;
    uint64_t st;
    uint64_t d;
    uint64_t d2;
    struct bh_buf c[3];
    struct iq_mc_stats ms;
    uint32_t old;

    start_mem(t, &o);
    /* A second device, its own storage, served by the same thread. */
    memset(h2, 0, sizeof(*h2));
    assert_int_equal(bh_init(h2), 0);
    assert_int_equal(iq_storage_open_mem(h2->loop, DISK_SIZE, NULL, &sto2), 0);
    o2.storage = sto2;
    assert_int_equal(bh_start(h2, &o2), 0);

    hdr = bh_alloc(h, 16, 16);
    st = bh_alloc(h, 1, 1);
    d = bh_alloc(h, 4096, 4096);
    *(uint8_t *)bh_ptr(h, st) = 0xee;
    put_hdr(bh_ptr(h, hdr), IQ_VIRTIO_BLK_T_OUT, 8);
    c[0] = (struct bh_buf){hdr, 16, false};
    c[1] = (struct bh_buf){d, 4096, false};
    c[2] = (struct bh_buf){st, 1, true};
    iq_storage_mem_hold(t->sto, true);
    assert_int_equal(bh_place(h, 0, c, 3), 0);
    bh_kick(h, 0);
    assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_true(ms.pins > 0);

    old = bh_rd(h, 0x070);
    assert_true((old & IQ_VIRTIO_S_DRIVER_OK) != 0);
    bh_wr(h, 0x070, 0);
    /* Not reset yet: the loop keeps running, the reset waits. */
    assert_true(iq_virtio_reset_pending(h->dev));
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    }
    assert_true(iq_virtio_reset_pending(h->dev));

    /* The other device works meanwhile. */
    d2 = bh_alloc(h2, 4096, 4096);
    fill(bh_ptr(h2, d2), 4096, 7);
    assert_int_equal(
        bh_blk(h2, 0, IQ_VIRTIO_BLK_T_OUT, 0, d2, 4096, false, NULL), S_OK);

    /* The storage completes: nothing reaches guest memory. */
    iq_storage_mem_hold(t->sto, false);
    for (unsigned i = 0; iq_virtio_reset_pending(h->dev); i++) {
        assert_true(i < 100);
        assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    }
    assert_int_equal(bh_rd(h, 0x070), 0);
    assert_int_equal(*(uint8_t *)bh_ptr(h, st), 0xee);
    assert_int_equal(bh_used_pending(h, 0), 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 0);

    assert_int_equal(bh_reinit(h), 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 4096, true, NULL), S_OK);

    iq_virtio_blk_destroy(h2->blk);
    h2->blk = NULL;
    iq_storage_destroy(sto2);
    bh_fini(h2);
}

/*
 * Linux writes Status 0, then reads Status to set ACKNOWLEDGE without
 * waiting for 0. A reset still waiting for I/O must end at that read: the
 * read returns 0, nothing was written to guest memory, re-init works.
 */
static void
t_reset_pending_then_access(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t hdr;
    uint64_t st;
    uint64_t d;
    struct bh_buf c[3];
    struct iq_mc_stats ms;

    start_mem(t, &o);
    hdr = bh_alloc(h, 16, 16);
    st = bh_alloc(h, 1, 1);
    d = bh_alloc(h, 4096, 4096);
    *(uint8_t *)bh_ptr(h, st) = 0xee;
    put_hdr(bh_ptr(h, hdr), IQ_VIRTIO_BLK_T_OUT, 8);
    c[0] = (struct bh_buf){hdr, 16, false};
    c[1] = (struct bh_buf){d, 4096, false};
    c[2] = (struct bh_buf){st, 1, true};
    iq_storage_mem_hold(t->sto, true);
    assert_int_equal(bh_place(h, 0, c, 3), 0);
    bh_kick(h, 0);
    assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    bh_wr(h, 0x070, 0);
    assert_true(iq_virtio_reset_pending(h->dev));
    /* The storage could finish now; the driver reads Status first. */
    iq_storage_mem_hold(t->sto, false);
    assert_int_equal(bh_rd(h, 0x070), 0);
    assert_false(iq_virtio_reset_pending(h->dev));
    assert_int_equal(*(uint8_t *)bh_ptr(h, st), 0xee);
    assert_int_equal(bh_used_pending(h, 0), 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 0);
    assert_int_equal(bh_reinit(h), 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 0, d, 4096, true, NULL), S_OK);
}

/*
 * A Linux guest writes Status 0 and does not read it back: with storage
 * that answers within the bound, the reset has ended when the write
 * returns, so an immediate re-initialisation works.
 */
static void
t_reset_inflight_fast(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t hdr;
    uint64_t st;
    uint64_t d;
    struct bh_buf c[3];
    struct iq_mc_stats ms;

    start_mem(t, &o);
    hdr = bh_alloc(h, 16, 16);
    st = bh_alloc(h, 1, 1);
    d = bh_alloc(h, 4096, 4096);
    *(uint8_t *)bh_ptr(h, st) = 0xee;
    put_hdr(bh_ptr(h, hdr), IQ_VIRTIO_BLK_T_OUT, 8);
    c[0] = (struct bh_buf){hdr, 16, false};
    c[1] = (struct bh_buf){d, 4096, false};
    c[2] = (struct bh_buf){st, 1, true};
    assert_int_equal(bh_place(h, 0, c, 3), 0);
    bh_kick(h, 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_true(ms.pins > 0);
    bh_wr(h, 0x070, 0);
    assert_int_equal(bh_rd(h, 0x070), 0);
    assert_false(iq_virtio_reset_pending(h->dev));
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 0);
    assert_int_equal(*(uint8_t *)bh_ptr(h, st), 0xee);
    assert_int_equal(bh_reinit(h), 0);
    assert_int_equal(bh_used_pending(h, 0), 0);
    assert_int_equal(blk(t, IQ_VIRTIO_BLK_T_IN, 8, d, 4096, true, NULL), S_OK);
}

/* seg_max/size_max advertised for a mapcache of `cap` bytes, 2^shift
 * buckets, and a queue of `qsize`. */
static void
limits_for(struct tst *t, size_t cap, unsigned shift, uint16_t qsize,
           uint32_t *seg_max, uint32_t *size_max)
{
    struct iq_mc_config mcc = {
        .cap_bytes = cap,
        .bucket_shift = shift,
        .foreign = &iq_test_ram_ops,
        .foreign_opaque = &t->h.fake,
    };
    struct iq_virtio_blk_config bc = {0};
    struct iq_virtio_blk *blk = NULL;
    struct iq_mc *mc = NULL;
    const struct iq_region_ops *ops = iq_virtio_region_ops();

    assert_int_equal(iq_mc_create(&mcc, &mc), 0);
    bc.env.mc = mc;
    bc.env.loop = t->h.loop;
    bc.env.arch = IQ_ARCH_ARM;
    bc.env.queue_max_size = qsize;
    bc.storage = t->sto;
    assert_int_equal(iq_virtio_blk_create(&bc, &blk), 0);
    *seg_max = (uint32_t)ops->read(iq_virtio_blk_dev(blk),
                                   0x100 + IQ_VIRTIO_BLK_CFG_SEG_MAX, 4);
    *size_max = (uint32_t)ops->read(iq_virtio_blk_dev(blk),
                                    0x100 + IQ_VIRTIO_BLK_CFG_SIZE_MAX, 4);
    iq_virtio_blk_destroy(blk);
    iq_mc_destroy(mc);
}

/*
 * One request of seg_max segments of size_max bytes (each may straddle a
 * bucket edge: two buckets), plus header (two) and status (one), needs at
 * most half of the mapcache cap: a normal guest's largest request never
 * waits for room that cannot exist.
 */
static void
t_seg_max_fits_cap(void **state)
{
    struct tst *t = *state;
    uint32_t seg = 0;
    uint32_t size = 0;

    assert_int_equal(iq_storage_open_mem(t->h.loop, DISK_SIZE, NULL, &t->sto),
                     0);
    /* The daemon's default: 64 MiB in 1 MiB buckets. */
    limits_for(t, 64u << 20, 20, 256, &seg, &size);
    assert_int_equal(size, 1u << 20);
    assert_int_equal(seg, 14);
    assert_true((2 * (uint64_t)seg + 3) * size <= (64u << 20) / 2);
    /* Small buckets: the queue size is the limit again. */
    limits_for(t, 64u << 20, 16, 256, &seg, &size);
    assert_int_equal(size, 64u << 10);
    assert_int_equal(seg, 254);
    assert_true((2 * (uint64_t)seg + 3) * size <= (64u << 20) / 2);
    limits_for(t, 64u << 20, 16, 64, &seg, &size);
    assert_int_equal(seg, 62);
    /* A large cap with 1 MiB buckets. */
    limits_for(t, 1024u << 20, 20, 256, &seg, &size);
    assert_int_equal(size, 1u << 20);
    assert_int_equal(seg, 254);
    /* 16 MiB buckets: segments stay at 1 MiB, counted as whole buckets. */
    limits_for(t, 256u << 20, 24, 256, &seg, &size);
    assert_int_equal(size, 1u << 20);
    assert_int_equal(seg, 2);
}

/* Teardown while a reset waits for held storage: destroy drains. */
static void
t_reset_async_destroy(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {0};
    struct bh *h = &t->h;
    uint64_t st;
    struct iq_mc_stats ms;

    start_mem(t, &o);
    st = bh_alloc(h, 1, 1);
    *(uint8_t *)bh_ptr(h, st) = 0xee;
    iq_storage_mem_hold(t->sto, true);
    {
        uint64_t hdr = bh_alloc(h, 16, 16);
        struct bh_buf c[2];

        put_hdr(bh_ptr(h, hdr), IQ_VIRTIO_BLK_T_FLUSH, 0);
        c[0] = (struct bh_buf){hdr, 16, false};
        c[1] = (struct bh_buf){st, 1, true};
        assert_int_equal(bh_place(h, 0, c, 2), 0);
    }
    bh_kick(h, 0);
    assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    bh_wr(h, 0x070, 0);
    assert_true(iq_virtio_reset_pending(h->dev));
    iq_virtio_blk_destroy(h->blk);
    h->blk = NULL;
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 0);
    assert_int_equal(*(uint8_t *)bh_ptr(h, st), 0xee);
}

static void
t_reset_inflight_uring(void **state)
{
    reset_inflight(*state, false);
}

static void
t_reset_inflight_threads(void **state)
{
    reset_inflight(*state, true);
}

/*
 * Mapcache back-pressure across queues: queue 0 holds every bucket the cap
 * allows while its request sits in storage, so queue 1's pop fails with
 * -EBUSY. When queue 0 completes and releases its pins, queue 1 must be
 * retried without a new kick (the driver already kicked and, with
 * EVENT_IDX, would not kick again): otherwise it hangs for good.
 */
static void
t_busy_wakes_other_queue(void **state)
{
    struct tst *t = *state;
    struct bh_opts o = {.num_queues = 2};
    struct bh *h = &t->h;
    struct iq_mc_stats ms;
    uint64_t hdr0 = bh_alloc(h, 16, 16);
    uint64_t hdr1 = bh_alloc(h, 16, 16);
    uint64_t st0 = bh_alloc(h, 1, 1);
    uint64_t st1 = bh_alloc(h, 1, 1);
    struct bh_buf c0[5];
    struct bh_buf c1[3];
    uint32_t id = UINT32_MAX;

    start_mem(t, &o);
    /* Header and status in bucket 0, data in buckets 1, 2 and 3: with a
     * 4 MiB cap of 1 MiB buckets, all four are pinned at once. */
    put_hdr(bh_ptr(h, hdr0), IQ_VIRTIO_BLK_T_OUT, 0);
    c0[0] = (struct bh_buf){hdr0, 16, false};
    c0[1] = (struct bh_buf){1u << 20, 512, false};
    c0[2] = (struct bh_buf){2u << 20, 512, false};
    c0[3] = (struct bh_buf){3u << 20, 512, false};
    c0[4] = (struct bh_buf){st0, 1, true};
    *(uint8_t *)bh_ptr(h, st0) = 0xee;
    assert_int_equal(bh_submit(h, 0, c0, 5), 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 5);
    assert_int_equal(ms.busy, 0);

    /* Queue 1 needs a fifth bucket: refused for now. */
    put_hdr(bh_ptr(h, hdr1), IQ_VIRTIO_BLK_T_OUT, 8);
    c1[0] = (struct bh_buf){hdr1, 16, false};
    c1[1] = (struct bh_buf){4u << 20, 512, false};
    c1[2] = (struct bh_buf){st1, 1, true};
    *(uint8_t *)bh_ptr(h, st1) = 0xee;
    assert_int_equal(bh_submit(h, 1, c1, 3), 0);
    iq_mc_get_stats(h->mc, &ms);
    assert_true(ms.busy > 0);
    assert_int_equal(ms.pins, 5);

    /* Queue 0 completes; queue 1 then proceeds with no further kick. */
    assert_int_equal(bh_wait(h, 0, 100, 10, &id, NULL), 0);
    assert_int_equal(*(uint8_t *)bh_ptr(h, st0), S_OK);
    assert_int_equal(bh_wait(h, 1, 100, 10, &id, NULL), 0);
    assert_int_equal(*(uint8_t *)bh_ptr(h, st1), S_OK);
    iq_mc_get_stats(h->mc, &ms);
    assert_int_equal(ms.pins, 0);
}

static void
t_create_errors(void **state)
{
    struct tst *t = *state;
    struct iq_virtio_blk_config c = {0};
    struct iq_virtio_blk *b = (struct iq_virtio_blk *)&c;

    assert_int_equal(iq_virtio_blk_create(&c, &b), -EINVAL);
    assert_null(b);
    assert_int_equal(iq_storage_open_mem(t->h.loop, 256, NULL, &t->sto), 0);
    c.storage = t->sto;
    c.env.mc = t->h.mc;
    c.env.loop = t->h.loop;
    /* Smaller than one sector. */
    assert_int_equal(iq_virtio_blk_create(&c, &b), -EINVAL);
    iq_storage_destroy(t->sto);
    assert_int_equal(iq_storage_open_mem(t->h.loop, 4096, NULL, &t->sto), 0);
    c.storage = t->sto;
    c.num_queues = IQ_VIRTIO_BLK_MAX_QUEUES + 1;
    assert_int_equal(iq_virtio_blk_create(&c, &b), -EINVAL);
    c.num_queues = 1;
    c.env.queue_max_size = 100;
    assert_int_equal(iq_virtio_blk_create(&c, &b), -EINVAL);
    c.env.queue_max_size = 0;
    assert_int_equal(iq_virtio_blk_create(&c, &b), 0);
    iq_virtio_blk_destroy(b);
    iq_virtio_blk_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_rw_mem, setup, teardown),
        cmocka_unit_test_setup_teardown(t_rw_file_uring, setup, teardown),
        cmocka_unit_test_setup_teardown(t_rw_file_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(t_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(t_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(t_write_zeroes, setup, teardown),
        cmocka_unit_test_setup_teardown(t_feature_not_negotiated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(t_get_id, setup, teardown),
        cmocka_unit_test_setup_teardown(t_get_id_short_serial, setup, teardown),
        cmocka_unit_test_setup_teardown(t_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(t_range, setup, teardown),
        cmocka_unit_test_setup_teardown(t_unsupp, setup, teardown),
        cmocka_unit_test_setup_teardown(t_split_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(t_short_header, setup, teardown),
        cmocka_unit_test_setup_teardown(t_no_status, setup, teardown),
        cmocka_unit_test_setup_teardown(t_config, setup, teardown),
        cmocka_unit_test_setup_teardown(t_write_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(t_no_flush_feature, setup, teardown),
        cmocka_unit_test_setup_teardown(t_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(t_reset_inflight_uring, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(t_reset_inflight_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(t_busy_wakes_other_queue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(t_reset_async_held, setup, teardown),
        cmocka_unit_test_setup_teardown(t_reset_inflight_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(t_reset_pending_then_access, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(t_reset_async_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(t_seg_max_fits_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(t_create_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
