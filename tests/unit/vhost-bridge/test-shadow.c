/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bridge's shadow data path against a scripted vhost-user backend (a
 * thread that maps the shadow memfd it is sent and answers kicks with used
 * entries it chooses), with the in-process virtio driver of the virtio unit
 * tests as the guest: a correct completion (data copied both ways), an
 * overlong used length (clamped), a used entry naming no request and a used
 * index beyond the requests in flight (both: NEEDS_RESET, connection
 * dropped, no crash), and recovery through a guest reset; and the event
 * index on the shadow rings (a polling daemon that asks for no kicks gets
 * none, and calls only as the bridge's used_event asks).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "ioreqd/log.h"
#include "ioreqd/vhost-bridge.h"
#include "vtest.h"
#include "vu-proto.h"

enum script {
    S_GOOD, /* echo: in buffer = out bytes reversed, len = out_len */
    S_LONG_LEN, /* len far beyond the writable buffer */
    S_BAD_ID, /* used id that names no request */
    S_IDX_JUMP, /* used idx moved by 100 */
    S_SHRINK, /* ftruncate()s the shadow memfd it is sent to 0 */
    S_NACK_FEATURES, /* refuses SET_FEATURES, also after reconnecting */
    /*
     * Offers EVENT_IDX, polls its ring every 5 ms, sets avail_event so
     * that it is never kicked, and calls only when used_event asks.
     */
    S_EVENT_IDX_POLL,
};

struct be {
    enum script script;
    int listen_fd;
    int fd;
    pthread_t thread;
    uint8_t *map;
    size_t map_len;
    uint64_t r_uaddr;
    uint64_t r_size;
    uint64_t r_off;
    uint16_t num;
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
    int kick;
    int call;
    uint16_t last_avail;
    uint16_t used_idx;
    unsigned connections;
    int shrink_rc; /* S_SHRINK: ftruncate() result and errno */
    int shrink_errno;
    uint64_t set_features; /* last SET_FEATURES */
    unsigned kicks_seen;
    unsigned calls_sent;
};

struct msg {
    struct vu_hdr h;
    uint8_t p[VU_MAX_PAYLOAD];
    int fds[VU_MAX_FDS];
    unsigned nfds;
};

static int
be_read(struct be *b, struct msg *m)
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

    memset(m, 0, sizeof(*m));
    if (recvmsg(b->fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC) != VU_HDR_SIZE) {
        return -1;
    }
    for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch != NULL;
         ch = CMSG_NXTHDR(&mh, ch)) {
        if (ch->cmsg_type == SCM_RIGHTS) {
            m->nfds = (unsigned)((ch->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(m->fds, CMSG_DATA(ch), m->nfds * sizeof(int));
        }
    }
    if (m->h.size > VU_MAX_PAYLOAD ||
        (m->h.size > 0 &&
         recv(b->fd, m->p, m->h.size, MSG_WAITALL) != (ssize_t)m->h.size)) {
        return -1;
    }
    return 0;
}

static void
be_reply(struct be *b, uint32_t req, const void *p, uint32_t size)
{
    uint8_t buf[VU_HDR_SIZE + 64];
    uint32_t flags = VU_FLAG_VERSION | VU_FLAG_REPLY;

    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    memcpy(buf + VU_HDR_SIZE, p, size);
    if (send(b->fd, buf, VU_HDR_SIZE + size, MSG_NOSIGNAL) < 0) {
        return;
    }
}

static void *
be_ptr(struct be *b, uint64_t uaddr)
{
    return b->map + b->r_off + (uaddr - b->r_uaddr);
}

/* A used entry for every new avail entry, as the script says. */
static void
be_serve_kick(struct be *b, bool kicked)
{
    uint8_t *avail = be_ptr(b, b->avail);
    uint8_t *used = be_ptr(b, b->used);
    uint8_t *desc = be_ptr(b, b->desc);
    uint64_t v;
    uint16_t idx;
    uint16_t old_used;

    if (kicked) {
        if (read(b->kick, &v, sizeof(v)) < 0) {
            return;
        }
        b->kicks_seen++;
    }
    memcpy(&idx, avail + 2, 2);
    old_used = b->used_idx;
    while (b->last_avail != idx) {
        uint16_t head;
        uint32_t id;
        uint32_t len = 0;
        uint64_t out_a = 0;
        uint32_t out_l = 0;
        uint16_t d;
        uint16_t flags;

        memcpy(&head, avail + 4 + 2u * (b->last_avail % b->num), 2);
        b->last_avail++;
        id = head;
        d = head;
        for (unsigned n = 0; n < 4 && d < b->num; n++) {
            uint64_t a;
            uint32_t l;
            uint16_t next;

            memcpy(&a, desc + 16u * d, 8);
            memcpy(&l, desc + 16u * d + 8, 4);
            memcpy(&flags, desc + 16u * d + 12, 2);
            memcpy(&next, desc + 16u * d + 14, 2);
            if (flags & 2) {
                uint8_t *in = be_ptr(b, a);
                const uint8_t *out = be_ptr(b, out_a);

                for (uint32_t i = 0; i < l; i++) {
                    in[i] = i < out_l ? out[out_l - 1 - i] : 0xee;
                }
                len = l < out_l ? l : out_l;
            } else {
                out_a = a;
                out_l = l;
            }
            if (!(flags & 1)) {
                break;
            }
            d = next;
        }
        if (b->script == S_LONG_LEN) {
            len = 1u << 30;
        } else if (b->script == S_BAD_ID) {
            id = head + 1; /* odd: never a head the bridge uses */
        }
        memcpy(used + 4 + 8u * (b->used_idx % b->num), &id, 4);
        memcpy(used + 8 + 8u * (b->used_idx % b->num), &len, 4);
        b->used_idx++;
    }
    idx = b->script == S_IDX_JUMP ? (uint16_t)(b->used_idx + 100) : b->used_idx;
    __atomic_store_n((uint16_t *)(void *)(used + 2), idx, __ATOMIC_RELEASE);
    if (b->script == S_EVENT_IDX_POLL) {
        uint16_t ev;

        /* avail_event far behind: the driver never needs to kick. */
        ev = (uint16_t)(b->last_avail + 0x8000u);
        __atomic_store_n((uint16_t *)(void *)(used + 4 + 8u * b->num), ev,
                         __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        memcpy(&ev, avail + 4 + 2u * b->num, 2); /* used_event */
        if (old_used == b->used_idx || (uint16_t)(b->used_idx - ev - 1) >=
                                           (uint16_t)(b->used_idx - old_used)) {
            return;
        }
    }
    v = 1;
    if (write(b->call, &v, sizeof(v)) < 0) {
        return;
    }
    b->calls_sent++;
}

static void
be_handle(struct be *b, struct msg *m)
{
    uint64_t ack = 0;
    uint64_t u;

    switch (m->h.request) {
    case VU_GET_FEATURES:
        u = (1ull << 32) | (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << 9);
        if (b->script == S_EVENT_IDX_POLL) {
            u |= 1ull << 29;
        }
        be_reply(b, m->h.request, &u, 8);
        return;
    case VU_GET_PROTOCOL_FEATURES:
        u = 1ull << VU_PF_REPLY_ACK;
        be_reply(b, m->h.request, &u, 8);
        return;
    case VU_SET_MEM_TABLE: {
        uint64_t r[4];

        memcpy(r, m->p + 8, 32);
        b->r_uaddr = r[2];
        b->r_size = r[1];
        b->r_off = r[3];
        if (b->script == S_SHRINK) {
            /* Would make every access of ioreqd's mapping SIGBUS. */
            b->shrink_rc = ftruncate(m->fds[0], 0);
            b->shrink_errno = b->shrink_rc < 0 ? errno : 0;
        }
        if (b->map != NULL) {
            munmap(b->map, b->map_len);
        }
        b->map_len = b->r_size + b->r_off;
        b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                      m->fds[0], 0);
        close(m->fds[0]);
        m->nfds = 0;
        break;
    }
    case VU_SET_FEATURES:
        memcpy(&b->set_features, m->p, 8);
        break;
    case VU_SET_VRING_NUM:
        memcpy(&u, m->p, 8);
        b->num = (uint16_t)(u >> 32);
        break;
    case VU_SET_VRING_ADDR:
        memcpy(&b->desc, m->p + 8, 8);
        memcpy(&b->used, m->p + 16, 8);
        memcpy(&b->avail, m->p + 24, 8);
        break;
    case VU_SET_VRING_BASE:
        b->last_avail = 0;
        b->used_idx = 0;
        break;
    case VU_SET_VRING_KICK:
        if (b->kick >= 0) {
            close(b->kick);
        }
        b->kick = m->fds[0];
        m->nfds = 0;
        break;
    case VU_SET_VRING_CALL:
        if (b->call >= 0) {
            close(b->call);
        }
        b->call = m->fds[0];
        m->nfds = 0;
        break;
    case VU_GET_VRING_BASE: {
        uint32_t st[2] = {0, b->last_avail};

        be_reply(b, m->h.request, st, 8);
        return;
    }
    default:
        break;
    }
    for (unsigned i = 0; i < m->nfds; i++) {
        close(m->fds[i]);
    }
    if (m->h.request == VU_SET_FEATURES && b->script == S_NACK_FEATURES) {
        ack = 1;
    }
    if (m->h.flags & VU_FLAG_NEED_REPLY) {
        be_reply(b, m->h.request, &ack, 8);
    }
}

static void *
be_main(void *opaque)
{
    struct be *b = opaque;

    for (;;) {
        b->fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (b->fd < 0) {
            break;
        }
        b->connections++;
        for (;;) {
            struct pollfd p[2] = {{.fd = b->fd, .events = POLLIN},
                                  {.fd = b->kick, .events = POLLIN}};
            struct msg m;

            int n = poll(p, b->kick >= 0 ? 2 : 1,
                         b->script == S_EVENT_IDX_POLL ? 5 : -1);

            if (n < 0) {
                break;
            }
            if (b->kick >= 0 && (p[1].revents & POLLIN)) {
                be_serve_kick(b, true);
            } else if (n == 0 && b->kick >= 0 && b->map != NULL) {
                be_serve_kick(b, false); /* polling daemon */
            }
            if (p[0].revents & (POLLIN | POLLHUP)) {
                if (be_read(b, &m) < 0) {
                    break;
                }
                be_handle(b, &m);
            }
        }
        close(b->fd);
        b->fd = -1;
        if (b->kick >= 0) {
            close(b->kick);
            b->kick = -1;
        }
        if (b->call >= 0) {
            close(b->call);
            b->call = -1;
        }
        if (b->script != S_NACK_FEATURES) {
            b->script = S_GOOD; /* the daemon "restarts" well-behaved */
        }
    }
    return NULL;
}

struct sx {
    struct vt_env e;
    struct vt_drv d;
    struct be be;
    char dir[64];
    char sock[128];
    struct iq_vhost_bridge *b;
};

static void
sx_init(struct sx *x, enum script s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct iq_vhost_bridge_config bc;
    char err[256] = "";

    memset(x, 0, sizeof(*x));
    vt_env_init(&x->e, 0);
    snprintf(x->dir, sizeof(x->dir), "/tmp/iq-vu-shadow-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->sock, sizeof(x->sock), "%s/s", x->dir);
    x->be.script = s;
    x->be.kick = -1;
    x->be.call = -1;
    x->be.fd = -1;
    x->be.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memcpy(sa.sun_path, x->sock, strlen(x->sock) + 1);
    assert_int_equal(bind(x->be.listen_fd, (struct sockaddr *)&sa, sizeof(sa)),
                     0);
    assert_int_equal(listen(x->be.listen_fd, 2), 0);
    assert_int_equal(pthread_create(&x->be.thread, NULL, be_main, &x->be), 0);

    memset(&bc, 0, sizeof(bc));
    bc.name = "vu-shadow";
    bc.socket_path = x->sock;
    bc.device_id = IQ_VIRTIO_ID_BLOCK;
    bc.mode = IQ_VHOST_SHADOW;
    bc.queue_max_size = 16;
    bc.shadow_bytes = 64 << 10;
    bc.timeout_ms = 2000;
    bc.irq = 40;
    bc.mc = x->e.mc;
    bc.loop = x->e.loop;
    bc.irq_ops = &vt_irq_ops;
    bc.irq_opaque = &x->e.irq;
    bc.arch = IQ_ARCH_ARM;
    if (iq_vhost_bridge_create(&bc, &x->b, err, sizeof(err)) < 0) {
        fail_msg("bridge: %s", err);
    }
    vt_drv_init(&x->d, &x->e, iq_vhost_bridge_dev(x->b), 0x10000);
}

static void
sx_fini(struct sx *x)
{
    iq_vhost_bridge_destroy(x->b);
    shutdown(x->be.listen_fd, SHUT_RDWR);
    pthread_join(x->be.thread, NULL);
    close(x->be.listen_fd);
    if (x->be.map != NULL) {
        munmap(x->be.map, x->be.map_len);
    }
    unlink(x->sock);
    rmdir(x->dir);
    assert_int_equal(vt_pins(&x->e), 0);
    vt_env_fini(&x->e);
}

/* One request: 16 readable bytes at 0x100000, `in` writable at 0x200000. */
static void
sx_request(struct sx *x, uint32_t in)
{
    for (unsigned i = 0; i < 16; i++) {
        x->e.ram[0x100000 + i] = (uint8_t)(i + 1);
    }
    memset(x->e.ram + 0x200000, 0, in);
    vt_desc(&x->d, 0, 0, 0x100000, 16, VT_D_NEXT, 1);
    vt_desc(&x->d, 0, 1, 0x200000, in, VT_D_WRITE, 0);
    vt_avail(&x->d, 0, 0);
    vt_kick(&x->d, 0);
}

/* Run the loop until `cond` or about 2 s. */
#define RUN_UNTIL(x, cond) \
    do { \
        for (unsigned t_ = 0; t_ < 200 && !(cond); t_++) { \
            assert_true(iq_loop_run_once((x)->e.loop, 10) >= 0); \
        } \
    } while (0)

static void
test_shadow_good_and_clamped(void **state)
{
    struct sx x;
    uint32_t id = 0;
    uint32_t len = 0;

    (void)state;
    sx_init(&x, S_GOOD);
    vt_probe(&x.d, VT_F_V1 | VT_F_EVENT_IDX, 1, 8);
    sx_request(&x, 64);
    RUN_UNTIL(&x, vt_used_idx(&x.d, 0) == 1);
    assert_int_equal(vt_used_idx(&x.d, 0), 1);
    vt_used_elem(&x.d, 0, 0, &id, &len);
    assert_int_equal(id, 0);
    assert_int_equal(len, 16);
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(x.e.ram[0x200000 + i], 16 - i);
    }
    /* Only `len` bytes are copied back. */
    assert_int_equal(x.e.ram[0x200000 + 16], 0);
    assert_true(iq_vhost_bridge_connected(x.b));

    /* An overlong length is clamped to the writable bytes. */
    x.be.script = S_LONG_LEN;
    sx_request(&x, 32);
    RUN_UNTIL(&x, vt_used_idx(&x.d, 0) == 2);
    vt_used_elem(&x.d, 0, 1, &id, &len);
    assert_int_equal(len, 32);
    assert_int_equal(x.e.ram[0x200000 + 31], 0xee);
    assert_int_equal(iq_virtio_status(iq_vhost_bridge_dev(x.b)) &
                         IQ_VIRTIO_S_NEEDS_RESET,
                     0);
    sx_fini(&x);
}

/*
 * Event index on the shadow rings: negotiated with a daemon that offers it;
 * a daemon that polls and asks for no kicks gets none, and it calls only
 * when the bridge's used_event asks (one call per completion here, since
 * the bridge catches up before the next request), all requests complete.
 */
static void
test_shadow_event_idx(void **state)
{
    struct sx x;
    struct iq_vhost_bridge_stats st;
    uint32_t id = 0;
    uint32_t len = 0;

    (void)state;
    sx_init(&x, S_EVENT_IDX_POLL);
    vt_probe(&x.d, VT_F_V1, 1, 8);
    for (unsigned r = 0; r < 5; r++) {
        sx_request(&x, 64);
        RUN_UNTIL(&x, vt_used_idx(&x.d, 0) == r + 1);
        assert_int_equal(vt_used_idx(&x.d, 0), r + 1);
        vt_used_elem(&x.d, 0, (uint16_t)r, &id, &len);
        assert_int_equal(len, 16);
        assert_int_equal(x.e.ram[0x200000], 16);
    }
    assert_true((x.be.set_features >> 29) & 1u);
    iq_vhost_bridge_get_stats(x.b, &st);
    /* The first batch precedes any avail_event from the daemon. */
    assert_int_equal(st.kicks, 1);
    assert_int_equal(st.kicks_suppressed, 4);
    assert_int_equal(x.be.kicks_seen, 1);
    assert_int_equal(x.be.calls_sent, 5);
    assert_int_equal(st.calls, 5);
    assert_true(iq_vhost_bridge_connected(x.b));
    sx_fini(&x);
}

/*
 * The daemon gets the shadow memfd: it must not be able to shrink it under
 * ioreqd's mapping (sealed), and the device keeps working.
 */
static void
test_shadow_memfd_sealed(void **state)
{
    struct sx x;
    uint32_t id = 0;
    uint32_t len = 0;

    (void)state;
    sx_init(&x, S_SHRINK);
    vt_probe(&x.d, VT_F_V1, 1, 8);
    assert_int_equal(x.be.shrink_rc, -1);
    assert_int_equal(x.be.shrink_errno, EPERM);
    sx_request(&x, 64);
    RUN_UNTIL(&x, vt_used_idx(&x.d, 0) == 1);
    vt_used_elem(&x.d, 0, 0, &id, &len);
    assert_int_equal(len, 16);
    assert_true(iq_vhost_bridge_connected(x.b));
    sx_fini(&x);
}

/* Occurrences of `needle` in the file behind `fd`. */
static unsigned
count_in_fd(int fd, const char *needle)
{
    static char buf[1 << 20];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    unsigned c = 0;

    assert_true(n >= 0);
    buf[n] = '\0';
    for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++) {
        c++;
    }
    return c;
}

