/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Error and arithmetic helpers (STYLE.md section 5).
 *
 * Functions return 0 or a count on success and a negative errno on failure.
 * Xen and libc calls return -1 with errno set: convert with IQ_NEG_ERRNO()
 * on the next line, before anything else can clobber errno.
 */
#ifndef IQ_INCLUDE_ERR_H
#define IQ_INCLUDE_ERR_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* -errno, never 0: a failing call that forgot to set errno becomes -EIO. */
#define IQ_NEG_ERRNO() (errno > 0 ? -errno : -EIO)

/*
 * Overflow-checked arithmetic. Each returns true when the result overflowed;
 * *res is then unspecified. Use for every size or address a guest drives.
 */
static inline bool
iq_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *res)
{
    return __builtin_add_overflow(a, b, res);
}

static inline bool
iq_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *res)
{
    return __builtin_mul_overflow(a, b, res);
}

static inline bool
iq_add_overflow_size(size_t a, size_t b, size_t *res)
{
    return __builtin_add_overflow(a, b, res);
}

static inline bool
iq_mul_overflow_size(size_t a, size_t b, size_t *res)
{
    return __builtin_mul_overflow(a, b, res);
}

/*
 * True when [start, start + len) is a valid, non-wrapping range. A zero
 * length is valid. *end receives start + len when the range is valid.
 */
static inline bool
iq_range_ok(uint64_t start, uint64_t len, uint64_t *end)
{
    return !__builtin_add_overflow(start, len, end);
}

/* Close *fd if it is open, set it to -1, keep errno. Accepts NULL. */
void iq_close_fd(int *fd);

#endif /* IQ_INCLUDE_ERR_H */
