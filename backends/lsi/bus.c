/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SCSI bus behind the 53C895A, seen from the targets' side: selection,
 * the information transfer phases (SPI-5 / SAM-5), messages, disconnect
 * and reselection, and each command's bounce buffer.
 *
 * The targets are iq_scsi_target objects executing asynchronously. A
 * command whose initiator granted disconnect privilege (IDENTIFY bit 6)
 * disconnects after its CDB (SAVE DATA POINTER, DISCONNECT) and reselects
 * once its data or status is ready; otherwise the target keeps the bus and
 * withholds REQ until then (the SCRIPTS processor waits, parked).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lsi-internal.h"

/* Bytes of one MSG OUT move we look at; the rest is accepted unread. */
#define MSG_OUT_MAX 64u

static void
cmd_free(struct lsi_cmd *c)
{
    if (c->buf != NULL) {
        c->lsi->bounce_bytes -= c->len_alloc;
    }
    free(c->buf);
    c->buf = NULL;
    c->state = CMD_FREE;
    c->aborted = false;
    c->disconnected = false;
    c->split = false;
}

/* Drop a command: a running one is freed by its completion. */
static void
cmd_abort(struct iq_lsi *lsi, struct lsi_cmd *c)
{
    if (lsi->cur == c) {
        lsi->cur = NULL;
    }
    if (c->state == CMD_RUNNING) {
        c->aborted = true;
        c->disconnected = false;
        return;
    }
    cmd_free(c);
}

void
iq_lsi_bus_disconnect(struct iq_lsi *lsi)
{
    struct lsi_cmd *c = lsi->cur;

    if (c != NULL && c->state != CMD_FREE) {
        c->disconnected = true;
    }
    lsi->cur = NULL;
    lsi->connected = false;
    lsi->atn = false;
    lsi->msg_in_len = 0;
    lsi->msg_in_pos = 0;
    lsi->bus_gen++;
}

void
iq_lsi_bus_reset(struct iq_lsi *lsi)
{
    lsi->bus_gen++;
    lsi->mv_cont = false;
    lsi->cur = NULL;
    lsi->connected = false;
    lsi->sel_timeout = false;
    lsi->atn = false;
    lsi->msg_in_len = 0;
    lsi->msg_in_pos = 0;
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        if (lsi->cmds[i].state != CMD_FREE) {
            cmd_abort(lsi, &lsi->cmds[i]);
        }
    }
}

bool
iq_lsi_bus_busy(const struct iq_lsi *lsi)
{
    const struct lsi_cmd *c = lsi->cur;

    return lsi->connected && c != NULL && c->state == CMD_RUNNING &&
           lsi->msg_in_len == 0;
}

void
iq_lsi_bus_set_atn(struct iq_lsi *lsi, bool on)
{
    lsi->atn = on;
}

static void
queue_msg_in(struct iq_lsi *lsi, const uint8_t *m, unsigned n,
             enum lsi_mi_next next)
{
    unsigned room = (unsigned)sizeof(lsi->msg_in) - lsi->msg_in_len;

    if (n > room) {
        n = room;
    }
    memcpy(lsi->msg_in + lsi->msg_in_len, m, n);
    lsi->msg_in_len += n;
    lsi->mi_next = next;
    lsi->phase = PH_MI;
}

/* The phase the current nexus is in when no message is pending. */
static void
resume_phase(struct iq_lsi *lsi)
{
    struct lsi_cmd *c = lsi->cur;

    if (lsi->atn) {
        lsi->phase = PH_MO;
        return;
    }
    if (c == NULL) {
        lsi->phase = PH_CMD;
        return;
    }
    switch (c->state) {
    case CMD_DATA_OUT:
        lsi->phase = PH_DO;
        break;
    case CMD_RUNNING:
        /* REQ withheld until done; the phase shown is the next one. */
        if (c->task.dir == IQ_SCSI_DIR_IN) {
            lsi->phase = PH_DI;
        } else if (c->split && c->split_left > 0) {
            lsi->phase = PH_DO; /* more data-out after this piece */
        } else {
            lsi->phase = PH_ST;
        }
        break;
    case CMD_DONE:
        lsi->phase = c->pos < c->len ? PH_DI : PH_ST;
        break;
    default:
        lsi->phase = PH_CMD;
        break;
    }
}

