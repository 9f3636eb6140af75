/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transport-independent SCSI target: SBC-3 / SPC-4 subset for a direct
 * access block device, as Linux sd and SeaBIOS drive it.
 *
 * Every CDB byte is guest-controlled. A CDB is decoded once in
 * iq_scsi_task_prepare(); the decoded storage range lives in the task's
 * private storage request (task->sto_) until submit. Synthesised responses
 * (INQUIRY, MODE SENSE, ...) are small and built in a stack buffer; reads
 * and writes go to the storage with the transport's iovecs.
 *
 * No per-task allocation: synchronous commands complete through one
 * deferred loop work item and an intrusive list linked through
 * task->priv_; storage commands use task->sto_ and task->iov_tail_.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/scsi.h"

/* Largest response this file synthesises is 64 bytes (VPD 0xb0). */
#define SCSI_RESP_MAX 256u
#define SCSI_SERIAL_MAX 36u

/*
 * Sense codes packed as key << 16 | ASC << 8 | ASCQ (SPC-4 4.5.6,
 * annex D).
 */
#define S_GOOD 0x000000u
#define S_NO_SENSE 0x000000u
#define S_READ_ERROR 0x031100u /* MEDIUM ERROR, UNRECOVERED READ ERROR */
#define S_WRITE_ERROR 0x030c00u /* MEDIUM ERROR, WRITE ERROR */
#define S_INTERNAL 0x044400u /* HARDWARE ERROR, INTERNAL TARGET FAILURE */
#define S_INVALID_OPCODE 0x052000u
#define S_PARAM_LIST_LENGTH 0x051a00u
#define S_LBA_RANGE 0x052100u
#define S_INVALID_FIELD 0x052400u
#define S_LUN_NOT_SUPPORTED 0x052500u
#define S_INVALID_PARAM 0x052600u /* INVALID FIELD IN PARAMETER LIST */
#define S_SAVING_NOT_SUPPORTED 0x053900u
#define S_POWER_ON_RESET 0x062900u
#define S_WRITE_PROTECTED 0x072700u

/* Operation codes (SPC-4, SBC-3). */
enum {
    OP_TEST_UNIT_READY = 0x00,
    OP_REQUEST_SENSE = 0x03,
    OP_READ_6 = 0x08,
    OP_WRITE_6 = 0x0a,
    OP_INQUIRY = 0x12,
    OP_MODE_SENSE_6 = 0x1a,
    OP_START_STOP_UNIT = 0x1b,
    OP_READ_CAPACITY_10 = 0x25,
    OP_READ_10 = 0x28,
    OP_WRITE_10 = 0x2a,
    OP_VERIFY_10 = 0x2f,
    OP_SYNC_CACHE_10 = 0x35,
    OP_UNMAP = 0x42,
    OP_MODE_SENSE_10 = 0x5a,
    OP_READ_16 = 0x88,
    OP_WRITE_16 = 0x8a,
    OP_VERIFY_16 = 0x8f,
    OP_SYNC_CACHE_16 = 0x91,
    OP_SERVICE_ACTION_IN_16 = 0x9e,
    OP_REPORT_LUNS = 0xa0,
    OP_READ_12 = 0xa8,
    OP_WRITE_12 = 0xaa,
};

#define SAI_READ_CAPACITY_16 0x10

/*
 * UNMAP limits (Block Limits VPD): one descriptor per command, as Linux
 * sends, so the descriptor is copied once and never re-read; at most
 * 0x200000 blocks (1 GiB of 512-byte blocks) per command.
 */
#define SCSI_UNMAP_MAX_DESC 1u
#define SCSI_UNMAP_MAX_BLOCKS 0x200000u
#define SCSI_UNMAP_PLIST_MAX (8u + 16u * SCSI_UNMAP_MAX_DESC)

static const char scsi_vendor[8] = {'I', 'O', 'R', 'E', 'Q', 'D', ' ', ' '};
static const char scsi_product[16] = {'V', 'I', 'R', 'T', 'U', 'A', 'L', ' ',
                                      'D', 'I', 'S', 'K', ' ', ' ', ' ', ' '};
static const char scsi_revision[4] = {'0', '0', '0', '1'};

struct scsi_lun {
    bool present;
    bool readonly;
    bool writethrough;
    bool can_unmap; /* the storage can DISCARD and the LUN is writable */
    bool ua_enabled;
    bool ua; /* POWER ON / RESET unit attention pending */
    bool sense_valid; /* sense of the last CHECK CONDITION, for REQUEST
                         SENSE (parallel SCSI has no autosense) */
    uint8_t sense[IQ_SCSI_SENSE_LEN];
    struct iq_storage *sto;
    uint32_t bs;
    uint64_t nblocks;
    uint64_t naa;
    size_t serial_len;
    char serial[SCSI_SERIAL_MAX + 1];
};

struct iq_scsi_target {
    char ctx[64];
    struct iq_loop *loop;
    struct scsi_lun luns[IQ_SCSI_MAX_LUNS];
    /* synchronous completions, linked through task->priv_ */
    struct iq_loop_work work;
    struct iq_scsi_task *dq_head;
    struct iq_scsi_task *dq_tail;
    unsigned inflight; /* submitted, done() not yet called */
    struct iq_ratelimit rl; /* guest errors */
    struct iq_ratelimit host_rl; /* host I/O errors */
};

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static struct scsi_lun *
lun_get(struct iq_scsi_target *t, unsigned lun)
{
    if (lun >= IQ_SCSI_MAX_LUNS || !t->luns[lun].present) {
        return NULL;
    }
    return &t->luns[lun];
}

