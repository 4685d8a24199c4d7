/* tls.c: the OpenSSL side of SPEC C3 (see tls.h). Contexts are made once
 * at start-up; a bad file is a start-up error, never a surprise at the
 * first connection. Verification is OpenSSL's own (chain against the CA
 * file, then the host name with X509_check_host/ip semantics through
 * SSL_set1_host); nothing here judges certificates by hand. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "model/text.h"

static int ssl_fail(err_t *err, const char *what, const char *file)
{
    char buf[160] = "";
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return err_set(err, ERR_INTERNAL, "TLS: %s %s: %s", what, file ? file : "",
                   *buf ? buf : "failed");
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, err_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_fail(err, "cannot create a context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ssl_fail(err, "cannot use the certificate", cert_file);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_fail(err, "cannot use the key", key_file);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_fail(err, "the key does not match the certificate", key_file);
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_ctx(const char *ca_file, err_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_fail(err, "cannot create a context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        ssl_fail(err, "cannot read the CA file", ca_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

SSL *tls_client_new(SSL_CTX *ctx, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    /* SSL_set1_host matches a DNS name or, given an address, the
     * certificate's IP SANs. SNI is for names only. */
    if (SSL_set1_host(ssl, host) != 1 || (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void tls_error(struct bufferevent *bev, char *out, size_t n)
{
    *out = '\0';
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl) return;
    long v = SSL_get_verify_result(ssl);
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (v != X509_V_OK) {
        snprintf(out, n, "TLS: HQ's certificate does not verify: %s",
                 X509_verify_cert_error_string(v));
    } else if (e) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(out, n, "TLS: %s", buf);
    }
    while (bufferevent_get_openssl_error(bev)) {
    }
}
