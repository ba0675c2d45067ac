/* Transactions: encoding (docs/txn-format.md), prep (§7.2 validation of a
 * client write into a txn), apply (deterministic, all-or-nothing, fires
 * watches), reply encoding, setWatches. */
#include "tree/tree_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sub-operation decoded from a transaction.  Slices borrow the txn. */
struct txop {
  int32_t type;
  struct proto_slice path;
  struct proto_slice data;
  const uint8_t *acl; /* vector<ACL> blob (count + elements) */
  size_t acl_len;
  bool ephemeral;
  int32_t parent_cversion;
  int64_t ttl;
  int32_t version;
  int32_t err;
  int32_t timeout_ms;
};

enum { U_CREATE, U_DELETE, U_SETDATA, U_SETACL };
struct undo {
  int kind;
  struct tnode *node;
  int32_t p_cversion;             /* parent's, before (create) */
  int64_t p_pzxid;                /* parent's, before (create, delete) */
  uint8_t *old_xdata, *new_xdata; /* setData: x->xdata before, after */
  size_t saved;                   /* setData: old inline bytes in t->ubytes
                                     (SIZE_MAX: none were overwritten) */
  int32_t old_len, old_version, old_aversion;
  int64_t old_mzxid, old_mtime;
  uint32_t old_acl;
  size_t path_len;
};

struct trigger {
  int32_t type;
  size_t off, len; /* path in out->arena */
  uint32_t acl;    /* the node's ACL when the change was made (alive until
                      commit_frees: replaced lists are released there) */
};

static bool is_special(const char *p, size_t len) {
  static const char *const sp[] = {"/", "/zookeeper", "/zookeeper/quota",
                                   "/zookeeper/config"};
  for (size_t i = 0; i < 4; i++)
    if (strlen(sp[i]) == len && memcmp(sp[i], p, len) == 0)
      return true;
  return false;
}

