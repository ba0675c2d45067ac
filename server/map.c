/* map.c — uint64 -> pointer hash map, open addressing with linear probing
 * and backward-shift deletion (no tombstones, so lookups stay short after
 * many removals).  Load factor is kept at or below 1/2. */
#include "server/server_int.h"

#include <stdlib.h>

/* A 64-bit mixer (the finalizer step of a multiply-xorshift hash) so that
 * sequential keys (connection ids, session ids) spread over the table. */
static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ULL;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

void srv_map_init(struct srv_map *m) {
  m->keys = NULL;
  m->vals = NULL;
  m->cap = 0;
  m->n = 0;
}

void srv_map_free(struct srv_map *m) {
  free(m->keys);
  free(m->vals);
  srv_map_init(m);
}

void *srv_map_get(const struct srv_map *m, uint64_t key) {
  if (m->cap == 0 || key == 0)
    return NULL;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key)
      return m->vals[i];
    if (m->keys[i] == 0)
      return NULL;
  }
}

static void put_nogrow(struct srv_map *m, uint64_t key, void *val) {
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) {
      m->vals[i] = val;
      return;
    }
    if (m->keys[i] == 0) {
      m->keys[i] = key;
      m->vals[i] = val;
      m->n++;
      return;
    }
  }
}

static int grow(struct srv_map *m) {
  size_t ncap = m->cap ? m->cap * 2 : 16;
  uint64_t *nkeys = calloc(ncap, sizeof *nkeys);
  void **nvals = calloc(ncap, sizeof *nvals);
  if (nkeys == NULL || nvals == NULL) {
    free(nkeys);
    free(nvals);
    return -1;
  }
  struct srv_map old = *m;
  m->keys = nkeys;
  m->vals = nvals;
  m->cap = ncap;
  m->n = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.keys[i] != 0)
      put_nogrow(m, old.keys[i], old.vals[i]);
  free(old.keys);
  free(old.vals);
  return 0;
}

int srv_map_put(struct srv_map *m, uint64_t key, void *val) {
  if (key == 0)
    return -1;
  if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
    return -1;
  put_nogrow(m, key, val);
  return 0;
}

void srv_map_del(struct srv_map *m, uint64_t key) {
  if (m->cap == 0 || key == 0)
    return;
  size_t mask = m->cap - 1;
  size_t i = slot_of(key, m->cap);
  while (m->keys[i] != key) {
    if (m->keys[i] == 0)
      return;
    i = (i + 1) & mask;
  }
  /* Backward shift: move later members of the probe run into the hole
   * when their home slot does not lie cyclically in (hole, j]. */
  size_t hole = i;
  for (size_t j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
    size_t home = slot_of(m->keys[j], m->cap);
    bool home_in_range =
        hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_in_range) {
      m->keys[hole] = m->keys[j];
      m->vals[hole] = m->vals[j];
      hole = j;
    }
  }
  m->keys[hole] = 0;
  m->vals[hole] = NULL;
  m->n--;
}

bool srv_map_next(const struct srv_map *m, size_t *i, uint64_t *key,
                  void **val) {
  for (; *i < m->cap; (*i)++) {
    if (m->keys[*i] != 0) {
      *key = m->keys[*i];
      *val = m->vals[*i];
      (*i)++;
      return true;
    }
  }
  return false;
}
