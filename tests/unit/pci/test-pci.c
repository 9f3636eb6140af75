/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI function model: header values, BAR sizing, decode enable / move /
 * disable with a recording host, INTx and its disable bit, bad writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ioreqd/pci.h"

#define LOG_MAX 64

struct rec {
    struct {
        char what; /* 'm' map, 'u' unmap, 'i' intx */
        unsigned bar;
        enum iq_space space;
        uint64_t addr;
        uint64_t size;
        unsigned level;
    } log[LOG_MAX];
    unsigned n;
    int fail_map; /* next map returns this when non-zero */
};

static int
rec_map(void *host, unsigned bar, enum iq_space space, uint64_t addr,
        uint64_t size, const struct iq_region_ops *ops, void *opaque)
{
    struct rec *r = host;
    int rc = r->fail_map;

    (void)ops;
    (void)opaque;
    r->fail_map = 0;
    if (rc != 0) {
        return rc;
    }
    if (r->n < LOG_MAX) {
        r->log[r->n].what = 'm';
        r->log[r->n].bar = bar;
        r->log[r->n].space = space;
        r->log[r->n].addr = addr;
        r->log[r->n].size = size;
        r->n++;
    }
    return 0;
}

static void
rec_unmap(void *host, unsigned bar)
{
    struct rec *r = host;

    if (r->n < LOG_MAX) {
        r->log[r->n].what = 'u';
        r->log[r->n].bar = bar;
        r->n++;
    }
}

static int
rec_intx(void *host, unsigned pin, unsigned level)
{
    struct rec *r = host;

    if (r->n < LOG_MAX) {
        r->log[r->n].what = 'i';
        r->log[r->n].bar = pin;
        r->log[r->n].level = level;
        r->n++;
    }
    return 0;
}

static const struct iq_pci_host_ops rec_ops = {
    .map = rec_map,
    .unmap = rec_unmap,
    .intx = rec_intx,
};

static uint64_t
dummy_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)size;
    return 0;
}

static void
dummy_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)value;
    (void)size;
}

static const struct iq_region_ops dummy_ops = {dummy_read, dummy_write};

struct fx {
    struct rec rec;
    struct iq_pci_dev *pci;
};

static int
setup(void **state)
{
    static struct fx f;
    struct iq_pci_config c;

    memset(&f, 0, sizeof(f));
    memset(&c, 0, sizeof(c));
    c.name = "pci-test";
    c.vendor_id = 0x1000;
    c.device_id = 0x0012;
    c.subsys_vendor_id = 0x1af4;
    c.subsys_id = 0x1000;
    c.revision = 0x02;
    c.class_code = 0x010000;
    c.int_pin = 1;
    c.latency = 0xff;
    c.bars[0] = (struct iq_pci_bar_def){IQ_PCI_BAR_IO, 256, &dummy_ops, NULL};
    c.bars[1] =
        (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, 0x400, &dummy_ops, NULL};
    c.bars[2] =
        (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, 0x2000, &dummy_ops, NULL};
    c.host = &rec_ops;
    c.host_opaque = &f.rec;
    if (iq_pci_create(&c, &f.pci) < 0) {
        return -1;
    }
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    iq_pci_destroy(f->pci);
    return 0;
}