static const char *last_slash(const char *p, size_t len) {
  for (size_t i = len; i-- > 0;)
    if (p[i] == '/')
      return p + i;
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Encoding */

static void header_write(struct proto_writer *w,
                         const struct tree_txn_header *h) {
  proto_write_long(w, h->session_id);
  proto_write_int(w, h->cxid);
  proto_write_long(w, h->zxid);
  proto_write_long(w, h->time_ms);
  proto_write_int(w, h->type);
}

void tree_txn_encode_create_session(struct proto_writer *w,
                                    const struct tree_txn_header *h,
                                    int32_t timeout_ms,
                                    const uint8_t passwd[PROTO_PASSWD_LEN]) {
  assert(passwd != NULL);
  struct tree_txn_header hh = *h;
  hh.type = PROTO_OP_CREATESESSION;
  header_write(w, &hh);
  proto_write_int(w, timeout_ms);
  proto_write_buffer(w, passwd, PROTO_PASSWD_LEN);
}

void tree_txn_encode_close_session(struct proto_writer *w,
                                   const struct tree_txn_header *h) {
  struct tree_txn_header hh = *h;
  hh.type = PROTO_OP_CLOSESESSION;
  header_write(w, &hh);
}

void tree_txn_encode_reconfig(struct proto_writer *w,
                              const struct tree_txn_header *h,
                              const char *config, size_t len) {
  struct tree_txn_header hh = *h;
  hh.type = PROTO_OP_RECONFIG;
  header_write(w, &hh);
  proto_write_string(w, TREE_CONFIG_PATH, strlen(TREE_CONFIG_PATH));
  proto_write_buffer(w, config, (int32_t)len);
  proto_write_int(w, -1); /* ZooKeeper's SetDataTxn version for it */
}

static void header_read(struct proto_reader *r, struct tree_txn_header *h) {
  h->session_id = proto_read_long(r);
  h->cxid = proto_read_int(r);
  h->zxid = proto_read_long(r);
  h->time_ms = proto_read_long(r);
  h->type = proto_read_int(r);
}

int tree_txn_header_decode(const void *txn, size_t len,
                           struct tree_txn_header *h) {
  struct proto_reader r;
  proto_reader_init(&r, txn, len, len);
  header_read(&r, h);
  return proto_reader_err(&r) ? PROTO_MARSHALLINGERROR : PROTO_OK;
}

/* ACL vector inside a txn: recorded as a blob; null ids are refused so
 * interning (which parses the same bytes) cannot fail on content. */
static void acl_blob_read(struct proto_reader *r, struct txop *op) {
  size_t start = r->pos;
  int32_t n = proto_read_vector_count(r);
  for (int32_t i = 0; i < n && !proto_reader_err(r); i++) {
    struct proto_acl a;
    proto_read_acl(r, &a);
    if (a.id.scheme.len < 0 || a.id.id.len < 0)
      r->err = PROTO_MARSHALLINGERROR;
  }
  op->acl = r->buf + start;
  op->acl_len = r->pos - start;
}

static int body_read(struct proto_reader *r, int32_t type, struct txop *op) {
  memset(op, 0, sizeof *op);
  op->type = type;
  op->path.len = 0;
  switch (type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    op->path = proto_read_buffer(r);
    op->data = proto_read_buffer(r);
    acl_blob_read(r, op);
    if (type == PROTO_OP_CREATE || type == PROTO_OP_CREATE2)
      op->ephemeral = proto_read_bool(r);
    op->parent_cversion = proto_read_int(r);
    if (type == PROTO_OP_CREATETTL)
      op->ttl = proto_read_long(r);
    break;
  case PROTO_OP_DELETE:
  case PROTO_OP_DELETECONTAINER:
    op->path = proto_read_buffer(r);
    break;
  case PROTO_OP_SETDATA:
  case PROTO_OP_RECONFIG: /* a SetDataTxn on /zookeeper/config */
    op->path = proto_read_buffer(r);
    op->data = proto_read_buffer(r);
    op->version = proto_read_int(r);
    if (type == PROTO_OP_RECONFIG &&
        !(op->path.len == (int32_t)strlen(TREE_CONFIG_PATH) &&
          memcmp(op->path.ptr, TREE_CONFIG_PATH, strlen(TREE_CONFIG_PATH)) ==
              0))
      return PROTO_MARSHALLINGERROR;
    break;
  case PROTO_OP_SETACL:
    op->path = proto_read_buffer(r);
    acl_blob_read(r, op);
    op->version = proto_read_int(r);
    break;
  case PROTO_OP_CHECK:
    op->path = proto_read_buffer(r);
    op->version = proto_read_int(r);
    break;
  case PROTO_OP_ERROR:
    op->err = proto_read_int(r);
    break;
  default:
    return PROTO_MARSHALLINGERROR;
  }
  if (proto_reader_err(r) || op->path.len < 0)
    return PROTO_MARSHALLINGERROR;
  return PROTO_OK;
}

bool tree_txn_reconfig_data(const void *txn, size_t len, const char **data,
                            size_t *data_len) {
  struct proto_reader r;
  proto_reader_init(&r, txn, len, len);
  struct tree_txn_header h;
  header_read(&r, &h);
  if (proto_reader_err(&r) || h.type != PROTO_OP_RECONFIG)
    return false;
  struct txop op;
  if (body_read(&r, h.type, &op) != PROTO_OK ||
      proto_reader_remaining(&r) != 0 || op.data.len < 0)
    return false;
  *data = (const char *)op.data.ptr;
  *data_len = (size_t)op.data.len;
  return true;
}

/* ------------------------------------------------------------------ */
/* tree_out */

void tree_out_init(struct tree_out *o) { memset(o, 0, sizeof *o); }

void tree_out_reset(struct tree_out *o) {
  o->err = 0;
  o->txn_type = 0;
  o->n_results = 0;
  o->n_events = 0;
  o->arena_len = 0;
  o->closed_session = 0;
}

void tree_out_free(struct tree_out *o) {
  free(o->results);
  free(o->events);
  free(o->arena);
  tree_out_init(o);
}

static bool grow_bytes(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t c = *cap ? *cap : 8;
  while (c < need)
    c *= 2;
  void *np = realloc(*p, c * elem);
  if (!np)
    return false;
  *p = np;
  *cap = c;
  return true;
}

/* Appends bytes + NUL to the arena; *off gets their offset. */
static bool arena_add(struct tree_out *o, const char *p, size_t n,
                      size_t *off) {
  if (!grow_bytes((void **)&o->arena, &o->arena_cap, o->arena_len + n + 1, 1))
    return false;
  *off = o->arena_len;
  if (n)
    memcpy(o->arena + o->arena_len, p, n);
  o->arena[o->arena_len + n] = 0;
  o->arena_len += n + 1;
  return true;
}

/* ------------------------------------------------------------------ */
/* Apply */

struct actx {
  struct tree *t;
  const struct tree_txn_header *h;
  struct tree_out *out;
};

static struct tree_op_result *result_add(struct actx *a) {
  struct tree *t = a->t;
  struct tree_out *o = a->out;
  if (!grow_bytes((void **)&o->results, &o->cap_results, o->n_results + 1,
                  sizeof *o->results))
    return NULL;
  if (!grow_bytes((void **)&t->res_off, &t->cap_res_off, o->n_results + 1,
                  sizeof *t->res_off))
    return NULL;
  t->res_off[o->n_results] = SIZE_MAX;
  struct tree_op_result *r = &o->results[o->n_results++];
  memset(r, 0, sizeof *r);
  return r;
}

static bool scratch_reserve(struct tree *t, size_t n_undo, size_t n_trig) {
  if (n_undo > t->cap_undo) {
    struct undo *u = tree_realloc(t, t->undo, n_undo * sizeof *u);
    if (!u)
      return false;
    t->undo = u;
    t->cap_undo = n_undo;
  }
  if (n_trig > t->cap_trig) {
    struct trigger *g = tree_realloc(t, t->trig, n_trig * sizeof *g);
    if (!g)
      return false;
    t->trig = g;
    t->cap_trig = n_trig;
  }
  return true;
}

/* Copy n bytes to the undo byte store; *off says where.  False when out
 * of memory (nothing changed). */
static bool save_bytes(struct tree *t, const uint8_t *p, size_t n,
                       size_t *off) {
  if (t->n_ubytes + n > t->cap_ubytes) {
    size_t cap = t->cap_ubytes ? t->cap_ubytes : 256;
    while (cap < t->n_ubytes + n)
      cap *= 2;
    uint8_t *b = tree_realloc(t, t->ubytes, cap);
    if (!b)
      return false;
    t->ubytes = b;
    t->cap_ubytes = cap;
  }
  memcpy(t->ubytes + t->n_ubytes, p, n);
  *off = t->n_ubytes;
  t->n_ubytes += n;
  return true;
}

/* The path is hashed when the transaction fires (finish), once the arena
 * no longer moves. */
static void trig_add(struct tree *t, int32_t type, size_t off, size_t len,
                     uint32_t acl) {
  struct trigger *g = &t->trig[t->n_trig++];
  g->type = type;
  g->off = off;
  g->len = len;
  g->acl = acl;
}

static bool owner_is_reapable(int64_t owner) {
  return tree_owner_is_container(owner) || tree_owner_is_ttl(owner);
}

static uint32_t node_hash(const void *item) {
  return tree_node_name_hash(item);
}

static size_t data_bytes(const struct tnode *n) {
  return n->data_len > 0 ? (size_t)n->data_len : 0;
}

static int do_create(struct actx *a, const struct txop *op, size_t ri) {
  struct tree *t = a->t;
  const char *path = (const char *)op->path.ptr;
  size_t len = (size_t)op->path.len;
  const char *slash = len ? last_slash(path, len) : NULL;
  if (!slash)
    return PROTO_BADARGUMENTS;
  size_t plen = (size_t)(slash - path);
  struct tnode *parent = plen ? tree_node_lookup(t, path, plen) : t->root;
  if (!parent)
    return PROTO_NONODE;
  const char *name = slash + 1;
  size_t nlen = len - plen - 1;
  if (nlen == 0)
    return plen == 0 ? PROTO_NODEEXISTS : PROTO_BADARGUMENTS;
  if (tree_node_child(parent, name, nlen))
    return PROTO_NODEEXISTS;
  int64_t owner = 0;
  if (op->type == PROTO_OP_CREATECONTAINER) {
    owner = TREE_OWNER_CONTAINER;
  } else if (op->type == PROTO_OP_CREATETTL) {
    if (op->ttl <= 0 || op->ttl > TREE_TTL_MAX)
      return PROTO_BADARGUMENTS;
    owner = (int64_t)(TREE_OWNER_TTL_TAG | (uint64_t)op->ttl);
  } else if (op->ephemeral) {
    owner = a->h->session_id;
    if (!tree_owner_is_session(owner))
      return PROTO_BADARGUMENTS;
  }
  struct tsession *s = NULL;
  if (tree_owner_is_session(owner) && !(s = tree_session_get(t, owner)))
    return PROTO_SESSIONEXPIRED;
  if (tree_owner_is_session(tree_node_owner(parent)))
    return PROTO_NOCHILDRENFOREPHEMERALS;

  /* Everything that can fail first; link only when nothing can. */
  size_t off, poff;
  if (!arena_add(a->out, path, len, &off) ||
      !arena_add(a->out, plen ? path : "/", plen ? plen : 1, &poff))
    return PROTO_SYSTEMERROR;
  struct tnode *n = tree_node_alloc(t, name, nlen, op->data.ptr, op->data.len);
  if (!n)
    return PROTO_SYSTEMERROR;
  /* Extensions are invisible (defaults until set), so making the parent's
   * needs no undo. */
  struct tnode_ext *px = tree_node_ext(t, parent);
  if (!px || (owner && !tree_node_ext(t, n)))
    goto oom;
  if (!otab_reserve(t, &px->kids, px->kids.n + 1, node_hash))
    goto oom;
  if (s && !otab_reserve(t, &s->eph, s->eph.n + 1, tree_ptr_hash))
    goto oom;
  if (owner_is_reapable(owner) &&
      !otab_reserve(t, &t->reapable, t->reapable.n + 1, tree_ptr_hash))
    goto oom;
  if (tree_acl_intern(t, op->acl, op->acl_len, &n->acl) != PROTO_OK)
    goto oom;

  struct undo *u = &t->undo[t->n_undo++];
  u->kind = U_CREATE;
  u->node = n;
  u->p_cversion = px->cversion;
  u->p_pzxid = px->pzxid;
  u->path_len = len;
  tree_node_set_parent(n, parent);
  n->czxid = a->h->zxid;
  n->ctime = a->h->time_ms;
  struct tnode_ext *x = tree_node_x(n);
  if (x) {
    x->mzxid = x->pzxid = a->h->zxid;
    x->mtime = a->h->time_ms;
    x->owner = owner;
  }
  otab_put(&px->kids, n, node_hash(n));
  px->cversion = op->parent_cversion;
  px->pzxid = a->h->zxid;
  if (s) {
    otab_put(&s->eph, n, tree_ptr_hash(n));
    t->n_ephemerals++;
  }
  t->n_nodes++;
  t->data_size += len + data_bytes(n);
  if (owner_is_reapable(owner))
    otab_put(&t->reapable, n, tree_ptr_hash(n));
  trig_add(t, PROTO_EVENT_NODE_CREATED, off, len, n->acl);
  trig_add(t, PROTO_EVENT_NODE_CHILDREN_CHANGED, poff, plen ? plen : 1,
           parent->acl);
  t->res_off[ri] = off;
  a->out->results[ri].path_len = len;
  tree_node_stat(n, &a->out->results[ri].stat);
  return PROTO_OK;
oom:
  tree_node_free(t, n);
  return PROTO_SYSTEMERROR;
}

/* Remove a childless node; its path is already in the arena at off. */
static int del_node(struct actx *a, struct tnode *n, size_t off, size_t len) {
  struct tree *t = a->t;
  struct tnode *parent = tree_node_parent(n);
  if (!parent)
    return PROTO_BADARGUMENTS;
  if (tree_node_nkids(n))
    return PROTO_NOTEMPTY;
  struct tnode_ext *px = tree_node_x(parent); /* it has a child: it has one */
  int64_t owner = tree_node_owner(n);
  size_t poff, plen = len - 1 - n->name_len;
  if (plen == 0 && !arena_add(a->out, "/", 1, &poff))
    return PROTO_SYSTEMERROR;
  if (plen)
    poff = off; /* the parent's path is a prefix of the node's */
  struct undo *u = &t->undo[t->n_undo++];
  u->kind = U_DELETE;
  u->node = n;
  u->p_pzxid = px->pzxid;
  u->path_len = len;
  otab_del(&px->kids, n, node_hash);
  px->pzxid = a->h->zxid;
  if (tree_owner_is_session(owner)) {
    struct tsession *s = tree_session_get(t, owner);
    if (s && otab_del(&s->eph, n, tree_ptr_hash))
      t->n_ephemerals--;
  }
  if (owner_is_reapable(owner))
    otab_del(&t->reapable, n, tree_ptr_hash);
  t->n_nodes--;
  t->data_size -= len + data_bytes(n);
  trig_add(t, PROTO_EVENT_NODE_DELETED, off, len, n->acl);
  trig_add(t, PROTO_EVENT_NODE_CHILDREN_CHANGED, poff, plen ? plen : 1,
           parent->acl);
  return PROTO_OK;
}

static int do_delete(struct actx *a, const struct txop *op) {
  const char *path = (const char *)op->path.ptr;
  size_t len = (size_t)op->path.len;
  struct tnode *n = tree_node_lookup(a->t, path, len);
  if (!n)
    return PROTO_NONODE;
  if (!tree_node_parent(n))
    return PROTO_BADARGUMENTS;
  if (op->type == PROTO_OP_DELETECONTAINER) {
    if (tree_node_nkids(n))
      return PROTO_NOTEMPTY;
    if (tree_owner_is_session(tree_node_owner(n)))
      return PROTO_BADVERSION;
  }
  size_t off;
  if (!arena_add(a->out, path, len, &off))
    return PROTO_SYSTEMERROR;
  return del_node(a, n, off, len);
}

static int do_set_data(struct actx *a, const struct txop *op, size_t ri) {
  struct tree *t = a->t;
  const char *path = (const char *)op->path.ptr;
  size_t len = (size_t)op->path.len;
  struct tnode *n = tree_node_lookup(t, path, len);
  if (!n)
    return PROTO_NONODE;
  size_t off;
  if (!arena_add(a->out, path, len, &off))
    return PROTO_SYSTEMERROR;
  struct tnode_ext *x = tree_node_ext(t, n);
  if (!x)
    return PROTO_SYSTEMERROR;
  /* New data that fits the node's inline room goes there (the old inline
   * bytes are kept for a rollback); longer data gets its own buffer. */
  size_t nlen = op->data.len > 0 ? (size_t)op->data.len : 0;
  uint8_t *inl = (uint8_t *)n->name + n->name_len;
  uint8_t *d = NULL;
  size_t saved = SIZE_MAX;
  if (nlen > x->icap) {
    d = tree_malloc(t, nlen);
    if (!d)
      return PROTO_SYSTEMERROR;
    memcpy(d, op->data.ptr, nlen);
  } else if (!x->xdata && n->data_len > 0) {
    if (!save_bytes(t, inl, (size_t)n->data_len, &saved))
      return PROTO_SYSTEMERROR;
  }
  struct undo *u = &t->undo[t->n_undo++];
  u->kind = U_SETDATA;
  u->node = n;
  u->old_xdata = x->xdata;
  u->new_xdata = d;
  u->saved = saved;
  u->old_len = n->data_len;
  u->old_version = x->version;
  u->old_mzxid = x->mzxid;
  u->old_mtime = x->mtime;
  t->data_size -= data_bytes(n);
  if (!d && nlen)
    memcpy(inl, op->data.ptr, nlen);
  x->xdata = d;
  n->data_len = op->data.len;
  t->data_size += data_bytes(n);
  x->version = op->version;
  x->mzxid = a->h->zxid;
  x->mtime = a->h->time_ms;
  trig_add(t, PROTO_EVENT_NODE_DATA_CHANGED, off, len, n->acl);
  tree_node_stat(n, &a->out->results[ri].stat);
  return PROTO_OK;
}

static int do_set_acl(struct actx *a, const struct txop *op, size_t ri) {
  struct tree *t = a->t;
  struct tnode *n =
      tree_node_lookup(t, (const char *)op->path.ptr, (size_t)op->path.len);
  if (!n)
    return PROTO_NONODE;
  struct tnode_ext *x = tree_node_ext(t, n);
  uint32_t idx;
  if (!x || tree_acl_intern(t, op->acl, op->acl_len, &idx) != PROTO_OK)
    return PROTO_SYSTEMERROR;
  struct undo *u = &t->undo[t->n_undo++];
  u->kind = U_SETACL;
  u->node = n;
  u->old_acl = n->acl;
  u->old_aversion = x->aversion;
  n->acl = idx;
  x->aversion = op->version;
  tree_node_stat(n, &a->out->results[ri].stat);
  return PROTO_OK;
}

static int do_op(struct actx *a, const struct txop *op, size_t ri) {
  switch (op->type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    return do_create(a, op, ri);
  case PROTO_OP_DELETE:
  case PROTO_OP_DELETECONTAINER:
    return do_delete(a, op);
  case PROTO_OP_SETDATA:
  case PROTO_OP_RECONFIG:
    return do_set_data(a, op, ri);
  case PROTO_OP_SETACL:
    return do_set_acl(a, op, ri);
  case PROTO_OP_CHECK: {
    struct tnode *n = tree_node_lookup(a->t, (const char *)op->path.ptr,
                                       (size_t)op->path.len);
    return n ? PROTO_OK : PROTO_NONODE;
  }
  default:
    return PROTO_MARSHALLINGERROR;
  }
}

static void rollback(struct tree *t) {
  while (t->n_undo > 0) {
    struct undo *u = &t->undo[--t->n_undo];
    struct tnode *n = u->node;
    /* Every undo but a create's has the node's extension (setData and
     * setACL made one) or the parent's (it had this child). */
    struct tnode_ext *x = tree_node_x(n), *px;
    switch (u->kind) {
    case U_CREATE:
      px = tree_node_x(tree_node_parent(n));
      otab_del(&px->kids, n, node_hash);
      px->cversion = u->p_cversion;
      px->pzxid = u->p_pzxid;
      if (tree_owner_is_session(tree_node_owner(n))) {
        struct tsession *s = tree_session_get(t, tree_node_owner(n));
        if (s && otab_del(&s->eph, n, tree_ptr_hash))
          t->n_ephemerals--;
      }
      if (owner_is_reapable(tree_node_owner(n)))
        otab_del(&t->reapable, n, tree_ptr_hash);
      t->n_nodes--;
      t->data_size -= u->path_len + data_bytes(n);
      tree_acl_unref(t, n->acl);
      tree_node_free(t, n);
      break;
    case U_DELETE:
      /* Removal never shrinks a table, so re-insertion has room. */
      px = tree_node_x(tree_node_parent(n));
      otab_put(&px->kids, n, node_hash(n));
      px->pzxid = u->p_pzxid;
      if (tree_owner_is_session(tree_node_owner(n))) {
        struct tsession *s = tree_session_get(t, tree_node_owner(n));
        if (s) {
          otab_put(&s->eph, n, tree_ptr_hash(n));
          t->n_ephemerals++;
        }
      }
      if (owner_is_reapable(tree_node_owner(n)))
        otab_put(&t->reapable, n, tree_ptr_hash(n));
      t->n_nodes++;
      t->data_size += u->path_len + data_bytes(n);
      break;
    case U_SETDATA:
      t->data_size -= data_bytes(n);
      free(u->new_xdata);
      x->xdata = u->old_xdata;
      if (u->saved != SIZE_MAX)
        memcpy(n->name + n->name_len, t->ubytes + u->saved, (size_t)u->old_len);
      n->data_len = u->old_len;
      t->data_size += data_bytes(n);
      x->version = u->old_version;
      x->mzxid = u->old_mzxid;
      x->mtime = u->old_mtime;
      break;
    case U_SETACL:
      tree_acl_unref(t, n->acl);
      n->acl = u->old_acl;
      x->aversion = u->old_aversion;
      break;
    }
  }
  t->n_trig = 0;
  t->n_ubytes = 0;
}

static void commit_frees(struct tree *t) {
  for (size_t i = 0; i < t->n_undo; i++) {
    struct undo *u = &t->undo[i];
    switch (u->kind) {
    case U_DELETE:
      tree_acl_unref(t, u->node->acl);
      tree_node_free(t, u->node);
      break;
    case U_SETDATA:
      if (u->old_xdata != u->new_xdata)
        free(u->old_xdata);
      break;
    case U_SETACL:
      tree_acl_unref(t, u->old_acl);
      break;
    }
  }
  t->n_undo = 0;
  t->n_ubytes = 0;
}

struct emit_ctx {
  struct tree_out *out;
  int32_t type;
  const char *path;
  size_t len;
  const struct acl_list *acl; /* NULL: anyone may read the node */
  const uint8_t *acl_copy;    /* acl's blob in the arena, once copied */
};

/* Copies the blob into the arena, which the caller has grown for it. */
static const uint8_t *arena_put_acl(struct tree_out *o,
                                    const struct acl_list *l) {
  assert(o->arena_len + l->blob_len <= o->arena_cap);
  uint8_t *p = (uint8_t *)o->arena + o->arena_len;
  memcpy(p, l->blob, l->blob_len);
  o->arena_len += l->blob_len;
  return p;
}

static void emit_event(void *arg, uint64_t watcher) {
  struct emit_ctx *c = arg;
  struct tree_event *e = &c->out->events[c->out->n_events++];
  e->watcher = watcher;
  e->type = c->type;
  e->path = c->path;
  e->path_len = c->len;
  e->acl = NULL;
  e->acl_len = 0;
  if (c->acl) {
    if (!c->acl_copy) /* once per trigger, only when someone watches */
      c->acl_copy = arena_put_acl(c->out, c->acl);
    e->acl = c->acl_copy;
    e->acl_len = c->acl->blob_len;
  }
}

/* The ACL an event about a node with list `index` carries: NULL when
 * anyone may read it (the common case costs nothing per watcher). */
static const struct acl_list *event_acl(const struct tree *t, uint32_t index) {
  const struct acl_list *l = tree_acl_get(t, index);
  return tree_acl_anyone_reads(l) ? NULL : l;
}

/* After all changes succeeded: reserve the events (the only fallible
 * step left, undone if it fails), fire, free what was replaced.
 *
 * Every trigger fires, as in ZooKeeper 3.8.0 (observed): a multi that
 * changes a path twice, or a closeSession removing several children of one
 * parent, gives a persistent or recursive watcher one event per change
 * (the first consumed any standard watch, so only those see the repeats).
 * That is ZooKeeper's design, not a bug: each sub-operation of a
 * transaction triggers its watches on its own. */
static int finish(struct actx *a) {
  struct tree *t = a->t;
  struct tree_out *o = a->out;
  size_t need = o->n_events, acl_bytes = 0;
  for (size_t i = 0; i < t->n_trig; i++) {
    const struct trigger *g = &t->trig[i];
    size_t bound = tree_watch_bound(t, g->type, o->arena + g->off, g->len);
    need += bound;
    const struct acl_list *l = bound ? event_acl(t, g->acl) : NULL;
    acl_bytes += l ? l->blob_len : 0;
  }
  /* Grow the arena now: event paths point into it from here on. */
  if (!grow_bytes((void **)&o->events, &o->cap_events, need,
                  sizeof *o->events) ||
      !grow_bytes((void **)&o->arena, &o->arena_cap, o->arena_len + acl_bytes,
                  1)) {
    rollback(t);
    return PROTO_SYSTEMERROR;
  }
  for (size_t i = 0; i < t->n_trig; i++) {
    const struct trigger *g = &t->trig[i];
    struct emit_ctx c = {o, g->type, o->arena + g->off, g->len, NULL, NULL};
    /* A trigger with bound 0 above emits nothing (firing only removes
     * watches), so the lazy copy stays within acl_bytes. */
    c.acl = event_acl(t, g->acl);
    tree_watch_trigger(t, g->type, c.path, c.len, emit_event, &c);
  }
  t->n_trig = 0;
  commit_frees(t);
  return PROTO_OK;
}

static void fix_result_paths(struct tree *t, struct tree_out *o) {
  for (size_t i = 0; i < o->n_results; i++)
    if (t->res_off[i] != SIZE_MAX)
      o->results[i].path = o->arena + t->res_off[i];
}

static void failed_multi(struct tree_out *o, const struct txop *ops, size_t n,
                         size_t fail_at, int32_t err) {
  for (size_t i = 0; i < n; i++) {
    struct tree_op_result *r = &o->results[i];
    memset(r, 0, sizeof *r);
    r->type = PROTO_OP_ERROR;
    if (fail_at == SIZE_MAX) /* prepped as failed: the txn has the codes */
      r->err = ops[i].type == PROTO_OP_ERROR ? ops[i].err : 0;
    else
      r->err = i < fail_at    ? 0
               : i == fail_at ? err
                              : PROTO_RUNTIMEINCONSISTENCY;
  }
}

/* Run ops[0..n) all-or-nothing. */
static int run_ops(struct actx *a, const struct txop *ops, size_t n,
                   bool multi) {
  struct tree *t = a->t;
  struct tree_out *o = a->out;
  if (!scratch_reserve(t, n, 2 * n))
    return PROTO_SYSTEMERROR;
  t->n_undo = t->n_trig = 0;
  for (size_t i = 0; i < n; i++)
    if (!result_add(a))
      return PROTO_SYSTEMERROR;
  if (multi) {
    for (size_t i = 0; i < n; i++)
      if (ops[i].type == PROTO_OP_ERROR) {
        failed_multi(o, ops, n, SIZE_MAX, 0);
        return PROTO_OK;
      }
  }
  for (size_t i = 0; i < n; i++) {
    o->results[i].type = ops[i].type;
    int rc = do_op(a, &ops[i], i);
    if (rc == PROTO_OK)
      continue;
    rollback(t);
    if (rc == PROTO_SYSTEMERROR)
      return rc;
    /* A txn the tree cannot take as it is: the outcome is an error result
     * (as ZooKeeper does on replay), the tree unchanged. */
    if (multi) {
      failed_multi(o, ops, n, i, rc);
    } else {
      o->err = rc;
      memset(&o->results[0], 0, sizeof o->results[0]);
      o->results[0].type = ops[0].type;
      o->results[0].err = rc;
      t->res_off[0] = SIZE_MAX;
    }
    return PROTO_OK;
  }
  int rc = finish(a);
  if (rc == PROTO_OK)
    fix_result_paths(t, o);
  return rc;
}

static uint32_t session_hash(const void *item) {
  return tree_hash_u64((uint64_t)((const struct tsession *)item)->id);
}

static void session_set(struct tsession *s, int32_t timeout_ms,
                        const uint8_t *passwd) {
  s->timeout_ms = timeout_ms;
  s->has_passwd = passwd != NULL;
  if (passwd)
    memcpy(s->passwd, passwd, PROTO_PASSWD_LEN);
  else
    memset(s->passwd, 0, PROTO_PASSWD_LEN);
}

/* passwd: NULL for a txn written without one. */
static int apply_create_session(struct actx *a, int32_t timeout_ms,
                                const uint8_t *passwd) {
  struct tree *t = a->t;
  int64_t id = a->h->session_id;
  struct tree_op_result *r = result_add(a);
  if (!r)
    return PROTO_SYSTEMERROR;
  r->type = PROTO_OP_CREATESESSION;
  struct tsession *s = tree_session_get(t, id);
  if (s) {
    session_set(s, timeout_ms, passwd);
    return PROTO_OK;
  }
  s = tree_malloc(t, sizeof *s);
  if (!s)
    return PROTO_SYSTEMERROR;
  memset(s, 0, sizeof *s);
  s->id = id;
  session_set(s, timeout_ms, passwd);
  if (!otab_reserve(t, &t->sessions, t->sessions.n + 1, session_hash)) {
    free(s);
    return PROTO_SYSTEMERROR;
  }
  otab_put(&t->sessions, s, tree_hash_u64((uint64_t)id));
  return PROTO_OK;
}

struct eph_ent {
  struct tnode *n;
  const char *path;
  size_t off, len;
};

static int eph_cmp(const void *x, const void *y) {
  const struct eph_ent *a = x, *b = y;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->path, b->path, m);
  if (c)
    return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

static int apply_close_session(struct actx *a) {
  struct tree *t = a->t;
  struct tree_out *o = a->out;
  int64_t id = a->h->session_id;
  o->closed_session = id;
  struct tree_op_result *r = result_add(a);
  if (!r)
    return PROTO_SYSTEMERROR;
  r->type = PROTO_OP_CLOSESESSION;
  struct tsession *s = tree_session_get(t, id);
  if (!s)
    return PROTO_OK;
  size_t n = s->eph.n;
  struct eph_ent *v = n ? tree_malloc(t, n * sizeof *v) : NULL;
  if (n && !v)
    return PROTO_SYSTEMERROR;
  if (!scratch_reserve(t, n, 2 * n)) {
    free(v);
    return PROTO_SYSTEMERROR;
  }
  t->n_undo = t->n_trig = 0;
  size_t k = 0;
  /* eph.n counts the occupied slots, so k < n bounds v (NULL iff n == 0). */
  for (uint32_t i = 0; i < s->eph.cap && k < n; i++) {
    struct tnode *e = s->eph.slots[i];
    if (!e)
      continue;
    size_t len = tree_node_path_len(e);
    if (!grow_bytes((void **)&o->arena, &o->arena_cap, o->arena_len + len + 1,
                    1)) {
      free(v);
      return PROTO_SYSTEMERROR;
    }
    tree_node_path(e, o->arena + o->arena_len, len);
    o->arena[o->arena_len + len] = 0;
    v[k].n = e;
    v[k].off = o->arena_len;
    v[k].len = len;
    o->arena_len += len + 1;
    k++;
  }
  /* Delete in path order so every replica fires events identically. */
  for (size_t i = 0; i < k; i++)
    v[i].path = o->arena + v[i].off;
  if (k > 1)
    qsort(v, k, sizeof *v, eph_cmp);
  for (size_t i = 0; i < k; i++) {
    int rc = del_node(a, v[i].n, v[i].off, v[i].len);
    if (rc != PROTO_OK) {
      /* Only allocation can fail here: ephemerals have no children. */
      rollback(t);
      free(v);
      return PROTO_SYSTEMERROR;
    }
  }
  free(v);
  int rc = finish(a);
  if (rc != PROTO_OK)
    return rc;
  otab_del(&t->sessions, s, session_hash);
  otab_free(&s->eph);
  free(s);
  return PROTO_OK;
}

static bool ops_reserve(struct tree *t, size_t n) {
  if (n <= t->cap_ops)
    return true;
  struct txop *v = tree_realloc(t, t->ops, n * sizeof *v);
  if (!v)
    return false;
  t->ops = v;
  t->cap_ops = n;
  return true;
}

int tree_apply(struct tree *t, const void *txn, size_t len,
               struct tree_out *out) {
  tree_out_reset(out);
  struct proto_reader r;
  proto_reader_init(&r, txn, len, len);
  struct tree_txn_header h;
  header_read(&r, &h);
  if (proto_reader_err(&r) || h.zxid <= t->last_zxid)
    return PROTO_MARSHALLINGERROR;
  struct actx a = {t, &h, out};
  size_t n_ops = 0;
  int32_t timeout = 0;
  const uint8_t *passwd = NULL;
  switch (h.type) {
  case PROTO_OP_CREATESESSION:
    timeout = proto_read_int(&r);
    if (!proto_reader_err(&r) && proto_reader_remaining(&r) != 0) {
      struct proto_slice pw = proto_read_buffer(&r);
      if (proto_reader_err(&r) || pw.len != PROTO_PASSWD_LEN)
        return PROTO_MARSHALLINGERROR;
      passwd = pw.ptr;
    }
    break;
  case PROTO_OP_CLOSESESSION:
    break;
  case PROTO_OP_MULTI: {
    int32_t n = proto_read_vector_count(&r);
    if (proto_reader_err(&r))
      return PROTO_MARSHALLINGERROR;
    if (!ops_reserve(t, (size_t)n))
      return PROTO_SYSTEMERROR;
    for (int32_t i = 0; i < n; i++) {
      int32_t type = proto_read_int(&r);
      struct proto_slice body = proto_read_buffer(&r);
      if (proto_reader_err(&r) || body.len < 0)
        return PROTO_MARSHALLINGERROR;
      switch (type) {
      case PROTO_OP_CREATE:
      case PROTO_OP_CREATE2:
      case PROTO_OP_CREATECONTAINER:
      case PROTO_OP_CREATETTL:
      case PROTO_OP_DELETE:
      case PROTO_OP_SETDATA:
      case PROTO_OP_CHECK:
      case PROTO_OP_ERROR:
        break;
      default:
        return PROTO_MARSHALLINGERROR;
      }
      struct proto_reader sr;
      proto_reader_init(&sr, body.ptr, (size_t)body.len, (size_t)body.len);
      if (body_read(&sr, type, &t->ops[i]) != PROTO_OK ||
          proto_reader_remaining(&sr) != 0)
        return PROTO_MARSHALLINGERROR;
    }
    n_ops = (size_t)n;
    break;
  }
  default:
    if (!ops_reserve(t, 1))
      return PROTO_SYSTEMERROR;
    if (body_read(&r, h.type, &t->ops[0]) != PROTO_OK)
      return PROTO_MARSHALLINGERROR;
    n_ops = 1;
    break;
  }
  if (proto_reader_err(&r) || proto_reader_remaining(&r) != 0)
    return PROTO_MARSHALLINGERROR;

  int rc;
  out->txn_type = h.type;
  switch (h.type) {
  case PROTO_OP_CREATESESSION:
    rc = apply_create_session(&a, timeout, passwd);
    break;
  case PROTO_OP_CLOSESESSION:
    rc = apply_close_session(&a);
    break;
  case PROTO_OP_ERROR: {
    struct tree_op_result *res = result_add(&a);
    if (!res) {
      rc = PROTO_SYSTEMERROR;
      break;
    }
    res->type = PROTO_OP_ERROR;
    res->err = t->ops[0].err;
    out->err = t->ops[0].err;
    rc = PROTO_OK;
    break;
  }
  case PROTO_OP_MULTI:
    rc = run_ops(&a, t->ops, n_ops, true);
    break;
  default:
    rc = run_ops(&a, t->ops, 1, false);
    break;
  }
  if (rc != PROTO_OK) {
    tree_out_reset(out);
    return rc;
  }
  t->last_zxid = h.zxid;
  return PROTO_OK;
}

/* ------------------------------------------------------------------ */
/* Reply encoding */

static void result_body(struct proto_writer *w, const struct tree_op_result *r,
                        int32_t type) {
  switch (type) {
  case PROTO_OP_CREATE:
    proto_write_string(w, r->path, r->path_len);
    break;
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    proto_write_string(w, r->path, r->path_len);
    proto_write_stat(w, &r->stat);
    break;
  case PROTO_OP_SETDATA:
  case PROTO_OP_SETACL:
    proto_write_stat(w, &r->stat);
    break;
  case PROTO_OP_ERROR:
    proto_write_int(w, r->err);
    break;
  default:
    break;
  }
}

void tree_reply_encode(const struct tree_out *out, struct proto_writer *w) {
  if (out->err != 0)
    return;
  if (out->txn_type != PROTO_OP_MULTI) {
    if (out->n_results)
      result_body(w, &out->results[0], out->txn_type);
    return;
  }
  for (size_t i = 0; i < out->n_results; i++) {
    const struct tree_op_result *r = &out->results[i];
    int32_t t = r->type;
    /* §5.4: create2/createTTL/createContainer results all say 15. */
    if (t == PROTO_OP_CREATECONTAINER || t == PROTO_OP_CREATETTL)
      t = PROTO_OP_CREATE2;
    proto_write_multi_header(w, t, false, r->err);
    result_body(w, r, r->type);
  }
  proto_write_multi_header(w, -1, true, -1);
}

/* ------------------------------------------------------------------ */
/* Prep */

/* What validation needs to know of a node comes from layers (struct
 * tree_nview, tree_int.h): the changes of earlier sub-ops of the same
 * multi (recs), then the caller's pending changes (tree_prep_pending),
 * then the tree. */
struct prep {
  struct tree *t;
  const struct tree_prep_ctx *ctx;
  struct tree_pending *pend; /* NULL for plain tree_prep */
  bool multi;
  bool record; /* keep recs: a multi, or a prep whose effects go to pend */
  struct tree_pchange *recs; /* one per path (view_set updates in place) */
  size_t n_recs, cap_recs;
  struct acl_list **lists; /* parsed ACLs of nodes created / set in recs */
  size_t n_lists, cap_lists;
  struct proto_writer body; /* body of the current (sub-)txn */
  struct proto_writer acl;  /* fixed-up ACL blob */
  char *path;               /* final create path */
  size_t path_cap;
};

static void prep_free(struct prep *p) {
  for (size_t i = 0; i < p->n_recs; i++)
    free(p->recs[i].path);
  free(p->recs);
  for (size_t i = 0; i < p->n_lists; i++)
    free(p->lists[i]);
  free(p->lists);
  proto_writer_free(&p->body);
  proto_writer_free(&p->acl);
  free(p->path);
}

static struct tree_pchange *rec_find(struct prep *p, const char *path,
                                     size_t len) {
  for (size_t i = p->n_recs; i-- > 0;)
    if (p->recs[i].len == len && memcmp(p->recs[i].path, path, len) == 0)
      return &p->recs[i];
  return NULL;
}

static bool view_get(struct prep *p, const char *path, size_t len,
                     struct tree_nview *v) {
  const struct tree_pchange *c = rec_find(p, path, len);
  if (c) {
    *v = c->v;
    return v->exists;
  }
  const struct tree_prec *r =
      p->pend ? tree_pending_node(p->pend, path, len) : NULL;
  if (r) {
    *v = r->v;
    return v->exists;
  }
  struct tnode *n = tree_node_lookup(p->t, path, len);
  memset(v, 0, sizeof *v);
  if (!n)
    return false;
  v->exists = true;
  v->version = tree_node_version(n);
  v->aversion = tree_node_aversion(n);
  v->cversion = tree_node_cversion(n);
  v->n_kids = (int32_t)tree_node_nkids(n);
  v->owner = tree_node_owner(n);
  v->acl = tree_acl_get(p->t, n->acl);
  return true;
}

static bool view_set(struct prep *p, const char *path, size_t len,
                     const struct tree_nview *v) {
  if (!p->record)
    return true;
  struct tree_pchange *c = rec_find(p, path, len);
  if (c) {
    c->v = *v;
    return true;
  }
  if (p->n_recs == p->cap_recs) {
    size_t n = p->cap_recs ? p->cap_recs * 2 : 8;
    struct tree_pchange *r = tree_realloc(p->t, p->recs, n * sizeof *r);
    if (!r)
      return false;
    p->recs = r;
    p->cap_recs = n;
  }
  char *s = tree_malloc(p->t, len + 1);
  if (!s)
    return false;
  memcpy(s, path, len);
  s[len] = 0;
  c = &p->recs[p->n_recs++];
  memset(c, 0, sizeof *c);
  c->path = s;
  c->len = len;
  c->v = *v;
  return true;
}

/* A session is alive for prep if its last pending change created it, or
 * with none pending, if the tree has it. */
static bool session_alive(struct prep *p, int64_t id) {
  const struct tree_prec *r =
      p->pend ? tree_pending_session(p->pend, id) : NULL;
  return r ? r->alive : tree_session_exists(p->t, id);
}

/* A parsed copy of the ACL blob in p->acl, kept in p->lists (the overlay
 * points at it until the prep is freed).  NULL on allocation failure. */
static const struct acl_list *keep_acl(struct prep *p) {
  int err = PROTO_OK;
  struct acl_list *l = tree_acl_parse(p->t, p->acl.buf, p->acl.len, &err);
  if (!l)
    return NULL;
  if (p->n_lists == p->cap_lists) {
    size_t c = p->cap_lists ? p->cap_lists * 2 : 4;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
    struct acl_list **v = tree_realloc(p->t, p->lists, c * sizeof *v);
    if (!v) {
      free(l);
      return NULL;
    }
    p->lists = v;
    p->cap_lists = c;
  }
  p->lists[p->n_lists++] = l;
  return l;
}

static bool acl_ok(struct prep *p, const struct tree_nview *v, int32_t perm) {
  return tree_acl_check(v->acl, perm, &p->ctx->auth);
}

static bool slice_has_nul(struct proto_slice s) {
  return s.len > 0 && memchr(s.ptr, 0, (size_t)s.len) != NULL;
}

static bool data_too_big(struct prep *p, struct proto_slice d) {
  return p->t->cfg.max_data_bytes && d.len > 0 &&
         (size_t)d.len > p->t->cfg.max_data_bytes;
}

static int prep_create(struct prep *p, int32_t op,
                       const struct proto_create_req *r) {
  struct tree *t = p->t;
  int32_t f = r->flags;
  if (f < 0 || f > 6)
    return PROTO_BADARGUMENTS;
  bool ttl_mode = f == PROTO_CREATE_PERSISTENT_WITH_TTL ||
                  f == PROTO_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL;
  /* ZooKeeper checks "TTL mode while extended types are off" before it
   * checks the TTL itself, so op 1/15 with TTL flags on a default server is
   * Unimplemented, not BadArguments.  A TTL mode outside op 21 carries no
   * ttl (0 here), which is invalid. */
  if (ttl_mode) {
    if (!t->cfg.extended_types)
      return PROTO_UNIMPLEMENTED;
    if (op != PROTO_OP_CREATETTL || r->ttl <= 0 || r->ttl > TREE_TTL_MAX)
      return PROTO_BADARGUMENTS;
  } else if (op == PROTO_OP_CREATETTL) {
    return PROTO_BADARGUMENTS;
  }
  if (!session_alive(p, p->ctx->session_id))
    return PROTO_SESSIONEXPIRED;
  if (r->path.len < 0 || slice_has_nul(r->path))
    return PROTO_BADARGUMENTS;
  const char *path = (const char *)r->path.ptr;
  size_t len = (size_t)r->path.len;
  const char *slash = len ? last_slash(path, len) : NULL;
  if (!slash || data_too_big(p, r->data))
    return PROTO_BADARGUMENTS;
  proto_writer_reset(&p->acl);
  int rc = tree_acl_fixup(&r->acl, &p->ctx->auth, p->t->cfg.x509_acls, &p->acl);
  if (rc)
    return rc;
  size_t plen = (size_t)(slash - path);
  const char *ppath = plen ? path : "/";
  size_t pplen = plen ? plen : 1;
  struct tree_nview pv;
  if (!view_get(p, ppath, pplen, &pv))
    return PROTO_NONODE;
  if (!acl_ok(p, &pv, PROTO_PERM_CREATE))
    return PROTO_NOAUTH;
  bool seq = f == PROTO_CREATE_PERSISTENT_SEQUENTIAL ||
             f == PROTO_CREATE_EPHEMERAL_SEQUENTIAL ||
             f == PROTO_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL;
  size_t flen = len + (seq ? 11 : 0);
  if (flen + 1 > p->path_cap) {
    char *np = tree_realloc(t, p->path, flen + 1);
    if (!np)
      return PROTO_SYSTEMERROR;
    p->path = np;
    p->path_cap = flen + 1;
  }
  memcpy(p->path, path, len);
  flen = len;
  if (seq) {
    /* %010d of the parent's stored cversion: the sign sits inside the
     * width, like Java's String.format (§7.5). */
    char suf[16];
    int k = snprintf(suf, sizeof suf, "%010d", (int)pv.cversion);
    memcpy(p->path + len, suf, (size_t)k);
    flen += (size_t)k;
  }
  p->path[flen] = 0;
  if (proto_path_validate(p->path, flen) != PROTO_OK)
    return PROTO_BADARGUMENTS;
  struct tree_nview nv;
  if (view_get(p, p->path, flen, &nv))
    return PROTO_NODEEXISTS;
  if (tree_owner_is_session(pv.owner))
    return PROTO_NOCHILDRENFOREPHEMERALS;

  bool eph =
      op != PROTO_OP_CREATECONTAINER && op != PROTO_OP_CREATETTL &&
      (f == PROTO_CREATE_EPHEMERAL || f == PROTO_CREATE_EPHEMERAL_SEQUENTIAL);
  int32_t new_cv = (int32_t)((uint32_t)pv.cversion + 1u);
  struct proto_writer *w = &p->body;
  proto_write_string(w, p->path, flen);
  proto_write_slice(w, r->data);
  proto_write_raw(w, p->acl.buf, p->acl.len);
  if (op == PROTO_OP_CREATE || op == PROTO_OP_CREATE2)
    proto_write_bool(w, eph);
  proto_write_int(w, new_cv);
  if (op == PROTO_OP_CREATETTL)
    proto_write_long(w, r->ttl);

  if (p->record) {
    const struct acl_list *l = keep_acl(p);
    if (!l)
      return PROTO_SYSTEMERROR;
    pv.cversion = new_cv;
    pv.n_kids++;
    memset(&nv, 0, sizeof nv);
    nv.exists = true;
    nv.acl = l;
    nv.owner = op == PROTO_OP_CREATECONTAINER ? TREE_OWNER_CONTAINER
               : op == PROTO_OP_CREATETTL
                   ? (int64_t)(TREE_OWNER_TTL_TAG | (uint64_t)r->ttl)
               : eph ? p->ctx->session_id
                     : 0;
    if (!view_set(p, ppath, pplen, &pv) || !view_set(p, p->path, flen, &nv))
      return PROTO_SYSTEMERROR;
  }
  return PROTO_OK;
}

/* delete (2) and the reaper's deleteContainer (20). */
static int prep_delete(struct prep *p, int32_t op, struct proto_slice ps,
                       int32_t version) {
  if (op == PROTO_OP_DELETE && !session_alive(p, p->ctx->session_id))
    return PROTO_SESSIONEXPIRED;
  if (ps.len < 0 || slice_has_nul(ps))
    return PROTO_BADARGUMENTS;
  const char *path = (const char *)ps.ptr;
  size_t len = (size_t)ps.len;
  const char *slash = len ? last_slash(path, len) : NULL;
  if (!slash || is_special(path, len))
    return PROTO_BADARGUMENTS;
  size_t plen = (size_t)(slash - path);
  const char *ppath = plen ? path : "/";
  size_t pplen = plen ? plen : 1;
  struct tree_nview pv, nv;
  if (op == PROTO_OP_DELETE) {
    if (!view_get(p, ppath, pplen, &pv))
      return PROTO_NONODE;
    if (!acl_ok(p, &pv, PROTO_PERM_DELETE))
      return PROTO_NOAUTH;
    if (!view_get(p, path, len, &nv))
      return PROTO_NONODE;
    if (version != -1 && version != nv.version)
      return PROTO_BADVERSION;
    if (nv.n_kids > 0)
      return PROTO_NOTEMPTY;
  } else {
    if (!view_get(p, path, len, &nv))
      return PROTO_NONODE;
    if (nv.n_kids > 0)
      return PROTO_NOTEMPTY;
    if (tree_owner_is_session(nv.owner))
      return PROTO_BADVERSION;
    view_get(p, ppath, pplen, &pv);
  }
  proto_write_string(&p->body, path, len);
  if (p->record) {
    pv.n_kids--;
    memset(&nv, 0, sizeof nv);
    if (!view_set(p, ppath, pplen, &pv) || !view_set(p, path, len, &nv))
      return PROTO_SYSTEMERROR;
  }
  return PROTO_OK;
}

/* The first two checks of setData, setACL and check (§7.2): the session
 * is alive, then the path passes full validation. */
static int prep_session_and_path(struct prep *p, struct proto_slice s,
                                 const char **path, size_t *len) {
  if (!session_alive(p, p->ctx->session_id))
    return PROTO_SESSIONEXPIRED;
  if (s.len < 0 || proto_path_validate((const char *)s.ptr, (size_t)s.len))
    return PROTO_BADARGUMENTS;
  *path = (const char *)s.ptr;
  *len = (size_t)s.len;
  return PROTO_OK;
}

static int prep_set_data(struct prep *p, const struct proto_set_data_req *r) {
  const char *path;
  size_t len;
  int rc0 = prep_session_and_path(p, r->path, &path, &len);
  if (rc0)
    return rc0;
  struct tree_nview v;
  if (!view_get(p, path, len, &v))
    return PROTO_NONODE;
  if (!acl_ok(p, &v, PROTO_PERM_WRITE))
    return PROTO_NOAUTH;
  if (data_too_big(p, r->data))
    return PROTO_BADARGUMENTS;
  if (r->version != -1 && r->version != v.version)
    return PROTO_BADVERSION;
  v.version = (int32_t)((uint32_t)v.version + 1u);
  proto_write_string(&p->body, path, len);
  proto_write_slice(&p->body, r->data);
  proto_write_int(&p->body, v.version);
  if (!view_set(p, path, len, &v))
    return PROTO_SYSTEMERROR;
  return PROTO_OK;
}

static int prep_set_acl(struct prep *p, const struct proto_set_acl_req *r) {
  const char *path;
  size_t len;
  int rc0 = prep_session_and_path(p, r->path, &path, &len);
  if (rc0)
    return rc0;
  proto_writer_reset(&p->acl);
  int rc = tree_acl_fixup(&r->acl, &p->ctx->auth, p->t->cfg.x509_acls, &p->acl);
  if (rc)
    return rc;
  struct tree_nview v;
  if (!view_get(p, path, len, &v))
    return PROTO_NONODE;
  if (!acl_ok(p, &v, PROTO_PERM_ADMIN))
    return PROTO_NOAUTH;
  if (r->version != -1 && r->version != v.aversion)
    return PROTO_BADVERSION;
  int32_t nav = (int32_t)((uint32_t)v.aversion + 1u);
  proto_write_string(&p->body, path, len);
  proto_write_raw(&p->body, p->acl.buf, p->acl.len);
  proto_write_int(&p->body, nav);
  if (p->record) {
    /* Later preps check permissions against the new list. */
    v.aversion = nav;
    v.acl = keep_acl(p);
    if (!v.acl || !view_set(p, path, len, &v))
      return PROTO_SYSTEMERROR;
  }
  return PROTO_OK;
}

static int prep_check(struct prep *p, const struct proto_check_req *r) {
  const char *path;
  size_t len;
  int rc0 = prep_session_and_path(p, r->path, &path, &len);
  if (rc0)
    return rc0;
  struct tree_nview v;
  if (!view_get(p, path, len, &v))
    return PROTO_NONODE;
  if (!acl_ok(p, &v, PROTO_PERM_READ))
    return PROTO_NOAUTH;
  if (r->version != -1 && r->version != v.version)
    return PROTO_BADVERSION;
  proto_write_string(&p->body, path, len);
  proto_write_int(&p->body, v.version);
  return PROTO_OK;
}

static int prep_multi(struct prep *p, const struct proto_multi_req *m,
                      struct proto_writer *out, bool *ok) {
  p->multi = true;
  p->record = true;
  struct proto_writer subs;
  proto_writer_init(&subs);
  struct proto_multi_iter it;
  proto_multi_iter_init(&it, m);
  struct proto_multi_op op;
  int32_t n = 0, fail_at = -1, fail_err = 0;
  while (proto_multi_iter_next(&it, &op)) {
    proto_writer_reset(&p->body);
    int rc;
    switch (op.type) {
    case PROTO_OP_CREATE:
    case PROTO_OP_CREATE2:
    case PROTO_OP_CREATECONTAINER:
    case PROTO_OP_CREATETTL:
      rc = prep_create(p, op.type, &op.u.create);
      break;
    case PROTO_OP_DELETE:
      rc = prep_delete(p, op.type, op.u.del.path, op.u.del.version);
      break;
    case PROTO_OP_SETDATA:
      rc = prep_set_data(p, &op.u.set_data);
      break;
    case PROTO_OP_CHECK:
      rc = prep_check(p, &op.u.check);
      break;
    default:
      rc = PROTO_BADARGUMENTS;
      break;
    }
    if (rc == PROTO_SYSTEMERROR || proto_writer_err(&p->body)) {
      proto_writer_free(&subs);
      return PROTO_SYSTEMERROR;
    }
    if (rc != PROTO_OK) {
      fail_at = n;
      fail_err = rc;
      break;
    }
    proto_write_int(&subs, op.type);
    proto_write_buffer(&subs, p->body.buf, (int32_t)p->body.len);
    n++;
  }
  int32_t total = m->count > 0 ? m->count : 0;
  proto_write_int(out, total);
  *ok = fail_at < 0;
  if (fail_at < 0) {
    proto_write_raw(out, subs.buf, subs.len);
  } else {
    /* All-or-nothing: a multi of error txns (§5.4). */
    for (int32_t i = 0; i < total; i++) {
      int32_t e = i < fail_at    ? 0
                  : i == fail_at ? fail_err
                                 : PROTO_RUNTIMEINCONSISTENCY;
      uint8_t b[4];
      proto_store_be32(b, (uint32_t)e);
      proto_write_int(out, PROTO_OP_ERROR);
      proto_write_buffer(out, b, 4);
    }
  }
  int err = proto_writer_err(&subs);
  proto_writer_free(&subs);
  return err ? PROTO_SYSTEMERROR : PROTO_OK;
}

static bool is_prep_op(int32_t op) {
  switch (op) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
  case PROTO_OP_DELETE:
  case PROTO_OP_DELETECONTAINER:
  case PROTO_OP_SETDATA:
  case PROTO_OP_SETACL:
  case PROTO_OP_MULTI:
    return true;
  default:
    return false;
  }
}

