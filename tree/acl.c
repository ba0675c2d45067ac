/* ACL lists: interning, validation (§7.2), checks (§7.13). */
#include "tree/tree_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static bool slice_is(struct proto_slice s, const char *lit) {
  size_t n = strlen(lit);
  return s.len == (int32_t)n && memcmp(s.ptr, lit, n) == 0;
}

static bool str_is(const char *p, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len == n && memcmp(p, lit, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Parsing and interning */

struct acl_list *tree_acl_parse(struct tree *t, const uint8_t *blob, size_t len,
                                int *err) {
  struct proto_reader r;
  proto_reader_init(&r, blob, len, len);
  int32_t n = proto_read_vector_count(&r);
  if (proto_reader_err(&r)) {
    *err = PROTO_MARSHALLINGERROR;
    return NULL;
  }
  /* One allocation: header, items, then a copy of the blob the items
   * point into. */
  size_t sz = sizeof(struct acl_list) + (size_t)n * sizeof(struct acl_item);
  struct acl_list *l = tree_malloc(t, sz + len);
  if (!l) {
    *err = PROTO_SYSTEMERROR;
    return NULL;
  }
  uint8_t *copy = (uint8_t *)l + sz;
  memcpy(copy, blob, len);
  l->items = (struct acl_item *)(l + 1);
  l->n = (uint32_t)n;
  l->blob = copy;
  l->blob_len = len;
  proto_reader_init(&r, copy, len, len);
  (void)proto_read_vector_count(&r);
  for (int32_t i = 0; i < n; i++) {
    struct proto_acl a;
    proto_read_acl(&r, &a);
    if (proto_reader_err(&r) || a.id.scheme.len < 0 || a.id.id.len < 0)
      goto bad;
    l->items[i].perms = a.perms;
    l->items[i].scheme = (const char *)a.id.scheme.ptr;
    l->items[i].scheme_len = (uint32_t)a.id.scheme.len;
    l->items[i].id = (const char *)a.id.id.ptr;
    l->items[i].id_len = (uint32_t)a.id.id.len;
    if (!l->items[i].scheme)
      l->items[i].scheme = "";
    if (!l->items[i].id)
      l->items[i].id = "";
  }
  if (proto_reader_remaining(&r) != 0)
    goto bad;
  return l;
bad:
  free(l);
  *err = PROTO_MARSHALLINGERROR;
  return NULL;
}

struct blob_key {
  const uint8_t *p;
  size_t len;
};

static bool entry_eq(const void *item, const void *key) {
  const struct acl_entry *e = item;
  const struct blob_key *k = key;
  return e->l.blob_len == k->len && memcmp(e->l.blob, k->p, k->len) == 0;
}

static uint32_t entry_hash(const void *item) {
  return ((const struct acl_entry *)item)->hash;
}

int tree_acl_intern(struct tree *t, const uint8_t *blob, size_t len,
                    uint32_t *index) {
  struct acl_table *a = &t->acls;
  uint32_t h = tree_hash_bytes(blob, len);
  struct blob_key k = {blob, len};
  struct acl_entry *e = otab_get(&a->map, h, entry_eq, &k);
  if (e) {
    e->refs++;
    *index = e->index;
    return PROTO_OK;
  }
  /* Reserve everything first so a failure leaves the table as it was. */
  if (!otab_reserve(t, &a->map, a->map.n + 1, entry_hash))
    return PROTO_SYSTEMERROR;
  if (!a->n_free && a->n == a->cap) {
    uint32_t cap = a->cap ? a->cap * 2 : 16;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
    struct acl_entry **v = tree_realloc(t, a->v, cap * sizeof *v);
    if (!v)
      return PROTO_SYSTEMERROR;
    a->v = v;
    a->cap = cap;
  }
  if (a->cap_free < a->cap) {
    /* free_idx never holds more than cap indices: size it with v. */
    uint32_t *f = tree_realloc(t, a->free_idx, a->cap * sizeof *f);
    if (!f)
      return PROTO_SYSTEMERROR;
    a->free_idx = f;
    a->cap_free = a->cap;
  }
  int err = PROTO_OK;
  struct acl_list *l = tree_acl_parse(t, blob, len, &err);
  if (!l)
    return err;
  e = tree_malloc(t, sizeof *e);
  if (!e) {
    free(l);
    return PROTO_SYSTEMERROR;
  }
  e->l = *l;
  /* e->l points into l's allocation; keep l alive through e->l.items. */
  e->refs = 1;
  e->hash = h;
  e->index = a->n_free ? a->free_idx[--a->n_free] : a->n++;
  a->v[e->index] = e;
  otab_put(&a->map, e, h);
  *index = e->index;
  return PROTO_OK;
}

/* The parsed list allocation starts at items - sizeof(struct acl_list). */
static void entry_free(struct acl_entry *e) {
  free((struct acl_list *)e->l.items - 1);
  free(e);
}

void tree_acl_ref(struct tree *t, uint32_t index) { t->acls.v[index]->refs++; }

void tree_acl_unref(struct tree *t, uint32_t index) {
  struct acl_table *a = &t->acls;
  struct acl_entry *e = a->v[index];
  if (--e->refs)
    return;
  otab_del(&a->map, e, entry_hash);
  a->v[index] = NULL;
  a->free_idx[a->n_free++] = index;
  entry_free(e);
}

const struct acl_list *tree_acl_get(const struct tree *t, uint32_t index) {
  return &t->acls.v[index]->l;
}

void tree_acl_table_free(struct acl_table *a) {
  for (uint32_t i = 0; i < a->n; i++)
    if (a->v[i])
      entry_free(a->v[i]);
  free(a->v);
  free(a->free_idx);
  otab_free(&a->map);
  memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ */
/* ip scheme: an address, optionally "/bits". */

static int parse_addr(const char *p, size_t len, uint8_t out[16]) {
  char buf[64];
  if (len == 0 || len >= sizeof buf)
    return 0;
  memcpy(buf, p, len);
  buf[len] = 0;
  if (memchr(p, ':', len))
    return inet_pton(AF_INET6, buf, out) == 1 ? 16 : 0;
  return inet_pton(AF_INET, buf, out) == 1 ? 4 : 0;
}

/* Java Integer.parseInt on the bits part: optional sign, digits only. */
static bool parse_bits(const char *p, size_t len, long *out) {
  size_t i = 0;
  bool neg = false;
  if (len && (p[0] == '-' || p[0] == '+')) {
    neg = p[0] == '-';
    i = 1;
  }
  if (i == len || len - i > 9)
    return false;
  long v = 0;
  for (; i < len; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    v = v * 10 + (p[i] - '0');
  }
  *out = neg ? -v : v;
  return true;
}

/* Splits "addr[/bits]"; returns address length (4/16) or 0 if invalid. */
static int ip_expr(const char *p, size_t len, uint8_t addr[16], long *bits) {
  const char *slash = memchr(p, '/', len);
  size_t alen = slash ? (size_t)(slash - p) : len;
  int n = parse_addr(p, alen, addr);
  if (!n)
    return 0;
  *bits = (long)n * 8;
  if (slash && !parse_bits(slash + 1, len - alen - 1, bits))
    return 0;
  if (*bits < 0 || *bits > (long)n * 8)
    return 0;
  return n;
}

/* ZooKeeper 3.8.0 accepts only IPv4 ids in ip ACLs (observed: "::1" and
 * "0:0:0:0:0:0:0:1" give InvalidACL), so a list naming an IPv6 address is
 * refused here too; matching below still understands both families. */
static bool ip_valid(const char *p, size_t len) {
  uint8_t a[16];
  long bits;
  return ip_expr(p, len, a, &bits) == 4;
}

static bool ip_match(const char *client, size_t clen, const char *expr,
                     size_t elen) {
  uint8_t a[16], c[16];
  long bits;
  /* The same text as the client's address (which the server formats, so
   * it is valid): a match without two inet_pton calls.  Checked on every
   * read and on every watch event of a node with an ip ACL. */
  if (clen == elen && memcmp(client, expr, clen) == 0 &&
      parse_addr(client, clen, c))
    return true;
  int n = ip_expr(expr, elen, a, &bits);
  if (!n || parse_addr(client, clen, c) != n)
    return false;
  for (int i = 0; i < n; i++) {
    long b = bits - 8L * i;
    uint8_t mask = b >= 8 ? 0xFF : b <= 0 ? 0 : (uint8_t)(0xFF << (8 - b));
    if ((a[i] & mask) != (c[i] & mask))
      return false;
  }
  return true;
}

/* Java's id.split(":").length == 2 (trailing empty parts dropped). */
static bool digest_valid(const char *p, size_t len) {
  while (len && p[len - 1] == ':')
    len--;
  if (len == 0)
    return false;
  size_t colons = 0;
  for (size_t i = 0; i < len; i++)
    colons += p[i] == ':';
  return colons == 1;
}

/* x509: a distinguished name; ZooKeeper parses it as an X500Principal.
 * Here: non-empty, attribute=value, no NUL. */
static bool x509_valid(const char *p, size_t len) {
  return len > 0 && memchr(p, '=', len) != NULL && memchr(p, 0, len) == NULL;
}

/* ------------------------------------------------------------------ */
/* Checks (§7.13) */

static bool has_super(const struct tree_auth *auth) {
  size_t n_ids = auth ? auth->n_ids : 0;
  for (size_t i = 0; i < n_ids; i++)
    if (strcmp(auth->ids[i].scheme, "super") == 0)
      return true;
  return false;
}

/* One ACL entry (without the super and empty-list rules): grants perm to
 * one of the caller's identities. */
static bool item_grants(int32_t perms, const char *scheme, size_t scheme_len,
                        const char *id, size_t id_len, int32_t perm,
                        const struct tree_auth *auth) {
  if (!(perms & perm))
    return false;
  if (str_is(scheme, scheme_len, "world"))
    return str_is(id, id_len, "anyone");
  bool digest = str_is(scheme, scheme_len, "digest");
  bool ip = str_is(scheme, scheme_len, "ip");
  bool x509 = str_is(scheme, scheme_len, "x509");
  if (!digest && !ip && !x509)
    return false; /* no provider for the scheme: never matches */
  size_t n_ids = auth ? auth->n_ids : 0;
  for (size_t j = 0; j < n_ids; j++) {
    const struct tree_identity *ai = &auth->ids[j];
    if (!str_is(scheme, scheme_len, ai->scheme))
      continue;
    if ((digest || x509) && str_is(id, id_len, ai->id))
      return true;
    if (ip && ip_match(ai->id, strlen(ai->id), id, id_len))
      return true;
  }
  return false;
}

bool tree_acl_check(const struct acl_list *l, int32_t perm,
                    const struct tree_auth *auth) {
  if (has_super(auth) || l->n == 0)
    return true;
  for (uint32_t i = 0; i < l->n; i++) {
    const struct acl_item *a = &l->items[i];
    if (item_grants(a->perms, a->scheme, a->scheme_len, a->id, a->id_len, perm,
                    auth))
      return true;
  }
  return false;
}

bool tree_acl_anyone_reads(const struct acl_list *l) {
  return tree_acl_check(l, PROTO_PERM_READ, NULL);
}

/* The event's ACL is the node's list as a jute blob (tree_out owns it; the
 * interned list may be gone by the time the server delivers): walk it in
 * place, no allocation on the fan-out path. */
bool tree_event_visible(const struct tree_event *e,
                        const struct tree_auth *auth) {
  if (!e->acl || has_super(auth))
    return true;
  struct proto_reader r;
  proto_reader_init(&r, e->acl, e->acl_len, e->acl_len);
  int32_t n = proto_read_vector_count(&r);
  if (n <= 0)
    return n == 0 && !proto_reader_err(&r);
  for (int32_t i = 0; i < n; i++) {
    struct proto_acl a;
    proto_read_acl(&r, &a);
    if (proto_reader_err(&r) || a.id.scheme.len < 0 || a.id.id.len < 0)
      return false; /* cannot happen (the tree wrote it); fail closed */
    const char *scheme = a.id.scheme.len ? (const char *)a.id.scheme.ptr : "";
    const char *id = a.id.id.len ? (const char *)a.id.id.ptr : "";
    if (item_grants(a.perms, scheme, (size_t)a.id.scheme.len, id,
                    (size_t)a.id.id.len, PROTO_PERM_READ, auth))
      return true;
  }
  return false;
}

/* ------------------------------------------------------------------ */
/* Fixup (§7.2) */

static bool acl_equal(const struct proto_acl *a, const struct proto_acl *b) {
  return a->perms == b->perms && a->id.scheme.len == b->id.scheme.len &&
         a->id.id.len == b->id.id.len &&
         (a->id.scheme.len <= 0 || memcmp(a->id.scheme.ptr, b->id.scheme.ptr,
                                          (size_t)a->id.scheme.len) == 0) &&
         (a->id.id.len <= 0 ||
          memcmp(a->id.id.ptr, b->id.id.ptr, (size_t)a->id.id.len) == 0);
}

/* An identity that "auth" expands to: authenticated by a provider, so
 * not the implicit ip one nor the provider-less "super". */
static bool expandable(const struct tree_identity *id) {
  return strcmp(id->scheme, "ip") != 0 && strcmp(id->scheme, "super") != 0;
}

int tree_acl_fixup(const struct proto_acl_vec *in, const struct tree_auth *auth,
                   bool x509_acls, struct proto_writer *out) {
  if (in->count <= 0)
    return PROTO_INVALIDACL;
  size_t count_at = out->len;
  proto_write_int(out, 0);
  int32_t n_out = 0;
  struct proto_acl_iter it;
  proto_acl_iter_init(&it, in);
  struct proto_acl a;
  int32_t idx = 0;
  while (proto_acl_iter_next(&it, &a)) {
    /* Duplicates are removed first: skip an entry equal to an earlier
     * one (quadratic, but client ACL lists are a handful of entries). */
    bool dup = false;
    struct proto_acl_iter it2;
    proto_acl_iter_init(&it2, in);
    struct proto_acl b;
    for (int32_t j = 0; j < idx && proto_acl_iter_next(&it2, &b); j++)
      if (acl_equal(&a, &b)) {
        dup = true;
        break;
      }
    idx++;
    if (dup)
      continue;
    if (a.id.scheme.len < 0)
      return PROTO_INVALIDACL;
    /* "auth" never looks at its id, so a null one is fine (kazoo sends
     * make_acl("auth", "") that way).  ZooKeeper 3.8.0 answers a null id
     * for its own providers' schemes with MarshallingError (observed; the
     * provider dereferences it) and InvalidACL for any other scheme. */
    bool is_auth = slice_is(a.id.scheme, "auth");
    if (a.id.id.len < 0 && !is_auth)
      return slice_is(a.id.scheme, "world") ||
                     slice_is(a.id.scheme, "digest") ||
                     slice_is(a.id.scheme, "ip")
                 ? PROTO_MARSHALLINGERROR
                 : PROTO_INVALIDACL;
    const char *id = (const char *)a.id.id.ptr;
    size_t id_len = a.id.id.len > 0 ? (size_t)a.id.id.len : 0;
    if (is_auth) {
      bool any = false;
      for (size_t i = 0; auth && i < auth->n_ids; i++) {
        const struct tree_identity *cid = &auth->ids[i];
        if (!expandable(cid))
          continue;
        any = true;
        proto_write_int(out, a.perms);
        proto_write_string(out, cid->scheme, strlen(cid->scheme));
        proto_write_string(out, cid->id, strlen(cid->id));
        n_out++;
      }
      if (!any)
        return PROTO_INVALIDACL;
      continue;
    }
    /* Every other accepted entry is written as given. */
    bool verbatim =
        (slice_is(a.id.scheme, "world") && slice_is(a.id.id, "anyone")) ||
        (slice_is(a.id.scheme, "digest") && digest_valid(id, id_len)) ||
        (slice_is(a.id.scheme, "ip") && ip_valid(id, id_len)) ||
        (x509_acls && slice_is(a.id.scheme, "x509") && x509_valid(id, id_len));
    if (!verbatim)
      return PROTO_INVALIDACL; /* world:other, unknown scheme, bad id */
    proto_write_acl(out, &a);
    n_out++;
  }
  if (proto_writer_err(out))
    return PROTO_SYSTEMERROR;
  proto_store_be32(out->buf + count_at, (uint32_t)n_out);
  return PROTO_OK;
}
