/* ctx.c — an SSL_CTX made from ZooKeeper's ssl.* settings, and its reload
 * when the store files change. */
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* What identifies a file's contents cheaply: a rename of a new file over
 * the old (the usual rotation) changes the inode, an edit in place the
 * size or the times. */
struct file_id {
  bool exists;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
};

struct tls_ctx {
  struct tls_options opt;
  enum tls_role role;
  char label[32];
  SSL_CTX *ssl;
  struct file_id ks, kf, ts;             /* at the last successful load */
  struct file_id bad_ks, bad_kf, bad_ts; /* at the last failed reload */
  bool have_bad;
  unsigned generation;
  char fingerprint[65];
};

void tls_options_defaults(struct tls_options *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->client_auth, sizeof o->client_auth, "need");
  snprintf(o->protocol, sizeof o->protocol, "TLSv1.3");
  o->hostname_verification = true;
}

SSL_CTX *tls_ctx_ssl(const struct tls_ctx *ctx) { return ctx->ssl; }
const struct tls_options *tls_ctx_options(const struct tls_ctx *ctx) {
  return &ctx->opt;
}
bool tls_ctx_is_server(const struct tls_ctx *ctx) {
  return ctx->role == TLS_ROLE_SERVER;
}
unsigned tls_ctx_generation(const struct tls_ctx *ctx) {
  return ctx->generation;
}
const char *tls_ctx_cert_fingerprint(const struct tls_ctx *ctx) {
  return ctx->fingerprint;
}

