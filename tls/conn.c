/* conn.c — one TLS connection between two memory BIOs (see tls.h). */
#include "tls/tls_int.h"

#include <arpa/inet.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_conn {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  bool done;        /* handshake complete */
  bool failed;
  /* Plaintext written before the handshake completed (a client's
   * ConnectRequest): sent as soon as it does. */
  unsigned char *pend;
  size_t pend_len, pend_cap;
  char err[256];
};

static void set_err(struct tls_conn *c, int ssl_err) {
  char why[160];
  unsigned long e = ERR_peek_error();
  const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
  long v = SSL_get_verify_result(c->ssl);
  if (r == NULL)
    r = ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN
            ? "the peer closed the connection during the handshake"
            : "TLS error";
  snprintf(why, sizeof why, "%s", r);
  if (v != X509_V_OK && strstr(why, "certificate verify failed") != NULL)
    snprintf(c->err, sizeof c->err, "%s: %s", why,
             X509_verify_cert_error_string(v));
  else
    snprintf(c->err, sizeof c->err, "%s", why);
  ERR_clear_error();
  c->failed = true;
}

static int write_all(struct tls_conn *c, const unsigned char *p, size_t n) {
  while (n > 0) {
    int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
    ERR_clear_error();
    /* A memory BIO takes everything: SSL_write writes all or fails. */
    int r = SSL_write(c->ssl, p, chunk);
    if (r <= 0) {
      set_err(c, SSL_get_error(c->ssl, r));
      return TLS_ERROR;
    }
    p += r;
    n -= (size_t)r;
  }
  return TLS_OK;
}

static int step(struct tls_conn *c) {
  if (c->failed)
    return TLS_ERROR;
  if (c->done)
    return TLS_OK;
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    c->done = true;
    int rc = write_all(c, c->pend, c->pend_len);
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
    return rc;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return TLS_OK;
  set_err(c, e);
  return TLS_ERROR;
}

static bool is_ip(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *host) {
  struct tls_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->ssl = SSL_new(tls_ctx_ssl(ctx));
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
    SSL_free(c->ssl);
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    free(c);
    ERR_clear_error();
    return NULL;
  }
  /* An empty read BIO means "more to come", not end of stream. */
  BIO_set_mem_eof_return(c->rbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  bool server = tls_ctx_is_server(ctx);
  if (server)
    SSL_set_accept_state(c->ssl);
  else
    SSL_set_connect_state(c->ssl);
  bool ok = true;
  if (host != NULL && host[0] != '\0') {
    bool ip = is_ip(host);
    if (!ip && !server)
      ok = SSL_set_tlsext_host_name(c->ssl, host) == 1;
    /* The peer's certificate must name host; OpenSSL checks it while
     * verifying the chain, on either side. */
    if (ok && tls_ctx_options(ctx)->hostname_verification) {
      if (ip)
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) == 1;
      else {
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(c->ssl, host) == 1;
      }
    }
  }
  if (!ok) {
    snprintf(c->err, sizeof c->err, "cannot use host name '%s'", host);
    c->failed = true;
    ERR_clear_error();
    return c;
  }
  if (!server)
    step(c); /* the ClientHello */
  return c;
}

void tls_conn_free(struct tls_conn *c) {
  if (c == NULL)
    return;
  SSL_free(c->ssl);
  free(c->pend);
  free(c);
}

int tls_conn_feed(struct tls_conn *c, const void *data, size_t n) {
  if (c->failed)
    return TLS_ERROR;
  while (n > 0) {
    int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
    int r = BIO_write(c->rbio, data, chunk);
    if (r <= 0) {
      snprintf(c->err, sizeof c->err, "out of memory");
      c->failed = true;
      return TLS_ERROR;
    }
    data = (const unsigned char *)data + r;
    n -= (size_t)r;
  }
  return step(c);
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t cap) {
  if (step(c) != TLS_OK)
    return TLS_ERROR;
  if (!c->done || cap == 0)
    return 0;
  ERR_clear_error();
  int r = SSL_read(c->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
  if (r > 0)
    return r;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 0;
  if (e == SSL_ERROR_ZERO_RETURN)
    return TLS_EOF;
  set_err(c, e);
  return TLS_ERROR;
}

int tls_conn_write(struct tls_conn *c, const void *data, size_t n) {
  if (c->failed)
    return TLS_ERROR;
  if (c->done)
    return write_all(c, data, n);
  if (c->pend_len + n > c->pend_cap) {
    size_t cap = c->pend_cap ? c->pend_cap : 1024;
    while (cap < c->pend_len + n)
      cap *= 2;
    unsigned char *p = realloc(c->pend, cap);
    if (p == NULL) {
      snprintf(c->err, sizeof c->err, "out of memory");
      c->failed = true;
      return TLS_ERROR;
    }
    c->pend = p;
    c->pend_cap = cap;
  }
  memcpy(c->pend + c->pend_len, data, n);
  c->pend_len += n;
  return TLS_OK;
}

size_t tls_conn_pending_out(const struct tls_conn *c) {
  return BIO_ctrl_pending(c->wbio);
}

size_t tls_conn_take_out(struct tls_conn *c, void *buf, size_t cap) {
  int r = BIO_read(c->wbio, buf, cap > INT_MAX ? INT_MAX : (int)cap);
  return r > 0 ? (size_t)r : 0;
}

void tls_conn_shutdown(struct tls_conn *c) {
  if (c->done && !c->failed) {
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
  }
}

bool tls_conn_handshake_done(const struct tls_conn *c) { return c->done; }

int tls_conn_peer_dn(const struct tls_conn *c, char *buf, size_t cap) {
  if (!c->done || c->failed || cap == 0)
    return -1;
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  if (peer == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
    return -1;
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL)
    return -1;
  /* RFC 2253 order and escaping, UTF-8 kept as is (as Java writes it). */
  int n = X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
                             XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  int rc = -1;
  if (n >= 0 && (size_t)n < cap && BIO_read(b, buf, n) == n) {
    buf[n] = '\0';
    rc = n;
  } else if (n == 0) {
    buf[0] = '\0';
    rc = 0;
  }
  BIO_free(b);
  ERR_clear_error();
  return rc;
}

const char *tls_conn_protocol(const struct tls_conn *c) {
  return c->done ? SSL_get_version(c->ssl) : "";
}

const char *tls_conn_cipher(const struct tls_conn *c) {
  const SSL_CIPHER *sc = c->done ? SSL_get_current_cipher(c->ssl) : NULL;
  const char *n = sc != NULL ? SSL_CIPHER_standard_name(sc) : NULL;
  return n != NULL ? n : "";
}

const char *tls_conn_errmsg(const struct tls_conn *c) {
  return c->err[0] != '\0' ? c->err : "no error";
}
