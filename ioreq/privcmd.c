/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linux privcmd ioeventfd/irqfd provider (include/ioreqd/privcmd.h).
 *
 * Debian 12's kernel headers (6.1) predate IOCTL_PRIVCMD_IRQFD and
 * IOCTL_PRIVCMD_IOEVENTFD (Linux 6.7), so the two requests and their
 * argument structs are defined here from the uapi facts in xen-reference.md
 * section 5.4 and checked for size and offsets below.
 */
#define __XEN_TOOLS__ 1

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/hvm/dm_op.h>
#include <xen/sys/privcmd.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/privcmd.h"

/* ---- uapi mirrors (Linux include/uapi/xen/privcmd.h, 6.7+) -------------- */

struct pc_irqfd {
    uint64_t dm_op; /* user address of a struct xen_dm_op */
    uint32_t size;
    uint32_t fd;
    uint32_t flags;
    uint16_t dom;
    uint8_t pad[2];
};

struct pc_ioeventfd {
    uint64_t ioreq; /* user address of the privcmd-mapped ioreq page */
    uint64_t ports; /* user address of uint32_t[vcpus] local ports */
    uint64_t addr; /* virtio-mmio base */
    uint32_t addr_len;
    uint32_t event_fd;
    uint32_t vcpus;
    uint32_t vq;
    uint32_t flags;
    uint16_t dom;
    uint8_t pad[2];
};

#define PC_FLAG_DEASSIGN 1u /* both PRIVCMD_*_FLAG_DEASSIGN */
#define PC_IOCTL_RESTRICT _IOC(_IOC_NONE, 'P', 6, sizeof(uint16_t))
#define PC_IOCTL_IRQFD _IOW('P', 8, struct pc_irqfd)
#define PC_IOCTL_IOEVENTFD _IOW('P', 9, struct pc_ioeventfd)

_Static_assert(sizeof(struct pc_irqfd) == 24, "privcmd_irqfd size");
_Static_assert(offsetof(struct pc_irqfd, size) == 8 &&
                   offsetof(struct pc_irqfd, fd) == 12 &&
                   offsetof(struct pc_irqfd, flags) == 16 &&
                   offsetof(struct pc_irqfd, dom) == 20,
               "privcmd_irqfd layout");
_Static_assert(sizeof(struct pc_ioeventfd) == 48, "privcmd_ioeventfd size");
_Static_assert(offsetof(struct pc_ioeventfd, ports) == 8 &&
                   offsetof(struct pc_ioeventfd, addr) == 16 &&
                   offsetof(struct pc_ioeventfd, addr_len) == 24 &&
                   offsetof(struct pc_ioeventfd, event_fd) == 28 &&
                   offsetof(struct pc_ioeventfd, vcpus) == 32 &&
                   offsetof(struct pc_ioeventfd, vq) == 36 &&
                   offsetof(struct pc_ioeventfd, flags) == 40 &&
                   offsetof(struct pc_ioeventfd, dom) == 44,
               "privcmd_ioeventfd layout");
/* The restrict request as the Xen libraries issue it. */
_Static_assert(PC_IOCTL_RESTRICT == IOCTL_PRIVCMD_RESTRICT, "restrict");
#ifdef IOCTL_PRIVCMD_IRQFD
_Static_assert(PC_IOCTL_IRQFD == IOCTL_PRIVCMD_IRQFD, "irqfd request");
#endif
#ifdef IOCTL_PRIVCMD_IOEVENTFD
_Static_assert(PC_IOCTL_IOEVENTFD == IOCTL_PRIVCMD_IOEVENTFD, "ioeventfd");
#endif

/* The kernel's ports limit; ours (one ioreq page) is far below it. */
_Static_assert(IQ_MAX_VCPUS <= 4096, "vcpus");

/* Arm SPIs as XEN_DMOP_set_irq_level accepts them (section 1.6). */
#define SPI_MIN 32u
#define SPI_MAX 1019u
#define QUEUE_NOTIFY_LEN 4u /* virtio-mmio registers are 32-bit */

struct kick_bind {
    bool used;
    uint64_t base;
    uint32_t vq;
    int fd; /* our duplicate of the kick eventfd */
};

struct irq_bind {
    bool used;
    uint32_t irq;
    int caller_fd; /* the fd number the caller assigned with */
    int fd; /* our duplicate of the call eventfd */
    struct xen_dm_op op; /* kept for deassign (same bytes) */
};

struct iq_privcmd {
    char name[32];
    uint16_t domid;
    enum iq_arch arch;
    uint64_t ioreq_va;
    unsigned nr_vcpus;
    uint32_t *ports;
    const struct iq_privcmd_sys_ops *sys;
    void *sys_opaque;
    int fd;
    bool unavailable;
    unsigned nr_kicks;
    unsigned nr_irqs;
    struct kick_bind kick[IQ_PRIVCMD_MAX_BINDINGS];
    struct irq_bind irqb[IQ_PRIVCMD_MAX_BINDINGS];
};