int
iq_lsi_bus_select(struct iq_lsi *lsi, unsigned id, bool atn)
{
    if (id >= IQ_LSI_MAX_TARGETS || lsi->targets[id] == NULL) {
        return -ENODEV;
    }
    lsi->connected = true;
    lsi->atn = atn;
    lsi->sel_target = id;
    lsi->sel_lun = 0;
    lsi->sel_tag = -1;
    lsi->disc_priv = false;
    lsi->cur = NULL;
    lsi->msg_in_len = 0;
    lsi->msg_in_pos = 0;
    lsi->r[R_SDID] = (uint8_t)id;
    /*
     * Targets go to MESSAGE OUT after selection whether or not ATN was
     * raised; SeaBIOS selects without ATN and then moves its IDENTIFY.
     */
    lsi->phase = PH_MO;
    return 0;
}

bool
iq_lsi_bus_reselect_pending(const struct iq_lsi *lsi)
{
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        const struct lsi_cmd *c = &lsi->cmds[i];

        if (c->state == CMD_DONE && c->disconnected && !c->aborted) {
            return true;
        }
    }
    return false;
}

int
iq_lsi_bus_reselect(struct iq_lsi *lsi)
{
    uint8_t m[3];
    unsigned n = 0;

    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        struct lsi_cmd *c = &lsi->cmds[i];

        if (c->state != CMD_DONE || !c->disconnected || c->aborted) {
            continue;
        }
        c->disconnected = false;
        lsi->connected = true;
        lsi->atn = false;
        lsi->cur = c;
        lsi->sel_target = c->target;
        lsi->sel_lun = c->lun;
        lsi->sel_tag = c->tag;
        lsi->msg_in_len = 0;
        lsi->msg_in_pos = 0;
        /* SSID: VAL plus the reselecting target's ID. */
        lsi->r[R_SSID] = (uint8_t)(0x80u | c->target);
        lsi->r[R_SFBR] = (uint8_t)(1u << c->target);
        m[n++] = (uint8_t)(MSG_IDENTIFY | c->lun);
        if (c->tag >= 0) {
            m[n++] = MSG_SIMPLE_TAG;
            m[n++] = (uint8_t)c->tag;
        }
        queue_msg_in(lsi, m, n, MI_NEXT_RESUME);
        lsi->stats.reselects++;
        return 0;
    }
    return -ENOENT;
}

/* ---- commands ----------------------------------------------------------- */

static void next_chunk(struct iq_lsi *lsi, struct lsi_cmd *c);

static void
cmd_done(struct iq_scsi_task *task)
{
    struct lsi_cmd *c = IQ_CONTAINER_OF(task, struct lsi_cmd, task);
    struct iq_lsi *lsi = c->lsi;

    if (c->aborted) {
        cmd_free(c);
        return;
    }
    if (c->split && c->split_left > 0 && task->dir == IQ_SCSI_DIR_OUT &&
        task->status == IQ_SCSI_STATUS_GOOD && lsi->cur == c &&
        lsi->connected) {
        /* Written: collect the next piece of data-out. */
        next_chunk(lsi, c);
        if (lsi->running && lsi->wait == WAIT_REQ) {
            lsi->wait = WAIT_NONE;
            iq_lsi_scripts_kick(lsi);
        }
        return;
    }
    if (c->split && c->split_left > 0 && task->dir == IQ_SCSI_DIR_OUT &&
        task->status == IQ_SCSI_STATUS_GOOD) {
        /* The initiator dropped the bus part-way: not all was written. */
        task->status = IQ_SCSI_STATUS_BUSY;
    }
    c->state = CMD_DONE;
    c->pos = 0;
    if (task->dir == IQ_SCSI_DIR_IN) {
        c->len = IQ_MIN(task->data_len, c->len);
    } else {
        c->len = 0;
    }
    if (lsi->cur == c && lsi->connected) {
        if (lsi->msg_in_len == 0) {
            resume_phase(lsi);
        }
        if (lsi->running && lsi->wait == WAIT_REQ) {
            lsi->wait = WAIT_NONE;
            iq_lsi_scripts_kick(lsi);
        }
        return;
    }
    if (c->disconnected && lsi->running && lsi->wait == WAIT_RESELECT &&
        !lsi->connected) {
        lsi->wait = WAIT_NONE;
        (void)iq_lsi_bus_reselect(lsi);
        iq_lsi_scripts_kick(lsi);
    }
}

