/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A transport-independent SCSI target (backends/scsi/): LUNs backed by
 * struct iq_storage, executing CDBs for any transport (the LSI 53C895A now,
 * virtio-scsi later), as SPDK's lib/scsi serves iSCSI and vhost.
 *
 * Flow for one command (all on the loop thread):
 *   1. the transport fills task->lun, cdb, cdb_len and calls
 *      iq_scsi_task_prepare(): the CDB is decoded and validated, and the
 *      transfer direction and length the command needs are returned. A bad
 *      CDB completes the task at once with CHECK CONDITION (prepare returns
 *      1, task->status/sense set, no data phase).
 *   2. the transport provides a data buffer (task->iov/iovcnt) of at least
 *      task->xfer_len bytes — its own bounce buffer (LSI) or pinned guest
 *      memory (virtio-scsi) — and for data-out fills it first;
 *   3. iq_scsi_task_submit() runs the command; task->done is called later
 *      (never from inside submit) with status, sense and the byte count.
 *
 * Every CDB byte is guest-controlled. Transfers are bounded by
 * IQ_SCSI_MAX_XFER; larger requests get CHECK CONDITION (ILLEGAL REQUEST,
 * INVALID FIELD IN CDB) and the Block Limits VPD page tells initiators so.
 * Out-of-range LBAs get ILLEGAL REQUEST / LBA OUT OF RANGE; host I/O errors
 * get MEDIUM ERROR (reads) or WRITE ERROR (writes); writes to a read-only
 * LUN get DATA PROTECT / WRITE PROTECTED.
 */
#ifndef IQ_INCLUDE_SCSI_H
#define IQ_INCLUDE_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "compiler.h"
#include "loop.h"
#include "storage.h"

#define IQ_SCSI_MAX_LUNS 8u
/* Largest data transfer of one command (bytes). */
#define IQ_SCSI_MAX_XFER (1024u * 1024u)
#define IQ_SCSI_SENSE_LEN 18u

/* SAM status codes. */
#define IQ_SCSI_STATUS_GOOD 0x00
#define IQ_SCSI_STATUS_CHECK_CONDITION 0x02
#define IQ_SCSI_STATUS_BUSY 0x08

enum iq_scsi_dir {
    IQ_SCSI_DIR_NONE = 0,
    IQ_SCSI_DIR_IN = 1, /* data-in: target to initiator (READ) */
    IQ_SCSI_DIR_OUT = 2, /* data-out: initiator to target (WRITE) */
};

struct iq_scsi_task;
typedef void (*iq_scsi_done_cb)(struct iq_scsi_task *task);

/* One command. Owned by the transport; the target uses it until done(). */
struct iq_scsi_task {
    /* in: set by the transport */
    unsigned lun;
    uint8_t cdb[16];
    unsigned cdb_len;
    const struct iovec *iov; /* data buffer, >= xfer_len bytes */
    unsigned iovcnt;
    iq_scsi_done_cb done;
    void *opaque;
    /* out of prepare */
    enum iq_scsi_dir dir;
    uint32_t xfer_len; /* bytes the command transfers */
    /* out at completion */
    uint8_t status;
    uint8_t sense[IQ_SCSI_SENSE_LEN]; /* fixed format (0x70) */
    unsigned sense_len;
    uint32_t data_len; /* bytes actually transferred (<= xfer_len) */
    /* private to the target */
    void *priv_;
    struct iq_sto_req sto_;
    struct iovec iov_tail_; /* trimmed last iovec when iov > xfer_len */
};

struct iq_scsi_lun_config {
    struct iq_storage *storage; /* borrowed; outlives the target */
    bool readonly;
    const char *serial; /* unit serial number VPD (0x80); may be NULL */
    /*
     * Added: write-through cache mode. false (the default) reports WCE=1
     * in the caching mode page and relies on the initiator's SYNCHRONIZE
     * CACHE; true reports WCE=0 and follows every WRITE with a storage
     * FLUSH before completing it. FUA writes are always flushed.
     */
    bool writethrough;
    /*
     * Added: do not raise the POWER ON / RESET unit attention (ASC 0x29)
     * after creation and iq_scsi_target_reset(). Real disks raise it, and
     * Linux and SeaBIOS (TEST UNIT READY retry loop) cope; simple test
     * initiators may prefer it off.
     */
    bool no_unit_attention;
};

struct iq_scsi_target;

/* `name` is for log context. Returns 0 or -errno. */
IQ_MUST_CHECK int iq_scsi_target_create(const char *name, struct iq_loop *loop,
                                        struct iq_scsi_target **out);
/* Waits for tasks in flight (their done() runs), then frees. NULL ok. */
void iq_scsi_target_destroy(struct iq_scsi_target *t);

/* Attach a LUN (0..IQ_SCSI_MAX_LUNS-1). -EEXIST, -EINVAL. */
IQ_MUST_CHECK int iq_scsi_target_add_lun(struct iq_scsi_target *t, unsigned lun,
                                         const struct iq_scsi_lun_config *cfg);
bool iq_scsi_target_has_lun(const struct iq_scsi_target *t, unsigned lun);

/*
 * Decode task->cdb for task->lun: sets dir and xfer_len. Returns 0 when the
 * transport should run a data phase (or none) and then submit, or 1 when
 * the task is already complete (status/sense set, done() NOT called: the
 * transport goes straight to its status phase). Commands to a missing LUN
 * complete with CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT
 * SUPPORTED (INQUIRY answers peripheral qualifier 3 instead; REPORT LUNS
 * and REQUEST SENSE work on any LUN).
 *
 * Details (added with the implementation): for data-in commands the target
 * synthesises (INQUIRY, MODE SENSE, ...), xfer_len is the response length
 * already cut to the CDB's allocation length; a smaller buffer truncates it
 * (data_len says how much was written). For READ/WRITE and UNMAP the
 * buffer must hold xfer_len bytes (else HARDWARE ERROR, INTERNAL TARGET
 * FAILURE); a larger one is used up to xfer_len only, and at most 1024
 * iovecs may fall inside that range. The sense of every CHECK CONDITION is
 * also kept per LUN until the next command, for a REQUEST SENSE (parallel
 * SCSI has no autosense); with none pending, REQUEST SENSE reports and
 * clears a pending unit attention, else NO SENSE. UNMAP (one descriptor)
 * is offered when the storage can discard and the LUN is writable.
 */
IQ_MUST_CHECK int iq_scsi_task_prepare(struct iq_scsi_target *t,
                                       struct iq_scsi_task *task);
/* Execute a prepared task; done() runs later on the loop thread. */
void iq_scsi_task_submit(struct iq_scsi_target *t, struct iq_scsi_task *task);

/*
 * Bus/target reset: wait for tasks in flight (their done() runs), clear
 * pending sense data, then raise a POWER ON / RESET unit attention on every
 * LUN (unless no_unit_attention), as a real disk does after a bus reset.
 */
void iq_scsi_target_reset(struct iq_scsi_target *t);
/*
 * The same unit attention and cleared sense without waiting: for an
 * initiator that resets the bus or the target while tasks may still run
 * (their done() comes later as usual; the initiator has dropped them).
 */
void iq_scsi_target_reset_async(struct iq_scsi_target *t);

#endif /* IQ_INCLUDE_SCSI_H */
