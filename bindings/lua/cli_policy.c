/* cli_policy.c: `corder policy check FILE` (PROTOCOL.md "Command line").
 *
 * A retailer's first test of a policy file: load it in the real sandbox,
 * print its merged parameters, and run every hook it defines on built-in
 * sample inputs (an order with a ship, a pickup and a carry-out line, one
 * shipment, one return, a cashier and a manager), printing each answer.
 * Exit 0 if all of that worked; 1 with "file:line: message" on stderr if
 * anything failed; 2 on bad usage. `replay` is in cli_replay.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lcli.h"
#include "lua/cli_replay.h"
#include "model/policy.h"
#include "host/policy_lua.h"

static const char usage[] =
    "corder policy check FILE | corder policy replay --db FILE --policy FILE";

/* The order object of PROTOCOL.md, mid-life: the carry-out line invoiced at
 * creation, the ship and pickup lines open, the shipping charge owed. */
static const char sample_order[] =
    "{\"number\": \"S001-000042\", \"store\": \"S001\", \"type\": \"order\","
    " \"status\": \"open\", \"version\": 1, \"currency\": \"EUR\","
    " \"customer\": {\"account\": \"C0001\", \"name\": \"Karin Smit\", \"b2b\": false},"
    " \"created_at\": \"2024-05-01T10:00:00Z\","
    " \"lines\": ["
    "  {\"line\": 1, \"item\": \"P100\", \"name\": \"Oak table\", \"qty\": 1,"
    "   \"unit_price\": 49900, \"amount\": 49900, \"status\": \"open\","
    "   \"delivery\": {\"mode\": \"ship\", \"address\": \"home\", \"date\": \"2024-05-10\"},"
    "   \"qty_invoiced\": 0, \"qty_returned\": 0, \"qty_cancelled\": 0},"
    "  {\"line\": 2, \"item\": \"P200\", \"name\": \"Chair\", \"qty\": 4,"
    "   \"unit_price\": 8950, \"amount\": 35800, \"status\": \"open\","
    "   \"delivery\": {\"mode\": \"pickup\", \"store\": \"S001\", \"date\": \"2024-05-08\"},"
    "   \"qty_invoiced\": 0, \"qty_returned\": 0, \"qty_cancelled\": 0},"
    "  {\"line\": 3, \"item\": \"P300\", \"name\": \"Cushion\", \"qty\": 2,"
    "   \"unit_price\": 1500, \"amount\": 3000, \"status\": \"invoiced\","
    "   \"delivery\": {\"mode\": \"carryout\"},"
    "   \"qty_invoiced\": 2, \"qty_returned\": 0, \"qty_cancelled\": 0}],"
    " \"charges\": [{\"code\": \"SHIP\", \"kind\": \"shipping\", \"amount\": 4500,"
    "   \"invoiced\": false}],"
    " \"totals\": {\"lines\": 88700, \"charges\": 4500, \"order\": 93200},"
    " \"deposit\": {\"required\": 0, \"overridden\": false},"
    " \"paid\": 3000, \"refunded\": 0, \"on_account\": 0, \"balance\": 90200,"
    " \"invoices\": [{\"id\": \"S001-000042-1\", \"lines\": [{\"line\": 3, \"qty\": 2,"
    "   \"amount\": 3000}], \"charges\": 0, \"amount\": 3000, \"deposit_applied\": 0,"
    "   \"paid\": 3000}],"
    " \"returns\": [], \"policy_version\": \"\", \"sync\": {\"state\": \"pending\","
    "   \"attempts\": 0}}";

static const char sample_shipment[] =
    "{\"address\": \"home\", \"date\": \"2024-05-10\", \"method\": \"truck\", \"value\": 49900,"
    " \"lines\": [{\"line\": 1, \"item\": \"P100\", \"qty\": 1, \"unit_price\": 49900,"
    "   \"amount\": 49900}]}";

/* T1: tax samples, one per kind of destination (run each through tax). */
static const char *const sample_taxes[][2] = {
    {"a line shipped home",
     "{\"kind\": \"line\", \"line\": 1, \"item\": \"P100\", \"qty\": 1, \"amount\": 49900,"
     " \"destination\": {\"mode\": \"ship\", \"address\": \"home\", \"country\": \"NL\","
     " \"zip\": \"1012 LG\", \"city\": \"Amsterdam\"}}"},
    {"a line shipped abroad",
     "{\"kind\": \"line\", \"line\": 1, \"item\": \"P100\", \"qty\": 1, \"amount\": 49900,"
     " \"destination\": {\"mode\": \"ship\", \"address\": \"be\", \"country\": \"BE\","
     " \"zip\": \"1000\", \"city\": \"Brussel\"}}"},
    {"a pickup line",
     "{\"kind\": \"line\", \"line\": 2, \"item\": \"P200\", \"qty\": 4, \"amount\": 35800,"
     " \"destination\": {\"mode\": \"pickup\", \"store\": \"S001\"}}"},
    {"a shipping charge",
     "{\"kind\": \"charge\", \"code\": \"SHIP\", \"charge\": \"shipping\", \"amount\": 4500,"
     " \"destination\": {\"mode\": \"ship\", \"address\": \"home\", \"country\": \"NL\"}}"},
};

