/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SCSI target: every supported command with exact data and sense bytes,
 * CDB edge cases, LUN handling, unit attention, and host I/O errors, over
 * the mem storage, a temporary file (io_uring and worker threads), /dev/full
 * and a file that shrank.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ioreqd/compiler.h"
#include "ioreqd/loop.h"
#include "ioreqd/scsi.h"
#include "ioreqd/storage.h"

#define MEM_BLOCKS 8192u /* 4 MiB */
#define BS 512u
#define BUF_LEN (IQ_SCSI_MAX_XFER + 4096u)

struct h {
    struct iq_loop *loop;
    struct iq_storage *sto[IQ_SCSI_MAX_LUNS];
    struct iq_scsi_target *t;
    struct iq_scsi_task task;
    struct iovec iov[4];
    uint8_t *buf;
    unsigned ndone;
    int prep; /* last prepare result */
    char path[64];
};

static void
done_cb(struct iq_scsi_task *task)
{
    struct h *h = task->opaque;

    h->ndone++;
}

static struct h *
h_new(void)
{
    struct h *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    h->buf = calloc(1, BUF_LEN);
    assert_non_null(h->buf);
    assert_int_equal(iq_loop_create(&h->loop), 0);
    assert_int_equal(iq_scsi_target_create("test", h->loop, &h->t), 0);
    return h;
}

static void
h_free(struct h *h)
{
    iq_scsi_target_destroy(h->t);
    for (unsigned i = 0; i < IQ_SCSI_MAX_LUNS; i++) {
        iq_storage_destroy(h->sto[i]);
    }
    iq_loop_destroy(h->loop);
    if (h->path[0] != '\0') {
        unlink(h->path);
    }
    free(h->buf);
    free(h);
}

static void
h_add(struct h *h, unsigned lun, struct iq_storage *s,
      const struct iq_scsi_lun_config *extra)
{
    struct iq_scsi_lun_config cfg = {0};

    if (extra != NULL) {
        cfg = *extra;
    }
    cfg.storage = s;
    h->sto[lun] = s;
    assert_int_equal(iq_scsi_target_add_lun(h->t, lun, &cfg), 0);
}

static void
h_add_mem(struct h *h, unsigned lun, const struct iq_scsi_lun_config *extra)
{
    struct iq_storage *s;

    assert_int_equal(
        iq_storage_open_mem(h->loop, (uint64_t)MEM_BLOCKS * BS, NULL, &s), 0);
    h_add(h, lun, s, extra);
}

/* Issue one command: prepare, then (if needed) submit and run the loop. */
static struct iq_scsi_task *
cmd_iov(struct h *h, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
        unsigned iovcnt)
{
    struct iq_scsi_task *task = &h->task;
    unsigned before;

    memset(task, 0, sizeof(*task));
    task->lun = lun;
    memcpy(task->cdb, cdb, IQ_MIN(cdb_len, 16u));
    task->cdb_len = cdb_len;
    task->done = done_cb;
    task->opaque = h;
    h->prep = iq_scsi_task_prepare(h->t, task);
    assert_true(h->prep == 0 || h->prep == 1);
    if (h->prep == 1) {
        assert_int_equal(task->status, IQ_SCSI_STATUS_CHECK_CONDITION);
        assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
        return task;
    }
    task->iov = h->iov;
    task->iovcnt = iovcnt;
    before = h->ndone;
    iq_scsi_task_submit(h->t, task);
    /* never from inside submit */
    assert_int_equal(h->ndone, before);
    for (unsigned i = 0; h->ndone == before; i++) {
        assert_true(i < 10000);
        assert_true(iq_loop_run_once(h->loop, 1000) >= 0);
    }
    assert_int_equal(h->ndone, before + 1);
    return task;
}

/* One iovec over the whole buffer (larger than any xfer_len). */
static struct iq_scsi_task *
cmd(struct h *h, unsigned lun, const uint8_t *cdb, unsigned cdb_len)
{
    h->iov[0].iov_base = h->buf;
    h->iov[0].iov_len = BUF_LEN;
    return cmd_iov(h, lun, cdb, cdb_len, 1);
}

static void
assert_good(const struct iq_scsi_task *task)
{
    assert_int_equal(task->status, IQ_SCSI_STATUS_GOOD);
    assert_int_equal(task->sense_len, 0);
}

/* CHECK CONDITION with fixed-format sense key/ASC/ASCQ. */
static void
assert_check(const struct iq_scsi_task *task, uint8_t key, uint8_t asc,
             uint8_t ascq)
{
    uint8_t want[IQ_SCSI_SENSE_LEN] = {0x70, 0, key, 0,   0,    0, 0, 10, 0,
                                       0,    0, 0,   asc, ascq, 0, 0, 0,  0};

    assert_int_equal(task->status, IQ_SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(task->sense_len, IQ_SCSI_SENSE_LEN);
    assert_memory_equal(task->sense, want, IQ_SCSI_SENSE_LEN);
    assert_int_equal(task->data_len, 0);
}

static const uint8_t cdb_tur[6] = {0x00};

/* Consume the power-on unit attention of `lun`. */
static void
clear_ua(struct h *h, unsigned lun)
{
    assert_check(cmd(h, lun, cdb_tur, 6), 0x06, 0x29, 0x00);
    assert_good(cmd(h, lun, cdb_tur, 6));
}

/* A target with a mem LUN 0, unit attention consumed. */
static struct h *
h_mem(void)
{
    struct h *h = h_new();

    h_add_mem(h, 0, NULL);
    clear_ua(h, 0);
    return h;
}

static void
fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
    }
}

/* ---- INQUIRY ---- */

static const uint8_t std_inq[36] = {
    0x00, 0x00, 0x06, 0x02, 31,  0x00, 0x00, 0x02, 'I', 'O', 'R', 'E',
    'Q',  'D',  ' ',  ' ',  'V', 'I',  'R',  'T',  'U', 'A', 'L', ' ',
    'D',  'I',  'S',  'K',  ' ', ' ',  ' ',  ' ',  '0', '0', '0', '1'};

static void
test_inquiry_standard(void **state)
{
    struct h *h = h_mem();
    uint8_t cdb[6] = {0x12, 0, 0, 0, 0xff, 0};
    struct iq_scsi_task *task;

    (void)state;
    memset(h->buf, 0xee, 64);
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_IN);
    assert_int_equal(task->xfer_len, 36);
    assert_int_equal(task->data_len, 36);
    assert_memory_equal(h->buf, std_inq, 36);
    assert_int_equal(h->buf[36], 0xee);

    /* allocation length 5 truncates */
    cdb[4] = 5;
    memset(h->buf, 0xee, 64);
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->xfer_len, 5);
    assert_int_equal(task->data_len, 5);
    assert_memory_equal(h->buf, std_inq, 5);
    assert_int_equal(h->buf[5], 0xee);

    /* allocation length 0: no data phase */
    cdb[4] = 0;
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
    assert_int_equal(task->data_len, 0);

    /* 16-bit allocation length (SPC-4) */
    cdb[3] = 0x01;
    cdb[4] = 0x00;
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->xfer_len, 36);

    /* page code without EVPD, CMDDT */
    cdb[2] = 0x80;
    assert_check(cmd(h, 0, cdb, 6), 0x05, 0x24, 0x00);
    cdb[2] = 0;
    cdb[1] = 0x02;
    assert_check(cmd(h, 0, cdb, 6), 0x05, 0x24, 0x00);
    /* unsupported VPD page */
    cdb[1] = 0x01;
    cdb[2] = 0x99;
    assert_check(cmd(h, 0, cdb, 6), 0x05, 0x24, 0x00);
    h_free(h);
}

static void
vpd(struct h *h, unsigned lun, uint8_t page, struct iq_scsi_task **out)
{
    uint8_t cdb[6] = {0x12, 0x01, page, 0x01, 0x00, 0};

    memset(h->buf, 0xee, 512);
    *out = cmd(h, lun, cdb, 6);
    assert_good(*out);
}

