/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The three entry points of STYLE.md section 8: copy-in/copy-out across
 * buckets, a strict single-object pin, and a splitting scatter-gather
 * translator. Every gpa and len here is guest-controlled.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ioreqd/err.h"
#include "ioreqd/mapcache.h"
#include "mapcache-internal.h"

/*
 * Copy chunk by chunk, one entry at a time, through a temporary pin. The
 * cursors are byte pointers (STYLE.md section 12 item 5). On error the
 * bytes before the failing chunk may already have been copied.
 */
static int
copy(struct iq_mc *mc, gpa_t gpa, unsigned char *local, size_t len,
     bool to_guest)
{
    enum iq_mc_prot prot = to_guest ? IQ_MC_WRITE : IQ_MC_READ;
    size_t done = 0;
    int rc;

    if (len == 0) {
        return 0;
    }
    rc = iq_mc_check_range(gpa, len);
    if (rc < 0) {
        return rc;
    }
    while (done < len) {
        struct iq_mc_loc loc;
        struct iq_mc_entry *e;
        size_t chunk;
        void *hva;

        rc = iq_mc_locate(mc, gpa + done, prot, &loc);
        if (rc < 0) {
            return rc;
        }
        chunk = IQ_MIN(loc.room, len - done);
        rc = iq_mc_get(mc, &loc, chunk, &e, &hva);
        if (rc < 0) {
            return rc;
        }
        if (to_guest) {
            memcpy(hva, local + done, chunk);
        } else {
            memcpy(local + done, hva, chunk);
        }
        iq_mc_put(mc, e);
        done += chunk;
    }
    return 0;
}

int
iq_mc_read(struct iq_mc *mc, gpa_t gpa, void *buf, size_t len)
{
    return copy(mc, gpa, buf, len, false);
}

int
iq_mc_write(struct iq_mc *mc, gpa_t gpa, const void *buf, size_t len)
{
    /* The cast only drops const for the shared helper; buf is read. */
    return copy(mc, gpa, (unsigned char *)(uintptr_t)buf, len, true);
}

int
iq_mc_pin(struct iq_mc *mc, gpa_t gpa, size_t len, enum iq_mc_prot prot,
          struct iq_mc_ref *ref, void **hva)
{
    struct iq_mc_loc loc;
    struct iq_mc_entry *e;
    int rc;

    ref->entry = NULL;
    if (len == 0) {
        return -EINVAL;
    }
    rc = iq_mc_check_range(gpa, len);
    if (rc < 0) {
        return rc;
    }
    rc = iq_mc_locate(mc, gpa, prot, &loc);
    if (rc < 0) {
        return rc;
    }
    if (len > loc.room) {
        return -ERANGE;
    }
    rc = iq_mc_get(mc, &loc, len, &e, hva);
    if (rc < 0) {
        return rc;
    }
    ref->entry = e;
    return 0;
}

void
iq_mc_unpin(struct iq_mc *mc, struct iq_mc_ref *ref)
{
    if (ref == NULL || ref->entry == NULL) {
        return;
    }
    iq_mc_put(mc, ref->entry);
    ref->entry = NULL;
}

/* Number of entries [gpa, gpa + len) touches; len > 0, range checked. */
static int
count_entries(const struct iq_mc *mc, gpa_t gpa, size_t len,
              enum iq_mc_prot prot, uint64_t *count)
{
    struct iq_mc_loc first;
    struct iq_mc_loc last;
    int rc;

    rc = iq_mc_locate(mc, gpa, prot, &first);
    if (rc < 0) {
        return rc;
    }
    rc = iq_mc_locate(mc, gpa + (len - 1), prot, &last);
    if (rc < 0) {
        return rc;
    }
    *count = last.key - first.key + 1;
    return 0;
}

int
iq_mc_map_sg(struct iq_mc *mc, gpa_t gpa, size_t len, enum iq_mc_prot prot,
             struct iovec *iov, struct iq_mc_ref *refs, unsigned max,
             unsigned *n)
{
    uint64_t need;
    unsigned i;
    size_t done = 0;
    int rc;

    *n = 0;
    if (len == 0) {
        return 0;
    }
    rc = iq_mc_check_range(gpa, len);
    if (rc < 0) {
        return rc;
    }
    rc = count_entries(mc, gpa, len, prot, &need);
    if (rc < 0) {
        return rc;
    }
    if (need > max) {
        *n = need > UINT_MAX ? UINT_MAX : (unsigned)need;
        return -ENOBUFS;
    }
    /* One iovec per entry: the pages of one entry are contiguous. */
    for (i = 0; i < need; i++) {
        struct iq_mc_loc loc;
        struct iq_mc_entry *e;
        size_t chunk = 0;
        void *hva;

        rc = iq_mc_locate(mc, gpa + done, prot, &loc);
        if (rc == 0) {
            chunk = IQ_MIN(loc.room, len - done);
            rc = iq_mc_get(mc, &loc, chunk, &e, &hva);
        }
        if (rc < 0) {
            iq_mc_unmap_sg(mc, refs, i);
            return rc;
        }
        iov[i].iov_base = hva;
        iov[i].iov_len = chunk;
        refs[i].entry = e;
        done += chunk;
    }
    *n = i;
    return 0;
}

void
iq_mc_unmap_sg(struct iq_mc *mc, struct iq_mc_ref *refs, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        iq_mc_unpin(mc, &refs[i]);
    }
}
