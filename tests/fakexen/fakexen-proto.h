/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake Xen: private wire protocol between the simulator (iq-sim.c) and the
 * fake Xen libraries (fx-*.c). Not part of any public API.
 *
 * Every fake-library handle owns one SOCK_SEQPACKET connection to the
 * simulator. The first message is FX_OP_HELLO; its reply carries the guest
 * layout and, as SCM_RIGHTS, the shared counters page, plus per kind the
 * guest RAM memfd (foreignmemory, gnttab), the client end of the event
 * channel socketpair (evtchn) or of the watch-event socketpair (xenstore).
 * Later requests are one struct fx_msg plus an optional payload; replies
 * likewise (ret = 0 or -errno). Closing a handle sends FX_OP_BYE and waits
 * for the reply, so the simulator's counters are exact when close returns;
 * a client that dies is cleaned up when its socket hangs up.
 *
 * Event channels in the fast path do not use the control connection:
 *  - simulator -> client: a 4-byte local port on the evtchn socketpair,
 *    at most one in flight per port (pending/masked state in
 *    fx_shared.evstate, like the Linux evtchn driver: a delivered port stays
 *    masked until xenevtchn_unmask; unmasking a port raised meanwhile
 *    writes the port back on the socketpair and the simulator re-delivers);
 *  - client -> simulator: xenevtchn_notify bumps the futex word
 *    fx_shared.port_seq[guest port] and wakes it (one syscall); the vCPU
 *    thread waits on that word.
 */
#ifndef IQ_TESTS_FAKEXEN_PROTO_H
#define IQ_TESTS_FAKEXEN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_PAGE 4096u
#define FX_MAX_PORTS 4096u
#define FX_MAX_SERVERS 8u
#define FX_MAX_VCPUS 128u
#define FX_MAX_PAYLOAD 65536u
#define FX_MAX_FDS 4
#define FX_MAX_GRANT_REFS 4096u

/* Event channel state word bits (fx_shared.evstate[local port]). */
#define FX_EV_PENDING 1u
#define FX_EV_MASKED 2u

enum fx_kind {
    FX_KIND_DMOD = 1,
    FX_KIND_FMEM,
    FX_KIND_EVTCHN,
    FX_KIND_GNT,
    FX_KIND_XS,
    FX_KIND_TOOLCORE,
};

enum fx_op {
    FX_OP_HELLO = 1,
    /* devicemodel: a[0] = domid, then per op */
    FX_OP_DM_CREATE, /* a1 bufioreq -> a0 id */
    FX_OP_DM_DESTROY, /* a1 id */
    FX_OP_DM_GET_INFO, /* a1 id, a2 want gfns -> a0 bufport */
    FX_OP_DM_MAP_RANGE, /* a1 id, a2 type, a3 start, a4 end */
    FX_OP_DM_UNMAP_RANGE, /* same */
    FX_OP_DM_SET_STATE, /* a1 id, a2 enabled */
    FX_OP_DM_NR_VCPUS, /* -> a0 */
    FX_OP_DM_IRQ_LEVEL, /* a1 irq, a2 level */
    FX_OP_DM_ISA_LEVEL, /* a1 irq, a2 level */
    FX_OP_DM_INTX_LEVEL, /* a1 sbdf, a2 intx, a3 level */
    FX_OP_DM_MSI, /* a1 addr, a2 data */
    /* foreignmemory */
    FX_OP_RES_MAP, /* a0 domid, a1 id, a2 frame, a3 nr -> fds */
    FX_OP_RES_SIZE, /* a0 domid, a1 id -> a0 bytes */
    /* evtchn */
    FX_OP_EV_BIND, /* a0 domid, a1 remote -> a0 local */
    FX_OP_EV_UNBIND, /* a1 local */
    /* gnttab: payload = refs (uint32 each), a0 domid, a1 count, a2 write */
    FX_OP_GNT_MAP, /* -> payload gfns (uint64 each) */
    /* xenstore: payload = path '\0' [value] ; a1 = value length */
    FX_OP_XS_READ,
    FX_OP_XS_WRITE,
    FX_OP_XS_MKDIR,
    FX_OP_XS_RM,
    FX_OP_XS_DIR,
    FX_OP_XS_WATCH, /* payload = path '\0' token '\0' */
    FX_OP_XS_UNWATCH,
    /* toolcore */
    FX_OP_RESTRICT_ALL, /* a0 domid */
    /* any kind: the handle closes (so counters drop before close returns) */
    FX_OP_BYE,
};

struct fx_msg {
    uint32_t op;
    int32_t ret;
    uint32_t len; /* payload bytes following this header */
    uint32_t nfds;
    uint64_t a[6];
};

struct fx_layout {
    uint32_t arch; /* enum iq_sim_arch */
    uint32_t domid;
    uint32_t nr_vcpus;
    uint32_t pad;
    uint64_t ram0_size;
    uint64_t ram1_size;
};

/*
 * The shared page(s). Counters written by clients with __atomic builtins;
 * faults decremented by whoever consumes them.
 */
struct fx_shared {
    uint64_t foreign_map_calls;
    uint64_t foreign_unmap_calls;
    uint64_t foreign_pages_now;
    uint64_t foreign_pages_peak;
    uint64_t resource_maps_now;
    uint64_t grant_map_calls;
    uint64_t grant_pages_now;
    uint64_t evtchn_notify_calls;
    uint64_t fault_map_fail;
    uint64_t fault_map_gfn; /* ~0: none */
    uint64_t fault_evtchn;
    uint64_t fault_dmop;
    uint64_t fault_resource;
    uint32_t dead; /* domain destroyed */
    uint32_t pad;
    uint32_t port_seq[FX_MAX_PORTS]; /* futex words, by guest port */
    uint32_t evstate[FX_MAX_PORTS]; /* FX_EV_*, by local port */
};

