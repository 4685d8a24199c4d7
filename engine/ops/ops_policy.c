/* ops_policy.c: policy.info, policy.reload (SPEC L3) and sync.status. */
#include <string.h>

#include "model/args.h"
#include "flows/flow.h"
#include "store/master_sync.h"
#include "store/sync_queue.h"
#include "store/orders.h"

static int store_arg(flow_ctx *c, const char **store, json_t **approval, err_t *err)
{
    *store = c->s->store;
    if (args_str(c->args, "", "store", false, 31, store, err) < 0 ||
        args_obj(c->args, "", "approval", false, approval, err) < 0)
        return -1;
    master_store ms;
    return master_store_get(c->e, *store, &ms, err);
}

int op_policy_info(flow_ctx *c, json_t **result, err_t *err)
{
    const char *store;
    json_t *approval = NULL;
    if (store_arg(c, &store, &approval, err) < 0) return -1;
    *result = policy_host_info(engine_policies(c->e), store, err);
    return *result ? 0 : -1;
}

int op_policy_reload(flow_ctx *c, json_t **result, err_t *err)
{
    const char *store;
    json_t *approval = NULL;
    if (store_arg(c, &store, &approval, err) < 0 ||
        approval_check(c, approval, "policy_reload", err) < 0 ||
        approval_require(c, approval, "policy_reload", err) < 0)
        return -1;
    if (policy_host_reload(engine_policies(c->e), store, err) < 0) return -1;
    *result = policy_host_info(engine_policies(c->e), store, err);
    return *result ? 0 : -1;
}

/* SPEC C4: how old this database's master data is. age_s counts from
 * when HQ last said there was nothing newer (null: never, e.g. a store
 * without --hq or one that has not reached HQ yet). */
static int master_status(engine *e, json_t *r, err_t *err)
{
    master_sync_state ms;
    int64_t pending;
    if (master_sync_state_get(e, &ms, err) < 0 || master_outbox_count(e, &pending, err) < 0)
        return -1;
    int64_t now = engine_now(e);
    json_t *m = json_pack("{s:I, s:I}", "version", (json_int_t)ms.version, "customers_pending",
                          (json_int_t)pending);
    json_object_set_new(m, "age_s",
                        ms.checked_at ? json_integer(now > ms.checked_at ? now - ms.checked_at : 0)
                                      : json_null());
    json_object_set_new(m, "checked_at", ms.checked_at ? json_integer(ms.checked_at) : json_null());
    json_object_set_new(m, "applied_at", ms.applied_at ? json_integer(ms.applied_at) : json_null());
    if (*ms.source) json_object_set_new(m, "source", json_string(ms.source));
    if (*ms.error) json_object_set_new(m, "error", json_string(ms.error));
    json_object_set_new(r, "master", m);
    return 0;
}

int op_sync_status(flow_ctx *c, json_t **result, err_t *err)
{
    json_t *r = json_pack("{s:s, s:i, s:i, s:i, s:i}", "mode", c->store.order_creation, "pending",
                          0, "uploaded", 0, "synchronized", 0, "failed", 0);
    if (orders_count_by_sync_state(c->e, c->s->store, r, err) < 0) {
        json_decref(r);
        return -1;
    }
    /* The uploader's side (S2): queue depth, failed attempts, last error. */
    if (sync_queue_status(c->e, c->s->store, r, err) < 0 || master_status(c->e, r, err) < 0) {
        json_decref(r);
        return -1;
    }
    *result = r;
    return 0;
}
