/* decide.c: every question the engine puts to a store's policy (SPEC L1,
 * POLICY.md). A hook the policy leaves out falls back to the SPEC default,
 * computed here in C; either way the question and the answer are recorded
 * in the request's decisions, which go into the transaction log (F8) and
 * let `corder policy replay` ask a new policy the same questions. */
#include "flows/flow.h"

#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "store/auth.h"
#include "model/jsonw.h"
#include "model/money.h"
#include "model/text.h"
#include "store/orders.h"

static int64_t get_path_int(json_t *o, const char *a, const char *b)
{
    return json_integer_value(json_object_get(json_object_get(o, a), b));
}

int64_t decide_default_amount(policy_hook hook, const policy_params *p, json_t *const *args)
{
    int64_t out = 0;
    switch (hook) {
    case HOOK_DEPOSIT: /* P1: pct of the deposit base, 0 for B2B */
        if (json_is_true(json_object_get(json_object_get(args[0], "customer"), "b2b"))) return 0;
        money_pct(get_path_int(args[0], "deposit", "base"), p->default_deposit_pct_bp, &out);
        return out;
    case HOOK_SHIPPING_CHARGE:
        return p->default_shipping_charge;
    case HOOK_CANCELLATION_CHARGE: /* F6: pct of the open lines, charges not counted */
        money_pct(get_path_int(args[0], "totals", "open"), p->cancellation_charge_pct_bp, &out);
        return out;
    case HOOK_SHIPPING_REFUND: /* F7: proportional share, or nothing */
        return p->refund_shipping_charges
                   ? json_integer_value(json_object_get(args[0], "proportional"))
                   : 0;
    case HOOK_TAX: /* T1: tax_pct of a net amount, or the tax part of a gross one */
        return decide_default_tax(p, json_integer_value(json_object_get(args[0], "amount")));
    default:
        return 0;
    }
}

/* One question and its answer, appended to the request's decisions:
 * {"hook", "args": [...], "today", "store", "policy_version", "answer",
 * "by"} (txlog.c; store and policy_version only where they change).
 * Arguments are JSON text, or a jansson value where texts is NULL. With a
 * view_ref the last argument is the order as the policy saw it, logged by
 * reference instead (flow.h): DECIDE_ORDER_REF, the
 * order as this log entry saved it, or DECIDE_ORDER_BEFORE, as it was
 * before (what a cancellation or a return asks about). The store keeps
 * every version's document (orders.c), so the log need not carry a second
 * and third copy of it; replay reads it back. */
static void record(flow_ctx *c, const policy *pol, const char *store, const char *today,
                   policy_hook hook, const char *const *texts, const size_t *lens,
                   json_t *const *values, int nargs, const char *view_ref, int64_t answer,
                   bool boolean, bool by_policy)
{
    jsonw *w = &c->decisions;
    jw_obj(w);
    jw_key(w, "hook");
    jw_str(w, policy_hook_name(hook));
    jw_key(w, "args");
    jw_arr(w);
    for (int i = 0; i < nargs; i++) {
        if (view_ref && i == nargs - 1)
            jw_str(w, view_ref);
        else if (texts)
            jw_raw(w, texts[i], lens[i]);
        else
            jw_json(w, values[i]);
    }
    jw_end_arr(w);
    jw_key(w, "today");
    jw_str(w, today);
    /* Whose policy answered (A5), and its version: written when they
     * differ from the decision before's (always for the first), since a
     * request's questions nearly all go to one policy and the version is
     * 64 characters; order.history and replay carry them forward. */
    const char *version = policy_version(pol);
    if (c->ndecisions == 0 || strcmp(c->dec_store, store)) {
        jw_key(w, "store");
        jw_str(w, store);
        text_copy(c->dec_store, sizeof c->dec_store, store);
    }
    if (c->ndecisions == 0 || strcmp(c->dec_version, version)) {
        jw_key(w, "policy_version");
        jw_str(w, version);
        text_copy(c->dec_version, sizeof c->dec_version, version);
    }
    c->ndecisions++;
    jw_key(w, "answer");
    if (boolean)
        jw_bool(w, answer != 0);
    else
        jw_int(w, answer);
    jw_key(w, "by");
    jw_str(w, by_policy ? "policy" : "default");
    jw_end_obj(w);
}

/* Asks an amount hook; dflt is the SPEC default, used when the policy
 * leaves the hook out (then no Lua runs at all). An argument is JSON text,
 * logged as it is, or the order itself (policy_arg): the hook reads the
 * order from its structs, as far as it reads it, and the log names it by
 * view_ref (record), so no text of the order is written at all. The order
 * is always the last argument. */