#define FX_SHARED_SIZE \
    ((sizeof(struct fx_shared) + FX_PAGE - 1) / FX_PAGE * FX_PAGE)

/*
 * Guest physical layout -> offset in the RAM memfd (see iq-sim.h), or -1
 * when `gfn` is a hole.
 */
static inline int64_t
fx_gfn_offset(const struct fx_layout *l, uint64_t gfn)
{
    uint64_t gpa;

    if (gfn >= (1ull << 52) / FX_PAGE) {
        return -1;
    }
    gpa = gfn * FX_PAGE;
    if (l->arch == 0) {
        if (gpa >= 0x40000000ull && gpa - 0x40000000ull < l->ram0_size) {
            return (int64_t)(gpa - 0x40000000ull);
        }
        if (gpa >= 0x200000000ull && gpa - 0x200000000ull < l->ram1_size) {
            return (int64_t)(l->ram0_size + gpa - 0x200000000ull);
        }
        return -1;
    }
    if (gpa < l->ram0_size && !(gpa >= 0xa0000 && gpa < 0x100000)) {
        return (int64_t)gpa;
    }
    if (gpa >= 0x100000000ull && gpa - 0x100000000ull < l->ram1_size) {
        return (int64_t)(l->ram0_size + gpa - 0x100000000ull);
    }
    return -1;
}

/* Take one unit of a fault budget; true when this call must fail. */
static inline bool
fx_fault_take(uint64_t *budget)
{
    uint64_t v = __atomic_load_n(budget, __ATOMIC_ACQUIRE);

    while (v != 0) {
        if (__atomic_compare_exchange_n(budget, &v, v - 1, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            return true;
        }
    }
    return false;
}

/* ---- client helper (fx-client.c, linked into each fake library) ------- */

struct fx_conn {
    int fd;
    int pad;
    struct fx_shared *sh;
    struct fx_layout lay;
    void *lock; /* pthread_mutex_t, allocated */
};

/*
 * Connect to $IQ_FAKEXEN_SOCK as `kind`. Extra fds of the HELLO reply go to
 * fds[0..*nfds). Returns 0, or -1 with errno set.
 */
int iq_fx_conn_open(struct fx_conn *c, enum fx_kind kind, int *fds, int *nfds);
void iq_fx_conn_close(struct fx_conn *c);
/*
 * One request/reply. Returns the reply's ret (0 or -errno; transport
 * errors become -EIO). Received fds are stored in fds (up to *nfds in,
 * count out), reply payload in rbuf (rcap bytes; *rlen its length).
 */
int iq_fx_call(struct fx_conn *c, struct fx_msg *m, const void *payload,
               size_t plen, void *rbuf, size_t rcap, size_t *rlen, int *fds,
               int *nfds);
/* fx_call without payloads; returns 0 or -1 with errno set. */
int iq_fx_call_simple(struct fx_conn *c, struct fx_msg *m);
/*
 * iq_fx_conn_open for a handle whose HELLO reply carries one fd (stored in
 * *fd). Returns 0, or -1 with errno set (EPROTO: no fd) and nothing open.
 */
int iq_fx_conn_open_fd(struct fx_conn *c, enum fx_kind kind, int *fd);
/* A failed xxx_open: free the half-built handle `h`, keep errno; NULL. */
void *iq_fx_open_failed(void *h);
/*
 * xxx_restrict of a handle: the first call pins it to `domid`; another
 * domid later fails with EPERM (-1). Returns 0 or -1.
 */
int iq_fx_restrict(bool *restricted, uint16_t *rdomid, uint16_t domid);
/* The handle that contains `ptr`, its member `member` of type `type`. */
#define FX_CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
/* Low-level message helpers shared with the simulator. */
int iq_fx_sendmsg(int fd, const struct fx_msg *m, const void *payload,
                  size_t plen, const int *fds, int nfds);
/* Returns bytes received, 0 on EOF, -errno on error. */
long iq_fx_recvmsg(int fd, void *buf, size_t cap, int *fds, int *nfds);
void iq_fx_futex_wake(uint32_t *word);
/* 0 woken/changed, -ETIMEDOUT, -EINTR; timeout_ns < 0: forever. */
int iq_fx_futex_wait(uint32_t *word, uint32_t expect, int64_t timeout_ns);

/* ---- fake libxentoolcore internal interface ------------------------------ */

/*
 * Each fake library registers its handles with the fake libxentoolcore so
 * that xentoolcore_restrict_all can restrict them, as the real libraries
 * do. The layout is ours (the real one is not an installed header).
 */
struct fx_active_handle;
typedef int fx_restrict_cb(struct fx_active_handle *ah, uint16_t domid);
struct fx_active_handle {
    fx_restrict_cb *restrict_callback;
    struct fx_active_handle *next;
    struct fx_active_handle *prev;
};
void xentoolcore__register_active_handle(struct fx_active_handle *ah);
void xentoolcore__deregister_active_handle(struct fx_active_handle *ah);
int xentoolcore__restrict_by_dup2_null(int fd);

#endif /* IQ_TESTS_FAKEXEN_PROTO_H */
