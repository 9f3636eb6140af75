/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI type-0 function: configuration header, BAR sizing and decoding, INTx
 * (PCI Local Bus Specification 3.0, section 6.1 and 6.2.5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/pci.h"

#define HDR_SIZE 0x40u

/* Writable COMMAND bits. */
#define CMD_MASK \
    (IQ_PCI_CMD_IO | IQ_PCI_CMD_MEM | IQ_PCI_CMD_MASTER | IQ_PCI_CMD_PARITY | \
     IQ_PCI_CMD_SERR | IQ_PCI_CMD_INTX_DISABLE)

struct pci_bar {
    struct iq_pci_bar_def def;
    uint32_t reg; /* address bits as programmed (size-aligned) */
    uint64_t mapped_addr; /* IQ_PCI_BAR_UNMAPPED when not decoded */
};

struct iq_pci_dev {
    char name[32];
    struct iq_pci_config cfg;
    uint16_t command;
    uint8_t latency;
    uint8_t int_line;
    uint8_t cache_line;
    bool irq_req; /* device wants the line */
    bool irq_driven; /* level last given to the host */
    struct pci_bar bars[IQ_PCI_NR_BARS];
    struct iq_ratelimit rl;
};

static bool
is_pow2(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

int
iq_pci_create(const struct iq_pci_config *cfg, struct iq_pci_dev **out)
{
    struct iq_pci_dev *pci;

    *out = NULL;
    if (cfg == NULL || cfg->host == NULL || cfg->int_pin > 4) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        const struct iq_pci_bar_def *b = &cfg->bars[i];

        switch (b->type) {
        case IQ_PCI_BAR_NONE:
            break;
        case IQ_PCI_BAR_IO:
            if (!is_pow2(b->size) || b->size < 4 || b->size > 256 ||
                b->ops == NULL) {
                return -EINVAL;
            }
            break;
        case IQ_PCI_BAR_MEM32:
            if (!is_pow2(b->size) || b->size < 16 || b->size > (1u << 30) ||
                b->ops == NULL) {
                return -EINVAL;
            }
            break;
        default:
            return -EINVAL;
        }
    }
    pci = calloc(1, sizeof(*pci));
    if (pci == NULL) {
        return -ENOMEM;
    }
    pci->cfg = *cfg;
    strncpy(pci->name, cfg->name != NULL ? cfg->name : "pci",
            sizeof(pci->name) - 1);
    pci->cfg.name = pci->name;
    pci->latency = cfg->latency;
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        pci->bars[i].def = cfg->bars[i];
        pci->bars[i].mapped_addr = IQ_PCI_BAR_UNMAPPED;
    }
    *out = pci;
    return 0;
}

static void
bar_unmap(struct iq_pci_dev *pci, unsigned i)
{
    struct pci_bar *b = &pci->bars[i];

    if (b->mapped_addr != IQ_PCI_BAR_UNMAPPED) {
        pci->cfg.host->unmap(pci->cfg.host_opaque, i);
        b->mapped_addr = IQ_PCI_BAR_UNMAPPED;
    }
}

void
iq_pci_destroy(struct iq_pci_dev *pci)
{
    if (pci == NULL) {
        return;
    }
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        bar_unmap(pci, i);
    }
    if (pci->irq_driven && pci->cfg.host->intx != NULL &&
        pci->cfg.int_pin != 0) {
        (void)pci->cfg.host->intx(pci->cfg.host_opaque, pci->cfg.int_pin - 1u,
                                  0);
    }
    free(pci);
}

/* Where `b` would decode given COMMAND, or IQ_PCI_BAR_UNMAPPED. */
static uint64_t
bar_target(const struct iq_pci_dev *pci, const struct pci_bar *b)
{
    uint64_t addr = b->reg;
    uint64_t limit;
    uint32_t mask = ~(b->def.size - 1u);

    switch (b->def.type) {
    case IQ_PCI_BAR_IO:
        if (!(pci->command & IQ_PCI_CMD_IO)) {
            return IQ_PCI_BAR_UNMAPPED;
        }
        limit = 0x10000;
        break;
    case IQ_PCI_BAR_MEM32:
        if (!(pci->command & IQ_PCI_CMD_MEM)) {
            return IQ_PCI_BAR_UNMAPPED;
        }
        limit = 0x100000000ull;
        break;
    default:
        return IQ_PCI_BAR_UNMAPPED;
    }
    /* 0 and the sizing pattern (all writable bits set) are not addresses. */
    if (addr == 0 || (uint32_t)addr == mask) {
        return IQ_PCI_BAR_UNMAPPED;
    }
    if (addr + b->def.size > limit) {
        return IQ_PCI_BAR_UNMAPPED;
    }
    return addr;
}

