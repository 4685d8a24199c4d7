/* sync.h: the store's side of SPEC section 6: the uploader that moves the
 * outbox to HQ, sets aside (quarantines) the events it cannot send, and
 * learns back each order's fate (sync_agent.c), and, in `corder serve
 * --hq`, the gate that makes a sync-mode order.create ask HQ in real time
 * without blocking the loop, plus the ops sync.run, sync.retry and
 * sync.quarantine (sync_gate.c). `corder sync` runs one round of the
 * uploader by itself (sync_main.c). */
#ifndef CORDER_SYNC_H
#define CORDER_SYNC_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"
#include "net/server.h"

/* Runs fn in a transaction (the server's batch, or one of its own). */
typedef int (*sync_write_fn)(void *ctx, int (*fn)(engine *e, void *arg, err_t *err), void *arg,
                             err_t *err);

/* What one round did: events sent and acknowledged, verdicts learnt,
 * events set aside (quarantined, of which conflicts) with the last one's
 * reason; ok false with error when HQ could not be reached or refused
 * for a reason that is not one event's (sync_agent.c). */
typedef struct {
    int64_t sent, acked, learned, quarantined, conflicts;
    bool ok;
    char error[256];
    char last_quarantined[256];
} sync_round;
typedef void (*sync_done_fn)(void *arg, const sync_round *r);

typedef struct {
    engine *e;
    struct event_base *base;
    const char *hq;    /* HOST:PORT[,HOST:PORT…] (uplink.h: tried in turn) */
    const char *token; /* --hq-token */
    const char *hq_ca; /* --hq-ca: TLS to HQ (SPEC C3); NULL: plain TCP */
    sync_write_fn write;
    void *write_ctx;
    bool background;    /* serve: upload by itself, back off, poll HQ's verdicts */
    int master_poll_ms; /* sync_master: between two asks of HQ's master data (0: 3,000) */
} sync_agent_config;

typedef struct sync_agent sync_agent;

sync_agent *sync_agent_new(const sync_agent_config *cfg, err_t *err);
void sync_agent_free(sync_agent *a);
/* Starts a round now (or joins the one running): uploads everything queued
 * and asks HQ about unsettled orders. done runs from the loop, later. */
void sync_agent_run(sync_agent *a, sync_done_fn done, void *arg);

/* `serve --hq`: HQ's master data followed (sync_master.c, SPEC C4): asked
 * for at start and every few seconds, each page applied in one write
 * (cfg.write), on a connection of its own. */
typedef struct sync_master sync_master;
sync_master *sync_master_new(const sync_agent_config *cfg, err_t *err);
void sync_master_free(sync_master *m);

/* `serve --hq`: the uploader in the background, the real-time create gate
 * and sync.run, on the server's loop. */
typedef struct sync_svc sync_svc;
sync_svc *sync_start(server *srv, engine *e, const char *hq, const char *token, const char *hq_ca,
                     int master_poll_ms, err_t *err);
void sync_stop(sync_svc *s);
/* Registers sync.run (without sync_start it says no HQ is configured),
 * sync.retry and sync.quarantine. */
int sync_register_ops(void); /* -1: an op could not be registered */

/* serve's wiring of section 6 by role (sync_role.c): hq: the HQ store and
 * the hq.* ops; store: sync.run and, with --hq, sync_start. */
typedef struct {
    bool hq_role;
    const char *hq;     /* store: "HOST:PORT[,HOST:PORT…]" (--hq) or NULL */
    const char *token;  /* --hq-token (store: its credential; hq: the shared one) */
    const char *hq_db;  /* hq: a PostgreSQL URL (--hq-db); NULL: SQLite in the engine's db */
    const char *hq_ca;  /* store: CA file; set: TLS to HQ, certificate and host checked */
    int master_poll_ms; /* store: --master-poll-ms (0: the default, 3,000) */
} sync_role_config;
typedef struct sync_role sync_role;
sync_role *sync_role_start(server *s, engine *e, const sync_role_config *cfg, err_t *err);
void sync_role_stop(sync_role *r);

#endif
