/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: SCSI CDB decoding and execution over the mem storage.
 *
 * Input: byte 0 is the set-up (bit 0: LUN 0 read-only, bit 1: LUN 0
 * write-through, bit 2: no unit attention). Then records until the input
 * ends, each 18 bytes (missing bytes read as zero):
 *   flags   bits 0-3 LUN (0: 64 KiB disk, 1: 4 KiB disk, others missing,
 *           >= 8 out of range), bits 4-5 buffer shape (0 one large iovec,
 *           1 three uneven iovecs, 2 exactly xfer_len, 3 half of it),
 *           bit 6 leave the task in flight (up to FZ_TASKS), bit 7 reset
 *           the target before this command;
 *   cdb_len the transport's CDB length (any value);
 *   cdb     16 bytes;
 *   then, for a data-out command that reached submit, up to FZ_OUT_MAX
 *   bytes of data (the start of the data-out buffer: an UNMAP parameter
 *   list, say); the rest of the buffer is a pattern.
 * Invariants checked after each completion: status GOOD or CHECK
 * CONDITION with fixed sense, data_len <= xfer_len <= IQ_SCSI_MAX_XFER,
 * done() exactly once and never from inside submit.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/log.h"
#include "ioreqd/loop.h"
#include "ioreqd/scsi.h"
#include "ioreqd/storage.h"

#define FZ_TASKS 4u
#define FZ_BUF_LEN (96u * 1024u) /* above the largest in-range transfer */
#define FZ_REC_LEN 18u
#define FZ_OUT_MAX 48u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_slot {
    struct iq_scsi_task task;
    struct iovec iov[3];
    uint8_t *buf;
    bool busy; /* submitted, done() pending */
    unsigned ndone;
};

struct fz {
    struct iq_loop *loop;
    struct iq_storage *sto[2];
    struct iq_scsi_target *t;
    struct fz_slot slots[FZ_TASKS];
    bool in_submit;
};

static void
fz_check(const struct iq_scsi_task *task)
{
    if (task->xfer_len > IQ_SCSI_MAX_XFER || task->data_len > task->xfer_len ||
        (task->dir == IQ_SCSI_DIR_NONE && task->xfer_len != 0)) {
        abort();
    }
    if (task->status == IQ_SCSI_STATUS_GOOD) {
        if (task->sense_len != 0) {
            abort();
        }
    } else if (task->status != IQ_SCSI_STATUS_CHECK_CONDITION ||
               task->sense_len != IQ_SCSI_SENSE_LEN || task->sense[0] != 0x70 ||
               task->sense[7] != 10 || task->data_len != 0) {
        abort();
    }
}

static void
fz_done(struct iq_scsi_task *task)
{
    struct fz_slot *s = task->opaque;

    if (!s->busy) {
        abort();
    }
    s->busy = false;
    s->ndone++;
    fz_check(task);
}

/* Run the loop until `s` is idle (bounded). */
static void
fz_wait(struct fz *f, struct fz_slot *s)
{
    for (unsigned i = 0; s->busy && i < 1000; i++) {
        if (iq_loop_run_once(f->loop, 100) < 0) {
            abort();
        }
    }
    if (s->busy) {
        abort();
    }
}

static void
fz_shape(struct fz_slot *s, unsigned shape, unsigned *cnt)
{
    uint32_t x = s->task.xfer_len;

    switch (shape) {
    case 0:
        s->iov[0] = (struct iovec){s->buf, FZ_BUF_LEN};
        *cnt = 1;
        break;
    case 1:
        s->iov[0] = (struct iovec){s->buf, 7};
        s->iov[1] = (struct iovec){s->buf + 7, 1000};
        s->iov[2] = (struct iovec){s->buf + 1007, FZ_BUF_LEN - 1007};
        *cnt = 3;
        break;
    case 2:
        s->iov[0] = (struct iovec){s->buf, x <= FZ_BUF_LEN ? x : FZ_BUF_LEN};
        *cnt = 1;
        break;
    default:
        s->iov[0] = (struct iovec){s->buf, (x <= FZ_BUF_LEN ? x : 0) / 2};
        *cnt = 1;
        break;
    }
}

struct fz_in {
    const uint8_t *p;
    size_t left;
};

