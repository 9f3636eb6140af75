/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/xenstore-backend.c over the fake Xen's in-memory xenstore:
 * discovery of both layouts, the libxl handshake (1 -> 2 -> 4, 5 -> 6),
 * disks that libxl adds after the daemon started, domain destruction, and
 * the launcher starting one child per new domain. Linked against the real
 * libxenstore; run with LD_LIBRARY_PATH at the fake one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "ioreqd/xenstore.h"

#include "iq-sim.h"
#include "ioreqd/loop.h"
#include "xenstore-backend.h"

#define DOMID 5u
#define BE17 "/local/domain/0/backend/virtio_disk/5"
#define BE18 "/local/domain/0/backend/virtio/5"
/* Loop iterations of 50 ms we allow for something to happen. */
#define SPINS 100

struct fixture {
    struct iq_sim *sim;
    struct iq_xenstore *xs;
    struct iq_loop *loop;
};

/* Callback recorder. */
struct rec {
    unsigned adds;
    unsigned add_idx[IQ_XS_MAX_DEVS];
    uint64_t add_base[IQ_XS_MAX_DEVS];
    unsigned closes;
    unsigned close_idx[IQ_XS_MAX_DEVS];
    unsigned gone;
    int add_rc;
};

static int
rec_add(void *opaque, unsigned idx, const struct iq_xs_dev *dev)
{
    struct rec *r = opaque;

    if (r->adds < IQ_XS_MAX_DEVS) {
        r->add_idx[r->adds] = idx;
        r->add_base[r->adds] = dev->base;
    }
    r->adds++;
    return r->add_rc;
}

static void
rec_close(void *opaque, unsigned idx)
{
    struct rec *r = opaque;

    if (r->closes < IQ_XS_MAX_DEVS) {
        r->close_idx[r->closes] = idx;
    }
    r->closes++;
}

static void
rec_gone(void *opaque)
{
    struct rec *r = opaque;

    r->gone++;
}

static const struct iq_xs_backend_ops rec_ops = {
    .add = rec_add,
    .close = rec_close,
    .gone = rec_gone,
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct iq_sim_config cfg;

    assert_non_null(f);
    iq_sim_config_default(&cfg, IQ_SIM_ARM);
    cfg.domid = DOMID;
    assert_int_equal(iq_sim_create(&cfg, &f->sim), 0);
    iq_sim_export_env(f->sim);
    f->xs = iq_xenstore_open();
    assert_non_null(f->xs);
    assert_int_equal(iq_loop_create(&f->loop), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    iq_loop_destroy(f->loop);
    iq_xenstore_close(f->xs);
    iq_sim_destroy(f->sim);
    free(f);
    return 0;
}

static void
put(struct fixture *f, const char *dir, const char *key, const char *val)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    assert_int_equal(iq_sim_xs_write(f->sim, path, val), 0);
}

/* A 4.17 virtio_disk node as libxl writes it; `state` last. */
static void
put_disk(struct fixture *f, unsigned devid, const char *base, const char *irq,
         const char *mode, const char *target, const char *st)
{
    char dir[128];

    snprintf(dir, sizeof(dir), BE17 "/%u", devid);
    put(f, dir, "frontend-id", "5");
    put(f, dir, "type", "standalone");
    put(f, dir, "specification", "virtio");
    put(f, dir, "transport", "mmio");
    put(f, dir, "params", target);
    put(f, dir, "mode", mode);
    put(f, dir, "base", base);
    put(f, dir, "irq", irq);
    put(f, dir, "state", st);
}

static void
spin_until(struct fixture *f, const unsigned *counter, unsigned want)
{
    for (unsigned i = 0; i < SPINS && *counter < want; i++) {
        assert_true(iq_loop_run_once(f->loop, 50) >= 0);
    }
    assert_int_equal(*counter, want);
}