static void prep_init(struct prep *p, struct tree *t,
                      const struct tree_prep_ctx *ctx,
                      struct tree_pending *pend) {
  memset(p, 0, sizeof *p);
  p->t = t;
  p->ctx = ctx;
  p->pend = pend;
  p->record = pend != NULL;
  proto_writer_init(&p->body);
  proto_writer_init(&p->acl);
}

/* The prep of one request into txn_out.  *ok: the txn is not an error
 * txn (its changes are in p->recs when p->record). */
static int prep_run(struct prep *p, const struct proto_request *req,
                    struct proto_writer *txn_out, bool *ok) {
  const struct tree_prep_ctx *ctx = p->ctx;
  int32_t op = req->hdr.type;
  struct tree_txn_header h = {ctx->session_id, ctx->cxid, ctx->zxid,
                              ctx->time_ms, op};
  int rc;
  *ok = false;
  if (op == PROTO_OP_MULTI) {
    header_write(txn_out, &h);
    rc = prep_multi(p, &req->u.multi, txn_out, ok);
  } else {
    switch (op) {
    case PROTO_OP_DELETE:
      rc = prep_delete(p, op, req->u.del.path, req->u.del.version);
      break;
    case PROTO_OP_DELETECONTAINER:
      rc = prep_delete(p, op, req->u.path.path, -1);
      break;
    case PROTO_OP_SETDATA:
      rc = prep_set_data(p, &req->u.set_data);
      break;
    case PROTO_OP_SETACL:
      rc = prep_set_acl(p, &req->u.set_acl);
      break;
    default:
      rc = prep_create(p, op, &req->u.create);
      break;
    }
    if (rc != PROTO_SYSTEMERROR && proto_writer_err(&p->body))
      rc = PROTO_SYSTEMERROR;
    if (rc == PROTO_OK) {
      header_write(txn_out, &h);
      proto_write_raw(txn_out, p->body.buf, p->body.len);
      *ok = true;
    } else if (rc != PROTO_SYSTEMERROR) {
      h.type = PROTO_OP_ERROR;
      header_write(txn_out, &h);
      proto_write_int(txn_out, rc);
      rc = PROTO_OK;
    }
  }
  if (rc == PROTO_OK && proto_writer_err(txn_out))
    rc = PROTO_SYSTEMERROR;
  return rc;
}

