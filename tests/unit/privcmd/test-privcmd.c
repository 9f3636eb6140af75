/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the privcmd ioeventfd/irqfd provider (ioreq/privcmd.c)
 * over a recording system-call seam: the exact request numbers and bytes
 * each ioctl receives (built here independently, little-endian, from the
 * uapi facts in xen-reference.md section 5.4), deassignment, the
 * "kernel lacks the feature" latch, error passing, and clean-up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioreqd/privcmd.h"

/* Request numbers: generic Linux _IOC encoding (x86-64 and arm64). */
#define REQ_RESTRICT 0x00025006ul /* _IOC(_IOC_NONE, 'P', 6, 2) */
#define REQ_IRQFD 0x40185008ul /* _IOW('P', 8, 24 bytes) */
#define REQ_IOEVENTFD 0x40305009ul /* _IOW('P', 9, 48 bytes) */

#define PRIVCMD_FD 42
#define DUP_BASE 500 /* dup(fd) returns DUP_BASE + fd */
#define MAX_CALLS 256u
#define DOMID 7
#define BASE 0x2000000ull
#define NOTIFY (BASE + 0x50)
#define KICK_FD 11
#define CALL_FD 12
#define SPI 40u

struct call {
    unsigned long req;
    int fd;
    uint8_t arg[48];
    size_t arg_len;
    uint32_t ports[8]; /* ioeventfd: the ports array as the kernel sees it */
    uint8_t dm_op[32]; /* irqfd: the dm_op bytes as the kernel sees them */
    uint32_t dm_op_size;
};

struct rec {
    unsigned nopen;
    char path[64];
    int open_ret;
    struct call calls[MAX_CALLS];
    unsigned ncalls;
    int ret[MAX_CALLS]; /* scripted ioctl results by call index (0: ok) */
    int dup_ret; /* 0: DUP_BASE + fd */
    int open_fds[2 * IQ_PRIVCMD_MAX_BINDINGS + 2];
    unsigned nopen_fds;
};

static uint64_t
get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t
get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void
fd_add(struct rec *r, int fd)
{
    assert_true(r->nopen_fds < 2 * IQ_PRIVCMD_MAX_BINDINGS + 2);
    r->open_fds[r->nopen_fds++] = fd;
}

static int
fake_open(void *opaque, const char *path)
{
    struct rec *r = opaque;

    r->nopen++;
    snprintf(r->path, sizeof(r->path), "%s", path);
    if (r->open_ret < 0) {
        return r->open_ret;
    }
    fd_add(r, PRIVCMD_FD);
    return PRIVCMD_FD;
}

static int
fake_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    struct rec *r = opaque;
    struct call *c;
    unsigned idx = r->ncalls;

    assert_true(idx < MAX_CALLS);
    c = &r->calls[idx];
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->fd = fd;
    if (req == REQ_RESTRICT) {
        c->arg_len = 2;
    } else if (req == REQ_IRQFD) {
        c->arg_len = 24;
    } else if (req == REQ_IOEVENTFD) {
        c->arg_len = 48;
    }
    memcpy(c->arg, arg, c->arg_len);
    if (req == REQ_IOEVENTFD) {
        const uint32_t *ports =
            (const uint32_t *)(uintptr_t)get_le64(c->arg + 8);
        uint32_t n = get_le32(c->arg + 32);

        assert_true(n <= 8);
        memcpy(c->ports, ports, n * sizeof(uint32_t));
    } else if (req == REQ_IRQFD) {
        const uint8_t *op = (const uint8_t *)(uintptr_t)get_le64(c->arg);

        c->dm_op_size = get_le32(c->arg + 8);
        assert_true(c->dm_op_size <= sizeof(c->dm_op));
        memcpy(c->dm_op, op, c->dm_op_size);
    }
    r->ncalls++;
    return r->ret[idx];
}

static int
fake_dup(void *opaque, int fd)
{
    struct rec *r = opaque;

    if (r->dup_ret < 0) {
        return r->dup_ret;
    }
    fd_add(r, DUP_BASE + fd);
    return DUP_BASE + fd;
}

static void
fake_close(void *opaque, int fd)
{
    struct rec *r = opaque;

    for (unsigned i = 0; i < r->nopen_fds; i++) {
        if (r->open_fds[i] == fd) {
            r->open_fds[i] = r->open_fds[--r->nopen_fds];
            return;
        }
    }
    fail_msg("close of fd %d that is not open", fd);
}

static const struct iq_privcmd_sys_ops fake_sys = {
    .open = fake_open,
    .ioctl = fake_ioctl,
    .dup = fake_dup,
    .close = fake_close,
};

