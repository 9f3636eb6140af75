/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The split virtqueue engine (virtio 1.2 section 2.7), shared by every
 * local virtio device.
 *
 * Everything in the rings is guest-controlled: indices, descriptors,
 * indirect tables, flags and event indices. Descriptors are copied out of
 * guest memory once (iq_mc_read) and only the copy is validated and used;
 * every loop is bounded by the queue size or the indirect table size; any
 * violation puts the device into NEEDS_RESET (iq_virtio_set_needs_reset).
 * All memory per queue is allocated at QueueReady = 1, sized by the
 * validated queue size.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio.h"
#include "virtio-internal.h"

#define VQ_NO_SLOT UINT16_MAX

/* A descriptor after copying it out of guest memory (section 2.7.5). */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* State of one chain walk (pop). */
struct vq_walk {
    unsigned niov;
    unsigned out_num;
    unsigned in_num;
    uint64_t out_len;
    uint64_t in_len;
    bool seen_write;
    bool nomem; /* an -EBUSY came from a host allocation failure */
    const char *why; /* set when the chain is invalid */
};

static void publish_done(struct iq_virtq *vq);

static void
desc_decode(const uint8_t *raw, struct vq_desc *d)
{
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;

    memcpy(&addr, raw, 8);
    memcpy(&len, raw + 8, 4);
    memcpy(&flags, raw + 12, 2);
    memcpy(&next, raw + 14, 2);
    d->addr = le64toh(addr);
    d->len = le32toh(len);
    d->flags = le16toh(flags);
    d->next = le16toh(next);
}

/*
 * Event-index rule (section 2.7.10): notify when the driver's event index
 * lies in [old, new), all in 16-bit wrapping arithmetic.
 */
static bool
need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

static int
read_u16(struct iq_virtq *vq, gpa_t gpa, uint16_t *v)
{
    uint16_t raw;
    int ret = iq_mc_read(vq->dev->mc, gpa, &raw, sizeof(raw));

    if (ret == 0) {
        *v = le16toh(raw);
    }
    return ret;
}

static int
write_u16(struct iq_virtq *vq, gpa_t gpa, uint16_t v)
{
    uint16_t raw = htole16(v);

    return iq_mc_write(vq->dev->mc, gpa, &raw, sizeof(raw));
}

static void
notify_work_cb(void *opaque)
{
    struct iq_virtq *vq = opaque;
    struct iq_virtio_dev *dev = vq->dev;

    if (vq->ready && iq_virtio_running(dev) && dev->ops->notify != NULL) {
        dev->ops->notify(dev->opaque, vq);
    }
}

/*
 * The mapcache released room after this queue got -EBUSY (possibly held by
 * another queue or device, whose completions never notify this queue):
 * publish what waited, interrupt if due, and let the device pop again.
 */
static void
busy_work_cb(void *opaque)
{
    struct iq_virtq *vq = opaque;

    iq_virtq_flush(vq);
    notify_work_cb(vq);
}

/* Called from inside an unpin: only defer. */
static void
mc_wake_cb(void *opaque)
{
    struct iq_virtq *vq = opaque;

    if (vq->dev->loop != NULL) {
        iq_loop_defer(vq->dev->loop, &vq->busy_work);
    }
}

/* Ask the mapcache for a wake-up once pinned room is released. */
static void
wait_for_room(struct iq_virtq *vq)
{
    iq_mc_wait(vq->dev->mc, &vq->mc_wait);
}

void
iq_virtq_init(struct iq_virtq *vq, struct iq_virtio_dev *dev, unsigned index)
{
    memset(vq, 0, sizeof(*vq));
    vq->dev = dev;
    vq->index = index;
    vq->num = dev->queue_max_size;
    vq->free_head = VQ_NO_SLOT;
    iq_loop_work_init(&vq->notify_work, notify_work_cb, vq);
    iq_loop_work_init(&vq->busy_work, busy_work_cb, vq);
    vq->mc_wait.cb = mc_wake_cb;
    vq->mc_wait.opaque = vq;
}

/* Release the pins held by a slot's element. */
static void
slot_unpin(struct iq_virtq *vq, struct vq_slot *s)
{
    iq_mc_unmap_sg(vq->dev->mc, s->refs, s->elem.out_num + s->elem.in_num);
    s->elem.out_num = 0;
    s->elem.in_num = 0;
}

