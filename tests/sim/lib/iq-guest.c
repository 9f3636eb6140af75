/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulated guest: RAM allocator and the virtio-mmio split-ring driver.
 * Device drivers (blk, rng, console) are in iq-guest-dev.c.
 *
 * The driver side trusts nothing the device under test writes either: a
 * used id that is not an outstanding head is reported as -EIO so tests
 * catch a daemon bug instead of corrupting the free list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iq-guest.h"

#define VQ_DESC_F_NEXT IQ_VQ_DESC_F_NEXT
#define VQ_DESC_F_WRITE IQ_VQ_DESC_F_WRITE
#define VQ_DESC_F_INDIRECT IQ_VQ_DESC_F_INDIRECT
#define VQ_AVAIL_F_NO_INTERRUPT 1u
#define VQ_USED_F_NO_NOTIFY 1u
#define VM_MAX_QUEUES 16u
#define VM_DEFAULT_QSIZE 256u
#define VM_WAIT_SLICE_MS 100u
#define VM_RESET_POLLS 1000u

struct iq_guest {
    struct iq_sim *sim;
    uint64_t base;
    uint64_t end;
    uint64_t next;
    pthread_mutex_t lock;
    bool grants; /* iq_guest_use_grants done */
};

struct vq_used_elem {
    uint32_t id;
    uint32_t len;
};

/* ---- allocator --------------------------------------------------------- */

int
iq_guest_create(struct iq_sim *sim, uint64_t ram_base, uint64_t ram_size,
                struct iq_guest **out)
{
    struct iq_guest *g;

    if (sim == NULL || ram_size == 0 ||
        iq_sim_ram(sim, ram_base, (size_t)ram_size) == NULL) {
        return -EINVAL;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return -ENOMEM;
    }
    g->sim = sim;
    g->base = ram_base;
    g->end = ram_base + ram_size;
    g->next = ram_base;
    pthread_mutex_init(&g->lock, NULL);
    *out = g;
    return 0;
}

