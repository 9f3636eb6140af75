/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compiler helpers used across ioreqd. No behaviour of its own.
 */
#ifndef IQ_INCLUDE_COMPILER_H
#define IQ_INCLUDE_COMPILER_H

#include <stddef.h>

/* Every function that returns a negative errno is marked with this. */
#define IQ_MUST_CHECK __attribute__((warn_unused_result))
/* printf-style format checking: f = format argument, a = first vararg. */
#define IQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define IQ_UNUSED __attribute__((unused))
#define IQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define IQ_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define IQ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Pointer to the structure that contains `ptr` as its member `member`. */
#define IQ_CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define IQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define IQ_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* IQ_INCLUDE_COMPILER_H */
