/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user frontend: the codec, reply validation, and the connection
 * against a scripted fake backend (a thread on the other end of a socket)
 * that sends malformed, oversized, out-of-order and hostile replies; and
 * the bridge's refusal of a daemon that lacks what mmap mode needs on Xen
 * (fake backend, and qemu-storage-daemon when installed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/vhost-bridge.h"
#include "ioreqd/virtio.h"
#include "vu-proto.h"

#define F_V1 (1ull << 32)
#define F_PF (1ull << VU_F_PROTOCOL_FEATURES)
#define QSD "/usr/bin/qemu-storage-daemon"

/* ---- fake backend --------------------------------------------------------
 */

struct fb_msg {
    struct vu_hdr h;
    uint8_t p[VU_MAX_PAYLOAD];
    int fds[VU_MAX_FDS];
    unsigned nfds;
};

struct fb;
typedef void (*fb_script)(struct fb *f);

struct fb {
    int fd; /* backend end */
    int listen_fd; /* bridge tests: accept first */
    fb_script script;
    pthread_t thread;
    /* what the script saw */
    uint64_t set_pf;
    uint32_t owner_flags;
    unsigned msgs;
};

static int
fb_read(struct fb *f, struct fb_msg *m)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {.iov_base = &m->h, .iov_len = VU_HDR_SIZE};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cm.buf,
                        .msg_controllen = sizeof(cm.buf)};
    ssize_t n;

    memset(m, 0, sizeof(*m));
    n = recvmsg(f->fd, &mh, MSG_WAITALL);
    if (n != VU_HDR_SIZE) {
        return -1;
    }
    for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch != NULL;
         ch = CMSG_NXTHDR(&mh, ch)) {
        if (ch->cmsg_type == SCM_RIGHTS) {
            m->nfds = (unsigned)((ch->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(m->fds, CMSG_DATA(ch), m->nfds * sizeof(int));
        }
    }
    for (unsigned i = 0; i < m->nfds; i++) {
        close(m->fds[i]);
    }
    if (m->h.size > VU_MAX_PAYLOAD) {
        return -1;
    }
    if (m->h.size > 0 &&
        recv(f->fd, m->p, m->h.size, MSG_WAITALL) != (ssize_t)m->h.size) {
        return -1;
    }
    f->msgs++;
    return 0;
}

static void
fb_send(struct fb *f, uint32_t req, uint32_t flags, const void *p,
        uint32_t announced, uint32_t actual)
{
    uint8_t buf[VU_HDR_SIZE + 8192];

    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &announced, 4);
    if (actual > 0) {
        memcpy(buf + VU_HDR_SIZE, p, actual);
    }
    if (send(f->fd, buf, VU_HDR_SIZE + actual, MSG_NOSIGNAL) < 0) {
        return;
    }
}

static void
fb_reply_u64(struct fb *f, uint32_t req, uint64_t v)
{
    fb_send(f, req, VU_FLAG_VERSION | VU_FLAG_REPLY, &v, 8, 8);
}

/* Answer a well-behaved handshake; `features` for GET_FEATURES. */
static int
fb_handshake(struct fb *f, uint64_t features, uint64_t pf)
{
    struct fb_msg m;

    while (fb_read(f, &m) == 0) {
        switch (m.h.request) {
        case VU_GET_FEATURES:
            fb_reply_u64(f, m.h.request, features);
            break;
        case VU_GET_PROTOCOL_FEATURES:
            fb_reply_u64(f, m.h.request, pf);
            break;
        case VU_SET_PROTOCOL_FEATURES:
            memcpy(&f->set_pf, m.p, 8);
            break;
        case VU_SET_OWNER:
            f->owner_flags = m.h.flags;
            if (m.h.flags & VU_FLAG_NEED_REPLY) {
                fb_reply_u64(f, m.h.request, 0);
            }
            return 0;
        default:
            return -1;
        }
    }
    return -1;
}

static void *
fb_main(void *opaque)
{
    struct fb *f = opaque;

    if (f->listen_fd >= 0) {
        f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (f->fd < 0) {
            return NULL;
        }
    }
    f->script(f);
    /* Drain until the frontend closes, so it never sees EPIPE early. */
    {
        struct fb_msg m;

        while (fb_read(f, &m) == 0) {
        }
    }
    close(f->fd);
    f->fd = -1;
    return NULL;
}

