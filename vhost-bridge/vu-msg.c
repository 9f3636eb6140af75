/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user message codec: encoders for the requests the bridge sends and
 * the validator for every reply a daemon sends back. Pure functions.
 */
#include <errno.h>
#include <string.h>

#include "vu-proto.h"

static void
put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void
put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint32_t
get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static void
hdr_init(struct vu_msg *m, uint32_t req, uint32_t size)
{
    m->hdr.request = req;
    m->hdr.flags = VU_FLAG_VERSION;
    m->hdr.size = size;
}

void
iq_vu_enc_none(struct vu_msg *m, uint32_t req)
{
    hdr_init(m, req, 0);
}

void
iq_vu_enc_u64(struct vu_msg *m, uint32_t req, uint64_t v)
{
    hdr_init(m, req, 8);
    put64(m->payload, v);
}

void
iq_vu_enc_state(struct vu_msg *m, uint32_t req, uint32_t index, uint32_t num)
{
    hdr_init(m, req, 8);
    put32(m->payload, index);
    put32(m->payload + 4, num);
}

void
iq_vu_enc_addr(struct vu_msg *m, const struct vu_vring_addr *a)
{
    hdr_init(m, VU_SET_VRING_ADDR, 40);
    put32(m->payload, a->index);
    put32(m->payload + 4, a->flags);
    put64(m->payload + 8, a->desc);
    put64(m->payload + 16, a->used);
    put64(m->payload + 24, a->avail);
    put64(m->payload + 32, a->log);
}

int
iq_vu_enc_mem_table(struct vu_msg *m, const struct vu_region *r, unsigned n,
                    bool xen)
{
    size_t rsize = xen ? 40 : 32;
    uint8_t *p;

    if (n == 0 || n > VU_MAX_REGIONS) {
        return -EINVAL;
    }
    /* {num_regions u32, padding u32, regions[n]} */
    hdr_init(m, VU_SET_MEM_TABLE, (uint32_t)(8 + rsize * n));
    put32(m->payload, n);
    put32(m->payload + 4, 0);
    p = m->payload + 8;
    for (unsigned i = 0; i < n; i++) {
        put64(p, r[i].gpa);
        put64(p + 8, r[i].size);
        put64(p + 16, r[i].uaddr);
        put64(p + 24, r[i].mmap_offset);
        if (xen) {
            put32(p + 32, r[i].xen_flags);
            put32(p + 36, r[i].xen_domid);
        }
        p += rsize;
    }
    return 0;
}

int
iq_vu_enc_config(struct vu_msg *m, uint32_t req, uint32_t offset,
                 const void *buf, uint32_t size)
{
    if (size > VU_MAX_CONFIG ||
        (req != VU_GET_CONFIG && req != VU_SET_CONFIG)) {
        return -EINVAL;
    }
    /* {offset u32, size u32, flags u32, payload[size]} */
    hdr_init(m, req, 12 + size);
    put32(m->payload, offset);
    put32(m->payload + 4, size);
    put32(m->payload + 8, 0);
    if (buf != NULL) {
        memcpy(m->payload + 12, buf, size);
    } else {
        memset(m->payload + 12, 0, size);
    }
    return 0;
}

/* Exact payload size the reply to `e` must have. */
static uint32_t
expected_size(const struct vu_expect *e)
{
    if (e->ack) {
        return 8;
    }
    switch (e->request) {
    case VU_GET_FEATURES:
    case VU_GET_PROTOCOL_FEATURES:
    case VU_GET_QUEUE_NUM:
    case VU_GET_VRING_BASE:
        return 8;
    case VU_GET_CONFIG:
        return 12 + e->config_size;
    default:
        return UINT32_MAX; /* no reply expected at all */
    }
}

int
iq_vu_reply_check_hdr(const struct vu_hdr *h, const struct vu_expect *e,
                      uint32_t *payload_len, const char **why)
{
    uint32_t want = expected_size(e);

    *payload_len = 0;
    if (want == UINT32_MAX ||
        (e->request == VU_GET_CONFIG && e->config_size > VU_MAX_CONFIG)) {
        *why = "no reply expected for this request";
        return -EPROTO;
    }
    if ((h->flags & VU_FLAG_VERSION_MASK) != VU_FLAG_VERSION) {
        *why = "bad protocol version in reply";
        return -EPROTO;
    }
    if (!(h->flags & VU_FLAG_REPLY)) {
        *why = "message without the REPLY flag";
        return -EPROTO;
    }
    if (h->flags & ~(VU_FLAG_VERSION_MASK | VU_FLAG_REPLY)) {
        *why = "unknown flags in reply";
        return -EPROTO;
    }
    if (h->request != e->request) {
        *why = "reply to a different request (out of order)";
        return -EPROTO;
    }
    if (h->size > VU_MAX_PAYLOAD) {
        *why = "oversized reply";
        return -EPROTO;
    }
    if (h->size != want) {
        *why = "reply payload has the wrong size";
        return -EPROTO;
    }
    *payload_len = h->size;
    return 0;
}