static bool
overlaps_other(const struct iq_pci_dev *pci, unsigned i, uint64_t addr)
{
    const struct pci_bar *b = &pci->bars[i];

    for (unsigned j = 0; j < IQ_PCI_NR_BARS; j++) {
        const struct pci_bar *o = &pci->bars[j];

        if (j == i || o->mapped_addr == IQ_PCI_BAR_UNMAPPED ||
            o->def.type != b->def.type) {
            continue;
        }
        if (addr < o->mapped_addr + o->def.size &&
            o->mapped_addr < addr + b->def.size) {
            return true;
        }
    }
    return false;
}

/* Bring BAR i's mapping in line with its register and COMMAND. */
static void
bar_update(struct iq_pci_dev *pci, unsigned i)
{
    struct pci_bar *b = &pci->bars[i];
    uint64_t want = bar_target(pci, b);
    enum iq_space space;
    int rc;

    if (want == b->mapped_addr) {
        return;
    }
    bar_unmap(pci, i);
    if (want == IQ_PCI_BAR_UNMAPPED) {
        return;
    }
    if (overlaps_other(pci, i, want)) {
        iq_log_guest(&pci->rl, pci->name,
                     "BAR%u at 0x%llx overlaps another BAR: not decoded", i,
                     (unsigned long long)want);
        return;
    }
    space = b->def.type == IQ_PCI_BAR_IO ? IQ_SPACE_PIO : IQ_SPACE_MMIO;
    rc = pci->cfg.host->map(pci->cfg.host_opaque, i, space, want, b->def.size,
                            b->def.ops, b->def.opaque);
    if (rc < 0) {
        iq_log_guest(&pci->rl, pci->name,
                     "BAR%u at 0x%llx (size 0x%x) cannot be mapped: %d", i,
                     (unsigned long long)want, b->def.size, rc);
        return;
    }
    b->mapped_addr = want;
}

static void
bars_update(struct iq_pci_dev *pci)
{
    /* Unmap first so a swap of two BARs' addresses does not overlap. */
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        if (bar_target(pci, &pci->bars[i]) != pci->bars[i].mapped_addr) {
            bar_unmap(pci, i);
        }
    }
    for (unsigned i = 0; i < IQ_PCI_NR_BARS; i++) {
        bar_update(pci, i);
    }
}

static void
irq_update(struct iq_pci_dev *pci)
{
    bool level = pci->irq_req && !(pci->command & IQ_PCI_CMD_INTX_DISABLE) &&
                 pci->cfg.int_pin != 0;

    if (level == pci->irq_driven) {
        return;
    }
    pci->irq_driven = level;
    if (pci->cfg.host->intx != NULL) {
        (void)pci->cfg.host->intx(pci->cfg.host_opaque, pci->cfg.int_pin - 1u,
                                  level ? 1 : 0);
    }
}

void
iq_pci_set_irq(struct iq_pci_dev *pci, bool level)
{
    pci->irq_req = level;
    irq_update(pci);
}

static uint32_t
bar_read(const struct iq_pci_dev *pci, unsigned i)
{
    const struct pci_bar *b = &pci->bars[i];

    switch (b->def.type) {
    case IQ_PCI_BAR_IO:
        return b->reg | 0x1u;
    case IQ_PCI_BAR_MEM32:
        return b->reg; /* type 00 (32-bit), not prefetchable */
    default:
        return 0;
    }
}