/* A connected vu_conn whose other end runs `script`. */
static void
fb_start_pair(struct fb *f, struct vu_conn *c, fb_script script,
              unsigned timeout_ms)
{
    int sv[2];

    memset(f, 0, sizeof(*f));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->fd = sv[1];
    f->listen_fd = -1;
    f->script = script;
    iq_vu_conn_init(c, "test", timeout_ms);
    iq_vu_conn_adopt(c, sv[0]);
    assert_int_equal(pthread_create(&f->thread, NULL, fb_main, f), 0);
}

static void
fb_join(struct fb *f, struct vu_conn *c)
{
    iq_vu_conn_close(c);
    pthread_join(f->thread, NULL);
}

/* ---- codec ----------------------------------------------------------------
 */

static void
put_hdr(uint8_t *b, uint32_t req, uint32_t flags, uint32_t size)
{
    memcpy(b, &req, 4);
    memcpy(b + 4, &flags, 4);
    memcpy(b + 8, &size, 4);
}

static void
test_codec_encode(void **state)
{
    struct vu_msg m;
    struct vu_region r[2] = {
        {0x40000000, 1 << 20, 0x40000000, 0, 1, 7},
        {0x200000000ull, 4096, 0x200000000ull, 4096, 1, 7}};
    struct vu_vring_addr a = {3, 0, 0x1000, 0x3000, 0x2000, 0};
    uint64_t v;
    uint32_t u;

    (void)state;
    iq_vu_enc_u64(&m, VU_SET_FEATURES, 0x123456789ull);
    assert_int_equal(m.hdr.request, VU_SET_FEATURES);
    assert_int_equal(m.hdr.flags, VU_FLAG_VERSION);
    assert_int_equal(m.hdr.size, 8);
    memcpy(&v, m.payload, 8);
    assert_int_equal(v, 0x123456789ull);

    iq_vu_enc_addr(&m, &a);
    assert_int_equal(m.hdr.size, 40);
    memcpy(&u, m.payload, 4);
    assert_int_equal(u, 3);
    memcpy(&v, m.payload + 8, 8);
    assert_int_equal(v, 0x1000); /* descriptor */
    memcpy(&v, m.payload + 16, 8);
    assert_int_equal(v, 0x3000); /* used */
    memcpy(&v, m.payload + 24, 8);
    assert_int_equal(v, 0x2000); /* available */

    assert_int_equal(iq_vu_enc_mem_table(&m, r, 2, false), 0);
    assert_int_equal(m.hdr.size, 8 + 2 * 32);
    assert_int_equal(iq_vu_enc_mem_table(&m, r, 2, true), 0);
    assert_int_equal(m.hdr.size, 8 + 2 * 40);
    memcpy(&u, m.payload + 8 + 40 + 32, 4);
    assert_int_equal(u, VU_XEN_MMAP_FOREIGN);
    memcpy(&u, m.payload + 8 + 40 + 36, 4);
    assert_int_equal(u, 7);
    assert_int_equal(iq_vu_enc_mem_table(&m, r, 0, false), -EINVAL);
    assert_int_equal(iq_vu_enc_mem_table(&m, r, 9, false), -EINVAL);

    assert_int_equal(iq_vu_enc_config(&m, VU_GET_CONFIG, 0, NULL, 60), 0);
    assert_int_equal(m.hdr.size, 72);
    assert_int_equal(iq_vu_enc_config(&m, VU_GET_CONFIG, 0, NULL, 257),
                     -EINVAL);
    assert_int_equal(iq_vu_enc_config(&m, VU_SET_FEATURES, 0, NULL, 4),
                     -EINVAL);

    /* The two "no advance map" values stay distinct and documented. */
    assert_int_equal(VU_XEN_MMAP_NO_ADVANCE_SPEC, 0x100);
    assert_int_equal(VU_XEN_MMAP_NO_ADVANCE_VM_MEMORY, 0x8);
}

