/* Unit tests for pipelined prep (tree_prep_pending and struct
 * tree_pending): a seeded randomized differential test against the
 * one-at-a-time oracle (prep + apply each request before the next), the
 * targeted cases a pipeline gets wrong without pending records, record
 * dropping, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any 16 bytes: a createSession txn carries the session password. */
static const uint8_t test_passwd[16] = "0123456789abcde";

#include <cmocka.h>

#include "proto/proto.h"
#include "tree/tree.h"
#include "tree/tree_int.h"

/* ------------------------------------------------------------------ */
/* Requests, described abstractly so both sides build the same bytes. */

enum gkind {
  G_CREATE,
  G_CONTAINER,
  G_TTL,
  G_DELETE,
  G_DELCONTAINER,
  G_SETDATA,
  G_SETACL,
  G_MULTI,
  G_OPEN,  /* createSession */
  G_CLOSE, /* closeSession */
};

#define MAX_SUB 4

struct gsub {
  int32_t type; /* 1, 15, 2, 5, 13 */
  char path[40];
  int32_t flags;
  int32_t version;
};

struct gop {
  enum gkind kind;
  int64_t session;
  int auth; /* 0: no identity, 1: digest u:p */
  char path[40];
  int32_t flags;
  int32_t version;
  int acl; /* index into acl_specs */
  char data[8];
  int n_sub;
  struct gsub sub[MAX_SUB];
};

struct acl_spec {
  int32_t perms;
  const char *scheme, *id;
};
static const struct acl_spec acl_specs[] = {
    {31, "world", "anyone"},
    {1, "world", "anyone"},  /* read only: writes get NoAuth */
    {31, "digest", "u:p"},   /* only for the digest identity */
    {12, "world", "anyone"}, /* create + delete, no write */
};
#define N_ACLS (sizeof acl_specs / sizeof acl_specs[0])

static struct proto_slice S(const char *s) {
  struct proto_slice sl = {(const uint8_t *)s, (int32_t)strlen(s)};
  return sl;
}

/* Holds the bytes a built request borrows. */
struct built {
  struct proto_writer acl, multi;
  struct proto_request req;
  struct tree_identity id;
  struct tree_auth auth;
};

static struct proto_acl_vec acl_vec(struct proto_writer *w, int i) {
  proto_writer_reset(w);
  const struct acl_spec *a = &acl_specs[i];
  struct proto_acl x = {a->perms, {S(a->scheme), S(a->id)}};
  proto_write_acl(w, &x);
  struct proto_acl_vec v = {{w->buf, (int32_t)w->len}, 1};
  return v;
}

static void build(struct built *b, const struct gop *g) {
  struct proto_request *r = &b->req;
  memset(r, 0, sizeof *r);
  b->id.scheme = "digest";
  b->id.id = "u:p";
  b->auth.ids = &b->id;
  b->auth.n_ids = g->auth ? 1 : 0;
  switch (g->kind) {
  case G_CREATE:
  case G_CONTAINER:
  case G_TTL:
    r->hdr.type = g->kind == G_CREATE      ? PROTO_OP_CREATE2
                  : g->kind == G_CONTAINER ? PROTO_OP_CREATECONTAINER
                                           : PROTO_OP_CREATETTL;
    r->u.create.path = S(g->path);
    r->u.create.data = S(g->data);
    r->u.create.acl = acl_vec(&b->acl, g->acl);
    r->u.create.flags = g->flags;
    r->u.create.ttl = g->kind == G_TTL ? 5000 : 0;
    break;
  case G_DELETE:
    r->hdr.type = PROTO_OP_DELETE;
    r->u.del.path = S(g->path);
    r->u.del.version = g->version;
    break;
  case G_DELCONTAINER:
    r->hdr.type = PROTO_OP_DELETECONTAINER;
    r->u.path.path = S(g->path);
    break;
  case G_SETDATA:
    r->hdr.type = PROTO_OP_SETDATA;
    r->u.set_data.path = S(g->path);
    r->u.set_data.data = S(g->data);
    r->u.set_data.version = g->version;
    break;
  case G_SETACL:
    r->hdr.type = PROTO_OP_SETACL;
    r->u.set_acl.path = S(g->path);
    r->u.set_acl.acl = acl_vec(&b->acl, g->acl);
    r->u.set_acl.version = g->version;
    break;
  case G_MULTI: {
    proto_writer_reset(&b->multi);
    size_t mark = proto_multi_encode_begin(&b->multi, 1, PROTO_OP_MULTI);
    struct proto_acl_vec open = acl_vec(&b->acl, 0);
    for (int i = 0; i < g->n_sub; i++) {
      const struct gsub *s = &g->sub[i];
      struct proto_multi_op o;
      memset(&o, 0, sizeof o);
      o.type = s->type;
      switch (s->type) {
      case PROTO_OP_CREATE:
      case PROTO_OP_CREATE2:
        o.u.create.path = S(s->path);
        o.u.create.data = S("m");
        o.u.create.acl = open;
        o.u.create.flags = s->flags;
        break;
      case PROTO_OP_DELETE:
        o.u.del.path = S(s->path);
        o.u.del.version = s->version;
        break;
      case PROTO_OP_SETDATA:
        o.u.set_data.path = S(s->path);
        o.u.set_data.data = S("md");
        o.u.set_data.version = s->version;
        break;
      default:
        o.u.check.path = S(s->path);
        o.u.check.version = s->version;
        break;
      }
      proto_multi_encode_op(&b->multi, &o);
    }
    proto_multi_encode_end(&b->multi, mark);
    assert_int_equal(proto_request_decode(b->multi.buf + 4, b->multi.len - 4,
                                          PROTO_DEFAULT_MAX_BUFFER, r),
                     PROTO_OK);
    break;
  }
  default:
    break;
  }
}

