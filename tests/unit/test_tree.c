/* Unit tests for tree/: Stat rules, sequential names, §7.2 validation
 * order, ACLs, ephemerals and sessions, watches, setWatches, multi,
 * determinism, malformed transactions, reads, and OOM atomicity. */
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
/* Fixture and helpers */

#define SID 0x100 /* the default session of a fixture */
#define MAX_KEEP 64

struct fx {
  struct tree *t;
  int64_t zxid;
  int64_t time_ms;
  struct tree_out out;
  struct proto_writer txn;
  struct tree_identity ids[4];
  size_t n_ids;
  int64_t session;
  struct proto_writer keep[MAX_KEEP]; /* buffers requests borrow from */
  size_t n_keep;
  char created[256]; /* path of the last create */
};

static struct fx *fx_new(bool extended) {
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  struct tree_config cfg = {.extended_types = extended};
  f->t = tree_new(&cfg);
  assert_non_null(f->t);
  tree_out_init(&f->out);
  proto_writer_init(&f->txn);
  f->time_ms = 1000;
  f->session = SID;
  return f;
}

static void fx_free(struct fx *f) {
  tree_free(f->t);
  tree_out_free(&f->out);
  proto_writer_free(&f->txn);
  for (size_t i = 0; i < f->n_keep; i++)
    proto_writer_free(&f->keep[i]);
  free(f);
}

static struct proto_writer *keep(struct fx *f) {
  assert_true(f->n_keep < MAX_KEEP);
  struct proto_writer *w = &f->keep[f->n_keep++];
  proto_writer_init(w);
  return w;
}

static struct proto_slice S(const char *s) {
  struct proto_slice sl = {(const uint8_t *)s, (int32_t)strlen(s)};
  return sl;
}

static const struct proto_slice NULL_SLICE = {NULL, -1};

struct acl_spec {
  int32_t perms;
  const char *scheme, *id;
};

/* A borrowed vector<ACL> of n entries (kept alive by the fixture). */
static struct proto_acl_vec acls(struct fx *f, size_t n,
                                 const struct acl_spec *a) {
  struct proto_writer *w = keep(f);
  for (size_t i = 0; i < n; i++) {
    struct proto_acl x = {a[i].perms, {S(a[i].scheme), S(a[i].id)}};
    proto_write_acl(w, &x);
  }
  struct proto_acl_vec v = {{w->buf, (int32_t)w->len}, (int32_t)n};
  return v;
}

static struct proto_acl_vec open_acl(struct fx *f) {
  static const struct acl_spec a = {31, "world", "anyone"};
  return acls(f, 1, &a);
}

static struct tree_auth auth_of(struct fx *f) {
  struct tree_auth a = {f->ids, f->n_ids};
  return a;
}

static void add_id(struct fx *f, const char *scheme, const char *id) {
  f->ids[f->n_ids].scheme = scheme;
  f->ids[f->n_ids].id = id;
  f->n_ids++;
}

/* Apply txn bytes in f->txn; returns tree_apply's code. */
static int apply_txn(struct fx *f) {
  return tree_apply(f->t, f->txn.buf, f->txn.len, &f->out);
}

/* prep + apply; returns out.err (the client's error). */
static int run(struct fx *f, const struct proto_request *req) {
  struct tree_prep_ctx ctx = {f->session, 1, ++f->zxid, f->time_ms, auth_of(f)};
  proto_writer_reset(&f->txn);
  assert_int_equal(tree_prep(f->t, &ctx, req, &f->txn), PROTO_OK);
  assert_int_equal(apply_txn(f), PROTO_OK);
  if (f->out.err == 0 && f->out.n_results == 1 && f->out.results[0].path) {
    size_t n = f->out.results[0].path_len;
    assert_true(n < sizeof f->created);
    memcpy(f->created, f->out.results[0].path, n);
    f->created[n] = 0;
  }
  return f->out.err;
}

static void session_open(struct fx *f, int64_t id) {
  struct tree_txn_header h = {id, 0, ++f->zxid, f->time_ms, 0};
  proto_writer_reset(&f->txn);
  tree_txn_encode_create_session(&f->txn, &h, 30000, test_passwd);
  assert_int_equal(apply_txn(f), PROTO_OK);
}

static void session_close(struct fx *f, int64_t id) {
  struct tree_txn_header h = {id, 0, ++f->zxid, f->time_ms, 0};
  proto_writer_reset(&f->txn);
  tree_txn_encode_close_session(&f->txn, &h);
  assert_int_equal(apply_txn(f), PROTO_OK);
}

static int create_full(struct fx *f, int32_t op, const char *path,
                       struct proto_slice data, int32_t flags,
                       struct proto_acl_vec acl, int64_t ttl) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = op;
  req.u.create.path = S(path);
  req.u.create.data = data;
  req.u.create.acl = acl;
  req.u.create.flags = flags;
  req.u.create.ttl = ttl;
  return run(f, &req);
}

static int create(struct fx *f, const char *path, int32_t flags) {
  return create_full(f, PROTO_OP_CREATE, path, S("d"), flags, open_acl(f), 0);
}

static int del(struct fx *f, const char *path, int32_t version) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETE;
  req.u.del.path = S(path);
  req.u.del.version = version;
  return run(f, &req);
}

static int set_data(struct fx *f, const char *path, const char *data,
                    int32_t version) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_SETDATA;
  req.u.set_data.path = S(path);
  req.u.set_data.data = S(data);
  req.u.set_data.version = version;
  return run(f, &req);
}

static int set_acl(struct fx *f, const char *path, struct proto_acl_vec acl,
                   int32_t version) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_SETACL;
  req.u.set_acl.path = S(path);
  req.u.set_acl.acl = acl;
  req.u.set_acl.version = version;
  return run(f, &req);
}

static struct proto_stat stat_of(struct fx *f, const char *path) {
  struct proto_stat s;
  assert_int_equal(tree_stat(f->t, path, strlen(path), &s), PROTO_OK);
  return s;
}

static bool exists(struct fx *f, const char *path) {
  struct proto_stat s;
  return tree_stat(f->t, path, strlen(path), &s) == PROTO_OK;
}

static int read_data(struct fx *f, const char *path, uint64_t watcher) {
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth a = auth_of(f);
  int rc = tree_get_data(f->t, path, strlen(path), watcher, &a, &w);
  proto_writer_free(&w);
  return rc;
}

static int read_exists(struct fx *f, const char *path, uint64_t watcher) {
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth a = auth_of(f);
  int rc = tree_exists(f->t, path, strlen(path), watcher, &a, &w);
  proto_writer_free(&w);
  return rc;
}

static int read_children(struct fx *f, const char *path, uint64_t watcher) {
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth a = auth_of(f);
  int rc = tree_get_children(f->t, path, strlen(path), watcher, false, &a, &w);
  proto_writer_free(&w);
  return rc;
}

static void expect_event(struct fx *f, size_t i, uint64_t watcher, int32_t type,
                         const char *path) {
  assert_true(i < f->out.n_events);
  const struct tree_event *e = &f->out.events[i];
  assert_int_equal(e->watcher, watcher);
  assert_int_equal(e->type, type);
  assert_int_equal(e->path_len, strlen(path));
  assert_memory_equal(e->path, path, strlen(path));
}

/* Multi builder: encodes a frame and decodes it back into a request. */
struct mb {
  struct proto_writer *w;
  size_t mark;
};
static struct mb multi_begin(struct fx *f) {
  struct mb m = {keep(f), 0};
  m.mark = proto_multi_encode_begin(m.w, 1, PROTO_OP_MULTI);
  return m;
}
static void multi_create(struct fx *f, struct mb *m, int32_t op,
                         const char *path, int32_t flags) {
  struct proto_multi_op o;
  memset(&o, 0, sizeof o);
  o.type = op;
  o.u.create.path = S(path);
  o.u.create.data = S("x");
  o.u.create.acl = open_acl(f);
  o.u.create.flags = flags;
  proto_multi_encode_op(m->w, &o);
}
static void multi_path_int(struct mb *m, int32_t op, const char *path,
                           int32_t version) {
  struct proto_multi_op o;
  memset(&o, 0, sizeof o);
  o.type = op;
  if (op == PROTO_OP_DELETE) {
    o.u.del.path = S(path);
    o.u.del.version = version;
  } else {
    o.u.check.path = S(path);
    o.u.check.version = version;
  }
  proto_multi_encode_op(m->w, &o);
}
static void multi_set_data(struct mb *m, const char *path, const char *data,
                           int32_t version) {
  struct proto_multi_op o;
  memset(&o, 0, sizeof o);
  o.type = PROTO_OP_SETDATA;
  o.u.set_data.path = S(path);
  o.u.set_data.data = S(data);
  o.u.set_data.version = version;
  proto_multi_encode_op(m->w, &o);
}
static int multi_run(struct fx *f, struct mb *m) {
  proto_multi_encode_end(m->w, m->mark);
  struct proto_request req;
  assert_int_equal(proto_request_decode(m->w->buf + 4, m->w->len - 4,
                                        PROTO_DEFAULT_MAX_BUFFER, &req),
                   PROTO_OK);
  return run(f, &req);
}

static void expect_result(struct fx *f, size_t i, int32_t type, int32_t err) {
  assert_true(i < f->out.n_results);
  assert_int_equal(f->out.results[i].type, type);
  assert_int_equal(f->out.results[i].err, err);
}

/* ------------------------------------------------------------------ */
/* Initial tree */

/* A fresh tree is §7.15's: 5 counted nodes, root cversion -1,
 * /zookeeper -2, empty non-null data, /zookeeper/config READ-only. */
static void test_initial_tree(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.node_count, 5);
  assert_int_equal(st.approximate_data_size, 1 + 10 + 16 + 17);
  struct proto_stat s = stat_of(f, "/");
  assert_int_equal(s.cversion, -1);
  assert_int_equal(s.num_children, 1);
  assert_int_equal(s.czxid, 0);
  assert_int_equal(s.pzxid, 0);
  assert_int_equal(stat_of(f, "/zookeeper").cversion, -2);
  assert_int_equal(stat_of(f, "/zookeeper/quota").cversion, 0);
  /* Root data: a 0-length buffer, not null. */
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_get_data(f->t, "/", 1, 0, NULL, &w), PROTO_OK);
  assert_int_equal(w.len, 4 + PROTO_STAT_SIZE);
  static const uint8_t zero_len[4] = {0, 0, 0, 0};
  assert_memory_equal(w.buf, zero_len, 4);
  /* /zookeeper/config: world:anyone READ. */
  proto_writer_reset(&w);
  assert_int_equal(tree_get_acl(f->t, "/zookeeper/config", 17, NULL, &w),
                   PROTO_OK);
  static const uint8_t acl[] = {0, 0, 0, 1,   0,   0,   0,   1,   0,
                                0, 0, 5, 'w', 'o', 'r', 'l', 'd', 0,
                                0, 0, 6, 'a', 'n', 'y', 'o', 'n', 'e'};
  assert_int_equal(w.len, sizeof acl + PROTO_STAT_SIZE);
  assert_memory_equal(w.buf, acl, sizeof acl);
  proto_writer_free(&w);
  /* A write to /zookeeper/config needs WRITE. */
  session_open(f, SID);
  assert_int_equal(set_data(f, "/zookeeper/config", "x", -1), PROTO_NOAUTH);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Stat rules (§7.4) */

/* A create sets the node's zxids/times/versions and bumps only the
 * parent's cversion, pzxid and numChildren (observed root after create
 * /foo: cversion 0, numChildren 2, pzxid 2). */
static void test_stat_create(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID); /* zxid 1 */
  f->time_ms = 5555;
  assert_int_equal(create(f, "/foo", 0), PROTO_OK); /* zxid 2 */
  struct proto_stat s = stat_of(f, "/foo");
  assert_int_equal(s.czxid, 2);
  assert_int_equal(s.mzxid, 2);
  assert_int_equal(s.pzxid, 2);
  assert_int_equal(s.ctime, 5555);
  assert_int_equal(s.mtime, 5555);
  assert_int_equal(s.version, 0);
  assert_int_equal(s.cversion, 0);
  assert_int_equal(s.aversion, 0);
  assert_int_equal(s.ephemeral_owner, 0);
  assert_int_equal(s.data_length, 1);
  assert_int_equal(s.num_children, 0);
  struct proto_stat r = stat_of(f, "/");
  assert_int_equal(r.cversion, 0);
  assert_int_equal(r.num_children, 2);
  assert_int_equal(r.pzxid, 2);
  assert_int_equal(r.mzxid, 0);
  assert_int_equal(r.mtime, 0);
  assert_int_equal(r.version, 0);
  /* The reply's Stat is the node's. */
  assert_int_equal(f->out.results[0].stat.czxid, 2);
  /* Null data: dataLength 0, getData answers -1. */
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE2, "/null", NULL_SLICE, 0, open_acl(f), 0),
      PROTO_OK);
  assert_int_equal(stat_of(f, "/null").data_length, 0);
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_get_data(f->t, "/null", 5, 0, NULL, &w), PROTO_OK);
  static const uint8_t minus1[4] = {0xff, 0xff, 0xff, 0xff};
  assert_memory_equal(w.buf, minus1, 4);
  proto_writer_free(&w);
  fx_free(f);
}

/* A delete changes the parent's pzxid and numChildren, not its stored
 * cversion (so the wire cversion still goes up by one). */
static void test_stat_delete(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(create(f, "/p/a", 0), PROTO_OK);
  assert_int_equal(create(f, "/p/b", 0), PROTO_OK);
  struct proto_stat before = stat_of(f, "/p");
  assert_int_equal(before.cversion, 2 * 2 - 2);
  assert_int_equal(del(f, "/p/a", -1), PROTO_OK);
  struct proto_stat after = stat_of(f, "/p");
  assert_int_equal(after.num_children, 1);
  assert_int_equal(after.cversion, 3);
  assert_int_equal(after.pzxid, f->zxid);
  assert_int_equal(after.mzxid, before.mzxid);
  assert_false(exists(f, "/p/a"));
  fx_free(f);
}