/* Fixed-format sense data (SPC-4 4.5.3), 18 bytes. */
static void
sense_build(uint8_t *s, uint32_t code)
{
    memset(s, 0, IQ_SCSI_SENSE_LEN);
    s[0] = 0x70; /* current error, fixed format */
    s[2] = (uint8_t)(code >> 16);
    s[7] = IQ_SCSI_SENSE_LEN - 8; /* additional sense length */
    s[12] = (uint8_t)(code >> 8);
    s[13] = (uint8_t)code;
}

/*
 * Set the task's status from `code` (S_GOOD or a sense code) and remember
 * the sense of a CHECK CONDITION for the next REQUEST SENSE on that LUN.
 */
static void
task_set_result(struct iq_scsi_target *t, struct iq_scsi_task *task,
                uint32_t code)
{
    struct scsi_lun *l = lun_get(t, task->lun);

    if (code == S_GOOD) {
        task->status = IQ_SCSI_STATUS_GOOD;
        task->sense_len = 0;
        return;
    }
    task->status = IQ_SCSI_STATUS_CHECK_CONDITION;
    sense_build(task->sense, code);
    task->sense_len = IQ_SCSI_SENSE_LEN;
    task->data_len = 0;
    if (l != NULL) {
        memcpy(l->sense, task->sense, IQ_SCSI_SENSE_LEN);
        l->sense_valid = true;
    }
}

/* Copy `len` bytes of `buf` into the task's iovecs (byte cursor). */
static uint32_t
copy_to_iov(const struct iq_scsi_task *task, const uint8_t *buf, uint32_t len)
{
    uint32_t done = 0;

    for (unsigned i = 0; i < task->iovcnt && done < len; i++) {
        size_t n = task->iov[i].iov_len;

        if (n > len - done) {
            n = len - done;
        }
        if (n > 0) {
            memcpy(task->iov[i].iov_base, buf + done, n);
            done += (uint32_t)n;
        }
    }
    return done;
}

/* Copy up to `len` bytes from the task's iovecs into `buf`. */
static uint32_t
copy_from_iov(const struct iq_scsi_task *task, uint8_t *buf, uint32_t len)
{
    uint32_t done = 0;

    for (unsigned i = 0; i < task->iovcnt && done < len; i++) {
        size_t n = task->iov[i].iov_len;

        if (n > len - done) {
            n = len - done;
        }
        if (n > 0) {
            memcpy(buf + done, task->iov[i].iov_base, n);
            done += (uint32_t)n;
        }
    }
    return done;
}

/* Total iovec bytes, saturated at UINT64_MAX. */
static uint64_t
iov_total(const struct iq_scsi_task *task)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < task->iovcnt; i++) {
        if (iq_add_overflow_u64(total, task->iov[i].iov_len, &total)) {
            return UINT64_MAX;
        }
    }
    return total;
}

/*
 * CDB length of an operation code's group (SAM-5 5.2): 0 for the reserved
 * and vendor-specific groups.
 */
static unsigned
cdb_group_len(uint8_t op)
{
    switch (op >> 5) {
    case 0:
        return 6;
    case 1:
    case 2:
        return 10;
    case 4:
        return 16;
    case 5:
        return 12;
    default:
        return 0;
    }
}

static bool
op_supported(uint8_t op)
{
    switch (op) {
    case OP_TEST_UNIT_READY:
    case OP_REQUEST_SENSE:
    case OP_READ_6:
    case OP_WRITE_6:
    case OP_INQUIRY:
    case OP_MODE_SENSE_6:
    case OP_START_STOP_UNIT:
    case OP_READ_CAPACITY_10:
    case OP_READ_10:
    case OP_WRITE_10:
    case OP_VERIFY_10:
    case OP_SYNC_CACHE_10:
    case OP_UNMAP:
    case OP_MODE_SENSE_10:
    case OP_READ_16:
    case OP_WRITE_16:
    case OP_VERIFY_16:
    case OP_SYNC_CACHE_16:
    case OP_SERVICE_ACTION_IN_16:
    case OP_REPORT_LUNS:
    case OP_READ_12:
    case OP_WRITE_12:
        return true;
    default:
        return false;
    }
}

static bool
op_is_read(uint8_t op)
{
    return op == OP_READ_6 || op == OP_READ_10 || op == OP_READ_12 ||
           op == OP_READ_16;
}

static bool
op_is_write(uint8_t op)
{
    return op == OP_WRITE_6 || op == OP_WRITE_10 || op == OP_WRITE_12 ||
           op == OP_WRITE_16;
}

/* Commands whose data-in this file synthesises. */
static bool
op_is_synth(uint8_t op)
{
    return op == OP_INQUIRY || op == OP_REQUEST_SENSE ||
           op == OP_MODE_SENSE_6 || op == OP_MODE_SENSE_10 ||
           op == OP_READ_CAPACITY_10 || op == OP_SERVICE_ACTION_IN_16 ||
           op == OP_REPORT_LUNS;
}

/*
 * SBC-3 4.5: [lba, lba + blocks) within the medium. The LBA itself must
 * exist even for a zero-length transfer.
 */
static uint32_t
check_range(const struct scsi_lun *l, uint64_t lba, uint64_t blocks)
{
    uint64_t end;

    if (lba >= l->nblocks || !iq_range_ok(lba, blocks, &end) ||
        end > l->nblocks) {
        return S_LBA_RANGE;
    }
    return S_GOOD;
}

/* 64-bit FNV-1a, for the deterministic NAA designator. */
static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- synthesised responses (side-effect free) ---- */

