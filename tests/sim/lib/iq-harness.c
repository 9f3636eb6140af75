/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Start, stop and wait for processes (see iq-harness.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
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

int
iq_spawn_qsd(const char *disk, const char *sock, unsigned queues,
             const char *log_path, unsigned timeout_ms, pid_t *pid)
{
    char bd[256];
    char exp[384];
    char nq[32] = "";
    char *argv[] = {(char *)"qemu-storage-daemon",
                    (char *)"--blockdev",
                    bd,
                    (char *)"--blockdev",
                    (char *)"driver=raw,node-name=disk0,file=file0",
                    (char *)"--export",
                    exp,
                    NULL};
    int rc;

    if (queues > 0) {
        snprintf(nq, sizeof(nq), ",num-queues=%u", queues);
    }
    if (snprintf(bd, sizeof(bd), "driver=file,node-name=file0,filename=%s",
                 disk) >= (int)sizeof(bd) ||
        snprintf(exp, sizeof(exp),
                 "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
                 "addr.path=%s,writable=on%s",
                 sock, nq) >= (int)sizeof(exp)) {
        return -ENAMETOOLONG;
    }
    (void)unlink(sock);
    rc = iq_spawn(IQ_SPAWN_QSD, argv, NULL, NULL, log_path, pid);
    if (rc < 0) {
        return rc;
    }
    rc = iq_spawn_wait_path(sock, *pid, timeout_ms);
    if (rc < 0) {
        (void)iq_spawn_stop(pid, SIGKILL, 5000, NULL);
    }
    return rc;
}
