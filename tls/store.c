/* store.c — key and trust stores in the formats ZooKeeper 3.8 reads
 * without Java-only code: PEM and PKCS12 (OpenSSL parses both).  JKS and
 * BCFKS are recognised and refused with the conversion command. */
#include "tls/tls_int.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A store bigger than this is not a store (a bound on what we read). */
#define STORE_MAX_BYTES (16u << 20)

enum store_kind { STORE_PEM, STORE_PKCS12, STORE_JKS, STORE_BCFKS };

void tls_errf(char *errmsg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errmsg, TLS_ERRMSG_MAX, fmt, ap);
  va_end(ap);
}

const char *tls_openssl_reason(const char *dflt, char *buf, size_t cap) {
  unsigned long e = ERR_get_error();
  const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
  if (r != NULL)
    snprintf(buf, cap, "%s", r);
  else if (e != 0)
    snprintf(buf, cap, "OpenSSL error %lx", e);
  else
    snprintf(buf, cap, "%s", dflt);
  ERR_clear_error();
  return buf;
}

static int read_file(const char *label, const char *what, const char *path,
                     unsigned char **data, size_t *len,
                     char errmsg[TLS_ERRMSG_MAX]) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    tls_errf(errmsg, "%s%s.location '%s': %s", label, what, path,
             strerror(errno));
    return -1;
  }
  size_t cap = 64u << 10, n = 0;
  unsigned char *buf = malloc(cap);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap || cap >= STORE_MAX_BYTES)
      break;
    unsigned char *nb = realloc(buf, cap * 2);
    if (nb == NULL) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  const char *err = buf == NULL            ? "out of memory"
                    : ferror(f)            ? "read error"
                    : n >= STORE_MAX_BYTES ? "larger than 16 MiB"
                                           : NULL;
  fclose(f);
  if (err != NULL) {
    free(buf);
    tls_errf(errmsg, "%s%s.location '%s': %s", label, what, path, err);
    return -1;
  }
  *data = buf;
  *len = n;
  return 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The type: the configured one, else the file name's extension (as
 * ZooKeeper's KeyStoreFileType.fromFilename), else the contents.  A file
 * that starts with JKS's magic is JKS whatever it is called. */
static int store_kind(const char *label, const char *what, const char *path,
                      const char *type, const unsigned char *data, size_t len,
                      enum store_kind *kind, char errmsg[TLS_ERRMSG_MAX]) {
  static const unsigned char jks_magic[4] = {0xfe, 0xed, 0xfe, 0xed};
  if (type[0] != '\0') {
    if (strcasecmp(type, "PEM") == 0)
      *kind = STORE_PEM;
    else if (strcasecmp(type, "PKCS12") == 0)
      *kind = STORE_PKCS12;
    else if (strcasecmp(type, "JKS") == 0)
      *kind = STORE_JKS;
    else if (strcasecmp(type, "BCFKS") == 0)
      *kind = STORE_BCFKS;
    else {
      tls_errf(errmsg, "%s%s.type '%s' is not one of PEM, PKCS12, JKS, BCFKS",
               label, what, type);
      return -1;
    }
  } else if (ends_with(path, ".jks"))
    *kind = STORE_JKS;
  else if (ends_with(path, ".bcfks"))
    *kind = STORE_BCFKS;
  else if (ends_with(path, ".p12") || ends_with(path, ".pfx") ||
           ends_with(path, ".pkcs12"))
    *kind = STORE_PKCS12;
  else if (ends_with(path, ".pem") || ends_with(path, ".crt") ||
           ends_with(path, ".key"))
    *kind = STORE_PEM;
  else {
    /* A PEM file is text with a "-----BEGIN" line; PKCS12 is DER. */
    size_t look = len < 8192 ? len : 8192;
    *kind = STORE_PKCS12;
    for (size_t i = 0; i + 10 <= look; i++)
      if (memcmp(data + i, "-----BEGIN", 10) == 0) {
        *kind = STORE_PEM;
        break;
      }
  }
  if (len >= 4 && memcmp(data, jks_magic, 4) == 0)
    *kind = STORE_JKS;
  if (*kind == STORE_JKS || *kind == STORE_BCFKS) {
    const char *name = *kind == STORE_JKS ? "JKS" : "BCFKS";
    tls_errf(errmsg,
             "%s%s.location '%s' is a %s store, which only Java can read; "
             "convert it once with: keytool -importkeystore -srckeystore '%s' "
             "-srcstoretype %s -destkeystore '%s.p12' -deststoretype PKCS12, "
             "then set %s%s.location to the .p12 file and %s%s.type=PKCS12",
             label, what, path, name, path, name, path, label, what, label,
             what);
    return -1;
  }
  return 0;
}

