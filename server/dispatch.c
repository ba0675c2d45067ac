/* dispatch.c — the handshake and the requests of an open session.
 *
 *   frame -> decode (once) -> touch session -> the op table:
 *   read:  answered at once from the tree (zxid = last applied); the
 *          connection's order (order.c) guarantees no write of its own is
 *          still unanswered ahead of it
 *   write: handed to the replica (replica.h), answered at commit
 *          (commit.c), after it is durable
 *   local: answered at once from this connection's state (ping, auth,
 *          watches, whoAmI, ...)
 *
 * Opcodes are dispatched through one table (SRV_OP_MAP); a new opcode is a
 * line there plus its handler. */
#include "server/server_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int64_t last_zxid(const struct srv *s) {
  return tree_last_zxid(s->tree);
}

static struct tree_auth conn_auth(const struct srv_conn *c) {
  struct tree_auth a = {.ids = c->ids, .n_ids = c->n_ids};
  return a;
}

/* A path slice as (pointer, length); false for a null string. */
static bool path_of(struct proto_slice p, const char **ptr, size_t *len) {
  if (p.len < 0)
    return false;
  *ptr = p.len > 0 ? (const char *)p.ptr : "";
  *len = (size_t)p.len;
  return true;
}

/* ---- handshake (§2.3) ---- */

static void connect_refuse(struct srv_conn *c, bool has_read_only) {
  /* The "invalid session" answer: timeout 0, id 0, 16 zero bytes. */
  struct proto_connect_response resp;
  memset(&resp, 0, sizeof resp);
  resp.has_read_only = has_read_only;
  proto_connect_response_encode_frame(&c->out, &resp);
  c->sent++;
  c->srv->stats.packets_sent++;
  srv_conn_mark_dirty(c);
}

static bool passwd_ok(const struct srv *s, int64_t id, struct proto_slice p) {
  if (p.len != PROTO_PASSWD_LEN)
    return false;
  uint8_t want[PROTO_PASSWD_LEN];
  srv_session_password(s, id, want);
  /* Compare every byte: the time taken must not tell how many matched. */
  uint8_t diff = 0;
  for (size_t i = 0; i < PROTO_PASSWD_LEN; i++)
    diff |= (uint8_t)(want[i] ^ p.ptr[i]);
  return diff == 0;
}

/* A ConnectRequest with a session id: check it, move the session here. */
static void resume_session(struct srv_conn *c,
                           const struct proto_connect_request *req, int32_t t) {
  struct srv *s = c->srv;
  struct srv_session *sess = srv_session_get(s, req->session_id);
  const char *why = NULL;
  if (sess == NULL || sess->closing ||
      (!sess->read_only && !tree_session_exists(s->tree, req->session_id)))
    why = "unknown or expired session";
  else if (!passwd_ok(s, req->session_id, req->passwd))
    why = "wrong password";
  if (why != NULL) {
    connect_refuse(c, req->has_read_only);
    srv_conn_close(c, true, SRV_LOG_INFO,
                   "cannot resume session 0x%" PRIx64 ": %s",
                   (uint64_t)req->session_id, why);
    return;
  }
  /* Checked before kicking the old connection, unlike ZooKeeper 3.8
   * (§2.3): a wrong guess must not cost the real client its socket. */
  if (sess->conn != NULL && sess->conn != c)
    srv_conn_close(sess->conn, false, SRV_LOG_INFO,
                   "session 0x%" PRIx64 " resumed on %s:%d", (uint64_t)sess->id,
                   c->ip, c->port);
  sess->timeout_ms = t;
  srv_session_touch(s, sess);
  srv_log(s, SRV_LOG_INFO,
          "session 0x%" PRIx64 " resumed (timeout %" PRId32 " ms) by %s:%d",
          (uint64_t)sess->id, t, c->ip, c->port);
  sess->conn = c;
  c->session = sess;
  c->state = SRV_CONN_OPEN;
  srv_reply_connect(c, sess, req->has_read_only);
}

