/* Unit tests of tls/: contexts from ZooKeeper's settings (PEM and PKCS12
 * stores, JKS refused, bad passwords, protocols, cipher suites, client
 * auth modes), handshakes between two engines pumped by hand, x509 subject
 * DNs, hostname verification, reload without dropping a connection, and
 * hostile bytes.  Certificates are made by tests/tls/mkcerts.sh
 * (openssl(1)) in a fresh directory at the start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls/tls.h"

static char dir[256];

static const char *path(const char *name) {
  static char buf[8][512];
  static int i;
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
  return buf[i];
}

static int make_certs(void **state) {
  (void)state;
  const char *src = getenv("ROOST_SRCDIR");
  snprintf(dir, sizeof dir, "/tmp/roost-tls-unit-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "sh %s/tests/tls/mkcerts.sh %s >/dev/null",
           src != NULL ? src : ".", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int remove_certs(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void server_opts(struct tls_options *o, const char *ks) {
  tls_options_defaults(o);
  snprintf(o->key_store_location, sizeof o->key_store_location, "%s", path(ks));
  snprintf(o->trust_store_location, sizeof o->trust_store_location, "%s",
           path("ca.pem"));
}

static void client_opts(struct tls_options *o, const char *ks) {
  tls_options_defaults(o);
  if (ks != NULL)
    snprintf(o->key_store_location, sizeof o->key_store_location, "%s",
             path(ks));
  snprintf(o->trust_store_location, sizeof o->trust_store_location, "%s",
           path("ca.pem"));
}

static struct tls_ctx *ctx_ok(const struct tls_options *o, enum tls_role r) {
  struct tls_ctx *c = NULL;
  char err[TLS_ERRMSG_MAX] = "";
  int rc = tls_ctx_new(o, r, "ssl.", &c, err);
  if (rc != 0)
    fprintf(stderr, "tls_ctx_new: %s\n", err);
  assert_int_equal(rc, 0);
  return c;
}

static void ctx_fails(const struct tls_options *o, enum tls_role r,
                      const char *needle) {
  struct tls_ctx *c = NULL;
  char err[TLS_ERRMSG_MAX] = "";
  assert_int_equal(tls_ctx_new(o, r, "ssl.", &c, err), -1);
  if (strstr(err, needle) == NULL)
    fprintf(stderr, "message '%s' lacks '%s'\n", err, needle);
  assert_non_null(strstr(err, needle));
}

/* Move ciphertext both ways until neither side has any; -1 when a side
 * failed (its message in tls_conn_errmsg). */
static int pump(struct tls_conn *a, struct tls_conn *b) {
  unsigned char buf[16384];
  for (int round = 0; round < 100; round++) {
    size_t moved = 0;
    struct tls_conn *from[2] = {a, b}, *to[2] = {b, a};
    for (int k = 0; k < 2; k++) {
      size_t n;
      while ((n = tls_conn_take_out(from[k], buf, sizeof buf)) > 0) {
        moved += n;
        if (tls_conn_feed(to[k], buf, n) != TLS_OK)
          return -1;
      }
    }
    /* TLS 1.3 finishes server-side checks and tickets on the read path. */
    unsigned char junk[1];
    if (tls_conn_read(a, junk, 0) < 0 || tls_conn_read(b, junk, 0) < 0)
      return -1;
    if (moved == 0)
      return 0;
  }
  return -1;
}

/* a sends msg, b must read exactly it. */
static void exchange(struct tls_conn *a, struct tls_conn *b, const char *msg) {
  assert_int_equal(tls_conn_write(a, msg, strlen(msg)), TLS_OK);
  assert_int_equal(pump(a, b), 0);
  char got[256];
  ssize_t n = tls_conn_read(b, got, sizeof got);
  assert_int_equal(n, (ssize_t)strlen(msg));
  assert_memory_equal(got, msg, strlen(msg));
}

struct pair {
  struct tls_ctx *sctx, *cctx;
  struct tls_conn *s, *c;
};