void
iq_guest_destroy(struct iq_guest *g)
{
    if (g == NULL) {
        return;
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct iq_sim *
iq_guest_sim(struct iq_guest *g)
{
    return g->sim;
}

uint64_t
iq_guest_alloc(struct iq_guest *g, size_t len, size_t align)
{
    uint64_t at;
    uint64_t gpa = 0;

    if (align == 0 || (align & (align - 1)) != 0 || len == 0) {
        return 0;
    }
    pthread_mutex_lock(&g->lock);
    at = (g->next + align - 1) & ~(uint64_t)(align - 1);
    if (at >= g->next && at <= g->end && g->end - at >= len) {
        gpa = at;
        g->next = at + len;
        memset(iq_sim_ram(g->sim, gpa, len), 0, len);
    }
    pthread_mutex_unlock(&g->lock);
    return gpa;
}

int
iq_guest_set_next(struct iq_guest *g, uint64_t gpa)
{
    int rc = 0;

    pthread_mutex_lock(&g->lock);
    if (gpa < g->next || gpa > g->end) {
        rc = -EINVAL;
    } else {
        g->next = gpa;
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

void *
iq_guest_ptr(struct iq_guest *g, uint64_t gpa, size_t len)
{
    return iq_sim_ram(g->sim, gpa, len);
}

/* ---- grant DMA ---------------------------------------------------------- */

/* Pages in the window (refs 1..n read-write, n+1..2n read-only). */
static uint64_t
grant_pages(const struct iq_guest *g)
{
    return ((g->end - 1) >> 12) - (g->base >> 12) + 1;
}

int
iq_guest_use_grants(struct iq_guest *g)
{
    uint64_t n = grant_pages(g);
    uint64_t first = g->base >> 12;

    if (2 * n >= (1u << 20)) {
        return -E2BIG; /* the fake's grant table limit */
    }
    /* Highest ref first: the fake grows its table once. */
    for (uint64_t i = n; i > 0; i--) {
        int rc = iq_sim_grant(g->sim, (uint32_t)(n + i), first + i - 1, true);

        if (rc < 0) {
            return rc;
        }
    }
    for (uint64_t i = n; i > 0; i--) {
        int rc = iq_sim_grant(g->sim, (uint32_t)i, first + i - 1, false);

        if (rc < 0) {
            return rc;
        }
    }
    g->grants = true;
    return 0;
}

bool
iq_guest_grants(const struct iq_guest *g)
{
    return g->grants;
}

uint32_t
iq_guest_grant_ref(const struct iq_guest *g, uint64_t gpa, bool readonly)
{
    uint64_t ref;

    if (!g->grants || gpa < g->base || gpa >= g->end) {
        return 0;
    }
    ref = (gpa >> 12) - (g->base >> 12) + 1;
    if (readonly) {
        ref += grant_pages(g);
    }
    return (uint32_t)ref;
}

uint64_t
iq_guest_dma(const struct iq_guest *g, uint64_t gpa, bool readonly)
{
    uint32_t ref = iq_guest_grant_ref(g, gpa, readonly);

    if (ref == 0) {
        return gpa;
    }
    return (1ull << 63) | ((uint64_t)ref << 12) | (gpa & 0xfffu);
}

/* The address the device sees for `gpa` (grant DMA when negotiated). */
static uint64_t
dev_dma(const struct iq_vm_dev *dev, uint64_t gpa, bool readonly)
{
    if ((dev->drv_features & IQ_VM_F_ACCESS_PLATFORM) == 0) {
        return gpa;
    }
    return iq_guest_dma(dev->g, gpa, readonly);
}

/* ---- registers ---------------------------------------------------------- */

static int
reg_read(struct iq_vm_dev *dev, unsigned vcpu, uint32_t off, unsigned size,
         uint64_t *val)
{
    uint64_t v = 0;
    int rc = iq_sim_mmio_read(dev->sim, vcpu, dev->base + off, size, &v);

    if (rc < 0) {
        return rc;
    }
    /* The raw data field may carry bytes above `size`: mask as a CPU. */
    if (size < 8) {
        v &= (1ull << (size * 8)) - 1;
    }
    *val = v;
    return 0;
}

static int
reg_write(struct iq_vm_dev *dev, unsigned vcpu, uint32_t off, unsigned size,
          uint64_t val)
{
    return iq_sim_mmio_write(dev->sim, vcpu, dev->base + off, size, val);
}

int
iq_vm_read(struct iq_vm_dev *dev, uint32_t off, uint32_t *val)
{
    uint64_t v;
    int rc = reg_read(dev, dev->vcpu, off, 4, &v);

    if (rc == 0) {
        *val = (uint32_t)v;
    }
    return rc;
}

int
iq_vm_write(struct iq_vm_dev *dev, uint32_t off, uint32_t val)
{
    return reg_write(dev, dev->vcpu, off, 4, val);
}

int
iq_vm_get_status(struct iq_vm_dev *dev, uint32_t *status)
{
    return iq_vm_read(dev, IQ_VM_STATUS, status);
}

int
iq_vm_set_status(struct iq_vm_dev *dev, uint32_t status)
{
    return iq_vm_write(dev, IQ_VM_STATUS, status);
}

static int
add_status(struct iq_vm_dev *dev, uint32_t bits)
{
    uint32_t st;
    int rc = iq_vm_get_status(dev, &st);

    if (rc < 0) {
        return rc;
    }
    return iq_vm_set_status(dev, st | bits);
}

int
iq_vm_reset(struct iq_vm_dev *dev)
{
    uint32_t st = 0;
    int rc = iq_vm_set_status(dev, 0);

    if (rc < 0) {
        return rc;
    }
    /* Version 2: the reset completes when status reads back 0. */
    for (unsigned i = 0; i < VM_RESET_POLLS; i++) {
        rc = iq_vm_get_status(dev, &st);
        if (rc < 0) {
            return rc;
        }
        if (st == 0) {
            return 0;
        }
    }
    return -ETIMEDOUT;
}

int
iq_vm_probe(struct iq_guest *g, uint64_t base, uint32_t irq, unsigned vcpu,
            struct iq_vm_dev **out)
{
    struct iq_vm_dev *dev = calloc(1, sizeof(*dev));
    uint32_t magic = 0;
    int rc;

    if (dev == NULL) {
        return -ENOMEM;
    }
    dev->vqs = calloc(VM_MAX_QUEUES, sizeof(*dev->vqs));
    if (dev->vqs == NULL) {
        free(dev);
        return -ENOMEM;
    }
    dev->g = g;
    dev->sim = g->sim;
    dev->base = base;
    dev->irq = irq;
    dev->vcpu = vcpu;
    dev->wait_timeout_ms = 10000;
    rc = iq_vm_read(dev, IQ_VM_MAGIC_VALUE, &magic);
    if (rc == 0 && magic != IQ_VM_MAGIC) {
        rc = -ENODEV;
    }
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_VERSION, &dev->version);
    }
    if (rc == 0 && dev->version != 2) {
        rc = -ENODEV; /* legacy (1) is not driven here */
    }
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_DEVICE_ID, &dev->device_id);
    }
    if (rc == 0 && dev->device_id == 0) {
        rc = -ENODEV;
    }
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_VENDOR_ID, &dev->vendor_id);
    }
    if (rc < 0) {
        iq_vm_free(dev);
        return rc;
    }
    *out = dev;
    return 0;
}

