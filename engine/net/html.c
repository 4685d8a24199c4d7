/* html.c: HTML escaping for the pages (see html.h). Written out by hand
 * rather than with evhttp_htmlescape, which leaves control characters and
 * invalid UTF-8 through and has no length form. */
#include "net/html.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void html_putn(struct evbuffer *b, const char *s, size_t n)
{
    static const char bad[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes [i - run, i) still to copy as they are */
    while (i < n) {
        unsigned c = p[i];
        const char *rep = NULL;
        size_t adv = 1;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
                rep = bad;
            } else if (c >= 0x80) {
                adv = utf8_len(p + i, n - i);
                if (!adv) {
                    rep = bad;
                    adv = 1;
                }
            }
        }
        if (rep) {
            if (run) evbuffer_add(b, p + i - run, run);
            run = 0;
            evbuffer_add(b, rep, strlen(rep));
        } else {
            run += adv;
        }
        i += adv;
    }
    if (run) evbuffer_add(b, p + n - run, run);
}

void html_put(struct evbuffer *b, const char *s)
{
    if (s) html_putn(b, s, strlen(s));
}

char *html_escape(const char *s)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) return NULL;
    html_put(b, s);
    size_t n = evbuffer_get_length(b);
    char *out = malloc(n + 1);
    if (out) {
        evbuffer_remove(b, out, n);
        out[n] = 0;
    }
    evbuffer_free(b);
    return out;
}

void html_put_url(struct evbuffer *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        unsigned c = *p;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            evbuffer_add(b, p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            evbuffer_add(b, e, 3);
        }
    }
}
