/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-rng (virtio 1.2 section 5.4): one request queue whose writable
 * buffers are filled with random bytes from getrandom(2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ioreqd/err.h"
#include "ioreqd/log.h"
#include "ioreqd/virtio-devices.h"
#include "ioreqd/virtio.h"

#define RNG_DEFAULT_QUEUE 256u
/* getrandom retries after EINTR per buffer (bounded). */
#define RNG_EINTR_RETRIES 4

struct iq_virtio_rng {
    struct iq_virtio_dev *dev;
    struct iq_loop *loop;
    struct iq_loop_work more; /* resume after the per-kick budget */
    bool eagain_logged;
    char ctx[48];
};

/*
 * Fill up to IQ_VIRTIO_RNG_MAX_REQ bytes of the element's writable iovecs.
 * Returns the number of bytes written; stops early when the entropy pool
 * is not ready (EAGAIN) or on any other error.
 */
static uint32_t
rng_fill(struct iq_virtio_rng *rng, struct iq_virtq_elem *elem)
{
    size_t left = IQ_MIN(elem->in_len, (uint64_t)IQ_VIRTIO_RNG_MAX_REQ);
    size_t done = 0;

    for (unsigned i = 0; i < elem->in_num && left > 0; i++) {
        struct iovec *v = &elem->iov[elem->out_num + i];
        size_t off = 0;
        unsigned retries = RNG_EINTR_RETRIES;

        while (off < v->iov_len && left > 0) {
            size_t n = IQ_MIN(v->iov_len - off, left);
            ssize_t r = getrandom((char *)v->iov_base + off, n, GRND_NONBLOCK);

            if (r < 0) {
                if (errno == EINTR && retries-- > 0) {
                    continue;
                }
                if (errno == EAGAIN) {
                    iq_log_unimp(&rng->eagain_logged, rng->ctx,
                                 "host entropy pool not ready: returning "
                                 "empty buffers");
                } else {
                    IQ_WARN(rng->ctx, "getrandom: %s", strerror(errno));
                }
                return (uint32_t)done;
            }
            off += (size_t)r;
            done += (size_t)r;
            left -= (size_t)r;
        }
    }
    return (uint32_t)done;
}

static void
rng_run(struct iq_virtio_rng *rng)
{
    struct iq_virtq *vq = iq_virtio_queue(rng->dev, 0);
    unsigned budget = iq_virtq_size(vq);
    struct iq_virtq_elem *elem;
    bool pushed = false;
    int ret = 0;

    /* At most one queue's worth per kick, so a busy guest cannot hog us. */
    while (budget > 0 && (ret = iq_virtq_pop(vq, &elem)) == 1) {
        budget--;
        iq_virtq_push(vq, elem, rng_fill(rng, elem), false);
        pushed = true;
    }
    if (pushed) {
        iq_virtq_flush(vq);
    }
    if (budget == 0 && ret == 1) {
        iq_loop_defer(rng->loop, &rng->more);
    }
}

static void
rng_more_cb(void *opaque)
{
    rng_run(opaque);
}

static void
rng_notify(void *opaque, struct iq_virtq *vq)
{
    (void)vq;
    rng_run(opaque);
}

static void
rng_reset(void *opaque)
{
    struct iq_virtio_rng *rng = opaque;

    /* Requests complete synchronously: nothing is held across calls. */
    iq_loop_cancel(rng->loop, &rng->more);
}

static uint64_t
rng_features(void *opaque)
{
    (void)opaque;
    return 0;
}

static const struct iq_virtio_device_ops rng_virtio_ops = {
    .features = rng_features,
    .notify = rng_notify,
    .reset = rng_reset,
};

int
iq_virtio_rng_create(const struct iq_virtio_rng_config *cfg,
                     struct iq_virtio_rng **out)
{
    struct iq_virtio_dev_config dc = {0};
    struct iq_virtio_rng *rng;
    int ret;

    *out = NULL;
    if (cfg == NULL || cfg->env.mc == NULL || cfg->env.loop == NULL) {
        return -EINVAL;
    }
    rng = calloc(1, sizeof(*rng));
    if (rng == NULL) {
        return -ENOMEM;
    }
    snprintf(rng->ctx, sizeof(rng->ctx), "%s",
             cfg->env.name != NULL ? cfg->env.name : "rng");
    rng->loop = cfg->env.loop;
    iq_loop_work_init(&rng->more, rng_more_cb, rng);

    dc.name = rng->ctx;
    dc.device_id = IQ_VIRTIO_ID_RNG;
    dc.num_queues = 1;
    dc.queue_max_size = cfg->env.queue_max_size != 0 ? cfg->env.queue_max_size
                                                     : RNG_DEFAULT_QUEUE;
    dc.config_size = 0;
    dc.grants = cfg->env.grants;
    dc.irq = cfg->env.irq;
    dc.ops = &rng_virtio_ops;
    dc.opaque = rng;
    dc.mc = cfg->env.mc;
    dc.loop = cfg->env.loop;
    dc.irq_ops = cfg->env.irq_ops;
    dc.irq_opaque = cfg->env.irq_opaque;
    dc.arch = cfg->env.arch;
    ret = iq_virtio_dev_create(&dc, &rng->dev);
    if (ret < 0) {
        free(rng);
        return ret;
    }
    *out = rng;
    return 0;
}

void
iq_virtio_rng_destroy(struct iq_virtio_rng *rng)
{
    if (rng == NULL) {
        return;
    }
    iq_virtio_dev_destroy(rng->dev);
    iq_loop_cancel(rng->loop, &rng->more);
    free(rng);
}

struct iq_virtio_dev *
iq_virtio_rng_dev(struct iq_virtio_rng *rng)
{
    return rng->dev;
}