static void
test_inquiry_vpd(void **state)
{
    struct h *h = h_new();
    struct iq_scsi_lun_config cfg = {.serial = "SN-0001"};
    struct iq_scsi_task *task;
    static const uint8_t p00[] = {0,    0x00, 0,    6,    0x00,
                                  0x80, 0x83, 0xb0, 0xb1, 0xb2};
    static const uint8_t p80[] = {0,   0x80, 0,   7,   'S', 'N',
                                  '-', '0',  '0', '0', '1'};
    static const uint8_t p80_none[] = {0, 0x80, 0, 4, ' ', ' ', ' ', ' '};
    uint8_t b0[64] = {0, 0xb0, 0, 0x3c};
    uint8_t b1[64] = {0, 0xb1, 0, 0x3c, 0x00, 0x01};
    uint8_t naa0[8];

    (void)state;
    h_add_mem(h, 0, &cfg);
    h_add_mem(h, 1, NULL);
    clear_ua(h, 0);

    vpd(h, 0, 0x00, &task);
    assert_int_equal(task->data_len, sizeof(p00));
    assert_memory_equal(h->buf, p00, sizeof(p00));

    vpd(h, 0, 0x80, &task);
    assert_int_equal(task->data_len, sizeof(p80));
    assert_memory_equal(h->buf, p80, sizeof(p80));
    vpd(h, 1, 0x80, &task);
    assert_int_equal(task->data_len, sizeof(p80_none));
    assert_memory_equal(h->buf, p80_none, sizeof(p80_none));

    /* 0x83: T10 vendor id "IOREQD  SN-0001", then NAA 3, 8 bytes */
    vpd(h, 0, 0x83, &task);
    assert_int_equal(task->data_len, 4 + 4 + 15 + 12);
    assert_int_equal(h->buf[1], 0x83);
    assert_int_equal(h->buf[2] << 8 | h->buf[3], 4 + 15 + 12);
    assert_int_equal(h->buf[4], 0x02);
    assert_int_equal(h->buf[5], 0x01);
    assert_int_equal(h->buf[7], 15);
    assert_memory_equal(h->buf + 8, "IOREQD  SN-0001", 15);
    assert_int_equal(h->buf[23], 0x01);
    assert_int_equal(h->buf[24], 0x03);
    assert_int_equal(h->buf[26], 8);
    assert_int_equal(h->buf[27] >> 4, 3);
    memcpy(naa0, h->buf + 27, 8);
    /* deterministic: the same again; a different LUN differs */
    vpd(h, 0, 0x83, &task);
    assert_memory_equal(h->buf + 27, naa0, 8);
    vpd(h, 1, 0x83, &task);
    assert_int_equal(task->data_len, 4 + 4 + 24 + 12);
    assert_int_equal(h->buf[7], 24);
    assert_memory_equal(h->buf + 8, "IOREQD  ", 8);
    assert_int_equal(h->buf[32], 0x01);
    assert_int_equal(h->buf[33], 0x03);
    assert_int_equal(h->buf[36] >> 4, 3);
    assert_memory_not_equal(h->buf + 36, naa0, 8);

    /* 0xb0: max transfer = optimal = 1 MiB / 512 = 2048 blocks */
    b0[7] = 1;
    b0[10] = 0x08;
    b0[14] = 0x08;
    /* UNMAP: 0x200000 blocks, one descriptor */
    b0[21] = 0x20;
    b0[27] = 1;
    vpd(h, 0, 0xb0, &task);
    assert_int_equal(task->data_len, 64);
    assert_memory_equal(h->buf, b0, 64);

    vpd(h, 0, 0xb2, &task);
    assert_int_equal(task->data_len, 8);
    assert_memory_equal(h->buf, ((uint8_t[8]){0, 0xb2, 0, 4, 0, 0x80, 0x02, 0}),
                        8);

    vpd(h, 0, 0xb1, &task);
    assert_int_equal(task->data_len, 64);
    assert_memory_equal(h->buf, b1, 64);

    /* allocation length truncates VPD pages too */
    {
        uint8_t cdb[6] = {0x12, 0x01, 0xb0, 0, 10, 0};

        memset(h->buf, 0xee, 64);
        task = cmd(h, 0, cdb, 6);
        assert_good(task);
        assert_int_equal(task->data_len, 10);
        assert_memory_equal(h->buf, b0, 10);
        assert_int_equal(h->buf[10], 0xee);
    }
    h_free(h);
}

/* ---- LUNs ---- */

static void
test_missing_lun(void **state)
{
    struct h *h = h_mem();
    uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    uint8_t inq_vpd[6] = {0x12, 1, 0, 0, 36, 0};
    uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};
    uint8_t rd[10] = {0x28};
    uint8_t want[36];
    static const uint8_t rs_want[18] = {0x70, 0, 0x05, 0, 0, 0,   0,
                                        10,   0, 0,    0, 0, 0x25};
    struct iq_scsi_task *task;

    (void)state;
    memcpy(want, std_inq, 36);
    want[0] = 0x7f;
    for (unsigned lun = 1; lun < 12; lun += 7) { /* 1 and 8 (>= max) */
        task = cmd(h, lun, inq, 6);
        assert_good(task);
        assert_int_equal(task->data_len, 36);
        assert_memory_equal(h->buf, want, 36);
        assert_check(cmd(h, lun, inq_vpd, 6), 0x05, 0x25, 0x00);
        assert_check(cmd(h, lun, cdb_tur, 6), 0x05, 0x25, 0x00);
        assert_check(cmd(h, lun, rd, 10), 0x05, 0x25, 0x00);
        /* unknown opcodes too */
        {
            uint8_t bad[6] = {0x02};

            assert_check(cmd(h, lun, bad, 6), 0x05, 0x25, 0x00);
        }
        /* REQUEST SENSE answers with sense data, GOOD status */
        task = cmd(h, lun, rs, 6);
        assert_good(task);
        assert_int_equal(task->data_len, 18);
        assert_memory_equal(h->buf, rs_want, 18);
    }
    assert_false(iq_scsi_target_has_lun(h->t, 1));
    assert_false(iq_scsi_target_has_lun(h->t, 8));
    assert_true(iq_scsi_target_has_lun(h->t, 0));
    assert_false(iq_scsi_target_has_lun(NULL, 0));
    h_free(h);
}

static void
test_report_luns(void **state)
{
    struct h *h = h_new();
    uint8_t cdb[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0};
    static const uint8_t want[32] = {0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0,
                                     0, 0, 0, 0,  0, 0, 3, 0, 0, 0, 0,
                                     0, 0, 0, 7,  0, 0, 0, 0, 0, 0};
    struct iq_scsi_task *task;

    (void)state;
    h_add_mem(h, 0, NULL);
    h_add_mem(h, 3, NULL);
    h_add_mem(h, 7, NULL);
    /* no unit attention for REPORT LUNS, on any LUN */
    for (unsigned lun = 0; lun < 3; lun++) {
        memset(h->buf, 0xee, 64);
        task = cmd(h, lun, cdb, 12);
        assert_good(task);
        assert_int_equal(task->xfer_len, 32);
        assert_int_equal(task->data_len, 32);
        assert_memory_equal(h->buf, want, 32);
        assert_int_equal(h->buf[32], 0xee);
    }
    /* allocation length 16 truncates (list length stays 24) */
    cdb[9] = 0x10;
    cdb[8] = 0;
    task = cmd(h, 0, cdb, 12);
    assert_good(task);
    assert_int_equal(task->data_len, 16);
    assert_memory_equal(h->buf, want, 16);
    /* below 16: INVALID FIELD IN CDB */
    cdb[9] = 15;
    assert_check(cmd(h, 0, cdb, 12), 0x05, 0x24, 0x00);
    /* SELECT REPORT 1: well-known LUNs only, none */
    cdb[9] = 0x40;
    cdb[2] = 0x01;
    task = cmd(h, 0, cdb, 12);
    assert_good(task);
    assert_int_equal(task->data_len, 8);
    assert_memory_equal(h->buf, (uint8_t[8]){0}, 8);
    cdb[2] = 0x02;
    task = cmd(h, 0, cdb, 12);
    assert_int_equal(task->data_len, 32);
    cdb[2] = 0x03;
    assert_check(cmd(h, 0, cdb, 12), 0x05, 0x24, 0x00);
    /* the UAs are still pending on every LUN */
    assert_check(cmd(h, 3, cdb_tur, 6), 0x06, 0x29, 0x00);
    assert_check(cmd(h, 7, cdb_tur, 6), 0x06, 0x29, 0x00);
    h_free(h);
}