/* setData bumps version, mzxid, mtime; setACL bumps only aversion. */
static void test_stat_set_data_acl(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/n", 0), PROTO_OK);
  int64_t cz = f->zxid;
  f->time_ms = 9000;
  assert_int_equal(set_data(f, "/n", "hello", 0), PROTO_OK);
  struct proto_stat s = stat_of(f, "/n");
  assert_int_equal(s.version, 1);
  assert_int_equal(s.mzxid, f->zxid);
  assert_int_equal(s.mtime, 9000);
  assert_int_equal(s.czxid, cz);
  assert_int_equal(s.pzxid, cz);
  assert_int_equal(s.data_length, 5);
  assert_int_equal(f->out.results[0].stat.version, 1);
  int64_t mz = f->zxid;
  f->time_ms = 9999;
  assert_int_equal(set_acl(f, "/n", open_acl(f), 0), PROTO_OK);
  s = stat_of(f, "/n");
  assert_int_equal(s.aversion, 1);
  assert_int_equal(s.mzxid, mz);
  assert_int_equal(s.mtime, 9000);
  assert_int_equal(s.version, 1);
  /* Version wrap-around: the stored version goes through -1. */
  struct tnode *n = tree_node_lookup(f->t, "/n", 2);
  assert_non_null(tree_node_x(n)); /* a setData gave it an extension */
  tree_node_x(n)->version = INT32_MAX;
  assert_int_equal(set_data(f, "/n", "x", INT32_MAX), PROTO_OK);
  assert_int_equal(stat_of(f, "/n").version, INT32_MIN);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Sequential names (§7.5) */

/* The suffix is the parent's stored cversion (counting plain creates),
 * deletes do not reduce it, and the first child gets 0000000000. */
static void test_sequential_names(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/q", 0), PROTO_OK);
  assert_int_equal(create(f, "/q/first-", 2), PROTO_OK);
  assert_string_equal(f->created, "/q/first-0000000000");
  assert_int_equal(create(f, "/q/s-", 2), PROTO_OK);
  assert_string_equal(f->created, "/q/s-0000000001");
  assert_int_equal(create(f, "/q/s-", 2), PROTO_OK);
  assert_string_equal(f->created, "/q/s-0000000002");
  assert_int_equal(del(f, "/q/s-0000000002", -1), PROTO_OK);
  assert_int_equal(create(f, "/q/plain", 0), PROTO_OK);
  assert_int_equal(create(f, "/q/s-", 3), PROTO_OK);
  assert_string_equal(f->created, "/q/s-0000000004");
  /* "/p/" sequential is valid: "/p/0000000000". */
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(create(f, "/p/", 2), PROTO_OK);
  assert_string_equal(f->created, "/p/0000000000");
  /* Under the root the built-in /zookeeper was never "created": the
   * counter is 2 after /q and /p. */
  assert_int_equal(create(f, "/r-", 2), PROTO_OK);
  assert_string_equal(f->created, "/r-0000000002");
  fx_free(f);
}

/* The counter is a signed 32-bit value: after 2147483647 comes
 * -2147483648, negatives print with the sign inside the width, and a
 * wrapped name can collide (NodeExists). */
static void test_sequential_wrap(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/w", 0), PROTO_OK);
  assert_int_equal(tree_test_set_cversion(f->t, "/w", INT32_MAX), PROTO_OK);
  assert_int_equal(create(f, "/w/s", 2), PROTO_OK);
  assert_string_equal(f->created, "/w/s2147483647");
  assert_int_equal(create(f, "/w/s", 2), PROTO_OK);
  assert_string_equal(f->created, "/w/s-2147483648");
  assert_int_equal(stat_of(f, "/w").num_children, 2);
  assert_int_equal(tree_test_set_cversion(f->t, "/w", -5), PROTO_OK);
  assert_int_equal(create(f, "/w/s", 2), PROTO_OK);
  assert_string_equal(f->created, "/w/s-000000005");
  assert_int_equal(tree_test_set_cversion(f->t, "/w", -5), PROTO_OK);
  assert_int_equal(create(f, "/w/s", 2), PROTO_NODEEXISTS);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Validation order (§7.2) */

/* Each create check gives its code, and when two fail the earlier one in
 * §7.2's order wins. */
static void test_create_errors_in_order(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  struct proto_acl_vec bad_acl = acls(f, 0, NULL);
  /* No session yet: flags and TTL checks still come first. */
  assert_int_equal(create(f, "/a", 7), PROTO_BADARGUMENTS);
  assert_int_equal(create(f, "/a", -1), PROTO_BADARGUMENTS);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATETTL, "/a", S(""), 0, open_acl(f), 100),
      PROTO_BADARGUMENTS);
  /* TTL modes outside op 21: Unimplemented while extended types are off
   * (ZooKeeper 3.8 checks that first), BadArguments once they are on. */
  assert_int_equal(create(f, "/a", 5), PROTO_UNIMPLEMENTED); /* op 1 + TTL */
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE2, "/a", S(""), 6, open_acl(f), 100),
      PROTO_UNIMPLEMENTED);
  {
    struct fx *g = fx_new(true);
    assert_int_equal(create(g, "/a", 5), PROTO_BADARGUMENTS);
    assert_int_equal(
        create_full(g, PROTO_OP_CREATE2, "/a", S(""), 6, open_acl(g), 100),
        PROTO_BADARGUMENTS);
    fx_free(g);
  }
  assert_int_equal(
      create_full(f, PROTO_OP_CREATETTL, "/a", S(""), 5, open_acl(f), 100),
      PROTO_UNIMPLEMENTED);
  assert_int_equal(create(f, "no-slash", 0), PROTO_SESSIONEXPIRED);
  session_open(f, SID);
  assert_int_equal(create(f, "no-slash", 0), PROTO_BADARGUMENTS);
  struct proto_slice nul = {(const uint8_t *)"/a\0b", 4};
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_CREATE;
  req.u.create.path = nul;
  req.u.create.acl = open_acl(f);
  assert_int_equal(run(f, &req), PROTO_BADARGUMENTS);
  /* bad ACL beats missing parent */
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/missing/x", S(""), 0, bad_acl, 0),
      PROTO_INVALIDACL);
  /* parent lookup before full validation */
  assert_int_equal(create(f, "/missing/x", 0), PROTO_NONODE);
  assert_int_equal(create(f, "/a/", 0), PROTO_NONODE);
  assert_int_equal(create(f, "/a//b", 0), PROTO_NONODE);
  assert_int_equal(create(f, "/a/./b", 0), PROTO_NONODE);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/", 0), PROTO_BADARGUMENTS);
  assert_int_equal(create(f, "/a/.", 0), PROTO_BADARGUMENTS);
  /* CREATE permission on the parent beats path validation */
  static const struct acl_spec ro = {PROTO_PERM_READ, "world", "anyone"};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/ro", S(""), 0, acls(f, 1, &ro), 0),
      PROTO_OK);
  assert_int_equal(create(f, "/ro/.", 0), PROTO_NOAUTH);
  assert_int_equal(create(f, "/ro/x", 0), PROTO_NOAUTH);
  /* exists */
  assert_int_equal(create(f, "/a", 0), PROTO_NODEEXISTS);
  assert_int_equal(create(f, "/", 0), PROTO_NODEEXISTS);
  assert_int_equal(create(f, "/zookeeper", 0), PROTO_NODEEXISTS);
  /* ephemeral parent (also for a sequential create) */
  assert_int_equal(create(f, "/e", 1), PROTO_OK);
  assert_int_equal(create(f, "/e/c", 0), PROTO_NOCHILDRENFOREPHEMERALS);
  assert_int_equal(create(f, "/e/c", 2), PROTO_NOCHILDRENFOREPHEMERALS);
  /* every failure was still a txn that consumed a zxid */
  assert_int_equal(tree_last_zxid(f->t), f->zxid);
  fx_free(f);
}

/* TTL and container creates: the stored owner encodings are reported as
 * 0, TTL bounds are checked, and deleteContainer removes them. */
static void test_create_kinds(void **state) {
  (void)state;
  struct fx *f = fx_new(true);
  session_open(f, SID);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATETTL, "/t", S(""), 5, open_acl(f), 0),
      PROTO_BADARGUMENTS);
  assert_int_equal(create_full(f, PROTO_OP_CREATETTL, "/t", S(""), 5,
                               open_acl(f), TREE_TTL_MAX + 1),
                   PROTO_BADARGUMENTS);
  assert_int_equal(create_full(f, PROTO_OP_CREATETTL, "/t", S(""), 5,
                               open_acl(f), TREE_TTL_MAX),
                   PROTO_OK);
  assert_int_equal(f->out.txn_type, PROTO_OP_CREATETTL);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATETTL, "/t/s-", S(""), 6, open_acl(f), 10),
      PROTO_OK);
  assert_string_equal(f->created, "/t/s-0000000000");
  assert_int_equal(
      create_full(f, PROTO_OP_CREATECONTAINER, "/c", S(""), 4, open_acl(f), 0),
      PROTO_OK);
  assert_int_equal(stat_of(f, "/t").ephemeral_owner, 0);
  assert_int_equal(stat_of(f, "/c").ephemeral_owner, 0);
  struct tnode *t = tree_node_lookup(f->t, "/t", 2);
  struct tnode *c = tree_node_lookup(f->t, "/c", 2);
  assert_true((uint64_t)tree_node_owner(t) ==
              (TREE_OWNER_TTL_TAG | TREE_TTL_MAX));
  assert_true(tree_node_owner(c) == TREE_OWNER_CONTAINER);
  /* children under container/TTL parents are fine */
  assert_int_equal(create(f, "/c/k", 1), PROTO_OK);
  assert_int_equal(stat_of(f, "/c/k").ephemeral_owner, SID);
  /* deleteContainer: NotEmpty, then BadVersion for a real ephemeral */
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETECONTAINER;
  req.u.path.path = S("/c");
  assert_int_equal(run(f, &req), PROTO_NOTEMPTY);
  req.u.path.path = S("/c/k");
  assert_int_equal(run(f, &req), PROTO_BADVERSION);
  assert_int_equal(del(f, "/c/k", -1), PROTO_OK);
  req.u.path.path = S("/c");
  assert_int_equal(run(f, &req), PROTO_OK);
  assert_false(exists(f, "/c"));
  fx_free(f);
}

/* Delete checks in order: special paths, parent, DELETE, node, version,
 * children. */
static void test_delete_errors_in_order(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(del(f, "/", -1), PROTO_BADARGUMENTS);
  assert_int_equal(del(f, "/zookeeper", -1), PROTO_BADARGUMENTS);
  assert_int_equal(del(f, "/zookeeper/quota", -1), PROTO_BADARGUMENTS);
  assert_int_equal(del(f, "/zookeeper/config", -1), PROTO_BADARGUMENTS);
  assert_int_equal(del(f, "x", -1), PROTO_BADARGUMENTS);
  assert_int_equal(del(f, "/no/such", -1), PROTO_NONODE);
  assert_int_equal(del(f, "/nosuch", -1), PROTO_NONODE);
  static const struct acl_spec nodel = {31 & ~PROTO_PERM_DELETE, "world",
                                        "anyone"};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/k", S(""), 0, acls(f, 1, &nodel), 0),
      PROTO_OK);
  assert_int_equal(del(f, "/k/missing", -1), PROTO_NOAUTH);
  assert_int_equal(create(f, "/d", 0), PROTO_OK);
  assert_int_equal(create(f, "/d/c", 0), PROTO_OK);
  assert_int_equal(del(f, "/d/x", 5), PROTO_NONODE);
  assert_int_equal(del(f, "/d", 5), PROTO_BADVERSION);
  assert_int_equal(del(f, "/d", 0), PROTO_NOTEMPTY);
  assert_int_equal(del(f, "/d/c", 0), PROTO_OK);
  assert_int_equal(del(f, "/d", -1), PROTO_OK);
  fx_free(f);
}

/* setData and setACL checks in order, including InvalidACL before
 * NoNode and permission before version. */
static void test_set_errors_in_order(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  assert_int_equal(set_data(f, "/x", "", -1), PROTO_SESSIONEXPIRED);
  session_open(f, SID);
  assert_int_equal(set_data(f, "/x/", "", -1), PROTO_BADARGUMENTS);
  assert_int_equal(set_data(f, "/x", "", -1), PROTO_NONODE);
  static const struct acl_spec ro = {PROTO_PERM_READ, "world", "anyone"};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/ro", S(""), 0, acls(f, 1, &ro), 0),
      PROTO_OK);
  assert_int_equal(set_data(f, "/ro", "", 99), PROTO_NOAUTH);
  assert_int_equal(create(f, "/x", 0), PROTO_OK);
  assert_int_equal(set_data(f, "/x", "", 99), PROTO_BADVERSION);
  assert_int_equal(set_acl(f, "/x/", open_acl(f), -1), PROTO_BADARGUMENTS);
  assert_int_equal(set_acl(f, "/nope", acls(f, 0, NULL), -1), PROTO_INVALIDACL);
  assert_int_equal(set_acl(f, "/nope", open_acl(f), -1), PROTO_NONODE);
  assert_int_equal(set_acl(f, "/ro", open_acl(f), 7), PROTO_NOAUTH);
  assert_int_equal(set_acl(f, "/x", open_acl(f), 7), PROTO_BADVERSION);
  assert_int_equal(set_acl(f, "/x", open_acl(f), 0), PROTO_OK);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* ACLs */

/* InvalidACL for every rule of §7.2: empty, world:other, auth without an
 * authenticated id (ip does not count), unknown scheme, malformed digest
 * and ip ids (IPv6 included, as 3.8.0 observed); duplicates are
 * removed. */
static void test_acl_validation(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  add_id(f, "ip", "10.0.0.7");
  struct acl_spec bad[][1] = {
      {{31, "world", "foo"}},     {{31, "auth", ""}},
      {{31, "x509", "cn"}},       {{31, "digest", "nocolon"}},
      {{31, "digest", "a:b:c"}},  {{31, "digest", "user:"}},
      {{31, "ip", "10.0.0.300"}}, {{31, "ip", "10.0.0.0/33"}},
      {{31, "ip", "nonsense"}},   {{31, "super", ""}},
      {{31, "ip", "::1"}},        {{31, "ip", "0:0:0:0:0:0:0:1/128"}},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(
        create_full(f, PROTO_OP_CREATE, "/v", S(""), 0, acls(f, 1, bad[i]), 0),
        PROTO_INVALIDACL);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/v", S(""), 0, acls(f, 0, NULL), 0),
      PROTO_INVALIDACL);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_CREATE;
  req.u.create.path = S("/v");
  req.u.create.acl.count = -1; /* null vector */
  assert_int_equal(run(f, &req), PROTO_INVALIDACL);
  static const struct acl_spec good[] = {
      {31, "world", "anyone"},  {31, "world", "anyone"},
      {1, "ip", "10.0.0.0/8"},  {1, "ip", "10.0.0.1"},
      {2, "digest", "u:h4sh="},
  };
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/v", S(""), 0, acls(f, 5, good), 0),
      PROTO_OK);
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_get_acl(f->t, "/v", 2, NULL, &w), PROTO_OK);
  assert_int_equal(w.buf[3], 4); /* the duplicate was removed */
  proto_writer_free(&w);
  fx_free(f);
}

/* §7.13: world, digest (exact id), ip (CIDR) and super identities; "auth"
 * expands to the caller's authenticated ids. */
static void test_acl_checks(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  static const struct acl_spec a[] = {{PROTO_PERM_ALL, "digest", "bob:h1"},
                                      {PROTO_PERM_READ, "ip", "10.1.0.0/16"}};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/s", S(""), 0, acls(f, 2, a), 0),
      PROTO_OK);
  /* nobody */
  assert_int_equal(read_data(f, "/s", 0), PROTO_NOAUTH);
  assert_int_equal(read_exists(f, "/s", 0), PROTO_NOAUTH);
  assert_int_equal(read_children(f, "/s", 0), PROTO_NOAUTH);
  assert_int_equal(set_data(f, "/s", "x", -1), PROTO_NOAUTH);
  /* ip in range: READ only */
  add_id(f, "ip", "10.1.200.3");
  assert_int_equal(read_data(f, "/s", 0), PROTO_OK);
  assert_int_equal(set_data(f, "/s", "x", -1), PROTO_NOAUTH);
  f->ids[0].id = "10.2.0.1";
  assert_int_equal(read_data(f, "/s", 0), PROTO_NOAUTH);
  /* getACL needs READ or ADMIN; without ADMIN digests are masked */
  f->ids[0].id = "10.1.0.1";
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth au = auth_of(f);
  assert_int_equal(tree_get_acl(f->t, "/s", 2, &au, &w), PROTO_OK);
  assert_non_null(memmem(w.buf, w.len, "bob:x", 5));
  assert_null(memmem(w.buf, w.len, "bob:h1", 6));
  /* digest: exact match */
  add_id(f, "digest", "bob:h");
  assert_int_equal(set_data(f, "/s", "x", -1), PROTO_NOAUTH);
  f->ids[1].id = "bob:h1";
  assert_int_equal(set_data(f, "/s", "x", -1), PROTO_OK);
  proto_writer_reset(&w);
  au = auth_of(f);
  assert_int_equal(tree_get_acl(f->t, "/s", 2, &au, &w), PROTO_OK);
  assert_non_null(memmem(w.buf, w.len, "bob:h1", 6));
  proto_writer_free(&w);
  /* "auth" expands to the digest id (not the ip one) */
  static const struct acl_spec au_acl = {PROTO_PERM_READ | PROTO_PERM_ADMIN,
                                         "auth", ""};
  assert_int_equal(create_full(f, PROTO_OP_CREATE, "/mine", S(""), 0,
                               acls(f, 1, &au_acl), 0),
                   PROTO_OK);
  proto_writer_init(&w);
  assert_int_equal(tree_get_acl(f->t, "/mine", 5, &au, &w), PROTO_OK);
  static const uint8_t want[] = {0, 0, 0,   1,   0,   0,   0,   17,  0, 0,
                                 0, 6, 'd', 'i', 'g', 'e', 's', 't', 0, 0,
                                 0, 6, 'b', 'o', 'b', ':', 'h', '1'};
  assert_memory_equal(w.buf, want, sizeof want);
  proto_writer_free(&w);
  /* super bypasses everything */
  f->n_ids = 0;
  assert_int_equal(read_data(f, "/s", 0), PROTO_NOAUTH);
  add_id(f, "super", "");
  assert_int_equal(read_data(f, "/s", 0), PROTO_OK);
  assert_int_equal(del(f, "/s", -1), PROTO_OK);
  fx_free(f);
}

