/* Unit tests for server/: zoo.cfg parsing (srv_config_*).
 *
 * Fixtures live in tests/unit/fixtures/.  They are found through
 * $ROOST_SRCDIR (the repository root) when set, else next to this file as
 * the compiler named it (__FILE__ is "tests/unit/test_server.c" when built
 * from the repository root, which is where the Makefile runs tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/server.h"
#include "server/server_int.h"

/* ------------------------------------------------------------------ */
/* Helpers. */

#define MAX_NOTICES 16

/* Collects notices so a test can count them and read their text. */
struct notices {
  int n;
  char msg[MAX_NOTICES][SRV_ERRMSG_MAX];
};

static void notice_collect(void *arg, const char *msg) {
  struct notices *ns = arg;

  if (ns->n < MAX_NOTICES)
    snprintf(ns->msg[ns->n], sizeof(ns->msg[0]), "%s", msg);
  ns->n++;
}

/* How many collected notices contain `needle`. */
static int notices_matching(const struct notices *ns, const char *needle) {
  int count = 0;

  for (int i = 0; i < ns->n && i < MAX_NOTICES; i++)
    if (strstr(ns->msg[i], needle) != NULL)
      count++;
  return count;
}

static void fixture_path(char *buf, size_t size, const char *name) {
  const char *srcdir = getenv("ROOST_SRCDIR");

  if (srcdir != NULL && srcdir[0] != '\0') {
    snprintf(buf, size, "%s/tests/unit/fixtures/%s", srcdir, name);
  } else {
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dirlen = slash != NULL ? (int)(slash - file) : 1;

    snprintf(buf, size, "%.*s/fixtures/%s", dirlen, slash != NULL ? file : ".",
             name);
  }
}

/* Write `text` to a fresh temporary file; the caller unlinks `path`. */
static void temp_cfg(char *path, size_t size, const char *text, size_t len) {
  const char *tmpdir = getenv("TMPDIR");
  FILE *f;
  int fd;

  snprintf(path, size, "%s/roost-test-XXXXXX.cfg",
           tmpdir != NULL && tmpdir[0] != '\0' ? tmpdir : "/tmp");
  fd = mkstemps(path, 4);
  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Load `text` as a zoo.cfg into c; returns srv_config_load's result. */
static int load_text(struct srv_config *c, const char *text, struct notices *ns,
                     char *errmsg, char *path_out, size_t path_size) {
  char path[512];
  int rc;

  temp_cfg(path, sizeof(path), text, strlen(text));
  rc = srv_config_load(c, path, ns != NULL ? notice_collect : NULL, ns, errmsg);
  if (path_out != NULL)
    snprintf(path_out, path_size, "%s", path);
  unlink(path);
  return rc;
}

static int set_key(struct srv_config *c, const char *key, const char *value,
                   struct notices *ns, char *errmsg) {
  return srv_config_set(c, key, value, ns != NULL ? notice_collect : NULL, ns,
                        errmsg);
}

/* ------------------------------------------------------------------ */
/* Defaults. */

/* srv_config_defaults gives every field the default server.h documents. */
static void test_defaults(void **state) {
  struct srv_config c;

  (void)state;
  memset(&c, 0x5a, sizeof(c));
  srv_config_defaults(&c);
  assert_int_equal(c.tick_time_ms, 2000);
  assert_string_equal(c.data_dir, "./data");
  assert_string_equal(c.data_log_dir, "");
  assert_int_equal(c.client_port, 2181);
  assert_string_equal(c.client_port_address, "0.0.0.0");
  assert_int_equal(c.max_client_cnxns, 60);
  assert_int_equal(c.min_session_timeout_ms, -1);
  assert_int_equal(c.max_session_timeout_ms, -1);
  assert_int_equal(c.jute_max_buffer, 0xfffff);
  assert_string_equal(c.four_letter_whitelist, "srvr");
  assert_false(c.four_letter_all);
  assert_int_equal(c.client_port_listen_backlog, -1);
  assert_int_equal(c.global_outstanding_limit, 1000);
  assert_int_equal(c.output_budget_mb, 128);
  assert_false(c.extended_types);
  assert_string_equal(c.super_digest, "");
  assert_int_equal(c.reap_interval_ms, 60000);
  assert_int_equal(c.reap_max_per_minute, 10000);
  assert_int_equal(c.reap_max_never_used_ms, 0);
  assert_int_equal(c.server_id, 0);
  assert_string_equal(c.config_path, "");
  assert_int_equal(c.log_level, 2);
}

/* ------------------------------------------------------------------ */
/* Real configuration files. */

/* ZooKeeper's own zoo_sample.cfg loads, with one notice for each of the
 * no notice: initLimit and syncLimit are ensemble keys, the other lines
 * are comments. */
static void test_load_zoo_sample(void **state) {
  char path[1024], errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  fixture_path(path, sizeof(path), "zoo_sample.cfg");
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, notice_collect, &ns, errmsg), 0);
  assert_int_equal(c.tick_time_ms, 2000);
  assert_string_equal(c.data_dir, "/tmp/zookeeper");
  assert_int_equal(c.client_port, 2181);
  assert_int_equal(c.max_client_cnxns, 60);
  assert_string_equal(c.config_path, path);
  /* initLimit and syncLimit are used now (ensemble mode). */
  assert_int_equal(ns.n, 0);
  assert_int_equal(c.init_limit, 10);
  assert_int_equal(c.sync_limit, 5);
}

/* Debian's packaged example zoo.cfg loads (skipped when the package is
 * not installed). */
static void test_load_debian_example(void **state) {
  const char *path = "/etc/zookeeper/conf_example/zoo.cfg";
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  if (access(path, R_OK) != 0)
    skip();
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, notice_collect, &ns, errmsg), 0);
  assert_int_equal(c.tick_time_ms, 2000);
  assert_int_equal(c.client_port, 2181);
  assert_true(c.data_dir[0] != '\0');
  assert_int_equal(notices_matching(&ns, "unknown key"), 0);
}

/* A three-server ensemble file loads: every key Roost uses takes its value,
 * with no notice (server.N, the limits and admin.* are all used). */
static void test_load_ensemble(void **state) {
  char path[1024], errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  fixture_path(path, sizeof(path), "ensemble.cfg");
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, notice_collect, &ns, errmsg), 0);
  assert_string_equal(c.data_dir, "/var/lib/zookeeper");
  assert_string_equal(c.data_log_dir, "/var/lib/zookeeper-txlog");
  assert_int_equal(c.max_client_cnxns, 100);
  assert_string_equal(c.four_letter_whitelist, "srvr,mntr,ruok");
  /* autopurge.*, initLimit, syncLimit, server.N and admin.* are used now. */
  assert_int_equal(ns.n, 0);
  assert_false(c.admin_enable);
  assert_int_equal(c.n_peers, 3);
  assert_int_equal(c.peers[0].id, 1);
  assert_string_equal(c.peers[0].host, "zk1.example.com");
  assert_int_equal(c.peers[0].quorum_port, 2888);
  assert_int_equal(c.peers[0].election_port, 3888);
  assert_false(c.peers[0].observer);
  assert_string_equal(c.peers[2].host, "zk3.example.com");
  assert_int_equal(c.peers[2].quorum_port, 2888);
}

