/* libFuzzer harness for the storage readers: the first input byte picks
 * the target, the rest is the file.
 *   0: a log segment (a valid header is put in front of the bytes, so the
 *      fuzzer works on frames) read with txlog_reader_next to the end;
 *   1: the same bytes as a whole log segment, header included;
 *   2: a snapshot file read with snap_read (header + lz4 frame);
 *   3: the raw tree stream given to tree_load (what an lz4 frame whose
 *      checksum matches would carry), and to tree_serial_scan.
 * A loaded tree is written again and must load to the same digest.
 *
 *   make fuzz-storage FUZZ_SECONDS=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snap_int.h"
#include "snapshot/snapshot.h"
#include "tree/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A read-only file system holding one file, "/f". */
struct rofs {
  const uint8_t *b;
  size_t len, pos;
};

static int ro_open(void *ctx, const char *path, int flags, int mode) {
  (void)mode;
  (void)flags;
  struct rofs *f = ctx;
  if (strcmp(path, "/f") != 0)
    return -ENOENT;
  f->pos = 0;
  return 3;
}
static long ro_read(void *ctx, int fd, void *buf, size_t len) {
  (void)fd;
  struct rofs *f = ctx;
  size_t k = f->len - f->pos < len ? f->len - f->pos : len;
  memcpy(buf, f->b + f->pos, k);
  f->pos += k;
  return (long)k;
}
static long ro_write(void *ctx, int fd, const void *buf, size_t len) {
  (void)ctx, (void)fd, (void)buf, (void)len;
  return -EROFS;
}
static int ro_fd(void *ctx, int fd) {
  (void)ctx, (void)fd;
  return 0;
}
static int ro_truncate(void *ctx, int fd, uint64_t len) {
  (void)ctx, (void)fd, (void)len;
  return -EROFS;
}
static int64_t ro_size(void *ctx, int fd) {
  (void)fd;
  return (int64_t)((struct rofs *)ctx)->len;
}
static int ro_seek(void *ctx, int fd, uint64_t off) {
  (void)fd;
  struct rofs *f = ctx;
  f->pos = off > f->len ? f->len : (size_t)off;
  return 0;
}
static int ro_names(void *ctx, const char *a, const char *b) {
  (void)ctx, (void)a, (void)b;
  return -EROFS;
}
static int ro_path(void *ctx, const char *a) {
  (void)ctx, (void)a;
  return -EROFS;
}
static int ro_list(void *ctx, const char *dir, snap_name_cb cb, void *arg) {
  (void)ctx, (void)dir, (void)cb, (void)arg;
  return 0;
}

struct membuf {
  const uint8_t *b;
  size_t len, pos;
  uint8_t *w;
  size_t wlen, wcap;
};

static long mem_read(void *arg, void *buf, size_t cap) {
  struct membuf *m = arg;
  size_t k = m->len - m->pos < cap ? m->len - m->pos : cap;
  /* odd chunking exercises the refill paths */
  if (k > 7 && (m->pos & 1))
    k = 7;
  memcpy(buf, m->b + m->pos, k);
  m->pos += k;
  return (long)k;
}

static bool mem_write(void *arg, const void *buf, size_t len) {
  struct membuf *m = arg;
  if (m->wlen + len > m->wcap) {
    size_t nc = (m->wlen + len) * 2;
    uint8_t *p = realloc(m->w, nc);
    if (!p)
      return false;
    m->w = p;
    m->wcap = nc;
  }
  memcpy(m->w + m->wlen, buf, len);
  m->wlen += len;
  return true;
}

static void check_tree_roundtrip(struct tree *t) {
  struct membuf out = {0};
  if (tree_serialize(t, mem_write, &out) != PROTO_OK)
    abort();
  struct membuf in = {.b = out.w, .len = out.wlen};
  int err;
  struct tree *t2 = tree_load(NULL, mem_read, &in, &err, NULL, 0);
  if (!t2)
    abort();
  uint8_t d1[32], d2[32];
  tree_digest(t, d1);
  tree_digest(t2, d2);
  if (memcmp(d1, d2, 32) != 0)
    abort();
  tree_free(t2);
  free(out.w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t which = data[0] % 4;
  data++;
  size--;
  struct rofs fs = {data, size, 0};
  struct snap_io io = {&fs,     ro_open,  ro_read, ro_write, ro_fd,
                       ro_fd,   ro_truncate, ro_size, ro_seek, ro_names,
                       ro_path, ro_path,  ro_list, NULL};
  uint8_t *buf = NULL;
  if (which == 0) {
    buf = malloc(size + SNAP_HEADER_LEN);
    if (!buf)
      return 0;
    snap_header_encode(buf, SNAP_LOG_MAGIC, 0, 1);
    memcpy(buf + SNAP_HEADER_LEN, data, size);
    fs.b = buf;
    fs.len = size + SNAP_HEADER_LEN;
  }
  char err[SNAP_ERRMSG_MAX];
  if (which <= 1) {
    struct txlog_reader *r;
    int64_t first;
    if (txlog_reader_open("/f", &io, &r, &first, err, sizeof err) == SNAP_OK) {
      struct txlog_frame f;
      uint64_t bad;
      while (txlog_reader_next(r, &f, &bad, err, sizeof err) == 1) {
        size_t pos = 0;
        const uint8_t *txn;
        size_t len;
        while (txlog_frame_next_txn(&f, &pos, &txn, &len))
          if (txn < f.raw || txn + len > f.raw + f.raw_len)
            abort();
      }
      txlog_reader_close(r);
    }
  } else if (which == 2) {
    struct tree *t = NULL;
    int64_t z;
    if (snap_read("/f", &io, NULL, &t, &z, err, sizeof err) == SNAP_OK) {
      check_tree_roundtrip(t);
      tree_free(t);
    }
  } else {
    struct membuf in = {.b = data, .len = size};
    int e;
    struct tree *t = tree_load(NULL, mem_read, &in, &e, err, sizeof err);
    if (t) {
      check_tree_roundtrip(t);
      tree_free(t);
    }
    in.pos = 0;
    tree_serial_scan(mem_read, &in, NULL, err, sizeof err);
  }
  free(buf);
  return 0;
}
