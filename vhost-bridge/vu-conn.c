/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user connection: the Unix socket to one daemon, sending requests
 * with their fds (SCM_RIGHTS) and reading validated replies with a bounded
 * wait.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio.h"
#include "vu-proto.h"

void
iq_vu_conn_init(struct vu_conn *c, const char *ctx, unsigned timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms != 0 ? timeout_ms : 2000;
    c->why = "";
    snprintf(c->ctx, sizeof(c->ctx), "%s", ctx != NULL ? ctx : "vhost-user");
}

int
iq_vu_conn_connect(struct vu_conn *c, const char *path)
{
    struct sockaddr_un sa;
    int fd;

    iq_vu_conn_close(c);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /*
     * Non-blocking: a daemon that listens but never accepts (full backlog)
     * makes connect() fail with EAGAIN instead of hanging the loop thread.
     * An AF_UNIX connect never returns EINPROGRESS.
     */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return IQ_NEG_ERRNO();
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int ret = IQ_NEG_ERRNO();

        close(fd);
        return ret;
    }
    iq_vu_conn_adopt(c, fd);
    return 0;
}

void
iq_vu_conn_adopt(struct vu_conn *c, int fd)
{
    c->fd = fd;
    c->broken = false;
    c->features = 0;
    c->pfeatures = 0;
    c->why = "";
}

void
iq_vu_conn_close(struct vu_conn *c)
{
    iq_close_fd(&c->fd);
    c->broken = false;
}

static int
fail(struct vu_conn *c, int ret, const char *why)
{
    c->broken = true;
    c->why = why;
    return ret;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
iq_vu_conn_op_begin(struct vu_conn *c)
{
    c->op_deadline = now_ms() + c->timeout_ms;
}

void
iq_vu_conn_op_end(struct vu_conn *c)
{
    c->op_deadline = 0;
}

/* Deadline of one wait: the reply timeout, capped by the operation's. */
static int64_t
op_deadline(const struct vu_conn *c)
{
    int64_t d = now_ms() + c->timeout_ms;

    if (c->op_deadline != 0 && c->op_deadline < d) {
        d = c->op_deadline;
    }
    return d;
}

/* Wait until `events` (POLLIN/POLLOUT) or `deadline`; 0, -ETIMEDOUT, -errno. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - now_ms();
        int n;

        if (left <= 0) {
            return -ETIMEDOUT;
        }
        n = poll(&p, 1, (int)IQ_MIN(left, 60000));
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return IQ_NEG_ERRNO();
        }
    }
}

/* Close every fd in a received control message: replies carry none. */
static bool
drop_fds(struct msghdr *mh)
{
    bool any = false;

    for (struct cmsghdr *ch = CMSG_FIRSTHDR(mh); ch != NULL;
         ch = CMSG_NXTHDR(mh, ch)) {
        if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
            size_t n = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < n; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
                close(fd);
            }
            any = true;
        }
    }
    return any;
}

/* Read exactly `len` bytes before `deadline`. */
static int
read_full(struct vu_conn *c, void *buf, size_t len, int64_t deadline)
{
    size_t done = 0;

    while (done < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
            struct cmsghdr align;
        } cm;
        struct iovec iov = {.iov_base = (char *)buf + done,
                            .iov_len = len - done};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cm.buf,
                            .msg_controllen = sizeof(cm.buf)};
        ssize_t n;
        int ret = wait_fd(c->fd, POLLIN, deadline);

        if (ret < 0) {
            return fail(c, ret, "no reply in time");
        }
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return fail(c, IQ_NEG_ERRNO(), "recvmsg failed");
        }
        if (drop_fds(&mh) || (mh.msg_flags & MSG_CTRUNC)) {
            return fail(c, -EPROTO, "unexpected file descriptors in reply");
        }
        if (n == 0) {
            return fail(c, -EPIPE, "daemon closed the connection");
        }
        done += (size_t)n;
    }
    return 0;
}

static int
send_raw(struct vu_conn *c, const struct vu_msg *m, const int *fds,
         unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    uint8_t bytes[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    size_t len = VU_HDR_SIZE + m->hdr.size;
    size_t done = 0;
    int64_t deadline = op_deadline(c);

    if (nfds > VU_MAX_FDS || m->hdr.size > VU_MAX_PAYLOAD) {
        return -EINVAL;
    }
    memcpy(bytes, &m->hdr.request, 4);
    memcpy(bytes + 4, &m->hdr.flags, 4);
    memcpy(bytes + 8, &m->hdr.size, 4);
    memcpy(bytes + VU_HDR_SIZE, m->payload, m->hdr.size);
    memset(&cm, 0, sizeof(cm));
    while (done < len) {
        struct iovec iov = {.iov_base = bytes + done, .iov_len = len - done};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (done == 0 && nfds > 0) {
            struct cmsghdr *ch;

            mh.msg_control = cm.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            ch = CMSG_FIRSTHDR(&mh);
            ch->cmsg_level = SOL_SOCKET;
            ch->cmsg_type = SCM_RIGHTS;
            ch->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(ch), fds, sizeof(int) * nfds);
        }
        /* Never block: a daemon that stops reading costs one timeout. */
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ret = wait_fd(c->fd, POLLOUT, deadline);

                if (ret < 0) {
                    return fail(c, ret, "daemon does not read its socket");
                }
                continue;
            }
            return fail(c, IQ_NEG_ERRNO(), "sendmsg failed");
        }
        done += (size_t)n;
    }
    return 0;
}

