/* http_metrics.c: GET /metrics, the Prometheus text exposition format
 * (version 0.0.4) of what the server counts (SPEC OP1). Names start with
 * corder_; label values are escaped as the format says (backslash, double
 * quote, newline). Per-op counters come from dispatch, the batch and
 * commit histograms from the server, the per-store gauges from the
 * database (store/gauges.c), the policy versions from the policy host. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/policy.h"
#include "net/http_metrics.h"

#include <event2/buffer.h>

#include "ops/dispatch.h"
#include "store/gauges.h"

#define MAX_STORES 256

static void put(struct evbuffer *b, const char *raw)
{
    evbuffer_add(b, raw, strlen(raw));
}

/* A label value, escaped. */
static void label(struct evbuffer *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\')
            put(b, "\\\\");
        else if (*p == '"')
            put(b, "\\\"");
        else if (*p == '\n')
            put(b, "\\n");
        else
            evbuffer_add(b, p, 1);
    }
}

static void head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct evbuffer *b, const char *name, double v)
{
    evbuffer_add_printf(b, "%s %.17g\n", name, v);
}

static void by_code(void *arg, const char *op, const dispatch_op_metrics *m)
{
    struct evbuffer *b = arg;
    for (int c = 0; c < DISPATCH_CODES; c++) {
        if (!m->by_code[c]) continue;
        put(b, "corder_requests_total{op=\"");
        label(b, op);
        put(b, "\",code=\"");
        label(b, c == ERR_NONE ? "ok" : err_code_name((err_code)c));
        evbuffer_add_printf(b, "\"} %" PRIu64 "\n", m->by_code[c]);
    }
}