static int ask_amount(flow_ctx *c, policy_hook hook, const policy_arg *args, int nargs,
                      const char *view_ref, int64_t dflt, int64_t *out, err_t *err)
{
    const char *texts[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    for (int i = 0; i < nargs && i < 2; i++) {
        if (!args[i].order && !args[i].text)
            return err_set(err, ERR_INTERNAL, "out of memory asking the policy");
        texts[i] = args[i].text;
        lens[i] = args[i].len;
    }
    /* A5: the money rules of the order's store (flow_load_change). */
    bool by_policy = policy_has_hook(c->pol, hook);
    if (by_policy) {
        if (policy_call_amount_args(c->pol, hook, c->rules_store, c->rules_today, engine_now(c->e),
                                    args, nargs, out, err) < 0)
            return -1;
    } else {
        *out = dflt;
    }
    record(c, c->pol, c->rules_store, c->rules_today, hook, texts, lens, NULL, nargs, view_ref,
           *out, false, by_policy);
    return 0;
}

/* The order as an argument: its structs, for the hook (the log names it
 * by reference, see record). */
static policy_arg order_arg(const order *o)
{
    return (policy_arg){.order = o};
}

static int64_t pct_of(int64_t amount, int64_t bp)
{
    int64_t out = 0;
    money_pct(amount, bp, &out);
    return out;
}

int64_t decide_default_tax(const policy_params *p, int64_t amount)
{
    int64_t out = 0;
    if (p->tax_pct_bp > 0 && amount > 0) {
        if (p->prices_include_tax)
            money_tax_part(amount, p->tax_pct_bp, &out);
        else
            money_pct(amount, p->tax_pct_bp, &out);
    }
    return out;
}

/* A shallow copy of o with its own lines and charges (what a tax pass
 * changes); the other lists are o's, and are not freed with it. */
static order *freeze_taxes(const order *o)
{
    order *f = malloc(sizeof *f);
    if (!f) return NULL;
    *f = *o;
    f->lines.v = malloc((o->lines.n ? o->lines.n : 1) * sizeof *o->lines.v);
    f->charges.v = malloc((o->charges.n ? o->charges.n : 1) * sizeof *o->charges.v);
    if (!f->lines.v || !f->charges.v) {
        free(f->lines.v);
        free(f->charges.v);
        free(f);
        return NULL;
    }
    if (o->lines.n) memcpy(f->lines.v, o->lines.v, o->lines.n * sizeof *o->lines.v);
    if (o->charges.n) memcpy(f->charges.v, o->charges.v, o->charges.n * sizeof *o->charges.v);
    f->lines.cap = o->lines.n;
    f->charges.cap = o->charges.n;
    return f;
}

bool decide_tax_reads_item(const flow_ctx *c)
{
    return policy_has_hook(c->pol, HOOK_TAX) || c->params->tax_pct_bp > 0;
}

int decide_tax(flow_ctx *c, const order *o, const char *item, size_t len, int64_t amount,
               int64_t *out, err_t *err)
{
    bool hook = policy_has_hook(c->pol, HOOK_TAX);
    if (!hook) {
        *out = decide_default_tax(c->params, amount);
        /* A store with no tax at all asks nothing and logs nothing (most
         * stores, and the fast path); the default rule needs only the item,
         * so only the item is logged for it. */
        if (c->params->tax_pct_bp > 0)
            record(c, c->pol, c->rules_store, c->rules_today, HOOK_TAX, &item, &len, NULL, 1, NULL,
                   *out, false, false);
        return 0;
    }
    /* The order once per pass (flow_decide_taxes), as it will be before its
     * taxes: a copy of o whose lines and charges keep the taxes they had at
     * the pass's start while the pass decides them in o. */
    if (!c->tax_order && !(c->tax_order = freeze_taxes(o)))
        return err_set(err, ERR_INTERNAL, "out of memory asking the policy");
    policy_arg args[2] = {{.text = item, .len = len}, order_arg(c->tax_order)};
    if (ask_amount(c, HOOK_TAX, args, 2, DECIDE_ORDER_REF, 0, out, err) < 0) return -1;
    if (o->tax_included && *out > amount)
        return err_set(
            err, ERR_POLICY_ERROR,
            "policy %s: tax returned %lld, more than the gross amount %lld it is part of",
            policy_name(c->pol), (long long)*out, (long long)amount);
    return 0;
}

void decide_tax_done(flow_ctx *c)
{
    if (c->tax_order) {
        free(c->tax_order->lines.v);
        free(c->tax_order->charges.v);
        free(c->tax_order);
        c->tax_order = NULL;
    }
}

int decide_deposit(flow_ctx *c, const order *o, int64_t *out, err_t *err)
{
    order_sums s;
    if (!order_sum(o, &s)) return err_set(err, ERR_VALIDATION, "the order's amounts overflow (M4)");
    policy_arg a = order_arg(o);
    int64_t dflt = o->b2b ? 0 : pct_of(s.deposit_base, c->params->default_deposit_pct_bp);
    return ask_amount(c, HOOK_DEPOSIT, &a, 1, DECIDE_ORDER_REF, dflt, out, err);
}

int decide_shipping_charge(flow_ctx *c, const order *o, const char *shipment, size_t len,
                           int64_t *out, err_t *err)
{
    policy_arg args[2] = {{.text = shipment, .len = len}, order_arg(o)};
    return ask_amount(c, HOOK_SHIPPING_CHARGE, args, 2, DECIDE_ORDER_REF,
                      c->params->default_shipping_charge, out, err);
}

int decide_cancellation_charge(flow_ctx *c, const order *o, int64_t *out, err_t *err)
{
    order_sums s;
    if (!order_sum(o, &s)) return err_set(err, ERR_VALIDATION, "the order's amounts overflow (M4)");
    policy_arg a = order_arg(o);
    int rc = ask_amount(c, HOOK_CANCELLATION_CHARGE, &a, 1, DECIDE_ORDER_BEFORE,
                        pct_of(s.open_value, c->params->cancellation_charge_pct_bp), out, err);
    return rc;
}

int decide_shipping_refund(flow_ctx *c, const order *o, json_t *ret, int64_t *out, err_t *err)
{
    char *ret_text;
    policy_arg args[2] = {{0}, order_arg(o)};
    args[0].text = ret_text = jsonw_dumps(ret, &args[0].len);
    int64_t dflt = c->params->refund_shipping_charges
                       ? json_integer_value(json_object_get(ret, "proportional"))
                       : 0;
    int rc = ask_amount(c, HOOK_SHIPPING_REFUND, args, 2, DECIDE_ORDER_BEFORE, dflt, out, err);
    free(ret_text);
    return rc;
}

/* Permissions are the signed-in store's rule (A5), whatever the order. */
int decide_permits(flow_ctx *c, json_t *staff, const char *permission, bool *out, err_t *err)
{
    bool by_policy = policy_has_hook(c->perm_pol, HOOK_PERMITS);
    if (by_policy) {
        if (policy_call_permits(c->perm_pol, c->s->store, c->today, engine_now(c->e), staff,
                                permission, out, err) < 0)
            return -1;
    } else {
        const char *role = json_string_value(json_object_get(staff, "role"));
        *out = role && !strcmp(role, "manager"); /* A2 default */
    }
    json_t *args[2] = {staff, json_string(permission)};
    record(c, c->perm_pol, c->s->store, c->today, HOOK_PERMITS, NULL, NULL, args, 2, NULL, *out,
           true, by_policy);
    json_decref(args[1]);
    return 0;
}

static void note_approval(flow_ctx *c, const char *permission, const char *staff)
{
    if (c->n_approvals >= FLOW_MAX_APPROVALS) return;
    snprintf(c->approvals[c->n_approvals].permission, sizeof c->approvals[0].permission, "%s",
             permission);
    snprintf(c->approvals[c->n_approvals].staff, sizeof c->approvals[0].staff, "%s", staff);
    c->n_approvals++;
}

/* The approver an approval ({staff, pin}) names, as the policy sees staff
 * ({id, name, role}; borrowed from c): its shape (bad_request), the PIN
 * (unauthenticated), then whether the approver may work at the signed-in
 * store (forbidden): an approval is given on the spot, by someone who may
 * be there (A5). The last one verified is kept, so an approval that vouches
 * for two permissions is checked once. */
static json_t *approver_of(flow_ctx *c, json_t *approval, err_t *err)
{
    if (approval == c->approver_src && c->approver) return c->approver;
    const char *staff, *pin;
    if (args_str(approval, "approval", "staff", true, 31, &staff, err) < 0 ||
        args_str(approval, "approval", "pin", true, 4096, &pin, err) < 0 ||
        auth_pin_check_shape(pin, "approval.pin", err) < 0)
        return NULL;
    auth_staff who;
    if (auth_check(c->e, staff, pin, &who, err) < 0) return NULL;
    if (!auth_staff_at_store(c->e, who.id, c->s->store)) {
        err_set(err, ERR_FORBIDDEN, "approver %s may not work at store %s", who.id, c->s->store);
        return NULL;
    }
    json_t *sj = json_pack("{s:s, s:s, s:s}", "id", who.id, "name", who.name, "role", who.role);
    if (!sj) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    json_decref(c->approver);
    c->approver = sj;
    c->approver_src = approval;
    return sj;
}

static json_t *signed_in_staff(flow_ctx *c)
{
    return json_pack("{s:s, s:s, s:s}", "id", c->s->staff, "name", c->s->name, "role", c->s->role);
}

int approval_check(flow_ctx *c, json_t *approval, const char *permission, err_t *err)
{
    if (!approval) return 0;
    json_t *sj = approver_of(c, approval, err);
    if (!sj) return -1;
    bool ok;
    if (decide_permits(c, sj, permission, &ok, err) < 0) return -1;
    const char *id = json_string_value(json_object_get(sj, "id"));
    if (!ok)
        return err_set(err, ERR_FORBIDDEN, "approver %s does not hold the %s permission", id,
                       permission);
    text_copy(c->approved_by, sizeof c->approved_by, id);
    return 0;
}

int approval_require(flow_ctx *c, json_t *approval, const char *permission, err_t *err)
{
    json_t *sj = signed_in_staff(c);
    bool ok;
    int rc = decide_permits(c, sj, permission, &ok, err);
    json_decref(sj);
    if (rc < 0) return -1;
    if (ok) {
        text_copy(c->approved_by, sizeof c->approved_by, c->s->staff);
        return 0;
    }
    if (approval && *c->approved_by) { /* checked by approval_check */
        note_approval(c, permission, c->approved_by);
        return 0;
    }
    err_set(err, ERR_APPROVAL_REQUIRED, "this needs the %s permission or an approval", permission);
    text_copy(err->permission, sizeof err->permission, permission);
    return -1;
}

#define OTHER_STORE_ORDERS "other_store_orders"

/* Whether the signed-in staff hold other_store_orders (asked once). */
static int other_store_held(flow_ctx *c, bool *held, err_t *err)
{
    json_t *sj = signed_in_staff(c);
    int rc = decide_permits(c, sj, OTHER_STORE_ORDERS, held, err);
    json_decref(sj);
    if (rc == 0 && *held) c->other_store_grant = OTHER_STORE_HELD;
    return rc;
}

int other_store_check(flow_ctx *c, const char *number, json_t *approval, err_t *err)
{
    json_t *who = NULL;
    /* A wrong approver PIN is unauthenticated whatever the order. */
    if (approval && !(who = approver_of(c, approval, err))) return -1;
    char store[32];
    int found = orders_store_of(c->e, number, store, err);
    if (found < 0) return -1;
    bool other = found && strcmp(store, c->s->store) != 0;
    if (!other || !who) return 0; /* no such order: not_found comes later */
    bool ok;
    if (other_store_held(c, &ok, err) < 0) return -1;
    if (ok) return 0;
    if (decide_permits(c, who, OTHER_STORE_ORDERS, &ok, err) < 0) return -1;
    const char *id = json_string_value(json_object_get(who, "id"));
    if (!ok)
        return err_set(err, ERR_FORBIDDEN, "approver %s does not hold the %s permission", id,
                       OTHER_STORE_ORDERS);
    c->other_store_grant = OTHER_STORE_APPROVED;
    snprintf(c->other_store_by, sizeof c->other_store_by, "%s", id);
    return 0;
}

int other_store_require(flow_ctx *c, err_t *err)
{
    if (!c->other_store) return 0;
    if (c->other_store_grant == OTHER_STORE_APPROVED) {
        note_approval(c, OTHER_STORE_ORDERS, c->other_store_by);
        return 0;
    }
    bool ok = c->other_store_grant == OTHER_STORE_HELD;
    if (!ok && other_store_held(c, &ok, err) < 0) return -1;
    if (ok) return 0;
    err_set(err, ERR_APPROVAL_REQUIRED,
            "order of another store: changing it at %s needs the %s permission or an approval",
            c->s->store, OTHER_STORE_ORDERS);
    snprintf(err->permission, sizeof err->permission, "%s", OTHER_STORE_ORDERS);
    return -1;
}