static void built_init(struct built *b) {
  memset(b, 0, sizeof *b);
  proto_writer_init(&b->acl);
  proto_writer_init(&b->multi);
}

static void built_free(struct built *b) {
  proto_writer_free(&b->acl);
  proto_writer_free(&b->multi);
}

static struct tree_txn_header hdr_of(const struct gop *g, int64_t zxid) {
  struct tree_txn_header h = {g->session, 7, zxid, 1000 + zxid, 0};
  return h;
}

/* One-at-a-time: the txn the current code makes for g at zxid. */
static int prep_plain(struct tree *t, struct built *b, const struct gop *g,
                      int64_t zxid, struct proto_writer *out) {
  struct tree_txn_header h = hdr_of(g, zxid);
  if (g->kind == G_OPEN) {
    tree_txn_encode_create_session(out, &h, 30000, test_passwd);
    return PROTO_OK;
  }
  if (g->kind == G_CLOSE) {
    tree_txn_encode_close_session(out, &h);
    return PROTO_OK;
  }
  build(b, g);
  struct tree_prep_ctx ctx = {h.session_id, h.cxid, zxid, h.time_ms, b->auth};
  return tree_prep(t, &ctx, &b->req, out);
}

/* Pipelined: the same against tree + pend. */
static int prep_pend(struct tree *t, struct tree_pending *p, struct built *b,
                     const struct gop *g, int64_t zxid,
                     struct proto_writer *out) {
  struct tree_txn_header h = hdr_of(g, zxid);
  if (g->kind == G_OPEN)
    return tree_prep_create_session(t, p, &h, 30000, test_passwd, out);
  if (g->kind == G_CLOSE)
    return tree_prep_close_session(t, p, &h, out);
  build(b, g);
  struct tree_prep_ctx ctx = {h.session_id, h.cxid, zxid, h.time_ms, b->auth};
  return tree_prep_pending(t, p, &ctx, &b->req, out);
}

/* ------------------------------------------------------------------ */
/* Fixture for the targeted cases: one tree, one pend, txns queued. */

#define S1 0x101
#define S2 0x102
#define MAXQ 64

struct fx {
  struct tree *t;
  struct tree_pending *p;
  struct built b;
  int64_t zxid;
  struct proto_writer q[MAXQ]; /* prepped, not applied */
  int64_t qz[MAXQ];
  size_t nq;
  struct tree_out out;
};

static struct fx *fx_new(void) {
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  struct tree_config cfg = {.extended_types = true};
  f->t = tree_new(&cfg);
  assert_non_null(f->t);
  f->p = tree_pending_new(f->t);
  assert_non_null(f->p);
  built_init(&f->b);
  tree_out_init(&f->out);
  for (size_t i = 0; i < MAXQ; i++)
    proto_writer_init(&f->q[i]);
  return f;
}

static void fx_free(struct fx *f) {
  for (size_t i = 0; i < MAXQ; i++)
    proto_writer_free(&f->q[i]);
  tree_out_free(&f->out);
  built_free(&f->b);
  tree_pending_free(f->p);
  tree_free(f->t);
  free(f);
}

