/* flow.h: the customer-order flows of SPEC section 5, and what they share:
 * the request context, the policy decisions (with their defaults and their
 * record for the transaction log), approvals, payments, and saving an
 * order together with its log entry and outbox event. Each flow lives in
 * its own file (flow_create.c, flow_edit.c, …); handlers stay thin. */
#ifndef CORDER_FLOW_H
#define CORDER_FLOW_H

#include <jansson.h>
#include <stdbool.h>

#include "store/engine.h"
#include "model/jsonw.h"
#include "store/master.h"
#include "store/orders.h"
#include "model/order.h"
#include "model/policy.h"

/* Per request (README "Limits of an order"): a list of lines names at most
 * as many lines as an order may hold; payments per request. Longer lists
 * are bad_request. */
#define FLOW_MAX_LINES ORDER_MAX_LINES
#define FLOW_MAX_QTY ORDER_MAX_QTY
#define FLOW_MAX_PAYMENTS 20

#define FLOW_MAX_APPROVALS 4

/* A5: how the request may change an order of another store. */
typedef enum {
    OTHER_STORE_UNKNOWN, /* not asked yet */
    OTHER_STORE_HELD,    /* the signed-in staff hold other_store_orders */
    OTHER_STORE_APPROVED /* an approver who holds it vouched for the request */
} other_store_grant;

typedef struct {
    engine *e;
    session *s;
    const char *op;
    json_t *args;
    const char *args_text; /* the same as the request line spells them, or NULL (dispatch.h) */
    size_t args_len;
    /* Two policies (A5). `pol` makes the money rules (deposit, charges,
     * refunds) and is stamped on the order and its log entry: the policy of
     * the order's store. It starts as the signed-in store's and becomes the
     * order's store's when flow_load_change loads an order of another
     * store. `perm_pol` answers `permits`: always the signed-in store's.
     * Both are the versions this request started with (L3). */
    policy *pol;
    const policy_params *params; /* pol's */
    char rules_store[32];        /* whose policy pol is: ctx.store of the money hooks */
    char rules_today[11];        /* that store's today: ctx.today of the money hooks */
    policy *perm_pol;
    master_store store; /* the signed-in store */
    char today[11];     /* the signed-in store's today (dates in requests) */
    char now_iso[32];
    jsonw decisions; /* what the policy was asked and answered (F8): a JSON array */
    /* The store and policy version the last decision named: a decision
     * leaves out the ones it shares with the one before it (txlog.c). */
    int ndecisions;
    char dec_store[32], dec_version[72];
    bool preview;         /* order.preview: compute, keep nothing */
    int64_t due_now;      /* what create would take now (order.preview, F11) */
    order *tax_order;     /* the order as the tax hook sees it, during one pass:
                           * lines and charges copied at its start (decide.c) */
    char approved_by[32]; /* who approved an override, if anyone */
    /* A5: the order belongs to another store than the signed-in one. */
    bool other_store;
    other_store_grant other_store_grant;
    char other_store_by[32]; /* the approver, when OTHER_STORE_APPROVED */
    /* The approver last verified (approver_of in decide.c), kept so that one
     * approval used for two permissions is checked once. */
    json_t *approver_src, *approver;
    /* Permissions granted by someone else's approval, for the log (F8). */
    struct {
        char permission[32];
        char staff[32];
    } approvals[FLOW_MAX_APPROVALS];
    int n_approvals;
    /* How many payments and refunds the order had when loaded: those past
     * them are this request's, for the till (R3) and the log. */
    size_t pay_seen, ref_seen;
    char *result_text; /* a flow's result as JSON text (flow_result_*), or NULL */
    size_t result_len;
    /* C5: the order flow_load read is a copy another store's server owns */
    bool read_only;
} flow_ctx;

/* Sets up ctx for a request of the signed-in session; takes a policy ref. */
int flow_begin(flow_ctx *c, engine *e, session *s, const char *op, json_t *args, err_t *err);
void flow_end(flow_ctx *c);

