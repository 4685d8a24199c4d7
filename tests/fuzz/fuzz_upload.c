/* fuzz_upload.c: libFuzzer target for the uploader's event path, store to
 * HQ, in one process without sockets.
 *
 * One engine for the whole run plays HQ: a temp-file database seeded from
 * examples/seed.json, HQ's storage (hq_store_sqlite) and ops registered,
 * synchronous=OFF. The first byte of an input picks what the rest is:
 *   0  an outbox event's payload, as bytes. It goes through the store's
 *      encoder (sync_encode_event), which either refuses it with a kind
 *      (unreadable, too_big) and a reason, or encodes it; the encoded
 *      event is sent as the uploader sends it (an hq.upload request line)
 *      through dispatch with a session signed in as store S001. HQ either
 *      accepts it, and then it reads back identically (the kept event, and
 *      the order document of hq.order.get), the same line again is a
 *      duplicate and the event with other content a conflict naming store
 *      and seq; or HQ refuses it as bad_request or validation, or (C5) as
 *      a conflict naming the owner when the order is another store's,
 *      keeping nothing; never anything else.
 *   1  request lines (up to 16), run as they come, in that session: any op
 *      of HQ with any arguments.
 *   2  the order number of an otherwise fine event, as bytes (in a JSON
 *      string when they are UTF-8): as 0.
 * Every answer must be one JSON object of PROTOCOL.md's shape, and no
 * transaction may be left open. The event tables are emptied every 512
 * inputs so the database stays small. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "sync/hq.h"
#include "store/seed.h"
#include "store/sync_queue.h"
#include "fuzz_tmp.h"

#define MAX_LINES 16

static engine *eng;
static hq_store *hq;
static int64_t next_seq = 1;
static unsigned long inputs;

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_upload: %s: %s\n", what, why);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char db[96];
    if (!fuzz_tmp_db("fuzz_upload", db, sizeof db)) fail("mkdtemp", "failed");
    err_t err = {0};
    json_error_t jerr;
    json_t *seed = json_load_file(CORDER_SOURCE_DIR "/examples/seed.json", 0, &jerr);
    if (!seed) fail("seed", jerr.text);
    engine_config cfg = {.db_path = db, .hq_role = true, .no_policies = true};
    eng = engine_open(&cfg, &err);
    if (!eng || seed_apply(eng, seed, &err) < 0) fail("engine", err.message);
    json_decref(seed);
    sqlite3_exec(engine_db(eng), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    hq = hq_store_sqlite_new(eng, &err);
    if (!hq) fail("hq store", err.message);
    if (hq_ops_register(hq, "fuzz-token") < 0) abort();
    unlink(db); /* the open handle keeps it; the rest goes at exit (fuzz_tmp.h) */
    return 0;
}

static session peer(void)
{
    return (session){.hq_peer = true, .store = "S001"};
}

/* Runs one line as the server does; the answer must be one response object. */
static json_t *run(session *s, const char *line, size_t len)
{
    bool is_write;
    size_t n;
    json_t *id;
    char *text = dispatch_line_text(eng, s, line, len, &is_write, &n, &id);
    if (!text) fail("dispatch_line_text", "no answer");
    if (strlen(text) != n) fail("dispatch_line_text", "length or NUL in the answer");
    json_t *r = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(r)) fail("answer", "not one JSON object");
    free(text);
    json_decref(id);
    json_t *ok = json_object_get(r, "ok");
    if (!json_is_boolean(ok) || !json_object_get(r, "id")) fail("answer", "no ok or id");
    json_t *code = json_object_get(json_object_get(r, "error"), "code");
    if (json_is_true(ok) ? !json_is_object(json_object_get(r, "result")) : !json_is_string(code))
        fail("answer", "no result or error code");
    if (engine_in_txn(eng)) fail("dispatch", "left a transaction open");
    /* Conflicts are recorded after their request, as the server does. */
    err_t err = {0};
    if (engine_begin(eng, &err) < 0 || hq_ops_flush(eng, &err) < 0 || engine_commit(eng, &err) < 0)
        fail("hq_ops_flush", err.message);
    return r;
}

