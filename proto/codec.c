/* proto/codec.c — jute primitives: the bounded reader, the growable writer,
 * and the small fixed records (Stat, ACL, headers, borrowed vectors). */
#include "proto/proto.h"
#include "proto/proto_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Reader */

void proto_reader_init(struct proto_reader *r, const void *buf, size_t len,
                       size_t max_field) {
  r->buf = buf;
  r->len = buf ? len : 0; /* a NULL buffer can only be empty */
  r->pos = 0;
  r->max_field = max_field;
  r->err = PROTO_OK;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and sets the
 * sticky error) when fewer than n remain.  Every read goes through here, so
 * this is the one place that guards the buffer end. */
const uint8_t *proto__take(struct proto_reader *r, size_t n) {
  if (r->err != PROTO_OK)
    return NULL;
  if (n > r->len - r->pos) {
    r->err = PROTO_MARSHALLINGERROR;
    return NULL;
  }
  const uint8_t *p = r->buf + r->pos;
  r->pos += n;
  return p;
}

void proto__fail(struct proto_reader *r) {
  if (r->err == PROTO_OK)
    r->err = PROTO_MARSHALLINGERROR;
}

int32_t proto_read_int(struct proto_reader *r) {
  const uint8_t *p = proto__take(r, 4);
  if (!p)
    return 0;
  uint32_t v = proto_load_be32(p);
  return (int32_t)v; /* two's complement: implementation-defined, but
                        every target we build for does the obvious thing */
}

int64_t proto_read_long(struct proto_reader *r) {
  const uint8_t *p = proto__take(r, 8);
  if (!p)
    return 0;
  return (int64_t)proto_load_be64(p);
}

bool proto_read_bool(struct proto_reader *r) {
  const uint8_t *p = proto__take(r, 1);
  /* Java reads any non-zero byte as true (§1.2); do the same. */
  return p ? p[0] != 0 : false;
}

struct proto_slice proto_read_buffer(struct proto_reader *r) {
  struct proto_slice s = {NULL, -1};
  int32_t n = proto_read_int(r);
  if (r->err != PROTO_OK)
    return s;
  if (n == -1)
    return s;
  if (n < -1 || (size_t)n > r->max_field) {
    proto__fail(r);
    return s;
  }
  const uint8_t *p = proto__take(r, (size_t)n);
  if (!p)
    return s;
  s.ptr = p;
  s.len = n;
  return s;
}

int32_t proto__read_count_raw(struct proto_reader *r) {
  int32_t n = proto_read_int(r);
  if (r->err != PROTO_OK)
    return 0;
  if (n == -1)
    return -1;
  /* Every jute element takes at least one byte, so a count above the bytes
   * left is a lie we can reject before looping over it. */
  if (n < -1 || (size_t)n > r->max_field ||
      (size_t)n > proto_reader_remaining(r)) {
    proto__fail(r);
    return 0;
  }
  return n;
}

int32_t proto_read_vector_count(struct proto_reader *r) {
  int32_t n = proto__read_count_raw(r);
  return n < 0 ? 0 : n;
}

/* ------------------------------------------------------------------ */
/* Writer */

/* A writer never holds more than this: frame lengths are int32, so a
 * larger buffer can only be a bug, and refusing early keeps the size
 * arithmetic below free of overflow. */
#define WRITER_MAX ((size_t)INT32_MAX)

void proto_writer_init(struct proto_writer *w) {
  w->buf = NULL;
  w->len = 0;
  w->cap = 0;
  w->err = PROTO_OK;
}

void proto_writer_free(struct proto_writer *w) {
  free(w->buf);
  proto_writer_init(w);
}

uint8_t *proto_writer_reserve(struct proto_writer *w, size_t n) {
  if (w->err != PROTO_OK)
    return NULL;
  if (n > WRITER_MAX - w->len) {
    w->err = PROTO_SYSTEMERROR;
    return NULL;
  }
  size_t need = w->len + n;
  if (need > w->cap) {
    size_t cap = w->cap ? w->cap : 64;
    while (cap < need)
      cap = cap > WRITER_MAX / 2 ? WRITER_MAX : cap * 2;
    uint8_t *nb = realloc(w->buf, cap);
    if (!nb) {
      w->err = PROTO_SYSTEMERROR;
      return NULL;
    }
    w->buf = nb;
    w->cap = cap;
  }
  return w->buf + w->len;
}