static void
test_header(void **state)
{
    struct fx *f = *state;
    struct iq_pci_dev *p = f->pci;

    assert_int_equal(iq_pci_cfg_read(p, 0x00, 4), 0x00121000);
    assert_int_equal(iq_pci_cfg_read(p, 0x00, 2), 0x1000);
    assert_int_equal(iq_pci_cfg_read(p, 0x02, 2), 0x0012);
    assert_int_equal(iq_pci_cfg_read(p, 0x04, 4), 0);
    assert_int_equal(iq_pci_cfg_read(p, 0x08, 4), 0x01000002);
    assert_int_equal(iq_pci_cfg_read(p, 0x0b, 1), 0x01);
    assert_int_equal(iq_pci_cfg_read(p, 0x0d, 1), 0xff);
    assert_int_equal(iq_pci_cfg_read(p, 0x0e, 1), 0x00);
    assert_int_equal(iq_pci_cfg_read(p, 0x2c, 4), 0x10001af4);
    assert_int_equal(iq_pci_cfg_read(p, IQ_PCI_CAP_PTR, 1), 0);
    assert_int_equal(iq_pci_cfg_read(p, 0x3c, 2), 0x0100);
    assert_int_equal(iq_pci_cfg_read(p, 0x10, 4), 0x00000001);
    assert_int_equal(iq_pci_cfg_read(p, 0x1c, 4), 0);
    /* Past the header: zeroes. Unaligned across dwords: bytewise. */
    assert_int_equal(iq_pci_cfg_read(p, 0x40, 4), 0);
    assert_int_equal(iq_pci_cfg_read(p, 0xffc, 4), 0);
    assert_int_equal(iq_pci_cfg_read(p, 0x03, 2), 0x0000);
    assert_int_equal(iq_pci_cfg_read(p, 0x01, 4), 0x00001210);
    /* Bad sizes and offsets read all ones. */
    assert_int_equal(iq_pci_cfg_read(p, 0, 3), 0xffffffffu);
    assert_int_equal(iq_pci_cfg_read(p, 0xffe, 4), 0xffffffffu);
    assert_int_equal(iq_pci_cfg_read(p, 0x1000, 1), 0xffffffffu);
    assert_int_equal(iq_pci_region_ops()->read(p, 0x2000, 4),
                     0xffffffffffffffffull);
}

static void
test_readonly_and_bad_writes(void **state)
{
    struct fx *f = *state;
    struct iq_pci_dev *p = f->pci;

    iq_pci_cfg_write(p, 0x00, 0xdeadbeef, 4);
    iq_pci_cfg_write(p, 0x08, 0xffffffff, 4);
    iq_pci_cfg_write(p, 0x2c, 0xffffffff, 4);
    iq_pci_cfg_write(p, 0x3d, 0x04, 1);
    iq_pci_cfg_write(p, 0x06, 0xffff, 2); /* status: nothing to clear */
    iq_pci_cfg_write(p, 0x04, 0xffff, 3); /* bad size: ignored */
    iq_pci_cfg_write(p, 0xffe, 0xffffffff, 4); /* past the end */
    iq_pci_cfg_write(p, 0x100, 0xffffffff, 4);
    assert_int_equal(iq_pci_cfg_read(p, 0x00, 4), 0x00121000);
    assert_int_equal(iq_pci_cfg_read(p, 0x08, 4), 0x01000002);
    assert_int_equal(iq_pci_cfg_read(p, 0x2c, 4), 0x10001af4);
    assert_int_equal(iq_pci_cfg_read(p, 0x04, 4), 0);
    assert_int_equal(iq_pci_cfg_read(p, 0x100, 4), 0);
    assert_int_equal(f->rec.n, 0);
    /* Interrupt line is writable, pin is not. */
    iq_pci_cfg_write(p, 0x3c, 0x0a0b, 2);
    assert_int_equal(iq_pci_cfg_read(p, 0x3c, 2), 0x010b);
    /* COMMAND keeps only the implemented bits. */
    iq_pci_cfg_write(p, 0x04, 0xfff8, 2);
    assert_int_equal(iq_pci_cfg_read(p, 0x04, 2), 0x0540);
    /* Unaligned write across COMMAND/STATUS: only COMMAND's byte lands. */
    iq_pci_cfg_write(p, 0x05, 0x00000000, 2);
    assert_int_equal(iq_pci_cfg_read(p, 0x04, 2), 0x0040);
}

