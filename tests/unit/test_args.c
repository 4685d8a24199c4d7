/* test_args.c: the argument readers of model/args.h. PROTOCOL: a missing
 * or mistyped field is bad_request and details.field names its full path
 * ("lines[2].delivery.mode"); the path is written only for an error, and
 * a path too long for its buffer is cut, never overrun. */
#include <string.h>

#include "model/args.h"
#include "t.h"

int main(void)
{
    char buf[160];
    CHECK(!strcmp(args_path(buf, sizeof buf, "", "lines"), "lines"), "top level: %s", buf);
    CHECK(!strcmp(args_path(buf, sizeof buf, NULL, "lines"), "lines"), "no path: %s", buf);
    CHECK(!strcmp(args_path(buf, sizeof buf, "lines[2]", "qty"), "lines[2].qty"), "%s", buf);
    CHECK(!strcmp(args_index(buf, sizeof buf, "lines", 0), "lines[0]"), "%s", buf);
    CHECK(!strcmp(args_index(buf, sizeof buf, "x", 1234567), "x[1234567]"), "%s", buf);
    char small[8];
    CHECK(!strcmp(args_path(small, sizeof small, "lines[12]", "delivery"), "lines[1"),
          "cut to fit: %s", small);
    CHECK(!strcmp(args_index(small, sizeof small, "payments", 3), "payment"), "cut: %s", small);

    json_t *o = json_pack("{s:{s:s, s:i}}", "delivery", "mode", "ship", "qty", 3);
    json_t *d = json_object_get(o, "delivery");
    err_t err = {0};
    const char *mode = NULL;
    int64_t qty = 0;
    CHECK(args_str(d, "lines[2].delivery", "mode", true, 16, &mode, &err) == 1 &&
              !strcmp(mode, "ship"),
          "a string read");
    CHECK(args_int(d, "lines[2].delivery", "qty", true, 1, 9, &qty, &err) == 1 && qty == 3,
          "an int");
    CHECK(args_str(d, "lines[2].delivery", "store", false, 16, &mode, &err) == 0 && !err.code,
          "an optional field left out is no error");
    CHECK(args_str(d, "lines[2].delivery", "store", true, 16, &mode, &err) < 0 &&
              err.code == ERR_BAD_REQUEST && !strcmp(err.field, "lines[2].delivery.store") &&
              !strcmp(err.message, "lines[2].delivery.store: required"),
          "required: %s / %s", err.field, err.message);
    err = (err_t){0};
    CHECK(args_int(d, "lines[2].delivery", "qty", true, 5, 9, &qty, &err) < 0 &&
              !strcmp(err.field, "lines[2].delivery.qty") &&
              !strcmp(err.message, "lines[2].delivery.qty: 3 is outside 5..9"),
          "range: %s", err.message);
    err = (err_t){0};
    CHECK(args_str(o, "", "delivery", true, 16, &mode, &err) < 0 &&
              !strcmp(err.field, "delivery") && !strcmp(err.message, "delivery: expected a string"),
          "type: %s", err.message);
    json_decref(o);
    return T_DONE();
}
