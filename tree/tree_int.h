/* tree internals shared by the files of tree/ (and the unit tests' hooks).
 * Not a public interface: nothing outside tree/ and tests/ includes it. */
#ifndef ROOST_TREE_INT_H
#define ROOST_TREE_INT_H

#include "tree/tree.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Stored ephemeralOwner encodings (§7.7).  Both are reported as 0 on the
 * wire. */
#define TREE_OWNER_CONTAINER INT64_MIN
#define TREE_OWNER_TTL_TAG UINT64_C(0xFF00000000000000)
#define TREE_TTL_MAX INT64_C(0xFFFFFFFFFF)

static inline bool tree_owner_is_container(int64_t o) {
  return o == TREE_OWNER_CONTAINER;
}
static inline bool tree_owner_is_ttl(int64_t o) {
  return ((uint64_t)o & TREE_OWNER_TTL_TAG) == TREE_OWNER_TTL_TAG;
}
/* A real session id (the node is ephemeral). */
static inline bool tree_owner_is_session(int64_t o) {
  return o != 0 && !tree_owner_is_container(o) && !tree_owner_is_ttl(o);
}

/* ------------------------------------------------------------------ */
/* Open-addressing table of item pointers (linear probing, backward-shift
 * deletion, so no tombstones).  The caller supplies the hash of an item;
 * lookups compare with a callback.  Any capacity (home slot = hash scaled
 * to it), load kept at or below 3/4.  Growth is separate from insertion
 * (otab_reserve) so an insert after a successful reserve cannot fail: apply
 * relies on it. */
struct otab {
  void **slots;
  uint32_t cap;
  uint32_t n;
};
typedef uint32_t (*otab_hash_fn)(const void *item);
typedef bool (*otab_eq_fn)(const void *item, const void *key);

/* Make room for `n_total` items.  Returns false on allocation failure
 * (table unchanged). */
bool otab_reserve(struct tree *t, struct otab *o, uint32_t n_total,
                  otab_hash_fn hash);
void *otab_get(const struct otab *o, uint32_t hash, otab_eq_fn eq,
               const void *key);
/* Capacity must have been reserved. */
void otab_put(struct otab *o, void *item, uint32_t hash);
/* Slot index of an item that is in the table. */
uint32_t otab_slot(const struct otab *o, const void *item, uint32_t hash);
/* Shrink the table to the smallest capacity that holds its items (a
 * table filled once and then mostly read, e.g. after a snapshot load).
 * Without memory it stays as it is. */
void otab_fit(struct tree *t, struct otab *o, otab_hash_fn hash);
/* Remove this exact item; returns false if absent. */
bool otab_del(struct otab *o, const void *item, otab_hash_fn hash);
void otab_free(struct otab *o);

uint32_t tree_hash_bytes(const void *p, size_t n);
uint32_t tree_hash_u64(uint64_t v);

/* ------------------------------------------------------------------ */
/* Nodes.  One allocation per node: the fields every node needs, its name
 * (no NUL) and, right after the name, its data as created.  Everything
 * that a node only needs once something happened to it (a child, a
 * setData, a setACL, an owner) lives in a struct tnode_ext allocated then;
 * without one, those fields have the values of a fresh node (see the
 * accessors below), so a written-once leaf costs its name, its data and
 * 36 bytes (tree_mem: 155 bytes per znode of 100 bytes of data, child
 * table slot included).  Both structs are internal: snapshots and the digest
 * read the fields through the accessors, so their meaning does not change.
 *
 * Data lives inline (up to icap bytes: the length the node was created
 * with) or, once a setData made it longer, in x->xdata. */
struct tnode_ext {
  struct tnode *parent; /* the node's parent (see tnode.up) */
  struct otab kids;     /* struct tnode *, hashed by name */
  uint8_t *xdata;       /* the data when it is longer than icap, else NULL */
  int64_t mzxid, pzxid, mtime;
  int64_t owner; /* stored ephemeralOwner (session / container / TTL) */
  int32_t version;
  int32_t cversion; /* stored: child creations only (§4.2) */
  int32_t aversion;
  uint32_t icap; /* bytes of inline data room */
};

