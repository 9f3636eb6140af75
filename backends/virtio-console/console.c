/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-console (virtio 1.2 section 5.3) with a single port: receiveq 0
 * carries backend input to the guest, transmitq 1 guest output to the
 * backend. The backend is a pty, a listening unix socket serving one
 * client, an append-only file, or a caller-supplied fd.
 *
 * Nothing here blocks the loop: the backend fd is non-blocking, both
 * directions go through bounded byte rings, and what does not fit is
 * dropped (counted, logged rate-limited).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio-devices.h"
#include "ioreqd/virtio.h"

#define CON_DEFAULT_QUEUE 256u
#define CON_RXQ 0u
#define CON_TXQ 1u
/* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
#define CON_CONFIG_SIZE 12u

/* A bounded byte FIFO. */
struct con_ring {
    uint8_t buf[IQ_VIRTIO_CONSOLE_BUF];
    size_t head; /* first byte */
    size_t count;
};

struct iq_virtio_console {
    struct iq_virtio_dev *dev;
    struct iq_loop *loop;
    enum iq_virtio_console_backend backend;
    int fd; /* data fd: pty master, client, file, dup */
    int listen_fd; /* SOCKET */
    int pty_slave_fd; /* PTY: held open so the master never hangs up */
    bool fd_registered;
    bool fd_is_socket;
    bool input; /* the data fd is polled for input */
    uint32_t fd_events;
    char *sock_path;
    char pty_path[128];
    char ctx[48];
    struct iq_ratelimit rl;
    struct iq_ratelimit host_rl; /* backend errors, once per guest kick */
    struct iq_loop_work rx_more;
    struct iq_loop_work tx_more;
    uint64_t file_max; /* FILE: size cap */
    uint64_t file_size; /* FILE: size as far as we know */
    bool file_full_logged;
    struct iq_virtio_console_stats st;
    struct con_ring in; /* backend -> guest */
    struct con_ring out; /* guest -> backend */
};

static size_t
ring_space(const struct con_ring *r)
{
    return sizeof(r->buf) - r->count;
}

/* Contiguous free bytes at the tail. */
static size_t
ring_tail_room(struct con_ring *r, uint8_t **p)
{
    size_t tail = (r->head + r->count) % sizeof(r->buf);
    size_t room = ring_space(r);

    *p = r->buf + tail;
    return IQ_MIN(room, sizeof(r->buf) - tail);
}

/* Contiguous queued bytes at the head. */
static size_t
ring_head_data(const struct con_ring *r, const uint8_t **p)
{
    *p = r->buf + r->head;
    return IQ_MIN(r->count, sizeof(r->buf) - r->head);
}

static void
ring_consume(struct con_ring *r, size_t n)
{
    r->head = (r->head + n) % sizeof(r->buf);
    r->count -= n;
    if (r->count == 0) {
        r->head = 0;
    }
}

static void fd_cb(void *opaque, uint32_t events);

/* Register or update the data fd's epoll interest. */
static void
fd_update(struct iq_virtio_console *con)
{
    uint32_t ev = 0;
    int ret;

    if (con->fd < 0 || con->backend == IQ_VIRTIO_CONSOLE_FILE) {
        return;
    }
    if (con->input) {
        ev |= EPOLLIN;
    }
    if (con->out.count > 0) {
        ev |= EPOLLOUT;
    }
    if (con->fd_registered && ev == con->fd_events) {
        return;
    }
    if (!con->fd_registered) {
        ret = iq_loop_add_fd(con->loop, con->fd, ev, fd_cb, con);
        con->fd_registered = ret == 0;
    } else {
        ret = iq_loop_mod_fd(con->loop, con->fd, ev);
    }
    if (ret < 0) {
        IQ_WARN(con->ctx, "epoll registration failed: %s", strerror(-ret));
        return;
    }
    con->fd_events = ev;
}

