/* hq_store_pg.c: HQ's storage (hq_store.h) on PostgreSQL, for a chain
 * (SPEC C1): any number of `corder serve --role hq --hq-db URL` processes
 * share one database, and what makes that safe is in the database, not in
 * luck:
 *   - an event is kept once per (store, seq): the primary key, and
 *     INSERT … ON CONFLICT DO NOTHING; a second process offering the same
 *     event at the same moment waits for the first's commit and then sees
 *     it (a duplicate, or a conflict when the content differs);
 *   - the synchronize job claims uploaded orders with SELECT … FOR UPDATE
 *     SKIP LOCKED inside its transaction, so two processes running it at
 *     once never take the same order, and never wait for each other;
 *   - sales-order ids come from one sequence (hq_order_seq).
 *
 * Schema (versioned: hq_schema_version holds the version reached; the
 * migrations below run in order, under an advisory lock so that processes
 * starting together migrate once). Every table of store data has the store
 * as the first column of its primary key, so it can be distributed by
 * store (Citus: create_distributed_table(…, 'store')); master data
 * (hq_stores, hq_customers, hq_products) is small and read by every store:
 * reference tables. docs/operations.md says how.
 *   hq_events(store, seq, id, order_number, type, payload jsonb, received_at,
 *             hash bytea)               PRIMARY KEY(store, seq)
 *   hq_orders(store, id, number, hq_order, state, error, attempts, retries,
 *             doc jsonb, last_seq, synced_seq, updated_at)
 *             PRIMARY KEY(store, id), UNIQUE(store, number), UNIQUE(store, hq_order)
 *             (partial: where set), and the uploaded ones by id (the job's queue)
 *   hq_conflicts(store, seq, …)        PRIMARY KEY(store, seq)
 *   hq_tokens(store, hash, created_at, revoked_at) PRIMARY KEY(store, hash)
 * Columns mean what they mean in hq_store_sqlite.c. Applying one event is
 * one call of the function hq_put_event (one round trip): insert, compare
 * with the kept one, link a real-time order, or upsert the order record.
 *
 * One connection per process; every call blocks the caller for its round
 * trip (the server's loop: docs/architecture.md, "HQ on PostgreSQL", says
 * why that is the design and what it costs). A lost connection is reset
 * at the next begin; statement_timeout bounds how long one call may hold
 * the loop. */
#include "hqstore/hq_store.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/text.h"

typedef struct {
    hq_store base;
    PGconn *conn;
    bool in_tx;
} hqpg;

