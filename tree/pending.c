/* Pending changes: what prepped-but-not-applied transactions will do to
 * the nodes and sessions prep looks at (ZooKeeper's outstanding
 * ChangeRecords).  A hash map of records by path (and by session id), and a
 * queue of (zxid, record) in prep order so tree_pending_applied drops what
 * the tree now holds in O(changes), never by scanning the map. */
#include "tree/tree_int.h"

#include <stdlib.h>
#include <string.h>

/* Records whose path (NUL included) fits in PREC_SHORT bytes are all
 * allocated with that room and, when freed, kept for reuse, at most
 * PREC_SPARE_MAX of them (~40 KiB): callgrind counted their malloc and
 * free at ~1,000 instructions of a create's ~40,000.  Longer paths are
 * allocated to size. */
#define PREC_SHORT 96
#define PREC_SPARE_MAX 256

struct path_key {
  const char *s;
  size_t len;
};

static uint32_t prec_hash(const void *item) {
  return ((const struct tree_prec *)item)->hash;
}

static bool node_eq(const void *item, const void *key) {
  const struct tree_prec *r = item;
  const struct path_key *k = key;
  return r->len == k->len && memcmp(r->path, k->s, k->len) == 0;
}

static bool session_eq(const void *item, const void *key) {
  return ((const struct tree_prec *)item)->session_id == *(const int64_t *)key;
}

struct tree_prec *tree_pending_node(const struct tree_pending *p,
                                    const char *path, size_t len) {
  struct path_key k = {path, len};
  return otab_get(&p->nodes, tree_hash_bytes(path, len), node_eq, &k);
}

struct tree_prec *tree_pending_session(const struct tree_pending *p,
                                       int64_t id) {
  return otab_get(&p->sessions, tree_hash_u64((uint64_t)id), session_eq, &id);
}

struct tree_pending *tree_pending_new(struct tree *t) {
  struct tree_pending *p = tree_malloc(t, sizeof *p);
  if (p)
    memset(p, 0, sizeof *p);
  return p;
}

static void prec_free(struct tree_pending *p, struct tree_prec *r) {
  if (!r)
    return;
  free(r->acl);
  r->acl = NULL;
  if (r->len < PREC_SHORT && p->n_spare < PREC_SPARE_MAX) {
    r->next_spare = p->spare;
    p->spare = r;
    p->n_spare++;
    return;
  }
  free(r);
}

static void table_free(struct tree_pending *p, struct otab *o) {
  for (uint32_t i = 0; i < o->cap; i++)
    if (o->slots[i])
      prec_free(p, o->slots[i]);
  otab_free(o);
}

void tree_pending_clear(struct tree_pending *p) {
  table_free(p, &p->nodes);
  table_free(p, &p->sessions);
  p->q_head = p->q_len = 0;
}

void tree_pending_free(struct tree_pending *p) {
  if (!p)
    return;
  tree_pending_clear(p);
  while (p->spare) {
    struct tree_prec *r = p->spare;
    p->spare = r->next_spare;
    free(r);
  }
  free(p->q);
  free(p);
}

size_t tree_pending_count(const struct tree_pending *p) {
  return (size_t)p->nodes.n + p->sessions.n;
}

void tree_pending_applied(struct tree_pending *p, int64_t zxid) {
  while (p->q_len > 0 && p->q[p->q_head].zxid <= zxid) {
    struct tree_prec *r = p->q[p->q_head].r;
    p->q_head = (p->q_head + 1) % p->q_cap;
    p->q_len--;
    /* Entries are in zxid order, so the last one of a record (the one at
     * its latest change) goes last: then the tree holds its state. */
    if (--r->n_queued == 0) {
      otab_del(r->len ? &p->nodes : &p->sessions, r, prec_hash);
      prec_free(p, r);
    }
  }
  if (p->q_len == 0)
    p->q_head = 0;
}

/* Room for n more queue entries. */
static bool queue_reserve(struct tree *t, struct tree_pending *p, size_t n) {
  if (p->q_len + n <= p->q_cap)
    return true;
  size_t c = p->q_cap ? p->q_cap : 64;
  while (c < p->q_len + n)
    c *= 2;
  struct tree_pqent *q = tree_malloc(t, c * sizeof *q);
  if (!q)
    return false;
  for (size_t i = 0; p->q_cap && i < p->q_len; i++)
    q[i] = p->q[(p->q_head + i) % p->q_cap];
  free(p->q);
  p->q = q;
  p->q_cap = c;
  p->q_head = 0;
  return true;
}