static void file_id_get(const char *path, struct file_id *id) {
  struct stat st;
  memset(id, 0, sizeof *id);
  if (path[0] == '\0' || stat(path, &st) != 0)
    return;
  id->exists = true;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  id->size = st.st_size;
  id->mtime = st.st_mtim;
  id->ctime = st.st_ctim;
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b) {
  return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
         a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
         a->mtime.tv_nsec == b->mtime.tv_nsec &&
         a->ctime.tv_sec == b->ctime.tv_sec &&
         a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* "TLSv1.2" -> TLS1_2_VERSION; "TLS" -> 0 (no limit); -1 unknown. */
static int version_of(const char *name, size_t n) {
  static const struct {
    const char *name;
    int v;
  } names[] = {{"TLS", 0},
               {"TLSv1", TLS1_VERSION},
               {"TLSv1.1", TLS1_1_VERSION},
               {"TLSv1.2", TLS1_2_VERSION},
               {"TLSv1.3", TLS1_3_VERSION}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == n && strncasecmp(names[i].name, name, n) == 0)
      return names[i].v;
  return -1;
}

static size_t trim(const char **p, size_t n) {
  while (n > 0 && (**p == ' ' || **p == '\t')) {
    (*p)++;
    n--;
  }
  while (n > 0 && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t'))
    n--;
  return n;
}

/* ssl.enabledProtocols, or ssl.protocol: OpenSSL enables a range, so the
 * lowest and highest named versions bound it. */
static int set_protocols(SSL_CTX *x, const struct tls_ctx *c,
                         char errmsg[TLS_ERRMSG_MAX]) {
  const struct tls_options *o = &c->opt;
  int lo = 0, hi = 0;
  if (o->enabled_protocols[0] != '\0') {
    for (const char *p = o->enabled_protocols; *p != '\0';) {
      size_t n = strcspn(p, ",");
      const char *w = p;
      size_t wn = trim(&w, n);
      p += n + (p[n] == ',');
      if (wn == 0)
        continue;
      int v = version_of(w, wn);
      if (v < 0) {
        tls_errf(errmsg,
                 "%senabledProtocols: unknown protocol '%.*s' (expected "
                 "TLSv1.2, TLSv1.3, ...)",
                 c->label, (int)wn, w);
        return -1;
      }
      if (v == 0)
        return 0; /* "TLS": anything OpenSSL allows */
      lo = lo == 0 || v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  } else {
    const char *w = o->protocol[0] != '\0' ? o->protocol : "TLSv1.3";
    int v = version_of(w, strlen(w));
    if (v < 0) {
      tls_errf(errmsg, "%sprotocol '%s' is not one of TLSv1.2, TLSv1.3, TLS",
               c->label, o->protocol);
      return -1;
    }
    if (v == 0)
      return 0;
    hi = v;
    lo = v == TLS1_3_VERSION ? TLS1_2_VERSION : v;
  }
  if (!SSL_CTX_set_min_proto_version(x, lo) ||
      !SSL_CTX_set_max_proto_version(x, hi)) {
    tls_errf(errmsg, "%sprotocol: OpenSSL refused the range", c->label);
    return -1;
  }
  return 0;
}

static bool append(char *buf, size_t cap, const char *name) {
  size_t n = strlen(buf), m = strlen(name);
  if (n + (n > 0) + m + 1 > cap)
    return false;
  if (n > 0)
    buf[n++] = ':';
  memcpy(buf + n, name, m + 1);
  return true;
}

/* ssl.ciphersuites names suites as Java (and IANA) do; OpenSSL has its own
 * names for TLS 1.2 suites.  Each name is looked up among every suite
 * OpenSSL offers; names it does not know are skipped, as a JVM skips
 * suites it does not support, but at least one must be known. */
static int set_ciphers(SSL_CTX *x, const struct tls_ctx *c,
                       char errmsg[TLS_ERRMSG_MAX]) {
  const char *list = c->opt.ciphersuites;
  if (list[0] == '\0')
    return 0;
  SSL_CTX *all = SSL_CTX_new(TLS_method());
  SSL *probe = NULL;
  if (all != NULL && SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL") &&
      SSL_CTX_set_ciphersuites(all, "TLS_AES_128_GCM_SHA256:"
                                    "TLS_AES_256_GCM_SHA384:"
                                    "TLS_CHACHA20_POLY1305_SHA256:"
                                    "TLS_AES_128_CCM_SHA256:"
                                    "TLS_AES_128_CCM_8_SHA256"))
    probe = SSL_new(all);
  STACK_OF(SSL_CIPHER) *known = probe != NULL ? SSL_get_ciphers(probe) : NULL;
  char v12[2048] = "", v13[512] = "";
  bool fits = true;
  for (const char *p = list; *p != '\0' && known != NULL;) {
    size_t n = strcspn(p, ",");
    const char *w = p;
    size_t wn = trim(&w, n);
    p += n + (p[n] == ',');
    for (int i = 0; wn > 0 && i < sk_SSL_CIPHER_num(known); i++) {
      const SSL_CIPHER *sc = sk_SSL_CIPHER_value(known, i);
      const char *std = SSL_CIPHER_standard_name(sc);
      if (std == NULL || strlen(std) != wn || strncmp(std, w, wn) != 0)
        continue;
      bool is13 = strcmp(SSL_CIPHER_get_version(sc), "TLSv1.3") == 0;
      fits &= is13 ? append(v13, sizeof v13, std)
                   : append(v12, sizeof v12, SSL_CIPHER_get_name(sc));
      break;
    }
  }
  SSL_free(probe);
  SSL_CTX_free(all);
  ERR_clear_error();
  if (known == NULL || !fits || (v12[0] == '\0' && v13[0] == '\0')) {
    tls_errf(errmsg, "%sciphersuites: %s", c->label,
             known == NULL ? "out of memory"
             : !fits       ? "list too long"
                           : "no name in the list is a cipher suite OpenSSL "
                             "knows (use IANA names such as "
                             "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)");
    return -1;
  }
  /* A list without suites for one version leaves that version unusable,
   * as with Java; say so to OpenSSL through the version range too. */
  if (v12[0] != '\0' && !SSL_CTX_set_cipher_list(x, v12))
    goto refused;
  if (!SSL_CTX_set_ciphersuites(x, v13))
    goto refused;
  if (v12[0] == '\0' && !SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION))
    goto refused;
  if (v13[0] == '\0' && !SSL_CTX_set_max_proto_version(x, TLS1_2_VERSION))
    goto refused;
  return 0;
refused:
  ERR_clear_error();
  tls_errf(errmsg, "%sciphersuites: OpenSSL refused '%s%s%s'", c->label, v12,
           v12[0] && v13[0] ? ":" : "", v13);
  return -1;
}

static int use_keys(SSL_CTX *x, const struct tls_ctx *c, char *fingerprint,
                    char errmsg[TLS_ERRMSG_MAX]) {
  const struct tls_options *o = &c->opt;
  struct tls_keys k;
  if (tls_store_load_keys(c->label, o->key_store_location, o->key_store_type,
                          o->key_store_password, o->key_location, &k,
                          errmsg) != 0)
    return -1;
  bool ok = SSL_CTX_use_certificate(x, k.cert) == 1 &&
            SSL_CTX_use_PrivateKey(x, k.key) == 1 &&
            SSL_CTX_check_private_key(x) == 1;
  for (int i = 0; ok && i < sk_X509_num(k.chain); i++)
    ok = SSL_CTX_add1_chain_cert(x, sk_X509_value(k.chain, i)) == 1;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (ok && X509_digest(k.cert, EVP_sha256(), md, &mdlen) == 1)
    for (unsigned i = 0; i < mdlen && i < 32; i++)
      snprintf(fingerprint + 2 * (size_t)i, 3, "%02x", md[i]);
  if (!ok) {
    char why[128];
    tls_errf(
        errmsg, "%skeyStore.location '%s': %s", c->label, o->key_store_location,
        tls_openssl_reason("OpenSSL refused the key pair", why, sizeof why));
  }
  tls_keys_free(&k);
  return ok ? 0 : -1;
}

static int use_trust(SSL_CTX *x, const struct tls_ctx *c,
                     char errmsg[TLS_ERRMSG_MAX]) {
  const struct tls_options *o = &c->opt;
  if (o->trust_store_location[0] == '\0') {
    /* As a JVM falls back to its cacerts: the system's CAs. */
    SSL_CTX_set_default_verify_paths(x);
    ERR_clear_error();
    return 0;
  }
  STACK_OF(X509) * certs;
  if (tls_store_load_trust(c->label, o->trust_store_location,
                           o->trust_store_type, o->trust_store_password, &certs,
                           errmsg) != 0)
    return -1;
  X509_STORE *st = SSL_CTX_get_cert_store(x);
  STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
  bool ok = st != NULL && names != NULL;
  for (int i = 0; ok && i < sk_X509_num(certs); i++) {
    X509 *cert = sk_X509_value(certs, i);
    ok = X509_STORE_add_cert(st, cert) == 1;
    X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(cert));
    if (nm == NULL || sk_X509_NAME_push(names, nm) <= 0) {
      X509_NAME_free(nm);
      ok = false;
    }
  }
  sk_X509_pop_free(certs, X509_free);
  if (!ok) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    char why[128];
    tls_errf(errmsg, "%strustStore.location '%s': %s", c->label,
             o->trust_store_location,
             tls_openssl_reason("out of memory", why, sizeof why));
    return -1;
  }
  /* Servers tell clients which CAs they accept (client certificate
   * selection); set0 takes the list. */
  if (c->role == TLS_ROLE_SERVER)
    SSL_CTX_set_client_CA_list(x, names);
  else
    sk_X509_NAME_pop_free(names, X509_NAME_free);
  return 0;
}