/* OpenSSL's default callback would prompt on the terminal for the
 * password of an encrypted key; ours answers from the configuration. */
static int pass_cb(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  const char *pw = u;
  size_t n = pw != NULL ? strlen(pw) : 0;
  if (n == 0 || n > (size_t)size)
    return -1;
  /* OpenSSL takes the length: no terminator wanted. */
  memcpy(buf, pw, n); // NOLINT(bugprone-not-null-terminated-result)
  return (int)n;
}

/* Every certificate of a PEM file, in file order (maybe none). */
static STACK_OF(X509) * pem_certs(const unsigned char *data, size_t len) {
  STACK_OF(X509) *sk = sk_X509_new_null();
  BIO *b = BIO_new_mem_buf(data, (int)len);
  if (sk == NULL || b == NULL) {
    sk_X509_free(sk);
    BIO_free(b);
    return NULL;
  }
  X509 *x;
  while ((x = PEM_read_bio_X509(b, NULL, pass_cb, NULL)) != NULL)
    if (sk_X509_push(sk, x) <= 0) {
      X509_free(x);
      break;
    }
  ERR_clear_error(); /* the read that found no more certificates */
  BIO_free(b);
  return sk;
}

static PKCS12 *p12_open(const char *label, const char *what, const char *path,
                        const unsigned char *data, size_t len,
                        const char *password, char errmsg[TLS_ERRMSG_MAX]) {
  char why[128];
  BIO *b = BIO_new_mem_buf(data, (int)len);
  PKCS12 *p12 = b != NULL ? d2i_PKCS12_bio(b, NULL) : NULL;
  BIO_free(b);
  if (p12 == NULL) {
    tls_errf(errmsg,
             "%s%s.location '%s': not a PKCS12 file (%s); set %s%s.type if "
             "it is PEM",
             label, what, path,
             tls_openssl_reason("unreadable", why, sizeof why), label, what);
    return NULL;
  }
  if (!PKCS12_verify_mac(p12, password, -1) &&
      !(password[0] == '\0' && PKCS12_verify_mac(p12, NULL, 0))) {
    ERR_clear_error();
    tls_errf(errmsg,
             "%s%s.location '%s': the PKCS12 integrity check failed: wrong "
             "%s%s.password?",
             label, what, path, label, what);
    PKCS12_free(p12);
    return NULL;
  }
  return p12;
}

void tls_keys_free(struct tls_keys *k) {
  EVP_PKEY_free(k->key);
  X509_free(k->cert);
  sk_X509_pop_free(k->chain, X509_free);
  memset(k, 0, sizeof *k);
}

static int keys_pem(const char *label, const char *path,
                    const unsigned char *data, size_t len, const char *password,
                    struct tls_keys *out, char errmsg[TLS_ERRMSG_MAX]) {
  char why[128];
  BIO *b = BIO_new_mem_buf(data, (int)len);
  EVP_PKEY *key =
      b != NULL ? PEM_read_bio_PrivateKey(b, NULL, pass_cb, (void *)password)
                : NULL;
  BIO_free(b);
  if (key == NULL) {
    const char *r = tls_openssl_reason("no private key", why, sizeof why);
    tls_errf(errmsg, "%skeyStore.location '%s': no usable private key (%s%s)",
             label, path, r,
             strstr(r, "decrypt") != NULL || strstr(r, "password") != NULL
                 ? "; wrong ssl.keyStore.password?"
                 : "");
    return -1;
  }
  STACK_OF(X509) *certs = pem_certs(data, len);
  int leaf = -1;
  for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++)
    if (X509_check_private_key(sk_X509_value(certs, i), key)) {
      leaf = i;
      break;
    }
  ERR_clear_error();
  if (leaf < 0) {
    tls_errf(errmsg,
             "%skeyStore.location '%s': no certificate in it matches its "
             "private key",
             label, path);
    EVP_PKEY_free(key);
    sk_X509_pop_free(certs, X509_free);
    return -1;
  }
  out->key = key;
  out->cert = sk_X509_delete(certs, leaf);
  out->chain = certs;
  return 0;
}

