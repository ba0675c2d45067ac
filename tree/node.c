/* Nodes, lookup, the tree object, stats, digest, sessions (read side). */
#include "tree/tree_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Allocation: every allocation of replicated state goes through here so
 * a test can fail the N-th one (the tree must then be unchanged). */

void *tree_malloc(struct tree *t, size_t n) {
  if (t->fail_countdown >= 0) {
    if (t->fail_countdown == 0)
      return NULL;
    t->fail_countdown--;
  }
  return malloc(n ? n : 1);
}

void *tree_realloc(struct tree *t, void *p, size_t n) {
  if (t->fail_countdown >= 0) {
    if (t->fail_countdown == 0)
      return NULL;
    t->fail_countdown--;
  }
  return realloc(p, n ? n : 1);
}

void tree_test_fail_alloc(struct tree *t, long n) { t->fail_countdown = n; }

/* ------------------------------------------------------------------ */
/* Hashing.  FNV-1a with a final avalanche: names are short, and the
 * finaliser spreads FNV's weak low bits over the table index. */

uint32_t tree_hash_bytes(const void *p, size_t n) {
  const uint8_t *s = p;
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= UINT64_C(0x100000001b3);
  }
  return tree_hash_u64(h);
}

uint32_t tree_hash_u64(uint64_t v) {
  v ^= v >> 33;
  v *= UINT64_C(0xff51afd7ed558ccd);
  v ^= v >> 33;
  v *= UINT64_C(0xc4ceb9fe1a85ec53);
  v ^= v >> 33;
  return (uint32_t)v;
}

uint32_t tree_ptr_hash(const void *p) { return tree_hash_u64((uintptr_t)p); }

/* ------------------------------------------------------------------ */
/* otab */

/* Capacities are not powers of two (a slot costs 8 bytes, and doubling
 * leaves tables a quarter to five eighths empty): the home slot is the
 * hash scaled to the capacity, tables grow by half and stay at most three
 * quarters full, and otab_fit packs a table that will mostly be read. */
static uint32_t home(uint32_t hash, uint32_t cap) {
  return (uint32_t)(((uint64_t)hash * cap) >> 32);
}
static uint32_t next_slot(uint32_t i, uint32_t cap) {
  return i + 1 == cap ? 0 : i + 1;
}

/* Smallest capacity that holds n at three quarters full. */
static uint32_t min_cap_for(uint32_t n) {
  uint64_t cap = ((uint64_t)n * 4 + 2) / 3;
  return cap < 4 ? 4 : (uint32_t)cap;
}

static bool rehash(struct tree *t, struct otab *o, uint32_t cap,
                   otab_hash_fn hash) {
  void **s = tree_malloc(t, (size_t)cap * sizeof *s);
  if (!s)
    return false;
  for (uint32_t i = 0; i < cap; i++)
    s[i] = NULL;
  for (uint32_t i = 0; i < o->cap; i++) {
    void *it = o->slots[i];
    if (!it)
      continue;
    uint32_t j = home(hash(it), cap);
    assert(j < cap);
    while (s[j])
      j = next_slot(j, cap);
    s[j] = it;
  }
  free(o->slots);
  o->slots = s;
  o->cap = cap;
  return true;
}

bool otab_reserve(struct tree *t, struct otab *o, uint32_t n_total,
                  otab_hash_fn hash) {
  if (o->cap && n_total <= (uint64_t)o->cap * 3 / 4)
    return true;
  if (n_total > (UINT32_C(1) << 30))
    return false;
  uint32_t cap = min_cap_for(n_total);
  if (cap < o->cap + o->cap / 2)
    cap = o->cap + o->cap / 2;
  return rehash(t, o, cap, hash);
}

void otab_fit(struct tree *t, struct otab *o, otab_hash_fn hash) {
  uint32_t cap = min_cap_for(o->n);
  if (o->n && cap + cap / 8 < o->cap)
    (void)rehash(t, o, cap, hash); /* without memory it stays as it is */
}

void *otab_get(const struct otab *o, uint32_t hash, otab_eq_fn eq,
               const void *key) {
  if (!o->cap)
    return NULL;
  for (uint32_t i = home(hash, o->cap); o->slots[i]; i = next_slot(i, o->cap))
    if (eq(o->slots[i], key))
      return o->slots[i];
  return NULL;
}

