/* tree_mem — what does a znode cost?  Builds 1000 parents x 1000 children
 * (/bench/p0001/n0000001 ...), each with 100 bytes of data, through
 * tree_prep + tree_apply, and prints bytes per node measured by malloc
 * accounting (mallinfo2) and by resident set size (/proc/self/statm), and
 * the prep+apply rate; then writes the tree as a snapshot stream, frees it
 * and loads it back (a restart), and prints the bytes per node again.
 *
 * Build (from the repository root; every .c file of tree/ and proto/):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I. tests/bench/tree_mem.c \
 *      tree/ALL.c proto/ALL.c -o build/tree_mem      (ALL = the glob star)
 * Usage: build/tree_mem [parents [children]] */
#include "proto/proto.h"
#include "tree/tree.h"

/* Any 16 bytes: a createSession txn carries the session password. */
static const uint8_t test_passwd[16] = "0123456789abcde";

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The snapshot stream, in memory. */
struct membuf {
  uint8_t *buf;
  size_t len, cap, at;
};
static bool mb_write(void *arg, const void *p, size_t n) {
  struct membuf *m = arg;
  if (m->len + n > m->cap) {
    size_t cap = m->cap ? m->cap : 1 << 20;
    while (cap < m->len + n)
      cap *= 2;
    uint8_t *nb = realloc(m->buf, cap);
    if (!nb)
      return false;
    m->buf = nb;
    m->cap = cap;
  }
  memcpy(m->buf + m->len, p, n);
  m->len += n;
  return true;
}
static long mb_read(void *arg, void *p, size_t cap) {
  struct membuf *m = arg;
  size_t n = m->len - m->at < cap ? m->len - m->at : cap;
  memcpy(p, m->buf + m->at, n);
  m->at += n;
  return (long)n;
}

struct bench {
  struct tree *t;
  struct proto_writer txn;
  struct tree_out out;
  int64_t zxid;
  double apply_s;
};

static void must(int rc, const char *what) {
  if (rc != PROTO_OK) {
    fprintf(stderr, "%s failed: %d (%s)\n", what, rc, proto_err_name(rc));
    exit(1);
  }
}

static void create(struct bench *b, const char *path, const uint8_t *data,
                   int32_t len, struct proto_acl_vec acl) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_CREATE;
  req.u.create.path.ptr = (const uint8_t *)path;
  req.u.create.path.len = (int32_t)strlen(path);
  req.u.create.data.ptr = data;
  req.u.create.data.len = len;
  req.u.create.acl = acl;
  struct tree_prep_ctx ctx = {1, 0, ++b->zxid, 1700000000000, {NULL, 0}};
  proto_writer_reset(&b->txn);
  must(tree_prep(b->t, &ctx, &req, &b->txn), "prep");
  double t0 = now_s();
  must(tree_apply(b->t, b->txn.buf, b->txn.len, &b->out), "apply");
  b->apply_s += now_s() - t0;
  must(b->out.err, path);
}

int main(int argc, char **argv) {
  int parents = argc > 1 ? atoi(argv[1]) : 1000;
  int children = argc > 2 ? atoi(argv[2]) : 1000;
  struct bench b;
  memset(&b, 0, sizeof b);
  proto_writer_init(&b.txn);
  tree_out_init(&b.out);

  /* OPEN_ACL_UNSAFE, encoded once. */
  struct proto_writer aw;
  proto_writer_init(&aw);
  struct proto_acl open = {
      31, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}};
  proto_write_acl(&aw, &open);
  struct proto_acl_vec acl = {{aw.buf, (int32_t)aw.len}, 1};
  uint8_t data[100];
  memset(data, 'v', sizeof data);

  b.t = tree_new(NULL);
  if (!b.t)
    return 1;
  struct tree_txn_header h = {1, 0, ++b.zxid, 0, 0};
  tree_txn_encode_create_session(&b.txn, &h, 30000, test_passwd);
  must(tree_apply(b.t, b.txn.buf, b.txn.len, &b.out), "session");
  create(&b, "/bench", NULL, 0, acl);
  /* Warm the scratch buffers so they are not counted per node. */
  create(&b, "/warm", data, 100, acl);

  struct mallinfo2 m0 = mallinfo2();
  size_t r0 = rss_bytes();
  double t0 = now_s();
  b.apply_s = 0;
  char path[64];
  long n = 0, k = 0;
  for (int p = 1; p <= parents; p++) {
    snprintf(path, sizeof path, "/bench/p%04d", p);
    create(&b, path, data, 100, acl);
    n++;
    for (int c = 0; c < children; c++) {
      snprintf(path, sizeof path, "/bench/p%04d/n%07ld", p, ++k);
      create(&b, path, data, 100, acl);
      n++;
    }
  }
  double dt = now_s() - t0;
  struct mallinfo2 m1 = mallinfo2();
  size_t r1 = rss_bytes();

  struct tree_stats st;
  tree_stats_get(b.t, &st);
  /* hblkhd: blocks malloc took with mmap (large child tables). */
  size_t heap = m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd;
  size_t rss = r1 - r0;
  printf("nodes created:            %ld (tree node_count %llu)\n", n,
         (unsigned long long)st.node_count);
  printf("data per node:            100 bytes, names like %s\n", path);
  printf(
      "malloc'd bytes per node:  %.1f  (mallinfo2 uordblks+hblkhd delta %zu)\n",
      (double)heap / (double)n, heap);
  printf("RSS bytes per node:       %.1f  (/proc/self/statm delta %zu)\n",
         (double)rss / (double)n, rss);
  printf("prep+apply rate:          %.0f creates/s (%.2f s)\n", (double)n / dt,
         dt);
  printf("apply-only rate:          %.0f creates/s (%.2f s)\n",
         (double)n / b.apply_s, b.apply_s);

  /* A restart: the tree written as a snapshot stream, freed, and loaded
   * back (tree_load packs the child tables). */
  struct membuf mb = {0};
  if (tree_serialize(b.t, mb_write, &mb) != PROTO_OK) {
    fprintf(stderr, "serialize failed\n");
    return 1;
  }
  double f0 = now_s();
  tree_free(b.t);
  printf("tree_free:                %.2f s\n", now_s() - f0);
  struct mallinfo2 m2 = mallinfo2();
  int err;
  char msg[128];
  double l0 = now_s();
  b.t = tree_load(NULL, mb_read, &mb, &err, msg, sizeof msg);
  if (!b.t) {
    fprintf(stderr, "load failed: %s\n", msg);
    return 1;
  }
  double ldt = now_s() - l0;
  struct mallinfo2 m3 = mallinfo2();
  size_t heap2 = m3.uordblks + m3.hblkhd - m2.uordblks - m2.hblkhd;
  printf("after a reload:           %.1f malloc'd bytes per node (%zu; "
         "snapshot stream %zu bytes, load %.2f s)\n",
         (double)heap2 / (double)n, heap2, mb.len, ldt);
  free(mb.buf);
  tree_free(b.t);
  tree_out_free(&b.out);
  proto_writer_free(&b.txn);
  proto_writer_free(&aw);
  return 0;
}
