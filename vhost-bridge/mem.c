/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory descriptions for the bridge's mmap mode: Xen foreign regions
 * (production) and the fake Xen's RAM memfd (tests). No Xen headers: the
 * bridge only needs addresses, a domid and an fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ioreqd/err.h"
#include "ioreqd/vhost-bridge.h"
#include "vu-proto.h"

/*
 * Linux privcmd's IOCTL_PRIVCMD_RESTRICT (uapi xen/privcmd.h: 'P', 6, with
 * a domid_t argument), spelled out here: no Xen headers outside ioreq/ and
 * mapcache/.
 */
#define VB_PRIVCMD_RESTRICT _IOC(_IOC_NONE, 'P', 6, sizeof(uint16_t))

/* Arm guest RAM banks (Xen's public arch-arm.h layout). */
#define ARM_RAM0_BASE 0x40000000ull
#define ARM_RAM0_MAX (3ull << 30)
#define ARM_RAM1_BASE 0x200000000ull
/* x86: RAM0 from 0 up to 3 GiB, the rest above 4 GiB. */
#define X86_RAM0_MAX (3ull << 30)
#define X86_RAM1_BASE 0x100000000ull

/* The name the fake Xen simulator gives its guest RAM memfd. */
#define FAKE_RAM_LINK "/memfd:iq-sim-ram (deleted)"

int
iq_vhost_mem_fake_xen(enum iq_arch arch, struct iq_vhost_mem *mem)
{
    DIR *d;
    struct dirent *de;
    int found = -1;

    memset(mem, 0, sizeof(*mem));
    d = opendir("/proc/self/fd");
    if (d == NULL) {
        return IQ_NEG_ERRNO();
    }
    while ((de = readdir(d)) != NULL) {
        char path[64];
        char link[128];
        ssize_t n;
        char *end;
        long fd = strtol(de->d_name, &end, 10);

        if (*end != '\0' || fd < 0 || fd == dirfd(d)) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n <= 0) {
            continue;
        }
        link[n] = '\0';
        if (strcmp(link, FAKE_RAM_LINK) == 0) {
            found = (int)fd;
            break;
        }
    }
    closedir(d);
    if (found < 0) {
        return -ENOENT;
    }
    {
        struct stat st;

        if (fstat(found, &st) < 0 || st.st_size <= 0) {
            return -ENOENT;
        }
        mem->nr = 1;
        mem->r[0].gpa = arch == IQ_ARCH_ARM ? ARM_RAM0_BASE : 0;
        mem->r[0].size = (uint64_t)st.st_size;
        if (mem->r[0].size > ARM_RAM0_MAX) {
            mem->r[0].size = ARM_RAM0_MAX; /* RAM1 not described */
        }
        mem->r[0].fd = found;
        mem->r[0].fd_offset = 0;
    }
    mem->xen = false;
    return 0;
}

int
iq_vhost_mem_xen_layout(uint16_t domid, enum iq_arch arch, uint64_t ram_bytes,
                        int fd, struct iq_vhost_mem *mem)
{
    uint64_t ram0_max = arch == IQ_ARCH_ARM ? ARM_RAM0_MAX : X86_RAM0_MAX;
    uint64_t ram0 = ram_bytes < ram0_max ? ram_bytes : ram0_max;

    memset(mem, 0, sizeof(*mem));
    if (ram_bytes == 0 || (ram_bytes & 0xfff) != 0 ||
        ram_bytes > (1ull << 40)) {
        return -EINVAL;
    }
    mem->xen = true;
    mem->domid = domid;
    mem->nr = 1;
    mem->r[0].gpa = arch == IQ_ARCH_ARM ? ARM_RAM0_BASE : 0;
    mem->r[0].size = ram0;
    mem->r[0].fd = fd;
    if (ram_bytes > ram0) {
        mem->nr = 2;
        mem->r[1].gpa = arch == IQ_ARCH_ARM ? ARM_RAM1_BASE : X86_RAM1_BASE;
        mem->r[1].size = ram_bytes - ram0;
        mem->r[1].fd = fd;
    }
    return 0;
}

int
iq_vhost_privcmd_restrict(int fd, uint16_t domid)
{
    uint16_t d = domid;

    if (ioctl(fd, VB_PRIVCMD_RESTRICT, &d) < 0) {
        return IQ_NEG_ERRNO();
    }
    return 0;
}

int
iq_vhost_mem_xen(uint16_t domid, enum iq_arch arch, uint64_t ram_bytes,
                 struct iq_vhost_mem *mem)
{
    int fd;
    int ret;

    memset(mem, 0, sizeof(*mem));
    if (ram_bytes == 0 || (ram_bytes & 0xfff) != 0) {
        return -EINVAL;
    }
    fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return IQ_NEG_ERRNO();
    }
    /*
     * The daemon receives this fd (one per XEN_MMAP region). Unrestricted,
     * it would let the daemon issue any hypercall as dom0 and map every
     * domain's memory: restrict it to the guest, or send nothing.
     */
    ret = iq_vhost_privcmd_restrict(fd, domid);
    if (ret < 0) {
        close(fd);
        return ret;
    }
    ret = iq_vhost_mem_xen_layout(domid, arch, ram_bytes, fd, mem);
    if (ret < 0) {
        close(fd);
    }
    return ret;
}

void
iq_vhost_mem_close(struct iq_vhost_mem *mem)
{
    if (mem == NULL || !mem->xen || mem->nr == 0) {
        return;
    }
    iq_close_fd(&mem->r[0].fd);
    for (unsigned i = 1; i < mem->nr; i++) {
        mem->r[i].fd = -1;
    }
    mem->nr = 0;
}
