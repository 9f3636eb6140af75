/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ioreqd configuration: command line, config file and device specs.
 *
 * Pure parsing and validation: no Xen, no device objects, no I/O except
 * reading the config file. Every function reports a problem as one line
 * (without a trailing newline) in the caller's error buffer and returns a
 * negative errno; the caller (main) prints it and exits with status 2.
 *
 * Device spec syntax (one --device option or `device =` line each):
 *   virtio-blk,base=ADDR,irq=N,file=PATH[,ro][,serial=S][,queues=Q]
 *              [,cache=writeback|none][,engine=uring|threads][,grants]
 *     file=null:SIZE selects the null backend (reads zeroes).
 *   virtio-rng,base=ADDR,irq=N[,grants]
 *   virtio-console,base=ADDR,irq=N[,backend=pty|file:PATH|socket:PATH]
 *              [,grants]
 *     grants: offer VIRTIO_F_ACCESS_PLATFORM; the guest then passes grant
 *     references (bit 63 set) as DMA addresses.
 *   lsi53c895a,bdf=[SEG:]BUS:DEV.FN,disk=PATH|null:SIZE[,ro][,target=N]
 *              [,lun=L][,disk=...]...   (x86 only)
 *     Each disk= starts a disk; the ro, target= and lun= after it apply to
 *     it. target defaults to the previous disk's target + 1 (first: 0),
 *     lun to 0; a (target, lun) pair may appear once.
 *   vhost-user,base=ADDR,irq=N,type=blk|fs|net|gpu|ID,socket=PATH
 *              [,mode=shadow|mmap][,queues=Q][,tag=FSTAG][,shadow=SIZE]
 *              [,ro]   (ro: type=blk only)
 * Numbers are decimal or 0x-prefixed hex; sizes take a K/M/G suffix.
 */
#ifndef IQ_DAEMON_CONFIG_H
#define IQ_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioreqd/compiler.h"
#include "ioreqd/types.h"

/* Most devices one daemon serves. */
#define IQ_DAEMON_MAX_DEVICES 32u
/* MMIO window each virtio-mmio device takes (libxl: 0x200). */
#define IQ_DAEMON_DEV_WINDOW 0x200u
/* virtio-blk serial: at most 20 bytes (virtio 1.2 section 5.2.6). */
#define IQ_DAEMON_SERIAL_MAX 20u
#define IQ_DAEMON_MAX_QUEUES 16u
/* Default mapcache cap and bucket (1 MiB). */
#define IQ_DAEMON_DEFAULT_MC (64ull << 20)
#define IQ_DAEMON_DEFAULT_BUCKET (1ull << 20)
/* Error buffer size that is always large enough. */
#define IQ_DAEMON_ERR_LEN 512u

enum iq_dev_type {
    IQ_DEV_VIRTIO_BLK = 0,
    IQ_DEV_VIRTIO_RNG,
    IQ_DEV_VIRTIO_CONSOLE,
    IQ_DEV_VHOST_USER,
    IQ_DEV_LSI53C895A,
    IQ_DEV_TYPE_COUNT,
};

enum iq_blk_cache {
    IQ_BLK_CACHE_WRITEBACK = 0,
    IQ_BLK_CACHE_NONE, /* O_DIRECT */
};

enum iq_blk_engine {
    IQ_BLK_ENGINE_AUTO = 0, /* io_uring when available */
    IQ_BLK_ENGINE_URING,
    IQ_BLK_ENGINE_THREADS,
};

enum iq_con_backend {
    IQ_CON_PTY = 0,
    IQ_CON_FILE,
    IQ_CON_SOCKET,
};

/* lsi53c895a: disks per controller (7 targets x 8 LUNs are addressable). */
#define IQ_DAEMON_LSI_MAX_DISKS 16u

/* One disk of an lsi53c895a: disk=PATH|null:SIZE[,ro][,target=N][,lun=L]. */
struct iq_lsi_disk_spec {
    char *path; /* malloc'ed; NULL for the null backend */
    bool null_backend;
    uint64_t null_size;
    bool readonly;
    uint8_t target; /* 0..6 */
    uint8_t lun; /* 0..7 */
};

struct iq_dev_spec {
    enum iq_dev_type type;
    uint64_t base;
    uint32_t irq;
    /* virtio-blk/-rng/-console: offer ACCESS_PLATFORM (grant DMA). */
    bool grants;
    /* virtio-blk */
    char *file; /* malloc'ed; NULL for the null backend */
    bool null_backend;
    uint64_t null_size;
    bool readonly;
    char serial[IQ_DAEMON_SERIAL_MAX + 1];
    unsigned queues; /* 1.. IQ_DAEMON_MAX_QUEUES */
    enum iq_blk_cache cache;
    enum iq_blk_engine engine;
    /* virtio-console */
    enum iq_con_backend con_backend;
    char *con_path; /* malloc'ed; file: or socket: path */
    uint64_t con_maxsize; /* file: size cap in bytes; 0: default (16 MiB) */
    /* vhost-user */
    uint32_t vu_device_id; /* virtio device id from type= */
    char *vu_socket; /* malloc'ed */
    bool vu_mmap; /* mode=mmap (default shadow) */
    char vu_tag[37]; /* virtio-fs tag (at most 36 bytes) */
    uint64_t vu_shadow; /* shadow pool bytes; 0: default */
    /* lsi53c895a (x86 only; no base/irq: a PCI function at pci_sbdf) */
    uint32_t pci_sbdf; /* seg<<16 | bus<<8 | dev<<3 | fn */
    unsigned nr_disks;
    struct iq_lsi_disk_spec disks[IQ_DAEMON_LSI_MAX_DISKS];
};

