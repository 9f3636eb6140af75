/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user protocol (frontend side): wire constants, the message codec and
 * the reply validator. Internal to vhost-bridge/ (and its tests/fuzzer).
 *
 * Facts from the vhost-user specification (qemu docs/interop/vhost-user.rst):
 * every message is a 12-byte header {request u32, flags u32, size u32} in
 * host byte order followed by `size` payload bytes; flags carry the version
 * (1) in bits 0..1, REPLY (0x4) and NEED_REPLY (0x8). File descriptors ride
 * along as SCM_RIGHTS ancillary data of the same sendmsg.
 *
 * The daemon is as untrusted as the guest: iq_vu_reply_parse() accepts a reply
 * only if it is exactly the answer to the request we sent (same request
 * code, REPLY set, version 1, a payload size that request allows) and every
 * field in it agrees with what we asked.
 */
#ifndef IQ_VHOST_BRIDGE_VU_PROTO_H
#define IQ_VHOST_BRIDGE_VU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioreqd/compiler.h"
#include "ioreqd/log.h"

/* Frontend requests. */
enum {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_SET_MEM_TABLE = 5,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
};

#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u

#define VU_HDR_SIZE 12u
/* Largest payload we ever send or accept (GET/SET_CONFIG: 12 + 256). */
#define VU_MAX_CONFIG 256u
#define VU_MAX_PAYLOAD 512u
/* SET_MEM_TABLE: at most 8 regions, one fd each. */
#define VU_MAX_REGIONS 8u
#define VU_MAX_FDS 8u

/* Feature bit saying GET/SET_PROTOCOL_FEATURES exist. */
#define VU_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VU_PF_MQ 0
#define VU_PF_REPLY_ACK 3
#define VU_PF_CONFIG 9
#define VU_PF_XEN_MMAP 17

/*
 * What we implement, and so the most we ever enable. Everything else a
 * daemon offers is masked (offering e.g. INFLIGHT_SHMFD and not using it
 * makes libvhost-user daemons fail later).
 */
#define VU_PF_IMPLEMENTED \
    ((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) | \
     (1ull << VU_PF_XEN_MMAP))

/*
 * VHOST_USER_PROTOCOL_F_XEN_MMAP region flags. FOREIGN and GRANT are
 * agreed on. The "cannot be mapped in advance" flag is not: the
 * specification text says "bit 8" (0x100) while rust-vmm's vm-memory uses
 * 0x8 (xen-reference.md section 5.2). ioreqd sends FOREIGN only, every
 * region mapped in advance, so neither value is ever put on the wire; both
 * are named here so that the conflict stays visible if that changes.
 */
#define VU_XEN_MMAP_FOREIGN 0x1u
#define VU_XEN_MMAP_GRANT 0x2u
#define VU_XEN_MMAP_NO_ADVANCE_SPEC 0x100u
#define VU_XEN_MMAP_NO_ADVANCE_VM_MEMORY 0x8u

/* SET_VRING_KICK/CALL/ERR payload: index in bits 0..7, bit 8 = no fd. */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD 0x100u

struct vu_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
};

struct vu_vring_state {
    uint32_t index;
    uint32_t num;
};

struct vu_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc;
    uint64_t used;
    uint64_t avail;
    uint64_t log;
};

/* One region of SET_MEM_TABLE; the Xen fields only with XEN_MMAP. */
struct vu_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uaddr;
    uint64_t mmap_offset;
    uint32_t xen_flags;
    uint32_t xen_domid;
};

/* A message to send: header + payload bytes (already encoded). */
struct vu_msg {
    struct vu_hdr hdr;
    uint8_t payload[VU_MAX_PAYLOAD];
};

/*
 * Restrict a /dev/xen/privcmd fd to `domid` (privcmd's RESTRICT ioctl,
 * mem.c) before a daemon gets it: afterwards it can map only that
 * domain's memory and issue no arbitrary hypercall. 0 or -errno.
 */
IQ_MUST_CHECK int iq_vhost_privcmd_restrict(int fd, uint16_t domid);

/* ---- encoders (vu-msg.c): fill *m ---------------------------------------- */

void iq_vu_enc_none(struct vu_msg *m, uint32_t req);
void iq_vu_enc_u64(struct vu_msg *m, uint32_t req, uint64_t v);
void iq_vu_enc_state(struct vu_msg *m, uint32_t req, uint32_t index,
                     uint32_t num);
void iq_vu_enc_addr(struct vu_msg *m, const struct vu_vring_addr *a);
/* `xen`: the 40-byte XEN_MMAP region layout instead of 32 bytes. */
IQ_MUST_CHECK int iq_vu_enc_mem_table(struct vu_msg *m,
                                      const struct vu_region *r, unsigned n,
                                      bool xen);
IQ_MUST_CHECK int iq_vu_enc_config(struct vu_msg *m, uint32_t req,
                                   uint32_t offset, const void *buf,
                                   uint32_t size);