/*
 * A daemon that refuses what the guest negotiated: every guest reset
 * reconnects and every DRIVER_OK fails. The guest can repeat that at will,
 * so the messages it causes are rate-limited.
 */
static void
test_shadow_reset_loop_logging(void **state)
{
    char path[] = "/tmp/iq-vu-log-XXXXXX";
    int logfd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    struct iq_vhost_bridge_stats st;
    struct sx x;

    (void)state;
    assert_true(logfd >= 0 && saved >= 0);
    unlink(path);
    sx_init(&x, S_NACK_FEATURES);
    fflush(stderr);
    assert_true(dup2(logfd, STDERR_FILENO) >= 0);
    for (unsigned i = 0; i < 40; i++) {
        vt_negotiate(&x.d, VT_F_V1);
        vt_queue_setup(&x.d, 0, 8);
        vt_driver_ok(&x.d);
        assert_true(iq_virtio_status(iq_vhost_bridge_dev(x.b)) &
                    IQ_VIRTIO_S_NEEDS_RESET);
    }
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    iq_vhost_bridge_get_stats(x.b, &st);
    assert_true(st.reconnects >= 39);
    assert_true(count_in_fd(logfd, "daemon lost") <= 20);
    assert_true(count_in_fd(logfd, "rings failed") <= 20);
    assert_true(count_in_fd(logfd, "reconnected") <= 20);
    close(logfd);
    sx_fini(&x);
}

