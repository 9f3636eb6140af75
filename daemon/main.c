/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ioreqd: a Xen IOREQ server for one guest domain.
 *
 * Exit status: 0 after a stop signal or when the domain went away,
 * 1 for a runtime setup or loop failure, 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "domain.h"
#include "ioreqd/err.h"
#include "ioreqd/log.h"

#ifndef IQ_VERSION
#define IQ_VERSION "unknown"
#endif

enum {
    EXIT_USAGE = 2,
};

static int
block_signals(void)
{
    sigset_t set;
    struct sigaction sa;

    /*
     * Blocked before any thread exists so storage workers inherit the
     * mask; the domain's signalfd receives them.
     */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return IQ_NEG_ERRNO();
    }
    /* A console peer that goes away must not kill the daemon. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

/*
 * Write the pid to a temporary file and rename it, so that readers never
 * see a partial file.
 */
static int
write_pidfile(const char *path)
{
    char tmp[4096];
    char buf[32];
    int fd;
    int n;
    int rc = 0;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return IQ_NEG_ERRNO();
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        rc = errno > 0 ? -errno : -EIO;
    }
    iq_close_fd(&fd);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = IQ_NEG_ERRNO();
    }
    if (rc < 0) {
        unlink(tmp);
    }
    return rc;
}

int
main(int argc, char **argv)
{
    struct iq_daemon_config *cfg = malloc(sizeof(*cfg));
    enum iq_daemon_action action = IQ_DAEMON_RUN;
    struct iq_domain *d = NULL;
    char err[IQ_DAEMON_ERR_LEN] = "";
    bool have_pidfile = false;
    int status;
    int rc;

    if (cfg == NULL) {
        fprintf(stderr, "ioreqd: out of memory\n");
        return 1;
    }
    iq_daemon_config_init(cfg);
    rc = iq_daemon_parse_args(cfg, argc, argv, &action, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr,
                "ioreqd: %s\nTry 'ioreqd --help' for more "
                "information.\n",
                err[0] != '\0' ? err : strerror(-rc));
        iq_daemon_config_fini(cfg);
        free(cfg);
        return EXIT_USAGE;
    }
    if (action != IQ_DAEMON_RUN) {
        if (action == IQ_DAEMON_HELP) {
            fputs(iq_daemon_usage(), stdout);
        } else {
            printf("ioreqd %s\n", IQ_VERSION);
        }
        iq_daemon_config_fini(cfg);
        free(cfg);
        return 0;
    }
    iq_log_open("ioreqd", cfg->log_level, cfg->use_syslog);

    status = 1;
    rc = block_signals();
    if (rc < 0) {
        IQ_ERR(NULL, "cannot set up signals: %s", strerror(-rc));
        goto out;
    }
    rc = iq_domain_create(cfg, &d, err, sizeof(err));
    if (rc < 0) {
        IQ_ERR(NULL, "%s", err);
        goto out;
    }
    if (cfg->pidfile != NULL) {
        rc = write_pidfile(cfg->pidfile);
        if (rc < 0) {
            IQ_ERR(NULL, "cannot write pidfile %s: %s", cfg->pidfile,
                   strerror(-rc));
            goto out;
        }
        have_pidfile = true;
    }
    status = iq_domain_run(d);
    iq_domain_log_stats(d, IQ_LOG_INFO);
out:
    iq_domain_destroy(d);
    if (have_pidfile) {
        unlink(cfg->pidfile);
    }
    iq_daemon_config_fini(cfg);
    free(cfg);
    return status;
}
