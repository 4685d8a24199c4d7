/* policy_watchdog.c: a thread that watches the deadlines of running policy
 * calls, so that Lua code runs without a count hook.
 *
 * Why: Lua 5.4 checks a hook before every instruction of a state that has
 * one (luaG_traceexec), whatever its count. The budget's count hook read the
 * clock every 1,000 instructions, but the check itself was 14 % of a deposit
 * call (50,400 against 43,500 instructions a call, tests/bench/policy_bench.c
 * under callgrind). Now a call publishes its deadline in a slot of its
 * thread, and this thread reads the clock every PWT_PERIOD_NS: past a
 * deadline it sends the call's thread a signal, whose handler trips the
 * budget there (policy_budget.c sets the count hook at 1, as lua.c does
 * from its SIGINT handler, and the next instruction raises the budget
 * error). A call so overruns its budget by at most a period, plus the
 * instruction or the bounded library step it is in (as before).
 *
 * A thread with no slot free, or a process where the thread or the signal
 * cannot be set up, or CORDER_POLICY_WATCHDOG=0, gets false from pwt_watch
 * and policy_budget.c keeps the count hook for its calls.
 *
 * The thread sleeps (a condition variable) once no call has run for
 * PWT_IDLE_SCANS periods, and the next call wakes it: an idle engine is
 * not woken a thousand times a second. The handshake is Dekker's: the
 * thread says it parks, then looks at every slot once more; a call stores
 * its deadline, then looks whether the thread parks. Both with sequential
 * consistency, so one of the two sees the other. */
#include "host/policy_watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PWT_SLOTS 64
#define PWT_IDLE_SCANS 200 /* 200 ms without a call: park */

typedef struct {
    atomic_int used;
    pthread_t tid;
    _Atomic int64_t deadline; /* 0: no call watched */
    _Atomic(pwt_trip_fn) trip;
    _Atomic(void *) arg;
    _Atomic uint64_t calls; /* written by the slot's thread only */
} pwt_slot;

static pwt_slot slots[PWT_SLOTS];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int started; /* 1: the thread runs; -1: it cannot */
static int sig;
static pthread_key_t exit_key;
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER; /* signalling against release */
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static atomic_int parked;
/* This thread's slot: NULL before its first call, &none when it has none. */
static __thread pwt_slot *mine;
static pwt_slot none;

int64_t pwt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* On the watched thread. Only async-signal-safe work: the slot is found
 * by the thread's id (no thread-local storage, which a module loaded with
 * dlopen may allocate on first use), the clock read again, and the trip
 * function called, which sets flags and the hook. */
static void on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    pthread_t self = pthread_self();
    for (int i = 0; i < PWT_SLOTS; i++) {
        pwt_slot *sl = &slots[i];
        if (!atomic_load(&sl->used) || !pthread_equal(sl->tid, self)) continue;
        int64_t d = atomic_load(&sl->deadline);
        pwt_trip_fn trip = atomic_load(&sl->trip);
        void *arg = atomic_load(&sl->arg);
        if (d && trip && arg && pwt_now_ns() >= d) trip(arg);
        break;
    }
    errno = saved;
}

/* Parks until a call wakes the thread; returns at once when, after saying
 * so, a slot turns out to be watching. */
static void park(void)
{
    pthread_mutex_lock(&park_mu);
    atomic_store(&parked, 1);
    for (int i = 0; i < PWT_SLOTS; i++)
        if (atomic_load(&slots[i].deadline)) atomic_store(&parked, 0);
    while (atomic_load(&parked))
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
}

static void *watch_main(void *unused)
{
    (void)unused;
    pthread_setname_np(pthread_self(), "corder-policy"); /* top -H, ps -L */
    uint64_t seen[PWT_SLOTS] = {0};
    int64_t signalled[PWT_SLOTS] = {0}; /* one signal per deadline */
    int idle = 0;
    for (;;) {
        struct timespec ts = {0, PWT_PERIOD_NS};
        nanosleep(&ts, NULL);
        int64_t now = pwt_now_ns();
        int active = 0;
        for (int i = 0; i < PWT_SLOTS; i++) {
            pwt_slot *sl = &slots[i];
            if (!atomic_load(&sl->used)) continue;
            int64_t d = atomic_load(&sl->deadline);
            uint64_t c = atomic_load_explicit(&sl->calls, memory_order_relaxed);
            if (d || c != seen[i]) active = 1;
            seen[i] = c;
            if (d && now >= d && signalled[i] != d) {
                signalled[i] = d;
                /* under the lock slot_release takes, so that a thread that
                 * gave its slot back (it is ending) is never signalled */
                pthread_mutex_lock(&slots_mu);
                if (atomic_load(&sl->used) && atomic_load(&sl->deadline) == d)
                    pthread_kill(sl->tid, sig);
                pthread_mutex_unlock(&slots_mu);
            }
        }
        if (active)
            idle = 0;
        else if (++idle >= PWT_IDLE_SCANS) {
            park();
            idle = 0;
        }
    }
    return NULL;
}

