/* sync_role.c: what `corder serve` starts for SPEC section 6, by role. A
 * store server registers sync.run and, given --hq, runs the uploader and
 * the real-time create gate on its loop; an HQ server opens its storage
 * (SQLite, in its own database: hq_store.h) and registers the hq.* ops. */
#include <stdlib.h>

#include "hq.h"
#include "sync.h"

struct sync_role {
    hq_store *hq;
    sync_svc *svc;
};

sync_role *sync_role_start(server *s, engine *e, bool hq_role, const char *hq, const char *token,
                           err_t *err)
{
    sync_role *r = calloc(1, sizeof *r);
    if (!r) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (hq_role) {
        r->hq = hq_store_sqlite_new(e, err);
        if (!r->hq) goto fail;
        hq_ops_register(r->hq, token);
        return r;
    }
    sync_register_ops();
    if (hq && !(r->svc = sync_start(s, e, hq, token, err))) goto fail;
    return r;
fail:
    sync_role_stop(r);
    return NULL;
}

void sync_role_stop(sync_role *r)
{
    if (!r) return;
    sync_stop(r->svc);
    if (r->hq) r->hq->vt->free(r->hq);
    free(r);
}
