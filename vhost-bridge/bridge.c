/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user bridge device: a virtio device (struct
 * iq_virtio_device_ops) whose work is done by a vhost-user daemon, in mmap
 * (zero-copy) or shadow (copying) mode. See include/ioreqd/vhost-bridge.h.
 */
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/vhost-bridge.h"
#include "vu-proto.h"

#define VB_PAGE 4096u
#define VB_DEFAULT_QMAX 256u
#define VB_DEFAULT_SHADOW (4u << 20)
#define VB_MAX_SHADOW (256u << 20)
/* Address the shadow memfd has in the daemon's view (gpa and uaddr). */
#define VB_SHADOW_BASE 0x100000000ull

#define VB_DESC_F_NEXT 1u
#define VB_DESC_F_WRITE 2u
#define VB_USED_F_NO_NOTIFY 1u

#define VB_ID_GPU 16u

/* Feature bits (device-specific) the bridge cannot pass through. */
#define NET_F_MTU 3
#define NET_F_MAC 5
#define NET_F_STATUS 16
#define NET_F_CTRL_VQ 17
#define NET_F_CTRL_RX 18
#define NET_F_CTRL_VLAN 19
#define NET_F_GUEST_ANNOUNCE 21
#define NET_F_MQ 22
#define NET_F_CTRL_MAC_ADDR 23
#define BLK_F_RO 5
#define BLK_F_MQ 12

/* virtio-blk request header: type (le32) first, 16 bytes in all. */
#define BLK_HDR_LEN 16u
#define BLK_T_IN 0u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u
#define BLK_T_GET_LIFETIME 10u
#define BLK_S_IOERR 1u

/* One request relayed in shadow mode; indexed by the guest's head. */
struct vb_slot {
    struct iq_virtq_elem *elem;
    uint32_t page; /* first arena page */
    uint32_t npages;
    uint32_t out_len;
    uint32_t in_len;
    uint32_t in_off; /* byte offset of the in area in the arena chunk */
};

struct vb_queue {
    struct iq_vhost_bridge *b;
    unsigned index;
    int kick_fd;
    int call_fd;
    int err_fd;
    bool watched;
    bool kick_off; /* kicks delivered by the kernel (offload) */
    bool irq_off; /* calls delivered by the kernel (offload) */
    bool configured; /* queue_ready seen */
    bool started; /* rings handed to the daemon */
    uint16_t size; /* guest queue size */
    gpa_t desc;
    gpa_t avail;
    gpa_t used;
    /* shadow mode */
    size_t ring_off; /* offset of this queue's rings in the memfd */
    uint16_t ssize; /* shadow ring size: 2 * size */
    uint16_t avail_idx;
    uint16_t last_used;
    unsigned inflight;
    struct vb_slot *slots; /* VB qmax entries */
    struct iq_virtq_elem *pending; /* popped, waiting for pool space */
};

struct iq_vhost_bridge {
    char ctx[48];
    struct iq_ratelimit rl;
    /*
     * Connection events: the guest can repeat them at will (each reset
     * reconnects, each DRIVER_OK starts the rings), so rate-limited.
     */
    struct iq_ratelimit conn_rl;
    char *socket_path;
    uint32_t device_id;
    enum iq_vhost_mode mode;
    uint16_t qmax;
    struct vu_conn conn;
    bool sock_watched;
    struct iq_virtio_dev *vdev;
    struct iq_loop *loop;
    uint64_t dev_features; /* device bits offered to the guest */
    uint64_t ring_features; /* mmap: INDIRECT/EVENT_IDX of the daemon */
    uint64_t guest_features; /* negotiated at start */
    /* Bits ioreqd offers on its own (read-only): never sent to the daemon. */
    uint64_t local_features;
    bool readonly; /* shadow: refuse every request that may write */
    uint64_t want_pf;
    /*
     * shadow: VIRTIO_F_EVENT_IDX negotiated on the shadow rings (ioreqd is
     * their driver): kicks follow the daemon's avail_event, calls our
     * used_event. Without it the daemon's VRING_USED_F_NO_NOTIFY is
     * honoured and every completion may call.
     */
    bool shadow_event_idx;
    uint8_t config[VU_MAX_CONFIG];
    uint32_t config_size;
    bool remote_config;
    unsigned nq;
    struct vb_queue *q;
    bool running;
    bool destroying; /* no reconnect from the final reset */
    /* mmap mode */
    struct iq_vhost_mem mem; /* fds dup'ed, owned */
    /* shadow mode */
    int shm_fd;
    uint8_t *shm;
    size_t shm_len;
    size_t arena_off;
    uint32_t arena_pages;
    uint8_t *page_used;
    uint32_t page_hint;
    struct iq_vhost_bridge_stats st;
    uint64_t base;
    uint32_t irq;
    const struct iq_vhost_offload_ops *offload;
    void *offload_opaque;
    /* An offload refusal was logged (once: the guest can repeat starts). */
    bool offload_refusal_logged;
};

/* ---- helpers ------------------------------------------------------------- */

static size_t
align_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Bytes of one queue's shadow rings (ring size s), page aligned parts. */
static size_t
ring_bytes(uint16_t s)
{
    return align_up(16u * s, VB_PAGE) + align_up(6u + 2u * s, VB_PAGE) +
           align_up(6u + 8u * s, VB_PAGE);
}

static void
drain_eventfd(int fd)
{
    uint64_t v;

    if (fd >= 0) {
        ssize_t n = read(fd, &v, sizeof(v));

        (void)n;
    }
}

static void
signal_eventfd(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));

    (void)n; /* EAGAIN: the counter is already non-zero */
}

static void sock_unwatch(struct iq_vhost_bridge *b);
static void queues_unwatch(struct iq_vhost_bridge *b);

/*
 * The daemon is gone or broke the protocol: drop the connection and, if
 * the guest is using the device, tell it through NEEDS_RESET.
 */
static void
daemon_lost(struct iq_vhost_bridge *b, const char *why)
{
    bool was = b->conn.fd >= 0;

    if (was) {
        iq_log_guest(&b->conn_rl, b->ctx, "vhost-user daemon lost: %s", why);
        b->st.disconnects++;
    }
    sock_unwatch(b);
    queues_unwatch(b);
    iq_vu_conn_close(&b->conn);
    for (unsigned i = 0; i < b->nq; i++) {
        b->q[i].started = false;
    }
    if (b->running) {
        b->running = false;
        iq_virtio_set_needs_reset(b->vdev, "vhost-user daemon lost");
    }
}

/* ---- socket watch: anything unsolicited means the daemon is gone -------- */

