/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scalar types and limits shared by every layer.
 */
#ifndef IQ_INCLUDE_TYPES_H
#define IQ_INCLUDE_TYPES_H

#include <stdint.h>

/* A guest-physical address, or a grant address (bit 63 set, see mapcache.h). */
typedef uint64_t gpa_t;

#define IQ_PAGE_SHIFT 12
#define IQ_PAGE_SIZE (1u << IQ_PAGE_SHIFT)
#define IQ_PAGE_MASK (~(uint64_t)(IQ_PAGE_SIZE - 1))

/* Xen's DOMID_INVALID; a domid is 15 bits in practice. */
#define IQ_DOMID_INVALID 0x7ff4u

/* Largest number of vCPUs one synchronous ioreq page can hold (4096 / 32). */
#define IQ_MAX_VCPUS 128u

/* Architecture personality of the guest: decides ioreq quirks and IRQ ops. */
enum iq_arch {
    IQ_ARCH_ARM = 0,
    IQ_ARCH_X86 = 1,
};

#endif /* IQ_INCLUDE_TYPES_H */