static void
vq_fini(struct iq_vq *vq)
{
    if (vq->dev == NULL) {
        return;
    }
    free(vq->next);
    free(vq->chain_len);
    free(vq->cookie);
    pthread_mutex_destroy(&vq->lock);
    memset(vq, 0, sizeof(*vq));
}

void
iq_vm_free(struct iq_vm_dev *dev)
{
    if (dev == NULL) {
        return;
    }
    if (dev->vqs != NULL) {
        for (unsigned i = 0; i < VM_MAX_QUEUES; i++) {
            vq_fini(&dev->vqs[i]);
        }
    }
    free(dev->vqs);
    free(dev);
}

int
iq_vm_negotiate(struct iq_vm_dev *dev, uint64_t want)
{
    uint32_t lo = 0;
    uint32_t hi = 0;
    uint32_t st = 0;
    uint64_t drv;
    int rc;

    rc = iq_vm_reset(dev);
    if (rc == 0) {
        rc = add_status(dev, IQ_VM_S_ACKNOWLEDGE);
    }
    if (rc == 0) {
        rc = add_status(dev, IQ_VM_S_DRIVER);
    }
    /* Linux reads the high window first, then the low one. */
    if (rc == 0) {
        rc = iq_vm_write(dev, IQ_VM_DEVICE_FEATURES_SEL, 1);
    }
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_DEVICE_FEATURES, &hi);
    }
    if (rc == 0) {
        rc = iq_vm_write(dev, IQ_VM_DEVICE_FEATURES_SEL, 0);
    }
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_DEVICE_FEATURES, &lo);
    }
    if (rc < 0) {
        return rc;
    }
    dev->dev_features = ((uint64_t)hi << 32) | lo;
    if (!(dev->dev_features & IQ_VM_F_VERSION_1)) {
        (void)add_status(dev, IQ_VM_S_FAILED);
        return -EIO;
    }
    drv = dev->dev_features & (want | IQ_VM_F_VERSION_1);
    dev->drv_features = drv;
    rc = iq_vm_write(dev, IQ_VM_DRIVER_FEATURES_SEL, 1);
    if (rc == 0) {
        rc = iq_vm_write(dev, IQ_VM_DRIVER_FEATURES, (uint32_t)(drv >> 32));
    }
    if (rc == 0) {
        rc = iq_vm_write(dev, IQ_VM_DRIVER_FEATURES_SEL, 0);
    }
    if (rc == 0) {
        rc = iq_vm_write(dev, IQ_VM_DRIVER_FEATURES, (uint32_t)drv);
    }
    if (rc == 0) {
        rc = add_status(dev, IQ_VM_S_FEATURES_OK);
    }
    if (rc == 0) {
        rc = iq_vm_get_status(dev, &st);
    }
    if (rc < 0) {
        return rc;
    }
    if (!(st & IQ_VM_S_FEATURES_OK)) {
        (void)add_status(dev, IQ_VM_S_FAILED);
        return -EIO;
    }
    return 0;
}