/* Prep g into the queue; returns the slot. */
static size_t fx_prep(struct fx *f, const struct gop *g) {
  assert_true(f->nq < MAXQ);
  size_t i = f->nq++;
  proto_writer_reset(&f->q[i]);
  f->qz[i] = ++f->zxid;
  assert_int_equal(prep_pend(f->t, f->p, &f->b, g, f->qz[i], &f->q[i]),
                   PROTO_OK);
  return i;
}

/* Apply every queued txn in order; errs[i] gets each reply error (for a
 * multi: the first non-zero sub-op error). */
static void fx_apply_all(struct fx *f, int32_t *errs) {
  for (size_t i = 0; i < f->nq; i++) {
    assert_int_equal(tree_apply(f->t, f->q[i].buf, f->q[i].len, &f->out),
                     PROTO_OK);
    int32_t e = f->out.err;
    for (size_t k = 0; e == 0 && k < f->out.n_results; k++)
      e = f->out.results[k].err;
    if (errs)
      errs[i] = e;
    tree_pending_applied(f->p, f->qz[i]);
  }
  f->nq = 0;
  assert_int_equal(tree_pending_count(f->p), 0);
}

/* Prep and apply at once (the setup before a pipeline). */
static int32_t fx_run(struct fx *f, const struct gop *g) {
  fx_prep(f, g);
  int32_t e;
  fx_apply_all(f, &e);
  return e;
}

static struct gop op_create(int64_t s, const char *path, int32_t flags) {
  struct gop g;
  memset(&g, 0, sizeof g);
  g.kind = G_CREATE;
  g.session = s;
  snprintf(g.path, sizeof g.path, "%s", path);
  g.flags = flags;
  snprintf(g.data, sizeof g.data, "d");
  return g;
}

static struct gop op_path(enum gkind k, int64_t s, const char *path,
                          int32_t version) {
  struct gop g;
  memset(&g, 0, sizeof g);
  g.kind = k;
  g.session = s;
  snprintf(g.path, sizeof g.path, "%s", path);
  g.version = version;
  snprintf(g.data, sizeof g.data, "x");
  return g;
}

static struct gop op_session(enum gkind k, int64_t s) {
  struct gop g;
  memset(&g, 0, sizeof g);
  g.kind = k;
  g.session = s;
  return g;
}

static struct fx *fx_setup(void) {
  struct fx *f = fx_new();
  struct gop g = op_session(G_OPEN, S1);
  assert_int_equal(fx_run(f, &g), 0);
  g = op_session(G_OPEN, S2);
  assert_int_equal(fx_run(f, &g), 0);
  g = op_create(S1, "/p", 0);
  assert_int_equal(fx_run(f, &g), 0);
  return f;
}

/* ------------------------------------------------------------------ */
/* Targeted cases */

static void test_sequential_in_flight(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop g = op_create(S1, "/p/s-", 2);
  for (int i = 0; i < 3; i++)
    fx_prep(f, &g);
  g = op_create(S1, "/p/s-0000000001", 0); /* taken by the second */
  fx_prep(f, &g);
  int32_t errs[4];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[1], 0);
  assert_int_equal(errs[2], 0);
  assert_int_equal(errs[3], PROTO_NODEEXISTS);
  struct proto_stat st;
  assert_int_equal(tree_stat(f->t, "/p/s-0000000002", 15, &st), PROTO_OK);
  fx_free(f);
}

static void test_delete_not_empty_pending_child(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop c = op_create(S1, "/p/c", 0);
  struct gop d = op_path(G_DELETE, S1, "/p", -1);
  struct gop dc = op_path(G_DELETE, S1, "/p/c", -1);
  fx_prep(f, &c);
  fx_prep(f, &d);  /* NotEmpty: the child is pending */
  fx_prep(f, &dc); /* the child goes */
  fx_prep(f, &d);  /* now it may */
  int32_t errs[4];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[1], PROTO_NOTEMPTY);
  assert_int_equal(errs[2], 0);
  assert_int_equal(errs[3], 0);
  fx_free(f);
}

static void test_create_under_pending_deleted_parent(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop d = op_path(G_DELETE, S1, "/p", -1);
  struct gop c = op_create(S1, "/p/c", 0);
  struct gop p = op_create(S1, "/p", 0);
  fx_prep(f, &d);
  fx_prep(f, &c); /* NoNode */
  fx_prep(f, &p); /* recreated: a fresh node */
  struct gop sd = op_path(G_SETDATA, S1, "/p", 0);
  fx_prep(f, &sd); /* version 0 again */
  int32_t errs[4];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[1], PROTO_NONODE);
  assert_int_equal(errs[2], 0);
  assert_int_equal(errs[3], 0);
  fx_free(f);
}

