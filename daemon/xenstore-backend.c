/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xenstore discovery, the libxl backend handshake and the launcher.
 * See xenstore-backend.h for the node layout and the protocol.
 */
#include "xenstore-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ioreqd/xenstore.h"

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/loop.h"

#define XS_CTX "xenstore"
/* Retries of a state-write transaction that raced with another writer. */
#define XS_TXN_RETRIES 16u
/* Longest devid or domid listing we walk (entries per directory). */
#define XS_DIR_MAX 1024u
/* Lowest and highest GIC SPI INTID. */
#define XS_SPI_MIN 32u
#define XS_SPI_MAX 1019u

static const char *const layout_roots[] = {
    [IQ_XS_VIRTIO_DISK] = "/local/domain/0/backend/virtio_disk",
    [IQ_XS_VIRTIO] = "/local/domain/0/backend/virtio",
};

const char *
iq_xs_layout_root(enum iq_xs_layout layout)
{
    if ((unsigned)layout >= IQ_ARRAY_SIZE(layout_roots)) {
        return NULL;
    }
    return layout_roots[layout];
}

/* ---- disk targets ---- */

/* Read a *.vhost-user file: one absolute socket path. */
static int
read_vu_pointer(const char *path, char *sock, size_t sock_len)
{
    char buf[IQ_XS_SOCKET_MAX + 2];
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return IQ_NEG_ERRNO();
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        int err = IQ_NEG_ERRNO();

        iq_close_fd(&fd);
        return err;
    }
    iq_close_fd(&fd);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    if (n == 0 || buf[0] != '/' || strlen(buf) != (size_t)n ||
        strchr(buf, '\n') != NULL || strchr(buf, ',') != NULL) {
        return -EINVAL;
    }
    if ((size_t)n >= IQ_XS_SOCKET_MAX || (size_t)n >= sock_len) {
        return -ENAMETOOLONG;
    }
    memcpy(sock, buf, (size_t)n + 1);
    return 0;
}

int
iq_xs_resolve_target(const char *params, char *sock, size_t sock_len)
{
    size_t len, sfx = sizeof(IQ_XS_VU_SUFFIX) - 1;
    const char *name;
    struct stat st;
    int rc;

    if (params == NULL || sock == NULL || sock_len == 0) {
        return -EINVAL;
    }
    if (stat(params, &st) < 0) {
        return IQ_XS_TARGET_FILE; /* opening it reports the error */
    }
    len = strlen(params);
    if (S_ISSOCK(st.st_mode)) {
        if (strchr(params, ',') != NULL) {
            return -EINVAL;
        }
        if (len >= IQ_XS_SOCKET_MAX || len >= sock_len) {
            return -ENAMETOOLONG;
        }
        memcpy(sock, params, len + 1);
        return IQ_XS_TARGET_VHOST_USER;
    }
    name = strrchr(params, '/');
    name = name != NULL ? name + 1 : params;
    if (S_ISREG(st.st_mode) && strlen(name) > sfx &&
        strcmp(params + len - sfx, IQ_XS_VU_SUFFIX) == 0) {
        rc = read_vu_pointer(params, sock, sock_len);
        return rc < 0 ? rc : IQ_XS_TARGET_VHOST_USER;
    }
    return IQ_XS_TARGET_FILE;
}

/* ---- pure parsing ---- */

