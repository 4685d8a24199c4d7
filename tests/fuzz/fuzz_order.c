/* fuzz_order.c: libFuzzer target for the order document round trip.
 *
 * An input is a stored document (the `doc` column), read as flow_load reads
 * it: json_loadb, then order_from_json. When the engine accepts it, the
 * order must write back (order_text, ORDER_DOC) as valid UTF-8 JSON that it
 * accepts again, and the second writing must be byte for byte the first: a
 * document the engine writes always reads back, to the same order. The
 * order object (ORDER_WIRE) and the policies' view (ORDER_POLICY), which
 * order.get and every hook write from a loaded order, must be valid JSON
 * too, and summing the order must not overflow unchecked (UBSan). The seed
 * corpus (tests/fuzz/corpus/order/) holds real documents dumped from orders
 * made through the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/order.h"
#include "model/text.h"

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_order: %s: %s\n", what, why);
    abort();
}

/* The text must be UTF-8 JSON without a NUL; returns it parsed. */
static json_t *valid_json(const char *what, const char *text, size_t len)
{
    if (!text) fail(what, "not written");
    if (strlen(text) != len) fail(what, "length or NUL in the text");
    if (!text_utf8_ok(text, len)) fail(what, "not UTF-8");
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) fail(what, jerr.text);
    return j;
}

static void check_view(const order *o, order_view view, const char *what)
{
    size_t len;
    char *text = order_text(o, view, &len);
    json_t *j = valid_json(what, text, len);
    if (!json_is_object(j)) fail(what, "not an object");
    json_decref(j);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc) return 0;
    err_t err = {0};
    order *o = order_from_json(doc, &err);
    json_decref(doc);
    if (!o) return 0;

    size_t len1, len2, part;
    char *first = order_text(o, ORDER_DOC, &len1);
    json_t *j = valid_json("document", first, len1);
    order *again = order_from_json(j, &err);
    json_decref(j);
    if (!again) fail("document", "written by the engine, refused when read back");
    char *second = order_text(again, ORDER_DOC, &len2);
    if (!second || len1 != len2 || memcmp(first, second, len1)) {
        fprintf(stderr, "first:  %s\nsecond: %s\n", first, second ? second : "(null)");
        fail("document", "the second writing differs from the first");
    }

    check_view(o, ORDER_WIRE, "order object");
    check_view(o, ORDER_POLICY, "policy view");
    order_sums sums;
    (void)order_sum(o, &sums);
    (void)order_status(o);
    if (!order_doc_largest(o, &part) || part > len1)
        fail("order_doc_largest", "more than the whole");

    free(first);
    free(second);
    order_free(again);
    order_free(o);
    return 0;
}
