/* Unit tests of dns/: the codec (names with compression pointers, query
 * parsing, the builder), the instance layouts, and answers built from a
 * real tree (tree_prep + tree_apply), incl. every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "tests/unit/dns_tree_fx.h"

/* ------------------------------------------------------------------ */
/* Helpers. */

struct msg {
  uint8_t b[DNS_MSG_MAX];
  size_t n;
};

static void put16(struct msg *m, uint16_t v) {
  m->b[m->n++] = (uint8_t)(v >> 8);
  m->b[m->n++] = (uint8_t)v;
}

static void put_bytes(struct msg *m, const void *p, size_t n) {
  memcpy(m->b + m->n, p, n);
  m->n += n;
}

static void header(struct msg *m, uint16_t id, uint16_t flags, uint16_t qd,
                   uint16_t an, uint16_t ns, uint16_t ar) {
  m->n = 0;
  put16(m, id);
  put16(m, flags);
  put16(m, qd);
  put16(m, an);
  put16(m, ns);
  put16(m, ar);
}

/* Text to wire keeping the case (dns_name_from_text folds it). */
static void put_name(struct msg *m, const char *text) {
  uint8_t w[DNS_NAME_MAX];
  int n = dns_name_from_text(text, w);
  assert_true(n > 0);
  /* Copy the letters back from text, label by label. */
  size_t pos = 0;
  const char *p = text;
  while (w[pos] != 0) {
    memcpy(w + pos + 1, p, w[pos]);
    p += w[pos] + 1;
    pos += 1 + (size_t)w[pos];
  }
  put_bytes(m, w, (size_t)n);
}

static void put_opt(struct msg *m, uint16_t payload, uint8_t version) {
  m->b[m->n++] = 0;
  put16(m, DNS_TYPE_OPT);
  put16(m, payload);
  put16(m, version); /* ext rcode 0, version */
  put16(m, 0);
  put16(m, 0);
}

