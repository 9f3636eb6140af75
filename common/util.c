/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small utilities shared by every layer. */
#include <errno.h>
#include <unistd.h>

#include "ioreqd/err.h"

void
iq_close_fd(int *fd)
{
    int saved = errno;

    if (fd != NULL && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    errno = saved;
}