void srv_handle_connect(struct srv_conn *c, const uint8_t *payload,
                        size_t len) {
  struct srv *s = c->srv;
  struct proto_connect_request req;
  if (proto_connect_request_decode(payload, len, &req) != PROTO_OK) {
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "malformed ConnectRequest (%zu bytes)", len);
    return;
  }
  /* Not synced with a leader, or read-only and the client is not a
   * read-only one: it tries another server. */
  const char *why =
      s->rep->admit(s, req.session_id, req.has_read_only && req.read_only);
  if (why != NULL) {
    srv_conn_close(c, false, SRV_LOG_INFO, "%s", why);
    return;
  }
  int64_t last = last_zxid(s);
  if (req.last_zxid_seen > last) {
    /* §2.3 step 3: the client has seen a newer state than ours; it must
     * not go back in time, so it gets no answer and tries elsewhere. */
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "client has seen zxid 0x%" PRIx64
                   ", newer than our last zxid 0x%" PRIx64,
                   (uint64_t)req.last_zxid_seen, (uint64_t)last);
    return;
  }
  int32_t t = req.timeout_ms;
  if (t > s->cfg.max_session_timeout_ms)
    t = s->cfg.max_session_timeout_ms;
  if (t < s->cfg.min_session_timeout_ms)
    t = s->cfg.min_session_timeout_ms;

  if (req.session_id == 0) {
    /* createSession is a transaction (§7.11): answered when it commits
     * (commit.c), after it is durable. */
    int64_t id = srv_session_next_id(s);
    if (srv_connecting_put(s, id, c->id) != 0) {
      srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory (session)");
      return;
    }
    srv_order_block(c, SRV_WAIT_CONNECT, id);
    c->order.ro = req.has_read_only;
    if (!s->rep->create_session(c, id, t))
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "createSession refused (no leader, or the log refused "
                     "it)");
    return;
  }
  resume_session(c, &req, t);
}

/* ---- handlers ---- */

typedef void (*op_fn)(struct srv_conn *c, const struct proto_request *req,
                      uint64_t start_ns);

/* Ends a read's reply begun as OK at mark: tree/ wrote the body, or
 * nothing and an error rc that the header then carries. */
static void read_reply_end(struct srv_conn *c, size_t mark, int64_t zxid,
                           int rc, uint64_t start_ns) {
  if (rc != PROTO_OK)
    srv_reply_set_err(c, mark, rc);
  srv_reply_end(c, mark, zxid, start_ns);
}

static void op_exists(struct srv_conn *c, const struct proto_request *req,
                      uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  const char *p;
  size_t n;
  if (!path_of(req->u.path_watch.path, &p, &n)) {
    srv_reply_simple(c, req->hdr.xid, zxid, PROTO_BADARGUMENTS, start_ns);
    return;
  }
  struct tree_auth auth = conn_auth(c);
  uint64_t watcher = req->u.path_watch.watch ? c->id : 0;
  size_t mark = srv_reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc;
  switch (req->hdr.type) {
  case PROTO_OP_EXISTS:
    rc = tree_exists(s->tree, p, n, watcher, &auth, &c->out);
    break;
  case PROTO_OP_GETDATA:
    rc = tree_get_data(s->tree, p, n, watcher, &auth, &c->out);
    break;
  default: /* getChildren, getChildren2 */
    rc = tree_get_children(s->tree, p, n, watcher,
                           req->hdr.type == PROTO_OP_GETCHILDREN2, &auth,
                           &c->out);
    break;
  }
  read_reply_end(c, mark, zxid, rc, start_ns);
}

/* A read of one node whose body tree/ writes: getACL, getAllChildrenNumber.
 * Both take (path, identities) and share the reply handling. */
typedef int (*path_read_fn)(struct tree *t, const char *path, size_t len,
                            const struct tree_auth *auth,
                            struct proto_writer *reply);

static void op_path_read(struct srv_conn *c, const struct proto_request *req,
                         uint64_t start_ns, path_read_fn read) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  const char *p;
  size_t n;
  if (!path_of(req->u.path.path, &p, &n)) {
    srv_reply_simple(c, req->hdr.xid, zxid, PROTO_BADARGUMENTS, start_ns);
    return;
  }
  struct tree_auth auth = conn_auth(c);
  size_t mark = srv_reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc = read(s->tree, p, n, &auth, &c->out);
  read_reply_end(c, mark, zxid, rc, start_ns);
}

/* getACL: READ or ADMIN; digest ids masked without ADMIN (tree/). */
static void op_get_acl(struct srv_conn *c, const struct proto_request *req,
                       uint64_t start_ns) {
  op_path_read(c, req, start_ns, tree_get_acl);
}

/* sync (§7.11): answered once this server has applied every write that
 * was committed (ensemble: at the leader) when it saw the sync, with the
 * path echoed; never a null string (§1.2). */