/* A standard query; payload 0 = no EDNS. */
static void query(struct msg *m, uint16_t id, const char *name, uint16_t type,
                  uint16_t payload) {
  header(m, id, 0x0100, 1, 0, 0, payload ? 1 : 0);
  put_name(m, name);
  put16(m, type);
  put16(m, DNS_CLASS_IN);
  if (payload)
    put_opt(m, payload, 0);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

struct reply {
  uint8_t b[DNS_MSG_MAX];
  size_t n;
  int rcode;
  bool tc, aa;
  uint16_t counts[4];
};

static void answer(struct dns *d, struct tree *t, const struct msg *q, bool tcp,
                   struct reply *r) {
  r->n = dns_answer(d, t, q->b, q->n, tcp, r->b, sizeof r->b);
  assert_true(r->n >= DNS_HEADER_LEN);
  assert_int_equal(dns_msg_check(r->b, r->n, r->counts), 0);
  assert_int_equal(rd16(r->b), rd16(q->b));
  r->rcode = r->b[3] & 0xF;
  r->tc = (r->b[2] & 0x02) != 0;
  r->aa = (r->b[2] & 0x04) != 0;
}

/* The tree most tests answer from. */
static struct tree *web_tree(void) {
  struct tree *t = fx_tree_new();
  assert_non_null(t);
  assert_int_equal(fx_create(t, "/services", NULL, 0), 0);
  assert_int_equal(fx_create(t, "/services/web", NULL, 0), 0);
  assert_int_equal(
      fx_create(t, "/services/web/a",
                "{\"address\":\"10.0.0.1\",\"port\":8080,\"tags\":[\"blue\"],"
                "\"weights\":{\"passing\":10,\"warning\":1}}",
                1),
      0);
  assert_int_equal(fx_create(t, "/services/web/b", "10.0.0.2:8081", 1), 0);
  assert_int_equal(fx_create(t, "/services/web/c",
                             "{\"address\":\"10.0.0.3\",\"port\":80,\"status\":"
                             "\"critical\"}",
                             1),
                   0);
  return t;
}

static struct dns *new_dns(void) {
  struct dns_config c;
  dns_config_defaults(&c);
  char em[256];
  struct dns *d = dns_new(&c, em, sizeof em);
  assert_non_null(d);
  return d;
}

/* ------------------------------------------------------------------ */
/* Names. */

/* Plain and compressed names decode, lowercased, and *off lands after the
 * name as it sits in the message. */
static void test_name_decode_ok(void **state) {
  (void)state;
  uint8_t m[] = {3,   'W', 'e', 'b', 5,   'r',  'o', 'o',
                 's', 't', 0,   1,   'x', 0xC0, 4};
  uint8_t out[DNS_NAME_MAX];
  size_t off = 0, n;
  assert_int_equal(dns_name_decode(m, sizeof m, &off, out, &n), 0);
  assert_int_equal(off, 11);
  assert_int_equal(n, 11);
  assert_memory_equal(out, "\3web\5roost", 11);
  off = 11;
  assert_int_equal(dns_name_decode(m, sizeof m, &off, out, &n), 0);
  assert_int_equal(off, sizeof m);
  assert_memory_equal(out, "\1x\5roost", 9);
  char text[64];
  assert_int_equal(dns_name_to_text(out, n, text, sizeof text), 8);
  assert_string_equal(text, "x.roost.");
}

/* Pointer loops (self, mutual, forward) are refused, as are reserved
 * label types, truncation, labels over 63 and names over 255 bytes. */
static void test_name_decode_hostile(void **state) {
  (void)state;
  uint8_t out[DNS_NAME_MAX];
  size_t off, n;
  uint8_t self[] = {0xC0, 0x00};
  off = 0;
  assert_int_equal(dns_name_decode(self, sizeof self, &off, out, &n), -1);
  /* 0: "a" then pointer to 4; 4: pointer back to 0 -> a loop through a
   * forward pointer, refused at the forward hop. */
  uint8_t mutual[] = {1, 'a', 0xC0, 4, 0xC0, 0};
  off = 0;
  assert_int_equal(dns_name_decode(mutual, sizeof mutual, &off, out, &n), -1);
  off = 4; /* the backward pointer alone leads into the forward one */
  assert_int_equal(dns_name_decode(mutual, sizeof mutual, &off, out, &n), -1);
  uint8_t reserved[] = {0x40, 'a', 0};
  off = 0;
  assert_int_equal(dns_name_decode(reserved, sizeof reserved, &off, out, &n),
                   -1);
  uint8_t trunc[] = {5, 'a', 'b'};
  off = 0;
  assert_int_equal(dns_name_decode(trunc, sizeof trunc, &off, out, &n), -1);
  uint8_t half_ptr[] = {0xC0};
  off = 0;
  assert_int_equal(dns_name_decode(half_ptr, sizeof half_ptr, &off, out, &n),
                   -1);
  uint8_t no_end[] = {1, 'a'};
  off = 0;
  assert_int_equal(dns_name_decode(no_end, sizeof no_end, &off, out, &n), -1);
  /* 5 labels of 63 bytes: 320 bytes > 255. */
  uint8_t big[5 * 64 + 1];
  for (int i = 0; i < 5; i++) {
    big[i * 64] = 63;
    memset(big + i * 64 + 1, 'a', 63);
  }
  big[320] = 0;
  off = 0;
  assert_int_equal(dns_name_decode(big, sizeof big, &off, out, &n), -1);
  /* 255 exactly is fine: 3 x 63 + 1 x 61 + root = 4*1+189+61+1 = 255. */
  uint8_t max[255];
  size_t k = 0;
  for (int i = 0; i < 3; i++) {
    max[k++] = 63;
    memset(max + k, 'b', 63);
    k += 63;
  }
  max[k++] = 61;
  memset(max + k, 'c', 61);
  k += 61;
  max[k++] = 0;
  assert_int_equal(k, 255);
  off = 0;
  assert_int_equal(dns_name_decode(max, k, &off, out, &n), 0);
  assert_int_equal(n, 255);
  /* Labels chained by backward pointers still count toward 255: each
   * 63-byte label points back to the previous one. */
  uint8_t chain[8 * 66];
  size_t c = 0;
  chain[c++] = 0; /* offset 0: the root */
  size_t prev = 0;
  for (int i = 0; i < 7; i++) {
    size_t here = c;
    chain[c++] = 63;
    memset(chain + c, 'd', 63);
    c += 63;
    chain[c++] = (uint8_t)(0xC0 | prev >> 8);
    chain[c++] = (uint8_t)prev;
    prev = here;
  }
  off = prev;
  assert_int_equal(dns_name_decode(chain, c, &off, out, &n), -1);
}

/* Text <-> wire: labels of 1..63, 255 in all, escapes for odd bytes. */
static void test_name_text(void **state) {
  (void)state;
  uint8_t w[DNS_NAME_MAX];
  assert_int_equal(dns_name_from_text("Roost.", w), 7);
  assert_memory_equal(w, "\5roost", 7);
  assert_int_equal(dns_name_from_text(".", w), 1);
  assert_int_equal(dns_name_from_text("a..b", w), -1);
  char l64[80];
  memset(l64, 'a', 64);
  l64[64] = 0;
  assert_int_equal(dns_name_from_text(l64, w), -1);
  l64[63] = 0;
  assert_int_equal(dns_name_from_text(l64, w), 65);
  uint8_t odd[] = {2, 'a', '.', 0};
  char text[32];
  assert_true(dns_name_to_text(odd, sizeof odd, text, sizeof text) > 0);
  assert_string_equal(text, "a\\046.");
  uint8_t bad[] = {5, 'a', 0};
  assert_int_equal(dns_name_to_text(bad, sizeof bad, text, sizeof text), -1);
}

/* ------------------------------------------------------------------ */
/* Query parsing. */

/* A query with EDNS parses; responses and runts are dropped; non-QUERY
 * opcodes are NOTIMP; bad counts, trailing bytes, two OPTs, a truncated
 * question are FORMERR. */
static void test_query_parse(void **state) {
  (void)state;
  struct msg m;
  struct dns_query q;
  query(&m, 7, "Web.service.roost", DNS_TYPE_SRV, 4096);
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_OK);
  assert_int_equal(q.id, 7);
  assert_true(q.rd);
  assert_int_equal(q.qtype, DNS_TYPE_SRV);
  assert_true(q.edns);
  assert_int_equal(q.edns_payload, 4096);
  assert_memory_equal(q.qname, "\3web", 4);
  assert_memory_equal(q.qname_orig, "\3Web", 4);

  assert_int_equal(dns_query_parse(m.b, 11, &q), DNS_PARSE_DROP);
  m.b[2] |= 0x80;
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_DROP);
  m.b[2] = (uint8_t)(4 << 3); /* NOTIFY */
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_NOTIMP);

  query(&m, 7, "a.roost", DNS_TYPE_A, 0);
  m.b[5] = 2; /* QDCOUNT 2 */
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_FORMERR);
  query(&m, 7, "a.roost", DNS_TYPE_A, 0);
  m.b[7] = 1; /* ANCOUNT 1 */
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_FORMERR);
  query(&m, 7, "a.roost", DNS_TYPE_A, 0);
  m.b[m.n++] = 0;
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_FORMERR);
  query(&m, 7, "a.roost", DNS_TYPE_A, 512);
  m.b[11] = 2;
  put_opt(&m, 512, 0);
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_FORMERR);
  query(&m, 7, "a.roost", DNS_TYPE_A, 0);
  assert_int_equal(dns_query_parse(m.b, m.n - 1, &q), DNS_PARSE_FORMERR);
  /* An OPT whose option runs past its rdata. */
  query(&m, 7, "a.roost", DNS_TYPE_A, 0);
  m.b[11] = 1;
  m.b[m.n++] = 0;
  put16(&m, DNS_TYPE_OPT);
  put16(&m, 1232);
  put16(&m, 0);
  put16(&m, 0);
  put16(&m, 4); /* rdlen 4: one option header claiming 9 bytes */
  put16(&m, 10);
  put16(&m, 9);
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_FORMERR);
  /* A small advertised size counts as 512. */
  query(&m, 7, "a.roost", DNS_TYPE_A, 100);
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_OK);
  assert_int_equal(q.edns_payload, 512);
}

