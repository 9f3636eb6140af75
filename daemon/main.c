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
#include "xenstore-backend.h"
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

/* ---- xenstore mode (--xenstore, or --domid without any device) -------- */

struct xs_glue {
    struct iq_daemon_config *cfg;
    struct iq_domain *d;
    int map[IQ_XS_MAX_DEVS]; /* backend index -> config device index */
    bool vu_mmap; /* --vhost-mode=mmap */
    /* Discovered disks bridged to a vhost-user socket ("" otherwise). */
    char sock[IQ_XS_MAX_DEVS][IQ_XS_SOCKET_MAX];
};

/*
 * The --device spec for one discovered disk: "virtio-blk,...,file=..." or,
 * when its target is (or names) a vhost-user socket,
 * "vhost-user,...,type=blk,socket=...,mode=..."; both end in ",ro" for a
 * read-only disk. `sock` receives the socket path or "".
 */
static int
xs_dev_spec(const struct iq_xs_dev *dev, bool vu_mmap, char *buf, size_t len,
            char sock[IQ_XS_SOCKET_MAX])
{
    int kind;
    int n;

    sock[0] = '\0';
    if (dev->layout != IQ_XS_VIRTIO_DISK || dev->params == NULL) {
        return -EOPNOTSUPP;
    }
    kind = iq_xs_resolve_target(dev->params, sock, IQ_XS_SOCKET_MAX);
    if (kind < 0) {
        sock[0] = '\0';
        return kind;
    }
    if (kind == IQ_XS_TARGET_VHOST_USER) {
        n = snprintf(buf, len,
                     "vhost-user,base=0x%llx,irq=%u,type=blk,socket=%s,"
                     "mode=%s%s",
                     (unsigned long long)dev->base, dev->irq, sock,
                     vu_mmap ? "mmap" : "shadow", dev->readonly ? ",ro" : "");
    } else if (strchr(dev->params, ',') != NULL) {
        return -EOPNOTSUPP;
    } else {
        n = snprintf(buf, len, "virtio-blk,base=0x%llx,irq=%u,file=%s%s",
                     (unsigned long long)dev->base, dev->irq, dev->params,
                     dev->readonly ? ",ro" : "");
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The one line that says a disk is served by a vhost-user daemon. */
static void
xs_log_bridged(const char *dir, const char *params, const char *sock,
               bool vu_mmap, bool readonly)
{
    IQ_NOTICE(NULL,
              "xenstore disk %s (target %s): bridged to vhost-user socket "
              "%s, mode=%s%s",
              dir, params, sock, vu_mmap ? "mmap" : "shadow",
              readonly ? ", read-only" : "");
}

static int
xs_on_add(void *opaque, unsigned idx, const struct iq_xs_dev *dev)
{
    struct xs_glue *g = opaque;
    char spec[IQ_XS_PARAMS_MAX + 96];
    char sock[IQ_XS_SOCKET_MAX];
    char err[IQ_DAEMON_ERR_LEN] = "";
    unsigned i = g->cfg->nr_devs;
    int rc;

    if (idx >= IQ_XS_MAX_DEVS) {
        return -E2BIG;
    }
    rc = xs_dev_spec(dev, g->cfg->vhost_mmap, spec, sizeof(spec), sock);
    if (rc == 0) {
        rc = iq_daemon_config_add_device(g->cfg, spec, err, sizeof(err));
    }
    if (rc == 0) {
        rc = iq_domain_add_device(g->d, i, err, sizeof(err));
    }
    if (rc < 0) {
        IQ_ERR(NULL, "%s: %s", dev->path, err[0] != '\0' ? err : strerror(-rc));
        return rc;
    }
    if (sock[0] != '\0') {
        xs_log_bridged(dev->path, dev->params, sock, g->cfg->vhost_mmap,
                       dev->readonly);
    }
    g->map[idx] = (int)i;
    return 0;
}

static void
xs_on_close(void *opaque, unsigned idx)
{
    struct xs_glue *g = opaque;

    if (idx < IQ_XS_MAX_DEVS && g->map[idx] >= 0) {
        iq_domain_close_device(g->d, (unsigned)g->map[idx]);
    }
}

static void
xs_on_gone(void *opaque)
{
    struct xs_glue *g = opaque;

    iq_domain_stop(g->d);
}

static const struct iq_xs_backend_ops xs_glue_ops = {
    .add = xs_on_add,
    .close = xs_on_close,
    .gone = xs_on_gone,
};

/* The value of --domid in argv, or -1. */
static long
argv_domid(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;

        if (strcmp(argv[i], "--domid") == 0 && i + 1 < argc) {
            v = argv[i + 1];
        } else if (strncmp(argv[i], "--domid=", 8) == 0) {
            v = argv[i] + 8;
        }
        if (v != NULL) {
            char *end;
            long d = strtol(v, &end, 10);

            return *v != '\0' && *end == '\0' && d > 0 && d < 65535 ? d : -1;
        }
    }
    return -1;
}

/* The value of option `opt` ("--opt V" or "--opt=V") in argv, or NULL. */
static const char *
argv_value(int argc, char **argv, const char *opt)
{
    size_t n = strlen(opt);
    const char *v = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], opt) == 0 && i + 1 < argc) {
            v = argv[++i];
        } else if (strncmp(argv[i], opt, n) == 0 && argv[i][n] == '=') {
            v = argv[i] + n + 1;
        }
    }
    return v;
}