/* Drop the data fd (client gone, or a fatal error on it). */
static void
fd_drop(struct iq_virtio_console *con)
{
    if (con->fd_registered) {
        iq_loop_del_fd(con->loop, con->fd);
        con->fd_registered = false;
    }
    iq_close_fd(&con->fd);
    con->fd_events = 0;
    con->input = false;
    /* Output queued for a backend that went away is lost. */
    con->st.tx_dropped += con->out.count;
    ring_consume(&con->out, con->out.count);
}

/* The backend's input ended or failed. */
static void
input_gone(struct iq_virtio_console *con)
{
    if (con->backend == IQ_VIRTIO_CONSOLE_SOCKET) {
        IQ_NOTICE(con->ctx, "console client disconnected");
        fd_drop(con);
        return;
    }
    con->input = false;
    fd_update(con);
}

/* Deliver buffered input into receive buffers posted by the guest. */
static void
rx_deliver(struct iq_virtio_console *con)
{
    struct iq_virtq *vq = iq_virtio_queue(con->dev, CON_RXQ);
    unsigned budget = iq_virtq_size(vq);
    struct iq_virtq_elem *elem;
    bool pushed = false;

    while (con->in.count > 0 && budget > 0) {
        const uint8_t *p;
        size_t n;
        size_t written = 0;

        if (iq_virtq_pop(vq, &elem) != 1) {
            break;
        }
        budget--;
        /* Two chunks at most: the ring may wrap. */
        for (int k = 0; k < 2 && con->in.count > 0; k++) {
            size_t c;

            n = ring_head_data(&con->in, &p);
            n = IQ_MIN(n, elem->in_len - written);
            if (n == 0) {
                break;
            }
            c = iq_virtq_elem_write(elem, written, p, n);
            ring_consume(&con->in, c);
            written += c;
        }
        con->st.rx_bytes += written;
        iq_virtq_push(vq, elem, (uint32_t)written, false);
        pushed = true;
    }
    if (pushed) {
        iq_virtq_flush(vq);
    }
    /* Only when the budget ran out, never while the queue is idle. */
    if (pushed && budget == 0 && con->in.count > 0) {
        iq_loop_defer(con->loop, &con->rx_more);
    }
}

/* Read what the backend has: into the ring, or dropped when it is full. */
static void
backend_read(struct iq_virtio_console *con)
{
    uint8_t *p;
    uint8_t sink[512];
    size_t room = ring_tail_room(&con->in, &p);
    ssize_t r;

    if (room == 0) {
        p = sink;
        room = sizeof(sink);
    }
    r = read(con->fd, p, room);
    if (r > 0) {
        if (p == sink) {
            con->st.rx_dropped += (uint64_t)r;
            iq_log_guest(&con->rl, con->ctx,
                         "guest not reading: %zd input "
                         "bytes dropped",
                         r);
        } else {
            con->in.count += (size_t)r;
        }
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    input_gone(con);
}

/*
 * FILE: how many of the next `n` bytes may still be appended. At the cap,
 * the file is looked at again (it may have been truncated or rotated);
 * output beyond the cap is dropped with one warning per time it is full.
 */
static size_t
file_room(struct iq_virtio_console *con, size_t n)
{
    struct stat sb;

    if (con->file_size >= con->file_max && fstat(con->fd, &sb) == 0 &&
        (uint64_t)sb.st_size < con->file_max) {
        con->file_size = (uint64_t)sb.st_size;
        con->file_full_logged = false;
    }
    if (con->file_size >= con->file_max) {
        if (!con->file_full_logged) {
            con->file_full_logged = true;
            IQ_WARN(con->ctx,
                    "console file reached %llu bytes: further output "
                    "dropped",
                    (unsigned long long)con->file_max);
        }
        return 0;
    }
    return (size_t)IQ_MIN((uint64_t)n, con->file_max - con->file_size);
}

/* Write queued output without blocking. */
static void
backend_write(struct iq_virtio_console *con)
{
    const uint8_t *p;

    /* Each round either empties a chunk, or stops; two chunks at most. */
    for (int k = 0; k < 2 && con->out.count > 0; k++) {
        size_t n = ring_head_data(&con->out, &p);
        ssize_t r;

        if (con->fd < 0) {
            con->st.tx_dropped += con->out.count;
            ring_consume(&con->out, con->out.count);
            break;
        }
        if (con->backend == IQ_VIRTIO_CONSOLE_FILE) {
            size_t room = file_room(con, n);

            if (room < n) {
                /* Everything queued beyond the cap goes. */
                con->st.tx_dropped += con->out.count - room;
                con->out.count = room;
                n = room;
                if (n == 0) {
                    break;
                }
            }
        }
        r = con->fd_is_socket ? send(con->fd, p, n, MSG_NOSIGNAL)
                              : write(con->fd, p, n);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            /* Reached once per transmit kick: rate-limited. */
            iq_log_guest(&con->host_rl, con->ctx, "console output: %s",
                         strerror(errno));
            if (con->backend == IQ_VIRTIO_CONSOLE_SOCKET) {
                fd_drop(con);
                return;
            }
            con->st.tx_dropped += con->out.count;
            ring_consume(&con->out, con->out.count);
            break;
        }
        con->st.tx_bytes += (uint64_t)r;
        if (con->backend == IQ_VIRTIO_CONSOLE_FILE) {
            con->file_size += (uint64_t)r;
        }
        ring_consume(&con->out, (size_t)r);
        if ((size_t)r < n) {
            break;
        }
    }
    fd_update(con);
}

