/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for daemon/config.c: numbers, device specs, files, options. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define ERRBUF char err[IQ_DAEMON_ERR_LEN] = ""

static void
assert_err_has(const char *err, const char *needle)
{
    if (strstr(err, needle) == NULL) {
        fail_msg("error '%s' does not contain '%s'", err, needle);
    }
}

static void
test_parse_u64(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(iq_daemon_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(iq_daemon_parse_u64("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(iq_daemon_parse_u64("0x2000000", &v), 0);
    assert_int_equal(v, 0x2000000);
    assert_int_equal(iq_daemon_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(iq_daemon_parse_u64("18446744073709551616", &v), -ERANGE);
    assert_int_equal(iq_daemon_parse_u64("", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_u64("-1", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_u64("+1", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_u64(" 1", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_u64("12a", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_u64("0x", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_u64(NULL, &v), -EINVAL);
}

static void
test_parse_size(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(iq_daemon_parse_size("64M", &v), 0);
    assert_int_equal(v, 64ull << 20);
    assert_int_equal(iq_daemon_parse_size("4k", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(iq_daemon_parse_size("2G", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(iq_daemon_parse_size("0x100000", &v), 0);
    assert_int_equal(v, 0x100000);
    assert_int_equal(iq_daemon_parse_size("512", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(iq_daemon_parse_size("5T", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_size("M", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_size("", &v), -EINVAL);
    assert_int_equal(iq_daemon_parse_size("17179869184G", &v), -ERANGE);
}

static void
test_device_blk_full(void **state)
{
    struct iq_dev_spec d;
    ERRBUF;

    (void)state;
    assert_int_equal(
        iq_daemon_parse_device("virtio-blk,base=0x2000000,irq=33,"
                               "file=/tmp/disk.img,ro,serial=ABC123,"
                               "queues=4,cache=none,engine=threads",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.type, IQ_DEV_VIRTIO_BLK);
    assert_int_equal(d.base, 0x2000000);
    assert_int_equal(d.irq, 33);
    assert_string_equal(d.file, "/tmp/disk.img");
    assert_false(d.null_backend);
    assert_true(d.readonly);
    assert_string_equal(d.serial, "ABC123");
    assert_int_equal(d.queues, 4);
    assert_int_equal(d.cache, IQ_BLK_CACHE_NONE);
    assert_int_equal(d.engine, IQ_BLK_ENGINE_THREADS);
    iq_dev_spec_fini(&d);

    /* Defaults and the null backend. */
    assert_int_equal(iq_daemon_parse_device("virtio-blk,irq=40,base=0x2000200,"
                                            "file=null:16M",
                                            IQ_ARCH_ARM, &d, err, sizeof(err)),
                     0);
    assert_true(d.null_backend);
    assert_null(d.file);
    assert_int_equal(d.null_size, 16ull << 20);
    assert_false(d.readonly);
    assert_int_equal(d.queues, 1);
    assert_int_equal(d.cache, IQ_BLK_CACHE_WRITEBACK);
    assert_int_equal(d.engine, IQ_BLK_ENGINE_AUTO);
    assert_string_equal(d.serial, "");
    iq_dev_spec_fini(&d);
}

static void
test_device_rng_console(void **state)
{
    struct iq_dev_spec d;
    ERRBUF;

    (void)state;
    assert_int_equal(iq_daemon_parse_device("virtio-rng,base=0x2000400,"
                                            "irq=35",
                                            IQ_ARCH_ARM, &d, err, sizeof(err)),
                     0);
    assert_int_equal(d.type, IQ_DEV_VIRTIO_RNG);
    iq_dev_spec_fini(&d);

    assert_int_equal(iq_daemon_parse_device("virtio-console,base=0x2000600,"
                                            "irq=36",
                                            IQ_ARCH_ARM, &d, err, sizeof(err)),
                     0);
    assert_int_equal(d.con_backend, IQ_CON_PTY);
    assert_null(d.con_path);
    iq_dev_spec_fini(&d);

    assert_int_equal(
        iq_daemon_parse_device("virtio-console,base=0x2000600,irq=36,"
                               "backend=socket:/run/con.sock",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.con_backend, IQ_CON_SOCKET);
    assert_string_equal(d.con_path, "/run/con.sock");
    iq_dev_spec_fini(&d);

    assert_int_equal(
        iq_daemon_parse_device("virtio-console,base=0x2000600,irq=36,"
                               "backend=file:/tmp/out",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.con_backend, IQ_CON_FILE);
    assert_string_equal(d.con_path, "/tmp/out");
    assert_int_equal(d.con_maxsize, 0);
    iq_dev_spec_fini(&d);

    assert_int_equal(
        iq_daemon_parse_device("virtio-console,base=0x2000600,irq=36,"
                               "backend=file:/tmp/out,maxsize=1M",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.con_backend, IQ_CON_FILE);
    assert_int_equal(d.con_maxsize, 1u << 20);
    iq_dev_spec_fini(&d);
}

struct bad_case {
    const char *spec;
    enum iq_arch arch;
    const char *msg;
};

/* The grants flag: accepted on virtio-blk/-rng/-console, off by default. */
static void
test_device_grants(void **state)
{
    static const char *const ok[] = {
        "virtio-blk,base=0x2000000,irq=33,file=/x,grants",
        "virtio-blk,grants,base=0x2000000,irq=33,file=null:1M,ro",
        "virtio-rng,base=0x2000400,irq=35,grants",
        "virtio-console,base=0x2000600,irq=36,grants=on",
        "virtio-console,base=0x2000600,irq=36,grants=1,backend=pty",
    };
    static const struct bad_case bad[] = {
        {"virtio-blk,base=0x2000000,irq=33,file=/x,grants=yes", IQ_ARCH_ARM,
         "'grants' takes no value"},
        {"virtio-rng,base=0x2000000,irq=33,grants=0", IQ_ARCH_ARM,
         "'grants' takes no value"},
        {"vhost-user,base=0x2000000,irq=33,type=blk,socket=/s,grants",
         IQ_ARCH_ARM, "unknown key 'grants' for vhost-user"},
        {"lsi53c895a,bdf=00:05.0,disk=/a.img,grants", IQ_ARCH_X86,
         "key 'grants' needs a value"},
    };
    struct iq_daemon_config cfg;
    struct iq_dev_spec d;
    ERRBUF;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (iq_daemon_parse_device(ok[i], IQ_ARCH_ARM, &d, err, sizeof(err)) !=
            0) {
            fail_msg("'%s' rejected: %s", ok[i], err);
        }
        assert_true(d.grants);
        iq_dev_spec_fini(&d);
    }
    assert_int_equal(iq_daemon_parse_device("virtio-blk,base=0x2000000,"
                                            "irq=33,file=/x",
                                            IQ_ARCH_ARM, &d, err, sizeof(err)),
                     0);
    assert_false(d.grants);
    iq_dev_spec_fini(&d);
    assert_int_equal(iq_daemon_parse_device("virtio-rng,base=0x2000000,irq=33",
                                            IQ_ARCH_ARM, &d, err, sizeof(err)),
                     0);
    assert_false(d.grants);
    iq_dev_spec_fini(&d);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (iq_daemon_parse_device(bad[i].spec, bad[i].arch, &d, err,
                                   sizeof(err)) != -EINVAL) {
            fail_msg("case %zu '%s' not rejected", i, bad[i].spec);
        }
        assert_err_has(err, bad[i].msg);
    }

    /* Per device: one device with grants, one without. */
    iq_daemon_config_init(&cfg);
    assert_int_equal(iq_daemon_config_add_device(
                         &cfg,
                         "virtio-blk,base=0x2000000,irq=33,file=/x,grants", err,
                         sizeof(err)),
                     0);
    assert_int_equal(
        iq_daemon_config_add_device(&cfg, "virtio-rng,base=0x2000200,irq=34",
                                    err, sizeof(err)),
        0);
    assert_int_equal(cfg.nr_devs, 2);
    assert_true(cfg.devs[0].grants);
    assert_false(cfg.devs[1].grants);
    iq_daemon_config_fini(&cfg);

    /* Documented in the usage text. */
    assert_non_null(strstr(iq_daemon_usage(), "[,grants]"));
    assert_non_null(strstr(iq_daemon_usage(), "ACCESS_PLATFORM"));
}

static void
test_device_errors(void **state)
{
    static const struct bad_case cases[] = {
        {"virtio-net,base=0x2000000,irq=33", IQ_ARCH_ARM,
         "unknown device type 'virtio-net'"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,bogus=1", IQ_ARCH_ARM,
         "unknown key 'bogus'"},
        {"virtio-rng,base=0x2000000,irq=33,file=/x", IQ_ARCH_ARM,
         "unknown key 'file' for virtio-rng"},
        {"virtio-console,base=0x2000000,irq=33,maxsize=0", IQ_ARCH_ARM,
         "bad maxsize '0'"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,maxsize=1M", IQ_ARCH_ARM,
         "unknown key 'maxsize' for virtio-blk"},
        {"virtio-blk,irq=33,file=/x", IQ_ARCH_ARM, "missing base="},
        {"virtio-blk,base=0x2000000,file=/x", IQ_ARCH_ARM, "missing irq="},
        {"virtio-blk,base=0x2000000,irq=33", IQ_ARCH_ARM, "missing file="},
        {"virtio-blk,base=0x2000000,irq=33,file=", IQ_ARCH_ARM,
         "needs a value"},
        {"virtio-blk,base=zz,irq=33,file=/x", IQ_ARCH_ARM,
         "bad number 'zz' for base"},
        {"virtio-blk,base=0x2000100,irq=33,file=/x", IQ_ARCH_ARM,
         "must be 0x200-aligned"},
        {"virtio-blk,base=0xfffffffffffffe00,irq=33,file=/x", IQ_ARCH_ARM,
         "not wrap"},
        {"virtio-blk,base=0x2000000,irq=31,file=/x", IQ_ARCH_ARM,
         "irq 31 is not an Arm SPI"},
        {"virtio-blk,base=0x2000000,irq=1020,file=/x", IQ_ARCH_ARM,
         "irq 1020 is not an Arm SPI"},
        {"virtio-blk,base=0x2000000,irq=16,file=/x", IQ_ARCH_X86,
         "not an x86 ISA IRQ"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,queues=0", IQ_ARCH_ARM,
         "bad queues '0'"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,queues=17", IQ_ARCH_ARM,
         "bad queues '17'"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,"
         "serial=123456789012345678901",
         IQ_ARCH_ARM, "serial longer than 20"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,cache=unsafe", IQ_ARCH_ARM,
         "bad cache 'unsafe'"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,engine=aio", IQ_ARCH_ARM,
         "bad engine 'aio'"},
        {"virtio-blk,base=0x2000000,irq=33,file=null:100", IQ_ARCH_ARM,
         "bad null disk size"},
        {"virtio-blk,base=0x2000000,irq=33,file=null:0", IQ_ARCH_ARM,
         "bad null disk size"},
        {"virtio-blk,base=0x2000000,irq=33,file=/x,ro=yes", IQ_ARCH_ARM,
         "'ro' takes no value"},
        {"virtio-console,base=0x2000000,irq=33,backend=socket:", IQ_ARCH_ARM,
         "bad backend"},
        {"virtio-console,base=0x2000000,irq=33,backend=tcp:1", IQ_ARCH_ARM,
         "bad backend"},
        {"virtio-blk,=1,base=0x2000000,irq=33,file=/x", IQ_ARCH_ARM,
         "empty key"},
        {"", IQ_ARCH_ARM, "empty device spec"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct iq_dev_spec d;
        ERRBUF;

        if (iq_daemon_parse_device(cases[i].spec, cases[i].arch, &d, err,
                                   sizeof(err)) != -EINVAL) {
            fail_msg("case %zu '%s' not rejected", i, cases[i].spec);
        }
        assert_err_has(err, cases[i].msg);
        /* Nothing left allocated on failure. */
        assert_null(d.file);
        assert_null(d.con_path);
    }
}

static void
add_ok(struct iq_daemon_config *cfg, const char *spec)
{
    ERRBUF;

    assert_int_equal(iq_daemon_config_add_device(cfg, spec, err, sizeof(err)),
                     0);
}

static void
test_validate(void **state)
{
    struct iq_daemon_config cfg;
    ERRBUF;

    (void)state;
    iq_daemon_config_init(&cfg);
    cfg.arch = IQ_ARCH_ARM;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "--domid is required");
    cfg.domid = 3;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "no device");

    add_ok(&cfg, "virtio-blk,base=0x2000000,irq=33,file=/x");
    add_ok(&cfg, "virtio-rng,base=0x2000200,irq=34");
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)), 0);

    /* Overlap: 0x2000000 again. */
    add_ok(&cfg, "virtio-rng,base=0x2000000,irq=35");
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "overlaps device 0");
    iq_daemon_config_fini(&cfg);

    /* Duplicate irq. */
    cfg.arch = IQ_ARCH_ARM;
    cfg.domid = 3;
    add_ok(&cfg, "virtio-blk,base=0x2000000,irq=33,file=/x");
    add_ok(&cfg, "virtio-rng,base=0x2000200,irq=33");
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "irq 33 already used by device 0");
    iq_daemon_config_fini(&cfg);

    /* --pvh on Arm, and a mapcache smaller than one bucket. */
    cfg.arch = IQ_ARCH_ARM;
    cfg.domid = 3;
    add_ok(&cfg, "virtio-rng,base=0x2000200,irq=40");
    cfg.pvh = true;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "--pvh");
    cfg.pvh = false;
    cfg.mapcache_size = 512 * 1024;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "smaller than one bucket");
    cfg.mapcache_bucket = 64 * 1024;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)), 0);
    /* An Arm SPI is not valid once the arch is switched to x86. */
    cfg.arch = IQ_ARCH_X86;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "x86 ISA IRQ");
    iq_daemon_config_fini(&cfg);
}

static void
test_too_many_devices(void **state)
{
    struct iq_daemon_config cfg;
    char spec[96];
    ERRBUF;

    (void)state;
    iq_daemon_config_init(&cfg);
    cfg.arch = IQ_ARCH_ARM;
    for (unsigned i = 0; i < IQ_DAEMON_MAX_DEVICES; i++) {
        snprintf(spec, sizeof(spec), "virtio-rng,base=0x%x,irq=%u",
                 0x2000000u + i * 0x200u, 33 + i);
        add_ok(&cfg, spec);
    }
    assert_int_equal(
        iq_daemon_config_add_device(&cfg, "virtio-rng,base=0x3000000,irq=100",
                                    err, sizeof(err)),
        -E2BIG);
    assert_err_has(err, "too many devices");
    iq_daemon_config_fini(&cfg);
}

static void
test_parse_text(void **state)
{
    struct iq_daemon_config cfg;
    ERRBUF;

    (void)state;
    iq_daemon_config_init(&cfg);
    cfg.arch = IQ_ARCH_ARM;
    assert_int_equal(
        iq_daemon_config_parse_text(
            &cfg,
            "# ioreqd config\n"
            "\n"
            "domid = 7\n"
            "  mapcache-size=8M   # two words\n"
            "mapcache-bucket = 64K\n"
            "log-level = debug\r\n"
            "device = virtio-blk,base=0x2000000,irq=33,file=/d.img\n"
            "device = virtio-rng,base=0x2000200,irq=34",
            "test.conf", err, sizeof(err)),
        0);
    assert_int_equal(cfg.domid, 7);
    assert_int_equal(cfg.mapcache_size, 8ull << 20);
    assert_int_equal(cfg.mapcache_bucket, 64u << 10);
    assert_int_equal(cfg.log_level, 7);
    assert_int_equal(cfg.nr_devs, 2);
    assert_string_equal(cfg.devs[0].file, "/d.img");
    assert_int_equal(cfg.devs[1].type, IQ_DEV_VIRTIO_RNG);
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)), 0);
    iq_daemon_config_fini(&cfg);

    /* Line numbers count blank and comment lines. */
    assert_int_equal(iq_daemon_config_parse_text(&cfg,
                                                 "domid = 1\n\n# c\n"
                                                 "colour = blue\n",
                                                 "a.conf", err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "a.conf:4: unknown key 'colour'");
    assert_int_equal(
        iq_daemon_config_parse_text(&cfg, "domid 1\n", "b", err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "b:1: expected 'key = value'");
    assert_int_equal(
        iq_daemon_config_parse_text(&cfg, "domid = x\n", "c", err, sizeof(err)),
        -EINVAL);
    assert_err_has(err, "c:1: bad domid 'x'");
    assert_int_equal(iq_daemon_config_parse_text(&cfg, "log-level = loud\n",
                                                 "d", err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "d:1: bad log level 'loud'");
    assert_int_equal(
        iq_daemon_config_parse_text(&cfg, "\n\ndevice = virtio-blk,base=1\n",
                                    "e", err, sizeof(err)),
        -EINVAL);
    assert_err_has(err, "e:3: device");
    assert_int_equal(
        iq_daemon_config_parse_text(&cfg, "domid = 0\n", "f", err, sizeof(err)),
        -EINVAL);
    assert_int_equal(iq_daemon_config_parse_text(&cfg,
                                                 "mapcache-bucket = 3000\n",
                                                 "g", err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "power of two");
    iq_daemon_config_fini(&cfg);
}

static int
run_args(struct iq_daemon_config *cfg, enum iq_daemon_action *act, char *err,
         size_t err_len, int argc, ...)
{
    char *argv[32];
    va_list ap;

    va_start(ap, argc);
    argv[0] = (char *)"ioreqd";
    for (int i = 1; i < argc; i++) {
        argv[i] = va_arg(ap, char *);
    }
    argv[argc] = NULL;
    va_end(ap);
    iq_daemon_config_fini(cfg);
    return iq_daemon_parse_args(cfg, argc, argv, act, err, err_len);
}

static void
test_args(void **state)
{
    struct iq_daemon_config cfg;
    enum iq_daemon_action act;
    ERRBUF;

    (void)state;
    iq_daemon_config_init(&cfg);
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 11, "--arch", "arm",
                              "--domid", "5", "--device",
                              "virtio-blk,base=0x2000000,irq=33,file=null:1M",
                              "--mapcache-size", "2M", "--log-level", "info"),
                     0);
    assert_int_equal(act, IQ_DAEMON_RUN);
    assert_int_equal(cfg.domid, 5);
    assert_int_equal(cfg.arch, IQ_ARCH_ARM);
    assert_int_equal(cfg.mapcache_size, 2ull << 20);
    assert_int_equal(cfg.log_level, 6);
    assert_int_equal(cfg.nr_devs, 1);
    assert_true(cfg.devs[0].null_backend);

    /* --arch after --device: the IRQ is checked against the final arch. */
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 7, "--domid", "2",
                              "--device", "virtio-rng,base=0x2000000,irq=40",
                              "--arch", "arm"),
                     0);
    assert_int_equal(cfg.devs[0].irq, 40);
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 7, "--domid", "2",
                              "--device", "virtio-rng,base=0x2000000,irq=40",
                              "--arch", "x86"),
                     -EINVAL);
    assert_err_has(err, "irq 40 is not an x86 ISA IRQ");
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 5, "--domid", "2",
                              "--device", "virtio-rng,base=0x2000000,irq=1020"),
                     -EINVAL);
    assert_err_has(err, "irq 1020 out of range");

    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 2, "--help"), 0);
    assert_int_equal(act, IQ_DAEMON_HELP);
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 2, "--version"), 0);
    assert_int_equal(act, IQ_DAEMON_VERSION);

    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 2, "--frob"),
                     -EINVAL);
    assert_string_equal(err, "unknown option '--frob'");
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 2, "--domid"),
                     -EINVAL);
    assert_string_equal(err, "option '--domid' needs an argument");
    assert_int_equal(
        run_args(&cfg, &act, err, sizeof(err), 3, "--domid", "abc"), -EINVAL);
    assert_err_has(err, "--domid: bad domid 'abc'");
    assert_int_equal(
        run_args(&cfg, &act, err, sizeof(err), 3, "--mapcache-size", "lots"),
        -EINVAL);
    assert_err_has(err, "--mapcache-size: bad mapcache size 'lots'");
    assert_int_equal(
        run_args(&cfg, &act, err, sizeof(err), 3, "--arch", "mips"), -EINVAL);
    assert_err_has(err, "bad arch 'mips'");
    assert_int_equal(
        run_args(&cfg, &act, err, sizeof(err), 4, "--domid", "1", "extra"),
        -EINVAL);
    assert_string_equal(err, "unexpected argument 'extra'");
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 3, "--domid", "1"),
                     -EINVAL);
    assert_err_has(err, "no device");
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 7, "--arch", "arm",
                              "--domid", "1", "--device",
                              "virtio-rng,base=0x2000000,irq=3"),
                     -EINVAL);
    assert_err_has(err, "irq 3 is not an Arm SPI");
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 3, "--config",
                              "/nonexistent/ioreqd.conf"),
                     -ENOENT);
    assert_err_has(err, "cannot open config file /nonexistent/ioreqd.conf");
    iq_daemon_config_fini(&cfg);
}

