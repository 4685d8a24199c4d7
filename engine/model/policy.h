/* policy.h: the one narrow interface through which the engine asks a
 * store's policy for decisions (SPEC section 7, POLICY.md). The engine never
 * sees a lua_State: it calls a table of functions (policy_impl below). */
#ifndef CORDER_POLICY_H
#define CORDER_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/err.h"
#include "model/order.h"

typedef struct policy_host policy_host;
typedef struct policy policy;

/* A parameter that is a list of tender names, or nil (R2's refund_tenders).
 * Fixed-size so that policy_params stays a plain value. */
#define POLICY_MAX_TENDERS 16
typedef struct {
    int n; /* -1: nil (the parameter's default rule); else how many in v */
    char v[POLICY_MAX_TENDERS][32];
} policy_tenders;

/* POLICY.md's parameters, merged over the defaults and type-checked at load. */
typedef struct {
    int64_t default_deposit_pct_bp; /* basis points: 10 % = 1000 */
    int64_t cancellation_charge_pct_bp;
    char cancellation_charge_code[32];
    char shipping_charge_code[32];
    bool refund_shipping_charges;
    int64_t max_shipping_refund_without_approval;
    int64_t quote_validity_days;
    bool manual_shipping_charge;
    int64_t default_shipping_charge;
    bool require_collector;        /* F9: a pickup must say who collected */
    int64_t tax_pct_bp;            /* T1: the default tax rate, basis points */
    bool prices_include_tax;       /* T1: prices and charges are gross */
    policy_tenders refund_tenders; /* R2: nil = the order's tenders + store_credit */
} policy_params;

typedef enum {
    HOOK_DEPOSIT,
    HOOK_SHIPPING_CHARGE,
    HOOK_CANCELLATION_CHARGE,
    HOOK_SHIPPING_REFUND,
    HOOK_PERMITS,
    HOOK_TAX,
    HOOK_COUNT
} policy_hook;

typedef struct {
    size_t memory_cap; /* bytes per policy state; 0 = default 32 MiB */
    int64_t budget_us; /* wall-clock budget per hook call; 0 = default 50 ms */
} policy_limits;

/* One argument of an amount hook: JSON text (a shipment, a return, a tax
 * item), or the order itself. The order is handed over as its structs, not
 * as text: the host builds the Lua view the hook reads straight from them,
 * and only as far as the hook reads it (bindings/host/policy_view.c). What
 * the hook sees is exactly order_write's ORDER_POLICY view, the text the
 * decision is logged with. The struct is read only during the call. */
typedef struct {
    const char *text; /* when order is NULL: the argument as JSON text */
    size_t len;
    const order *order; /* else: the order's policy view */
} policy_arg;

/* The built-in defaults of SPEC section 3 (what policies/default.lua spells
 * out), in C, in one place (model/policy.c). */
void policy_default_params(policy_params *p);
const char *policy_hook_name(policy_hook h);

/* The parameters by name: how each is checked and where it goes. */
typedef enum {
    POLICY_PCT,
    POLICY_CODE,
    POLICY_BOOL,
    POLICY_AMOUNT,
    POLICY_DAYS,
    POLICY_TENDERS /* nil or a list of tender names (policy_tenders) */
} policy_param_kind;
typedef struct {
    const char *name;
    policy_param_kind kind;
    size_t off; /* in policy_params */
} policy_param_desc;
extern const policy_param_desc policy_params_known[];
/* A tender name as refunds (R2) and refund_tenders take it: 1 to 31 bytes
 * of UTF-8 without control characters. */
bool policy_tender_ok(const char *s, size_t len);
extern const size_t policy_nparams;
/* One parameter, or all of them, as JSON (what ctx.params and info show). */
json_t *policy_param_json(const policy_params *p, const policy_param_desc *d);
json_t *policy_params_to_json(const policy_params *p);

/* An implementation of the policy host: a table of functions, as HQ's
 * storage is (hq_store.h). The engine calls nothing else, so it links and
 * runs without Lua: model/policy.c has the built-in one (no Lua, every
 * store on the SPEC defaults, no hooks), bindings/host the Lua one
 * (policy_lua). The host and every version start with a policy_base that
 * names their implementation; the wrappers below dispatch on it.
 *
 * A `policy` is one loaded version of one policy file. Requests take a
 * reference for their whole duration (acquire/release), so a hot reload
 * that swaps in a new version never changes the rules under a request in
 * flight (L3). */
typedef struct policy_impl policy_impl;
typedef struct {
    const policy_impl *impl;
} policy_base;

