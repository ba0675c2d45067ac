/* Serialisation of the replicated state: encoder, scanner, loader.
 *
 * Stream format (docs/storage-format.md has the diagram).  uv = unsigned
 * LEB128 varint, zz = zigzag-encoded signed varint; deltas are taken in
 * 64-bit wrap-around arithmetic so every value round-trips exactly.
 *
 *   "RTRE" u8 version(2)
 *   uv last_zxid
 *   uv n_acls,     n_acls x (uv blob_len, blob)       jute vector<ACL>
 *   uv n_sessions, n_sessions x (uv id, zz timeout_ms, u8 has_passwd,
 *                               16 bytes passwd if has_passwd)
 *     (version 1, still read, has no has_passwd/passwd)
 *   node records in pre-order, children in byte order of their names:
 *     uv name_len, name            (the root has an empty name)
 *     uv czxid, zz mzxid-czxid, zz pzxid-czxid, zz ctime, zz mtime-ctime,
 *     zz owner, zz version, zz cversion, zz aversion,
 *     zz data_len (-1 = null), data, uv acl_index, uv n_children
 *   "REND" uv n_nodes
 *
 * The structure is implicit in n_children: a record is followed by its
 * n_children subtrees.  Varints make a typical 100-byte node cost about
 * 20 bytes of metadata; the snapshot layer compresses the stream (lz4).
 * Sorting makes the bytes a function of the state: replicas with equal
 * digests write equal snapshots. */
#include "tree/tree_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SER_VERSION 2
#define SER_VERSION_NO_PASSWD 1 /* still read */
#define SER_CHUNK 65536
/* Bounds the scanner enforces on untrusted input. */
#define SER_MAX_NAME (1u << 20)
#define SER_MAX_PATH (1u << 24)
#define SER_MAX_DATA (1 << 30)
#define SER_MAX_ACL_BLOB (1u << 24)
#define SER_MAX_COUNT (1u << 30)

