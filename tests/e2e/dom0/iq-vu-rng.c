/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iq-vu-rng: a minimal vhost-user virtio-rng (device id 4) backend for the
 * end-to-end suite only. It stands in for rust-vmm's vhost-device-rng
 * built with its `xen` feature (not packaged by Debian): a daemon that
 * implements VHOST_USER_PROTOCOL_F_XEN_MMAP, so that ioreqd's vhost-user
 * bridge can run in mode=mmap on real Xen. Written for this test from the
 * vhost-user specification's facts; not a general-purpose daemon.
 *
 *   iq-vu-rng SOCKET
 *
 * It listens on SOCKET, serves one frontend connection at a time (and the
 * next one after a disconnect), and:
 *  - offers VIRTIO_F_VERSION_1 and VHOST_USER_F_PROTOCOL_FEATURES, and the
 *    protocol features MQ (one queue), REPLY_ACK and XEN_MMAP;
 *  - takes SET_MEM_TABLE only in the XEN_MMAP layout (40-byte regions with
 *    Xen flags and domid) with the FOREIGN flag, and maps guest memory with
 *    xenforeignmemory_map() by guest frame number, on demand: the rings
 *    while the queue runs, each buffer while it is filled (a region may
 *    describe more than the guest has, so nothing is mapped in advance);
 *  - on each kick, pops the split ring's available entries, fills every
 *    device-writable descriptor with random bytes (bounds-checked against
 *    the regions, chains bounded by the ring size), pushes the used entries
 *    and signals the call eventfd.
 * The guest and the frontend are untrusted: every index, length and address
 * is checked; a malformed message drops the connection, a bad ring stops
 * the queue.
 *
 * On SIGTERM/SIGINT it prints one line and exits 0:
 *   iq-vu-rng: kicks=K wakeups=W requests=R bytes=B connections=C
 * kicks: the sum of the kick eventfd counter (one per signal); wakeups:
 * reads of it; requests: descriptor chains completed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xenforeignmemory.h>

#define PAGE 4096ull
#define MAX_REGIONS 8u
#define MAX_FDS 8u
#define MAX_PAYLOAD 512u
#define MAX_QUEUE 1024u
/* Largest single buffer filled (the guest asks for at most a page). */
#define MAX_BUF (64u * 1024u)

/* vhost-user requests (frontend to backend). */
enum {
    REQ_GET_FEATURES = 1,
    REQ_SET_FEATURES = 2,
    REQ_SET_OWNER = 3,
    REQ_RESET_OWNER = 4,
    REQ_SET_MEM_TABLE = 5,
    REQ_SET_VRING_NUM = 8,
    REQ_SET_VRING_ADDR = 9,
    REQ_SET_VRING_BASE = 10,
    REQ_GET_VRING_BASE = 11,
    REQ_SET_VRING_KICK = 12,
    REQ_SET_VRING_CALL = 13,
    REQ_SET_VRING_ERR = 14,
    REQ_GET_PROTOCOL_FEATURES = 15,
    REQ_SET_PROTOCOL_FEATURES = 16,
    REQ_GET_QUEUE_NUM = 17,
    REQ_SET_VRING_ENABLE = 18,
};

#define FLAG_VERSION 0x1u
#define FLAG_REPLY 0x4u
#define FLAG_NEED_REPLY 0x8u

#define F_PROTOCOL_FEATURES 30
#define F_VERSION_1 32
#define PF_MQ 0
#define PF_REPLY_ACK 3
#define PF_XEN_MMAP 17
#define XEN_MMAP_FOREIGN 0x1u

#define DESC_F_NEXT 1u
#define DESC_F_WRITE 2u
#define DESC_F_INDIRECT 4u

struct region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uaddr;
    uint32_t xen_flags;
    uint32_t domid;
};

/* A foreign mapping of whole guest pages. */
struct fmap {
    void *base;
    size_t pages;
    uint8_t *p; /* the asked address inside base */
};

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

struct queue {
    uint32_t num;
    uint64_t desc_ua;
    uint64_t avail_ua;
    uint64_t used_ua;
    bool addr_set;
    bool enabled;
    int kick_fd;
    int call_fd;
    int err_fd;
    uint16_t last_avail;
    uint16_t used_idx;
    bool running;
    struct fmap desc_m;
    struct fmap avail_m;
    struct fmap used_m;
};