/* The builder compresses repeated names and never passes its limit. */
static void test_builder(void **state) {
  (void)state;
  struct dns_query q;
  struct msg m;
  query(&m, 1, "web.service.roost", DNS_TYPE_A, 0);
  assert_int_equal(dns_query_parse(m.b, m.n, &q), DNS_PARSE_OK);
  uint8_t buf[600];
  struct dns_builder b;
  assert_int_equal(
      dns_builder_init(&b, buf, sizeof buf, 512, &q, true, 0, true), 0);
  size_t after_q = b.len;
  uint8_t a[4] = {10, 0, 0, 1};
  assert_int_equal(
      dns_builder_rr(&b, q.qname, q.qname_len, DNS_TYPE_A, 0, a, 4), 0);
  /* The owner is a 2-byte pointer to the question: 2 + 10 + 4. */
  assert_int_equal(b.len - after_q, 16);
  int n = 1;
  while (dns_builder_rr(&b, q.qname, q.qname_len, DNS_TYPE_A, 0, a, 4) == 0)
    n++;
  assert_true(b.len <= 512);
  assert_int_equal(n, (512 - (int)after_q) / 16);
  uint16_t counts[4];
  assert_int_equal(dns_msg_check(buf, b.len, counts), 0);
  assert_int_equal(counts[1], n);
}

