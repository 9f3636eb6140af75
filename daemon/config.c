/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command line, config file and device-spec parsing (see config.h).
 * Nothing here touches Xen or creates devices, so it is unit-tested alone.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ioreqd/err.h"
#include "ioreqd/log.h"

/* Largest config file we read (it is a few lines in practice). */
#define CONFIG_FILE_MAX (1u << 20)
/* Largest null-backend disk: 2^60 bytes keeps sector maths far from 2^64. */
#define NULL_SIZE_MAX (1ull << 60)
#define BUCKET_MIN (1ull << 12)
#define BUCKET_MAX (1ull << 24)

static void seterr(char *err, size_t err_len, const char *fmt, ...)
    IQ_PRINTF(3, 4);

static void
seterr(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static const char *const type_names[IQ_DEV_TYPE_COUNT] = {
    [IQ_DEV_VIRTIO_BLK] = "virtio-blk",
    [IQ_DEV_VIRTIO_RNG] = "virtio-rng",
    [IQ_DEV_VIRTIO_CONSOLE] = "virtio-console",
    [IQ_DEV_VHOST_USER] = "vhost-user",
    [IQ_DEV_LSI53C895A] = "lsi53c895a",
};

const char *
iq_dev_type_name(enum iq_dev_type t)
{
    if ((unsigned)t >= IQ_DEV_TYPE_COUNT) {
        return "unknown";
    }
    return type_names[t];
}

static enum iq_arch
host_arch(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return IQ_ARCH_X86;
#else
    return IQ_ARCH_ARM;
#endif
}

void
iq_daemon_config_init(struct iq_daemon_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->domid = -1;
    cfg->arch = host_arch();
    cfg->mapcache_size = IQ_DAEMON_DEFAULT_MC;
    cfg->mapcache_bucket = IQ_DAEMON_DEFAULT_BUCKET;
    cfg->log_level = IQ_LOG_NOTICE;
    cfg->foreground = true;
}

void
iq_dev_spec_fini(struct iq_dev_spec *dev)
{
    if (dev == NULL) {
        return;
    }
    free(dev->file);
    free(dev->con_path);
    free(dev->vu_socket);
    for (unsigned i = 0; i < dev->nr_disks && i < IQ_DAEMON_LSI_MAX_DISKS;
         i++) {
        free(dev->disks[i].path);
        dev->disks[i].path = NULL;
    }
    dev->nr_disks = 0;
    dev->file = NULL;
    dev->con_path = NULL;
    dev->vu_socket = NULL;
}

void
iq_daemon_config_fini(struct iq_daemon_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (unsigned i = 0; i < cfg->nr_devs; i++) {
        iq_dev_spec_fini(&cfg->devs[i]);
    }
    free(cfg->pidfile);
    iq_daemon_config_init(cfg);
}

int
iq_daemon_parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s)) {
        return -EINVAL; /* rejects "", "-1", "+1", " 1" */
    }
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (errno != 0 || end == s || *end != '\0') {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int
iq_daemon_parse_size(const char *s, uint64_t *out)
{
    char buf[64];
    size_t len;
    unsigned shift = 0;
    uint64_t v;
    int rc;

    if (s == NULL) {
        return -EINVAL;
    }
    len = strlen(s);
    if (len == 0 || len >= sizeof(buf)) {
        return -EINVAL;
    }
    memcpy(buf, s, len + 1);
    switch (buf[len - 1]) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        break;
    }
    if (shift != 0) {
        buf[len - 1] = '\0';
    }
    rc = iq_daemon_parse_u64(buf, &v);
    if (rc < 0) {
        return rc;
    }
    if (shift != 0 && v > (UINT64_MAX >> shift)) {
        return -ERANGE;
    }
    *out = v << shift;
    return 0;
}

static int
irq_check(enum iq_arch arch, uint64_t irq, char *err, size_t err_len,
          const char *what)
{
    if (arch == IQ_ARCH_ARM && (irq < 32 || irq > 1019)) {
        seterr(err, err_len, "%s: irq %llu is not an Arm SPI (32..1019)", what,
               (unsigned long long)irq);
        return -EINVAL;
    }
    if (arch == IQ_ARCH_X86 && irq > 15) {
        seterr(err, err_len, "%s: irq %llu is not an x86 ISA IRQ (0..15)", what,
               (unsigned long long)irq);
        return -EINVAL;
    }
    return 0;
}

static int
set_string(char **dst, const char *src)
{
    char *s = strdup(src);

    if (s == NULL) {
        return -ENOMEM;
    }
    free(*dst);
    *dst = s;
    return 0;
}

