/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the SCRIPTS processor. Input layout: 16 bytes of register
 * presets (DSA, SCRATCHA, DSP start selector, DMODE/DIEN/SIEN0/CCNTL0),
 * then up to 8 KiB of SCRIPTS RAM, then up to 32 KiB of guest RAM (the
 * rest of guest RAM is zero). SCRIPTS start from on-chip RAM or guest RAM
 * and run for a bounded number of loop iterations, with SIGP pokes, against
 * mem-storage SCSI targets (IDs 0 and 2).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lsi-harness.h"

#include "ioreqd/log.h"

#define GUEST_RAM (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lh h;
    size_t n;

    /* Guest errors are expected here: keep the fuzzer's output quiet. */
    iq_log_set_level(IQ_LOG_ERR);

    if (size < 16 || lh_init_sized(&h, true, 200, GUEST_RAM) < 0) {
        return 0;
    }
    lh_enable(&h);
    lh_wr(&h, 0x10, get32(data), 4); /* DSA */
    lh_wr(&h, 0x34, get32(data + 4), 4); /* SCRATCHA */
    lh_wr(&h, 0x39, data[12], 1); /* DIEN */
    lh_wr(&h, 0x40, data[13], 1); /* SIEN0 */
    lh_wr(&h, 0x56, data[14] & 0x80u, 1); /* CCNTL0.ENPMJ */
    lh_wr(&h, 0xc0, get32(data + 4) ^ 0x5a5a5a5au, 4); /* PMJAD1 */
    data += 16;
    size -= 16;
    n = size < IQ_LSI_RAM_SIZE ? size : IQ_LSI_RAM_SIZE;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        h.bar_ops[2]->write(h.bar_opaque[2], i, get32(data + i), 4);
    }
    data += n;
    size -= n;
    n = size < 32u * 1024u ? size : 32u * 1024u;
    memcpy(h.ram, data, n);
    /* Start in guest RAM at 0x100 when its first byte is odd, else at the
     * start of on-chip RAM. */
    if (h.ram[0] & 1u) {
        lh_start(&h, 0x100);
    } else {
        lh_start(&h, LH_RAM_BASE);
    }
    for (unsigned i = 0; i < 40; i++) {
        if (iq_loop_run_once(h.loop, 0) < 0) {
            break;
        }
        if (i == 20) {
            lh_wr(&h, 0x14, 0x20, 1); /* SIGP */
        }
    }
    (void)lh_rd(&h, 0x0c, 1);
    (void)lh_rd(&h, 0x42, 2);
    lh_fini(&h);
    return 0;
}