static const char sample_return[] =
    "{\"invoice\": \"S001-000042-2\", \"value\": 49900, \"shipping_charged\": 4500,"
    " \"shipping_refunded_so_far\": 0, \"proportional\": 4500,"
    " \"lines\": [{\"line\": 1, \"qty\": 1, \"amount\": 49900, \"reason\": \"damaged\"}]}";

static const char *const staff_samples[] = {
    "{\"id\": \"1001\", \"name\": \"Ann\", \"role\": \"cashier\"}",
    "{\"id\": \"1002\", \"name\": \"Bob\", \"role\": \"manager\"}",
};
static const char *const permissions[] = {
    "deposit_override", "cancellation_charge_override", "shipping_refund_over_limit", "ship",
    "policy_reload",
};

static void print_params(const policy *p)
{
    json_t *params = policy_params_json(p);
    const char *k;
    json_t *v;
    printf("parameters:\n");
    json_object_foreach(params, k, v)
    {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("  %-38s %s\n", k, s ? s : "?");
        free(s);
    }
}

static int check_amounts(policy *p, json_t *order, json_t *shipment, json_t *ret)
{
    struct {
        policy_hook hook;
        const char *on;
        json_t *args[2];
        int n;
    } calls[] = {
        {HOOK_DEPOSIT, "sample order", {order}, 1},
        {HOOK_SHIPPING_CHARGE, "sample shipment", {shipment, order}, 2},
        {HOOK_CANCELLATION_CHARGE, "sample order", {order}, 1},
        {HOOK_SHIPPING_REFUND, "sample return", {ret, order}, 2},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const char *name = policy_hook_name(calls[i].hook);
        if (!policy_has_hook(p, calls[i].hook)) {
            printf("  %-22s not defined: the engine's default rule applies\n", name);
            continue;
        }
        int64_t v;
        err_t e;
        err_clear(&e);
        if (policy_call_amount(p, calls[i].hook, "S001", "2024-05-02", 0, calls[i].args, calls[i].n,
                               &v, &e) < 0) {
            fprintf(stderr, "%s\n", e.message);
            failed = 1;
            continue;
        }
        printf("  %-22s %lld (on the %s)\n", name, (long long)v, calls[i].on);
    }
    if (!policy_has_hook(p, HOOK_TAX)) {
        printf("  %-22s not defined: the engine's default rule applies\n", "tax");
        return failed;
    }
    for (size_t i = 0; i < sizeof sample_taxes / sizeof sample_taxes[0]; i++) {
        json_t *item = json_loads(sample_taxes[i][1], 0, NULL);
        json_t *args[2] = {item, order};
        int64_t v;
        err_t e;
        err_clear(&e);
        if (policy_call_amount(p, HOOK_TAX, "S001", "2024-05-02", 0, args, 2, &v, &e) < 0) {
            fprintf(stderr, "%s\n", e.message);
            failed = 1;
        } else {
            printf("  %-22s %lld (on %s)\n", "tax", (long long)v, sample_taxes[i][0]);
        }
        json_decref(item);
    }
    return failed;
}

static int check_permits(policy *p)
{
    if (!policy_has_hook(p, HOOK_PERMITS)) {
        printf("  %-22s not defined: the engine's default rule applies\n", "permits");
        return 0;
    }
    int failed = 0;
    for (size_t s = 0; s < 2; s++) {
        json_t *staff = json_loads(staff_samples[s], 0, NULL);
        for (size_t i = 0; i < sizeof permissions / sizeof permissions[0]; i++) {
            bool ok;
            err_t e;
            err_clear(&e);
            if (policy_call_permits(p, "S001", "2024-05-02", 0, staff, permissions[i], &ok, &e) <
                0) {
                fprintf(stderr, "%s\n", e.message);
                failed = 1;
                break; /* one line per fault, not one per permission */
            }
            printf("  %-22s %-5s (%s, %s)\n", "permits", ok ? "true" : "false",
                   json_string_value(json_object_get(staff, "role")), permissions[i]);
        }
        json_decref(staff);
        if (failed) break;
    }
    return failed;
}

static int policy_check(const char *file)
{
    err_t e;
    err_clear(&e);
    policy *p = policy_load_file(file, NULL, &e);
    if (!p) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    printf("policy %s\nversion %s\n", file, policy_version(p));
    print_params(p);
    json_t *order = json_loads(sample_order, 0, NULL);
    json_t *shipment = json_loads(sample_shipment, 0, NULL);
    json_t *ret = json_loads(sample_return, 0, NULL);
    printf("hooks:\n");
    int failed = check_amounts(p, order, shipment, ret);
    failed |= check_permits(p);
    json_decref(order);
    json_decref(shipment);
    json_decref(ret);
    policy_release(p);
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}

int cli_policy_main(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "check")) {
        if (argc != 2 || argv[1][0] == '-') {
            fprintf(stderr, "corder: usage: corder policy check FILE\n");
            return 2;
        }
        return policy_check(argv[1]);
    }
    if (argc >= 1 && !strcmp(argv[0], "replay")) return cli_replay_main(argc - 1, argv + 1);
    fprintf(stderr, "corder: usage: %s\n", usage);
    return 2;
}
