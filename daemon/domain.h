/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One guest's object graph: loop, mapcache, IOREQ server, devices, signals.
 */
#ifndef IQ_DAEMON_DOMAIN_H
#define IQ_DAEMON_DOMAIN_H

#include <stddef.h>

#include "config.h"
#include "ioreqd/compiler.h"

struct iq_domain;

/*
 * Build everything for cfg->domid: loop, signalfd (the caller has blocked
 * SIGTERM, SIGINT, SIGHUP and SIGUSR1), mapcache over foreign mappings,
 * IOREQ server, every device with its MMIO region, then restrict the Xen
 * handles. On failure, everything built so far is torn down and one line is
 * left in err. `cfg` must outlive the domain.
 */
IQ_MUST_CHECK int iq_domain_create(const struct iq_daemon_config *cfg,
                                   struct iq_domain **out, char *err,
                                   size_t err_len);
/*
 * Run the loop until a stop signal or until the domain goes away.
 * Returns the process exit status (0: stopped cleanly, 1: loop failure).
 */
int iq_domain_run(struct iq_domain *d);
/* Log mapcache and ioreq statistics at `level`. */
void iq_domain_log_stats(const struct iq_domain *d, int level);
/*
 * Create device `i` of the configuration (appended after create; `i` must
 * equal the number of devices so far) and claim its MMIO window.
 */
IQ_MUST_CHECK int iq_domain_add_device(struct iq_domain *d, unsigned i,
                                       char *err, size_t err_len);
/* Unclaim device `i`'s window and destroy it (drains its I/O). */
void iq_domain_close_device(struct iq_domain *d, unsigned i);
struct iq_loop *iq_domain_loop(struct iq_domain *d);
/* Make iq_domain_run return 0. */
void iq_domain_stop(struct iq_domain *d);
/* Tear down in reverse order. Accepts NULL and partial state. */
void iq_domain_destroy(struct iq_domain *d);

#endif /* IQ_DAEMON_DOMAIN_H */
