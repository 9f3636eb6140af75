/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LSI 53C895A test harness (see lsi-harness.h). */
#include <errno.h>
#include <string.h>

#include "ioreqd/scsi.h"
#include "ioreqd/storage.h"
#include "lsi-harness.h"

static int
host_map(void *host, unsigned bar, enum iq_space space, uint64_t addr,
         uint64_t size, const struct iq_region_ops *ops, void *opaque)
{
    struct lh *h = host;

    (void)space;
    (void)size;
    h->bar_addr[bar] = addr;
    h->bar_ops[bar] = ops;
    h->bar_opaque[bar] = opaque;
    h->maps++;
    return 0;
}

static void
host_unmap(void *host, unsigned bar)
{
    struct lh *h = host;

    h->bar_ops[bar] = NULL;
    h->unmaps++;
}

static int
host_intx(void *host, unsigned pin, unsigned level)
{
    struct lh *h = host;

    (void)pin;
    if (level && !h->intx_level) {
        h->intx_edges++;
    }
    h->intx_level = level;
    return 0;
}

static const struct iq_pci_host_ops lh_host_ops = {
    .map = host_map,
    .unmap = host_unmap,
    .intx = host_intx,
};

int
lh_init(struct lh *h, bool two_luns, unsigned budget)
{
    return lh_init_sized(h, two_luns, budget, LH_RAM_SIZE);
}

int
lh_init_sized(struct lh *h, bool two_luns, unsigned budget, size_t ram_size)
{
    return lh_init_disk(h, two_luns, budget, ram_size, LH_DISK_SIZE);
}

int
lh_init_disk(struct lh *h, bool two_luns, unsigned budget, size_t ram_size,
             size_t disk_size)
{
    struct iq_mc_config mc = {
        .cap_bytes = 1u << 20,
        .bucket_shift = 12,
        .foreign = &iq_test_ram_ops,
    };
    struct iq_storage_opts so = {0};
    struct iq_lsi_config lc;
    int rc;

    memset(h, 0, sizeof(*h));
    rc = iq_test_ram_init(&h->fake, ram_size, 0);
    if (rc < 0) {
        return rc;
    }
    h->ram = h->fake.ram;
    h->ram_size = ram_size;
    mc.foreign_opaque = &h->fake;
    rc = iq_mc_create(&mc, &h->mc);
    if (rc == 0) {
        rc = iq_loop_create(&h->loop);
    }
    for (unsigned i = 0; rc == 0 && i < 2; i++) {
        rc = iq_storage_open_mem(h->loop, disk_size, &so, &h->sto[i]);
        if (rc == 0) {
            rc = iq_scsi_target_create(i == 0 ? "t0" : "t2", h->loop,
                                       &h->tgt[i]);
        }
        if (rc == 0) {
            struct iq_scsi_lun_config lcfg = {.storage = h->sto[i]};

            rc = iq_scsi_target_add_lun(h->tgt[i], 0, &lcfg);
        }
    }
    if (rc == 0 && two_luns) {
        struct iq_scsi_lun_config lcfg = {.storage = h->sto[1]};

        rc = iq_scsi_target_add_lun(h->tgt[0], 1, &lcfg);
    }
    if (rc == 0) {
        memset(&lc, 0, sizeof(lc));
        lc.name = "lsi-test";
        lc.loop = h->loop;
        lc.mc = h->mc;
        lc.targets[0] = h->tgt[0];
        lc.targets[2] = h->tgt[1];
        lc.host = &lh_host_ops;
        lc.host_opaque = h;
        lc.insn_budget = budget;
        rc = iq_lsi_create(&lc, &h->lsi);
    }
    if (rc < 0) {
        lh_fini(h);
    }
    return rc;
}

void
lh_fini(struct lh *h)
{
    iq_lsi_destroy(h->lsi);
    h->lsi = NULL;
    for (unsigned i = 0; i < 2; i++) {
        iq_scsi_target_destroy(h->tgt[i]);
        h->tgt[i] = NULL;
        iq_storage_destroy(h->sto[i]);
        h->sto[i] = NULL;
    }
    iq_mc_destroy(h->mc);
    h->mc = NULL;
    iq_loop_destroy(h->loop);
    h->loop = NULL;
    iq_test_ram_fini(&h->fake);
    h->ram = NULL;
}

