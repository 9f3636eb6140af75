/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libxenstore seam (include/ioreqd/xenstore.h). A struct iq_xenstore is
 * the library's own handle under another name, so the wrappers cost one
 * call each.
 */
#include <xenstore.h>

#include "ioreqd/xenstore.h"

static struct xs_handle *
h(struct iq_xenstore *xs)
{
    return (struct xs_handle *)(void *)xs;
}

struct iq_xenstore *
iq_xenstore_open(void)
{
    return (struct iq_xenstore *)(void *)xs_open(0);
}

void
iq_xenstore_close(struct iq_xenstore *xs)
{
    if (xs != NULL) {
        xs_close(h(xs));
    }
}

int
iq_xenstore_fileno(struct iq_xenstore *xs)
{
    return xs_fileno(h(xs));
}

void *
iq_xenstore_read(struct iq_xenstore *xs, uint32_t t, const char *path,
                 unsigned int *len)
{
    return xs_read(h(xs), (xs_transaction_t)t, path, len);
}

bool
iq_xenstore_write(struct iq_xenstore *xs, uint32_t t, const char *path,
                  const void *data, unsigned int len)
{
    return xs_write(h(xs), (xs_transaction_t)t, path, data, len);
}

char **
iq_xenstore_directory(struct iq_xenstore *xs, uint32_t t, const char *path,
                      unsigned int *num)
{
    return xs_directory(h(xs), (xs_transaction_t)t, path, num);
}

bool
iq_xenstore_watch(struct iq_xenstore *xs, const char *path, const char *token)
{
    return xs_watch(h(xs), path, token);
}

bool
iq_xenstore_unwatch(struct iq_xenstore *xs, const char *path, const char *token)
{
    return xs_unwatch(h(xs), path, token);
}

char **
iq_xenstore_check_watch(struct iq_xenstore *xs)
{
    return xs_check_watch(h(xs));
}

uint32_t
iq_xenstore_transaction_start(struct iq_xenstore *xs)
{
    return (uint32_t)xs_transaction_start(h(xs));
}

bool
iq_xenstore_transaction_end(struct iq_xenstore *xs, uint32_t t, bool abort)
{
    return xs_transaction_end(h(xs), (xs_transaction_t)t, abort);
}

/* The constants the header mirrors. */
_Static_assert(IQ_XBT_NULL == XBT_NULL, "XBT_NULL");
_Static_assert(IQ_XS_WATCH_PATH == XS_WATCH_PATH, "XS_WATCH_PATH");
_Static_assert(IQ_XS_WATCH_TOKEN == XS_WATCH_TOKEN, "XS_WATCH_TOKEN");