struct stats {
    unsigned long long kicks;
    unsigned long long wakeups;
    unsigned long long requests;
    unsigned long long bytes;
    unsigned connections;
};

struct backend {
    xenforeignmemory_handle *fmem;
    int conn;
    uint64_t features;
    uint64_t pfeatures;
    unsigned nregions;
    struct region r[MAX_REGIONS];
    struct queue q;
    struct stats st;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
    va_list ap;

    fputs("iq-vu-rng: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- guest memory ---------------------------------------------------------
 */

/* The region holding [ua, ua + len), or NULL. */
static const struct region *
find_region(const struct backend *be, uint64_t ua, uint64_t len)
{
    for (unsigned i = 0; i < be->nregions; i++) {
        const struct region *r = &be->r[i];

        if (ua >= r->uaddr && len <= r->size &&
            ua - r->uaddr <= r->size - len) {
            return r;
        }
    }
    return NULL;
}

static void
fmap_put(struct backend *be, struct fmap *m)
{
    if (m->base != NULL) {
        xenforeignmemory_unmap(be->fmem, m->base, m->pages);
    }
    memset(m, 0, sizeof(*m));
}

/*
 * Map the guest pages under frontend address [ua, ua + len) (len > 0,
 * at most MAX_BUF or a ring) by guest frame. 0 or -errno.
 */
static int
fmap_get(struct backend *be, uint64_t ua, uint64_t len, struct fmap *m)
{
    const struct region *r = find_region(be, ua, len);
    xen_pfn_t pfns[MAX_BUF / PAGE + 2] = {0};
    int errs[MAX_BUF / PAGE + 2] = {0};
    uint64_t gpa, first;
    size_t n;

    memset(m, 0, sizeof(*m));
    if (r == NULL || len == 0 || len > MAX_BUF) {
        return -EFAULT;
    }
    gpa = r->gpa + (ua - r->uaddr);
    first = gpa / PAGE;
    n = (size_t)((gpa + len - 1) / PAGE - first + 1);
    for (size_t i = 0; i < n; i++) {
        pfns[i] = (xen_pfn_t)(first + i);
    }
    m->base = xenforeignmemory_map(be->fmem, r->domid, PROT_READ | PROT_WRITE,
                                   n, pfns, errs);
    if (m->base == NULL) {
        return -errno;
    }
    m->pages = n;
    for (size_t i = 0; i < n; i++) {
        if (errs[i] != 0) {
            fmap_put(be, m);
            return errs[i] < 0 ? errs[i] : -EFAULT;
        }
    }
    m->p = (uint8_t *)m->base + (gpa % PAGE);
    return 0;
}

/* ---- the queue ------------------------------------------------------------
 */

static void
queue_stop(struct backend *be)
{
    struct queue *q = &be->q;

    q->running = false;
    fmap_put(be, &q->desc_m);
    fmap_put(be, &q->avail_m);
    fmap_put(be, &q->used_m);
}

static void
queue_reset(struct backend *be)
{
    struct queue *q = &be->q;

    queue_stop(be);
    close_fd(&q->kick_fd);
    close_fd(&q->call_fd);
    close_fd(&q->err_fd);
    q->num = 0;
    q->addr_set = false;
    q->enabled = false;
    q->last_avail = 0;
    q->used_idx = 0;
}

/* Map the rings once everything is known. 0 or -errno. */
static int
queue_try_start(struct backend *be)
{
    struct queue *q = &be->q;
    bool need_enable = (be->features & (1ull << F_PROTOCOL_FEATURES)) != 0;
    int ret;

    if (q->running || q->num == 0 || !q->addr_set || q->kick_fd < 0 ||
        (need_enable && !q->enabled)) {
        return 0;
    }
    ret = fmap_get(be, q->desc_ua, 16ull * q->num, &q->desc_m);
    if (ret == 0) {
        ret = fmap_get(be, q->avail_ua, 6ull + 2ull * q->num, &q->avail_m);
    }
    if (ret == 0) {
        ret = fmap_get(be, q->used_ua, 6ull + 8ull * q->num, &q->used_m);
    }
    if (ret < 0) {
        say("cannot map the rings: %s", strerror(-ret));
        queue_stop(be);
        return ret;
    }
    memcpy(&q->used_idx, q->used_m.p + 2, 2);
    q->running = true;
    say("queue 0 running: num=%u desc=0x%llx avail=0x%llx used=0x%llx "
        "last_avail=%u used_idx=%u",
        q->num, (unsigned long long)q->desc_ua, (unsigned long long)q->avail_ua,
        (unsigned long long)q->used_ua, q->last_avail, q->used_idx);
    return 0;
}

/* Fill one device-writable buffer. Returns bytes written or -errno. */
static long
fill_buffer(struct backend *be, uint64_t ua, uint32_t len)
{
    struct fmap m;
    size_t done = 0;
    int ret;

    if (len == 0) {
        return 0;
    }
    if (len > MAX_BUF) {
        len = MAX_BUF;
    }
    ret = fmap_get(be, ua, len, &m);
    if (ret < 0) {
        return ret;
    }
    while (done < len) {
        ssize_t n = getrandom(m.p + done, len - done, 0);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            fmap_put(be, &m);
            return ret;
        }
        done += (size_t)n;
    }
    fmap_put(be, &m);
    return (long)len;
}

/* Complete one chain starting at `head`. Returns bytes written or -errno. */
static long
serve_chain(struct backend *be, uint16_t head)
{
    struct queue *q = &be->q;
    const struct vring_desc *dt = (const struct vring_desc *)q->desc_m.p;
    uint16_t i = head;
    long total = 0;

    /* A chain visits at most num descriptors (a loop is an error). */
    for (uint32_t hops = 0; hops < q->num; hops++) {
        struct vring_desc d;

        if (i >= q->num) {
            return -EINVAL;
        }
        memcpy(&d, &dt[i], sizeof(d));
        if (d.flags & DESC_F_INDIRECT) {
            return -EINVAL; /* not negotiated */
        }
        if (d.flags & DESC_F_WRITE) {
            long n = fill_buffer(be, d.addr, d.len);

            if (n < 0) {
                return n;
            }
            total += n;
            if (total > (long)MAX_BUF * 16) {
                return -E2BIG;
            }
        }
        if (!(d.flags & DESC_F_NEXT)) {
            return total;
        }
        i = d.next;
    }
    return -ELOOP;
}

static int
queue_process(struct backend *be)
{
    struct queue *q = &be->q;
    uint16_t avail_idx;
    uint16_t pending;
    unsigned served = 0;

    if (!q->running) {
        return 0;
    }
    avail_idx =
        __atomic_load_n((uint16_t *)(q->avail_m.p + 2), __ATOMIC_ACQUIRE);
    pending = (uint16_t)(avail_idx - q->last_avail);
    if (pending > q->num) {
        say("guest avail index %u is %u ahead of %u: stopping", avail_idx,
            pending, q->last_avail);
        queue_stop(be);
        return -EINVAL;
    }
    for (uint16_t k = 0; k < pending; k++) {
        uint16_t head;
        struct vring_used_elem ue;
        long n;

        memcpy(&head, q->avail_m.p + 4 + 2u * (q->last_avail % q->num), 2);
        n = serve_chain(be, head);
        if (n < 0) {
            say("bad descriptor chain at head %u: %s: stopping", head,
                strerror((int)-n));
            queue_stop(be);
            return (int)n;
        }
        ue.id = head;
        ue.len = (uint32_t)n;
        memcpy(q->used_m.p + 4 + 8u * (q->used_idx % q->num), &ue, sizeof(ue));
        q->last_avail++;
        q->used_idx++;
        __atomic_store_n((uint16_t *)(q->used_m.p + 2), q->used_idx,
                         __ATOMIC_RELEASE);
        be->st.requests++;
        be->st.bytes += (unsigned long long)n;
        served++;
    }
    if (served > 0 && q->call_fd >= 0) {
        uint64_t one = 1;

        if (write(q->call_fd, &one, sizeof(one)) != sizeof(one)) {
            say("call eventfd write failed: %s", strerror(errno));
        }
    }
    return 0;
}

static void
kick_event(struct backend *be)
{
    uint64_t v;

    if (read(be->q.kick_fd, &v, sizeof(v)) == sizeof(v)) {
        be->st.kicks += v;
        be->st.wakeups++;
    }
    (void)queue_process(be);
}

/* ---- messages -------------------------------------------------------------
 */

struct msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
    uint8_t payload[MAX_PAYLOAD];
    int fds[MAX_FDS];
    unsigned nfds;
};

