/* repl.c: `corder repl` (PROTOCOL.md "The support REPL"), the console's
 * front: reads chunks, hands each to an evaluator, prints what comes back.
 *
 *   corder repl --connect PATH   attached: each chunk goes to a running
 *                                `corder serve --admin-socket PATH` as one
 *                                admin.eval request and runs in the server
 *   corder repl --db FILE [--policies DIR]
 *                                local: opens the database itself and runs
 *                                the same console (lapi_admin.h) in-process
 *
 * The reading follows lua.c 5.4: a line that does not compile yet because
 * it ends too soon (the syntax error is at "<eof>") is continued on the
 * next line, and the evaluator tries "return " .. chunk first so that an
 * expression prints its value. With a terminal there is a prompt, and
 * readline (when built with it) gives line editing and a history in
 * ~/.corder_history; without one there is no prompt and no banner, so a
 * script can be piped in. Output goes to stdout, a chunk's error to
 * stderr. Exit status: 0; 1 when the engine or the server cannot be reached
 * or goes away, and, for piped input, when any chunk failed; 2 bad usage. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef CORDER_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#include "lua/lcli.h"
#include "store/engine.h"
#include "lua/lapi_admin.h"
#include "host/policy_lua.h"

#define REPL_PROMPT "corder> "
#define REPL_PROMPT2 "    >> "
#define REPL_HISTORY_MAX 1000

static const char usage[] = "corder repl --db FILE [--policies DIR] | --connect PATH";

typedef struct {
    engine *e; /* local */
    admin_state *local;
    int fd; /* attached */
    const char *path;
    char *in;
    size_t in_len, in_cap;
    long next_id;
} repl;

/* ---- attached: admin.eval over the admin socket ---- */

static int repl_connect(repl *r, const char *path)
{
    struct sockaddr_un sun = {0};
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun.sun_path) {
        fprintf(stderr, "corder: repl: socket path too long: %s\n", path);
        return -1;
    }
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        fprintf(stderr, "corder: repl: cannot connect to %s: %s\n", path, strerror(errno));
        return -1;
    }
    r->path = path;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One line from the server, without its '\n'; NULL when it went away. */
static char *recv_line(repl *r, size_t *len)
{
    for (;;) {
        char *nl = r->in ? memchr(r->in, '\n', r->in_len) : NULL;
        if (nl) {
            *len = (size_t)(nl - r->in);
            return r->in;
        }
        if (r->in_cap - r->in_len < 4096) {
            size_t cap = r->in_cap ? r->in_cap * 2 : 65536;
            char *p = realloc(r->in, cap);
            if (!p) return NULL;
            r->in = p;
            r->in_cap = cap;
        }
        ssize_t k = recv(r->fd, r->in + r->in_len, r->in_cap - r->in_len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return NULL;
        r->in_len += (size_t)k;
    }
}

static json_t *remote_eval(repl *r, const char *chunk, size_t len)
{
    json_t *req = json_pack("{s:I, s:s, s:{s:s%}}", "id", (json_int_t)++r->next_id, "op",
                            "admin.eval", "args", "lua", chunk, len);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!text) return json_pack("{s:s, s:s}", "output", "", "error", "chunk is not valid UTF-8");
    int rc = send_all(r->fd, text, strlen(text));
    free(text);
    size_t n;
    char *line = rc == 0 && send_all(r->fd, "\n", 1) == 0 ? recv_line(r, &n) : NULL;
    if (!line) {
        fprintf(stderr, "corder: repl: the server at %s went away\n", r->path);
        return NULL;
    }
    json_t *resp = json_loadb(line, n, 0, NULL);
    memmove(r->in, line + n + 1, r->in_len - n - 1);
    r->in_len -= n + 1;
    json_t *result = json_incref(json_object_get(resp, "result"));
    if (!result) {
        json_t *e = json_object_get(resp, "error");
        const char *msg = json_string_value(json_object_get(e, "message"));
        result = json_pack("{s:s, s:s}", "output", "", "error",
                           msg ? msg : "the server's answer could not be read");
    }
    json_decref(resp);
    return result;
}

/* ---- reading ---- */

static char *read_line(bool tty, const char *prompt)
{
#ifdef CORDER_HAVE_READLINE
    if (tty) return readline(prompt);
#endif
    if (tty) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}