static int
write64(struct iq_vm_dev *dev, uint32_t lo_off, uint64_t v)
{
    int rc = iq_vm_write(dev, lo_off, (uint32_t)v);

    if (rc == 0) {
        rc = iq_vm_write(dev, lo_off + 4, (uint32_t)(v >> 32));
    }
    return rc;
}

int
iq_vm_setup_queue(struct iq_vm_dev *dev, unsigned index, uint16_t size)
{
    struct iq_vq *vq;
    uint32_t ready = 0;
    uint32_t max = 0;
    size_t avail_len;
    size_t used_len;
    int rc;

    if (index >= VM_MAX_QUEUES) {
        return -EINVAL;
    }
    vq = &dev->vqs[index];
    vq_fini(vq);
    rc = iq_vm_write(dev, IQ_VM_QUEUE_SEL, index);
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_QUEUE_READY, &ready);
    }
    if (rc == 0 && ready != 0) {
        rc = -EBUSY;
    }
    if (rc == 0) {
        rc = iq_vm_read(dev, IQ_VM_QUEUE_NUM_MAX, &max);
    }
    if (rc == 0 && max == 0) {
        rc = -ENOENT;
    }
    if (rc < 0) {
        return rc;
    }
    if (size == 0) {
        size = (uint16_t)(max < VM_DEFAULT_QSIZE ? max : VM_DEFAULT_QSIZE);
    }
    if (size > max || (size & (size - 1)) != 0) {
        return -EINVAL;
    }
    avail_len = 6 + 2u * size;
    used_len = 6 + 8u * size;
    vq->dev = dev;
    vq->index = index;
    vq->vcpu = dev->vcpu;
    vq->size = size;
    vq->event_idx = (dev->drv_features & IQ_VM_F_EVENT_IDX) != 0;
    vq->indirect = (dev->drv_features & IQ_VM_F_INDIRECT_DESC) != 0;
    pthread_mutex_init(&vq->lock, NULL);
    vq->next = calloc(size, sizeof(*vq->next));
    vq->chain_len = calloc(size, sizeof(*vq->chain_len));
    vq->cookie = calloc(size, sizeof(*vq->cookie));
    vq->desc_gpa = iq_guest_alloc(dev->g, 16u * size, 16);
    vq->avail_gpa = iq_guest_alloc(dev->g, avail_len, 2);
    vq->used_gpa = iq_guest_alloc(dev->g, used_len, 4);
    if (vq->indirect) {
        vq->indirect_gpa =
            iq_guest_alloc(dev->g, (size_t)size * IQ_VQ_MAX_INDIRECT * 16u, 16);
    }
    if (vq->next == NULL || vq->chain_len == NULL || vq->cookie == NULL ||
        vq->desc_gpa == 0 || vq->avail_gpa == 0 || vq->used_gpa == 0 ||
        (vq->indirect && vq->indirect_gpa == 0)) {
        vq_fini(vq);
        return -ENOMEM;
    }
    for (uint16_t i = 0; i < size; i++) {
        vq->next[i] = (uint16_t)(i + 1);
    }
    vq->free_head = 0;
    vq->num_free = size;
    rc = iq_vm_write(dev, IQ_VM_QUEUE_NUM, size);
    if (rc == 0) {
        rc = write64(dev, IQ_VM_QUEUE_DESC_LOW,
                     dev_dma(dev, vq->desc_gpa, false));
    }
    if (rc == 0) {
        rc = write64(dev, IQ_VM_QUEUE_DRIVER_LOW,
                     dev_dma(dev, vq->avail_gpa, false));
    }
    if (rc == 0) {
        rc = write64(dev, IQ_VM_QUEUE_DEVICE_LOW,
                     dev_dma(dev, vq->used_gpa, false));
    }
    if (rc == 0) {
        rc = iq_vm_write(dev, IQ_VM_QUEUE_READY, 1);
    }
    if (rc < 0) {
        vq_fini(vq);
        return rc;
    }
    if (index + 1 > dev->nr_queues) {
        dev->nr_queues = index + 1;
    }
    return 0;
}