/* server.N lines in ZooKeeper 3.5+'s form carry the client part,
 * ";[clientAddr:]clientPort"; a malformed client part is an error naming
 * the key. */
static void test_server_line_client_part(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(
      load_text(&c,
                "server.1=10.0.0.1:2888:3888;10.0.0.1:2191\n"
                "server.2=10.0.0.2:2888:3888:observer;2192\n"
                "server.3=10.0.0.3:2888:3888:participant;[::1]:2193\n"
                "server.4=10.0.0.4:2888:3888\n",
                NULL, errmsg, NULL, 0),
      0);
  assert_int_equal(c.n_peers, 4);
  assert_int_equal(c.peers[0].client_port, 2191);
  assert_string_equal(c.peers[0].client_address, "10.0.0.1");
  assert_int_equal(c.peers[1].client_port, 2192);
  assert_string_equal(c.peers[1].client_address, "");
  assert_true(c.peers[1].observer);
  assert_int_equal(c.peers[2].client_port, 2193);
  assert_string_equal(c.peers[2].client_address, "::1");
  assert_int_equal(c.peers[3].client_port, 0);
  assert_false(c.client_port_given);

  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "clientPort=2181\n", NULL, errmsg, NULL, 0),
                   0);
  assert_true(c.client_port_given);
  assert_false(c.client_port_address_given);

  static const char *const bad[] = {
      "server.1=h:2888:3888;\n",        "server.1=h:2888:3888;x\n",
      "server.1=h:2888:3888;h:99999\n", "server.1=h:2888:3888;:2181\n",
      "server.1=h:2888:3888;[]:2181\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_config_defaults(&c);
    errmsg[0] = '\0';
    assert_int_equal(load_text(&c, bad[i], NULL, errmsg, NULL, 0), -1);
    assert_non_null(strstr(errmsg, "server.1"));
  }
}

/* ZooKeeper keys whose other values would change behaviour stop the start
 * with a message naming the key; ZooKeeper's defaults are accepted. */
static void test_behaviour_keys(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;
  struct notices ns = {0};

  (void)state;
  static const char *const refused[] = {
      "skipACL=yes\n",
      "zookeeper.skipACL=YES\n",
      "leaderServes=no\n",
      "syncEnabled=false\n",
      "localSessionsEnabled=true\n",
      "enforceQuota=true\n",
      "sessionRequireClientSASLAuth=true\n",
      "enforce.auth.enabled=true\n",
      "maxCnxns=100\n",
      "maxCnxns=x\n",
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    srv_config_defaults(&c);
    errmsg[0] = '\0';
    assert_int_equal(load_text(&c, refused[i], NULL, errmsg, NULL, 0), -1);
    assert_non_null(strstr(errmsg, "is not supported by Roost"));
    char key[64];
    snprintf(key, sizeof key, "key '%.*s'", (int)strcspn(refused[i], "="),
             refused[i]);
    assert_non_null(strstr(errmsg, key));
  }
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c,
                             "skipACL=no\nleaderServes=yes\nsyncEnabled=true\n"
                             "localSessionsEnabled=false\nenforceQuota=false\n"
                             "reconfigEnabled=false\nmaxCnxns=0\n",
                             &ns, errmsg, NULL, 0),
                   0);
  /* reconfigEnabled is used now (issue 20): no notice for it */
  assert_int_equal(notices_matching(&ns, "is accepted but not used"), 6);
}

/* roost.outputBudgetMB (conn.c): a number of MiB from 1 to 1048576; other
 * values stop the start with a message naming the key, and no notice says
 * the key is unknown. */
static void test_output_budget_key(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;
  struct notices ns = {0};

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(
      load_text(&c, "roost.outputBudgetMB=8\n", &ns, errmsg, NULL, 0), 0);
  assert_int_equal(c.output_budget_mb, 8);
  assert_int_equal(notices_matching(&ns, "outputBudgetMB"), 0);
  static const char *const bad[] = {
      "roost.outputBudgetMB=0\n",
      "roost.outputBudgetMB=-1\n",
      "roost.outputBudgetMB=1048577\n",
      "roost.outputBudgetMB=lots\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_config_defaults(&c);
    errmsg[0] = '\0';
    assert_int_equal(load_text(&c, bad[i], NULL, errmsg, NULL, 0), -1);
    assert_non_null(strstr(errmsg, "roost.outputBudgetMB"));
    assert_int_equal(c.output_budget_mb, 128);
  }
}

/* Every key Roost uses is read from a file into its field. */
static void test_load_all_keys(void **state) {
  char path[1024], errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  fixture_path(path, sizeof(path), "all_keys.cfg");
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, notice_collect, &ns, errmsg), 0);
  assert_int_equal(ns.n, 0);
  assert_int_equal(c.tick_time_ms, 500);
  assert_string_equal(c.data_dir, "/srv/roost/data");
  assert_string_equal(c.data_log_dir, "/srv/roost/log");
  assert_int_equal(c.client_port, 2281);
  assert_string_equal(c.client_port_address, "127.0.0.1");
  assert_int_equal(c.max_client_cnxns, 0);
  assert_int_equal(c.min_session_timeout_ms, 1500);
  assert_int_equal(c.max_session_timeout_ms, 90000);
  assert_int_equal(c.jute_max_buffer, 4194304);
  assert_string_equal(c.four_letter_whitelist, "stat,ruok,conf");
  assert_false(c.four_letter_all);
  assert_int_equal(c.client_port_listen_backlog, 128);
  assert_int_equal(c.global_outstanding_limit, 5000);
  assert_true(c.extended_types);
}

/* ZooKeeper's TLS keys (bare and with the zookeeper. prefix) fill the TLS
 * settings without a notice; malformed values, portUnification=true and
 * ssl.crl=true are refused. */
