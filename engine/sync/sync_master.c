/* sync_master.c: a store server follows HQ's master data (SPEC C4).
 *
 * At start and then every MASTER_POLL_MS (well inside the 10 s the rule
 * allows; `serve --master-poll-ms` sets another, 100 ms to 10 s) while HQ
 * answers, the server asks hq.master.since with the
 * version its database has, applies the page in one write of its own
 * (master_sync.c: checked whole, rolled back whole, logged), and asks
 * again at once while HQ says `more`. When HQ cannot be reached it keeps
 * serving on what it has, tries again every MASTER_RETRY_MS, and
 * sync.status shows how old its master data is (master_sync.checked_at:
 * when HQ last said there is nothing newer).
 *
 * It has its own connection to HQ, so a slow or refused master call never
 * holds the uploader's. It signs in as one of the stores of its database:
 * the one that worked last time (kept in master_sync.store), else one the
 * uploader has delivered for, else the first; a store HQ refuses (with
 * per-store tokens only one store's token is this server's) makes it try
 * the next one at the next poll. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/text.h"
#include "store/master_sync.h"
#include "sync/sync.h"
#include "sync/uplink.h"

#define MASTER_TICK_MS 250
#define MASTER_POLL_MS 3000
#define MASTER_RETRY_MS 2000
#define MASTER_CALL_MS 5000
#define MASTER_PAGE 500

struct sync_master {
    sync_agent_config cfg;
    uplink *link;
    struct event *tick;
    bool busy, reported;
    int64_t next_us;
    int64_t poll_us; /* between two polls */
    char store[32];  /* signing in as */
    bool store_known;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The store to sign in as; after a refusal (next), the one after it. */
static bool pick_store(sync_master *m, bool next)
{
    err_t err = {0};
    engine *e = m->cfg.e;
    if (!m->store_known && !next) {
        master_sync_state st;
        if (master_sync_state_get(e, &st, &err) == 0 && *st.store) {
            text_copy(m->store, sizeof m->store, st.store);
            m->store_known = true;
            return true;
        }
        sqlite3_stmt *q = engine_stmt(e,
                                      "SELECT id FROM stores s ORDER BY (SELECT c.last_ok_at FROM"
                                      " sync_cursor c WHERE c.store = s.id) IS NULL, id LIMIT 1",
                                      &err);
        if (!q) return false;
        bool found = sqlite3_step(q) == SQLITE_ROW;
        if (found) text_copy(m->store, sizeof m->store, (const char *)sqlite3_column_text(q, 0));
        sqlite3_reset(q);
        m->store_known = found;
        return found;
    }
    sqlite3_stmt *q = engine_stmt(e,
                                  "SELECT coalesce((SELECT min(id) FROM stores WHERE id > ?),"
                                  " (SELECT min(id) FROM stores))",
                                  &err);
    if (!q) return false;
    sqlite3_bind_text(q, 1, m->store, -1, SQLITE_TRANSIENT);
    bool found = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0);
    if (found) text_copy(m->store, sizeof m->store, (const char *)sqlite3_column_text(q, 0));
    sqlite3_reset(q);
    m->store_known = found;
    return found;
}

typedef struct {
    json_t *answer;
    master_page_out out;
} apply_args;

static int apply_fn(engine *e, void *arg, err_t *err)
{
    apply_args *a = arg;
    return master_sync_apply(e, a->answer, &a->out, err);
}

typedef struct {
    const char *store, *error;
    bool current;
} note_args;

static int note_fn(engine *e, void *arg, err_t *err)
{
    note_args *n = arg;
    return master_sync_note(e, n->store, n->error, n->current, err);
}

static void note(sync_master *m, const char *store, const char *error, bool current)
{
    err_t err = {0};
    note_args n = {store, error, current};
    if (m->cfg.write(m->cfg.write_ctx, note_fn, &n, &err) < 0)
        fprintf(stderr, "corder: master data: %s\n", err.message);
}

