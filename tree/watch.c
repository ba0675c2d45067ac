/* The watch registry (§7.8-§7.10).  Not replicated state: never part of
 * the digest, and a failed registration only fails the read. */
#include "tree/tree_int.h"

#include <stdlib.h>
#include <string.h>

struct path_key {
  const char *p;
  size_t len;
};

static bool wpath_eq(const void *item, const void *key) {
  const struct wpath *w = item;
  const struct path_key *k = key;
  return w->len == k->len && (!k->len || memcmp(w->path, k->p, k->len) == 0);
}
static uint32_t wpath_hash(const void *item) {
  return ((const struct wpath *)item)->hash;
}
static bool wwatcher_eq(const void *item, const void *key) {
  return ((const struct wwatcher *)item)->id == *(const uint64_t *)key;
}
static uint32_t wwatcher_hash(const void *item) {
  return tree_hash_u64(((const struct wwatcher *)item)->id);
}

static struct wpath *wpath_get(const struct tree *t, const char *path,
                               size_t len) {
  struct path_key k = {path, len};
  return otab_get(&t->watches.paths, tree_hash_bytes(path, len), wpath_eq, &k);
}

static struct wwatcher *wwatcher_get(const struct tree *t, uint64_t id) {
  return otab_get(&t->watches.watchers, tree_hash_u64(id), wwatcher_eq, &id);
}

static bool grow(struct tree *t, struct wentry ***v, uint32_t *cap,
                 uint32_t n) {
  if (n < *cap)
    return true;
  uint32_t c = *cap ? *cap * 2 : 2;
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
  struct wentry **nv = tree_realloc(t, *v, c * sizeof *nv);
  if (!nv)
    return false;
  *v = nv;
  *cap = c;
  return true;
}

/* Bookkeeping for the wchs/mntr counters when an entry's bits change.  An
 * entry counts in ZooKeeper's data (child) table when it has any data
 * (child) bit, whatever the mode. */
static void count_bits(struct watch_table *w, struct wentry *e,
                       uint32_t old_bits, uint32_t new_bits) {
  bool op = old_bits & TREE_W_PERSISTENT, np = new_bits & TREE_W_PERSISTENT;
  bool orr = old_bits & TREE_W_RECURSIVE, nr = new_bits & TREE_W_RECURSIVE;
  if (op != np)
    w->n_persistent_entries += np ? 1 : (uint64_t)-1;
  if (orr != nr)
    w->n_recursive_entries += nr ? 1 : (uint64_t)-1;
  bool od = old_bits & TREE_W_DATA_TABLE, nd = new_bits & TREE_W_DATA_TABLE;
  bool oc = old_bits & TREE_W_CHILD_TABLE, nc = new_bits & TREE_W_CHILD_TABLE;
  if (oc != nc)
    w->n_child_entries += nc ? 1 : (uint64_t)-1;
  if (od == nd)
    return;
  if (nd) {
    w->n_data_entries++;
    if (e->wp->n_data++ == 0)
      w->n_data_paths++;
    if (e->ww->n_data++ == 0)
      w->n_data_watchers++;
  } else {
    w->n_data_entries--;
    if (--e->wp->n_data == 0)
      w->n_data_paths--;
    if (--e->ww->n_data == 0)
      w->n_data_watchers--;
  }
}

/* The entry of (path, watcher), or NULL.  Scans the shorter of the two
 * lists. */
static struct wentry *entry_find(const struct tree *t, const char *path,
                                 size_t len, uint64_t watcher) {
  struct wpath *wp = wpath_get(t, path, len);
  struct wwatcher *ww = wp ? wwatcher_get(t, watcher) : NULL;
  if (!ww)
    return NULL;
  if (wp->n <= ww->n) {
    for (uint32_t i = 0; i < wp->n; i++)
      if (wp->v[i]->ww == ww)
        return wp->v[i];
  } else {
    for (uint32_t i = 0; i < ww->n; i++)
      if (ww->v[i]->wp == wp)
        return ww->v[i];
  }
  return NULL;
}

static void entry_set_bits(struct tree *t, struct wentry *e, uint32_t bits) {
  count_bits(&t->watches, e, e->bits, bits);
  e->bits = bits;
}

