/* policy.c: what the engine knows of policies without any host: the SPEC
 * defaults (section 3, what policies/default.lua spells out), the
 * parameters' names and kinds, and the built-in implementation of
 * policy_impl: every store on the defaults, no hooks, no Lua. The engine's
 * own unit tests run on it; the program and the Lua module install the Lua
 * host (bindings/host) instead. A hook that is absent falls back to the
 * SPEC rule computed in C by flows/decide.c, so with this host every
 * decision is the default one. */
#include "model/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/jsonw.h"
#include "model/text.h"

static const char *const hook_names[HOOK_COUNT] = {
    "deposit", "shipping_charge", "cancellation_charge", "shipping_refund", "permits", "tax",
};

const char *policy_hook_name(policy_hook h)
{
    return (unsigned)h < HOOK_COUNT ? hook_names[h] : "?";
}

void policy_default_params(policy_params *p)
{
    memset(p, 0, sizeof *p);
    p->default_deposit_pct_bp = 1000;
    p->cancellation_charge_pct_bp = 500;
    snprintf(p->cancellation_charge_code, sizeof p->cancellation_charge_code, "CANCEL");
    snprintf(p->shipping_charge_code, sizeof p->shipping_charge_code, "SHIP");
    p->refund_shipping_charges = true;
    p->max_shipping_refund_without_approval = 2500;
    p->quote_validity_days = 30;
    p->manual_shipping_charge = true;
    p->default_shipping_charge = 0;
    p->refund_tenders.n = -1;
}

/* ---- the parameters: name, kind, where they go ---- */

#define PD(n, k)                                                                                   \
    {                                                                                              \
#n, k, offsetof(policy_params, n)                                                          \
    }
const policy_param_desc policy_params_known[] = {
    {"default_deposit_pct", POLICY_PCT, offsetof(policy_params, default_deposit_pct_bp)},
    {"cancellation_charge_pct", POLICY_PCT, offsetof(policy_params, cancellation_charge_pct_bp)},
    PD(cancellation_charge_code, POLICY_CODE),
    PD(shipping_charge_code, POLICY_CODE),
    PD(refund_shipping_charges, POLICY_BOOL),
    PD(max_shipping_refund_without_approval, POLICY_AMOUNT),
    PD(quote_validity_days, POLICY_DAYS),
    PD(manual_shipping_charge, POLICY_BOOL),
    PD(default_shipping_charge, POLICY_AMOUNT),
    PD(require_collector, POLICY_BOOL),
    {"tax_pct", POLICY_PCT, offsetof(policy_params, tax_pct_bp)},
    PD(prices_include_tax, POLICY_BOOL),
    PD(refund_tenders, POLICY_TENDERS),
};
const size_t policy_nparams = sizeof policy_params_known / sizeof policy_params_known[0];

bool policy_tender_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > 31 || !text_utf8_ok(s, len)) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static json_t *pct_json(int64_t bp)
{
    return bp % 100 == 0 ? json_integer(bp / 100) : json_real((double)bp / 100.0);
}

json_t *policy_param_json(const policy_params *p, const policy_param_desc *d)
{
    const char *base = (const char *)p + d->off;
    switch (d->kind) {
    case POLICY_PCT:
        return pct_json(*(const int64_t *)base);
    case POLICY_CODE:
        return json_string(base);
    case POLICY_BOOL:
        return json_boolean(*(const bool *)base);
    case POLICY_TENDERS: {
        const policy_tenders *t = (const policy_tenders *)(const void *)base;
        if (t->n < 0) return json_null();
        json_t *a = json_array();
        for (int i = 0; a && i < t->n; i++)
            json_array_append_new(a, json_string(t->v[i]));
        return a;
    }
    default:
        return json_integer(*(const int64_t *)base);
    }
}

json_t *policy_params_to_json(const policy_params *p)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < policy_nparams; i++)
        json_object_set_new(o, policy_params_known[i].name,
                            policy_param_json(p, &policy_params_known[i]));
    return o;
}

/* ---- the built-in host ---- */

typedef struct {
    policy_base base;
    policy_params params;
    char loaded_at[21];
} builtin_policy;

typedef struct {
    policy_base base;
    char *dir;
    builtin_policy pol; /* the one version every store uses; never freed alone */
} builtin_host;

