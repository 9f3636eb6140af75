/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit-level virtio-blk benchmark: the real device, virtio engine and
 * mapcache over flat fake RAM (the in-test driver of tests/unit/blk), no
 * ioreq path and no Xen. Requests are 4 KiB reads kept at queue depth 32;
 * each round places 32 chains, kicks once and reaps 32 used entries.
 * Prints `BENCH <name> <value> <unit>` lines:
 *   blk_unit_<storage>_4k_read_iops   requests per second
 *   blk_unit_<storage>_4k_read_irqs   interrupts per 1000 requests
 * for null storage (device + engine cost only), mem, and a 16 MiB file in
 * /tmp through io_uring and through worker threads (page-cache reads).
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk-harness.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio-blk.h"

#define QD 32u
#define REQ_LEN 4096u
#define DISK (16u << 20)
#define SECONDS 0.5

enum kind { K_NULL, K_MEM, K_URING, K_THREADS };

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
open_storage(struct bh *h, enum kind k, char *path, struct iq_storage **s)
{
    struct iq_storage_opts o = {.nr_queues = 1, .no_uring = k == K_THREADS};
    int fd;
    int ret;

    switch (k) {
    case K_NULL:
        return iq_storage_open_null(h->loop, DISK, NULL, s);
    case K_MEM:
        return iq_storage_open_mem(h->loop, DISK, NULL, s);
    default:
        strcpy(path, "/tmp/iq-bench-blk-XXXXXX");
        fd = mkstemp(path);
        if (fd < 0) {
            return -errno;
        }
        /* Real data so reads come from the page cache, not holes. */
        for (unsigned i = 0; i < DISK / 65536; i++) {
            static const uint8_t z[65536] = {1};

            if (write(fd, z, sizeof(z)) != (ssize_t)sizeof(z)) {
                close(fd);
                return -EIO;
            }
        }
        close(fd);
        ret = iq_storage_open_file(h->loop, path, &o, s);
        return ret;
    }
}

static int
run(const char *name, enum kind k)
{
    struct bh h;
    struct bh_opts bo = {.queue_size = 128};
    struct iq_storage *s = NULL;
    char path[64] = "";
    uint64_t hdr[QD];
    uint64_t data[QD];
    uint64_t st[QD];
    uint64_t done = 0;
    unsigned irq0;
    double t0;
    double dt;
    int ret;

    ret = bh_init(&h);
    if (ret < 0) {
        return ret;
    }
    ret = open_storage(&h, k, path, &s);
    if (ret == 0) {
        bo.storage = s;
        ret = bh_start(&h, &bo);
    }
    for (unsigned i = 0; ret == 0 && i < QD; i++) {
        uint32_t type = htole32(0); /* IN */
        uint64_t sector =
            htole64((uint64_t)i * (REQ_LEN / 512) * 7 % (DISK / 512));

        hdr[i] = bh_alloc(&h, 16, 16);
        data[i] = bh_alloc(&h, REQ_LEN, 4096);
        st[i] = bh_alloc(&h, 1, 1);
        memcpy(bh_ptr(&h, hdr[i]), &type, 4);
        memset((uint8_t *)bh_ptr(&h, hdr[i]) + 4, 0, 4);
        memcpy((uint8_t *)bh_ptr(&h, hdr[i]) + 8, &sector, 8);
    }
    irq0 = h.irq_edges;
    t0 = now_s();
    while (ret == 0 && (dt = now_s() - t0) < SECONDS) {
        for (unsigned i = 0; i < QD && ret == 0; i++) {
            struct bh_buf c[3] = {
                {hdr[i], 16, false},
                {data[i], REQ_LEN, true},
                {st[i], 1, true},
            };

            ret = bh_place(&h, 0, c, 3);
        }
        bh_kick(&h, 0);
        for (unsigned i = 0; i < QD && ret == 0; i++) {
            ret = bh_wait(&h, 0, 100000, 1000, NULL, NULL);
            if (ret == 0 && *(uint8_t *)bh_ptr(&h, st[i]) != 0) {
                ret = -EIO;
            }
        }
        done += QD;
    }
    dt = now_s() - t0;
    if (ret == 0) {
        printf("BENCH blk_unit_%s_4k_read_iops %.0f req/s\n", name,
               (double)done / dt);
        printf("BENCH blk_unit_%s_4k_read_irqs %.1f per_1000_req\n", name,
               1000.0 * (h.irq_edges - irq0) / (double)done);
    } else {
        fprintf(stderr, "bench-blk-unit: %s: %s\n", name, strerror(-ret));
    }
    iq_virtio_blk_destroy(h.blk);
    h.blk = NULL;
    iq_storage_destroy(s);
    bh_fini(&h);
    if (path[0] != '\0') {
        unlink(path);
    }
    return ret;
}

int
main(void)
{
    int fails = 0;

    iq_log_set_level(IQ_LOG_ERR);
    fails += run("null", K_NULL) < 0;
    fails += run("mem", K_MEM) < 0;
    fails += run("file_uring", K_URING) < 0;
    fails += run("file_threads", K_THREADS) < 0;
    return fails ? 1 : 0;
}