static int connect_pair(struct pair *p, const struct tls_options *so,
                        const struct tls_options *co, const char *host) {
  p->sctx = ctx_ok(so, TLS_ROLE_SERVER);
  p->cctx = ctx_ok(co, TLS_ROLE_CLIENT);
  p->s = tls_conn_new(p->sctx, NULL);
  p->c = tls_conn_new(p->cctx, host);
  assert_non_null(p->s);
  assert_non_null(p->c);
  int rc = pump(p->c, p->s);
  /* A server refusal reaches a TLS 1.3 client as an alert after its own
   * handshake ended: one more round delivers it. */
  if (rc == 0 && tls_conn_write(p->c, "x", 1) == TLS_OK) {
    rc = pump(p->c, p->s);
    char b[4];
    if (rc == 0 && tls_conn_read(p->s, b, sizeof b) != 1)
      rc = -1;
  }
  return rc;
}

static void pair_free(struct pair *p) {
  tls_conn_free(p->s);
  tls_conn_free(p->c);
  tls_ctx_free(p->sctx);
  tls_ctx_free(p->cctx);
}

/* ------------------------------------------------------------------ */

static void test_mutual_pem(void **state) {
  (void)state;
  struct tls_options so, co;
  server_opts(&so, "server-keystore.pem");
  client_opts(&co, "client1-keystore.pem");
  struct pair p;
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  assert_true(tls_conn_handshake_done(p.s));
  exchange(p.c, p.s, "ping from the client");
  exchange(p.s, p.c, "pong from the server");
  char dn[256];
  assert_true(tls_conn_peer_dn(p.s, dn, sizeof dn) > 0);
  assert_string_equal(dn, "CN=client1,O=Roost");
  assert_true(tls_conn_peer_dn(p.c, dn, sizeof dn) > 0);
  assert_string_equal(dn, "CN=localhost,O=Roost");
  assert_string_equal(tls_conn_protocol(p.s), "TLSv1.3");
  assert_true(tls_conn_peer_dn(p.s, dn, 4) == -1); /* does not fit */
  pair_free(&p);
}

static void test_pkcs12_and_encrypted_pem(void **state) {
  (void)state;
  struct tls_options so, co;
  server_opts(&so, "server.p12");
  snprintf(so.key_store_password, sizeof so.key_store_password, "secret");
  client_opts(&co, "client2.p12");
  snprintf(co.key_store_password, sizeof co.key_store_password, "secret");
  snprintf(co.key_store_type, sizeof co.key_store_type, "PKCS12");
  struct pair p;
  assert_int_equal(connect_pair(&p, &so, &co, "127.0.0.1"), 0);
  char dn[256];
  assert_true(tls_conn_peer_dn(p.s, dn, sizeof dn) > 0);
  assert_string_equal(dn, "CN=client2,O=Roost");
  pair_free(&p);

  server_opts(&so, "server-enc-keystore.pem");
  snprintf(so.key_store_password, sizeof so.key_store_password, "secret");
  struct tls_ctx *c = ctx_ok(&so, TLS_ROLE_SERVER);
  tls_ctx_free(c);
  snprintf(so.key_store_password, sizeof so.key_store_password, "wrong");
  ctx_fails(&so, TLS_ROLE_SERVER, "wrong ssl.keyStore.password?");
  so.key_store_password[0] = '\0';
  ctx_fails(&so, TLS_ROLE_SERVER, "no usable private key");
  server_opts(&so, "server.p12");
  snprintf(so.key_store_password, sizeof so.key_store_password, "wrong");
  ctx_fails(&so, TLS_ROLE_SERVER, "wrong ssl.keyStore.password?");
  /* Certificate and key in two files (a client's --cert and --key). */
  server_opts(&so, "server-keystore.pem");
  client_opts(&co, "client2.pem");
  snprintf(co.key_location, sizeof co.key_location, "%s", path("client2.key"));
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  assert_true(tls_conn_peer_dn(p.s, dn, sizeof dn) > 0);
  assert_string_equal(dn, "CN=client2,O=Roost");
  pair_free(&p);
  snprintf(co.key_location, sizeof co.key_location, "%s",
           path("client1.key")); /* not client2's key */
  ctx_fails(&co, TLS_ROLE_CLIENT, "no certificate in it matches");
  /* PKCS12 as the trust store (its certificate is trusted). */
  server_opts(&so, "server-keystore.pem");
  snprintf(so.trust_store_location, sizeof so.trust_store_location, "%s",
           path("client1.p12"));
  snprintf(so.trust_store_password, sizeof so.trust_store_password, "secret");
  c = ctx_ok(&so, TLS_ROLE_SERVER);
  tls_ctx_free(c);
}