static void
test_codec_parse(void **state)
{
    struct vu_expect e = {.request = VU_GET_FEATURES};
    struct vu_reply r;
    uint8_t b[VU_HDR_SIZE + 300];
    uint64_t v = F_V1;
    const char *why;
    size_t used;

    (void)state;
    put_hdr(b, VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, 8);
    memcpy(b + 12, &v, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), 0);
    assert_int_equal(used, 20);
    assert_int_equal(r.u64, F_V1);
    /* Truncated: header or payload short. */
    assert_int_equal(iq_vu_reply_parse(b, 11, &e, &r, &used, &why), -EAGAIN);
    assert_int_equal(iq_vu_reply_parse(b, 19, &e, &r, &used, &why), -EAGAIN);
    /* No REPLY flag. */
    put_hdr(b, VU_GET_FEATURES, VU_FLAG_VERSION, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    /* Version 2. */
    put_hdr(b, VU_GET_FEATURES, 2 | VU_FLAG_REPLY, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    /* Unknown flag bits. */
    put_hdr(b, VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY | 0x100, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    /* Out of order. */
    put_hdr(b, VU_GET_PROTOCOL_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    assert_string_equal(why, "reply to a different request (out of order)");
    /* Wrong and oversized sizes. */
    put_hdr(b, VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, 4);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    put_hdr(b, VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, 0x10000);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    assert_string_equal(why, "oversized reply");
    /* A request that has no reply. */
    e.request = VU_SET_VRING_NUM;
    put_hdr(b, VU_SET_VRING_NUM, VU_FLAG_VERSION | VU_FLAG_REPLY, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);
    /* ... unless it is an ack. */
    e.ack = true;
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), 0);

    /* GET_VRING_BASE for another ring, or beyond 16 bits. */
    memset(&e, 0, sizeof(e));
    e.request = VU_GET_VRING_BASE;
    e.index = 1;
    put_hdr(b, VU_GET_VRING_BASE, VU_FLAG_VERSION | VU_FLAG_REPLY, 8);
    {
        uint32_t st[2] = {0, 5};

        memcpy(b + 12, st, 8);
        assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why),
                         -EPROTO);
        st[0] = 1;
        memcpy(b + 12, st, 8);
        assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), 0);
        assert_int_equal(r.state.num, 5);
        st[1] = 0x10000;
        memcpy(b + 12, st, 8);
        assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why),
                         -EPROTO);
    }
    /* GET_QUEUE_NUM 0 is nonsense. */
    memset(&e, 0, sizeof(e));
    e.request = VU_GET_QUEUE_NUM;
    put_hdr(b, VU_GET_QUEUE_NUM, VU_FLAG_VERSION | VU_FLAG_REPLY, 8);
    v = 0;
    memcpy(b + 12, &v, 8);
    assert_int_equal(iq_vu_reply_parse(b, 20, &e, &r, &used, &why), -EPROTO);

    /* GET_CONFIG: the same range back, or nothing. */
    memset(&e, 0, sizeof(e));
    e.request = VU_GET_CONFIG;
    e.config_size = 8;
    put_hdr(b, VU_GET_CONFIG, VU_FLAG_VERSION | VU_FLAG_REPLY, 20);
    {
        uint32_t c[3] = {0, 8, 0};

        memcpy(b + 12, c, 12);
        memset(b + 24, 0x5a, 8);
        assert_int_equal(iq_vu_reply_parse(b, 32, &e, &r, &used, &why), 0);
        assert_int_equal(r.config_size, 8);
        assert_int_equal(r.config[7], 0x5a);
        c[0] = 4;
        memcpy(b + 12, c, 12);
        assert_int_equal(iq_vu_reply_parse(b, 32, &e, &r, &used, &why),
                         -EPROTO);
        /* libvhost-user answers a failed GET_CONFIG with size 0. */
        put_hdr(b, VU_GET_CONFIG, VU_FLAG_VERSION | VU_FLAG_REPLY, 0);
        assert_int_equal(iq_vu_reply_parse(b, 32, &e, &r, &used, &why),
                         -EPROTO);
    }
}

/* ---- connection against scripted backends ------------------------------- */

static void
script_good(struct fb *f)
{
    (void)fb_handshake(f, F_V1 | F_PF | 0x3, ~0ull);
}

static void
test_conn_handshake_masks(void **state)
{
    struct vu_conn c;
    struct fb f;

    (void)state;
    fb_start_pair(&f, &c, script_good, 2000);
    assert_int_equal(
        iq_vu_conn_handshake(&c, VU_PF_IMPLEMENTED & ~(1ull << VU_PF_XEN_MMAP)),
        0);
    assert_int_equal(c.features, F_V1 | F_PF | 0x3);
    assert_int_equal(c.offered_pf, ~0ull);
    /* Only what we implement (and asked for) is enabled. */
    assert_int_equal(c.pfeatures, (1ull << VU_PF_MQ) |
                                      (1ull << VU_PF_REPLY_ACK) |
                                      (1ull << VU_PF_CONFIG));
    fb_join(&f, &c);
    assert_int_equal(f.set_pf, c.pfeatures);
    /* REPLY_ACK in force from SET_OWNER on. */
    assert_true(f.owner_flags & VU_FLAG_NEED_REPLY);
}

