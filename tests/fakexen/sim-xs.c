/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake Xen simulator: the in-memory xenstore. Nodes are a flat list of
 * absolute paths; parents are created on write like xenstored does.
 * Watches fire on the path itself and any descendant, once right after
 * registration, and for @releaseDomain when the domain is destroyed.
 * Everything runs under sim->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sim-priv.h"

#define XS_PATH_MAX 3072u
#define XS_VALUE_MAX 4096u

struct xs_node {
    char *path;
    char *val;
    size_t len;
};

struct xs_watch {
    struct sim_conn *conn;
    char *path;
    char *token;
};

struct sim_xs {
    struct xs_node *n;
    size_t nn;
    struct xs_watch *w;
    size_t nw;
};

/* Absolute, validated form of `in` (relative paths are under dom0's home). */
static int
normalize(const char *in, char *out, size_t cap, bool special_ok)
{
    size_t len;
    size_t i;
    int k;

    if (in[0] == '@') {
        if (!special_ok) {
            return -EINVAL;
        }
        k = snprintf(out, cap, "%s", in);
    } else if (in[0] == '/') {
        k = snprintf(out, cap, "%s", in);
    } else {
        k = snprintf(out, cap, "/local/domain/0/%s", in);
    }
    if (k < 0 || (size_t)k >= cap || (size_t)k >= XS_PATH_MAX) {
        return -EINVAL;
    }
    len = (size_t)k;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)out[i];

        if (ch < 0x21 || ch > 0x7e) {
            return -EINVAL;
        }
        if (ch == '/' && out[i + 1] == '/') {
            return -EINVAL;
        }
    }
    if (out[0] == '/' && len > 1 && out[len - 1] == '/') {
        return -EINVAL;
    }
    return 0;
}

static bool
under(const char *child, const char *parent)
{
    size_t pl = strlen(parent);

    if (strcmp(parent, "/") == 0) {
        return child[0] == '/';
    }
    return strncmp(child, parent, pl) == 0 &&
           (child[pl] == '\0' || child[pl] == '/');
}

static struct xs_node *
find(struct sim_xs *xs, const char *path)
{
    size_t i;

    for (i = 0; i < xs->nn; i++) {
        if (strcmp(xs->n[i].path, path) == 0) {
            return &xs->n[i];
        }
    }
    return NULL;
}