static void
fz_run(struct fz *f, const uint8_t *rec, struct fz_in *in)
{
    unsigned lun = rec[0] & 0x0f;
    unsigned shape = (rec[0] >> 4) & 3;
    bool keep = (rec[0] & 0x40) != 0;
    struct fz_slot *s = NULL;
    unsigned cnt = 0;
    unsigned before;
    int ret;

    if ((rec[0] & 0x80) != 0) {
        iq_scsi_target_reset(f->t);
        for (unsigned i = 0; i < FZ_TASKS; i++) {
            if (f->slots[i].busy) {
                abort();
            }
        }
    }
    for (unsigned i = 0; i < FZ_TASKS; i++) {
        if (!f->slots[i].busy) {
            s = &f->slots[i];
            break;
        }
    }
    if (s == NULL) {
        s = &f->slots[0];
        fz_wait(f, s);
    }
    memset(&s->task, 0, sizeof(s->task));
    s->task.lun = lun;
    s->task.cdb_len = rec[1];
    memcpy(s->task.cdb, rec + 2, 16);
    s->task.done = fz_done;
    s->task.opaque = s;
    ret = iq_scsi_task_prepare(f->t, &s->task);
    if (ret != 0) {
        if (ret != 1 || s->task.status != IQ_SCSI_STATUS_CHECK_CONDITION) {
            abort();
        }
        fz_check(&s->task);
        return;
    }
    if (s->task.xfer_len > IQ_SCSI_MAX_XFER) {
        abort();
    }
    fz_shape(s, shape, &cnt);
    if (s->task.dir == IQ_SCSI_DIR_OUT) {
        size_t n = IQ_MIN(IQ_MIN((size_t)FZ_OUT_MAX, in->left),
                          (size_t)s->task.xfer_len);

        memset(s->buf, rec[2] ^ 0x5a, FZ_BUF_LEN);
        memcpy(s->buf, in->p, n);
        in->p += n;
        in->left -= n;
    }
    s->task.iov = s->iov;
    s->task.iovcnt = cnt;
    s->busy = true;
    before = s->ndone;
    iq_scsi_task_submit(f->t, &s->task);
    if (s->ndone != before) {
        abort(); /* done() from inside submit */
    }
    if (!keep) {
        fz_wait(f, s);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;
    struct iq_scsi_lun_config cfg = {0};
    uint8_t setup = size > 0 ? data[0] : 0;
    struct fz_in in = {data + 1, size > 0 ? size - 1 : 0};

    memset(&f, 0, sizeof(f));
    iq_log_set_level(IQ_LOG_ERR);
    if (iq_loop_create(&f.loop) < 0) {
        return 0;
    }
    for (unsigned i = 0; i < FZ_TASKS; i++) {
        f.slots[i].buf = calloc(1, FZ_BUF_LEN);
        if (f.slots[i].buf == NULL) {
            goto out;
        }
    }
    if (iq_storage_open_mem(f.loop, 64 * 1024, NULL, &f.sto[0]) < 0 ||
        iq_storage_open_mem(f.loop, 4096, NULL, &f.sto[1]) < 0 ||
        iq_scsi_target_create("fuzz", f.loop, &f.t) < 0) {
        goto out;
    }
    cfg.storage = f.sto[0];
    cfg.readonly = setup & 1;
    cfg.writethrough = (setup >> 1) & 1;
    cfg.no_unit_attention = (setup >> 2) & 1;
    cfg.serial = "fuzz-serial";
    if (iq_scsi_target_add_lun(f.t, 0, &cfg) < 0) {
        goto out;
    }
    cfg.storage = f.sto[1];
    cfg.readonly = false;
    cfg.serial = NULL;
    if (iq_scsi_target_add_lun(f.t, 1, &cfg) < 0) {
        goto out;
    }
    /* Bounded by the input length. */
    while (in.left > 0) {
        uint8_t rec[FZ_REC_LEN] = {0};
        size_t n = IQ_MIN(in.left, (size_t)FZ_REC_LEN);

        memcpy(rec, in.p, n);
        in.p += n;
        in.left -= n;
        fz_run(&f, rec, &in);
    }
    for (unsigned i = 0; i < FZ_TASKS; i++) {
        fz_wait(&f, &f.slots[i]);
    }
out:
    iq_scsi_target_destroy(f.t);
    for (unsigned i = 0; i < FZ_TASKS; i++) {
        if (f.slots[i].busy) {
            abort();
        }
        free(f.slots[i].buf);
    }
    iq_storage_destroy(f.sto[0]);
    iq_storage_destroy(f.sto[1]);
    iq_loop_destroy(f.loop);
    return 0;
}
