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
  return otab_get(&t->watches.paths, tree_hash_bytes(path, len), wpath_eq,
                  &k);
}

static struct wwatcher *wwatcher_get(const struct tree *t, uint64_t id) {
  return otab_get(&t->watches.watchers, tree_hash_u64(id), wwatcher_eq, &id);
}

static bool grow(struct tree *t, struct wentry ***v, uint32_t *cap,
                 uint32_t n) {
  if (n < *cap)
    return true;
  uint32_t c = *cap ? *cap * 2 : 2;
  struct wentry **nv = tree_realloc(t, *v, c * sizeof *nv);
  if (!nv)
    return false;
  *v = nv;
  *cap = c;
  return true;
}

/* Bookkeeping for the wchs/mntr counters when an entry's bits change. */
static void count_bits(struct watch_table *w, struct wentry *e,
                       uint32_t old_bits, uint32_t new_bits) {
  bool od = old_bits & TREE_W_DATA, nd = new_bits & TREE_W_DATA;
  bool oc = old_bits & TREE_W_CHILD, nc = new_bits & TREE_W_CHILD;
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

int tree_watch_add(struct tree *t, const char *path, size_t len,
                   uint64_t watcher, uint32_t bits) {
  struct watch_table *w = &t->watches;
  struct wpath *wp = wpath_get(t, path, len);
  struct wwatcher *ww = wwatcher_get(t, watcher);
  if (wp && ww) {
    /* Existing entry?  Scan the shorter of the two lists. */
    if (wp->n <= ww->n) {
      for (uint32_t i = 0; i < wp->n; i++)
        if (wp->v[i]->ww == ww) {
          struct wentry *e = wp->v[i];
          count_bits(w, e, e->bits, e->bits | bits);
          e->bits |= bits;
          return PROTO_OK;
        }
    } else {
      for (uint32_t i = 0; i < ww->n; i++)
        if (ww->v[i]->wp == wp) {
          struct wentry *e = ww->v[i];
          count_bits(w, e, e->bits, e->bits | bits);
          e->bits |= bits;
          return PROTO_OK;
        }
    }
  }
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

uint32_t tree_watch_count(const struct tree *t, const char *path,
                          size_t len) {
  struct wpath *wp = wpath_get(t, path, len);
  return wp ? wp->n : 0;
}

void tree_watch_fire(struct tree *t, const char *path, size_t len,
                     uint32_t mask, tree_watch_emit_fn emit, void *arg) {
  struct wpath *wp = wpath_get(t, path, len);
  if (!wp)
    return;
  /* Walk backwards: entry_remove swaps the last entry into the hole, which
   * has then already been visited.  The path record may be freed when its
   * last entry goes, so stop on that. */
  for (uint32_t i = wp->n; i-- > 0;) {
    struct wentry *e = wp->v[i];
    if (!(e->bits & mask))
      continue;
    emit(arg, e->ww->id);
    uint32_t nb = e->bits & ~mask; /* standard watches are one-shot */
    count_bits(&t->watches, e, e->bits, nb);
    e->bits = nb;
    if (!nb) {
      bool last = wp->n == 1;
      entry_remove(t, e);
      if (last)
        return;
    }
  }
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

void tree_data_watches_each(const struct tree *t, tree_watch_cb cb,
                            void *arg) {
  for (uint32_t i = 0; i < t->watches.paths.cap; i++) {
    const struct wpath *wp = t->watches.paths.slots[i];
    if (!wp)
      continue;
    for (uint32_t j = 0; j < wp->n; j++)
      if (wp->v[j]->bits & TREE_W_DATA)
        cb(arg, wp->v[j]->ww->id, wp->path, wp->len);
  }
}
