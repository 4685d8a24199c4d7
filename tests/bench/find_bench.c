/* find_bench.c: how long order.find with q and customer.find take on a big
 * store (SPEC F12; target: a q search under 5 ms with 1,000,000 orders and
 * 100,000 customers). The store is prefill's, made with --customers, whose
 * customer k is "Klant<k> <surname>", klant<k>@mail<k%7>.example, phone
 * "+31 6 AAAA BBBB". Each search runs through dispatch_line_text, the path
 * of a client's request, REPS times after one warm-up; the median and the
 * slowest are printed, one line per search, then a summary line:
 *   find_q_ms=… (the median of the phone-part search) find_made_up_ms=…
 *   (a name no customer has, all of whose words are common: "Klant…"
 *   trigrams are in every customer) find_answer50_ms=… (what loading and
 *   writing 50 orders adds to a search: limit 50 less limit 1)
 *   find_max_ms=… (the slowest of every search)
 * Usage: find_bench DB POLICIES_DIR [CUSTOMERS]; FIND_BENCH_ONLY=text runs
 * only the searches whose label holds text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "host/policy_lua.h"

#define REPS 21

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs one request REPS times; the median in ms, the slowest in *max. */
static double run(engine *e, session *s, const char *what, const char *op, const char *args,
                  double *max)
{
    /* FIND_BENCH_ONLY=text runs only the searches whose label holds it
     * (for a profile of one: perf record find_bench …) */
    const char *only = getenv("FIND_BENCH_ONLY");
    if (only && !strstr(what, only)) return 0;
    char line[1024];
    snprintf(line, sizeof line, "{\"id\":1,\"op\":\"%s\",\"args\":%s}", op, args);
    double t[REPS];
    size_t found = 0;
    for (int i = -1; i < REPS; i++) {
        bool w;
        size_t n;
        json_t *id;
        double t0 = now_ms();
        char *text = dispatch_line_text(e, s, line, strlen(line), &w, &n, &id);
        double t1 = now_ms();
        json_decref(id);
        if (!text || !strstr(text, "\"ok\":true")) {
            fprintf(stderr, "find_bench: %s: %.300s\n", line, text ? text : "(no answer)");
            exit(1);
        }
        if (i < 0) { /* count the answers once: "number" per order, "account" per customer */
            for (const char *p = text;
                 (p = strstr(p, strcmp(op, "order.find") ? "\"account\"" : "\"number\"")); p++)
                found++;
        } else {
            t[i] = t1 - t0;
        }
        free(text);
    }
    qsort(t, REPS, sizeof *t, cmp);
    printf("find_bench: %-44s %s %-40s %3zu found, median %.2f ms, max %.2f ms\n", what, op, args,
           found, t[REPS / 2], t[REPS - 1]);
    if (t[REPS - 1] > *max) *max = t[REPS - 1];
    return t[REPS / 2];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: find_bench DB POLICIES_DIR [CUSTOMERS]\n");
        return 2;
    }
    long k = (argc > 3 ? atol(argv[3]) : 100000) * 3 / 7; /* a customer well inside */
    err_t err = {0};
    engine_config cfg = {.db_path = argv[1], .policies_dir = argv[2], .policy_impl = &policy_lua};
    engine *e = engine_open(&cfg, &err);
    if (!e) {
        fprintf(stderr, "find_bench: open: %s\n", err.message);
        return 1;
    }
    session s = {
        .signed_in = true, .store = "S001", .staff = "1001", .name = "Ann", .role = "cashier"};
    char a[256];
    double max = 0, phone;
    /* the last 6 digits of customer k's phone, as prefill wrote it */
    snprintf(a, sizeof a, "{\"q\":\"%04ld %02ld\"}", (k * 48271) % 10000,
             ((k * 69621 + 17) % 10000) / 100);
    phone = run(e, &s, "part of a phone number", "order.find", a, &max);
    snprintf(a, sizeof a, "{\"q\":\"klant%06ld\"}", k);
    run(e, &s, "a name, other case", "order.find", a, &max);
    snprintf(a, sizeof a, "{\"q\":\"%06ld@mail\"}", k);
    run(e, &s, "part of an email", "order.find", a, &max);
    snprintf(a, sizeof a, "{\"q\":\"Klant%06ld Visser\"}", k + 1);
    double made_up = run(e, &s, "a made-up name (common trigrams)", "order.find", a, &max);
    run(e, &s, "a made-up email", "order.find", "{\"q\":\"klant999999@mail\"}", &max);
    run(e, &s, "part of the number", "order.find", "{\"q\":\"-0123456\"}", &max);
    double answer =
        run(e, &s, "50 orders in the answer", "order.find", "{\"q\":\"S001-\",\"limit\":50}", &max);
    double one =
        run(e, &s, "1 order in the answer", "order.find", "{\"q\":\"S001-\",\"limit\":1}", &max);
    run(e, &s, "a common text (newest 50 of many)", "order.find", "{\"q\":\"jansen\"}", &max);
    run(e, &s, "nothing matches", "order.find", "{\"q\":\"zzzqqq\"}", &max);
    run(e, &s, "with other filters", "order.find",
        "{\"q\":\"visser\",\"open\":true,\"store\":\"S001\",\"limit\":10}", &max);
    run(e, &s, "pickup store (no q)", "order.find", "{\"pickup_store\":\"S002\",\"limit\":50}",
        &max);
    snprintf(a, sizeof a, "{\"q\":\"%04ld %02ld\"}", (k * 48271) % 10000,
             ((k * 69621 + 17) % 10000) / 100);
    run(e, &s, "customer by part of a phone number", "customer.find", a, &max);
    run(e, &s, "customers by a common text", "customer.find", "{\"q\":\"bakker\"}", &max);
    printf("find_q_ms=%.2f find_made_up_ms=%.2f find_answer50_ms=%.2f find_max_ms=%.2f\n", phone,
           made_up, answer - one, max);
    engine_close(e);
    return 0;
}