int
iq_vu_reply_parse(const uint8_t *buf, size_t len, const struct vu_expect *e,
                  struct vu_reply *out, size_t *consumed, const char **why)
{
    struct vu_hdr h;
    uint32_t plen;
    const uint8_t *p;
    int ret;

    *consumed = 0;
    *why = "";
    if (len < VU_HDR_SIZE) {
        return -EAGAIN;
    }
    h.request = get32(buf);
    h.flags = get32(buf + 4);
    h.size = get32(buf + 8);
    ret = iq_vu_reply_check_hdr(&h, e, &plen, why);
    if (ret < 0) {
        return ret;
    }
    if (len - VU_HDR_SIZE < plen) {
        return -EAGAIN;
    }
    p = buf + VU_HDR_SIZE;
    memset(out, 0, sizeof(*out));
    if (e->ack) {
        out->u64 = get64(p);
    } else if (e->request == VU_GET_VRING_BASE) {
        out->state.index = get32(p);
        out->state.num = get32(p + 4);
        if (out->state.index != e->index) {
            *why = "GET_VRING_BASE reply for another vring";
            return -EPROTO;
        }
        if (out->state.num > 0xffffu) {
            *why = "GET_VRING_BASE reply with an index above 65535";
            return -EPROTO;
        }
    } else if (e->request == VU_GET_CONFIG) {
        uint32_t off = get32(p);
        uint32_t size = get32(p + 4);

        if (off != e->config_offset || size != e->config_size) {
            *why = "GET_CONFIG reply for another range";
            return -EPROTO;
        }
        out->config_size = size;
        memcpy(out->config, p + 12, size);
    } else {
        out->u64 = get64(p);
        if (e->request == VU_GET_QUEUE_NUM &&
            (out->u64 == 0 || out->u64 > 0xffffu)) {
            *why = "GET_QUEUE_NUM reply out of range";
            return -EPROTO;
        }
    }
    *consumed = VU_HDR_SIZE + plen;
    return 0;
}

const char *
iq_vu_req_name(uint32_t req)
{
    switch (req) {
    case VU_GET_FEATURES:
        return "GET_FEATURES";
    case VU_SET_FEATURES:
        return "SET_FEATURES";
    case VU_SET_OWNER:
        return "SET_OWNER";
    case VU_SET_MEM_TABLE:
        return "SET_MEM_TABLE";
    case VU_SET_VRING_NUM:
        return "SET_VRING_NUM";
    case VU_SET_VRING_ADDR:
        return "SET_VRING_ADDR";
    case VU_SET_VRING_BASE:
        return "SET_VRING_BASE";
    case VU_GET_VRING_BASE:
        return "GET_VRING_BASE";
    case VU_SET_VRING_KICK:
        return "SET_VRING_KICK";
    case VU_SET_VRING_CALL:
        return "SET_VRING_CALL";
    case VU_SET_VRING_ERR:
        return "SET_VRING_ERR";
    case VU_GET_PROTOCOL_FEATURES:
        return "GET_PROTOCOL_FEATURES";
    case VU_SET_PROTOCOL_FEATURES:
        return "SET_PROTOCOL_FEATURES";
    case VU_GET_QUEUE_NUM:
        return "GET_QUEUE_NUM";
    case VU_SET_VRING_ENABLE:
        return "SET_VRING_ENABLE";
    case VU_GET_CONFIG:
        return "GET_CONFIG";
    case VU_SET_CONFIG:
        return "SET_CONFIG";
    default:
        return "?";
    }
}

const char *
iq_vu_pf_name(unsigned bit)
{
    switch (bit) {
    case VU_PF_MQ:
        return "VHOST_USER_PROTOCOL_F_MQ";
    case VU_PF_REPLY_ACK:
        return "VHOST_USER_PROTOCOL_F_REPLY_ACK";
    case VU_PF_CONFIG:
        return "VHOST_USER_PROTOCOL_F_CONFIG";
    case VU_PF_XEN_MMAP:
        return "VHOST_USER_PROTOCOL_F_XEN_MMAP";
    default:
        return "?";
    }
}