static void test_bad_stores(void **state) {
  (void)state;
  struct tls_options o;
  /* JKS: by type, by name and by its magic. */
  FILE *f = fopen(path("keystore.jks"), "wb");
  assert_non_null(f);
  fwrite("\xfe\xed\xfe\xed\x00\x00\x00\x02", 1, 8, f);
  fclose(f);
  server_opts(&o, "keystore.jks");
  ctx_fails(&o, TLS_ROLE_SERVER, "keytool -importkeystore");
  ctx_fails(&o, TLS_ROLE_SERVER, "-deststoretype PKCS12");
  ctx_fails(&o, TLS_ROLE_SERVER, "is a JKS store");
  snprintf(o.key_store_type, sizeof o.key_store_type, "PKCS12");
  ctx_fails(&o, TLS_ROLE_SERVER, "is a JKS store");
  server_opts(&o, "server-keystore.pem");
  snprintf(o.key_store_type, sizeof o.key_store_type, "JKS");
  ctx_fails(&o, TLS_ROLE_SERVER, "keytool");
  snprintf(o.key_store_type, sizeof o.key_store_type, "BKS");
  ctx_fails(&o, TLS_ROLE_SERVER, "ssl.keyStore.type 'BKS' is not one of");
  server_opts(&o, "nonexistent.pem");
  ctx_fails(&o, TLS_ROLE_SERVER, "No such file");
  server_opts(&o, "ca.pem"); /* certificate without its key */
  ctx_fails(&o, TLS_ROLE_SERVER, "no usable private key");
  server_opts(&o, "server-keystore.pem");
  snprintf(o.trust_store_location, sizeof o.trust_store_location, "%s",
           path("server.key"));
  ctx_fails(&o, TLS_ROLE_SERVER, "no certificates in it");
  /* A server without a key store. */
  tls_options_defaults(&o);
  ctx_fails(&o, TLS_ROLE_SERVER, "ssl.keyStore.location is not set");
  /* Settings. */
  server_opts(&o, "server-keystore.pem");
  snprintf(o.client_auth, sizeof o.client_auth, "maybe");
  ctx_fails(&o, TLS_ROLE_SERVER, "ssl.clientAuth 'maybe'");
  server_opts(&o, "server-keystore.pem");
  snprintf(o.protocol, sizeof o.protocol, "SSLv3");
  ctx_fails(&o, TLS_ROLE_SERVER, "ssl.protocol 'SSLv3'");
  server_opts(&o, "server-keystore.pem");
  snprintf(o.enabled_protocols, sizeof o.enabled_protocols, "TLSv1.2,TLSv9");
  ctx_fails(&o, TLS_ROLE_SERVER, "unknown protocol 'TLSv9'");
  server_opts(&o, "server-keystore.pem");
  snprintf(o.ciphersuites, sizeof o.ciphersuites, "NOT_A_SUITE, ALSO_NOT");
  ctx_fails(&o, TLS_ROLE_SERVER, "ssl.ciphersuites: no name");
}