int tree_watch_add(struct tree *t, const char *path, size_t len,
                   uint64_t watcher, uint32_t bits) {
  struct watch_table *w = &t->watches;
  struct wentry *found = entry_find(t, path, len, watcher);
  if (found) {
    entry_set_bits(t, found, found->bits | bits); /* modes accumulate */
    return PROTO_OK;
  }
  struct wpath *wp = wpath_get(t, path, len);
  struct wwatcher *ww = wwatcher_get(t, watcher);
  /* New entry: allocate all pieces before linking any. */
  bool new_wp = !wp, new_ww = !ww;
  struct wentry *e = tree_malloc(t, sizeof *e);
  if (!e)
    return PROTO_SYSTEMERROR;
  if (new_wp) {
    if (!otab_reserve(t, &w->paths, w->paths.n + 1, wpath_hash) ||
        !(wp = tree_malloc(t, sizeof *wp + len + 1)))
      goto fail;
    memset(wp, 0, sizeof *wp);
    if (len)
      memcpy(wp->path, path, len);
    wp->path[len] = 0;
    wp->len = len;
    wp->hash = tree_hash_bytes(path, len);
  }
  if (new_ww) {
    if (!otab_reserve(t, &w->watchers, w->watchers.n + 1, wwatcher_hash) ||
        !(ww = tree_malloc(t, sizeof *ww)))
      goto fail;
    memset(ww, 0, sizeof *ww);
    ww->id = watcher;
  }
  if (!grow(t, &wp->v, &wp->cap, wp->n) || !grow(t, &ww->v, &ww->cap, ww->n))
    goto fail;
  if (new_wp)
    otab_put(&w->paths, wp, wp->hash);
  if (new_ww)
    otab_put(&w->watchers, ww, tree_hash_u64(watcher));
  e->wp = wp;
  e->ww = ww;
  e->bits = 0;
  e->ip = wp->n;
  e->iw = ww->n;
  wp->v[wp->n++] = e;
  ww->v[ww->n++] = e;
  count_bits(w, e, 0, bits);
  e->bits = bits;
  return PROTO_OK;
fail:
  free(e);
  if (new_wp && wp) {
    free(wp->v);
    free(wp);
  }
  if (new_ww && ww) {
    free(ww->v);
    free(ww);
  }
  return PROTO_SYSTEMERROR;
}

/* Unlink an entry with no bits left; frees the path / watcher records
 * that become empty. */
static void entry_remove(struct tree *t, struct wentry *e) {
  struct wpath *wp = e->wp;
  struct wwatcher *ww = e->ww;
  wp->v[e->ip] = wp->v[--wp->n];
  wp->v[e->ip]->ip = e->ip;
  ww->v[e->iw] = ww->v[--ww->n];
  ww->v[e->iw]->iw = e->iw;
  free(e);
  if (!wp->n) {
    otab_del(&t->watches.paths, wp, wpath_hash);
    free(wp->v);
    free(wp);
  }
  if (!ww->n) {
    otab_del(&t->watches.watchers, ww, wwatcher_hash);
    free(ww->v);
    free(ww);
  }
}

/* Bits an event type consults on the changed path itself and on its
 * ancestors (§7.8 table; §7.9).  NodeDeleted looks in both tables (one
 * event per watcher); NodeChildrenChanged never reaches recursive
 * watches, on the path or above it. */
static uint32_t mask_at_path(int32_t type) {
  switch (type) {
  case PROTO_EVENT_NODE_CREATED:
  case PROTO_EVENT_NODE_DATA_CHANGED:
    return TREE_W_DATA_TABLE;
  case PROTO_EVENT_NODE_DELETED:
    return TREE_W_ALL;
  case PROTO_EVENT_NODE_CHILDREN_CHANGED:
    return TREE_W_CHILD | TREE_W_PCHILD;
  default:
    return 0;
  }
}
static uint32_t mask_at_ancestor(int32_t type) {
  switch (type) {
  case PROTO_EVENT_NODE_CREATED:
  case PROTO_EVENT_NODE_DATA_CHANGED:
    return TREE_W_RDATA;
  case PROTO_EVENT_NODE_DELETED:
    return TREE_W_RECURSIVE;
  default:
    return 0;
  }
}

/* Length of the parent path of path[0..len) ("/" for a child of the
 * root), or 0 when path is the root or has no '/'. */
static size_t parent_len(const char *path, size_t len) {
  if (len <= 1)
    return 0;
  for (size_t i = len; i-- > 0;)
    if (path[i] == '/')
      return i ? i : 1;
  return 0;
}

static bool walk_ancestors(const struct tree *t, int32_t type) {
  return t->watches.n_recursive_entries > 0 && mask_at_ancestor(type) != 0;
}

size_t tree_watch_bound(const struct tree *t, int32_t type, const char *path,
                        size_t len) {
  struct wpath *wp = wpath_get(t, path, len);
  size_t n = wp ? wp->n : 0;
  if (walk_ancestors(t, type))
    for (size_t pl = parent_len(path, len); pl; pl = parent_len(path, pl)) {
      wp = wpath_get(t, path, pl);
      n += wp ? wp->n : 0;
    }
  return n < t->watches.watchers.n ? n : t->watches.watchers.n;
}