int tree_prep(struct tree *t, const struct tree_prep_ctx *ctx,
              const struct proto_request *req, struct proto_writer *txn_out) {
  if (!is_prep_op(req->hdr.type))
    return PROTO_UNIMPLEMENTED;
  struct prep p;
  prep_init(&p, t, ctx, NULL);
  bool ok;
  int rc = prep_run(&p, req, txn_out, &ok);
  prep_free(&p);
  return rc;
}

int tree_prep_pending(struct tree *t, struct tree_pending *pend,
                      const struct tree_prep_ctx *ctx,
                      const struct proto_request *req,
                      struct proto_writer *txn_out) {
  if (!is_prep_op(req->hdr.type))
    return PROTO_UNIMPLEMENTED;
  struct prep p;
  prep_init(&p, t, ctx, pend);
  bool ok;
  int rc = prep_run(&p, req, txn_out, &ok);
  if (rc == PROTO_OK && ok)
    rc = tree_pending_merge(t, pend, p.recs, p.n_recs, 0, false, ctx->zxid);
  prep_free(&p);
  return rc;
}

int tree_prep_create_session(struct tree *t, struct tree_pending *pend,
                             const struct tree_txn_header *h,
                             int32_t timeout_ms,
                             const uint8_t passwd[PROTO_PASSWD_LEN],
                             struct proto_writer *txn_out) {
  int rc = tree_pending_merge(t, pend, NULL, 0, h->session_id, true, h->zxid);
  if (rc == PROTO_OK)
    tree_txn_encode_create_session(txn_out, h, timeout_ms, passwd);
  return rc;
}