/* The next whole chunk (lines joined while it is unfinished); NULL at EOF. */
static char *read_chunk(bool tty)
{
    char *chunk = NULL;
    size_t len = 0;
    for (;;) {
        char *line = read_line(tty, chunk ? REPL_PROMPT2 : REPL_PROMPT);
        if (!line) return chunk; /* an unfinished chunk at EOF still runs: it reports why */
        size_t n = strlen(line);
        char *p = realloc(chunk, len + n + 2);
        if (!p) abort();
        chunk = p;
        if (len) chunk[len++] = '\n';
        memcpy(chunk + len, line, n + 1);
        len += n;
        free(line);
        if (!admin_incomplete(chunk, len)) return chunk;
    }
}

static bool blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == 0;
}

#ifdef CORDER_HAVE_READLINE
static char history_path[4096];

static void history_open(void)
{
    const char *home = getenv("HOME");
    if (!home) return;
    snprintf(history_path, sizeof history_path, "%s/.corder_history", home);
    rl_readline_name = "corder";
    stifle_history(REPL_HISTORY_MAX);
    read_history(history_path);
}

/* A chunk that signs in or names a PIN is not kept: the history file
 * would hold PINs in clear (corder.login(store, staff, "1234"), an
 * approval's {staff=…, pin=…}). Matched loosely, case-insensitively: better
 * to forget an innocent line than to keep a secret. */
static bool history_secret(const char *chunk)
{
    for (const char *p = chunk; *p; p++)
        if (!strncasecmp(p, "login", 5) || !strncasecmp(p, "pin", 3)) return true;
    return false;
}

static void history_add(const char *chunk)
{
    if (history_secret(chunk)) return;
    add_history(chunk);
    if (!history_path[0]) return;
    mode_t old = umask(077); /* the file shows what support did: its owner's only */
    write_history(history_path);
    umask(old);
    chmod(history_path, 0600);
}
#else
static void history_open(void) {}
static void history_add(const char *chunk) {}
#endif

/* ---- the loop ---- */

static int repl_loop(repl *r, bool tty)
{
    bool failed = false;
    if (tty) {
        history_open();
        printf("corder support console (%s %s); help() lists the API\n",
               r->local ? "database" : "attached to", r->path);
    }
    char *chunk;
    while ((chunk = read_chunk(tty))) {
        if (blank(chunk)) {
            free(chunk);
            continue;
        }
        if (tty) history_add(chunk);
        size_t len = strlen(chunk);
        json_t *res = r->local ? admin_eval(r->local, chunk, len) : remote_eval(r, chunk, len);
        free(chunk);
        if (!res) return 1;
        const char *out = json_string_value(json_object_get(res, "output"));
        const char *err = json_string_value(json_object_get(res, "error"));
        if (out) fputs(out, stdout);
        fflush(stdout);
        if (err) {
            fprintf(stderr, "%s\n", err);
            fflush(stderr);
            failed = true;
        }
        json_decref(res);
    }
    if (tty) putchar('\n');
    return failed && !tty ? 1 : 0;
}

static const char *const allowed[] = {"--db", "--connect", "--policies", NULL};

int cli_repl_main(int argc, char **argv)
{
    int rc = cli_check(argc, argv, allowed, usage);
    if (rc) return rc;
    const char *db = cli_opt(argc, argv, "--db");
    const char *path = cli_opt(argc, argv, "--connect");
    if (!db == !path) {
        fprintf(stderr, "corder: repl: give --db FILE or --connect PATH; usage: %s\n", usage);
        return 2;
    }
    repl r = {.fd = -1};
    bool tty = isatty(STDIN_FILENO);
    if (path) {
        rc = repl_connect(&r, path) == 0 ? repl_loop(&r, tty) : 1;
        if (r.fd >= 0) close(r.fd);
        free(r.in);
        return rc;
    }
    if (access(db, F_OK) != 0) { /* engine_open would create an empty one */
        fprintf(stderr, "corder: repl: no database %s (corder init makes one)\n", db);
        return 1;
    }
    r.path = db;
    engine_config cfg = {.db_path = db,
                         .policies_dir = cli_opt(argc, argv, "--policies"),
                         .policy_impl = &policy_lua};
    err_t err;
    err_clear(&err);
    r.e = engine_open(&cfg, &err);
    if (r.e) r.local = admin_new(r.e, NULL, &err);
    if (!r.local) {
        fprintf(stderr, "corder: repl: %s\n", err.message);
        engine_close(r.e);
        return 1;
    }
    rc = repl_loop(&r, tty);
    admin_free(r.local);
    engine_close(r.e);
    return rc;
}