static void test_tls_keys(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512];
  struct notices ns = {0};
  struct srv_config c;
  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(c.secure_client_port, -1);
  assert_string_equal(c.tls.client_auth, "need");
  assert_true(c.tls.hostname_verification);
  assert_false(c.ssl_quorum);
  const char *text =
      "secureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n"
      "ssl.keyStore.location=/k.pem\nzookeeper.ssl.keyStore.password=pw\n"
      "ssl.keyStore.type=PEM\nssl.trustStore.location=/t.p12\n"
      "ssl.trustStore.type=PKCS12\nssl.clientAuth=want\n"
      "ssl.protocol=TLSv1.2\nssl.enabledProtocols=TLSv1.2,TLSv1.3\n"
      "ssl.ciphersuites=A,B\nssl.hostnameVerification=false\n"
      "zookeeper.X509AuthenticationProvider.superUser=CN=a,O=b\n"
      "sslQuorum=true\nssl.quorum.keyStore.location=/q.pem\n"
      "zookeeper.ssl.quorum.clientAuth=none\nsslQuorumReloadCertFiles=true\n";
  assert_int_equal(load_text(&c, text, &ns, errmsg, path, sizeof path), 0);
  assert_int_equal(ns.n, 0);
  assert_int_equal(c.secure_client_port, 2281);
  assert_string_equal(c.secure_client_port_address, "127.0.0.1");
  assert_string_equal(c.tls.key_store_location, "/k.pem");
  assert_string_equal(c.tls.key_store_password, "pw");
  assert_string_equal(c.tls.key_store_type, "PEM");
  assert_string_equal(c.tls.trust_store_location, "/t.p12");
  assert_string_equal(c.tls.trust_store_type, "PKCS12");
  assert_string_equal(c.tls.client_auth, "want");
  assert_string_equal(c.tls.protocol, "TLSv1.2");
  assert_string_equal(c.tls.enabled_protocols, "TLSv1.2,TLSv1.3");
  assert_string_equal(c.tls.ciphersuites, "A,B");
  assert_false(c.tls.hostname_verification);
  assert_string_equal(c.x509_super_user, "CN=a,O=b");
  assert_true(c.ssl_quorum);
  assert_true(c.ssl_quorum_reload);
  assert_string_equal(c.quorum_tls.key_store_location, "/q.pem");
  assert_string_equal(c.quorum_tls.client_auth, "none");
  assert_string_equal(c.quorum_tls.trust_store_location, "");
  assert_int_equal(
      set_key(&c, "ssl.hostnameVerification", "maybe", NULL, errmsg), -1);
  assert_int_equal(set_key(&c, "secureClientPort", "70000", NULL, errmsg), -1);
  assert_int_equal(set_key(&c, "portUnification", "true", NULL, errmsg), -1);
  assert_non_null(strstr(errmsg, "portUnification"));
  assert_int_equal(set_key(&c, "client.portUnification", "true", NULL, errmsg),
                   0);
  assert_true(c.client_port_unification);
  assert_int_equal(set_key(&c, "admin.forceHttps", "true", NULL, errmsg), 0);
  assert_int_equal(
      set_key(&c, "zookeeper.admin.portUnification", "true", NULL, errmsg), 0);
  assert_int_equal(set_key(&c, "admin.needClientAuth", "yes", NULL, errmsg),
                   -1);
  assert_true(c.admin_force_https && c.admin_unify);
  assert_false(c.admin_need_client_auth);
  assert_int_equal(set_key(&c, "ssl.crl", "true", NULL, errmsg), -1);
  assert_int_equal(set_key(&c, "ssl.crl", "false", NULL, errmsg), 0);
}

/* The repository's own roost.cfg (what `make run` starts) loads. */
static void test_load_roost_cfg(void **state) {
  char path[1024], errmsg[SRV_ERRMSG_MAX] = "";
  const char *srcdir = getenv("ROOST_SRCDIR");
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  snprintf(path, sizeof(path), "%s/roost.cfg",
           srcdir != NULL && srcdir[0] != '\0' ? srcdir : ".");
  if (access(path, R_OK) != 0)
    skip();
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, notice_collect, &ns, errmsg), 0);
  assert_int_equal(ns.n, 0);
  assert_string_equal(c.client_port_address, "127.0.0.1");
  assert_true(c.four_letter_all);
}

/* ------------------------------------------------------------------ */
/* Syntax. */

/* The Properties syntax zoo.cfg files use loads as java.util.Properties
 * reads it: '=', ':' and blank separators, '#' and '!' comments, blank
 * lines, trimmed values, backslash continuations and escapes (expected
 * values checked against Java 17's Properties.load). */
static void test_syntax_properties(void **state) {
  char path[1024], errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  fixture_path(path, sizeof(path), "syntax.cfg");
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, notice_collect, &ns, errmsg), 0);
  assert_int_equal(ns.n, 0);
  assert_int_equal(c.tick_time_ms, 3000);
  assert_int_equal(c.client_port, 2182);
  assert_int_equal(c.max_client_cnxns, 15);
  assert_string_equal(c.data_dir, "/data/with trailing blanks");
  assert_string_equal(c.client_port_address, "127.0.0.2");
  assert_string_equal(c.four_letter_whitelist, "stat,ruok");
  assert_string_equal(c.data_log_dir, "/log/a=b:c\\d");
  assert_int_equal(c.global_outstanding_limit, 77);
}

/* Files with CRLF line ends (edited on Windows) load. */
static void test_syntax_crlf(void **state) {
  char path[1024], errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  fixture_path(path, sizeof(path), "crlf.cfg");
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, NULL, NULL, errmsg), 0);
  assert_int_equal(c.tick_time_ms, 2500);
  assert_int_equal(c.client_port, 2183);
  assert_string_equal(c.data_dir, "/crlf");
}

/* \uXXXX escapes decode to UTF-8, an empty file and a file without a final
 * newline load, and a continuation at end of file ends the line. */
static void test_syntax_edges(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "", NULL, errmsg, NULL, 0), 0);
  assert_int_equal(
      load_text(&c, "dataDir=/caf\\u00e9/\\u20ac", NULL, errmsg, NULL, 0), 0);
  assert_string_equal(c.data_dir, "/caf\xc3\xa9/\xe2\x82\xac");
  assert_int_equal(load_text(&c, "clientPort=2190\\", NULL, errmsg, NULL, 0),
                   0);
  assert_int_equal(c.client_port, 2190);
  assert_int_equal(load_text(&c, "tickTime\t\t4000\n", NULL, errmsg, NULL, 0),
                   0);
  assert_int_equal(c.tick_time_ms, 4000);
}

/* A malformed \u escape fails and names the line. */
static void test_syntax_bad_escape(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512], want[600];
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "# x\ndataDir=/a\\u12zz\n", NULL, errmsg, path,
                             sizeof(path)),
                   -1);
  snprintf(want, sizeof(want), "%s:2: malformed \\uXXXX escape", path);
  assert_string_equal(errmsg, want);
}

/* A line that is only a word, with no separator and no value, fails with
 * the file and line in the message. */
static void test_syntax_no_separator(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512], want[600];
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "tickTime=2000\n\n  dataDir   \n", NULL,
                             errmsg, path, sizeof(path)),
                   -1);
  snprintf(want, sizeof(want),
           "%s:3: 'dataDir' is not a property: expected key=value, "
           "key:value or key value",
           path);
  assert_string_equal(errmsg, want);
}

/* A line longer than the bound and a NUL byte both fail naming the line,
 * instead of being cut or read as a shorter string. */
static void test_syntax_limits(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512];
  static const char head[] = "tickTime=1\ndataDir=";
  size_t big = (size_t)3 * SRV_PATH_MAX;
  size_t hlen = sizeof(head) - 1;
  char *text = malloc(hlen + big + 2);
  static const char with_nul[] = "tickTime=1\nclientPort=21\0"
                                 "81\n";
  struct srv_config c;

  (void)state;
  assert_non_null(text);
  memcpy(text, head, hlen);
  memset(text + hlen, 'a', big);
  text[hlen + big] = '\n';
  text[hlen + big + 1] = '\0';
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, text, NULL, errmsg, NULL, 0), -1);
  assert_non_null(strstr(errmsg, ":2: line longer than"));
  free(text);

  temp_cfg(path, sizeof(path), with_nul, sizeof(with_nul) - 1);
  assert_int_equal(srv_config_load(&c, path, NULL, NULL, errmsg), -1);
  unlink(path);
  assert_non_null(strstr(errmsg, ":2: NUL byte in line"));
}

