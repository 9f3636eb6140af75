/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers shared by tests, benches and the demo: a monotonic clock,
 * sleeping, a seeded xorshift generator, the bare eventfd ping-pong that
 * the benches report as the floor of a cross-thread round trip, and reading
 * a counter from an ioreqd log's stats lines.
 * Part of the iqtest library (tests/lib).
 */
#ifndef IQ_TESTS_LIB_IQ_TEST_UTIL_H
#define IQ_TESTS_LIB_IQ_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t iq_test_now_ns(void);
/* Sleep for about `ms` milliseconds. */
void iq_test_sleep_ms(unsigned ms);

/* Next value of the xorshift64 generator whose state is *s (nonzero). */
uint64_t iq_test_xorshift(uint64_t *s);
/* Fill `buf` with bytes that depend only on `seed` (same seed, same bytes). */
void iq_test_fill_random(void *buf, size_t len, uint64_t seed);

/*
 * Two threads bounce a counter through two eventfds for about `ms`
 * milliseconds: the cheapest way for one side to wake the other and be
 * woken back. Returns round trips per second, or a negative errno.
 */
double iq_test_pingpong_rate(unsigned ms);

/*
 * In an ioreqd log, the last line containing `line_key` (e.g.
 * "vu1: stats: vhost"): the number after `field` ("kicks=") on it, or
 * UINT64_MAX when there is no such line or field.
 */
uint64_t iq_test_log_field(const char *log, const char *line_key,
                           const char *field);

#endif /* IQ_TESTS_LIB_IQ_TEST_UTIL_H */
