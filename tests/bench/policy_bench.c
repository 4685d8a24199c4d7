/* policy_bench.c: what a policy decision costs. Prints one line,
 *   hook_ns=<median ns of one deposit call> reload_us=<median us of one reload>
 * The deposit call is the full host path (JSON order -> Lua tables -> hook
 * -> checked answer) on policies/default.lua with a five-line order; the
 * reload re-reads, hashes, compiles and swaps a changed default.lua.
 * Usage: policy_bench [POLICIES_DIR]   (default: $CORDER_ROOT/policies) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/jsonw.h"
#include "host/policy_lua.h"
#include "model/policy.h"

#define CALLS 20001
#define RELOADS 51

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp64);
    return v[n / 2];
}

static json_t *sample_order(void)
{
    json_t *lines = json_array();
    const char *modes[] = {"ship", "pickup", "carryout", "ship", "pickup"};
    for (int i = 0; i < 5; i++)
        json_array_append_new(
            lines, json_pack("{s:i, s:s, s:s, s:i, s:i, s:i, s:{s:s, s:s, s:s}, s:s, s:i, s:i, "
                             "s:i}",
                             "line", i + 1, "item", "P100", "name", "Oak table", "qty", 2,
                             "unit_price", 49900, "amount", 99800, "delivery", "mode", modes[i],
                             "address", "home", "date", "2030-01-10", "status", "open",
                             "qty_invoiced", 0, "qty_returned", 0, "qty_cancelled", 0));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:b}, s:s, s:o, s:[{s:s, s:s, s:i, s:b}]}", "number",
                     "S001-000001", "status", "open", "customer", "account", "C0001", "name",
                     "Karin Smit", "b2b", 0, "created_at", "2030-01-01T10:00:00Z", "lines", lines,
                     "charges", "code", "SHIP", "kind", "shipping", "amount", 4500, "invoiced", 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    char src_dir[1024];
    const char *root = getenv("CORDER_ROOT");
    snprintf(src_dir, sizeof src_dir, "%s", argc > 1 ? argv[1] : "");
    if (argc <= 1) snprintf(src_dir, sizeof src_dir, "%s/policies", root ? root : ".");
    char path[1100];
    snprintf(path, sizeof path, "%s/default.lua", src_dir);
    size_t len;
    char *src = slurp(path, &len);
    if (!src) {
        fprintf(stderr, "policy_bench: cannot read %s\n", path);
        return 1;
    }

    char dir[] = "/tmp/policy_bench.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char file[64];
    snprintf(file, sizeof file, "%s/default.lua", dir);
    FILE *f = fopen(file, "w");
    fwrite(src, 1, len, f);
    fclose(f);

    err_t e;
    err_clear(&e);
    policy_host *h = policy_lua.host_new(dir, NULL, &e);
    if (!h || policy_host_bind(h, "S001", "default", &e) < 0) {
        fprintf(stderr, "policy_bench: %s\n", e.message);
        return 1;
    }
    json_t *order = sample_order();
    size_t text_len;
    char *text = jsonw_dumps(order, &text_len);
    const char *texts[1] = {text};
    static int64_t t[CALLS], tj[CALLS];
    /* The engine's path: the order as JSON text, parsed straight into Lua
     * tables (policy_call_amount_text); and the jansson path beside it. */
    for (int i = 0; i < CALLS; i++) {
        policy *p = policy_acquire(h, "S001", &e);
        int64_t v, t0 = now_ns();
        int rc = policy_call_amount_text(p, HOOK_DEPOSIT, "S001", "2030-01-01", 0, texts, &text_len,
                                         1, &v, &e);
        int64_t t1 = now_ns();
        if (rc == 0)
            rc = policy_call_amount(p, HOOK_DEPOSIT, "S001", "2030-01-01", 0, &order, 1, &v, &e);
        tj[i] = now_ns() - t1;
        t[i] = t1 - t0;
        policy_release(p);
        if (rc < 0) {
            fprintf(stderr, "policy_bench: %s\n", e.message);
            return 1;
        }
    }
    free(text);
    int64_t hook_ns = median(t, CALLS), hook_json_ns = median(tj, CALLS);

    static int64_t r[RELOADS];
    for (int i = 0; i < RELOADS; i++) {
        f = fopen(file, "w");
        fwrite(src, 1, len, f);
        fprintf(f, "-- edit %d\n", i);
        fclose(f);
        int64_t t0 = now_ns();
        int rc = policy_host_reload(h, "S001", &e);
        r[i] = now_ns() - t0;
        if (rc != 1) {
            fprintf(stderr, "policy_bench: reload: %s\n", e.message);
            return 1;
        }
    }
    int64_t reload_us = median(r, RELOADS) / 1000;

    json_decref(order);
    policy_host_free(h);
    unlink(file);
    rmdir(dir);
    free(src);
    printf("hook_ns=%lld hook_json_ns=%lld reload_us=%lld\n", (long long)hook_ns,
           (long long)hook_json_ns, (long long)reload_us);
    return 0;
}