static void test_bad_version_after_pending_set_data(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop s0 = op_path(G_SETDATA, S1, "/p", 0);
  struct gop s1 = op_path(G_SETDATA, S1, "/p", 1);
  struct gop d0 = op_path(G_DELETE, S1, "/p", 0);
  fx_prep(f, &s0);
  fx_prep(f, &s0); /* BadVersion */
  fx_prep(f, &d0); /* BadVersion */
  fx_prep(f, &s1);
  int32_t errs[4];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[1], PROTO_BADVERSION);
  assert_int_equal(errs[2], PROTO_BADVERSION);
  assert_int_equal(errs[3], 0);
  fx_free(f);
}

static void test_session_expired_after_pending_close(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop cl = op_session(G_CLOSE, S1);
  struct gop w = op_path(G_SETDATA, S1, "/p", -1);
  struct gop c = op_create(S1, "/q", 1);
  fx_prep(f, &cl);
  fx_prep(f, &w);
  fx_prep(f, &c);
  int32_t errs[3];
  fx_apply_all(f, errs);
  assert_int_equal(errs[1], PROTO_SESSIONEXPIRED);
  assert_int_equal(errs[2], PROTO_SESSIONEXPIRED);
  fx_free(f);
}

static void test_ephemeral_recreated_after_pending_close(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop e1 = op_create(S1, "/p/e1", 1); /* applied first */
  assert_int_equal(fx_run(f, &e1), 0);
  struct gop e2 = op_create(S1, "/p/e2", 1); /* pending when S1 closes */
  struct gop cl = op_session(G_CLOSE, S1);
  struct gop r1 = op_create(S2, "/p/e1", 1);
  struct gop r2 = op_create(S2, "/p/e2", 0);
  struct gop d1 = op_path(G_DELETE, S2, "/p/e1", -1);
  struct gop d2 = op_path(G_DELETE, S2, "/p/e2", -1);
  struct gop dp = op_path(G_DELETE, S2, "/p", -1);
  fx_prep(f, &e2);
  fx_prep(f, &cl);
  fx_prep(f, &dp); /* empty now: both ephemerals went with S1 */
  int32_t errs[7];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[2], 0);
  /* again, with the parent kept: the paths are free for S2 */
  struct gop p = op_create(S2, "/p", 0);
  assert_int_equal(fx_run(f, &p), 0);
  struct gop o = op_session(G_OPEN, 0x103);
  assert_int_equal(fx_run(f, &o), 0);
  e1 = op_create(0x103, "/p/e1", 1);
  assert_int_equal(fx_run(f, &e1), 0);
  e2 = op_create(0x103, "/p/e2", 1);
  cl = op_session(G_CLOSE, 0x103);
  fx_prep(f, &e2);
  fx_prep(f, &cl);
  fx_prep(f, &r1);
  fx_prep(f, &r2);
  fx_prep(f, &d1);
  fx_prep(f, &d2);
  fx_prep(f, &dp); /* empty: the ephemerals went, S2's nodes too */
  fx_apply_all(f, errs);
  for (int i = 0; i < 7; i++)
    assert_int_equal(errs[i], 0);
  fx_free(f);
}

static void test_no_auth_after_pending_set_acl(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop a = op_path(G_SETACL, S1, "/p", -1);
  a.acl = 1; /* read only */
  struct gop w = op_path(G_SETDATA, S1, "/p", -1);
  struct gop c = op_create(S1, "/p/c", 0);
  struct gop a2 = op_path(G_SETACL, S1, "/p", 0); /* aversion is 1 now */
  fx_prep(f, &a);
  fx_prep(f, &w);
  fx_prep(f, &c);
  fx_prep(f, &a2);
  int32_t errs[4];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[1], PROTO_NOAUTH);
  assert_int_equal(errs[2], PROTO_NOAUTH);
  assert_int_equal(errs[3], PROTO_NOAUTH); /* no ADMIN either */
  fx_free(f);
}