void
lh_enable(struct lh *h)
{
    struct iq_pci_dev *pci = iq_lsi_pci(h->lsi);

    iq_pci_cfg_write(pci, IQ_PCI_BAR0, LH_IO_BASE, 4);
    iq_pci_cfg_write(pci, IQ_PCI_BAR0 + 4, LH_MMIO_BASE, 4);
    iq_pci_cfg_write(pci, IQ_PCI_BAR0 + 8, LH_RAM_BASE, 4);
    iq_pci_cfg_write(pci, IQ_PCI_COMMAND, 0x7, 2);
}

void
lh_settle(struct lh *h)
{
    unsigned idle = 0;

    for (unsigned i = 0; i < 100000 && idle < 3; i++) {
        int n = iq_loop_run_once(h->loop, 0);

        idle = n > 0 ? 0 : idle + 1;
    }
}

uint32_t
lh_rd(struct lh *h, unsigned reg, unsigned size)
{
    return iq_lsi_reg_read(h->lsi, reg, size);
}

void
lh_wr(struct lh *h, unsigned reg, uint32_t v, unsigned size)
{
    iq_lsi_reg_write(h->lsi, reg, v, size);
}

void
lh_start(struct lh *h, uint32_t dsp)
{
    for (unsigned i = 0; i < 4; i++) {
        lh_wr(h, 0x2c + i, (dsp >> (8 * i)) & 0xffu, 1);
    }
}

void
lh_emit(struct lh_prog *p, uint32_t a, uint32_t b)
{
    if (p->n + 2 <= 512) {
        p->w[p->n++] = a;
        p->w[p->n++] = b;
    }
}

void
lh_emit3(struct lh_prog *p, uint32_t a, uint32_t b, uint32_t c)
{
    if (p->n + 3 <= 512) {
        p->w[p->n++] = a;
        p->w[p->n++] = b;
        p->w[p->n++] = c;
    }
}

uint32_t
lh_here(const struct lh_prog *p)
{
    return p->n * 4u;
}

void
lh_put32(struct lh *h, uint32_t gpa, uint32_t v)
{
    if (gpa + 4 <= h->ram_size) {
        h->ram[gpa] = (uint8_t)v;
        h->ram[gpa + 1] = (uint8_t)(v >> 8);
        h->ram[gpa + 2] = (uint8_t)(v >> 16);
        h->ram[gpa + 3] = (uint8_t)(v >> 24);
    }
}

uint32_t
lh_get32(struct lh *h, uint32_t gpa)
{
    if (gpa + 4 > h->ram_size) {
        return 0;
    }
    return (uint32_t)h->ram[gpa] | (uint32_t)h->ram[gpa + 1] << 8 |
           (uint32_t)h->ram[gpa + 2] << 16 | (uint32_t)h->ram[gpa + 3] << 24;
}

void
lh_load(struct lh *h, uint32_t gpa, const struct lh_prog *p)
{
    for (unsigned i = 0; i < p->n; i++) {
        lh_put32(h, gpa + 4 * i, p->w[i]);
    }
}

void
lh_load_ram(struct lh *h, uint32_t off, const struct lh_prog *p)
{
    for (unsigned i = 0; i < p->n; i++) {
        h->bar_ops[2]->write(h->bar_opaque[2], off + 4 * i, p->w[i], 4);
    }
}

void
lh_seabios_prog(struct lh_prog *p, unsigned target, uint32_t msgout,
                unsigned mo_len, uint32_t cdb, bool dir_in, uint32_t len,
                uint32_t buf, uint32_t status, uint32_t msgin,
                uint32_t msgin_tmp)
{
    lh_emit(p, 0x40000000u | target << 16, 0);
    lh_emit(p, 0x06000000u | mo_len, msgout);
    lh_emit(p, 0x02000010u, cdb);
    /* Not MSG IN: skip the disconnect handling (3 instructions). */
    lh_emit(p, 0x87820000u, 0x18);
    lh_emit(p, 0x07000002u, msgin_tmp);
    lh_emit(p, 0x50000000u, 0);
    lh_emit(p, 0x07000002u, msgin_tmp);
    if (len != 0) {
        lh_emit(p, (dir_in ? 0x01000000u : 0) | len, buf);
    } else {
        /* SeaBIOS emits two zero words for no data. */
        lh_emit(p, 0, 0);
    }
    lh_emit(p, 0x03000001u, status);
    lh_emit(p, 0x07000001u, msgin);
    lh_emit(p, 0x98080000u, 0);
}