static struct lsi_cmd *
cmd_alloc(struct iq_lsi *lsi)
{
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        if (lsi->cmds[i].state == CMD_FREE) {
            struct lsi_cmd *c = &lsi->cmds[i];

            memset(&c->task, 0, sizeof(c->task));
            c->buf = NULL;
            c->len = 0;
            c->pos = 0;
            c->aborted = false;
            c->disconnected = false;
            c->split = false;
            return c;
        }
    }
    return NULL;
}

static void
status_only(struct iq_lsi *lsi, struct lsi_cmd *c, uint8_t status)
{
    c->task.status = status;
    c->state = CMD_DONE;
    c->len = 0;
    c->pos = 0;
    lsi->cur = c;
    lsi->phase = PH_ST;
}

static void
submit(struct iq_lsi *lsi, struct lsi_cmd *c)
{
    bool disc = lsi->disc_priv;

    if (c->split) {
        /*
         * Disconnect only where the initiator expects it: before the
         * data-in (first piece) or after the whole data-out (last one);
         * between pieces the target keeps the bus and withholds REQ.
         */
        disc = disc && (c->task.dir == IQ_SCSI_DIR_IN ? c->split_first
                                                      : c->split_left == 0);
        c->split_first = false;
    }
    c->state = CMD_RUNNING;
    c->iov.iov_base = c->buf;
    c->iov.iov_len = c->len;
    c->task.iov = &c->iov;
    c->task.iovcnt = c->len != 0 ? 1 : 0;
    iq_scsi_task_submit(lsi->targets[c->target], &c->task);
    if (disc) {
        static const uint8_t m[2] = {MSG_SAVE_DP, MSG_DISCONNECT};

        queue_msg_in(lsi, m, 2, MI_NEXT_DISCONNECT);
    } else {
        resume_phase(lsi);
    }
}

static uint64_t
be_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void
put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
}

/* Build the READ(16)/WRITE(16) of `blocks` at `lba` into the task. */
static void
split_cdb(struct lsi_cmd *c, uint64_t lba, uint32_t blocks)
{
    uint8_t *cdb = c->task.cdb;

    memset(cdb, 0, 16);
    cdb[0] = c->split_op;
    cdb[1] = c->split_flags;
    put_be(cdb + 2, lba, 8);
    put_be(cdb + 10, blocks, 4);
    cdb[14] = c->split_group;
    cdb[15] = c->split_control;
    c->task.cdb_len = 16;
}

/* Prepare, and start the data phase of, the next sub-command. */
static void
next_chunk(struct iq_lsi *lsi, struct lsi_cmd *c)
{
    uint32_t per = IQ_SCSI_MAX_XFER / c->split_bs;
    uint32_t n = (uint32_t)IQ_MIN(c->split_left, (uint64_t)per);
    int rc;

    split_cdb(c, c->split_lba, n);
    rc = iq_scsi_task_prepare(lsi->targets[c->target], &c->task);
    if (rc != 0 || c->task.xfer_len != n * c->split_bs ||
        c->task.xfer_len > c->len_alloc) {
        status_only(lsi, c, rc == 1 ? c->task.status : IQ_SCSI_STATUS_BUSY);
        return;
    }
    c->split_lba += n;
    c->split_left -= n;
    c->len = c->task.xfer_len;
    c->pos = 0;
    if (c->task.dir == IQ_SCSI_DIR_OUT) {
        c->state = CMD_DATA_OUT;
        lsi->phase = PH_DO;
        return;
    }
    submit(lsi, c);
}

/*
 * READ/WRITE (10/12/16) moving more than IQ_SCSI_MAX_XFER: run it as
 * sub-commands. Returns false (nothing done) for any other command.
 */