static void op_sync(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  (void)start_ns;
  struct proto_slice p = req->u.path.path;
  size_t n = p.len > 0 ? (size_t)p.len : 0;
  char *path = malloc(n + 1);
  if (path == NULL) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory (sync)");
    return;
  }
  if (n)
    memcpy(path, p.ptr, n);
  srv_order_block(c, SRV_WAIT_SYNC, req->hdr.xid);
  c->order.path = path;
  c->order.path_len = n;
  c->srv->rep->sync(c, req->hdr.xid);
}

static void op_ping(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  (void)req; /* the reply xid is always -2, whatever the client sent */
  srv_reply_simple(c, PROTO_XID_PING, last_zxid(c->srv), PROTO_OK, start_ns);
}

/* closeSession: a transaction; answered at commit, then the connection
 * closes (commit.c). */
static void op_close_session(struct srv_conn *c,
                             const struct proto_request *req,
                             uint64_t start_ns) {
  (void)start_ns;
  srv_order_block(c, SRV_WAIT_CLOSE, req->hdr.xid);
  c->srv->rep->close_session(c, req->hdr.xid);
}

static void op_set_watches(struct srv_conn *c, const struct proto_request *req,
                           uint64_t start_ns) {
  struct srv *s = c->srv;
  struct tree_out out;
  tree_out_init(&out);
  int rc = tree_set_watches(s->tree, c->id, &req->u.set_watches, &out);
  /* Events fired at once go out before the reply, with zxid -1 (§7.10). */
  srv_deliver_events(s, &out, -1);
  tree_out_free(&out);
  if (c->state != SRV_CONN_OPEN)
    return;
  srv_reply_simple(c, req->hdr.xid, last_zxid(s), rc, start_ns);
}

/* check (13) alone, and opcodes a client must not send: ZooKeeper 3.8.5+
 * answers Unimplemented with zxid -1 and closes (§7.14). */
static void op_refuse(struct srv_conn *c, const struct proto_request *req,
                      uint64_t start_ns) {
  srv_reply_simple(c, req->hdr.xid, -1, PROTO_UNIMPLEMENTED, start_ns);
  srv_conn_close(c, true, SRV_LOG_INFO, "opcode %" PRId32 " not accepted",
                 req->hdr.type);
}

/* reconfig (16): with reconfigEnabled, an ensemble member hands it to the
 * replica like a write (the leader checks and proposes it, ens_reconfig.c);
 * otherwise ReconfigDisabled, as ZooKeeper without reconfigEnabled.  A
 * standalone server has no membership to change: ReconfigDisabled too. */
static void op_reconfig(struct srv_conn *c, const struct proto_request *req,
                        uint64_t start_ns) {
  struct srv *s = c->srv;
  srv_reply_simple(c, req->hdr.xid, last_zxid(s), PROTO_RECONFIGDISABLED,
                   start_ns);
}

/* addWatch (§7.9): never fails on a missing node; the success body is an
 * ErrorResponse with err 0. */
static void op_add_watch(struct srv_conn *c, const struct proto_request *req,
                         uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  const char *p;
  size_t n;
  int rc = PROTO_BADARGUMENTS;
  if (path_of(req->u.add_watch.path, &p, &n))
    rc = tree_add_watch(s->tree, p, n, c->id, req->u.add_watch.mode);
  size_t mark = srv_reply_begin(c, req->hdr.xid, zxid, rc);
  if (rc == PROTO_OK)
    proto_write_int(&c->out, 0);
  srv_reply_end(c, mark, zxid, start_ns);
}

/* checkWatches (17) and removeWatches (18): header only, OK or NoWatcher
 * (§5.3); the client makes the *WatchRemoved events itself. */
static void op_watches(struct srv_conn *c, const struct proto_request *req,
                       uint64_t start_ns) {
  struct srv *s = c->srv;
  const char *p;
  size_t n;
  int rc = PROTO_BADARGUMENTS;
  if (path_of(req->u.watches.path, &p, &n))
    rc = tree_remove_watches(s->tree, p, n, c->id, req->u.watches.type,
                             req->hdr.type == PROTO_OP_REMOVEWATCHES);
  srv_reply_simple(c, req->hdr.xid, last_zxid(s), rc, start_ns);
}