static void test_multi_records_only_on_success(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop m;
  memset(&m, 0, sizeof m);
  m.kind = G_MULTI;
  m.session = S1;
  m.n_sub = 2;
  m.sub[0] = (struct gsub){PROTO_OP_CREATE, "/m", 0, -1};
  m.sub[1] = (struct gsub){PROTO_OP_CHECK, "/p", 0, 5}; /* fails */
  fx_prep(f, &m);
  assert_int_equal(tree_pending_count(f->p), 0);
  struct gop c = op_create(S1, "/m", 0); /* /m does not exist */
  fx_prep(f, &c);
  m.sub[1].version = 0;
  m.sub[0] = (struct gsub){PROTO_OP_CREATE, "/m2", 0, -1};
  fx_prep(f, &m); /* succeeds: /m2 pending, /p unchanged */
  fx_prep(f, &m); /* NodeExists on /m2 */
  assert_true(tree_pending_count(f->p) > 0);
  int32_t errs[4];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], PROTO_BADVERSION);
  assert_int_equal(errs[1], 0);
  assert_int_equal(errs[2], 0);
  assert_int_equal(errs[3], PROTO_NODEEXISTS);
  fx_free(f);
}

static void test_container_reaped_with_pending_child(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop k = op_create(S1, "/k", 0);
  k.kind = G_CONTAINER;
  assert_int_equal(fx_run(f, &k), 0);
  struct gop c = op_create(S1, "/k/c", 0);
  struct gop r = op_path(G_DELCONTAINER, 0, "/k", -1);
  struct gop dc = op_path(G_DELETE, S1, "/k/c", -1);
  struct gop cc = op_create(S1, "/k/d", 0);
  fx_prep(f, &c);
  fx_prep(f, &r); /* NotEmpty at prep */
  fx_prep(f, &dc);
  fx_prep(f, &r);  /* reaped */
  fx_prep(f, &cc); /* NoNode */
  int32_t errs[5];
  fx_apply_all(f, errs);
  assert_int_equal(errs[1], PROTO_NOTEMPTY);
  assert_int_equal(errs[3], 0);
  assert_int_equal(errs[4], PROTO_NONODE);
  fx_free(f);
}

/* Records go once the tree has applied their latest change, and a record
 * changed again stays until then. */
static void test_applied_drops_records(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop s = op_path(G_SETDATA, S1, "/p", -1);
  fx_prep(f, &s); /* zxid a: /p */
  fx_prep(f, &s); /* zxid b: /p again */
  assert_int_equal(tree_pending_count(f->p), 1);
  assert_int_equal(tree_apply(f->t, f->q[0].buf, f->q[0].len, &f->out),
                   PROTO_OK);
  tree_pending_applied(f->p, f->qz[0]);
  assert_int_equal(tree_pending_count(f->p), 1);
  assert_int_equal(tree_apply(f->t, f->q[1].buf, f->q[1].len, &f->out),
                   PROTO_OK);
  tree_pending_applied(f->p, f->qz[1]);
  assert_int_equal(tree_pending_count(f->p), 0);
  f->nq = 0;
  /* clear drops everything, and pend is usable afterwards */
  fx_prep(f, &s);
  struct gop cl = op_session(G_CLOSE, S2);
  fx_prep(f, &cl);
  assert_int_equal(tree_pending_count(f->p), 2);
  tree_pending_clear(f->p);
  assert_int_equal(tree_pending_count(f->p), 0);
  fx_apply_all(f, NULL);
  fx_free(f);
}

/* Freed records are kept and reused (pending.c's spares): a reused one
 * answers for its new path only, and prep on top of it is right. */