static bool
try_split(struct iq_lsi *lsi, struct lsi_cmd *c, const uint8_t *cdb,
          unsigned len)
{
    struct iq_scsi_target *t = lsi->targets[c->target];
    uint64_t lba;
    uint64_t blocks;
    unsigned group;
    unsigned need;
    bool write;
    uint32_t bs;
    uint32_t alloc;
    int rc;

    switch (cdb[0]) {
    case 0x28: /* READ(10) */
    case 0x2a: /* WRITE(10) */
        need = 10;
        lba = be_get(cdb + 2, 4);
        blocks = be_get(cdb + 7, 2);
        group = 6;
        break;
    case 0xa8: /* READ(12) */
    case 0xaa: /* WRITE(12) */
        need = 12;
        lba = be_get(cdb + 2, 4);
        blocks = be_get(cdb + 6, 4);
        group = 10;
        break;
    case 0x88: /* READ(16) */
    case 0x8a: /* WRITE(16) */
        need = 16;
        lba = be_get(cdb + 2, 8);
        blocks = be_get(cdb + 10, 4);
        group = 14;
        break;
    default:
        return false;
    }
    if (len < need || blocks < 2 || lba > UINT64_MAX - blocks) {
        return false;
    }
    write = (cdb[0] & 0x02u) != 0;
    c->split_op = write ? 0x8a : 0x88;
    c->split_flags = cdb[1];
    c->split_group = cdb[group] & 0x3fu;
    c->split_control = cdb[need - 1];
    /* Probe with the last block: range, protection, block size. */
    split_cdb(c, lba + blocks - 1, 1);
    rc = iq_scsi_task_prepare(t, &c->task);
    if (rc < 0) {
        return false;
    }
    if (rc == 1) {
        status_only(lsi, c, c->task.status);
        return true;
    }
    bs = c->task.xfer_len;
    if (bs == 0 || bs > IQ_SCSI_MAX_XFER || blocks <= IQ_SCSI_MAX_XFER / bs) {
        /* Fits in one command: the ordinary path re-prepares it. */
        return false;
    }
    /* One bounded buffer for every piece. */
    alloc = (IQ_SCSI_MAX_XFER / bs) * bs;
    if (alloc > IQ_LSI_MAX_BOUNCE - lsi->bounce_bytes) {
        iq_log_guest(&lsi->rl, lsi->name, "bounce buffers exhausted: BUSY");
        status_only(lsi, c, IQ_SCSI_STATUS_BUSY);
        return true;
    }
    c->buf = calloc(1, alloc);
    if (c->buf == NULL) {
        status_only(lsi, c, IQ_SCSI_STATUS_BUSY);
        return true;
    }
    c->len_alloc = alloc;
    lsi->bounce_bytes += alloc;
    c->split = true;
    c->split_first = true;
    c->split_bs = bs;
    c->split_lba = lba;
    c->split_left = blocks;
    next_chunk(lsi, c);
    return true;
}

static void
start_command(struct iq_lsi *lsi, const uint8_t *cdb, unsigned len)
{
    struct iq_scsi_target *t = lsi->targets[lsi->sel_target];
    struct lsi_cmd *c = cmd_alloc(lsi);
    int rc;

    if (c == NULL) {
        /* Out of command slots: STATUS phase reports BUSY (no nexus). */
        iq_log_guest(&lsi->rl, lsi->name, "too many commands: BUSY");
        lsi->cur = NULL;
        lsi->phase = PH_ST;
        return;
    }
    lsi->stats.commands++;
    c->target = lsi->sel_target;
    c->lun = lsi->sel_lun;
    c->tag = lsi->sel_tag;
    c->task.lun = lsi->sel_lun;
    c->task.done = cmd_done;
    c->task.opaque = c;
    lsi->cur = c;
    if (try_split(lsi, c, cdb, len)) {
        return;
    }
    memcpy(c->task.cdb, cdb, len);
    c->task.cdb_len = len;
    rc = iq_scsi_task_prepare(t, &c->task);
    if (rc < 0) {
        status_only(lsi, c, IQ_SCSI_STATUS_BUSY);
        return;
    }
    if (rc == 1) {
        /* Completed at once (bad CDB, missing LUN): straight to STATUS. */
        status_only(lsi, c, c->task.status);
        return;
    }
    c->len = c->task.dir == IQ_SCSI_DIR_NONE ? 0 : c->task.xfer_len;
    if (c->len > IQ_SCSI_MAX_XFER) {
        status_only(lsi, c, IQ_SCSI_STATUS_BUSY);
        return;
    }
    if (c->len != 0) {
        /* Guest-driven allocation: bounded per command and in total. */
        if (c->len > IQ_LSI_MAX_BOUNCE - lsi->bounce_bytes) {
            iq_log_guest(&lsi->rl, lsi->name, "bounce buffers exhausted: BUSY");
            status_only(lsi, c, IQ_SCSI_STATUS_BUSY);
            return;
        }
        c->buf = calloc(1, c->len);
        if (c->buf == NULL) {
            status_only(lsi, c, IQ_SCSI_STATUS_BUSY);
            return;
        }
        c->len_alloc = c->len;
        lsi->bounce_bytes += c->len;
    }
    if (c->task.dir == IQ_SCSI_DIR_OUT && c->len != 0) {
        c->state = CMD_DATA_OUT;
        lsi->phase = PH_DO;
        return;
    }
    submit(lsi, c);
}