static void queue_push(struct tree_pending *p, struct tree_prec *r,
                       int64_t zxid) {
  struct tree_pqent *e = &p->q[(p->q_head + p->q_len) % p->q_cap];
  e->r = r;
  e->zxid = zxid;
  p->q_len++;
  r->n_queued++;
  r->zxid = zxid;
}

static struct tree_prec *prec_new(struct tree *t, struct tree_pending *p,
                                  const char *path, size_t len) {
  struct tree_prec *r;
  if (len < PREC_SHORT && p->spare) {
    r = p->spare;
    p->spare = r->next_spare;
    p->n_spare--;
  } else {
    r = tree_malloc(t, sizeof *r + (len < PREC_SHORT ? PREC_SHORT : len + 1));
    if (!r)
      return NULL;
  }
  memset(r, 0, sizeof *r);
  if (len)
    memcpy(r->path, path, len);
  r->path[len] = 0;
  r->len = len;
  return r;
}

static struct acl_list *acl_copy(struct tree *t, const struct acl_list *l) {
  int err = PROTO_OK;
  return tree_acl_parse(t, l->blob, l->blob_len, &err);
}

/* Undo the allocations of a merge that cannot complete. */
static void merge_abort(struct tree_pending *p, struct tree_pchange *ch,
                        size_t n, struct tree_prec *sess) {
  for (size_t i = 0; i < n; i++) {
    if (ch[i].fresh)
      prec_free(p, ch[i].target);
    free(ch[i].acl_copy);
    ch[i].target = NULL;
    ch[i].fresh = false;
    ch[i].acl_copy = NULL;
  }
  prec_free(p, sess);
}

int tree_pending_merge(struct tree *t, struct tree_pending *p,
                       struct tree_pchange *ch, size_t n, int64_t session_id,
                       bool alive, int64_t zxid) {
  /* Phase 1: everything that can fail (records, ACL copies, room). */
  uint32_t n_fresh = 0;
  struct tree_prec *sess = NULL;
  bool sess_fresh = false;
  for (size_t i = 0; i < n; i++) {
    struct tree_pchange *c = &ch[i];
    c->target = tree_pending_node(p, c->path, c->len);
    c->fresh = c->target == NULL;
    c->acl_copy = NULL;
    if (c->fresh) {
      c->target = prec_new(t, p, c->path, c->len);
      if (!c->target)
        goto oom;
      c->target->hash = tree_hash_bytes(c->path, c->len);
      n_fresh++;
    }
    if (c->v.exists && c->v.acl && c->v.acl != c->target->acl) {
      c->acl_copy = acl_copy(t, c->v.acl);
      if (!c->acl_copy)
        goto oom;
    }
  }
  if (session_id != 0) {
    sess = tree_pending_session(p, session_id);
    if (!sess) {
      sess = prec_new(t, p, "", 0);
      if (!sess)
        goto oom;
      sess_fresh = true;
      sess->session_id = session_id;
      sess->hash = tree_hash_u64((uint64_t)session_id);
      if (!otab_reserve(t, &p->sessions, p->sessions.n + 1, prec_hash))
        goto oom_sess;
    }
  }
  if (!otab_reserve(t, &p->nodes, p->nodes.n + n_fresh, prec_hash) ||
      !queue_reserve(t, p, n + (sess ? 1 : 0)))
    goto oom_sess;

  /* Phase 2: cannot fail. */
  for (size_t i = 0; i < n; i++) {
    struct tree_pchange *c = &ch[i];
    struct tree_prec *r = c->target;
    if (c->fresh)
      otab_put(&p->nodes, r, r->hash);
    if (!c->v.exists) {
      free(r->acl);
      r->acl = NULL;
    } else if (c->acl_copy) {
      free(r->acl);
      r->acl = c->acl_copy;
    }
    r->v = c->v;
    r->v.acl = r->acl;
    queue_push(p, r, zxid);
    c->target = NULL;
    c->fresh = false;
    c->acl_copy = NULL;
  }
  if (sess) {
    if (sess_fresh)
      otab_put(&p->sessions, sess, sess->hash);
    sess->alive = alive;
    queue_push(p, sess, zxid);
  }
  return PROTO_OK;
oom_sess:
  merge_abort(p, ch, n, sess_fresh ? sess : NULL);
  return PROTO_SYSTEMERROR;
oom:
  merge_abort(p, ch, n, NULL);
  return PROTO_SYSTEMERROR;
}
