/* answer.c — struct dns: a query in, a response out, from the tree.
 *
 * Instances of a service are read from the tree (getChildren + getData as
 * an anonymous client, no watch) and kept parsed in a bounded cache.  An
 * entry is used as is while the tree's last zxid has not moved; otherwise
 * it is checked against the Stat of the service node (pzxid, aversion,
 * czxid) and of each instance node (czxid, mzxid, aversion) and rebuilt
 * when any differs: a change is visible on the next query, and a busy
 * tree costs a few hash lookups per instance rather than a JSON parse. */
#include "dns/dns_int.h"

#include "proto/proto.h"
#include "tree/tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROOTS 2
#define MAX_INSTANCES 4096 /* per service and root: a bound on work */
#define MAX_FIELD (1u << 24)

struct inst {
  char *name; /* child node name, owned */
  int64_t czxid, mzxid;
  int32_t aversion;
  bool ok; /* parsed into in */
  struct dns_instance in;
};

struct svc {
  struct svc *next; /* hash chain */
  char *key;        /* root index + '/' + lowercased label, owned */
  char *path;       /* the service node found (case as in the tree) */
  int64_t czxid, pzxid;
  int32_t aversion;
  int64_t checked_zxid;
  struct inst *inst;
  size_t n_inst;
};

#define N_BUCKETS 1024

/* The instances one answer uses (borrowed from cache entries). */
struct pick {
  const struct dns_instance *v[MAX_ROOTS * MAX_INSTANCES];
  size_t n;
};

struct dns {
  uint8_t zone[DNS_NAME_MAX];
  size_t zone_len;
  uint32_t ttl;
  char *roots[MAX_ROOTS];
  size_t n_roots;
  uint16_t udp_payload;
  size_t cache_max;
  size_t cache_n;
  struct svc *buckets[N_BUCKETS];
  const struct tree *cache_tree; /* entries belong to this tree */
  struct proto_writer w;         /* tree read scratch */
  struct pick pick;
  struct dns_stats stats;
};

void dns_config_defaults(struct dns_config *c) {
  memset(c, 0, sizeof *c);
  c->domain = "roost.";
  c->ttl_s = 0;
  c->services_path = "/services";
  c->curator_base_path = "/services";
  c->udp_payload = 1232;
  c->cache_services = 1024;
}

/* ------------------------------------------------------------------ */
/* Cache. */

static void svc_free(struct svc *s) {
  for (size_t i = 0; i < s->n_inst; i++) {
    free(s->inst[i].name);
    dns_instance_clear(&s->inst[i].in);
  }
  free(s->inst);
  free(s->key);
  free(s->path);
  free(s);
}

static void cache_clear(struct dns *d) {
  for (size_t b = 0; b < N_BUCKETS; b++) {
    while (d->buckets[b] != NULL) {
      struct svc *s = d->buckets[b];
      d->buckets[b] = s->next;
      svc_free(s);
    }
  }
  d->cache_n = 0;
}

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static struct svc **cache_slot(struct dns *d, const char *key) {
  struct svc **p = &d->buckets[hash_str(key) % N_BUCKETS];
  while (*p != NULL && strcmp((*p)->key, key) != 0)
    p = &(*p)->next;
  return p;
}

/* ------------------------------------------------------------------ */
/* Reading the tree. */

static int stat_of(struct tree *t, const char *path, struct proto_stat *st) {
  return tree_stat(t, path, strlen(path), st);
}

static int cmp_inst(const void *a, const void *b) {
  return strcmp(((const struct inst *)a)->name, ((const struct inst *)b)->name);
}

/* Children of path into a fresh array of names (sorted).  Returns the
 * count, or -1 (no such node, no READ permission, or out of memory). */
