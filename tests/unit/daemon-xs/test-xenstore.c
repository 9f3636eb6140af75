/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the pure parsing half of daemon/xenstore-backend.c: numbers in
 * both libxl spellings, states, modes, 4.18 virtio types, whole backend
 * directories of both layouts, and the cross-device checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xenstore-backend.h"

/* A backend directory as a key/value table. */
struct kv {
    const char *key;
    const char *val;
};

static const char *
kv_get(void *opaque, const char *key)
{
    const struct kv *t = opaque;

    for (; t->key != NULL; t++) {
        if (strcmp(t->key, key) == 0) {
            return t->val;
        }
    }
    return NULL;
}

/* What libxl 4.17 writes for disk xvda, domain 5 (values as observed). */
static const struct kv disk417[] = {
    {"frontend", "/local/domain/5/device/virtio_disk/51712"},
    {"frontend-id", "5"},
    {"online", "1"},
    {"removable", "0"},
    {"bootable", "1"},
    {"state", "1"},
    {"dev", "xvda"},
    {"type", "standalone"},
    {"mode", "w"},
    {"device-type", "disk"},
    {"discard-enable", "1"},
    {"specification", "virtio"},
    {"transport", "mmio"},
    {"params", "/domu/disk.img"},
    {"base", "33554432"},
    {"irq", "33"},
    {NULL, NULL},
};

#define P417 "/local/domain/0/backend/virtio_disk/5/51712"
#define P418 "/local/domain/0/backend/virtio/5/0"

