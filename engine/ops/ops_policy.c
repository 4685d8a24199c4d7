/* ops_policy.c: policy.info, policy.reload (SPEC L3) and sync.status. */
#include <string.h>

#include "model/args.h"
#include "flows/flow.h"
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

int op_sync_status(flow_ctx *c, json_t **result, err_t *err)
{
    json_t *r = json_pack("{s:s, s:i, s:i, s:i, s:i}", "mode", c->store.order_creation, "pending",
                          0, "uploaded", 0, "synchronized", 0, "failed", 0);
    if (orders_count_by_sync_state(c->e, c->s->store, r, err) < 0) {
        json_decref(r);
        return -1;
    }
    /* The uploader's side (S2): queue depth, failed attempts, last error. */
    if (sync_queue_status(c->e, c->s->store, r, err) < 0) {
        json_decref(r);
        return -1;
    }
    *result = r;
    return 0;
}