void otab_put(struct otab *o, void *item, uint32_t hash) {
  uint32_t i = home(hash, o->cap);
  while (o->slots[i])
    i = next_slot(i, o->cap);
  o->slots[i] = item;
  o->n++;
}

uint32_t otab_slot(const struct otab *o, const void *item, uint32_t hash) {
  uint32_t i = home(hash, o->cap);
  while (o->slots[i] != item)
    i = next_slot(i, o->cap);
  return i;
}

bool otab_del(struct otab *o, const void *item, otab_hash_fn hash) {
  if (!o->cap)
    return false;
  uint32_t i = home(hash(item), o->cap);
  while (o->slots[i] && o->slots[i] != item)
    i = next_slot(i, o->cap);
  if (!o->slots[i])
    return false;
  /* Backward shift: pull later members of the probe run into the hole
   * when their home slot does not lie cyclically in (hole, j]. */
  uint32_t j = i;
  for (;;) {
    j = next_slot(j, o->cap);
    if (!o->slots[j])
      break;
    uint32_t k = home(hash(o->slots[j]), o->cap);
    bool move = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);
    if (move) {
      o->slots[i] = o->slots[j];
      i = j;
    }
  }
  o->slots[i] = NULL;
  o->n--;
  return true;
}

void otab_free(struct otab *o) {
  free(o->slots);
  o->slots = NULL;
  o->cap = o->n = 0;
}

/* ------------------------------------------------------------------ */
/* Nodes */

struct name_key {
  const char *s;
  size_t len;
};

static bool node_name_eq(const void *item, const void *key) {
  const struct tnode *n = item;
  const struct name_key *k = key;
  return n->name_len == k->len && memcmp(n->name, k->s, k->len) == 0;
}

struct tnode *tree_node_child(const struct tnode *parent, const char *name,
                              size_t len) {
  if (!tree_node_x(parent))
    return NULL;
  struct name_key k = {name, len};
  return otab_get(&tree_node_x(parent)->kids, tree_hash_bytes(name, len),
                  node_name_eq, &k);
}

uint32_t tree_node_name_hash(const struct tnode *n) {
  return tree_hash_bytes(n->name, n->name_len);
}

/* Lookup only: no validation (an invalid path simply is not found). */
struct tnode *tree_node_lookup(const struct tree *t, const char *path,
                               size_t len) {
  if (len == 0 || path[0] != '/')
    return NULL;
  struct tnode *n = t->root;
  if (len == 1)
    return n;
  size_t i = 1;
  for (;;) {
    const char *s = path + i;
    const char *e = memchr(s, '/', len - i);
    size_t clen = e ? (size_t)(e - s) : len - i;
    if (clen == 0)
      return NULL;
    n = tree_node_child(n, s, clen);
    if (!n || !e)
      return n;
    i += clen + 1;
  }
}

void tree_node_stat(const struct tnode *n, struct proto_stat *s) {
  uint32_t kids = tree_node_nkids(n);
  int64_t owner = tree_node_owner(n);
  s->czxid = n->czxid;
  s->mzxid = tree_node_mzxid(n);
  s->ctime = n->ctime;
  s->mtime = tree_node_mtime(n);
  s->version = tree_node_version(n);
  /* §4.2: 2 * creations - children, in 32-bit wrap-around arithmetic. */
  s->cversion = (int32_t)(2u * (uint32_t)tree_node_cversion(n) - kids);
  s->aversion = tree_node_aversion(n);
  s->ephemeral_owner = tree_owner_is_session(owner) ? owner : 0;
  s->data_length = n->data_len > 0 ? n->data_len : 0;
  s->num_children = (int32_t)kids;
  s->pzxid = tree_node_pzxid(n);
}

size_t tree_node_path_len(const struct tnode *n) {
  if (!tree_node_parent(n))
    return 1;
  size_t len = 0;
  for (; tree_node_parent(n); n = tree_node_parent(n))
    len += 1 + n->name_len;
  return len;
}

void tree_node_path(const struct tnode *n, char *buf, size_t path_len) {
  if (!tree_node_parent(n)) {
    buf[0] = '/';
    return;
  }
  size_t end = path_len;
  for (; tree_node_parent(n); n = tree_node_parent(n)) {
    end -= n->name_len;
    memcpy(buf + end, n->name, n->name_len);
    buf[--end] = '/';
  }
}

