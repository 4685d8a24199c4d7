/* flow_hold.c: F10 holds. An order put on hold (a reason code, a note)
 * cannot be edited, confirmed, picked up or shipped until it is released;
 * it can still be read, found and cancelled. Holding and releasing need
 * `order_hold` (or an approval), and both are saved as changes of the
 * order (version, history, upload), so HQ and the log see them. */
#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/text.h"

int flow_not_held(const order *o, const char *doing, err_t *err)
{
    if (!*o->hold.code) return 0;
    err_set(err, ERR_INVALID_STATE, "order %s is on hold (%s): release it before you %s", o->number,
            o->hold.code, doing);
    json_t *d = json_pack("{s:s}", "hold", o->hold.code);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    if (text) text_copy(err->extra, sizeof err->extra, text); /* a code is at most 31 bytes */
    free(text);
    json_decref(d);
    return -1;
}

int flow_reason_check(flow_ctx *c, const char *kind, const char *code, const char *field,
                      err_t *err)
{
    int ok = master_reason_ok(c->e, kind, code, err);
    if (ok < 0) return -1;
    if (!ok)
        return err_field(err, ERR_VALIDATION, field,
                         "%s: '%s' is not one of this chain's %s reason codes", field, code, kind);
    return 0;
}

static int hold_flow(flow_ctx *c, bool hold, json_t **result, err_t *err)
{
    const char *number, *code = NULL, *note = NULL, *s;
    json_t *approval = NULL;
    if (args_str(c->args, "", "number", true, 47, &number, err) < 0 ||
        (hold && args_str(c->args, "", "code", true, 31, &code, err) < 0) ||
        (hold && args_str(c->args, "", "note", false, 255, &note, err) < 0) ||
        args_obj(c->args, "", "approval", false, &approval, err) < 0 ||
        args_str(c->args, "", "idempotency_key", false, 128, &s, err) < 0 ||
        approval_check(c, approval, "order_hold", err) < 0 ||
        other_store_check(c, number, approval, err) < 0)
        return -1;
    order *o = flow_load_change(c, number, err);
    if (!o) return -1;
    int rc = -1;
    if (hold && text_blank(code)) {
        err_field(err, ERR_VALIDATION, "code", "code: a hold needs a reason code");
        goto done;
    }
    if (hold && flow_reason_check(c, "hold", code, "code", err) < 0) goto done;
    if (o->cancelled) {
        err_set(err, ERR_INVALID_STATE, "order %s is cancelled", o->number);
        goto done;
    }
    if (hold && *o->hold.code) {
        flow_not_held(o, "hold it again", err);
        goto done;
    }
    if (!hold && !*o->hold.code) {
        err_set(err, ERR_INVALID_STATE, "order %s is not on hold", o->number);
        goto done;
    }
    if (other_store_require(c, err) < 0 || approval_require(c, approval, "order_hold", err) < 0)
        goto done;
    if (hold) {
        text_copy(o->hold.code, sizeof o->hold.code, code);
        text_copy(o->hold.note, sizeof o->hold.note, note ? note : "");
        text_copy(o->hold.by, sizeof o->hold.by, c->s->staff); /* an approver is in the log */
        text_copy(o->hold.at, sizeof o->hold.at, c->now_iso);
    } else {
        memset(&o->hold, 0, sizeof o->hold);
    }
    if (flow_save(c, o, false, hold ? "order.hold" : "order.release", NULL, err) < 0) goto done;
    rc = flow_result_order(c, o, err);
done:
    order_free(o);
    return rc;
}

int flow_hold(flow_ctx *c, json_t **result, err_t *err)
{
    return hold_flow(c, true, result, err);
}

int flow_release(flow_ctx *c, json_t **result, err_t *err)
{
    return hold_flow(c, false, result, err);
}
