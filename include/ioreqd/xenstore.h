/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xenstore access (ioreq/xenstore.c), the seam through which daemon/ talks
 * to libxenstore without including Xen headers (STYLE.md section 2).
 *
 * The functions mirror libxenstore's: same arguments and ownership (strings
 * and vectors returned are malloc'ed, free() them as one block), same error
 * convention (NULL or false with errno set). Transactions are plain 32-bit
 * ids; IQ_XBT_NULL means "no transaction".
 *
 * A handle opened before xentoolcore_restrict_all() is disabled by it (as
 * the real library does: its socket is replaced with /dev/null). The daemon
 * therefore opens the handle it keeps for the toolstack handshake after it
 * has restricted every hypercall handle; xenstore access is mediated by
 * xenstored's own permissions, not by the restriction.
 */
#ifndef IQ_INCLUDE_XENSTORE_H
#define IQ_INCLUDE_XENSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

#define IQ_XBT_NULL 0u

/* Indices into the vector returned by iq_xenstore_check_watch(). */
#define IQ_XS_WATCH_PATH 0
#define IQ_XS_WATCH_TOKEN 1

struct iq_xenstore;

/* Connect to xenstored (socket or xenbus device). NULL with errno set. */
struct iq_xenstore *iq_xenstore_open(void);
/* Accepts NULL. */
void iq_xenstore_close(struct iq_xenstore *xs);
/* The fd that becomes readable when a watch event is queued. */
int iq_xenstore_fileno(struct iq_xenstore *xs);

void *iq_xenstore_read(struct iq_xenstore *xs, uint32_t t, const char *path,
                       unsigned int *len);
bool iq_xenstore_write(struct iq_xenstore *xs, uint32_t t, const char *path,
                       const void *data, unsigned int len);
char **iq_xenstore_directory(struct iq_xenstore *xs, uint32_t t,
                             const char *path, unsigned int *num);
bool iq_xenstore_watch(struct iq_xenstore *xs, const char *path,
                       const char *token);
bool iq_xenstore_unwatch(struct iq_xenstore *xs, const char *path,
                         const char *token);
/* Non-blocking: NULL with errno EAGAIN when no event is queued. */
char **iq_xenstore_check_watch(struct iq_xenstore *xs);
/* IQ_XBT_NULL with errno set on failure. */
uint32_t iq_xenstore_transaction_start(struct iq_xenstore *xs);
/* false with errno EAGAIN: the transaction raced and must be retried. */
bool iq_xenstore_transaction_end(struct iq_xenstore *xs, uint32_t t,
                                 bool abort);

#endif /* IQ_INCLUDE_XENSTORE_H */