static void latency(void *arg, const char *op, const dispatch_op_metrics *m)
{
    struct evbuffer *b = arg;
    uint64_t cum = 0;
    for (int i = 0; i <= DISPATCH_LAT_BUCKETS; i++) {
        cum += m->lat[i];
        put(b, "corder_request_seconds_bucket{op=\"");
        label(b, op);
        if (i < DISPATCH_LAT_BUCKETS)
            evbuffer_add_printf(b, "\",le=\"%g\"} %" PRIu64 "\n", dispatch_lat_bounds[i], cum);
        else
            evbuffer_add_printf(b, "\",le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    put(b, "corder_request_seconds_sum{op=\"");
    label(b, op);
    evbuffer_add_printf(b, "\"} %.9f\n", m->lat_sum);
    put(b, "corder_request_seconds_count{op=\"");
    label(b, op);
    evbuffer_add_printf(b, "\"} %" PRIu64 "\n", m->count);
}

static void policy_errors(void *arg, const char *op, const dispatch_op_metrics *m)
{
    *(uint64_t *)arg += m->by_code[ERR_POLICY_ERROR];
}

static void histogram(struct evbuffer *b, const char *name, const uint64_t *hist, int nb,
                      const double *bounds_d, const int *bounds_i, double sum, uint64_t count)
{
    uint64_t cum = 0;
    for (int i = 0; i <= nb; i++) {
        cum += hist[i];
        if (i == nb)
            evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
        else if (bounds_d)
            evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds_d[i], cum);
        else
            evbuffer_add_printf(b, "%s_bucket{le=\"%d\"} %" PRIu64 "\n", name, bounds_i[i], cum);
    }
    evbuffer_add_printf(b, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, sum, name, count);
}

void http_metrics_page(struct evbuffer *b, server *srv, engine *e, const http_page_stats *st)
{
    head(b, "corder_requests_total", "counter",
         "Requests answered, by op and answer code (ok or the error code).");
    dispatch_metrics_each(by_code, b);
    head(b, "corder_request_seconds", "histogram",
         "Time dispatch took for a request (checks, the op, its savepoint), by op.");
    dispatch_metrics_each(latency, b);
    uint64_t perr = 0;
    dispatch_metrics_each(policy_errors, &perr);
    head(b, "corder_policy_errors_total", "counter",
         "Requests that failed because a policy hook faulted (policy_error).");
    sample(b, "corder_policy_errors_total", (double)perr);

    server_metrics m;
    server_get_metrics(srv, &m);
    head(b, "corder_commits_total", "counter",
         "Group commits (one COMMIT each; its fsync in it, or on the sync thread when pipelined).");
    sample(b, "corder_commits_total", (double)m.commits);
    head(b, "corder_commit_failures_total", "counter", "Group commits that failed.");
    sample(b, "corder_commit_failures_total", (double)m.commit_failures);
    head(b, "corder_commit_seconds", "histogram",
         "Time of one group COMMIT on the loop, its fsync included unless pipelined.");
    histogram(b, "corder_commit_seconds", m.commit_hist, SERVER_COMMIT_BUCKETS,
              server_commit_bounds, NULL, m.commit_seconds, m.commits);
    head(b, "corder_batch_size", "histogram", "Requests answered per group commit.");
    histogram(b, "corder_batch_size", m.batch_hist, SERVER_BATCH_BUCKETS, NULL, server_batch_bounds,
              (double)m.batch_sum, m.batches);
    uint64_t syncs;
    double sync_secs;
    engine_sync_counts(e, &syncs, &sync_secs);
    head(b, "corder_wal_syncs_total", "counter",
         "WAL fdatasyncs made on the sync thread (pipelined commits; 0 when off).");
    sample(b, "corder_wal_syncs_total", (double)syncs);
    head(b, "corder_wal_sync_seconds_total", "counter", "Seconds those fdatasyncs took.");
    sample(b, "corder_wal_sync_seconds_total", sync_secs);
    head(b, "corder_wal_bytes_total", "counter",
         "Bytes the commits appended to the WAL (frames x (page size + 24)).");
    sample(b, "corder_wal_bytes_total", (double)gauges_wal_bytes(e));
    head(b, "corder_connections", "gauge", "Open protocol connections (TCP).");
    sample(b, "corder_connections", m.open_connections);
    head(b, "corder_admin_connections", "gauge", "Open connections on the admin socket.");
    sample(b, "corder_admin_connections", m.admin_connections);
    head(b, "corder_connections_accepted_total", "counter", "Connections accepted.");
    sample(b, "corder_connections_accepted_total", (double)m.accepted);
    head(b, "corder_connections_refused_total", "counter",
         "Connections refused because the server was full.");
    sample(b, "corder_connections_refused_total", (double)m.refused);
    head(b, "corder_connections_evicted_total", "counter",
         "Connections closed to make room or for buffering too much before signing in.");
    sample(b, "corder_connections_evicted_total", (double)m.evicted);
    head(b, "corder_connections_timed_out_total", "counter",
         "Connections closed for staying unauthenticated or silent too long.");
    sample(b, "corder_connections_timed_out_total", (double)m.timed_out);
    head(b, "corder_signins_slowed_total", "counter",
         "Requests held by the slow-down after wrong PINs from their address.");
    sample(b, "corder_signins_slowed_total", (double)m.slowed);
    head(b, "corder_pin_checks_in_progress", "gauge", "PINs being verified on worker threads.");
    sample(b, "corder_pin_checks_in_progress", m.pin_checks);
    head(b, "corder_answers_held", "gauge",
         "Answers waiting for their batch's commit or for the WAL sync that covers it.");
    sample(b, "corder_answers_held", m.held);
    head(b, "corder_answer_writes_by_thread_total", "counter",
         "Writes of a connection's answers done by the sender thread, not the loop.");
    sample(b, "corder_answer_writes_by_thread_total", (double)m.sender_writes);

    err_t err;
    err_clear(&err);
    gauges_master gm;
    head(b, "corder_up", "gauge", "1 when the database answers (as /healthz), else 0.");
    sample(b, "corder_up", gauges_health(e, &err) == 0);
    if (gauges_master_counts(e, &gm, &err) == 0) {
        head(b, "corder_master_records", "gauge", "Master data rows, by kind.");
        evbuffer_add_printf(b,
                            "corder_master_records{kind=\"stores\"} %" PRId64 "\n"
                            "corder_master_records{kind=\"staff\"} %" PRId64 "\n"
                            "corder_master_records{kind=\"customers\"} %" PRId64 "\n"
                            "corder_master_records{kind=\"products\"} %" PRId64 "\n",
                            gm.stores, gm.staff, gm.customers, gm.products);
        head(b, "corder_staff_locked", "gauge", "Staff ids locked out after wrong PINs now.");
        sample(b, "corder_staff_locked", (double)gm.locked_staff);
    }

    static gauges_store gs[MAX_STORES];
    int n = 0;
    if (gauges_stores(e, gs, MAX_STORES, &n, &err) == 0) {
        head(b, "corder_orders", "gauge", "Orders in the database, by the store that made them.");
        for (int i = 0; i < n; i++) {
            put(b, "corder_orders{store=\"");
            label(b, gs[i].store);
            evbuffer_add_printf(b, "\"} %" PRId64 "\n", gs[i].orders);
        }
        head(b, "corder_sync_queue_events", "gauge",
             "Events of a store not yet acknowledged by HQ (the upload queue).");
        for (int i = 0; i < n; i++) {
            put(b, "corder_sync_queue_events{store=\"");
            label(b, gs[i].store);
            evbuffer_add_printf(b, "\"} %" PRId64 "\n", gs[i].queue);
        }
        head(b, "corder_sync_queue_oldest_age_seconds", "gauge",
             "Age of the oldest event in a store's upload queue (0 when empty).");
        for (int i = 0; i < n; i++) {
            put(b, "corder_sync_queue_oldest_age_seconds{store=\"");
            label(b, gs[i].store);
            evbuffer_add_printf(b, "\"} %.0f\n", gs[i].oldest_age_s);
        }
        policy_host *ph = engine_policies(e);
        head(b, "corder_policy_info", "gauge",
             "The policy in force per store: its name and version (SHA-256; builtin without"
             " a policy host). Always 1.");
        for (int i = 0; i < n; i++) {
            json_t *info = ph ? policy_host_info(ph, gs[i].store, &err) : NULL;
            const char *ver = json_string_value(json_object_get(info, "version"));
            put(b, "corder_policy_info{store=\"");
            label(b, gs[i].store);
            put(b, "\",policy=\"");
            label(b, gs[i].policy);
            put(b, "\",version=\"");
            label(b, ver ? ver : "builtin");
            put(b, "\"} 1\n");
            json_decref(info);
        }
    }

    head(b, "corder_http_sessions", "gauge", "Signed-in sessions of the orders page.");
    sample(b, "corder_http_sessions", st->sessions);
    head(b, "corder_http_signins_total", "counter", "Sign-ins on the orders page, by result.");
    evbuffer_add_printf(b,
                        "corder_http_signins_total{result=\"ok\"} %" PRIu64 "\n"
                        "corder_http_signins_total{result=\"failed\"} %" PRIu64 "\n",
                        st->signin_ok, st->signin_failed);
    head(b, "corder_http_responses_total", "counter", "HTTP responses, by status class.");
    for (int c = 1; c <= 5; c++)
        evbuffer_add_printf(b, "corder_http_responses_total{class=\"%dxx\"} %" PRIu64 "\n", c,
                            st->responses[c]);
    head(b, "corder_start_time_seconds", "gauge", "When this server started (Unix time).");
    sample(b, "corder_start_time_seconds", (double)st->started);
}