/* ---- the real system calls (the seam's default) ------------------------- */

static int
sys_open(void *opaque, const char *path)
{
    int fd;

    (void)opaque;
    fd = open(path, O_RDWR | O_CLOEXEC);
    return fd < 0 ? IQ_NEG_ERRNO() : fd;
}

static int
sys_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    int ret;

    (void)opaque;
    ret = ioctl(fd, req, arg);
    return ret < 0 ? IQ_NEG_ERRNO() : ret;
}

static int
sys_dup(void *opaque, int fd)
{
    int nfd;

    (void)opaque;
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return nfd < 0 ? IQ_NEG_ERRNO() : nfd;
}

static void
sys_close(void *opaque, int fd)
{
    (void)opaque;
    iq_close_fd(&fd);
}

static const struct iq_privcmd_sys_ops real_sys_ops = {
    .open = sys_open,
    .ioctl = sys_ioctl,
    .dup = sys_dup,
    .close = sys_close,
};

/* ---- helpers ------------------------------------------------------------ */

static void
close_fd(struct iq_privcmd *pc, int *fd)
{
    if (*fd >= 0) {
        pc->sys->close(pc->sys_opaque, *fd);
        *fd = -1;
    }
}

/* The kernel's answers that mean "this kernel has no such feature". */
static bool
errno_means_absent(int rc)
{
    return rc == -ENOTTY || rc == -EINVAL || rc == -EOPNOTSUPP || rc == -ENOENT;
}

/*
 * Issue an assignment. The first one the kernel does not know latches the
 * provider off (logged once); later ones then fail without a syscall.
 */
static int
assign_ioctl(struct iq_privcmd *pc, unsigned long req, void *arg)
{
    int rc;

    if (pc->unavailable) {
        return -EOPNOTSUPP;
    }
    rc = pc->sys->ioctl(pc->sys_opaque, pc->fd, req, arg);
    if (rc >= 0) {
        return 0;
    }
    if (errno_means_absent(rc)) {
        pc->unavailable = true;
        IQ_INFO(pc->name, "privcmd ioeventfd/irqfd not available "
                          "(Linux < 6.7?): relaying kicks and calls in "
                          "userspace");
    }
    return rc;
}

static void
fill_ioeventfd(const struct iq_privcmd *pc, const struct kick_bind *k, int fd,
               bool deassign, struct pc_ioeventfd *a)
{
    memset(a, 0, sizeof(*a));
    a->ioreq = pc->ioreq_va;
    a->ports = (uint64_t)(uintptr_t)pc->ports;
    a->addr = k->base;
    a->addr_len = QUEUE_NOTIFY_LEN;
    a->event_fd = (uint32_t)fd;
    a->vcpus = pc->nr_vcpus;
    a->vq = k->vq;
    a->flags = deassign ? PC_FLAG_DEASSIGN : 0;
    a->dom = pc->domid;
}

static void
fill_irqfd(const struct iq_privcmd *pc, const struct irq_bind *ib, int fd,
           bool deassign, struct pc_irqfd *a)
{
    memset(a, 0, sizeof(*a));
    a->dm_op = (uint64_t)(uintptr_t)&ib->op;
    a->size = (uint32_t)sizeof(ib->op);
    a->fd = (uint32_t)fd;
    a->flags = deassign ? PC_FLAG_DEASSIGN : 0;
    a->dom = pc->domid;
}

/*
 * The kernel answers a deassignment it has no record of with ENODEV
 * (ioeventfd) or ENOENT: nothing is left to undo on its side.
 */
static bool
errno_means_gone(int rc)
{
    return rc == -ENODEV || rc == -ENOENT;
}

/* Deassign with our duplicate: valid even if the caller closed its fd. */
static int
kick_release(struct iq_privcmd *pc, struct kick_bind *k)
{
    struct pc_ioeventfd a;
    int rc;

    fill_ioeventfd(pc, k, k->fd, true, &a);
    rc = pc->sys->ioctl(pc->sys_opaque, pc->fd, PC_IOCTL_IOEVENTFD, &a);
    if (rc < 0 && !errno_means_gone(rc)) {
        IQ_WARN(pc->name, "privcmd ioeventfd deassign (queue %u): %s",
                (unsigned)k->vq, strerror(-rc));
        return rc;
    }
    close_fd(pc, &k->fd);
    k->used = false;
    pc->nr_kicks--;
    return 0;
}

