/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake Xen: simulator internals shared by iq-sim.c and sim-xs.c.
 * Everything here is protected by iq_sim.lock unless said otherwise.
 */
#ifndef IQ_TESTS_FAKEXEN_SIM_PRIV_H
#define IQ_TESTS_FAKEXEN_SIM_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

#include "fakexen-proto.h"
#include "iq-sim.h"

struct iq_sim;

/* epoll tag: which fd of a connection became readable. */
struct sim_ep {
    struct sim_conn *conn;
    int which; /* 0 control socket, 1 event socket */
};

struct sim_conn {
    struct sim_conn *next;
    int fd; /* control socket */
    int evfd; /* sim end of the evtchn/xs event socketpair */
    int kind; /* enum fx_kind, 0 before HELLO */
    bool dead; /* dropped; freed after the epoll batch */
    uint32_t senders; /* vCPUs sending on evfd outside the lock */
    bool bye; /* released by FX_OP_BYE, only the fds remain */
    struct sim_ep ep_ctl;
    struct sim_ep ep_ev;
};

struct sim_range {
    uint32_t type; /* XEN_DMOP_IO_RANGE_* */
    uint64_t start;
    uint64_t end; /* inclusive */
};

struct sim_server {
    bool used;
    bool enabled;
    int bufioreq;
    uint32_t gen; /* bumped on create and destroy (atomic) */
    shared_iopage_t *iopage;
    buffered_iopage_t *bufpage;
    int io_fd;
    int buf_fd;
    uint32_t *gports; /* guest port per vCPU */
    uint32_t buf_gport;
    struct sim_range *ranges;
    unsigned nranges;
};

struct sim_gport {
    bool used;
    int16_t server;
    int16_t vcpu; /* -1: buffered */
    uint32_t local; /* bound local port or 0 */
};

struct sim_lport {
    struct sim_conn *conn; /* NULL: free */
    uint32_t gport; /* 0 after the remote end went away */
};

struct sim_line {
    uint32_t key;
    unsigned level;
    uint64_t edges;
};

struct sim_msi {
    uint64_t addr;
    uint32_t data;
    uint64_t count;
};

struct sim_xs;

struct iq_sim {
    struct iq_sim_config cfg;
    struct fx_layout lay;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* irq/xenstore changes */

    int ram_fd;
    uint8_t *ram;
    size_t ram_len;
    int sh_fd;
    struct fx_shared *sh;

    int listen_fd;
    int ep_fd;
    int wake_fd;
    bool thread_started;
    pthread_t thread;
    char path[108];
    char dir[96];
    uint8_t *rxbuf;
    uint8_t *txbuf;
    struct sim_ep ep_listen;
    struct sim_ep ep_wake;

    struct sim_conn *conns;
    struct sim_server srv[FX_MAX_SERVERS];
    struct sim_gport gport[FX_MAX_PORTS];
    struct sim_lport lport[FX_MAX_PORTS];
    uint8_t *vcpu_busy; /* atomic flags, one per vCPU */
    uint32_t dead; /* atomic */

    struct sim_line *lines;
    size_t nlines;
    struct sim_msi *msis;
    size_t nmsis;

    void **grave; /* retired server pages, unmapped at destroy */
    size_t ngrave;

    struct {
        uint64_t gfn;
        bool readonly;
        bool valid;
    } * grants;
    size_t ngrants; /* capacity, indexed by ref */

    struct sim_xs *xs;

    uint64_t handles_open;
    uint64_t dm_op_calls;
    uint64_t irq_calls;
    uint64_t restrict_calls;
    uint64_t ioreqs_sent; /* atomic */
    uint64_t ioreqs_buffered;
};

/* sim-xs.c */
int iq_sim_xs_init(struct iq_sim *sim);
void iq_sim_xs_fini(struct iq_sim *sim);
/* Handle one FX_OP_XS_* request; fills the reply payload. */
int iq_sim_xs_request(struct iq_sim *sim, struct sim_conn *c,
                      const struct fx_msg *m, const char *payload, size_t plen,
                      char *out, size_t ocap, size_t *olen);
void iq_sim_xs_conn_gone(struct iq_sim *sim, struct sim_conn *c);
int iq_sim_xs_write_locked(struct iq_sim *sim, const char *path,
                           const char *value, size_t len);
int iq_sim_xs_rm_locked(struct iq_sim *sim, const char *path);
char *iq_sim_xs_read_locked(struct iq_sim *sim, const char *path);
void iq_sim_xs_fire_special(struct iq_sim *sim, const char *name);

#endif /* IQ_TESTS_FAKEXEN_SIM_PRIV_H */