static int keys_p12(const char *label, const char *path,
                    const unsigned char *data, size_t len, const char *password,
                    struct tls_keys *out, char errmsg[TLS_ERRMSG_MAX]) {
  char why[128];
  PKCS12 *p12 = p12_open(label, "keyStore", path, data, len, password, errmsg);
  if (p12 == NULL)
    return -1;
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  STACK_OF(X509) *ca = NULL;
  int ok = PKCS12_parse(p12, password, &key, &cert, &ca);
  PKCS12_free(p12);
  if (!ok || key == NULL || cert == NULL) {
    tls_errf(errmsg, "%skeyStore.location '%s': %s", label, path,
             ok ? "no private key with its certificate in the PKCS12 file"
                : tls_openssl_reason("cannot parse", why, sizeof why));
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    return -1;
  }
  out->key = key;
  out->cert = cert;
  out->chain = ca != NULL ? ca : sk_X509_new_null();
  return 0;
}

/* Certificate and key in two PEM files (a client's --cert and --key):
 * one buffer with both, as a PEM key store would be. */
static int join_key_file(const char *label, const char *path,
                         const char *key_path, enum store_kind kind,
                         unsigned char **data, size_t *len,
                         char errmsg[TLS_ERRMSG_MAX]) {
  if (kind != STORE_PEM) {
    tls_errf(errmsg,
             "%skeyStore.location '%s': a separate key file goes with a PEM "
             "certificate file only",
             label, path);
    return -1;
  }
  unsigned char *kdata;
  size_t klen;
  if (read_file(label, "key", key_path, &kdata, &klen, errmsg) != 0)
    return -1;
  unsigned char *both = malloc(klen + 1 + *len);
  if (both != NULL) {
    memcpy(both, kdata, klen);
    both[klen] = '\n';
    memcpy(both + klen + 1, *data, *len);
  }
  OPENSSL_cleanse(kdata, klen);
  free(kdata);
  if (both == NULL) {
    tls_errf(errmsg, "%skeyStore: out of memory", label);
    return -1;
  }
  free(*data);
  *data = both;
  *len += klen + 1;
  return 0;
}

int tls_store_load_keys(const char *label, const char *path, const char *type,
                        const char *password, const char *key_path,
                        struct tls_keys *out, char errmsg[TLS_ERRMSG_MAX]) {
  memset(out, 0, sizeof *out);
  unsigned char *data;
  size_t len;
  enum store_kind kind;
  if (read_file(label, "keyStore", path, &data, &len, errmsg) != 0)
    return -1;
  int rc = store_kind(label, "keyStore", path, type, data, len, &kind, errmsg);
  if (rc == 0 && key_path[0] != '\0')
    rc = join_key_file(label, path, key_path, kind, &data, &len, errmsg);
  if (rc == 0)
    rc = kind == STORE_PEM
             ? keys_pem(label, path, data, len, password, out, errmsg)
             : keys_p12(label, path, data, len, password, out, errmsg);
  OPENSSL_cleanse(data, len); /* it held a private key */
  free(data);
  return rc;
}

int tls_store_load_trust(const char *label, const char *path, const char *type,
                         const char *password, STACK_OF(X509) * *out,
                         char errmsg[TLS_ERRMSG_MAX]) {
  unsigned char *data;
  size_t len;
  enum store_kind kind;
  *out = NULL;
  if (read_file(label, "trustStore", path, &data, &len, errmsg) != 0)
    return -1;
  if (store_kind(label, "trustStore", path, type, data, len, &kind, errmsg) !=
      0) {
    free(data);
    return -1;
  }
  STACK_OF(X509) *certs = NULL;
  if (kind == STORE_PEM) {
    certs = pem_certs(data, len);
  } else {
    PKCS12 *p12 =
        p12_open(label, "trustStore", path, data, len, password, errmsg);
    if (p12 == NULL) {
      free(data);
      return -1;
    }
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    if (!PKCS12_parse(p12, password, &key, &cert, &certs))
      certs = NULL;
    ERR_clear_error();
    EVP_PKEY_free(key);
    if (cert != NULL) {
      if (certs == NULL)
        certs = sk_X509_new_null();
      if (certs == NULL || sk_X509_push(certs, cert) <= 0)
        X509_free(cert);
    }
    PKCS12_free(p12);
  }
  free(data);
  if (certs == NULL || sk_X509_num(certs) == 0) {
    sk_X509_pop_free(certs, X509_free);
    tls_errf(errmsg, "%strustStore.location '%s': no certificates in it", label,
             path);
    return -1;
  }
  *out = certs;
  return 0;
}