static void
hostile(enum script s)
{
    struct sx x;
    struct iq_vhost_bridge_stats st;

    sx_init(&x, s);
    vt_probe(&x.d, VT_F_V1, 1, 8);
    sx_request(&x, 64);
    RUN_UNTIL(&x, iq_virtio_status(iq_vhost_bridge_dev(x.b)) &
                      IQ_VIRTIO_S_NEEDS_RESET);
    assert_true(iq_virtio_status(iq_vhost_bridge_dev(x.b)) &
                IQ_VIRTIO_S_NEEDS_RESET);
    assert_false(iq_vhost_bridge_connected(x.b));
    /* Nothing was published for the guest. */
    assert_int_equal(vt_used_idx(&x.d, 0), 0);

    /* Guest reset: the element is discarded and the bridge reconnects to
     * the (now well-behaved) daemon; the device works again. */
    vt_reg_w(&x.d, VT_STATUS, 0);
    assert_int_equal(vt_pins(&x.e), 0);
    RUN_UNTIL(&x, iq_vhost_bridge_connected(x.b));
    assert_true(iq_vhost_bridge_connected(x.b));
    vt_probe(&x.d, VT_F_V1, 1, 8);
    sx_request(&x, 64);
    RUN_UNTIL(&x, vt_used_idx(&x.d, 0) == 1);
    assert_int_equal(vt_used_idx(&x.d, 0), 1);
    assert_int_equal(x.e.ram[0x200000], 16);
    iq_vhost_bridge_get_stats(x.b, &st);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(st.reconnects, 1);
    sx_fini(&x);
    assert_int_equal(x.be.connections, 2);
}