static void
script_oversized(struct fb *f)
{
    struct fb_msg m;
    uint8_t junk[4096];

    memset(junk, 0x41, sizeof(junk));
    if (fb_read(f, &m) == 0) {
        fb_send(f, m.h.request, VU_FLAG_VERSION | VU_FLAG_REPLY, junk,
                sizeof(junk), sizeof(junk));
    }
}

static void
script_out_of_order(struct fb *f)
{
    struct fb_msg m;

    if (fb_read(f, &m) == 0) {
        fb_reply_u64(f, VU_GET_QUEUE_NUM, 1);
    }
}

static void
script_no_reply_flag(struct fb *f)
{
    struct fb_msg m;
    uint64_t v = F_V1;

    if (fb_read(f, &m) == 0) {
        fb_send(f, m.h.request, VU_FLAG_VERSION, &v, 8, 8);
    }
}

static void
script_truncated_close(struct fb *f)
{
    struct fb_msg m;
    uint64_t v = F_V1;

    if (fb_read(f, &m) == 0) {
        fb_send(f, m.h.request, VU_FLAG_VERSION | VU_FLAG_REPLY, &v, 8, 3);
        shutdown(f->fd, SHUT_RDWR);
    }
}

static void
script_silent(struct fb *f)
{
    struct fb_msg m;

    (void)fb_read(f, &m);
}

static void
script_fd_in_reply(struct fb *f)
{
    struct fb_msg m;
    uint8_t buf[20];
    uint32_t req = VU_GET_FEATURES;
    uint32_t flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
    uint32_t size = 8;
    uint64_t v = F_V1;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cm.buf,
                        .msg_controllen = sizeof(cm.buf)};
    struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);

    if (fb_read(f, &m) < 0 || fd < 0) {
        return;
    }
    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    memcpy(buf + 12, &v, 8);
    ch->cmsg_level = SOL_SOCKET;
    ch->cmsg_type = SCM_RIGHTS;
    ch->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(ch), &fd, sizeof(int));
    if (sendmsg(f->fd, &mh, MSG_NOSIGNAL) < 0) {
        fd = fd + 0;
    }
    close(fd);
}

static void
script_no_v1(struct fb *f)
{
    struct fb_msg m;

    if (fb_read(f, &m) == 0) {
        fb_reply_u64(f, m.h.request, F_PF);
    }
}

/* Handshake fine, then refuse the next request with a non-zero ack. */
static void
script_nack(struct fb *f)
{
    struct fb_msg m;

    if (fb_handshake(f, F_V1 | F_PF, 1ull << VU_PF_REPLY_ACK) < 0) {
        return;
    }
    if (fb_read(f, &m) == 0) {
        fb_reply_u64(f, m.h.request, 1);
    }
}

/* GET_VRING_BASE answered for the wrong ring. */
static void
script_wrong_ring(struct fb *f)
{
    struct fb_msg m;
    uint32_t st[2] = {7, 0};

    if (fb_read(f, &m) == 0) {
        fb_send(f, m.h.request, VU_FLAG_VERSION | VU_FLAG_REPLY, st, 8, 8);
    }
}

static int
one_call(fb_script script, unsigned timeout_ms, const char **why, bool *broken)
{
    struct vu_expect e = {.request = VU_GET_FEATURES};
    struct vu_reply r;
    struct vu_msg m;
    struct vu_conn c;
    struct fb f;
    int ret;

    fb_start_pair(&f, &c, script, timeout_ms);
    iq_vu_enc_none(&m, VU_GET_FEATURES);
    ret = iq_vu_conn_call(&c, &m, &e, &r);
    *why = c.why;
    *broken = iq_vu_conn_broken(&c);
    /* Once broken, nothing more is sent. */
    if (*broken) {
        assert_int_equal(iq_vu_conn_call(&c, &m, &e, &r), -EPIPE);
    }
    fb_join(&f, &c);
    return ret;
}