struct tnode *tree_node_alloc(struct tree *t, const char *name, size_t len,
                              const uint8_t *data, int32_t data_len) {
  size_t dlen = data_len > 0 ? (size_t)data_len : 0;
  if (len > INT32_MAX) /* name_len has 31 bits; paths are far shorter */
    return NULL;
  struct tnode *n = tree_slab_alloc(t, TREE_NODE_HDR + len + dlen);
  if (!n)
    return NULL;
  memset(n, 0, TREE_NODE_HDR);
  memcpy(n->name, name, len);
  n->name_len = (uint32_t)len;
  if (dlen)
    memcpy(n->name + len, data, dlen);
  n->data_len = data_len < 0 ? -1 : data_len;
  return n;
}

struct tnode_ext *tree_node_ext(struct tree *t, struct tnode *n) {
  struct tnode_ext *x = tree_node_x(n);
  if (x)
    return x;
  x = tree_slab_alloc(t, sizeof *x);
  if (!x)
    return NULL;
  memset(x, 0, sizeof *x);
  x->parent = tree_node_parent(n);
  x->mzxid = x->pzxid = n->czxid;
  x->mtime = n->ctime;
  x->icap = n->data_len > 0 ? (uint32_t)n->data_len : 0;
  n->up.x = x;
  n->has_x = 1;
  return x;
}

void tree_node_free(struct tree *t, struct tnode *n) {
  if (!n)
    return;
  size_t size = tree_node_size(n);
  struct tnode_ext *x = tree_node_x(n);
  if (x) {
    free(x->xdata);
    otab_free(&x->kids);
    tree_slab_free(t, x, sizeof *x);
  }
  tree_slab_free(t, n, size);
}

static uint32_t node_hash(const void *item) {
  return tree_node_name_hash(item);
}

/* ------------------------------------------------------------------ */
/* The tree */

static bool add_builtin(struct tree *t, struct tnode *parent, const char *name,
                        uint32_t acl, struct tnode **out) {
  struct tnode *n = tree_node_alloc(t, name, strlen(name), NULL, 0);
  struct tnode_ext *px = tree_node_ext(t, parent);
  if (!n || !px || !otab_reserve(t, &px->kids, px->kids.n + 1, node_hash)) {
    tree_node_free(t, n);
    return false;
  }
  tree_node_set_parent(n, parent);
  n->acl = acl;
  tree_acl_ref(t, acl);
  otab_put(&px->kids, n, node_hash(n));
  t->n_nodes++;
  t->data_size += tree_node_path_len(n);
  if (out)
    *out = n;
  return true;
}

/* vector<ACL> with one entry (perms, world, anyone). */
static void world_acl_blob(uint8_t *b, int32_t perms) {
  static const uint8_t tmpl[] = {0, 0, 0, 1,   0,   0,   0,   0,   0,
                                 0, 0, 5, 'w', 'o', 'r', 'l', 'd', 0,
                                 0, 0, 6, 'a', 'n', 'y', 'o', 'n', 'e'};
  memcpy(b, tmpl, sizeof tmpl);
  b[7] = (uint8_t)perms;
}

struct tree *tree_new(const struct tree_config *cfg) {
  struct tree *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  if (cfg)
    t->cfg = *cfg;
  t->fail_countdown = -1;
  uint8_t all[27], read[27];
  world_acl_blob(all, PROTO_PERM_ALL);
  world_acl_blob(read, PROTO_PERM_READ);
  uint32_t acl_all, acl_read;
  if (tree_acl_intern(t, all, sizeof all, &acl_all) != PROTO_OK)
    goto fail;
  if (tree_acl_intern(t, read, sizeof read, &acl_read) != PROTO_OK)
    goto fail;
  t->root = tree_node_alloc(t, "", 0, NULL, 0);
  if (!t->root)
    goto fail;
  t->root->acl = acl_all;
  tree_acl_ref(t, acl_all);
  t->n_nodes = 1;
  t->data_size = 1;
  struct tnode *zk;
  if (!add_builtin(t, t->root, "zookeeper", acl_all, &zk) ||
      !add_builtin(t, zk, "quota", acl_all, NULL) ||
      !add_builtin(t, zk, "config", acl_read, NULL))
    goto fail;
  /* Drop the references intern took; the nodes hold their own. */
  tree_acl_unref(t, acl_all);
  tree_acl_unref(t, acl_read);
  return t;
fail:
  tree_free(t);
  return NULL;
}

/* Slot index of n in its parent's table (to resume iteration after
 * climbing back up without a stack). */