/* Delete (in the overlay) the node at path if it exists and the session
 * owns it; its parent loses a child. */
static bool close_one(struct prep *p, int64_t id, const char *path,
                      size_t len) {
  struct tree_nview v, pv;
  if (!view_get(p, path, len, &v) || v.owner != id)
    return true;
  const char *slash = last_slash(path, len);
  size_t plen = (size_t)(slash - path);
  const char *ppath = plen ? path : "/";
  size_t pplen = plen ? plen : 1;
  if (!view_get(p, ppath, pplen, &pv))
    return true; /* cannot be: a node's parent exists */
  pv.n_kids--;
  memset(&v, 0, sizeof v);
  return view_set(p, ppath, pplen, &pv) && view_set(p, path, len, &v);
}

/* Every ephemeral the session owns, in the tree and in pending records. */
static bool close_ephemerals(struct prep *p, int64_t id) {
  struct tree *t = p->t;
  const struct tsession *s = tree_session_get(t, id);
  for (uint32_t i = 0; s && i < s->eph.cap; i++) {
    const struct tnode *n = s->eph.slots[i];
    if (!n)
      continue;
    size_t len = tree_node_path_len(n);
    if (len + 1 > p->path_cap) {
      char *np = tree_realloc(t, p->path, len + 1);
      if (!np)
        return false;
      p->path = np;
      p->path_cap = len + 1;
    }
    tree_node_path(n, p->path, len);
    if (!close_one(p, id, p->path, len))
      return false;
  }
  const struct otab *o = &p->pend->nodes;
  for (uint32_t i = 0; i < o->cap; i++) {
    const struct tree_prec *r = o->slots[i];
    if (r && r->v.exists && r->v.owner == id &&
        !close_one(p, id, r->path, r->len))
      return false;
  }
  return true;
}