int
iq_vm_init(struct iq_vm_dev *dev, uint64_t want, unsigned nr_queues,
           uint16_t size)
{
    int rc = iq_vm_negotiate(dev, want);

    for (unsigned i = 0; rc == 0 && i < nr_queues; i++) {
        rc = iq_vm_setup_queue(dev, i, size);
    }
    if (rc == 0) {
        rc = add_status(dev, IQ_VM_S_DRIVER_OK);
    }
    if (rc < 0) {
        (void)add_status(dev, IQ_VM_S_FAILED);
    }
    return rc;
}

static int
config_access(struct iq_vm_dev *dev, uint32_t off, void *buf, uint32_t len,
              bool write)
{
    uint8_t *p = buf;
    uint32_t done = 0;
    int rc = 0;

    while (done < len && rc == 0) {
        uint32_t o = off + done;
        unsigned sz = 1;
        uint64_t v = 0;

        /* Linux: readb/readw/readl for 1/2/4-byte fields, 8 as two 4s. */
        if (len - done >= 4 && o % 4 == 0) {
            sz = 4;
        } else if (len - done >= 2 && o % 2 == 0) {
            sz = 2;
        }
        if (write) {
            memcpy(&v, p + done, sz);
            rc = reg_write(dev, dev->vcpu, IQ_VM_CONFIG + o, sz, v);
        } else {
            rc = reg_read(dev, dev->vcpu, IQ_VM_CONFIG + o, sz, &v);
            if (rc == 0) {
                memcpy(p + done, &v, sz);
            }
        }
        done += sz;
    }
    return rc;
}

int
iq_vm_config_read(struct iq_vm_dev *dev, uint32_t off, void *buf, uint32_t len)
{
    for (unsigned tries = 0; tries < 16; tries++) {
        uint32_t g1 = 0;
        uint32_t g2 = 0;
        int rc = iq_vm_read(dev, IQ_VM_CONFIG_GENERATION, &g1);

        if (rc == 0) {
            rc = config_access(dev, off, buf, len, false);
        }
        if (rc == 0) {
            rc = iq_vm_read(dev, IQ_VM_CONFIG_GENERATION, &g2);
        }
        if (rc < 0) {
            return rc;
        }
        if (g1 == g2) {
            return 0;
        }
    }
    return -EAGAIN;
}

int
iq_vm_config_write(struct iq_vm_dev *dev, uint32_t off, const void *buf,
                   uint32_t len)
{
    return config_access(dev, off, (void *)(uintptr_t)buf, len, true);
}

/* ---- split ring -----------------------------------------------------------
 */

static struct iq_vq_desc *
desc_ptr(struct iq_vq *vq, uint64_t table, uint16_t i)
{
    return iq_guest_ptr(vq->dev->g, table + 16u * i, 16);
}

static uint16_t *
avail_u16(struct iq_vq *vq, unsigned idx)
{
    return iq_guest_ptr(vq->dev->g, vq->avail_gpa + 2u * idx, 2);
}