/* ---- messages ----------------------------------------------------------- */

static void
abort_nexus(struct iq_lsi *lsi, bool whole_target)
{
    for (unsigned i = 0; i < IQ_LSI_MAX_CMDS; i++) {
        struct lsi_cmd *c = &lsi->cmds[i];

        if (c->state == CMD_FREE || c->target != lsi->sel_target) {
            continue;
        }
        if (whole_target || c == lsi->cur ||
            (c->lun == lsi->sel_lun &&
             (lsi->sel_tag < 0 || c->tag == lsi->sel_tag))) {
            cmd_abort(lsi, c);
        }
    }
    lsi->cur = NULL;
    lsi->connected = false;
    lsi->atn = false;
    lsi->msg_in_len = 0;
    lsi->msg_in_pos = 0;
}

static void
msg_out(struct iq_lsi *lsi, const uint8_t *m, unsigned n)
{
    bool reject = false;

    for (unsigned i = 0; i < n; i++) {
        uint8_t b = m[i];

        if (b & MSG_IDENTIFY) {
            lsi->sel_lun = b & 0x07u;
            lsi->disc_priv = (b & MSG_IDENTIFY_DISC) != 0;
            continue;
        }
        switch (b) {
        case MSG_SIMPLE_TAG:
        case MSG_HEAD_TAG:
        case MSG_ORDERED_TAG:
            if (i + 1 < n) {
                lsi->sel_tag = m[++i];
            }
            break;
        case MSG_ABORT:
        case MSG_ABORT_TAG:
        case MSG_CLEAR_QUEUE:
            abort_nexus(lsi, b == MSG_CLEAR_QUEUE);
            return;
        case MSG_BUS_DEVICE_RESET:
            iq_scsi_target_reset_async(lsi->targets[lsi->sel_target]);
            abort_nexus(lsi, true);
            return;
        case MSG_EXTENDED:
            /* SDTR, WDTR, PPR...: stay narrow and asynchronous. */
            if (i + 1 < n) {
                i += 1u + m[i + 1];
            }
            reject = true;
            break;
        case MSG_REJECT:
        case MSG_NOP:
            break;
        default:
            reject = true;
            break;
        }
    }
    /* ATN drops with the last byte of the move. */
    lsi->atn = false;
    if (reject) {
        queue_msg_in(lsi, (const uint8_t[]){MSG_REJECT}, 1, MI_NEXT_RESUME);
        return;
    }
    resume_phase(lsi);
}

/* All MSG IN bytes read: what the target does next. */
static void
msg_in_drained(struct iq_lsi *lsi)
{
    struct lsi_cmd *c = lsi->cur;

    lsi->msg_in_len = 0;
    lsi->msg_in_pos = 0;
    switch (lsi->mi_next) {
    case MI_NEXT_DISCONNECT:
        iq_lsi_bus_disconnect(lsi);
        break;
    case MI_NEXT_FREE:
        lsi->cur = NULL;
        if (c != NULL) {
            cmd_abort(lsi, c);
        }
        lsi->connected = false;
        lsi->atn = false;
        break;
    case MI_NEXT_RESUME:
    default:
        resume_phase(lsi);
        break;
    }
}

