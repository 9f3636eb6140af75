/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Start, stop and wait for processes (see iq-harness.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "iq-harness.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#define MAX_ARGS 32u

int
iq_spawn_ioreqd(struct iq_sim *sim, const struct iq_ioreqd_spec *s, pid_t *pid,
                int *status)
{
    char *argv[MAX_ARGS];
    char domid[16];
    unsigned n = 0;
    int st = 0;
    int rc;

    snprintf(domid, sizeof(domid), "%u", iq_sim_domid(sim));
    argv[n++] = (char *)"ioreqd";
    argv[n++] = (char *)"--domid";
    argv[n++] = domid;
    argv[n++] = (char *)"--arch";
    argv[n++] = (char *)(s->x86 ? "x86" : "arm");
    for (unsigned i = 0; s->args != NULL && s->args[i] != NULL; i++) {
        if (n + 1 >= MAX_ARGS) {
            *pid = -1;
            return -E2BIG;
        }
        argv[n++] = (char *)s->args[i];
    }
    argv[n] = NULL;
    rc = iq_spawn(s->exe, argv, s->ld_path, sim, s->log_path, pid);
    if (rc < 0) {
        *pid = -1;
        return rc;
    }
    rc = iq_spawn_wait_ready(sim, *pid, s->ranges, s->timeout_ms, &st);
    if (rc == -ECHILD) {
        *pid = -1;
    }
    if (status != NULL) {
        *status = st;
    }
    return rc;
}

int
iq_spawn_stop(pid_t *pid, int sig, unsigned timeout_ms, int *status)
{
    int st = 0;
    int rc = 0;

    if (*pid <= 0) {
        return -ESRCH;
    }
    kill(*pid, sig);
    if (iq_spawn_wait(*pid, timeout_ms, &st) < 0) {
        kill(*pid, SIGKILL);
        (void)iq_spawn_wait(*pid, timeout_ms, &st);
        rc = -ETIMEDOUT;
    }
    *pid = -1;
    if (status != NULL) {
        *status = st;
    }
    return rc;
}

int
iq_spawn_wait_path(const char *path, pid_t pid, unsigned timeout_ms)
{
    for (unsigned t = 0; t < timeout_ms; t += 10) {
        struct stat st;
        int status;

        if (stat(path, &st) == 0) {
            return 0;
        }
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
            return -ECHILD;
        }
        iq_test_sleep_ms(10);
    }
    return -ETIMEDOUT;
}