static void
test_add_lun_errors(void **state)
{
    struct h *h = h_new();
    struct iq_scsi_lun_config cfg = {0};
    struct iq_storage *s;
    struct iq_storage *tiny;

    (void)state;
    assert_int_equal(iq_storage_open_mem(h->loop, 4096, NULL, &s), 0);
    assert_int_equal(iq_storage_open_mem(h->loop, 100, NULL, &tiny), 0);
    assert_int_equal(iq_scsi_target_add_lun(h->t, 0, &cfg), -EINVAL);
    cfg.storage = s;
    assert_int_equal(iq_scsi_target_add_lun(h->t, IQ_SCSI_MAX_LUNS, &cfg),
                     -EINVAL);
    assert_int_equal(iq_scsi_target_add_lun(NULL, 0, &cfg), -EINVAL);
    assert_int_equal(iq_scsi_target_add_lun(h->t, 0, NULL), -EINVAL);
    cfg.serial = "bad\nserial";
    assert_int_equal(iq_scsi_target_add_lun(h->t, 0, &cfg), -EINVAL);
    cfg.serial = "0123456789012345678901234567890123456"; /* 37 */
    assert_int_equal(iq_scsi_target_add_lun(h->t, 0, &cfg), -EINVAL);
    cfg.serial = "012345678901234567890123456789012345"; /* 36 */
    assert_int_equal(iq_scsi_target_add_lun(h->t, 0, &cfg), 0);
    assert_int_equal(iq_scsi_target_add_lun(h->t, 0, &cfg), -EEXIST);
    cfg.storage = tiny; /* less than one block */
    assert_int_equal(iq_scsi_target_add_lun(h->t, 1, &cfg), -EINVAL);
    {
        struct iq_scsi_target *t2 = (struct iq_scsi_target *)h;

        assert_int_equal(iq_scsi_target_create("x", NULL, &t2), -EINVAL);
        assert_null(t2);
    }
    iq_scsi_target_destroy(NULL);
    iq_scsi_target_reset(NULL);
    h->sto[0] = s; /* freed after the target */
    iq_storage_destroy(tiny);
    h_free(h);
}

/* ---- unit attention, REQUEST SENSE ---- */

static void
test_unit_attention(void **state)
{
    struct h *h = h_new();
    struct iq_scsi_lun_config quiet = {.no_unit_attention = true};
    uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};
    uint8_t rc[10] = {0x25};
    static const uint8_t ua_sense[18] = {0x70, 0, 0x06, 0, 0, 0,   0,
                                         10,   0, 0,    0, 0, 0x29};
    static const uint8_t no_sense[18] = {0x70, 0, 0, 0, 0, 0, 0, 10, 0};
    struct iq_scsi_task *task;

    (void)state;
    h_add_mem(h, 0, NULL);
    h_add_mem(h, 1, &quiet);
    /* INQUIRY does not see or consume it */
    assert_good(cmd(h, 0, inq, 6));
    assert_good(cmd(h, 0, inq, 6));
    /* the first other command gets it, once */
    assert_check(cmd(h, 0, rc, 10), 0x06, 0x29, 0x00);
    /* REQUEST SENSE then reports that CHECK CONDITION's sense, once */
    task = cmd(h, 0, rs, 6);
    assert_good(task);
    assert_memory_equal(h->buf, ua_sense, 18);
    task = cmd(h, 0, rs, 6);
    assert_good(task);
    assert_memory_equal(h->buf, no_sense, 18);
    task = cmd(h, 0, rc, 10);
    assert_good(task);
    assert_int_equal(task->data_len, 8);
    /* no_unit_attention: never raised */
    assert_good(cmd(h, 1, cdb_tur, 6));

    /* after reset: again once, on both LUNs that want it */
    iq_scsi_target_reset(h->t);
    assert_check(cmd(h, 0, cdb_tur, 6), 0x06, 0x29, 0x00);
    assert_good(cmd(h, 0, cdb_tur, 6));
    assert_good(cmd(h, 1, cdb_tur, 6));

    /* REQUEST SENSE with a unit attention pending reports and clears it
       (SPC-4 5.14) */
    iq_scsi_target_reset(h->t);
    task = cmd(h, 0, rs, 6);
    assert_good(task);
    assert_memory_equal(h->buf, ua_sense, 18);
    assert_good(cmd(h, 0, cdb_tur, 6));

    /* reset clears pending sense data */
    {
        uint8_t bad[6] = {0x02};

        assert_check(cmd(h, 1, bad, 6), 0x05, 0x20, 0x00);
        iq_scsi_target_reset(h->t);
        task = cmd(h, 1, rs, 6);
        assert_memory_equal(h->buf, no_sense, 18);
    }
    h_free(h);
}

static void
test_request_sense(void **state)
{
    struct h *h = h_mem();
    uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};
    uint8_t rd[10] = {0x28, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0};
    static const uint8_t lba_sense[18] = {0x70, 0, 0x05, 0, 0, 0,   0,
                                          10,   0, 0,    0, 0, 0x21};
    struct iq_scsi_task *task;

    (void)state;
    assert_check(cmd(h, 0, rd, 10), 0x05, 0x21, 0x00);
    /* allocation length 8 truncates; the sense is consumed anyway */
    rs[4] = 8;
    memset(h->buf, 0xee, 32);
    task = cmd(h, 0, rs, 6);
    assert_good(task);
    assert_int_equal(task->xfer_len, 8);
    assert_int_equal(task->data_len, 8);
    assert_memory_equal(h->buf, lba_sense, 8);
    assert_int_equal(h->buf[8], 0xee);
    rs[4] = 18;
    task = cmd(h, 0, rs, 6);
    assert_int_equal(h->buf[2], 0x00);
    assert_int_equal(h->buf[12], 0x00);

    /* a new command clears the pending sense of the previous one */
    assert_check(cmd(h, 0, rd, 10), 0x05, 0x21, 0x00);
    assert_good(cmd(h, 0, cdb_tur, 6));
    task = cmd(h, 0, rs, 6);
    assert_int_equal(h->buf[2], 0x00);

    /* DESC=1 (descriptor format) is not supported */
    rs[1] = 0x01;
    assert_check(cmd(h, 0, rs, 6), 0x05, 0x24, 0x00);
    h_free(h);
}

/* ---- capacity ---- */