static void
msg_close_fds(struct msg *m)
{
    for (unsigned i = 0; i < m->nfds; i++) {
        close_fd(&m->fds[i]);
    }
    m->nfds = 0;
}

/* Read exactly len bytes; fds that come along are collected into m. */
static int
read_full(int fd, void *buf, size_t len, struct msg *m)
{
    size_t done = 0;

    while (done < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
            struct cmsghdr align;
        } cm;
        struct iovec iov = {.iov_base = (uint8_t *)buf + done,
                            .iov_len = len - done};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cm.buf,
                            .msg_controllen = sizeof(cm.buf)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? -EPIPE : -errno;
        }
        for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch != NULL;
             ch = CMSG_NXTHDR(&mh, ch)) {
            if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < k; i++) {
                int f;

                memcpy(&f, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
                if (m->nfds < MAX_FDS) {
                    m->fds[m->nfds++] = f;
                } else {
                    close(f);
                }
            }
        }
        done += (size_t)n;
    }
    return 0;
}

static int
msg_read(int fd, struct msg *m)
{
    uint8_t hdr[12];
    int ret;

    m->nfds = 0;
    ret = read_full(fd, hdr, sizeof(hdr), m);
    if (ret < 0) {
        msg_close_fds(m);
        return ret;
    }
    memcpy(&m->request, hdr, 4);
    memcpy(&m->flags, hdr + 4, 4);
    memcpy(&m->size, hdr + 8, 4);
    if ((m->flags & 0x3u) != FLAG_VERSION || m->size > MAX_PAYLOAD) {
        msg_close_fds(m);
        return -EPROTO;
    }
    ret = read_full(fd, m->payload, m->size, m);
    if (ret < 0) {
        msg_close_fds(m);
    }
    return ret;
}

