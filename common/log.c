/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging sink (STYLE.md section 6). The only place besides daemon/main.c
 * that writes to stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ioreqd/log.h"

/*
 * Process-wide sink settings. One ioreqd process serves one domain, so these
 * are configuration, not per-guest state.
 */
int iq_log_threshold = IQ_LOG_NOTICE;
static const char *log_ident = "ioreqd";
static bool log_syslog;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
    [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void
iq_log_open(const char *ident, int level, bool use_syslog)
{
    int saved = errno;

    if (ident != NULL) {
        log_ident = ident;
    }
    iq_log_set_level(level);
    log_syslog = use_syslog;
    if (use_syslog) {
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
    errno = saved;
}

void
iq_log_set_level(int level)
{
    if (level < LOG_ERR) {
        level = LOG_ERR;
    }
    if (level > LOG_DEBUG) {
        level = LOG_DEBUG;
    }
    __atomic_store_n(&iq_log_threshold, level, __ATOMIC_RELAXED);
}

int
iq_log_get_level(void)
{
    return __atomic_load_n(&iq_log_threshold, __ATOMIC_RELAXED);
}

int
iq_log_parse_level(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"err", LOG_ERR},      {"error", LOG_ERR},     {"warning", LOG_WARNING},
        {"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
        {"debug", LOG_DEBUG},
    };

    if (s == NULL) {
        return -EINVAL;
    }
    if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0') {
        return s[0] - '0';
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            return names[i].level;
        }
    }
    return -EINVAL;
}

static void log_emit(int level, const char *ctx, const char *prefix,
                     const char *fmt, va_list ap) IQ_PRINTF(4, 0);

static void
log_emit(int level, const char *ctx, const char *prefix, const char *fmt,
         va_list ap)
{
    char line[1024];
    size_t off = 0;
    int n;

    if (!log_syslog) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        n = snprintf(line, sizeof(line), "%s[%ld.%03ld] %s: ", log_ident,
                     (long)ts.tv_sec, ts.tv_nsec / 1000000L,
                     level_names[level & 7]);
        off = n > 0 ? (size_t)n : 0;
    }
    if (ctx != NULL && off < sizeof(line)) {
        n = snprintf(line + off, sizeof(line) - off, "%s: ", ctx);
        off += n > 0 ? (size_t)n : 0;
    }
    if (prefix != NULL && off < sizeof(line)) {
        n = snprintf(line + off, sizeof(line) - off, "%s", prefix);
        off += n > 0 ? (size_t)n : 0;
    }
    if (off < sizeof(line)) {
        n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
        off += n > 0 ? (size_t)n : 0;
    }
    if (off >= sizeof(line) - 1) {
        off = sizeof(line) - 2;
    }
    if (log_syslog) {
        line[off] = '\0';
        syslog(level, "%s", line);
    } else {
        line[off++] = '\n';
        /* One write per message so concurrent threads do not interleave. */
        ssize_t w = write(STDERR_FILENO, line, off);
        (void)w;
    }
}

void
iq_log(int level, const char *ctx, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    if (!iq_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    log_emit(level, ctx, NULL, fmt, ap);
    va_end(ap);
    errno = saved;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
iq_log_guest(struct iq_ratelimit *rl, const char *ctx, const char *fmt, ...)
{
    int saved = errno;
    uint64_t now = now_ns();
    char prefix[64];
    const char *pfx = "guest error: ";
    va_list ap;

    if (!iq_log_enabled(IQ_LOG_WARNING)) {
        return;
    }
    if (now - rl->window_start_ns >
        (uint64_t)IQ_LOG_GUEST_WINDOW_MS * 1000000ull) {
        rl->window_start_ns = now;
        rl->emitted = 0;
    }
    if (rl->emitted >= IQ_LOG_GUEST_BURST) {
        if (rl->suppressed < UINT32_MAX) {
            rl->suppressed++;
        }
        errno = saved;
        return;
    }
    rl->emitted++;
    if (rl->suppressed != 0) {
        snprintf(prefix, sizeof(prefix),
                 "(%u suppressed) guest error: ", rl->suppressed);
        pfx = prefix;
        rl->suppressed = 0;
    }
    va_start(ap, fmt);
    log_emit(IQ_LOG_WARNING, ctx, pfx, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
iq_log_unimp(bool *once, const char *ctx, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    if (*once || !iq_log_enabled(IQ_LOG_NOTICE)) {
        return;
    }
    *once = true;
    va_start(ap, fmt);
    log_emit(IQ_LOG_NOTICE, ctx, "unimplemented: ", fmt, ap);
    va_end(ap);
    errno = saved;
}