static void
slot_free(struct iq_virtq *vq, struct vq_slot *s)
{
    if (s->big >= 0) {
        vq->big_used[s->big] = false;
        s->big = -1;
    }
    s->in_use = false;
    s->elem.priv = NULL;
    s->next_free = vq->free_head;
    vq->free_head = (uint16_t)(s - vq->slots);
    vq->inflight--;
}

void
iq_virtq_teardown(struct iq_virtq *vq)
{
    struct iq_virtio_dev *dev = vq->dev;

    if (dev->loop != NULL) {
        iq_loop_cancel(dev->loop, &vq->notify_work);
    }
    iq_mc_wait_cancel(dev->mc, &vq->mc_wait);
    if (vq->slots != NULL) {
        for (unsigned i = 0; i < vq->size; i++) {
            struct vq_slot *s = &vq->slots[i];

            if (s->in_use) {
                /* The device broke the reset contract; do not leak pins. */
                IQ_ERR(dev->ctx, "queue %u: element %u still held at reset",
                       vq->index, s->elem.head);
                slot_unpin(vq, s);
                slot_free(vq, s);
            }
        }
    }
    free(vq->slots);
    free(vq->big_iov);
    free(vq->big_refs);
    free(vq->scratch_iov);
    free(vq->scratch_refs);
    free(vq->scratch_desc);
    free(vq->done);
    /* Pins released above may have queued a wake-up: drop it too. */
    iq_mc_wait_cancel(dev->mc, &vq->mc_wait);
    if (dev->loop != NULL) {
        iq_loop_cancel(dev->loop, &vq->busy_work);
    }
    vq->slots = NULL;
    vq->big_iov = NULL;
    vq->big_refs = NULL;
    vq->scratch_iov = NULL;
    vq->scratch_refs = NULL;
    vq->scratch_desc = NULL;
    vq->done = NULL;
    memset(vq->big_used, 0, sizeof(vq->big_used));
    vq->free_head = VQ_NO_SLOT;
    vq->ready = false;
    vq->size = 0;
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->used_idx_pub = 0;
    vq->signalled_used = 0;
    vq->signalled_valid = false;
    vq->event_idx = false;
    vq->indirect = false;
    vq->want_notify = false;
    vq->inflight = 0;
    vq->done_head = 0;
    vq->done_count = 0;
}

/*
 * Check that a ring area is guest RAM the device can access with `prot`
 * (the mapping is dropped again at once). 0 or -errno.
 */
static int
area_check(struct iq_virtq *vq, gpa_t gpa, size_t len, enum iq_mc_prot prot)
{
    struct iovec iov[8];
    struct iq_mc_ref refs[8];
    unsigned n = 0;
    int ret;

    ret = iq_mc_map_sg(vq->dev->mc, gpa, len, prot, iov, refs,
                       IQ_ARRAY_SIZE(iov), &n);
    if (ret == 0) {
        iq_mc_unmap_sg(vq->dev->mc, refs, n);
    }
    return ret;
}