/* The migrations, in order; version N is migrations[N - 1]. Never edit a
 * released one: add the next. */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE hq_events(store text NOT NULL, seq bigint NOT NULL,"
    " id bigint GENERATED ALWAYS AS IDENTITY, order_number text NOT NULL, type text NOT NULL,"
    " payload jsonb NOT NULL, received_at text NOT NULL, hash bytea NOT NULL,"
    " PRIMARY KEY(store, seq));"
    "CREATE TABLE hq_orders(store text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY,"
    " number text, hq_order text, state text NOT NULL, error text,"
    " attempts bigint NOT NULL DEFAULT 0, retries bigint NOT NULL DEFAULT 0,"
    " doc jsonb NOT NULL, last_seq bigint NOT NULL DEFAULT 0,"
    " synced_seq bigint NOT NULL DEFAULT 0, updated_at text NOT NULL,"
    " PRIMARY KEY(store, id), UNIQUE(store, number));"
    /* Partial: most orders never had a real-time id, and every index
     * costs each upload an insert. */
    "CREATE UNIQUE INDEX hq_orders_hq_order ON hq_orders(store, hq_order)"
    " WHERE hq_order IS NOT NULL;"
    "CREATE INDEX hq_orders_uploaded ON hq_orders(id) WHERE state = 'uploaded';"
    "CREATE TABLE hq_conflicts(store text NOT NULL, seq bigint NOT NULL,"
    " order_number text NOT NULL, type text NOT NULL, payload text NOT NULL,"
    " hash bytea NOT NULL, count bigint NOT NULL DEFAULT 1, first_at text NOT NULL,"
    " last_at text NOT NULL, PRIMARY KEY(store, seq));"
    "CREATE TABLE hq_tokens(store text NOT NULL, hash bytea NOT NULL,"
    " created_at text NOT NULL, revoked_at text, PRIMARY KEY(store, hash));"
    "CREATE TABLE hq_stores(id text PRIMARY KEY, doc jsonb NOT NULL);"
    "CREATE TABLE hq_customers(account text PRIMARY KEY, doc jsonb NOT NULL);"
    "CREATE TABLE hq_products(item text PRIMARY KEY, doc jsonb NOT NULL);"
    "CREATE SEQUENCE hq_order_seq;"
    "CREATE FUNCTION hq_put_event(p_store text, p_seq bigint, p_number text, p_type text,"
    " p_payload jsonb, p_hash bytea, p_hq_order text, p_now text) RETURNS text"
    " LANGUAGE plpgsql AS $$"
    " DECLARE k record;"
    " BEGIN"
    "  INSERT INTO hq_events(store, seq, order_number, type, payload, received_at, hash)"
    "  VALUES(p_store, p_seq, p_number, p_type, p_payload, p_now, p_hash)"
    "  ON CONFLICT (store, seq) DO NOTHING;"
    "  IF NOT FOUND THEN"
    "   SELECT hash, type, order_number INTO k FROM hq_events"
    "    WHERE store = p_store AND seq = p_seq;"
    "   IF k.hash = p_hash THEN RETURN 'duplicate'; END IF;"
    "   RETURN 'conflict' || chr(10) || k.type || chr(10) || k.order_number;"
    "  END IF;"
    "  IF coalesce(p_hq_order, '') <> '' THEN"
    "   UPDATE hq_orders SET number = p_number, doc = p_payload, last_seq = p_seq,"
    "    updated_at = p_now WHERE store = p_store AND hq_order = p_hq_order"
    "    AND (number IS NULL OR number = p_number) AND last_seq < p_seq;"
    "   IF FOUND THEN RETURN 'fresh'; END IF;"
    "  END IF;"
    "  INSERT INTO hq_orders(store, number, state, doc, last_seq, updated_at)"
    "  VALUES(p_store, p_number, 'uploaded', p_payload, p_seq, p_now)"
    "  ON CONFLICT (store, number) DO UPDATE SET doc = EXCLUDED.doc,"
    "   last_seq = EXCLUDED.last_seq, updated_at = EXCLUDED.updated_at"
    "   WHERE EXCLUDED.last_seq > hq_orders.last_seq;"
    "  RETURN 'fresh';"
    " END $$;",
    /* 2: one owner per order (SPEC C5): hq_orders.owner (NULL: the store
     * that made it), the former owners that learn later states
     * (hq_holders), what each store last reported unsent (hq_unsent), the
     * events of an order by number (its history for a claim), and
     * hq_put_event2: hq_put_event keyed by the order's store, keeping an
     * event only from the order's owner ('notowner' and the owner else). */
    "ALTER TABLE hq_orders ADD COLUMN owner text;"
    "CREATE TABLE hq_holders(store text NOT NULL, number text NOT NULL,"
    " order_store text NOT NULL, seen bigint NOT NULL DEFAULT 0, PRIMARY KEY(store, number));"
    "CREATE TABLE hq_unsent(store text NOT NULL, number text NOT NULL, seq bigint NOT NULL,"
    " PRIMARY KEY(store, number));"
    "CREATE INDEX hq_events_number ON hq_events(order_number);"
    "CREATE FUNCTION hq_put_event2(p_store text, p_seq bigint, p_number text, p_type text,"
    " p_payload jsonb, p_hash bytea, p_hq_order text, p_now text, p_order_store text)"
    " RETURNS text LANGUAGE plpgsql AS $$"
    " DECLARE k record; o text;"
    " BEGIN"
    "  INSERT INTO hq_events(store, seq, order_number, type, payload, received_at, hash)"
    "  VALUES(p_store, p_seq, p_number, p_type, p_payload, p_now, p_hash)"
    "  ON CONFLICT (store, seq) DO NOTHING;"
    "  IF NOT FOUND THEN"
    "   SELECT hash, type, order_number INTO k FROM hq_events"
    "    WHERE store = p_store AND seq = p_seq;"
    "   IF k.hash = p_hash THEN RETURN 'duplicate'; END IF;"
    "   RETURN 'conflict' || chr(10) || k.type || chr(10) || k.order_number;"
    "  END IF;"
    /* the row lock orders this event after a claim in flight */
    "  SELECT coalesce(owner, store) INTO o FROM hq_orders"
    "   WHERE store = p_order_store AND number = p_number FOR UPDATE;"
    "  IF NOT FOUND THEN o := p_order_store; END IF;"
    "  IF o <> p_store THEN RETURN 'notowner' || chr(10) || o; END IF;"
    "  IF coalesce(p_hq_order, '') <> '' THEN"
    "   UPDATE hq_orders SET number = p_number, doc = p_payload, last_seq = p_seq,"
    "    updated_at = p_now WHERE store = p_store AND hq_order = p_hq_order"
    "    AND (number IS NULL OR number = p_number) AND last_seq < p_seq;"
    "   IF FOUND THEN RETURN 'fresh'; END IF;"
    "  END IF;"
    "  INSERT INTO hq_orders(store, number, state, doc, last_seq, updated_at)"
    "  VALUES(p_order_store, p_number, 'uploaded', p_payload, p_seq, p_now)"
    "  ON CONFLICT (store, number) DO UPDATE SET doc = EXCLUDED.doc,"
    "   last_seq = EXCLUDED.last_seq, updated_at = EXCLUDED.updated_at"
    "   WHERE EXCLUDED.last_seq > hq_orders.last_seq;"
    "  RETURN 'fresh';"
    " END $$;",
};
#define HQPG_VERSION ((int)(sizeof migrations / sizeof *migrations))

#define REC_COLS                                                                                   \
    "store, coalesce(number, ''), coalesce(hq_order, ''), state, coalesce(error, ''), attempts,"   \
    " retries, last_seq, updated_at, coalesce(owner, store)"