static void refused(const char *server_ks, const char *client_ks,
                    const char *client_auth, const char *host,
                    const char *server_needle, const char *client_needle) {
  struct tls_options so, co;
  server_opts(&so, server_ks);
  snprintf(so.client_auth, sizeof so.client_auth, "%s", client_auth);
  client_opts(&co, client_ks);
  struct pair p;
  assert_int_equal(connect_pair(&p, &so, &co, host), -1);
  if (server_needle != NULL) {
    if (strstr(tls_conn_errmsg(p.s), server_needle) == NULL)
      fprintf(stderr, "server: '%s'\n", tls_conn_errmsg(p.s));
    assert_non_null(strstr(tls_conn_errmsg(p.s), server_needle));
  }
  if (client_needle != NULL) {
    if (strstr(tls_conn_errmsg(p.c), client_needle) == NULL)
      fprintf(stderr, "client: '%s'\n", tls_conn_errmsg(p.c));
    assert_non_null(strstr(tls_conn_errmsg(p.c), client_needle));
  }
  pair_free(&p);
}

static void test_refusals(void **state) {
  (void)state;
  refused("server-keystore.pem", "rogue-keystore.pem", "need", "localhost",
          "certificate verify failed: unable to get local issuer", NULL);
  refused("server-keystore.pem", "expired-keystore.pem", "need", "localhost",
          "certificate verify failed: certificate has expired", NULL);
  refused("server-keystore.pem", NULL, "need", "localhost",
          "peer did not return a certificate", NULL);
  /* want: a bad certificate still fails, none is fine. */
  refused("server-keystore.pem", "rogue-keystore.pem", "want", "localhost",
          "certificate verify failed", NULL);
  refused("wronghost-keystore.pem", "client1-keystore.pem", "need", "localhost",
          NULL, "certificate verify failed: hostname mismatch");
  refused("wronghost-keystore.pem", "client1-keystore.pem", "need", "127.0.0.1",
          NULL, "certificate verify failed: IP address mismatch");
  refused("rogue-keystore.pem", "client1-keystore.pem", "need", "localhost",
          NULL, "certificate verify failed: unable to get local issuer");
}

static void test_client_auth_modes(void **state) {
  (void)state;
  struct tls_options so, co;
  struct pair p;
  char dn[256];
  server_opts(&so, "server-keystore.pem");
  snprintf(so.client_auth, sizeof so.client_auth, "want");
  client_opts(&co, NULL);
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  assert_int_equal(tls_conn_peer_dn(p.s, dn, sizeof dn), -1);
  pair_free(&p);
  snprintf(so.client_auth, sizeof so.client_auth, "none");
  client_opts(&co, "client1-keystore.pem");
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  assert_int_equal(tls_conn_peer_dn(p.s, dn, sizeof dn), -1);
  pair_free(&p);
  /* Hostname verification off: the wrong-host certificate is taken. */
  server_opts(&so, "wronghost-keystore.pem");
  client_opts(&co, "client1-keystore.pem");
  co.hostname_verification = false;
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  pair_free(&p);
}

/* A server given the client's address checks the client's certificate
 * against it (the quorum acceptor's hostname verification). */
static int accept_from(const char *client_ks, const char *addr, bool verify,
                       char *why, size_t cap) {
  struct tls_options so, co;
  server_opts(&so, "server-keystore.pem");
  so.hostname_verification = verify;
  client_opts(&co, client_ks);
  struct pair p;
  p.sctx = ctx_ok(&so, TLS_ROLE_SERVER);
  p.cctx = ctx_ok(&co, TLS_ROLE_CLIENT);
  p.s = tls_conn_new(p.sctx, addr);
  p.c = tls_conn_new(p.cctx, "localhost");
  assert_non_null(p.s);
  assert_non_null(p.c);
  int rc = pump(p.c, p.s);
  snprintf(why, cap, "%s", tls_conn_errmsg(p.s));
  pair_free(&p);
  return rc;
}

