/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Flat fake guest RAM behind a mapcache foreign backend (iq-test-ram.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "iq-test-ram.h"

static bool
frame_ok(const struct iq_test_ram *r, uint64_t frame)
{
    uint64_t gpa = frame << IQ_PAGE_SHIFT;

    if (frame >= r->size >> IQ_PAGE_SHIFT) {
        return false;
    }
    return r->hole_len == 0 || gpa < r->hole || gpa - r->hole >= r->hole_len;
}

/*
 * Map `n` consecutive frames as one host range inside the buffer. Pages
 * that are holes or out of sequence get -EFAULT and are never touched;
 * NULL when no page is mapped or the range would leave the buffer.
 */
static void *
ram_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct iq_test_ram *r = opaque;
    size_t buf_pages = (r->size + r->slack) >> IQ_PAGE_SHIFT;
    bool any = false;

    (void)prot;
    for (size_t i = 0; i < n; i++) {
        bool ok = frames[i] == frames[0] + i && frame_ok(r, frames[i]);

        err[i] = ok ? 0 : -EFAULT;
        any = any || ok;
    }
    if (!any || n > buf_pages - frames[0]) {
        for (size_t i = 0; i < n; i++) {
            err[i] = -EFAULT;
        }
        return NULL;
    }
    r->maps++;
    return r->ram + (frames[0] << IQ_PAGE_SHIFT);
}

static int
ram_unmap(void *opaque, void *va, size_t n)
{
    struct iq_test_ram *r = opaque;

    (void)va;
    (void)n;
    r->unmaps++;
    return 0;
}

const struct iq_mc_backend_ops iq_test_ram_ops = {
    .map = ram_map,
    .unmap = ram_unmap,
};

static size_t
buf_len(const struct iq_test_ram *r)
{
    size_t page = (size_t)1 << IQ_PAGE_SHIFT;

    return (r->size + r->slack + page - 1) & ~(page - 1);
}

int
iq_test_ram_init(struct iq_test_ram *r, size_t size, size_t slack)
{
    void *p;

    memset(r, 0, sizeof(*r));
    r->size = size;
    r->slack = slack;
    /* Anonymous memory: zeroed, page-aligned, touched pages only. */
    p = mmap(NULL, buf_len(r), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        memset(r, 0, sizeof(*r));
        return -ENOMEM;
    }
    r->ram = p;
    return 0;
}

void
iq_test_ram_fini(struct iq_test_ram *r)
{
    if (r->ram != NULL) {
        munmap(r->ram, buf_len(r));
    }
    memset(r, 0, sizeof(*r));
}
