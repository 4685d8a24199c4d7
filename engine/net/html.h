/* html.h: the one escaping function of the HTTP pages (OP2): every value a
 * page shows goes through html_put, so a customer named "<script>" is
 * text, never markup. Also the URL encoding of values put into links. */
#ifndef CORDER_HTML_H
#define CORDER_HTML_H

#include <stddef.h>

struct evbuffer;

/* Appends s escaped for HTML text and double-quoted attribute values:
 * & < > " ' become entities; control characters but tab and newline
 * become U+FFFD (they have no business in a page); bytes that are not
 * UTF-8 likewise. NULL appends nothing. */
void html_put(struct evbuffer *b, const char *s);
void html_putn(struct evbuffer *b, const char *s, size_t n);

/* s escaped as html_put does, as a malloc'd string (the tests). */
char *html_escape(const char *s);

/* Appends s percent-encoded for a URL path segment or query value
 * (everything but A-Z a-z 0-9 - . _ ~). */
void html_put_url(struct evbuffer *b, const char *s);

#endif