static json_t *upload(session *s, json_t *ev)
{
    json_t *req = json_pack("{s:I, s:s, s:{s:s, s:[O]}}", "id", (json_int_t)next_seq, "op",
                            "hq.upload", "args", "store", "S001", "events", ev);
    char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!line) fail("request", "cannot be written");
    json_t *r = run(s, line, strlen(line));
    free(line);
    json_decref(req);
    return r;
}

static const char *code_of(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

/* The event as HQ keeps it equals what was sent. */
static void read_back(session *s, int64_t seq, json_t *ev)
{
    json_t *sent = json_object_get(ev, "payload");
    const char *number = json_string_value(json_object_get(sent, "number"));
    if (!number) fail("accepted", "an event without a number");
    err_t err = {0};
    sqlite3_stmt *st = engine_stmt(
        eng, "SELECT payload, type, order_number FROM hq_events WHERE store = 'S001' AND seq = ?",
        &err);
    if (!st) fail("read back", err.message);
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) != SQLITE_ROW) fail("read back", "the accepted event is not kept");
    json_t *kept = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    if (!json_equal(kept, sent)) fail("read back", "the kept payload differs");
    if (strcmp((const char *)sqlite3_column_text(st, 1),
               json_string_value(json_object_get(ev, "type"))))
        fail("read back", "the kept type differs");
    if (strcmp((const char *)sqlite3_column_text(st, 2), number))
        fail("read back", "the kept order number differs");
    sqlite3_reset(st);
    json_decref(kept);
    /* The order's document is the newest event's: this one, unless a line
     * of another input sent one with a higher seq. */
    st = engine_stmt(eng, "SELECT last_seq FROM hq_orders WHERE store = 'S001' AND number = ?",
                     &err);
    if (!st) fail("read back", err.message);
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) fail("read back", "no order record");
    int64_t last = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (last < seq) fail("read back", "the order record is older than its newest event");
    json_t *req = json_pack("{s:i, s:s, s:{s:s, s:s}}", "id", 1, "op", "hq.order.get", "args",
                            "store", "S001", "number", number);
    char *line = json_dumps(req, JSON_COMPACT);
    json_t *r = run(s, line, strlen(line));
    if (!json_is_true(json_object_get(r, "ok"))) fail("hq.order.get", "the order is not there");
    if (last == seq && !json_equal(json_object_get(json_object_get(r, "result"), "order"), sent))
        fail("hq.order.get", "the order document differs from the newest event");
    json_decref(r);
    free(line);
    json_decref(req);
}

/* A refused event left nothing at HQ. */
static void kept_none(int64_t seq)
{
    err_t err = {0};
    sqlite3_stmt *st =
        engine_stmt(eng, "SELECT count(*) FROM hq_events WHERE store = 'S001' AND seq = ?", &err);
    if (!st) fail("kept none", err.message);
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0)
        fail("hq.upload", "a refused event was kept");
    sqlite3_reset(st);
}