int tree_prep_close_session(struct tree *t, struct tree_pending *pend,
                            const struct tree_txn_header *h,
                            struct proto_writer *txn_out) {
  struct tree_prep_ctx ctx = {
      h->session_id, h->cxid, h->zxid, h->time_ms, {NULL, 0}};
  struct prep p;
  prep_init(&p, t, &ctx, pend);
  int rc = PROTO_SYSTEMERROR;
  if (close_ephemerals(&p, h->session_id))
    rc = tree_pending_merge(t, pend, p.recs, p.n_recs, h->session_id, false,
                            h->zxid);
  prep_free(&p);
  if (rc == PROTO_OK)
    tree_txn_encode_close_session(txn_out, h);
  return rc;
}

/* ------------------------------------------------------------------ */
/* setWatches (§7.10) */

int tree_set_watches(struct tree *t, uint64_t watcher,
                     const struct proto_set_watches_req *req,
                     struct tree_out *out) {
  tree_out_reset(out);
  const struct proto_str_vec *lists[3] = {
      &req->data_watches, &req->exist_watches, &req->child_watches};
  /* Reserve the arena and events up front so path pointers stay put:
   * each path, and the ACL of each node that exists and is not readable
   * by anyone (its catch-up event carries it, as a fired watch's does). */
  size_t bytes = 0, count = 0;
  for (int l = 0; l < 3; l++) {
    struct proto_str_iter it;
    struct proto_slice s;
    proto_str_iter_init(&it, lists[l]);
    while (proto_str_iter_next(&it, &s)) {
      size_t len = (size_t)(s.len > 0 ? s.len : 0);
      bytes += len + 1;
      count++;
      const struct tnode *n =
          tree_node_lookup(t, s.ptr ? (const char *)s.ptr : "", len);
      const struct acl_list *acl = n ? event_acl(t, n->acl) : NULL;
      bytes += acl ? acl->blob_len : 0;
    }
  }
  if (!grow_bytes((void **)&out->arena, &out->arena_cap, bytes, 1) ||
      !grow_bytes((void **)&out->events, &out->cap_events, count,
                  sizeof *out->events))
    return PROTO_SYSTEMERROR;
  for (int l = 0; l < 3; l++) {
    struct proto_str_iter it;
    struct proto_slice s;
    proto_str_iter_init(&it, lists[l]);
    while (proto_str_iter_next(&it, &s)) {
      const char *path = (const char *)s.ptr;
      size_t len = (size_t)(s.len > 0 ? s.len : 0);
      if (!path)
        path = "";
      struct tnode *n = tree_node_lookup(t, path, len);
      int32_t ev = 0;
      uint32_t bits = 0;
      if (l == 0) {
        if (!n)
          ev = PROTO_EVENT_NODE_DELETED;
        else if (tree_node_mzxid(n) > req->relative_zxid)
          ev = PROTO_EVENT_NODE_DATA_CHANGED;
        else
          bits = TREE_W_DATA;
      } else if (l == 1) {
        if (n)
          ev = PROTO_EVENT_NODE_CREATED;
        else
          bits = TREE_W_DATA;
      } else {
        if (!n)
          ev = PROTO_EVENT_NODE_DELETED;
        else if (tree_node_pzxid(n) > req->relative_zxid)
          ev = PROTO_EVENT_NODE_CHILDREN_CHANGED;
        else
          bits = TREE_W_CHILD;
      }
      if (ev) {
        size_t off;
        /* Space was reserved above, so this never reallocates (and the
         * event paths already handed out stay valid); check anyway. */
        if (!arena_add(out, path, len, &off))
          return PROTO_SYSTEMERROR;
        struct tree_event *e = &out->events[out->n_events++];
        e->watcher = watcher;
        e->type = ev;
        e->path = out->arena + off;
        e->path_len = len;
        const struct acl_list *acl = n ? event_acl(t, n->acl) : NULL;
        e->acl = acl ? arena_put_acl(out, acl) : NULL;
        e->acl_len = acl ? acl->blob_len : 0;
      } else if (tree_watch_add(t, path, len, watcher, bits) != PROTO_OK) {
        return PROTO_SYSTEMERROR;
      }
    }
  }
  /* setWatches2's persistent lists: registered, no catch-up events. */
  const struct proto_str_vec *plists[2] = {&req->persistent_watches,
                                           &req->persistent_recursive_watches};
  for (int l = 0; l < 2; l++) {
    struct proto_str_iter it;
    struct proto_slice s;
    proto_str_iter_init(&it, plists[l]);
    while (proto_str_iter_next(&it, &s)) {
      const char *path = s.ptr ? (const char *)s.ptr : "";
      size_t len = (size_t)(s.len > 0 ? s.len : 0);
      if (tree_add_watch(t, path, len, watcher,
                         l == 0 ? PROTO_ADD_WATCH_PERSISTENT
                                : PROTO_ADD_WATCH_PERSISTENT_RECURSIVE) !=
          PROTO_OK)
        return PROTO_SYSTEMERROR;
    }
  }
  return PROTO_OK;
}

int tree_config_init(struct tree *t, const char *text, size_t len,
                     int64_t version) {
  struct tnode *n =
      tree_node_lookup(t, TREE_CONFIG_PATH, strlen(TREE_CONFIG_PATH));
  if (!n || len > INT32_MAX)
    return PROTO_SYSTEMERROR;
  struct tnode_ext *x = tree_node_ext(t, n);
  if (!x)
    return PROTO_SYSTEMERROR;
  /* as do_set_data: inline when it fits the node's room, else a buffer */
  uint8_t *d = NULL;
  if (len > x->icap) {
    d = tree_malloc(t, len);
    if (!d)
      return PROTO_SYSTEMERROR;
    memcpy(d, text, len);
  }
  t->data_size -= data_bytes(n);
  free(x->xdata);
  if (!d && len)
    memcpy((uint8_t *)n->name + n->name_len, text, len);
  x->xdata = d;
  n->data_len = (int32_t)len;
  t->data_size += data_bytes(n);
  x->version = -1;
  x->mzxid = version;
  x->mtime = 0;
  return PROTO_OK;
}