static bool
argv_has(int argc, char **argv, const char *opt)
{
    size_t n = strlen(opt);

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], opt, n) == 0 &&
            (argv[i][n] == '\0' || argv[i][n] == '=')) {
            return true;
        }
    }
    return false;
}

/*
 * Discover the domain's disks and rewrite argv: drop --xenstore, append a
 * --device for each disk. *xargv is malloc'ed (strings too).
 */
static int
xs_discover_args(int argc, char **argv, long domid, struct iq_xs_devs *devs,
                 struct xs_glue *glue, int *xargc, char ***xargv)
{
    struct iq_xenstore *xs = NULL;
    const char *mode = argv_value(argc, argv, "--vhost-mode");
    char **nv;
    int rc, n = 0;

    /* A bad value is reported by the option parser later. */
    glue->vu_mmap = false;
    if (mode != NULL && iq_daemon_parse_vhost_mode(mode, &glue->vu_mmap) < 0) {
        glue->vu_mmap = false;
    }
    rc = iq_xs_open(&xs);
    if (rc < 0) {
        fprintf(stderr, "ioreqd: cannot open xenstore: %s\n", strerror(-rc));
        return rc;
    }
    rc = iq_xs_discover(xs, (uint16_t)domid, devs);
    iq_xs_close(xs);
    if (rc < 0) {
        fprintf(stderr,
                "ioreqd: no device given and no usable virtio disk for "
                "domain %ld in xenstore: %s\nTry 'ioreqd --help' for more "
                "information.\n",
                domid, strerror(-rc));
        return rc;
    }
    nv = calloc((size_t)argc + 2u * devs->n + 1u, sizeof(*nv));
    if (nv == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--xenstore") != 0) {
            nv[n++] = strdup(argv[i]);
        }
    }
    for (unsigned i = 0; i < devs->n; i++) {
        char spec[IQ_XS_PARAMS_MAX + 96];

        rc = xs_dev_spec(&devs->dev[i], glue->vu_mmap, spec, sizeof(spec),
                         glue->sock[i]);
        if (rc < 0) {
            fprintf(stderr, "ioreqd: %s: unsupported disk (target %s): %s\n",
                    devs->dev[i].path, devs->dev[i].params, strerror(-rc));
            break;
        }
        nv[n++] = strdup("--device");
        nv[n++] = strdup(spec);
    }
    *xargc = n;
    *xargv = nv;
    for (int i = 0; i < n; i++) {
        if (nv[i] == NULL) {
            rc = -ENOMEM;
        }
    }
    return rc < 0 ? rc : 0;
}

static void
free_argv(int argc, char **argv)
{
    if (argv == NULL) {
        return;
    }
    for (int i = 0; i < argc; i++) {
        free(argv[i]);
    }
    free(argv);
}

/*
 * ioreqd --launcher [--ioreqd-path P] [--log-level L] [--vhost-mode M]
 *                   [-- ARGS...]
 */
