/* test_html.c: the pages' one escaping function (OP2: every value
 * HTML-escaped). Hostile names must come out as text, in element content
 * and in quoted attributes alike. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/html.h"
#include "t.h"

static void esc_is(const char *in, const char *want)
{
    char *got = html_escape(in);
    CHECK(got && !strcmp(got, want), "escape(%s) = %s, want %s", in, got ? got : "(null)", want);
    free(got);
}

static void url_is(const char *in, const char *want)
{
    struct evbuffer *b = evbuffer_new();
    html_put_url(b, in);
    size_t n = evbuffer_get_length(b);
    char got[256] = {0};
    evbuffer_remove(b, got, n < sizeof got - 1 ? n : sizeof got - 1);
    evbuffer_free(b);
    CHECK(!strcmp(got, want), "url(%s) = %s, want %s", in, got, want);
}

int main(void)
{
    esc_is("Karin Smit", "Karin Smit");
    esc_is("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
    esc_is("\"><img src=x onerror=alert(1)>", "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    esc_is("' onmouseover='x", "&#39; onmouseover=&#39;x");
    esc_is("Tom & Jerry", "Tom &amp; Jerry");
    esc_is("&lt;already&gt;", "&amp;lt;already&amp;gt;");
    esc_is("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac");   /* UTF-8 kept */
    esc_is("bad \xff byte", "bad \xef\xbf\xbd byte");                 /* invalid byte */
    esc_is("cut \xc3", "cut \xef\xbf\xbd");                           /* cut sequence */
    esc_is("overlong \xc0\xbc", "overlong \xef\xbf\xbd\xef\xbf\xbd"); /* no '<' in disguise */
    esc_is("nul\x01 bell\x07", "nul\xef\xbf\xbd bell\xef\xbf\xbd");   /* controls */
    esc_is("tab\tnewline\n", "tab\tnewline\n");
    esc_is("", "");
    char *n = html_escape(NULL);
    CHECK(n && !*n, "NULL escapes to nothing");
    free(n);

    url_is("S001-000001", "S001-000001");
    url_is("a b&c=d/e?f#g", "a%20b%26c%3Dd%2Fe%3Ff%23g");
    url_is("\"><script>", "%22%3E%3Cscript%3E");
    return T_DONE();
}