/* A page-aligned stand-in for the mapped ioreq page (never dereferenced). */
static uint8_t ioreq_page[4096] __attribute__((aligned(4096)));
static const uint32_t test_ports[3] = {17, 23, 99};

static struct iq_privcmd *
make(struct rec *r, enum iq_arch arch)
{
    struct iq_privcmd_config cfg;
    struct iq_privcmd *pc = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.name = "test";
    cfg.domid = DOMID;
    cfg.arch = arch;
    cfg.ioreq_page = ioreq_page;
    cfg.ports = test_ports;
    cfg.nr_vcpus = 3;
    cfg.sys = &fake_sys;
    cfg.sys_opaque = r;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), 0);
    assert_non_null(pc);
    return pc;
}

static void
finish(struct rec *r, struct iq_privcmd *pc)
{
    iq_privcmd_destroy(pc);
    assert_int_equal(r->nopen_fds, 0);
}

/* Expected struct privcmd_ioeventfd bytes. */
static void
check_ioeventfd(const struct call *c, uint64_t base, uint32_t vq, int fd,
                uint32_t flags)
{
    assert_int_equal(c->req, REQ_IOEVENTFD);
    assert_int_equal(c->fd, PRIVCMD_FD);
    assert_int_equal(get_le64(c->arg + 0), (uint64_t)(uintptr_t)ioreq_page);
    assert_int_equal(get_le64(c->arg + 16), base);
    assert_int_equal(get_le32(c->arg + 24), 4); /* addr_len */
    assert_int_equal(get_le32(c->arg + 28), (uint32_t)fd);
    assert_int_equal(get_le32(c->arg + 32), 3); /* vcpus */
    assert_int_equal(get_le32(c->arg + 36), vq);
    assert_int_equal(get_le32(c->arg + 40), flags);
    assert_int_equal(c->arg[44] | c->arg[45] << 8, DOMID);
    assert_int_equal(c->arg[46], 0);
    assert_int_equal(c->arg[47], 0);
    assert_memory_equal(c->ports, test_ports, sizeof(test_ports));
}

/* Expected struct privcmd_irqfd bytes and XEN_DMOP_set_irq_level(irq, 1). */
static void
check_irqfd(const struct call *c, uint32_t irq, int fd, uint32_t flags)
{
    uint8_t op[32];

    assert_int_equal(c->req, REQ_IRQFD);
    assert_int_equal(c->fd, PRIVCMD_FD);
    assert_int_equal(get_le32(c->arg + 8), 32); /* sizeof(xen_dm_op) */
    assert_int_equal(get_le32(c->arg + 12), (uint32_t)fd);
    assert_int_equal(get_le32(c->arg + 16), flags);
    assert_int_equal(c->arg[20] | c->arg[21] << 8, DOMID);
    assert_int_equal(c->arg[22], 0);
    assert_int_equal(c->arg[23], 0);
    memset(op, 0, sizeof(op));
    put_le32(op, 19); /* XEN_DMOP_set_irq_level */
    put_le32(op + 8, irq);
    op[12] = 1; /* level */
    assert_int_equal(c->dm_op_size, 32);
    assert_memory_equal(c->dm_op, op, sizeof(op));
}

/* ---- tests --------------------------------------------------------------- */

static void
test_create_restricts_once(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(r.nopen, 1);
    assert_string_equal(r.path, "/dev/xen/privcmd");
    assert_int_equal(r.ncalls, 1);
    assert_int_equal(r.calls[0].req, REQ_RESTRICT);
    assert_int_equal(r.calls[0].fd, PRIVCMD_FD);
    assert_int_equal(r.calls[0].arg[0] | r.calls[0].arg[1] << 8, DOMID);
    assert_true(iq_privcmd_available(pc));
    /* Use does not restrict again. */
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true), 0);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), 0);
    for (unsigned i = 1; i < r.ncalls; i++) {
        assert_int_not_equal(r.calls[i].req, REQ_RESTRICT);
    }
    finish(&r, pc);
}

