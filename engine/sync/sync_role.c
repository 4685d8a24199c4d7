/* sync_role.c: what `corder serve` starts for SPEC section 6, by role. A
 * store server registers sync.run and, given --hq, runs the uploader and
 * the real-time create gate on its loop; an HQ server opens its storage
 * (hq_store.h: SQLite in its own database, or PostgreSQL given --hq-db), registers the hq.* ops,
 * records refused uploads (conflicts) from the loop once their request
 * has rolled back, and slows down wrong tokens (hq_gate.c). */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "store/master_log.h"
#include "sync/hq.h"
#include "sync/sync.h"

struct sync_role {
    hq_store *hq;
    hq_gate *gate;
    struct event *flush_ev;
    server *srv;
    sync_svc *svc;
};

static void conflict_notify(void *arg)
{
    sync_role *r = arg;
    event_active(r->flush_ev, 0, 0);
}

static int flush_fn(engine *e, void *arg, err_t *err)
{
    return hq_ops_flush(e, err);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    sync_role *r = arg;
    err_t err = {0};
    if (server_write(r->srv, flush_fn, NULL, &err) < 0)
        fprintf(stderr, "corder: hq: cannot record a conflict: %s\n", err.message);
}

sync_role *sync_role_start(server *s, engine *e, const sync_role_config *cfg, err_t *err)
{
    sync_role *r = calloc(1, sizeof *r);
    if (!r) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    r->srv = s;
    if (cfg->hq_role) {
        r->hq = cfg->hq_db ? hq_store_pg_new(cfg->hq_db, err) : hq_store_sqlite_new(e, err);
        if (!r->hq) goto fail;
        /* HQ's master data, with versions, in its own database (SPEC C4). */
        if (master_log_install(e, err) < 0) goto fail;
        if (hq_ops_register(r->hq, cfg->token) < 0) {
            err_set(err, ERR_INTERNAL, "the HQ ops could not be registered");
            goto fail;
        }
        r->flush_ev = event_new(server_base(s), -1, 0, flush_cb, r);
        if (!r->flush_ev) {
            err_set(err, ERR_INTERNAL, "cannot create the conflict recorder");
            goto fail;
        }
        hq_ops_on_conflict(conflict_notify, r);
        if (!(r->gate = hq_gate_start(s, cfg->hq_db, err))) goto fail;
        return r;
    }
    if (sync_register_ops() < 0) {
        err_set(err, ERR_INTERNAL, "the sync ops could not be registered");
        goto fail;
    }
    if (cfg->hq &&
        !(r->svc = sync_start(s, e, cfg->hq, cfg->token, cfg->hq_ca, cfg->master_poll_ms, err)))
        goto fail;
    return r;
fail:
    sync_role_stop(r);
    return NULL;
}

void sync_role_stop(sync_role *r)
{
    if (!r) return;
    sync_stop(r->svc);
    hq_gate_stop(r->gate);
    if (r->flush_ev) {
        hq_ops_on_conflict(NULL, NULL);
        event_free(r->flush_ev);
        /* Conflicts refused in the last moments: recorded with the final commit. */
        err_t err = {0};
        if (server_write(r->srv, flush_fn, NULL, &err) < 0)
            fprintf(stderr, "corder: hq: cannot record a conflict: %s\n", err.message);
    }
    if (r->hq) r->hq->vt->free(r->hq);
    free(r);
}
