/* cli_opts.c: the small option parser every subcommand shares. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cli_opts.h"

const char *cli_opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

int cli_check(int argc, char **argv, const char *const *allowed, const char *usage)
{
    /* Options come in pairs: --name VALUE. */
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i];
        int known = 0;
        for (const char *const *p = allowed; *p; p++)
            if (!strcmp(a, *p)) known = 1;
        if (!known) {
            fprintf(stderr, "corder: unexpected argument '%s'; usage: %s\n", a, usage);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "corder: %s needs a value; usage: %s\n", a, usage);
            return 2;
        }
    }
    return 0;
}

#define HQ_TOKEN_MAX 255 /* what session.login_store takes */

int cli_hq_token(int argc, char **argv, const char *cmd, const char *usage, const char **token)
{
    static char buf[HQ_TOKEN_MAX + 3]; /* the token, "\r\n", and one byte more to tell */
    const char *opt = cli_opt(argc, argv, "--hq-token");
    const char *file = cli_opt(argc, argv, "--hq-token-file");
    *token = NULL;
    if (opt && file) {
        fprintf(stderr, "corder: %s: give --hq-token or --hq-token-file, not both; usage: %s\n",
                cmd, usage);
        return 2;
    }
    if (opt) {
        *token = opt;
    } else if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "corder: %s: cannot read --hq-token-file %s: %s\n", cmd, file,
                    strerror(errno));
            return 2;
        }
        size_t n = fread(buf, 1, sizeof buf, f);
        bool more = n == sizeof buf || fgetc(f) != EOF;
        fclose(f);
        if (n && buf[n - 1] == '\n') n--;
        if (n && buf[n - 1] == '\r') n--;
        more = more || n > HQ_TOKEN_MAX;
        const char *why = more     ? "holds more than 255 bytes"
                          : n == 0 ? "is empty"
                          : memchr(buf, '\n', n) || memchr(buf, '\r', n)
                              ? "holds more than one line"
                          : memchr(buf, '\0', n) ? "holds a NUL byte"
                                                 : NULL;
        if (why) {
            fprintf(stderr, "corder: %s: --hq-token-file %s %s; it holds the token, one line\n",
                    cmd, file, why);
            return 2;
        }
        buf[n] = '\0';
        *token = buf;
    } else {
        const char *env = getenv("CORDER_HQ_TOKEN");
        if (env && *env) *token = env;
    }
    if (*token && strlen(*token) > HQ_TOKEN_MAX) {
        fprintf(stderr, "corder: %s: the HQ token is longer than %d bytes\n", cmd, HQ_TOKEN_MAX);
        return 2;
    }
    return 0;
}