int
iq_xs_parse_number(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    unsigned radix = 10;
    const char *p = s;

    if (s == NULL || *s == '\0') {
        return -EINVAL;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        radix = 16;
        p += 2;
        if (*p == '\0') {
            return -EINVAL;
        }
    }
    for (; *p != '\0'; p++) {
        unsigned d;

        if (*p >= '0' && *p <= '9') {
            d = (unsigned)(*p - '0');
        } else if (radix == 16 && *p >= 'a' && *p <= 'f') {
            d = (unsigned)(*p - 'a') + 10;
        } else if (radix == 16 && *p >= 'A' && *p <= 'F') {
            d = (unsigned)(*p - 'A') + 10;
        } else {
            return -EINVAL;
        }
        if (iq_mul_overflow_u64(v, radix, &v) ||
            iq_add_overflow_u64(v, d, &v)) {
            return -ERANGE;
        }
    }
    if (v > max) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

int
iq_xs_parse_state(const char *s, int *out)
{
    uint64_t v;

    /* A state is one decimal digit; refuse hex and leading zeros. */
    if (s == NULL || s[0] < '0' || s[0] > '9' || s[1] != '\0') {
        return -EINVAL;
    }
    if (iq_xs_parse_number(s, IQ_XS_CLOSED, &v) < 0) {
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

int
iq_xs_parse_mode(const char *s, bool *readonly)
{
    if (s == NULL) {
        return -EINVAL;
    }
    if (strcmp(s, "w") == 0) {
        *readonly = false;
        return 0;
    }
    if (strcmp(s, "r") == 0) {
        *readonly = true;
        return 0;
    }
    return -EINVAL;
}

int
iq_xs_parse_virtio_type(const char *s, uint32_t *id)
{
    static const char prefix[] = "virtio,device";
    const char *p;
    uint32_t v = 0;
    unsigned digits = 0;

    if (s == NULL || strncmp(s, prefix, sizeof(prefix) - 1) != 0) {
        return -EINVAL;
    }
    for (p = s + sizeof(prefix) - 1; *p != '\0'; p++) {
        unsigned d;

        if (*p >= '0' && *p <= '9') {
            d = (unsigned)(*p - '0');
        } else if (*p >= 'a' && *p <= 'f') {
            d = (unsigned)(*p - 'a') + 10;
        } else {
            return -EINVAL;
        }
        /* Virtio device IDs are small; 8 hex digits is plenty. */
        if (++digits > 8) {
            return -EINVAL;
        }
        v = (v << 4) | d;
    }
    *id = v;
    return 0;
}

void
iq_xs_dev_fini(struct iq_xs_dev *dev)
{
    if (dev == NULL) {
        return;
    }
    free(dev->params);
    dev->params = NULL;
}

void
iq_xs_devs_fini(struct iq_xs_devs *devs)
{
    unsigned i;

    if (devs == NULL) {
        return;
    }
    for (i = 0; i < devs->n && i < IQ_XS_MAX_DEVS; i++) {
        iq_xs_dev_fini(&devs->dev[i]);
    }
    devs->n = 0;
}

/* An optional key that, when present, must have the given value. */
static bool
key_is_or_absent(iq_xs_get_fn get, void *opaque, const char *key,
                 const char *want)
{
    const char *v = get(opaque, key);

    return v == NULL || strcmp(v, want) == 0;
}

static int
parse_common(uint16_t domid, iq_xs_get_fn get, void *opaque,
             struct iq_xs_dev *dev)
{
    uint64_t v;
    const char *fe = get(opaque, "frontend-id");

    if (iq_xs_parse_state(get(opaque, "state"), &dev->state) < 0) {
        return -EINVAL;
    }
    if (fe != NULL) {
        if (iq_xs_parse_number(fe, UINT16_MAX, &v) < 0 || v != domid) {
            return -EINVAL;
        }
    }
    /* libxl 4.17 writes base in decimal, 4.18 in 0x hex: accept both. */
    if (iq_xs_parse_number(get(opaque, "base"), UINT64_MAX - IQ_XS_DEV_WINDOW,
                           &v) < 0 ||
        v == 0 || v % IQ_XS_DEV_WINDOW != 0) {
        return -EINVAL;
    }
    dev->base = v;
    if (iq_xs_parse_number(get(opaque, "irq"), XS_SPI_MAX, &v) < 0 ||
        v < XS_SPI_MIN) {
        return -EINVAL;
    }
    dev->irq = (uint32_t)v;
    return 0;
}

int
iq_xs_parse_dev(enum iq_xs_layout layout, uint16_t domid, uint32_t devid,
                const char *path, iq_xs_get_fn get, void *opaque,
                struct iq_xs_dev *dev)
{
    const char *s;
    size_t len;
    int rc;

    memset(dev, 0, sizeof(*dev));
    dev->layout = layout;
    dev->devid = devid;
    if (path == NULL || strlen(path) >= sizeof(dev->path)) {
        return -EINVAL;
    }
    memcpy(dev->path, path, strlen(path) + 1);
    rc = parse_common(domid, get, opaque, dev);
    if (rc < 0) {
        return rc;
    }
    switch (layout) {
    case IQ_XS_VIRTIO_DISK:
        if (!key_is_or_absent(get, opaque, "specification", "virtio") ||
            !key_is_or_absent(get, opaque, "transport", "mmio")) {
            return -EOPNOTSUPP;
        }
        if (iq_xs_parse_mode(get(opaque, "mode"), &dev->readonly) < 0) {
            return -EINVAL;
        }
        s = get(opaque, "params");
        if (s == NULL) {
            return -EINVAL;
        }
        len = strlen(s);
        if (len == 0 || len >= IQ_XS_PARAMS_MAX) {
            return -EINVAL;
        }
        dev->params = strdup(s);
        if (dev->params == NULL) {
            return -ENOMEM;
        }
        return 0;
    case IQ_XS_VIRTIO:
        s = get(opaque, "transport");
        if (s == NULL || strcmp(s, "mmio") != 0) {
            return -EOPNOTSUPP;
        }
        if (iq_xs_parse_virtio_type(get(opaque, "type"), &dev->virtio_id) < 0) {
            return -EINVAL;
        }
        s = get(opaque, "grant_usage");
        if (s != NULL) {
            if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0) {
                return -EINVAL;
            }
            dev->grant_usage = s[0] == '1';
        }
        return 0;
    }
    return -EINVAL;
}

int
iq_xs_check_devs(const struct iq_xs_devs *devs, unsigned *bad)
{
    unsigned i, j;

    if (devs->n > IQ_XS_MAX_DEVS) {
        *bad = IQ_XS_MAX_DEVS;
        return -EINVAL;
    }
    for (i = 0; i < devs->n; i++) {
        for (j = 0; j < i; j++) {
            const struct iq_xs_dev *a = &devs->dev[j], *b = &devs->dev[i];

            /* Windows are aligned 0x200 blocks: overlap means equal. */
            if (a->base == b->base || a->irq == b->irq) {
                *bad = i;
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* ---- xenstore helpers ---- */

int
iq_xs_parse_static_max(const char *s, uint64_t *bytes)
{
    uint64_t kib;
    int rc = iq_xs_parse_number(s, 1ull << 30, &kib); /* 1 TiB in KiB */

    if (rc < 0) {
        return rc;
    }
    if (kib == 0 || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
        return -EINVAL;
    }
    *bytes = (kib * 1024u + 4095u) & ~4095ull;
    return 0;
}

int
iq_xs_guest_ram(uint16_t domid, uint64_t *bytes)
{
    struct iq_xenstore *xs;
    char path[64];
    unsigned int len = 0;
    char *v;
    int rc;

    rc = iq_xs_open(&xs);
    if (rc < 0) {
        return rc;
    }
    snprintf(path, sizeof(path), "/local/domain/%u/memory/static-max",
             (unsigned)domid);
    v = iq_xenstore_read(xs, IQ_XBT_NULL, path, &len);
    rc = v != NULL ? iq_xs_parse_static_max(v, bytes) : IQ_NEG_ERRNO();
    free(v);
    iq_xs_close(xs);
    return rc;
}

int
iq_xs_open(struct iq_xenstore **out)
{
    *out = iq_xenstore_open();
    return *out != NULL ? 0 : IQ_NEG_ERRNO();
}

void
iq_xs_close(struct iq_xenstore *xs)
{
    iq_xenstore_close(xs);
}

/* Read `dir/key` into a malloc'ed string, or NULL (errno set). */
static char *
xs_read_key(struct iq_xenstore *xs, uint32_t t, const char *dir,
            const char *key)
{
    char path[IQ_XS_PATH_MAX + 32];
    unsigned int len = 0;
    int n;

    n = snprintf(path, sizeof(path), "%s/%s", dir, key);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return iq_xenstore_read(xs, t, path, &len);
}

/*
 * The keys of one backend directory, read once each into a small table so
 * the pure parser can look them up (and no key is read twice).
 */
#define XS_KEYS_MAX 12u
struct key_table {
    const char *names[XS_KEYS_MAX];
    char *values[XS_KEYS_MAX];
    unsigned n;
};

static const char *
key_table_get(void *opaque, const char *key)
{
    const struct key_table *kt = opaque;
    unsigned i;

    for (i = 0; i < kt->n; i++) {
        if (strcmp(kt->names[i], key) == 0) {
            return kt->values[i];
        }
    }
    return NULL;
}

static void
key_table_fini(struct key_table *kt)
{
    unsigned i;

    for (i = 0; i < kt->n; i++) {
        free(kt->values[i]);
        kt->values[i] = NULL;
    }
    kt->n = 0;
}

static int
key_table_load(struct iq_xenstore *xs, const char *dir, struct key_table *kt)
{
    static const char *const keys[] = {
        "state",       "base",          "irq",       "params", "mode",
        "frontend-id", "specification", "transport", "type",   "grant_usage",
    };
    unsigned i;

    kt->n = 0;
    for (i = 0; i < IQ_ARRAY_SIZE(keys) && kt->n < XS_KEYS_MAX; i++) {
        char *v = xs_read_key(xs, IQ_XBT_NULL, dir, keys[i]);

        if (v == NULL) {
            if (errno == ENOENT) {
                continue;
            }
            key_table_fini(kt);
            return IQ_NEG_ERRNO();
        }
        kt->names[kt->n] = keys[i];
        kt->values[kt->n] = v;
        kt->n++;
    }
    return 0;
}

static int
cmp_dev_base(const void *a, const void *b)
{
    const struct iq_xs_dev *x = a, *y = b;

    return x->base < y->base ? -1 : x->base > y->base;
}

static int
discover_layout(struct iq_xenstore *xs, uint16_t domid,
                enum iq_xs_layout layout, struct iq_xs_devs *out)
{
    char dir[IQ_XS_PATH_MAX];
    char **ents;
    unsigned int nents = 0, i;
    int n, rc = 0;

    n = snprintf(dir, sizeof(dir), "%s/%u", iq_xs_layout_root(layout),
                 (unsigned)domid);
    if (n < 0 || (size_t)n >= sizeof(dir)) {
        return -ENAMETOOLONG;
    }
    ents = iq_xenstore_directory(xs, IQ_XBT_NULL, dir, &nents);
    if (ents == NULL) {
        return errno == ENOENT ? 0 : IQ_NEG_ERRNO();
    }
    for (i = 0; i < nents && i < XS_DIR_MAX; i++) {
        char path[IQ_XS_PATH_MAX];
        struct key_table kt;
        struct iq_xs_dev dev;
        uint64_t devid;

        if (iq_xs_parse_number(ents[i], UINT32_MAX, &devid) < 0) {
            IQ_WARN(XS_CTX, "ignoring %s/%s: not a device id", dir, ents[i]);
            continue;
        }
        n = snprintf(path, sizeof(path), "%s/%s", dir, ents[i]);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            rc = -ENAMETOOLONG;
            break;
        }
        rc = key_table_load(xs, path, &kt);
        if (rc < 0) {
            IQ_ERR(XS_CTX, "%s: read failed: %s", path, strerror(-rc));
            break;
        }
        rc = iq_xs_parse_dev(layout, domid, (uint32_t)devid, path,
                             key_table_get, &kt, &dev);
        key_table_fini(&kt);
        if (rc < 0) {
            IQ_ERR(XS_CTX, "%s: unusable backend node: %s", path,
                   strerror(-rc));
            iq_xs_dev_fini(&dev);
            rc = -EINVAL;
            break;
        }
        if (dev.state < IQ_XS_INITIALISING || dev.state > IQ_XS_CONNECTED) {
            IQ_INFO(XS_CTX, "%s: skipped (state %d)", path, dev.state);
            iq_xs_dev_fini(&dev);
            continue;
        }
        if (out->n >= IQ_XS_MAX_DEVS) {
            IQ_ERR(XS_CTX, "domain %u: more than %u virtio devices",
                   (unsigned)domid, IQ_XS_MAX_DEVS);
            iq_xs_dev_fini(&dev);
            rc = -E2BIG;
            break;
        }
        out->dev[out->n++] = dev;
    }
    free(ents);
    return rc;
}

int
iq_xs_discover(struct iq_xenstore *xs, uint16_t domid, struct iq_xs_devs *out)
{
    unsigned bad = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = discover_layout(xs, domid, IQ_XS_VIRTIO_DISK, out);
    if (rc == 0) {
        rc = discover_layout(xs, domid, IQ_XS_VIRTIO, out);
    }
    if (rc < 0) {
        iq_xs_devs_fini(out);
        return rc;
    }
    if (out->n == 0) {
        return -ENOENT;
    }
    qsort(out->dev, out->n, sizeof(out->dev[0]), cmp_dev_base);
    if (iq_xs_check_devs(out, &bad) < 0) {
        IQ_ERR(XS_CTX, "%s: MMIO window or IRQ clashes with another device",
               out->dev[bad].path);
        iq_xs_devs_fini(out);
        return -EINVAL;
    }
    return (int)out->n;
}

int
iq_xs_write_state(struct iq_xenstore *xs, const char *dir, int state)
{
    char path[IQ_XS_PATH_MAX + 8];
    char val[4];
    unsigned try;
    int n;

    n = snprintf(path, sizeof(path), "%s/state", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    n = snprintf(val, sizeof(val), "%d", state);
    if (n < 0 || (size_t)n >= sizeof(val)) {
        return -EINVAL;
    }
    /*
     * Write only while the node exists: libxl may have given up and removed
     * the directory, and a plain write would recreate a stale node.
     */
    for (try = 0; try < XS_TXN_RETRIES; try++) {
        uint32_t t = iq_xenstore_transaction_start(xs);
        unsigned int len = 0;
        char *cur;

        if (t == IQ_XBT_NULL) {
            return IQ_NEG_ERRNO();
        }
        cur = iq_xenstore_read(xs, t, path, &len);
        if (cur == NULL) {
            int err = IQ_NEG_ERRNO();

            (void)iq_xenstore_transaction_end(xs, t, true);
            return err;
        }
        free(cur);
        if (!iq_xenstore_write(xs, t, path, val, (unsigned int)n)) {
            int err = IQ_NEG_ERRNO();

            (void)iq_xenstore_transaction_end(xs, t, true);
            return err;
        }
        if (iq_xenstore_transaction_end(xs, t, false)) {
            return 0;
        }
        if (errno != EAGAIN) {
            return IQ_NEG_ERRNO();
        }
    }
    return -EAGAIN;
}

/* Read a state node: the state, or -ENOENT / -EINVAL / -errno. */
static int
read_state(struct iq_xenstore *xs, const char *dir)
{
    char *s = xs_read_key(xs, IQ_XBT_NULL, dir, "state");
    int st, rc;

    if (s == NULL) {
        return IQ_NEG_ERRNO();
    }
    rc = iq_xs_parse_state(s, &st);
    free(s);
    return rc < 0 ? rc : st;
}

/* ---- backend state machine ---- */

#define BE_TOKEN_STATE "iq-xs-state"
#define BE_TOKEN_DIR "iq-xs-dir"
#define BE_TOKEN_DOMAIN "iq-xs-domain"

struct be_dev {
    enum iq_xs_layout layout;
    uint32_t devid;
    uint64_t base; /* 0 until parsed */
    uint32_t irq;
    char path[IQ_XS_PATH_MAX];
    char state_path[IQ_XS_PATH_MAX + 8];
    bool watched;
    bool closed;
    bool refused; /* malformed or not accepted: left alone */
};

struct iq_xs_backend {
    struct iq_loop *loop;
    struct iq_xenstore *xs;
    int fd; /* xs_fileno, not owned */
    bool fd_added;
    bool domain_watched;
    bool dir_watched[2];
    bool gone;
    bool full_logged;
    uint16_t domid;
    unsigned n;
    struct be_dev dev[IQ_XS_MAX_DEVS];
    char dir[2][IQ_XS_PATH_MAX];
    const struct iq_xs_backend_ops *ops;
    void *opaque;
};

static bool
be_dev_live(const struct be_dev *d)
{
    return !d->closed && !d->refused;
}

static void
be_close_dev(struct iq_xs_backend *be, unsigned i, bool write_closed)
{
    struct be_dev *d = &be->dev[i];
    int rc;

    if (!be_dev_live(d)) {
        return;
    }
    d->closed = true;
    IQ_NOTICE(XS_CTX, "%s: closing", d->path);
    if (be->ops->close != NULL) {
        be->ops->close(be->opaque, i);
    }
    if (write_closed) {
        rc = iq_xs_write_state(be->xs, d->path, IQ_XS_CLOSED);
        if (rc < 0 && rc != -ENOENT) {
            IQ_WARN(XS_CTX, "%s: writing state 6 failed: %s", d->path,
                    strerror(-rc));
        }
    }
}

static void
be_check_gone(struct iq_xs_backend *be)
{
    unsigned i;

    if (be->gone) {
        return;
    }
    for (i = 0; i < be->n; i++) {
        if (be_dev_live(&be->dev[i])) {
            return;
        }
    }
    be->gone = true;
    IQ_NOTICE(XS_CTX, "domain %u: every device closed", (unsigned)be->domid);
    if (be->ops->gone != NULL) {
        be->ops->gone(be->opaque);
    }
}

static bool
be_domain_exists(struct iq_xs_backend *be)
{
    char path[32];
    unsigned int len = 0;
    char *v;

    (void)snprintf(path, sizeof(path), "/local/domain/%u", (unsigned)be->domid);
    v = iq_xenstore_read(be->xs, IQ_XBT_NULL, path, &len);
    if (v == NULL) {
        /* Only a definite "no such node" means the domain is gone. */
        return errno != ENOENT;
    }
    free(v);
    return true;
}

/* Append a device slot and watch its state node. */
static int
be_track(struct iq_xs_backend *be, enum iq_xs_layout layout, uint32_t devid,
         const char *path, unsigned *idx)
{
    struct be_dev *d;
    int n;

    if (be->n >= IQ_XS_MAX_DEVS) {
        return -E2BIG;
    }
    if (strlen(path) >= sizeof(d->path)) {
        return -ENAMETOOLONG;
    }
    d = &be->dev[be->n];
    memset(d, 0, sizeof(*d));
    d->layout = layout;
    d->devid = devid;
    n = snprintf(d->path, sizeof(d->path), "%s", path);
    if (n < 0) {
        return -EINVAL;
    }
    (void)snprintf(d->state_path, sizeof(d->state_path), "%s/state", path);
    *idx = be->n++;
    if (!iq_xenstore_watch(be->xs, d->state_path, BE_TOKEN_STATE)) {
        return IQ_NEG_ERRNO();
    }
    d->watched = true;
    return 0;
}

static bool
be_known(const struct iq_xs_backend *be, enum iq_xs_layout layout,
         uint32_t devid)
{
    unsigned i;

    for (i = 0; i < be->n; i++) {
        if (be->dev[i].layout == layout && be->dev[i].devid == devid) {
            return true;
        }
    }
    return false;
}

/* A new device's window or IRQ is already taken by a live device. */
static bool
be_clashes(const struct iq_xs_backend *be, unsigned idx,
           const struct iq_xs_dev *dev)
{
    unsigned i;

    for (i = 0; i < be->n; i++) {
        if (i != idx && be_dev_live(&be->dev[i]) &&
            (be->dev[i].base == dev->base || be->dev[i].irq == dev->irq)) {
            return true;
        }
    }
    return false;
}

/* Write 2 (InitWait) then 4 (Connected) if the device is still at 1..3. */
static int
be_connect_dev(struct iq_xs_backend *be, unsigned i)
{
    struct be_dev *d = &be->dev[i];
    int st = read_state(be->xs, d->path), rc = 0;

    if (st < 0) {
        rc = st;
    } else if (st >= IQ_XS_INITIALISING && st <= IQ_XS_INITIALISED) {
        /*
         * libxl waits for InitWait; Connected follows at once since the
         * device is fully served from here on.
         */
        rc = iq_xs_write_state(be->xs, d->path, IQ_XS_INITWAIT);
        if (rc == 0) {
            rc = iq_xs_write_state(be->xs, d->path, IQ_XS_CONNECTED);
        }
    }
    if (rc < 0) {
        IQ_ERR(XS_CTX, "%s: cannot connect: %s", d->path, strerror(-rc));
    } else {
        IQ_NOTICE(XS_CTX, "%s: connected", d->path);
    }
    return rc;
}

/*
 * libxl writes each disk in its own transaction: pick up devices that
 * appeared after discovery (state 1 and not known yet).
 */
static void
be_scan_new(struct iq_xs_backend *be, enum iq_xs_layout layout)
{
    char **ents;
    unsigned int nents = 0, i;

    ents = iq_xenstore_directory(be->xs, IQ_XBT_NULL, be->dir[layout], &nents);
    if (ents == NULL) {
        return;
    }
    for (i = 0; i < nents && i < XS_DIR_MAX; i++) {
        char path[IQ_XS_PATH_MAX];
        struct key_table kt;
        struct iq_xs_dev dev;
        uint64_t devid;
        unsigned idx = IQ_XS_MAX_DEVS;
        int n, rc;

        if (iq_xs_parse_number(ents[i], UINT32_MAX, &devid) < 0 ||
            be_known(be, layout, (uint32_t)devid)) {
            continue;
        }
        n = snprintf(path, sizeof(path), "%s/%s", be->dir[layout], ents[i]);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            continue;
        }
        /* Not complete yet (no state): look again on the next event. */
        if (read_state(be->xs, path) != IQ_XS_INITIALISING) {
            continue;
        }
        rc = be_track(be, layout, (uint32_t)devid, path, &idx);
        if (rc == -E2BIG) {
            if (!be->full_logged) {
                IQ_ERR(XS_CTX, "domain %u: more than %u virtio devices",
                       (unsigned)be->domid, IQ_XS_MAX_DEVS);
                be->full_logged = true;
            }
            break;
        }
        if (rc < 0) {
            IQ_ERR(XS_CTX, "%s: cannot watch: %s", path, strerror(-rc));
            if (idx < be->n) {
                be->dev[idx].refused = true;
            }
            continue;
        }
        rc = key_table_load(be->xs, path, &kt);
        if (rc == 0) {
            rc = iq_xs_parse_dev(layout, be->domid, (uint32_t)devid, path,
                                 key_table_get, &kt, &dev);
            key_table_fini(&kt);
        }
        if (rc == 0 && be_clashes(be, idx, &dev)) {
            iq_xs_dev_fini(&dev);
            rc = -EEXIST;
        }
        if (rc < 0) {
            IQ_ERR(XS_CTX, "%s: unusable backend node: %s", path,
                   strerror(-rc));
            be->dev[idx].refused = true;
            continue;
        }
        be->dev[idx].base = dev.base;
        be->dev[idx].irq = dev.irq;
        rc = be->ops->add != NULL ? be->ops->add(be->opaque, idx, &dev)
                                  : -EOPNOTSUPP;
        iq_xs_dev_fini(&dev);
        if (rc < 0) {
            IQ_ERR(XS_CTX, "%s: device not added: %s", path, strerror(-rc));
            be->dev[idx].refused = true;
            continue;
        }
        (void)be_connect_dev(be, idx);
    }
    free(ents);
}

/* Re-read the domain's devices and every open device's state. */
static void
be_rescan(struct iq_xs_backend *be)
{
    unsigned i;

    if (!be->gone) {
        be_scan_new(be, IQ_XS_VIRTIO_DISK);
        be_scan_new(be, IQ_XS_VIRTIO);
    }
    for (i = 0; i < be->n; i++) {
        struct be_dev *d = &be->dev[i];
        int st;

        if (!be_dev_live(d)) {
            continue;
        }
        st = read_state(be->xs, d->path);
        if (st == -ENOENT) {
            be_close_dev(be, i, false);
        } else if (st == IQ_XS_CLOSING || st == IQ_XS_CLOSED) {
            be_close_dev(be, i, st == IQ_XS_CLOSING);
        } else if (st < 0) {
            IQ_DBG(XS_CTX, "%s: state unreadable: %s", d->path, strerror(-st));
        }
    }
    if (!be_domain_exists(be)) {
        IQ_NOTICE(XS_CTX, "domain %u is gone", (unsigned)be->domid);
        for (i = 0; i < be->n; i++) {
            be_close_dev(be, i, false);
        }
    }
    be_check_gone(be);
}

void
iq_xs_backend_poll(struct iq_xs_backend *be)
{
    unsigned budget = 256;
    bool any = false;
    char **ev;

    /* Drain every pending event, then act once on the current state. */
    while (budget-- > 0 && (ev = iq_xenstore_check_watch(be->xs)) != NULL) {
        free(ev);
        any = true;
    }
    if (any) {
        be_rescan(be);
    }
}

static void
be_fd_cb(void *opaque, uint32_t events)
{
    (void)events;
    iq_xs_backend_poll(opaque);
}

int
iq_xs_backend_create(struct iq_loop *loop, struct iq_xenstore *xs,
                     uint16_t domid, const struct iq_xs_devs *devs,
                     const struct iq_xs_backend_ops *ops, void *opaque,
                     struct iq_xs_backend **out)
{
    struct iq_xs_backend *be;
    unsigned i, idx;
    int rc;

    *out = NULL;
    if (devs->n > IQ_XS_MAX_DEVS || ops == NULL) {
        return -EINVAL;
    }
    be = calloc(1, sizeof(*be));
    if (be == NULL) {
        return -ENOMEM;
    }
    be->loop = loop;
    be->xs = xs;
    be->fd = -1;
    be->domid = domid;
    be->ops = ops;
    be->opaque = opaque;
    for (i = 0; i < devs->n; i++) {
        rc = be_track(be, devs->dev[i].layout, devs->dev[i].devid,
                      devs->dev[i].path, &idx);
        if (rc < 0) {
            goto fail;
        }
        be->dev[idx].base = devs->dev[i].base;
        be->dev[idx].irq = devs->dev[i].irq;
    }
    for (i = 0; i < 2; i++) {
        (void)snprintf(be->dir[i], sizeof(be->dir[i]), "%s/%u",
                       iq_xs_layout_root((enum iq_xs_layout)i),
                       (unsigned)domid);
        if (!iq_xenstore_watch(xs, be->dir[i], BE_TOKEN_DIR)) {
            rc = IQ_NEG_ERRNO();
            goto fail;
        }
        be->dir_watched[i] = true;
    }
    if (!iq_xenstore_watch(xs, "@releaseDomain", BE_TOKEN_DOMAIN)) {
        rc = IQ_NEG_ERRNO();
        goto fail;
    }
    be->domain_watched = true;
    be->fd = iq_xenstore_fileno(xs);
    if (be->fd < 0) {
        rc = IQ_NEG_ERRNO();
        goto fail;
    }
    rc = iq_loop_add_fd(loop, be->fd, EPOLLIN, be_fd_cb, be);
    if (rc < 0) {
        goto fail;
    }
    be->fd_added = true;
    *out = be;
    return 0;

fail:
    iq_xs_backend_destroy(be);
    return rc;
}

void
iq_xs_backend_destroy(struct iq_xs_backend *be)
{
    unsigned i;

    if (be == NULL) {
        return;
    }
    if (be->fd_added) {
        iq_loop_del_fd(be->loop, be->fd);
    }
    if (be->domain_watched) {
        (void)iq_xenstore_unwatch(be->xs, "@releaseDomain", BE_TOKEN_DOMAIN);
    }
    for (i = 0; i < 2; i++) {
        if (be->dir_watched[i]) {
            (void)iq_xenstore_unwatch(be->xs, be->dir[i], BE_TOKEN_DIR);
        }
    }
    for (i = 0; i < be->n; i++) {
        if (be->dev[i].watched) {
            (void)iq_xenstore_unwatch(be->xs, be->dev[i].state_path,
                                      BE_TOKEN_STATE);
        }
    }
    free(be);
}

int
iq_xs_backend_connect(struct iq_xs_backend *be)
{
    unsigned i;
    int first = 0;

    for (i = 0; i < be->n; i++) {
        int rc;

        if (!be_dev_live(&be->dev[i])) {
            continue;
        }
        rc = be_connect_dev(be, i);
        if (rc < 0 && first == 0) {
            first = rc;
        }
    }
    /* Devices libxl added meanwhile, and states that moved on. */
    be_rescan(be);
    return first;
}

bool
iq_xs_backend_gone(const struct iq_xs_backend *be)
{
    return be->gone;
}

/* ---- launcher ---- */

#define LA_TOKEN "iq-xs-launcher"

struct la_domain {
    uint16_t domid;
    bool used;
    bool seen; /* still listed in the last scan */
    bool exited; /* child reaped: never restarted */
    pid_t pid;
};

struct iq_xs_launcher {
    struct iq_loop *loop;
    struct iq_xenstore *xs;
    int xs_fd;
    bool xs_fd_added;
    bool watched;
    int timer_fd;
    bool timer_added;
    bool timer_armed;
    unsigned started;
    struct iq_xs_launcher_config cfg;
    struct la_domain dom[IQ_XS_LAUNCHER_MAX_DOMAINS];
};

static struct la_domain *
la_find(struct iq_xs_launcher *l, uint16_t domid)
{
    unsigned i;

    for (i = 0; i < IQ_XS_LAUNCHER_MAX_DOMAINS; i++) {
        if (l->dom[i].used && l->dom[i].domid == domid) {
            return &l->dom[i];
        }
    }
    return NULL;
}

static struct la_domain *
la_alloc(struct iq_xs_launcher *l, uint16_t domid)
{
    unsigned i;

    for (i = 0; i < IQ_XS_LAUNCHER_MAX_DOMAINS; i++) {
        if (!l->dom[i].used) {
            memset(&l->dom[i], 0, sizeof(l->dom[i]));
            l->dom[i].used = true;
            l->dom[i].domid = domid;
            return &l->dom[i];
        }
    }
    return NULL;
}

/* True when any device of this domain's virtio_disk dir is in state 1. */
static bool
la_domain_waiting(struct iq_xs_launcher *l, const char *domdir)
{
    char **ents;
    unsigned int n = 0, i;
    bool waiting = false;

    ents = iq_xenstore_directory(l->xs, IQ_XBT_NULL, domdir, &n);
    if (ents == NULL) {
        return false;
    }
    for (i = 0; i < n && i < XS_DIR_MAX && !waiting; i++) {
        char path[IQ_XS_PATH_MAX];
        int k = snprintf(path, sizeof(path), "%s/%s", domdir, ents[i]);

        if (k > 0 && (size_t)k < sizeof(path) &&
            read_state(l->xs, path) == IQ_XS_INITIALISING) {
            waiting = true;
        }
    }
    free(ents);
    return waiting;
}

static void
la_arm_timer(struct iq_xs_launcher *l)
{
    struct itimerspec its;
    unsigned ms =
        l->cfg.settle_ms ? l->cfg.settle_ms : IQ_XS_LAUNCHER_SETTLE_MS;

    if (l->timer_armed) {
        return;
    }
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = ms / 1000u;
    its.it_value.tv_nsec = (long)(ms % 1000u) * 1000000L;
    if (timerfd_settime(l->timer_fd, 0, &its, NULL) < 0) {
        IQ_WARN(XS_CTX, "launcher: timerfd_settime: %s", strerror(errno));
        return;
    }
    l->timer_armed = true;
}

static int
la_spawn(struct iq_xs_launcher *l, struct la_domain *d)
{
    char domid[8];
    char **argv;
    unsigned i, argc = 0;
    sigset_t none;
    pid_t pid;

    argv = calloc(l->cfg.nr_extra + 6u, sizeof(*argv));
    if (argv == NULL) {
        return -ENOMEM;
    }
    (void)snprintf(domid, sizeof(domid), "%u", (unsigned)d->domid);
    argv[argc++] = (char *)l->cfg.ioreqd_path;
    argv[argc++] = (char *)"--domid";
    argv[argc++] = domid;
    argv[argc++] = (char *)"--xenstore";
    for (i = 0; i < l->cfg.nr_extra; i++) {
        argv[argc++] = l->cfg.extra_args[i];
    }
    argv[argc] = NULL;
    sigemptyset(&none);
    pid = fork();
    if (pid < 0) {
        int err = IQ_NEG_ERRNO();

        free(argv);
        return err;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)close_range(3, ~0u, 0);
        execv(l->cfg.ioreqd_path, argv);
        _exit(127);
    }
    free(argv);
    d->pid = pid;
    l->started++;
    IQ_NOTICE(XS_CTX, "launcher: started %s for domain %u (pid %ld)",
              l->cfg.ioreqd_path, (unsigned)d->domid, (long)pid);
    return 0;
}

/*
 * One pass over backend/virtio_disk. With `spawn` false, new waiting
 * domains only arm the settle timer; with `spawn` true they get a daemon.
 */
static void
la_scan(struct iq_xs_launcher *l, bool spawn)
{
    const char *root = iq_xs_layout_root(IQ_XS_VIRTIO_DISK);
    char **ents;
    unsigned int n = 0, i;

    for (i = 0; i < IQ_XS_LAUNCHER_MAX_DOMAINS; i++) {
        l->dom[i].seen = false;
    }
    ents = iq_xenstore_directory(l->xs, IQ_XBT_NULL, root, &n);
    if (ents == NULL) {
        n = 0;
    }
    for (i = 0; i < n && i < XS_DIR_MAX; i++) {
        char domdir[IQ_XS_PATH_MAX];
        struct la_domain *d;
        uint64_t domid;
        int k;

        if (iq_xs_parse_number(ents[i], UINT16_MAX, &domid) < 0 || domid == 0) {
            continue;
        }
        d = la_find(l, (uint16_t)domid);
        if (d != NULL) {
            d->seen = true;
            continue;
        }
        k = snprintf(domdir, sizeof(domdir), "%s/%s", root, ents[i]);
        if (k < 0 || (size_t)k >= sizeof(domdir) ||
            !la_domain_waiting(l, domdir)) {
            continue;
        }
        if (!spawn) {
            la_arm_timer(l);
            continue;
        }
        d = la_alloc(l, (uint16_t)domid);
        if (d == NULL) {
            IQ_ERR(XS_CTX,
                   "launcher: more than %u domains, domain %u "
                   "not served",
                   IQ_XS_LAUNCHER_MAX_DOMAINS, (unsigned)domid);
            continue;
        }
        d->seen = true;
        k = la_spawn(l, d);
        if (k < 0) {
            IQ_ERR(XS_CTX,
                   "launcher: cannot start ioreqd for domain %u: "
                   "%s",
                   (unsigned)domid, strerror(-k));
            d->exited = true;
        }
    }
    free(ents);
    /* Forget domains whose nodes are gone and whose child has exited. */
    for (i = 0; i < IQ_XS_LAUNCHER_MAX_DOMAINS; i++) {
        struct la_domain *d = &l->dom[i];

        if (d->used && !d->seen && (d->exited || d->pid == 0)) {
            d->used = false;
        }
    }
}

void
iq_xs_launcher_scan(struct iq_xs_launcher *l)
{
    la_scan(l, false);
}

static void
la_xs_cb(void *opaque, uint32_t events)
{
    struct iq_xs_launcher *l = opaque;
    unsigned budget = 256;
    bool any = false;
    char **ev;

    (void)events;
    while (budget-- > 0 && (ev = iq_xenstore_check_watch(l->xs)) != NULL) {
        free(ev);
        any = true;
    }
    if (any) {
        la_scan(l, false);
    }
}

static void
la_timer_cb(void *opaque, uint32_t events)
{
    struct iq_xs_launcher *l = opaque;
    uint64_t ticks;

    (void)events;
    if (read(l->timer_fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN) {
        return;
    }
    l->timer_armed = false;
    la_scan(l, true);
}

unsigned
iq_xs_launcher_reap(struct iq_xs_launcher *l)
{
    unsigned reaped = 0, i;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        reaped++;
        for (i = 0; i < IQ_XS_LAUNCHER_MAX_DOMAINS; i++) {
            struct la_domain *d = &l->dom[i];

            if (!d->used || d->pid != pid) {
                continue;
            }
            d->exited = true;
            if (WIFEXITED(status)) {
                IQ_NOTICE(XS_CTX,
                          "launcher: ioreqd for domain %u exited "
                          "with status %d",
                          (unsigned)d->domid, WEXITSTATUS(status));
            } else if (WIFSIGNALED(status)) {
                IQ_WARN(XS_CTX,
                        "launcher: ioreqd for domain %u killed by "
                        "signal %d",
                        (unsigned)d->domid, WTERMSIG(status));
            }
        }
    }
    return reaped;
}

unsigned
iq_xs_launcher_started(const struct iq_xs_launcher *l)
{
    return l->started;
}

pid_t
iq_xs_launcher_child(const struct iq_xs_launcher *l, uint16_t domid)
{
    unsigned i;

    for (i = 0; i < IQ_XS_LAUNCHER_MAX_DOMAINS; i++) {
        if (l->dom[i].used && l->dom[i].domid == domid && !l->dom[i].exited) {
            return l->dom[i].pid;
        }
    }
    return 0;
}

int
iq_xs_launcher_create(struct iq_loop *loop, struct iq_xenstore *xs,
                      const struct iq_xs_launcher_config *cfg,
                      struct iq_xs_launcher **out)
{
    struct iq_xs_launcher *l;
    int rc;

    *out = NULL;
    if (cfg == NULL || cfg->ioreqd_path == NULL ||
        (cfg->nr_extra > 0 && cfg->extra_args == NULL) || cfg->nr_extra > 64 ||
        cfg->settle_ms > 5000) {
        return -EINVAL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    l->loop = loop;
    l->xs = xs;
    l->xs_fd = -1;
    l->cfg = *cfg;
    l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (l->timer_fd < 0) {
        rc = IQ_NEG_ERRNO();
        goto fail;
    }
    rc = iq_loop_add_fd(loop, l->timer_fd, EPOLLIN, la_timer_cb, l);
    if (rc < 0) {
        goto fail;
    }
    l->timer_added = true;
    /* A watch fires once at once, which also runs the first scan. */
    if (!iq_xenstore_watch(xs, iq_xs_layout_root(IQ_XS_VIRTIO_DISK),
                           LA_TOKEN)) {
        rc = IQ_NEG_ERRNO();
        goto fail;
    }
    l->watched = true;
    l->xs_fd = iq_xenstore_fileno(xs);
    if (l->xs_fd < 0) {
        rc = IQ_NEG_ERRNO();
        goto fail;
    }
    rc = iq_loop_add_fd(loop, l->xs_fd, EPOLLIN, la_xs_cb, l);
    if (rc < 0) {
        goto fail;
    }
    l->xs_fd_added = true;
    *out = l;
    return 0;

fail:
    iq_xs_launcher_destroy(l);
    return rc;
}

void
iq_xs_launcher_destroy(struct iq_xs_launcher *l)
{
    if (l == NULL) {
        return;
    }
    if (l->xs_fd_added) {
        iq_loop_del_fd(l->loop, l->xs_fd);
    }
    if (l->watched) {
        (void)iq_xenstore_unwatch(l->xs, iq_xs_layout_root(IQ_XS_VIRTIO_DISK),
                                  LA_TOKEN);
    }
    if (l->timer_added) {
        iq_loop_del_fd(l->loop, l->timer_fd);
    }
    iq_close_fd(&l->timer_fd);
    free(l);
}

struct la_run {
    struct iq_loop *loop;
    struct iq_xs_launcher *l;
    int sig_fd;
    bool sig_added;
};

static void
la_signal_cb(void *opaque, uint32_t events)
{
    struct la_run *r = opaque;
    struct signalfd_siginfo si;
    unsigned budget = 64;

    (void)events;
    while (budget-- > 0 &&
           read(r->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            (void)iq_xs_launcher_reap(r->l);
        } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            IQ_NOTICE(XS_CTX, "launcher: signal %u, stopping", si.ssi_signo);
            iq_loop_stop(r->loop);
        }
        /* SIGHUP: nothing to reload. */
    }
}

int
iq_xs_launcher_run(const struct iq_xs_launcher_config *cfg)
{
    struct la_run r = {.loop = NULL, .l = NULL, .sig_fd = -1};
    struct iq_xenstore *xs = NULL;
    sigset_t set, old;
    int rc;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
        return IQ_NEG_ERRNO();
    }
    r.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r.sig_fd < 0) {
        rc = IQ_NEG_ERRNO();
        IQ_ERR(XS_CTX, "launcher: signalfd: %s", strerror(-rc));
        goto out;
    }
    xs = iq_xenstore_open();
    if (xs == NULL) {
        rc = IQ_NEG_ERRNO();
        IQ_ERR(XS_CTX, "launcher: cannot open xenstore: %s", strerror(-rc));
        goto out;
    }
    rc = iq_loop_create(&r.loop);
    if (rc < 0) {
        IQ_ERR(XS_CTX, "launcher: event loop: %s", strerror(-rc));
        goto out;
    }
    rc = iq_loop_add_fd(r.loop, r.sig_fd, EPOLLIN, la_signal_cb, &r);
    if (rc < 0) {
        IQ_ERR(XS_CTX, "launcher: event loop: %s", strerror(-rc));
        goto out;
    }
    r.sig_added = true;
    rc = iq_xs_launcher_create(r.loop, xs, cfg, &r.l);
    if (rc < 0) {
        IQ_ERR(XS_CTX, "launcher: cannot watch %s: %s",
               iq_xs_layout_root(IQ_XS_VIRTIO_DISK), strerror(-rc));
        goto out;
    }
    IQ_NOTICE(XS_CTX, "launcher: watching %s, starting %s",
              iq_xs_layout_root(IQ_XS_VIRTIO_DISK), cfg->ioreqd_path);
    rc = iq_loop_run(r.loop);
    if (rc < 0) {
        IQ_ERR(XS_CTX, "launcher: event loop: %s", strerror(-rc));
    }

out:
    iq_xs_launcher_destroy(r.l);
    if (r.sig_added) {
        iq_loop_del_fd(r.loop, r.sig_fd);
    }
    iq_loop_destroy(r.loop);
    iq_xenstore_close(xs);
    iq_close_fd(&r.sig_fd);
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