static void poll(sync_master *m);

static void failed(sync_master *m, const char *why, bool other_store)
{
    char msg[300];
    snprintf(msg, sizeof msg, "HQ's master data not read: %s", why);
    if (!m->reported) fprintf(stderr, "corder: %s\n", msg);
    m->reported = true;
    note(m, NULL, msg, false);
    if (other_store) pick_store(m, true);
    m->busy = false;
    m->next_us = now_us() + MASTER_RETRY_MS * 1000;
}

static void since_cb(void *arg, json_t *resp, const char *error)
{
    sync_master *m = arg;
    if (!resp) {
        failed(m, error ? error : "no answer", false);
        return;
    }
    json_t *e = json_object_get(resp, "error");
    if (e) {
        char why[256];
        const char *code = json_string_value(json_object_get(e, "code"));
        snprintf(why, sizeof why, "%s: %s", code ? code : "?",
                 json_string_value(json_object_get(e, "message")) ?: "");
        failed(m, why, code && !strcmp(code, "unauthenticated"));
        return;
    }
    apply_args a = {.answer = json_object_get(resp, "result")};
    err_t err = {0};
    if (m->cfg.write(m->cfg.write_ctx, apply_fn, &a, &err) < 0) {
        char why[300];
        snprintf(why, sizeof why, "a page from HQ was refused, nothing of it applied: %s",
                 err.message);
        fprintf(stderr, "corder: %s\n", why);
        note(m, m->store, why, false);
        m->busy = false;
        m->next_us = now_us() + m->poll_us;
        return;
    }
    if (a.out.applied || a.out.restart)
        fprintf(stderr, "corder: master data from HQ: version %lld -> %lld (%lld changes)%s\n",
                (long long)a.out.from, (long long)a.out.to, (long long)a.out.applied,
                a.out.restart ? ", starting over: another HQ database" : "");
    if (m->reported) fprintf(stderr, "corder: HQ's master data reachable again\n");
    m->reported = false;
    if (a.out.more) { /* the rest at once */
        poll(m);
        return;
    }
    note(m, m->store, NULL, true);
    m->busy = false;
    m->next_us = now_us() + m->poll_us;
}

static void poll(sync_master *m)
{
    err_t err = {0};
    master_sync_state st;
    if (master_sync_state_get(m->cfg.e, &st, &err) < 0 ||
        (!m->store_known && !pick_store(m, false))) {
        m->busy = false; /* no store in the database yet: nothing to sign in as */
        m->next_us = now_us() + MASTER_RETRY_MS * 1000;
        return;
    }
    m->busy = true;
    uplink_call(m->link, m->store, "hq.master.since",
                json_pack("{s:I, s:i}", "version", (json_int_t)st.version, "limit", MASTER_PAGE),
                MASTER_CALL_MS, since_cb, m);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    sync_master *m = arg;
    if (!m->busy && now_us() >= m->next_us) poll(m);
}

sync_master *sync_master_new(const sync_agent_config *cfg, err_t *err)
{
    sync_master *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->poll_us = (cfg->master_poll_ms > 0 ? cfg->master_poll_ms : MASTER_POLL_MS) * (int64_t)1000;
    m->link = uplink_new(cfg->base, cfg->hq, cfg->token, cfg->hq_ca, err);
    m->tick = m->link ? event_new(cfg->base, -1, EV_PERSIST, tick_cb, m) : NULL;
    struct timeval tv = {0, MASTER_TICK_MS * 1000};
    if (!m->tick || event_add(m->tick, &tv) < 0) {
        if (!err->code) err_set(err, ERR_INTERNAL, "cannot start the master-data poll");
        sync_master_free(m);
        return NULL;
    }
    return m; /* next_us 0: the first poll at the first tick (start) */
}

void sync_master_free(sync_master *m)
{
    if (!m) return;
    if (m->tick) event_free(m->tick);
    uplink_free(m->link);
    free(m);
}