static void
sock_event(void *opaque, uint32_t events)
{
    struct iq_vhost_bridge *b = opaque;
    char c;

    if (!(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && b->conn.fd >= 0 &&
        recv(b->conn.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return; /* nothing there after all */
    }
    daemon_lost(b, (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
                       ? "disconnected"
                       : "unsolicited message");
}

static void
sock_watch(struct iq_vhost_bridge *b)
{
    if (b->loop == NULL || b->sock_watched || b->conn.fd < 0) {
        return;
    }
    if (iq_loop_add_fd(b->loop, b->conn.fd, EPOLLIN | EPOLLRDHUP, sock_event,
                       b) == 0) {
        b->sock_watched = true;
    }
}

static void
sock_unwatch(struct iq_vhost_bridge *b)
{
    if (b->sock_watched) {
        iq_loop_del_fd(b->loop, b->conn.fd);
        b->sock_watched = false;
    }
}

/* ---- shadow arena ---------------------------------------------------------
 */

static int64_t
arena_alloc(struct iq_vhost_bridge *b, uint32_t n)
{
    uint32_t total = b->arena_pages;

    for (uint32_t tries = 0; tries < 2; tries++) {
        uint32_t start = tries == 0 ? b->page_hint : 0;
        uint32_t run = 0;

        for (uint32_t p = start; p < total; p++) {
            if (b->page_used[p]) {
                run = 0;
                continue;
            }
            run++;
            if (run == n) {
                uint32_t first = p + 1 - n;

                memset(b->page_used + first, 1, n);
                b->page_hint = p + 1 < total ? p + 1 : 0;
                return first;
            }
        }
    }
    return -1;
}

static void
arena_free(struct iq_vhost_bridge *b, uint32_t first, uint32_t n)
{
    memset(b->page_used + first, 0, n);
}

static uint8_t *
q_desc(struct vb_queue *q)
{
    return q->b->shm + q->ring_off;
}

static uint8_t *
q_avail(struct vb_queue *q)
{
    return q_desc(q) + align_up(16u * q->ssize, VB_PAGE);
}

static uint8_t *
q_used(struct vb_queue *q)
{
    return q_avail(q) + align_up(6u + 2u * q->ssize, VB_PAGE);
}

static uint64_t
shm_addr(struct iq_vhost_bridge *b, const void *p)
{
    return VB_SHADOW_BASE + (uint64_t)((const uint8_t *)p - b->shm);
}

/* The 16-bit ring fields the daemon writes and we read, or the reverse. */
static uint16_t
ring_load16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static void
ring_store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

/* virtio 1.x 2.7.10: does moving from `old` to `idx` pass `event`? */
static bool
ring_need_event(uint16_t event, uint16_t idx, uint16_t old)
{
    return (uint16_t)(idx - event - 1) < (uint16_t)(idx - old);
}

/*
 * Shadow: requests up to q->avail_idx are published (old: the index before
 * this batch). Does the daemon want a kick for them?
 */
static bool
shadow_need_kick(struct vb_queue *q, uint16_t old)
{
    const uint8_t *used = q_used(q);

    /* Our avail index store before the daemon's suppression state. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (q->b->shadow_event_idx) {
        return ring_need_event(ring_load16(used + 4 + 8u * q->ssize),
                               q->avail_idx, old);
    }
    return (ring_load16(used) & VB_USED_F_NO_NOTIFY) == 0;
}

static void
put_desc(struct vb_queue *q, uint16_t i, uint64_t addr, uint32_t len,
         uint16_t flags, uint16_t next)
{
    uint8_t *d = q_desc(q) + 16u * i;

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Give an element back unpublished and free its shadow space. */
static void
slot_drop(struct vb_queue *q, uint16_t head, bool discard)
{
    struct vb_slot *s = &q->slots[head];
    struct iq_virtq *vq = iq_virtio_queue(q->b->vdev, q->index);

    if (s->elem == NULL) {
        return;
    }
    arena_free(q->b, s->page, s->npages);
    if (discard) {
        iq_virtq_discard(vq, s->elem);
    }
    s->elem = NULL;
    q->inflight--;
}

/*
 * Read-only disk: may this request go to the daemon? Decided on the copy
 * in the shadow arena (what the daemon reads), never on guest memory.
 */
static bool
ro_request_ok(const uint8_t *out, uint64_t out_len)
{
    uint32_t type;

    if (out_len < BLK_HDR_LEN) {
        return false;
    }
    memcpy(&type, out, sizeof(type));
    type = le32toh(type);
    return type == BLK_T_IN || type == BLK_T_FLUSH || type == BLK_T_GET_ID ||
           type == BLK_T_GET_LIFETIME;
}

/* Complete a request refused on a read-only disk: IOERR, nothing relayed. */
static void
ro_refuse(struct iq_vhost_bridge *b, struct iq_virtq *vq,
          struct iq_virtq_elem *elem)
{
    uint8_t st = BLK_S_IOERR;
    uint32_t written = 0;

    if (elem->in_len > 0 &&
        iq_virtq_elem_write(elem, (size_t)(elem->in_len - 1), &st, 1) == 1) {
        written = 1;
    }
    b->st.ro_refused++;
    iq_log_guest(&b->rl, b->ctx, "write request on a read-only disk refused");
    iq_virtq_push(vq, elem, written, false);
}

/*
 * Relay an element into the shadow ring. 1 relayed, 0 no space, 2 refused
 * (read-only disk; nothing kept), <0 bad.
 */
static int
shadow_relay(struct vb_queue *q, struct iq_virtq_elem *elem)
{
    struct iq_vhost_bridge *b = q->b;
    struct vb_slot *s;
    uint32_t in_off;
    uint32_t npages;
    int64_t page;
    uint8_t *chunk;
    uint16_t head = (uint16_t)(2u * elem->head);
    uint16_t d = head;

    if (elem->head >= q->size || q->slots[elem->head].elem != NULL) {
        return -EPROTO; /* engine invariant; never seen */
    }
    if (elem->out_len > UINT32_MAX / 2 || elem->in_len > UINT32_MAX / 2) {
        return -E2BIG;
    }
    in_off = (uint32_t)align_up((size_t)elem->out_len, 64);
    if ((uint64_t)in_off + elem->in_len > (uint64_t)b->arena_pages * VB_PAGE) {
        return -E2BIG;
    }
    npages = (uint32_t)((in_off + elem->in_len + VB_PAGE - 1) / VB_PAGE);
    if (npages == 0) {
        npages = 1;
    }
    page = arena_alloc(b, npages);
    if (page < 0) {
        return 0;
    }
    chunk = b->shm + b->arena_off + (size_t)page * VB_PAGE;
    if (elem->out_len > 0 &&
        iq_virtq_elem_read(elem, 0, chunk, elem->out_len) != elem->out_len) {
        arena_free(b, (uint32_t)page, npages);
        return -EFAULT;
    }
    if (b->readonly && !ro_request_ok(chunk, elem->out_len)) {
        arena_free(b, (uint32_t)page, npages);
        return 2;
    }
    s = &q->slots[elem->head];
    s->elem = elem;
    s->page = (uint32_t)page;
    s->npages = npages;
    s->out_len = (uint32_t)elem->out_len;
    s->in_len = (uint32_t)elem->in_len;
    s->in_off = in_off;
    q->inflight++;
    if (elem->out_len > 0) {
        put_desc(q, d, shm_addr(b, chunk), s->out_len,
                 elem->in_len > 0 ? VB_DESC_F_NEXT : 0, (uint16_t)(d + 1));
        d++;
    }
    if (elem->in_len > 0) {
        put_desc(q, d, shm_addr(b, chunk + in_off), s->in_len, VB_DESC_F_WRITE,
                 0);
    }
    {
        uint8_t *avail = q_avail(q);
        uint16_t slot = (uint16_t)(q->avail_idx % q->ssize);
        uint16_t idx = (uint16_t)(q->avail_idx + 1);

        memcpy(avail + 4 + 2u * slot, &head, 2);
        __atomic_store_n((uint16_t *)(void *)(avail + 2), idx,
                         __ATOMIC_RELEASE);
        q->avail_idx = idx;
    }
    b->st.relayed++;
    return 1;
}

/* Pop guest requests and relay them until the ring or the pool is full. */
static void
shadow_fill(struct vb_queue *q)
{
    struct iq_vhost_bridge *b = q->b;
    struct iq_virtq *vq = iq_virtio_queue(b->vdev, q->index);
    unsigned added = 0;
    uint16_t old = q->avail_idx;

    if (!q->started || vq == NULL) {
        return;
    }
    for (unsigned n = 0; n <= q->size; n++) {
        struct iq_virtq_elem *elem = q->pending;
        int ret;

        q->pending = NULL;
        if (elem == NULL) {
            ret = iq_virtq_pop(vq, &elem);
            if (ret <= 0) {
                break;
            }
        }
        if (elem->out_len == 0 && elem->in_len == 0) {
            iq_virtq_push(vq, elem, 0, false);
            continue;
        }
        ret = shadow_relay(q, elem);
        if (ret == 2) {
            ro_refuse(b, vq, elem);
            continue;
        }
        if (ret == 0) {
            q->pending = elem;
            b->st.backpressure++;
            break;
        }
        if (ret < 0) {
            iq_virtq_discard(vq, elem);
            iq_virtio_set_needs_reset(
                b->vdev, ret == -E2BIG ? "request larger than the shadow pool"
                                       : "request could not be relayed");
            break;
        }
        added++;
    }
    if (added > 0) {
        if (shadow_need_kick(q, old)) {
            signal_eventfd(q->kick_fd);
            b->st.kicks++;
        } else {
            b->st.kicks_suppressed++;
        }
    }
    iq_virtq_flush(vq);
}

/* The daemon published used entries in a shadow ring. */
static void
shadow_complete(struct vb_queue *q)
{
    struct iq_vhost_bridge *b = q->b;
    struct iq_virtq *vq = iq_virtio_queue(b->vdev, q->index);
    uint8_t *used = q_used(q);
    uint16_t idx;

    if (!q->started) {
        return;
    }
again:
    idx = ring_load16(used + 2);
    if ((uint16_t)(idx - q->last_used) > q->inflight) {
        daemon_lost(b, "used index beyond the requests in flight");
        return;
    }
    while (q->last_used != idx) {
        uint32_t id;
        uint32_t len;
        struct vb_slot *s;
        uint16_t slot = (uint16_t)(q->last_used % q->ssize);

        memcpy(&id, used + 4 + 8u * slot, 4);
        memcpy(&len, used + 8 + 8u * slot, 4);
        if (id >= q->ssize || (id & 1) != 0 || q->slots[id / 2].elem == NULL) {
            daemon_lost(b, "used entry names no request in flight");
            return;
        }
        s = &q->slots[id / 2];
        if (len > s->in_len) {
            iq_log_guest(&b->rl, b->ctx,
                         "daemon reported %u bytes written into %u: clamped",
                         len, s->in_len);
            len = s->in_len;
        }
        if (len > 0) {
            const uint8_t *chunk =
                b->shm + b->arena_off + (size_t)s->page * VB_PAGE;

            (void)iq_virtq_elem_write(s->elem, 0, chunk + s->in_off, len);
        }
        {
            struct iq_virtq_elem *elem = s->elem;

            slot_drop(q, (uint16_t)(id / 2), false);
            iq_virtq_push(vq, elem, len, false);
        }
        q->last_used++;
    }
    if (b->shadow_event_idx) {
        /*
         * Call us for the next completion only; then look again, since
         * the daemon may have pushed before it could see used_event.
         * Bounded: each round consumed entries of the (bounded) inflight.
         */
        ring_store16(q_avail(q) + 4 + 2u * q->ssize, q->last_used);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (ring_load16(used + 2) != q->last_used && q->inflight > 0) {
            goto again;
        }
    }
    iq_virtq_flush(vq);
    /* Pool space was freed: every queue may have a request waiting. */
    shadow_fill(q);
    for (unsigned i = 0; i < b->nq; i++) {
        if (&b->q[i] != q && b->q[i].pending != NULL) {
            shadow_fill(&b->q[i]);
        }
    }
}

/* ---- kick / call / err --------------------------------------------------- */

static void
call_event(void *opaque, uint32_t events)
{
    struct vb_queue *q = opaque;
    struct iq_vhost_bridge *b = q->b;

    (void)events;
    drain_eventfd(q->call_fd);
    b->st.calls++;
    if (b->mode == IQ_VHOST_MMAP) {
        iq_virtio_raise_used(b->vdev);
    } else {
        shadow_complete(q);
    }
}

static void
err_event(void *opaque, uint32_t events)
{
    struct vb_queue *q = opaque;

    (void)events;
    drain_eventfd(q->err_fd);
    iq_virtio_set_needs_reset(q->b->vdev, "vhost-user daemon reported a "
                                          "vring error");
}

/* Hand the queue's kick and call paths to the kernel where offered. */
static void
offload_try(struct iq_vhost_bridge *b, struct vb_queue *q)
{
    int ret;

    if (b->offload == NULL || b->mode != IQ_VHOST_MMAP) {
        return;
    }
    if (b->offload->kick != NULL) {
        ret = b->offload->kick(b->offload_opaque, b->base + 0x50, q->index,
                               q->kick_fd, true);
        q->kick_off = ret == 0;
        if (ret < 0 && !b->offload_refusal_logged) {
            b->offload_refusal_logged = true;
            IQ_INFO(b->ctx, "queue %u: kick offload unavailable (%s)", q->index,
                    strerror(-ret));
        }
    }
    if (b->offload->irq != NULL) {
        ret = b->offload->irq(b->offload_opaque, b->irq, q->call_fd, true);
        q->irq_off = ret == 0;
        if (ret < 0 && !b->offload_refusal_logged) {
            b->offload_refusal_logged = true;
            IQ_INFO(b->ctx, "queue %u: irq offload unavailable (%s)", q->index,
                    strerror(-ret));
        }
    }
    b->st.kick_offloaded += q->kick_off;
    b->st.irq_offloaded += q->irq_off;
    if (q->irq_off) {
        iq_virtio_set_isr_always(b->vdev, 1);
    }
}

static void
offload_undo(struct iq_vhost_bridge *b, struct vb_queue *q)
{
    if (q->kick_off) {
        (void)b->offload->kick(b->offload_opaque, b->base + 0x50, q->index,
                               q->kick_fd, false);
        q->kick_off = false;
    }
    if (q->irq_off) {
        (void)b->offload->irq(b->offload_opaque, b->irq, q->call_fd, false);
        q->irq_off = false;
        iq_virtio_set_isr_always(b->vdev, 0);
    }
}

static void
queues_unwatch(struct iq_vhost_bridge *b)
{
    for (unsigned i = 0; i < b->nq; i++) {
        struct vb_queue *q = &b->q[i];

        if (q->watched) {
            if (!q->irq_off) {
                iq_loop_del_fd(b->loop, q->call_fd);
            }
            iq_loop_del_fd(b->loop, q->err_fd);
            q->watched = false;
        }
        offload_undo(b, q);
    }
}

/* ---- vhost-user exchanges ------------------------------------------------ */

static int
send_u64(struct iq_vhost_bridge *b, uint32_t req, uint64_t v)
{
    struct vu_msg m;

    iq_vu_enc_u64(&m, req, v);
    return iq_vu_conn_send(&b->conn, &m, NULL, 0);
}

static int
send_state(struct iq_vhost_bridge *b, uint32_t req, uint32_t i, uint32_t num)
{
    struct vu_msg m;

    iq_vu_enc_state(&m, req, i, num);
    return iq_vu_conn_send(&b->conn, &m, NULL, 0);
}

static int
send_fd(struct iq_vhost_bridge *b, uint32_t req, uint32_t i, int fd)
{
    struct vu_msg m;

    iq_vu_enc_u64(&m, req, i & VU_VRING_IDX_MASK);
    return iq_vu_conn_send(&b->conn, &m, &fd, 1);
}

static int
send_mem_table(struct iq_vhost_bridge *b)
{
    struct vu_region r[VU_MAX_REGIONS];
    int fds[VU_MAX_REGIONS];
    struct vu_msg m;
    unsigned n = 0;
    bool xen = false;
    int ret;

    memset(r, 0, sizeof(r));
    if (b->mode == IQ_VHOST_SHADOW) {
        r[0].gpa = VB_SHADOW_BASE;
        r[0].size = b->shm_len;
        r[0].uaddr = VB_SHADOW_BASE;
        r[0].mmap_offset = 0;
        fds[0] = b->shm_fd;
        n = 1;
    } else {
        xen = b->mem.xen;
        for (n = 0; n < b->mem.nr; n++) {
            r[n].gpa = b->mem.r[n].gpa;
            r[n].size = b->mem.r[n].size;
            /* Guest-physical addresses double as user addresses. */
            r[n].uaddr = b->mem.r[n].gpa;
            r[n].mmap_offset = xen ? 0 : b->mem.r[n].fd_offset;
            r[n].xen_flags = VU_XEN_MMAP_FOREIGN;
            r[n].xen_domid = b->mem.domid;
            fds[n] = b->mem.r[n].fd;
        }
    }
    ret = iq_vu_enc_mem_table(&m, r, n, xen);
    if (ret < 0) {
        return ret;
    }
    return iq_vu_conn_send(&b->conn, &m, fds, n);
}

static uint64_t
vring_addr(struct iq_vhost_bridge *b, struct vb_queue *q, int which)
{
    if (b->mode == IQ_VHOST_MMAP) {
        return which == 0 ? q->desc : which == 1 ? q->used : q->avail;
    }
    return shm_addr(b, which == 0   ? q_desc(q)
                       : which == 1 ? q_used(q)
                                    : q_avail(q));
}

/* Hand one configured queue to the daemon. */
static int
queue_start(struct iq_vhost_bridge *b, struct vb_queue *q)
{
    struct vu_vring_addr a;
    struct vu_msg m;
    uint32_t num = b->mode == IQ_VHOST_MMAP ? q->size : q->ssize;
    int ret;

    drain_eventfd(q->kick_fd);
    drain_eventfd(q->call_fd);
    drain_eventfd(q->err_fd);
    if (b->mode == IQ_VHOST_SHADOW) {
        memset(q_desc(q), 0, ring_bytes(q->ssize));
        q->avail_idx = 0;
        q->last_used = 0;
    }
    ret = send_state(b, VU_SET_VRING_NUM, q->index, num);
    if (ret == 0) {
        memset(&a, 0, sizeof(a));
        a.index = q->index;
        a.desc = vring_addr(b, q, 0);
        a.used = vring_addr(b, q, 1);
        a.avail = vring_addr(b, q, 2);
        iq_vu_enc_addr(&m, &a);
        ret = iq_vu_conn_send(&b->conn, &m, NULL, 0);
    }
    if (ret == 0) {
        ret = send_state(b, VU_SET_VRING_BASE, q->index, 0);
    }
    if (ret == 0) {
        ret = send_fd(b, VU_SET_VRING_KICK, q->index, q->kick_fd);
    }
    if (ret == 0) {
        ret = send_fd(b, VU_SET_VRING_CALL, q->index, q->call_fd);
    }
    if (ret == 0) {
        ret = send_fd(b, VU_SET_VRING_ERR, q->index, q->err_fd);
    }
    if (ret == 0 && (b->conn.features & (1ull << VU_F_PROTOCOL_FEATURES))) {
        ret = send_state(b, VU_SET_VRING_ENABLE, q->index, 1);
    }
    if (ret < 0) {
        return ret;
    }
    offload_try(b, q);
    if (!q->watched && b->loop != NULL) {
        if (!q->irq_off &&
            iq_loop_add_fd(b->loop, q->call_fd, EPOLLIN, call_event, q) < 0) {
            offload_undo(b, q);
            return -ENOMEM;
        }
        if (iq_loop_add_fd(b->loop, q->err_fd, EPOLLIN, err_event, q) < 0) {
            if (!q->irq_off) {
                iq_loop_del_fd(b->loop, q->call_fd);
            }
            offload_undo(b, q);
            return -ENOMEM;
        }
        q->watched = true;
    }
    q->started = true;
    return 0;
}

/* Stop a queue in the daemon (GET_VRING_BASE) if the daemon is still there. */
static void
queue_stop(struct iq_vhost_bridge *b, struct vb_queue *q)
{
    struct vu_expect e = {.request = VU_GET_VRING_BASE, .index = q->index};
    struct vu_reply r;
    struct vu_msg m;

    if (!q->started) {
        return;
    }
    q->started = false;
    if (iq_vu_conn_broken(&b->conn)) {
        return;
    }
    iq_vu_enc_state(&m, VU_GET_VRING_BASE, q->index, 0);
    if (iq_vu_conn_call(&b->conn, &m, &e, &r) < 0) {
        daemon_lost(b, b->conn.why);
    }
}

/* ---- connection and negotiation ------------------------------------------ */

static uint64_t
device_mask(uint32_t id)
{
    uint64_t m = (1ull << 24) - 1;

    if (id == IQ_VIRTIO_ID_NET) {
        m &= ~((1ull << NET_F_CTRL_VQ) | (1ull << NET_F_CTRL_RX) |
               (1ull << NET_F_CTRL_VLAN) | (1ull << NET_F_GUEST_ANNOUNCE) |
               (1ull << NET_F_MQ) | (1ull << NET_F_CTRL_MAC_ADDR));
    }
    return m;
}

static int
fetch_config(struct iq_vhost_bridge *b, char *err, size_t err_len)
{
    struct vu_expect e = {.request = VU_GET_CONFIG,
                          .config_offset = 0,
                          .config_size = b->config_size};
    struct vu_reply r;
    struct vu_msg m;
    int ret;

    ret = iq_vu_enc_config(&m, VU_GET_CONFIG, 0, NULL, b->config_size);
    if (ret == 0) {
        ret = iq_vu_conn_call(&b->conn, &m, &e, &r);
    }
    if (ret < 0) {
        snprintf(err, err_len, "GET_CONFIG failed: %s (%s)", strerror(-ret),
                 b->conn.why);
        return ret;
    }
    memcpy(b->config, r.config, b->config_size);
    return 0;
}

/*
 * Connect and negotiate. At creation (`first`) this decides what the guest
 * is offered; on reconnect the daemon must offer at least that again.
 */
static int
connect_daemon(struct iq_vhost_bridge *b, bool first, char *err, size_t err_len)
{
    uint64_t need_pf = 0;
    int ret;

    ret = iq_vu_conn_connect(&b->conn, b->socket_path);
    if (ret < 0) {
        snprintf(err, err_len, "cannot connect to vhost-user socket %s: %s",
                 b->socket_path, strerror(-ret));
        return ret;
    }
    ret = iq_vu_conn_handshake(&b->conn, b->want_pf);
    if (ret < 0) {
        snprintf(err, err_len, "vhost-user handshake with %s failed: %s (%s)",
                 b->socket_path, strerror(-ret), b->conn.why);
        iq_vu_conn_close(&b->conn);
        return ret;
    }
    if (b->mode == IQ_VHOST_MMAP && b->mem.xen) {
        need_pf |= 1ull << VU_PF_XEN_MMAP;
    }
    if (!first && b->remote_config) {
        need_pf |= 1ull << VU_PF_CONFIG;
    }
    for (unsigned bit = 0; bit < 64; bit++) {
        if ((need_pf & (1ull << bit)) && !(b->conn.pfeatures & (1ull << bit))) {
            snprintf(err, err_len,
                     "vhost-user daemon at %s does not implement %s, which "
                     "mode=%s needs%s",
                     b->socket_path, iq_vu_pf_name(bit),
                     b->mode == IQ_VHOST_MMAP ? "mmap" : "shadow",
                     bit == VU_PF_XEN_MMAP ? " on Xen (use mode=shadow)" : "");
            iq_vu_conn_close(&b->conn);
            return -EPROTONOSUPPORT;
        }
    }
    if (!first) {
        /* In shadow mode the ring features are ioreqd's own. */
        uint64_t need = (b->dev_features & ~b->local_features) |
                        (b->mode == IQ_VHOST_MMAP ? b->ring_features : 0);

        if ((b->conn.features & need) != need) {
            snprintf(err, err_len,
                     "vhost-user daemon at %s came back with fewer features "
                     "(0x%llx, need 0x%llx)",
                     b->socket_path, (unsigned long long)b->conn.features,
                     (unsigned long long)need);
            iq_vu_conn_close(&b->conn);
            return -EPROTONOSUPPORT;
        }
        b->st.reconnects++;
    }
    sock_watch(b);
    return 0;
}

static void
try_reconnect(struct iq_vhost_bridge *b)
{
    char err[256];

    if (!iq_vu_conn_broken(&b->conn)) {
        return;
    }
    iq_vu_conn_close(&b->conn);
    if (connect_daemon(b, false, err, sizeof(err)) < 0) {
        iq_log_guest(&b->conn_rl, b->ctx, "reconnect: %s", err);
    } else {
        iq_log_guest(&b->conn_rl, b->ctx,
                     "reconnected to vhost-user daemon at %s", b->socket_path);
    }
}

/* ---- device ops ---------------------------------------------------------- */

static uint64_t
vb_features(void *opaque)
{
    struct iq_vhost_bridge *b = opaque;

    return b->dev_features;
}

static uint64_t
vb_transport_features(void *opaque)
{
    struct iq_vhost_bridge *b = opaque;

    return b->ring_features;
}

static void
vb_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
    struct iq_vhost_bridge *b = opaque;

    memcpy(buf, b->config + offset, len);
}

static void
vb_config_write(void *opaque, uint32_t offset, const void *buf, uint32_t len)
{
    struct iq_vhost_bridge *b = opaque;
    struct vu_msg m;

    memcpy(b->config + offset, buf, len);
    if (!b->remote_config || iq_vu_conn_broken(&b->conn)) {
        return;
    }
    if (iq_vu_enc_config(&m, VU_SET_CONFIG, offset, buf, len) == 0 &&
        iq_vu_conn_send(&b->conn, &m, NULL, 0) < 0) {
        if (iq_vu_conn_broken(&b->conn)) {
            daemon_lost(b, b->conn.why);
        } else {
            /* Refused (non-zero ack): the daemon keeps its value. */
            iq_log_guest(&b->rl, b->ctx,
                         "config write at 0x%x (%u bytes) refused by the "
                         "daemon",
                         offset, len);
        }
    }
}

static int vb_start_op(struct iq_vhost_bridge *b, uint64_t features);

static int
vb_start(void *opaque, uint64_t features)
{
    struct iq_vhost_bridge *b = opaque;
    int ret;

    /* Reconnect and ring setup together wait at most one timeout. */
    iq_vu_conn_op_begin(&b->conn);
    ret = vb_start_op(b, features);
    iq_vu_conn_op_end(&b->conn);
    return ret;
}

static int
vb_start_op(struct iq_vhost_bridge *b, uint64_t features)
{
    uint64_t f;
    int ret;

    if (iq_vu_conn_broken(&b->conn)) {
        try_reconnect(b);
        if (iq_vu_conn_broken(&b->conn)) {
            return -ENOTCONN;
        }
    }
    b->guest_features = features;
    if (b->mode == IQ_VHOST_MMAP) {
        f = features & ~(1ull << IQ_VIRTIO_F_ACCESS_PLATFORM);
    } else {
        /*
         * The shadow rings carry the guest's device bits, no indirect
         * tables, and the event index when the daemon has it.
         */
        f = (features & ((1ull << 24) - 1)) | (1ull << IQ_VIRTIO_F_VERSION_1);
        b->shadow_event_idx =
            (b->conn.features & (1ull << IQ_VIRTIO_F_EVENT_IDX)) != 0;
        if (b->shadow_event_idx) {
            f |= 1ull << IQ_VIRTIO_F_EVENT_IDX;
        }
    }
    f &= ~b->local_features;
    if (b->conn.features & (1ull << VU_F_PROTOCOL_FEATURES)) {
        f |= 1ull << VU_F_PROTOCOL_FEATURES;
    }
    ret = send_u64(b, VU_SET_FEATURES, f);
    if (ret == 0) {
        ret = send_mem_table(b);
    }
    for (unsigned i = 0; ret == 0 && i < b->nq; i++) {
        struct vb_queue *q = &b->q[i];

        /* QueueReady may have been cleared again before DRIVER_OK. */
        if (q->configured &&
            iq_virtq_size(iq_virtio_queue(b->vdev, i)) == q->size) {
            q->ssize = (uint16_t)(2u * q->size);
            ret = queue_start(b, q);
        }
    }
    if (ret < 0) {
        iq_log_guest(&b->conn_rl, b->ctx,
                     "starting the daemon's rings failed: %s (%s)",
                     strerror(-ret), b->conn.why);
        daemon_lost(b, "start failed");
        return ret;
    }
    b->running = true;
    return 0;
}

static void
vb_notify(void *opaque, struct iq_virtq *vq)
{
    struct iq_vhost_bridge *b = opaque;
    unsigned i = iq_virtq_index(vq);
    struct vb_queue *q;

    if (i >= b->nq) {
        return;
    }
    q = &b->q[i];
    if (!q->started) {
        return;
    }
    if (b->mode == IQ_VHOST_MMAP) {
        signal_eventfd(q->kick_fd);
        b->st.kicks++;
        return;
    }
    shadow_fill(q);
}

static void
vb_queue_ready(void *opaque, unsigned index, uint16_t size, gpa_t desc,
               gpa_t avail, gpa_t used)
{
    struct iq_vhost_bridge *b = opaque;
    struct vb_queue *q;

    if (index >= b->nq) {
        return;
    }
    q = &b->q[index];
    q->configured = true;
    q->size = size;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
}

static void
vb_reset(void *opaque)
{
    struct iq_vhost_bridge *b = opaque;

    /* Stopping every ring and reconnecting wait at most one timeout. */
    iq_vu_conn_op_begin(&b->conn);
    b->running = false;
    for (unsigned i = 0; i < b->nq; i++) {
        struct vb_queue *q = &b->q[i];

        /* After GET_VRING_BASE the daemon no longer reads the rings. */
        queue_stop(b, q);
        if (q->pending != NULL) {
            iq_virtq_discard(iq_virtio_queue(b->vdev, i), q->pending);
            q->pending = NULL;
        }
        if (q->slots != NULL) {
            for (unsigned h = 0; h < b->qmax; h++) {
                slot_drop(q, (uint16_t)h, true);
            }
        }
        q->configured = false;
        q->inflight = 0;
    }
    queues_unwatch(b);
    if (!b->destroying) {
        try_reconnect(b);
    }
    iq_vu_conn_op_end(&b->conn);
}

static const struct iq_virtio_device_ops vb_ops = {
    .features = vb_features,
    .config_read = vb_config_read,
    .config_write = vb_config_write,
    .start = vb_start,
    .notify = vb_notify,
    .reset = vb_reset,
    .queue_ready = vb_queue_ready,
    .transport_features = vb_transport_features,
};

/* ---- create / destroy ---------------------------------------------------- */

static uint32_t
type_config_size(uint32_t id)
{
    switch (id) {
    case IQ_VIRTIO_ID_BLOCK:
        return 60;
    case IQ_VIRTIO_ID_NET:
        return 12;
    case IQ_VIRTIO_ID_FS:
        return 40;
    case VB_ID_GPU:
        return 16;
    default:
        return 0;
    }
}

static unsigned
type_queues(uint32_t id, unsigned asked)
{
    switch (id) {
    case IQ_VIRTIO_ID_NET:
    case VB_ID_GPU:
        return 2;
    case IQ_VIRTIO_ID_FS:
        return asked > 1 ? asked : 2; /* hiprio + request queues */
    default:
        return asked != 0 ? asked : 1;
    }
}

static int
shadow_setup(struct iq_vhost_bridge *b, size_t pool)
{
    size_t rings = 0;

    for (unsigned i = 0; i < b->nq; i++) {
        b->q[i].ring_off = rings;
        rings += ring_bytes((uint16_t)(2u * b->qmax));
    }
    b->arena_off = rings;
    b->arena_pages = (uint32_t)(align_up(pool, VB_PAGE) / VB_PAGE);
    b->shm_len = rings + (size_t)b->arena_pages * VB_PAGE;
    b->page_used = calloc(b->arena_pages, 1);
    if (b->page_used == NULL) {
        return -ENOMEM;
    }
    b->shm_fd =
        memfd_create("ioreqd-vhost-shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (b->shm_fd < 0) {
        return IQ_NEG_ERRNO();
    }
    if (ftruncate(b->shm_fd, (off_t)b->shm_len) < 0) {
        return IQ_NEG_ERRNO();
    }
    /*
     * The daemon gets this fd: were it able to shrink the file, every
     * access of our mapping beyond the new end would raise SIGBUS.
     */
    if (fcntl(b->shm_fd, F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        return IQ_NEG_ERRNO();
    }
    b->shm = mmap(NULL, b->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                  b->shm_fd, 0);
    if (b->shm == MAP_FAILED) {
        b->shm = NULL;
        return IQ_NEG_ERRNO();
    }
    for (unsigned i = 0; i < b->nq; i++) {
        b->q[i].slots = calloc(b->qmax, sizeof(*b->q[i].slots));
        if (b->q[i].slots == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int
copy_mem(struct iq_vhost_bridge *b, const struct iq_vhost_mem *mem)
{
    if (mem == NULL || mem->nr == 0 || mem->nr > IQ_VHOST_MAX_REGIONS) {
        return -EINVAL;
    }
    b->mem = *mem;
    for (unsigned i = 0; i < mem->nr; i++) {
        b->mem.r[i].fd = -1;
    }
    for (unsigned i = 0; i < mem->nr; i++) {
        if (mem->r[i].size == 0 || (mem->r[i].gpa & (VB_PAGE - 1)) != 0) {
            return -EINVAL;
        }
        b->mem.r[i].fd = fcntl(mem->r[i].fd, F_DUPFD_CLOEXEC, 0);
        if (b->mem.r[i].fd < 0) {
            return IQ_NEG_ERRNO();
        }
    }
    return 0;
}

static void
fs_local_config(struct iq_vhost_bridge *b, const char *tag)
{
    uint32_t nrq = b->nq - 1;

    memset(b->config, 0, sizeof(b->config));
    snprintf((char *)b->config, 36, "%s", tag != NULL ? tag : "ioreqd");
    memcpy(b->config + 36, &nrq, 4);
}

/* cfg->readonly: see include/ioreqd/vhost-bridge.h. */
static int
apply_readonly(struct iq_vhost_bridge *b, char *err, size_t err_len)
{
    bool daemon_ro = (b->conn.features & (1ull << BLK_F_RO)) != 0;

    if (b->device_id != IQ_VIRTIO_ID_BLOCK) {
        snprintf(err, err_len, "read-only needs a block device (type=blk)");
        return -EOPNOTSUPP;
    }
    if (b->mode == IQ_VHOST_MMAP) {
        if (!daemon_ro) {
            snprintf(err, err_len,
                     "read-only disk in mode=mmap needs a daemon that is "
                     "read-only itself (VIRTIO_BLK_F_RO, e.g. "
                     "qemu-storage-daemon writable=off): the daemon at %s "
                     "accepts writes and ioreqd cannot filter them in mmap "
                     "mode (use mode=shadow)",
                     b->socket_path);
            return -EOPNOTSUPP;
        }
    } else {
        b->readonly = true;
        if (!daemon_ro) {
            b->local_features |= 1ull << BLK_F_RO;
        }
    }
    b->dev_features |= 1ull << BLK_F_RO;
    IQ_INFO(b->ctx, "read-only (%s)",
            b->mode == IQ_VHOST_MMAP ? "enforced by the daemon"
                                     : "enforced by ioreqd");
    return 0;
}

int
iq_vhost_bridge_create(const struct iq_vhost_bridge_config *cfg,
                       struct iq_vhost_bridge **out, char *err, size_t err_len)
{
    struct iq_vhost_bridge *b;
    struct iq_virtio_dev_config vc;
    unsigned daemon_q = 1;
    int ret;

    *out = NULL;
    if (cfg == NULL || cfg->socket_path == NULL || cfg->mc == NULL ||
        cfg->device_id == 0 || cfg->device_id > 255 ||
        (cfg->mode == IQ_VHOST_MMAP && cfg->mem == NULL) ||
        cfg->queue_max_size > VB_DEFAULT_QMAX ||
        (cfg->queue_max_size & (cfg->queue_max_size - 1)) != 0 ||
        cfg->shadow_bytes > VB_MAX_SHADOW || cfg->queues > 64) {
        snprintf(err, err_len, "invalid vhost-user bridge configuration");
        return -EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    b->shm_fd = -1;
    snprintf(b->ctx, sizeof(b->ctx), "%s",
             cfg->name != NULL ? cfg->name : "vhost-user");
    iq_vu_conn_init(&b->conn, b->ctx, cfg->timeout_ms);
    b->loop = cfg->loop;
    b->base = cfg->base;
    b->irq = cfg->irq;
    b->offload = cfg->offload;
    b->offload_opaque = cfg->offload_opaque;
    b->device_id = cfg->device_id;
    b->mode = cfg->mode;
    b->qmax = cfg->queue_max_size != 0 ? cfg->queue_max_size : VB_DEFAULT_QMAX;
    b->want_pf = VU_PF_IMPLEMENTED;
    b->socket_path = strdup(cfg->socket_path);
    if (b->socket_path == NULL) {
        ret = -ENOMEM;
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    if (cfg->mode == IQ_VHOST_MMAP) {
        ret = copy_mem(b, cfg->mem);
        if (ret < 0) {
            snprintf(err, err_len, "invalid guest memory description: %s",
                     strerror(-ret));
            goto fail;
        }
    }
    if (!(b->mode == IQ_VHOST_MMAP && b->mem.xen)) {
        b->want_pf &= ~(1ull << VU_PF_XEN_MMAP);
    }

    ret = connect_daemon(b, true, err, err_len);
    if (ret < 0) {
        goto fail;
    }
    if (b->conn.pfeatures & (1ull << VU_PF_MQ)) {
        struct vu_expect e = {.request = VU_GET_QUEUE_NUM};
        struct vu_reply r;
        struct vu_msg m;

        iq_vu_enc_none(&m, VU_GET_QUEUE_NUM);
        ret = iq_vu_conn_call(&b->conn, &m, &e, &r);
        if (ret < 0) {
            snprintf(err, err_len, "GET_QUEUE_NUM failed: %s (%s)",
                     strerror(-ret), b->conn.why);
            goto fail;
        }
        daemon_q = (unsigned)r.u64;
    }
    b->nq = type_queues(cfg->device_id, cfg->queues);
    if (b->nq > 64 ||
        ((b->conn.pfeatures & (1ull << VU_PF_MQ)) && b->nq > daemon_q)) {
        snprintf(err, err_len, "%u queues asked, the daemon serves %u", b->nq,
                 daemon_q);
        ret = -EINVAL;
        goto fail;
    }
    b->dev_features = b->conn.features & device_mask(cfg->device_id);
    if (cfg->device_id == IQ_VIRTIO_ID_BLOCK && b->nq == 1) {
        b->dev_features &= ~(1ull << BLK_F_MQ);
    }
    if (b->mode == IQ_VHOST_MMAP) {
        b->ring_features =
            b->conn.features & ((1ull << IQ_VIRTIO_F_INDIRECT_DESC) |
                                (1ull << IQ_VIRTIO_F_EVENT_IDX));
    } else {
        b->ring_features = (1ull << IQ_VIRTIO_F_INDIRECT_DESC) |
                           (1ull << IQ_VIRTIO_F_EVENT_IDX);
    }
    b->config_size = type_config_size(cfg->device_id);
    if (b->conn.pfeatures & (1ull << VU_PF_CONFIG)) {
        if (b->config_size == 0) {
            b->config_size = 8;
        }
        ret = fetch_config(b, err, err_len);
        if (ret < 0) {
            goto fail;
        }
        b->remote_config = true;
        if (cfg->device_id == IQ_VIRTIO_ID_BLOCK &&
            (b->dev_features & (1ull << BLK_F_MQ))) {
            uint16_t nq = (uint16_t)b->nq;

            memcpy(b->config + 34, &nq, 2); /* num_queues */
        }
    } else if (cfg->device_id == IQ_VIRTIO_ID_FS) {
        fs_local_config(b, cfg->fs_tag);
    } else if (cfg->device_id == IQ_VIRTIO_ID_NET) {
        b->dev_features &= ~((1ull << NET_F_MTU) | (1ull << NET_F_MAC) |
                             (1ull << NET_F_STATUS));
    }

    b->q = calloc(b->nq, sizeof(*b->q));
    if (b->q == NULL) {
        ret = -ENOMEM;
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < b->nq; i++) {
        b->q[i].kick_fd = -1;
        b->q[i].call_fd = -1;
        b->q[i].err_fd = -1;
    }
    for (unsigned i = 0; i < b->nq; i++) {
        struct vb_queue *q = &b->q[i];

        q->b = b;
        q->index = i;
        q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->kick_fd < 0 || q->call_fd < 0 || q->err_fd < 0) {
            ret = IQ_NEG_ERRNO();
            snprintf(err, err_len, "eventfd: %s", strerror(-ret));
            goto fail;
        }
    }
    if (b->mode == IQ_VHOST_SHADOW) {
        ret = shadow_setup(b, cfg->shadow_bytes != 0 ? cfg->shadow_bytes
                                                     : VB_DEFAULT_SHADOW);
        if (ret < 0) {
            snprintf(err, err_len, "shadow memory: %s", strerror(-ret));
            goto fail;
        }
    }

    if (cfg->readonly) {
        ret = apply_readonly(b, err, err_len);
        if (ret < 0) {
            goto fail;
        }
    }
    memset(&vc, 0, sizeof(vc));
    vc.name = b->ctx;
    vc.device_id = cfg->device_id;
    vc.num_queues = b->nq;
    vc.queue_max_size = b->qmax;
    vc.config_size = b->config_size;
    vc.irq = cfg->irq;
    vc.ops = &vb_ops;
    vc.opaque = b;
    vc.mc = cfg->mc;
    vc.loop = cfg->loop;
    vc.irq_ops = cfg->irq_ops;
    vc.irq_opaque = cfg->irq_opaque;
    vc.arch = cfg->arch;
    ret = iq_virtio_dev_create(&vc, &b->vdev);
    if (ret < 0) {
        snprintf(err, err_len, "cannot create the virtio device: %s",
                 strerror(-ret));
        goto fail;
    }
    IQ_INFO(b->ctx,
            "vhost-user %s: mode=%s queues=%u features 0x%llx protocol "
            "0x%llx (offered 0x%llx)",
            b->socket_path, b->mode == IQ_VHOST_MMAP ? "mmap" : "shadow", b->nq,
            (unsigned long long)b->conn.features,
            (unsigned long long)b->conn.pfeatures,
            (unsigned long long)b->conn.offered_pf);
    *out = b;
    return 0;

fail:
    iq_vhost_bridge_destroy(b);
    return ret;
}

void
iq_vhost_bridge_destroy(struct iq_vhost_bridge *b)
{
    if (b == NULL) {
        return;
    }
    IQ_INFO(b->ctx,
            "kicks %llu calls %llu relayed %llu backpressure %llu "
            "disconnects %llu reconnects %llu",
            (unsigned long long)b->st.kicks, (unsigned long long)b->st.calls,
            (unsigned long long)b->st.relayed,
            (unsigned long long)b->st.backpressure,
            (unsigned long long)b->st.disconnects,
            (unsigned long long)b->st.reconnects);
    /* Resets the device: the daemon's rings are stopped first. */
    b->destroying = true;
    iq_virtio_dev_destroy(b->vdev);
    b->vdev = NULL;
    sock_unwatch(b);
    queues_unwatch(b);
    iq_vu_conn_close(&b->conn);
    if (b->q != NULL) {
        for (unsigned i = 0; i < b->nq; i++) {
            iq_close_fd(&b->q[i].kick_fd);
            iq_close_fd(&b->q[i].call_fd);
            iq_close_fd(&b->q[i].err_fd);
            free(b->q[i].slots);
        }
    }
    free(b->q);
    if (b->shm != NULL) {
        munmap(b->shm, b->shm_len);
    }
    iq_close_fd(&b->shm_fd);
    free(b->page_used);
    for (unsigned i = 0; i < b->mem.nr; i++) {
        iq_close_fd(&b->mem.r[i].fd);
    }
    free(b->socket_path);
    free(b);
}

struct iq_virtio_dev *
iq_vhost_bridge_dev(struct iq_vhost_bridge *b)
{
    return b->vdev;
}

bool
iq_vhost_bridge_connected(const struct iq_vhost_bridge *b)
{
    return !iq_vu_conn_broken(&b->conn);
}

void
iq_vhost_bridge_get_stats(const struct iq_vhost_bridge *b,
                          struct iq_vhost_bridge_stats *st)
{
    *st = b->st;
}