struct tnode {
  /* The parent (NULL for the root) while the node has no extension, then
   * the extension (it holds the parent): one word for both, has_x says
   * which.  Read it with tree_node_parent / tree_node_x. */
  union {
    struct tnode *parent;
    struct tnode_ext *x;
  } up;
  int64_t czxid, ctime;
  int32_t data_len;       /* -1 = null data */
  uint32_t acl;           /* index into the ACL table */
  uint32_t name_len : 31; /* paths are shorter than jute.maxbuffer */
  uint32_t has_x : 1;
  char name[]; /* name_len bytes, then the inline data */
};

static inline struct tnode_ext *tree_node_x(const struct tnode *n) {
  assert(!n->has_x || n->up.x);
  return n->has_x ? n->up.x : NULL;
}
static inline struct tnode *tree_node_parent(const struct tnode *n) {
  struct tnode_ext *x = tree_node_x(n);
  return x ? x->parent : n->up.parent;
}
static inline void tree_node_set_parent(struct tnode *n, struct tnode *p) {
  if (n->has_x)
    n->up.x->parent = p;
  else
    n->up.parent = p;
}

/* Bytes of a node allocation before its name. */
#define TREE_NODE_HDR offsetof(struct tnode, name)

static inline int64_t tree_node_mzxid(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->mzxid : n->czxid;
}
static inline int64_t tree_node_pzxid(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->pzxid : n->czxid;
}
static inline int64_t tree_node_mtime(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->mtime : n->ctime;
}
static inline int64_t tree_node_owner(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->owner : 0;
}
static inline int32_t tree_node_version(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->version : 0;
}
static inline int32_t tree_node_cversion(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->cversion : 0;
}
static inline int32_t tree_node_aversion(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->aversion : 0;
}
static inline uint32_t tree_node_nkids(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? x->kids.n : 0;
}
/* The children table, or NULL when the node never had an extension (then
 * it has no children). */
static inline const struct otab *tree_node_kids(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  return x ? &x->kids : NULL;
}
static inline uint8_t *tree_node_data(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  if (x && x->xdata)
    return x->xdata;
  return (uint8_t *)(uintptr_t)(n->name + n->name_len);
}
uint32_t tree_node_name_hash(const struct tnode *n);

struct tnode *tree_node_lookup(const struct tree *t, const char *path,
                               size_t len);
struct tnode *tree_node_child(const struct tnode *parent, const char *name,
                              size_t len);
void tree_node_stat(const struct tnode *n, struct proto_stat *s);
/* Length of the node's full path. */
size_t tree_node_path_len(const struct tnode *n);
/* Writes the full path (no NUL) into buf, which has path_len bytes. */
void tree_node_path(const struct tnode *n, char *buf, size_t path_len);
/* Bytes of n's allocation (tree_node_free gives them back). */
static inline size_t tree_node_size(const struct tnode *n) {
  const struct tnode_ext *x = tree_node_x(n);
  size_t icap = x ? x->icap : n->data_len > 0 ? (size_t)n->data_len : 0;
  return TREE_NODE_HDR + n->name_len + icap;
}

/* A node with the name and data_len bytes of data (data_len < 0: null
 * data), every other field zero.  NULL when out of memory. */
struct tnode *tree_node_alloc(struct tree *t, const char *name, size_t len,
                              const uint8_t *data, int32_t data_len);
/* The node's extension, made (with the default values) when it has none.
 * NULL when out of memory; the node is unchanged then. */
struct tnode_ext *tree_node_ext(struct tree *t, struct tnode *n);
void tree_node_free(struct tree *t, struct tnode *n);
/* otab_fit every child table (after a snapshot load). */
void tree_fit_tables(struct tree *t);

/* ------------------------------------------------------------------ */
/* ACLs: interned lists (one copy per distinct list, refcounted). */

struct acl_item {
  int32_t perms;
  const char *scheme;
  uint32_t scheme_len;
  const char *id;
  uint32_t id_len;
};
struct acl_list {
  uint32_t n;
  struct acl_item *items;
  const uint8_t *blob; /* jute vector<ACL>: count + elements */
  size_t blob_len;
};
struct acl_entry {
  struct acl_list l;
  uint32_t refs;
  uint32_t index;
  uint32_t hash;
};
struct acl_table {
  struct acl_entry **v; /* by index; NULL = free slot */
  uint32_t n, cap;
  uint32_t *free_idx;
  uint32_t n_free, cap_free;
  struct otab map; /* acl_entry *, by blob hash */
};