static uint64_t zz_enc(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v < 0 ? -1 : 0);
}
static int64_t zz_dec(uint64_t u) {
  return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* ------------------------------------------------------------------ */
/* Encoder */

struct sw {
  uint8_t *buf;
  size_t len;
  tree_write_cb cb;
  void *arg;
  bool failed;
};

static void sw_flush(struct sw *w) {
  if (w->len && !w->failed && !w->cb(w->arg, w->buf, w->len))
    w->failed = true;
  w->len = 0;
}

/* Room for n bytes in the buffer (n <= SER_CHUNK). */
static uint8_t *sw_room(struct sw *w, size_t n) {
  if (w->len + n > SER_CHUNK)
    sw_flush(w);
  return w->buf + w->len;
}

static void sw_uv(struct sw *w, uint64_t v) {
  uint8_t *p = sw_room(w, 10);
  size_t k = 0;
  while (v >= 0x80) {
    p[k++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[k++] = (uint8_t)v;
  w->len += k;
}

static void sw_zz(struct sw *w, int64_t v) { sw_uv(w, zz_enc(v)); }

static void sw_bytes(struct sw *w, const void *p, size_t n) {
  if (n <= SER_CHUNK / 4) {
    memcpy(sw_room(w, n), p, n);
    w->len += n;
    return;
  }
  sw_flush(w); /* large: hand it out without copying */
  if (!w->failed && !w->cb(w->arg, p, n))
    w->failed = true;
}

static int cmp_nodes(const void *x, const void *y) {
  const struct tnode *a = *(const struct tnode *const *)x;
  const struct tnode *b = *(const struct tnode *const *)y;
  size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
  int c = memcmp(a->name, b->name, m);
  if (c)
    return c;
  return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

static const struct tnode **sorted_kids(const struct tnode *n) {
  const struct otab *o = tree_node_kids(n);
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers */
  const struct tnode **v = malloc((size_t)o->n * sizeof *v);
  if (!v)
    return NULL;
  uint32_t k = 0;
  for (uint32_t i = 0; i < o->cap; i++)
    if (o->slots[i])
      v[k++] = o->slots[i];
  qsort(v, k, sizeof *v, cmp_nodes); // NOLINT(bugprone-sizeof-expression)
  return v;
}

static void write_node(struct sw *w, const struct tnode *n,
                       const uint32_t *acl_map) {
  sw_uv(w, n->name_len);
  sw_bytes(w, n->name, n->name_len);
  sw_uv(w, (uint64_t)n->czxid);
  sw_zz(w, (int64_t)((uint64_t)tree_node_mzxid(n) - (uint64_t)n->czxid));
  sw_zz(w, (int64_t)((uint64_t)tree_node_pzxid(n) - (uint64_t)n->czxid));
  sw_zz(w, n->ctime);
  sw_zz(w, (int64_t)((uint64_t)tree_node_mtime(n) - (uint64_t)n->ctime));
  sw_zz(w, tree_node_owner(n));
  sw_zz(w, tree_node_version(n));
  sw_zz(w, tree_node_cversion(n));
  sw_zz(w, tree_node_aversion(n));
  sw_zz(w, n->data_len);
  if (n->data_len > 0)
    sw_bytes(w, tree_node_data(n), (size_t)n->data_len);
  sw_uv(w, acl_map[n->acl]);
  sw_uv(w, tree_node_nkids(n));
}

struct acl_ref {
  const struct acl_entry *e;
};

static int cmp_acls(const void *x, const void *y) {
  const struct acl_entry *a = ((const struct acl_ref *)x)->e;
  const struct acl_entry *b = ((const struct acl_ref *)y)->e;
  size_t m = a->l.blob_len < b->l.blob_len ? a->l.blob_len : b->l.blob_len;
  int c = memcmp(a->l.blob, b->l.blob, m);
  if (c)
    return c;
  return a->l.blob_len < b->l.blob_len ? -1 : a->l.blob_len > b->l.blob_len;
}

static int cmp_sessions(const void *x, const void *y) {
  const struct tsession *a = *(const struct tsession *const *)x;
  const struct tsession *b = *(const struct tsession *const *)y;
  return a->id < b->id ? -1 : a->id > b->id;
}

struct wframe {
  const struct tnode **kids;
  uint32_t n, i;
};

int tree_serialize(const struct tree *t, tree_write_cb cb, void *arg) {
  struct sw w = {.cb = cb, .arg = arg};
  int rc = PROTO_SYSTEMERROR;
  const struct acl_table *at = &t->acls;
  uint32_t *acl_map = calloc(at->n ? at->n : 1, sizeof *acl_map);
  struct acl_ref *acls = calloc(at->n ? at->n : 1, sizeof *acls);
  const struct tsession **sess = // array of pointers
      calloc(t->sessions.n ? t->sessions.n : 1,
             sizeof *sess); // NOLINT(bugprone-sizeof-expression)
  struct wframe *stack = NULL;
  size_t depth = 0, cap = 0;
  w.buf = malloc(SER_CHUNK);
  if (!acl_map || !acls || !sess || !w.buf)
    goto out;

  memcpy(sw_room(&w, 5), "RTRE", 4);
  w.buf[w.len + 4] = SER_VERSION;
  w.len += 5;
  sw_uv(&w, (uint64_t)t->last_zxid);

  uint32_t n_acls = 0;
  for (uint32_t i = 0; i < at->n; i++)
    if (at->v[i])
      acls[n_acls++].e = at->v[i];
  qsort(acls, n_acls, sizeof *acls, cmp_acls);
  sw_uv(&w, n_acls);
  for (uint32_t i = 0; i < n_acls; i++) {
    acl_map[acls[i].e->index] = i;
    sw_uv(&w, acls[i].e->l.blob_len);
    sw_bytes(&w, acls[i].e->l.blob, acls[i].e->l.blob_len);
  }

  uint32_t n_sess = 0;
  for (uint32_t i = 0; i < t->sessions.cap; i++)
    if (t->sessions.slots[i])
      sess[n_sess++] = t->sessions.slots[i];
  qsort(sess, n_sess, sizeof *sess, // NOLINT(bugprone-sizeof-expression)
        cmp_sessions);
  sw_uv(&w, n_sess);
  for (uint32_t i = 0; i < n_sess; i++) {
    sw_uv(&w, (uint64_t)sess[i]->id);
    sw_zz(&w, sess[i]->timeout_ms);
    uint8_t has_pw = sess[i]->has_passwd;
    sw_bytes(&w, &has_pw, 1);
    if (sess[i]->has_passwd)
      sw_bytes(&w, sess[i]->passwd, PROTO_PASSWD_LEN);
  }

  /* Pre-order walk; a frame per level holds that node's sorted children. */
  uint64_t n_nodes = 1;
  write_node(&w, t->root, acl_map);
  const struct tnode *n = t->root;
  for (;;) {
    if (n && tree_node_nkids(n)) {
      if (depth == cap) {
        size_t nc = cap ? cap * 2 : 64;
        struct wframe *s = realloc(stack, nc * sizeof *s);
        if (!s)
          goto out;
        stack = s;
        cap = nc;
      }
      const struct tnode **kids = sorted_kids(n);
      if (!kids)
        goto out;
      stack[depth++] = (struct wframe){kids, tree_node_nkids(n), 0};
    }
    n = NULL;
    while (depth && stack[depth - 1].i == stack[depth - 1].n)
      free(stack[--depth].kids);
    if (!depth || w.failed)
      break;
    struct wframe *f = &stack[depth - 1];
    n = f->kids[f->i++];
    write_node(&w, n, acl_map);
    n_nodes++;
  }
  memcpy(sw_room(&w, 4), "REND", 4);
  w.len += 4;
  sw_uv(&w, n_nodes);
  sw_flush(&w);
  rc = w.failed ? PROTO_APIERROR : PROTO_OK;
out:
  while (depth)
    free(stack[--depth].kids);
  free(stack);
  free(w.buf);
  free(acl_map);
  free(acls);
  free(sess);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Scanner: a bounded pull parser over read_cb. */

struct sr {
  uint8_t *buf;
  size_t pos, len;
  uint64_t off; /* stream offset of buf[0] */
  tree_read_cb cb;
  void *arg;
  int err;
  char *errmsg;
  size_t errmsg_len;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sr_fail(struct sr *r, const char *fmt, ...) {
  if (r->err)
    return;
  r->err = PROTO_MARSHALLINGERROR;
  if (r->errmsg && r->errmsg_len) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->errmsg, r->errmsg_len, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < r->errmsg_len)
      snprintf(r->errmsg + k, r->errmsg_len - (size_t)k,
               " (at byte %llu of the tree stream)",
               (unsigned long long)r->off + r->pos);
  }
}

static void sr_sys(struct sr *r, const char *what) {
  if (r->err)
    return;
  r->err = PROTO_SYSTEMERROR;
  if (r->errmsg && r->errmsg_len)
    snprintf(r->errmsg, r->errmsg_len, "%s", what);
}

/* Refill; false at end of stream or on error. */
static bool sr_fill(struct sr *r) {
  if (r->err)
    return false;
  r->off += r->pos;
  r->pos = r->len = 0;
  long k = r->cb(r->arg, r->buf, SER_CHUNK);
  if (k < 0) {
    sr_sys(r, "read error");
    return false;
  }
  r->len = (size_t)k;
  return k > 0;
}

static void sr_read(struct sr *r, void *dst, size_t n) {
  uint8_t *d = dst;
  while (n && !r->err) {
    if (r->pos == r->len && !sr_fill(r)) {
      sr_fail(r, "stream ends early");
      break;
    }
    size_t k = r->len - r->pos < n ? r->len - r->pos : n;
    memcpy(d, r->buf + r->pos, k);
    r->pos += k;
    d += k;
    n -= k;
  }
  if (r->err && n)
    memset(d, 0, n);
}

static uint64_t sr_uv(struct sr *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->pos == r->len && !sr_fill(r)) {
      sr_fail(r, "stream ends early");
      return 0;
    }
    uint8_t b = r->buf[r->pos++];
    if (shift == 63 && b > 1) {
      sr_fail(r, "varint overflows 64 bits");
      return 0;
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80))
      return v;
  }
  sr_fail(r, "varint too long");
  return 0;
}

static int64_t sr_zz(struct sr *r) { return zz_dec(sr_uv(r)); }

static int32_t sr_zz32(struct sr *r, const char *what) {
  int64_t v = sr_zz(r);
  if (v < INT32_MIN || v > INT32_MAX) {
    sr_fail(r, "%s out of range", what);
    return 0;
  }
  return (int32_t)v;
}

static uint32_t sr_count(struct sr *r, uint64_t max, const char *what) {
  uint64_t v = sr_uv(r);
  if (v > max) {
    sr_fail(r, "%s %llu exceeds %llu", what, (unsigned long long)v,
            (unsigned long long)max);
    return 0;
  }
  return (uint32_t)v;
}

/* Everything shared by the scan and the load: header, ACLs, sessions,
 * then node records handed to node_fn with the path built. */
struct scan_level {
  uint32_t remaining;
  size_t path_len;
};

struct scan_state {
  struct sr r;
  char *path;
  size_t path_cap;
  uint8_t *data;
  size_t data_cap;
  struct scan_level *lv;
  size_t n_lv, cap_lv;
  uint32_t n_acls;
  int64_t last_zxid;
};

typedef bool (*scan_node_fn)(void *arg, struct scan_state *s,
                             const struct tree_serial_node *n);

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t nc = *cap ? *cap : 64;
  while (nc < need)
    nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q)
    return false;
  *p = q;
  *cap = nc;
  return true;
}