static void
test_create_failures(void **state)
{
    struct iq_privcmd_config cfg;
    struct iq_privcmd *pc = (struct iq_privcmd *)&cfg;
    struct rec r;

    (void)state;
    memset(&r, 0, sizeof(r));
    memset(&cfg, 0, sizeof(cfg));
    cfg.domid = DOMID;
    cfg.ioreq_page = ioreq_page;
    cfg.ports = test_ports;
    cfg.nr_vcpus = 0;
    cfg.sys = &fake_sys;
    cfg.sys_opaque = &r;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), -EINVAL);
    assert_null(pc);
    cfg.nr_vcpus = 129;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), -EINVAL);
    cfg.nr_vcpus = 3;
    cfg.ioreq_page = NULL;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), -EINVAL);
    cfg.ioreq_page = ioreq_page;
    cfg.arch = (enum iq_arch)7;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), -EINVAL);
    cfg.arch = IQ_ARCH_ARM;
    assert_int_equal(r.nopen, 0);

    /* No privcmd device. */
    r.open_ret = -ENOENT;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), -ENOENT);
    assert_null(pc);
    assert_int_equal(r.ncalls, 0);

    /* Restrict refused: the fd is closed, nothing else is issued. */
    r.open_ret = 0;
    r.ret[0] = -EPERM;
    assert_int_equal(iq_privcmd_create(&cfg, &pc), -EPERM);
    assert_null(pc);
    assert_int_equal(r.ncalls, 1);
    assert_int_equal(r.nopen_fds, 0);
}

static void
test_kick_bytes(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 2, KICK_FD, true), 0);
    assert_int_equal(r.ncalls, 2);
    /* Assigned with the caller's fd; a duplicate is held. */
    check_ioeventfd(&r.calls[1], BASE, 2, KICK_FD, 0);
    assert_int_equal(r.nopen_fds, 2);
    assert_int_equal(iq_privcmd_nr_kicks(pc), 1);

    /* What the kernel now answers itself (the ioreq server's taker). */
    assert_true(iq_privcmd_takes(pc, NOTIFY, 4, 2));
    assert_true(iq_privcmd_takes(pc, NOTIFY, 4, 0x30002));
    assert_false(iq_privcmd_takes(pc, NOTIFY, 4, 1));
    assert_false(iq_privcmd_takes(pc, NOTIFY, 2, 2));
    assert_false(iq_privcmd_takes(pc, NOTIFY + 4, 4, 2));
    assert_false(iq_privcmd_takes(pc, BASE, 4, 2));

    /* Deassign: same request, DEASSIGN flag, our duplicate. */
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 2, KICK_FD, false), 0);
    assert_false(iq_privcmd_takes(pc, NOTIFY, 4, 2));
    assert_int_equal(r.ncalls, 3);
    check_ioeventfd(&r.calls[2], BASE, 2, DUP_BASE + KICK_FD, 1);
    assert_int_equal(r.nopen_fds, 1); /* duplicate closed */
    assert_int_equal(iq_privcmd_nr_kicks(pc), 0);
    finish(&r, pc);
    assert_int_equal(r.ncalls, 3); /* nothing left to deassign */
}

static void
test_irq_bytes(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), 0);
    assert_int_equal(r.ncalls, 2);
    check_irqfd(&r.calls[1], SPI, CALL_FD, 0);
    /* A second queue's call fd on the same line. */
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD + 1, true), 0);
    check_irqfd(&r.calls[2], SPI, CALL_FD + 1, 0);
    assert_int_equal(iq_privcmd_nr_irqs(pc), 2);

    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, false), 0);
    check_irqfd(&r.calls[3], SPI, DUP_BASE + CALL_FD, 1);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD + 1, false), 0);
    check_irqfd(&r.calls[4], SPI, DUP_BASE + CALL_FD + 1, 1);
    assert_int_equal(iq_privcmd_nr_irqs(pc), 0);
    finish(&r, pc);
    assert_int_equal(r.ncalls, 5);
}

static void
test_x86(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_X86);
    /*
     * No irqfd on x86 (the ISA line would never be lowered) and no
     * ioeventfd (a PV dom0's mapping has no page array): no syscall.
     */
    assert_int_equal(iq_privcmd_irq(pc, 5, CALL_FD, true), -EOPNOTSUPP);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), -EOPNOTSUPP);
    assert_int_equal(iq_privcmd_kick(pc, 0xfe000050ull, 0, KICK_FD, true),
                     -EOPNOTSUPP);
    assert_int_equal(iq_privcmd_kick(pc, 0xfe000050ull, 0, KICK_FD, false),
                     -EOPNOTSUPP);
    assert_int_equal(r.ncalls, 1);
    assert_int_equal(r.nopen_fds, 1);
    assert_true(iq_privcmd_available(pc)); /* not a kernel verdict */
    finish(&r, pc);
    assert_int_equal(r.ncalls, 1);
}