static uint32_t slot_of(const struct tnode *n) {
  return otab_slot(&tree_node_x(tree_node_parent(n))->kids, n,
                   tree_node_name_hash(n));
}

/* The first child in n's table at slot `start` or later, and its slot. */
static struct tnode *next_kid(const struct tnode *n, uint32_t start,
                              uint32_t *slot) {
  if (!tree_node_x(n))
    return NULL;
  const struct otab *o = &tree_node_x(n)->kids;
  for (uint32_t i = start; i < o->cap; i++)
    if (o->slots[i]) {
      *slot = i;
      return o->slots[i];
    }
  return NULL;
}

static void free_subtree(struct tree *t, struct tnode *root) {
  /* Iterative post-order using parent pointers: trees can be deep.  The
   * scan of a node's table resumes after the child just freed (found
   * again by its hash), so a node with a million children is freed in one
   * pass over its table, not one rescan from slot 0 per child. */
  struct tnode *n = root;
  uint32_t start = 0;
  while (n) {
    uint32_t slot;
    struct tnode *c = next_kid(n, start, &slot);
    if (c && !tree_node_nkids(c)) {
      /* A leaf: freed from here, without finding its slot again. */
      tree_node_x(n)->kids.slots[slot] = NULL;
      tree_node_free(t, c);
      start = slot + 1;
      continue;
    }
    if (c) {
      n = c;
      start = 0;
      continue;
    }
    struct tnode *p = NULL;
    if (n != root) {
      p = tree_node_parent(n);
      uint32_t i = slot_of(n);
      tree_node_x(p)->kids.slots[i] =
          NULL; /* no freed pointer stays in the table */
      start = i + 1;
    }
    tree_node_free(t, n);
    n = p;
  }
}

void tree_fit_tables(struct tree *t) {
  /* Pre-order, fitting a node's table before walking it, so the slot
   * indices the walk resumes from stay valid. */
  struct tnode *n = t->root;
  uint32_t start = 0;
  if (tree_node_x(n))
    otab_fit(t, &tree_node_x(n)->kids, node_hash);
  for (;;) {
    uint32_t slot;
    struct tnode *c = next_kid(n, start, &slot);
    if (c) {
      if (tree_node_x(c) && tree_node_x(c)->kids.n) {
        otab_fit(t, &tree_node_x(c)->kids, node_hash);
        n = c;
        start = 0;
      } else {
        start = slot + 1;
      }
      continue;
    }
    if (!tree_node_parent(n))
      return;
    start = slot_of(n) + 1;
    n = tree_node_parent(n);
  }
}

void tree_free(struct tree *t) {
  if (!t)
    return;
  if (t->root)
    free_subtree(t, t->root);
  for (uint32_t i = 0; i < t->sessions.cap; i++) {
    struct tsession *s = t->sessions.slots[i];
    if (s) {
      otab_free(&s->eph);
      free(s);
    }
  }
  otab_free(&t->sessions);
  tree_watch_table_free(&t->watches);
  tree_acl_table_free(&t->acls);
  tree_slab_fini(&t->slab);
  free(t->undo);
  free(t->ubytes);
  free(t->trig);
  otab_free(&t->reapable);
  free(t->ops);
  free(t->res_off);
  free(t);
}

int64_t tree_last_zxid(const struct tree *t) { return t->last_zxid; }

int tree_test_set_cversion(struct tree *t, const char *path, int32_t cversion) {
  struct tnode *n = tree_node_lookup(t, path, strlen(path));
  if (!n)
    return PROTO_NONODE;
  struct tnode_ext *x = tree_node_ext(t, n);
  if (!x)
    return PROTO_SYSTEMERROR;
  x->cversion = cversion;
  return PROTO_OK;
}

/* ------------------------------------------------------------------ */
/* Sessions */

static bool session_eq(const void *item, const void *key) {
  return ((const struct tsession *)item)->id == *(const int64_t *)key;
}

struct tsession *tree_session_get(const struct tree *t, int64_t id) {
  return otab_get(&t->sessions, tree_hash_u64((uint64_t)id), session_eq, &id);
}

bool tree_session_exists(const struct tree *t, int64_t session_id) {
  return tree_session_get(t, session_id) != NULL;
}

int32_t tree_session_timeout(const struct tree *t, int64_t session_id) {
  struct tsession *s = tree_session_get(t, session_id);
  return s ? s->timeout_ms : -1;
}