static int verify_mode(const struct tls_ctx *c, char errmsg[TLS_ERRMSG_MAX]) {
  if (c->role == TLS_ROLE_CLIENT)
    return SSL_VERIFY_PEER; /* a client always checks the server */
  const char *a = c->opt.client_auth;
  if (a[0] == '\0' || strcasecmp(a, "need") == 0)
    return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (strcasecmp(a, "want") == 0)
    return SSL_VERIFY_PEER;
  if (strcasecmp(a, "none") == 0)
    return SSL_VERIFY_NONE;
  tls_errf(errmsg, "%sclientAuth '%s' is not one of need, want, none", c->label,
           a);
  return -1;
}

static SSL_CTX *build(const struct tls_ctx *c, char *fingerprint,
                      char errmsg[TLS_ERRMSG_MAX]) {
  ERR_clear_error();
  int mode = verify_mode(c, errmsg);
  if (mode < 0)
    return NULL;
  if (c->role == TLS_ROLE_SERVER && c->opt.key_store_location[0] == '\0') {
    tls_errf(errmsg,
             "%skeyStore.location is not set: a TLS port needs a certificate",
             c->label);
    return NULL;
  }
  SSL_CTX *x = SSL_CTX_new(c->role == TLS_ROLE_SERVER ? TLS_server_method()
                                                      : TLS_client_method());
  if (x == NULL) {
    tls_errf(errmsg, "%s: SSL_CTX_new failed", c->label);
    return NULL;
  }
  fingerprint[0] = '\0';
  if (set_protocols(x, c, errmsg) != 0 || set_ciphers(x, c, errmsg) != 0 ||
      (c->opt.key_store_location[0] != '\0' &&
       use_keys(x, c, fingerprint, errmsg) != 0) ||
      use_trust(x, c, errmsg) != 0) {
    SSL_CTX_free(x);
    ERR_clear_error();
    return NULL;
  }
  SSL_CTX_set_verify(x, mode, NULL);
  /* An idle connection keeps no record buffers; no renegotiation (a
   * client could make the server redo handshakes at will). */
  SSL_CTX_set_mode(x, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION);
  return x;
}