/* The prepared statements, by index. */
enum {
    S_PUT,
    S_ACKED,
    S_REALTIME,
    S_LIST,
    S_GET,
    S_RESULT,
    S_NEXT,
    S_CONFLICT,
    S_CONFLICTS,
    S_HAS_STORE,
    S_HAS_CUSTOMER,
    S_HAS_PRODUCT,
    S_CLAIM,
    S_TOKEN_ADD,
    S_TOKEN_REVOKE,
    S_TOKEN_GET,
    S_SET_OWNER,
    S_HOLDER_PUT,
    S_HOLDER_DEL,
    S_UNSENT_DEL,
    S_UNSENT_ADD,
    S_UNSENT_HAS,
    S_HISTORY,
    S_MOVED,
    S_MOVED_SEEN,
    S_COUNT
};

static const char *const stmts[S_COUNT] = {
    [S_PUT] = "SELECT hq_put_event2($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    [S_ACKED] = "SELECT coalesce(max(seq), 0) FROM hq_events WHERE store = $1",
    [S_REALTIME] = "INSERT INTO hq_orders(store, hq_order, state, attempts, doc, updated_at)"
                   " VALUES($1, $2, 'synchronized', 1, $3, $4)",
    [S_LIST] = "SELECT " REC_COLS " FROM hq_orders WHERE ($1::text IS NULL OR store = $1)"
               " AND ($2::text IS NULL OR state = $2) ORDER BY id LIMIT $3",
    [S_GET] = "SELECT " REC_COLS ", doc FROM hq_orders WHERE store = $1 AND number = $2",
    [S_RESULT] = "UPDATE hq_orders SET state = $1, hq_order = coalesce($2, hq_order), error = $3,"
                 " attempts = attempts + 1, retries = retries + $4, synced_seq = last_seq,"
                 " updated_at = $5 WHERE store = $6 AND number = $7",
    [S_NEXT] = "SELECT nextval('hq_order_seq')",
    [S_CONFLICT] = "INSERT INTO hq_conflicts(store, seq, order_number, type, payload, hash,"
                   " first_at, last_at) VALUES($1, $2, $3, $4, $5, $6, $7, $7)"
                   " ON CONFLICT (store, seq) DO UPDATE SET order_number = $3, type = $4,"
                   " payload = $5, hash = $6, count = hq_conflicts.count + 1, last_at = $7",
    [S_CONFLICTS] = "SELECT c.store, c.seq, coalesce(k.type, ''), coalesce(k.order_number, ''),"
                    " c.type, c.order_number, c.count, c.first_at, c.last_at"
                    " FROM hq_conflicts c LEFT JOIN hq_events k"
                    " ON k.store = c.store AND k.seq = c.seq"
                    " WHERE $1::text IS NULL OR c.store = $1"
                    " ORDER BY c.first_at, c.store, c.seq LIMIT $2",
    [S_HAS_STORE] = "SELECT 1 FROM hq_stores WHERE id = $1",
    [S_HAS_CUSTOMER] = "SELECT 1 FROM hq_customers WHERE account = $1",
    [S_HAS_PRODUCT] = "SELECT 1 FROM hq_products WHERE item = $1",
    [S_CLAIM] = "SELECT " REC_COLS " FROM hq_orders WHERE state = 'uploaded'"
                " AND ($1::text IS NULL OR store = $1) ORDER BY id LIMIT $2"
                " FOR UPDATE SKIP LOCKED",
    [S_TOKEN_ADD] = "INSERT INTO hq_tokens(store, hash, created_at) VALUES($1, $2, $3)",
    [S_TOKEN_REVOKE] = "UPDATE hq_tokens SET revoked_at = $2 WHERE store = $1"
                       " AND revoked_at IS NULL",
    [S_TOKEN_GET] = "SELECT hash FROM hq_tokens WHERE store = $1 AND revoked_at IS NULL",
    [S_SET_OWNER] = "UPDATE hq_orders SET owner = $4, last_seq = 0, updated_at = $5"
                    " WHERE store = $1 AND number = $2 AND coalesce(owner, store) = $3",
    [S_HOLDER_PUT] = "INSERT INTO hq_holders(store, number, order_store) VALUES($1, $2, $3)"
                     " ON CONFLICT (store, number) DO UPDATE SET seen = 0",
    [S_HOLDER_DEL] = "DELETE FROM hq_holders WHERE store = $1 AND number = $2",
    [S_UNSENT_DEL] = "DELETE FROM hq_unsent WHERE store = $1",
    [S_UNSENT_ADD] = "INSERT INTO hq_unsent(store, number, seq) SELECT $1, number, max(seq)"
                     " FROM jsonb_to_recordset($2::jsonb) AS u(number text, seq bigint)"
                     " GROUP BY number",
    [S_UNSENT_HAS] = "SELECT 1 FROM hq_unsent u WHERE u.store = $1 AND u.number = $2"
                     " AND NOT EXISTS (SELECT 1 FROM hq_events k WHERE k.store = u.store"
                     " AND k.seq = u.seq)",
    [S_HISTORY] = "SELECT coalesce(jsonb_agg(jsonb_build_object('store', store, 'seq', seq,"
                  " 'type', type, 'at', received_at, 'version', payload->'version', 'staff',"
                  " payload->'created_by', 'policy_version', payload->'policy_version')"
                  " ORDER BY id), '[]') FROM hq_events WHERE order_number = $1",
    [S_MOVED] = "SELECT coalesce(jsonb_agg(jsonb_build_object('number', o.number, 'owner',"
                " coalesce(o.owner, o.store), 'state', o.state, 'hq_order', o.hq_order,"
                " 'order', o.doc) ORDER BY x.number), '[]') FROM (SELECT * FROM hq_holders"
                " WHERE store = $1 ORDER BY number) x JOIN hq_orders o"
                " ON o.store = x.order_store AND o.number = x.number"
                " WHERE coalesce(o.owner, o.store) <> $1"
                " AND (o.doc->>'version')::bigint > x.seen",
    [S_MOVED_SEEN] = "UPDATE hq_holders SET seen = greatest(seen, $3::bigint)"
                     " WHERE store = $1 AND number = $2",
};