bool tree_session_passwd(const struct tree *t, int64_t session_id,
                         uint8_t out[PROTO_PASSWD_LEN]) {
  struct tsession *s = tree_session_get(t, session_id);
  if (!s || !s->has_passwd)
    return false;
  memcpy(out, s->passwd, PROTO_PASSWD_LEN);
  return true;
}

void tree_session_ephemerals(const struct tree *t, int64_t session_id,
                             tree_path_cb cb, void *arg) {
  struct tsession *s = tree_session_get(t, session_id);
  if (!s)
    return;
  char small[256];
  for (uint32_t i = 0; i < s->eph.cap; i++) {
    struct tnode *n = s->eph.slots[i];
    if (!n)
      continue;
    size_t len = tree_node_path_len(n);
    char *buf = len <= sizeof small ? small : malloc(len);
    if (!buf)
      continue; /* out of memory: skip rather than fail a dump */
    tree_node_path(n, buf, len);
    cb(arg, buf, len);
    if (buf != small)
      free(buf);
  }
}

/* ------------------------------------------------------------------ */
/* Stats */

void tree_stats_get(const struct tree *t, struct tree_stats *s) {
  memset(s, 0, sizeof *s);
  s->node_count = t->n_nodes + 1; /* root twice, as ZooKeeper (§7.15) */
  s->ephemerals_count = t->n_ephemerals;
  s->approximate_data_size = t->data_size;
  s->data_watch_count = t->watches.n_data_entries;
  s->child_watch_count = t->watches.n_child_entries;
  s->data_watch_paths = t->watches.n_data_paths;
  s->data_watchers = t->watches.n_data_watchers;
  s->session_count = t->sessions.n;
}

/* ------------------------------------------------------------------ */
/* Digest.
 *
 * Each node contributes SHA-256(path, every stored field, data, ACL
 * blob); the contributions are added modulo 2^256 (an additive multiset
 * hash), so the result does not depend on hash-table iteration order and
 * needs neither sorting nor memory.  The path is fed leaf-to-root, one
 * length-prefixed component at a time, which identifies it uniquely
 * without a buffer.  Sessions contribute the same way.  The final digest
 * is SHA-256 over the two sums, the counts and the last zxid.  Additive
 * combination is weaker than one sorted hash against an adversary who
 * chooses thousands of nodes to cancel a difference, but replicas diverge
 * by accident, not by design, and a chance collision is 2^-256. */

static void put64(uint8_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void sum_add(uint8_t acc[32], const uint8_t h[32]) {
  unsigned carry = 0;
  for (int i = 31; i >= 0; i--) {
    unsigned v = (unsigned)acc[i] + h[i] + carry;
    acc[i] = (uint8_t)v;
    carry = v >> 8;
  }
}

static void node_digest(const struct tree *t, const struct tnode *n,
                        uint8_t acc[32]) {
  struct tree_sha256 c;
  tree_sha256_init(&c);
  uint8_t b[8];
  for (const struct tnode *p = n; tree_node_parent(p);
       p = tree_node_parent(p)) {
    put64(b, p->name_len);
    tree_sha256_update(&c, b, 8);
    tree_sha256_update(&c, p->name, p->name_len);
  }
  put64(b, UINT64_MAX); /* end of path */
  tree_sha256_update(&c, b, 8);
  int64_t f[] = {n->czxid,
                 tree_node_mzxid(n),
                 tree_node_pzxid(n),
                 n->ctime,
                 tree_node_mtime(n),
                 tree_node_owner(n),
                 tree_node_version(n),
                 tree_node_cversion(n),
                 tree_node_aversion(n),
                 n->data_len,
                 tree_node_nkids(n)};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    put64(b, (uint64_t)f[i]);
    tree_sha256_update(&c, b, 8);
  }
  if (n->data_len > 0)
    tree_sha256_update(&c, tree_node_data(n), (size_t)n->data_len);
  const struct acl_list *l = tree_acl_get(t, n->acl);
  put64(b, l->blob_len);
  tree_sha256_update(&c, b, 8);
  tree_sha256_update(&c, l->blob, l->blob_len);
  uint8_t h[32];
  tree_sha256_final(&c, h);
  sum_add(acc, h);
}

