/* tls.h: TLS for the store↔HQ link (SPEC C3), OpenSSL contexts for
 * libevent's bufferevent_openssl. HQ serves with a certificate and key
 * (tls_server_ctx); a store checks HQ's chain against a CA file and HQ's
 * host name (tls_client_ctx, tls_client_new). TLS 1.2 is the floor on both
 * sides. tls_error says why a connection failed, for sync.status. */
#ifndef CORDER_TLS_H
#define CORDER_TLS_H

#include <stddef.h>

#include "model/err.h"

struct ssl_ctx_st;
struct ssl_st;
struct bufferevent;

/* NULL with err when a file cannot be read or the key does not match. */
struct ssl_ctx_st *tls_server_ctx(const char *cert_file, const char *key_file, err_t *err);
struct ssl_ctx_st *tls_client_ctx(const char *ca_file, err_t *err);
void tls_ctx_free(struct ssl_ctx_st *ctx);
/* A client session that checks host (a DNS name or an IP address) and
 * sends it as SNI; NULL when out of memory. */
struct ssl_st *tls_client_new(struct ssl_ctx_st *ctx, const char *host);
/* Why bev's TLS failed: the certificate check's verdict when there is
 * one, else OpenSSL's error queue; "" when TLS did not fail. */
void tls_error(struct bufferevent *bev, char *out, size_t n);

#endif