int
iq_virtq_enable(struct iq_virtq *vq)
{
    struct iq_virtio_dev *dev = vq->dev;
    uint32_t num = vq->num; /* guest-controlled */
    uint64_t end;
    size_t desc_len;
    size_t avail_len;
    size_t used_len;
    int ret;

    if (num == 0 || num > dev->queue_max_size || (num & (num - 1)) != 0) {
        iq_log_guest(&dev->rl, dev->ctx, "queue %u: bad size %u (max %u)",
                     vq->index, num, dev->queue_max_size);
        return -EINVAL;
    }
    /* Section 2.7: alignment of the three areas. */
    if ((vq->desc_gpa & 15) != 0 || (vq->avail_gpa & 1) != 0 ||
        (vq->used_gpa & 3) != 0) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "queue %u: misaligned rings "
                     "0x%llx 0x%llx 0x%llx",
                     vq->index, (unsigned long long)vq->desc_gpa,
                     (unsigned long long)vq->avail_gpa,
                     (unsigned long long)vq->used_gpa);
        return -EINVAL;
    }
    desc_len = (size_t)VQ_DESC_SIZE * num;
    avail_len = 6 + 2 * (size_t)num; /* flags, idx, ring, used_event */
    used_len = 6 + 8 * (size_t)num; /* flags, idx, ring, avail_event */
    if (!iq_range_ok(vq->desc_gpa, desc_len, &end) ||
        !iq_range_ok(vq->avail_gpa, avail_len, &end) ||
        !iq_range_ok(vq->used_gpa, used_len, &end)) {
        iq_log_guest(&dev->rl, dev->ctx, "queue %u: ring wraps", vq->index);
        return -EINVAL;
    }
    ret = area_check(vq, vq->desc_gpa, desc_len, IQ_MC_READ);
    if (ret == 0) {
        ret = area_check(vq, vq->avail_gpa, avail_len, IQ_MC_READ);
    }
    if (ret == 0) {
        ret = area_check(vq, vq->used_gpa, used_len, IQ_MC_WRITE);
    }
    if (ret < 0) {
        iq_log_guest(&dev->rl, dev->ctx,
                     "queue %u: rings not accessible "
                     "(%d)",
                     vq->index, ret);
        return ret;
    }

    vq->size = (uint16_t)num;
    vq->slots = calloc(num, sizeof(*vq->slots));
    vq->big_iov =
        calloc((size_t)VQ_BIG_SLOTS * IQ_VIRTQ_MAX_IOV, sizeof(*vq->big_iov));
    vq->big_refs =
        calloc((size_t)VQ_BIG_SLOTS * IQ_VIRTQ_MAX_IOV, sizeof(*vq->big_refs));
    vq->scratch_iov = calloc(IQ_VIRTQ_MAX_IOV, sizeof(*vq->scratch_iov));
    vq->scratch_refs = calloc(IQ_VIRTQ_MAX_IOV, sizeof(*vq->scratch_refs));
    vq->scratch_desc = malloc((size_t)IQ_VIRTQ_MAX_SIZE * VQ_DESC_SIZE);
    vq->done = calloc(num, sizeof(*vq->done));
    if (vq->slots == NULL || vq->big_iov == NULL || vq->big_refs == NULL ||
        vq->scratch_iov == NULL || vq->scratch_refs == NULL ||
        vq->scratch_desc == NULL || vq->done == NULL) {
        iq_virtq_teardown(vq);
        return -ENOMEM;
    }
    for (uint32_t i = num; i > 0; i--) {
        struct vq_slot *s = &vq->slots[i - 1];

        s->big = -1;
        s->next_free = vq->free_head;
        vq->free_head = (uint16_t)(i - 1);
    }
    vq->ready = true;
    if (dev->ops->queue_ready != NULL) {
        dev->ops->queue_ready(dev->opaque, vq->index, vq->size, vq->desc_gpa,
                              vq->avail_gpa, vq->used_gpa);
    }
    return 0;
}

void
iq_virtq_start(struct iq_virtq *vq, uint64_t features)
{
    vq->event_idx = (features >> IQ_VIRTIO_F_EVENT_IDX) & 1;
    vq->indirect = (features >> IQ_VIRTIO_F_INDIRECT_DESC) & 1;
}

/*
 * Map one data descriptor into the scratch iovec array. Returns 0, -EBUSY
 * (mapcache back-pressure) or -EPROTO with w->why set.
 */
