/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: LSI 53C895A register stream. The input is a sequence of
 * operations (register write/read through BAR0 or BAR1, SCRIPTS RAM
 * write, config-space write, loop iteration) against the real model with
 * mem-storage targets; guest RAM starts zeroed and is written by SCRIPTS
 * the stream may start. Everything must stay bounded and crash-free.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ioreqd/pci.h"
#include "ioreqd/log.h"
#include "lsi-harness.h"

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
    size_t pos = 0;
    unsigned ops = 0;

    /* Guest errors are expected here: keep the fuzzer's output quiet. */
    iq_log_set_level(IQ_LOG_ERR);

    if (lh_init_sized(&h, true, 64, 64u * 1024u) < 0) {
        return 0;
    }
    lh_enable(&h);
    while (pos + 7 <= size && ops++ < 4096) {
        uint8_t kind = data[pos];
        uint8_t off = data[pos + 1];
        unsigned sz = (data[pos + 2] & 3u) + 1u;
        uint32_t val = get32(data + pos + 3);

        pos += 7;
        switch (kind % 6) {
        case 0:
            if (h.bar_ops[0] != NULL) {
                h.bar_ops[0]->write(h.bar_opaque[0], off, val, sz);
            }
            break;
        case 1:
            if (h.bar_ops[1] != NULL) {
                (void)h.bar_ops[1]->read(
                    h.bar_opaque[1], (uint64_t)off | (uint64_t)(val & 3u) << 8,
                    sz);
            }
            break;
        case 2:
            if (h.bar_ops[1] != NULL) {
                h.bar_ops[1]->write(h.bar_opaque[1], off, val, sz);
            }
            break;
        case 3:
            if (h.bar_ops[2] != NULL) {
                h.bar_ops[2]->write(h.bar_opaque[2],
                                    ((uint64_t)off << 5) | (val >> 27), val,
                                    sz);
            }
            break;
        case 4:
            iq_pci_cfg_write(iq_lsi_pci(h.lsi), off & 0x3fu, val, sz);
            break;
        default:
            if (iq_loop_run_once(h.loop, 0) < 0) {
                pos = size;
            }
            break;
        }
    }
    for (unsigned i = 0; i < 8; i++) {
        if (iq_loop_run_once(h.loop, 0) < 0) {
            break;
        }
    }
    lh_fini(&h);
    return 0;
}
