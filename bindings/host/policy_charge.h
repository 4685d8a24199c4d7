/* policy_charge.h: psb_charge, the fast path of the budget that library
 * functions written in C call for every step (policy_bounded.c,
 * policy_match.c): a counter, and the clock only every PSB_WORK_EVERY
 * units (psb_charge_slow). */
#ifndef CORDER_POLICY_CHARGE_H
#define CORDER_POLICY_CHARGE_H

#include "host/policy_budget.h"

static inline void psb_charge(lua_State *L, size_t units)
{
    psb_state *s = psb_of(L);
    if (units < s->work_left)
        s->work_left -= units;
    else
        psb_charge_slow(L, s, units);
}

#endif