static int
reply(int fd, uint32_t request, const void *p, uint32_t size)
{
    uint8_t buf[12 + 16];
    uint32_t flags = FLAG_VERSION | FLAG_REPLY;
    ssize_t n;

    if (size > 16) {
        return -EINVAL;
    }
    memcpy(buf, &request, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    memcpy(buf + 12, p, size);
    n = send(fd, buf, 12 + size, MSG_NOSIGNAL);
    return n == (ssize_t)(12 + size) ? 0 : -EPIPE;
}

static int
reply_u64(int fd, uint32_t request, uint64_t v)
{
    return reply(fd, request, &v, sizeof(v));
}

static uint64_t
get_u64(const struct msg *m)
{
    uint64_t v = 0;

    memcpy(&v, m->payload, m->size >= 8 ? 8 : 0);
    return v;
}

static int
set_mem_table(struct backend *be, const struct msg *m)
{
    uint32_t n;

    if (!(be->pfeatures & (1ull << PF_XEN_MMAP)) || m->size < 8) {
        say("SET_MEM_TABLE without XEN_MMAP: refused");
        return -EINVAL;
    }
    memcpy(&n, m->payload, 4);
    if (n == 0 || n > MAX_REGIONS || m->size != 8 + 40 * n) {
        say("SET_MEM_TABLE: %u regions in %u bytes: refused", n, m->size);
        return -EINVAL;
    }
    queue_stop(be);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = m->payload + 8 + 40 * i;
        struct region *r = &be->r[i];
        uint64_t off;

        memcpy(&r->gpa, p, 8);
        memcpy(&r->size, p + 8, 8);
        memcpy(&r->uaddr, p + 16, 8);
        memcpy(&off, p + 24, 8);
        memcpy(&r->xen_flags, p + 32, 4);
        memcpy(&r->domid, p + 36, 4);
        say("region %u: gpa=0x%llx size=0x%llx uaddr=0x%llx "
            "mmap_offset=0x%llx xen_flags=0x%x domid=%u",
            i, (unsigned long long)r->gpa, (unsigned long long)r->size,
            (unsigned long long)r->uaddr, (unsigned long long)off, r->xen_flags,
            r->domid);
        if (r->xen_flags != XEN_MMAP_FOREIGN || r->domid == 0 ||
            r->domid >= 0x7ff0 || r->size == 0 || (r->gpa % PAGE) != 0 ||
            r->gpa + r->size < r->gpa || r->uaddr + r->size < r->uaddr) {
            say("region %u refused (only FOREIGN regions of a domU)", i);
            be->nregions = 0;
            return -EINVAL;
        }
    }
    be->nregions = n;
    return 0;
}