static policy_host *bh_new(const char *dir, const policy_limits *lim, err_t *err)
{
    (void)lim;
    builtin_host *h = calloc(1, sizeof *h);
    if (!h || (dir && !(h->dir = strdup(dir)))) {
        free(h);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    h->base.impl = h->pol.base.impl = &policy_builtin;
    policy_default_params(&h->pol.params);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(h->pol.loaded_at, sizeof h->pol.loaded_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return (policy_host *)h;
}

static void bh_free(policy_host *ph)
{
    builtin_host *h = (builtin_host *)ph;
    free(h->dir);
    free(h);
}

static const char *bh_dir(const policy_host *ph)
{
    return ((const builtin_host *)ph)->dir;
}

static int bh_bind(policy_host *ph, const char *store, const char *name, err_t *err)
{
    if (strcmp(name, "default"))
        return err_set(err, ERR_POLICY_ERROR,
                       "store %s: policy %s needs the Lua policy host; this engine has only the"
                       " built-in default",
                       store, name);
    return 0;
}

static int bh_poll(policy_host *ph)
{
    return 0;
}

static int bh_reload(policy_host *ph, const char *store, err_t *err)
{
    return 0;
}

static json_t *bh_info(policy_host *ph, const char *store, err_t *err)
{
    builtin_host *h = (builtin_host *)ph;
    json_t *o = json_pack("{s:s, s:n, s:s, s:s, s:o}", "name", "default", "file", "version",
                          "builtin", "loaded_at", h->pol.loaded_at, "parameters",
                          policy_params_to_json(&h->pol.params));
    if (!o) err_set(err, ERR_INTERNAL, "out of memory");
    return o;
}

static policy *bh_acquire(policy_host *ph, const char *store, err_t *err)
{
    return (policy *)&((builtin_host *)ph)->pol;
}

static void bp_release(policy *p) {}

static const policy_params *bp_params(const policy *p)
{
    return &((const builtin_policy *)p)->params;
}

static const char *bp_version(const policy *p)
{
    return "builtin";
}

static const char *bp_name(const policy *p)
{
    return "default";
}

static bool bp_has_hook(const policy *p, policy_hook hook)
{
    return false;
}

/* Never called: a policy without hooks is decided by the C defaults. */
static int bp_amount(policy *p, policy_hook hook, const char *store, const char *today, int64_t now,
                     const policy_arg *args, int nargs, int64_t *out, err_t *err)
{
    return err_set(err, ERR_INTERNAL, "the built-in policy has no %s hook", policy_hook_name(hook));
}

static int bp_permits(policy *p, const char *store, const char *today, int64_t now, json_t *staff,
                      const char *permission, bool *out, err_t *err)
{
    return bp_amount(p, HOOK_PERMITS, store, today, now, NULL, 0, NULL, err);
}

const policy_impl policy_builtin = {
    .name = "builtin",
    .host_new = bh_new,
    .host_free = bh_free,
    .host_dir = bh_dir,
    .bind = bh_bind,
    .poll = bh_poll,
    .reload = bh_reload,
    .info = bh_info,
    .acquire = bh_acquire,
    .release = bp_release,
    .params = bp_params,
    .version = bp_version,
    .name_of = bp_name,
    .has_hook = bp_has_hook,
    .call_amount = bp_amount,
    .call_permits = bp_permits,
};

int policy_call_amount(policy *p, policy_hook hook, const char *store, const char *today,
                       int64_t now, json_t *const *args, int nargs, int64_t *out, err_t *err)
{
    enum { MAX_ARGS = 8 };
    char *texts[MAX_ARGS] = {0};
    policy_arg a[MAX_ARGS] = {{0}};
    if (nargs < 0 || nargs > MAX_ARGS)
        return err_set(err, ERR_INTERNAL, "policy_call_amount: %d arguments", nargs);
    int rc = 0;
    for (int i = 0; i < nargs && rc == 0; i++)
        if (!(a[i].text = texts[i] = jsonw_dumps(args[i] ? args[i] : json_null(), &a[i].len)))
            rc = err_set(err, ERR_INTERNAL, "out of memory");
    if (rc == 0) rc = policy_call_amount_args(p, hook, store, today, now, a, nargs, out, err);
    for (int i = 0; i < nargs; i++)
        free(texts[i]);
    return rc;
}