static long read_children(struct dns *d, struct tree *t, const char *path,
                          struct inst **out) {
  proto_writer_reset(&d->w);
  *out = NULL;
  if (tree_get_children(t, path, strlen(path), 0, false, NULL, &d->w) !=
          PROTO_OK ||
      proto_writer_err(&d->w) != PROTO_OK)
    return -1;
  struct proto_reader r;
  proto_reader_init(&r, d->w.buf, d->w.len, MAX_FIELD);
  int32_t n = proto_read_vector_count(&r);
  if (n > MAX_INSTANCES)
    n = MAX_INSTANCES;
  struct inst *v = n > 0 ? calloc((size_t)n, sizeof *v) : NULL;
  if (n > 0 && v == NULL)
    return -1;
  long k = 0;
  for (int32_t i = 0; i < n; i++) {
    struct proto_slice s = proto_read_buffer(&r);
    if (proto_reader_err(&r) != PROTO_OK || s.len <= 0)
      break;
    v[k].name = malloc((size_t)s.len + 1);
    if (v[k].name == NULL)
      break;
    memcpy(v[k].name, s.ptr, (size_t)s.len);
    v[k].name[s.len] = '\0';
    k++;
  }
  if (k > 1)
    qsort(v, (size_t)k, sizeof *v, cmp_inst);
  *out = v;
  return k;
}

/* Data of one instance node, parsed into it->in (it->ok). */
static void read_instance(struct dns *d, struct tree *t, const char *svc_path,
                          struct inst *it) {
  char path[8192];
  int n = snprintf(path, sizeof path, "%s/%s", svc_path, it->name);
  if (n < 0 || (size_t)n >= sizeof path)
    return;
  proto_writer_reset(&d->w);
  if (tree_get_data(t, path, (size_t)n, 0, NULL, &d->w) != PROTO_OK ||
      proto_writer_err(&d->w) != PROTO_OK)
    return;
  struct proto_reader r;
  proto_reader_init(&r, d->w.buf, d->w.len, MAX_FIELD);
  struct proto_slice data = proto_read_buffer(&r);
  struct proto_stat st;
  proto_read_stat(&r, &st);
  if (proto_reader_err(&r) != PROTO_OK)
    return;
  it->czxid = st.czxid;
  it->mzxid = st.mzxid;
  it->aversion = st.aversion;
  if (data.len > 0 &&
      dns_instance_parse(data.ptr, (size_t)data.len, &it->in) == 0)
    it->ok = true;
}

/* A label names a node only if it is a valid single path component. */
static bool label_usable(const uint8_t *l, size_t n) {
  if (n == 0 || (n == 1 && l[0] == '.') ||
      (n == 2 && l[0] == '.' && l[1] == '.'))
    return false;
  for (size_t i = 0; i < n; i++)
    if (l[i] == '/' || l[i] == 0)
      return false;
  return true;
}

static bool ieq(const char *a, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = b[i];
    if (x == 0)
      return false;
    if (x >= 'A' && x <= 'Z')
      x = (unsigned char)(x + 32);
    if (x != y) /* b is lowercased */
      return false;
  }
  return a[n] == '\0';
}

/* The service node's path under root for a (lowercased) label: the label
 * itself if such a node exists, else the first child of root equal to it
 * ignoring ASCII case (DNS names are case-insensitive, znode names are
 * not).  Returns a malloc'd path or NULL. */
static char *find_service(struct dns *d, struct tree *t, const char *root,
                          const uint8_t *label, size_t n) {
  size_t rl = strlen(root);
  char *p = malloc(rl + 1 + n + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, root, rl);
  p[rl] = '/';
  memcpy(p + rl + 1, label, n);
  p[rl + 1 + n] = '\0';
  struct proto_stat st;
  if (stat_of(t, p, &st) == PROTO_OK)
    return p;
  struct inst *kids;
  long k = read_children(d, t, root, &kids);
  bool found = false;
  for (long i = 0; i < k; i++) {
    if (!found && ieq(kids[i].name, label, n)) {
      memcpy(p + rl + 1, kids[i].name, n);
      found = true;
    }
    free(kids[i].name);
  }
  free(kids);
  if (!found) {
    free(p);
    return NULL;
  }
  return p;
}

/* Build (or rebuild) entry s from the tree.  Returns 0, or -1 when the
 * service node is gone. */