static int
vring_state(const struct msg *m, uint32_t *index, uint32_t *num)
{
    if (m->size != 8) {
        return -EINVAL;
    }
    memcpy(index, m->payload, 4);
    memcpy(num, m->payload + 4, 4);
    return *index == 0 ? 0 : -EINVAL;
}

/* SET_VRING_KICK/CALL/ERR: the fd (or none) for vring 0. */
static int
vring_fd(struct msg *m, int *slot)
{
    uint64_t v = get_u64(m);

    if (m->size != 8 || (v & 0xff) != 0) {
        return -EINVAL;
    }
    close_fd(slot);
    if (!(v & 0x100)) {
        if (m->nfds != 1) {
            return -EINVAL;
        }
        *slot = m->fds[0];
        m->fds[0] = -1;
        m->nfds = 0;
    }
    return 0;
}

/*
 * One request. Returns 0, a positive "refused" status for REPLY_ACK, or
 * -errno to drop the connection. *replied is set when the request's own
 * reply went out.
 */
static int
handle(struct backend *be, struct msg *m, bool *replied)
{
    struct queue *q = &be->q;
    uint32_t index, num;
    uint64_t v;
    int ret = 0;

    *replied = false;
    switch (m->request) {
    case REQ_GET_FEATURES:
        *replied = true;
        return reply_u64(be->conn, m->request,
                         (1ull << F_VERSION_1) | (1ull << F_PROTOCOL_FEATURES));
    case REQ_GET_PROTOCOL_FEATURES:
        *replied = true;
        return reply_u64(be->conn, m->request,
                         (1ull << PF_MQ) | (1ull << PF_REPLY_ACK) |
                             (1ull << PF_XEN_MMAP));
    case REQ_GET_QUEUE_NUM:
        *replied = true;
        return reply_u64(be->conn, m->request, 1);
    case REQ_SET_FEATURES:
        be->features = get_u64(m);
        say("SET_FEATURES 0x%llx", (unsigned long long)be->features);
        return 0;
    case REQ_SET_PROTOCOL_FEATURES:
        be->pfeatures = get_u64(m);
        say("SET_PROTOCOL_FEATURES 0x%llx", (unsigned long long)be->pfeatures);
        return 0;
    case REQ_SET_OWNER:
    case REQ_RESET_OWNER:
        return 0;
    case REQ_SET_MEM_TABLE:
        ret = set_mem_table(be, m);
        if (ret == 0) {
            ret = queue_try_start(be);
        }
        return ret < 0 ? 1 : 0;
    case REQ_SET_VRING_NUM:
        if (vring_state(m, &index, &num) < 0 || num == 0 || num > MAX_QUEUE ||
            (num & (num - 1)) != 0) {
            return 1;
        }
        queue_stop(be);
        q->num = num;
        return 0;
    case REQ_SET_VRING_ADDR:
        if (m->size != 40) {
            return 1;
        }
        memcpy(&index, m->payload, 4);
        if (index != 0) {
            return 1;
        }
        queue_stop(be);
        memcpy(&q->desc_ua, m->payload + 8, 8);
        memcpy(&q->used_ua, m->payload + 16, 8);
        memcpy(&q->avail_ua, m->payload + 24, 8);
        /* The split ring's alignments (the index words are atomics). */
        q->addr_set = (q->desc_ua % 16) == 0 && (q->avail_ua % 2) == 0 &&
                      (q->used_ua % 4) == 0;
        return q->addr_set ? 0 : 1;
    case REQ_SET_VRING_BASE:
        if (vring_state(m, &index, &num) < 0 || num > 0xffff) {
            return 1;
        }
        q->last_avail = (uint16_t)num;
        return 0;
    case REQ_GET_VRING_BASE: {
        uint32_t st[2];

        if (vring_state(m, &index, &num) < 0) {
            return -EPROTO;
        }
        (void)queue_process(be);
        queue_stop(be);
        close_fd(&q->kick_fd);
        q->enabled = false;
        st[0] = 0;
        st[1] = q->last_avail;
        *replied = true;
        return reply(be->conn, m->request, st, sizeof(st));
    }
    case REQ_SET_VRING_KICK:
        queue_stop(be);
        if (vring_fd(m, &q->kick_fd) < 0) {
            return 1;
        }
        return queue_try_start(be) < 0 ? 1 : 0;
    case REQ_SET_VRING_CALL:
        return vring_fd(m, &q->call_fd) < 0 ? 1 : 0;
    case REQ_SET_VRING_ERR:
        return vring_fd(m, &q->err_fd) < 0 ? 1 : 0;
    case REQ_SET_VRING_ENABLE:
        if (vring_state(m, &index, &num) < 0) {
            return 1;
        }
        q->enabled = num != 0;
        if (!q->enabled) {
            queue_stop(be);
            return 0;
        }
        ret = queue_try_start(be);
        if (ret == 0) {
            (void)queue_process(be);
        }
        return ret < 0 ? 1 : 0;
    default:
        v = m->request;
        say("request %llu not implemented", (unsigned long long)v);
        return 1;
    }
}

