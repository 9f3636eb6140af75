/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Process helpers shared by the sim tests, the benches and the demo: start
 * ioreqd for a simulator's domain and wait until it serves, stop a child
 * with a SIGKILL fallback, wait for a path (a socket) to appear, and start
 * qemu-storage-daemon on a raw file.
 * Part of the iq-guest library (tests/sim/lib).
 */
#ifndef IQ_TESTS_SIM_IQ_HARNESS_H
#define IQ_TESTS_SIM_IQ_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "iq-sim.h"

struct iq_ioreqd_spec {
    const char *exe;
    const char *ld_path; /* prepended to LD_LIBRARY_PATH; NULL: inherit */
    const char *log_path; /* NULL: inherited stdout and stderr */
    bool x86; /* --arch x86, else arm */
    /* Arguments after "--domid N --arch A", NULL-ended (NULL: none). */
    const char *const *args;
    uint64_t ranges; /* ready when this many MMIO ranges are mapped */
    unsigned timeout_ms;
};

/*
 * Run "ioreqd --domid <sim's domain> --arch <arch> args..." on `sim` and
 * wait until it serves (iq_spawn_wait_ready). Returns 0 with *pid set;
 * -ETIMEDOUT with *pid still running; -ECHILD (exited, reaped, *status
 * set when non-NULL) or another -errno with *pid = -1.
 */
int iq_spawn_ioreqd(struct iq_sim *sim, const struct iq_ioreqd_spec *s,
                    pid_t *pid, int *status);

/*
 * Send `sig` to *pid and reap it within `timeout_ms`; if it does not exit,
 * SIGKILL and reap it (same timeout). *pid becomes -1 and *status (when
 * non-NULL) gets the wait status. Returns 0, -ETIMEDOUT when SIGKILL was
 * needed, or -ESRCH (nothing done) when *pid <= 0.
 */
int iq_spawn_stop(pid_t *pid, int sig, unsigned timeout_ms, int *status);

/*
 * Wait up to `timeout_ms` until `path` exists. With `pid` > 0, -ECHILD
 * (reaped) as soon as that child exits. 0 or -ETIMEDOUT.
 */
int iq_spawn_wait_path(const char *path, pid_t pid, unsigned timeout_ms);

/* Where Debian installs qemu-storage-daemon (package qemu-system-common). */
#define IQ_SPAWN_QSD "/usr/bin/qemu-storage-daemon"

/*
 * Start qemu-storage-daemon exporting the raw file `disk` as vhost-user-blk
 * (writable, `queues` queues; 0: the daemon's default) on the Unix socket
 * `sock` (removed first), output to `log_path`, and wait up to `timeout_ms`
 * until it listens. Returns 0 with *pid set, or -errno (the daemon, if it
 * started, is killed).
 */
int iq_spawn_qsd(const char *disk, const char *sock, unsigned queues,
                 const char *log_path, unsigned timeout_ms, pid_t *pid);

#endif /* IQ_TESTS_SIM_IQ_HARNESS_H */