static void
assert_node(struct fixture *f, const char *path, const char *want)
{
    char *v = iq_sim_xs_read(f->sim, path);

    if (want == NULL) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void
test_discover(void **state)
{
    struct fixture *f = *state;
    struct iq_xs_devs devs;

    assert_int_equal(iq_xs_discover(f->xs, DOMID, &devs), -ENOENT);
    put_disk(f, 51728, "33554944", "34", "r", "/img/b.img", "1");
    put_disk(f, 51712, "33554432", "33", "w", "/img/a.img", "1");
    /* a device on its way out is skipped */
    put_disk(f, 51744, "33555456", "35", "w", "/img/c.img", "6");
    /* 4.18 layout: hex base */
    put(f, BE18 "/0", "type", "virtio,device2");
    put(f, BE18 "/0", "transport", "mmio");
    put(f, BE18 "/0", "grant_usage", "0");
    put(f, BE18 "/0", "base", "0x2000600");
    put(f, BE18 "/0", "irq", "36");
    put(f, BE18 "/0", "state", "1");

    assert_int_equal(iq_xs_discover(f->xs, DOMID, &devs), 3);
    assert_int_equal(devs.n, 3);
    /* sorted by base */
    assert_int_equal(devs.dev[0].devid, 51712);
    assert_true(devs.dev[0].base == 0x2000000);
    assert_int_equal(devs.dev[0].irq, 33);
    assert_false(devs.dev[0].readonly);
    assert_string_equal(devs.dev[0].params, "/img/a.img");
    assert_string_equal(devs.dev[0].path, BE17 "/51712");
    assert_int_equal(devs.dev[1].devid, 51728);
    assert_true(devs.dev[1].base == 0x2000200);
    assert_true(devs.dev[1].readonly);
    assert_int_equal(devs.dev[2].layout, IQ_XS_VIRTIO);
    assert_true(devs.dev[2].base == 0x2000600);
    assert_int_equal(devs.dev[2].virtio_id, 2);
    assert_false(devs.dev[2].grant_usage);
    iq_xs_devs_fini(&devs);

    /* a clash with another device fails discovery as a whole */
    put(f, BE17 "/51712", "irq", "34");
    assert_int_equal(iq_xs_discover(f->xs, DOMID, &devs), -EINVAL);
    assert_int_equal(devs.n, 0);
    put(f, BE17 "/51712", "irq", "33");
    /* so does a malformed node */
    put(f, BE17 "/51712", "base", "0x2000010");
    assert_int_equal(iq_xs_discover(f->xs, DOMID, &devs), -EINVAL);
}

static void
test_handshake(void **state)
{
    struct fixture *f = *state;
    struct iq_xs_backend *be = NULL;
    struct iq_xs_devs devs;
    struct rec r = {.add_rc = 0};

    put_disk(f, 51712, "33554432", "33", "w", "/img/a.img", "1");
    assert_int_equal(iq_xs_discover(f->xs, DOMID, &devs), 1);
    assert_int_equal(
        iq_xs_backend_create(f->loop, f->xs, DOMID, &devs, &rec_ops, &r, &be),
        0);
    iq_xs_devs_fini(&devs);
    /* nothing is written before the daemon says it is ready */
    assert_node(f, BE17 "/51712/state", "1");
    assert_int_equal(iq_xs_backend_connect(be), 0);
    assert_node(f, BE17 "/51712/state", "4");

    /* libxl adds the second disk only now: the backend picks it up */
    put_disk(f, 51728, "33554944", "34", "w", "/img/b.img", "1");
    spin_until(f, &r.adds, 1);
    assert_int_equal(r.add_idx[0], 1);
    assert_true(r.add_base[0] == 0x2000200);
    assert_int_equal(iq_sim_xs_wait(f->sim, BE17 "/51728/state", "4", 2000), 0);
    /* a third whose window clashes is refused and left at 1 */
    put_disk(f, 51744, "33554944", "35", "w", "/img/c.img", "1");
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(f->loop, 20) >= 0);
    }
    assert_int_equal(r.adds, 1);
    assert_node(f, BE17 "/51744/state", "1");
    /* a fourth the daemon cannot set up is left at 1 too */
    r.add_rc = -EIO;
    put_disk(f, 51760, "33555456", "36", "w", "/img/d.img", "1");
    spin_until(f, &r.adds, 2);
    assert_node(f, BE17 "/51760/state", "1");

    /* destroy: libxl writes 5 and waits for 6 */
    put(f, BE17 "/51712", "state", "5");
    spin_until(f, &r.closes, 1);
    assert_int_equal(r.close_idx[0], 0);
    assert_int_equal(iq_sim_xs_wait(f->sim, BE17 "/51712/state", "6", 2000), 0);
    assert_int_equal(r.gone, 0);
    assert_false(iq_xs_backend_gone(be));
    /* the other one vanishes without Closing: closed, nothing recreated */
    assert_int_equal(iq_sim_xs_rm(f->sim, BE17 "/51728"), 0);
    spin_until(f, &r.closes, 2);
    assert_int_equal(r.close_idx[1], 1);
    assert_int_equal(r.gone, 1);
    assert_true(iq_xs_backend_gone(be));
    assert_node(f, BE17 "/51728/state", NULL);
    /* later events change nothing */
    put(f, BE17 "/51712", "state", "5");
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(f->loop, 20) >= 0);
    }
    assert_int_equal(r.closes, 2);
    assert_int_equal(r.gone, 1);
    iq_xs_backend_destroy(be);
    iq_xs_backend_destroy(NULL);
}