/* One message from the frontend. 0, or -errno to drop the connection. */
static int
conn_event(struct backend *be)
{
    struct msg m;
    bool replied;
    int ret;

    ret = msg_read(be->conn, &m);
    if (ret < 0) {
        return ret;
    }
    ret = handle(be, &m, &replied);
    msg_close_fds(&m);
    if (ret < 0) {
        return ret;
    }
    if (!replied && (m.flags & FLAG_NEED_REPLY) &&
        (be->pfeatures & (1ull << PF_REPLY_ACK))) {
        return reply_u64(be->conn, m.request, (uint64_t)ret);
    }
    if (ret > 0) {
        say("request %u refused", m.request);
    }
    return 0;
}

static void
conn_close(struct backend *be)
{
    queue_reset(be);
    close_fd(&be->conn);
    be->features = 0;
    be->pfeatures = 0;
    be->nregions = 0;
}

static int
listen_on(const char *path)
{
    struct sockaddr_un sa;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        int ret = -errno;

        close(fd);
        return ret;
    }
    return fd;
}

int
main(int argc, char **argv)
{
    struct backend be;
    sigset_t ss;
    int lfd, sfd;
    bool stop = false;

    if (argc != 2) {
        fprintf(stderr, "usage: iq-vu-rng SOCKET\n");
        return 2;
    }
    memset(&be, 0, sizeof(be));
    be.conn = -1;
    be.q.kick_fd = be.q.call_fd = be.q.err_fd = -1;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    sfd = signalfd(-1, &ss, SFD_CLOEXEC);
    be.fmem = xenforeignmemory_open(NULL, 0);
    if (sfd < 0 || be.fmem == NULL) {
        say("setup failed: %s", strerror(errno));
        return 1;
    }
    lfd = listen_on(argv[1]);
    if (lfd < 0) {
        say("cannot listen on %s: %s", argv[1], strerror(-lfd));
        return 1;
    }
    say("listening on %s", argv[1]);
    while (!stop) {
        struct pollfd p[3] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = be.conn >= 0 ? be.conn : lfd, .events = POLLIN},
            {.fd = be.q.running ? be.q.kick_fd : -1, .events = POLLIN},
        };

        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            say("poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents & POLLIN) {
            stop = true;
            continue;
        }
        if (p[2].revents & POLLIN) {
            kick_event(&be);
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (be.conn < 0) {
                be.conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (be.conn >= 0) {
                    be.st.connections++;
                    say("frontend connected");
                }
            } else {
                int ret = conn_event(&be);

                if (ret < 0) {
                    say("frontend gone (%s): requests so far %llu",
                        strerror(-ret), be.st.requests);
                    conn_close(&be);
                }
            }
        }
    }
    conn_close(&be);
    close(lfd);
    unlink(argv[1]);
    xenforeignmemory_close(be.fmem);
    printf("iq-vu-rng: kicks=%llu wakeups=%llu requests=%llu bytes=%llu "
           "connections=%u\n",
           be.st.kicks, be.st.wakeups, be.st.requests, be.st.bytes,
           be.st.connections);
    fflush(stdout);
    return 0;
}