static int
build_std_inquiry(const struct scsi_lun *l, uint8_t *b)
{
    /* SPC-4 6.6.2 standard INQUIRY data, 36 bytes. */
    b[0] = l != NULL ? 0x00 : 0x7f; /* PQ 0 disk, or PQ 3 type 0x1f */
    b[2] = 0x06; /* SPC-4 */
    b[3] = 0x02; /* response data format 2 */
    b[4] = 36 - 5; /* additional length */
    b[7] = 0x02; /* CMDQUE */
    memcpy(b + 8, scsi_vendor, sizeof(scsi_vendor));
    memcpy(b + 16, scsi_product, sizeof(scsi_product));
    memcpy(b + 32, scsi_revision, sizeof(scsi_revision));
    return 36;
}

static int
build_vpd(const struct scsi_lun *l, uint8_t page, uint8_t *b, uint32_t *code)
{
    static const uint8_t pages[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2};
    uint32_t max_blocks = IQ_SCSI_MAX_XFER / l->bs;
    size_t npages = sizeof(pages) - (l->can_unmap ? 0 : 1);
    size_t n;

    b[0] = 0x00; /* peripheral qualifier 0, direct access */
    b[1] = page;
    switch (page) {
    case 0x00: /* SPC-4 7.8.16 supported VPD pages */
        memcpy(b + 4, pages, npages);
        put_be16(b + 2, (uint16_t)npages);
        return 4 + (int)npages;
    case 0x80: /* SPC-4 7.8.15 unit serial number */
        if (l->serial_len == 0) {
            /* "not available": ASCII spaces */
            memset(b + 4, ' ', 4);
            put_be16(b + 2, 4);
            return 8;
        }
        memcpy(b + 4, l->serial, l->serial_len);
        put_be16(b + 2, (uint16_t)l->serial_len);
        return 4 + (int)l->serial_len;
    case 0x83: /* SPC-4 7.8.6 device identification */
        n = 4;
        /* T10 vendor ID designator: ASCII, LU association, type 1 */
        b[n] = 0x02;
        b[n + 1] = 0x01;
        memcpy(b + n + 4, scsi_vendor, sizeof(scsi_vendor));
        if (l->serial_len > 0) {
            memcpy(b + n + 12, l->serial, l->serial_len);
            b[n + 3] = (uint8_t)(8 + l->serial_len);
        } else {
            char hex[17];

            snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)l->naa);
            memcpy(b + n + 12, hex, 16);
            b[n + 3] = 8 + 16;
        }
        n += 4 + b[n + 3];
        /* NAA designator: binary, LU association, type 3, NAA 3 (local) */
        b[n] = 0x01;
        b[n + 1] = 0x03;
        b[n + 3] = 8;
        put_be64(b + n + 4, l->naa);
        n += 12;
        put_be16(b + 2, (uint16_t)(n - 4));
        return (int)n;
    case 0xb0: /* SBC-3 6.5.3 block limits */
        put_be16(b + 2, 0x3c);
        put_be16(b + 6, 1); /* optimal transfer length granularity */
        put_be32(b + 8, max_blocks); /* maximum transfer length */
        put_be32(b + 12, max_blocks); /* optimal transfer length */
        if (l->can_unmap) {
            put_be32(b + 20, SCSI_UNMAP_MAX_BLOCKS);
            put_be32(b + 24, SCSI_UNMAP_MAX_DESC);
        }
        /* else UNMAP is not supported: both counts 0 */
        return 0x40;
    case 0xb1: /* SBC-3 6.5.2 block device characteristics */
        put_be16(b + 2, 0x3c);
        put_be16(b + 4, 0x0001); /* non-rotating medium */
        return 0x40;
    case 0xb2: /* SBC-3 6.5.4 logical block provisioning */
        if (!l->can_unmap) {
            break;
        }
        put_be16(b + 2, 4);
        b[5] = 0x80; /* LBPU; LBPRZ 0: a block device may not zero */
        b[6] = 0x02; /* thin provisioned */
        return 8;
    default:
        break;
    }
    *code = S_INVALID_FIELD;
    return -1;
}

static int
build_inquiry(const struct scsi_lun *l, const uint8_t *cdb, uint8_t *b,
              uint32_t *code)
{
    bool evpd = (cdb[1] & 0x01) != 0;

    /* CMDDT (obsolete) set, or a page code without EVPD. */
    if ((cdb[1] & 0x02) != 0 || (!evpd && cdb[2] != 0)) {
        *code = S_INVALID_FIELD;
        return -1;
    }
    if (!evpd) {
        return build_std_inquiry(l, b);
    }
    if (l == NULL) {
        *code = S_LUN_NOT_SUPPORTED;
        return -1;
    }
    return build_vpd(l, cdb[2], b, code);
}

static int
build_request_sense(const struct scsi_lun *l, const uint8_t *cdb, uint8_t *b,
                    uint32_t *code)
{
    if ((cdb[1] & 0x01) != 0) {
        /* DESC: descriptor format is not supported */
        *code = S_INVALID_FIELD;
        return -1;
    }
    if (l == NULL) {
        sense_build(b, S_LUN_NOT_SUPPORTED);
    } else if (l->sense_valid) {
        memcpy(b, l->sense, IQ_SCSI_SENSE_LEN);
    } else if (l->ua) {
        sense_build(b, S_POWER_ON_RESET);
    } else {
        sense_build(b, S_NO_SENSE);
    }
    return IQ_SCSI_SENSE_LEN;
}

static uint32_t
read_capacity_check(const uint8_t *cdb_lba, bool lba64, uint8_t pmi_byte)
{
    uint64_t lba = lba64 ? get_be64(cdb_lba) : get_be32(cdb_lba);

    /* SBC-3 5.16: with PMI 0 the LBA field must be zero. */
    if ((pmi_byte & 0x01) == 0 && lba != 0) {
        return S_INVALID_FIELD;
    }
    return S_GOOD;
}