static void
test_args_config_file(void **state)
{
    struct iq_daemon_config cfg;
    enum iq_daemon_action act;
    char path[] = "/tmp/iq-test-config-XXXXXX";
    static const char text[] = "domid = 4\n"
                               "arch = arm\n"
                               "device = virtio-rng,base=0x2000000,irq=33\n";
    int fd = mkstemp(path);
    ERRBUF;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1),
                     (ssize_t)(sizeof(text) - 1));
    close(fd);
    iq_daemon_config_init(&cfg);
    /* Later options override the file; devices accumulate. */
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 7, "--config", path,
                              "--domid", "9", "--device",
                              "virtio-rng,base=0x2000200,irq=34"),
                     0);
    assert_int_equal(cfg.domid, 9);
    assert_int_equal(cfg.nr_devs, 2);
    assert_int_equal(cfg.devs[0].base, 0x2000000);
    assert_int_equal(cfg.devs[1].base, 0x2000200);
    /* Overlap across the file and the command line. */
    assert_int_equal(run_args(&cfg, &act, err, sizeof(err), 5, "--config", path,
                              "--device", "virtio-rng,base=0x2000000,irq=34"),
                     -EINVAL);
    assert_err_has(err, "overlaps device 0");
    iq_daemon_config_fini(&cfg);
    unlink(path);
}