/* No SASL configured: ZooKeeper 3.8.0 answers OK with a null token. */
static void op_sasl(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  size_t mark = srv_reply_begin(c, req->hdr.xid, 0, PROTO_OK);
  proto_write_buffer(&c->out, NULL, -1);
  srv_reply_end(c, mark, 0, start_ns);
}

bool srv_conn_add_identity(struct srv_conn *c, const char *scheme,
                           const char *id) {
  for (size_t i = 0; i < c->n_ids; i++)
    if (strcmp(c->ids[i].scheme, scheme) == 0 && strcmp(c->ids[i].id, id) == 0)
      return true;
  if (c->n_ids == SRV_MAX_IDENTITIES)
    return false;
  char *sc = strdup(scheme);
  char *i2 = strdup(id);
  if (sc == NULL || i2 == NULL) {
    free(sc);
    free(i2);
    return false;
  }
  c->ids[c->n_ids].scheme = sc;
  c->ids[c->n_ids].id = i2;
  c->n_ids++;
  return true;
}

/* auth (100), ZooKeeper's two built-in providers (§5.5):
 *   digest: identity "user:base64(sha1(user:password))"; when it equals
 *           the configured super digest the connection also gets
 *           ("super", ""), which passes every ACL check (§7.13);
 *   ip:     always succeeds and (re)adds the peer address, as 3.8.0 does
 *           (observed: OK, the connection stays).
 * Any other scheme, or null digest credentials, fail: AuthFailed, then the
 * connection is closed (the session lives on).  Answered at once with
 * zxid 0, as the Java server does. */
static const char *auth_digest(struct srv_conn *c,
                               const struct proto_auth_req *a) {
  if (a->auth.len < 0 ||
      (a->auth.len > 0 && memchr(a->auth.ptr, 0, (size_t)a->auth.len)))
    return "null or NUL-containing credentials";
  char ident[1024];
  size_t alen = (size_t)a->auth.len;
  const char *data = alen > 0 ? (const char *)a->auth.ptr : "";
  const char *colon = memchr(data, ':', alen);
  size_t ulen = colon != NULL ? (size_t)(colon - data) : alen;
  uint8_t digest[20];
  char b64[32];
  srv_sha1(data, alen, digest);
  srv_base64(digest, sizeof digest, b64);
  if (ulen + 1 + strlen(b64) + 1 > sizeof ident)
    return "user name too long";
  memcpy(ident, data, ulen);
  ident[ulen] = ':';
  memcpy(ident + ulen + 1, b64, strlen(b64) + 1);
  const char *super = c->srv->cfg.super_digest;
  if (super[0] != '\0' && strcmp(ident, super) == 0 &&
      !srv_conn_add_identity(c, "super", ""))
    return "too many identities on this connection";
  if (!srv_conn_add_identity(c, "digest", ident))
    return "too many identities on this connection";
  return NULL;
}

static void op_auth(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  struct srv *s = c->srv;
  const struct proto_auth_req *a = &req->u.auth;
  const char *why;
  if (a->scheme.len == 6 && memcmp(a->scheme.ptr, "digest", 6) == 0)
    why = auth_digest(c, a);
  else if (a->scheme.len == 2 && memcmp(a->scheme.ptr, "ip", 2) == 0)
    why = srv_conn_add_identity(c, "ip", c->ip)
              ? NULL
              : "too many identities on this connection";
  else
    why = "scheme not supported";
  if (why == NULL) {
    srv_reply_simple(c, req->hdr.xid, 0, PROTO_OK, start_ns);
    return;
  }
  s->stats.auth_failed++;
  srv_reply_simple(c, req->hdr.xid, 0, PROTO_AUTHFAILED, start_ns);
  int slen = a->scheme.len > 0 ? (a->scheme.len > 32 ? 32 : a->scheme.len) : 0;
  srv_conn_close(c, true, SRV_LOG_INFO, "auth failed (scheme '%.*s'): %s", slen,
                 slen > 0 ? (const char *)a->scheme.ptr : "", why);
}

/* whoAmI: one ClientInfo per identity in the order gained: (ip, address)
 * first, then (super, "") and (digest, user).  (ZooKeeper keeps them in a
 * hash set, so its order is arbitrary; clients must not rely on one.) */