static hqpg *P(hq_store *h)
{
    return (hqpg *)h;
}

static void iso_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* bytea as text input ("\x…"). */
static void hex_bytea(char out[2 + 2 * HQ_HASH_BYTES + 1], const uint8_t *b)
{
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 2 * HQ_HASH_BYTES + 1, b, HQ_HASH_BYTES);
}

static int pg_fail(hqpg *p, PGresult *res, const char *what, err_t *err)
{
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn);
    char msg[200];
    text_copy(msg, sizeof msg, m && *m ? m : "no answer");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (res) PQclear(res);
    return err_set(err, ERR_INTERNAL, "HQ database (%s): %s", what, msg);
}

static int ensure_conn(hqpg *p, err_t *err);

/* Runs prepared statement i; the result when its status is want, else NULL
 * with err set. */
static PGresult *run(hqpg *p, int i, int n, const char *const *vals, ExecStatusType want,
                     err_t *err)
{
    char name[8];
    snprintf(name, sizeof name, "s%d", i);
    /* A read outside a transaction brings a lost connection back too. */
    if (!p->in_tx && PQstatus(p->conn) != CONNECTION_OK && ensure_conn(p, err) < 0) return NULL;
    PGresult *res = PQexecPrepared(p->conn, name, n, vals, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != want) {
        pg_fail(p, res, name, err);
        return NULL;
    }
    return res;
}

static int run_cmd(hqpg *p, int i, int n, const char *const *vals, err_t *err)
{
    PGresult *res = run(p, i, n, vals, PGRES_COMMAND_OK, err);
    if (!res) return -1;
    PQclear(res);
    return 0;
}

static int exec_plain(hqpg *p, const char *sql, ExecStatusType want, err_t *err)
{
    PGresult *res = PQexec(p->conn, sql);
    if (!res || PQresultStatus(res) != want) return pg_fail(p, res, "exec", err);
    PQclear(res);
    return 0;
}