struct iq_daemon_config {
    int domid; /* -1 until given */
    enum iq_arch arch;
    bool pvh;
    uint64_t mapcache_size;
    uint64_t mapcache_bucket; /* power of two, 4 KiB .. 16 MiB */
    int log_level;
    bool use_syslog;
    bool foreground;
    char *pidfile; /* malloc'ed or NULL */
    /* --vhost-mode: xenstore disks bridged to a vhost-user socket. */
    bool vhost_mmap;
    unsigned nr_devs;
    struct iq_dev_spec devs[IQ_DAEMON_MAX_DEVICES];
};

/* What main should do after iq_daemon_parse_args(). */
enum iq_daemon_action {
    IQ_DAEMON_RUN = 0,
    IQ_DAEMON_HELP,
    IQ_DAEMON_VERSION,
};

/* Defaults: no domid, host arch, 64 MiB mapcache, notice level. */
void iq_daemon_config_init(struct iq_daemon_config *cfg);
/* Free the strings. Accepts NULL; leaves cfg re-initialised. */
void iq_daemon_config_fini(struct iq_daemon_config *cfg);

/* "virtio-blk" etc. for messages and log context. */
const char *iq_dev_type_name(enum iq_dev_type t);

/*
 * Parse an unsigned number (decimal or 0x hex; no sign, no trailing text).
 * 0 or -EINVAL / -ERANGE.
 */
IQ_MUST_CHECK int iq_daemon_parse_u64(const char *s, uint64_t *out);
/* A size with an optional K/M/G suffix (binary units). 0 or -EINVAL/-ERANGE. */
IQ_MUST_CHECK int iq_daemon_parse_size(const char *s, uint64_t *out);

/*
 * Parse one device spec into *dev (which it initialises; free with
 * iq_dev_spec_fini). Checks syntax and per-device ranges (queues, serial
 * length, IRQ range for `arch`); cross-device checks are in validate.
 */
IQ_MUST_CHECK int iq_daemon_parse_device(const char *spec, enum iq_arch arch,
                                         struct iq_dev_spec *dev, char *err,
                                         size_t err_len);
void iq_dev_spec_fini(struct iq_dev_spec *dev);

/*
 * Append a device spec to cfg (-E2BIG beyond IQ_DAEMON_MAX_DEVICES). The
 * IRQ is only checked against 0..1019 here, since --arch may come later on
 * the command line; iq_daemon_config_validate() checks the final arch.
 */
IQ_MUST_CHECK int iq_daemon_config_add_device(struct iq_daemon_config *cfg,
                                              const char *spec, char *err,
                                              size_t err_len);

/*
 * Parse config-file text (lines `key = value`, `#` comments, blank lines).
 * Keys: device, domid, mapcache-size, mapcache-bucket, log-level, arch,
 * pidfile. `name` is used in messages ("name:LINE: ...").
 */
IQ_MUST_CHECK int iq_daemon_config_parse_text(struct iq_daemon_config *cfg,
                                              const char *text,
                                              const char *name, char *err,
                                              size_t err_len);
/* Read and parse a config file. */
IQ_MUST_CHECK int iq_daemon_config_parse_file(struct iq_daemon_config *cfg,
                                              const char *path, char *err,
                                              size_t err_len);

/*
 * Parse the command line (getopt_long; resets optind). Options are applied
 * in order: a later --domid overrides one from an earlier --config.
 * On success *action says whether to run or print help/version. Runs
 * iq_daemon_config_validate() when the action is IQ_DAEMON_RUN.
 */
IQ_MUST_CHECK int iq_daemon_parse_args(struct iq_daemon_config *cfg, int argc,
                                       char **argv,
                                       enum iq_daemon_action *action, char *err,
                                       size_t err_len);

/*
 * Cross-checks: domid given, at least one device, MMIO windows disjoint,
 * IRQs distinct and in range for the arch, --pvh only on x86, mapcache cap
 * at least one bucket.
 */
IQ_MUST_CHECK int iq_daemon_config_validate(const struct iq_daemon_config *cfg,
                                            char *err, size_t err_len);

/* --vhost-mode value: "shadow" or "mmap". 0 or -EINVAL. */
IQ_MUST_CHECK int iq_daemon_parse_vhost_mode(const char *s, bool *mmap);

/* The usage text (for --help and after usage errors). */
const char *iq_daemon_usage(void);

#endif /* IQ_DAEMON_CONFIG_H */