void tree_digest(const struct tree *t, uint8_t out[32]) {
  uint8_t nodes[32] = {0}, sess[32] = {0};
  /* Pre-order walk without recursion or allocation. */
  const struct tnode *n = t->root;
  uint32_t start = 0;
  node_digest(t, n, nodes);
  for (;;) {
    uint32_t slot;
    const struct tnode *c = next_kid(n, start, &slot);
    if (c) {
      node_digest(t, c, nodes);
      if (tree_node_nkids(c)) {
        n = c;
        start = 0;
      } else {
        start = slot + 1; /* a leaf: no need to step into it */
      }
      continue;
    }
    if (!tree_node_parent(n))
      break;
    start = slot_of(n) + 1;
    n = tree_node_parent(n);
  }
  for (uint32_t i = 0; i < t->sessions.cap; i++) {
    const struct tsession *s = t->sessions.slots[i];
    if (!s)
      continue;
    /* The password is replicated state too: members that disagree on it
     * would accept a resumed session on some members only. */
    struct tree_sha256 c;
    uint8_t b[17 + PROTO_PASSWD_LEN], h[32];
    put64(b, (uint64_t)s->id);
    put64(b + 8, (uint64_t)(int64_t)s->timeout_ms);
    b[16] = s->has_passwd;
    memcpy(b + 17, s->passwd, PROTO_PASSWD_LEN);
    tree_sha256_init(&c);
    tree_sha256_update(&c, b, sizeof b);
    tree_sha256_final(&c, h);
    sum_add(sess, h);
  }
  struct tree_sha256 c;
  uint8_t b[8];
  tree_sha256_init(&c);
  tree_sha256_update(&c, "roost-tree-digest-v1", 20);
  tree_sha256_update(&c, nodes, 32);
  tree_sha256_update(&c, sess, 32);
  put64(b, t->n_nodes);
  tree_sha256_update(&c, b, 8);
  put64(b, t->sessions.n);
  tree_sha256_update(&c, b, 8);
  put64(b, (uint64_t)t->last_zxid);
  tree_sha256_update(&c, b, 8);
  tree_sha256_final(&c, out);
}

/* ------------------------------------------------------------------ */
/* Reads */

static bool has_nul(const char *p, size_t len) {
  return len && memchr(p, 0, len) != NULL;
}

int tree_stat(struct tree *t, const char *path, size_t len,
              struct proto_stat *stat) {
  struct tnode *n = tree_node_lookup(t, path, len);
  if (!n)
    return PROTO_NONODE;
  tree_node_stat(n, stat);
  return PROTO_OK;
}

static int read_check(struct tree *t, struct tnode *n, int32_t perm,
                      const struct tree_auth *auth) {
  return tree_acl_check(tree_acl_get(t, n->acl), perm, auth) ? PROTO_OK
                                                             : PROTO_NOAUTH;
}

int tree_exists(struct tree *t, const char *path, size_t len, uint64_t watcher,
                const struct tree_auth *auth, struct proto_writer *reply) {
  if (has_nul(path, len))
    return PROTO_BADARGUMENTS;
  struct tnode *n = tree_node_lookup(t, path, len);
  if (n) {
    int rc = read_check(t, n, PROTO_PERM_READ, auth);
    if (rc)
      return rc; /* no watch when READ fails (3.8.4+) */
  }
  if (watcher && tree_watch_add(t, path, len, watcher, TREE_W_DATA))
    return PROTO_SYSTEMERROR;
  if (!n)
    return PROTO_NONODE;
  struct proto_stat st;
  tree_node_stat(n, &st);
  proto_write_stat(reply, &st);
  return PROTO_OK;
}

int tree_get_data(struct tree *t, const char *path, size_t len,
                  uint64_t watcher, const struct tree_auth *auth,
                  struct proto_writer *reply) {
  struct tnode *n = tree_node_lookup(t, path, len);
  if (!n)
    return PROTO_NONODE;
  int rc = read_check(t, n, PROTO_PERM_READ, auth);
  if (rc)
    return rc;
  if (watcher && tree_watch_add(t, path, len, watcher, TREE_W_DATA))
    return PROTO_SYSTEMERROR;
  proto_write_buffer(reply, tree_node_data(n), n->data_len);
  struct proto_stat st;
  tree_node_stat(n, &st);
  proto_write_stat(reply, &st);
  return PROTO_OK;
}

