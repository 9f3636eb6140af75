/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flat fake guest RAM for tests, fuzz targets and benches: one zeroed,
 * page-aligned host buffer that a mapcache foreign backend (`iq_test_ram_ops`,
 * opaque: the struct iq_test_ram) maps from. Guest RAM is [0, size) minus an
 * optional hole; pages in the hole or past the end are holes (-EFAULT), and a
 * map request must be one run of consecutive frames. `slack` extra bytes
 * after `size` keep a bucket mapped at the end inside the buffer.
 * Part of the iqtest library (tests/lib).
 */
#ifndef IQ_TESTS_LIB_IQ_TEST_RAM_H
#define IQ_TESTS_LIB_IQ_TEST_RAM_H

#include <stddef.h>
#include <stdint.h>

#include "ioreqd/mapcache.h"

struct iq_test_ram {
    uint8_t *ram; /* size + slack bytes */
    size_t size; /* guest RAM [0, size) */
    size_t slack;
    uint64_t hole; /* [hole, hole + hole_len) is unmapped */
    uint64_t hole_len; /* 0: no hole */
    unsigned maps; /* successful map calls */
    unsigned unmaps;
};

extern const struct iq_mc_backend_ops iq_test_ram_ops;

/* Map the zeroed buffer (no hole). Returns 0 or -ENOMEM. */
int iq_test_ram_init(struct iq_test_ram *r, size_t size, size_t slack);
/* Free the buffer; accepts a zeroed or already finished struct. */
void iq_test_ram_fini(struct iq_test_ram *r);

#endif /* IQ_TESTS_LIB_IQ_TEST_RAM_H */