static int svc_load(struct dns *d, struct tree *t, struct svc *s) {
  for (size_t i = 0; i < s->n_inst; i++) {
    free(s->inst[i].name);
    dns_instance_clear(&s->inst[i].in);
  }
  free(s->inst);
  s->inst = NULL;
  s->n_inst = 0;
  struct proto_stat st;
  if (stat_of(t, s->path, &st) != PROTO_OK)
    return -1;
  s->czxid = st.czxid;
  s->pzxid = st.pzxid;
  s->aversion = st.aversion;
  long k = read_children(d, t, s->path, &s->inst);
  if (k < 0)
    k = 0; /* no READ on the service node: no instances */
  s->n_inst = (size_t)k;
  for (size_t i = 0; i < s->n_inst; i++)
    read_instance(d, t, s->path, &s->inst[i]);
  s->checked_zxid = tree_last_zxid(t);
  return 0;
}

/* Is entry s still what the tree says? */
static bool svc_fresh(struct tree *t, const struct svc *s) {
  struct proto_stat st;
  if (stat_of(t, s->path, &st) != PROTO_OK || st.czxid != s->czxid ||
      st.pzxid != s->pzxid || st.aversion != s->aversion)
    return false;
  char path[8192];
  for (size_t i = 0; i < s->n_inst; i++) {
    const struct inst *it = &s->inst[i];
    int n = snprintf(path, sizeof path, "%s/%s", s->path, it->name);
    if (n < 0 || (size_t)n >= sizeof path ||
        tree_stat(t, path, (size_t)n, &st) != PROTO_OK ||
        st.czxid != it->czxid || st.mzxid != it->mzxid ||
        st.aversion != it->aversion)
      return false;
  }
  return true;
}

/* The cache entry for (root, label), current with the tree, or NULL when
 * there is no such service. */
static struct svc *service_get(struct dns *d, struct tree *t, size_t root,
                               const uint8_t *label, size_t n) {
  if (!label_usable(label, n))
    return NULL;
  if (d->cache_tree != t) {
    cache_clear(d);
    d->cache_tree = t;
  }
  char key[8 + DNS_LABEL_MAX + 1];
  int kl = snprintf(key, sizeof key, "%zu/", root);
  memcpy(key + kl, label, n);
  key[(size_t)kl + n] = '\0';
  struct svc **slot = cache_slot(d, key);
  struct svc *s = *slot;
  if (s != NULL) {
    if (s->checked_zxid == tree_last_zxid(t)) {
      d->stats.cache_hits++;
      return s;
    }
    if (svc_fresh(t, s)) {
      s->checked_zxid = tree_last_zxid(t);
      d->stats.cache_hits++;
      return s;
    }
    /* Changed: drop it and look the name up again (the node may have
     * been replaced by another spelling). */
    *slot = s->next;
    svc_free(s);
    d->cache_n--;
  }
  d->stats.cache_misses++;
  char *path = find_service(d, t, d->roots[root], label, n);
  if (path == NULL)
    return NULL;
  s = calloc(1, sizeof *s);
  if (s == NULL || (s->key = strdup(key)) == NULL) {
    free(s);
    free(path);
    return NULL;
  }
  s->path = path;
  if (svc_load(d, t, s) != 0) {
    svc_free(s);
    return NULL;
  }
  s->next = *slot;
  *slot = s;
  d->cache_n++;
  return s;
}

/* ------------------------------------------------------------------ */
/* Selecting instances. */

static bool has_tag(const struct dns_instance *in, const uint8_t *tag,
                    size_t n) {
  for (size_t i = 0; i < in->n_tags; i++)
    if (ieq(in->tags[i], tag, n))
      return true;
  return false;
}

static void pick_instances(struct dns *d, struct tree *t,
                           const struct dns_qname_info *qi, struct pick *p) {
  p->n = 0;
  for (size_t r = 0; r < d->n_roots; r++) {
    struct svc *s = service_get(d, t, r, qi->service, qi->service_len);
    if (s == NULL)
      continue;
    for (size_t i = 0; i < s->n_inst; i++) {
      const struct dns_instance *in = &s->inst[i].in;
      if (!s->inst[i].ok || in->status == DNS_STATUS_CRITICAL)
        continue;
      if (qi->tag != NULL && !has_tag(in, qi->tag, qi->tag_len))
        continue;
      p->v[p->n++] = in;
    }
  }
}

