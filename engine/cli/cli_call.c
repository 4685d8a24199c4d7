/* cli_call.c: `corder call` (SPEC OP4): the protocol from the shell, as
 * redis-cli is for Redis.
 *
 *   corder call [--connect HOST:PORT] [--login STORE:STAFF] OP [ARGS-JSON]
 *       one request; its result pretty-printed on stdout, exit 0 if ok,
 *       else "corder: CODE: message" on stderr and exit 1
 *   corder call [--connect HOST:PORT] [--login STORE:STAFF]  < requests
 *       a scripted session: one JSON request per line as on the wire (an
 *       id is filled in when missing), each answer printed as one line;
 *       exit 0 if every answer was ok, else 1
 *
 * The PIN of --login never comes from the command line, where ps and the
 * shell history would show it: $CORDER_PIN, else asked on the terminal
 * with echo off. A blocking client on purpose: it sends one request, waits
 * for its answer, sends the next, so a session's answers interleave with
 * nothing. Lines are bounded both ways: a request as the server's 1 MiB,
 * an answer at CALL_ANSWER_MAX. Exit 2 on bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

#define CALL_LINE_MAX ((size_t)1 << 20)    /* the server's cap on a request line */
#define CALL_ANSWER_MAX ((size_t)64 << 20) /* an answer may be bigger (order.find) */
#define CALL_PIN_MAX 64

static const char usage[] =
    "corder call [--connect HOST:PORT] [--login STORE:STAFF] [OP [ARGS-JSON]]"
    " (the PIN from $CORDER_PIN or asked; without OP: requests from stdin, one per line)";

static int bad_usage(const char *fmt, const char *what)
{
    fputs("corder: call: ", stderr);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "; usage: %s\n", usage);
    return 2;
}

/* ---- lines from a descriptor, bounded ---- */

typedef struct {
    int fd;
    char *buf;
    size_t len, cap, max;
} line_reader;

/* Reads the next line (without its newline, NUL-terminated) into *line,
 * valid until the next call. 1: a line; 0: end of input; -1: error or a
 * line longer than max (errno EMSGSIZE). A last line without a newline
 * counts. */
static int read_line(line_reader *r, char **line, size_t *n, size_t *consumed)
{
    for (size_t scanned = 0;;) {
        char *nl = r->len > scanned ? memchr(r->buf + scanned, '\n', r->len - scanned) : NULL;
        if (nl && (size_t)(nl - r->buf) > r->max) {
            errno = EMSGSIZE;
            return -1;
        }
        if (nl) {
            *nl = 0;
            *line = r->buf;
            *n = (size_t)(nl - r->buf);
            *consumed = *n + 1;
            return 1;
        }
        scanned = r->len;
        if (r->len > r->max) {
            errno = EMSGSIZE;
            return -1;
        }
        if (r->cap - r->len < 65536 + 1) {
            size_t cap = r->cap ? r->cap * 2 : 131072;
            char *b = realloc(r->buf, cap);
            if (!b) return -1;
            r->buf = b;
            r->cap = cap;
        }
        ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) {
            if (r->len == 0) return 0;
            if (r->len > r->max) {
                errno = EMSGSIZE;
                return -1;
            }
            r->buf[r->len] = 0;
            *line = r->buf;
            *n = *consumed = r->len;
            return 1;
        }
        r->len += (size_t)got;
    }
}

static void line_done(line_reader *r, size_t consumed)
{
    memmove(r->buf, r->buf + consumed, r->len - consumed);
    r->len -= consumed;
}

/* ---- the connection ---- */