static void test_server_checks_client_address(void **state) {
  (void)state;
  char why[256];
  assert_int_equal(accept_from("server-keystore.pem", "127.0.0.1", true, why,
                               sizeof why),
                   0);
  assert_int_equal(accept_from("wronghost-keystore.pem", "127.0.0.1", true, why,
                               sizeof why),
                   -1);
  assert_non_null(strstr(why, "IP address mismatch"));
  assert_int_equal(accept_from("wronghost-keystore.pem", "127.0.0.1", false,
                               why, sizeof why),
                   0);
  assert_int_equal(accept_from("wronghost-keystore.pem", NULL, true, why,
                               sizeof why),
                   0);
}

static void test_protocols_and_ciphers(void **state) {
  (void)state;
  struct tls_options so, co;
  struct pair p;
  server_opts(&so, "server-keystore.pem");
  snprintf(so.protocol, sizeof so.protocol, "TLSv1.2");
  snprintf(so.ciphersuites, sizeof so.ciphersuites,
           "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, NO_SUCH_SUITE");
  client_opts(&co, "client1-keystore.pem");
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  assert_string_equal(tls_conn_protocol(p.s), "TLSv1.2");
  assert_string_equal(tls_conn_cipher(p.s),
                      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  pair_free(&p);
  /* TLS 1.3 only with one suite. */
  server_opts(&so, "server-keystore.pem");
  snprintf(so.ciphersuites, sizeof so.ciphersuites, "TLS_AES_128_GCM_SHA256");
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  assert_string_equal(tls_conn_cipher(p.c), "TLS_AES_128_GCM_SHA256");
  pair_free(&p);
  /* No common version. */
  server_opts(&so, "server-keystore.pem");
  snprintf(so.enabled_protocols, sizeof so.enabled_protocols, "TLSv1.3");
  client_opts(&co, "client1-keystore.pem");
  snprintf(co.protocol, sizeof co.protocol, "TLSv1.2");
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), -1);
  assert_non_null(strstr(tls_conn_errmsg(p.s), "protocol"));
  pair_free(&p);
}

static void copy_file(const char *from, const char *to) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "cp %s %s.tmp && mv %s.tmp %s", from, to, to, to);
  assert_int_equal(system(cmd), 0);
}

static void test_reload(void **state) {
  (void)state;
  copy_file(path("server-keystore.pem"), path("live-keystore.pem"));
  struct tls_options so, co;
  server_opts(&so, "live-keystore.pem");
  client_opts(&co, "client1-keystore.pem");
  struct pair p;
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  char err[TLS_ERRMSG_MAX];
  char fp1[65];
  snprintf(fp1, sizeof fp1, "%s", tls_ctx_cert_fingerprint(p.sctx));
  assert_int_equal(strlen(fp1), 64);
  assert_int_equal(tls_ctx_reload(p.sctx, err), 0); /* nothing changed */

  /* A broken file is reported once and changes nothing. */
  FILE *f = fopen(path("live-keystore.pem"), "w");
  fputs("-----BEGIN nonsense\n", f);
  fclose(f);
  assert_int_equal(tls_ctx_reload(p.sctx, err), -1);
  assert_non_null(strstr(err, "live-keystore.pem"));
  assert_int_equal(tls_ctx_reload(p.sctx, err), 0);
  assert_int_equal(tls_ctx_generation(p.sctx), 0);

  copy_file(path("server2-keystore.pem"), path("live-keystore.pem"));
  assert_int_equal(tls_ctx_reload(p.sctx, err), 1);
  assert_int_equal(tls_ctx_generation(p.sctx), 1);
  assert_string_not_equal(tls_ctx_cert_fingerprint(p.sctx), fp1);
  /* The old connection goes on. */
  exchange(p.c, p.s, "still here");
  exchange(p.s, p.c, "and so am I");
  /* A new one gets the new certificate. */
  struct tls_conn *s2 = tls_conn_new(p.sctx, NULL);
  struct tls_conn *c2 = tls_conn_new(p.cctx, "localhost");
  assert_int_equal(pump(c2, s2), 0);
  exchange(c2, s2, "new");
  tls_conn_free(s2);
  tls_conn_free(c2);
  pair_free(&p);
}