void proto_write_raw(struct proto_writer *w, const void *p, size_t n) {
  if (n == 0)
    return;
  uint8_t *d = proto_writer_reserve(w, n);
  if (!d)
    return;
  memcpy(d, p, n);
  w->len += n;
}

void proto_write_int(struct proto_writer *w, int32_t v) {
  uint8_t *d = proto_writer_reserve(w, 4);
  if (!d)
    return;
  proto_store_be32(d, (uint32_t)v);
  w->len += 4;
}

void proto_write_long(struct proto_writer *w, int64_t v) {
  uint8_t *d = proto_writer_reserve(w, 8);
  if (!d)
    return;
  proto_store_be32(d, (uint32_t)((uint64_t)v >> 32));
  proto_store_be32(d + 4, (uint32_t)(uint64_t)v);
  w->len += 8;
}

void proto_write_bool(struct proto_writer *w, bool v) {
  uint8_t b = v ? 1 : 0;
  proto_write_raw(w, &b, 1);
}

void proto_write_buffer(struct proto_writer *w, const void *p, int32_t len) {
  if (w->err != PROTO_OK)
    return;
  if (len < -1) {
    w->err = PROTO_BADARGUMENTS; /* not encodable: a caller bug */
    return;
  }
  proto_write_int(w, len);
  if (len > 0)
    proto_write_raw(w, p, (size_t)len);
}

void proto_write_string(struct proto_writer *w, const char *s, size_t n) {
  if (w->err != PROTO_OK)
    return;
  if (n > (size_t)INT32_MAX) {
    w->err = PROTO_BADARGUMENTS;
    return;
  }
  proto_write_int(w, (int32_t)n);
  proto_write_raw(w, s, n);
}

size_t proto_frame_begin(struct proto_writer *w) {
  size_t mark = w->len;
  proto_write_int(w, 0); /* patched by proto_frame_end */
  return mark;
}

void proto_frame_end(struct proto_writer *w, size_t mark) {
  if (w->err != PROTO_OK)
    return;
  assert(mark <= w->len && w->len - mark >= 4); /* our own misuse only */
  proto_store_be32(w->buf + mark, (uint32_t)(w->len - mark - 4));
}

/* ------------------------------------------------------------------ */
/* Stat, ACL, headers */

void proto_write_stat(struct proto_writer *w, const struct proto_stat *s) {
  proto_write_long(w, s->czxid);
  proto_write_long(w, s->mzxid);
  proto_write_long(w, s->ctime);
  proto_write_long(w, s->mtime);
  proto_write_int(w, s->version);
  proto_write_int(w, s->cversion);
  proto_write_int(w, s->aversion);
  proto_write_long(w, s->ephemeral_owner);
  proto_write_int(w, s->data_length);
  proto_write_int(w, s->num_children);
  proto_write_long(w, s->pzxid);
}

void proto_read_stat(struct proto_reader *r, struct proto_stat *s) {
  s->czxid = proto_read_long(r);
  s->mzxid = proto_read_long(r);
  s->ctime = proto_read_long(r);
  s->mtime = proto_read_long(r);
  s->version = proto_read_int(r);
  s->cversion = proto_read_int(r);
  s->aversion = proto_read_int(r);
  s->ephemeral_owner = proto_read_long(r);
  s->data_length = proto_read_int(r);
  s->num_children = proto_read_int(r);
  s->pzxid = proto_read_long(r);
}

void proto_write_acl(struct proto_writer *w, const struct proto_acl *a) {
  proto_write_int(w, a->perms);
  proto_write_slice(w, a->id.scheme);
  proto_write_slice(w, a->id.id);
}

void proto_read_acl(struct proto_reader *r, struct proto_acl *a) {
  a->perms = proto_read_int(r);
  a->id.scheme = proto_read_buffer(r);
  a->id.id = proto_read_buffer(r);
}

void proto_write_reply_header(struct proto_writer *w,
                              const struct proto_reply_header *h) {
  proto_write_int(w, h->xid);
  proto_write_long(w, h->zxid);
  proto_write_int(w, h->err);
}

void proto_read_reply_header(struct proto_reader *r,
                             struct proto_reply_header *h) {
  h->xid = proto_read_int(r);
  h->zxid = proto_read_long(r);
  h->err = proto_read_int(r);
}