/* ---- reply validation ------------------------------------------------------
 */

/* What a request's reply carries once validated. */
struct vu_reply {
    uint64_t u64; /* GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, ack */
    struct vu_vring_state state; /* GET_VRING_BASE */
    uint32_t config_size; /* GET_CONFIG: bytes in config[] */
    uint8_t config[VU_MAX_CONFIG];
};

/* What we expect: the request sent and, where it matters, its arguments. */
struct vu_expect {
    uint32_t request;
    uint32_t index; /* GET_VRING_BASE: the vring asked about */
    uint32_t config_offset; /* GET_CONFIG */
    uint32_t config_size;
    bool ack; /* a REPLY_ACK to a NEED_REPLY request: one u64 */
};

/*
 * Check a reply header against what we sent. Returns 0 and sets
 * *payload_len (at most VU_MAX_PAYLOAD) or -EPROTO with *why set to a
 * static description.
 */
IQ_MUST_CHECK int iq_vu_reply_check_hdr(const struct vu_hdr *h,
                                        const struct vu_expect *e,
                                        uint32_t *payload_len,
                                        const char **why);

/*
 * Parse one complete reply (header + payload) from `buf`. Returns 0 with
 * *out filled and *consumed set, -EAGAIN if `len` is too short for the
 * header or the announced payload, -EPROTO (with *why) for anything not
 * exactly the reply to `e`. Pure: no I/O, no allocation.
 */
IQ_MUST_CHECK int iq_vu_reply_parse(const uint8_t *buf, size_t len,
                                    const struct vu_expect *e,
                                    struct vu_reply *out, size_t *consumed,
                                    const char **why);

/* Name of a request for messages ("GET_FEATURES"), "?" when unknown. */
const char *iq_vu_req_name(uint32_t req);
/* Name of a protocol feature bit ("XEN_MMAP"), "?" when unknown. */
const char *iq_vu_pf_name(unsigned bit);

/* ---- connection (vu-conn.c) -------------------------------------------------
 *
 * Synchronous request/reply on the loop thread, each wait bounded by
 * `timeout_ms`: a daemon that does not answer costs at most that long and
 * is then treated as dead. Any error leaves the connection unusable
 * (iq_vu_conn_broken()): the stream may be out of step.
 */
struct vu_conn {
    int fd;
    unsigned timeout_ms;
    uint64_t features; /* the daemon's GET_FEATURES */
    uint64_t pfeatures; /* protocol features enabled (masked) */
    uint64_t offered_pf; /* protocol features the daemon offered */
    bool broken;
    const char *why; /* last protocol error */
    char ctx[48];
    struct iq_ratelimit rl; /* refusals: the guest can repeat their cause */
    /*
     * Inside an operation (iq_vu_conn_op_begin): the deadline every wait
     * of its exchanges shares, CLOCK_MONOTONIC ms; 0 outside.
     */
    int64_t op_deadline;
};

void iq_vu_conn_init(struct vu_conn *c, const char *ctx, unsigned timeout_ms);
/*
 * Bracket one guest-triggered operation (device start, reset, reconnect):
 * all its exchanges together wait at most `timeout_ms`, so a daemon that
 * answers each request just in time cannot hold the loop thread for
 * (number of exchanges) x timeout. Not nested.
 */
void iq_vu_conn_op_begin(struct vu_conn *c);
void iq_vu_conn_op_end(struct vu_conn *c);
/* Connect to the daemon's socket. 0 or -errno. */
IQ_MUST_CHECK int iq_vu_conn_connect(struct vu_conn *c, const char *path);
/* Adopt an already connected socket (tests). */
void iq_vu_conn_adopt(struct vu_conn *c, int fd);
void iq_vu_conn_close(struct vu_conn *c);
static inline bool
iq_vu_conn_broken(const struct vu_conn *c)
{
    return c->fd < 0 || c->broken;
}

/*
 * Send `m` with `nfds` fds. When REPLY_ACK is enabled and the request has
 * no reply of its own, NEED_REPLY is set and the ack awaited: a non-zero
 * ack is -EIO. 0 or -errno (-EPROTO: bad reply, -ETIMEDOUT, -EPIPE).
 */
IQ_MUST_CHECK int iq_vu_conn_send(struct vu_conn *c, struct vu_msg *m,
                                  const int *fds, unsigned nfds);
/* Send `m` and read its reply (GET_* requests). */
IQ_MUST_CHECK int iq_vu_conn_call(struct vu_conn *c, struct vu_msg *m,
                                  const struct vu_expect *e,
                                  struct vu_reply *r);

/*
 * The opening handshake: GET_FEATURES (VERSION_1 required),
 * GET/SET_PROTOCOL_FEATURES (enabled = offered & `want_pf`), SET_OWNER.
 */
IQ_MUST_CHECK int iq_vu_conn_handshake(struct vu_conn *c, uint64_t want_pf);

#endif /* IQ_VHOST_BRIDGE_VU_PROTO_H */