/* A missing file fails naming the path and the errno text. */
static void test_load_missing_file(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(
      srv_config_load(&c, "/nonexistent/roost/zoo.cfg", NULL, NULL, errmsg),
      -1);
  assert_string_equal(errmsg, "cannot open '/nonexistent/roost/zoo.cfg': No "
                              "such file or directory");
  assert_string_equal(c.config_path, "");
}

/* A directory given as the config file fails with the errno text. */
static void test_load_directory(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, "/", NULL, NULL, errmsg), -1);
  assert_non_null(strstr(errmsg, "'/'"));
  assert_non_null(strstr(errmsg, "Is a directory"));
}

/* A failed load leaves the config exactly as it was, even when good lines
 * came before the bad one. */
static void test_load_failure_is_atomic(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c, before;

  (void)state;
  srv_config_defaults(&c);
  before = c;
  assert_int_equal(load_text(&c,
                             "tickTime=100\nclientPort=1\n"
                             "4lw.commands.whitelist=*\nclientPort=x\n",
                             NULL, errmsg, NULL, 0),
                   -1);
  assert_memory_equal(&c, &before, sizeof(c));
}

/* A second load overrides only the keys it names, and a key given twice
 * keeps its last value (as in Properties). */
static void test_load_layers(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "tickTime=100\nclientPort=1\nclientPort=2\n",
                             NULL, errmsg, NULL, 0),
                   0);
  assert_int_equal(c.client_port, 2);
  assert_int_equal(load_text(&c, "clientPort=3\n", NULL, errmsg, NULL, 0), 0);
  assert_int_equal(c.tick_time_ms, 100);
  assert_int_equal(c.client_port, 3);
}

/* ------------------------------------------------------------------ */
/* srv_config_set. */

/* Every key can be overridden from the command line, blanks trimmed, and
 * a later set overrides a loaded value. */
static void test_set_every_key(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "tickTime=100\n", NULL, errmsg, NULL, 0), 0);
  assert_int_equal(set_key(&c, " tickTime ", " 250 ", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "dataDir", "/d", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "dataLogDir", "/l", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "clientPort", "0", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "clientPortAddress", "::1", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "maxClientCnxns", "7", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "minSessionTimeout", "600", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "maxSessionTimeout", "6000", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "jute.maxbuffer", "0x200000", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "4lw.commands.whitelist", "mntr", &ns, errmsg),
                   0);
  assert_int_equal(set_key(&c, "clientPortListenBacklog", "64", &ns, errmsg),
                   0);
  assert_int_equal(set_key(&c, "globalOutstandingLimit", "9", &ns, errmsg), 0);
  assert_int_equal(set_key(&c, "extendedTypesEnabled", "TRUE", &ns, errmsg), 0);
  assert_int_equal(ns.n, 0);
  assert_int_equal(c.tick_time_ms, 250);
  assert_string_equal(c.data_dir, "/d");
  assert_string_equal(c.data_log_dir, "/l");
  assert_int_equal(c.client_port, 0);
  assert_string_equal(c.client_port_address, "::1");
  assert_int_equal(c.max_client_cnxns, 7);
  assert_int_equal(c.min_session_timeout_ms, 600);
  assert_int_equal(c.max_session_timeout_ms, 6000);
  assert_int_equal(c.jute_max_buffer, 0x200000);
  assert_string_equal(c.four_letter_whitelist, "mntr");
  assert_int_equal(c.client_port_listen_backlog, 64);
  assert_int_equal(c.global_outstanding_limit, 9);
  assert_true(c.extended_types);
}

/* The zookeeper.-prefixed spellings of jute.maxbuffer and
 * extendedTypesEnabled set the same fields, silently. */
static void test_set_aliases(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c,
                             "zookeeper.jute.maxbuffer=1000\n"
                             "zookeeper.extendedTypesEnabled=true\n",
                             &ns, errmsg, NULL, 0),
                   0);
  assert_int_equal(ns.n, 0);
  assert_int_equal(c.jute_max_buffer, 1000);
  assert_true(c.extended_types);
  assert_int_equal(
      set_key(&c, "zookeeper.extendedTypesEnabled", "false", &ns, errmsg), 0);
  assert_false(c.extended_types);
}

/* A failed set leaves the config unchanged (whitelist included). */
static void test_set_failure_is_atomic(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  char longlist[2048];
  struct srv_config c, before;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "4lw.commands.whitelist", "stat", NULL, errmsg),
                   0);
  before = c;
  memset(longlist, 'x', sizeof(longlist) - 1);
  longlist[sizeof(longlist) - 1] = '\0';
  longlist[2] = '*';
  longlist[3] = ',';
  assert_int_equal(
      set_key(&c, "4lw.commands.whitelist", longlist, NULL, errmsg), -1);
  assert_memory_equal(&c, &before, sizeof(c));
  assert_int_equal(set_key(&c, "tickTime", "-5", NULL, errmsg), -1);
  assert_memory_equal(&c, &before, sizeof(c));
}

/* ------------------------------------------------------------------ */
/* Malformed values. */

struct bad_case {
  const char *key;
  const char *value;
  const char *expect;
};

static const struct bad_case bad_cases[] = {
    {"tickTime", "abc", "a positive integer"},
    {"tickTime", "0", "a positive integer"},
    {"tickTime", "-1", "a positive integer"},
    {"tickTime", "2000ms", "a positive integer"},
    {"tickTime", "", "a positive integer"},
    {"tickTime", "2147483648", "a positive integer"},
    {"tickTime", "0x10", "a positive integer"},
    {"tickTime", "1e3", "a positive integer"},
    {"clientPort", "99999", "an integer from 0 to 65535"},
    {"clientPort", "65536", "an integer from 0 to 65535"},
    {"clientPort", "-1", "an integer from 0 to 65535"},
    {"clientPort", "21 81", "an integer from 0 to 65535"},
    {"maxClientCnxns", "-3", "a non-negative integer (0 = no limit)"},
    {"maxClientCnxns", "many", "a non-negative integer (0 = no limit)"},
    {"minSessionTimeout", "0", "-1 or a positive integer"},
    {"minSessionTimeout", "-2", "-1 or a positive integer"},
    {"maxSessionTimeout", "1.5", "-1 or a positive integer"},
    {"jute.maxbuffer", "0",
     "a positive integer (decimal, 0x hex or "
     "0-prefixed octal)"},
    {"jute.maxbuffer", "-1", "a positive integer"},
    {"jute.maxbuffer", "0x", "a positive integer"},
    {"jute.maxbuffer", "0x80000000", "a positive integer"},
    {"jute.maxbuffer", "09", "a positive integer"},
    {"jute.maxbuffer", "1M", "a positive integer"},
    {"zookeeper.jute.maxbuffer", "big", "a positive integer"},
    {"clientPortListenBacklog", "0", "-1 or a positive integer"},
    {"clientPortListenBacklog", "x", "-1 or a positive integer"},
    {"globalOutstandingLimit", "0", "a positive integer"},
    {"extendedTypesEnabled", "maybe", "true or false"},
    {"extendedTypesEnabled", "1", "true or false"},
    {"extendedTypesEnabled", "", "true or false"},
    {"zookeeper.extendedTypesEnabled", "yes", "true or false"},
    {"readonlymode.enabled", "on", "true or false"},
    {"dataDir", "", "a non-empty path shorter than 4096 bytes"},
    {"clientPortAddress", "", "a host name or address"},
    {"clientPortAddress", "127.0.0.1 ::1", "a host name or address"},
};