/* Parse a jute vector<ACL> blob.  Returns a list in one allocation (free
 * with free()), or NULL on malformed input / allocation failure (*err
 * tells which). */
struct acl_list *tree_acl_parse(struct tree *t, const uint8_t *blob, size_t len,
                                int *err);
/* Find or add the list, taking a reference.  PROTO_OK,
 * PROTO_MARSHALLINGERROR (blob does not decode) or PROTO_SYSTEMERROR. */
int tree_acl_intern(struct tree *t, const uint8_t *blob, size_t len,
                    uint32_t *index);
void tree_acl_ref(struct tree *t, uint32_t index);
void tree_acl_unref(struct tree *t, uint32_t index);
const struct acl_list *tree_acl_get(const struct tree *t, uint32_t index);
void tree_acl_table_free(struct acl_table *a);
/* §7.13: true if `auth` may do `perm` (any bit of it) on a node with
 * this list. */
bool tree_acl_check(const struct acl_list *l, int32_t perm,
                    const struct tree_auth *auth);
/* A caller with no identities may READ (world:anyone has READ, or the list
 * is empty): events about such a node need no check per watcher. */
bool tree_acl_anyone_reads(const struct acl_list *l);
/* §7.2 ACL list rules: dedup, expand "auth", validate; writes the
 * canonical blob (count + elements) into out.  PROTO_OK,
 * PROTO_INVALIDACL or PROTO_SYSTEMERROR. */
int tree_acl_fixup(const struct proto_acl_vec *in, const struct tree_auth *auth,
                   bool x509_acls, struct proto_writer *out);

/* ------------------------------------------------------------------ */
/* Watches: one table keyed by path; per (path, watcher) an entry with a
 * bitset of modes, so persistent / recursive modes (§7.9) are more bits.
 * Each entry is linked from its path and from its watcher (reverse index
 * for tree_watches_drop), both by swap-remove arrays with back indices. */

enum {
  TREE_W_DATA = 1,  /* standard data watch (getData, exists) */
  TREE_W_CHILD = 2, /* standard child watch (getChildren) */
  /* addWatch modes (§7.9).  ZooKeeper keeps a persistent or recursive
   * watch in both of its tables (observed on 3.8.0: checkWatches type
   * Children answers OK for a recursive watch, and removeWatches type Data
   * takes away only the data-table half), so each mode has one bit per
   * table. */
  TREE_W_PDATA = 4,   /* persistent, data table */
  TREE_W_PCHILD = 8,  /* persistent, child table */
  TREE_W_RDATA = 16,  /* persistent recursive, data table */
  TREE_W_RCHILD = 32, /* persistent recursive, child table */

  TREE_W_STANDARD = TREE_W_DATA | TREE_W_CHILD, /* one-shot bits */
  TREE_W_PERSISTENT = TREE_W_PDATA | TREE_W_PCHILD,
  TREE_W_RECURSIVE = TREE_W_RDATA | TREE_W_RCHILD,
  TREE_W_DATA_TABLE = TREE_W_DATA | TREE_W_PDATA | TREE_W_RDATA,
  TREE_W_CHILD_TABLE = TREE_W_CHILD | TREE_W_PCHILD | TREE_W_RCHILD,
  TREE_W_ALL = TREE_W_DATA_TABLE | TREE_W_CHILD_TABLE,
};

