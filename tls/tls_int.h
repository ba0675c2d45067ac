/* tls_int.h — shared by the files of tls/ only. */
#ifndef ROOST_TLS_INT_H
#define ROOST_TLS_INT_H

#include "tls/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* A key store's contents: the private key, the certificate that matches
 * it and the rest of the chain (possibly empty).  Owned; free with
 * tls_keys_free. */
struct tls_keys {
  EVP_PKEY *key;
  X509 *cert;
  STACK_OF(X509) * chain;
};

/* store.c.  `label` is "ssl." or "ssl.quorum." (for messages).  key_path
 * (may be "") names a PEM file with the private key when the key store
 * holds only the certificates.  0, or -1 with errmsg. */
int tls_store_load_keys(const char *label, const char *path, const char *type,
                        const char *password, const char *key_path,
                        struct tls_keys *out, char errmsg[TLS_ERRMSG_MAX]);
void tls_keys_free(struct tls_keys *k);
/* *out: the certificates (at least one); free with
 * sk_X509_pop_free(*out, X509_free). */
int tls_store_load_trust(const char *label, const char *path, const char *type,
                         const char *password, STACK_OF(X509) * *out,
                         char errmsg[TLS_ERRMSG_MAX]);

/* vsnprintf into errmsg (TLS_ERRMSG_MAX bytes): long paths are cut. */
void tls_errf(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The oldest OpenSSL error's reason ("bad decrypt"), or `dflt`; clears the
 * thread's error queue. */
const char *tls_openssl_reason(const char *dflt, char *buf, size_t cap);

/* ctx.c: the current SSL_CTX and options, for conn.c. */
SSL_CTX *tls_ctx_ssl(const struct tls_ctx *ctx);
const struct tls_options *tls_ctx_options(const struct tls_ctx *ctx);
bool tls_ctx_is_server(const struct tls_ctx *ctx);

#endif /* ROOST_TLS_INT_H */
