/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The privcmd ioeventfd/irqfd offload end to end on the fake Xen, in
 * process: the real IOREQ server (ioreq/xen.c over the fake libraries),
 * the real vhost-user bridge in mmap mode with qemu-storage-daemon, and the
 * real provider (ioreq/privcmd.c) whose system-call seam talks to an
 * emulated kernel instead of /dev/xen/privcmd.
 *
 * The emulated kernel follows xen-reference.md section 5.4:
 *  - IOEVENTFD: it sees each event on a bound local port before userspace
 *    does (here: a wrapper around the fake xenevtchn_pending that ioreqd's
 *    loop calls), takes a READY COPY write of addr_len bytes at
 *    base + 0x50 with (data & 0xffff) == vq, marks it INPROCESS, signals
 *    the eventfd, sets IORESP_READY and notifies the port; userspace still
 *    gets the port (shared handler) and finds the slot answered.
 *  - IRQFD: a thread waits on the assigned eventfds and issues the stored
 *    dm_op (XEN_DMOP_set_irq_level) through the fake libxendevicemodel.
 *  - RESTRICT is enforced; unknown requests give ENOTTY. With `absent`
 *    set it behaves like Linux < 6.7 (ENOTTY for both).
 *  - Like the real handler, it marks every READY COPY write INPROCESS
 *    while it looks for a match and puts READY back when none matches.
 *    With `slow` set it is caught in that window: READY comes back only
 *    after ioreqd's loop thread has yielded the CPU three times
 *    (sched_yield is wrapped here too), which proves ioreqd waits for the
 *    handler instead of dropping the request as already answered.
 *
 * Why in process and not the ioreqd binary: the daemon hands the provider
 * to the bridge on real Xen only (on the fake, the ioreq page is a memfd
 * mapping, not a privcmd one, and must never reach a real kernel).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#define __XEN_TOOLS__ 1

#include <dlfcn.h>
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>

#include "ioreqd/ioreq.h"
#include "ioreqd/loop.h"
#include "ioreqd/mapcache.h"
#include "ioreqd/privcmd.h"
#include "ioreqd/vhost-bridge.h"
#include "ioreqd/virtio.h"

#include "iq-guest.h"
#include "iq-harness.h"
#include "iq-sim.h"
#include "iq-spawn.h"
#include "iq-test-util.h"

#define QSD IQ_SPAWN_QSD
#define RAM0 IQ_SIM_ARM_RAM0_BASE
#define RAM0_SIZE (64ull << 20)
#define VU_BASE 0x2000000ull
#define VU_IRQ 33u
#define DISK_SIZE (4ull << 20)
#define WAIT_MS 10000u
#define NVCPU 2u

/* ---- the emulated kernel ------------------------------------------------- */

/* uapi layouts (Linux include/uapi/xen/privcmd.h), as the kernel reads them */
struct k_irqfd {
    uint64_t dm_op;
    uint32_t size;
    uint32_t fd;
    uint32_t flags;
    uint16_t dom;
    uint8_t pad[2];
};

struct k_ioeventfd {
    uint64_t ioreq;
    uint64_t ports;
    uint64_t addr;
    uint32_t addr_len;
    uint32_t event_fd;
    uint32_t vcpus;
    uint32_t vq;
    uint32_t flags;
    uint16_t dom;
    uint8_t pad[2];
};

#define K_RESTRICT _IOC(_IOC_NONE, 'P', 6, sizeof(uint16_t))
#define K_IRQFD _IOW('P', 8, struct k_irqfd)
#define K_IOEVENTFD _IOW('P', 9, struct k_ioeventfd)
#define K_FD 900 /* the fake privcmd fd number */
#define K_MAX 8u
#define SLOT_FLAGS_OFF 30u
#define SLOT_TYPE_OFF 31u

struct k_ev {
    bool used;
    uint64_t base;
    uint32_t vq;
    uint32_t addr_len;
    int fd; /* our reference to the eventfd */
};

struct k_irq {
    bool used;
    uint32_t gen;
    int fd;
    uint8_t op[32];
    uint32_t op_size;
};