static void
test_conn_hostile_replies(void **state)
{
    const char *why = NULL;
    bool broken = false;

    (void)state;
    assert_int_equal(one_call(script_oversized, 2000, &why, &broken), -EPROTO);
    assert_true(broken);
    assert_string_equal(why, "oversized reply");

    assert_int_equal(one_call(script_out_of_order, 2000, &why, &broken),
                     -EPROTO);
    assert_true(broken);
    assert_string_equal(why, "reply to a different request (out of order)");

    assert_int_equal(one_call(script_no_reply_flag, 2000, &why, &broken),
                     -EPROTO);
    assert_string_equal(why, "message without the REPLY flag");

    assert_int_equal(one_call(script_truncated_close, 2000, &why, &broken),
                     -EPIPE);
    assert_true(broken);

    assert_int_equal(one_call(script_silent, 150, &why, &broken), -ETIMEDOUT);
    assert_true(broken);

    assert_int_equal(one_call(script_fd_in_reply, 2000, &why, &broken),
                     -EPROTO);
    assert_string_equal(why, "unexpected file descriptors in reply");
}

static void
test_conn_handshake_failures(void **state)
{
    struct vu_conn c;
    struct fb f;
    struct vu_msg m;

    (void)state;
    fb_start_pair(&f, &c, script_no_v1, 2000);
    assert_int_equal(iq_vu_conn_handshake(&c, VU_PF_IMPLEMENTED),
                     -EPROTONOSUPPORT);
    fb_join(&f, &c);

    fb_start_pair(&f, &c, script_nack, 2000);
    assert_int_equal(iq_vu_conn_handshake(&c, VU_PF_IMPLEMENTED), 0);
    iq_vu_enc_u64(&m, VU_SET_FEATURES, F_V1);
    assert_int_equal(iq_vu_conn_send(&c, &m, NULL, 0), -EIO);
    assert_string_equal(c.why, "request refused by the daemon");
    fb_join(&f, &c);

    fb_start_pair(&f, &c, script_wrong_ring, 2000);
    {
        struct vu_expect e = {.request = VU_GET_VRING_BASE, .index = 1};
        struct vu_reply r;

        iq_vu_enc_state(&m, VU_GET_VRING_BASE, 1, 0);
        assert_int_equal(iq_vu_conn_call(&c, &m, &e, &r), -EPROTO);
        assert_string_equal(c.why, "GET_VRING_BASE reply for another vring");
    }
    fb_join(&f, &c);
}

/*
 * A daemon that stops reading its socket: the frontend's sends fill the
 * socket buffer. Each send must then fail within the reply timeout rather
 * than block the loop thread for ever (alarm() kills a hung test).
 */
static void
test_conn_send_peer_not_reading(void **state)
{
    struct vu_conn c;
    struct vu_msg m;
    int sv[2];
    int small = 4096;
    int ret = 0;
    unsigned sent = 0;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    iq_vu_conn_init(&c, "test", 100);
    iq_vu_conn_adopt(&c, sv[0]);
    alarm(20);
    while (sent < 100000) {
        assert_int_equal(
            iq_vu_enc_config(&m, VU_SET_CONFIG, 0, NULL, VU_MAX_CONFIG), 0);
        ret = iq_vu_conn_send(&c, &m, NULL, 0);
        if (ret < 0) {
            break;
        }
        sent++;
    }
    alarm(0);
    assert_int_equal(ret, -ETIMEDOUT);
    assert_true(sent > 0);
    assert_true(iq_vu_conn_broken(&c));
    iq_vu_conn_close(&c);
    close(sv[1]);
}

/*
 * A daemon that listens but never accepts: once its backlog is full a
 * blocking connect() would wait for ever. It must fail at once instead.
 */
static void
test_conn_connect_backlog_full(void **state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct vu_conn c[8];
    char dir[64];
    char sock[128];
    int lfd;
    int ret = 0;
    unsigned i;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/iq-vu-unit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/s", dir);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    alarm(20);
    for (i = 0; i < 8; i++) {
        iq_vu_conn_init(&c[i], "test", 100);
        ret = iq_vu_conn_connect(&c[i], sock);
        if (ret < 0) {
            break;
        }
    }
    alarm(0);
    assert_true(i >= 1 && i < 8);
    assert_int_equal(ret, -EAGAIN);
    while (i-- > 0) {
        iq_vu_conn_close(&c[i]);
    }
    close(lfd);
    unlink(sock);
    rmdir(dir);
}

