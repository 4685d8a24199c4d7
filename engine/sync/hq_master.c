/* hq_master.c: HQ's master-data ops (SPEC C4, PROTOCOL.md "HQ role").
 *
 * hq.master.since {version, limit?} -> {version, changes, more, source}:
 * what changed in HQ's master data after version (master_log.c), a page
 * of at most limit changes (and ~256 KiB); the store asks again while
 * `more`. The master data is the chain's, so any store signed in with its
 * own token (or the shared one) and HQ staff may read all of it.
 *
 * hq.customer.put {store, customers} -> {accepted}: customers a store
 * created or changed, each its whole document. Written into HQ's master
 * data (its corder database: the version log gives each a new version, so
 * every other store gets it with its next poll) and, when HQ's orders live
 * on PostgreSQL, into the customers HQ checks orders against. Checked as a
 * seed's customers are; one bad customer refuses the call, nothing kept.
 * Only a store's own session may upload (as hq.upload).
 *
 * HQ's master data stays in HQ's SQLite database with either backend
 * (docs/chain.md says what that means for several HQ processes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/text.h"
#include "ops/dispatch.h"
#include "store/master.h"
#include "store/master_log.h"
#include "sync/hq.h"

#define HQ_CUSTOMERS_MAX 500

static hq_store *H;

static int op_master_since(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    int64_t since, limit = 500;
    if (!s->hq_peer && !s->signed_in)
        return err_set(err, ERR_UNAUTHENTICATED, "sign in first (session.login_store)");
    if (args_int(args, "", "version", true, 0, INT64_MAX, &since, err) < 0 ||
        args_int(args, "", "limit", false, 1, MASTER_PAGE_MAX, &limit, err) < 0)
        return -1;
    json_t *changes;
    int64_t version;
    bool more;
    char source[40];
    if (master_log_since(e, since, (int)limit, &changes, &version, &more, source, err) < 0)
        return -1;
    *r = json_pack("{s:I, s:o, s:b, s:s}", "version", (json_int_t)version, "changes", changes,
                   "more", more, "source", source);
    return 0;
}

static int op_customer_put(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store;
    json_t *list;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_arr(args, "", "customers", true, HQ_CUSTOMERS_MAX, &list, err) < 0)
        return -1;
    if (!s->hq_peer) return err_set(err, ERR_UNAUTHENTICATED, "sign in with session.login_store");
    if (strcmp(s->store, store))
        return err_field(err, ERR_FORBIDDEN, "store", "signed in for store %s, not %s", s->store,
                         store);
    size_t i;
    json_t *c;
    if (H->vt->customer_put && H->vt->begin(H, err) < 0) return -1;
    int rc = 0;
    json_array_foreach(list, i, c)
    {
        char p[48];
        args_index(p, sizeof p, "customers", i);
        const char *account = json_string_value(json_object_get(c, "account"));
        if (rc == 0 && !json_is_object(c))
            rc = err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
        /* The dispatch savepoint undoes every customer written before a bad one. */
        if (rc == 0 && master_customers_put_all(e, account, c, err) < 0) {
            char msg[sizeof err->message];
            text_copy(msg, sizeof msg, err->message);
            snprintf(err->message, sizeof err->message, "%s: %s", p, msg);
            rc = -1;
        }
        if (rc == 0 && H->vt->customer_put) {
            char *doc = json_dumps(c, JSON_COMPACT);
            rc = doc ? H->vt->customer_put(H, account, doc, err)
                     : err_set(err, ERR_INTERNAL, "out of memory");
            free(doc);
        }
        if (rc < 0) break;
    }
    if (H->vt->customer_put) {
        err_t e2 = {0};
        if (H->vt->end(H, rc == 0, rc == 0 ? err : &e2) < 0) rc = -1;
    }
    if (rc < 0) return -1;
    *r = json_pack("{s:I}", "accepted", (json_int_t)json_array_size(list));
    return 0;
}

int hq_master_register(hq_store *h)
{
    H = h;
    int rc = 0;
    rc |= dispatch_register("hq.master.since", op_master_since, false, false, "version:i limit:i?");
    rc |= dispatch_register("hq.customer.put", op_customer_put, true, false, "store:s customers:a");
    return rc;
}