struct kern {
    pthread_mutex_t lock;
    bool absent; /* Linux < 6.7 */
    bool restricted;
    uint16_t dom;
    unsigned ioctls; /* every ioctl, restrict included */
    /* ioeventfd */
    uint8_t *page;
    uint32_t ports[NVCPU];
    unsigned vcpus;
    struct k_ev ev[K_MAX];
    uint64_t kicks_taken;
    /* irqfd */
    struct k_irq irq[K_MAX];
    uint64_t irqs_raised;
    uint64_t irq_errors;
    int epfd;
    int stop_fd;
    pthread_t thread;
    xendevicemodel_handle *dmod;
    /* the handler caught in its INPROCESS window (`slow`) */
    bool slow;
    uint8_t *slow_flags; /* the slot's flags byte, NULL: none */
    uint8_t slow_ready; /* the READY flags to put back */
    unsigned slow_yields;
    uint64_t slow_windows;
    pthread_t loop_tid;
    bool loop_tid_set;
};

/* The pending() wrapper has no opaque: the kernel of the running test. */
static struct kern *running_kernel;

static bool
same_file(int a, int b)
{
    struct stat sa;
    struct stat sb;

    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int
k_ioeventfd(struct kern *k, const struct k_ioeventfd *a)
{
    unsigned free_i = K_MAX;

    if ((a->flags & ~1u) != 0 || a->vcpus == 0 || a->vcpus > NVCPU ||
        (a->addr_len != 1 && a->addr_len != 2 && a->addr_len != 4 &&
         a->addr_len != 8)) {
        return -EINVAL;
    }
    if (!k->restricted || a->dom != k->dom) {
        return -EPERM;
    }
    if (a->flags & 1u) {
        for (unsigned i = 0; i < K_MAX; i++) {
            struct k_ev *e = &k->ev[i];

            if (e->used && e->base == a->addr && e->vq == a->vq &&
                same_file(e->fd, (int)a->event_fd)) {
                close(e->fd);
                memset(e, 0, sizeof(*e));
                return 0;
            }
        }
        return -ENODEV; /* what the kernel answers */
    }
    /* The page must be the server's privcmd-mapped ioreq page. */
    if (k->page != NULL && (uintptr_t)k->page != a->ioreq) {
        return -EFAULT;
    }
    for (unsigned i = 0; i < K_MAX; i++) {
        if (k->ev[i].used && k->ev[i].base == a->addr && k->ev[i].vq == a->vq) {
            return -EEXIST;
        }
        if (!k->ev[i].used && free_i == K_MAX) {
            free_i = i;
        }
    }
    if (free_i == K_MAX) {
        return -ENOSPC;
    }
    k->page = (uint8_t *)(uintptr_t)a->ioreq;
    memcpy(k->ports, (const void *)(uintptr_t)a->ports,
           a->vcpus * sizeof(uint32_t));
    k->vcpus = a->vcpus;
    k->ev[free_i].fd = fcntl((int)a->event_fd, F_DUPFD_CLOEXEC, 0);
    if (k->ev[free_i].fd < 0) {
        return -EBADF;
    }
    k->ev[free_i].used = true;
    k->ev[free_i].base = a->addr;
    k->ev[free_i].vq = a->vq;
    k->ev[free_i].addr_len = a->addr_len;
    return 0;
}

static int
k_irqfd(struct kern *k, const struct k_irqfd *a)
{
    struct epoll_event ev;

    if ((a->flags & ~1u) != 0 || a->size == 0 || a->size > 32) {
        return -EINVAL;
    }
    if (!k->restricted || a->dom != k->dom) {
        return -EPERM;
    }
    if (a->flags & 1u) {
        for (unsigned i = 0; i < K_MAX; i++) {
            struct k_irq *q = &k->irq[i];

            if (q->used && same_file(q->fd, (int)a->fd)) {
                (void)epoll_ctl(k->epfd, EPOLL_CTL_DEL, q->fd, NULL);
                close(q->fd);
                q->used = false;
                q->fd = -1;
                return 0;
            }
        }
        return -ENOENT;
    }
    for (unsigned i = 0; i < K_MAX; i++) {
        struct k_irq *q = &k->irq[i];

        if (q->used) {
            continue;
        }
        q->fd = fcntl((int)a->fd, F_DUPFD_CLOEXEC, 0);
        if (q->fd < 0) {
            return -EBADF;
        }
        memcpy(q->op, (const void *)(uintptr_t)a->dm_op, a->size);
        q->op_size = a->size;
        q->gen++;
        q->used = true;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)q->gen << 32 | i;
        if (epoll_ctl(k->epfd, EPOLL_CTL_ADD, q->fd, &ev) < 0) {
            close(q->fd);
            q->used = false;
            return -EIO;
        }
        return 0;
    }
    return -ENOSPC;
}

