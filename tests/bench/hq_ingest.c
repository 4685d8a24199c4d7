/* hq_ingest.c: HQ ingest load for `make bench` (tests/bench/run.sh): S
 * stores upload at once, each on its own connection (a thread with a
 * blocking socket, as a store's uploader is one connection), B batches of
 * E events each, waiting for every batch's acknowledgement before the next
 * (as the uploader does). Several HQ addresses: store i uses address
 * i mod n. Prints one line:
 *   events=… secs=… events_per_s=… batch_p50_ms=… batch_p99_ms=… errors=…
 * Usage: hq_ingest HOST:PORT[,HOST:PORT…] TOKEN STORES BATCHES EVENTS */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int idx, port;
    char host[64];
    int64_t *lat; /* µs per batch */
    int errors;
} worker;

static const char *token;
static int nbatches, nevents;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads one line; 1 when it says "ok":true. */
static int read_ok(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + n, 1, 0);
        if (k <= 0) return -1;
        if (buf[n] == '\n') break;
        if (n + 1 < cap - 1) n++;
    }
    buf[n] = 0;
    return strstr(buf, "\"ok\":true") != NULL;
}

static void *run(void *arg)
{
    worker *w = arg;
    char store[16], *buf = malloc(4u << 20), line[4096];
    snprintf(store, sizeof store, "B%03d", w->idx);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port)};
    inet_pton(AF_INET, w->host, &sa.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        w->errors = nbatches;
        free(buf);
        return NULL;
    }
    int n = snprintf(buf, 4096,
                     "{\"id\":0,\"op\":\"session.login_store\",\"args\":{\"store\":\"%s\","
                     "\"token\":\"%s\"}}\n",
                     store, token);
    if (send_all(fd, buf, (size_t)n) < 0 || read_ok(fd, line, sizeof line) != 1) w->errors++;
    for (int b = 0; b < nbatches; b++) {
        size_t len = (size_t)snprintf(buf, 256,
                                      "{\"id\":%d,\"op\":\"hq.upload\",\"args\":{\"store\":\"%s\","
                                      "\"events\":[",
                                      b + 1, store);
        for (int e = 0; e < nevents; e++) {
            long seq = (long)b * nevents + e + 1;
            /* A 3-line hybrid order's document, about 1 KB. */
            len += (size_t)snprintf(
                buf + len, 4096,
                "%s{\"seq\":%ld,\"type\":\"order.create\",\"payload\":{\"number\":\"%s-%06ld\","
                "\"store\":\"%s\",\"type\":\"order\",\"version\":1,\"currency\":\"EUR\","
                "\"customer\":{\"account\":\"C0001\",\"name\":\"Karin Smit\"},\"lines\":["
                "{\"line\":1,\"item\":\"P100\",\"qty\":1,\"unit_price\":49900,\"amount\":49900,"
                "\"delivery\":{\"mode\":\"ship\",\"address\":\"home\",\"date\":\"2026-12-09\"}},"
                "{\"line\":2,\"item\":\"P200\",\"qty\":2,\"unit_price\":7900,\"amount\":15800,"
                "\"delivery\":{\"mode\":\"pickup\",\"store\":\"%s\",\"date\":\"2026-12-05\"}},"
                "{\"line\":3,\"item\":\"P300\",\"qty\":1,\"unit_price\":1999,\"amount\":1999,"
                "\"delivery\":{\"mode\":\"carryout\"}}],\"charges\":[{\"kind\":\"shipping\","
                "\"amount\":995}],\"payments\":[{\"tender\":\"card\",\"amount\":21176}],"
                "\"totals\":{\"lines\":67699,\"charges\":995,\"order\":68694},\"paid\":21176,"
                "\"balance\":47518,\"status\":\"open\"}}",
                e ? "," : "", seq, store, seq, store, store);
        }
        len += (size_t)snprintf(buf + len, 16, "]}}\n");
        int64_t t0 = now_us();
        if (send_all(fd, buf, len) < 0 || read_ok(fd, line, sizeof line) != 1) {
            w->errors++;
            if (w->errors == 1) fprintf(stderr, "hq_ingest: %s: %.300s\n", store, line);
        }
        w->lat[b] = now_us() - t0;
    }
    close(fd);
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: hq_ingest HOST:PORT[,HOST:PORT...] TOKEN STORES BATCHES EVENTS\n");
        return 2;
    }
    token = argv[2];
    int nstores = atoi(argv[3]);
    nbatches = atoi(argv[4]);
    nevents = atoi(argv[5]);
    char hosts[16][64];
    int ports[16], nh = 0;
    char *list = strdup(argv[1]);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && nh < 16;
         t = strtok_r(NULL, ",", &save)) {
        char *c = strrchr(t, ':');
        if (!c) return 2;
        snprintf(hosts[nh], sizeof hosts[nh], "%.*s", (int)(c - t), t);
        ports[nh++] = atoi(c + 1);
    }
    free(list);
    worker *w = calloc((size_t)nstores, sizeof *w);
    pthread_t *th = calloc((size_t)nstores, sizeof *th);
    int64_t *all = calloc((size_t)nstores * (size_t)nbatches, sizeof *all);
    int64_t t0 = now_us();
    for (int i = 0; i < nstores; i++) {
        w[i].idx = i + 1;
        w[i].port = ports[i % nh];
        snprintf(w[i].host, sizeof w[i].host, "%s", hosts[i % nh]);
        w[i].lat = all + (size_t)i * (size_t)nbatches;
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < nstores; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    double secs = (double)(now_us() - t0) / 1e6;
    size_t n = (size_t)nstores * (size_t)nbatches;
    qsort(all, n, sizeof *all, cmp);
    long events = (long)nstores * nbatches * nevents;
    printf("events=%ld secs=%.2f events_per_s=%.0f batch_p50_ms=%.1f batch_p99_ms=%.1f errors=%d\n",
           events, secs, events / secs, all[n / 2] / 1000.0, all[(n * 99) / 100] / 1000.0, errors);
    free(all);
    free(w);
    free(th);
    return errors ? 1 : 0;
}
