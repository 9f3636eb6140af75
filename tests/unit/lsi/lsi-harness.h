/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test harness for the LSI 53C895A model: flat guest RAM behind a real
 * mapcache (pages past the end are holes), mem-storage SCSI targets, a
 * recording PCI host (BAR maps, INTx), a tiny SCRIPTS assembler, and a loop
 * runner. Shared by tests/unit/lsi and tests/fuzz/lsi.
 */
#ifndef IQ_TESTS_LSI_HARNESS_H
#define IQ_TESTS_LSI_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioreqd/lsi.h"
#include "iq-test-ram.h"

#define LH_RAM_SIZE (1u << 20)
#define LH_DISK_SIZE (256u * 1024u)
/* Bus addresses the harness programs into the BARs. */
#define LH_IO_BASE 0xc100u
#define LH_MMIO_BASE 0xf1002000u
#define LH_RAM_BASE 0xf1000000u

/* SCSI phases in block-move encodings. */
#define LH_DO 0u
#define LH_DI 1u
#define LH_CMD 2u
#define LH_ST 3u
#define LH_MO 6u
#define LH_MI 7u

struct lh {
    struct iq_test_ram fake; /* guest RAM, pages past the end are holes */
    uint8_t *ram; /* fake.ram */
    size_t ram_size; /* fake.size */
    struct iq_mc *mc;
    struct iq_loop *loop;
    struct iq_storage *sto[2];
    struct iq_scsi_target *tgt[2];
    struct iq_lsi *lsi;
    /* recording host */
    uint64_t bar_addr[6];
    const struct iq_region_ops *bar_ops[6];
    void *bar_opaque[6];
    unsigned maps;
    unsigned unmaps;
    unsigned intx_level;
    unsigned intx_edges;
};

/*
 * Targets: ID 0 (LUN 0, and LUN 1 when two_luns) and ID 2 (LUN 0).
 * budget 0: default. Returns 0 or -errno.
 */
int lh_init(struct lh *h, bool two_luns, unsigned budget);
/* The same with `ram_size` bytes of guest RAM (a page multiple). */
int lh_init_sized(struct lh *h, bool two_luns, unsigned budget,
                  size_t ram_size);
/* The same with `disk_size` bytes per disk. */
int lh_init_disk(struct lh *h, bool two_luns, unsigned budget, size_t ram_size,
                 size_t disk_size);
void lh_fini(struct lh *h);
/* Program the BARs and enable I/O, memory and bus mastering. */
void lh_enable(struct lh *h);
/* Run the loop until nothing is left to do (bounded). */
void lh_settle(struct lh *h);

uint32_t lh_rd(struct lh *h, unsigned reg, unsigned size);
void lh_wr(struct lh *h, unsigned reg, uint32_t v, unsigned size);
/* Start SCRIPTS at `dsp` (DSP written bytewise, as SeaBIOS does). */
void lh_start(struct lh *h, uint32_t dsp);

/* SCRIPTS builder. */
struct lh_prog {
    uint32_t w[512];
    unsigned n;
};
void lh_emit(struct lh_prog *p, uint32_t a, uint32_t b);
void lh_emit3(struct lh_prog *p, uint32_t a, uint32_t b, uint32_t c);
/* Byte offset of the next instruction. */
uint32_t lh_here(const struct lh_prog *p);
/* Write the program at guest RAM `gpa` (little-endian words). */
void lh_load(struct lh *h, uint32_t gpa, const struct lh_prog *p);
/* Write it into SCRIPTS RAM at `off` through BAR2's region ops. */
void lh_load_ram(struct lh *h, uint32_t off, const struct lh_prog *p);

void lh_put32(struct lh *h, uint32_t gpa, uint32_t v);
uint32_t lh_get32(struct lh *h, uint32_t gpa);

/*
 * Append the SeaBIOS-shaped command program: select `target`, MSG OUT
 * from `msgout` (`mo_len` bytes), 16-byte CDB from `cdb`, disconnect
 * branch, data (`dir_in`, `len` bytes at `buf`; none when len 0), STATUS
 * to `status`, MSG IN to `msgin`, INT 0 (DSTAT.SIR).
 */
void lh_seabios_prog(struct lh_prog *p, unsigned target, uint32_t msgout,
                     unsigned mo_len, uint32_t cdb, bool dir_in, uint32_t len,
                     uint32_t buf, uint32_t status, uint32_t msgin,
                     uint32_t msgin_tmp);

#endif /* IQ_TESTS_LSI_HARNESS_H */
