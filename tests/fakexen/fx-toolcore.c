/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake libxentoolcore.so.1: the registry of open library handles and
 * xentoolcore_restrict_all, which restricts (or, for xenstore, neuters)
 * every registered handle as the real library does. The registry is
 * process-global by nature of this API.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <xentoolcore.h>

#include "fakexen-proto.h"

struct fx_registry {
    pthread_mutex_t lock;
    struct fx_active_handle *head;
};

static struct fx_registry *
registry(void)
{
    static struct fx_registry reg = {PTHREAD_MUTEX_INITIALIZER, NULL};

    return &reg;
}

void
xentoolcore__register_active_handle(struct fx_active_handle *ah)
{
    struct fx_registry *r = registry();

    pthread_mutex_lock(&r->lock);
    ah->prev = NULL;
    ah->next = r->head;
    if (r->head != NULL) {
        r->head->prev = ah;
    }
    r->head = ah;
    pthread_mutex_unlock(&r->lock);
}

void
xentoolcore__deregister_active_handle(struct fx_active_handle *ah)
{
    struct fx_registry *r = registry();

    pthread_mutex_lock(&r->lock);
    if (ah->prev != NULL) {
        ah->prev->next = ah->next;
    } else if (r->head == ah) {
        r->head = ah->next;
    }
    if (ah->next != NULL) {
        ah->next->prev = ah->prev;
    }
    ah->next = NULL;
    ah->prev = NULL;
    pthread_mutex_unlock(&r->lock);
}

int
xentoolcore__restrict_by_dup2_null(int fd)
{
    int nullfd;
    int r;

    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        return -1;
    }
    r = dup2(nullfd, fd);
    close(nullfd);
    return r < 0 ? -1 : 0;
}

int
xentoolcore_restrict_all(domid_t domid)
{
    struct fx_registry *reg = registry();
    struct fx_active_handle *ah;
    struct fx_conn c;
    struct fx_msg m;
    int r = 0;

    pthread_mutex_lock(&reg->lock);
    for (ah = reg->head; ah != NULL && r == 0; ah = ah->next) {
        r = ah->restrict_callback(ah, domid);
    }
    pthread_mutex_unlock(&reg->lock);
    if (r < 0) {
        return -1;
    }
    /* Count the call in the simulator (best effort). */
    if (iq_fx_conn_open(&c, FX_KIND_TOOLCORE, NULL, NULL) == 0) {
        memset(&m, 0, sizeof(m));
        m.op = FX_OP_RESTRICT_ALL;
        m.a[0] = domid;
        (void)iq_fx_call_simple(&c, &m);
        iq_fx_conn_close(&c);
    }
    return 0;
}