static void op_who_am_i(struct srv_conn *c, const struct proto_request *req,
                        uint64_t start_ns) {
  int64_t zxid = last_zxid(c->srv);
  size_t mark = srv_reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  proto_write_int(&c->out, (int32_t)c->n_ids);
  for (size_t i = 0; i < c->n_ids; i++) {
    const char *sc = c->ids[i].scheme, *id = c->ids[i].id;
    size_t idlen = strlen(id);
    if (strcmp(sc, "digest") == 0) {
      const char *colon = strchr(id, ':');
      if (colon != NULL)
        idlen = (size_t)(colon - id);
    }
    proto_write_string(&c->out, sc, strlen(sc));
    proto_write_string(&c->out, id, idlen);
  }
  srv_reply_end(c, mark, zxid, start_ns);
}

/* getEphemerals: the caller's own ephemerals under a plain string prefix;
 * null, blank or "/" means all (§5.3).  No ACL check. */
static void op_get_ephemerals(struct srv_conn *c,
                              const struct proto_request *req,
                              uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  struct proto_slice p = req->u.path.path;
  size_t mark = srv_reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc = tree_get_ephemerals(s->tree, c->session->id,
                               p.len > 0 ? (const char *)p.ptr : NULL,
                               p.len > 0 ? (size_t)p.len : 0, &c->out);
  read_reply_end(c, mark, zxid, rc, start_ns);
}

/* getAllChildrenNumber: READ on the node, count of all its descendants. */
static void op_all_children(struct srv_conn *c, const struct proto_request *req,
                            uint64_t start_ns) {
  op_path_read(c, req, start_ns, tree_get_all_children_number);
}

/* multiRead: each sub-op on its own, no zxid, no watches (§5.4). */
static void op_multi_read(struct srv_conn *c, const struct proto_request *req,
                          uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  struct tree_auth auth = conn_auth(c);
  size_t mark = srv_reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc = tree_multi_read(s->tree, &req->u.multi, &auth, &c->out);
  read_reply_end(c, mark, zxid, rc, start_ns);
}

/* ---- dispatch ---- */

/* What an op is, for order (order.c) and for the reader:
 *   READ    answered at once from the tree
 *   WRITE   a transaction through the replica; may overtake the
 *           connection's unanswered writes (pipelined)
 *   SERIAL  through the replica too (sync, closeSession), but only once
 *           nothing of the connection is unanswered
 *   LOCAL   answered at once from this connection's state */
enum op_kind { OP_READ, OP_WRITE, OP_SERIAL, OP_LOCAL };

/* X(opcode name, kind, handler; NULL: the replica's write).  Opcodes not
 * listed (notification 0, createSession -10, deleteContainer 20, error
 * -1, anything unknown) are refused like check-alone: Unimplemented, then
 * close. */
#define SRV_OP_MAP(X)                                                          \
  X(CREATE, OP_WRITE, NULL)                                                    \
  X(CREATE2, OP_WRITE, NULL)                                                   \
  X(CREATECONTAINER, OP_WRITE, NULL)                                           \
  X(CREATETTL, OP_WRITE, NULL)                                                 \
  X(DELETE, OP_WRITE, NULL)                                                    \
  X(SETDATA, OP_WRITE, NULL)                                                   \
  X(SETACL, OP_WRITE, NULL)                                                    \
  X(MULTI, OP_WRITE, NULL)                                                     \
  X(EXISTS, OP_READ, op_exists)                                                \
  X(GETDATA, OP_READ, op_exists)                                               \
  X(GETCHILDREN, OP_READ, op_exists)                                           \
  X(GETCHILDREN2, OP_READ, op_exists)                                          \
  X(GETACL, OP_READ, op_get_acl)                                               \
  X(SYNC, OP_SERIAL, op_sync)                                                  \
  X(PING, OP_LOCAL, op_ping)                                                   \
  X(CLOSESESSION, OP_SERIAL, op_close_session)                                 \
  X(SETWATCHES, OP_LOCAL, op_set_watches)                                      \
  X(SETWATCHES2, OP_LOCAL, op_set_watches)                                     \
  X(CHECK, OP_LOCAL, op_refuse)                                                \
  X(RECONFIG, OP_LOCAL, op_reconfig)                                           \
  X(CHECKWATCHES, OP_LOCAL, op_watches)                                        \
  X(REMOVEWATCHES, OP_LOCAL, op_watches)                                       \
  X(ADDWATCH, OP_LOCAL, op_add_watch)                                          \
  X(SASL, OP_LOCAL, op_sasl)                                                   \
  X(AUTH, OP_LOCAL, op_auth)                                                   \
  X(WHOAMI, OP_LOCAL, op_who_am_i)                                             \
  X(GETEPHEMERALS, OP_READ, op_get_ephemerals)                                 \
  X(GETALLCHILDRENNUMBER, OP_READ, op_all_children)                            \
  X(MULTIREAD, OP_READ, op_multi_read)

