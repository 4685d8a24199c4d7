/* loadgen.c: a closed-loop load generator for a live `corder serve`.
 *
 * N connections, each keeping `depth` requests in flight (pipelined; the
 * protocol answers in request order, so the send times form a FIFO per
 * connection). Every connection signs in first; the first one also asks
 * order.preview with a 1-cent payment, whose payment_mismatch names the
 * amount due (details.due), so the timed order.create pays exactly that.
 * After a warm-up, every answer received inside the measured window counts
 * toward the rate, and its latency (send to answer) toward the percentiles.
 *
 * Prints one line:
 *   op=create conns=32 depth=2 ops=... secs=... ops_per_s=... p50_ms=... p99_ms=...
 *   max_ms=... errors=... starved=... min_conn_ops=...
 * The percentiles are over all answers of the window; fair service shows in
 * the last two: connections that got no answer at all inside the window,
 * and the fewest answers any one connection got. The descriptor limit is
 * raised to its hard maximum, so 1,000 connections and more work.
 *
 * --acked FILE is for killing the server under load (durability: an ok
 * answer survives kill -9): the number of every order acknowledged, warm-up
 * included, goes to FILE, one a line, and a connection the server drops is
 * not an error: once every connection is gone, or the time is up, loadgen
 * prints its line with acked=<orders acknowledged> closed=<connections the
 * server dropped>, and exits 0. Only whole answer lines count: an answer
 * cut off by the kill was not given.
 * Usage: loadgen --port P [--host H] [-c CONNS] [-d DEPTH] [-t SECONDS] [-w WARMUP]
 *                [--op create|ping] [--store S --staff ID --pin PIN] [--acked FILE] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#define MAX_DEPTH 64

typedef enum { ST_CONNECTING, ST_LOGIN, ST_PREVIEW, ST_RUN, ST_DONE } lstate;

typedef struct {
    struct bufferevent *bev;
    lstate st;
    int idx;
    int inflight;
    int64_t sent[MAX_DEPTH]; /* FIFO of send times, us */
    int head;
    long answered; /* answers counted in the measured window */
} lconn;