/* Acknowledge every NEED_REPLY request, each just inside the timeout. */
static void
script_slow_acks(struct fb *f)
{
    struct fb_msg m;

    while (fb_read(f, &m) == 0) {
        if (m.h.flags & VU_FLAG_NEED_REPLY) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 150000000};

            nanosleep(&ts, NULL);
            fb_reply_u64(f, m.h.request, 0);
        }
    }
}

/*
 * A daemon that answers every request slowly but in time would hold the
 * loop thread for (number of exchanges) x timeout. Inside one operation
 * the exchanges share one deadline of timeout_ms.
 */
static void
test_conn_slow_daemon_op_budget(void **state)
{
    struct vu_conn c;
    struct vu_msg m;
    struct fb f;
    int ret = 0;
    unsigned ok = 0;

    (void)state;
    fb_start_pair(&f, &c, script_slow_acks, 250);
    c.pfeatures = 1ull << VU_PF_REPLY_ACK;
    iq_vu_conn_op_begin(&c);
    for (unsigned i = 0; i < 4; i++) {
        iq_vu_enc_u64(&m, VU_SET_FEATURES, F_V1);
        ret = iq_vu_conn_send(&c, &m, NULL, 0);
        if (ret < 0) {
            break;
        }
        ok++;
    }
    iq_vu_conn_op_end(&c);
    assert_int_equal(ret, -ETIMEDOUT);
    assert_true(ok < 4);
    assert_true(iq_vu_conn_broken(&c));
    fb_join(&f, &c);
}

/* Refuse (non-zero ack) every request that wants a reply. */
static void
script_nack_all(struct fb *f)
{
    struct fb_msg m;

    while (fb_read(f, &m) == 0) {
        if (m.h.flags & VU_FLAG_NEED_REPLY) {
            fb_reply_u64(f, m.h.request, 1);
        }
    }
}

/*
 * A refusal does not break the connection, and the guest can repeat what
 * is refused (a config write) at will: the warning is rate-limited.
 */
static void
test_conn_refusals_rate_limited(void **state)
{
    char path[] = "/tmp/iq-vu-log-XXXXXX";
    static char buf[1 << 16];
    int logfd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    struct vu_conn c;
    struct vu_msg m;
    struct fb f;
    unsigned refused = 0;
    unsigned lines = 0;
    ssize_t n;

    (void)state;
    assert_true(logfd >= 0 && saved >= 0);
    unlink(path);
    fb_start_pair(&f, &c, script_nack_all, 2000);
    c.pfeatures = 1ull << VU_PF_REPLY_ACK;
    fflush(stderr);
    assert_true(dup2(logfd, STDERR_FILENO) >= 0);
    for (unsigned i = 0; i < 40; i++) {
        uint8_t v = (uint8_t)i;

        assert_int_equal(iq_vu_enc_config(&m, VU_SET_CONFIG, 0, &v, 1), 0);
        refused += iq_vu_conn_send(&c, &m, NULL, 0) == -EIO;
    }
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_int_equal(refused, 40);
    assert_false(iq_vu_conn_broken(&c));
    n = pread(logfd, buf, sizeof(buf) - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    for (const char *p = buf; (p = strstr(p, "daemon refused")) != NULL; p++) {
        lines++;
    }
    assert_true(lines >= 1 && lines <= 20);
    close(logfd);
    fb_join(&f, &c);
}

/*
 * The privcmd fd sent to a daemon in XEN_MMAP regions must be restricted to
 * the guest's domain first (an unrestricted one grants every hypercall).
 * The restriction is an ioctl only privcmd knows: on any other fd it fails,
 * and iq_vhost_mem_xen() then refuses instead of sending it unrestricted.
 */
static void
test_privcmd_restrict_refuses(void **state)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(iq_vhost_privcmd_restrict(fd, 5), -ENOTTY);
    assert_int_equal(iq_vhost_privcmd_restrict(-1, 5), -EBADF);
    close(fd);
}

/* ---- the bridge: refusal of a daemon without XEN_MMAP ------------------- */

struct ram {
    uint8_t *mem;
    size_t len;
};

static void *
ram_map(void *opaque, const uint64_t *frames, size_t n, int prot, int *err)
{
    struct ram *r = opaque;

    (void)prot;
    for (size_t i = 0; i < n; i++) {
        err[i] = 0;
        if ((frames[0] + n) * 4096 > r->len || frames[i] != frames[0] + i) {
            for (size_t j = 0; j < n; j++) {
                err[j] = -EFAULT;
            }
            return NULL;
        }
    }
    return r->mem + frames[0] * 4096;
}

