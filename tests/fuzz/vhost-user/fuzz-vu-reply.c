/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the vhost-user reply parser (vhost-bridge/vu-msg.c), the
 * only code that reads what a daemon sends.
 *
 * Input: byte 0 picks the request we "sent" (and whether we asked for an
 * ack), bytes 1..2 the vring index, byte 3 the GET_CONFIG size, then a
 * stream of replies parsed one after the other, as a connection would.
 * Oracle: no crash or sanitizer report; an accepted reply is exactly the
 * announced size, within the buffer, and agrees with the expectation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vu-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t reqs[] = {
    VU_GET_FEATURES,   VU_GET_PROTOCOL_FEATURES,
    VU_GET_QUEUE_NUM,  VU_GET_VRING_BASE,
    VU_GET_CONFIG,     VU_SET_MEM_TABLE,
    VU_SET_VRING_KICK, VU_SET_FEATURES,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vu_expect e;
    struct vu_reply r;
    size_t off = 4;

    if (size < 4) {
        return 0;
    }
    memset(&e, 0, sizeof(e));
    e.request = reqs[data[0] % (sizeof(reqs) / sizeof(reqs[0]))];
    e.ack = (data[0] & 0x80) != 0;
    e.index = (uint32_t)data[1] | ((uint32_t)data[2] << 8);
    e.config_size = data[3]; /* 0..255 */
    for (unsigned n = 0; n < 64 && off < size; n++) {
        const char *why = NULL;
        size_t used = 0;
        int ret =
            iq_vu_reply_parse(data + off, size - off, &e, &r, &used, &why);

        if (ret == -EAGAIN) {
            break;
        }
        if (ret < 0) {
            if (ret != -EPROTO || why == NULL || why[0] == '\0') {
                abort();
            }
            off++; /* resynchronise one byte further (fuzzing only) */
            continue;
        }
        if (used < VU_HDR_SIZE || used > size - off ||
            used > VU_HDR_SIZE + VU_MAX_PAYLOAD) {
            abort();
        }
        if (!e.ack && e.request == VU_GET_VRING_BASE &&
            (r.state.index != e.index || r.state.num > 0xffff)) {
            abort();
        }
        if (!e.ack && e.request == VU_GET_CONFIG &&
            (r.config_size != e.config_size ||
             used != VU_HDR_SIZE + 12 + e.config_size)) {
            abort();
        }
        off += used;
    }
    return 0;
}
