/* flow_tenders.c: the tenders of refunds (SPEC R1, R2) and the till's day
 * (R3).
 *
 * R1: every refund names its tenders. A cancel, return or edit that pays
 * money back takes `refunds: [{tender, amount, ref?}]`, which must add up
 * to the refund exactly (payment_mismatch with details.refund; refunds
 * given when nothing is refunded: refund 0). Left out, the engine picks:
 * the order's own payments, the last paid first, each tender at most what
 * it paid net of earlier refunds to it. What that cannot cover (an
 * approved shipping refund above what was paid, money paid to a tender
 * that old documents did not record) goes to store_credit, so the drawer
 * never pays out cash the order did not take in cash.
 *
 * R2: the policy's refund_tenders lists the tenders a refund may name
 * (nil: any tender the order was paid with, and store_credit); any other
 * needs refund_tender_override or an approval. Only an empty or malformed
 * name is validation: a tender the till does not know is a policy matter,
 * not a shape error.
 *
 * R3: store.tenders reads the till (store/till.c), which flow_save keeps
 * in the same transaction as the order and its log entry. */
#include "flows/flow.h"

#include <stdio.h>
#include <string.h>

#include "model/args.h"
#include "model/money.h"
#include "model/text.h"
#include "store/till.h"

#define STORE_CREDIT "store_credit"

int flow_parse_refunds(json_t *args, err_t *err)
{
    json_t *arr;
    if (args_arr(args, "", "refunds", false, FLOW_MAX_PAYMENTS, &arr, err) <= 0)
        return err->code ? -1 : 0;
    int64_t sum = 0;
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        char path[32], f[48];
        const char *tender, *ref;
        int64_t amount;
        args_index(path, sizeof path, "refunds", i);
        if (!json_is_object(r))
            return err_field(err, ERR_BAD_REQUEST, path, "%s: expected an object", path);
        /* Any length here: a name too long is malformed, validation below. */
        if (args_str(r, path, "tender", true, 4096, &tender, err) < 0 ||
            args_str(r, path, "ref", false, 63, &ref, err) < 0 ||
            args_int(r, path, "amount", true, INT64_MIN, INT64_MAX, &amount, err) < 0)
            return -1;
        if (!policy_tender_ok(tender, strlen(tender))) {
            snprintf(f, sizeof f, "%s.tender", path);
            return err_field(err, ERR_VALIDATION, f,
                             "%s: name the tender (1 to 31 bytes, no control characters)", f);
        }
        if (amount <= 0 || amount > MONEY_MAX) {
            snprintf(f, sizeof f, "%s.amount", path);
            return err_field(err, ERR_VALIDATION, f,
                             "%s: a refund must be more than 0 and at most %lld (SPEC M3)", f,
                             (long long)MONEY_MAX);
        }
        if (!money_add(sum, amount, &sum))
            return err_field(err, ERR_VALIDATION, "refunds", "refunds: the sum overflows");
    }
    return 0;
}

static bool paid_with(const order *o, const char *tender)
{
    for (size_t i = 0; i < o->payments.n; i++)
        if (!strcmp(o->payments.v[i].tender, tender)) return true;
    return false;
}

/* R2: whether a refund may name tender without the override. */
static bool tender_allowed(flow_ctx *c, const order *o, const char *tender)
{
    const policy_tenders *t = &c->params->refund_tenders;
    if (t->n < 0) return !strcmp(tender, STORE_CREDIT) || paid_with(o, tender);
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->v[i], tender)) return true;
    return false;
}

int flow_refund_tenders_check(flow_ctx *c, const order *o, json_t *approval, err_t *err)
{
    const char *outside = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(c->args, "refunds"), i, r)
    {
        const char *t = json_string_value(json_object_get(r, "tender"));
        if (!tender_allowed(c, o, t)) {
            outside = t;
            break;
        }
    }
    if (!outside) return 0;
    /* Ask the signed-in staff first: an approval brought for another
     * permission (another store's order, a shipping refund) must not make
     * this one forbidden when the clerk holds it. */
    json_t *sj =
        json_pack("{s:s, s:s, s:s}", "id", c->s->staff, "name", c->s->name, "role", c->s->role);
    if (!sj) return err_set(err, ERR_INTERNAL, "out of memory");
    bool held;
    int rc = decide_permits(c, sj, "refund_tender_override", &held, err);
    json_decref(sj);
    if (rc < 0) return -1;
    if (held) return 0;
    if (!approval) {
        err_set(err, ERR_APPROVAL_REQUIRED,
                "a refund to %s, a tender outside this store's refund_tenders, needs the "
                "refund_tender_override permission or an approval",
                outside);
        text_copy(err->permission, sizeof err->permission, "refund_tender_override");
        return -1;
    }
    /* approved_by names who approved the flow's other override (a deposit
     * override records it on the order): keep it. */
    char keep[sizeof c->approved_by];
    memcpy(keep, c->approved_by, sizeof keep);
    rc = approval_check(c, approval, "refund_tender_override", err) < 0 ||
                 approval_require(c, approval, "refund_tender_override", err) < 0
             ? -1
             : 0;
    memcpy(c->approved_by, keep, sizeof keep);
    return rc;
}