void proto_write_multi_header(struct proto_writer *w, int32_t type, bool done,
                              int32_t err) {
  proto_write_int(w, type);
  proto_write_bool(w, done);
  proto_write_int(w, err);
}

void proto_read_watcher_event(struct proto_reader *r,
                              struct proto_watcher_event *e) {
  e->type = proto_read_int(r);
  e->state = proto_read_int(r);
  e->path = proto_read_buffer(r);
}

void proto_write_notification(struct proto_writer *w, int64_t zxid,
                              int32_t type, const char *path, size_t path_len) {
  size_t mark = proto_frame_begin(w);
  struct proto_reply_header h = {PROTO_XID_NOTIFICATION, zxid, PROTO_OK};
  proto_write_reply_header(w, &h);
  proto_write_int(w, type);
  proto_write_int(w, PROTO_STATE_SYNC_CONNECTED);
  proto_write_string(w, path, path_len);
  proto_frame_end(w, mark);
}

/* ------------------------------------------------------------------ */
/* Borrowed vectors: validated once at decode time, iterated later. */

/* Reads a vector<T> whose elements are read by `elem`, checking each one,
 * and records the raw slice of the elements.  On error *v is left empty. */
static void read_vec(struct proto_reader *r, struct proto_slice *raw,
                     int32_t *count, void (*elem)(struct proto_reader *r)) {
  raw->ptr = NULL;
  raw->len = 0;
  *count = 0;
  int32_t n = proto__read_count_raw(r);
  if (r->err != PROTO_OK)
    return;
  size_t start = r->pos;
  for (int32_t i = 0; i < n && r->err == PROTO_OK; i++)
    elem(r);
  if (r->err != PROTO_OK)
    return;
  if (r->pos - start > (size_t)INT32_MAX) { /* slice length is int32 */
    proto__fail(r);
    return;
  }
  raw->ptr = r->buf + start;
  raw->len = (int32_t)(r->pos - start);
  *count = n;
}

static void skip_acl(struct proto_reader *r) {
  struct proto_acl a;
  proto_read_acl(r, &a);
}

static void skip_str(struct proto_reader *r) { (void)proto_read_buffer(r); }

void proto__read_acl_vec(struct proto_reader *r, struct proto_acl_vec *v) {
  read_vec(r, &v->raw, &v->count, skip_acl);
}

void proto__read_str_vec(struct proto_reader *r, struct proto_str_vec *v) {
  read_vec(r, &v->raw, &v->count, skip_str);
}

void proto__write_acl_vec(struct proto_writer *w,
                          const struct proto_acl_vec *v) {
  proto_write_int(w, v->count);
  if (v->count > 0)
    proto_write_raw(w, v->raw.ptr, (size_t)v->raw.len);
}

void proto__write_str_vec(struct proto_writer *w,
                          const struct proto_str_vec *v) {
  proto_write_int(w, v->count);
  if (v->count > 0)
    proto_write_raw(w, v->raw.ptr, (size_t)v->raw.len);
}

/* The raw slices were bounds-checked against the frame's max_field when
 * decoded, so iteration needs no field bound of its own. */
static void iter_reader(struct proto_reader *r, struct proto_slice raw) {
  proto_reader_init(r, raw.ptr, raw.len > 0 ? (size_t)raw.len : 0, SIZE_MAX);
}

void proto_acl_iter_init(struct proto_acl_iter *it,
                         const struct proto_acl_vec *v) {
  iter_reader(&it->r, v->raw);
  it->left = v->count > 0 ? v->count : 0;
}

bool proto_acl_iter_next(struct proto_acl_iter *it, struct proto_acl *a) {
  if (it->left <= 0)
    return false;
  proto_read_acl(&it->r, a);
  if (proto_reader_err(&it->r) != PROTO_OK) { /* a vector not from decode */
    it->left = 0;
    return false;
  }
  it->left--;
  return true;
}

void proto_str_iter_init(struct proto_str_iter *it,
                         const struct proto_str_vec *v) {
  iter_reader(&it->r, v->raw);
  it->left = v->count > 0 ? v->count : 0;
}

bool proto_str_iter_next(struct proto_str_iter *it, struct proto_slice *s) {
  if (it->left <= 0)
    return false;
  *s = proto_read_buffer(&it->r);
  if (proto_reader_err(&it->r) != PROTO_OK) {
    it->left = 0;
    return false;
  }
  it->left--;
  return true;
}