/* ACL lists are stored once per distinct list and freed with the last
 * node using them. */
static void test_acl_interning(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  uint32_t base = f->t->acls.n - f->t->acls.n_free;
  for (int i = 0; i < 50; i++) {
    char p[32];
    snprintf(p, sizeof p, "/n%d", i);
    assert_int_equal(create(f, p, 0), PROTO_OK);
  }
  assert_int_equal(f->t->acls.n - f->t->acls.n_free, base);
  static const struct acl_spec d = {31, "digest", "a:b"};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/d1", S(""), 0, acls(f, 1, &d), 0),
      PROTO_OK);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/d2", S(""), 0, acls(f, 1, &d), 0),
      PROTO_OK);
  assert_int_equal(f->t->acls.n - f->t->acls.n_free, base + 1);
  add_id(f, "super", "");
  assert_int_equal(del(f, "/d1", -1), PROTO_OK);
  assert_int_equal(f->t->acls.n - f->t->acls.n_free, base + 1);
  assert_int_equal(del(f, "/d2", -1), PROTO_OK);
  assert_int_equal(f->t->acls.n - f->t->acls.n_free, base);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Ephemerals and sessions */

/* Ephemerals are indexed by session; closeSession removes them all like
 * deletes (watches fire for other watchers), removes the session and
 * reports it. */
static void test_ephemeral_close_session(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  session_open(f, 0x200);
  assert_int_equal(tree_session_timeout(f->t, SID), 30000);
  assert_int_equal(create(f, "/e2", 1), PROTO_OK);
  assert_int_equal(create(f, "/e1", 3), PROTO_OK);
  char e1[sizeof f->created];
  snprintf(e1, sizeof e1, "%s", f->created);
  assert_int_equal(create(f, "/keep", 0), PROTO_OK);
  f->session = 0x200;
  assert_int_equal(create(f, "/other", 1), PROTO_OK);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.ephemerals_count, 3);
  assert_int_equal(st.session_count, 2);
  assert_int_equal(stat_of(f, "/e2").ephemeral_owner, SID);
  /* watcher 9: data on /e2, child on / */
  assert_int_equal(read_data(f, "/e2", 9), PROTO_OK);
  assert_int_equal(read_children(f, "/", 9), PROTO_OK);
  assert_int_equal(read_exists(f, e1, 8), PROTO_OK);
  session_close(f, SID);
  assert_int_equal(f->out.closed_session, SID);
  assert_int_equal(f->out.err, 0);
  /* deleted in path order: /e1-..., then /e2 */
  assert_int_equal(f->out.n_events, 3);
  expect_event(f, 0, 8, PROTO_EVENT_NODE_DELETED, e1);
  expect_event(f, 1, 9, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/");
  expect_event(f, 2, 9, PROTO_EVENT_NODE_DELETED, "/e2");
  assert_false(exists(f, "/e2"));
  assert_false(exists(f, e1));
  assert_true(exists(f, "/keep"));
  assert_true(exists(f, "/other"));
  assert_false(tree_session_exists(f->t, SID));
  assert_int_equal(tree_session_timeout(f->t, SID), -1);
  tree_stats_get(f->t, &st);
  assert_int_equal(st.ephemerals_count, 1);
  assert_int_equal(st.session_count, 1);
  assert_int_equal(stat_of(f, "/").pzxid, f->zxid);
  /* a closed session can no longer write */
  f->session = SID;
  assert_int_equal(create(f, "/late", 1), PROTO_SESSIONEXPIRED);
  /* closing an unknown session is harmless */
  session_close(f, 0x999);
  assert_int_equal(f->out.closed_session, 0x999);
  fx_free(f);
}

static void count_path(void *arg, const char *path, size_t len) {
  (void)path;
  (void)len;
  (*(int *)arg)++;
}

/* tree_session_ephemerals lists a session's ephemerals and deleting one
 * removes it from the index. */
static void test_session_ephemerals_list(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 1), PROTO_OK);
  assert_int_equal(create(f, "/b", 1), PROTO_OK);
  int n = 0;
  tree_session_ephemerals(f->t, SID, count_path, &n);
  assert_int_equal(n, 2);
  assert_int_equal(del(f, "/a", -1), PROTO_OK);
  n = 0;
  tree_session_ephemerals(f->t, SID, count_path, &n);
  assert_int_equal(n, 1);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Watches */

/* Standard watches are one-shot, registering twice gives one event, and
 * within one txn the node's event precedes the parent's child event. */