int tree_get_children(struct tree *t, const char *path, size_t len,
                      uint64_t watcher, bool with_stat,
                      const struct tree_auth *auth,
                      struct proto_writer *reply) {
  struct tnode *n = tree_node_lookup(t, path, len);
  if (!n)
    return PROTO_NONODE;
  int rc = read_check(t, n, PROTO_PERM_READ, auth);
  if (rc)
    return rc;
  if (watcher && tree_watch_add(t, path, len, watcher, TREE_W_CHILD))
    return PROTO_SYSTEMERROR;
  const struct otab *kids = tree_node_kids(n);
  proto_write_int(reply, (int32_t)tree_node_nkids(n));
  for (uint32_t i = 0; kids && i < kids->cap; i++) {
    const struct tnode *c = kids->slots[i];
    if (c)
      proto_write_string(reply, c->name, c->name_len);
  }
  if (with_stat) {
    struct proto_stat st;
    tree_node_stat(n, &st);
    proto_write_stat(reply, &st);
  }
  return PROTO_OK;
}

int tree_get_acl(struct tree *t, const char *path, size_t len,
                 const struct tree_auth *auth, struct proto_writer *reply) {
  struct tnode *n = tree_node_lookup(t, path, len);
  if (!n)
    return PROTO_NONODE;
  const struct acl_list *l = tree_acl_get(t, n->acl);
  if (!tree_acl_check(l, PROTO_PERM_READ | PROTO_PERM_ADMIN, auth))
    return PROTO_NOAUTH;
  /* ZOOKEEPER-1392: without ADMIN, digest hashes are masked "user:x". */
  bool admin = tree_acl_check(l, PROTO_PERM_ADMIN, auth);
  proto_write_int(reply, (int32_t)l->n);
  for (uint32_t i = 0; i < l->n; i++) {
    const struct acl_item *a = &l->items[i];
    proto_write_int(reply, a->perms);
    proto_write_string(reply, a->scheme, a->scheme_len);
    const char *colon = a->id_len ? memchr(a->id, ':', a->id_len) : NULL;
    if (!admin && colon && a->scheme_len == 6 &&
        memcmp(a->scheme, "digest", 6) == 0) {
      size_t keep = (size_t)(colon - a->id) + 1;
      proto_write_int(reply, (int32_t)(keep + 1));
      proto_write_raw(reply, a->id, keep);
      proto_write_raw(reply, "x", 1);
    } else {
      proto_write_string(reply, a->id, a->id_len);
    }
  }
  struct proto_stat st;
  tree_node_stat(n, &st);
  proto_write_stat(reply, &st);
  return PROTO_OK;
}

/* ------------------------------------------------------------------ */
/* Reads added for ZooKeeper 3.6+ opcodes */

/* Descendants of top, by a pre-order walk without recursion or
 * allocation (as tree_digest). */
static uint64_t count_descendants(const struct tnode *top) {
  uint64_t k = 0;
  const struct tnode *n = top;
  uint32_t start = 0;
  for (;;) {
    uint32_t slot;
    const struct tnode *c = next_kid(n, start, &slot);
    if (c) {
      k++;
      if (tree_node_nkids(c)) {
        n = c;
        start = 0;
      } else {
        start = slot + 1; /* a leaf: no need to step into it */
      }
      continue;
    }
    if (n == top)
      return k;
    start = slot_of(n) + 1;
    n = tree_node_parent(n);
  }
}

int tree_get_all_children_number(struct tree *t, const char *path, size_t len,
                                 const struct tree_auth *auth,
                                 struct proto_writer *reply) {
  struct tnode *n = tree_node_lookup(t, path, len);
  if (!n)
    return PROTO_NONODE;
  int rc = read_check(t, n, PROTO_PERM_READ, auth);
  if (rc)
    return rc;
  /* ZooKeeper answers nodes.size() - 2 for "/": its map holds the root
   * under "" and "/", so that is every node but the root. */
  uint64_t k = n == t->root ? t->n_nodes - 1 : count_descendants(n);
  proto_write_int(reply, k > INT32_MAX ? INT32_MAX : (int32_t)k);
  return PROTO_OK;
}

static bool java_blank(unsigned char c) { return c <= ' '; }

