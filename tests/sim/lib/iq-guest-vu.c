/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal virtio-net and virtio-fs (FUSE_INIT) guest drivers over the
 * generic virtio-mmio driver (iq-guest.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iq-guest-vu.h"

#define NET_RXQ 0u
#define NET_TXQ 1u

struct iq_net {
    struct iq_vm_dev *dev;
    uint32_t buf_len;
    uint64_t tx_gpa; /* one transmit buffer */
};

struct iq_vm_dev *
iq_net_dev(struct iq_net *net)
{
    return net->dev;
}

static int
post_rx(struct iq_net *net, uint64_t gpa)
{
    struct iq_vq_buf b = {gpa, net->buf_len, true};
    int rc = iq_vq_add(&net->dev->vqs[NET_RXQ], &b, 1, false,
                       (void *)(uintptr_t)gpa);

    return rc < 0 ? rc : 0;
}

int
iq_net_attach(struct iq_vm_dev *dev, uint64_t want, uint16_t qsize,
              unsigned rx_bufs, uint32_t buf_len, struct iq_net **out)
{
    struct iq_net *net;
    int rc;

    *out = NULL;
    if (rx_bufs == 0 || rx_bufs > qsize || buf_len <= IQ_NET_HDR_LEN ||
        buf_len > 65536) {
        return -EINVAL;
    }
    net = calloc(1, sizeof(*net));
    if (net == NULL) {
        return -ENOMEM;
    }
    net->dev = dev;
    net->buf_len = buf_len;
    rc = iq_vm_init(dev, want | IQ_VM_F_VERSION_1, 2, qsize);
    if (rc < 0) {
        goto fail;
    }
    net->tx_gpa = iq_guest_alloc(dev->g, buf_len, 64);
    if (net->tx_gpa == 0) {
        rc = -ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < rx_bufs; i++) {
        uint64_t gpa = iq_guest_alloc(dev->g, buf_len, 64);

        if (gpa == 0) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = post_rx(net, gpa);
        if (rc < 0) {
            goto fail;
        }
    }
    rc = iq_vq_kick(&dev->vqs[NET_RXQ]);
    if (rc < 0) {
        goto fail;
    }
    *out = net;
    return 0;
fail:
    net->dev = NULL; /* the caller still frees dev on failure */
    free(net);
    return rc;
}

void
iq_net_free(struct iq_net *net)
{
    if (net == NULL) {
        return;
    }
    iq_vm_free(net->dev);
    free(net);
}

int
iq_net_send(struct iq_net *net, const void *frame, size_t len,
            unsigned timeout_ms)
{
    struct iq_vq *vq = &net->dev->vqs[NET_TXQ];
    uint8_t *p;
    struct iq_vq_buf b;
    void *cookie = NULL;
    uint32_t used = 0;
    int rc;

    if (len == 0 || len > net->buf_len - IQ_NET_HDR_LEN) {
        return -EINVAL;
    }
    p = iq_guest_ptr(net->dev->g, net->tx_gpa, IQ_NET_HDR_LEN + len);
    if (p == NULL) {
        return -EFAULT;
    }
    memset(p, 0, IQ_NET_HDR_LEN);
    memcpy(p + IQ_NET_HDR_LEN, frame, len);
    b = (struct iq_vq_buf){net->tx_gpa, (uint32_t)(IQ_NET_HDR_LEN + len),
                           false};
    rc = iq_vq_add(vq, &b, 1, false, (void *)(uintptr_t)net->tx_gpa);
    if (rc >= 0) {
        rc = iq_vq_kick(vq);
    }
    if (rc == 0) {
        rc = iq_vq_wait_used(vq, timeout_ms, &cookie, &used);
    }
    if (rc == 1 && cookie != (void *)(uintptr_t)net->tx_gpa) {
        rc = -EIO;
    }
    return rc < 0 ? rc : 0;
}

int
iq_net_recv(struct iq_net *net, void *buf, size_t len, unsigned timeout_ms)
{
    struct iq_vq *vq = &net->dev->vqs[NET_RXQ];
    void *cookie = NULL;
    uint32_t used = 0;
    uint64_t gpa;
    const uint8_t *p;
    size_t flen;
    int rc;

    rc = iq_vq_wait_used(vq, timeout_ms, &cookie, &used);
    if (rc < 0) {
        return rc;
    }
    gpa = (uint64_t)(uintptr_t)cookie;
    if (used < IQ_NET_HDR_LEN || used > net->buf_len) {
        return -EIO;
    }
    flen = used - IQ_NET_HDR_LEN;
    p = iq_guest_ptr(net->dev->g, gpa, used);
    if (p == NULL) {
        return -EFAULT;
    }
    if (flen > len) {
        rc = -EMSGSIZE;
    } else {
        memcpy(buf, p + IQ_NET_HDR_LEN, flen);
        rc = (int)flen;
    }
    if (post_rx(net, gpa) < 0 || iq_vq_kick(vq) < 0) {
        return -EIO;
    }
    return rc;
}

/* ---- virtio-fs: FUSE_INIT ---------------------------------------------- */

#define FUSE_INIT 26u
#define FUSE_IN_HDR 40u
#define FUSE_INIT_IN 16u
#define FUSE_OUT_HDR 16u
#define FS_REQQ 1u

static void
put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t
get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

int
iq_fs_fuse_init(struct iq_vm_dev *dev, char tag[37], unsigned timeout_ms,
                struct iq_fuse_init_reply *r)
{
    const uint64_t unique = 0x1234567;
    const uint32_t out_len = 4096;
    struct iq_vq_buf b[2];
    struct iq_vq *vq;
    void *cookie = NULL;
    uint32_t used = 0;
    uint64_t req;
    uint64_t rsp;
    uint8_t *p;
    uint64_t u;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = iq_vm_init(dev, IQ_VM_F_VERSION_1, 2, 64);
    if (rc < 0) {
        return rc;
    }
    memset(tag, 0, 37);
    rc = iq_vm_config_read(dev, 0, tag, 36);
    if (rc < 0) {
        return rc;
    }
    req = iq_guest_alloc(dev->g, FUSE_IN_HDR + FUSE_INIT_IN, 64);
    rsp = iq_guest_alloc(dev->g, out_len, 64);
    if (req == 0 || rsp == 0) {
        return -ENOMEM;
    }
    p = iq_guest_ptr(dev->g, req, FUSE_IN_HDR + FUSE_INIT_IN);
    memset(p, 0, FUSE_IN_HDR + FUSE_INIT_IN);
    put32(p, FUSE_IN_HDR + FUSE_INIT_IN); /* len */
    put32(p + 4, FUSE_INIT); /* opcode */
    memcpy(p + 8, &unique, 8);
    put32(p + FUSE_IN_HDR, 7); /* major */
    put32(p + FUSE_IN_HDR + 4, 31); /* minor */
    put32(p + FUSE_IN_HDR + 8, 65536); /* max_readahead */
    memset(iq_guest_ptr(dev->g, rsp, out_len), 0xa5, out_len);
    b[0] = (struct iq_vq_buf){req, FUSE_IN_HDR + FUSE_INIT_IN, false};
    b[1] = (struct iq_vq_buf){rsp, out_len, true};
    vq = &dev->vqs[FS_REQQ];
    rc = iq_vq_add(vq, b, 2, false, (void *)(uintptr_t)req);
    if (rc >= 0) {
        rc = iq_vq_kick(vq);
    }
    if (rc == 0) {
        rc = iq_vq_wait_used(vq, timeout_ms, &cookie, &used);
    }
    if (rc < 0) {
        return rc;
    }
    if (cookie != (void *)(uintptr_t)req || used < FUSE_OUT_HDR ||
        used > out_len) {
        return -EIO;
    }
    p = iq_guest_ptr(dev->g, rsp, used);
    memcpy(&u, p + 8, 8);
    if (get32(p) != used || u != unique) {
        return -EIO;
    }
    r->out_len = used;
    memcpy(&r->error, p + 4, 4);
    if (r->error == 0) {
        if (used < FUSE_OUT_HDR + 24) {
            return -EIO;
        }
        r->major = get32(p + FUSE_OUT_HDR);
        r->minor = get32(p + FUSE_OUT_HDR + 4);
        r->max_write = get32(p + FUSE_OUT_HDR + 20);
    }
    return 0;
}