/* ------------------------------------------------------------------ */
/* Answers. */

struct ctx {
  struct dns *d;
  struct tree *t;
  const struct dns_query *q;
  struct dns_builder b;
  bool tcp;
  uint16_t limit; /* message size limit incl. the OPT record */
};

static uint32_t serial_of(struct tree *t) {
  return t != NULL ? (uint32_t)tree_last_zxid(t) : 0;
}

static void negative(struct ctx *c, int rcode) {
  dns_builder_set_rcode(&c->b, rcode);
  dns_builder_section(&c->b, 2);
  (void)dns_builder_soa(&c->b, c->d->zone, c->d->zone_len, c->d->ttl,
                        serial_of(c->t));
}

static bool same_addr(const struct dns_instance *a,
                      const struct dns_instance *b) {
  return a->family == b->family &&
         memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

/* Was an equal address at an earlier rotated index of p (among the
 * instances with a port only, for SRV glue: the others got none)? */
static bool seen_before(const struct pick *p, size_t start, size_t k,
                        bool with_port) {
  const struct dns_instance *in = p->v[(start + k) % p->n];
  for (size_t j = 0; j < k; j++) {
    const struct dns_instance *o = p->v[(start + j) % p->n];
    if ((!with_port || o->port != 0) && same_addr(o, in))
      return true;
  }
  return false;
}

/* A/AAAA of the instances' addresses (deduplicated). */
static size_t answer_addrs(struct ctx *c, const struct pick *p, uint8_t fam,
                           size_t start) {
  size_t written = 0;
  for (size_t k = 0; k < p->n; k++) {
    const struct dns_instance *in = p->v[(start + k) % p->n];
    if (in->family != fam || seen_before(p, start, k, false))
      continue;
    if (dns_builder_rr(&c->b, c->q->qname_orig, c->q->qname_len,
                       fam == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA, c->d->ttl,
                       in->addr, fam == 4 ? 4 : 16) != 0) {
      if (!c->tcp)
        dns_builder_set_tc(&c->b);
      c->d->stats.truncated++;
      break;
    }
    written++;
  }
  return written;
}

static size_t target_of(struct ctx *c, const struct dns_instance *in,
                        uint8_t out[DNS_NAME_MAX]) {
  if (in->family != 0)
    return dns_addr_name(in->family, in->addr, c->d->zone, c->d->zone_len, out);
  int n = dns_name_from_text(in->host, out);
  return n > 0 ? (size_t)n : 0;
}

static size_t answer_srv(struct ctx *c, const struct pick *p, size_t start) {
  size_t written = 0;
  uint8_t target[DNS_NAME_MAX];
  for (size_t k = 0; k < p->n; k++) {
    const struct dns_instance *in = p->v[(start + k) % p->n];
    size_t tl = target_of(c, in, target);
    if (in->port == 0 || tl == 0)
      continue;
    if (dns_builder_srv(&c->b, c->q->qname_orig, c->q->qname_len, c->d->ttl,
                        in->priority, in->weight, in->port, target, tl) != 0) {
      if (!c->tcp)
        dns_builder_set_tc(&c->b);
      c->d->stats.truncated++;
      return written;
    }
    written++;
  }
  /* Glue for IP targets; what does not fit is left out (RFC 2181 9:
   * additional data does not set TC). */
  dns_builder_section(&c->b, 3);
  for (size_t k = 0; k < p->n; k++) {
    const struct dns_instance *in = p->v[(start + k) % p->n];
    if (in->family == 0 || in->port == 0 || seen_before(p, start, k, true))
      continue;
    size_t tl = target_of(c, in, target);
    if (dns_builder_rr(&c->b, target, tl,
                       in->family == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA, c->d->ttl,
                       in->addr, in->family == 4 ? 4 : 16) != 0)
      break;
  }
  return written;
}

static void answer_service(struct ctx *c, const struct dns_qname_info *qi) {
  struct pick *pk = &c->d->pick;
  pick_instances(c->d, c->t, qi, pk);
  const struct pick *p = pk;
  if (p->n == 0) {
    negative(c, DNS_RCODE_NXDOMAIN);
    return;
  }
  /* Rotate by the query id: clients that take the first record spread
   * over the instances, and the answer stays a function of the query. */
  size_t start = c->q->id % p->n, n = 0;
  switch (c->q->qtype) {
  case DNS_TYPE_SRV:
  case DNS_TYPE_ANY:
    n = answer_srv(c, p, start);
    break;
  case DNS_TYPE_A:
    n = answer_addrs(c, p, 4, start);
    break;
  case DNS_TYPE_AAAA:
    n = answer_addrs(c, p, 6, start);
    break;
  default:
    break;
  }
  if (n == 0 && c->b.counts[1] == 0 && !(c->b.buf[2] & 0x02))
    negative(c, DNS_RCODE_NOERROR); /* NODATA */
}

static void answer_addr_name(struct ctx *c, const struct dns_qname_info *qi) {
  uint16_t want = qi->family == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA;
  if (c->q->qtype == want || c->q->qtype == DNS_TYPE_ANY) {
    if (dns_builder_rr(&c->b, c->q->qname_orig, c->q->qname_len, want,
                       c->d->ttl, qi->addr, qi->family == 4 ? 4 : 16) == 0)
      return;
  }
  negative(c, DNS_RCODE_NOERROR);
}

static void answer_query(struct ctx *c) {
  const struct dns_query *q = c->q;
  struct dns_qname_info qi;
  dns_qname_classify(q->qname, q->qname_len, c->d->zone, c->d->zone_len, &qi);
  if (qi.kind == DNS_Q_OUTSIDE ||
      (q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY) ||
      q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR) {
    c->b.buf[2] &= (uint8_t)~0x04; /* not authoritative for that */
    dns_builder_set_rcode(&c->b, DNS_RCODE_REFUSED);
    return;
  }
  if (c->t == NULL) {
    dns_builder_set_rcode(&c->b, DNS_RCODE_SERVFAIL);
    return;
  }
  switch (qi.kind) {
  case DNS_Q_NONE:
    negative(c, DNS_RCODE_NXDOMAIN);
    break;
  case DNS_Q_APEX:
    if (q->qtype == DNS_TYPE_SOA || q->qtype == DNS_TYPE_ANY)
      (void)dns_builder_soa(&c->b, c->d->zone, c->d->zone_len, c->d->ttl,
                            serial_of(c->t));
    else
      negative(c, DNS_RCODE_NOERROR);
    break;
  case DNS_Q_EMPTY:
    negative(c, DNS_RCODE_NOERROR);
    break;
  case DNS_Q_ADDR:
    answer_addr_name(c, &qi);
    break;
  case DNS_Q_SERVICE:
    answer_service(c, &qi);
    break;
  case DNS_Q_OUTSIDE:
    break;
  }
}

static int rcode_of(const uint8_t *msg) { return msg[3] & 0xF; }

static void count(struct dns *d, const uint8_t *msg) {
  d->stats.queries++;
  int rc = rcode_of(msg);
  if (rc >= 0 && rc < 6)
    d->stats.by_rcode[rc]++;
}

size_t dns_answer(struct dns *d, struct tree *t, const uint8_t *req,
                  size_t req_len, bool tcp, uint8_t *out, size_t cap) {
  struct dns_query q;
  enum dns_parse_result pr = dns_query_parse(req, req_len, &q);
  struct ctx c = {.d = d, .t = t, .q = &q, .tcp = tcp};
  if (pr == DNS_PARSE_DROP || cap < DNS_UDP_MIN) {
    d->stats.dropped++;
    return 0;
  }
  if (pr != DNS_PARSE_OK) {
    /* Header only: the question may be what was wrong. */
    int rcode = pr == DNS_PARSE_NOTIMP ? DNS_RCODE_NOTIMP : DNS_RCODE_FORMERR;
    (void)dns_builder_init(&c.b, out, cap, DNS_UDP_MIN, &q, false, rcode,
                           false);
    count(d, out);
    return c.b.len;
  }
  size_t limit = DNS_MSG_MAX;
  if (!tcp) {
    limit = DNS_UDP_MIN;
    if (q.edns)
      limit = q.edns_payload < d->udp_payload ? q.edns_payload : d->udp_payload;
    if (limit < DNS_UDP_MIN)
      limit = DNS_UDP_MIN;
  }
  if (limit > cap)
    limit = cap;
  /* Room for our OPT record is kept back while answering. */
  size_t opt = q.edns ? 11 : 0;
  if (dns_builder_init(&c.b, out, cap, limit - opt, &q, true, 0, true) != 0) {
    d->stats.dropped++;
    return 0; /* a 255-byte name always fits in 512: cannot happen */
  }
  if (q.edns && q.edns_version > 0) {
    /* BADVERS (RFC 6891 6.1.3): rcode 16 = header 0 + OPT upper bits 1. */
    c.b.limit = limit;
    (void)dns_builder_opt(&c.b, d->udp_payload, 1);
    count(d, out);
    return c.b.len;
  }
  /* The cache bound, kept here so that no entry a query is using is freed
   * under it (a query adds at most one entry per root). */
  if (d->cache_n + MAX_ROOTS > d->cache_max)
    cache_clear(d);
  answer_query(&c);
  if (q.edns) {
    c.b.limit = limit;
    (void)dns_builder_opt(&c.b, d->udp_payload, 0);
  }
  count(d, out);
  return c.b.len;
}

/* ------------------------------------------------------------------ */

static bool path_ok(const char *p) {
  size_t n = strlen(p);
  return n >= 2 && n < 1024 && p[0] == '/' && p[n - 1] != '/' &&
         strstr(p, "//") == NULL;
}

struct dns *dns_new(const struct dns_config *cfg, char *errmsg,
                    size_t errmsg_len) {
  struct dns *d = calloc(1, sizeof *d);
  if (d == NULL) {
    snprintf(errmsg, errmsg_len, "out of memory");
    return NULL;
  }
  proto_writer_init(&d->w);
  int zl = dns_name_from_text(cfg->domain, d->zone);
  /* Room for <32 hex>.addr.<zone> (dns_addr_name). */
  if (zl < 0 || zl > DNS_NAME_MAX - 38) {
    snprintf(errmsg, errmsg_len,
             "dns.domain '%s': expected a domain name of at most 217 bytes "
             "(labels of 1 to 63 bytes)",
             cfg->domain);
    free(d);
    return NULL;
  }
  d->zone_len = (size_t)zl;
  d->ttl = cfg->ttl_s;
  d->udp_payload = cfg->udp_payload >= DNS_UDP_MIN ? cfg->udp_payload : 1232;
  d->cache_max = cfg->cache_services > MAX_ROOTS ? cfg->cache_services : 1024;
  const char *roots[MAX_ROOTS] = {cfg->services_path, cfg->curator_base_path};
  for (size_t i = 0; i < MAX_ROOTS; i++) {
    if (roots[i] == NULL)
      continue;
    if (!path_ok(roots[i])) {
      snprintf(errmsg, errmsg_len,
               "services path '%s': expected an absolute znode path", roots[i]);
      dns_free(d);
      return NULL;
    }
    if (d->n_roots == 1 && strcmp(d->roots[0], roots[i]) == 0)
      continue;
    d->roots[d->n_roots] = strdup(roots[i]);
    if (d->roots[d->n_roots] == NULL) {
      snprintf(errmsg, errmsg_len, "out of memory");
      dns_free(d);
      return NULL;
    }
    d->n_roots++;
  }
  return d;
}

void dns_free(struct dns *d) {
  if (d == NULL)
    return;
  cache_clear(d);
  for (size_t i = 0; i < d->n_roots; i++)
    free(d->roots[i]);
  proto_writer_free(&d->w);
  free(d);
}

void dns_stats_get(const struct dns *d, struct dns_stats *s) { *s = d->stats; }