/* Mode pages (SPC-4 7.5, SBC-3 6.4); `chg` asks for the changeable mask. */
static size_t
mode_page(const struct scsi_lun *l, uint8_t page, bool chg, uint8_t *p)
{
    if (page == 0x08) { /* caching */
        p[0] = 0x08;
        p[1] = 0x12;
        if (!chg && !l->writethrough) {
            p[2] = 0x04; /* WCE */
        }
        return 20;
    }
    /* 0x0a control */
    p[0] = 0x0a;
    p[1] = 0x0a;
    if (!chg) {
        p[3] = 0x10; /* queue algorithm modifier 1: unrestricted order */
    }
    return 12;
}

static int
build_mode_sense(const struct scsi_lun *l, const uint8_t *cdb, uint8_t *b,
                 uint32_t *code)
{
    bool ten = cdb[0] == OP_MODE_SENSE_10;
    bool dbd = (cdb[1] & 0x08) != 0;
    bool llbaa = ten && (cdb[1] & 0x10) != 0;
    uint8_t pc = cdb[2] >> 6;
    uint8_t page = cdb[2] & 0x3f;
    uint8_t subpage = cdb[3];
    size_t n = ten ? 8 : 4;
    uint8_t dsp = 0x10; /* DPOFUA */
    size_t bdl = 0;

    if (pc == 3) {
        *code = S_SAVING_NOT_SUPPORTED;
        return -1;
    }
    if ((page != 0x08 && page != 0x0a && page != 0x3f) ||
        (subpage != 0 && !(page == 0x3f && subpage == 0xff))) {
        *code = S_INVALID_FIELD;
        return -1;
    }
    if (l->readonly) {
        dsp |= 0x80; /* WP */
    }
    if (!dbd) {
        bdl = llbaa ? 16 : 8;
        if (llbaa) {
            put_be64(b + n, l->nblocks);
            put_be32(b + n + 12, l->bs);
        } else {
            put_be32(b + n, l->nblocks > UINT32_MAX ? UINT32_MAX
                                                    : (uint32_t)l->nblocks);
            b[n + 5] = (uint8_t)(l->bs >> 16);
            b[n + 6] = (uint8_t)(l->bs >> 8);
            b[n + 7] = (uint8_t)l->bs;
        }
        n += bdl;
    }
    if (page == 0x08 || page == 0x3f) {
        n += mode_page(l, 0x08, pc == 1, b + n);
    }
    if (page == 0x0a || page == 0x3f) {
        n += mode_page(l, 0x0a, pc == 1, b + n);
    }
    if (ten) {
        put_be16(b, (uint16_t)(n - 2));
        b[3] = dsp;
        b[4] = llbaa ? 0x01 : 0x00; /* LONGLBA */
        put_be16(b + 6, (uint16_t)bdl);
    } else {
        b[0] = (uint8_t)(n - 1);
        b[2] = dsp;
        b[3] = (uint8_t)bdl;
    }
    return (int)n;
}

static int
build_report_luns(const struct iq_scsi_target *t, const uint8_t *cdb,
                  uint8_t *b, uint32_t *code)
{
    uint8_t sel = cdb[2];
    size_t n = 8;

    /* SPC-4 6.33: allocation length below 16 is an error. */
    if (sel > 0x02 || get_be32(cdb + 6) < 16) {
        *code = S_INVALID_FIELD;
        return -1;
    }
    if (sel != 0x01) { /* 0x01: well-known LUNs only (none) */
        for (unsigned i = 0; i < IQ_SCSI_MAX_LUNS; i++) {
            if (t->luns[i].present) {
                /* single level, peripheral device addressing (SAM-5
                   4.7.4): byte 0 zero, LUN in byte 1 */
                memset(b + n, 0, 8);
                b[n + 1] = (uint8_t)i;
                n += 8;
            }
        }
    }
    put_be32(b, (uint32_t)(n - 8));
    return (int)n;
}

/*
 * Build the data-in of a synthesised command into `b` (SCSI_RESP_MAX bytes,
 * zeroed). Returns its full length, or -1 with *code set. Does not change
 * target state, so prepare and submit can both call it. `alloc` receives
 * the CDB's allocation length.
 */
static int
build_response(const struct iq_scsi_target *t, const struct iq_scsi_task *task,
               uint8_t *b, uint32_t *alloc, uint32_t *code)
{
    const struct scsi_lun *l = NULL;
    const uint8_t *cdb = task->cdb;

    if (task->lun < IQ_SCSI_MAX_LUNS && t->luns[task->lun].present) {
        l = &t->luns[task->lun];
    }
    switch (cdb[0]) {
    case OP_INQUIRY:
        *alloc = get_be16(cdb + 3);
        return build_inquiry(l, cdb, b, code);
    case OP_REQUEST_SENSE:
        *alloc = cdb[4];
        return build_request_sense(l, cdb, b, code);
    case OP_REPORT_LUNS:
        *alloc = get_be32(cdb + 6);
        return build_report_luns(t, cdb, b, code);
    default:
        break;
    }
    if (l == NULL) {
        *code = S_LUN_NOT_SUPPORTED;
        return -1;
    }
    switch (cdb[0]) {
    case OP_MODE_SENSE_6:
        *alloc = cdb[4];
        return build_mode_sense(l, cdb, b, code);
    case OP_MODE_SENSE_10:
        *alloc = get_be16(cdb + 7);
        return build_mode_sense(l, cdb, b, code);
    case OP_READ_CAPACITY_10:
        *alloc = 8;
        *code = read_capacity_check(cdb + 2, false, cdb[8]);
        if (*code != S_GOOD) {
            return -1;
        }
        put_be32(b, l->nblocks - 1 > UINT32_MAX ? UINT32_MAX
                                                : (uint32_t)(l->nblocks - 1));
        put_be32(b + 4, l->bs);
        return 8;
    case OP_SERVICE_ACTION_IN_16:
        *alloc = get_be32(cdb + 10);
        if ((cdb[1] & 0x1f) != SAI_READ_CAPACITY_16) {
            *code = S_INVALID_FIELD;
            return -1;
        }
        *code = read_capacity_check(cdb + 2, true, cdb[14]);
        if (*code != S_GOOD) {
            return -1;
        }
        put_be64(b, l->nblocks - 1);
        put_be32(b + 8, l->bs);
        if (l->can_unmap) {
            b[14] = 0x80; /* LBPME */
        }
        return 32;
    default:
        *code = S_INVALID_OPCODE;
        return -1;
    }
}