/* ---- decisions (decide.c): the policy's answer, or the SPEC default ---- */
int decide_deposit(flow_ctx *c, const order *o, int64_t *out, err_t *err);
int decide_shipping_charge(flow_ctx *c, const order *o, const char *shipment, size_t len,
                           int64_t *out, err_t *err);
int decide_cancellation_charge(flow_ctx *c, const order *o, int64_t *out, err_t *err);
int decide_shipping_refund(flow_ctx *c, const order *o, json_t *ret, int64_t *out, err_t *err);
int decide_permits(flow_ctx *c, json_t *staff, const char *permission, bool *out, err_t *err);
/* T1: the tax of one line or charge (item: the hook's first argument as
 * JSON text; amount: its amount as entered); decide_tax_done ends a pass. */
int decide_tax(flow_ctx *c, const order *o, const char *item, size_t len, int64_t amount,
               int64_t *out, err_t *err);
void decide_tax_done(flow_ctx *c);
int64_t decide_default_tax(const policy_params *p, int64_t amount);
/* Whether decide_tax reads its item: with neither a tax hook nor a rate to
 * log it does not, and the flow need not write one (the fast path). */
bool decide_tax_reads_item(const flow_ctx *c);
/* T1: decides the tax of every line and charge that has none yet (-1). */
int flow_decide_taxes(flow_ctx *c, order *o, err_t *err);
/* How a decision's log names its order argument: the order as the log
 * entry saved it (the document of the entry's result.version), or as it
 * was before (result.version - 1: a cancellation's or a return's
 * questions are about the order they change). */
#define DECIDE_ORDER_REF "$order"
#define DECIDE_ORDER_BEFORE "$order_before"
/* The defaults alone (also used by replay). */
int64_t decide_default_amount(policy_hook hook, const policy_params *p, json_t *const *args);

/* A2: the signed-in staff holds the permission, or `approval` ({staff, pin})
 * names someone who does. approval_check runs early (a wrong PIN is
 * unauthenticated; an approver who may not work at the signed-in store
 * (A5), or who lacks the permission, is forbidden); approval_require runs
 * once the request is known to need it. */
int approval_check(flow_ctx *c, json_t *approval, const char *permission, err_t *err);
int approval_require(flow_ctx *c, json_t *approval, const char *permission, err_t *err);

/* A5: changing an order of another store needs `other_store_orders`
 * (asked of the signed-in store's policy) or an approval. Reading it does
 * not, nor picking up its lines whose pickup store is the signed-in one.
 * other_store_check runs early, with the approval checks: when `number` is
 * another store's order and `approval` is given, the approver must hold
 * the permission (else forbidden) unless the signed-in staff do. An order
 * that does not exist passes here and is not_found when loaded.
 * other_store_require runs once the request is known to be valid
 * (after not_found, validation, invalid_state and conflict): without the
 * permission or an approval it is approval_required. */
int other_store_check(flow_ctx *c, const char *number, json_t *approval, err_t *err);
int other_store_require(flow_ctx *c, err_t *err);

/* F9: the request's pickup_contacts become the order's (all checked
 * before any is taken); the 6th is validation on pickup_contacts[5]. */
int flow_parse_contacts(flow_ctx *c, order *o, json_t *list, err_t *err);
/* F9 on a pickup: collected_by's shape and rules (validation), then, once
 * the pickup is known to be valid, whether the collector needs
 * pickup_by_other, and the record on the invoice. */
int flow_collector_check(flow_ctx *c, const order *o, json_t *cb, err_t *err);
int flow_collector_apply(flow_ctx *c, const order *o, order_invoice *inv, json_t *cb,
                         json_t *approval, err_t *err);
/* F10: invalid_state with details.hold when o is on hold ("pick it up"). */
int flow_not_held(const order *o, const char *doing, err_t *err);
/* R4: validation on field when code is not among the chain's codes of kind. */
int flow_reason_check(flow_ctx *c, const char *kind, const char *code, const char *field,
                      err_t *err);