static uint16_t *
used_u16(struct iq_vq *vq, size_t byte_off)
{
    return iq_guest_ptr(vq->dev->g, vq->used_gpa + byte_off, 2);
}

int
iq_vq_add(struct iq_vq *vq, const struct iq_vq_buf *bufs, unsigned n,
          bool use_indirect, void *cookie)
{
    uint16_t head;
    bool seen_write = false;
    bool indirect;

    if (n == 0 || n > vq->size || (use_indirect && n > IQ_VQ_MAX_INDIRECT)) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        if (seen_write && !bufs[i].write) {
            return -EINVAL; /* readable after writable */
        }
        seen_write = seen_write || bufs[i].write;
    }
    indirect = use_indirect && vq->indirect && n > 1;
    pthread_mutex_lock(&vq->lock);
    if (vq->num_free < (indirect ? 1u : n)) {
        pthread_mutex_unlock(&vq->lock);
        return -ENOSPC;
    }
    head = vq->free_head;
    if (indirect) {
        uint64_t table =
            vq->indirect_gpa + (uint64_t)head * IQ_VQ_MAX_INDIRECT * 16u;
        struct iq_vq_desc *d;

        for (unsigned i = 0; i < n; i++) {
            d = desc_ptr(vq, table, (uint16_t)i);
            d->addr = dev_dma(vq->dev, bufs[i].gpa, !bufs[i].write);
            d->len = bufs[i].len;
            d->flags = (uint16_t)((bufs[i].write ? VQ_DESC_F_WRITE : 0) |
                                  (i + 1 < n ? VQ_DESC_F_NEXT : 0));
            d->next = (uint16_t)(i + 1 < n ? i + 1 : 0);
        }
        d = desc_ptr(vq, vq->desc_gpa, head);
        d->addr = dev_dma(vq->dev, table, true);
        d->len = 16u * n;
        d->flags = VQ_DESC_F_INDIRECT;
        d->next = 0;
        vq->free_head = vq->next[head];
        vq->num_free--;
        vq->chain_len[head] = 1;
    } else {
        uint16_t i = head;
        uint16_t last = head;

        for (unsigned k = 0; k < n; k++) {
            struct iq_vq_desc *d = desc_ptr(vq, vq->desc_gpa, i);

            d->addr = dev_dma(vq->dev, bufs[k].gpa, !bufs[k].write);
            d->len = bufs[k].len;
            d->flags = (uint16_t)((bufs[k].write ? VQ_DESC_F_WRITE : 0) |
                                  (k + 1 < n ? VQ_DESC_F_NEXT : 0));
            d->next = k + 1 < n ? vq->next[i] : 0;
            last = i;
            i = vq->next[i];
        }
        vq->free_head = vq->next[last];
        vq->num_free = (uint16_t)(vq->num_free - n);
        vq->chain_len[head] = (uint16_t)n;
    }
    vq->cookie[head] = cookie;
    *avail_u16(vq, 2u + (vq->avail_idx % vq->size)) = head;
    vq->avail_idx++;
    /* Descriptors and ring entry visible before the index (virtio 2.7.13). */
    __atomic_store_n(avail_u16(vq, 1), vq->avail_idx, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&vq->lock);
    return head;
}

