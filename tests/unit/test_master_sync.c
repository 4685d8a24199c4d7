/* test_master_sync.c: SPEC C4 without a network: HQ's master data with
 * versions (master_log.c) handed to a store's database page by page
 * (master_sync.c). A store that had only its own store ends with the same
 * master data as HQ; a change at HQ is one change with a new version; a
 * small limit pages; a removed staff member is a tombstone that removes
 * them at the store and moves the staff epoch (sessions checked again); a
 * page with one bad change leaves the store exactly as it was. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/engine.h"
#include "store/master_log.h"
#include "store/master_sync.h"
#include "store/seed.h"
#include "t.h"

static char hq_path[256], st_path[256];

static engine *open_db(const char *path)
{
    err_t err = {0};
    engine_config cfg = {.db_path = path, .no_policies = true};
    engine *e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open %s: %s", path, err.message);
    return e;
}

static int64_t int_query(engine *e, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(engine_db(e), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec(engine *e, const char *sql)
{
    CHECK(sqlite3_exec(engine_db(e), sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
          sqlite3_errmsg(engine_db(e)));
}

/* Every master row, as one string, to compare two databases. */
static char *dump(engine *e)
{
    static const char *const q[] = {
        "SELECT * FROM stores ORDER BY id",         "SELECT * FROM staff ORDER BY id",
        "SELECT * FROM staff_stores ORDER BY 1, 2", "SELECT * FROM customers ORDER BY 1",
        "SELECT * FROM addresses ORDER BY 1, 2",    "SELECT * FROM products ORDER BY 1",
        "SELECT * FROM reason_codes ORDER BY 1, 2", NULL};
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    for (int i = 0; q[i] && out; i++) {
        sqlite3_stmt *st;
        sqlite3_prepare_v2(engine_db(e), q[i], -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const char *t = (const char *)sqlite3_column_text(st, c);
                n += (size_t)snprintf(out + n, cap - n, "%s|", t ? t : "");
                if (n >= cap) n = cap - 1;
            }
        sqlite3_finalize(st);
        n += (size_t)snprintf(out + n, cap - n, "\n");
        if (n >= cap) n = cap - 1;
    }
    return out;
}

/* hq.master.since at HQ, as the op answers it. */
static json_t *since(engine *hq, int64_t v, int limit)
{
    json_t *changes;
    int64_t version;
    bool more;
    char source[40];
    err_t err = {0};
    CHECK(master_log_since(hq, v, limit, &changes, &version, &more, source, &err) == 0, "since: %s",
          err.message);
    return json_pack("{s:I, s:o, s:b, s:s}", "version", (json_int_t)version, "changes", changes,
                     "more", more, "source", source);
}

/* Applies a page in one transaction; rolled back when refused. */
static int apply(engine *st, json_t *page, master_page_out *out, err_t *err)
{
    if (engine_begin(st, err) < 0) return -1;
    if (master_sync_apply(st, page, out, err) < 0) {
        engine_rollback(st);
        return -1;
    }
    return engine_commit(st, err);
}

/* Asks and applies until caught up; the number of pages. */
static int follow(engine *hq, engine *st, int limit)
{
    int pages = 0;
    for (;;) {
        master_sync_state ms;
        master_page_out out;
        err_t err = {0};
        master_sync_state_get(st, &ms, &err);
        json_t *page = since(hq, ms.version, limit);
        int rc = apply(st, page, &out, &err);
        CHECK(rc == 0, "page applied: %s", err.message);
        json_decref(page);
        pages++;
        if (rc < 0 || !out.more || pages > 1000) return pages;
    }
}

