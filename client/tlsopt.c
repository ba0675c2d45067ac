/* tlsopt.c — libroost's TLS settings (roost_options.tls_*) as tls/
 * options, and roost_tls_check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "tls/tls.h"

static int put(char *dst, size_t cap, const char *src, size_t n,
               const char *what, char *errbuf, size_t errbuf_len) {
  if (n >= cap) {
    snprintf(errbuf, errbuf_len, "TLS %s longer than %zu bytes", what, cap - 1);
    return ROOST_EINVAL;
  }
  memcpy(dst, src, n);
  dst[n] = '\0';
  return ROOST_OK;
}

#define PUT(field, s, n, what)                                                 \
  do {                                                                         \
    int rc_ = put(out->field, sizeof out->field, (s), (n), (what), errbuf,     \
                  errbuf_len);                                                 \
    if (rc_ != ROOST_OK)                                                       \
      return rc_;                                                              \
  } while (0)

int rc_tls_options(const roost_options *o, struct tls_options *out, bool *on,
                   char *errbuf, size_t errbuf_len) {
  tls_options_defaults(out);
  *on = o->tls || o->tls_ca || o->tls_cert || o->tls_key || o->tls_certs ||
        o->tls_key_password;
  if (!*on)
    return ROOST_OK;
  out->hostname_verification = !o->tls_no_hostname_verification;
  if (o->tls_certs != NULL) {
    /* zookeeper_init_ssl's "ca,cert,key[,password]". */
    const char *p = o->tls_certs;
    const char *f[4];
    size_t fl[4];
    size_t n = 0;
    for (;;) {
      size_t k = n < 3 ? strcspn(p, ",") : strlen(p);
      f[n] = p;
      fl[n++] = k;
      if (p[k] != ',' || n == 4)
        break;
      p += k + 1;
    }
    if (n < 3 || fl[0] == 0 || fl[1] == 0 || fl[2] == 0) {
      snprintf(errbuf, errbuf_len,
               "tls_certs: expected \"ca,cert,key[,password]\"");
      return ROOST_EINVAL;
    }
    PUT(trust_store_location, f[0], fl[0], "CA file name");
    PUT(key_store_location, f[1], fl[1], "certificate file name");
    PUT(key_location, f[2], fl[2], "key file name");
    if (n == 4)
      PUT(key_store_password, f[3], fl[3], "key password");
    return ROOST_OK;
  }
  if (o->tls_key != NULL && o->tls_cert == NULL) {
    snprintf(errbuf, errbuf_len, "tls_key without tls_cert");
    return ROOST_EINVAL;
  }
  if (o->tls_ca != NULL)
    PUT(trust_store_location, o->tls_ca, strlen(o->tls_ca), "CA file name");
  if (o->tls_cert != NULL)
    PUT(key_store_location, o->tls_cert, strlen(o->tls_cert),
        "certificate file name");
  if (o->tls_key != NULL)
    PUT(key_location, o->tls_key, strlen(o->tls_key), "key file name");
  if (o->tls_key_password != NULL)
    PUT(key_store_password, o->tls_key_password, strlen(o->tls_key_password),
        "key password");
  return ROOST_OK;
}

int roost_tls_check(const roost_options *o, char *errbuf, size_t errbuf_len) {
  char dummy[1];
  if (errbuf == NULL || errbuf_len == 0) {
    errbuf = dummy;
    errbuf_len = sizeof dummy;
  }
  errbuf[0] = '\0';
  if (o == NULL)
    return ROOST_OK;
  struct tls_options *t = malloc(sizeof *t);
  if (t == NULL)
    return ROOST_ENOMEM;
  bool on;
  int rc = rc_tls_options(o, t, &on, errbuf, errbuf_len);
  if (rc == ROOST_OK && on) {
    struct tls_ctx *ctx;
    char err[TLS_ERRMSG_MAX];
    if (tls_ctx_new(t, TLS_ROLE_CLIENT, "tls ", &ctx, err) != 0) {
      snprintf(errbuf, errbuf_len, "%s", err);
      rc = ROOST_ETLS;
    } else {
      tls_ctx_free(ctx);
    }
  }
  free(t);
  return rc;
}
