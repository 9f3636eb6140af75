/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake libxenstore.so.4 against the simulator's in-memory store. Watch
 * events arrive on a socketpair (xs_fileno). xentoolcore_restrict_all
 * neuters the handle like the real library does (dup2 of /dev/null over
 * the connection): later requests fail with EBADF and no events arrive.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xenstore.h>
#include <xenstore_lib.h>

#include "fakexen-proto.h"

#define XS_MSG_MAX 8192u

struct xs_handle {
    struct fx_conn c;
    int evfd;
    int spare; /* other end of the dead event pair, or -1 */
    struct fx_active_handle ah;
    bool neutered;
    uint32_t next_t;
};

static int
xs_restrict_cb(struct fx_active_handle *ah, uint16_t domid)
{
    struct xs_handle *h = FX_CONTAINER_OF(ah, struct xs_handle, ah);
    int sp[2];

    (void)domid;
    if (h->neutered) {
        return 0;
    }
    if (xentoolcore__restrict_by_dup2_null(h->c.fd) < 0) {
        return -1;
    }
    /* Keep xs_fileno valid but silent. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0) {
        dup2(sp[0], h->evfd);
        close(sp[0]);
        h->spare = sp[1];
    }
    h->neutered = true;
    return 0;
}

struct xs_handle *
xs_open(unsigned long flags)
{
    struct xs_handle *h;

    (void)flags;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->evfd = -1;
    h->spare = -1;
    h->next_t = 1;
    if (iq_fx_conn_open_fd(&h->c, FX_KIND_XS, &h->evfd) < 0) {
        return iq_fx_open_failed(h);
    }
    h->ah.restrict_callback = xs_restrict_cb;
    xentoolcore__register_active_handle(&h->ah);
    return h;
}

struct xs_handle *
xs_daemon_open(void)
{
    return xs_open(0);
}

struct xs_handle *
xs_domain_open(void)
{
    return xs_open(0);
}

struct xs_handle *
xs_daemon_open_readonly(void)
{
    return xs_open(XS_OPEN_READONLY);
}

void
xs_daemon_close(struct xs_handle *h)
{
    if (h == NULL) {
        return;
    }
    xentoolcore__deregister_active_handle(&h->ah);
    close(h->evfd);
    if (h->spare >= 0) {
        close(h->spare);
    }
    iq_fx_conn_close(&h->c);
    free(h);
}

void
xs_close(struct xs_handle *xsh)
{
    xs_daemon_close(xsh);
}

void
xs_daemon_destroy_postfork(struct xs_handle *h)
{
    xs_daemon_close(h);
}

/* One request: payload = path '\0' extra. Returns reply length or -1. */
static long
xs_req(struct xs_handle *h, uint32_t op, const char *path, const void *extra,
       size_t elen, char *out, size_t ocap)
{
    struct fx_msg m;
    size_t pl;
    size_t rlen = 0;
    char *buf;
    int r;

    if (h->neutered) {
        errno = EBADF;
        return -1;
    }
    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    pl = strlen(path) + 1;
    if (pl + elen > XS_MSG_MAX) {
        errno = E2BIG;
        return -1;
    }
    buf = malloc(pl + elen);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(buf, path, pl);
    if (elen != 0) {
        memcpy(buf + pl, extra, elen);
    }
    memset(&m, 0, sizeof(m));
    m.op = op;
    m.a[1] = elen;
    r = iq_fx_call(&h->c, &m, buf, pl + elen, out, ocap, &rlen, NULL, NULL);
    free(buf);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return (long)rlen;
}

char **
xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
             unsigned int *num)
{
    char *out;
    char **vec;
    long n;
    size_t cnt = 0;
    size_t i;

    (void)t;
    out = malloc(FX_MAX_PAYLOAD);
    if (out == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    n = xs_req(h, FX_OP_XS_DIR, path, NULL, 0, out, FX_MAX_PAYLOAD);
    if (n < 0) {
        free(out);
        return NULL;
    }
    for (i = 0; i < (size_t)n; i++) {
        cnt += out[i] == '\0';
    }
    vec = malloc(cnt * sizeof(char *) + (size_t)n + 1);
    if (vec == NULL) {
        free(out);
        errno = ENOMEM;
        return NULL;
    }
    memcpy((char *)(vec + cnt), out, (size_t)n);
    for (i = 0; i < cnt; i++) {
        char *p =
            i == 0 ? (char *)(vec + cnt) : vec[i - 1] + strlen(vec[i - 1]) + 1;

        vec[i] = p;
    }
    free(out);
    *num = (unsigned int)cnt;
    return vec;
}

void *
xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
        unsigned int *len)
{
    char *out;
    long n;

    (void)t;
    out = malloc(XS_MSG_MAX + 1);
    if (out == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    n = xs_req(h, FX_OP_XS_READ, path, NULL, 0, out, XS_MSG_MAX);
    if (n < 0) {
        int e = errno;

        free(out);
        errno = e;
        return NULL;
    }
    out[n] = '\0';
    if (len != NULL) {
        *len = (unsigned int)n;
    }
    return out;
}

bool
xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
         const void *data, unsigned int len)
{
    (void)t;
    return xs_req(h, FX_OP_XS_WRITE, path, data, len, NULL, 0) >= 0;
}

bool
xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    (void)t;
    return xs_req(h, FX_OP_XS_MKDIR, path, NULL, 0, NULL, 0) >= 0;
}

bool
xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    (void)t;
    return xs_req(h, FX_OP_XS_RM, path, NULL, 0, NULL, 0) >= 0;
}

bool
xs_restrict(struct xs_handle *h, unsigned domid)
{
    (void)h;
    (void)domid;
    errno = ENOSYS;
    return false;
}