struct wpath;
struct wwatcher;
struct wentry {
  struct wpath *wp;
  struct wwatcher *ww;
  uint32_t bits;
  uint32_t ip; /* index in wp->v */
  uint32_t iw; /* index in ww->v */
};
struct wpath {
  struct wentry **v;
  uint32_t n, cap;
  uint32_t n_data; /* entries with TREE_W_DATA */
  uint32_t hash;
  size_t len;
  char path[];
};
struct wwatcher {
  uint64_t id;
  struct wentry **v;
  uint32_t n, cap;
  uint32_t n_data;
  uint64_t stamp; /* last trigger generation that emitted to it */
};
struct watch_table {
  struct otab paths;    /* struct wpath * */
  struct otab watchers; /* struct wwatcher * */
  /* (path, watcher) pairs in ZooKeeper's data / child table (any mode) */
  uint64_t n_data_entries, n_child_entries;
  uint64_t n_data_paths, n_data_watchers;
  /* entries with persistent / recursive bits: with no recursive entry a
   * trigger never looks at ancestors, with neither apply skips the
   * per-transaction duplicate check. */
  uint64_t n_persistent_entries, n_recursive_entries;
  uint64_t gen; /* trigger generation, for one event per watcher */
};

/* Add mode bits for (path, watcher).  PROTO_OK or PROTO_SYSTEMERROR. */
int tree_watch_add(struct tree *t, const char *path, size_t len,
                   uint64_t watcher, uint32_t bits);
/* Upper bound of the events tree_watch_trigger can emit for this
 * (type, path): entries on the path, plus those on its ancestors when a
 * recursive watch exists, capped at the number of watchers. */
size_t tree_watch_bound(const struct tree *t, int32_t type, const char *path,
                        size_t len);
/* Fire the watches one change triggers (§7.8, §7.9): the entries on
 * `path` whose bits match the event type, then (when recursive watches
 * exist and type is not NodeChildrenChanged) the recursive entries on
 * every ancestor.  emit is called at most once per watcher; standard bits
 * that matched are cleared, persistent ones stay.  Never allocates. */
typedef void (*tree_watch_emit_fn)(void *arg, uint64_t watcher);
void tree_watch_trigger(struct tree *t, int32_t type, const char *path,
                        size_t len, tree_watch_emit_fn emit, void *arg);
void tree_watch_table_free(struct watch_table *w);

/* ------------------------------------------------------------------ */
/* Sessions. */
struct tsession {
  int64_t id;
  int32_t timeout_ms;
  bool has_passwd; /* false: created by a txn without one (older logs) */
  uint8_t passwd[PROTO_PASSWD_LEN];
  struct otab eph; /* struct tnode * of its ephemerals */
};
struct tsession *tree_session_get(const struct tree *t, int64_t id);
uint32_t tree_ptr_hash(const void *p);

/* ------------------------------------------------------------------ */
/* Prep's view of a node and the pending changes (tree/pending.c).
 *
 * prep validates against a view: the changes of earlier sub-ops of the
 * same multi (struct tree_pchange, owned by the prep), then the caller's
 * struct tree_pending (changes prepped but not applied yet), then the
 * tree.  acl borrows from whichever layer answered. */
struct tree_nview {
  bool exists;
  int32_t version, aversion, cversion, n_kids;
  int64_t owner;
  const struct acl_list *acl; /* NULL when !exists */
};

/* A record of the pending state of one path, or of one session's
 * existence (session records have path_len 0 and no path).  Owned by the
 * tree_pending; acl is its own copy (the tree's interned lists may be
 * freed by apply while the record lives). */
struct tree_prec {
  uint32_t hash;
  uint32_t n_queued;  /* entries of the applied queue naming it */
  int64_t zxid;       /* latest change */
  int64_t session_id; /* session records */
  bool alive;         /* session records: created (true) or closed */
  struct tree_nview v;
  struct acl_list *acl;         /* owned; v.acl == acl */
  struct tree_prec *next_spare; /* tree_pending's spares */
  size_t len;
  char path[]; /* NUL-terminated */
};

struct tree_pqent {
  struct tree_prec *r;
  int64_t zxid;
};

struct tree_pending {
  struct otab nodes;    /* struct tree_prec *, by path */
  struct otab sessions; /* struct tree_prec *, by session id */
  /* One entry per change, in zxid order: tree_pending_applied pops them
   * and frees a record when its last entry goes. */
  struct tree_pqent *q;
  size_t q_head, q_len, q_cap;
  /* Freed records of short paths, kept for the next prep (pending.c):
   * a write's records then cost no malloc/free. */
  struct tree_prec *spare;
  size_t n_spare;
};

