/* libroost_tls MODE HOSTS CERTDIR — libroost over TLS (test_tls.py).
 *   ok        client1 by --ca/--cert/--key style fields: create, get,
 *             whoami shows x509 CN=client1,O=Roost (Roost) or at least
 *             connects; then the zookeeper_init_ssl form "ca,cert,key"
 *             reads the node back.  Prints "ok".
 *   refused   connect must fail (2 s); prints "refused: <TLS error>".
 *   noverify  hostname verification off: must connect; prints "ok".
 * Exit 0 when the mode's expectation held. */
#include <stdio.h>
#include <string.h>

#include "client/roost.h"

static char ca[512], crt[512], key[512], certs[1600];

static roost_client *connect_with(const char *hosts, roost_options *o,
                                  int wait_ms, int *rc_out) {
  roost_client *c = NULL;
  int rc = roost_client_new(hosts, o, &c);
  if (rc != ROOST_OK) {
    char why[512];
    roost_tls_check(o, why, sizeof why);
    printf("client_new: %s (%s)\n", roost_err_name(rc), why);
    *rc_out = rc;
    return NULL;
  }
  *rc_out = roost_client_wait_connected(c, wait_ms);
  return c;
}

int main(int argc, char **argv) {
  if (argc != 4)
    return 2;
  const char *mode = argv[1], *hosts = argv[2], *dir = argv[3];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(crt, sizeof crt, "%s/client1.pem", dir);
  snprintf(key, sizeof key, "%s/client1.key", dir);
  roost_options o;
  roost_options_init(&o);
  o.tls_ca = ca;
  o.tls_cert = crt;
  o.tls_key = key;
  int rc;
  if (strcmp(mode, "refused") == 0) {
    roost_client *c = connect_with(hosts, &o, 2000, &rc);
    if (c == NULL)
      return 1;
    char err[256];
    roost_client_tls_error(c, err, sizeof err);
    printf("refused: %s (%s)\n", err, roost_err_name(rc));
    roost_client_close(c);
    return rc == ROOST_ETIMEDOUT && err[0] != '\0' ? 0 : 1;
  }
  o.tls_no_hostname_verification = strcmp(mode, "noverify") == 0;
  roost_client *c = connect_with(hosts, &o, 15000, &rc);
  if (c == NULL || rc != ROOST_OK) {
    printf("connect: %s\n", roost_err_name(rc));
    if (c)
      roost_client_close(c);
    return 1;
  }
  roost_result *r = NULL;
  rc = roost_create(c, "/libroost-tls", "secret", 6, NULL, NULL);
  if (rc != ROOST_OK && rc != ROOST_NODEEXISTS) {
    printf("create: %s\n", roost_err_name(rc));
    return 1;
  }
  rc = roost_whoami(c, &r);
  if (rc == ROOST_OK) {
    for (int32_t i = 0; i < r->n_acl; i++)
      printf("id %s %s\n", r->acl[i].scheme, r->acl[i].id);
    roost_result_free(r);
  }
  roost_client_close(c);

  /* The official C client's form: "ca,cert,key". */
  roost_options_init(&o);
  snprintf(certs, sizeof certs, "%s,%s,%s", ca, crt, key);
  o.tls_certs = certs;
  o.tls_no_hostname_verification = strcmp(mode, "noverify") == 0;
  c = connect_with(hosts, &o, 15000, &rc);
  if (c == NULL || rc != ROOST_OK) {
    printf("connect (tls_certs): %s\n", roost_err_name(rc));
    if (c)
      roost_client_close(c);
    return 1;
  }
  rc = roost_get(c, "/libroost-tls", NULL, NULL, &r);
  bool ok =
      rc == ROOST_OK && r->data_len == 6 && memcmp(r->data, "secret", 6) == 0;
  if (rc == ROOST_OK)
    roost_result_free(r);
  roost_client_close(c);
  if (ok)
    printf("ok\n");
  else
    printf("get: %s\n", roost_err_name(rc));
  return ok ? 0 : 1;
}