/* ---- decoding ---- */

/*
 * Decode a READ/WRITE/VERIFY/SYNCHRONIZE CACHE CDB into lba and blocks.
 * Returns S_GOOD or the sense code.
 */
static uint32_t
decode_lba(const uint8_t *cdb, uint64_t *lba, uint64_t *blocks)
{
    switch (cdb[0]) {
    case OP_READ_6:
    case OP_WRITE_6:
        *lba = (uint64_t)(cdb[1] & 0x1f) << 16 | get_be16(cdb + 2);
        *blocks = cdb[4] == 0 ? 256 : cdb[4]; /* SBC-3 5.8: 0 is 256 */
        return S_GOOD;
    case OP_READ_10:
    case OP_WRITE_10:
    case OP_VERIFY_10:
    case OP_SYNC_CACHE_10:
        *lba = get_be32(cdb + 2);
        *blocks = get_be16(cdb + 7);
        break;
    case OP_READ_12:
    case OP_WRITE_12:
        *lba = get_be32(cdb + 2);
        *blocks = get_be32(cdb + 6);
        break;
    default: /* 16-byte forms */
        *lba = get_be64(cdb + 2);
        *blocks = get_be32(cdb + 10);
        break;
    }
    /* RDPROTECT / WRPROTECT / VRPROTECT: no protection information. */
    if (cdb[0] != OP_SYNC_CACHE_10 && cdb[0] != OP_SYNC_CACHE_16 &&
        (cdb[1] & 0xe0) != 0) {
        return S_INVALID_FIELD;
    }
    return S_GOOD;
}

static uint32_t
prepare_rw(struct iq_scsi_task *task, const struct scsi_lun *l)
{
    const uint8_t *cdb = task->cdb;
    uint64_t lba;
    uint64_t blocks;
    uint32_t code = decode_lba(cdb, &lba, &blocks);
    bool write = op_is_write(cdb[0]);

    if (code != S_GOOD) {
        return code;
    }
    if (blocks > IQ_SCSI_MAX_XFER / l->bs) {
        return S_INVALID_FIELD;
    }
    code = check_range(l, lba, blocks);
    if (code != S_GOOD) {
        return code;
    }
    if (write && l->readonly) {
        return S_WRITE_PROTECTED;
    }
    task->sto_.op = write ? IQ_STO_WRITE : IQ_STO_READ;
    task->sto_.offset = lba * l->bs;
    task->xfer_len = (uint32_t)(blocks * l->bs);
    if (task->xfer_len > 0) {
        task->dir = write ? IQ_SCSI_DIR_OUT : IQ_SCSI_DIR_IN;
    }
    return S_GOOD;
}

static uint32_t
prepare_cmd(struct iq_scsi_target *t, struct iq_scsi_task *task,
            const struct scsi_lun *l)
{
    const uint8_t *cdb = task->cdb;
    uint8_t buf[SCSI_RESP_MAX];
    uint64_t lba;
    uint64_t blocks;
    uint32_t code = S_GOOD;
    uint32_t alloc = 0;
    int len;

    if (op_is_synth(cdb[0])) {
        memset(buf, 0, sizeof(buf));
        len = build_response(t, task, buf, &alloc, &code);
        if (len < 0) {
            return code;
        }
        task->xfer_len = IQ_MIN((uint32_t)len, alloc);
        if (task->xfer_len > 0) {
            task->dir = IQ_SCSI_DIR_IN;
        }
        return S_GOOD;
    }
    if (op_is_read(cdb[0]) || op_is_write(cdb[0])) {
        return prepare_rw(task, l);
    }
    switch (cdb[0]) {
    case OP_TEST_UNIT_READY:
    case OP_START_STOP_UNIT: /* no medium to load or eject: no-op */
        return S_GOOD;
    case OP_VERIFY_10:
    case OP_VERIFY_16:
        /* BYTCHK other than 0 would need a data-out compare. */
        if ((cdb[1] & 0x06) != 0) {
            return S_INVALID_FIELD;
        }
        code = decode_lba(cdb, &lba, &blocks);
        return code != S_GOOD ? code : check_range(l, lba, blocks);
    case OP_UNMAP:
        if (l->readonly) {
            return S_WRITE_PROTECTED;
        }
        /* No DISCARD in the storage: as if UNMAP did not exist. */
        if (!l->can_unmap) {
            return S_INVALID_OPCODE;
        }
        /* ANCHOR: there is no anchored state. */
        if ((cdb[1] & 0x01) != 0) {
            return S_INVALID_FIELD;
        }
        /* the parameter list is read at submit (SBC-3 5.28) */
        task->xfer_len = get_be16(cdb + 7);
        if (task->xfer_len > 0) {
            task->dir = IQ_SCSI_DIR_OUT;
        }
        return S_GOOD;
    case OP_SYNC_CACHE_10:
    case OP_SYNC_CACHE_16:
        /* Zero blocks means "to the end of the medium". */
        (void)decode_lba(cdb, &lba, &blocks);
        code = check_range(l, lba, blocks);
        task->sto_.op = IQ_STO_FLUSH;
        return code;
    default:
        return S_INVALID_OPCODE;
    }
}