#define N_BAD_CASES (sizeof(bad_cases) / sizeof(bad_cases[0]))

/* Each malformed value of a key Roost uses fails through srv_config_set
 * with "command line: invalid value 'V' for key 'K': expected ...". */
static void test_bad_values_set(void **state) {
  (void)state;
  for (size_t i = 0; i < N_BAD_CASES; i++) {
    const struct bad_case *b = &bad_cases[i];
    char errmsg[SRV_ERRMSG_MAX] = "", want[SRV_ERRMSG_MAX];
    struct srv_config c;

    srv_config_defaults(&c);
    snprintf(want, sizeof(want),
             "command line: invalid value '%s' for key '%s': expected ",
             b->value, b->key);
    assert_int_equal(set_key(&c, b->key, b->value, NULL, errmsg), -1);
    if (strncmp(errmsg, want, strlen(want)) != 0 ||
        strstr(errmsg, b->expect) == NULL)
      fail_msg("case %zu: got \"%s\"", i, errmsg);
  }
}

/* Each malformed value fails a file load with "PATH:LINE: invalid value
 * ..." naming the line it is on. */
static void test_bad_values_file(void **state) {
  (void)state;
  for (size_t i = 0; i < N_BAD_CASES; i++) {
    const struct bad_case *b = &bad_cases[i];
    char errmsg[SRV_ERRMSG_MAX] = "", want[1200], path[512];
    char text[256];
    struct srv_config c;

    srv_config_defaults(&c);
    snprintf(text, sizeof(text), "# header\ntickTime=2000\n\n%s=%s\n", b->key,
             b->value);
    assert_int_equal(load_text(&c, text, NULL, errmsg, path, sizeof(path)), -1);
    snprintf(want, sizeof(want),
             "%s:4: invalid value '%s' for key '%s': expected ", path, b->value,
             b->key);
    if (strncmp(errmsg, want, strlen(want)) != 0 ||
        strstr(errmsg, b->expect) == NULL)
      fail_msg("case %zu: got \"%s\"", i, errmsg);
  }
}

/* The exact message for the example in the brief: tickTime=abc. */
static void test_bad_value_message(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512], want[600];
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(
      load_text(&c, "tickTime=abc\n", NULL, errmsg, path, sizeof(path)), -1);
  snprintf(want, sizeof(want),
           "%s:1: invalid value 'abc' for key 'tickTime': expected a "
           "positive integer",
           path);
  assert_string_equal(errmsg, want);
}

/* A very long bad value is cut in the message, which still names the key
 * and the expectation and fits SRV_ERRMSG_MAX. */
static void test_bad_value_long(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  char value[1000];
  struct srv_config c;

  (void)state;
  memset(value, '9', sizeof(value) - 1);
  value[sizeof(value) - 1] = '\0';
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "clientPort", value, NULL, errmsg), -1);
  assert_true(strlen(errmsg) < SRV_ERRMSG_MAX);
  assert_non_null(strstr(errmsg, "...' for key 'clientPort': expected an "
                                 "integer from 0 to 65535"));
}

/* String values that do not fit their field fail; the longest that fits
 * is taken whole. */
static void test_string_lengths(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  char value[SRV_PATH_MAX + 1];
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  memset(value, 'p', sizeof(value));
  value[SRV_PATH_MAX] = '\0';
  assert_int_equal(set_key(&c, "dataDir", value, NULL, errmsg), -1);
  assert_non_null(strstr(errmsg, "for key 'dataDir'"));
  assert_int_equal(set_key(&c, "dataLogDir", value, NULL, errmsg), -1);
  value[SRV_PATH_MAX - 1] = '\0';
  assert_int_equal(set_key(&c, "dataDir", value, NULL, errmsg), 0);
  assert_int_equal(strlen(c.data_dir), SRV_PATH_MAX - 1);
  value[256] = '\0';
  assert_int_equal(set_key(&c, "clientPortAddress", value, NULL, errmsg), -1);
  value[255] = '\0';
  assert_int_equal(set_key(&c, "clientPortAddress", value, NULL, errmsg), 0);
  /* An empty dataLogDir means "same as dataDir" and is allowed. */
  assert_int_equal(set_key(&c, "dataLogDir", "", NULL, errmsg), 0);
}

/* Integer edges that are valid: range ends, a '+' sign (Integer.parseInt
 * takes it), -1 for the "default" keys, 0 for maxClientCnxns. */
static void test_int_edges(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "clientPort", "65535", NULL, errmsg), 0);
  assert_int_equal(c.client_port, 65535);
  assert_int_equal(set_key(&c, "clientPort", "+0", NULL, errmsg), 0);
  assert_int_equal(c.client_port, 0);
  assert_int_equal(set_key(&c, "tickTime", "2147483647", NULL, errmsg), 0);
  assert_int_equal(c.tick_time_ms, 2147483647);
  assert_int_equal(set_key(&c, "tickTime", "007", NULL, errmsg), 0);
  assert_int_equal(c.tick_time_ms, 7);
  assert_int_equal(set_key(&c, "minSessionTimeout", "-1", NULL, errmsg), 0);
  assert_int_equal(c.min_session_timeout_ms, -1);
  assert_int_equal(set_key(&c, "maxSessionTimeout", "-1", NULL, errmsg), 0);
  assert_int_equal(c.max_session_timeout_ms, -1);
  assert_int_equal(set_key(&c, "clientPortListenBacklog", "-1", NULL, errmsg),
                   0);
  assert_int_equal(c.client_port_listen_backlog, -1);
  assert_int_equal(set_key(&c, "maxClientCnxns", "0", NULL, errmsg), 0);
  assert_int_equal(c.max_client_cnxns, 0);
}

/* jute.maxbuffer follows Java's Integer.decode: decimal, 0x/0X/# hex and
 * 0-prefixed octal, so a value means what it means to ZooKeeper. */
static void test_jute_decode(void **state) {
  static const struct {
    const char *text;
    int value;
  } ok[] = {
      {"1048575", 1048575},
      {"0xfffff", 0xfffff},
      {"0X10", 16},
      {"#400", 0x400},
      {"010", 8},
      {"+0x20", 32},
      {"2147483647", 2147483647},
      {"0x7fffffff", 2147483647},
  };
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    if (set_key(&c, "jute.maxbuffer", ok[i].text, NULL, errmsg) != 0)
      fail_msg("'%s' rejected: %s", ok[i].text, errmsg);
    assert_int_equal(c.jute_max_buffer, ok[i].value);
  }
}

/* Booleans take true/false in any case and nothing else. */
static void test_bool_values(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "extendedTypesEnabled", "True", NULL, errmsg),
                   0);
  assert_true(c.extended_types);
  assert_int_equal(set_key(&c, "extendedTypesEnabled", "FALSE", NULL, errmsg),
                   0);
  assert_false(c.extended_types);
  /* Read-only mode: off unless asked for, as ZooKeeper's property. */
  assert_false(c.read_only_mode);
  assert_int_equal(set_key(&c, "readonlymode.enabled", "true", NULL, errmsg),
                   0);
  assert_true(c.read_only_mode);
}