static bool name_ok(const char *p, size_t n) {
  return !memchr(p, '/', n) && !memchr(p, 0, n);
}

static int scan_run(struct scan_state *s, const struct tree_serial_visitor *v,
                    void *arg,
                    bool (*acl_fn)(void *, struct scan_state *, uint32_t,
                                   const uint8_t *, size_t),
                    bool (*sess_fn)(void *, struct scan_state *, int64_t,
                                    int32_t, const uint8_t *),
                    scan_node_fn node_fn) {
  struct sr *r = &s->r;
  uint8_t magic[5] = {0};
  sr_read(r, magic, 5);
  if (r->err)
    return r->err;
  if (memcmp(magic, "RTRE", 4) != 0) {
    sr_fail(r, "not a tree stream (bad magic)");
    return r->err;
  }
  if (magic[4] != SER_VERSION && magic[4] != SER_VERSION_NO_PASSWD) {
    sr_fail(r, "tree stream version %u not supported (this build reads %u)",
            magic[4], SER_VERSION);
    return r->err;
  }
  int64_t last_zxid = (int64_t)sr_uv(r);
  s->last_zxid = last_zxid;
  uint32_t n_acls = sr_count(r, SER_MAX_COUNT, "ACL list count");
  s->n_acls = n_acls;
  if (r->err)
    return r->err;
  bool stop = false;
  /* header() is called once the session count is known, after the ACL
   * lists have been handed out. */
  uint8_t *blob = NULL;
  size_t blob_cap = 0;
  for (uint32_t i = 0; i < n_acls && !r->err && !stop; i++) {
    uint32_t len = sr_count(r, SER_MAX_ACL_BLOB, "ACL blob length");
    if (r->err)
      break;
    if (!grow((void **)&blob, &blob_cap, len ? len : 1, 1)) {
      sr_sys(r, "out of memory");
      break;
    }
    sr_read(r, blob, len);
    if (r->err)
      break;
    if (acl_fn && !acl_fn(arg, s, i, blob, len))
      stop = true;
    if (v && v->acl && !v->acl(v->arg, i, blob, len))
      stop = true;
  }
  free(blob);
  if (r->err)
    return r->err;
  if (stop)
    return PROTO_APIERROR;
  uint32_t n_sess = sr_count(r, SER_MAX_COUNT, "session count");
  if (r->err)
    return r->err;
  if (v && v->header && !v->header(v->arg, last_zxid, n_acls, n_sess))
    return PROTO_APIERROR;
  for (uint32_t i = 0; i < n_sess && !r->err && !stop; i++) {
    int64_t id = (int64_t)sr_uv(r);
    int32_t to = sr_zz32(r, "session timeout");
    uint8_t has_pw = 0, pw[PROTO_PASSWD_LEN];
    if (magic[4] != SER_VERSION_NO_PASSWD) {
      sr_read(r, &has_pw, 1);
      if (!r->err && has_pw > 1)
        sr_fail(r, "session 0x%llx: bad password flag %u",
                (unsigned long long)id, has_pw);
      if (!r->err && has_pw)
        sr_read(r, pw, sizeof pw);
    }
    if (r->err)
      break;
    if (sess_fn && !sess_fn(arg, s, id, to, has_pw ? pw : NULL))
      stop = true;
    if (v && v->session && !v->session(v->arg, id, to))
      stop = true;
  }
  if (r->err)
    return r->err;
  if (stop)
    return PROTO_APIERROR;

  uint64_t n_nodes = 0;
  for (;;) {
    /* Pop finished levels; the stream ends when the root's are done. */
    while (s->n_lv && s->lv[s->n_lv - 1].remaining == 0)
      s->n_lv--;
    if (n_nodes && !s->n_lv)
      break;
    struct tree_serial_node n;
    memset(&n, 0, sizeof n);
    uint32_t name_len = sr_count(r, SER_MAX_NAME, "name length");
    if (r->err)
      return r->err;
    size_t base = s->n_lv ? s->lv[s->n_lv - 1].path_len : 0;
    if (n_nodes == 0 && name_len != 0) {
      sr_fail(r, "first node is not the root");
      return r->err;
    }
    if (n_nodes && name_len == 0) {
      sr_fail(r, "empty node name");
      return r->err;
    }
    /* path = parent path ("/" for the root's children) + name */
    size_t start = n_nodes == 0 ? 0 : (base == 1 ? 1 : base + 1);
    size_t plen = n_nodes == 0 ? 1 : start + name_len;
    if (plen > SER_MAX_PATH) {
      sr_fail(r, "path longer than %u bytes", SER_MAX_PATH);
      return r->err;
    }
    if (!grow((void **)&s->path, &s->path_cap, plen + 1, 1)) {
      sr_sys(r, "out of memory");
      return r->err;
    }
    if (n_nodes == 0) {
      s->path[0] = '/';
    } else {
      if (base != 1)
        s->path[base] = '/';
      sr_read(r, s->path + start, name_len);
      if (r->err)
        return r->err;
      if (!name_ok(s->path + start, name_len)) {
        sr_fail(r, "node name contains '/' or NUL");
        return r->err;
      }
    }
    n.path = s->path;
    n.path_len = plen;
    n.depth = s->n_lv;
    n.czxid = (int64_t)sr_uv(r);
    n.mzxid = (int64_t)((uint64_t)n.czxid + (uint64_t)sr_zz(r));
    n.pzxid = (int64_t)((uint64_t)n.czxid + (uint64_t)sr_zz(r));
    n.ctime = sr_zz(r);
    n.mtime = (int64_t)((uint64_t)n.ctime + (uint64_t)sr_zz(r));
    n.owner = sr_zz(r);
    n.version = sr_zz32(r, "version");
    n.cversion = sr_zz32(r, "cversion");
    n.aversion = sr_zz32(r, "aversion");
    n.data_len = sr_zz32(r, "data length");
    if (r->err)
      return r->err;
    if (n.data_len < -1 || n.data_len > SER_MAX_DATA) {
      sr_fail(r, "data length %d out of range", (int)n.data_len);
      return r->err;
    }
    if (n.data_len > 0) {
      if (!grow((void **)&s->data, &s->data_cap, (size_t)n.data_len, 1)) {
        sr_sys(r, "out of memory");
        return r->err;
      }
      sr_read(r, s->data, (size_t)n.data_len);
      n.data = s->data;
    }
    n.acl = sr_count(r, UINT32_MAX, "ACL index");
    n.n_children = sr_count(r, SER_MAX_COUNT, "child count");
    if (r->err)
      return r->err;
    if (n.acl >= n_acls) {
      sr_fail(r, "ACL index %u out of %u lists", n.acl, n_acls);
      return r->err;
    }
    if (s->n_lv)
      s->lv[s->n_lv - 1].remaining--;
    n_nodes++;
    if (node_fn && !node_fn(arg, s, &n))
      return r->err ? r->err : PROTO_APIERROR;
    if (v && v->node && !v->node(v->arg, &n))
      return PROTO_APIERROR;
    if (n.n_children) {
      if (!grow((void **)&s->lv, &s->cap_lv, s->n_lv + 1, sizeof *s->lv)) {
        sr_sys(r, "out of memory");
        return r->err;
      }
      s->lv[s->n_lv++] = (struct scan_level){n.n_children, plen};
    }
  }
  uint8_t end[4];
  sr_read(r, end, 4);
  if (!r->err && memcmp(end, "REND", 4) != 0)
    sr_fail(r, "missing end marker after %llu nodes",
            (unsigned long long)n_nodes);
  uint64_t count = sr_uv(r);
  if (!r->err && count != n_nodes)
    sr_fail(r, "trailer says %llu nodes, stream has %llu",
            (unsigned long long)count, (unsigned long long)n_nodes);
  if (r->err)
    return r->err;
  if (r->pos != r->len || sr_fill(r)) {
    sr_fail(r, "bytes after the end marker");
    return r->err;
  }
  return r->err;
}

