/* hq_jobs.c: HQ's "synchronize orders" job (SPEC S1, S4): an uploaded store
 * order becomes an HQ sales order with HQ's own id, or a failure with its
 * reason when HQ's master data (its own, from its own seed) does not know
 * the store, the customer or a product. A failure stays until hq.retry,
 * which a clerk at HQ calls after fixing the master data. */
#include "sync/hq.h"
#include "model/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HQ_SYNC_CHUNK 500
#define HQ_SYNC_MAX 20000 /* per run: bounds the time one run holds the loop */

int hq_check_order(hq_store *h, const char *store, json_t *doc, char *why, size_t n)
{
    if (!h->vt->has(h, HQ_STORE, store)) {
        snprintf(why, n, "unknown store %s at HQ", store);
        return -1;
    }
    /* The order object names the account; the stored document holds a table. */
    json_t *cust = json_object_get(doc, "customer");
    const char *account = json_is_string(cust)
                              ? json_string_value(cust)
                              : json_string_value(json_object_get(cust, "account"));
    if (account && !h->vt->has(h, HQ_CUSTOMER, account)) {
        snprintf(why, n, "unknown customer %s at HQ", account);
        return -1;
    }
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(doc, "lines"), i, line)
    {
        const char *item = json_string_value(json_object_get(line, "item"));
        if (!item || !h->vt->has(h, HQ_PRODUCT, item)) {
            snprintf(why, n, "unknown product %s at HQ (line %zu)", item ? item : "?", i + 1);
            return -1;
        }
    }
    return 0;
}

int hq_sync_one(hq_store *h, const char *store, const char *number, bool retry, bool *ok,
                err_t *err)
{
    hq_order_rec r;
    json_t *doc = NULL;
    if (h->vt->get(h, store, number, &r, &doc, err) < 0) return -1;
    char why[256];
    char id[64] = "";
    *ok = hq_check_order(h, store, doc, why, sizeof why) == 0;
    json_decref(doc);
    /* An order keeps its sales-order id across a failure and a retry. */
    if (*ok && *r.hq_order) text_copy(id, sizeof id, r.hq_order);
    if (*ok && !*id && h->vt->next_id(h, id, err) < 0) return -1;
    return h->vt->set_result(h, store, number, *ok ? id : NULL, *ok ? NULL : why, retry, err);
}

/* Each chunk is one transaction that claims its orders (hq_store claim:
 * FOR UPDATE SKIP LOCKED on PostgreSQL), so HQ processes running the job
 * at the same time share the work and make each sales order once. */
int hq_synchronize(hq_store *h, const char *store, int64_t *created, int64_t *failed, err_t *err)
{
    *created = *failed = 0;
    for (int64_t done = 0; done < HQ_SYNC_MAX;) {
        hq_order_rec *v = NULL;
        size_t n = 0;
        int64_t c = 0, f = 0;
        err_t e2 = {0};
        if (h->vt->begin(h, err) < 0) return -1;
        if (h->vt->claim(h, store, HQ_SYNC_CHUNK, &v, &n, err) < 0) {
            h->vt->end(h, false, &e2);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            bool ok;
            if (hq_sync_one(h, v[i].store, v[i].number, false, &ok, err) < 0) {
                free(v);
                h->vt->end(h, false, &e2);
                return -1;
            }
            ++*(ok ? &c : &f);
        }
        free(v);
        if (h->vt->end(h, true, err) < 0) return -1;
        *created += c;
        *failed += f;
        done += (int64_t)n;
        if (n < HQ_SYNC_CHUNK) break;
    }
    return 0;
}