static void test_watch_one_shot_and_order(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(read_data(f, "/a", 7), PROTO_OK);
  assert_int_equal(read_exists(f, "/a", 7), PROTO_OK);
  assert_int_equal(read_data(f, "/a", 7), PROTO_OK);
  assert_int_equal(read_data(f, "/a", 8), PROTO_OK);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 2);
  assert_int_equal(st.data_watch_paths, 1);
  assert_int_equal(st.data_watchers, 2);
  assert_int_equal(set_data(f, "/a", "1", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  assert_int_equal(f->out.events[0].type, PROTO_EVENT_NODE_DATA_CHANGED);
  assert_int_equal(f->out.events[1].type, PROTO_EVENT_NODE_DATA_CHANGED);
  assert_true(f->out.events[0].watcher != f->out.events[1].watcher);
  assert_int_equal(set_data(f, "/a", "2", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 0);
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 0);
  /* create: NodeCreated for /a/b first, then NodeChildrenChanged /a */
  assert_int_equal(read_children(f, "/a", 7), PROTO_OK);
  assert_int_equal(read_exists(f, "/a/b", 7), PROTO_NONODE);
  assert_int_equal(create(f, "/a/b", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/a/b");
  expect_event(f, 1, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/a");
  /* delete: one NodeDeleted to a watcher holding data and child watches */
  assert_int_equal(read_data(f, "/a/b", 7), PROTO_OK);
  assert_int_equal(read_children(f, "/a/b", 7), PROTO_OK);
  assert_int_equal(read_children(f, "/a/b", 6), PROTO_OK);
  assert_int_equal(read_children(f, "/a", 6), PROTO_OK);
  assert_int_equal(del(f, "/a/b", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 3);
  assert_int_equal(f->out.events[0].type, PROTO_EVENT_NODE_DELETED);
  assert_int_equal(f->out.events[1].type, PROTO_EVENT_NODE_DELETED);
  expect_event(f, 2, 6, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/a");
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 0);
  assert_int_equal(st.child_watch_count, 0);
  /* setACL and failed writes fire nothing */
  assert_int_equal(read_data(f, "/a", 7), PROTO_OK);
  assert_int_equal(set_acl(f, "/a", open_acl(f), -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 0);
  assert_int_equal(set_data(f, "/a", "x", 42), PROTO_BADVERSION);
  assert_int_equal(f->out.n_events, 0);
  fx_free(f);
}

/* An exists watch on a missing node fires NodeCreated; reads of a
 * missing node with getData/getChildren register nothing. */
static void test_watch_missing_nodes(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(read_data(f, "/m", 5), PROTO_NONODE);
  assert_int_equal(read_children(f, "/m", 5), PROTO_NONODE);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 0);
  assert_int_equal(st.child_watch_count, 0);
  assert_int_equal(read_exists(f, "/m", 5), PROTO_NONODE);
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 1);
  assert_int_equal(create(f, "/m", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 5, PROTO_EVENT_NODE_CREATED, "/m");
  /* exists with a NUL in the path is BadArguments */
  assert_int_equal(tree_exists(f->t, "/m\0x", 4, 0, NULL, NULL),
                   PROTO_BADARGUMENTS);
  fx_free(f);
}

/* tree_watches_drop removes every watch of one watcher and only those. */
static void test_watches_drop(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  for (int i = 0; i < 20; i++) {
    char p[16];
    snprintf(p, sizeof p, "/w%d", i);
    assert_int_equal(read_exists(f, p, 1), PROTO_NONODE);
  }
  assert_int_equal(read_data(f, "/a", 1), PROTO_OK);
  assert_int_equal(read_children(f, "/a", 1), PROTO_OK);
  assert_int_equal(read_data(f, "/a", 2), PROTO_OK);
  tree_watches_drop(f->t, 1);
  tree_watches_drop(f->t, 77); /* unknown: no-op */
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 1);
  assert_int_equal(st.child_watch_count, 0);
  assert_int_equal(st.data_watchers, 1);
  assert_int_equal(set_data(f, "/a", "x", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  assert_int_equal(f->out.events[0].watcher, 2);
  assert_int_equal(create(f, "/w3", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 0);
  fx_free(f);
}

struct wlist {
  int n;
};
static void count_watch(void *arg, uint64_t watcher, const char *path,
                        size_t len) {
  (void)watcher;
  (void)path;
  (void)len;
  ((struct wlist *)arg)->n++;
}

/* setWatches follows §7.10: events for changed/missing nodes, no
 * registration for fired ones, registration for the rest. */
static void test_set_watches(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/same", 0), PROTO_OK);
  assert_int_equal(create(f, "/changed", 0), PROTO_OK);
  assert_int_equal(create(f, "/kids", 0), PROTO_OK);
  int64_t rel = f->zxid;
  assert_int_equal(set_data(f, "/changed", "x", -1), PROTO_OK);
  assert_int_equal(create(f, "/kids/c", 0), PROTO_OK);
  assert_int_equal(create(f, "/now", 0), PROTO_OK);
  struct proto_writer *dw = keep(f), *ew = keep(f), *cw = keep(f);
  const char *data[] = {"/same", "/changed", "/gone"};
  const char *ex[] = {"/now", "/absent"};
  const char *ch[] = {"/same", "/kids", "/gone"};
  for (int i = 0; i < 3; i++)
    proto_write_string(dw, data[i], strlen(data[i]));
  for (int i = 0; i < 2; i++)
    proto_write_string(ew, ex[i], strlen(ex[i]));
  for (int i = 0; i < 3; i++)
    proto_write_string(cw, ch[i], strlen(ch[i]));
  struct proto_set_watches_req req;
  memset(&req, 0, sizeof req);
  req.relative_zxid = rel;
  req.data_watches.raw.ptr = dw->buf;
  req.data_watches.raw.len = (int32_t)dw->len;
  req.data_watches.count = 3;
  req.exist_watches.raw.ptr = ew->buf;
  req.exist_watches.raw.len = (int32_t)ew->len;
  req.exist_watches.count = 2;
  req.child_watches.raw.ptr = cw->buf;
  req.child_watches.raw.len = (int32_t)cw->len;
  req.child_watches.count = 3;
  assert_int_equal(tree_set_watches(f->t, 4, &req, &f->out), PROTO_OK);
  assert_int_equal(f->out.n_events, 5);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_DATA_CHANGED, "/changed");
  expect_event(f, 1, 4, PROTO_EVENT_NODE_DELETED, "/gone");
  expect_event(f, 2, 4, PROTO_EVENT_NODE_CREATED, "/now");
  expect_event(f, 3, 4, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/kids");
  expect_event(f, 4, 4, PROTO_EVENT_NODE_DELETED, "/gone");
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 2);  /* /same, /absent */
  assert_int_equal(st.child_watch_count, 1); /* /same */
  struct wlist wl = {0};
  tree_data_watches_each(f->t, count_watch, &wl);
  assert_int_equal(wl.n, 2);
  /* the registered ones fire normally */
  assert_int_equal(create(f, "/absent", 0), PROTO_OK);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_CREATED, "/absent");
  assert_int_equal(create(f, "/same/k", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/same");
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* multi */

/* A successful multi applies every sub-op at one zxid with overlay
 * semantics (consecutive sequential suffixes, setData of a node created
 * earlier, delete-then-create), results typed per §5.4, events in op
 * order before the reply. */
static void test_multi_success(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/old", 0), PROTO_OK);
  assert_int_equal(read_exists(f, "/m", 3), PROTO_NONODE);
  assert_int_equal(read_data(f, "/old", 3), PROTO_OK);
  struct mb m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/m", 0);
  multi_create(f, &m, PROTO_OP_CREATE2, "/m/s-", 2);
  multi_create(f, &m, PROTO_OP_CREATE2, "/m/s-", 2);
  multi_set_data(&m, "/m", "new", 0);
  multi_path_int(&m, PROTO_OP_CHECK, "/m", 1);
  multi_path_int(&m, PROTO_OP_DELETE, "/old", 0);
  multi_create(f, &m, PROTO_OP_CREATECONTAINER, "/old", 4);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  int64_t z = f->zxid;
  assert_int_equal(f->out.txn_type, PROTO_OP_MULTI);
  assert_int_equal(f->out.n_results, 7);
  expect_result(f, 0, PROTO_OP_CREATE, 0);
  expect_result(f, 1, PROTO_OP_CREATE2, 0);
  expect_result(f, 2, PROTO_OP_CREATE2, 0);
  expect_result(f, 3, PROTO_OP_SETDATA, 0);
  expect_result(f, 4, PROTO_OP_CHECK, 0);
  expect_result(f, 5, PROTO_OP_DELETE, 0);
  expect_result(f, 6, PROTO_OP_CREATECONTAINER, 0);
  assert_memory_equal(f->out.results[1].path, "/m/s-0000000000", 15);
  assert_memory_equal(f->out.results[2].path, "/m/s-0000000001", 15);
  assert_int_equal(f->out.results[3].stat.version, 1);
  assert_true(exists(f, "/m/s-0000000001"));
  assert_int_equal(stat_of(f, "/m").version, 1);
  assert_int_equal(stat_of(f, "/m").czxid, z);
  assert_int_equal(stat_of(f, "/old").czxid, z);
  assert_int_equal(stat_of(f, "/old").version, 0);
  assert_int_equal(tree_last_zxid(f->t), z);
  /* events: NodeCreated /m, then NodeDeleted /old (watcher 3) */
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 3, PROTO_EVENT_NODE_CREATED, "/m");
  expect_event(f, 1, 3, PROTO_EVENT_NODE_DELETED, "/old");
  /* reply: per-op headers, container reported as 15, terminator */
  struct proto_writer w;
  proto_writer_init(&w);
  tree_reply_encode(&f->out, &w);
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, w.len);
  int32_t want_types[] = {1, 15, 15, 5, 13, 2, 15};
  for (int i = 0; i < 7; i++) {
    assert_int_equal(proto_read_int(&r), want_types[i]);
    assert_false(proto_read_bool(&r));
    assert_int_equal(proto_read_int(&r), 0);
    struct proto_stat s;
    switch (want_types[i]) {
    case 1:
      (void)proto_read_buffer(&r);
      break;
    case 15:
      (void)proto_read_buffer(&r);
      proto_read_stat(&r, &s);
      break;
    case 5:
      proto_read_stat(&r, &s);
      break;
    }
  }
  assert_int_equal(proto_read_int(&r), -1);
  assert_true(proto_read_bool(&r));
  assert_int_equal(proto_read_int(&r), -1);
  assert_int_equal(proto_reader_err(&r), PROTO_OK);
  assert_int_equal(proto_reader_remaining(&r), 0);
  proto_writer_free(&w);
  fx_free(f);
}

/* A failing multi changes nothing, fires nothing, still consumes a
 * zxid, and reports earlier ops (-1, 0), the failing one (-1, err),
 * later ones (-1, -2): the §9.7 reply bytes. */
static void test_multi_failure(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/b", 0), PROTO_OK);
  assert_int_equal(read_exists(f, "/a", 3), PROTO_NONODE);
  uint8_t before[32], after[32];
  struct proto_stat root_before = stat_of(f, "/");
  tree_digest(f->t, before);
  struct mb m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/a", 0);
  multi_path_int(&m, PROTO_OP_DELETE, "/nob", 3);
  multi_set_data(&m, "/b", "x", -1);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  assert_int_equal(f->out.err, 0);
  assert_int_equal(f->out.n_results, 3);
  expect_result(f, 0, PROTO_OP_ERROR, 0);
  expect_result(f, 1, PROTO_OP_ERROR, PROTO_NONODE);
  expect_result(f, 2, PROTO_OP_ERROR, PROTO_RUNTIMEINCONSISTENCY);
  assert_int_equal(f->out.n_events, 0);
  assert_false(exists(f, "/a"));
  struct proto_stat rs = stat_of(f, "/");
  assert_int_equal(rs.pzxid, root_before.pzxid);
  assert_int_equal(rs.cversion, root_before.cversion);
  assert_int_equal(tree_last_zxid(f->t), f->zxid);
  tree_digest(f->t, after);
  assert_memory_not_equal(before, after, 32); /* last zxid moved */
  struct proto_writer w;
  proto_writer_init(&w);
  tree_reply_encode(&f->out, &w);
  static const uint8_t want[] = {
      0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0x9b, 0xff, 0xff,
      0xff, 0x9b, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xfe, 0xff,
      0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(w.len, sizeof want);
  assert_memory_equal(w.buf, want, sizeof want);
  proto_writer_free(&w);
  /* the watch on /a is still armed */
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  fx_free(f);
}

/* Overlay edge cases: a failure that depends on an earlier sub-op
 * (create then create again, delete of a parent whose child was created
 * in the multi, NoChildrenForEphemerals under a new ephemeral). */
static void test_multi_overlay_failures(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  struct mb m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/x", 0);
  multi_create(f, &m, PROTO_OP_CREATE, "/x", 0);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  expect_result(f, 1, PROTO_OP_ERROR, PROTO_NODEEXISTS);
  m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/x", 0);
  multi_create(f, &m, PROTO_OP_CREATE, "/x/y", 0);
  multi_path_int(&m, PROTO_OP_DELETE, "/x", -1);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  expect_result(f, 2, PROTO_OP_ERROR, PROTO_NOTEMPTY);
  m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/x", 1);
  multi_create(f, &m, PROTO_OP_CREATE, "/x/y", 0);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  expect_result(f, 1, PROTO_OP_ERROR, PROTO_NOCHILDRENFOREPHEMERALS);
  m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/x", 0);
  multi_path_int(&m, PROTO_OP_CHECK, "/x", 1);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  expect_result(f, 1, PROTO_OP_ERROR, PROTO_BADVERSION);
  m = multi_begin(f);
  multi_create(f, &m, PROTO_OP_CREATE, "/x", 0);
  multi_create(f, &m, PROTO_OP_CREATE, "/x/y", 0);
  multi_path_int(&m, PROTO_OP_DELETE, "/x/y", -1);
  multi_path_int(&m, PROTO_OP_DELETE, "/x", -1);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  for (int i = 0; i < 4; i++)
    assert_int_equal(f->out.results[i].err, 0);
  assert_false(exists(f, "/x"));
  /* only the last multi applied: one create under the root */
  assert_int_equal(stat_of(f, "/").cversion, 2 * 1 - 1);
  fx_free(f);
}

/* An empty multi is valid: its reply is just the terminator. */
static void test_multi_empty(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  struct mb m = multi_begin(f);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  assert_int_equal(f->out.n_results, 0);
  struct proto_writer w;
  proto_writer_init(&w);
  tree_reply_encode(&f->out, &w);
  static const uint8_t term[] = {0xff, 0xff, 0xff, 0xff, 0x01,
                                 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(w.len, sizeof term);
  assert_memory_equal(w.buf, term, sizeof term);
  proto_writer_free(&w);
  fx_free(f);
}

/* Single-op replies: create → path, create2 → path + Stat, setData →
 * Stat, delete → nothing, an error → nothing. */
static void test_reply_encode(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(create(f, "/r", 0), PROTO_OK);
  tree_reply_encode(&f->out, &w);
  static const uint8_t cr[] = {0, 0, 0, 2, '/', 'r'};
  assert_int_equal(w.len, sizeof cr);
  assert_memory_equal(w.buf, cr, sizeof cr);
  proto_writer_reset(&w);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE2, "/r2", S(""), 0, open_acl(f), 0),
      PROTO_OK);
  tree_reply_encode(&f->out, &w);
  assert_int_equal(w.len, 4 + 3 + PROTO_STAT_SIZE);
  proto_writer_reset(&w);
  assert_int_equal(set_data(f, "/r", "zz", -1), PROTO_OK);
  tree_reply_encode(&f->out, &w);
  assert_int_equal(w.len, PROTO_STAT_SIZE);
  proto_writer_reset(&w);
  assert_int_equal(del(f, "/r", -1), PROTO_OK);
  tree_reply_encode(&f->out, &w);
  assert_int_equal(w.len, 0);
  assert_int_equal(del(f, "/r", -1), PROTO_NONODE);
  assert_int_equal(f->out.txn_type, PROTO_OP_ERROR);
  tree_reply_encode(&f->out, &w);
  assert_int_equal(w.len, 0);
  proto_writer_free(&w);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Reads */

/* Read bodies are the exact wire records: GetChildren names,
 * GetChildren2 adds the Stat, Exists is a Stat. */
static void test_read_bodies(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(create(f, "/p/aa", 0), PROTO_OK);
  assert_int_equal(create(f, "/p/b", 0), PROTO_OK);
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_get_children(f->t, "/p", 2, 0, false, NULL, &w),
                   PROTO_OK);
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, w.len);
  assert_int_equal(proto_read_vector_count(&r), 2);
  struct proto_slice a = proto_read_buffer(&r), b = proto_read_buffer(&r);
  assert_int_equal(a.len + b.len, 3);
  assert_int_equal(proto_reader_remaining(&r), 0);
  proto_writer_reset(&w);
  assert_int_equal(tree_get_children(f->t, "/p", 2, 0, true, NULL, &w),
                   PROTO_OK);
  assert_int_equal(w.len, 4 + 6 + 5 + PROTO_STAT_SIZE);
  proto_writer_reset(&w);
  assert_int_equal(tree_exists(f->t, "/p", 2, 0, NULL, &w), PROTO_OK);
  assert_int_equal(w.len, PROTO_STAT_SIZE);
  proto_writer_reset(&w);
  assert_int_equal(tree_get_data(f->t, "/p/b", 4, 0, NULL, &w), PROTO_OK);
  static const uint8_t d[] = {0, 0, 0, 1, 'd'};
  assert_memory_equal(w.buf, d, sizeof d);
  assert_int_equal(w.len, sizeof d + PROTO_STAT_SIZE);
  /* invalid or missing paths are simply not found, nothing written */
  proto_writer_reset(&w);
  assert_int_equal(tree_get_data(f->t, "/p/", 3, 0, NULL, &w), PROTO_NONODE);
  assert_int_equal(tree_get_data(f->t, "p", 1, 0, NULL, &w), PROTO_NONODE);
  assert_int_equal(tree_get_data(f->t, "", 0, 0, NULL, &w), PROTO_NONODE);
  assert_int_equal(tree_get_acl(f->t, "/x", 2, NULL, &w), PROTO_NONODE);
  assert_int_equal(w.len, 0);
  proto_writer_free(&w);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* Determinism and bad input */

static void stream(struct fx *f, bool variant) {
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  for (int i = 0; i < 40; i++) {
    char p[32];
    snprintf(p, sizeof p, "/a/n%d", (i * 7) % 40);
    assert_int_equal(create(f, p, i % 3 == 0 ? 1 : 0), PROTO_OK);
  }
  assert_int_equal(set_data(f, "/a/n3", variant ? "y" : "x", -1), PROTO_OK);
  assert_int_equal(del(f, "/a/n5", -1), PROTO_OK);
}

/* The same txn stream gives equal digests whatever the history of the
 * hash tables; any difference in data gives a different digest. */
static void test_determinism(void **state) {
  (void)state;
  struct fx *f1 = fx_new(false), *f2 = fx_new(false), *f3 = fx_new(false);
  stream(f1, false);
  stream(f3, true);
  stream(f2, false);
  uint8_t d1[32], d2[32], d3[32];
  tree_digest(f1->t, d1);
  tree_digest(f2->t, d2);
  tree_digest(f3->t, d3);
  assert_memory_equal(d1, d2, 32);
  assert_memory_not_equal(d1, d3, 32);
  /* Order independence: the same nodes created in opposite orders (so
   * different table layouts) give equal digests. */
  struct fx *g1 = fx_new(false), *g2 = fx_new(false);
  session_open(g1, SID);
  session_open(g2, SID);
  struct mb m1 = multi_begin(g1), m2 = multi_begin(g2);
  for (int i = 0; i < 30; i++) {
    char p[32], q[32];
    snprintf(p, sizeof p, "/k%d", i);
    snprintf(q, sizeof q, "/k%d", 29 - i);
    multi_create(g1, &m1, PROTO_OP_CREATE, p, 0);
    multi_create(g2, &m2, PROTO_OP_CREATE, q, 0);
  }
  assert_int_equal(multi_run(g1, &m1), PROTO_OK);
  assert_int_equal(multi_run(g2, &m2), PROTO_OK);
  tree_digest(g1->t, d1);
  tree_digest(g2->t, d2);
  assert_memory_equal(d1, d2, 32);
  fx_free(f1);
  fx_free(f2);
  fx_free(f3);
  fx_free(g1);
  fx_free(g2);
}

/* Truncated, garbled, trailing-byte and out-of-order transactions are
 * refused with MarshallingError and leave the tree unchanged. */
static void test_malformed_txns(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  uint8_t before[32], after[32];
  tree_digest(f->t, before);
  /* a valid txn to mutate */
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_CREATE;
  req.u.create.path = S("/b");
  req.u.create.data = S("data");
  req.u.create.acl = open_acl(f);
  struct tree_prep_ctx ctx = {SID, 1, f->zxid + 1, 1, {NULL, 0}};
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_prep(f->t, &ctx, &req, &w), PROTO_OK);
  for (size_t cut = 0; cut < w.len; cut++)
    assert_int_equal(tree_apply(f->t, w.buf, cut, &f->out),
                     PROTO_MARSHALLINGERROR);
  uint8_t *big = malloc(w.len + 1);
  memcpy(big, w.buf, w.len);
  big[w.len] = 0;
  assert_int_equal(tree_apply(f->t, big, w.len + 1, &f->out),
                   PROTO_MARSHALLINGERROR);
  /* every single-byte corruption: refused, or applied consistently */
  for (size_t i = 0; i < w.len; i++) {
    struct fx *g = fx_new(false);
    session_open(g, SID);
    assert_int_equal(create(g, "/a", 0), PROTO_OK);
    memcpy(big, w.buf, w.len);
    big[i] ^= 0xA5;
    (void)tree_apply(g->t, big, w.len, &g->out);
    fx_free(g);
  }
  free(big);
  /* garbage */
  static const uint8_t junk[] = {
      1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,   14,   15,   16,
      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(tree_apply(f->t, junk, sizeof junk, &f->out),
                   PROTO_MARSHALLINGERROR);
  assert_int_equal(tree_apply(f->t, NULL, 0, &f->out), PROTO_MARSHALLINGERROR);
  tree_digest(f->t, after);
  assert_memory_equal(before, after, 32);
  /* in order it applies; a replay of the same zxid is refused */
  assert_int_equal(tree_apply(f->t, w.buf, w.len, &f->out), PROTO_OK);
  tree_digest(f->t, before);
  assert_int_equal(tree_apply(f->t, w.buf, w.len, &f->out),
                   PROTO_MARSHALLINGERROR);
  tree_digest(f->t, after);
  assert_memory_equal(before, after, 32);
  proto_writer_free(&w);
  /* a multi with a bad sub-op type */
  struct tree_txn_header h = {SID, 1, f->zxid + 5, 1, PROTO_OP_MULTI};
  proto_writer_reset(&f->txn);
  proto_write_long(&f->txn, h.session_id);
  proto_write_int(&f->txn, h.cxid);
  proto_write_long(&f->txn, h.zxid);
  proto_write_long(&f->txn, h.time_ms);
  proto_write_int(&f->txn, h.type);
  proto_write_int(&f->txn, 1);
  proto_write_int(&f->txn, PROTO_OP_CLOSESESSION);
  proto_write_buffer(&f->txn, "", 0);
  assert_int_equal(apply_txn(f), PROTO_MARSHALLINGERROR);
  tree_digest(f->t, after);
  assert_memory_equal(before, after, 32);
  fx_free(f);
}

/* createSession stores its password; a txn without one (an older log)
 * still applies; a password of another length is refused; the password is
 * part of the digest, so members that disagree on it are caught. */
static void test_session_passwd_replicated(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  struct fx *g = fx_new(false);
  session_open(f, 0x51);
  uint8_t pw[16];
  assert_true(tree_session_passwd(f->t, 0x51, pw));
  assert_memory_equal(pw, test_passwd, 16);
  assert_false(tree_session_passwd(f->t, 0x52, pw));

  /* The same session with another password: a different digest. */
  static const uint8_t other[16] = "fedcba987654321";
  struct tree_txn_header h = {0x51, 0, ++g->zxid, g->time_ms, 0};
  tree_txn_encode_create_session(&g->txn, &h, 30000, other);
  assert_int_equal(apply_txn(g), PROTO_OK);
  uint8_t da[32], db[32];
  tree_digest(f->t, da);
  tree_digest(g->t, db);
  assert_memory_not_equal(da, db, 32);

  /* Legacy body: timeout only. */
  struct tree_txn_header l = {0x53, 0, ++f->zxid, f->time_ms,
                              PROTO_OP_CREATESESSION};
  proto_writer_reset(&f->txn);
  proto_write_long(&f->txn, l.session_id);
  proto_write_int(&f->txn, l.cxid);
  proto_write_long(&f->txn, l.zxid);
  proto_write_long(&f->txn, l.time_ms);
  proto_write_int(&f->txn, l.type);
  proto_write_int(&f->txn, 30000);
  assert_int_equal(apply_txn(f), PROTO_OK);
  assert_true(tree_session_exists(f->t, 0x53));
  assert_false(tree_session_passwd(f->t, 0x53, pw));

  /* A password of 15 bytes, and trailing bytes after it: refused, and the
   * tree is unchanged. */
  tree_digest(f->t, da);
  for (int bad = 0; bad < 2; bad++) {
    struct tree_txn_header b = {0x54, 0, f->zxid + 1, f->time_ms,
                                PROTO_OP_CREATESESSION};
    proto_writer_reset(&f->txn);
    proto_write_long(&f->txn, b.session_id);
    proto_write_int(&f->txn, b.cxid);
    proto_write_long(&f->txn, b.zxid);
    proto_write_long(&f->txn, b.time_ms);
    proto_write_int(&f->txn, b.type);
    proto_write_int(&f->txn, 30000);
    proto_write_buffer(&f->txn, test_passwd, bad == 0 ? 15 : 16);
    if (bad == 1)
      proto_write_int(&f->txn, 7);
    assert_int_equal(apply_txn(f), PROTO_MARSHALLINGERROR);
    tree_digest(f->t, db);
    assert_memory_equal(da, db, 32);
    assert_false(tree_session_exists(f->t, 0x54));
  }
  fx_free(g);
  fx_free(f);
}

/* tree_txn_header_decode reads what prep wrote. */
static void test_txn_header(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  struct tree_txn_header h = {0x77, 3, 42, 1234, 0}, g;
  tree_txn_encode_create_session(&f->txn, &h, 5000, test_passwd);
  assert_int_equal(tree_txn_header_decode(f->txn.buf, f->txn.len, &g),
                   PROTO_OK);
  assert_int_equal(g.session_id, 0x77);
  assert_int_equal(g.cxid, 3);
  assert_int_equal(g.zxid, 42);
  assert_int_equal(g.time_ms, 1234);
  assert_int_equal(g.type, PROTO_OP_CREATESESSION);
  assert_int_equal(tree_txn_header_decode(f->txn.buf, 10, &g),
                   PROTO_MARSHALLINGERROR);
  fx_free(f);
}

/* Requests that are not writes are refused by prep. */
static void test_prep_unimplemented(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_GETDATA;
  struct tree_prep_ctx ctx = {SID, 1, 1, 1, {NULL, 0}};
  assert_int_equal(tree_prep(f->t, &ctx, &req, &f->txn), PROTO_UNIMPLEMENTED);
  assert_int_equal(f->txn.len, 0);
  fx_free(f);
}

/* SHA-256 matches the FIPS 180-4 examples. */
static void test_sha256(void **state) {
  (void)state;
  static const uint8_t abc[32] = {
      0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
      0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
      0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  static const uint8_t two[32] = {
      0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26,
      0x93, 0x0c, 0x3e, 0x60, 0x39, 0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff,
      0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
  struct tree_sha256 c;
  uint8_t out[32];
  tree_sha256_init(&c);
  tree_sha256_update(&c, "abc", 3);
  tree_sha256_final(&c, out);
  assert_memory_equal(out, abc, 32);
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  tree_sha256_init(&c);
  for (size_t i = 0; m[i]; i++) /* byte by byte exercises buffering */
    tree_sha256_update(&c, m + i, 1);
  tree_sha256_final(&c, out);
  assert_memory_equal(out, two, 32);
}

/* ------------------------------------------------------------------ */
/* OOM: fail the N-th allocation; apply must leave the tree unchanged. */

static void oom_setup(struct fx *f) {
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/b", 1), PROTO_OK);
  assert_int_equal(create(f, "/c", 1), PROTO_OK);
  assert_int_equal(read_data(f, "/a", 3), PROTO_OK);
  assert_int_equal(read_children(f, "/a", 3), PROTO_OK);
}

/* For every N, failing the N-th allocation during a multi apply or a
 * closeSession apply returns SystemError with the digest unchanged, and
 * eventually the same txn succeeds. */
static void test_oom_apply(void **state) {
  (void)state;
  for (int kind = 0; kind < 2; kind++) {
    bool done = false;
    for (long n = 0; !done && n < 200; n++) {
      struct fx *f = fx_new(false);
      oom_setup(f);
      if (kind == 0) {
        static const struct acl_spec d = {31, "digest", "u:p"};
        struct mb m = multi_begin(f);
        multi_create(f, &m, PROTO_OP_CREATE2, "/a/n-", 2);
        multi_create(f, &m, PROTO_OP_CREATE, "/new", 0);
        multi_set_data(&m, "/a", "0123456789", -1);
        multi_path_int(&m, PROTO_OP_DELETE, "/c", -1);
        multi_create(f, &m, PROTO_OP_CREATE, "/new/e", 1);
        proto_multi_encode_end(m.w, m.mark);
        struct proto_request req;
        assert_int_equal(proto_request_decode(m.w->buf + 4, m.w->len - 4,
                                              PROTO_DEFAULT_MAX_BUFFER, &req),
                         PROTO_OK);
        struct tree_prep_ctx ctx = {SID, 1, ++f->zxid, 1, {NULL, 0}};
        proto_writer_reset(&f->txn);
        assert_int_equal(tree_prep(f->t, &ctx, &req, &f->txn), PROTO_OK);
        (void)d;
      } else {
        struct tree_txn_header h = {SID, 0, ++f->zxid, 1, 0};
        proto_writer_reset(&f->txn);
        tree_txn_encode_close_session(&f->txn, &h);
      }
      uint8_t before[32], after[32];
      tree_digest(f->t, before);
      struct tree_stats sb, sa;
      tree_stats_get(f->t, &sb);
      tree_test_fail_alloc(f->t, n);
      int rc = apply_txn(f);
      tree_test_fail_alloc(f->t, -1);
      if (rc == PROTO_SYSTEMERROR) {
        tree_digest(f->t, after);
        assert_memory_equal(before, after, 32);
        tree_stats_get(f->t, &sa);
        assert_memory_equal(&sa, &sb, sizeof sa);
        /* and it still applies once memory is back */
        assert_int_equal(apply_txn(f), PROTO_OK);
      } else {
        assert_int_equal(rc, PROTO_OK);
        done = true;
      }
      assert_int_equal(f->out.err, 0);
      if (kind == 0) {
        assert_int_equal(f->out.n_results, 5);
        assert_int_equal(f->out.results[4].err, 0);
        assert_int_equal(f->out.n_events, 2); /* /a data + /a child */
      } else {
        assert_false(exists(f, "/c"));
        assert_int_equal(f->out.n_events, 1); /* child watch on /a */
      }
      fx_free(f);
    }
    assert_true(done);
  }
}

/* ------------------------------------------------------------------ */
/* ZooKeeper 3.6+ features: persistent watches, watch removal, reaping,
 * new reads */

static void add_watch(struct fx *f, const char *path, uint64_t watcher,
                      int32_t mode) {
  assert_int_equal(tree_add_watch(f->t, path, strlen(path), watcher, mode),
                   PROTO_OK);
}

static int rm_watch(struct fx *f, const char *path, uint64_t watcher,
                    int32_t type, bool remove) {
  return tree_remove_watches(f->t, path, strlen(path), watcher, type, remove);
}

static void expect_no_events(struct fx *f) {
  assert_int_equal(f->out.n_events, 0);
}

/* A persistent watch on P reports P's own changes and NodeChildrenChanged
 * of P, but nothing about the children themselves, and survives firing
 * (even P's deletion). */
static void test_persistent_watch_node_vs_children(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  add_watch(f, "/p", 7, PROTO_ADD_WATCH_PERSISTENT); /* node absent: fine */
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/p");
  assert_int_equal(set_data(f, "/p", "1", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_DATA_CHANGED, "/p");
  assert_int_equal(set_data(f, "/p", "2", -1), PROTO_OK); /* still there */
  assert_int_equal(f->out.n_events, 1);
  assert_int_equal(create(f, "/p/c", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  assert_int_equal(set_data(f, "/p/c", "x", -1), PROTO_OK);
  expect_no_events(f);
  assert_int_equal(create(f, "/p/c/d", 0), PROTO_OK);
  expect_no_events(f);
  assert_int_equal(del(f, "/p/c/d", -1), PROTO_OK);
  expect_no_events(f);
  assert_int_equal(del(f, "/p/c", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  assert_int_equal(del(f, "/p", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_DELETED, "/p");
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/p");
  /* it sits in both tables, like ZooKeeper's */
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 1);
  assert_int_equal(st.child_watch_count, 1);
  fx_free(f);
}

/* A recursive watch on an ancestor sees NodeCreated, NodeDataChanged and
 * NodeDeleted of the node and of every descendant, never
 * NodeChildrenChanged; a watcher with recursive watches on several
 * ancestors gets one event per change. */
static void test_recursive_watch(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  add_watch(f, "/r", 7, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  assert_int_equal(create(f, "/r", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/r");
  assert_int_equal(create(f, "/r/a", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1); /* no NodeChildrenChanged /r */
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/r/a");
  assert_int_equal(create(f, "/r/a/b", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/r/a/b");
  assert_int_equal(set_data(f, "/r/a/b", "x", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_DATA_CHANGED, "/r/a/b");
  /* a second recursive watch of the same watcher lower down: one event */
  add_watch(f, "/r/a", 7, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  add_watch(f, "/r/a", 8, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  assert_int_equal(del(f, "/r/a/b", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  assert_int_equal(f->out.events[0].type, PROTO_EVENT_NODE_DELETED);
  assert_int_equal(f->out.events[1].type, PROTO_EVENT_NODE_DELETED);
  assert_true(f->out.events[0].watcher != f->out.events[1].watcher);
  /* siblings and non-descendants with a shared prefix are not seen */
  assert_int_equal(create(f, "/rx", 0), PROTO_OK);
  expect_no_events(f);
  assert_int_equal(create(f, "/r/z", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/r/z");
  /* a recursive watch on "/" sees everything */
  add_watch(f, "/", 9, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  assert_int_equal(create(f, "/q", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 9, PROTO_EVENT_NODE_CREATED, "/q");
  assert_int_equal(set_data(f, "/", "x", -1), PROTO_OK);
  expect_event(f, 0, 9, PROTO_EVENT_NODE_DATA_CHANGED, "/");
  /* a standard child watch next to it still gets NodeChildrenChanged */
  assert_int_equal(read_children(f, "/r", 9), PROTO_OK);
  assert_int_equal(create(f, "/r/y", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 3);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/r/y");
  expect_event(f, 1, 9, PROTO_EVENT_NODE_CREATED, "/r/y");
  expect_event(f, 2, 9, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/r");
  fx_free(f);
}

/* Modes of one (path, watcher) accumulate: a standard watch added next to
 * a persistent one fires once with it (one event) and is consumed, the
 * persistent one stays; adding PERSISTENT to a recursive watch keeps the
 * recursion. */
static void test_watch_modes_accumulate(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  add_watch(f, "/a", 7, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(read_data(f, "/a", 7), PROTO_OK);
  assert_int_equal(read_children(f, "/a", 7), PROTO_OK);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 1); /* one (path, watcher) pair */
  assert_int_equal(set_data(f, "/a", "1", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  assert_int_equal(set_data(f, "/a", "2", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1); /* persistent survived */
  /* the standard data watch was consumed, the child one was not */
  assert_int_equal(rm_watch(f, "/a", 7, PROTO_WATCHER_DATA, false),
                   PROTO_OK); /* 3.8.0 rules: the persistent data half */
  f->t->cfg.watcher_types_3_9 = true;
  assert_int_equal(rm_watch(f, "/a", 7, PROTO_WATCHER_DATA, false),
                   PROTO_NOWATCHER);
  assert_int_equal(rm_watch(f, "/a", 7, PROTO_WATCHER_CHILDREN, false),
                   PROTO_OK);
  f->t->cfg.watcher_types_3_9 = false;
  /* recursive + persistent on /b: descendants still reported */
  assert_int_equal(create(f, "/b", 0), PROTO_OK);
  add_watch(f, "/b", 7, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  add_watch(f, "/b", 7, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(create(f, "/b/c", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/b/c");
  expect_event(f, 1, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/b");
  /* a standard watch below a recursive one: one event, standard consumed */
  assert_int_equal(read_data(f, "/b/c", 7), PROTO_OK);
  assert_int_equal(set_data(f, "/b/c", "x", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  assert_int_equal(rm_watch(f, "/b/c", 7, PROTO_WATCHER_ANY, false),
                   PROTO_NOWATCHER);
  /* bad modes */
  assert_int_equal(tree_add_watch(f->t, "/a", 2, 7, 2), PROTO_MARSHALLINGERROR);
  assert_int_equal(tree_add_watch(f->t, "/a", 2, 7, -1),
                   PROTO_MARSHALLINGERROR);
  fx_free(f);
}

/* A multi that changes a path twice, and a closeSession that removes two
 * children of one parent, give a persistent watcher one event per change,
 * in order, as ZooKeeper 3.8.0 does (observed); a standard watch on the
 * same path still fires once. */
static void test_persistent_one_event_per_change(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  add_watch(f, "/a", 7, PROTO_ADD_WATCH_PERSISTENT);
  add_watch(f, "/p", 7, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(read_data(f, "/a", 8), PROTO_OK);
  struct mb m = multi_begin(f);
  multi_set_data(&m, "/a", "1", -1);
  multi_set_data(&m, "/a", "2", -1);
  multi_create(f, &m, PROTO_OP_CREATE, "/p/x", 0);
  multi_create(f, &m, PROTO_OP_CREATE, "/p/y", 0);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  /* watchers of one trigger come in no particular order */
  assert_int_equal(f->out.n_events, 5);
  size_t n7 = 0, n8 = 0;
  for (size_t i = 0; i < 3; i++) {
    const struct tree_event *e = &f->out.events[i];
    assert_int_equal(e->type, PROTO_EVENT_NODE_DATA_CHANGED);
    assert_int_equal(e->path_len, 2);
    n7 += e->watcher == 7;
    n8 += e->watcher == 8;
  }
  assert_int_equal(n7, 2);
  assert_int_equal(n8, 1);
  expect_event(f, 3, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  expect_event(f, 4, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  session_open(f, 0x200);
  f->session = 0x200;
  assert_int_equal(create(f, "/p/e1", 1), PROTO_OK);
  assert_int_equal(create(f, "/p/e2", 1), PROTO_OK);
  session_close(f, 0x200);
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  expect_event(f, 1, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  fx_free(f);
}

/* checkWatches / removeWatches select by WatcherType: by default as
 * ZooKeeper 3.8.0 (types 1/2 are whole tables, 4/5 and unknown types are
 * MarshallingError), with watcher_types_3_9 as 3.9 (1/2 standard only,
 * 4/5 by mode); NoWatcher when nothing matches; check changes nothing. */
static void test_remove_watches_by_type(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/w", 0), PROTO_OK);
  for (int32_t type = 1; type <= 3; type++)
    assert_int_equal(rm_watch(f, "/w", 7, type, false), PROTO_NOWATCHER);
  int32_t bad[] = {0, 4, 5, 6, -1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(rm_watch(f, "/w", 7, bad[i], true),
                     PROTO_MARSHALLINGERROR);
  assert_int_equal(tree_check_watches(f->t, "/w", 2, 7, 4),
                   PROTO_MARSHALLINGERROR);

  /* 3.8.0: a persistent watch answers to Children and Data; removing Data
   * leaves the child half (observed: NodeChildrenChanged still comes,
   * NodeDataChanged does not). */
  add_watch(f, "/w", 7, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_CHILDREN, false),
                   PROTO_OK);
  assert_int_equal(tree_check_watches(f->t, "/w", 2, 7, PROTO_WATCHER_DATA),
                   PROTO_OK);
  assert_int_equal(rm_watch(f, "/w", 8, PROTO_WATCHER_DATA, true),
                   PROTO_NOWATCHER); /* another watcher */
  assert_int_equal(rm_watch(f, "/x", 7, PROTO_WATCHER_DATA, true),
                   PROTO_NOWATCHER); /* another path */
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_DATA, true), PROTO_OK);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_DATA, false),
                   PROTO_NOWATCHER);
  assert_int_equal(set_data(f, "/w", "x", -1), PROTO_OK);
  expect_no_events(f);
  assert_int_equal(create(f, "/w/c", 0), PROTO_OK);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/w");
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_ANY, true), PROTO_OK);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_ANY, true),
                   PROTO_NOWATCHER);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count + st.child_watch_count, 0);
  /* a recursive watch is in both tables too (observed on 3.8.0) */
  add_watch(f, "/w", 7, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_CHILDREN, true),
                   PROTO_OK);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_DATA, true), PROTO_OK);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_ANY, false),
                   PROTO_NOWATCHER);

  /* 3.9 rules */
  f->t->cfg.watcher_types_3_9 = true;
  assert_int_equal(rm_watch(f, "/w", 7, 6, false), PROTO_MARSHALLINGERROR);
  add_watch(f, "/w", 7, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(read_data(f, "/w", 7), PROTO_OK);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_CHILDREN, false),
                   PROTO_NOWATCHER);
  assert_int_equal(
      rm_watch(f, "/w", 7, PROTO_WATCHER_PERSISTENT_RECURSIVE, false),
      PROTO_NOWATCHER);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_DATA, true), PROTO_OK);
  assert_int_equal(set_data(f, "/w", "y", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1); /* the persistent one */
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_PERSISTENT, true),
                   PROTO_OK);
  assert_int_equal(set_data(f, "/w", "z", -1), PROTO_OK);
  expect_no_events(f);
  add_watch(f, "/w", 7, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  assert_int_equal(rm_watch(f, "/w", 7, PROTO_WATCHER_PERSISTENT, false),
                   PROTO_NOWATCHER);
  assert_int_equal(
      rm_watch(f, "/w", 7, PROTO_WATCHER_PERSISTENT_RECURSIVE, true), PROTO_OK);
  assert_int_equal(create(f, "/w/d", 0), PROTO_OK);
  expect_no_events(f);
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count + st.child_watch_count, 0);
  fx_free(f);
}

static struct proto_str_vec str_vec(struct fx *f, size_t n,
                                    const char *const *s) {
  struct proto_writer *w = keep(f);
  for (size_t i = 0; i < n; i++)
    proto_write_string(w, s[i], strlen(s[i]));
  struct proto_str_vec v = {{w->buf, (int32_t)w->len}, (int32_t)n};
  return v;
}

/* setWatches2 registers its persistent and recursive lists without
 * catch-up events, even for nodes changed or missing since
 * relativeZxid, and they then fire as addWatch ones. */
static void test_set_watches2_persistent(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(create(f, "/r", 0), PROTO_OK);
  int64_t rel = f->zxid;
  assert_int_equal(set_data(f, "/p", "x", -1), PROTO_OK);
  assert_int_equal(create(f, "/r/c", 0), PROTO_OK);
  static const char *const pers[] = {"/p", "/gone"};
  static const char *const rec[] = {"/r"};
  struct proto_set_watches_req req;
  memset(&req, 0, sizeof req);
  req.relative_zxid = rel;
  req.persistent_watches = str_vec(f, 2, pers);
  req.persistent_recursive_watches = str_vec(f, 1, rec);
  assert_int_equal(tree_set_watches(f->t, 4, &req, &f->out), PROTO_OK);
  expect_no_events(f);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 3);
  assert_int_equal(create(f, "/p/k", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/p");
  assert_int_equal(create(f, "/gone", 0), PROTO_OK);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_CREATED, "/gone");
  assert_int_equal(set_data(f, "/r/c", "y", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_DATA_CHANGED, "/r/c");
  fx_free(f);
}

/* tree_watches_drop removes persistent and recursive watches too (and the
 * ancestor walk stops once none is left). */
static void test_watches_drop_persistent(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  add_watch(f, "/a", 3, PROTO_ADD_WATCH_PERSISTENT);
  add_watch(f, "/", 3, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  add_watch(f, "/a", 4, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(read_data(f, "/a", 3), PROTO_OK);
  assert_int_equal(f->t->watches.n_recursive_entries, 1);
  tree_watches_drop(f->t, 3);
  assert_int_equal(f->t->watches.n_recursive_entries, 0);
  assert_int_equal(f->t->watches.n_persistent_entries, 1);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count, 1);
  assert_int_equal(st.child_watch_count, 1);
  assert_int_equal(set_data(f, "/a", "x", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 1);
  assert_int_equal(f->out.events[0].watcher, 4);
  assert_int_equal(create(f, "/b", 0), PROTO_OK);
  expect_no_events(f);
  tree_watches_drop(f->t, 4);
  assert_int_equal(f->t->watches.n_persistent_entries, 0);
  assert_int_equal(set_data(f, "/a", "y", -1), PROTO_OK);
  expect_no_events(f);
  fx_free(f);
}

struct reaped {
  int n;
  char paths[8][32];
  int stop_after; /* 0 = never stop */
};
static bool collect_reap(void *arg, const char *path, size_t len) {
  struct reaped *r = arg;
  assert_true(r->n < 8 && len < 32);
  memcpy(r->paths[r->n], path, len);
  r->paths[r->n][len] = 0;
  r->n++;
  return r->stop_after == 0 || r->n < r->stop_after;
}
static struct reaped reap(struct fx *f, int64_t now, int64_t never_used) {
  struct reaped r;
  memset(&r, 0, sizeof r);
  size_t n = tree_reap_candidates(f->t, now, never_used, collect_reap, &r);
  assert_int_equal(n, (size_t)r.n);
  return r;
}
static int create_container(struct fx *f, const char *path) {
  return create_full(f, PROTO_OP_CREATECONTAINER, path, S("d"),
                     PROTO_CREATE_CONTAINER, open_acl(f), 0);
}
static int create_ttl(struct fx *f, const char *path, int64_t ttl) {
  return create_full(f, PROTO_OP_CREATETTL, path, S("d"),
                     PROTO_CREATE_PERSISTENT_WITH_TTL, open_acl(f), ttl);
}

/* Reaping candidates (§7.7): a container once its last child is gone; a
 * never-used container only with a non-zero interval that has passed; a
 * TTL node once now - mtime > ttl and only with extended types; never
 * while a child exists; plain nodes never. */
static void test_reap_candidates(void **state) {
  (void)state;
  struct fx *f = fx_new(true);
  session_open(f, SID);
  f->time_ms = 1000;
  assert_int_equal(create_container(f, "/c"), PROTO_OK);
  assert_int_equal(create_container(f, "/n"), PROTO_OK);
  assert_int_equal(create(f, "/plain", 0), PROTO_OK);
  assert_int_equal(create(f, "/plain/k", 0), PROTO_OK);
  assert_int_equal(del(f, "/plain/k", -1), PROTO_OK);
  assert_int_equal(create(f, "/c/k", 0), PROTO_OK);
  assert_int_equal(reap(f, 1 << 30, 0).n, 0); /* /c has a child */
  assert_int_equal(del(f, "/c/k", -1), PROTO_OK);
  struct reaped r = reap(f, 1000, 0);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.paths[0], "/c");
  /* never used: only with the interval, and only once it passed */
  assert_int_equal(reap(f, 1500, 500).n, 1);
  r = reap(f, 1501, 500);
  assert_int_equal(r.n, 2);
  /* TTL: strictly older than ttl since the last data change */
  f->time_ms = 2000;
  assert_int_equal(create_ttl(f, "/t", 100), PROTO_OK);
  assert_int_equal(reap(f, 2100, 0).n, 1);
  r = reap(f, 2101, 0);
  assert_int_equal(r.n, 2);
  f->time_ms = 2050;
  assert_int_equal(set_data(f, "/t", "x", -1), PROTO_OK);
  assert_int_equal(reap(f, 2101, 0).n, 1);
  assert_int_equal(reap(f, 2151, 0).n, 2);
  assert_int_equal(create(f, "/t/k", 0), PROTO_OK);
  assert_int_equal(reap(f, 1 << 30, 0).n, 1); /* /t has a child now */
  assert_int_equal(del(f, "/t/k", -1), PROTO_OK);
  /* early stop */
  memset(&r, 0, sizeof r);
  r.stop_after = 1;
  assert_int_equal(tree_reap_candidates(f->t, 1 << 30, 1, collect_reap, &r), 1);
  /* TTL nodes are not candidates with extended types off */
  f->t->cfg.extended_types = false;
  r = reap(f, 1 << 30, 0);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.paths[0], "/c");
  f->t->cfg.extended_types = true;
  /* deleting a candidate (by any means) takes it out of the index */
  assert_int_equal(del(f, "/t", -1), PROTO_OK);
  assert_int_equal(del(f, "/n", -1), PROTO_OK);
  r = reap(f, 1 << 30, 1);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.paths[0], "/c");
  assert_int_equal(f->t->reapable.n, 1);
  fx_free(f);
}

static int delete_container(struct fx *f, const char *path) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETECONTAINER;
  req.u.path.path = S(path);
  int64_t s = f->session;
  f->session = 0; /* the server's own request: no session */
  int rc = run(f, &req);
  f->session = s;
  return rc;
}

/* deleteContainer removes a reaped node and fires watches like a delete;
 * its apply fails with NotEmpty when a child appeared after prep and
 * BadVersion for a normal ephemeral, leaving the tree unchanged; prep
 * refuses the same cases with an error txn. */
static void test_delete_container(void **state) {
  (void)state;
  struct fx *f = fx_new(true);
  session_open(f, SID);
  assert_int_equal(create_container(f, "/c"), PROTO_OK);
  assert_int_equal(create(f, "/c/k", 0), PROTO_OK);
  assert_int_equal(delete_container(f, "/c"), PROTO_NOTEMPTY);
  assert_int_equal(del(f, "/c/k", -1), PROTO_OK);
  assert_int_equal(read_data(f, "/c", 5), PROTO_OK);
  add_watch(f, "/", 6, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(delete_container(f, "/c"), PROTO_OK);
  assert_false(exists(f, "/c"));
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 5, PROTO_EVENT_NODE_DELETED, "/c");
  expect_event(f, 1, 6, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/");
  assert_int_equal(f->t->reapable.n, 0);
  assert_int_equal(delete_container(f, "/c"), PROTO_NONODE);
  assert_int_equal(create(f, "/e", 1), PROTO_OK);
  assert_int_equal(delete_container(f, "/e"), PROTO_BADVERSION);

  /* Apply-time checks: prep for an empty container, then a child
   * arrives before the deleteContainer applies. */
  assert_int_equal(create_container(f, "/d"), PROTO_OK);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETECONTAINER;
  req.u.path.path = S("/d");
  struct tree_prep_ctx ctx = {0, 0, f->zxid + 2, f->time_ms, {NULL, 0}};
  struct proto_writer *dc = keep(f);
  assert_int_equal(tree_prep(f->t, &ctx, &req, dc), PROTO_OK);
  assert_int_equal(create(f, "/d/k", 0), PROTO_OK);
  f->zxid++;
  struct tree_stats sb, sa;
  tree_stats_get(f->t, &sb);
  assert_int_equal(tree_apply(f->t, dc->buf, dc->len, &f->out), PROTO_OK);
  assert_int_equal(f->out.err, PROTO_NOTEMPTY);
  expect_no_events(f);
  tree_stats_get(f->t, &sa);
  assert_memory_equal(&sa, &sb, sizeof sa);
  assert_true(exists(f, "/d/k"));
  assert_int_equal(tree_last_zxid(f->t), f->zxid); /* only the zxid moved */
  /* A hand-made deleteContainer txn naming a normal ephemeral. */
  struct proto_writer *w = keep(f);
  proto_write_long(w, 0);
  proto_write_int(w, 0);
  proto_write_long(w, ++f->zxid);
  proto_write_long(w, f->time_ms);
  proto_write_int(w, PROTO_OP_DELETECONTAINER);
  proto_write_string(w, "/e", 2);
  assert_int_equal(tree_apply(f->t, w->buf, w->len, &f->out), PROTO_OK);
  assert_int_equal(f->out.err, PROTO_BADVERSION);
  assert_true(exists(f, "/e"));
  fx_free(f);
}

static int32_t all_children(struct fx *f, const char *path, int *rc) {
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth a = auth_of(f);
  *rc = tree_get_all_children_number(f->t, path, strlen(path), &a, &w);
  int32_t v = -1;
  if (*rc == PROTO_OK) {
    assert_int_equal(w.len, 4);
    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len, w.len);
    v = proto_read_int(&r);
  } else {
    assert_int_equal(w.len, 0);
  }
  proto_writer_free(&w);
  return v;
}

/* getAllChildrenNumber counts all descendants; for "/" it counts every
 * node but the root, built-ins included (3 on a fresh tree, as 3.8.0
 * answers); NoNode and NoAuth (READ) as ZooKeeper. */
static void test_get_all_children_number(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  int rc;
  assert_int_equal(all_children(f, "/", &rc), 3);
  assert_int_equal(all_children(f, "/zookeeper", &rc), 2);
  assert_int_equal(all_children(f, "/zookeeper/quota", &rc), 0);
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/b", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/b/c", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/b/d", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/e", 0), PROTO_OK);
  assert_int_equal(create(f, "/ab", 0), PROTO_OK);
  assert_int_equal(all_children(f, "/a", &rc), 4);
  assert_int_equal(all_children(f, "/a/b", &rc), 2);
  assert_int_equal(all_children(f, "/a/e", &rc), 0);
  assert_int_equal(all_children(f, "/", &rc), 9);
  all_children(f, "/nope", &rc);
  assert_int_equal(rc, PROTO_NONODE);
  all_children(f, "/a/", &rc);
  assert_int_equal(rc, PROTO_NONODE);
  static const struct acl_spec wonly = {PROTO_PERM_WRITE, "world", "anyone"};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/s", S(""), 0, acls(f, 1, &wonly), 0),
      PROTO_OK);
  all_children(f, "/s", &rc);
  assert_int_equal(rc, PROTO_NOAUTH);
  fx_free(f);
}

/* Parses a GetEphemeralsResponse into a sorted, comma-joined string. */
static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
static void ephemerals(struct fx *f, int64_t sid, const char *prefix,
                       size_t plen, char *out, size_t cap) {
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_get_ephemerals(f->t, sid, prefix, plen, &w), PROTO_OK);
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, w.len);
  int32_t n = proto_read_vector_count(&r);
  assert_true(n >= 0 && n <= 8);
  char items[8][32];
  char *ptrs[8] = {0};
  for (int32_t i = 0; i < n; i++) {
    struct proto_slice s = proto_read_buffer(&r);
    assert_true(s.len >= 0 && s.len < 32);
    memcpy(items[i], s.ptr, (size_t)s.len);
    items[i][s.len] = 0;
    ptrs[i] = items[i];
  }
  assert_int_equal(proto_reader_remaining(&r), 0);
  qsort(ptrs, (size_t)n, sizeof ptrs[0], cmp_str);
  out[0] = 0;
  for (int32_t i = 0; i < n; i++) {
    if (i)
      strncat(out, ",", cap - strlen(out) - 1);
    strncat(out, ptrs[i], cap - strlen(out) - 1);
  }
  proto_writer_free(&w);
}

/* getEphemerals lists the session's own ephemerals whose path starts with
 * the plain-string prefix; null, empty, blank and "/" select all (as
 * observed on 3.8.0). */
static void test_get_ephemerals(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  session_open(f, 0x200);
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(create(f, "/e1", 1), PROTO_OK);
  assert_int_equal(create(f, "/e1x", 1), PROTO_OK);
  assert_int_equal(create(f, "/p/e", 1), PROTO_OK);
  f->session = 0x200;
  assert_int_equal(create(f, "/other", 1), PROTO_OK);
  char got[128];
  static const struct {
    const char *prefix;
    const char *want;
  } cases[] = {
      {NULL, "/e1,/e1x,/p/e"},
      {"", "/e1,/e1x,/p/e"},
      {"/", "/e1,/e1x,/p/e"},
      {" ", "/e1,/e1x,/p/e"},
      {" / ", "/e1,/e1x,/p/e"},
      {"/e1", "/e1,/e1x"},
      {"/e", "/e1,/e1x"},
      {"/p/", "/p/e"},
      {"/p", "/p/e"},
      {"e1", ""},
      {"/zz", ""},
      {"/e1x/longer", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *p = cases[i].prefix;
    ephemerals(f, SID, p, p ? strlen(p) : 0, got, sizeof got);
    assert_string_equal(got, cases[i].want);
  }
  ephemerals(f, 0x200, NULL, 0, got, sizeof got);
  assert_string_equal(got, "/other");
  ephemerals(f, 0x999, NULL, 0, got, sizeof got);
  assert_string_equal(got, "");
  fx_free(f);
}

/* multiRead evaluates each sub-op on its own: successes carry their
 * records (types 4 and 8), failures are type -1 + ErrorResponse, then the
 * terminator; no watch is set even with the watch flag. */
static void test_multi_read(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  assert_int_equal(create(f, "/p", 0), PROTO_OK);
  assert_int_equal(create(f, "/p/k", 0), PROTO_OK);
  static const struct acl_spec wonly = {PROTO_PERM_WRITE, "world", "anyone"};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/s", S(""), 0, acls(f, 1, &wonly), 0),
      PROTO_OK);
  struct proto_writer *fw = keep(f);
  size_t mark = proto_multi_encode_begin(fw, 1, PROTO_OP_MULTIREAD);
  static const struct {
    int32_t type;
    const char *path;
  } ops[] = {{PROTO_OP_GETDATA, "/p"},
             {PROTO_OP_GETCHILDREN, "/nope"},
             {PROTO_OP_GETDATA, "/nope"},
             {PROTO_OP_GETCHILDREN, "/p"},
             {PROTO_OP_GETDATA, "/s"}};
  for (size_t i = 0; i < 5; i++) {
    struct proto_multi_op o;
    memset(&o, 0, sizeof o);
    o.type = ops[i].type;
    o.u.read.path = S(ops[i].path);
    o.u.read.watch = true;
    proto_multi_encode_op(fw, &o);
  }
  proto_multi_encode_end(fw, mark);
  struct proto_request req;
  assert_int_equal(proto_request_decode(fw->buf + 4, fw->len - 4,
                                        PROTO_DEFAULT_MAX_BUFFER, &req),
                   PROTO_OK);
  assert_int_equal(req.hdr.type, PROTO_OP_MULTIREAD);
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth a = auth_of(f);
  assert_int_equal(tree_multi_read(f->t, &req.u.multi, &a, &w), PROTO_OK);

  /* expected: built from the single reads */
  struct proto_writer e;
  proto_writer_init(&e);
  proto_write_multi_header(&e, PROTO_OP_GETDATA, false, 0);
  assert_int_equal(tree_get_data(f->t, "/p", 2, 0, NULL, &e), PROTO_OK);
  proto_write_multi_header(&e, -1, false, PROTO_NONODE);
  proto_write_int(&e, PROTO_NONODE);
  proto_write_multi_header(&e, -1, false, PROTO_NONODE);
  proto_write_int(&e, PROTO_NONODE);
  proto_write_multi_header(&e, PROTO_OP_GETCHILDREN, false, 0);
  assert_int_equal(tree_get_children(f->t, "/p", 2, 0, false, NULL, &e),
                   PROTO_OK);
  proto_write_multi_header(&e, -1, false, PROTO_NOAUTH);
  proto_write_int(&e, PROTO_NOAUTH);
  proto_write_multi_header(&e, -1, true, -1);
  assert_int_equal(w.len, e.len);
  assert_memory_equal(w.buf, e.buf, e.len);
  struct tree_stats st;
  tree_stats_get(f->t, &st);
  assert_int_equal(st.data_watch_count + st.child_watch_count, 0);
  /* an empty multiRead is just the terminator */
  struct proto_multi_req empty = {{NULL, 0}, 0};
  proto_writer_reset(&w);
  assert_int_equal(tree_multi_read(f->t, &empty, &a, &w), PROTO_OK);
  static const uint8_t term[] = {0xff, 0xff, 0xff, 0xff, 1,
                                 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(w.len, sizeof term);
  assert_memory_equal(w.buf, term, sizeof term);
  proto_writer_free(&w);
  proto_writer_free(&e);
  fx_free(f);
}

/* Reads a GetACLResponse's first id. */
static void first_acl_id(struct fx *f, const char *path, char *out,
                         size_t cap) {
  struct proto_writer w;
  proto_writer_init(&w);
  struct tree_auth a = auth_of(f);
  assert_int_equal(tree_get_acl(f->t, path, strlen(path), &a, &w), PROTO_OK);
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, w.len);
  assert_true(proto_read_vector_count(&r) >= 1);
  struct proto_acl acl;
  proto_read_acl(&r, &acl);
  assert_true(acl.id.id.len >= 0 && (size_t)acl.id.id.len < cap);
  memcpy(out, acl.id.id.ptr, (size_t)acl.id.id.len);
  out[acl.id.id.len] = 0;
  proto_writer_free(&w);
}

/* getACL masks digest ids as "user:x" for a caller without ADMIN on the
 * node, even the digest's owner when its entry lacks ADMIN (observed on
 * 3.8.0 with kazoo); a caller with ADMIN sees the hash. */
/* CVE-2024-23944: every event carries the ACL its node had when it fired
 * (for NodeChildrenChanged the parent's, for NodeDeleted the deleted
 * node's), so the server can hold it back from a session without READ.
 * Lists anyone may read travel as NULL (no per-watcher cost). */
static bool visible_to(struct fx *f, size_t i, const char *scheme,
                       const char *id) {
  assert_true(i < f->out.n_events);
  struct tree_identity ids[2] = {{"ip", "127.0.0.1"}, {scheme, id}};
  struct tree_auth a = {ids, scheme ? 2 : 1};
  return tree_event_visible(&f->out.events[i], &a);
}

static void test_event_acl(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  static const char bob[] = "bob:3pD0ZqC7ujoQrG7pMAM4SBSk0tU=";
  add_id(f, "digest", bob); /* the writer may do everything */
  const struct acl_spec secret[] = {{31, "digest", bob}};
  const struct acl_spec lan[] = {{1, "ip", "10.0.0.0/8"}, {30, "digest", bob}};
  assert_int_equal(create(f, "/leak", 0), PROTO_OK);
  add_watch(f, "/leak", 7, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
  /* a readable sibling: no ACL attached, visible to anyone */
  assert_int_equal(create(f, "/leak/pub", 0), PROTO_OK);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/leak/pub");
  assert_null(f->out.events[0].acl);
  assert_true(tree_event_visible(&f->out.events[0], NULL));
  assert_true(visible_to(f, 0, NULL, NULL));
  /* the secret child: only bob and super see it */
  assert_int_equal(create_full(f, PROTO_OP_CREATE, "/leak/secret", S("x"), 0,
                               acls(f, 1, secret), 0),
                   PROTO_OK);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/leak/secret");
  assert_non_null(f->out.events[0].acl);
  assert_false(tree_event_visible(&f->out.events[0], NULL));
  assert_false(visible_to(f, 0, NULL, NULL));
  assert_false(visible_to(f, 0, "digest", "eve:AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  assert_true(visible_to(f, 0, "digest", bob));
  assert_true(visible_to(f, 0, "super", ""));
  assert_int_equal(set_data(f, "/leak/secret", "y", -1), PROTO_OK);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_DATA_CHANGED, "/leak/secret");
  assert_false(visible_to(f, 0, NULL, NULL));
  /* NodeChildrenChanged is about the parent: the parent's ACL */
  add_watch(f, "/leak/secret", 8, PROTO_ADD_WATCH_PERSISTENT);
  assert_int_equal(create(f, "/leak/secret/kid", 0), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/leak/secret/kid");
  assert_true(visible_to(f, 0, NULL, NULL)); /* its own ACL is open */
  expect_event(f, 1, 8, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/leak/secret");
  assert_false(visible_to(f, 1, NULL, NULL));
  assert_int_equal(del(f, "/leak/secret/kid", -1), PROTO_OK);
  /* an ip ACL: READ for 10/8 only */
  assert_int_equal(set_acl(f, "/leak/secret", acls(f, 2, lan), -1), PROTO_OK);
  expect_no_events(f); /* setACL fires nothing, as in ZooKeeper */
  assert_int_equal(set_data(f, "/leak/secret", "z", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  assert_false(visible_to(f, 0, NULL, NULL));
  assert_false(visible_to(f, 0, "digest", bob)); /* bob lacks READ now */
  struct tree_identity lan_ip = {"ip", "10.1.2.3"};
  struct tree_auth lan_auth = {&lan_ip, 1};
  assert_true(tree_event_visible(&f->out.events[0], &lan_auth));
  /* NodeDeleted carries the list the node had, though deleting its last
   * user frees that list (ASan checks the event does not point at it) */
  assert_int_equal(del(f, "/leak/secret", -1), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(f->out.events[i].type, PROTO_EVENT_NODE_DELETED);
    assert_false(visible_to(f, i, NULL, NULL));
    assert_true(tree_event_visible(&f->out.events[i], &lan_auth));
  }
  /* a multi that creates and deletes a secret node: both events keep it */
  struct mb m = multi_begin(f);
  struct proto_multi_op o;
  memset(&o, 0, sizeof o);
  o.type = PROTO_OP_CREATE;
  o.u.create.path = S("/leak/tmp");
  o.u.create.data = S("x");
  o.u.create.acl = acls(f, 1, secret);
  proto_multi_encode_op(m.w, &o);
  multi_path_int(&m, PROTO_OP_DELETE, "/leak/tmp", -1);
  assert_int_equal(multi_run(f, &m), PROTO_OK);
  assert_int_equal(f->out.n_events, 2);
  expect_event(f, 0, 7, PROTO_EVENT_NODE_CREATED, "/leak/tmp");
  expect_event(f, 1, 7, PROTO_EVENT_NODE_DELETED, "/leak/tmp");
  for (size_t i = 0; i < 2; i++) {
    assert_false(visible_to(f, i, NULL, NULL));
    assert_true(visible_to(f, i, "digest", bob));
  }
  fx_free(f);
}

/* setWatches' catch-up events carry the node's ACL too; NodeDeleted for a
 * node that is gone has none. */
static void test_set_watches_event_acl(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  static const char bob[] = "bob:3pD0ZqC7ujoQrG7pMAM4SBSk0tU=";
  add_id(f, "digest", bob);
  const struct acl_spec secret[] = {{31, "digest", bob}};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/s", S("x"), 0, acls(f, 1, secret), 0),
      PROTO_OK);
  assert_int_equal(create(f, "/o", 0), PROTO_OK);
  struct proto_writer *ew = keep(f), *dw = keep(f);
  proto_write_string(ew, "/s", 2);
  proto_write_string(ew, "/o", 2);
  proto_write_string(dw, "/gone", 5);
  struct proto_set_watches_req req;
  memset(&req, 0, sizeof req);
  req.relative_zxid = f->zxid;
  req.exist_watches.raw.ptr = ew->buf;
  req.exist_watches.raw.len = (int32_t)ew->len;
  req.exist_watches.count = 2;
  req.data_watches.raw.ptr = dw->buf;
  req.data_watches.raw.len = (int32_t)dw->len;
  req.data_watches.count = 1;
  assert_int_equal(tree_set_watches(f->t, 4, &req, &f->out), PROTO_OK);
  assert_int_equal(f->out.n_events, 3);
  expect_event(f, 0, 4, PROTO_EVENT_NODE_DELETED, "/gone");
  assert_null(f->out.events[0].acl);
  expect_event(f, 1, 4, PROTO_EVENT_NODE_CREATED, "/s");
  assert_false(visible_to(f, 1, NULL, NULL));
  assert_true(visible_to(f, 1, "digest", bob));
  expect_event(f, 2, 4, PROTO_EVENT_NODE_CREATED, "/o");
  assert_null(f->out.events[2].acl);
  fx_free(f);
}

static void test_get_acl_masks_digest(void **state) {
  (void)state;
  struct fx *f = fx_new(false);
  session_open(f, SID);
  static const char hash[] = "user:smGaoVKd/cQkjm7b88GyorAUz20=";
  const struct acl_spec m1[] = {{31, "digest", hash}, {1, "world", "anyone"}};
  const struct acl_spec m2[] = {{31, "digest", hash}, {16, "world", "anyone"}};
  const struct acl_spec m3[] = {{1, "digest", hash}, {1, "world", "anyone"}};
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/m1", S(""), 0, acls(f, 2, m1), 0),
      PROTO_OK);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/m2", S(""), 0, acls(f, 2, m2), 0),
      PROTO_OK);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/m3", S(""), 0, acls(f, 2, m3), 0),
      PROTO_OK);
  char id[64];
  first_acl_id(f, "/m1", id, sizeof id); /* other: READ only */
  assert_string_equal(id, "user:x");
  first_acl_id(f, "/m2", id, sizeof id); /* other: ADMIN */
  assert_string_equal(id, hash);
  first_acl_id(f, "/m3", id, sizeof id);
  assert_string_equal(id, "user:x");
  add_id(f, "digest", hash);
  first_acl_id(f, "/m1", id, sizeof id); /* owner: ALL */
  assert_string_equal(id, hash);
  first_acl_id(f, "/m3", id, sizeof id); /* owner, READ only: masked */
  assert_string_equal(id, "user:x");
  fx_free(f);
}

/* Failing any allocation while applying a multi that creates a container
 * under persistent watches leaves tree, reap index and watches as they
 * were; the retry succeeds. */
static void test_oom_reap_and_persistent(void **state) {
  (void)state;
  bool done = false;
  for (long n = 0; !done && n < 200; n++) {
    struct fx *f = fx_new(false);
    session_open(f, SID);
    assert_int_equal(create(f, "/a", 0), PROTO_OK);
    add_watch(f, "/a", 3, PROTO_ADD_WATCH_PERSISTENT);
    add_watch(f, "/", 4, PROTO_ADD_WATCH_PERSISTENT_RECURSIVE);
    struct mb m = multi_begin(f);
    multi_create(f, &m, PROTO_OP_CREATECONTAINER, "/a/c", 4);
    multi_set_data(&m, "/a", "1", -1);
    multi_set_data(&m, "/a", "2", -1);
    multi_create(f, &m, PROTO_OP_CREATE, "/a/c/k", 0);
    multi_path_int(&m, PROTO_OP_DELETE, "/a/c/k", -1);
    proto_multi_encode_end(m.w, m.mark);
    struct proto_request req;
    assert_int_equal(proto_request_decode(m.w->buf + 4, m.w->len - 4,
                                          PROTO_DEFAULT_MAX_BUFFER, &req),
                     PROTO_OK);
    struct tree_prep_ctx ctx = {SID, 1, ++f->zxid, 1, {NULL, 0}};
    proto_writer_reset(&f->txn);
    assert_int_equal(tree_prep(f->t, &ctx, &req, &f->txn), PROTO_OK);
    uint8_t before[32], after[32];
    tree_digest(f->t, before);
    tree_test_fail_alloc(f->t, n);
    int rc = apply_txn(f);
    tree_test_fail_alloc(f->t, -1);
    if (rc == PROTO_SYSTEMERROR) {
      tree_digest(f->t, after);
      assert_memory_equal(before, after, 32);
      assert_int_equal(f->t->reapable.n, 0);
      assert_int_equal(apply_txn(f), PROTO_OK);
    } else {
      assert_int_equal(rc, PROTO_OK);
      done = true;
    }
    assert_int_equal(f->out.err, 0);
    assert_int_equal(f->t->reapable.n, 1);
    /* /a: NodeChildrenChanged (3), NodeDataChanged twice (3 and 4 each,
     * one per change); /a/c created, /a/c/k created and deleted (4) */
    assert_int_equal(f->out.n_events, 8);
    assert_int_equal(reap(f, 2, 0).n, 1);
    fx_free(f);
  }
  assert_true(done);
}

/* ------------------------------------------------------------------ */
/* Node layout: data inline, in an outside buffer after a longer setData,
 * back inline after a shorter one, rollbacks of each, and a digest and
 * snapshot stream that equal what the layout before extensions produced
 * (the golden values were computed with that code): the digest keeps its
 * meaning and older snapshots stay loadable. */

static void expect_data(struct fx *f, const char *path, const char *want) {
  struct proto_writer w;
  proto_writer_init(&w);
  assert_int_equal(tree_get_data(f->t, path, strlen(path), 0, NULL, &w),
                   PROTO_OK);
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, PROTO_DEFAULT_MAX_BUFFER);
  struct proto_slice d = proto_read_buffer(&r);
  if (!want) {
    assert_int_equal(d.len, -1);
  } else {
    assert_int_equal(d.len, (int32_t)strlen(want));
    assert_memory_equal(d.ptr, want, strlen(want));
  }
  proto_writer_free(&w);
}

struct golden_sink {
  struct tree_sha256 c;
  uint8_t *buf;
  size_t len, cap, at;
};
static bool golden_write(void *arg, const void *p, size_t n) {
  struct golden_sink *g = arg;
  tree_sha256_update(&g->c, p, n);
  if (g->len + n > g->cap) {
    g->cap = (g->len + n) * 2;
    g->buf = realloc(g->buf, g->cap);
    assert_non_null(g->buf);
  }
  memcpy(g->buf + g->len, p, n);
  g->len += n;
  return true;
}
static long golden_read(void *arg, void *p, size_t cap) {
  struct golden_sink *g = arg;
  size_t n = g->len - g->at < cap ? g->len - g->at : cap;
  memcpy(p, g->buf + g->at, n);
  g->at += n;
  return (long)n;
}
static void hex32(const uint8_t h[32], char out[65]) {
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_node_layout_golden(void **state) {
  (void)state;
  struct fx *f = fx_new(true);
  session_open(f, SID);
  session_open(f, 0x200);
  static const struct acl_spec ro = {1, "world", "anyone"};
  assert_int_equal(create(f, "/a", 0), PROTO_OK);
  assert_int_equal(create(f, "/a/e", 1), PROTO_OK); /* ephemeral */
  assert_int_equal(
      create_full(f, PROTO_OP_CREATE, "/n", NULL_SLICE, 0, open_acl(f), 0),
      PROTO_OK);
  assert_int_equal(create_full(f, PROTO_OP_CREATECONTAINER, "/c", S("cc"), 4,
                               open_acl(f), 0),
                   PROTO_OK);
  assert_int_equal(
      create_full(f, PROTO_OP_CREATETTL, "/t", S("tt"), 5, open_acl(f), 5000),
      PROTO_OK);
  assert_int_equal(create(f, "/c/k", 0), PROTO_OK);
  assert_int_equal(create(f, "/leaf", 0), PROTO_OK); /* never changed */
  f->time_ms += 7;
  /* Longer than created: an outside buffer; shorter: inline again. */
  assert_int_equal(set_data(f, "/a", "longer than the one byte", 0), PROTO_OK);
  expect_data(f, "/a", "longer than the one byte");
  assert_int_equal(set_data(f, "/a", "", 1), PROTO_OK);
  expect_data(f, "/a", "");
  assert_int_equal(set_data(f, "/a", "z", 2), PROTO_OK);
  expect_data(f, "/a", "z");
  assert_int_equal(set_data(f, "/n", "abc", 0), PROTO_OK); /* from null */
  expect_data(f, "/n", "abc");
  assert_int_equal(set_acl(f, "/c/k", acls(f, 1, &ro), 0), PROTO_OK);
  /* Rollbacks: a multi that overwrites inline data, moves data to an
   * outside buffer and back, fails at each of its allocations in turn;
   * every failure leaves the tree (data included) as it was. */
  struct mb m = multi_begin(f);
  multi_set_data(&m, "/a", "y", 3);
  multi_set_data(&m, "/a", "now much longer than before", 4);
  multi_set_data(&m, "/n", "q", 1);
  multi_set_data(&m, "/leaf", "e", 0);
  multi_set_data(&m, "/leaf", "f", 1);
  multi_create(f, &m, PROTO_OP_CREATE, "/a/x", 0);
  proto_multi_encode_end(m.w, m.mark);
  struct proto_request req;
  assert_int_equal(proto_request_decode(m.w->buf + 4, m.w->len - 4,
                                        PROTO_DEFAULT_MAX_BUFFER, &req),
                   PROTO_OK);
  struct tree_prep_ctx ctx = {SID, 1, ++f->zxid, f->time_ms, {NULL, 0}};
  proto_writer_reset(&f->txn);
  assert_int_equal(tree_prep(f->t, &ctx, &req, &f->txn), PROTO_OK);
  uint8_t before[32], after[32];
  tree_digest(f->t, before);
  int failures = 0;
  for (long k = 0;; k++) {
    tree_test_fail_alloc(f->t, k);
    int rc = apply_txn(f);
    tree_test_fail_alloc(f->t, -1);
    if (rc == PROTO_OK)
      break;
    assert_int_equal(rc, PROTO_SYSTEMERROR);
    failures++;
    tree_digest(f->t, after);
    assert_memory_equal(before, after, 32);
    expect_data(f, "/a", "z");
    expect_data(f, "/n", "abc");
    expect_data(f, "/leaf", "d");
  }
  assert_true(failures >= 3);
  assert_int_equal(f->out.err, 0);
  expect_data(f, "/a", "now much longer than before");
  expect_data(f, "/n", "q");
  expect_data(f, "/leaf", "f");
  assert_int_equal(set_data(f, "/leaf", "d", 2), PROTO_OK);
  assert_int_equal(create(f, "/gone", 0), PROTO_OK);
  assert_int_equal(del(f, "/gone", -1), PROTO_OK);
  expect_data(f, "/leaf", "d");

  uint8_t d[32], s[32], d2[32];
  char dh[65], sh[65];
  tree_digest(f->t, d);
  struct golden_sink g;
  memset(&g, 0, sizeof g);
  tree_sha256_init(&g.c);
  assert_int_equal(tree_serialize(f->t, golden_write, &g), PROTO_OK);
  tree_sha256_final(&g.c, s);
  hex32(d, dh);
  hex32(s, sh);
  assert_string_equal(
      dh, "59a0fcf48393cc4f1a5d1edee1fccfc521f031f96a3805874e40e8a41b1f8304");
  assert_string_equal(
      sh, "25fa395b000dda06a236cb97ac53af5364fcc782b32ec57d856a88ceb65a83ae");
  /* Loaded back: the same digest and data. */
  struct tree_config cfg = {.extended_types = true};
  int err;
  char msg[128];
  struct tree *t = tree_load(&cfg, golden_read, &g, &err, msg, sizeof msg);
  assert_non_null(t);
  tree_digest(t, d2);
  assert_memory_equal(d, d2, 32);
  tree_free(f->t);
  f->t = t;
  expect_data(f, "/a", "now much longer than before");
  expect_data(f, "/leaf", "d");
  expect_data(f, "/c/k", "d");
  free(g.buf);
  fx_free(f);
}

/* ------------------------------------------------------------------ */
/* otab: any capacity, growth by half, backward-shift deletion across the
 * wrap-around, otab_fit.  A shadow array says what must be found; half the
 * items share a few hash values, so long probe runs wrap and shift. */

struct oitem {
  uint32_t id, hash;
};
static uint32_t oitem_hash(const void *p) {
  return ((const struct oitem *)p)->hash;
}
static bool oitem_eq(const void *p, const void *key) {
  return ((const struct oitem *)p)->id == *(const uint32_t *)key;
}

static void otab_check(const struct otab *o, const struct oitem *v,
                       const bool *in, size_t n) {
  uint32_t count = 0;
  for (size_t i = 0; i < n; i++) {
    const void *got = otab_get(o, v[i].hash, oitem_eq, &v[i].id);
    assert_ptr_equal(got, in[i] ? &v[i] : NULL);
    count += in[i];
  }
  assert_int_equal(o->n, count);
  assert_true((uint64_t)o->n * 4 <= (uint64_t)o->cap * 3);
}

static void test_otab(void **state) {
  (void)state;
  struct tree *t = tree_new(NULL);
  assert_non_null(t);
  enum { N = 3000 };
  struct oitem *v = calloc(N, sizeof *v);
  bool *in = calloc(N, sizeof *in);
  assert_non_null(v);
  assert_non_null(in);
  for (uint32_t i = 0; i < N; i++) {
    v[i].id = i;
    /* Odd ids collide on eight hash values, the highest of them so their
     * runs wrap past the last slot. */
    v[i].hash = i % 2 ? UINT32_MAX - (i % 8) : tree_hash_u64(i);
  }
  struct otab o = {0};
  uint64_t x = 12345;
  bool pow2_only = true;
  for (int step = 0; step < 20000; step++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    uint32_t i = (uint32_t)(x >> 33) % N;
    if (in[i]) {
      assert_true(otab_del(&o, &v[i], oitem_hash));
      in[i] = false;
    } else {
      assert_true(otab_reserve(t, &o, o.n + 1, oitem_hash));
      otab_put(&o, &v[i], v[i].hash);
      in[i] = true;
    }
    if ((o.cap & (o.cap - 1)) != 0)
      pow2_only = false;
    if (step % 1000 == 0)
      otab_check(&o, v, in, N);
  }
  otab_check(&o, v, in, N);
  assert_false(pow2_only);
  /* Delete most, then fit: smaller, same items. */
  for (uint32_t i = 0; i < N; i++)
    if (in[i] && i % 5) {
      assert_true(otab_del(&o, &v[i], oitem_hash));
      in[i] = false;
    }
  uint32_t before = o.cap;
  otab_fit(t, &o, oitem_hash);
  assert_true(o.cap < before);
  otab_check(&o, v, in, N);
  /* Full again after the fit: it grows. */
  for (uint32_t i = 0; i < N; i++)
    if (!in[i]) {
      assert_true(otab_reserve(t, &o, o.n + 1, oitem_hash));
      otab_put(&o, &v[i], v[i].hash);
      in[i] = true;
    }
  otab_check(&o, v, in, N);
  otab_free(&o);
  free(v);
  free(in);
  tree_free(t);
}

/* The slab: a freed object serves the next allocation of its class (and
 * only of its class), sizes above TREE_SLAB_MAX come from malloc, objects
 * are 8-aligned and do not overlap, and the fail hook counts slab
 * allocations too.  (A use after free in a slab object is reported by
 * AddressSanitizer as use-after-poison: the free objects are poisoned.) */
static void test_slab(void **state) {
  (void)state;
  struct tree *t = tree_new(NULL);
  assert_non_null(t);
  enum { K = 5000 };
  uint8_t **v = calloc(K, sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < K; i++) {
    size_t n = 1 + i % 700; /* both sides of TREE_SLAB_MAX */
    v[i] = tree_slab_alloc(t, n);
    assert_non_null(v[i]);
    assert_int_equal((uintptr_t)v[i] % 8, 0);
    memset(v[i], (int)(i & 0xFF), n);
  }
  for (size_t i = 0; i < K; i++) {
    size_t n = 1 + i % 700;
    for (size_t j = 0; j < n; j++)
      assert_int_equal(v[i][j], (uint8_t)(i & 0xFF)); /* no overlap */
  }
  /* 100 and 104 bytes share a class; 112 does not. */
  uint8_t *a = tree_slab_alloc(t, 100);
  tree_slab_free(t, a, 100);
  uint8_t *b = tree_slab_alloc(t, 112);
  assert_ptr_not_equal(a, b);
  uint8_t *c = tree_slab_alloc(t, 104);
  assert_ptr_equal(a, c);
  tree_slab_free(t, b, 112);
  tree_slab_free(t, c, 104);
  tree_test_fail_alloc(t, 0);
  assert_null(tree_slab_alloc(t, 64));
  assert_null(tree_slab_alloc(t, 4096));
  tree_test_fail_alloc(t, -1);
  for (size_t i = 0; i < K; i++)
    tree_slab_free(t, v[i], 1 + i % 700);
  free(v);
  tree_free(t); /* the chunks; LeakSanitizer checks the large ones went */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_initial_tree),
      cmocka_unit_test(test_stat_create),
      cmocka_unit_test(test_stat_delete),
      cmocka_unit_test(test_stat_set_data_acl),
      cmocka_unit_test(test_sequential_names),
      cmocka_unit_test(test_sequential_wrap),
      cmocka_unit_test(test_create_errors_in_order),
      cmocka_unit_test(test_create_kinds),
      cmocka_unit_test(test_delete_errors_in_order),
      cmocka_unit_test(test_set_errors_in_order),
      cmocka_unit_test(test_acl_validation),
      cmocka_unit_test(test_acl_checks),
      cmocka_unit_test(test_acl_interning),
      cmocka_unit_test(test_ephemeral_close_session),
      cmocka_unit_test(test_session_ephemerals_list),
      cmocka_unit_test(test_watch_one_shot_and_order),
      cmocka_unit_test(test_watch_missing_nodes),
      cmocka_unit_test(test_watches_drop),
      cmocka_unit_test(test_set_watches),
      cmocka_unit_test(test_multi_success),
      cmocka_unit_test(test_multi_failure),
      cmocka_unit_test(test_multi_overlay_failures),
      cmocka_unit_test(test_multi_empty),
      cmocka_unit_test(test_reply_encode),
      cmocka_unit_test(test_read_bodies),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_malformed_txns),
      cmocka_unit_test(test_txn_header),
      cmocka_unit_test(test_session_passwd_replicated),
      cmocka_unit_test(test_prep_unimplemented),
      cmocka_unit_test(test_sha256),
      cmocka_unit_test(test_oom_apply),
      cmocka_unit_test(test_persistent_watch_node_vs_children),
      cmocka_unit_test(test_recursive_watch),
      cmocka_unit_test(test_watch_modes_accumulate),
      cmocka_unit_test(test_persistent_one_event_per_change),
      cmocka_unit_test(test_remove_watches_by_type),
      cmocka_unit_test(test_set_watches2_persistent),
      cmocka_unit_test(test_watches_drop_persistent),
      cmocka_unit_test(test_reap_candidates),
      cmocka_unit_test(test_delete_container),
      cmocka_unit_test(test_get_all_children_number),
      cmocka_unit_test(test_get_ephemerals),
      cmocka_unit_test(test_multi_read),
      cmocka_unit_test(test_get_acl_masks_digest),
      cmocka_unit_test(test_event_acl),
      cmocka_unit_test(test_set_watches_event_acl),
      cmocka_unit_test(test_oom_reap_and_persistent),
      cmocka_unit_test(test_node_layout_golden),
      cmocka_unit_test(test_otab),
      cmocka_unit_test(test_slab),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