/* One change a prep makes, kept until the prep is done: the multi overlay,
 * and what tree_prep_pending merges into the pending state.  path owned;
 * v.acl borrowed (tree, pending record or the prep's parsed lists).
 * target / fresh / acl_copy are the merge's scratch. */
struct tree_pchange {
  char *path;
  size_t len;
  struct tree_nview v;
  struct tree_prec *target;
  bool fresh;
  struct acl_list *acl_copy;
};

struct tree_prec *tree_pending_node(const struct tree_pending *p,
                                    const char *path, size_t len);
struct tree_prec *tree_pending_session(const struct tree_pending *p,
                                       int64_t id);
/* Merge the changes of one successful prep (unique paths) and an optional
 * session change (session_id != 0: alive or closed), tagged with zxid.
 * All or nothing: PROTO_OK, or PROTO_SYSTEMERROR with p unchanged. */
int tree_pending_merge(struct tree *t, struct tree_pending *p,
                       struct tree_pchange *ch, size_t n, int64_t session_id,
                       bool alive, int64_t zxid);

/* ------------------------------------------------------------------ */
/* Small-object allocator (tree/slab.c): nodes and extensions, without
 * malloc's per-block header and 16-byte rounding. */
#define TREE_SLAB_MAX 512u
struct tree_slab_class {
  void *free; /* freed objects, linked through their first 8 bytes */
  uint8_t *bump;
  size_t left;
};
struct tree_slab {
  struct tree_slab_class cls[TREE_SLAB_MAX / 8 + 1];
  void **chunks;
  size_t n_chunks, cap_chunks;
};
/* n bytes, 8-aligned; larger than TREE_SLAB_MAX from malloc.  Counts as
 * an allocation for tree_test_fail_alloc.  NULL when out of memory. */
void *tree_slab_alloc(struct tree *t, size_t n);
/* Give back p, allocated with the same n. */
void tree_slab_free(struct tree *t, void *p, size_t n);
void tree_slab_fini(struct tree_slab *s);

/* ------------------------------------------------------------------ */
/* Apply scratch (reused across calls to avoid allocating per txn). */
struct undo;
struct trigger;
struct txop;

struct tree {
  struct tree_config cfg;
  struct tnode *root;
  uint64_t n_nodes; /* real nodes, root once */
  uint64_t n_ephemerals;
  uint64_t data_size; /* sum of path lengths + data lengths */
  int64_t last_zxid;
  struct acl_table acls;
  struct tree_slab slab;
  struct otab sessions; /* struct tsession * */
  struct watch_table watches;
  /* Container and TTL nodes (struct tnode *, by pointer), the reaper's
   * candidates (tree_reap_candidates).  Kept by do_create / del_node and
   * their undo; anything else that links nodes must keep it too. */
  struct otab reapable;

  /* Test hook (see tree_test_fail_alloc): allocations made through
   * tree_malloc fail once this reaches 0; negative = off. */
  long fail_countdown;

  /* apply scratch */
  struct undo *undo;
  size_t n_undo, cap_undo;
  uint8_t *ubytes; /* inline data a setData overwrote, until commit */
  size_t n_ubytes, cap_ubytes;
  struct trigger *trig;
  size_t n_trig, cap_trig;
  struct txop *ops;
  size_t cap_ops;
  size_t *res_off;
  size_t cap_res_off;
};

void *tree_malloc(struct tree *t, size_t n);
void *tree_realloc(struct tree *t, void *p, size_t n);

/* ------------------------------------------------------------------ */
/* Test hooks. */

/* Make the n-th allocation from now (0 = the next) and every later one
 * fail; n < 0 turns failures off. */
void tree_test_fail_alloc(struct tree *t, long n);
/* Set the stored cversion of an existing node (to test sequential-name
 * wrap-around without 2^31 creates).  PROTO_OK or PROTO_NONODE. */
int tree_test_set_cversion(struct tree *t, const char *path, int32_t cversion);

/* ------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4). */
struct tree_sha256 {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t n;
};
void tree_sha256_init(struct tree_sha256 *c);
void tree_sha256_update(struct tree_sha256 *c, const void *p, size_t n);
void tree_sha256_final(struct tree_sha256 *c, uint8_t out[32]);

#endif /* ROOST_TREE_INT_H */