/* ------------------------------------------------------------------ */
/* Keys Roost does not use. */

/* Keys ZooKeeper knows but Roost does not use load with exactly one
 * "accepted but not used" notice each, naming key and line. */
static void test_zk_keys_accepted(void **state) {
  static const char *const keys[] = {
      "electionAlg",
      "peerType",
      "group.1",
      "weight.1",
      "admin.rateLimiterIntervalInMS",
      "metricsProvider.exportJvmInfo",
      "standaloneEnabled",
      "quorumListenOnAllIPs",
      "ssl.keyStore.passwordPath",
      "portUnification",
      "localSessionsEnabled",
      "localSessionsUpgradingEnabled",
      "leaderServes",
      "cnxTimeout",
      "syncEnabled",
      "skipACL",
      "fsync.warningthresholdms",
      "audit.enable",
      "jvm.pause.monitor",
      "authProvider.1",
      "serverCnxnFactory",
      "zookeeper.snapshot.trust.empty",
      "snapshot.trust.empty",
      "txnLogSizeLimitInKb",
      "maxCnxns",
      "connectToLearnerMasterLimit",
      "superUser",
      "multiAddress.enabled",
      "electionPortBindRetry",
      "observerMasterPort",
      "quorum.auth.enableSasl",
  };
  (void)state;
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    char errmsg[SRV_ERRMSG_MAX] = "", path[512], text[256], want[700];
    struct notices ns = {0};
    struct srv_config c;

    srv_config_defaults(&c);
    /* maxCnxns is an integer (ZooKeeper refuses anything else too); 0 is
     * its default, the one value Roost accepts (test_behaviour_keys). */
    snprintf(text, sizeof(text), "tickTime=2000\n%s=%s\n", keys[i],
             strcmp(keys[i], "maxCnxns") == 0 ? "0" : "some value");
    if (load_text(&c, text, &ns, errmsg, path, sizeof(path)) != 0)
      fail_msg("%s: %s", keys[i], errmsg);
    snprintf(want, sizeof(want),
             "notice: %s:2: key '%s' is accepted but not used by Roost", path,
             keys[i]);
    assert_int_equal(ns.n, 1);
    assert_string_equal(ns.msg[0], want);
  }
}

/* reconfigEnabled (default false) and dynamicConfigFile are read, with no
 * notice; reconfigEnabled takes only true/false. */
static void test_reconfig_keys(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;
  (void)state;
  srv_config_defaults(&c);
  assert_false(c.reconfig_enabled);
  assert_string_equal(c.dynamic_config_file, "");
  assert_int_equal(load_text(&c,
                             "reconfigEnabled=true\n"
                             "dynamicConfigFile=/tmp/zoo.cfg.dynamic\n",
                             &ns, errmsg, NULL, 0),
                   0);
  assert_true(c.reconfig_enabled);
  assert_string_equal(c.dynamic_config_file, "/tmp/zoo.cfg.dynamic");
  assert_int_equal(ns.n, 0);
  srv_config_defaults(&c);
  assert_int_equal(
      load_text(&c, "reconfigEnabled=maybe\n", NULL, errmsg, NULL, 0), -1);
}

/* The super digest (both spellings) and the container manager's three
 * properties are used, so they give no notice; the intervals take
 * Integer.decode syntax and refuse 0 or a negative interval, keeping the
 * old value. */
static void test_super_digest_and_reaper_keys(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "DigestAuthenticationProvider.superDigest",
                           "super:D/InIHSb7yEEbrWz8b9l71RjZJU=", &ns, errmsg),
                   0);
  assert_string_equal(c.super_digest, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
  assert_int_equal(set_key(&c,
                           "zookeeper.DigestAuthenticationProvider.superDigest",
                           "admin:x", &ns, errmsg),
                   0);
  assert_string_equal(c.super_digest, "admin:x");
  assert_int_equal(
      set_key(&c, "znode.container.checkIntervalMs", "250", &ns, errmsg), 0);
  assert_int_equal(c.reap_interval_ms, 250);
  assert_int_equal(
      set_key(&c, "znode.container.maxPerMinute", "0x10", &ns, errmsg), 0);
  assert_int_equal(c.reap_max_per_minute, 16);
  assert_int_equal(
      set_key(&c, "znode.container.maxNeverUsedIntervalMs", "0", &ns, errmsg),
      0);
  assert_int_equal(c.reap_max_never_used_ms, 0);
  assert_int_equal(ns.n, 0);
  assert_int_equal(
      set_key(&c, "znode.container.checkIntervalMs", "0", &ns, errmsg), -1);
  assert_non_null(strstr(errmsg, "znode.container.checkIntervalMs"));
  assert_int_equal(
      set_key(&c, "znode.container.maxPerMinute", "-5", &ns, errmsg), -1);
  assert_int_equal(
      set_key(&c, "znode.container.maxNeverUsedIntervalMs", "x", &ns, errmsg),
      -1);
  assert_int_equal(c.reap_interval_ms, 250);
  assert_int_equal(c.reap_max_per_minute, 16);
}

/* A key no ZooKeeper knows is accepted too (ZooKeeper turns it into a
 * system property), with exactly one "unknown key ... ignored" notice per
 * line, and a hint when only the letter case is wrong. */
static void test_unknown_keys(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512], want[700];
  struct notices ns = {0};
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c,
                             "frobnicate=1\n"
                             "ticktime=3000\n"
                             "tickTime=2000\n"
                             "frobnicate=2\n",
                             &ns, errmsg, path, sizeof(path)),
                   0);
  assert_int_equal(ns.n, 3);
  snprintf(want, sizeof(want), "notice: %s:1: unknown key 'frobnicate' ignored",
           path);
  assert_string_equal(ns.msg[0], want);
  snprintf(want, sizeof(want),
           "notice: %s:2: unknown key 'ticktime' ignored (keys are "
           "case-sensitive: did you mean 'tickTime'?)",
           path);
  assert_string_equal(ns.msg[1], want);
  assert_int_equal(notices_matching(&ns, ":4: unknown key 'frobnicate'"), 1);
  assert_int_equal(c.tick_time_ms, 2000);

  ns.n = 0;
  assert_int_equal(set_key(&c, "colour", "blue", &ns, errmsg), 0);
  assert_int_equal(ns.n, 1);
  assert_string_equal(ns.msg[0],
                      "notice: command line: unknown key 'colour' ignored");

  /* With no callback the notices are simply dropped. */
  assert_int_equal(set_key(&c, "colour", "blue", NULL, errmsg), 0);
}

/* server.N, group.N and weight.N need a numeric N, as QuorumPeerConfig
 * refuses the file otherwise; an empty key fails too. */