struct policy_impl {
    const char *name; /* "builtin", "lua" */
    /* dir: where NAME.lua files live (may be NULL: then only "default"). */
    policy_host *(*host_new)(const char *dir, const policy_limits *lim, err_t *err);
    void (*host_free)(policy_host *h);
    const char *(*host_dir)(const policy_host *h);
    /* Binds a store to the policy NAME, loading it if no store uses it
     * yet. A missing or broken file is an error naming store and file. */
    int (*bind)(policy_host *h, const char *store, const char *name, err_t *err);
    /* Re-reads changed files, swaps in each that loads cleanly (a broken
     * one keeps the old version, its error kept for info). Returns how
     * many versions changed. */
    int (*poll)(policy_host *h);
    /* Forces a reload of the store's policy (NULL: every store's); on
     * failure the old version stays and err says why (file:line). */
    int (*reload)(policy_host *h, const char *store, err_t *err);
    /* {name, file, version, loaded_at, parameters, last_error?}. */
    json_t *(*info)(policy_host *h, const char *store, err_t *err);
    policy *(*acquire)(policy_host *h, const char *store, err_t *err);

    void (*release)(policy *p);
    const policy_params *(*params)(const policy *p);
    const char *(*version)(const policy *p); /* SHA-256 of the source, hex */
    const char *(*name_of)(const policy *p);
    bool (*has_hook)(const policy *p, policy_hook hook);
    /* Calls an amount hook (deposit, shipping_charge, cancellation_charge,
     * shipping_refund) with args and ctx = {store, today, params}. The
     * answer must be an integer in [0, MONEY_MAX]; now (epoch seconds) is
     * ctx.now, the flow's own clock (0: the host's, for tools); anything else, a runtime
     * error, or going over the memory cap or the instruction budget gives
     * ERR_POLICY_ERROR with a message naming file:line. Each argument is
     * JSON text or the order's structs (policy_arg): no jansson tree in
     * between, and no text for the order at all. */
    int (*call_amount)(policy *p, policy_hook hook, const char *store, const char *today,
                       int64_t now, const policy_arg *args, int nargs, int64_t *out, err_t *err);
    /* permits(staff, permission, ctx); the answer must be a boolean. */
    int (*call_permits)(policy *p, const char *store, const char *today, int64_t now, json_t *staff,
                        const char *permission, bool *out, err_t *err);
};

/* The built-in implementation (model/policy.c). */
extern const policy_impl policy_builtin;

#define POLICY_IMPL(x) (((const policy_base *)(const void *)(x))->impl)

static inline void policy_host_free(policy_host *h)
{
    if (h) POLICY_IMPL(h)->host_free(h);
}
static inline const char *policy_host_dir(const policy_host *h)
{
    return POLICY_IMPL(h)->host_dir(h);
}
static inline int policy_host_bind(policy_host *h, const char *store, const char *name, err_t *err)
{
    return POLICY_IMPL(h)->bind(h, store, name, err);
}
static inline int policy_host_poll(policy_host *h)
{
    return POLICY_IMPL(h)->poll(h);
}
static inline int policy_host_reload(policy_host *h, const char *store, err_t *err)
{
    return POLICY_IMPL(h)->reload(h, store, err);
}
static inline json_t *policy_host_info(policy_host *h, const char *store, err_t *err)
{
    return POLICY_IMPL(h)->info(h, store, err);
}
static inline policy *policy_acquire(policy_host *h, const char *store, err_t *err)
{
    return POLICY_IMPL(h)->acquire(h, store, err);
}
static inline void policy_release(policy *p)
{
    if (p) POLICY_IMPL(p)->release(p);
}
static inline const policy_params *policy_get_params(const policy *p)
{
    return POLICY_IMPL(p)->params(p);
}
static inline const char *policy_version(const policy *p)
{
    return POLICY_IMPL(p)->version(p);
}
static inline const char *policy_name(const policy *p)
{
    return POLICY_IMPL(p)->name_of(p);
}
static inline bool policy_has_hook(const policy *p, policy_hook hook)
{
    return POLICY_IMPL(p)->has_hook(p, hook);
}
static inline int policy_call_amount_args(policy *p, policy_hook hook, const char *store,
                                          const char *today, int64_t now, const policy_arg *args,
                                          int nargs, int64_t *out, err_t *err)
{
    return POLICY_IMPL(p)->call_amount(p, hook, store, today, now, args, nargs, out, err);
}
static inline int policy_call_permits(policy *p, const char *store, const char *today, int64_t now,
                                      json_t *staff, const char *permission, bool *out, err_t *err)
{
    return POLICY_IMPL(p)->call_permits(p, store, today, now, staff, permission, out, err);
}

/* The same with the arguments as jansson values (written as text first):
 * for tools (policy check, replay, the busted module). */
int policy_call_amount(policy *p, policy_hook hook, const char *store, const char *today,
                       int64_t now, json_t *const *args, int nargs, int64_t *out, err_t *err);

#endif