struct op_entry {
  int32_t op;
  enum op_kind kind;
  op_fn fn;
};

static const struct op_entry op_table[] = {
#define SRV_OP_ENTRY(name, kind, fn) {PROTO_OP_##name, kind, fn},
    SRV_OP_MAP(SRV_OP_ENTRY)
#undef SRV_OP_ENTRY
};

static const struct op_entry *op_lookup(int32_t op) {
  for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
    if (op_table[i].op == op)
      return &op_table[i];
  return NULL;
}

bool srv_op_is_write(int32_t op) {
  const struct op_entry *e = op_lookup(op);
  return e != NULL && e->kind == OP_WRITE;
}

bool srv_op_is_read(int32_t op) {
  const struct op_entry *e = op_lookup(op);
  return e != NULL && e->kind == OP_READ;
}

void srv_handle_request(struct srv_conn *c, const uint8_t *payload, size_t len,
                        uint64_t start_ns) {
  if (len >= 8 && c->order.wait == SRV_WAIT_WRITE && c->session != NULL &&
      srv_op_is_read((int32_t)proto_load_be32(payload + 4))) {
    /* Behind this session's unanswered writes: it must see them, and
     * only them, so it is answered between their commits and the next
     * (commit.c). */
    if (!srv_order_push_read(c, (int32_t)proto_load_be32(payload), payload, len,
                             start_ns))
      srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for a read");
    return;
  }
  srv_dispatch_now(c, payload, len, start_ns);
}

void srv_dispatch_now(struct srv_conn *c, const uint8_t *payload, size_t len,
                      uint64_t start_ns) {
  struct srv *s = c->srv;
  if (len < 8) {
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "frame of %zu bytes is shorter than a RequestHeader", len);
    return;
  }
  struct proto_request req;
  size_t max_field = 2 * (size_t)s->cfg.jute_max_buffer;
  int rc = proto_request_decode(payload, len, max_field, &req);
  if (rc == PROTO_BADARGUMENTS) {
    srv_conn_close(c, false, SRV_LOG_WARN, "undecodable request header");
    return;
  }
  if (c->session == NULL) {
    /* §7.12: requests for a session that is gone are dropped unanswered. */
    srv_log(s, SRV_LOG_DEBUG, "dropping %s on %s:%d: no session",
            proto_op_name(req.hdr.type), c->ip, c->port);
    return;
  }
  srv_session_touch(s, c->session); /* every request, pings included */
  s->rep->touch(s, c->session->id);
  c->last_op = req.hdr.type;
  c->last_cxid = req.hdr.xid;
  const struct op_entry *e =
      rc == PROTO_UNIMPLEMENTED ? NULL : op_lookup(req.hdr.type);
  if ((req.hdr.type == PROTO_OP_CHECK || req.hdr.type == PROTO_OP_RECONFIG) &&
      s->rep->read_only && s->rep->read_only(s)) {
    /* ZooKeeper's ReadOnlyRequestProcessor counts both among the writes:
     * NotReadOnly before any other check, the connection stays. */
    srv_answer_error(c, req.hdr.xid, PROTO_NOTREADONLY, start_ns);
    return;
  }
  if (e == NULL || e->fn == op_refuse) { /* whatever the body holds */
    op_refuse(c, &req, start_ns);
    return;
  }
  if (rc != PROTO_OK) {
    /* Known opcode, body does not decode: -5, the connection stays; in
     * order behind the connection's unanswered writes.  DEBUG: a broken
     * client could flood. */
    srv_log(s, SRV_LOG_DEBUG, "malformed %s (xid %" PRId32 ") from %s:%d",
            proto_op_name(req.hdr.type), req.hdr.xid, c->ip, c->port);
    srv_answer_error(c, req.hdr.xid, PROTO_MARSHALLINGERROR, start_ns);
    return;
  }
  bool reconfig = req.hdr.type == PROTO_OP_RECONFIG &&
                  s->cfg.reconfig_enabled && s->cfg.n_peers > 0;
  if (e->kind == OP_WRITE || reconfig)
    s->rep->write(c, &req, payload, len, start_ns);
  else
    e->fn(c, &req, start_ns);
}