int tree_get_ephemerals(struct tree *t, int64_t session_id, const char *prefix,
                        size_t prefix_len, struct proto_writer *reply) {
  /* Java: prefix == null || prefix.trim().isEmpty() || "/".equals(trim)
   * selects all; otherwise startsWith(prefix), untrimmed. */
  bool all = true;
  if (prefix) {
    size_t b = 0, e = prefix_len;
    while (b < e && java_blank((unsigned char)prefix[b]))
      b++;
    while (e > b && java_blank((unsigned char)prefix[e - 1]))
      e--;
    all = e == b || (e - b == 1 && prefix[b] == '/');
  }
  size_t count_at = reply->len;
  proto_write_int(reply, 0); /* patched below */
  struct tsession *s = tree_session_get(t, session_id);
  int32_t k = 0;
  for (uint32_t i = 0; s && i < s->eph.cap; i++) {
    struct tnode *n = s->eph.slots[i];
    if (!n)
      continue;
    size_t len = tree_node_path_len(n);
    if (!all && len < prefix_len)
      continue;
    /* Write the path straight into the reply; take it back if it does
     * not match. */
    size_t mark = reply->len;
    proto_write_int(reply, (int32_t)len);
    uint8_t *d = proto_writer_reserve(reply, len);
    if (!d)
      return PROTO_OK; /* the writer carries the error */
    tree_node_path(n, (char *)d, len);
    if (!all && memcmp(d, prefix, prefix_len) != 0) {
      reply->len = mark;
      continue;
    }
    reply->len += len;
    k++;
  }
  if (!proto_writer_err(reply)) {
    proto_store_be32(reply->buf + count_at, (uint32_t)k);
  }
  return PROTO_OK;
}

int tree_multi_read(struct tree *t, const struct proto_multi_req *m,
                    const struct tree_auth *auth, struct proto_writer *reply) {
  struct proto_multi_iter it;
  struct proto_multi_op op;
  proto_multi_iter_init(&it, m);
  while (proto_multi_iter_next(&it, &op))
    if (op.type != PROTO_OP_GETDATA && op.type != PROTO_OP_GETCHILDREN)
      return PROTO_MARSHALLINGERROR;
  proto_multi_iter_init(&it, m);
  while (proto_multi_iter_next(&it, &op)) {
    struct proto_slice p = op.u.read.path;
    const char *path = p.len > 0 ? (const char *)p.ptr : "";
    size_t len = p.len > 0 ? (size_t)p.len : 0;
    size_t mark = reply->len;
    int rc;
    proto_write_multi_header(reply, op.type, false, 0);
    /* watcher 0: multiRead sets no watch, whatever the flag says. */
    if (op.type == PROTO_OP_GETDATA)
      rc = tree_get_data(t, path, len, 0, auth, reply);
    else
      rc = tree_get_children(t, path, len, 0, false, auth, reply);
    if (rc != PROTO_OK) {
      reply->len = mark; /* the read wrote nothing after the header */
      proto_write_multi_header(reply, PROTO_OP_ERROR, false, rc);
      proto_write_int(reply, rc);
    }
  }
  proto_write_multi_header(reply, -1, true, -1);
  return PROTO_OK;
}

/* ------------------------------------------------------------------ */
/* Container and TTL reaping (§7.7) */

static bool reap_due(const struct tree *t, const struct tnode *n,
                     int64_t now_ms, int64_t max_never_used_ms) {
  if (tree_node_nkids(n))
    return false;
  /* Elapsed time since the last data change, 0 if the clock is behind. */
  int64_t mtime = tree_node_mtime(n);
  uint64_t elapsed = now_ms > mtime ? (uint64_t)now_ms - (uint64_t)mtime : 0;
  int64_t owner = tree_node_owner(n);
  if (tree_owner_is_container(owner)) {
    if (tree_node_cversion(n) > 0) /* stored cversion: it had a child once */
      return true;
    return max_never_used_ms > 0 && elapsed > (uint64_t)max_never_used_ms;
  }
  if (!t->cfg.extended_types)
    return false; /* not a TTL node unless extended types are on */
  uint64_t ttl = (uint64_t)owner & (uint64_t)TREE_TTL_MAX;
  return ttl != 0 && elapsed > ttl;
}

size_t tree_reap_candidates(const struct tree *t, int64_t now_ms,
                            int64_t max_never_used_ms, tree_reap_cb cb,
                            void *arg) {
  size_t calls = 0;
  char small[256];
  for (uint32_t i = 0; i < t->reapable.cap; i++) {
    const struct tnode *n = t->reapable.slots[i];
    if (!n || !reap_due(t, n, now_ms, max_never_used_ms))
      continue;
    size_t len = tree_node_path_len(n);
    char *buf = len <= sizeof small ? small : malloc(len);
    if (!buf)
      continue; /* out of memory: the next run finds it again */
    tree_node_path(n, buf, len);
    calls++;
    bool more = cb(arg, buf, len);
    if (buf != small)
      free(buf);
    if (!more)
      break;
  }
  return calls;
}