static void
test_device_lsi(void **state)
{
    struct iq_daemon_config cfg;
    struct iq_dev_spec d;
    ERRBUF;

    (void)state;
    assert_int_equal(
        iq_daemon_parse_device("lsi53c895a,bdf=00:05.0,disk=/a.img,ro,"
                               "disk=null:1M,lun=3,disk=/c.img,target=6",
                               IQ_ARCH_X86, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.type, IQ_DEV_LSI53C895A);
    assert_int_equal(d.pci_sbdf, 0x28);
    assert_int_equal(d.nr_disks, 3);
    assert_string_equal(d.disks[0].path, "/a.img");
    assert_true(d.disks[0].readonly);
    assert_int_equal(d.disks[0].target, 0);
    assert_true(d.disks[1].null_backend);
    assert_int_equal(d.disks[1].null_size, 1u << 20);
    assert_false(d.disks[1].readonly);
    assert_int_equal(d.disks[1].target, 1);
    assert_int_equal(d.disks[1].lun, 3);
    assert_int_equal(d.disks[2].target, 6);
    assert_int_equal(d.disks[2].lun, 0);
    iq_dev_spec_fini(&d);
    assert_int_equal(d.nr_disks, 0);
    /* Segment and function. */
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=0001:02:1f.7,"
                                            "disk=/a",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     0);
    assert_int_equal(d.pci_sbdf, 0x102ffu);
    iq_dev_spec_fini(&d);
    /* Errors. */
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:05.0,"
                                            "disk=/a",
                                            IQ_ARCH_ARM, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "x86 guests only");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,disk=/a",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "missing bdf=");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:05.0",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "missing disk=");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:20.0,"
                                            "disk=/a",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "bad bdf");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:05.0,"
                                            "target=1,disk=/a",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "follow a disk=");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:05.0,"
                                            "disk=/a,target=7",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "bad target");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:05.0,"
                                            "disk=/a,disk=/b,target=0",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "target 0 lun 0 given twice");
    assert_int_equal(iq_daemon_parse_device("lsi53c895a,bdf=00:05.0,"
                                            "disk=/a,base=0x1000",
                                            IQ_ARCH_X86, &d, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "unknown key 'base'");

    /* Validation: x86 only; no MMIO/IRQ clash with virtio devices. */
    iq_daemon_config_init(&cfg);
    cfg.domid = 4;
    cfg.arch = IQ_ARCH_X86;
    add_ok(&cfg, "lsi53c895a,bdf=00:05.0,disk=/a");
    add_ok(&cfg, "virtio-rng,base=0x0,irq=5");
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)), 0);
    add_ok(&cfg, "lsi53c895a,bdf=0:5.0,disk=/b");
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "PCI address already used by device 0");
    cfg.nr_devs--;
    iq_dev_spec_fini(&cfg.devs[cfg.nr_devs]);
    cfg.arch = IQ_ARCH_ARM;
    assert_int_equal(iq_daemon_config_validate(&cfg, err, sizeof(err)),
                     -EINVAL);
    assert_err_has(err, "x86 guests only");
    iq_daemon_config_fini(&cfg);
}