static void
test_read_capacity(void **state)
{
    struct h *h = h_mem();
    uint8_t rc10[10] = {0x25};
    uint8_t rc16[16] = {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32};
    static const uint8_t want10[8] = {0, 0, 0x1f, 0xff, 0, 0, 0x02, 0x00};
    /* byte 14: LBPME (the mem storage can discard) */
    uint8_t want16[32] = {0, 0, 0,    0,    0, 0, 0x1f, 0xff,
                          0, 0, 0x02, 0x00, 0, 0, 0x80};
    struct iq_scsi_task *task;
    struct iq_storage *big;

    (void)state;
    memset(h->buf, 0xee, 64);
    task = cmd(h, 0, rc10, 10);
    assert_good(task);
    assert_int_equal(task->xfer_len, 8);
    assert_int_equal(task->data_len, 8);
    assert_memory_equal(h->buf, want10, 8);
    assert_int_equal(h->buf[8], 0xee);

    memset(h->buf, 0xee, 64);
    task = cmd(h, 0, rc16, 16);
    assert_good(task);
    assert_int_equal(task->data_len, 32);
    assert_memory_equal(h->buf, want16, 32);
    /* allocation length */
    rc16[13] = 12;
    task = cmd(h, 0, rc16, 16);
    assert_int_equal(task->data_len, 12);
    /* LBA without PMI */
    rc10[5] = 1;
    assert_check(cmd(h, 0, rc10, 10), 0x05, 0x24, 0x00);
    rc10[8] = 1; /* PMI: accepted */
    assert_good(cmd(h, 0, rc10, 10));
    rc16[9] = 1;
    assert_check(cmd(h, 0, rc16, 16), 0x05, 0x24, 0x00);
    rc16[9] = 0;
    /* other SERVICE ACTION IN(16) actions */
    rc16[1] = 0x12;
    assert_check(cmd(h, 0, rc16, 16), 0x05, 0x24, 0x00);

    /* more than 2^32 blocks: READ CAPACITY(10) says 0xffffffff */
    assert_int_equal(
        iq_storage_open_null(h->loop, (5ull << 32) * BS, NULL, &big), 0);
    h_add(h, 1, big, &(struct iq_scsi_lun_config){.no_unit_attention = true});
    rc10[5] = 0;
    rc10[8] = 0;
    task = cmd(h, 1, rc10, 10);
    assert_good(task);
    assert_memory_equal(h->buf,
                        ((uint8_t[8]){0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0}), 8);
    rc16[1] = 0x10;
    rc16[13] = 32;
    task = cmd(h, 1, rc16, 16);
    assert_good(task);
    assert_memory_equal(
        h->buf, ((uint8_t[12]){0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0}),
        12);
    /* READ(16) at the last LBA of the big device is in range */
    {
        uint8_t rd16[16] = {0x88, 0,    0,    0, 0, 4, 0xff,
                            0xff, 0xff, 0xff, 0, 0, 0, 1};

        task = cmd(h, 1, rd16, 16);
        assert_good(task);
        assert_int_equal(task->data_len, 512);
        rd16[9] = 0; /* LBA 5 * 2^32: one past the end */
        rd16[5] = 5;
        rd16[6] = rd16[7] = rd16[8] = 0;
        assert_check(cmd(h, 1, rd16, 16), 0x05, 0x21, 0x00);
    }
    h_free(h);
}

/* ---- MODE SENSE ---- */

static void
test_mode_sense(void **state)
{
    struct h *h = h_new();
    struct iq_scsi_lun_config ro = {
        .readonly = true, .writethrough = true, .no_unit_attention = true};
    uint8_t ms6[6] = {0x1a, 0, 0x3f, 0, 0xff, 0};
    uint8_t ms10[10] = {0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 0xff, 0};
    /* header(4) + short block descriptor(8) + caching(20) + control(12) */
    static const uint8_t want6[44] = {
        43,   0,    0x10, 8,    0, 0, 0x20, 0x00, 0, 0, 0x02,
        0x00, 0x08, 0x12, 0x04, 0, 0, 0,    0,    0, 0, 0,
        0,    0,    0,    0,    0, 0, 0,    0,    0, 0, 0x0a,
        0x0a, 0,    0x10, 0,    0, 0, 0,    0,    0, 0, 0};
    uint8_t want[64];
    struct iq_scsi_task *task;

    (void)state;
    h_add_mem(h, 0, NULL);
    h_add_mem(h, 1, &ro);
    clear_ua(h, 0);

    memset(h->buf, 0xee, 128);
    task = cmd(h, 0, ms6, 6);
    assert_good(task);
    assert_int_equal(task->data_len, 44);
    assert_memory_equal(h->buf, want6, 44);
    assert_int_equal(h->buf[44], 0xee);

    /* subpage 0xff with page 0x3f: the same */
    ms6[3] = 0xff;
    task = cmd(h, 0, ms6, 6);
    assert_good(task);
    assert_memory_equal(h->buf, want6, 44);
    ms6[3] = 0x01;
    assert_check(cmd(h, 0, ms6, 6), 0x05, 0x24, 0x00);
    ms6[3] = 0;

    /* allocation length 4: the header only */
    ms6[4] = 4;
    memset(h->buf, 0xee, 128);
    task = cmd(h, 0, ms6, 6);
    assert_int_equal(task->data_len, 4);
    assert_memory_equal(h->buf, want6, 4);
    assert_int_equal(h->buf[4], 0xee);
    ms6[4] = 0xff;

    /* DBD, caching page only */
    ms6[1] = 0x08;
    ms6[2] = 0x08;
    task = cmd(h, 0, ms6, 6);
    assert_good(task);
    assert_int_equal(task->data_len, 24);
    memset(want, 0, sizeof(want));
    memcpy(want, ((uint8_t[]){23, 0, 0x10, 0, 0x08, 0x12, 0x04}), 7);
    assert_memory_equal(h->buf, want, 24);

    /* read-only + write-through LUN: WP | DPOFUA, WCE clear */
    task = cmd(h, 1, ms6, 6);
    assert_good(task);
    want[2] = 0x90;
    want[6] = 0x00;
    assert_memory_equal(h->buf, want, 24);

    /* control page only, changeable values: all zero */
    ms6[2] = 0x4a;
    task = cmd(h, 0, ms6, 6);
    assert_good(task);
    assert_int_equal(task->data_len, 16);
    memset(want, 0, sizeof(want));
    memcpy(want, ((uint8_t[]){15, 0, 0x10, 0, 0x0a, 0x0a}), 6);
    assert_memory_equal(h->buf, want, 16);

    /* default values = current */
    ms6[2] = 0x8a;
    task = cmd(h, 0, ms6, 6);
    assert_good(task);
    assert_memory_equal(h->buf + 4, want6 + 32, 12);

    /* saved values: SAVING PARAMETERS NOT SUPPORTED */
    ms6[2] = 0xc8;
    assert_check(cmd(h, 0, ms6, 6), 0x05, 0x39, 0x00);
    /* unsupported page */
    ms6[2] = 0x04;
    assert_check(cmd(h, 0, ms6, 6), 0x05, 0x24, 0x00);

    /* MODE SENSE(10), short descriptor */
    task = cmd(h, 0, ms10, 10);
    assert_good(task);
    assert_int_equal(task->data_len, 48);
    memset(want, 0, sizeof(want));
    memcpy(want, ((uint8_t[]){0, 46, 0, 0x10, 0, 0, 0, 8}), 8);
    memcpy(want + 8, want6 + 4, 40);
    assert_memory_equal(h->buf, want, 48);

    /* LLBAA: long descriptor */
    ms10[1] = 0x10;
    task = cmd(h, 0, ms10, 10);
    assert_good(task);
    assert_int_equal(task->data_len, 56);
    memset(want, 0, sizeof(want));
    memcpy(want, ((uint8_t[]){0, 54, 0,    0x10, 1, 0, 0, 16, 0, 0, 0,    0,
                              0, 0,  0x20, 0,    0, 0, 0, 0,  0, 0, 0x02, 0}),
           24);
    memcpy(want + 24, want6 + 12, 32);
    assert_memory_equal(h->buf, want, 56);

    /* 16-bit allocation length */
    ms10[7] = 0;
    ms10[8] = 10;
    task = cmd(h, 0, ms10, 10);
    assert_int_equal(task->data_len, 10);
    /* read-only LUN, MODE SENSE(10), DBD: WP */
    ms10[1] = 0x08;
    ms10[8] = 0xff;
    task = cmd(h, 1, ms10, 10);
    assert_good(task);
    assert_int_equal(h->buf[3], 0x90);
    assert_int_equal(h->buf[6] << 8 | h->buf[7], 0);
    h_free(h);
}

/* ---- READ / WRITE ---- */

static void
rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks)
{
    memset(cdb, 0, 10);
    cdb[0] = op;
    cdb[2] = (uint8_t)(lba >> 24);
    cdb[3] = (uint8_t)(lba >> 16);
    cdb[4] = (uint8_t)(lba >> 8);
    cdb[5] = (uint8_t)lba;
    cdb[7] = (uint8_t)(blocks >> 8);
    cdb[8] = (uint8_t)blocks;
}