static void
test_shadow_bad_id(void **state)
{
    (void)state;
    hostile(S_BAD_ID);
}

static void
test_shadow_idx_jump(void **state)
{
    (void)state;
    hostile(S_IDX_JUMP);
}

/* ---- mmap mode: the privcmd offload hooks and their fallback ----------- */

struct off_rec {
    int ret; /* what the fake kernel answers */
    unsigned kick_assign;
    unsigned kick_deassign;
    unsigned irq_assign;
    unsigned irq_deassign;
    uint64_t notify_gpa;
    unsigned vq;
    uint32_t irq;
    int call_fd;
};

static int
off_kick(void *opaque, uint64_t notify_gpa, unsigned vq, int fd, bool assign)
{
    struct off_rec *r = opaque;

    (void)fd;
    if (!assign) {
        r->kick_deassign++;
        return 0;
    }
    r->kick_assign++;
    r->notify_gpa = notify_gpa;
    r->vq = vq;
    return r->ret;
}

static int
off_irq(void *opaque, uint32_t irq, int fd, bool assign)
{
    struct off_rec *r = opaque;

    if (!assign) {
        r->irq_deassign++;
        return 0;
    }
    r->irq_assign++;
    r->irq = irq;
    r->call_fd = fd;
    return r->ret;
}

