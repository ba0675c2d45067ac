/* libFuzzer harness for the DNS interface (dns/): whatever arrives as a
 * query, from UDP or TCP, and whatever a node holds as instance data.
 *
 * For each input:
 *   1. dns_answer (UDP and TCP) against a tree holding every instance
 *      layout (Roost JSON with tags/weights/status, Curator JSON, plain
 *      host:port, host names, IPv6, critical ones, a service with enough
 *      instances to truncate).  An answer must be a well-formed message
 *      (dns_msg_check), echo the id, stay within its size limit, and the
 *      tree must be the same afterwards (zxid and figures every run,
 *      tree_digest every 512th).
 *   2. The input as a node's data: dns_instance_parse must either refuse
 *      it or give a usable instance (port, weight in range; a host).
 *   3. dns_name_decode at every offset: never reads out of bounds, and a
 *      decoded name is at most 255 bytes.
 *
 *   make fuzz-dns FUZZ_SECONDS=60        (clang, see tools/dns.mk)
 *
 * Linked with tests/fuzz/replay.c it is a plain program that runs the
 * checked-in corpus tests/fuzz/corpus_dns (and any files or directories
 * given), which `make unit` does on every test run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "tests/unit/dns_tree_fx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tree *g_tree;
static struct dns *g_dns;
static uint8_t g_digest[32];
static struct tree_stats g_stats;
static int64_t g_zxid;
static unsigned long g_runs;
static uint8_t g_out[DNS_MSG_MAX];

static void setup(void) {
  g_tree = fx_tree_new();
  if (g_tree == NULL)
    abort();
  fx_create(g_tree, "/services", NULL, 0);
  fx_create(g_tree, "/services/web", NULL, 0);
  fx_create(g_tree, "/services/web/a",
            "{\"address\":\"10.0.0.1\",\"port\":8080,\"tags\":[\"blue\","
            "\"v1\"],\"weights\":{\"passing\":10,\"warning\":1}}",
            1);
  fx_create(g_tree, "/services/web/b", "10.0.0.2:8081", 1);
  fx_create(g_tree, "/services/web/c",
            "{\"host\":\"db.example.com\",\"port\":80,\"status\":"
            "\"warning\"}",
            1);
  fx_create(g_tree, "/services/web/d",
            "{\"address\":\"10.0.0.4\",\"port\":80,\"status\":\"critical\"}",
            1);
  fx_create(g_tree, "/services/web/e",
            "{\"name\":\"web\",\"id\":\"e\",\"address\":\"fe80::1\","
            "\"port\":null,\"sslPort\":8443,\"serviceType\":\"DYNAMIC\"}",
            1);
  fx_create(g_tree, "/services/web/f", "[::1]:9000", 1);
  fx_create(g_tree, "/services/web/g", "not an instance", 1);
  fx_create(g_tree, "/services/Big", NULL, 0);
  char path[64], data[64];
  for (int i = 0; i < 120; i++) {
    snprintf(path, sizeof path, "/services/Big/i-%03d", i);
    snprintf(data, sizeof data, "{\"address\":\"10.1.%d.%d\",\"port\":%d}",
             i / 250, i % 250, 1000 + i);
    fx_create(g_tree, path, data, 1);
  }
  struct dns_config c;
  dns_config_defaults(&c);
  char em[256];
  g_dns = dns_new(&c, em, sizeof em);
  if (g_dns == NULL)
    abort();
  tree_digest(g_tree, g_digest);
  tree_stats_get(g_tree, &g_stats);
  g_zxid = tree_last_zxid(g_tree);
}

static void check_answer(const uint8_t *q, size_t qlen, bool tcp) {
  size_t n = dns_answer(g_dns, g_tree, q, qlen, tcp, g_out, sizeof g_out);
  if (n == 0)
    return;
  uint16_t counts[4];
  if (n < DNS_HEADER_LEN || dns_msg_check(g_out, n, counts) != 0)
    abort();
  if (qlen < 2 || g_out[0] != q[0] || g_out[1] != q[1])
    abort(); /* the id */
  if (!(g_out[2] & 0x80))
    abort(); /* QR */
  if (!tcp && n > 1232 && n > DNS_UDP_MIN)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_tree == NULL)
    setup();
  check_answer(data, size, false);
  check_answer(data, size, true);
  /* The tree is unchanged: cheap figures every time (watches included:
   * an answer must not leave one), the full digest now and then (it
   * costs more than the rest of the run). */
  struct tree_stats st;
  tree_stats_get(g_tree, &st);
  if (tree_last_zxid(g_tree) != g_zxid || memcmp(&st, &g_stats, sizeof st))
    abort();
  if (++g_runs % 512 == 1) {
    uint8_t d2[32];
    tree_digest(g_tree, d2);
    if (memcmp(d2, g_digest, 32) != 0)
      abort();
  }

  struct dns_instance in;
  if (dns_instance_parse(data, size, &in) == 0) {
    if (in.host[0] == '\0' || in.n_tags > DNS_TAGS_MAX ||
        (in.family != 0 && in.family != 4 && in.family != 6))
      abort();
    dns_instance_clear(&in);
  }

  for (size_t off = 0; off < size && off < 64; off++) {
    uint8_t name[DNS_NAME_MAX];
    size_t o = off, nl = 0;
    if (dns_name_decode(data, size, &o, name, &nl) == 0) {
      if (nl == 0 || nl > DNS_NAME_MAX || o > size || o <= off)
        abort();
      char text[1100];
      if (dns_name_to_text(name, nl, text, sizeof text) < 0)
        abort();
    }
  }
  return 0;
}

/* Called by tests/fuzz/replay.c once the corpus ran, so that a leak
 * check sees nothing of ours left. */
void replay_cleanup(void);
void replay_cleanup(void) {
  dns_free(g_dns);
  tree_free(g_tree);
  g_dns = NULL;
  g_tree = NULL;
}