static void fire_path(struct tree *t, const char *path, size_t len,
                      uint32_t mask, tree_watch_emit_fn emit, void *arg) {
  struct wpath *wp = wpath_get(t, path, len);
  if (!wp)
    return;
  uint64_t gen = t->watches.gen;
  /* Walk backwards: entry_remove swaps the last entry into the hole, which
   * has then already been visited.  The path record may be freed when its
   * last entry goes, so stop on that. */
  for (uint32_t i = wp->n; i-- > 0;) {
    struct wentry *e = wp->v[i];
    if (!(e->bits & mask))
      continue;
    if (e->ww->stamp != gen) {
      e->ww->stamp = gen;
      emit(arg, e->ww->id);
    }
    /* Standard watches are one-shot, persistent ones stay.  A standard
     * bit that matched is consumed even when the watcher already got this
     * event through another entry. */
    uint32_t nb = e->bits & ~(mask & TREE_W_STANDARD);
    if (nb == e->bits)
      continue;
    entry_set_bits(t, e, nb);
    if (!nb) {
      bool last = wp->n == 1;
      entry_remove(t, e);
      if (last)
        return;
    }
  }
}

void tree_watch_trigger(struct tree *t, int32_t type, const char *path,
                        size_t len, tree_watch_emit_fn emit, void *arg) {
  t->watches.gen++;
  fire_path(t, path, len, mask_at_path(type), emit, arg);
  if (!walk_ancestors(t, type))
    return;
  uint32_t am = mask_at_ancestor(type);
  for (size_t pl = parent_len(path, len); pl; pl = parent_len(path, pl))
    fire_path(t, path, pl, am, emit, arg);
}

int tree_add_watch(struct tree *t, const char *path, size_t len,
                   uint64_t watcher, int32_t mode) {
  uint32_t bits;
  switch (mode) {
  case PROTO_ADD_WATCH_PERSISTENT:
    bits = TREE_W_PERSISTENT;
    break;
  case PROTO_ADD_WATCH_PERSISTENT_RECURSIVE:
    bits = TREE_W_RECURSIVE;
    break;
  default:
    return PROTO_MARSHALLINGERROR;
  }
  return tree_watch_add(t, path, len, watcher, bits);
}

int tree_remove_watches(struct tree *t, const char *path, size_t len,
                        uint64_t watcher, int32_t type, bool remove) {
  bool v39 = t->cfg.watcher_types_3_9;
  uint32_t mask;
  switch (type) {
  case PROTO_WATCHER_CHILDREN:
    mask = v39 ? TREE_W_CHILD : TREE_W_CHILD_TABLE;
    break;
  case PROTO_WATCHER_DATA:
    mask = v39 ? TREE_W_DATA : TREE_W_DATA_TABLE;
    break;
  case PROTO_WATCHER_ANY:
    mask = TREE_W_ALL;
    break;
  case PROTO_WATCHER_PERSISTENT:
    if (!v39)
      return PROTO_MARSHALLINGERROR;
    mask = TREE_W_PERSISTENT;
    break;
  case PROTO_WATCHER_PERSISTENT_RECURSIVE:
    if (!v39)
      return PROTO_MARSHALLINGERROR;
    mask = TREE_W_RECURSIVE;
    break;
  default:
    return PROTO_MARSHALLINGERROR;
  }
  struct wentry *e = entry_find(t, path, len, watcher);
  if (!e || !(e->bits & mask))
    return PROTO_NOWATCHER;
  if (remove) {
    entry_set_bits(t, e, e->bits & ~mask);
    if (!e->bits)
      entry_remove(t, e);
  }
  return PROTO_OK;
}

int tree_check_watches(struct tree *t, const char *path, size_t len,
                       uint64_t watcher, int32_t type) {
  return tree_remove_watches(t, path, len, watcher, type, false);
}

void tree_watches_drop(struct tree *t, uint64_t watcher) {
  struct wwatcher *ww = wwatcher_get(t, watcher);
  if (!ww)
    return;
  while (ww->n > 1) {
    struct wentry *e = ww->v[ww->n - 1];
    count_bits(&t->watches, e, e->bits, 0);
    entry_remove(t, e);
  }
  struct wentry *e = ww->v[0];
  count_bits(&t->watches, e, e->bits, 0);
  entry_remove(t, e); /* frees ww too */
}

void tree_watch_table_free(struct watch_table *w) {
  for (uint32_t i = 0; i < w->paths.cap; i++) {
    struct wpath *wp = w->paths.slots[i];
    if (!wp)
      continue;
    for (uint32_t j = 0; j < wp->n; j++)
      free(wp->v[j]);
    free(wp->v);
    free(wp);
  }
  for (uint32_t i = 0; i < w->watchers.cap; i++) {
    struct wwatcher *ww = w->watchers.slots[i];
    if (ww) {
      free(ww->v);
      free(ww);
    }
  }
  otab_free(&w->paths);
  otab_free(&w->watchers);
  memset(w, 0, sizeof *w);
}

void tree_data_watches_each(const struct tree *t, tree_watch_cb cb, void *arg) {
  for (uint32_t i = 0; i < t->watches.paths.cap; i++) {
    const struct wpath *wp = t->watches.paths.slots[i];
    if (!wp)
      continue;
    for (uint32_t j = 0; j < wp->n; j++)
      if (wp->v[j]->bits & TREE_W_DATA_TABLE)
        cb(arg, wp->v[j]->ww->id, wp->path, wp->len);
  }
}