static void
fd_cb(void *opaque, uint32_t events)
{
    struct iq_virtio_console *con = opaque;

    if (events & EPOLLOUT) {
        backend_write(con);
    }
    if (con->fd >= 0 && con->input &&
        (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        backend_read(con);
        rx_deliver(con);
    }
    /* Hang-up is reported whatever the mask says: stop polling for good. */
    if (con->fd >= 0 && !con->input && (events & (EPOLLHUP | EPOLLERR))) {
        fd_drop(con);
    }
}

static void
accept_cb(void *opaque, uint32_t events)
{
    struct iq_virtio_console *con = opaque;
    int fd;

    (void)events;
    fd = accept4(con->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (con->fd >= 0) {
        /* One client at a time. */
        IQ_NOTICE(con->ctx, "console already has a client: refused");
        iq_close_fd(&fd);
        return;
    }
    IQ_NOTICE(con->ctx, "console client connected");
    con->fd = fd;
    con->fd_is_socket = true;
    con->input = true;
    fd_update(con);
}

/* Take what the guest transmitted into the output ring. */
static void
tx_run(struct iq_virtio_console *con)
{
    struct iq_virtq *vq = iq_virtio_queue(con->dev, CON_TXQ);
    unsigned budget = iq_virtq_size(vq);
    struct iq_virtq_elem *elem;
    bool pushed = false;
    int ret = 0;

    while (budget > 0 && (ret = iq_virtq_pop(vq, &elem)) == 1) {
        size_t off = 0;

        budget--;
        for (int k = 0; k < 2 && off < elem->out_len; k++) {
            uint8_t *p;
            size_t n = ring_tail_room(&con->out, &p);

            n = IQ_MIN(n, elem->out_len - off);
            if (n == 0) {
                break;
            }
            n = iq_virtq_elem_read(elem, off, p, n);
            con->out.count += n;
            off += n;
        }
        if (off < elem->out_len) {
            con->st.tx_dropped += elem->out_len - off;
            iq_log_guest(&con->rl, con->ctx,
                         "backend not keeping up: %llu "
                         "output bytes dropped",
                         (unsigned long long)(elem->out_len - off));
        }
        /* Returned at once: the driver may be spinning on it. */
        iq_virtq_push(vq, elem, 0, false);
        pushed = true;
    }
    if (pushed) {
        iq_virtq_flush(vq);
    }
    backend_write(con);
    if (budget == 0 && ret == 1) {
        iq_loop_defer(con->loop, &con->tx_more);
    }
}

static void
rx_more_cb(void *opaque)
{
    rx_deliver(opaque);
}

static void
tx_more_cb(void *opaque)
{
    tx_run(opaque);
}

static void
con_notify(void *opaque, struct iq_virtq *vq)
{
    struct iq_virtio_console *con = opaque;

    if (iq_virtq_index(vq) == CON_RXQ) {
        rx_deliver(con);
    } else {
        tx_run(con);
    }
}

static int
con_start(void *opaque, uint64_t features)
{
    struct iq_virtio_console *con = opaque;

    (void)features;
    /* Input that arrived before the driver was ready. */
    iq_loop_defer(con->loop, &con->rx_more);
    return 0;
}

static void
con_reset(void *opaque)
{
    struct iq_virtio_console *con = opaque;

    /* Elements are always returned at once; only deferred work is left. */
    iq_loop_cancel(con->loop, &con->rx_more);
    iq_loop_cancel(con->loop, &con->tx_more);
}

static void
con_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
    (void)opaque;
    (void)offset;
    /* No SIZE, MULTIPORT or EMERG_WRITE: every field reads 0. */
    memset(buf, 0, len);
}

static void
con_config_write(void *opaque, uint32_t offset, const void *buf, uint32_t len)
{
    struct iq_virtio_console *con = opaque;

    (void)buf;
    iq_log_guest(&con->rl, con->ctx,
                 "config write at %u (%u bytes) "
                 "ignored: EMERG_WRITE not offered",
                 offset, len);
}

static uint64_t
con_features(void *opaque)
{
    (void)opaque;
    return 0;
}

static const struct iq_virtio_device_ops con_virtio_ops = {
    .features = con_features,
    .config_read = con_config_read,
    .config_write = con_config_write,
    .start = con_start,
    .notify = con_notify,
    .reset = con_reset,
};

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

static int
open_pty(struct iq_virtio_console *con)
{
    struct termios t;

    con->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (con->fd < 0) {
        return IQ_NEG_ERRNO();
    }
    if (grantpt(con->fd) < 0 || unlockpt(con->fd) < 0 ||
        ptsname_r(con->fd, con->pty_path, sizeof(con->pty_path)) != 0) {
        return IQ_NEG_ERRNO();
    }
    /* Raw mode: bytes pass unchanged in both directions. */
    if (tcgetattr(con->fd, &t) == 0) {
        cfmakeraw(&t);
        (void)tcsetattr(con->fd, TCSANOW, &t);
    }
    con->pty_slave_fd = open(con->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (con->pty_slave_fd < 0) {
        return IQ_NEG_ERRNO();
    }
    IQ_NOTICE(con->ctx, "console on pty %s", con->pty_path);
    con->input = true;
    return set_nonblock(con->fd);
}

static int
open_socket(struct iq_virtio_console *con, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat sb;

    if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
        return -EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Replace a stale socket, never any other kind of file. */
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
        (void)unlink(path);
    }
    con->listen_fd =
        socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (con->listen_fd < 0) {
        return IQ_NEG_ERRNO();
    }
    if (bind(con->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        return IQ_NEG_ERRNO();
    }
    con->sock_path = strdup(path);
    if (con->sock_path == NULL) {
        return -ENOMEM;
    }
    if (listen(con->listen_fd, 1) < 0) {
        return IQ_NEG_ERRNO();
    }
    IQ_NOTICE(con->ctx, "console listening on %s", path);
    return iq_loop_add_fd(con->loop, con->listen_fd, EPOLLIN, accept_cb, con);
}

static int
open_backend(struct iq_virtio_console *con,
             const struct iq_virtio_console_config *cfg)
{
    struct stat sb;

    switch (cfg->backend) {
    case IQ_VIRTIO_CONSOLE_PTY:
        return open_pty(con);
    case IQ_VIRTIO_CONSOLE_SOCKET:
        return open_socket(con, cfg->path);
    case IQ_VIRTIO_CONSOLE_FILE:
        if (cfg->path == NULL) {
            return -EINVAL;
        }
        /*
         * O_NONBLOCK does nothing for a regular file (it keeps a fifo's
         * open from blocking): the size cap and the bounded output ring
         * (one ring's worth written per kick at most) bound the writes.
         */
        con->fd =
            open(cfg->path,
                 O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
        if (con->fd < 0) {
            return IQ_NEG_ERRNO();
        }
        con->file_max =
            cfg->file_max != 0 ? cfg->file_max : IQ_VIRTIO_CONSOLE_FILE_MAX;
        if (fstat(con->fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
            con->file_size = (uint64_t)sb.st_size;
        } else {
            /* Not a regular file (a fifo, /dev/null): no size to cap. */
            con->file_max = UINT64_MAX;
        }
        return 0;
    case IQ_VIRTIO_CONSOLE_FD:
        if (cfg->fd < 0) {
            return -EINVAL;
        }
        con->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
        if (con->fd < 0) {
            return IQ_NEG_ERRNO();
        }
        con->fd_is_socket = fstat(con->fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
        con->input = true;
        return set_nonblock(con->fd);
    default:
        return -EINVAL;
    }
}

int
iq_virtio_console_create(const struct iq_virtio_console_config *cfg,
                         struct iq_virtio_console **out)
{
    struct iq_virtio_dev_config dc = {0};
    struct iq_virtio_console *con;
    int ret;

    *out = NULL;
    if (cfg == NULL || cfg->env.mc == NULL || cfg->env.loop == NULL) {
        return -EINVAL;
    }
    con = calloc(1, sizeof(*con));
    if (con == NULL) {
        return -ENOMEM;
    }
    con->fd = -1;
    con->listen_fd = -1;
    con->pty_slave_fd = -1;
    con->loop = cfg->env.loop;
    con->backend = cfg->backend;
    snprintf(con->ctx, sizeof(con->ctx), "%s",
             cfg->env.name != NULL ? cfg->env.name : "console");
    iq_loop_work_init(&con->rx_more, rx_more_cb, con);
    iq_loop_work_init(&con->tx_more, tx_more_cb, con);

    ret = open_backend(con, cfg);
    if (ret < 0) {
        IQ_ERR(con->ctx, "console backend: %s", strerror(-ret));
        goto fail;
    }
    dc.name = con->ctx;
    dc.device_id = IQ_VIRTIO_ID_CONSOLE;
    dc.num_queues = 2;
    dc.queue_max_size = cfg->env.queue_max_size != 0 ? cfg->env.queue_max_size
                                                     : CON_DEFAULT_QUEUE;
    dc.config_size = CON_CONFIG_SIZE;
    dc.grants = cfg->env.grants;
    dc.irq = cfg->env.irq;
    dc.ops = &con_virtio_ops;
    dc.opaque = con;
    dc.mc = cfg->env.mc;
    dc.loop = cfg->env.loop;
    dc.irq_ops = cfg->env.irq_ops;
    dc.irq_opaque = cfg->env.irq_opaque;
    dc.arch = cfg->env.arch;
    ret = iq_virtio_dev_create(&dc, &con->dev);
    if (ret < 0) {
        goto fail;
    }
    fd_update(con);
    *out = con;
    return 0;

fail:
    iq_virtio_console_destroy(con);
    return ret;
}

void
iq_virtio_console_destroy(struct iq_virtio_console *con)
{
    if (con == NULL) {
        return;
    }
    iq_virtio_dev_destroy(con->dev);
    iq_loop_cancel(con->loop, &con->rx_more);
    iq_loop_cancel(con->loop, &con->tx_more);
    if (con->fd_registered) {
        iq_loop_del_fd(con->loop, con->fd);
    }
    if (con->listen_fd >= 0) {
        iq_loop_del_fd(con->loop, con->listen_fd);
    }
    iq_close_fd(&con->fd);
    iq_close_fd(&con->listen_fd);
    iq_close_fd(&con->pty_slave_fd);
    if (con->sock_path != NULL) {
        (void)unlink(con->sock_path);
        free(con->sock_path);
    }
    free(con);
}

struct iq_virtio_dev *
iq_virtio_console_dev(struct iq_virtio_console *con)
{
    return con->dev;
}

const char *
iq_virtio_console_pty_path(const struct iq_virtio_console *con)
{
    return con->backend == IQ_VIRTIO_CONSOLE_PTY ? con->pty_path : NULL;
}

void
iq_virtio_console_get_stats(const struct iq_virtio_console *con,
                            struct iq_virtio_console_stats *st)
{
    *st = con->st;
}