int
iq_vq_kick(struct iq_vq *vq)
{
    bool notify;
    uint16_t old;
    uint16_t now;

    pthread_mutex_lock(&vq->lock);
    old = vq->kicked_idx;
    now = vq->avail_idx;
    vq->kicked_idx = now;
    /* Index store before the event/flags load. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vq->event_idx) {
        uint16_t ev =
            __atomic_load_n(used_u16(vq, 4 + 8u * vq->size), __ATOMIC_ACQUIRE);

        notify = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
    } else {
        notify = !(__atomic_load_n(used_u16(vq, 0), __ATOMIC_ACQUIRE) &
                   VQ_USED_F_NO_NOTIFY);
    }
    notify = notify && old != now;
    if (notify) {
        vq->kicks++;
    }
    pthread_mutex_unlock(&vq->lock);
    if (!notify) {
        return 0;
    }
    return reg_write(vq->dev, vq->vcpu, IQ_VM_QUEUE_NOTIFY, 4, vq->index);
}

int
iq_vq_get_used(struct iq_vq *vq, void **cookie, uint32_t *len)
{
    struct vq_used_elem *e;
    uint16_t used_idx;
    uint16_t id;
    uint16_t i;
    int rc = 1;

    pthread_mutex_lock(&vq->lock);
    used_idx = __atomic_load_n(used_u16(vq, 2), __ATOMIC_ACQUIRE);
    if (used_idx == vq->last_used) {
        pthread_mutex_unlock(&vq->lock);
        return 0;
    }
    if ((uint16_t)(used_idx - vq->last_used) > vq->size) {
        pthread_mutex_unlock(&vq->lock);
        return -EIO; /* the device ran ahead of what we made available */
    }
    e = iq_guest_ptr(vq->dev->g,
                     vq->used_gpa + 4 + 8u * (vq->last_used % vq->size), 8);
    if (e->id >= vq->size || vq->chain_len[e->id] == 0) {
        pthread_mutex_unlock(&vq->lock);
        return -EIO;
    }
    id = (uint16_t)e->id;
    if (len != NULL) {
        *len = e->len;
    }
    if (cookie != NULL) {
        *cookie = vq->cookie[id];
    }
    /* Return the chain to the free list. */
    i = id;
    for (unsigned k = 1; k < vq->chain_len[id]; k++) {
        i = vq->next[i];
    }
    vq->next[i] = vq->free_head;
    vq->free_head = id;
    vq->num_free = (uint16_t)(vq->num_free + vq->chain_len[id]);
    vq->chain_len[id] = 0;
    vq->cookie[id] = NULL;
    vq->last_used++;
    if (vq->event_idx && !vq->cb_disabled) {
        /* Ask for an interrupt at the very next used entry. */
        __atomic_store_n(avail_u16(vq, 2u + vq->size), vq->last_used,
                         __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&vq->lock);
    return rc;
}

struct iq_vq_desc *
iq_vq_desc_table(struct iq_vq *vq)
{
    return iq_guest_ptr(vq->dev->g, vq->desc_gpa, 16u * vq->size);
}

int
iq_vq_publish_raw(struct iq_vq *vq, uint16_t head, bool kick)
{
    pthread_mutex_lock(&vq->lock);
    *avail_u16(vq, 2u + (vq->avail_idx % vq->size)) = head;
    vq->avail_idx++;
    __atomic_store_n(avail_u16(vq, 1), vq->avail_idx, __ATOMIC_RELEASE);
    vq->kicked_idx = vq->avail_idx;
    pthread_mutex_unlock(&vq->lock);
    if (!kick) {
        return 0;
    }
    return reg_write(vq->dev, vq->vcpu, IQ_VM_QUEUE_NOTIFY, 4, vq->index);
}

int
iq_vm_ack_irq(struct iq_vm_dev *dev, unsigned vcpu, uint32_t *isr)
{
    uint64_t v = 0;
    int rc = reg_read(dev, vcpu, IQ_VM_INTERRUPT_STATUS, 4, &v);

    if (rc == 0 && v != 0) {
        rc = reg_write(dev, vcpu, IQ_VM_INTERRUPT_ACK, 4, v);
    }
    if (isr != NULL) {
        *isr = (uint32_t)v;
    }
    return rc;
}