static bool scan_init(struct scan_state *s, tree_read_cb cb, void *arg,
                      char *errmsg, size_t errmsg_len) {
  memset(s, 0, sizeof *s);
  s->r.cb = cb;
  s->r.arg = arg;
  s->r.errmsg = errmsg;
  s->r.errmsg_len = errmsg_len;
  if (errmsg && errmsg_len)
    errmsg[0] = 0;
  s->r.buf = malloc(SER_CHUNK);
  if (!s->r.buf) {
    sr_sys(&s->r, "out of memory");
    return false;
  }
  return true;
}

static void scan_fini(struct scan_state *s) {
  free(s->r.buf);
  free(s->path);
  free(s->data);
  free(s->lv);
}

int tree_serial_scan(tree_read_cb read_cb, void *read_arg,
                     const struct tree_serial_visitor *v, char *errmsg,
                     size_t errmsg_len) {
  struct scan_state s;
  int rc = PROTO_SYSTEMERROR;
  if (scan_init(&s, read_cb, read_arg, errmsg, errmsg_len))
    rc = scan_run(&s, v, NULL, NULL, NULL, NULL);
  scan_fini(&s);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Loader */

struct loader {
  struct tree *t;
  uint32_t *acl_map; /* stream index -> table index */
  uint32_t n_mapped;
  size_t cap_map;
  struct tnode **stack; /* last node loaded at each depth */
  size_t n_set;         /* entries of stack that were set */
  size_t cap_stack;
};

static uint32_t l_node_hash(const void *item) {
  return tree_node_name_hash(item);
}
static uint32_t l_session_hash(const void *item) {
  return tree_hash_u64((uint64_t)((const struct tsession *)item)->id);
}

static bool load_acl(void *arg, struct scan_state *s, uint32_t i,
                     const uint8_t *blob, size_t len) {
  struct loader *l = arg;
  /* Grown as lists arrive: the count in the stream is not trusted. */
  if (!grow((void **)&l->acl_map, &l->cap_map, (size_t)i + 1,
            sizeof *l->acl_map)) {
    sr_sys(&s->r, "out of memory");
    return false;
  }
  int rc = tree_acl_intern(l->t, blob, len, &l->acl_map[i]);
  if (rc == PROTO_MARSHALLINGERROR) {
    sr_fail(&s->r, "ACL list %u does not decode", i);
    return false;
  }
  if (rc != PROTO_OK) {
    sr_sys(&s->r, "out of memory");
    return false;
  }
  l->n_mapped = i + 1;
  return true;
}

static bool load_session(void *arg, struct scan_state *s, int64_t id,
                         int32_t timeout_ms, const uint8_t *passwd) {
  struct tree *t = ((struct loader *)arg)->t;
  if (tree_session_get(t, id)) {
    sr_fail(&s->r, "session 0x%llx twice", (unsigned long long)id);
    return false;
  }
  struct tsession *ts = tree_malloc(t, sizeof *ts);
  if (!ts ||
      !otab_reserve(t, &t->sessions, t->sessions.n + 1, l_session_hash)) {
    free(ts);
    sr_sys(&s->r, "out of memory");
    return false;
  }
  memset(ts, 0, sizeof *ts);
  ts->id = id;
  ts->timeout_ms = timeout_ms;
  ts->has_passwd = passwd != NULL;
  if (passwd)
    memcpy(ts->passwd, passwd, PROTO_PASSWD_LEN);
  otab_put(&t->sessions, ts, tree_hash_u64((uint64_t)id));
  return true;
}

static bool load_node(void *arg, struct scan_state *s,
                      const struct tree_serial_node *sn) {
  struct loader *l = arg;
  struct tree *t = l->t;
  struct sr *r = &s->r;
  struct tnode *parent = sn->depth ? l->stack[sn->depth - 1] : NULL;
  const char *name = "";
  size_t name_len = 0;
  if (sn->depth) {
    const char *slash = sn->path + sn->path_len;
    while (slash[-1] != '/')
      slash--;
    name = slash;
    name_len = (size_t)(sn->path + sn->path_len - slash);
    /* Siblings come in strictly increasing name order (the encoder sorts
     * them): comparing with the previous sibling finds duplicates without
     * a lookup in what may be a table of a million children. */
    struct tnode *prev = sn->depth < l->n_set ? l->stack[sn->depth] : NULL;
    if (prev && tree_node_parent(prev) == parent) {
      size_t m = prev->name_len < name_len ? prev->name_len : name_len;
      int c = memcmp(prev->name, name, m);
      if (c > 0 || (c == 0 && prev->name_len >= name_len)) {
        sr_fail(r, "node %.*s out of order or duplicate", (int)sn->path_len,
                sn->path);
        return false;
      }
    }
    if (tree_owner_is_session(tree_node_owner(parent))) {
      sr_fail(r, "child of an ephemeral node: %.*s", (int)sn->path_len,
              sn->path);
      return false;
    }
  }
  struct tsession *ses = NULL;
  if (tree_owner_is_session(sn->owner)) {
    ses = tree_session_get(t, sn->owner);
    if (!ses) {
      sr_fail(r, "ephemeral %.*s of session 0x%llx, which is not in the table",
              (int)sn->path_len, sn->path, (unsigned long long)sn->owner);
      return false;
    }
  }
  struct tnode *n = tree_node_alloc(t, name, name_len,
                                    (const uint8_t *)sn->data, sn->data_len);
  if (!n)
    goto oom;
  n->czxid = sn->czxid;
  n->ctime = sn->ctime;
  /* An extension only for what differs from a fresh node's defaults. */
  if (sn->mzxid != sn->czxid || sn->pzxid != sn->czxid ||
      sn->mtime != sn->ctime || sn->owner || sn->version || sn->cversion ||
      sn->aversion || sn->n_children) {
    struct tnode_ext *x = tree_node_ext(t, n);
    if (!x)
      goto oom;
    x->mzxid = sn->mzxid;
    x->pzxid = sn->pzxid;
    x->mtime = sn->mtime;
    x->owner = sn->owner;
    x->version = sn->version;
    x->cversion = sn->cversion;
    x->aversion = sn->aversion;
    /* Children go into a table sized from the record's count, up to a
     * bound (the count is not trusted; tree_fit_tables shrinks a table a
     * false count made too large); past it the table grows. */
    uint32_t want = sn->n_children < (1u << 20) ? sn->n_children : (1u << 20);
    if (want && !otab_reserve(t, &x->kids, want, l_node_hash))
      goto oom;
  }
  struct tnode_ext *px = parent ? tree_node_ext(t, parent) : NULL;
  if (parent &&
      (!px || !otab_reserve(t, &px->kids, px->kids.n + 1, l_node_hash)))
    goto oom;
  if (ses && !otab_reserve(t, &ses->eph, ses->eph.n + 1, tree_ptr_hash))
    goto oom;
  bool reapable =
      tree_owner_is_container(sn->owner) || tree_owner_is_ttl(sn->owner);
  if (reapable &&
      !otab_reserve(t, &t->reapable, t->reapable.n + 1, tree_ptr_hash))
    goto oom;
  if (!grow((void **)&l->stack, &l->cap_stack, sn->depth + 1,
            sizeof *l->stack)) // NOLINT(bugprone-sizeof-expression)
    goto oom;
  /* Nothing can fail from here on: link. */
  n->acl = l->acl_map[sn->acl];
  tree_acl_ref(t, n->acl);
  if (parent) {
    tree_node_set_parent(n, parent);
    otab_put(&tree_node_x(parent)->kids, n, tree_node_name_hash(n));
  } else {
    t->root = n;
  }
  if (ses) {
    otab_put(&ses->eph, n, tree_ptr_hash(n));
    t->n_ephemerals++;
  }
  if (reapable)
    otab_put(&t->reapable, n, tree_ptr_hash(n));
  t->n_nodes++;
  t->data_size += sn->path_len + (sn->data_len > 0 ? (size_t)sn->data_len : 0);
  l->stack[sn->depth] = n;
  if (sn->depth + 1 > l->n_set)
    l->n_set = sn->depth + 1;
  return true;
oom:
  tree_node_free(t, n);
  sr_sys(r, "out of memory");
  return false;
}

/* Free the nodes tree_new made (root and /zookeeper...), dropping their
 * ACL references, so the stream can bring its own. */
static void strip_tree(struct tree *t) {
  struct tnode *n = t->root;
  while (n) {
    struct tnode *c = NULL;
    struct tnode_ext *x = tree_node_x(n);
    for (uint32_t i = 0; x && i < x->kids.cap; i++)
      if (x->kids.slots[i]) {
        c = x->kids.slots[i];
        x->kids.slots[i] = NULL;
        break;
      }
    if (c) {
      n = c;
      continue;
    }
    struct tnode *p = tree_node_parent(n);
    tree_acl_unref(t, n->acl);
    tree_node_free(t, n);
    n = p;
  }
  t->root = NULL;
  t->n_nodes = 0;
  t->data_size = 0;
  t->n_ephemerals = 0;
}

struct tree *tree_load(const struct tree_config *cfg, tree_read_cb read_cb,
                       void *read_arg, int *err, char *errmsg,
                       size_t errmsg_len) {
  struct loader l = {0};
  struct scan_state s;
  int rc = PROTO_SYSTEMERROR;
  bool ok = scan_init(&s, read_cb, read_arg, errmsg, errmsg_len);
  l.t = ok ? tree_new(cfg) : NULL;
  if (ok && !l.t)
    sr_sys(&s.r, "out of memory");
  if (l.t) {
    strip_tree(l.t);
    rc = scan_run(&s, NULL, &l, load_acl, load_session, load_node);
    l.t->last_zxid = s.last_zxid;
  }
  if (rc == PROTO_APIERROR)
    rc = s.r.err ? s.r.err : PROTO_MARSHALLINGERROR;
  /* Drop the references interning took; nodes hold their own. */
  for (uint32_t i = 0; l.t && i < l.n_mapped; i++)
    tree_acl_unref(l.t, l.acl_map[i]);
  free(l.acl_map);
  free(l.stack);
  scan_fini(&s);
  if (rc != PROTO_OK) {
    tree_free(l.t);
    *err = rc;
    return NULL;
  }
  /* Tables grew while the nodes came in; most will mostly be read. */
  tree_fit_tables(l.t);
  *err = PROTO_OK;
  return l.t;
}

void tree_sessions_each(const struct tree *t, tree_session_cb cb, void *arg) {
  for (uint32_t i = 0; i < t->sessions.cap; i++) {
    const struct tsession *s = t->sessions.slots[i];
    if (s)
      cb(arg, s->id, s->timeout_ms);
  }
}
