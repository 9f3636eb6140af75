/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A PCI function model (backends/pci/): a type-0 configuration header
 * reached through IOREQ_TYPE_PCI_CONFIG accesses, BAR sizing and
 * assignment, the command register's decode enables and INTx.
 *
 * The device model above it (e.g. the LSI 53C895A) describes its identity
 * and BARs at creation; the host (the daemon, or a test) supplies callbacks
 * that claim and release the BARs' port and MMIO ranges and drive the INTx
 * line. The function calls them whenever what the guest programmed changes:
 *
 *   - a BAR is decoded when its space is enabled in COMMAND (bit 0 I/O,
 *     bit 1 memory) and its address is usable: not 0, not all ones in its
 *     writable bits (the sizing pattern), not wrapping past the top of its
 *     space (64 KiB for ports, 4 GiB for 32-bit memory), not overlapping
 *     another decoded BAR of this function;
 *   - a BAR that moves while decoded is unmapped at the old address, then
 *     mapped at the new one; a failed map (or an overlap) leaves it
 *     undecoded (guest-caused, logged rate-limited) until a later config
 *     write retries it.
 *
 * All config-space values written are guest-controlled: read-only fields
 * ignore writes, sizes are 1, 2 or 4, unaligned or page-crossing accesses
 * are split bytewise, and offsets past the 64-byte header read 0 and ignore
 * writes. Everything runs on the loop thread.
 */
#ifndef IQ_INCLUDE_PCI_H
#define IQ_INCLUDE_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "ioreq.h"

#define IQ_PCI_NR_BARS 6u
/* Config space size of one function (IQ_SPACE_PCI region size). */
#define IQ_PCI_CFG_SIZE 4096u

/* Address of an undecoded BAR (iq_pci_bar_addr). */
#define IQ_PCI_BAR_UNMAPPED UINT64_MAX

/* Standard header offsets used by callers and tests. */
#define IQ_PCI_VENDOR_ID 0x00
#define IQ_PCI_DEVICE_ID 0x02
#define IQ_PCI_COMMAND 0x04
#define IQ_PCI_STATUS 0x06
#define IQ_PCI_REVISION 0x08
#define IQ_PCI_CLASS_PROG 0x09
#define IQ_PCI_LATENCY 0x0d
#define IQ_PCI_HEADER_TYPE 0x0e
#define IQ_PCI_BAR0 0x10
#define IQ_PCI_SUBSYS_VENDOR 0x2c
#define IQ_PCI_SUBSYS_ID 0x2e
#define IQ_PCI_CAP_PTR 0x34
#define IQ_PCI_INT_LINE 0x3c
#define IQ_PCI_INT_PIN 0x3d

/* COMMAND bits the model implements (others read 0). */
#define IQ_PCI_CMD_IO 0x0001u
#define IQ_PCI_CMD_MEM 0x0002u
#define IQ_PCI_CMD_MASTER 0x0004u
#define IQ_PCI_CMD_PARITY 0x0040u
#define IQ_PCI_CMD_SERR 0x0100u
#define IQ_PCI_CMD_INTX_DISABLE 0x0400u
/* STATUS bits. */
#define IQ_PCI_STATUS_INTX 0x0008u

enum iq_pci_bar_type {
    IQ_PCI_BAR_NONE = 0,
    IQ_PCI_BAR_IO, /* I/O space; bit 0 reads 1 */
    IQ_PCI_BAR_MEM32, /* 32-bit, non-prefetchable memory */
};

struct iq_pci_bar_def {
    enum iq_pci_bar_type type;
    /* Power of two: >= 4 for I/O (<= 256), >= 16 for memory (<= 1 GiB). */
    uint32_t size;
    /* Served for this BAR's range; offsets are relative to the BAR. */
    const struct iq_region_ops *ops;
    void *opaque;
};

/*
 * Host callbacks. map: claim [addr, addr + size) in `space` for `bar`,
 * serving it with (ops, opaque); returns 0 or -errno. unmap: release the
 * BAR's current range (only called for a mapped BAR). intx: set INTx `pin`
 * (0 = INTA) to `level`; errors are the host's to log.
 */
struct iq_pci_host_ops {
    int (*map)(void *host, unsigned bar, enum iq_space space, uint64_t addr,
               uint64_t size, const struct iq_region_ops *ops, void *opaque);
    void (*unmap)(void *host, unsigned bar);
    int (*intx)(void *host, unsigned pin, unsigned level);
};

struct iq_pci_config {
    const char *name; /* log context; copied */
    uint16_t vendor_id;
    uint16_t device_id;
    uint16_t subsys_vendor_id;
    uint16_t subsys_id;
    uint8_t revision;
    uint32_t class_code; /* 24 bits: base, sub, prog-if */
    uint8_t int_pin; /* 1..4 = INTA..INTD, 0: none */
    uint8_t latency; /* reset value of the latency timer */
    struct iq_pci_bar_def bars[IQ_PCI_NR_BARS];
    const struct iq_pci_host_ops *host;
    void *host_opaque;
};

struct iq_pci_dev;

/* -EINVAL for a bad BAR definition or int_pin > 4, -ENOMEM. */
IQ_MUST_CHECK int iq_pci_create(const struct iq_pci_config *cfg,
                                struct iq_pci_dev **out);
/* Unmaps decoded BARs and lowers INTx if raised. Accepts NULL. */
void iq_pci_destroy(struct iq_pci_dev *pci);

/*
 * Config space access at `off` (0..4095) of `size` 1, 2 or 4 bytes (other
 * sizes read all ones / are ignored). Guest-controlled.
 */
uint32_t iq_pci_cfg_read(struct iq_pci_dev *pci, uint32_t off, unsigned size);
void iq_pci_cfg_write(struct iq_pci_dev *pci, uint32_t off, uint32_t val,
                      unsigned size);

/* Region ops for IQ_SPACE_PCI whose opaque is the struct iq_pci_dev. */
const struct iq_region_ops *iq_pci_region_ops(void);

/*
 * The device's interrupt request. The line is driven (through host->intx)
 * when requested and COMMAND.INTX_DISABLE is clear; STATUS.INTX reflects
 * the request either way. Only level changes reach the host.
 */
void iq_pci_set_irq(struct iq_pci_dev *pci, bool level);

/* Bus address where `bar` is decoded now, or IQ_PCI_BAR_UNMAPPED. */
uint64_t iq_pci_bar_addr(const struct iq_pci_dev *pci, unsigned bar);
/* COMMAND register now. */
uint16_t iq_pci_command(const struct iq_pci_dev *pci);

#endif /* IQ_INCLUDE_PCI_H */