static void
test_read_write_all_sizes(void **state)
{
    struct h *h = h_mem();
    uint8_t *pat = malloc(256 * BS);
    uint8_t cdb[16];
    struct iq_scsi_task *task;

    (void)state;
    assert_non_null(pat);
    /* WRITE(6) LBA 0x1abc, 3 blocks */
    fill_pattern(pat, 256 * BS, 1);
    memcpy(h->buf, pat, 3 * BS);
    memcpy(cdb, ((uint8_t[6]){0x0a, 0x00, 0x1a, 0xbc, 3, 0}), 6);
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_OUT);
    assert_int_equal(task->xfer_len, 3 * BS);
    assert_int_equal(task->data_len, 3 * BS);
    /* READ(10) it back */
    rw10(cdb, 0x28, 0x1abc, 3);
    memset(h->buf, 0, 4 * BS);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_IN);
    assert_int_equal(task->data_len, 3 * BS);
    assert_memory_equal(h->buf, pat, 3 * BS);
    assert_int_equal(h->buf[3 * BS], 0);

    /* WRITE(12) / READ(16) */
    fill_pattern(pat, 256 * BS, 9);
    memcpy(h->buf, pat, 5 * BS);
    memcpy(cdb, ((uint8_t[12]){0xaa, 0, 0, 0, 0x10, 0, 0, 0, 0, 5, 0, 0}), 12);
    assert_good(cmd(h, 0, cdb, 12));
    memset(h->buf, 0, 5 * BS);
    memcpy(cdb,
           ((uint8_t[16]){0x88, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 5, 0,
                          0}),
           16);
    task = cmd(h, 0, cdb, 16);
    assert_good(task);
    assert_memory_equal(h->buf, pat, 5 * BS);

    /* WRITE(16) / READ(12) */
    fill_pattern(pat, 256 * BS, 77);
    memcpy(h->buf, pat, 2 * BS);
    memcpy(cdb,
           ((uint8_t[16]){0x8a, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0xfe, 0, 0, 0, 2, 0,
                          0}),
           16);
    assert_good(cmd(h, 0, cdb, 16));
    memset(h->buf, 0, 2 * BS);
    memcpy(cdb, ((uint8_t[12]){0xa8, 0, 0, 0, 0x1f, 0xfe, 0, 0, 0, 2, 0, 0}),
           12);
    assert_good(cmd(h, 0, cdb, 12));
    assert_memory_equal(h->buf, pat, 2 * BS);

    /* WRITE(6) with length 0 writes 256 blocks; READ(6) likewise */
    fill_pattern(pat, 256 * BS, 200);
    memcpy(h->buf, pat, 256 * BS);
    memcpy(cdb, ((uint8_t[6]){0x0a, 0, 0x04, 0, 0, 0}), 6);
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->xfer_len, 256 * BS);
    memset(h->buf, 0, 257 * BS);
    cdb[0] = 0x08;
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(task->xfer_len, 256 * BS);
    assert_int_equal(task->data_len, 256 * BS);
    assert_memory_equal(h->buf, pat, 256 * BS);
    assert_int_equal(h->buf[256 * BS], 0);

    /* READ(10) of 0 blocks: GOOD, no data phase */
    rw10(cdb, 0x28, 5, 0);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
    assert_int_equal(task->xfer_len, 0);
    /* the maximum transfer is accepted */
    rw10(cdb, 0x28, 0, IQ_SCSI_MAX_XFER / BS);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_int_equal(task->data_len, IQ_SCSI_MAX_XFER);
    free(pat);
    h_free(h);
}

static void
test_rw_errors(void **state)
{
    struct h *h = h_mem();
    uint8_t cdb[16];

    (void)state;
    /* > IQ_SCSI_MAX_XFER */
    rw10(cdb, 0x28, 0, IQ_SCSI_MAX_XFER / BS + 1);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    rw10(cdb, 0x2a, 0, 0xffff);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    memcpy(cdb,
           ((uint8_t[16]){0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                          0xff, 0, 0}),
           16);
    assert_check(cmd(h, 0, cdb, 16), 0x05, 0x24, 0x00);
    /* past the end */
    rw10(cdb, 0x28, MEM_BLOCKS - 1, 2);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x21, 0x00);
    rw10(cdb, 0x28, MEM_BLOCKS - 1, 1);
    assert_good(cmd(h, 0, cdb, 10));
    rw10(cdb, 0x28, MEM_BLOCKS, 0); /* the LBA itself must exist */
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x21, 0x00);
    rw10(cdb, 0x2a, 0xffffffff, 1);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x21, 0x00);
    /* lba + blocks wraps 64 bits */
    memcpy(cdb,
           ((uint8_t[16]){0x8a, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                          0xfe, 0, 0, 0, 4, 0, 0}),
           16);
    assert_check(cmd(h, 0, cdb, 16), 0x05, 0x21, 0x00);
    /* READ(6) past the end: 21-bit LBA 0x1fffff */
    memcpy(cdb, ((uint8_t[6]){0x08, 0x1f, 0xff, 0xff, 1, 0}), 6);
    assert_check(cmd(h, 0, cdb, 6), 0x05, 0x21, 0x00);
    /* upper bits of READ(6) byte 1 are not LBA */
    memcpy(cdb, ((uint8_t[6]){0x08, 0xe0, 0x00, 0x01, 1, 0}), 6);
    assert_good(cmd(h, 0, cdb, 6));
    /* RDPROTECT / WRPROTECT */
    rw10(cdb, 0x28, 0, 1);
    cdb[1] = 0x20;
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    rw10(cdb, 0x2a, 0, 1);
    cdb[1] = 0xe0;
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    /* NACA in the control byte */
    rw10(cdb, 0x28, 0, 1);
    cdb[9] = 0x04;
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    h_free(h);
}

