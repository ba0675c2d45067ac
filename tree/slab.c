/* Small-object allocator for nodes and their extensions.
 *
 * malloc puts an 8-byte header before every block and rounds blocks to 16
 * bytes: on a znode of 150 bytes that is 10 bytes in 15.  Here objects of
 * up to TREE_SLAB_MAX bytes are carved from 64 KiB chunks in classes 8
 * bytes apart, and freed objects go to their class's free list (linked
 * through their first 8 bytes) for the next allocation of that class.
 * The caller gives the size back when it frees (a node knows its own).
 * Chunks go back to the system only in tree_free: memory freed in one
 * class serves only that class, the usual price of a slab.
 *
 * Under AddressSanitizer free objects and unused chunk space are poisoned
 * (all but the free-list link), so a use after free is still reported. */
#include "tree/tree_int.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SLAB_GRAIN 8u
#define SLAB_CHUNK ((size_t)64 << 10)

static size_t class_of(size_t n) { return (n + SLAB_GRAIN - 1) / SLAB_GRAIN; }

static bool new_chunk(struct tree_slab *s, struct tree_slab_class *c) {
  if (s->n_chunks == s->cap_chunks) {
    size_t cap = s->cap_chunks ? s->cap_chunks * 2 : 16;
    void **v = realloc(s->chunks, cap * sizeof *v);
    if (!v)
      return false;
    s->chunks = v;
    s->cap_chunks = cap;
  }
  uint8_t *p = malloc(SLAB_CHUNK);
  if (!p)
    return false;
  POISON(p, SLAB_CHUNK);
  s->chunks[s->n_chunks++] = p;
  c->bump = p;
  c->left = SLAB_CHUNK;
  return true;
}

void *tree_slab_alloc(struct tree *t, size_t n) {
  if (n > TREE_SLAB_MAX)
    return tree_malloc(t, n);
  if (t->fail_countdown >= 0) {
    if (t->fail_countdown == 0)
      return NULL;
    t->fail_countdown--;
  }
  size_t k = class_of(n ? n : 1);
  size_t size = k * SLAB_GRAIN;
  struct tree_slab *s = &t->slab;
  struct tree_slab_class *c = &s->cls[k];
  void *p = c->free;
  if (p) {
    void *next;
    memcpy(&next, p, sizeof next);
    c->free = next;
  } else {
    if (c->left < size && !new_chunk(s, c))
      return NULL;
    p = c->bump;
    c->bump += size;
    c->left -= size;
  }
  UNPOISON(p, size);
  return p;
}

void tree_slab_free(struct tree *t, void *p, size_t n) {
  if (!p)
    return;
  if (n > TREE_SLAB_MAX) {
    free(p);
    return;
  }
  size_t k = class_of(n ? n : 1);
  struct tree_slab_class *c = &t->slab.cls[k];
  memcpy(p, &c->free, sizeof c->free);
  c->free = p;
  POISON((uint8_t *)p + sizeof(void *), k * SLAB_GRAIN - sizeof(void *));
}

void tree_slab_fini(struct tree_slab *s) {
  for (size_t i = 0; i < s->n_chunks; i++) {
    UNPOISON(s->chunks[i], SLAB_CHUNK);
    free(s->chunks[i]);
  }
  free(s->chunks);
  memset(s, 0, sizeof *s);
}
