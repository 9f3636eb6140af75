/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Run the production daemon against the simulator (see iq-spawn.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iq-spawn.h"
#include "iq-test-util.h"

static uint64_t
now_ms(void)
{
    return iq_test_now_ns() / 1000000u;
}

int
iq_spawn(const char *exe, char *const args[], const char *ld_path,
         const struct iq_sim *sim, const char *log_path, pid_t *pid)
{
    char *ld = NULL;
    char *sock = NULL;
    int logfd = -1;
    pid_t p;

    /* Everything the child needs is prepared before fork. */
    if (ld_path != NULL) {
        const char *old = getenv("LD_LIBRARY_PATH");

        if (asprintf(&ld, "%s%s%s", ld_path, old != NULL ? ":" : "",
                     old != NULL ? old : "") < 0) {
            return -ENOMEM;
        }
    }
    if (sim != NULL) {
        sock = strdup(iq_sim_socket_path(sim));
        if (sock == NULL) {
            free(ld);
            return -ENOMEM;
        }
    }
    if (log_path != NULL) {
        logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0) {
            int rc = -errno;

            free(ld);
            free(sock);
            return rc;
        }
    }
    p = fork();
    if (p < 0) {
        int rc = -errno;

        free(ld);
        free(sock);
        if (logfd >= 0) {
            close(logfd);
        }
        return rc;
    }
    if (p == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (ld != NULL) {
            setenv("LD_LIBRARY_PATH", ld, 1);
        }
        if (sock != NULL) {
            setenv(IQ_SIM_ENV_SOCK, sock, 1);
        } else {
            unsetenv(IQ_SIM_ENV_SOCK);
        }
        if (logfd >= 0) {
            dup2(logfd, STDOUT_FILENO);
            dup2(logfd, STDERR_FILENO);
        }
        execv(exe, args);
        _exit(127);
    }
    free(ld);
    free(sock);
    if (logfd >= 0) {
        close(logfd);
    }
    *pid = p;
    return 0;
}

int
iq_spawn_wait(pid_t pid, unsigned timeout_ms, int *status)
{
    uint64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid) {
            return 0;
        }
        if (r < 0) {
            return -errno;
        }
        if (now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        iq_test_sleep_ms(5);
    }
}

int
iq_spawn_wait_ready(struct iq_sim *sim, pid_t pid, uint64_t ranges,
                    unsigned timeout_ms, int *status)
{
    uint64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        struct iq_sim_counters c;
        int st = 0;

        iq_sim_counters(sim, &c);
        if (c.ranges_now >= ranges && c.restrict_calls >= 1) {
            return 0;
        }
        if (waitpid(pid, &st, WNOHANG) == pid) {
            if (status != NULL) {
                *status = st;
            }
            return -ECHILD;
        }
        if (now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        iq_test_sleep_ms(5);
    }
}

int
iq_spawn_wait_clean(struct iq_sim *sim, unsigned timeout_ms,
                    struct iq_sim_counters *out)
{
    uint64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        struct iq_sim_counters c;

        iq_sim_counters(sim, &c);
        if (out != NULL) {
            *out = c;
        }
        if (c.servers_now == 0 && c.evtchn_bound_now == 0 &&
            c.foreign_pages_now == 0 && c.resource_maps_now == 0 &&
            c.grant_pages_now == 0) {
            return 0;
        }
        if (now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        iq_test_sleep_ms(5);
    }
}

char *
iq_spawn_slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;

    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        size_t n;

        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 65536);

            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

void
iq_spawn_dump(const char *what, const char *path)
{
    char *text = iq_spawn_slurp(path);

    if (text != NULL) {
        fprintf(stderr, "---- %s (%s) ----\n%s---- end ----\n", what, path,
                text);
        free(text);
    }
}
