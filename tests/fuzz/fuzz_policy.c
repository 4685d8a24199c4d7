/* fuzz_policy.c: libFuzzer target for the policy loader (and, when a
 * fuzzed source loads, its hooks).
 *
 * The input is a policy's source. It is compiled and run in the sandbox by
 * pld_load (what policy_load_file does after reading the file), with a small
 * memory cap and a short budget so runaway sources end fast. When it loads,
 * each amount hook it defines is called once with a sample order, and
 * permits with a sample staff member, through the real call path
 * (conversion, ctx, answer checks). Errors are expected; crashes, leaks and
 * sanitizer reports are not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/policy_int.h"

static json_t *sample_order, *ret, *staff;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_error_t jerr;
    sample_order = json_loads(
        "{\"number\":\"S001-000001\",\"status\":\"open\",\"customer\":{\"account\":\"C0001\","
        "\"name\":\"Karin Smit\",\"b2b\":false},\"lines\":[{\"line\":1,\"item\":\"P100\","
        "\"qty\":1,\"unit_price\":49900,\"amount\":49900,\"delivery\":{\"mode\":\"ship\","
        "\"address\":\"home\",\"date\":\"2030-02-15\"},\"qty_invoiced\":0,\"qty_returned\":0,"
        "\"qty_cancelled\":0},{\"line\":2,\"item\":\"P300\",\"qty\":3,\"unit_price\":1999,"
        "\"delivery\":{\"mode\":\"carryout\"},\"qty_invoiced\":3,\"qty_returned\":0,"
        "\"qty_cancelled\":0}],\"charges\":[{\"code\":\"SHIP\",\"kind\":\"shipping\","
        "\"amount\":995,\"invoiced\":false}],\"totals\":{\"lines\":55897,\"charges\":995,"
        "\"order\":56892,\"open\":49900},\"deposit\":{\"base\":50895}}",
        0, &jerr);
    ret = json_loads("{\"lines\":[{\"line\":1,\"qty\":1}],\"proportional\":995}", 0, &jerr);
    staff = json_loads("{\"id\":\"1001\",\"name\":\"Ann\",\"role\":\"cashier\"}", 0, &jerr);
    if (!sample_order || !ret || !staff) abort();
    policy_set_now(1893499200);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    policy_limits lim = {.memory_cap = 4u << 20, .budget_us = 20000};
    err_t err = {0};
    policy *p = pld_load("fuzz", "fuzz.lua", (const char *)data, size, &lim, &err);
    if (!p) {
        if (!err.message[0]) abort(); /* a failure must say why */
        return 0;
    }
    json_t *one[1] = {sample_order}, *two_ship[2] = {sample_order, sample_order},
           *two_ret[2] = {ret, sample_order};
    for (int h = 0; h < HOOK_PERMITS; h++) {
        if (!policy_has_hook(p, (policy_hook)h)) continue;
        int64_t v;
        json_t *const *args = h == HOOK_SHIPPING_CHARGE   ? two_ship
                              : h == HOOK_SHIPPING_REFUND ? two_ret
                                                          : one;
        int n = args == one ? 1 : 2;
        err_clear(&err);
        if (policy_call_amount(p, (policy_hook)h, "S001", "2030-01-01", 0, args, n, &v, &err) ==
                0 &&
            (v < 0 || v > INT64_C(1000000000000000)))
            abort();
    }
    if (policy_has_hook(p, HOOK_PERMITS)) {
        bool ok;
        err_clear(&err);
        policy_call_permits(p, "S001", "2030-01-01", 0, staff, "deposit_override", &ok, &err);
    }
    policy_release(p);
    return 0;
}
