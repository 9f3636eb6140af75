/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging (STYLE.md section 6). One module for the process: ioreqd serves one
 * domain per process, so the level and sink are process-wide; everything
 * per-guest lives in the context objects, not here.
 *
 * Levels are syslog levels. Output goes to stderr in the foreground and to
 * syslog when iq_log_open() was asked for it. Every function preserves errno.
 * Thread-safe: each message is written with one write() / syslog() call.
 */
#ifndef IQ_INCLUDE_LOG_H
#define IQ_INCLUDE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "compiler.h"

enum iq_log_level {
    IQ_LOG_ERR = LOG_ERR,
    IQ_LOG_WARNING = LOG_WARNING,
    IQ_LOG_NOTICE = LOG_NOTICE,
    IQ_LOG_INFO = LOG_INFO,
    IQ_LOG_DEBUG = LOG_DEBUG,
};

/*
 * Configure the sink. `ident` is kept by pointer (pass a literal).
 * `use_syslog` sends messages to syslog(3) instead of stderr.
 */
void iq_log_open(const char *ident, int level, bool use_syslog);

/* Change or query the threshold; messages above it are dropped unformatted. */
void iq_log_set_level(int level);
int iq_log_get_level(void);
static inline bool iq_log_enabled(int level);

/*
 * Parse "err|warning|notice|info|debug" (or a digit 3..7). Returns the level
 * or -EINVAL.
 */
int iq_log_parse_level(const char *s);

/*
 * Log one line. `ctx` is a context prefix such as "dom5 blk0 q1" (may be
 * NULL). No trailing newline needed.
 */
void iq_log(int level, const char *ctx, const char *fmt, ...) IQ_PRINTF(3, 4);

/*
 * Rate limiter for guest-triggerable messages (QEMU's LOG_GUEST_ERROR).
 * Embed one per device; zero-initialise it. At most IQ_LOG_GUEST_BURST
 * messages per IQ_LOG_GUEST_WINDOW_MS; the number suppressed is reported
 * with the next message that gets through.
 */
#define IQ_LOG_GUEST_BURST 10u
#define IQ_LOG_GUEST_WINDOW_MS 5000u
struct iq_ratelimit {
    uint64_t window_start_ns;
    unsigned emitted;
    unsigned suppressed;
};

/* A guest did something wrong. Logged at WARNING, rate-limited by `rl`. */
void iq_log_guest(struct iq_ratelimit *rl, const char *ctx, const char *fmt,
                  ...) IQ_PRINTF(3, 4);

/* A guest used something we do not implement: logged once per `*once`. */
void iq_log_unimp(bool *once, const char *ctx, const char *fmt, ...)
    IQ_PRINTF(3, 4);

/* Internal: the current threshold, for the inline check below. */
extern int iq_log_threshold;

static inline bool
iq_log_enabled(int level)
{
    return level <= __atomic_load_n(&iq_log_threshold, __ATOMIC_RELAXED);
}

#define IQ_ERR(ctx, ...) iq_log(IQ_LOG_ERR, ctx, __VA_ARGS__)
#define IQ_WARN(ctx, ...) iq_log(IQ_LOG_WARNING, ctx, __VA_ARGS__)
#define IQ_NOTICE(ctx, ...) iq_log(IQ_LOG_NOTICE, ctx, __VA_ARGS__)
#define IQ_INFO(ctx, ...) \
    do { \
        if (iq_log_enabled(IQ_LOG_INFO)) { \
            iq_log(IQ_LOG_INFO, ctx, __VA_ARGS__); \
        } \
    } while (0)
/* Debug tracing: compiled in, formatted only when the level allows it. */
#define IQ_DBG(ctx, ...) \
    do { \
        if (IQ_UNLIKELY(iq_log_enabled(IQ_LOG_DEBUG))) { \
            iq_log(IQ_LOG_DEBUG, ctx, __VA_ARGS__); \
        } \
    } while (0)

#endif /* IQ_INCLUDE_LOG_H */
