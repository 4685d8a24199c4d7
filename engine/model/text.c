/* text.c: UTF-8 that is never cut in two (see text.h). */
#include "model/text.h"

#include <string.h>

size_t text_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t cut = max;
    /* Back up over continuation bytes (10xxxxxx) to the start of the
     * character that did not fit. */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

bool text_blank(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n\v\f", *s)) return false;
    return true;
}

bool text_copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    size_t cut = text_cut(src, len, n - 1);
    memmove(dst, src, cut);
    dst[cut] = 0;
    return cut == len;
}

bool text_utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c == 0) return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n) return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
    }
    return true;
}

static const char *const SPACE = " \t\r\n\v\f";

/* The next code point of s[*i..end), or -1 when the bytes are not UTF-8. */
static long next_cp(const unsigned char *s, size_t *i, size_t end)
{
    unsigned char c = s[*i];
    int n = c < 0x80             ? 0
            : (c & 0xE0) == 0xC0 ? 1
            : (c & 0xF0) == 0xE0 ? 2
            : (c & 0xF8) == 0xF0 ? 3
                                 : -1;
    if (n < 0 || *i + (size_t)n >= end) return -1;
    if (!text_utf8_ok((const char *)s + *i, (size_t)n + 1)) return -1;
    long cp = n == 0 ? c : c & (0x3F >> n);
    for (int k = 1; k <= n; k++)
        cp = cp << 6 | (s[*i + k] & 0x3F);
    *i += (size_t)n + 1;
    return cp;
}

/* Lower case of a capital in the scripts text.h names; others unchanged. */
static long fold(long c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c >= 0x100 && c <= 0x17F) { /* Latin Extended-A: pairs, capital first */
        if (c == 0x130) return 'i';
        if (c == 0x178) return 0xFF;
        bool odd_capital = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        bool paired = c < 0x138 || (c >= 0x14A && c <= 0x177) || odd_capital;
        if (paired && (c & 1) == (odd_capital ? 1 : 0)) return c + 1;
        return c;
    }
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32; /* Greek */
    if (c >= 0x410 && c <= 0x42F) return c + 32;               /* Cyrillic */
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

/* s without the white space around it: [*b, *e). */
static void trim_span(const char *s, size_t *b, size_t *e)
{
    *b = strspn(s, SPACE);
    *e = strlen(s);
    while (*e > *b && strchr(SPACE, s[*e - 1]))
        (*e)--;
}

bool text_copy_trimmed(char *dst, size_t n, const char *s)
{
    size_t b, e;
    trim_span(s, &b, &e);
    size_t cut = text_cut(s + b, e - b, n - 1);
    memmove(dst, s + b, cut);
    dst[cut] = 0;
    return cut == e - b;
}

bool text_same_name(const char *a, const char *b)
{
    size_t ia, ea, ib, eb;
    trim_span(a, &ia, &ea);
    trim_span(b, &ib, &eb);
    while (ia < ea && ib < eb) {
        long ca = next_cp((const unsigned char *)a, &ia, ea);
        long cb = next_cp((const unsigned char *)b, &ib, eb);
        if (ca < 0 || cb < 0 || fold(ca) != fold(cb)) return false;
    }
    return ia == ea && ib == eb;
}
