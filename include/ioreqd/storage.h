/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Storage backends (backends/storage/): raw file or block device (io_uring,
 * or worker threads when io_uring is unavailable), null, and in-memory (for
 * tests). Used by virtio-blk and the SCSI target alike.
 *
 * Requests are asynchronous. Submission and completion callbacks run on the
 * loop thread; worker threads (fallback) only run the system calls and post
 * completions through an eventfd. A completion with res >= 0 means the data
 * is in the backend (for FLUSH: durable, fdatasync returned).
 */
#ifndef IQ_INCLUDE_STORAGE_H
#define IQ_INCLUDE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "compiler.h"
#include "loop.h"

enum iq_sto_op {
    IQ_STO_READ,
    IQ_STO_WRITE,
    IQ_STO_FLUSH,
    IQ_STO_DISCARD, /* punch a hole: reads back zeroes */
    IQ_STO_WRITE_ZEROES,
};

struct iq_sto_req;
/* res: bytes transferred (READ/WRITE), 0 (others) or -errno. */
typedef void (*iq_sto_cb)(struct iq_sto_req *req, int64_t res);

/*
 * One request, owned by the caller until its callback runs. iov must stay
 * valid (pinned) until then. `queue` selects the submission queue/worker
 * (0..nr_queues-1, reduced modulo nr_queues).
 */
struct iq_sto_req {
    enum iq_sto_op op;
    uint64_t offset; /* bytes */
    uint64_t len; /* DISCARD / WRITE_ZEROES length in bytes */
    const struct iovec *iov;
    unsigned iovcnt;
    unsigned queue;
    iq_sto_cb cb;
    void *opaque;
    /* private to the backend */
    struct iq_sto_req *next_;
    int64_t res_;
};

struct iq_storage_opts {
    bool readonly;
    bool direct; /* cache=none: O_DIRECT */
    unsigned nr_queues; /* 0 means 1 */
    bool no_uring; /* force the worker-thread path */
};

struct iq_storage;

/* Open a raw file or block device. 0 or -errno (-ENOENT, -EACCES, ...). */
IQ_MUST_CHECK int iq_storage_open_file(struct iq_loop *loop, const char *path,
                                       const struct iq_storage_opts *opts,
                                       struct iq_storage **out);
/*
 * The same engine over an fd the caller opened (a descriptor handed over by
 * a privileged parent, or a character device such as /dev/full in tests).
 * Ownership of `fd` passes to the storage object in every case: it is
 * closed on failure. `size` 0 means "discover" (fstat, BLKGETSIZE64); a
 * character device needs an explicit size. A regular file or block device
 * may be given a smaller size than its real one, never a larger one
 * (-EINVAL). Read-only when opts->readonly is set or the fd is O_RDONLY;
 * O_DIRECT follows the fd's own flags (opts->direct is ignored).
 * Added for the storage unit tests and fd passing (not in the first
 * version of this header).
 */
IQ_MUST_CHECK int iq_storage_open_fd(struct iq_loop *loop, int fd,
                                     uint64_t size,
                                     const struct iq_storage_opts *opts,
                                     struct iq_storage **out);
/* A device of `size` bytes that reads zeroes and discards writes. */
IQ_MUST_CHECK int iq_storage_open_null(struct iq_loop *loop, uint64_t size,
                                       const struct iq_storage_opts *opts,
                                       struct iq_storage **out);
/* An in-memory device (tests). */
IQ_MUST_CHECK int iq_storage_open_mem(struct iq_loop *loop, uint64_t size,
                                      const struct iq_storage_opts *opts,
                                      struct iq_storage **out);
/*
 * Test hook (mem engine; ignored by the others): while `hold` is true the
 * loop runs no completion, as if the storage hung; iq_storage_drain() and
 * destroy still complete everything. Added for the virtio reset tests.
 */
void iq_storage_mem_hold(struct iq_storage *s, bool hold);
/* Waits for requests in flight (running their callbacks), then frees. */
void iq_storage_destroy(struct iq_storage *s);

/*
 * Submit. Returns 0 (the callback will run later, never from inside this
 * call) or -errno without calling the callback (-EROFS for writes on a
 * read-only backend, -EINVAL for a range beyond the end, a wrapping range,
 * an unknown op or more than 1024 iovecs, -EOPNOTSUPP for DISCARD when
 * iq_storage_can_discard() is false). A callback may submit new requests
 * (they complete later); it must not destroy the storage.
 * Host errors reach the callback as -errno: e.g. -EIO when a file shrank
 * under the device, -ENOSPC, -EOPNOTSUPP for a DISCARD the filesystem
 * cannot do. WRITE_ZEROES falls back from fallocate(ZERO_RANGE) to
 * PUNCH_HOLE to writing zeroes, so it does not fail for lack of support.
 * With O_DIRECT, misaligned buffers or offsets fail with -EINVAL.
 */
IQ_MUST_CHECK int iq_storage_submit(struct iq_storage *s,
                                    struct iq_sto_req *req);
/* Run completions until nothing is in flight (device reset, teardown). */
void iq_storage_drain(struct iq_storage *s);
/*
 * Run completions for at most about `timeout_ms` milliseconds (>= 0).
 * True when nothing is in flight any more. Added for guest-triggered
 * device resets, which must not block the loop on slow storage.
 */
bool iq_storage_drain_for(struct iq_storage *s, int timeout_ms);

uint64_t iq_storage_size(const struct iq_storage *s);
uint32_t iq_storage_block_size(const struct iq_storage *s); /* logical */
bool iq_storage_readonly(const struct iq_storage *s);
bool iq_storage_can_discard(const struct iq_storage *s);
/* "io_uring", "threads", "null" or "mem". */
const char *iq_storage_engine(const struct iq_storage *s);

#endif /* IQ_INCLUDE_STORAGE_H */