/* One dword of the header. */
static uint32_t
read_dword(const struct iq_pci_dev *pci, uint32_t off)
{
    const struct iq_pci_config *c = &pci->cfg;
    uint16_t status = 0;

    switch (off) {
    case 0x00:
        return c->vendor_id | (uint32_t)c->device_id << 16;
    case 0x04:
        if (pci->irq_req) {
            status |= IQ_PCI_STATUS_INTX;
        }
        return pci->command | (uint32_t)status << 16;
    case 0x08:
        return c->revision | (c->class_code & 0xffffffu) << 8;
    case 0x0c:
        /* cache line size, latency timer, header type 0, no BIST */
        return pci->cache_line | (uint32_t)pci->latency << 8;
    case 0x10:
    case 0x14:
    case 0x18:
    case 0x1c:
    case 0x20:
    case 0x24:
        return bar_read(pci, (off - 0x10) / 4);
    case 0x2c:
        return c->subsys_vendor_id | (uint32_t)c->subsys_id << 16;
    case 0x3c:
        return pci->int_line | (uint32_t)c->int_pin << 8;
    default:
        /* CardBus CIS, expansion ROM, capabilities pointer: none */
        return 0;
    }
}

static void
write_byte(struct iq_pci_dev *pci, uint32_t off, uint8_t v)
{
    switch (off) {
    case 0x04:
        pci->command = (uint16_t)((pci->command & 0xff00u) | v) & CMD_MASK;
        break;
    case 0x05:
        pci->command = (uint16_t)((pci->command & 0x00ffu) | v << 8) & CMD_MASK;
        break;
    case 0x0c:
        pci->cache_line = v;
        break;
    case 0x0d:
        pci->latency = v;
        break;
    case 0x3c:
        pci->int_line = v;
        break;
    default:
        if (off >= 0x10 && off < 0x28) {
            struct pci_bar *b = &pci->bars[(off - 0x10) / 4];
            unsigned shift = (off & 3u) * 8;
            uint32_t mask;

            if (b->def.type == IQ_PCI_BAR_NONE) {
                break;
            }
            /* Low bits below the size (and the type bits) read as 0. */
            mask = ~(b->def.size - 1u);
            b->reg = (b->reg & ~(0xffu << shift)) | (uint32_t)v << shift;
            b->reg &= mask;
        }
        /* Everything else is read-only (status RW1C bits never set). */
        break;
    }
}

uint32_t
iq_pci_cfg_read(struct iq_pci_dev *pci, uint32_t off, unsigned size)
{
    uint32_t v = 0;

    if (size != 1 && size != 2 && size != 4) {
        return UINT32_MAX;
    }
    if (off >= IQ_PCI_CFG_SIZE || size > IQ_PCI_CFG_SIZE - off) {
        return UINT32_MAX;
    }
    /* Bytewise: handles unaligned accesses crossing dwords. */
    for (unsigned i = 0; i < size; i++) {
        uint32_t o = off + i;
        uint32_t dw = o < HDR_SIZE ? read_dword(pci, o & ~3u) : 0;

        v |= ((dw >> ((o & 3u) * 8)) & 0xffu) << (i * 8);
    }
    return v;
}

void
iq_pci_cfg_write(struct iq_pci_dev *pci, uint32_t off, uint32_t val,
                 unsigned size)
{
    if (size != 1 && size != 2 && size != 4) {
        iq_log_guest(&pci->rl, pci->name, "config write of size %u ignored",
                     size);
        return;
    }
    if (off >= IQ_PCI_CFG_SIZE || size > IQ_PCI_CFG_SIZE - off) {
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        if (off + i < HDR_SIZE) {
            write_byte(pci, off + i, (uint8_t)(val >> (i * 8)));
        }
    }
    if (off < HDR_SIZE) {
        bars_update(pci);
        irq_update(pci);
    }
}

static uint64_t
region_read(void *opaque, uint64_t offset, unsigned size)
{
    if (offset >= IQ_PCI_CFG_SIZE) {
        return UINT64_MAX;
    }
    return iq_pci_cfg_read(opaque, (uint32_t)offset, size);
}

static void
region_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    if (offset >= IQ_PCI_CFG_SIZE) {
        return;
    }
    iq_pci_cfg_write(opaque, (uint32_t)offset, (uint32_t)value, size);
}

static const struct iq_region_ops pci_cfg_region_ops = {
    .read = region_read,
    .write = region_write,
};

const struct iq_region_ops *
iq_pci_region_ops(void)
{
    return &pci_cfg_region_ops;
}

uint64_t
iq_pci_bar_addr(const struct iq_pci_dev *pci, unsigned bar)
{
    if (bar >= IQ_PCI_NR_BARS) {
        return IQ_PCI_BAR_UNMAPPED;
    }
    return pci->bars[bar].mapped_addr;
}

uint16_t
iq_pci_command(const struct iq_pci_dev *pci)
{
    return pci->command;
}
