/* test_order.c: the order document round trip, on fuzz_order's seed corpus
 * (tests/fuzz/corpus/order/: real documents, and the inputs the fuzzer
 * found). Each is read (order_from_json), written (ORDER_DOC), read and
 * written again: the two texts are the same bytes of UTF-8 JSON. The order
 * object of each must be JSON too. Inputs the fuzzer found: a document with
 * a quantity of -2^63 (its open quantity overflowed) is refused, and two
 * whose derived amounts overflowed (a line's qty × unit_price, a return's
 * refund: undefined behaviour in order_text.c until fixed) write saturated
 * amounts. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/order.h"
#include "t.h"
#include "model/text.h"

static char *round_trip(const char *path, json_t *doc)
{
    err_t err = {0};
    order *o = order_from_json(doc, &err);
    if (!o) return NULL; /* refused: nothing to write back */
    size_t n1, n2, nw;
    char *t1 = order_text(o, ORDER_DOC, &n1);
    CHECK(t1 && text_utf8_ok(t1, n1), "%s: not UTF-8", path);
    json_t *j = json_loadb(t1, n1, JSON_REJECT_DUPLICATES, NULL);
    CHECK(j != NULL, "%s: written as no JSON", path);
    order *o2 = j ? order_from_json(j, &err) : NULL;
    CHECK(o2 != NULL, "%s: written, then refused", path);
    char *t2 = o2 ? order_text(o2, ORDER_DOC, &n2) : NULL;
    CHECK(t2 && n1 == n2 && !memcmp(t1, t2, n1), "%s: the second writing differs", path);
    char *wire = order_text(o, ORDER_WIRE, &nw);
    json_t *jw = wire ? json_loadb(wire, nw, JSON_REJECT_DUPLICATES, NULL) : NULL;
    CHECK(jw != NULL, "%s: the order object is not JSON", path);
    json_decref(j);
    json_decref(jw);
    free(t2);
    free(t1);
    order_free(o2);
    order_free(o);
    return wire;
}

int main(void)
{
    const char *root = getenv("CORDER_ROOT");
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/order", root ? root : ".");
    DIR *d = opendir(dir);
    CHECK(d != NULL, "no corpus at %s", dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t jerr;
        json_t *doc = json_load_file(path, 0, &jerr);
        if (!doc) continue; /* inputs the engine refuses are fine */
        char *wire = round_trip(e->d_name, doc);
        n += wire != NULL;
        free(wire);
        json_decref(doc);
    }
    if (d) closedir(d);
    CHECK(n >= 6, "only %d documents in %s", n, dir);

    /* A quantity the engine never writes is refused: -2^63 on a line made
     * its open quantity overflow (fuzz_order's first find). */
    snprintf(path, sizeof path, "%s/negative_qty.json", dir);
    json_t *bad = json_load_file(path, 0, NULL);
    err_t berr = {0};
    order *refused = bad ? order_from_json(bad, &berr) : NULL;
    CHECK(bad && !refused && berr.code == ERR_INTERNAL, "negative_qty.json: not refused");
    order_free(refused);
    json_decref(bad);

    /* Overflowing derived amounts are written saturated. */
    snprintf(path, sizeof path, "%s/overflow_line_amount.json", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    char *wire = doc ? round_trip("overflow_line_amount", doc) : NULL;
    json_t *w = wire ? json_loads(wire, 0, NULL) : NULL;
    json_t *amount = json_object_get(json_array_get(json_object_get(w, "lines"), 0), "amount");
    CHECK(json_integer_value(amount) == INT64_MAX, "line amount %lld",
          (long long)json_integer_value(amount));
    json_decref(w);
    json_decref(doc);
    free(wire);

    snprintf(path, sizeof path, "%s/overflow_refund.json", dir);
    doc = json_load_file(path, 0, NULL);
    err_t err = {0};
    order *o = doc ? order_from_json(doc, &err) : NULL;
    size_t len;
    char *text = o ? order_text(o, ORDER_DOC, &len) : NULL;
    w = text ? json_loads(text, 0, NULL) : NULL;
    json_t *refund = json_object_get(json_array_get(json_object_get(w, "returns"), 0), "refund");
    CHECK(json_integer_value(refund) == INT64_MAX, "refund %lld",
          (long long)json_integer_value(refund));
    json_decref(w);
    free(text);
    order_free(o);
    json_decref(doc);
    return T_DONE();
}