static void test_hostile_bytes(void **state) {
  (void)state;
  struct tls_options so;
  server_opts(&so, "server-keystore.pem");
  struct tls_ctx *ctx = ctx_ok(&so, TLS_ROLE_SERVER);
  /* Garbage: an error, never a crash. */
  struct tls_conn *s = tls_conn_new(ctx, NULL);
  const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(tls_conn_feed(s, junk, strlen(junk)), TLS_ERROR);
  assert_int_equal(tls_conn_feed(s, "more", 4), TLS_ERROR);
  char buf[64];
  assert_int_equal(tls_conn_read(s, buf, sizeof buf), TLS_ERROR);
  assert_int_equal(tls_conn_write(s, "x", 1), TLS_ERROR);
  tls_conn_free(s);
  /* A ZooKeeper frame sent in the clear to the TLS port. */
  s = tls_conn_new(ctx, NULL);
  const unsigned char plain[] = {0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(tls_conn_feed(s, plain, sizeof plain), TLS_ERROR);
  tls_conn_free(s);
  /* A truncated ClientHello: waits for more, nothing comes out. */
  struct tls_options co;
  client_opts(&co, NULL);
  struct tls_ctx *cctx = ctx_ok(&co, TLS_ROLE_CLIENT);
  struct tls_conn *c = tls_conn_new(cctx, "localhost");
  unsigned char hello[4096];
  size_t n = tls_conn_take_out(c, hello, sizeof hello);
  assert_true(n > 20);
  s = tls_conn_new(ctx, NULL);
  assert_int_equal(tls_conn_feed(s, hello, n / 2), TLS_OK);
  assert_int_equal(tls_conn_read(s, buf, sizeof buf), 0);
  assert_false(tls_conn_handshake_done(s));
  assert_int_equal(tls_conn_pending_out(s), 0);
  /* Byte by byte it completes. */
  for (size_t i = n / 2; i < n; i++)
    assert_int_equal(tls_conn_feed(s, hello + i, 1), TLS_OK);
  assert_true(tls_conn_pending_out(s) > 0); /* ServerHello */
  /* Flipped bits in the rest of the handshake fail cleanly. */
  size_t m = tls_conn_take_out(s, hello, sizeof hello);
  hello[m / 2] ^= 0x55;
  int rc = tls_conn_feed(c, hello, m);
  if (rc == TLS_OK)
    rc = (int)tls_conn_read(c, buf, sizeof buf);
  assert_int_equal(rc, TLS_ERROR);
  tls_conn_free(s);
  tls_conn_free(c);
  tls_ctx_free(cctx);
  tls_ctx_free(ctx);
}

static void test_close_notify(void **state) {
  (void)state;
  struct tls_options so, co;
  server_opts(&so, "server-keystore.pem");
  client_opts(&co, "client1-keystore.pem");
  struct pair p;
  assert_int_equal(connect_pair(&p, &so, &co, "localhost"), 0);
  tls_conn_shutdown(p.c);
  unsigned char buf[4096];
  size_t n = tls_conn_take_out(p.c, buf, sizeof buf);
  assert_true(n > 0);
  assert_int_equal(tls_conn_feed(p.s, buf, n), TLS_OK);
  assert_int_equal(tls_conn_read(p.s, buf, sizeof buf), TLS_EOF);
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mutual_pem),
      cmocka_unit_test(test_pkcs12_and_encrypted_pem),
      cmocka_unit_test(test_bad_stores),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_client_auth_modes),
      cmocka_unit_test(test_server_checks_client_address),
      cmocka_unit_test(test_protocols_and_ciphers),
      cmocka_unit_test(test_reload),
      cmocka_unit_test(test_hostile_bytes),
      cmocka_unit_test(test_close_notify),
  };
  return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