static struct {
    const char *host, *op, *store, *staff, *pin;
    int port, conns, depth;
    double secs, warm;
    struct event_base *base;
    lconn *c;
    char *req;
    size_t req_len;
    int64_t t_start, t_measure, t_end;
    long ops, errors;
    uint32_t *lat; /* us */
    size_t nlat, caplat;
    int logged_in, closed;
    FILE *acked; /* --acked */
    long nacked;
    bool stopping;
    bool ready; /* g.req is the timed request */
} g;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *msg, const char *detail)
{
    fprintf(stderr, "loadgen: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void send_line(lconn *c, const char *line, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add(out, line, len);
    c->sent[(c->head + c->inflight) % MAX_DEPTH] = now_us();
    c->inflight++;
}

static void send_login(lconn *c)
{
    char line[256];
    int n = snprintf(line, sizeof line,
                     "{\"id\":0,\"op\":\"session.login\",\"args\":{\"store\":\"%s\","
                     "\"staff\":\"%s\",\"pin\":\"%s\"}}\n",
                     g.store, g.staff, g.pin);
    c->st = ST_LOGIN;
    send_line(c, line, (size_t)n);
}

static void build_request(int64_t due)
{
    char ship[11], pick[11];
    time_t t = time(NULL);
    struct tm tm;
    time_t ts = t + 45 * 86400, tp = t + 40 * 86400;
    gmtime_r(&ts, &tm);
    strftime(ship, sizeof ship, "%Y-%m-%d", &tm);
    gmtime_r(&tp, &tm);
    strftime(pick, sizeof pick, "%Y-%m-%d", &tm);
    const char *op = due < 0 ? "order.preview" : "order.create";
    free(g.req);
    if (asprintf(&g.req,
                 "{\"id\":1,\"op\":\"%s\",\"args\":{\"customer\":\"C0001\",\"type\":\"order\","
                 "\"lines\":[{\"item\":\"P100\",\"qty\":1,\"delivery\":{\"mode\":\"ship\","
                 "\"address\":\"home\",\"date\":\"%s\"}},{\"item\":\"P200\",\"qty\":2,"
                 "\"delivery\":{\"mode\":\"pickup\",\"store\":\"S002\",\"date\":\"%s\"}},"
                 "{\"item\":\"P300\",\"qty\":3,\"delivery\":{\"mode\":\"carryout\"}}],"
                 "\"payments\":[{\"tender\":\"card\",\"amount\":%lld}]}}\n",
                 op, ship, pick, (long long)(due < 0 ? 1 : due)) < 0)
        die("out of memory", NULL);
    g.req_len = strlen(g.req);
}

static void start_run(lconn *c)
{
    c->st = ST_RUN;
    for (int i = c->inflight; i < g.depth; i++)
        send_line(c, g.req, g.req_len);
}

static void record(lconn *c, int64_t sent, int64_t now)
{
    if (now < g.t_measure || now > g.t_end || sent < g.t_measure) return;
    g.ops++;
    c->answered++;
    if (g.nlat == g.caplat) {
        g.caplat = g.caplat ? g.caplat * 2 : 1 << 16;
        g.lat = realloc(g.lat, g.caplat * sizeof *g.lat);
        if (!g.lat) die("out of memory", NULL);
    }
    g.lat[g.nlat++] = (uint32_t)(now - sent);
}

static void start_others(void)
{
    for (int i = 1; i < g.conns; i++)
        if (g.c[i].st == ST_CONNECTING) send_login(&g.c[i]);
}

/* The order number of an acknowledged order.create ({"id":..,"ok":true,
 * "result":{"number":"S001-000123",...}}), to the --acked file. */
static void note_acked(const char *line, size_t len)
{
    static const char key[] = "\"number\":\"";
    const char *p = memmem(line, len, key, sizeof key - 1);
    if (!p) return; /* ping */
    p += sizeof key - 1;
    const char *q = memchr(p, '"', len - (size_t)(p - line));
    if (!q) die("an answer with an unterminated number", NULL);
    fprintf(g.acked, "%.*s\n", (int)(q - p), p);
    g.nacked++;
}

static void on_answer(lconn *c, const char *line, size_t len)
{
    int64_t now = now_us();
    int64_t sent = c->sent[c->head];
    c->head = (c->head + 1) % MAX_DEPTH;
    c->inflight--;
    bool ok = memmem(line, len, "\"ok\":true", 9) != NULL;
    switch (c->st) {
    case ST_LOGIN:
        if (!ok) die("login failed", line);
        g.logged_in++;
        if (c->idx == 0) {
            if (!strcmp(g.op, "ping")) {
                free(g.req);
                g.req = strdup("{\"id\":1,\"op\":\"ping\"}\n");
                g.req_len = strlen(g.req);
                g.ready = true;
                start_run(c);
                start_others();
            } else {
                build_request(-1);
                c->st = ST_PREVIEW;
                send_line(c, g.req, g.req_len);
            }
        } else {
            start_run(c);
        }
        return;
    case ST_PREVIEW: {
        json_t *r = json_loadb(line, len, 0, NULL);
        /* F11: a preview answers due_now (an older server: payment_mismatch's due) */
        json_t *due = json_object_get(json_object_get(r, "result"), "due_now");
        if (!due)
            due = json_object_get(json_object_get(json_object_get(r, "error"), "details"), "due");
        if (!json_is_integer(due)) die("preview gave no amount due", line);
        build_request(json_integer_value(due));
        json_decref(r);
        g.ready = true;
        start_run(c);
        start_others();
        return;
    }
    case ST_RUN:
        if (!ok) {
            if (g.errors++ == 0) fprintf(stderr, "loadgen: first error: %.*s\n", (int)len, line);
        } else if (g.acked) {
            note_acked(line, len);
        }
        record(c, sent, now);
        if (!g.stopping && now < g.t_end) send_line(c, g.req, g.req_len);
        return;
    default:
        return;
    }
}

static void check_end(void)
{
    if (!g.stopping && now_us() >= g.t_end) g.stopping = true;
    if (!g.stopping && g.acked && g.closed == g.conns) { /* the server is gone: the window ends */
        g.stopping = true;
        if (now_us() < g.t_end) g.t_end = now_us();
    }
    if (!g.stopping) return;
    for (int i = 0; i < g.conns; i++)
        if (g.c[i].inflight && g.c[i].st != ST_DONE) return;
    event_base_loopbreak(g.base);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    lconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
        if (eol.pos < 0) break;
        size_t len = (size_t)eol.pos;
        const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)len + 1);
        if (c->inflight == 0) die("answer without a request", NULL);
        on_answer(c, line, len);
        evbuffer_drain(in, len + 1);
    }
    check_end();
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    lconn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (c->idx == 0)
            send_login(c);
        else if (g.ready)
            send_login(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (!g.stopping && !g.acked)
            die("connection lost", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        if (c->st != ST_DONE) g.closed++;
        c->st = ST_DONE;
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        check_end();
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    int64_t now = now_us();
    if (g.logged_in < g.conns && now - g.t_start > 60 * 1000000LL)
        die("timed out signing in", NULL);
    check_end();
}

static int cmpu32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double q)
{
    if (!g.nlat) return 0;
    size_t k = (size_t)(q * (double)g.nlat + 0.999999);
    if (k < 1) k = 1;
    if (k > g.nlat) k = g.nlat;
    return g.lat[k - 1] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --port P [--host H] [-c CONNS] [-d DEPTH] [-t SECONDS] "
                    "[-w WARMUP] [--op create|ping] [--store S] [--staff ID] [--pin PIN] "
                    "[--acked FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    g.host = "127.0.0.1";
    g.op = "create";
    g.store = "S001";
    g.staff = "1001";
    g.pin = "1234";
    g.conns = 32;
    g.depth = 2;
    g.secs = 10;
    g.warm = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--host"))
            g.host = v;
        else if (!strcmp(a, "--port"))
            g.port = atoi(v);
        else if (!strcmp(a, "-c"))
            g.conns = atoi(v);
        else if (!strcmp(a, "-d"))
            g.depth = atoi(v);
        else if (!strcmp(a, "-t"))
            g.secs = atof(v);
        else if (!strcmp(a, "-w"))
            g.warm = atof(v);
        else if (!strcmp(a, "--op"))
            g.op = v;
        else if (!strcmp(a, "--store"))
            g.store = v;
        else if (!strcmp(a, "--staff"))
            g.staff = v;
        else if (!strcmp(a, "--pin"))
            g.pin = v;
        else if (!strcmp(a, "--acked")) {
            if (!(g.acked = fopen(v, "w"))) die("cannot write", v);
        } else
            usage();
        i++;
    }
    if (g.port <= 0 || g.conns < 1 || g.depth < 1 || g.depth > MAX_DEPTH || g.secs <= 0 ||
        (strcmp(g.op, "create") && strcmp(g.op, "ping")))
        usage();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)g.conns + 16)
            die("too many connections for the descriptor limit (ulimit -Hn)", NULL);
    }
    g.base = event_base_new();
    g.c = calloc((size_t)g.conns, sizeof *g.c);
    if (!g.base || !g.c) die("out of memory", NULL);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)g.port);
    if (inet_pton(AF_INET, g.host, &sin.sin_addr) != 1) die("bad host", g.host);
    g.t_start = now_us();
    g.t_measure = INT64_MAX;
    g.t_end = INT64_MAX;
    for (int i = 0; i < g.conns; i++) {
        lconn *c = &g.c[i];
        c->idx = i;
        c->bev = bufferevent_socket_new(g.base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!c->bev) die("cannot create a socket", NULL);
        bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof sin) < 0)
            die("cannot connect", strerror(errno));
    }
    struct event *tick = event_new(g.base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 50000};
    event_add(tick, &tv);

    /* The clock starts when every connection has signed in (or, with
     * --acked, has been dropped). */
    while (g.logged_in < g.conns && !(g.acked && g.logged_in + g.closed >= g.conns)) {
        event_base_loop(g.base, EVLOOP_ONCE);
    }
    int64_t t0 = now_us();
    g.t_measure = t0 + (int64_t)(g.warm * 1e6);
    g.t_end = g.t_measure + (int64_t)(g.secs * 1e6);
    if (g.stopping) g.t_measure = g.t_end = t0; /* dropped while signing in */
    event_base_dispatch(g.base);

    double secs = (double)(g.t_end - g.t_measure) / 1e6;
    qsort(g.lat, g.nlat, sizeof *g.lat, cmpu32);
    long starved = 0, min_conn = g.c[0].answered;
    for (int i = 0; i < g.conns; i++) {
        if (!g.c[i].answered) starved++;
        if (g.c[i].answered < min_conn) min_conn = g.c[i].answered;
    }
    printf("op=%s conns=%d depth=%d ops=%ld secs=%.2f ops_per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
           "max_ms=%.2f errors=%ld starved=%ld min_conn_ops=%ld\n",
           g.op, g.conns, g.depth, g.ops, secs, secs > 0 ? g.ops / secs : 0.0, pct_ms(0.50),
           pct_ms(0.99), g.nlat ? g.lat[g.nlat - 1] / 1000.0 : 0.0, g.errors, starved, min_conn);
    if (g.acked) {
        if (fclose(g.acked) != 0) die("cannot write the --acked file", strerror(errno));
        printf("acked=%ld closed=%d\n", g.nacked, g.closed);
    }
    event_free(tick);
    for (int i = 0; i < g.conns; i++)
        bufferevent_free(g.c[i].bev);
    event_base_free(g.base);
    free(g.c);
    free(g.lat);
    free(g.req);
    return g.errors ? 1 : 0;
}