static void
test_cdb_edges(void **state)
{
    struct h *h = h_mem();
    uint8_t cdb[16] = {0};
    static const uint8_t reserved_ops[] = {0x01, 0x02, 0x04, 0x15, 0x55,
                                           0x60, 0x7f, 0xa3, 0xc0, 0xff};

    (void)state;
    /* short CDBs for each group */
    rw10(cdb, 0x28, 0, 1);
    assert_check(cmd(h, 0, cdb, 9), 0x05, 0x24, 0x00);
    assert_check(cmd(h, 0, cdb, 6), 0x05, 0x24, 0x00);
    assert_check(cmd(h, 0, cdb, 1), 0x05, 0x24, 0x00);
    assert_good(cmd(h, 0, cdb, 16)); /* longer is fine */
    assert_good(cmd(h, 0, cdb, 200)); /* clamped to 16 */
    assert_check(cmd(h, 0, cdb_tur, 5), 0x05, 0x24, 0x00);
    assert_check(cmd(h, 0, cdb_tur, 0), 0x05, 0x24, 0x00);
    memcpy(cdb, ((uint8_t[16]){0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
           16);
    assert_check(cmd(h, 0, cdb, 15), 0x05, 0x24, 0x00);
    assert_good(cmd(h, 0, cdb, 16));
    memcpy(cdb, ((uint8_t[12]){0xa8, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 12);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    assert_good(cmd(h, 0, cdb, 12));
    /* reserved, vendor-specific and unsupported opcodes */
    for (size_t i = 0; i < IQ_ARRAY_SIZE(reserved_ops); i++) {
        memset(cdb, 0, sizeof(cdb));
        cdb[0] = reserved_ops[i];
        assert_check(cmd(h, 0, cdb, 16), 0x05, 0x20, 0x00);
        assert_check(cmd(h, 0, cdb, 1), 0x05, 0x20, 0x00);
    }
    h_free(h);
}

/* iovecs larger than xfer_len, split across entries, or too small. */
static void
test_iov_shapes(void **state)
{
    struct h *h = h_mem();
    uint8_t *pat = malloc(8 * BS);
    uint8_t cdb[10];
    struct iq_scsi_task *task;

    (void)state;
    assert_non_null(pat);
    fill_pattern(pat, 8 * BS, 3);
    /* write 4 blocks from three entries: 100 + 1000 + rest (trimmed) */
    memcpy(h->buf, pat, 100);
    memcpy(h->buf + 200, pat + 100, 1000);
    memcpy(h->buf + 2000, pat + 1100, 4 * BS - 1100);
    memset(h->buf + 2000 + 4 * BS - 1100, 0xaa, 500);
    h->iov[0] = (struct iovec){h->buf, 100};
    h->iov[1] = (struct iovec){h->buf + 200, 1000};
    h->iov[2] = (struct iovec){h->buf + 2000, 4 * BS - 1100 + 500};
    rw10(cdb, 0x2a, 100, 4);
    task = cmd_iov(h, 0, cdb, 10, 3);
    assert_good(task);
    assert_int_equal(task->data_len, 4 * BS);
    /* read back into one large entry: exactly 4 blocks land */
    memset(h->buf, 0x55, 8 * BS);
    rw10(cdb, 0x28, 100, 5);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_memory_equal(h->buf, pat, 4 * BS);
    assert_int_equal(h->buf[4 * BS], 0); /* block 104 was never written */

    /* read split: 512 + 512 exactly (no trimming), then trailing entry */
    memset(h->buf, 0x55, 8 * BS);
    h->iov[0] = (struct iovec){h->buf, BS};
    h->iov[1] = (struct iovec){h->buf + 4 * BS, BS};
    h->iov[2] = (struct iovec){h->buf + 2 * BS, BS};
    rw10(cdb, 0x28, 100, 2);
    task = cmd_iov(h, 0, cdb, 10, 3);
    assert_good(task);
    assert_memory_equal(h->buf, pat, BS);
    assert_memory_equal(h->buf + 4 * BS, pat + BS, BS);
    assert_int_equal(h->buf[2 * BS], 0x55);

    /* zero-length entries are skipped */
    h->iov[0] = (struct iovec){h->buf, 0};
    h->iov[1] = (struct iovec){h->buf + BS, 0};
    h->iov[2] = (struct iovec){h->buf + 2 * BS, 2 * BS};
    memset(h->buf, 0x55, 8 * BS);
    rw10(cdb, 0x28, 101, 1);
    task = cmd_iov(h, 0, cdb, 10, 3);
    assert_good(task);
    assert_memory_equal(h->buf + 2 * BS, pat + BS, BS);
    assert_int_equal(h->buf[3 * BS], 0x55);

    /* a buffer smaller than xfer_len (transport bug): HARDWARE ERROR */
    h->iov[0] = (struct iovec){h->buf, BS};
    rw10(cdb, 0x28, 0, 2);
    assert_check(cmd_iov(h, 0, cdb, 10, 1), 0x04, 0x44, 0x00);
    assert_check(cmd_iov(h, 0, cdb, 10, 0), 0x04, 0x44, 0x00);
    /* synthesised data is truncated to the buffer instead */
    {
        uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};

        h->iov[0] = (struct iovec){h->buf, 10};
        h->iov[1] = (struct iovec){h->buf + 100, 6};
        memset(h->buf, 0xee, 200);
        task = cmd_iov(h, 0, inq, 6, 2);
        assert_good(task);
        assert_int_equal(task->data_len, 16);
        assert_memory_equal(h->buf, std_inq, 10);
        assert_memory_equal(h->buf + 100, std_inq + 10, 6);
        assert_int_equal(h->buf[10], 0xee);
        assert_int_equal(h->buf[106], 0xee);
    }
    free(pat);
    h_free(h);
}

static void
test_readonly(void **state)
{
    struct h *h = h_new();
    struct iq_scsi_lun_config ro = {.readonly = true};
    struct iq_storage *rs;
    uint8_t cdb[16];

    (void)state;
    h_add_mem(h, 0, &ro);
    /* a read-only storage makes a read-only LUN */
    assert_int_equal(
        iq_storage_open_mem(h->loop, 64 * BS,
                            &(struct iq_storage_opts){.readonly = true}, &rs),
        0);
    h_add(h, 1, rs, NULL);
    clear_ua(h, 0);
    clear_ua(h, 1);
    for (unsigned lun = 0; lun < 2; lun++) {
        rw10(cdb, 0x2a, 0, 1);
        assert_check(cmd(h, lun, cdb, 10), 0x07, 0x27, 0x00);
        memcpy(cdb, ((uint8_t[6]){0x0a, 0, 0, 0, 1, 0}), 6);
        assert_check(cmd(h, lun, cdb, 6), 0x07, 0x27, 0x00);
        rw10(cdb, 0x28, 0, 1);
        assert_good(cmd(h, lun, cdb, 10));
        /* SYNCHRONIZE CACHE is fine */
        cdb[0] = 0x35;
        assert_good(cmd(h, lun, cdb, 10));
    }
    /* range is checked before write protection */
    rw10(cdb, 0x2a, 64, 1);
    assert_check(cmd(h, 1, cdb, 10), 0x05, 0x21, 0x00);
    h_free(h);
}

static void
test_misc_commands(void **state)
{
    struct h *h = h_mem();
    uint8_t ssu[6] = {0x1b, 0, 0, 0, 0x02, 0}; /* LOEJ, stop */
    uint8_t cdb[16];
    struct iq_scsi_task *task;

    (void)state;
    task = cmd(h, 0, ssu, 6);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
    ssu[4] = 0x01;
    assert_good(cmd(h, 0, ssu, 6));
    task = cmd(h, 0, cdb_tur, 6);
    assert_good(task);
    assert_int_equal(task->data_len, 0);

    /* VERIFY(10) / (16), BYTCHK 0 */
    rw10(cdb, 0x2f, MEM_BLOCKS - 8, 8);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
    rw10(cdb, 0x2f, MEM_BLOCKS - 8, 9);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x21, 0x00);
    rw10(cdb, 0x2f, 0, 1);
    cdb[1] = 0x02; /* BYTCHK */
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x24, 0x00);
    memcpy(
        cdb,
        ((uint8_t[16]){0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0}),
        16);
    assert_good(cmd(h, 0, cdb, 16));
    cdb[12] = 0x20;
    cdb[13] = 1;
    assert_check(cmd(h, 0, cdb, 16), 0x05, 0x21, 0x00);

    /* SYNCHRONIZE CACHE(10) / (16) */
    rw10(cdb, 0x35, 0, 0);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
    rw10(cdb, 0x35, MEM_BLOCKS, 0);
    assert_check(cmd(h, 0, cdb, 10), 0x05, 0x21, 0x00);
    memcpy(cdb,
           ((uint8_t[16]){0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10,
                          0, 0}),
           16);
    assert_good(cmd(h, 0, cdb, 16));
    h_free(h);
}

/* A task whose prepare completed it, then submitted anyway. */
static void
test_submit_completed_task(void **state)
{
    struct h *h = h_mem();
    struct iq_scsi_task *task = &h->task;
    unsigned before = h->ndone;

    (void)state;
    memset(task, 0, sizeof(*task));
    task->cdb[0] = 0x02;
    task->cdb_len = 6;
    task->done = done_cb;
    task->opaque = h;
    assert_int_equal(iq_scsi_task_prepare(h->t, task), 1);
    iq_scsi_task_submit(h->t, task);
    assert_int_equal(h->ndone, before);
    assert_true(iq_loop_run_once(h->loop, 0) >= 0);
    assert_int_equal(h->ndone, before + 1);
    assert_check(task, 0x05, 0x20, 0x00);
    h_free(h);
}

/* destroy and reset wait for tasks in flight, running done(). */
static void
test_drain_in_flight(void **state)
{
    struct h *h = h_mem();
    struct iq_scsi_task tasks[3];
    struct iovec iov = {h->buf, BUF_LEN};
    uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    uint8_t rd[10];

    (void)state;
    rw10(rd, 0x28, 0, 4);
    h->ndone = 0;
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 3; i++) {
            memset(&tasks[i], 0, sizeof(tasks[i]));
            memcpy(tasks[i].cdb, i == 1 ? inq : rd, i == 1 ? 6 : 10);
            tasks[i].cdb_len = 16;
            tasks[i].done = done_cb;
            tasks[i].opaque = h;
            assert_int_equal(iq_scsi_task_prepare(h->t, &tasks[i]), 0);
            tasks[i].iov = &iov;
            tasks[i].iovcnt = 1;
            iq_scsi_task_submit(h->t, &tasks[i]);
        }
        assert_int_equal(h->ndone, round * 3);
        if (round == 0) {
            iq_scsi_target_reset(h->t);
            assert_int_equal(h->ndone, 3);
            for (unsigned i = 0; i < 3; i++) {
                assert_good(&tasks[i]);
            }
            clear_ua(h, 0);
            h->ndone = 3;
        } else {
            iq_scsi_target_destroy(h->t);
            h->t = NULL;
            assert_int_equal(h->ndone, 6);
        }
    }
    h_free(h);
}