/* P2 beyond create (F11): an edit or a quote's confirmation may override
 * the deposit: 0 to the order total, by the permission or an approval;
 * the order records who. 1 applied (*deposit set), 0 none asked. */
int flow_deposit_override(flow_ctx *c, order *o, json_t *ovr, int64_t total, int64_t *deposit,
                          err_t *err);

/* Payments: parses [{tender, amount, ref?}] (amount > 0, SPEC M3) and sums. */
int flow_parse_payments(json_t *args, int64_t *sum, err_t *err);
/* Appends the payments of args to the order, tagged with the op. */
int flow_add_payments(flow_ctx *c, order *o, json_t *args);

/* Refunds (flow_tenders.c, SPEC R1, R2). flow_parse_refunds checks
 * args.refunds ([{tender, amount, ref?}]) with the payments: an empty or
 * malformed tender, an amount not above 0, is validation.
 * flow_refund_tenders_check runs once the request is known to be valid,
 * before the money: a tender outside refund_tenders needs
 * refund_tender_override or `approval` (approval_required, forbidden).
 * flow_refund records a refund of amount (kind: cancellation, return,
 * excess): to the request's refunds, which must add up to it exactly
 * (payment_mismatch with details.refund, also when amount is 0), or, left
 * out, to the order's own payments, the last paid first, each tender at
 * most what it paid net of earlier refunds, the rest to store_credit. */
int flow_parse_refunds(json_t *args, err_t *err);
int flow_refund_tenders_check(flow_ctx *c, const order *o, json_t *approval, err_t *err);
int flow_refund(flow_ctx *c, order *o, const char *kind, int64_t amount, err_t *err);
/* R3: adds this request's payments and refunds (those past pay_seen and
 * ref_seen) to the signed-in store's till for its today (flow_save). */
int flow_till_record(flow_ctx *c, const order *o, err_t *err);

/* A flow's result as text, written straight from the order (no jansson
 * tree): the order object, or {"order": …, key: extra} where extra is the
 * given invoice or else the jansson value (borrowed). */
int flow_result_order(flow_ctx *c, const order *o, err_t *err);
int flow_result_pair(flow_ctx *c, const order *o, const char *key, json_t *extra,
                     const order_invoice *inv, err_t *err);
/* order.preview's answer (F11): the order object with due_now in it. */
int flow_result_due(flow_ctx *c, const order *o, int64_t due, err_t *err);

/* Storage. */
order *flow_load(flow_ctx *c, const char *number, err_t *err);
/* Loads an order to change it: from here on its store's policy makes the
 * money rules (pol, params, rules_store, rules_today), and other_store says
 * whether that is another store than the signed-in one (A5). An order
 * another store's server owns (C5) is `invalid_state` with details.owner:
 * only its owner may change it. */
order *flow_load_change(flow_ctx *c, const char *number, err_t *err);

/* F12's pickup (store, date) pairs of the order into c: pickup_v and
 * pickup_n, and pickups as orders.pickups keeps them (JSON text, NULL when
 * it has none); release them with flow_pickups_free. */
int flow_pickups(const order *o, orders_cols *c, err_t *err);
void flow_pickups_free(orders_cols *c);

/* C5: keeps an order that came from HQ in one go, as it stands there: doc
 * (the order document), owner (the store that may change it now),
 * read_only (whether that is another server), sync state and hq_order of
 * HQ's record, and history (HQ's events of the order, [{store, seq, type,
 * at, version, status}], NULL for none) as log entries, so that
 * order.history shows where it has been. A copy (read_only true) never
 * replaces a newer copy (*skipped). In the caller's transaction. */
int flow_adopt(engine *e, json_t *doc, const char *owner, bool read_only, const char *sync_state,
               const char *hq_order, json_t *history, bool *skipped, err_t *err);
/* Bumps the version, stamps the policy version, writes the order row, the
 * transaction log entry and the outbox event, in the current transaction.
 * A document over ORDER_MAX_DOC_BYTES is `validation`, details.field naming
 * its largest list (order_doc_largest), and nothing is written. */