int
iq_scsi_task_prepare(struct iq_scsi_target *t, struct iq_scsi_task *task)
{
    struct scsi_lun *l;
    uint8_t op;
    unsigned need;
    uint32_t code;

    task->dir = IQ_SCSI_DIR_NONE;
    task->xfer_len = 0;
    task->status = IQ_SCSI_STATUS_GOOD;
    memset(task->sense, 0, sizeof(task->sense));
    task->sense_len = 0;
    task->data_len = 0;
    task->priv_ = NULL;
    memset(&task->sto_, 0, sizeof(task->sto_));
    memset(&task->iov_tail_, 0, sizeof(task->iov_tail_));

    /* guest-controlled: lun, cdb, cdb_len */
    l = lun_get(t, task->lun);
    if (task->cdb_len == 0) {
        task_set_result(t, task, S_INVALID_FIELD);
        return 1;
    }
    op = task->cdb[0];
    if (op != OP_INQUIRY && op != OP_REPORT_LUNS && op != OP_REQUEST_SENSE) {
        if (l == NULL) {
            task_set_result(t, task, S_LUN_NOT_SUPPORTED);
            return 1;
        }
        /* SAM-5 5.14: the unit attention goes to the first command. */
        l->sense_valid = false;
        if (l->ua) {
            l->ua = false;
            task_set_result(t, task, S_POWER_ON_RESET);
            return 1;
        }
    } else if (l != NULL && op != OP_REQUEST_SENSE) {
        l->sense_valid = false;
    }
    if (!op_supported(op)) {
        IQ_DBG(t->ctx, "lun %u: unsupported opcode 0x%02x", task->lun, op);
        task_set_result(t, task, S_INVALID_OPCODE);
        return 1;
    }
    need = cdb_group_len(op);
    /* Short CDB, or NACA in the control byte (not supported, SAM-5). */
    if (task->cdb_len < need || (task->cdb[need - 1] & 0x04) != 0) {
        task_set_result(t, task, S_INVALID_FIELD);
        return 1;
    }
    code = prepare_cmd(t, task, l);
    if (code != S_GOOD) {
        task->dir = IQ_SCSI_DIR_NONE;
        task->xfer_len = 0;
        task_set_result(t, task, code);
        return 1;
    }
    task->priv_ = t; /* prepared, not yet submitted */
    return 0;
}

/* ---- completion ---- */

static void
task_finish(struct iq_scsi_target *t, struct iq_scsi_task *task)
{
    task->priv_ = NULL;
    t->inflight--;
    task->done(task);
}

static void
run_deferred(struct iq_scsi_target *t)
{
    struct iq_scsi_task *task = t->dq_head;

    /* Take the batch: done() may submit tasks that queue a new one. */
    t->dq_head = NULL;
    t->dq_tail = NULL;
    while (task != NULL) {
        struct iq_scsi_task *next = task->priv_;

        task_finish(t, task);
        task = next;
    }
}

static void
deferred_work(void *opaque)
{
    run_deferred(opaque);
}

/* Complete `task` (status already set) from the loop, not from submit. */
static void
defer_done(struct iq_scsi_target *t, struct iq_scsi_task *task)
{
    task->priv_ = NULL;
    if (t->dq_tail != NULL) {
        t->dq_tail->priv_ = task;
    } else {
        t->dq_head = task;
    }
    t->dq_tail = task;
    iq_loop_defer(t->loop, &t->work);
}

static const char *
sto_op_name(enum iq_sto_op op)
{
    switch (op) {
    case IQ_STO_READ:
        return "read";
    case IQ_STO_FLUSH:
        return "flush";
    default:
        return "write";
    }
}

/* A host I/O error: MEDIUM ERROR (SBC-3 4.17), rate-limited warning. */
static void
sto_failed(struct iq_scsi_target *t, struct iq_scsi_task *task, int64_t res)
{
    bool read = task->sto_.op == IQ_STO_READ;

    iq_log_guest(&t->host_rl, t->ctx,
                 "lun %u: host %s at byte %llu failed: %lld", task->lun,
                 sto_op_name(task->sto_.op),
                 (unsigned long long)task->sto_.offset, (long long)res);
    task_set_result(t, task, read ? S_READ_ERROR : S_WRITE_ERROR);
}

static void sto_cb(struct iq_sto_req *req, int64_t res);

/* Submit task->sto_ as set up; on refusal complete the task now. */
static void
sto_start(struct iq_scsi_target *t, struct iq_scsi_task *task, bool deferred)
{
    int ret;

    task->sto_.cb = sto_cb;
    task->sto_.opaque = task;
    task->priv_ = t;
    ret = iq_storage_submit(lun_get(t, task->lun)->sto, &task->sto_);
    if (ret == 0) {
        return;
    }
    sto_failed(t, task, ret);
    if (deferred) {
        defer_done(t, task);
    } else {
        task_finish(t, task);
    }
}