/* ---- UNMAP ---- */

/* UNMAP with a parameter list of `plen` bytes taken from `plist`. */
static struct iq_scsi_task *
unmap(struct h *h, unsigned lun, const uint8_t *plist, uint16_t plen,
      uint8_t b1)
{
    uint8_t cdb[10] = {0x42,          b1, 0, 0, 0, 0, 0, (uint8_t)(plen >> 8),
                       (uint8_t)plen, 0};

    memset(h->buf, 0, 64);
    memcpy(h->buf, plist, IQ_MIN(plen, 64u));
    return cmd(h, lun, cdb, 10);
}

static void
plist_one(uint8_t *p, uint64_t lba, uint32_t count)
{
    memset(p, 0, 40);
    p[1] = 22; /* UNMAP data length */
    p[3] = 16; /* block descriptor data length */
    for (unsigned i = 0; i < 8; i++) {
        p[8 + i] = (uint8_t)(lba >> (56 - 8 * i));
    }
    for (unsigned i = 0; i < 4; i++) {
        p[16 + i] = (uint8_t)(count >> (24 - 8 * i));
    }
}

/* ---- real files ---- */

static struct h *
h_file(bool no_uring, uint64_t size, int *test_fd)
{
    struct h *h = h_new();
    struct iq_storage_opts opts = {.no_uring = no_uring};
    struct iq_storage *s;
    int fd;

    snprintf(h->path, sizeof(h->path), "/tmp/iq-scsi-XXXXXX");
    fd = mkstemp(h->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    assert_int_equal(iq_storage_open_file(h->loop, h->path, &opts, &s), 0);
    if (no_uring) {
        assert_string_equal(iq_storage_engine(s), "threads");
    }
    h_add(h, 0, s, &(struct iq_scsi_lun_config){.no_unit_attention = true});
    if (test_fd != NULL) {
        *test_fd = fd;
    } else {
        close(fd);
    }
    return h;
}

static void
file_roundtrip(bool no_uring)
{
    int fd;
    struct h *h = h_file(no_uring, 1 << 20, &fd);
    uint8_t *pat = malloc(16 * BS);
    uint8_t *back = malloc(16 * BS);
    uint8_t cdb[10];
    struct iq_scsi_task *task;

    assert_non_null(pat);
    assert_non_null(back);
    fill_pattern(pat, 16 * BS, 42);
    memcpy(h->buf, pat, 16 * BS);
    rw10(cdb, 0x2a, 10, 16);
    cdb[1] = 0x08; /* FUA: write, then flush */
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_int_equal(task->data_len, 16 * BS);
    assert_int_equal(pread(fd, back, 16 * BS, 10 * BS), 16 * BS);
    assert_memory_equal(back, pat, 16 * BS);
    /* READ(10) via the test's own write to the file */
    fill_pattern(pat, 16 * BS, 7);
    assert_int_equal(pwrite(fd, pat, 16 * BS, 100 * BS), 16 * BS);
    memset(h->buf, 0, 16 * BS);
    rw10(cdb, 0x28, 100, 16);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_memory_equal(h->buf, pat, 16 * BS);
    /* SYNCHRONIZE CACHE */
    rw10(cdb, 0x35, 0, 0);
    assert_good(cmd(h, 0, cdb, 10));
    /* UNMAP punches a hole: the file reads zeroes there */
    {
        uint8_t p[40];

        plist_one(p, 101, 2);
        assert_good(unmap(h, 0, p, 24, 0));
        assert_int_equal(pread(fd, back, 4 * BS, 100 * BS), 4 * BS);
        assert_memory_equal(back, pat, BS);
        for (unsigned i = BS; i < 3 * BS; i++) {
            assert_int_equal(back[i], 0);
        }
        assert_memory_equal(back + 3 * BS, pat + 3 * BS, BS);
    }
    /* capacity of a 1 MiB file: 2048 blocks */
    memcpy(cdb, ((uint8_t[10]){0x25}), 10);
    assert_good(cmd(h, 0, cdb, 10));
    assert_memory_equal(h->buf, ((uint8_t[8]){0, 0, 0x07, 0xff, 0, 0, 2, 0}),
                        8);
    close(fd);
    free(pat);
    free(back);
    h_free(h);
}

static void
test_file_uring(void **state)
{
    (void)state;
    file_roundtrip(false);
}

static void
test_file_threads(void **state)
{
    (void)state;
    file_roundtrip(true);
}

/* Reads beyond the end of a shrunk file fail: MEDIUM ERROR, 0x11. */
static void
shrunk(bool no_uring)
{
    int fd;
    struct h *h = h_file(no_uring, 1 << 20, &fd);
    uint8_t cdb[10];

    rw10(cdb, 0x28, 0, 4);
    assert_good(cmd(h, 0, cdb, 10));
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_check(cmd(h, 0, cdb, 10), 0x03, 0x11, 0x00);
    close(fd);
    h_free(h);
}

static void
test_read_error(void **state)
{
    (void)state;
    shrunk(false);
    shrunk(true);
}

/*
 * /dev/full: writes fail with ENOSPC (WRITE ERROR); fdatasync on it fails
 * with EINVAL, so SYNCHRONIZE CACHE failing proves the flush reached the
 * storage; a write-through LUN's reads still work.
 */
static void
devfull(bool no_uring)
{
    struct h *h = h_new();
    struct iq_storage_opts opts = {.no_uring = no_uring};
    struct iq_storage *s;
    uint8_t cdb[16];
    int fd = open("/dev/full", O_RDWR | O_CLOEXEC);
    struct iq_scsi_task *task;

    assert_true(fd >= 0);
    assert_int_equal(iq_storage_open_fd(h->loop, fd, 1 << 20, &opts, &s), 0);
    h_add(h, 0, s, &(struct iq_scsi_lun_config){.no_unit_attention = true});
    rw10(cdb, 0x2a, 0, 8);
    assert_check(cmd(h, 0, cdb, 10), 0x03, 0x0c, 0x00);
    memcpy(cdb, ((uint8_t[16]){0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
           16);
    assert_check(cmd(h, 0, cdb, 16), 0x03, 0x0c, 0x00);
    rw10(cdb, 0x35, 0, 0);
    assert_check(cmd(h, 0, cdb, 10), 0x03, 0x0c, 0x00);
    memcpy(cdb, ((uint8_t[16]){0x91}), 16);
    assert_check(cmd(h, 0, cdb, 16), 0x03, 0x0c, 0x00);
    /* REQUEST SENSE reports the write error afterwards */
    memcpy(cdb, ((uint8_t[6]){0x03, 0, 0, 0, 18, 0}), 6);
    task = cmd(h, 0, cdb, 6);
    assert_good(task);
    assert_int_equal(h->buf[2], 0x03);
    assert_int_equal(h->buf[12], 0x0c);
    /* /dev/full reads zeroes */
    memset(h->buf, 0xee, BS);
    rw10(cdb, 0x28, 0, 1);
    assert_good(cmd(h, 0, cdb, 10));
    assert_memory_equal(h->buf, ((uint8_t[16]){0}), 16);
    h_free(h);
}

static void
test_write_error_devfull(void **state)
{
    (void)state;
    devfull(false);
    devfull(true);
}

/*
 * Write-through and FUA: the write is followed by a flush, which fails on
 * /dev/null (fdatasync: EINVAL) while the write itself succeeds. A plain
 * write-back write does not flush and succeeds.
 */
static void
test_writethrough_flushes(void **state)
{
    struct h *h = h_new();
    struct iq_storage *s0;
    struct iq_storage *s1;
    uint8_t cdb[16];
    int fd0 = open("/dev/null", O_RDWR | O_CLOEXEC);
    int fd1 = open("/dev/null", O_RDWR | O_CLOEXEC);

    (void)state;
    assert_true(fd0 >= 0 && fd1 >= 0);
    assert_int_equal(iq_storage_open_fd(h->loop, fd0, 1 << 20, NULL, &s0), 0);
    assert_int_equal(iq_storage_open_fd(h->loop, fd1, 1 << 20, NULL, &s1), 0);
    h_add(h, 0, s0, &(struct iq_scsi_lun_config){.no_unit_attention = true});
    h_add(h, 1, s1,
          &(struct iq_scsi_lun_config){.no_unit_attention = true,
                                       .writethrough = true});
    rw10(cdb, 0x2a, 0, 8);
    assert_good(cmd(h, 0, cdb, 10));
    assert_check(cmd(h, 1, cdb, 10), 0x03, 0x0c, 0x00);
    cdb[1] = 0x08; /* FUA */
    assert_check(cmd(h, 0, cdb, 10), 0x03, 0x0c, 0x00);
    /* WRITE(6) has no FUA bit */
    memcpy(cdb, ((uint8_t[6]){0x0a, 0, 0, 0, 1, 0}), 6);
    assert_good(cmd(h, 0, cdb, 6));
    h_free(h);
}

static void
test_unmap(void **state)
{
    struct h *h = h_mem();
    uint8_t p[40];
    uint8_t cdb[10];
    uint8_t *pat = malloc(8 * BS);
    struct iq_scsi_task *task;

    (void)state;
    assert_non_null(pat);
    fill_pattern(pat, 8 * BS, 5);
    memcpy(h->buf, pat, 8 * BS);
    rw10(cdb, 0x2a, 40, 8);
    assert_good(cmd(h, 0, cdb, 10));
    /* unmap blocks 42..44 */
    plist_one(p, 42, 3);
    task = unmap(h, 0, p, 24, 0);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_OUT);
    assert_int_equal(task->xfer_len, 24);
    assert_int_equal(task->data_len, 24);
    rw10(cdb, 0x28, 40, 8);
    task = cmd(h, 0, cdb, 10);
    assert_good(task);
    assert_memory_equal(h->buf, pat, 2 * BS);
    for (unsigned i = 2 * BS; i < 5 * BS; i++) {
        assert_int_equal(h->buf[i], 0);
    }
    assert_memory_equal(h->buf + 5 * BS, pat + 5 * BS, 3 * BS);

    /* empty list, header only, zero count, partial descriptor: GOOD */
    task = unmap(h, 0, p, 0, 0);
    assert_good(task);
    assert_int_equal(task->dir, IQ_SCSI_DIR_NONE);
    plist_one(p, 40, 1);
    assert_good(unmap(h, 0, p, 8, 0));
    assert_good(unmap(h, 0, p, 23, 0)); /* descriptor cut short */
    p[3] = 8;
    assert_good(unmap(h, 0, p, 24, 0));
    plist_one(p, 40, 0);
    assert_good(unmap(h, 0, p, 24, 0));
    /* nothing was unmapped by those */
    rw10(cdb, 0x28, 40, 1);
    assert_good(cmd(h, 0, cdb, 10));
    assert_memory_equal(h->buf, pat, BS);

    /* parameter list shorter than its header */
    assert_check(unmap(h, 0, p, 7, 0), 0x05, 0x1a, 0x00);
    /* two descriptors: more than the Block Limits maximum */
    plist_one(p, 0, 1);
    p[3] = 32;
    assert_check(unmap(h, 0, p, 40, 0), 0x05, 0x26, 0x00);
    /* ...but a descriptor length beyond the list is cut to the list */
    assert_good(unmap(h, 0, p, 24, 0));
    /* too many blocks, out of range, wrapping, ANCHOR */
    plist_one(p, 0, 0x200001);
    assert_check(unmap(h, 0, p, 24, 0), 0x05, 0x26, 0x00);
    plist_one(p, MEM_BLOCKS - 1, 2);
    assert_check(unmap(h, 0, p, 24, 0), 0x05, 0x21, 0x00);
    plist_one(p, UINT64_MAX, 2);
    assert_check(unmap(h, 0, p, 24, 0), 0x05, 0x21, 0x00);
    plist_one(p, 0, 1);
    assert_check(unmap(h, 0, p, 24, 0x01), 0x05, 0x24, 0x00);
    /* a parameter buffer smaller than the list (transport bug) */
    h->iov[0] = (struct iovec){h->buf, 10};
    memcpy(cdb, ((uint8_t[10]){0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}), 10);
    assert_check(cmd_iov(h, 0, cdb, 10, 1), 0x04, 0x44, 0x00);
    free(pat);
    h_free(h);
}

/* No UNMAP on a read-only LUN or a storage that cannot discard. */
static void
test_unmap_unsupported(void **state)
{
    struct h *h = h_new();
    struct iq_scsi_lun_config quiet = {.no_unit_attention = true};
    struct iq_scsi_lun_config ro = {.readonly = true,
                                    .no_unit_attention = true};
    struct iq_storage *s;
    uint8_t p[40];
    uint8_t rc16[16] = {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32};
    static const uint8_t p00[] = {0, 0x00, 0, 5, 0x00, 0x80, 0x83, 0xb0, 0xb1};
    struct iq_scsi_task *task;
    int fd = open("/dev/full", O_RDWR | O_CLOEXEC);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(iq_storage_open_fd(h->loop, fd, 1 << 20, NULL, &s), 0);
    assert_false(iq_storage_can_discard(s));
    h_add(h, 0, s, &quiet);
    h_add_mem(h, 1, &ro);
    plist_one(p, 0, 1);
    assert_check(unmap(h, 0, p, 24, 0), 0x05, 0x20, 0x00);
    assert_check(unmap(h, 1, p, 24, 0), 0x07, 0x27, 0x00);
    for (unsigned lun = 0; lun < 2; lun++) {
        vpd(h, lun, 0x00, &task);
        assert_int_equal(task->data_len, sizeof(p00));
        assert_memory_equal(h->buf, p00, sizeof(p00));
        vpd(h, lun, 0xb0, &task);
        assert_memory_equal(h->buf + 20, ((uint8_t[8]){0}), 8);
        assert_check(cmd(h, lun, (uint8_t[6]){0x12, 0x01, 0xb2, 0, 0xff, 0}, 6),
                     0x05, 0x24, 0x00);
        task = cmd(h, lun, rc16, 16);
        assert_good(task);
        assert_int_equal(h->buf[14], 0);
    }
    h_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inquiry_standard),
        cmocka_unit_test(test_inquiry_vpd),
        cmocka_unit_test(test_missing_lun),
        cmocka_unit_test(test_report_luns),
        cmocka_unit_test(test_add_lun_errors),
        cmocka_unit_test(test_unit_attention),
        cmocka_unit_test(test_request_sense),
        cmocka_unit_test(test_read_capacity),
        cmocka_unit_test(test_mode_sense),
        cmocka_unit_test(test_read_write_all_sizes),
        cmocka_unit_test(test_rw_errors),
        cmocka_unit_test(test_cdb_edges),
        cmocka_unit_test(test_iov_shapes),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_misc_commands),
        cmocka_unit_test(test_submit_completed_task),
        cmocka_unit_test(test_drain_in_flight),
        cmocka_unit_test(test_file_uring),
        cmocka_unit_test(test_file_threads),
        cmocka_unit_test(test_read_error),
        cmocka_unit_test(test_write_error_devfull),
        cmocka_unit_test(test_writethrough_flushes),
        cmocka_unit_test(test_unmap),
        cmocka_unit_test(test_unmap_unsupported),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