static void
test_bar_sizing(void **state)
{
    struct fx *f = *state;
    struct iq_pci_dev *p = f->pci;

    for (unsigned i = 0; i < 6; i++) {
        iq_pci_cfg_write(p, 0x10 + 4 * i, 0xffffffffu, 4);
    }
    assert_int_equal(iq_pci_cfg_read(p, 0x10, 4), 0xffffff01u);
    assert_int_equal(iq_pci_cfg_read(p, 0x14, 4), 0xfffffc00u);
    assert_int_equal(iq_pci_cfg_read(p, 0x18, 4), 0xffffe000u);
    assert_int_equal(iq_pci_cfg_read(p, 0x1c, 4), 0);
    assert_int_equal(iq_pci_cfg_read(p, 0x24, 4), 0);
    /* Sizing with decode enabled maps nothing (all-ones pattern). */
    iq_pci_cfg_write(p, 0x04, 0x3, 2);
    assert_int_equal(f->rec.n, 0);
    assert_int_equal(iq_pci_bar_addr(p, 0), IQ_PCI_BAR_UNMAPPED);
    /* Low bits are forced: 0x1234 in an I/O BAR of 256 reads 0x1201. */
    iq_pci_cfg_write(p, 0x10, 0x1234, 4);
    assert_int_equal(iq_pci_cfg_read(p, 0x10, 4), 0x1201);
    assert_int_equal(f->rec.n, 1);
    assert_int_equal(f->rec.log[0].what, 'm');
    assert_int_equal(f->rec.log[0].space, IQ_SPACE_PIO);
    assert_int_equal(f->rec.log[0].addr, 0x1200);
    assert_int_equal(f->rec.log[0].size, 256);
}

static void
test_decode_move_disable(void **state)
{
    struct fx *f = *state;
    struct iq_pci_dev *p = f->pci;

    /* hvmloader order: sizes, addresses, then COMMAND. */
    iq_pci_cfg_write(p, 0x10, 0xc101, 4);
    iq_pci_cfg_write(p, 0x14, 0xf1002000, 4);
    iq_pci_cfg_write(p, 0x18, 0xf1000000, 4);
    assert_int_equal(f->rec.n, 0);
    iq_pci_cfg_write(p, 0x04, 0x1, 2); /* I/O only */
    assert_int_equal(f->rec.n, 1);
    assert_int_equal(f->rec.log[0].bar, 0);
    assert_int_equal(f->rec.log[0].addr, 0xc100);
    iq_pci_cfg_write(p, 0x04, 0x7, 2); /* + memory, master */
    assert_int_equal(f->rec.n, 3);
    assert_int_equal(f->rec.log[1].bar, 1);
    assert_int_equal(f->rec.log[1].space, IQ_SPACE_MMIO);
    assert_int_equal(f->rec.log[1].addr, 0xf1002000);
    assert_int_equal(f->rec.log[1].size, 0x400);
    assert_int_equal(f->rec.log[2].bar, 2);
    assert_int_equal(f->rec.log[2].addr, 0xf1000000);
    assert_int_equal(iq_pci_bar_addr(p, 2), 0xf1000000);
    /* Same value again: nothing. */
    iq_pci_cfg_write(p, 0x04, 0x7, 2);
    iq_pci_cfg_write(p, 0x14, 0xf1002000, 4);
    assert_int_equal(f->rec.n, 3);
    /* Move BAR1 with decode on (a byte write moves it): unmap + map. */
    iq_pci_cfg_write(p, 0x16, 0x10, 1);
    assert_int_equal(f->rec.n, 5);
    assert_int_equal(f->rec.log[3].what, 'u');
    assert_int_equal(f->rec.log[3].bar, 1);
    assert_int_equal(f->rec.log[4].what, 'm');
    assert_int_equal(f->rec.log[4].addr, 0xf1102000);
    /* Moving BAR1 onto BAR2: overlapping, left undecoded. */
    iq_pci_cfg_write(p, 0x14, 0xf1001000, 4);
    assert_int_equal(f->rec.n, 6);
    assert_int_equal(f->rec.log[5].what, 'u');
    assert_int_equal(iq_pci_bar_addr(p, 1), IQ_PCI_BAR_UNMAPPED);
    /* An I/O BAR past 64 KiB wraps: not decoded. */
    iq_pci_cfg_write(p, 0x10, 0xffff01, 4);
    assert_int_equal(f->rec.log[6].what, 'u');
    assert_int_equal(f->rec.log[6].bar, 0);
    assert_int_equal(f->rec.n, 7);
    /* A host map failure leaves the BAR undecoded. */
    f->rec.fail_map = -EEXIST;
    iq_pci_cfg_write(p, 0x10, 0xc201, 4);
    assert_int_equal(iq_pci_bar_addr(p, 0), IQ_PCI_BAR_UNMAPPED);
    assert_int_equal(f->rec.n, 7);
    /* Address 0: not decoded. The next config write retries BAR0. */
    iq_pci_cfg_write(p, 0x14, 0, 4);
    assert_int_equal(f->rec.n, 8);
    assert_int_equal(f->rec.log[7].what, 'm');
    assert_int_equal(f->rec.log[7].addr, 0xc200);
    assert_int_equal(iq_pci_bar_addr(p, 1), IQ_PCI_BAR_UNMAPPED);
    /* Disable memory: BAR2 goes. */
    iq_pci_cfg_write(p, 0x04, 0x5, 2);
    assert_int_equal(f->rec.n, 9);
    assert_int_equal(f->rec.log[8].what, 'u');
    assert_int_equal(f->rec.log[8].bar, 2);
    /* Destroy unmaps what is left: BAR0. */
    iq_pci_destroy(p);
    f->pci = NULL;
    assert_int_equal(f->rec.n, 10);
    assert_int_equal(f->rec.log[9].what, 'u');
    assert_int_equal(f->rec.log[9].bar, 0);
}