int tls_ctx_new(const struct tls_options *o, enum tls_role role,
                const char *label, struct tls_ctx **out,
                char errmsg[TLS_ERRMSG_MAX]) {
  struct tls_ctx *c = calloc(1, sizeof *c);
  if (c == NULL) {
    tls_errf(errmsg, "%s: out of memory", label);
    return -1;
  }
  c->opt = *o;
  c->role = role;
  snprintf(c->label, sizeof c->label, "%s", label);
  file_id_get(o->key_store_location, &c->ks);
  file_id_get(o->key_location, &c->kf);
  file_id_get(o->trust_store_location, &c->ts);
  c->ssl = build(c, c->fingerprint, errmsg);
  if (c->ssl == NULL) {
    free(c);
    return -1;
  }
  *out = c;
  return 0;
}

void tls_ctx_free(struct tls_ctx *ctx) {
  if (ctx == NULL)
    return;
  SSL_CTX_free(ctx->ssl);
  OPENSSL_cleanse(ctx->opt.key_store_password,
                  sizeof ctx->opt.key_store_password);
  free(ctx);
}

int tls_ctx_reload(struct tls_ctx *ctx, char errmsg[TLS_ERRMSG_MAX]) {
  struct file_id ks, kf, ts;
  file_id_get(ctx->opt.key_store_location, &ks);
  file_id_get(ctx->opt.key_location, &kf);
  file_id_get(ctx->opt.trust_store_location, &ts);
  if (file_id_eq(&ks, &ctx->ks) && file_id_eq(&kf, &ctx->kf) &&
      file_id_eq(&ts, &ctx->ts))
    return 0;
  if (ctx->have_bad && file_id_eq(&ks, &ctx->bad_ks) &&
      file_id_eq(&kf, &ctx->bad_kf) && file_id_eq(&ts, &ctx->bad_ts))
    return 0; /* reported already; wait for the next change */
  char fp[65];
  SSL_CTX *x = build(ctx, fp, errmsg);
  if (x == NULL) {
    ctx->bad_ks = ks;
    ctx->bad_kf = kf;
    ctx->bad_ts = ts;
    ctx->have_bad = true;
    return -1;
  }
  /* Connections made on the old context hold a reference to it. */
  SSL_CTX_free(ctx->ssl);
  ctx->ssl = x;
  ctx->ks = ks;
  ctx->kf = kf;
  ctx->ts = ts;
  ctx->have_bad = false;
  ctx->generation++;
  memcpy(ctx->fingerprint, fp, sizeof fp);
  return 1;
}