/* A thread that ends gives its slot back. */
static void slot_release(void *p)
{
    pwt_slot *sl = p;
    pthread_mutex_lock(&slots_mu);
    atomic_store(&sl->deadline, 0);
    atomic_store(&sl->arg, NULL);
    atomic_store(&sl->used, 0);
    pthread_mutex_unlock(&slots_mu);
}

/* A real-time signal nobody handles yet, with our handler. */
static int pick_signal(void)
{
    for (int s = SIGRTMIN + 4; s <= SIGRTMAX; s++) {
        struct sigaction old;
        if (sigaction(s, NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART; /* a stray one must not fail a read or write */
        sigemptyset(&sa.sa_mask);
        if (sigaction(s, &sa, NULL) == 0) return s;
    }
    return 0;
}

/* A child of fork has no watchdog thread: its calls count for themselves. */
static void after_fork_child(void)
{
    started = -1;
}

static void start(void)
{
    started = -1;
    const char *env = getenv("CORDER_POLICY_WATCHDOG");
    if (env && !strcmp(env, "0")) return;
    if (pthread_key_create(&exit_key, slot_release) != 0) return;
    sig = pick_signal();
    if (!sig) return;
    /* The thread takes no signal of the process's (SIGINT, SIGTERM ...). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    pthread_t t;
    int rc = pthread_create(&t, &attr, watch_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0 && pthread_atfork(NULL, NULL, after_fork_child) == 0) started = 1;
}

static pwt_slot *slot_take(void)
{
    pthread_once(&once, start);
    if (started != 1) return &none;
    for (int i = 0; i < PWT_SLOTS; i++) {
        int free_ = 0;
        if (atomic_compare_exchange_strong(&slots[i].used, &free_, 1)) {
            pwt_slot *sl = &slots[i];
            sl->tid = pthread_self();
            /* a thread that blocks signals must still take this one */
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, sig);
            pthread_sigmask(SIG_UNBLOCK, &s, NULL);
            pthread_setspecific(exit_key, sl);
            return sl;
        }
    }
    return &none;
}

/* The slot's call, in the order the handler reads it: the deadline last
 * (a signal between two of the stores finds no deadline, or the old call
 * whole). Release stores keep that order on this thread, where the
 * handler runs; only a call's deadline needs a full fence (pwt_watch,
 * against the watchdog's parking), so each call pays one locked
 * instruction, not eight. */
static void slot_set(pwt_slot *sl, pwt_trip_fn trip, void *arg, int64_t deadline_ns, bool fence)
{
    atomic_store_explicit(&sl->deadline, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->trip, trip, memory_order_release);
    atomic_store_explicit(&sl->arg, arg, memory_order_release);
    atomic_store_explicit(&sl->deadline, deadline_ns,
                          fence ? memory_order_seq_cst : memory_order_release);
}

/* After a deadline's fenced store: wake the watchdog if it parks. */
static void wake(void)
{
    if (!atomic_load(&parked)) return;
    pthread_mutex_lock(&park_mu);
    atomic_store(&parked, 0);
    pthread_cond_signal(&park_cv);
    pthread_mutex_unlock(&park_mu);
}

bool pwt_watch(pwt_trip_fn trip, void *arg, int64_t deadline_ns, pwt_call *outer)
{
    pwt_slot *sl = mine;
    if (!sl) sl = mine = slot_take();
    if (sl == &none || started != 1) return false;
    if (outer)
        *outer = (pwt_call){atomic_load_explicit(&sl->trip, memory_order_relaxed),
                            atomic_load_explicit(&sl->arg, memory_order_relaxed),
                            atomic_load_explicit(&sl->deadline, memory_order_relaxed)};
    atomic_store_explicit(&sl->calls, atomic_load_explicit(&sl->calls, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    slot_set(sl, trip, arg, deadline_ns ? deadline_ns : 1, true);
    wake();
    return true;
}

void pwt_unwatch(const pwt_call *outer)
{
    pwt_slot *sl = mine;
    if (!sl || sl == &none) return;
    if (outer && outer->deadline_ns) { /* the outer call goes on */
        slot_set(sl, outer->trip, outer->arg, outer->deadline_ns, true);
        wake();
    } else {
        slot_set(sl, NULL, NULL, 0, false);
    }
}