static void test_bad_indexed_keys(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "", path[512], want[700];
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c, "server.one=zk1:2888:3888\n", NULL, errmsg,
                             path, sizeof(path)),
                   -1);
  snprintf(want, sizeof(want),
           "%s:1: invalid key 'server.one': expected server.N with a numeric "
           "id",
           path);
  assert_string_equal(errmsg, want);
  assert_int_equal(set_key(&c, "weight.", "1", NULL, errmsg), -1);
  assert_int_equal(set_key(&c, "group.1x", "1:2", NULL, errmsg), -1);
  assert_int_equal(load_text(&c, "=5\n", NULL, errmsg, NULL, 0), -1);
  assert_non_null(strstr(errmsg, ":1: empty key"));
}

/* ------------------------------------------------------------------ */
/* The four-letter-word whitelist. */

/* A comma list with blanks and empty items is trimmed and stored joined;
 * listed words and srvr are allowed, others are not. */
static void test_4lw_list(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_true(srv_config_4lw_allowed(&c, "srvr"));
  assert_false(srv_config_4lw_allowed(&c, "stat"));
  assert_int_equal(load_text(&c,
                             "4lw.commands.whitelist =  stat, ruok ,,conf ,\n",
                             NULL, errmsg, NULL, 0),
                   0);
  assert_string_equal(c.four_letter_whitelist, "stat,ruok,conf");
  assert_false(c.four_letter_all);
  assert_true(srv_config_4lw_allowed(&c, "stat"));
  assert_true(srv_config_4lw_allowed(&c, "ruok"));
  assert_true(srv_config_4lw_allowed(&c, "conf"));
  assert_true(srv_config_4lw_allowed(&c, "srvr"));
  assert_false(srv_config_4lw_allowed(&c, "mntr"));
  assert_false(srv_config_4lw_allowed(&c, "sta"));
  assert_false(srv_config_4lw_allowed(&c, "stats"));
  assert_false(srv_config_4lw_allowed(&c, "STAT"));
  assert_false(srv_config_4lw_allowed(&c, ""));
  assert_false(srv_config_4lw_allowed(&c, NULL));
}

/* "*" alone or anywhere in the list allows every word; setting the list
 * again without "*" takes that back. */
static void test_4lw_star(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "4lw.commands.whitelist", "*", NULL, errmsg), 0);
  assert_true(c.four_letter_all);
  assert_true(srv_config_4lw_allowed(&c, "mntr"));
  assert_true(srv_config_4lw_allowed(&c, "wchc"));
  assert_int_equal(
      set_key(&c, "4lw.commands.whitelist", "stat, * ", NULL, errmsg), 0);
  assert_true(c.four_letter_all);
  assert_true(srv_config_4lw_allowed(&c, "dump"));
  assert_int_equal(set_key(&c, "4lw.commands.whitelist", "stat", NULL, errmsg),
                   0);
  assert_false(c.four_letter_all);
  assert_false(srv_config_4lw_allowed(&c, "dump"));
  assert_true(srv_config_4lw_allowed(&c, "srvr"));
}

/* An empty list still allows srvr (zkServer.sh depends on it) and
 * nothing else. */
static void test_4lw_empty(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "4lw.commands.whitelist", " , ", NULL, errmsg),
                   0);
  assert_string_equal(c.four_letter_whitelist, "");
  assert_true(srv_config_4lw_allowed(&c, "srvr"));
  assert_false(srv_config_4lw_allowed(&c, "ruok"));
}

/* ------------------------------------------------------------------ */
/* srv_config_finish. */

/* Session timeouts default to 2 and 20 ticks and dataLogDir to dataDir. */
static void test_finish_defaults(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(set_key(&c, "tickTime", "300", NULL, errmsg), 0);
  assert_int_equal(set_key(&c, "dataDir", "/var/roost", NULL, errmsg), 0);
  assert_int_equal(srv_config_finish(&c, errmsg), 0);
  assert_int_equal(c.min_session_timeout_ms, 600);
  assert_int_equal(c.max_session_timeout_ms, 6000);
  assert_string_equal(c.data_log_dir, "/var/roost");
  /* Running it twice changes nothing. */
  assert_int_equal(srv_config_finish(&c, errmsg), 0);
  assert_int_equal(c.min_session_timeout_ms, 600);
  assert_int_equal(c.max_session_timeout_ms, 6000);
}

/* Explicit timeouts and dataLogDir are kept. */
static void test_finish_explicit(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  assert_int_equal(load_text(&c,
                             "minSessionTimeout=1000\nmaxSessionTimeout=1000\n"
                             "dataLogDir=/fast\n",
                             NULL, errmsg, NULL, 0),
                   0);
  assert_int_equal(srv_config_finish(&c, errmsg), 0);
  assert_int_equal(c.min_session_timeout_ms, 1000);
  assert_int_equal(c.max_session_timeout_ms, 1000);
  assert_string_equal(c.data_log_dir, "/fast");
  assert_string_equal(c.data_dir, "./data");
}

/* min > max fails, also when one side is derived from tickTime. */
static void test_finish_min_above_max(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  c.min_session_timeout_ms = 5000;
  c.max_session_timeout_ms = 4000;
  assert_int_equal(srv_config_finish(&c, errmsg), -1);
  assert_string_equal(errmsg, "minSessionTimeout (5000) must not be larger "
                              "than maxSessionTimeout (4000)");

  srv_config_defaults(&c); /* min = 2 * 2000 > max */
  c.max_session_timeout_ms = 3000;
  assert_int_equal(srv_config_finish(&c, errmsg), -1);
  assert_non_null(strstr(errmsg, "minSessionTimeout (4000)"));

  srv_config_defaults(&c); /* min > max = 20 * 2000 */
  c.min_session_timeout_ms = 40001;
  assert_int_equal(srv_config_finish(&c, errmsg), -1);
  assert_non_null(strstr(errmsg, "maxSessionTimeout (40000)"));
}

/* A tickTime whose 20 ticks overflow an int, or a non-positive tickTime
 * put in the struct directly, fails instead of wrapping. */
static void test_finish_bad_tick(void **state) {
  char errmsg[SRV_ERRMSG_MAX] = "";
  struct srv_config c;

  (void)state;
  srv_config_defaults(&c);
  c.tick_time_ms = 200000000;
  assert_int_equal(srv_config_finish(&c, errmsg), -1);
  assert_non_null(strstr(errmsg, "out of range"));
  c.max_session_timeout_ms = 2000000000; /* now only min is derived */
  assert_int_equal(srv_config_finish(&c, errmsg), 0);
  assert_int_equal(c.min_session_timeout_ms, 400000000);

  srv_config_defaults(&c);
  c.tick_time_ms = 0;
  assert_int_equal(srv_config_finish(&c, errmsg), -1);
  assert_non_null(strstr(errmsg, "tickTime"));
}

/* ---- order.c: a connection's order, pure bookkeeping ---- */

static void order_setup(struct srv *s, struct srv_conn *c) {
  memset(s, 0, sizeof *s);
  memset(c, 0, sizeof *c);
  c->srv = s;
  srv_map_init(&s->connecting);
  srv_map_init(&s->conn_by_id);
}

static void order_teardown(struct srv *s, struct srv_conn *c) {
  srv_order_forget(c);
  srv_map_free(&s->connecting);
  srv_map_free(&s->conn_by_id);
}