static int
walk_map(struct iq_virtq *vq, struct vq_walk *w, const struct vq_desc *d)
{
    bool write = (d->flags & VQ_DESC_F_WRITE) != 0;
    uint64_t *total = write ? &w->in_len : &w->out_len;
    uint64_t end;
    unsigned n = 0;
    int ret;

    /* Section 2.7.4.2: device-writable descriptors come after readable. */
    if (write) {
        w->seen_write = true;
    } else if (w->seen_write) {
        w->why = "readable descriptor after a writable one";
        return -EPROTO;
    }
    if (!iq_range_ok(d->addr, d->len, &end)) {
        w->why = "descriptor address range wraps";
        return -EPROTO;
    }
    if (iq_add_overflow_u64(*total, d->len, total) || *total > UINT32_MAX) {
        w->why = "element length overflows 32 bits";
        return -EPROTO;
    }
    if (d->len == 0) {
        return 0;
    }
    ret = iq_mc_map_sg(vq->dev->mc, d->addr, d->len,
                       write ? IQ_MC_WRITE : IQ_MC_READ,
                       vq->scratch_iov + w->niov, vq->scratch_refs + w->niov,
                       IQ_VIRTQ_MAX_IOV - w->niov, &n);
    switch (ret) {
    case 0:
        break;
    case -ENOMEM:
        w->nomem = true;
        return -EBUSY;
    case -EBUSY:
        return -EBUSY;
    case -ENOBUFS:
        w->why = "element needs too many segments";
        return -EPROTO;
    default:
        w->why = "buffer is not guest RAM";
        return -EPROTO;
    }
    w->niov += n;
    if (write) {
        w->in_num += n;
    } else {
        w->out_num += n;
    }
    return 0;
}

/*
 * Walk the chain starting at `head` (already checked < size): copy each
 * descriptor, validate it, map its buffer. Returns 0, -EBUSY or -EPROTO
 * (w->why set); on error the caller releases w->niov scratch pins.
 */
static int
walk_chain(struct iq_virtq *vq, struct vq_walk *w, uint16_t head)
{
    struct iq_mc *mc = vq->dev->mc;
    uint8_t raw[VQ_DESC_SIZE];
    struct vq_desc d;
    unsigned budget = vq->size; /* descriptors left in this table */
    unsigned table_n = 0; /* entries of the indirect table */
    bool indirect = false;
    uint16_t idx = head;
    int ret;

    for (;;) {
        if (budget == 0) {
            w->why = "descriptor chain longer than its table (loop)";
            return -EPROTO;
        }
        budget--;
        if (indirect) {
            desc_decode(vq->scratch_desc + (size_t)idx * VQ_DESC_SIZE, &d);
        } else {
            ret = iq_mc_read(mc, vq->desc_gpa + (gpa_t)idx * VQ_DESC_SIZE, raw,
                             sizeof(raw));
            if (ret == -EBUSY || ret == -ENOMEM) {
                w->nomem = ret == -ENOMEM;
                return -EBUSY;
            }
            if (ret < 0) {
                w->why = "descriptor table unreadable";
                return -EPROTO;
            }
            desc_decode(raw, &d);
        }

        if (d.flags & VQ_DESC_F_INDIRECT) {
            /* Section 2.7.5.3.1. */
            if (indirect) {
                w->why = "nested indirect table";
                return -EPROTO;
            }
            if (!vq->indirect) {
                w->why = "indirect descriptor not negotiated";
                return -EPROTO;
            }
            if (d.flags & VQ_DESC_F_NEXT) {
                w->why = "indirect descriptor with NEXT";
                return -EPROTO;
            }
            if (d.len == 0 || (d.len % VQ_DESC_SIZE) != 0 ||
                d.len / VQ_DESC_SIZE > IQ_VIRTQ_MAX_SIZE) {
                w->why = "bad indirect table length";
                return -EPROTO;
            }
            /* Copy the whole table once; only the copy is used below. */
            ret = iq_mc_read(mc, d.addr, vq->scratch_desc, d.len);
            if (ret == -EBUSY || ret == -ENOMEM) {
                w->nomem = ret == -ENOMEM;
                return -EBUSY;
            }
            if (ret < 0) {
                w->why = "indirect table is not guest RAM";
                return -EPROTO;
            }
            indirect = true;
            table_n = d.len / VQ_DESC_SIZE;
            budget = table_n;
            idx = 0;
            continue;
        }

        ret = walk_map(vq, w, &d);
        if (ret < 0) {
            return ret;
        }
        if (!(d.flags & VQ_DESC_F_NEXT)) {
            return 0;
        }
        idx = d.next;
        if (idx >= (indirect ? table_n : vq->size)) {
            w->why = "next index out of range";
            return -EPROTO;
        }
    }
}