int main(void)
{
    snprintf(hq_path, sizeof hq_path, "/tmp/corder-test-master-hq-%d.db", (int)getpid());
    snprintf(st_path, sizeof st_path, "/tmp/corder-test-master-st-%d.db", (int)getpid());
    char path[512];
    const char *root = getenv("CORDER_ROOT");
    snprintf(path, sizeof path, "%s/examples/seed.json", root ? root : ".");
    json_t *seed = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    CHECK(seed != NULL, "cannot read %s", path);
    if (!seed) return T_DONE();
    err_t err = {0};

    engine *hq = open_db(hq_path);
    CHECK(seed_apply(hq, seed, &err) == 0, "HQ seed: %s", err.message);
    CHECK(master_log_install(hq, &err) == 0, "install: %s", err.message);
    CHECK(master_log_install(hq, &err) == 0, "install again: %s", err.message);
    int64_t rows = int_query(hq, "SELECT count(*) FROM hq_master_log");
    CHECK(rows > 10, "every master row has a version (%lld)", (long long)rows);

    /* the store knows only its own store */
    engine *st = open_db(st_path);
    json_t *own =
        json_pack("{s:[O]}", "stores", json_array_get(json_object_get(seed, "stores"), 0));
    CHECK(seed_apply(st, own, &err) == 0, "store seed: %s", err.message);
    json_decref(own);

    /* C4: a full download in small pages gives the store HQ's master data */
    int pages = follow(hq, st, 3);
    CHECK(pages >= (int)(rows / 3), "paged by 3: %d pages for %lld rows", pages, (long long)rows);
    char *a = dump(hq), *b = dump(st);
    CHECK(a && b && !strcmp(a, b), "the store has HQ's master data");
    free(a);
    free(b);
    CHECK(int_query(st, "SELECT count(*) FROM txlog WHERE op = 'master.apply'") == pages - 1 ||
              int_query(st, "SELECT count(*) FROM txlog WHERE op = 'master.apply'") == pages,
          "each page with changes logged");
    master_sync_state ms;
    master_sync_state_get(st, &ms, &err);
    CHECK(ms.version == int_query(hq, "SELECT max(version) FROM hq_master_log"), "at HQ's version");

    /* the same seed again at HQ: no new version */
    int64_t v0 = int_query(hq, "SELECT max(version) FROM hq_master_log");
    CHECK(seed_apply(hq, seed, &err) == 0, "seed again: %s", err.message);
    CHECK(int_query(hq, "SELECT max(version) FROM hq_master_log") == v0, "nothing new");

    /* a new price: one change with a new version; O2 is the flows' (lines keep theirs) */
    exec(hq, "UPDATE products SET price = price + 100 WHERE item = 'P100'");
    json_t *p = since(hq, v0, 500);
    CHECK(json_array_size(json_object_get(p, "changes")) == 1, "one change");
    json_decref(p);
    follow(hq, st, 500);
    CHECK(int_query(st, "SELECT price FROM products WHERE item = 'P100'") ==
              int_query(hq, "SELECT price FROM products WHERE item = 'P100'"),
          "the new price at the store");

    /* a staff member removed: a tombstone, gone at the store, sessions rechecked */
    uint64_t epoch = engine_staff_epoch(st);
    json_t *rm = json_pack("{s:{s:[s]}}", "remove", "staff", "1001");
    CHECK(seed_apply(hq, rm, &err) == 0, "remove: %s", err.message);
    json_decref(rm);
    follow(hq, st, 500);
    CHECK(int_query(st, "SELECT count(*) FROM staff WHERE id = '1001'") == 0, "1001 gone");
    CHECK(int_query(st, "SELECT count(*) FROM staff_stores WHERE staff = '1001'") == 0,
          "and their stores");
    CHECK(engine_staff_epoch(st) != epoch, "staff epoch moved");

    /* a page with a good change, then a bad one, changes nothing */
    a = dump(st);
    master_sync_state_get(st, &ms, &err);
    json_t *bad = json_pack(
        "{s:I, s:s, s:b, s:[{s:s, s:s, s:I, s:{s:s, s:s, s:i}}, {s:s, s:s, s:I, s:{s:s, s:s, "
        "s:i}}]}",
        "version", (json_int_t)ms.version + 2, "source", ms.source, "more", 0, "changes", "kind",
        "product", "key", "P100", "version", (json_int_t)ms.version + 1, "doc", "item", "P100",
        "name", "Cheap", "price", 1, "kind", "product", "key", "P200", "version",
        (json_int_t)ms.version + 2, "doc", "item", "P200", "name", "Bad", "price", -1);
    master_page_out out;
    err_clear(&err);
    CHECK(apply(st, bad, &out, &err) < 0, "a bad page is refused");
    json_decref(bad);
    b = dump(st);
    CHECK(a && b && !strcmp(a, b), "nothing of it applied");
    free(a);
    free(b);
    master_sync_state after;
    master_sync_state_get(st, &after, &err);
    CHECK(after.version == ms.version, "version kept");

    json_decref(seed);
    engine_close(hq);
    engine_close(st);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[300];
        snprintf(f, sizeof f, "%s%s", hq_path, sfx[i]);
        unlink(f);
        snprintf(f, sizeof f, "%s%s", st_path, sfx[i]);
        unlink(f);
    }
    return T_DONE();
}