static int
irq_release(struct iq_privcmd *pc, struct irq_bind *ib)
{
    struct pc_irqfd a;
    int rc;

    fill_irqfd(pc, ib, ib->fd, true, &a);
    rc = pc->sys->ioctl(pc->sys_opaque, pc->fd, PC_IOCTL_IRQFD, &a);
    if (rc < 0 && !errno_means_gone(rc)) {
        IQ_WARN(pc->name, "privcmd irqfd deassign (irq %u): %s",
                (unsigned)ib->irq, strerror(-rc));
        return rc;
    }
    close_fd(pc, &ib->fd);
    ib->used = false;
    pc->nr_irqs--;
    return 0;
}

/* ---- create / destroy ----------------------------------------------------
 */

int
iq_privcmd_create(const struct iq_privcmd_config *cfg, struct iq_privcmd **out)
{
    struct iq_privcmd *pc;
    uint16_t dom;
    int rc;

    *out = NULL;
    if (cfg == NULL || cfg->ioreq_page == NULL || cfg->ports == NULL ||
        cfg->nr_vcpus == 0 || cfg->nr_vcpus > IQ_MAX_VCPUS ||
        (cfg->arch != IQ_ARCH_ARM && cfg->arch != IQ_ARCH_X86) ||
        (cfg->sys != NULL &&
         (cfg->sys->open == NULL || cfg->sys->ioctl == NULL ||
          cfg->sys->dup == NULL || cfg->sys->close == NULL))) {
        return -EINVAL;
    }
    pc = calloc(1, sizeof(*pc));
    if (pc == NULL) {
        return -ENOMEM;
    }
    pc->fd = -1;
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        pc->kick[i].fd = -1;
        pc->irqb[i].fd = -1;
        pc->irqb[i].caller_fd = -1;
    }
    snprintf(pc->name, sizeof(pc->name), "%s",
             cfg->name != NULL ? cfg->name : "privcmd");
    pc->domid = cfg->domid;
    pc->arch = cfg->arch;
    pc->ioreq_va = (uint64_t)(uintptr_t)cfg->ioreq_page;
    pc->nr_vcpus = cfg->nr_vcpus;
    pc->sys = cfg->sys != NULL ? cfg->sys : &real_sys_ops;
    pc->sys_opaque = cfg->sys_opaque;
    pc->ports = calloc(cfg->nr_vcpus, sizeof(*pc->ports));
    if (pc->ports == NULL) {
        iq_privcmd_destroy(pc);
        return -ENOMEM;
    }
    memcpy(pc->ports, cfg->ports, cfg->nr_vcpus * sizeof(*pc->ports));

    rc = pc->sys->open(pc->sys_opaque, "/dev/xen/privcmd");
    if (rc < 0) {
        iq_privcmd_destroy(pc);
        return rc;
    }
    pc->fd = rc;
    /* Before any other use, as xentoolcore_restrict_all does for libxen*. */
    dom = cfg->domid;
    rc = pc->sys->ioctl(pc->sys_opaque, pc->fd, PC_IOCTL_RESTRICT, &dom);
    if (rc < 0) {
        iq_privcmd_destroy(pc);
        return rc;
    }
    *out = pc;
    return 0;
}

void
iq_privcmd_destroy(struct iq_privcmd *pc)
{
    if (pc == NULL) {
        return;
    }
    /*
     * The kernel keeps assignments after the privcmd fd is closed: undo
     * every one still held. A failure is logged by *_release and the
     * duplicate closed regardless (nothing else can be done).
     */
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        if (pc->kick[i].used && pc->fd >= 0) {
            (void)kick_release(pc, &pc->kick[i]);
        }
        close_fd(pc, &pc->kick[i].fd);
        if (pc->irqb[i].used && pc->fd >= 0) {
            (void)irq_release(pc, &pc->irqb[i]);
        }
        close_fd(pc, &pc->irqb[i].fd);
    }
    close_fd(pc, &pc->fd);
    free(pc->ports);
    free(pc);
}

/* ---- offload ops ------------------------------------------------------- */

static struct kick_bind *
kick_find(struct iq_privcmd *pc, uint64_t base, uint32_t vq)
{
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        struct kick_bind *k = &pc->kick[i];

        if (k->used && k->base == base && k->vq == vq) {
            return k;
        }
    }
    return NULL;
}

static struct irq_bind *
irq_find(struct iq_privcmd *pc, uint32_t irq, int fd)
{
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        struct irq_bind *ib = &pc->irqb[i];

        if (ib->used && ib->irq == irq && ib->caller_fd == fd) {
            return ib;
        }
    }
    return NULL;
}