static void
test_intx(void **state)
{
    struct fx *f = *state;
    struct iq_pci_dev *p = f->pci;

    iq_pci_set_irq(p, true);
    assert_int_equal(f->rec.n, 1);
    assert_int_equal(f->rec.log[0].what, 'i');
    assert_int_equal(f->rec.log[0].bar, 0); /* INTA */
    assert_int_equal(f->rec.log[0].level, 1);
    assert_int_equal(iq_pci_cfg_read(p, 0x06, 2) & 0x08, 0x08);
    /* Level unchanged: no call. */
    iq_pci_set_irq(p, true);
    assert_int_equal(f->rec.n, 1);
    /* INTx disable lowers the line; status still shows the request. */
    iq_pci_cfg_write(p, 0x04, 0x400, 2);
    assert_int_equal(f->rec.n, 2);
    assert_int_equal(f->rec.log[1].level, 0);
    assert_int_equal(iq_pci_cfg_read(p, 0x04, 4), 0x00080400);
    iq_pci_set_irq(p, false);
    assert_int_equal(f->rec.n, 2);
    assert_int_equal(iq_pci_cfg_read(p, 0x06, 2), 0);
    iq_pci_set_irq(p, true);
    assert_int_equal(f->rec.n, 2);
    iq_pci_cfg_write(p, 0x05, 0x00, 1);
    assert_int_equal(f->rec.n, 3);
    assert_int_equal(f->rec.log[2].level, 1);
    /* Destroy lowers a raised line. */
    iq_pci_destroy(p);
    f->pci = NULL;
    assert_int_equal(f->rec.n, 4);
    assert_int_equal(f->rec.log[3].level, 0);
}

static void
test_create_rejects(void **state)
{
    struct iq_pci_config c;
    struct iq_pci_dev *p = NULL;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.host = &rec_ops;
    c.bars[0] = (struct iq_pci_bar_def){IQ_PCI_BAR_IO, 300, &dummy_ops, NULL};
    assert_int_equal(iq_pci_create(&c, &p), -EINVAL);
    c.bars[0] = (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, 8, &dummy_ops, NULL};
    assert_int_equal(iq_pci_create(&c, &p), -EINVAL);
    c.bars[0] = (struct iq_pci_bar_def){IQ_PCI_BAR_MEM32, 4096, NULL, NULL};
    assert_int_equal(iq_pci_create(&c, &p), -EINVAL);
    c.bars[0].ops = &dummy_ops;
    c.int_pin = 5;
    assert_int_equal(iq_pci_create(&c, &p), -EINVAL);
    c.int_pin = 0;
    assert_int_equal(iq_pci_create(&c, &p), 0);
    /* No pin: requests never reach the host. */
    iq_pci_set_irq(p, true);
    iq_pci_destroy(p);
    iq_pci_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_and_bad_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_move_disable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
        cmocka_unit_test(test_create_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