static int
k_open(void *opaque, const char *path)
{
    (void)opaque;
    return strcmp(path, "/dev/xen/privcmd") == 0 ? K_FD : -ENOENT;
}

static int
k_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    struct kern *k = opaque;
    int rc = -ENOTTY;

    if (fd != K_FD) {
        return -EBADF;
    }
    pthread_mutex_lock(&k->lock);
    k->ioctls++;
    if (req == K_RESTRICT) {
        uint16_t dom;

        memcpy(&dom, arg, sizeof(dom));
        /* Once restricted, only to the same domain. */
        rc = k->restricted && k->dom != dom ? -EPERM : 0;
        k->restricted = true;
        k->dom = dom;
    } else if (!k->absent && req == K_IOEVENTFD) {
        struct k_ioeventfd a;

        memcpy(&a, arg, sizeof(a));
        rc = k_ioeventfd(k, &a);
    } else if (!k->absent && req == K_IRQFD) {
        struct k_irqfd a;

        memcpy(&a, arg, sizeof(a));
        rc = k_irqfd(k, &a);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static int
k_dup(void *opaque, int fd)
{
    int nfd;

    (void)opaque;
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return nfd < 0 ? -errno : nfd;
}

static void
k_close(void *opaque, int fd)
{
    (void)opaque;
    if (fd != K_FD) {
        close(fd);
    }
}

static const struct iq_privcmd_sys_ops kern_sys = {
    .open = k_open,
    .ioctl = k_ioctl,
    .dup = k_dup,
    .close = k_close,
};

/* The ioeventfd interrupt handler for local port `port`. */
static void
k_port_event(struct kern *k, xenevtchn_handle *xce, uint32_t port)
{
    pthread_mutex_lock(&k->lock);
    for (unsigned v = 0; v < k->vcpus && k->page != NULL; v++) {
        uint8_t *slot = k->page + 32u * v;
        bool matched = false;
        uint8_t flags;
        uint64_t addr;
        uint64_t data;
        uint32_t size;

        if (k->ports[v] != port) {
            continue;
        }
        flags = __atomic_load_n(slot + SLOT_FLAGS_OFF, __ATOMIC_ACQUIRE);
        /* READY (1), not a pointer, a write, IOREQ_TYPE_COPY. */
        if ((flags & 0x3fu) != 1u || slot[SLOT_TYPE_OFF] != 1u) {
            continue;
        }
        memcpy(&addr, slot, 8);
        memcpy(&data, slot + 8, 8);
        memcpy(&size, slot + 20, 4);
        /* INPROCESS while looking, as the real handler does. */
        __atomic_store_n(slot + SLOT_FLAGS_OFF, (uint8_t)((flags & ~0xfu) | 2u),
                         __ATOMIC_RELEASE);
        for (unsigned i = 0; i < K_MAX; i++) {
            struct k_ev *e = &k->ev[i];
            uint64_t one = 1;

            if (!e->used || addr != e->base + 0x50 || size != e->addr_len ||
                (data & 0xffffu) != e->vq) {
                continue;
            }
            if (write(e->fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
                k->irq_errors++;
            }
            __atomic_store_n(slot + SLOT_FLAGS_OFF,
                             (uint8_t)((flags & ~0xfu) | 3u), __ATOMIC_RELEASE);
            (void)xenevtchn_notify(xce, port);
            k->kicks_taken++;
            matched = true;
            break;
        }
        if (matched) {
            continue;
        }
        if (k->slow && k->slow_flags == NULL) {
            /* Caught in the window: READY comes back later. */
            k->slow_flags = slot + SLOT_FLAGS_OFF;
            k->slow_ready = flags;
            k->slow_yields = 0;
            k->slow_windows++;
        } else {
            __atomic_store_n(slot + SLOT_FLAGS_OFF, flags, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&k->lock);
}

typedef xenevtchn_port_or_error_t (*pending_fn)(xenevtchn_handle *);

/*
 * ioreq/xen.c's xenevtchn_pending binds here (this executable defines it);
 * the fake library's comes next. The "kernel" runs before userspace sees
 * the port, as its interrupt handler would.
 */
xenevtchn_port_or_error_t
xenevtchn_pending(xenevtchn_handle *xce)
{
    pending_fn real;
    xenevtchn_port_or_error_t port;
    void *sym = dlvsym(RTLD_NEXT, "xenevtchn_pending", "VERS_1.0");

    if (sym == NULL) {
        errno = ENOSYS;
        return -1;
    }
    memcpy(&real, &sym, sizeof(real));
    port = real(xce);
    if (port >= 0 && running_kernel != NULL) {
        k_port_event(running_kernel, xce, (uint32_t)port);
    }
    return port;
}

typedef int (*yield_fn)(void);

/*
 * The slow handler finishes after ioreqd's loop thread yielded three
 * times: ioreqd must have seen INPROCESS and waited for it.
 */
int
sched_yield(void)
{
    struct kern *k = running_kernel;
    yield_fn real;
    void *sym = dlsym(RTLD_NEXT, "sched_yield");

    if (k != NULL && __atomic_load_n(&k->loop_tid_set, __ATOMIC_ACQUIRE) &&
        pthread_equal(pthread_self(), k->loop_tid) &&
        pthread_mutex_trylock(&k->lock) == 0) {
        if (k->slow_flags != NULL && ++k->slow_yields >= 3) {
            __atomic_store_n(k->slow_flags, k->slow_ready, __ATOMIC_RELEASE);
            k->slow_flags = NULL;
        }
        pthread_mutex_unlock(&k->lock);
    }
    if (sym == NULL) {
        return 0;
    }
    memcpy(&real, &sym, sizeof(real));
    return real();
}

/* The irqfd side: issue the stored dm_op for every signal. */
static void *
k_irq_thread(void *arg)
{
    struct kern *k = arg;

    for (;;) {
        struct epoll_event ev[K_MAX + 1];
        int n = epoll_wait(k->epfd, ev, (int)K_MAX + 1, 1000);

        for (int j = 0; j < n; j++) {
            uint32_t i = (uint32_t)ev[j].data.u64;
            uint32_t gen = (uint32_t)(ev[j].data.u64 >> 32);
            struct k_irq *q;
            uint64_t cnt;
            uint32_t op;
            uint32_t irq;

            if (ev[j].data.u64 == UINT64_MAX) {
                return NULL;
            }
            pthread_mutex_lock(&k->lock);
            q = &k->irq[i];
            if (i < K_MAX && q->used && q->gen == gen &&
                read(q->fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt)) {
                memcpy(&op, q->op, 4);
                memcpy(&irq, q->op + 8, 4);
                if (op == 19u && q->op_size == 32u &&
                    xendevicemodel_set_irq_level(k->dmod, k->dom, irq,
                                                 q->op[12]) == 0) {
                    k->irqs_raised++;
                } else {
                    k->irq_errors++;
                }
            }
            pthread_mutex_unlock(&k->lock);
        }
    }
}

static void
kern_start(struct kern *k, bool absent, bool slow)
{
    struct epoll_event ev;

    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->absent = absent;
    k->slow = slow;
    for (unsigned i = 0; i < K_MAX; i++) {
        k->irq[i].fd = -1;
        k->ev[i].fd = -1;
    }
    k->epfd = epoll_create1(EPOLL_CLOEXEC);
    k->stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_true(k->epfd >= 0 && k->stop_fd >= 0);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;
    assert_int_equal(epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->stop_fd, &ev), 0);
    k->dmod = xendevicemodel_open(NULL, 0);
    assert_non_null(k->dmod);
    assert_int_equal(pthread_create(&k->thread, NULL, k_irq_thread, k), 0);
    running_kernel = k;
}

/* Stop the kernel; returns how many assignments were still held. */
static unsigned
kern_stop(struct kern *k)
{
    uint64_t one = 1;
    unsigned left = 0;

    running_kernel = NULL;
    assert_int_equal(write(k->stop_fd, &one, sizeof(one)), sizeof(one));
    assert_int_equal(pthread_join(k->thread, NULL), 0);
    for (unsigned i = 0; i < K_MAX; i++) {
        if (k->ev[i].used) {
            left++;
            close(k->ev[i].fd);
        }
        if (k->irq[i].used) {
            left++;
            close(k->irq[i].fd);
        }
    }
    (void)xendevicemodel_close(k->dmod);
    close(k->stop_fd);
    close(k->epfd);
    pthread_mutex_destroy(&k->lock);
    return left;
}

static unsigned
kern_nr_ev(struct kern *k)
{
    unsigned n = 0;

    pthread_mutex_lock(&k->lock);
    for (unsigned i = 0; i < K_MAX; i++) {
        n += k->ev[i].used;
    }
    pthread_mutex_unlock(&k->lock);
    return n;
}

static unsigned
kern_nr_irq(struct kern *k)
{
    unsigned n = 0;

    pthread_mutex_lock(&k->lock);
    for (unsigned i = 0; i < K_MAX; i++) {
        n += k->irq[i].used;
    }
    pthread_mutex_unlock(&k->lock);
    return n;
}

/* ---- the ioreqd side, in process ----------------------------------------- */

struct env {
    char dir[64];
    char sock[128];
    char disk[128];
    char peer_log[128];
    uint8_t *ref;
    pid_t peer;
    struct iq_sim *sim;
    struct iq_guest *g;
    struct kern k;
    struct iq_loop *loop;
    struct iq_mc_xen *mcx;
    struct iq_mc *mc;
    struct iq_ioreq_server *srv;
    struct iq_privcmd *pc;
    struct iq_vhost_bridge *b;
    struct iq_region *reg;
    pthread_t loop_thread;
    bool running;
    bool finished;
    int loop_rc;
};

static const struct iq_vhost_offload_ops offload_ops = {
    .kick = iq_privcmd_kick,
    .irq = iq_privcmd_irq,
};

static void *
loop_main(void *arg)
{
    struct env *e = arg;

    e->k.loop_tid = pthread_self();
    __atomic_store_n(&e->k.loop_tid_set, true, __ATOMIC_RELEASE);
    e->loop_rc = iq_loop_run(e->loop);
    return NULL;
}

static void
start_qsd(struct env *e)
{
    int fd;

    fd = open(e->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    e->ref = malloc(DISK_SIZE);
    assert_non_null(e->ref);
    iq_test_fill_random(e->ref, DISK_SIZE, 0x5eed);
    assert_int_equal(pwrite(fd, e->ref, DISK_SIZE, 0), (ssize_t)DISK_SIZE);
    close(fd);
    assert_int_equal(
        iq_spawn_qsd(e->disk, e->sock, 2, e->peer_log, WAIT_MS, &e->peer), 0);
}

static void
env_start(struct env *e, bool absent, bool slow)
{
    struct iq_sim_config sc;
    struct iq_ioreq_config ic;
    struct iq_mc_config mcc;
    struct iq_privcmd_config pcc;
    struct iq_vhost_bridge_config bc;
    struct iq_vhost_mem mem;
    uint32_t ports[NVCPU];
    char err[256];
    int rc;

    snprintf(e->sock, sizeof(e->sock), "%s/vu.sock", e->dir);
    snprintf(e->disk, sizeof(e->disk), "%s/disk.raw", e->dir);
    snprintf(e->peer_log, sizeof(e->peer_log), "%s/qsd.log", e->dir);
    start_qsd(e);

    iq_sim_config_default(&sc, IQ_SIM_ARM);
    sc.nr_vcpus = NVCPU;
    sc.ram0_size = RAM0_SIZE;
    /* A dropped request shows as a timeout: keep it short but generous. */
    sc.timeout_ms = 15000;
    assert_int_equal(iq_sim_create(&sc, &e->sim), 0);
    iq_sim_export_env(e->sim);
    assert_int_equal(iq_guest_create(e->sim, RAM0, RAM0_SIZE, &e->g), 0);
    kern_start(&e->k, absent, slow);

    assert_int_equal(iq_loop_create(&e->loop), 0);
    assert_int_equal(iq_mc_xen_open(iq_sim_domid(e->sim), false, &e->mcx), 0);
    memset(&mcc, 0, sizeof(mcc));
    iq_mc_xen_backends(e->mcx, &mcc);
    assert_int_equal(iq_mc_create(&mcc, &e->mc), 0);

    memset(&ic, 0, sizeof(ic));
    ic.domid = iq_sim_domid(e->sim);
    ic.arch = IQ_ARCH_ARM;
    ic.bufioreq = IQ_BUFIOREQ_OFF;
    ic.loop = e->loop;
    assert_int_equal(iq_ioreq_create(&ic, &e->srv), 0);

    /* The provider, fed from the server as daemon/registry.c does. */
    for (unsigned i = 0; i < NVCPU; i++) {
        rc = iq_ioreq_vcpu_port(e->srv, i);
        assert_true(rc >= 0);
        ports[i] = (uint32_t)rc;
    }
    assert_int_equal(iq_ioreq_vcpu_port(e->srv, NVCPU), -EINVAL);
    e->k.page = iq_ioreq_sync_page(e->srv);
    assert_non_null(e->k.page);
    memset(&pcc, 0, sizeof(pcc));
    pcc.name = "privcmd-sim";
    pcc.domid = iq_sim_domid(e->sim);
    pcc.arch = IQ_ARCH_ARM;
    pcc.ioreq_page = iq_ioreq_sync_page(e->srv);
    pcc.ports = ports;
    pcc.nr_vcpus = iq_ioreq_nr_vcpus(e->srv);
    pcc.sys = &kern_sys;
    pcc.sys_opaque = &e->k;
    assert_int_equal(iq_privcmd_create(&pcc, &e->pc), 0);
    assert_true(e->k.restricted);
    assert_int_equal(e->k.dom, iq_sim_domid(e->sim));

    assert_int_equal(iq_vhost_mem_fake_xen(IQ_ARCH_ARM, &mem), 0);
    memset(&bc, 0, sizeof(bc));
    bc.name = "privcmd-sim vu0";
    bc.socket_path = e->sock;
    bc.device_id = 2;
    bc.mode = IQ_VHOST_MMAP;
    bc.queues = 2;
    bc.mem = &mem;
    bc.base = VU_BASE;
    bc.irq = VU_IRQ;
    bc.offload = &offload_ops;
    bc.offload_opaque = e->pc;
    bc.mc = e->mc;
    bc.loop = e->loop;
    iq_ioreq_irq_ops(e->srv, &bc.irq_ops, &bc.irq_opaque);
    bc.arch = IQ_ARCH_ARM;
    rc = iq_vhost_bridge_create(&bc, &e->b, err, sizeof(err));
    if (rc < 0) {
        fail_msg("bridge: %s (%s)", strerror(-rc), err);
    }
    assert_int_equal(iq_ioreq_map_region(e->srv, IQ_SPACE_MMIO, VU_BASE,
                                         IQ_VIRTIO_MMIO_SIZE,
                                         iq_virtio_region_ops(),
                                         iq_vhost_bridge_dev(e->b), &e->reg),
                     0);
    assert_int_equal(iq_ioreq_restrict(e->srv), 0);
    assert_int_equal(pthread_create(&e->loop_thread, NULL, loop_main, e), 0);
    e->running = true;
}

static void
env_stop_loop(struct env *e)
{
    if (e->running) {
        iq_loop_stop(e->loop);
        assert_int_equal(pthread_join(e->loop_thread, NULL), 0);
        assert_int_equal(e->loop_rc, 0);
        e->running = false;
    }
}

static void
env_finish(struct env *e)
{
    struct iq_sim_counters c;

    env_stop_loop(e);
    iq_ioreq_unmap_region(e->srv, e->reg);
    iq_vhost_bridge_destroy(e->b);
    /* The bridge deassigned everything it offloaded. */
    assert_int_equal(kern_nr_ev(&e->k), 0);
    assert_int_equal(kern_nr_irq(&e->k), 0);
    assert_int_equal(iq_privcmd_nr_kicks(e->pc), 0);
    assert_int_equal(iq_privcmd_nr_irqs(e->pc), 0);
    iq_privcmd_destroy(e->pc);
    iq_ioreq_destroy(e->srv);
    iq_mc_destroy(e->mc);
    iq_mc_xen_close(e->mcx);
    iq_loop_destroy(e->loop);
    assert_int_equal(kern_stop(&e->k), 0);
    iq_sim_counters(e->sim, &c);
    assert_int_equal(c.handles_open, 0);
    assert_int_equal(c.servers_now, 0);
    assert_int_equal(c.evtchn_bound_now, 0);
    iq_guest_destroy(e->g);
    iq_sim_destroy(e->sim);
    e->finished = true;
}

static int
setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (e == NULL) {
        return -1;
    }
    e->peer = -1;
    snprintf(e->dir, sizeof(e->dir), "/tmp/iq-privcmd-XXXXXX");
    if (mkdtemp(e->dir) == NULL) {
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

/*
 * The daemon and the files go in every case. After a failure the loop
 * thread is stopped and the rest is left as it is (the test failed).
 */
static int
teardown(void **state)
{
    struct env *e = *state;
    char cmd[160];

    if (!e->finished && e->running) {
        iq_loop_stop(e->loop);
        (void)pthread_join(e->loop_thread, NULL);
        e->running = false;
    }
    (void)iq_spawn_stop(&e->peer, SIGKILL, 5000, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    if (strncmp(e->dir, "/tmp/iq-privcmd-", 16) == 0 && system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", e->dir);
    }
    free(e->ref);
    /* A failed test's emulated kernel thread may still use *e. */
    if (e->finished || e->k.dmod == NULL) {
        free(e);
    }
    return 0;
}

/* Reads and writes on both queues; every byte checked. */
static void
blk_io(struct env *e, struct iq_blk *blk)
{
    uint8_t *wbuf = malloc(65536);
    uint8_t *rbuf = malloc(65536);
    uint8_t st = 0xff;

    assert_non_null(wbuf);
    assert_non_null(rbuf);
    assert_int_equal(iq_blk_config(blk)->capacity, DISK_SIZE / 512);
    assert_int_equal(iq_blk_nr_queues(blk), 2);
    assert_int_equal(iq_blk_read(blk, 0, 0, rbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, e->ref, 65536);
    iq_test_fill_random(wbuf, 65536, 0xabcdef);
    assert_int_equal(iq_blk_write(blk, 0, 100, wbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    memset(rbuf, 0, 65536);
    assert_int_equal(iq_blk_read(blk, 1, 100, rbuf, 65536, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    assert_memory_equal(rbuf, wbuf, 65536);
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(iq_blk_read(blk, i % 2, 2048 + 8 * i, rbuf, 4096, &st),
                         0);
        assert_int_equal(st, IQ_BLK_S_OK);
        assert_memory_equal(rbuf, e->ref + (2048 + 8 * i) * 512, 4096);
    }
    assert_int_equal(iq_blk_flush(blk, 1, &st), 0);
    assert_int_equal(st, IQ_BLK_S_OK);
    free(wbuf);
    free(rbuf);
}

static struct iq_blk *
attach(struct env *e)
{
    struct iq_vm_dev *dev = NULL;
    struct iq_blk *blk = NULL;

    assert_int_equal(iq_vm_probe(e->g, VU_BASE, VU_IRQ, 0, &dev), 0);
    assert_int_equal(dev->device_id, 2);
    assert_int_equal(iq_blk_attach(dev, IQ_BLK_WANT_DEFAULT, 2, 64, 0, &blk),
                     0);
    return blk;
}

static bool
have_qsd(void)
{
    return access(QSD, X_OK) == 0;
}

/*
 * Linux >= 6.7: QueueNotify writes are answered by the kernel and never
 * reach ioreqd's device model; the daemon's calls raise the SPI from the
 * kernel; I/O verifies.
 */
static void
test_offloaded(void **state)
{
    struct iq_vhost_bridge_stats bs;
    struct iq_ioreq_stats is;
    struct iq_sim_counters c;
    struct env *e = *state;
    struct iq_blk *blk;

    if (!have_qsd()) {
        skip();
    }
    env_start(e, false, false);
    blk = attach(e);
    /* DRIVER_OK started both queues: both offloaded. */
    assert_int_equal(kern_nr_ev(&e->k), 2);
    assert_int_equal(kern_nr_irq(&e->k), 2);
    blk_io(e, blk);
    iq_blk_free(blk);
    /* The guest may find its completions before the interrupt lands. */
    assert_int_equal(iq_sim_irq_wait(e->sim, VU_IRQ, 0, WAIT_MS), 0);
    iq_sim_counters(e->sim, &c);
    env_stop_loop(e);

    iq_vhost_bridge_get_stats(e->b, &bs);
    iq_ioreq_get_stats(e->srv, &is);
    assert_int_equal(bs.kick_offloaded, 2);
    assert_int_equal(bs.irq_offloaded, 2);
    /* ioreqd wrote no kick eventfd and watched no call eventfd. */
    assert_int_equal(bs.kicks, 0);
    assert_int_equal(bs.calls, 0);
    pthread_mutex_lock(&e->k.lock);
    assert_true(e->k.kicks_taken >= 1);
    assert_true(e->k.irqs_raised >= 1);
    assert_int_equal(e->k.irq_errors, 0);
    pthread_mutex_unlock(&e->k.lock);
    fprintf(stderr,
            "kernel took %llu QueueNotify writes and raised the SPI %llu "
            "times; ioreqd answered %llu of %llu accesses (%llu spurious)\n",
            (unsigned long long)e->k.kicks_taken,
            (unsigned long long)e->k.irqs_raised, (unsigned long long)is.ioreqs,
            (unsigned long long)c.ioreqs_sent, (unsigned long long)is.spurious);
    /* Every access Xen sent was answered by exactly one of the two. */
    assert_int_equal(is.ioreqs + e->k.kicks_taken, c.ioreqs_sent);
    assert_true(iq_privcmd_available(e->pc));
    env_finish(e);
}

/*
 * Linux < 6.7 (ENOTTY): one attempt, then userspace relays everything and
 * I/O still verifies.
 */
static void
test_fallback(void **state)
{
    struct iq_vhost_bridge_stats bs;
    struct iq_ioreq_stats is;
    struct iq_sim_counters c;
    struct env *e = *state;
    struct iq_blk *blk;

    if (!have_qsd()) {
        skip();
    }
    env_start(e, true, false);
    blk = attach(e);
    blk_io(e, blk);
    iq_blk_free(blk);
    /* The guest may find its completions before the interrupt lands. */
    assert_int_equal(iq_sim_irq_wait(e->sim, VU_IRQ, 0, WAIT_MS), 0);
    iq_sim_counters(e->sim, &c);
    env_stop_loop(e);

    iq_vhost_bridge_get_stats(e->b, &bs);
    iq_ioreq_get_stats(e->srv, &is);
    assert_false(iq_privcmd_available(e->pc));
    /* Restrict plus the first ioeventfd; everything later latched. */
    assert_int_equal(e->k.ioctls, 2);
    assert_int_equal(bs.kick_offloaded, 0);
    assert_int_equal(bs.irq_offloaded, 0);
    assert_true(bs.kicks >= 1);
    assert_true(bs.calls >= 1);
    assert_int_equal(e->k.kicks_taken, 0);
    assert_int_equal(is.ioreqs, c.ioreqs_sent);
    env_finish(e);
}

/*
 * The handler is caught in its INPROCESS window on every write it does not
 * take: ioreqd waits and answers each one; offloaded kicks still work.
 */
static void
test_handler_window(void **state)
{
    struct iq_ioreq_stats is;
    struct iq_sim_counters c;
    struct env *e = *state;
    struct iq_blk *blk;

    if (!have_qsd()) {
        skip();
    }
    env_start(e, false, true);
    blk = attach(e);
    blk_io(e, blk);
    iq_blk_free(blk);
    /* The guest may find its completions before the interrupt lands. */
    assert_int_equal(iq_sim_irq_wait(e->sim, VU_IRQ, 0, WAIT_MS), 0);
    iq_sim_counters(e->sim, &c);
    env_stop_loop(e);
    iq_ioreq_get_stats(e->srv, &is);
    assert_true(e->k.slow_windows >= 10);
    assert_null(e->k.slow_flags);
    assert_true(e->k.kicks_taken >= 1);
    assert_int_equal(is.ioreqs + e->k.kicks_taken, c.ioreqs_sent);
    env_finish(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_window, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