static const struct iq_vhost_offload_ops off_ops = {off_kick, off_irq};

static void
offload_case(int ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct iq_vhost_bridge_config bc;
    struct iq_vhost_mem mem;
    struct iq_vhost_bridge_stats st;
    struct off_rec rec;
    char err[256] = "";
    struct sx x;
    unsigned edges;
    uint64_t one = 1;
    int memfd;

    memset(&x, 0, sizeof(x));
    memset(&rec, 0, sizeof(rec));
    rec.ret = ret;
    rec.call_fd = -1;
    vt_env_init(&x.e, 0);
    snprintf(x.dir, sizeof(x.dir), "/tmp/iq-vu-off-XXXXXX");
    assert_non_null(mkdtemp(x.dir));
    snprintf(x.sock, sizeof(x.sock), "%s/s", x.dir);
    x.be.kick = -1;
    x.be.call = -1;
    x.be.fd = -1;
    x.be.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memcpy(sa.sun_path, x.sock, strlen(x.sock) + 1);
    assert_int_equal(bind(x.be.listen_fd, (struct sockaddr *)&sa, sizeof(sa)),
                     0);
    assert_int_equal(listen(x.be.listen_fd, 2), 0);
    assert_int_equal(pthread_create(&x.be.thread, NULL, be_main, &x.be), 0);
    memfd = memfd_create("vu-test-ram", MFD_CLOEXEC);
    assert_true(memfd >= 0);
    assert_int_equal(ftruncate(memfd, VT_RAM_SIZE), 0);
    memset(&mem, 0, sizeof(mem));
    mem.nr = 1;
    mem.r[0].gpa = 0;
    mem.r[0].size = VT_RAM_SIZE;
    mem.r[0].fd = memfd;

    memset(&bc, 0, sizeof(bc));
    bc.name = "vu-off";
    bc.socket_path = x.sock;
    bc.device_id = IQ_VIRTIO_ID_BLOCK;
    bc.mode = IQ_VHOST_MMAP;
    bc.mem = &mem;
    bc.queue_max_size = 16;
    bc.irq = 40;
    bc.base = 0x2000000;
    bc.offload = &off_ops;
    bc.offload_opaque = &rec;
    bc.mc = x.e.mc;
    bc.loop = x.e.loop;
    bc.irq_ops = &vt_irq_ops;
    bc.irq_opaque = &x.e.irq;
    bc.arch = IQ_ARCH_ARM;
    if (iq_vhost_bridge_create(&bc, &x.b, err, sizeof(err)) < 0) {
        fail_msg("bridge: %s", err);
    }
    close(memfd); /* the bridge holds its own copy */
    vt_drv_init(&x.d, &x.e, iq_vhost_bridge_dev(x.b), 0x10000);
    vt_probe(&x.d, VT_F_V1, 1, 8);
    assert_int_equal(rec.kick_assign, 1);
    assert_int_equal(rec.irq_assign, 1);
    assert_int_equal(rec.notify_gpa, 0x2000050);
    assert_int_equal(rec.vq, 0);
    assert_int_equal(rec.irq, 40);
    assert_true(rec.call_fd >= 0);
    iq_vhost_bridge_get_stats(x.b, &st);
    assert_int_equal(st.kick_offloaded, ret == 0 ? 1 : 0);
    assert_int_equal(st.irq_offloaded, ret == 0 ? 1 : 0);

    /* The daemon signals its call eventfd. */
    edges = x.e.irq.edges;
    assert_int_equal(write(rec.call_fd, &one, sizeof(one)), 8);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(x.e.loop, 10) >= 0);
    }
    if (ret == 0) {
        /* The kernel raises the interrupt: ioreqd does not, and the
         * driver still finds "used buffer" in InterruptStatus. */
        assert_int_equal(x.e.irq.edges, edges);
        assert_int_equal(vt_reg_r(&x.d, VT_ISR), 1);
        vt_reg_w(&x.d, VT_ISR_ACK, 1);
        assert_int_equal(vt_reg_r(&x.d, VT_ISR), 1);
    } else {
        /* Fallback: ioreqd relays the call. */
        assert_int_equal(x.e.irq.edges, edges + 1);
        assert_int_equal(vt_reg_r(&x.d, VT_ISR), 1);
        vt_reg_w(&x.d, VT_ISR_ACK, 1);
        assert_int_equal(vt_reg_r(&x.d, VT_ISR), 0);
    }
    vt_reg_w(&x.d, VT_STATUS, 0);
    assert_int_equal(rec.kick_deassign, ret == 0 ? 1 : 0);
    assert_int_equal(rec.irq_deassign, ret == 0 ? 1 : 0);
    assert_int_equal(vt_reg_r(&x.d, VT_ISR), 0);
    sx_fini(&x);
}

static void
test_mmap_offload(void **state)
{
    (void)state;
    offload_case(0);
}

static void
test_mmap_offload_fallback(void **state)
{
    (void)state;
    offload_case(-ENOTTY);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shadow_good_and_clamped),
        cmocka_unit_test(test_shadow_memfd_sealed),
        cmocka_unit_test(test_shadow_event_idx),
        cmocka_unit_test(test_shadow_reset_loop_logging),
        cmocka_unit_test(test_shadow_bad_id),
        cmocka_unit_test(test_shadow_idx_jump),
        cmocka_unit_test(test_mmap_offload),
        cmocka_unit_test(test_mmap_offload_fallback),
    };

    iq_log_set_level(IQ_LOG_INFO);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