static struct xs_node *
ensure(struct sim_xs *xs, const char *path)
{
    struct xs_node *n = find(xs, path);
    char parent[XS_PATH_MAX];
    char *slash;

    if (n != NULL) {
        return n;
    }
    if (strcmp(path, "/") != 0) {
        snprintf(parent, sizeof(parent), "%s", path);
        slash = strrchr(parent, '/');
        if (slash == parent) {
            slash[1] = '\0';
        } else if (slash != NULL) {
            *slash = '\0';
        }
        if (ensure(xs, parent) == NULL) {
            return NULL;
        }
    }
    n = realloc(xs->n, (xs->nn + 1) * sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    xs->n = n;
    n = &n[xs->nn];
    n->path = strdup(path);
    n->val = calloc(1, 1);
    n->len = 0;
    if (n->path == NULL || n->val == NULL) {
        free(n->path);
        free(n->val);
        return NULL;
    }
    xs->nn++;
    return n;
}

static void
send_event(struct sim_conn *c, const char *path, const char *token)
{
    char buf[XS_PATH_MAX + 512];
    size_t pl = strlen(path) + 1;
    size_t tl = strlen(token) + 1;

    if (c == NULL || c->evfd < 0 || pl + tl > sizeof(buf)) {
        return;
    }
    memcpy(buf, path, pl);
    memcpy(buf + pl, token, tl);
    /* A client that never reads its events loses the newest ones. */
    (void)send(c->evfd, buf, pl + tl, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void
fire(struct iq_sim *sim, const char *path, bool rm)
{
    struct sim_xs *xs = sim->xs;
    size_t i;

    for (i = 0; i < xs->nw; i++) {
        struct xs_watch *w = &xs->w[i];

        if (w->path[0] == '@') {
            continue;
        }
        if (under(path, w->path)) {
            send_event(w->conn, path, w->token);
        } else if (rm && under(w->path, path)) {
            send_event(w->conn, w->path, w->token);
        }
    }
    pthread_cond_broadcast(&sim->cond);
}

void
iq_sim_xs_fire_special(struct iq_sim *sim, const char *name)
{
    struct sim_xs *xs = sim->xs;
    size_t i;

    for (i = 0; i < xs->nw; i++) {
        if (strcmp(xs->w[i].path, name) == 0) {
            send_event(xs->w[i].conn, name, xs->w[i].token);
        }
    }
}

int
iq_sim_xs_write_locked(struct iq_sim *sim, const char *path, const char *value,
                       size_t len)
{
    char abs[XS_PATH_MAX];
    struct xs_node *n;
    char *v;
    int r;

    r = normalize(path, abs, sizeof(abs), false);
    if (r < 0) {
        return r;
    }
    if (len > XS_VALUE_MAX) {
        return -E2BIG;
    }
    n = ensure(sim->xs, abs);
    v = malloc(len + 1);
    if (n == NULL || v == NULL) {
        free(v);
        return -ENOMEM;
    }
    memcpy(v, value, len);
    v[len] = '\0';
    free(n->val);
    n->val = v;
    n->len = len;
    fire(sim, abs, false);
    return 0;
}

int
iq_sim_xs_rm_locked(struct iq_sim *sim, const char *path)
{
    struct sim_xs *xs = sim->xs;
    char abs[XS_PATH_MAX];
    char parent[XS_PATH_MAX];
    char *slash;
    size_t i;
    int r;

    r = normalize(path, abs, sizeof(abs), false);
    if (r < 0) {
        return r;
    }
    if (strcmp(abs, "/") == 0) {
        return -EINVAL;
    }
    if (find(xs, abs) == NULL) {
        /* Like xenstored: fine when the parent exists. */
        snprintf(parent, sizeof(parent), "%s", abs);
        slash = strrchr(parent, '/');
        if (slash == parent) {
            slash[1] = '\0';
        } else if (slash != NULL) {
            *slash = '\0';
        }
        return find(xs, parent) != NULL ? 0 : -ENOENT;
    }
    i = 0;
    while (i < xs->nn) {
        if (under(xs->n[i].path, abs)) {
            free(xs->n[i].path);
            free(xs->n[i].val);
            xs->n[i] = xs->n[--xs->nn];
        } else {
            i++;
        }
    }
    fire(sim, abs, true);
    return 0;
}

char *
iq_sim_xs_read_locked(struct iq_sim *sim, const char *path)
{
    char abs[XS_PATH_MAX];
    struct xs_node *n;

    if (normalize(path, abs, sizeof(abs), false) < 0) {
        return NULL;
    }
    n = find(sim->xs, abs);
    return n != NULL ? strdup(n->val) : NULL;
}

int
iq_sim_xs_init(struct iq_sim *sim)
{
    char path[64];
    char val[16];

    sim->xs = calloc(1, sizeof(*sim->xs));
    if (sim->xs == NULL) {
        return -ENOMEM;
    }
    if (ensure(sim->xs, "/local/domain/0") == NULL) {
        return -ENOMEM;
    }
    snprintf(path, sizeof(path), "/local/domain/%u/domid",
             (unsigned)sim->cfg.domid);
    snprintf(val, sizeof(val), "%u", (unsigned)sim->cfg.domid);
    return iq_sim_xs_write_locked(sim, path, val, strlen(val));
}

void
iq_sim_xs_fini(struct iq_sim *sim)
{
    struct sim_xs *xs = sim->xs;
    size_t i;

    if (xs == NULL) {
        return;
    }
    for (i = 0; i < xs->nn; i++) {
        free(xs->n[i].path);
        free(xs->n[i].val);
    }
    for (i = 0; i < xs->nw; i++) {
        free(xs->w[i].path);
        free(xs->w[i].token);
    }
    free(xs->n);
    free(xs->w);
    free(xs);
    sim->xs = NULL;
}

void
iq_sim_xs_conn_gone(struct iq_sim *sim, struct sim_conn *c)
{
    struct sim_xs *xs = sim->xs;
    size_t i = 0;

    while (xs != NULL && i < xs->nw) {
        if (xs->w[i].conn == c) {
            free(xs->w[i].path);
            free(xs->w[i].token);
            xs->w[i] = xs->w[--xs->nw];
        } else {
            i++;
        }
    }
}

static int
do_watch(struct iq_sim *sim, struct sim_conn *c, const char *abs,
         const char *token, bool add)
{
    struct sim_xs *xs = sim->xs;
    struct xs_watch *w;
    size_t i;

    for (i = 0; i < xs->nw; i++) {
        w = &xs->w[i];
        if (w->conn == c && strcmp(w->path, abs) == 0 &&
            strcmp(w->token, token) == 0) {
            if (add) {
                return -EEXIST;
            }
            free(w->path);
            free(w->token);
            xs->w[i] = xs->w[--xs->nw];
            return 0;
        }
    }
    if (!add) {
        return -ENOENT;
    }
    w = realloc(xs->w, (xs->nw + 1) * sizeof(*w));
    if (w == NULL) {
        return -ENOMEM;
    }
    xs->w = w;
    w = &w[xs->nw];
    w->conn = c;
    w->path = strdup(abs);
    w->token = strdup(token);
    if (w->path == NULL || w->token == NULL) {
        free(w->path);
        free(w->token);
        return -ENOMEM;
    }
    xs->nw++;
    /* xenstored fires every new watch once. */
    send_event(c, abs, token);
    return 0;
}

int
iq_sim_xs_request(struct iq_sim *sim, struct sim_conn *c,
                  const struct fx_msg *m, const char *payload, size_t plen,
                  char *out, size_t ocap, size_t *olen)
{
    char abs[XS_PATH_MAX];
    const char *rest;
    size_t pathlen;
    size_t restlen;
    struct xs_node *n;
    size_t i;
    int r;

    *olen = 0;
    if (c->kind != FX_KIND_XS) {
        return -EBADF;
    }
    pathlen = strnlen(payload, plen);
    if (pathlen == plen || pathlen == 0) {
        return -EINVAL;
    }
    rest = payload + pathlen + 1;
    restlen = plen - pathlen - 1;
    r = normalize(payload, abs, sizeof(abs),
                  m->op == FX_OP_XS_WATCH || m->op == FX_OP_XS_UNWATCH);
    if (r < 0) {
        return r;
    }
    switch (m->op) {
    case FX_OP_XS_READ:
        n = find(sim->xs, abs);
        if (n == NULL) {
            return -ENOENT;
        }
        if (n->len > ocap) {
            return -E2BIG;
        }
        memcpy(out, n->val, n->len);
        *olen = n->len;
        return 0;
    case FX_OP_XS_WRITE:
        if (m->a[1] != restlen) {
            return -EINVAL;
        }
        return iq_sim_xs_write_locked(sim, abs, rest, restlen);
    case FX_OP_XS_MKDIR:
        if (find(sim->xs, abs) != NULL) {
            return 0;
        }
        if (ensure(sim->xs, abs) == NULL) {
            return -ENOMEM;
        }
        fire(sim, abs, false);
        return 0;
    case FX_OP_XS_RM:
        return iq_sim_xs_rm_locked(sim, abs);
    case FX_OP_XS_DIR:
        if (find(sim->xs, abs) == NULL) {
            return -ENOENT;
        }
        for (i = 0; i < sim->xs->nn; i++) {
            const char *p = sim->xs->n[i].path;
            size_t al = strcmp(abs, "/") == 0 ? 0 : strlen(abs);
            size_t nl;

            if (strncmp(p, abs, al) != 0 || p[al] != '/' || p[al + 1] == '\0' ||
                strchr(p + al + 1, '/') != NULL) {
                continue;
            }
            nl = strlen(p + al + 1) + 1;
            if (*olen + nl > ocap) {
                return -E2BIG;
            }
            memcpy(out + *olen, p + al + 1, nl);
            *olen += nl;
        }
        return 0;
    case FX_OP_XS_WATCH:
    case FX_OP_XS_UNWATCH:
        if (strnlen(rest, restlen) == restlen) {
            return -EINVAL;
        }
        return do_watch(sim, c, abs, rest, m->op == FX_OP_XS_WATCH);
    default:
        return -ENOSYS;
    }
}

/* ---- test-side API ------------------------------------------------------- */

int
iq_sim_xs_write(struct iq_sim *sim, const char *path, const char *value)
{
    int r;

    pthread_mutex_lock(&sim->lock);
    r = iq_sim_xs_write_locked(sim, path, value, strlen(value));
    pthread_mutex_unlock(&sim->lock);
    return r;
}

char *
iq_sim_xs_read(struct iq_sim *sim, const char *path)
{
    char *v;

    pthread_mutex_lock(&sim->lock);
    v = iq_sim_xs_read_locked(sim, path);
    pthread_mutex_unlock(&sim->lock);
    return v;
}

int
iq_sim_xs_rm(struct iq_sim *sim, const char *path)
{
    int r;

    pthread_mutex_lock(&sim->lock);
    r = iq_sim_xs_rm_locked(sim, path);
    pthread_mutex_unlock(&sim->lock);
    return r;
}

int
iq_sim_xs_wait(struct iq_sim *sim, const char *path, const char *value,
               unsigned timeout_ms)
{
    struct timespec ts;
    int r = -ETIMEDOUT;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sim->lock);
    for (;;) {
        char *v = iq_sim_xs_read_locked(sim, path);
        bool eq = v != NULL && strcmp(v, value) == 0;

        free(v);
        if (eq) {
            r = 0;
            break;
        }
        if (pthread_cond_timedwait(&sim->cond, &sim->lock, &ts) == ETIMEDOUT) {
            v = iq_sim_xs_read_locked(sim, path);
            r = v != NULL && strcmp(v, value) == 0 ? 0 : -ETIMEDOUT;
            free(v);
            break;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return r;
}