/* ---- block moves -------------------------------------------------------- */

int64_t
iq_lsi_bus_move(struct iq_lsi *lsi, unsigned phase, uint32_t addr,
                uint32_t count)
{
    struct lsi_cmd *c = lsi->cur;
    uint8_t tmp[MSG_OUT_MAX];
    uint64_t gen = lsi->bus_gen;
    uint32_t n;

    /*
     * A DMA can reach the chip's own registers (BAR1) and reset the bus
     * or the chip; after each one, `gen` tells whether the nexus is still
     * there. If not, the bytes moved count and nothing else happens.
     */
    switch (phase) {
    case PH_MO:
        n = IQ_MIN(count, MSG_OUT_MAX);
        if (iq_lsi_dma_read(lsi, addr, tmp, n) < 0) {
            return -EFAULT;
        }
        if (gen != lsi->bus_gen) {
            return count;
        }
        lsi->r[R_SFBR] = tmp[0];
        msg_out(lsi, tmp, n);
        /* Longer moves: the target took the bytes it wanted. */
        return count;
    case PH_CMD:
        n = IQ_MIN(count, 16u);
        if (iq_lsi_dma_read(lsi, addr, tmp, n) < 0) {
            return -EFAULT;
        }
        if (gen != lsi->bus_gen) {
            return n;
        }
        lsi->r[R_SFBR] = tmp[0];
        start_command(lsi, tmp, n);
        return n;
    case PH_DO:
    case PH_DI:
        if (c == NULL || c->pos > c->len) {
            return 0;
        }
        n = IQ_MIN(count, c->len - c->pos);
        if (phase == PH_DI) {
            if (iq_lsi_dma_write(lsi, addr, c->buf + c->pos, n) < 0) {
                return -EFAULT;
            }
        } else if (iq_lsi_dma_read(lsi, addr, c->buf + c->pos, n) < 0) {
            return -EFAULT;
        }
        if (gen != lsi->bus_gen) {
            return n;
        }
        c->pos += n;
        if (c->pos == c->len) {
            if (phase == PH_DO) {
                submit(lsi, c);
            } else if (c->split && c->split_left > 0 &&
                       c->task.status == IQ_SCSI_STATUS_GOOD) {
                next_chunk(lsi, c); /* REQ withheld while it reads */
            } else {
                resume_phase(lsi);
            }
        }
        return n;
    case PH_ST:
        if (c == NULL) {
            /* No command slot was free: BUSY. */
            tmp[0] = IQ_SCSI_STATUS_BUSY;
        } else {
            tmp[0] = c->task.status;
        }
        if (iq_lsi_dma_write(lsi, addr, tmp, 1) < 0) {
            return -EFAULT;
        }
        if (gen != lsi->bus_gen) {
            return 1;
        }
        lsi->r[R_SFBR] = tmp[0];
        lsi->r[R_SIDL] = tmp[0];
        queue_msg_in(lsi, (const uint8_t[]){MSG_COMMAND_COMPLETE}, 1,
                     MI_NEXT_FREE);
        return 1;
    case PH_MI:
        n = IQ_MIN(count, lsi->msg_in_len - lsi->msg_in_pos);
        if (n != 0) {
            uint8_t m[sizeof(lsi->msg_in)];

            memcpy(m, lsi->msg_in + lsi->msg_in_pos, n);
            if (iq_lsi_dma_write(lsi, addr, m, n) < 0) {
                return -EFAULT;
            }
            if (gen != lsi->bus_gen) {
                return n;
            }
            lsi->r[R_SFBR] = lsi->msg_in[lsi->msg_in_pos + n - 1];
            /*
             * SIDL latches the last byte received: sym53c8xx's tagged
             * reselection reads SIMPLE TAG + tag in one move and then
             * takes the tag from SIDL.
             */
            lsi->r[R_SIDL] = lsi->r[R_SFBR];
            lsi->last_msg_in = lsi->r[R_SFBR];
            lsi->msg_in_pos += n;
        }
        if (lsi->msg_in_pos >= lsi->msg_in_len) {
            msg_in_drained(lsi);
        }
        return n;
    default:
        return 0;
    }
}