/* Move the walk's iovecs from scratch into the slot; false: no room. */
static bool
slot_store(struct iq_virtq *vq, struct vq_slot *s, const struct vq_walk *w)
{
    struct iovec *iov = s->inline_iov;
    struct iq_mc_ref *refs = s->inline_refs;

    s->big = -1;
    if (w->niov > VQ_INLINE_IOV) {
        unsigned b;

        for (b = 0; b < VQ_BIG_SLOTS && vq->big_used[b]; b++) {
        }
        if (b == VQ_BIG_SLOTS) {
            return false;
        }
        vq->big_used[b] = true;
        s->big = (int)b;
        iov = vq->big_iov + (size_t)b * IQ_VIRTQ_MAX_IOV;
        refs = vq->big_refs + (size_t)b * IQ_VIRTQ_MAX_IOV;
    }
    memcpy(iov, vq->scratch_iov, w->niov * sizeof(*iov));
    memcpy(refs, vq->scratch_refs, w->niov * sizeof(*refs));
    s->elem.iov = iov;
    s->refs = refs;
    s->elem.out_num = w->out_num;
    s->elem.in_num = w->in_num;
    s->elem.out_len = w->out_len;
    s->elem.in_len = w->in_len;
    s->elem.priv = NULL;
    return true;
}

static int
pop_busy(struct iq_virtq *vq)
{
    /* Own completions retry (want_notify); so does released room. */
    vq->want_notify = true;
    wait_for_room(vq);
    return -EBUSY;
}

static int
pop_bad(struct iq_virtq *vq, const char *why)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "queue %u: %s", vq->index, why);
    iq_virtio_set_needs_reset(vq->dev, msg);
    return -EPROTO;
}

/* Read avail->idx; 0 or -EBUSY / -EPROTO. *n = entries available. */
static int
avail_count(struct iq_virtq *vq, uint16_t *n)
{
    uint16_t idx = 0;
    int ret = read_u16(vq, vq->avail_gpa + 2, &idx);

    if (ret == -EBUSY || ret == -ENOMEM) {
        return pop_busy(vq);
    }
    if (ret < 0) {
        return pop_bad(vq, "available ring unreadable");
    }
    *n = (uint16_t)(idx - vq->last_avail);
    if (*n > vq->size) {
        return pop_bad(vq, "available index moved more than the queue "
                           "size");
    }
    return 0;
}

int
iq_virtq_pop(struct iq_virtq *vq, struct iq_virtq_elem **elem)
{
    struct iq_virtio_dev *dev = vq->dev;
    struct vq_walk w = {0};
    struct vq_slot *s;
    uint16_t n = 0;
    uint16_t head = 0;
    int ret;

    *elem = NULL;
    if (dev->needs_reset) {
        return -EPROTO;
    }
    if (!vq->ready || !iq_virtio_running(dev) || dev->resetting) {
        return 0;
    }
    if (vq->done_count > 0 || vq->used_idx_pub != vq->used_idx) {
        /* Completions that waited for the mapcache go out first. */
        publish_done(vq);
        if (dev->needs_reset) {
            return -EPROTO;
        }
    }
    ret = avail_count(vq, &n);
    if (ret < 0) {
        return ret;
    }
    if (n == 0 && vq->event_idx) {
        /*
         * Publish avail_event, then look again: the driver may have added
         * a buffer after our read and skipped the kick (section 2.7.10).
         */
        (void)write_u16(vq, vq->used_gpa + 4 + 8 * (gpa_t)vq->size,
                        vq->last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        ret = avail_count(vq, &n);
        if (ret < 0) {
            return ret;
        }
    }
    if (n == 0) {
        return 0;
    }
    /*
     * Unpublished completions count against the pool too, so the done FIFO
     * (size entries) can never overflow.
     */
    if (vq->free_head == VQ_NO_SLOT ||
        vq->inflight + vq->done_count >= vq->size) {
        return pop_busy(vq);
    }
    /* Ring entries are read only after the index (section 2.7.13.3). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    ret = read_u16(
        vq, vq->avail_gpa + 4 + 2 * (gpa_t)(vq->last_avail & (vq->size - 1)),
        &head);
    if (ret == -EBUSY || ret == -ENOMEM) {
        return pop_busy(vq);
    }
    if (ret < 0) {
        return pop_bad(vq, "available ring unreadable");
    }
    if (head >= vq->size) {
        return pop_bad(vq, "head index out of range");
    }

    ret = walk_chain(vq, &w, head);
    if (ret < 0) {
        bool alone = false;

        if (ret == -EBUSY && !w.nomem) {
            struct iq_mc_stats ms;

            /*
             * Every pin in the mapcache is this walk's own: nothing will
             * ever be released to make room, and a retry ends here again.
             */
            iq_mc_get_stats(dev->mc, &ms);
            alone = ms.pins == w.niov;
        }
        iq_mc_unmap_sg(dev->mc, vq->scratch_refs, w.niov);
        if (alone) {
            return pop_bad(vq, "element needs more guest mappings than the "
                               "mapcache cap");
        }
        return ret == -EBUSY ? pop_busy(vq) : pop_bad(vq, w.why);
    }
    s = &vq->slots[vq->free_head];
    if (!slot_store(vq, s, &w)) {
        iq_mc_unmap_sg(dev->mc, vq->scratch_refs, w.niov);
        return pop_busy(vq);
    }
    vq->free_head = s->next_free;
    s->in_use = true;
    s->elem.head = head;
    vq->inflight++;
    vq->last_avail++;
    if (vq->event_idx) {
        /* A failure only costs an extra kick from the driver. */
        (void)write_u16(vq, vq->used_gpa + 4 + 8 * (gpa_t)vq->size,
                        vq->last_avail);
    }
    *elem = &s->elem;
    return 1;
}