static int
recv_reply(struct vu_conn *c, const struct vu_expect *e, struct vu_reply *r)
{
    uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    int64_t deadline = op_deadline(c);
    struct vu_hdr h;
    uint32_t plen;
    size_t used;
    const char *why = "";
    int ret;

    ret = read_full(c, buf, VU_HDR_SIZE, deadline);
    if (ret < 0) {
        return ret;
    }
    memcpy(&h.request, buf, 4);
    memcpy(&h.flags, buf + 4, 4);
    memcpy(&h.size, buf + 8, 4);
    ret = iq_vu_reply_check_hdr(&h, e, &plen, &why);
    if (ret < 0) {
        return fail(c, ret, why);
    }
    ret = read_full(c, buf + VU_HDR_SIZE, plen, deadline);
    if (ret < 0) {
        return ret;
    }
    ret = iq_vu_reply_parse(buf, VU_HDR_SIZE + plen, e, r, &used, &why);
    if (ret < 0) {
        return fail(c, ret == -EAGAIN ? -EPROTO : ret, why);
    }
    return 0;
}

int
iq_vu_conn_send(struct vu_conn *c, struct vu_msg *m, const int *fds,
                unsigned nfds)
{
    struct vu_expect e = {.request = m->hdr.request, .ack = true};
    struct vu_reply r;
    bool ack = (c->pfeatures & (1ull << VU_PF_REPLY_ACK)) != 0;
    int ret;

    if (iq_vu_conn_broken(c)) {
        return -EPIPE;
    }
    if (ack) {
        m->hdr.flags |= VU_FLAG_NEED_REPLY;
    }
    ret = send_raw(c, m, fds, nfds);
    if (ret < 0 || !ack) {
        return ret;
    }
    ret = recv_reply(c, &e, &r);
    if (ret < 0) {
        return ret;
    }
    if (r.u64 != 0) {
        iq_log_guest(&c->rl, c->ctx, "daemon refused %s (ack %llu)",
                     iq_vu_req_name(m->hdr.request), (unsigned long long)r.u64);
        c->why = "request refused by the daemon";
        return -EIO;
    }
    return 0;
}

int
iq_vu_conn_call(struct vu_conn *c, struct vu_msg *m, const struct vu_expect *e,
                struct vu_reply *r)
{
    int ret;

    if (iq_vu_conn_broken(c)) {
        return -EPIPE;
    }
    ret = send_raw(c, m, NULL, 0);
    if (ret < 0) {
        return ret;
    }
    return recv_reply(c, e, r);
}

int
iq_vu_conn_handshake(struct vu_conn *c, uint64_t want_pf)
{
    struct vu_expect e = {.request = VU_GET_FEATURES};
    struct vu_reply r;
    struct vu_msg m;
    int ret;

    iq_vu_enc_none(&m, VU_GET_FEATURES);
    ret = iq_vu_conn_call(c, &m, &e, &r);
    if (ret < 0) {
        return ret;
    }
    c->features = r.u64;
    if (!(c->features & (1ull << IQ_VIRTIO_F_VERSION_1))) {
        c->why = "daemon does not offer VIRTIO_F_VERSION_1";
        return -EPROTONOSUPPORT;
    }
    c->pfeatures = 0;
    if (c->features & (1ull << VU_F_PROTOCOL_FEATURES)) {
        uint64_t pf;

        e.request = VU_GET_PROTOCOL_FEATURES;
        iq_vu_enc_none(&m, VU_GET_PROTOCOL_FEATURES);
        ret = iq_vu_conn_call(c, &m, &e, &r);
        if (ret < 0) {
            return ret;
        }
        pf = r.u64 & want_pf & VU_PF_IMPLEMENTED;
        /* Sent without NEED_REPLY: REPLY_ACK is not in force yet. */
        iq_vu_enc_u64(&m, VU_SET_PROTOCOL_FEATURES, pf);
        ret = iq_vu_conn_send(c, &m, NULL, 0);
        if (ret < 0) {
            return ret;
        }
        c->pfeatures = pf;
        /* Remember what was offered beyond our mask for messages. */
        c->offered_pf = r.u64;
    }
    iq_vu_enc_none(&m, VU_SET_OWNER);
    return iq_vu_conn_send(c, &m, NULL, 0);
}