static int dial(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || !colon[1] || (size_t)(colon - hostport) >= sizeof host) return -2;
    size_t hl = (size_t)(colon - hostport);
    memcpy(host, hostport, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [v6]:port */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(*host ? host : "127.0.0.1", colon + 1, &hints, &res);
    if (rc) {
        fprintf(stderr, "corder: call: %s: %s\n", hostport, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) fprintf(stderr, "corder: call: cannot connect to %s: %s\n", hostport, strerror(e));
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends req (one line) and reads its answer; NULL after printing why. */
static json_t *roundtrip(int fd, line_reader *in, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    if (!text) {
        fprintf(stderr, "corder: call: out of memory\n");
        return NULL;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room for the NUL it wrote */
    int rc = send_all(fd, text, n + 1);
    free(text);
    if (rc < 0) {
        fprintf(stderr, "corder: call: the server closed the connection\n");
        return NULL;
    }
    char *line;
    size_t len, used;
    rc = read_line(in, &line, &len, &used);
    if (rc <= 0) {
        fprintf(stderr, "corder: call: %s\n",
                rc == 0             ? "the server closed the connection without answering"
                : errno == EMSGSIZE ? "the answer is too long"
                                    : strerror(errno));
        return NULL;
    }
    json_error_t jerr;
    json_t *resp = json_loadb(line, len, 0, &jerr);
    line_done(in, used);
    if (!json_is_object(resp)) {
        fprintf(stderr, "corder: call: the server's answer is not a JSON object: %s\n", jerr.text);
        json_decref(resp);
        return NULL;
    }
    return resp;
}

/* "corder: CODE: message {details}" on stderr. */
static void print_error(json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    json_t *details = json_object_get(e, "details");
    char *d = json_object_size(details) ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    fprintf(stderr, "corder: %s: %s%s%s\n", code ? code : "error", msg ? msg : "(no message)",
            d ? " " : "", d ? d : "");
    free(d);
}

/* ---- the PIN ---- */

/* From $CORDER_PIN, else asked on the terminal without echo. 0, or 2 (no
 * way to get one: bad usage), or 1 (the terminal failed). */
static int get_pin(const char *store, const char *staff, char pin[CALL_PIN_MAX + 1])
{
    const char *env = getenv("CORDER_PIN");
    if (env) {
        if (strlen(env) > CALL_PIN_MAX) return bad_usage("%s is too long", "$CORDER_PIN");
        snprintf(pin, CALL_PIN_MAX + 1, "%s", env);
        return 0;
    }
    /* The terminal, not stdin: stdin may carry the session's requests. */
    int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty < 0)
        return bad_usage("%s: set $CORDER_PIN or run it from a terminal",
                         "--login needs a PIN and there is no terminal to ask");
    struct termios old, quiet;
    bool restore = tcgetattr(tty, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    dprintf(tty, "PIN for staff %s at %s: ", staff, store);
    size_t n = 0;
    char ch;
    ssize_t got;
    bool ok = true;
    while ((got = read(tty, &ch, 1)) == 1 && ch != '\n' && ch != '\r')
        if (n < CALL_PIN_MAX) pin[n++] = ch;
    if (got < 0) ok = false;
    pin[n] = 0;
    if (restore) tcsetattr(tty, TCSAFLUSH, &old);
    dprintf(tty, "\n");
    close(tty);
    if (!ok) {
        fprintf(stderr, "corder: call: cannot read the PIN from the terminal\n");
        return 1;
    }
    return 0;
}

static int login(int fd, line_reader *in, const char *who)
{
    char store[64], pin[CALL_PIN_MAX + 1];
    const char *colon = strchr(who, ':');
    if (!colon || colon == who || !colon[1] || (size_t)(colon - who) >= sizeof store)
        return bad_usage("--login wants STORE:STAFF, not '%s'", who);
    snprintf(store, sizeof store, "%.*s", (int)(colon - who), who);
    int rc = get_pin(store, colon + 1, pin);
    if (rc) return rc;
    json_t *req = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "id", "login", "op", "session.login",
                            "args", "store", store, "staff", colon + 1, "pin", pin);
    explicit_bzero(pin, sizeof pin);
    if (!req) return bad_usage("%s: store, staff and PIN must be UTF-8 text", "--login");
    json_t *resp = roundtrip(fd, in, req);
    json_decref(req); /* jansson keeps its own copy of the PIN; freed here */
    if (!resp) return 1;
    rc = json_is_true(json_object_get(resp, "ok")) ? 0 : 1;
    if (rc) print_error(resp);
    json_decref(resp);
    return rc;
}

/* ---- the two modes ---- */

static int one_op(int fd, line_reader *in, const char *op, json_t *args)
{
    json_t *req = json_pack("{s:i, s:s, s:O}", "id", 1, "op", op, "args", args);
    json_t *resp = req ? roundtrip(fd, in, req) : NULL;
    json_decref(req);
    if (!resp) return 1;
    int rc = 1;
    if (json_is_true(json_object_get(resp, "ok"))) {
        json_dumpf(json_object_get(resp, "result"), stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', stdout);
        rc = 0;
    } else {
        print_error(resp);
    }
    json_decref(resp);
    return rc;
}

/* Requests from stdin, one per line; blank lines and lines starting with
 * '#' are skipped, so a session can be a commented file. */
static int session(int fd, line_reader *in)
{
    line_reader src = {.fd = 0, .max = CALL_LINE_MAX};
    int rc = 0, r;
    long lineno = 0, next_id = 1;
    char *line;
    size_t len, used;
    while ((r = read_line(&src, &line, &len, &used)) == 1) {
        lineno++;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len || line[k] == '#') {
            line_done(&src, used);
            continue;
        }
        json_error_t jerr;
        json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        line_done(&src, used);
        if (!json_is_object(req)) {
            fprintf(stderr, "corder: call: stdin line %ld is not a JSON object: %s\n", lineno,
                    req ? "(another JSON value)" : jerr.text);
            json_decref(req);
            free(src.buf);
            return 2;
        }
        if (!json_object_get(req, "id")) json_object_set_new(req, "id", json_integer(next_id));
        next_id++;
        json_t *resp = roundtrip(fd, in, req);
        json_decref(req);
        if (!resp) {
            free(src.buf);
            return 1;
        }
        if (!json_is_true(json_object_get(resp, "ok"))) rc = 1;
        json_dumpf(resp, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(resp);
    }
    free(src.buf);
    if (r < 0) {
        fprintf(stderr, "corder: call: stdin line %ld: %s\n", lineno + 1,
                errno == EMSGSIZE ? "longer than 1 MiB (the server's limit)" : strerror(errno));
        return 2;
    }
    return rc;
}

int cli_call_main(int argc, char **argv)
{
    const char *connect_to = "127.0.0.1:7420", *who = NULL, *pos[3] = {0};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--connect") || !strcmp(argv[i], "--login")) {
            if (i + 1 >= argc) return bad_usage("%s needs a value", argv[i]);
            if (argv[i][2] == 'c')
                connect_to = argv[++i];
            else
                who = argv[++i];
        } else if (!strncmp(argv[i], "--", 2) && npos == 0) {
            return bad_usage("unexpected option '%s'", argv[i]);
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        }
    }
    if (npos > 2) return bad_usage("unexpected argument '%s'", pos[2]);
    json_t *args = NULL;
    if (npos == 2) {
        json_error_t jerr;
        args = json_loads(pos[1], JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(args)) {
            json_decref(args);
            return bad_usage("ARGS-JSON must be a JSON object, e.g. '{\"number\":\"S001-000001\"}';"
                             " got '%s'",
                             pos[1]);
        }
    } else if (npos == 1) {
        args = json_object();
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = dial(connect_to);
    if (fd == -2) {
        json_decref(args);
        return bad_usage("--connect wants HOST:PORT, not '%s'", connect_to);
    }
    if (fd < 0) {
        json_decref(args);
        return 1;
    }
    line_reader in = {.fd = fd, .max = CALL_ANSWER_MAX};
    int rc = who ? login(fd, &in, who) : 0;
    if (rc == 0) rc = npos ? one_op(fd, &in, pos[0], args) : session(fd, &in);
    json_decref(args);
    free(in.buf);
    close(fd);
    return rc;
}