int flow_save(flow_ctx *c, order *o, bool is_new, const char *event, json_t *result, err_t *err);
/* The same size check for a document of len bytes, and for an order not
 * saved (a preview; a create before HQ sees it). */
int flow_doc_fits(const order *o, size_t len, err_t *err);
int flow_check_size(const order *o, err_t *err);

/* Shared line parsing (create, edit): one line of the request into l. */
int flow_parse_line(flow_ctx *c, json_t *j, const char *path, const char *customer, order_line *l,
                    err_t *err);
int flow_parse_delivery(flow_ctx *c, json_t *d, const char *path, const char *customer,
                        order_line *l, err_t *err);
/* not_found checks of a parsed line (product, address, pickup store); sets
 * the locked price when set_price. */
int flow_resolve_line(flow_ctx *c, order_line *l, const char *path, const char *customer,
                      bool set_price, err_t *err);
/* validation checks of a line: quantity, amount, dates not in the past. */
int flow_validate_line(flow_ctx *c, const order_line *l, const char *path, err_t *err);
/* Settles a new invoice: takes what it can from money on account, the rest
 * must be paid by this op's payments (exactly; payment_mismatch with due). */
int flow_settle_invoice(flow_ctx *c, order *o, order_invoice *inv, int64_t on_account,
                        int64_t paying, err_t *err);
/* Fails with validation if the order's sums overflow (M4). */
int flow_sums(const order *o, order_sums *s, err_t *err);
/* (Re)computes the shipping charges of shipments not yet invoiced (F1, F3).
 * manual >= 0 is a charge typed by the clerk for every such shipment. */
int flow_shipping_charges(flow_ctx *c, order *o, int64_t manual, err_t *err);
/* Invoices the selected lines (pickup, ship): fills an invoice from
 * args.lines ([{line, qty}]) for lines of the given mode. */
int flow_invoice_lines(flow_ctx *c, order *o, json_t *lines, order_mode mode, order_invoice **out,
                       err_t *err);

/* The flows. *result is a new reference on success. */
int flow_create(flow_ctx *c, json_t **result, err_t *err);
int flow_hold(flow_ctx *c, json_t **result, err_t *err);
int flow_release(flow_ctx *c, json_t **result, err_t *err);

/* S1 in two steps, for a store that creates orders in real time: the sync
 * gate prepares the create (every check and decision, the order made but
 * not numbered and nothing written), sends HQ the document, and when HQ has
 * answered dispatch commits it in its savepoint: numbered, HQ's verdict
 * applied, saved. The flow runs once, and HQ sees exactly the order the
 * store keeps. */
typedef struct {
    err_code code; /* ERR_NONE: HQ made it (hq_order); else why not */
    char message[256];
    char hq_order[64];
} flow_hq_answer;
typedef struct flow_prepared flow_prepared;
/* NULL with err when the create is refused; *doc (owned) is for HQ. */
flow_prepared *flow_create_prepare(engine *e, const session *s, json_t *args, json_t **doc,
                                   err_t *err);
/* The order's result as text in *text (malloc'd). */
int flow_create_commit(flow_prepared *p, const flow_hq_answer *hq, char **text, size_t *len,
                       err_t *err);
void flow_prepared_free(flow_prepared *p);
int flow_confirm_quote(flow_ctx *c, json_t **result, err_t *err);
int flow_edit(flow_ctx *c, json_t **result, err_t *err);
int flow_pickup(flow_ctx *c, json_t **result, err_t *err);
int flow_ship(flow_ctx *c, json_t **result, err_t *err);
int flow_cancel(flow_ctx *c, json_t **result, err_t *err);
int flow_return(flow_ctx *c, json_t **result, err_t *err);
int flow_get(flow_ctx *c, json_t **result, err_t *err);
int flow_find(flow_ctx *c, json_t **result, err_t *err);
int flow_history(flow_ctx *c, json_t **result, err_t *err);
int flow_store_tenders(flow_ctx *c, json_t **result, err_t *err);

#endif