void
iq_vq_disable_cb(struct iq_vq *vq)
{
    pthread_mutex_lock(&vq->lock);
    vq->cb_disabled = true;
    if (!vq->event_idx) {
        __atomic_store_n(avail_u16(vq, 0), VQ_AVAIL_F_NO_INTERRUPT,
                         __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&vq->lock);
}

bool
iq_vq_enable_cb(struct iq_vq *vq)
{
    uint16_t used_idx;
    bool empty;

    pthread_mutex_lock(&vq->lock);
    vq->cb_disabled = false;
    if (vq->event_idx) {
        __atomic_store_n(avail_u16(vq, 2u + vq->size), vq->last_used,
                         __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(avail_u16(vq, 0), 0, __ATOMIC_RELEASE);
    }
    /* The event store before the used index load (virtio 2.7.10). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    used_idx = __atomic_load_n(used_u16(vq, 2), __ATOMIC_ACQUIRE);
    empty = used_idx == vq->last_used;
    pthread_mutex_unlock(&vq->lock);
    return empty;
}

int
iq_vm_take_irq(struct iq_vm_dev *dev, unsigned vcpu, uint64_t *seen,
               unsigned timeout_ms, uint32_t *isr)
{
    uint64_t v = 0;
    int rc;

    if (iq_sim_irq_edges(dev->sim, dev->irq) <= *seen) {
        if (timeout_ms == 0) {
            return -EAGAIN;
        }
        rc = iq_sim_irq_wait(dev->sim, dev->irq, *seen, timeout_ms);
        if (rc < 0) {
            return rc;
        }
    }
    *seen = iq_sim_irq_edges(dev->sim, dev->irq);
    rc = reg_read(dev, vcpu, IQ_VM_INTERRUPT_STATUS, 4, &v);
    if (rc == 0) {
        rc = reg_write(dev, vcpu, IQ_VM_INTERRUPT_ACK, 4, v);
    }
    if (isr != NULL) {
        *isr = (uint32_t)v;
    }
    return rc;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
needs_reset(struct iq_vm_dev *dev, unsigned vcpu)
{
    uint64_t st = 0;
    int rc = reg_read(dev, vcpu, IQ_VM_STATUS, 4, &st);

    if (rc < 0) {
        return rc;
    }
    return (st & IQ_VM_S_NEEDS_RESET) ? -EIO : 0;
}

int
iq_vq_wait_used(struct iq_vq *vq, unsigned timeout_ms, void **cookie,
                uint32_t *len)
{
    struct iq_vm_dev *dev = vq->dev;
    uint64_t deadline =
        now_ms() + (timeout_ms ? timeout_ms : dev->wait_timeout_ms);

    for (;;) {
        uint64_t edges = iq_sim_irq_edges(dev->sim, dev->irq);
        uint64_t t;
        uint32_t isr = 0;
        int rc = iq_vq_get_used(vq, cookie, len);

        if (rc != 0) {
            return rc;
        }
        if (iq_sim_irq_level(dev->sim, dev->irq) != 0) {
            /* A level line (x86) still asserted: run the handler first. */
            rc = iq_vm_ack_irq(dev, vq->vcpu, &isr);
            if (rc < 0) {
                return rc;
            }
            if ((isr & IQ_VM_INT_CONFIG) && needs_reset(dev, vq->vcpu) < 0) {
                return -EIO;
            }
            if (isr != 0) {
                continue;
            }
        }
        t = now_ms();
        if (t >= deadline) {
            rc = needs_reset(dev, vq->vcpu);
            return rc < 0 ? rc : -ETIMEDOUT;
        }
        rc = iq_sim_irq_wait(dev->sim, dev->irq, edges,
                             (unsigned)(deadline - t < VM_WAIT_SLICE_MS
                                            ? deadline - t
                                            : VM_WAIT_SLICE_MS));
        if (rc != 0) {
            continue;
        }
        /* As vm_interrupt: read the cause, acknowledge it. */
        rc = iq_vm_ack_irq(dev, vq->vcpu, &isr);
        if (rc < 0) {
            return rc;
        }
        if (isr & IQ_VM_INT_CONFIG) {
            rc = needs_reset(dev, vq->vcpu);
            if (rc < 0) {
                return rc;
            }
        }
    }
}