static void test_records_reused(void **state) {
  (void)state;
  struct fx *f = fx_setup();
  struct gop c = op_create(S1, "/p/a", 0);
  fx_prep(f, &c); /* records: /p/a, /p */
  fx_apply_all(f, NULL);
  f->nq = 0;
  assert_int_equal(tree_pending_count(f->p), 0);
  size_t spare = f->p->n_spare;
  assert_true(spare >= 2);
  struct gop d = op_path(G_DELETE, S1, "/p/a", -1);
  fx_prep(f, &d); /* reuses two */
  assert_int_equal(f->p->n_spare, spare - 2);
  assert_non_null(tree_pending_node(f->p, "/p/a", 4));
  assert_null(tree_pending_node(f->p, "/p/b", 4));
  struct gop again = op_path(G_DELETE, S1, "/p/a", -1);
  fx_prep(f, &again); /* /p/a is gone in the pending state */
  struct gop b = op_create(S1, "/p/b", 0);
  fx_prep(f, &b);
  int32_t errs[3];
  fx_apply_all(f, errs);
  assert_int_equal(errs[0], 0);
  assert_int_equal(errs[1], PROTO_NONODE);
  assert_int_equal(errs[2], 0);
  assert_int_equal(tree_pending_count(f->p), 0);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Randomized differential test */

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

static uint32_t rnd(uint64_t *s, uint32_t n) {
  return (uint32_t)(rng_next(s) % n);
}

static const char *const rpaths[] = {"/a",   "/b",     "/a/x",   "/a/y",
                                     "/b/x", "/a/x/z", "/c",     "/a/s",
                                     "/c/k", "/b/y",   "/a/y/w", "/zookeeper"};
#define N_RPATHS (sizeof rpaths / sizeof rpaths[0])

static void rand_path(uint64_t *s, char *out, size_t cap) {
  if (rnd(s, 4) == 0) {
    /* a sequential child, guessed: names come from small cversions */
    snprintf(out, cap, "%s/s-%010u", rnd(s, 2) ? "/a" : "/b", rnd(s, 8));
    return;
  }
  snprintf(out, cap, "%s", rpaths[rnd(s, N_RPATHS)]);
}

static int32_t rand_version(uint64_t *s) {
  return rnd(s, 3) == 0 ? -1 : (int32_t)rnd(s, 3);
}

struct sess_pool {
  int64_t ids[16];
  size_t n;
  int64_t next;
};

static int64_t rand_session(uint64_t *s, const struct sess_pool *sp) {
  return sp->ids[rnd(s, (uint32_t)sp->n)];
}

static struct gop rand_op(uint64_t *s, struct sess_pool *sp) {
  struct gop g;
  memset(&g, 0, sizeof g);
  g.session = rand_session(s, sp);
  g.auth = (int)rnd(s, 2);
  g.acl = rnd(s, 3) ? 0 : (int)rnd(s, N_ACLS);
  g.version = rand_version(s);
  snprintf(g.data, sizeof g.data, "v%u", rnd(s, 100));
  rand_path(s, g.path, sizeof g.path);
  uint32_t k = rnd(s, 100);
  if (k < 30) {
    g.kind = G_CREATE;
    g.flags = (int32_t)rnd(s, 4); /* persistent/ephemeral, +sequential */
    if (g.flags & 2)
      snprintf(g.path, sizeof g.path, "%s/s-", rnd(s, 2) ? "/a" : "/b");
  } else if (k < 34) {
    g.kind = G_CONTAINER;
  } else if (k < 37) {
    g.kind = G_TTL;
    g.flags = rnd(s, 2) ? 5 : 6;
    if (g.flags == 6)
      snprintf(g.path, sizeof g.path, "/c/t-");
  } else if (k < 52) {
    g.kind = G_DELETE;
  } else if (k < 56) {
    g.kind = G_DELCONTAINER;
    g.session = 0;
  } else if (k < 72) {
    g.kind = G_SETDATA;
  } else if (k < 78) {
    g.kind = G_SETACL;
  } else if (k < 92) {
    g.kind = G_MULTI;
    g.n_sub = 1 + (int)rnd(s, MAX_SUB);
    static const int32_t types[] = {PROTO_OP_CREATE, PROTO_OP_CREATE2,
                                    PROTO_OP_DELETE, PROTO_OP_SETDATA,
                                    PROTO_OP_CHECK};
    for (int i = 0; i < g.n_sub; i++) {
      struct gsub *u = &g.sub[i];
      u->type = types[rnd(s, 5)];
      rand_path(s, u->path, sizeof u->path);
      u->version = rand_version(s);
      if (u->type == PROTO_OP_CREATE || u->type == PROTO_OP_CREATE2) {
        u->flags = (int32_t)rnd(s, 4);
        if (u->flags & 2)
          snprintf(u->path, sizeof u->path, "/a/s-");
      }
    }
  } else if (k < 96) {
    g.kind = G_CLOSE;
  } else {
    g.kind = G_OPEN;
    g.session = sp->next++;
    if (sp->n < 16)
      sp->ids[sp->n++] = g.session;
    else
      sp->ids[rnd(s, 16)] = g.session;
  }
  return g;
}

#ifndef N_OPS
#define N_OPS 400
#endif
#ifndef N_SEEDS /* -DN_SEEDS=... for a longer run by hand */
#define N_SEEDS 60
#endif

static void apply_one(struct tree *t, const struct proto_writer *w,
                      struct tree_out *out) {
  assert_int_equal(tree_apply(t, w->buf, w->len, out), PROTO_OK);
}

static void differential(uint64_t seed, size_t depth) {
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
  struct tree_config cfg = {.extended_types = true};
  struct tree *ta = tree_new(&cfg), *tb = tree_new(&cfg);
  assert_non_null(ta);
  assert_non_null(tb);
  struct tree_pending *p = tree_pending_new(tb);
  assert_non_null(p);
  struct built b;
  built_init(&b);
  struct tree_out out;
  tree_out_init(&out);
  struct proto_writer *want = calloc(N_OPS, sizeof *want);
  struct proto_writer *got = calloc(N_OPS, sizeof *got);
  assert_non_null(want);
  assert_non_null(got);
  struct sess_pool sp = {{0x11, 0x12, 0x13}, 3, 0x20};
  struct gop ops[N_OPS];
  for (size_t i = 0; i < 3; i++)
    ops[i] = op_session(G_OPEN, sp.ids[i]);
  for (size_t i = 3; i < N_OPS; i++)
    ops[i] = rand_op(&st, &sp);

  /* Oracle: prep and apply each in turn. */
  for (size_t i = 0; i < N_OPS; i++) {
    proto_writer_init(&want[i]);
    assert_int_equal(prep_plain(ta, &b, &ops[i], (int64_t)i + 1, &want[i]),
                     PROTO_OK);
    apply_one(ta, &want[i], &out);
  }
  /* Pipeline: up to `depth` prepped ahead of the tree, applied in runs of
   * random length. */
  size_t applied = 0;
  for (size_t i = 0; i < N_OPS; i++) {
    proto_writer_init(&got[i]);
    assert_int_equal(prep_pend(tb, p, &b, &ops[i], (int64_t)i + 1, &got[i]),
                     PROTO_OK);
    assert_int_equal(got[i].len, want[i].len);
    assert_memory_equal(got[i].buf, want[i].buf, want[i].len);
    size_t target = applied;
    if (i + 1 - applied > depth)
      target = i + 1 - depth;
    if (rnd(&st, 4) == 0)
      target += rnd(&st, (uint32_t)(i + 2 - target));
    for (; applied < target && applied <= i; applied++) {
      apply_one(tb, &got[applied], &out);
      tree_pending_applied(p, (int64_t)applied + 1);
    }
  }
  for (; applied < N_OPS; applied++) {
    apply_one(tb, &got[applied], &out);
    tree_pending_applied(p, (int64_t)applied + 1);
  }
  assert_int_equal(tree_pending_count(p), 0);
  uint8_t da[32], db[32];
  tree_digest(ta, da);
  tree_digest(tb, db);
  assert_memory_equal(da, db, 32);

  for (size_t i = 0; i < N_OPS; i++) {
    proto_writer_free(&want[i]);
    proto_writer_free(&got[i]);
  }
  free(want);
  free(got);
  tree_out_free(&out);
  built_free(&b);
  tree_pending_free(p);
  tree_free(ta);
  tree_free(tb);
}

static void test_differential(void **state) {
  (void)state;
  static const size_t depths[] = {1, 2, 3, 8, 32, 1000};
  for (uint64_t seed = 1; seed <= N_SEEDS; seed++)
    differential(seed, depths[seed % 6]);
}

/* The random workload does make errors and successes of each kind (so
 * the differential test is not comparing error txns only). */
static void test_differential_covers(void **state) {
  (void)state;
  uint64_t st = 99;
  struct tree_config cfg = {.extended_types = true};
  struct tree *t = tree_new(&cfg);
  assert_non_null(t);
  struct built b;
  built_init(&b);
  struct tree_out out;
  tree_out_init(&out);
  struct proto_writer w;
  proto_writer_init(&w);
  struct sess_pool sp = {{0x11, 0x12, 0x13}, 3, 0x20};
  size_t ok = 0, by_err[140] = {0};
  for (int64_t z = 1; z <= 2000; z++) {
    struct gop g =
        z <= 3 ? op_session(G_OPEN, sp.ids[z - 1]) : rand_op(&st, &sp);
    proto_writer_reset(&w);
    assert_int_equal(prep_plain(t, &b, &g, z, &w), PROTO_OK);
    apply_one(t, &w, &out);
    int32_t e = out.err;
    for (size_t k = 0; e == 0 && k < out.n_results; k++)
      e = out.results[k].err;
    if (e == 0)
      ok++;
    else if (e < 0 && e > -140)
      by_err[-e]++;
  }
  assert_true(ok > 200);
  assert_true(by_err[-PROTO_NONODE] > 0);
  assert_true(by_err[-PROTO_NODEEXISTS] > 0);
  assert_true(by_err[-PROTO_BADVERSION] > 0);
  assert_true(by_err[-PROTO_NOTEMPTY] > 0);
  assert_true(by_err[-PROTO_NOAUTH] > 0);
  assert_true(by_err[-PROTO_SESSIONEXPIRED] > 0);
  proto_writer_free(&w);
  tree_out_free(&out);
  built_free(&b);
  tree_free(t);
}

/* ------------------------------------------------------------------ */
/* Allocation failures: a failed prep leaves pend as it was. */

static void oom_case(int kind) {
  bool done = false;
  for (long n = 0; !done && n < 300; n++) {
    struct fx *f = fx_setup();
    struct gop e = op_create(S1, "/p/e", 1);
    assert_int_equal(fx_run(f, &e), 0);
    /* some pending state to merge with */
    struct gop pre = op_create(S1, "/p/pe", 1);
    fx_prep(f, &pre);
    struct gop pre2 = op_path(G_SETDATA, S1, "/p", -1);
    fx_prep(f, &pre2);
    size_t before = tree_pending_count(f->p);
    struct gop g;
    if (kind == 0) {
      memset(&g, 0, sizeof g);
      g.kind = G_MULTI;
      g.session = S1;
      g.n_sub = 4;
      g.sub[0] = (struct gsub){PROTO_OP_CREATE, "/p/s-", 2, -1};
      g.sub[1] = (struct gsub){PROTO_OP_CREATE2, "/n", 0, -1};
      g.sub[2] = (struct gsub){PROTO_OP_SETDATA, "/p", 0, 1};
      g.sub[3] = (struct gsub){PROTO_OP_DELETE, "/p/pe", 0, -1};
    } else if (kind == 1) {
      g = op_session(G_CLOSE, S1);
    } else {
      g = op_path(G_SETACL, S1, "/p", -1);
      g.acl = 2;
    }
    struct proto_writer w;
    proto_writer_init(&w);
    tree_test_fail_alloc(f->t, n);
    int rc = prep_pend(f->t, f->p, &f->b, &g, f->zxid + 1, &w);
    tree_test_fail_alloc(f->t, -1);
    proto_writer_free(&w);
    if (rc == PROTO_SYSTEMERROR) {
      assert_int_equal(tree_pending_count(f->p), before);
    } else {
      assert_int_equal(rc, PROTO_OK);
      done = true;
      f->zxid++; /* drop it: pend holds it, so clear before going on */
      tree_pending_clear(f->p);
      f->nq = 0;
      fx_free(f);
      continue;
    }
    /* pend still works: the same prep now succeeds and applies */
    size_t i = fx_prep(f, &g);
    int32_t errs[3];
    fx_apply_all(f, errs);
    assert_int_equal(errs[i], 0);
    if (kind == 1) {
      struct proto_stat st;
      assert_int_equal(tree_stat(f->t, "/p/e", 4, &st), PROTO_NONODE);
      assert_int_equal(tree_stat(f->t, "/p/pe", 5, &st), PROTO_NONODE);
    }
    fx_free(f);
  }
  assert_true(done);
}

static void test_oom_prep_pending(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++)
    oom_case(kind);
}

static void test_oom_new(void **state) {
  (void)state;
  struct tree *t = tree_new(NULL);
  assert_non_null(t);
  tree_test_fail_alloc(t, 0);
  assert_null(tree_pending_new(t));
  tree_test_fail_alloc(t, -1);
  tree_pending_free(NULL);
  tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sequential_in_flight),
      cmocka_unit_test(test_delete_not_empty_pending_child),
      cmocka_unit_test(test_create_under_pending_deleted_parent),
      cmocka_unit_test(test_bad_version_after_pending_set_data),
      cmocka_unit_test(test_session_expired_after_pending_close),
      cmocka_unit_test(test_ephemeral_recreated_after_pending_close),
      cmocka_unit_test(test_no_auth_after_pending_set_acl),
      cmocka_unit_test(test_multi_records_only_on_success),
      cmocka_unit_test(test_container_reaped_with_pending_child),
      cmocka_unit_test(test_applied_drops_records),
      cmocka_unit_test(test_records_reused),
      cmocka_unit_test(test_differential),
      cmocka_unit_test(test_differential_covers),
      cmocka_unit_test(test_oom_prep_pending),
      cmocka_unit_test(test_oom_new),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