static void
test_device_vhost_user(void **state)
{
    static const struct bad_case bad[] = {
        {"vhost-user,base=0x2000000,irq=33,socket=/s", IQ_ARCH_ARM,
         "missing type="},
        {"vhost-user,base=0x2000000,irq=33,type=blk", IQ_ARCH_ARM,
         "missing socket="},
        {"vhost-user,base=0x2000000,irq=33,type=disk,socket=/s", IQ_ARCH_ARM,
         "bad type 'disk'"},
        {"vhost-user,base=0x2000000,irq=33,type=256,socket=/s", IQ_ARCH_ARM,
         "bad type '256'"},
        {"vhost-user,base=0x2000000,irq=33,type=blk,socket=/s,mode=copy",
         IQ_ARCH_ARM, "bad mode 'copy'"},
        {"vhost-user,base=0x2000000,irq=33,type=fs,socket=/s,"
         "tag=0123456789012345678901234567890123456",
         IQ_ARCH_ARM, "tag longer than 36 bytes"},
        {"vhost-user,base=0x2000000,irq=33,type=blk,socket=/s,shadow=1K",
         IQ_ARCH_ARM, "bad shadow size"},
        {"vhost-user,base=0x2000000,irq=33,type=blk,socket=/s,file=/x",
         IQ_ARCH_ARM, "unknown key 'file' for vhost-user"},
    };
    struct iq_dev_spec d;
    ERRBUF;

    (void)state;
    assert_int_equal(
        iq_daemon_parse_device("vhost-user,base=0x2000000,irq=33,type=blk,"
                               "socket=/run/qsd.sock,mode=mmap,queues=2",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.type, IQ_DEV_VHOST_USER);
    assert_int_equal(d.vu_device_id, 2);
    assert_string_equal(d.vu_socket, "/run/qsd.sock");
    assert_true(d.vu_mmap);
    assert_int_equal(d.queues, 2);
    assert_int_equal(d.vu_shadow, 0);
    iq_dev_spec_fini(&d);
    assert_null(d.vu_socket);

    assert_int_equal(
        iq_daemon_parse_device("vhost-user,base=0x2000200,irq=34,type=fs,"
                               "socket=/s,tag=share,shadow=8M",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.vu_device_id, 26);
    assert_false(d.vu_mmap); /* shadow is the default */
    assert_string_equal(d.vu_tag, "share");
    assert_int_equal(d.vu_shadow, 8u << 20);
    iq_dev_spec_fini(&d);

    assert_int_equal(
        iq_daemon_parse_device("vhost-user,base=0x2000200,irq=34,type=net,"
                               "socket=/s",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.vu_device_id, 1);
    iq_dev_spec_fini(&d);
    assert_int_equal(
        iq_daemon_parse_device("vhost-user,base=0x2000200,irq=34,type=gpu,"
                               "socket=/s",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.vu_device_id, 16);
    iq_dev_spec_fini(&d);
    assert_int_equal(
        iq_daemon_parse_device("vhost-user,base=0x2000200,irq=34,type=0x2a,"
                               "socket=/s,mode=shadow",
                               IQ_ARCH_ARM, &d, err, sizeof(err)),
        0);
    assert_int_equal(d.vu_device_id, 42);
    iq_dev_spec_fini(&d);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (iq_daemon_parse_device(bad[i].spec, bad[i].arch, &d, err,
                                   sizeof(err)) != -EINVAL) {
            fail_msg("case %zu '%s' not rejected", i, bad[i].spec);
        }
        assert_err_has(err, bad[i].msg);
        assert_null(d.vu_socket);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_device_blk_full),
        cmocka_unit_test(test_device_rng_console),
        cmocka_unit_test(test_device_grants),
        cmocka_unit_test(test_device_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_too_many_devices),
        cmocka_unit_test(test_parse_text),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_args_config_file),
        cmocka_unit_test(test_device_lsi),
        cmocka_unit_test(test_device_vhost_user),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