static void
test_validation(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0x10000, KICK_FD, true),
                     -EINVAL);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0xffffffffu, KICK_FD, true),
                     -EINVAL);
    assert_int_equal(iq_privcmd_kick(pc, 0x4f, 0, KICK_FD, true), -EINVAL);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, -1, true), -EINVAL);
    assert_int_equal(iq_privcmd_kick(NULL, NOTIFY, 0, KICK_FD, true), -EINVAL);
    assert_int_equal(iq_privcmd_irq(pc, 31, CALL_FD, true), -EINVAL);
    assert_int_equal(iq_privcmd_irq(pc, 1020, CALL_FD, true), -EINVAL);
    assert_int_equal(iq_privcmd_irq(pc, 0xffffffffu, CALL_FD, true), -EINVAL);
    assert_int_equal(iq_privcmd_irq(pc, SPI, -1, true), -EINVAL);
    assert_int_equal(r.ncalls, 1);
    assert_int_equal(r.nopen_fds, 1);

    /* Boundaries that are fine. */
    assert_int_equal(iq_privcmd_kick(pc, 0x50, 0xffff, KICK_FD, true), 0);
    check_ioeventfd(&r.calls[1], 0, 0xffff, KICK_FD, 0);
    assert_int_equal(iq_privcmd_irq(pc, 32, CALL_FD, true), 0);
    assert_int_equal(iq_privcmd_irq(pc, 1019, CALL_FD, true), 0);
    check_irqfd(&r.calls[3], 1019, CALL_FD, 0);

    /* Duplicates, unknown deassigns, full table. */
    assert_int_equal(iq_privcmd_kick(pc, 0x50, 0xffff, KICK_FD + 1, true),
                     -EBUSY);
    assert_int_equal(iq_privcmd_irq(pc, 32, CALL_FD, true), -EBUSY);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 1, KICK_FD, false), -ENOENT);
    assert_int_equal(iq_privcmd_irq(pc, 33, CALL_FD, false), -ENOENT);
    assert_int_equal(r.ncalls, 4);
    assert_int_equal(iq_privcmd_kick(pc, 0x50, 0xffff, KICK_FD, false), 0);
    assert_int_equal(iq_privcmd_irq(pc, 32, CALL_FD, false), 0);
    assert_int_equal(iq_privcmd_irq(pc, 1019, CALL_FD, false), 0);
    assert_int_equal(r.ncalls, 7);
    finish(&r, pc);
}

static void
test_table_full(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        assert_int_equal(iq_privcmd_kick(pc, NOTIFY, i, 3, true), 0);
    }
    assert_int_equal(iq_privcmd_nr_kicks(pc), IQ_PRIVCMD_MAX_BINDINGS);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 100, 3, true), -ENOSPC);
    assert_int_equal(r.ncalls, 1 + IQ_PRIVCMD_MAX_BINDINGS);
    assert_int_equal(r.nopen_fds, 1 + IQ_PRIVCMD_MAX_BINDINGS);
    /* Destroy deassigns every one of them. */
    finish(&r, pc);
    assert_int_equal(r.ncalls, 1 + 2 * IQ_PRIVCMD_MAX_BINDINGS);
    for (unsigned i = 0; i < IQ_PRIVCMD_MAX_BINDINGS; i++) {
        const struct call *c = &r.calls[1 + IQ_PRIVCMD_MAX_BINDINGS + i];

        check_ioeventfd(c, BASE, i, DUP_BASE + 3, 1);
    }
}

/* Each errno that means "no such feature" latches the provider off. */
static void
test_absent_latch(void **state)
{
    static const int absent[] = {-ENOTTY, -EINVAL, -EOPNOTSUPP, -ENOENT};

    (void)state;
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        struct rec r;
        struct iq_privcmd *pc;

        memset(&r, 0, sizeof(r));
        pc = make(&r, IQ_ARCH_ARM);
        r.ret[1] = absent[i];
        assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true),
                         absent[i]);
        assert_int_equal(r.ncalls, 2);
        assert_false(iq_privcmd_available(pc));
        assert_int_equal(r.nopen_fds, 1); /* duplicate closed */
        /* Every later assignment: -EOPNOTSUPP without a system call. */
        assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true),
                         -EOPNOTSUPP);
        assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 1, KICK_FD, true),
                         -EOPNOTSUPP);
        assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), -EOPNOTSUPP);
        assert_int_equal(r.ncalls, 2);
        assert_int_equal(iq_privcmd_nr_kicks(pc), 0);
        finish(&r, pc);
        assert_int_equal(r.ncalls, 2);
    }
}

/* irqfd refused first latches kicks too; held kicks still deassign. */
static void
test_latch_from_irqfd(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true), 0);
    r.ret[2] = -ENOTTY;
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), -ENOTTY);
    assert_false(iq_privcmd_available(pc));
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 1, KICK_FD, true),
                     -EOPNOTSUPP);
    assert_int_equal(r.ncalls, 3);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, false), 0);
    assert_int_equal(r.ncalls, 4);
    check_ioeventfd(&r.calls[3], BASE, 0, DUP_BASE + KICK_FD, 1);
    finish(&r, pc);
    assert_int_equal(r.ncalls, 4);
}