int
iq_privcmd_kick(void *opaque, uint64_t notify_gpa, unsigned vq, int fd,
                bool assign)
{
    struct iq_privcmd *pc = opaque;
    struct kick_bind *k = NULL;
    struct pc_ioeventfd a;
    uint64_t base;
    int rc;

    /* vq reaches us from the guest's queue selector via the bridge. */
    if (pc == NULL || fd < 0 || vq > 0xffffu ||
        notify_gpa < IQ_PRIVCMD_QUEUE_NOTIFY) {
        return -EINVAL;
    }
    /*
     * The kernel takes the ioreq page from the mapping's page array, which
     * privcmd only keeps on auto-translated dom0s (Arm); an x86 PV dom0
     * mapping has none (privcmd.h).
     */
    if (pc->arch != IQ_ARCH_ARM) {
        return -EOPNOTSUPP;
    }
    base = notify_gpa - IQ_PRIVCMD_QUEUE_NOTIFY;
    if (!assign) {
        k = kick_find(pc, base, vq);
        return k == NULL ? -ENOENT : kick_release(pc, k);
    }
    if (pc->unavailable) {
        return -EOPNOTSUPP;
    }
    if (kick_find(pc, base, vq) != NULL) {
        return -EBUSY;
    }
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS && k == NULL; i++) {
        if (!pc->kick[i].used) {
            k = &pc->kick[i];
        }
    }
    if (k == NULL) {
        return -ENOSPC;
    }
    rc = pc->sys->dup(pc->sys_opaque, fd);
    if (rc < 0) {
        return rc;
    }
    k->fd = rc;
    k->base = base;
    k->vq = vq;
    fill_ioeventfd(pc, k, fd, false, &a);
    rc = assign_ioctl(pc, PC_IOCTL_IOEVENTFD, &a);
    if (rc < 0) {
        close_fd(pc, &k->fd);
        return rc;
    }
    k->used = true;
    pc->nr_kicks++;
    return 0;
}

int
iq_privcmd_irq(void *opaque, uint32_t irq, int fd, bool assign)
{
    struct iq_privcmd *pc = opaque;
    struct irq_bind *ib = NULL;
    struct pc_irqfd a;
    int rc;

    if (pc == NULL || fd < 0) {
        return -EINVAL;
    }
    /*
     * x86: the virtio-mmio line is a level ISA IRQ lowered on
     * InterruptACK; a stored op could only raise it (privcmd.h).
     */
    if (pc->arch != IQ_ARCH_ARM) {
        return -EOPNOTSUPP;
    }
    /* The irq comes from configuration; check it as Xen would. */
    if (irq < SPI_MIN || irq > SPI_MAX) {
        return -EINVAL;
    }
    if (!assign) {
        ib = irq_find(pc, irq, fd);
        return ib == NULL ? -ENOENT : irq_release(pc, ib);
    }
    if (pc->unavailable) {
        return -EOPNOTSUPP;
    }
    if (irq_find(pc, irq, fd) != NULL) {
        return -EBUSY;
    }
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS && ib == NULL; i++) {
        if (!pc->irqb[i].used) {
            ib = &pc->irqb[i];
        }
    }
    if (ib == NULL) {
        return -ENOSPC;
    }
    rc = pc->sys->dup(pc->sys_opaque, fd);
    if (rc < 0) {
        return rc;
    }
    ib->fd = rc;
    ib->irq = irq;
    ib->caller_fd = fd;
    /* Edge SPI: asserting is one interrupt; it is never lowered. */
    memset(&ib->op, 0, sizeof(ib->op));
    ib->op.op = XEN_DMOP_set_irq_level;
    ib->op.u.set_irq_level.irq = irq;
    ib->op.u.set_irq_level.level = 1;
    fill_irqfd(pc, ib, fd, false, &a);
    rc = assign_ioctl(pc, PC_IOCTL_IRQFD, &a);
    if (rc < 0) {
        close_fd(pc, &ib->fd);
        return rc;
    }
    ib->used = true;
    pc->nr_irqs++;
    return 0;
}

bool
iq_privcmd_available(const struct iq_privcmd *pc)
{
    return pc != NULL && !pc->unavailable;
}

unsigned
iq_privcmd_nr_kicks(const struct iq_privcmd *pc)
{
    return pc != NULL ? pc->nr_kicks : 0;
}

unsigned
iq_privcmd_nr_irqs(const struct iq_privcmd *pc)
{
    return pc != NULL ? pc->nr_irqs : 0;
}

bool
iq_privcmd_takes(void *opaque, uint64_t addr, uint32_t size, uint64_t data)
{
    const struct iq_privcmd *pc = opaque;

    if (pc == NULL || pc->nr_kicks == 0 || size != QUEUE_NOTIFY_LEN) {
        return false;
    }
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        const struct kick_bind *k = &pc->kick[i];

        if (k->used && addr == k->base + IQ_PRIVCMD_QUEUE_NOTIFY &&
            (data & 0xffffu) == k->vq) {
            return true;
        }
    }
    return false;
}