static void test_order_writes_pipeline_reads_wait(void **state) {
  (void)state;
  struct srv s;
  struct srv_conn c;
  order_setup(&s, &c);
  assert_true(srv_order_may_take(&c, false));
  assert_true(srv_order_push_write(&c, 1, 0, 0));
  assert_true(srv_order_push_write(&c, 2, 0, 0));
  /* A read must not overtake unanswered writes; another write may. */
  assert_false(srv_order_may_take(&c, false));
  assert_true(srv_order_may_take(&c, true));
  assert_true(srv_order_waits_for(&c, SRV_WAIT_WRITE, 1));
  assert_false(srv_order_waits_for(&c, SRV_WAIT_WRITE, 2));
  assert_true(srv_order_has_write(&c, 2));
  assert_null(srv_order_answered(&c));
  assert_true(srv_order_waits_for(&c, SRV_WAIT_WRITE, 2));
  assert_ptr_equal(srv_order_ready_pop(&s), &c); /* room again */
  assert_null(srv_order_ready_pop(&s));
  assert_null(srv_order_answered(&c));
  assert_true(srv_order_may_take(&c, false)); /* the wait is over */
  assert_ptr_equal(srv_order_ready_pop(&s), &c);
  order_teardown(&s, &c);
}

static void test_order_ring_full(void **state) {
  (void)state;
  struct srv s;
  struct srv_conn c;
  order_setup(&s, &c);
  for (int32_t i = 0; i < (int32_t)SRV_CONN_WRITES; i++)
    assert_true(srv_order_push_write(&c, i, 0, 0));
  assert_false(srv_order_may_take(&c, true)); /* bounded */
  assert_null(srv_order_answered(&c));
  assert_true(srv_order_may_take(&c, true));
  order_teardown(&s, &c);
}

static void test_order_own_errors_in_turn(void **state) {
  (void)state;
  struct srv s;
  struct srv_conn c;
  order_setup(&s, &c);
  assert_true(srv_order_push_write(&c, 7, 0, 0));
  assert_true(srv_order_push_write(&c, 8, -5, 0)); /* answered here */
  assert_true(srv_order_push_write(&c, 9, 0, 0));
  /* Answering 7 makes 8 the head: the caller answers it itself. */
  const struct srv_order_slot *next = srv_order_answered(&c);
  assert_non_null(next);
  assert_int_equal(next->cxid, 8);
  assert_int_equal(next->err, -5);
  assert_null(srv_order_answered(&c));
  assert_true(srv_order_waits_for(&c, SRV_WAIT_WRITE, 9));
  order_teardown(&s, &c);
}

static void test_order_reads_wait_between_writes(void **state) {
  (void)state;
  struct srv s;
  struct srv_conn c;
  order_setup(&s, &c);
  const uint8_t frame[8] = {0, 0, 0, 2, 0, 0, 0, 4};
  assert_true(srv_order_push_write(&c, 1, 0, 0));
  assert_true(srv_order_may_take(&c, true));
  assert_true(srv_order_push_read(&c, 2, frame, sizeof frame, 0));
  assert_true(srv_order_push_write(&c, 3, 0, 0));
  assert_true(srv_order_push_read(&c, 4, frame, sizeof frame, 0));
  /* Write 1 answered: the read behind it is next, with its frame. */
  const struct srv_order_slot *next = srv_order_answered(&c);
  assert_non_null(next);
  assert_int_equal(next->cxid, 2);
  assert_int_equal(next->frame_len, sizeof frame);
  assert_memory_equal(next->frame, frame, sizeof frame);
  /* Answered too: write 3 is awaited now. */
  assert_null(srv_order_answered(&c));
  assert_true(srv_order_waits_for(&c, SRV_WAIT_WRITE, 3));
  /* Closing with a read still in the ring frees its copy (ASan). */
  order_teardown(&s, &c);
}

static void test_order_connect_forgotten(void **state) {
  (void)state;
  struct srv s;
  struct srv_conn c;
  order_setup(&s, &c);
  c.id = 5;
  assert_int_equal(srv_map_put(&s.conn_by_id, 5, &c), 0);
  assert_int_equal(srv_connecting_put(&s, 42, 5), 0);
  srv_order_block(&c, SRV_WAIT_CONNECT, 42);
  assert_false(srv_order_may_take(&c, true));
  /* Closing forgets the createSession in flight: the commit finds no
   * connection to answer. */
  srv_order_forget(&c);
  assert_null(srv_connecting_take(&s, 42));
  assert_int_equal(srv_connecting_put(&s, 43, 5), 0);
  srv_order_block(&c, SRV_WAIT_CONNECT, 43);
  assert_ptr_equal(srv_connecting_take(&s, 43), &c);
  order_teardown(&s, &c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_load_zoo_sample),
      cmocka_unit_test(test_load_debian_example),
      cmocka_unit_test(test_load_ensemble),
      cmocka_unit_test(test_server_line_client_part),
      cmocka_unit_test(test_behaviour_keys),
      cmocka_unit_test(test_output_budget_key),
      cmocka_unit_test(test_load_all_keys),
      cmocka_unit_test(test_load_roost_cfg),
      cmocka_unit_test(test_syntax_properties),
      cmocka_unit_test(test_syntax_crlf),
      cmocka_unit_test(test_syntax_edges),
      cmocka_unit_test(test_syntax_bad_escape),
      cmocka_unit_test(test_syntax_no_separator),
      cmocka_unit_test(test_syntax_limits),
      cmocka_unit_test(test_load_missing_file),
      cmocka_unit_test(test_load_directory),
      cmocka_unit_test(test_load_failure_is_atomic),
      cmocka_unit_test(test_load_layers),
      cmocka_unit_test(test_set_every_key),
      cmocka_unit_test(test_set_aliases),
      cmocka_unit_test(test_set_failure_is_atomic),
      cmocka_unit_test(test_bad_values_set),
      cmocka_unit_test(test_bad_values_file),
      cmocka_unit_test(test_bad_value_message),
      cmocka_unit_test(test_bad_value_long),
      cmocka_unit_test(test_string_lengths),
      cmocka_unit_test(test_int_edges),
      cmocka_unit_test(test_jute_decode),
      cmocka_unit_test(test_bool_values),
      cmocka_unit_test(test_zk_keys_accepted),
      cmocka_unit_test(test_tls_keys),
      cmocka_unit_test(test_super_digest_and_reaper_keys),
      cmocka_unit_test(test_reconfig_keys),
      cmocka_unit_test(test_unknown_keys),
      cmocka_unit_test(test_bad_indexed_keys),
      cmocka_unit_test(test_4lw_list),
      cmocka_unit_test(test_4lw_star),
      cmocka_unit_test(test_4lw_empty),
      cmocka_unit_test(test_finish_defaults),
      cmocka_unit_test(test_order_writes_pipeline_reads_wait),
      cmocka_unit_test(test_order_ring_full),
      cmocka_unit_test(test_order_own_errors_in_turn),
      cmocka_unit_test(test_order_connect_forgotten),
      cmocka_unit_test(test_order_reads_wait_between_writes),
      cmocka_unit_test(test_finish_explicit),
      cmocka_unit_test(test_finish_min_above_max),
      cmocka_unit_test(test_finish_bad_tick),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