static void event_path(const char *type, const char *payload, size_t len, const char *hq_order)
{
    session s = peer();
    int64_t seq = next_seq++;
    char clear[128]; /* a line of an earlier input may have used this seq */
    snprintf(clear, sizeof clear, "DELETE FROM hq_events WHERE store = 'S001' AND seq = %lld",
             (long long)seq);
    sqlite3_exec(engine_db(eng), clear, NULL, NULL, NULL);
    json_t *ev;
    size_t bytes;
    const char *kind;
    char why[200];
    if (sync_encode_event(seq, type, payload, len, hq_order, &ev, &bytes, &kind, why, sizeof why) <
        0) {
        if (strcmp(kind, "unreadable") && strcmp(kind, "too_big")) fail("encode", "unknown kind");
        json_t *j = json_string(why);
        if (!*why || !j) fail("encode", "no reason, or not UTF-8");
        json_decref(j);
        return;
    }
    char *text = json_dumps(ev, JSON_COMPACT);
    if (!text || strlen(text) != bytes) fail("encode", "the size is not the encoded size");
    free(text);
    json_t *r = upload(&s, ev);
    if (!json_is_true(json_object_get(r, "ok"))) {
        const char *code = code_of(r);
        if (!strcmp(code, "conflict")) {
            /* C5: an order another store made is kept only from its owner;
             * from any other store it is a conflict naming the owner. */
            const char *maker =
                json_string_value(json_object_get(json_object_get(ev, "payload"), "store"));
            const char *owner = json_string_value(
                json_object_get(json_object_get(json_object_get(r, "error"), "details"), "owner"));
            if (!maker || !strcmp(maker, "S001") || !owner || !strcmp(owner, "S001"))
                fail("hq.upload", "a conflict for a fresh event of the uploader's own order");
            kept_none(seq);
        } else if (strcmp(code, "bad_request") && strcmp(code, "validation")) {
            fail("hq.upload refused a fresh event", code);
        }
        json_decref(r);
        json_decref(ev);
        return;
    }
    json_t *res = json_object_get(r, "result");
    if (json_integer_value(json_object_get(res, "accepted")) != 1)
        fail("hq.upload", "a fresh event not accepted");
    json_decref(r);
    read_back(&s, seq, ev);
    /* the same event again: a duplicate */
    r = upload(&s, ev);
    res = json_object_get(r, "result");
    if (json_integer_value(json_object_get(res, "duplicates")) != 1)
        fail("hq.upload", "the same event again is not a duplicate");
    json_decref(r);
    /* other content under the same seq: a conflict, naming store and seq */
    json_t *other = json_deep_copy(ev);
    json_object_set_new(json_object_get(other, "payload"), "_fuzz_other", json_integer(seq));
    if (!json_equal(other, ev)) {
        r = upload(&s, other);
        json_t *d = json_object_get(json_object_get(r, "error"), "details");
        const char *code = code_of(r);
        if (code && !strcmp(code, "bad_request")) {
            /* too long a line now: fine */
        } else if (!code || strcmp(code, "conflict") ||
                   json_integer_value(json_object_get(d, "seq")) != seq ||
                   strcmp(json_string_value(json_object_get(d, "store")) ?: "", "S001")) {
            fail("hq.upload", "other content under a kept seq is not a conflict");
        }
        json_decref(r);
        read_back(&s, seq, ev); /* and HQ still has the first */
    }
    json_decref(other);
    json_decref(ev);
}

static void lines_path(const char *p, const char *end)
{
    session s = peer();
    for (int n = 0; n < MAX_LINES && p < end; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_decref(run(&s, p, len));
        p += len + 1;
    }
}

static void cleanup(void)
{
    sqlite3_exec(engine_db(eng),
                 "DELETE FROM hq_events; DELETE FROM hq_orders; DELETE FROM hq_conflicts;", NULL,
                 NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "order.create", "order.edit", "order.cancel", "order.return",
        "order.pickup", "",           "x\xff",        NULL};
    if (size == 0) return 0;
    if (++inputs % 512 == 0) cleanup();
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    const char *type = types[(data[0] >> 2) % (sizeof types / sizeof *types)];
    const char *hq_order = data[0] & 0x80 ? "HQ-000001" : NULL;
    switch (data[0] % 3) {
    case 0:
        event_path(type, rest, len, hq_order);
        break;
    case 1:
        lines_path(rest, rest + len);
        break;
    default: {
        json_t *number = json_stringn(rest, len);
        json_t *doc = json_pack("{s:o?, s:s, s:s, s:[]}", "number", number, "store", "S001",
                                "status", "open", "lines");
        char *payload = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (payload) event_path(type, payload, strlen(payload), hq_order);
        free(payload);
        json_decref(doc);
    }
    }
    return 0;
}