/* ------------------------------------------------------------------ */
/* Instances. */

/* Roost's layout: address/host, port, tags, weights by status, priority,
 * status; unknown statuses count as critical. */
static void test_instance_roost(void **state) {
  (void)state;
  struct dns_instance in;
  const char *j = "{\"address\":\"10.1.2.3\",\"host\":\"x\",\"port\":443,"
                  "\"tags\":[\"a\",\"\",3,\"b\"],\"weight\":7,\"weights\":{"
                  "\"passing\":5,\"warning\":2},\"status\":\"warning\","
                  "\"priority\":3,\"meta\":{},\"checks\":[]}";
  assert_int_equal(dns_instance_parse((const uint8_t *)j, strlen(j), &in), 0);
  assert_string_equal(in.host, "10.1.2.3");
  assert_int_equal(in.family, 4);
  assert_int_equal(in.port, 443);
  assert_int_equal(in.n_tags, 2);
  assert_string_equal(in.tags[1], "b");
  assert_int_equal(in.status, DNS_STATUS_WARNING);
  assert_int_equal(in.weight, 2);
  assert_int_equal(in.priority, 3);
  dns_instance_clear(&in);

  j = "{\"host\":\"Svc-1.example.com.\",\"port\":80,\"weight\":7}";
  assert_int_equal(dns_instance_parse((const uint8_t *)j, strlen(j), &in), 0);
  assert_int_equal(in.family, 0);
  assert_int_equal(in.weight, 7);
  assert_int_equal(in.priority, 1);
  assert_int_equal(in.status, DNS_STATUS_PASSING);
  dns_instance_clear(&in);

  j = "{\"address\":\"::1\",\"port\":80,\"status\":\"maintenance\"}";
  assert_int_equal(dns_instance_parse((const uint8_t *)j, strlen(j), &in), 0);
  assert_int_equal(in.family, 6);
  assert_int_equal(in.status, DNS_STATUS_CRITICAL);
  assert_int_equal(in.weight, 1);
  dns_instance_clear(&in);

  static const char *const bad[] = {
      "{\"port\":80}",                           /* no address */
      "{\"address\":\"bad host!\",\"port\":80}", /* not a name */
      "{\"address\":\"a..b\",\"port\":80}",      /* empty label */
      "{\"address\":\"10.0.0.1\",\"port\":80",   /* not JSON */
      "[1,2]",                                   /* not an object */
      "{\"address\":\"a\",\"address\":\"b\"}",   /* duplicate key */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(
        dns_instance_parse((const uint8_t *)bad[i], strlen(bad[i]), &in), -1);
  /* A port out of range: an instance without SRV. */
  j = "{\"address\":\"10.0.0.1\",\"port\":70000}";
  assert_int_equal(dns_instance_parse((const uint8_t *)j, strlen(j), &in), 0);
  assert_int_equal(in.port, 0);
  dns_instance_clear(&in);
}

/* Curator's ServiceInstance: sslPort when port is null, enabled=false is
 * not answered. */
static void test_instance_curator(void **state) {
  (void)state;
  struct dns_instance in;
  const char *j =
      "{\"name\":\"web\",\"id\":\"ca2fff8e\",\"address\":\"10.20.30.40\","
      "\"port\":null,\"sslPort\":8443,\"payload\":null,"
      "\"registrationTimeUTC\":1325129459728,\"serviceType\":\"DYNAMIC\","
      "\"uriSpec\":{\"parts\":[{\"value\":\"x\",\"variable\":false}]}}";
  assert_int_equal(dns_instance_parse((const uint8_t *)j, strlen(j), &in), 0);
  assert_int_equal(in.port, 8443);
  assert_int_equal(in.status, DNS_STATUS_PASSING);
  dns_instance_clear(&in);
  j = "{\"name\":\"web\",\"id\":\"x\",\"address\":\"10.0.0.1\",\"port\":1,"
      "\"enabled\":false}";
  assert_int_equal(dns_instance_parse((const uint8_t *)j, strlen(j), &in), 0);
  assert_int_equal(in.status, DNS_STATUS_CRITICAL);
  dns_instance_clear(&in);
}

/* Plain host:port and [v6]:port; anything else is refused. */
static void test_instance_plain(void **state) {
  (void)state;
  struct dns_instance in;
  const char *ok[] = {"10.0.0.9:81\n", "[fe80::1]:443", "db-1.local:5432"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(
        dns_instance_parse((const uint8_t *)ok[i], strlen(ok[i]), &in), 0);
    assert_true(in.port > 0);
    dns_instance_clear(&in);
  }
  const char *bad[] = {"10.0.0.9",   "10.0.0.9:0",  "10.0.0.9:65536",
                       "fe80::1:80", ":80",         "[10.0.0.1]:80",
                       "a b:80",     "10.0.0.9:8x", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(
        dns_instance_parse((const uint8_t *)bad[i], strlen(bad[i]), &in), -1);
  const uint8_t nul[] = {'a', 0, ':', '8', '0'};
  assert_int_equal(dns_instance_parse(nul, sizeof nul, &in), -1);
}

/* ------------------------------------------------------------------ */
/* Answers. */

/* SRV: the passing instances (not the critical one), with their weights
 * and A glue; names compressed; AA set; EDNS echoed. */
static void test_answer_srv(void **state) {
  (void)state;
  struct tree *t = web_tree();
  struct dns *d = new_dns();
  struct msg q;
  static struct reply r;
  query(&q, 42, "WEB.service.roost", DNS_TYPE_SRV, 1232);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
  assert_true(r.aa);
  assert_int_equal(r.counts[1], 2);
  assert_int_equal(r.counts[3], 3); /* 2 A + OPT */
  dns_free(d);
  tree_free(t);
}

/* Tag filters in both spellings; A and AAAA; NODATA vs NXDOMAIN. */
static void test_answer_names(void **state) {
  (void)state;
  struct tree *t = web_tree();
  struct dns *d = new_dns();
  struct msg q;
  static struct reply r;
  query(&q, 1, "blue.web.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 1);
  query(&q, 1, "_web._blue.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 1);
  query(&q, 1, "_web._tcp.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 2);
  query(&q, 1, "_web._tcp.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 2);
  query(&q, 1, "green.web.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
  assert_int_equal(r.counts[2], 1); /* SOA */
  query(&q, 1, "web.service.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 2);
  query(&q, 1, "web.service.roost", DNS_TYPE_AAAA, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
  assert_int_equal(r.counts[1], 0);
  assert_int_equal(r.counts[2], 1);
  query(&q, 1, "web.service.roost", DNS_TYPE_TXT, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
  assert_int_equal(r.counts[1], 0);
  query(&q, 1, "0a000001.addr.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 1);
  assert_memory_equal(r.b + r.n - 4, "\x0a\x00\x00\x01", 4);
  query(&q, 1, "zz000001.addr.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
  query(&q, 1, "nope.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
  query(&q, 1, "service.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
  query(&q, 1, "roost", DNS_TYPE_SOA, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 1);
  query(&q, 1, "a.b.c.d.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
  /* A label that is not a single path component never reaches the tree
   * as a path. */
  header(&q, 1, 0x0100, 1, 0, 0, 0);
  put_bytes(&q, "\2..\7service\5roost\0", 18);
  put16(&q, DNS_TYPE_A);
  put16(&q, DNS_CLASS_IN);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
  dns_free(d);
  tree_free(t);
}

/* Refusals: other zones REFUSED (not authoritative), other classes and
 * zone transfers REFUSED, NOTIMP, FORMERR, BADVERS, no tree SERVFAIL. */
static void test_answer_refusals(void **state) {
  (void)state;
  struct tree *t = web_tree();
  struct dns *d = new_dns();
  struct msg q;
  static struct reply r;
  query(&q, 1, "example.com", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_REFUSED);
  assert_false(r.aa);
  query(&q, 1, "xroost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_REFUSED);
  query(&q, 1, "roost", DNS_TYPE_AXFR, 0);
  answer(d, t, &q, true, &r);
  assert_int_equal(r.rcode, DNS_RCODE_REFUSED);
  query(&q, 1, "web.service.roost", DNS_TYPE_A, 0);
  q.b[q.n - 1] = 3; /* class CH */
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_REFUSED);
  query(&q, 1, "web.service.roost", DNS_TYPE_A, 0);
  q.b[2] = (uint8_t)(2 << 3 | 1); /* STATUS */
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NOTIMP);
  query(&q, 9, "web.service.roost", DNS_TYPE_A, 0);
  q.n -= 3;
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_FORMERR);
  assert_int_equal(r.counts[0], 0);
  query(&q, 1, "web.service.roost", DNS_TYPE_A, 0);
  q.b[q.n++] = 0;
  q.b[11] = 1;
  put16(&q, DNS_TYPE_OPT);
  put16(&q, 1232);
  put16(&q, 1); /* version 1 */
  put16(&q, 0);
  put16(&q, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, 0);      /* BADVERS = 16: low bits 0 ... */
  assert_int_equal(r.b[r.n - 6], 1); /* ... high bits 1 in the OPT TTL */
  query(&q, 1, "web.service.roost", DNS_TYPE_A, 0);
  answer(d, NULL, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_SERVFAIL);
  /* A response is never answered. */
  q.b[2] |= 0x80;
  uint8_t out[512];
  assert_int_equal(dns_answer(d, t, q.b, q.n, false, out, sizeof out), 0);
  struct dns_stats st;
  dns_stats_get(d, &st);
  assert_int_equal(st.dropped, 1);
  assert_true(st.by_rcode[DNS_RCODE_REFUSED] >= 4);
  dns_free(d);
  tree_free(t);
}

/* Many instances: UDP without EDNS stops at 512 bytes with TC, with EDNS
 * at the advertised size, TCP carries them all. */
static void test_answer_truncation(void **state) {
  (void)state;
  struct tree *t = fx_tree_new();
  assert_int_equal(fx_create(t, "/services", NULL, 0), 0);
  assert_int_equal(fx_create(t, "/services/Big", NULL, 0), 0);
  char path[64], data[80];
  for (int i = 0; i < 100; i++) {
    snprintf(path, sizeof path, "/services/Big/i-%03d", i);
    snprintf(data, sizeof data, "{\"address\":\"10.1.0.%d\",\"port\":%d}",
             i + 1, 2000 + i);
    assert_int_equal(fx_create(t, path, data, 1), 0);
  }
  struct dns *d = new_dns();
  struct msg q;
  static struct reply r;
  query(&q, 3, "big.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_true(r.tc);
  assert_true(r.n <= 512);
  assert_true(r.counts[1] > 5 && r.counts[1] < 100);
  query(&q, 3, "big.service.roost", DNS_TYPE_SRV, 1232);
  answer(d, t, &q, false, &r);
  assert_true(r.tc);
  assert_true(r.n <= 1232);
  assert_int_equal(r.counts[3] > 0, 1); /* the OPT always fits */
  query(&q, 3, "big.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, true, &r);
  assert_false(r.tc);
  assert_int_equal(r.counts[1], 100);
  assert_int_equal(r.counts[3], 100);
  query(&q, 3, "big.service.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_true(r.tc);
  assert_true(r.n <= 512);
  dns_free(d);
  tree_free(t);
}

/* A change in the tree shows in the next answer: a status flip, a
 * delete, a new instance, a new service (the cache never hides it). */
static void test_answer_follows_tree(void **state) {
  (void)state;
  struct tree *t = web_tree();
  struct dns *d = new_dns();
  struct msg q;
  static struct reply r;
  query(&q, 1, "web.service.roost", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 2);
  answer(d, t, &q, false, &r); /* served from the cache */
  assert_int_equal(r.counts[1], 2);
  assert_int_equal(fx_set(t, "/services/web/c",
                          "{\"address\":\"10.0.0.3\",\"port\":80,"
                          "\"status\":\"passing\"}"),
                   0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 3);
  assert_int_equal(fx_delete(t, "/services/web/b"), 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 2);
  assert_int_equal(fx_create(t, "/services/web/z", "10.0.0.26:1", 1), 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 3);
  /* A write elsewhere: the entry is checked, not rebuilt. */
  assert_int_equal(fx_create(t, "/other", NULL, 0), 0);
  struct dns_stats before, after;
  dns_stats_get(d, &before);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 3);
  dns_stats_get(d, &after);
  assert_int_equal(after.cache_hits, before.cache_hits + 1);
  query(&q, 1, "api.service.roost", DNS_TYPE_A, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
  assert_int_equal(fx_create(t, "/services/api", NULL, 0), 0);
  assert_int_equal(fx_create(t, "/services/api/x", "10.9.0.1:80", 1), 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 1);
  dns_free(d);
  tree_free(t);
}

/* One address behind several instances: one A record, one glue record;
 * an instance without a port gets an A record but no SRV and no glue, and
 * does not hide the glue of an instance with the same address. */
static void test_answer_dedupe(void **state) {
  (void)state;
  struct tree *t = fx_tree_new();
  assert_int_equal(fx_create(t, "/services", NULL, 0), 0);
  assert_int_equal(fx_create(t, "/services/db", NULL, 0), 0);
  assert_int_equal(
      fx_create(t, "/services/db/a", "{\"address\":\"10.8.0.1\"}", 1), 0);
  assert_int_equal(fx_create(t, "/services/db/b", "10.8.0.1:5432", 1), 0);
  assert_int_equal(fx_create(t, "/services/db/c", "10.8.0.1:5433", 1), 0);
  struct dns *d = new_dns();
  struct msg q;
  static struct reply r;
  for (uint16_t id = 0; id < 3; id++) { /* every rotation */
    query(&q, id, "db.service.roost", DNS_TYPE_SRV, 0);
    answer(d, t, &q, false, &r);
    assert_int_equal(r.counts[1], 2);
    assert_int_equal(r.counts[3], 1);
    query(&q, id, "db.service.roost", DNS_TYPE_A, 0);
    answer(d, t, &q, false, &r);
    assert_int_equal(r.counts[1], 1);
  }
  dns_free(d);
  tree_free(t);
}

/* Curator under another base path, read beside Roost's root. */
static void test_answer_curator_base(void **state) {
  (void)state;
  struct tree *t = web_tree();
  assert_int_equal(fx_create(t, "/discovery", NULL, 0), 0);
  assert_int_equal(fx_create(t, "/discovery/web", NULL, 0), 0);
  assert_int_equal(
      fx_create(t, "/discovery/web/f00",
                "{\"name\":\"web\",\"id\":\"f00\",\"address\":\"10.7.0.1\","
                "\"port\":7000,\"serviceType\":\"DYNAMIC\"}",
                1),
      0);
  struct dns_config c;
  dns_config_defaults(&c);
  c.curator_base_path = "/discovery";
  c.domain = "disco.example";
  c.ttl_s = 30;
  char em[256];
  struct dns *d = dns_new(&c, em, sizeof em);
  assert_non_null(d);
  struct msg q;
  static struct reply r;
  query(&q, 1, "web.service.disco.example.", DNS_TYPE_SRV, 0);
  answer(d, t, &q, false, &r);
  assert_int_equal(r.counts[1], 3);
  dns_free(d);
  c.domain = "bad..domain";
  assert_null(dns_new(&c, em, sizeof em));
  c.domain = "roost";
  c.curator_base_path = "relative";
  assert_null(dns_new(&c, em, sizeof em));
  tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_decode_ok),
      cmocka_unit_test(test_name_decode_hostile),
      cmocka_unit_test(test_name_text),
      cmocka_unit_test(test_query_parse),
      cmocka_unit_test(test_builder),
      cmocka_unit_test(test_instance_roost),
      cmocka_unit_test(test_instance_curator),
      cmocka_unit_test(test_instance_plain),
      cmocka_unit_test(test_answer_srv),
      cmocka_unit_test(test_answer_names),
      cmocka_unit_test(test_answer_refusals),
      cmocka_unit_test(test_answer_truncation),
      cmocka_unit_test(test_answer_follows_tree),
      cmocka_unit_test(test_answer_dedupe),
      cmocka_unit_test(test_answer_curator_base),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
