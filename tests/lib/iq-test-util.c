/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Clock, sleep, xorshift and the eventfd ping-pong (iq-test-util.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "iq-test-util.h"

uint64_t
iq_test_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
iq_test_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

uint64_t
iq_test_xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void
iq_test_fill_random(void *buf, size_t len, uint64_t seed)
{
    uint8_t *p = buf;
    uint64_t s = seed | 1;

    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0) {
            (void)iq_test_xorshift(&s);
        }
        p[i] = (uint8_t)(s >> (8 * (i % 8)));
    }
}

struct pingpong {
    int to_echo;
    int to_main;
};

#define PP_QUIT UINT64_C(0xfffffffffffffffe)

static void *
pingpong_echo(void *arg)
{
    const struct pingpong *pp = arg;
    uint64_t v;

    while (read(pp->to_echo, &v, sizeof(v)) == (ssize_t)sizeof(v) &&
           v != PP_QUIT) {
        if (write(pp->to_main, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
            break;
        }
    }
    return NULL;
}

double
iq_test_pingpong_rate(unsigned ms)
{
    struct pingpong pp = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
    uint64_t one = 1;
    uint64_t got;
    uint64_t quit = PP_QUIT;
    uint64_t t0;
    uint64_t t = 0;
    uint64_t n = 0;
    double rate = -EIO;
    pthread_t th;

    if (pp.to_echo < 0 || pp.to_main < 0 ||
        pthread_create(&th, NULL, pingpong_echo, &pp) != 0) {
        rate = -errno;
        goto out;
    }
    t0 = iq_test_now_ns();
    do {
        for (unsigned i = 0; i < 512; i++) {
            if (write(pp.to_echo, &one, sizeof(one)) != (ssize_t)sizeof(one) ||
                read(pp.to_main, &got, sizeof(got)) != (ssize_t)sizeof(got)) {
                n = 0;
                break;
            }
            n++;
        }
        t = iq_test_now_ns();
    } while (n > 0 && t - t0 < (uint64_t)ms * 1000000ull);
    if (write(pp.to_echo, &quit, sizeof(quit)) == (ssize_t)sizeof(quit)) {
        pthread_join(th, NULL);
    } else {
        pthread_cancel(th);
        pthread_join(th, NULL);
    }
    if (n > 0) {
        rate = (double)n * 1e9 / (double)(t - t0);
    }
out:
    if (pp.to_echo >= 0) {
        close(pp.to_echo);
    }
    if (pp.to_main >= 0) {
        close(pp.to_main);
    }
    return rate;
}

uint64_t
iq_test_log_field(const char *log, const char *line_key, const char *field)
{
    const char *l = NULL;
    const char *eol;
    const char *f;

    for (const char *p = log; p != NULL && (p = strstr(p, line_key)) != NULL;
         p++) {
        l = p;
    }
    if (l == NULL) {
        return UINT64_MAX;
    }
    eol = strchr(l, '\n');
    f = strstr(l, field);
    if (f == NULL || (eol != NULL && f > eol)) {
        return UINT64_MAX;
    }
    return strtoull(f + strlen(field), NULL, 10);
}