/*
 * Write queued completions into the used ring, then the used index after a
 * release fence (section 2.7.8). Stops at mapcache back-pressure; the rest
 * is retried on the next push or flush.
 */
static void
publish_done(struct iq_virtq *vq)
{
    struct iq_virtio_dev *dev = vq->dev;
    int ret;

    while (vq->done_count > 0) {
        const struct vq_done *dn = &vq->done[vq->done_head];
        uint32_t raw[2] = {htole32(dn->head), htole32(dn->len)};
        gpa_t gpa =
            vq->used_gpa + 4 + 8 * (gpa_t)(vq->used_idx & (vq->size - 1));

        ret = iq_mc_write(dev->mc, gpa, raw, sizeof(raw));
        if (ret == -EBUSY || ret == -ENOMEM) {
            wait_for_room(vq);
            break;
        }
        if (ret < 0) {
            vq->done_count = 0;
            (void)pop_bad(vq, "used ring not writable");
            return;
        }
        vq->done_head = (uint16_t)((vq->done_head + 1) & (vq->size - 1));
        vq->done_count--;
        vq->used_idx++;
    }
    if (vq->used_idx_pub == vq->used_idx) {
        return;
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ret = write_u16(vq, vq->used_gpa + 2, vq->used_idx);
    if (ret == 0) {
        vq->used_idx_pub = vq->used_idx;
    } else if (ret == -EBUSY || ret == -ENOMEM) {
        wait_for_room(vq);
    } else {
        (void)pop_bad(vq, "used ring not writable");
    }
}

/*
 * The slot of an element a device hands back. Elements only come from this
 * queue's pool and go back once (internal invariant): one that does not is
 * a device bug, logged and ignored rather than fatal to the daemon.
 */
static struct vq_slot *
elem_slot(struct iq_virtq *vq, struct iq_virtq_elem *elem)
{
    struct vq_slot *s = IQ_CONTAINER_OF(elem, struct vq_slot, elem);
    uintptr_t p = (uintptr_t)s;
    uintptr_t lo = (uintptr_t)vq->slots;

    if (vq->slots == NULL || p < lo ||
        p >= lo + (uintptr_t)vq->size * sizeof(*s) ||
        (p - lo) % sizeof(*s) != 0 || !s->in_use) {
        IQ_ERR(vq->dev->ctx, "queue %u: element %p not in flight: ignored",
               vq->index, (void *)elem);
        return NULL;
    }
    return s;
}

void
iq_virtq_push(struct iq_virtq *vq, struct iq_virtq_elem *elem, uint32_t written,
              bool flush)
{
    struct iq_virtio_dev *dev = vq->dev;
    struct vq_slot *s = elem_slot(vq, elem);
    uint16_t head;

    if (s == NULL) {
        return;
    }
    head = elem->head;
    if (written > elem->in_len) {
        written = (uint32_t)elem->in_len;
    }
    /* Pins go before the guest can see the element (STYLE.md 7). */
    slot_unpin(vq, s);
    slot_free(vq, s);
    if (iq_virtio_running(dev) && !dev->resetting) {
        uint16_t tail =
            (uint16_t)((vq->done_head + vq->done_count) & (vq->size - 1));

        /* done_count <= inflight <= size, so the FIFO cannot overflow. */
        vq->done[tail].head = head;
        vq->done[tail].len = written;
        vq->done_count++;
        publish_done(vq);
        if (flush) {
            iq_virtq_flush(vq);
        }
    }
    if (vq->want_notify && dev->loop != NULL && !dev->reset_pending) {
        vq->want_notify = false;
        /* This retry covers a mapcache wake-up the unpin may have queued. */
        iq_loop_cancel(dev->loop, &vq->busy_work);
        iq_loop_defer(dev->loop, &vq->notify_work);
    }
    iq_virtio_elem_released(dev);
}

void
iq_virtq_flush(struct iq_virtq *vq)
{
    struct iq_virtio_dev *dev = vq->dev;
    bool need = true;
    uint16_t v = 0;

    if (!vq->ready || !iq_virtio_running(dev) || dev->resetting) {
        return;
    }
    publish_done(vq);
    /* Nothing published since the last decision (or ever): no interrupt. */
    if (dev->needs_reset || (vq->signalled_used == vq->used_idx_pub &&
                             (vq->signalled_valid || vq->used_idx_pub == 0))) {
        return;
    }
    /* Order the used-index store before reading the driver's wishes. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vq->event_idx) {
        if (vq->signalled_valid &&
            read_u16(vq, vq->avail_gpa + 4 + 2 * (gpa_t)vq->size, &v) == 0) {
            need = need_event(v, vq->used_idx_pub, vq->signalled_used);
        }
    } else if (read_u16(vq, vq->avail_gpa, &v) == 0) {
        need = !(v & VQ_AVAIL_F_NO_INTERRUPT);
    }
    vq->signalled_used = vq->used_idx_pub;
    vq->signalled_valid = true;
    if (need) {
        iq_virtio_raise(dev, VIO_ISR_USED);
    }
}

void
iq_virtq_discard(struct iq_virtq *vq, struct iq_virtq_elem *elem)
{
    struct vq_slot *s = elem_slot(vq, elem);

    if (s == NULL) {
        return;
    }
    slot_unpin(vq, s);
    slot_free(vq, s);
    iq_virtio_elem_released(vq->dev);
}

unsigned
iq_virtq_index(const struct iq_virtq *vq)
{
    return vq->index;
}

struct iq_virtio_dev *
iq_virtq_dev(struct iq_virtq *vq)
{
    return vq->dev;
}

uint16_t
iq_virtq_size(const struct iq_virtq *vq)
{
    return vq->ready ? vq->size : 0;
}

bool
iq_virtq_ready(const struct iq_virtq *vq)
{
    return vq->ready && iq_virtio_running(vq->dev);
}

size_t
iq_virtq_elem_read(const struct iq_virtq_elem *elem, size_t off, void *buf,
                   size_t len)
{
    uint8_t *dst = buf;
    size_t done = 0;

    for (unsigned i = 0; i < elem->out_num && done < len; i++) {
        const struct iovec *v = &elem->iov[i];
        size_t n;

        if (off >= v->iov_len) {
            off -= v->iov_len;
            continue;
        }
        n = IQ_MIN(v->iov_len - off, len - done);
        memcpy(dst + done, (const uint8_t *)v->iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t
iq_virtq_elem_write(struct iq_virtq_elem *elem, size_t off, const void *buf,
                    size_t len)
{
    const uint8_t *src = buf;
    size_t done = 0;

    for (unsigned i = 0; i < elem->in_num && done < len; i++) {
        const struct iovec *v = &elem->iov[elem->out_num + i];
        size_t n;

        if (off >= v->iov_len) {
            off -= v->iov_len;
            continue;
        }
        n = IQ_MIN(v->iov_len - off, len - done);
        memcpy((uint8_t *)v->iov_base + off, src + done, n);
        done += n;
        off = 0;
    }
    return done;
}
