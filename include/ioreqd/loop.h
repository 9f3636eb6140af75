/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event loop (common/loop.c): epoll over fds, plus deferred work items
 * that run after the current batch of fd events, plus one-shot timers.
 *
 * Components expose fds and callbacks; they never run a loop of their own.
 * All callbacks run on the thread that calls iq_loop_run()/iq_loop_run_once().
 * Apart from iq_loop_stop() and iq_loop_wake(), no function may be called
 * from another thread.
 */
#ifndef IQ_INCLUDE_LOOP_H
#define IQ_INCLUDE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "compiler.h"

struct iq_loop;

/* `events` is the epoll event mask that fired (EPOLLIN, EPOLLERR, ...). */
typedef void (*iq_loop_fd_cb)(void *opaque, uint32_t events);
typedef void (*iq_loop_work_cb)(void *opaque);

/*
 * A deferred work item. The owner embeds it and keeps it alive until it has
 * run or been cancelled. Scheduling an already scheduled item is a no-op.
 * Used to resume bounded guest-driven work (e.g. SCRIPTS after its budget).
 */
struct iq_loop_work {
    iq_loop_work_cb cb;
    void *opaque;
    bool queued;
    struct iq_loop_work *next;
};

/* Returns 0 or -errno (epoll_create1 / eventfd failures). */
IQ_MUST_CHECK int iq_loop_create(struct iq_loop **out);
/* Accepts NULL. Does not close registered fds (their owners do). */
void iq_loop_destroy(struct iq_loop *loop);

/* Register `fd` for `events`. -EEXIST if already registered. */
IQ_MUST_CHECK int iq_loop_add_fd(struct iq_loop *loop, int fd, uint32_t events,
                                 iq_loop_fd_cb cb, void *opaque);
IQ_MUST_CHECK int iq_loop_mod_fd(struct iq_loop *loop, int fd, uint32_t events);
/*
 * Unregister `fd`. Safe from inside any callback: an event for `fd` already
 * collected in the current batch is not delivered afterwards.
 */
void iq_loop_del_fd(struct iq_loop *loop, int fd);

void iq_loop_work_init(struct iq_loop_work *w, iq_loop_work_cb cb,
                       void *opaque);
/* Queue `w` to run after the current batch of events (FIFO). */
void iq_loop_defer(struct iq_loop *loop, struct iq_loop_work *w);
/* Remove `w` from the queue if it is queued. */
void iq_loop_cancel(struct iq_loop *loop, struct iq_loop_work *w);

/*
 * Run one iteration: wait up to `timeout_ms` (-1 forever, 0 poll) for fd
 * events, dispatch them, then run deferred work (deferred work queued while
 * running is run in the next iteration, and makes that wait non-blocking).
 * Returns the number of callbacks run or -errno.
 */
IQ_MUST_CHECK int iq_loop_run_once(struct iq_loop *loop, int timeout_ms);
/* Run until iq_loop_stop(). Returns 0 or -errno. */
IQ_MUST_CHECK int iq_loop_run(struct iq_loop *loop);
/* Thread-safe and async-signal-safe: make iq_loop_run() return. */
void iq_loop_stop(struct iq_loop *loop);
bool iq_loop_stopped(struct iq_loop *loop);

#endif /* IQ_INCLUDE_LOOP_H */