static int
launcher_main(int argc, char **argv)
{
    struct iq_xs_launcher_config lc = {.ioreqd_path = NULL};
    char *extra[68];
    const char *mode = NULL;
    unsigned nr = 0;
    char self[4096];
    int level = IQ_LOG_NOTICE;
    int i;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--ioreqd-path") == 0 && i + 1 < argc) {
            lc.ioreqd_path = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            level = iq_log_parse_level(argv[++i]);
            if (level < 0) {
                fprintf(stderr, "ioreqd: bad --log-level\n");
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--vhost-mode") == 0 && i + 1 < argc) {
            bool mmap;

            mode = argv[++i];
            if (iq_daemon_parse_vhost_mode(mode, &mmap) < 0) {
                fprintf(stderr, "ioreqd: bad --vhost-mode (shadow|mmap)\n");
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            fprintf(stderr, "ioreqd: --launcher: unknown option %s\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    /* Children get "--vhost-mode M" first, then the arguments after --. */
    if (mode != NULL) {
        extra[nr++] = (char *)"--vhost-mode";
        extra[nr++] = (char *)mode;
    }
    for (; i < argc; i++) {
        if (nr >= 64) {
            fprintf(stderr, "ioreqd: --launcher: too many arguments\n");
            return EXIT_USAGE;
        }
        extra[nr++] = argv[i];
    }
    if (nr > 0) {
        lc.extra_args = extra;
        lc.nr_extra = nr;
    }
    if (lc.ioreqd_path == NULL) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n <= 0) {
            fprintf(stderr, "ioreqd: cannot find my own path\n");
            return 1;
        }
        self[n] = '\0';
        lc.ioreqd_path = self;
    }
    iq_log_open("ioreqd-launcher", level, false);
    return iq_xs_launcher_run(&lc) < 0 ? 1 : 0;
}

static int
ioreqd_main(int argc, char **argv, struct iq_xs_devs *devs,
            struct xs_glue *glue, struct iq_xs_backend **be,
            struct iq_xenstore **xs)
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
    if (devs != NULL) {
        for (unsigned i = 0; i < devs->n; i++) {
            if (glue->sock[i][0] != '\0') {
                xs_log_bridged(devs->dev[i].path, devs->dev[i].params,
                               glue->sock[i], cfg->vhost_mmap,
                               devs->dev[i].readonly);
            }
        }
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
    if (devs != NULL) {
        /*
         * xentoolcore_restrict_all closed the xenstore handles opened
         * before it: watch with a fresh one. Everything is registered:
         * tell libxl (state 2, then 4).
         */
        glue->cfg = cfg;
        glue->d = d;
        for (unsigned i = 0; i < IQ_XS_MAX_DEVS; i++) {
            glue->map[i] = i < devs->n ? (int)i : -1;
        }
        rc = iq_xs_open(xs);
        if (rc < 0) {
            IQ_ERR(NULL, "cannot open xenstore: %s", strerror(-rc));
            goto out;
        }
        rc = iq_xs_backend_create(iq_domain_loop(d), *xs, (uint16_t)cfg->domid,
                                  devs, &xs_glue_ops, glue, be);
        if (rc == 0) {
            rc = iq_xs_backend_connect(*be);
        }
        if (rc < 0) {
            IQ_ERR(NULL, "xenstore handshake failed: %s", strerror(-rc));
            goto out;
        }
    }
    status = iq_domain_run(d);
    iq_domain_log_stats(d, IQ_LOG_INFO);
out:
    /* The backend's watch fd is on the domain's loop: remove it first. */
    if (be != NULL) {
        iq_xs_backend_destroy(*be);
        *be = NULL;
    }
    iq_domain_destroy(d);
    if (have_pidfile) {
        unlink(cfg->pidfile);
    }
    iq_daemon_config_fini(cfg);
    free(cfg);
    return status;
}

int
main(int argc, char **argv)
{
    struct iq_xs_devs devs = {.n = 0};
    struct xs_glue glue = {.cfg = NULL};
    struct iq_xs_backend *be = NULL;
    struct iq_xenstore *xs = NULL;
    char **xargv = NULL;
    int xargc = 0;
    long domid;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "--launcher") == 0) {
        return launcher_main(argc, argv);
    }
    domid = argv_domid(argc, argv);
    if (argv_has(argc, argv, "--xenstore") ||
        (domid > 0 && !argv_has(argc, argv, "--device") &&
         !argv_has(argc, argv, "--config"))) {
        if (domid <= 0) {
            fprintf(stderr, "ioreqd: --xenstore needs --domid\n");
            return EXIT_USAGE;
        }
        rc = xs_discover_args(argc, argv, domid, &devs, &glue, &xargc, &xargv);
        if (rc < 0) {
            free_argv(xargc, xargv);
            iq_xs_devs_fini(&devs);
            return EXIT_USAGE;
        }
        argc = xargc;
        argv = xargv;
    }
    rc = ioreqd_main(argc, argv, xargv != NULL ? &devs : NULL, &glue, &be, &xs);
    iq_xs_backend_destroy(be);
    iq_xs_close(xs);
    iq_xs_devs_fini(&devs);
    free_argv(xargc, xargv);
    return rc;
}