static void
test_domain_destroyed(void **state)
{
    struct fixture *f = *state;
    struct iq_xs_backend *be = NULL;
    struct iq_xs_devs devs;
    struct rec r = {.add_rc = 0};

    put_disk(f, 51712, "33554432", "33", "w", "/img/a.img", "1");
    assert_int_equal(iq_xs_discover(f->xs, DOMID, &devs), 1);
    assert_int_equal(
        iq_xs_backend_create(f->loop, f->xs, DOMID, &devs, &rec_ops, &r, &be),
        0);
    assert_int_equal(iq_xs_backend_connect(be), 0);
    iq_sim_domain_destroy(f->sim);
    spin_until(f, &r.gone, 1);
    assert_int_equal(r.closes, 1);
    /* the toolstack is gone too: the node stays as it was */
    assert_node(f, BE17 "/51712/state", "4");
    iq_xs_backend_destroy(be);
    iq_xs_devs_fini(&devs);
}

static void
test_write_state(void **state)
{
    struct fixture *f = *state;

    put(f, BE17 "/1", "state", "1");
    assert_int_equal(iq_xs_write_state(f->xs, BE17 "/1", 2), 0);
    assert_node(f, BE17 "/1/state", "2");
    /* never recreates a removed node */
    assert_int_equal(iq_xs_write_state(f->xs, BE17 "/2", 6), -ENOENT);
    assert_node(f, BE17 "/2/state", NULL);
}

static void
test_launcher(void **state)
{
    struct fixture *f = *state;
    struct iq_xs_launcher_config cfg = {
        .ioreqd_path = "/bin/true",
        .settle_ms = 10,
    };
    struct iq_xs_launcher *l = NULL;
    unsigned started = 0, reaped = 0;
    pid_t pid;

    assert_int_equal(iq_xs_launcher_create(f->loop, f->xs, &cfg, &l), 0);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(f->loop, 20) >= 0);
    }
    assert_int_equal(iq_xs_launcher_started(l), 0);
    /* a Connected domain is someone else's */
    put(f, "/local/domain/0/backend/virtio_disk/7/51712", "state", "4");
    put_disk(f, 51712, "33554432", "33", "w", "/img/a.img", "1");
    for (unsigned i = 0; i < SPINS && started == 0; i++) {
        assert_true(iq_loop_run_once(f->loop, 50) >= 0);
        started = iq_xs_launcher_started(l);
    }
    assert_int_equal(started, 1);
    pid = iq_xs_launcher_child(l, DOMID);
    assert_true(pid > 0);
    assert_int_equal(iq_xs_launcher_child(l, 7), 0);
    for (unsigned i = 0; i < SPINS && reaped == 0; i++) {
        assert_true(iq_loop_run_once(f->loop, 50) >= 0);
        reaped = iq_xs_launcher_reap(l);
    }
    assert_int_equal(reaped, 1);
    assert_int_equal(iq_xs_launcher_child(l, DOMID), 0);
    /* one daemon per domain: still at state 1, but not started again */
    put(f, BE17 "/51712", "mode", "w");
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(f->loop, 20) >= 0);
    }
    assert_int_equal(iq_xs_launcher_started(l), 1);
    /* once its nodes are gone the domain is forgotten */
    assert_int_equal(iq_sim_xs_rm(f->sim, BE17), 0);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(iq_loop_run_once(f->loop, 20) >= 0);
    }
    put_disk(f, 51712, "33554432", "33", "w", "/img/a.img", "1");
    started = 1;
    for (unsigned i = 0; i < SPINS && started == 1; i++) {
        assert_true(iq_loop_run_once(f->loop, 50) >= 0);
        started = iq_xs_launcher_started(l);
    }
    assert_int_equal(started, 2);
    for (unsigned i = 0; i < SPINS && iq_xs_launcher_reap(l) == 0; i++) {
        assert_true(iq_loop_run_once(f->loop, 50) >= 0);
    }
    iq_xs_launcher_destroy(l);
    iq_xs_launcher_destroy(NULL);
}

static void
test_launcher_bad_config(void **state)
{
    struct fixture *f = *state;
    struct iq_xs_launcher_config cfg = {.ioreqd_path = NULL};
    struct iq_xs_launcher *l = (struct iq_xs_launcher *)&cfg;

    assert_int_equal(iq_xs_launcher_create(f->loop, f->xs, &cfg, &l), -EINVAL);
    assert_null(l);
    cfg.ioreqd_path = "/bin/true";
    cfg.nr_extra = 1;
    assert_int_equal(iq_xs_launcher_create(f->loop, f->xs, &cfg, &l), -EINVAL);
    cfg.nr_extra = 0;
    cfg.settle_ms = 60000;
    assert_int_equal(iq_xs_launcher_create(f->loop, f->xs, &cfg, &l), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_destroyed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launcher, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launcher_bad_config, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
