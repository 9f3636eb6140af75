/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ioreq round trips through the fake Xen for a trivial register, with 1 and
 * 4 vCPUs, next to a bare eventfd ping-pong between two threads measured in
 * the same run. The ping-pong is the floor of any design that crosses a
 * process boundary twice per access; the ratio is the figure that matters.
 *
 * Prints `BENCH name value unit` lines.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreqd/ioreq.h"
#include "ioreqd/log.h"
#include "ioreqd/loop.h"
#include "iq-sim.h"
#include "iq-test-util.h"

#define REG_BASE 0x2000000ull
#define RUN_NS (1500ull * 1000 * 1000)

/* ---- the daemon side: real ioreq/ on the fake Xen ----------------------- */

struct dev {
    uint64_t reg;
};

static uint64_t
dev_read(void *opaque, uint64_t offset, unsigned size)
{
    struct dev *d = opaque;

    (void)size;
    return offset == 0 ? d->reg : 0x5a;
}

static void
dev_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct dev *d = opaque;

    (void)size;
    if (offset == 0) {
        d->reg = value;
    }
}

static const struct iq_region_ops dev_ops = {
    .read = dev_read,
    .write = dev_write,
};

struct server {
    struct iq_loop *loop;
    struct iq_ioreq_server *srv;
    struct iq_region *region;
    struct dev dev;
    pthread_t thread;
    int ret;
};

static void *
server_run(void *arg)
{
    struct server *s = arg;

    s->ret = iq_loop_run(s->loop);
    return NULL;
}

static int
server_start(struct server *s, uint16_t domid)
{
    struct iq_ioreq_config cfg = {
        .domid = domid,
        .arch = IQ_ARCH_ARM,
        .bufioreq = IQ_BUFIOREQ_OFF,
    };
    int ret;

    ret = iq_loop_create(&s->loop);
    if (ret < 0) {
        return ret;
    }
    cfg.loop = s->loop;
    ret = iq_ioreq_create(&cfg, &s->srv);
    if (ret < 0) {
        return ret;
    }
    ret = iq_ioreq_map_region(s->srv, IQ_SPACE_MMIO, REG_BASE, 0x200, &dev_ops,
                              &s->dev, &s->region);
    if (ret < 0) {
        return ret;
    }
    if (pthread_create(&s->thread, NULL, server_run, s) != 0) {
        return -EAGAIN;
    }
    return 0;
}

static void
server_stop(struct server *s)
{
    iq_loop_stop(s->loop);
    pthread_join(s->thread, NULL);
    iq_ioreq_destroy(s->srv);
    iq_loop_destroy(s->loop);
}

struct vcpu {
    struct iq_sim *sim;
    unsigned id;
    uint64_t start;
    uint64_t ops;
    int err;
};

static void *
vcpu_run(void *arg)
{
    struct vcpu *v = arg;
    uint64_t val;

    do {
        for (int i = 0; i < 256; i++) {
            int ret = iq_sim_mmio_read(v->sim, v->id, REG_BASE + 4, 4, &val);

            if (ret < 0 || (val & 0xffffffff) != 0x5a) {
                v->err = ret < 0 ? ret : -EIO;
                return NULL;
            }
        }
        v->ops += 256;
    } while (iq_test_now_ns() - v->start < RUN_NS);
    return NULL;
}

static double
ioreq_rate(struct iq_sim *sim, unsigned nr)
{
    struct vcpu v[4] = {0};
    pthread_t t[4];
    uint64_t start = iq_test_now_ns(), end, total = 0;

    for (unsigned i = 0; i < nr; i++) {
        v[i] = (struct vcpu){.sim = sim, .id = i, .start = start};
        if (pthread_create(&t[i], NULL, vcpu_run, &v[i]) != 0) {
            return 0;
        }
    }
    for (unsigned i = 0; i < nr; i++) {
        pthread_join(t[i], NULL);
        if (v[i].err != 0) {
            fprintf(stderr, "bench-ioreq: vCPU %u failed: %s\n", i,
                    strerror(-v[i].err));
            return 0;
        }
        total += v[i].ops;
    }
    end = iq_test_now_ns();
    return (double)total * 1e9 / (double)(end - start);
}

int
main(void)
{
    struct iq_sim_config cfg;
    struct iq_sim *sim;
    struct server s = {0};
    double pp, r1, r4;
    int ret;

    iq_log_open("bench-ioreq", IQ_LOG_WARNING, false);
    iq_sim_config_default(&cfg, IQ_SIM_ARM);
    cfg.nr_vcpus = 4;
    ret = iq_sim_create(&cfg, &sim);
    if (ret < 0) {
        fprintf(stderr, "bench-ioreq: sim: %s\n", strerror(-ret));
        return 1;
    }
    iq_sim_export_env(sim);
    ret = server_start(&s, iq_sim_domid(sim));
    if (ret < 0) {
        fprintf(stderr, "bench-ioreq: server: %s\n", strerror(-ret));
        return 1;
    }
    pp = iq_test_pingpong_rate(RUN_NS / 1000000u);
    r1 = ioreq_rate(sim, 1);
    r4 = ioreq_rate(sim, 4);
    server_stop(&s);
    iq_sim_destroy(sim);
    if (pp <= 0 || r1 <= 0 || r4 <= 0) {
        fprintf(stderr, "bench-ioreq: a measurement failed\n");
        return 1;
    }
    printf("BENCH eventfd_pingpong %.0f roundtrips/s\n", pp);
    printf("BENCH ioreq_rt_1vcpu %.0f roundtrips/s\n", r1);
    printf("BENCH ioreq_rt_4vcpu %.0f roundtrips/s\n", r4);
    printf("BENCH ioreq_rt_1vcpu_vs_pingpong %.3f ratio\n", r1 / pp);
    printf("BENCH ioreq_rt_4vcpu_vs_pingpong %.3f ratio\n", r4 / pp);
    return 0;
}
