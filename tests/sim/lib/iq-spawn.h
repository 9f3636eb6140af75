/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Run the production ioreqd binary against a simulator: fork/exec with the
 * fake Xen libraries on LD_LIBRARY_PATH and IQ_FAKEXEN_SOCK set, wait until
 * it serves, stop it, and check the fake is clean afterwards.
 * Part of the iq-guest library (tests/sim/lib).
 */
#ifndef IQ_TESTS_SIM_IQ_SPAWN_H
#define IQ_TESTS_SIM_IQ_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iq-sim.h"

/*
 * Start `exe` with argv `args` (args[0] is the program name; NULL-ended).
 * `ld_path`: prepended to LD_LIBRARY_PATH in the child (NULL: inherit).
 * `sim`: its socket is exported as IQ_FAKEXEN_SOCK in the child (NULL:
 * the variable is removed). stdout and stderr go to `log_path` (NULL:
 * inherited). Returns 0 with *pid set or -errno.
 */
int iq_spawn(const char *exe, char *const args[], const char *ld_path,
             const struct iq_sim *sim, const char *log_path, pid_t *pid);

/*
 * Wait up to `timeout_ms` for `pid` to exit. Returns 0 with *status set
 * (waitpid status), -ETIMEDOUT (still running) or -errno.
 */
int iq_spawn_wait(pid_t pid, unsigned timeout_ms, int *status);

/*
 * Wait until the daemon serves: ranges_now >= ranges and
 * restrict_calls >= 1. -ECHILD if the process exited first (*status set
 * when non-NULL), -ETIMEDOUT.
 */
int iq_spawn_wait_ready(struct iq_sim *sim, pid_t pid, uint64_t ranges,
                        unsigned timeout_ms, int *status);

/*
 * Wait until the fake holds nothing for any client: servers_now,
 * evtchn_bound_now, foreign_pages_now, resource_maps_now and
 * grant_pages_now all 0. Returns 0 or -ETIMEDOUT (then *c holds the last
 * counters when non-NULL).
 */
int iq_spawn_wait_clean(struct iq_sim *sim, unsigned timeout_ms,
                        struct iq_sim_counters *c);

/* Read a whole (small) file into a malloc'ed NUL-terminated string. */
char *iq_spawn_slurp(const char *path);
/* Print the file at `path` to stderr between "---- what (path) ----" lines. */
void iq_spawn_dump(const char *what, const char *path);

#endif /* IQ_TESTS_SIM_IQ_SPAWN_H */