static void
test_static_max(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(iq_xs_parse_static_max("196608", &v), 0);
    assert_true(v == 192ull << 20);
    /* Rounded up to a page. */
    assert_int_equal(iq_xs_parse_static_max("5", &v), 0);
    assert_true(v == 8192);
    assert_int_equal(iq_xs_parse_static_max("1073741824", &v), 0);
    assert_true(v == 1ull << 40);
    v = 7;
    assert_int_equal(iq_xs_parse_static_max("1073741825", &v), -ERANGE);
    assert_int_equal(iq_xs_parse_static_max("0", &v), -EINVAL);
    assert_int_equal(iq_xs_parse_static_max("0x1000", &v), -EINVAL);
    assert_int_equal(iq_xs_parse_static_max("", &v), -EINVAL);
    assert_int_equal(iq_xs_parse_static_max(NULL, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_static_max("12k", &v), -EINVAL);
    assert_int_equal(v, 7);
}

static void
test_number(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(iq_xs_parse_number("33554432", UINT64_MAX, &v), 0);
    assert_int_equal(v, 0x2000000);
    assert_int_equal(iq_xs_parse_number("0x2000200", UINT64_MAX, &v), 0);
    assert_int_equal(v, 0x2000200);
    assert_int_equal(iq_xs_parse_number("0X2000C00", UINT64_MAX, &v), 0);
    assert_int_equal(v, 0x2000c00);
    assert_int_equal(iq_xs_parse_number("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(iq_xs_parse_number("18446744073709551615", UINT64_MAX, &v),
                     0);
    assert_true(v == UINT64_MAX);
    v = 7;
    assert_int_equal(iq_xs_parse_number("18446744073709551616", UINT64_MAX, &v),
                     -ERANGE);
    assert_int_equal(iq_xs_parse_number("0x10000000000000000", UINT64_MAX, &v),
                     -ERANGE);
    assert_int_equal(iq_xs_parse_number("11", 10, &v), -ERANGE);
    assert_int_equal(v, 7);
    assert_int_equal(iq_xs_parse_number("", 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number(NULL, 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number("0x", 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number("-1", 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number("+1", 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number(" 1", 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number("1 ", 10, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number("12a", 1000, &v), -EINVAL);
    assert_int_equal(iq_xs_parse_number("0x1g", 1000, &v), -EINVAL);
    assert_int_equal(v, 7);
}

static void
test_state_mode(void **state)
{
    int st = -1;
    bool ro = true;

    (void)state;
    assert_int_equal(iq_xs_parse_state("1", &st), 0);
    assert_int_equal(st, 1);
    assert_int_equal(iq_xs_parse_state("6", &st), 0);
    assert_int_equal(st, 6);
    assert_int_equal(iq_xs_parse_state("0", &st), 0);
    assert_int_equal(st, 0);
    assert_int_equal(iq_xs_parse_state("7", &st), -EINVAL);
    assert_int_equal(iq_xs_parse_state("01", &st), -EINVAL);
    assert_int_equal(iq_xs_parse_state("", &st), -EINVAL);
    assert_int_equal(iq_xs_parse_state(NULL, &st), -EINVAL);
    assert_int_equal(iq_xs_parse_state("x", &st), -EINVAL);
    assert_int_equal(st, 0);

    assert_int_equal(iq_xs_parse_mode("w", &ro), 0);
    assert_false(ro);
    assert_int_equal(iq_xs_parse_mode("r", &ro), 0);
    assert_true(ro);
    assert_int_equal(iq_xs_parse_mode("rw", &ro), -EINVAL);
    assert_int_equal(iq_xs_parse_mode("W", &ro), -EINVAL);
    assert_int_equal(iq_xs_parse_mode("", &ro), -EINVAL);
    assert_int_equal(iq_xs_parse_mode(NULL, &ro), -EINVAL);
    assert_true(ro);
}

static void
test_virtio_type(void **state)
{
    uint32_t id = 99;

    (void)state;
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device", &id), 0);
    assert_int_equal(id, 0);
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device2", &id), 0);
    assert_int_equal(id, 2);
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device1a", &id), 0);
    assert_int_equal(id, 0x1a);
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device22", &id), 0);
    assert_int_equal(id, 0x22);
    id = 99;
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device1A", &id), -EINVAL);
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device0x2", &id), -EINVAL);
    assert_int_equal(iq_xs_parse_virtio_type("virtio,device123456789", &id),
                     -EINVAL);
    assert_int_equal(iq_xs_parse_virtio_type("virtio,mmio", &id), -EINVAL);
    assert_int_equal(iq_xs_parse_virtio_type("virtio", &id), -EINVAL);
    assert_int_equal(iq_xs_parse_virtio_type(NULL, &id), -EINVAL);
    assert_int_equal(id, 99);
}

static void
test_disk_417(void **state)
{
    struct iq_xs_dev d;

    (void)state;
    assert_int_equal(iq_xs_parse_dev(IQ_XS_VIRTIO_DISK, 5, 51712, P417, kv_get,
                                     (void *)disk417, &d),
                     0);
    assert_int_equal(d.layout, IQ_XS_VIRTIO_DISK);
    assert_int_equal(d.devid, 51712);
    assert_true(d.base == 0x2000000);
    assert_int_equal(d.irq, 33);
    assert_int_equal(d.state, 1);
    assert_false(d.readonly);
    assert_string_equal(d.params, "/domu/disk.img");
    assert_string_equal(d.path, P417);
    iq_xs_dev_fini(&d);
    assert_null(d.params);
    iq_xs_dev_fini(&d);
    iq_xs_dev_fini(NULL);
}

/* disk417 with one key replaced (val NULL: removed). */
static int
parse_variant(const char *key, const char *val, struct iq_xs_dev *d)
{
    struct kv t[IQ_ARRAY_SIZE(disk417)];
    unsigned i, n = 0;
    int rc;

    for (i = 0; disk417[i].key != NULL; i++) {
        if (strcmp(disk417[i].key, key) == 0) {
            if (val != NULL) {
                t[n].key = key;
                t[n++].val = val;
            }
        } else {
            t[n++] = disk417[i];
        }
    }
    t[n].key = NULL;
    t[n].val = NULL;
    rc = iq_xs_parse_dev(IQ_XS_VIRTIO_DISK, 5, 51712, P417, kv_get, t, d);
    if (rc < 0) {
        assert_null(d->params);
    }
    return rc;
}

static void
test_disk_417_variants(void **state)
{
    struct iq_xs_dev d;
    char longp[IQ_XS_PARAMS_MAX + 1];

    (void)state;
    /* read-only mode */
    assert_int_equal(parse_variant("mode", "r", &d), 0);
    assert_true(d.readonly);
    iq_xs_dev_fini(&d);
    /* 4.18-style hex base is accepted too */
    assert_int_equal(parse_variant("base", "0x2000200", &d), 0);
    assert_true(d.base == 0x2000200);
    iq_xs_dev_fini(&d);
    /* the last SPI libxl hands out, and a Connected device */
    assert_int_equal(parse_variant("irq", "43", &d), 0);
    assert_int_equal(d.irq, 43);
    iq_xs_dev_fini(&d);
    assert_int_equal(parse_variant("state", "4", &d), 0);
    assert_int_equal(d.state, 4);
    iq_xs_dev_fini(&d);
    /* optional keys may be absent */
    assert_int_equal(parse_variant("frontend-id", NULL, &d), 0);
    iq_xs_dev_fini(&d);
    assert_int_equal(parse_variant("specification", NULL, &d), 0);
    iq_xs_dev_fini(&d);

    assert_int_equal(parse_variant("mode", "x", &d), -EINVAL);
    assert_int_equal(parse_variant("mode", NULL, &d), -EINVAL);
    assert_int_equal(parse_variant("base", NULL, &d), -EINVAL);
    assert_int_equal(parse_variant("base", "0", &d), -EINVAL);
    assert_int_equal(parse_variant("base", "33554433", &d), -EINVAL);
    assert_int_equal(parse_variant("base", "0x2000100", &d), -EINVAL);
    assert_int_equal(parse_variant("base", "0xfffffffffffffe00", &d), -EINVAL);
    assert_int_equal(parse_variant("base", "junk", &d), -EINVAL);
    assert_int_equal(parse_variant("irq", "31", &d), -EINVAL);
    assert_int_equal(parse_variant("irq", "1020", &d), -EINVAL);
    assert_int_equal(parse_variant("irq", NULL, &d), -EINVAL);
    assert_int_equal(parse_variant("state", NULL, &d), -EINVAL);
    assert_int_equal(parse_variant("state", "9", &d), -EINVAL);
    assert_int_equal(parse_variant("params", NULL, &d), -EINVAL);
    assert_int_equal(parse_variant("params", "", &d), -EINVAL);
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(parse_variant("params", longp, &d), -EINVAL);
    assert_int_equal(parse_variant("frontend-id", "6", &d), -EINVAL);
    assert_int_equal(parse_variant("frontend-id", "x", &d), -EINVAL);
    assert_int_equal(parse_variant("specification", "xen", &d), -EOPNOTSUPP);
    assert_int_equal(parse_variant("transport", "pci", &d), -EOPNOTSUPP);
}

static void
test_virtio_418(void **state)
{
    static const struct kv v418[] = {
        {"frontend", "/local/domain/5/device/virtio/0"},
        {"frontend-id", "5"},
        {"online", "1"},
        {"state", "1"},
        {"irq", "34"},
        {"base", "0x2000200"},
        {"type", "virtio,device2"},
        {"transport", "mmio"},
        {"grant_usage", "1"},
        {NULL, NULL},
    };
    static const struct kv bad_transport[] = {
        {"state", "1"},        {"irq", "34"},
        {"base", "0x2000200"}, {"type", "virtio,device2"},
        {"transport", "pci"},  {NULL, NULL},
    };
    static const struct kv bad_grant[] = {
        {"state", "1"},        {"irq", "34"},
        {"base", "0x2000200"}, {"type", "virtio,device2"},
        {"transport", "mmio"}, {"grant_usage", "2"},
        {NULL, NULL},
    };
    static const struct kv bad_type[] = {
        {"state", "1"},          {"irq", "34"},         {"base", "0x2000200"},
        {"type", "xen,device2"}, {"transport", "mmio"}, {NULL, NULL},
    };
    struct iq_xs_dev d;

    (void)state;
    assert_int_equal(
        iq_xs_parse_dev(IQ_XS_VIRTIO, 5, 0, P418, kv_get, (void *)v418, &d), 0);
    assert_int_equal(d.layout, IQ_XS_VIRTIO);
    assert_int_equal(d.devid, 0);
    assert_true(d.base == 0x2000200);
    assert_int_equal(d.irq, 34);
    assert_int_equal(d.virtio_id, 2);
    assert_true(d.grant_usage);
    assert_null(d.params);
    assert_false(d.readonly);
    iq_xs_dev_fini(&d);
    assert_int_equal(iq_xs_parse_dev(IQ_XS_VIRTIO, 5, 0, P418, kv_get,
                                     (void *)bad_transport, &d),
                     -EOPNOTSUPP);
    assert_int_equal(iq_xs_parse_dev(IQ_XS_VIRTIO, 5, 0, P418, kv_get,
                                     (void *)bad_grant, &d),
                     -EINVAL);
    assert_int_equal(
        iq_xs_parse_dev(IQ_XS_VIRTIO, 5, 0, P418, kv_get, (void *)bad_type, &d),
        -EINVAL);
    /* a path that does not fit is refused, not truncated */
    {
        char longpath[IQ_XS_PATH_MAX + 8];

        memset(longpath, '/', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        assert_int_equal(iq_xs_parse_dev(IQ_XS_VIRTIO, 5, 0, longpath, kv_get,
                                         (void *)v418, &d),
                         -EINVAL);
    }
}

static void
test_check_devs(void **state)
{
    struct iq_xs_devs devs;
    unsigned bad = 99, i;

    (void)state;
    memset(&devs, 0, sizeof(devs));
    for (i = 0; i < IQ_XS_MAX_DEVS; i++) {
        devs.dev[i].base = 0x2000000 + i * IQ_XS_DEV_WINDOW;
        devs.dev[i].irq = 33 + i;
    }
    devs.n = IQ_XS_MAX_DEVS;
    assert_int_equal(iq_xs_check_devs(&devs, &bad), 0);
    assert_int_equal(bad, 99);
    devs.dev[7].base = devs.dev[2].base;
    assert_int_equal(iq_xs_check_devs(&devs, &bad), -EINVAL);
    assert_int_equal(bad, 7);
    devs.dev[7].base = 0x2000000 + 7 * IQ_XS_DEV_WINDOW;
    devs.dev[10].irq = 33;
    assert_int_equal(iq_xs_check_devs(&devs, &bad), -EINVAL);
    assert_int_equal(bad, 10);
    devs.dev[10].irq = 43;
    devs.n = IQ_XS_MAX_DEVS + 1;
    assert_int_equal(iq_xs_check_devs(&devs, &bad), -EINVAL);
    devs.n = 0;
    assert_int_equal(iq_xs_check_devs(&devs, &bad), 0);
}

static void
test_roots(void **state)
{
    (void)state;
    assert_string_equal(iq_xs_layout_root(IQ_XS_VIRTIO_DISK),
                        "/local/domain/0/backend/virtio_disk");
    assert_string_equal(iq_xs_layout_root(IQ_XS_VIRTIO),
                        "/local/domain/0/backend/virtio");
    assert_null(iq_xs_layout_root((enum iq_xs_layout)7));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_static_max),
        cmocka_unit_test(test_state_mode),
        cmocka_unit_test(test_virtio_type),
        cmocka_unit_test(test_disk_417),
        cmocka_unit_test(test_disk_417_variants),
        cmocka_unit_test(test_virtio_418),
        cmocka_unit_test(test_check_devs),
        cmocka_unit_test(test_roots),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