static int push_refund(flow_ctx *c, order *o, const char *kind, const char *tender, const char *ref,
                       int64_t amount, err_t *err)
{
    order_refund *r = vec_push(o->refunds);
    if (!r) return err_set(err, ERR_INTERNAL, "out of memory");
    text_copy(r->kind, sizeof r->kind, kind);
    text_copy(r->tender, sizeof r->tender, tender);
    text_copy(r->ref, sizeof r->ref, ref ? ref : "");
    r->amount = amount;
    text_copy(r->at, sizeof r->at, c->now_iso);
    return 0;
}

/* What tender t may still take back: paid to it minus refunded to it. */
static int64_t tender_room(const order *o, const char *t)
{
    int64_t paid = 0, back = 0;
    for (size_t i = 0; i < o->payments.n; i++)
        if (!strcmp(o->payments.v[i].tender, t) && !money_add(paid, o->payments.v[i].amount, &paid))
            return 0;
    for (size_t i = 0; i < o->refunds.n; i++)
        if (!strcmp(o->refunds.v[i].tender, t) && !money_add(back, o->refunds.v[i].amount, &back))
            return INT64_MAX; /* cannot happen: sums are checked on every save */
    return paid > back ? paid - back : 0;
}

/* R1's default: the last paid first, each tender at most its room. */
static int refund_default(flow_ctx *c, order *o, const char *kind, int64_t amount, err_t *err)
{
    int64_t left = amount;
    size_t npay = o->payments.n;
    for (size_t i = npay; i-- > 0 && left > 0;) {
        const char *t = o->payments.v[i].tender;
        bool seen = false; /* a later payment of the same tender took its turn */
        for (size_t k = i + 1; k < npay && !seen; k++)
            seen = !strcmp(o->payments.v[k].tender, t);
        if (seen) continue;
        int64_t room = tender_room(o, t);
        int64_t take = room < left ? room : left;
        if (take <= 0) continue;
        /* t points into payments, which push_refund does not move */
        if (push_refund(c, o, kind, t, NULL, take, err) < 0) return -1;
        left -= take;
    }
    if (left > 0 && push_refund(c, o, kind, STORE_CREDIT, NULL, left, err) < 0) return -1;
    return 0;
}

int flow_refund(flow_ctx *c, order *o, const char *kind, int64_t amount, err_t *err)
{
    json_t *given = json_object_get(c->args, "refunds");
    if (amount < 0) amount = 0;
    if (!json_is_array(given)) return amount > 0 ? refund_default(c, o, kind, amount, err) : 0;
    int64_t sum = 0; /* checked by flow_parse_refunds */
    size_t i;
    json_t *r;
    json_array_foreach(given, i, r) sum += json_integer_value(json_object_get(r, "amount"));
    if (sum != amount) {
        err_set(err, ERR_PAYMENT_MISMATCH, "refunds of %lld do not match the %lld refunded",
                (long long)sum, (long long)amount);
        err->refund = amount;
        err->has_refund = 1;
        return -1;
    }
    json_array_foreach(given, i, r)
    {
        if (push_refund(c, o, kind, json_string_value(json_object_get(r, "tender")),
                        json_string_value(json_object_get(r, "ref")),
                        json_integer_value(json_object_get(r, "amount")), err) < 0)
            return -1;
    }
    return 0;
}

int flow_till_record(flow_ctx *c, const order *o, err_t *err)
{
    for (size_t i = c->pay_seen; i < o->payments.n; i++)
        if (till_add(c->e, c->s->store, c->today, o->payments.v[i].tender, false,
                     o->payments.v[i].amount, err) < 0)
            return -1;
    for (size_t i = c->ref_seen; i < o->refunds.n; i++)
        if (till_add(c->e, c->s->store, c->today, o->refunds.v[i].tender, true,
                     o->refunds.v[i].amount, err) < 0)
            return -1;
    return 0;
}

int flow_store_tenders(flow_ctx *c, json_t **result, err_t *err)
{
    const char *date = NULL;
    if (args_str(c->args, "", "date", false, 64, &date, err) < 0) return -1;
    if (date && !engine_valid_date(date))
        return err_field(err, ERR_VALIDATION, "date", "date: '%s' is not a date YYYY-MM-DD", date);
    if (!date) date = c->today;
    json_t *tenders = till_day(c->e, c->s->store, date, err);
    if (!tenders) return -1;
    *result = json_pack("{s:s, s:s, s:o}", "store", c->s->store, "date", date, "tenders", tenders);
    return *result ? 0 : err_set(err, ERR_INTERNAL, "out of memory");
}
