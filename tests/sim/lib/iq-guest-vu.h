/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * More simulated-guest drivers (part of the iq-guest library), used by the
 * vhost-user bridge tests: a minimal virtio-net driver (one RX/TX queue
 * pair, VERSION_1 header, no control queue) and a virtio-fs FUSE_INIT
 * round trip. They sit on the generic virtio-mmio driver of iq-guest.h.
 */
#ifndef IQ_TESTS_SIM_IQ_GUEST_VU_H
#define IQ_TESTS_SIM_IQ_GUEST_VU_H

#include <stddef.h>
#include <stdint.h>

#include "iq-guest.h"

/* ---- virtio-net -------------------------------------------------------- */

/* struct virtio_net_hdr with VERSION_1 (num_buffers always present). */
#define IQ_NET_HDR_LEN 12u
#define IQ_NET_F_MAC (1ull << 5)
#define IQ_NET_F_MRG_RXBUF (1ull << 15)

struct iq_net;

/*
 * Bring up a probed virtio-net device: init with `want` (plus VERSION_1),
 * queues 0 (receiveq) and 1 (transmitq) of `qsize`, and post `rx_bufs`
 * receive buffers of `buf_len` bytes each (header included).
 * Takes ownership of `dev`.
 */
int iq_net_attach(struct iq_vm_dev *dev, uint64_t want, uint16_t qsize,
                  unsigned rx_bufs, uint32_t buf_len, struct iq_net **out);
void iq_net_free(struct iq_net *net);
struct iq_vm_dev *iq_net_dev(struct iq_net *net);

/* Transmit one frame (a zero header is prepended); waits for its used
 * entry. 0 or -errno. */
int iq_net_send(struct iq_net *net, const void *frame, size_t len,
                unsigned timeout_ms);
/*
 * Receive one frame: wait for a used receive buffer, copy the frame (the
 * bytes after the header) into buf, re-post the buffer. Returns the frame
 * length, -EMSGSIZE if it does not fit `len`, or -errno.
 */
int iq_net_recv(struct iq_net *net, void *buf, size_t len, unsigned timeout_ms);

/* ---- virtio-fs ---------------------------------------------------------- */

struct iq_fuse_init_reply {
    int32_t error;
    uint32_t major;
    uint32_t minor;
    uint32_t max_write;
    uint32_t out_len; /* bytes the device wrote */
};

/*
 * Bring up a probed virtio-fs device (queue 0 hiprio, 1 request) and send
 * FUSE_INIT (protocol 7.31) on the request queue; fill *r from the reply
 * after checking its header (length, unique). `tag` receives the config
 * tag (NUL-terminated). The caller still owns `dev` (reset and free it).
 * 0 or -errno (-EIO: malformed reply).
 */
int iq_fs_fuse_init(struct iq_vm_dev *dev, char tag[37], unsigned timeout_ms,
                    struct iq_fuse_init_reply *r);

#endif /* IQ_TESTS_SIM_IQ_GUEST_VU_H */
