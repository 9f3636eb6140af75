/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small virtio devices served locally on top of backends/virtio/:
 * virtio-rng (backends/virtio-rng/) and virtio-console
 * (backends/virtio-console/). virtio-blk has its own header.
 *
 * Each device owns one struct iq_virtio_dev; the caller maps its register
 * window with iq_virtio_region_ops() and the opaque returned by the
 * *_dev() accessor, at the device's base address.
 *
 * Threads: everything runs on the loop thread given in the config.
 * Guest-controlled input: everything arriving through the virtio
 * transport (registers, rings, buffers), validated by the engine.
 */
#ifndef IQ_INCLUDE_VIRTIO_DEVICES_H
#define IQ_INCLUDE_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "ioreq.h"
#include "loop.h"
#include "mapcache.h"
#include "types.h"
#include "virtio.h"

/*
 * Where a device lives: the parts of struct iq_virtio_dev_config that do
 * not depend on the device type. Pointers are borrowed: `mc`, `loop` and
 * the irq ops must outlive the device.
 */
struct iq_virtio_env {
    const char *name; /* log context, e.g. "rng0"; copied */
    uint32_t irq; /* Arm SPI / x86 ISA IRQ */
    struct iq_mc *mc; /* required */
    struct iq_loop *loop; /* required */
    const struct iq_irq_ops *irq_ops;
    void *irq_opaque;
    enum iq_arch arch;
    bool grants; /* offer ACCESS_PLATFORM */
    uint16_t queue_max_size; /* power of two <= IQ_VIRTQ_MAX_SIZE; 0: 256 */
};

/*
 * virtio-rng (virtio 1.2 section 5.4): one request queue. Each writable
 * buffer is filled from getrandom(2) with GRND_NONBLOCK, at most
 * IQ_VIRTIO_RNG_MAX_REQ bytes per element. If the host entropy pool is not
 * initialised yet (EAGAIN) the element is returned with 0 bytes, which the
 * driver treats as "try again"; the loop never blocks.
 */
#define IQ_VIRTIO_RNG_MAX_REQ (64u * 1024u)

struct iq_virtio_rng_config {
    struct iq_virtio_env env;
};

struct iq_virtio_rng;

/* Returns 0 or -errno (-EINVAL for a bad config, -ENOMEM). */
IQ_MUST_CHECK int iq_virtio_rng_create(const struct iq_virtio_rng_config *cfg,
                                       struct iq_virtio_rng **out);
/* Resets the device and frees it. Accepts NULL. */
void iq_virtio_rng_destroy(struct iq_virtio_rng *rng);
/* The transport object (register window opaque), valid until destroy. */
struct iq_virtio_dev *iq_virtio_rng_dev(struct iq_virtio_rng *rng);

/*
 * virtio-console (virtio 1.2 section 5.3): one port, no MULTIPORT and no
 * SIZE feature; receiveq is queue 0 and transmitq queue 1.
 *
 * Backends:
 *  - PTY: a new pseudo-terminal in raw mode; its slave path is logged
 *    (NOTICE) and returned by iq_virtio_console_pty_path(). The device keeps
 *    the slave open itself so the master never hangs up; output nobody
 *    reads is eventually dropped.
 *  - SOCKET: listens on the unix stream socket `path` (a stale socket file
 *    there is replaced) and serves one client at a time; further clients
 *    are accepted and closed at once. When the client leaves, the device
 *    listens again. Output while no client is connected is dropped. The
 *    socket file is unlinked at destroy.
 *  - FILE: output appended to `path` (created 0600 if missing); no input.
 *    The file grows to `file_max` bytes at most (0: the default
 *    IQ_VIRTIO_CONSOLE_FILE_MAX); output beyond that is dropped and
 *    counted in tx_dropped, with one warning. When the file shrinks (it was
 *    truncated or rotated) output is written again.
 *  - FD: an existing fd (socket, pipe, terminal), duplicated at create; the
 *    caller keeps its own copy. It is set non-blocking.
 *
 * Input from the backend is buffered in a ring of IQ_VIRTIO_CONSOLE_BUF
 * bytes until the driver posts receive buffers; bytes beyond that are
 * dropped. Transmitted bytes are queued in a ring of the same size and
 * written without blocking; when the backend cannot keep up the excess is
 * dropped (the driver spins waiting for transmit buffers, so they are
 * always returned at once).
 */
#define IQ_VIRTIO_CONSOLE_BUF (64u * 1024u)
/* Default cap on a FILE backend's size (added with file_max). */
#define IQ_VIRTIO_CONSOLE_FILE_MAX (16ull << 20)

enum iq_virtio_console_backend {
    IQ_VIRTIO_CONSOLE_PTY = 0,
    IQ_VIRTIO_CONSOLE_SOCKET = 1,
    IQ_VIRTIO_CONSOLE_FILE = 2,
    IQ_VIRTIO_CONSOLE_FD = 3,
};

struct iq_virtio_console_config {
    struct iq_virtio_env env;
    enum iq_virtio_console_backend backend;
    const char *path; /* SOCKET and FILE */
    int fd; /* FD */
    uint64_t file_max; /* FILE: size cap in bytes, 0: default (added) */
};

struct iq_virtio_console;

/*
 * Returns 0 or -errno: -EINVAL (bad config), -ENOMEM, or the error of the
 * backend's open/bind/listen.
 */
IQ_MUST_CHECK int
iq_virtio_console_create(const struct iq_virtio_console_config *cfg,
                         struct iq_virtio_console **out);
/* Resets the device, closes the backend and frees it. Accepts NULL. */
void iq_virtio_console_destroy(struct iq_virtio_console *con);
struct iq_virtio_dev *iq_virtio_console_dev(struct iq_virtio_console *con);
/* PTY backend: the slave's path; NULL for other backends. */
const char *iq_virtio_console_pty_path(const struct iq_virtio_console *con);

struct iq_virtio_console_stats {
    uint64_t rx_bytes; /* delivered to the guest */
    uint64_t rx_dropped; /* backend input dropped (ring full) */
    uint64_t tx_bytes; /* written to the backend */
    uint64_t tx_dropped; /* guest output dropped */
};
void iq_virtio_console_get_stats(const struct iq_virtio_console *con,
                                 struct iq_virtio_console_stats *st);

#endif /* IQ_INCLUDE_VIRTIO_DEVICES_H */
