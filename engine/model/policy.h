/* policy.h: the one narrow interface through which the engine asks a
 * store's policy for decisions (SPEC section 7, POLICY.md). The engine never
 * sees a lua_State: the implementation lives in bindings/policy_host.c.
 *
 * A `policy` is one loaded version of one policy file. Requests take a
 * reference for their whole duration (policy_acquire/policy_release), so a
 * hot reload that swaps in a new version never changes the rules under a
 * request in flight (L3). */
#ifndef CORDER_POLICY_H
#define CORDER_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/err.h"

typedef struct policy_host policy_host;
typedef struct policy policy;

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
} policy_params;

typedef enum {
    HOOK_DEPOSIT,
    HOOK_SHIPPING_CHARGE,
    HOOK_CANCELLATION_CHARGE,
    HOOK_SHIPPING_REFUND,
    HOOK_PERMITS,
    HOOK_COUNT
} policy_hook;

typedef struct {
    size_t memory_cap; /* bytes per policy state; 0 = default 32 MiB */
    int64_t budget_us; /* wall-clock budget per hook call; 0 = default 50 ms */
} policy_limits;

/* The built-in defaults of SPEC section 3 (what policies/default.lua spells out). */
void policy_default_params(policy_params *p);
const char *policy_hook_name(policy_hook h);

/* dir: where NAME.lua files live (may be NULL: then only "default" exists,
 * built in). */
policy_host *policy_host_new(const char *dir, const policy_limits *lim, err_t *err);
void policy_host_free(policy_host *h);
const char *policy_host_dir(const policy_host *h);

/* Binds a store to the policy NAME, loading it if no store uses it yet. A
 * missing or broken file is an error that names the store and the file. */
int policy_host_bind(policy_host *h, const char *store, const char *name, err_t *err);

/* Re-reads the files of every bound policy whose mtime or size changed and
 * swaps in each that loads cleanly; a broken file keeps the old version and
 * its error is kept for policy_info. Returns how many versions changed. */
int policy_host_poll(policy_host *h);

/* Forces a reload of the store's policy file (NULL: every store's). On
 * failure the old version stays in force and err says why (file:line). */
int policy_host_reload(policy_host *h, const char *store, err_t *err);

/* {name, file, version, loaded_at, parameters, last_error?} for a store. */
json_t *policy_host_info(policy_host *h, const char *store, err_t *err);

policy *policy_acquire(policy_host *h, const char *store, err_t *err);
void policy_release(policy *p);

const policy_params *policy_get_params(const policy *p);
const char *policy_version(const policy *p); /* SHA-256 of the source, hex */
const char *policy_name(const policy *p);
bool policy_has_hook(const policy *p, policy_hook hook);

/* Calls an amount hook (deposit, shipping_charge, cancellation_charge,
 * shipping_refund) with args converted to Lua tables and ctx = {store, today,
 * params} appended. The answer must be an integer in [0, MONEY_MAX]; anything
 * else, a runtime error, or going over the memory cap or the instruction
 * budget gives ERR_POLICY_ERROR with a message naming file:line. */
int policy_call_amount(policy *p, policy_hook hook, const char *store, const char *today,
                       json_t *const *args, int nargs, int64_t *out, err_t *err);

/* The same, with each argument given as JSON text (one complete value):
 * the engine writes order views as text, and they reach Lua without a
 * jansson tree in between. */
int policy_call_amount_text(policy *p, policy_hook hook, const char *store, const char *today,
                            const char *const *args, const size_t *lens, int nargs, int64_t *out,
                            err_t *err);

/* permits(staff, permission, ctx); the answer must be a boolean. */
int policy_call_permits(policy *p, const char *store, const char *today, json_t *staff,
                        const char *permission, bool *out, err_t *err);

/* Loads FILE on its own (for `corder policy check` and replay); NULL on error. */
policy *policy_load_file(const char *file, const policy_limits *lim, err_t *err);

/* Added after the first cut (extensions, nothing above changed): */

/* The file a version was loaded from; NULL for the built-in default. */
const char *policy_file(const policy *p);
/* The merged parameters as JSON (what ctx.params holds); owned by p. */
json_t *policy_params_json(const policy *p);
/* Pins ctx.now (epoch seconds, handed to hooks as ISO-8601 UTC) for every
 * call; 0 follows the real clock. For tests and replay. Process-wide. */
void policy_set_now(int64_t now);

#endif