static void
sto_cb(struct iq_sto_req *req, int64_t res)
{
    struct iq_scsi_task *task = req->opaque;
    struct iq_scsi_target *t = task->priv_;
    struct scsi_lun *l = lun_get(t, task->lun);

    bool rw = req->op == IQ_STO_READ || req->op == IQ_STO_WRITE;

    if (req->op == IQ_STO_DISCARD && res == -EOPNOTSUPP) {
        /* UNMAP is advisory: the blocks simply stay mapped. */
        res = 0;
    }
    if (res < 0 || (rw && (uint64_t)res != req->len)) {
        sto_failed(t, task, res < 0 ? res : -EIO);
        task_finish(t, task);
        return;
    }
    if (rw && req->iov != &task->iov_tail_ && task->iov_tail_.iov_len > 0) {
        /* Second part: the trimmed last iovec. */
        req->offset += req->len;
        req->iov = &task->iov_tail_;
        req->iovcnt = 1;
        req->len = task->iov_tail_.iov_len;
        sto_start(t, task, false);
        return;
    }
    if (req->op == IQ_STO_WRITE &&
        (l->writethrough ||
         (task->cdb[0] != OP_WRITE_6 && (task->cdb[1] & 0x08) != 0))) {
        /* Write-through mode or FUA: durable before GOOD. */
        req->op = IQ_STO_FLUSH;
        sto_start(t, task, false);
        return;
    }
    task->data_len = task->xfer_len;
    task_set_result(t, task, S_GOOD);
    task_finish(t, task);
}

/*
 * UNMAP (SBC-3 5.28): the parameter list (guest data) is copied once into
 * a local buffer, validated, and only the copy is used.
 */
static void
submit_unmap(struct iq_scsi_target *t, struct iq_scsi_task *task,
             const struct scsi_lun *l)
{
    uint8_t p[SCSI_UNMAP_PLIST_MAX];
    uint32_t plen = task->xfer_len;
    uint32_t want = IQ_MIN(plen, (uint32_t)sizeof(p));
    uint32_t dlen;
    uint32_t code;
    uint64_t lba;
    uint64_t count;

    memset(p, 0, sizeof(p));
    if (copy_from_iov(task, p, want) < want) {
        task_set_result(t, task, S_INTERNAL);
        defer_done(t, task);
        return;
    }
    if (plen < 8) {
        task_set_result(t, task, S_PARAM_LIST_LENGTH);
        defer_done(t, task);
        return;
    }
    /* Descriptors beyond the list, and a partial last one, are ignored. */
    dlen = IQ_MIN((uint32_t)get_be16(p + 2), plen - 8);
    if (dlen / 16 > SCSI_UNMAP_MAX_DESC) {
        code = S_INVALID_PARAM;
    } else if (dlen < 16) {
        code = S_GOOD;
    } else {
        lba = get_be64(p + 8);
        count = get_be32(p + 16);
        if (count > SCSI_UNMAP_MAX_BLOCKS) {
            code = S_INVALID_PARAM;
        } else if (count == 0) {
            code = S_GOOD;
        } else {
            code = check_range(l, lba, count);
            if (code == S_GOOD) {
                task->sto_.op = IQ_STO_DISCARD;
                task->sto_.offset = lba * l->bs;
                task->sto_.len = count * l->bs;
                task->data_len = plen;
                sto_start(t, task, true);
                return;
            }
        }
    }
    if (code == S_GOOD) {
        task->data_len = plen;
    }
    task_set_result(t, task, code);
    defer_done(t, task);
}

/*
 * READ/WRITE with the transport's iovecs, limited to xfer_len bytes: the
 * whole entries inside the limit go first, then (if the limit falls inside
 * an entry) that entry trimmed, from task->iov_tail_.
 */
static void
submit_rw(struct iq_scsi_target *t, struct iq_scsi_task *task)
{
    uint64_t want = task->xfer_len;
    uint64_t acc = 0;
    unsigned k = 0;

    while (k < task->iovcnt && task->iov[k].iov_len <= want - acc) {
        acc += task->iov[k].iov_len;
        k++;
    }
    if (acc < want) {
        if (k >= task->iovcnt) {
            /* Transport bug: buffer smaller than xfer_len. */
            iq_log_guest(&t->rl, t->ctx,
                         "lun %u: data buffer of %llu bytes < %u", task->lun,
                         (unsigned long long)iov_total(task), task->xfer_len);
            task_set_result(t, task, S_INTERNAL);
            defer_done(t, task);
            return;
        }
        task->iov_tail_.iov_base = task->iov[k].iov_base;
        task->iov_tail_.iov_len = (size_t)(want - acc);
    }
    if (acc > 0) {
        task->sto_.iov = task->iov;
        task->sto_.iovcnt = k;
        task->sto_.len = acc;
    } else {
        /* Only the trimmed entry: sto_cb sees iov == &iov_tail_ and
           does not run a second part. */
        task->sto_.iov = &task->iov_tail_;
        task->sto_.iovcnt = 1;
        task->sto_.len = task->iov_tail_.iov_len;
    }
    sto_start(t, task, true);
}