struct xs_permissions *
xs_get_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
                   unsigned int *num)
{
    (void)h;
    (void)t;
    (void)path;
    (void)num;
    errno = ENOSYS;
    return NULL;
}

bool
xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
                   struct xs_permissions *perms, unsigned int num_perms)
{
    (void)h;
    (void)t;
    (void)path;
    (void)perms;
    (void)num_perms;
    return true;
}

bool
xs_watch(struct xs_handle *h, const char *path, const char *token)
{
    if (token == NULL) {
        errno = EINVAL;
        return false;
    }
    return xs_req(h, FX_OP_XS_WATCH, path, token, strlen(token) + 1, NULL, 0) >=
           0;
}

bool
xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
    if (token == NULL) {
        errno = EINVAL;
        return false;
    }
    return xs_req(h, FX_OP_XS_UNWATCH, path, token, strlen(token) + 1, NULL,
                  0) >= 0;
}

int
xs_fileno(struct xs_handle *h)
{
    return h->evfd;
}

static char **
read_event(struct xs_handle *h, bool block, unsigned int *num)
{
    char buf[XS_MSG_MAX];
    struct pollfd pfd = {h->evfd, POLLIN, 0};
    char **vec;
    size_t pl;
    ssize_t n;

    for (;;) {
        n = recv(h->evfd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n >= 0 || errno != EAGAIN || !block) {
            break;
        }
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            return NULL;
        }
    }
    if (n < 0) {
        return NULL;
    }
    if (n == 0) {
        errno = EBADF;
        return NULL;
    }
    buf[n] = '\0';
    pl = strlen(buf);
    if (pl + 1 >= (size_t)n) {
        errno = EPROTO;
        return NULL;
    }
    vec = malloc(2 * sizeof(char *) + (size_t)n + 1);
    if (vec == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy((char *)(vec + 2), buf, (size_t)n + 1);
    vec[XS_WATCH_PATH] = (char *)(vec + 2);
    vec[XS_WATCH_TOKEN] = (char *)(vec + 2) + pl + 1;
    if (num != NULL) {
        *num = 2;
    }
    return vec;
}

char **
xs_check_watch(struct xs_handle *h)
{
    return read_event(h, false, NULL);
}

char **
xs_read_watch(struct xs_handle *h, unsigned int *num)
{
    return read_event(h, true, num);
}

xs_transaction_t
xs_transaction_start(struct xs_handle *h)
{
    if (h->neutered) {
        errno = EBADF;
        return XBT_NULL;
    }
    return __atomic_fetch_add(&h->next_t, 1, __ATOMIC_RELAXED);
}

bool
xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
    (void)t;
    (void)abort;
    if (h->neutered) {
        errno = EBADF;
        return false;
    }
    return true;
}

bool
xs_introduce_domain(struct xs_handle *h, unsigned int domid, unsigned long mfn,
                    unsigned int eventchn)
{
    (void)h;
    (void)domid;
    (void)mfn;
    (void)eventchn;
    errno = ENOSYS;
    return false;
}

bool
xs_set_target(struct xs_handle *h, unsigned int domid, unsigned int target)
{
    (void)h;
    (void)domid;
    (void)target;
    errno = ENOSYS;
    return false;
}

bool
xs_resume_domain(struct xs_handle *h, unsigned int domid)
{
    (void)h;
    (void)domid;
    errno = ENOSYS;
    return false;
}

bool
xs_release_domain(struct xs_handle *h, unsigned int domid)
{
    (void)h;
    (void)domid;
    errno = ENOSYS;
    return false;
}

char *
xs_get_domain_path(struct xs_handle *h, unsigned int domid)
{
    char *p;

    (void)h;
    if (asprintf(&p, "/local/domain/%u", domid) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

bool
xs_path_is_subpath(const char *parent, const char *child)
{
    size_t n = strlen(parent);

    if (n > 0 && parent[n - 1] == '/') {
        n--;
    }
    return strncmp(parent, child, n) == 0 &&
           (child[n] == '\0' || child[n] == '/');
}

bool
xs_is_domain_introduced(struct xs_handle *h, unsigned int domid)
{
    return domid == h->c.lay.domid &&
           __atomic_load_n(&h->c.sh->dead, __ATOMIC_ACQUIRE) == 0;
}

char *
xs_control_command(struct xs_handle *h, const char *cmd, void *data,
                   unsigned int len)
{
    (void)h;
    (void)cmd;
    (void)data;
    (void)len;
    errno = ENOSYS;
    return NULL;
}

char *
xs_debug_command(struct xs_handle *h, const char *cmd, void *data,
                 unsigned int len)
{
    (void)h;
    (void)cmd;
    (void)data;
    (void)len;
    errno = ENOSYS;
    return NULL;
}

int
xs_suspend_evtchn_port(int domid)
{
    (void)domid;
    errno = ENOSYS;
    return -1;
}

const char *
xs_daemon_rundir(void)
{
    return "/var/run/xenstored";
}

const char *
xs_daemon_socket(void)
{
    return "/var/run/xenstored/socket";
}

const char *
xs_daemon_socket_ro(void)
{
    return "/var/run/xenstored/socket_ro";
}

bool
xs_write_all(int fd, const void *data, unsigned int len)
{
    const char *p = data;

    while (len != 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        p += n;
        len -= (unsigned int)n;
    }
    return true;
}

bool
xs_strings_to_perms(struct xs_permissions *perms, unsigned int num,
                    const char *strings)
{
    (void)perms;
    (void)num;
    (void)strings;
    errno = ENOSYS;
    return false;
}
