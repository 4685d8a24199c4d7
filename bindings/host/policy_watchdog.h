/* policy_watchdog.h: the time budget's clock, read by a thread of its own
 * (policy_watchdog.c), so that a policy's Lua code runs without a count
 * hook. The lowest file of the policy host beside policy_budget.h, which
 * is its only user: it knows nothing of Lua. */
#ifndef CORDER_POLICY_WATCHDOG_H
#define CORDER_POLICY_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

/* Called on the watched thread, from a signal handler, once the deadline
 * has passed: it may only set flags and call lua_sethook (as lua.c does
 * from its SIGINT handler). */
typedef void (*pwt_trip_fn)(void *arg);

/* What a thread's slot watches: a call (or nothing, deadline 0). */
typedef struct {
    pwt_trip_fn trip;
    void *arg;
    int64_t deadline_ns;
} pwt_call;

/* Watches the call the calling thread is about to run: past deadline_ns
 * (CLOCK_MONOTONIC) trip(arg) runs on this thread, within about
 * PWT_PERIOD_NS. What the thread watched until now goes to *outer (when
 * not NULL): calls nest (a console chunk that makes a request whose flow
 * asks a policy), and pwt_unwatch(outer) puts the outer call back. False
 * when no watchdog can watch this thread (it could not be started, too
 * many threads, or CORDER_POLICY_WATCHDOG=0): the caller then reads the
 * clock itself. */
bool pwt_watch(pwt_trip_fn trip, void *arg, int64_t deadline_ns, pwt_call *outer);
/* The call is over: the thread watches *outer again (nothing when NULL),
 * and the call's arg is not used any more (it may be freed). */
void pwt_unwatch(const pwt_call *outer);

/* The budget's clock (CLOCK_MONOTONIC, in ns): deadlines are read on it. */
int64_t pwt_now_ns(void);

/* How often the watchdog reads the clock while calls run. */
#define PWT_PERIOD_NS 1000000

#endif
