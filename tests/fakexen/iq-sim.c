/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake Xen simulator: hypervisor and guest for one domain (see iq-sim.h).
 *
 * One server thread accepts fake-library connections and answers their
 * requests under sim->lock. vCPU accesses run on the caller's thread: they
 * fill the ioreq slot, send the local port on the daemon's evtchn socket and
 * wait on the futex word of the vCPU's guest port, which the daemon's
 * xenevtchn_notify bumps (fakexen-proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#include "sim-priv.h"

_Static_assert(sizeof(struct ioreq) == 32, "ioreq layout");
_Static_assert(offsetof(struct ioreq, type) == 31, "ioreq layout");
_Static_assert(sizeof(buffered_iopage_t) <= FX_PAGE, "bufioreq layout");

/* The byte holding state:4, data_is_ptr:1, dir:1, df:1. */
#define SLOT_FLAGS_OFF 30
#define ARM_WRITE_GARBAGE 0xdeadbeefcafef00dull
#define MAX_RANGES 256u

static uint8_t *
slot_flags(struct ioreq *slot)
{
    return (uint8_t *)slot + SLOT_FLAGS_OFF;
}

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
size_ones(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static bool
valid_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

void
iq_sim_config_default(struct iq_sim_config *cfg, enum iq_sim_arch arch)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->arch = arch;
    cfg->domid = 1;
    cfg->nr_vcpus = 1;
    cfg->ram0_size = 256ull << 20;
    cfg->arm_unmasked = arch == IQ_SIM_ARM;
}

/* ---- event channels ------------------------------------------------------ */

/*
 * Xen raises local port `lp`: mark it pending when masked, else mask it and
 * return the connection to send the port on. The caller sends after
 * dropping the lock (send_port) so vCPUs never hold it across a syscall;
 * `senders` keeps the connection's fd open meanwhile (conn_drop waits).
 */
static struct sim_conn *
deliver_local(struct iq_sim *sim, uint32_t lp)
{
    struct sim_lport *l;
    uint32_t *w;
    uint32_t old;
    uint32_t nw;

    if (lp == 0 || lp >= FX_MAX_PORTS) {
        return NULL;
    }
    l = &sim->lport[lp];
    if (l->conn == NULL || l->conn->evfd < 0) {
        return NULL;
    }
    w = &sim->sh->evstate[lp];
    old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    do {
        nw = (old & FX_EV_MASKED) != 0 ? (old | FX_EV_PENDING) : FX_EV_MASKED;
    } while (!__atomic_compare_exchange_n(w, &old, nw, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    if ((old & FX_EV_MASKED) != 0) {
        return NULL;
    }
    __atomic_add_fetch(&l->conn->senders, 1, __ATOMIC_ACQ_REL);
    return l->conn;
}

/* Outside the lock: at most one message per port is in flight. */
static void
send_port(struct sim_conn *c, uint32_t lp)
{
    if (c != NULL) {
        (void)send(c->evfd, &lp, sizeof(lp), MSG_DONTWAIT | MSG_NOSIGNAL);
        __atomic_sub_fetch(&c->senders, 1, __ATOMIC_RELEASE);
    }
}

/* Returns the connection to send_port() the bound local port *lp on. */
static struct sim_conn *
raise_gport(struct iq_sim *sim, uint32_t gp, uint32_t *lp)
{
    *lp = 0;
    if (gp != 0 && gp < FX_MAX_PORTS && sim->gport[gp].used) {
        *lp = sim->gport[gp].local;
        return deliver_local(sim, *lp);
    }
    return NULL;
}

static void
wake_gport(struct iq_sim *sim, uint32_t gp)
{
    __atomic_add_fetch(&sim->sh->port_seq[gp], 1, __ATOMIC_RELEASE);
    iq_fx_futex_wake(&sim->sh->port_seq[gp]);
}

static uint32_t
alloc_gport(struct iq_sim *sim, int sid, int vcpu)
{
    uint32_t i;

    for (i = 1; i < FX_MAX_PORTS; i++) {
        if (!sim->gport[i].used) {
            sim->gport[i].used = true;
            sim->gport[i].server = (int16_t)sid;
            sim->gport[i].vcpu = (int16_t)vcpu;
            sim->gport[i].local = 0;
            return i;
        }
    }
    return 0;
}

static void
free_gport(struct iq_sim *sim, uint32_t gp)
{
    struct sim_gport *g;

    if (gp == 0 || gp >= FX_MAX_PORTS || !sim->gport[gp].used) {
        return;
    }
    g = &sim->gport[gp];
    if (g->local != 0) {
        sim->lport[g->local].gport = 0;
    }
    memset(g, 0, sizeof(*g));
    wake_gport(sim, gp);
}

static void
unbind_local(struct iq_sim *sim, uint32_t lp)
{
    struct sim_lport *l = &sim->lport[lp];

    if (l->gport != 0 && sim->gport[l->gport].local == lp) {
        sim->gport[l->gport].local = 0;
    }
    l->conn = NULL;
    l->gport = 0;
    __atomic_store_n(&sim->sh->evstate[lp], 0, __ATOMIC_RELEASE);
}

/* ---- servers ------------------------------------------------------------ */

static void *
alloc_page_fd(int *fd)
{
    void *p;

    *fd = memfd_create("iq-sim-ioreq", MFD_CLOEXEC);
    if (*fd < 0) {
        return NULL;
    }
    if (ftruncate(*fd, FX_PAGE) < 0) {
        close(*fd);
        *fd = -1;
        return NULL;
    }
    p = mmap(NULL, FX_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        close(*fd);
        *fd = -1;
        return NULL;
    }
    return p;
}

static void
bury(struct iq_sim *sim, void *page)
{
    void **g;

    if (page == NULL) {
        return;
    }
    g = realloc(sim->grave, (sim->ngrave + 1) * sizeof(*g));
    if (g == NULL) {
        /* Leak rather than unmap under a possible waiter. */
        return;
    }
    sim->grave = g;
    g[sim->ngrave++] = page;
}

static void
server_destroy_locked(struct iq_sim *sim, unsigned id)
{
    struct sim_server *s = &sim->srv[id];
    unsigned v;

    if (!s->used) {
        return;
    }
    s->used = false;
    s->enabled = false;
    __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELEASE);
    for (v = 0; v < sim->cfg.nr_vcpus; v++) {
        free_gport(sim, s->gports[v]);
    }
    free_gport(sim, s->buf_gport);
    free(s->gports);
    s->gports = NULL;
    s->buf_gport = 0;
    free(s->ranges);
    s->ranges = NULL;
    s->nranges = 0;
    bury(sim, s->iopage);
    bury(sim, s->bufpage);
    s->iopage = NULL;
    s->bufpage = NULL;
    if (s->io_fd >= 0) {
        close(s->io_fd);
    }
    if (s->buf_fd >= 0) {
        close(s->buf_fd);
    }
    s->io_fd = -1;
    s->buf_fd = -1;
}

static int
server_create_locked(struct iq_sim *sim, int bufioreq, unsigned *out)
{
    struct sim_server *s = NULL;
    unsigned id;
    unsigned v;

    if (bufioreq < HVM_IOREQSRV_BUFIOREQ_OFF ||
        bufioreq > HVM_IOREQSRV_BUFIOREQ_ATOMIC) {
        return -EINVAL;
    }
    /* Xen 4.17 common/ioreq.c: no buffered ioreqs outside x86. */
    if (sim->cfg.arch == IQ_SIM_ARM && bufioreq != 0) {
        return -EINVAL;
    }
    for (id = 0; id < FX_MAX_SERVERS; id++) {
        if (!sim->srv[id].used) {
            s = &sim->srv[id];
            break;
        }
    }
    if (s == NULL) {
        return -ENOSPC;
    }
    memset(s, 0, offsetof(struct sim_server, gen));
    s->io_fd = -1;
    s->buf_fd = -1;
    s->bufioreq = bufioreq;
    s->used = true;
    __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELEASE);
    s->gports = calloc(sim->cfg.nr_vcpus, sizeof(*s->gports));
    s->iopage = alloc_page_fd(&s->io_fd);
    if (s->gports == NULL || s->iopage == NULL) {
        goto fail;
    }
    if (bufioreq != 0) {
        s->bufpage = alloc_page_fd(&s->buf_fd);
        if (s->bufpage == NULL) {
            goto fail;
        }
        s->buf_gport = alloc_gport(sim, (int)id, -1);
        if (s->buf_gport == 0) {
            goto fail;
        }
    }
    for (v = 0; v < sim->cfg.nr_vcpus; v++) {
        s->gports[v] = alloc_gport(sim, (int)id, (int)v);
        if (s->gports[v] == 0) {
            goto fail;
        }
    }
    *out = id;
    return 0;

fail:
    server_destroy_locked(sim, id);
    return -ENOSPC;
}

static struct sim_server *
server_get(struct iq_sim *sim, uint64_t id)
{
    if (id >= FX_MAX_SERVERS || !sim->srv[id].used) {
        return NULL;
    }
    return &sim->srv[id];
}

static int
range_map(struct sim_server *s, uint32_t type, uint64_t start, uint64_t end)
{
    struct sim_range *r;
    unsigned i;

    if (type > XEN_DMOP_IO_RANGE_PCI || start > end) {
        return -EINVAL;
    }
    for (i = 0; i < s->nranges; i++) {
        r = &s->ranges[i];
        if (r->type == type && start <= r->end && r->start <= end) {
            return -EEXIST;
        }
    }
    if (s->nranges >= MAX_RANGES) {
        return -ENOSPC;
    }
    r = realloc(s->ranges, (s->nranges + 1) * sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    s->ranges = r;
    r[s->nranges].type = type;
    r[s->nranges].start = start;
    r[s->nranges].end = end;
    s->nranges++;
    return 0;
}

/* Xen removes any contained sub-range (rangeset semantics). */
static int
range_unmap(struct sim_server *s, uint32_t type, uint64_t start, uint64_t end)
{
    struct sim_range *r;
    unsigned i;

    if (type > XEN_DMOP_IO_RANGE_PCI || start > end) {
        return -EINVAL;
    }
    for (i = 0; i < s->nranges; i++) {
        r = &s->ranges[i];
        if (r->type != type || start < r->start || end > r->end) {
            continue;
        }
        if (start > r->start && end < r->end) {
            struct sim_range tail = {type, end + 1, r->end};
            struct sim_range *n;

            n = realloc(s->ranges, (s->nranges + 1) * sizeof(*n));
            if (n == NULL) {
                return -ENOMEM;
            }
            s->ranges = n;
            n[i].end = start - 1;
            n[s->nranges++] = tail;
        } else if (start == r->start && end == r->end) {
            s->ranges[i] = s->ranges[--s->nranges];
        } else if (start == r->start) {
            r->start = end + 1;
        } else {
            r->end = start - 1;
        }
        return 0;
    }
    return -ENOENT;
}

/* Highest-numbered enabled server claiming the access, or -1. */
static int
select_server(struct iq_sim *sim, uint8_t type, uint64_t addr, unsigned size,
              uint32_t count, bool df)
{
    uint32_t rtype;
    uint64_t lo;
    uint64_t hi;
    int id;
    unsigned i;

    if (count == 0) {
        count = 1;
    }
    if (type == IOREQ_TYPE_COPY) {
        uint64_t span = (uint64_t)size * count;

        rtype = XEN_DMOP_IO_RANGE_MEMORY;
        if (df) {
            lo = addr - (span - size);
            hi = addr + size - 1;
        } else {
            lo = addr;
            hi = addr + span - 1;
        }
        if (hi < lo) {
            return -1;
        }
    } else if (type == IOREQ_TYPE_PCI_CONFIG) {
        rtype = XEN_DMOP_IO_RANGE_PCI;
        lo = addr >> 32;
        hi = lo;
    } else {
        rtype = XEN_DMOP_IO_RANGE_PORT;
        lo = addr;
        hi = addr + size - 1;
    }
    for (id = (int)FX_MAX_SERVERS - 1; id >= 0; id--) {
        struct sim_server *s = &sim->srv[id];

        if (!s->used || !s->enabled) {
            continue;
        }
        for (i = 0; i < s->nranges; i++) {
            if (s->ranges[i].type == rtype && s->ranges[i].start <= lo &&
                hi <= s->ranges[i].end) {
                return id;
            }
        }
    }
    return -1;
}

/* ---- interrupts ---------------------------------------------------------- */

static struct sim_line *
line_get(struct iq_sim *sim, uint32_t key, bool create)
{
    struct sim_line *l;
    size_t i;

    for (i = 0; i < sim->nlines; i++) {
        if (sim->lines[i].key == key) {
            return &sim->lines[i];
        }
    }
    if (!create) {
        return NULL;
    }
    l = realloc(sim->lines, (sim->nlines + 1) * sizeof(*l));
    if (l == NULL) {
        return NULL;
    }
    sim->lines = l;
    l = &l[sim->nlines++];
    memset(l, 0, sizeof(*l));
    l->key = key;
    return l;
}

static int
line_set(struct iq_sim *sim, uint32_t key, unsigned level)
{
    struct sim_line *l = line_get(sim, key, true);

    if (l == NULL) {
        return -ENOMEM;
    }
    if (l->level == 0 && level != 0) {
        l->edges++;
    }
    l->level = level;
    pthread_cond_broadcast(&sim->cond);
    return 0;
}

static int
msi_record(struct iq_sim *sim, uint64_t addr, uint32_t data)
{
    struct sim_msi *m;
    size_t i;

    for (i = 0; i < sim->nmsis; i++) {
        if (sim->msis[i].addr == addr && sim->msis[i].data == data) {
            sim->msis[i].count++;
            pthread_cond_broadcast(&sim->cond);
            return 0;
        }
    }
    m = realloc(sim->msis, (sim->nmsis + 1) * sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    sim->msis = m;
    m[sim->nmsis].addr = addr;
    m[sim->nmsis].data = data;
    m[sim->nmsis].count = 1;
    sim->nmsis++;
    pthread_cond_broadcast(&sim->cond);
    return 0;
}

/* ---- request handling (server thread) ------------------------------------ */

static int
dm_op_locked(struct iq_sim *sim, struct fx_msg *m)
{
    struct sim_server *s = NULL;
    bool arm = sim->cfg.arch == IQ_SIM_ARM;
    unsigned id = 0;
    unsigned v;
    int r;

    sim->dm_op_calls++;
    if (m->a[0] != sim->lay.domid || sim->dead) {
        return -ESRCH;
    }
    if (fx_fault_take(&sim->sh->fault_dmop)) {
        return -EIO;
    }
    switch (m->op) {
    case FX_OP_DM_CREATE:
        r = server_create_locked(sim, (int)m->a[1], &id);
        m->a[0] = id;
        return r;
    case FX_OP_DM_NR_VCPUS:
        m->a[0] = sim->cfg.nr_vcpus;
        return 0;
    case FX_OP_DM_IRQ_LEVEL:
        sim->irq_calls++;
        if (!arm) {
            return -EOPNOTSUPP;
        }
        if (m->a[1] < 32 || m->a[1] >= 1020 || m->a[2] > 1) {
            return -EINVAL;
        }
        return line_set(sim, (uint32_t)m->a[1], (unsigned)m->a[2]);
    case FX_OP_DM_ISA_LEVEL:
        sim->irq_calls++;
        if (arm) {
            return -EOPNOTSUPP;
        }
        if (m->a[1] > 15 || m->a[2] > 1) {
            return -EINVAL;
        }
        return line_set(sim, IQ_SIM_ISA_KEY((uint32_t)m->a[1]),
                        (unsigned)m->a[2]);
    case FX_OP_DM_INTX_LEVEL:
        sim->irq_calls++;
        if (arm) {
            return -EOPNOTSUPP;
        }
        if (m->a[2] > 3 || m->a[3] > 1 || ((m->a[1] >> 3) & 0x1f) > 31 ||
            (m->a[1] & 7) != 0) {
            return -EINVAL;
        }
        return line_set(sim,
                        IQ_SIM_INTX_KEY((uint32_t)m->a[1], (uint32_t)m->a[2]),
                        (unsigned)m->a[3]);
    case FX_OP_DM_MSI:
        sim->irq_calls++;
        if (arm) {
            return -EOPNOTSUPP;
        }
        return msi_record(sim, m->a[1], (uint32_t)m->a[2]);
    default:
        break;
    }
    s = server_get(sim, m->a[1]);
    if (s == NULL) {
        return -ENOENT;
    }
    switch (m->op) {
    case FX_OP_DM_DESTROY:
        server_destroy_locked(sim, (unsigned)m->a[1]);
        return 0;
    case FX_OP_DM_GET_INFO:
        if (m->a[2] != 0) {
            /* The fake has no guest-physmap route for the ioreq pages. */
            return -EOPNOTSUPP;
        }
        m->a[0] = s->buf_gport;
        return 0;
    case FX_OP_DM_MAP_RANGE:
        return range_map(s, (uint32_t)m->a[2], m->a[3], m->a[4]);
    case FX_OP_DM_UNMAP_RANGE:
        return range_unmap(s, (uint32_t)m->a[2], m->a[3], m->a[4]);
    case FX_OP_DM_SET_STATE:
        s->enabled = m->a[2] != 0;
        if (s->enabled) {
            /* vp_eport is published only when the server is enabled. */
            for (v = 0; v < sim->cfg.nr_vcpus; v++) {
                __atomic_store_n(&s->iopage->vcpu_ioreq[v].vp_eport,
                                 s->gports[v], __ATOMIC_RELEASE);
            }
        }
        return 0;
    default:
        return -ENOSYS;
    }
}

static int
res_map_locked(struct iq_sim *sim, struct fx_msg *m, int *fds, int *nfds)
{
    struct sim_server *s;
    uint64_t f;

    *nfds = 0;
    if (m->a[0] != sim->lay.domid || sim->dead) {
        return -ESRCH;
    }
    if (fx_fault_take(&sim->sh->fault_resource)) {
        return -EIO;
    }
    s = server_get(sim, m->a[1]);
    if (s == NULL) {
        return -ENOENT;
    }
    if (m->a[3] == 0 || m->a[3] > 2 || m->a[2] > 1 || m->a[2] + m->a[3] > 2) {
        return -EINVAL;
    }
    for (f = m->a[2]; f < m->a[2] + m->a[3]; f++) {
        if (f == XENMEM_resource_ioreq_server_frame_bufioreq) {
            if (s->buf_fd < 0) {
                return -ENOENT;
            }
            fds[(*nfds)++] = s->buf_fd;
        } else {
            fds[(*nfds)++] = s->io_fd;
        }
    }
    return 0;
}

static int
ev_bind_locked(struct iq_sim *sim, struct sim_conn *c, struct fx_msg *m)
{
    uint64_t gp = m->a[1];
    uint32_t lp;

    if (m->a[0] != sim->lay.domid || sim->dead) {
        return -ESRCH;
    }
    if (gp == 0 || gp >= FX_MAX_PORTS || !sim->gport[gp].used ||
        sim->gport[gp].local != 0) {
        return -EINVAL;
    }
    for (lp = 1; lp < FX_MAX_PORTS; lp++) {
        if (sim->lport[lp].conn == NULL) {
            break;
        }
    }
    if (lp >= FX_MAX_PORTS) {
        return -ENOSPC;
    }
    sim->lport[lp].conn = c;
    sim->lport[lp].gport = (uint32_t)gp;
    sim->gport[gp].local = lp;
    __atomic_store_n(&sim->sh->evstate[lp], 0, __ATOMIC_RELEASE);
    m->a[0] = lp;
    return 0;
}

static int
gnt_map_locked(struct iq_sim *sim, struct fx_msg *m, const uint8_t *pl,
               size_t plen, uint8_t *out, size_t *olen)
{
    uint64_t count = m->a[1];
    uint64_t i;

    if (m->a[0] != sim->lay.domid || sim->dead) {
        return -ESRCH;
    }
    if (count == 0 || count > FX_MAX_GRANT_REFS ||
        plen != count * sizeof(uint32_t)) {
        return -EINVAL;
    }
    for (i = 0; i < count; i++) {
        uint32_t ref;
        uint64_t gfn;

        memcpy(&ref, pl + i * sizeof(ref), sizeof(ref));
        if (ref >= sim->ngrants || !sim->grants[ref].valid) {
            return -EFAULT;
        }
        if (sim->grants[ref].readonly && m->a[2] != 0) {
            return -EACCES;
        }
        gfn = sim->grants[ref].gfn;
        memcpy(out + i * sizeof(gfn), &gfn, sizeof(gfn));
    }
    *olen = count * sizeof(uint64_t);
    return 0;
}

static int
hello_locked(struct iq_sim *sim, struct sim_conn *c, struct fx_msg *m, int *fds,
             int *nfds, int *to_close)
{
    int sp[2];

    if (c->kind != 0 || m->a[0] < FX_KIND_DMOD || m->a[0] > FX_KIND_TOOLCORE) {
        return -EINVAL;
    }
    fds[0] = sim->sh_fd;
    *nfds = 1;
    if (m->a[0] == FX_KIND_FMEM || m->a[0] == FX_KIND_GNT) {
        fds[(*nfds)++] = sim->ram_fd;
    }
    if (m->a[0] == FX_KIND_EVTCHN || m->a[0] == FX_KIND_XS) {
        struct epoll_event ev;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
            return -errno;
        }
        c->evfd = sp[0];
        fds[(*nfds)++] = sp[1];
        *to_close = sp[1];
        if (m->a[0] == FX_KIND_EVTCHN) {
            memset(&ev, 0, sizeof(ev));
            ev.events = EPOLLIN;
            ev.data.ptr = &c->ep_ev;
            epoll_ctl(sim->ep_fd, EPOLL_CTL_ADD, c->evfd, &ev);
        }
    }
    c->kind = (int)m->a[0];
    if (c->kind != FX_KIND_TOOLCORE) {
        sim->handles_open++;
    }
    return 0;
}

/* Unbind, unwatch and uncount a connection (lock held). */
static void
conn_release_locked(struct iq_sim *sim, struct sim_conn *c)
{
    uint32_t lp;

    if (c->bye) {
        return;
    }
    c->bye = true;
    for (lp = 1; lp < FX_MAX_PORTS; lp++) {
        if (sim->lport[lp].conn == c) {
            unbind_local(sim, lp);
        }
    }
    iq_sim_xs_conn_gone(sim, c);
    /* No new sender can appear now; wait for those already sending. */
    while (__atomic_load_n(&c->senders, __ATOMIC_ACQUIRE) != 0) {
        sched_yield();
    }
    if (c->kind != 0 && c->kind != FX_KIND_TOOLCORE) {
        sim->handles_open--;
    }
}

static void
conn_drop(struct iq_sim *sim, struct sim_conn *c)
{
    if (c->dead) {
        return;
    }
    pthread_mutex_lock(&sim->lock);
    conn_release_locked(sim, c);
    epoll_ctl(sim->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->evfd >= 0) {
        epoll_ctl(sim->ep_fd, EPOLL_CTL_DEL, c->evfd, NULL);
        close(c->evfd);
        c->evfd = -1;
    }
    c->dead = true;
    pthread_mutex_unlock(&sim->lock);
}

static void
handle_ctl(struct iq_sim *sim, struct sim_conn *c)
{
    struct fx_msg *m = (struct fx_msg *)(void *)sim->rxbuf;
    struct fx_msg rep;
    int fds[FX_MAX_FDS];
    int nfds = 0;
    int to_close = -1;
    size_t olen = 0;
    size_t plen;
    long n;
    int r;

    n = iq_fx_recvmsg(c->fd, sim->rxbuf, sizeof(struct fx_msg) + FX_MAX_PAYLOAD,
                      NULL, NULL);
    if (n == -EAGAIN || n == -EINTR) {
        return;
    }
    if (n < (long)sizeof(struct fx_msg)) {
        conn_drop(sim, c);
        return;
    }
    plen = (size_t)n - sizeof(struct fx_msg);
    rep = *m;
    pthread_mutex_lock(&sim->lock);
    if (c->kind == 0 && m->op != FX_OP_HELLO) {
        r = -EPROTO;
    } else {
        switch (m->op) {
        case FX_OP_HELLO:
            r = hello_locked(sim, c, &rep, fds, &nfds, &to_close);
            if (r == 0) {
                memcpy(sim->txbuf, &sim->lay, sizeof(sim->lay));
                olen = sizeof(sim->lay);
            }
            break;
        case FX_OP_DM_CREATE:
        case FX_OP_DM_DESTROY:
        case FX_OP_DM_GET_INFO:
        case FX_OP_DM_MAP_RANGE:
        case FX_OP_DM_UNMAP_RANGE:
        case FX_OP_DM_SET_STATE:
        case FX_OP_DM_NR_VCPUS:
        case FX_OP_DM_IRQ_LEVEL:
        case FX_OP_DM_ISA_LEVEL:
        case FX_OP_DM_INTX_LEVEL:
        case FX_OP_DM_MSI:
            r = dm_op_locked(sim, &rep);
            break;
        case FX_OP_RES_MAP:
            r = res_map_locked(sim, &rep, fds, &nfds);
            break;
        case FX_OP_RES_SIZE:
            r = -ESRCH;
            if (rep.a[0] == sim->lay.domid && !sim->dead) {
                r = server_get(sim, rep.a[1]) != NULL ? 0 : -ENOENT;
                rep.a[0] = 2 * FX_PAGE;
            }
            break;
        case FX_OP_EV_BIND:
            r = ev_bind_locked(sim, c, &rep);
            break;
        case FX_OP_EV_UNBIND:
            r = -EINVAL;
            if (rep.a[1] != 0 && rep.a[1] < FX_MAX_PORTS &&
                sim->lport[rep.a[1]].conn == c) {
                unbind_local(sim, (uint32_t)rep.a[1]);
                r = 0;
            }
            break;
        case FX_OP_GNT_MAP:
            r = gnt_map_locked(sim, &rep, (const uint8_t *)(m + 1), plen,
                               sim->txbuf, &olen);
            break;
        case FX_OP_XS_READ:
        case FX_OP_XS_WRITE:
        case FX_OP_XS_MKDIR:
        case FX_OP_XS_RM:
        case FX_OP_XS_DIR:
        case FX_OP_XS_WATCH:
        case FX_OP_XS_UNWATCH:
            r = iq_sim_xs_request(sim, c, &rep, (const char *)(m + 1), plen,
                                  (char *)sim->txbuf, FX_MAX_PAYLOAD, &olen);
            break;
        case FX_OP_RESTRICT_ALL:
            sim->restrict_calls++;
            r = 0;
            break;
        case FX_OP_BYE:
            conn_release_locked(sim, c);
            r = 0;
            break;
        default:
            r = -ENOSYS;
            break;
        }
    }
    if (r < 0) {
        olen = 0;
        nfds = 0;
    }
    rep.ret = r;
    rep.len = (uint32_t)olen;
    rep.nfds = (uint32_t)nfds;
    (void)iq_fx_sendmsg(c->fd, &rep, sim->txbuf, olen, fds, nfds);
    pthread_mutex_unlock(&sim->lock);
    if (to_close >= 0) {
        close(to_close);
    }
}

/* The client unmasked a port that was pending meanwhile: deliver again. */
static void
handle_ev(struct iq_sim *sim, struct sim_conn *c)
{
    struct sim_conn *sc;
    uint32_t lp;
    ssize_t n;

    n = recv(c->evfd, &lp, sizeof(lp), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        pthread_mutex_lock(&sim->lock);
        epoll_ctl(sim->ep_fd, EPOLL_CTL_DEL, c->evfd, NULL);
        pthread_mutex_unlock(&sim->lock);
        return;
    }
    if (n != (ssize_t)sizeof(lp)) {
        return;
    }
    pthread_mutex_lock(&sim->lock);
    sc = NULL;
    if (lp != 0 && lp < FX_MAX_PORTS && sim->lport[lp].conn == c) {
        sc = deliver_local(sim, lp);
    }
    pthread_mutex_unlock(&sim->lock);
    send_port(sc, lp);
}

static void
accept_conn(struct iq_sim *sim)
{
    struct epoll_event ev;
    struct sim_conn *c;
    int fd;

    fd = accept4(sim->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->evfd = -1;
    c->ep_ctl.conn = c;
    c->ep_ctl.which = 0;
    c->ep_ev.conn = c;
    c->ep_ev.which = 1;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &c->ep_ctl;
    pthread_mutex_lock(&sim->lock);
    c->next = sim->conns;
    sim->conns = c;
    epoll_ctl(sim->ep_fd, EPOLL_CTL_ADD, fd, &ev);
    pthread_mutex_unlock(&sim->lock);
}

static void
reap_conns(struct iq_sim *sim)
{
    struct sim_conn **pp;

    pthread_mutex_lock(&sim->lock);
    pp = &sim->conns;
    while (*pp != NULL) {
        struct sim_conn *c = *pp;

        if (c->dead) {
            *pp = c->next;
            free(c);
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&sim->lock);
}

static void *
server_thread(void *arg)
{
    struct iq_sim *sim = arg;
    struct epoll_event evs[16];

    for (;;) {
        bool reap = false;
        int n;
        int i;

        n = epoll_wait(sim->ep_fd, evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        for (i = 0; i < n; i++) {
            struct sim_ep *ep = evs[i].data.ptr;

            if (ep == &sim->ep_wake) {
                return NULL;
            }
            if (ep == &sim->ep_listen) {
                accept_conn(sim);
                continue;
            }
            if (ep->conn->dead) {
                continue;
            }
            if (ep->which == 0) {
                handle_ctl(sim, ep->conn);
                reap = reap || ep->conn->dead;
            } else {
                handle_ev(sim, ep->conn);
            }
        }
        if (reap) {
            reap_conns(sim);
        }
    }
}

/* ---- lifecycle ----------------------------------------------------------- */

int
iq_sim_create(const struct iq_sim_config *cfg, struct iq_sim **out)
{
    struct sockaddr_un sa;
    struct epoll_event ev;
    pthread_condattr_t ca;
    struct iq_sim *sim;
    unsigned i;
    int r;

    *out = NULL;
    sim = calloc(1, sizeof(*sim));
    if (sim == NULL) {
        return -ENOMEM;
    }
    sim->cfg = *cfg;
    sim->ram_fd = -1;
    sim->sh_fd = -1;
    sim->listen_fd = -1;
    sim->ep_fd = -1;
    sim->wake_fd = -1;
    sim->ram = MAP_FAILED;
    sim->sh = MAP_FAILED;
    for (i = 0; i < FX_MAX_SERVERS; i++) {
        sim->srv[i].io_fd = -1;
        sim->srv[i].buf_fd = -1;
    }
    pthread_mutex_init(&sim->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sim->cond, &ca);
    pthread_condattr_destroy(&ca);

    r = -EINVAL;
    if (sim->cfg.domid == 0) {
        sim->cfg.domid = 1;
    }
    if (sim->cfg.nr_vcpus == 0) {
        sim->cfg.nr_vcpus = 1;
    }
    if (sim->cfg.ram0_size == 0) {
        sim->cfg.ram0_size = 256ull << 20;
    }
    if (sim->cfg.timeout_ms == 0) {
        sim->cfg.timeout_ms = 20000;
    }
    if (sim->cfg.nr_vcpus > FX_MAX_VCPUS ||
        (sim->cfg.arch != IQ_SIM_ARM && sim->cfg.arch != IQ_SIM_X86) ||
        sim->cfg.ram0_size % FX_PAGE != 0 ||
        sim->cfg.ram1_size % FX_PAGE != 0 ||
        sim->cfg.ram0_size > (3ull << 30) ||
        sim->cfg.ram1_size > (64ull << 30) ||
        (sim->cfg.arch == IQ_SIM_X86 && sim->cfg.ram0_size < 0x100000)) {
        goto fail;
    }
    sim->lay.arch = sim->cfg.arch;
    sim->lay.domid = sim->cfg.domid;
    sim->lay.nr_vcpus = sim->cfg.nr_vcpus;
    sim->lay.ram0_size = sim->cfg.ram0_size;
    sim->lay.ram1_size = sim->cfg.ram1_size;

    r = -ENOMEM;
    sim->vcpu_busy = calloc(sim->cfg.nr_vcpus, 1);
    sim->rxbuf = malloc(sizeof(struct fx_msg) + FX_MAX_PAYLOAD);
    sim->txbuf = malloc(FX_MAX_PAYLOAD);
    if (sim->vcpu_busy == NULL || sim->rxbuf == NULL || sim->txbuf == NULL) {
        goto fail;
    }

    sim->ram_len = (size_t)(sim->cfg.ram0_size + sim->cfg.ram1_size);
    sim->ram_fd = memfd_create("iq-sim-ram", MFD_CLOEXEC);
    sim->sh_fd = memfd_create("iq-sim-shared", MFD_CLOEXEC);
    if (sim->ram_fd < 0 || sim->sh_fd < 0 ||
        ftruncate(sim->ram_fd, (off_t)sim->ram_len) < 0 ||
        ftruncate(sim->sh_fd, FX_SHARED_SIZE) < 0) {
        r = -errno;
        goto fail;
    }
    sim->ram = mmap(NULL, sim->ram_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                    sim->ram_fd, 0);
    sim->sh = mmap(NULL, FX_SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                   sim->sh_fd, 0);
    if (sim->ram == MAP_FAILED || sim->sh == MAP_FAILED) {
        r = -errno;
        goto fail;
    }
    sim->sh->fault_map_gfn = ~0ull;

    if (cfg->sock_path != NULL) {
        if (strlen(cfg->sock_path) >= sizeof(sim->path)) {
            r = -ENAMETOOLONG;
            goto fail;
        }
        snprintf(sim->path, sizeof(sim->path), "%s", cfg->sock_path);
    } else {
        const char *tmp = getenv("TMPDIR");

        if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 60) {
            tmp = "/tmp";
        }
        snprintf(sim->dir, sizeof(sim->dir), "%s/iqsim-XXXXXX", tmp);
        if (mkdtemp(sim->dir) == NULL) {
            r = -errno;
            sim->dir[0] = '\0';
            goto fail;
        }
        snprintf(sim->path, sizeof(sim->path), "%s/sock", sim->dir);
    }
    sim->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sim->listen_fd < 0) {
        r = -errno;
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sim->path, strlen(sim->path));
    if (bind(sim->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(sim->listen_fd, 64) < 0) {
        r = -errno;
        goto fail;
    }
    sim->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    sim->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (sim->ep_fd < 0 || sim->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    sim->ep_listen.which = 2;
    sim->ep_wake.which = 3;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &sim->ep_listen;
    epoll_ctl(sim->ep_fd, EPOLL_CTL_ADD, sim->listen_fd, &ev);
    ev.data.ptr = &sim->ep_wake;
    epoll_ctl(sim->ep_fd, EPOLL_CTL_ADD, sim->wake_fd, &ev);

    r = iq_sim_xs_init(sim);
    if (r < 0) {
        goto fail;
    }
    r = -pthread_create(&sim->thread, NULL, server_thread, sim);
    if (r < 0) {
        goto fail;
    }
    sim->thread_started = true;
    *out = sim;
    return 0;

fail:
    iq_sim_destroy(sim);
    return r;
}

void
iq_sim_destroy(struct iq_sim *sim)
{
    unsigned i;
    size_t k;

    if (sim == NULL) {
        return;
    }
    if (sim->thread_started) {
        uint64_t one = 1;

        (void)write(sim->wake_fd, &one, sizeof(one));
        pthread_join(sim->thread, NULL);
    }
    while (sim->conns != NULL) {
        struct sim_conn *c = sim->conns;

        conn_drop(sim, c);
        sim->conns = c->next;
        free(c);
    }
    for (i = 0; i < FX_MAX_SERVERS; i++) {
        server_destroy_locked(sim, i);
    }
    iq_sim_xs_fini(sim);
    for (k = 0; k < sim->ngrave; k++) {
        munmap(sim->grave[k], FX_PAGE);
    }
    free(sim->grave);
    if (sim->listen_fd >= 0) {
        close(sim->listen_fd);
        unlink(sim->path);
    }
    if (sim->dir[0] != '\0') {
        rmdir(sim->dir);
    }
    if (sim->ep_fd >= 0) {
        close(sim->ep_fd);
    }
    if (sim->wake_fd >= 0) {
        close(sim->wake_fd);
    }
    if (sim->ram != MAP_FAILED) {
        munmap(sim->ram, sim->ram_len);
    }
    if (sim->sh != MAP_FAILED) {
        munmap(sim->sh, FX_SHARED_SIZE);
    }
    if (sim->ram_fd >= 0) {
        close(sim->ram_fd);
    }
    if (sim->sh_fd >= 0) {
        close(sim->sh_fd);
    }
    free(sim->vcpu_busy);
    free(sim->rxbuf);
    free(sim->txbuf);
    free(sim->lines);
    free(sim->msis);
    free(sim->grants);
    pthread_cond_destroy(&sim->cond);
    pthread_mutex_destroy(&sim->lock);
    free(sim);
}

const char *
iq_sim_socket_path(const struct iq_sim *sim)
{
    return sim->path;
}

void
iq_sim_export_env(const struct iq_sim *sim)
{
    setenv(IQ_SIM_ENV_SOCK, sim->path, 1);
}

uint16_t
iq_sim_domid(const struct iq_sim *sim)
{
    return sim->cfg.domid;
}

/* ---- guest RAM ----------------------------------------------------------- */

void *
iq_sim_ram(struct iq_sim *sim, uint64_t gpa, size_t len)
{
    uint64_t last;
    int64_t o0;
    int64_t o1;

    if (len == 0) {
        len = 1;
    }
    last = gpa + len - 1;
    if (last < gpa) {
        return NULL;
    }
    o0 = fx_gfn_offset(&sim->lay, gpa / FX_PAGE);
    o1 = fx_gfn_offset(&sim->lay, last / FX_PAGE);
    if (o0 < 0 || o1 < 0 ||
        (uint64_t)(o1 - o0) !=
            last / FX_PAGE * FX_PAGE - gpa / FX_PAGE * FX_PAGE) {
        return NULL;
    }
    if (sim->cfg.arch == IQ_SIM_X86 && gpa < 0x100000 && last >= 0xa0000) {
        return NULL;
    }
    return sim->ram + o0 + (int64_t)(gpa % FX_PAGE);
}

int
iq_sim_ram_read(struct iq_sim *sim, uint64_t gpa, void *buf, size_t len)
{
    void *p = iq_sim_ram(sim, gpa, len);

    if (p == NULL) {
        return -EFAULT;
    }
    memcpy(buf, p, len);
    return 0;
}

int
iq_sim_ram_write(struct iq_sim *sim, uint64_t gpa, const void *buf, size_t len)
{
    void *p = iq_sim_ram(sim, gpa, len);

    if (p == NULL) {
        return -EFAULT;
    }
    memcpy(p, buf, len);
    return 0;
}

/* ---- guest accesses ------------------------------------------------------ */

/*
 * Send `req` to server `sid` (-1: select) on `vcpu` and wait for the answer.
 * Returns 0, 1 when nobody claims it, or -errno.
 */
static int
send_one(struct iq_sim *sim, unsigned vcpu, int sid, struct iq_sim_ioreq *req)
{
    struct sim_server *s;
    struct sim_conn *sc;
    struct ioreq *slot;
    uint32_t gen;
    uint32_t gp;
    uint32_t lp;
    uint32_t *seqw;
    uint8_t flags;
    int64_t deadline;

    pthread_mutex_lock(&sim->lock);
    if (sim->dead) {
        pthread_mutex_unlock(&sim->lock);
        return -ESRCH;
    }
    if (sid < 0) {
        sid = select_server(sim, req->type, req->addr, req->size, req->count,
                            req->df);
    }
    if (sid < 0 || !sim->srv[sid].used || !sim->srv[sid].enabled) {
        pthread_mutex_unlock(&sim->lock);
        return 1;
    }
    s = &sim->srv[sid];
    slot = &s->iopage->vcpu_ioreq[vcpu];
    gp = s->gports[vcpu];
    gen = s->gen;
    /* Xen ioreq_send: refuse a busy slot or a port it did not publish. */
    if ((__atomic_load_n(slot_flags(slot), __ATOMIC_ACQUIRE) & 0xf) !=
            STATE_IOREQ_NONE ||
        __atomic_load_n(&slot->vp_eport, __ATOMIC_RELAXED) != gp) {
        pthread_mutex_unlock(&sim->lock);
        return -EIO;
    }
    slot->addr = req->addr;
    slot->data = req->data;
    slot->count = req->count;
    slot->size = req->size;
    slot->type = req->type;
    flags = (uint8_t)(STATE_IOREQ_NONE | (req->data_is_ptr ? 1u << 4 : 0) |
                      (req->dir_read ? 1u << 5 : 0) | (req->df ? 1u << 6 : 0));
    __atomic_store_n(slot_flags(slot), flags, __ATOMIC_RELAXED);
    __atomic_store_n(slot_flags(slot), (uint8_t)(flags | STATE_IOREQ_READY),
                     __ATOMIC_RELEASE);
    __atomic_add_fetch(&sim->ioreqs_sent, 1, __ATOMIC_RELAXED);
    sc = raise_gport(sim, gp, &lp);
    pthread_mutex_unlock(&sim->lock);
    send_port(sc, lp);

    seqw = &sim->sh->port_seq[gp];
    deadline = now_ns() + (int64_t)sim->cfg.timeout_ms * 1000000;
    for (;;) {
        uint32_t seq = __atomic_load_n(seqw, __ATOMIC_ACQUIRE);
        uint8_t st = __atomic_load_n(slot_flags(slot), __ATOMIC_ACQUIRE) & 0xf;
        int64_t rem;

        if (st == STATE_IORESP_READY) {
            break;
        }
        if (st != STATE_IOREQ_READY && st != STATE_IOREQ_INPROCESS) {
            /* The state went backwards: Xen crashes the domain. */
            return -EIO;
        }
        if (__atomic_load_n(&sim->dead, __ATOMIC_ACQUIRE)) {
            return -ESRCH;
        }
        if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen) {
            return -EIO;
        }
        rem = deadline - now_ns();
        if (rem <= 0) {
            return -ETIMEDOUT;
        }
        (void)iq_fx_futex_wait(seqw, seq, rem);
    }
    req->data = slot->data;
    flags = __atomic_load_n(slot_flags(slot), __ATOMIC_RELAXED);
    __atomic_store_n(slot_flags(slot), (uint8_t)(flags & 0xf0),
                     __ATOMIC_RELEASE);
    return 0;
}

static int
do_access(struct iq_sim *sim, unsigned vcpu, struct iq_sim_ioreq *req)
{
    int ids[FX_MAX_SERVERS];
    int nids = 0;
    int r;
    int i;

    if (req->type == IOREQ_TYPE_INVALIDATE ||
        req->type == IOREQ_TYPE_TIMEOFFSET) {
        pthread_mutex_lock(&sim->lock);
        for (i = (int)FX_MAX_SERVERS - 1; i >= 0; i--) {
            if (sim->srv[i].used && sim->srv[i].enabled &&
                (req->type == IOREQ_TYPE_INVALIDATE ||
                 sim->srv[i].bufioreq != 0)) {
                ids[nids++] = i;
            }
        }
        r = sim->dead ? -ESRCH : 0;
        pthread_mutex_unlock(&sim->lock);
        for (i = 0; i < nids && r == 0; i++) {
            struct iq_sim_ioreq copy = *req;

            r = send_one(sim, vcpu, ids[i], &copy);
            if (r == 1) {
                r = 0;
            }
        }
        return r;
    }
    if (sim->cfg.arch == IQ_SIM_ARM && sim->cfg.arm_unmasked &&
        !req->dir_read && !req->data_is_ptr && req->size < 8) {
        /* Xen 4.17 Arm: the whole source register travels. */
        uint64_t mask = size_ones(req->size);

        req->data = (req->data & mask) | (ARM_WRITE_GARBAGE & ~mask);
    }
    r = send_one(sim, vcpu, -1, req);
    if (r != 1) {
        return r;
    }
    if (sim->cfg.arch == IQ_SIM_ARM) {
        return -EFAULT;
    }
    if (req->dir_read && !req->data_is_ptr) {
        req->data = size_ones(req->size);
    }
    return 0;
}

int
iq_sim_ioreq(struct iq_sim *sim, unsigned vcpu, struct iq_sim_ioreq *req)
{
    int r;

    if (vcpu >= sim->cfg.nr_vcpus) {
        return -EINVAL;
    }
    if (__atomic_exchange_n(&sim->vcpu_busy[vcpu], 1, __ATOMIC_ACQUIRE)) {
        return -EBUSY;
    }
    if (__atomic_load_n(&sim->dead, __ATOMIC_ACQUIRE)) {
        r = -ESRCH;
    } else {
        r = do_access(sim, vcpu, req);
    }
    __atomic_store_n(&sim->vcpu_busy[vcpu], 0, __ATOMIC_RELEASE);
    return r;
}

static int
simple_access(struct iq_sim *sim, unsigned vcpu, uint8_t type, uint64_t addr,
              unsigned size, bool rd, uint64_t *val)
{
    struct iq_sim_ioreq req;
    int r;

    if (!valid_size(size)) {
        return -EINVAL;
    }
    if (type != IOREQ_TYPE_COPY && sim->cfg.arch == IQ_SIM_ARM) {
        return -EOPNOTSUPP;
    }
    memset(&req, 0, sizeof(req));
    req.addr = addr;
    req.data = rd ? 0 : *val;
    req.count = 1;
    req.size = size;
    req.type = type;
    req.dir_read = rd;
    r = iq_sim_ioreq(sim, vcpu, &req);
    if (r == 0 && rd) {
        *val = req.data;
    }
    return r;
}

int
iq_sim_mmio_read(struct iq_sim *sim, unsigned vcpu, uint64_t addr,
                 unsigned size, uint64_t *val)
{
    return simple_access(sim, vcpu, IOREQ_TYPE_COPY, addr, size, true, val);
}

int
iq_sim_mmio_write(struct iq_sim *sim, unsigned vcpu, uint64_t addr,
                  unsigned size, uint64_t val)
{
    return simple_access(sim, vcpu, IOREQ_TYPE_COPY, addr, size, false, &val);
}

int
iq_sim_pio_read(struct iq_sim *sim, unsigned vcpu, uint16_t port, unsigned size,
                uint64_t *val)
{
    return simple_access(sim, vcpu, IOREQ_TYPE_PIO, port, size, true, val);
}

int
iq_sim_pio_write(struct iq_sim *sim, unsigned vcpu, uint16_t port,
                 unsigned size, uint64_t val)
{
    return simple_access(sim, vcpu, IOREQ_TYPE_PIO, port, size, false, &val);
}

int
iq_sim_pci_cfg_read(struct iq_sim *sim, unsigned vcpu, uint32_t sbdf,
                    uint32_t reg, unsigned size, uint64_t *val)
{
    if (size == 8) {
        return -EINVAL;
    }
    return simple_access(sim, vcpu, IOREQ_TYPE_PCI_CONFIG,
                         ((uint64_t)sbdf << 32) | reg, size, true, val);
}

int
iq_sim_pci_cfg_write(struct iq_sim *sim, unsigned vcpu, uint32_t sbdf,
                     uint32_t reg, unsigned size, uint64_t val)
{
    if (size == 8) {
        return -EINVAL;
    }
    return simple_access(sim, vcpu, IOREQ_TYPE_PCI_CONFIG,
                         ((uint64_t)sbdf << 32) | reg, size, false, &val);
}

int
iq_sim_invalidate(struct iq_sim *sim, unsigned vcpu)
{
    struct iq_sim_ioreq req;

    memset(&req, 0, sizeof(req));
    req.type = IOREQ_TYPE_INVALIDATE;
    req.size = 4;
    req.count = 1;
    req.data = ~0ull;
    return iq_sim_ioreq(sim, vcpu, &req);
}

/* ---- buffered ioreqs (x86) ---------------------------------------------- */

int
iq_sim_buffered_write(struct iq_sim *sim, uint8_t type, uint64_t addr,
                      unsigned size, uint64_t val)
{
    buffered_iopage_t *pg;
    struct sim_server *s;
    struct sim_conn *sc;
    buf_ioreq_t bp;
    uint32_t lp;
    uint32_t *rdp;
    uint32_t *wrp;
    uint32_t rp;
    uint32_t wp;
    unsigned qw = size == 8;
    int sid;

    if (sim->cfg.arch != IQ_SIM_X86) {
        return -EOPNOTSUPP;
    }
    if (!valid_size(size) || addr >= (1u << 20)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&sim->lock);
    if (sim->dead) {
        pthread_mutex_unlock(&sim->lock);
        return -ESRCH;
    }
    sid = select_server(sim, type, addr, size, 1, false);
    if (sid < 0 || sim->srv[sid].bufpage == NULL) {
        pthread_mutex_unlock(&sim->lock);
        return -ENOENT;
    }
    s = &sim->srv[sid];
    pg = s->bufpage;
    rdp = &pg->read_pointer;
    wrp = &pg->write_pointer;
    rp = __atomic_load_n(rdp, __ATOMIC_ACQUIRE);
    wp = __atomic_load_n(wrp, __ATOMIC_RELAXED);
    if (wp - rp >= IOREQ_BUFFER_SLOT_NUM - qw) {
        pthread_mutex_unlock(&sim->lock);
        return -ENOSPC;
    }
    memset(&bp, 0, sizeof(bp));
    bp.type = type;
    bp.dir = IOREQ_WRITE;
    bp.size = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
    bp.addr = (uint32_t)addr & 0xfffff;
    bp.data = (uint32_t)val;
    memcpy(&pg->buf_ioreq[wp % IOREQ_BUFFER_SLOT_NUM], &bp, sizeof(bp));
    if (qw) {
        bp.data = (uint32_t)(val >> 32);
        memcpy(&pg->buf_ioreq[(wp + 1) % IOREQ_BUFFER_SLOT_NUM], &bp,
               sizeof(bp));
    }
    /* Slots before the pointer (Xen: smp_wmb). */
    __atomic_store_n(wrp, wp + 1 + qw, __ATOMIC_RELEASE);
    if (s->bufioreq == HVM_IOREQSRV_BUFIOREQ_ATOMIC) {
        uint64_t *full = (uint64_t *)(void *)pg;
        uint64_t old = __atomic_load_n(full, __ATOMIC_ACQUIRE);
        uint32_t orp = (uint32_t)old;
        uint32_t owp = (uint32_t)(old >> 32);

        if (orp >= IOREQ_BUFFER_SLOT_NUM) {
            uint32_t n = orp / IOREQ_BUFFER_SLOT_NUM * IOREQ_BUFFER_SLOT_NUM;
            uint64_t nw = (uint64_t)(orp - n) | ((uint64_t)(owp - n) << 32);

            /* One attempt, like Xen: a racing reader retries next time. */
            (void)__atomic_compare_exchange_n(
                full, &old, nw, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        }
    }
    sim->ioreqs_buffered++;
    sc = raise_gport(sim, s->buf_gport, &lp);
    pthread_mutex_unlock(&sim->lock);
    send_port(sc, lp);
    return 0;
}

int
iq_sim_buffered_drain(struct iq_sim *sim)
{
    int64_t deadline = now_ns() + (int64_t)sim->cfg.timeout_ms * 1000000;

    for (;;) {
        bool empty = true;
        unsigned i;

        pthread_mutex_lock(&sim->lock);
        for (i = 0; i < FX_MAX_SERVERS; i++) {
            buffered_iopage_t *pg = sim->srv[i].bufpage;

            if (sim->srv[i].used && pg != NULL &&
                __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE) !=
                    __atomic_load_n(&pg->write_pointer, __ATOMIC_ACQUIRE)) {
                empty = false;
            }
        }
        pthread_mutex_unlock(&sim->lock);
        if (empty) {
            return 0;
        }
        if (now_ns() >= deadline) {
            return -ETIMEDOUT;
        }
        /* Test synchronisation only, not the ioreq path. */
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

int
iq_sim_buffered_set_pointers(struct iq_sim *sim, uint32_t ptr)
{
    int r = -ENOENT;
    unsigned i;

    pthread_mutex_lock(&sim->lock);
    for (i = 0; i < FX_MAX_SERVERS; i++) {
        buffered_iopage_t *pg = sim->srv[i].bufpage;

        if (sim->srv[i].used && pg != NULL) {
            uint64_t v = (uint64_t)ptr | ((uint64_t)ptr << 32);

            __atomic_store_n((uint64_t *)(void *)pg, v, __ATOMIC_RELEASE);
            r = 0;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return r;
}

/* ---- interrupts ---------------------------------------------------------- */

uint64_t
iq_sim_irq_edges(struct iq_sim *sim, uint32_t line)
{
    struct sim_line *l;
    uint64_t v;

    pthread_mutex_lock(&sim->lock);
    l = line_get(sim, line, false);
    v = l != NULL ? l->edges : 0;
    pthread_mutex_unlock(&sim->lock);
    return v;
}

unsigned
iq_sim_irq_level(struct iq_sim *sim, uint32_t line)
{
    struct sim_line *l;
    unsigned v;

    pthread_mutex_lock(&sim->lock);
    l = line_get(sim, line, false);
    v = l != NULL ? l->level : 0;
    pthread_mutex_unlock(&sim->lock);
    return v;
}

int
iq_sim_irq_wait(struct iq_sim *sim, uint32_t line, uint64_t after,
                unsigned timeout_ms)
{
    struct timespec ts;
    int r = 0;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sim->lock);
    for (;;) {
        struct sim_line *l = line_get(sim, line, false);

        if (l != NULL && l->edges > after) {
            break;
        }
        if (pthread_cond_timedwait(&sim->cond, &sim->lock, &ts) == ETIMEDOUT) {
            l = line_get(sim, line, false);
            r = l != NULL && l->edges > after ? 0 : -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return r;
}

uint64_t
iq_sim_msi_count(struct iq_sim *sim, uint64_t addr, uint32_t data)
{
    uint64_t v = 0;
    size_t i;

    pthread_mutex_lock(&sim->lock);
    for (i = 0; i < sim->nmsis; i++) {
        if (sim->msis[i].addr == addr && sim->msis[i].data == data) {
            v = sim->msis[i].count;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return v;
}

/* ---- grants -------------------------------------------------------------- */

int
iq_sim_grant(struct iq_sim *sim, uint32_t ref, uint64_t gfn, bool readonly)
{
    if (ref >= (1u << 20) || fx_gfn_offset(&sim->lay, gfn) < 0) {
        return -EINVAL;
    }
    pthread_mutex_lock(&sim->lock);
    if (ref >= sim->ngrants) {
        size_t n = (size_t)ref + 64;
        void *g = realloc(sim->grants, n * sizeof(*sim->grants));

        if (g == NULL) {
            pthread_mutex_unlock(&sim->lock);
            return -ENOMEM;
        }
        sim->grants = g;
        memset(&sim->grants[sim->ngrants], 0,
               (n - sim->ngrants) * sizeof(*sim->grants));
        sim->ngrants = n;
    }
    sim->grants[ref].gfn = gfn;
    sim->grants[ref].readonly = readonly;
    sim->grants[ref].valid = true;
    pthread_mutex_unlock(&sim->lock);
    return 0;
}

int
iq_sim_grant_revoke(struct iq_sim *sim, uint32_t ref)
{
    int r = -ENOENT;

    pthread_mutex_lock(&sim->lock);
    if (ref < sim->ngrants && sim->grants[ref].valid) {
        sim->grants[ref].valid = false;
        r = 0;
    }
    pthread_mutex_unlock(&sim->lock);
    return r;
}

/* ---- lifecycle of the domain, faults, counters --------------------------- */

void
iq_sim_domain_destroy(struct iq_sim *sim)
{
    char path[64];
    unsigned i;
    uint32_t gp;

    pthread_mutex_lock(&sim->lock);
    if (sim->dead) {
        pthread_mutex_unlock(&sim->lock);
        return;
    }
    __atomic_store_n(&sim->dead, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&sim->sh->dead, 1, __ATOMIC_RELEASE);
    for (i = 0; i < FX_MAX_SERVERS; i++) {
        server_destroy_locked(sim, i);
    }
    for (gp = 1; gp < FX_MAX_PORTS; gp++) {
        wake_gport(sim, gp);
    }
    snprintf(path, sizeof(path), "/local/domain/%u", (unsigned)sim->cfg.domid);
    (void)iq_sim_xs_rm_locked(sim, path);
    iq_sim_xs_fire_special(sim, "@releaseDomain");
    pthread_cond_broadcast(&sim->cond);
    pthread_mutex_unlock(&sim->lock);
}

void
iq_sim_domain_dying(struct iq_sim *sim)
{
    char path[64];

    pthread_mutex_lock(&sim->lock);
    snprintf(path, sizeof(path), "/local/domain/%u", (unsigned)sim->cfg.domid);
    (void)iq_sim_xs_rm_locked(sim, path);
    iq_sim_xs_fire_special(sim, "@releaseDomain");
    pthread_mutex_unlock(&sim->lock);
}

void
iq_sim_fault(struct iq_sim *sim, enum iq_sim_fault f, uint64_t arg)
{
    uint64_t *p = NULL;

    switch (f) {
    case IQ_SIM_FAULT_MAP_FAIL:
        p = &sim->sh->fault_map_fail;
        break;
    case IQ_SIM_FAULT_MAP_GFN:
        p = &sim->sh->fault_map_gfn;
        break;
    case IQ_SIM_FAULT_EVTCHN:
        p = &sim->sh->fault_evtchn;
        break;
    case IQ_SIM_FAULT_DMOP:
        p = &sim->sh->fault_dmop;
        break;
    case IQ_SIM_FAULT_RESOURCE:
        p = &sim->sh->fault_resource;
        break;
    }
    if (p != NULL) {
        __atomic_store_n(p, arg, __ATOMIC_RELEASE);
    }
}

void
iq_sim_counters(struct iq_sim *sim, struct iq_sim_counters *c)
{
    struct fx_shared *sh = sim->sh;
    unsigned i;
    uint32_t lp;

    memset(c, 0, sizeof(*c));
    c->foreign_map_calls =
        __atomic_load_n(&sh->foreign_map_calls, __ATOMIC_ACQUIRE);
    c->foreign_unmap_calls =
        __atomic_load_n(&sh->foreign_unmap_calls, __ATOMIC_ACQUIRE);
    c->foreign_pages_now =
        __atomic_load_n(&sh->foreign_pages_now, __ATOMIC_ACQUIRE);
    c->foreign_pages_peak =
        __atomic_load_n(&sh->foreign_pages_peak, __ATOMIC_ACQUIRE);
    c->resource_maps_now =
        __atomic_load_n(&sh->resource_maps_now, __ATOMIC_ACQUIRE);
    c->grant_map_calls =
        __atomic_load_n(&sh->grant_map_calls, __ATOMIC_ACQUIRE);
    c->grant_pages_now =
        __atomic_load_n(&sh->grant_pages_now, __ATOMIC_ACQUIRE);
    c->evtchn_notify_calls =
        __atomic_load_n(&sh->evtchn_notify_calls, __ATOMIC_ACQUIRE);
    c->ioreqs_sent = __atomic_load_n(&sim->ioreqs_sent, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&sim->lock);
    for (i = 0; i < FX_MAX_SERVERS; i++) {
        if (sim->srv[i].used) {
            c->servers_now++;
            c->ranges_now += sim->srv[i].nranges;
            if (sim->srv[i].enabled) {
                c->servers_enabled_now++;
            }
        }
    }
    for (lp = 1; lp < FX_MAX_PORTS; lp++) {
        if (sim->lport[lp].conn != NULL) {
            c->evtchn_bound_now++;
        }
    }
    c->dm_op_calls = sim->dm_op_calls;
    c->irq_calls = sim->irq_calls;
    c->restrict_calls = sim->restrict_calls;
    c->ioreqs_buffered = sim->ioreqs_buffered;
    c->handles_open = sim->handles_open;
    pthread_mutex_unlock(&sim->lock);
}
