/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: PCI config-space writes and reads on a function with an I/O
 * BAR and two memory BARs. The recording host checks the decoding
 * invariants on every map: no address 0, no range past its space, no
 * overlap between decoded BARs, no double map, unmap only of mapped BARs.
 * A violation aborts (a finding).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/pci.h"
#include "ioreqd/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct host {
    bool mapped[IQ_PCI_NR_BARS];
    uint64_t addr[IQ_PCI_NR_BARS];
    uint64_t size[IQ_PCI_NR_BARS];
    enum iq_space space[IQ_PCI_NR_BARS];
    unsigned level;
};

static int
h_map(void *opaque, unsigned bar, enum iq_space space, uint64_t addr,
      uint64_t size, const struct iq_region_ops *ops, void *o)
{
    struct host *h = opaque;
    uint64_t limit = space == IQ_SPACE_PIO ? 0x10000 : 0x100000000ull;

    (void)ops;
    (void)o;
    if (bar >= IQ_PCI_NR_BARS || h->mapped[bar] || addr == 0 ||
        addr + size > limit || (addr & (size - 1)) != 0) {
        abort();
    }
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        if (h->mapped[i] && h->space[i] == space &&
            addr < h->addr[i] + h->size[i] && h->addr[i] < addr + size) {
            abort();
        }
    }
    /* Pretend the host refuses some ranges (as another device would). */
    if ((addr & 0xf0000u) == 0xe0000u) {
        return -17;
    }
    h->mapped[bar] = true;
    h->addr[bar] = addr;
    h->size[bar] = size;
    h->space[bar] = space;
    return 0;
}

static void
h_unmap(void *opaque, unsigned bar)
{
    struct host *h = opaque;

    if (bar >= IQ_PCI_NR_BARS || !h->mapped[bar]) {
        abort();
    }
    h->mapped[bar] = false;
}

static int
h_intx(void *opaque, unsigned pin, unsigned level)
{
    struct host *h = opaque;

    if (pin != 0 || level > 1 || level == h->level) {
        abort();
    }
    h->level = level;
    return 0;
}

static const struct iq_pci_host_ops host_ops = {h_map, h_unmap, h_intx};

static uint64_t
r_read(void *o, uint64_t off, unsigned size)
{
    (void)o;
    (void)off;
    (void)size;
    return 0;
}

static void
r_write(void *o, uint64_t off, uint64_t v, unsigned size)
{
    (void)o;
    (void)off;
    (void)v;
    (void)size;
}

static const struct iq_region_ops rops = {r_read, r_write};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct host h;
    struct iq_pci_config c;
    struct iq_pci_dev *pci = NULL;
    const struct iq_region_ops *cfg = iq_pci_region_ops();

    /* Guest errors are expected here: keep the fuzzer's output quiet. */
    iq_log_set_level(IQ_LOG_ERR);

    memset(&h, 0, sizeof(h));
    memset(&c, 0, sizeof(c));
    c.vendor_id = 0x1000;
    c.device_id = 0x0012;
    c.class_code = 0x010000;
    c.int_pin = 1;
    c.bars[0] = (struct iq_pci_bar_def){IQ_PCI_BAR_IO, 256, &rops, NULL};
    c.bars[1] = (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, 0x400, &rops, NULL};
    c.bars[2] = (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, 0x2000, &rops, NULL};
    c.bars[4] = (struct iq_pci_bar_def){IQ_PCI_BAR_IO, 4, &rops, NULL};
    c.host = &host_ops;
    c.host_opaque = &h;
    if (iq_pci_create(&c, &pci) < 0) {
        return 0;
    }
    for (size_t pos = 0; pos + 7 <= size; pos += 7) {
        uint16_t off = (uint16_t)(data[pos] | data[pos + 1] << 8);
        unsigned sz = data[pos + 2] % 9u;
        uint32_t v = (uint32_t)data[pos + 3] | (uint32_t)data[pos + 4] << 8 |
                     (uint32_t)data[pos + 5] << 16 |
                     (uint32_t)data[pos + 6] << 24;

        /* Mostly the header; sometimes anywhere (or past the end). */
        if (!(off & 0x8000u)) {
            off &= 0x3fu;
        } else {
            off &= 0x1fffu;
        }
        if (sz == 8) {
            iq_pci_set_irq(pci, (v & 1u) != 0);
        } else if (sz >= 5) {
            (void)cfg->read(pci, off, sz - 4);
        } else {
            cfg->write(pci, off, v, sz);
        }
    }
    iq_pci_destroy(pci);
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        if (h.mapped[i]) {
            abort();
        }
    }
    if (h.level != 0) {
        abort();
    }
    return 0;
}
