/* slowlog.c: the slow-request log, as Redis's SLOWLOG: a ring of the last
 * SLOWLOG_MAX requests that took at least the threshold, with the op, the
 * time, the order and who asked. Recorded where dispatch finishes a
 * request (the request's own run on the server's loop: what it held every
 * other client up for; its commit's fsync is shared by the batch and not
 * counted), read by the console from its own thread: hence the mutex, held
 * only to copy an entry in or out. */
#include "ops/slowlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    char op[48], code[32], order[64], store[32], staff[32];
    int64_t us;
    time_t at;
} slow_entry;

static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static slow_entry slow_ring[SLOWLOG_MAX];
static uint64_t slow_next; /* entries ever recorded; the next slot is slow_next % MAX */
static atomic_llong slow_threshold_us = SLOWLOG_DEFAULT_MS * 1000LL;

void slowlog_set_threshold(int64_t ms)
{
    atomic_store(&slow_threshold_us, (long long)(ms < 0 ? 0 : ms) * 1000LL);
}

int64_t slowlog_threshold(void)
{
    return atomic_load(&slow_threshold_us) / 1000;
}

void slowlog_note(const char *op, const char *code, int64_t us, const char *order,
                  const char *store, const char *staff)
{
    if (us < atomic_load(&slow_threshold_us)) return;
    slow_entry e = {.us = us, .at = time(NULL)};
    snprintf(e.op, sizeof e.op, "%s", op ? op : "?");
    snprintf(e.code, sizeof e.code, "%s", code ? code : "ok");
    snprintf(e.order, sizeof e.order, "%s", order ? order : "");
    snprintf(e.store, sizeof e.store, "%s", store ? store : "");
    snprintf(e.staff, sizeof e.staff, "%s", staff ? staff : "");
    pthread_mutex_lock(&slow_mu);
    slow_ring[slow_next % SLOWLOG_MAX] = e;
    slow_next++;
    pthread_mutex_unlock(&slow_mu);
}

json_t *slowlog_get(void)
{
    static slow_entry copy[SLOWLOG_MAX];
    pthread_mutex_lock(&slow_mu);
    uint64_t n = slow_next < SLOWLOG_MAX ? slow_next : SLOWLOG_MAX, next = slow_next;
    json_t *list = json_array();
    for (uint64_t i = 0; i < n; i++)
        copy[i] = slow_ring[(next - 1 - i) % SLOWLOG_MAX];
    for (uint64_t i = 0; i < n; i++) {
        const slow_entry *e = &copy[i];
        char at[32];
        struct tm tm;
        gmtime_r(&e->at, &tm);
        strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *o =
            json_pack("{s:s, s:f, s:s, s:s, s:s, s:s}", "op", e->op, "ms", (double)e->us / 1000.0,
                      "code", e->code, "store", e->store, "staff", e->staff, "at", at);
        if (e->order[0]) json_object_set_new(o, "order", json_string(e->order));
        json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&slow_mu);
    return json_pack("{s:I, s:o}", "threshold_ms", (json_int_t)slowlog_threshold(), "entries",
                     list);
}

void slowlog_clear(void)
{
    pthread_mutex_lock(&slow_mu);
    slow_next = 0;
    pthread_mutex_unlock(&slow_mu);
}