static int prepare_all(hqpg *p, err_t *err)
{
    for (int i = 0; i < S_COUNT; i++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        PGresult *res = PQprepare(p->conn, name, stmts[i], 0, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return pg_fail(p, res, "prepare", err);
        PQclear(res);
    }
    return 0;
}

/* Brings the schema to HQPG_VERSION, once, whoever starts first. */
static int migrate(hqpg *p, err_t *err)
{
    if (exec_plain(p, "BEGIN", PGRES_COMMAND_OK, err) < 0) return -1;
    if (exec_plain(p, "SELECT pg_advisory_xact_lock(7420001)", PGRES_TUPLES_OK, err) < 0 ||
        exec_plain(p,
                   "CREATE TABLE IF NOT EXISTS hq_schema_version(version int NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   PGRES_COMMAND_OK, err) < 0)
        goto fail;
    PGresult *res = PQexec(p->conn, "SELECT coalesce(max(version), 0) FROM hq_schema_version");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(p, res, "schema version", err);
        goto fail;
    }
    int have = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (have > HQPG_VERSION) {
        err_set(err, ERR_INTERNAL,
                "HQ database schema is version %d, newer than this corder knows (%d)", have,
                HQPG_VERSION);
        goto fail;
    }
    for (int v = have + 1; v <= HQPG_VERSION; v++) {
        char ins[96];
        snprintf(ins, sizeof ins, "INSERT INTO hq_schema_version(version) VALUES(%d)", v);
        if (exec_plain(p, migrations[v - 1], PGRES_COMMAND_OK, err) < 0 ||
            exec_plain(p, ins, PGRES_COMMAND_OK, err) < 0)
            goto fail;
    }
    return exec_plain(p, "COMMIT", PGRES_COMMAND_OK, err);
fail:;
    PGresult *rb = PQexec(p->conn, "ROLLBACK");
    PQclear(rb);
    return -1;
}

/* Quiet: NOTICEs (IF NOT EXISTS …) are not the operator's business. */
static void no_notice(void *arg, const char *msg) {}

static int session_setup(hqpg *p, err_t *err)
{
    PQsetNoticeProcessor(p->conn, no_notice, NULL);
    /* One call never holds the loop longer than this. */
    if (exec_plain(p, "SET statement_timeout = '10s'", PGRES_COMMAND_OK, err) < 0 ||
        exec_plain(p, "SET lock_timeout = '5s'", PGRES_COMMAND_OK, err) < 0)
        return -1;
    return prepare_all(p, err);
}

/* A dropped connection (the database restarted, a network cut) comes back
 * at the next transaction; what was in flight failed and is retried by
 * its store. */
static int ensure_conn(hqpg *p, err_t *err)
{
    if (PQstatus(p->conn) == CONNECTION_OK) return 0;
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK) return pg_fail(p, NULL, "reconnect", err);
    return session_setup(p, err);
}

static int pg_begin(hq_store *h, err_t *err)
{
    hqpg *p = P(h);
    if (ensure_conn(p, err) < 0 || exec_plain(p, "BEGIN", PGRES_COMMAND_OK, err) < 0) return -1;
    p->in_tx = true;
    return 0;
}

static int pg_end(hq_store *h, bool commit, err_t *err)
{
    hqpg *p = P(h);
    if (!p->in_tx) return 0;
    p->in_tx = false;
    /* COMMIT of a failed transaction rolls back and says so. */
    if (!commit) {
        PGresult *res = PQexec(p->conn, "ROLLBACK");
        PQclear(res);
        return 0;
    }
    PGresult *res = PQexec(p->conn, "COMMIT");
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return pg_fail(p, res, "commit", err);
    bool rolled_back = !strcmp(PQcmdStatus(res), "ROLLBACK");
    PQclear(res);
    return rolled_back ? err_set(err, ERR_INTERNAL, "HQ database: the transaction was rolled back")
                       : 0;
}

/* The parameters of hq_put_event for ev (buffers of the caller's). */
typedef struct {
    char now[32], seq[24], hash[2 + 2 * HQ_HASH_BYTES + 1];
    const char *v[9];
} put_args;

static void put_args_fill(put_args *a, const hq_event *ev, const char *now)
{
    uint8_t bin[HQ_HASH_BYTES];
    text_copy(a->now, sizeof a->now, now);
    hq_event_hash(ev, bin);
    hex_bytea(a->hash, bin);
    snprintf(a->seq, sizeof a->seq, "%lld", (long long)ev->seq);
    const char *v[9] = {ev->store,
                        a->seq,
                        ev->number,
                        ev->type,
                        ev->payload,
                        a->hash,
                        ev->hq_order && *ev->hq_order ? ev->hq_order : NULL,
                        a->now,
                        ev->order_store ? ev->order_store : ev->store};
    memcpy(a->v, v, sizeof v);
}

/* hq_put_event's answer for ev: fresh, duplicate, or the conflict. */
static int put_verdict(const hq_event *ev, const char *out, bool *fresh, err_t *err)
{
    *fresh = !strcmp(out, "fresh");
    if (*fresh || !strcmp(out, "duplicate")) return 0;
    if (!strncmp(out, "notowner\n", 9)) { /* C5: a change from a store that gave it up */
        const char *owner = out + 9;
        err_set(err, ERR_CONFLICT,
                "order %s belongs to store %s (claimed there): store %s's change of it (seq %lld)"
                " is refused, nothing kept",
                ev->number, owner, ev->store, (long long)ev->seq);
        json_t *d = json_pack("{s:s, s:I, s:s}", "store", ev->store, "seq", (json_int_t)ev->seq,
                              "owner", owner);
        char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
        if (text && strlen(text) < sizeof err->extra)
            text_copy(err->extra, sizeof err->extra, text);
        free(text);
        json_decref(d);
        return -1;
    }
    /* conflict\nTYPE\nNUMBER */
    char kept[200], *ktype = kept, *knumber = "";
    text_copy(kept, sizeof kept, strncmp(out, "conflict\n", 9) ? out : out + 9);
    char *nl = strchr(kept, '\n');
    if (nl) {
        *nl = '\0';
        knumber = nl + 1;
    }
    err_set(err, ERR_CONFLICT,
            "store %s seq %lld is at HQ already with other content (HQ keeps %s of %s; this is"
            " %s of %s): refused, nothing kept",
            ev->store, (long long)ev->seq, ktype, knumber, ev->type, ev->number);
    json_t *d = json_pack("{s:s, s:I}", "store", ev->store, "seq", (json_int_t)ev->seq);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    if (text && strlen(text) < sizeof err->extra) text_copy(err->extra, sizeof err->extra, text);
    free(text);
    json_decref(d);
    return -1;
}

static int pg_put_event(hq_store *h, const hq_event *ev, bool *fresh, err_t *err)
{
    put_args a;
    char now[32];
    iso_now(now);
    put_args_fill(&a, ev, now);
    PGresult *res = run(P(h), S_PUT, 9, a.v, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    int rc = put_verdict(ev, PQgetvalue(res, 0, 0), fresh, err);
    PQclear(res);
    return rc;
}

#define HQPG_PIPELINE                                                                              \
    256 /* events per round trip: bounded so that, with a                                          \
         * blocking connection, the answers waiting to be                                          \
         * read never fill the socket while we still send */

/* One chunk of events in one round trip (libpq pipeline mode). */
static int put_chunk(hqpg *p, const hq_event *ev, size_t n, bool *fresh, size_t *bad, err_t *err)
{
    char now[32];
    iso_now(now);
    if (PQenterPipelineMode(p->conn) != 1) return pg_fail(p, NULL, "pipeline", err);
    int rc = 0;
    size_t sent = 0;
    for (; sent < n; sent++) {
        put_args a;
        put_args_fill(&a, &ev[sent], now);
        if (PQsendQueryPrepared(p->conn, "s0", 9, a.v, NULL, NULL, 0) != 1) break;
    }
    if (PQpipelineSync(p->conn) != 1 && rc == 0) rc = pg_fail(p, NULL, "pipeline", err);
    /* Every answer is read, whatever happened, to leave the pipeline. */
    for (size_t i = 0; i < sent; i++) {
        PGresult *res = PQgetResult(p->conn);
        if (rc == 0 && (!res || PQresultStatus(res) != PGRES_TUPLES_OK)) {
            rc = pg_fail(p, res, "hq_put_event", err);
            res = NULL;
        } else if (rc == 0 && put_verdict(&ev[i], PQgetvalue(res, 0, 0), &fresh[i], err) < 0) {
            *bad = i;
            rc = -1;
        }
        if (res) PQclear(res);
        PGresult *end = PQgetResult(p->conn); /* NULL after each query's results */
        if (end) PQclear(end);
    }
    PGresult *sync = PQgetResult(p->conn);
    if (sync) PQclear(sync);
    PQexitPipelineMode(p->conn);
    if (rc == 0 && sent < n) rc = pg_fail(p, NULL, "pipeline send", err);
    return rc;
}

static int pg_put_events(hq_store *h, const hq_event *ev, size_t n, bool *fresh, size_t *bad,
                         err_t *err)
{
    *bad = 0;
    for (size_t at = 0; at < n; at += HQPG_PIPELINE) {
        size_t k = n - at < HQPG_PIPELINE ? n - at : HQPG_PIPELINE;
        if (put_chunk(P(h), ev + at, k, fresh + at, bad, err) < 0) {
            *bad += at;
            return -1;
        }
    }
    return 0;
}

static int pg_acked_through(hq_store *h, const char *store, int64_t *out, err_t *err)
{
    PGresult *res = run(P(h), S_ACKED, 1, &store, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int pg_next_id(hq_store *h, char out[64], err_t *err)
{
    PGresult *res = run(P(h), S_NEXT, 0, NULL, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    snprintf(out, 64, "HQ-%06lld", strtoll(PQgetvalue(res, 0, 0), NULL, 10));
    PQclear(res);
    return 0;
}

static int pg_create_realtime(hq_store *h, const char *store, const char *doc, char hq_order[64],
                              err_t *err)
{
    char now[32];
    iso_now(now);
    if (pg_next_id(h, hq_order, err) < 0) return -1;
    const char *v[4] = {store, hq_order, doc, now};
    return run_cmd(P(h), S_REALTIME, 4, v, err);
}

static void cell(char *dst, size_t n, PGresult *res, int row, int col)
{
    text_copy(dst, n, PQgetvalue(res, row, col));
}

static void read_rec(PGresult *res, int row, hq_order_rec *r)
{
    cell(r->store, sizeof r->store, res, row, 0);
    cell(r->number, sizeof r->number, res, row, 1);
    cell(r->hq_order, sizeof r->hq_order, res, row, 2);
    cell(r->state, sizeof r->state, res, row, 3);
    cell(r->error, sizeof r->error, res, row, 4);
    r->attempts = strtoll(PQgetvalue(res, row, 5), NULL, 10);
    r->retries = strtoll(PQgetvalue(res, row, 6), NULL, 10);
    r->last_seq = strtoll(PQgetvalue(res, row, 7), NULL, 10);
    cell(r->updated_at, sizeof r->updated_at, res, row, 8);
    cell(r->owner, sizeof r->owner, res, row, 9);
}

static int recs(PGresult *res, hq_order_rec **out, size_t *n, err_t *err)
{
    int rows = PQntuples(res);
    *n = 0;
    *out = calloc(rows ? (size_t)rows : 1, sizeof **out);
    if (!*out) {
        PQclear(res);
        return err_set(err, ERR_INTERNAL, "out of memory");
    }
    for (int i = 0; i < rows; i++)
        read_rec(res, i, &(*out)[i]);
    *n = (size_t)rows;
    PQclear(res);
    return 0;
}

static int pg_list(hq_store *h, const char *store, const char *state, int limit, hq_order_rec **out,
                   size_t *n, err_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[3] = {store, state, lim};
    PGresult *res = run(P(h), S_LIST, 3, v, PGRES_TUPLES_OK, err);
    return res ? recs(res, out, n, err) : -1;
}

static int pg_claim(hq_store *h, const char *store, int limit, hq_order_rec **out, size_t *n,
                    err_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[2] = {store, lim};
    PGresult *res = run(P(h), S_CLAIM, 2, v, PGRES_TUPLES_OK, err);
    return res ? recs(res, out, n, err) : -1;
}

static int pg_get(hq_store *h, const char *store, const char *number, hq_order_rec *out,
                  json_t **doc, err_t *err)
{
    const char *v[2] = {store, number};
    PGresult *res = run(P(h), S_GET, 2, v, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return err_field(err, ERR_NOT_FOUND, "number", "HQ has no order %s of store %s", number,
                         store);
    }
    read_rec(res, 0, out);
    if (doc) {
        *doc = json_loads(PQgetvalue(res, 0, 10), 0, NULL);
        if (!*doc) *doc = json_null();
    }
    PQclear(res);
    return 0;
}

static int pg_set_result(hq_store *h, const char *store, const char *number, const char *hq_order,
                         const char *error, bool retry, err_t *err)
{
    char now[32];
    iso_now(now);
    const char *v[7] = {hq_order ? "synchronized" : "failed",
                        hq_order,
                        hq_order ? NULL : (error ? error : "failed"),
                        retry ? "1" : "0",
                        now,
                        store,
                        number};
    return run_cmd(P(h), S_RESULT, 7, v, err);
}

static int pg_put_conflict(hq_store *h, const hq_event *ev, err_t *err)
{
    char now[32], seq[24], hash[2 + 2 * HQ_HASH_BYTES + 1];
    uint8_t bin[HQ_HASH_BYTES];
    iso_now(now);
    hq_event_hash(ev, bin);
    hex_bytea(hash, bin);
    snprintf(seq, sizeof seq, "%lld", (long long)ev->seq);
    const char *v[7] = {ev->store, seq, ev->number, ev->type, ev->payload, hash, now};
    /* Outside any op's transaction: recorded on its own. */
    if (ensure_conn(P(h), err) < 0) return -1;
    return run_cmd(P(h), S_CONFLICT, 7, v, err);
}

static int pg_conflicts(hq_store *h, const char *store, int limit, json_t **out, err_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[2] = {store, lim};
    PGresult *res = run(P(h), S_CONFLICTS, 2, v, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    *out = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(
            *out, json_pack("{s:s, s:I, s:{s:s, s:s}, s:{s:s, s:s}, s:I, s:s, s:s}", "store",
                            PQgetvalue(res, i, 0), "seq",
                            (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10), "kept", "type",
                            PQgetvalue(res, i, 2), "number", PQgetvalue(res, i, 3), "offered",
                            "type", PQgetvalue(res, i, 4), "number", PQgetvalue(res, i, 5), "count",
                            (json_int_t)strtoll(PQgetvalue(res, i, 6), NULL, 10), "first_at",
                            PQgetvalue(res, i, 7), "last_at", PQgetvalue(res, i, 8)));
    PQclear(res);
    return 0;
}

static bool pg_has(hq_store *h, hq_kind kind, const char *id)
{
    static const int idx[] = {
        [HQ_STORE] = S_HAS_STORE, [HQ_CUSTOMER] = S_HAS_CUSTOMER, [HQ_PRODUCT] = S_HAS_PRODUCT};
    err_t err;
    PGresult *res = run(P(h), idx[kind], 1, &id, PGRES_TUPLES_OK, &err);
    if (!res) return false;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    return found;
}

static int pg_token_add(hq_store *h, const char *store, const uint8_t hash[HQ_HASH_BYTES],
                        err_t *err)
{
    char now[32], hex[2 + 2 * HQ_HASH_BYTES + 1];
    iso_now(now);
    hex_bytea(hex, hash);
    const char *v[3] = {store, hex, now};
    return run_cmd(P(h), S_TOKEN_ADD, 3, v, err);
}

static int pg_token_revoke(hq_store *h, const char *store, int64_t *n, err_t *err)
{
    char now[32];
    iso_now(now);
    const char *v[2] = {store, now};
    PGresult *res = run(P(h), S_TOKEN_REVOKE, 2, v, PGRES_COMMAND_OK, err);
    if (!res) return -1;
    *n = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int pg_token_check(hq_store *h, const char *store, const uint8_t hash[HQ_HASH_BYTES],
                          bool *ok, err_t *err)
{
    hqpg *p = P(h);
    *ok = false;
    if (!p->in_tx && ensure_conn(p, err) < 0) return -1;
    PGresult *res = run(p, S_TOKEN_GET, 1, &store, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        size_t len = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 0), &len);
        if (b && len == HQ_HASH_BYTES && sodium_memcmp(b, hash, HQ_HASH_BYTES) == 0) *ok = true;
        PQfreemem(b);
    }
    PQclear(res);
    return 0;
}

/* ---- C5: one owner per order ---- */

static int pg_set_owner(hq_store *h, const char *store, const char *number, const char *from,
                        const char *to, bool *moved, err_t *err)
{
    char now[32];
    iso_now(now);
    const char *v[5] = {store, number, from, to, now};
    PGresult *res = run(P(h), S_SET_OWNER, 5, v, PGRES_COMMAND_OK, err);
    if (!res) return -1;
    *moved = !strcmp(PQcmdTuples(res), "1");
    PQclear(res);
    if (!*moved) return 0;
    const char *hv[3] = {from, number, store}, *dv[2] = {to, number};
    return run_cmd(P(h), S_HOLDER_PUT, 3, hv, err) < 0 ? -1
                                                       : run_cmd(P(h), S_HOLDER_DEL, 2, dv, err);
}

static int pg_unsent_set(hq_store *h, const char *store, json_t *numbers, err_t *err)
{
    if (run_cmd(P(h), S_UNSENT_DEL, 1, &store, err) < 0) return -1;
    if (!json_array_size(numbers)) return 0;
    char *text = json_dumps(numbers, JSON_COMPACT);
    if (!text) return err_set(err, ERR_INTERNAL, "out of memory");
    const char *v[2] = {store, text};
    int rc = run_cmd(P(h), S_UNSENT_ADD, 2, v, err);
    free(text);
    return rc;
}

static int pg_unsent_has(hq_store *h, const char *store, const char *number, bool *has, err_t *err)
{
    const char *v[2] = {store, number};
    PGresult *res = run(P(h), S_UNSENT_HAS, 2, v, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    *has = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

/* A statement answering one JSON value, as a jansson value. */
static int json_answer(hqpg *p, int i, int n, const char *const *v, json_t **out, err_t *err)
{
    PGresult *res = run(p, i, n, v, PGRES_TUPLES_OK, err);
    if (!res) return -1;
    *out = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    PQclear(res);
    return *out ? 0 : err_set(err, ERR_INTERNAL, "HQ database: an unreadable answer");
}

static int pg_history(hq_store *h, const char *number, json_t **out, err_t *err)
{
    return json_answer(P(h), S_HISTORY, 1, &number, out, err);
}

static int pg_moved(hq_store *h, const char *store, int limit, json_t **out, err_t *err)
{
    if (json_answer(P(h), S_MOVED, 1, &store, out, err) < 0) return -1;
    while (json_array_size(*out) > (size_t)limit) /* a few rows: a chain moves few orders */
        json_array_remove(*out, json_array_size(*out) - 1);
    return 0;
}

static int pg_moved_seen(hq_store *h, const char *store, const char *number, int64_t version,
                         err_t *err)
{
    char ver[24];
    snprintf(ver, sizeof ver, "%lld", (long long)version);
    const char *v[3] = {store, number, ver};
    return run_cmd(P(h), S_MOVED_SEEN, 3, v, err);
}

static void pg_free(hq_store *h)
{
    if (!h) return;
    PQfinish(P(h)->conn);
    free(h);
}

/* Called between begin and end (hq.customer.put's transaction). */
static int pg_customer_put(hq_store *h, const char *account, const char *doc, err_t *err)
{
    const char *v[2] = {account, doc};
    PGresult *res = PQexecParams(P(h)->conn,
                                 "INSERT INTO hq_customers(account, doc) VALUES($1, $2)"
                                 " ON CONFLICT (account) DO UPDATE SET doc = $2",
                                 2, NULL, v, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_fail(P(h), res, "hq_customers", err);
    PQclear(res);
    return 0;
}

static const hq_store_vt pg_vt = {
    .put_event = pg_put_event,
    .put_events = pg_put_events,
    .put_conflict = pg_put_conflict,
    .conflicts = pg_conflicts,
    .acked_through = pg_acked_through,
    .create_realtime = pg_create_realtime,
    .list = pg_list,
    .get = pg_get,
    .set_result = pg_set_result,
    .next_id = pg_next_id,
    .has = pg_has,
    .begin = pg_begin,
    .end = pg_end,
    .claim = pg_claim,
    .token_add = pg_token_add,
    .token_revoke = pg_token_revoke,
    .token_check = pg_token_check,
    .customer_put = pg_customer_put,
    .set_owner = pg_set_owner,
    .unsent_set = pg_unsent_set,
    .unsent_has = pg_unsent_has,
    .history = pg_history,
    .moved = pg_moved,
    .moved_seen = pg_moved_seen,
    .free = pg_free,
};

hq_store *hq_store_pg_new(const char *url, err_t *err)
{
    hqpg *p = calloc(1, sizeof *p);
    if (!p) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->base.vt = &pg_vt;
    /* connect_timeout: a database that does not answer fails start-up in
     * seconds rather than hanging it. */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, "5", "corder-hq", NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        char msg[200];
        text_copy(msg, sizeof msg, p->conn ? PQerrorMessage(p->conn) : "out of memory");
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = '\0';
        err_set(err, ERR_INTERNAL, "cannot connect to the HQ database: %s", msg);
        pg_free(&p->base);
        return NULL;
    }
    PQsetNoticeProcessor(p->conn, no_notice, NULL);
    if (migrate(p, err) < 0 || session_setup(p, err) < 0) {
        pg_free(&p->base);
        return NULL;
    }
    return &p->base;
}

/* Upserts one kind of master data: rows of arr keyed by key. */
static int seed_kind(hqpg *p, json_t *arr, const char *table, const char *key, err_t *err)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s(%s, doc) VALUES($1, $2) ON CONFLICT (%s) DO UPDATE SET doc = $2",
             table, key, key);
    size_t i;
    json_t *row;
    json_array_foreach(arr, i, row)
    {
        const char *id = json_string_value(json_object_get(row, key));
        if (!id) return err_set(err, ERR_VALIDATION, "seed: %s[%zu] has no %s", table, i, key);
        char *doc = json_dumps(row, JSON_COMPACT);
        if (!doc) return err_set(err, ERR_INTERNAL, "out of memory");
        const char *v[2] = {id, doc};
        PGresult *res = PQexecParams(p->conn, sql, 2, NULL, v, NULL, NULL, 0);
        free(doc);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return pg_fail(p, res, table, err);
        PQclear(res);
    }
    return 0;
}

int hq_store_pg_seed(hq_store *h, json_t *seed, err_t *err)
{
    hqpg *p = P(h);
    if (!json_is_object(seed)) return err_set(err, ERR_VALIDATION, "seed: expected an object");
    if (pg_begin(h, err) < 0) return -1;
    /* Staff PINs are not HQ data here: only what orders are checked against. */
    int rc = seed_kind(p, json_object_get(seed, "stores"), "hq_stores", "id", err);
    if (rc == 0)
        rc = seed_kind(p, json_object_get(seed, "customers"), "hq_customers", "account", err);
    if (rc == 0) rc = seed_kind(p, json_object_get(seed, "products"), "hq_products", "item", err);
    if (pg_end(h, rc == 0, err) < 0) return -1;
    return rc;
}