/* Other errors are the caller's business and change nothing. */
static void
test_errors_passed_up(void **state)
{
    static const int errs[] = {-EBUSY, -EFAULT, -EPERM, -EEXIST};

    (void)state;
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        struct rec r;
        struct iq_privcmd *pc;

        memset(&r, 0, sizeof(r));
        pc = make(&r, IQ_ARCH_ARM);
        r.ret[1] = errs[i];
        r.ret[2] = errs[i];
        assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true),
                         errs[i]);
        assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), errs[i]);
        assert_true(iq_privcmd_available(pc));
        assert_int_equal(r.nopen_fds, 1);
        assert_int_equal(iq_privcmd_nr_kicks(pc), 0);
        assert_int_equal(iq_privcmd_nr_irqs(pc), 0);
        /* The next attempt reaches the kernel again and succeeds. */
        assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true), 0);
        assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), 0);
        assert_int_equal(r.ncalls, 5);
        finish(&r, pc);
        assert_int_equal(r.ncalls, 7);
    }
}

static void
test_dup_failure(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    r.dup_ret = -EMFILE;
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true), -EMFILE);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), -EMFILE);
    assert_int_equal(r.ncalls, 1);
    assert_true(iq_privcmd_available(pc));
    finish(&r, pc);
}

/* Destroy deassigns leftovers, even after a failed deassign. */
static void
test_destroy_leftovers(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true), 0);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 1, KICK_FD + 2, true), 0);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), 0);
    /* A deassign the kernel refuses keeps the entry for destroy. */
    r.ret[4] = -EFAULT;
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 1, KICK_FD + 2, false),
                     -EFAULT);
    assert_int_equal(iq_privcmd_nr_kicks(pc), 2);
    assert_int_equal(r.ncalls, 5);
    finish(&r, pc);
    assert_int_equal(r.ncalls, 8);
    check_ioeventfd(&r.calls[5], BASE, 0, DUP_BASE + KICK_FD, 1);
    check_irqfd(&r.calls[6], SPI, DUP_BASE + CALL_FD, 1);
    check_ioeventfd(&r.calls[7], BASE, 1, DUP_BASE + KICK_FD + 2, 1);
}

/* A deassignment the kernel has no record of: nothing left to undo. */
static void
test_deassign_gone(void **state)
{
    struct rec r;
    struct iq_privcmd *pc;

    (void)state;
    memset(&r, 0, sizeof(r));
    pc = make(&r, IQ_ARCH_ARM);
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, true), 0);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, true), 0);
    r.ret[3] = -ENODEV;
    r.ret[4] = -ENOENT;
    assert_int_equal(iq_privcmd_kick(pc, NOTIFY, 0, KICK_FD, false), 0);
    assert_int_equal(iq_privcmd_irq(pc, SPI, CALL_FD, false), 0);
    assert_int_equal(iq_privcmd_nr_kicks(pc), 0);
    assert_int_equal(iq_privcmd_nr_irqs(pc), 0);
    assert_int_equal(r.nopen_fds, 1);
    assert_true(iq_privcmd_available(pc));
    finish(&r, pc);
    assert_int_equal(r.ncalls, 5);
}

/* The production seam: real open(2) of the device. */
static void
test_real_syscalls(void **state)
{
    struct iq_privcmd_config cfg;
    struct iq_privcmd *pc = NULL;
    int rc;

    (void)state;
    if (access("/dev/xen/privcmd", F_OK) == 0) {
        skip(); /* a real dom0: not a unit-test environment */
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.domid = DOMID;
    cfg.ioreq_page = ioreq_page;
    cfg.ports = test_ports;
    cfg.nr_vcpus = 3;
    rc = iq_privcmd_create(&cfg, &pc);
    assert_int_equal(rc, -ENOENT);
    assert_null(pc);
    iq_privcmd_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_restricts_once),
        cmocka_unit_test(test_create_failures),
        cmocka_unit_test(test_kick_bytes),
        cmocka_unit_test(test_irq_bytes),
        cmocka_unit_test(test_x86),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_absent_latch),
        cmocka_unit_test(test_latch_from_irqfd),
        cmocka_unit_test(test_errors_passed_up),
        cmocka_unit_test(test_dup_failure),
        cmocka_unit_test(test_destroy_leftovers),
        cmocka_unit_test(test_deassign_gone),
        cmocka_unit_test(test_real_syscalls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
