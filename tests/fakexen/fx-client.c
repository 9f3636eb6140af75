/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake Xen: wire helpers shared by the simulator and the fake libraries,
 * and the client side of a fake-library handle's connection.
 */
#include "fakexen-proto.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "iq-sim.h"

_Static_assert(FX_SHARED_SIZE >= sizeof(struct fx_shared), "shared size");

int
iq_fx_sendmsg(int fd, const struct fx_msg *m, const void *payload, size_t plen,
              const int *fds, int nfds)
{
    struct iovec iov[2];
    struct msghdr mh;
    union {
        char buf[CMSG_SPACE(sizeof(int) * FX_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    iov[0].iov_base = (void *)(uintptr_t)m;
    iov[0].iov_len = sizeof(*m);
    iov[1].iov_base = (void *)(uintptr_t)payload;
    iov[1].iov_len = plen;
    mh.msg_iov = iov;
    mh.msg_iovlen = plen != 0 ? 2 : 1;
    if (nfds > 0) {
        struct cmsghdr *ch;

        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        ch = CMSG_FIRSTHDR(&mh);
        ch->cmsg_level = SOL_SOCKET;
        ch->cmsg_type = SCM_RIGHTS;
        ch->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(ch), fds, sizeof(int) * (size_t)nfds);
    }
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    return 0;
}

long
iq_fx_recvmsg(int fd, void *buf, size_t cap, int *fds, int *nfds)
{
    struct iovec iov;
    struct msghdr mh;
    union {
        char buf[CMSG_SPACE(sizeof(int) * FX_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    struct cmsghdr *ch;
    ssize_t n;
    int got = 0;

    memset(&mh, 0, sizeof(mh));
    iov.iov_base = buf;
    iov.iov_len = cap;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    for (ch = CMSG_FIRSTHDR(&mh); ch != NULL; ch = CMSG_NXTHDR(&mh, ch)) {
        size_t k;
        size_t cnt;

        if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        cnt = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (k = 0; k < cnt; k++) {
            int f;

            memcpy(&f, CMSG_DATA(ch) + k * sizeof(int), sizeof(int));
            if (fds != NULL && nfds != NULL && got < *nfds) {
                fds[got++] = f;
            } else {
                close(f);
            }
        }
    }
    if (nfds != NULL) {
        *nfds = got;
    }
    if ((mh.msg_flags & MSG_TRUNC) != 0) {
        return -EMSGSIZE;
    }
    return (long)n;
}

void
iq_fx_futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int
iq_fx_futex_wait(uint32_t *word, uint32_t expect, int64_t timeout_ns)
{
    struct timespec ts;
    long r;

    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
    }
    r = syscall(SYS_futex, word, FUTEX_WAIT, expect,
                timeout_ns >= 0 ? &ts : NULL, NULL, 0);
    if (r < 0) {
        if (errno == ETIMEDOUT) {
            return -ETIMEDOUT;
        }
        if (errno == EINTR) {
            return -EINTR;
        }
    }
    return 0;
}

int
iq_fx_conn_open(struct fx_conn *c, enum fx_kind kind, int *fds, int *nfds)
{
    const char *path = getenv(IQ_SIM_ENV_SOCK);
    struct sockaddr_un sa;
    struct {
        struct fx_msg m;
        struct fx_layout l;
    } rep;
    struct fx_msg m;
    pthread_mutex_t *lk;
    int rfds[FX_MAX_FDS];
    int rn = FX_MAX_FDS;
    long n;
    int r;
    int i;

    c->fd = -1;
    c->sh = NULL;
    c->lock = NULL;
    if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENOENT;
        return -1;
    }
    lk = malloc(sizeof(*lk));
    if (lk == NULL) {
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_init(lk, NULL);
    c->lock = lk;
    c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        goto fail;
    }
    memset(&m, 0, sizeof(m));
    m.op = FX_OP_HELLO;
    m.a[0] = kind;
    m.a[1] = (uint64_t)getpid();
    r = iq_fx_sendmsg(c->fd, &m, NULL, 0, NULL, 0);
    if (r < 0) {
        errno = -r;
        goto fail;
    }
    n = iq_fx_recvmsg(c->fd, &rep, sizeof(rep), rfds, &rn);
    if (n != (long)sizeof(rep) || rep.m.ret != 0 || rn < 1) {
        for (i = 0; i < rn; i++) {
            close(rfds[i]);
        }
        errno = n < 0 ? (int)-n
                      : (n == (long)sizeof(struct fx_msg) && rep.m.ret < 0
                             ? -rep.m.ret
                             : ECONNREFUSED);
        goto fail;
    }
    c->lay = rep.l;
    c->sh = mmap(NULL, FX_SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                 rfds[0], 0);
    close(rfds[0]);
    if (c->sh == MAP_FAILED) {
        c->sh = NULL;
        for (i = 1; i < rn; i++) {
            close(rfds[i]);
        }
        goto fail;
    }
    for (i = 1; i < rn; i++) {
        if (fds != NULL && nfds != NULL && i - 1 < *nfds) {
            fds[i - 1] = rfds[i];
        } else {
            close(rfds[i]);
        }
    }
    if (nfds != NULL) {
        *nfds = rn - 1 < *nfds ? rn - 1 : *nfds;
    }
    return 0;

fail:
    r = errno;
    iq_fx_conn_close(c);
    errno = r;
    return -1;
}

void
iq_fx_conn_close(struct fx_conn *c)
{
    int e = errno;

    if (c->sh != NULL && c->fd >= 0 && c->lock != NULL) {
        struct fx_msg m;

        /* Synchronous goodbye: the simulator's counters drop right now. */
        memset(&m, 0, sizeof(m));
        m.op = FX_OP_BYE;
        (void)iq_fx_call(c, &m, NULL, 0, NULL, 0, NULL, NULL, NULL);
    }
    if (c->sh != NULL) {
        munmap(c->sh, FX_SHARED_SIZE);
        c->sh = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->lock != NULL) {
        pthread_mutex_destroy(c->lock);
        free(c->lock);
        c->lock = NULL;
    }
    errno = e;
}

int
iq_fx_call(struct fx_conn *c, struct fx_msg *m, const void *payload,
           size_t plen, void *rbuf, size_t rcap, size_t *rlen, int *fds,
           int *nfds)
{
    char small[sizeof(struct fx_msg) + 64];
    char *buf = small;
    size_t cap = sizeof(small);
    long n;
    int r;

    if (rcap > 64) {
        cap = sizeof(struct fx_msg) + rcap;
        buf = malloc(cap);
        if (buf == NULL) {
            return -ENOMEM;
        }
    }
    m->len = (uint32_t)plen;
    pthread_mutex_lock(c->lock);
    r = iq_fx_sendmsg(c->fd, m, payload, plen, NULL, 0);
    if (r == 0) {
        n = iq_fx_recvmsg(c->fd, buf, cap, fds, nfds);
    } else {
        n = -EIO;
    }
    pthread_mutex_unlock(c->lock);
    if (n < (long)sizeof(struct fx_msg)) {
        r = -EIO;
        if (nfds != NULL && n < 0) {
            *nfds = 0;
        }
    } else {
        size_t pl = (size_t)n - sizeof(struct fx_msg);

        memcpy(m, buf, sizeof(*m));
        r = m->ret;
        if (pl > rcap) {
            pl = rcap;
        }
        if (rbuf != NULL && pl > 0) {
            memcpy(rbuf, buf + sizeof(struct fx_msg), pl);
        }
        if (rlen != NULL) {
            *rlen = pl;
        }
    }
    if (buf != small) {
        free(buf);
    }
    return r;
}

int
iq_fx_call_simple(struct fx_conn *c, struct fx_msg *m)
{
    int r = iq_fx_call(c, m, NULL, 0, NULL, 0, NULL, NULL, NULL);

    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

int
iq_fx_conn_open_fd(struct fx_conn *c, enum fx_kind kind, int *fd)
{
    int fds[1];
    int nfds = 1;

    if (iq_fx_conn_open(c, kind, fds, &nfds) < 0) {
        return -1;
    }
    if (nfds < 1) {
        iq_fx_conn_close(c);
        errno = EPROTO;
        return -1;
    }
    *fd = fds[0];
    return 0;
}

void *
iq_fx_open_failed(void *h)
{
    int e = errno;

    free(h);
    errno = e;
    return NULL;
}

int
iq_fx_restrict(bool *restricted, uint16_t *rdomid, uint16_t domid)
{
    if (*restricted && *rdomid != domid) {
        errno = EPERM;
        return -1;
    }
    *restricted = true;
    *rdomid = domid;
    return 0;
}