static bool
key_allowed(enum iq_dev_type t, const char *key)
{
    static const char *const common_keys[] = {"base", "irq"};
    static const char *const blk_keys[] = {"file",   "ro",    "serial",
                                           "queues", "cache", "engine"};
    static const char *const con_keys[] = {"backend", "maxsize"};
    static const char *const vu_keys[] = {"type", "socket", "mode", "queues",
                                          "tag",  "shadow", "ro"};

    for (size_t i = 0; i < IQ_ARRAY_SIZE(common_keys); i++) {
        if (strcmp(key, common_keys[i]) == 0) {
            return true;
        }
    }
    if (strcmp(key, "grants") == 0) {
        return t == IQ_DEV_VIRTIO_BLK || t == IQ_DEV_VIRTIO_RNG ||
               t == IQ_DEV_VIRTIO_CONSOLE;
    }
    if (t == IQ_DEV_VIRTIO_BLK) {
        for (size_t i = 0; i < IQ_ARRAY_SIZE(blk_keys); i++) {
            if (strcmp(key, blk_keys[i]) == 0) {
                return true;
            }
        }
    }
    if (t == IQ_DEV_VIRTIO_CONSOLE) {
        for (size_t i = 0; i < IQ_ARRAY_SIZE(con_keys); i++) {
            if (strcmp(key, con_keys[i]) == 0) {
                return true;
            }
        }
    }
    if (t == IQ_DEV_VHOST_USER) {
        for (size_t i = 0; i < IQ_ARRAY_SIZE(vu_keys); i++) {
            if (strcmp(key, vu_keys[i]) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* vhost-user keys other than base, irq and queues (val is non-empty). */
static int
apply_vu_key(struct iq_dev_spec *dev, const char *key, const char *val,
             char *err, size_t err_len, const char *what)
{
    static const struct {
        const char *name;
        uint32_t id;
    } types[] = {{"net", 1}, {"blk", 2}, {"gpu", 16}, {"fs", 26}};
    uint64_t v;

    if (strcmp(key, "type") == 0) {
        for (size_t i = 0; i < IQ_ARRAY_SIZE(types); i++) {
            if (strcmp(val, types[i].name) == 0) {
                dev->vu_device_id = types[i].id;
                return 0;
            }
        }
        if (iq_daemon_parse_u64(val, &v) < 0 || v == 0 || v > 255) {
            seterr(err, err_len,
                   "%s: bad type '%s' (blk|fs|net|gpu or a virtio id 1..255)",
                   what, val);
            return -EINVAL;
        }
        dev->vu_device_id = (uint32_t)v;
        return 0;
    }
    if (strcmp(key, "socket") == 0) {
        if (strlen(val) >= 108) {
            seterr(err, err_len, "%s: socket path too long", what);
            return -EINVAL;
        }
        return set_string(&dev->vu_socket, val);
    }
    if (strcmp(key, "mode") == 0) {
        if (strcmp(val, "mmap") == 0) {
            dev->vu_mmap = true;
        } else if (strcmp(val, "shadow") == 0) {
            dev->vu_mmap = false;
        } else {
            seterr(err, err_len, "%s: bad mode '%s' (mmap|shadow)", what, val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "tag") == 0) {
        size_t n = strlen(val);

        if (n > 36) {
            seterr(err, err_len, "%s: tag longer than 36 bytes", what);
            return -EINVAL;
        }
        memcpy(dev->vu_tag, val, n + 1);
        return 0;
    }
    /* shadow */
    if (iq_daemon_parse_size(val, &v) < 0 || v < 4096 || v > (256u << 20)) {
        seterr(err, err_len, "%s: bad shadow size '%s' (4K..256M)", what, val);
        return -EINVAL;
    }
    dev->vu_shadow = v;
    return 0;
}

/* Apply one key=value (val NULL for a bare flag) to *dev. */
static int
apply_key(struct iq_dev_spec *dev, enum iq_arch arch, bool arch_known,
          const char *key, const char *val, char *err, size_t err_len,
          const char *what)
{
    uint64_t v;
    int rc;

    if (!key_allowed(dev->type, key)) {
        seterr(err, err_len, "%s: unknown key '%s' for %s", what, key,
               iq_dev_type_name(dev->type));
        return -EINVAL;
    }
    if (strcmp(key, "ro") == 0) {
        if (val != NULL && strcmp(val, "on") != 0 && strcmp(val, "1") != 0) {
            seterr(err, err_len, "%s: 'ro' takes no value", what);
            return -EINVAL;
        }
        dev->readonly = true;
        return 0;
    }
    if (strcmp(key, "grants") == 0) {
        if (val != NULL && strcmp(val, "on") != 0 && strcmp(val, "1") != 0) {
            seterr(err, err_len, "%s: 'grants' takes no value", what);
            return -EINVAL;
        }
        dev->grants = true;
        return 0;
    }
    if (val == NULL || *val == '\0') {
        seterr(err, err_len, "%s: key '%s' needs a value", what, key);
        return -EINVAL;
    }
    if (strcmp(key, "base") == 0) {
        uint64_t end;

        rc = iq_daemon_parse_u64(val, &v);
        if (rc < 0) {
            seterr(err, err_len, "%s: bad number '%s' for base", what, val);
            return -EINVAL;
        }
        if (v % IQ_DAEMON_DEV_WINDOW != 0 ||
            !iq_range_ok(v, IQ_DAEMON_DEV_WINDOW, &end)) {
            seterr(err, err_len,
                   "%s: base 0x%llx must be 0x%x-aligned and not wrap", what,
                   (unsigned long long)v, IQ_DAEMON_DEV_WINDOW);
            return -EINVAL;
        }
        dev->base = v;
        return 0;
    }
    if (strcmp(key, "irq") == 0) {
        rc = iq_daemon_parse_u64(val, &v);
        if (rc < 0) {
            seterr(err, err_len, "%s: bad number '%s' for irq", what, val);
            return -EINVAL;
        }
        /*
         * With no arch yet (a later --arch may change it) only the widest
         * range is checked here; validate() checks the final arch.
         */
        if (arch_known) {
            rc = irq_check(arch, v, err, err_len, what);
        } else if (v > 1019) {
            seterr(err, err_len, "%s: irq %llu out of range (0..1019)", what,
                   (unsigned long long)v);
            rc = -EINVAL;
        } else {
            rc = 0;
        }
        if (rc < 0) {
            return rc;
        }
        dev->irq = (uint32_t)v;
        return 0;
    }
    if (strcmp(key, "file") == 0) {
        if (strncmp(val, "null:", 5) == 0) {
            rc = iq_daemon_parse_size(val + 5, &v);
            if (rc < 0 || v == 0 || v % 512 != 0 || v > NULL_SIZE_MAX) {
                seterr(err, err_len,
                       "%s: bad null disk size '%s' (non-zero multiple of "
                       "512)",
                       what, val + 5);
                return -EINVAL;
            }
            free(dev->file);
            dev->file = NULL;
            dev->null_backend = true;
            dev->null_size = v;
            return 0;
        }
        dev->null_backend = false;
        return set_string(&dev->file, val);
    }
    if (strcmp(key, "serial") == 0) {
        size_t n = strlen(val);

        if (n > IQ_DAEMON_SERIAL_MAX) {
            seterr(err, err_len, "%s: serial longer than %u bytes", what,
                   IQ_DAEMON_SERIAL_MAX);
            return -EINVAL;
        }
        memcpy(dev->serial, val, n + 1);
        return 0;
    }
    if (strcmp(key, "queues") == 0) {
        rc = iq_daemon_parse_u64(val, &v);
        if (rc < 0 || v == 0 || v > IQ_DAEMON_MAX_QUEUES) {
            seterr(err, err_len, "%s: bad queues '%s' (1..%u)", what, val,
                   IQ_DAEMON_MAX_QUEUES);
            return -EINVAL;
        }
        dev->queues = (unsigned)v;
        return 0;
    }
    if (strcmp(key, "cache") == 0) {
        if (strcmp(val, "writeback") == 0) {
            dev->cache = IQ_BLK_CACHE_WRITEBACK;
        } else if (strcmp(val, "none") == 0) {
            dev->cache = IQ_BLK_CACHE_NONE;
        } else {
            seterr(err, err_len, "%s: bad cache '%s' (writeback|none)", what,
                   val);
            return -EINVAL;
        }
        return 0;
    }
    if (dev->type == IQ_DEV_VHOST_USER) {
        return apply_vu_key(dev, key, val, err, err_len, what);
    }
    if (strcmp(key, "engine") == 0) {
        if (strcmp(val, "uring") == 0) {
            dev->engine = IQ_BLK_ENGINE_URING;
        } else if (strcmp(val, "threads") == 0) {
            dev->engine = IQ_BLK_ENGINE_THREADS;
        } else {
            seterr(err, err_len, "%s: bad engine '%s' (uring|threads)", what,
                   val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "maxsize") == 0) {
        /* virtio-console file: backend: cap on the file's size. */
        rc = iq_daemon_parse_size(val, &v);
        if (rc < 0 || v == 0) {
            seterr(err, err_len, "%s: bad maxsize '%s' (bytes, K/M/G)", what,
                   val);
            return -EINVAL;
        }
        dev->con_maxsize = v;
        return 0;
    }
    /* backend (virtio-console) */
    if (strcmp(val, "pty") == 0) {
        dev->con_backend = IQ_CON_PTY;
        free(dev->con_path);
        dev->con_path = NULL;
        return 0;
    }
    if (strncmp(val, "file:", 5) == 0 && val[5] != '\0') {
        dev->con_backend = IQ_CON_FILE;
        return set_string(&dev->con_path, val + 5);
    }
    if (strncmp(val, "socket:", 7) == 0 && val[7] != '\0') {
        dev->con_backend = IQ_CON_SOCKET;
        return set_string(&dev->con_path, val + 7);
    }
    seterr(err, err_len, "%s: bad backend '%s' (pty|file:PATH|socket:PATH)",
           what, val);
    return -EINVAL;
}

/* [SEG:]BUS:DEV.FN in hex -> seg<<16 | bus<<8 | dev<<3 | fn. */
static int
parse_bdf(const char *s, uint32_t *out)
{
    unsigned long part[4];
    unsigned n = 0;
    const char *p = s;
    char *end;

    for (;;) {
        if (n == 4 || !isxdigit((unsigned char)*p)) {
            return -EINVAL;
        }
        part[n++] = strtoul(p, &end, 16);
        if (*end == ':') {
            p = end + 1;
            continue;
        }
        if (*end == '.') {
            p = end + 1;
            if (!isxdigit((unsigned char)*p)) {
                return -EINVAL;
            }
            part[n++] = strtoul(p, &end, 16);
            if (*end != '\0') {
                return -EINVAL;
            }
            break;
        }
        return -EINVAL;
    }
    if (n == 3) {
        part[3] = part[2];
        part[2] = part[1];
        part[1] = part[0];
        part[0] = 0;
    } else if (n != 4) {
        return -EINVAL;
    }
    if (part[0] > 0xffff || part[1] > 0xff || part[2] > 0x1f || part[3] > 7) {
        return -EINVAL;
    }
    *out = (uint32_t)(part[0] << 16 | part[1] << 8 | part[2] << 3 | part[3]);
    return 0;
}

/* The keys of an lsi53c895a spec after its type (see config.h). */
static int
parse_lsi(struct iq_dev_spec *dev, char **save, char *err, size_t err_len,
          const char *what)
{
    struct iq_lsi_disk_spec *d = NULL;
    bool have_bdf = false;
    char *tok;
    uint64_t v;

    while ((tok = strtok_r(NULL, ",", save)) != NULL) {
        char *eq = strchr(tok, '=');
        const char *val = eq != NULL ? eq + 1 : NULL;

        if (eq != NULL) {
            *eq = '\0';
        }
        if (strcmp(tok, "ro") == 0 && val == NULL && d != NULL) {
            d->readonly = true;
            continue;
        }
        if (val == NULL || *val == '\0') {
            seterr(err, err_len, "%s: key '%s' needs a value%s", what, tok,
                   strcmp(tok, "ro") == 0 ? " (ro follows a disk=)" : "");
            return -EINVAL;
        }
        if (strcmp(tok, "bdf") == 0) {
            if (parse_bdf(val, &dev->pci_sbdf) < 0) {
                seterr(err, err_len, "%s: bad bdf '%s' ([SEG:]BUS:DEV.FN)",
                       what, val);
                return -EINVAL;
            }
            have_bdf = true;
        } else if (strcmp(tok, "disk") == 0) {
            if (dev->nr_disks >= IQ_DAEMON_LSI_MAX_DISKS) {
                seterr(err, err_len, "%s: at most %u disks", what,
                       IQ_DAEMON_LSI_MAX_DISKS);
                return -E2BIG;
            }
            d = &dev->disks[dev->nr_disks];
            memset(d, 0, sizeof(*d));
            d->target =
                dev->nr_disks == 0
                    ? 0
                    : (uint8_t)(dev->disks[dev->nr_disks - 1].target + 1u);
            dev->nr_disks++;
            if (strncmp(val, "null:", 5) == 0) {
                if (iq_daemon_parse_size(val + 5, &d->null_size) < 0 ||
                    d->null_size == 0) {
                    seterr(err, err_len, "%s: bad null disk size '%s'", what,
                           val + 5);
                    return -EINVAL;
                }
                d->null_backend = true;
            } else if (set_string(&d->path, val) < 0) {
                return -ENOMEM;
            }
        } else if ((strcmp(tok, "target") == 0 || strcmp(tok, "lun") == 0) &&
                   d != NULL) {
            bool tgt = tok[0] == 't';

            if (iq_daemon_parse_u64(val, &v) < 0 || v > (tgt ? 6u : 7u)) {
                seterr(err, err_len, "%s: bad %s '%s' (0..%u)", what, tok, val,
                       tgt ? 6u : 7u);
                return -EINVAL;
            }
            if (tgt) {
                d->target = (uint8_t)v;
            } else {
                d->lun = (uint8_t)v;
            }
        } else {
            seterr(err, err_len, "%s: unknown key '%s' for lsi53c895a%s", what,
                   tok,
                   strcmp(tok, "target") == 0 || strcmp(tok, "lun") == 0
                       ? " (target= and lun= follow a disk=)"
                       : "");
            return -EINVAL;
        }
    }
    if (!have_bdf || dev->nr_disks == 0) {
        seterr(err, err_len, "%s: missing %s", what,
               !have_bdf ? "bdf=" : "disk=");
        return -EINVAL;
    }
    for (unsigned i = 0; i < dev->nr_disks; i++) {
        if (dev->disks[i].target > 6) {
            seterr(err, err_len, "%s: disk %u: no target ID left (0..6)", what,
                   i);
            return -EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (dev->disks[i].target == dev->disks[j].target &&
                dev->disks[i].lun == dev->disks[j].lun) {
                seterr(err, err_len, "%s: target %u lun %u given twice", what,
                       dev->disks[i].target, dev->disks[i].lun);
                return -EINVAL;
            }
        }
    }
    return 0;
}

static int
parse_device(const char *spec, enum iq_arch arch, bool arch_known,
             struct iq_dev_spec *dev, char *err, size_t err_len)
{
    char what[96];
    char *copy;
    char *save = NULL;
    char *tok;
    bool have_base = false;
    bool have_irq = false;
    bool found = false;
    int rc = 0;

    memset(dev, 0, sizeof(*dev));
    dev->queues = 1;
    if (spec == NULL || *spec == '\0') {
        seterr(err, err_len, "empty device spec");
        return -EINVAL;
    }
    snprintf(what, sizeof(what), "device '%.64s%s'", spec,
             strlen(spec) > 64 ? "..." : "");
    copy = strdup(spec);
    if (copy == NULL) {
        return -ENOMEM;
    }
    tok = strtok_r(copy, ",", &save);
    for (unsigned t = 0; tok != NULL && t < IQ_DEV_TYPE_COUNT; t++) {
        if (strcmp(tok, type_names[t]) == 0) {
            dev->type = (enum iq_dev_type)t;
            found = true;
        }
    }
    if (!found) {
        seterr(err, err_len,
               "%s: unknown device type '%s' (virtio-blk, virtio-rng, "
               "virtio-console, vhost-user, lsi53c895a)",
               what, tok != NULL ? tok : "");
        rc = -EINVAL;
        goto out;
    }
    if (dev->type == IQ_DEV_LSI53C895A) {
        if (arch_known && arch != IQ_ARCH_X86) {
            seterr(err, err_len,
                   "%s: lsi53c895a is a PCI device: x86 guests only", what);
            rc = -EINVAL;
            goto out;
        }
        rc = parse_lsi(dev, &save, err, err_len, what);
        goto out;
    }
    while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        const char *val = NULL;

        if (eq != NULL) {
            *eq = '\0';
            val = eq + 1;
        }
        if (*tok == '\0') {
            seterr(err, err_len, "%s: empty key", what);
            rc = -EINVAL;
            goto out;
        }
        rc = apply_key(dev, arch, arch_known, tok, val, err, err_len, what);
        if (rc < 0) {
            goto out;
        }
        if (strcmp(tok, "base") == 0) {
            have_base = true;
        } else if (strcmp(tok, "irq") == 0) {
            have_irq = true;
        }
    }
    if (!have_base || !have_irq) {
        seterr(err, err_len, "%s: missing %s", what,
               !have_base ? "base=" : "irq=");
        rc = -EINVAL;
        goto out;
    }
    if (dev->type == IQ_DEV_VIRTIO_BLK && dev->file == NULL &&
        !dev->null_backend) {
        seterr(err, err_len, "%s: missing file=", what);
        rc = -EINVAL;
        goto out;
    }
    if (dev->type == IQ_DEV_VHOST_USER &&
        (dev->vu_device_id == 0 || dev->vu_socket == NULL)) {
        seterr(err, err_len, "%s: missing %s", what,
               dev->vu_device_id == 0 ? "type=" : "socket=");
        rc = -EINVAL;
        goto out;
    }
    if (dev->type == IQ_DEV_VHOST_USER && dev->readonly &&
        dev->vu_device_id != 2) {
        seterr(err, err_len, "%s: 'ro' needs type=blk", what);
        rc = -EINVAL;
        goto out;
    }
out:
    free(copy);
    if (rc < 0) {
        iq_dev_spec_fini(dev);
    }
    return rc;
}

int
iq_daemon_parse_device(const char *spec, enum iq_arch arch,
                       struct iq_dev_spec *dev, char *err, size_t err_len)
{
    return parse_device(spec, arch, true, dev, err, err_len);
}

int
iq_daemon_config_add_device(struct iq_daemon_config *cfg, const char *spec,
                            char *err, size_t err_len)
{
    int rc;

    if (cfg->nr_devs >= IQ_DAEMON_MAX_DEVICES) {
        seterr(err, err_len, "too many devices (at most %u)",
               IQ_DAEMON_MAX_DEVICES);
        return -E2BIG;
    }
    rc = parse_device(spec, cfg->arch, false, &cfg->devs[cfg->nr_devs], err,
                      err_len);
    if (rc < 0) {
        return rc;
    }
    cfg->nr_devs++;
    return 0;
}

static int
parse_domid(const char *s, int *out)
{
    uint64_t v;

    /* DOMID_FIRST_RESERVED is 0x7ff0; dom0 cannot be served. */
    if (iq_daemon_parse_u64(s, &v) < 0 || v == 0 || v >= 0x7ff0) {
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int
parse_arch(const char *s, enum iq_arch *out)
{
    if (strcmp(s, "arm") == 0) {
        *out = IQ_ARCH_ARM;
    } else if (strcmp(s, "x86") == 0) {
        *out = IQ_ARCH_X86;
    } else {
        return -EINVAL;
    }
    return 0;
}

static int
parse_mc_size(const char *s, uint64_t *out)
{
    uint64_t v;

    if (iq_daemon_parse_size(s, &v) < 0 || v == 0 || v > SIZE_MAX) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int
parse_bucket(const char *s, uint64_t *out)
{
    uint64_t v;

    if (iq_daemon_parse_size(s, &v) < 0 || v < BUCKET_MIN || v > BUCKET_MAX ||
        (v & (v - 1)) != 0) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int
iq_daemon_parse_vhost_mode(const char *s, bool *mmap)
{
    if (s != NULL && strcmp(s, "shadow") == 0) {
        *mmap = false;
        return 0;
    }
    if (s != NULL && strcmp(s, "mmap") == 0) {
        *mmap = true;
        return 0;
    }
    return -EINVAL;
}

/* Keys shared by the config file and the long options. */
static int
apply_setting(struct iq_daemon_config *cfg, const char *key, const char *val,
              const char *where, char *err, size_t err_len)
{
    int rc;

    if (strcmp(key, "device") == 0) {
        char sub[IQ_DAEMON_ERR_LEN];

        rc = iq_daemon_config_add_device(cfg, val, sub, sizeof(sub));
        if (rc < 0) {
            seterr(err, err_len, "%s%s", where, sub);
        }
        return rc;
    }
    if (strcmp(key, "domid") == 0) {
        if (parse_domid(val, &cfg->domid) < 0) {
            seterr(err, err_len, "%sbad domid '%s' (1..32751)", where, val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "mapcache-size") == 0) {
        if (parse_mc_size(val, &cfg->mapcache_size) < 0) {
            seterr(err, err_len, "%sbad mapcache size '%s'", where, val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "mapcache-bucket") == 0) {
        if (parse_bucket(val, &cfg->mapcache_bucket) < 0) {
            seterr(err, err_len,
                   "%sbad mapcache bucket '%s' (power of two, 4K..16M)", where,
                   val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "log-level") == 0) {
        int l = iq_log_parse_level(val);

        if (l < 0) {
            seterr(err, err_len,
                   "%sbad log level '%s' (err|warning|notice|info|debug)",
                   where, val);
            return -EINVAL;
        }
        cfg->log_level = l;
        return 0;
    }
    if (strcmp(key, "arch") == 0) {
        if (parse_arch(val, &cfg->arch) < 0) {
            seterr(err, err_len, "%sbad arch '%s' (arm|x86)", where, val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "pidfile") == 0) {
        if (*val == '\0') {
            seterr(err, err_len, "%sempty pidfile", where);
            return -EINVAL;
        }
        return set_string(&cfg->pidfile, val);
    }
    seterr(err, err_len, "%sunknown key '%s'", where, key);
    return -EINVAL;
}

static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t' || *s == '\r') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

int
iq_daemon_config_parse_text(struct iq_daemon_config *cfg, const char *text,
                            const char *name, char *err, size_t err_len)
{
    char *copy = strdup(text);
    char *line;
    unsigned lineno = 0;
    int rc = 0;

    if (copy == NULL) {
        return -ENOMEM;
    }
    /* Split by hand (not strtok) so empty lines still count. */
    line = copy;
    while (line != NULL) {
        char *next = strchr(line, '\n');
        char *hash;
        char *eq;
        char *key;
        char *val;
        char where[128];

        if (next != NULL) {
            *next++ = '\0';
        }
        lineno++;
        hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        key = trim(line);
        if (*key != '\0') {
            snprintf(where, sizeof(where), "%.96s:%u: ", name, lineno);
            eq = strchr(key, '=');
            if (eq == NULL) {
                seterr(err, err_len, "%sexpected 'key = value'", where);
                rc = -EINVAL;
                break;
            }
            *eq = '\0';
            val = trim(eq + 1);
            key = trim(key);
            rc = apply_setting(cfg, key, val, where, err, err_len);
            if (rc < 0) {
                break;
            }
        }
        line = next;
    }
    free(copy);
    return rc;
}

int
iq_daemon_config_parse_file(struct iq_daemon_config *cfg, const char *path,
                            char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    char *buf;
    size_t n;
    int rc;

    if (f == NULL) {
        rc = IQ_NEG_ERRNO();
        seterr(err, err_len, "cannot open config file %s: %s", path,
               strerror(-rc));
        return rc;
    }
    buf = malloc(CONFIG_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        seterr(err, err_len, "cannot read config file %s", path);
        rc = -EIO;
    } else if (n > CONFIG_FILE_MAX) {
        seterr(err, err_len, "config file %s is larger than %u bytes", path,
               CONFIG_FILE_MAX);
        rc = -EFBIG;
    } else if (memchr(buf, '\0', n) != NULL) {
        seterr(err, err_len, "config file %s contains a NUL byte", path);
        rc = -EINVAL;
    } else {
        buf[n] = '\0';
        rc = iq_daemon_config_parse_text(cfg, buf, path, err, err_len);
    }
    free(buf);
    fclose(f);
    return rc;
}

int
iq_daemon_config_validate(const struct iq_daemon_config *cfg, char *err,
                          size_t err_len)
{
    if (cfg->domid < 0) {
        seterr(err, err_len, "--domid is required");
        return -EINVAL;
    }
    if (cfg->nr_devs == 0) {
        seterr(err, err_len, "no device given (use --device)");
        return -EINVAL;
    }
    if (cfg->pvh && cfg->arch != IQ_ARCH_X86) {
        seterr(err, err_len, "--pvh only applies to --arch x86");
        return -EINVAL;
    }
    if (cfg->mapcache_size < cfg->mapcache_bucket) {
        seterr(err, err_len,
               "mapcache size %llu is smaller than one bucket (%llu bytes)",
               (unsigned long long)cfg->mapcache_size,
               (unsigned long long)cfg->mapcache_bucket);
        return -EINVAL;
    }
    for (unsigned i = 0; i < cfg->nr_devs; i++) {
        const struct iq_dev_spec *a = &cfg->devs[i];
        char what[48];
        int rc;

        snprintf(what, sizeof(what), "device %u (%s)", i,
                 iq_dev_type_name(a->type));
        if (a->type == IQ_DEV_LSI53C895A) {
            /* A PCI function: no MMIO window or IRQ number of its own. */
            if (cfg->arch != IQ_ARCH_X86) {
                seterr(err, err_len,
                       "%s: lsi53c895a is a PCI device: x86 guests only", what);
                return -EINVAL;
            }
            for (unsigned j = 0; j < i; j++) {
                if (cfg->devs[j].type == IQ_DEV_LSI53C895A &&
                    cfg->devs[j].pci_sbdf == a->pci_sbdf) {
                    seterr(err, err_len,
                           "%s: PCI address already used by device %u", what,
                           j);
                    return -EINVAL;
                }
            }
            continue;
        }
        /* The arch may have changed after the device was parsed. */
        rc = irq_check(cfg->arch, a->irq, err, err_len, what);
        if (rc < 0) {
            return rc;
        }
        for (unsigned j = 0; j < i; j++) {
            const struct iq_dev_spec *b = &cfg->devs[j];

            if (b->type == IQ_DEV_LSI53C895A) {
                continue;
            }
            if (a->base < b->base + IQ_DAEMON_DEV_WINDOW &&
                b->base < a->base + IQ_DAEMON_DEV_WINDOW) {
                seterr(err, err_len,
                       "%s: MMIO range 0x%llx..0x%llx overlaps device %u "
                       "at 0x%llx",
                       what, (unsigned long long)a->base,
                       (unsigned long long)(a->base + IQ_DAEMON_DEV_WINDOW - 1),
                       j, (unsigned long long)b->base);
                return -EINVAL;
            }
            if (a->irq == b->irq) {
                seterr(err, err_len, "%s: irq %u already used by device %u",
                       what, a->irq, j);
                return -EINVAL;
            }
        }
    }
    return 0;
}

enum {
    OPT_DOMID = 256,
    OPT_DEVICE,
    OPT_CONFIG,
    OPT_MC_SIZE,
    OPT_MC_BUCKET,
    OPT_LOG_LEVEL,
    OPT_SYSLOG,
    OPT_ARCH,
    OPT_PVH,
    OPT_FOREGROUND,
    OPT_PIDFILE,
    OPT_HELP,
    OPT_VERSION,
    OPT_VHOST_MODE,
};

int
iq_daemon_parse_args(struct iq_daemon_config *cfg, int argc, char **argv,
                     enum iq_daemon_action *action, char *err, size_t err_len)
{
    static const struct option opts[] = {
        {"domid", required_argument, NULL, OPT_DOMID},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"mapcache-size", required_argument, NULL, OPT_MC_SIZE},
        {"mapcache-bucket", required_argument, NULL, OPT_MC_BUCKET},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"arch", required_argument, NULL, OPT_ARCH},
        {"pvh", no_argument, NULL, OPT_PVH},
        {"foreground", no_argument, NULL, OPT_FOREGROUND},
        {"pidfile", required_argument, NULL, OPT_PIDFILE},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"vhost-mode", required_argument, NULL, OPT_VHOST_MODE},
        {NULL, 0, NULL, 0},
    };
    int rc = 0;
    int c;

    *action = IQ_DAEMON_RUN;
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
        const char *key = NULL;

        switch (c) {
        case OPT_DOMID:
            key = "domid";
            break;
        case OPT_DEVICE:
            key = "device";
            break;
        case OPT_MC_SIZE:
            key = "mapcache-size";
            break;
        case OPT_MC_BUCKET:
            key = "mapcache-bucket";
            break;
        case OPT_LOG_LEVEL:
            key = "log-level";
            break;
        case OPT_ARCH:
            key = "arch";
            break;
        case OPT_PIDFILE:
            key = "pidfile";
            break;
        case OPT_CONFIG:
            rc = iq_daemon_config_parse_file(cfg, optarg, err, err_len);
            break;
        case OPT_SYSLOG:
            cfg->use_syslog = true;
            break;
        case OPT_PVH:
            cfg->pvh = true;
            break;
        case OPT_FOREGROUND:
            cfg->foreground = true;
            break;
        case OPT_VHOST_MODE:
            rc = iq_daemon_parse_vhost_mode(optarg, &cfg->vhost_mmap);
            if (rc < 0) {
                seterr(err, err_len,
                       "--vhost-mode: bad mode '%s' "
                       "(shadow|mmap)",
                       optarg);
            }
            break;
        case 'h':
        case OPT_HELP:
            *action = IQ_DAEMON_HELP;
            return 0;
        case 'V':
        case OPT_VERSION:
            *action = IQ_DAEMON_VERSION;
            return 0;
        case ':':
            seterr(err, err_len, "option '%s' needs an argument",
                   argv[optind - 1]);
            return -EINVAL;
        default:
            seterr(err, err_len, "unknown option '%s'",
                   optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            return -EINVAL;
        }
        if (key != NULL) {
            char where[64];

            snprintf(where, sizeof(where), "--%s: ", key);
            if (strcmp(key, "device") == 0) {
                where[0] = '\0';
            }
            rc = apply_setting(cfg, key, optarg, where, err, err_len);
        }
        if (rc < 0) {
            return rc;
        }
    }
    if (optind < argc) {
        seterr(err, err_len, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    return iq_daemon_config_validate(cfg, err, err_len);
}

const char *
iq_daemon_usage(void)
{
    return "Usage: ioreqd --domid N --device SPEC [--device SPEC ...] "
           "[options]\n"
           "       ioreqd --domid N --xenstore [options]\n"
           "       ioreqd --launcher [--ioreqd-path P] [--log-level L]\n"
           "                         [--vhost-mode M] [-- OPTIONS]\n"
           "\n"
           "Serve emulated devices (virtio-mmio, LSI 53C895A, vhost-user\n"
           "bridges) to Xen domain N as an IOREQ server.\n"
           "\n"
           "With --xenstore (or --domid without any --device) the domain's\n"
           "virtio disks are read from xenstore (libxl's virtio_disk\n"
           "backend) and the toolstack handshake is answered. --launcher\n"
           "watches xenstore and starts one 'ioreqd --domid N --xenstore'\n"
           "per new domain, passing OPTIONS after '--' on. A disk whose\n"
           "target is a Unix socket, or a regular file named\n"
           "*.vhost-user holding a socket path, is bridged to the\n"
           "vhost-user daemon listening there (type=blk).\n"
           "\n"
           "Options:\n"
           "  --domid N             guest domain to serve (required)\n"
           "  --device SPEC         add a device (repeatable, see below)\n"
           "  --config FILE         read 'key = value' lines (device, domid,\n"
           "                        mapcache-size, mapcache-bucket,\n"
           "                        log-level, arch, pidfile)\n"
           "  --mapcache-size SIZE  cap on guest memory mapped (default 64M)\n"
           "  --mapcache-bucket SIZE  mapping granule (default 1M, 4K..16M)\n"
           "  --log-level LEVEL     err|warning|notice|info|debug\n"
           "  --syslog              log to syslog instead of stderr\n"
           "  --arch arm|x86        guest architecture (default: host)\n"
           "  --pvh                 x86 PVH guest (no ISA IRQs)\n"
           "  --foreground          stay in the foreground (default)\n"
           "  --pidfile FILE        write the process id to FILE\n"
           "  --vhost-mode shadow|mmap  memory mode of the xenstore disks\n"
           "                        whose target is a vhost-user socket\n"
           "                        (default shadow)\n"
           "  --help, --version\n"
           "\n"
           "Device specs:\n"
           "  virtio-blk,base=ADDR,irq=N,file=PATH|null:SIZE[,ro]"
           "[,serial=S]\n"
           "             [,queues=Q][,cache=writeback|none]"
           "[,engine=uring|threads][,grants]\n"
           "  virtio-rng,base=ADDR,irq=N[,grants]\n"
           "  virtio-console,base=ADDR,irq=N"
           "[,backend=pty|file:PATH|socket:PATH][,maxsize=SIZE]\n"
           "             [,grants]\n"
           "  vhost-user,base=ADDR,irq=N,type=blk|fs|net|gpu|ID,"
           "socket=PATH\n"
           "             [,mode=shadow|mmap][,queues=Q][,tag=FSTAG]"
           "[,shadow=SIZE][,ro]\n"
           "  lsi53c895a,bdf=[SEG:]BUS:DEV.FN,disk=PATH|null:SIZE[,ro]"
           "[,target=N][,lun=L]\n"
           "             [,disk=PATH[,ro][,target=N][,lun=L]]...  (x86 only)\n"
           "             each disk= starts a disk; ro/target=/lun= after it\n"
           "             apply to it (target default: previous + 1, first\n"
           "             0; lun default 0; targets 0..6, luns 0..7)\n"
           "grants: offer VIRTIO_F_ACCESS_PLATFORM so the guest can use\n"
           "Xen grant DMA (grant references instead of guest addresses).\n"
           "Each virtio device takes 0x200 bytes of MMIO at base.\n"
           "Signals: SIGTERM/SIGINT/SIGHUP stop, SIGUSR1 logs statistics.\n";
}