static int
ram_unmap(void *opaque, void *va, size_t n)
{
    (void)opaque;
    (void)va;
    (void)n;
    return 0;
}

static const struct iq_mc_backend_ops ram_ops = {ram_map, ram_unmap};

struct bx {
    char dir[64];
    char sock[128];
    struct ram ram;
    struct iq_mc *mc;
    struct iq_loop *loop;
    int listen_fd;
};

static void
bx_init(struct bx *x)
{
    struct iq_mc_config mcc = {0};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(x, 0, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "/tmp/iq-vu-unit-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->sock, sizeof(x->sock), "%s/s", x->dir);
    x->ram.len = 1 << 20;
    x->ram.mem = calloc(1, x->ram.len);
    assert_non_null(x->ram.mem);
    mcc.foreign = &ram_ops;
    mcc.foreign_opaque = &x->ram;
    mcc.bucket_shift = 16;
    assert_int_equal(iq_mc_create(&mcc, &x->mc), 0);
    assert_int_equal(iq_loop_create(&x->loop), 0);
    x->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(x->listen_fd >= 0);
    memcpy(sa.sun_path, x->sock, strlen(x->sock) + 1);
    assert_int_equal(bind(x->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(x->listen_fd, 2), 0);
}

static void
bx_fini(struct bx *x)
{
    close(x->listen_fd);
    unlink(x->sock);
    rmdir(x->dir);
    iq_loop_destroy(x->loop);
    iq_mc_destroy(x->mc);
    free(x->ram.mem);
}

static void
bx_config(struct bx *x, struct iq_vhost_bridge_config *bc,
          struct iq_vhost_mem *mem, const char *sock)
{
    memset(bc, 0, sizeof(*bc));
    bc->name = "vu-test";
    bc->socket_path = sock;
    bc->device_id = IQ_VIRTIO_ID_BLOCK;
    bc->mode = IQ_VHOST_MMAP;
    bc->mem = mem;
    bc->timeout_ms = 2000;
    bc->mc = x->mc;
    bc->loop = x->loop;
    bc->arch = IQ_ARCH_ARM;
    memset(mem, 0, sizeof(*mem));
    mem->nr = 1;
    mem->xen = true;
    mem->domid = 5;
    mem->r[0].gpa = 0x40000000;
    mem->r[0].size = 1 << 20;
    mem->r[0].fd = 0; /* stands in for the privcmd fd */
}

static void
script_blk_no_xen(struct fb *f)
{
    (void)fb_handshake(f, F_V1 | F_PF | (1ull << 9),
                       (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |
                           (1ull << VU_PF_CONFIG));
}

static void
test_bridge_refuses_without_xen_mmap(void **state)
{
    struct iq_vhost_bridge_config bc;
    struct iq_vhost_mem mem;
    struct iq_vhost_bridge *b = NULL;
    char err[512] = "";
    struct bx x;
    struct fb f;

    (void)state;
    bx_init(&x);
    memset(&f, 0, sizeof(f));
    f.listen_fd = x.listen_fd;
    f.script = script_blk_no_xen;
    assert_int_equal(pthread_create(&f.thread, NULL, fb_main, &f), 0);
    bx_config(&x, &bc, &mem, x.sock);
    assert_int_equal(iq_vhost_bridge_create(&bc, &b, err, sizeof(err)),
                     -EPROTONOSUPPORT);
    assert_null(b);
    assert_non_null(strstr(err, "VHOST_USER_PROTOCOL_F_XEN_MMAP"));
    assert_non_null(strstr(err, "mode=shadow"));
    pthread_join(f.thread, NULL);
    /* The frontend asked for XEN_MMAP; the backend did not offer it. */
    assert_int_equal(f.set_pf, (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |
                                   (1ull << VU_PF_CONFIG));
    bx_fini(&x);
}

static void
test_bridge_no_daemon(void **state)
{
    struct iq_vhost_bridge_config bc;
    struct iq_vhost_mem mem;
    struct iq_vhost_bridge *b = NULL;
    char err[512] = "";
    struct bx x;

    (void)state;
    bx_init(&x);
    bx_config(&x, &bc, &mem, "/nonexistent/vu.sock");
    bc.mode = IQ_VHOST_SHADOW;
    bc.mem = NULL;
    assert_int_equal(iq_vhost_bridge_create(&bc, &b, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/vu.sock"));
    /* mmap mode without a memory description is a configuration error. */
    bc.mode = IQ_VHOST_MMAP;
    assert_int_equal(iq_vhost_bridge_create(&bc, &b, err, sizeof(err)),
                     -EINVAL);
    bx_fini(&x);
}

/* Real qemu-storage-daemon: mmap mode on Xen is refused, by name. */
static void
test_bridge_qsd_refused_on_xen(void **state)
{
    struct iq_vhost_bridge_config bc;
    struct iq_vhost_mem mem;
    struct iq_vhost_bridge *b = NULL;
    char err[512] = "";
    char exp[256];
    char sock[160];
    struct bx x;
    pid_t pid;
    int st;

    (void)state;
    if (access(QSD, X_OK) != 0) {
        skip();
    }
    bx_init(&x);
    snprintf(sock, sizeof(sock), "%s/qsd.sock", x.dir);
    snprintf(exp, sizeof(exp),
             "type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,"
             "addr.path=%s",
             sock);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(QSD, "qemu-storage-daemon", "--blockdev",
              "driver=null-co,node-name=n0,size=1048576", "--export", exp,
              (char *)NULL);
        _exit(127);
    }
    for (unsigned i = 0; i < 500 && access(sock, F_OK) != 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};

        nanosleep(&ts, NULL);
    }
    bx_config(&x, &bc, &mem, sock);
    assert_int_equal(iq_vhost_bridge_create(&bc, &b, err, sizeof(err)),
                     -EPROTONOSUPPORT);
    assert_non_null(strstr(err, "VHOST_USER_PROTOCOL_F_XEN_MMAP"));
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    unlink(sock);
    bx_fini(&x);
}

static void
test_mem_layouts(void **state)
{
    struct iq_vhost_mem m;

    (void)state;
    assert_int_equal(iq_vhost_mem_xen_layout(3, IQ_ARCH_ARM, 0, 9, &m),
                     -EINVAL);
    assert_int_equal(iq_vhost_mem_xen_layout(3, IQ_ARCH_ARM, 4097, 9, &m),
                     -EINVAL);
    assert_int_equal(
        iq_vhost_mem_xen_layout(3, IQ_ARCH_ARM, 512ull << 20, 9, &m), 0);
    assert_true(m.xen);
    assert_int_equal(m.domid, 3);
    assert_int_equal(m.nr, 1);
    assert_int_equal(m.r[0].gpa, 0x40000000ull);
    assert_int_equal(m.r[0].size, 512ull << 20);
    assert_int_equal(m.r[0].fd, 9);
    assert_int_equal(iq_vhost_mem_xen_layout(3, IQ_ARCH_ARM, 4ull << 30, 9, &m),
                     0);
    assert_int_equal(m.nr, 2);
    assert_int_equal(m.r[0].size, 3ull << 30);
    assert_int_equal(m.r[1].gpa, 0x200000000ull);
    assert_int_equal(m.r[1].size, 1ull << 30);
    assert_int_equal(iq_vhost_mem_xen_layout(3, IQ_ARCH_X86, 4ull << 30, 9, &m),
                     0);
    assert_int_equal(m.r[0].gpa, 0);
    assert_int_equal(m.r[1].gpa, 0x100000000ull);
    /* Not on the fake Xen here: no simulator RAM memfd in this process. */
    assert_int_equal(iq_vhost_mem_fake_xen(IQ_ARCH_ARM, &m), -ENOENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_encode),
        cmocka_unit_test(test_mem_layouts),
        cmocka_unit_test(test_codec_parse),
        cmocka_unit_test(test_conn_handshake_masks),
        cmocka_unit_test(test_conn_hostile_replies),
        cmocka_unit_test(test_conn_handshake_failures),
        cmocka_unit_test(test_conn_send_peer_not_reading),
        cmocka_unit_test(test_conn_connect_backlog_full),
        cmocka_unit_test(test_conn_slow_daemon_op_budget),
        cmocka_unit_test(test_privcmd_restrict_refuses),
        cmocka_unit_test(test_conn_refusals_rate_limited),
        cmocka_unit_test(test_bridge_refuses_without_xen_mmap),
        cmocka_unit_test(test_bridge_no_daemon),
        cmocka_unit_test(test_bridge_qsd_refused_on_xen),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