void
iq_scsi_task_submit(struct iq_scsi_target *t, struct iq_scsi_task *task)
{
    uint8_t buf[SCSI_RESP_MAX];
    uint32_t alloc = 0;
    uint32_t code = S_GOOD;
    uint8_t op = task->cdb[0];
    struct scsi_lun *l;
    int len;

    t->inflight++;
    if (task->priv_ != t) {
        /* Not prepared, or prepare already completed it: report as is. */
        if (task->status == IQ_SCSI_STATUS_GOOD) {
            task_set_result(t, task, S_INTERNAL);
        }
        defer_done(t, task);
        return;
    }
    l = lun_get(t, task->lun);
    task->data_len = 0;
    if (op_is_synth(op)) {
        memset(buf, 0, sizeof(buf));
        len = build_response(t, task, buf, &alloc, &code);
        if (len < 0) {
            task_set_result(t, task, code);
        } else {
            task->data_len =
                copy_to_iov(task, buf, IQ_MIN(task->xfer_len, (uint32_t)len));
            task_set_result(t, task, S_GOOD);
            /* REQUEST SENSE consumes what it reported. */
            if (op == OP_REQUEST_SENSE && l != NULL) {
                if (l->sense_valid) {
                    l->sense_valid = false;
                } else {
                    l->ua = false;
                }
            }
        }
        defer_done(t, task);
        return;
    }
    if ((op_is_read(op) || op_is_write(op)) && task->xfer_len > 0) {
        submit_rw(t, task);
        return;
    }
    if (op == OP_UNMAP && task->xfer_len > 0) {
        submit_unmap(t, task, l);
        return;
    }
    if (op == OP_SYNC_CACHE_10 || op == OP_SYNC_CACHE_16) {
        sto_start(t, task, true);
        return;
    }
    /* TEST UNIT READY, START STOP UNIT, VERIFY, zero-length READ/WRITE */
    task_set_result(t, task, S_GOOD);
    defer_done(t, task);
}

/* ---- lifecycle ---- */

/* Complete everything in flight (done() runs for each). */
static void
drain_all(struct iq_scsi_target *t)
{
    while (t->inflight > 0) {
        unsigned before = t->inflight;

        iq_loop_cancel(t->loop, &t->work);
        run_deferred(t);
        for (unsigned i = 0; i < IQ_SCSI_MAX_LUNS; i++) {
            if (t->luns[i].present) {
                iq_storage_drain(t->luns[i].sto);
            }
        }
        if (t->inflight >= before && t->dq_head == NULL) {
            /* Internal invariant: nothing else can hold a task. */
            IQ_ERR(t->ctx, "%u SCSI tasks cannot be drained", t->inflight);
            break;
        }
    }
    iq_loop_cancel(t->loop, &t->work);
}

int
iq_scsi_target_create(const char *name, struct iq_loop *loop,
                      struct iq_scsi_target **out)
{
    struct iq_scsi_target *t;

    *out = NULL;
    if (loop == NULL) {
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    snprintf(t->ctx, sizeof(t->ctx), "%s", name != NULL ? name : "scsi");
    t->loop = loop;
    iq_loop_work_init(&t->work, deferred_work, t);
    *out = t;
    return 0;
}

void
iq_scsi_target_destroy(struct iq_scsi_target *t)
{
    if (t == NULL) {
        return;
    }
    drain_all(t);
    free(t);
}

int
iq_scsi_target_add_lun(struct iq_scsi_target *t, unsigned lun,
                       const struct iq_scsi_lun_config *cfg)
{
    struct scsi_lun *l;
    size_t slen = 0;
    uint32_t bs;
    uint64_t h;
    uint8_t lb;

    if (t == NULL || lun >= IQ_SCSI_MAX_LUNS || cfg == NULL ||
        cfg->storage == NULL) {
        return -EINVAL;
    }
    l = &t->luns[lun];
    if (l->present) {
        return -EEXIST;
    }
    bs = iq_storage_block_size(cfg->storage);
    if (bs < 512 || bs > IQ_SCSI_MAX_XFER || (bs & (bs - 1)) != 0 ||
        iq_storage_size(cfg->storage) / bs == 0) {
        return -EINVAL;
    }
    if (cfg->serial != NULL) {
        slen = strlen(cfg->serial);
        if (slen > SCSI_SERIAL_MAX) {
            return -EINVAL;
        }
        for (size_t i = 0; i < slen; i++) {
            if (cfg->serial[i] < 0x20 || cfg->serial[i] > 0x7e) {
                return -EINVAL;
            }
        }
    }
    memset(l, 0, sizeof(*l));
    l->sto = cfg->storage;
    l->bs = bs;
    l->nblocks = iq_storage_size(cfg->storage) / bs;
    l->readonly = cfg->readonly || iq_storage_readonly(cfg->storage);
    l->writethrough = cfg->writethrough;
    l->can_unmap = !l->readonly && iq_storage_can_discard(cfg->storage);
    l->ua_enabled = !cfg->no_unit_attention;
    l->ua = l->ua_enabled;
    l->serial_len = slen;
    memcpy(l->serial, cfg->serial != NULL ? cfg->serial : "", slen);
    /* NAA 3 (locally assigned), 60 bits from name, serial and LUN. */
    lb = (uint8_t)lun;
    h = fnv1a(0xcbf29ce484222325ull, t->ctx, strlen(t->ctx) + 1);
    h = fnv1a(h, l->serial, slen + 1);
    h = fnv1a(h, &lb, 1);
    l->naa = 3ull << 60 | (h & ((1ull << 60) - 1));
    l->present = true;
    return 0;
}

bool
iq_scsi_target_has_lun(const struct iq_scsi_target *t, unsigned lun)
{
    return t != NULL && lun < IQ_SCSI_MAX_LUNS && t->luns[lun].present;
}

void
iq_scsi_target_reset_async(struct iq_scsi_target *t)
{
    if (t == NULL) {
        return;
    }
    for (unsigned i = 0; i < IQ_SCSI_MAX_LUNS; i++) {
        t->luns[i].sense_valid = false;
        t->luns[i].ua = t->luns[i].present && t->luns[i].ua_enabled;
    }
}

void
iq_scsi_target_reset(struct iq_scsi_target *t)
{
    if (t == NULL) {
        return;
    }
    drain_all(t);
    iq_scsi_target_reset_async(t);
}
