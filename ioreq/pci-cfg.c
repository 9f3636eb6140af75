/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI function addressing in the ioreq encoding.
 *
 * An SBDF is seg<<16 | bus<<8 | dev<<3 | fn. A PCI_CONFIG request carries
 * (SBDF << 32) | reg in `addr`, reg including the byte offset within the
 * dword (xen-reference.md section 1.4).
 */
#include "ioreq-internal.h"

uint32_t
iq_pci_sbdf(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn)
{
    return ((uint32_t)seg << 16) | ((uint32_t)bus << 8) |
           ((uint32_t)(dev & 0x1fu) << 3) | (uint32_t)(fn & 0x7u);
}

uint16_t
iq_pci_sbdf_seg(uint32_t sbdf)
{
    return (uint16_t)(sbdf >> 16);
}

uint8_t
iq_pci_sbdf_bus(uint32_t sbdf)
{
    return (uint8_t)(sbdf >> 8);
}

uint8_t
iq_pci_sbdf_dev(uint32_t sbdf)
{
    return (uint8_t)((sbdf >> 3) & 0x1fu);
}

uint8_t
iq_pci_sbdf_fn(uint32_t sbdf)
{
    return (uint8_t)(sbdf & 0x7u);
}

void
iq_pci_cfg_split(uint64_t addr, uint32_t *sbdf, uint32_t *reg)
{
    *sbdf = (uint32_t)(addr >> 32);
    *reg = (uint32_t)addr;
}

uint64_t
iq_pci_cfg_key(uint32_t sbdf, uint32_t reg)
{
    return ((uint64_t)sbdf << 12) | (reg & (IQ_PCI_CFG_SPACE_SIZE - 1u));
}
